"""A map-style dataset for training loops, without importing torch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ..validate import is_integer
from .collate import SequenceCollate
from .config import DatasetConfig
from .records import record
from .sampling import SampleContext, generate

__all__ = ["SequenceDataset"]


class SequenceDataset:
    """Samples made on demand, deterministic by index: ``dataset[i]`` is sample ``i``.

    The samples are those :func:`strokeseq.dataset.generate_dataset` writes
    for the same ``(config, seed)``: ``dataset[i]`` equals row ``i`` of the
    written dataset. It follows PyTorch's map-style protocol (``__len__``,
    ``__getitem__``, and ``__getitems__`` for a whole batch at once) without
    importing torch; it pickles in a few hundred bytes (the digit sources
    reload lazily in each DataLoader worker).

    Parameters
    ----------
    n : int
        Number of samples.
    config : DatasetConfig or dict, optional
        What to generate (default :class:`DatasetConfig` ()).
    seed : int
        Dataset seed.
    data_dir : path, optional
        Folder of the MNIST files.
    dtype : numpy.float32 or numpy.uint8
        Image type: float32 in [0, 1] (default) or the stored uint8.
    transform : callable, optional
        Applied to each image (``(28, width)`` array) before it is returned,
        as in torchvision datasets (e.g. a conversion to a tensor, or your own
        augmentation). ``dataset[i]`` stays deterministic if it is.
    target_transform : callable, optional
        Applied to each label dict (e.g. ``lambda lab: lab["text"]``).

    Examples
    --------
    >>> ds = SequenceDataset(1000, {"length": [3, 6], "width": 200}, seed=7)  # doctest: +SKIP
    >>> image, label = ds[12]  # doctest: +SKIP
    >>> label["text"], image.shape  # doctest: +SKIP
    ('0451', (28, 200))

    Batches of different widths for a ``torch.utils.data.DataLoader`` (see
    :class:`strokeseq.dataset.SequenceCollate`):

    >>> loader = DataLoader(ds, batch_size=32, collate_fn=ds.collate())  # doctest: +SKIP
    """

    def __init__(
        self,
        n: int,
        config: DatasetConfig | Mapping[str, Any] | None = None,
        seed: int = 0,
        *,
        data_dir: str | None = None,
        dtype: Any = np.float32,
        transform: Callable[[np.ndarray], Any] | None = None,
        target_transform: Callable[[dict[str, Any]], Any] | None = None,
    ) -> None:
        if not is_integer(n) or n < 0:
            raise ValueError(f"n must be a non-negative integer, got {n!r}")
        if np.dtype(dtype) not in (np.float32, np.uint8):
            raise TypeError(f"dtype must be float32 or uint8, got {dtype!r}")
        for key, fn in (("transform", transform), ("target_transform", target_transform)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{key} must be callable or None, got {type(fn).__name__}")
        cfg = DatasetConfig() if config is None else DatasetConfig.from_dict(config)
        self.transform = transform
        self.target_transform = target_transform
        self.n = int(n)
        self.dtype = np.dtype(dtype)
        self._ctx = SampleContext(cfg, seed, None if data_dir is None else str(data_dir))
        self._ctx.check_widths()

    @property
    def config(self) -> DatasetConfig:
        return self._ctx.config

    @property
    def seed(self) -> int:
        return self._ctx.seed

    def __len__(self) -> int:
        return self.n

    def _index(self, i: Any) -> int:
        if not is_integer(i):
            raise TypeError(f"index must be an integer, got {type(i).__name__}")
        j = int(i) + (self.n if i < 0 else 0)
        if not 0 <= j < self.n:
            raise IndexError(f"index {i} out of range for {self.n} samples")
        return j

    def _items(self, idx: list[int]) -> list[tuple[Any, Any]]:
        cols = generate(self._ctx, np.array(idx, np.int64))
        out = []
        for r in range(len(idx)):
            img = cols["images"][r, :, : int(cols["width"][r])]
            img = (
                img.astype(np.float32) * np.float32(1 / 255)
                if self.dtype == np.float32
                else img.copy()
            )
            lab: Any = record(cols, r)
            if self.transform is not None:
                img = self.transform(img)
            if self.target_transform is not None:
                lab = self.target_transform(lab)
            out.append((img, lab))
        return out

    @property
    def background(self) -> float:
        """Pixel value of the background in this dataset's images (the padding value)."""
        white_page = self.config.ink == "black"  # black ink on a white page
        if self.dtype == np.uint8:
            return 255.0 if white_page else 0.0
        return 1.0 if white_page else 0.0

    def collate(self, *, tensors: bool = True, channel: bool = True) -> SequenceCollate:
        """A collate function for a DataLoader, padding with this dataset's background.

        See :class:`strokeseq.dataset.SequenceCollate`. If ``transform`` changes
        the pixel values, build a :class:`SequenceCollate` with the matching
        ``pad_value`` yourself.
        """
        return SequenceCollate(self.background, tensors=tensors, channel=channel)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        """``(image (28, width), label dict)`` of sample ``i`` (see :func:`records.record`).

        With ``transform`` / ``target_transform``, what they return instead.
        """
        return self._items([self._index(i)])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, Any]]:
        """A batch at once (vectorised); PyTorch's DataLoader uses it when present."""
        return self._items([self._index(i) for i in indices])

    def __repr__(self) -> str:
        return f"SequenceDataset(n={self.n}, seed={self.seed}, config={self.config.to_dict()!r})"
