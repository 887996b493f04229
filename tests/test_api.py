"""The public API: shapes, polarity, exact tiles, randomness, spacing, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

import strokeseq
from strokeseq import generate_numbers_sequence, generate_sequences, render_sequences
from strokeseq.sources import get_source
from strokeseq.tiles import chunk_uniforms


@pytest.fixture
def data(fake_mnist_dir, monkeypatch):
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(fake_mnist_dir))
    return fake_mnist_dir


def black(img_u8: np.ndarray) -> np.ndarray:
    """The documented polarity map ``1 - v/255``, as one float32 division ``(255 - v) / 255``."""
    return (np.uint8(255) - img_u8).astype(np.float32) / np.float32(255)


def test_public_names():
    from strokeseq import generate_numbers_sequence as g

    assert callable(g)
    for name in strokeseq.__all__:
        assert getattr(strokeseq, name) is not None


def test_basic_contract(data):
    img = generate_numbers_sequence([3, 0, 5], (0, 10), 120, rng=0)
    assert img.shape == (28, 120)
    assert img.dtype == np.float32
    assert img.flags.c_contiguous
    assert img.min() >= 0.0 and img.max() <= 1.0
    assert img.max() == 1.0 and img.min() < 0.5  # white page, dark ink


def test_tiles_are_exact_mnist_images_of_the_requested_labels(data):
    src = get_source("mnist", split="train", data_dir=None)
    seqs = np.random.default_rng(0).integers(0, 10, size=(300, 4))
    images, batch = render_sequences(seqs, (0, 6), 140, rng=1)
    idx = batch.meta["index"]
    np.testing.assert_array_equal(src.labels[idx], seqs)  # the right digit, every time
    for i in range(len(seqs)):
        x = batch.boxes[i, :, 0]
        for j in range(4):
            np.testing.assert_array_equal(
                images[i, :, x[j] : x[j] + 28], black(src.images[idx[i, j]])
            )
        covered = np.zeros(140, bool)
        for j in range(4):
            covered[x[j] : x[j] + 28] = True
        assert (images[i][:, ~covered] == 1.0).all()  # gaps and margins are blank
    np.testing.assert_array_equal(np.diff(batch.boxes[:, :, 0], axis=1) - 28, batch.gaps)


def test_single_call_equals_the_batch_path(data):
    for seed in range(20):
        one = generate_numbers_sequence("2718", (1, 9), 150, rng=seed)
        many, _ = render_sequences(["2718"], (1, 9), 150, rng=seed)
        np.testing.assert_array_equal(one, many[0])


def test_seeds(data):
    a = generate_numbers_sequence([1, 2, 3], (0, 10), 120, rng=42)
    b = generate_numbers_sequence([1, 2, 3], (0, 10), 120, rng=np.random.SeedSequence(42))
    c = generate_numbers_sequence([1, 2, 3], (0, 10), 120, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    others = [generate_numbers_sequence([1, 2, 3], (0, 10), 120, rng=s) for s in range(1, 6)]
    assert all(not np.array_equal(a, o) for o in others)
    assert not np.array_equal(
        generate_numbers_sequence([1, 2, 3], (0, 10), 120),
        generate_numbers_sequence([1, 2, 3], (0, 10), 120),
    )


def test_polarity_and_dtype_options(data):
    black_img = generate_numbers_sequence("305", (0, 10), 120, rng=3)
    white_img = generate_numbers_sequence("305", (0, 10), 120, rng=3, ink="white")
    np.testing.assert_allclose(white_img, 1 - black_img, atol=1e-7)
    assert white_img.min() == 0.0
    u8 = generate_numbers_sequence("305", (0, 10), 120, rng=3, dtype=np.uint8)
    assert u8.dtype == np.uint8
    np.testing.assert_array_equal(u8, np.rint(black_img * 255).astype(np.uint8))


@pytest.mark.parametrize("n", [1, 2, 3, 7])
@pytest.mark.parametrize(("lo", "hi"), [(0, 0), (0, 10), (5, 5), (3, 20)])
def test_widths_are_exact(data, n, lo, hi):
    need = 28 * n + (n - 1) * lo
    for width in (need, need + 1, need + 37, 28 * n + (n - 1) * hi + 50):
        img = generate_numbers_sequence([7] * n, (lo, hi), width, rng=n)
        assert img.shape == (28, width)
        imgs = generate_sequences([[7] * n] * 3, (lo, hi), width, rng=n)
        assert imgs.shape == (3, 28, width)


def test_gaps_are_uniform_when_they_fit(data):
    _, batch = render_sequences(np.zeros((4000, 3), int), (0, 10), 200, rng=5)
    counts = np.bincount(batch.gaps.ravel(), minlength=11)
    assert counts.size == 11 and counts[0] > 0 and counts[10] > 0
    assert stats.chisquare(counts).pvalue > 0.01


def test_tight_width_conditions_on_fitting(data):
    # 3 tiles = 84 px; width 96 leaves 12 px for two gaps of 0..10
    _, batch = render_sequences(np.zeros((20000, 3), int), (0, 10), 96, rng=6)
    assert (batch.gaps.sum(axis=1) <= 12).all()
    pairs = batch.gaps[:, 0] * 11 + batch.gaps[:, 1]
    feasible = [a * 11 + b for a in range(11) for b in range(11) if a + b <= 12]
    counts = np.bincount(pairs, minlength=121)[feasible]
    assert (counts > 0).all() and stats.chisquare(counts).pvalue > 0.001


def test_ink_layout_measures_gaps_between_strokes(data):
    src = get_source("mnist", split="train", data_dir=None)
    seqs = np.random.default_rng(7).integers(0, 10, size=(500, 3))
    images, batch = render_sequences(seqs, (-3, 4), 90, layout="ink", rng=8, ink="white")
    ext = src.extents[batch.meta["index"]]
    widths = ext[..., 1] - ext[..., 0]
    np.testing.assert_array_equal(batch.boxes[..., 1] - batch.boxes[..., 0], widths)
    np.testing.assert_array_equal(batch.boxes[:, 1:, 0] - batch.boxes[:, :-1, 1], batch.gaps)
    assert batch.gaps.min() < 0  # overlaps happen
    # each box column range holds ink, the columns outside every box hold none
    for i in range(50):
        inside = np.zeros(90, bool)
        for x0, x1, *_ in batch.boxes[i]:
            inside[x0:x1] = True
            assert images[i][:, x0].max() > 0 and images[i][:, x1 - 1].max() > 0
        assert images[i][:, ~inside].max() == 0


def test_ink_layout_overlaps_are_max_composited(data):
    src = get_source("mnist", split="train", data_dir=None)
    images, batch = render_sequences(
        np.array([[9, 9]] * 50), (-5, -5), 60, layout="ink", rng=9, ink="white", dtype=np.uint8
    )
    for i in range(50):
        a, b = batch.meta["index"][i]
        canvas = np.zeros((28, 60 + 56), np.uint8)
        for idx, (x0, *_) in zip((a, b), batch.boxes[i], strict=True):
            tile_x = x0 - src.extents[idx, 0] + 28
            np.maximum(
                canvas[:, tile_x : tile_x + 28],
                src.images[idx],
                out=canvas[:, tile_x : tile_x + 28],
            )
        np.testing.assert_array_equal(images[i], canvas[:, 28:-28])


def test_same_writer(data):
    src = get_source("mnist", split="train", data_dir=None)
    _, batch = render_sequences(
        np.random.default_rng(1).integers(0, 10, (200, 5)), (0, 4), 160, writer="same", rng=2
    )
    w = batch.meta["writer"]
    assert (w == w[:, :1]).all() and len(np.unique(w[:, 0])) > 3
    np.testing.assert_array_equal(src.writers[batch.meta["index"]], w)


def test_batch_api_mixed_lengths(data):
    seqs = ["1", "22", "333", "4444", [5, 5], np.array([6, 7, 8])]
    imgs = generate_sequences(seqs, (0, 3), 130, rng=1)
    assert imgs.shape == (6, 28, 130) and imgs.dtype == np.float32
    assert (imgs.min(axis=(1, 2)) < 0.5).all()


BAD_CALLS = [
    (([3, 10], (0, 1), 100), ValueError, "0-9"),
    (([3, -1], (0, 1), 100), ValueError, "0-9"),
    (([3.5], (0, 1), 100), TypeError, "integer"),
    ((["a"], (0, 1), 100), TypeError, "integer"),
    (([None], (0, 1), 100), TypeError, "integer"),
    (([True], (0, 1), 100), TypeError, "integer"),
    ((None, (0, 1), 100), TypeError, "sequence"),
    (("3a5", (0, 1), 100), ValueError, "0-9"),
    (([], (0, 1), 100), ValueError, "at least one"),
    (("", (0, 1), 100), ValueError, "non-empty"),
    (([1], 5, 100), TypeError, "pair"),
    (([1], (1, 2, 3), 100), ValueError, "pair"),
    (([1], "05", 100), TypeError, "pair"),
    (([1, 2], (5, 1), 100), ValueError, "min must be <= max"),
    (([1, 2], (float("nan"), 1), 100), ValueError, "finite"),
    (([1, 2], (0, float("inf")), 100), ValueError, "finite"),
    (([1, 2], (0.5, 1), 100), ValueError, "whole"),
    (([1, 2], (-2, 1), 100), ValueError, "layout='ink'"),
    (([1, 2], (0, 1), 0), ValueError, "positive"),
    (([1, 2], (0, 1), -5), ValueError, "positive"),
    (([1, 2], (0, 1), 60.5), ValueError, "whole"),
    (([1, 2], (0, 1), "60"), TypeError, "integer"),
    (([1, 2], (0, 1), None), TypeError, "integer"),
    (([1, 2], (0, 1), 55), ValueError, "at least 56 px"),
    (([1, 2, 3], (4, 9), 91), ValueError, "at least 92 px"),
]


@pytest.mark.parametrize(("args", "exc", "words"), BAD_CALLS)
def test_bad_input_is_refused_with_a_useful_message(data, args, exc, words):
    with pytest.raises(exc, match=words):
        generate_numbers_sequence(*args)


@pytest.mark.parametrize(
    ("kwargs", "exc"),
    [
        ({"layout": "grid"}, ValueError),
        ({"ink": "red"}, ValueError),
        ({"dtype": np.int16}, TypeError),
        ({"source": "emnist"}, ValueError),
        ({"source": 3}, TypeError),
        ({"rng": 1.5}, TypeError),
        ({"rng": -1}, ValueError),
        ({"writer": "other"}, ValueError),
        ({"split": "valid"}, ValueError),
    ],
)
def test_bad_options(data, kwargs, exc):
    with pytest.raises(exc):
        generate_numbers_sequence([1, 2], (0, 1), 100, **kwargs)


def test_width_exactly_minimum_gives_minimum_gaps(data):
    _, batch = render_sequences(np.ones((100, 4), int), (3, 9), 4 * 28 + 9, rng=0)
    assert (batch.gaps == 3).all() and (batch.boxes[:, 0, 0] == 0).all()


values = st.one_of(
    st.integers(-5, 15),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=3),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    digits=st.one_of(st.lists(values, max_size=6), st.text(max_size=6), values),
    spacing=st.one_of(st.tuples(values, values), st.lists(values, max_size=3), values),
    width=values.map(lambda v: v * 20 if isinstance(v, int) and not isinstance(v, bool) else v),
    layout=st.sampled_from(["tile", "ink"]),
)
def test_fuzz_result_is_an_image_or_a_clear_error(data, digits, spacing, width, layout):
    try:
        img = generate_numbers_sequence(digits, spacing, width, layout=layout, rng=0)
    except (ValueError, TypeError) as exc:
        assert str(exc)  # a message, always
        return
    assert img.shape == (28, width) and img.dtype == np.float32
    assert img.min() >= 0 and img.max() <= 1


@pytest.mark.mnist
def test_real_mnist_tiles(real_mnist_dir):
    from strokeseq.sources.mnist.files import load_mnist

    images, labels = load_mnist("test", real_mnist_dir)
    seqs = np.random.default_rng(0).integers(0, 10, (200, 5))
    out, batch = render_sequences(seqs, (0, 8), 190, split="test", data_dir=real_mnist_dir, rng=3)
    idx = batch.meta["index"]
    np.testing.assert_array_equal(labels[idx], seqs)
    for i in range(0, 200, 7):
        for j in range(5):
            x = batch.boxes[i, j, 0]
            np.testing.assert_array_equal(out[i, :, x : x + 28], black(images[idx[i, j]]))


@pytest.mark.mnist
def test_real_mnist_same_writer_and_disjoint_splits(real_mnist_dir, real_qmnist_dir, monkeypatch):
    monkeypatch.setenv("STROKESEQ_QMNIST_DIR", str(real_qmnist_dir))
    _, train = render_sequences(
        ["0123456789"] * 50, (0, 2), 300, writer="same", data_dir=real_mnist_dir, rng=1
    )
    _, test = render_sequences(
        ["0123456789"] * 50,
        (0, 2),
        300,
        writer="same",
        split="test",
        data_dir=real_mnist_dir,
        rng=1,
    )
    assert (train.meta["writer"] == train.meta["writer"][:, :1]).all()
    assert (test.meta["writer"] == test.meta["writer"][:, :1]).all()
    assert not set(train.meta["writer"].ravel()) & set(test.meta["writer"].ravel())


@pytest.mark.parametrize(
    "augment", ["light", "medium", {"digit": {"affine": {"p": 1.0, "rotation": [-20, 20]}}}]
)
def test_augmentation_hook(data, augment):
    a, ba = render_sequences(["305", "123"], (0, 6), 120, rng=4, augment=augment)
    b, _ = render_sequences(["305", "123"], (0, 6), 120, rng=4, augment=augment)
    plain, _ = render_sequences(["305", "123"], (0, 6), 120, rng=4)
    np.testing.assert_array_equal(a, b)  # deterministic from the seed
    assert a.shape == (2, 28, 120) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
    assert not np.array_equal(a, plain)
    assert ba.boxes.shape == (2, 3, 4)
    one = generate_numbers_sequence("305", (0, 6), 120, rng=4, augment=augment)
    assert one.shape == (28, 120)


def test_identity_augmentation_changes_nothing(data):
    a, _ = render_sequences(["305"], (0, 6), 120, rng=4, augment={})
    b, _ = render_sequences(["305"], (0, 6), 120, rng=4)
    np.testing.assert_array_equal(a, b)


def test_bad_augmentation_config(data):
    with pytest.raises(ValueError, match="nonsense"):
        generate_numbers_sequence("305", (0, 6), 120, augment={"digit": {"nonsense": {}}})


def test_empty_batch_is_an_empty_array(data):
    assert generate_sequences([], (0, 2), 100).shape == (0, 28, 100)
    images, batch = render_sequences(np.zeros((0, 3), int), (0, 2), 100)
    assert images.shape == (0, 28, 100) and batch.boxes.shape == (0, 3, 4)
    with pytest.raises(ValueError, match="min must be <= max"):
        generate_sequences([], (3, 2), 100)  # still validated


@pytest.mark.parametrize(
    ("sequences", "exc"),
    [
        ("305", TypeError),
        (5, TypeError),
        ([[1, 2], [3, "x"]], TypeError),
        ([[1, 12]], ValueError),
        (np.array([[1.5, 2.0]]), TypeError),
        (np.zeros((2, 0), int), ValueError),
        ([[1], []], ValueError),
    ],
)
def test_batch_bad_input(data, sequences, exc):
    with pytest.raises(exc):
        generate_sequences(sequences, (0, 2), 100)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sequences=st.one_of(
        st.lists(st.one_of(st.lists(values, max_size=4), st.text(max_size=4), values), max_size=4),
        values,
    ),
    spacing=st.one_of(st.tuples(values, values), values),
    width=values.map(lambda v: v * 20 if isinstance(v, int) and not isinstance(v, bool) else v),
    layout=st.sampled_from(["tile", "ink"]),
)
def test_fuzz_batch_result_is_images_or_a_clear_error(data, sequences, spacing, width, layout):
    try:
        imgs = generate_sequences(sequences, spacing, width, layout=layout, rng=0)
    except (ValueError, TypeError) as exc:
        assert str(exc)
        return
    assert imgs.shape == (len(sequences), 28, width) and imgs.dtype == np.float32
    assert imgs.size == 0 or (imgs.min() >= 0 and imgs.max() <= 1)


# -- out= and the batch path's chunks -------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "dtype"),
    [({}, np.float32), ({"dtype": np.uint8, "ink": "white"}, np.uint8), ({"layout": "ink"}, None)],
)
def test_out_gives_the_same_bytes_and_is_returned(data, kwargs, dtype):
    seqs = np.random.default_rng(0).integers(0, 10, (300, 3))
    want = generate_sequences(seqs, (0, 6), 100, rng=4, **kwargs)
    out = np.full(want.shape, 7, want.dtype)
    got = generate_sequences(seqs, (0, 6), 100, rng=4, out=out, **kwargs)
    assert got is out
    np.testing.assert_array_equal(out, want)
    images, batch = render_sequences(seqs, (0, 6), 100, rng=4, out=np.empty_like(want), **kwargs)
    np.testing.assert_array_equal(images, want)
    assert batch.boxes.shape == (300, 3, 4)


def test_out_with_mixed_lengths(data):
    seqs = ["305", "12", "9", "4417"]
    want = generate_sequences(seqs, (0, 4), 130, rng=2)
    out = np.empty_like(want)
    assert generate_sequences(seqs, (0, 4), 130, rng=2, out=out) is out
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize(
    ("out", "kwargs", "exc", "words"),
    [
        ([[0.0]], {}, TypeError, "numpy.ndarray"),
        (np.empty((2, 28, 99), np.float32), {}, ValueError, "shape (2, 28, 100)"),
        (np.empty((3, 28, 100), np.float32), {}, ValueError, "shape"),
        (np.empty((2, 28, 100), np.float64), {}, TypeError, "dtype float64"),
        (np.empty((2, 28, 100), np.float32), {"dtype": "uint8"}, TypeError, "dtype float32"),
    ],
)
def test_bad_out_is_refused_before_any_work(data, out, kwargs, exc, words):
    with pytest.raises(exc, match=words.replace("(", r"\(").replace(")", r"\)")):
        generate_sequences(["12", "34"], (0, 4), 100, out=out, **kwargs)


def test_read_only_out_is_refused(data):
    out = np.empty((1, 28, 80), np.float32)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="writeable"):
        generate_sequences(["12"], (0, 4), 80, out=out)


def test_chunks_do_not_depend_on_dtype_or_count(data):
    """Chunks are a function of the width: uint8 and float32 show the same picture,
    and the first rows of a long batch are those of a short one."""
    seqs = np.random.default_rng(1).integers(0, 10, (2 * strokeseq.api.chunk_rows(90) + 5, 3))
    f = generate_sequences(seqs, (0, 3), 90, rng=9)
    u = generate_sequences(seqs, (0, 3), 90, rng=9, dtype="uint8")
    np.testing.assert_array_equal(np.rint(f * 255).astype(np.uint8), u)
    n = strokeseq.api.chunk_rows(90)
    head = generate_sequences(seqs[:n], (0, 3), 90, rng=9)
    np.testing.assert_array_equal(head, f[:n])


@pytest.mark.parametrize("ink", ["black", "white"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8, "float32", "uint8"])
def test_single_call_equals_batch_for_every_polarity_and_dtype(data, ink, dtype):
    for seed in range(5):
        one = generate_numbers_sequence("80417", (1, 9), 190, rng=seed, ink=ink, dtype=dtype)
        many = generate_sequences(["80417"], (1, 9), 190, rng=seed, ink=ink, dtype=dtype)
        assert one.dtype == many.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(one, many[0])


# -- the tile fast path of the batch API ---------------------------------------------------


def test_block_uniforms_are_the_chunked_draws():
    """One random() call sliced chunk by chunk gives the numbers of the chunked path,
    whatever the bit generator."""
    for bitgen in (np.random.PCG64, np.random.MT19937, np.random.Philox, np.random.SFC64):
        for n_rows, n, step in ((10, 3, 4), (8, 1, 4), (3, 10, 5), (0, 2, 3)):
            a = np.random.Generator(bitgen(5))
            picks, gaps, margins = chunk_uniforms(a, n_rows, n, step)
            b = np.random.Generator(bitgen(5))
            for s in range(0, n_rows, step):
                r = min(step, n_rows - s)
                np.testing.assert_array_equal(picks[s : s + r].ravel(), b.random(r * n))
                np.testing.assert_array_equal(gaps[s : s + r], b.random((r, n - 1)))
                np.testing.assert_array_equal(margins[s : s + r], b.random(r))
            assert a.random() == b.random()  # both streams end at the same place


@pytest.mark.parametrize("ink", ["black", "white"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_fast_path_equals_the_general_path(data, monkeypatch, ink, dtype):
    """generate_sequences (bank path, blocks of uniforms) gives render_sequences' images
    (chunked compose path) over several chunks and blocks, and leaves the generator
    where the general path leaves it."""
    monkeypatch.setattr(strokeseq.api, "BLOCK_ROWS", 2 * strokeseq.api.chunk_rows(100))
    blocks = []
    real = strokeseq.tiles._compose_tiles_into
    monkeypatch.setattr(
        strokeseq.tiles,
        "_compose_tiles_into",
        lambda out, *a, **k: blocks.append(len(out)) or real(out, *a, **k),
    )
    seqs = np.random.default_rng(3).integers(0, 10, (5 * strokeseq.api.chunk_rows(100) + 7, 3))
    for spacing, width in (((0, 6), 100), ((1, 9), 100)):  # loose, and tight (exact draws)
        g1, g2 = np.random.default_rng(11), np.random.default_rng(11)
        fast = generate_sequences(seqs, spacing, width, rng=g1, ink=ink, dtype=dtype)
        slow, _ = render_sequences(seqs, spacing, width, rng=g2, ink=ink, dtype=dtype)
        np.testing.assert_array_equal(fast, slow)
        assert g1.random() == g2.random()
    step = strokeseq.api.chunk_rows(100)
    assert blocks == [2 * step, 2 * step, step + 7] * 2  # the fast path ran, block by block


def test_fast_path_into_a_strided_out(data):
    """A non-contiguous out (a view of a wider array) takes the general path, same bytes."""
    seqs = np.random.default_rng(0).integers(0, 10, (50, 3))
    want = generate_sequences(seqs, (0, 6), 100, rng=4)
    wide = np.zeros((50, 28, 130), np.float32)
    got = generate_sequences(seqs, (0, 6), 100, rng=4, out=wide[:, :, 10:110])
    np.testing.assert_array_equal(got, want)
    assert (wide[:, :, :10] == 0).all() and (wide[:, :, 110:] == 0).all()


def test_unknown_option_is_named():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'colour'.*options are"):
        generate_sequences(["12"], (0, 4), 80, colour="red")


class _NoBank(type(get_source("mnist", split="test"))):
    """MNIST draws without a tile bank: the fast paths fall back to the composer."""

    def tile_pools(self):
        return None


@pytest.mark.parametrize("ink", ["black", "white"])
def test_a_source_without_tile_bank_gives_the_same_bytes(data, ink):
    src, plain = _NoBank("train"), get_source("mnist", split="train")
    seqs = np.random.default_rng(2).integers(0, 10, (40, 3))
    for seed in range(3):
        one = generate_numbers_sequence("305", (0, 9), 120, source=src, rng=seed, ink=ink)
        want = generate_numbers_sequence("305", (0, 9), 120, source=plain, rng=seed, ink=ink)
        np.testing.assert_array_equal(one, want)
        many = generate_sequences(seqs, (0, 9), 120, source=src, rng=seed, ink=ink)
        np.testing.assert_array_equal(
            many, generate_sequences(seqs, (0, 9), 120, rng=seed, ink=ink)
        )


def test_remembered_options_still_refuse_bad_input(data):
    """After a call that took the single-call fast path, bad input is refused as before."""
    generate_numbers_sequence([1, 2], (0, 1), 100, rng=0)
    for args, exc, words in BAD_CALLS:
        with pytest.raises(exc, match=words):
            generate_numbers_sequence(*args)
    with pytest.raises(TypeError, match="rng must be"):
        generate_numbers_sequence([1, 2], (0, 1), 100, rng=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        generate_numbers_sequence([1, 2], (0, 1), 100, rng=-1)
    with pytest.raises(TypeError, match="data_dir must be"):
        generate_numbers_sequence([1, 2], (0, 1), 100, data_dir=["x"])
