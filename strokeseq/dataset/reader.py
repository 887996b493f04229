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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .manifest import read_manifest
from .records import records_to_columns
from .shards import hash_shard

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
        raise ValueError(
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
    with open(path / "labels.csv", newline="") as fh:
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


def iter_shards(
    path: str | os.PathLike[str], *, verify: bool = True, allow_partial: bool = False
) -> Iterator[tuple[dict[str, Any], dict[str, np.ndarray]]]:
    """Yield ``(manifest_entry, columns)`` for each shard, in sample order.

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
    ValueError
        Unknown manifest version, an unfinished dataset, or a shard whose
        hash does not match.
    """
    folder = Path(path)
    m = read_manifest(folder)
    if not m.get("complete") and not allow_partial:
        n_plan = -(-m["count"] // m["shard_size"])
        raise ValueError(
            f"{folder} is unfinished ({len(m['shards'])} of {n_plan} shards): run the same "
            "command again to finish it, or pass allow_partial=True"
        )
    fmt, columns = m["file_format"], m["columns"]
    for entry in sorted(m["shards"], key=lambda e: e["id"]):
        p = folder / entry["file"]
        if fmt == "png":
            if verify:
                _check_hash(p, entry)
            cols = _read_png_folder(p, columns)
        else:
            data = p.read_bytes()
            if verify:
                _check_hash(p, entry, data)
            cols = _read_npz(data) if fmt == "npz" else _read_tar(data, columns)
        yield entry, cols


def load_dataset(
    path: str | os.PathLike[str], *, verify: bool = True, allow_partial: bool = False
) -> LoadedDataset:
    """Load a whole dataset into memory (see :func:`iter_shards` for the checks).

    Returns
    -------
    LoadedDataset
        ``images`` and ``labels`` concatenated over the shards, and the manifest.
    """
    parts = [cols for _, cols in iter_shards(path, verify=verify, allow_partial=allow_partial)]
    m = read_manifest(path)
    if not parts:
        cols = records_to_columns([], m["columns"])
        images = np.zeros((0, *m["columns"]["images"]["shape"]), np.uint8)
        return LoadedDataset(images, cols, m)
    keys = parts[0].keys()
    merged = {k: np.concatenate([p[k] for p in parts]) for k in keys}
    images = merged.pop("images")
    return LoadedDataset(images, merged, m)
