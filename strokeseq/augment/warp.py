"""Geometric resampling of digit batches: elastic fields, affine maps, one bilinear warp.

:func:`warp` computes ``out(q) = in(A^-1 q + d(q))`` for a batch of 28 x 28
digits in one bilinear resampling, block by block (optionally on a small
thread pool), from an inverse affine map (:func:`affine_inverse`, or the
MNIST framing maps of :func:`framing_maps`) and/or elastic displacement
:class:`Fields` made from pre-drawn noise. Nothing here draws random
numbers: callers draw, this module only computes.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ..sources.base import TILE
from ._core import all_finite, kernel_bank, per_sample, span
from .resample import bilinear

__all__ = [
    "BLOCK",
    "CENTRE",
    "POOL_MIN",
    "SIZE",
    "SMALL_MAPS",
    "Fields",
    "affine_inverse",
    "framing_maps",
    "warp",
]

SIZE = TILE  # digits are MNIST tiles
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
        # the distinct matrices G, their G 1 G^T, and each digit's index into them
        self.bank, self.ones, self.inverse = kernel_bank(sigma, groups, SIZE, with_ones=True)
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
        on = (slot >= 0).nonzero()[0]
        if on.size == 0:
            return None
        if on.size == e - s:
            return self._smooth(slot)
        f = np.zeros((e - s, 2, SIZE, SIZE), np.float32)
        f[on] = self._smooth(slot[on])
        return f


def affine_inverse(
    n: int,
    rotation: object,
    shear: object,
    scale: object,
    aspect: object,
    translate: object,
) -> np.ndarray:
    """Per-sample inverse maps ``(n, 2, 3)`` from output (y, x) to source (y, x)."""
    if 0 < n <= SMALL_MAPS:
        maps = _small_inverse(n, rotation, shear, scale, aspect, translate)
        if maps is not None:
            return maps
    rot = np.deg2rad(per_sample(rotation, n, "rotation"))
    sh = per_sample(shear, n, "shear")
    lo, hi = span(sh)
    if lo <= -80 or hi >= 80:
        raise ValueError("shear must be within (-80, 80) degrees")
    sh = np.tan(np.deg2rad(sh))
    sc = per_sample(scale, n, "scale")
    asp = per_sample(aspect, n, "aspect")
    if span(sc)[0] <= 0 or span(asp)[0] <= 0:
        raise ValueError("scale and aspect must be > 0")
    t = np.asarray(translate, dtype=np.float64)
    if t.shape not in ((n, 2), (2,)) or not all_finite(t):
        raise ValueError(f"translate must be finite (tx, ty) or shape ({n}, 2), got {t.shape}")
    root = np.sqrt(asp)
    cos, sin = np.cos(rot), np.sin(rot)
    if n <= SMALL_MAPS:
        shifts = [t.tolist()] * n if t.shape == (2,) else t.tolist()
        try:  # the same float64 operations, one digit at a time: no array overheads
            return _inverse_rows(cos, sin, sh, sc, root, shifts)
        except ZeroDivisionError:  # a degenerate map (det underflows): NumPy's inf/nan
            pass
    if t.shape == (2,):
        t = np.broadcast_to(t, (n, 2))
    sx, sy = sc * root, sc / root
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


# Up to this many digits the inverse maps are computed with Python floats, one
# digit at a time (the same IEEE double operations in the same order as the
# array code below, so the same bits); above, with ~30 array operations.
SMALL_MAPS = 16


def _floats(value: object, n: int) -> list[float] | None:
    """``value`` as n finite Python floats when it is a plain float/int or a float64 ``(n,)`` array.

    None for anything else (other dtypes, shapes, bools, non-finite values):
    the array code then checks it and raises what :func:`per_sample` raises.
    """
    if type(value) is float or type(value) is int:
        v = float(value)
        return [v] * n if math.isfinite(v) else None
    if type(value) is np.ndarray and value.dtype == np.float64 and value.shape == (n,):
        vals = value.tolist()
        return vals if all(map(math.isfinite, vals)) else None
    return None


def _small_inverse(
    n: int, rotation: object, shear: object, scale: object, aspect: object, translate: object
) -> np.ndarray | None:
    """:func:`affine_inverse` of a few digits with plain parameters, on Python floats.

    The same IEEE double operations as the array code: ``math.radians`` is
    NumPy's ``deg2rad`` (one product by the double ``pi / 180``), ``math.sqrt``
    is correctly rounded like ``np.sqrt``; cos, sin and tan stay NumPy's (libm
    may round them differently). None when a parameter is not plain or not
    valid: the array code then checks it (and raises).
    """
    rot, sh, sc, asp = (_floats(v, n) for v in (rotation, shear, scale, aspect))
    if rot is None or sh is None or sc is None or asp is None:
        return None
    if type(translate) is tuple and len(translate) == 2:
        if type(translate[0]) not in (float, int) or type(translate[1]) not in (float, int):
            return None
        shifts = [[float(translate[0]), float(translate[1])]] * n
    elif type(translate) is np.ndarray and translate.dtype == np.float64:
        if translate.shape == (n, 2):
            shifts = translate.tolist()
        elif translate.shape == (2,):
            shifts = [translate.tolist()] * n
        else:
            return None
    else:
        return None
    if not all(math.isfinite(v) for t in shifts for v in t):
        return None
    if min(sh) <= -80 or max(sh) >= 80 or min(sc) <= 0 or min(asp) <= 0:
        return None
    rad = np.array([math.radians(v) for v in rot])
    tan = np.tan(np.array([math.radians(v) for v in sh]))
    root = [math.sqrt(v) for v in asp]
    try:
        return _inverse_rows(np.cos(rad), np.sin(rad), tan, sc, root, shifts)
    except ZeroDivisionError:  # a degenerate map: the array code gives NumPy's inf/nan
        return None


def _inverse_rows(
    cos: np.ndarray,
    sin: np.ndarray,
    sh: np.ndarray,
    sc: np.ndarray | list[float],
    root: np.ndarray | list[float],
    shifts: list[list[float]],
) -> np.ndarray:
    """:func:`affine_inverse`'s arithmetic per digit on Python floats (exactly the array code's)."""
    c0 = CENTRE
    rows: list[float] = []
    sc = sc.tolist() if isinstance(sc, np.ndarray) else sc
    root = root.tolist() if isinstance(root, np.ndarray) else root
    for c, s, h, k, q, (tx, ty) in zip(
        cos.tolist(),
        sin.tolist(),
        sh.tolist(),
        sc,
        root,
        shifts,
        strict=True,
    ):
        sx, sy = k * q, k / q
        m00 = c * sx
        m01 = (-c * h + s) * sy
        m10 = -s * sx
        m11 = (s * h + c) * sy
        det = m00 * m11 - m01 * m10
        i00, i01, i10, i11 = m11 / det, -m01 / det, -m10 / det, m00 / det
        rows += (
            i11,
            i10,
            c0 - i10 * (c0 + tx) - i11 * (c0 + ty),
            i01,
            i00,
            c0 - i00 * (c0 + tx) - i01 * (c0 + ty),
        )
    return np.array(rows, np.float64).reshape(-1, 2, 3)


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
        if n <= BLOCK:  # one block: its result is the output
            return _warp_block(None, ink, inv, fields, 0, n)
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
    out: np.ndarray | None,
    ink: np.ndarray,
    inv: np.ndarray | None,
    fields: Fields | None,
    s: int,
    e: int,
) -> np.ndarray:
    """Resample digits ``s:e`` into ``out[s:e]`` (returned), or into a new array if ``out`` is None."""
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
    if out is None:
        return bilinear(ink[s:e], yx)
    out[s:e] = bilinear(ink[s:e], yx)
    return out[s:e]


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


def framing_maps(
    x: np.ndarray, box: float = 20, threshold: float = 0.05, groups: np.ndarray | None = None
) -> np.ndarray:
    """Inverse maps ``(n, 2, 3)`` of MNIST framing (:func:`strokeseq.augment.renormalize_mnist`).

    Each digit's ink box (pixels above ``threshold``) is scaled to fit ``box``
    about its centre of mass, which goes to the grid centre; digits without ink
    get the identity. ``groups`` (n,) labels digits from separate calls.

    The centre of mass goes through a BLAS matrix-vector product, whose
    rounding may depend on the matrix height; with ``groups`` (contiguous, in
    order) each call's digits get a product of their own call's height.
    """
    n = x.shape[0]
    m = x > threshold
    rows, cols = m.any(axis=2), m.any(axis=1)
    mass = x.sum(axis=(1, 2))  # float32; exact in float64 (Python floats too)
    wy = _weighted_rows(x.sum(axis=2), _INDEX, groups)
    wx = _weighted_rows(x.sum(axis=1), _INDEX, groups)
    if n <= SMALL_MAPS:
        try:
            return _framing_rows(rows.tolist(), cols.tolist(), mass, wy, wx, box)
        except ZeroDivisionError:  # box = 0: NumPy's inf below
            pass
    mass = mass.astype(np.float64)
    has = rows.any(axis=1)
    y0 = rows.argmax(axis=1)
    y1 = SIZE - 1 - rows[:, ::-1].argmax(axis=1)
    x0 = cols.argmax(axis=1)
    x1 = SIZE - 1 - cols[:, ::-1].argmax(axis=1)
    extent = np.maximum(y1 - y0 + 1, x1 - x0 + 1).astype(np.float64)
    s = np.where(has, box / extent, 1.0)
    safe = np.where(mass > 0, mass, 1.0)
    com_y, com_x = wy / safe, wx / safe
    # out(q) = in(com + (q - c) / s): scale about the centre of mass, COM to the centre
    inv = np.zeros((n, 2, 3))
    inv[:, 0, 0] = inv[:, 1, 1] = 1.0 / s
    inv[:, 0, 2] = com_y - CENTRE / s
    inv[:, 1, 2] = com_x - CENTRE / s
    inv[~has] = [[1, 0, 0], [0, 1, 0]]
    return inv


# Row / column indices for the centres of mass, in float64: the product of a float32
# sum with them is float64 either way, and the index needs no conversion per call.
_INDEX = np.arange(SIZE, dtype=np.float64)
_INDEX.flags.writeable = False


def _framing_rows(
    rows: list[list[bool]],
    cols: list[list[bool]],
    mass: np.ndarray,
    wy: np.ndarray,
    wx: np.ndarray,
    box: float,
) -> np.ndarray:
    """:func:`framing_maps` digit by digit on Python floats (the array code's operations).

    ``rows`` / ``cols``: per digit, which rows / columns hold ink.
    """
    out: list[float] = []
    for r, c, ms, cy, cx in zip(rows, cols, mass.tolist(), wy.tolist(), wx.tolist(), strict=True):
        if True not in r:  # no ink: the identity
            out += (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)
            continue
        height = SIZE - r[::-1].index(True) - r.index(True)
        width = SIZE - c[::-1].index(True) - c.index(True)
        s = box / float(max(height, width))
        safe = ms if ms > 0 else 1.0
        out += (1.0 / s, 0.0, cy / safe - CENTRE / s, 0.0, 1.0 / s, cx / safe - CENTRE / s)
    return np.array(out, np.float64).reshape(-1, 2, 3)


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
