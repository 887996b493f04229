"""Bilinear resampling kernels of the augmentation transforms (digits and lines).

:func:`bilinear` samples a batch at fractional coordinates (zero padding, SciPy's
``grid-constant``), with a route for a few images that uses full-size operands
only; :func:`linear_shift` moves rows or columns by fractional amounts. Both
work on float32 ``(n, H, W)`` batches and never depend on the batch they are
in: each image gets the same float32 operations whatever the call size.
"""

from __future__ import annotations

import functools

import numpy as np

from ._core import pad_axis

__all__ = ["SMALL", "bilinear", "linear_shift"]


# Up to this many images a resampling uses full-size constants (no broadcasting)
# and gathers the four corners in ONE take (see _bilinear_small): fewer and
# cheaper NumPy calls, each costing about as much as the arithmetic on a small
# image. Larger blocks use four gathers with the index moved in place. The bits
# are the same either way.
SMALL = 16


@functools.lru_cache(maxsize=512)
def _frame(n: int, h: int, w: int, itype: type) -> tuple[np.ndarray, ...]:
    """Read-only constants of a bilinear resampling of ``n`` images ``h x w``.

    The clip limits of the padded coordinates, the last valid top-left corner,
    and each image's offset in the flat padded batch.
    """
    hp, wp = h + 2, w + 2
    consts = (
        np.array([h + 1, w + 1], np.float32).reshape(2, 1, 1, 1),
        np.array([h, w], np.float32).reshape(2, 1, 1, 1),
        (np.arange(n, dtype=itype) * (hp * wp)).reshape(n, 1, 1),
    )
    for c in consts:
        c.flags.writeable = False
    return consts


@functools.lru_cache(maxsize=64)
def _small_frame(n: int, h: int, w: int) -> tuple[np.ndarray, ...]:
    """Read-only constants of :func:`_bilinear_small`, each the shape of its operand.

    NumPy takes ~0.7 us for an operation on two same-shape arrays of a few
    thousand elements but ~3 us when one operand broadcasts (or is a scalar),
    and ~13 us for ``clip`` with array bounds: small calls use full-size
    constants. ``low``/``high`` clip the padded coordinates, ``last`` is the
    last valid top-left corner, ``row`` the padded row length, ``offs`` each
    corner's offset (a, c, b, d) plus its image's in the flat padded batch
    (whole numbers, exact in float32).
    """
    hp, wp = h + 2, w + 2
    low = np.zeros((2, n, h, w), np.float32)
    high = np.empty((2, n, h, w), np.float32)
    high[0], high[1] = h + 1, w + 1
    last = np.empty((2, n, h, w), np.float32)
    last[0], last[1] = h, w
    row = np.full((n, h, w), wp, np.float32)
    offs = np.empty((4, n, h, w), np.float32)
    image = (np.arange(n) * (hp * wp)).reshape(n, 1, 1)
    for k, o in enumerate((0, wp, 1, wp + 1)):
        offs[k] = image + o
    consts = (low, high, last, row, offs)
    for c in consts:
        c.flags.writeable = False
    return consts


def _bilinear_small(images: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """:func:`bilinear` for a few images: same-shape operands only, the same float32 values.

    ``max(min(yx, high), low)`` equals ``clip`` for every value but -0.0,
    which ``yx`` never holds (see :func:`bilinear`); the corner index is
    computed in float32 (whole numbers below 2**24, exact) and gathered once.
    """
    n, h, w = images.shape
    low, high, last, row, offs = _small_frame(n, h, w)
    np.maximum(yx, low, out=yx)
    np.minimum(yx, high, out=yx)
    corner = np.floor(yx)
    np.minimum(corner, last, out=corner)
    yx -= corner
    index = corner[0] * row
    index += corner[1]
    pad = np.zeros((n, h + 2, w + 2), np.float32)
    pad[:, 1:-1, 1:-1] = images
    a, c, b, d = pad.reshape(-1).take((offs + index).astype(np.intp), mode="clip")
    xs, ys = yx[1], yx[0]
    b -= a
    b *= xs
    b += a
    d -= c
    d *= xs
    d += c
    d -= b
    d *= ys
    d += b
    return d


def bilinear(images: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """Sample ``images`` at fractional ``(y, x)`` with bilinear interpolation.

    Outside the image the input is zero (SciPy's ``mode="grid-constant"``):
    a point half a pixel beyond the edge reads half the edge pixel, a point a
    full pixel beyond reads 0.

    Parameters
    ----------
    images : ndarray, shape (n, H, W), float32
    yx : ndarray, shape (2, n, h, w), float32
        Source row (``yx[0]``) and column (``yx[1]``) of every output pixel,
        PLUS ONE (coordinates in the image padded by one pixel). Overwritten.
        Never -0.0 (the fractional part of a -0.0 would be +0.0 here; warp's
        coordinates are sums with a term >= 1 or a nonzero offset, never -0.0).

    Returns
    -------
    ndarray, shape (n, h, w), float32
        Every value is ``top + (bottom - top) * fy`` with ``top = a + (b - a) * fx``
        and ``bottom = c + (d - c) * fx`` in float32, whatever the batch size.
    """
    n, h, w = images.shape
    if n <= SMALL:
        return _bilinear_small(images, yx)
    hp, wp = h + 2, w + 2
    size = n * hp * wp
    itype = np.int64 if size + 2 * wp >= 2**31 - 1 else np.int32
    top, last, base = _frame(n, h, w, itype)
    # Clipping to the padded frame keeps every gather in bounds; beyond it the
    # padding reads 0, which is what any farther point would read too.
    yx.clip(np.float32(0.0), top, out=yx)
    # The top-left corner: floor, at most the last pixel of the padded image;
    # the fractional parts are exact in float32 (yx minus a whole number <= yx).
    corner = np.floor(yx)
    np.minimum(corner, last, out=corner)
    ii = corner.astype(itype)
    yx -= corner
    flat_i = ii[0]  # a view: ii is not needed afterwards
    flat_i *= wp
    flat_i += ii[1]
    flat_i += base
    pad = np.zeros((n, hp, wp), np.float32)
    pad[:, 1:-1, 1:-1] = images
    flat = pad.reshape(-1)
    xs, ys = yx[1], yx[0]
    # The corners a, b (top row), c, d (bottom row) of every output pixel: four
    # gathers with the index moved in place (faster than one gather of four
    # indices, or of a table of corners); mode="clip" is the cheapest bounds policy.
    a = flat.take(flat_i, mode="clip")
    flat_i += 1
    b = flat.take(flat_i, mode="clip")
    flat_i += wp
    d = flat.take(flat_i, mode="clip")
    flat_i -= 1
    c = flat.take(flat_i, mode="clip")
    b -= a  # along x on both rows
    b *= xs
    b += a
    d -= c
    d *= xs
    d += c
    d -= b  # then along y
    d *= ys
    d += b
    return d


def linear_shift(images: np.ndarray, shift: np.ndarray, axis: int) -> np.ndarray:
    """Move content by a fractional ``shift`` along ``axis`` (1 = rows, 2 = columns).

    ``shift`` has shape ``(n, W)`` for ``axis=1`` (one vertical shift per
    column) or ``(n, H)`` for ``axis=2`` (one horizontal shift per row):
    ``out[.., i, ..] = in[.., i - shift, ..]`` with linear interpolation and
    zeros outside.
    """
    n, h, w = images.shape
    length = images.shape[axis]
    pos = np.arange(length, dtype=np.float32)
    if axis == 1:
        src = pos[None, :, None] - shift[:, None, :].astype(np.float32)
    else:
        src = pos[None, None, :] - shift[:, :, None].astype(np.float32)
    pad = pad_axis(images, axis, 1)
    np.clip(src, -1.0, length, out=src)
    src += 1.0
    i0 = np.floor(src)
    np.minimum(i0, length, out=i0)
    src -= i0
    i0 = np.broadcast_to(i0.astype(np.intp), (n, h, w))
    a = np.take_along_axis(pad, i0, axis=axis)
    b = np.take_along_axis(pad, i0 + 1, axis=axis)
    b -= a
    b *= src
    b += a
    return b
