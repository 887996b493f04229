"""The options of :class:`~strokeseq.StrokeSource`: per-model defaults and their validation.

Each option left at ``None`` takes its model's default (:data:`GLYPH_DEFAULTS`,
:data:`FITTED_DEFAULTS`); :func:`resolve` checks every value and returns the
options as :class:`StrokeSource` stores them, raising ``TypeError`` or
``ValueError`` that say what would be valid.
"""

from __future__ import annotations

import math
import numbers
from pathlib import Path
from typing import Any

from .pen import PLACEMENTS

__all__ = ["FITTED_DEFAULTS", "GLYPH_DEFAULTS", "RENDER_OPTIONS", "files_sha256", "resolve"]

#: Defaults of the options left at None, per model.
GLYPH_DEFAULTS: dict[str, Any] = {
    "jitter": 2.0,
    "pen_width": (2.8, 4.4),
    "slant": 12.0,
    "rotation": 6.0,
    "aspect": (0.95, 1.3),
    "samples_per_segment": 9,
    "soft": 0.5,
    "supersample": 3,
    "placement": "centre",
}
FITTED_DEFAULTS: dict[str, Any] = {
    "jitter": 0.0,
    "pen_width": None,  # the fitted per-allograph distribution
    "slant": 0.0,  # extra, on top of the fitted slant
    "rotation": 0.0,
    "aspect": None,
    # a fitted stroke is a chain of 4 short cubics: 4 points each follow it within
    # about 0.3 px (a quarter circle of radius 8 px drawn as 3 chords)
    "samples_per_segment": 4,
    "soft": 0.35,  # MNIST-like edge: 35 % of inked pixels below 0.5 (MNIST 32 %, 0.5 gave 41 %)
    # 2: the same holdout realism as 3 (docs/synthetic.md, session 6), 1.7x the speed
    "supersample": 2,
    "placement": "mnist",  # MNIST's own: 20 whole pixels (docs/synthetic.md, session 6)
}


def _pair(name: str, value: Any, lo: float, hi: float) -> tuple[float, float]:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or a pair (low, high), got {value!r}") from None
    if not (math.isfinite(a) and math.isfinite(b)) or not lo <= a <= b <= hi:
        raise ValueError(f"{name} must satisfy {lo:g} <= low <= high <= {hi:g}, got {value!r}")
    return a, b


def _real(name: str, value: Any, lo: float, hi: float) -> float:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be in [{lo:g}, {hi:g}], got {value!r}")
    return v


def _integer(name: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{name} must be an integer {lo}-{hi}, got {value!r}")
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer {lo}-{hi}, got {value}")
    return int(value)


def resolve(glyph: bool, **given: Any) -> dict[str, Any]:
    """Every option of a :class:`StrokeSource`, defaults filled in and checked.

    Parameters
    ----------
    glyph : bool
        The hand-made glyphs (True) or the fitted model (False): whose defaults.
    **given
        ``jitter, supersample, pen_width, slant, rotation, aspect, pressure,
        soft, samples_per_segment, variety, placement``; None takes the default.

    Examples
    --------
    >>> opts = resolve(False, jitter=None, supersample=None, pen_width=None, slant=None,
    ...     rotation=None, aspect=None, pressure=0.2, soft=None, samples_per_segment=None,
    ...     variety=1.2, placement=None)
    >>> opts["supersample"], opts["soft"], opts["placement"]
    (2, 0.35, 'mnist')
    """
    d = GLYPH_DEFAULTS if glyph else FITTED_DEFAULTS
    v = {k: (d[k] if given.get(k) is None and k in d else given.get(k)) for k in given}
    placement = v["placement"]
    if not isinstance(placement, str) or placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    pen, aspect = v["pen_width"], v["aspect"]
    samples = v["samples_per_segment"]
    if not isinstance(samples, numbers.Integral) or isinstance(samples, bool):
        raise TypeError(f"samples_per_segment must be an integer, got {samples!r}")
    if not 2 <= samples <= 64:
        raise ValueError(f"samples_per_segment must be in 2-64, got {samples}")
    return {
        "jitter": _real("jitter", v["jitter"], 0.0, 14.0),
        "supersample": _integer("supersample", v["supersample"], 1, 8),
        "pen_width": None if pen is None else _pair("pen_width", pen, 0.3, 8.0),
        "slant": _real("slant", v["slant"], 0.0, 60.0),
        "rotation": _real("rotation", v["rotation"], 0, 90),
        "aspect": None if aspect is None else _pair("aspect", aspect, 0.2, 5.0),
        "pressure": _real("pressure", v["pressure"], 0.0, 0.9),
        "soft": _real("soft", v["soft"], 0.05, 1.0),
        "samples_per_segment": int(samples),
        "variety": _real("variety", v["variety"], 0.0, 3.0),
        "placement": placement,
    }


#: The options that change how the same stroke data is drawn: a source's
#: data identity records them as resolved (defaults can change between versions).
RENDER_OPTIONS = ("supersample", "soft", "samples_per_segment", "placement")


def files_sha256(model: str, glyphs: Path | None, model_file: Path | None) -> str:
    """SHA-256 over the names and contents of the files a source draws from.

    The glyph files of ``glyphs`` (or the built-in folder) for ``model="glyphs"``,
    else the model file (or the shipped ``stroke_model.json``).

    Examples
    --------
    >>> len(files_sha256("fitted", None, None)) == len(files_sha256("glyphs", None, None)) == 64
    True
    """
    import hashlib

    if model == "glyphs":
        from .glyph_schema import builtin_glyph_dir

        where = glyphs or builtin_glyph_dir()
        files = (
            sorted(p for p in where.iterdir() if p.suffix in (".toml", ".json"))
            if where.is_dir()
            else [where]
        )
    else:
        from .model import default_model_path

        files = [model_file or default_model_path()]
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return digest.hexdigest()
