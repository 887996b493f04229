"""``strokeseq dataset``: generate (or finish) a sharded dataset of labelled sequences."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from .common import add_augment_options, augment_from_args, int_arg, positive_int, seed_arg

__all__ = ["add_parser", "config_from_args", "load_config_file", "run"]


def _length(text: str) -> int | tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", text)
    if not m:
        raise argparse.ArgumentTypeError(f"length must be N or MIN-MAX (e.g. 3-8), got {text!r}")
    lo = int(m.group(1))
    return lo if m.group(2) is None else (lo, int(m.group(2)))


def _width(text: str) -> int | dict[str, int]:
    from ..dataset.config import parse_width

    try:
        return parse_width(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _source(text: str) -> str | dict[str, float]:
    if "=" not in text:
        return text.strip()
    out: dict[str, float] = {}
    for part in text.split(","):
        name, _, w = part.partition("=")
        try:
            out[name.strip()] = float(w)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"source mix must look like mnist=0.7,synthetic=0.3, got {text!r}"
            ) from None
    return out


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "dataset",
        help="generate a sharded dataset (deterministic, resumable, parallel)",
        description=(
            "Generate COUNT labelled sequence images into the folder OUT as shards plus a "
            "manifest.json. Sample i depends only on (seed, split, i, config): rerunning the "
            "same command after an interruption finishes only the missing shards. "
            "Example: strokeseq dataset out --count 100000 --length 3-8 --spacing 0 10 "
            "--width 240 --workers 2 --seed 7"
        ),
    )
    p.add_argument("out", metavar="OUT", help="dataset folder (created; resumed if it exists)")
    p.add_argument("--count", "-n", type=positive_int, required=True, help="number of samples")
    g = p.add_argument_group(
        "content (default: the --config file, else 5 digits, 0-10 px, 160 px)"
    )
    g.add_argument("--config", metavar="FILE", help="dataset config as JSON or TOML")
    g.add_argument("--length", type=_length, help="digits per sequence: N or MIN-MAX")
    g.add_argument(
        "--sequences", metavar="FILE", help="draw sequences from this file (one per line)"
    )
    g.add_argument("--pattern", help="per-position digits, e.g. '9??[0-4]d' (? or d: any)")
    g.add_argument(
        "--spacing", nargs=2, type=int_arg, metavar=("MIN", "MAX"), help="gap range in pixels"
    )
    g.add_argument("--width", type=_width, help="image width: pixels (200) or 30n+10 per sample")
    g.add_argument(
        "--source", type=_source, help="mnist, synthetic, or a mix: mnist=0.7,synthetic=0.3"
    )
    g.add_argument("--split", choices=("train", "test"), help="MNIST split (default train)")
    g.add_argument("--layout", choices=("tile", "ink"), help="digit boxes (default tile)")
    g.add_argument("--ink", choices=("black", "white"), help="polarity (default black on white)")
    g.add_argument(
        "--writer", choices=("same",), help="all digits of a sample from one (drawn) writer"
    )
    g.add_argument("--jitter", type=float, help="synthetic source: control-point jitter (px)")
    add_augment_options(p)
    o = p.add_argument_group("output and execution")
    o.add_argument("--format", choices=("npz", "tar", "png"), default="npz", help="shard format")
    o.add_argument(
        "--compress",
        nargs="?",
        type=int,
        const=1,
        default=0,
        metavar="LEVEL",
        help="deflate NPZ shards (zlib level, default 1 when given)",
    )
    o.add_argument("--shard-size", type=positive_int, default=10_000, help="samples per shard")
    o.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="processes making shards: this one and N-1 spawned workers (default 1)",
    )
    o.add_argument("--seed", type=seed_arg, help="dataset seed (default: resumed or fresh)")
    o.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://host:8786")
    o.add_argument(
        "--transfer",
        choices=("shared", "client"),
        default="shared",
        help="Dask: workers write to OUT (shared file system) or send bytes back",
    )
    o.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST IDX files")
    o.add_argument("--overwrite", action="store_true", help="replace a different dataset in OUT")
    o.add_argument("--verify", action="store_true", help="re-hash shards kept when resuming")
    o.add_argument(
        "--wait",
        action="store_true",
        help="if another run is writing OUT, wait for it to finish (default: refuse)",
    )
    o.add_argument("--fsync", action="store_true", help="flush each shard to disk before renaming")
    o.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def load_config_file(path: str) -> dict[str, Any]:
    """A dataset config from a JSON or TOML file (a ``[dataset]`` table or the top level)."""
    from ..errors import CommandError

    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise CommandError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        from .._textdata import parse_toml_or_json

        data = parse_toml_or_json(text.decode(), ".toml" if path.endswith(".toml") else ".json")
    except (ValueError, UnicodeDecodeError) as exc:
        raise CommandError(
            f"config {path} is not valid {Path(path).suffix[1:] or 'JSON'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise CommandError(f"config {path} must hold a table of settings")
    return dict(data.get("dataset", data))


def config_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """Config dict: the --config file, overridden by each option given."""
    from ..errors import CommandError

    cfg = load_config_file(args.config) if args.config else {}
    cfg.pop("seed", None)
    for key in ("length", "pattern", "width", "source", "split", "layout", "ink", "writer"):
        value = getattr(args, key)
        if value is not None:
            cfg[key] = value
    if args.spacing is not None:
        cfg["spacing"] = tuple(args.spacing)
    if args.sequences:
        try:
            lines = Path(args.sequences).read_text().split()
        except OSError as exc:
            raise CommandError(f"cannot read {args.sequences}: {exc.strerror or exc}") from None
        cfg["sequences"] = lines
    if args.jitter is not None:
        cfg["synthetic"] = {**cfg.get("synthetic", {}), "jitter": args.jitter}
    augment = augment_from_args(args)
    if augment is not None:
        cfg["augment"] = augment
    return cfg


def run(args: argparse.Namespace) -> int:
    from ..dataset import DatasetConfig, generate_dataset

    config = DatasetConfig.from_dict(config_from_args(args))
    bar = None

    def progress(done: int, total: int) -> None:
        # The bar starts on the first call, after validation (no bar before an
        # error message), at what an earlier run left (resume).
        nonlocal bar
        if args.no_progress:
            return
        if bar is None:
            from tqdm import tqdm

            bar = tqdm(
                total=total,
                initial=done,
                unit="sample",
                unit_scale=True,
                file=sys.stderr,
                smoothing=0.1,
                dynamic_ncols=True,
            )
        bar.update(done - bar.n)

    # The CLI is quiet unless -v, but waiting for another run and taking over
    # from a killed one are things the user must see: one line each on stderr.
    import logging

    lock_log = logging.getLogger("strokeseq.dataset.folder_lock")
    notice = None
    if not getattr(args, "verbose", False):
        notice = logging.StreamHandler(sys.stderr)
        notice.setLevel(logging.WARNING)
        notice.setFormatter(logging.Formatter("strokeseq dataset: %(message)s"))
        lock_log.addHandler(notice)
    try:
        s = generate_dataset(
            args.out,
            args.count,
            config,
            args.seed,
            shard_size=args.shard_size,
            file_format=args.format,
            compress=args.compress,
            workers=args.workers,
            scheduler=args.scheduler,
            transfer=args.transfer,
            data_dir=args.data_dir,
            overwrite=args.overwrite,
            verify=args.verify,
            fsync=args.fsync,
            progress=progress,
            wait=args.wait,
        )
    finally:
        if bar is not None:
            bar.close()
        if notice is not None:
            lock_log.removeHandler(notice)
    rate = f"{s.samples_per_second:,.0f} samples/s" if s.samples_written else "nothing to do"
    kept = f", {s.shards_kept} kept from an earlier run" if s.shards_kept else ""
    print(
        f"{s.folder}: {s.count:,} samples in {s.shards} {args.format} shard(s) "
        f"({s.bytes / 2**20:,.1f} MiB), seed {s.seed}; wrote {s.shards_written} shard(s)"
        f"{kept} in {s.seconds:.1f} s ({rate})"
    )
    return 0
