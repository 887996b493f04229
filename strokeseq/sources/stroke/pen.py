"""Sampled pen strokes to MNIST-normalised digits: the step both stroke models share.

Both the hand-made glyphs and the fitted model end in the same thing: points
sampled along Bezier segments with a pen radius at each point. This module
fits them in MNIST's frame (the ink, pen included, fits a 20x20 box with the
aspect kept; the centre of mass at pixel (14, 14)) and draws them with the
vectorised renderer of :mod:`.render`.
"""

from __future__ import annotations

import numpy as np

from ..base import TILE
from . import render

__all__ = ["COM_INDEX", "INK_EXTENT", "MNIST_EXTENT", "PLACEMENTS", "render_samples"]

#: Continuous extent of the ink (centre line plus pen) along the longer side.
#: A 19-px interval touches at most 20 pixel columns, so the rasterised ink box
#: never exceeds MNIST's 20x20 box, anti-aliased fringe included.
INK_EXTENT = 19.0
#: ``placement="mnist"``: the ink's extent along the longer side, its box's low
#: edges on pixel edges, so it fills exactly 20 pixel columns (MNIST's box).
MNIST_EXTENT = 20.0
#: Ways of placing the digit in the frame (see :func:`render_samples`).
PLACEMENTS = ("centre", "mnist")
#: MNIST puts the centre of mass at index (14, 14) (measured on the real test
#: set: mean 13.99 / 14.01, always within 0.5), i.e. continuous coordinate 14.5.
COM_INDEX = 14.0


def render_samples(
    samples: np.ndarray,
    seg_on: np.ndarray,
    radius: np.ndarray,
    supersample: int,
    soft: float,
    end_radius: bool = False,
    placement: str = "centre",
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise and draw sampled strokes like MNIST.

    Parameters
    ----------
    samples : (n, S, K, 2) float array
        ``K`` points ``(x, y)`` along each of ``S`` segments, any scale and origin.
    seg_on : (n, S) bool array
        Segments to draw.
    radius : (n, S, K) float array
        Pen radius at each point, in output pixels (the shape is scaled to fit
        the frame, the pen is not).
    supersample, soft : int, float
        Canvas zoom and ink fall-off (see :class:`~strokeseq.StrokeSource`).
    end_radius : bool
        Fit the box with the pen radius at the extreme points of the centre
        line (exact when the pen varies along a stroke) instead of the largest
        radius (a bound; the glyphs' historical rule, kept for their bytes).
    placement : {"centre", "mnist"}
        ``"centre"``: the ink spans :data:`INK_EXTENT` (19 px) and its centre
        of mass is put within ``0.5 / supersample`` px of index (14, 14) by
        sub-pixel moves. ``"mnist"``: as MNIST was made, the ink spans
        :data:`MNIST_EXTENT` (20 px) with the low edges of its box on pixel
        edges (so it fills whole pixel columns and rows, never a 21st), and is
        moved by whole output pixels to put the centre of mass nearest
        (14, 14) (within 0.5 px, MNIST's own tolerance).

    Returns
    -------
    ink : (n, 28, 28) float32
    scale : (n,) float32
        The zoom applied to the shape.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}")
    ss = supersample
    n, _, k = radius.shape
    aligned = placement == "mnist"
    extent_px = MNIST_EXTENT if aligned else INK_EXTENT
    # The box on pixel edges has no slack: measure it with the radii the renderer
    # draws (one per capsule, the mean of its ends), not the points' own.
    r_box = _drawn_radius(radius) if aligned else radius
    if end_radius:
        scale, lo, hi = _exact_scale(samples, seg_on, r_box, extent_px)
        if aligned:  # no slack either: the zoom at which the outline spans <= 20 exactly
            scale = _fit_zoom(samples, seg_on, r_box, extent_px, scale)
    else:
        big = np.float64(1e9)
        on = seg_on[..., None, None]  # broadcasts over points and (x, y)
        lo = np.where(on, samples, big).min(axis=(1, 2))  # (n, 2): x0, y0
        hi = np.where(on, samples, -big).max(axis=(1, 2))
        r_max = np.where(seg_on[..., None], radius, 0.0).max(axis=(1, 2))
        extent = np.maximum((hi - lo).max(axis=1), 1e-3)
        scale = np.maximum(extent_px - 2 * r_max, 1.0) / extent
    samples = (samples - ((lo + hi) / 2)[:, None, None, :]) * scale[:, None, None, None]
    # Estimated centre of mass: capsule midpoints weighted by length x width.
    # Capsule c of segment s runs from sample c to c + 1: the arithmetic below
    # works on those two views of the samples (the same values as on copies).
    a, b = samples[:, :, :-1], samples[:, :, 1:]  # (n, S, K - 1, 2)
    ra, rb = radius[:, :, :-1], radius[:, :, 1:]
    valid = np.repeat(seg_on, k - 1, axis=1).reshape(ra.shape)  # (n, S, K - 1)
    d = b - a
    d *= d
    w = np.sqrt(np.add(d[..., 0], d[..., 1]))  # == norm(b - a, axis=-1) ...
    w *= ra + rb
    w *= valid
    w = w.reshape(n, -1)
    wsum = np.maximum(w.sum(axis=1), 1e-12)
    com = ((a + b).reshape(n, -1, 2) * 0.5 * w[..., None]).sum(axis=1) / wsum[:, None]
    shift = (COM_INDEX + 0.5) - com  # continuous coordinate of the target
    step = 1
    if aligned:  # the outline's low edges on pixel edges, the mass nearest the target
        low = _outline_low(samples, seg_on, r_box)
        shift = np.rint(low + shift) - low
        step = ss  # and the exact centring below by whole output pixels
    pts = (samples + shift[:, None, None, :]) * ss
    rs = radius * ss
    # Drawn at ss x zoom, then moved by whole canvas pixels so that the exact
    # centre of mass corrects the estimate (overlaps, end caps), then box-filtered.
    # The capsules as (n, S, K - 1) views: the renderer gathers the valid ones.
    target = (COM_INDEX + 0.5) * ss - 0.5
    args = (pts[:, :, :-1], pts[:, :, 1:], rs[:, :, :-1], rs[:, :, 1:], valid, ss, soft, target)
    ink = render.draw_centred(*args, TILE, step=step)
    return ink, scale.astype(np.float32)


def _fit_zoom(
    samples: np.ndarray, seg_on: np.ndarray, radius: np.ndarray, extent: float, zoom: np.ndarray
) -> np.ndarray:
    """Shrink ``zoom`` where the inked outline still spans more than ``extent``.

    Per axis the span ``max(s x + r) - min(s x - r)`` is convex, piecewise
    linear and increasing in ``s``: Newton steps from above (on the extreme
    pair's line) reach the largest fitting zoom in a few steps; a last bound
    step (``span(c s) <= c span(s) + (1 - c) 2 r_max``) makes sure of it.
    Only the digits still over are carried from step to step.
    """
    n = samples.shape[0]
    v = samples.reshape(n, -1, 2)
    r = radius.reshape(n, -1)
    if not seg_on.all():  # undrawn points: copies of the digit's first drawn point
        on = np.repeat(seg_on, radius.shape[2], axis=1)  # (n, P)
        first = on.argmax(axis=1)[:, None]
        idx = np.where(on, np.arange(on.shape[1]), first)
        v = np.take_along_axis(v, idx[..., None], axis=1)
        r = np.take_along_axis(r, idx, axis=1)
    s = zoom.astype(np.float64)  # a new array
    rows = np.arange(n)  # the digits still over
    vv, rr = v, r[..., None]
    for _ in range(6):
        sv = s[rows, None, None] * vv
        i_hi = (sv + rr).argmax(axis=1)  # (k, 2)
        i_lo = (sv - rr).argmin(axis=1)
        k = np.arange(rows.size)[:, None]
        x_hi, x_lo = vv[k, i_hi, [0, 1]], vv[k, i_lo, [0, 1]]
        r_pair = rr[k, i_hi, 0] + rr[k, i_lo, 0]
        span = s[rows, None] * (x_hi - x_lo) + r_pair
        over = span > extent
        if not over.any():
            return s
        step = np.where(over, (extent - r_pair) / np.maximum(x_hi - x_lo, 1e-12), np.inf)
        s[rows] = np.maximum(np.minimum(s[rows], step.min(axis=1)), 1e-6)
        keep = over.any(axis=1)
        rows, vv, rr = rows[keep], vv[keep], rr[keep]
    sv = s[rows, None, None] * vv  # the rest: one bound step
    span = ((sv + rr).max(axis=1) - (sv - rr).min(axis=1)).max(axis=1)
    r2 = 2 * rr.max(axis=(1, 2))
    shrink = np.where(span > extent, (extent - r2) / np.maximum(span - r2, 1e-12), 1.0)
    s[rows] *= np.clip(shrink, 1e-6, 1.0)
    return s


def _drawn_radius(radius: np.ndarray) -> np.ndarray:
    """Largest radius drawn at each point: that of the capsules (segment pieces) it ends.

    A capsule is drawn with the mean of its two end radii (see
    :func:`.render.rasterise_capsules`), so at a point the ink reaches the
    larger of its two capsules' radii, not the point's own.
    """
    mean = (radius[..., :-1] + radius[..., 1:]) / 2  # (n, S, K - 1)
    out = np.empty_like(radius)
    out[..., 0], out[..., -1] = mean[..., 0], mean[..., -1]
    np.maximum(mean[..., :-1], mean[..., 1:], out=out[..., 1:-1])
    return out


def _outline_low(samples: np.ndarray, seg_on: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """Lowest ``(x, y)`` of the inked outline (each drawn point minus its radius), ``(n, 2)``."""
    n = samples.shape[0]
    low = samples.reshape(n, -1, 2) - radius.reshape(n, -1, 1)
    if not seg_on.all():  # points of undrawn segments: never the edge
        on = np.repeat(seg_on, radius.shape[2], axis=1)[..., None]
        low = np.where(on, low, np.inf)
    return low.min(axis=1)


def _exact_scale(
    samples: np.ndarray, seg_on: np.ndarray, radius: np.ndarray, extent: float = INK_EXTENT
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Largest zoom at which the inked outline (each point's own radius) spans <= ``extent``.

    Per axis the span at zoom ``s`` is ``max(s*x + r) - min(s*x - r)``, convex
    and increasing in ``s``: start from the extremes' radii, take the smaller
    zoom of the two axes, then shrink once more where the span still exceeds
    (the span is at most proportional to the zoom, so that is a bound).
    Both axes at once; returns ``(zoom (n,), lowest (n, 2), highest (n, 2))``,
    the last two the extreme drawn ``(x, y)`` of the centre line.
    """
    n = samples.shape[0]
    v = samples.reshape(n, -1, 2)  # (n, P, 2)
    r = radius.reshape(n, -1)  # (n, P)
    # x, y, -x, -y: the highest values are minus the lowest of the negated (exactly),
    # so one argmin and one min find the four extremes.
    w = np.concatenate((v, -v), axis=2)  # (n, P, 4)
    if not seg_on.all():  # points of undrawn segments: never an extreme
        on = np.repeat(seg_on, radius.shape[2], axis=1)[..., None]  # (n, P, 1)
        w = np.where(on, w, np.inf)
    at = w.argmin(axis=1)  # (n, 4): point index of the lowest x, y, highest x, y
    m = w.min(axis=1)  # the values there: x0, y0, -x1, -y1
    # r at those points, (n, 4): one flat gather (np.take_along_axis builds more)
    r_ext = np.take(r, at + _row_starts(n, r.shape[1]))
    if n == 1:  # Python floats: the same double operations, fewer NumPy calls
        (x0, y0, nx1, ny1), (r0, r1, r2, r3) = m[0].tolist(), r_ext[0].tolist()
        s = min(
            max(extent - r0 - r2, 1.0) / max(-(nx1 + x0), 1e-3),
            max(extent - r1 - r3, 1.0) / max(-(ny1 + y0), 1e-3),
        )
        # s > 0: undrawn points stay at +inf through s * w - r.
        u = s * w
        u -= r[..., None]
        b0, b1, b2, b3 = u.min(axis=1)[0].tolist()  # bottom x, y, -top x, -top y
        worst = max(-(b2 + b0), -(b3 + b1), 0.0)  # top - bottom == -(b2 + b0)
        zoom = s * extent / worst if worst > extent else s
        return np.array([zoom]), m[:, :2], np.negative(m[:, 2:])
    ext = np.add(m[:, 2:], m[:, :2])
    np.negative(ext, out=ext)  # highest - lowest, exactly
    np.maximum(ext, 1e-3, out=ext)
    s = (np.maximum(extent - r_ext[:, :2] - r_ext[:, 2:], 1.0) / ext).min(axis=1)
    # s > 0: undrawn points stay at +inf through s * w - r.
    u = s[:, None, None] * w
    u -= r[..., None]
    b = u.min(axis=1)  # bottom x, y, -top x, -top y
    span = np.add(b[:, 2:], b[:, :2])
    np.negative(span, out=span)  # top - bottom
    worst = np.maximum(span.max(axis=1), 0.0)
    return np.where(worst > extent, s * extent / worst, s), m[:, :2], -m[:, 2:]


def _row_starts(n: int, length: int) -> np.ndarray:
    """Flat index of the first element of each of ``n`` rows of ``length``, as ``(n, 1)``."""
    return np.arange(0, n * length, length)[:, None]
