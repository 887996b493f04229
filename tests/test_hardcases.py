"""Hard cases: ladders, contact classification, evaluation, reports, model loading, mining."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from strokeseq.hardcases import (
    AXES,
    LEVEL_TABLES,
    N_LEVELS,
    ModelError,
    classify_contact,
    difficulty_params,
    evaluate,
    load_model,
    make_ladder,
    mine_hard_cases,
    read_hardcases,
    write_hardcases,
    write_report,
)
from strokeseq.hardcases.scoring import edit_distance

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def digit_ladder():
    return make_ladder("all", 10, 0)


@pytest.fixture(scope="module")
def seq_ladder():
    return make_ladder(["difficulty", "touching"], 6, 1, kind="sequences", length=3)


class Replay:
    """A fake model that answers from a list, batch after batch (evaluate keeps the order)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.pos = 0

    def __call__(self, images):
        out = self.answers[self.pos : self.pos + len(images)]
        self.pos += len(images)
        return np.array(out) if not isinstance(out[0], str) else out


# -- ladder --------------------------------------------------------------------------------


def test_ladder_shapes_labels_params(digit_ladder):
    lad = digit_ladder
    n = len(AXES) * N_LEVELS * 10
    assert lad.kind == "digits"
    assert lad.images.shape == (n, 28, 28) and lad.images.dtype == np.float32
    assert lad.images.min() >= 0 and lad.images.max() <= 1
    assert lad.labels.shape == (n,) and set(np.unique(lad.labels)) == set(range(10))
    # every (axis, level) has per_level samples with balanced labels
    for a in AXES:
        for i in range(N_LEVELS):
            sel = (lad.axis == a) & (lad.level == i)
            assert sel.sum() == 10
            assert sorted(lad.labels[sel].tolist()) == list(range(10))
            assert np.allclose(lad.difficulty[sel], i / (N_LEVELS - 1))
    for k in ("jitter", "elastic_alpha", "rotation", "slant", "stroke_radius", "index"):
        assert lad.params[k].shape == (n,)
    # the parameters that made each sample are the level's values
    for a, key in (("elastic", "elastic_alpha"), ("jitter", "jitter")):
        for i in range(N_LEVELS):
            sel = (lad.axis == a) & (lad.level == i)
            assert np.allclose(lad.params[key][sel], LEVEL_TABLES[a][i])
    rot = lad.params["rotation"][(lad.axis == "rotation") & (lad.level == 6)]
    assert np.allclose(np.abs(rot), LEVEL_TABLES["rotation"][6])
    thin = lad.params["stroke_radius"][(lad.axis == "thin") & (lad.level == 3)]
    assert np.allclose(thin, LEVEL_TABLES["thin"][3])
    # neighbours only on the touching and difficulty axes, from level 1 up
    touch = lad.axis == "touching"
    assert np.all(lad.contact[touch & (lad.level == 0)] == -1)
    assert np.all(lad.contact[touch & (lad.level > 0)] >= 0)
    assert np.allclose(lad.gaps[touch & (lad.level == 3)], LEVEL_TABLES["touching"][3])
    assert np.all(lad.contact[lad.axis == "slant"] == -1)
    assert len(lad.label_strings) == n


def test_level_zero_is_the_clean_digit():
    a = make_ladder("elastic", 10, 5, levels=[0])
    b = make_ladder("touching", 10, 5, levels=[0])
    # same base draws do not matter; what matters is that no transform ran
    assert np.all(a.params["elastic_alpha"] == 0) and np.all(a.params["stroke_radius"] == 0)
    assert np.all(np.isnan(b.gaps))


def test_ladder_deterministic_and_axes_independent(digit_ladder):
    again = make_ladder("all", 10, 0)
    assert np.array_equal(again.images, digit_ladder.images)
    assert np.array_equal(again.labels, digit_ladder.labels)
    only = make_ladder("thick", 10, 0)
    assert np.array_equal(only.images, digit_ladder.images[digit_ladder.axis == "thick"])
    other = make_ladder("thick", 10, 1)
    assert not np.array_equal(other.images, only.images)


def test_sequence_ladder(seq_ladder):
    lad = seq_ladder
    assert lad.kind == "sequences"
    assert lad.images.shape == (2 * N_LEVELS * 6, 28, 28 * 3 + 16)
    assert lad.labels.shape == (len(lad), 3)
    assert lad.gaps.shape == (len(lad), 2) and lad.contact.shape == (len(lad), 2)
    assert lad.params["rotation"].shape == (len(lad), 3)
    touch = lad.axis == "touching"
    for i in range(1, N_LEVELS):
        sel = touch & (lad.level == i)
        # the gap asked for (cap_overlaps may raise a big overlap of a narrow digit)
        assert np.all(lad.gaps[sel] >= LEVEL_TABLES["touching"][i])
        assert np.median(lad.gaps[sel]) == LEVEL_TABLES["touching"][i]
    assert np.all(lad.contact[touch & (lad.level == 0)] == 0)  # neutral spacing: apart
    assert (lad.contact[touch & (lad.level == 6)] == 2).mean() > 0.5


def test_bad_ladder_arguments():
    with pytest.raises(ValueError, match="axis"):
        make_ladder("bogus", 2, 0)
    with pytest.raises(ValueError, match="per_level"):
        make_ladder("thick", 0, 0)
    with pytest.raises(ValueError, match="kind"):
        make_ladder("thick", 2, 0, kind="words")
    with pytest.raises(ValueError, match="levels"):
        make_ladder("thick", 2, 0, levels=[7])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        difficulty_params(1.5)


def test_difficulty_mapping_monotone():
    ds = np.linspace(0, 1, 61)
    ps = [difficulty_params(float(d)) for d in ds]
    for key in ("jitter", "elastic_alpha", "rotation", "slant", "thick"):
        v = np.array([p[key] for p in ps])
        assert np.all(np.diff(v) >= 0) and v[-1] > v[0], key
    thin = np.array([p["thin"] for p in ps])
    assert np.all(np.diff(thin) <= 0) and thin[-1] < 0
    gaps = [p["gap"] for p in ps]
    assert gaps[0] is None
    g = np.array([x for x in gaps if x is not None])
    assert np.all(np.diff(g) <= 0) and g[-1] < 0
    # the single-axis tables grow in strength level by level
    for axis, table in LEVEL_TABLES.items():
        vals = [abs(v) for v in table if v is not None]
        if axis == "touching":
            assert np.all(np.diff(table[1:]) < 0)
        else:
            assert np.all(np.diff(vals) > 0), axis


# -- contact -------------------------------------------------------------------------------


def _bar(col: int) -> np.ndarray:
    t = np.zeros((28, 28), np.float32)
    t[5:20, col : col + 2] = 1.0
    return t


@pytest.mark.parametrize(
    ("dx", "expected"),
    [
        (20, 0),  # right bar at 25..26, left bar at 20..21: 3 blank columns
        (18, 0),  # right bar 23..24: one blank column (22) -> separate
        (17, 1),  # right bar 22..23: adjacent to column 21 -> touching
        (16, 2),  # right bar 21..22: shares column 21 -> overlapping
        (40, 0),
        (-30, 0),
    ],
)
def test_classify_contact_constructed(dx, expected):
    left, right = _bar(20)[None], _bar(5)[None]
    assert classify_contact(left, right, np.array([dx]))[0] == expected


def test_classify_contact_diagonal_and_faint():
    left = np.zeros((1, 28, 28), np.float32)
    right = np.zeros((1, 28, 28), np.float32)
    left[0, 10, 10] = 1.0
    right[0, 11, 3] = 1.0  # at dx=8 it lands on (11, 11): diagonal neighbour
    assert classify_contact(left, right, np.array([8]))[0] == 1
    right[0, 11, 3] = 0.1  # below the ink threshold: not ink
    assert classify_contact(left, right, np.array([8]))[0] == 0


# -- evaluation ----------------------------------------------------------------------------


def test_evaluate_perfect_model(digit_ladder):
    rep = evaluate(Replay(digit_ladder.labels.tolist()), digit_ladder, batch_size=64)
    assert rep.overall["accuracy"] == 1.0
    assert all(r["accuracy"] == 1.0 for r in rep.levels)
    assert all(v == 1.0 for r in rep.levels for v in r["per_digit"])
    assert len(rep.levels) == len(AXES) * N_LEVELS
    assert rep.worst.size == 0
    for r in rep.levels:
        conf = np.array(r["confusion"])
        assert np.array_equal(conf, np.diag(np.diag(conf))) and conf.sum() == 10


def test_evaluate_always_zero(digit_ladder):
    rep = evaluate(lambda x: np.zeros(len(x), np.int64), digit_ladder)
    for r in rep.levels:
        assert r["accuracy"] == pytest.approx(0.1)  # balanced labels: one 0 in ten
        assert r["per_digit"] == [1.0] + [0.0] * 9
        conf = np.array(r["confusion"])
        assert conf[:, 0].sum() == 10 and conf[:, 1:].sum() == 0
    assert rep.overall["accuracy"] == pytest.approx(0.1)
    assert len(rep.worst) == len(AXES) * N_LEVELS
    assert np.all(digit_ladder.labels[rep.worst] != 0)
    # the failures sheet holds one failure of every axis and level (not only L0)
    pairs = {
        (str(a), int(v))
        for a, v in zip(digit_ladder.axis[rep.worst], digit_ladder.level[rep.worst], strict=True)
    }
    assert pairs == {(a, i) for a in AXES for i in range(N_LEVELS)}
    # a short sheet still covers every axis, at a spread of levels
    few = evaluate(lambda x: np.zeros(len(x), np.int64), digit_ladder, worst=16).worst
    assert sorted(digit_ladder.axis[few].tolist()) == sorted(list(AXES) * 2)
    assert len(set(digit_ladder.level[few].tolist())) == N_LEVELS


def test_evaluate_polarity_and_dtype(digit_ladder):
    seen = {}

    def model(x):
        seen["dtype"], seen["max"], seen["corner"] = x.dtype, x.max(), x[:, 0, 0].mean()
        return np.zeros(len(x), int)

    evaluate(model, digit_ladder, ink="black", dtype="uint8")
    assert seen["dtype"] == np.uint8 and seen["corner"] > 250  # white page
    evaluate(model, digit_ladder)
    assert seen["dtype"] == np.float32 and seen["corner"] < 0.01 and seen["max"] <= 1.0
    with pytest.raises(ValueError, match="ink"):
        evaluate(model, digit_ladder, ink="red")


def test_edit_distance():
    a = np.array([[1, 2, 3], [1, 2, 3], [1, 2, 3], [1, 2, 3]])
    b = np.array([[1, 2, 3, -1], [1, 3, -1, -1], [1, 2, 3, 4], [-1, -1, -1, -1]])
    assert edit_distance(a, b, np.array([3, 2, 4, 0])).tolist() == [0, 1, 1, 3]


def test_evaluate_sequences(seq_ladder):
    truth = seq_ladder.label_strings
    rep = evaluate(Replay(truth), seq_ladder)
    assert all(r["accuracy"] == 1.0 and r["digit_accuracy"] == 1.0 for r in rep.levels)
    # drop the last digit of every answer: no sequence right, one edit in three
    rep = evaluate(Replay([t[:-1] for t in truth]), seq_ladder)
    assert all(r["accuracy"] == 0.0 for r in rep.levels)
    assert all(r["digit_accuracy"] == pytest.approx(2 / 3, abs=1e-4) for r in rep.levels)
    conf = np.array(rep.levels[0]["confusion"])
    assert conf.shape == (10, 11) and conf[:, 10].sum() == 6  # one missing digit per row
    rep = evaluate(lambda x: ["000"] * len(x), seq_ladder)
    labels = seq_ladder.labels
    expected = float(np.mean(labels == 0))
    per_pos = np.mean([r["per_digit"][0] for r in rep.levels if r["per_digit"][0] is not None])
    assert per_pos == 1.0
    digit_acc = np.mean([r["digit_accuracy"] * r["n"] for r in rep.levels]) / np.mean(
        [r["n"] for r in rep.levels]
    )
    assert digit_acc == pytest.approx(expected, abs=1e-3)


def test_report_files(tmp_path, digit_ladder, seq_ladder):
    from PIL import Image

    rep = evaluate(lambda x: np.zeros(len(x), np.int64), digit_ladder)
    paths = write_report(rep, tmp_path / "rep")
    data = json.loads(paths["json"].read_text())
    assert data["kind"] == "digits" and len(data["levels"]) == len(AXES) * N_LEVELS
    assert data["overall"]["accuracy"] == pytest.approx(0.1)
    assert data["worst"][0]["pred"] == "0" and "params" in data["worst"][0]
    md = paths["markdown"].read_text()
    assert "| axis | L0 |" in md and "| jitter | 10.0 |" in md
    for key in ("plot", "failures"):
        with Image.open(paths[key]) as im:
            im.load()
            assert im.size[0] > 100 and im.size[1] > 100
    srep = evaluate(lambda x: ["1"] * len(x), seq_ladder)
    spaths = write_report(srep, tmp_path / "rep", prefix="seq")
    assert "Digit accuracy" in spaths["markdown"].read_text()
    assert json.loads(spaths["json"].read_text())["overall"]["digit_accuracy"] >= 0


def test_store_round_trip(tmp_path, seq_ladder):
    paths = write_hardcases(tmp_path / "set", seq_ladder)
    back, manifest = read_hardcases(tmp_path / "set")
    assert manifest["kind"] == "sequences" and manifest["count"] == len(seq_ladder)
    assert np.abs(back.images - seq_ladder.images).max() <= 0.5 / 255 + 1e-6
    assert np.array_equal(back.labels, seq_ladder.labels)
    assert np.array_equal(back.axis, seq_ladder.axis)
    np.testing.assert_array_equal(back.contact, seq_ladder.contact)
    np.testing.assert_array_equal(back.params["slant"], seq_ladder.params["slant"])
    lines = paths["csv"].read_text().splitlines()
    assert len(lines) == len(seq_ladder) + 1 and lines[0].startswith("sample,axis,level")
    with pytest.raises(ValueError, match="overwrite"):
        write_hardcases(tmp_path / "set", seq_ladder)
    with np.load(paths["npz"], allow_pickle=False) as f:
        assert f["images"].dtype == np.uint8


# -- user models ---------------------------------------------------------------------------

MODEL_SRC = """
import numpy as np

def zeros(images):
    return np.zeros(len(images), dtype=np.int64)

def wrong_shape(images):
    return np.zeros(len(images) + 1, dtype=np.int64)

def scores(images):
    return np.zeros((len(images), 10))

def explode(images):
    raise RuntimeError("kaboom")

def quits(images):
    raise SystemExit(0)

def scribbles(images):
    images[:] = 0.5  # normalises its input in place
    return np.zeros(len(images), dtype=np.int64)

def floats(images):
    return np.full(len(images), 0.5)

def out_of_range(images):
    return np.full(len(images), 12)

def strings(images):
    return ["0" * 3] * len(images)

class Holder:
    @staticmethod
    def predict(images):
        return np.zeros(len(images), dtype=np.int64)

NOT_CALLABLE = 3
"""


@pytest.fixture
def model_dir(tmp_path, monkeypatch):
    (tmp_path / "hc_user_model.py").write_text(MODEL_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("hc_user_model", None)
    return tmp_path


def test_load_model(model_dir):
    f = load_model("hc_user_model:zeros")
    assert f(np.zeros((3, 28, 28))).tolist() == [0, 0, 0]
    assert load_model("hc_user_model:Holder.predict")(np.zeros((2, 28, 28))).shape == (2,)
    with pytest.raises(ValueError, match=r"package\.module:function"):
        load_model("hc_user_model.zeros")
    with pytest.raises(ValueError, match="cannot import"):
        load_model("no_such_module_xyz:f")
    with pytest.raises(ValueError, match="no attribute"):
        load_model("hc_user_model:missing")
    with pytest.raises(TypeError, match="not a callable"):
        load_model("hc_user_model:NOT_CALLABLE")


@pytest.mark.parametrize(
    ("name", "error", "match"),
    [
        ("wrong_shape", ModelError, "shape"),
        ("scores", ModelError, "argmax"),
        ("explode", ModelError, "RuntimeError: kaboom"),
        ("floats", TypeError, "non-integer"),
        ("out_of_range", ModelError, "0-9"),
        ("strings", TypeError, "dtype"),
    ],
)
def test_broken_models(model_dir, digit_ladder, name, error, match):
    small = digit_ladder.subset(slice(0, 20))
    with pytest.raises(error, match=match):
        evaluate(load_model(f"hc_user_model:{name}"), small)
    assert issubclass(ModelError, ValueError)


def test_broken_sequence_model(seq_ladder):
    small = seq_ladder.subset(slice(0, 5))
    with pytest.raises(ModelError, match="outputs"):
        evaluate(lambda x: ["1"], small)
    with pytest.raises(ModelError, match="only 0-9"):
        evaluate(lambda x: ["1a"] * len(x), small)
    with pytest.raises(TypeError, match="str"):
        evaluate(lambda x: [1] * len(x), small)


# -- mining --------------------------------------------------------------------------------


def test_mining_stops_at_budget(tmp_path, digit_ladder):
    res = mine_hard_cases(lambda x: np.zeros(len(x), int), 10**6, budget=70, batch_size=32, rng=0)
    assert res.generated == 70 and res.budget_exhausted
    assert res.found == res.failures and 0 < res.found < 70
    assert len(res.cases) == res.found
    assert np.all(res.cases.labels != 0) and np.all(res.predictions == 0)
    assert sum(r["generated"] for r in res.per_level) == 70

    # enough failures: stops early with exactly n, and writes them as a set
    res = mine_hard_cases(
        lambda x: np.zeros(len(x), int), 15, budget=1000, batch_size=16, rng=0, out=tmp_path / "m"
    )
    assert res.found == 15 and res.generated < 1000 and not res.budget_exhausted
    back, manifest = read_hardcases(tmp_path / "m")
    assert len(back) == 15 and manifest["mining"]["found"] == 15
    assert np.all(manifest["predictions"] == "0")
    assert set(back.level.tolist()) <= set(range(1, N_LEVELS))


def _first_batch_labels(seed: int, size: int) -> np.ndarray:
    """Labels of mining's first batch for ``seed`` (difficulty level 1), regenerated."""
    from strokeseq.hardcases.ladder import generate_level

    root = int(np.random.default_rng(seed).integers(0, 2**63))
    child = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(0,)))
    return generate_level("difficulty", 1 / 6, size, child, level=1).labels


def test_mining_nothing_found(tmp_path):
    labels = _first_batch_labels(3, 40)
    res = mine_hard_cases(lambda x: labels[: len(x)], 5, budget=40, batch_size=40, rng=3)
    assert res.found == 0 and res.cases is None and res.generated == 40
    with pytest.raises(ValueError, match="no hard cases"):
        mine_hard_cases(
            lambda x: labels[: len(x)], 5, budget=40, batch_size=40, rng=3, out=tmp_path / "m"
        )


# -- CLI -----------------------------------------------------------------------------------


def _cli(args, cwd, extra_path=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(ROOT), extra_path, env.get("PYTHONPATH")) if p
    )
    return subprocess.run(
        [sys.executable, "-m", "strokeseq", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_hardcases(tmp_path):
    r = _cli(["hardcases", "out", "--per-level", "2", "--axis", "thick,touching"], tmp_path)
    assert r.returncode == 0, r.stderr
    back, manifest = read_hardcases(tmp_path / "out")
    assert len(back) == 2 * 2 * N_LEVELS and manifest["ink"] == "black"
    r = _cli(["hardcases", "out", "--per-level", "2", "--axis", "thick"], tmp_path)
    assert r.returncode == 2 and "overwrite" in r.stderr and r.stderr.count("\n") == 1
    r = _cli(["hardcases", "out2", "--per-level", "2", "--axis", "bogus"], tmp_path)
    assert r.returncode == 2 and "axis" in r.stderr and r.stderr.count("\n") == 1


def test_cli_robustness_user_model(tmp_path):
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "hc_cli_model.py").write_text(MODEL_SRC)
    args = ["robustness", "--axis", "slant", "--per-level", "3", "-o", "rep"]
    r = _cli(
        [*args, "--model", "hc_cli_model:zeros", "--mine", "4", "--budget", "50"],
        tmp_path,
        str(mod),
    )
    assert r.returncode == 0, r.stderr
    data = json.loads((tmp_path / "rep" / "robustness.json").read_text())
    assert data["model"] == "hc_cli_model:zeros" and len(data["levels"]) == N_LEVELS
    assert (tmp_path / "rep" / "mined" / "hardcases.npz").exists()
    # the report folder is not silently overwritten
    before = (tmp_path / "rep" / "robustness.json").read_bytes()
    r = _cli([*args, "--model", "hc_cli_model:strings"], tmp_path, str(mod))
    assert r.returncode == 2 and "--overwrite" in r.stderr and r.stderr.count("\n") == 1
    assert (tmp_path / "rep" / "robustness.json").read_bytes() == before
    for name, text in (
        ("explode", "kaboom"),
        ("wrong_shape", "shape"),
        ("missing", "no attribute"),
        ("quits", "SystemExit"),  # a model's sys.exit(0) is not our exit status 0
    ):
        out_args = [*args[:-1], f"rep_{name}"]
        r = _cli([*out_args, "--model", f"hc_cli_model:{name}"], tmp_path, str(mod))
        assert r.returncode == 2, r.stderr
        assert text in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert not (tmp_path / f"rep_{name}" / "robustness.json").exists()
    r = _cli([*args[:-1], "rep_none", "--model", "nowhere_xyz:f"], tmp_path, str(mod))
    assert r.returncode == 2 and "cannot import" in r.stderr


# -- the reference classifier on real MNIST ------------------------------------------------


@pytest.mark.mnist
def test_reference_jitter_ladder_monotone(real_mnist_dir, monkeypatch):
    from strokeseq.hardcases import reference_predict

    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(real_mnist_dir))
    lad = make_ladder("jitter", 150, 0)
    rep = evaluate(reference_predict, lad)
    acc = np.array(rep.accuracy("jitter"))
    assert acc[0] >= 0.95
    assert np.all(np.diff(acc) <= 0.03), acc  # non-increasing within sampling noise
    assert acc[0] - acc[-1] >= 0.1, acc


def test_ladder_on_mnist_source(fake_mnist_dir):
    lad = make_ladder(
        ["jitter", "rotation"], 5, 0, source="mnist", data_dir=fake_mnist_dir, levels=[0, 6]
    )
    mn = lad.axis == "rotation"
    assert np.all(lad.params["index"][mn] >= 0)  # MNIST provenance kept
    assert np.all(np.isnan(lad.params["jitter"][mn]))  # jitter does not apply to MNIST
    assert np.all(lad.params["index"][~mn] == -1)  # the jitter axis stays synthetic
    seqs = make_ladder("touching", 2, 0, kind="sequences", source="mnist", data_dir=fake_mnist_dir)
    assert seqs.images.shape[0] == 2 * N_LEVELS


def test_sequence_ladder_refuses_a_width_too_small():
    from strokeseq.hardcases import make_ladder

    with pytest.raises(ValueError, match="at least 100 px"):
        make_ladder("jitter", 2, rng=0, kind="sequences", length=3, width=60)
    with pytest.raises(ValueError, match="length"):
        make_ladder("jitter", 2, rng=0, kind="sequences", length=0)


def test_touching_gap_of_a_float32_difficulty():
    """Difficulties stored as float32 (5/6 -> 0.8333333) still name their own level's gap."""
    from strokeseq.hardcases import LEVEL_TABLES
    from strokeseq.hardcases.ladder import axis_params

    gaps = [axis_params("touching", float(np.float32(i / 6)))["gap"] for i in range(7)]
    assert gaps == list(LEVEL_TABLES["touching"])


def test_cli_robustness_overwrite_header_and_pictures(tmp_path):
    mod = tmp_path / "mods"
    mod.mkdir()
    (mod / "hc_cli_model.py").write_text(MODEL_SRC)
    (tmp_path / "rep").mkdir()
    (tmp_path / "rep" / "old.txt").write_text("x")
    args = ["robustness", "--axis", "thin,touching", "--per-level", "2", "-o", "rep"]
    r = _cli([*args, "--model", "hc_cli_model:zeros"], tmp_path, str(mod))
    assert r.returncode == 2 and "not an empty folder" in r.stderr
    r = _cli([*args, "--model", "hc_cli_model:zeros", "--overwrite"], tmp_path, str(mod))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[1].split() == ["axis", *(f"L{i}" for i in range(N_LEVELS))]
    assert lines[2].split()[0] == "thin" and len(lines[2].split()) == 1 + N_LEVELS
    assert r.stderr == ""  # no progress bar when stderr is not a terminal
    from PIL import Image

    for name in ("levels", "confusion", "failures", "accuracy"):
        with Image.open(tmp_path / "rep" / f"robustness_{name}.png") as im:
            assert im.width > 200 and im.height > 100


def test_cli_refuses_huge_ladders_before_allocating(tmp_path):
    for extra, text in (
        (["--per-level", str(10**9)], "the limit is 2 GiB"),
        (["--per-level", "2", "--kind", "sequences", "--length", "100000"], "at most 64 digits"),
        (["--per-level", "10", "--kind", "sequences", "--width", "100001"], "at most 100000 px"),
    ):
        r = _cli(["hardcases", "big", *extra], tmp_path)
        assert r.returncode == 2, r.stderr
        assert text in r.stderr and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
        assert not (tmp_path / "big").exists()
    with pytest.raises(ValueError, match="at most 64 digits"):
        mine_hard_cases(lambda x: ["0"] * len(x), 1, kind="sequences", length=100_000)
    with pytest.raises(ValueError, match="limit is 2 GiB"):
        mine_hard_cases(lambda x: ["0"] * len(x), 1, kind="sequences", length=64, batch_size=10**6,
                        budget=10**6)  # fmt: skip


def test_cli_ladder_in_parts_equals_one_call(tmp_path):
    import argparse

    from strokeseq.commands.hardcases import add_ladder_options, make_ladder_from_args

    p = argparse.ArgumentParser()
    add_ladder_options(p, 3)
    args = p.parse_args(["--axis", "rotation,thin", "--levels", "0,4,6", "--seed", "5"])
    got = make_ladder_from_args(args)
    ref = make_ladder(["rotation", "thin"], 3, 5, levels=[0, 4, 6])
    np.testing.assert_array_equal(got.images, ref.images)
    np.testing.assert_array_equal(got.labels, ref.labels)
    assert got.axis.tolist() == ref.axis.tolist() and got.info == ref.info


def test_models_get_a_copy_of_their_input(digit_ladder, tmp_path):
    def scribble(images):
        images[:] = 0.5  # a model that normalises its input in place
        return np.zeros(len(images), np.int64)

    before = digit_ladder.images.copy()
    rep = evaluate(scribble, digit_ladder, batch_size=100)
    np.testing.assert_array_equal(digit_ladder.images, before)
    np.testing.assert_array_equal(rep.ladder.images, before)
    res = mine_hard_cases(scribble, 5, budget=64, batch_size=32, rng=0, out=tmp_path / "m")
    assert res.found == 5 and not np.all(res.cases.images == 0.5)
    back, _ = read_hardcases(tmp_path / "m")
    assert np.all(back.images.max(axis=(1, 2)) > 0.6)  # real digits, not the scribble


def test_model_system_exit_is_a_model_error(digit_ladder):
    def quits(images):
        raise SystemExit(0)

    with pytest.raises(ModelError, match="SystemExit"):
        evaluate(quits, digit_ladder)

    def interrupted(images):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(interrupted, digit_ladder)


def test_hardcase_files_respect_the_umask(tmp_path, digit_ladder):
    old = os.umask(0o022)
    try:
        paths = write_hardcases(tmp_path / "a", digit_ladder.subset(np.arange(5)))
        modes = {k: os.stat(p).st_mode & 0o777 for k, p in paths.items()}
        assert set(modes.values()) == {0o644}, modes
        os.umask(0o077)
        paths = write_hardcases(tmp_path / "b", digit_ladder.subset(np.arange(5)))
        assert {os.stat(p).st_mode & 0o777 for p in paths.values()} == {0o600}
    finally:
        os.umask(old)
    assert not [p for p in (tmp_path / "a").iterdir() if p.name.startswith(".")]


def test_report_pictures_show_every_level(digit_ladder, tmp_path):
    rep = evaluate(lambda x: np.zeros(len(x), np.int64), digit_ladder)
    paths = write_report(rep, tmp_path / "r")
    assert set(paths) == {"json", "markdown", "plot", "failures", "levels", "confusion"}
    from PIL import Image

    with Image.open(paths["levels"]) as im:
        px = np.asarray(im.convert("RGB")).astype(int)
    red = (px[..., 0] > 180) & (px[..., 1] < 80) & (px[..., 2] < 80)
    green = (px[..., 1] > 130) & (px[..., 0] < 80) & (px[..., 2] < 80)
    assert red.any() and green.any()  # wrong and right examples are marked
    with Image.open(paths["confusion"]) as im:
        assert im.size[0] > 10 * 30 and im.size[1] > 10 * 30
