"""Bezier geometry of the stroke models: segment sampling and compiled glyph sets.

:func:`bezier_basis` / :func:`bezier_points` sample segments (promoted to
cubics) at ``k`` parameter values; consecutive samples are the capsules that
:mod:`.render` draws. :func:`compile_glyphs` turns the glyph files into padded
arrays so that a whole batch of digits, each with its own allograph, is
evaluated with a few matrix products (no Python loop per digit or per point).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .glyph_schema import GlyphSet

__all__ = ["CompiledGlyphs", "bezier_basis", "bezier_points", "compile_glyphs"]


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
    >>> np.round(bezier_points(ctrl, 4)[:, 0], 12).tolist()
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
