"""Robustness reports: a user's model run over a ladder, per level and per digit.

:func:`evaluate` returns a :class:`RobustnessReport`; :func:`write_report`
writes it as JSON, a markdown table and two PNGs (accuracy against
difficulty, and a contact sheet of the worst failures), drawn with Pillow.

Sequence scoring
----------------
``accuracy`` is the exact-match rate of the whole string. ``digit_accuracy``
is ``1 - sum(edit distance) / sum(true length)`` over the level (one minus
the character error rate, floored at 0), so a dropped or an extra digit
costs one error instead of shifting every later position. The per-digit
rates and the confusion matrix compare position by position (the predicted
character at the true digit's position; a missing one is column "-").
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .ladder import AXES, CONTACT_NAMES, N_LEVELS, PARAM_NAMES, Ladder, axis_params
from .model import call_model, model_name

__all__ = ["RobustnessReport", "edit_distance", "evaluate", "model_inputs", "write_report"]

log = logging.getLogger(__name__)

_AXIS_CODE = {a: i for i, a in enumerate(AXES)}
#: Parameter shown for each axis in the tables (the one the axis moves).
AXIS_PARAM = {
    "difficulty": ("d", None),
    "jitter": ("jitter px", "jitter"),
    "elastic": ("alpha px", "elastic_alpha"),
    "rotation": ("deg", "rotation"),
    "slant": ("deg", "slant"),
    "thin": ("radius px", "thin"),
    "thick": ("radius px", "thick"),
    "touching": ("gap px", "gap"),
}


def model_inputs(images: np.ndarray, ink: str = "white", dtype: str = "float32") -> np.ndarray:
    """Ladder images (ink units) as a model sees them.

    Parameters
    ----------
    images : numpy.ndarray
        Float32 ink units (ink 1.0, background 0.0).
    ink : {"white", "black"}
        ``"white"`` (default): ink 1.0 on 0.0, as in MNIST arrays and what
        models trained on them expect. ``"black"``: the page, ink 0.0 on 1.0.
    dtype : {"float32", "uint8"} or numpy type
        Float in [0, 1], or uint8 0..255 (a name or a NumPy type).
    """
    from ..compose import check_dtype, check_ink

    ink = check_ink(ink)
    try:
        out_type = check_dtype(dtype)
    except TypeError as exc:  # this function has always said ValueError
        raise ValueError(str(exc)) from None
    x = images if ink == "white" else 1.0 - images
    if out_type is np.uint8:
        return np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    return np.ascontiguousarray(x, np.float32)


def edit_distance(a: np.ndarray, b: np.ndarray, len_b: np.ndarray) -> np.ndarray:
    """Levenshtein distance of rows of ``a`` ``(N, La)`` to rows of ``b`` ``(N, Lb)``.

    ``a`` rows are full length; row ``i`` of ``b`` counts its first
    ``len_b[i]`` entries. Vectorised over rows (the loops run over positions).
    """
    a = np.asarray(a)
    b = np.asarray(b)
    n, la = a.shape
    lb = b.shape[1]
    len_b = np.asarray(len_b, np.int64)
    rows = np.arange(n)
    prev = np.tile(np.arange(lb + 1, dtype=np.int64), (n, 1))
    for i in range(1, la + 1):
        cur = np.empty_like(prev)
        cur[:, 0] = i
        for j in range(1, lb + 1):
            cost = (a[:, i - 1] != b[:, j - 1]).astype(np.int64)
            cur[:, j] = np.minimum(
                np.minimum(prev[:, j], cur[:, j - 1]) + 1, prev[:, j - 1] + cost
            )
        prev = cur
    return prev[rows, len_b]


@dataclass
class RobustnessReport:
    """What :func:`evaluate` measured.

    Attributes
    ----------
    model : str
        Name of the model.
    kind : {"digits", "sequences"}
    levels : list of dict
        One row per (axis, level): ``axis``, ``level``, ``difficulty``,
        ``param`` (value of the axis' own parameter), ``n``, ``accuracy``,
        ``digit_accuracy`` (sequences), ``per_digit`` (10 rates by true digit,
        None where absent), ``confusion`` (10 x 10, or 10 x 11 with "-" for
        sequences), ``contact`` (counts of separate/touching/overlapping).
    overall : dict
        ``n``, ``accuracy`` (and ``digit_accuracy``) over all samples.
    predictions : numpy.ndarray
        Per sample: int64 labels, or an object array of strings.
    correct : numpy.ndarray
        Per sample bool (exact match).
    worst : numpy.ndarray
        Indices of the hardest failures (see :func:`evaluate`).
    ladder : Ladder
        The ladder evaluated (for the contact sheet).
    options : dict
        Input polarity and dtype used.
    """

    model: str
    kind: str
    levels: list[dict[str, Any]]
    overall: dict[str, Any]
    predictions: np.ndarray
    correct: np.ndarray
    worst: np.ndarray
    ladder: Ladder = field(repr=False)
    options: dict[str, Any] = field(default_factory=dict)

    def accuracy(self, axis: str) -> list[float]:
        """Accuracy per level of one axis (NaN for levels not in the ladder)."""
        acc = [math.nan] * N_LEVELS
        for row in self.levels:
            if row["axis"] == axis and 0 <= row["level"] < N_LEVELS:
                acc[row["level"]] = row["accuracy"]
        return acc

    def worst_cases(self) -> list[dict[str, Any]]:
        """The hardest failures as JSON-ready dicts (index, axis, level, true, pred, params)."""
        lad = self.ladder
        truth = lad.label_strings
        out = []
        for i in self.worst.tolist():
            params = {}
            for k in (*PARAM_NAMES, "index"):
                v = np.asarray(lad.params[k][i], np.float64)
                params[k] = _json_num(v) if v.ndim == 0 else [_json_num(x) for x in v]
            out.append(
                {
                    "index": int(i),
                    "axis": str(lad.axis[i]),
                    "level": int(lad.level[i]),
                    "difficulty": round(float(lad.difficulty[i]), 4),
                    "true": truth[i],
                    "pred": str(self.predictions[i]),
                    "params": params,
                    "gaps": [_json_num(x) for x in lad.gaps[i].tolist()],
                    "contact": [CONTACT_NAMES[int(c)] for c in lad.contact[i]],
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no images)."""
        return {
            "format": "strokeseq-robustness/1",
            "model": self.model,
            "kind": self.kind,
            "options": self.options,
            "overall": self.overall,
            "levels": self.levels,
            "worst": self.worst_cases(),
            "ladder": self.ladder.info,
        }


def _json_num(v: Any) -> float | None:
    f = float(v)
    return None if math.isnan(f) else round(f, 4)


def _rate(num: np.ndarray, den: np.ndarray) -> list[float | None]:
    return [None if d == 0 else round(float(x / d), 4) for x, d in zip(num, den, strict=True)]


def _pick_worst(ladder: Ladder, wrong: np.ndarray, count: int) -> np.ndarray:
    """Failures at the lowest difficulty of each axis, taking axes in turn.

    A model failing an almost clean sample says more than one failing at the
    top of the ladder, and taking axes in turn keeps every axis in view.
    """
    idx = np.flatnonzero(wrong)
    if idx.size == 0 or count <= 0:
        return np.zeros(0, np.int64)
    codes = np.array([_AXIS_CODE.get(a, len(AXES)) for a in ladder.axis[idx]])
    order = np.lexsort((idx, ladder.difficulty[idx], codes))
    idx, codes = idx[order], codes[order]
    # rank within axis, then interleave axes by that rank
    starts = np.searchsorted(codes, codes, side="left")
    rank = np.arange(idx.size) - starts
    inter = np.lexsort((codes, rank))
    return idx[inter][:count].astype(np.int64)


def evaluate(
    predict: Callable[[np.ndarray], Any],
    ladder: Ladder,
    *,
    ink: str = "white",
    dtype: str = "float32",
    batch_size: int = 1024,
    worst: int = 40,
    name: str | None = None,
) -> RobustnessReport:
    """Run a model over a ladder and score it per level and per digit.

    Parameters
    ----------
    predict : callable
        Digits: ``(n, 28, 28)`` array to ``n`` labels 0-9 (array-like of ints).
        Sequences: ``(n, 28, W)`` array to ``n`` strings of digits.
    ladder : Ladder
        From :func:`strokeseq.hardcases.make_ladder` or :func:`read_hardcases`.
    ink : {"white", "black"}
        Polarity of the model inputs. Default ``"white"``: ink 1.0 on 0.0, as in
        MNIST arrays (what MNIST-trained models expect); ``"black"`` gives the
        page polarity of the package's images.
    dtype : {"float32", "uint8"}
        Model input type: float in [0, 1] (default) or uint8 0..255.
    batch_size : int
        Images per call of ``predict``.
    worst : int
        How many failures to keep as the hardest samples.
    name : str, optional
        Model name for the report.

    Returns
    -------
    RobustnessReport

    Raises
    ------
    ModelError (ValueError), TypeError
        If the model raises or returns outputs of the wrong shape, type or range.
    """
    if not callable(predict):
        raise TypeError(f"predict must be callable, got {type(predict).__name__}")
    if not isinstance(ladder, Ladder):
        raise TypeError(f"ladder must be a Ladder, got {type(ladder).__name__}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    model_inputs(ladder.images[:0], ink, dtype)  # validate the options before any work
    name = name or model_name(predict)
    n = len(ladder)
    kind = ladder.kind
    preds: list[np.ndarray] = []
    for s in range(0, n, batch_size):
        x = model_inputs(ladder.images[s : s + batch_size], ink, dtype)
        preds.append(call_model(predict, x, kind, name))
    if kind == "digits":
        pred = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    else:
        pred = np.concatenate(preds) if preds else np.zeros(0, object)
    levels, overall, correct = _score(ladder, pred)
    report = RobustnessReport(
        model=name,
        kind=kind,
        levels=levels,
        overall=overall,
        predictions=pred,
        correct=correct,
        worst=_pick_worst(ladder, ~correct, worst),
        ladder=ladder,
        options={"ink": ink, "dtype": dtype},
    )
    log.info("evaluated %s on %d samples: accuracy %.4f", name, n, overall["accuracy"])
    return report


def _score(
    ladder: Ladder, pred: np.ndarray
) -> tuple[list[dict[str, Any]], dict[str, Any], np.ndarray]:
    n = len(ladder)
    codes = np.array([_AXIS_CODE.get(a, len(AXES)) for a in ladder.axis], np.int64)
    group = codes * N_LEVELS + np.clip(ladder.level, 0, N_LEVELS - 1)
    n_groups = (len(AXES) + 1) * N_LEVELS
    count = np.bincount(group, minlength=n_groups)
    if ladder.kind == "digits":
        true = ladder.labels.reshape(n)
        correct = pred == true
        pos_true, pos_pred, pos_group = true, pred, group
        n_cols = 10
        dacc_num = dacc_den = None
    else:
        true = ladder.labels
        length = true.shape[1]
        truth = np.array(ladder.label_strings, dtype=object)
        correct = pred == truth if n else np.zeros(0, bool)
        correct = np.asarray(correct, bool)
        lens = np.array([len(p) for p in pred], np.int64)
        width = max(int(lens.max()) if n else 0, length)
        # Predicted strings as a padded int array (-1 beyond the end).
        flat = np.frombuffer("".join(pred.tolist()).encode(), np.uint8).astype(np.int64) - 48
        pad = np.full((n, width), -1, np.int64)
        pad[np.arange(width)[None, :] < lens[:, None]] = flat
        dist = edit_distance(true, pad, lens)
        dacc_num = np.bincount(group, weights=dist, minlength=n_groups)
        dacc_den = count * length
        at = pad[:, :length]
        pos_pred = np.where(at < 0, 10, at).reshape(-1)  # 10: nothing predicted there
        pos_true = true.reshape(-1)
        pos_group = np.repeat(group, length)
        n_cols = 11
    ok = np.bincount(group, weights=correct, minlength=n_groups)
    pos_ok = pos_pred == pos_true
    dig_n = np.bincount(pos_group * 10 + pos_true, minlength=n_groups * 10).reshape(-1, 10)
    dig_ok = np.bincount(pos_group * 10 + pos_true, weights=pos_ok, minlength=n_groups * 10)
    dig_ok = dig_ok.reshape(-1, 10)
    conf = np.bincount(
        (pos_group * 10 + pos_true) * n_cols + pos_pred, minlength=n_groups * 10 * n_cols
    ).reshape(n_groups, 10, n_cols)
    contact = np.zeros((n_groups, 3), np.int64)
    cvals = ladder.contact
    for c in range(3):
        contact[:, c] = np.bincount(group, weights=(cvals == c).sum(axis=1), minlength=n_groups)
    rows = []
    for g in np.flatnonzero(count):
        a = AXES[g // N_LEVELS] if g // N_LEVELS < len(AXES) else "other"
        lvl = int(g % N_LEVELS)
        sel = group == g
        t = float(ladder.difficulty[sel][0])
        label, key = AXIS_PARAM.get(a, ("", None))
        if a == "difficulty":
            pval: Any = round(t, 4)
        else:
            pval = axis_params(a, t)[key] if key else None
            pval = None if pval is None else round(float(pval), 4)
        row: dict[str, Any] = {
            "axis": a,
            "level": lvl,
            "difficulty": round(t, 4),
            "param": pval,
            "param_name": label,
            "n": int(count[g]),
            "accuracy": round(float(ok[g] / count[g]), 4),
        }
        if dacc_num is not None:
            row["digit_accuracy"] = round(max(0.0, 1.0 - float(dacc_num[g] / dacc_den[g])), 4)
        row["per_digit"] = _rate(dig_ok[g], dig_n[g])
        row["confusion"] = conf[g].tolist()
        row["contact"] = {CONTACT_NAMES[c]: int(contact[g, c]) for c in range(3)}
        rows.append(row)
    overall: dict[str, Any] = {
        "n": int(n),
        "accuracy": round(float(correct.mean()), 4) if n else None,
    }
    if dacc_num is not None and n:
        overall["digit_accuracy"] = round(
            max(0.0, 1.0 - float(dacc_num.sum() / dacc_den.sum())), 4
        )
    return rows, overall, correct


# -- writing -------------------------------------------------------------------------------


def _pct(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def markdown_table(report: RobustnessReport) -> str:
    """The report as markdown: accuracy per axis and level, then the details per level."""
    axes = [a for a in AXES if any(r["axis"] == a for r in report.levels)]
    head = "| axis | " + " | ".join(f"L{i}" for i in range(N_LEVELS)) + " |"
    sep = "|---|" + "---:|" * N_LEVELS
    what = "sequence accuracy" if report.kind == "sequences" else "accuracy"
    lines = [
        f"# Robustness of `{report.model}`",
        "",
        f"{report.kind}, {report.overall['n']} samples, model input ink={report.options.get('ink')} "
        f"dtype={report.options.get('dtype')}; overall {what} {_pct(report.overall['accuracy'])} %.",
        "",
        f"## {what.capitalize()} (%) per axis and level",
        "",
        head,
        sep,
    ]
    by = {(r["axis"], r["level"]): r for r in report.levels}
    for a in axes:
        cells = [_pct(by[(a, i)]["accuracy"]) if (a, i) in by else "" for i in range(N_LEVELS)]
        lines.append(f"| {a} | " + " | ".join(cells) + " |")
    if report.kind == "sequences":
        lines += ["", "## Digit accuracy (%, 1 - character error rate)", "", head, sep]
        for a in axes:
            cells = [
                _pct(by[(a, i)]["digit_accuracy"]) if (a, i) in by else "" for i in range(N_LEVELS)
            ]
            lines.append(f"| {a} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Per level",
        "",
        "| axis | level | difficulty | parameter | n | accuracy % | worst digit |"
        + (" digit acc % |" if report.kind == "sequences" else ""),
        "|---|---:|---:|---|---:|---:|---|" + ("---:|" if report.kind == "sequences" else ""),
    ]
    for r in report.levels:
        per = [(v, d) for d, v in enumerate(r["per_digit"]) if v is not None]
        worst = min(per)[1] if per else None
        wtxt = "" if worst is None else f"{worst} ({_pct(r['per_digit'][worst])} %)"
        param = "" if r["param"] is None else f"{r['param_name']} {r['param']:g}"
        line = (
            f"| {r['axis']} | {r['level']} | {r['difficulty']:.3f} | {param} | {r['n']} | "
            f"{_pct(r['accuracy'])} | {wtxt} |"
        )
        if report.kind == "sequences":
            line += f" {_pct(r['digit_accuracy'])} |"
        lines.append(line)
    lines.append("")
    return "\n".join(lines)


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


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        return ImageFont.load_default()


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


def contact_sheet(
    report: RobustnessReport, path: str | Path, *, zoom: int = 3, columns: int | None = None
) -> Path:
    """The hardest failures as a PNG grid, black ink on white, with ``true -> pred`` captions."""
    from PIL import Image, ImageDraw

    lad = report.ladder
    idx = report.worst.tolist()
    img_w = lad.images.shape[2] * zoom
    cols = columns or (8 if lad.kind == "digits" else max(1, 840 // (img_w + 10)))
    cell_w, cell_h = max(img_w, 84) + 10, 28 * zoom + 36
    n_rows = max(1, math.ceil(len(idx) / cols))
    sheet = Image.new("L", (cols * cell_w, n_rows * cell_h + 24), 255)
    dr = ImageDraw.Draw(sheet)
    f = _font(12)
    if not idx:
        dr.text((8, 6), "no failures", fill=0, font=f)
    else:
        dr.text((8, 6), f"worst failures of {report.model}: true -> predicted", fill=0, font=f)
    truth = lad.label_strings
    page = np.rint((1.0 - np.clip(lad.images[idx], 0, 1)) * 255).astype(np.uint8) if idx else None
    for k, i in enumerate(idx):
        r, c = divmod(k, cols)
        x0, y0 = c * cell_w + 5, r * cell_h + 24
        tile = Image.fromarray(page[k]).resize((img_w, 28 * zoom), Image.NEAREST)
        sheet.paste(tile, (x0, y0))
        dr.rectangle([x0 - 1, y0 - 1, x0 + img_w, y0 + 28 * zoom], outline=160)
        pred = str(report.predictions[i]) or "(none)"
        dr.text((x0, y0 + 28 * zoom + 3), f"{truth[i]} -> {pred}", fill=0, font=f)
        dr.text((x0, y0 + 28 * zoom + 17), f"{lad.axis[i]} L{lad.level[i]}", fill=90, font=f)
    path = Path(path)
    sheet.save(path, format="PNG", optimize=True)
    return path


def write_report(
    report: RobustnessReport, out: str | Path, *, prefix: str = "robustness"
) -> dict[str, Path]:
    """Write ``PREFIX.json``, ``PREFIX.md``, ``PREFIX_accuracy.png`` and ``PREFIX_failures.png``.

    Parameters
    ----------
    report : RobustnessReport
    out : str or path
        Folder (created if missing).
    prefix : str
        File name stem.

    Returns
    -------
    dict of str to pathlib.Path
        ``json``, ``markdown``, ``plot``, ``failures``.
    """
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / f"{prefix}.json",
        "markdown": folder / f"{prefix}.md",
        "plot": folder / f"{prefix}_accuracy.png",
        "failures": folder / f"{prefix}_failures.png",
    }
    paths["json"].write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False) + "\n")
    paths["markdown"].write_text(markdown_table(report))
    plot_accuracy(report, paths["plot"])
    contact_sheet(report, paths["failures"])
    return paths
