"""Analysis by synthesis for the fitting script: render fitted programs, calibrate, check.

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
    "calibrate_pose",
    "calibrate_slants",
    "calibrate_widths",
    "chamfer",
    "draw_allographs",
    "ink_features",
    "ink_slant",
    "pose_targets",
    "readable",
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
SUPERSAMPLE, SOFT, SAMPLES_PER_SEGMENT = 3, 0.35, 4


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
        ink, _ = render_samples(samples, seg_on, radius, SUPERSAMPLE, SOFT, end_radius=True)
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


#: Allographs whose drawn digits the fit-part reader reads less often than this
#: get their shape variation scaled down (by SPREAD_STEP per round, to SPREAD_MIN).
READ_TARGET = 0.85
SPREAD_STEP, SPREAD_MIN, SPREAD_ROUNDS = 0.8, 0.4, 4
#: Allographs read less often than this even at SPREAD_MIN are dropped.
READ_DROP = 0.5
#: Digits drawn per allograph to measure how well it reads.
READ_SAMPLES = 200


def draw_allographs(model, spread: np.ndarray, per: int, seed: int):
    """Draw every allograph ``per`` times as ``StrokeSource()`` does by default.

    Each allograph is forced, its shape variation scaled by ``spread``.
    Yields ``(rows, ink)`` chunks: the allograph of each drawing and the
    ``(m, 28, 28)`` drawings.

    Parameters
    ----------
    model : FittedModel
    spread : (A,) float array
        Scale of each allograph's shape variation.
    per : int
        Drawings per allograph.
    seed : int

    Yields
    ------
    rows : (m,) int array
        Allograph index of each drawing (allograph by allograph, in order).
    ink : (m, 28, 28) float32 array

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import draw_allographs
    >>> from strokeseq.sources.stroke.model import default_model_path, parse_model
    >>> doc = json.loads(default_model_path().read_text())
    >>> first = {}  # the first allograph of every digit: a small model
    >>> for a in doc["allographs"]:
    ...     _ = first.setdefault(a["digit"], a)
    >>> doc = {**doc, "allographs": list(first.values())}
    >>> model = parse_model(doc)
    >>> rows, ink = next(draw_allographs(model, np.ones(10), 3, seed=0))
    >>> rows[:7].tolist(), ink.shape
    ([0, 0, 0, 1, 1, 1, 2], (30, 28, 28))
    """
    import dataclasses

    from .pen import render_samples
    from .sampler import draw_fitted, fitted_geometry
    from .source import _FITTED_DEFAULTS

    n_a = len(model.names)
    forced = dataclasses.replace(
        model,
        spread=np.asarray(spread, np.float64),
        choice_cdf=np.ones((n_a, 1)),
        choice_ids=np.arange(n_a)[:, None],
    )
    opts = {k: _FITTED_DEFAULTS[k] for k in ("jitter", "pen_width", "slant", "rotation", "aspect")}
    opts.update(pressure=0.2, variety=1.2)  # StrokeSource's defaults
    rows = np.repeat(np.arange(n_a), per)
    p = draw_fitted(forced, rows, np.random.default_rng(seed), opts)
    for s in range(0, rows.size, 2000):
        sl = slice(s, s + 2000)
        part = {k: v[sl] for k, v in p.items()}
        geo = fitted_geometry(forced, part, SAMPLES_PER_SEGMENT)
        ink, _ = render_samples(*geo, SUPERSAMPLE, SOFT, end_radius=True)
        np.clip(ink, 0.0, 1.0, out=ink)
        peak = ink.max(axis=(1, 2), keepdims=True)
        np.divide(ink, peak, out=ink, where=(peak > 0) & (peak < 1))
        yield rows[sl], ink


def sample_readability(
    model, reader, spread: np.ndarray, per: int = READ_SAMPLES, seed: int = 0
) -> np.ndarray:
    """Share of each allograph's drawn digits that ``reader`` reads as its digit.

    Digits are drawn as ``StrokeSource()`` draws them by default (its options),
    each allograph forced, with the shape variation scaled by ``spread``.

    Parameters
    ----------
    model : FittedModel
    reader
        Anything with ``predict((m, 28, 28) ink) -> (m,) labels``.
    spread : (A,) float array
    per, seed : int
        Drawings per allograph, and their seed.

    Returns
    -------
    (A,) float array
        Share of each allograph's drawings read as its digit.

    Examples
    --------
    >>> import json
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import sample_readability
    >>> from strokeseq.sources.stroke.model import default_model_path, parse_model
    >>> doc = json.loads(default_model_path().read_text())
    >>> first = {}  # the first allograph of every digit: a small model
    >>> for a in doc["allographs"]:
    ...     _ = first.setdefault(a["digit"], a)
    >>> doc = {**doc, "allographs": list(first.values())}
    >>> model = parse_model(doc)
    >>> class Zeros:  # a "reader" that reads every digit as 0
    ...     def predict(self, x):
    ...         return np.zeros(len(x), int)
    >>> sample_readability(model, Zeros(), np.ones(10), per=5).tolist()
    [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]
    """
    right = []
    for rows, ink in draw_allographs(model, spread, per, seed):
        right.append(np.asarray(reader.predict(ink)) == model.digit[rows])
    return np.concatenate(right).reshape(len(model.names), per).mean(axis=1)


def pose_targets(ink: np.ndarray) -> np.ndarray:
    """What :func:`calibrate_pose` matches, per digit: ``(n, 3)`` ink slant, log mass, log width.

    The benchmark's own measures (``benchmarks/realism.py``): the ink's
    ``mu11 / mu02`` slant, the ink mass, and the stroke width (ink mass over
    the skeleton length of ``ink > 0.5``).

    Parameters
    ----------
    ink : (n, h, w) array

    Returns
    -------
    (n, 3) float64 array

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import pose_targets
    >>> ink = np.zeros((1, 28, 28))
    >>> ink[0, 4:24, 13:16] = 1.0
    >>> pose_targets(ink).round(2).tolist()
    [[0.0, 4.09, 1.2]]
    """
    mass, sw = ink_features(ink)
    return np.stack(
        [ink_slant(ink), np.log(np.maximum(mass, 1e-3)), np.log(np.maximum(sw, 1e-3))], axis=1
    )


#: Rounds of :func:`calibrate_pose`, and the range of its spread factors per round.
POSE_ROUNDS = 3
POSE_SD_RANGE = (0.6, 1.5)


def calibrate_pose(doc: dict, target: list[np.ndarray], seed: int = 0) -> list[dict]:
    """Set each allograph's slant and pen-width normals so its drawings match its sources.

    ``target[a]`` is :func:`pose_targets` of allograph ``a``'s source digits.
    The programs' slants and widths are calibrated one by one
    (:func:`calibrate_slants`, :func:`calibrate_widths`), but digits drawn
    from an allograph's mean shape plus noise lean and spread differently
    again: the mean of de-slanted shapes does not lean like its digits, and
    shape noise that shrinks a loop under a wide pen fills it into a blot
    (the stroke widths of drawn 8s and 9s varied 30-45 % more than real).
    Each round draws every allograph :data:`READ_SAMPLES` times as
    ``StrokeSource()`` does and moves, per allograph:

    - the slant mean by the difference of the mean ink slants (a shear moves
      the moment by itself), its standard deviation by the ratio of theirs;
    - the log pen width mean halfway (as :data:`MASS_WEIGHT`) between the
      differences of log stroke width and log ink mass, its standard
      deviation by the ratio of those of the log stroke width.

    Parameters
    ----------
    doc : dict
        A model document (:func:`.fit_model.document`).
    target : list of (m_a, 3) float arrays
        One per allograph of ``doc``, in order.
    seed : int
        Seed of the first round's drawings (then ``seed + 1``, ...).

    Returns
    -------
    list of dict
        Copies of ``doc``'s allographs with new ``slant`` and ``log_width``.

    Examples
    --------
    Ask every allograph to lean 0.3 further right than it draws now:

    >>> import json
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import calibrate_pose, draw_allographs, pose_targets
    >>> from strokeseq.sources.stroke.model import default_model_path, parse_model
    >>> doc = json.loads(default_model_path().read_text())
    >>> first = {}  # the first allograph of every digit: a small model
    >>> for a in doc["allographs"]:
    ...     _ = first.setdefault(a["digit"], a)
    >>> doc = {**doc, "allographs": list(first.values())}
    >>> model = parse_model(doc)
    >>> parts = [[] for _ in range(10)]
    >>> for rows, ink in draw_allographs(model, np.ones(10), 50, seed=0):
    ...     for i in range(10):
    ...         parts[i].append(pose_targets(ink[rows == i]))
    >>> target = [np.concatenate(p) + [0.3, 0.0, 0.0] for p in parts]
    >>> out = calibrate_pose(doc, target)
    >>> bool(out[0]["slant"][0] < doc["allographs"][0]["slant"][0] - 0.2)
    True
    """
    from .model import parse_model

    allographs = [dict(a) for a in doc["allographs"]]
    spread = np.array([a.get("spread", 1.0) for a in allographs])
    t_mean = np.array([t.mean(axis=0) for t in target])  # (A, 3)
    t_sd = np.array([t.std(axis=0) for t in target])
    lo, hi = POSE_SD_RANGE
    for r in range(POSE_ROUNDS):
        model = parse_model({**doc, "allographs": allographs})
        got = np.concatenate(
            [
                pose_targets(ink)
                for _, ink in draw_allographs(model, spread, READ_SAMPLES, seed + r)
            ]
        ).reshape(len(allographs), READ_SAMPLES, 3)  # drawn allograph by allograph
        g_mean, g_sd = got.mean(axis=1), got.std(axis=1)
        for i, a in enumerate(allographs):
            d_slant = float(np.clip(t_mean[i, 0] - g_mean[i, 0], -0.3, 0.3))
            f_slant = float(np.clip(t_sd[i, 0] / max(g_sd[i, 0], 1e-6), lo, hi))
            d_mass, d_sw = t_mean[i, 1:] - g_mean[i, 1:]
            d_w = float(np.clip(MASS_WEIGHT * d_mass + (1 - MASS_WEIGHT) * d_sw, -0.3, 0.3))
            f_w = float(np.clip(t_sd[i, 2] / max(g_sd[i, 2], 1e-6), lo, hi))
            s0, s1 = a["slant"]
            w0, w1 = a["log_width"]
            # slant s shears x += s * y (y down): the ink moment (y up) moves by -s.
            a["slant"] = [round(s0 - d_slant, 4), round(s1 * f_slant, 4)]
            a["log_width"] = [round(w0 + d_w, 4), round(w1 * f_w, 4)]
        log.info(
            "pose round %d: |slant diff| %.3f, |log width diff| %.3f (means over allographs)",
            r,
            float(np.abs(t_mean[:, 0] - g_mean[:, 0]).mean()),
            float(np.abs(t_mean[:, 2] - g_mean[:, 2]).mean()),
        )
    return allographs


def calibrate_spread(model, reader) -> tuple[np.ndarray, np.ndarray]:
    """Per-allograph spread so its drawn digits read as the digit; returns ``(spread, rate)``.

    Each round draws every allograph, reads the drawings with the fit-part
    reader, and narrows the allographs read less often than
    :data:`READ_TARGET` by :data:`SPREAD_STEP` (not below :data:`SPREAD_MIN`).

    Parameters
    ----------
    model : FittedModel
    reader
        Anything with ``predict((m, 28, 28) ink) -> (m,) labels``.

    Returns
    -------
    spread, rate : (A,) float arrays
        Each allograph's spread, and the share of its last drawings read right.

    Examples
    --------
    A reader that knows only 0 narrows every other allograph to the floor:

    >>> import json
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import calibrate_spread
    >>> from strokeseq.sources.stroke.model import default_model_path, parse_model
    >>> doc = json.loads(default_model_path().read_text())
    >>> first = {}  # the first allograph of every digit: a small model
    >>> for a in doc["allographs"]:
    ...     _ = first.setdefault(a["digit"], a)
    >>> doc = {**doc, "allographs": list(first.values())}
    >>> model = parse_model(doc)
    >>> class Zeros:  # a "reader" that reads every digit as 0
    ...     def predict(self, x):
    ...         return np.zeros(len(x), int)
    >>> spread, rate = calibrate_spread(model, Zeros())
    >>> spread.round(2).tolist()
    [1.0, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41, 0.41]
    """
    spread = np.ones(len(model.names))
    rate = sample_readability(model, reader, spread)
    for r in range(SPREAD_ROUNDS):
        low = (rate < READ_TARGET) & (spread > SPREAD_MIN)
        if not low.any():
            break
        spread[low] = np.maximum(spread[low] * SPREAD_STEP, SPREAD_MIN)
        rate = sample_readability(model, reader, spread, seed=r + 1)
    return spread, rate


def readable(doc: dict, reader) -> tuple[list[dict], int]:
    """Set each allograph's ``spread`` so its drawn digits read as the digit.

    ``doc`` is a model document (:func:`.fit_model.document`). Allographs
    still read less often than :data:`READ_DROP` at the smallest spread are
    dropped (unless that would leave a digit without any). Returns the
    allographs, each with its ``spread``, and how many were dropped.

    Parameters
    ----------
    doc : dict
    reader
        Anything with ``predict((m, 28, 28) ink) -> (m,) labels``.

    Returns
    -------
    allographs : list of dict
    dropped : int

    Examples
    --------
    Every digit keeps at least its best allograph, however badly it reads:

    >>> import json
    >>> import numpy as np
    >>> from strokeseq.sources.stroke.fit_verify import readable
    >>> from strokeseq.sources.stroke.model import default_model_path, parse_model
    >>> doc = json.loads(default_model_path().read_text())
    >>> first = {}  # the first allograph of every digit: a small model
    >>> for a in doc["allographs"]:
    ...     _ = first.setdefault(a["digit"], a)
    >>> doc = {**doc, "allographs": list(first.values())}
    >>> model = parse_model(doc)
    >>> class Zeros:  # a "reader" that reads every digit as 0
    ...     def predict(self, x):
    ...         return np.zeros(len(x), int)
    >>> kept, dropped = readable(doc, Zeros())
    >>> [a["spread"] for a in kept][:3], dropped
    ([1.0, 0.41, 0.41], 0)
    """
    from .model import parse_model

    allographs = doc["allographs"]
    spread, rate = calibrate_spread(parse_model(doc), reader)
    digit = np.array([a["digit"] for a in allographs])
    keep = rate >= READ_DROP
    for d in range(10):
        if not keep[digit == d].any():
            keep[(digit == d) & (rate == rate[digit == d].max())] = True
    out = []
    for a, s, r, k in zip(allographs, spread, rate, keep, strict=True):
        log.info(
            "%d/%s: spread %.2f, read %.2f%s",
            a["digit"],
            a["name"],
            s,
            r,
            "" if k else " (dropped)",
        )
        if k:
            out.append({**a, "spread": round(float(s), 3)})
    return out, int((~keep).sum())
