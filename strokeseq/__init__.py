"""strokeseq: labelled images of handwritten digit sequences.

>>> from strokeseq import generate_numbers_sequence
>>> img = generate_numbers_sequence([3, 0, 5], (0, 10), 120, rng=0)  # doctest: +SKIP
>>> img.shape, img.dtype  # doctest: +SKIP
((28, 120), dtype('float32'))
"""

from __future__ import annotations

from ._lazy import lazy_exports
from .api import generate_numbers_sequence, generate_sequences, render_sequences
from .compose import SequenceBatch
from .errors import (
    DataNotFoundError,
    DatasetError,
    DatasetLockedError,
    DownloadError,
    GlyphError,
    IdxFormatError,
)
from .sources import Digits, DigitSource, get_source

__version__ = "0.1.0"

# Names served lazily from their modules, so `import strokeseq` stays fast
# (NumPy only): the module is imported on first access.
_LAZY = {
    "MnistSource": "sources.mnist",
    "StrokeSource": "sources.stroke",
    "Augmenter": "augment",
    "DatasetConfig": "dataset",
    "SequenceDataset": "dataset",
    "generate_dataset": "dataset",
    "load_dataset": "dataset",
    "iter_shards": "dataset",
    "make_ladder": "hardcases",
    "evaluate": "hardcases",
    "mine_hard_cases": "hardcases",
    "write_hardcases": "hardcases",
    "ReferenceClassifier": "hardcases.reference",
    "reference_classifier": "hardcases.reference",
}

__all__ = [
    "DataNotFoundError",
    "DatasetError",
    "DatasetLockedError",
    "DigitSource",
    "Digits",
    "DownloadError",
    "GlyphError",
    "IdxFormatError",
    "SequenceBatch",
    "__version__",
    "generate_numbers_sequence",
    "generate_sequences",
    "get_source",
    "render_sequences",
    *_LAZY,
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
