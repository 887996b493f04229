"""Robustness reports: a user's model run over a ladder, per level and per digit.

:func:`evaluate` returns a :class:`RobustnessReport`; :func:`write_report`
writes it as JSON, a markdown table and PNGs drawn with Pillow
(:mod:`strokeseq.hardcases.figures`: accuracy against difficulty, failures
from every level, example strips per axis and level, the confusion matrix).

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

__all__ = [
    "RobustnessReport",
    "edit_distance",
    "evaluate",
    "model_inputs",
    "progress_bar",
    "write_report",
]

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


def progress_bar(enabled: bool | None, **kwargs: Any):
    """A tqdm bar on stderr; ``enabled=None`` shows it only when stderr is a terminal."""
    from tqdm.auto import tqdm

    return tqdm(disable=None if enabled is None else not enabled, leave=False, **kwargs)


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
    """Failures from every (axis, level), taken in turn, easiest first within each.

    Round-robin over the (axis, level) groups that have failures: the first
    failure of every group, then the second of every group, and so on, so
    the sheet shows each level that fails (not only the cleanest one). The
    result is ordered by axis, then level, for reading.
    """
    idx = np.flatnonzero(wrong)
    if idx.size == 0 or count <= 0:
        return np.zeros(0, np.int64)
    codes = np.array([_AXIS_CODE.get(a, len(AXES)) for a in ladder.axis[idx]], np.int64)
    level = np.clip(ladder.level[idx], -1, N_LEVELS - 1)
    group = codes * (N_LEVELS + 1) + level + 1
    order = np.lexsort((idx, ladder.difficulty[idx], group))
    idx, group, codes, level = idx[order], group[order], codes[order], level[order]
    starts = np.searchsorted(group, group, side="left")
    rank = np.arange(idx.size) - starts  # position within its (axis, level) group
    # Within a round, walk the (axis, level) grid by diagonals, so that any prefix
    # (a small `count`) still covers every axis and a spread of levels.
    diagonal = (level - codes) % N_LEVELS
    take = np.lexsort((codes, diagonal, rank))[:count]
    chosen = np.sort(take)  # back to (axis, level, difficulty) order
    return idx[chosen].astype(np.int64)


def evaluate(
    predict: Callable[[np.ndarray], Any],
    ladder: Ladder,
    *,
    ink: str = "white",
    dtype: str = "float32",
    batch_size: int = 1024,
    worst: int = len(AXES) * N_LEVELS,
    name: str | None = None,
    progress: bool | None = False,
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
        How many failures to keep for the failures sheet (default one per
        axis and level): picked round-robin from every (axis, level) that has
        failures, the easiest first within each.
    name : str, optional
        Model name for the report.
    progress : bool or None
        Show a tqdm progress bar on stderr: False (default, library use),
        True, or None for "only on a terminal" (what the CLI passes).

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
    with progress_bar(progress, total=n, desc="evaluating", unit="img") as bar:
        for s in range(0, n, batch_size):
            x = model_inputs(ladder.images[s : s + batch_size], ink, dtype)
            preds.append(call_model(predict, x, kind, name))
            bar.update(len(x))
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


def write_report(
    report: RobustnessReport, out: str | Path, *, prefix: str = "robustness"
) -> dict[str, Path]:
    """Write the report: JSON, markdown and four PNGs.

    Files: ``PREFIX.json``, ``PREFIX.md``, ``PREFIX_accuracy.png`` (accuracy
    against level per axis), ``PREFIX_failures.png`` (failures from every
    level), ``PREFIX_levels.png`` (one strip per axis: an example of every
    level, marked right or wrong) and ``PREFIX_confusion.png`` (the confusion
    matrix over all samples).

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
        ``json``, ``markdown``, ``plot``, ``failures``, ``levels``, ``confusion``.
    """
    from .figures import confusion_image, failures_sheet, level_strips, plot_accuracy

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": folder / f"{prefix}.json",
        "markdown": folder / f"{prefix}.md",
        "plot": folder / f"{prefix}_accuracy.png",
        "failures": folder / f"{prefix}_failures.png",
        "levels": folder / f"{prefix}_levels.png",
        "confusion": folder / f"{prefix}_confusion.png",
    }
    paths["json"].write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False) + "\n")
    paths["markdown"].write_text(markdown_table(report))
    plot_accuracy(report, paths["plot"])
    failures_sheet(report, paths["failures"])
    level_strips(report, paths["levels"])
    confusion_image(report, paths["confusion"])
    return paths


def __getattr__(name: str) -> Any:
    # the PNG drawing moved to figures.py; keep the old import path working
    if name in ("plot_accuracy", "failures_sheet", "level_strips", "confusion_image"):
        from . import figures

        return getattr(figures, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
