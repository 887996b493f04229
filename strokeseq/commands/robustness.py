"""``strokeseq robustness``: run a user's model over the ladder and write a report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import positive_int
from .hardcases import add_ladder_options, make_ladder_from_args

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "robustness",
        help="score a model along the difficulty ladder (JSON, markdown, PNG report)",
        description=(
            "Run MODEL (package.module:function; digits: (n,28,28) array -> n labels, "
            "sequences: (n,28,W) array -> n strings) over the hard-case ladder and write "
            "OUT/robustness.json, .md, _accuracy.png, _failures.png, _levels.png and "
            "_confusion.png (OUT must be empty or new unless --overwrite). Example: strokeseq "
            "robustness --model strokeseq.hardcases.model:reference_predict --per-level 200"
        ),
    )
    p.add_argument(
        "--model", required=True, metavar="MODULE:FUNCTION", help="the model to load and call"
    )
    add_ladder_options(p, 100)
    p.add_argument(
        "--ladder",
        metavar="DIR",
        help="evaluate a set written by 'strokeseq hardcases' instead of generating one",
    )
    p.add_argument(
        "-o",
        "--output",
        default="robustness_report",
        metavar="OUT",
        help="report folder (default: robustness_report)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="write into OUT even if it is not empty"
    )
    p.add_argument(
        "--input-ink",
        choices=("white", "black"),
        default="white",
        help="model input polarity: ink 1.0 on 0.0 as in MNIST arrays (default) or ink 0.0 on 1.0",
    )
    p.add_argument(
        "--input-dtype",
        choices=("float32", "uint8"),
        default="float32",
        help="model input type: float in [0, 1] (default) or uint8 0..255",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=1024,
        help="images per model call (default 1024)",
    )
    p.add_argument(
        "--worst",
        type=int,
        default=56,
        help="failures in the contact sheet, taken from every axis and level (default 56)",
    )
    p.add_argument(
        "--mine",
        type=positive_int,
        metavar="N",
        help="also mine up to N hard cases into OUT/mined (difficulty knob, levels 1-6)",
    )
    p.add_argument(
        "--budget",
        type=positive_int,
        default=10_000,
        help="most samples generated while mining (default 10000)",
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..hardcases import (
        N_LEVELS,
        evaluate,
        load_model,
        mine_hard_cases,
        read_hardcases,
        write_report,
    )

    out = Path(args.output)
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not args.overwrite)):
        raise ValueError(
            f"{out} exists and is not an empty folder; pass --overwrite to replace its report, "
            "or choose another -o"
            if out.is_dir()
            else f"{out} exists and is not a folder"
        )
    predict = load_model(args.model)
    if args.ladder:
        ladder, _manifest = read_hardcases(args.ladder)
    else:
        ladder = make_ladder_from_args(args)
    report = evaluate(
        predict,
        ladder,
        ink=args.input_ink,
        dtype=args.input_dtype,
        batch_size=args.batch_size,
        worst=args.worst,
        name=args.model,
        progress=None,
    )
    paths = write_report(report, out)
    what = "sequence accuracy" if report.kind == "sequences" else "accuracy"
    print(f"{args.model}: {what} per level ({report.overall['n']} samples)", file=sys.stdout)
    print(f"  {'axis':<11} " + " ".join(f"{f'L{i}':>5}" for i in range(N_LEVELS)))
    for axis in dict.fromkeys(str(a) for a in ladder.axis):
        cells = " ".join("  -  " if v != v else f"{100 * v:5.1f}" for v in report.accuracy(axis))
        print(f"  {axis:<11} {cells}", file=sys.stdout)
    print(f"wrote {', '.join(str(p) for p in paths.values())}", file=sys.stdout)
    if args.mine:
        res = mine_hard_cases(
            predict,
            args.mine,
            budget=args.budget,
            kind=ladder.kind,
            rng=None if args.seed is None else args.seed + 1,
            source=args.source,
            split=args.split,
            data_dir=args.data_dir,
            length=args.length,
            width=args.width,
            ink=args.input_ink,
            dtype=args.input_dtype,
            out=out / "mined",
            overwrite=True,
            name=args.model,
            progress=None,
        )
        print(
            f"mined {res.found} hard cases ({res.failures} failures in {res.generated} samples, "
            f"budget {res.budget}) into {out / 'mined'}",
            file=sys.stdout,
        )
    return 0
