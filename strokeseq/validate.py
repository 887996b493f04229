"""Input checks shared by the API, the batch API and the CLI.

Every check raises ``TypeError`` for a value of the wrong kind and
``ValueError`` for a value of the right kind out of range, with a message
that says what would have been valid.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Set
from pathlib import Path

import numpy as np

__all__ = [
    "check_data_dir",
    "check_digits",
    "check_labels",
    "check_spacing",
    "check_split",
    "check_width",
    "is_integer",
    "is_real",
]


def is_integer(x: object) -> bool:
    """True for an integer that is not a bool (Python or NumPy).

    The one "number but not bool" check of the package: ``True`` is an
    ``int`` to Python but never a count, a width or a seed to strokeseq.

    Examples
    --------
    >>> is_integer(3), is_integer(np.int8(3)), is_integer(True), is_integer(3.0)
    (True, True, False, False)
    """
    return isinstance(x, numbers.Integral) and not isinstance(x, (bool, np.bool_))


def is_real(x: object) -> bool:
    """True for a real number (int or float, Python or NumPy) that is not a bool.

    Examples
    --------
    >>> is_real(2.5), is_real(np.float32(1)), is_real(False), is_real("1")
    (True, True, False, False)
    """
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))


def check_digits(digits: object) -> list[int]:
    """Return ``digits`` as a list of ints 0..9.

    Accepts an iterable of integers (list, tuple, NumPy integer array) or a
    string of decimal digits such as ``"305"``.
    """
    if type(digits) is list and all(type(d) is int and 0 <= d <= 9 for d in digits) and digits:
        return digits  # fast path: the common case, checked without ABC look-ups
    if isinstance(digits, str):
        if not digits or not all("0" <= ch <= "9" for ch in digits):
            raise ValueError(
                f"digits string must be non-empty and contain only 0-9, got {digits!r}"
            )
        return [ord(ch) - 48 for ch in digits]
    if isinstance(digits, (bytes, bytearray, memoryview)):
        raise TypeError(
            "digits must be a str like '305' or a sequence of integers 0-9, "
            f"not {type(digits).__name__} (decode it first: b'305'.decode())"
        )
    if isinstance(digits, (Set, Mapping)):
        raise TypeError(
            "digits must be an ordered sequence (list, tuple, array or str like '305'), "
            f"not a {type(digits).__name__}: its order is not defined"
        )
    if isinstance(digits, np.ndarray):
        if digits.ndim != 1:
            raise ValueError(f"digits must be 1-D, got an array of shape {digits.shape}")
        if digits.dtype.kind not in "iu":
            raise TypeError(f"digits must be integers 0-9, got an array of dtype {digits.dtype}")
        out = digits.tolist()
    else:
        try:
            out = list(digits)  # type: ignore[call-overload]
        except TypeError:
            raise TypeError(
                "digits must be a sequence of integers 0-9 or a string like '305', "
                f"not {type(digits).__name__}"
            ) from None
        for d in out:
            if not is_integer(d):
                raise TypeError(f"each digit must be an integer 0-9, got {d!r}")
    if not out:
        raise ValueError("digits must contain at least one digit, got an empty sequence")
    for d in out:
        if not 0 <= d <= 9:
            raise ValueError(f"each digit must be in 0-9, got {d}")
    return [int(d) for d in out]


def check_labels(labels: object) -> np.ndarray:
    """Return ``labels`` as a 1-D int64 array of digits 0..9 (may be empty)."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers 0-9, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() > 9):
        raise ValueError("labels must be digits 0-9")
    return arr


def check_spacing(spacing_range: object, *, allow_negative: bool) -> tuple[int, int]:
    """Return ``(min, max)`` gap in pixels from a pair of integers.

    Negative gaps (touching or overlapping digits) are only meaningful in the
    ink layout; the tile layout needs ``min >= 0``.
    """
    if type(spacing_range) in (tuple, list) and len(spacing_range) == 2:
        lo, hi = spacing_range
        if type(lo) is int and type(hi) is int and 0 <= lo <= hi <= 100_000:
            return lo, hi  # fast path; everything else goes through the full checks
    if (
        isinstance(spacing_range, (str, bytes, bytearray, Set, Mapping))
        or not hasattr(spacing_range, "__len__")
        or (isinstance(spacing_range, np.ndarray) and spacing_range.ndim != 1)
    ):
        kind = type(spacing_range).__name__
        if isinstance(spacing_range, np.ndarray):
            kind = f"an array of shape {spacing_range.shape}"
        raise TypeError(f"spacing_range must be a pair (min, max) of integers, not {kind}")
    if len(spacing_range) != 2:  # type: ignore[arg-type]
        raise ValueError(
            f"spacing_range must be a pair (min, max), got {len(spacing_range)} values"  # type: ignore[arg-type]
        )
    lo, hi = spacing_range  # type: ignore[misc]
    for name, v in (("min", lo), ("max", hi)):
        if isinstance(v, (float, np.floating)):
            if not math.isfinite(v):
                raise ValueError(f"spacing {name} must be a finite integer, got {v}")
            if v != int(v):
                raise ValueError(f"spacing {name} must be a whole number of pixels, got {v}")
        elif not is_integer(v):
            raise TypeError(f"spacing {name} must be an integer number of pixels, got {v!r}")
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"spacing min must be <= max, got min={lo} > max={hi}")
    if lo < 0 and not allow_negative:
        raise ValueError(
            f"negative spacing (min={lo}) needs layout='ink'; the tile layout needs min >= 0"
        )
    if lo < -27:
        raise ValueError(f"spacing min must be >= -27 (digits overlap at most), got {lo}")
    if hi > 100_000:
        raise ValueError(f"spacing max must be <= 100000 pixels, got {hi}")
    return lo, hi


def check_width(image_width: object) -> int:
    """Return ``image_width`` as a positive int."""
    if type(image_width) is int and 0 < image_width <= 1_000_000:
        return image_width
    if isinstance(image_width, (float, np.floating)):
        if not math.isfinite(image_width) or image_width != int(image_width):
            raise ValueError(f"image_width must be a whole number of pixels, got {image_width}")
        image_width = int(image_width)
    if not is_integer(image_width):
        raise TypeError(
            f"image_width must be a positive integer, not {type(image_width).__name__}"
        )
    if image_width <= 0:
        raise ValueError(f"image_width must be a positive integer, got {image_width}")
    if image_width > 1_000_000:
        raise ValueError(f"image_width must be at most 1000000 pixels, got {image_width}")
    return int(image_width)


def check_split(split: object) -> str:
    """Return ``split`` if it is ``"train"`` or ``"test"``.

    Checked whatever the source, so a typo is caught even where the source
    (synthetic digits) does not use the split.

    Examples
    --------
    >>> check_split("test")
    'test'
    """
    if split not in ("train", "test") or not isinstance(split, str):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def check_data_dir(data_dir: object) -> str | os.PathLike[str] | None:
    """Return ``data_dir`` if it is None, a str or a path-like (a folder name).

    Examples
    --------
    >>> check_data_dir(None) is None
    True
    """
    if data_dir is None or isinstance(data_dir, (str, Path)):
        return data_dir  # type: ignore[return-value]
    if isinstance(data_dir, os.PathLike) and isinstance(os.fspath(data_dir), str):
        return data_dir
    raise TypeError(
        "data_dir must be a folder name (str or pathlib.Path) or None, "
        f"not {type(data_dir).__name__}"
    )
