"""strokeseq: labelled images of handwritten digit sequences.

>>> from strokeseq import generate_numbers_sequence
>>> img = generate_numbers_sequence([3, 0, 5], (0, 10), 120, rng=0)  # doctest: +SKIP
>>> img.shape, img.dtype  # doctest: +SKIP
((28, 120), dtype('float32'))
"""

from __future__ import annotations

from .api import generate_numbers_sequence, generate_sequences, render_sequences
from .compose import SequenceBatch
from .errors import DataNotFoundError, DownloadError, GlyphError, IdxFormatError
from .sources import Digits, DigitSource, get_source

__version__ = "0.1.0"

__all__ = [
    "DataNotFoundError",
    "DigitSource",
    "Digits",
    "DownloadError",
    "GlyphError",
    "IdxFormatError",
    "MnistSource",
    "SequenceBatch",
    "StrokeSource",
    "__version__",
    "generate_numbers_sequence",
    "generate_sequences",
    "get_source",
    "render_sequences",
]


def __getattr__(name: str):  # lazy: keep `import strokeseq` fast
    if name == "MnistSource":
        from .sources.mnist import MnistSource

        return MnistSource
    if name == "StrokeSource":
        from .sources.stroke import StrokeSource

        return StrokeSource
    raise AttributeError(f"module 'strokeseq' has no attribute {name!r}")
