"""Synthetic handwritten digits from jittered Bezier pen strokes.

Each digit is drawn from a glyph (``glyphs/*.toml``): an allograph
is chosen by weight, optional strokes are kept with their probability, every
control point is moved uniformly within a disc of radius ``jitter`` (times
the point's own scale), lines get a jittered middle control point so they
arc, the whole glyph is slanted, rotated and stretched, and the strokes are
drawn with a pen of random width (and pressure varying along the stroke) on a
canvas ``supersample`` times finer than the output. The result is normalised
like MNIST: the ink fits a 20x20 box (aspect kept) and the centre of mass
sits at pixel (14, 14) of the 28x28 frame, within ``0.5 / supersample`` px.
"""

from __future__ import annotations

import logging
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from ..base import TILE, Digits, DigitSource

__all__ = ["StrokeSource"]

log = logging.getLogger(__name__)

#: Continuous extent of the ink (centre line plus pen) along the longer side.
#: A 19-px interval touches at most 20 pixel columns, so the rasterised ink box
#: never exceeds MNIST's 20x20 box, anti-aliased fringe included.
INK_EXTENT = 19.0
#: MNIST puts the centre of mass at index (14, 14) (measured on the real test
#: set: mean 13.99 / 14.01, always within 0.5), i.e. continuous coordinate 14.5.
COM_INDEX = 14.0
#: Digits rendered per chunk: bounds the memory of the supersampled canvas.
_CHUNK = 512


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


class StrokeSource(DigitSource):
    """Synthetic digits drawn from pen-stroke glyphs; needs no data files.

    Parameters
    ----------
    jitter : float
        Radius in pixels (of the 28x28 frame) of the uniform disc each control
        point moves in; the difficulty knob. 0 draws the nominal glyphs (still
        varied by pen, slant, rotation and aspect).
    glyphs : str, pathlib.Path or None
        Folder (or single file) of glyph files; ``None`` uses the built-in
        glyphs of ``glyphs/``. See ``glyphs/README.md`` for the schema.
    supersample : int
        Canvas zoom (1-8): strokes are drawn on a ``28 * supersample`` canvas
        and block-averaged down. 3 is the default: see the README, section "Synthetic digits".
    pen_width : float or (float, float)
        Range of the full pen width in output pixels, drawn uniformly per digit.
    slant : float
        Largest shear angle in degrees (uniform in ``[-slant, slant]``, positive
        leans right).
    rotation : float
        Largest rotation angle in degrees (uniform, either way).
    aspect : float or (float, float)
        Range of the width / height stretch, drawn log-uniformly per digit.
    pressure : float
        Pen pressure variation in [0, 0.9]: the radius at each stroke's start
        and end is multiplied by a factor uniform in ``[1 - p, 1 + p]`` and
        interpolated along the stroke.
    soft : float
        Fraction of the pen radius over which the ink falls from 1 to 0.
    samples_per_segment : int
        Points sampled on each Bezier segment (the capsules between them are
        drawn exactly).

    Notes
    -----
    ``draw`` returns ``meta`` arrays (length n): ``index`` (-1), ``allograph``
    (global allograph id, see :attr:`allograph_names`), ``allograph_local``
    (index within the digit's file), ``strokes`` (bit ``t`` set when stroke
    ``t`` of the allograph was drawn), ``jitter``, ``pen_width``, ``slant``
    and ``rotation`` (degrees), ``aspect`` and ``scale`` (the zoom of the
    20x20 normalisation).
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        jitter: float = 2.0,
        glyphs: str | Path | None = None,
        supersample: int = 3,
        pen_width: float | tuple[float, float] = (2.8, 4.4),
        slant: float = 12.0,
        rotation: float = 6.0,
        aspect: float | tuple[float, float] = (0.95, 1.3),
        pressure: float = 0.2,
        soft: float = 0.5,
        samples_per_segment: int = 9,
    ) -> None:
        self.jitter = _real("jitter", jitter, 0.0, 14.0)
        if not isinstance(supersample, numbers.Integral) or isinstance(supersample, bool):
            raise TypeError(f"supersample must be an integer 1-8, got {supersample!r}")
        if not 1 <= supersample <= 8:
            raise ValueError(f"supersample must be an integer 1-8, got {supersample}")
        self.supersample = int(supersample)
        self.pen_width = _pair("pen_width", pen_width, 0.3, 8.0)
        self.slant = _real("slant", slant, 0.0, 60.0)
        self.rotation = _real("rotation", rotation, 0.0, 90.0)
        self.aspect = _pair("aspect", aspect, 0.2, 5.0)
        self.pressure = _real("pressure", pressure, 0.0, 0.9)
        self.soft = _real("soft", soft, 0.05, 1.0)
        if not isinstance(samples_per_segment, numbers.Integral) or isinstance(
            samples_per_segment, bool
        ):
            raise TypeError(f"samples_per_segment must be an integer, got {samples_per_segment!r}")
        if not 2 <= samples_per_segment <= 64:
            raise ValueError(f"samples_per_segment must be in 2-64, got {samples_per_segment}")
        self.samples_per_segment = int(samples_per_segment)
        self.glyphs = None if glyphs is None else Path(glyphs)
        self._compiled = None
        self.compiled  # noqa: B018  (load now: a bad glyph folder fails at construction)

    # -- pickling: ship the options, rebuild the compiled glyphs lazily ------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_compiled"] = None
        return state

    def __repr__(self) -> str:
        return (
            f"StrokeSource(jitter={self.jitter:g}, glyphs={self.glyphs!r}, "
            f"supersample={self.supersample}, pen_width={self.pen_width}, slant={self.slant:g}, "
            f"rotation={self.rotation:g}, aspect={self.aspect}, pressure={self.pressure:g})"
        )

    @property
    def compiled(self):
        """The glyphs as padded arrays (:class:`strokeseq.render.CompiledGlyphs`)."""
        if self._compiled is None:
            from .glyph_schema import load_glyphs
            from .render import compile_glyphs

            self._compiled = compile_glyphs(load_glyphs(self.glyphs))
            log.debug("compiled %d allographs", len(self._compiled.names))
        return self._compiled

    @property
    def allograph_names(self) -> tuple[str, ...]:
        """``"digit/name"`` of each global allograph id used in ``meta["allograph"]``."""
        return self.compiled.names

    def max_ink_width(self, label: int) -> int:
        """Ink box width bound: the 20x20 normalisation box, fringe included (see module doc)."""
        return 20

    # -- drawing ---------------------------------------------------------------------------
    def _parameters(self, labels: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Draw every random choice of the batch, in a fixed order (determinism)."""
        g = self.compiled
        n = labels.size
        n_p = g.points.shape[1]
        n_t = g.stroke_prob.shape[1]
        u = rng.random(n)
        local = (u[:, None] > g.choice_cdf[labels]).sum(axis=1)
        local = np.minimum(local, g.choice_cdf.shape[1] - 1)
        allo = g.choice_ids[labels, local]
        drawn = rng.random((n, n_t)) < g.stroke_prob[allo]
        # Uniform in a disc: radius sqrt(U) keeps the density flat over the area.
        radius = self.jitter * np.sqrt(rng.random((n, n_p))) * g.jitter_scale[allo]
        angle = rng.random((n, n_p)) * (2 * np.pi)
        offsets = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
        pen = rng.uniform(*self.pen_width, size=n)
        slant = rng.uniform(-self.slant, self.slant, size=n)
        rot = rng.uniform(-self.rotation, self.rotation, size=n)
        lo, hi = np.log(self.aspect[0]), np.log(self.aspect[1])
        aspect = np.exp(rng.uniform(lo, hi, size=n))
        press = rng.uniform(1 - self.pressure, 1 + self.pressure, size=(n, n_t, 2))
        bits = (drawn.astype(np.int64) << np.arange(n_t, dtype=np.int64)).sum(axis=1)
        return {
            "allograph": allo.astype(np.int64),
            "allograph_local": g.local_id[allo],
            "strokes": bits,
            "drawn": drawn,
            "offsets": offsets,
            "jitter": np.full(n, self.jitter, np.float32),
            "pen_width": pen.astype(np.float32),
            "slant": slant.astype(np.float32),
            "rotation": rot.astype(np.float32),
            "aspect": aspect.astype(np.float32),
            "pressure": press,
        }

    def _render(self, p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Render a chunk of drawn parameters; returns ``(ink (n,28,28), scale (n,))``."""
        from .render import (
            bezier_points,
            centre_of_mass,
            downsample,
            rasterise_capsules,
            shift_images,
        )

        g = self.compiled
        ss = self.supersample
        allo = p["allograph"]
        n = allo.size
        # Control points: nominal + jitter, then slant / rotation / aspect about the centre.
        pts = g.points[allo] + p["offsets"] - 14.0
        sh = np.tan(np.radians(p["slant"].astype(np.float64)))
        th = np.radians(p["rotation"].astype(np.float64))
        cos, sin = np.cos(th), np.sin(th)
        asp = p["aspect"].astype(np.float64)
        # M = R(theta) @ Shear @ diag(aspect, 1); positive slant moves the top right.
        m = np.empty((n, 2, 2))
        m[:, 0, 0] = cos * asp
        m[:, 0, 1] = -cos * sh - sin
        m[:, 1, 0] = sin * asp
        m[:, 1, 1] = -sin * sh + cos
        pts = pts @ m.transpose(0, 2, 1)
        # Segment control points (n, S, 4, 2) and samples (n, S, K, 2).
        n_s, n_p = g.seg_matrix.shape[1], g.seg_matrix.shape[3]
        ctrl = (g.seg_matrix[allo].reshape(n, n_s * 4, n_p) @ pts).reshape(n, n_s, 4, 2)
        k = self.samples_per_segment
        samples = bezier_points(ctrl, k)  # == einsum("kc,nscd->nskd", bezier_basis(k), ctrl)
        # Which segments are drawn, and the pen radius along each.
        seg_on = g.seg_valid[allo] & np.take_along_axis(p["drawn"], g.seg_stroke[allo], axis=1)
        prog = g.seg_progress[allo]  # (n, S, 2)
        tk = np.linspace(0.0, 1.0, k)
        along = prog[..., :1] + (prog[..., 1:] - prog[..., :1]) * tk  # (n, S, K)
        press = np.take_along_axis(p["pressure"], g.seg_stroke[allo][..., None], axis=1)
        radius = (
            0.5
            * p["pen_width"][:, None, None]
            * (press[..., :1] + (press[..., 1:] - press[..., :1]) * along)
        )
        # Normalise like MNIST: the ink (centre line + pen) fits INK_EXTENT, aspect kept.
        on = seg_on[..., None]
        big = np.float64(1e9)
        xs, ys = samples[..., 0], samples[..., 1]
        x0 = np.where(on, xs, big).min(axis=(1, 2))
        x1 = np.where(on, xs, -big).max(axis=(1, 2))
        y0 = np.where(on, ys, big).min(axis=(1, 2))
        y1 = np.where(on, ys, -big).max(axis=(1, 2))
        r_max = np.where(on, radius, 0.0).max(axis=(1, 2))
        extent = np.maximum(np.maximum(x1 - x0, y1 - y0), 1e-3)
        scale = np.maximum(INK_EXTENT - 2 * r_max, 1.0) / extent
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        samples = (samples - np.stack([cx, cy], -1)[:, None, None, :]) * scale[:, None, None, None]
        # Estimated centre of mass: capsule midpoints weighted by length x width.
        a = samples[:, :, :-1].reshape(n, -1, 2)
        b = samples[:, :, 1:].reshape(n, -1, 2)
        ra = radius[:, :, :-1].reshape(n, -1)
        rb = radius[:, :, 1:].reshape(n, -1)
        valid = np.repeat(seg_on, k - 1, axis=1)
        w = np.linalg.norm(b - a, axis=-1) * (ra + rb) * valid
        wsum = np.maximum(w.sum(axis=1), 1e-12)
        com = ((a + b) * 0.5 * w[..., None]).sum(axis=1) / wsum[:, None]
        shift = (COM_INDEX + 0.5) - com  # continuous coordinate of the target
        a = (a + shift[:, None, :]) * ss
        b = (b + shift[:, None, :]) * ss
        canvas = rasterise_capsules(a, b, ra * ss, rb * ss, valid, TILE * ss, soft=self.soft)
        # Exact correction of the estimate, by whole canvas pixels (overlaps, end caps).
        cy_, cx_ = centre_of_mass(canvas)
        target = (COM_INDEX + 0.5) * ss - 0.5
        dy = np.rint(target - cy_).astype(np.int64)
        dx = np.rint(target - cx_).astype(np.int64)
        if np.any(dy) or np.any(dx):
            canvas = shift_images(canvas, dy, dx)
        return downsample(canvas, ss), scale.astype(np.float32)

    def draw(self, labels: np.ndarray, rng: np.random.Generator) -> Digits:
        """Draw one synthetic instance of each label (see :class:`DigitSource`)."""
        labels = np.asarray(labels, np.int64)
        return self._draw_from(labels, self._parameters(labels, rng))

    def draw_rows(self, labels: np.ndarray, rngs) -> Digits:
        """Row ``r`` of ``(R, n)`` labels drawn with ``rngs[r]``, rendered as one batch.

        Equal to ``[self.draw(labels[r], rngs[r]) for r in range(R)]``
        concatenated (each digit's pixels depend only on its own parameters),
        but only the parameter draws loop over rows; the rendering, the slow
        part, runs over the whole batch.
        """
        labels = np.asarray(labels, np.int64)
        if len(labels) == 0:
            return self.draw(labels.reshape(-1), np.random.default_rng(0))
        parts = [self._parameters(row, g) for row, g in zip(labels, rngs, strict=True)]
        p = {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
        return self._draw_from(labels.reshape(-1), p)

    def _draw_from(self, labels: np.ndarray, p: dict[str, np.ndarray]) -> Digits:
        n = labels.size
        ink = np.empty((n, TILE, TILE), np.float32)
        scale = np.empty(n, np.float32)
        # Render digits grouped by allograph: capsule c of every digit in a chunk
        # then has a similar size and direction, so the per-layer windows of the
        # rasteriser stay tight. Each digit's pixels do not depend on the order.
        order = np.argsort(p["allograph"], kind="stable")
        for s in range(0, n, _CHUNK):
            rows = order[s : s + _CHUNK]
            part = {k: v[rows] for k, v in p.items()}
            ink[rows], scale[rows] = self._render(part)
        np.clip(ink, 0.0, 1.0, out=ink)
        meta = {
            "index": np.full(n, -1, np.int64),
            "allograph": p["allograph"],
            "allograph_local": p["allograph_local"],
            "strokes": p["strokes"],
            "jitter": p["jitter"],
            "pen_width": p["pen_width"],
            "slant": p["slant"],
            "rotation": p["rotation"],
            "aspect": p["aspect"],
            "scale": scale,
        }
        return Digits(ink=ink, labels=labels.copy(), meta=meta)
