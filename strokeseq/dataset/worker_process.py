"""What runs inside a dataset worker process: start-up, signals, run-time sources, exit.

:class:`~strokeseq.dataset.local_engine.LocalWorkers` starts its workers with
:func:`_worker_init` (forked or spawned); this module is what they run
before their first shard and on their way out: signal handlers (Ctrl-C is
the parent's; SIGTERM removes a half-downloaded MNIST file), the watch that
ends a worker with its parent, the parent's run-time source registrations,
the warm load of the digit sources, and the exit that skips the
interpreter's teardown.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .shards import ShardJob, _load_sources

#: Seconds between checks of a worker that its parent is still alive.
PARENT_POLL = 0.5


def _exit_with_parent(parent: int) -> None:
    """End this worker process when ``parent`` dies (a killed run leaves no workers).

    On Linux the kernel sends SIGKILL at once (``PR_SET_PDEATHSIG``); everywhere
    a daemon thread also checks every :data:`PARENT_POLL` s that the parent
    is still ours (an orphan is re-parented, so ``os.getppid()`` changes).
    """
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


def _worker_init(
    parent: int | None = None,
    warm: ShardJob | None = None,
    log_queue: Any = None,
    log_level: int = logging.WARNING,
    registrations: tuple[tuple[str, ...], bytes] | None = None,
) -> None:
    import signal

    from .shards import PROCESS_TIMES

    PROCESS_TIMES["init"] = time.monotonic()  # after the interpreter and imports
    # Signals first, before anything here can fail: a forked worker inherits the
    # parent's wakeup fd (asyncio sets one: a signal here must not wake the
    # parent's loop) and Python handlers (back to the defaults a spawned worker
    # has); only the parent handles Ctrl-C (it stops the workers and cleans up;
    # it started us with SIGINT and SIGTERM blocked, so a Ctrl-C during our
    # start-up is discarded here); SIGTERM (LocalWorkers.kill) removes partial
    # downloads, then ends the worker.
    with contextlib.suppress(ValueError):
        signal.set_wakeup_fd(-1)
    for sig in signal.valid_signals():
        with contextlib.suppress(OSError, ValueError, TypeError):
            if sig != signal.SIGINT and callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _terminated)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    if log_queue is not None:  # before anything can log: records go to the parent
        from .worker_logging import install_in_worker

        install_in_worker(log_queue, log_level)
    if registrations:
        _register_in_worker(registrations)
    if parent is not None:
        _exit_with_parent(parent)
    # The worker processes already fill the CPUs: no extra resampling threads
    # per process (augmentation), unless the user asked for them.
    os.environ.setdefault("STROKESEQ_THREADS", "1")
    _exit_fast_when_done()
    if warm is not None:
        # Load the digit sources now, while the parent makes shards; an error
        # is raised again, with its own message, by this process's first shard.
        with contextlib.suppress(Exception):
            _load_sources(warm)
            # Loaded: no download can be cut short any more, so SIGTERM gets
            # its default action back (a Python handler waits for the running
            # C call, e.g. a compression, before the worker dies).
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
    PROCESS_TIMES["ready"] = time.monotonic()


def _register_in_worker(registrations: tuple[tuple[str, ...], bytes]) -> None:
    """Register the parent's run-time sources here (see :func:`_sendable_registrations`).

    ``registrations`` is ``(names, pickled factories)``. A factory already
    registered (a forked worker inherits the registry) is left as it is, with
    the sources the parent had loaded from it. Factories that cannot be
    loaded here are replaced by one raising a ValueError saying what works,
    which the run reports instead of a broken worker pool.
    """
    import pickle

    from ..sources import _runtime_factories, register_source

    names, blob = registrations
    try:
        found = pickle.loads(blob)
    except Exception as exc:
        found = {name: _unloadable(name, exc) for name in names}
    for name, factory in found.items():
        if _runtime_factories([name]).get(name) is not factory:
            register_source(name, factory)


def _unloadable(name: str, exc: Exception) -> Callable[..., Any]:
    def refuse(**options: Any) -> Any:
        raise ValueError(
            f"source {name!r} was registered at run time, but a worker process could not load "
            f"its factory ({exc}); define it in an importable module, name the source by "
            "import path ('module:Factory'), or use workers=1"
        )

    return refuse


def _terminated(signum: int, frame: Any) -> None:
    """SIGTERM (``LocalWorkers.kill``): remove half-downloaded MNIST files, then die of it.

    A worker loads MNIST as it starts and may be downloading it when a refused
    or interrupted run stops it; the default action would leave the download's
    ``.part`` file in the cache (its ``finally`` never runs). Nothing else is
    unwound: the run's process removes the shards' temporary files.
    """
    import signal

    files = sys.modules.get("strokeseq.sources.mnist.files")  # not imported: no download
    if files is not None:
        with contextlib.suppress(Exception):
            files.remove_partial_downloads()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)  # killed by the signal, as without this handler


def _exit_fast_when_done() -> None:
    """Skip the interpreter's teardown when this worker's pool lets it go.

    Tearing down a worker (every module, NumPy's included) took 40-75 ms, all
    of it after the last shard, while the run waited for the worker to exit.
    multiprocessing runs its finalizers (lowest priority last) once the pool
    has told the worker to stop: the log queue's is flushed and joined (-5),
    then this one (-100) ends the process. Every shard is already written,
    renamed and handed back by then; nothing is left to flush but stdio.
    """
    from multiprocessing import util

    def leave() -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(0)

    util.Finalize(None, leave, exitpriority=-100)
