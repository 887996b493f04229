"""Hard-case sets on disk: one NPZ of arrays, a JSON manifest and a CSV of labels.

Layout of a folder written by :func:`write_hardcases`::

    hardcases.npz   images (N, 28, W) uint8 in the requested polarity, labels,
                    axis, level, difficulty, gaps, contact, param_<name>,
                    and predictions when written by mining
    manifest.json   format, kind, counts, polarity, how the ladder was made
    labels.csv      one row per sample, for people and spreadsheets

The NPZ holds plain arrays only (strings as fixed-width unicode), so it loads
with ``numpy.load(..., allow_pickle=False)``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import atomic_write
from .ladder import CONTACT_NAMES, PARAM_NAMES, Ladder

__all__ = ["FORMAT", "read_hardcases", "write_hardcases"]

FORMAT = "strokeseq-hardcases/1"
_FILES = ("hardcases.npz", "manifest.json", "labels.csv")


def write_hardcases(
    out: str | Path,
    ladder: Ladder,
    *,
    ink: str = "black",
    overwrite: bool = False,
    predictions: Any = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Path]:
    """Write a ladder (or mined hard cases) into the folder ``out``.

    Parameters
    ----------
    out : str or path
        Folder; created if missing.
    ladder : Ladder
    ink : {"black", "white"}
        Polarity of the stored uint8 images: ``"black"`` (default, the
        package's page polarity: 255 background) or ``"white"`` (MNIST arrays).
    overwrite : bool
        Replace an existing set in ``out``; otherwise refuse.
    predictions : array-like, optional
        The model's output per sample (stored as ``predictions``).
    extra : dict, optional
        More JSON fields for the manifest.

    Returns
    -------
    dict of str to pathlib.Path
        ``npz``, ``manifest``, ``csv``.
    """
    if ink not in ("black", "white"):
        raise ValueError(f"ink must be 'black' or 'white', got {ink!r}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"{folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    paths = {k: folder / f for k, f in zip(("npz", "manifest", "csv"), _FILES, strict=True)}
    if not overwrite and any(p.exists() for p in paths.values()):
        raise ValueError(
            f"{folder} already holds a hard-case set; use overwrite=True / --overwrite"
        )
    x = np.clip(ladder.images, 0.0, 1.0)
    if ink == "black":
        x = 1.0 - x
    arrays: dict[str, np.ndarray] = {
        "images": np.rint(x * 255).astype(np.uint8),
        "labels": ladder.labels,
        "axis": ladder.axis.astype(str),
        "level": ladder.level,
        "difficulty": ladder.difficulty,
        "gaps": ladder.gaps,
        "contact": ladder.contact,
    }
    for k, v in ladder.params.items():
        arrays[f"param_{k}"] = v
    if predictions is not None:
        arrays["predictions"] = np.asarray(predictions).astype(str)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write(paths["npz"], buf.getvalue())
    manifest = {
        "format": FORMAT,
        "kind": ladder.kind,
        "count": len(ladder),
        "image_shape": list(ladder.images.shape[1:]),
        "ink": ink,
        "pixels": "uint8; ink='black': 255 background, ink towards 0; 'white': ink 255 on 0",
        "contact_codes": {str(k): v for k, v in CONTACT_NAMES.items()},
        "params": [*PARAM_NAMES, "index"],
        "ladder": ladder.info,
        **(extra or {}),
    }
    atomic_write(paths["manifest"], (json.dumps(manifest, indent=1) + "\n").encode())
    atomic_write(paths["csv"], _csv(ladder, predictions).encode())
    return paths


def _fmt(v: float) -> str:
    return "" if math.isnan(v) else f"{v + 0.0:.4g}"  # + 0.0: no "-0"


def _csv(ladder: Ladder, predictions: Any) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    names = [*PARAM_NAMES, "index"]
    head = ["sample", "axis", "level", "difficulty", "label", "gaps", "contact", *names]
    if predictions is not None:
        head.append("prediction")
    w.writerow(head)
    labels = ladder.label_strings
    pred = None if predictions is None else np.asarray(predictions).astype(str).tolist()
    # Per-digit params of sequences are joined with ';' (one value per digit).
    cols = {k: ladder.params[k].reshape(len(ladder), -1).tolist() for k in names}
    gaps = ladder.gaps.tolist()
    contact = ladder.contact.tolist()
    for i in range(len(ladder)):  # text output of N rows: no per-pixel work here
        row = [
            i,
            ladder.axis[i],
            int(ladder.level[i]),
            f"{float(ladder.difficulty[i]):.4g}",
            labels[i],
            ";".join(_fmt(g) for g in gaps[i]),
            ";".join(CONTACT_NAMES[c] for c in contact[i]),
            *(";".join(_fmt(v) for v in cols[k][i]) for k in names),
        ]
        if pred is not None:
            row.append(pred[i])
        w.writerow(row)
    return buf.getvalue()


def read_hardcases(folder: str | Path) -> tuple[Ladder, dict[str, Any]]:
    """Read a set written by :func:`write_hardcases`.

    Returns
    -------
    ladder : Ladder
        Images back in ink units (float32, ink 1.0).
    manifest : dict
        The manifest; ``manifest["predictions"]`` holds the stored predictions, if any.
    """
    folder = Path(folder)
    npz, man = folder / _FILES[0], folder / _FILES[1]
    if not npz.is_file() or not man.is_file():
        raise ValueError(f"{folder} is not a hard-case set (needs {_FILES[0]} and {_FILES[1]})")
    manifest = json.loads(man.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{man}: unknown format {manifest.get('format')!r}, expected {FORMAT!r}")
    with np.load(npz, allow_pickle=False) as f:
        data = {k: f[k] for k in f.files}
    x = data["images"].astype(np.float32) * np.float32(1 / 255)
    if manifest.get("ink", "black") == "black":
        x = 1.0 - x
    params = {k[len("param_") :]: v for k, v in data.items() if k.startswith("param_")}
    ladder = Ladder(
        kind=manifest["kind"],
        images=np.ascontiguousarray(x, np.float32),
        labels=data["labels"].astype(np.int64),
        axis=data["axis"],
        level=data["level"].astype(np.int64),
        difficulty=data["difficulty"].astype(np.float32),
        params=params,
        gaps=data["gaps"].astype(np.float32),
        contact=data["contact"].astype(np.int8),
        info=manifest.get("ladder", {}),
    )
    if "predictions" in data:
        manifest["predictions"] = data["predictions"]
    return ladder, manifest
