"""Placing digit images on the canvas and mapping ink to output pixels.

Composition works in ink units (ink high, background 0) so that overlapping
digits combine with ``max`` whatever the output polarity; the polarity is
applied once, at the end, by :func:`to_image`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layout import cap_overlaps, fit_positions, sample_gaps
from .sources.base import TILE, Digits

__all__ = ["INK_CHOICES", "LAYOUTS", "SequenceBatch", "arrange", "paste_tiles", "to_image"]

LAYOUTS = ("tile", "ink")
_F255 = np.float32(255)
_F1 = np.float32(1)
_BLOCK_BYTES = 256 * 1024
INK_CHOICES = ("black", "white")


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


def arrange(
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
    lo, hi = spacing
    ink = digits.ink
    ext = digits.ink_boxes().reshape(n_rows, n, 4)
    if layout == "tile":
        widths = np.full((n_rows, n), TILE, np.int64)
        offset = np.zeros((n_rows, n), np.int64)
    else:
        widths = ext[:, :, 1] - ext[:, :, 0]
        offset = ext[:, :, 0]
    budget = image_width - widths.sum(axis=1)
    gaps = sample_gaps(u_gaps, lo, hi, budget)
    if layout == "ink" and n > 1 and lo < 0:
        gaps = cap_overlaps(widths, gaps, image_width)
    x0 = fit_positions(widths, gaps, image_width, u_margin)
    canvas = paste_tiles(
        ink.reshape(n_rows, n, TILE, TILE), x0 - offset, image_width, overlap=layout == "ink"
    )
    boxes = np.stack([x0, x0 + widths, ext[:, :, 2], ext[:, :, 3]], axis=-1).astype(np.int32)
    meta = {k: np.asarray(v).reshape(n_rows, n) for k, v in digits.meta.items()}
    return SequenceBatch(canvas, labels, boxes, gaps, meta)


def paste_tiles(
    tiles: np.ndarray, tile_x: np.ndarray, image_width: int, *, overlap: bool
) -> np.ndarray:
    """Paste ``(N, n, 28, 28)`` tiles with left edges ``tile_x`` on ``(N, 28, W)`` canvases.

    Tiles may stick out of the canvas (ink layout: the blank part of a tile
    around an ink box at the border); the canvas is padded by a tile on each
    side and cropped. With ``overlap`` the tiles are combined with ``max``,
    otherwise assigned (tile layout: tiles never overlap). One vectorised
    scatter per digit position, not per sample.
    """
    n_rows, n = tile_x.shape
    pad = TILE if overlap else 0
    canvas = np.zeros((n_rows, TILE, image_width + 2 * pad), tiles.dtype)
    windows = sliding_window_view(canvas, TILE, axis=2, writeable=True)  # (N, 28, W', 28)
    rows = np.arange(n_rows)
    for j in range(n):
        xs = tile_x[:, j] + pad
        if overlap:
            region = windows[rows, :, xs]
            np.maximum(region, tiles[:, j], out=region)
            windows[rows, :, xs] = region
        else:
            windows[rows, :, xs] = tiles[:, j]
    if pad:
        canvas = np.ascontiguousarray(canvas[:, :, pad:-pad])
    return canvas


def to_image(
    ink: np.ndarray, *, ink_color: str = "black", dtype: type = np.float32, out=None
) -> np.ndarray:
    """Map an ink-unit canvas to output pixels.

    Parameters
    ----------
    ink : numpy.ndarray
        uint8 (0..255) or float32 (0..1) ink units.
    ink_color : {"black", "white"}
        ``"black"``: the page as MNIST describes it, white background 1.0 and
        ink towards 0.0 (``1 - v/255``). ``"white"``: MNIST's raw array
        polarity, ink 1.0 on 0.0 (``v/255``).
    dtype : numpy.float32 or numpy.uint8
        Output type; uint8 keeps 0..255 (255 = white).
    out : numpy.ndarray, optional
        Array to write into (same shape).
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
    if ink.ndim == 2 and out is None:  # one image: the single-call path
        res = np.divide(ink, _F255, dtype=np.float32) if ink_is_u8 else np.clip(ink, 0, 1)
        if ink_color == "black":
            np.subtract(_F1, res, out=res)
        return res
    if out is None:
        out = np.empty(ink.shape, np.float32)
    # Two passes (scale, then flip) over blocks that stay in the CPU cache:
    # ~2.5x faster than two passes over a whole chunk of images.
    rows = (
        max(1, _BLOCK_BYTES // max(1, out[0].nbytes))
        if out.ndim == 3 and len(out)
        else len(out) or 1
    )
    for s in range(0, len(out), rows):
        src, dst = ink[s : s + rows], out[s : s + rows]
        if ink_is_u8:
            np.divide(src, _F255, out=dst, dtype=np.float32)
        else:
            np.clip(src, 0, 1, out=dst)
        if ink_color == "black":
            np.subtract(_F1, dst, out=dst)
    return out
