"""Shards as Dask tasks: the same :func:`build_shard`, on a cluster.

Each shard is one task with an explicit key ``strokeseq-shard-<run>-<id>``
(a fresh ``<run>`` token per call), so Dask never merges two shards and never
serves a result cached from an earlier run. Workers either write into the
dataset folder themselves (it must be the same path on every worker: a shared
file system) or return the shard's bytes for this process to write. Results
are recorded as they complete, so the manifest stays resumable.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from .shards import ShardJob, build_shard, release_buffers

__all__ = ["connect", "run_dask"]

log = logging.getLogger(__name__)


#: How long to try reaching a scheduler before giving up.
CONNECT_TIMEOUT = "30s"


def connect(client: Any, address: str | None) -> tuple[Any, bool]:
    """The Dask client to use and whether the caller must close it.

    ``client`` is used as given (left open); otherwise a client connects to
    ``address``. Called before the dataset folder is created, so an
    unreachable scheduler leaves nothing behind.

    Raises
    ------
    ValueError
        Dask is not installed.
    OSError
        The scheduler cannot be reached within :data:`CONNECT_TIMEOUT`.
    """
    try:
        from dask.distributed import Client
    except ImportError:
        raise ValueError(
            "Dask is not installed: pip install 'strokeseq[dask]' to use a scheduler"
        ) from None
    if client is not None:
        return client, False
    try:
        return Client(address, timeout=CONNECT_TIMEOUT), True
    except OSError as exc:
        raise OSError(f"cannot connect to the Dask scheduler at {address}: {exc}") from exc


def run_dask(
    jobs: list[ShardJob],
    record: Callable[[dict[str, Any]], None],
    *,
    client: Any = None,
    address: str | None = None,
) -> None:
    """Run ``jobs`` on a Dask cluster, calling ``record(entry)`` as each shard completes.

    Parameters
    ----------
    jobs : list of ShardJob
        Shards to make.
    record : callable
        Called in this process with each shard's manifest entry.
    client : dask.distributed.Client, optional
        An existing client (left open).
    address : str, optional
        Scheduler address, used when ``client`` is None (the client is closed after).
    """
    if not jobs:
        return
    from dask.distributed import as_completed

    dc, owned = connect(client, address)
    run = secrets.token_hex(4)
    futures = []
    try:
        for job in jobs:
            futures.append(
                dc.submit(
                    build_shard, job, key=f"strokeseq-shard-{run}-{job.shard:06d}", pure=False
                )
            )
        log.info("submitted %d shard tasks to %s", len(futures), dc)
        for fut in as_completed(futures):
            entry = fut.result()  # re-raises the worker's exception
            fut.release()  # the bytes (transfer="client") are not kept on the cluster
            record(entry)
    except BaseException as exc:
        dc.cancel(futures)
        if isinstance(exc, Exception):  # not on Ctrl-C: stop at once
            _free_buffers(dc)
        raise
    else:
        _free_buffers(dc)
    finally:
        if owned:
            dc.close()


def _free_buffers(client: Any) -> None:
    """Free the image array each worker thread kept for its next shard (they outlive the run).

    A best effort: a worker that cannot be reached is not an error of the run.
    """
    try:
        client.run(release_buffers)
    except Exception as exc:  # the run's own result or error matters more
        log.info("could not free the workers' shard buffers: %s", exc)
