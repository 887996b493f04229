"""Writing files so that a crash or a full disk never leaves half of one.

Every file strokeseq writes (PNGs, manifests, shards, hard-case sets, unpacked
caches) goes through :func:`atomic_write`: the bytes go to a temporary file in
the destination folder, which is then renamed onto the final name. The
temporary file is created with the process umask (unlike
:func:`tempfile.mkstemp`, which always makes it ``0600``), so results are
readable by whoever the user's umask says.
"""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "temporary_name"]


def temporary_name(path: Path) -> Path:
    """A hidden, unique sibling of ``path`` for writing before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes | Callable[[IO[bytes]], None],
    *,
    overwrite: bool = True,
    fsync: bool = False,
) -> Path:
    """Write ``data`` to ``path`` all at once or not at all.

    Parameters
    ----------
    path : path-like
        The final name. Its folder must exist.
    data : bytes or callable
        The bytes, or a function that writes them to the binary file it is given.
    overwrite : bool
        Replace an existing file. Without it an existing ``path`` is never
        replaced: the rename is a hard link, which fails if the name was taken
        meanwhile, so two writers cannot race onto one name
        (``FileExistsError``).
    fsync : bool
        Flush the file to disk before the rename (for data that must survive a
        power cut, e.g. dataset shards).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    OSError
        From the file system. ``ENOSPC`` ("no space left") gets a message that
        names the file; the temporary file is always removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", b"hello").read_bytes()
    b'hello'
    >>> atomic_write(folder / "a.txt", b"again", overwrite=False)
    Traceback (most recent call last):
    ...
    FileExistsError: [Errno 17] File exists: ...
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "xb") as fh:  # "x": O_EXCL, and the mode follows the umask
            if callable(data):
                data(fh)
            else:
                fh.write(data)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        if overwrite:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
            os.unlink(tmp)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno == errno.ENOSPC:
            raise OSError(exc.errno, f"No space left on the device to write {path}") from exc
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
