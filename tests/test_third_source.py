"""A third source (tests/rect_source.py) works everywhere with no edit outside its module.

The API, the batch API, SequenceDataset, generate_dataset (a registered name
and an import path, in the config and on the CLI) and ladders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rect_source import RectSource

from strokeseq import generate_numbers_sequence, generate_sequences, render_sequences
from strokeseq.dataset import DatasetConfig, SequenceDataset, generate_dataset, load_dataset
from strokeseq.hardcases import make_ladder
from strokeseq.sources import get_source, register_source, registered_sources

PATH = "rect_source:RectSource"
HERE = Path(__file__).resolve().parent


def _ink_columns(img: np.ndarray) -> list[int]:
    """Widths of the runs of inked columns of a black-on-white line."""
    cols = (img < 0.5).any(axis=0).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], cols, [0]))))
    return (edges[1::2] - edges[::2]).tolist()


@pytest.fixture(autouse=True)
def _registered():
    register_source("rect", RectSource)


def test_registry_and_import_path_give_the_source():
    assert "rect" in registered_sources()
    assert isinstance(get_source("rect"), RectSource)
    assert isinstance(get_source(PATH), RectSource)
    assert get_source(PATH, ink=0.5).ink == 0.5
    with pytest.raises(ValueError, match="cannot import"):
        get_source("no_such_module_xyz:Thing")
    with pytest.raises(ValueError, match="has no"):
        get_source("rect_source:Missing")
    with pytest.raises(ValueError, match="built-in"):
        register_source("mnist", RectSource)


@pytest.mark.parametrize("source", ["rect", PATH, RectSource()])
def test_single_call_ink_layout_shows_the_label_widths(source):
    img = generate_numbers_sequence("1907", (3, 3), 120, source=source, rng=1, layout="ink")
    assert img.shape == (28, 120) and img.dtype == np.float32
    # the ink layout places the rectangles 3 px apart: each label's width shows
    assert _ink_columns(img) == [4 + 2 * d for d in (1, 9, 0, 7)]


def test_single_call_equals_batch_path():
    one = generate_numbers_sequence("305", (0, 9), 110, source="rect", rng=5)
    batch = generate_sequences(["305"], (0, 9), 110, source="rect", rng=5)
    np.testing.assert_array_equal(one, batch[0])


def test_batch_api_boxes_and_provenance():
    images, batch = render_sequences(
        np.array([[1, 2], [8, 0]]), (1, 4), 70, source="rect", rng=0, layout="ink"
    )
    assert images.shape == (2, 28, 70)
    widths = batch.boxes[:, :, 1] - batch.boxes[:, :, 0]
    np.testing.assert_array_equal(widths, [[6, 8], [20, 4]])
    assert set(batch.meta) == {"index", "height"}
    assert ((batch.meta["height"] >= 12) & (batch.meta["height"] <= 20)).all()


def test_width_rule_uses_the_source_bound():
    # ink layout: two 1s (6 px each) and a gap of at least 2 need 14 px
    generate_numbers_sequence("11", (2, 2), 14, source="rect", layout="ink", rng=0)
    with pytest.raises(ValueError, match="at least 14 px"):
        generate_numbers_sequence("11", (2, 2), 13, source="rect", layout="ink", rng=0)


def test_writer_same_is_refused_with_a_clear_message():
    with pytest.raises(ValueError, match="not supported by the 'rect' source"):
        generate_sequences(["12"], (0, 2), 80, source="rect", writer="same")


@pytest.mark.parametrize("name", ["rect", PATH])
def test_sequence_dataset_and_generate_dataset_agree(tmp_path, name):
    cfg = {"source": name, "length": [2, 4], "width": 150, "layout": "ink", "spacing": [1, 5]}
    ds = SequenceDataset(30, cfg, seed=3, dtype=np.uint8)
    generate_dataset(tmp_path / "d", 30, cfg, seed=3, shard_size=16)
    data = load_dataset(tmp_path / "d")
    for i in (0, 7, 29):
        img, rec = ds[i]
        np.testing.assert_array_equal(img, data.images[i, :, : rec["width"]])
        widths = [b[1] - b[0] for b in rec["boxes"]]
        assert widths == [4 + 2 * d for d in rec["digits"]]
    # per-index determinism: a sample does not depend on its neighbours
    alone = SequenceDataset(30, cfg, seed=3, dtype=np.uint8)._items([7])[0][0]
    np.testing.assert_array_equal(alone, ds[7][0])
    assert DatasetConfig(source={name: 1.0, "synthetic": 1.0}).source == {
        "synthetic": 0.5,
        name: 0.5,
    }


def test_mix_with_synthetic_records_each_source(tmp_path):
    cfg = {"source": {PATH: 0.5, "synthetic": 0.5}, "length": 2, "width": 80}
    generate_dataset(tmp_path / "d", 40, cfg, seed=1, shard_size=40, file_format="png")
    text = (tmp_path / "d").rglob("labels.csv").__next__().read_text()
    assert "synthetic" in text and PATH in text


def test_unknown_source_name_is_refused():
    with pytest.raises(ValueError, match="unknown source 'nope'"):
        DatasetConfig(source="nope")


def test_cli_dataset_with_an_import_path(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "strokeseq", "dataset", str(tmp_path / "d"), "--count", "20"]
    cmd += ["--source", PATH, "--length", "3", "--width", "100", "--seed", "2"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    data = load_dataset(tmp_path / "d")
    ds = SequenceDataset(20, data.manifest["config"], seed=2, dtype=np.uint8)
    np.testing.assert_array_equal(ds[5][0], data.images[5])
    bad = subprocess.run(
        [*cmd[:4], str(tmp_path / "e"), "--count", "2", "--source", "x:y:z"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("kind", ["digits", "sequences"])
def test_ladders(kind):
    lad = make_ladder(["rotation", "touching"], 6, 0, kind=kind, source="rect", levels=[0, 6])
    assert len(lad) == 24
    rot = lad.params["rotation"][(lad.axis == "rotation") & (lad.level == 6)]
    assert np.allclose(np.abs(rot), 56.0)
    clean = lad.images[(lad.axis == "rotation") & (lad.level == 0)]
    # level 0 is the clean source: every pixel is 0 or 1 (rectangles)
    assert set(np.unique(clean).tolist()) <= {0.0, 1.0}
    assert lad.info["source"] == "rect"


def test_cli_hardcases_with_an_import_path(tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "strokeseq", "hardcases", str(tmp_path / "h")]
    cmd += ["--source", PATH, "--axis", "rotation", "--per-level", "2", "--levels", "0,6"]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "h" / "manifest.json").is_file()
