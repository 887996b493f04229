"""Analysis by synthesis for the fitting script: render fitted programs, calibrate, check.

(Per program; the per-allograph steps, drawing each allograph to calibrate
its pose and spread, are in :mod:`.fit_allographs`.)

Every digit program the tracer fits (control points, slant, pen width) is
drawn back with the package's own renderer, as :class:`StrokeSource` would
draw it without noise, and compared with the training digit it came from:

1. **Pen width.** The tracer's width (ink mass over skeleton length) assumes
   the drawn skeleton is as long as the real one; drawn centre lines are
   smoother and shorter, so digits drawn at that width came out 20-30 % too
   thick by the measured stroke width. Here the width of each program is
   rescaled until its *rendering's* measured stroke width (ink mass over the
   skeleton length of ``ink > 0.5``, the benchmark's definition) equals the
   source digit's (:data:`CALIBRATION_ROUNDS` rounds of render, measure, rescale).
2. **Fit check.** A program is kept only when its rendering lies within
   :data:`CHAMFER_MAX` pixels (mean symmetric chamfer distance of the ink
   masks) of its source digit *and* a PCA + 3-NN classifier fitted on real
   digits of the fit part reads the rendering as its label. This drops the
   tracer's failures (a 4 traced as a 7, an 8 traced as a bare stem) before
   they become allographs.

Needs the ``[fit]`` extra (scikit-image, scipy); the package never imports
this module at run time.
"""

from __future__ import annotations

import logging

import numpy as np

__all__ = [
    "CALIBRATION_ROUNDS",
    "CHAMFER_MAX",
    "calibrate_slants",
    "calibrate_widths",
    "chamfer",
    "ink_features",
    "ink_slant",
    "render_programs",
    "skeleton_lengths",
]

log = logging.getLogger(__name__)

#: Render-measure-rescale rounds of the pen-width calibration.
CALIBRATION_ROUNDS = 3
#: Largest mean symmetric chamfer distance (px) between a rendering and its source.
CHAMFER_MAX = 1.0
#: Weight of the ink mass (against the measured stroke width) in the calibration.
MASS_WEIGHT = 0.5
#: Pen widths (px) the calibration may reach.
WIDTH_RANGE = (0.6, 7.0)
#: Ink level of the masks (as in ``benchmarks/realism.py``).
THRESHOLD = 0.5
#: Rendering as :class:`StrokeSource` does by default for the fitted model.
SUPERSAMPLE, SOFT, SAMPLES_PER_SEGMENT, PLACEMENT = 2, 0.35, 4, "mnist"


def render_programs(
    ctrl: np.ndarray,
    n_strokes: np.ndarray,
    slant: np.ndarray,
    width: np.ndarray,
    segments: int,
    chunk: int = 1000,
) -> np.ndarray:
    """Draw digit programs without noise: ``(n, 28, 28)`` float32 ink.

    Parameters
    ----------
    ctrl : (n, T, 3 * segments + 1, 2) float array
        De-slanted control points (strokes past ``n_strokes`` are ignored).
    n_strokes : (n,) int array
    slant : (n,) float array
        x shift per unit of y (added back to the control points).
    width : (n,) float array
        Pen width in output pixels.
    segments : int
        Bezier segments per stroke.
    chunk : int
        Digits rendered per call of the renderer (bounds its memory).

    Returns
    -------
    (n, 28, 28) float32 array
        The ink, full (1.0) at the pen's core, placed and scaled as
        :class:`StrokeSource` places its digits.

    Examples
    --------
    A straight vertical stroke (one segment: four control points), pen 2 px:

    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import render_programs
    >>> ctrl = np.zeros((1, 1, 4, 2))
    >>> ctrl[0, 0, :, 1] = np.linspace(-1, 1, 4)
    >>> ink = render_programs(ctrl, np.array([1]), np.array([0.0]), np.array([2.0]), 1)
    >>> ink.shape, ink.dtype, float(ink.max())
    ((1, 28, 28), dtype('float32'), 1.0)
    """
    from .model import shape_samples
    from .pen import render_samples

    n, t = ctrl.shape[:2]
    k = SAMPLES_PER_SEGMENT
    out = np.empty((n, 28, 28), np.float32)
    on_t = np.arange(t)[None, :] < np.asarray(n_strokes)[:, None]
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        pts = ctrl[sl].copy()
        pts[..., 0] += slant[sl, None, None] * pts[..., 1]
        samples = shape_samples(pts, segments, k)
        seg_on = np.repeat(on_t[sl], segments, axis=1)
        radius = np.broadcast_to(0.5 * width[sl, None, None], (*seg_on.shape, k)).copy()
        ink, _ = render_samples(
            samples, seg_on, radius, SUPERSAMPLE, SOFT, end_radius=True, placement=PLACEMENT
        )
        np.clip(ink, 0.0, 1.0, out=ink)
        # Full ink at the core, as StrokeSource draws it.
        peak = ink.max(axis=(1, 2), keepdims=True)
        np.divide(ink, peak, out=ink, where=(peak > 0) & (peak < 1))
        out[sl] = ink
    return out


def skeleton_lengths(mask: np.ndarray, per_row: int = 64) -> np.ndarray:
    """Skeleton pixel count of each binary image of ``(n, h, w)``.

    The images are tiled into one mosaic with two blank pixels between tiles
    and thinned with one :func:`skimage.morphology.skeletonize` call; thinning
    looks at 3x3 neighbourhoods, so the result equals thinning each image alone.

    Parameters
    ----------
    mask : (n, h, w) bool array
    per_row : int
        Tiles per mosaic row.

    Returns
    -------
    (n,) int64 array
        Skeleton pixels of each image (0 for an empty one).

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import skeleton_lengths
    >>> mask = np.zeros((2, 28, 28), bool)
    >>> mask[0, 4:24, 13:16] = True  # a bar 20 px tall, 3 px wide
    >>> skeleton_lengths(mask).tolist()
    [18, 0]
    """
    from skimage.morphology import skeletonize

    n, h, w = mask.shape
    if n == 0:
        return np.zeros(0, np.int64)
    rows = -(-n // per_row)
    tiles = np.zeros((rows * per_row, h + 2, w + 2), bool)
    tiles[:n, 1:-1, 1:-1] = mask
    mosaic = tiles.reshape(rows, per_row, h + 2, w + 2).transpose(0, 2, 1, 3)
    skel = skeletonize(mosaic.reshape(rows * (h + 2), per_row * (w + 2)))
    skel = skel.reshape(rows, h + 2, per_row, w + 2).transpose(0, 2, 1, 3)
    return skel.reshape(rows * per_row, -1).sum(axis=1)[:n].astype(np.int64)


def ink_features(ink: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ink mass and stroke width (mass / skeleton length of ``ink > 0.5``) of each digit.

    Parameters
    ----------
    ink : (n, h, w) array
        Ink in [0, 1].

    Returns
    -------
    mass, width : (n,) float64 arrays
        Sum of the ink, and the mass per skeleton pixel (the benchmark's stroke
        width, ``benchmarks/realism.py``).

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import ink_features
    >>> ink = np.zeros((1, 28, 28))
    >>> ink[0, 4:24, 13:16] = 1.0
    >>> mass, width = ink_features(ink)
    >>> float(mass[0]), round(float(width[0]), 2)
    (60.0, 3.33)
    """
    x = np.asarray(ink, np.float64)
    mass = x.sum(axis=(1, 2))
    length = skeleton_lengths(x > THRESHOLD)
    return mass, mass / np.maximum(length, 1.0)


def ink_slant(ink: np.ndarray) -> np.ndarray:
    """Slant of each digit as the realism benchmark measures it: ``mu11 / mu02`` of the ink.

    y points up, so a digit leaning right is positive (x shift per unit of
    height); 0 where the ink has no height.

    Parameters
    ----------
    ink : (n, h, w) array

    Returns
    -------
    (n,) float64 array

    Examples
    --------
    A bar whose top is 10 px right of its bottom over 20 px of height:

    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import ink_slant
    >>> ink = np.zeros((1, 28, 28))
    >>> for y in range(4, 24):
    ...     ink[0, y, 19 - (y - 4) // 2] = 1.0
    >>> round(float(ink_slant(ink)[0]), 2)
    0.5
    """
    x = np.asarray(ink, np.float64)
    mass = np.maximum(x.sum(axis=(1, 2)), 1e-12)
    ys = -np.arange(x.shape[1], dtype=np.float64)
    xs = np.arange(x.shape[2], dtype=np.float64)
    py, px = x.sum(axis=2), x.sum(axis=1)
    yc, xc = py @ ys / mass, px @ xs / mass
    mu02 = py @ ys**2 / mass - yc**2
    mu11 = np.einsum("nij,i,j->n", x, ys, xs) / mass - yc * xc
    return np.where(mu02 > 1e-9, mu11 / np.maximum(mu02, 1e-9), 0.0)


def calibrate_slants(
    ctrl: np.ndarray,
    n_strokes: np.ndarray,
    slant: np.ndarray,
    width: np.ndarray,
    target: np.ndarray,
    segments: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Slants whose renderings lean as their sources do; returns ``(slant, ink)``.

    The tracer's slant is a regression of the stroke points, which weighs a
    digit's parts by their length; the benchmark's is the ink's second moment
    (``target``, :func:`ink_slant` of the sources), which weighs them by ink.
    They differ by shape (the drawn 2s leaned 0.13 less than real ones, the 5s
    0.08 more), so each program's shear is corrected by the difference of the
    two moments: a shear ``x += a * y`` (y down) moves the moment by exactly
    ``-a`` (up to the pixel grid), so :data:`CALIBRATION_ROUNDS` rounds converge.

    Parameters
    ----------
    ctrl, n_strokes, slant, width, segments
        The programs, as for :func:`render_programs`.
    target : (n,) float array
        :func:`ink_slant` of each program's source digit.

    Returns
    -------
    slant : (n,) float64 array
        The corrected slants.
    ink : (n, 28, 28) float32 array
        The programs drawn with them.

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import calibrate_slants, ink_slant
    >>> ctrl = np.zeros((1, 1, 4, 2))
    >>> ctrl[0, 0, :, 1] = np.linspace(-1, 1, 4)
    >>> one = np.array([1])
    >>> slant, ink = calibrate_slants(ctrl, one, np.zeros(1), np.full(1, 2.0), np.array([0.3]), 1)
    >>> round(float(ink_slant(ink)[0]), 2)
    0.3
    """
    slant = np.asarray(slant, np.float64).copy()
    for _ in range(CALIBRATION_ROUNDS):
        ink = render_programs(ctrl, n_strokes, slant, width, segments)
        slant -= np.clip(target - ink_slant(ink), -0.5, 0.5)
    return slant, render_programs(ctrl, n_strokes, slant, width, segments)


def calibrate_widths(
    ctrl: np.ndarray,
    n_strokes: np.ndarray,
    slant: np.ndarray,
    width: np.ndarray,
    target: tuple[np.ndarray, np.ndarray],
    segments: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Pen widths whose renderings match the sources; returns ``(width, ink)``.

    ``target`` is the sources' ``(ink mass, stroke width)``. Each round
    renders, measures, and rescales the pen by ``(target / measured)`` of the
    stroke width, and of the ink mass with weight :data:`MASS_WEIGHT` (both
    grow about in proportion to the pen; they cannot both match where the
    drawn skeleton is shorter than the real one).

    Parameters
    ----------
    ctrl, n_strokes, slant, width, segments
        The programs, as for :func:`render_programs` (``width`` the start).
    target : ((n,), (n,)) float arrays
        :func:`ink_features` of each program's source digit.

    Returns
    -------
    width : (n,) float64 array
        The calibrated pen widths, within :data:`WIDTH_RANGE`.
    ink : (n, 28, 28) float32 array
        The programs drawn with them.

    Examples
    --------
    Ask a straight stroke for mass 60 and stroke width 3: it cannot have both
    (its skeleton is shorter than 20 px), so the pen settles between them.

    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import calibrate_widths, ink_features
    >>> ctrl = np.zeros((1, 1, 4, 2))
    >>> ctrl[0, 0, :, 1] = np.linspace(-1, 1, 4)
    >>> target = (np.array([60.0]), np.array([3.0]))
    >>> width, ink = calibrate_widths(ctrl, np.array([1]), np.zeros(1), np.full(1, 2.0), target, 1)
    >>> mass, sw = ink_features(ink)
    >>> bool(52 < mass[0] < 60 and 3 < sw[0] < 3.6)
    True
    """
    mass_t, sw_t = target
    width = np.clip(np.asarray(width, np.float64), *WIDTH_RANGE)
    for _ in range(CALIBRATION_ROUNDS):
        ink = render_programs(ctrl, n_strokes, slant, width, segments)
        mass, sw = ink_features(ink)
        step = np.log(sw_t / np.maximum(sw, 1e-3)) * (1 - MASS_WEIGHT)
        step += np.log(mass_t / np.maximum(mass, 1e-3)) * MASS_WEIGHT
        width = np.clip(width * np.exp(step), *WIDTH_RANGE)
    return width, render_programs(ctrl, n_strokes, slant, width, segments)


def chamfer(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean symmetric chamfer distance (px) between the ink masks of ``a`` and ``b``.

    Per digit: the mean distance of ``a``'s ink pixels to ``b``'s ink and of
    ``b``'s to ``a``'s, averaged. An empty mask gives infinity.

    Parameters
    ----------
    a, b : (n, h, w) arrays
        Ink; the masks are ``ink > 0.5``.

    Returns
    -------
    (n,) float64 array

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import chamfer
    >>> a = np.zeros((2, 28, 28))
    >>> a[:, 4:24, 10] = 1.0
    >>> b = np.zeros((2, 28, 28))
    >>> b[0, 4:24, 12] = 1.0  # the same bar, 2 px to the right; b[1] is empty
    >>> chamfer(a, b).tolist()
    [2.0, inf]
    """
    from scipy import ndimage as ndi

    ma, mb = np.asarray(a) > THRESHOLD, np.asarray(b) > THRESHOLD
    out = np.full(len(ma), np.inf)
    for i in range(len(ma)):  # the fitting script only; 28x28 transforms are cheap
        if not (ma[i].any() and mb[i].any()):
            continue
        da = ndi.distance_transform_edt(~ma[i])
        db = ndi.distance_transform_edt(~mb[i])
        out[i] = 0.5 * (db[ma[i]].mean() + da[mb[i]].mean())
    return out
