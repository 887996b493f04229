"""The realism benchmark's building blocks (benchmarks/realism.py) and its CLI."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))
import bench_realism  # noqa: E402
import realism as R  # noqa: E402


# -- no data needed --------------------------------------------------------------------------
def test_holdout_split_is_writer_disjoint_and_covers_train(fake_mnist_dir):
    from strokeseq.sources.mnist.writers import load_writers

    writers = np.asarray(load_writers("train", fake_mnist_dir, download=False))
    fit, hold = R.train_holdout_split(0, data_dir=fake_mnist_dir)
    assert set(writers[fit]).isdisjoint(writers[hold])
    np.testing.assert_array_equal(np.sort(np.concatenate([fit, hold])), np.arange(len(writers)))
    assert len(np.unique(writers[hold])) == 2  # 20 % of the fake set's 10 writers
    again = R.train_holdout_split(0, data_dir=fake_mnist_dir)
    np.testing.assert_array_equal(again[1], hold)
    others = {tuple(R.train_holdout_split(s, data_dir=fake_mnist_dir)[1]) for s in range(1, 6)}
    assert len(others | {tuple(hold)}) > 1  # the seed matters
    with pytest.raises(ValueError, match="holdout"):
        R.train_holdout_split(0, 1.0, data_dir=fake_mnist_dir)


def test_mnist_split_is_float_ink_of_the_right_rows(fake_mnist_dir):
    from strokeseq.sources.mnist.files import load_mnist

    images, labels = load_mnist("train", fake_mnist_dir)
    x, y = R.mnist_split("train", data_dir=fake_mnist_dir)
    assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (300, 28, 28)
    np.testing.assert_allclose(x, images / 255.0, rtol=1e-6)
    fit, hold = R.train_holdout_split(0, data_dir=fake_mnist_dir)
    xh, yh = R.mnist_split("holdout", data_dir=fake_mnist_dir)
    np.testing.assert_array_equal(xh, x[hold])
    np.testing.assert_array_equal(yh, labels[hold])
    assert len(R.mnist_split("fit", data_dir=fake_mnist_dir)[0]) == len(fit)
    assert len(R.mnist_split("test", data_dir=fake_mnist_dir)[0]) == 100
    with pytest.raises(ValueError, match="split must be one of"):
        R.mnist_split("valid", data_dir=fake_mnist_dir)


def test_mosaic_skeleton_equals_one_image_at_a_time():
    from skimage.morphology import skeletonize

    rng = np.random.default_rng(0)
    # blobs touching the tile borders: the worst case for the mosaic
    mask = rng.random((150, 28, 28)) < 0.45
    mask[:, :, :3] = mask[:, :3, :] = True
    want = np.array([skeletonize(m).sum() for m in mask])
    np.testing.assert_array_equal(R.skeleton_lengths(mask, per_row=16), want)
    assert R.skeleton_lengths(mask[:0]).shape == (0,)


def test_features_of_drawn_bars():
    x = np.zeros((3, 28, 28), np.float32)
    x[0, 5:20, 10:13] = 1.0  # upright bar 3 x 15
    for r in range(5, 20):  # leaning right: top to the right
        c = 10 + (20 - r) // 2
        x[1, r, c : c + 3] = 1.0
    f = R.digit_features(x)
    assert f[0, 0] == 45.0 and f[0, 2] == pytest.approx(3 / 15) and f[0, 3] == 0.0
    assert f[1, 3] > 0.4  # about half a pixel right per pixel up
    assert 2.5 < f[0, 1] < 4.0  # 45 ink / a skeleton of ~13 px
    assert f[2, 0] == 0.0 and np.isnan(f[2, 1:]).all()  # blank: no width, box or slant


def test_compare_identical_and_shifted_stats():
    rng = np.random.default_rng(1)
    x = rng.random((200, 28, 28)).astype(np.float32) ** 4
    y = np.arange(200) % 10
    s = R.shape_stats(x, y)
    same = R.compare_stats(s, s)
    assert (same.n_over_15, same.n_over_30) == (0, 0)
    np.testing.assert_array_equal(same.rel, 0.0)
    np.testing.assert_array_equal(same.spread_ratio, 1.0)
    doubled = R.compare_stats(R.shape_stats(np.minimum(2 * x, 1), y), s)
    assert doubled.rel[:, 0, 0].min() > 0.3  # ink mass grows by far more than 30 %
    assert doubled.min_spread_ratio > 1.0
    assert "| 9 | slant |" in same.to_markdown()


def test_cli_refuses_bad_options(capsys):
    assert bench_realism.main(["--source-options", "[1]", "--no-cnn"]) == 2
    assert "JSON object" in capsys.readouterr().err
    assert bench_realism.main(["--n", "5", "--no-cnn"]) == 2
    capsys.readouterr()
    assert bench_realism.main(["--source", "nosuch", "--no-cnn", "--n", "10"]) == 2
    assert "source must be one of" in capsys.readouterr().err
    assert bench_realism.main(["--cnn-seeds", "0", "--no-cnn"]) == 2
    assert "--cnn-seeds" in capsys.readouterr().err


def test_mean_of_cnn_runs_is_per_digit():
    a = R.Accuracy(0.9, np.array([1.0, 0.8] + [np.nan] * 8))
    b = R.Accuracy(0.7, np.array([0.6, 0.8] + [np.nan] * 8))
    m = bench_realism._mean_accuracy([a, b])
    assert m.overall == pytest.approx(0.8)
    np.testing.assert_allclose(m.per_digit[:2], [0.8, 0.8])
    assert np.isnan(m.per_digit[2:]).all()


def test_cnn_is_deterministic_and_learns():
    pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    y = np.arange(160) % 2
    x = rng.random((160, 28, 28)).astype(np.float32) * 0.2
    x[y == 1, 8:20, 12:16] = 1.0
    # one thread: fast on a loaded machine, and the same bytes on any core count
    kw = {"epochs": 2, "seed": 3, "batch_size": 16, "threads": 1}
    a = R.cnn_accuracy(x, y, x[:40], y[:40], **kw)
    b = R.cnn_accuracy(x, y, x[:40], y[:40], **kw)
    assert a.overall == b.overall == 1.0
    np.testing.assert_array_equal(a.per_digit[:2], 1.0)
    assert np.isnan(a.per_digit[2:]).all()  # digits absent from the test set


# -- real MNIST ------------------------------------------------------------------------------
N = 2000


@pytest.fixture(scope="module")
def real_sample(real_mnist_dir):
    xtr, ytr = R.mnist_split("train", data_dir=real_mnist_dir)
    xte, yte = R.mnist_split("test", data_dir=real_mnist_dir)
    rng = np.random.default_rng(0)
    i = rng.choice(len(xtr), N, replace=False)
    j = rng.choice(len(xte), N, replace=False)
    return xtr, ytr, xtr[i], ytr[i], xte[j], yte[j]


@pytest.fixture(scope="module")
def synthetic():
    from strokeseq.sources.stroke import StrokeSource

    labels = np.arange(N) % 10
    return StrokeSource("glyphs").sample(labels, rng=0), labels  # the data-free style


@pytest.mark.mnist
def test_real_stats_against_themselves_and_synthetic(real_sample, synthetic):
    _, _, xtr, ytr, xte, yte = real_sample
    real = R.shape_stats(xte, yte)
    same = R.compare_stats(real, real)
    assert (same.n_over_15, same.n_over_30, same.min_spread_ratio) == (0, 0, 1.0)
    assert (real.counts == np.bincount(yte, minlength=10)).all()
    assert np.isfinite(real.mean).all() and (real.std > 0).all()
    # two real samples agree far better than real and today's synthetic digits
    synth, labels = synthetic
    train_vs_test = R.compare_stats(R.shape_stats(xtr, ytr), real)
    synth_vs_test = R.compare_stats(R.shape_stats(synth, labels), real)
    assert train_vs_test.n_over_30 < synth_vs_test.n_over_30
    assert train_vs_test.min_spread_ratio > 0.9


@pytest.mark.mnist
def test_proxy_on_real_beats_synthetic(real_sample, synthetic):
    _, _, xtr, ytr, xte, yte = real_sample
    synth, labels = synthetic
    real = R.proxy_accuracy(xtr, ytr, xte, yte)
    fake = R.proxy_accuracy(synth, labels, xte, yte)
    assert real.overall > 0.9 and real.overall > fake.overall + 0.05
    assert real.per_digit.shape == (10,)
    np.testing.assert_allclose(
        np.sum(real.per_digit * np.bincount(yte, minlength=10)) / N, real.overall
    )


@pytest.mark.mnist
def test_memorisation_flags_copies_only(real_sample):
    xall, _, _, _, xte, _ = real_sample
    ref = xall[:10000]
    copies = R.memorisation(ref[:200], ref, xte, n=200)
    assert copies.source == 0.0 and copies.real > 0.0 and copies.ratio == 0.0
    assert copies.near_copies == 1.0
    honest = R.memorisation(xte[200:400], ref, xte[:200], n=200, seed=1)
    assert 0.8 < honest.ratio < 1.25 and honest.source > 0.0
    assert honest.near_copies < 0.05
