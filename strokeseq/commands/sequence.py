"""``strokeseq sequence``: write PNG images of one digit sequence."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
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
        help=(
            "file name, or a folder to write into (an existing one, or any path ending "
            "in '/', created if missing) (default: SEQUENCE.png here)"
        ),
    )
    p.add_argument(
        "-n",
        "--count",
        type=positive_int,
        default=1,
        help=f"number of images (default 1, at most {MAX_COUNT})",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace existing files (default: pick a free name, or refuse for --output)",
    )
    add_source_options(p)
    p.set_defaults(run=run)


#: Most images one call writes (one PNG each, into one folder); more is a
#: dataset (``strokeseq dataset`` writes shards).
MAX_COUNT = 100_000

#: Most pixels one call generates in all (16 Gi, ~16 GiB as uint8); the images
#: are generated and written in chunks of about :data:`CHUNK_PIXELS`, so the
#: memory used stays near one chunk whatever the count.
MAX_TOTAL_PIXELS = 1 << 34
CHUNK_PIXELS = 1 << 25

#: Longest SEQUENCE used whole in a default file name; longer ones are cut
#: and get a hash suffix (file systems refuse names over 255 bytes).
MAX_STEM = 64


def _human_bytes(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if n < 1024 or unit == "PiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError  # pragma: no cover


def _check_size(args: argparse.Namespace) -> None:
    """Refuse counts and sizes that could not be written, before anything is done."""
    from ..errors import CommandError

    if args.count > MAX_COUNT:
        raise CommandError(
            f"--count {args.count} is over the limit of {MAX_COUNT} images per call "
            "(one PNG file each); use 'strokeseq dataset' for more"
        )
    total = args.count * 28 * max(args.width, 0)
    if total > MAX_TOTAL_PIXELS:
        raise CommandError(
            f"{args.count} images of {args.width}x28 px would take {_human_bytes(total)} "
            f"of pixels, over the limit of {_human_bytes(MAX_TOTAL_PIXELS)} per call; "
            "lower --count or WIDTH"
        )


def _default_stem(digits: str) -> str:
    if len(digits) <= MAX_STEM:
        return digits
    import hashlib

    return f"{digits[: MAX_STEM - 9]}-{hashlib.sha256(digits.encode()).hexdigest()[:8]}"


class _Namer:
    """Output names: explicit ones (refused if taken) or the next free default one.

    Default names (``305.png``, ``305_1.png``, ...) are claimed at the moment
    the file is created (an exclusive hard link), so concurrent runs in one
    folder each take the next free name instead of failing.
    """

    def __init__(self, args: argparse.Namespace) -> None:
        from ..errors import CommandError

        self.overwrite = args.overwrite
        self.count = args.count
        output = args.output
        if output is not None and not output.strip():
            raise CommandError("--output must not be empty (a file name or a folder)")
        out = Path(output) if output else None
        self.explicit = False
        if out is not None and (output.endswith(("/", os.sep)) or out.is_dir()):
            try:
                out.mkdir(parents=True, exist_ok=True)  # "-o newdir/" asks for a folder
            except OSError as exc:
                raise CommandError(f"cannot create output folder {output!r}: {exc}") from None
            self.folder, self.stem = out, _default_stem(args.digits)
        elif out is not None:
            if out.suffix.lower() != ".png":
                out = out.with_name(out.name + ".png")
            if not out.parent.is_dir():
                raise CommandError(
                    f"output folder {str(out.parent)!r} does not exist "
                    "(end --output with '/' to create it as a folder)"
                )
            self.folder, self.stem, self.explicit = out.parent, out.stem, True
        else:
            self.folder, self.stem = Path.cwd(), _default_stem(args.digits)
        self._next = 0

    def explicit_paths(self) -> list[Path] | None:
        """The fixed names of an explicit ``--output`` or of ``--overwrite``, else None."""
        if not (self.explicit or self.overwrite):
            return None
        if self.count == 1:
            return [self.folder / f"{self.stem}.png"]
        return [self.folder / f"{self.stem}_{i}.png" for i in range(self.count)]

    def candidates(self) -> Iterator[Path]:
        """Default names from the last one taken on (each tried once)."""
        while True:
            i = self._next
            self._next += 1
            yield self.folder / (f"{self.stem}.png" if i == 0 else f"{self.stem}_{i}.png")


def _chunks(count: int, width: int) -> Iterator[int]:
    per = max(1, CHUNK_PIXELS // (28 * max(width, 1)))  # width checked by the first chunk
    done = 0
    while done < count:
        n = min(per, count - done)
        yield n
        done += n


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..api import generate_sequences
    from ..errors import CommandError

    if not args.digits or not args.digits.isdigit() or not args.digits.isascii():
        raise CommandError(f"SEQUENCE must be digits 0-9 only, got {args.digits!r}")
    _check_size(args)
    source = args.source
    if args.jitter is not None:
        if source != "synthetic":
            raise CommandError("--jitter applies to --source synthetic only")
        from ..sources import get_source

        source = get_source("synthetic", jitter=args.jitter)
    augment = augment_from_args(args)

    def generate(n: int, rng) -> np.ndarray:
        return generate_sequences(
            [args.digits] * n,
            (args.min_spacing, args.max_spacing),
            args.width,
            source=source,
            rng=rng,
            layout=args.layout,
            ink=args.ink,
            split=args.split,
            data_dir=args.data_dir,
            writer=args.writer,
            augment=augment,
            dtype=np.uint8,
        )

    from ..rng import as_generator

    gen = as_generator(args.seed)
    chunks = _chunks(args.count, args.width)
    # The first chunk is generated (and so every argument validated: width,
    # spacing, data) before any name is looked at or any file is made.
    first = generate(next(chunks), gen)
    namer = _Namer(args)
    fixed = namer.explicit_paths()
    if fixed is not None and not args.overwrite:
        taken = [p for p in fixed if p.exists()]
        if taken:
            raise CommandError(f"{taken[0]} exists; use --overwrite to replace it")
    names = iter(fixed) if fixed is not None else None
    images: np.ndarray | None = first
    while images is not None:
        for image in images:
            path = _write(image, names, namer, args.overwrite)
            print(f"wrote {path} ({args.width}x28, sequence {args.digits})", file=sys.stdout)
        n = next(chunks, None)
        images = None if n is None else generate(n, gen)
    return 0


def _write(image, names: Iterator[Path] | None, namer: _Namer, overwrite: bool) -> Path:
    from ..errors import CommandError

    if names is not None:
        path = next(names)
        try:
            write_png_atomic(image, path, overwrite=overwrite)
        except FileExistsError:
            raise CommandError(f"{path} appeared while writing; nothing overwritten") from None
        return path
    for path in namer.candidates():
        try:
            write_png_atomic(image, path, overwrite=False)
        except FileExistsError:
            continue  # taken (by another run, or before): the next free name
        return path
    raise AssertionError  # pragma: no cover - candidates() never ends
