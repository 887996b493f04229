"""The stroke model fitted on real handwriting: file, sampling, writer styles, fitting, copies."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from strokeseq.sources.stroke import StrokeSource
from strokeseq.sources.stroke.model import default_model_path, load_model, parse_model


@pytest.fixture(scope="module")
def doc():
    return json.loads(default_model_path().read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def model():
    return load_model()


# -- the file ------------------------------------------------------------------------------
def test_model_file_is_small_json_with_provenance_and_licence(doc):
    size = default_model_path().stat().st_size
    assert size < 1024 * 1024  # house rule: no file over 1 MiB (the issue allows 5 MB)
    assert doc["format"] == "strokeseq-stroke-model" and doc["version"] == 1
    prov = doc["provenance"]
    assert "fit_model" in prov["script"]
    assert "training split" in prov["data"] and "never the test split" in prov["data"]
    assert isinstance(prov["seed"], int) and prov["date"]
    assert sum(prov["counts"]["per_digit"]) == prov["counts"]["digits"]
    for name in ("LeCun", "Cortes", "Burges", "CC BY-SA 3.0"):
        assert name in doc["licence"]


def test_model_holds_stroke_parameters_never_pixels(doc):
    p = 3 * doc["segments_per_stroke"] + 1
    assert {a["digit"] for a in doc["allographs"]} == set(range(10))
    for a in doc["allographs"]:
        assert set(a) == {
            "digit",
            "name",
            "strokes",
            "frequency",
            "count",
            "mean",
            "components",
            "sd",
            "residual",
            "slant",
            "log_width",
            "spread",
        }
        assert 0 < a["spread"] <= 1
        dim = a["strokes"] * p * 2
        assert len(a["mean"]) == dim != 784  # control points, not a 28x28 image
        assert all(len(c) == dim for c in a["components"])
        assert len(a["sd"]) == len(a["components"]) <= 16
    for d in range(10):
        freq = sum(a["frequency"] for a in doc["allographs"] if a["digit"] == d)
        assert 0.9 <= freq <= 1.0 + 1e-4  # real frequencies (a few rare shapes dropped)


def test_load_validates(model, doc):
    assert model.mean.shape[0] == len(doc["allographs"]) == len(model.names)
    np.testing.assert_allclose(model.choice_cdf[:, -1], 1.0)
    bad = json.loads(json.dumps(doc))
    bad["allographs"][0]["mean"] = bad["allographs"][0]["mean"][:-1]
    with pytest.raises(ValueError, match="allograph 0 mean has shape"):
        parse_model(bad)
    bad = json.loads(json.dumps(doc))
    bad["allographs"] = [a for a in bad["allographs"] if a["digit"] != 7]
    with pytest.raises(ValueError, match="no allograph for digit 7"):
        parse_model(bad)
    bad = json.loads(json.dumps(doc))
    bad["allographs"][3]["sd"][0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        parse_model(bad)
    bad = json.loads(json.dumps(doc))
    bad["allographs"][2]["spread"] = -1
    with pytest.raises(ValueError, match="spread must be in"):
        parse_model(bad)
    with pytest.raises(ValueError, match="version"):
        parse_model({**doc, "version": 2})
    with pytest.raises(ValueError, match="not a strokeseq-stroke-model"):
        parse_model([1, 2])


def test_model_file_option_and_bad_files(tmp_path, doc):
    f = tmp_path / "m.json"
    f.write_text(json.dumps(doc), encoding="utf-8")
    a = StrokeSource(f).sample([4, 2], rng=1)
    np.testing.assert_array_equal(a, StrokeSource().sample([4, 2], rng=1))
    f.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid JSON"):
        StrokeSource(str(f))
    with pytest.raises(ValueError, match="cannot read"):
        StrokeSource(str(tmp_path / "missing.json"))
    with pytest.raises(ValueError, match="model must be"):
        StrokeSource("cursive")
    with pytest.raises(ValueError, match="needs model='glyphs'"):
        StrokeSource(glyphs=tmp_path)


# -- sampling --------------------------------------------------------------------------------
def test_sampling_is_deterministic_per_seed():
    src = StrokeSource("fitted")
    labels = np.arange(60) % 10
    a = src.draw(labels, np.random.default_rng(11))
    b = src.draw(labels, np.random.default_rng(11))
    np.testing.assert_array_equal(a.ink, b.ink)
    for k in a.meta:
        np.testing.assert_array_equal(a.meta[k], b.meta[k])
    c = src.draw(labels, np.random.default_rng(12))
    assert not np.array_equal(a.ink, c.ink)


def test_every_allograph_renders_a_digit_in_the_mnist_frame(model):
    from strokeseq.sources.stroke.pen import render_samples
    from strokeseq.sources.stroke.sampler import draw_fitted, fitted_geometry

    src = StrokeSource("fitted")
    n_a = len(model.names)
    # Force allograph a for digit(a): a choice table whose first entry is a.
    forced = dataclasses.replace(
        model,
        choice_cdf=np.ones((n_a, 1)),
        choice_ids=np.arange(n_a)[:, None],
    )
    per = 4
    rows = np.repeat(np.arange(n_a), per)
    p = draw_fitted(forced, rows, np.random.default_rng(3), src._options())
    assert (p["allograph"] == rows).all()
    ink, _ = render_samples(*fitted_geometry(model, p, 6), 3, 0.5)
    assert ink.shape == (n_a * per, 28, 28)
    mass = ink.sum(axis=(1, 2))
    assert (mass > 20).all() and (ink.max(axis=(1, 2)) > 0.5).all()
    on = ink > 0
    rows_on, cols_on = on.any(axis=2), on.any(axis=1)
    h = 28 - rows_on.argmax(axis=1) - rows_on[:, ::-1].argmax(axis=1)
    w = 28 - cols_on.argmax(axis=1) - cols_on[:, ::-1].argmax(axis=1)
    assert h.max() <= 20 and w.max() <= 20
    i = np.arange(28)
    cy = ink.sum(axis=2) @ i / mass
    cx = ink.sum(axis=1) @ i / mass
    assert np.abs(cy - 14).max() < 0.5 and np.abs(cx - 14).max() < 0.5


def test_allograph_frequencies_follow_the_model(model):
    src = StrokeSource("fitted")
    labels = np.full(3000, 2)
    d = src.draw(labels, np.random.default_rng(0))
    mine = np.flatnonzero(model.digit == 2)
    counts = np.array([(d.meta["allograph"] == a).sum() for a in mine])
    expected = model.frequency[mine] / model.frequency[mine].sum() * labels.size
    chi2 = ((counts - expected) ** 2 / expected).sum()
    # chi-square, len(mine) - 1 degrees of freedom: far below the 0.1 % point
    assert chi2 < 3 * len(mine) + 20


def test_variety_zero_draws_allograph_means():
    src = StrokeSource("fitted", variety=0.0, pressure=0.0)
    d = src.draw(np.full(200, 3), np.random.default_rng(0))
    for a in np.unique(d.meta["allograph"]):
        same = d.ink[d.meta["allograph"] == a]
        assert np.abs(same - same[0]).max() < 0.02  # identical but for aspect noise


# -- writer="same" ---------------------------------------------------------------------------
def _share(meta_value: np.ndarray, rows: int) -> float:
    """Within-row variance over total variance (1: independent digits, 0: one value a row)."""
    v = meta_value.reshape(rows, -1).astype(np.float64)
    return float(v.var(axis=1).mean() / v.var())


def _group_means(v: np.ndarray, groups: np.ndarray) -> np.ndarray:
    sums = np.bincount(groups, weights=v.astype(np.float64))
    return (sums / np.maximum(np.bincount(groups), 1))[groups]


@pytest.mark.parametrize("model_name", ["fitted", "glyphs"])
def test_writer_same_shares_the_style_within_a_row(model_name):
    src = StrokeSource(model_name)
    # 600 rows: with ~150 allographs, fewer rows leave so few digits per allograph that
    # removing the allograph means biases the within-row share up (150 rows: +0.13)
    rows, n = 600, 6
    labels = np.random.default_rng(0).integers(0, 10, (rows, n))
    same = src.draw_sequences(labels, np.random.default_rng(1), writer="same")
    free = src.draw_sequences(labels, np.random.default_rng(1))
    for key in ("pen_width", "slant", "aspect"):
        # compared within allographs: allographs differ in their typical slant and width
        a_same, a_free = same.meta["allograph"], free.meta["allograph"]
        v_same = same.meta[key] - _group_means(same.meta[key], a_same)
        v_free = free.meta[key] - _group_means(free.meta[key], a_free)
        assert _share(v_same, rows) < 0.45, key
        assert _share(v_free, rows) > 0.7, key
    # the same digit twice in a row: mostly the same allograph
    a_same = same.meta["allograph"].reshape(rows, n)
    a_free = free.meta["allograph"].reshape(rows, n)

    def repeat_agreement(a):
        hits = total = 0
        for r in range(rows):
            for i in range(n):
                for j in range(i + 1, n):
                    if labels[r, i] == labels[r, j]:
                        total += 1
                        hits += a[r, i] == a[r, j]
        return hits / total

    assert repeat_agreement(a_same) > max(0.75, repeat_agreement(a_free) + 0.2)


def test_writer_same_rows_are_deterministic_per_row():
    src = StrokeSource("fitted")
    labels = np.random.default_rng(0).integers(0, 10, (12, 4))
    batched = src.draw_rows(labels, [np.random.default_rng(i) for i in range(12)], writer="same")
    alone = src.draw_rows(labels[5:6], [np.random.default_rng(5)], writer="same")
    np.testing.assert_array_equal(batched.ink[20:24], alone.ink)
    with pytest.raises(ValueError, match="writer"):
        src.draw_sequences(labels, np.random.default_rng(0), writer="other")


def test_writer_same_through_the_api_and_datasets(tmp_path):
    import strokeseq
    from strokeseq.dataset.config import DatasetConfig

    a = strokeseq.generate_sequences(
        ["123", "456"], (0, 4), 100, source="synthetic", writer="same", rng=0
    )
    b = strokeseq.generate_sequences(
        ["123", "456"], (0, 4), 100, source="synthetic", writer="same", rng=0
    )
    assert a.shape == (2, 28, 100)
    np.testing.assert_array_equal(a, b)
    DatasetConfig(source="synthetic", writer="same")  # accepted


# -- fitting -------------------------------------------------------------------------------
def test_fitting_script_runs_on_fake_mnist(fake_mnist_dir, tmp_path):
    pytest.importorskip("skimage")
    pytest.importorskip("skan")
    pytest.importorskip("sklearn")
    from strokeseq.sources.stroke import fit_model

    out = tmp_path / "model.json"
    args = ["--mnist-dir", str(fake_mnist_dir), "--out", str(out), "--per-class", "20"]
    assert fit_model.main(args) == 0
    text = out.read_text(encoding="utf-8")
    m = parse_model(json.loads(text))
    assert set(m.digit.tolist()) == set(range(10))
    assert json.loads(text)["provenance"]["counts"]["digits"] == 200
    assert fit_model.main(args) == 0
    assert out.read_text(encoding="utf-8") == text  # deterministic
    x = StrokeSource(out).sample(np.arange(10), rng=0)
    assert (x.sum(axis=(1, 2)) > 10).all()
    # the --pose variant: calibrated slants and widths, marked in the provenance
    assert fit_model.main([*args, "--pose"]) == 0
    posed = json.loads(out.read_text(encoding="utf-8"))
    assert posed["provenance"]["pose_by_synthesis"] is True
    assert "pose_by_synthesis" not in json.loads(text)["provenance"]
    mp = parse_model(posed)
    assert set(mp.digit.tolist()) == set(range(10))
    assert not np.array_equal(mp.slant, m.slant) or not np.array_equal(mp.log_width, m.log_width)


def test_bezier_chain_fit_recovers_a_chain():
    from strokeseq.sources.stroke.trace import bezier_chain_basis, bezier_chain_fit

    rng = np.random.default_rng(0)
    ctrl = rng.normal(size=(5, 13, 2))
    pts = bezier_chain_basis(40, 4) @ ctrl
    np.testing.assert_allclose(bezier_chain_fit(pts, 4), ctrl, atol=1e-8)


# -- no memorisation -------------------------------------------------------------------------
@pytest.mark.mnist
def test_synthetic_digits_are_no_closer_to_training_digits_than_real_test_digits(
    real_mnist_dir,
):
    from strokeseq.sources.mnist.files import load_mnist

    xtr, _ = load_mnist("train", real_mnist_dir)
    xte, _ = load_mnist("test", real_mnist_dir)
    rng = np.random.default_rng(0)
    ref = xtr[rng.choice(len(xtr), 20000, replace=False)].reshape(-1, 784) / np.float32(255)
    # 1 000 digits each: the mean of 300 moved by +-0.015 between seeds, as much as the margin
    real = xte[rng.choice(len(xte), 1000, replace=False)].reshape(-1, 784) / np.float32(255)
    syn = StrokeSource().sample(np.arange(1000) % 10, rng=1).reshape(-1, 784)

    def nearest(q):
        d2 = (q**2).sum(1)[:, None] - 2 * q @ ref.T + (ref**2).sum(1)[None, :]
        return np.sqrt(np.maximum(d2.min(axis=1), 0))

    assert nearest(syn).mean() >= nearest(real).mean()


def test_sampler_tables_follow_the_model_object():
    """The per-model lookup tables are the model's own, also for a modified copy."""
    import dataclasses

    from strokeseq import StrokeSource
    from strokeseq.sources.stroke.sampler import _tables

    m = StrokeSource().fitted
    t = _tables(m)
    np.testing.assert_array_equal(t["strokes"], (1 << m.n_strokes) - 1)
    np.testing.assert_array_equal(t["seg_on"], np.repeat(m.stroke_on, m.segments, axis=1))
    assert _tables(m) is t  # computed once per model object
    fewer = dataclasses.replace(m, stroke_on=np.zeros_like(m.stroke_on))
    assert not _tables(fewer)["seg_on"].any()
    np.testing.assert_array_equal(_tables(m)["seg_on"], t["seg_on"])
