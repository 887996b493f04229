"""Argument types and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..atomic import atomic_write

__all__ = [
    "add_source_options",
    "int_arg",
    "seed_arg",
    "source_arg",
    "write_png_atomic",
]


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
        type=source_arg,
        default="mnist",
        help="digit images: mnist (real digits), synthetic (pen strokes), a registered "
        "source name or an import path package.module:Class (default: mnist)",
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
        "--jitter",
        type=float,
        metavar="PX",
        help="synthetic source: control-point jitter radius in px (default 2)",
    )
    add_augment_options(p)
    p.add_argument(
        "--seed", type=seed_arg, default=None, help="random seed (default: fresh entropy)"
    )


def add_augment_options(p: argparse.ArgumentParser) -> None:
    """``--augment CONFIG`` and a few direct flags that override its entries."""
    g = p.add_argument_group(
        "augmentation", "a preset or config file, and direct flags that override its entries"
    )
    g.add_argument(
        "--augment",
        metavar="CONFIG",
        help="preset (none, light, medium, heavy) or a TOML/JSON config file",
    )
    g.add_argument(
        "--elastic",
        type=float,
        metavar="ALPHA",
        help="elastic distortion of strength ALPHA (e.g. 34)",
    )
    g.add_argument(
        "--rotate", type=float, metavar="DEG", help="rotate each digit by up to ±DEG degrees"
    )
    g.add_argument(
        "--slant", type=float, metavar="DEG", help="slant the whole line by up to ±DEG degrees"
    )
    g.add_argument(
        "--stroke-width",
        type=float,
        metavar="R",
        help="thicken (R > 0) or thin (R < 0) strokes, px",
    )
    g.add_argument(
        "--noise", type=float, metavar="STD", help="Gaussian pixel noise of this std (ink units)"
    )


def augment_from_args(args: argparse.Namespace) -> dict | None:
    """The augmentation config the options describe, or None for none.

    The direct flags replace the matching transform of ``--augment`` (or of an
    empty config) and apply it to every sample (p = 1), with the other
    parameters of that transform left at the identity.
    """
    flags = {
        ("digit", "elastic"): None if args.elastic is None else {"alpha": [args.elastic] * 2},
        ("digit", "affine"): None
        if args.rotate is None
        else {
            "rotation": [-abs(args.rotate), abs(args.rotate)],
            "shear": [0, 0],
            "scale": [1, 1],
            "aspect": [1, 1],
            "translate_x": [0, 0],
            "translate_y": [0, 0],
        },
        ("digit", "stroke_width"): None
        if args.stroke_width is None
        else {"radius": [args.stroke_width] * 2},
        ("sequence", "slant"): None
        if args.slant is None
        else {"angle": [-abs(args.slant), abs(args.slant)]},
        ("sequence", "noise"): None if args.noise is None else {"std": [args.noise] * 2},
    }
    if args.augment is None and all(v is None for v in flags.values()):
        return None
    from ..augment import Augmenter

    config = Augmenter.from_config(args.augment).to_config() if args.augment else {}
    for (section, name), params in flags.items():
        if params is not None:
            config.setdefault(section, {})[name] = {"p": 1.0, **params}
    return Augmenter.from_config(config).to_config()  # validated here: bad values exit 2


def write_png_atomic(image: np.ndarray, path: Path, *, overwrite: bool) -> None:
    """Write an 8-bit grayscale PNG: to a temporary file, then renamed into place.

    A crash never leaves half a PNG under the final name. Without
    ``overwrite`` an existing file is never replaced (checked at the rename,
    with a hard link, so two writers cannot race onto one name).
    """
    from PIL import Image

    page = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    atomic_write(path, lambda fh: page.save(fh, format="PNG"), overwrite=overwrite)


def source_arg(text: str) -> str:
    """A registered source name or a ``package.module:Class`` import path."""
    from ..sources import is_source_name, registered_sources

    if not is_source_name(text):
        raise argparse.ArgumentTypeError(
            f"invalid choice: {text!r} (choose from {', '.join(registered_sources())} "
            "or an import path package.module:Class)"
        )
    return text
