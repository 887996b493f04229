"""The augmentation pipeline as data: Augmenter, configs, presets, readability."""

from __future__ import annotations

import json

import numpy as np
import pytest

from strokeseq.augment import DEFAULT_CONFIG, DIGIT_ORDER, PRESETS, SEQUENCE_ORDER, Augmenter

SEED = 7


@pytest.fixture(scope="module")
def ink() -> np.ndarray:
    rng = np.random.default_rng(3)
    x = np.zeros((64, 28, 28), np.float32)
    x[:, 4:24, 11:15] = rng.uniform(0.6, 1.0, (64, 20, 4)).astype(np.float32)
    return x


def line_batch(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    img = np.zeros((n, 28, 100), np.float32)
    boxes = np.zeros((n, 3, 4), np.int64)
    for j, x0 in enumerate((10, 45, 80)):
        img[:, 5:23, x0 : x0 + 3] = 1.0
        boxes[:, j] = (x0, x0 + 3, 5, 23)
    return img, boxes


def test_config_round_trip_is_explicit_and_json():
    aug = Augmenter.from_config({"digit": {"elastic": {"p": 0.5, "alpha": 30}}})
    cfg = aug.to_config()
    assert set(cfg["digit"]) == set(DIGIT_ORDER) and set(cfg["sequence"]) == set(SEQUENCE_ORDER)
    assert cfg["digit"]["elastic"] == {"p": 0.5, "alpha": [30.0, 30.0], "sigma": [4.5, 6.0]}
    assert cfg["digit"]["affine"]["p"] == 0.0  # not listed = off, but written out
    again = Augmenter.from_config(json.loads(json.dumps(cfg)))
    assert again == aug and again.to_config() == cfg
    for name in PRESETS:
        p = Augmenter.preset(name)
        assert Augmenter.from_config(json.loads(json.dumps(p.to_config()))) == p
    assert Augmenter.from_config(DEFAULT_CONFIG) == Augmenter.preset("medium")


def test_true_false_and_integer_params():
    aug = Augmenter.from_config({"digit": {"blur": True, "noise": False, "broken_strokes": {}}})
    cfg = aug.to_config()["digit"]
    assert cfg["blur"]["p"] == 1.0 and cfg["noise"]["p"] == 0.0
    assert cfg["broken_strokes"]["cuts"] == [1, 2] and isinstance(
        cfg["broken_strokes"]["cuts"][0], int
    )


@pytest.mark.parametrize(
    ("config", "key", "hint"),
    [
        ({"digit": {"elastik": {}}}, "digit.elastik", "valid in 'digit': stroke_width"),
        ({"sequence": {"elastic": {}}}, "sequence.elastic", "slant"),
        ({"digit": {"elastic": {"alfa": 3}}}, "digit.elastic.alfa", "valid: p, alpha, sigma"),
        (
            {"digit": {"elastic": {"alpha": [40, 20]}}},
            "digit.elastic.alpha",
            "low must be <= high",
        ),
        ({"digit": {"elastic": {"sigma": [0, 4]}}}, "digit.elastic.sigma", "within [0.5, 20"),
        ({"digit": {"elastic": {"alpha": "big"}}}, "digit.elastic.alpha", "[low, high]"),
        ({"digit": {"elastic": {"alpha": [1, 2, 3]}}}, "digit.elastic.alpha", "[low, high]"),
        ({"digit": {"elastic": {"alpha": [1, float("nan")]}}}, "digit.elastic.alpha", "finite"),
        ({"digit": {"affine": {"p": 1.5}}}, "digit.affine.p", "probability"),
        ({"digit": {"affine": {"p": True}}}, "digit.affine.p", "probability"),
        ({"digit": {"broken_strokes": {"cuts": [1.5, 2]}}}, "digit.broken_strokes.cuts", "whole"),
        ({"digit": {"affine": 3}}, "digit.affine", "true or false"),
        ({"digits": {}}, "digits", "valid: 'digit', 'sequence'"),
        ({"digit": [1]}, "digit", "table of transforms"),
        ({"version": 2}, "version", "unsupported"),
        (
            {"digit": {"affine": {"rotation": {"choice": []}}}},
            "digit.affine.rotation",
            "1 to 1000",
        ),
        ({"digit": {"affine": {"rotation": {"choice": 5}}}}, "digit.affine.rotation", "list"),
        ({"digit": {"affine": {"rotation": {"choise": [5]}}}}, "digit.affine.rotation", "choice"),
        (
            {"digit": {"affine": {"rotation": {"choice": [5, 200]}}}},
            "digit.affine.rotation",
            "within",
        ),
        (
            {"digit": {"affine": {"rotation": {"choice": [5, True]}}}},
            "digit.affine.rotation",
            "list",
        ),
        (
            {"digit": {"broken_strokes": {"cuts": {"choice": [1.5]}}}},
            "broken_strokes.cuts",
            "whole",
        ),
    ],
)
def test_bad_configs_name_the_key(config, key, hint):
    with pytest.raises(ValueError) as exc:
        Augmenter.from_config(config)
    msg = str(exc.value)
    assert key in msg and hint in msg


def test_from_files_presets_and_errors(tmp_path):
    toml = tmp_path / "aug.toml"
    toml.write_text(
        "[augment.digit.elastic]\np = 0.5\nalpha = [20, 40]\n\n"
        "[augment.sequence.wobble]\namplitude = [0, 1.5]\n"
    )
    aug = Augmenter.from_config(toml)
    assert aug.to_config()["digit"]["elastic"]["alpha"] == [20.0, 40.0]
    assert aug.to_config()["sequence"]["wobble"]["p"] == 1.0
    js = tmp_path / "aug.json"
    js.write_text(json.dumps(aug.to_config()))
    assert Augmenter.from_config(str(js)) == aug
    assert Augmenter.from_config("heavy") == Augmenter.preset("heavy")
    with pytest.raises(ValueError, match="does not exist"):
        Augmenter.from_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[digit\n")
    with pytest.raises(ValueError, match="not valid"):
        Augmenter.from_config(bad)
    with pytest.raises(ValueError, match="unknown augment preset"):
        Augmenter.preset("extreme")
    with pytest.raises(TypeError):
        Augmenter.from_config(42)


def test_is_identity(ink):
    assert Augmenter.from_config(None).is_identity
    assert Augmenter.preset("none").is_identity
    assert Augmenter.from_config({"digit": {"elastic": {"p": 0.0}}}).is_identity
    assert Augmenter.from_config({"digit": {"elastic": {"alpha": 0}}}).is_identity
    assert Augmenter.from_config(
        {"sequence": {"contrast": {"gamma": 1, "ink_level": 1, "background": 0}}}
    ).is_identity
    assert not Augmenter.from_config({"digit": {"normalize": True}}).is_identity
    seq_only = Augmenter.from_config({"sequence": {"noise": True}})
    assert seq_only.digit_is_identity and not seq_only.sequence_is_identity
    assert not Augmenter.preset("medium").is_identity
    ident = Augmenter.from_config(None)
    np.testing.assert_array_equal(ident.digits(ink, SEED), ink)
    img, boxes = line_batch()
    out, nb = ident.sequences(img, boxes, SEED)
    np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(nb, boxes)


@pytest.mark.parametrize("preset", ["light", "medium", "heavy"])
def test_presets_keep_contract_and_are_deterministic(ink, preset):
    aug = Augmenter.preset(preset)
    out = aug.digits(ink, SEED)
    assert out.shape == ink.shape and out.dtype == np.float32 and out.flags.c_contiguous
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(out, aug.digits(ink, SEED))
    np.testing.assert_array_equal(out, aug.digits(ink, np.random.default_rng(SEED)))
    assert not np.array_equal(out, aug.digits(ink, SEED + 1))
    img, boxes = line_batch()
    s1 = aug.sequences(img, boxes, SEED)
    s2 = aug.sequences(img, boxes, SEED)
    np.testing.assert_array_equal(s1[0], s2[0])
    np.testing.assert_array_equal(s1[1], s2[1])
    assert s1[0].shape == img.shape and s1[0].dtype == np.float32


def test_return_params_records_draws(ink):
    cfg = {
        "digit": {
            "elastic": {"p": 0.5, "alpha": [20, 40]},
            "affine": {"p": 1.0, "rotation": [-5, 5]},
        }
    }
    aug = Augmenter.from_config(cfg)
    out, params = aug.digits(np.repeat(ink, 8, axis=0), SEED, return_params=True)
    n = len(out)
    assert set(params) == {"elastic", "affine"}
    el = params["elastic"]
    assert el["applied"].shape == (n,) and el["applied"].dtype == bool
    assert 0.35 < el["applied"].mean() < 0.65
    a = el["alpha"][el["applied"]]
    assert np.all((a >= 20) & (a <= 40)) and np.all(np.isnan(el["alpha"][~el["applied"]]))
    assert params["affine"]["applied"].all()
    assert np.all(np.abs(params["affine"]["rotation"]) <= 5)
    np.testing.assert_array_equal(out, aug.digits(np.repeat(ink, 8, axis=0), SEED))


def test_pipeline_geometry_matches_recorded_params(ink):
    """A rotation-only pipeline equals affine() with the recorded angles."""
    from strokeseq.augment import affine

    aug = Augmenter.from_config(
        {
            "digit": {
                "affine": {
                    "p": 1.0,
                    "rotation": [-30, 30],
                    "shear": 0,
                    "scale": 1,
                    "aspect": 1,
                    "translate_x": 0,
                    "translate_y": 0,
                }
            }
        }
    )
    out, params = aug.digits(ink, SEED, return_params=True)
    np.testing.assert_allclose(out, affine(ink, rotation=params["affine"]["rotation"]), atol=1e-6)


def test_sequences_move_boxes_with_wobble_and_slant():
    aug = Augmenter.from_config(
        {
            "sequence": {
                "wobble": {"amplitude": [2, 3], "wavelength": [30, 60]},
                "slant": {"angle": [8, 12]},
            }
        }
    )
    img, boxes = line_batch()
    out, nb, params = aug.sequences(img, boxes, SEED, return_params=True)
    assert params["wobble"]["applied"].all() and "phase" in params["wobble"]
    assert not np.array_equal(nb, boxes)
    for i in range(len(img)):
        for j in range(3):
            x0, x1, y0, y1 = nb[i, j]
            band = out[i, :, max(0, boxes[i, j, 0] - 8) : boxes[i, j, 1] + 8]
            inside = out[i, y0:y1, x0:x1].sum()
            assert inside >= band.sum() - 1e-3  # the moved box holds all the digit's ink


def test_sequences_check_boxes():
    img, _ = line_batch()
    with pytest.raises(ValueError, match="boxes"):
        Augmenter.preset("medium").sequences(img, np.zeros((2, 3, 4), np.int64), SEED)


@pytest.mark.mnist
def test_default_strength_keeps_mnist_readable(real_mnist_dir):
    """The reference classifier keeps >= 90% on MNIST test digits augmented at the default."""
    reference = pytest.importorskip("strokeseq.hardcases.reference")
    from strokeseq.sources.mnist.files import load_mnist

    clf = reference.reference_classifier(real_mnist_dir)
    images, labels = load_mnist("test", real_mnist_dir)
    x = images[:1500].astype(np.float32) / 255
    y = labels[:1500]
    aug = Augmenter.from_config(DEFAULT_CONFIG)
    digits = aug.digits(x, SEED)
    lines, _ = aug.sequences(digits, None, SEED)  # sequence transforms on 28-px "lines" too
    clean = (clf.predict(x) == y).mean()
    acc = (clf.predict(lines) == y).mean()
    assert acc >= 0.90, f"default augmentation drops the reference classifier to {acc:.3f}"
    assert acc < clean  # it did change something that matters


def test_presets_are_the_package_data_files(tmp_path):
    from importlib import resources

    folder = resources.files("strokeseq.augment") / "presets"
    names = sorted(f.name[:-5] for f in folder.iterdir() if f.name.endswith(".toml"))
    assert names == sorted(PRESETS) == ["heavy", "light", "medium", "none"]
    for name in names:
        copy = tmp_path / f"{name}.toml"
        copy.write_text((folder / f"{name}.toml").read_text(encoding="utf-8"))
        assert Augmenter.from_config(copy) == Augmenter.preset(name)
    assert Augmenter.preset("medium").to_config()["digit"]["elastic"] == {
        "p": 0.5,
        "alpha": [10.0, 28.0],
        "sigma": [4.5, 6.0],
    }


def test_choice_values_are_drawn_equally_often(ink, tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(
        "[digit.affine]\nrotation = {choice = [-10, 10]}\nshear = 0\nscale = 1\naspect = 1\n"
        "translate_x = 0\ntranslate_y = 0\n\n"
        "[digit.broken_strokes]\np = 0.5\ncuts = {choice = [1, 3]}\n"
    )
    aug = Augmenter.from_config(toml)
    cfg = aug.to_config()
    assert cfg["digit"]["affine"]["rotation"] == {"choice": [-10.0, 10.0]}
    assert cfg["digit"]["broken_strokes"]["cuts"] == {"choice": [1, 3]}
    assert Augmenter.from_config(json.loads(json.dumps(cfg))) == aug
    many = np.repeat(ink, 32, axis=0)  # 2048 digits
    out, params = aug.digits(many, SEED, return_params=True)
    rot = params["affine"]["rotation"]
    assert set(np.unique(rot)) == {-10.0, 10.0}
    # Binomial(2048, 1/2): mean 1024, sd 22.6; 4 sd either side
    assert abs(int((rot > 0).sum()) - 1024) < 91
    cuts = params["broken_strokes"]["cuts"][params["broken_strokes"]["applied"]]
    assert set(np.unique(cuts)) == {1.0, 3.0}
    # the geometry is exactly affine() with the drawn angles
    no_cuts = Augmenter.from_config({"digit": {"affine": cfg["digit"]["affine"]}})
    out, params = no_cuts.digits(ink, SEED, return_params=True)
    from strokeseq.augment import affine

    np.testing.assert_array_equal(out, affine(ink, rotation=params["affine"]["rotation"]))


def test_strength_config_gives_exact_strengths(ink):
    from strokeseq.augment.config import strength_config

    assert Augmenter.of_strengths().is_identity
    assert Augmenter.of_strengths(rotation=0, stroke_radius=(0, 0)).is_identity
    aug = Augmenter.of_strengths(
        rotation=15, shear=-22, stroke_radius=(-0.6, 1.5), elastic_alpha=20, elastic_sigma=5
    )
    assert aug == Augmenter.from_config(
        strength_config(
            rotation=15, shear=22, stroke_radius=[-0.6, 1.5], elastic_alpha=20, elastic_sigma=5
        )
    )
    _, params = aug.digits(np.repeat(ink, 4, axis=0), SEED, return_params=True)
    assert all(params[t]["applied"].all() for t in ("affine", "elastic", "stroke_width"))
    assert set(np.unique(params["affine"]["rotation"])) == {-15.0, 15.0}
    assert set(np.unique(params["affine"]["shear"])) == {-22.0, 22.0}
    assert set(np.unique(params["stroke_width"]["radius"])) == {-0.6, 1.5}
    assert set(np.unique(params["elastic"]["alpha"])) == {20.0}
    assert set(np.unique(params["elastic"]["sigma"])) == {5.0}
    assert set(np.unique(params["affine"]["scale"])) == {1.0}
    one = Augmenter.of_strengths(stroke_radius=1.25)
    assert one.to_config()["digit"]["stroke_width"]["radius"] == [1.25, 1.25]
