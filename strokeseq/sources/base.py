"""The :class:`DigitSource` interface every digit source implements.

A source turns a list of labels into digit images in *ink units*: ink 1 (or
255 for uint8 sources), background 0, 28x28, in the MNIST frame (20x20 box,
centred by mass). Everything above the sources (layout, composition,
augmentation, datasets) only sees this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

__all__ = ["DigitSource", "Digits", "ink_boxes", "ink_extent"]

#: Side of a digit tile in pixels.
TILE = 28


@dataclass
class Digits:
    """A batch of digit images with their provenance.

    Attributes
    ----------
    ink : numpy.ndarray
        ``(n, 28, 28)`` ink images, C-contiguous: ``uint8`` 0..255 (MNIST, zero
        copy of the file's bytes) or ``float32`` in [0, 1] (rendered sources).
    labels : numpy.ndarray
        ``(n,)`` int64 digit labels.
    meta : dict of str to numpy.ndarray
        Per-digit provenance, each array of length ``n``: ``"index"`` (the
        source image index, -1 where there is none) always; ``"writer"``
        (-1 where unknown) for MNIST; rendering parameters for synthetic sources.
    extents : numpy.ndarray, optional
        ``(n, 4)`` int ink box ``x0, x1, y0, y1`` (half-open) of each digit,
        when the source knows it already (MNIST precomputes it once); computed
        from ``ink`` otherwise.
    """

    ink: np.ndarray
    labels: np.ndarray
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    extents: np.ndarray | None = None

    def ink_boxes(self) -> np.ndarray:
        """``(n, 4)`` ink boxes ``x0, x1, y0, y1``, from :attr:`extents` or the ink."""
        if self.extents is None:
            self.extents = ink_boxes(self.ink)
        return self.extents

    def as_float(self) -> np.ndarray:
        """Return the ink as float32 in [0, 1] (``uint8`` is divided by 255)."""
        if self.ink.dtype == np.uint8:
            return self.ink.astype(np.float32) * np.float32(1 / 255)
        return self.ink


class DigitSource(ABC):
    """Where digit images come from.

    Subclasses implement :meth:`draw`; :meth:`sample` is the float32 view the
    issue-level contract promises. Sources must be cheap to pickle (worker
    processes re-create heavy state lazily) and deterministic given ``rng``.
    """

    #: Short name used in configs, manifests and the CLI (``"mnist"``, ``"synthetic"``).
    name: str = "source"

    @abstractmethod
    def draw(self, labels: np.ndarray, rng: np.random.Generator) -> Digits:
        """Draw one random instance of each label.

        Parameters
        ----------
        labels : numpy.ndarray
            1-D integer array of digits 0..9 (already validated by the caller).
        rng : numpy.random.Generator
            The only source of randomness.

        Returns
        -------
        Digits
            ``ink`` of shape ``(len(labels), 28, 28)``.
        """

    def draw_sequences(
        self, labels: np.ndarray, rng: np.random.Generator, writer: str | None = None
    ) -> Digits:
        """Draw the digits of ``(N, n)`` labels, flattened row by row.

        Sources that know more about their digits (MNIST writers) override
        this to keep a whole row coherent (``writer="same"``).
        """
        if writer is not None:
            raise ValueError(f"writer={writer!r} is only supported by the MNIST source")
        return self.draw(labels.reshape(-1), rng)

    def draw_rows(self, labels: np.ndarray, rngs) -> Digits:
        """Draw ``(R, n)`` labels, row ``r`` with its own generator ``rngs[r]``.

        For per-sample determinism (datasets): a row's digits depend only on
        its generator. The default loops over rows; sources whose drawing is
        cheap but rendering is not override it to render all rows at once.
        """
        labels = np.asarray(labels, np.int64)
        parts = [self.draw(row, g) for row, g in zip(labels, rngs, strict=True)]
        if not parts:
            return self.draw(labels.reshape(-1), np.random.default_rng(0))
        return Digits(
            np.concatenate([p.ink for p in parts]),
            np.concatenate([p.labels for p in parts]),
            {k: np.concatenate([p.meta[k] for p in parts]) for k in parts[0].meta},
        )

    def sample(self, labels, rng=None) -> np.ndarray:
        """Draw digits as ``(n, 28, 28)`` float32 ink (ink 1, background 0).

        Parameters
        ----------
        labels : array_like of int
            Digits 0..9.
        rng : None, int, SeedSequence or Generator
            See :func:`strokeseq.rng.as_generator`.
        """
        from ..rng import as_generator
        from ..validate import check_labels

        return self.draw(check_labels(labels), as_generator(rng)).as_float()

    def max_ink_width(self, label: int) -> int:
        """Upper bound of the ink box width of any instance of ``label`` (pixels).

        The ink layout uses it to promise that a width is always feasible. The
        default, the tile width, is always true; sources override it with a
        tighter bound when they know one.
        """
        return TILE

    def data_identity(self) -> dict:
        """What this source draws from, for a dataset manifest (JSON-ready).

        A resumed dataset must draw from the same data as the run that
        started it; the runner compares this dict between runs. The default
        is the source's name; sources backed by files add their content
        hashes (see :meth:`strokeseq.sources.mnist.MnistSource.data_identity`).

        Examples
        --------
        >>> from strokeseq.sources import get_source
        >>> get_source("synthetic").data_identity()["source"]
        'synthetic'
        """
        return {"source": self.name}


def ink_boxes(ink: np.ndarray) -> np.ndarray:
    """``(n, 4)`` int64 ink boxes ``x0, x1, y0, y1`` of ``(n, 28, 28)`` images.

    Blank images get the empty box ``(14, 14, 14, 14)``.
    """
    x0, x1 = ink_extent(ink)
    y0, y1 = ink_extent(ink.transpose(0, 2, 1))
    return np.stack([x0, x1, y0, y1], axis=1)


def ink_extent(ink: np.ndarray, threshold: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Column extent ``[x0, x1)`` of the ink in each ``(n, 28, 28)`` image.

    A column counts as inked when any pixel in it exceeds ``threshold`` (in the
    image's own units). Blank images get the empty extent ``(14, 14)``.
    """
    cols = (ink > threshold).any(axis=1)  # (n, 28)
    has = cols.any(axis=1)
    x0 = np.where(has, cols.argmax(axis=1), 14)
    x1 = np.where(has, TILE - cols[:, ::-1].argmax(axis=1), 14)
    return x0.astype(np.int64), x1.astype(np.int64)
