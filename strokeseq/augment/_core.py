"""Shared kernels of the augmentation transforms: checks, Gaussians, resampling.

Everything here works on a batch ``(n, H, W)`` of float32 ink images (ink 1.0,
background 0.0) and is vectorised over the batch. Sampling outside the image
reads background (0.0): ink that leaves the frame is lost, nothing wraps.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._ufuncs import clip

__all__: list[str] = []


def clip01(images: np.ndarray) -> np.ndarray:
    """Clip a float32 array to [0, 1] in place (``images.clip(0.0, 1.0, out=images)``)."""
    return clip(images, 0.0, 1.0, out=images)  # the ufunc: no Python wrapper


# Work in chunks of this many images in the heavy kernels: the temporaries of a
# 2048-digit chunk (a few MB) stay in cache, which is ~1.5x faster than one
# pass over 20 000 digits. Resampling results do not depend on the chunk size;
# elastic fields are drawn per chunk, and a chunk's kernels span its widest
# sigma (see kernel_bank), so those are defined chunk by chunk.
CHUNK = 2048


def check_batch(images: object, name: str = "ink", height: int | None = 28) -> np.ndarray:
    """Return ``images`` as a C-contiguous float32 ``(n, H, W)`` copy-on-need array.

    uint8 ink (0..255, as MNIST stores it) is scaled to 0..1.

    Raises
    ------
    TypeError
        If ``images`` is not a real numeric array.
    ValueError
        If it is not 3-D, or its height is not ``height``.
    """
    arr = np.asarray(images)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    if arr.ndim != 3:
        raise ValueError(f"{name} must have shape (n, H, W), got shape {arr.shape}")
    if height is not None and arr.shape[1] != height:
        raise ValueError(f"{name} must have height {height}, got shape {arr.shape}")
    if arr.dtype == np.uint8:  # the package's other ink unit: 0..255 (MNIST bytes)
        return np.ascontiguousarray(arr.astype(np.float32) / np.float32(255))
    return np.ascontiguousarray(arr, dtype=np.float32)


def per_sample(value: object, n: int, name: str) -> np.ndarray:
    """Broadcast a scalar or a per-sample array of shape ``(n,)`` to float64 ``(n,)``.

    Raises
    ------
    TypeError
        If ``value`` is not numeric.
    ValueError
        If its shape is neither scalar nor ``(n,)``, or a value is not finite.
    """
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}")
    if isinstance(value, (int, float)):  # the common scalar: one allocation, no array checks
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        arr = np.empty(n)  # np.full costs ~5x more on small calls
        arr.fill(float(value))
        return arr
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number or an array of numbers, got {value!r}") from None
    if arr.shape == (n,):
        pass
    elif arr.ndim == 0 or arr.shape == (1,):
        v = float(arr.reshape(-1)[0])
        arr = np.empty(n)
        arr.fill(v)
    elif arr.shape != (n,):
        raise ValueError(f"{name} must be a scalar or have shape ({n},), got shape {arr.shape}")
    if not all_finite(arr):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return arr


def all_finite(arr: np.ndarray) -> bool:
    """``np.isfinite(arr).all()``, through Python floats for small arrays (cheaper)."""
    if arr.size <= 16:
        return all(map(math.isfinite, arr.ravel().tolist()))
    return bool(np.isfinite(arr).all())


def span(values: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` of a checked (finite) float array; ``(inf, -inf)`` when it is empty.

    Small arrays go through Python floats: two comparisons of a range check
    cost less than the NumPy calls of ``(a < lo).any() or (a > hi).any()``.
    """
    if values.size <= 16:
        v = values.tolist()
        return (min(v), max(v)) if v else (math.inf, -math.inf)
    return float(values.min()), float(values.max())


def gaussian_matrix(
    sigma: np.ndarray, size: int, truncate: float = 4.0, rmax: int | None = None
) -> np.ndarray:
    """Smoothing matrices ``G`` such that ``G @ u`` is ``gaussian_filter1d(u, sigma)``.

    Matches ``scipy.ndimage.gaussian_filter1d(..., mode="constant", cval=0,
    truncate=truncate)`` exactly: a kernel of radius ``int(truncate*sigma+0.5)``
    normalised over its full support, with zeros beyond the edges.

    Parameters
    ----------
    sigma : ndarray, shape (m,)
        Positive widths.
    size : int
        Length of the signal.
    rmax : int, optional
        Support of the normalising sums (default: the widest radius); only
        the order of the float sum depends on it.

    Returns
    -------
    ndarray, shape (m, size, size), float32
    """
    sigma = np.asarray(sigma, dtype=np.float64).reshape(-1, 1, 1)
    radius = np.floor(truncate * sigma + 0.5)
    rmax = int(radius.max()) if rmax is None else int(rmax)
    k = np.arange(-rmax, rmax + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / sigma) ** 2) * (np.abs(k) <= radius)
    norm = w.sum(axis=-1, keepdims=True)  # (m, 1, 1): over the full support, like SciPy
    i = np.arange(size)
    d = (i[:, None] - i[None, :]).astype(np.float64)
    g = np.exp(-0.5 * (d / sigma) ** 2) * (np.abs(d) <= radius) / norm
    return g.astype(np.float32)


def quantise_sigma(sigma: np.ndarray) -> np.ndarray:
    """Round widths to 1/64 px so a batch needs only a few distinct kernels.

    Building one 28 x 28 Gaussian matrix per digit costs more than the
    smoothing itself; a 1/128 px change of sigma is invisible in the field.
    """
    return (np.asarray(sigma, dtype=np.float64) * 64.0).round() / 64.0


@functools.lru_cache(maxsize=4096)
def _cached_kernel(rmax: int, sigma: float, size: int, truncate: float) -> np.ndarray:
    """One smoothing matrix, built with the support ``2 rmax + 1`` of its call (read-only).

    Bit-identical to that sigma's row of :func:`gaussian_matrix` on a batch
    whose widest radius is ``rmax``: the kernel's float sum runs over
    ``2 rmax + 1`` taps either way.
    """
    g = gaussian_matrix(np.array([sigma]), size, truncate, rmax=rmax)[0]
    g.flags.writeable = False
    return g


@functools.lru_cache(maxsize=1024)
def _cached_bank(
    keys: tuple[tuple[float, float], ...], size: int, truncate: float
) -> tuple[np.ndarray, np.ndarray]:
    """The stacked matrices of ``keys`` (rmax, sigma) and their smoothed all-ones fields.

    ``ones[i] = G_i 1 G_i^T``, the outer product of the row sums of ``G_i``
    (read-only; small calls use few distinct key sets).
    """
    bank = np.stack([_cached_kernel(int(r), s, size, truncate) for r, s in keys])
    r = bank.sum(axis=2)  # row sums of G: G 1 G^T is their outer product
    ones = r[:, :, None] * r[:, None, :]
    bank.flags.writeable = ones.flags.writeable = False
    return bank, ones


def kernel_bank(
    sigma: np.ndarray,
    groups: np.ndarray | None,
    size: int,
    truncate: float = 4.0,
    with_ones: bool = False,
) -> tuple[np.ndarray, ...]:
    """Smoothing matrices for one or many independent calls, bit-identical to each call's own.

    :func:`gaussian_matrix` sums each kernel over ``2 rmax + 1`` taps where
    ``rmax`` is the widest radius of ITS call; a longer run of zero taps
    changes the order of the float sum, hence the last bit of ``G``. So a
    matrix is defined by (its call's rmax, quantised sigma); they are built
    once per process and cached, which makes small calls cheap.

    Parameters
    ----------
    sigma : ndarray, shape (n,)
        Widths (quantised here with :func:`quantise_sigma`).
    groups : ndarray, shape (n,), or None
        Which call each sample belongs to (any integer labels); None: one call.
    size : int
        Side of the fields.
    with_ones : bool
        Also return ``ones`` (m, size, size): each matrix's ``G 1 G^T``.

    Returns
    -------
    bank : ndarray, shape (m, size, size), float32
        The distinct matrices (read-only).
    ones : ndarray, shape (m, size, size), float32
        Only with ``with_ones``.
    inverse : ndarray, shape (n,), intp
        Index into ``bank`` of each sample's matrix.
    """
    q = quantise_sigma(sigma)
    if q.size <= 64:  # small calls: Python floats (the same double operations) and a dict
        qs = q.tolist()
        # the radius gaussian_matrix gives each width, and the widest of each call
        radius = [float(math.floor(truncate * v + 0.5)) for v in qs]
        if groups is None:
            reach = [max(radius)] * len(qs) if qs else []
        else:
            reach = group_reach(np.array(radius), groups).tolist()
        pairs = list(zip(reach, qs, strict=True))
        keys = tuple(dict.fromkeys(pairs))
        where = {k: i for i, k in enumerate(keys)}
        inverse = np.array([where[p] for p in pairs], np.intp)
    else:
        radius = np.floor(truncate * q + 0.5)
        reach = np.full(q.shape, radius.max()) if groups is None else group_reach(radius, groups)
        # both exact in float64: reach is a whole number, q a multiple of 1/64
        code = reach * 2.0**20 + q * 64.0
        uniq, inverse = np.unique(code, return_inverse=True)
        keys = tuple((float(c // 2.0**20), (c % 2.0**20) / 64.0) for c in uniq.tolist())
        inverse = inverse.reshape(-1)
    bank, ones = _cached_bank(keys, size, truncate)
    return (bank, ones, inverse) if with_ones else (bank, inverse)


def group_reach(values: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The largest of ``values`` within each image's group, per image, shape (n,).

    A kernel whose support is set by the largest width in the call (the
    Gaussian matrices, the blur taps) must be built per group so a batch of
    many rows gives each row exactly what a call on that row alone gives.
    """
    _, inverse = np.unique(groups, return_inverse=True)
    inverse = inverse.reshape(-1)
    top = np.full(int(inverse.max()) + 1 if inverse.size else 0, -np.inf)
    np.maximum.at(top, inverse, values)
    return top[inverse]


def _blur_weights(sigma: np.ndarray, truncate: float) -> np.ndarray:
    """The taps ``(n, 2r + 1)`` float32 of :func:`gaussian_blur`, ``r = ceil(truncate * max sigma)``."""
    r = math.ceil(truncate * float(sigma.max()))
    k = np.arange(-r, r + 1, dtype=np.float64)
    safe = np.where(sigma > 0, sigma, 1.0)[:, None]
    wts = np.exp(-0.5 * (k / safe) ** 2)
    # Each image keeps its own truncation (ceil(truncate * sigma)): taps beyond
    # it are exactly 0, so an image's blur never depends on the widest sigma
    # of the batch it happens to be in.
    own = np.ceil(truncate * np.where(sigma > 0, sigma, 0.0))[:, None]
    wts = np.where(np.abs(k) <= own, wts, 0.0)
    wts = np.where(sigma[:, None] > 0, wts, (k == 0).astype(np.float64))
    wts /= wts.sum(axis=1, keepdims=True)
    return wts.astype(np.float32)


@functools.lru_cache(maxsize=1024)
def _cached_blur_weights(sigma: tuple[float, ...], truncate: float) -> np.ndarray:
    """:func:`_blur_weights` of a small call, kept (read-only): repeated widths cost nothing.

    One width (> 0) takes :func:`_one_blur_weights`, so widths drawn afresh for
    every call (a cache miss each time) stay cheap too.
    """
    if len(sigma) == 1 and sigma[0] > 0:
        wts = _one_blur_weights(sigma[0], truncate)
    else:
        wts = _blur_weights(np.array(sigma, np.float64), truncate)
    wts.flags.writeable = False
    return wts


def _one_blur_weights(sigma: float, truncate: float) -> np.ndarray:
    """:func:`_blur_weights` of one width > 0, shape (1, 2r + 1), with the same bits.

    With one width its own truncation is the call's, so no tap is masked. The
    exponents are the array code's IEEE double operations on Python floats
    (``k / sigma``, squared as ``q * q`` -- NumPy's ``** 2`` is ``np.square`` --,
    times -0.5); the exponential, the sum and the division stay NumPy's.
    """
    r = math.ceil(truncate * sigma)
    quotients = [k / sigma for k in range(-r, r + 1)]
    wts = np.exp(np.array([-0.5 * (q * q) for q in quotients]))
    wts /= np.add.reduce(wts)  # wts.sum() without its Python wrapper
    return wts.astype(np.float32)[None]


# A blur multiplies all its taps in one broadcast product over strided windows
# when the products of a call stay this small (elements); larger calls loop
# over the taps. Same float32 products, summed in the same order.
_WINDOWED = 1 << 15


def gaussian_blur(
    images: np.ndarray,
    sigma: np.ndarray,
    truncate: float = 3.0,
) -> np.ndarray:
    """Separable Gaussian blur with one ``sigma`` per image (0 = unchanged), zero padding.

    A loop over the kernel taps (at most ``2*ceil(truncate*max(sigma))+1``),
    vectorised over the batch; works for any width.

    Each image's kernel is truncated at its own ``ceil(truncate * sigma)``
    (the taps beyond are exactly zero), so its result does not depend on the
    other images of the call. Every output value is
    ``((0 + w0 p0) + w1 p1) + ...`` in float32, rows first, then columns.
    """
    n = images.shape[0]
    sigma = np.asarray(sigma, dtype=np.float64)
    smin, smax = span(sigma) if n else (0.0, 0.0)
    if smax <= 0:
        return images.copy()
    if smin == smax:  # one width for the call: every image's taps are the same row
        wts = _cached_blur_weights((smax,), truncate)  # (1, taps)
        if n > 1:
            wts = np.broadcast_to(wts, (n, wts.shape[1]))
    elif n <= 8:
        wts = _cached_blur_weights(tuple(sigma.tolist()), truncate)
    else:
        wts = _blur_weights(sigma, truncate)
    taps = wts.shape[1]
    r = taps // 2
    if taps * images.size <= _WINDOWED:
        return _blur_windowed(images, wts, r)
    out = images
    for axis in (2, 1):
        p = pad_axis(out, axis, r)
        acc = np.zeros_like(images)
        size = images.shape[axis]
        for t in range(taps):
            sl = [slice(None)] * 3
            sl[axis] = slice(t, t + size)
            acc += wts[:, t, None, None] * p[tuple(sl)]
        out = acc
    return out


def _blur_windowed(images: np.ndarray, wts: np.ndarray, r: int) -> np.ndarray:
    """:func:`gaussian_blur` of a small call: all taps of a pass in one product, one sum.

    The batch is padded once on both axes; the row pass also runs over the
    padding rows (zeros in, +0.0 out: exactly the zero padding the column pass
    needs). Window t of a pass is the padded array shifted by t; the products
    of all taps come from one broadcast multiplication into slices 1.. of a
    buffer whose slice 0 is +0.0, and one ``np.add.reduce`` over that leading
    axis sums them: ``((0 + w_0 p_0) + w_1 p_1) + ...``, the float32 operations
    of the tap loop (a reduction over the slowest axis runs in order; NumPy
    sums pairwise only along the fast axis; tested against the tap loop).
    """
    n, h, w = images.shape
    taps = 2 * r + 1
    col = wts.T[:, :, None, None]  # (taps, n, 1, 1)
    p = np.zeros((n, h + 2 * r, w + 2 * r), np.float32)
    p[:, r : r + h, r : r + w] = images
    for axis in (2, 1):
        st = p.strides
        shape = (taps, n, p.shape[1], w) if axis == 2 else (taps, n, h, w)
        win = np.ndarray(shape, np.float32, p, 0, (st[axis], *st))
        prod = np.empty((taps + 1, *shape[1:]), np.float32)
        prod[0] = 0.0  # the sum starts at +0.0 (a -0.0 product becomes +0.0)
        np.multiply(col, win, out=prod[1:])
        p = np.add.reduce(prod, axis=0)
    return p


def pad_axis(images: np.ndarray, axis: int, r: int) -> np.ndarray:
    """``images`` with ``r`` zeros added on both sides of ``axis`` (np.pad costs ~20 us a call)."""
    shape = list(images.shape)
    shape[axis] += 2 * r
    out = np.zeros(shape, images.dtype)
    sl = [slice(None)] * images.ndim
    sl[axis] = slice(r, r + images.shape[axis])
    out[tuple(sl)] = images
    return out


def finish(images: np.ndarray) -> np.ndarray:
    """Clip to [0, 1] in place and return as C-contiguous float32."""
    out = np.ascontiguousarray(images, dtype=np.float32)
    clip01(out)
    return out
