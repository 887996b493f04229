"""MNIST training digits of one side of the project's writer-disjoint split, as digit sources.

The project divides the MNIST **training** split by QMNIST writer for design
decisions (``benchmarks/realism.py``, :func:`train_holdout_split`, seed 0): a
share of the writers is held out, and no writer is on both sides. Here each
side is a strokeseq digit source, named by an import path that
``SequenceDataset`` and ``make_ladder`` accept::

    "writer_split:fit_20"      # the other 80 % of the writers (training)
    "writer_split:holdout_20"  # 20 % of the writers, held out (validation)

The number is the held-out share in percent. A base reader trained on
``fit_NN`` has never seen a ``holdout_NN`` writer's hand, so validation sets
made from those digits judge it as the MNIST test split would, without
touching the test split. The example's folder must be importable
(``train.py`` puts it on ``sys.path``; DataLoader workers inherit it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from strokeseq.sources.mnist import MnistSource

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _split_indices(share: float, data_dir) -> tuple[np.ndarray, np.ndarray]:
    """``(fit, holdout)`` image indices of the training split: the project's split, reused."""
    if str(_BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(_BENCHMARKS))
    from realism import train_holdout_split

    return train_holdout_split(0, share, data_dir)


class WriterPart(MnistSource):
    """MNIST training digits of the ``"fit"`` or ``"holdout"`` writers only.

    Draws exactly as :class:`~strokeseq.sources.mnist.MnistSource` does
    (uniformly by label), from the digits of one side of the split. Indices
    and writers in the provenance are those of the whole training split.
    """

    def __init__(
        self, part: str, share: float, split: str = "train", data_dir: str | None = None
    ) -> None:
        if part not in ("fit", "holdout"):
            raise ValueError(f"part must be 'fit' or 'holdout', got {part!r}")
        if split != "train":
            raise ValueError(f"the writer split divides the MNIST train split, got {split!r}")
        super().__init__("train", data_dir)
        self.part, self.share = part, float(share)

    def __getstate__(self) -> dict:
        return {**super().__getstate__(), "part": self.part, "share": self.share}

    def _load(self) -> None:
        super()._load()
        fit, hold = _split_indices(self.share, self.data_dir)
        keep = np.zeros(len(self._labels), bool)
        keep[fit if self.part == "fit" else hold] = True
        order = self._order[keep[self._order]]  # still sorted by label
        counts = np.bincount(self._labels[order], minlength=10)
        if (counts == 0).any():
            raise ValueError(f"the {self.part} writers have no digit {np.argmin(counts)}")
        self._order, self._counts = order, counts
        self._starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        self._counts_list = counts.tolist()
        self._starts_list = self._starts.tolist()
        self._order_list = order.tolist()

    def check_writer(self, writer: str | None) -> None:
        # writer="same" draws from MnistSource's per-writer tables, built from every
        # training writer: it would cross the split, so this part refuses it.
        if writer is not None:
            raise ValueError(f"{self!r} draws any writer of its part only: writer must be None")

    def __len__(self) -> int:
        return len(self.images) and len(self._order)

    def __repr__(self) -> str:
        return f"WriterPart({self.part!r}, {self.share}, data_dir={self.data_dir!r})"


def source_name(part: str, share: float) -> str:
    """The import-path source name of one side of the split (``share`` in (0, 1))."""
    pct = round(100 * share)
    if not 0 < pct < 100 or abs(pct - 100 * share) > 1e-9:
        raise ValueError(f"the held-out share must be a whole percent in (0, 1), got {share!r}")
    return f"writer_split:{part}_{pct}"


def __getattr__(name: str):
    """``fit_20`` / ``holdout_20``: factories of the two sides (PEP 562 module attributes)."""
    part, _, pct = name.rpartition("_")
    if part in ("fit", "holdout") and pct.isdigit() and 0 < int(pct) < 100:

        def factory(split: str = "train", data_dir: str | None = None) -> WriterPart:
            return WriterPart(part, int(pct) / 100, split, data_dir)

        factory.__name__ = name
        return factory
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
