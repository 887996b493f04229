"""Export a written dataset to Parquet, the format Hugging Face ``datasets`` reads.

One row per sample: ``image`` (a PNG of the sample at its own width, in the
dataset's stored polarity, as the ``{"bytes", "path"}`` struct that
``datasets.Image`` decodes), ``text``, ``length``, ``width``, ``source``,
``index``, ``digits``, ``boxes``, ``gaps``, ``src_index``, ``src_writer``.
The file's schema metadata carries the ``datasets`` feature types, so

    datasets.load_dataset("parquet", data_files="train.parquet")["train"][0]["image"]

is a ``PIL.Image``. Shards are read (hash-checked) and written one at a time,
so memory stays at one shard whatever the dataset's size. Needs pyarrow
(``pip install "strokeseq[parquet]"``).
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from .config import SOURCE_CODES
from .reader import iter_shards

__all__ = ["export_parquet"]

_SOURCE_NAMES = {v: k for k, v in SOURCE_CODES.items()}
#: Hugging Face ``datasets`` feature types of the columns (stored in the schema metadata).
_HF_FEATURES = {
    "image": {"_type": "Image"},
    "text": {"dtype": "string", "_type": "Value"},
    "length": {"dtype": "int32", "_type": "Value"},
    "width": {"dtype": "int32", "_type": "Value"},
    "source": {"dtype": "string", "_type": "Value"},
    "index": {"dtype": "int64", "_type": "Value"},
    "digits": {"feature": {"dtype": "int8", "_type": "Value"}, "_type": "Sequence"},
    "boxes": {
        "feature": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"},
        "_type": "Sequence",
    },
    "gaps": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"},
    "src_index": {"feature": {"dtype": "int64", "_type": "Value"}, "_type": "Sequence"},
    "src_writer": {"feature": {"dtype": "int32", "_type": "Value"}, "_type": "Sequence"},
}


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _schema():
    import pyarrow as pa

    fields = [
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("text", pa.string()),
        ("length", pa.int32()),
        ("width", pa.int32()),
        ("source", pa.string()),
        ("index", pa.int64()),
        ("digits", pa.list_(pa.int8())),
        ("boxes", pa.list_(pa.list_(pa.int32()))),
        ("gaps", pa.list_(pa.int32())),
        ("src_index", pa.list_(pa.int64())),
        ("src_writer", pa.list_(pa.int32())),
    ]
    meta = {"huggingface": json.dumps({"info": {"features": _HF_FEATURES}})}
    return pa.schema(fields, metadata=meta)


def _table(cols: dict[str, np.ndarray], schema: Any):
    import pyarrow as pa

    lengths = cols["length"].astype(np.int64)
    widths = cols["width"].astype(np.int64)
    n = len(lengths)
    images = cols["images"]
    pngs = [_png(np.ascontiguousarray(images[r, :, : widths[r]])) for r in range(n)]

    def ragged(a: np.ndarray, counts: np.ndarray) -> list[list[Any]]:
        return [a[r, : counts[r]].tolist() for r in range(n)]

    data = {
        "image": [{"bytes": b, "path": None} for b in pngs],
        "text": [str(t) for t in cols["text"]],
        "length": lengths,
        "width": widths,
        "source": [_SOURCE_NAMES[int(s)] for s in cols["source"]],
        "index": cols["index"].astype(np.int64),
        "digits": ragged(cols["digits"], lengths),
        "boxes": ragged(cols["boxes"], lengths),
        "gaps": ragged(cols["gaps"], np.maximum(lengths - 1, 0)),
        "src_index": ragged(cols["src_index"], lengths),
        "src_writer": ragged(cols["src_writer"], lengths),
    }
    return pa.Table.from_pydict(data, schema=schema)


def export_parquet(
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    verify: bool = True,
    overwrite: bool = False,
    row_group_size: int = 10_000,
) -> Path:
    """Write the samples of a dataset folder into one Parquet file.

    Parameters
    ----------
    dataset : path
        A finished dataset folder (``strokeseq dataset`` / :func:`generate_dataset`).
    out : path
        The ``.parquet`` file to write (written to a temporary name, then renamed).
    verify : bool
        Check each shard's hash while reading (default).
    overwrite : bool
        Replace an existing file; otherwise refuse.
    row_group_size : int
        Rows per Parquet row group.

    Returns
    -------
    pathlib.Path
        ``out``.

    Raises
    ------
    ValueError
        If ``out`` exists (without ``overwrite``), the dataset is unfinished
        or a shard fails its check; ``ImportError`` (with the install line)
        without pyarrow.

    Examples
    --------
    >>> from strokeseq.dataset import generate_dataset
    >>> from strokeseq.dataset.export import export_parquet
    >>> generate_dataset("digits", 200, {"length": 4, "width": 130}, seed=1)  # doctest: +SKIP
    >>> export_parquet("digits", "digits.parquet")  # doctest: +SKIP
    >>> import datasets  # doctest: +SKIP
    >>> ds = datasets.load_dataset("parquet", data_files="digits.parquet")["train"]  # doctest: +SKIP
    """
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise ImportError(
            'exporting to Parquet needs pyarrow: pip install "strokeseq[parquet]"'
        ) from exc
    if (
        not isinstance(row_group_size, int)
        or isinstance(row_group_size, bool)
        or row_group_size < 1
    ):
        raise ValueError(f"row_group_size must be a positive integer, got {row_group_size!r}")
    if not (Path(dataset) / "manifest.json").is_file():
        raise ValueError(f"{dataset} is not a strokeseq dataset folder (no manifest.json)")
    out = Path(out)
    if out.exists() and (out.is_dir() or not overwrite):
        raise ValueError(
            f"{out} already exists; choose another name"
            + ("" if out.is_dir() else " or pass overwrite=True / --overwrite")
        )
    if not out.parent.is_dir():
        raise ValueError(f"folder {out.parent} does not exist")
    shards = iter_shards(dataset, verify=verify)  # refuses unfinished sets before any write
    first = next(shards, None)
    schema = _schema()

    def write(fh) -> None:
        with pq.ParquetWriter(fh, schema) as writer:
            if first is None:
                writer.write_table(schema.empty_table())
            else:
                writer.write_table(_table(first[1], schema), row_group_size=row_group_size)
                for _entry, cols in shards:
                    writer.write_table(_table(cols, schema), row_group_size=row_group_size)

    atomic_write(out, write)
    return out
