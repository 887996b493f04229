"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import numpy as np

__all__ = ["add_source_options", "int_arg", "seed_arg", "write_png_atomic"]


def int_arg(text: str) -> int:
    """An integer (negative allowed), with a clear message otherwise."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    value = int_arg(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def seed_arg(text: str) -> int:
    value = int_arg(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}")
    return value


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Options every generating command shares."""
    p.add_argument(
        "--source",
        choices=("mnist", "synthetic"),
        default="mnist",
        help="digit images: real MNIST digits or synthetic pen strokes (default: mnist)",
    )
    p.add_argument(
        "--split",
        choices=("train", "test"),
        default="train",
        help="MNIST split to draw digits from (default: train)",
    )
    p.add_argument("--data-dir", metavar="DIR", help="folder with the MNIST IDX files")
    p.add_argument(
        "--layout",
        choices=("tile", "ink"),
        default="tile",
        help="digit boxes: 28-px tiles, or tight ink boxes (negative gaps touch) (default: tile)",
    )
    p.add_argument(
        "--ink",
        choices=("black", "white"),
        default="black",
        help="black ink on white (default), or white ink on black as in MNIST arrays",
    )
    p.add_argument(
        "--writer",
        choices=("same",),
        default=None,
        help="'same': all digits of a sequence from one MNIST writer (QMNIST labels)",
    )
    p.add_argument(
        "--augment", metavar="CONFIG", help="augmentation config (TOML/JSON file or preset name)"
    )
    p.add_argument(
        "--seed", type=seed_arg, default=None, help="random seed (default: fresh entropy)"
    )


def write_png_atomic(image: np.ndarray, path: Path, *, overwrite: bool) -> None:
    """Write an 8-bit grayscale PNG: to a temporary file, then renamed into place.

    A crash never leaves half a PNG under the final name. Without
    ``overwrite`` an existing file is never replaced (checked at the rename,
    with a hard link, so two writers cannot race onto one name).
    """
    from PIL import Image

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(fh, format="PNG")
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails with FileExistsError if the name was taken
            os.unlink(tmp)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
