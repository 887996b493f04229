"""The former per-layer capsule rasteriser: the reference the fast one is tested against.

One Python iteration per capsule index (~27 NumPy calls per layer); kept for
the tests (bit-for-bit equality with :func:`.render.rasterise_capsules`) and
for ``benchmarks/bench_synthetic.py`` (the speed-up it reports).
"""

from __future__ import annotations

import numpy as np

__all__ = ["rasterise_capsules_reference"]


def rasterise_capsules_reference(
    a: np.ndarray,
    b: np.ndarray,
    ra: np.ndarray,
    rb: np.ndarray,
    valid: np.ndarray,
    size: int,
    soft: float = 0.5,
) -> np.ndarray:
    """The former per-layer rasteriser, kept as the reference for tests and benchmarks.

    Same contract as :func:`rasterise_capsules` (which it equals bit for bit),
    but one Python iteration per capsule index: ~27 NumPy calls per layer.
    """
    from numpy.lib.stride_tricks import sliding_window_view

    n = valid.shape[0]
    # Capsule axes flattened ((n, S, K, 2) views from the pipeline as (n, S * K, 2)).
    a, b = (np.asarray(v).reshape(n, -1, 2) for v in (a, b))
    ra, rb, valid = (np.asarray(v).reshape(n, -1) for v in (ra, rb, valid))
    n_c = valid.shape[1]
    canvas = np.zeros((n, size, size), np.float32)
    if n == 0 or not valid.any():
        return canvas
    a = a.astype(np.float32, copy=False)
    b = b.astype(np.float32, copy=False)
    # Capsules are short (a fraction of a segment), so one radius per capsule,
    # the mean of its ends, is enough; it turns the ink profile into two
    # per-capsule constants: ink = clip(c1 - d * c2, 0, 1).
    r = (0.5 * (ra + rb)).astype(np.float32)
    c1 = np.float32(1.0 / soft)
    inv_sr = 1.0 / (np.float32(soft) * np.maximum(r, np.float32(1e-6)))
    lo = np.floor(np.minimum(a, b) - r[..., None]).astype(np.int64)  # (n, C, 2) window origin
    hi = np.ceil(np.maximum(a, b) + r[..., None]).astype(np.int64)
    views: dict[tuple[int, int], np.ndarray] = {}

    def windows_of(wy: int, wx: int) -> np.ndarray:
        if (wy, wx) not in views:
            views[wy, wx] = sliding_window_view(canvas, (wy, wx), axis=(1, 2), writeable=True)
        return views[wy, wx]

    for c in range(n_c):
        sel = np.flatnonzero(valid[:, c])
        if sel.size == 0:
            continue
        # Window of this layer: wide and tall enough for every capsule in it.
        span = (hi[sel, c] - lo[sel, c]).max(axis=0) + 1
        wx, wy = int(min(span[0], size)), int(min(span[1], size))
        x0 = np.clip(lo[sel, c, 0], 0, size - wx)
        y0 = np.clip(lo[sel, c, 1], 0, size - wy)
        ax, ay = a[sel, c, 0], a[sel, c, 1]
        ux, uy = b[sel, c, 0] - ax, b[sel, c, 1] - ay
        inv_l2 = 1.0 / np.maximum(ux * ux + uy * uy, np.float32(1e-12))
        # Pixel-centre offsets from a: rows (m, wy, 1) and columns (m, 1, wx).
        gx = x0[:, None] + np.arange(wx)
        gy = y0[:, None] + np.arange(wy)
        dx = (gx + 0.5).astype(np.float32) - ax[:, None]
        dy = (gy + 0.5).astype(np.float32) - ay[:, None]
        # Projection p = (q - a).u and |q - a|^2 are sums of a row term and a
        # column term: one full-size add each.
        proj = (dy * uy[:, None])[:, :, None] + (dx * ux[:, None])[:, None, :]
        dist2 = (dy * dy)[:, :, None] + (dx * dx)[:, None, :]
        t = proj * inv_l2[:, None, None]
        np.clip(t, 0.0, 1.0, out=t)
        # |q - a - t u|^2 = |q - a|^2 - t (2p - t |u|^2)
        l2 = (1.0 / inv_l2)[:, None, None]
        proj *= 2.0
        proj -= t * l2
        proj *= t
        dist2 -= proj
        np.maximum(dist2, 0.0, out=dist2)
        ink = np.sqrt(dist2, out=dist2)
        ink *= -inv_sr[sel, c][:, None, None]
        ink += c1
        np.clip(ink, 0.0, 1.0, out=ink)
        # Gather / max / scatter through a strided view of the windows: the
        # fancy index picks (digit, y0, x0) and the window rows are copied as
        # contiguous runs, much cheaper than a per-pixel index array.
        win = windows_of(wy, wx)
        np.maximum(win[sel, y0, x0], ink, out=ink)
        win[sel, y0, x0] = ink
    return canvas
