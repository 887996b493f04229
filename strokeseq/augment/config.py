"""Augmentation configs: the schema, the presets (data files) and validation.

A config is a dict (or a TOML/JSON file) with two sections, ``digit`` and
``sequence``; each maps a transform name to ``{"p": probability, param:
value, ...}`` (or ``true`` for all defaults, ``false`` for off). A value is a
number (fixed), a ``[low, high]`` pair (drawn uniformly per item, integers
inclusive) or ``{"choice": [v1, v2, ...]}`` (one of the values, equally
likely: a fixed magnitude with a random sign is ``{"choice": [-10, 10]}``).
Every digit (or line) independently gets each transform with probability
``p``. Transforms run in the fixed order of :data:`SCHEMA`, whatever the order
in the config.

The presets are the TOML files in ``presets/`` beside this module.
See docs/augmentation.md for the reference.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from .._textdata import parse_toml_or_json
from ..validate import is_real

__all__ = [
    "CONFIG_VERSION",
    "DEFAULT_CONFIG",
    "DIGIT_ORDER",
    "PRESETS",
    "SCHEMA",
    "SEQUENCE_ORDER",
    "Param",
    "load_file",
    "normalise_config",
    "strength_config",
]

CONFIG_VERSION = 1


@dataclass(frozen=True)
class Param:
    """One parameter of a transform: its default range, hard limits and neutral value."""

    default: tuple[float, float]  # range used when the config does not give one
    lo: float  # hard limits of valid values
    hi: float
    identity: float | None  # value that changes nothing (None: no such value)
    integer: bool = False
    hint: str = ""


# Parameter defaults (used when a config lists a transform without a range)
# are the ranges of the "medium" preset. Canonical order. Digits: morphology
# on the clean strokes, then one fused geometric resampling (affine +
# elastic), gaps, MNIST framing, then photometric blur and noise (noise last
# so it is not blurred or re-framed). Sequences: geometry first (boxes
# follow), then the pen (contrast), the paper (clutter is not affected by
# ink-level jitter), then the camera. A new transform: one entry here and one
# unit in units.py.
SCHEMA: dict[str, dict[str, dict[str, Param]]] = {
    "digit": {
        "stroke_width": {"radius": Param((-0.4, 1.0), -3, 3, 0.0, hint="pixels, <0 thins")},
        "affine": {
            "rotation": Param((-10, 10), -180, 180, 0.0, hint="degrees, counter-clockwise"),
            "shear": Param((-12, 12), -60, 60, 0.0, hint="degrees, >0 leans right"),
            "scale": Param((0.92, 1.08), 0.2, 5, 1.0),
            "aspect": Param((0.9, 1.1), 0.2, 5, 1.0, hint="width/height factor"),
            "translate_x": Param((-0.5, 0.5), -14, 14, 0.0, hint="pixels"),
            "translate_y": Param((-0.5, 0.5), -14, 14, 0.0, hint="pixels"),
        },
        "elastic": {
            "alpha": Param((10, 28), 0, 300, 0.0, hint="pixels"),
            "sigma": Param((4.5, 6.0), 0.5, 20, None, hint="pixels"),
        },
        "broken_strokes": {
            "cuts": Param((1, 2), 0, 10, 0.0, integer=True),
            "radius": Param((0.8, 1.2), 0.5, 5, None, hint="pixels"),
        },
        "normalize": {},
        "blur": {"sigma": Param((0.3, 0.8), 0, 5, 0.0, hint="pixels")},
        "noise": {"std": Param((0.02, 0.08), 0, 1, 0.0, hint="ink units")},
    },
    "sequence": {
        "slant": {"angle": Param((-6, 6), -45, 45, 0.0, hint="degrees, >0 leans right")},
        "wobble": {
            "amplitude": Param((0.0, 0.8), 0, 10, 0.0, hint="pixels"),
            "wavelength": Param((40, 120), 4, 100_000, None, hint="pixels"),
        },
        "contrast": {
            "gamma": Param((0.7, 1.4), 0.2, 5, 1.0),
            "ink_level": Param((0.8, 1.0), 0, 1, 1.0),
            "background": Param((0.0, 0.05), 0, 1, 0.0),
        },
        "clutter": {
            "lines": Param((0, 1), 0, 5, None, integer=True),
            "line_intensity": Param((0.05, 0.2), 0, 1, None),
            "specks": Param((0.0, 3.0), 0, 100, None, hint="per 100 columns"),
            "speck_intensity": Param((0.3, 0.7), 0, 1, None),
        },
        "blur": {"sigma": Param((0.3, 0.7), 0, 5, 0.0, hint="pixels")},
        "noise": {"std": Param((0.0, 0.04), 0, 1, 0.0, hint="ink units")},
    },
}

DIGIT_ORDER: tuple[str, ...] = tuple(SCHEMA["digit"])
SEQUENCE_ORDER: tuple[str, ...] = tuple(SCHEMA["sequence"])


def _load_presets() -> dict[str, dict[str, Any]]:
    """Every ``presets/*.toml``, mildest first (then any others by name)."""
    folder = resources.files(__package__) / "presets"
    found = {
        Path(f.name).stem: f
        for f in folder.iterdir()
        if f.name.endswith(".toml") and not f.name.startswith(".")
    }
    order = [n for n in ("none", "light", "medium", "heavy") if n in found]
    order += sorted(set(found) - set(order))
    out = {}
    for name in order:
        data = parse_toml_or_json(found[name].read_text(encoding="utf-8"), ".toml")
        out[name] = {"digit": data.get("digit", {}), "sequence": data.get("sequence", {})}
        normalise_config(out[name])  # a broken preset file fails at import, not at use
    return out


def _fail(key: str, msg: str) -> ValueError:
    return ValueError(f"augment config: {key}: {msg}")


def _check_value(key: str, value: object, spec: Param) -> list[float] | dict[str, list[float]]:
    """Normalise a number, a [low, high] pair or a ``{"choice": [...]}`` table, checked."""
    if isinstance(value, Mapping):
        if set(value) != {"choice"}:
            raise _fail(key, f"a table must be {{choice = [values]}}, got {dict(value)!r}")
        vals = value["choice"]
        if (
            not isinstance(vals, (list, tuple))
            or not vals
            or not all(map(is_real, vals))
            or len(vals) > 1000
        ):
            raise _fail(key, f"choice must be a list of 1 to 1000 numbers, got {vals!r}")
        checked = [_check_value(key, v, spec)[0] for v in vals]  # type: ignore[index]
        return {"choice": checked}
    if is_real(value):
        pair = [value, value]
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_real, value)):
        pair = list(value)
    else:
        raise _fail(
            key,
            f"must be a number, a [low, high] pair of numbers or {{choice = [values]}}, "
            f"got {value!r}",
        )
    lo, hi = (float(v) for v in pair)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise _fail(key, f"must be finite, got {value!r}")
    if lo > hi:
        raise _fail(key, f"low must be <= high, got [{lo}, {hi}]")
    if lo < spec.lo or hi > spec.hi:
        raise _fail(key, f"must lie within [{spec.lo}, {spec.hi}], got [{lo}, {hi}]")
    if spec.integer:
        if lo != int(lo) or hi != int(hi):
            raise _fail(key, f"must be whole numbers, got [{lo}, {hi}]")
        return [int(lo), int(hi)]
    return [lo, hi]


def normalise_config(config: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Check ``config`` and return it fully explicit: every transform, every parameter.

    Raises
    ------
    TypeError
        If ``config`` is not a mapping.
    ValueError
        Naming the key and what is valid, for anything else that is wrong.
    """
    if not isinstance(config, Mapping):
        raise TypeError(f"augment config must be a mapping, not {type(config).__name__}")
    extra = set(config) - {"digit", "sequence", "version"}
    if extra:
        raise _fail(
            ", ".join(sorted(map(str, extra))),
            "unknown section; valid: 'digit', 'sequence' (and 'version')",
        )
    version = config.get("version", CONFIG_VERSION)
    if version != CONFIG_VERSION:
        raise _fail("version", f"unsupported version {version!r}; valid: {CONFIG_VERSION}")
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for section, transforms in SCHEMA.items():
        given = config.get(section) or {}
        if not isinstance(given, Mapping):
            raise _fail(section, f"must be a table of transforms, got {given!r}")
        unknown = [k for k in given if k not in transforms]
        if unknown:
            raise _fail(
                f"{section}.{unknown[0]}",
                f"unknown transform; valid in '{section}': {', '.join(transforms)}",
            )
        sec: dict[str, dict[str, Any]] = {}
        for name, params in transforms.items():
            entry = given.get(name, False)
            key = f"{section}.{name}"
            if entry is True:
                entry = {"p": 1.0}
            elif entry is False or entry is None:
                entry = {"p": 0.0}
            elif not isinstance(entry, Mapping):
                raise _fail(key, f"must be a table {{p = ..., ...}}, true or false, got {entry!r}")
            bad = [k for k in entry if k != "p" and k not in params]
            if bad:
                valid = ", ".join(["p", *params])
                raise _fail(f"{key}.{bad[0]}", f"unknown parameter; valid: {valid}")
            p = entry.get("p", 1.0)
            if not is_real(p) or not 0.0 <= float(p) <= 1.0:
                raise _fail(f"{key}.p", f"must be a probability in [0, 1], got {p!r}")
            res: dict[str, Any] = {"p": float(p)}
            for pname, spec in params.items():
                res[pname] = _check_value(f"{key}.{pname}", entry.get(pname, spec.default), spec)
            sec[name] = res
        out[section] = sec
    return out


def is_active(section: str, name: str, entry: Mapping[str, Any]) -> bool:
    """True when the transform ``name`` with the explicit ``entry`` can change an image."""
    if entry["p"] <= 0:
        return False

    def values(v) -> list[float]:
        return v["choice"] if isinstance(v, Mapping) else v

    if name == "clutter":
        lines = max(values(entry["lines"])) > 0 and max(values(entry["line_intensity"])) > 0
        specks = max(values(entry["specks"])) > 0 and max(values(entry["speck_intensity"])) > 0
        return lines or specks
    # Identity when every parameter that has a neutral value is pinned to it
    # (elastic alpha 0 whatever sigma; wobble amplitude 0 whatever wavelength);
    # a transform without such parameters (normalize) always acts.
    neutral = [
        all(v == ps.identity for v in values(entry[k]))
        for k, ps in SCHEMA[section][name].items()
        if ps.identity is not None
    ]
    return not (neutral and all(neutral))


def load_file(path: Path) -> Mapping[str, Any]:
    """Read a TOML or JSON config file (a top-level ``[augment]`` table is accepted)."""
    if not path.is_file():
        raise ValueError(
            f"augment config file {str(path)!r} does not exist; give a dict, a .toml or .json "
            f"file, or a preset name: {', '.join(PRESETS)}"
        )
    text = path.read_text(encoding="utf-8")
    suffix = path.suffix.lower()
    try:
        if suffix in (".json", ".toml"):
            data = parse_toml_or_json(text, suffix)
        else:
            raise ValueError(f"augment config file {str(path)!r} must end in .toml or .json")
    except (json.JSONDecodeError, ValueError) as exc:
        if isinstance(exc, ValueError) and str(exc).startswith("augment config"):
            raise
        raise ValueError(f"augment config file {str(path)!r} is not valid: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"augment config file {str(path)!r} must hold a table")
    if "augment" in data and not ({"digit", "sequence"} & set(data)):
        data = data["augment"]
    return data


def _signed(value: float) -> float | dict[str, list[float]]:
    """A fixed magnitude with a random sign (0 stays 0)."""
    value = abs(float(value))
    return {"choice": [-value, value]} if value else 0.0


def strength_config(
    *,
    rotation: float = 0.0,
    shear: float = 0.0,
    stroke_radius: float | Sequence[float] = 0.0,
    elastic_alpha: float = 0.0,
    elastic_sigma: float = 4.0,
) -> dict[str, Any]:
    """A config that applies exact strengths to every digit (as robustness ladders do).

    Rotation and shear get the given magnitude with a random sign per digit;
    ``stroke_radius`` is one radius or several (one chosen per digit, equally
    likely: ``(-0.6, 1.5)`` thins or thickens); elastic uses exactly
    ``elastic_alpha`` and ``elastic_sigma``. A strength of 0 leaves its
    transform off, so all zeros is the identity.

    Parameters
    ----------
    rotation, shear : float
        Degrees (magnitudes; the sign is drawn).
    stroke_radius : float or sequence of floats
        Signed radii in pixels (< 0 thins).
    elastic_alpha, elastic_sigma : float
        Elastic scale and smoothness in pixels.

    Returns
    -------
    dict
        A config for :meth:`Augmenter.from_config` (checked there).

    Examples
    --------
    >>> from strokeseq.augment import Augmenter, strength_config
    >>> cfg = strength_config(rotation=10, stroke_radius=(-0.6, 1.5), elastic_alpha=20)
    >>> cfg["digit"]["affine"]
    {'p': 1.0, 'rotation': {'choice': [-10.0, 10.0]}, 'shear': 0.0, 'scale': 1.0, 'aspect': 1.0, 'translate_x': 0.0, 'translate_y': 0.0}
    >>> Augmenter.from_config(cfg)
    Augmenter(digit.stroke_width(p=1), digit.affine(p=1), digit.elastic(p=1))
    """
    digit: dict[str, Any] = {}
    radii = [stroke_radius] if is_real(stroke_radius) else list(stroke_radius)  # type: ignore[arg-type]
    radii = [float(r) for r in radii if r != 0]
    if radii:
        digit["stroke_width"] = {
            "p": 1.0,
            "radius": radii[0] if len(radii) == 1 else {"choice": radii},
        }
    if rotation or shear:
        digit["affine"] = {
            "p": 1.0,
            "rotation": _signed(rotation),
            "shear": _signed(shear),
            "scale": 1.0,
            "aspect": 1.0,
            "translate_x": 0.0,
            "translate_y": 0.0,
        }
    if elastic_alpha:
        digit["elastic"] = {"p": 1.0, "alpha": float(elastic_alpha), "sigma": float(elastic_sigma)}
    return {"digit": digit, "sequence": {}}


PRESETS: dict[str, dict[str, Any]] = _load_presets()

#: Moderate strength that keeps MNIST digits readable (the ``"medium"`` preset).
DEFAULT_CONFIG: dict[str, Any] = copy.deepcopy(PRESETS["medium"])
