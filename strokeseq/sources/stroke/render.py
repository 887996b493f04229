"""Bezier strokes to anti-aliased digit images, vectorised over a batch.

The pipeline of :class:`strokeseq.sources.stroke.StrokeSource` is built from
the pieces here:

1. :func:`compile_glyphs` turns the glyph files into padded arrays, so that a
   whole batch of digits, each with its own allograph, is evaluated with a few
   matrix products (no Python loop per digit or per point).
2. :func:`bezier_basis` samples every segment, promoted to a cubic, at ``k``
   parameter values; consecutive samples form *capsules* (line pieces with a
   pen radius at each end).
3. :func:`rasterise_capsules` draws the capsules on a supersampled canvas:
   each pixel's ink is a function of its analytic distance to the capsule
   (full near the pen centre, falling linearly to 0 at the pen edge), combined
   with ``max`` so overlapping pieces do not darken. Only a small window around
   each capsule is evaluated, so the cost follows the ink, not the canvas.
4. :func:`downsample` averages ``ss x ss`` blocks (the anti-aliasing) and
   :func:`shift_images` moves each image by whole canvas pixels to centre its
   mass.

:func:`draw_centred` does 3 and 4 in one pass over a reused canvas buffer
(the digit pipeline uses it); it gives the same bytes as the separate steps.
"""

from __future__ import annotations

import functools
import math
import threading
from dataclasses import dataclass

import numpy as np

from .glyph_schema import GlyphSet

__all__ = [
    "CompiledGlyphs",
    "bezier_basis",
    "bezier_points",
    "centre_of_mass",
    "compile_glyphs",
    "downsample",
    "draw_centred",
    "rasterise_capsules",
    "shift_images",
]


def bezier_basis(k: int) -> np.ndarray:
    """Cubic Bernstein basis at ``k`` evenly spaced parameters, shape ``(k, 4)`` float64."""
    return _basis(k).copy()


@functools.lru_cache(maxsize=64)
def _basis(k: int) -> np.ndarray:
    """:func:`bezier_basis`, computed once per ``k`` (read-only)."""
    t = np.linspace(0.0, 1.0, k)[:, None]
    s = 1.0 - t
    out = np.hstack([s**3, 3 * s * s * t, 3 * s * t * t, t**3])
    out.flags.writeable = False
    return out


def bezier_points(ctrl: np.ndarray, k: int) -> np.ndarray:
    """Points of cubic Bezier segments at ``k`` evenly spaced parameters.

    ``ctrl`` is ``(..., 4, D)`` control points; returns ``(..., k, D)``. Equal,
    bit for bit, to ``np.einsum("kc,...cd->...kd", bezier_basis(k), ctrl)``
    (the same products added in the same order), several times faster.

    Examples
    --------
    >>> ctrl = np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0]])
    >>> bezier_points(ctrl, 4)[:, 0].tolist()
    [0.0, 1.0, 2.0, 3.0]
    """
    basis = _basis(k)
    c = np.asarray(ctrl, np.float64)[..., None, :, :]  # (..., 1, 4, D)
    out = basis[:, 0, None] * c[..., 0, :]
    for j in range(1, 4):
        out += basis[:, j, None] * c[..., j, :]
    return out


# Degree elevation of 2- and 3-point segments to cubics, as rows of weights
# over the segment's own points. A line (p0, p1) is first given a middle
# control point m (a point of its own, so it is jittered and the line arcs):
# the quadratic (p0, m, p1) elevates to (p0, p0/3 + 2m/3, 2m/3 + p1/3, p1).
_ELEVATE_QUAD = np.array([[1, 0, 0], [1 / 3, 2 / 3, 0], [0, 2 / 3, 1 / 3], [0, 0, 1]])


@dataclass(frozen=True)
class CompiledGlyphs:
    """A :class:`GlyphSet` as padded arrays over all allographs (A of them).

    Attributes
    ----------
    points : (A, P, 2) float64
        Nominal control points (distinct points of the allograph, plus one
        middle point per line segment); padding is 0.
    jitter_scale : (A, P) float64
        Per-point multiplier of the jitter radius (0 on padding).
    seg_matrix : (A, S, 4, P) float64
        Cubic control points of each segment as weights over ``points``.
    seg_valid : (A, S) bool
        Whether the segment exists (padding is False).
    seg_stroke : (A, S) int64
        Stroke index of each segment.
    seg_progress : (A, S, 2) float64
        Position of the segment's start and end along its stroke, 0..1.
    stroke_prob : (A, T) float64
        Probability that each stroke is drawn (0 on padding).
    digit : (A,) int64
        The digit of each allograph.
    local_id : (A,) int64
        Index of the allograph among its digit's allographs.
    choice_cdf : (10, M) float64
        Cumulative allograph probabilities per digit (padded with 1).
    choice_ids : (10, M) int64
        Global allograph index for each digit and local index.
    names : tuple of str
        ``"digit/allograph"`` names.
    stroke_names : tuple of tuple of str
        Stroke names per allograph.
    """

    points: np.ndarray
    jitter_scale: np.ndarray
    seg_matrix: np.ndarray
    seg_valid: np.ndarray
    seg_stroke: np.ndarray
    seg_progress: np.ndarray
    stroke_prob: np.ndarray
    digit: np.ndarray
    local_id: np.ndarray
    choice_cdf: np.ndarray
    choice_ids: np.ndarray
    names: tuple[str, ...]
    stroke_names: tuple[tuple[str, ...], ...]


def compile_glyphs(glyphs: GlyphSet) -> CompiledGlyphs:
    """Pack a glyph set into the padded arrays the batch renderer indexes.

    Points with the same ``(x, y)`` within one allograph become one point
    (jittered once): loops stay closed and strokes that meet keep meeting. Its
    jitter scale is the largest given for it.
    """
    flat = [(d, a) for d in range(10) for a in glyphs.allographs[d]]
    per_allo = []
    for _d, allo in flat:
        index: dict[tuple[float, float], int] = {}
        pts: list[list[float]] = []
        segs = []  # (stroke, weights (4, P-list)), built after points are known
        seg_rows = []
        for ti, stroke in enumerate(allo.strokes):
            for seg in stroke.segments:
                ids = []
                for x, y, s in seg:
                    key = (x, y)
                    if key not in index:
                        index[key] = len(pts)
                        pts.append([x, y, s])
                    else:
                        pts[index[key]][2] = max(pts[index[key]][2], s)
                    ids.append(index[key])
                if len(seg) == 2:  # a line: add its own middle point so it arcs
                    (x0, y0, s0), (x1, y1, s1) = seg
                    ids = [ids[0], len(pts), ids[1]]
                    pts.append([(x0 + x1) / 2, (y0 + y1) / 2, (s0 + s1) / 2])
                seg_rows.append((ti, ids))
        lengths = []
        for _ti, ids in seg_rows:
            p = np.array([pts[i][:2] for i in ids])
            lengths.append(float(np.linalg.norm(np.diff(p, axis=0), axis=1).sum()))
        segs = [(ti, ids, ln) for (ti, ids), ln in zip(seg_rows, lengths, strict=True)]
        per_allo.append((np.array(pts, float), segs, allo))

    n_a = len(flat)
    n_p = max(len(p) for p, _, _ in per_allo)
    n_s = max(len(s) for _, s, _ in per_allo)
    n_t = max(len(a.strokes) for _, _, a in per_allo)
    points = np.zeros((n_a, n_p, 2))
    jscale = np.zeros((n_a, n_p))
    seg_matrix = np.zeros((n_a, n_s, 4, n_p))
    seg_valid = np.zeros((n_a, n_s), bool)
    seg_stroke = np.zeros((n_a, n_s), np.int64)
    seg_progress = np.zeros((n_a, n_s, 2))
    stroke_prob = np.zeros((n_a, n_t))
    for ai, (pts, segs, allo) in enumerate(per_allo):
        points[ai, : len(pts)] = pts[:, :2]
        jscale[ai, : len(pts)] = pts[:, 2]
        stroke_prob[ai, : len(allo.strokes)] = [s.probability for s in allo.strokes]
        stroke_len = np.zeros(n_t)
        for ti, _ids, ln in segs:
            stroke_len[ti] += ln
        done = np.zeros(n_t)
        for si, (ti, ids, ln) in enumerate(segs):
            w = np.eye(4) if len(ids) == 4 else _ELEVATE_QUAD
            seg_matrix[ai, si][:, ids] = w
            seg_valid[ai, si] = True
            seg_stroke[ai, si] = ti
            total = max(stroke_len[ti], 1e-9)
            seg_progress[ai, si] = (done[ti] / total, (done[ti] + ln) / total)
            done[ti] += ln

    digit = np.array([d for d, _ in flat], np.int64)
    local = np.array([sum(1 for d2, _ in flat[:i] if d2 == d) for i, (d, _) in enumerate(flat)])
    m = max(len(glyphs.allographs[d]) for d in range(10))
    cdf = np.ones((10, m))
    ids = np.zeros((10, m), np.int64)
    for d in range(10):
        w = np.array([a.weight for a in glyphs.allographs[d]])
        cdf[d, : len(w)] = np.cumsum(w) / w.sum()
        cdf[d, len(w) - 1 :] = 1.0  # guard the last bin against rounding
        g = np.flatnonzero(digit == d)
        ids[d, : len(g)] = g
        ids[d, len(g) :] = g[-1]
    return CompiledGlyphs(
        points=points,
        jitter_scale=jscale,
        seg_matrix=seg_matrix,
        seg_valid=seg_valid,
        seg_stroke=seg_stroke,
        seg_progress=seg_progress,
        stroke_prob=stroke_prob,
        digit=digit,
        local_id=local.astype(np.int64),
        choice_cdf=cdf,
        choice_ids=ids,
        names=tuple(f"{d}/{a.name}" for d, a in flat),
        stroke_names=tuple(tuple(s.name for s in a.strokes) for _, a in flat),
    )


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
        Capsules to draw.
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
    per-layer rasteriser (kept as :func:`_rasterise_capsules_reference` for
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
            draw_centred(*(v[s : s + most] for v in args), factor, soft, target, tile)
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
    dy, dx = _centring_shifts(row_sums, col_sums, target, canvases)
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


@functools.lru_cache(maxsize=32)
def _slots(side: int, factor: int) -> np.ndarray:
    """Slot of each of ``side`` columns in the column-phase layout (read-only)."""
    x = np.arange(side)
    out = (x % factor) * -(-side // factor) + x // factor
    out.flags.writeable = False
    return out


def _downsample_slots(
    buf: np.ndarray, sel, y0: int, x0: int, size: int, factor: int, plen: int
) -> np.ndarray:
    """:func:`downsample` of the ``size`` x ``size`` windows at ``(y0, x0)`` of
    column-phase canvases ``buf[sel]`` (see :func:`draw_centred`): the same
    additions in the same order, on contiguous runs."""
    ys = slice(y0, y0 + size)
    m = size // factor

    def phase(j: int) -> np.ndarray:  # columns x0 + j, x0 + j + f, ... of each row
        p, q = (x0 + j) % factor, (x0 + j) // factor
        return buf[sel, ys, p * plen + q : p * plen + q + m]

    acc = np.array(phase(0), dtype=np.float32)  # (n, H, W / f), a new array
    if factor == 1:
        return acc
    for j in range(1, factor):
        acc += phase(j)
    rows = acc.reshape(acc.shape[0], m, factor, m)
    out = rows[:, :, 0].copy()
    for i in range(1, factor):
        out += rows[:, :, i]
    out *= np.float32(1.0 / (factor * factor))
    return out


def _centring_shifts(
    rows: np.ndarray, cols: np.ndarray, target: float, canvases
) -> tuple[np.ndarray, np.ndarray]:
    """``rint(target - centre_of_mass(canvases))`` per axis, as int64: the same integers.

    ``rows`` and ``cols`` are float32 row and column sums of the ``(n, H, W)``
    canvases computed in any order (BLAS here, several times faster than
    ``sum``), and ``canvases(sel)`` returns the canvases ``sel`` themselves.
    For non-negative ink any order of summing ``W`` terms is within
    ``(W - 1) u`` (relative, ``u = 2**-24``) of the exact sum, and perturbing
    every row sum by a relative ``d`` moves the centre by at most
    ``d (H - 1)``: this centre and :func:`centre_of_mass`'s differ by less
    than ``2 (W - 1)(H - 1) u`` (8e-4 px at supersample 3). Wherever
    ``target - centre`` is twice that or more away from a half integer both
    round alike; the few canvases nearer a tie are measured again with
    :func:`centre_of_mass` itself.
    """
    h, w = rows.shape[1], cols.shape[1]
    tie = 4.0 * max(h - 1, w - 1) ** 2 * 2.0**-24 + 1e-9
    rows = rows.astype(np.float64)
    cols = cols.astype(np.float64)
    if rows.shape[0] == 1:  # one canvas: Python floats, a few NumPy calls
        mass = float(rows.sum())
        vy, vx = target - (h - 1) / 2, target - (w - 1) / 2
        if mass > 0:
            vy, vx = (
                target - float(rows[0] @ _INDEX[:h]) / mass,
                target - float(cols[0] @ _INDEX[:w]) / mass,
            )
        if abs(vy - math.floor(vy) - 0.5) < tie or abs(vx - math.floor(vx) - 0.5) < tie:
            cy, cx = centre_of_mass(canvases(np.zeros(1, np.intp)))
            vy, vx = target - float(cy[0]), target - float(cx[0])
        return np.array([round(vy)], np.int64), np.array([round(vx)], np.int64)  # half to even
    mass = rows.sum(axis=1)
    inked = mass > 0
    safe = np.where(inked, mass, 1.0)
    vy = target - np.where(inked, rows @ _INDEX[:h] / safe, (h - 1) / 2)
    vx = target - np.where(inked, cols @ _INDEX[:w] / safe, (w - 1) / 2)
    near = (np.abs(vy - np.floor(vy) - 0.5) < tie) | (np.abs(vx - np.floor(vx) - 0.5) < tie)
    if near.any():
        sel = np.flatnonzero(near)
        cy, cx = centre_of_mass(canvases(sel))
        vy[sel], vx[sel] = target - cy, target - cx
    return np.rint(vy).astype(np.int64), np.rint(vx).astype(np.int64)


def _ones(k: int) -> np.ndarray:
    return _ONES[:k] if k <= _ONES.size else np.ones(k, np.float32)


_ONES = np.ones(1024, np.float32)


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
#: Extra reach of the windows: pixel centres farther than ``r + _MARGIN`` from
#: a capsule's box get ink < 0 (clipped), so omitting them changes nothing.
_MARGIN = 0.01
#: Pixel-centre offsets ``j + 0.5`` as float32 (exact), for any window side.
_HALF = np.arange(4096, dtype=np.float32) + np.float32(0.5)
_ONE = np.float32(1.0)
_ONE_BITS = _ONE.view(np.int32)


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
    dig, cap = np.nonzero(valid)
    if dig.size == 0:
        return None
    pa = np.asarray(a)[dig, cap].astype(f32)  # (M, 2)
    pb = np.asarray(b)[dig, cap].astype(f32)
    r = (0.5 * (np.asarray(ra)[dig, cap] + np.asarray(rb)[dig, cap])).astype(f32)
    u = pb - pa
    inv_l2 = 1.0 / np.maximum(u[:, 0] * u[:, 0] + u[:, 1] * u[:, 1], f32(1e-12))
    # Window: the pixels whose centre (j + 0.5) lies within r (+ margin) of the
    # capsule's box, clipped to the canvas.
    reach = r[:, None] + f32(_MARGIN + 0.5)
    lo = np.ceil(np.minimum(pa, pb) - reach).astype(np.int64)
    hi = np.floor(np.maximum(pa, pb) + reach).astype(np.int64)  # one past the last
    np.maximum(lo, 0, out=lo)
    np.minimum(hi, size, out=hi)
    span = hi - lo  # (M, 2) as (x, y)
    keep = span.min(axis=1) > 0
    if not keep.all():
        if not keep.any():
            return None
        dig, pa, u, r, inv_l2, lo, span = (v[keep] for v in (dig, pa, u, r, inv_l2, lo, span))
    # The ink profile as constants: ink = 1/soft - d * (1 / (soft * r)). The
    # factors 2 and 1/2 below are exact, so the arithmetic matches the
    # reference rasteriser bit for bit.
    consts = np.empty((7, dig.size), f32)  # one gather per group instead of seven
    consts[0], consts[1] = pa[:, 0], pa[:, 1]
    np.multiply(u.T, f32(2), out=consts[2:4])
    np.multiply(inv_l2, f32(0.5), out=consts[4])
    np.divide(1.0, inv_l2, out=consts[5])
    consts[6] = -(1.0 / (f32(soft) * np.maximum(r, f32(1e-6))))
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
        consts, lo, dig = consts[:, order], lo[order], dig[order]
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
            row_part = np.add(_INDEX[:wy, None] * rstride, base[k])
            col_part = cols[np.add(_INDEX[:wx, None], x0[k])]
            np.add(row_part[:, None, :], col_part[None, :, :], out=idx)
        # max and min on the float32 bit patterns as int32: the same order for
        # non-negative floats, and negative ink (outside the pen) stays below
        # every canvas value (>= +0.0). NumPy's integer np.maximum.at is about
        # twice as fast as the float one (no NaN handling).
        ink = ink.reshape(-1).view(np.int32)
        np.minimum(ink, _ONE_BITS, out=ink)
        np.maximum.at(flat_bits, idx.reshape(-1), ink)


def _plan(span: np.ndarray):
    """How to draw capsules: ``(order, chunks, window sizes)``.

    Few capsules (a digit or two): one window size fitting all, capsules in
    their order (``order`` None). Many: capsules grouped by window size
    (sides rounded up to a multiple of ``q``; the cheapest ``q`` under a rough
    cost model wins, one size for all included); ``order`` sorts them by size
    (stably: by digit within a size, so a chunk's writes stay close together).
    Each chunk ``(start, end, wy, wx)`` is a slice of that order holding at
    most ``_CHUNK_ELEMENTS`` pixel-capsule pairs (or one capsule). ``window
    sizes`` is ``(wx, wy)`` per capsule (in ``order``) or one pair for all.
    """
    m = span.shape[0]
    wx, wy = (int(v) for v in span.max(axis=0))
    one = np.array([wx, wy])
    step = max(1, _CHUNK_ELEMENTS // (wy * wx))
    if m * wy * wx <= 4 * _CHUNK_ELEMENTS:  # a few chunks at most: one size, in order
        return None, [(s, min(s + step, m), wy, wx) for s in range(0, m, step)], one
    best, best_cost = None, _cost(m * wy * wx, -(-m // step))
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
            best, best_cost = (key, nx, q, counts[used], sy, sx, steps), cost
    if best is None:
        return None, [(s, min(s + step, m), wy, wx) for s in range(0, m, step)], one
    key, nx, q, counts, sy, sx, steps = best
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
    proj2, dist2, t, tmp = work.arrays((wy, wx, ax.shape[0]))
    # Pixel-centre offsets from a: rows (wy, m) and columns (wx, m).
    dx = np.add(_HALF[:wx, None], x0)
    dx -= ax
    dy = np.add(_HALF[:wy, None], y0)
    dy -= ay
    # 2 (q - a).u and |q - a|^2 as a row term plus a column term.
    np.add((dy * uy2)[:, None, :], (dx * ux2)[None, :, :], out=proj2)
    np.add((dy * dy)[:, None, :], (dx * dx)[None, :, :], out=dist2)
    np.multiply(proj2, half_inv_l2, out=t)
    np.clip(t, f32(0.0), f32(1.0), out=t)
    # |q - a - t u|^2 = |q - a|^2 - t (2p - t |u|^2)
    np.multiply(t, l2, out=tmp)
    proj2 -= tmp
    proj2 *= t
    dist2 -= proj2
    np.maximum(dist2, f32(0.0), out=dist2)
    ink = np.sqrt(dist2, out=dist2)
    ink *= neg_inv_sr
    ink += f32(1.0 / soft)
    return ink


def downsample(canvas: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks of ``(n, H, W)`` images (box filter), float32.

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> downsample(x, 2)[0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    return _downsample_at(canvas, slice(None), 0, 0, canvas.shape[1:], factor)


def _downsample_at(
    buf: np.ndarray,
    sel: slice | np.ndarray,
    y0: int,
    x0: int,
    shape: int | tuple[int, int],
    factor: int,
) -> np.ndarray:
    """``downsample(buf[sel, y0:y0 + h, x0:x0 + w], factor)``, the windows not copied.

    Sums of strided slices rather than ``reshape(...).sum(axis=(2, 4))``:
    NumPy reduces those short, strided axes ~7x slower than it adds slices.
    With an index array ``sel``, each column phase is gathered straight from
    ``buf`` (a third of a window each at factor 3), not the windows first.
    """
    h, w = (shape, shape) if isinstance(shape, int) else shape
    ys = slice(y0, y0 + h)
    if factor == 1:
        return np.array(buf[sel, ys, x0 : x0 + w], dtype=np.float32, order="C")
    # Column sums, then row sums, each added in phase order (the bytes depend on it).
    acc = np.array(buf[sel, ys, x0 : x0 + w : factor], dtype=np.float32)  # (n, H, W / f)
    for j in range(1, factor):
        acc += buf[sel, ys, x0 + j : x0 + w : factor]
    n = acc.shape[0]
    rows = acc.reshape(n, h // factor, factor, w // factor)
    out = rows[:, :, 0].copy()
    for i in range(1, factor):
        out += rows[:, :, i]
    out *= np.float32(1.0 / (factor * factor))
    return out


def centre_of_mass(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass ``(row, col)`` of each ``(n, H, W)`` image, in index coordinates.

    Blank images get the geometric centre.
    """
    _, h, w = images.shape
    rows = images.sum(axis=2).astype(np.float64)  # (n, H)
    cols = images.sum(axis=1).astype(np.float64)  # (n, W)
    mass = rows.sum(axis=1)
    inked = mass > 0
    safe = np.where(inked, mass, 1.0)
    cy = np.where(inked, rows @ _INDEX[:h] / safe, (h - 1) / 2)
    cx = np.where(inked, cols @ _INDEX[:w] / safe, (w - 1) / 2)
    return cy, cx


_INDEX = np.arange(4096)  # int64 pixel indices (as np.arange gives them)


def shift_images(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Translate each image by whole pixels ``(dy[i], dx[i])``, filling with 0.

    Ink shifted past the border is lost (callers keep shifts small).

    Examples
    --------
    >>> x = np.zeros((1, 3, 3), np.float32); x[0, 1, 1] = 1
    >>> shift_images(x, np.array([1]), np.array([-1]))[0].tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    _, h, w = images.shape
    dy = np.clip(np.asarray(dy, np.int64), -h, h)
    dx = np.clip(np.asarray(dx, np.int64), -w, w)
    if not (dy.any() or dx.any()):
        return images.copy()
    out = np.zeros_like(images)
    # One slice copy per distinct shift (a handful: shifts are small), for all
    # the images that share it.
    key = (dy + h) * (2 * w + 1) + (dx + w)
    if (key == key[0]).all():  # one shift for all (always so for one image)
        groups = [(int(key[0]), slice(None))]
    else:
        shifts, which = np.unique(key, return_inverse=True)
        groups = [(k, np.flatnonzero(which == j)) for j, k in enumerate(shifts.tolist())]
    for k, sel in groups:
        sy, sx = k // (2 * w + 1) - h, k % (2 * w + 1) - w
        if abs(sy) >= h or abs(sx) >= w:
            continue  # shifted off the canvas: stays blank
        dst = (slice(max(sy, 0), h + min(sy, 0)), slice(max(sx, 0), w + min(sx, 0)))
        src = (slice(max(-sy, 0), h + min(-sy, 0)), slice(max(-sx, 0), w + min(-sx, 0)))
        out[sel, dst[0], dst[1]] = images[sel, src[0], src[1]]
    return out


def _rasterise_capsules_reference(
    a: np.ndarray,
    b: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    valid: np.ndarray,
    size: int,
    soft: float = 0.5,
) -> np.ndarray:
    """The former per-layer rasteriser, kept as the reference for tests and benchmarks.

    Same contract as :func:`rasterise_capsules` (which it equals bit for bit),
    but one Python iteration per capsule index: ~27 NumPy calls per layer.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    n, n_c = valid.shape
    canvas = np.zeros((n, size, size), np.float32)
    if n == 0 or not valid.any():
        return canvas
    a = a.astype(np.float32, copy=False)
    b = b.astype(np.float32, copy=False)
    # Capsules are short (a fraction of a segment), so one radius per capsule,
    # the mean of its ends, is enough; it turns the ink profile into two
    # per-capsule constants: ink = clip(c1 - d * c2, 0, 1).
    r = (0.5 * (ra + rb)).astype(np.float32)
    c1 = np.float32(1.0 / soft)
    inv_sr = 1.0 / (np.float32(soft) * np.maximum(r, np.float32(1e-6)))
    lo = np.floor(np.minimum(a, b) - r[..., None]).astype(np.int64)  # (n, C, 2) window origin
    hi = np.ceil(np.maximum(a, b) + r[..., None]).astype(np.int64)
    views: dict[tuple[int, int], np.ndarray] = {}

    def windows_of(wy: int, wx: int) -> np.ndarray:
        if (wy, wx) not in views:
            views[wy, wx] = sliding_window_view(canvas, (wy, wx), axis=(1, 2), writeable=True)
        return views[wy, wx]

    for c in range(n_c):
        sel = np.flatnonzero(valid[:, c])
        if sel.size == 0:
            continue
        # Window of this layer: wide and tall enough for every capsule in it.
        span = (hi[sel, c] - lo[sel, c]).max(axis=0) + 1
        wx, wy = int(min(span[0], size)), int(min(span[1], size))
        x0 = np.clip(lo[sel, c, 0], 0, size - wx)
        y0 = np.clip(lo[sel, c, 1], 0, size - wy)
        ax, ay = a[sel, c, 0], a[sel, c, 1]
        ux, uy = b[sel, c, 0] - ax, b[sel, c, 1] - ay
        inv_l2 = 1.0 / np.maximum(ux * ux + uy * uy, np.float32(1e-12))
        # Pixel-centre offsets from a: rows (m, wy, 1) and columns (m, 1, wx).
        gx = x0[:, None] + np.arange(wx)
        gy = y0[:, None] + np.arange(wy)
        dx = (gx + 0.5).astype(np.float32) - ax[:, None]
        dy = (gy + 0.5).astype(np.float32) - ay[:, None]
        # Projection p = (q - a).u and |q - a|^2 are sums of a row term and a
        # column term: one full-size add each.
        proj = (dy * uy[:, None])[:, :, None] + (dx * ux[:, None])[:, None, :]
        dist2 = (dy * dy)[:, :, None] + (dx * dx)[:, None, :]
        t = proj * inv_l2[:, None, None]
        np.clip(t, 0.0, 1.0, out=t)
        # |q - a - t u|^2 = |q - a|^2 - t (2p - t |u|^2)
        l2 = (1.0 / inv_l2)[:, None, None]
        proj *= 2.0
        proj -= t * l2
        proj *= t
        dist2 -= proj
        np.maximum(dist2, 0.0, out=dist2)
        ink = np.sqrt(dist2, out=dist2)
        ink *= -inv_sr[sel, c][:, None, None]
        ink += c1
        np.clip(ink, 0.0, 1.0, out=ink)
        # Gather / max / scatter through a strided view of the windows: the
        # fancy index picks (digit, y0, x0) and the window rows are copied as
        # contiguous runs, much cheaper than a per-pixel index array.
        win = windows_of(wy, wx)
        np.maximum(win[sel, y0, x0], ink, out=ink)
        win[sel, y0, x0] = ink
    return canvas
