"""Per-sequence transforms on a batch of ink lines ``(N, 28, W)`` with digit boxes.

Boxes are ``(N, k, 4)`` integer arrays of ``[x0, x1, y0, y1)`` per digit
(half-open columns and rows). Transforms that move ink (:func:`wobble`,
:func:`slant`) return boxes moved to follow it, recomputed conservatively
(the new box contains every pixel the old box's ink can have moved to) and
clipped to the image; boxes with ``x1 <= x0`` or ``y1 <= y0`` (padding for
missing digits) are returned unchanged. Pixel-wise transforms (noise, blur,
contrast, clutter) take images only and work on any ``(n, H, W)``.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..rng import as_generator
from ..sources.base import TILE
from ._core import check_batch, finish, per_sample
from .resample import linear_shift

__all__ = ["check_boxes", "clutter", "contrast", "slant", "wobble"]

HEIGHT = TILE  # sequences are one tile high
CENTRE_Y = (HEIGHT - 1) / 2.0


def check_boxes(boxes: object, images: np.ndarray) -> np.ndarray | None:
    """Return ``boxes`` as an int64 ``(N, k, 4)`` copy, or None.

    Raises
    ------
    ValueError
        If the shape does not match the images.
    """
    if boxes is None:
        return None
    b = np.asarray(boxes)
    if b.dtype.kind not in "iu":
        raise TypeError(f"boxes must be an integer array, got dtype {b.dtype}")
    if b.ndim != 3 or b.shape[0] != images.shape[0] or b.shape[2] != 4:
        raise ValueError(
            f"boxes must have shape ({images.shape[0]}, k, 4) [x0, x1, y0, y1), got {b.shape}"
        )
    return b.astype(np.int64, copy=True)


def _valid(b: np.ndarray) -> np.ndarray:
    return (b[..., 1] > b[..., 0]) & (b[..., 3] > b[..., 2])


def wobble(
    images: object,
    boxes: object = None,
    rng: object = None,
    *,
    amplitude: object = 1.0,
    wavelength: object = 80.0,
    phase: object = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Baseline wobble: shift each column vertically by a smooth sinusoid of x.

    ``d(x) = amplitude * sin(2 pi x / wavelength + phase)`` and
    ``out[y, x] = in[y - d(x), x]`` (linear interpolation along y; ink
    leaving the 28 rows is lost). Digit boxes move with the ink: ``y0`` by the
    smallest and ``y1`` by the largest shift over the box's columns, rounded
    outwards.

    Parameters
    ----------
    images : array_like, shape (N, 28, W)
    boxes : array_like (N, k, 4) or None
    rng : None, int, SeedSequence or Generator
        Draws the phase (uniform in [0, 2 pi)) when ``phase`` is None.
    amplitude : float or ndarray (N,)
        Pixels, 0..10. Sensible 0-2 (an MNIST digit has 4 px of margin).
    wavelength : float or ndarray (N,)
        Pixels, >= 4. Sensible 40-150 (one or two digit widths per half wave).
    phase : float, ndarray (N,) or None
        Radians; None draws it.

    Returns
    -------
    images : ndarray (N, 28, W), float32 in [0, 1]
    boxes : ndarray (N, k, 4) int64, or None
    """
    x = check_batch(images, "images")
    b = check_boxes(boxes, x)
    n, _, w = x.shape
    amp = per_sample(amplitude, n, "amplitude")
    lam = per_sample(wavelength, n, "wavelength")
    if (amp < 0).any() or (amp > 10).any():
        raise ValueError("amplitude must be within [0, 10] pixels")
    if (lam < 4).any():
        raise ValueError("wavelength must be >= 4 pixels")
    if phase is None:
        ph = as_generator(rng).uniform(0.0, 2 * math.pi, n)
    else:
        ph = per_sample(phase, n, "phase")
    cols = np.arange(w, dtype=np.float64)
    d = amp[:, None] * np.sin(2 * math.pi * cols[None, :] / lam[:, None] + ph[:, None])
    out = finish(linear_shift(x, d, axis=1))
    if b is None:
        return out, None
    inside = (cols[None, None, :] >= b[..., 0:1]) & (cols[None, None, :] < b[..., 1:2])
    dd = d[:, None, :]
    dmin = np.where(inside, dd, np.inf).min(axis=2)
    dmax = np.where(inside, dd, -np.inf).max(axis=2)
    ok = _valid(b) & np.isfinite(dmin)
    ny0 = np.clip(np.floor(b[..., 2] + np.where(ok, dmin, 0)), 0, HEIGHT)
    ny1 = np.clip(np.ceil(b[..., 3] + np.where(ok, dmax, 0)), 0, HEIGHT)
    b[..., 2] = np.where(ok, ny0, b[..., 2])
    b[..., 3] = np.where(ok, ny1, b[..., 3])
    return out, b


def slant(
    images: object,
    boxes: object = None,
    rng: object = None,
    *,
    angle: object = 0.0,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Slant the whole line: shear rows horizontally about the middle row.

    ``out[y, x] = in[y, x - tan(angle) * (13.5 - y)]``: for ``angle > 0`` the
    top moves right (writing leaning forward), like ``affine(shear=...)`` on a
    digit. Boxes widen to cover the sheared ink: ``x0`` moves by the smaller
    and ``x1`` by the larger of the shifts at the box's top and bottom rows,
    rounded outwards and clipped to ``[0, W]``.

    Parameters
    ----------
    images : array_like, shape (N, 28, W)
    boxes : array_like (N, k, 4) or None
    rng : ignored
        Accepted so every transform has the same signature.
    angle : float or ndarray (N,)
        Degrees, within [-45, 45]. Sensible -15..15.

    Returns
    -------
    images : ndarray (N, 28, W), float32 in [0, 1]
    boxes : ndarray (N, k, 4) int64, or None
    """
    x = check_batch(images, "images")
    b = check_boxes(boxes, x)
    n, _, w = x.shape
    a = per_sample(angle, n, "angle")
    if (np.abs(a) > 45).any():
        raise ValueError("angle must be within [-45, 45] degrees")
    t = np.tan(np.deg2rad(a))
    rows = np.arange(HEIGHT, dtype=np.float64)
    s = t[:, None] * (CENTRE_Y - rows[None, :])  # (N, 28) shift of each row
    out = finish(linear_shift(x, s, axis=2))
    if b is None:
        return out, None
    ok = _valid(b)
    y_top = b[..., 2].astype(np.float64)
    y_bot = (b[..., 3] - 1).astype(np.float64)
    s_top = t[:, None] * (CENTRE_Y - y_top)
    s_bot = t[:, None] * (CENTRE_Y - y_bot)
    nx0 = np.clip(np.floor(b[..., 0] + np.minimum(s_top, s_bot)), 0, w)
    nx1 = np.clip(np.ceil(b[..., 1] + np.maximum(s_top, s_bot)), 0, w)
    b[..., 0] = np.where(ok, nx0, b[..., 0])
    b[..., 1] = np.where(ok, nx1, b[..., 1])
    return out, b


def contrast(
    images: object,
    rng: object = None,
    *,
    gamma: object = 1.0,
    ink_level: object = 1.0,
    background: object = 0.0,
) -> np.ndarray:
    """Contrast and ink-level jitter: ``background + (ink_level - background) * ink ** gamma``.

    Parameters
    ----------
    images : array_like, shape (n, H, W)
    rng : ignored
        Accepted so every transform has the same signature.
    gamma : float or ndarray (n,)
        > 0. Below 1 makes faint anti-aliased edges darker (bolder, harder
        strokes), above 1 fainter. Sensible 0.6-1.6.
    ink_level : float or ndarray (n,)
        Level of full ink, 0..1 (a faded pen < 1). Sensible 0.6-1.0.
    background : float or ndarray (n,)
        Level of the paper in ink units, 0..1 (grey paper > 0). Sensible 0-0.1.

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
    """
    x = check_batch(images, "images", height=None)
    n = x.shape[0]
    g = per_sample(gamma, n, "gamma")
    lvl = per_sample(ink_level, n, "ink_level")
    bg = per_sample(background, n, "background")
    if (g <= 0).any():
        raise ValueError("gamma must be > 0")
    if ((lvl < 0) | (lvl > 1) | (bg < 0) | (bg > 1)).any():
        raise ValueError("ink_level and background must be within [0, 1]")
    out = np.power(np.clip(x, 0, 1), g.astype(np.float32)[:, None, None])
    out *= (lvl - bg).astype(np.float32)[:, None, None]
    out += bg.astype(np.float32)[:, None, None]
    return finish(out)


def clutter(
    images: object,
    rng: object = None,
    *,
    lines: object = 1,
    line_intensity: object = 0.15,
    specks: object = 2.0,
    speck_intensity: object = 0.5,
) -> np.ndarray:
    """Background clutter: faint ruling lines and specks of dirt, combined with max.

    Ruling lines are 1-px horizontal lines across the whole width at rows drawn
    uniformly in 0..H-1 (they may cross the digits, as on ruled paper).
    Specks are single pixels at uniform positions; their count is Poisson
    with mean ``specks * W / 100`` and each has intensity
    ``speck_intensity * U(0.5, 1)``. Boxes are not affected.

    Parameters
    ----------
    images : array_like, shape (n, H, W)
    rng : None, int, SeedSequence or Generator
    lines : int or ndarray (n,)
        Number of ruling lines, 0..5. Sensible 0-2.
    line_intensity : float or ndarray (n,)
        Ink level of the lines, 0..1. Sensible 0.05-0.3 (faint).
    specks : float or ndarray (n,)
        Expected specks per 100 columns, 0..100. Sensible 0-5.
    speck_intensity : float or ndarray (n,)
        Maximum ink level of a speck, 0..1. Sensible 0.3-0.8.

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
    """
    x = check_batch(images, "images", height=None)
    gen = as_generator(rng)
    n, h, w = x.shape
    nl = per_sample(lines, n, "lines")
    if ((nl < 0) | (nl > 5) | (nl != np.round(nl))).any():
        raise ValueError("lines must be whole numbers within [0, 5]")
    li = per_sample(line_intensity, n, "line_intensity")
    sp = per_sample(specks, n, "specks")
    si = per_sample(speck_intensity, n, "speck_intensity")
    if ((li < 0) | (li > 1) | (si < 0) | (si > 1)).any():
        raise ValueError("line_intensity and speck_intensity must be within [0, 1]")
    if ((sp < 0) | (sp > 100)).any():
        raise ValueError("specks must be within [0, 100] per 100 columns")
    return _clutter_apply(x, _clutter_draw(gen, h, w, nl, sp), nl, li, si)


class _ClutterDraws(NamedTuple):
    """The random inputs of :func:`clutter` for n images, in the order they are drawn."""

    rows: (
        np.ndarray
    )  # (n, >= max lines) int: ruling-line rows (columns past an image's count unused)
    counts: np.ndarray  # (n,) int: specks per image
    pos: np.ndarray  # (sum counts,) int: flat pixel of each speck, images in order
    level: np.ndarray  # (sum counts,) float64: U(0.5, 1) factor of each speck's intensity


def _clutter_draw(
    gen: np.random.Generator, h: int, w: int, lines: np.ndarray, specks: np.ndarray
) -> _ClutterDraws:
    """Draw what :func:`clutter` needs for ``len(lines)`` images of ``h x w``, in its order."""
    n = lines.shape[0]
    lmax = int(lines.max()) if n else 0
    rows = gen.integers(0, h, size=(n, max(lmax, 1)))
    counts = gen.poisson(specks * w / 100.0)
    total = int(counts.sum())
    if total:
        pos = gen.integers(0, h * w, size=total)
        level = gen.uniform(0.5, 1.0, total)
    else:
        pos, level = np.zeros(0, np.int64), np.zeros(0)
    return _ClutterDraws(rows, counts, pos, level)


def _clutter_apply(
    x: np.ndarray,
    draws: _ClutterDraws,
    lines: np.ndarray,
    line_intensity: np.ndarray,
    speck_intensity: np.ndarray,
) -> np.ndarray:
    """:func:`clutter` on a checked batch from pre-drawn positions (per image: no batch effects)."""
    n, h, w = x.shape
    out = x.copy()
    lmax = int(lines.max()) if n else 0
    if lmax:
        level = np.zeros((n, h), np.float32)
        active = np.arange(lmax)[None, :] < lines[:, None]
        ii = np.broadcast_to(np.arange(n)[:, None], (n, lmax))
        level[ii[active], draws.rows[:, :lmax][active]] = line_intensity[ii[active]]
        np.maximum(out, level[:, :, None], out=out)
    total = int(draws.counts.sum())
    if total:
        owner = np.repeat(np.arange(n), draws.counts)
        val = (speck_intensity[owner] * draws.level).astype(np.float32)
        flat = out.reshape(-1)
        np.maximum.at(flat, owner * (h * w) + draws.pos, val)
    return finish(out)
