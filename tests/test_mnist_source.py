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


@pytest.fixture
def mismatched_qmnist(tmp_path, monkeypatch, fake_mnist_dir):
    """A 100-digit MNIST-format set in data_dir, a QMNIST file for another set elsewhere."""
    from conftest import write_fake_mnist

    folder = write_fake_mnist(tmp_path / "small", n_train=100, n_test=20)
    for f in folder.glob("qmnist-*"):
        f.unlink()
    qdir = tmp_path / "q"
    qdir.mkdir()
    for f in fake_mnist_dir.glob("qmnist-*"):  # 300 train rows: not this set's
        (qdir / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("STROKESEQ_QMNIST_DIR", str(qdir))
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STROKESEQ_QMNIST_URL", "http://127.0.0.1:9/")
    monkeypatch.delenv("STROKESEQ_MNIST_DIR", raising=False)
    from strokeseq.sources.mnist import writers

    writers._MISMATCH_WARNED.clear()  # one warning per process: start afresh
    return folder


def test_mismatched_qmnist_does_not_break_drawing(mismatched_qmnist, caplog):
    """Writer ids are provenance: -1 with one warning; only writer='same' refuses."""
    import logging

    from strokeseq import generate_numbers_sequence, generate_sequences, render_sequences

    folder = mismatched_qmnist
    with caplog.at_level(logging.WARNING, logger="strokeseq"):
        images = generate_sequences(["305", "12"], (0, 4), 100, rng=0, data_dir=folder)
        _, batch = render_sequences(["305", "123"], (0, 4), 100, rng=0, data_dir=folder)
        generate_numbers_sequence("42", (0, 4), 80, rng=0, data_dir=folder)
    assert len(images) == 2
    np.testing.assert_array_equal(batch.meta["writer"], np.full((2, 3), -1))
    warnings = [r for r in caplog.records if "QMNIST writer IDs not used" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "has 300 rows, expected exactly 100" in warnings[0].getMessage()
    with pytest.raises(ValueError, match="has 300 rows, expected exactly 100"):
        generate_sequences(["305"], (0, 4), 100, rng=0, data_dir=folder, writer="same")


def test_mismatched_qmnist_does_not_break_the_script(mismatched_qmnist, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_sequence.py"
    out = tmp_path / "o.png"
    args = [
        sys.executable,
        str(script),
        "305",
        "0",
        "4",
        "100",
        "--data-dir",
        str(mismatched_qmnist),
    ]
    r = subprocess.run([*args, "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert out.is_file()
    r = subprocess.run(
        [*args, "-o", str(tmp_path / "s.png"), "--writer", "same"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 2 and "has 300 rows, expected exactly 100" in r.stderr


def test_mismatched_qmnist_does_not_break_datasets(mismatched_qmnist, tmp_path):
    from strokeseq.dataset import generate_dataset, load_dataset

    out = tmp_path / "ds"
    config = {"length": (2, 3), "spacing": (0, 4), "width": 120}
    generate_dataset(out, 20, config, seed=1, data_dir=mismatched_qmnist, shard_size=10)
    ds = load_dataset(out)
    assert len(ds) == 20
    assert (ds.labels["src_writer"] == -1).all()


def test_ink_box_table_cached_beside_the_unpacked_copy(fake_mnist_dir, tmp_path, monkeypatch):
    """A worker's start-up is import + memory map: the ink boxes come from the cache."""
    from strokeseq.sources import base
    from strokeseq.sources.mnist import source, unpacked

    monkeypatch.setattr(unpacked, "UNPACK_MIN_BYTES", 0)
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(tmp_path / "cache"))
    unpacked._read_cached.cache_clear()
    calls = []

    def counting(images):
        calls.append(len(images))
        return base.ink_boxes(images)

    monkeypatch.setattr(source, "ink_boxes", counting)
    first = MnistSource("train", data_dir=fake_mnist_dir).extents
    assert calls == [300]
    unpacked._read_cached.cache_clear()  # as a new worker process would
    second = MnistSource("train", data_dir=fake_mnist_dir)
    np.testing.assert_array_equal(second.extents, first, strict=True)
    assert calls == [300]  # loaded, not recomputed
    np.testing.assert_array_equal(first, base.ink_boxes(second.images))
    assert second.max_ink_width(9) == 21  # the fixture's widest bar
