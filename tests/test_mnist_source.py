"""MnistSource: sampling by label, provenance, pickling, writers."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from scipy import stats

from strokeseq.sources import DigitSource, get_source
from strokeseq.sources.mnist import MnistSource


@pytest.fixture
def source(fake_mnist_dir):
    return MnistSource("train", data_dir=fake_mnist_dir)


def test_is_a_digit_source_and_samples_float_ink(source):
    assert isinstance(source, DigitSource)
    ink = source.sample([3, 1, 4, 1, 5], rng=0)
    assert ink.shape == (5, 28, 28) and ink.dtype == np.float32
    assert ink.min() == 0.0 and 0.4 < ink.max() <= 1.0  # ink units: background 0


def test_draw_returns_instances_of_the_requested_labels_with_provenance(source):
    labels = np.random.default_rng(0).integers(0, 10, 500)
    d = source.draw(labels, np.random.default_rng(1))
    np.testing.assert_array_equal(d.labels, labels)
    np.testing.assert_array_equal(source.labels[d.meta["index"]], labels)
    np.testing.assert_array_equal(d.ink, source.images[d.meta["index"]])
    np.testing.assert_array_equal(d.meta["writer"], source.writers[d.meta["index"]])


def test_instances_are_uniform_within_a_label(source):
    d = source.draw(np.full(30_000, 7), np.random.default_rng(2))
    pool = np.flatnonzero(source.labels == 7)
    counts = np.array([np.sum(d.meta["index"] == i) for i in pool])
    assert (counts > 0).all()
    assert stats.chisquare(counts).pvalue > 0.001


def test_pickles_without_its_images(source):
    source.images  # noqa: B018 - load
    blob = pickle.dumps(source)
    assert len(blob) < 1000
    clone = pickle.loads(blob)
    np.testing.assert_array_equal(clone.sample([1, 2], rng=3), source.sample([1, 2], rng=3))


def test_splits_are_different_files(fake_mnist_dir):
    train = MnistSource("train", data_dir=fake_mnist_dir)
    test = MnistSource("test", data_dir=fake_mnist_dir)
    assert len(train) == 300 and len(test) == 100
    assert not set(np.unique(train.writers)) & set(np.unique(test.writers))


def test_bad_split():
    with pytest.raises(ValueError, match="'train' or 'test'"):
        MnistSource("validation")


def test_get_source_caches_instances(fake_mnist_dir):
    a = get_source("mnist", split="test", data_dir=str(fake_mnist_dir))
    assert get_source("mnist", split="test", data_dir=str(fake_mnist_dir)) is a
    assert get_source(a) is a
    with pytest.raises(TypeError):
        get_source(a, split="train")


def test_sample_validates_labels(source):
    with pytest.raises(ValueError, match="0-9"):
        source.sample([1, 12])
    with pytest.raises(TypeError):
        source.sample([1.5])


def test_same_writer_without_qmnist_is_a_clear_error(tmp_path, monkeypatch):
    from conftest import write_fake_mnist

    folder = write_fake_mnist(tmp_path / "noq")
    for f in folder.glob("qmnist-*"):
        f.unlink()
    monkeypatch.delenv("STROKESEQ_MNIST_DIR", raising=False)  # CI points it at the real data
    monkeypatch.delenv("STROKESEQ_QMNIST_DIR", raising=False)
    monkeypatch.setenv("STROKESEQ_OFFLINE", "1")
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(tmp_path / "cache"))
    src = MnistSource("train", data_dir=folder)
    assert src.writers is None
    d = src.draw(np.array([1, 2]), np.random.default_rng(0))
    np.testing.assert_array_equal(d.meta["writer"], [-1, -1])
    with pytest.raises(FileNotFoundError, match="QMNIST"):
        src.draw_sequences(np.array([[1, 2]]), np.random.default_rng(0), writer="same")


def test_draw_rows_default_is_one_draw_per_row(source):
    labels = np.random.default_rng(0).integers(0, 10, (20, 3))
    batched = source.draw_rows(labels, [np.random.default_rng(i) for i in range(20)])
    parts = [source.draw(labels[r], np.random.default_rng(r)) for r in range(20)]
    np.testing.assert_array_equal(batched.ink, np.concatenate([p.ink for p in parts]))
    np.testing.assert_array_equal(
        batched.meta["index"], np.concatenate([p.meta["index"] for p in parts])
    )


def test_provenance_never_downloads_writers(tmp_path, monkeypatch):
    """Drawing digits reports writers only from local QMNIST files: no network."""
    from conftest import write_fake_mnist

    import strokeseq.sources.mnist.files

    folder = write_fake_mnist(tmp_path / "noq")
    for f in folder.glob("qmnist-*"):
        f.unlink()
    for var in ("STROKESEQ_MNIST_DIR", "STROKESEQ_QMNIST_DIR", "STROKESEQ_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(tmp_path / "cache"))
    calls = []
    monkeypatch.setattr(
        strokeseq.sources.mnist.files, "fetch", lambda *a, **k: calls.append(a) or 1 / 0
    )
    src = MnistSource("train", data_dir=folder)
    d = src.draw(np.array([1, 2, 3]), np.random.default_rng(0))
    np.testing.assert_array_equal(d.meta["writer"], [-1, -1, -1])
    assert calls == []
