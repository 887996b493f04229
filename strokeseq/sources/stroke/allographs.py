"""Allographs from fitted stroke programs: grouping, k-means, flags, summaries.

The clustering half of :mod:`.fit_model`: digit programs (one per traced
training digit) are grouped by class and stroke count (1s also by flag),
each group is split into allographs by aligned k-means on the control-point
vectors, and every allograph is summarised (frequency, mean, principal
components, slant and pen width) as the JSON model stores it.
"""

from __future__ import annotations

import numpy as np

#: Cubic segments per stroke.
SEGMENTS = 4
#: Largest number of strokes kept per digit.
MAX_STROKES = 3
#: Principal components kept per allograph.
COMPONENTS = 8
#: Digits per allograph k-means aims at, and the most allographs per group.
PER_CLUSTER = 150
MAX_CLUSTERS = 12
#: Smallest allograph kept (digits); smaller groups are dropped with their weight.
MIN_CLUSTER = 25
#: Share of an allograph's digits farthest from its mean left out of its shape statistics.
TRIM = 0.0

Program = tuple[int, np.ndarray, float, float, int]  # label, ctrl, slant, log width, index


def _variants(t: int) -> np.ndarray:
    """Stroke orders x directions of a ``t``-stroke digit, as ``(V, t, 2)`` (stroke, reversed)."""
    from itertools import permutations, product

    out = [
        [(p, r) for p, r in zip(perm, rev, strict=True)]
        for perm in permutations(range(t))
        for rev in product((0, 1), repeat=t)
    ]
    return np.array(out, np.int64)


def fit_group(ctrl: np.ndarray, seed: int, iters: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Allographs of one (digit, stroke count) group: k-means up to stroke order and direction.

    Tracing cannot know which stroke a writer drew first or in which
    direction, so each digit joins the allograph nearest to any of its
    ``t! * 2**t`` re-orderings, and that re-ordering is kept (a Procrustes-like
    alignment; without it the mean of an allograph blends unrelated strokes).

    Parameters
    ----------
    ctrl : (n, t, P, 2) float array
        Control points of the group's digits.

    Returns
    -------
    labels : (n,) int64
        Allograph of each digit.
    aligned : (n, t * P * 2) float array
        The chosen re-ordering of each digit, flattened.
    """
    from sklearn.cluster import KMeans

    n, t = ctrl.shape[:2]
    var = _variants(t)  # (V, t, 2)
    views = ctrl[:, var[..., 0]]  # (n, V, t, P, 2)
    rev = var[..., 1].astype(bool)
    views[:, rev] = views[:, rev][:, :, ::-1]
    flat = views.reshape(n, len(var), -1)
    k = int(np.clip(round(n / PER_CLUSTER), 1, MAX_CLUSTERS))
    init = flat[:, 0]
    if k > 1:
        km = KMeans(n_clusters=k, n_init=4, random_state=seed).fit(init)
        centres = km.cluster_centers_
    else:
        centres = init.mean(axis=0, keepdims=True)
    sq = (flat**2).sum(axis=-1)  # (n, V)
    for _ in range(iters):
        d = sq[..., None] - 2 * flat @ centres.T + (centres**2).sum(axis=1)  # (n, V, k)
        best = d.reshape(n, -1).argmin(axis=1)
        view, lab = np.divmod(best, k)
        chosen = flat[np.arange(n), view]
        new = np.stack(
            [chosen[lab == c].mean(axis=0) if np.any(lab == c) else centres[c] for c in range(k)]
        )
        if np.allclose(new, centres):
            break
        centres = new
    return lab.astype(np.int64), chosen


def summarise(vectors: np.ndarray, slant: np.ndarray, log_width: np.ndarray) -> dict:
    """Mean, principal components and spreads of one allograph's digits.

    The shape statistics leave out the :data:`TRIM` share of the digits
    farthest from the allograph's mean: a few outliers would otherwise widen
    every principal component and draw shapes nobody writes.
    """
    count = len(vectors)
    if TRIM > 0 and count > 10:
        d = np.linalg.norm(vectors - vectors.mean(axis=0), axis=1)
        near = d <= np.quantile(d, 1 - TRIM)
        vectors, slant, log_width = vectors[near], slant[near], log_width[near]
    m = len(vectors)
    mean = vectors.mean(axis=0)
    _, s, vt = np.linalg.svd(vectors - mean, full_matrices=False)
    var = s**2 / max(m - 1, 1)
    c = min(COMPONENTS, m - 1, vt.shape[0])
    residual = float(np.sqrt(var[c:].sum() / vectors.shape[1]))
    r = lambda a, nd=3: np.round(np.asarray(a, np.float64), nd).tolist()  # noqa: E731
    return {
        "count": int(count),
        "mean": r(mean),
        "components": r(vt[:c], 4),
        "sd": r(np.sqrt(var[:c])),
        "residual": round(residual, 4),
        "slant": r([slant.mean(), slant.std()], 4),
        "log_width": r([log_width.mean(), log_width.std()], 4),
    }


def has_flag(ctrl: np.ndarray) -> bool:
    """A one-stroke 1 that starts with an up-stroke (a flag) before its stem.

    Strokes start at the end nearer the top left, so a flag is a start below
    (by 6 % of the height) and left (by 12 %) of the stroke's top.
    """
    from .trace import bezier_chain_basis

    pts = bezier_chain_basis(40, SEGMENTS) @ ctrl[0]
    y, x = pts[:, 1], pts[:, 0]
    h = y.max() - y.min()
    top = int(y.argmin())
    return bool(h > 0 and top < 20 and y[0] - y[top] > 0.06 * h and x[top] - x[0] > 0.12 * h)


def has_flag_stroke(ctrl: np.ndarray) -> bool:
    """A two-stroke 1 whose short stroke is a flag: it leaves the stem's top down to the left.

    The tracer does not follow turns sharper than about 110 degrees, so a 1
    written with a flag in one movement is traced as a stem and a short
    stroke meeting near the stem's top. A crossing bar or a foot meets the
    stem lower. Flag: one end of the short stroke within 40 % of the stem's
    height from its top, the other end below that end (by 4 %), to its left
    (by 15 %), and in the upper 70 % of the stem (thresholds read off 58
    traced two-stroke 1s of the training split).
    """
    from .trace import bezier_chain_basis

    pts = bezier_chain_basis(40, SEGMENTS) @ ctrl  # (2, 40, 2)
    length = np.linalg.norm(np.diff(pts, axis=1), axis=2).sum(axis=1)
    stem, flag = pts[int(length.argmax())], pts[int(length.argmin())]
    h = stem[:, 1].max() - stem[:, 1].min()
    if h <= 0:
        return False
    top = stem[int(stem[:, 1].argmin())]
    ends = flag[[0, -1]]
    near = np.linalg.norm(ends - top, axis=1)
    at, other = ends[int(near.argmin())], ends[int(near.argmax())]
    return bool(
        near.min() < 0.4 * h
        and other[1] - at[1] > 0.04 * h
        and at[0] - other[0] > 0.15 * h
        and other[1] - top[1] < 0.7 * h
    )


def _subgroups(
    d: int, t: int, rows: list[Program], flag_strokes: bool = False
) -> list[tuple[str, list[Program]]]:
    """The groups k-means splits: one per stroke count; 1s also split by flag.

    ``flag_strokes``: split two-stroke 1s too (:func:`has_flag_stroke`).
    """
    if d == 1 and (t == 1 or (t == 2 and flag_strokes)):
        test = has_flag if t == 1 else has_flag_stroke
        flag = [test(r[1]) for r in rows]
        return [
            (f"{t}s", [r for r, f in zip(rows, flag, strict=True) if not f]),
            (f"{t}s-flag", [r for r, f in zip(rows, flag, strict=True) if f]),
        ]
    return [(f"{t}s", rows)]


def cluster(programs: list[Program], seed: int, flag_strokes: bool = False) -> list[dict]:
    """Group digit programs by class and stroke count, split into allographs, summarise."""
    allographs = []
    for d in range(10):
        mine = [p for p in programs if p[0] == d]
        sizes_t = [sum(p[1].shape[0] == t for p in mine) for t in range(MAX_STROKES + 1)]
        for t in range(1, MAX_STROKES + 1):
            rows_t = [p for p in mine if p[1].shape[0] == t]
            # Rare stroke counts are dropped, but every digit keeps its commonest one.
            if len(rows_t) < 2 or (len(rows_t) < MIN_CLUSTER and sizes_t[t] < max(sizes_t)):
                continue
            groups = _subgroups(d, t, rows_t, flag_strokes)
            largest = max(len(g[1]) for g in groups)
            for prefix, rows in groups:
                if len(rows) < 2 or (len(rows) < MIN_CLUSTER and len(rows) < largest):
                    continue
                ctrl = np.stack([r[1] for r in rows])
                slant = np.array([r[2] for r in rows])
                logw = np.array([r[3] for r in rows])
                lab, vec = fit_group(ctrl, seed)
                sizes = np.bincount(lab)
                # Largest allograph first, so names are stable and readable.
                for rank, c in enumerate(np.argsort(-sizes, kind="stable")):
                    sel = lab == c
                    if sel.sum() < MIN_CLUSTER and len(sizes) > 1:
                        continue
                    entry = {"digit": d, "name": f"{prefix}-{rank}", "strokes": t}
                    entry["frequency"] = round(float(sel.sum()) / len(mine), 5)
                    entry.update(summarise(vec[sel], slant[sel], logw[sel]))
                    entry["_sources"] = [r[4] for r, k in zip(rows, sel, strict=True) if k]
                    allographs.append(entry)
    return allographs
