"""The difficulty axes of the ladders: level tables, parameters per difficulty, strengths.

A ladder has :data:`N_LEVELS` levels per axis; level ``i`` has difficulty
``t = i / (N_LEVELS - 1)`` in [0, 1], level 0 is the clean digit (see
:mod:`strokeseq.hardcases.ladder` for the axes). The strengths of a level are
an ordinary augmentation config (:func:`strength_config`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..validate import is_real

__all__ = [
    "AXES",
    "BASE_JITTER",
    "CONTACT_NAMES",
    "DIFFICULTY_TABLE",
    "KINDS",
    "LEVEL_TABLES",
    "N_LEVELS",
    "PARAM_NAMES",
    "axis_params",
    "difficulty_params",
    "strength_config",
]

#: Levels per axis; level ``i`` has difficulty ``i / (N_LEVELS - 1)``.
N_LEVELS = 7
#: The axes, in report order; "difficulty" is the combined knob.
AXES = ("difficulty", "jitter", "elastic", "rotation", "slant", "thin", "thick", "touching")
KINDS = ("digits", "sequences")
#: Contact codes of two neighbouring digits (see :func:`classify_contact`).
CONTACT_NAMES = {-1: "n/a", 0: "separate", 1: "touching", 2: "overlapping"}
#: Parameters recorded per digit (NaN where a parameter played no part).
PARAM_NAMES = ("jitter", "elastic_alpha", "rotation", "slant", "stroke_radius")

#: Value of each single axis at levels 0..6. Chosen so the reference classifier
#: loses accuracy at every step (measured: README, "Hard cases"). ``None`` in
#: "touching" means no neighbours (digits) or the neutral spacing (sequences).
LEVEL_TABLES: dict[str, tuple[Any, ...]] = {
    "jitter": (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0),
    "elastic": (0.0, 12.0, 18.0, 24.0, 32.0, 42.0, 56.0),
    "rotation": (0.0, 10.0, 18.0, 24.0, 32.0, 42.0, 56.0),
    "slant": (0.0, 15.0, 22.0, 29.0, 36.0, 45.0, 55.0),
    "thin": (0.0, -0.35, -0.5, -0.65, -0.8, -1.0, -1.3),
    "thick": (0.0, 0.75, 1.0, 1.25, 1.5, 2.0, 2.75),
    "touching": (None, 2, 1, 0, -1, -3, -5),
}
#: The combined knob: each parameter at d = 1 (linear in d from 0), except
#: the gap (see :func:`difficulty_params`). Jitter applies to the synthetic source only.
DIFFICULTY_TABLE: dict[str, float] = {
    "jitter": 4.0,
    "elastic_alpha": 30.0,
    "rotation": 20.0,
    "slant": 20.0,
    "thick": 1.5,
    "thin": -0.6,
    "gap_start": 2.0,
    "gap_end": -3.0,
}
ELASTIC_SIGMA = 4.0
#: Jitter of the synthetic base digits on every axis but "jitter": milder than
#: the StrokeSource default (2 px), so level 0 of each axis is clean handwriting.
BASE_JITTER = 1.0
#: Spacing of sequences on axes that are not about spacing (ink layout, px).
NEUTRAL_SPACING = (6, 8)
#: Ink level above which a pixel counts as ink for touching/overlap (ink units).
CONTACT_THRESHOLD = 0.25
_AXIS_CODE = {a: i for i, a in enumerate(AXES)}


def _check_t(t: object) -> float:
    if not is_real(t) or not math.isfinite(float(t)):
        raise TypeError(f"difficulty must be a number in [0, 1], got {t!r}")
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"difficulty must be in [0, 1], got {t}")
    return float(t)


def _interp(table: tuple[float, ...], t: float) -> float:
    return float(np.interp(t, np.linspace(0.0, 1.0, len(table)), table))


def difficulty_params(d: float) -> dict[str, Any]:
    """Parameters of the combined ``difficulty`` knob at ``d`` in [0, 1].

    Every parameter grows linearly from its clean value at ``d = 0`` (jitter:
    :data:`BASE_JITTER`) to :data:`DIFFICULTY_TABLE` at ``d = 1``. Rotation and slant get a random
    sign per digit; stroke width is thickened (radius ``thick * d``) or thinned
    (``thin * d``) with equal probability per digit. The gap to neighbouring
    digits is ``None`` (no neighbours / neutral spacing) for ``d < 1/6`` and
    otherwise ``floor`` of the line from ``gap_start`` at ``d = 1/6`` to
    ``gap_end`` at ``d = 1``.

    Returns
    -------
    dict
        ``jitter``, ``elastic_alpha``, ``rotation``, ``slant`` (magnitudes),
        ``thick``, ``thin`` (signed radii), ``gap`` (int or None).
    """
    d = _check_t(d)
    tab = DIFFICULTY_TABLE
    first = 1.0 / (N_LEVELS - 1)
    if d < first - 1e-9:
        gap = None
    else:
        u = (d - first) / (1.0 - first)
        gap = math.floor(tab["gap_start"] + u * (tab["gap_end"] - tab["gap_start"]) + 1e-9)
    return {
        "jitter": BASE_JITTER + (tab["jitter"] - BASE_JITTER) * d,
        "elastic_alpha": tab["elastic_alpha"] * d,
        "rotation": tab["rotation"] * d,
        "slant": tab["slant"] * d,
        "thick": tab["thick"] * d,
        "thin": tab["thin"] * d + 0.0,  # + 0.0: no -0.0 at d = 0
        "gap": gap,
    }


def axis_params(axis: str, t: float) -> dict[str, Any]:
    """Parameters of one axis at difficulty ``t`` in [0, 1] (same keys as :func:`difficulty_params`).

    Between the levels of :data:`LEVEL_TABLES` values are interpolated
    linearly; the gap of "touching" steps (no neighbours below level 1).
    """
    t = _check_t(t)
    if axis == "difficulty":
        return difficulty_params(t)
    if axis not in LEVEL_TABLES:
        raise ValueError(f"axis must be one of {', '.join(AXES)} or 'all', got {axis!r}")
    p: dict[str, Any] = {
        "jitter": BASE_JITTER,
        "elastic_alpha": 0.0,
        "rotation": 0.0,
        "slant": 0.0,
        "thick": 0.0,
        "thin": 0.0,
        "gap": None,
    }
    table = LEVEL_TABLES[axis]
    if axis == "touching":
        i = math.floor(t * (N_LEVELS - 1) + 1e-6)  # t may come back as float32 (5/6 -> 0.8333333)
        p["gap"] = table[i]
    elif axis == "elastic":
        p["elastic_alpha"] = _interp(table, t)
    elif axis in ("thin", "thick", "jitter", "rotation", "slant"):
        p[axis] = _interp(table, t)
    return p


def strength_config(rotation: float, slant: float, radius: float, alpha: float) -> dict:
    """The augmentation config of one set of ladder strengths (signed, per digit).

    An ordinary :class:`strokeseq.augment.Augmenter` config: every transform
    with ``p = 1`` and its parameter pinned to the value; transforms at their
    identity are left out, so strength 0 is an exact identity.
    """
    digit: dict[str, Any] = {}
    if radius != 0.0:
        digit["stroke_width"] = {"p": 1.0, "radius": float(radius)}
    if rotation != 0.0 or slant != 0.0:
        digit["affine"] = {
            "p": 1.0,
            "rotation": float(rotation),
            "shear": float(slant),
            "scale": 1.0,
            "aspect": 1.0,
            "translate_x": 0.0,
            "translate_y": 0.0,
        }
    if alpha > 0.0:
        digit["elastic"] = {"p": 1.0, "alpha": float(alpha), "sigma": ELASTIC_SIGMA}
    return {"digit": digit, "sequence": {}}
