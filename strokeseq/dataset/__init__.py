"""Datasets at scale: many labelled sequences, deterministic by index, sharded.

Sample ``i`` is a pure function of ``(seed, split, i, config)`` (NumPy
``SeedSequence(seed, spawn_key=(split_code, i))``), whatever the shard size,
number of workers or engine. See the README, section "Datasets at scale".

>>> from strokeseq.dataset import DatasetConfig, generate_dataset, load_dataset  # doctest: +SKIP
>>> generate_dataset("out", 100_000, DatasetConfig(length=(3, 8), width=240), seed=7, workers=2)  # doctest: +SKIP
>>> ds = load_dataset("out")  # doctest: +SKIP
"""

from __future__ import annotations

from .collate import SequenceCollate, collate_sequences
from .config import DatasetConfig
from .reader import LoadedDataset, iter_shards, load_dataset
from .runner import DatasetSummary, generate_dataset
from .sampling import SampleContext, generate
from .seeding import sample_seedsequence, sample_words
from .torch_dataset import SequenceDataset

__all__ = [
    "DatasetConfig",
    "DatasetSummary",
    "LoadedDataset",
    "SampleContext",
    "SequenceCollate",
    "SequenceDataset",
    "collate_sequences",
    "generate",
    "generate_dataset",
    "iter_shards",
    "load_dataset",
    "sample_seedsequence",
    "sample_words",
]
