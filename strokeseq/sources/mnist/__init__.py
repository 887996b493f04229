"""The MNIST backend: real handwritten digits from the IDX files.

- :mod:`.source`: :class:`MnistSource`, digits sampled by label (and writer);
- :mod:`.files`: where the files come from (directory, environment, cache,
  download);
- :mod:`.unpacked`: the unpacked, CRC-verified, memory-mapped copies and the
  tables derived from them (ink boxes);
- :mod:`.idx`: the IDX file format, read and written strictly.

Nothing outside this folder reads MNIST files or MNIST's private state.
"""

from __future__ import annotations

from .files import load_mnist
from .source import MnistSource
from .writers import load_writers

__all__ = ["MnistSource", "load_mnist", "load_writers"]
