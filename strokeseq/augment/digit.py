"""Per-digit transforms on a batch of ink digits ``(n, 28, 28)``.

Every function takes ``(ink, rng, **params)`` where each parameter is a scalar
(same for the whole batch) or an array of shape ``(n,)`` (one value per
digit), and returns a new float32 C-contiguous ``(n, 28, 28)`` array clipped
to [0, 1]; the input is never modified. Parameters are values, not ranges:
drawing them from ranges is the job of :class:`strokeseq.augment.Augmenter`.

Coordinates: x is the column (to the right), y the row (downwards), and the
centre of the 28 x 28 grid is (13.5, 13.5) in pixel-index units.
"""

from __future__ import annotations

import contextlib
import functools
import math

import numpy as np

from ..rng import as_generator
from ._core import CHUNK, check_batch, finish, gaussian_blur, per_sample, span
from .warp import _GRID_X, _GRID_Y, CENTRE, SIZE, SMALL_MAPS, Fields, affine_inverse, warp

__all__ = [
    "affine",
    "blur",
    "broken_strokes",
    "elastic",
    "elastic_field",
    "noise",
    "renormalize_mnist",
    "stroke_width",
]


def elastic_field(
    n: int, rng: object = None, *, alpha: object = 34.0, sigma: object = 4.0
) -> np.ndarray:
    """Random displacement fields of Simard, Steinkraus & Platt (2003).

    For each digit and each axis: draw ``u ~ Uniform(-1, 1)`` independently
    per pixel (28 x 28), smooth it with a Gaussian of standard deviation
    ``sigma`` (zero padding beyond the edges, kernel truncated at
    ``4 sigma``, i.e. exactly ``scipy.ndimage.gaussian_filter(u, sigma,
    mode="constant")``), THEN multiply by ``alpha``. The field is not
    normalised (some ports divide by its norm; we follow the paper).

    Parameters
    ----------
    n : int
        Number of fields.
    rng : None, int, SeedSequence or Generator
        Randomness (see :func:`strokeseq.rng.as_generator`).
    alpha : float or ndarray (n,)
        Scale in pixels, >= 0. With ``sigma=4`` the RMS displacement is about
        ``0.041 * alpha`` px (1.4 px at the MNIST setting ``alpha=34``).
        Sensible range 0-40.
    sigma : float or ndarray (n,)
        Smoothness in pixels, > 0. Sensible range 3-6; below ~3 the field is
        rough and the digit looks torn.

    Returns
    -------
    ndarray, shape (n, 2, 28, 28), float32
        ``[:, 0]`` is the row displacement dy, ``[:, 1]`` the column
        displacement dx. The uniform draws are ``rng.random((m, 2, 28, 28),
        dtype=float32) * 2 - 1`` for consecutive chunks of ``m <= 2048`` digits.
    """
    gen = as_generator(rng)
    alpha_a, sigma_a = _check_elastic(n, alpha, sigma)
    out = np.empty((n, 2, SIZE, SIZE), np.float32)
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        u = gen.random((e - s, 2, SIZE, SIZE), dtype=np.float32)
        out[s:e] = Fields(u, alpha_a[s:e], sigma_a[s:e]).block(0, e - s)
    return out


def _check_elastic(n: int, alpha: object, sigma: object) -> tuple[np.ndarray, np.ndarray]:
    alpha_a = per_sample(alpha, n, "alpha")
    sigma_a = per_sample(sigma, n, "sigma")
    if span(alpha_a)[0] < 0:
        raise ValueError(f"alpha must be >= 0, got min {alpha_a.min()}")
    if span(sigma_a)[0] <= 0:
        raise ValueError(f"sigma must be > 0, got min {sigma_a.min()}")
    return alpha_a, sigma_a


def elastic(
    ink: object, rng: object = None, *, alpha: object = 34.0, sigma: object = 4.0
) -> np.ndarray:
    """Elastic distortion (Simard, Steinkraus & Platt 2003).

    ``out(y, x) = in(y + dy(y, x), x + dx(y, x))`` with bilinear interpolation,
    background beyond the edges, and ``(dy, dx)`` from :func:`elastic_field`:
    uniform(-1, 1) noise, Gaussian-smoothed with ``sigma`` first, then
    multiplied by ``alpha``, not normalised. ``alpha=0`` is the identity.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
        Ink digits (1 = ink, 0 = background).
    rng : None, int, SeedSequence or Generator
        Randomness.
    alpha : float or ndarray (n,)
        Displacement scale in pixels, >= 0. Default 34 (MNIST setting);
        sensible 0-40, readable up to ~40 with ``sigma >= 4``.
    sigma : float or ndarray (n,)
        Field smoothness in pixels, > 0. Default 4; sensible 3-6.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]

    Notes
    -----
    Translation and size change a little (the field is not zero-mean over a
    small digit): re-apply :func:`renormalize_mnist` if a consumer needs
    exact MNIST framing.
    """
    x = check_batch(ink)
    n = x.shape[0]
    gen = as_generator(rng)
    alpha_a, sigma_a = _check_elastic(n, alpha, sigma)
    if 0 < n <= CHUNK:  # one chunk: the warp's result is the output
        u = gen.random((n, 2, SIZE, SIZE), dtype=np.float32)
        return finish(warp(x, None, Fields(u, alpha_a, sigma_a)))
    out = np.empty_like(x)
    for s in range(0, n, CHUNK):  # noise drawn and kernels built per chunk, as elastic_field
        e = min(n, s + CHUNK)
        u = gen.random((e - s, 2, SIZE, SIZE), dtype=np.float32)
        warp(x[s:e], None, Fields(u, alpha_a[s:e], sigma_a[s:e]), out=out[s:e])
    return finish(out)


def affine(
    ink: object,
    rng: object = None,
    *,
    rotation: object = 0.0,
    shear: object = 0.0,
    scale: object = 1.0,
    aspect: object = 1.0,
    translate: object = (0.0, 0.0),
) -> np.ndarray:
    """Rotation, shear (slant), anisotropic scale and translation in one resampling.

    The forward map, about the grid centre (13.5, 13.5), is scale, then shear,
    then rotation, then translation; the output is sampled once through its
    inverse with bilinear interpolation.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    rng : ignored
        Accepted so every transform has the signature ``f(ink, rng, **params)``.
    rotation : float or ndarray (n,)
        Degrees, counter-clockwise as displayed. Sensible -15..15 (MNIST
        writers rarely exceed it); beyond ~45 a 6 can become a 9.
    shear : float or ndarray (n,)
        Slant in degrees: ``x -= tan(shear) * (y - 13.5)``, so > 0 leans the top
        to the right. Sensible -20..20; must be within (-80, 80).
    scale : float or ndarray (n,)
        Overall size factor, > 0. Sensible 0.85..1.15 (MNIST digits fill 20 px
        of 28; above ~1.3 ink leaves the frame).
    aspect : float or ndarray (n,)
        Width/height ratio factor, > 0: x is scaled by ``scale*sqrt(aspect)``
        and y by ``scale/sqrt(aspect)``. Sensible 0.8..1.25.
    translate : (tx, ty) or ndarray (n, 2)
        Pixels, x to the right and y down. Sensible -2..2.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    x = check_batch(ink)
    inv = affine_inverse(x.shape[0], rotation, shear, scale, aspect, translate)
    return finish(warp(x, inv, None))


@functools.lru_cache(maxsize=8)
def _ring_offsets(kmax: int) -> list[list[tuple[int, int]]]:
    """Offsets of the digital disk, grouped into rings ``k-1 < |d| <= k`` for k = 1..kmax."""
    rings: list[list[tuple[int, int]]] = [[] for _ in range(kmax + 1)]
    for dy in range(-kmax, kmax + 1):
        for dx in range(-kmax, kmax + 1):
            r = math.hypot(dy, dx)
            if 0 < r <= kmax:
                rings[math.ceil(r - 1e-9)].append((dy, dx))
    return rings


@functools.lru_cache(maxsize=8)
def _ring_windows(kmax: int) -> list[list[tuple[slice, slice, slice]]]:
    """The rings of :func:`_ring_offsets` as index tuples into a batch padded by ``kmax``."""
    return [
        [
            (slice(None), slice(kmax + dy, kmax + dy + SIZE), slice(kmax + dx, kmax + dx + SIZE))
            for dy, dx in ring
        ]
        for ring in _ring_offsets(kmax)
    ]


def stroke_width(ink: object, rng: object = None, *, radius: object = 0.0) -> np.ndarray:
    """Thicken (``radius > 0``) or thin (``radius < 0``) strokes by grey morphology.

    Grey dilation (thickening) or erosion (thinning) with the digital disk
    ``{(dy, dx): dy^2 + dx^2 <= k^2}`` (k = 1: the 4-neighbour cross; k = 2: 13
    pixels; ...). A fractional radius ``r = k + f`` blends the results of disks
    k and k + 1: ``(1 - f) * D_k + f * D_{k+1}``, so ink changes continuously
    and monotonically with the radius. Beyond the edges is background.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    rng : ignored
        Accepted so every transform has the signature ``f(ink, rng, **params)``.
    radius : float or ndarray (n,)
        Pixels, within [-3, 3]. MNIST strokes are 2-3 px wide, so thinning
        beyond about -0.7 starts to break strokes; thickening up to 1.5 keeps
        digits readable. Sensible -0.6..1.5.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    x = check_batch(ink)
    n = x.shape[0]
    r = per_sample(radius, n, "radius")
    mag = np.abs(r)
    lo, hi = span(r)
    if lo < -3 or hi > 3:
        raise ValueError(f"radius must be within [-3, 3], got {r[np.argmax(mag)]}")
    if n and lo > 0:  # one kind of morphology for every digit: no selection, no copy
        return finish(_disk_blend(x, mag, np.maximum))
    if n and hi < 0:
        return finish(_disk_blend(x, mag, np.minimum))
    thick, thin = r > 0, r < 0
    out = x.copy()
    for on, op in ((thick, np.maximum), (thin, np.minimum)):
        sel = np.flatnonzero(on)
        if sel.size:
            out[sel] = _disk_blend(x[sel], mag[sel], op)
    return finish(out)


def _disk_weights(mag: np.ndarray) -> tuple[int, dict[int, np.ndarray | np.float32]]:
    """The widest disk and the blend weight of every disk k that weighs for some digit.

    ``(1 - f)`` for ``k == floor(r)``, ``f`` for ``k == floor(r) + 1``, else 0,
    in float32 (``f = float32(r - floor(r))``). A weight is one float32 when
    every digit has the same (always for one digit), else shape (m, 1, 1).
    """
    kmax = math.ceil(mag.max())
    if mag.size <= 16:  # Python floats and NumPy float32 scalars: the same operations
        mags = mag.tolist()
        base = [math.floor(v) for v in mags]
        frac = [np.float32(v - b) for v, b in zip(mags, base, strict=True)]
        zero, one = np.float32(0.0), np.float32(1.0)
        wts: dict[int, np.ndarray | np.float32] = {}
        for k in sorted(set(base) | {b + 1 for b in base}):
            w = [
                (one - f if b == k else zero) + (f if b + 1 == k else zero)
                for b, f in zip(base, frac, strict=True)
            ]
            same = all(v == w[0] for v in w)  # weights are >= 0: no signed zeros to tell apart
            wts[k] = w[0] if same else np.array(w, np.float32)[:, None, None]
        return kmax, wts
    base = np.floor(mag)
    frac = (mag - base).astype(np.float32)
    used = set(base.tolist()) | set((base + 1).tolist())  # the disks with a weight
    ks = np.arange(kmax + 1, dtype=np.float64)[:, None]
    w = np.where(base == ks, 1.0 - frac, 0.0) + np.where(base + 1 == ks, frac, 0.0)
    return kmax, {int(k): w[int(k)][:, None, None] for k in sorted(used) if k <= kmax}


def _disk_blend(src: np.ndarray, mag: np.ndarray, op: np.ufunc) -> np.ndarray:
    """``(1 - f) D_k + f D_{k+1}`` per digit, ``D_k`` the ``op`` (max/min) over the disk k.

    ``mag`` (m,) > 0 are the digits' radii ``k + f``. ``src`` is not modified.
    The float32 sums are ``(0 + w_0 D_0) + w_1 D_1 + ...`` over the disks
    that have a weight for some digit, in order of k.
    """
    kmax, wts = _disk_weights(mag)
    pad = np.zeros((src.shape[0], SIZE + 2 * kmax, SIZE + 2 * kmax), np.float32)
    pad[:, kmax : kmax + SIZE, kmax : kmax + SIZE] = src
    acc = np.zeros_like(src)
    rings = _ring_windows(kmax)
    cur = src  # D_0; replaced by a new array at the first ring, then updated in place
    for k in range(kmax + 1):
        if k > 0:
            for window in rings[k]:
                if cur is src:
                    cur = op(src, pad[window])
                else:
                    op(cur, pad[window], out=cur)
        if k in wts:  # else weight 0 for every digit: adds nothing
            acc += wts[k] * cur
    return acc


def broken_strokes(
    ink: object,
    rng: object = None,
    *,
    cuts: object = 2,
    radius: object = 1.0,
    threshold: float = 0.5,
) -> np.ndarray:
    """Cut small round gaps in the strokes, like a pen skipping.

    Each digit gets ``cuts`` gaps centred on pixels drawn uniformly among its
    ink pixels (value > ``threshold``); inside a gap the ink is multiplied by
    ``clip(dist - radius + 0.5, 0, 1)``, a disk of ``radius`` px with a 1-px
    soft edge. A digit without ink is unchanged.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    rng : None, int, SeedSequence or Generator
    cuts : int or ndarray (n,)
        Number of gaps, 0..10. Sensible 1-3.
    radius : float or ndarray (n,)
        Gap radius in pixels, 0.5..5. Sensible 0.8-1.5 (a gap of about 2-3 px).
    threshold : float
        Ink level that counts as stroke for the gap centres.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    x = check_batch(ink)
    gen = as_generator(rng)
    n = x.shape[0]
    c = per_sample(cuts, n, "cuts")
    lo, hi = span(c)
    if lo < 0 or hi > 10 or (c != c.round()).any():
        raise ValueError("cuts must be whole numbers within [0, 10]")
    c = c.astype(np.int64)
    cmax = int(hi) if n else 0
    rad = per_sample(radius, n, "radius")
    lo, hi = span(rad)
    if lo < 0.5 or hi > 5:
        raise ValueError("radius must be within [0.5, 5]")
    u = gen.random((n, max(cmax, 1)))
    return _cut_gaps(x, u, c, rad, threshold)


def _cut_gaps(
    x: np.ndarray,
    u: np.ndarray,
    c: np.ndarray,
    rad: np.ndarray,
    threshold: float = 0.5,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The gaps of :func:`broken_strokes` from pre-drawn uniforms ``u`` (n, >= max(c)).

    ``c`` (int, n) and ``rad`` (float64, n) are checked. ``groups`` (n,)
    labels digits that came from separate calls (contiguous, in order): each
    digit's cut positions are then those of its own call.
    """
    n = x.shape[0]
    c = np.asarray(c).astype(np.int64)
    cmax = int(c.max()) if n else 0
    if cmax == 0:
        return finish(x.copy())
    if n <= SMALL_GAPS:
        return finish(_cut_gaps_each(x, u, c, rad, threshold, groups))
    npix = SIZE * SIZE
    wts = (x.reshape(n, -1) > threshold).astype(np.float64)
    cum_d = np.cumsum(wts, axis=1)  # per digit; whole numbers, exact
    tot = cum_d[:, -1].copy()
    # The call's inverse CDF runs on one cumsum over all its digits: digit i
    # starts at the ink of the digits before it IN ITS CALL, and the target
    # start + u * tot is rounded at that magnitude; keep both as the call had them.
    before = np.cumsum(tot) - tot
    if groups is not None:
        first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        before -= np.repeat(before[first], np.diff(np.r_[first, n]))
    target = before[:, None] + u[:, :cmax] * tot[:, None]
    # searchsorted(cum, target, "right") - i * 784 on the call's cumsum, clipped
    # to the digit, counts the digit's cumsum values <= floor(target) - before
    # (every earlier digit's values are <= before <= target; whole numbers).
    # Searched on keys i * 1024 + cum_d, strictly increasing since cum_d <= 784.
    q = np.floor(target) - before[:, None]
    base = np.arange(n, dtype=np.int64)[:, None] * 1024
    keys = (base + cum_d.astype(np.int64)).reshape(-1)
    flat = np.searchsorted(keys, base + np.minimum(q, npix).astype(np.int64), side="right")
    pix = np.clip(flat - np.arange(n)[:, None] * npix, 0, npix - 1)
    cy, cx = (pix // SIZE).astype(np.float32), (pix % SIZE).astype(np.float32)
    active = (np.arange(cmax)[None, :] < c[:, None]) & (tot[:, None] > 0)
    d2 = (_GRID_Y - cy[:, :, None, None]) ** 2 + (_GRID_X - cx[:, :, None, None]) ** 2
    d2 = np.where(active[:, :, None, None], d2, np.float32(1e6))
    dist = np.sqrt(d2.min(axis=1))
    keep = np.clip(dist - rad.astype(np.float32)[:, None, None] + 0.5, 0.0, 1.0)
    return finish(x * keep)


# Up to this many digits the gaps are cut digit by digit (about ten NumPy calls
# each instead of forty for the batch); the same values, see _cut_gaps_each.
SMALL_GAPS = 4
_ROW = np.arange(SIZE, dtype=np.float32)


def _cut_gaps_each(
    x: np.ndarray,
    u: np.ndarray,
    c: np.ndarray,
    rad: np.ndarray,
    threshold: float,
    groups: np.ndarray | None,
) -> np.ndarray:
    """:func:`_cut_gaps` one digit at a time, with the batch code's values bit for bit.

    The gap centre of cut k is the ``q``-th ink pixel (row-major) of its digit,
    ``q = floor(before + u * tot) - before`` in float64 (``before``: the ink
    of the earlier digits of its call, ``tot``: its own), or the last pixel if
    rounding gives ``q = tot``; the squared distances are whole numbers, exact
    in float32 in any order.
    """
    n = x.shape[0]
    ink = x.reshape(n, -1) > threshold
    totals = ink.sum(axis=1).tolist()
    rad32 = rad.astype(np.float32)
    out = x.copy()
    before = 0.0
    for i in range(n):
        if i and groups is not None and groups[i] != groups[i - 1]:
            before = 0.0  # a new call: its inverse CDF starts again
        tot, k = float(totals[i]), int(c[i])
        if k and tot:
            where = np.flatnonzero(ink[i])
            pix = []
            for v in u[i, :k].tolist():
                q = math.floor(before + v * tot) - before
                pix.append(int(where[int(q)]) if q < tot else SIZE * SIZE - 1)
            cy, cx = np.divmod(np.array(pix, np.float32), np.float32(SIZE))
            dy2 = (_ROW - cy[:, None]) ** 2
            dx2 = (_ROW - cx[:, None]) ** 2
            d2 = (dy2[:, :, None] + dx2[:, None, :]).min(axis=0)
            keep = np.sqrt(d2)
            keep -= rad32[i]
            keep += 0.5
            keep.clip(0.0, 1.0, out=keep)
            out[i] = x[i] * keep
        before += tot
    return out


def blur(ink: object, rng: object = None, *, sigma: object = 0.5) -> np.ndarray:
    """Gaussian blur (separable, truncated at 3 sigma, background beyond the edges).

    Parameters
    ----------
    ink : array_like, shape (n, H, W)
        Digits or sequences (any height and width).
    rng : ignored
        Accepted so every transform has the signature ``f(ink, rng, **params)``.
    sigma : float or ndarray (n,)
        Pixels, 0..5 (0 = unchanged). Sensible 0.3-1.0; MNIST itself is already
        anti-aliased, beyond ~1.2 thin strokes fade.

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
    """
    x = check_batch(ink, height=None)
    s = per_sample(sigma, x.shape[0], "sigma")
    lo, hi = span(s)
    if lo < 0 or hi > 5:
        raise ValueError("sigma must be within [0, 5]")
    return finish(gaussian_blur(x, s))


def noise(ink: object, rng: object = None, *, std: object = 0.05) -> np.ndarray:
    """Additive Gaussian pixel noise, clipped to [0, 1].

    Parameters
    ----------
    ink : array_like, shape (n, H, W)
        Digits or sequences (any height and width).
    rng : None, int, SeedSequence or Generator
    std : float or ndarray (n,)
        Standard deviation in ink units, 0..1. Sensible 0.02-0.15. Clipping
        means the background (0) only ever gets brighter specks of ink.

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
    """
    x = check_batch(ink, height=None)
    gen = as_generator(rng)
    s = per_sample(std, x.shape[0], "std")
    lo, hi = span(s)
    if lo < 0 or hi > 1:
        raise ValueError("std must be within [0, 1]")
    z = gen.standard_normal(x.shape, dtype=np.float32)
    return _add_noise(x, z, s)


def _add_noise(x: np.ndarray, z: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x + std * z`` clipped, from pre-drawn standard normal ``z`` (x's shape, float32)."""
    out = z * np.asarray(std, dtype=np.float64).astype(np.float32)[:, None, None]
    out += x
    return finish(out)


def renormalize_mnist(ink: object, box: int = 20, threshold: float = 0.05) -> np.ndarray:
    """Re-apply MNIST framing: fit the ink into a ``box`` x ``box`` square, centre of mass at the centre.

    MNIST digits were scaled (aspect kept) to fit a 20 x 20 box, then placed
    in 28 x 28 with their centre of mass at the centre. After affine scale or
    translation, elastic distortion or thickening this no longer holds; call
    this when a consumer assumes MNIST framing (a classifier trained on MNIST,
    the tile layout). It undoes translation and overall size, but keeps
    rotation, slant, aspect, elastic shape changes and stroke width.

    One bilinear resampling per digit (scale and shift fused). Digits with no
    pixel above ``threshold`` are returned unchanged.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    box : int
        Side of the box the ink bounding box is fitted into (MNIST: 20).
    threshold : float
        Pixels above this count for the bounding box.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    return _renormalize(check_batch(ink), box, threshold)


def _renormalize(
    x: np.ndarray, box: int = 20, threshold: float = 0.05, groups: np.ndarray | None = None
) -> np.ndarray:
    """:func:`renormalize_mnist` on a checked batch; ``groups`` (n,) labels separate calls.

    The centre of mass goes through a BLAS matrix-vector product, whose
    rounding may depend on the matrix height; with ``groups`` (contiguous, in
    order) each call's digits get a product of their own call's height.
    """
    n = x.shape[0]
    m = x > threshold
    rows, cols = m.any(axis=2), m.any(axis=1)
    has = rows.any(axis=1)
    idx = np.arange(SIZE)
    y0 = rows.argmax(axis=1)
    y1 = SIZE - 1 - rows[:, ::-1].argmax(axis=1)
    x0 = cols.argmax(axis=1)
    x1 = SIZE - 1 - cols[:, ::-1].argmax(axis=1)
    extent = np.maximum(y1 - y0 + 1, x1 - x0 + 1)
    mass = x.sum(axis=(1, 2)).astype(np.float64)
    wy = _weighted_rows(x.sum(axis=2), idx, groups)
    wx = _weighted_rows(x.sum(axis=1), idx, groups)
    inv = None
    if n <= SMALL_MAPS:
        with contextlib.suppress(ZeroDivisionError):  # box = 0: NumPy's inf below
            inv = _framing_rows(has, extent, mass, wy, wx, box)
    if inv is None:
        s = np.where(has, box / extent.astype(np.float64), 1.0)
        safe = np.where(mass > 0, mass, 1.0)
        com_y, com_x = wy / safe, wx / safe
        # out(q) = in(com + (q - c) / s): scale about the centre of mass, COM to the centre
        inv = np.zeros((n, 2, 3))
        inv[:, 0, 0] = inv[:, 1, 1] = 1.0 / s
        inv[:, 0, 2] = com_y - CENTRE / s
        inv[:, 1, 2] = com_x - CENTRE / s
        inv[~has] = [[1, 0, 0], [0, 1, 0]]
    return finish(warp(x, inv, None))


def _framing_rows(
    has: np.ndarray,
    extent: np.ndarray,
    mass: np.ndarray,
    wy: np.ndarray,
    wx: np.ndarray,
    box: float,
) -> np.ndarray:
    """:func:`_renormalize`'s maps digit by digit on Python floats (the array code's operations)."""
    rows: list[float] = []
    for h, e, ms, cy, cx in zip(
        has.tolist(), extent.tolist(), mass.tolist(), wy.tolist(), wx.tolist(), strict=True
    ):
        if not h:
            rows += (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
            continue
        s = box / float(e)
        safe = ms if ms > 0 else 1.0
        rows += (1.0 / s, 0.0, cy / safe - CENTRE / s, 0.0, 1.0 / s, cx / safe - CENTRE / s)
    return np.array(rows, np.float64).reshape(-1, 2, 3)


def _weighted_rows(m: np.ndarray, w: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """``m @ w`` (float64), one BLAS product per group of rows, each of that group's height.

    Groups of equal height are stacked and multiplied as ``(G, k, 28) @ w``,
    which NumPy runs as G products of ``(k, 28)``: the same call, shape and
    operands as a lone call on each group.
    """
    if groups is None:
        return m @ w
    n = m.shape[0]
    out = np.empty(n)
    first = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
    size = np.diff(np.r_[first, n])
    height = np.repeat(size, size)
    for k in np.unique(size):
        sel = np.flatnonzero(height == k)
        out[sel] = (m[sel].reshape(-1, int(k), m.shape[1]) @ w).reshape(-1)
    return out
