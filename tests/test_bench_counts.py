"""The instruction-count benchmark (benchmarks/count_instructions.py): its cases and its table."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def bench(monkeypatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import count_instructions

    return count_instructions


def test_cases_are_the_calls_they_name(bench):
    from strokeseq import StrokeSource, generate_numbers_sequence

    fn, k = bench._calls("glyphs:sample:7:2")
    assert k == 7
    want = StrokeSource("glyphs", supersample=2).sample(np.arange(7) % 10, rng=4)
    np.testing.assert_array_equal(fn(4), want)
    fn, k = bench._calls("fitted:api:2")
    assert k == 1
    want = generate_numbers_sequence("3", (0, 0), 28, source=StrokeSource(supersample=2), rng=5)
    np.testing.assert_array_equal(fn(5), want)


def test_the_table_has_a_row_per_case_with_a_change_column(bench, capsys, monkeypatch):
    # valgrind itself is not needed to check the table: fake counts, linear in N
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    counts = {"fitted:api:3": (1_000_000, 3_000_000), "fitted:sample:512:2": (5e6, 2e8)}

    def fake(path, case, n):
        base, per = counts[case]
        return int(base + n * per * (1.0 if path == str(bench.ROOT) else 1.1))

    monkeypatch.setattr(bench, "count", fake)
    args = ["--cases", *counts, "--compare", str(BENCH)]
    assert bench.main(args) == 0
    out = capsys.readouterr().out
    assert "| fitted:api:3 | 3.000 (3.0000) | 3.300 (3.3000) | -9.1 % |" in out
    assert "| fitted:sample:512:2 | 200.000 (0.3906) | 220.000 (0.4297) | -9.1 % |" in out
