"""Contact sheets: images in a grid, each with its caption under it.

The one grid the package draws, used by ``strokeseq preview`` (dataset
samples) and the robustness report (failures from every level).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .sources.base import TILE

__all__ = ["contact_sheet", "font"]

#: Height of one caption line (pixels).
LINE = 14


def font(size: int) -> Any:
    """Pillow's default font at ``size`` px (the fixed bitmap font on Pillow < 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:
        return ImageFont.load_default()


def contact_sheet(
    images: list[np.ndarray],
    captions: list[str],
    *,
    columns: int | None = None,
    scale: int = 2,
    background: int = 200,
    title: str | None = None,
    outline: int | None = None,
    min_cell_width: int = 0,
) -> Any:
    """A PIL image: the uint8 ``images`` in a grid, each with its caption under it.

    Parameters
    ----------
    images : list of numpy.ndarray
        ``(28, w)`` uint8 page images (widths may differ).
    captions : list of str
        One caption per image; ``"\\n"`` starts another line.
    columns : int, optional
        Grid columns (default: about as wide as tall, at most 1600 px).
    scale : int
        Integer zoom of each image (nearest neighbour, so pixels stay visible).
    background : int
        Grey level between the cells, so white image borders stay visible.
    title : str, optional
        A line of text above the grid.
    outline : int, optional
        Grey level of a frame drawn around each image.
    min_cell_width : int
        Cells are at least this wide (room for long captions).

    Examples
    --------
    >>> import numpy as np
    >>> sheet = contact_sheet([np.zeros((28, 40), np.uint8)] * 3, ["305", "12", "7"])
    >>> sheet.mode, sheet.height
    ('L', 74)
    """
    from PIL import Image, ImageDraw

    if len(images) != len(captions):
        raise ValueError("one caption per image")
    if not images:
        raise ValueError("nothing to show: no images")
    lines = max(c.count("\n") + 1 for c in captions)
    cell_w = max(max(im.shape[1] for im in images) * scale, min_cell_width) + 8
    cell_h = TILE * scale + 4 + LINE * lines
    if columns is None:
        columns = max(1, min(len(images), round(math.sqrt(len(images) * cell_h / cell_w) * 1.6)))
        columns = max(1, min(columns, 1600 // cell_w))
    top = 24 if title else 0
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("L", (columns * cell_w, top + rows * cell_h), background)
    draw = ImageDraw.Draw(sheet)
    text = font(12)
    if title:
        draw.text((8, 6), title, fill=0, font=text)
    for k, (im, cap) in enumerate(zip(images, captions, strict=True)):
        x, y = (k % columns) * cell_w + 4, top + (k // columns) * cell_h + 2
        w = im.shape[1] * scale
        tile = Image.fromarray(np.ascontiguousarray(im, np.uint8)).resize(
            (w, TILE * scale), Image.NEAREST
        )
        sheet.paste(tile, (x, y))
        if outline is not None:
            draw.rectangle([x - 1, y - 1, x + w, y + TILE * scale], outline=outline)
        for i, line in enumerate(cap.split("\n")):
            draw.text(
                (x, y + TILE * scale + 2 + LINE * i), line, fill=0 if i == 0 else 90, font=text
            )
    return sheet
