"""Log records of dataset worker processes, handled by the parent's logging configuration.

A spawned worker inherits no logging configuration, so a warning logged in
it would bypass what the parent set up (the CLI's ``-v`` format, a script
silencing ``strokeseq``, its own handlers) and reach stderr through Python's
last-resort handler, once per worker; a forked worker inherits the parent's
handlers, so it would print its records itself, beside the parent's. Instead each
worker sends its records through a queue (:class:`logging.handlers.QueueHandler`)
and a thread of the parent hands them to the parent's logger of the same name,
which filters and formats them as if the parent had logged them.

A worker loads the same digit data as the parent, so it often says what the
parent already said (a QMNIST file that does not match, for instance). A
record is therefore shown once per run: a worker's record with the same
logger, level and message as one the parent logged during the run, or as one
another worker sent, is dropped. So ``--workers 2`` prints what
``--workers 1`` prints.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import threading
import traceback
from collections.abc import Iterator
from typing import Any

__all__ = ["LogForwarder", "install_in_worker", "record_parent"]

_ROOT = "strokeseq"


def _key(record: logging.LogRecord) -> tuple[str, int, str]:
    return record.name, record.levelno, record.getMessage()


def _package_loggers() -> list[logging.Logger]:
    names = [
        n for n in logging.Logger.manager.loggerDict if n == _ROOT or n.startswith(_ROOT + ".")
    ]
    return [logging.getLogger(n) for n in sorted(names)]


@contextlib.contextmanager
def record_parent() -> Iterator[set[tuple[str, int, str]]]:
    """Remember the records this process makes on strokeseq's loggers while the block runs.

    The log-record factory is wrapped: a record is made only once its
    logger's level let it through, so what is remembered is what this process
    would show. Handlers and output are unchanged.
    """
    keys: set[tuple[str, int, str]] = set()
    old = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old(*args, **kwargs)
        if record.name == _ROOT or record.name.startswith(_ROOT + "."):
            keys.add(_key(record))
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield keys
    finally:
        if logging.getLogRecordFactory() is factory:  # unless someone replaced it meanwhile
            logging.setLogRecordFactory(old)


class LogForwarder:
    """Parent side: a queue the workers log into and a thread replaying its records here.

    Parameters
    ----------
    mp_context : multiprocessing context
        The context the worker processes are started with (its ``Queue``).
    seen : set, optional
        Records already shown by this process (from :func:`record_parent`);
        workers' copies of them are dropped.
    """

    def __init__(self, mp_context: Any, seen: set | None = None, start: bool = True) -> None:
        self.queue = mp_context.Queue()
        self._seen = seen if seen is not None else set()
        self._thread = threading.Thread(target=self._serve, name="strokeseq-worker-logs")
        self._thread.daemon = True
        if start:
            self.start()

    def start(self) -> None:
        """Start replaying the workers' records (``start=False``: later; repeated calls do nothing).

        A worker forked while this thread waits on the queue would inherit a
        copy of a process holding the queue's locks: fork first, then start.
        """
        if self._thread.ident is None:
            self._thread.start()

    @property
    def level(self) -> int:
        """Lowest level this process lets through on the root or a strokeseq logger.

        Workers send records from this level up; this process then filters
        them by the level of their own logger.
        """
        levels = [lg.getEffectiveLevel() for lg in _package_loggers()]
        return min([logging.getLogger().getEffectiveLevel(), *levels])

    def _serve(self) -> None:
        while True:
            try:
                record = self.queue.get()
            except (EOFError, OSError):  # the queue was closed under us
                return
            if record is None:
                return
            try:
                self.handle(record)
            except Exception:  # a user's handler failed: say so, keep forwarding the rest
                traceback.print_exc()

    def handle(self, record: logging.LogRecord) -> None:
        """Show a worker's record as this process would show its own (once per run)."""
        logger = logging.getLogger(record.name)
        if not logger.isEnabledFor(record.levelno):
            return
        key = _key(record)
        if key in self._seen:
            return
        self._seen.add(key)
        logger.handle(record)

    def close(self, timeout: float = 5.0) -> None:
        """Replay what the workers sent, then stop (call after the workers have ended)."""
        self.start()  # never started (no shards for the workers): their records still count
        with contextlib.suppress(OSError, ValueError):
            self.queue.put(None)
        if self._thread.ident is not None:  # started
            self._thread.join(timeout)
        with contextlib.suppress(OSError, ValueError):
            self.queue.close()
            if self._thread.is_alive():  # its feeder could wait on a full pipe forever
                self.queue.cancel_join_thread()
            else:  # everything up to the None was read: the feeder ends at once
                # (joined, so that the next run of this process sees no thread left
                # and may fork its workers: local_engine.start_method)
                self.queue.join_thread()


def install_in_worker(queue: Any, level: int) -> None:
    """Worker side: send every record of ``level`` or above to the parent, show nothing here.

    A forked worker starts with a copy of the parent's configuration (the CLI
    puts a handler on the folder lock's logger, a script may stop a logger's
    propagation): every logger is reset to what a spawned worker has, so that
    each record reaches the parent, which filters and shows it once.
    """
    root = logging.getLogger()
    logging.disable(logging.NOTSET)
    for lg in [root, *logging.Logger.manager.loggerDict.values()]:
        if not isinstance(lg, logging.Logger):  # a PlaceHolder
            continue
        for h in list(lg.handlers):
            lg.removeHandler(h)
        for f in list(lg.filters):
            lg.removeFilter(f)
        lg.setLevel(logging.NOTSET)
        lg.propagate = True
        lg.disabled = False
    root.addHandler(logging.handlers.QueueHandler(queue))
    root.setLevel(level)
