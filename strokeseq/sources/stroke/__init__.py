"""The stroke backend: synthetic digits drawn as jittered Bezier pen strokes.

- :mod:`.source`: :class:`StrokeSource`, the :class:`~strokeseq.DigitSource`;
- :mod:`.glyph_schema`: the glyph files (``glyphs/`` at the top of the
  repository, shipped in the wheel) and their schema;
- :mod:`.render`: the vectorised renderer (zoomed canvas, downsampling,
  MNIST normalisation).

Nothing outside this folder reads glyph files.
"""

from __future__ import annotations

from .source import StrokeSource

__all__ = ["StrokeSource"]
