"""Glyph files of the synthetic source: loading and strict validation.

A glyph file (TOML or JSON) describes how one digit is written: one or more
*allographs* (writing styles) with weights, each a list of pen *strokes*, each
a chain of Bezier *segments* of 2-4 control points in the 28x28 frame. The
schema is documented, with a worked example, in ``glyphs/README.md`` at the
top of the repository, beside the built-in glyph files (the wheel ships that
folder as ``strokeseq/glyphs/``).

Every problem raises :class:`strokeseq.errors.GlyphError` naming the file, the
digit and the field, e.g. ``digit_7.toml: digit 7: allograph[1].stroke[0].
segments[2]: needs 2-4 control points, got 5``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..._textdata import parse_toml_or_json
from ...errors import GlyphError

__all__ = [
    "MAX_POINTS_PER_ALLOGRAPH",
    "MAX_SEGMENTS_PER_STROKE",
    "MAX_STROKES_PER_ALLOGRAPH",
    "SCHEMA_VERSION",
    "Allograph",
    "GlyphSet",
    "Stroke",
    "builtin_glyph_dir",
    "load_glyph_file",
    "load_glyphs",
]

#: Version of the glyph schema this module reads (``schema_version`` in each file).
SCHEMA_VERSION = 1
#: Limits that keep the padded render arrays small (and catch runaway files).
MAX_STROKES_PER_ALLOGRAPH = 6
MAX_SEGMENTS_PER_STROKE = 10
MAX_POINTS_PER_ALLOGRAPH = 64
#: Control points must lie in this range (the 28x28 frame plus a margin).
COORD_RANGE = (-8.0, 36.0)
#: Largest per-point jitter scale.
MAX_JITTER_SCALE = 5.0

_FILE_KEYS = {"schema_version", "digit", "allograph", "description"}
_ALLO_KEYS = {"name", "weight", "stroke", "description"}
_STROKE_KEYS = {"name", "probability", "segments"}


@dataclass(frozen=True)
class Stroke:
    """One pen stroke: a chain of Bezier segments.

    Attributes
    ----------
    name : str
        Label used in error messages and metadata (``"stem"``, ``"bar"``).
    segments : tuple of tuple of (x, y, jitter_scale)
        Each segment has 2 (line), 3 (quadratic) or 4 (cubic) control points;
        the last point of a segment is the first of the next.
    probability : float
        Probability that the stroke is drawn (1 for mandatory strokes).
    """

    name: str
    segments: tuple[tuple[tuple[float, float, float], ...], ...]
    probability: float = 1.0

    @property
    def optional(self) -> bool:
        """Whether the stroke is sometimes left out."""
        return self.probability < 1.0


@dataclass(frozen=True)
class Allograph:
    """One way of writing a digit, chosen with probability proportional to ``weight``."""

    name: str
    weight: float
    strokes: tuple[Stroke, ...]


@dataclass(frozen=True)
class GlyphSet:
    """The allographs of all ten digits and the files they came from."""

    allographs: tuple[tuple[Allograph, ...], ...]  # indexed by digit
    sources: tuple[str, ...]  # the file each digit was read from


def builtin_glyph_dir() -> Path:
    """Folder of the built-in glyph files.

    They live in ``glyphs/`` at the top of the repository, beside their schema
    README; the wheel ships that folder as ``strokeseq/glyphs/`` (a
    ``package-dir`` mapping in ``pyproject.toml``). An installed wheel finds
    the latter, a source checkout (editable install) the former.
    """
    package = Path(__file__).resolve().parents[2]  # .../strokeseq
    shipped = package / "glyphs"
    return shipped if shipped.is_dir() else package.parent / "glyphs"


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GlyphError(f"{path}: cannot read glyph file: {exc}") from exc
    try:
        data = parse_toml_or_json(text, path.suffix)
    except ValueError as exc:  # JSONDecodeError and TOMLDecodeError are ValueErrors
        raise GlyphError(f"{path}: not valid {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise GlyphError(f"{path}: top level must be a table/object, got {type(data).__name__}")
    return data


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _parse_point(raw: object, fail) -> tuple[float, float, float]:
    if not isinstance(raw, list) or len(raw) not in (2, 3):
        fail("a control point must be [x, y] or [x, y, jitter_scale], got " + repr(raw))
    if not all(_number(v) for v in raw):
        fail(f"control point coordinates must be finite numbers, got {raw!r}")
    x, y = float(raw[0]), float(raw[1])
    s = float(raw[2]) if len(raw) == 3 else 1.0
    lo, hi = COORD_RANGE
    if not (lo <= x <= hi and lo <= y <= hi):
        fail(f"control point {raw!r} lies outside the frame range [{lo:g}, {hi:g}]")
    if not 0.0 <= s <= MAX_JITTER_SCALE:
        fail(f"jitter scale must be in [0, {MAX_JITTER_SCALE:g}], got {s:g}")
    return (x, y, s)


def _parse_stroke(raw: object, where: str, fail_at) -> Stroke:
    def fail(msg: str, field: str = where) -> None:
        fail_at(field, msg)

    if not isinstance(raw, dict):
        fail(f"a stroke must be a table, got {type(raw).__name__}")
    unknown = set(raw) - _STROKE_KEYS
    if unknown:
        fail(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_STROKE_KEYS)}")
    name = raw.get("name", "")
    if not isinstance(name, str):
        fail("name must be a string", f"{where}.name")
    prob = raw.get("probability", 1.0)
    if not _number(prob) or not 0.0 < prob <= 1.0:
        fail(f"must be a number in (0, 1], got {prob!r}", f"{where}.probability")
    segs = raw.get("segments")
    if not isinstance(segs, list) or not segs:
        fail("must be a non-empty list of segments", f"{where}.segments")
    if len(segs) > MAX_SEGMENTS_PER_STROKE:
        fail(f"at most {MAX_SEGMENTS_PER_STROKE} segments, got {len(segs)}", f"{where}.segments")
    out = []
    for j, seg in enumerate(segs):
        field = f"{where}.segments[{j}]"
        if not isinstance(seg, list) or not 2 <= len(seg) <= 4:
            n = len(seg) if isinstance(seg, list) else type(seg).__name__
            fail(f"needs 2-4 control points, got {n}", field)
        pts = tuple(_parse_point(p, lambda m, f=field: fail(m, f)) for p in seg)
        if out and out[-1][-1][:2] != pts[0][:2]:
            fail(
                f"must start where segment {j - 1} ends ({out[-1][-1][0]:g}, "
                f"{out[-1][-1][1]:g}), got ({pts[0][0]:g}, {pts[0][1]:g}); a stroke is a chain",
                field,
            )
        out.append(pts)
    return Stroke(name=name, segments=tuple(out), probability=float(prob))


def load_glyph_file(path: str | Path) -> tuple[int, tuple[Allograph, ...]]:
    """Read and validate one glyph file.

    Parameters
    ----------
    path : str or pathlib.Path
        A ``.toml`` or ``.json`` file following the schema of ``glyphs/README.md``.

    Returns
    -------
    digit : int
        The digit the file describes.
    allographs : tuple of Allograph

    Raises
    ------
    GlyphError
        If the file is unreadable or breaks the schema; the message names the
        file, the digit (when known) and the field.
    """
    path = Path(path)
    data = _read(path)
    digit_txt = "digit ?"

    def fail_at(field: str, msg: str) -> None:
        raise GlyphError(f"{path.name}: {digit_txt}: {field}: {msg} (file {path})")

    digit = data.get("digit")
    if not isinstance(digit, int) or isinstance(digit, bool) or not 0 <= digit <= 9:
        fail_at("digit", f"must be an integer 0-9, got {digit!r}")
    digit_txt = f"digit {digit}"
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        fail_at("schema_version", f"must be {SCHEMA_VERSION}, got {version!r}")
    unknown = set(data) - _FILE_KEYS
    if unknown:
        fail_at("<top level>", f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_FILE_KEYS)}")
    allos = data.get("allograph")
    if not isinstance(allos, list) or not allos:
        fail_at("allograph", "needs at least one [[allograph]] table")
    parsed = []
    for i, raw in enumerate(allos):
        where = f"allograph[{i}]"
        if not isinstance(raw, dict):
            fail_at(where, f"must be a table, got {type(raw).__name__}")
        unknown = set(raw) - _ALLO_KEYS
        if unknown:
            fail_at(where, f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_ALLO_KEYS)}")
        name = raw.get("name", f"style{i}")
        if not isinstance(name, str):
            fail_at(f"{where}.name", "must be a string")
        weight = raw.get("weight", 1.0)
        if not _number(weight) or weight <= 0:
            fail_at(f"{where}.weight", f"must be a positive number, got {weight!r}")
        strokes = raw.get("stroke")
        if not isinstance(strokes, list) or not strokes:
            fail_at(f"{where}.stroke", "needs at least one [[allograph.stroke]] table")
        if len(strokes) > MAX_STROKES_PER_ALLOGRAPH:
            fail_at(
                f"{where}.stroke",
                f"at most {MAX_STROKES_PER_ALLOGRAPH} strokes, got {len(strokes)}",
            )
        st = tuple(
            _parse_stroke(s, f"{where}.stroke[{k}]", fail_at) for k, s in enumerate(strokes)
        )
        if all(s.optional for s in st):
            fail_at(f"{where}.stroke", "at least one stroke must be mandatory (probability 1)")
        n_pts = len({p[:2] for s in st for seg in s.segments for p in seg})
        n_pts += sum(len(seg) == 2 for s in st for seg in s.segments)  # line midpoints
        if n_pts > MAX_POINTS_PER_ALLOGRAPH:
            fail_at(where, f"too many control points ({n_pts} > {MAX_POINTS_PER_ALLOGRAPH})")
        parsed.append(Allograph(name=name, weight=float(weight), strokes=st))
    return digit, tuple(parsed)


def load_glyphs(path: str | Path | None = None) -> GlyphSet:
    """Load the glyphs of all ten digits from a folder or a single file.

    Parameters
    ----------
    path : str, pathlib.Path or None
        ``None`` for the built-in glyphs; a folder of ``*.toml`` / ``*.json``
        files (one digit per file); or one file. The folder must cover every
        digit 0-9 (copy the built-in folder and edit it to change a few).

    Returns
    -------
    GlyphSet

    Raises
    ------
    GlyphError
        If a file is malformed, a digit is defined twice or missing.
    """
    root = builtin_glyph_dir() if path is None else Path(path)
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".toml", ".json"))
        if not files:
            raise GlyphError(f"{root}: no *.toml or *.json glyph files in this folder")
    elif root.is_file():
        files = [root]
    else:
        raise GlyphError(f"{root}: glyph folder or file does not exist")
    by_digit: dict[int, tuple[Allograph, ...]] = {}
    source: dict[int, str] = {}
    for f in files:
        digit, allos = load_glyph_file(f)
        if digit in by_digit:
            raise GlyphError(
                f"{f.name}: digit {digit}: digit: already defined in {Path(source[digit]).name} "
                f"(one file per digit) (file {f})"
            )
        by_digit[digit], source[digit] = allos, str(f)
    missing = [d for d in range(10) if d not in by_digit]
    if missing:
        raise GlyphError(
            f"{root}: digit {missing[0]}: digit: no glyph file defines digit(s) {missing}; "
            "every digit 0-9 needs one (copy the built-in glyphs/ folder and edit it)"
        )
    return GlyphSet(
        allographs=tuple(by_digit[d] for d in range(10)),
        sources=tuple(source[d] for d in range(10)),
    )
