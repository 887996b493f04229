"""A shard file and its SHA-256 in one pass over its bytes.

A shard's SHA-256 (the manifest's integrity check) used to be computed by
reading the finished file back: one more pass over ~45 MB per shard, through
memory that two worker processes share. Hashing while writing is not simple
for NPZ: :mod:`zipfile` writes an entry's header, then its data (computing
the CRC-32 as it goes), then seeks back to rewrite the header with that
CRC, so the file's first bytes are final only after its last ones.

:class:`FileLayout` is a seekable sink that the writer (``zipfile``,
``tarfile``) writes into instead of the file: it records what goes where,
copying small writes (headers) and keeping references to large ones (the
arrays' own memory, never copied), and applies the header rewrites.
:meth:`FileLayout.replay` then writes the finished bytes to the real file in
order, hashing each block just before writing it (the block is still in
cache). The file is byte for byte what the writer would have written to it
directly: the writer's own code produced the layout.
"""

from __future__ import annotations

import bisect
import hashlib
import sys
from typing import IO, Any

__all__ = ["FileLayout", "reserve"]

#: Writes at least this long are kept by reference (the caller must not change
#: them before :meth:`FileLayout.replay`), shorter ones are copied.
BIG = 1 << 16
#: Bytes hashed and written at a time: small enough to stay in the core's cache.
BLOCK = 1 << 20


class FileLayout:
    """A seekable, write-only stand-in for a file: records the bytes, writes them later.

    Examples
    --------
    >>> import io
    >>> layout = FileLayout()
    >>> layout.write(b"header??"); layout.write(b"data")
    8
    4
    >>> layout.seek(6); layout.write(b"OK"); layout.seek(0, 2)
    6
    2
    12
    >>> out = io.BytesIO()
    >>> size, digest = layout.replay(out)
    >>> out.getvalue(), size, digest[:16]
    (b'headerOKdata', 12, '811be54de8e22b26')
    """

    def __init__(self) -> None:
        self._starts: list[int] = []  # offset of each piece, increasing
        self._pieces: list[Any] = []  # bytearray (copied) or memoryview (by reference)
        self._end = 0
        self._pos = 0

    # -- the file-like interface zipfile and tarfile use --------------------------------------
    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        n = view.nbytes
        if self._pos != self._end:
            self._overwrite(view)
        elif n >= BIG:
            self._starts.append(self._end)
            self._pieces.append(view)
            self._end += n
        else:
            last = self._pieces[-1] if self._pieces else None
            if isinstance(last, bytearray) and len(last) < BLOCK:
                last += view  # coalesce small writes (tar headers, padding)
            else:
                self._starts.append(self._end)
                self._pieces.append(bytearray(view))
            self._end += n
        self._pos += n
        return n

    def _overwrite(self, view: memoryview) -> None:
        """Rewrite bytes already written (a zip header); they must lie in copied pieces."""
        pos, n = self._pos, view.nbytes
        if pos + n > self._end:
            raise ValueError("FileLayout: a rewrite may not extend the file")
        k = bisect.bisect_right(self._starts, pos) - 1
        done = 0
        while done < n:
            piece, start = self._pieces[k], self._starts[k]
            if not isinstance(piece, bytearray):
                raise ValueError("FileLayout: only copied (small) writes can be rewritten")
            a = pos + done - start
            m = min(n - done, len(piece) - a)
            piece[a : a + m] = view[done : done + m]
            done += m
            k += 1

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._end}[whence]
        pos = base + offset
        if not 0 <= pos <= self._end:
            raise ValueError(f"FileLayout: cannot seek to {pos} (size {self._end})")
        self._pos = pos
        return pos

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        pass

    @property
    def size(self) -> int:
        return self._end

    # -- the real file ------------------------------------------------------------------------
    def replay(self, fh: IO[bytes]) -> tuple[int, str]:
        """Write the recorded bytes to ``fh`` in order; their size and SHA-256 (hex).

        Each block is hashed, then written while it is still in cache: one
        pass over the data instead of writing it and reading it back.
        """
        h = hashlib.sha256()
        reserve(fh, self._end)
        for piece in self._pieces:
            view = memoryview(piece)
            for a in range(0, view.nbytes, BLOCK):
                block = view[a : a + BLOCK]
                h.update(block)
                fh.write(block)
        return self._end, h.hexdigest()


_FALLOCATE: Any = None  # libc's fallocate64 once looked up, False where there is none


def reserve(fh: IO[bytes], size: int) -> bool:
    """Allocate ``size`` bytes of disk for the empty file ``fh`` before it is written (Linux).

    Calls ``fallocate(2)`` (mode 0: the blocks are allocated and the file
    gets its final size; the caller then writes exactly ``size`` bytes from
    offset 0). On ext4, writing 45 MB shards into preallocated blocks cost
    1.3-2x less kernel CPU than letting delayed allocation find the blocks
    while the page-cache writeback runs beside it (a million samples write
    4.4 GiB, so writeback runs for most of such a run). Where the system or
    the file system has no fallocate (it answers EOPNOTSUPP, or ``fh`` is not
    a file), nothing happens and the file is written as before; it is never
    emulated by writing zeros (glibc's ``posix_fallocate`` would). A full
    disk is left to the writes to report, as before.

    Parameters
    ----------
    fh : binary file object
        An empty file open for writing (anything without a ``fileno`` is skipped).
    size : int
        The bytes that will be written to it.

    Returns
    -------
    bool
        Whether the space was allocated.

    Examples
    --------
    >>> import io, tempfile
    >>> reserve(io.BytesIO(), 10)  # not a file: nothing to do
    False
    >>> with tempfile.TemporaryFile() as fh:
    ...     done = reserve(fh, 4096)
    ...     _ = fh.write(bytes(4096))
    ...     fh.seek(0, 2)
    4096
    """
    global _FALLOCATE
    if size <= 0 or not sys.platform.startswith("linux"):
        return False
    try:
        fd = fh.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        return False
    if _FALLOCATE is None:
        try:
            import ctypes

            fn = ctypes.CDLL(None, use_errno=True).fallocate64
            fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
            fn.restype = ctypes.c_int
            _FALLOCATE = fn
        except (OSError, AttributeError):  # no such libc function
            _FALLOCATE = False
    if not _FALLOCATE:
        return False
    return _FALLOCATE(fd, 0, 0, size) == 0
