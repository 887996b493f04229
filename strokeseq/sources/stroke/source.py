"""Synthetic handwritten digits drawn as pen strokes: a fitted model or hand-made glyphs.

Two stroke models share one renderer (:mod:`.pen`, :mod:`.render`):

- ``model="fitted"`` (the default): the stroke model fitted on the MNIST
  training split (:mod:`.model`, :mod:`.fit_model`): an allograph is drawn by
  its real frequency, its control points from the allograph's mean and
  principal components, its slant and pen width from their fitted normals.
- ``model="glyphs"``: the data-free hand-made glyphs (``glyphs/*.toml``): an
  allograph is chosen by weight, optional strokes are kept with their
  probability, every control point is moved uniformly within a disc of radius
  ``jitter``, and the glyph is slanted, rotated and stretched by uniform draws.

Either way the strokes are drawn with a pen of varying pressure on a canvas
``supersample`` times finer than the output and normalised like MNIST: the
ink fits a 20x20 box (aspect kept) and the centre of mass sits at pixel
(14, 14) of the 28x28 frame, within ``0.5 / supersample`` px
(``placement="centre"``) or, box edges on pixel edges as in MNIST, within
0.5 px (``placement="mnist"``). See docs/synthetic.md for the measured
realism of both.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..._ufuncs import clip as _clip
from ..base import TILE, Digits, DigitSource
from . import pen as _pen
from . import sampler as _sampler
from .bezier import bezier_points
from .canvas import _index
from .options import FITTED_DEFAULTS, GLYPH_DEFAULTS, RENDER_OPTIONS, files_sha256, resolve

__all__ = ["StrokeSource"]

log = logging.getLogger(__name__)

# (the per-model defaults live in .options; these names are kept for callers)
_GLYPH_DEFAULTS = GLYPH_DEFAULTS
_FITTED_DEFAULTS = FITTED_DEFAULTS
#: Digits rendered per chunk: bounds the memory of the supersampled canvas.
_CHUNK = 512


@functools.lru_cache(maxsize=16)
def _bit_weights(t: int) -> np.ndarray:
    """``1 << arange(t)`` as int64 (read-only)."""
    out = np.int64(1) << np.arange(t, dtype=np.int64)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _unit_steps(k: int) -> np.ndarray:
    """``np.linspace(0, 1, k)``, computed once per ``k`` (read-only)."""
    out = np.linspace(0.0, 1.0, k)
    out.flags.writeable = False
    return out


class StrokeSource(DigitSource):
    """Synthetic digits drawn from pen-stroke glyphs; needs no data files.

    Parameters
    ----------
    model : {"fitted", "glyphs"} or path
        The stroke model: the one fitted on real handwriting (default), the
        hand-made glyphs, or the path of a ``.json`` model written by
        ``python -m strokeseq.sources.stroke.fit_model``.
    jitter : float, optional
        Radius in pixels (of the 28x28 frame) of the uniform disc each control
        point moves in; the difficulty knob. Default 2 for the glyphs (0 draws
        the nominal glyphs), 0 for the fitted model (whose shapes vary already).
    glyphs : str, pathlib.Path or None
        ``model="glyphs"`` only: folder (or single file) of glyph files;
        ``None`` uses the built-in glyphs of ``glyphs/``. See ``glyphs/README.md``.
    supersample : int, optional
        Canvas zoom (1-8): strokes are drawn on a ``28 * supersample`` canvas
        and block-averaged down. Default 2 for the fitted model (as fast as
        the glyphs at 3 and read alike: see docs/synthetic.md), 3 for the glyphs.
    pen_width : float or (float, float), optional
        Range of the full pen width in output pixels, drawn uniformly per
        digit. Default: (2.8, 4.4) for the glyphs, the fitted widths for the model.
    slant : float, optional
        Largest shear angle in degrees (uniform in ``[-slant, slant]``, positive
        leans right). Default 12 for the glyphs; for the fitted model an extra
        shear on top of the fitted slant, default 0.
    rotation : float, optional
        Largest rotation angle in degrees (uniform, either way). Default 6 for
        the glyphs, 0 for the fitted model.
    aspect : float or (float, float), optional
        Range of the width / height stretch, drawn log-uniformly per digit.
        Default (0.95, 1.3) for the glyphs; the fitted shapes carry their own.
    pressure : float
        Pen pressure variation in [0, 0.9]: the radius at each stroke's start
        and end is multiplied by a factor uniform in ``[1 - p, 1 + p]`` and
        interpolated along the stroke.
    soft : float, optional
        Fraction of the pen radius over which the ink falls from 1 to 0.
        Default 0.5 for the glyphs, 0.35 for the fitted model.
    samples_per_segment : int, optional
        Points sampled on each Bezier segment (the capsules between them are
        drawn exactly). Default 9 for the glyphs, 4 for the fitted model
        (whose segments are shorter).
    variety : float
        Fitted model: scale of the fitted spreads (shape, slant, pen width);
        1 reproduces the fitted distribution, 0 draws each allograph's mean; the
        default 1.2 widens it a little (see docs/synthetic.md: it keeps the
        drawn digits further from any training digit than real test digits are).
    placement : {"centre", "mnist"}, optional
        How the digit sits in the frame (:func:`.pen.render_samples`):
        ``"mnist"`` (the fitted model's default) fits the ink in 20 whole
        pixels, box edges on pixel edges, moved by whole pixels (centre of
        mass within about 0.5 px of (14, 14) with the default pens; very thin pens
        can miss by up to ~1 px, see docs/synthetic.md), as MNIST was made; ``"centre"`` (the
        glyphs' default) fits it in 19 px and puts its centre of mass within
        ``0.5 / supersample`` px. Either way the ink never reaches a 21st column.

    Notes
    -----
    ``draw`` returns ``meta`` arrays (length n): ``index`` (-1), ``allograph``
    (global allograph id, see :attr:`allograph_names`), ``allograph_local``
    (index within the digit's allographs), ``strokes`` (bit ``t`` set when stroke
    ``t`` of the allograph was drawn), ``jitter``, ``pen_width``, ``slant``
    and ``rotation`` (degrees), ``aspect`` and ``scale`` (the zoom of the
    20x20 normalisation).

    Examples
    --------
    >>> from strokeseq import StrokeSource
    >>> StrokeSource().sample([3, 1, 4], rng=0).shape
    (3, 28, 28)
    >>> StrokeSource("glyphs", jitter=1.0).sample([7], rng=0).dtype
    dtype('float32')
    """

    name = "synthetic"

    def __init__(
        self,
        model: str | Path = "fitted",
        *,
        jitter: float | None = None,
        glyphs: str | Path | None = None,
        supersample: int | None = None,
        pen_width: float | tuple[float, float] | None = None,
        slant: float | None = None,
        rotation: float | None = None,
        aspect: float | tuple[float, float] | None = None,
        pressure: float = 0.2,
        soft: float | None = None,
        samples_per_segment: int | None = None,
        variety: float = 1.2,
        placement: str | None = None,
    ) -> None:
        if isinstance(model, Path) or (isinstance(model, str) and model.endswith(".json")):
            self.model, self.model_file = "fitted", Path(model)
        elif model in ("fitted", "glyphs"):
            self.model, self.model_file = str(model), None
        else:
            raise ValueError(
                f"model must be 'fitted', 'glyphs' or the path of a .json stroke model, "
                f"got {model!r}"
            )
        glyph = self.model == "glyphs"
        if glyphs is not None and not glyph:
            raise ValueError("glyphs=... needs model='glyphs'")
        # None: the model's own default (the glyphs' hand-set ranges; the fitted
        # model's fitted distributions, with no extra jitter, slant or rotation).
        opts = resolve(
            glyph,
            jitter=jitter,
            supersample=supersample,
            pen_width=pen_width,
            slant=slant,
            rotation=rotation,
            aspect=aspect,
            pressure=pressure,
            soft=soft,
            samples_per_segment=samples_per_segment,
            variety=variety,
            placement=placement,
        )
        for k, v in opts.items():
            setattr(self, k, v)
        self.glyphs = None if glyphs is None else Path(glyphs)
        self._compiled = None
        self._fitted = None
        # Load now: a bad glyph folder or model file fails at construction.
        self.compiled if glyph else self.fitted  # noqa: B018

    # -- pickling: ship the options, rebuild the compiled glyphs lazily ------------------
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_compiled"] = None
        state["_fitted"] = None
        return state

    def data_identity(self) -> dict:
        """The stroke data this source draws from: the model or glyph files' SHA-256.

        With the rendering options as resolved (``render``): a dataset resumed
        with another stroke model or glyph folder, or by a version whose
        defaults draw differently (supersampling, pen edge, placement), is
        refused like one resumed with other MNIST files.

        Examples
        --------
        >>> ident = StrokeSource().data_identity()
        >>> ident["source"], ident["model"], len(ident["sha256"])
        ('synthetic', 'fitted', 64)
        >>> ident["render"]
        {'supersample': 2, 'soft': 0.35, 'samples_per_segment': 4, 'placement': 'mnist'}
        """
        sha = files_sha256(self.model, self.glyphs, self.model_file)
        render = {k: getattr(self, k) for k in RENDER_OPTIONS}
        return {"source": self.name, "model": self.model, "sha256": sha, "render": render}

    def __repr__(self) -> str:
        model = self.model if self.model_file is None else str(self.model_file)
        return (
            f"StrokeSource({model!r}, jitter={self.jitter:g}, glyphs={self.glyphs!r}, "
            f"supersample={self.supersample}, pen_width={self.pen_width}, slant={self.slant:g}, "
            f"rotation={self.rotation:g}, aspect={self.aspect}, pressure={self.pressure:g}, "
            f"variety={self.variety:g}, soft={self.soft:g}, "
            f"samples_per_segment={self.samples_per_segment}, placement={self.placement!r})"
        )

    @property
    def compiled(self):
        """The glyphs as padded arrays (:class:`.bezier.CompiledGlyphs`)."""
        if self._compiled is None:
            from .bezier import compile_glyphs
            from .glyph_schema import load_glyphs

            self._compiled = compile_glyphs(load_glyphs(self.glyphs))
            log.debug("compiled %d allographs", len(self._compiled.names))
        return self._compiled

    @property
    def fitted(self):
        """The fitted stroke model (:class:`strokeseq.sources.stroke.model.FittedModel`)."""
        if self._fitted is None:
            from .model import load_model

            self._fitted = load_model(self.model_file)
        return self._fitted

    @property
    def allograph_names(self) -> tuple[str, ...]:
        """``"digit/name"`` of each global allograph id used in ``meta["allograph"]``."""
        return self.compiled.names if self.model == "glyphs" else self.fitted.names

    def max_ink_width(self, label: int) -> int:
        """Ink box width bound: the 20x20 normalisation box, fringe included (see module doc)."""
        return 20

    # -- drawing ---------------------------------------------------------------------------
    def _options(self) -> dict[str, Any]:
        keys = ("jitter", "pen_width", "slant", "rotation", "aspect", "pressure", "variety")
        return {k: getattr(self, k) for k in keys}

    def _parameters(
        self,
        labels: np.ndarray,
        rng: np.random.Generator,
        style: dict[str, np.ndarray] | None = None,
    ) -> dict[str, np.ndarray]:
        """Draw every random choice of the batch, in a fixed order (determinism).

        ``style``: per-digit writer style (:func:`.sampler.row_styles`), or None.
        """
        if self.model == "fitted":
            return _sampler.draw_fitted(self.fitted, labels, rng, self._options(), style)
        p = self._glyph_parameters(labels, rng)
        if style is not None:
            p = self._glyph_style(labels, rng, p, style)
        return p

    def _glyph_style(self, labels, rng, p, style) -> dict[str, np.ndarray]:
        """Pull the glyph parameters of each digit towards its writer's style."""
        from scipy.special import ndtr

        from .sampler import KEEP_ALLOGRAPH, SHARE, _choose

        g = self.compiled
        n = labels.size
        z = SHARE * style["z"] + np.sqrt(1 - SHARE**2) * rng.standard_normal((n, 3))
        u = ndtr(z)  # uniform marginals, correlated within a row
        u_pref = style["allograph_u"][np.arange(n), labels]
        pref = _choose(g.choice_cdf, g.choice_ids, labels, u_pref)
        own = rng.random(n) >= KEEP_ALLOGRAPH
        allo = np.where(own, p["allograph"], pref)
        lo, hi = np.log(self.aspect[0]), np.log(self.aspect[1])
        drawn = rng.random(p["drawn"].shape) < g.stroke_prob[allo]
        n_t = drawn.shape[1]
        return {
            **p,
            "allograph": allo.astype(np.int64),
            "allograph_local": g.local_id[allo],
            "drawn": drawn,
            "strokes": (drawn.astype(np.int64) << np.arange(n_t, dtype=np.int64)).sum(axis=1),
            "offsets": p["offsets"] * style["noise"][:, None, None],
            "slant": (self.slant * (2 * u[:, 0] - 1)).astype(np.float32),
            "pen_width": (self.pen_width[0] + np.diff(self.pen_width) * u[:, 1]).astype(
                np.float32
            ),
            "aspect": np.exp(lo + (hi - lo) * u[:, 2]).astype(np.float32),
        }

    def _glyph_parameters(self, labels: np.ndarray, rng: np.random.Generator) -> dict:
        g = self.compiled
        n = labels.size
        n_p = g.points.shape[1]
        n_t = g.stroke_prob.shape[1]
        u = rng.random(n)
        local = np.add.reduce(u[:, None] > g.choice_cdf[labels], axis=1)  # == (...).sum(1)
        local = np.minimum(local, g.choice_cdf.shape[1] - 1)
        allo = g.choice_ids[labels, local]
        drawn = rng.random((n, n_t)) < g.stroke_prob[allo]
        # Uniform in a disc: radius sqrt(U) keeps the density flat over the area.
        radius = self.jitter * np.sqrt(rng.random((n, n_p))) * g.jitter_scale[allo]
        angle = rng.random((n, n_p)) * (2 * np.pi)
        offsets = np.empty((n, n_p, 2))  # (np.stack's Python layers cost more)
        np.multiply(radius, np.cos(angle), out=offsets[..., 0])
        np.multiply(radius, np.sin(angle), out=offsets[..., 1])
        pen = rng.uniform(*self.pen_width, size=n)
        slant = rng.uniform(-self.slant, self.slant, size=n)
        rot = rng.uniform(-self.rotation, self.rotation, size=n)
        lo, hi = np.log(self.aspect[0]), np.log(self.aspect[1])
        aspect = np.exp(rng.uniform(lo, hi, size=n))
        press = rng.uniform(1 - self.pressure, 1 + self.pressure, size=(n, n_t, 2))
        # bit t set when stroke t is drawn: a product with 1, 2, 4, ... (exact integers)
        bits = drawn @ _bit_weights(n_t)
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
        if self.model == "fitted":
            geo = _sampler.fitted_geometry(self.fitted, p, self.samples_per_segment)
            ss, soft, where = self.supersample, self.soft, self.placement
            return _pen.render_samples(*geo, ss, soft, end_radius=True, placement=where)

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
        stroke = g.seg_stroke[allo]  # (n, S)
        rows = _index(n)[:, None]  # (np.take_along_axis builds the same index in Python)
        seg_on = g.seg_valid[allo] & p["drawn"][rows, stroke]
        prog = g.seg_progress[allo]  # (n, S, 2)
        tk = _unit_steps(k)
        along = prog[..., :1] + (prog[..., 1:] - prog[..., :1]) * tk  # (n, S, K)
        press = p["pressure"][rows, stroke]  # (n, S, 2)
        radius = (
            0.5
            * p["pen_width"][:, None, None]
            * (press[..., :1] + (press[..., 1:] - press[..., :1]) * along)
        )
        return _pen.render_samples(
            samples, seg_on, radius, ss, self.soft, placement=self.placement
        )

    def draw(self, labels: np.ndarray, rng: np.random.Generator) -> Digits:
        """Draw one synthetic instance of each label (see :class:`DigitSource`)."""
        labels = np.asarray(labels, np.int64)
        return self._draw_from(labels, self._parameters(labels, rng))

    def check_writer(self, writer: str | None) -> None:
        """``writer="same"`` is supported: one drawn writer style per sequence."""
        if writer not in (None, "same"):
            raise ValueError(f"writer must be None or 'same', got {writer!r}")

    def draw_sequences(
        self, labels: np.ndarray, rng: np.random.Generator, writer: str | None = None
    ) -> Digits:
        """Draw ``(N, n)`` labels row by row; ``writer="same"`` gives each row one hand.

        With ``writer="same"`` a style is drawn per row (slant, pen width,
        aspect, the preferred allograph of every digit, the amount of shape
        noise) and each digit of the row keeps most of it: its slant, width
        and aspect are correlated (:data:`.sampler.SHARE`) with the row's, and
        it uses the row's allograph of its digit with probability
        :data:`.sampler.KEEP_ALLOGRAPH`. Each digit's own marginal
        distribution is unchanged.
        """
        self.check_writer(writer)
        if writer is None:
            return self.draw(labels.reshape(-1), rng)
        from .sampler import draw_styles, row_styles

        labels = np.asarray(labels, np.int64)
        if labels.ndim == 1:
            labels = labels[None, :]
        rows, n = labels.shape
        style = row_styles(draw_styles(rows, rng), np.repeat(np.arange(rows), n))
        flat = labels.reshape(-1)
        return self._draw_from(flat, self._parameters(flat, rng, style))

    def draw_rows(self, labels: np.ndarray, rngs, writer: str | None = None) -> Digits:
        """Row ``r`` of ``(R, n)`` labels drawn with ``rngs[r]``, rendered as one batch.

        Equal to ``[self.draw(labels[r], rngs[r]) for r in range(R)]``
        concatenated (each digit's pixels depend only on its own parameters),
        but only the parameter draws loop over rows; the rendering, the slow
        part, runs over the whole batch. ``writer="same"``: each row first
        draws its writer style from its own generator (see :meth:`draw_sequences`).
        """
        self.check_writer(writer)
        labels = np.asarray(labels, np.int64)
        if len(labels) == 0:
            return self.draw(labels.reshape(-1), np.random.default_rng(0))
        parts = [self._row_parameters(row, g, writer) for row, g in zip(labels, rngs, strict=True)]
        p = {k: np.concatenate([q[k] for q in parts]) for k in parts[0]}
        return self._draw_from(labels.reshape(-1), p)

    def _row_parameters(self, row: np.ndarray, g: np.random.Generator, writer: str | None):
        if writer is None:
            return self._parameters(row, g)
        from .sampler import draw_styles, row_styles

        style = row_styles(draw_styles(1, g), np.zeros(row.size, np.int64))
        return self._parameters(row, g, style)

    def _draw_from(self, labels: np.ndarray, p: dict[str, np.ndarray]) -> Digits:
        n = labels.size
        if 0 < n <= _CHUNK:  # one chunk
            ink, scale = self._render(p)
        else:  # chunks bound the memory of the geometry; each digit's pixels are its own
            ink = np.empty((n, TILE, TILE), np.float32)
            scale = np.empty(n, np.float32)
            for s in range(0, n, _CHUNK):
                rows = slice(s, s + _CHUNK)
                ink[rows], scale[rows] = self._render({k: v[rows] for k, v in p.items()})
        _clip(ink, np.float32(0.0), np.float32(1.0), out=ink)
        # Full ink somewhere in every digit, as in MNIST (whose digits all reach 255):
        # a thin pen's anti-aliased stroke is darkened to reach it (no-op at max 1).
        peak = np.maximum.reduce(ink.reshape(n, TILE * TILE), axis=1)
        dim = peak < 1
        if dim.any():  # (most digits reach 1: nothing to divide)
            np.divide(ink, peak[:, None, None], out=ink, where=(dim & (peak > 0))[:, None, None])
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
