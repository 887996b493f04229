"""Shards in local worker processes: spawned, bounded queue, stopped together.

Workers are spawned (no inherited state, the same on every OS), ignore
Ctrl-C (the parent stops them and cleans up), and end when their parent
dies, so killing only the parent of ``--workers N`` leaves nothing running.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

from .shards import ShardJob, build_shard

__all__ = ["run_processes"]


#: Seconds between checks of a worker that its parent is still alive.
PARENT_POLL = 0.5


def _exit_with_parent(parent: int) -> None:
    """End this worker process when ``parent`` dies (a killed run leaves no workers).

    On Linux the kernel sends SIGKILL at once (``PR_SET_PDEATHSIG``); everywhere
    a daemon thread also checks every :data:`PARENT_POLL` s that the parent
    is still ours (an orphan is re-parented, so ``os.getppid()`` changes).
    """
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):  # no prctl: the thread below does it
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)  # no cleanup: the next run removes the temporary files

    if os.getppid() != parent:  # the parent died before we got here
        os._exit(1)
    threading.Thread(target=watch, name="strokeseq-parent-watch", daemon=True).start()


def _worker_init(parent: int | None = None) -> None:
    import signal

    if parent is not None:
        _exit_with_parent(parent)
    # Only the parent handles Ctrl-C: it stops the workers and cleans up. The
    # digit source is loaded by the first shard of each process (and cached),
    # so a loading error reaches the parent with its own message.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # The worker processes already fill the CPUs: no extra resampling threads
    # per process (augmentation), unless the user asked for them.
    os.environ.setdefault("STROKESEQ_THREADS", "1")


def run_processes(jobs: list[ShardJob], record: Callable[[dict], None], workers: int) -> None:
    """Run shards in ``workers`` spawned processes; stop them all on any error or Ctrl-C."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    n = min(workers, len(jobs))
    # spawn: no inherited state, same behaviour on every OS (scripts need the
    # usual ``if __name__ == "__main__":`` guard).
    pool = ProcessPoolExecutor(
        n,
        mp_context=mp.get_context("spawn"),
        initializer=_worker_init,
        initargs=(os.getpid(),),
    )
    pending = iter(jobs)
    running: set = set()
    try:
        # At most two shards queued per worker: memory stays bounded by the shard size.
        for job in pending:
            running.add(pool.submit(build_shard, job))
            if len(running) >= 2 * n:
                break
        while running:
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for fut in finished:
                record(fut.result())  # re-raises a worker's exception here
                nxt = next(pending, None)
                if nxt is not None:
                    running.add(pool.submit(build_shard, nxt))
        pool.shutdown(wait=True)
    except BaseException:
        # Stop at once: queued shards are cancelled and running ones killed (their
        # temporary files are removed by the caller). ProcessPoolExecutor has no
        # public way to kill its workers before Python 3.14.
        procs = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(5)
        raise
