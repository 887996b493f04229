"""Batching samples of different widths and lengths for a training loop (CTC-ready).

:class:`SequenceCollate` turns a list of ``(image, label)`` pairs from
:class:`~strokeseq.dataset.SequenceDataset` into one padded batch: images
padded on the right with background to the widest image, the true widths,
and the digit targets in the two layouts CTC losses take (concatenated with
lengths, and padded). It is a plain picklable object, so a
``torch.utils.data.DataLoader`` can ship it to its worker processes; torch is
imported only when tensors are asked for, so the package imports without it.

Determinism with DataLoader workers
-----------------------------------
A :class:`SequenceDataset` sample is a pure function of ``(seed, index,
config)``: it does not depend on which worker makes it, how many workers
there are, or on torch's random state. A batch is therefore fixed by the
indices the sampler hands out; seed the sampler (``DataLoader(...,
generator=torch.Generator().manual_seed(s))``) and the whole epoch is the
same with 0, 1 or 8 workers. Only a random ``transform=`` of your own
depends on the worker: draw its randomness from the sample (e.g. seed a
generator with ``label["index"]``) to keep that property.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..validate import is_real

__all__ = ["SequenceCollate", "collate_sequences"]


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor from a transform
        return x.detach().cpu().numpy()
    return np.asarray(x)


class SequenceCollate:
    """Collate ``(image, label)`` pairs of different widths into one padded batch.

    Parameters
    ----------
    pad_value : float
        Value of the right padding: the images' background. 1.0 for the
        default page polarity (``ink="black"``, float32), 0.0 for
        ``ink="white"``; 255 / 0 for uint8. :meth:`SequenceDataset.collate`
        picks it from the dataset.
    tensors : bool
        Return torch tensors (default); False returns NumPy arrays (no torch
        needed).
    channel : bool
        Give images a channel axis: ``(B, 1, 28, W)`` (default) instead of
        ``(B, 28, W)``. Ignored when a transform already returns 3-D images.

    Returns (when called)
    ---------------------
    dict
        ``images`` ``(B, 1, 28, W_max)`` (image dtype kept), ``widths`` ``(B,)``
        int64, ``targets`` ``(sum of lengths,)`` int64 digits 0-9 concatenated
        (CTC's 1-D form; use blank index 10, e.g. ``torch.nn.CTCLoss(blank=10)``),
        ``target_lengths`` ``(B,)`` int64, ``padded_targets`` ``(B, L_max)``
        int64 padded with -1, ``texts`` list of str and ``labels`` (the label
        dicts, or whatever ``target_transform`` returned).

    Examples
    --------
    >>> import numpy as np
    >>> collate = SequenceCollate(pad_value=0.0, tensors=False)
    >>> batch = collate([
    ...     (np.ones((28, 60), np.float32), {"text": "12", "digits": [1, 2]}),
    ...     (np.ones((28, 90), np.float32), {"text": "345", "digits": [3, 4, 5]}),
    ... ])
    >>> batch["images"].shape, batch["widths"].tolist(), batch["targets"].tolist()
    ((2, 1, 28, 90), [60, 90], [1, 2, 3, 4, 5])
    >>> batch["padded_targets"].tolist()
    [[1, 2, -1], [3, 4, 5]]
    """

    def __init__(self, pad_value: float = 1.0, *, tensors: bool = True, channel: bool = True):
        if not is_real(pad_value):
            raise TypeError(f"pad_value must be a number, got {pad_value!r}")
        self.pad_value = float(pad_value)
        self.tensors = bool(tensors)
        self.channel = bool(channel)

    def __repr__(self) -> str:
        return (
            f"SequenceCollate(pad_value={self.pad_value:g}, tensors={self.tensors}, "
            f"channel={self.channel})"
        )

    def __call__(self, batch: Sequence[tuple[Any, Any]]) -> dict[str, Any]:
        if not batch:
            raise ValueError("cannot collate an empty batch")
        images = [_as_numpy(img) for img, _ in batch]
        labels = [lab for _, lab in batch]
        if any(im.ndim not in (2, 3) for im in images):
            raise ValueError(
                "images must be (28, W) or (C, 28, W); got shapes "
                f"{sorted({im.shape for im in images})}"
            )
        lead = {im.shape[:-1] for im in images}
        if len(lead) != 1:
            raise ValueError(f"images differ in more than width: shapes {sorted(lead)}")
        widths = np.array([im.shape[-1] for im in images], np.int64)
        out = np.full((len(images), *images[0].shape[:-1], int(widths.max())), self.pad_value)
        out = out.astype(images[0].dtype, copy=False)
        for r, im in enumerate(images):  # one slice copy per sample, not per pixel
            out[r, ..., : im.shape[-1]] = im
        if self.channel and out.ndim == 3:
            out = out[:, None]
        digits = [_digits(lab) for lab in labels]
        lengths = np.array([len(d) for d in digits], np.int64)
        flat = np.concatenate([np.asarray(d, np.int64) for d in digits]) if len(lengths) else []
        padded = np.full((len(digits), int(lengths.max(initial=0))), -1, np.int64)
        padded[np.arange(padded.shape[1])[None, :] < lengths[:, None]] = flat
        result: dict[str, Any] = {
            "images": out,
            "widths": widths,
            "targets": np.asarray(flat, np.int64),
            "target_lengths": lengths,
            "padded_targets": padded,
            "texts": ["".join(map(str, d)) for d in digits],
            "labels": labels,
        }
        if self.tensors:
            import torch  # only when tensors are asked for: the package imports without torch

            for key in ("images", "widths", "targets", "target_lengths", "padded_targets"):
                result[key] = torch.from_numpy(np.ascontiguousarray(result[key]))
        return result


def _digits(label: Any) -> list[int]:
    """Digits of a label: a record dict, a digit string, or a sequence of ints."""
    if isinstance(label, dict):
        if "digits" in label:
            return [int(d) for d in label["digits"]]
        label = label.get("text", "")
    if isinstance(label, str):
        if label and not (label.isascii() and label.isdigit()):
            raise ValueError(f"a label string must hold digits 0-9, got {label!r}")
        return [int(c) for c in label]
    arr = _as_numpy(label)
    if (
        arr.ndim != 1
        or arr.dtype.kind not in "iu"
        or (arr.size and (arr.min() < 0 or arr.max() > 9))
    ):
        raise TypeError(
            "labels must be label dicts, digit strings or 1-D integer digits 0-9; "
            f"got {type(label).__name__}"
        )
    return arr.tolist()


def collate_sequences(
    batch: Sequence[tuple[Any, Any]], pad_value: float = 1.0, *, tensors: bool = True
) -> dict[str, Any]:
    """Functional form of :class:`SequenceCollate` (see there for the returned keys)."""
    return SequenceCollate(pad_value, tensors=tensors)(batch)
