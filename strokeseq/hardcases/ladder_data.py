"""The :class:`Ladder` container: labelled hard cases with the level and parameters of every sample.

Made by :func:`strokeseq.hardcases.ladder.make_ladder` and
:func:`~strokeseq.hardcases.ladder.generate_level`, read and written by
:mod:`strokeseq.hardcases.store`, scored by :mod:`strokeseq.hardcases.scoring`.

Examples
--------
>>> import numpy as np
>>> n = 4
>>> lad = Ladder("digits", np.zeros((n, 28, 28), np.float32), np.arange(n),
...              np.array(["rotation"] * n), np.arange(n), np.zeros(n, np.float32),
...              {}, np.full((n, 2), np.nan, np.float32), np.zeros((n, 2), np.int8))
>>> len(lad.subset(lad.level >= 2)), Ladder.concat([lad, lad]).label_strings[-1]
(2, '3')
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Ladder"]


@dataclass
class Ladder:
    """Labelled hard cases with the level and parameters of every sample.

    Attributes
    ----------
    kind : {"digits", "sequences"}
        Single digits ``(N, 28, 28)`` or sequences ``(N, 28, W)`` of one length.
    images : numpy.ndarray
        ``(N, 28, W)`` float32 ink units (ink 1.0, background 0.0).
    labels : numpy.ndarray
        ``(N,)`` (digits) or ``(N, n)`` (sequences) int64.
    axis : numpy.ndarray
        ``(N,)`` axis name of each sample (see :data:`strokeseq.hardcases.ladder.AXES`).
    level : numpy.ndarray
        ``(N,)`` int64 level 0..6.
    difficulty : numpy.ndarray
        ``(N,)`` float32 ``t`` in [0, 1] of the level.
    params : dict of str to numpy.ndarray
        Per digit ``(N,)`` or ``(N, n)`` float32: the values that made it
        (:data:`strokeseq.hardcases.ladder.PARAM_NAMES`, signed; NaN where unused), and ``index`` (MNIST
        image index, -1 for synthetic digits).
    gaps : numpy.ndarray
        ``(N, G)`` float32 gaps in px between ink boxes of neighbours (NaN when
        none): for digits the left and right neighbour (G = 2), for sequences
        the ``n - 1`` gaps.
    contact : numpy.ndarray
        ``(N, G)`` int8 :data:`strokeseq.hardcases.ladder.CONTACT_NAMES` codes of the same neighbours.
    info : dict
        How the ladder was made (source, seed, tables); JSON-serialisable.
    """

    kind: str
    images: np.ndarray
    labels: np.ndarray
    axis: np.ndarray
    level: np.ndarray
    difficulty: np.ndarray
    params: dict[str, np.ndarray]
    gaps: np.ndarray
    contact: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @property
    def label_strings(self) -> list[str]:
        """Labels as strings (``"7"`` or ``"3051"``)."""
        lab = self.labels.reshape(len(self), -1)
        return ["".join(map(str, row)) for row in lab.tolist()]

    def subset(self, index: Any) -> Ladder:
        """The samples selected by a boolean mask or an index array."""
        return Ladder(
            self.kind,
            self.images[index],
            self.labels[index],
            self.axis[index],
            self.level[index],
            self.difficulty[index],
            {k: v[index] for k, v in self.params.items()},
            self.gaps[index],
            self.contact[index],
            dict(self.info),
        )

    @staticmethod
    def concat(parts: list[Ladder], info: dict[str, Any] | None = None) -> Ladder:
        """Join ladders of one kind (and, for sequences, one length and width)."""
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        if any(
            p.kind != first.kind or p.images.shape[1:] != first.images.shape[1:] for p in parts
        ):
            raise ValueError("ladders must share kind and image shape")
        cat = np.concatenate
        return Ladder(
            first.kind,
            cat([p.images for p in parts]),
            cat([p.labels for p in parts]),
            cat([p.axis for p in parts]),
            cat([p.level for p in parts]),
            cat([p.difficulty for p in parts]),
            {k: cat([p.params[k] for p in parts]) for k in first.params},
            cat([p.gaps for p in parts]),
            cat([p.contact for p in parts]),
            dict(first.info if info is None else info),
        )
