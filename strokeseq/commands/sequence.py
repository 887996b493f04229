"""``strokeseq sequence``: write PNG images of one digit sequence."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import (
    add_source_options,
    augment_from_args,
    int_arg,
    positive_int,
    write_png_atomic,
)

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sequence",
        help="write a PNG of a digit sequence",
        description=(
            "Write a 28-px-high 8-bit grayscale PNG of SEQUENCE, gaps drawn uniformly from "
            "MIN..MAX pixels, exactly WIDTH pixels wide. Example: strokeseq sequence 305 0 10 120"
        ),
    )
    p.add_argument("digits", metavar="SEQUENCE", help="the digits to write, e.g. 305")
    p.add_argument("min_spacing", metavar="MIN", type=int_arg, help="smallest gap in pixels")
    p.add_argument("max_spacing", metavar="MAX", type=int_arg, help="largest gap in pixels")
    p.add_argument("width", metavar="WIDTH", type=int_arg, help="image width in pixels")
    p.add_argument(
        "-o",
        "--output",
        metavar="PATH",
        help="file name, or an existing folder to write into (default: SEQUENCE.png here)",
    )
    p.add_argument(
        "-n", "--count", type=positive_int, default=1, help="number of images (default 1)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files (default: pick a free name, or refuse for --output)",
    )
    add_source_options(p)
    p.set_defaults(run=run)


def _targets(args: argparse.Namespace) -> tuple[list[Path], bool]:
    """Output paths, and whether existing files should make the command fail.

    Default names (``305.png``, ``305_1.png``, ...) skip over existing files;
    an explicit ``--output`` file name is refused if it exists (unless
    ``--overwrite``) because the user asked for exactly that name.
    """

    out = Path(args.output) if args.output else None
    if out is not None and out.is_dir():
        folder, stem, explicit = out, args.digits, False
    elif out is not None:
        if out.suffix.lower() != ".png":
            out = out.with_name(out.name + ".png")
        if not out.parent.is_dir():
            from ..errors import CommandError

            raise CommandError(f"output folder {str(out.parent)!r} does not exist")
        if args.count == 1:
            return [out], not args.overwrite
        folder, stem, explicit = out.parent, out.stem, True
    else:
        folder, stem, explicit = Path.cwd(), args.digits, False
    if args.overwrite or explicit:
        names = (
            [f"{stem}.png"] if args.count == 1 else [f"{stem}_{i}.png" for i in range(args.count)]
        )
        return [folder / n for n in names], explicit and not args.overwrite
    paths: list[Path] = []
    i = 0
    while len(paths) < args.count:
        name = f"{stem}.png" if i == 0 else f"{stem}_{i}.png"
        if not (folder / name).exists():
            paths.append(folder / name)
        i += 1
    return paths, False


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..api import generate_sequences
    from ..errors import CommandError

    if not args.digits or not args.digits.isdigit() or not args.digits.isascii():
        raise CommandError(f"SEQUENCE must be digits 0-9 only, got {args.digits!r}")
    paths, refuse_existing = _targets(args)
    if refuse_existing:
        taken = [p for p in paths if p.exists()]
        if taken:
            raise CommandError(f"{taken[0]} exists; use --overwrite to replace it")
    source = args.source
    if args.jitter is not None:
        if source != "synthetic":
            raise CommandError("--jitter applies to --source synthetic only")
        from ..sources import get_source

        source = get_source("synthetic", jitter=args.jitter)
    # Everything is generated (and validated) before the first file is written.
    images = generate_sequences(
        [args.digits] * args.count,
        (args.min_spacing, args.max_spacing),
        args.width,
        source=source,
        rng=args.seed,
        layout=args.layout,
        ink=args.ink,
        split=args.split,
        data_dir=args.data_dir,
        writer=args.writer,
        augment=augment_from_args(args),
        dtype=np.uint8,
    )
    for image, path in zip(images, paths, strict=True):
        try:
            write_png_atomic(image, path, overwrite=args.overwrite)
        except FileExistsError:
            raise CommandError(f"{path} appeared while writing; nothing overwritten") from None
        print(f"wrote {path} ({args.width}x28, sequence {args.digits})", file=sys.stdout)
    return 0
