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

import functools
import math
import os

import numpy as np

from ..rng import as_generator
from ._core import (
    CHUNK,
    bilinear,
    check_batch,
    finish,
    gaussian_blur,
    kernel_bank,
    per_sample,
)

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

SIZE = 28
CENTRE = (SIZE - 1) / 2.0  # 13.5: rotation, shear and scale are about the grid centre
_GRID_Y, _GRID_X = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
# the same grid, (y, x) stacked, in the coordinates of the image padded by one pixel
_GRID_YX1 = np.stack([_GRID_Y + 1, _GRID_X + 1])[:, None]  # (2, 1, 28, 28)
# Resampling works on blocks of this many digits: their fields, coordinates and
# gathers (~2 MB) stay in cache; 2048-digit blocks ran 1.5-2x slower per digit
# on the shared 2-core machine. Independent of CHUNK, which defines the draws.
BLOCK = 256
# A warp of at least this many digits spreads its blocks over the thread pool;
# below it the pool's hand-offs cost more than they save.
POOL_MIN = 1024


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
    if np.any(alpha_a < 0):
        raise ValueError(f"alpha must be >= 0, got min {alpha_a.min()}")
    if np.any(sigma_a <= 0):
        raise ValueError(f"sigma must be > 0, got min {sigma_a.min()}")
    return alpha_a, sigma_a


class Fields:
    """Elastic displacement fields from pre-drawn uniform [0, 1) noise, made block by block.

    ``u`` (m, 2, 28, 28) is the noise of ``m`` elastic digits, ``alpha`` and
    ``sigma`` checked float64 ``(m,)``. Without ``groups`` the noise is one
    chunk of one call (what :func:`elastic_field` draws at a time); with
    ``groups`` (m,) it comes from several chunks or calls, each labelled, and
    every field is exactly the one its own chunk would give (see
    :func:`strokeseq.augment._core.kernel_bank`). ``where`` (m,) places the
    elastic digits among the ``n`` digits of a warp (the others get no
    displacement); None: all ``n == m`` digits are elastic.

    :meth:`block` makes the fields of warp digits ``s:e`` only, so a warp
    works on a block while it is in cache (no field is stored for the batch).
    """

    def __init__(
        self,
        u: np.ndarray,
        alpha: np.ndarray,
        sigma: np.ndarray,
        groups: np.ndarray | None = None,
        where: np.ndarray | None = None,
        n: int | None = None,
    ) -> None:
        self.u, self.alpha = u, alpha.astype(np.float32)
        self.bank, self.inverse = kernel_bank(sigma, groups, SIZE)
        r = self.bank.sum(axis=2)  # row sums of G: G 1 G^T is their outer product
        self.ones = r[:, :, None] * r[:, None, :]
        self.where = where
        if where is not None:
            self.slot = np.full(n, -1, np.intp)  # warp digit -> elastic digit
            self.slot[where] = np.arange(where.size)

    def _smooth(self, idx: slice | np.ndarray) -> np.ndarray:
        """``alpha * G (2u - 1) G^T`` for the elastic digits ``idx``."""
        u = self.u[idx]
        inverse = self.inverse[idx]
        if self.bank.shape[0] == 1:  # one kernel for the chunk: one broadcast product
            g = self.bank[0]
            f = g @ u @ g.T
        else:
            g = self.bank[inverse][:, None]
            f = g @ u @ g.transpose(0, 1, 3, 2)
        # alpha * G(2u - 1)G^T = 2 alpha * G u G^T - alpha * G 1 G^T: the constant
        # part is the smoothed all-ones field (small near the edges, where the zero
        # padding bites), which saves two passes over the noise.
        a = self.alpha[idx][:, None, None, None]
        f *= 2 * a
        f -= a * self.ones[inverse][:, None]
        return f

    def block(self, s: int, e: int) -> np.ndarray | None:
        """Fields of warp digits ``s:e`` (zeros for non-elastic ones), or None if none is elastic."""
        if self.where is None:
            return self._smooth(slice(s, e))
        slot = self.slot[s:e]
        on = np.flatnonzero(slot >= 0)
        if on.size == 0:
            return None
        if on.size == e - s:
            return self._smooth(slot)
        f = np.zeros((e - s, 2, SIZE, SIZE), np.float32)
        f[on] = self._smooth(slot[on])
        return f


def _affine_inverse(
    n: int,
    rotation: object,
    shear: object,
    scale: object,
    aspect: object,
    translate: object,
) -> np.ndarray:
    """Per-sample inverse maps ``(n, 2, 3)`` from output (y, x) to source (y, x)."""
    rot = np.deg2rad(per_sample(rotation, n, "rotation"))
    sh = per_sample(shear, n, "shear")
    if np.any(np.abs(sh) >= 80):
        raise ValueError("shear must be within (-80, 80) degrees")
    sh = np.tan(np.deg2rad(sh))
    sc = per_sample(scale, n, "scale")
    asp = per_sample(aspect, n, "aspect")
    if np.any(sc <= 0) or np.any(asp <= 0):
        raise ValueError("scale and aspect must be > 0")
    t = np.asarray(translate, dtype=np.float64)
    if t.shape == (2,):
        t = np.broadcast_to(t, (n, 2))
    if t.shape != (n, 2) or not np.all(np.isfinite(t)):
        raise ValueError(f"translate must be finite (tx, ty) or shape ({n}, 2), got {t.shape}")
    sx, sy = sc * np.sqrt(asp), sc / np.sqrt(asp)
    cos, sin = np.cos(rot), np.sin(rot)
    # Forward map on centred (x, y) with y pointing down, applied right to left:
    # scale, then shear (x -= tan(shear) * y: the top moves right, a "/" slant
    # for shear > 0), then rotation (counter-clockwise as displayed for > 0).
    # R = [[cos, sin], [-sin, cos]], H = [[1, -sh], [0, 1]], S = diag(sx, sy).
    m00 = cos * sx
    m01 = (-cos * sh + sin) * sy
    m10 = -sin * sx
    m11 = (sin * sh + cos) * sy
    det = m00 * m11 - m01 * m10
    i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
    inv = np.empty((n, 2, 3))
    # source (x, y) = c + Minv @ (out - c - t); stored as rows for (y, x).
    tx, ty = t[:, 0], t[:, 1]
    inv[:, 1, 0], inv[:, 1, 1] = i01, i00  # x_src from (y, x)
    inv[:, 0, 0], inv[:, 0, 1] = i11, i10  # y_src from (y, x)
    inv[:, 1, 2] = CENTRE - i00 * (CENTRE + tx) - i01 * (CENTRE + ty)
    inv[:, 0, 2] = CENTRE - i10 * (CENTRE + tx) - i11 * (CENTRE + ty)
    return inv


def warp(
    ink: np.ndarray,
    inv: np.ndarray | None,
    fields: Fields | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """One bilinear resampling: ``out(q) = in(A^-1 q + d(q))`` (affine, then field).

    ``inv`` is from :func:`_affine_inverse` (None = identity); the displacement
    ``d`` comes from ``fields`` (None: none). Works in blocks of :data:`BLOCK`
    digits (fields, coordinates and gathers of a block stay in cache); large
    batches spread the blocks over a small thread pool. Nothing here is
    random, and every digit's result is its own: the output does not depend
    on the blocks or the threads. Written into ``out`` when given.
    """
    n = ink.shape[0]
    if out is None:
        out = np.empty_like(ink)
    pool = _threads() if n >= POOL_MIN else None
    jobs = []
    for s in range(0, n, BLOCK):
        e = min(n, s + BLOCK)
        if pool is None:
            _warp_block(out, ink, inv, fields, s, e)
        else:
            jobs.append(pool.submit(_warp_block, out, ink, inv, fields, s, e))
    for job in jobs:
        job.result()
    return out


def _warp_block(
    out: np.ndarray, ink: np.ndarray, inv: np.ndarray | None, fields: Fields | None, s: int, e: int
) -> None:
    f = fields.block(s, e) if fields is not None else None
    # source (y, x) of every output pixel, in the coordinates of the padded image
    if inv is None:
        if f is None:
            yx = np.broadcast_to(_GRID_YX1, (2, e - s, SIZE, SIZE)).copy()
        else:
            yx = f.transpose(1, 0, 2, 3) + _GRID_YX1
    else:
        a = inv[s:e].astype(np.float32).transpose(1, 2, 0)[:, :, :, None, None]  # (2, 3, m, 1, 1)
        yx = a[:, 0] * _GRID_Y + a[:, 1] * _GRID_X
        yx += a[:, 2] + 1.0
        if f is not None:
            yx += f.transpose(1, 0, 2, 3)
    out[s:e] = bilinear(ink[s:e], yx)


_POOL = None


def _forget_pool() -> None:
    # Threads do not survive fork: a child must build its own pool, or work
    # submitted to the inherited one would wait forever.
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _threads():
    """A small process-wide thread pool for resampling large batches (None: single-threaded).

    ``STROKESEQ_THREADS`` sets its size (default: the CPUs, at most 4; 1
    turns it off, e.g. inside worker processes that already fill the CPUs).
    """
    global _POOL
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        size = int(os.environ.get("STROKESEQ_THREADS", min(4, os.cpu_count() or 1)))
        _POOL = ThreadPoolExecutor(max_workers=size) if size > 1 else False
    return _POOL or None


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
    inv = _affine_inverse(x.shape[0], rotation, shear, scale, aspect, translate)
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
    if np.any(np.abs(r) > 3):
        raise ValueError(f"radius must be within [-3, 3], got {r[np.argmax(np.abs(r))]}")
    out = x.copy()
    for sign, op in ((1.0, np.maximum), (-1.0, np.minimum)):
        sel = np.flatnonzero(sign * r > 0)
        if sel.size == 0:
            continue
        mag = np.abs(r[sel])
        kmax = math.ceil(mag.max())
        base = np.floor(mag)
        frac = (mag - base).astype(np.float32)
        src = x[sel]
        pad = np.zeros((src.shape[0], SIZE + 2 * kmax, SIZE + 2 * kmax), np.float32)
        pad[:, kmax : kmax + SIZE, kmax : kmax + SIZE] = src
        cur = src.copy()
        acc = np.zeros_like(src)
        rings = _ring_offsets(kmax)
        used = set(base.tolist()) | set((base + 1).tolist())  # the disks with a weight
        for k in range(kmax + 1):
            if k > 0:
                for dy, dx in rings[k]:
                    op(
                        cur,
                        pad[:, kmax + dy : kmax + dy + SIZE, kmax + dx : kmax + dx + SIZE],
                        out=cur,
                    )
            if k not in used:  # weight 0 for every digit: adds nothing
                continue
            # weight of D_k: (1 - f) where k == floor(r), f where k == floor(r) + 1
            w = np.where(base == k, 1.0 - frac, 0.0) + np.where(base + 1 == k, frac, 0.0)
            acc += w.astype(np.float32)[:, None, None] * cur
        out[sel] = acc
    return finish(out)


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
    if np.any(c < 0) or np.any(c > 10) or np.any(c != np.round(c)):
        raise ValueError("cuts must be whole numbers within [0, 10]")
    c = c.astype(np.int64)
    rad = per_sample(radius, n, "radius")
    if np.any(rad < 0.5) or np.any(rad > 5):
        raise ValueError("radius must be within [0.5, 5]")
    cmax = int(c.max()) if n else 0
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
    if np.any(s < 0) or np.any(s > 5):
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
    if np.any(s < 0) or np.any(s > 1):
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
    y0 = np.argmax(rows, axis=1)
    y1 = SIZE - 1 - np.argmax(rows[:, ::-1], axis=1)
    x0 = np.argmax(cols, axis=1)
    x1 = SIZE - 1 - np.argmax(cols[:, ::-1], axis=1)
    extent = np.maximum(y1 - y0 + 1, x1 - x0 + 1).astype(np.float64)
    s = np.where(has, box / extent, 1.0)
    mass = x.sum(axis=(1, 2)).astype(np.float64)
    safe = np.where(mass > 0, mass, 1.0)
    com_y = _weighted_rows(x.sum(axis=2), idx, groups) / safe
    com_x = _weighted_rows(x.sum(axis=1), idx, groups) / safe
    # out(q) = in(com + (q - c) / s): scale about the centre of mass, COM to the centre
    inv = np.zeros((n, 2, 3))
    inv[:, 0, 0] = inv[:, 1, 1] = 1.0 / s
    inv[:, 0, 2] = com_y - CENTRE / s
    inv[:, 1, 2] = com_x - CENTRE / s
    inv[~has] = [[1, 0, 0], [0, 1, 0]]
    return finish(warp(x, inv, None))


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
