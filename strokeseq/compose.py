"""Placing digit images on the canvas and mapping ink to output pixels.

Composition works in ink units (ink high, background 0) so that overlapping
digits combine with ``max`` whatever the output polarity; the polarity is
applied once, at the end, by :func:`to_image`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layout import cap_overlaps, fit_positions, sample_gaps
from .sources.base import TILE, Digits

__all__ = [
    "INK_CHOICES",
    "LAYOUTS",
    "SequenceBatch",
    "check_dtype",
    "check_ink",
    "compose_rows",
    "paste_tiles",
    "to_image",
]

LAYOUTS = ("tile", "ink")
_F255 = np.float32(255)
_F1 = np.float32(1)
#: The one vocabulary of ``ink=`` everywhere (API, datasets, hard cases):
#: "black" is black ink on a white page (background 1.0 / 255), "white" is
#: white ink on black (background 0), MNIST's array polarity. Defaults differ
#: by audience (images for people: "black"; inputs for models: "white"), the
#: meaning does not.
INK_CHOICES = ("black", "white")


def check_ink(ink: object) -> str:
    """Return ``ink`` if it is ``"black"`` or ``"white"``, else raise ValueError."""
    if ink not in INK_CHOICES:
        raise ValueError(
            f"ink must be 'black' (black ink on white) or 'white' (white ink on black), got {ink!r}"
        )
    return ink  # type: ignore[return-value]


def check_dtype(dtype: object) -> type:
    """``numpy.float32`` or ``numpy.uint8`` from a type, a dtype or a name (``"uint8"``).

    The one normaliser of ``dtype=`` (API, datasets, hard cases): any
    spelling NumPy understands, and only the two image types.
    """
    if dtype is np.float32 or dtype is np.uint8:
        return dtype  # type: ignore[return-value]
    try:
        dt = np.dtype(dtype)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(f"dtype must be float32 or uint8, got {dtype!r}") from None
    if dt not in (np.float32, np.uint8) or isinstance(dtype, bool):
        raise TypeError(f"dtype must be float32 or uint8, got {dtype!r}")
    return dt.type


@dataclass
class SequenceBatch:
    """Sequences in ink units with everything a label needs.

    Attributes
    ----------
    ink : numpy.ndarray
        ``(N, 28, W)`` canvas in ink units: uint8 0..255 or float32 0..1.
    labels : numpy.ndarray
        ``(N, n)`` int64 digits.
    boxes : numpy.ndarray
        ``(N, n, 4)`` int32 per-digit boxes ``x0, x1, y0, y1`` (columns
        ``[x0, x1)`` of the digit box, the 28-px tile or the ink box depending
        on the layout; rows ``[y0, y1)`` of the digit's ink).
    gaps : numpy.ndarray
        ``(N, n - 1)`` int64 gaps between consecutive boxes (after fitting).
    meta : dict of str to numpy.ndarray
        Per-digit provenance from the source, each ``(N, n)``.
    """

    ink: np.ndarray
    labels: np.ndarray
    boxes: np.ndarray
    gaps: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)


def compose_rows(
    digits: Digits,
    labels: np.ndarray,
    spacing: tuple[int, int],
    width: int,
    *,
    layout: str = "tile",
    rng: np.random.Generator | None = None,
    uniforms: tuple[np.ndarray, np.ndarray] | None = None,
    augmenter: Any = None,
    row_rngs: Sequence[np.random.Generator] | None = None,
) -> SequenceBatch:
    """The one composer: drawn digits -> (augmented) digits -> gaps and margins -> lines.

    The API, datasets and ladders all compose through this function (the only
    caller of the placement step), so a spacing, width or augmentation rule
    cannot differ between them.

    Parameters
    ----------
    digits : Digits
        ``N * n`` drawn digits, row by row (``DigitSource.draw_*``).
    labels : numpy.ndarray
        ``(N, n)`` int labels.
    spacing : (int, int)
        Validated inclusive gap range.
    width : int
        Validated width, at least :func:`strokeseq.layout.required_width`.
    layout : {"tile", "ink"}
        Digit boxes: the 28-px tile, or the ink's bounding columns.
    rng : numpy.random.Generator, optional
        One generator for the whole batch (the API): digit augmentation
        draws from it first, then the gap uniforms ``(N, n - 1)``, the margin
        uniforms ``(N,)``, then line augmentation.
    uniforms : (u_gaps, u_margin), optional
        Given uniforms ``(N, n - 1)`` and ``(N,)`` instead of drawing them
        from ``rng`` (datasets and their per-index words).
    augmenter : Augmenter, optional
        Per-digit transforms before placement, per-line transforms after.
    row_rngs : sequence of N generators, optional
        Per-row augmentation generators (datasets: a row's augmentation
        depends on that row alone); otherwise augmentation draws from ``rng``.

    Returns
    -------
    SequenceBatch
        Ink-unit lines (uint8 when the source's ink is uint8 and nothing
        was augmented, float32 otherwise), labels, boxes, gaps, provenance.

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.compose import compose_rows
    >>> from strokeseq.sources import Digits
    >>> ink = np.zeros((2, 28, 28), np.uint8); ink[:, 4:24, 10:18] = 255
    >>> batch = compose_rows(Digits(ink, np.array([1, 7])), np.array([[1, 7]]), (2, 2), 60,
    ...                      rng=np.random.default_rng(0))
    >>> batch.ink.shape, batch.gaps.tolist()
    ((1, 28, 60), [[2]])
    """
    n_rows, n = labels.shape
    aug = None if augmenter is None or augmenter.is_identity else augmenter
    if aug is not None and not aug.digit_is_identity:
        x = digits.as_float()
        x = aug.digits_rows(x, row_rngs, n) if row_rngs is not None else aug.digits(x, rng)
        digits = Digits(np.ascontiguousarray(x, np.float32), digits.labels, digits.meta, None)
    if uniforms is None:
        if rng is None:
            raise ValueError("compose_rows needs rng or uniforms for the gaps and margins")
        uniforms = (rng.random((n_rows, n - 1)), rng.random(n_rows))
    batch = _arrange(
        digits, labels, spacing, width, layout=layout, u_gaps=uniforms[0], u_margin=uniforms[1]
    )
    if aug is not None and not aug.sequence_is_identity:
        if row_rngs is not None:
            batch.ink, boxes = aug.sequences_rows(batch.ink, batch.boxes, row_rngs)
        else:
            batch.ink, boxes = aug.sequences(batch.ink, batch.boxes, rng)
        batch.boxes = np.asarray(boxes).astype(np.int32)
    return batch


def _arrange(
    digits: Digits,
    labels: np.ndarray,
    spacing: tuple[int, int],
    image_width: int,
    *,
    layout: str,
    u_gaps: np.ndarray,
    u_margin: np.ndarray,
) -> SequenceBatch:
    """Fit the digits of each row into ``image_width`` and paste them.

    Parameters
    ----------
    digits : Digits
        ``N * n`` digits, row by row.
    labels : numpy.ndarray
        ``(N, n)`` labels.
    spacing : (int, int)
        Validated gap range.
    image_width : int
        Validated width, at least the layout's minimum for these labels.
    layout : {"tile", "ink"}
        Digit boxes: the 28-px tile, or the ink's bounding columns.
    u_gaps, u_margin : numpy.ndarray
        Uniforms ``(N, n - 1)`` and ``(N,)`` for the gaps and the margin.
    """
    n_rows, n = labels.shape
    ink = digits.ink
    ext = digits.ink_boxes().reshape(n_rows, n, 4)
    if layout == "tile":
        widths = np.full((n_rows, n), TILE, np.int64)
        offset = np.zeros((n_rows, n), np.int64)
    else:
        widths = ext[:, :, 1] - ext[:, :, 0]
        offset = ext[:, :, 0]
    x0, gaps = _place(widths, spacing, image_width, u_gaps, u_margin, layout=layout)
    canvas = paste_tiles(
        ink.reshape(n_rows, n, TILE, TILE), x0 - offset, image_width, overlap=layout == "ink"
    )
    boxes = np.stack([x0, x0 + widths, ext[:, :, 2], ext[:, :, 3]], axis=-1).astype(np.int32)
    meta = {k: np.asarray(v).reshape(n_rows, n) for k, v in digits.meta.items()}
    return SequenceBatch(canvas, labels, boxes, gaps, meta)


def _place(
    widths: np.ndarray,
    spacing: tuple[int, int],
    image_width: int,
    u_gaps: np.ndarray,
    u_margin: np.ndarray,
    *,
    layout: str,
) -> tuple[np.ndarray, np.ndarray]:
    """The placement step: ``(x0, gaps)`` of boxes of ``widths`` fitted into the width."""
    lo, hi = spacing
    gaps = sample_gaps(u_gaps, lo, hi, image_width - widths.sum(axis=1))
    if layout == "ink" and widths.shape[1] > 1 and lo < 0:
        gaps = cap_overlaps(widths, gaps, image_width)
    return fit_positions(widths, gaps, image_width, u_margin), gaps


def _scatter_runs(
    canvas: np.ndarray, tiles: np.ndarray, rows: np.ndarray, xs: np.ndarray, rowtype: np.dtype
) -> None:
    """``canvas[rows[i], :, xs[i]:xs[i]+28] = tiles[i]`` in one fancy-index assignment.

    The canvas is viewed with each run of 28 pixels as one opaque element
    (a void dtype, at every column offset), so a tile is 28 element copies
    of 28 pixels each instead of 784 single-pixel copies.
    """
    n_rows, h, w = canvas.shape
    size = canvas.itemsize
    runs = np.ndarray(
        (n_rows, h, w - TILE + 1),
        rowtype,
        buffer=canvas,
        strides=(h * w * size, w * size, size),
    )
    runs[rows, :, xs] = tiles.view(rowtype).reshape(len(tiles), h)


def paste_tiles(
    tiles: np.ndarray, tile_x: np.ndarray, image_width: int, *, overlap: bool
) -> np.ndarray:
    """Paste ``(N, n, 28, 28)`` tiles with left edges ``tile_x`` on ``(N, 28, W)`` canvases.

    Tiles may stick out of the canvas (ink layout: the blank part of a tile
    around an ink box at the border); the canvas is padded by a tile on each
    side and cropped. With ``overlap`` the tiles are combined with ``max``
    (one scatter per digit position: neighbours may share columns),
    otherwise assigned in one scatter for the whole batch (tile layout:
    tiles never overlap).
    """
    n_rows, n = tile_x.shape
    pad = TILE if overlap else 0
    canvas = np.zeros((n_rows, TILE, image_width + 2 * pad), tiles.dtype)
    if not overlap:
        _scatter_rows(canvas, tiles.reshape(n_rows * n, TILE, TILE), tile_x.reshape(-1), n)
        return canvas
    windows = sliding_window_view(canvas, TILE, axis=2, writeable=True)  # (N, 28, W', 28)
    rows = np.arange(n_rows)
    for j in range(n):
        xs = tile_x[:, j] + pad
        region = windows[rows, :, xs]
        np.maximum(region, tiles[:, j], out=region)
        windows[rows, :, xs] = region
    return np.ascontiguousarray(canvas[:, :, pad:-pad])


def _scatter_rows(canvas: np.ndarray, tiles: np.ndarray, xs: np.ndarray, per_row: int) -> None:
    """``canvas[r, :, x:x+28] = tile`` for every tile (``per_row`` tiles per canvas row)."""
    rowtype = np.dtype((np.void, TILE * canvas.itemsize))
    src = np.ascontiguousarray(tiles, canvas.dtype).reshape(len(tiles), TILE * TILE)
    _scatter_runs(canvas, src, np.arange(len(canvas)).repeat(per_row), xs, rowtype)


def to_image(
    ink: np.ndarray, *, ink_color: str = "black", dtype: type = np.float32, out=None
) -> np.ndarray:
    """Map an ink-unit canvas to output pixels: the one polarity and uint8 -> float map.

    Parameters
    ----------
    ink : numpy.ndarray
        uint8 (0..255) or float32 (0..1) ink units.
    ink_color : {"black", "white"}
        ``"black"``: the page as MNIST describes it, white background 1.0 and
        ink towards 0.0 (``1 - v/255``, computed as ``(255 - v) / 255``: one
        correctly rounded float32 division). ``"white"``: MNIST's raw array
        polarity, ink 1.0 on 0.0 (``v/255``).
    dtype : numpy.float32 or numpy.uint8
        Output type; uint8 keeps 0..255 (255 = white).
    out : numpy.ndarray, optional
        Array to write into (same shape).

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.compose import to_image
    >>> to_image(np.array([[0, 255]], np.uint8)).tolist()
    [[1.0, 0.0]]
    >>> to_image(np.array([[0, 255]], np.uint8), ink_color="white", dtype=np.uint8).tolist()
    [[0, 255]]
    """
    ink_is_u8 = ink.dtype.type is np.uint8
    if dtype is np.uint8:
        if not ink_is_u8:
            ink = np.rint(np.clip(ink, 0, 1) * 255).astype(np.uint8)
        if ink_color == "white":
            if out is None:
                return ink.copy() if ink.base is not None else ink
            out[...] = ink
            return out
        return np.subtract(np.uint8(255), ink, out=out)
    # One pass over the float output: the flip happens on the uint8 bytes
    # (a quarter of the memory), then one division writes the result. The
    # batch API calls this per chunk, which already fits the CPU cache.
    if ink_is_u8:
        page = np.subtract(np.uint8(255), ink) if ink_color == "black" else ink
        return np.divide(page, _F255, out=out, dtype=np.float32)
    res = np.clip(ink, 0, 1, out=out)
    if ink_color == "black":
        np.subtract(_F1, res, out=res)
    return res


#: Names that moved to :mod:`strokeseq.pages` (the converted tile banks and
#: the paste from them), still importable from here.
_MOVED = frozenset(
    (
        "compose_tiles_into",
        "page_bank",
        "clear_page_tiles",
        "MAX_PAGE_CACHES",
        "PASTE_BYTES",
        "_PAGE_TILES",
        "_TILE_PLANS",
        "_SINGLE_PLANS",
    )
)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        from . import pages

        return getattr(pages, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
