"""One small process-wide thread pool for batch work that releases the GIL.

Big NumPy operations (resampling blocks of digits) run with the GIL
released, so a batch split into independent parts uses both cores of a
small machine. (Rendering synthetic chunks on it was measured and not kept:
1.13x wall time for 1.5x the CPU, docs/performance.md.) Every part's result
is its own: outputs never depend on the pool, its size or the order in
which parts finish.

``STROKESEQ_THREADS`` sets the size (default: the CPUs, at most 4; ``1``
turns the pool off, as dataset worker processes do, since they already
fill the CPUs).
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

__all__ = ["shared_pool"]

log = logging.getLogger(__name__)

#: None: not made yet; False: refused (one thread); else the pool.
_POOL: ThreadPoolExecutor | bool | None = None
_LOCK = threading.Lock()  # threads of a Dask worker may ask at the same moment


def _forget_pool() -> None:
    # Threads do not survive fork: a child must build its own pool, or work
    # submitted to the inherited one would wait forever.
    global _POOL, _LOCK
    _POOL = None
    _LOCK = threading.Lock()  # a fork while another thread held it would leave it held


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def shared_pool() -> ThreadPoolExecutor | None:
    """The process-wide pool, or None when it is off (one thread).

    Examples
    --------
    >>> from strokeseq.threads import shared_pool
    >>> pool = shared_pool()
    >>> pool is None or pool.submit(sum, [1, 2]).result() == 3
    True
    """
    global _POOL
    if _POOL is None:
        with _LOCK:
            if _POOL is None:
                try:
                    size = int(os.environ.get("STROKESEQ_THREADS", min(4, os.cpu_count() or 1)))
                except ValueError:
                    # threads change no output: a malformed setting runs single-threaded, with a word
                    log.warning("STROKESEQ_THREADS must be an integer; using one thread")
                    size = 1
                _POOL = (
                    ThreadPoolExecutor(max_workers=size, thread_name_prefix="strokeseq")
                    if size > 1
                    else False
                )
    return _POOL or None


def shutdown_pool() -> None:
    """Stop the shared pool's threads; the next :func:`shared_pool` call makes it again.

    Only for a caller about to fork whose only other threads are this pool's idle
    ones (dataset workers): a thread between ``shared_pool()`` and ``submit``
    would get RuntimeError. Not part of the public API.

    Examples
    --------
    >>> from strokeseq.threads import shared_pool, shutdown_pool
    >>> shutdown_pool()
    >>> pool = shared_pool()
    >>> pool is None or pool.submit(sum, [1, 2]).result() == 3
    True
    """
    global _POOL
    with _LOCK:
        pool, _POOL = _POOL, None
    if pool:
        pool.shutdown(wait=True)
