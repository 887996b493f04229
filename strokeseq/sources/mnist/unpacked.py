"""Unpacked, verified, memory-mapped copies of the MNIST files, and tables derived from them.

A big ``.gz`` file (:data:`UNPACK_MIN_BYTES`) is unpacked once into
``<cache>/unpacked/<name>.<source key>.<version key>`` with a CRC-32 record
beside it (``<copy>.json``); later processes map the copy after checking the
CRC-32, and rebuild it when it does not match. A new copy removes the older
copies of the same source. Tables computed from a file (the ink boxes) are
stored beside its copy and verified with it (:func:`derived_table`).
Where the files come from is :mod:`.files`' business.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import hashlib
import io
import json
import logging
import mmap
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ...atomic import atomic_write
from .idx import HeaderCheck, expect_header, read_idx, read_idx_bytes, read_idx_raw

__all__ = ["UNPACK_MIN_BYTES", "derived_table"]

logger = logging.getLogger(__name__)


def _cache_dir() -> Path:
    from .files import cache_dir  # files imports this module: look it up late

    return cache_dir()


def _unpack_enabled() -> bool:
    from .files import _env_flag

    return _env_flag("STROKESEQ_UNPACK", True)


#: Compressed files at least this big (bytes) are unpacked once into
#: ``<cache>/unpacked/`` and memory-mapped from there afterwards: gunzipping
#: train-images costs ~0.2 s per process, mapping the unpacked copy ~1 ms, and
#: worker processes then share its pages. ``STROKESEQ_UNPACK=0`` turns it off.
UNPACK_MIN_BYTES = 1_000_000

#: Largest data an MNIST-format file may declare in its header (bytes): 1 GiB
#: of images is ~1.4 million digits (EMNIST "byclass" has 0.8 million); label
#: files are capped at the same count. Checked before anything is decompressed.
MAX_IMAGES_BYTES = 1 << 30
MAX_ROWS = MAX_IMAGES_BYTES // (28 * 28)


def _header_check(path: str) -> HeaderCheck:
    """What the header of an MNIST/QMNIST file must declare, judged by its name."""
    name = Path(path).name
    if name.startswith("qmnist"):
        return expect_header("i4", (None, None), max_bytes=MAX_ROWS * 8 * 4)
    if "images" in name:
        return expect_header("u1", (None, 28, 28), max_bytes=MAX_IMAGES_BYTES)
    return expect_header("u1", (None,), max_bytes=MAX_ROWS)


@dataclasses.dataclass(frozen=True)
class _Loaded:
    """A file's array and, when it has one, its verified unpacked copy."""

    array: np.ndarray
    copy: Path | None = None  # the unpacked copy the array maps
    crc: int | None = None  # CRC-32 of the copy, checked when it was mapped


@functools.lru_cache(maxsize=16)
def _read_cached(path: str, mtime_ns: int, size: int) -> _Loaded:
    """Read an IDX file once per process per file version (arrays are read-only).

    A big compressed file is unpacked once into the cache and memory-mapped
    afterwards. The copy's CRC-32 is recorded beside it when it is made and
    checked each time a process maps it (one pass over the 47 MB of
    train-images, ~15-30 ms, well inside the script's start-up budget): a
    damaged, zeroed or reordered copy is detected, logged and rebuilt from the
    source file. CRC-32 catches accidental damage, not a deliberate forgery
    (whoever can write the cache can write the source folder too).
    """
    check = _header_check(path)
    if size < UNPACK_MIN_BYTES or not _unpack_enabled():
        return _Loaded(read_idx(path, check=check))
    unpacked = _unpacked_path(path, mtime_ns, size)
    if unpacked.is_file():
        loaded = _map_verified(unpacked, path, check)
        if loaded is not None:
            return loaded
    with open(path, "rb") as f:
        magic = f.read(2)
    if magic != b"\x1f\x8b":
        return _Loaded(read_idx(path, mmap=True, check=check))  # uncompressed: map it
    raw = read_idx_raw(path, check=check)  # validated (streamed, capped) before it is stored
    array = read_idx_bytes(raw, path)
    crc = zlib.crc32(raw)
    if _store_unpacked(unpacked, raw, crc):
        _remove_stale_copies(unpacked)
        return _Loaded(array, unpacked, crc)
    return _Loaded(array)


def _map_verified(unpacked: Path, source: str, check: HeaderCheck) -> _Loaded | None:
    """Map ``unpacked`` if its recorded checksum matches; else remove it (None)."""
    try:
        recorded = json.loads(_sum_path(unpacked).read_text())
        with open(unpacked, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            crc = zlib.crc32(m)
            size = len(m)
        if recorded.get("crc32") != crc or recorded.get("bytes") != size:
            raise ValueError(
                f"checksum mismatch (recorded crc32 {recorded.get('crc32')} of "
                f"{recorded.get('bytes')} bytes, found {crc} of {size})"
            )
        return _Loaded(read_idx(unpacked, mmap=True, check=check), unpacked, crc)
    except (OSError, ValueError, AttributeError) as exc:  # missing or bad record, damage
        logger.warning(
            "unpacked copy %s of %s is damaged (%s); rebuilding it from the source",
            unpacked,
            source,
            exc,
        )
        for stale in (unpacked, _sum_path(unpacked)):
            with contextlib.suppress(OSError):
                stale.unlink()
        return None


def _source_key(path: str) -> str:
    return hashlib.sha256(path.encode()).hexdigest()[:8]


def _unpacked_path(path: str, mtime_ns: int, size: int) -> Path:
    """Cache name of the unpacked copy: ``<stem>.<source key>.<version key>``.

    The version key changes whenever the source does (size, mtime); the source
    key lets a new copy find and remove the older copies of the same source.
    """
    version = hashlib.sha256(f"{path}\0{size}\0{mtime_ns}".encode()).hexdigest()[:8]
    stem = Path(path).name.removesuffix(".gz")
    return _cache_dir() / "unpacked" / f"{stem}.{_source_key(path)}.{version}"


def _sum_path(unpacked: Path) -> Path:
    """The checksum record of an unpacked copy."""
    return unpacked.with_name(unpacked.name + ".json")


def _store_unpacked(dest: Path, raw: bytes | bytearray, crc: int) -> bool:
    """Store the copy and its checksum record; a read-only cache only costs speed.

    The record is written first: a copy without a record is treated as
    damaged, so a crash between the two renames costs one rebuild.
    """
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        record = {"crc32": crc, "bytes": len(raw), "format": 1}
        atomic_write(_sum_path(dest), json.dumps(record).encode())
        atomic_write(dest, raw)
        return True
    except OSError as exc:
        logger.debug("could not store unpacked copy %s: %s", dest, exc)
        return False


def _remove_stale_copies(current: Path) -> None:
    """Remove older copies (and their records and tables) of the same source.

    Processes still mapping an old copy keep their pages (POSIX unlink
    semantics); where the removal fails (Windows), the copy stays until later.
    """
    stem, key, _version = current.name.rsplit(".", 2)
    for old in current.parent.glob(f"{glob.escape(stem)}.{key}.*"):
        if not old.name.startswith(current.name):
            with contextlib.suppress(OSError):
                old.unlink()
                logger.debug("removed stale unpacked copy %s", old)


def _read(path: Path) -> np.ndarray:
    return _load(path).array


def _load(path: Path) -> _Loaded:
    st = path.stat()
    return _read_cached(str(path.resolve()), st.st_mtime_ns, st.st_size)


def derived_table(path: Path, tag: str, compute: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``compute(array of path)``, cached beside the file's unpacked copy.

    The table is stored as ``<copy>.<tag>.npy`` with a record holding the
    copy's CRC-32 (verified when the copy was mapped) and the table's own: a
    table made from other data, or damaged, is recomputed and replaced. Files
    without an unpacked copy (small, uncompressed, ``STROKESEQ_UNPACK=0``, or
    an unwritable cache) compute the table every time.

    Parameters
    ----------
    path : pathlib.Path
        An IDX file, as found by :func:`mnist_paths`.
    tag : str
        Name of the table (letters, digits and ``_``), e.g. ``"inkbox"``.
    compute : callable
        ``compute(array) -> numpy.ndarray`` of a numeric dtype.

    Returns
    -------
    numpy.ndarray
        The table (read-only when it comes from the cache).
    """
    loaded = _load(path)
    if loaded.copy is None:
        return compute(loaded.array)
    table_path = loaded.copy.with_name(f"{loaded.copy.name}.{tag}.npy")
    record_path = table_path.with_name(table_path.name + ".json")
    try:
        record = json.loads(record_path.read_text())
        content = table_path.read_bytes()
        if record.get("data_crc32") != loaded.crc or record.get("crc32") != zlib.crc32(content):
            raise ValueError("checksum mismatch")
        table = np.load(io.BytesIO(content), allow_pickle=False)
        table.flags.writeable = False
        return table
    except FileNotFoundError:
        pass
    except (OSError, ValueError, AttributeError) as exc:
        logger.warning("recomputing damaged table %s: %s", table_path, exc)
    table = np.ascontiguousarray(compute(loaded.array))
    buf = io.BytesIO()
    np.save(buf, table, allow_pickle=False)
    content = buf.getvalue()
    try:
        record = {"data_crc32": loaded.crc, "crc32": zlib.crc32(content), "format": 1}
        atomic_write(record_path, json.dumps(record).encode())
        atomic_write(table_path, content)
    except OSError as exc:
        logger.debug("could not store %s: %s", table_path, exc)
    return table
