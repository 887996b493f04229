"""Realism benchmark: is a digit source worth training on? (issue #8)

Draws ``--n`` digits (balanced labels) from a source, trains on them and
reads real MNIST digits; prints Markdown tables:

- accuracy of a small CNN (torch, CPU) and of the PCA-50 + 5-NN proxy trained
  on the source, beside the real-data ceiling (the same script and seed
  trained on ``--n`` real training digits), overall and per digit;
- readability: the project's reference classifier (fitted on MNIST train)
  reading the source digits;
- the per-digit shape statistics (ink mass, stroke width, aspect, slant: mean
  and std; within-class spread) of the source against the real evaluation
  digits, with the real training digits against them as the noise reference;
- memorisation: distance to the nearest training digit, source vs real.

``--eval test`` reads the MNIST test split (the reported figures);
``--eval holdout`` reads the writer-held-out part of the training split and
takes the ceiling's training digits from the rest (design decisions)::

    python benchmarks/bench_realism.py --source synthetic --n 20000 --eval test
    python benchmarks/bench_realism.py --source synthetic --source-options '{"jitter": 3}' \\
        --eval holdout --no-cnn
    python benchmarks/bench_realism.py --source mypkg.mymodule:MySource --n 5000

``--source`` is a registered name (``strokeseq.get_source``) or
``module:attribute`` (a DigitSource class or factory called with the options).
Needs real MNIST (``STROKESEQ_MNIST_DIR``), QMNIST writers for ``holdout``,
and torch for the CNN (``pip install -e .[bench]``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import realism as R  # a sibling module, not a package


def make_source(name: str, options: dict[str, Any]):
    """A registered source name or ``module:attribute``, built with ``options``."""
    from strokeseq import get_source

    return get_source(name, **options)


def balanced(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` labels, each digit ``n // 10`` or one more times, in random order."""
    return rng.permutation(np.arange(n) % 10)


def real_subset(y: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Indices into ``y`` drawn without replacement with the label counts of ``labels``."""
    parts = []
    for d in range(10):
        pool = np.flatnonzero(y == d)
        k = int((labels == d).sum())
        if k > len(pool):
            raise ValueError(f"only {len(pool)} real training digits {d}, {k} requested")
        parts.append(rng.choice(pool, k, replace=False))
    return rng.permutation(np.concatenate(parts))


def _mean_accuracy(runs: list[R.Accuracy]) -> R.Accuracy:
    """Mean overall and per-digit accuracy of several runs."""
    return R.Accuracy(
        float(np.mean([a.overall for a in runs])), np.mean([a.per_digit for a in runs], axis=0)
    )


def run(
    source: str = "synthetic",
    options: dict[str, Any] | None = None,
    *,
    n: int = 20000,
    eval_on: str = "test",
    cnn: bool = True,
    ceiling: bool = True,
    augment: str | None = None,
    seed: int = 0,
    epochs: int = 3,
    n_memo: int = 1000,
    cnn_seeds: int = 1,
    log=print,
) -> dict[str, Any]:
    """Run the whole benchmark; returns every figure (plain Python and lists).

    ``cnn_seeds``: CNNs trained per training set (seeds ``seed``, ``seed + 1``, ...);
    the CNN rows are their mean, each run is listed too (one run's per-digit
    figures move by several points between seeds: the 8s of the same 20 000
    synthetic digits were read at 75-89 %).
    """
    options = options or {}
    seeds = np.random.SeedSequence(seed).spawn(4)
    clock = time.perf_counter()

    def step(what: str) -> None:
        log(f"  [{time.perf_counter() - clock:6.1f} s] {what}", file=sys.stderr)

    src = make_source(source, options)  # a bad name or option fails before any work
    if eval_on == "test":
        xr, yr = R.mnist_split("train")
        xe, ye = R.mnist_split("test")
    else:
        xr, yr = R.mnist_split("fit")
        xe, ye = R.mnist_split("holdout")
    step(f"real data: {len(xr)} training digits, {len(xe)} evaluation digits ({eval_on})")

    labels = balanced(n, np.random.default_rng(seeds[0]))
    xs = np.ascontiguousarray(src.sample(labels, np.random.default_rng(seeds[1])), np.float32)
    step(f"drew {n} digits from {src!r}")
    if augment:
        from strokeseq import Augmenter

        xs = Augmenter.from_config(augment).digits(xs, np.random.default_rng(seeds[2]))
        step(f"augmented with {augment!r}")
    idx = real_subset(yr, labels, np.random.default_rng(seeds[3]))
    xc, yc = xr[idx], yr[idx]  # the ceiling's training digits: same size and label counts

    out: dict[str, Any] = {"source": source, "options": options, "n": n, "eval": eval_on}
    out["augment"], out["seed"], out["cnn_seeds"] = augment, seed, cnn_seeds
    acc: dict[str, R.Accuracy] = {}
    acc["proxy source"] = R.proxy_accuracy(xs, labels, xe, ye)
    if ceiling:
        acc["proxy ceiling"] = R.proxy_accuracy(xc, yc, xe, ye)
    step("proxy accuracy")
    for which, (tx, ty) in (("source", (xs, labels)), ("ceiling", (xc, yc))):
        if not cnn or (which == "ceiling" and not ceiling):
            continue
        runs = []
        for k in range(cnn_seeds):
            runs.append(R.cnn_accuracy(tx, ty, xe, ye, epochs=epochs, seed=seed + k))
            step(f"CNN on the {which}, seed {seed + k}")
        acc[f"CNN {which}"] = _mean_accuracy(runs)
        if cnn_seeds > 1:
            acc.update({f"CNN {which}, seed {seed + k}": a for k, a in enumerate(runs)})
    from strokeseq import reference_classifier

    acc["readability"] = R.Accuracy.of(reference_classifier().predict(xs), labels)
    step("readability")
    out["accuracy"] = {
        k: {"overall": a.overall, "per_digit": a.per_digit.tolist()} for k, a in acc.items()
    }

    real_stats = R.shape_stats(xe, ye)
    cmp_src = R.compare_stats(R.shape_stats(xs, labels), real_stats, ("source", "real"))
    cmp_ref = R.compare_stats(R.shape_stats(xc, yc), real_stats, ("real train", "real"))
    step("shape statistics")
    for key, c in (("stats source", cmp_src), ("stats real train", cmp_ref)):
        out[key] = {
            "n_over_15": c.n_over_15,
            "n_over_30": c.n_over_30,
            "min_spread_ratio": c.min_spread_ratio,
            "spread_ratio": c.spread_ratio.tolist(),
            "rel": c.rel.tolist(),
            "mean": c.a.mean.tolist(),
            "std": c.a.std.tolist(),
        }
    out["stats real"] = {"mean": real_stats.mean.tolist(), "std": real_stats.std.tolist()}

    memo = R.memorisation(xs, xr, xe, n=n_memo, seed=seed)
    memo_ref = R.memorisation(xc, xr, xe, n=n_memo, seed=seed)
    step("memorisation")
    out["memorisation"] = {"source": memo.__dict__, "real train (copies)": memo_ref.__dict__}
    out["_tables"] = (acc, cmp_src, cmp_ref, memo, memo_ref)
    return out


def report(res: dict[str, Any], command: str) -> str:
    """The Markdown report of :func:`run`."""
    acc, cmp_src, cmp_ref, memo, memo_ref = res["_tables"]
    try:
        load = "load average {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())
    except OSError:
        load = "load average unknown"
    real = (
        "MNIST test (10 000)"
        if res["eval"] == "test"
        else "the writer-held-out part of MNIST train"
    )
    lines = [
        f"# Realism: source `{res['source']}` {json.dumps(res['options'])}"
        + (f", augment `{res['augment']}`" if res["augment"] else ""),
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, {load} "
        "(shared machine), seed {}".format(res["seed"]),
        f"`{command}`",
        "",
        f"## Train on {res['n']} digits, read {real}",
        "",
        "| model | trained on source | trained on real (ceiling) |",
        "| --- | ---: | ---: |",
    ]
    for model in ("CNN", "proxy"):
        if f"{model} source" in acc:
            name = "PCA-50 + 5-NN proxy"
            if model == "CNN":
                k = res.get("cnn_seeds", 1)
                name = "small CNN (3 epochs)" + (f", mean of {k} seeds" if k > 1 else "")
            top = acc.get(f"{model} ceiling")
            lines.append(
                f"| {name} | {100 * acc[f'{model} source'].overall:.1f} % | "
                + (f"{100 * top.overall:.1f} % |" if top else "(--no-ceiling) |")
            )
    lines.append(
        f"| reference classifier reads the source digits | "
        f"{100 * acc['readability'].overall:.1f} % | |"
    )
    lines += [
        "",
        "Per digit (%):",
        "",
        "| | " + " | ".join(str(d) for d in range(10)) + " | min |",
        "| --- |" + " ---: |" * 11,
    ]
    for key, a in acc.items():
        lines.append(
            f"| {key} | "
            + " | ".join(f"{100 * v:.1f}" for v in a.per_digit)
            + f" | {100 * np.nanmin(a.per_digit):.1f} |"
        )
    lines += [
        "",
        "## Shape statistics against the real evaluation digits",
        "",
        f"- source: {cmp_src.summary()}",
        f"- real training digits (noise reference): {cmp_ref.summary()}",
        "",
        "Source against real (`*` > 15 %, `**` > 30 %):",
        "",
        cmp_src.to_markdown(),
        "",
        "## Memorisation: mean L2 distance to the nearest MNIST training digit",
        "",
        "| digits | distance | / real evaluation digits | near copies |",
        "| --- | ---: | ---: | ---: |",
        f"| source ({memo.n}) | {memo.source:.3f} | {memo.ratio:.3f} | "
        f"{100 * memo.near_copies:.1f} % |",
        f"| real evaluation digits ({memo.n}) | {memo.real:.3f} | 1 | 1 % |",
        f"| real training digits (copies, {memo_ref.n}) | {memo_ref.source:.3f} | "
        f"{memo_ref.ratio:.3f} | {100 * memo_ref.near_copies:.0f} % |",
        "",
        "Near copies: share nearer to a training digit than the nearest 1 % of the real "
        "evaluation digits.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--source", default="synthetic", help="name or module:attribute")
    ap.add_argument("--source-options", default="{}", help="JSON object of constructor options")
    ap.add_argument("--n", type=int, default=20000, help="digits to train on (default 20000)")
    ap.add_argument("--eval", choices=("test", "holdout"), default="test", dest="eval_on")
    ap.add_argument("--cnn", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train on --n real digits (the same for every source: skip it to save time)",
    )
    ap.add_argument("--augment", default=None, help="augmentation preset or config file")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cnn-seeds", type=int, default=1, help="CNNs per training set (seeds seed, seed+1, ...)"
    )
    ap.add_argument("--n-memo", type=int, default=1000, help="digits in the memorisation sample")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure here")
    args = ap.parse_args(argv)
    try:
        options = json.loads(args.source_options)
        if not isinstance(options, dict):
            raise ValueError("not a JSON object")
    except ValueError as exc:
        print(f"error: --source-options must be a JSON object ({exc})", file=sys.stderr)
        return 2
    if not 1 <= args.cnn_seeds <= 20:
        print(f"error: --cnn-seeds must be in 1..20, got {args.cnn_seeds}", file=sys.stderr)
        return 2
    if not 10 <= args.n <= 60000:
        print(f"error: --n must be in 10..60000, got {args.n}", file=sys.stderr)
        return 2
    try:
        res = run(
            args.source,
            options,
            n=args.n,
            eval_on=args.eval_on,
            cnn=args.cnn,
            ceiling=args.ceiling,
            augment=args.augment,
            seed=args.seed,
            epochs=args.epochs,
            n_memo=args.n_memo,
            cnn_seeds=args.cnn_seeds,
        )
    except ModuleNotFoundError as exc:  # torch for the CNN, or a --source module
        print(
            f"error: {exc} (the CNN needs `pip install -e .[bench]`; or --no-cnn)", file=sys.stderr
        )
        return 2
    except (ValueError, TypeError, OSError) as exc:  # bad options, missing or bad data
        print(f"error: {exc}", file=sys.stderr)
        return 2
    command = "python benchmarks/bench_realism.py " + " ".join(
        a if a.replace("-", "").replace(".", "").replace("_", "").isalnum() else f"'{a}'"
        for a in (sys.argv[1:] if argv is None else argv)
    )
    print(report(res, command))
    if args.json:
        res = {k: v for k, v in res.items() if not k.startswith("_")}
        args.json.write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
