"""Reading datasets back: :func:`iter_shards` and :func:`load_dataset`, hash-checked.

Every format comes back as the same columns an NPZ shard holds: ``images``
``(N, 28, max_width)`` uint8 (padded on the right with background) and the
label columns of the manifest's ``columns`` schema. Nothing is unpickled:
NPZ with ``allow_pickle=False``, JSON, CSV and PNG only.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DatasetError
from .manifest import read_manifest, safe_shard_path
from .records import records_to_columns
from .shards import hash_shard, png_listing

__all__ = ["LoadedDataset", "iter_shards", "load_dataset"]


@dataclass
class LoadedDataset:
    """A dataset in memory.

    Attributes
    ----------
    images : numpy.ndarray
        ``(N, 28, max_width)`` uint8; sample ``r`` is ``images[r, :, :labels["width"][r]]``.
    labels : dict of str to numpy.ndarray
        Label columns (``index``, ``text``, ``length``, ``width``, ``source``,
        ``digits``, ``boxes``, ``gaps``, ``src_index``, ``src_writer``, ``syn_*``).
    manifest : dict
        The dataset's manifest.
    """

    images: np.ndarray
    labels: dict[str, np.ndarray]
    manifest: dict[str, Any]

    def __len__(self) -> int:
        return len(self.images)


def _decode_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L"))


def _check_hash(path: Path, entry: dict[str, Any], data: bytes | None = None) -> None:
    if data is not None:
        size, digest = len(data), hashlib.sha256(data).hexdigest()
    else:
        size, digest = hash_shard(path)
    if size != entry["bytes"] or digest != entry["sha256"]:
        raise DatasetError(
            f"{path} does not match its manifest entry (SHA-256 {digest[:16]}..., "
            f"expected {entry['sha256'][:16]}...): the file is corrupt or was changed"
        )


def _images(rows: list[tuple[int, np.ndarray]], n: int, spec: dict[str, Any]) -> np.ndarray:
    out = np.full((n, *spec["shape"]), spec["pad"], np.uint8)
    for r, img in rows:
        out[r, :, : img.shape[1]] = img
    return out


def _read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _read_tar(data: bytes, columns: dict[str, Any]) -> dict[str, np.ndarray]:
    recs: dict[str, dict] = {}
    imgs: dict[str, np.ndarray] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tf:
        for member in tf:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            raw = tf.extractfile(member).read()  # type: ignore[union-attr]
            if ext == "json":
                recs[key] = json.loads(raw)
            elif ext == "png":
                imgs[key] = _decode_png(raw)
    keys = sorted(recs, key=lambda k: recs[k]["index"])
    cols = records_to_columns([recs[k] for k in keys], columns)
    cols["images"] = _images(
        [(r, imgs[k]) for r, k in enumerate(keys)], len(keys), columns["images"]
    )
    return cols


def _read_png_folder(path: Path, columns: dict[str, Any]) -> dict[str, np.ndarray]:
    png_listing(path)  # labels.csv names plain files that are there
    with open(path / "labels.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))

    def ints(s: str) -> list[int]:
        return [int(v) for v in s.split()]

    recs = []
    for row in rows:
        boxes = ints(row["boxes"])
        recs.append(
            {
                "index": int(row["index"]),
                "text": row["text"],
                "length": int(row["length"]),
                "width": int(row["width"]),
                "source": row["source"],
                "digits": ints(row["digits"]),
                "boxes": [boxes[i : i + 4] for i in range(0, len(boxes), 4)],
                "gaps": ints(row["gaps"]),
                "src_index": ints(row["src_index"]),
                "src_writer": ints(row["src_writer"]),
            }
        )
    cols = records_to_columns(recs, columns)
    imgs = [(r, _decode_png((path / row["file"]).read_bytes())) for r, row in enumerate(rows)]
    cols["images"] = _images(imgs, len(rows), columns["images"])
    return cols


#: What reading a damaged shard can raise (all reported as DatasetError).
_READ_ERRORS = (
    OSError,
    ValueError,
    KeyError,
    TypeError,
    IndexError,
    EOFError,
    tarfile.TarError,
    zipfile.BadZipFile,
    csv.Error,
)


def _read_shard(folder: Path, entry: dict[str, Any], m: dict[str, Any], verify: bool):
    fmt, columns = m["file_format"], m["columns"]
    p = safe_shard_path(folder, entry["file"])
    if not p.exists():
        raise DatasetError(f"shard {entry['file']} of {folder} is missing")
    try:
        if fmt == "png":
            if not p.is_dir():
                raise DatasetError(f"shard {entry['file']} of {folder} is not a folder")
            if verify:
                _check_hash(p, entry)
            cols = _read_png_folder(p, columns)
        else:
            data = p.read_bytes()
            if verify:
                _check_hash(p, entry, data)
            cols = _read_npz(data) if fmt == "npz" else _read_tar(data, columns)
    except DatasetError:
        raise
    except _READ_ERRORS as exc:
        raise DatasetError(
            f"shard {entry['file']} of {folder} cannot be read: {type(exc).__name__}: {exc}"
        ) from exc
    _check_rows(folder, entry, cols)
    return cols


def _check_rows(folder: Path, entry: dict[str, Any], cols: dict[str, np.ndarray]) -> None:
    """The shard holds exactly the rows its entry says: indices start..stop-1, in order."""
    name = f"shard {entry['file']} of {folder}"
    index = cols.get("index")
    images = cols.get("images")
    if index is None or images is None:
        raise DatasetError(f"{name} has no 'index' or 'images' column")
    n = entry["count"]
    if len(index) != n or len(images) != n or any(len(v) != n for v in cols.values()):
        raise DatasetError(
            f"{name} has {len(index)} rows ({len(images)} images); its manifest entry says {n}"
        )
    if not np.array_equal(index, np.arange(entry["start"], entry["stop"])):
        raise DatasetError(
            f"{name} does not hold samples {entry['start']}..{entry['stop'] - 1} in order "
            "(its index column differs)"
        )


def iter_shards(
    path: str | os.PathLike[str], *, verify: bool = True, allow_partial: bool = False
) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """Yield ``(manifest_entry, columns)`` for each shard, in sample order.

    The manifest is not trusted: its shard entries must cover samples
    ``0..count-1`` without gaps or repeats (only listed shards, in order,
    with ``allow_partial``), shard files must lie inside the folder, and each
    shard must hold exactly the rows (sample indices) its entry names.

    Parameters
    ----------
    path : path
        Dataset folder.
    verify : bool
        Check each shard's size and SHA-256 against the manifest (default).
    allow_partial : bool
        Read the finished shards of an unfinished dataset instead of refusing.

    Raises
    ------
    strokeseq.errors.DatasetError
        (a ValueError naming the folder or shard) No or a malformed manifest,
        an unknown manifest version, an unfinished dataset, a missing or
        unreadable shard, a shard whose hash or rows do not match its entry.

    Examples
    --------
    >>> for entry, cols in iter_shards("out"):  # doctest: +SKIP
    ...     print(entry["file"], cols["images"].shape)
    """
    folder = Path(path)
    m = read_manifest(folder)
    n_plan = -(-m["count"] // m["shard_size"])
    if not m.get("complete") and not allow_partial:
        raise DatasetError(
            f"{folder} is unfinished ({len(m['shards'])} of {n_plan} shards): run the same "
            "command again to finish it, or pass allow_partial=True"
        )
    for entry in sorted(m["shards"], key=lambda e: e["id"]):
        yield entry, _read_shard(folder, entry, m, verify)


def load_dataset(
    path: str | os.PathLike[str], *, verify: bool = True, allow_partial: bool = False
) -> LoadedDataset:
    """Load a whole dataset into memory (see :func:`iter_shards` for the checks).

    Returns
    -------
    LoadedDataset
        ``images`` and ``labels`` concatenated over the shards, and the manifest.

    Raises
    ------
    strokeseq.errors.DatasetError
        As :func:`iter_shards`.

    Examples
    --------
    >>> ds = load_dataset("out")  # doctest: +SKIP
    >>> ds.images.shape, ds.labels["text"][:3]  # doctest: +SKIP
    """
    m = read_manifest(path)
    parts = [cols for _, cols in iter_shards(path, verify=verify, allow_partial=allow_partial)]
    if not parts:
        cols = records_to_columns([], m["columns"])
        images = np.zeros((0, *m["columns"]["images"]["shape"]), np.uint8)
        return LoadedDataset(images, cols, m)
    keys = parts[0].keys()
    if any(p.keys() != keys for p in parts):
        raise DatasetError(f"the shards of {path} do not all have the same columns")
    merged = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    images = merged.pop("images")
    if m.get("complete") and len(images) != m["count"]:
        raise DatasetError(f"{path} holds {len(images)} samples; its manifest says {m['count']}")
    return LoadedDataset(images, merged, m)
