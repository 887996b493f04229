"""Ink morphology of digit batches: strokes grown or shrunk by digital disks, gaps cut.

:func:`disk_blend` is the grey dilation / erosion of
:func:`strokeseq.augment.stroke_width` (fractional radii blend two disks);
:func:`cut_gaps` the soft round gaps of :func:`strokeseq.augment.broken_strokes`
from pre-drawn uniforms. Nothing here draws random numbers. Small calls take
shorter routes (Python floats, digit by digit) that give the same bits.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._core import clip01, finish
from .warp import _GRID_X, _GRID_Y, SIZE

__all__ = ["SMALL_DISKS", "SMALL_GAPS", "cut_gaps", "disk_blend"]


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


_ONE = np.float32(1.0)  # the weight of every digit's disk for a whole radius
# Up to this many digits the disks run on the flat padded batch (_disk_blend_flat).
SMALL_DISKS = 16


def _disk_weights(mag: np.ndarray) -> tuple[int, dict[int, np.ndarray | np.float32]]:
    """The widest disk and the blend weight of every disk k that weighs for some digit.

    ``(1 - f)`` for ``k == floor(r)``, ``f`` for ``k == floor(r) + 1``, else 0,
    in float32 (``f = float32(r - floor(r))``). A weight is one float32 when
    every digit has the same (always for one digit), else shape (m, 1, 1).
    """
    if mag.size <= 16:  # Python floats and NumPy float32 scalars: the same operations
        return _small_disk_weights(tuple(mag.tolist()))
    kmax = math.ceil(mag.max())
    base = np.floor(mag)
    frac = (mag - base).astype(np.float32)
    used = set(base.tolist()) | set((base + 1).tolist())  # the disks with a weight
    ks = np.arange(kmax + 1, dtype=np.float64)[:, None]
    w = np.where(base == ks, 1.0 - frac, 0.0) + np.where(base + 1 == ks, frac, 0.0)
    return kmax, {int(k): w[int(k)][:, None, None] for k in sorted(used) if k <= kmax}


@functools.lru_cache(maxsize=1024)
def _small_disk_weights(mags: tuple[float, ...]) -> tuple[int, dict[int, np.ndarray | np.float32]]:
    """:func:`_disk_weights` of a small call (cached: the same radii cost a lookup).

    The arrays are read-only; callers never modify the returned dict.
    """
    zero, one = np.float32(0.0), np.float32(1.0)
    if len(mags) == 1:  # the loop below for one digit: disks floor(r) and floor(r) + 1
        base = math.floor(mags[0])
        frac = np.float32(mags[0] - base)
        low, high = (one - frac) + zero, zero + frac
        return math.ceil(mags[0]), {
            base: _ONE if low == one else low,
            base + 1: _ONE if high == one else high,
        }
    kmax = math.ceil(max(mags))
    base = [math.floor(v) for v in mags]
    frac = [np.float32(v - b) for v, b in zip(mags, base, strict=True)]
    wts: dict[int, np.ndarray | np.float32] = {}
    for k in sorted(set(base) | {b + 1 for b in base}):
        w = [
            (one - f if b == k else zero) + (f if b + 1 == k else zero)
            for b, f in zip(base, frac, strict=True)
        ]
        same = all(v == w[0] for v in w)  # weights are >= 0: no signed zeros to tell apart
        if same:
            wts[k] = _ONE if w[0] == one else w[0]
        else:
            wts[k] = np.array(w, np.float32)[:, None, None]
            wts[k].flags.writeable = False
    return kmax, wts


def disk_blend(src: np.ndarray, mag: np.ndarray, op: np.ufunc) -> np.ndarray:
    """``(1 - f) D_k + f D_{k+1}`` per digit, ``D_k`` the ``op`` (max/min) over the disk k.

    ``mag`` (m,) > 0 are the digits' radii ``k + f``. ``src`` is not modified.
    The float32 sums are ``(0 + w_0 D_0) + w_1 D_1 + ...`` over the disks
    that have a weight for some digit, in order of k.
    """
    kmax, wts = _disk_weights(mag)
    if src.shape[0] <= SMALL_DISKS:
        return _disk_blend_flat(src, kmax, wts, op)
    pad = np.zeros((src.shape[0], SIZE + 2 * kmax, SIZE + 2 * kmax), np.float32)
    pad[:, kmax : kmax + SIZE, kmax : kmax + SIZE] = src
    acc = np.zeros(src.shape, np.float32)
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
            w = wts[k]
            if w is _ONE:  # a whole radius: 1 * cur is cur (a scalar operand costs ~2 us)
                acc += cur
            else:
                acc += w * cur
    return acc


def _disk_blend_flat(
    src: np.ndarray, kmax: int, wts: dict[int, np.ndarray | np.float32], op: np.ufunc
) -> np.ndarray:
    """:func:`disk_blend` of a few digits on the flat padded batch: contiguous operands only.

    A shifted window of a 2-D image is a strided view (~3x the cost of a
    contiguous operand in NumPy for a small image); in the flat padded batch
    the shift by (dy, dx) is a contiguous slice ``dy * side + dx`` further on.
    Every pixel gets the same operations on the same neighbours as in
    :func:`disk_blend`; the padding positions are computed too and dropped.
    """
    m = src.shape[0]
    side = SIZE + 2 * kmax
    pad = np.zeros((m, side, side), np.float32)
    pad[:, kmax : kmax + SIZE, kmax : kmax + SIZE] = src
    flat = pad.reshape(-1)
    first = kmax * side + kmax  # the first pixel of the first digit
    size = (m - 1) * side * side + (SIZE - 1) * side + SIZE  # up to the last pixel of the last
    # the digits' pixels of a flat run like cur: (m, 28, 28) strided by the padded layout
    strides = (side * side * 4, side * 4, 4)
    acc = None  # 0 + w_0 D_0 + w_1 D_1 + ..., on the digits' pixels only
    cur = flat[first : first + size]  # D_0, a view; a new array from the first ring on
    fresh = False
    for k in range(kmax + 1):
        if k > 0:
            for dy, dx in _ring_offsets(kmax)[k]:
                at = first + dy * side + dx
                if fresh:
                    op(cur, flat[at : at + size], out=cur)
                else:
                    cur, fresh = op(cur, flat[at : at + size]), True
        if k in wts:
            w = wts[k]
            if w is _ONE:
                term = cur
            elif np.ndim(w) == 0:
                term = w * cur
            else:  # one weight per digit: spread over each digit's padded block
                term = np.repeat(w.reshape(-1), side * side)[first : first + size] * cur
            digits = np.ndarray((m, SIZE, SIZE), np.float32, term, 0, strides)
            if acc is None:  # 0 + w_0 D_0 (a -0.0 becomes +0.0, as in a sum from 0)
                acc = np.add(_zeros(m), digits)
            else:
                acc += digits
    return acc


@functools.lru_cache(maxsize=SMALL_DISKS)
def _zeros(m: int) -> np.ndarray:
    """Read-only +0.0 digits ``(m, 28, 28)``: the start of a sum (same-shape operands are cheapest)."""
    z = np.zeros((m, SIZE, SIZE), np.float32)
    z.flags.writeable = False
    return z


def cut_gaps(
    x: np.ndarray,
    u: np.ndarray,
    c: np.ndarray,
    rad: np.ndarray,
    threshold: float = 0.5,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """The gaps of :func:`~strokeseq.augment.broken_strokes` from pre-drawn uniforms ``u`` (n, >= max(c)).

    ``c`` (int, n) and ``rad`` (float64, n) are checked. ``groups`` (n,)
    labels digits that came from separate calls (contiguous, in order): each
    digit's cut positions are then those of its own call.
    """
    n = x.shape[0]
    c = np.asarray(c, dtype=np.int64)  # no copy when the caller's cuts are int64 already
    if n <= SMALL_GAPS:
        if max(c.tolist(), default=0) == 0:
            return finish(x.copy())
        return finish(_cut_gaps_each(x, u, c.tolist(), rad, threshold, groups))
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


# Up to this many digits the gaps are cut digit by digit (about ten NumPy calls
# each instead of forty for the batch); the same values, see _cut_gaps_each.
SMALL_GAPS = 4
# _DISTANCE[SIZE - 1 + dy, SIZE - 1 + dx] = sqrt(dy ** 2 + dx ** 2) in float32, as the batch
# computes it (whole squares, exact; one correctly rounded sqrt). The distance field of
# the pixel (r, c) is the 28 x 28 window at (SIZE - 1 - r, SIZE - 1 - c).
_STEPS = np.arange(-(SIZE - 1), SIZE, dtype=np.float32) ** 2
_DISTANCE = np.sqrt(_STEPS[:, None] + _STEPS[None, :])
_DISTANCE.flags.writeable = False


def _cut_gaps_each(
    x: np.ndarray,
    u: np.ndarray,
    c: list[int],
    rad: np.ndarray,
    threshold: float,
    groups: np.ndarray | None,
) -> np.ndarray:
    """:func:`cut_gaps` one digit at a time, with the batch code's values bit for bit.

    The gap centre of cut k is the ``q``-th ink pixel (row-major) of its digit,
    ``q = floor(before + u * tot) - before`` in float64 (``before``: the ink
    of the earlier digits of its call, ``tot``: its own), or the last pixel if
    rounding gives ``q = tot``. The distance to the nearest centre is the
    minimum of windows of :data:`_DISTANCE`: sqrt is correctly rounded, hence
    monotone, so ``min(sqrt(d2)) == sqrt(min(d2))`` exactly, and so are the
    float32 ``- rad + 0.5`` and the clip that follow.
    """
    n = x.shape[0]
    ink = x.reshape(n, -1) > threshold
    rad32 = rad.astype(np.float32).tolist()
    out = None if n == 1 else x.copy()
    before = 0.0
    last = SIZE - 1
    for i in range(n):
        if i and groups is not None and groups[i] != groups[i - 1]:
            before = 0.0  # a new call: its inverse CDF starts again
        where = ink[i].nonzero()[0]
        tot, k = float(where.size), c[i]
        if k and tot:
            keep, fresh = None, False
            for v in u[i, :k].tolist():
                q = math.floor(before + v * tot) - before
                r, col = divmod(int(where[int(q)]) if q < tot else SIZE * SIZE - 1, SIZE)
                window = _DISTANCE[last - r : last - r + SIZE, last - col : last - col + SIZE]
                if keep is None:
                    keep = window
                elif fresh:
                    np.minimum(keep, window, out=keep)
                else:
                    keep, fresh = np.minimum(keep, window), True
            keep = keep - np.float32(rad32[i])
            keep += 0.5
            clip01(keep)
            if out is None:  # one digit: its product is the output
                return x * keep
            out[i] = x[i] * keep
        before += tot
    return x.copy() if out is None else out
