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
    for name in ("model", "data", "train", "reader", "hardcase_loop"):
        sys.modules.pop(name, None)
    yield
    for name in ("model", "data", "train", "reader", "hardcase_loop"):
        sys.modules.pop(name, None)


def test_train_read_and_hardcase_loop(example, tmp_path, monkeypatch, capsys):
    import torch
    import train

    from strokeseq.hardcases import evaluate, make_ladder

    ck = tmp_path / "tiny.pt"
    info = train.train(train.parse_args(["--steps", "3", "--eval", "8", "--out", str(ck), *TINY]))
    assert info["steps"] == 3 and np.isfinite(info["final_loss"])
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
                              "--steps", "2", "--batch-size", "4", "--eval", "0",
                              "--workers", "0"])  # fmt: skip
    assert res["mined"]["generated"] <= 12 and res["finetune"]["steps"] == 2
    assert set(res["auc_difficulty"]) == {"before", "after"}
    assert (out / "loop.png").stat().st_size > 1000 and (out / "finetuned.pt").exists()
    assert json.loads((out / "loop.json").read_text())["ladder"]["seed"] == 2
    assert "| difficulty |" in (out / "loop.md").read_text()
    capsys.readouterr()
