"""``manifest.json``: what a dataset folder holds, written atomically, checked on read.

Layout (``format_version`` 2; 1 has the same layout)::

    {
      "format": "strokeseq-dataset", "format_version": 2,
      "config": {...DatasetConfig.to_dict()...}, "config_sha256": "...",
      "seed": 7, "count": 1000000, "shard_size": 10000,
      "file_format": "npz", "compress": false,
      "columns": {"digits": {"dtype": "int8", "shape": [5], "pad": -1}, ...},
      "versions": {"strokeseq": "...", "numpy": "...", "python": "...", "zlib": "..."},
      "augment": null or the augmenter's to_config(),
      "shards": [{"id": 0, "start": 0, "stop": 10000, "count": 10000,
                  "file": "shard-000000.npz", "bytes": ..., "sha256": "..."}, ...],
      "complete": true
    }

``shards`` lists only finished shards; ``complete`` turns true when all
``ceil(count / shard_size)`` are there.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "IDENTITY_KEYS",
    "MANIFEST",
    "read_manifest",
    "versions",
    "write_manifest",
]

FORMAT = "strokeseq-dataset"
#: 2: one composer for API, datasets and ladders (uint8 ink divided by 255 once,
#: per-digit augmentation skipped when it is the identity): the bytes of
#: augmented samples changed. Version 1 datasets still read, but do not resume.
FORMAT_VERSION = 2
#: Versions this strokeseq reads (their file layout is the same).
READ_VERSIONS = (1, 2)
MANIFEST = "manifest.json"
#: Keys that must match for a run to continue a folder (anything else: a different dataset).
IDENTITY_KEYS = (
    "format_version",
    "config_sha256",
    "seed",
    "count",
    "shard_size",
    "file_format",
    "compress",
)


def versions() -> dict[str, str]:
    """Versions that can change the bytes of a dataset."""
    from .. import __version__

    return {
        "strokeseq": __version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "zlib": zlib.ZLIB_RUNTIME_VERSION,
    }


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    """Write ``manifest.json`` atomically: a temporary file in the folder, then ``os.replace``."""
    data = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode() + b"\n"
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, folder / MANIFEST)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a dataset's manifest.

    Raises
    ------
    FileNotFoundError
        No ``manifest.json`` in ``folder``.
    ValueError
        Not JSON, not a strokeseq dataset, or a format version this strokeseq
        does not understand.
    """
    path = Path(folder) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{folder} is not a strokeseq dataset: no {MANIFEST}") from None
    try:
        m = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise ValueError(f"{path} is not a strokeseq dataset manifest")
    version = m.get("format_version")
    if version not in READ_VERSIONS:
        raise ValueError(
            f"{path} has manifest format version {version!r}; this strokeseq "
            f"reads versions {', '.join(map(str, READ_VERSIONS))} (upgrade strokeseq to read it)"
        )
    for key in ("config", "seed", "count", "shard_size", "file_format", "shards", "columns"):
        if key not in m:
            raise ValueError(f"{path} is missing {key!r}")
    return m
