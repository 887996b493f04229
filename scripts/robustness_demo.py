#!/usr/bin/env python
"""Run the reference classifier through the hard-case ladder and write the README figures.

Writes, under ``--out`` (default ``docs/``):

- ``hardcases_accuracy.png``: accuracy per level of every axis (single digits);
- ``hardcases_failures.png``: its worst failures, true -> predicted;
- ``hardcases_sequences.png``: sequence accuracy of a naive blank-column reader
  (:func:`strokeseq.hardcases.reference_read`) on the difficulty, jitter and
  touching axes;

and prints the markdown tables. Needs real MNIST (``STROKESEQ_MNIST_DIR``).

    STROKESEQ_MNIST_DIR=/work/shared/mnist python scripts/robustness_demo.py --per-level 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from strokeseq.hardcases import evaluate, make_ladder, reference_predict, reference_read
    from strokeseq.hardcases.figures import failures_sheet, plot_accuracy
    from strokeseq.hardcases.report import markdown_table

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-level", type=int, default=1000, help="digits per axis and level")
    ap.add_argument("--seq-per-level", type=int, default=300, help="sequences per level")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--source", choices=("synthetic", "mnist"), default="synthetic")
    ap.add_argument("--out", default="docs", help="folder for the PNGs (default docs/)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = "hardcases" if args.source == "synthetic" else "hardcases_mnist"

    t = time.perf_counter()
    ladder = make_ladder("all", args.per_level, args.seed, source=args.source)
    t_gen = time.perf_counter() - t
    t = time.perf_counter()
    report = evaluate(reference_predict, ladder, name="reference classifier (PCA+kNN)")
    t_eval = time.perf_counter() - t
    plot_accuracy(
        report,
        out / f"{prefix}_accuracy.png",
        title=f"reference classifier, {args.source} digits, {args.per_level} per level",
    )
    failures_sheet(report, out / f"{prefix}_failures.png", zoom=2)
    print(markdown_table(report))
    print(f"generated {len(ladder)} digits in {t_gen:.1f} s, evaluated in {t_eval:.1f} s")

    if args.seq_per_level > 0 and args.source == "synthetic":
        seqs = make_ladder(
            ["difficulty", "jitter", "touching"], args.seq_per_level, args.seed, kind="sequences"
        )
        srep = evaluate(reference_read, seqs, name="blank-column reader + reference classifier")
        plot_accuracy(
            srep,
            out / f"{prefix}_sequences.png",
            title=f"4-digit sequences, naive reader, {args.seq_per_level} per level",
        )
        print(markdown_table(srep))
    for p in sorted(out.glob(f"{prefix}_*.png")):
        print(f"wrote {p} ({p.stat().st_size // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
