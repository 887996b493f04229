"""Samples as pure functions of (seed, split, index, config), generated a chunk at a time.

Every sample ``i`` owns ``SeedSequence(seed, spawn_key=(split_code, i))``.
From it we take a fixed number of 32-bit words (:func:`word_layout`), computed
for a whole chunk at once by :func:`strokeseq.dataset.seeding.sample_words`,
and turn each word into one uniform in [0, 1) (``word / 2**32``). Every random
choice of the sample reads its own word: the length, the source, the writer,
the left margin, each label, each MNIST pick, each gap. Nothing depends on
the other samples of the chunk, so the chunk size, shard size, worker count
and engine cannot change a sample.

Sources that draw from given uniforms (``DigitSource.uniform_draws``, e.g.
MNIST) read the pick words (``DigitSource.draw_from_uniforms``). Other
sources (synthetic, third-party), and augmentation, need a full
``Generator``: they get the sample's children ``SeedSequence(seed,
spawn_key=(split_code, i, 0))`` (source) and ``(..., i, 1)`` (augmentation),
the same as ``sample_seedsequence(...).spawn(2)``, one per sample; only their
random draws loop over samples, the rendering and transforms are batched
(``DigitSource.draw_rows``, ``Augmenter.digits_rows`` / ``sequences_rows``).

The rows of a chunk are then grouped (same source, same length) and composed
with :func:`strokeseq.compose.compose_rows`, whose gap draws never depend on
the other rows of the batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from ..compose import compose_rows, to_image
from ..layout import required_width
from ..sources.base import TILE
from .config import DatasetConfig, parse_pattern, source_code
from .seeding import sample_words

__all__ = ["CHUNK", "SampleContext", "generate", "label_columns", "word_layout"]

log = logging.getLogger(__name__)

#: Rows composed at once: keeps intermediates in cache and memory bounded.
CHUNK = 2048
_INV32 = 1.0 / 2**32


@dataclass(frozen=True)
class WordLayout:
    """Which word of a sample's state feeds which choice (fixed by the config)."""

    length: int
    source: int
    writer: int
    margin: int
    labels: slice
    picks: slice
    gaps: slice
    total: int


def word_layout(max_len: int) -> WordLayout:
    """Words per sample: 4 scalars, then ``max_len`` labels, picks and ``max_len - 1`` gaps."""
    a = 4
    return WordLayout(
        0,
        1,
        2,
        3,
        slice(a, a + max_len),
        slice(a + max_len, a + 2 * max_len),
        slice(a + 2 * max_len, a + 3 * max_len - 1),
        a + 3 * max_len - 1,
    )


def _floor_choice(u: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Uniform integer in ``0..n-1`` from a uniform in [0, 1)."""
    return np.minimum((u * n).astype(np.int64), np.asarray(n) - 1)


class SampleContext:
    """A config with its sources loaded: everything needed to make samples.

    Cheap to pickle: the sources are looked up lazily (and cached per process
    by :func:`strokeseq.sources.get_source`), so a worker process loads MNIST
    once, on its first shard.

    Parameters
    ----------
    config : DatasetConfig
        What to generate.
    seed : int
        Non-negative dataset seed.
    data_dir : str, optional
        Folder of the MNIST files (machine-specific, not part of the config).
    """

    def __init__(self, config: DatasetConfig, seed: int, data_dir: str | None = None) -> None:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.config = config
        self.seed = int(seed)
        self.data_dir = None if data_dir is None else str(data_dir)
        _lo, hi = config.length_range
        self.max_len = hi
        self.layout = word_layout(hi)
        self._pattern = (
            [np.array(p, np.int64) for p in parse_pattern(config.pattern)]
            if config.pattern
            else None
        )
        self._seq_table = None
        if config.sequences is not None:
            seqs = config.sequences
            table = np.full((len(seqs), hi), -1, np.int64)
            for r, s in enumerate(seqs):
                table[r, : len(s)] = np.frombuffer(s.encode(), np.uint8) - 48
            self._seq_table = (table, np.array([len(s) for s in seqs], np.int64))
        w = np.array(list(config.source.values()))  # type: ignore[union-attr]
        self._source_cum = np.cumsum(w)
        self._source_cum[-1] = 1.0  # u < 1 always picks a source
        self._source_codes = np.array([source_code(s) for s in config.source], np.int64)
        self._augmenter = None
        self._sources: dict[str, Any] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sources"] = {}
        state["_augmenter"] = None
        return state

    # -- sources -----------------------------------------------------------------------------
    def source(self, name: str):
        """The digit source ``name`` (loaded once per process)."""
        src = self._sources.get(name)
        if src is None:
            from ..sources import get_source

            options = dict(self.config.synthetic) if name == "synthetic" else {}
            context = {"split": self.config.split, "data_dir": self.data_dir}
            src = get_source(name, context=context, **options)
            # Load up front (MNIST: the QMNIST writers, so every digit's writer is
            # recorded; None, with a logged warning, when the files are not available).
            src.prepare(_writer_for(src, self.config))
            self._sources[name] = src
        return src

    @property
    def augmenter(self):
        if self.config.augment is None:
            return None
        if self._augmenter is None:
            try:
                from ..augment import Augmenter
            except ImportError as exc:
                raise ValueError(
                    "this dataset config has 'augment', but strokeseq.augment.Augmenter is not "
                    f"available in this installation ({exc})"
                ) from None
            self._augmenter = Augmenter.from_config(dict(self.config.augment))
        return self._augmenter

    def check_widths(self) -> None:
        """Raise ValueError if some sample could not fit its width (checked up front)."""
        cfg = self.config
        lo_gap = cfg.spacing[0]
        lo, hi = cfg.length_range
        sources = (
            [self.source(name) for name in cfg.source]  # type: ignore[union-attr]
            if cfg.layout == "ink"
            else None
        )
        rows: dict[int, Any]
        if self._seq_table is not None:
            table, lens = self._seq_table
            rows = {int(n): table[lens == n][:, :n] for n in np.unique(lens).tolist()}
        elif self._pattern is not None:
            rows = {len(self._pattern): [p.tolist() for p in self._pattern]}
        else:
            rows = {n: n for n in range(lo, hi + 1)}
        for n, labels in sorted(rows.items()):
            need = required_width(labels, lo_gap, cfg.layout, sources)
            have = cfg.width_for(n)
            if have < need:
                raise ValueError(
                    f"width {have} px is too small for {n} digit(s) with spacing "
                    f"{cfg.spacing[0]}..{cfg.spacing[1]} in the {cfg.layout} layout: "
                    f"need at least {need} px"
                )

    # -- columns ------------------------------------------------------------------------------
    def synthetic_keys(self) -> list[tuple[str, np.dtype]]:
        """Source-specific provenance columns (``syn_<key>``) of the config's sources."""
        keys: dict[str, np.dtype] = {}
        for name in self.config.source:  # type: ignore[union-attr]
            for k, dt in _meta_schema(self.source(name)):
                keys.setdefault(k, dt)
        return list(keys.items())


def _writer_for(src, cfg: DatasetConfig) -> str | None:
    """The config's ``writer`` for sources that support it, None for the others.

    The config refuses ``writer`` without a source that supports it; in a mix,
    the sources without writers draw as usual.
    """
    if cfg.writer is None:
        return None
    try:
        src.check_writer(cfg.writer)
    except ValueError:
        return None
    return cfg.writer


@lru_cache(maxsize=8)
def _meta_schema(src) -> list[tuple[str, np.dtype]]:
    return list(src.meta_columns().items())


def label_columns(ctx: SampleContext) -> dict[str, tuple[tuple[int, ...], np.dtype, Any]]:
    """Per-sample columns: name -> (shape after N, dtype, padding value)."""
    L = ctx.max_len
    cols: dict[str, tuple[tuple[int, ...], np.dtype, Any]] = {
        "index": ((), np.dtype(np.int64), 0),
        "length": ((), np.dtype(np.int16), 0),
        "width": ((), np.dtype(np.int32), 0),
        "source": ((), np.dtype(np.int8), -1),
        "text": ((), np.dtype(f"<U{L}"), ""),
        "digits": ((L,), np.dtype(np.int8), -1),
        "boxes": ((L, 4), np.dtype(np.int32), -1),
        "gaps": ((max(L - 1, 0),), np.dtype(np.int32), 0),
        "src_index": ((L,), np.dtype(np.int32), -1),
        "src_writer": ((L,), np.dtype(np.int32), -1),
    }
    for key, dt in ctx.synthetic_keys():
        cols[f"syn_{key}"] = ((L,), dt, -1 if dt.kind == "i" else np.nan)
    return cols


def empty_columns(
    ctx: SampleContext, n: int, images: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Padded label columns and a background-filled image array for ``n`` samples.

    ``images``: a ``(n, 28, max_width)`` uint8 array to use for the images
    (reused memory, filled here as needed), or None for a new one.
    """
    cfg = ctx.config
    out = {}
    for name, (shape, dt, pad) in label_columns(ctx).items():
        out[name] = np.full((n, *shape), pad, dt)
    shape = (n, TILE, cfg.max_width)
    if images is not None and (images.shape != shape or images.dtype != np.uint8):
        raise ValueError(
            f"images must be a {shape} uint8 array, got {images.dtype} {images.shape}"
        )
    if isinstance(cfg.width, int):  # every pixel gets written: no fill needed
        out["images"] = np.empty(shape, np.uint8) if images is None else images
    else:  # narrower samples are padded on the right with background
        background = 255 if cfg.ink == "black" else 0
        if images is None:
            out["images"] = np.full(shape, background, np.uint8)
        else:
            images.fill(background)
            out["images"] = images
    return out


def generate(
    ctx: SampleContext, indices: np.ndarray, images: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Images and labels of the samples ``indices``, a pure function of each index.

    Parameters
    ----------
    ctx : SampleContext
    indices : array_like of int
        Global sample indices.
    images : numpy.ndarray, optional
        A ``(N, 28, max_width)`` uint8 array to write the images into (e.g.
        reused from shard to shard: a fresh array of a shard's size costs its
        page faults every time); None allocates one.

    Returns
    -------
    dict of str to numpy.ndarray
        ``images`` ``(N, 28, max_width)`` uint8 (narrower samples padded on
        the right with background) and the label columns of :func:`label_columns`.
    """
    indices = np.asarray(indices, np.int64).reshape(-1)
    out = empty_columns(ctx, indices.size, images)
    for s in range(0, indices.size, CHUNK):
        _fill_chunk(ctx, indices[s : s + CHUNK], out, s)
    return out


def _draw_labels(ctx: SampleContext, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths ``(N,)`` and labels ``(N, L)`` (-1 past the length) from the uniforms."""
    lay, cfg = ctx.layout, ctx.config
    n_rows, L = u.shape[0], ctx.max_len
    if ctx._seq_table is not None:
        table, lens = ctx._seq_table
        pick = _floor_choice(u[:, lay.labels.start], len(lens))
        return lens[pick], table[pick]
    if ctx._pattern is not None:
        labels = np.empty((n_rows, L), np.int64)
        for j, allowed in enumerate(ctx._pattern):
            labels[:, j] = allowed[_floor_choice(u[:, lay.labels.start + j], len(allowed))]
        return np.full(n_rows, L, np.int64), labels
    lo, hi = cfg.length_range
    lengths = lo + _floor_choice(u[:, lay.length], hi - lo + 1)
    labels = _floor_choice(u[:, lay.labels], 10)
    labels[np.arange(L)[None, :] >= lengths[:, None]] = -1
    return lengths, labels


def _fill_chunk(ctx: SampleContext, idx: np.ndarray, out: dict[str, np.ndarray], at: int) -> None:
    cfg, lay = ctx.config, ctx.layout
    words = sample_words(ctx.seed, cfg.split_code, idx, lay.total)
    u = words * _INV32  # float64 uniforms in [0, 1)
    lengths, labels = _draw_labels(ctx, u)
    src_pos = np.searchsorted(ctx._source_cum, u[:, lay.source], side="right")
    src_code = ctx._source_codes[src_pos]
    rows = slice(at, at + idx.size)
    out["index"][rows] = idx
    out["length"][rows] = lengths
    out["source"][rows] = src_code
    out["digits"][rows] = labels
    width_of = np.array([cfg.width_for(n) for n in range(ctx.max_len + 1)])
    out["width"][rows] = width_of[lengths]
    chars = np.where(labels >= 0, labels + 48, 0).astype(np.uint8)
    out["text"][rows] = chars.view(f"S{ctx.max_len}").ravel().astype(out["text"].dtype)
    names = list(cfg.source)  # type: ignore[arg-type]
    for pos, name in enumerate(names):
        for n in np.unique(lengths[src_pos == pos]).tolist():
            sel = np.flatnonzero((src_pos == pos) & (lengths == n))
            _compose_group(ctx, name, int(n), idx[sel], u[sel], labels[sel, :n], out, at + sel)


def _compose_group(
    ctx: SampleContext,
    name: str,
    n: int,
    idx: np.ndarray,
    u: np.ndarray,
    labels: np.ndarray,
    out: dict[str, np.ndarray],
    rows: np.ndarray,
) -> None:
    """Draw the digits of equal-length rows of one source and compose them."""
    cfg, lay = ctx.config, ctx.layout
    src = ctx.source(name)
    writer = _writer_for(src, cfg)
    digits = src.draw_from_uniforms(
        labels, u[:, lay.picks][:, :n], u_writer=u[:, lay.writer], writer=writer
    )
    if digits is None:  # the source needs generators: the sample's first child seed
        gens = _row_generators(ctx, idx, 0)
        digits = (
            src.draw_rows(labels, gens)
            if writer is None
            else src.draw_rows(labels, gens, writer=writer)
        )
    aug = ctx.augmenter
    width = cfg.width_for(n)
    batch = compose_rows(
        digits,
        labels,
        cfg.spacing,
        width,
        layout=cfg.layout,
        uniforms=(u[:, lay.gaps][:, : n - 1], u[:, lay.margin]),
        augmenter=aug,
        # Augmentation: one generator per sample (its second child seed); the
        # rows API draws each row's randomness from it, in the order a one-row
        # call would, and applies the transforms to all rows at once.
        row_rngs=None if aug is None or aug.is_identity else _row_generators(ctx, idx, 1),
    )
    _store(ctx, batch, out, rows, n, width)


def _row_generators(ctx: SampleContext, idx: np.ndarray, child: int) -> list:
    """Generator of child ``child`` of each sample's seed (0: source, 1: augmentation)."""
    code = ctx.config.split_code
    return [
        np.random.default_rng(np.random.SeedSequence(ctx.seed, spawn_key=(code, i, child)))
        for i in idx.tolist()
    ]


def _store(
    ctx: SampleContext, batch, out: dict[str, np.ndarray], rows, n: int, width: int
) -> None:
    cfg = ctx.config
    images = out["images"]
    if isinstance(rows, np.ndarray) and rows.size and rows[-1] - rows[0] == rows.size - 1:
        rows = slice(int(rows[0]), int(rows[-1]) + 1)  # contiguous: write in place, no copy
    if isinstance(rows, slice) and width == images.shape[2]:
        to_image(batch.ink, ink_color=cfg.ink, dtype=np.uint8, out=images[rows])
    else:
        images[rows, :, :width] = to_image(batch.ink, ink_color=cfg.ink, dtype=np.uint8)
    out["boxes"][rows, :n] = batch.boxes
    if n > 1:
        out["gaps"][rows, : n - 1] = batch.gaps
    meta = batch.meta
    if "index" in meta:
        out["src_index"][rows, :n] = meta["index"]
    if "writer" in meta:
        out["src_writer"][rows, :n] = meta["writer"]
    for key, value in meta.items():
        col = out.get(f"syn_{key}")
        if col is not None:
            col[rows, :n] = value
