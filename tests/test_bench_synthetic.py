"""The synthetic-digit benchmark (benchmarks/bench_synthetic.py) runs and says what it measured."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_synthetic

    return bench_synthetic


def test_bench_synthetic_prints_rates_ratios_and_the_fitted_glyph_table(bench, capsys):
    argv = [
        "--rounds",
        "2",
        "--per-call",
        "1",
        "--batch",
        "3",
        "--look",
        "2",
        "--loop-digits",
        "0",
        "--max-calls",
        "3",
    ]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    assert "load average" in out and "steal" in out
    for case in ("fitted ss=3 1/call", "glyphs ss=3 3/call", "fitted API 1 digit (defaults)"):
        assert f"| {case}" in out
    assert "speed-up vs old (CPU)" in out
    assert "| ss=3 3/call |" in out  # the fitted / glyphs table
    assert "| fitted | 3 | 0 | 0 of 2 |" in out  # the look check: same bytes


def test_bench_stroke_model_runs_the_same_timing_without_yardstick(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_stroke_model

    monkeypatch.setattr(
        sys,
        "argv",
        ["bench_stroke_model.py", "--rounds", "1", "--sizes", "2", "5", "--max-calls", "3"],
    )
    bench_stroke_model.main()
    out = capsys.readouterr().out
    assert "yardstick: none" in out and "speed-up" not in out
    assert "| fitted ss=3 2/call |" in out and "| glyphs ss=3 5/call |" in out
    assert "| ss=3 5/call |" in out and "| ss=2 2/call |" in out
    # each model at its own default supersampling: the fitted model 2, the glyphs 3
    assert "| defaults (ss=2 / ss=3) 5/call |" in out
