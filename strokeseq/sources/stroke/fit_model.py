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
   each group into allographs by k-means on the control-point vectors
   (:mod:`.allographs`);
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

from .allographs import (  # noqa: F401 - re-exported: the fit's steps live in one namespace
    COMPONENTS,
    MAX_CLUSTERS,
    MAX_STROKES,
    MIN_CLUSTER,
    PER_CLUSTER,
    SEGMENTS,
    TRIM,
    Program,
    cluster,
    fit_group,
    has_flag,
    has_flag_stroke,
    summarise,
)

log = logging.getLogger(__name__)

#: Points each stroke is resampled to before the least-squares fit.
RESAMPLE = 40
#: Mass per length of a rendered stroke over its pen width: 0.75 in theory for a soft
#: edge of 0.5, 0.66 measured then (the ink mass of drawn digits matched MNIST: 100 vs
#: 102 px). Only a starting point: fit_verify calibrates the pen on drawn digits.
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
    :func:`.fit_allographs.calibrate_pose`) and set flagged two-stroke 1s apart
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
        from .fit_allographs import calibrate_pose, pose_targets, readable

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
