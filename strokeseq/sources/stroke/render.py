"""Pen capsules to anti-aliased digit canvases, vectorised over a batch.

The drawing step of :class:`strokeseq.sources.stroke.StrokeSource` (the
stroke geometry comes from :mod:`.bezier`, the image steps from
:mod:`.canvas`):

- :func:`rasterise_capsules` draws capsules (line pieces with a pen radius at
  each end) on a supersampled canvas: each pixel's ink is a function of its
  analytic distance to the capsule (full near the pen centre, falling linearly
  to 0 at the pen edge), combined with ``max`` so overlapping pieces do not
  darken. Only a small window around each capsule is evaluated, so the cost
  follows the ink, not the canvas.
- :func:`draw_centred` rasterises, centres the mass by whole canvas pixels
  and box-filters down in one pass over a reused canvas buffer (the digit
  pipeline uses it); it gives the same bytes as the separate steps.
"""

from __future__ import annotations

import threading

import numpy as np

from ..._ufuncs import clip as _clip  # np.clip adds ~3 us of Python per call
from .canvas import (
    _centring_shifts,
    _downsample_slots,
    _index,
    _ones,
    _slots,
    downsample,
    shift_images,
)

__all__ = ["draw_centred", "rasterise_capsules"]


def rasterise_capsules(
    a: np.ndarray,
    b: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    valid: np.ndarray,
    size: int,
    soft: float = 0.5,
) -> np.ndarray:
    """Draw pen capsules on square canvases, anti-aliasing by distance.

    A pixel at distance ``d`` from a capsule whose radius there is ``r``
    receives ink ``clip((r - d) / (soft * r), 0, 1)``: full inside the core of
    the pen, falling linearly to 0 at its edge. Overlapping capsules combine by
    ``max``.

    Parameters
    ----------
    a, b : (n, C, 2) float array
        End points ``(x, y)`` of the capsules in canvas pixels (pixel ``(i, j)``
        has its centre at ``(j + 0.5, i + 0.5)``).
    ra, rb : (n, C) float array
        Pen radius at ``a`` and ``b``; one radius per capsule, their mean, is
        used (capsules are short pieces of a segment).
    valid : (n, C) bool array
        Capsules to draw. (Any number of capsule axes ``(n, ..., 2)`` /
        ``(n, ...)`` works the same, e.g. views of sampled strokes.)
    size : int
        Canvas side in pixels.
    soft : float
        Fraction of the radius over which the ink falls off (0 < soft <= 1).

    Returns
    -------
    (n, size, size) float32 array
        Ink in [0, 1]. Each image depends only on its own capsules, bit for
        bit, whatever the batch.

    Notes
    -----
    All capsules of the batch are evaluated together, on windows around
    them grouped by size (:func:`_plan`), in a few large array operations
    (see :func:`_capsule_ink`), and merged into the canvases with one
    ``np.maximum.at`` per chunk on the float bit patterns as int32 (see
    :func:`_draw`), so the number of NumPy calls does not grow with the
    number of capsules per digit. The result is bit-identical to the former
    per-layer rasteriser (kept as :func:`.render_reference.rasterise_capsules_reference` for
    tests and benchmarks).

    Examples
    --------
    >>> a = np.array([[[4.0, 8.0]]]); b = np.array([[[12.0, 8.0]]])
    >>> r = np.full((1, 1), 2.0)
    >>> img = rasterise_capsules(a, b, r, r, np.ones((1, 1), bool), 16)
    >>> img.shape, float(img[0, 7, 8]), float(img[0, 2, 8])
    ((1, 16, 16), 1.0, 0.0)
    """
    n = valid.shape[0]
    canvas = np.zeros((n, size, size), np.float32)
    a, b, ra, rb = (np.asarray(v) for v in (a, b, ra, rb))
    caps = _capsules(a, b, ra, rb, valid, size, soft)
    if caps is not None:
        _draw(canvas.reshape(-1), size * size, size, 0, None, caps, size, soft)
    return canvas


def draw_centred(
    a: np.ndarray,
    b: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    valid: np.ndarray,
    factor: int,
    soft: float,
    target: float,
    tile: int = 28,
    *,
    step: int = 1,
) -> np.ndarray:
    """Rasterise at ``factor`` x zoom, centre the mass on ``target``, box-filter down.

    The digit pipeline after the geometry, in one pass over a reused canvas:
    :func:`rasterise_capsules` on a ``tile * factor`` canvas, then each canvas
    is moved by the whole canvas pixels that put its centre of mass
    (:func:`centre_of_mass`) nearest ``(target, target)`` (index coordinates),
    then :func:`downsample` by ``factor``. Equal, bit for bit, to those three
    functions and :func:`shift_images` applied in turn (tested), but the
    canvas lives in a zeroed work buffer with a margin of ``factor + 1``
    pixels, so that the shift is a view of it rather than a copy, and no
    canvas is allocated per call.

    Parameters
    ----------
    a, b, ra, rb, valid : see :func:`rasterise_capsules`
        Capsules in canvas pixels.
    factor : int
        Supersampling factor: the canvas side is ``tile * factor``.
    soft : float
        Ink fall-off (see :func:`rasterise_capsules`).
    target : float
        Wanted centre of mass, canvas index coordinates (both axes).
    tile : int
        Output side.
    step : int
        The moves are whole multiples of ``step`` canvas pixels: ``factor``
        moves by whole output pixels (keeps a box placed on pixel edges there;
        ``placement="mnist"``), 1 (the default) by canvas pixels.

    Returns
    -------
    (n, tile, tile) float32 array

    Examples
    --------
    >>> a = np.array([[[20.0, 30.0]]]); b = np.array([[[40.0, 30.0]]])
    >>> r = np.full((1, 1), 6.0)
    >>> out = draw_centred(a, b, r, r, np.ones((1, 1), bool), 3, 0.5, 41.5)
    >>> out.shape, bool(out[0, 13:15, 13:15].min() > 0.9)
    ((1, 28, 28), True)
    """
    n = valid.shape[0]
    size = tile * factor
    pad = factor + 1
    side = size + 2 * pad
    # Column-phase layout: padded column X is stored at slot (X % f) * plen + X // f
    # of its row, so the f columns of every output block are f contiguous runs
    # and the box filter adds whole runs instead of stride-f slices.
    plen = -(-side // factor)
    row = factor * plen
    most = max(1, _CANVAS_BYTES // (4 * side * row))
    if n > most:  # bounded work buffer: the canvases of at most ``most`` digits at a time
        most = -(-n // -(-n // most))  # parts of even size
        args = (a, b, ra, rb, valid)
        parts = [
            draw_centred(*(v[s : s + most] for v in args), factor, soft, target, tile, step=step)
            for s in range(0, n, most)
        ]
        return np.concatenate(parts)
    if n == 0:
        return np.zeros((0, tile, tile), np.float32)
    buf = _workspace(0).canvas(n * side * row).reshape(n, side, row)
    buf.fill(0.0)
    slot = _slots(side, factor)  # slot of each padded column
    cols = slot[pad : pad + size]  # slot of each canvas column
    caps = _capsules(a, b, ra, rb, valid, size, soft)
    if caps is not None:
        _draw(buf.reshape(-1), side * row, row, pad, cols, caps, size, soft)
    rows_view = buf[:, pad : pad + size]  # (n, size, row)

    def canvases(sel: np.ndarray) -> np.ndarray:  # plain (k, size, size) canvases
        return rows_view[sel][:, :, cols]

    row_sums = np.matmul(rows_view, _ones(row))
    col_sums = np.matmul(_ones(size), rows_view)[:, cols]
    dy, dx = _centring_shifts(row_sums, col_sums, target, canvases, step)
    # The shifted canvas is a window of the padded buffer ``(-dy, -dx)`` away:
    # zeros come in from the margin exactly as shift_images fills them.
    if n == 1:
        sy, sx = int(dy[0]), int(dx[0])
        if abs(sy) <= pad and abs(sx) <= pad:
            return _downsample_slots(buf, slice(None), pad - sy, pad - sx, size, factor, plen)
    out = np.empty((n, tile, tile), np.float32)
    far = (np.abs(dy) > pad) | (np.abs(dx) > pad)
    if far.any():  # shifts beyond the margin (rare): the general path
        sel = np.flatnonzero(far)
        out[sel] = downsample(shift_images(canvases(sel), dy[sel], dx[sel]), factor)
    # One downsample per distinct shift (a handful), on a gather of its canvases.
    near = np.flatnonzero(~far)
    key = dy[near] * (2 * pad + 1) + dx[near]
    shifts, which = np.unique(key, return_inverse=True)
    for j, k in enumerate(shifts.tolist()):
        sy, sx = (k + pad) // (2 * pad + 1), (k + pad) % (2 * pad + 1) - pad
        sel = near[which == j] if shifts.size > 1 else near
        out[sel] = _downsample_slots(buf, sel, pad - sy, pad - sx, size, factor, plen)
    return out


#: Bytes of the canvases :func:`draw_centred` keeps per thread (it draws larger
#: batches in parts): a source chunk of 512 digits at supersample 3 (17.5 MB).
_CANVAS_BYTES = 24 << 20
#: Elements (pixels x capsules) evaluated per chunk: the four float work arrays
#: (0.75 MiB) stay near a core's L2 cache. 48 Ki measured 4-10 % faster than
#: 32 Ki batched (fewer chunks, each ~20 NumPy calls; load 10-12, 2026-11-29).
_CHUNK_ELEMENTS = 48 << 10
#: Rough costs used to choose how to group windows by size: seconds per
#: evaluated element, and per chunk (its ~20 NumPy calls).
_COST_ELEMENT = 6e-9
_COST_CHUNK = 35e-6
#: Up to this many capsules, :func:`_plan` also tries equal-count groups by area.
_FEW = 1024
#: Extra reach of the windows: pixel centres farther than ``r + _MARGIN`` from
#: a capsule's box get ink < 0 (clipped), so omitting them changes nothing.
_MARGIN = 0.01
#: Pixel-centre offsets ``j + 0.5`` as float32 (exact), for any window side.
_HALF = np.arange(4096, dtype=np.float32) + np.float32(0.5)


def _half(k: int) -> np.ndarray:
    """Pixel-centre offsets ``j + 0.5`` (float32) for ``j < k``, from the table when it fits."""
    return _HALF[:k] if k <= _HALF.size else np.arange(k, dtype=np.float32) + np.float32(0.5)


_ONE = np.float32(1.0)
#: Bit patterns (as int32) bounding the clamps of :func:`_capsule_ink` and
#: :func:`_draw`: +0.0, 1.0, and the int32 range (every float passes).
_I0 = np.int32(0)
_IONE = np.float32(1.0).view(np.int32)
_IMIN = np.int32(np.iinfo(np.int32).min)
_IMAX = np.int32(np.iinfo(np.int32).max)


class _Workspace:
    """Work arrays reused across chunks and calls: no allocation (and no page
    faults on fresh memory) per chunk."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.f = [np.empty(size, np.float32) for _ in range(4)]
        self.index = np.empty(size, np.intp)
        self._canvas = np.empty(0, np.float32)
        self.offsets: dict[tuple[int, int, int], np.ndarray] = {}

    def arrays(self, shape: tuple[int, ...]) -> list[np.ndarray]:
        e = shape[0] * shape[1] * shape[2]
        return [f[:e].reshape(shape) for f in self.f]

    def canvas(self, size: int) -> np.ndarray:
        """A float32 buffer of ``size`` elements (contents undefined), kept for reuse."""
        if self._canvas.size < size:
            self._canvas = np.empty(size, np.float32)
        return self._canvas[:size]

    def offset(self, wy: int, wx: int, stride: int) -> np.ndarray:
        """Flat offsets ``(wy, wx, 1)`` of a window's pixels on rows ``stride`` apart."""
        key = (wy, wx, stride)
        off = self.offsets.get(key)
        if off is None:
            if len(self.offsets) > 4096:
                self.offsets.clear()
            off = (np.arange(wy)[:, None] * stride + np.arange(wx))[:, :, None]
            self.offsets[key] = off
        return off


_local = threading.local()  # one workspace per thread (Dask and other thread pools)


def _workspace(size: int) -> _Workspace:
    work = getattr(_local, "work", None)
    if work is None or work.size < size:
        old = work
        work = _local.work = _Workspace(max(size, _CHUNK_ELEMENTS))
        if old is not None:
            work._canvas = old._canvas
    return work


def _capsules(a, b, ra, rb, valid, size: int, soft: float) -> dict[str, np.ndarray] | None:
    """Per-capsule constants of the valid, on-canvas capsules (float32, as drawn)."""
    f32 = np.float32
    where = np.nonzero(valid)  # any number of capsule axes after the digit's
    dig = where[0]
    if dig.size == 0:
        return None
    # One gather for both ends (the same values as gathering each); a single
    # digit's capsules are a few dozen, so the number of calls is the cost.
    ends = np.concatenate((a, b), axis=-1)[where].astype(f32)
    pa, pb = ends[:, :2], ends[:, 2:]  # (M, 2) each
    r = ((ra + rb)[where] * 0.5).astype(f32)
    u = pb - pa
    uu = u * u
    inv_l2 = 1.0 / np.maximum(uu[:, 0] + uu[:, 1], f32(1e-12))
    # Window: the pixels whose centre (j + 0.5) lies within r (+ margin) of the
    # capsule's box, clipped to the canvas.
    reach = r[:, None] + f32(_MARGIN + 0.5)
    lo = np.ceil(np.minimum(pa, pb) - reach).astype(np.int64)
    hi = np.floor(np.maximum(pa, pb) + reach).astype(np.int64)  # one past the last
    np.maximum(lo, 0, out=lo)
    np.minimum(hi, size, out=hi)
    span = hi - lo  # (M, 2) as (x, y)
    inside = span > 0
    if not inside.all():
        keep = inside[:, 0] & inside[:, 1]
        if not keep.any():
            return None
        dig, pa, u, r, inv_l2, lo, span = (v[keep] for v in (dig, pa, u, r, inv_l2, lo, span))
    # The ink profile as constants: ink = 1/soft - d * (1 / (soft * r)). The
    # factors 2 and 1/2 below are exact, so the arithmetic matches the
    # reference rasteriser bit for bit.
    consts = np.empty((7, dig.size), f32)  # one gather per group instead of seven
    consts[:2] = pa.T
    np.multiply(u.T, f32(2), out=consts[2:4])
    np.multiply(inv_l2, f32(0.5), out=consts[4])
    np.divide(1.0, inv_l2, out=consts[5])
    np.divide(-1.0, f32(soft) * np.maximum(r, f32(1e-6)), out=consts[6])  # == -(1 / ...)
    return {"digit": dig, "consts": consts, "lo": lo, "span": span}


def _draw(
    flat: np.ndarray,
    dstride: int,
    rstride: int,
    row0: int,
    cols: np.ndarray | None,
    caps,
    size: int,
    soft: float,
) -> None:
    """Merge the ink of ``caps`` into canvases stored in ``flat``.

    Canvas ``i``'s pixel ``(y, x)`` is ``flat[i * dstride + (y + row0) *
    rstride + cols[x]]`` (``cols`` None: ``x``): the canvases may sit in a
    padded buffer, their columns in any order. Ink is clipped to at most 1
    before the ``max`` (equal to clipping the canvas after it: ``min`` and
    ``max`` commute), and is at least 0 because the canvases start at 0.
    """
    order, chunks, wsize = _plan(caps["span"])
    consts, lo, dig = caps["consts"], caps["lo"], caps["digit"]
    if order is not None:  # one gather for all: every chunk is then a slice
        # (np.take along the columns: ~5x faster than consts[:, order])
        consts, lo, dig = np.take(consts, order, axis=1), lo[order], dig[order]
    # Window origins, moved inside the canvas where the window would overflow it.
    xy0 = np.minimum(lo, size - wsize)
    base = dig * dstride + (xy0[:, 1] + row0) * rstride  # start of each window's first row
    if cols is None:
        base += xy0[:, 0]
    x0 = xy0[:, 0]
    xy0f = xy0.T.astype(np.float32)  # exact: pixel indices are small integers
    cap = max(_CHUNK_ELEMENTS, max(wy * wx * (e - s) for s, e, wy, wx in chunks))
    work = _workspace(cap)
    flat_bits = flat.view(np.int32)
    for s, e, wy, wx in chunks:
        k = slice(s, e)
        ink = _capsule_ink(consts[:, k], xy0f[0, k], xy0f[1, k], wy, wx, soft, work)
        idx = work.index[: ink.size].reshape(ink.shape)
        if cols is None:  # plain rows: one offset table for the window
            np.add(work.offset(wy, wx, rstride), base[k], out=idx)
        else:  # a row part (wy, m) plus a column part (wx, m) looked up in ``cols``
            row_part = np.add(_index(wy)[:, None] * rstride, base[k])
            col_part = cols[np.add(_index(wx)[:, None], x0[k])]
            np.add(row_part[:, None, :], col_part[None, :, :], out=idx)
        # The max on the float32 bit patterns as int32: the same order for
        # non-negative floats, and negative ink (outside the pen) stays below
        # every canvas value (>= +0.0). NumPy's integer np.maximum.at is about
        # twice as fast as the float one (no NaN handling).
        ink = ink.reshape(-1)
        # min(ink, 1) as an int32 clip of the bit patterns (see _capsule_ink:
        # the same values, nothing is NaN; faster than a float clip or
        # np.minimum with a scalar).
        bits = ink.view(np.int32)
        _clip(bits, _IMIN, _IONE, out=bits)
        np.maximum.at(flat_bits, idx.reshape(-1), bits)


def _plan(span: np.ndarray):
    """How to draw capsules: ``(order, chunks, window sizes)``.

    The cheapest under a rough cost model (:func:`_cost`: evaluated pairs and
    chunks) of: one window size fitting all, capsules in their order
    (``order`` None); for few capsules (up to :data:`_FEW`), the capsules
    sorted by window size and cut into 2, 3, 4 or 6 groups of equal count, each
    with the window fitting its largest; for many, capsules grouped by window size
    (sides rounded up to a multiple of ``q``), ``order`` sorting them by size
    (stably: by digit within a size, so a chunk's writes stay close together).
    Each chunk ``(start, end, wy, wx)`` is a slice of that order holding at
    most ``_CHUNK_ELEMENTS`` pixel-capsule pairs (or one capsule). ``window
    sizes`` is ``(wx, wy)`` per capsule (in ``order``) or one pair for all.
    """
    m = span.shape[0]
    wx, wy = np.maximum.reduce(span, axis=0).tolist()
    one = np.array([wx, wy])
    step = max(1, _CHUNK_ELEMENTS // (wy * wx))
    one_chunks = -(-m // step)
    best, best_cost = None, _cost(m * wy * wx, one_chunks)
    area = span[:, 0] * span[:, 1]
    if best_cost <= _cost(int(area.sum()), max(2, one_chunks)):
        # No split can pay for its extra chunk (a digit or two): one size, in order.
        return None, [(s, min(s + step, m), wy, wx) for s in range(0, m, step)], one
    if m <= _FEW:
        # A few dozen capsules (1-20 digits): the q-grid below makes a chunk of
        # nearly every capsule; equal-count groups by area keep chunks few.
        # Sorted by the longer side, then by area (the order that wasted the
        # fewest pairs of those tried on fitted and glyph digits, 5-20 a call).
        order = np.argsort(np.maximum(span[:, 0], span[:, 1]) * 4096 + area, kind="stable")
        sx, sy = span[order, 0], span[order, 1]
        for g in (2, 3, 4, 6):
            if g > m:
                break
            starts = (np.arange(g) * m) // g
            gx, gy = np.maximum.reduceat(sx, starts), np.maximum.reduceat(sy, starts)
            counts = np.diff(np.append(starts, m))
            steps = np.maximum(1, _CHUNK_ELEMENTS // (gy * gx))
            cost = _cost(int((counts * gy * gx).sum()), int((-(-counts // steps)).sum()))
            if cost < best_cost:
                best, best_cost = ("groups", order, starts, counts, gx, gy, steps), cost
    for q in (8, 4, 2):
        nx = -(-wx // q) + 1
        key = (-(-span[:, 1] // q)) * nx + (-(-span[:, 0] // q))
        counts = np.bincount(key)
        used = np.flatnonzero(counts)
        sy = np.minimum((used // nx) * q, wy)
        sx = np.minimum((used % nx) * q, wx)
        elements = counts[used] * sy * sx
        steps = np.maximum(1, _CHUNK_ELEMENTS // (sy * sx))
        cost = _cost(int(elements.sum()), int((-(-counts[used] // steps)).sum()))
        if cost < best_cost:
            best, best_cost = ("grid", key, nx, q, counts[used], sy, sx, steps), cost
    if best is None:
        return None, [(s, min(s + step, m), wy, wx) for s in range(0, m, step)], one
    if best[0] == "groups":
        _, order, starts, counts, sx, sy, steps = best
        wsize = np.repeat(np.stack([sx, sy], axis=1), counts, axis=0)
    else:
        _, key, nx, q, counts, sy, sx, steps = best
        order = np.argsort(key, kind="stable")
        k2 = key[order]
        wsize = np.stack([np.minimum((k2 % nx) * q, wx), np.minimum((k2 // nx) * q, wy)], axis=1)
    chunks = []
    s = 0
    for c, y, x, st in zip(counts.tolist(), sy.tolist(), sx.tolist(), steps.tolist(), strict=True):
        chunks += [(a, min(a + st, s + c), y, x) for a in range(s, s + c, st)]
        s += c
    return order, chunks, wsize


def _cost(elements: int, chunks: int) -> float:
    return elements * _COST_ELEMENT + chunks * _COST_CHUNK


def _capsule_ink(consts, x0, y0, wy: int, wx: int, soft: float, work: _Workspace):
    """Ink of capsules on their ``(wy, wx)`` windows, laid out ``(wy, wx, m)``.

    ``consts`` are the capsules' constants (see :func:`_capsules`), ``x0`` and
    ``y0`` their windows' origins (float32). Capsules run along the last axis
    so every operation has a long, unit stride inner loop. The ink is not
    clipped (the merge clips it at 1; the canvases start at 0). Returns a view
    of the workspace.
    """
    f32 = np.float32
    ax, ay, ux2, uy2, half_inv_l2, l2, neg_inv_sr = consts
    m = ax.shape[0]
    proj2, dist2, t, tmp = work.arrays((wy, wx, m))
    # Pixel-centre offsets from a: rows (wy, m) and columns (wx, m).
    dx = np.add(_half(wx)[:, None], x0)
    dx -= ax
    dy = np.add(_half(wy)[:, None], y0)
    dy -= ay
    # 2 (q - a).u and |q - a|^2 as a row term plus a column term.
    np.add((dy * uy2)[:, None, :], (dx * ux2)[None, :, :], out=proj2)
    np.add((dy * dy)[:, None, :], (dx * dx)[None, :, :], out=dist2)
    # Per-capsule factors broadcast over (wy * wx, m): two axes, not three
    # (NumPy's iterator copies the broadcast operand less).
    p2, t2 = proj2.reshape(-1, m), t.reshape(-1, m)
    np.multiply(p2, half_inv_l2, out=t2)
    # Clamps as integer clips of the float32 bit patterns: the same order as
    # the floats for non-negative values, every negative one (-0.0 included)
    # below 0, and no NaN here; NumPy's int32 clip is ~25 % faster than its
    # float clip. Negative t and dist2 become +0.0 where the float clip kept
    # the sign of -0.0: t (-0.0 or +0.0) * finite values then adds or removes
    # only zeros from dist2 (a sum of squares, never -0.0), and sqrt(+-0) *
    # c + 1/soft is 1/soft either way, so the ink is the same, bit for bit.
    tb = t.view(np.int32)
    _clip(tb, _I0, _IONE, out=tb)
    # |q - a - t u|^2 = |q - a|^2 - t (2p - t |u|^2)
    np.multiply(t2, l2, out=tmp.reshape(-1, m))
    proj2 -= tmp
    proj2 *= t
    dist2 -= proj2
    # max(dist2, 0): rounding can leave it a hair below 0.
    db = dist2.view(np.int32)
    _clip(db, _I0, _IMAX, out=db)
    ink = np.sqrt(dist2, out=dist2)
    ink2 = ink.reshape(-1, m)
    ink2 *= neg_inv_sr
    ink += f32(1.0 / soft)
    return ink
