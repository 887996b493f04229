"""What a dataset contains: :class:`DatasetConfig`, its validation, dict form and hash.

The config is everything that decides the *content* of sample ``i`` besides
the seed: label rules, spacing, width, sources, split, layout, polarity,
augmentation. It has one canonical JSON form (:meth:`DatasetConfig.to_dict`);
its SHA-256 (:meth:`DatasetConfig.digest`) identifies a dataset folder, so a
resumed run can tell "the same dataset" from "a different one" exactly.
Where the MNIST files live (``data_dir``) is deliberately *not* part of it:
it is a property of the machine, not of the dataset.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from ..validate import is_integer, is_real

__all__ = [
    "SOURCE_CODES",
    "SPLIT_CODES",
    "DatasetConfig",
    "parse_pattern",
    "source_code",
    "source_name",
]

#: Spawn-key word of each split: the same seed gives independent train and test sets.
SPLIT_CODES = {"train": 0, "test": 1}
#: Code stored per sample for its source (``source`` column of the labels).
SOURCE_CODES = {"mnist": 0, "synthetic": 1}
#: Longest sequence accepted (keeps the per-sample word budget bounded).
MAX_LENGTH = 64
_PATTERN_TOKEN = re.compile(r"\[[0-9](?:-[0-9])?(?:[0-9](?:-[0-9])?)*\]|[0-9?d]")


def parse_pattern(pattern: str) -> list[tuple[int, ...]]:
    """Allowed digits at each position of a pattern such as ``"1??[0-4]d"``.

    A digit is itself; ``?`` or ``d`` is any digit; ``[...]`` is a class of
    digits and ranges (``[13-5]`` is 1, 3, 4, 5). Spaces are ignored.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a string like '1??[0-4]', got {type(pattern).__name__}")
    text = pattern.replace(" ", "")
    out: list[tuple[int, ...]] = []
    pos = 0
    while pos < len(text):
        m = _PATTERN_TOKEN.match(text, pos)
        if m is None:
            raise ValueError(
                f"pattern {pattern!r}: cannot read {text[pos:]!r}; use digits, '?' (any digit) "
                "or classes like '[0-4]'"
            )
        tok = m.group()
        if tok in ("?", "d"):
            out.append(tuple(range(10)))
        elif tok.isdigit():
            out.append((int(tok),))
        else:
            allowed: set[int] = set()
            for a, b in re.findall(r"([0-9])(?:-([0-9]))?", tok[1:-1]):
                lo, hi = int(a), int(b or a)
                if hi < lo:
                    raise ValueError(f"pattern {pattern!r}: empty range {a}-{b}")
                allowed.update(range(lo, hi + 1))
            out.append(tuple(sorted(allowed)))
        pos = m.end()
    if not out:
        raise ValueError("pattern must have at least one position")
    if len(out) > MAX_LENGTH:
        raise ValueError(f"pattern is longer than {MAX_LENGTH} digits")
    return out


def _pair_int(name: str, value: Any) -> tuple[int, int]:
    if is_integer(value):
        return int(value), int(value)
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise TypeError(f"{name} must be an int or a pair [min, max] of ints, got {value!r}")
    items = list(value)
    if len(items) != 2 or not all(is_integer(v) for v in items):
        raise TypeError(f"{name} must be an int or a pair [min, max] of ints, got {value!r}")
    lo, hi = int(items[0]), int(items[1])
    if lo > hi:
        raise ValueError(f"{name} must have min <= max, got {value!r}")
    return lo, hi


def _check_sequences(seqs: Any) -> tuple[str, ...]:
    if isinstance(seqs, str) or not isinstance(seqs, Iterable):
        raise TypeError("sequences must be a list of digit strings such as ['02139', '94305']")
    out = []
    for s in seqs:
        if not isinstance(s, str):
            if isinstance(s, Iterable) and all(is_integer(d) and 0 <= d <= 9 for d in s):
                s = "".join(str(int(d)) for d in s)
            else:
                raise TypeError(f"each sequence must be a string of digits, got {s!r}")
        s = s.strip()
        if not s or not s.isascii() or not s.isdigit():
            raise ValueError(f"each sequence must be a non-empty string of digits 0-9, got {s!r}")
        if len(s) > MAX_LENGTH:
            raise ValueError(f"sequence {s!r} is longer than {MAX_LENGTH} digits")
        out.append(s)
    if not out:
        raise ValueError("sequences must not be empty")
    return tuple(out)


def _check_sources(source: Any) -> dict[str, float]:
    if isinstance(source, str):
        source = {source: 1.0}
    if not isinstance(source, Mapping) or not source:
        raise TypeError(
            "source must be 'mnist', 'synthetic' or a mapping of proportions such as "
            f"{{'mnist': 0.7, 'synthetic': 0.3}}, got {source!r}"
        )
    out: dict[str, float] = {}
    for name, w in source.items():
        if name not in SOURCE_CODES and not _other_source(name):
            from ..sources import registered_sources

            raise ValueError(
                f"unknown source {name!r}; use {', '.join(registered_sources())} "
                "or an import path 'package.module:Class'"
            )
        if not is_real(w) or not math.isfinite(w) or w < 0:
            raise ValueError(f"proportion of source {name!r} must be a number >= 0, got {w!r}")
        if w > 0:
            out[name] = float(w)
    if not out:
        raise ValueError("at least one source needs a proportion > 0")
    total = sum(out.values())
    # canonical order and normalised weights: {"synthetic": 1, "mnist": 3} == {"mnist": .75, ...}
    order = [k for k in SOURCE_CODES if k in out] + sorted(k for k in out if k not in SOURCE_CODES)
    codes = [source_code(k) for k in order]
    if len(set(codes)) != len(codes):
        raise ValueError(f"sources {order} share a source code; rename one of them")
    return {k: out[k] / total for k in order}


def _normalise_augment(augment: Any) -> dict[str, Any] | None:
    """The augmenter's fully explicit config (None when it changes nothing).

    Presets and files are expanded, so the config (and its hash) says exactly
    what was applied, whatever the presets become in later versions.
    """
    try:
        from ..augment import Augmenter
    except ImportError as exc:  # the hook exists before the augmentation module
        if not isinstance(augment, Mapping):
            raise ValueError(
                f"augment needs strokeseq.augment, which is unavailable ({exc})"
            ) from None
        return json.loads(json.dumps(dict(augment), sort_keys=True))
    aug = Augmenter.from_config(augment)
    return None if aug.is_identity else json.loads(json.dumps(aug.to_config(), sort_keys=True))


def parse_width(text: str) -> int | dict[str, int]:
    """Parse a width: ``"200"`` (pixels) or ``"30n+10"`` (30 px per digit plus 10).

    Raises
    ------
    ValueError
        For any other text.
    """
    import re

    m = re.fullmatch(r"\s*(\d+)\s*(n\s*(?:\+\s*(\d+))?)?\s*", text)
    if not m:
        raise ValueError(
            f"width must be pixels (200) or per digit plus extra (30n+10), got {text!r}"
        )
    if m.group(2) is None:
        return int(m.group(1))
    return {"per_digit": int(m.group(1)), "extra": int(m.group(3) or 0)}


@dataclass(frozen=True)
class DatasetConfig:
    """The content of a dataset, apart from its seed and size.

    Parameters
    ----------
    length : int or (int, int)
        Sequence length, fixed or an inclusive range drawn uniformly per
        sample. Ignored (must be left at its default) when ``sequences`` or
        ``pattern`` decides the digits.
    sequences : list of str, optional
        Draw each sample's digits uniformly from this list (e.g. ZIP codes).
    pattern : str, optional
        Draw each position from a pattern: ``"9??[0-4]d"`` (digit, ``?``/``d``
        any digit, ``[...]`` a class).
    spacing : (int, int)
        Inclusive range of the gap between consecutive digit boxes in pixels
        (negative: overlap, ink layout only).
    width : int or dict
        Image width: an int, or ``{"per_digit": a, "extra": b}`` for a width
        of ``a * length + b`` derived per sample.
    source : str or dict
        ``"mnist"``, ``"synthetic"``, or proportions such as
        ``{"mnist": 0.8, "synthetic": 0.2}`` (each *sample* comes from one source).
    split : {"train", "test"}
        MNIST split; also part of every sample's seed.
    writer : {None, "same"}
        ``"same"``: all digits of an MNIST sample from one writer (QMNIST).
    layout : {"tile", "ink"}
        Digit boxes: 28-px tiles or tight ink columns.
    ink : {"black", "white"}
        Stored polarity: black ink on white (255) or white ink on black (0).
    synthetic : dict
        Options of :class:`strokeseq.sources.stroke.StrokeSource` (``jitter``...).
    augment : dict or str, optional
        Augmentation (:mod:`strokeseq.augment`): a config dict, a TOML/JSON
        file or a preset name, stored as the augmenter's explicit config;
        None (or an identity pipeline) for none.
    """

    length: int | tuple[int, int] = 5
    sequences: tuple[str, ...] | None = None
    pattern: str | None = None
    spacing: tuple[int, int] = (0, 10)
    width: int | Mapping[str, int] = 160
    source: str | Mapping[str, float] = "mnist"
    split: str = "train"
    writer: str | None = None
    layout: str = "tile"
    ink: str = "black"
    synthetic: Mapping[str, Any] = field(default_factory=dict)
    augment: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise in place once
        if self.sequences is not None and self.pattern is not None:
            raise ValueError("give either sequences or pattern, not both")
        lo, hi = _pair_int("length", self.length)
        if self.sequences is not None or self.pattern is not None:
            if (lo, hi) != (5, 5):
                raise ValueError("length is decided by sequences/pattern; leave it unset")
            if self.sequences is not None:
                seqs = _check_sequences(self.sequences)
                set_(self, "sequences", seqs)
                lo, hi = min(map(len, seqs)), max(map(len, seqs))
            else:
                lo = hi = len(parse_pattern(self.pattern))  # type: ignore[arg-type]
                set_(self, "pattern", str(self.pattern).replace(" ", ""))
        elif not 1 <= lo <= hi <= MAX_LENGTH:
            raise ValueError(f"length must be in 1..{MAX_LENGTH}, got {self.length!r}")
        set_(self, "length", lo if lo == hi else (lo, hi))
        s_lo, s_hi = _pair_int("spacing", self.spacing)
        if self.layout not in ("tile", "ink"):
            raise ValueError(f"layout must be 'tile' or 'ink', got {self.layout!r}")
        if s_lo < 0 and self.layout != "ink":
            raise ValueError(f"negative spacing ({s_lo}) overlaps digits: it needs layout='ink'")
        if s_lo < -27 or s_hi > 10_000:
            raise ValueError(f"spacing must be within -27..10000, got {self.spacing!r}")
        set_(self, "spacing", (s_lo, s_hi))
        set_(self, "width", self._check_width(self.width))
        set_(self, "source", _check_sources(self.source))
        if self.split not in SPLIT_CODES:
            raise ValueError(f"split must be 'train' or 'test', got {self.split!r}")
        if self.writer not in (None, "same"):
            raise ValueError(f"writer must be None or 'same', got {self.writer!r}")
        if self.writer == "same" and "mnist" not in self.source:
            raise ValueError("writer='same' needs the mnist source")
        if self.ink not in ("black", "white"):
            raise ValueError(f"ink must be 'black' or 'white', got {self.ink!r}")
        if not isinstance(self.synthetic, Mapping):
            raise TypeError(
                f"synthetic must be a dict of StrokeSource options, got {self.synthetic!r}"
            )
        set_(self, "synthetic", dict(sorted(self.synthetic.items())))
        if self.augment is not None:
            set_(self, "augment", _normalise_augment(self.augment))

    @staticmethod
    def _check_width(width: Any) -> int | dict[str, int]:
        if isinstance(width, str):  # "200" or "30n+10", as on the command line
            width = parse_width(width)
        if is_integer(width):
            if not 1 <= width <= 100_000:
                raise ValueError(f"width must be in 1..100000 pixels, got {width}")
            return int(width)
        if isinstance(width, Mapping):
            extra = set(width) - {"per_digit", "extra"}
            if extra or "per_digit" not in width:
                raise ValueError(
                    "a derived width is {'per_digit': a, 'extra': b} (width = a * length + b), "
                    f"got {dict(width)!r}"
                )
            a, b = width["per_digit"], width.get("extra", 0)
            if not (is_integer(a) and is_integer(b)) or a < 1 or b < 0:
                raise ValueError(
                    f"per_digit must be an int >= 1 and extra an int >= 0, got {width!r}"
                )
            return {"per_digit": int(a), "extra": int(b)}
        raise TypeError(
            f"width must be an int, a string like '30n+10', or {{'per_digit': a, 'extra': b}}, "
            f"got {width!r}"
        )

    # -- derived facts ------------------------------------------------------------------------
    @property
    def length_range(self) -> tuple[int, int]:
        """Shortest and longest sequence."""
        lo, hi = _pair_int("length", self.length)
        return lo, hi

    @property
    def split_code(self) -> int:
        return SPLIT_CODES[self.split]

    def width_for(self, length: int) -> int:
        """Image width of a sample of ``length`` digits."""
        if isinstance(self.width, int):
            return self.width
        return self.width["per_digit"] * length + self.width["extra"]

    @property
    def max_width(self) -> int:
        """Canvas width of the stored arrays (widest sample)."""
        lo, hi = self.length_range
        return max(self.width_for(lo), self.width_for(hi))

    @property
    def source_names(self) -> tuple[str, ...]:
        return tuple(self.source)  # type: ignore[arg-type]

    # -- serialisation -----------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready canonical form (round-trips through :meth:`from_dict`)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, Mapping):
                v = dict(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetConfig:
        """Build (and validate) a config from :meth:`to_dict` output or a parsed file."""
        if isinstance(data, DatasetConfig):
            return data
        if not isinstance(data, Mapping):
            raise TypeError(f"config must be a mapping, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config key(s) {unknown}; valid keys: {sorted(known)}")
        kw = dict(data)
        for key in ("length", "spacing"):
            if isinstance(kw.get(key), list):
                kw[key] = tuple(kw[key])
        if isinstance(kw.get("sequences"), list):
            kw["sequences"] = tuple(kw["sequences"])
        return cls(**kw)

    def to_json(self) -> str:
        """Canonical JSON (sorted keys, no spaces): the input of :meth:`digest`."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def digest(self) -> str:
        """SHA-256 hex digest of the canonical JSON form."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    def replace(self, **changes: Any) -> DatasetConfig:
        """A copy with some fields changed (validated again)."""
        d = self.to_dict()
        d.update(changes)
        return DatasetConfig.from_dict(d)


# -- sources beyond the built-in two (registered names, import paths) ------------------------
_CODE_NAMES: dict[int, str] = {v: k for k, v in SOURCE_CODES.items()}


def _other_source(name: object) -> bool:
    from ..sources import is_source_name

    return is_source_name(name)


def source_code(name: str) -> int:
    """The ``source`` column code of a source name: 0 mnist, 1 synthetic, 2..121 the others.

    Other names get a code from a checksum of the name, so every process
    (dataset workers, readers) agrees on it without a shared table.
    """
    code = SOURCE_CODES.get(name)
    if code is None:
        import zlib

        code = 2 + zlib.crc32(name.encode()) % 120
        _CODE_NAMES.setdefault(code, name)
    return code


def source_name(code: int) -> str:
    """The name behind a ``source`` column code (``"source<code>"`` if not seen in this process)."""
    return _CODE_NAMES.get(int(code), f"source{int(code)}")
