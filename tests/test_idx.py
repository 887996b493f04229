"""IDX reading and writing: round trips of every type and rank, and every failure mode."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from strokeseq.errors import IdxFormatError
from strokeseq.sources.mnist.idx import IDX_TYPES, read_idx, read_idx_bytes, write_idx

DTYPES = ["uint8", "int8", "int16", "int32", "float32", "float64"]
CODES = dict(zip(DTYPES, [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E], strict=True))


def _sample(dtype: str, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Values that span the dtype's range (extremes included), deterministic."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = rng.standard_normal(shape).astype(dt) * dt.type(1e3)
        if a.size >= 3:
            flat = a.reshape(-1)
            flat[:3] = [np.finfo(dt).max, np.finfo(dt).tiny, -0.0]
        return a
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dt)
    if a.size >= 2:
        a.reshape(-1)[:2] = [info.min, info.max]
    return a


def _header(code: int, shape: tuple[int, ...]) -> bytes:
    return bytes([0, 0, code, len(shape)]) + b"".join(s.to_bytes(4, "big") for s in shape)


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("shape", [(), (0,), (7,), (3, 5), (4, 28, 28), (2, 1, 3, 2)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trip_every_type_and_rank(tmp_path, dtype, shape, suffix):
    a = _sample(dtype, shape, seed=len(shape) * 10 + DTYPES.index(dtype))
    path = tmp_path / f"x-idx{len(shape)}{suffix}"
    write_idx(path, a)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == shape
    np.testing.assert_array_equal(b, a, strict=True)
    assert not b.flags.writeable  # documented: results are read-only
    assert b.flags.c_contiguous


@pytest.mark.parametrize("dtype", DTYPES)
def test_file_layout_is_big_endian_idx(tmp_path, dtype):
    a = _sample(dtype, (2, 3), seed=5)
    write_idx(tmp_path / "a", a)
    raw = (tmp_path / "a").read_bytes()
    assert raw[:12] == _header(CODES[dtype], (2, 3))
    assert raw[12:] == a.astype(np.dtype(dtype).newbyteorder(">")).tobytes()


def test_big_endian_input_and_gzip_detected_by_content(tmp_path):
    a = np.arange(12, dtype=">i4").reshape(3, 4)
    write_idx(tmp_path / "a.gz", a)
    # A gzip file without the .gz suffix, and a raw file with it, both read.
    (tmp_path / "gz-without-suffix").write_bytes((tmp_path / "a.gz").read_bytes())
    (tmp_path / "raw.gz").write_bytes(_header(0x0C, (3, 4)) + a.tobytes())
    for name in ("a.gz", "gz-without-suffix", "raw.gz"):
        np.testing.assert_array_equal(read_idx(tmp_path / name), np.arange(12).reshape(3, 4))


def test_gzip_output_is_reproducible(tmp_path):
    a = _sample("uint8", (10, 28, 28), seed=3)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "b.gz", a)
    first, second = (tmp_path / "a.gz").read_bytes(), (tmp_path / "b.gz").read_bytes()
    assert first == second
    assert first[4:8] == b"\0\0\0\0"  # gzip MTIME field is zero
    assert (
        hashlib.sha256(gzip.decompress(first)).digest()
        == hashlib.sha256(_header(0x08, (10, 28, 28)) + a.tobytes()).digest()
    )


def test_multi_member_gzip_and_zero_padding(tmp_path):
    raw = _header(0x08, (6,)) + bytes(range(6))
    two = gzip.compress(raw[:7], mtime=0) + gzip.compress(raw[7:], mtime=0) + b"\0" * 8
    (tmp_path / "m.gz").write_bytes(two)
    np.testing.assert_array_equal(read_idx(tmp_path / "m.gz"), np.arange(6, dtype=np.uint8))


@pytest.mark.parametrize("dtype", ["bool", "int64", "uint16", "float16", "complex64", "object"])
def test_write_unsupported_dtype_is_type_error(tmp_path, dtype):
    with pytest.raises(TypeError, match="cannot write dtype"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=dtype))
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@settings(max_examples=60, deadline=None)
@given(
    a=hnp.arrays(
        dtype=st.sampled_from([np.dtype(d) for d in DTYPES]),
        shape=hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5),
        elements={"allow_nan": True, "allow_infinity": True},
    )
)
def test_round_trip_hypothesis_bytes(a):
    # Through read_idx_bytes (no disk), gz and raw.
    from strokeseq.sources.mnist.idx import _idx_bytes

    raw = _idx_bytes(a)
    for data in (raw, gzip.compress(raw, mtime=0)):
        b = read_idx_bytes(data, "mem")
        assert b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(b, a)  # NaN compares equal here


@pytest.mark.parametrize("shape", [(0,), (5,), (3, 28, 28)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_mmap_reads_the_same(tmp_path, dtype, shape):
    a = _sample(dtype, shape, seed=11)
    write_idx(tmp_path / "raw", a)
    write_idx(tmp_path / "c.gz", a)
    for name in ("raw", "c.gz"):  # mmap is ignored for gzip
        b = read_idx(tmp_path / name, mmap=True)
        assert type(b) is np.ndarray and not b.flags.writeable
        np.testing.assert_array_equal(b, a, strict=True)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (_header(0x08, (2, 3)) + bytes(5), "truncated IDX data"),
        (_header(0x08, (2, 3)) + bytes(7), "1 bytes of trailing garbage"),
        (b"\0\0\x08\x02\0\0", "truncated IDX header"),
        (b"\0\0\x07\x01" + bytes(8), "unknown IDX type code 0x07"),
    ],
    ids=["truncated", "trailing", "short-header", "bad-type"],
)
def test_mmap_validates_too(tmp_path, content, fragment):
    path = tmp_path / "bad"
    path.write_bytes(content)
    with pytest.raises(IdxFormatError, match=fragment):
        read_idx(path, mmap=True)


# ---------------------------------------------------------------- failures ---


def _good_raw() -> bytes:
    return _header(0x08, (2, 3)) + bytes(range(6))


def _expect_error(tmp_path: Path, content: bytes, *fragments: str, name: str = "bad.idx") -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IdxFormatError) as info:
        read_idx(path)
    msg = str(info.value)
    assert str(path) in msg  # names the file
    for fragment in fragments:
        assert fragment in msg, msg
    assert isinstance(info.value, ValueError)


def test_bad_magic(tmp_path):
    _expect_error(tmp_path, b"\x01\x00" + _good_raw()[2:], "bad IDX magic", "expected", "01 00")


def test_png_is_not_idx(tmp_path):
    _expect_error(tmp_path, b"\x89PNG\r\n\x1a\n" + bytes(20), "bad IDX magic")


def test_unknown_type_code(tmp_path):
    data = bytearray(_good_raw())
    data[2] = 0x0A
    _expect_error(tmp_path, bytes(data), "unknown IDX type code 0x0A", "0x08")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "expected at least 4 bytes, found 0"),
        (b"\0\0\x08\x02\0\0\0\x02", "expected 12 bytes for 2 dimensions, found 8"),
        (_header(0x08, (2, 3)) + bytes(5), "expected 18 bytes, found 17"),
        (_header(0x0C, (4,)) + bytes(15), "expected 24 bytes, found 23"),
    ],
    ids=["empty", "short-dims", "short-ubyte-data", "short-int-data"],
)
def test_truncated(tmp_path, content, fragment):
    _expect_error(tmp_path, content, "truncated", fragment)


def test_trailing_garbage(tmp_path):
    _expect_error(tmp_path, _good_raw() + b"xyz", "3 bytes of trailing garbage", "expected 18")


def test_corrupt_gzip(tmp_path):
    data = bytearray(gzip.compress(_good_raw() * 1, mtime=0))
    data[12] ^= 0xFF  # inside the deflate stream
    _expect_error(tmp_path, bytes(data), "gzip", name="bad.gz")


def test_gzip_crc_mismatch(tmp_path):
    data = bytearray(gzip.compress(_good_raw(), mtime=0))
    data[-8] ^= 0x01  # CRC32 trailer
    _expect_error(tmp_path, bytes(data), "corrupt gzip", name="bad.gz")


def test_truncated_gzip(tmp_path):
    data = gzip.compress(_header(0x08, (100,)) + bytes(range(100)), mtime=0)
    _expect_error(tmp_path, data[: len(data) // 2], "truncated gzip", name="half.gz")


def test_garbage_after_gzip(tmp_path):
    data = gzip.compress(_good_raw(), mtime=0) + b"junk"
    _expect_error(tmp_path, data, "4 trailing bytes after the gzip stream", name="bad.gz")


def test_valid_gzip_of_bad_idx_reports_the_idx_problem(tmp_path):
    _expect_error(tmp_path, gzip.compress(_good_raw()[:-1], mtime=0), "truncated IDX data")


def test_type_table_is_complete():
    assert sorted(IDX_TYPES) == [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E]


# --------------------------------------------------------------- real data ---


def test_real_mnist_t10k(real_mnist_dir):
    images = read_idx(real_mnist_dir / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(real_mnist_dir / "t10k-labels-idx1-ubyte.gz")
    with gzip.open(real_mnist_dir / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read(16)
    assert raw == _header(0x08, (10000, 28, 28))
    assert int.from_bytes(raw[:4], "big") == 2051
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    counts = np.bincount(labels, minlength=10).tolist()
    assert counts == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert images.min() == 0 and images.max() == 255
