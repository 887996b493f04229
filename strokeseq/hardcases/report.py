"""Robustness reports: what :func:`~strokeseq.hardcases.scoring.evaluate` measured, written out.

:class:`RobustnessReport` holds a model's results on a ladder;
:func:`write_report` writes it as JSON, a markdown table and PNGs drawn with
Pillow (:mod:`strokeseq.hardcases.figures`: accuracy against difficulty,
failures from every level, example strips per axis and level, the confusion
matrix). The scoring itself is in :mod:`strokeseq.hardcases.scoring`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .ladder import AXES, CONTACT_NAMES, N_LEVELS, PARAM_NAMES, Ladder

__all__ = ["RobustnessReport", "markdown_table", "write_report"]

#: Names that moved to :mod:`strokeseq.hardcases.scoring` or ``figures`` (old import paths keep working).
_MOVED = {
    "AXIS_PARAM": "scoring",
    "edit_distance": "scoring",
    "evaluate": "scoring",
    "model_inputs": "scoring",
    "progress_bar": "scoring",
    "plot_accuracy": "figures",
    "failures_sheet": "figures",
    "level_strips": "figures",
    "confusion_image": "figures",
}


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
    if name in _MOVED:
        import importlib

        return getattr(importlib.import_module(f".{_MOVED[name]}", __package__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
