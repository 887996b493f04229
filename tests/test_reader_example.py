"""Smoke test of examples/digit_string_reader: a few steps of a tiny model, end to end.

Runs only where torch is installed. Checks that training writes a checkpoint
that loads and reads, that the reader works as a ``robustness`` model, and
that the hard-case loop (mine -> fine-tune -> evaluate) runs and reports.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "digit_string_reader"
TINY = ["--channels", "4", "8", "8", "--hidden", "8", "--batch-size", "4", "--workers", "0"]


@pytest.fixture
def example(monkeypatch, fake_mnist_dir):
    pytest.importorskip("torch")
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(fake_mnist_dir))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    names = ("model", "data", "train", "reader", "hardcase_loop", "evaluate", "writer_split")
    for name in names:
        sys.modules.pop(name, None)
    yield
    for name in names:
        sys.modules.pop(name, None)


def test_train_read_and_hardcase_loop(example, tmp_path, monkeypatch, capsys):
    import torch
    import train

    from strokeseq.hardcases import evaluate, make_ladder

    ck = tmp_path / "tiny.pt"
    info = train.train(train.parse_args(["--steps", "3", "--eval", "8", "--out", str(ck),
                                         "--holdout-writers", "0.2", *TINY]))  # fmt: skip
    assert info["steps"] == 3 and np.isfinite(info["final_loss"])
    assert info["holdout_writers"] == 0.2
    assert set(info["held_out"]) == {"tile", "touching"}
    assert 0.0 <= info["held_out"]["tile"] <= 1.0
    blob = torch.load(ck, weights_only=True)  # plain tensors and types: no pickled code
    assert blob["arch"] == {"channels": [4, 8, 8], "hidden": 8}

    monkeypatch.setenv("STROKESEQ_READER", str(ck))
    import reader

    lad = make_ladder("touching", 1, 0, kind="sequences", length=3, levels=[0, 6])
    rep = evaluate(reader.read, lad)  # the robustness adapter: (n, 28, W) -> n strings
    assert rep.overall["n"] == 2 and all(isinstance(p, str) for p in rep.predictions)

    import hardcase_loop

    out = tmp_path / "loop"
    res = hardcase_loop.main(["--checkpoint", str(ck), "--out", str(out), "--mine", "3",
                              "--budget", "12", "--per-level", "1", "--length", "3",
                              "--mine-lengths", "3", "4", "--mine-source", "mnist",
                              "--mine-seed", "1", "--mine-levels", "failures",
                              "--steps", "2", "--batch-size", "4", "--eval", "4",
                              "--validation", "--workers", "0"])  # fmt: skip
    mined = res["mined"]
    assert set(mined["per_length"]) == {"3", "4"} and mined["generated"] <= 12
    assert mined["generated"] == sum(v["generated"] for v in mined["per_length"].values())
    assert res["finetune"]["steps"] == 2 and res["finetune"]["holdout_writers"] == 0.2
    assert res["clean_split"] == "train, held-out 20 % of writers (validation)"
    assert set(res["clean"]) == {"tile", "touching"} and res["clean"]["tile"]["n"] == 4
    assert set(res["auc_difficulty"]) == {"before", "after"}
    assert (out / "loop.png").stat().st_size > 1000 and (out / "finetuned.pt").exists()
    assert json.loads((out / "loop.json").read_text())["ladder"]["seed"] == 11
    assert "| difficulty |" in (out / "loop.md").read_text()
    assert hardcase_loop.mine_source("mnist", 0.2) == "writer_split:fit_20"  # never held out
    only = hardcase_loop.main(["--checkpoint", str(ck), "--out", str(tmp_path / "m"), "--mine",
                               "2", "--budget", "6", "--mine-lengths", "3", "3", "--mine-only",
                               "--mine-source", "mnist", "--threads", "1"])  # fmt: skip
    assert set(only) == {"mined"} and (tmp_path / "m" / "mined.json").exists()
    every = hardcase_loop.main(["--checkpoint", str(ck), "--out", str(tmp_path / "a"), "--mine",
                                "5", "--mine-lengths", "3", "3", "--mine-only", "--mine-seed",
                                "1", "2", "--mine-levels", "all", "--mine-source", "mnist",
                                "--threads", "1"])["mined"]  # fmt: skip
    assert every["found"] == 5 and set(every["per_length"]) == {"1/3", "2/3"}
    few = hardcase_loop.main(
        [
            "--checkpoint",
            str(ck),
            "--out",
            str(tmp_path / "f"),
            "--mine",
            "2",
            "--mine-only",
            "--threads",
            "1",
        ]
    )["mined"]  # defaults: 36 runs
    assert few["found"] == 2 and set(few["per_length"]) == {"1/3", "1/4"}
    mixer = train.HardCaseMixer(sorted((tmp_path / "a" / "mined").iterdir()), 0.5, 0)
    assert len(mixer.texts) == 5 and all(len(t) == 3 for t in mixer.texts)
    from strokeseq.hardcases import read_hardcases

    lad, _ = read_hardcases(tmp_path / "a" / "mined" / "s1_len3")  # every level, not failures
    assert len(lad.images) == 3 and set(lad.level.tolist()) <= set(range(1, 7))

    import evaluate

    ev = evaluate.main([str(ck), str(out / "finetuned.pt"), "--out", str(tmp_path / "ev"),
                        "--per-level", "1", "--length", "3", "--eval", "4", "--validation",
                        "--threads", "1", "--averages", "0.5", "--only-averages"])  # fmt: skip
    assert list(ev["checkpoints"]) == ["tiny", "finetuned_avg50"]
    rows = list(ev["checkpoints"].values())
    assert rows[0]["clean"]["tile"]["change"] == 0.0  # the reference against itself
    assert rows[1]["clean"]["tile"]["n"] == 4 and ev["clean_split"].endswith("(validation)")
    assert ev["ladder"]["source"] == "writer_split:holdout_20"
    assert (tmp_path / "ev" / "eval.json").exists() and (tmp_path / "ev" / "loop.png").exists()
    assert (tmp_path / "ev" / "loop.md").read_text().startswith("tiny → finetuned_avg50")
    capsys.readouterr()


def test_weight_averaging_and_frozen_batchnorm(example, tmp_path, monkeypatch):
    import torch
    import train
    from model import load_checkpoint

    ck = tmp_path / "tiny.pt"
    train.train(train.parse_args(["--steps", "2", "--eval", "0", "--out", str(ck), *TINY]))
    start, _ = load_checkpoint(ck)
    outs = {}
    for a in ("0", "0.5", "1"):
        outs[a] = tmp_path / f"ft{a}.pt"
        train.train(train.parse_args(["--init", str(ck), "--steps", "2", "--lr", "0.05",
                                      "--average", a, "--freeze-bn", "--eval", "0",
                                      "--out", str(outs[a]), *TINY]))  # fmt: skip
    s0, s5, s1 = (load_checkpoint(outs[a])[0].state_dict() for a in ("0", "0.5", "1"))
    init = start.state_dict()
    conv = "features.0.weight"
    assert torch.equal(s0[conv], init[conv])  # a = 0: the start again
    assert not torch.equal(s1[conv], init[conv])  # the fine-tune moved it
    assert torch.allclose(s5[conv], (init[conv] + s1[conv]) / 2, atol=1e-6)
    for k in ("features.1.running_mean", "features.1.running_var"):
        assert torch.equal(s1[k], init[k])  # --freeze-bn: statistics of the start kept
    ema, last = tmp_path / "ema.pt", tmp_path / "last.pt"
    train.train(train.parse_args(["--init", str(ck), "--steps", "2", "--lr", "0.05", "--eval",
                                  "0", "--ema", "0.5", "--out", str(ema), "--last-out",
                                  str(last), *TINY]))  # fmt: skip
    se, sl = (load_checkpoint(p)[0].state_dict() for p in (ema, last))
    assert not torch.equal(se[conv], sl[conv]) and not torch.equal(se[conv], init[conv])
    train.train(train.parse_args(["--init", str(ck), "--steps", "2", "--lr", "0.05", "--eval",
                                  "0", "--ema", "1e-9", "--out", str(ema), "--last-out",
                                  str(last), *TINY]))  # fmt: skip
    se, sl = (load_checkpoint(p)[0].state_dict() for p in (ema, last))
    assert torch.allclose(se[conv], sl[conv], atol=1e-6)  # no memory: the last weights
    # --eval scores the weights saved in --out (the EMA), not --last-out's
    seen = []
    monkeypatch.setattr(
        train, "evaluate_held_out",
        lambda model, *a: seen.append({k: v.clone() for k, v in model.state_dict().items()}) or {},
    )  # fmt: skip
    train.train(train.parse_args(["--init", str(ck), "--steps", "2", "--lr", "0.05", "--eval",
                                  "4", "--ema", "0.5", "--out", str(ema), "--last-out",
                                  str(last), *TINY]))  # fmt: skip
    (se, _), (sl, il) = ((m.state_dict(), c) for m, c in map(load_checkpoint, (ema, last)))
    assert len(seen) == 1 and torch.equal(seen[0][conv], se[conv])
    assert not torch.equal(seen[0][conv], sl[conv])
    assert json.loads(il["info"])["average"] is None and json.loads(il["info"])["ema"] is None
    with pytest.raises(ValueError, match="--last-out needs --ema"):
        train.train(train.parse_args(["--init", str(ck), "--last-out", str(last), "--out",
                                      str(tmp_path / "x.pt"), *TINY]))  # fmt: skip
    with pytest.raises(ValueError, match="ema"):
        train.train(train.parse_args(["--init", str(ck), "--ema", "1", "--out",
                                      str(tmp_path / "x.pt"), *TINY]))  # fmt: skip
    with pytest.raises(ValueError, match="average"):
        train.train(train.parse_args(["--init", str(ck), "--average", "2", "--out",
                                      str(tmp_path / "x.pt"), *TINY]))  # fmt: skip


def test_paired_change(example):
    from hardcase_loop import paired

    before = np.array([1, 1, 0, 0, 1, 1, 1, 1], bool)
    after = np.array([1, 0, 1, 1, 1, 1, 1, 1], bool)
    r = paired(before, after)
    assert r["before"] == 0.75 and r["after"] == 0.875 and r["change"] == 0.125
    d = np.array([0, -1, 1, 1, 0, 0, 0, 0], float)
    assert r["change_se"] == pytest.approx(d.std(ddof=1) / np.sqrt(8))


def test_width_buckets_sort_and_cut(example):
    import train

    rng = np.random.default_rng(0)
    widths = rng.integers(90, 280, 10)
    items = [
        (np.full((28, w), k, np.float32), {"text": str(k % 10)}) for k, w in enumerate(widths)
    ]
    groups = train.WidthBuckets(3, 4)(items)
    assert [len(g["texts"]) for g in groups] == [4, 4, 2]
    got = np.concatenate([g["widths"].numpy() for g in groups])
    assert got.tolist() == sorted(widths.tolist())  # narrowest first, every sample once
    for g in groups:  # each batch padded only to its own widest
        assert g["images"].shape[-1] == int(g["widths"].max())
    seen = [t for b in train.batches([groups], np.random.default_rng(1)) for t in b["texts"]]
    assert sorted(seen) == sorted(lab["text"] for _, lab in items)


def test_writer_split_sources_are_disjoint(example, fake_mnist_dir):
    """The fit and held-out sources draw only their own writers' digits (the project's split)."""
    import writer_split

    from strokeseq.sources import get_source
    from strokeseq.sources.mnist.writers import load_writers

    ctx = {"split": "train", "data_dir": str(fake_mnist_dir)}
    fit = get_source(writer_split.source_name("fit", 0.2), context=ctx)
    hold = get_source("writer_split:holdout_20", context=ctx)
    fit_idx, hold_idx = writer_split._split_indices(0.2, str(fake_mnist_dir))
    writers = load_writers("train", str(fake_mnist_dir), download=False)
    assert len(set(writers[hold_idx])) == 2 and not set(writers[hold_idx]) & set(writers[fit_idx])
    labels = np.arange(10).repeat(30)
    for src, idx in ((fit, fit_idx), (hold, hold_idx)):
        d = src.draw(labels, np.random.default_rng(0))
        assert np.isin(d.meta["index"], idx).all() and (d.labels == labels).all()
    assert len(fit) + len(hold) == len(writers)
    with pytest.raises(ValueError, match="whole percent"):
        writer_split.source_name("fit", 0.205)
    with pytest.raises(ValueError, match="train split"):
        writer_split.WriterPart("fit", 0.2, split="test")
    with pytest.raises(ValueError, match="writer must be None"):  # would cross the split
        fit.check_writer("same")
    fit.check_writer(None)


def test_hardcase_loop_refuses_repeated_mining_seeds(example, tmp_path):
    import hardcase_loop

    out = tmp_path / "loop"
    with pytest.raises(ValueError, match="--mine-seed values must differ"):
        hardcase_loop.main(
            ["--checkpoint", str(tmp_path / "none.pt"), "--out", str(out), "--mine-seed", "1", "1"]
        )
    assert not out.exists()  # refused before anything was written


def test_touching_share_adds_the_clean_touching_geometry(example):
    """``touching_share`` takes that share of the fresh samples in the held-out touching
    geometry (ink layout, gaps -3..1); 0 keeps the base's tile + ink mix unchanged."""
    import data

    plain = data.train_dataset(10, 0)
    assert [len(p) for p in plain.datasets] == [10, 10]
    mixed = data.train_dataset(10, 0, touching_share=0.3)
    assert [len(p) for p in mixed.datasets] == [7, 7, 6]  # 6 of 20 touching, 14 split evenly
    assert [len(p) for p in data.train_dataset(10, 0, touching_share=0.25).datasets] == [8, 7, 5]
    touch = data.TOUCHING_TRAIN_CONFIG
    assert touch["spacing"] == data.HELD_OUT_CONFIGS["touching"]["spacing"] == [-3, 1]
    assert touch["layout"] == "ink" and touch["augment"] == "light"
    a, b = plain.datasets[0][3], mixed.datasets[0][3]  # the tile part's samples are unchanged
    assert a[1]["text"] == b[1]["text"] and np.array_equal(a[0], b[0])
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="touching_share must be in"):
            data.train_dataset(10, 0, touching_share=bad)


@pytest.mark.parametrize("script", ["train", "hardcase_loop"])
def test_a_bad_touching_share_is_refused_before_any_work(example, script, capsys):
    """Checked while parsing: exit 2 with one line, before a folder, a checkpoint or mining."""
    import importlib

    mod = importlib.import_module(script)
    extra = [] if script == "train" else ["--checkpoint", "none.pt", "--out", "never"]
    for bad in ("1.5", "-0.1", "nan"):
        with pytest.raises(SystemExit) as exc:
            mod.parse_args([*extra, "--touching-share", bad])
        assert exc.value.code == 2
        assert "--touching-share must be in [0, 1)" in capsys.readouterr().err
    assert mod.parse_args([*extra, "--touching-share", "0.25"]).touching_share == 0.25
