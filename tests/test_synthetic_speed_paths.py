"""The single-call speed paths of synthetic digits give the general path's bytes."""

from __future__ import annotations

import numpy as np
import pytest

from strokeseq import StrokeSource, generate_numbers_sequence
from strokeseq.augment import Augmenter

#: An augmenter that changes nothing: it routes a call through the general
#: composer (compose_rows) instead of the single-call path, with the same bytes.
_IDENTITY = Augmenter.from_config({})


@pytest.mark.parametrize(
    ("digits", "spacing", "width", "kw"),
    [
        ("5", (0, 0), 28, {}),
        ("5", (0, 0), 40, {"dtype": np.uint8}),
        ("305", (0, 5), 120, {}),
        ("305", (2, 9), 100, {"ink": "white"}),  # tight: gaps from the exact conditional
        ("0123456789", (1, 3), 400, {"dtype": np.uint8, "ink": "white"}),
        ("12", (0, 3), 90, {"glyphs": True}),
    ],
)
def test_single_call_equals_general_composer(digits, spacing, width, kw):
    kw = dict(kw)
    source = StrokeSource("glyphs") if kw.pop("glyphs", False) else "synthetic"
    assert _IDENTITY.is_identity
    for seed in range(3):
        fast = generate_numbers_sequence(digits, spacing, width, source=source, rng=seed, **kw)
        general = generate_numbers_sequence(
            digits, spacing, width, source=source, rng=seed, augment=_IDENTITY, **kw
        )
        assert fast.shape == (28, width) and fast.dtype == general.dtype
        np.testing.assert_array_equal(fast, general)
