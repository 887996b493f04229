"""Making a whole dataset: check, lock the folder, plan shards, run them on an engine.

Resume semantics: the manifest lists finished shards only, and is replaced
atomically after each one. A shard file appears under its final name only
when complete (temporary name + rename). So after a kill at any moment the
folder holds a valid manifest, complete shards, and perhaps temporary files;
a new run with the same arguments (and the same digit data) deletes the
temporary files, keeps the shards the manifest lists (the very files written,
or matching their SHA-256: :mod:`strokeseq.dataset.resume`) and generates the
others. Since a shard is a pure function of (config, seed, shard range), the
result is byte-identical to an uninterrupted run. One run at a time holds the
folder (:mod:`strokeseq.dataset.folder_lock`); everything that can refuse a
run is checked before the folder is created. Engines: in this process, local
worker processes (:mod:`strokeseq.dataset.local_engine`) or Dask
(:mod:`strokeseq.dataset.dask_engine`)."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..validate import is_integer
from .config import DatasetConfig
from .folder_lock import FolderLock
from .manifest import (
    FORMAT,
    FORMAT_VERSION,
    versions,
    write_manifest,
)
from .resume import clean_temporaries, discard_if_empty, prepare, stamp
from .run_stats import DatasetSummary, RunAccounts, children_cpu
from .sampling import SampleContext, label_columns
from .shards import ShardJob, build_shard, release_buffer
from .writers import FORMATS

__all__ = ["DatasetSummary", "generate_dataset"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


def _plan(count: int, shard_size: int) -> list[tuple[int, int, int]]:
    return [
        (k, start, min(start + shard_size, count))
        for k, start in enumerate(range(0, count, shard_size))
    ]


#: Most shards in one dataset: the manifest lists every shard and is rewritten
#: after each one, so its size (~200 bytes a shard) must stay small.
MAX_SHARDS = 100_000
#: Most bytes of images in one shard (held in memory by each worker, twice while queued).
MAX_SHARD_BYTES = 2 << 30


def _check_args(count: Any, shard_size: Any, file_format: str, workers: Any) -> None:
    for name, v in (("count", count), ("shard_size", shard_size), ("workers", workers)):
        if not is_integer(v) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")
    if file_format not in FORMATS:
        raise ValueError(f"file_format must be one of {', '.join(FORMATS)}, got {file_format!r}")
    if workers > 1024:
        raise ValueError(f"workers must be at most 1024, got {workers}")


def _check_sizes(count: int, shard_size: int, cfg: DatasetConfig) -> None:
    """Refuse sizes that cannot be planned or held, before anything is allocated or created."""
    n_shards = -(-count // shard_size)
    if n_shards > MAX_SHARDS:
        raise ValueError(
            f"count {count:,} in shards of {shard_size:,} makes {n_shards:,} shards; the limit "
            f"is {MAX_SHARDS:,} shards (count <= {MAX_SHARDS * shard_size:,} at this shard "
            "size): use a larger shard size or several datasets"
        )
    per_sample = 28 * cfg.max_width
    need = min(count, shard_size) * per_sample
    if need > MAX_SHARD_BYTES:
        fit = max(MAX_SHARD_BYTES // per_sample, 1)
        raise ValueError(
            f"a shard of {min(count, shard_size):,} images of 28 x {cfg.max_width} px needs "
            f"{need / 2**30:,.1f} GiB of memory; the limit is {MAX_SHARD_BYTES / 2**30:.0f} GiB "
            f"per shard: use a shard size <= {fit:,}"
        )


def _level(compress: bool | int) -> int:
    if compress is True:
        return 1
    if compress is False or compress is None:
        return 0
    if not isinstance(compress, (int, np.integer)) or not 0 <= compress <= 9:
        raise ValueError(f"compress must be a bool or a zlib level 0-9, got {compress!r}")
    return int(compress)


def generate_dataset(
    out: str | os.PathLike[str],
    count: int,
    config: DatasetConfig | Mapping[str, Any] | None = None,
    seed: int | None = None,
    *,
    shard_size: int = 10_000,
    file_format: str = "npz",
    compress: bool | int = False,
    workers: int = 1,
    executor: Any = None,
    scheduler: str | None = None,
    transfer: str = "shared",
    data_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    verify: bool = False,
    fsync: bool = False,
    progress: Progress | None = None,
    wait: bool | float = False,
) -> DatasetSummary:
    """Generate (or finish) a sharded dataset in ``out``.

    Sample ``i`` is a pure function of ``(seed, config.split, i, config)``;
    shards hold consecutive samples ``[k * shard_size, (k + 1) * shard_size)``.

    Parameters
    ----------
    out : path
        Dataset folder (created if needed).
    count : int
        Number of samples.
    config : DatasetConfig or dict, optional
        What to generate (default :class:`DatasetConfig` ()).
    seed : int, optional
        Dataset seed; None takes the seed of the dataset being resumed in
        ``out``, or fresh OS entropy (recorded in the manifest).
    shard_size : int
        Samples per shard: the unit of work, of resumption and of memory.
    file_format : {"npz", "tar", "png"}
        NPZ arrays, WebDataset tar (``%06d.png`` + ``.json``), or a folder of
        PNGs with ``labels.csv`` per shard.
    compress : bool or int
        Deflate the NPZ entries: a zlib level 1-9, True for 1 (fast; see
        :func:`strokeseq.dataset.writers.write_npz`), False or 0 for none.
    workers : int
        Local processes making shards: this one and ``workers - 1`` worker
        processes (1: only this one), forked on Linux when this process runs
        no other thread, else spawned
        (:func:`strokeseq.dataset.local_engine.start_method`). Workers log
        through this process's logging configuration.
    executor : dask.distributed.Client, optional
        Run the shards as Dask tasks on this client.
    scheduler : str, optional
        Address of a Dask scheduler (``"tcp://host:8786"``) to connect to.
    transfer : {"shared", "client"}
        With Dask: workers write into ``out`` (which they must all see), or
        return the bytes and this process writes them.
    data_dir : path, optional
        Folder of the MNIST files (for this machine; workers resolve their own
        if it is None).
    overwrite : bool
        Replace a folder holding a different dataset (or other files).
    verify : bool
        Re-hash every shard kept from an earlier run (default: only those whose
        size, inode or modification time differ from when they were written).
    fsync : bool
        Flush each shard to disk before it is renamed (power-loss safety;
        not needed against killed processes).
    progress : callable, optional
        ``progress(done_samples, total_samples)``, called at the start and
        after every shard.
    wait : bool or float
        When another run holds ``out`` (one run per folder, see
        :mod:`strokeseq.dataset.folder_lock`): False refuses at once, True
        waits for it, a number waits at most that many seconds.

    Returns
    -------
    DatasetSummary

    Raises
    ------
    ValueError
        Bad arguments, sizes over the limits (:data:`MAX_SHARDS`,
        :data:`MAX_SHARD_BYTES`), a width that cannot fit, or a folder holding
        another dataset or other digit data.
    strokeseq.errors.DatasetLockedError
        (a ValueError) Another run holds the folder and ``wait`` did not allow waiting.
    OSError
        The folder cannot be created or written (disk full...): no partial
        shard is left under a final name.
    """
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    _check_args(count, shard_size, file_format, workers)
    if transfer not in ("shared", "client"):
        raise ValueError(f"transfer must be 'shared' or 'client', got {transfer!r}")
    cfg = DatasetConfig() if config is None else DatasetConfig.from_dict(config)
    _check_sizes(int(count), int(shard_size), cfg)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"output {folder} exists and is not a folder")
    lock = FolderLock(folder, wait)  # validates ``wait``
    head: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "config": cfg.to_dict(),
        "config_sha256": cfg.digest(),
        "seed": seed,
        "count": int(count),
        "shard_size": int(shard_size),
        "file_format": file_format,
        "compress": _level(compress) if file_format == "npz" else 0,
        "versions": versions(),
    }
    data = None if data_dir is None else str(data_dir)
    with contextlib.ExitStack() as stack:
        seen = None
        if workers > 1 and executor is None and scheduler is None:
            from .worker_logging import record_parent

            # What this process logs is not repeated when the workers say it too.
            seen = stack.enter_context(record_parent())
        run = _RunSpec(
            folder, head, cfg, data, lock, executor, scheduler, transfer, workers, overwrite,
            verify, fsync, progress, t0, cpu0,
        )  # fmt: skip
        return _checked_run(run, seen)


@dataclass
class _RunSpec:
    """What one run was asked to do, checked: passed down the run's steps as one value."""

    folder: Path
    head: dict[str, Any]
    cfg: DatasetConfig
    data: str | None
    lock: FolderLock
    executor: Any
    scheduler: str | None
    transfer: str
    workers: int
    overwrite: bool
    verify: bool
    fsync: bool
    progress: Progress | None
    t0: float  # perf_counter at the call
    cpu0: float  # process_time at the call


def _checked_run(run: _RunSpec, seen: set | None) -> DatasetSummary:
    """Check everything that can refuse the run, then lock the folder and run."""
    # Everything that can refuse the run is checked before the folder is
    # created or touched: a refused run leaves nothing behind. Loading each
    # source validates its options and tells what data it draws from.
    head = run.head
    probe = SampleContext(run.cfg, 0, run.data)
    with contextlib.ExitStack() as stack:
        pool = None
        n = min(run.workers, -(-head["count"] // head["shard_size"])) - 1
        if n >= 1 and run.executor is None and run.scheduler is None:
            from .local_engine import LocalWorkers

            # Started first: the workers import and load their data while this
            # process checks the run (stopped at once if it is refused).
            warm = ShardJob(probe, 0, 0, 0, head["file_format"], 0, None)
            pool = stack.enter_context(LocalWorkers(n, warm, seen))
        return _checked_run_with(run, pool, probe)


def _checked_run_with(run: _RunSpec, pool: Any, probe: SampleContext) -> DatasetSummary:
    folder, head, cfg = run.folder, run.head, run.cfg
    executor, scheduler = run.executor, run.scheduler
    head["data"] = {name: probe.source(name).data_identity() for name in cfg.source_names}
    probe.check_widths()
    probe.augmenter  # noqa: B018 - validates the augmentation config
    client, owned = None, False
    if executor is not None or scheduler is not None:
        from .dask_engine import connect

        client, owned = connect(executor, scheduler)
    created = not folder.exists()
    held = False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with run.lock:
            held = True
            try:
                return _run(run, client, pool)
            except BaseException:
                if created:  # cleared while still held, so no waiter sees it half-removed
                    discard_if_empty(folder, keep_lock=True)
                raise
    except BaseException:
        # Only a run that held the folder clears it: a run refused because
        # another one holds it (both created it at once) leaves it alone.
        if created and held:
            discard_if_empty(folder)
        raise
    finally:
        if owned:
            client.close()


def _run(run: _RunSpec, client: Any, pool: Any) -> DatasetSummary:
    """The run proper, with the folder locked (``pool``: started local workers, or None)."""
    folder, head, cfg, data, transfer = run.folder, run.head, run.cfg, run.data, run.transfer
    overwrite, verify, fsync, progress = run.overwrite, run.verify, run.fsync, run.progress
    t0, cpu0 = run.t0, run.cpu0
    count, file_format = head["count"], head["file_format"]
    kept = prepare(folder, head, overwrite, verify)
    if head["seed"] is None:
        head["seed"] = int(np.random.SeedSequence().entropy)  # type: ignore[arg-type]
        log.info("no seed given: using %d", head["seed"])
    ctx = SampleContext(cfg, head["seed"], data)
    aug = ctx.augmenter
    head["augment"] = aug.to_config() if aug is not None else None
    head["columns"] = {
        name: {"dtype": dt.str, "shape": list(shape), "pad": None if pad != pad else pad}
        for name, (shape, dt, pad) in label_columns(ctx).items()
    }
    head["columns"]["images"] = {
        "dtype": "|u1",
        "shape": [28, cfg.max_width],
        "pad": 255 if cfg.ink == "black" else 0,
    }
    plan = _plan(count, head["shard_size"])
    done = {e["id"]: e for e in kept}
    manifest = dict(head, shards=sorted(done.values(), key=lambda e: e["id"]), complete=False)
    write_manifest(folder, manifest)  # also proves the folder is writable before any work
    clean_temporaries(folder)
    todo = [
        ShardJob(
            ctx,
            k,
            a,
            b,
            file_format,
            head["compress"],
            None if transfer == "client" and client is not None else str(folder),
            fsync,
            head["data"],
        )
        for k, a, b in plan
        if k not in done
    ]
    n_done = sum(e["count"] for e in done.values())
    if progress:
        progress(n_done, count)
    accounts = RunAccounts()

    def record(entry: dict[str, Any]) -> None:
        nonlocal n_done
        if "payload" in entry:
            from .shards import store_payload

            payload = entry.pop("payload")
            entry["bytes"], entry["sha256"] = store_payload(
                folder, entry["file"], file_format, payload, fsync
            )
        st = entry.pop("_stats", None)
        if st is not None:
            accounts.add(dict(st, id=entry["id"]))
        path = folder / entry["file"]
        if not path.is_dir():
            entry["stat"] = stamp(path)
        done[entry["id"]] = entry
        manifest["shards"] = sorted(done.values(), key=lambda e: e["id"])
        write_manifest(folder, manifest)
        n_done += entry["count"]
        if progress:
            progress(n_done, count)

    setup_cpu = time.process_time() - cpu0
    setup_end = time.monotonic()
    children0 = children_cpu()
    try:
        if client is not None:
            from .dask_engine import run_dask

            run_dask(todo, record, client=client)
        elif pool is None or len(todo) <= 1:
            if pool is not None:
                pool.kill()  # nothing for them to do: no need to wait for their start-up
            for job in todo:
                record(build_shard(job))
        else:
            pool.run(todo, record)
    except BaseException:
        if pool is not None:
            pool.kill()  # first: no worker may write after the temporaries are removed
        raise
    finally:
        engine_end = time.monotonic()
        release_buffer()
        with contextlib.suppress(OSError):
            clean_temporaries(folder)
    manifest["complete"] = len(done) == len(plan)
    write_manifest(folder, manifest)
    if pool is not None:
        pool.close()  # wait for the workers to exit: reaped, their CPU time counts below
    return DatasetSummary(
        folder=folder,
        count=count,
        shards=len(plan),
        shards_written=len(todo),
        shards_kept=len(kept),
        samples_written=sum(j.stop - j.start for j in todo),
        seconds=time.perf_counter() - t0,
        seed=head["seed"],
        bytes=sum(e["bytes"] for e in done.values()),
        worker_maxrss_mb=accounts.rss,
        cpu=accounts.cpu(
            parent=time.process_time() - cpu0,
            parent_setup=setup_cpu,
            children=children_cpu() - children0,
            start_method=getattr(pool, "method", None),
            timeline={
                "start": time.monotonic() - (time.perf_counter() - t0),
                "setup_end": setup_end,
                "engine_end": engine_end,
                "end": time.monotonic(),
            },
        ),
    )
