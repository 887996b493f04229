"""``strokeseq hardcases``: write a labelled set along the difficulty ladder."""

from __future__ import annotations

import argparse
import sys

from .common import positive_int, seed_arg, source_arg

__all__ = ["add_ladder_options", "add_parser", "levels_arg", "run"]


def levels_arg(text: str) -> list[int]:
    """Comma-separated levels such as ``0,3,6``."""
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected levels like 0,3,6, got {text!r}") from None


def add_ladder_options(p: argparse.ArgumentParser, per_level_default: int | None) -> None:
    """Options shared by ``hardcases`` and ``robustness``: which ladder to make."""
    from ..hardcases.ladder import AXES

    p.add_argument(
        "--axis",
        default="all",
        help=f"'all' or comma-separated axes among {', '.join(AXES)} (default: all)",
    )
    p.add_argument(
        "--per-level",
        type=positive_int,
        default=per_level_default,
        required=per_level_default is None,
        metavar="N",
        help="samples per axis and level"
        + ("" if per_level_default is None else f" (default {per_level_default})"),
    )
    p.add_argument(
        "--kind",
        choices=("digits", "sequences"),
        default="digits",
        help="single 28x28 digits or digit sequences (default: digits)",
    )
    p.add_argument("--levels", type=levels_arg, help="levels to make, e.g. 0,3,6 (default: all)")
    p.add_argument(
        "--source",
        type=source_arg,
        default="synthetic",
        help="base digits: a registered name (mnist, synthetic) or package.module:Class "
        "(default synthetic; the jitter axis is always synthetic)",
    )
    p.add_argument(
        "--split", choices=("train", "test"), default="test", help="MNIST split (default: test)"
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST IDX files")
    p.add_argument("--length", type=positive_int, default=4, help="sequence length (default 4)")
    p.add_argument("--width", type=positive_int, help="sequence image width (default 36n - 8)")
    p.add_argument("--seed", type=seed_arg, default=0, help="random seed (default 0)")


def make_ladder_from_args(args: argparse.Namespace):
    """The ladder the options describe, checked for size first, with a progress bar.

    Each (axis, level) is made by its own :func:`make_ladder` call with the
    same seed: the ladder draws every (axis, level) from its own child stream,
    so the parts are exactly those of one call, and the bar can advance per part.
    """
    from ..hardcases import Ladder, make_ladder
    from ..hardcases.ladder import AXES, N_LEVELS
    from ..hardcases.mining import check_size
    from ..hardcases.scoring import progress_bar

    text = args.axis.strip()
    axes = list(AXES) if text == "all" else [a.strip() for a in text.split(",") if a.strip()]
    if not axes:
        raise ValueError(f"--axis needs 'all' or axes among {', '.join(AXES)}")
    axes = list(dict.fromkeys(axes))  # make_ladder checks each name
    levels = list(range(N_LEVELS)) if args.levels is None else args.levels
    if not levels:
        raise ValueError(f"--levels needs at least one level among 0..{N_LEVELS - 1}")
    parts_n = len(axes) * len(levels)
    check_size(
        args.kind,
        args.per_level * parts_n,
        args.length,
        args.width,
        what=f"--per-level {args.per_level} x {len(axes)} axes x {len(levels)} levels",
    )
    kw = dict(
        kind=args.kind,
        source=args.source,
        split=args.split,
        data_dir=args.data_dir,
        length=args.length,
        width=args.width,
    )
    parts = []
    with progress_bar(None, total=parts_n, desc="ladder", unit="level") as bar:
        for a in axes:
            for i in levels:
                parts.append(make_ladder(a, args.per_level, args.seed, levels=[i], **kw))
                bar.update(1)
    info = dict(parts[0].info, axes=axes, levels=[int(i) for i in levels])
    return Ladder.concat(parts, info)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hardcases",
        help="write a labelled set along a difficulty ladder",
        description=(
            "Write OUT/hardcases.npz, OUT/manifest.json and OUT/labels.csv: labelled digits or "
            "sequences along the difficulty ladder of each axis (jitter, elastic, rotation, "
            "slant, thin, thick, touching) and the combined difficulty knob, with the level and "
            "parameters of every sample. Example: strokeseq hardcases hard/ --per-level 100"
        ),
    )
    p.add_argument("out", metavar="OUT", help="output folder (created if missing)")
    add_ladder_options(p, None)
    p.add_argument(
        "--ink",
        choices=("black", "white"),
        default="black",
        help="stored polarity: black ink on white (default) or white on black (MNIST arrays)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a set already in OUT")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..hardcases import write_hardcases

    ladder = make_ladder_from_args(args)
    paths = write_hardcases(args.out, ladder, ink=args.ink, overwrite=args.overwrite)
    axes = ", ".join(ladder.info["axes"])
    print(
        f"wrote {len(ladder)} {args.kind} ({axes}; {len(ladder.info['levels'])} levels x "
        f"{args.per_level}) to {paths['npz'].parent}",
        file=sys.stdout,
    )
    return 0
