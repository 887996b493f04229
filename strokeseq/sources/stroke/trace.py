"""Real digit images to ordered pen strokes (used by the fitting script only).

A digit is skeletonised on a 2x zoomed canvas (:func:`skimage.morphology.skeletonize`),
its skeleton becomes a graph of branches (:class:`skan.Skeleton`), short spurs
are pruned, and branches are chained into strokes by following the straightest
continuation at each junction, as a pen passing through a crossing would. Each
stroke is then resampled by arc length and fitted with a chain of cubic Bezier
segments by linear least squares (:func:`bezier_chain_fit`).

Needs the ``[fit]`` extra (scikit-image, skan); the package never imports
this module at run time.
"""

from __future__ import annotations

import numpy as np

__all__ = ["bezier_chain_basis", "bezier_chain_fit", "resample", "trace_digit"]

#: Zoom of the canvas the skeleton is computed on.
ZOOM = 2
#: Ink threshold (0..1) of the zoomed digit.
THRESHOLD = 0.4
#: Spurs shorter than this (frame pixels) are pruned.
SPUR = 2.5
#: Strokes shorter than this (frame pixels) are dropped.
MIN_STROKE = 2.0
#: Largest turn (cos of the angle) still followed through a junction.
MIN_COS = -0.35


def resample(points: np.ndarray, m: int) -> np.ndarray:
    """``m`` points evenly spaced by arc length along a ``(k, 2)`` polyline."""
    seg = np.linalg.norm(np.diff(points, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    if s[-1] <= 0:
        return np.repeat(points[:1], m, axis=0)
    t = np.linspace(0.0, s[-1], m)
    return np.stack([np.interp(t, s, points[:, 0]), np.interp(t, s, points[:, 1])], axis=1)


def bezier_chain_basis(m: int, segments: int) -> np.ndarray:
    """``(m, 3 * segments + 1)`` weights of a C0 chain of cubics at ``m`` even parameters."""
    u = np.linspace(0.0, segments, m)
    idx = np.minimum(u.astype(np.int64), segments - 1)
    t = u - idx
    s = 1 - t
    w = np.stack([s**3, 3 * s * s * t, 3 * s * t * t, t**3], axis=1)
    basis = np.zeros((m, 3 * segments + 1))
    for j in range(4):
        basis[np.arange(m), 3 * idx + j] += w[:, j]
    return basis


def bezier_chain_fit(points: np.ndarray, segments: int) -> np.ndarray:
    """Least-squares control points ``(..., 3 * segments + 1, 2)`` of resampled strokes.

    ``points`` is ``(..., m, 2)``, evenly spaced by arc length; the chain's
    parameter is taken proportional to arc length (one pseudo-inverse for all).
    """
    m = points.shape[-2]
    pinv = np.linalg.pinv(bezier_chain_basis(m, segments))
    return np.einsum("pm,...md->...pd", pinv, points)


def _merge_nodes(ids: np.ndarray, coords: np.ndarray) -> dict[int, int]:
    """Map path-end pixel ids to node ids; 8-adjacent junction pixels become one node."""
    uniq = np.unique(ids)
    parent = {int(u): int(u) for u in uniq}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    c = coords[uniq]
    close = np.abs(c[:, None, :] - c[None, :, :]).max(axis=2) <= 1
    for i, j in zip(*np.nonzero(np.triu(close, 1)), strict=True):
        parent[find(int(uniq[i]))] = find(int(uniq[j]))
    return {int(u): find(int(u)) for u in uniq}


def _key(p: np.ndarray) -> float:
    """Where writers start: top first, then left."""
    return float(p[1] + 0.5 * p[0])


def _direction(pts: np.ndarray, at_end: bool, span: int = 6) -> np.ndarray:
    k = min(span, len(pts) - 1)
    d = pts[-1] - pts[-1 - k] if at_end else pts[k] - pts[0]
    n = np.linalg.norm(d)
    return d / n if n > 0 else d


def _length(pts: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum())


def trace_digit(image: np.ndarray, max_strokes: int = 3) -> tuple[list[np.ndarray], float]:
    """Ordered strokes of one ``(28, 28)`` uint8 digit (ink 255) and its pen width.

    Returns
    -------
    strokes : list of (k, 2) float arrays
        ``(x, y)`` points in the 28x28 frame (pixel centres at ``i + 0.5``),
        longest stroke first, at most ``max_strokes``; closed strokes start at
        their top and open ones at the end nearer the top left.
    width : float
        Mean pen width in pixels: ink mass over skeleton length.
    """
    import skan
    from scipy import ndimage as ndi
    from skimage.morphology import skeletonize

    img = image.astype(np.float64) / 255.0
    up = ndi.zoom(img, ZOOM, order=1)
    skel = skeletonize(up > THRESHOLD)
    if skel.sum() < 3:
        return [], 0.0
    sk = skan.Skeleton(skel)
    # Zoomed index -> frame coordinate (ndimage.zoom aligns the corner pixel centres).
    f = (img.shape[0] - 1) / (up.shape[0] - 1)
    paths = []
    for i in range(sk.n_paths):
        ids = sk.path(i)
        rc = sk.coordinates[ids].astype(np.float64)
        paths.append((int(ids[0]), int(ids[-1]), rc[:, ::-1] * f + 0.5))
    ends = np.array([[a, b] for a, b, _ in paths])
    node = _merge_nodes(ends.ravel(), sk.coordinates.astype(np.int64))
    paths = [(node[a], node[b], p) for a, b, p in paths]

    # Prune spurs: short branches with a free end hanging off a junction.
    for _ in range(3):
        deg: dict[int, int] = {}
        for a, b, _p in paths:
            deg[a] = deg.get(a, 0) + 1
            deg[b] = deg.get(b, 0) + 1
        keep = []
        for a, b, p in paths:
            free = (deg[a] == 1) != (deg[b] == 1)
            spur = free and max(deg[a], deg[b]) >= 3 and _length(p) < SPUR
            keep.append(not spur)
        if all(keep):
            break
        paths = [p for p, k in zip(paths, keep, strict=True) if k]
    deg = {}
    for a, b, _p in paths:
        deg[a] = deg.get(a, 0) + 1
        deg[b] = deg.get(b, 0) + 1

    unused = set(range(len(paths)))
    strokes = []
    while unused:
        # Start at a free end (top left first), else on the longest remaining branch.
        starts = [(i, e) for i in unused for e in (0, 1) if deg[paths[i][e]] == 1]
        if starts:
            i, e = min(starts, key=lambda s: _key(paths[s[0]][2][-1 if s[1] else 0]))
        else:
            i = max(unused, key=lambda j: _length(paths[j][2]))
            p = paths[i][2]
            e = 0 if _key(p[0]) <= _key(p[-1]) else 1
        unused.discard(i)
        a, b, p = paths[i]
        pts = p[::-1] if e else p
        cur = a if e else b
        while True:
            best, best_cos, best_pts, best_next = None, MIN_COS, None, None
            d_in = _direction(pts, at_end=True)
            for j in unused:
                ja, jb, q = paths[j]
                for start, end, qq in ((ja, jb, q), (jb, ja, q[::-1])):
                    if start != cur:
                        continue
                    c = float(d_in @ _direction(qq, at_end=False))
                    if c > best_cos:
                        best, best_cos, best_pts, best_next = j, c, qq, end
            if best is None:
                break
            unused.discard(best)
            pts = np.concatenate([pts, best_pts[1:]])
            cur = best_next
        strokes.append(pts)

    strokes = [s for s in strokes if len(s) >= 2 and _length(s) >= MIN_STROKE]
    strokes.sort(key=_length, reverse=True)
    strokes = [_canonical(s) for s in strokes[:max_strokes]]
    total = sum(_length(s) for s in strokes)
    width = float(img.sum() / total) if total > 0 else 0.0
    return strokes, width


def _canonical(pts: np.ndarray) -> np.ndarray:
    """Closed strokes start at the top, anticlockwise on the page; open ones top left first."""
    if np.linalg.norm(pts[0] - pts[-1]) < 1.5 and _length(pts) > 8:
        x, y = pts[:, 0], pts[:, 1]
        if float((x[:-1] * y[1:] - x[1:] * y[:-1]).sum()) > 0:  # y points down
            pts = pts[::-1]
        top = int(np.argmin(pts[:-1, 1]))
        return np.concatenate([pts[top:-1], pts[: top + 1]])
    return pts if _key(pts[0]) <= _key(pts[-1]) else pts[::-1]
