"""The public generation API: one sequence, or many at once."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping, Set
from pathlib import Path
from typing import Any

import numpy as np

from .compose import (
    LAYOUTS,
    SequenceBatch,
    check_dtype,
    check_ink,
    compose_rows,
    to_image,
)
from .layout import required_width
from .pages import _SINGLE_PLANS
from .rng import as_generator
from .sources import DigitSource, source_for
from .sources.base import TILE
from .tiles import plan_for, single_drawn, single_tiles, tiles_into
from .validate import check_digits, check_spacing, check_width

__all__ = ["generate_numbers_sequence", "generate_sequences", "render_sequences"]

#: Ink-canvas bytes composed at once by the batch API: the working set (the
#: drawn tiles, the canvas, the output block) stays in the CPU cache, and
#: memory is bounded by the chunk, not by the number of sequences.
CHUNK_BYTES = 1024 * 1024
#: At least this many rows per chunk, so per-chunk overhead stays small.
MIN_CHUNK = 16
#: Rows whose uniforms the tile fast path draws at once (rounded to whole
#: chunks): bounds its index arrays (~50 bytes per digit) for any batch size.
BLOCK_ROWS = 1 << 16


def chunk_rows(width: int) -> int:
    """Rows per chunk of the batch API for an image width.

    A function of the width only (not of the dtype, the count or ``out``):
    the chunks fix the order of the random draws, so the same seed gives
    the same images whatever the dtype and whether ``out`` is given.
    """
    return max(MIN_CHUNK, CHUNK_BYTES // (TILE * width))


def _check_out(out: Any, shape: tuple[int, int, int], dtype: Any) -> np.ndarray:
    """Validate a caller's output array before any work."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, not {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, got {out.shape}")
    if out.dtype != np.dtype(dtype):
        raise TypeError(
            f"out has dtype {out.dtype} but the images are {np.dtype(dtype)}; "
            "pass dtype=out.dtype or an array of the requested dtype"
        )
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    return out


def _check_options(layout: str, ink: str, dtype: Any, writer: str | None) -> Any:
    if dtype is np.float32 and layout == "tile" and ink == "black" and writer is None:
        return np.float32  # fast path of the defaults
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be 'tile' or 'ink', got {layout!r}")
    check_ink(ink)
    out_type = check_dtype(dtype)
    if writer not in (None, "same"):
        raise ValueError(f"writer must be None or 'same', got {writer!r}")
    return out_type


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
    if layout == "tile" and writer is None and augment is None:
        # The options of an earlier call that took the tile fast path: they
        # were all checked then, so only the width is left to check.
        try:
            plan = _SINGLE_PLANS.get((source, split, data_dir, ink, dtype))
        except TypeError:  # an unhashable option: the checks below say what is wrong
            plan = None
        if plan is not None:
            n = len(labels)
            if width < TILE * n + (n - 1) * lo:
                raise _too_narrow(width, TILE * n + (n - 1) * lo, n, (lo, hi), layout)
            return single_tiles(plan, labels, lo, hi, width, as_generator(rng))
    out_type = _check_options(layout, ink, dtype, writer)
    src = source_for(source, split, data_dir)
    n = len(labels)
    need = (
        TILE * n + (n - 1) * max(lo, 0)
        if layout == "tile"
        else required_width(labels, lo, layout, src)
    )
    if width < need:
        raise _too_narrow(width, need, n, (lo, hi), layout)
    gen = as_generator(rng)
    if layout == "tile" and writer is None and augment is None and src.uniform_draws:
        plan = plan_for(src, ink, out_type)
        if plan is not None:
            if len(_SINGLE_PLANS) >= 8:  # plans hold converted tiles: keep few
                _SINGLE_PLANS.clear()
            with contextlib.suppress(TypeError):  # unhashable options are not remembered
                _SINGLE_PLANS[(source, split, data_dir, ink, dtype)] = plan
            return single_tiles(plan, labels, lo, hi, width, gen)
        # No tile bank: the same uniforms through the composer.
        n = len(labels)
        u = gen.random(2 * n)
        row = np.array([labels])
        digits = src.draw_from_uniforms(row, u[:n][None])
        uniforms = (u[n : 2 * n - 1][None], u[2 * n - 1 :])
        batch = compose_rows(digits, row, (lo, hi), width, uniforms=uniforms)
        return to_image(batch.ink[0], ink_color=ink, dtype=out_type)
    if layout == "tile" and writer is None and augment is None:
        # Drawn digits (no tile bank, e.g. synthetic): compose_rows's placement in
        # plain Python, without the ink boxes the single call does not return.
        digits = src.draw_sequences(np.array([labels]), gen)
        line = single_drawn(digits.ink, lo, hi, width, gen)
        return to_image(line, ink_color=ink, dtype=out_type)
    batch = _render(np.array([labels]), (lo, hi), width, src, gen, layout, writer, augment)
    return to_image(batch.ink[0], ink_color=ink, dtype=out_type)


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
    """Draw one chunk of equal-length rows and compose it (ink units)."""
    digits = src.draw_sequences(labels, gen, writer=writer)
    return compose_rows(
        digits, labels, spacing, width, layout=layout, rng=gen, augmenter=_augmenter(augment)
    )


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
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, SequenceBatch]:
    """Many sequences of one length, with their labels, boxes and provenance.

    The lower-level form of :func:`generate_sequences`: ``sequences`` must all
    have the same length ``n`` (a ``(N, n)`` array or a list of digit strings).

    The other parameters are those of :func:`generate_sequences`.

    Returns
    -------
    images : numpy.ndarray
        ``(N, 28, image_width)``, polarity and dtype as requested (``out``
        itself when given).
    batch : SequenceBatch
        ``labels (N, n)``, ``boxes (N, n, 4)`` (x0, x1, y0, y1), ``gaps``, and
        the per-digit ``meta`` of the source (MNIST ``index`` and ``writer``).
    """
    return _render_rows(
        sequences,
        spacing_range,
        image_width,
        source=source,
        rng=rng,
        layout=layout,
        ink=ink,
        split=split,
        data_dir=data_dir,
        writer=writer,
        augment=augment,
        dtype=dtype,
        out=out,
        images_only=False,
    )


def _render_rows(
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
    out: np.ndarray | None = None,
    images_only: bool,
) -> tuple[np.ndarray, SequenceBatch | None]:
    """:func:`render_sequences`; with ``images_only`` the batch is None (fast paths allowed)."""
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
    src = source_for(source, split, data_dir)
    gen = as_generator(rng)
    need = required_width(labels, lo, layout, src)
    if width < need:
        raise _too_narrow(width, need, labels.shape[1], (lo, hi), layout)
    n_rows, _n = labels.shape
    shape = (n_rows, TILE, width)
    images = np.empty(shape, out_type) if out is None else _check_out(out, shape, out_type)
    aug = _augmenter(augment)
    fast = images_only and layout == "tile" and writer is None and aug is None
    plan = plan_for(src, ink, out_type) if fast and src.uniform_draws else None
    if plan is not None and images.flags.c_contiguous:
        tiles_into(images, labels, (lo, hi), plan, gen, chunk_rows(width), BLOCK_ROWS)
        return images, None
    step = chunk_rows(width)
    parts = []
    for s in range(0, n_rows, step):
        batch = _render(labels[s : s + step], (lo, hi), width, src, gen, layout, writer, aug)
        to_image(batch.ink, ink_color=ink, dtype=out_type, out=images[s : s + step])
        batch.ink = None  # type: ignore[assignment]  # the images hold it now
        parts.append(batch)
    return images, _concat(parts, labels)


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


#: The keyword options generate_sequences passes on.
_OPTIONS = frozenset(
    ("source", "rng", "layout", "ink", "split", "data_dir", "writer", "augment", "dtype")
)


def generate_sequences(
    sequences: Any,
    spacing_range: tuple[int, int],
    image_width: int,
    *,
    out: np.ndarray | None = None,
    **options: Any,
) -> np.ndarray:
    """Images of many digit sequences at once (vectorised; the source is loaded once).

    Parameters
    ----------
    sequences : iterable of (iterable of int or str), or (N, n) int array
        The digit sequences; lengths may differ.
    spacing_range, image_width
        As in :func:`generate_numbers_sequence`, shared by all sequences.
    out : numpy.ndarray, optional
        A preallocated ``(N, 28, image_width)`` array of the requested
        ``dtype`` to write the images into (checked before any work): no
        new memory for the images, and the same bytes as without it.
    **options
        ``source``, ``rng``, ``layout``, ``ink``, ``split``, ``data_dir``,
        ``writer``, ``augment``, ``dtype``: as in :func:`generate_numbers_sequence`.

    Returns
    -------
    numpy.ndarray
        ``(N, 28, image_width)`` images, row ``i`` showing ``sequences[i]``
        (``out`` itself when given).

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq import generate_sequences
    >>> buf = np.empty((2, 28, 100), np.float32)
    >>> imgs = generate_sequences(["305", "12"], (0, 4), 100, source="synthetic", rng=0, out=buf)
    >>> imgs is buf
    True
    """
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise TypeError(
            f"generate_sequences() got an unexpected keyword argument {unknown[0]!r}; "
            f"the options are {', '.join(sorted(_OPTIONS))}"
        )
    rows = _as_label_rows(sequences)
    if isinstance(rows, np.ndarray):
        return _render_rows(
            rows, spacing_range, image_width, out=out, images_only=True, **options
        )[0]
    gen = as_generator(options.pop("rng", None))
    by_length: dict[int, list[int]] = {}
    for i, r in enumerate(rows):
        by_length.setdefault(len(r), []).append(i)
    if len(by_length) <= 1:
        return _render_rows(
            rows, spacing_range, image_width, rng=gen, out=out, images_only=True, **options
        )[0]
    width = check_width(image_width)
    out_type = _check_options(
        options.get("layout", "tile"),
        options.get("ink", "black"),
        options.get("dtype", np.float32),
        options.get("writer"),
    )
    shape = (len(rows), TILE, width)
    images = np.empty(shape, out_type) if out is None else _check_out(out, shape, out_type)
    for length in sorted(by_length):
        idx = by_length[length]
        group = np.array([rows[i] for i in idx], dtype=np.int64)
        images[idx] = _render_rows(
            group, spacing_range, width, rng=gen, images_only=True, **options
        )[0]
    return images
