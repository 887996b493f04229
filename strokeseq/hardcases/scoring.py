"""Scoring a user's model on a ladder: per level, per digit, and the failures to show.

:func:`evaluate` runs the model in batches (a progress bar on request) and
returns a :class:`~strokeseq.hardcases.report.RobustnessReport`;
:mod:`strokeseq.hardcases.report` writes it.

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

import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from .ladder import AXES, CONTACT_NAMES, N_LEVELS, Ladder, axis_params
from .model import call_model, model_name
from .report import RobustnessReport

__all__ = ["AXIS_PARAM", "edit_distance", "evaluate", "model_inputs", "progress_bar"]

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
