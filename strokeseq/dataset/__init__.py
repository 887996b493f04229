"""Datasets at scale: many labelled sequences, deterministic by index, sharded.

Sample ``i`` is a pure function of ``(seed, split, i, config)`` (NumPy
``SeedSequence(seed, spawn_key=(split_code, i))``), whatever the shard size,
number of workers or engine. See the README, section "Datasets at scale".

>>> from strokeseq.dataset import DatasetConfig, generate_dataset, load_dataset  # doctest: +SKIP
>>> generate_dataset("out", 100_000, DatasetConfig(length=(3, 8), width=240), seed=7, workers=2)  # doctest: +SKIP
>>> ds = load_dataset("out")  # doctest: +SKIP
"""

from __future__ import annotations

from .._lazy import lazy_exports

# Names served lazily from their modules: a worker process imports only what
# makes shards (sampling, shards, writers), and a script only what it uses.
_LAZY = {
    "SequenceCollate": "collate",
    "collate_sequences": "collate",
    "DatasetConfig": "config",
    "LoadedDataset": "reader",
    "iter_shards": "reader",
    "load_dataset": "reader",
    "DatasetSummary": "run_stats",
    "generate_dataset": "runner",
    "SampleContext": "sampling",
    "generate": "sampling",
    "sample_seedsequence": "seeding",
    "sample_words": "seeding",
    "SequenceDataset": "torch_dataset",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, __all__)
