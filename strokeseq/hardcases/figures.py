"""Pictures of a robustness report, drawn with Pillow (no plotting library needed).

- :func:`plot_accuracy`: accuracy against level, one line per axis.
- :func:`failures_sheet`: the failures picked from every level, ``true -> pred``.
- :func:`level_strips`: one row per axis, an example of every level (green
  frame: read right, red: wrong), to see what each level looks like.
- :func:`confusion_image`: the confusion matrix over all samples, as a heat map.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..sheets import contact_sheet
from ..sheets import font as _font
from .ladder import AXES, N_LEVELS
from .report import RobustnessReport

__all__ = ["confusion_image", "failures_sheet", "level_strips", "plot_accuracy"]


_COLOURS = [
    (0, 0, 0),
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
]


def plot_accuracy(report: RobustnessReport, path: str | Path, *, title: str | None = None) -> Path:
    """Line plot of accuracy against level (difficulty), one line per axis, as a PNG (Pillow)."""
    from PIL import Image, ImageDraw

    w, h = 760, 420
    left, right, top, bottom = 60, 170, 40, 50
    img = Image.new("RGB", (w, h), "white")
    dr = ImageDraw.Draw(img)
    f, fs = _font(14), _font(12)
    pw, ph = w - left - right, h - top - bottom

    def xy(level: float, acc: float) -> tuple[float, float]:
        return left + pw * level / (N_LEVELS - 1), top + ph * (1.0 - acc)

    for k in range(6):  # horizontal grid every 20 %
        y = top + ph * (1 - k / 5)
        dr.line([(left, y), (left + pw, y)], fill=(225, 225, 225))
        dr.text((left - 8, y), f"{20 * k}%", fill="black", font=fs, anchor="rm")
    for i in range(N_LEVELS):
        x = left + pw * i / (N_LEVELS - 1)
        dr.line([(x, top), (x, top + ph)], fill=(240, 240, 240))
        dr.text((x, top + ph + 6), f"{i}", fill="black", font=fs, anchor="ma")
        dr.text(
            (x, top + ph + 21),
            f"{i / (N_LEVELS - 1):.2f}",
            fill=(110, 110, 110),
            font=fs,
            anchor="ma",
        )
    dr.rectangle([left, top, left + pw, top + ph], outline="black")
    dr.text((left - 50, top + ph + 6), "level", fill="black", font=fs)
    dr.text((left - 50, top + ph + 21), "d", fill=(110, 110, 110), font=fs)
    what = "sequence accuracy" if report.kind == "sequences" else "accuracy"
    dr.text(
        (w / 2 - right / 2, 12),
        title or f"{what} of {report.model}",
        fill="black",
        font=f,
        anchor="ma",
    )
    axes = [a for a in AXES if any(r["axis"] == a for r in report.levels)]
    for j, a in enumerate(axes):
        col = _COLOURS[j % len(_COLOURS)]
        pts = [xy(i, v) for i, v in enumerate(report.accuracy(a)) if not math.isnan(v)]
        width = 4 if a == "difficulty" else 2
        if len(pts) > 1:
            dr.line(pts, fill=col, width=width, joint="curve")
        for x, y in pts:
            dr.ellipse([x - 3.5, y - 3.5, x + 3.5, y + 3.5], fill=col)
        ly = top + 10 + 20 * j
        dr.line([(left + pw + 15, ly), (left + pw + 40, ly)], fill=col, width=width)
        dr.text((left + pw + 46, ly), a, fill="black", font=fs, anchor="lm")
    path = Path(path)
    img.save(path, format="PNG", optimize=True)
    return path


def failures_sheet(
    report: RobustnessReport, path: str | Path, *, zoom: int = 3, columns: int | None = None
) -> Path:
    """The picked failures as a PNG grid, black ink on white, with ``true -> pred`` captions.

    The failures come from every (axis, level) that has some (see
    :func:`strokeseq.hardcases.evaluate`), in axis and level order; drawn by
    the package's one grid, :func:`strokeseq.sheets.contact_sheet`.
    """
    from PIL import Image, ImageDraw

    lad = report.ladder
    idx = report.worst.tolist()
    path = Path(path)
    if not idx:
        sheet = Image.new("L", (320, 40), 255)
        ImageDraw.Draw(sheet).text((8, 6), "no failures", fill=0, font=_font(12))
        sheet.save(path, format="PNG", optimize=True)
        return path
    img_w = lad.images.shape[2] * zoom
    truth = lad.label_strings
    page = np.rint((1.0 - np.clip(lad.images[idx], 0, 1)) * 255).astype(np.uint8)
    captions = [
        f"{truth[i]} -> {str(report.predictions[i]) or '(none)'}\n{lad.axis[i]} L{lad.level[i]}"
        for i in idx
    ]
    sheet = contact_sheet(
        list(page),
        captions,
        columns=columns or (8 if lad.kind == "digits" else max(1, 840 // (img_w + 10))),
        scale=zoom,
        background=255,
        title=f"failures of {report.model} from every level: true -> predicted",
        outline=160,
        min_cell_width=84,
    )
    sheet.save(path, format="PNG", optimize=True)
    return path


def _page(images: np.ndarray) -> np.ndarray:
    """Ink units to black-on-white uint8."""
    return np.rint((1.0 - np.clip(images, 0, 1)) * 255).astype(np.uint8)


def level_strips(
    report: RobustnessReport, path: str | Path, *, zoom: int = 2, per_level: int = 1
) -> Path:
    """One row per axis with ``per_level`` example(s) of every level, as a PNG.

    Each example is framed green when the model read it right and red when
    not, and captioned with what the model read; the column header gives the
    level. The examples are the first samples of each (axis, level).
    """
    from PIL import Image, ImageDraw

    lad = report.ladder
    axes = [a for a in AXES if np.any(lad.axis == a)]
    img_h, img_w = 28 * zoom, lad.images.shape[2] * zoom
    cell_w, cell_h = max(img_w, 60) + 8, img_h + 22
    label_w, top = 86, 22
    cols = N_LEVELS * per_level
    sheet = Image.new("RGB", (label_w + cols * cell_w + 4, top + len(axes) * cell_h + 4), "white")
    dr = ImageDraw.Draw(sheet)
    f = _font(12)
    for i in range(N_LEVELS):
        x = label_w + i * per_level * cell_w + per_level * cell_w / 2
        dr.text((x, 4), f"L{i}", fill="black", font=f, anchor="ma")
    pred = report.predictions
    for r, a in enumerate(axes):
        y0 = top + r * cell_h
        dr.text((4, y0 + img_h / 2), a, fill="black", font=f, anchor="lm")
        for i in range(N_LEVELS):
            sel = np.flatnonzero((lad.axis == a) & (lad.level == i))[:per_level]
            if sel.size == 0:
                continue
            tiles = _page(lad.images[sel])
            for k, j in enumerate(sel.tolist()):
                x0 = label_w + (i * per_level + k) * cell_w
                tile = Image.fromarray(tiles[k]).resize((img_w, img_h), Image.NEAREST)
                sheet.paste(tile, (x0, y0))
                ok = bool(report.correct[j])
                colour = (40, 160, 40) if ok else (210, 40, 40)
                dr.rectangle([x0 - 1, y0 - 1, x0 + img_w, y0 + img_h], outline=colour, width=2)
                dr.text((x0, y0 + img_h + 3), str(pred[j]) or "(none)", fill=colour, font=f)
    path = Path(path)
    sheet.save(path, format="PNG", optimize=True)
    return path


def confusion_image(report: RobustnessReport, path: str | Path, *, cell: int = 34) -> Path:
    """The confusion matrix summed over all levels, as a PNG heat map with counts.

    Rows are true digits, columns what the model read at that position (for
    sequences a last column "-" counts positions where it read nothing).
    Each row is shaded by its own share, so rare rows stay readable.
    """
    from PIL import Image, ImageDraw

    conf = np.sum([np.asarray(r["confusion"], np.int64) for r in report.levels], axis=0)
    if np.ndim(conf) != 2:  # an empty report
        conf = np.zeros((10, 11 if report.kind == "sequences" else 10), np.int64)
    n_rows, n_cols = conf.shape
    left, top = 40, 60
    w, h = left + n_cols * cell + 10, top + n_rows * cell + 28
    img = Image.new("RGB", (w, h), "white")
    dr = ImageDraw.Draw(img)
    f, fs = _font(13), _font(11)
    dr.text(
        (w / 2, 6), f"confusion of {report.model} (all levels)", fill="black", font=f, anchor="ma"
    )
    dr.text((left + n_cols * cell / 2, 24), "read as", fill=(90, 90, 90), font=fs, anchor="ma")
    share = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    for j in range(n_cols):
        name = "-" if j == 10 else str(j)
        dr.text((left + j * cell + cell / 2, top - 4), name, fill="black", font=fs, anchor="md")
    for i in range(n_rows):
        y = top + i * cell
        dr.text((left - 8, y + cell / 2), str(i), fill="black", font=fs, anchor="rm")
        for j in range(n_cols):
            x = left + j * cell
            v = float(share[i, j])
            if i == j:
                fill = (int(255 - 150 * v), int(255 - 60 * v), int(255 - 150 * v))
            else:
                fill = (255, int(255 - 200 * min(1.0, 4 * v)), int(255 - 200 * min(1.0, 4 * v)))
            dr.rectangle([x, y, x + cell - 1, y + cell - 1], fill=fill, outline=(220, 220, 220))
            if conf[i, j]:
                dr.text((x + cell / 2, y + cell / 2), str(int(conf[i, j])), fill="black",
                        font=fs, anchor="mm")  # fmt: skip
    dr.text((4, top + n_rows * cell + 8), "true", fill=(90, 90, 90), font=fs)
    path = Path(path)
    img.save(path, format="PNG", optimize=True)
    return path
