"""Datasets: per-sample seeding, configs, labels, determinism and no leakage."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from strokeseq.dataset import DatasetConfig, SampleContext, generate, sample_words
from strokeseq.dataset.config import parse_pattern
from strokeseq.sources.mnist.idx import read_idx


# -- seeding ---------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 7, 2**32 - 1, 2**32, 2**64 + 5, 2**127 + 3, 2**200 + 1])
@pytest.mark.parametrize("code", [0, 1])
def test_sample_words_equal_numpy_seedsequence(seed, code):
    idx = np.array([0, 1, 2, 77, 12345, 2**31, 2**32 - 1, 2**32, 2**40 + 3])
    words = sample_words(seed, code, idx, 23)
    for row, i in zip(words, idx, strict=True):
        ss = np.random.SeedSequence(seed, spawn_key=(code, int(i)))
        np.testing.assert_array_equal(row, ss.generate_state(23, np.uint32))


def test_sample_words_random_indices():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 2**32, 200)
    words = sample_words(99, 1, idx, 5)
    for row, i in zip(words, idx, strict=True):
        ref = np.random.SeedSequence(99, spawn_key=(1, int(i))).generate_state(5, np.uint32)
        np.testing.assert_array_equal(row, ref)


# -- config ----------------------------------------------------------------------------------
def test_config_round_trip_and_digest():
    c = DatasetConfig(length=(3, 8), spacing=(0, 10), width={"per_digit": 30, "extra": 10})
    d = c.to_dict()
    assert DatasetConfig.from_dict(d) == c
    assert DatasetConfig.from_dict(d).digest() == c.digest()
    assert c.replace(split="test").digest() != c.digest()
    # proportions are normalised and ordered: equal mixes, equal hash
    a = DatasetConfig(source={"synthetic": 1, "mnist": 3})
    b = DatasetConfig(source={"mnist": 0.75, "synthetic": 0.25})
    assert a.digest() == b.digest()
    assert DatasetConfig(length=[4, 4]).length == 4


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"length": 0}, ValueError),
        ({"length": (5, 3)}, ValueError),
        ({"length": "5"}, TypeError),
        ({"spacing": (-2, 3)}, ValueError),  # tile layout
        ({"width": 0}, ValueError),
        ({"width": {"per_digit": 0}}, ValueError),
        ({"width": {"per": 3}}, ValueError),
        ({"source": "emnist"}, ValueError),
        ({"source": {"mnist": -1}}, ValueError),
        ({"split": "val"}, ValueError),
        ({"writer": "other"}, ValueError),
        ({"writer": "same", "source": "synthetic", "split": "val"}, ValueError),
        ({"layout": "grid"}, ValueError),
        ({"ink": "red"}, ValueError),
        ({"sequences": ["12a"]}, ValueError),
        ({"sequences": []}, ValueError),
        ({"sequences": ["12"], "length": 3}, ValueError),
        ({"pattern": "12x"}, ValueError),
        ({"pattern": "1", "sequences": ["1"]}, ValueError),
    ],
)
def test_config_rejects(kw, err):
    with pytest.raises(err):
        DatasetConfig(**kw)


def test_config_unknown_key():
    with pytest.raises(ValueError, match="unknown config key"):
        DatasetConfig.from_dict({"lenght": 3})


def test_parse_pattern():
    assert parse_pattern("1?[0-2]") == [(1,), tuple(range(10)), (0, 1, 2)]
    assert parse_pattern("[13-5]d") == [(1, 3, 4, 5), tuple(range(10))]


# -- samples ---------------------------------------------------------------------------------
@pytest.fixture
def ctx(fake_mnist_dir):
    cfg = DatasetConfig(length=(3, 6), spacing=(0, 8), width={"per_digit": 34, "extra": 2})
    return SampleContext(cfg, 7, str(fake_mnist_dir))


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_sample_is_pure_function_of_index(ctx):
    whole = generate(ctx, np.arange(300))
    alone = generate(ctx, np.array([123]))
    _equal({k: v[123:124] for k, v in whole.items()}, alone)
    scattered = generate(ctx, np.array([299, 5, 77]))
    _equal({k: v[[299, 5, 77]] for k, v in whole.items()}, scattered)


def test_seed_and_split_change_samples(ctx, fake_mnist_dir):
    a = generate(ctx, np.arange(50))
    b = generate(SampleContext(ctx.config, 8, str(fake_mnist_dir)), np.arange(50))
    c = generate(
        SampleContext(ctx.config.replace(split="test"), 7, str(fake_mnist_dir)), np.arange(50)
    )
    assert not np.array_equal(a["images"], b["images"])
    assert not np.array_equal(a["digits"], c["digits"])


def test_labels_consistent_with_images(ctx, fake_mnist_dir):
    cols = generate(ctx, np.arange(400))
    images = read_idx(fake_mnist_dir / "train-images-idx3-ubyte.gz")
    labels = read_idx(fake_mnist_dir / "train-labels-idx1-ubyte.gz")
    for r in range(400):
        n = int(cols["length"][r])
        assert 3 <= n <= 6
        assert cols["width"][r] == 34 * n + 2
        text = "".join(map(str, cols["digits"][r, :n]))
        assert cols["text"][r] == text
        assert (cols["digits"][r, n:] == -1).all()
        src = cols["src_index"][r, :n]
        np.testing.assert_array_equal(labels[src], cols["digits"][r, :n])
        boxes = cols["boxes"][r, :n]
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] <= cols["width"][r]).all()
        np.testing.assert_array_equal(boxes[1:, 0] - boxes[:-1, 1], cols["gaps"][r, : n - 1])
        assert ((cols["gaps"][r, : n - 1] >= 0) & (cols["gaps"][r, : n - 1] <= 8)).all()
        for j in range(n):  # tile layout: the tile is the MNIST image, black on white
            tile = cols["images"][r, :, boxes[j, 0] : boxes[j, 1]]
            np.testing.assert_array_equal(tile, 255 - images[src[j]])
        # padding past the sample's width is background
        assert (cols["images"][r, :, cols["width"][r] :] == 255).all()


def test_length_and_digit_distributions(fake_mnist_dir):
    cfg = DatasetConfig(length=(2, 5), spacing=(0, 4), width=160)
    cols = generate(SampleContext(cfg, 3, str(fake_mnist_dir)), np.arange(4000))
    counts = np.bincount(cols["length"], minlength=6)[2:]
    assert stats.chisquare(counts).pvalue > 1e-3
    d = cols["digits"][cols["digits"] >= 0]
    assert stats.chisquare(np.bincount(d, minlength=10)).pvalue > 1e-3
    g = cols["gaps"][:, 0][cols["length"] >= 2]  # width 160 always fits: i.i.d. uniform gaps
    assert stats.chisquare(np.bincount(g, minlength=5)).pvalue > 1e-3


def test_sequences_and_pattern(fake_mnist_dir):
    zips = ["02139", "94305", "10001", "7"]
    cfg = DatasetConfig(sequences=zips, width={"per_digit": 30})
    cols = generate(SampleContext(cfg, 1, str(fake_mnist_dir)), np.arange(400))
    assert set(cols["text"]) == set(zips)
    assert (cols["width"] == 30 * cols["length"]).all()
    cfg = DatasetConfig(pattern="9?[0-2]", width=100)
    cols = generate(SampleContext(cfg, 1, str(fake_mnist_dir)), np.arange(300))
    d = cols["digits"]
    assert (d[:, 0] == 9).all() and set(d[:, 2]) == {0, 1, 2} and len(set(d[:, 1])) == 10


def test_width_too_small_is_refused(fake_mnist_dir):
    cfg = DatasetConfig(length=(3, 6), spacing=(2, 4), width=150)
    with pytest.raises(ValueError, match="too small for 6 digit"):
        SampleContext(cfg, 0, str(fake_mnist_dir)).check_widths()


def test_ink_layout_overlap_deterministic(fake_mnist_dir):
    cfg = DatasetConfig(length=(2, 7), spacing=(-6, 12), width=150, layout="ink", ink="white")
    ctx = SampleContext(cfg, 5, str(fake_mnist_dir))
    ctx.check_widths()
    whole = generate(ctx, np.arange(600))
    for pick in ([17], [3, 599, 250], list(range(0, 600, 7))):
        part = generate(ctx, np.array(pick))
        _equal({k: v[pick] for k, v in whole.items()}, part)
    assert (whole["gaps"] < 0).any()


def test_writer_same(fake_mnist_dir):
    cfg = DatasetConfig(length=4, width=130, writer="same")
    cols = generate(SampleContext(cfg, 2, str(fake_mnist_dir)), np.arange(200))
    w = cols["src_writer"]
    assert (w >= 0).all() and (w == w[:, :1]).all()


def test_no_leakage_between_splits(fake_mnist_dir):
    """Train samples use only train digits and writers; test only test ones.

    The fake QMNIST files give train writers 0..9 and test writers 100..104,
    disjoint like the real ones (MNIST's train and test writers are disjoint).
    """
    base = DatasetConfig(length=5, width=160)
    tr = generate(SampleContext(base, 0, str(fake_mnist_dir)), np.arange(500))
    te = generate(
        SampleContext(base.replace(split="test"), 0, str(fake_mnist_dir)), np.arange(500)
    )
    assert tr["src_index"].max() < 300 and te["src_index"].max() < 100
    assert set(tr["src_writer"].ravel()) <= set(range(10))
    assert set(te["src_writer"].ravel()) <= set(range(100, 105))
    test_images = read_idx(fake_mnist_dir / "t10k-images-idx3-ubyte.gz")
    tile = tr["images"][0, :, tr["boxes"][0, 0, 0] : tr["boxes"][0, 0, 1]]
    assert not any(np.array_equal(255 - tile, t) for t in test_images)


@pytest.mark.mnist
def test_no_leakage_real_mnist(real_mnist_dir, real_qmnist_dir, monkeypatch):
    from strokeseq.sources.mnist.writers import load_writers

    monkeypatch.setenv("STROKESEQ_QMNIST_DIR", str(real_qmnist_dir))

    wtr, wte = load_writers("train", real_mnist_dir), load_writers("test", real_mnist_dir)
    if wtr is None or wte is None:
        pytest.skip("QMNIST writer files not available")
    assert not set(wtr.tolist()) & set(wte.tolist())  # MNIST's writers are disjoint
    cfg = DatasetConfig(length=5, width=160, split="test")
    cols = generate(SampleContext(cfg, 0, str(real_mnist_dir)), np.arange(2000))
    assert cols["src_index"].max() < 10_000
    assert set(cols["src_writer"].ravel().tolist()) <= set(wte.tolist())


def test_synthetic_and_mix(fake_mnist_dir):
    cfg = DatasetConfig(length=3, width=100, source={"mnist": 0.5, "synthetic": 0.5})
    ctx = SampleContext(cfg, 4, str(fake_mnist_dir))
    whole = generate(ctx, np.arange(24))
    part = generate(ctx, np.array([5, 20]))
    for k in whole:
        np.testing.assert_array_equal(whole[k][[5, 20]], part[k], err_msg=k)
    syn = whole["source"] == 1
    assert syn.any() and (~syn).any()
    assert (whole["src_index"][syn] == -1).all()
    assert np.isfinite(whole["syn_slant"][syn]).all()
    assert np.isnan(whole["syn_slant"][~syn]).all()


def test_augmented_samples_deterministic(tmp_path, fake_mnist_dir):
    pytest.importorskip("strokeseq.augment")
    from strokeseq.dataset import generate_dataset

    cfg = DatasetConfig(length=(3, 4), width=130, augment="light")
    assert cfg.augment is not None and "digit" in cfg.augment  # explicit config, not a name
    ctx = SampleContext(cfg, 6, str(fake_mnist_dir))
    whole = generate(ctx, np.arange(30))
    part = generate(ctx, np.array([4, 29]))
    for k in whole:
        np.testing.assert_array_equal(whole[k][[4, 29]], part[k], err_msg=k)
    plain = generate(
        SampleContext(cfg.replace(augment=None), 6, str(fake_mnist_dir)), np.arange(30)
    )
    np.testing.assert_array_equal(whole["digits"], plain["digits"])
    assert not np.array_equal(whole["images"], plain["images"])
    s = generate_dataset(tmp_path / "d", 30, cfg, 6, data_dir=fake_mnist_dir)
    m = (s.folder / "manifest.json").read_text()
    assert '"augment": {' in m


def test_width_text_in_config_files():
    from strokeseq.dataset import DatasetConfig

    assert DatasetConfig(length=(3, 8), width="30n+10").width == {"per_digit": 30, "extra": 10}
    assert DatasetConfig(width="200").width == 200
    assert DatasetConfig(length=(3, 8), width="30n+10").width_for(8) == 250
    with pytest.raises(ValueError, match="30n"):
        DatasetConfig(width="wide")
