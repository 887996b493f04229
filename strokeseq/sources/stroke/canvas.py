"""Image steps on supersampled canvases: box-filter down, centre of mass, whole-pixel shifts.

:func:`downsample` averages ``f x f`` blocks (the anti-aliasing of the
rendered digits), :func:`centre_of_mass` measures where the ink is and
:func:`shift_images` moves each image by whole canvas pixels. The private
helpers are the same steps on the column-phase work buffer of
:func:`.render.draw_centred` (same additions in the same order, so the same
bytes).
"""

from __future__ import annotations

import functools
import math

import numpy as np

__all__ = ["centre_of_mass", "downsample", "shift_images"]


def downsample(canvas: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks of ``(n, H, W)`` images (box filter), float32.

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    >>> downsample(x, 2)[0].tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    return _downsample_at(canvas, slice(None), 0, 0, canvas.shape[1:], factor)


def _downsample_at(
    buf: np.ndarray,
    sel: slice | np.ndarray,
    y0: int,
    x0: int,
    shape: int | tuple[int, int],
    factor: int,
) -> np.ndarray:
    """``downsample(buf[sel, y0:y0 + h, x0:x0 + w], factor)``, the windows not copied.

    Sums of strided slices rather than ``reshape(...).sum(axis=(2, 4))``:
    NumPy reduces those short, strided axes ~7x slower than it adds slices.
    With an index array ``sel``, each column phase is gathered straight from
    ``buf`` (a third of a window each at factor 3), not the windows first.
    """
    h, w = (shape, shape) if isinstance(shape, int) else shape
    ys = slice(y0, y0 + h)
    if factor == 1:
        return np.array(buf[sel, ys, x0 : x0 + w], dtype=np.float32, order="C")
    # Column sums, then row sums, each added in phase order (the bytes depend on it).
    acc = np.array(buf[sel, ys, x0 : x0 + w : factor], dtype=np.float32)  # (n, H, W / f)
    for j in range(1, factor):
        acc += buf[sel, ys, x0 + j : x0 + w : factor]
    n = acc.shape[0]
    rows = acc.reshape(n, h // factor, factor, w // factor)
    out = rows[:, :, 0].copy()
    for i in range(1, factor):
        out += rows[:, :, i]
    out *= np.float32(1.0 / (factor * factor))
    return out


def centre_of_mass(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre of mass ``(row, col)`` of each ``(n, H, W)`` image, in index coordinates.

    Blank images get the geometric centre.
    """
    _, h, w = images.shape
    rows = images.sum(axis=2).astype(np.float64)  # (n, H)
    cols = images.sum(axis=1).astype(np.float64)  # (n, W)
    mass = rows.sum(axis=1)
    inked = mass > 0
    safe = np.where(inked, mass, 1.0)
    cy = np.where(inked, rows @ _index(h) / safe, (h - 1) / 2)
    cx = np.where(inked, cols @ _index(w) / safe, (w - 1) / 2)
    return cy, cx


_INDEX = np.arange(4096)  # int64 pixel indices (as np.arange gives them)


def _index(k: int) -> np.ndarray:
    """``np.arange(k)`` (int64), from a shared table when ``k`` fits it."""
    return _INDEX[:k] if k <= _INDEX.size else np.arange(k)


def shift_images(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """Translate each image by whole pixels ``(dy[i], dx[i])``, filling with 0.

    Ink shifted past the border is lost (callers keep shifts small).

    Examples
    --------
    >>> x = np.zeros((1, 3, 3), np.float32); x[0, 1, 1] = 1
    >>> shift_images(x, np.array([1]), np.array([-1]))[0].tolist()
    [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    _, h, w = images.shape
    dy = np.clip(np.asarray(dy, np.int64), -h, h)
    dx = np.clip(np.asarray(dx, np.int64), -w, w)
    if not (dy.any() or dx.any()):
        return images.copy()
    out = np.zeros_like(images)
    # One slice copy per distinct shift (a handful: shifts are small), for all
    # the images that share it.
    key = (dy + h) * (2 * w + 1) + (dx + w)
    if (key == key[0]).all():  # one shift for all (always so for one image)
        groups = [(int(key[0]), slice(None))]
    else:
        shifts, which = np.unique(key, return_inverse=True)
        groups = [(k, np.flatnonzero(which == j)) for j, k in enumerate(shifts.tolist())]
    for k, sel in groups:
        sy, sx = k // (2 * w + 1) - h, k % (2 * w + 1) - w
        if abs(sy) >= h or abs(sx) >= w:
            continue  # shifted off the canvas: stays blank
        dst = (slice(max(sy, 0), h + min(sy, 0)), slice(max(sx, 0), w + min(sx, 0)))
        src = (slice(max(-sy, 0), h + min(-sy, 0)), slice(max(-sx, 0), w + min(-sx, 0)))
        out[sel, dst[0], dst[1]] = images[sel, src[0], src[1]]
    return out


@functools.lru_cache(maxsize=32)
def _slots(side: int, factor: int) -> np.ndarray:
    """Slot of each of ``side`` columns in the column-phase layout (read-only)."""
    x = np.arange(side)
    out = (x % factor) * -(-side // factor) + x // factor
    out.flags.writeable = False
    return out


def _downsample_slots(
    buf: np.ndarray, sel, y0: int, x0: int, size: int, factor: int, plen: int
) -> np.ndarray:
    """:func:`downsample` of the ``size`` x ``size`` windows at ``(y0, x0)`` of
    column-phase canvases ``buf[sel]`` (see :func:`draw_centred`): the same
    additions in the same order, on contiguous runs."""
    ys = slice(y0, y0 + size)
    m = size // factor

    def phase(j: int) -> np.ndarray:  # columns x0 + j, x0 + j + f, ... of each row
        p, q = (x0 + j) % factor, (x0 + j) // factor
        return buf[sel, ys, p * plen + q : p * plen + q + m]

    acc = phase(0)  # (n, H, W / f): a new array when sel is an index array
    if not isinstance(sel, np.ndarray):  # a view of buf: copy it
        acc = np.array(acc, dtype=np.float32)
    if factor == 1:
        return acc
    for j in range(1, factor):
        acc += phase(j)
    rows = acc.reshape(acc.shape[0], m, factor, m)
    out = rows[:, :, 0].copy()
    for i in range(1, factor):
        out += rows[:, :, i]
    out *= np.float32(1.0 / (factor * factor))
    return out


def _centring_shifts(
    rows: np.ndarray, cols: np.ndarray, target: float, canvases, step: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``rint(target - centre_of_mass(canvases))`` per axis, as int64: the same integers.

    With ``step > 1``: ``step * rint((target - centre) / step)``, whole
    multiples of ``step`` (see :func:`.render.draw_centred`).

    ``rows`` and ``cols`` are float32 row and column sums of the ``(n, H, W)``
    canvases computed in any order (BLAS here, several times faster than
    ``sum``), and ``canvases(sel)`` returns the canvases ``sel`` themselves.
    For non-negative ink any order of summing ``W`` terms is within
    ``(W - 1) u`` (relative, ``u = 2**-24``) of the exact sum, and perturbing
    every row sum by a relative ``d`` moves the centre by at most
    ``d (H - 1)``: this centre and :func:`centre_of_mass`'s differ by less
    than ``2 (W - 1)(H - 1) u`` (8e-4 px at supersample 3). Wherever
    ``target - centre`` is twice that or more away from a half integer both
    round alike; the few canvases nearer a tie are measured again with
    :func:`centre_of_mass` itself.
    """
    h, w = rows.shape[1], cols.shape[1]
    tie = 4.0 * max(h - 1, w - 1) ** 2 * 2.0**-24 + 1e-9
    if step != 1:
        return _step_shifts(rows, cols, target, canvases, step, tie)
    if rows.shape[0] == 1:  # one canvas: Python floats, a few NumPy calls
        # (float64 dots of the float32 sums: the products are exact either way)
        rows, cols = rows[0].astype(np.float64), cols[0].astype(np.float64)
        mass = float(rows.sum())
        vy, vx = target - (h - 1) / 2, target - (w - 1) / 2
        if mass > 0:
            vy, vx = (
                target - float(rows @ _index(h)) / mass,
                target - float(cols @ _index(w)) / mass,
            )
        if abs(vy - math.floor(vy) - 0.5) < tie or abs(vx - math.floor(vx) - 0.5) < tie:
            cy, cx = centre_of_mass(canvases(np.zeros(1, np.intp)))
            vy, vx = target - float(cy[0]), target - float(cx[0])
        return np.array([round(vy)], np.int64), np.array([round(vx)], np.int64)  # half to even
    rows = rows.astype(np.float64)
    cols = cols.astype(np.float64)
    mass = rows.sum(axis=1)
    inked = mass > 0
    safe = np.where(inked, mass, 1.0)
    vy = target - np.where(inked, rows @ _index(h) / safe, (h - 1) / 2)
    vx = target - np.where(inked, cols @ _index(w) / safe, (w - 1) / 2)
    near = (np.abs(vy - np.floor(vy) - 0.5) < tie) | (np.abs(vx - np.floor(vx) - 0.5) < tie)
    if near.any():
        sel = np.flatnonzero(near)
        cy, cx = centre_of_mass(canvases(sel))
        vy[sel], vx[sel] = target - cy, target - cx
    return np.rint(vy).astype(np.int64), np.rint(vx).astype(np.int64)


def _step_shifts(rows, cols, target, canvases, step, tie) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_centring_shifts` by whole multiples of ``step`` (the same tie rule)."""
    h, w = rows.shape[1], cols.shape[1]
    rows = rows.astype(np.float64)
    cols = cols.astype(np.float64)
    mass = rows.sum(axis=1)
    inked = mass > 0
    safe = np.where(inked, mass, 1.0)
    vy = (target - np.where(inked, rows @ _index(h) / safe, (h - 1) / 2)) / step
    vx = (target - np.where(inked, cols @ _index(w) / safe, (w - 1) / 2)) / step
    near = (np.abs(vy - np.floor(vy) - 0.5) < tie) | (np.abs(vx - np.floor(vx) - 0.5) < tie)
    if near.any():
        sel = np.flatnonzero(near)
        cy, cx = centre_of_mass(canvases(sel))
        vy[sel], vx[sel] = (target - cy) / step, (target - cx) / step
    return np.rint(vy).astype(np.int64) * step, np.rint(vx).astype(np.int64) * step


def _ones(k: int) -> np.ndarray:
    return _ONES[:k] if k <= _ONES.size else np.ones(k, np.float32)


_ONES = np.ones(1024, np.float32)
