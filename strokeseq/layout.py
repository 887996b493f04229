"""Spacing and fitting: where each digit goes along the line.

The rule (see README, "Fitting digits into the width"):

* gaps between consecutive digits are integers drawn from ``lo..hi``;
* the sequence must fit in ``image_width``; the gaps are drawn **uniformly
  among all gap vectors that fit** (i.i.d. uniform conditioned on fitting).
  When even the widest gaps fit this *is* the i.i.d. uniform draw; when the
  width is tight it tilts the marginals towards small gaps rather than
  clipping, rescaling or silently changing the range;
* the width left over is split into a left and right margin at a uniformly
  random offset.

Everything here works on batches and takes its randomness as uniforms in
[0, 1), so the same numbers can come from a ``Generator`` or from a
per-sample stream (datasets).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from .sources.base import TILE

__all__ = ["fit_positions", "min_width", "required_width", "sample_gaps"]


def min_width(n_digits: int, lo: int, digit_widths: list[int] | None = None) -> int:
    """Narrowest image that always fits ``n_digits`` digits with gaps >= ``lo``.

    Parameters
    ----------
    n_digits : int
        Number of digits.
    lo : int
        Smallest gap. Negative gaps (ink layout) never shrink the guarantee
        below the digits' own widths, since how far digits can overlap depends
        on the instances drawn.
    digit_widths : list of int, optional
        Upper bound of each digit's box width (tile layout: 28 each, the
        default; ink layout: the source's widest ink box per label).
    """
    widths = sum(digit_widths) if digit_widths is not None else TILE * n_digits
    return widths + (n_digits - 1) * max(lo, 0)


#: Memory the count tables of one tight batch may take (bytes). Longer tables
#: are never held whole: the rows are recomputed from checkpoints (below).
TABLE_BYTES = 256 << 20

#: Memory the cache of whole tables may keep between calls (bytes).
CACHE_BYTES = 32 << 20

_cache: OrderedDict[tuple[int, int, int], tuple[np.ndarray, ...]] = OrderedDict()
_cache_bytes = 0
_cache_lock = threading.Lock()


def _first_state(cap: int) -> np.ndarray:
    return np.ones(cap + 1)  # c_0(b) = 1 for b >= 0


def _step(c: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """One row of the recurrence: prefix sums ``p`` of ``c``, and the next ``c``.

    ``p[b + 1] = sum_{m <= b} c(m)`` (``p[0] = 0``), rescaled to max 1: only
    ratios within a row matter, and the rescaling keeps float64 from
    overflowing for long sequences. ``c'(b) = p(b) - p(b - r - 1)``, rescaled.
    """
    cap = len(c) - 1
    p = np.empty(cap + 2)
    p[0] = 0.0
    np.cumsum(c, out=p[1:])
    p /= p[-1]
    nxt = p[1:].copy()
    if r + 1 <= cap:
        nxt[r + 1 :] -= p[1 : cap + 1 - r]
    nxt /= nxt.max()
    return p, nxt


def _rows_forward(c: np.ndarray, m: int, r: int) -> tuple[list[np.ndarray], np.ndarray]:
    rows = []
    for _ in range(m):
        p, c = _step(c, r)
        rows.append(p)
    return rows, c


def required_width(
    labels: Any,
    lo: int,
    layout: str = "tile",
    source: Any = None,
) -> int:
    """The one width rule: the narrowest image that always fits ``labels``.

    Every caller (the API, datasets, ladders) asks this function, so a width
    accepted in one place is accepted everywhere.

    Parameters
    ----------
    labels : int, sequence or 2-D array
        An int ``n`` (``n`` digits, any labels); a sequence whose items are
        digits or collections of allowed digits at that position (the widest
        counts); or a 2-D array of rows (the row needing most room counts).
    lo : int
        Smallest gap. Negative gaps (ink layout) never shrink the guarantee
        below the digits' own widths, since how far digits overlap depends on
        the instances drawn.
    layout : {"tile", "ink"}
        Tile layout: every digit box is 28 px. Ink layout: each label's box is
        at most the source's :meth:`~strokeseq.sources.DigitSource.max_ink_width`.
    source : DigitSource or sequence of DigitSource, optional
        Needed for the ink layout (with several, the widest of them counts).

    Returns
    -------
    int
        The width in pixels.

    Examples
    --------
    >>> from strokeseq.layout import required_width
    >>> required_width(3, 2)  # 3 tiles and two gaps of at least 2 px
    88
    >>> required_width([3, 0, 5], -4)  # overlaps are not counted on
    84
    """
    if layout == "tile" or source is None:
        widest = np.full(10, TILE, np.int64)
    else:
        sources = source if isinstance(source, (list, tuple)) else [source]
        widest = np.zeros(10, np.int64)
        for src in sources:
            widest = np.maximum(widest, [int(src.max_ink_width(d)) for d in range(10)])
    gap = max(int(lo), 0)
    if isinstance(labels, (int, np.integer)):
        n = int(labels)
        return int(widest.max()) * n + (n - 1) * gap if n > 0 else 0
    arr = labels if isinstance(labels, np.ndarray) else None
    if arr is not None and arr.ndim == 2:
        if arr.shape[0] == 0:
            return 0
        n = arr.shape[1]
        if layout == "tile" or source is None:  # every box is a tile: no pass over the rows
            return TILE * n + (n - 1) * gap
        return int(widest[arr].sum(axis=1).max()) + (n - 1) * gap
    total = 0
    n = 0
    for item in labels:
        n += 1
        if isinstance(item, (int, np.integer)):
            total += int(widest[int(item)])
        else:
            total += int(max(widest[int(d)] for d in item))
    return total + (n - 1) * gap if n else 0


def _prefix_tables(k: int, r: int, cap: int) -> tuple[np.ndarray, ...]:
    """Prefix sums ``P_j(b)`` of the counts of ``j`` values in ``0..r`` summing to ``<= b``.

    ``tables[j][b + 1] = sum_{m <= b} c_j(m)`` (with ``tables[j][0] = 0``) for
    ``j = 0..k-1`` and ``b = 0..cap``, each row rescaled to max 1. Small
    tables are kept in a cache bounded by :data:`CACHE_BYTES`.
    """
    global _cache_bytes
    key = (k, r, cap)
    with _cache_lock:
        tables = _cache.get(key)
        if tables is not None:
            _cache.move_to_end(key)
            return tables
    tables = tuple(_rows_forward(_first_state(cap), k, r)[0])
    size = k * (cap + 2) * 8
    if size <= CACHE_BYTES // 4:
        with _cache_lock:
            if key not in _cache:
                _cache[key] = tables
                _cache_bytes += size
            while _cache_bytes > CACHE_BYTES:
                (kk, _rr, cc), _ = _cache.popitem(last=False)
                _cache_bytes -= kk * (cc + 2) * 8
    return tables


def _rows_reversed(k: int, r: int, cap: int) -> Iterator[np.ndarray]:
    """The rows ``P_{k-1}, ..., P_0`` in that order, in at most ~:data:`TABLE_BYTES`.

    Sampling needs the rows in the reverse of the order the recurrence makes
    them. When the whole table fits the budget it is computed (or taken from
    the cache) at once. Otherwise nested checkpointing: the forward pass keeps
    the recurrence state at ``q`` evenly spaced rows, then each stretch is
    recomputed from its checkpoint, last stretch first (recursively when a
    stretch is still too long), and released as soon as it is used. Every row
    is recomputed with the same operations from the same state, so the rows,
    and the gaps drawn from them, are bit-identical to the whole-table way;
    the price is a few more forward passes (one per nesting level).
    """
    row_bytes = (cap + 2) * 8
    slots = max(4, TABLE_BYTES // row_bytes)
    if k <= slots:
        yield from reversed(_prefix_tables(k, r, cap))
        return
    yield from _reverse_from(_first_state(cap), k, r, slots)


def _reverse_from(c: np.ndarray, m: int, r: int, slots: int) -> Iterator[np.ndarray]:
    """Rows ``m - 1 .. 0`` counted from state ``c``, with ``slots`` rows of memory."""
    if m <= slots:
        rows, _ = _rows_forward(c, m, r)
        while rows:
            yield rows.pop()
        return
    # Fewest nesting levels d whose per-level checkpoint count q fits: d * q <= slots.
    q = 2
    for d in range(2, 64):
        q_d = math.ceil(m ** (1 / d))
        if d * q_d <= slots:
            q = max(q_d, 2)
            break
    chunk = math.ceil(m / q)
    checkpoints = []
    start = 0
    while start < m:
        checkpoints.append((start, c))
        n = min(chunk, m - start)
        if start + n < m:
            for _ in range(n):  # advance, keeping only the state
                c = _step(c, r)[1]
        start += n
    while checkpoints:
        start, state = checkpoints.pop()
        n = min(chunk, m - start)
        yield from _reverse_from(state, n, r, max(slots - len(checkpoints) - 1, 2))


def sample_gaps(u: np.ndarray, lo: int, hi: int, budget: np.ndarray | int) -> np.ndarray:
    """Draw integer gaps uniformly among the vectors in ``lo..hi`` whose sum fits.

    Parameters
    ----------
    u : numpy.ndarray
        ``(N, k)`` uniforms in [0, 1), one per gap.
    lo, hi : int
        Inclusive gap range.
    budget : int or numpy.ndarray
        ``(N,)`` largest allowed sum of the gaps of each row; must be
        ``>= k * lo``.

    Returns
    -------
    numpy.ndarray
        ``(N, k)`` int64 gaps. Rows whose budget allows ``k * hi`` are exactly
        i.i.d. uniform (``floor(u * (hi - lo + 1)) + lo``); other rows are
        drawn gap by gap from the exact conditional distribution (counted by
        dynamic programming), which is uniform over all fitting vectors.
    """
    u = np.asarray(u, dtype=np.float64)
    n_rows, k = u.shape
    r = hi - lo
    budget = np.broadcast_to(np.asarray(budget, dtype=np.int64), (n_rows,))
    gaps = np.floor(u * (r + 1)).astype(np.int64)
    np.minimum(gaps, r, out=gaps)  # u == 1 - eps rounding guard
    if k == 0:
        return gaps
    room = budget - k * lo  # budget for the shifted gaps h = g - lo in 0..r
    if (room < 0).any():
        raise ValueError("gap budget below k * lo: the width cannot fit these digits")
    tight = room < k * r
    if tight.any():
        # Rows are sampled in groups of the same table size (their room
        # rounded up to a power of two), so a row's gaps never depend on which
        # other rows share the batch, not even through floating-point rounding.
        rows = np.flatnonzero(tight)
        size = np.array([max(int(v), 1).bit_length() for v in room[rows]])
        for b in np.unique(size):
            sel = rows[size == b]
            gaps[sel] = _sample_tight(u[sel], r, room[sel], cap=1 << int(b))
    return gaps + lo


def _sample_tight(u: np.ndarray, r: int, room: np.ndarray, cap: int) -> np.ndarray:
    """Exact sequential sampling of ``k`` values in ``0..r`` with sum <= ``room``.

    ``cap`` (>= every room, a power of two so the tables are reused) sizes the
    count tables.
    """
    n_rows, k = u.shape
    out = np.empty((n_rows, k), np.int64)
    b = room.copy()
    for step, p in enumerate(_rows_reversed(k, r, cap)):
        # p: prefix sums over the remaining k-1-step values
        # P(v) ∝ c(b - v) for v in 0..min(r, b): find the v where the
        # cumulative weight sum_{v' <= v} c(b - v') = p[b+1] - p[b-v] passes u.
        hi_idx = b + 1
        lo_idx = np.maximum(b - r, 0)  # p index of b - r (inclusive lower bound of m = b - v)
        total = p[hi_idx] - p[lo_idx]
        target = p[hi_idx] - u[:, step] * total
        # largest index m in [lo_idx, b] with p[m] < target  ->  v = b - m
        m = np.searchsorted(p, target, side="left") - 1
        m = np.clip(m, lo_idx, b)
        v = b - m
        out[:, step] = v
        b = b - v
    return out


def fit_positions(
    widths: np.ndarray,
    gaps: np.ndarray,
    image_width: int,
    u_margin: np.ndarray,
) -> np.ndarray:
    """Left edges of the digit boxes on a canvas of ``image_width``.

    Parameters
    ----------
    widths : numpy.ndarray
        ``(N, n)`` box widths.
    gaps : numpy.ndarray
        ``(N, n - 1)`` gaps between consecutive boxes (already fitted).
    image_width : int
        Canvas width.
    u_margin : numpy.ndarray
        ``(N,)`` uniforms placing the slack: left margin is
        ``floor(u * (slack + 1))``.

    Returns
    -------
    numpy.ndarray
        ``(N, n)`` int64 left edges; the right edges are ``x0 + widths``.
    """
    n_rows, n = widths.shape
    x0 = np.zeros((n_rows, n), np.int64)
    if n > 1:
        np.cumsum(widths[:, :-1] + gaps, axis=1, out=x0[:, 1:])
    extent = x0[:, -1] + widths[:, -1]
    slack = image_width - extent
    if (slack < 0).any():
        raise ValueError("digits do not fit the image width")  # guarded by callers
    left = np.minimum(np.floor(u_margin * (slack + 1)).astype(np.int64), slack)
    return x0 + left[:, None]


def cap_overlaps(widths: np.ndarray, gaps: np.ndarray, image_width: int) -> np.ndarray:
    """Limit negative gaps so no digit starts left of its predecessor (ink layout).

    A gap ``g < 0`` overlaps two ink boxes by ``-g`` pixels; it is raised to
    at least ``1 - min(w_left, w_right)`` so that the digits keep their
    reading order. If raising makes a row overflow ``image_width``, the excess
    is taken back from that row's largest gaps (never below their floor); the
    caller's minimum width guarantees the floors fit. Rare: it needs a big
    overlap of a narrow digit in a tight width.
    """
    floor = 1 - np.minimum(widths[:, :-1], widths[:, 1:])
    capped = np.maximum(gaps, floor)
    over = widths.sum(axis=1) + capped.sum(axis=1) - image_width
    for i in np.flatnonzero(over > 0):  # rare rows only
        excess = int(over[i])
        row, fl = capped[i], floor[i]
        for j in np.argsort(-row, kind="stable"):
            take = min(excess, int(row[j] - fl[j]))
            if take > 0:
                row[j] -= take
                excess -= take
            if excess == 0:
                break
    return capped
