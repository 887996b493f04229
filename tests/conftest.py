"""Shared fixtures: small IDX files written with the package's own writer.

``fake_mnist_dir`` holds a tiny MNIST look-alike (train 300 images, test 100,
and QMNIST writer files) so the suite runs on a fresh clone with no data.
``real_mnist_dir`` is the genuine data from ``STROKESEQ_MNIST_DIR``; tests that
use it are skipped when it is not set or its files are absent.

The session is hermetic: every ``STROKESEQ_*`` variable of the user's
environment is removed before anything runs (the values are kept in
:data:`ORIGINAL_ENV` for the real-data fixtures), downloads are pointed at no
mirror and a private cache, and sockets may only connect to loopback.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from strokeseq.sources.mnist.idx import write_idx

#: The user's STROKESEQ_* variables, as they were before the session cleared them.
ORIGINAL_ENV: dict[str, str] = {}

_REAL_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


def pytest_configure(config) -> None:
    """Clear the user's STROKESEQ_* variables and forbid the network, before collection."""
    for name in [n for n in os.environ if n.startswith("STROKESEQ_")]:
        ORIGINAL_ENV[name] = os.environ.pop(name)
    # Set by the session itself (subprocesses inherit them): no public mirror,
    # and a private, empty cache, so nothing depends on the user's machine.
    os.environ["STROKESEQ_PUBLIC_MIRRORS"] = "0"
    os.environ["STROKESEQ_DATA_DIR"] = tempfile.mkdtemp(prefix="strokeseq-test-cache-")
    _guard_sockets()


def _loopback(host: object) -> bool:
    if host in (None, "localhost", "", b"localhost"):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard_sockets() -> None:
    """Only loopback and local (AF_UNIX) connections; no name look-ups of other hosts."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = address[0] if isinstance(address, tuple) else address
            if not _loopback(host):
                raise OSError(f"tests may not use the network (connect to {address!r})")

    def connect(self, address):
        check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(self, address)
        return real_connect_ex(self, address)

    def getaddrinfo(host, *args, **kwargs):
        if not _loopback(host) and host != socket.gethostname():
            raise socket.gaierror(f"tests may not use the network (look-up of {host!r})")
        return real_getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]


N_TRAIN, N_TEST = 300, 100


def make_fake_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Blob digits: a bar whose width and position depend on the label, plus noise.

    Each label has a different ink width (3 + 2*label px) so the ink layout has
    something to measure; every image is distinct (a random speckle).
    """
    rng = np.random.default_rng(seed)
    labels = np.tile(np.arange(10, dtype=np.uint8), n // 10 + 1)[:n]
    rng.shuffle(labels)
    images = np.zeros((n, 28, 28), np.uint8)
    for i, lab in enumerate(labels):
        w = 3 + 2 * int(lab)
        x0 = 14 - w // 2
        images[i, 4:24, x0 : x0 + w] = rng.integers(120, 256, size=(20, w))
    return images, labels


def write_fake_mnist(folder: Path, n_train: int = N_TRAIN, n_test: int = N_TEST) -> Path:
    """Write a small MNIST look-alike (and QMNIST writer files) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, prefix, seed in (("train", n_train, "train", 1), ("test", n_test, "t10k", 2)):
        images, labels = make_fake_digits(n, seed)
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
        # QMNIST extended labels: column 0 label, column 2 writer. Train writers
        # 0..9, test writers 100..104 (disjoint, as in the real data). Writers
        # are assigned so each has every digit.
        rows = n + 50 if split == "test" else n  # the QMNIST test file has extra rows
        q = np.zeros((rows, 8), np.int32)
        q[:n, 0] = labels
        base, nw = (0, 10) if split == "train" else (100, 5)
        order = np.argsort(labels, kind="stable")
        writer = np.empty(n, np.int32)
        writer[order] = base + (np.arange(n) % nw)
        q[:n, 2] = writer
        q[n:, 2] = 5000  # rows beyond the MNIST test set belong to other writers
        write_idx(folder / f"qmnist-{split}-labels-idx2-int.gz", q)
    return folder


@pytest.fixture(autouse=True)
def _fresh_sources():
    """Each test resolves the data anew: tests change STROKESEQ_MNIST_DIR."""
    from strokeseq.sources import clear_cache

    clear_cache()
    yield
    clear_cache()


@pytest.fixture(scope="session")
def fake_mnist_dir(tmp_path_factory) -> Path:
    return write_fake_mnist(tmp_path_factory.mktemp("fake_mnist"))


@pytest.fixture(scope="session")
def real_mnist_dir() -> Path:
    """The user's real MNIST folder (``STROKESEQ_MNIST_DIR`` before the session cleared it)."""
    d = ORIGINAL_ENV.get("STROKESEQ_MNIST_DIR")
    if not d or not all((Path(d) / name).is_file() for name in _REAL_FILES):
        pytest.skip("real MNIST not available (set STROKESEQ_MNIST_DIR to the four .gz files)")
    return Path(d)


@pytest.fixture(scope="session")
def real_qmnist_dir(real_mnist_dir) -> Path:
    """The real QMNIST writer files: ``STROKESEQ_QMNIST_DIR``, beside MNIST, or ``../qmnist``."""
    names = ("qmnist-train-labels-idx2-int.gz", "qmnist-test-labels-idx2-int.gz")
    env = ORIGINAL_ENV.get("STROKESEQ_QMNIST_DIR")
    for d in [Path(env)] if env else [real_mnist_dir, real_mnist_dir.parent / "qmnist"]:
        if all((d / n).is_file() for n in names):
            return d
    pytest.skip("real QMNIST writer files not available")


@pytest.fixture
def no_data_env(tmp_path, monkeypatch) -> Path:
    """Point every data location at empty folders and forbid downloads."""
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(empty))
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(empty))
    monkeypatch.setenv("STROKESEQ_MNIST_URL", "http://127.0.0.1:9/")
    monkeypatch.setenv("STROKESEQ_OFFLINE", "1")
    return empty


SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "make_sequence.py"


def run_script(args, cwd, data_dir, extra_env=None, umask=None, timeout=600):
    """Run ``scripts/make_sequence.py`` as a user would: a subprocess, offline, MNIST at ``data_dir``."""
    env = {**os.environ, "STROKESEQ_MNIST_DIR": str(data_dir), "STROKESEQ_OFFLINE": "1"}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=None if umask is None else (lambda: os.umask(umask)),
    )
