"""Per-digit and per-sequence transforms: contracts and behaviour on constructed inputs."""

from __future__ import annotations

import os

import numpy as np
import pytest

from strokeseq import augment as A
from strokeseq.augment import _core

SEED = 1234


def bar(horizontal: bool = True, n: int = 1, width: int = 2) -> np.ndarray:
    """A centred bar, 20 px long and ``width`` px thick, as an (n, 28, 28) ink batch."""
    img = np.zeros((28, 28), np.float32)
    if horizontal:
        img[14 - width // 2 : 14 - width // 2 + width, 4:24] = 1.0
    else:
        img[4:24, 14 - width // 2 : 14 - width // 2 + width] = 1.0
    return np.repeat(img[None], n, axis=0)


def principal_angle(img: np.ndarray) -> float:
    """Orientation in degrees of the ink's principal axis, in [0, 180), counter-clockwise as displayed."""
    y, x = np.mgrid[0:28, 0:28]
    w = img / img.sum()
    my, mx = (w * y).sum(), (w * x).sum()
    cxx = (w * (x - mx) ** 2).sum()
    cyy = (w * (y - my) ** 2).sum()
    cxy = (w * (x - mx) * (y - my)).sum()
    theta = 0.5 * np.degrees(np.arctan2(2 * cxy, cxx - cyy))  # y down: clockwise as displayed
    return (-theta) % 180.0


def extents(img: np.ndarray, thr: float = 0.3) -> tuple[int, int]:
    """(rows, columns) spanned by pixels above ``thr``."""
    m = img > thr
    rows = np.flatnonzero(m.any(axis=1))
    cols = np.flatnonzero(m.any(axis=0))
    return rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.fixture(scope="module")
def digits() -> np.ndarray:
    """Smooth blob-like pseudo digits with values spread over [0, 1]."""
    rng = np.random.default_rng(0)
    x = np.zeros((16, 28, 28), np.float32)
    x[:, 6:22, 8:20] = rng.random((16, 16, 12), dtype=np.float32)
    return _core.gaussian_blur(x, np.full(16, 1.0))


DIGIT_CASES = [
    ("elastic", {"alpha": 34.0, "sigma": 4.0}),
    (
        "affine",
        {"rotation": 20.0, "shear": 10.0, "scale": 1.1, "aspect": 0.9, "translate": (1, -1)},
    ),
    ("stroke_width", {"radius": 1.3}),
    ("stroke_width", {"radius": -0.7}),
    ("broken_strokes", {"cuts": 2, "radius": 1.2}),
    ("blur", {"sigma": 0.8}),
    ("noise", {"std": 0.1}),
]


@pytest.mark.parametrize(("name", "kw"), DIGIT_CASES)
def test_digit_transform_contract(digits, name, kw):
    fn = getattr(A, name)
    before = digits.copy()
    out = fn(digits, SEED, **kw)
    again = fn(digits, SEED, **kw)
    assert out.shape == digits.shape and out.dtype == np.float32 and out.flags.c_contiguous
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_array_equal(out, again)  # deterministic for a seed
    np.testing.assert_array_equal(digits, before)  # input untouched
    assert not np.array_equal(out, digits)  # it did something


@pytest.mark.parametrize("name", ["elastic", "broken_strokes", "noise"])
def test_random_transforms_depend_on_seed(digits, name):
    assert not np.array_equal(getattr(A, name)(digits, 1), getattr(A, name)(digits, 2))


def test_per_sample_parameters_match_scalar_calls(digits):
    rot = np.linspace(-30, 30, len(digits))
    batch = A.affine(digits, rotation=rot)
    for i in (0, 5, 15):
        np.testing.assert_allclose(
            batch[i], A.affine(digits[i : i + 1], rotation=rot[i])[0], atol=1e-6
        )
    with pytest.raises(ValueError, match="shape"):
        A.affine(digits, rotation=np.zeros(3))


def test_identity_parameters(digits):
    np.testing.assert_allclose(A.elastic(digits, SEED, alpha=0.0), digits, atol=1e-6)
    np.testing.assert_allclose(A.affine(digits), digits, atol=1e-6)
    np.testing.assert_array_equal(A.stroke_width(digits, radius=0.0), digits)
    np.testing.assert_array_equal(A.broken_strokes(digits, SEED, cuts=0), digits)
    np.testing.assert_array_equal(A.blur(digits, sigma=0.0), digits)
    np.testing.assert_array_equal(A.noise(digits, SEED, std=0.0), digits)


# ---- elastic ------------------------------------------------------------------


def test_elastic_field_is_smooth_then_scale_as_scipy():
    """The field is alpha * gaussian_filter(U(-1, 1), sigma, mode='constant'): smooth, then scale."""
    from scipy.ndimage import gaussian_filter

    field = A.elastic_field(3, SEED, alpha=34.0, sigma=4.0)
    u = np.random.default_rng(SEED).random((3, 2, 28, 28), dtype=np.float32) * 2 - 1
    for i in range(3):
        for c in range(2):
            ref = 34.0 * gaussian_filter(u[i, c].astype(np.float64), 4.0, mode="constant")
            np.testing.assert_allclose(field[i, c], ref, atol=2e-5)


def test_elastic_warp_matches_map_coordinates(digits):
    from scipy.ndimage import map_coordinates

    out = A.elastic(digits[:4], SEED, alpha=34.0, sigma=4.0)
    field = A.elastic_field(4, SEED, alpha=34.0, sigma=4.0)
    y, x = np.mgrid[0:28, 0:28].astype(np.float64)
    for i in range(4):
        ref = map_coordinates(
            digits[i], [y + field[i, 0], x + field[i, 1]], order=1, mode="grid-constant"
        )
        np.testing.assert_allclose(out[i], ref, atol=1e-5)


def test_elastic_magnitude_grows_with_alpha():
    rms = [
        np.sqrt((A.elastic_field(200, SEED, alpha=a, sigma=4.0) ** 2).mean()) for a in (8, 17, 34)
    ]
    assert rms[0] < rms[1] < rms[2]
    np.testing.assert_allclose(rms[2] / rms[0], 34 / 8, rtol=1e-4)  # exactly linear in alpha
    # the familiar MNIST setting moves pixels by about a pixel and a half, RMS
    assert 1.0 < rms[2] < 2.0


def test_elastic_field_smoothness_grows_with_sigma():
    rough = []
    for s in (2.0, 4.0, 8.0):
        f = A.elastic_field(200, SEED, alpha=34.0, sigma=s)
        f = f / np.sqrt((f**2).mean())  # compare shape, not size
        grad = np.abs(np.diff(f, axis=-1)).mean() + np.abs(np.diff(f, axis=-2)).mean()
        rough.append(grad)
    assert rough[0] > rough[1] > rough[2]


def test_elastic_per_sample_sigma_and_bad_values(digits):
    out = A.elastic(digits, SEED, alpha=np.linspace(0, 30, 16), sigma=np.linspace(3, 6, 16))
    np.testing.assert_allclose(out[0], digits[0], atol=1e-6)  # alpha 0 row is untouched
    with pytest.raises(ValueError, match="sigma"):
        A.elastic(digits, SEED, sigma=0.0)
    with pytest.raises(ValueError, match="alpha"):
        A.elastic(digits, SEED, alpha=-1.0)
    # a huge sigma is refused before its 8e8-tap kernel is allocated
    for call in (A.elastic, lambda n, s, sigma: A.elastic_field(16, s, sigma=sigma)):
        with pytest.raises(ValueError, match=r"sigma must be <= 100"):
            call(digits, SEED, sigma=1e8)
    assert A.elastic(digits[:2], SEED, sigma=100.0).shape == (
        2,
        28,
        28,
    )  # the bound itself is fine


def test_elastic_mnist_setting_keeps_ink_in_place():
    """alpha=34, sigma=4 distorts a bar but leaves most of it where it was."""
    b = bar(n=50)
    out = A.elastic(b, SEED)
    overlap = (np.minimum(out, b).sum(axis=(1, 2)) / b.sum(axis=(1, 2))).mean()
    assert 0.3 < overlap < 0.95
    np.testing.assert_allclose(out.sum() / b.sum(), 1.0, atol=0.15)


# ---- affine ---------------------------------------------------------------------


def test_rotation_by_90_turns_horizontal_bar_vertical():
    h = bar(horizontal=True)
    v = A.affine(h, rotation=90.0)[0]
    assert extents(h[0]) == (2, 20)
    rows, cols = extents(v)
    assert rows >= 19 and cols <= 3
    np.testing.assert_allclose(v, bar(horizontal=False)[0], atol=1e-5)


def test_rotation_direction_is_counter_clockwise():
    h = bar(horizontal=True)
    for deg in (20.0, 45.0, -30.0):
        got = principal_angle(A.affine(h, rotation=deg)[0])
        assert abs(((got - deg) + 90) % 180 - 90) < 1.0


def test_shear_slants_vertical_bar_to_the_right():
    v = bar(horizontal=False)
    out = A.affine(v, shear=20.0)[0]
    top = np.flatnonzero(out[5] > 0.3).mean()
    bottom = np.flatnonzero(out[22] > 0.3).mean()
    assert top - bottom == pytest.approx(np.tan(np.radians(20)) * 17, abs=0.6)
    out_left = A.affine(v, shear=-20.0)[0]
    assert np.flatnonzero(out_left[5] > 0.3).mean() < np.flatnonzero(out_left[22] > 0.3).mean()


def test_scale_aspect_translate():
    h = bar(horizontal=True)
    assert extents(A.affine(h, scale=0.5)[0])[1] == 10
    assert extents(A.affine(h, aspect=0.64)[0])[1] == 16  # x scaled by sqrt(0.64)
    moved = A.affine(h, translate=(3, 2))[0]
    np.testing.assert_allclose(moved[2:, 3:], h[0][:-2, :-3], atol=1e-6)


# ---- stroke width ---------------------------------------------------------------


def test_stroke_width_thickening_adds_and_thinning_removes_ink_monotonically():
    b = bar(width=4)
    radii = [-1.5, -1.0, -0.5, 0.0, 0.3, 0.5, 1.0, 1.5, 2.5]
    ink = [A.stroke_width(b, radius=r).sum() for r in radii]
    assert all(np.diff(ink) > 0)
    # exact on a bar: radius 1 (the 4-neighbour cross) adds one pixel all round
    # except at the corners, and removes one all round
    assert A.stroke_width(b, radius=1.0).sum() == 6 * 20 + 2 * 4
    assert A.stroke_width(b, radius=-1.0).sum() == 2 * 18
    thick = A.stroke_width(b, radius=1.0)[0]
    assert extents(thick) == (6, 22)


def test_stroke_width_per_sample_and_range(digits):
    r = np.linspace(-1, 2, len(digits))
    out = A.stroke_width(digits, radius=r)
    for i in (0, 7, 15):
        np.testing.assert_array_equal(out[i], A.stroke_width(digits[i : i + 1], radius=r[i])[0])
    with pytest.raises(ValueError, match="radius"):
        A.stroke_width(digits, radius=4)


# ---- broken strokes, blur, noise -------------------------------------------------


def test_broken_strokes_cut_gaps_in_the_ink():
    b = bar(n=20, width=2)
    out = A.broken_strokes(b, SEED, cuts=2, radius=1.5)
    removed = (b - out).sum(axis=(1, 2))
    assert np.all(removed > 2)  # every bar lost ink ...
    assert np.all(out <= b + 1e-7)  # ... and gained none
    # a cut across a 2-px bar splits it: some column inside the bar is (nearly) empty
    gap = (out[:, :, 5:23].max(axis=1) < 0.5).any(axis=1)
    assert gap.mean() > 0.8
    more = A.broken_strokes(b, SEED, cuts=4, radius=1.5)
    assert (b - more).sum() > removed.sum()


def test_blur_spreads_ink_and_keeps_mass():
    b = bar()
    out = A.blur(b, sigma=1.0)[0]
    assert (out > 0.01).sum() > (b[0] > 0).sum()
    assert out.max() < 1.0
    np.testing.assert_allclose(out.sum(), b.sum(), rtol=1e-3)


def test_noise_std():
    z = np.full((4, 28, 28), 0.5, np.float32)
    out = A.noise(z, SEED, std=0.1)
    assert (out - 0.5).std() == pytest.approx(0.1, rel=0.05)


def test_renormalize_mnist_restores_framing():
    b = bar(horizontal=False, width=3)
    moved = A.affine(b, scale=0.6, translate=(4, 3))
    back = A.renormalize_mnist(moved)[0]
    rows, _ = extents(back, thr=0.5)
    assert rows == pytest.approx(20, abs=1)
    y, x = np.mgrid[0:28, 0:28]
    com = ((back * y).sum() / back.sum(), (back * x).sum() / back.sum())
    np.testing.assert_allclose(com, (13.5, 13.5), atol=0.3)
    empty = np.zeros((1, 28, 28), np.float32)
    np.testing.assert_array_equal(A.renormalize_mnist(empty), empty)


def test_input_checks():
    with pytest.raises(ValueError, match="shape"):
        A.elastic(np.zeros((28, 28), np.float32), SEED)
    with pytest.raises(ValueError, match="height"):
        A.affine(np.zeros((2, 27, 28), np.float32))
    with pytest.raises(TypeError):
        A.affine(np.zeros((2, 28, 28), object))
    out = A.affine(np.zeros((2, 28, 28), np.uint8), rotation=3)  # any numeric dtype in
    assert out.dtype == np.float32


# ---- sequences ------------------------------------------------------------------


def line(n: int = 3, w: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """(n, 28, w) lines of four vertical bars, with their boxes [x0, x1, y0, y1)."""
    img = np.zeros((n, 28, w), np.float32)
    boxes = np.zeros((n, 4, 4), np.int64)
    for j, x0 in enumerate((10, 40, 70, 100)):
        img[:, 6:22, x0 : x0 + 3] = 1.0
        boxes[:, j] = (x0, x0 + 3, 6, 22)
    return img, boxes


def ink_boxes(img: np.ndarray, boxes: np.ndarray, thr: float = 0.01) -> np.ndarray:
    """Tight boxes of the ink inside each (generous) column band around a digit."""
    out = []
    for j in range(boxes.shape[0]):
        lo, hi = max(0, boxes[j, 0] - 8), boxes[j, 1] + 8
        m = img[:, lo:hi] > thr
        r, c = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
        out.append((lo + c[0], lo + c[-1] + 1, r[0], r[-1] + 1))
    return np.array(out)


def test_wobble_moves_rows_and_boxes_follow():
    img, boxes = line()
    out, nb = A.wobble(img, boxes, SEED, amplitude=3.0, wavelength=60.0)
    assert out.shape == img.shape and out.dtype == np.float32
    assert not np.array_equal(out, img)
    assert nb.shape == boxes.shape and nb.dtype == np.int64
    np.testing.assert_array_equal(nb[..., :2], boxes[..., :2])  # columns do not move
    moved = False
    for i in range(len(img)):
        tight = ink_boxes(out[i], boxes[i])
        # boxes contain the moved ink (conservative) and are at most 1 px too big per side
        assert np.all(nb[i, :, 2] <= tight[:, 2]) and np.all(nb[i, :, 3] >= tight[:, 3])
        assert np.all(tight[:, 2] - nb[i, :, 2] <= 1) and np.all(nb[i, :, 3] - tight[:, 3] <= 1)
        moved |= bool(np.any(nb[i, :, 2] != 6))
    assert moved
    again = A.wobble(img, boxes, SEED, amplitude=3.0, wavelength=60.0)
    np.testing.assert_array_equal(out, again[0])
    np.testing.assert_array_equal(nb, again[1])


def test_wobble_exact_shift_with_fixed_phase():
    img, boxes = line(n=1)
    # a wavelength of 4 px at phase pi/2 gives d(x) = amp * sin(pi x / 2 + pi/2):
    # columns 0, 4, 8, ... move down by amp exactly
    out, _ = A.wobble(img, boxes, amplitude=2.0, wavelength=4.0, phase=np.pi / 2)
    np.testing.assert_allclose(out[0, 8:24, 100], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[0, 6:8, 100], 0.0, atol=1e-6)


def test_slant_shears_line_and_boxes_follow():
    img, boxes = line(n=2)
    out, nb = A.slant(img, boxes, angle=np.array([15.0, -15.0]))
    for i, sign in ((0, 1), (1, -1)):
        top = np.flatnonzero(out[i, 7, 30:55] > 0.3).mean()
        bottom = np.flatnonzero(out[i, 20, 30:55] > 0.3).mean()
        assert sign * (top - bottom) == pytest.approx(np.tan(np.radians(15)) * 13, abs=0.6)
        tight = ink_boxes(out[i], boxes[i])
        assert np.all(nb[i, :, 0] <= tight[:, 0]) and np.all(nb[i, :, 1] >= tight[:, 1])
        assert np.all(tight[:, 0] - nb[i, :, 0] <= 1) and np.all(nb[i, :, 1] - tight[:, 1] <= 1)
    np.testing.assert_array_equal(nb[..., 2:], boxes[..., 2:])  # rows do not move


def test_sequence_boxes_optional_and_empty_boxes_untouched():
    img, boxes = line(n=1)
    boxes[0, 3] = (0, 0, 0, 0)  # padding for a missing digit
    _, nb = A.wobble(img, boxes, SEED, amplitude=2.0)
    np.testing.assert_array_equal(nb[0, 3], 0)
    out2, none = A.slant(img, None, angle=5.0)
    assert none is None and out2.shape == img.shape
    with pytest.raises(ValueError, match="boxes"):
        A.slant(img, np.zeros((1, 4, 3), np.int64), angle=5.0)


def test_contrast_and_ink_level():
    img, _ = line(n=1)
    img[0, 0, :] = 0.5
    out = A.contrast(img, gamma=2.0, ink_level=0.8, background=0.1)[0]
    np.testing.assert_allclose(out[10, 10], 0.8, atol=1e-6)  # full ink -> ink_level
    np.testing.assert_allclose(out[1, 0], 0.1, atol=1e-6)  # background -> background
    np.testing.assert_allclose(out[0, 0], 0.1 + 0.7 * 0.25, atol=1e-6)  # gamma on grey


def test_clutter_lines_and_specks():
    img = np.zeros((2, 28, 200), np.float32)
    out = A.clutter(img, SEED, lines=np.array([2, 0]), line_intensity=0.2, specks=[0, 10])
    full_rows = (out[0] == np.float32(0.2)).all(axis=1)
    assert 1 <= full_rows.sum() <= 2  # two lines (they may share a row)
    assert out[0][~full_rows].max() == 0
    n_specks = (out[1] > 0).sum()
    assert 5 <= n_specks <= 40 and out[1].max() <= 0.5  # Poisson(20), intensity <= 0.5
    np.testing.assert_array_equal(
        out, A.clutter(img, SEED, lines=[2, 0], line_intensity=0.2, specks=[0, 10])
    )


def test_sequence_transforms_keep_contract():
    img, boxes = line(n=4, w=97)
    for out in (
        A.wobble(img, boxes, SEED)[0],
        A.slant(img, boxes, angle=8.0)[0],
        A.contrast(img, gamma=0.7, ink_level=0.9),
        A.clutter(img, SEED),
        A.blur(img, sigma=0.7),
        A.noise(img, SEED, std=0.05),
    ):
        assert out.shape == img.shape and out.dtype == np.float32 and out.flags.c_contiguous
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_threaded_resampling_gives_the_same_digits(monkeypatch):
    """Big batches resample chunks on a thread pool; the output must not change."""
    from concurrent.futures import ThreadPoolExecutor

    from strokeseq import threads
    from strokeseq.augment import digit

    monkeypatch.setenv("STROKESEQ_THREADS", "2")  # whatever the user's environment says
    monkeypatch.setattr(threads, "_POOL", None)
    x = np.random.default_rng(0).random((5000, 28, 28), dtype=np.float32)
    threaded = digit.elastic(x, 3)
    assert isinstance(threads._POOL, ThreadPoolExecutor)  # the pool was used
    monkeypatch.setattr(threads, "_POOL", False)  # single-threaded
    np.testing.assert_array_equal(digit.elastic(x, 3), threaded)


FORK_POOL_SCRIPT = """
import multiprocessing as mp
import numpy as np
from strokeseq.augment import digit

x = np.random.default_rng(0).random((5000, 28, 28), dtype=np.float32)
parent = digit.elastic(x, 3)  # creates the pool in the parent
ctx = mp.get_context("fork")
queue = ctx.Queue()
proc = ctx.Process(target=lambda q: q.put(float(digit.elastic(x, 3).sum())), args=(queue,))
proc.start()
total = queue.get(timeout=600)
proc.join(timeout=600)
assert total == float(parent.sum()), (total, float(parent.sum()))
print("ok")
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_thread_pool_survives_fork():
    """A child forked after the pool exists must not hang on the parent's dead threads.

    Run in a fresh interpreter: forking the test runner itself, which may hold
    other libraries' threads, is not what this test is about.
    """
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-c", FORK_POOL_SCRIPT], capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
