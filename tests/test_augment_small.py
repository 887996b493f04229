"""The small-call paths of the augmentation kernels give exactly the batch paths' bits.

Calls of a few digits take shorter routes (one gather of four corners, maps on
Python floats, windowed blur taps, gaps cut digit by digit, cached kernel
banks); each is checked here against the general path on the same input,
bit for bit, including signed zeros and extreme parameters.
"""

from __future__ import annotations

import numpy as np
import pytest

from strokeseq import augment as A
from strokeseq.augment import _core
from strokeseq.augment import morph as _m
from strokeseq.augment import resample as _r
from strokeseq.augment import warp as _w


def assert_bits(a: np.ndarray, b: np.ndarray) -> None:
    """Equal values AND equal bits (a -0.0 against a 0.0 fails too)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    assert a.tobytes() == b.tobytes()


def inks(n: int, seed: int) -> np.ndarray:
    """Blobs of ink, some values out of [0, 1], some -0.0, an empty digit."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.float32)
    x[:, 5:23, 9:19] = rng.uniform(-0.2, 1.2, (n, 18, 10)).astype(np.float32)
    x[:, 12, 4:24] = 1.0
    x[rng.random(x.shape) < 0.05] = -0.0
    if n > 2:
        x[1] = 0.0
    return x


@pytest.mark.parametrize("n", [1, 2, 5, 16])
def test_bilinear_small_path_equals_the_block_path(monkeypatch, n):
    rng = np.random.default_rng(n)
    x = inks(n, n)
    yx = rng.uniform(-3, 32, (2, n, 28, 28)).astype(np.float32)
    yx[:, :, :4] = np.round(yx[:, :, :4])  # whole coordinates and exact edges too
    yx[:, :, 5, :4] = [np.nan, np.inf, -np.inf, 1e30]  # what absurd fields can give
    with np.errstate(invalid="ignore"):  # NaN coordinates cast to indices
        small = _r.bilinear(x, yx.copy())
        monkeypatch.setattr(_r, "SMALL", 0)
        assert_bits(small, _r.bilinear(x, yx.copy()))


def test_affine_maps_on_floats_equal_the_array_code(monkeypatch):
    rng = np.random.default_rng(1)
    cases = []
    for trial in range(300):
        n = int(rng.integers(1, 17))
        scale = np.exp(rng.uniform(-30, 30, n)) if trial % 5 == 0 else rng.uniform(0.2, 5, n)
        cases.append(
            (
                n,
                rng.uniform(-180, 180, n),
                rng.uniform(-79.9, 79.9, n),
                scale,
                rng.uniform(0.2, 5, n),
                rng.uniform(-100, 100, (n, 2)),
            )
        )
    cases.append((1, 90.0, 0.0, 1.0, 1.0, (0.0, 0.0)))  # exact quarter turn, scalars
    # plain parameters (float64 arrays or Python numbers, a (tx, ty) tuple or float64
    # array of shape (2,) or (n, 2), as the cases above) take the
    # route on Python floats (math.radians, math.sqrt); others the array code
    for trial in range(200):
        n, rot, shear, scale, aspect, t = cases[trial]
        tx, ty = (float(v) for v in t[0])
        cases.append((n, rot, shear, scale, aspect, (tx, ty)))
        cases.append((n, float(rot[0]), float(shear[0]), float(scale[0]), 1, (int(tx), ty)))
        cases.append((n, rot, 0, scale, aspect[0], t[0]))  # translate (2,) as an array
    cases.append((2, -0.0, -0.0, 1.0, 1.0, (-0.0, 0.0)))  # signed zeros
    small = [_w.affine_inverse(*c) for c in cases]
    monkeypatch.setattr(_w, "SMALL_MAPS", 0)
    for c, s in zip(cases, small, strict=True):
        assert_bits(s, _w.affine_inverse(*c))


@pytest.mark.parametrize(
    "bad",
    [
        {"rotation": np.nan},
        {"rotation": np.array([np.inf])},
        {"shear": 80.0},
        {"shear": np.array([-85.0])},
        {"scale": 0.0},
        {"aspect": -1},
        {"translate": (np.inf, 0.0)},
        {"translate": (1.0, 2.0, 3.0)},
        {"translate": np.array([[0.0, np.nan]])},
        {"translate": np.zeros((2, 2))},
        {"rotation": True},
        {"scale": np.array([1.0, 2.0])},
    ],
)
def test_affine_small_route_refuses_what_the_array_code_refuses(monkeypatch, bad):
    kwargs = {"rotation": 0.0, "shear": 0.0, "scale": 1.0, "aspect": 1.0, "translate": (0, 0)}
    kwargs.update(bad)
    errors = []
    for small in (16, 0):
        monkeypatch.setattr(_w, "SMALL_MAPS", small)
        with pytest.raises((ValueError, TypeError)) as info:
            A.affine(np.zeros((1, 28, 28), np.float32), **kwargs)
        errors.append((info.type, str(info.value)))
    assert errors[0] == errors[1]


def test_mnist_framing_maps_on_floats_equal_the_array_code(monkeypatch):
    x = inks(16, 3)
    x[4] = 0.0  # no ink: left alone
    x[5, :, :] = 0.0
    x[5, 3, 3] = 0.9  # one pixel: box of 1
    ref = {n: A.renormalize_mnist(x[:n]) for n in (1, 2, 7, 16)}
    with np.errstate(all="ignore"):  # box 0: inf maps, NaN coordinates
        zero_box = A.renormalize_mnist(x[:3], box=0)
    monkeypatch.setattr(_w, "SMALL_MAPS", 0)
    for n, out in ref.items():
        assert_bits(out, A.renormalize_mnist(x[:n]))
    with np.errstate(all="ignore"):
        assert_bits(zero_box, A.renormalize_mnist(x[:3], box=0))


@pytest.mark.parametrize("width", [28, 90])
def test_windowed_blur_equals_the_tap_loop(monkeypatch, width):
    rng = np.random.default_rng(width)
    x = rng.uniform(-0.1, 1.0, (6, 28, width)).astype(np.float32)
    x[rng.random(x.shape) < 0.2] = -0.0
    sigmas = [
        np.full(6, 0.7),
        np.array([0.0, 0.3, 1.8, 0.0, 5.0, 0.9]),
        rng.uniform(0, 2, 6),
    ]
    windowed = [_core.gaussian_blur(x, s) for s in sigmas]
    one = [_core.gaussian_blur(x[:1], s[:1]) for s in sigmas]
    monkeypatch.setattr(_core, "_WINDOWED", 0)
    for s, w, o in zip(sigmas, windowed, one, strict=True):
        assert_bits(w, _core.gaussian_blur(x, s))
        assert_bits(o, _core.gaussian_blur(x[:1], s[:1]))


def test_blur_weights_cache_is_the_computation():
    s = np.array([0.7, 0.0, 1.3])
    assert_bits(_core._cached_blur_weights(tuple(s.tolist()), 3.0), _core._blur_weights(s, 3.0))


def test_one_blur_width_on_floats_is_the_array_code():
    """A single width (drawn afresh per call, a cache miss) takes the route on Python floats."""
    rng = np.random.default_rng(3)
    widths = [*rng.uniform(1e-3, 5, 3000), *np.exp(rng.uniform(-12, 1.6, 500)), 0.5, 1 / 3, 5.0]
    for s in widths:
        for truncate in (3.0, 4.0):
            one = _core._one_blur_weights(float(s), truncate)
            assert_bits(one, _core._blur_weights(np.array([s]), truncate))
    # a call with one width for all its images uses that row for each
    for s in widths[:300]:
        rows = _core._blur_weights(np.full(5, s), 3.0)
        assert_bits(rows, np.repeat(_core._one_blur_weights(float(s), 3.0), 5, axis=0))


def test_one_radius_disk_weights_are_the_general_loop():
    """One digit's blend weights (a cache miss per drawn radius) equal the loop's for two digits."""
    rng = np.random.default_rng(4)
    loop = _m._small_disk_weights.__wrapped__
    radii = [*rng.uniform(1e-6, 3, 2000), 1.0, 2.0, 3.0, 0.5, float(np.nextafter(1.0, 0.0))]
    for r in radii:
        kmax, one = loop((float(r),))
        kmax2, two = loop((float(r), float(r)))  # the same radius twice: scalar weights
        assert kmax == kmax2 and one.keys() == two.keys()
        for k, w in one.items():
            assert (w is _m._ONE) == (two[k] is _m._ONE)
            assert np.float32(w).tobytes() == np.float32(two[k]).tobytes()


@pytest.mark.parametrize("grouped", [False, True])
def test_gaps_digit_by_digit_equal_the_batch(monkeypatch, grouped):
    rng = np.random.default_rng(7)
    n = 4
    x = inks(n, 7)
    c = np.array([2, 0, 3, 1])
    rad = rng.uniform(0.5, 3, n)
    u = rng.random((n, 3))
    u[3, 0] = np.nextafter(1.0, 0.0)  # the last ink pixel (or past it, by rounding)
    groups = np.array([0, 0, 1, 1]) if grouped else None
    small = _m.cut_gaps(x, u, c, rad, groups=groups)
    # one digit (its product is the output): cut, uncut, without ink
    ones = [(x[i : i + 1], u[i : i + 1], c[i : i + 1], rad[i : i + 1]) for i in range(n)]
    ones.append((np.zeros((1, 28, 28), np.float32), u[:1], c[:1], rad[:1]))
    single = [_m.cut_gaps(*args) for args in ones]
    monkeypatch.setattr(_m, "SMALL_GAPS", 0)
    assert_bits(small, _m.cut_gaps(x, u, c, rad, groups=groups))
    for args, got in zip(ones, single, strict=True):
        assert_bits(got, _m.cut_gaps(*args))


@pytest.mark.parametrize("shape", [(1, 28, 28), (5, 28, 28), (3, 28, 90)])
def test_noise_with_one_std_equals_the_per_item_product(shape):
    """A scalar std multiplies in place as one float32; an (n,) std per item: same bits."""
    x = inks(shape[0], 4) if shape[2] == 28 else np.full(shape, 0.5, np.float32)
    for std in (0.05, 0.3, 1, 0):
        one = A.noise(x, np.random.default_rng(9), std=std)
        each = A.noise(x, np.random.default_rng(9), std=np.full(shape[0], float(std)))
        assert_bits(one, each)


def test_kernel_bank_small_calls_equal_the_large_path():
    """A call of <= 64 widths (dict keys) gets the matrices a larger batch gives its group."""
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.5, 9, 10)
    bank, ones, inv = _core.kernel_bank(sigma, None, 28, with_ones=True)
    more = np.concatenate([sigma, rng.uniform(0.5, 9, 100)])
    groups = np.r_[np.zeros(10, int), np.ones(100, int)]
    big, big_ones, big_inv = _core.kernel_bank(more, groups, 28, with_ones=True)
    assert_bits(bank[inv], big[big_inv[:10]])
    assert_bits(ones[inv], big_ones[big_inv[:10]])
    r = bank.sum(axis=2)
    assert_bits(ones, r[:, :, None] * r[:, None, :])
    assert not bank.flags.writeable and not ones.flags.writeable


@pytest.mark.parametrize("n", [1, 3, 16])
def test_disks_on_the_flat_batch_equal_the_windows(monkeypatch, n):
    rng = np.random.default_rng(n)
    x = inks(n, n)
    radii = [1.0, -1.0, 0.5, -2.7, 3.0, rng.uniform(-3, 3, n), rng.uniform(0.1, 1.5, n)]
    flat = [A.stroke_width(x, radius=r) for r in radii]
    monkeypatch.setattr(_m, "SMALL_DISKS", 0)
    for r, f in zip(radii, flat, strict=True):
        assert_bits(f, A.stroke_width(x, radius=r))


def test_stroke_width_one_kind_equals_the_selection_path():
    """All-thickening (or all-thinning) calls skip the selection; mixed calls select."""
    x = inks(6, 11)
    r = np.array([0.4, -0.6, 1.0, -2.3, 0.0, 3.0])
    mixed = A.stroke_width(x, radius=r)
    for i in range(6):
        assert_bits(mixed[i : i + 1], A.stroke_width(x[i : i + 1], radius=r[i]))
    thick = np.array([0.4, 1.0, 3.0, 2.5, 0.01, 1.5])
    both = A.stroke_width(x, radius=thick)
    for i in range(6):
        assert_bits(both[i : i + 1], A.stroke_width(x[i : i + 1], radius=np.r_[thick[i]]))


def test_small_calls_give_their_digits_what_a_batch_gives():
    """The plain functions: each digit of a batch of 40 as in a call of 1 or 3."""
    x = inks(40, 5)
    rot = np.linspace(-30, 30, 40)
    shear = rot[::-1] / 2
    cases = [
        lambda z, s: A.affine(z, rotation=rot[s], shear=shear[s], translate=(0.5, -1)),
        lambda z, s: A.stroke_width(z, radius=rot[s] / 15),
        lambda z, s: A.blur(z, sigma=np.abs(rot[s]) / 30),
        lambda z, s: A.renormalize_mnist(z),
    ]
    for f in cases:
        whole = f(x, slice(0, 40))
        for s in (slice(0, 1), slice(7, 10), slice(39, 40)):
            assert_bits(f(x[s], s), whole[s])
