"""An augmentation pipeline described as data: :class:`Augmenter`, presets, config checks.

A config is a dict (or a TOML/JSON file) with two sections, ``digit`` and
``sequence``; each maps a transform name to ``{"p": probability, param:
[low, high] or value, ...}`` (or ``true`` for all defaults, ``false`` for
off). Every digit (or sequence) independently gets each transform with
probability ``p`` and its parameters drawn uniformly from the ranges (integers
inclusive). Transforms run in a fixed canonical order, whatever the order in
the config (see ``DIGIT_ORDER``, ``SEQUENCE_ORDER``).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._textdata import parse_toml_or_json
from ..rng import as_generator
from . import digit as _d
from . import sequence as _s
from ._core import check_batch, finish, gaussian_blur, is_number

__all__ = ["DEFAULT_CONFIG", "DIGIT_ORDER", "PRESETS", "SEQUENCE_ORDER", "Augmenter"]

log = logging.getLogger(__name__)

CONFIG_VERSION = 1


@dataclass(frozen=True)
class _Param:
    default: tuple[float, float]  # range used when the config does not give one
    lo: float  # hard limits of valid values
    hi: float
    identity: float | None  # value that changes nothing (None: no such value)
    integer: bool = False
    hint: str = ""


# Parameter defaults (used when a config lists a transform without a range)
# are the ranges of the "medium" preset. Canonical order. Digits: morphology on the clean strokes, then one fused
# geometric resampling (affine + elastic), gaps, MNIST framing, then
# photometric blur and noise (noise last so it is not blurred or re-framed).
# Sequences: geometry first (boxes follow), then the pen (contrast), the
# paper (clutter is not affected by ink-level jitter), then the camera.
_SPEC: dict[str, dict[str, dict[str, _Param]]] = {
    "digit": {
        "stroke_width": {"radius": _Param((-0.4, 1.0), -3, 3, 0.0, hint="pixels, <0 thins")},
        "affine": {
            "rotation": _Param((-10, 10), -180, 180, 0.0, hint="degrees, counter-clockwise"),
            "shear": _Param((-12, 12), -60, 60, 0.0, hint="degrees, >0 leans right"),
            "scale": _Param((0.92, 1.08), 0.2, 5, 1.0),
            "aspect": _Param((0.9, 1.1), 0.2, 5, 1.0, hint="width/height factor"),
            "translate_x": _Param((-0.5, 0.5), -14, 14, 0.0, hint="pixels"),
            "translate_y": _Param((-0.5, 0.5), -14, 14, 0.0, hint="pixels"),
        },
        "elastic": {
            "alpha": _Param((10, 28), 0, 300, 0.0, hint="pixels"),
            "sigma": _Param((4.5, 6.0), 0.5, 20, None, hint="pixels"),
        },
        "broken_strokes": {
            "cuts": _Param((1, 2), 0, 10, 0.0, integer=True),
            "radius": _Param((0.8, 1.2), 0.5, 5, None, hint="pixels"),
        },
        "normalize": {},
        "blur": {"sigma": _Param((0.3, 0.8), 0, 5, 0.0, hint="pixels")},
        "noise": {"std": _Param((0.02, 0.08), 0, 1, 0.0, hint="ink units")},
    },
    "sequence": {
        "slant": {"angle": _Param((-6, 6), -45, 45, 0.0, hint="degrees, >0 leans right")},
        "wobble": {
            "amplitude": _Param((0.0, 0.8), 0, 10, 0.0, hint="pixels"),
            "wavelength": _Param((40, 120), 4, 100_000, None, hint="pixels"),
        },
        "contrast": {
            "gamma": _Param((0.7, 1.4), 0.2, 5, 1.0),
            "ink_level": _Param((0.8, 1.0), 0, 1, 1.0),
            "background": _Param((0.0, 0.05), 0, 1, 0.0),
        },
        "clutter": {
            "lines": _Param((0, 1), 0, 5, None, integer=True),
            "line_intensity": _Param((0.05, 0.2), 0, 1, None),
            "specks": _Param((0.0, 3.0), 0, 100, None, hint="per 100 columns"),
            "speck_intensity": _Param((0.3, 0.7), 0, 1, None),
        },
        "blur": {"sigma": _Param((0.3, 0.7), 0, 5, 0.0, hint="pixels")},
        "noise": {"std": _Param((0.0, 0.04), 0, 1, 0.0, hint="ink units")},
    },
}

DIGIT_ORDER: tuple[str, ...] = tuple(_SPEC["digit"])
SEQUENCE_ORDER: tuple[str, ...] = tuple(_SPEC["sequence"])

PRESETS: dict[str, dict[str, Any]] = {
    "none": {"digit": {}, "sequence": {}},
    "light": {
        "digit": {
            "affine": {
                "p": 0.5,
                "rotation": [-5, 5],
                "shear": [-8, 8],
                "scale": [0.95, 1.05],
                "aspect": [0.95, 1.05],
                "translate_x": [-1, 1],
                "translate_y": [-1, 1],
            },
            "elastic": {"p": 0.3, "alpha": [10, 25], "sigma": [4.5, 5.5]},
            "stroke_width": {"p": 0.2, "radius": [-0.3, 0.6]},
        },
        "sequence": {
            "wobble": {"p": 0.2, "amplitude": [0, 1], "wavelength": [60, 150]},
            "slant": {"p": 0.2, "angle": [-4, 4]},
            "contrast": {"p": 0.2, "gamma": [0.8, 1.25], "ink_level": [0.85, 1], "background": 0},
        },
    },
    # Tuned so the PCA+kNN reference classifier (strongly translation-
    # sensitive) keeps ~93% on augmented MNIST test digits (96.6% clean):
    # translations stay small, elastic uses the smoother half of the range.
    "medium": {
        "digit": {
            "stroke_width": {"p": 0.3, "radius": [-0.4, 1.0]},
            "affine": {
                "p": 0.7,
                "rotation": [-10, 10],
                "shear": [-12, 12],
                "scale": [0.92, 1.08],
                "aspect": [0.9, 1.1],
                "translate_x": [-0.5, 0.5],
                "translate_y": [-0.5, 0.5],
            },
            "elastic": {"p": 0.5, "alpha": [10, 28], "sigma": [4.5, 6.0]},
            "broken_strokes": {"p": 0.1, "cuts": [1, 2], "radius": [0.8, 1.2]},
            "blur": {"p": 0.2, "sigma": [0.3, 0.8]},
        },
        "sequence": {
            "slant": {"p": 0.3, "angle": [-6, 6]},
            "wobble": {"p": 0.3, "amplitude": [0, 0.8], "wavelength": [40, 120]},
            "contrast": {
                "p": 0.3,
                "gamma": [0.7, 1.4],
                "ink_level": [0.8, 1.0],
                "background": [0, 0.05],
            },
            "blur": {"p": 0.2, "sigma": [0.3, 0.7]},
            "noise": {"p": 0.3, "std": [0, 0.04]},
        },
    },
    "heavy": {
        "digit": {
            "stroke_width": {"p": 0.5, "radius": [-0.7, 1.5]},
            "affine": {
                "p": 1.0,
                "rotation": [-20, 20],
                "shear": [-25, 25],
                "scale": [0.8, 1.15],
                "aspect": [0.75, 1.3],
                "translate_x": [-2, 2],
                "translate_y": [-2, 2],
            },
            "elastic": {"p": 0.8, "alpha": [30, 40], "sigma": [3.5, 4.5]},
            "broken_strokes": {"p": 0.3, "cuts": [1, 3], "radius": [0.8, 1.5]},
            "blur": {"p": 0.3, "sigma": [0.3, 1.0]},
            # no per-digit noise in a preset: on a line it paints each 28-px
            # tile as a grey rectangle; the sequence-level noise covers it
        },
        "sequence": {
            "slant": {"p": 0.5, "angle": [-15, 15]},
            "wobble": {"p": 0.5, "amplitude": [0.5, 2.5], "wavelength": [30, 100]},
            "contrast": {
                "p": 0.5,
                "gamma": [0.6, 1.6],
                "ink_level": [0.6, 1.0],
                "background": [0, 0.1],
            },
            "clutter": {
                "p": 0.3,
                "lines": [0, 2],
                "line_intensity": [0.05, 0.25],
                "specks": [0, 5],
                "speck_intensity": [0.3, 0.8],
            },
            "blur": {"p": 0.3, "sigma": [0.3, 1.0]},
            "noise": {"p": 0.5, "std": [0.02, 0.1]},
        },
    },
}

#: Moderate strength that keeps MNIST digits readable (the ``"medium"`` preset).
DEFAULT_CONFIG: dict[str, Any] = copy.deepcopy(PRESETS["medium"])


def _fail(key: str, msg: str) -> ValueError:
    return ValueError(f"augment config: {key}: {msg}")


def _check_range(key: str, value: object, spec: _Param) -> list[float]:
    """Normalise a scalar or a [low, high] pair to a checked [low, high] list."""
    if is_number(value):
        pair = [value, value]
    elif isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_number, value)):
        pair = list(value)
    else:
        raise _fail(key, f"must be a number or a [low, high] pair of numbers, got {value!r}")
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


def _normalise_config(config: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Check ``config`` and return it fully explicit: every transform, every parameter."""
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
    for section, transforms in _SPEC.items():
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
            if not is_number(p) or not 0.0 <= float(p) <= 1.0:
                raise _fail(f"{key}.p", f"must be a probability in [0, 1], got {p!r}")
            res: dict[str, Any] = {"p": float(p)}
            for pname, spec in params.items():
                res[pname] = _check_range(f"{key}.{pname}", entry.get(pname, spec.default), spec)
            sec[name] = res
        out[section] = sec
    return out


def _load_file(path: Path) -> Mapping[str, Any]:
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


def _draw(rng: np.random.Generator, n: int, entry: Mapping[str, Any], spec: dict[str, _Param]):
    """Apply mask and per-sample parameters for one transform."""
    applied = rng.random(n) < entry["p"]
    values: dict[str, np.ndarray] = {}
    for pname, ps in spec.items():
        lo, hi = entry[pname]
        if lo == hi:
            values[pname] = np.full(n, float(lo))
        elif ps.integer:
            values[pname] = rng.integers(int(lo), int(hi) + 1, size=n).astype(np.float64)
        else:
            values[pname] = rng.uniform(lo, hi, size=n)
    return applied, values


def _record(applied: np.ndarray, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rec: dict[str, np.ndarray] = {"applied": applied.copy()}
    for k, v in values.items():
        rec[k] = np.where(applied, v, np.nan)
    return rec


class Augmenter:
    """A pipeline of per-digit and per-sequence transforms, built from a config.

    Build with :meth:`from_config` or :meth:`preset`; apply with :meth:`digits`
    (before composition) and :meth:`sequences` (after). The same ``rng``
    state gives the same output. Instances are immutable and compare equal
    when their explicit configs are equal.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self._config = _normalise_config(config or {})
        # The active transforms in canonical order, once: the rows API asks for
        # them for every row, and the config never changes.
        self._on = {
            "digit": tuple(t for t in DIGIT_ORDER if self._active("digit", t)),
            "sequence": tuple(t for t in SEQUENCE_ORDER if self._active("sequence", t)),
        }

    # ---- construction -------------------------------------------------
    @classmethod
    def from_config(
        cls, config: Augmenter | Mapping[str, Any] | str | os.PathLike | None
    ) -> Augmenter:
        """Build from a dict, a TOML/JSON file, a preset name, or None (identity).

        Parameters
        ----------
        config : dict, str, os.PathLike, Augmenter or None
            A dict ``{"digit": {...}, "sequence": {...}}``; a path to a ``.toml``
            or ``.json`` file holding one (at top level or in an ``[augment]``
            table); a preset name (``"none"``, ``"light"``, ``"medium"``,
            ``"heavy"``) given as a str that is not an existing file; an
            Augmenter (returned as is); None for no augmentation.

        Raises
        ------
        ValueError
            Unknown section, transform or parameter, a bad range or probability,
            a missing or unreadable file; the message names the key and what is valid.
        TypeError
            If ``config`` is of another type.
        """
        if config is None:
            return cls({})
        if isinstance(config, Augmenter):
            return config
        if isinstance(config, str) and config in PRESETS and not Path(config).is_file():
            return cls.preset(config)
        if isinstance(config, (str, os.PathLike)):
            return cls(_load_file(Path(config)))
        if isinstance(config, Mapping):
            return cls(config)
        raise TypeError(
            "augment config must be a dict, a path to a .toml/.json file, a preset name or "
            f"None, not {type(config).__name__}"
        )

    @classmethod
    def preset(cls, name: str) -> Augmenter:
        """A named preset: ``"none"``, ``"light"``, ``"medium"`` (the default) or ``"heavy"``."""
        if name not in PRESETS:
            raise ValueError(f"unknown augment preset {name!r}; valid: {', '.join(PRESETS)}")
        return cls(PRESETS[name])

    def to_config(self) -> dict[str, Any]:
        """The fully explicit config (every transform and parameter), JSON-serialisable."""
        return {"version": CONFIG_VERSION, **copy.deepcopy(self._config)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Augmenter) and other._config == self._config

    def __hash__(self) -> int:
        return hash(json.dumps(self._config, sort_keys=True))

    def __repr__(self) -> str:
        on = [
            f"{sec}.{name}(p={e['p']:g})"
            for sec, ts in self._config.items()
            for name, e in ts.items()
            if self._active(sec, name)
        ]
        return f"Augmenter({', '.join(on) or 'identity'})"

    # ---- identity -------------------------------------------------------
    def _active(self, section: str, name: str) -> bool:
        """True when the transform can change an image."""
        e = self._config[section][name]
        if e["p"] <= 0:
            return False
        if name == "normalize":
            return True
        if name == "clutter":
            lines = e["lines"][1] > 0 and e["line_intensity"][1] > 0
            specks = e["specks"][1] > 0 and e["speck_intensity"][1] > 0
            return lines or specks
        # Identity when every parameter that has a neutral value is pinned to it
        # (elastic alpha 0 whatever sigma; wobble amplitude 0 whatever wavelength).
        spec = _SPEC[section][name]
        return not all(
            e[k] == [ps.identity, ps.identity] for k, ps in spec.items() if ps.identity is not None
        )

    @property
    def digit_is_identity(self) -> bool:
        """True when :meth:`digits` returns its input unchanged."""
        return not any(self._active("digit", t) for t in DIGIT_ORDER)

    @property
    def sequence_is_identity(self) -> bool:
        """True when :meth:`sequences` returns its input unchanged."""
        return not any(self._active("sequence", t) for t in SEQUENCE_ORDER)

    @property
    def is_identity(self) -> bool:
        """True when nothing can change (the composer may skip augmentation)."""
        return self.digit_is_identity and self.sequence_is_identity

    # ---- application ----------------------------------------------------
    def digits(
        self, ink: object, rng: object = None, *, return_params: bool = False
    ) -> np.ndarray | tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """Augment a batch of ink digits ``(n, 28, 28)`` (before composition).

        Parameters
        ----------
        ink : array_like, shape (n, 28, 28)
            Ink units (1 = ink, 0 = background); not modified.
        rng : None, int, SeedSequence or Generator
        return_params : bool
            Also return the drawn parameters: ``{transform: {"applied": bool (n,),
            param: float (n,) (NaN where not applied)}}`` for each active transform.

        Returns
        -------
        ndarray (n, 28, 28) float32 in [0, 1], C-contiguous
            (and the parameters when ``return_params``).
        """
        x = check_batch(ink)
        out, params = self._apply_digits(x, _Live(as_generator(rng)))
        return (out, params) if return_params else out

    def digits_rows(
        self,
        ink: object,
        rngs: Sequence[object],
        per_row: int,
        *,
        return_params: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """Augment the digits of many rows, each row with its own generator, in one batch.

        The same as ``np.concatenate([self.digits(ink[r*per_row:(r+1)*per_row],
        rngs[r]) for r in range(R)])``, bit for bit, and each generator is left
        in the state that loop leaves it in. Every random draw is made row by row
        (cheap), with the row's generator and in the order :meth:`digits` makes
        it; the transforms then run once over all rows.

        Parameters
        ----------
        ink : array_like, shape (R * per_row, 28, 28)
            Row ``r`` owns digits ``r * per_row`` to ``(r + 1) * per_row - 1``.
        rngs : sequence of R generators (or anything :meth:`digits` accepts)
            Independent generators, one per row (a later :meth:`sequences_rows`
            with the same generators continues their streams).
        per_row : int
            Digits per row, >= 1.
        return_params : bool
            Also return the parameters, as :meth:`digits` (rows concatenated).

        Returns
        -------
        ndarray (R * per_row, 28, 28) float32 in [0, 1]
            (and the parameters when ``return_params``).

        Raises
        ------
        ValueError
            If ``per_row < 1`` or ``len(ink) != len(rngs) * per_row``.
        """
        x = check_batch(ink)
        gens = [as_generator(g) for g in rngs]
        per_row = _check_per_row(per_row, x.shape[0], len(gens))
        rows = []
        for gen in gens:
            rec = _Recorder(gen)
            self._draw_digits(rec, per_row)
            rows.append(rec)
        src = _Drawn(rows, np.repeat(np.arange(len(gens)), per_row))
        out, params = self._apply_digits(x, src)
        return (out, params) if return_params else out

    def _draw_digits(self, src: _Live, n: int) -> None:
        """Make the draws of :meth:`_apply_digits` on ``n`` digits, in its order, without the work."""
        draws = self._digit_params(src, n)
        if "elastic" in draws:
            m = int(np.count_nonzero(draws["elastic"][0]))
            for s in range(0, m, _d.CHUNK):
                src.elastic(s, min(m, s + _d.CHUNK))
        if "broken_strokes" in draws:
            idx, v = _subset(draws["broken_strokes"])
            if idx.size:
                src.cuts(idx.size, int(v["cuts"].astype(np.int64).max()))
        if "noise" in draws:
            idx, _ = _subset(draws["noise"])
            if idx.size:
                src.pixels((idx.size, _d.SIZE, _d.SIZE))

    def _digit_params(self, src: _Live, n: int) -> dict[str, tuple[np.ndarray, dict]]:
        """Mask and parameters of every active digit transform (drawn first, in canonical order)."""
        cfg = self._config["digit"]
        return {name: src.params("digit", name, cfg[name], n) for name in self._on["digit"]}

    def _apply_digits(
        self, x: np.ndarray, src: _Live | _Drawn
    ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
        """The digit pipeline on a checked batch; randomness from ``src``.

        ``src.rows`` labels the digits of separate calls (None: one call); the
        kernels whose result depends on the rest of the call get it.
        """
        draws = self._digit_params(src, x.shape[0])
        params = {name: _record(*d) for name, d in draws.items()}
        out = x.copy()
        if "stroke_width" in draws:
            idx, v = _subset(draws["stroke_width"])
            if idx.size:
                out[idx] = _d.stroke_width(out[idx], radius=v["radius"])
        if "affine" in draws or "elastic" in draws:
            out = _geometric(out, src, draws.get("affine"), draws.get("elastic"))
        if "broken_strokes" in draws:
            idx, v = _subset(draws["broken_strokes"])
            if idx.size:
                c = v["cuts"].astype(np.int64)
                u = src.cuts(idx.size, int(c.max()))
                out[idx] = _d._cut_gaps(out[idx], u, c, v["radius"], groups=src.group(idx))
        if "normalize" in draws:
            idx, _ = _subset(draws["normalize"])
            if idx.size:
                out[idx] = _d._renormalize(out[idx], groups=src.group(idx))
        if "blur" in draws:
            idx, v = _subset(draws["blur"])
            if idx.size:
                out[idx] = gaussian_blur(out[idx], v["sigma"])
        if "noise" in draws:
            idx, v = _subset(draws["noise"])
            if idx.size:
                z = src.pixels((idx.size, _d.SIZE, _d.SIZE))
                out[idx] = _d._add_noise(out[idx], z, v["std"])
        return finish(out), params

    def sequences(
        self,
        images: object,
        boxes: object = None,
        rng: object = None,
        *,
        return_params: bool = False,
    ) -> Any:
        """Augment a batch of ink lines ``(N, 28, W)`` and move their digit boxes.

        Parameters
        ----------
        images : array_like, shape (N, 28, W)
            Ink units; not modified.
        boxes : array_like (N, k, 4) of ints ``[x0, x1, y0, y1)``, or None
            Per-digit boxes; slant and wobble move them with the ink.
        rng : None, int, SeedSequence or Generator
        return_params : bool
            Also return the drawn parameters (as in :meth:`digits`; wobble
            records its phase too).

        Returns
        -------
        (images, boxes) or (images, boxes, params)
            images float32 (N, 28, W) in [0, 1]; boxes int64 (N, k, 4) or None.
        """
        x = check_batch(images, "images")
        b = _s.check_boxes(boxes, x)
        gen = as_generator(rng)
        out, b, params = self._apply_sequences(x, b, _Live(gen))
        return (out, b, params) if return_params else (out, b)

    def sequences_rows(
        self,
        images: object,
        boxes: object,
        rngs: Sequence[object],
        *,
        return_params: bool = False,
    ) -> Any:
        """Augment many lines, each with its own generator, in one batch.

        The same as concatenating ``self.sequences(images[r:r+1], boxes[r:r+1],
        rngs[r])`` over the rows, bit for bit (images, boxes and parameters),
        and each generator is left in the state that loop leaves it in.

        Parameters
        ----------
        images : array_like, shape (R, 28, W)
            Ink units; not modified.
        boxes : array_like (R, k, 4) of ints, or None
        rngs : sequence of R generators (or anything :meth:`sequences` accepts)
            One independent generator per line.
        return_params : bool
            Also return the parameters, as :meth:`sequences` (rows concatenated).

        Returns
        -------
        (images, boxes) or (images, boxes, params)
            As :meth:`sequences`.

        Raises
        ------
        ValueError
            If ``len(rngs)`` is not the number of lines.
        """
        x = check_batch(images, "images")
        b = _s.check_boxes(boxes, x)
        gens = [as_generator(g) for g in rngs]
        n, h, w = x.shape
        if len(gens) != n:
            raise ValueError(f"need one generator per line: {n} lines, {len(gens)} generators")
        rows = []
        for gen in gens:
            rec = _Recorder(gen)
            self._draw_sequences(rec, h, w)
            rows.append(rec)
        out, b, params = self._apply_sequences(x, b, _Drawn(rows, np.arange(n)))
        return (out, b, params) if return_params else (out, b)

    def _draw_sequences(self, src: _Live, h: int, w: int) -> None:
        """Make the draws of :meth:`_apply_sequences` on one line, in its order, without the work."""
        for name in self._on["sequence"]:
            applied, v = src.params("sequence", name, self._config["sequence"][name], 1)
            if not applied[0]:
                continue
            if name == "clutter":
                src.clutter(h, w, v["lines"], v["specks"])
            elif name == "noise":
                src.pixels((1, h, w))

    def _apply_sequences(
        self, x: np.ndarray, b: np.ndarray | None, src: _Live | _Drawn
    ) -> tuple[np.ndarray, np.ndarray | None, dict[str, dict[str, np.ndarray]]]:
        """The sequence pipeline on a checked batch; randomness from ``src``.

        Each transform's parameters are drawn just before it runs (after the
        previous transform's own draws): that order is part of the stream.
        """
        n, h, w = x.shape
        params: dict[str, dict[str, np.ndarray]] = {}
        out = x.copy()
        for name in self._on["sequence"]:
            applied, v = src.params("sequence", name, self._config["sequence"][name], n)
            params[name] = _record(applied, v)
            idx = np.flatnonzero(applied)
            if idx.size == 0:
                continue
            sv = {k: a[idx] for k, a in v.items()}
            sub_b = None if b is None else b[idx]
            if name == "slant":
                out[idx], nb = _s.slant(out[idx], sub_b, angle=sv["angle"])
            elif name == "wobble":
                out[idx], nb = _s.wobble(out[idx], sub_b, **sv)
            else:
                nb = sub_b
                if name == "contrast":
                    out[idx] = _s.contrast(out[idx], **sv)
                elif name == "clutter":
                    cd = src.clutter(h, w, sv["lines"], sv["specks"])
                    out[idx] = _s._clutter_apply(
                        out[idx], cd, sv["lines"], sv["line_intensity"], sv["speck_intensity"]
                    )
                elif name == "blur":
                    out[idx] = gaussian_blur(out[idx], sv["sigma"])
                elif name == "noise":
                    z = src.pixels((idx.size, h, w))
                    out[idx] = _d._add_noise(out[idx], z, sv["std"])
            if b is not None and nb is not None:
                b[idx] = nb
        return finish(out), b, params


def _check_per_row(per_row: object, n: int, rows: int) -> int:
    """``per_row`` as an int >= 1 that splits ``n`` digits into ``rows`` rows."""
    if isinstance(per_row, (bool, np.bool_)) or not isinstance(per_row, (int, np.integer)):
        raise TypeError(f"per_row must be an int, got {per_row!r}")
    per_row = int(per_row)
    if per_row < 1:
        raise ValueError(f"per_row must be >= 1, got {per_row}")
    if n != rows * per_row:
        raise ValueError(
            f"ink holds {n} digits but {rows} generators x {per_row} per row = {rows * per_row}"
        )
    return per_row


class _Live:
    """Randomness of ONE call, drawn from its generator when a transform asks for it.

    The apply methods ask in the order of the original pipeline, so a single
    call's stream is unchanged; the whole batch is that one call.
    """

    def __init__(self, gen: np.random.Generator) -> None:
        self.gen = gen

    def group(self, idx: np.ndarray) -> np.ndarray | None:
        """Call labels of the images ``idx`` (None: all from this one call)."""
        return None

    def params(
        self, section: str, name: str, entry: Mapping[str, Any], n: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Mask and parameters of one transform for the ``n`` images."""
        applied, values = _draw(self.gen, n, entry, _SPEC[section][name])
        if section == "sequence" and name == "wobble":
            values["phase"] = self.gen.uniform(0.0, 2 * math.pi, n)
        return applied, values

    def elastic(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Uniform noise of elastic digits ``start:stop`` (one chunk) and their kernel groups."""
        return self.gen.random((stop - start, 2, _d.SIZE, _d.SIZE), dtype=np.float32), None

    def cuts(self, n: int, cmax: int) -> np.ndarray:
        """Uniforms placing the gaps of ``n`` digits with at most ``cmax`` cuts."""
        return self.gen.random((n, max(cmax, 1)))

    def pixels(self, shape: tuple[int, ...]) -> np.ndarray:
        """Standard normal pixel noise of ``shape``."""
        return self.gen.standard_normal(shape, dtype=np.float32)

    def clutter(self, h: int, w: int, lines: np.ndarray, specks: np.ndarray):
        """Line rows and speck positions of clutter on ``len(lines)`` images of ``h x w``."""
        return _s._clutter_draw(self.gen, h, w, lines, specks)


class _Recorder(_Live):
    """A :class:`_Live` that keeps everything it draws, for one row of a rows call."""

    def __init__(self, gen: np.random.Generator) -> None:
        super().__init__(gen)
        self.drawn: dict[str, list] = {}

    def _keep(self, kind: str, value):
        self.drawn.setdefault(kind, []).append(value)
        return value

    def params(self, section, name, entry, n):
        return self._keep(f"{section}.{name}", super().params(section, name, entry, n))

    def elastic(self, start, stop):
        return self._keep("elastic", super().elastic(start, stop))

    def cuts(self, n, cmax):
        return self._keep("cuts", super().cuts(n, cmax))

    def pixels(self, shape):
        return self._keep("pixels", super().pixels(shape))

    def clutter(self, h, w, lines, specks):
        return self._keep("clutter", super().clutter(h, w, lines, specks))


class _Drawn:
    """Randomness of many rows, drawn beforehand row by row, served concatenated in row order.

    Each kind of draw is consumed once per batch by the apply methods (every
    transform takes its parameters once, and the one that needs noise of a
    kind takes it once), so concatenating each row's draws of a kind gives
    exactly the arrays the batched transform asks for.
    """

    def __init__(self, rows: list[_Recorder], labels: np.ndarray) -> None:
        self.rows = labels  # call (row) of every image
        self._rec = rows

    def _all(self, kind: str) -> list:
        return [v for rec in self._rec for v in rec.drawn.get(kind, [])]

    def group(self, idx: np.ndarray) -> np.ndarray:
        return self.rows[idx]

    def params(self, section, name, entry, n):
        parts = self._all(f"{section}.{name}")
        applied = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, bool)
        keys = parts[0][1] if parts else {}
        values = {k: np.concatenate([p[1][k] for p in parts]) for k in keys}
        assert applied.shape == (n,)
        return applied, values

    def elastic(self, start, stop):
        if not hasattr(self, "_elastic"):
            # every chunk of every row is a separate kernel group
            chunks = [u for u, _ in self._all("elastic")]
            self._elastic = np.concatenate(chunks)
            self._kgroups = np.repeat(np.arange(len(chunks)), [c.shape[0] for c in chunks])
        return self._elastic[start:stop], self._kgroups[start:stop]

    def cuts(self, n, cmax):
        parts = self._all("cuts")
        # rows drew (n_r, max(their cmax, 1)): pad to the widest; the extra cuts are inactive
        width = max(p.shape[1] for p in parts)
        u = np.concatenate([np.pad(p, ((0, 0), (0, width - p.shape[1]))) for p in parts])
        assert u.shape[0] == n and width >= cmax
        return u

    def pixels(self, shape):
        z = np.concatenate(self._all("pixels"))
        assert z.shape == shape
        return z

    def clutter(self, h, w, lines, specks):
        parts = self._all("clutter")
        width = max(p.rows.shape[1] for p in parts)
        return _s._ClutterDraws(
            np.concatenate(
                [np.pad(p.rows, ((0, 0), (0, width - p.rows.shape[1]))) for p in parts]
            ),
            np.concatenate([p.counts for p in parts]),
            np.concatenate([p.pos for p in parts]),
            np.concatenate([p.level for p in parts]),
        )


def _subset(draw: tuple[np.ndarray, dict[str, np.ndarray]]):
    applied, values = draw
    idx = np.flatnonzero(applied)
    return idx, {k: v[idx] for k, v in values.items()}


def _geometric(x: np.ndarray, src: _Live | _Drawn, aff, ela) -> np.ndarray:
    """Affine and elastic fused into one bilinear resampling of the digits that get either.

    ``out(q) = in(A^-1 q + d(q))``: statistically the same as elastic then
    affine, with one interpolation (less blur) instead of two.
    """
    n = x.shape[0]
    a_on = aff[0] if aff is not None else np.zeros(n, bool)
    e_on = ela[0] if ela is not None else np.zeros(n, bool)
    union = np.flatnonzero(a_on | e_on)
    if union.size == 0:
        return x
    inv = None
    if aff is not None and a_on[union].any():
        v = aff[1]
        on = a_on[union]

        def pick(key: str, ident: float) -> np.ndarray:
            return np.where(on, v[key][union], ident)

        translate = np.stack([pick("translate_x", 0.0), pick("translate_y", 0.0)], axis=1)
        inv = _d._affine_inverse(
            union.size,
            pick("rotation", 0.0),
            pick("shear", 0.0),
            pick("scale", 1.0),
            pick("aspect", 1.0),
            translate,
        )
    field = None
    if ela is not None and e_on[union].any():
        sel = np.flatnonzero(e_on[union])
        alpha = ela[1]["alpha"][union[sel]]
        sigma = ela[1]["sigma"][union[sel]]
        field = np.zeros((union.size, 2, _d.SIZE, _d.SIZE), np.float32)
        # chunk by chunk as elastic_field draws them (a lone call: one draw per chunk)
        for s in range(0, sel.size, _d.CHUNK):
            e = min(sel.size, s + _d.CHUNK)
            u, groups = src.elastic(s, e)
            field[sel[s:e]] = _d._fields_from_noise(u, alpha[s:e], sigma[s:e], groups)
    out = x.copy()
    out[union] = _d.warp(x[union], inv, field)
    return out
