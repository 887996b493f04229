"""The IDX file format (MNIST's container): strict reading and writing, pure NumPy.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type
code, ``DD`` the number of dimensions), ``DD`` big-endian ``uint32`` sizes, then
the elements in big-endian, row-major order. The files may be gzip-compressed;
gzip is recognised by its magic bytes (``1f 8b``), never by the file name.

Every malformed input raises :class:`~strokeseq.errors.IdxFormatError` (a
``ValueError``) whose message names the file and what was expected versus
found. Nothing here unpickles anything: the bytes become an array through
``numpy.frombuffer`` only.

Arrays returned by :func:`read_idx` are **read-only**. For ``uint8``/``int8``
files that is what makes the fast path possible: the array is a zero-copy view
of the decompressed bytes. Multi-byte types are converted to native byte
order (one copy) and are made read-only too, so every result behaves alike and
can be shared safely by an in-memory cache. Call ``.copy()`` to get a writeable
array.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ...atomic import atomic_write
from ...errors import IdxFormatError

__all__ = [
    "IDX_TYPES",
    "expect_header",
    "read_idx",
    "read_idx_bytes",
    "read_idx_raw",
    "write_idx",
]

#: IDX element type code -> big-endian NumPy dtype as stored in the file.
IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# (kind, itemsize) -> type code; keyed this way so that any byte order of the
# input dtype maps to the same code.
_CODE_OF: dict[tuple[str, int], int] = {(dt.kind, dt.itemsize): c for c, dt in IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"


#: Compressed bytes read per step while streaming a gzip file.
_CHUNK = 1 << 20

#: Longest possible IDX header: magic plus 255 dimension sizes.
_MAX_HEADER = 4 + 4 * 255

#: A callable checking the header (file dtype, shape) before any data is read.
HeaderCheck = Callable[[np.dtype, tuple[int, ...]], None]


def _gunzip(data: bytes, name: str) -> bytes:
    """Decompress every gzip member of ``data``; raise IdxFormatError on damage.

    Kept for callers holding compressed bytes in memory; the output is not
    capped (use :func:`read_idx_raw` on a file to stop at the declared size).
    """
    return bytes(_gunzip_stream(io.BytesIO(data), name, None))


def _gunzip_stream(f: BinaryIO, name: str, on_header: Callable[[bytes], int] | None) -> bytearray:
    """Decompress a (multi-member) gzip stream, stopping at the size the header declares.

    ``zlib`` is used directly (rather than ``gzip``) so that a truncated stream
    is detected by the decompressor's ``eof`` flag and every failure can be
    reported with the file's name; CRC32 and length trailers are verified by
    zlib itself (``wbits=31``). ``on_header(first_bytes)`` is called as soon as
    the IDX header has been decompressed and returns the total size the file
    must have; output beyond it is refused at once (one byte over), so a gzip
    bomb costs no more memory than the data its header declares.
    """
    out = bytearray()
    limit: int | None = None
    header_needed = 4
    compressed = 0
    pending = b""
    dec = zlib.decompressobj(wbits=31)
    while True:
        if not pending:
            pending = f.read(_CHUNK)
            compressed += len(pending)
            if not pending:
                break
        if on_header is None:
            want = 0  # no cap
        elif limit is None:
            want = _MAX_HEADER  # just the header first
        else:
            want = limit + 1 - len(out)  # >= 1: one byte over the cap is detected
        try:
            out += dec.decompress(pending, want)
        except zlib.error as exc:
            raise IdxFormatError(
                f"{name}: corrupt gzip data (expected a valid gzip stream, found: {exc})"
            ) from exc
        pending = dec.unconsumed_tail
        if limit is None and on_header is not None and len(out) >= header_needed:
            if header_needed == 4 and len(out) >= 4:
                header_needed = 4 + 4 * out[3]
            if len(out) >= header_needed:
                limit = on_header(bytes(out[:header_needed]))
        if limit is not None and len(out) > limit:
            raise IdxFormatError(
                f"{name}: trailing garbage after the IDX data (the header promises "
                f"{limit} bytes in all, the gzip stream holds more; stopped reading there)"
            )
        if dec.eof:
            pending = dec.unused_data
            while len(pending) < 2:
                more = f.read(_CHUNK)
                if not more:
                    break
                compressed += len(more)
                pending += more
            if pending.startswith(_GZIP_MAGIC):
                dec = zlib.decompressobj(wbits=31)  # another member follows
                continue
            # Like gzip(1), tolerate zero padding after the last member
            # (tape-style blocks), but nothing else.
            seen = 0
            while pending:
                found = pending.lstrip(b"\0")
                if found:
                    total = (
                        seen
                        + len(pending)
                        + sum(len(c) for c in iter(lambda: f.read(_CHUNK), b""))
                    )
                    raise IdxFormatError(
                        f"{name}: {total} trailing bytes after the gzip stream (expected another "
                        f"gzip member 1f 8b or end of file, found {found[:4].hex(' ')})"
                    )
                seen += len(pending)
                pending = f.read(_CHUNK)
            break
    if not dec.eof:
        raise IdxFormatError(
            f"{name}: truncated gzip data (expected the end of the gzip stream, "
            f"found end of file after {compressed} compressed bytes)"
        )
    return out


def _parse_header(data: bytes, name: str) -> tuple[np.dtype, tuple[int, ...], int]:
    """Return (file dtype, shape, header length) of raw IDX ``data``."""
    if len(data) < 4:
        raise IdxFormatError(
            f"{name}: truncated IDX header (expected at least 4 bytes, found {len(data)})"
        )
    if data[0] != 0 or data[1] != 0:
        raise IdxFormatError(
            f"{name}: bad IDX magic (expected first two bytes 00 00, found {data[:2].hex(' ')}); "
            "not an IDX file"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_TYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_TYPES)
        raise IdxFormatError(
            f"{name}: unknown IDX type code 0x{code:02X} (expected one of {known})"
        )
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise IdxFormatError(
            f"{name}: truncated IDX header (expected {header_len} bytes for {ndim} dimensions, "
            f"found {len(data)})"
        )
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return IDX_TYPES[code], shape, header_len


def read_idx_bytes(
    data: bytes, name: str = "<bytes>", *, check: HeaderCheck | None = None
) -> np.ndarray:
    """Decode IDX content (raw or gzip-compressed) held in memory.

    Parameters
    ----------
    data : bytes
        The file's content. Gzip is detected by its magic bytes.
    name : str, optional
        Name used in error messages (usually the file's path).
    check : callable, optional
        ``check(dtype, shape)`` called with the header before any data is
        decompressed; it raises :class:`IdxFormatError` to refuse the file.

    Returns
    -------
    numpy.ndarray
        Read-only array of the file's shape, in native byte order.

    Raises
    ------
    IdxFormatError
        Bad magic, unknown type code, truncated or over-long data, bad gzip,
        or a header ``check`` refused.

    Examples
    --------
    >>> read_idx_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 2, 7, 9])).tolist()
    [7, 9]
    """
    data = bytes(data) if not isinstance(data, bytes) else data
    if data[:2] == _GZIP_MAGIC:
        raw: bytes | bytearray = _gunzip_stream(
            io.BytesIO(data), name, _limit_from_header(name, check)
        )
    else:
        raw = data
    dtype, shape, header_len = _parse_header(raw, name)
    if check is not None:
        check(dtype, shape)
    count = _check_size(len(raw), dtype, shape, header_len, name)
    # frombuffer: zero-copy; the array is frozen below.
    arr = np.frombuffer(raw, dtype=dtype, count=count, offset=header_len).reshape(shape)
    return _native_readonly(arr)


def _limit_from_header(name: str, check: HeaderCheck | None) -> Callable[[bytes], int]:
    """``on_header`` for :func:`_gunzip_stream`: parse, check, return the total size."""

    def on_header(head: bytes) -> int:
        dtype, shape, header_len = _parse_header(head, name)
        if check is not None:
            check(dtype, shape)
        return header_len + math.prod(shape) * dtype.itemsize

    return on_header


def expect_header(
    dtype: np.dtype | str, dims: tuple[int | None, ...], *, max_bytes: int = 1 << 31
) -> HeaderCheck:
    """A header check: element type, rank and fixed sizes, and a size cap.

    Parameters
    ----------
    dtype : numpy.dtype or str
        Expected element type (any byte order), e.g. ``"u1"``.
    dims : tuple of int or None
        Expected shape; ``None`` accepts any size in that dimension.
    max_bytes : int, optional
        Largest data size accepted (default 2 GiB), so a header declaring an
        absurd shape is refused before anything is allocated.

    Returns
    -------
    callable
        ``check(dtype, shape)`` raising :class:`IdxFormatError`.

    Examples
    --------
    >>> check = expect_header("u1", (None, 28, 28))
    >>> check(np.dtype("u1"), (10, 28, 28))  # passes silently
    """
    want = np.dtype(dtype)
    shown = "(" + ", ".join("n" if d is None else str(d) for d in dims) + ")"

    def check(found: np.dtype, shape: tuple[int, ...]) -> None:
        ok = (
            (found.kind, found.itemsize) == (want.kind, want.itemsize)
            and len(shape) == len(dims)
            and all(d is None or d == s for d, s in zip(dims, shape, strict=True))
        )
        if not ok:
            raise IdxFormatError(
                f"expected {want.name} data of shape {shown}, "
                f"found {found.newbyteorder('=').name} {shape} in the IDX header"
            )
        size = math.prod(shape) * found.itemsize
        if size > max_bytes:
            raise IdxFormatError(
                f"the IDX header declares shape {shape} ({size} bytes), "
                f"more than the {max_bytes} bytes accepted"
            )

    return check


def _check_size(
    size: int, dtype: np.dtype, shape: tuple[int, ...], header_len: int, name: str
) -> int:
    """Check the data length the header promises against ``size``; return the count."""
    count = math.prod(shape)
    expected = header_len + count * dtype.itemsize
    if size < expected:
        raise IdxFormatError(
            f"{name}: truncated IDX data (header promises shape {shape} of {dtype.name}, "
            f"expected {expected} bytes, found {size})"
        )
    if size > expected:
        raise IdxFormatError(
            f"{name}: {size - expected} bytes of trailing garbage (header promises "
            f"shape {shape} of {dtype.name}, expected {expected} bytes, found {size})"
        )
    return count


def _native_readonly(arr: np.ndarray) -> np.ndarray:
    """Convert big-endian data to native order (one copy) and freeze it."""
    if arr.dtype.itemsize > 1 and not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr.flags.writeable = False
    return arr


def _read_idx_mmap(path: Path, head: bytes, check: HeaderCheck | None) -> np.ndarray:
    """Memory-map an uncompressed IDX file after validating its header and size."""
    name = str(path)
    dtype, shape, header_len = _parse_header(head, name)
    if check is not None:
        _named(check, name)(dtype, shape)
    count = _check_size(path.stat().st_size, dtype, shape, header_len, name)
    if count == 0:  # mmap cannot map zero bytes
        return _native_readonly(np.zeros(shape, dtype))
    mapped = np.memmap(path, dtype=dtype, mode="r", offset=header_len, shape=shape)
    # A plain ndarray view (the map stays alive through .base), not the subclass.
    return _native_readonly(mapped.view(np.ndarray))


def _named(check: HeaderCheck, name: str) -> HeaderCheck:
    """Prefix the file name to a check's message."""

    def named(dtype: np.dtype, shape: tuple[int, ...]) -> None:
        try:
            check(dtype, shape)
        except IdxFormatError as exc:
            if str(exc).startswith(name):
                raise
            raise IdxFormatError(f"{name}: {exc}") from None

    return named


def read_idx_raw(path: str | os.PathLike[str], *, check: HeaderCheck | None = None) -> bytes:
    """The validated, uncompressed IDX content (header and data) of a file.

    Gzip is decompressed as a stream that stops at the size the header
    declares; an uncompressed file's size is checked before it is read. So
    neither a gzip bomb nor a huge file costs more than the declared data.

    Parameters
    ----------
    path : str or os.PathLike
        The file, raw or gzip-compressed.
    check : callable, optional
        Header check (see :func:`expect_header`), run before any data is read.

    Returns
    -------
    bytes or bytearray
        The IDX bytes, whose header and length have been validated.

    Raises
    ------
    IdxFormatError
        The file is not valid IDX or the check refused its header.
    """
    path = Path(path)
    name = str(path)
    check = _named(check, name) if check is not None else None
    with path.open("rb") as f:
        head = f.read(_MAX_HEADER)
        if head[:2] == _GZIP_MAGIC:
            f.seek(0)
            raw: bytes | bytearray = _gunzip_stream(f, name, _limit_from_header(name, check))
        else:
            dtype, shape, header_len = _parse_header(head, name)
            if check is not None:
                check(dtype, shape)
            _check_size(os.fstat(f.fileno()).st_size, dtype, shape, header_len, name)
            raw = head + f.read()
    dtype, shape, header_len = _parse_header(raw, name)
    _check_size(len(raw), dtype, shape, header_len, name)
    return raw


def read_idx(
    path: str | os.PathLike[str], *, mmap: bool = False, check: HeaderCheck | None = None
) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, of any element type and rank.

    Parameters
    ----------
    path : str or os.PathLike
        The file. Gzip is detected by content (magic ``1f 8b``), not by suffix.
    mmap : bool, optional
        Memory-map an uncompressed file instead of reading it (ignored for
        gzip). Near-instant, and the pages are shared between processes; only
        safe for files nobody truncates in place while they are mapped.
    check : callable, optional
        ``check(dtype, shape)`` run on the header before any data is read or
        decompressed (see :func:`expect_header`).

    Returns
    -------
    numpy.ndarray
        Read-only array in native byte order: ``uint8``, ``int8``, ``int16``,
        ``int32``, ``float32`` or ``float64``. For ``uint8``/``int8`` it is a
        zero-copy view of the (decompressed) file bytes or of the mapped file;
        use ``.copy()`` to modify it.

    Raises
    ------
    IdxFormatError
        The file is not valid IDX, or ``check`` refused it; the message names
        the file and what was expected versus found.
    OSError
        The file cannot be read.
    """
    path = Path(path)
    if mmap:
        with path.open("rb") as f:
            head = f.read(_MAX_HEADER)
        if head[:2] != _GZIP_MAGIC:
            return _read_idx_mmap(path, head, check)
    raw = read_idx_raw(path, check=check)
    dtype, shape, header_len = _parse_header(raw, str(path))
    arr = np.frombuffer(raw, dtype=dtype, count=math.prod(shape), offset=header_len)
    return _native_readonly(arr.reshape(shape))


def _idx_bytes(array: np.ndarray) -> bytes:
    """Serialise ``array`` as raw IDX bytes (header + big-endian data)."""
    code = _CODE_OF.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        supported = ", ".join(dt.name for dt in IDX_TYPES.values())
        raise TypeError(
            f"cannot write dtype {array.dtype} as IDX (supported: {supported.replace('>', '')})"
        )
    if array.ndim > 255:
        raise ValueError(f"IDX supports at most 255 dimensions, got {array.ndim}")
    if any(s >= 2**32 for s in array.shape):
        raise ValueError(f"IDX dimension sizes must be < 2**32, got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + b"".join(s.to_bytes(4, "big") for s in array.shape)
    body = np.ascontiguousarray(array, dtype=IDX_TYPES[code]).tobytes()
    return header + body


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compresslevel: int = 6) -> None:
    """Write ``array`` as an IDX file; gzip-compressed if ``path`` ends in ``.gz``.

    The gzip header carries no time stamp and no file name (``mtime=0``), so
    the same array always gives the same bytes. The file is written to a
    temporary name and renamed into place, so readers never see half a file.

    Parameters
    ----------
    path : str or os.PathLike
        Destination. A ``.gz`` suffix selects gzip compression.
    array : array_like
        Data of dtype ``uint8``, ``int8``, ``int16``, ``int32``, ``float32`` or
        ``float64`` (any byte order), any number of dimensions up to 255.
    compresslevel : int, optional
        Gzip level 0-9 (6 is zlib's default balance of size and speed).

    Raises
    ------
    TypeError
        The dtype has no IDX type code (e.g. ``bool``, ``int64``, ``float16``).
    """
    path = Path(path)
    data = _idx_bytes(np.asarray(array))
    if path.name.endswith(".gz"):
        data = gzip.compress(data, compresslevel=compresslevel, mtime=0)
    atomic_write(path, data)
