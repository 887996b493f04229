"""Whether the ink of two neighbouring placed digits is separate, touching or overlapping."""

from __future__ import annotations

import numpy as np

from ..sources.base import TILE
from .levels import CONTACT_THRESHOLD

__all__ = ["classify_contact"]


def classify_contact(
    left: np.ndarray, right: np.ndarray, dx: np.ndarray, threshold: float = CONTACT_THRESHOLD
) -> np.ndarray:
    """Whether the ink of two placed digits is separate, touching or overlapping.

    Parameters
    ----------
    left, right : numpy.ndarray
        ``(m, 28, 28)`` ink tiles (float in [0, 1]) of the left and right digit.
    dx : numpy.ndarray
        ``(m,)`` int column offset of the right tile relative to the left one.
    threshold : float
        A pixel is ink when its value exceeds this (default 0.25: the faint
        anti-aliased fringe does not count).

    Returns
    -------
    numpy.ndarray
        ``(m,)`` int8: 2 ``overlapping`` (some pixel is ink in both digits),
        1 ``touching`` (no shared pixel, but an ink pixel of one is an
        8-neighbour of an ink pixel of the other), 0 ``separate``.
    """
    a = np.asarray(left) > threshold
    b = np.asarray(right) > threshold
    dx = np.asarray(dx, np.int64).reshape(-1)
    m = a.shape[0]
    if b.shape != a.shape or a.shape[1:] != (TILE, TILE) or dx.shape != (m,):
        raise ValueError("left and right must be (m, 28, 28) and dx (m,)")
    # Both tiles on one canvas: left at column P, right at P + dx. Offsets beyond
    # +-(TILE + 1) can touch nothing, so they are clipped to that (still apart).
    pad = TILE + 1
    dxc = np.clip(dx, -pad, pad)
    width = 2 * pad + TILE
    ca = np.zeros((m, TILE, width), bool)
    cb = np.zeros((m, TILE, width), bool)
    ca[:, :, pad : pad + TILE] = a
    rows = np.arange(m)[:, None, None]
    ys = np.arange(TILE)[None, :, None]
    cols = (pad + dxc)[:, None, None] + np.arange(TILE)[None, None, :]
    cb[rows, ys, cols] = b
    overlap = (ca & cb).any(axis=(1, 2))
    # 8-neighbour dilation of the left ink: OR of the 9 shifts.
    p = np.pad(ca, ((0, 0), (1, 1), (1, 1)))
    dil = np.zeros_like(ca)
    for oy in range(3):
        for ox in range(3):
            dil |= p[:, oy : oy + TILE, ox : ox + width]
    touch = (dil & cb).any(axis=(1, 2))
    return np.where(overlap, 2, np.where(touch, 1, 0)).astype(np.int8)
