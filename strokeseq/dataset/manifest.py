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
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from ..atomic import atomic_write
from ..errors import DatasetError
from ..validate import is_integer

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "IDENTITY_KEYS",
    "MANIFEST",
    "check_manifest",
    "read_manifest",
    "safe_shard_path",
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
    "data",
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
    """Write ``manifest.json`` atomically (:func:`strokeseq.atomic.atomic_write`).

    A temporary sibling created with the umask (like the shards, not
    ``mkstemp``'s 0600), then ``os.replace``; a full disk is an error naming
    the file, and the old manifest stays.
    """
    data = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=False).encode() + b"\n"
    atomic_write(Path(folder) / MANIFEST, data)


def read_manifest(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a dataset's manifest.

    Every field the readers and the runner use is checked for its type and
    for consistency (shard ranges, unique ids, file names inside the folder),
    so a damaged or hand-edited manifest is refused with what is wrong rather
    than failing later with a ``KeyError`` or ``TypeError``.

    Raises
    ------
    strokeseq.errors.DatasetError
        (a ValueError) No ``manifest.json`` in ``folder``, not JSON, not a
        strokeseq dataset, a format version this strokeseq does not
        understand, or a field that is missing, of the wrong type or
        inconsistent.
    """
    path = Path(folder) / MANIFEST
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{folder} is not a strokeseq dataset: no {MANIFEST}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from None
    try:
        m = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        raise DatasetError(f"{path} is not a strokeseq dataset manifest")
    version = m.get("format_version")
    if version not in READ_VERSIONS:
        raise DatasetError(
            f"{path} has manifest format version {version!r}; this strokeseq "
            f"reads versions {', '.join(map(str, READ_VERSIONS))} (upgrade strokeseq to read it)"
        )
    check_manifest(m, path)
    return m


def _is_int(v: Any, lo: int = 0) -> bool:
    return is_integer(v) and v >= lo


def safe_shard_path(folder: Path, name: Any) -> Path:
    """``folder / name`` for a shard name that stays inside ``folder``; DatasetError otherwise."""
    pure = PurePosixPath(name) if isinstance(name, str) else None
    if (
        pure is None
        or not name
        or pure.is_absolute()
        or PureWindowsPath(name).is_absolute()
        or PureWindowsPath(name).drive
        or ".." in pure.parts
        or "\\" in name
        or "\0" in name
    ):
        raise DatasetError(
            f"{folder / MANIFEST}: shard file {name!r} is not a path inside the dataset folder"
        )
    return folder / pure


def check_manifest(m: dict[str, Any], path: Path) -> None:
    """Check the fields of a manifest; raise :class:`DatasetError` naming the first problem."""
    from .writers import FORMATS

    def bad(what: str) -> DatasetError:
        return DatasetError(f"{path} is malformed: {what}")

    for key in ("config", "seed", "count", "shard_size", "file_format", "shards", "columns"):
        if key not in m:
            raise bad(f"missing {key!r}")
    if not isinstance(m["config"], dict):
        raise bad("'config' must be a table")
    if not _is_int(m["seed"]):
        raise bad(f"'seed' must be an integer >= 0, got {m['seed']!r}")
    count, size = m["count"], m["shard_size"]
    if not _is_int(count, 1) or not _is_int(size, 1):
        raise bad(f"'count' and 'shard_size' must be integers >= 1, got {count!r}, {size!r}")
    if m["file_format"] not in FORMATS:
        raise bad(f"'file_format' must be one of {', '.join(FORMATS)}, got {m['file_format']!r}")
    if not isinstance(m.get("complete", False), bool):
        raise bad("'complete' must be true or false")
    cols = m["columns"]
    if not isinstance(cols, dict) or not all(isinstance(v, dict) for v in cols.values()):
        raise bad("'columns' must be a table of column tables")
    for name in ("images", "index", "text", "length", "width", "source", "digits", "boxes"):
        spec = cols.get(name)
        if spec is None:
            raise bad(f"column {name!r} is missing")
        shape = spec.get("shape")
        if (
            not isinstance(spec.get("dtype"), str)
            or not isinstance(shape, list)
            or not all(_is_int(d) and d <= 100_000 for d in shape)
        ):
            raise bad(f"column {name!r} needs a 'dtype' string and a 'shape' list of sizes")
    if cols["images"]["shape"][:1] != [28] or len(cols["images"]["shape"]) != 2:
        raise bad(f"images must have shape [28, width], got {cols['images']['shape']}")
    n_plan = -(-count // size)
    shards = m["shards"]
    if not isinstance(shards, list):
        raise bad("'shards' must be a list")
    seen: set[int] = set()
    folder = path.parent
    for e in shards:
        if not isinstance(e, dict):
            raise bad(f"shard entry {e!r} is not a table")
        missing = [
            k for k in ("id", "start", "stop", "count", "file", "bytes", "sha256") if k not in e
        ]
        if missing:
            raise bad(f"shard entry {e.get('id', '?')!r} is missing {', '.join(missing)}")
        k = e["id"]
        if not _is_int(k) or k >= n_plan:
            raise bad(f"shard id {k!r} is not in 0..{n_plan - 1}")
        if k in seen:
            raise bad(f"shard {k} is listed twice")
        seen.add(k)
        start, stop = k * size, min((k + 1) * size, count)
        if (e["start"], e["stop"], e["count"]) != (start, stop, stop - start):
            raise bad(
                f"shard {k} covers {e['start']!r}..{e['stop']!r} ({e['count']!r} rows); "
                f"shard {k} of {count} in shards of {size} is {start}..{stop}"
            )
        if not _is_int(e["bytes"]) or not isinstance(e["sha256"], str):
            raise bad(f"shard {k} needs 'bytes' (an integer) and 'sha256' (hex text)")
        safe_shard_path(folder, e["file"])
    if m.get("complete") and len(seen) != n_plan:
        absent = sorted(set(range(n_plan)) - seen)
        raise bad(
            f"marked complete but shard(s) {absent[:5]}{'...' if len(absent) > 5 else ''} "
            f"of 0..{n_plan - 1} are not listed"
        )
