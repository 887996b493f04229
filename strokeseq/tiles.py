"""The API's tile fast paths: sources with a tile bank, the tile layout, no augmentation.

Both paths give the same bytes as the general path through
:func:`strokeseq.compose.compose_rows` for the same generator (tested), and
consume the generator the same way:

* the single call (:func:`single_tiles`) is plain Python over a handful of
  digits: tiles already converted to output pixels are pasted on a copy of
  a background template, so the canvas is written once;
* the batch (:func:`tiles_into`) draws the uniforms of many chunks in one
  call and copies tiles from a converted bank straight into the output
  (:func:`strokeseq.pages.compose_tiles_into`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layout import sample_gaps
from .pages import _TILE_PLANS, _compose_tiles_into, _page_bank
from .sources.base import TILE

__all__ = ["TilePlan", "chunk_uniforms", "plan_for", "single_tiles", "tiles_into"]

#: Background templates a plan keeps (one per image width).
_MAX_TEMPLATES = 64
#: Plans kept (one per source, polarity and dtype).
_MAX_PLANS = 8  # plans hold views of converted caches (see pages.MAX_PAGE_CACHES)
#: Pool positions the single call converts together on a first use.
CONVERT_BLOCK = 64


class TilePlan:
    """What the tile fast paths need from one source for one polarity and dtype.

    Built once from :meth:`~strokeseq.sources.DigitSource.tile_pools`: the
    pools as Python lists (the single call) and as arrays (the batch), and
    per pool position the tile in output pixels once it has been used.
    """

    def __init__(self, bank: np.ndarray, pools: list[list[int]], ink: str, dtype: type) -> None:
        self.bank = bank
        self.pools = pools
        self.ink = ink
        self.dtype = dtype
        #: ``views[d][j]``: tile ``pools[d][j]`` in output pixels, None until used.
        self.views: list[list[np.ndarray | None]] = [[None] * len(p) for p in pools]
        self.counts = np.array([len(p) for p in pools], np.int64)
        self.starts = np.concatenate(([0], np.cumsum(self.counts)[:-1])).astype(np.int64)
        self.order = np.array([i for p in pools for i in p], np.int64)
        self._templates: dict[int, np.ndarray] = {}

    def indices(self, labels: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Bank positions of the digits drawn for 1-D ``labels`` with uniforms ``u``."""
        counts = self.counts[labels]
        pick = np.minimum((u * counts).astype(np.int64), counts - 1)
        return self.order[self.starts[labels] + pick]

    def tile(self, label: int, j: int) -> np.ndarray:
        """Tile ``pools[label][j]`` in output pixels (converted on first use, then kept).

        A miss converts the block of :data:`CONVERT_BLOCK` pool positions
        around ``j`` in one vectorised call (a single tile costs as much to
        convert as a whole block).
        """
        j0 = j - j % CONVERT_BLOCK
        positions = self.pools[label][j0 : j0 + CONVERT_BLOCK]
        pages = _page_bank(self.bank, np.array(positions), self.ink, self.dtype)
        views = self.views[label]
        for m, i in enumerate(positions, j0):
            views[m] = pages[i]
        return views[j]  # type: ignore[return-value]

    def convert_all(self) -> None:
        """Convert every tile now (up to the bank's size in output pixels, e.g.
        188 MB of float32 for MNIST's training split), so that no later call
        pays for a first use: for timing loops and benchmarks."""
        for label, pool in enumerate(self.pools):
            for j in range(0, len(pool), CONVERT_BLOCK):
                self.tile(label, j)

    def template(self, width: int) -> np.ndarray:
        """A ``(28, width)`` background in output pixels (read-only; copy it)."""
        tpl = self._templates.get(width)
        if tpl is None:
            if len(self._templates) >= _MAX_TEMPLATES:
                self._templates.clear()
            value = 0 if self.ink == "white" else (1 if self.dtype is np.float32 else 255)
            tpl = np.full((TILE, width), value, self.dtype)
            tpl.flags.writeable = False
            self._templates[width] = tpl
        return tpl


def plan_for(source: Any, ink: str, dtype: type) -> TilePlan | None:
    """The cached :class:`TilePlan` of ``source``, or None if it has no tile bank."""
    key = (id(source), ink, dtype)
    entry = _TILE_PLANS.get(key)
    if entry is not None and entry[0] is source:
        return entry[1]
    found = source.tile_pools() if source.uniform_draws else None
    plan = None
    if found is not None and len(found[1]) == 10 and all(found[1]):
        plan = TilePlan(found[0], found[1], ink, dtype)
    if len(_TILE_PLANS) >= _MAX_PLANS:
        _TILE_PLANS.clear()
    _TILE_PLANS[key] = (source, plan)
    return plan


def single_tiles(
    plan: TilePlan, labels: list[int], lo: int, hi: int, width: int, gen: np.random.Generator
) -> np.ndarray:
    """One tile-layout sequence, in plain Python (a few NumPy calls in all).

    Consumes the generator as the batch path does for one row
    (``random(n)`` picks, ``random(n - 1)`` gaps, ``random(1)`` margin, in
    one call), so both give the same image for the same seed.
    """
    n = len(labels)
    k = n - 1
    u = gen.random(2 * n).tolist()
    r = hi - lo
    if width - TILE * n - k * lo >= k * r:  # the widest gaps fit: i.i.d. uniform gaps
        r1 = r + 1  # int(v * r1) == r1 only by rounding when v is within 2**-53 of 1
        gaps = [lo + (g if (g := int(v * r1)) <= r else r) for v in u[n : n + k]]
    else:
        gaps = sample_gaps(np.array([u[n : n + k]]), lo, hi, width - TILE * n)[0].tolist()
    slack = width - TILE * n - sum(gaps)
    x = min(int(u[-1] * (slack + 1)), slack)
    gaps.append(0)
    canvas = plan.template(width).copy()
    views = plan.views
    for j in range(n):
        d = labels[j]
        pool = views[d]
        c = len(pool)
        m = int(u[j] * c)
        if m >= c:
            m = c - 1
        tile = pool[m]
        if tile is None:
            tile = plan.tile(d, m)
        canvas[:, x : x + TILE] = tile
        x += TILE + gaps[j]
    return canvas


def tiles_into(
    images: np.ndarray,
    labels: np.ndarray,
    spacing: tuple[int, int],
    plan: TilePlan,
    gen: np.random.Generator,
    step: int,
    block_rows: int,
) -> None:
    """``(N, n)`` labels as tile-layout images straight into C-contiguous ``images``.

    ``step`` is the general path's chunk (its random numbers are laid out
    chunk by chunk); uniforms are drawn for about ``block_rows`` rows at a
    time, which bounds the index arrays whatever the batch size.
    """
    n_rows, n = labels.shape
    block = step * max(1, block_rows // step)
    for s in range(0, n_rows, block):
        lab = labels[s : s + block]
        u_pick, u_gaps, u_margin = chunk_uniforms(gen, len(lab), n, step)
        idx = plan.indices(lab.reshape(-1), u_pick.reshape(-1)).reshape(lab.shape)
        _compose_tiles_into(
            images[s : s + block], plan.bank, idx, spacing, u_gaps, u_margin, plan.ink
        )


def chunk_uniforms(
    gen: np.random.Generator, n_rows: int, n: int, step: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The uniforms the general path draws for ``n_rows`` rows, in one call.

    Chunk by chunk (``step`` rows, the last one shorter) it draws
    ``random(r * n)`` digit picks, ``random((r, n - 1))`` gaps and
    ``random(r)`` margins; a generator's doubles do not depend on how the
    draws are split, so one ``random(n_rows * 2 * n)`` sliced the same way
    gives the same numbers. Returns ``(N, n)``, ``(N, n - 1)``, ``(N,)``.

    Examples
    --------
    >>> import numpy as np
    >>> picks, gaps, margins = chunk_uniforms(np.random.default_rng(0), 3, 2, 2)
    >>> g = np.random.default_rng(0)
    >>> bool((picks[:2].ravel() == g.random(4)).all() and (gaps[:2] == g.random((2, 1))).all())
    True
    """
    u = gen.random(n_rows * 2 * n)
    full = n_rows // step
    head = u[: full * step * 2 * n].reshape(full, step * 2 * n)
    picks = [head[:, : step * n].reshape(full * step, n)]
    gaps = [head[:, step * n : step * (2 * n - 1)].reshape(full * step, n - 1)]
    margins = [head[:, step * (2 * n - 1) :].reshape(full * step)]
    r = n_rows - full * step
    if r:
        tail = u[full * step * 2 * n :]
        picks.append(tail[: r * n].reshape(r, n))
        gaps.append(tail[r * n : r * (2 * n - 1)].reshape(r, n - 1))
        margins.append(tail[r * (2 * n - 1) :])
    return np.concatenate(picks), np.concatenate(gaps), np.concatenate(margins)


def single_drawn(
    ink: np.ndarray, lo: int, hi: int, width: int, gen: np.random.Generator
) -> np.ndarray:
    """One tile-layout line of drawn digits ``ink (n, 28, 28)``, in ink units.

    For sources without a tile bank (synthetic digits): the placement of
    :func:`single_tiles` in plain Python, the digits pasted on a blank
    ``(28, width)`` canvas of their dtype. Consumes the generator as
    :func:`strokeseq.compose.compose_rows` does for one row after the digits
    are drawn (``random((1, n - 1))`` gaps, then ``random(1)`` margin: the
    same doubles as one ``random(n)``), so the canvas is the general path's
    ``batch.ink[0]``, bit for bit (tested); it skips the ink boxes, which
    the single call does not return.
    """
    n = len(ink)
    k = n - 1
    u = gen.random(n).tolist()
    r = hi - lo
    if width - TILE * n - k * lo >= k * r:  # the widest gaps fit: i.i.d. uniform gaps
        r1 = r + 1
        gaps = [lo + (g if (g := int(v * r1)) <= r else r) for v in u[:k]]
    else:
        gaps = sample_gaps(np.array([u[:k]]), lo, hi, width - TILE * n)[0].tolist()
    slack = width - TILE * n - sum(gaps)
    x = min(int(u[k] * (slack + 1)), slack)
    canvas = np.zeros((TILE, width), ink.dtype)
    for j in range(n):
        canvas[:, x : x + TILE] = ink[j]
        if j < k:
            x += TILE + gaps[j]
    return canvas
