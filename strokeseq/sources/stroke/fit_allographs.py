"""Analysis by synthesis per allograph, for the fitting script: draw, read, calibrate.

Each allograph of a fitted model is drawn many times as :class:`StrokeSource`
draws it by default (:func:`draw_allographs`) and:

- read by a classifier of the fit part's real digits: allographs read less
  often than :data:`READ_TARGET` get their shape variation narrowed, those
  read less than :data:`READ_DROP` even then are dropped
  (:func:`calibrate_spread`, :func:`readable`);
- measured as the realism benchmark measures ink (slant, ink mass, stroke
  width), and its pose (slant and pen-width normals) moved until the drawn
  digits match the allograph's own source digits (:func:`pose_targets`,
  :func:`calibrate_pose`; the fit's ``--pose`` steps).

Per-program steps (rendering a traced program, width and slant calibration,
the fit check) are in :mod:`.fit_verify`. Needs the ``[fit]`` extra; the
package never imports this module at run time.
"""

from __future__ import annotations

import logging

import numpy as np

from .fit_verify import (
    MASS_WEIGHT,
    PLACEMENT,
    SAMPLES_PER_SEGMENT,
    SOFT,
    SUPERSAMPLE,
    ink_features,
    ink_slant,
)

__all__ = [
    "READ_DROP",
    "READ_SAMPLES",
    "READ_TARGET",
    "calibrate_pose",
    "calibrate_spread",
    "draw_allographs",
    "pose_targets",
    "readable",
    "sample_readability",
]

log = logging.getLogger(__name__)


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
    >>> from strokeseq.sources.stroke.fit_allographs import draw_allographs
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
        ink, _ = render_samples(*geo, SUPERSAMPLE, SOFT, end_radius=True, placement=PLACEMENT)
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
    >>> from strokeseq.sources.stroke.fit_allographs import sample_readability
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
    >>> from strokeseq.sources.stroke.fit_allographs import pose_targets
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
#: Weight of the log ink mass's spread (against the log stroke width's) in the
#: pen width's spread: the ink mass of drawn digits varied 16-44 % less than
#: real (session 5), the stroke width about as much (session 6).
SD_MASS_WEIGHT = 0.5


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
      deviation by the geometric mean (weights :data:`SD_MASS_WEIGHT`) of
      the ratios of those of the log ink mass and the log stroke width.

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
    >>> from strokeseq.sources.stroke.fit_allographs import calibrate_pose, draw_allographs, pose_targets
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
            r_sd = np.log(np.maximum(t_sd[i, 1:], 1e-6) / np.maximum(g_sd[i, 1:], 1e-6))
            f_w = float(np.clip(np.exp(r_sd @ [SD_MASS_WEIGHT, 1 - SD_MASS_WEIGHT]), lo, hi))
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
    >>> from strokeseq.sources.stroke.fit_allographs import calibrate_spread
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
    >>> from strokeseq.sources.stroke.fit_allographs import readable
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
