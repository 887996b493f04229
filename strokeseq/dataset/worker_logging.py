"""Log records of dataset worker processes, handled by the parent's logging configuration.

Worker processes are spawned: they inherit no logging configuration, so a
warning logged in a worker would bypass what the parent set up (the CLI's
``-v`` format, a script silencing ``strokeseq``, its own handlers) and reach
stderr through Python's last-resort handler, once per worker. Instead each
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

    def __init__(self, mp_context: Any, seen: set | None = None) -> None:
        self.queue = mp_context.Queue()
        self._seen = seen if seen is not None else set()
        self._thread = threading.Thread(target=self._serve, name="strokeseq-worker-logs")
        self._thread.daemon = True
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
        with contextlib.suppress(OSError, ValueError):
            self.queue.put(None)
        self._thread.join(timeout)
        with contextlib.suppress(OSError, ValueError):
            self.queue.close()


def install_in_worker(queue: Any, level: int) -> None:
    """Worker side: send every record of ``level`` or above to the parent, show nothing here."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(logging.handlers.QueueHandler(queue))
    root.setLevel(level)
