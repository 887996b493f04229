"""One run per dataset folder: a lock file, and who holds it written beside it.

Two runs writing one folder would each start from the manifest they read and
overwrite each other's shards and manifest. A run therefore holds
``<folder>/.lock`` (an OS file lock through :mod:`filelock`) from before it
reads the manifest until it has written the last one, and records its pid,
host and start time in ``<folder>/.lock.json`` so a refused run can say who
holds the folder.

The OS releases the lock of a killed process, so a lock left by a killed run
is free; its ``.lock.json`` is then stale (the run could not remove it), and
the new run reports that it takes over. Where the file system has no working
``flock`` (some network mounts), the lock is a plain file; a stale one (its
holder's pid no longer alive on this host) is removed and taken over.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..errors import DatasetLockedError

__all__ = ["LOCK", "LOCK_INFO", "FolderLock"]

log = logging.getLogger(__name__)

LOCK = ".lock"
LOCK_INFO = ".lock.json"
#: Seconds between attempts while waiting for another run.
POLL = 0.5


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True  # cannot tell: assume alive (never break a live lock)
    return True


def describe_holder(info: dict[str, Any] | None) -> str:
    """``pid 123 on host, started 2026-01-01T00:00:00Z`` (or that it is unknown)."""
    if not info:
        return "holder unknown"
    return (
        f"pid {info.get('pid', '?')} on {info.get('host', '?')}, "
        f"started {info.get('started', '?')}"
    )


class FolderLock:
    """Exclusive hold on a dataset folder (context manager).

    Parameters
    ----------
    folder : path
        An existing dataset folder.
    wait : bool or float
        False: refuse at once when another run holds the folder; True: wait
        for it as long as it takes; a number: wait at most that many seconds.

    Raises
    ------
    DatasetLockedError
        (on entering) Another run holds the folder and ``wait`` did not allow
        waiting long enough. The message names the holder.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, FolderLock(d):
    ...     pass
    """

    def __init__(self, folder: str | os.PathLike[str], wait: bool | float = False) -> None:
        self.folder = Path(folder)
        if isinstance(wait, bool):
            self.timeout = -1.0 if wait else 0.0
        else:
            if not isinstance(wait, (int, float)) or wait != wait or wait < 0:
                raise ValueError(f"wait must be a bool or seconds >= 0, got {wait!r}")
            self.timeout = float(wait)
        self._lock: Any = None

    # -- holder record -------------------------------------------------------------------------
    @property
    def info_path(self) -> Path:
        return self.folder / LOCK_INFO

    def holder(self) -> dict[str, Any] | None:
        """The recorded holder (``pid``, ``host``, ``started``), or None."""
        try:
            info = json.loads(self.info_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None

    def _write_info(self) -> None:
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "command": " ".join(sys.argv[:1] + sys.argv[1:8]),
        }
        atomic_write(self.info_path, (json.dumps(info, sort_keys=True) + "\n").encode())

    def _stale(self, info: dict[str, Any] | None) -> bool:
        """A holder record of a run on this host that is no longer alive."""
        if not info or info.get("host") != socket.gethostname():
            return False
        pid = info.get("pid")
        return isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid)

    # -- acquire / release -------------------------------------------------------------------
    def _try(self, lock: Any, timeout: float) -> bool:
        from filelock import Timeout

        try:
            lock.acquire(timeout=timeout, poll_interval=POLL)
        except Timeout:
            return False
        return True

    def acquire(self) -> FolderLock:
        from filelock import FileLock, SoftFileLock

        path = str(self.folder / LOCK)
        lock: Any = FileLock(path)
        try:
            got = self._try(lock, 0)
        except NotImplementedError:  # no flock on this file system: a plain lock file
            lock = SoftFileLock(path)
            got = self._try(lock, 0)
            if not got and self._stale(self.holder()):
                log.warning(
                    "%s: removing the lock left by a run that is gone (%s)",
                    self.folder,
                    describe_holder(self.holder()),
                )
                with contextlib.suppress(OSError):
                    os.unlink(path)
                got = self._try(lock, 0)
        if not got and self.timeout != 0:
            log.warning(
                "%s is being written by another run (%s): waiting for it",
                self.folder,
                describe_holder(self.holder()),
            )
            got = self._try(lock, self.timeout)
        if not got:
            wait = "wait longer" if self.timeout > 0 else "wait for it (--wait, wait=True)"
            raise DatasetLockedError(
                f"{self.folder} is being written by another run "
                f"({describe_holder(self.holder())}): {wait}, or use another folder"
            )
        self._lock = lock
        old = self.holder()
        if old is not None and old.get("pid") != os.getpid():
            # The previous holder could not remove its record: it was killed.
            log.warning(
                "%s: taking over from a run that ended without releasing it (%s)",
                self.folder,
                describe_holder(old),
            )
        try:
            self._write_info()
        except BaseException:
            self.release()
            raise
        return self

    def release(self) -> None:
        if self._lock is None:
            return
        try:
            old = self.holder()
            if old is not None and old.get("pid") == os.getpid():
                with contextlib.suppress(OSError):
                    self.info_path.unlink()
        finally:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
