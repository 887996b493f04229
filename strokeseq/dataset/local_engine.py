"""Shards in local processes: this one and started workers, fed as they finish, stopped together.

``workers=N`` runs shards in this process and ``N - 1`` worker processes.
On Linux, when this process runs no other Python thread, the workers are
forked (ready in milliseconds: no interpreter start, no imports, no resource
tracker process); otherwise they are spawned (no inherited state, the same
on every OS; :func:`start_method`). Either way they load the digit sources
as they start, log through the parent's logging configuration, ignore
Ctrl-C (the parent stops them and cleans up), and end when their parent
dies, so killing only the parent of ``--workers N`` leaves nothing running
(what runs inside a worker: :mod:`strokeseq.dataset.worker_process`).
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

from .shards import ShardJob, build_shard
from .worker_process import _worker_init

__all__ = ["LocalWorkers", "run_processes", "start_method"]


#: How workers are started: None lets :func:`start_method` choose; "fork" or
#: "spawn" forces one (tests use it to cover both).
START_METHOD: str | None = None


def start_method() -> str:
    """How this process starts its dataset workers now: ``"fork"`` or ``"spawn"``.

    ``"fork"`` on Linux when the calling thread is the only Python thread of
    this process, else ``"spawn"`` (:class:`LocalWorkers` first stops
    strokeseq's own idle thread pool, which augmentation of large batches
    starts, so that it alone does not cost the fork). A forked worker needs no interpreter
    start-up, imports or resource-tracker process (a spawned worker cost
    ~0.35 CPU-s and 0.3-1 s before its first shard, a forked one a few
    milliseconds), which is most of what two workers paid beyond one. Fork
    is only safe while no other thread can hold a lock at that moment, so a
    process running threads (a GUI, a notebook kernel, a web server, Dask)
    gets spawned workers; macOS and Windows always do. Set
    ``strokeseq.dataset.local_engine.START_METHOD = "spawn"`` to always spawn
    (e.g. with a BLAS built on OpenMP, whose thread pool does not survive a
    fork; the pip wheels of NumPy use pthreads, which do).

    Returns
    -------
    str
        ``"fork"`` or ``"spawn"``.

    Examples
    --------
    >>> from strokeseq.dataset.local_engine import start_method
    >>> start_method() in ("fork", "spawn")
    True
    """
    import multiprocessing as mp
    import threading

    if START_METHOD is not None:
        return START_METHOD
    if (
        sys.platform.startswith("linux")
        and "fork" in mp.get_all_start_methods()
        and threading.active_count() == 1
    ):
        return "fork"
    return "spawn"


@contextlib.contextmanager
def _quiet_fork() -> Iterator[None]:
    """Silence Python 3.12+'s warning that this process has threads when it forks.

    It counts the process's OS threads, NumPy's BLAS threads included, which
    are fork-safe (they re-create themselves in the child); Python threads,
    the ones that matter, make :func:`start_method` spawn instead.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*fork", category=DeprecationWarning)
        yield


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Block SIGINT and SIGTERM in this thread while worker processes are started.

    They inherit the mask and unblock both in
    :func:`~strokeseq.dataset.worker_process._worker_init` once their
    own handlers are in place: a forked worker stopped before that would
    otherwise run this process's handlers.
    """
    import signal

    if (
        not hasattr(signal, "pthread_sigmask")
        or threading.current_thread() is not threading.main_thread()
    ):
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)  # a Ctrl-C meanwhile lands now


class _Feeder:
    """Hands shards to the worker processes as they finish, while this process makes its own.

    Workers get shards only once one of them has started (a no-op task has
    come back), so that a short run is not left waiting for a shard queued
    to a worker that is still importing. The pool's done-callbacks run in its
    management thread, so a worker gets its next shard at once even while
    this process is busy in a shard of its own. Workers keep two shards
    queued while many remain and one near the end, so that no shard waits in
    a worker's queue while another process idles. The workers are started
    (:meth:`start`) before the shards are known (:meth:`add`): they load
    their data while this process checks the run.
    """

    def __init__(self, pool: Any, children: int) -> None:
        self.pool = pool
        self.pending: collections.deque[ShardJob] = collections.deque()
        self.children = children
        # Re-entrant: cancelling futures on the way out of a Ctrl-C runs their
        # callbacks (feed) in this thread, which may hold it already.
        self.lock = threading.RLock()
        self.futures: list[Any] = []  # shards given to the workers, not yet recorded
        self.outstanding = 0
        self.ready = False
        self.stopped = False

    def start(self) -> list[Any]:
        """Start the workers: one no-op task each, which says it is up; their futures.

        Each submission starts a process (up to the pool's size), so all are
        started here, from this thread.
        """
        futures = [self.pool.submit(os.getpid) for _ in range(self.children)]
        for fut in futures:
            fut.add_done_callback(self._on_ready)
        return futures

    def _on_ready(self, fut: Any) -> None:
        if fut.cancelled() or fut.exception() is not None:
            return  # the parent sees it on the future
        with self.lock:
            self.ready = True
        self.feed()

    def add(self, jobs: list[ShardJob]) -> None:
        """The shards to make (workers already up get theirs at once)."""
        with self.lock:
            self.pending.extend(jobs)
        self.feed()

    def take(self) -> ShardJob | None:
        """The next shard for this process, or None when none is left."""
        with self.lock:
            return self.pending.popleft() if self.pending and not self.stopped else None

    def _target(self) -> int:
        return self.children * (2 if len(self.pending) > 2 * (self.children + 1) else 1)

    def feed(self, done: Any = None) -> None:
        """Top the workers up (when they are ready, and as each of their shards finishes)."""
        new = []
        with self.lock:
            if done is not None:
                self.outstanding -= 1
                if done.cancelled() or done.exception() is not None:
                    self.stopped = True  # the parent re-raises it and stops everything
            while (
                self.ready
                and not self.stopped
                and self.pending
                and self.outstanding < self._target()
            ):
                try:
                    fut = self.pool.submit(build_shard, self.pending[0])
                except RuntimeError:  # the pool is shutting down
                    self.stopped = True
                    break
                self.pending.popleft()
                self.outstanding += 1
                self.futures.append(fut)
                new.append(fut)
        for fut in new:  # outside the lock: an already finished future calls back at once
            fut.add_done_callback(self.feed)

    def finished(self) -> list[Any]:
        """Futures of the workers' shards that are done (removed from the list)."""
        with self.lock:
            done = [f for f in self.futures if f.done()]
            self.futures = [f for f in self.futures if not f.done()]
        return done

    def running(self) -> list[Any]:
        with self.lock:
            return list(self.futures)

    def stop(self) -> None:
        # No lock: this runs on the way out of a Ctrl-C, which may have landed in
        # this thread while it held the lock (a bool assignment is atomic).
        self.stopped = True


def _stop_idle_pool() -> None:
    """Stop strokeseq's shared thread pool when its idle threads are this process's only others.

    Only this thread submits to it then, and it is not submitting: the pool
    is idle, and made again on its next use. Other threads are left alone
    (and make :func:`start_method` spawn).
    """
    me = threading.current_thread()
    others = [t for t in threading.enumerate() if t is not me]
    if others and all(t.name.startswith("strokeseq_") for t in others):
        from ..threads import shutdown_pool

        shutdown_pool()


def _sendable_registrations(names: Any, method: str) -> tuple[tuple[str, ...], bytes] | None:
    """Sources of ``names`` registered at run time, pickled for spawned workers.

    Forked workers inherit the registry (None: nothing to send); spawned ones
    get ``(names, pickled factories)`` and register them again
    (:func:`.worker_process._register_in_worker`), so a run behaves the same either way. A
    factory a spawned worker cannot load (a lambda, a local class, or one
    defined in a ``__main__`` with no file: a notebook, ``python -c``) is
    refused here, before any worker starts, saying what would work instead.
    """
    import pickle

    from ..sources import _runtime_factories

    found = _runtime_factories(names)
    if method != "spawn" or not found:
        return None

    def refuse(name: str, why: str) -> ValueError:
        return ValueError(
            f"source {name!r} was registered at run time with a factory that worker processes "
            f"cannot receive ({why}); define it in an importable module, name the source by "
            "import path ('module:Factory'), or use workers=1"
        )

    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None) or getattr(
        getattr(main, "__spec__", None), "name", None
    )
    for name, factory in found.items():
        if getattr(factory, "__module__", None) == "__main__" and not main_file:
            raise refuse(
                name, "it is defined in an interactive __main__ that workers cannot import"
            )
        try:
            pickle.dumps(factory)
        except Exception as exc:
            raise refuse(name, str(exc)) from None
    return tuple(found), pickle.dumps(found)


class LocalWorkers:
    """``n`` worker processes (forked or spawned: :func:`start_method`) making shards beside this process.

    Started as early as possible (before the run's checks): each worker pays
    its start-up (interpreter, imports, loading the digit data of ``warm``)
    while this process checks the config, reads the manifest and makes its
    first shard. Use as a context manager: leaving it normally waits for the
    workers to exit; leaving it with an exception (a refused run, an error,
    Ctrl-C) stops them at once.

    Parameters
    ----------
    n : int
        Worker processes (at least 1).
    warm : ShardJob, optional
        A job whose sources the workers load as they start.
    seen : set, optional
        Log records this process already showed (not repeated from the workers).
    """

    def __init__(self, n: int, warm: ShardJob | None = None, seen: set | None = None) -> None:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        from .worker_logging import LogForwarder

        _stop_idle_pool()
        # fork when safe (ready at once), else spawn: no inherited state, same
        # behaviour on every OS (scripts need the ``if __name__ == "__main__":`` guard).
        self.method = start_method()
        ctx = mp.get_context(self.method)
        names = warm.ctx.config.source_names if warm is not None else ()
        registrations = _sendable_registrations(names, self.method)
        self.n = n
        self.closed = False
        # Its thread starts after the fork: a forked worker must not inherit a
        # thread's half-taken locks.
        self.logs = LogForwarder(ctx, seen, start=False)
        self.pool = ProcessPoolExecutor(
            n,
            mp_context=ctx,
            initializer=_worker_init,
            initargs=(os.getpid(), warm, self.logs.queue, self.logs.level, registrations),
        )
        self.feeder = _Feeder(self.pool, n)
        try:
            with _signals_blocked(), _quiet_fork():  # the first submissions start the workers
                self.ready = self.feeder.start()
        except BaseException:
            self.kill()
            raise

    def __enter__(self) -> LocalWorkers:
        return self

    def __exit__(self, kind: Any, value: Any, tb: Any) -> None:
        if kind is None:
            self.close()
        else:
            self.kill()

    def run(self, jobs: list[ShardJob], record: Callable[[dict], None]) -> None:
        """Make ``jobs`` here and in the workers; ``record`` each finished shard, in this thread."""
        from concurrent.futures import FIRST_COMPLETED, wait

        # The workers' log records are replayed from now on: this process has
        # loaded its sources and shown its own records by the time it makes
        # shards, so a worker's copy of one is recognised and dropped (a forked
        # worker is ready before this process has loaded anything).
        self.logs.start()
        feeder, ready = self.feeder, self.ready
        feeder.add(jobs)
        while True:
            for fut in ready:
                if fut.done():
                    fut.result()  # a worker that could not start: raised here
            for fut in feeder.finished():
                record(fut.result())  # re-raises a worker's exception here
            job = feeder.take()
            if job is not None:
                record(build_shard(job))
                continue
            running = feeder.running()
            if not running:
                break
            wait(running, return_when=FIRST_COMPLETED)

    def close(self) -> None:
        """Let the workers exit (all shards are done) and wait for them."""
        if self.closed:
            return
        self.feeder.stop()
        try:
            self.pool.shutdown(wait=True)
            for fut in self.ready:
                fut.result()
        except BaseException:
            self.kill()
            raise
        self.closed = True
        self.logs.close()

    def kill(self) -> None:
        """Stop at once: queued shards are cancelled and running ones killed.

        Their temporary files are removed by the caller. ProcessPoolExecutor
        has no public way to kill its workers before Python 3.14.
        """
        if self.closed:
            return
        self.closed = True
        if hasattr(self, "feeder"):
            self.feeder.stop()
        procs = list((getattr(self.pool, "_processes", None) or {}).values())
        self.pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            # A process in a system call (a write under heavy I/O) dies only when
            # it returns: wait for it, so that nothing of it lands in the folder
            # after the caller removed the temporary files.
            p.join(5)
            if p.is_alive():
                p.kill()
                p.join(60)
        self.logs.close(timeout=1.0)


def run_processes(
    jobs: list[ShardJob], record: Callable[[dict], None], workers: int, seen: set | None = None
) -> None:
    """Run shards in this process and ``workers - 1`` worker processes; stop all on error or Ctrl-C.

    This process makes shards too: it already has the digit sources loaded,
    and it works while the other processes start (interpreter, imports,
    loading MNIST), so ``workers`` processes are busy from the first second
    and a run of ``workers=2`` costs one process start-up, not two. Records
    logged by the workers are shown through this process's logging
    (:mod:`strokeseq.dataset.worker_logging`; ``seen``: records this process
    already showed, not repeated). :func:`strokeseq.dataset.generate_dataset`
    starts its :class:`LocalWorkers` earlier, before checking the run.
    """
    n = min(workers, len(jobs)) - 1
    if n < 1:
        for job in jobs:
            record(build_shard(job))
        return
    with LocalWorkers(n, jobs[0], seen) as pool:
        pool.run(jobs, record)
