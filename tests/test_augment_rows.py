"""The rows API: one generator per row, batched work, the same bits as a loop over rows.

``Augmenter.digits_rows`` / ``sequences_rows`` must give exactly what calling
``digits`` / ``sequences`` row by row gives, and leave every generator in the
state that loop leaves it in.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from strokeseq.augment import DIGIT_ORDER, SEQUENCE_ORDER, Augmenter
from strokeseq.augment import digit as _d
from strokeseq.augment._core import gaussian_blur
from strokeseq.augment.config import SCHEMA, Param, strength_config
from strokeseq.augment.units import UNITS, Unit


def every_transform(p: float) -> dict:
    """Every digit and sequence transform with probability ``p`` and wide ranges.

    The ranges are wide on purpose: blur and elastic widths that vary within a
    row and between rows (their kernels depend on the widest of a call), cut
    counts including 0, a sequence blur that is sometimes 0.
    """
    return {
        "digit": {
            "stroke_width": {"p": p, "radius": [-1.5, 2.5]},
            "affine": {"p": p, "rotation": [-30, 30], "translate_x": [-2, 2]},
            "elastic": {"p": p, "alpha": [0, 40], "sigma": [2.0, 9.0]},
            "broken_strokes": {"p": p, "cuts": [0, 4], "radius": [0.5, 2.0]},
            "normalize": {"p": p},
            "blur": {"p": p, "sigma": [0.0, 1.8]},
            "noise": {"p": p, "std": [0.0, 0.2]},
        },
        "sequence": {
            "slant": {"p": p, "angle": [-20, 20]},
            "wobble": {"p": p, "amplitude": [0, 3], "wavelength": [10, 120]},
            "contrast": {"p": p},
            "clutter": {"p": p, "lines": [0, 3], "specks": [0, 20]},
            "blur": {"p": p, "sigma": [0.0, 1.5]},
            "noise": {"p": p, "std": [0.0, 0.1]},
        },
    }


CONFIGS = {
    # exact strengths, as robustness ladders use them: a choice per digit
    "strengths": {
        "digit": {
            **strength_config(rotation=12, shear=20, stroke_radius=(-0.6, 1.5), elastic_alpha=25)[
                "digit"
            ],
            "broken_strokes": {"p": 0.5, "cuts": {"choice": [0, 2, 3]}},
        },
        "sequence": {"slant": {"p": 0.5, "angle": {"choice": [-8, 8]}}, "clutter": True},
    },
    "light": "light",
    "medium": "medium",
    "heavy": "heavy",
    "all_p1": every_transform(1.0),
    "all_p05": every_transform(0.5),
}
SHAPES = [(1, 1), (7, 3), (300, 5)]  # (rows, digits per row)


def test_configs_cover_every_transform():
    for p in (1.0, 0.5):
        aug = Augmenter.from_config(every_transform(p))
        cfg = aug.to_config()
        assert all(cfg["digit"][t]["p"] == p for t in DIGIT_ORDER)
        assert all(cfg["sequence"][t]["p"] == p for t in SEQUENCE_ORDER)


def make_ink(n: int, seed: int) -> np.ndarray:
    """Blob digits of varied thickness, with an empty digit now and then."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.float32)
    for i in range(n):
        if i % 11 == 4:
            continue  # no ink: the gaps and the MNIST framing leave it alone
        y0, x0 = rng.integers(3, 9, 2)
        h, w = rng.integers(10, 18), rng.integers(2, 9)
        x[i, y0 : y0 + h, x0 : x0 + w] = rng.uniform(0.4, 1.0, (h, w))
        x[i, y0 + h // 2, x0 : x0 + 12] = 1.0
    return x


def make_lines(n: int, width: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Lines of three blob digits, their boxes, and a padding box for a missing digit."""
    ink = make_ink(3 * n, seed)
    img = np.zeros((n, 28, width), np.float32)
    boxes = np.zeros((n, 4, 4), np.int64)
    step = (width - 28) // 2
    for j in range(3):
        img[:, :, j * step : j * step + 28] = ink[j::3]
        boxes[:, j] = (j * step, j * step + 28, 2, 26)
    boxes[:, 3] = (width, width, 0, 0)  # padding: returned unchanged
    return img, boxes


def gens(rows: int, seed: int) -> tuple[list[np.random.Generator], list[np.random.Generator]]:
    """Two identical lists of independent generators, one per row."""
    g = [np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(r,))) for r in range(rows)]
    return g, copy.deepcopy(g)


def assert_bits(a: np.ndarray, b: np.ndarray) -> None:
    """Equal values AND equal bits (a -0.0 against a 0.0 fails too)."""
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype and a.tobytes() == b.tobytes()


def assert_same_states(g1: list, g2: list) -> None:
    assert [g.bit_generator.state for g in g1] == [g.bit_generator.state for g in g2]


def assert_same_params(p1: dict, p2: dict) -> None:
    assert p1.keys() == p2.keys()
    for name in p1:
        assert p1[name].keys() == p2[name].keys()
        for k in p1[name]:
            np.testing.assert_array_equal(p1[name][k], p2[name][k])


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize(("rows", "per_row"), SHAPES)
def test_digits_rows_equals_loop(config, rows, per_row):
    aug = Augmenter.from_config(CONFIGS[config])
    ink = make_ink(rows * per_row, seed=rows)
    g1, g2 = gens(rows, seed=per_row)
    loop = [
        aug.digits(ink[r * per_row : (r + 1) * per_row], g1[r], return_params=True)
        for r in range(rows)
    ]
    got, params = aug.digits_rows(ink, g2, per_row, return_params=True)
    assert_bits(got, np.concatenate([d for d, _ in loop]))
    assert_same_states(g1, g2)
    ref_params = {
        name: {k: np.concatenate([p[name][k] for _, p in loop]) for k in loop[0][1][name]}
        for name in loop[0][1]
    }
    assert_same_params(params, ref_params)


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("rows", [r for r, _ in SHAPES])
@pytest.mark.parametrize("with_boxes", [True, False])
def test_sequences_rows_equals_loop(config, rows, with_boxes):
    aug = Augmenter.from_config(CONFIGS[config])
    width = 97 if rows == 7 else 160  # an odd width too: no SIMD-lane luck
    img, boxes = make_lines(rows, width, seed=rows + 1)
    b = boxes if with_boxes else None
    g1, g2 = gens(rows, seed=11)
    loop = [
        aug.sequences(
            img[r : r + 1], None if b is None else b[r : r + 1], g1[r], return_params=True
        )
        for r in range(rows)
    ]
    out, nb, params = aug.sequences_rows(img, b, g2, return_params=True)
    assert_bits(out, np.concatenate([o for o, _, _ in loop]))
    if with_boxes:
        np.testing.assert_array_equal(nb, np.concatenate([x for _, x, _ in loop]))
        assert nb.dtype == np.int64
    else:
        assert nb is None
    assert_same_states(g1, g2)
    ref_params = {
        name: {k: np.concatenate([p[name][k] for _, _, p in loop]) for k in loop[0][2][name]}
        for name in loop[0][2]
    }
    assert_same_params(params, ref_params)


@pytest.mark.parametrize("config", ["medium", "all_p05"])
def test_digits_then_sequences_continue_each_stream(config):
    """The dataset's per-sample loop (digits, then the line, same generator) = two rows calls."""
    aug = Augmenter.from_config(CONFIGS[config])
    rows, per_row, width = 40, 3, 120
    ink = make_ink(rows * per_row, seed=5)
    g1, g2 = gens(rows, seed=3)

    def line(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        img = np.zeros((d.shape[0] // per_row, 28, width), np.float32)
        boxes = np.zeros((img.shape[0], per_row, 4), np.int64)
        for j in range(per_row):
            img[:, :, 30 * j : 30 * j + 28] = d[j::per_row]
            boxes[:, j] = (30 * j, 30 * j + 28, 0, 28)
        return img, boxes

    ref_img, ref_boxes = [], []
    for r in range(rows):
        d = aug.digits(ink[r * per_row : (r + 1) * per_row], g1[r])
        i, b = aug.sequences(*line(d), g1[r])
        ref_img.append(i)
        ref_boxes.append(b)
    img, boxes = aug.sequences_rows(*line(aug.digits_rows(ink, g2, per_row)), g2)
    assert_bits(img, np.concatenate(ref_img))
    np.testing.assert_array_equal(boxes, np.concatenate(ref_boxes))
    assert_same_states(g1, g2)


def test_elastic_chunks_within_a_row(monkeypatch):
    """A row whose elastic digits span several CHUNKs draws and smooths per chunk, as digits() does."""
    monkeypatch.setattr(_d, "CHUNK", 2)
    aug = Augmenter.from_config(
        {"digit": {"elastic": {"p": 0.8, "sigma": [1.0, 9.0]}, "affine": {"p": 0.5}}}
    )
    rows, per_row = 9, 7
    ink = make_ink(rows * per_row, seed=8)
    g1, g2 = gens(rows, seed=9)
    ref = np.concatenate(
        [aug.digits(ink[r * per_row : (r + 1) * per_row], g1[r]) for r in range(rows)]
    )
    assert_bits(aug.digits_rows(ink, g2, per_row), ref)
    assert_same_states(g1, g2)


def test_same_generator_for_every_row_is_the_sequential_loop():
    """Rows draw in row order, so one generator shared by all rows still matches the loop."""
    aug = Augmenter.preset("heavy")
    rows, per_row = 12, 4
    ink = make_ink(rows * per_row, seed=2)
    g1, g2 = np.random.default_rng(1), np.random.default_rng(1)
    ref = np.concatenate(
        [aug.digits(ink[r * per_row : (r + 1) * per_row], g1) for r in range(rows)]
    )
    assert_bits(aug.digits_rows(ink, [g2] * rows, per_row), ref)
    assert g1.bit_generator.state == g2.bit_generator.state


def test_identity_and_seeds():
    none = Augmenter.preset("none")
    ink = make_ink(6, seed=1)
    g = np.random.default_rng(0)
    before = g.bit_generator.state
    assert_bits(none.digits_rows(ink, [g, g, g], 2), ink)
    assert g.bit_generator.state == before  # nothing active: nothing drawn, as digits()
    # int seeds: each row a fresh generator from its seed, as digits(ink_r, seed_r)
    aug = Augmenter.preset("medium")
    ref = np.concatenate([aug.digits(ink[2 * r : 2 * r + 2], 10 + r) for r in range(3)])
    assert_bits(aug.digits_rows(ink, [10, 11, 12], 2), ref)


def test_rows_arguments_are_checked():
    aug = Augmenter.preset("medium")
    ink = make_ink(6, seed=1)
    with pytest.raises(ValueError, match="6 digits"):
        aug.digits_rows(ink, [0, 1], 2)
    with pytest.raises(ValueError, match="per_row"):
        aug.digits_rows(ink, [0] * 6, 0)
    with pytest.raises(TypeError, match="per_row"):
        aug.digits_rows(ink, [0] * 6, 1.0)
    img, boxes = make_lines(3, 100, seed=1)
    with pytest.raises(ValueError, match="one generator per line"):
        aug.sequences_rows(img, boxes, [0, 1])
    with pytest.raises(ValueError, match="boxes"):
        aug.sequences_rows(img, boxes[:2], [0, 1, 2])


def test_blur_of_an_image_does_not_depend_on_its_batch():
    """Each image's kernel is truncated at its own radius: batch-mates change nothing."""
    x = make_ink(2, seed=4)
    sigma = np.array([1.0, 1.8])
    alone = gaussian_blur(x[:1], sigma[:1])
    together = gaussian_blur(x, sigma)
    assert_bits(together[:1], alone)
    assert_bits(together[1:], gaussian_blur(x[1:], sigma[1:]))


def test_every_schema_entry_has_its_unit():
    for section in SCHEMA:
        assert tuple(UNITS[section]) == tuple(SCHEMA[section])
        assert all(u.section == section and u.name == t for t, u in UNITS[section].items())


class _Invert(Unit):
    """A toy transform: ``level - ink``, with a per-line uniform noise draw."""

    section, name = "sequence", "invert"

    def draw_noise(self, gen, d, shape):
        k = int(np.count_nonzero(d.applied))
        if k:
            d.noise["z"] = gen.random((k, *shape), dtype=np.float32)

    def apply(self, x, boxes, d, draws):
        idx = d.index
        if idx.size:
            level = d.subset()["level"].astype(np.float32)[:, None, None]
            x[idx] = level - x[idx] + 0.01 * d.noise["z"]
        return x, boxes


def test_a_new_transform_is_one_unit_and_one_schema_entry(monkeypatch):
    """Registering a unit and its schema entry is all it takes: configs, params, rows."""
    monkeypatch.setitem(SCHEMA["sequence"], "invert", {"level": Param((1.0, 1.0), 0, 1, None)})
    monkeypatch.setitem(UNITS["sequence"], "invert", _Invert())
    aug = Augmenter.from_config({"sequence": {"invert": {"p": 0.5, "level": [0.8, 1.0]}}})
    assert aug.to_config()["sequence"]["invert"] == {"p": 0.5, "level": [0.8, 1.0]}
    img, boxes = make_lines(40, 60, seed=3)
    out, _, params = aug.sequences(img, boxes, 1, return_params=True)
    on = params["invert"]["applied"]
    assert 5 < on.sum() < 35
    level = params["invert"]["level"][on].astype(np.float32)[:, None, None]
    np.testing.assert_allclose(out[on], np.clip(level - img[on], 0, 1), atol=0.011)
    assert_bits(out[~on], img[~on])
    g1, g2 = gens(40, seed=4)
    ref = [aug.sequences(img[r : r + 1], boxes[r : r + 1], g1[r])[0] for r in range(40)]
    assert_bits(aug.sequences_rows(img, boxes, g2)[0], np.concatenate(ref))
    assert_same_states(g1, g2)


def test_bilinear_does_not_depend_on_the_block():
    """Resampling a batch gives each image what resampling it in any smaller batch gives."""
    from strokeseq.augment.resample import bilinear

    rng = np.random.default_rng(5)
    x = make_ink(80, seed=5)
    yx = rng.uniform(-2, 31, (2, 80, 28, 28)).astype(np.float32)
    whole = bilinear(x, yx.copy())
    parts = [bilinear(x[s : s + 16], yx[:, s : s + 16].copy()) for s in range(0, 80, 16)]
    assert_bits(whole, np.concatenate(parts))


def test_no_rows_is_an_empty_batch():
    aug = Augmenter.preset("heavy")
    out, params = aug.digits_rows(np.zeros((0, 28, 28)), [], 3, return_params=True)
    assert out.shape == (0, 28, 28) and out.dtype == np.float32
    assert params["affine"]["rotation"].shape == (0,)
    img, boxes = aug.sequences_rows(np.zeros((0, 28, 50)), np.zeros((0, 2, 4), np.int64), [])
    assert img.shape == (0, 28, 50) and boxes.shape == (0, 2, 4)
