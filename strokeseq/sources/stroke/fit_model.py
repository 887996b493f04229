"""Fit the stroke model on the MNIST training split and write it as JSON.

Run as::

    python -m strokeseq.sources.stroke.fit_model --mnist-dir /path/to/mnist \\
        --out strokeseq/sources/stroke/stroke_model.json

Steps (see docs/synthetic.md):

1. choose ``--per-class`` training digits per class (seeded), optionally
   leaving out a fraction of the QMNIST writers (``--holdout``) so the model
   can be judged on writers it never saw;
2. trace each digit into ordered strokes (:mod:`.trace`: skeleton, skan graph,
   straightest continuation through junctions) and fit each stroke with a
   chain of ``SEGMENTS`` cubic Bezier segments by least squares;
3. measure the slant (the regression of x on y of the stroke points) and
   remove it;
4. analysis by synthesis (:mod:`.fit_verify`): draw each fitted program back
   with the package's renderer, rescale its pen until the rendering's stroke
   width is the source digit's, and drop programs whose rendering is far from
   the source or read as another digit by a classifier fitted on the other
   (untraced) digits of the fit part;
5. group the digits by class and stroke count (the 1s also by flag) and split
   each group into allographs by k-means on the control-point vectors;
6. keep, per allograph, its real frequency, the mean control points, the
   first principal components with their standard deviations, the residual
   spread, and the slant and log pen width (mean, standard deviation).

The output holds stroke parameters only, never pixels. Needs the ``[fit]``
extra (scikit-image, skan, scikit-learn). Deterministic for a given seed and
inputs.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

#: Cubic segments per stroke.
SEGMENTS = 4
#: Largest number of strokes kept per digit.
MAX_STROKES = 3
#: Points each stroke is resampled to before the least-squares fit.
RESAMPLE = 40
#: Principal components kept per allograph.
COMPONENTS = 8
#: Digits per allograph k-means aims at, and the most allographs per group.
PER_CLUSTER = 150
MAX_CLUSTERS = 12
#: Smallest allograph kept (digits); smaller groups are dropped with their weight.
MIN_CLUSTER = 25
#: Share of an allograph's digits farthest from its mean left out of its shape statistics.
TRIM = 0.0
#: Mass per length of a rendered stroke over its pen width: 0.75 in theory (soft edge 0.5),
#: 0.66 measured (the ink mass of drawn digits then matches MNIST: 100 vs 102 px).
MASS_PER_WIDTH = 0.66

LICENCE = (
    "Fitted on the MNIST database of handwritten digits (training split) by Yann LeCun, "
    "Corinna Cortes and Christopher J.C. Burges, made available under the Creative Commons "
    "Attribution-Share Alike 3.0 licence (CC BY-SA 3.0). This file holds statistics of "
    "stroke parameters (allograph frequencies, mean control points, principal components), "
    "never pixels."
)


def holdout_writers(writers: np.ndarray, fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean mask of the digits whose QMNIST writer falls in the held-out ``fraction``.

    The same rule as ``benchmarks/realism.py`` (``train_holdout_split``): a
    permutation of the writer ids by ``default_rng(seed)``, its first
    ``round(fraction * writers)`` held out.
    """
    uniq = np.unique(writers)
    held = np.random.default_rng(seed).permutation(uniq)[: max(1, round(fraction * uniq.size))]
    return np.isin(writers, held)


def _trace_many(images: np.ndarray) -> list[tuple[list[np.ndarray], float]]:
    from .trace import trace_digit

    return [trace_digit(im, MAX_STROKES) for im in images]


def trace_all(images: np.ndarray, jobs: int) -> list[tuple[list[np.ndarray], float]]:
    """Trace every image, in ``jobs`` processes (same result for any ``jobs``)."""
    if jobs <= 1 or len(images) < 200:
        return _trace_many(images)
    from concurrent.futures import ProcessPoolExecutor

    parts = np.array_split(np.arange(len(images)), jobs * 4)
    with ProcessPoolExecutor(jobs) as pool:
        done = pool.map(_trace_many, [images[p] for p in parts])
        return [r for part in done for r in part]


def stroke_vectors(strokes: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """Control points ``(T, 3 * SEGMENTS + 1, 2)`` of one digit, centred and de-slanted."""
    from .trace import bezier_chain_fit, resample

    pts = np.stack([resample(s, RESAMPLE) for s in strokes])  # (T, m, 2)
    lengths = np.array([np.linalg.norm(np.diff(s, axis=0), axis=1).sum() for s in strokes])
    w = np.repeat(lengths / RESAMPLE, RESAMPLE)
    flat = pts.reshape(-1, 2)
    mean = (flat * w[:, None]).sum(axis=0) / w.sum()
    d = flat - mean
    var_y = float((w * d[:, 1] ** 2).sum())
    slant = float((w * d[:, 0] * d[:, 1]).sum()) / var_y if var_y > 0 else 0.0
    ctrl = bezier_chain_fit(pts, SEGMENTS) - mean
    ctrl[..., 0] -= slant * ctrl[..., 1]
    return ctrl, slant


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


Program = tuple[int, np.ndarray, float, float, int]  # label, ctrl, slant, log width, index


def digit_programs(
    images: np.ndarray, labels: np.ndarray, jobs: int = 1
) -> tuple[list[Program], int]:
    """Trace and fit every digit: ``[(label, ctrl (t, P, 2), slant, log width, index)]``.

    The width is the tracer's first estimate (ink mass / skeleton length over
    :data:`MASS_PER_WIDTH`); :func:`check_programs` calibrates it.
    """
    out = []
    skipped = 0
    traced = trace_all(images, jobs)
    for i, (label, (strokes, width)) in enumerate(zip(labels.tolist(), traced, strict=True)):
        if not strokes or width <= 0:
            skipped += 1
            continue
        ctrl, slant = stroke_vectors(strokes)
        out.append((int(label), ctrl, slant, float(np.log(width / MASS_PER_WIDTH)), i))
    return out, skipped


def pad_programs(programs: list[Program]) -> tuple[np.ndarray, np.ndarray]:
    """Control points padded to ``(n, MAX_STROKES, P, 2)`` and the stroke counts."""
    n_p = 3 * SEGMENTS + 1
    ctrl = np.zeros((len(programs), MAX_STROKES, n_p, 2))
    counts = np.array([p[1].shape[0] for p in programs], np.int64)
    for i, p in enumerate(programs):
        ctrl[i, : counts[i]] = p[1]
    return ctrl, counts


def check_programs(
    programs: list[Program],
    images: np.ndarray,
    reader=None,
    slants: bool = False,
) -> tuple[list[Program], dict]:
    """Analysis by synthesis (:mod:`.fit_verify`): calibrate pen widths, drop bad fits.

    Parameters
    ----------
    programs : list
        From :func:`digit_programs` (``index`` into ``images``).
    images : (n, 28, 28) uint8
        The traced digits.
    slants : bool
        Also calibrate each program's slant so its drawing's ink moment is its
        source's (:func:`.fit_verify.calibrate_slants`; part of ``--pose``).
    reader : object with ``predict``, optional
        A classifier of real digits; renderings it reads as another digit are
        dropped. None skips that check.

    Returns
    -------
    kept : list
        The programs that pass, their slant and log width replaced by the calibrated ones.
    counts : dict
        How many were dropped by distance and by the reader.
    """
    from .fit_verify import (
        CHAMFER_MAX,
        calibrate_slants,
        calibrate_widths,
        chamfer,
        ink_features,
        ink_slant,
    )

    if not programs:
        return [], {"dropped_far": 0, "dropped_misread": 0}
    ctrl, n_str = pad_programs(programs)
    label = np.array([p[0] for p in programs])
    slant = np.array([p[2] for p in programs])
    width = np.exp([p[3] for p in programs])
    src = images[[p[4] for p in programs]].astype(np.float32) / np.float32(255)
    target = ink_features(src)
    width, ink = calibrate_widths(ctrl, n_str, slant, width, target, SEGMENTS)
    if slants:
        slant, ink = calibrate_slants(ctrl, n_str, slant, width, ink_slant(src), SEGMENTS)
    far = chamfer(ink, src) > CHAMFER_MAX
    misread = np.zeros(len(programs), bool)
    if reader is not None:
        misread = np.asarray(reader.predict(ink)) != label
    keep = ~far & ~misread
    for d in np.unique(label):  # a digit none of whose fits passes keeps them all (tiny fits)
        if not keep[label == d].any():
            log.warning("no fit of digit %d passes the check; keeping them all", d)
            keep[label == d] = True
    misread &= ~far & ~keep
    far &= ~keep
    log.info(
        "analysis by synthesis: %d programs, %d far from their digit, %d more misread",
        len(programs),
        int(far.sum()),
        int(misread.sum()),
    )
    kept = [
        (p[0], p[1], float(a), float(np.log(w)), p[4])
        for p, a, w, k in zip(programs, slant, width, keep, strict=True)
        if k
    ]
    return kept, {"dropped_far": int(far.sum()), "dropped_misread": int(misread.sum())}


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


def fit(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    seed: int = 0,
    jobs: int = 1,
    reader=None,
    check: bool = True,
    pose: bool = False,
) -> tuple[list[dict], dict]:
    """Fit the allographs of ``images``; returns ``(allographs, counts)``.

    ``reader``: a classifier of real digits for the fit check (see
    :func:`check_programs`); ``check=False`` skips analysis by synthesis (the
    widths stay the tracer's estimates). ``pose``: also calibrate slants and
    pen widths by the benchmark's measures (per program and per allograph,
    :func:`.fit_verify.calibrate_pose`) and set flagged two-stroke 1s apart
    (the fit's ``--pose``; not the shipped model: see docs/synthetic.md).
    """
    programs, skipped = digit_programs(images, labels, jobs)
    counts = {"digits": len(images), "untraceable": skipped}
    if check:
        programs, dropped = check_programs(programs, images, reader, slants=pose)
        counts.update(dropped)
    allographs = cluster(programs, seed, flag_strokes=pose)
    sources = [a.pop("_sources") for a in allographs]
    if check and reader is not None:
        from .fit_verify import calibrate_pose, pose_targets, readable

        doc = document(allographs, {}, seed, 0, 0.0)
        allographs, counts["dropped_allographs"] = readable(doc, reader)
    if check and reader is not None and pose:
        # Pose by synthesis against each kept allograph's source digits.
        kept = {(a["digit"], a["name"]) for a in allographs}
        ink = np.asarray(images, np.float32) / np.float32(255)
        target = [
            pose_targets(ink[s])
            for a, s in zip(doc["allographs"], sources, strict=True)
            if (a["digit"], a["name"]) in kept
        ]
        allographs = calibrate_pose(document(allographs, {}, seed, 0, 0.0), target)
    return allographs, counts


def build(
    mnist_dir: str | None,
    per_class: int,
    seed: int,
    holdout: float,
    jobs: int,
    pose: bool = False,
) -> dict:
    """Load MNIST train, pick the digits, fit; returns the JSON document."""
    from ..mnist.files import load_mnist
    from ..mnist.writers import load_writers

    images, labels = load_mnist("train", mnist_dir)
    keep = np.ones(len(labels), bool)
    if holdout > 0:
        writers = load_writers("train", mnist_dir, download=False)
        if writers is None:
            raise SystemExit("--holdout needs the QMNIST writer file (see docs/data.md)")
        keep &= ~holdout_writers(writers, holdout, seed)
    rng = np.random.default_rng(seed)
    chosen = []
    for d in range(10):
        idx = np.flatnonzero(keep & (labels == d))
        chosen.append(np.sort(rng.permutation(idx)[:per_class]))
    idx = np.concatenate(chosen)
    reader = fit_reader(images, labels, keep, idx)
    allographs, counts = fit(
        np.asarray(images[idx]),
        np.asarray(labels[idx]),
        seed=seed,
        jobs=jobs,
        reader=reader,
        pose=pose,
    )
    counts["per_digit"] = np.bincount(labels[idx], minlength=10).tolist()
    doc = document(allographs, counts, seed, per_class, holdout)
    if pose:  # only then, so that the default fit writes the same bytes as before
        doc["provenance"]["pose_by_synthesis"] = True
    return doc


def fit_reader(images: np.ndarray, labels: np.ndarray, keep: np.ndarray, traced: np.ndarray):
    """PCA-50 + 3-NN fitted on the fit part's digits that are not traced (all, if too few).

    Digits it reads the renderings with must not include the rendered digit
    itself (its source would vote for its own label).
    """
    from ...hardcases.reference import ReferenceClassifier

    rest = keep.copy()
    rest[traced] = False
    if np.bincount(labels[rest], minlength=10).min() < 50:
        rest = keep
    log.info("fit-check reader: PCA-50 + 3-NN on %d real digits", int(rest.sum()))
    return ReferenceClassifier(n_components=50, k=3).fit(
        np.asarray(images[rest]), np.asarray(labels[rest])
    )


def document(
    allographs: list[dict], counts: dict, seed: int, per_class: int, holdout: float
) -> dict:
    """The model file's JSON document: allographs, format, provenance and licence."""
    return {
        "format": "strokeseq-stroke-model",
        "version": 1,
        "segments_per_stroke": SEGMENTS,
        "max_strokes": MAX_STROKES,
        "allographs": allographs,
        "provenance": {
            "script": "python -m strokeseq.sources.stroke.fit_model",
            "data": "MNIST training split (train-images-idx3-ubyte, 60000 digits); never the test split",
            "seed": seed,
            "per_class": per_class,
            "holdout_writers": holdout,
            "counts": counts,
            "date": _dt.date.today().isoformat(),
        },
        "licence": LICENCE,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m strokeseq.sources.stroke.fit_model")
    p.add_argument("--mnist-dir", help="folder of the MNIST IDX files (else the usual search)")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--per-class", type=int, default=3000, help="training digits per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout", type=float, default=0.0, help="fraction of writers left out")
    p.add_argument("--jobs", type=int, default=1, help="tracing processes")
    p.add_argument(
        "--pose",
        action="store_true",
        help="also calibrate slants and pen widths by synthesis, split flagged two-stroke 1s "
        "(better shape statistics, worse CNN on 8s: see docs/synthetic.md)",
    )
    args = p.parse_args(argv)
    if args.per_class < 1 or not 0 <= args.holdout < 1 or args.jobs < 1:
        p.error("--per-class and --jobs must be >= 1 and --holdout in [0, 1)")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    doc = build(args.mnist_dir, args.per_class, args.seed, args.holdout, args.jobs, args.pose)
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(doc, separators=(",", ":")) + "\n", encoding="utf-8")
    tmp.replace(out)
    n = len(doc["allographs"])
    log.info("wrote %s: %d allographs, %d bytes", out, n, out.stat().st_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
