"""One sample's labels as a plain dict (JSON, CSV, ``SequenceDataset``) and back to columns.

The columns of a shard (``digits``, ``boxes``...) are padded to the longest
sequence; a record holds only the sample's own ``length`` entries, so it is
what a training loop or a person wants to read.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .config import source_code, source_name

__all__ = ["CSV_FIELDS", "csv_row", "record", "records_to_columns"]

#: Scalar fields of a record, then the per-digit lists (space-separated in CSV).
_SCALARS = ("index", "text", "length", "width", "source")
CSV_FIELDS = ("file", *_SCALARS, "digits", "boxes", "gaps", "src_index", "src_writer")


def _py(v: Any) -> Any:
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, np.integer):
        return int(v)
    return v


def record(cols: dict[str, np.ndarray], r: int) -> dict[str, Any]:
    """Labels of row ``r`` of a shard's columns.

    Keys: ``index``, ``text`` (the digit string), ``length``, ``width`` (of the
    image, before any padding), ``source`` (``"mnist"`` or ``"synthetic"``),
    ``digits``, ``boxes`` (``[x0, x1, y0, y1]`` per digit), ``gaps``,
    ``src_index`` / ``src_writer`` (MNIST image index and QMNIST writer of
    each digit, -1 when not applicable or unknown) and, for synthetic digits,
    ``syn_<parameter>`` per digit.
    """
    n = int(cols["length"][r])
    source = source_name(cols["source"][r])
    out: dict[str, Any] = {
        "index": int(cols["index"][r]),
        "text": str(cols["text"][r]),
        "length": n,
        "width": int(cols["width"][r]),
        "source": source,
        "digits": cols["digits"][r, :n].tolist(),
        "boxes": cols["boxes"][r, :n].tolist(),
        "gaps": cols["gaps"][r, : max(n - 1, 0)].tolist(),
        "src_index": cols["src_index"][r, :n].tolist(),
        "src_writer": cols["src_writer"][r, :n].tolist(),
    }
    if source == "synthetic":
        for key in sorted(k for k in cols if k.startswith("syn_")):
            out[key] = [_py(v) for v in cols[key][r, :n].tolist()]
    return out


def csv_row(rec: dict[str, Any], file: str) -> list[str]:
    """A ``labels.csv`` row: lists are space-separated (boxes: 4 numbers per digit)."""
    row = [file] + [str(rec[k]) for k in _SCALARS]
    row.append(" ".join(map(str, rec["digits"])))
    row.append(" ".join(str(v) for box in rec["boxes"] for v in box))
    for key in ("gaps", "src_index", "src_writer"):
        row.append(" ".join(map(str, rec[key])))
    return row


def records_to_columns(
    records: list[dict[str, Any]], schema: dict[str, dict[str, Any]]
) -> dict[str, np.ndarray]:
    """Padded columns (as in an NPZ shard) from records and the manifest's column schema."""
    n = len(records)
    out: dict[str, np.ndarray] = {}
    for name, spec in schema.items():
        if name == "images":
            continue
        pad = spec["pad"]
        dt = np.dtype(spec["dtype"])
        out[name] = np.full((n, *spec["shape"]), np.nan if pad is None else pad, dt)
    for r, rec in enumerate(records):
        k = rec["length"]
        for name in ("index", "text", "length", "width"):
            out[name][r] = rec[name]
        out["source"][r] = source_code(rec["source"])
        out["digits"][r, :k] = rec["digits"]
        if k:
            out["boxes"][r, :k] = rec["boxes"]
        if k > 1:
            out["gaps"][r, : k - 1] = rec["gaps"]
        out["src_index"][r, :k] = rec["src_index"]
        out["src_writer"][r, :k] = rec["src_writer"]
        for key, value in rec.items():
            if key.startswith("syn_") and key in out:
                out[key][r, :k] = value
    return out
