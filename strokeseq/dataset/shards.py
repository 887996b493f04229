"""One shard: generate its samples, write it under a temporary name, hash it, rename it.

:func:`build_shard` is the unit of work of every engine (in-process, local
processes, Dask). It is a pure function of its :class:`ShardJob`, so any
engine, any number of times, produces the same bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..atomic import atomic_write
from .onepass import FileLayout
from .sampling import SampleContext, generate
from .writers import png_files, shard_name, write_npz, write_tar

__all__ = ["ShardJob", "build_shard", "hash_shard", "png_listing", "store_payload"]

_BLOCK = 1 << 20

#: This process's start-up milestones (``time.monotonic()``), set by a worker
#: process as it starts; reported with each shard's statistics.
PROCESS_TIMES: dict[str, float] = {}


@dataclass(frozen=True)
class ShardJob:
    """Everything a worker needs to make one shard (small and picklable).

    Parameters
    ----------
    ctx : SampleContext
        The run's sample context (config, seed, data folder); its sources are
        loaded lazily in the process that makes the shard.
    shard : int
        Shard number (its file name, :func:`strokeseq.dataset.writers.shard_name`).
    start, stop : int
        The samples ``start <= i < stop`` it holds.
    file_format : {"npz", "tar", "png"}
        What to write.
    compress : int
        zlib level of the NPZ entries, 0 for none.
    folder : str or None
        Folder to write into; None: :func:`build_shard` returns the bytes.
    fsync : bool, default False
        Flush the file to the disk before its rename.
    data : dict, optional
        The run's digit-data identity (the manifest's ``data``): a process
        that would draw from other data refuses the shard.

    Examples
    --------
    >>> from strokeseq.dataset.config import DatasetConfig
    >>> from strokeseq.dataset.sampling import SampleContext
    >>> cfg = DatasetConfig.from_dict({"source": "synthetic", "length": 2, "width": 60})
    >>> job = ShardJob(SampleContext(cfg, 7, None), 3, 30, 40, "npz", 0, None)
    >>> job.name, job.stop - job.start
    ('shard-000003.npz', 10)
    """

    ctx: SampleContext
    shard: int
    start: int
    stop: int
    file_format: str
    compress: int  # zlib level of NPZ entries, 0 for none
    #: Folder to write into; None: return the bytes to the caller instead.
    folder: str | None
    fsync: bool = False
    #: The run's digit-data identity (manifest ``data``): a worker that would
    #: draw from other data (another MNIST set on a Dask node) refuses.
    data: dict[str, Any] | None = None

    @property
    def name(self) -> str:
        return shard_name(self.file_format, self.shard)


def _tmp_name(name: str) -> str:
    # Unique per writer: a restarted run never collides with a killed one's leftovers.
    return f".{name}.tmp-{os.getpid()}-{secrets.token_hex(4)}"


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def _hash_listing(entries: Iterable[tuple[str, str]]) -> str:
    """SHA-256 of ``sha256sum``-style lines (``<hex>  <name>``), sorted by name."""
    text = "".join(f"{digest}  {name}\n" for name, digest in sorted(entries))
    return hashlib.sha256(text.encode()).hexdigest()


def png_listing(path: Path) -> list[str]:
    """Files of a PNG-folder shard: ``labels.csv`` and the images it names.

    Anything else in the folder (``.ipynb_checkpoints``, thumbnails) is not
    part of the shard and is ignored.

    Parameters
    ----------
    path : pathlib.Path
        The shard's folder.

    Returns
    -------
    list of str
        The image files in ``labels.csv``'s order, then ``labels.csv``.

    Raises
    ------
    strokeseq.errors.DatasetError
        ``labels.csv`` is missing or unreadable, or names a file that is not
        a plain file name or is not there.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> shard = Path(tempfile.mkdtemp())
    >>> _ = (shard / "labels.csv").write_text(chr(10).join(["file,text", "0_12.png,12"]))
    >>> _ = (shard / "0_12.png").write_bytes(b"...")
    >>> _ = (shard / "thumbs.db").write_bytes(b"")  # not in labels.csv: ignored
    >>> png_listing(shard)
    ['0_12.png', 'labels.csv']
    """
    import csv

    from ..errors import DatasetError

    try:
        with open(path / "labels.csv", newline="", encoding="utf-8") as fh:
            names = [row.get("file") for row in csv.DictReader(fh)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"PNG shard {path}: cannot read labels.csv ({exc})") from None
    for name in names:
        if not isinstance(name, str) or not name or name != Path(name).name or name == "..":
            raise DatasetError(f"PNG shard {path}: labels.csv names the file {name!r}")
        if not (path / name).is_file():
            raise DatasetError(f"PNG shard {path}: {name} (named in labels.csv) is missing")
    return [*names, "labels.csv"]


def hash_shard(path: Path) -> tuple[int, str]:
    """Size in bytes and SHA-256 of a shard file, or of a PNG shard folder's listing.

    A PNG folder's listing covers ``labels.csv`` and the images it names
    (:func:`png_listing`); stray entries do not count.

    Parameters
    ----------
    path : pathlib.Path
        A shard file (NPZ, tar) or a PNG shard's folder.

    Returns
    -------
    tuple of (int, str)
        Size in bytes (a folder: the sum of its listed files) and the
        hexadecimal SHA-256, as the manifest records them.

    Raises
    ------
    OSError
        The shard cannot be read.
    strokeseq.errors.DatasetError
        A PNG folder's ``labels.csv`` is missing or names a missing file.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> f = Path(tempfile.mkdtemp()) / "shard-000000.npz"
    >>> _ = f.write_bytes(b"abc")
    >>> hash_shard(f)
    (3, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
    """
    if path.is_dir():
        entries, size = [], 0
        for name in png_listing(path):
            f = path / name
            entries.append((name, _hash_file(f)))
            size += f.stat().st_size
        return size, _hash_listing(entries)
    return path.stat().st_size, _hash_file(path)


def _write_stream(job: ShardJob, cols: dict[str, np.ndarray], fh: IO[bytes]) -> None:
    if job.file_format == "npz":
        write_npz(fh, cols, compress=job.compress)
    else:
        write_tar(fh, cols)


def _store_file(folder: Path, name: str, write: Callable[[IO[bytes]], None], fsync: bool):
    # The writer lays the file out in memory (headers copied, array data by
    # reference), then it is written and hashed block by block in one pass:
    # no second pass reading the file back (see strokeseq.dataset.onepass).
    layout = FileLayout()
    write(layout)
    got: list[tuple[int, str]] = []
    atomic_write(folder / name, lambda fh: got.append(layout.replay(fh)), fsync=fsync)
    return got[0]  # only ever a whole shard under the final name


def _store_dir(folder: Path, name: str, files: Iterable[tuple[str, bytes]], fsync: bool):
    tmp = folder / _tmp_name(name)
    try:
        tmp.mkdir()
        entries, size = [], 0
        for fname, data in files:
            with open(tmp / fname, "wb") as fh:
                fh.write(data)
                if fsync:
                    os.fsync(fh.fileno())
            entries.append((fname, hashlib.sha256(data).hexdigest()))
            size += len(data)
        final = folder / name
        if final.exists():  # a finished but unrecorded shard of a killed run: same content
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return size, _hash_listing(entries)


def store_payload(folder: Path, name: str, file_format: str, payload: Any, fsync: bool = False):
    """Write a shard returned as bytes (Dask ``transfer="client"``) atomically; (size, sha256).

    Parameters
    ----------
    folder : pathlib.Path
        The dataset folder.
    name : str
        The shard's file (or PNG folder) name.
    file_format : {"npz", "tar", "png"}
        Its format.
    payload : bytes or iterable of (str, bytes)
        The ``payload`` of :func:`build_shard`'s entry: the file's bytes, or a
        PNG folder's ``(file name, bytes)`` pairs.
    fsync : bool, default False
        Flush to the disk before the rename.

    Returns
    -------
    tuple of (int, str)
        Size in bytes and SHA-256, as :func:`hash_shard` gives them.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = Path(tempfile.mkdtemp())
    >>> store_payload(folder, "shard-000000.npz", "npz", b"abc")[0]
    3
    >>> hash_shard(folder / "shard-000000.npz") == store_payload(
    ...     folder, "shard-000000.npz", "npz", b"abc")
    True
    """
    if file_format == "png":
        return _store_dir(folder, name, payload, fsync)
    return _store_file(folder, name, lambda fh: fh.write(payload), fsync)


_DATA_CHECKED: set[str] = set()


def _check_data(job: ShardJob) -> None:
    """Refuse to draw from other digit data than the run recorded (once per process)."""
    import json

    from ..errors import DatasetError
    from .resume import describe_data

    key = json.dumps([job.data, job.ctx.data_dir], sort_keys=True)
    if key in _DATA_CHECKED:
        return
    here = {name: job.ctx.source(name).data_identity() for name in job.data}
    if here != job.data:
        raise DatasetError(
            f"shard {job.shard}: this worker (pid {os.getpid()}) would draw from other digit "
            f"data than the run recorded in its manifest ({describe_data(job.data, here)}); "
            "give every worker the same strokeseq, MNIST files (and QMNIST writer files, "
            "or none) and stroke model"
        )
    _DATA_CHECKED.add(key)


def _load_sources(job: ShardJob) -> None:
    """Load the job's sources (once per process) and check their data."""
    for name in job.ctx.config.source_names:
        job.ctx.source(name)
    if job.data is not None:
        _check_data(job)


#: Per thread (by ident): the image array of the thread's last shard, reused by its
#: next one of the same shape (a fresh array of a shard's size pays its page faults,
#: tens of MB, every time). A dict rather than ``threading.local`` so that a run can
#: free the buffers of every thread (Dask's worker threads outlive a run).
_BUFFERS: dict[int, np.ndarray] = {}
_BUFFERS_LOCK = threading.Lock()


def _image_buffer(job: ShardJob) -> np.ndarray:
    shape = (job.stop - job.start, 28, job.ctx.config.max_width)
    me = threading.get_ident()
    with _BUFFERS_LOCK:
        buf = _BUFFERS.pop(me, None)
        if _BUFFERS:  # drop the buffers of threads that have ended
            live = {t.ident for t in threading.enumerate()}
            for ident in [i for i in _BUFFERS if i not in live]:
                del _BUFFERS[ident]
    if buf is None or buf.shape != shape:
        buf = None  # free the old one first
        buf = np.empty(shape, np.uint8)
    with _BUFFERS_LOCK:
        _BUFFERS[me] = buf
    return buf


def release_buffer() -> None:
    """Free this thread's reused image array (a local run calls it when it ends).

    Examples
    --------
    >>> release_buffer()  # nothing to free is fine
    """
    with _BUFFERS_LOCK:
        _BUFFERS.pop(threading.get_ident(), None)


def release_buffers() -> int:
    """Free the reused image arrays of every thread of this process; how many were freed.

    A Dask run calls it on every worker when it ends (``client.run``): the
    workers' threads live on, and so would one shard's images per thread.
    A shard being made keeps its own array until it is done.

    Returns
    -------
    int
        How many arrays were freed.

    Examples
    --------
    >>> release_buffers() >= 0
    True
    """
    with _BUFFERS_LOCK:
        n = len(_BUFFERS)
        _BUFFERS.clear()
    return n


def build_shard(job: ShardJob) -> dict[str, Any]:
    """Generate and write one shard; return its manifest entry.

    With ``job.folder`` set, the shard is written there (temporary name, then
    renamed) and the entry carries its size and SHA-256; otherwise the entry
    carries ``payload`` (the file's bytes, or ``(name, bytes)`` pairs for a
    PNG folder) for the caller to store with :func:`store_payload`. The entry
    also carries ``_stats`` (not stored in the manifest): the process that
    made it, its peak memory and the CPU seconds of each stage.

    Parameters
    ----------
    job : ShardJob
        The shard to make.

    Returns
    -------
    dict
        ``id``, ``start``, ``stop``, ``count``, ``file``, then ``bytes`` and
        ``sha256`` (written) or ``payload`` (returned), and ``_stats``.

    Raises
    ------
    OSError
        The shard cannot be written (the message names the shard and folder).
    strokeseq.errors.DatasetError
        This process would draw from other digit data than ``job.data``.

    Examples
    --------
    >>> import tempfile
    >>> from strokeseq.dataset.config import DatasetConfig
    >>> from strokeseq.dataset.sampling import SampleContext
    >>> cfg = DatasetConfig.from_dict({"source": "synthetic", "length": 2, "width": 60})
    >>> ctx, folder = SampleContext(cfg, 7, None), tempfile.mkdtemp()
    >>> entry = build_shard(ShardJob(ctx, 0, 0, 4, "npz", 0, folder))
    >>> entry["file"], entry["count"], len(entry["sha256"])
    ('shard-000000.npz', 4, 64)
    >>> from pathlib import Path
    >>> hash_shard(Path(folder) / entry["file"]) == (entry["bytes"], entry["sha256"])
    True
    >>> same = build_shard(ShardJob(ctx, 0, 0, 4, "npz", 0, None))  # bytes, not written
    >>> len(same["payload"]) == entry["bytes"]
    True
    """
    import resource

    wall0 = time.monotonic()
    cpu0 = time.process_time()
    _load_sources(job)
    cpu1 = time.process_time()
    cols = generate(job.ctx, np.arange(job.start, job.stop, dtype=np.int64), _image_buffer(job))
    cpu2 = time.process_time()
    entry: dict[str, Any] = {
        "id": job.shard,
        "start": job.start,
        "stop": job.stop,
        "count": job.stop - job.start,
        "file": job.name,
    }
    if job.folder is None:
        if job.file_format == "png":
            entry["payload"] = list(png_files(cols))
        else:
            buf = io.BytesIO()
            _write_stream(job, cols, buf)
            entry["payload"] = buf.getvalue()
    else:
        folder = Path(job.folder)
        try:
            if job.file_format == "png":
                size, digest = _store_dir(folder, job.name, png_files(cols), job.fsync)
            else:
                size, digest = _store_file(
                    folder, job.name, lambda fh: _write_stream(job, cols, fh), job.fsync
                )
        except OSError as exc:
            raise OSError(
                exc.errno, f"cannot write shard {job.shard} to {folder}: {exc.strerror or exc}"
            ) from exc
        entry["bytes"], entry["sha256"] = size, digest
    cpu3 = time.process_time()
    # Worker statistics (not stored in the manifest): who made it, peak memory,
    # CPU seconds: of the process before this shard, loading, generating, writing.
    entry["_stats"] = {
        "pid": os.getpid(),
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "cpu_before": cpu0,
        "load": cpu1 - cpu0,
        "generate": cpu2 - cpu1,
        "write": cpu3 - cpu2,
        # system-wide clock (CLOCK_MONOTONIC on Linux): a timeline across processes
        "wall": (wall0, time.monotonic()),
        **PROCESS_TIMES,
    }
    return entry
