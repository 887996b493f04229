"""Difficulty ladders: labelled digits and sequences made harder one axis at a time.

A ladder has :data:`N_LEVELS` levels per axis; level ``i`` has difficulty
``t = i / (N_LEVELS - 1)`` in [0, 1], level 0 is the clean digit. The axes:

``jitter``     synthetic source, control-point jitter radius (px)
``elastic``    Simard et al. elastic distortion, alpha (px) with sigma = 4
``rotation``   rotation (degrees, random sign per digit)
``slant``      shear (degrees, random sign per digit)
``thin``       grey erosion, stroke radius < 0 (px)
``thick``      grey dilation, stroke radius > 0 (px)
``touching``   neighbouring digits in the ink layout, gap (px, negative = overlap)
``difficulty`` all of the above at once, following one knob ``d`` in [0, 1]
               (:func:`difficulty_params`)

All images are kept in ink units (float32, ink 1.0 on background 0.0); the
page polarity is applied by :func:`write_hardcases` and by
:func:`strokeseq.hardcases.evaluate` when the model is fed.
"""

from __future__ import annotations

import logging
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from ..sources.base import TILE, Digits
from ..validate import is_integer
from .contact import classify_contact
from .ladder_data import Ladder
from .levels import (
    _AXIS_CODE,
    AXES,
    BASE_JITTER,
    CONTACT_NAMES,
    CONTACT_THRESHOLD,
    DIFFICULTY_TABLE,
    ELASTIC_SIGMA,
    KINDS,
    LEVEL_TABLES,
    N_LEVELS,
    NEUTRAL_SPACING,
    PARAM_NAMES,
    axis_params,
    difficulty_params,
    strength_config,
)

__all__ = [
    "AXES",
    "BASE_JITTER",
    "CONTACT_NAMES",
    "DIFFICULTY_TABLE",
    "KINDS",
    "LEVEL_TABLES",
    "N_LEVELS",
    "PARAM_NAMES",
    "Ladder",
    "axis_params",
    "classify_contact",
    "difficulty_params",
    "generate_level",
    "make_ladder",
    "strength_config",
]

log = logging.getLogger(__name__)


# -- generation ----------------------------------------------------------------------------


def _signs(gen: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return np.where(gen.random(shape) < 0.5, -1.0, 1.0)


def _augment(
    ink: np.ndarray, p: dict[str, Any], gen: np.random.Generator
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Apply the strengths ``p`` through the augmentation pipeline; returns the ink and values.

    Rotation and slant get a random sign per digit, and the difficulty knob
    thickens or thins each digit with equal probability, so the digits fall
    into a few groups of equal signed strengths; each group is augmented with
    its own pinned :func:`strength_config` (stroke width, then affine, then
    elastic: the pipeline's canonical order) and its own child generator.
    """
    from ..augment import Augmenter

    m = ink.shape[0]
    nan = np.full(m, np.nan, np.float32)
    # The random draws happen whatever the strengths, in a fixed order, so
    # that the stream (and hence every other choice) does not depend on them.
    rot = (p["rotation"] * _signs(gen, (m,))).astype(np.float32)
    sla = (p["slant"] * _signs(gen, (m,))).astype(np.float32)
    coin = gen.random(m) < 0.5
    if p["thick"] != 0.0 and p["thin"] != 0.0:  # the knob: thicken or thin, per digit
        radius = np.where(coin, p["thick"], p["thin"]).astype(np.float32)
    else:
        radius = np.full(m, p["thick"] or p["thin"], np.float32)
    seed = int(gen.integers(0, 2**63))
    alpha = float(p["elastic_alpha"])
    x = np.ascontiguousarray(ink, np.float32)
    keys = np.stack([rot, sla, radius], axis=1)
    groups, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    out = x.copy() if len(groups) > 1 else x
    for g, (r, s, w) in enumerate(groups.tolist()):
        aug = Augmenter(strength_config(r, s, w, alpha))
        if aug.is_identity:
            continue
        sel = np.flatnonzero(inverse == g)
        child = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(g,)))
        out[sel] = aug.digits(x[sel], child)
    values = {
        "jitter": nan.copy() if p["jitter"] is None else np.full(m, p["jitter"], np.float32),
        "elastic_alpha": np.full(m, alpha, np.float32),
        "rotation": rot,
        "slant": sla,
        "stroke_radius": radius,
    }
    return np.ascontiguousarray(out, np.float32), values


def _balanced(gen: np.random.Generator, count: int) -> np.ndarray:
    """Labels 0..9 in equal numbers (up to one), shuffled: per-digit rates need every digit."""
    return gen.permutation(np.arange(count) % 10).astype(np.int64)


def _get_source(axis: str, p: dict[str, Any], source: Any, split: str, data_dir: Any):
    from ..sources import get_source, source_for

    if axis == "jitter" or (isinstance(source, str) and source == "synthetic"):
        # The ladders are calibrated on the hand-made glyphs (clean level read at
        # >= 95 %, jitter alone lowering it); the fitted model's realism is not a level.
        return get_source("synthetic", model="glyphs", jitter=float(p["jitter"]))
    return source_for(source, split, data_dir)


def _arrange_rows(
    digits_ink: np.ndarray,
    labels: np.ndarray,
    spacing: tuple[int, int],
    width: int,
    gen: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ink layout of ``(N, n)`` digits; returns canvas, tile left edges, gaps, contact."""
    from ..compose import compose_rows

    n_rows, n = labels.shape
    digits = Digits(ink=digits_ink, labels=labels.reshape(-1))
    batch = compose_rows(digits, labels, spacing, width, layout="ink", rng=gen)
    ext = digits.ink_boxes().reshape(n_rows, n, 4)
    tile_x = batch.boxes[:, :, 0].astype(np.int64) - ext[:, :, 0]
    tiles = digits_ink.reshape(n_rows, n, TILE, TILE)
    dx = tile_x[:, 1:] - tile_x[:, :-1]
    contact = classify_contact(
        tiles[:, :-1].reshape(-1, TILE, TILE),
        tiles[:, 1:].reshape(-1, TILE, TILE),
        dx.reshape(-1),
    ).reshape(n_rows, n - 1)
    return batch.ink, tile_x, batch.gaps.astype(np.float32), contact


def generate_level(
    axis: str,
    t: float,
    count: int,
    rng: Any = None,
    *,
    kind: str = "digits",
    source: Any = "synthetic",
    split: str = "test",
    data_dir: str | Path | None = None,
    length: int = 4,
    width: int | None = None,
    level: int = -1,
) -> Ladder:
    """``count`` labelled samples of one axis at difficulty ``t``.

    Digits on the "touching" and "difficulty" axes are drawn between two
    random neighbours in the ink layout and cropped to the centre digit's own
    28-px frame, so the neighbours' ink intrudes as it would for a digit
    classifier behind a segmenter. Labels of single digits are balanced.

    Parameters
    ----------
    axis : str
        One of :data:`AXES`.
    t : float
        Difficulty in [0, 1] (:func:`axis_params`).
    count : int
        Number of samples.
    rng : None, int, SeedSequence or Generator
        Randomness.
    kind : {"digits", "sequences"}
    source : {"synthetic", "mnist"} or DigitSource
        Base digits for every axis except "jitter" (always synthetic).
    split, data_dir
        MNIST split and folder (``source="mnist"``).
    length, width : int
        Sequence length and image width (default and smallest:
        :func:`strokeseq.layout.required_width` of ``length`` tiles at the
        widest neutral spacing, ``28 * length + 8 * (length - 1)``).
    level : int
        Level recorded in the samples (-1 for off-ladder values of ``t``).

    Returns
    -------
    Ladder
    """
    from ..rng import as_generator

    if kind not in KINDS:
        raise ValueError(f"kind must be 'digits' or 'sequences', got {kind!r}")
    if not is_integer(count) or count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if kind == "sequences":  # here, so ladders and mining both refuse before any work
        _check_sequence_size(length, width)
    p = axis_params(axis, t)
    gen = as_generator(rng)
    src = _get_source(axis, p, source, split, data_dir)
    if src.name != "synthetic":
        p = {**p, "jitter": None}
    elif axis != "jitter" and hasattr(src, "jitter"):  # a user's StrokeSource instance
        p = {**p, "jitter": float(src.jitter)}
    gap = p["gap"]
    if kind == "digits":
        target = _balanced(gen, count)
        if gap is None:
            labels2d = target[:, None]
        else:
            labels2d = np.stack(
                [gen.integers(0, 10, count), target, gen.integers(0, 10, count)], 1
            )
    else:
        if not isinstance(length, numbers.Integral) or length < 1:
            raise ValueError(f"length must be a positive integer, got {length!r}")
        labels2d = gen.integers(0, 10, (count, int(length))).astype(np.int64)
    n_rows, n = labels2d.shape
    drawn = src.draw(labels2d.reshape(-1), gen)
    ink, values = _augment(drawn.as_float(), p, gen)
    index = np.asarray(drawn.meta.get("index", np.full(ink.shape[0], -1)), np.float32)
    values["index"] = index
    g_cols = 2 if kind == "digits" else max(n - 1, 0)
    gaps = np.full((n_rows, g_cols), np.nan, np.float32)
    contact = np.full((n_rows, g_cols), -1, np.int8)
    if kind == "digits":
        if gap is None:
            images = ink
        else:
            wide = 3 * TILE + 2 * max(gap, 0)
            canvas, tile_x, gaps, contact = _arrange_rows(ink, labels2d, (gap, gap), wide, gen)
            # The centre digit's own frame: pad so a frame sticking out still crops.
            padded = np.pad(canvas, ((0, 0), (0, 0), (TILE, TILE)))
            cols = tile_x[:, 1, None] + TILE + np.arange(TILE)[None, :]
            images = np.take_along_axis(padded, cols[:, None, :], axis=2)
            values = {k: v.reshape(n_rows, 3)[:, 1] for k, v in values.items()}
        labels = target
    else:
        w = _default_width(n) if width is None else int(width)
        spacing = NEUTRAL_SPACING if gap is None else (gap, gap)
        if n == 1:
            from ..compose import compose_rows

            digits = Digits(ink=ink, labels=labels2d.reshape(-1))
            images = compose_rows(digits, labels2d, (0, 0), w, layout="ink", rng=gen).ink
        else:
            images, _tx, gaps, contact = _arrange_rows(ink, labels2d, spacing, w, gen)
        values = {k: v.reshape(n_rows, n) for k, v in values.items()}
        labels = labels2d
    return Ladder(
        kind=kind,
        images=np.ascontiguousarray(images, np.float32),
        labels=labels,
        axis=np.full(n_rows, axis, dtype=f"<U{max(len(a) for a in AXES)}"),
        level=np.full(n_rows, level, np.int64),
        difficulty=np.full(n_rows, t, np.float32),
        params=values,
        gaps=gaps,
        contact=contact,
        info={},
    )


def check_axes(axis: str | list[str] | tuple[str, ...]) -> list[str]:
    if isinstance(axis, str):
        names = list(AXES) if axis == "all" else [a.strip() for a in axis.split(",")]
    else:
        names = list(axis)
    for a in names:
        if a not in AXES:
            raise ValueError(f"axis must be 'all' or among {', '.join(AXES)}, got {a!r}")
    if not names:
        raise ValueError("no axis given")
    return names


def _default_width(length: int) -> int:
    """Transformed digits (rotated, thickened) can use their whole 28-px tile, and the
    neutral spacing is up to its maximum: the width that never squeezes a gap."""
    from ..layout import required_width

    return required_width(int(length), NEUTRAL_SPACING[1], "tile")


def _check_sequence_size(length: object, width: object) -> None:
    """Refuse a length or width the ladder's sequences cannot be drawn with.

    The default width (:func:`_default_width`) is also the smallest accepted.
    """
    if not is_integer(length) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    if width is None:
        return
    need = _default_width(int(length))
    if not is_integer(width) or width < need:
        raise ValueError(
            f"width must be an integer of at least {need} px for {length}-digit ladder "
            f"sequences, got {width!r}"
        )


def make_ladder(
    axis: str | list[str] = "all",
    per_level: int = 100,
    rng: Any = None,
    *,
    kind: str = "digits",
    source: Any = "synthetic",
    split: str = "test",
    data_dir: str | Path | None = None,
    length: int = 4,
    width: int | None = None,
    levels: int | list[int] | None = None,
) -> Ladder:
    """A labelled set along the difficulty ladder of one or more axes.

    Parameters
    ----------
    axis : str or list of str
        An axis of :data:`AXES`, a comma-separated list, or ``"all"``.
    per_level : int
        Samples per (axis, level).
    rng : None, int, SeedSequence or Generator
        The same seed gives the same ladder. Each (axis, level) draws from its
        own child stream, so the samples of one axis do not depend on which
        other axes are asked for.
    kind : {"digits", "sequences"}
        Single 28x28 digits, or sequences of ``length`` digits ``(28, width)``.
    source : {"synthetic", "mnist"} or DigitSource
        Base digits (default synthetic: needs no data). The "jitter" axis
        always uses the synthetic source, whose jitter is the axis.
    split, data_dir
        MNIST split (default "test") and folder, for ``source="mnist"``.
    length, width : int
        Sequences only.
    levels : int or list of int, optional
        Levels to make (default all :data:`N_LEVELS`).

    Returns
    -------
    Ladder
    """
    from ..rng import as_generator

    names = check_axes(axis)
    if not is_integer(per_level) or per_level < 1:
        raise ValueError(f"per_level must be a positive integer, got {per_level!r}")
    if levels is None:
        lv = list(range(N_LEVELS))
    else:
        lv = [levels] if isinstance(levels, numbers.Integral) else list(levels)
        bad = [v for v in lv if not 0 <= int(v) < N_LEVELS]
        if bad:
            raise ValueError(f"levels must be in 0..{N_LEVELS - 1}, got {bad}")
    root = int(as_generator(rng).integers(0, 2**63))
    parts = []
    for a in names:
        for i in lv:
            child = np.random.default_rng(
                np.random.SeedSequence(root, spawn_key=(_AXIS_CODE[a], i))
            )
            t = i / (N_LEVELS - 1)
            log.info("ladder: %s level %d (t=%.3f), %d samples", a, i, t, per_level)
            parts.append(
                generate_level(
                    a,
                    t,
                    int(per_level),
                    child,
                    kind=kind,
                    source=source,
                    split=split,
                    data_dir=data_dir,
                    length=length,
                    width=width,
                    level=int(i),
                )
            )
    info = {
        "kind": kind,
        "axes": names,
        "levels": [int(i) for i in lv],
        "per_level": int(per_level),
        "source": source if isinstance(source, str) else type(source).__name__,
        "split": split if source == "mnist" else None,
        "level_tables": {k: list(v) for k, v in LEVEL_TABLES.items()},
        "difficulty_table": dict(DIFFICULTY_TABLE),
        "elastic_sigma": ELASTIC_SIGMA,
        "neutral_spacing": list(NEUTRAL_SPACING),
        "contact_threshold": CONTACT_THRESHOLD,
    }
    return Ladder.concat(parts, info)
