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
        """Return the ink as float32 in [0, 1] (``uint8`` is divided by 255).

        The same division as :func:`strokeseq.compose.to_image` and the
        augmentation's input check, so a uint8 digit means the same float
        value everywhere.
        """
        if self.ink.dtype == np.uint8:
            return np.divide(self.ink, np.float32(255), dtype=np.float32)
        return self.ink


class DigitSource(ABC):
    """Where digit images come from.

    Subclasses implement :meth:`draw`; :meth:`sample` is the float32 view the
    issue-level contract promises. Sources must be cheap to pickle (worker
    processes re-create heavy state lazily) and deterministic given ``rng``.
    """

    #: Short name used in configs, manifests and the CLI (``"mnist"``, ``"synthetic"``).
    name: str = "source"
    #: True when ``draw(labels, rng)`` equals ``draw_from_uniforms`` of
    #: ``rng.random(len(labels))`` (one uniform per digit, nothing else drawn):
    #: the API's single-call fast path and per-index datasets then skip the
    #: generators. Sources that render (and draw more) leave it False.
    uniform_draws: bool = False

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

        Used by the batch API (one generator for the whole batch). Sources
        that know who wrote their digits override this to keep a whole row
        coherent (``writer="same"``); the default refuses any ``writer``.
        """
        self.check_writer(writer)
        return self.draw(labels.reshape(-1), rng)

    def check_writer(self, writer: str | None) -> None:
        """Raise ValueError unless this source can honour ``writer`` (None always works)."""
        if writer is not None:
            raise ValueError(
                f"writer={writer!r} is not supported by the {self.name!r} source; use writer=None"
            )

    def draw_rows(self, labels: np.ndarray, rngs, writer: str | None = None) -> Digits:
        """Draw ``(R, n)`` labels, row ``r`` with its own generator ``rngs[r]``.

        Used by datasets and by sources without :attr:`uniform_draws`: a row's
        digits depend only on its generator (per-index determinism). The
        default loops over rows; sources whose drawing is cheap but rendering
        is not override it to render all rows at once.
        """
        self.check_writer(writer)
        labels = np.asarray(labels, np.int64)
        parts = [self.draw(row, g) for row, g in zip(labels, rngs, strict=True)]
        if not parts:
            return self.draw(labels.reshape(-1), np.random.default_rng(0))
        return Digits(
            np.concatenate([p.ink for p in parts]),
            np.concatenate([p.labels for p in parts]),
            {k: np.concatenate([p.meta[k] for p in parts]) for k in parts[0].meta},
        )

    def draw_from_uniforms(
        self,
        labels: np.ndarray,
        u_pick: np.ndarray,
        *,
        u_writer: np.ndarray | None = None,
        writer: str | None = None,
    ) -> Digits | None:
        """Draw ``(R, n)`` labels from given uniforms, or None if the source needs generators.

        Used by datasets, whose every choice is a uniform read from the
        sample's own words (no generator to create per sample). ``u_pick``
        ``(R, n)`` holds one uniform in [0, 1) per digit, ``u_writer`` ``(R,)``
        one per row (``writer="same"``). Sources with :attr:`uniform_draws`
        implement it; the default returns None and callers fall back to
        :meth:`draw_rows`.
        """
        return None

    def tile_pools(self) -> tuple[np.ndarray, list[list[int]]] | None:
        """The tile bank and the pools :meth:`draw_from_uniforms` picks from, or None.

        The API's tile fast paths (single call and batch): ``pools[d]`` lists
        the ``bank`` positions of label ``d`` so that the digit ``d`` drawn
        with uniform ``u`` is ``bank[p[min(int(u * len(p)), len(p) - 1)]]``
        for ``p = pools[d]``, the draw of :meth:`draw_from_uniforms`. The
        caller keeps converted tiles per position, so ``bank`` must not
        change. Only meaningful with :attr:`uniform_draws`; the default
        returns None (the caller takes the general path).
        """
        return None

    def prepare(self, writer: str | None = None) -> None:
        """Load what drawing needs, once per process, before the first draw.

        Datasets call it when a worker starts, so that loading (files,
        writer tables) happens up front and every digit's provenance is
        recorded the same way. The default does nothing.
        """
        self.check_writer(writer)

    def meta_columns(self) -> dict[str, np.dtype]:
        """Per-digit provenance keys of :attr:`Digits.meta` beyond ``index``/``writer``.

        Datasets store each as a column (``syn_<key>``, int32 or float32).
        The default probes one draw with a fixed seed.
        """
        probe = self.draw(np.array([0]), np.random.default_rng(0))
        return {
            k: np.dtype(np.int32) if np.asarray(v).dtype.kind in "iub" else np.dtype(np.float32)
            for k, v in probe.meta.items()
            if k not in ("index", "writer")
        }

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
