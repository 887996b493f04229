"""Contact sheets: a grid of samples with each one's label under it."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["contact_sheet"]


def contact_sheet(
    images: list[np.ndarray],
    captions: list[str],
    *,
    columns: int | None = None,
    scale: int = 2,
    background: int = 200,
) -> Any:
    """A PIL image: the uint8 ``images`` in a grid, each with its caption under it.

    Parameters
    ----------
    images : list of numpy.ndarray
        ``(28, w)`` uint8 images (widths may differ).
    captions : list of str
        One caption per image (the digit string).
    columns : int, optional
        Grid columns (default: about as wide as tall, at most 1600 px).
    scale : int
        Integer zoom of each image (nearest neighbour, so pixels stay visible).
    background : int
        Grey level between the cells, so white image borders stay visible.
    """
    from PIL import Image, ImageDraw, ImageFont

    if len(images) != len(captions):
        raise ValueError("one caption per image")
    if not images:
        raise ValueError("nothing to show: no images")
    cell_w = max(im.shape[1] for im in images) * scale + 8
    cell_h = 28 * scale + 18
    if columns is None:
        columns = max(1, min(len(images), round(math.sqrt(len(images) * cell_h / cell_w) * 1.6)))
        columns = max(1, min(columns, 1600 // cell_w))
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("L", (columns * cell_w, rows * cell_h), background)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (im, cap) in enumerate(zip(images, captions, strict=True)):
        x, y = (k % columns) * cell_w + 4, (k // columns) * cell_h + 2
        tile = Image.fromarray(np.ascontiguousarray(im, np.uint8)).resize(
            (im.shape[1] * scale, 28 * scale), Image.NEAREST
        )
        sheet.paste(tile, (x, y))
        draw.text((x, y + 28 * scale + 2), cap, fill=0, font=font)
    return sheet
