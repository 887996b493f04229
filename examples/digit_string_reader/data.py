"""Training and held-out data for the reader, all from strokeseq.

Training: :class:`strokeseq.dataset.SequenceDataset` on the MNIST **train**
split, lengths 3-8, half tile layout (gaps 0..8) and half ink layout (gaps
-4..6: touching and overlapping digits), light augmentation, ink 1.0 on 0.0.
Held out: the same generator on the MNIST **test** split (digits of writers
never seen in training), no augmentation: tile sequences (gaps 0..8) and
touching ones (ink layout, gaps -3..1). With ``train.py --holdout-writers``
the training mix draws only the fit writers' digits (``writer_split:fit_NN``)
and the validation sets only the held-out writers' (``writer_split:holdout_NN``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from strokeseq.dataset import SequenceCollate, SequenceDataset

#: The training mix (one SequenceDataset per entry, concatenated).
TRAIN_CONFIGS: dict[str, dict[str, Any]] = {
    "tile": {
        "length": [3, 8],
        "spacing": [0, 8],
        "width": {"per_digit": 34, "extra": 8},
        "layout": "tile",
        "ink": "white",
        "split": "train",
        "augment": "light",
    },
    "ink": {
        "length": [3, 8],
        "spacing": [-4, 6],
        "width": {"per_digit": 28, "extra": 12},
        "layout": "ink",
        "ink": "white",
        "split": "train",
        "augment": "light",
    },
}

#: Held-out sets (MNIST test split, no augmentation): the targets are measured on these.
#: The training mix's geometry on the test split; "touching" has gaps -3..1 in the ink layout.
_CLEAN_TILE = {k: v for k, v in TRAIN_CONFIGS["tile"].items() if k != "augment"}
HELD_OUT_CONFIGS: dict[str, dict[str, Any]] = {
    "tile": {**_CLEAN_TILE, "split": "test"},
    "touching": {
        **_CLEAN_TILE,
        "split": "test",
        "layout": "ink",
        "spacing": [-3, 1],
        "width": TRAIN_CONFIGS["ink"]["width"],
    },
}


#: The clean touching geometry (that of the held-out "touching" set: ink layout, gaps -3..1)
#: with the training augmentation: ``train_dataset(touching_share=...)`` mixes it in.
TOUCHING_TRAIN_CONFIG: dict[str, Any] = {**TRAIN_CONFIGS["ink"], "spacing": [-3, 1]}


def train_dataset(
    n: int,
    seed: int,
    data_dir: str | None = None,
    source: str | None = None,
    touching_share: float = 0.0,
):
    """The training mix as one torch ``ConcatDataset`` (tile + ink, ``n`` samples each).

    ``source``: another digit source for both parts, e.g. ``"writer_split:fit_20"`` (the
    MNIST training digits of all but a held-out 20 % of the writers, see writer_split.py).
    ``touching_share``: that share of the ``2 n`` samples in the clean touching geometry
    (:data:`TOUCHING_TRAIN_CONFIG`), the rest split evenly between tile and ink (a fine-tune
    can keep the skill its hard cases wear down; 0, the default: the base's mix, unchanged).
    """
    from torch.utils.data import ConcatDataset

    if not 0.0 <= touching_share < 1.0:
        raise ValueError(f"touching_share must be in [0, 1), got {touching_share}")
    extra = {} if source is None else {"source": source}
    n_touch = round(2 * n * touching_share)
    rest = 2 * n - n_touch
    sizes = (rest - rest // 2, rest // 2)  # tile, ink
    parts = [
        SequenceDataset(size, {**cfg, **extra}, seed + k, data_dir=data_dir)
        for k, (size, cfg) in enumerate(zip(sizes, TRAIN_CONFIGS.values(), strict=True))
    ]
    if n_touch:
        touching = {**TOUCHING_TRAIN_CONFIG, **extra}
        parts.append(SequenceDataset(n_touch, touching, seed + len(parts), data_dir=data_dir))
    return ConcatDataset(parts)


#: Seed of the validation sets: the held-out geometry on the MNIST **train** split, no
#: augmentation. Recipe choices (e.g. of the hard-case loop) are made on these, so that the
#: MNIST test split is only used for the reported figures.
VALIDATION_SEED = 4242


def held_out(
    name: str,
    n: int,
    seed: int = 2026,
    data_dir: str | None = None,
    split: str = "test",
    source: str | None = None,
):
    """``(images list, texts)`` of a held-out set (MNIST test split; ``split="train"``:
    the same geometry on training digits, for validation; ``source``: another digit source,
    e.g. ``"writer_split:holdout_20"``, the held-out writers' digits)."""
    cfg = {**HELD_OUT_CONFIGS[name], "split": split}
    if source is not None:
        cfg["source"] = source
    ds = SequenceDataset(n, cfg, seed, data_dir=data_dir)
    items = ds.__getitems__(list(range(n)))
    return [img for img, _ in items], [lab["text"] for _, lab in items]


COLLATE = SequenceCollate(pad_value=0.0)  # ink="white": the background is 0.0


def batches_by_width(images: list[np.ndarray], batch_size: int):
    """Index batches of equal-ish width (sorted), so padding stays small at evaluation."""
    order = np.argsort([im.shape[1] for im in images], kind="stable")
    for s in range(0, len(order), batch_size):
        yield order[s : s + batch_size]
