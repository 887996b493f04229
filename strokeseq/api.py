"""The public generation API: one sequence, or many at once."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path
from typing import Any

import numpy as np

from .compose import INK_CHOICES, LAYOUTS, SequenceBatch, arrange, to_image
from .layout import min_width, sample_gaps
from .rng import as_generator
from .sources import _MNIST, DigitSource, get_source
from .sources.base import TILE
from .sources.mnist import MnistSource
from .validate import check_data_dir, check_digits, check_spacing, check_split, check_width

__all__ = ["generate_numbers_sequence", "generate_sequences", "render_sequences"]

#: Rows composed at once by the batch API: keeps the working set in cache
#: and memory bounded by the chunk, not by the number of sequences.
CHUNK = 2048


def _check_options(layout: str, ink: str, dtype: Any, writer: str | None) -> Any:
    if dtype is np.float32 and layout == "tile" and ink == "black" and writer is None:
        return np.float32  # fast path of the defaults
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'tile' or 'ink', got {layout!r}")
    if ink not in INK_CHOICES:
        raise ValueError(f"ink must be 'black' (on white) or 'white' (on black), got {ink!r}")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or uint8, got {dtype!r}") from None
    if dt not in (np.float32, np.uint8):
        raise TypeError(f"dtype must be float32 or uint8, got {dt}")
    if writer not in (None, "same"):
        raise ValueError(f"writer must be None or 'same', got {writer!r}")
    return dt.type


def _source(source: str | DigitSource, split: str, data_dir: str | Path | None) -> DigitSource:
    if source == "mnist":
        # A plain dict look-up first: this runs on every single-image call.
        try:
            src = _MNIST.get((split, data_dir))
        except TypeError:  # unhashable data_dir: refused just below
            src = None
        if src is None:
            check_split(split)
            check_data_dir(data_dir)
            path = None if data_dir is None else os.fspath(data_dir)
            src = _MNIST[split, data_dir] = get_source("mnist", split=split, data_dir=path)
        return src
    check_split(split)  # refused even where the source does not use them
    check_data_dir(data_dir)
    return get_source(source)


def _required_width(src: DigitSource, labels: Sequence[int], lo: int, layout: str) -> int:
    n = len(labels)
    if layout == "tile":
        return min_width(n, lo)
    return min_width(n, lo, [src.max_ink_width(d) for d in labels])


def _too_narrow(
    width: int, need: int, n: int, spacing: tuple[int, int], layout: str
) -> ValueError:
    return ValueError(
        f"image_width={width} is too small: {n} digit(s) with spacing {spacing[0]}..{spacing[1]} "
        f"in the {layout} layout need at least {need} px"
    )


def generate_numbers_sequence(
    digits: Iterable[int] | str,
    spacing_range: tuple[int, int],
    image_width: int,
    *,
    source: str | DigitSource = "mnist",
    rng: Any = None,
    layout: str = "tile",
    ink: str = "black",
    split: str = "train",
    data_dir: str | Path | None = None,
    writer: str | None = None,
    augment: Any = None,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Image of a handwritten digit sequence.

    Parameters
    ----------
    digits : iterable of int or str
        The digits to write, each 0-9 (``[3, 0, 5]`` or ``"305"``).
    spacing_range : (int, int)
        Inclusive range ``(min, max)`` of the gap between consecutive digits,
        in pixels; each gap is drawn uniformly from the integers in it.
        Negative values (touching or overlapping digits) need ``layout="ink"``.
    image_width : int
        Width of the output in pixels. The digits are fitted in exactly: if
        the drawn gaps do not fit, they are drawn uniformly among the gaps that
        do (see the README); the width left over becomes margins at a random
        offset.
    source : {"mnist", "synthetic"} or DigitSource, default "mnist"
        Where digit images come from.
    rng : None, int, numpy.random.SeedSequence or numpy.random.Generator
        Randomness (SPEC 7): the same seed gives the same image.
    layout : {"tile", "ink"}, default "tile"
        Digit boxes are 28-px tiles (as in MNIST), or the tight ink columns of
        each digit, so that gaps are measured between strokes.
    ink : {"black", "white"}, default "black"
        ``"black"``: ink towards 0.0 on a white (1.0) background, the page as
        MNIST describes it. ``"white"``: ink 1.0 on 0.0, as in MNIST arrays.
    split : {"train", "test"}, default "train"
        MNIST split to draw from (``source="mnist"`` only).
    data_dir : str or path, optional
        Folder with the MNIST files (``source="mnist"`` only).
    writer : {None, "same"}
        ``"same"``: every digit of the sequence from one MNIST writer (QMNIST labels).
    augment : dict, str, path or Augmenter, optional
        Augmentation pipeline (see :mod:`strokeseq.augment`).
    dtype : numpy.float32 or numpy.uint8
        Output type; uint8 images hold 0..255.

    Returns
    -------
    numpy.ndarray
        ``(28, image_width)`` C-contiguous array, float32 in [0, 1] by default.

    Raises
    ------
    TypeError, ValueError
        For input of the wrong kind or out of range; the message says what is valid.
    """
    labels = check_digits(digits)
    lo, hi = check_spacing(spacing_range, allow_negative=layout == "ink")
    width = check_width(image_width)
    out_type = _check_options(layout, ink, dtype, writer)
    src = _source(source, split, data_dir)
    n = len(labels)
    need = (
        TILE * n + (n - 1) * lo if layout == "tile" else _required_width(src, labels, lo, layout)
    )
    if width < need:
        raise _too_narrow(width, need, n, (lo, hi), layout)
    gen = as_generator(rng)
    if type(src) is MnistSource and layout == "tile" and writer is None and augment is None:
        return _fast_mnist_tiles(src, labels, lo, hi, width, gen, ink, out_type)
    batch = _render(np.array([labels]), (lo, hi), width, src, gen, layout, writer, augment)
    return to_image(batch.ink[0], ink_color=ink, dtype=out_type)


def _fast_mnist_tiles(
    src: MnistSource,
    labels: list[int],
    lo: int,
    hi: int,
    width: int,
    gen: np.random.Generator,
    ink: str,
    out_type: Any,
) -> np.ndarray:
    """Single sequence, MNIST tiles: plain Python on a handful of numbers.

    Per-call overhead is the cost for one small image, so this path avoids
    small NumPy calls. It consumes the generator exactly as the batch path
    does for one row (``random(n)``, ``random(n - 1)``, ``random(1)``), so both
    give the same image for the same seed.
    """
    images = src._images if src._images is not None else src.images
    n = len(labels)
    k = n - 1
    u = gen.random(2 * n).tolist()
    r = hi - lo
    room = width - TILE * n - k * lo
    if room >= k * r:
        gaps = [lo + min(int(v * (r + 1)), r) for v in u[n : n + k]]
    else:
        gaps = sample_gaps(np.array([u[n : n + k]]), lo, hi, width - TILE * n)[0].tolist()
    slack = width - TILE * n - sum(gaps)
    x = min(int(u[-1] * (slack + 1)), slack)
    counts, starts, order = src._counts_list, src._starts_list, src._order_list
    canvas = np.zeros((TILE, width), np.uint8)
    for j, d in enumerate(labels):
        c = counts[d]
        canvas[:, x : x + TILE] = images[order[starts[d] + min(int(u[j] * c), c - 1)]]
        if j < k:
            x += TILE + gaps[j]
    return to_image(canvas, ink_color=ink, dtype=out_type)


def _render(
    labels: np.ndarray,
    spacing: tuple[int, int],
    width: int,
    src: DigitSource,
    gen: np.random.Generator,
    layout: str,
    writer: str | None,
    augment: Any,
) -> SequenceBatch:
    """Draw, augment and arrange one chunk of equal-length rows (ink units)."""
    n_rows, n = labels.shape
    digits = src.draw_sequences(labels, gen, writer=writer)
    aug = _augmenter(augment)
    if aug is not None and not aug.digit_is_identity:
        digits.ink = aug.digits(digits.as_float(), gen)
        digits.extents = None  # the ink moved: measure the boxes again
    batch = arrange(
        digits,
        labels,
        spacing,
        width,
        layout=layout,
        u_gaps=gen.random((n_rows, n - 1)),
        u_margin=gen.random(n_rows),
    )
    if aug is not None and not aug.sequence_is_identity:
        batch.ink, boxes = aug.sequences(batch.ink, batch.boxes, gen)  # uint8 or float ink
        batch.boxes = boxes.astype(np.int32)
    return batch


def _augmenter(augment: Any):
    """An Augmenter from a config, a preset name, a file, or None (no augmentation)."""
    if augment is None:
        return None
    from .augment import Augmenter

    aug = augment if isinstance(augment, Augmenter) else Augmenter.from_config(augment)
    return None if aug.is_identity else aug


def _as_label_rows(sequences: Any) -> list[list[int]] | np.ndarray:
    if isinstance(sequences, np.ndarray) and sequences.ndim == 2:
        if sequences.dtype.kind not in "iu":
            raise TypeError(f"sequences must hold integers 0-9, got dtype {sequences.dtype}")
        if sequences.shape[1] == 0:
            raise ValueError("sequences must have at least one digit each")
        if sequences.size and (sequences.min() < 0 or sequences.max() > 9):
            raise ValueError("sequences must hold digits 0-9")
        return sequences.astype(np.int64)
    if isinstance(sequences, (str, bytes, Set, Mapping)):
        raise TypeError(
            "sequences must be an ordered list of digit sequences, e.g. ['305', '12'], "
            f"not {type(sequences).__name__}"
        )
    try:
        rows = list(sequences)
    except TypeError:
        raise TypeError(
            f"sequences must be an iterable of digit sequences, not {type(sequences).__name__}"
        ) from None
    return [check_digits(s) for s in rows]


def render_sequences(
    sequences: Any,
    spacing_range: tuple[int, int],
    image_width: int,
    *,
    source: str | DigitSource = "mnist",
    rng: Any = None,
    layout: str = "tile",
    ink: str = "black",
    split: str = "train",
    data_dir: str | Path | None = None,
    writer: str | None = None,
    augment: Any = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, SequenceBatch]:
    """Many sequences of one length, with their labels, boxes and provenance.

    The lower-level form of :func:`generate_sequences`: ``sequences`` must all
    have the same length ``n`` (a ``(N, n)`` array or a list of digit strings).

    Returns
    -------
    images : numpy.ndarray
        ``(N, 28, image_width)``, polarity and dtype as requested.
    batch : SequenceBatch
        ``labels (N, n)``, ``boxes (N, n, 4)`` (x0, x1, y0, y1), ``gaps``, and
        the per-digit ``meta`` of the source (MNIST ``index`` and ``writer``).
    """
    rows = _as_label_rows(sequences)
    labels = rows if isinstance(rows, np.ndarray) else None
    if labels is None:
        lengths = {len(r) for r in rows} or {1}  # no rows: an empty batch of length 1
        if len(lengths) > 1:
            raise ValueError(
                "render_sequences needs sequences of one length; use generate_sequences"
            )
        labels = np.array(rows, dtype=np.int64).reshape(len(rows), lengths.pop())
    lo, hi = check_spacing(spacing_range, allow_negative=layout == "ink")
    width = check_width(image_width)
    out_type = _check_options(layout, ink, dtype, writer)
    src = _source(source, split, data_dir)
    gen = as_generator(rng)
    _check_widths(src, labels, (lo, hi), width, layout)
    n_rows, _n = labels.shape
    images = np.empty((n_rows, TILE, width), out_type)
    parts = []
    for s in range(0, n_rows, CHUNK):
        batch = _render(labels[s : s + CHUNK], (lo, hi), width, src, gen, layout, writer, augment)
        to_image(batch.ink, ink_color=ink, dtype=out_type, out=images[s : s + CHUNK])
        batch.ink = None  # type: ignore[assignment]  # the images hold it now
        parts.append(batch)
    return images, _concat(parts, labels)


def _check_widths(
    src: DigitSource, labels: np.ndarray, spacing: tuple[int, int], width: int, layout: str
) -> None:
    if labels.shape[0] == 0:
        return
    worst = labels[0]
    if layout == "ink":  # the row whose widest instances need the most room
        widest = np.array([src.max_ink_width(d) for d in range(10)])
        worst = labels[int(widest[labels].sum(axis=1).argmax())]
    need = _required_width(src, worst.tolist(), spacing[0], layout)
    if width < need:
        raise _too_narrow(width, need, labels.shape[1], spacing, layout)


def _concat(parts: list[SequenceBatch], labels: np.ndarray) -> SequenceBatch:
    if len(parts) == 1:
        return parts[0]
    n = labels.shape[1]
    if not parts:  # no rows at all
        return SequenceBatch(
            None,  # type: ignore[arg-type]
            labels,
            np.zeros((0, n, 4), np.int32),
            np.zeros((0, max(n - 1, 0)), np.int64),
        )
    meta = {k: np.concatenate([p.meta[k] for p in parts]) for k in parts[0].meta}
    return SequenceBatch(
        None,  # type: ignore[arg-type]
        labels,
        np.concatenate([p.boxes for p in parts]),
        np.concatenate([p.gaps for p in parts]),
        meta,
    )


def generate_sequences(
    sequences: Any,
    spacing_range: tuple[int, int],
    image_width: int,
    **options: Any,
) -> np.ndarray:
    """Images of many digit sequences at once (vectorised; the source is loaded once).

    Parameters
    ----------
    sequences : iterable of (iterable of int or str), or (N, n) int array
        The digit sequences; lengths may differ.
    spacing_range, image_width
        As in :func:`generate_numbers_sequence`, shared by all sequences.
    **options
        ``source``, ``rng``, ``layout``, ``ink``, ``split``, ``data_dir``,
        ``writer``, ``augment``, ``dtype``: as in :func:`generate_numbers_sequence`.

    Returns
    -------
    numpy.ndarray
        ``(N, 28, image_width)`` images, row ``i`` showing ``sequences[i]``.
    """
    rows = _as_label_rows(sequences)
    if isinstance(rows, np.ndarray):
        return render_sequences(rows, spacing_range, image_width, **options)[0]
    gen = as_generator(options.pop("rng", None))
    by_length: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_length.setdefault(len(r), []).append(i)
    if len(by_length) <= 1:
        return render_sequences(rows, spacing_range, image_width, rng=gen, **options)[0]
    width = check_width(image_width)
    out_type = _check_options(
        options.get("layout", "tile"),
        options.get("ink", "black"),
        options.get("dtype", np.float32),
        options.get("writer"),
    )
    images = np.empty((len(rows), TILE, width), out_type)
    for length in sorted(by_length):
        idx = by_length[length]
        group = np.array([rows[i] for i in idx], dtype=np.int64)
        images[idx] = render_sequences(group, spacing_range, width, rng=gen, **options)[0]
    return images
