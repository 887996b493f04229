"""Gap sampling and fitting: exact formulas and distribution tests."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pytest
from scipy import stats

from strokeseq.layout import cap_overlaps, fit_positions, min_width, sample_gaps


def test_unconstrained_gaps_are_the_plain_uniform_formula():
    u = np.random.default_rng(0).random((1000, 4))
    gaps = sample_gaps(u, 2, 9, budget=4 * 9)
    np.testing.assert_array_equal(gaps, np.floor(u * 8).astype(int) + 2)


def test_unconstrained_gaps_pass_chi_square_and_cover_both_ends():
    u = np.random.default_rng(1).random((5000, 3))
    gaps = sample_gaps(u, 0, 10, budget=10_000).ravel()
    counts = np.bincount(gaps, minlength=11)
    assert counts[0] > 0 and counts[10] > 0 and counts.size == 11
    assert stats.chisquare(counts).pvalue > 0.01


@pytest.mark.parametrize(
    ("k", "lo", "hi", "budget"), [(2, 0, 10, 12), (3, 0, 10, 12), (4, 2, 7, 15), (3, 1, 4, 3)]
)
def test_tight_gaps_are_uniform_over_every_fitting_vector(k, lo, hi, budget):
    n = 40_000
    u = np.random.default_rng(k + budget).random((n, k))
    gaps = sample_gaps(u, lo, hi, np.full(n, budget))
    feasible = [v for v in itertools.product(range(lo, hi + 1), repeat=k) if sum(v) <= budget]
    seen = Counter(map(tuple, gaps.tolist()))
    assert set(seen) == set(feasible)  # every fitting vector reachable, nothing else
    observed = np.array([seen[v] for v in feasible])
    if len(feasible) > 1:
        assert stats.chisquare(observed).pvalue > 0.001


def test_budget_at_minimum_gives_minimum_gaps():
    u = np.random.default_rng(2).random((50, 5))
    np.testing.assert_array_equal(sample_gaps(u, 3, 8, 15), np.full((50, 5), 3))


def test_budget_below_minimum_is_refused():
    with pytest.raises(ValueError, match="budget"):
        sample_gaps(np.zeros((1, 2)), 3, 5, 5)


def test_per_row_budgets_are_respected():
    rng = np.random.default_rng(3)
    budgets = rng.integers(0, 30, size=2000)
    gaps = sample_gaps(rng.random((2000, 3)), 0, 10, budgets)
    assert (gaps.sum(axis=1) <= budgets).all()
    assert gaps.min() == 0 and gaps.max() == 10


def test_long_sequences_do_not_overflow():
    u = np.random.default_rng(4).random((20, 199))
    gaps = sample_gaps(u, 0, 1000, 5000)
    assert (gaps.sum(axis=1) <= 5000).all() and (gaps >= 0).all()


def test_min_width():
    assert min_width(3, 0) == 84
    assert min_width(3, 5) == 94
    assert min_width(3, -4) == 84  # negative gaps never promise a narrower image
    assert min_width(2, 2, [10, 12]) == 24


def test_fit_positions_places_slack_as_margins():
    widths = np.full((1000, 3), 28)
    gaps = np.full((1000, 2), 4)
    u = np.random.default_rng(5).random(1000)
    x0 = fit_positions(widths, gaps, 120, u)
    np.testing.assert_array_equal(np.diff(x0, axis=1), np.full((1000, 2), 32))
    left = x0[:, 0]
    assert left.min() == 0 and left.max() == 120 - 92  # both extreme margins occur
    assert (x0[:, -1] + 28 <= 120).all()


def test_cap_overlaps_keeps_reading_order_and_fits():
    rng = np.random.default_rng(6)
    widths = rng.integers(2, 21, size=(3000, 4))
    gaps = rng.integers(-15, 3, size=(3000, 3))
    width = 20 * 4
    capped = cap_overlaps(widths, gaps, width)
    x0 = np.concatenate(
        [np.zeros((3000, 1), int), np.cumsum(widths[:, :-1] + capped, axis=1)], axis=1
    )
    assert (np.diff(x0, axis=1) >= 1).all()  # each digit starts right of the previous one
    assert (np.diff(x0 + widths, axis=1) >= 1).all()  # and ends right of it
    assert (widths.sum(axis=1) + capped.sum(axis=1) <= width).all()
    floor = 1 - np.minimum(widths[:, :-1], widths[:, 1:])
    rows_ok = (gaps >= floor).all(axis=1)  # nothing to raise: left exactly as drawn
    assert rows_ok.sum() > 100
    np.testing.assert_array_equal(capped[rows_ok], gaps[rows_ok])
    raised = gaps < floor
    assert (capped[raised] >= floor[raised]).all()


def _peak_bytes(fn):
    import tracemalloc

    tracemalloc.start()
    try:
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_tight_sampler_memory_is_bounded_and_gaps_unchanged(monkeypatch):
    """400 digits, 16 000 px of spare width: the whole count table is 52 MB."""
    from strokeseq import layout

    u = np.random.default_rng(5).random((3, 400))
    budget = np.array([16_000, 15_000, 9_000])
    whole, _ = _peak_bytes(lambda: sample_gaps(u, 0, 60, budget))  # fits the default budget
    monkeypatch.setattr(layout, "TABLE_BYTES", 4 << 20, raising=False)
    if hasattr(layout, "_cache"):
        layout._cache.clear()
    getattr(layout._prefix_tables, "cache_clear", lambda: None)()  # the old lru_cache
    bounded, peak = _peak_bytes(lambda: sample_gaps(u, 0, 60, budget))
    np.testing.assert_array_equal(bounded, whole, strict=True)  # bit-identical gaps
    assert peak < 12 << 20, peak  # was 52 MB + copies


def test_sampler_tables_are_released(monkeypatch):
    """Big tables are not kept between calls (the LRU cache kept up to 256 of them)."""
    import tracemalloc

    from strokeseq import layout

    u = np.random.default_rng(6).random((1, 300))
    tracemalloc.start()
    try:
        sample_gaps(u, 0, 100, 20_000)  # a 39 MB table
        sample_gaps(u[:, :299], 0, 100, 20_000)
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 4 << 20, held
    assert layout._cache_bytes <= layout.CACHE_BYTES


@pytest.mark.parametrize("table_bytes", [200, 3_000, 40_000])
def test_checkpointed_rows_equal_the_whole_table(monkeypatch, table_bytes):
    from strokeseq import layout

    k, r, cap = 37, 5, 128
    whole = layout._prefix_tables(k, r, cap)
    monkeypatch.setattr(layout, "TABLE_BYTES", table_bytes)
    rows = list(layout._rows_reversed(k, r, cap))
    assert len(rows) == k
    for got, want in zip(rows, reversed(whole), strict=True):
        np.testing.assert_array_equal(got, want, strict=True)


def test_required_width_is_the_one_rule():
    from strokeseq.layout import required_width

    class Narrow:  # a source whose ink boxes are at most 2 + label px wide
        def max_ink_width(self, d):
            return 2 + d

    assert required_width(3, 4) == 3 * 28 + 2 * 4
    assert required_width([1, 2], 5) == 56 + 5
    assert required_width(3, -5, "ink", Narrow()) == 3 * 11  # overlaps are not counted on
    assert required_width([1, 9], 2, "ink", Narrow()) == 3 + 11 + 2
    # per position, the widest allowed digit; for rows, the row that needs most
    assert required_width([[0, 1], 9], 0, "ink", Narrow()) == 3 + 11
    assert required_width(np.array([[0, 0], [9, 1]]), 1, "ink", Narrow()) == 11 + 3 + 1
    assert required_width(np.zeros((0, 3), np.int64), 1, "ink", Narrow()) == 0
    # tile layout of a 2-D batch: every box is a tile, whatever the labels and the source
    rows = np.array([[0, 0, 7], [9, 1, 2]])
    assert required_width(rows, 3) == required_width(rows, 3, "tile", Narrow()) == 84 + 6
    assert required_width(rows, -4, "tile") == 84
    assert required_width(np.zeros((0, 3), np.int64), 1) == 0
    # with several sources, the widest of them counts
    assert (
        required_width(
            [0], 0, "ink", [Narrow(), type("W", (), {"max_ink_width": lambda s, d: 20})()]
        )
        == 20
    )
