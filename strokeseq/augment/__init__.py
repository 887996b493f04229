"""Augmentation: per-digit and per-sequence transforms, and a pipeline described as data.

All arrays are ink units (float32, ink 1.0, background 0.0); the page
polarity is applied later by the composer.

- Per-digit transforms on ``(n, 28, 28)``: :func:`elastic`, :func:`affine`,
  :func:`stroke_width`, :func:`broken_strokes`, :func:`blur`, :func:`noise`,
  and :func:`renormalize_mnist` to restore MNIST framing.
- Per-sequence transforms on ``(N, 28, W)`` with boxes: :func:`wobble`,
  :func:`slant`; pixel-wise on any batch: :func:`contrast`, :func:`clutter`,
  :func:`blur`, :func:`noise`.
- :class:`Augmenter` runs a pipeline from a config dict / TOML / JSON /
  preset name; :data:`DEFAULT_CONFIG`, :data:`PRESETS` (the files in
  ``presets/``), :func:`strength_config` for exact strengths. Its
  ``digits_rows`` / ``sequences_rows`` take one generator per row and give
  exactly a loop of ``digits`` / ``sequences`` calls over the rows, batched.

Modules: ``config`` (schema, presets, validation), ``units`` (the transforms
of a pipeline: draw per call, apply batched), ``pipeline`` (the Augmenter),
``digit`` / ``sequence`` (the transforms as functions), ``warp`` (the digits'
resampling: elastic fields, affine and framing maps, blocks, thread pool),
``morph`` (disk morphology and gaps), ``resample`` (bilinear sampling, shifts),
``_core`` (checks, Gaussian kernels, blur).
See docs/augmentation.md for the formulations, ranges and the config format.
"""

from __future__ import annotations

from .config import strength_config
from .digit import (
    affine,
    blur,
    broken_strokes,
    elastic,
    elastic_field,
    noise,
    renormalize_mnist,
    stroke_width,
)
from .pipeline import DEFAULT_CONFIG, DIGIT_ORDER, PRESETS, SEQUENCE_ORDER, Augmenter
from .sequence import clutter, contrast, slant, wobble

__all__ = [
    "DEFAULT_CONFIG",
    "DIGIT_ORDER",
    "PRESETS",
    "SEQUENCE_ORDER",
    "Augmenter",
    "affine",
    "blur",
    "broken_strokes",
    "clutter",
    "contrast",
    "elastic",
    "elastic_field",
    "noise",
    "renormalize_mnist",
    "slant",
    "strength_config",
    "stroke_width",
    "wobble",
]
