"""Per-digit transforms on a batch of ink digits ``(n, 28, 28)``.

Every function takes ``(ink, rng, **params)`` where each parameter is a scalar
(same for the whole batch) or an array of shape ``(n,)`` (one value per
digit), and returns a new float32 C-contiguous ``(n, 28, 28)`` array clipped
to [0, 1]; the input is never modified. Parameters are values, not ranges:
drawing them from ranges is the job of :class:`strokeseq.augment.Augmenter`.

Coordinates: x is the column (to the right), y the row (downwards), and the
centre of the 28 x 28 grid is (13.5, 13.5) in pixel-index units.
"""

from __future__ import annotations

import math

import numpy as np

from ..rng import as_generator
from ._core import CHUNK, check_batch, clip01, finish, gaussian_blur, per_sample, span
from .morph import cut_gaps, disk_blend
from .warp import SIZE, Fields, affine_inverse, framing_maps, warp

__all__ = [
    "affine",
    "blur",
    "broken_strokes",
    "elastic",
    "elastic_field",
    "noise",
    "renormalize_mnist",
    "stroke_width",
]


#: Largest elastic ``sigma`` accepted (px).
MAX_ELASTIC_SIGMA = 100.0


def elastic_field(
    n: int, rng: object = None, *, alpha: object = 34.0, sigma: object = 4.0
) -> np.ndarray:
    """Random displacement fields of Simard, Steinkraus & Platt (2003).

    For each digit and each axis: draw ``u ~ Uniform(-1, 1)`` independently
    per pixel (28 x 28), smooth it with a Gaussian of standard deviation
    ``sigma`` (zero padding beyond the edges, kernel truncated at
    ``4 sigma``, i.e. exactly ``scipy.ndimage.gaussian_filter(u, sigma,
    mode="constant")``), THEN multiply by ``alpha``. The field is not
    normalised (some ports divide by its norm; we follow the paper).

    Parameters
    ----------
    n : int
        Number of fields.
    rng : None, int, SeedSequence or Generator
        Randomness (see :func:`strokeseq.rng.as_generator`).
    alpha : float or ndarray (n,)
        Scale in pixels, >= 0. With ``sigma=4`` the RMS displacement is about
        ``0.041 * alpha`` px (1.4 px at the MNIST setting ``alpha=34``).
        Sensible range 0-40.
    sigma : float or ndarray (n,)
        Smoothness in pixels, in (0, 100]. Sensible range 3-6; below ~3 the field is
        rough and the digit looks torn.

    Returns
    -------
    ndarray, shape (n, 2, 28, 28), float32
        ``[:, 0]`` is the row displacement dy, ``[:, 1]`` the column
        displacement dx. The uniform draws are ``rng.random((m, 2, 28, 28),
        dtype=float32) * 2 - 1`` for consecutive chunks of ``m <= 2048`` digits.
    """
    gen = as_generator(rng)
    alpha_a, sigma_a = _check_elastic(n, alpha, sigma)
    out = np.empty((n, 2, SIZE, SIZE), np.float32)
    for s in range(0, n, CHUNK):
        e = min(n, s + CHUNK)
        u = gen.random((e - s, 2, SIZE, SIZE), dtype=np.float32)
        out[s:e] = Fields(u, alpha_a[s:e], sigma_a[s:e]).block(0, e - s)
    return out


def _check_elastic(n: int, alpha: object, sigma: object) -> tuple[np.ndarray, np.ndarray]:
    alpha_a = per_sample(alpha, n, "alpha")
    sigma_a = per_sample(sigma, n, "sigma")
    if span(alpha_a)[0] < 0:
        raise ValueError(f"alpha must be >= 0, got min {alpha_a.min()}")
    lo, hi = span(sigma_a)
    if lo <= 0:
        raise ValueError(f"sigma must be > 0, got min {sigma_a.min()}")
    if hi > MAX_ELASTIC_SIGMA:  # the kernel has 8 sigma + 1 taps: refuse before allocating
        raise ValueError(
            f"sigma must be <= {MAX_ELASTIC_SIGMA:g} px (a field that smooth is a constant"
            f" shift of a 28 px digit), got max {sigma_a.max()}"
        )
    return alpha_a, sigma_a


def elastic(
    ink: object, rng: object = None, *, alpha: object = 34.0, sigma: object = 4.0
) -> np.ndarray:
    """Elastic distortion (Simard, Steinkraus & Platt 2003).

    ``out(y, x) = in(y + dy(y, x), x + dx(y, x))`` with bilinear interpolation,
    background beyond the edges, and ``(dy, dx)`` from :func:`elastic_field`:
    uniform(-1, 1) noise, Gaussian-smoothed with ``sigma`` first, then
    multiplied by ``alpha``, not normalised. ``alpha=0`` is the identity.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
        Ink digits (1 = ink, 0 = background).
    rng : None, int, SeedSequence or Generator
        Randomness.
    alpha : float or ndarray (n,)
        Displacement scale in pixels, >= 0. Default 34 (MNIST setting);
        sensible 0-40, readable up to ~40 with ``sigma >= 4``.
    sigma : float or ndarray (n,)
        Field smoothness in pixels, in (0, 100]. Default 4; sensible 3-6.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]

    Notes
    -----
    Translation and size change a little (the field is not zero-mean over a
    small digit): re-apply :func:`renormalize_mnist` if a consumer needs
    exact MNIST framing.
    """
    x = check_batch(ink)
    n = x.shape[0]
    gen = as_generator(rng)
    alpha_a, sigma_a = _check_elastic(n, alpha, sigma)
    if 0 < n <= CHUNK:  # one chunk: the warp's result is the output
        u = gen.random((n, 2, SIZE, SIZE), dtype=np.float32)
        return finish(warp(x, None, Fields(u, alpha_a, sigma_a)))
    out = np.empty_like(x)
    for s in range(0, n, CHUNK):  # noise drawn and kernels built per chunk, as elastic_field
        e = min(n, s + CHUNK)
        u = gen.random((e - s, 2, SIZE, SIZE), dtype=np.float32)
        warp(x[s:e], None, Fields(u, alpha_a[s:e], sigma_a[s:e]), out=out[s:e])
    return finish(out)


def affine(
    ink: object,
    rng: object = None,
    *,
    rotation: object = 0.0,
    shear: object = 0.0,
    scale: object = 1.0,
    aspect: object = 1.0,
    translate: object = (0.0, 0.0),
) -> np.ndarray:
    """Rotation, shear (slant), anisotropic scale and translation in one resampling.

    The forward map, about the grid centre (13.5, 13.5), is scale, then shear,
    then rotation, then translation; the output is sampled once through its
    inverse with bilinear interpolation.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    rng : ignored
        Accepted so every transform has the signature ``f(ink, rng, **params)``.
    rotation : float or ndarray (n,)
        Degrees, counter-clockwise as displayed. Sensible -15..15 (MNIST
        writers rarely exceed it); beyond ~45 a 6 can become a 9.
    shear : float or ndarray (n,)
        Slant in degrees: ``x -= tan(shear) * (y - 13.5)``, so > 0 leans the top
        to the right. Sensible -20..20; must be within (-80, 80).
    scale : float or ndarray (n,)
        Overall size factor, > 0. Sensible 0.85..1.15 (MNIST digits fill 20 px
        of 28; above ~1.3 ink leaves the frame).
    aspect : float or ndarray (n,)
        Width/height ratio factor, > 0: x is scaled by ``scale*sqrt(aspect)``
        and y by ``scale/sqrt(aspect)``. Sensible 0.8..1.25.
    translate : (tx, ty) or ndarray (n, 2)
        Pixels, x to the right and y down. Sensible -2..2.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    x = check_batch(ink)
    inv = affine_inverse(x.shape[0], rotation, shear, scale, aspect, translate)
    return finish(warp(x, inv, None))


def stroke_width(ink: object, rng: object = None, *, radius: object = 0.0) -> np.ndarray:
    """Thicken (``radius > 0``) or thin (``radius < 0``) strokes by grey morphology.

    Grey dilation (thickening) or erosion (thinning) with the digital disk
    ``{(dy, dx): dy^2 + dx^2 <= k^2}`` (k = 1: the 4-neighbour cross; k = 2: 13
    pixels; ...). A fractional radius ``r = k + f`` blends the results of disks
    k and k + 1: ``(1 - f) * D_k + f * D_{k+1}``, so ink changes continuously
    and monotonically with the radius. Beyond the edges is background.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    rng : ignored
        Accepted so every transform has the signature ``f(ink, rng, **params)``.
    radius : float or ndarray (n,)
        Pixels, within [-3, 3]. MNIST strokes are 2-3 px wide, so thinning
        beyond about -0.7 starts to break strokes; thickening up to 1.5 keeps
        digits readable. Sensible -0.6..1.5.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    x = check_batch(ink)
    n = x.shape[0]
    r = per_sample(radius, n, "radius")
    mag = np.abs(r)
    lo, hi = span(r)
    if lo < -3 or hi > 3:
        raise ValueError(f"radius must be within [-3, 3], got {r[np.argmax(mag)]}")
    if n and lo > 0:  # one kind of morphology for every digit: no selection, no copy
        return finish(disk_blend(x, mag, np.maximum))
    if n and hi < 0:
        return finish(disk_blend(x, mag, np.minimum))
    thick, thin = r > 0, r < 0
    out = x.copy()
    for on, op in ((thick, np.maximum), (thin, np.minimum)):
        sel = np.flatnonzero(on)
        if sel.size:
            out[sel] = disk_blend(x[sel], mag[sel], op)
    return finish(out)


def broken_strokes(
    ink: object,
    rng: object = None,
    *,
    cuts: object = 2,
    radius: object = 1.0,
    threshold: float = 0.5,
) -> np.ndarray:
    """Cut small round gaps in the strokes, like a pen skipping.

    Each digit gets ``cuts`` gaps centred on pixels drawn uniformly among its
    ink pixels (value > ``threshold``); inside a gap the ink is multiplied by
    ``clip(dist - radius + 0.5, 0, 1)``, a disk of ``radius`` px with a 1-px
    soft edge. A digit without ink is unchanged.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    rng : None, int, SeedSequence or Generator
    cuts : int or ndarray (n,)
        Number of gaps, 0..10. Sensible 1-3.
    radius : float or ndarray (n,)
        Gap radius in pixels, 0.5..5. Sensible 0.8-1.5 (a gap of about 2-3 px).
    threshold : float
        Ink level that counts as stroke for the gap centres.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    x = check_batch(ink)
    gen = as_generator(rng)
    n = x.shape[0]
    c = per_sample(cuts, n, "cuts")
    lo, hi = span(c)
    if lo < 0 or hi > 10 or not _whole(c):
        raise ValueError("cuts must be whole numbers within [0, 10]")
    c = c.astype(np.int64)
    cmax = int(hi) if n else 0
    rad = per_sample(radius, n, "radius")
    lo, hi = span(rad)
    if lo < 0.5 or hi > 5:
        raise ValueError("radius must be within [0.5, 5]")
    u = gen.random((n, max(cmax, 1)))
    return cut_gaps(x, u, c, rad, threshold)


def _whole(values: np.ndarray) -> bool:
    """Every (finite) value is a whole number; small arrays through Python floats."""
    if values.size <= 16:
        return all(v.is_integer() for v in values.tolist())
    return not (values != values.round()).any()


def blur(ink: object, rng: object = None, *, sigma: object = 0.5) -> np.ndarray:
    """Gaussian blur (separable, truncated at 3 sigma, background beyond the edges).

    Parameters
    ----------
    ink : array_like, shape (n, H, W)
        Digits or sequences (any height and width).
    rng : ignored
        Accepted so every transform has the signature ``f(ink, rng, **params)``.
    sigma : float or ndarray (n,)
        Pixels, 0..5 (0 = unchanged). Sensible 0.3-1.0; MNIST itself is already
        anti-aliased, beyond ~1.2 thin strokes fade.

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
    """
    x = check_batch(ink, height=None)
    s = per_sample(sigma, x.shape[0], "sigma")
    lo, hi = span(s)
    if lo < 0 or hi > 5:
        raise ValueError("sigma must be within [0, 5]")
    return finish(gaussian_blur(x, s))


def noise(ink: object, rng: object = None, *, std: object = 0.05) -> np.ndarray:
    """Additive Gaussian pixel noise, clipped to [0, 1].

    Parameters
    ----------
    ink : array_like, shape (n, H, W)
        Digits or sequences (any height and width).
    rng : None, int, SeedSequence or Generator
    std : float or ndarray (n,)
        Standard deviation in ink units, 0..1. Sensible 0.02-0.15. Clipping
        means the background (0) only ever gets brighter specks of ink.

    Returns
    -------
    ndarray, same shape, float32 in [0, 1]
    """
    x = check_batch(ink, height=None)
    gen = as_generator(rng)
    if type(std) in (float, int) and math.isfinite(std) and 0 <= std <= 1:
        # one std for the batch: a float32 scalar product, in place (the same values)
        z = gen.standard_normal(x.shape, dtype=np.float32)
        z *= np.float32(std)
        z += x
        return clip01(z)  # z is a new C-contiguous float32 array: finish's clip only
    s = per_sample(std, x.shape[0], "std")
    lo, hi = span(s)
    if lo < 0 or hi > 1:
        raise ValueError("std must be within [0, 1]")
    z = gen.standard_normal(x.shape, dtype=np.float32)
    return _add_noise(x, z, s)


def _add_noise(x: np.ndarray, z: np.ndarray, std: np.ndarray) -> np.ndarray:
    """``x + std * z`` clipped, from pre-drawn standard normal ``z`` (x's shape, float32)."""
    std = np.asarray(std, dtype=np.float64)
    # one digit: a scalar product (cheaper), the same float32 values
    scale = np.float32(std[0]) if std.size == 1 else std.astype(np.float32)[:, None, None]
    out = z * scale
    out += x
    return finish(out)


def renormalize_mnist(ink: object, box: int = 20, threshold: float = 0.05) -> np.ndarray:
    """Re-apply MNIST framing: fit the ink into a ``box`` x ``box`` square, centre of mass at the centre.

    MNIST digits were scaled (aspect kept) to fit a 20 x 20 box, then placed
    in 28 x 28 with their centre of mass at the centre. After affine scale or
    translation, elastic distortion or thickening this no longer holds; call
    this when a consumer assumes MNIST framing (a classifier trained on MNIST,
    the tile layout). It undoes translation and overall size, but keeps
    rotation, slant, aspect, elastic shape changes and stroke width.

    One bilinear resampling per digit (scale and shift fused). Digits with no
    pixel above ``threshold`` are returned unchanged.

    Parameters
    ----------
    ink : array_like, shape (n, 28, 28)
    box : int
        Side of the box the ink bounding box is fitted into (MNIST: 20).
    threshold : float
        Pixels above this count for the bounding box.

    Returns
    -------
    ndarray, shape (n, 28, 28), float32 in [0, 1]
    """
    return _renormalize(check_batch(ink), box, threshold)


def _renormalize(
    x: np.ndarray, box: int = 20, threshold: float = 0.05, groups: np.ndarray | None = None
) -> np.ndarray:
    """:func:`renormalize_mnist` on a checked batch; ``groups`` (n,) labels separate calls."""
    return finish(warp(x, framing_maps(x, box, threshold, groups), None))
