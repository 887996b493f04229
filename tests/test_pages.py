"""compose_tiles_into refuses bad input with a message saying what is valid, before writing."""

from __future__ import annotations

import numpy as np
import pytest

from strokeseq.compose import to_image
from strokeseq.pages import compose_tiles_into


def _args(n_rows: int = 4, n: int = 3, width: int = 100) -> dict:
    rng = np.random.default_rng(0)
    return {
        "out": np.full((n_rows, 28, width), 7, np.uint8),
        "bank": rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        "indices": rng.integers(0, 10, (n_rows, n)),
        "spacing": (0, 4),
        "u_gaps": rng.random((n_rows, n - 1)),
        "u_margin": rng.random(n_rows),
        "ink_color": "white",
    }


def _call(**changes) -> np.ndarray:
    args = _args()
    args.update(changes)
    ink = args.pop("ink_color")
    compose_tiles_into(*args.values(), ink_color=ink)
    return args["out"]


def test_valid_input_is_pasted():
    out = _call()
    assert (out != 7).any()
    a = _args()
    want = np.zeros((4, 28, 100), np.uint8)
    compose_tiles_into(
        want, a["bank"], a["indices"], (0, 4), a["u_gaps"], a["u_margin"], ink_color="white"
    )
    np.testing.assert_array_equal(out, want)
    # uniforms of exactly 0 and 1 are valid (the placement clamps them)
    _call(u_gaps=np.ones((4, 2)), u_margin=np.zeros(4))


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        (
            {"indices": np.array([[0, 1, 10]] * 4)},
            ValueError,
            r"positions in bank, 0\.\.9; got 0\.\.10",
        ),
        (
            {"indices": np.array([[0, -1, 2]] * 4)},
            ValueError,
            r"positions in bank, 0\.\.9; got -1\.\.2",
        ),
        ({"indices": np.zeros((4, 3), np.float64)}, TypeError, "indices must be integers"),
        ({"indices": np.zeros((3, 3), np.int64)}, ValueError, r"one row per row of out"),
        ({"indices": np.zeros(12, np.int64)}, ValueError, r"shape \(N, n\) = \(4, n\)"),
        ({"indices": [[0, 1, 2]] * 4}, TypeError, "indices must be a numpy.ndarray, not list"),
        ({"out": np.zeros((4, 28, 100), np.float64)}, TypeError, "out must be float32 or uint8"),
        (
            {"out": np.zeros((4, 27, 100), np.uint8)},
            ValueError,
            r"out must have shape \(N, 28, W\)",
        ),
        ({"out": np.zeros((4, 28, 200), np.uint8)[:, :, ::2]}, ValueError, "C-contiguous"),
        (
            {"out": np.zeros((4, 28, 80), np.uint8)},
            ValueError,
            "80 px wide; 3 tiles .* need 84 px",
        ),
        (
            {"bank": np.zeros((10, 28, 20), np.uint8)},
            ValueError,
            r"bank must have shape \(M, 28, 28\)",
        ),
        ({"bank": np.zeros((0, 28, 28), np.uint8)}, ValueError, "M >= 1"),
        ({"bank": np.zeros((10, 28, 28), np.int16)}, TypeError, "bank must be float32 or uint8"),
        ({"spacing": (-1, 4)}, ValueError, "tile layout needs min >= 0"),
        ({"spacing": (5, 4)}, ValueError, "min must be <= max"),
        ({"spacing": "04"}, TypeError, "pair"),
        ({"u_gaps": np.full((4, 2), 1.5)}, ValueError, r"u_gaps must be uniforms in \[0, 1\]"),
        ({"u_gaps": np.full((4, 2), np.nan)}, ValueError, r"u_gaps must be uniforms in \[0, 1\]"),
        ({"u_margin": -np.ones(4)}, ValueError, r"u_margin must be uniforms in \[0, 1\]"),
        ({"u_margin": np.zeros(3)}, ValueError, r"u_margin must have shape \(4,\)"),
        ({"u_gaps": np.zeros((4, 3))}, ValueError, r"u_gaps must have shape \(4, 2\)"),
        ({"u_gaps": np.zeros((4, 2), np.int64)}, TypeError, "u_gaps must be floats"),
        ({"ink_color": "red"}, ValueError, "black ink on white"),
    ],
)
def test_bad_input_says_what_is_valid_and_writes_nothing(changes, error, message):
    args = _args()
    args.update(changes)
    before = args["out"].copy() if isinstance(args["out"], np.ndarray) else None
    ink = args.pop("ink_color")
    with pytest.raises(error, match=message):
        compose_tiles_into(*args.values(), ink_color=ink)
    if before is not None:
        np.testing.assert_array_equal(args["out"], before)


def test_read_only_out_is_refused():
    out = np.zeros((4, 28, 100), np.uint8)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        _call(out=out)


def test_no_rows_is_fine():
    _call(
        out=np.zeros((0, 28, 100), np.uint8),
        indices=np.zeros((0, 3), np.int64),
        u_gaps=np.zeros((0, 2)),
        u_margin=np.zeros(0),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize("ink", ["black", "white"])
def test_compose_tiles_into_sees_a_bank_changed_in_place(ink, dtype):
    """The public paste converts the caller's tiles afresh: no stale cached tiles."""
    bank = np.zeros((3, 28, 28), dtype)
    out = np.empty((2, 28, 60), dtype)
    args = (np.array([[0, 2], [1, 0]]), (4, 4), np.zeros((2, 1)), np.zeros(2))
    compose_tiles_into(out, bank, *args, ink_color=ink)
    blank = out.copy()
    bank[:] = 255 if dtype == np.uint8 else 1.0
    compose_tiles_into(out, bank, *args, ink_color=ink)
    assert not np.array_equal(out, blank)
    want = to_image(np.ones((2, 28, 60), np.float32), ink_color=ink, dtype=dtype)
    np.testing.assert_array_equal(out[:, :, :28], want[:, :, :28])


@pytest.mark.parametrize("bad", [[99], [-1], [0, 2]])
def test_page_bank_refuses_indices_outside_the_bank(bad):
    from strokeseq.pages import page_bank

    with pytest.raises(ValueError, match=r"tile indices must be in 0\.\.1"):
        page_bank(np.zeros((2, 28, 28), np.uint8), np.array(bad), "white", np.uint8)
    with pytest.raises(ValueError, match=r"tile indices must be in 0\.\.1"):
        page_bank(np.zeros((2, 28, 28), np.float32), np.array(bad), "black", np.float32)
