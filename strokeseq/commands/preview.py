"""``strokeseq preview``: a contact sheet of a dataset folder or of a dataset config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..atomic import atomic_write
from .common import positive_int, seed_arg

__all__ = ["add_parser", "run"]


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "preview",
        help="contact sheet PNG of a dataset (or of a config) with the labels",
        description=(
            "Write a PNG grid of the first COUNT samples of a dataset folder (made by "
            "'strokeseq dataset'), or of the samples a JSON/TOML dataset config would make, "
            "each with its digit string under it."
        ),
    )
    p.add_argument("source", metavar="OUT_OR_CONFIG", help="dataset folder or config file")
    p.add_argument("--count", "-n", type=positive_int, default=64, help="samples (default 64)")
    p.add_argument(
        "-o",
        "--output",
        metavar="PNG",
        help="output file (default: preview.png in the folder, or CONFIG.png)",
    )
    p.add_argument("--columns", type=positive_int, help="grid columns")
    p.add_argument("--scale", type=positive_int, default=2, help="zoom (default 2)")
    p.add_argument("--seed", type=seed_arg, default=0, help="seed for a config (default 0)")
    p.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST IDX files")
    p.add_argument("--no-verify", action="store_true", help="skip the shard hash check")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import CommandError
    from ..sheets import contact_sheet

    src = Path(args.source)
    images: list[np.ndarray] = []
    captions: list[str] = []
    if src.is_dir():
        from ..dataset import iter_shards

        for _entry, cols in iter_shards(src, verify=not args.no_verify, allow_partial=True):
            for r in range(len(cols["index"])):
                if len(images) >= args.count:
                    break
                images.append(cols["images"][r, :, : int(cols["width"][r])])
                captions.append(str(cols["text"][r]))
            if len(images) >= args.count:
                break
        out = Path(args.output) if args.output else src / "preview.png"
    elif src.is_file():
        from ..dataset import DatasetConfig, SampleContext, generate
        from .dataset import load_config_file

        data = load_config_file(str(src))
        seed = data.pop("seed", args.seed)
        ctx = SampleContext(DatasetConfig.from_dict(data), seed, args.data_dir)
        ctx.check_widths()
        cols = generate(ctx, np.arange(args.count))
        images = [cols["images"][r, :, : int(cols["width"][r])] for r in range(args.count)]
        captions = [str(t) for t in cols["text"]]
        out = Path(args.output) if args.output else src.with_suffix(".png")
    else:
        raise CommandError(f"{src} is neither a dataset folder nor a config file")
    if not images:
        raise CommandError(f"{src} has no finished shards to show yet")
    sheet = contact_sheet(images, captions, columns=args.columns, scale=args.scale)
    atomic_write(out, lambda fh: sheet.save(fh, format="PNG"))
    print(f"wrote {out} ({len(images)} samples, {sheet.width}x{sheet.height})", file=sys.stdout)
    return 0
