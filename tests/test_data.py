"""Where MNIST comes from: local folders, cache, and real downloads from a local server.

No test touches the internet: every test runs with ``STROKESEQ_PUBLIC_MIRRORS=0``
(only the private mirror of ``STROKESEQ_MNIST_URL`` is tried) and that mirror
is an ``http.server`` on 127.0.0.1.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import logging
import mmap
import multiprocessing
import re
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from conftest import make_fake_digits, write_fake_mnist

from strokeseq.errors import DataNotFoundError, DownloadError, IdxFormatError
from strokeseq.sources.mnist import files as data
from strokeseq.sources.mnist import unpacked as ucache
from strokeseq.sources.mnist import writers
from strokeseq.sources.mnist.idx import read_idx, write_idx

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


@pytest.fixture
def env(tmp_path, monkeypatch) -> Path:
    """A clean data environment: empty cache, no data dirs, private mirror only."""
    for var in (
        "STROKESEQ_MNIST_DIR",
        "STROKESEQ_QMNIST_DIR",
        "STROKESEQ_MNIST_URL",
        "STROKESEQ_QMNIST_URL",
        "STROKESEQ_OFFLINE",
    ):
        monkeypatch.delenv(var, raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(cache))
    monkeypatch.setenv("STROKESEQ_PUBLIC_MIRRORS", "0")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")  # never via a proxy
    return cache


def _leftovers(cache: Path) -> list[str]:
    """Files in the cache other than lock files."""
    if not cache.exists():
        return []
    return sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock"))


def _sha256(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------ local folders ---


def test_resolution_order_explicit_then_env_then_cache(env, tmp_path, monkeypatch):
    explicit = write_fake_mnist(tmp_path / "explicit", n_train=10, n_test=20)
    envdir = write_fake_mnist(tmp_path / "envdir", n_train=10, n_test=30)
    write_fake_mnist(env, n_train=10, n_test=40)  # the cache
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(envdir))
    assert len(data.load_mnist("test", explicit)[0]) == 20
    assert len(data.load_mnist("test")[0]) == 30
    monkeypatch.delenv("STROKESEQ_MNIST_DIR")
    assert len(data.load_mnist("test")[0]) == 40
    assert data.mnist_paths("test")[0] == env / "t10k-images-idx3-ubyte.gz"


@pytest.mark.parametrize(
    "spelling",
    [
        "t10k-{kind}-idx{d}-ubyte.gz",
        "t10k-{kind}-idx{d}-ubyte",
        "t10k-{kind}.idx{d}-ubyte.gz",
        "t10k-{kind}.idx{d}-ubyte",
    ],
)
def test_spellings_and_compression(env, tmp_path, spelling):
    images, labels = make_fake_digits(20, seed=7)
    folder = tmp_path / "d"
    folder.mkdir()
    write_idx(folder / spelling.format(kind="images", d=3), images)
    write_idx(folder / spelling.format(kind="labels", d=1), labels)
    x, y = data.load_mnist("test", folder)
    np.testing.assert_array_equal(x, images, strict=True)
    np.testing.assert_array_equal(y, labels, strict=True)
    assert x.flags.c_contiguous and not x.flags.writeable


def test_load_contract_and_memory_cache(env, fake_mnist_dir):
    x, y = data.load_mnist("train", fake_mnist_dir)
    assert x.shape == (300, 28, 28) and x.dtype == np.uint8 and x.flags.c_contiguous
    assert y.shape == (300,) and y.dtype == np.uint8
    x2, y2 = data.load_mnist("train", str(fake_mnist_dir))
    assert x2 is x and y2 is y  # read once per process


def test_bad_split(env, fake_mnist_dir):
    with pytest.raises(ValueError, match="'train' or 'test', got 'val'"):
        data.load_mnist("val", fake_mnist_dir)
    with pytest.raises(ValueError, match="'train' or 'test'"):
        writers.load_writers("TEST", fake_mnist_dir)


def test_count_mismatch_and_bad_shape(env, tmp_path):
    images, labels = make_fake_digits(20, seed=1)
    folder = tmp_path / "d"
    folder.mkdir()
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels[:19])
    with pytest.raises(IdxFormatError, match=r"20 images but .* 19 labels"):
        data.load_mnist("test", folder)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images[:, :27])
    with pytest.raises(IdxFormatError, match=r"shape \(n, 28, 28\), found uint8 \(20, 27, 28\)"):
        data.load_mnist("test", folder)


def test_malformed_local_file_names_the_file(env, tmp_path):
    folder = write_fake_mnist(tmp_path / "d", n_train=10, n_test=10)
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-5])
    with pytest.raises(IdxFormatError, match=r"t10k-labels-idx1-ubyte\.gz: truncated gzip"):
        data.load_mnist("test", folder)


def test_not_found_names_three_ways_out(no_data_env):
    with pytest.raises(DataNotFoundError) as info:
        data.load_mnist("test")
    msg = str(info.value)
    assert isinstance(info.value, FileNotFoundError)
    assert "t10k-images-idx3-ubyte.gz not found" in msg
    assert "Three ways out" in msg
    assert "(1) pass data_dir=... or set STROKESEQ_MNIST_DIR" in msg
    assert f"(2) put the files in the cache dir {no_data_env}" in msg
    assert "(3) allow the download" in msg and "STROKESEQ_MNIST_URL" in msg
    assert "STROKESEQ_OFFLINE" in msg


def test_unreachable_mirror_is_not_found(env, monkeypatch):
    # Online mode, but the only mirror refuses connections (discard port).
    monkeypatch.setenv("STROKESEQ_MNIST_URL", "http://127.0.0.1:9/")
    with pytest.raises(DataNotFoundError, match=r"no mirror could be reached.*Three ways out"):
        data.load_mnist("test")
    assert _leftovers(env) == []


def test_missing_folders_are_flagged(no_data_env, tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        data.load_mnist("train", tmp_path / "typo")
    assert f"{tmp_path / 'typo'} (no such folder)" in str(info.value)


def test_unwritable_cache_is_a_download_error(env, monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(blocker / "cache"))
    monkeypatch.setenv("STROKESEQ_MNIST_URL", "http://127.0.0.1:9/")
    with pytest.raises(DownloadError, match=r"cannot download t10k-images-idx3-ubyte\.gz into"):
        data.load_mnist("test")


def test_mirror_list_parsing(monkeypatch):
    monkeypatch.setenv("STROKESEQ_MNIST_URL", " http://a/x/, http://b/  http://c/ ")
    monkeypatch.delenv("STROKESEQ_PUBLIC_MIRRORS", raising=False)
    assert data._mirrors("STROKESEQ_MNIST_URL", data.MNIST_MIRRORS) == [
        "http://a/x/",
        "http://b/",
        "http://c/",
        *data.MNIST_MIRRORS,
    ]
    monkeypatch.setenv("STROKESEQ_PUBLIC_MIRRORS", "0")
    assert data._mirrors("STROKESEQ_MNIST_URL", data.MNIST_MIRRORS) == [
        "http://a/x/",
        "http://b/",
        "http://c/",
    ]


def test_public_hashes_pinned():
    assert data.HASHES["train-images-idx3-ubyte.gz"] == "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert data.MNIST_MIRRORS[0] == "https://ossci-datasets.s3.amazonaws.com/mnist/"
    assert data.MNIST_MIRRORS[-1] == "http://yann.lecun.com/exdb/mnist/"


def _mapped(a: np.ndarray) -> bool:
    """Whether ``a`` is backed by a memory map (walks the .base chain)."""
    while a is not None:
        if isinstance(a, mmap.mmap):
            return True
        a = getattr(a, "base", None)
    return False


def _copies(cache: Path) -> list[Path]:
    """The unpacked copies (not their checksum records or derived tables)."""
    return sorted(p for p in (cache / "unpacked").iterdir() if p.name.count(".") == 2)


def test_unpacked_copy_is_memory_mapped(env, tmp_path, monkeypatch):
    monkeypatch.setattr(ucache, "UNPACK_MIN_BYTES", 0)  # fixtures are tiny
    folder = write_fake_mnist(tmp_path / "d", n_train=10, n_test=20)
    x1, y1 = data.load_mnist("test", folder)
    assert not _mapped(x1)  # first time: gunzipped in memory, copy stored
    unpacked = _copies(env)
    assert [p.name.split(".")[0] for p in unpacked] == [
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]
    raw = gzip.decompress((folder / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert unpacked[0].read_bytes() == raw
    record = json.loads(ucache._sum_path(unpacked[0]).read_text())
    assert record["crc32"] == zlib.crc32(raw) and record["bytes"] == len(raw)
    ucache._read_cached.cache_clear()  # as a new process would
    x2, y2 = data.load_mnist("test", folder)
    assert _mapped(x2) and not x2.flags.writeable and type(x2) is np.ndarray
    np.testing.assert_array_equal(x2, x1, strict=True)
    np.testing.assert_array_equal(y2, y1, strict=True)
    # A truncated copy is ignored (with a warning) and rewritten.
    unpacked[0].write_bytes(unpacked[0].read_bytes()[:-3])
    ucache._read_cached.cache_clear()
    x3, _ = data.load_mnist("test", folder)
    np.testing.assert_array_equal(x3, x1, strict=True)
    assert unpacked[0].stat().st_size == 16 + 20 * 28 * 28
    # A changed source gets a new copy (the key includes size and mtime) and
    # the older copies of the same source are removed: they do not pile up.
    write_fake_mnist(folder, n_train=10, n_test=30)
    assert len(data.load_mnist("test", folder)[0]) == 30
    assert len(_copies(env)) == 2
    assert not unpacked[0].exists() and not ucache._sum_path(unpacked[0]).exists()


@pytest.mark.parametrize("damage", ["zero", "permute", "no_record", "bad_record"])
def test_damaged_unpacked_copy_is_detected_and_rebuilt(env, tmp_path, monkeypatch, caplog, damage):
    """Zeroed pixels or reordered digits in the copy used to be served silently."""
    monkeypatch.setattr(ucache, "UNPACK_MIN_BYTES", 0)
    folder = write_fake_mnist(tmp_path / "d", n_train=10, n_test=20)
    x1, _ = data.load_mnist("test", folder)
    x1 = x1.copy()
    copy = _copies(env)[0]
    body = np.fromfile(copy, np.uint8)
    if damage == "zero":
        body[16:] = 0
        body.tofile(copy)
    elif damage == "permute":
        digits = body[16:].reshape(20, 28 * 28)
        body[16:] = digits[np.r_[1:20, 0]].ravel()  # same bytes, other order
        body.tofile(copy)
    elif damage == "no_record":
        ucache._sum_path(copy).unlink()
    else:
        ucache._sum_path(copy).write_text("[1, 2]")
    ucache._read_cached.cache_clear()
    with caplog.at_level(logging.WARNING, logger="strokeseq.sources.mnist.files"):
        x2, _ = data.load_mnist("test", folder)
    np.testing.assert_array_equal(x2, x1, strict=True)
    assert "is damaged" in caplog.text and "rebuilding" in caplog.text
    # Rebuilt: the next process maps a verified copy again, silently.
    caplog.clear()
    ucache._read_cached.cache_clear()
    with caplog.at_level(logging.WARNING, logger="strokeseq.sources.mnist.files"):
        x3, _ = data.load_mnist("test", folder)
    assert _mapped(x3) and not caplog.text
    np.testing.assert_array_equal(x3, x1, strict=True)


def test_derived_table_cached_beside_the_copy_and_verified(env, tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(ucache, "UNPACK_MIN_BYTES", 0)
    folder = write_fake_mnist(tmp_path / "d", n_train=10, n_test=20)
    path = folder / "t10k-images-idx3-ubyte.gz"
    calls = []

    def compute(images):
        calls.append(1)
        return images.reshape(len(images), -1).sum(axis=1, dtype=np.int64)

    t1 = data.derived_table(path, "ink_sum", compute)
    ucache._read_cached.cache_clear()
    t2 = data.derived_table(path, "ink_sum", compute)
    assert len(calls) == 1  # the second process loads it
    np.testing.assert_array_equal(t2, t1, strict=True)
    table = next((env / "unpacked").glob("*.ink_sum.npy"))
    # A damaged table is recomputed (with a warning) ...
    table.write_bytes(table.read_bytes()[:-8] + bytes(8))
    ucache._read_cached.cache_clear()
    with caplog.at_level(logging.WARNING, logger="strokeseq.sources.mnist.files"):
        np.testing.assert_array_equal(data.derived_table(path, "ink_sum", compute), t1)
    assert len(calls) == 2 and "recomputing damaged table" in caplog.text
    # ... and so is one whose copy was rebuilt from other data.
    copy = _copies(env)[0]
    content = copy.read_bytes()
    assert content[-1] != 1
    copy.write_bytes(content[:-1] + b"\x01")  # other data in the copy ...
    record = json.loads(ucache._sum_path(copy).read_text())
    record["crc32"] = zlib.crc32(copy.read_bytes())  # ... with a matching record
    ucache._sum_path(copy).write_text(json.dumps(record))
    ucache._read_cached.cache_clear()
    t3 = data.derived_table(path, "ink_sum", compute)
    assert len(calls) == 3 and t3[-1] == t1[-1] - content[-1] + 1


def test_gzip_bomb_stops_at_the_declared_size(env, tmp_path, monkeypatch):
    """A small gzip file that inflates far beyond its header's promise."""
    import tracemalloc

    folder = tmp_path / "bomb"
    folder.mkdir()
    _, labels = make_fake_digits(20, seed=1)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)
    header = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (20, 28, 28))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [comp.compress(header)]
    zeros = bytes(1 << 20)
    for _ in range(300):  # 300 MB of zeros after a 15 kB payload: ~300 kB compressed
        parts.append(comp.compress(zeros))
    parts.append(comp.flush())
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(b"".join(parts))
    tracemalloc.start()
    try:
        with pytest.raises(IdxFormatError, match="trailing garbage"):
            data.load_mnist("test", folder)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20  # was > 300 MB: everything decompressed first


def test_absurd_header_refused_before_decompressing(env, tmp_path):
    folder = tmp_path / "huge"
    folder.mkdir()
    _, labels = make_fake_digits(20, seed=1)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)
    header = bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (4_000_000, 28, 28))
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + bytes(100)))
    with pytest.raises(IdxFormatError, match=r"3136000000 bytes\), more than"):
        data.load_mnist("test", folder)
    # Uncompressed: the size is checked before the file is read.
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    (folder / "t10k-images-idx3-ubyte").write_bytes(
        bytes([0, 0, 8, 3]) + b"".join(v.to_bytes(4, "big") for v in (20, 28, 29))
    )
    with pytest.raises(IdxFormatError, match=r"shape \(n, 28, 28\), found uint8 \(20, 28, 29\)"):
        data.load_mnist("test", folder)


def test_unpack_can_be_disabled(env, fake_mnist_dir, monkeypatch):
    monkeypatch.setattr(ucache, "UNPACK_MIN_BYTES", 0)
    monkeypatch.setenv("STROKESEQ_UNPACK", "0")
    ucache._read_cached.cache_clear()
    data.load_mnist("test", fake_mnist_dir)
    assert not (env / "unpacked").exists()


# ------------------------------------------------------------- HTTP server ---


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``/<mode>/<name>``: good, missing (404), short (cut), slow."""

    files: ClassVar[dict[str, bytes]] = {}
    hits: ClassVar[list[str]] = []
    lock = threading.Lock()

    def do_GET(self) -> None:
        with self.lock:
            self.hits.append(self.path)
        _, mode, name = self.path.split("/", 2)
        body = self.files.get(name)
        if mode == "missing" or body is None:
            self.send_error(404)
            return
        if mode == "slow":
            time.sleep(0.5)  # keep the first downloader busy while the other waits
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if mode == "short":
            self.send_header("Content-Length", str(len(body) + 1000))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path, monkeypatch) -> Iterator[tuple[str, type[_Handler], dict[str, str]]]:
    """A local mirror of fake MNIST/QMNIST files; yields (base URL, handler, hashes)."""
    src = write_fake_mnist(tmp_path / "served", n_train=20, n_test=30)
    files = {p.name: p.read_bytes() for p in src.iterdir()}
    handler = type("H", (_Handler,), {"files": files, "hits": []})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    hashes = {name: _sha256(b) for name, b in files.items()}
    monkeypatch.setattr(data, "HASHES", {**data.HASHES, **hashes})
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", handler, hashes
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_download_success_then_cached(env, server, monkeypatch, caplog):
    base, handler, _ = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/good/")
    with caplog.at_level(logging.INFO, logger="strokeseq.sources.mnist.files"):
        x, y = data.load_mnist("test")
    assert x.shape == (30, 28, 28)
    want_x, want_y = make_fake_digits(30, seed=2)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(y, want_y)
    assert _leftovers(env) == sorted(TEST_FILES)
    for name in TEST_FILES:
        assert (env / name).read_bytes() == handler.files[name]
    assert sorted(handler.hits) == sorted(f"/good/{n}" for n in TEST_FILES)
    assert f"from {base}/good/t10k-images-idx3-ubyte.gz" in caplog.text
    # Second time: from the cache, no request, even offline.
    monkeypatch.setenv("STROKESEQ_OFFLINE", "1")
    x2, _ = data.load_mnist("test")
    np.testing.assert_array_equal(x2, want_x)
    assert len(handler.hits) == 2


def test_first_mirror_404_then_second(env, server, monkeypatch, caplog):
    base, handler, _ = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/missing/, {base}/good")
    with caplog.at_level(logging.INFO, logger="strokeseq.sources.mnist.files"):
        _, y = data.load_mnist("test")
    assert len(y) == 30
    assert handler.hits == [
        "/missing/t10k-images-idx3-ubyte.gz",
        "/good/t10k-images-idx3-ubyte.gz",
        "/missing/t10k-labels-idx1-ubyte.gz",
        "/good/t10k-labels-idx1-ubyte.gz",
    ]
    assert "404" in caplog.text and "mirror failed" in caplog.text
    assert _leftovers(env) == sorted(TEST_FILES)


def test_hash_mismatch_leaves_nothing(env, server, monkeypatch):
    base, _handler, _ = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/good/")
    data.HASHES["t10k-images-idx3-ubyte.gz"] = "sha256:" + "0" * 64
    with pytest.raises(DownloadError, match="hash mismatch: expected sha256 0000") as info:
        data.load_mnist("test")
    assert "Three ways out" in str(info.value)
    assert isinstance(info.value, OSError)
    assert _leftovers(env) == []


def test_md5_pins_are_checked(env, server, monkeypatch):
    base, handler, _ = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/good/")
    name = "t10k-labels-idx1-ubyte.gz"
    data.HASHES[name] = "md5:" + hashlib.md5(handler.files[name]).hexdigest()
    assert data.fetch(name, [f"{base}/good/"]) == env / name
    data.HASHES[name] = "md5:" + "f" * 32
    (env / name).unlink()
    with pytest.raises(DownloadError, match="expected md5 ffff"):
        data.fetch(name, [f"{base}/good/"])
    assert _leftovers(env) == []


def test_server_cuts_file_short(env, server, monkeypatch):
    base, _handler, _ = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/short/")
    url = f"{base}/short/t10k-images-idx3-ubyte.gz"
    with pytest.raises(DownloadError, match=re.escape(url)) as info:
        data.load_mnist("test")
    # Caught as a broken stream (urllib3 enforces Content-Length); the hash is the backstop.
    msg = str(info.value)
    assert "IncompleteRead" in msg or "hash mismatch" in msg, msg
    assert _leftovers(env) == []


def test_short_then_good_mirror(env, server, monkeypatch):
    base, _handler, _ = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/short/ {base}/good/")
    x, _ = data.load_mnist("test")
    assert len(x) == 30
    assert _leftovers(env) == sorted(TEST_FILES)


def _child_load(hashes: dict[str, str], barrier, out) -> None:
    """Spawned child: wait for its sibling, then load through the download path."""
    from strokeseq.sources.mnist import files as child_data

    child_data.HASHES.update(hashes)
    barrier.wait(timeout=600)  # generous deadlines: the machine may be loaded
    x, y = child_data.load_mnist("test")
    out.put((hashlib.sha256(x.tobytes()).hexdigest(), y.tobytes()))


def test_two_processes_download_into_one_cache(env, server, monkeypatch):
    base, handler, hashes = server
    monkeypatch.setenv("STROKESEQ_MNIST_URL", f"{base}/slow/")
    ctx = multiprocessing.get_context("spawn")
    barrier, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_child_load, args=(hashes, barrier, out)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=300)
        assert p.exitcode == 0
    want_x, want_y = make_fake_digits(30, seed=2)
    assert results == [(hashlib.sha256(want_x.tobytes()).hexdigest(), want_y.tobytes())] * 2
    # The lock makes the second process wait and reuse the first one's file.
    assert sorted(handler.hits) == sorted(f"/slow/{n}" for n in TEST_FILES)
    assert _leftovers(env) == sorted(TEST_FILES)
    for name in TEST_FILES:
        assert (env / name).read_bytes() == handler.files[name]


# ------------------------------------------------------------------ QMNIST ---


def test_writers_from_fake_folder(env, fake_mnist_dir):
    w_train = writers.load_writers("train", fake_mnist_dir)
    w_test = writers.load_writers("test", fake_mnist_dir)
    q = read_idx(fake_mnist_dir / "qmnist-test-labels-idx2-int.gz")
    assert w_test.dtype == np.int32 and w_test.shape == (100,)
    np.testing.assert_array_equal(w_test, q[:100, 2])
    assert w_train.shape == (300,) and not w_train.flags.writeable
    assert set(w_train.tolist()) == set(range(10))
    assert set(w_test.tolist()) == set(range(100, 105))
    assert writers.load_writers("test", fake_mnist_dir) is w_test


def test_writers_sibling_folder_and_env(env, tmp_path, monkeypatch):
    src = write_fake_mnist(tmp_path / "src", n_train=10, n_test=20)
    (tmp_path / "data" / "mnist").mkdir(parents=True)
    (tmp_path / "data" / "qmnist").mkdir()
    for p in src.iterdir():
        sub = "qmnist" if p.name.startswith("qmnist") else "mnist"
        p.rename(tmp_path / "data" / sub / p.name)
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(tmp_path / "data" / "mnist"))
    assert writers.load_writers("test").shape == (20,)
    # STROKESEQ_QMNIST_DIR pointing elsewhere wins over the sibling.
    other = tmp_path / "other"
    other.mkdir()
    q = read_idx(tmp_path / "data" / "qmnist" / "qmnist-test-labels-idx2-int.gz").copy()
    q[:, 2] += 7
    write_idx(other / "qmnist-test-labels-idx2-int", q)
    monkeypatch.setenv("STROKESEQ_QMNIST_DIR", str(other))
    np.testing.assert_array_equal(writers.load_writers("test"), q[:20, 2])


def test_writers_missing_returns_none_with_warning(no_data_env, tmp_path, caplog):
    images, labels = make_fake_digits(20, seed=3)
    folder = tmp_path / "only_mnist" / "mnist"
    folder.mkdir(parents=True)
    write_idx(folder / "t10k-images-idx3-ubyte.gz", images)
    write_idx(folder / "t10k-labels-idx1-ubyte.gz", labels)
    with caplog.at_level(logging.WARNING, logger="strokeseq.sources.mnist.writers"):
        assert writers.load_writers("test", folder) is None
    assert "QMNIST writer IDs unavailable" in caplog.text
    assert "qmnist-test-labels-idx2-int.gz not found" in caplog.text


def test_writers_label_mismatch_raises(env, tmp_path):
    folder = write_fake_mnist(tmp_path / "d", n_train=10, n_test=20)
    q = read_idx(folder / "qmnist-test-labels-idx2-int.gz").copy()
    q[5, 0] = (q[5, 0] + 1) % 10
    write_idx(folder / "qmnist-test-labels-idx2-int.gz", q)
    with pytest.raises(ValueError, match="1 rows differ, first row 5"):
        writers.load_writers("test", folder)
    q = read_idx(folder / "qmnist-train-labels-idx2-int.gz")
    write_idx(folder / "qmnist-train-labels-idx2-int.gz", np.concatenate([q, q[:1]]))
    with pytest.raises(ValueError, match="11 rows, expected exactly 10"):
        writers.load_writers("train", folder)


def test_writers_download_from_private_mirror(env, server, tmp_path, monkeypatch):
    base, handler, _ = server
    _images, labels = make_fake_digits(30, seed=2)  # what the server's t10k holds
    folder = tmp_path / "mnist_only"
    folder.mkdir()
    write_idx(folder / "t10k-labels-idx1-ubyte", labels)
    monkeypatch.setenv("STROKESEQ_QMNIST_URL", f"{base}/good/")
    w = writers.load_writers("test", folder)
    assert w.shape == (30,)
    assert handler.hits == ["/good/qmnist-test-labels-idx2-int.gz"]  # images not fetched
    assert _leftovers(env) == ["qmnist-test-labels-idx2-int.gz"]


def test_real_qmnist_writers_disjoint(real_mnist_dir, real_qmnist_dir, env, monkeypatch):
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(real_mnist_dir))
    monkeypatch.setenv("STROKESEQ_QMNIST_DIR", str(real_qmnist_dir))
    monkeypatch.setenv("STROKESEQ_OFFLINE", "1")
    w_train, w_test = writers.load_writers("train"), writers.load_writers("test")
    if w_train is None or w_test is None:
        pytest.skip("QMNIST files not next to the real MNIST folder")
    assert w_train.shape == (60000,) and w_test.shape == (10000,)
    assert w_train.dtype == np.int32
    assert len(np.unique(w_train)) == 539
    assert len(np.unique(w_test)) == 297
    assert np.intersect1d(w_train, w_test).size == 0


def test_drawing_and_datasets_never_download_qmnist(env, server, tmp_path, monkeypatch):
    """Writers are provenance: without writer='same' nothing asks the network."""
    from strokeseq import generate_sequences
    from strokeseq.dataset import generate_dataset
    from strokeseq.sources.mnist import MnistSource

    base, handler, _ = server
    folder = write_fake_mnist(tmp_path / "noq", n_train=100, n_test=20)
    for f in folder.glob("qmnist-*"):
        f.unlink()
    monkeypatch.setenv("STROKESEQ_QMNIST_URL", f"{base}/good/")
    generate_sequences(["305"], (0, 4), 100, rng=0, data_dir=folder)
    generate_dataset(tmp_path / "ds", 10, {"length": 3, "width": 120}, seed=0, data_dir=folder)
    assert MnistSource("train", data_dir=folder).writers is None
    assert handler.hits == []
