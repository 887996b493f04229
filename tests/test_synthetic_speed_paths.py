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


@pytest.mark.parametrize("variety", [0.0, 1.2, 3.0])
def test_exact_box_fit_of_one_digit_equals_its_row_of_a_batch(variety):
    """pen._exact_scale has a Python-float path for one digit: the same doubles."""
    from strokeseq.sources.stroke import pen, sampler

    src = StrokeSource(variety=variety)
    labels = np.arange(60) % 10
    p = src._parameters(labels, np.random.default_rng(4))
    samples, seg_on, radius = sampler.fitted_geometry(src.fitted, p, src.samples_per_segment)
    assert not seg_on.all()  # padding strokes: the +inf masking is exercised
    zoom, lo, hi = pen._exact_scale(samples, seg_on, radius)
    for i in range(labels.size):
        one = pen._exact_scale(samples[i : i + 1], seg_on[i : i + 1], radius[i : i + 1])
        np.testing.assert_array_equal(one[0], zoom[i : i + 1])
        np.testing.assert_array_equal(one[1], lo[i : i + 1])
        np.testing.assert_array_equal(one[2], hi[i : i + 1])
    # and the extremes are those of the drawn points
    on = np.repeat(seg_on, radius.shape[2], axis=1)
    pts = samples.reshape(labels.size, -1, 2)
    for i in range(labels.size):
        np.testing.assert_array_equal(lo[i], pts[i][on[i]].min(axis=0))
        np.testing.assert_array_equal(hi[i], pts[i][on[i]].max(axis=0))


def test_draw_centred_takes_any_capsule_axes():
    """Capsules as (n, S, K, 2) views of sampled strokes draw the same as flattened."""
    from strokeseq.sources.stroke import render

    rng = np.random.default_rng(7)
    n, s, k = 5, 4, 3
    pts = rng.uniform(20, 64, (n, s, k + 1, 2))
    r = rng.uniform(2, 6, (n, s, k + 1))
    valid = rng.random((n, s, k)) < 0.8
    a, b, ra, rb = pts[:, :, :-1], pts[:, :, 1:], r[:, :, :-1], r[:, :, 1:]
    views = render.draw_centred(a, b, ra, rb, valid, 3, 0.5, 41.5)
    flat = render.draw_centred(
        a.reshape(n, -1, 2),
        b.reshape(n, -1, 2),
        ra.reshape(n, -1),
        rb.reshape(n, -1),
        valid.reshape(n, -1),
        3,
        0.5,
        41.5,
    )
    assert views.shape == (n, 28, 28) and views.max() > 0.5
    np.testing.assert_array_equal(views, flat)
