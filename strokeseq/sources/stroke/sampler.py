"""Drawing digits from the fitted stroke model, and the writer styles of sequences.

:func:`draw_fitted` draws every random choice of a batch (allograph, shape
coefficients, slant, pen width, pressure) in a fixed order;
:func:`fitted_geometry` turns them into the sampled strokes that
:func:`.pen.render_samples` draws. :func:`draw_styles` draws one writer style
per sequence for ``writer="same"``: its slant, pen width, aspect, preferred
allograph of every digit and shape noise, which every digit of the row then
shares (``SHARE`` of its variation), as one person's hand would.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..._ufuncs import clip as _clip
from .model import FittedModel, pressure_radius, shape_samples

__all__ = ["SHARE", "draw_fitted", "draw_styles", "fitted_geometry", "row_styles"]

#: Correlation of a digit's slant, pen width and aspect with its writer's.
SHARE = 0.85
#: Probability that a digit uses its writer's preferred allograph of that digit.
KEEP_ALLOGRAPH = 0.92
#: Pen widths (px) drawn from the fitted model are kept in this range: the
#: calibrated widths of the training digits run 1.7-6 px (1st-99th percentile),
#: but a wide pen drawn on a shape whose loops the shape noise made small fills
#: them into blots (the measured stroke width of such digits reached 8-10 px,
#: MNIST's stays under 6.5).
PEN_RANGE = (1.0, 4.5)
#: Shape coefficients (in standard deviations) are drawn from a normal truncated here:
#: the far tails of a per-allograph Gaussian are not shapes anybody writes.
COEFF_CLIP = 2.0
#: Scale of the residual (per control point) noise relative to the fitted residual:
#: small-scale wobble of the centre line. It moves drawn digits away from every
#: training digit (memorisation) at little cost in readability, unlike the
#: large-scale shape components (see docs/synthetic.md).
RESIDUAL_SCALE = 1.5
#: Standard deviation of the log aspect (x stretch) drawn per digit.
ASPECT_SD = 0.06


#: Per-model tables derived once (see :func:`_tables`), keyed by ``id``; the
#: model is kept in the value so that its id is not reused while cached.
_TABLES: dict[int, tuple[FittedModel, dict[str, np.ndarray]]] = {}


def _tables(model: FittedModel) -> dict[str, np.ndarray]:
    """Per-allograph lookup tables of ``model``: the drawn-stroke bits and segment mask."""
    hit = _TABLES.get(id(model))
    if hit is not None and hit[0] is model:
        return hit[1]
    zero = np.zeros(len(model.slant))
    tables = {
        "strokes": (np.int64(1) << model.n_strokes) - 1,  # strokes 0..k-1 drawn
        "seg_on": np.repeat(model.stroke_on, model.segments, axis=1),  # (A, T * segments)
        # (A, 6): slant mean, sd; log width mean, sd; 0, ASPECT_SD: the three
        # normal pose draws of a batch in one gather and three array operations
        "pose": np.stack(
            [*model.slant.T, *model.log_width.T, zero, np.full_like(zero, ASPECT_SD)], axis=1
        ),
    }
    for v in tables.values():
        v.flags.writeable = False
    if len(_TABLES) >= 8:  # models made in a loop: keep few
        _TABLES.clear()
    _TABLES[id(model)] = (model, tables)
    return tables


def draw_styles(n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One writer style per row: standard normals and uniforms, model-free."""
    return {
        "z": rng.standard_normal((n_rows, 3)),  # slant, pen width, aspect
        "allograph_u": rng.random((n_rows, 10)),  # preferred allograph per digit
        "noise": np.exp(rng.uniform(np.log(0.6), np.log(1.4), n_rows)),
    }


def row_styles(style: dict[str, np.ndarray], row_of: np.ndarray) -> dict[str, np.ndarray]:
    """Expand per-row styles to per-digit arrays (``row_of[i]`` is digit i's row)."""
    return {k: v[row_of] for k, v in style.items()}


def _choose(cdf: np.ndarray, ids: np.ndarray, labels: np.ndarray, u: np.ndarray) -> np.ndarray:
    local = np.add.reduce(u[:, None] > cdf[labels], axis=1)  # == (...).sum(axis=1)
    local = np.minimum(local, cdf.shape[1] - 1)
    return ids[labels, local]


def draw_fitted(
    model: FittedModel,
    labels: np.ndarray,
    rng: np.random.Generator,
    opts: dict[str, Any],
    style: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Every random choice of a batch from the fitted model, in a fixed order.

    ``opts``: ``variety`` (scale of the shape, slant and width spreads),
    ``jitter`` (extra control-point jitter radius, px), ``pressure``,
    ``pen_width`` (None or a (low, high) uniform override), ``slant`` and
    ``rotation`` (extra uniform angles, degrees), ``aspect`` (None or a
    log-uniform range multiplying the fitted width).
    """
    n = labels.size
    t, n_p = model.mean.shape[1:3]
    n_c = model.sd.shape[1]
    tables = _tables(model)
    allo = _choose(model.choice_cdf, model.choice_ids, labels, rng.random(n))
    # The coefficients, the residual noise and z in one call: the same numbers
    # as three calls in this order (a Generator's normals carry no state).
    normals = rng.standard_normal(n * (n_c + t * n_p * 2 + 3))
    coeff = _clip(normals[: n * n_c].reshape(n, n_c), -COEFF_CLIP, COEFF_CLIP)
    noise = normals[n * n_c : n * (n_c + t * n_p * 2)].reshape(n, t, n_p, 2)
    z = normals[n * (n_c + t * n_p * 2) :].reshape(n, 3)
    jitter = opts["jitter"]
    if jitter > 0:  # the fitted shapes vary already: no extra draws by default
        radius = jitter * np.sqrt(rng.random((n, t, n_p)))
        angle = rng.random((n, t, n_p)) * (2 * np.pi)
    extra = rng.random((n, 4))  # pen, slant, rotation, aspect overrides
    press = rng.uniform(1 - opts["pressure"], 1 + opts["pressure"], size=(n, t, 2))
    resid: Any = RESIDUAL_SCALE  # the same products as a full array of it
    if style is not None:
        pref = _choose(
            model.choice_cdf, model.choice_ids, labels, style["allograph_u"][np.arange(n), labels]
        )
        own = rng.random(n) >= KEEP_ALLOGRAPH
        allo = np.where(own, allo, pref)
        z = SHARE * style["z"] + np.sqrt(1 - SHARE**2) * z
        resid = RESIDUAL_SCALE * style["noise"]
    v = opts["variety"]
    pts = model.sample_shapes(allo, coeff, noise, v, resid)
    if jitter > 0:
        pts += np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1)
    # slant = mean + (v * sd) * z0, log width likewise with z1, log aspect
    # (v * ASPECT_SD) * z2 (+ 0, which exp cannot tell from -0): one gather for all
    pose = tables["pose"][allo]  # (n, 6)
    m = v * pose[:, 1::2]
    m *= z
    m += pose[:, 0::2]
    slant = m[:, 0]
    ex = np.exp(m[:, 1:])  # pen width, aspect
    pen = _clip(ex[:, 0], *PEN_RANGE)
    if opts["pen_width"] is not None:
        lo, hi = opts["pen_width"]
        pen = lo + (hi - lo) * extra[:, 0]
    if opts["slant"]:  # extra lean, positive to the right (0: slant - 0, the same)
        deg = opts["slant"] * (2 * extra[:, 1] - 1)
        slant = slant - np.tan(np.radians(deg))
    rot = opts["rotation"] * (2 * extra[:, 2] - 1)
    aspect = ex[:, 1]
    if opts["aspect"] is not None:
        lo, hi = np.log(opts["aspect"][0]), np.log(opts["aspect"][1])
        aspect = aspect * np.exp(lo + (hi - lo) * extra[:, 3])
    return {
        "allograph": allo.astype(np.int64),
        "allograph_local": model.local_id[allo],
        "strokes": tables["strokes"][allo],  # bits of strokes 0..k-1: all drawn
        "points": pts,
        "jitter": np.full(n, opts["jitter"], np.float32),
        "pen_width": pen.astype(np.float32),
        "slant": np.degrees(np.arctan(-slant)).astype(np.float32),  # positive leans right
        "rotation": rot.astype(np.float32),
        "aspect": aspect.astype(np.float32),
        "pressure": press,
    }


def fitted_geometry(
    model: FittedModel, p: dict[str, np.ndarray], k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sampled strokes ``(samples, seg_on, radius)`` of drawn parameters (see :func:`draw_fitted`)."""
    allo = p["allograph"]
    n = allo.size
    seg = model.segments
    t = model.mean.shape[1]
    # Slant is stored in degrees, positive leaning right (as for the glyphs); with y
    # pointing down that is x += s * y with s = -tan(slant).
    sh = np.tan(np.radians(p["slant"].astype(np.float64)))
    np.negative(sh, out=sh)
    th = np.radians(p["rotation"].astype(np.float64))
    cos, sin = np.cos(th), np.sin(th)
    asp = p["aspect"].astype(np.float64)
    # M = R(theta) @ diag(aspect, 1) @ [[1, s], [0, 1]]: shear, stretch, rotate;
    # built transposed, (n, 2, 2) rows (m00, m10), (m01, m11).
    ca, sa = cos * asp, sin * asp
    mt = np.empty((n, 1, 2, 2))  # (np.stack's Python layers cost more than the four writes)
    mt[:, 0, 0, 0], mt[:, 0, 0, 1] = ca, sa
    mt[:, 0, 1, 0], mt[:, 0, 1, 1] = ca * sh - sin, sa * sh + cos
    pts = p["points"] @ mt
    samples = shape_samples(pts, seg, k)
    seg_on = _tables(model)["seg_on"][allo]
    radius = pressure_radius(p["pen_width"].astype(np.float64), p["pressure"], seg, k, t)
    return samples, seg_on, radius
