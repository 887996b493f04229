"""Shared fixtures: small IDX files written with the package's own writer.

``fake_mnist_dir`` holds a tiny MNIST look-alike (train 300 images, test 100,
and QMNIST writer files) so the suite runs on a fresh clone with no data.
``real_mnist_dir`` is the genuine data from ``STROKESEQ_MNIST_DIR``; tests that
use it are skipped when it is not set.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from strokeseq.sources.mnist.idx import write_idx

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
    d = os.environ.get("STROKESEQ_MNIST_DIR")
    if not d or not (Path(d) / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip("real MNIST not available (set STROKESEQ_MNIST_DIR)")
    return Path(d)


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
