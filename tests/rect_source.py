"""A third digit source, used by tests/test_third_source.py: the whole of it is this module.

Each digit is a filled rectangle whose width encodes the label (``4 + 2 *
label`` px) and whose height and position are drawn at random. It implements
only :meth:`DigitSource.draw` and a tighter :meth:`max_ink_width`: everything
else (the API, the batch API, datasets, ladders) must work from that alone.
"""

from __future__ import annotations

import numpy as np

from strokeseq.sources import Digits, DigitSource


class RectSource(DigitSource):
    """Filled rectangles ``(4 + 2 * label)`` px wide, ink 1.0 (float32)."""

    name = "rect"

    def __init__(self, ink: float = 1.0) -> None:
        self.ink = float(ink)

    def draw(self, labels: np.ndarray, rng: np.random.Generator) -> Digits:
        labels = np.asarray(labels, np.int64)
        n = labels.size
        height = rng.integers(12, 21, n)  # 12..20 rows
        top = (28 - height) // 2
        width = 4 + 2 * labels
        left = (28 - width) // 2
        rows = np.arange(28)
        inside_y = (rows[None, :] >= top[:, None]) & (rows[None, :] < (top + height)[:, None])
        inside_x = (rows[None, :] >= left[:, None]) & (rows[None, :] < (left + width)[:, None])
        ink = (inside_y[:, :, None] & inside_x[:, None, :]).astype(np.float32) * self.ink
        return Digits(ink, labels.copy(), {"index": np.full(n, -1), "height": height})

    def max_ink_width(self, label: int) -> int:
        return 4 + 2 * int(label)
