"""The shared thread pool: threaded batch work gives the same bytes as one thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from strokeseq import threads
from strokeseq.sources.stroke.source import _CHUNK, StrokeSource


@pytest.fixture
def two_threads(monkeypatch):
    pool = ThreadPoolExecutor(2)
    monkeypatch.setattr(threads, "_POOL", pool)
    yield pool
    pool.shutdown()


@pytest.mark.parametrize("model", ["fitted", "glyphs"])
def test_threaded_synthetic_chunks_give_the_same_digits(monkeypatch, two_threads, model):
    """More than one render chunk is drawn on the pool; every byte must match one thread."""
    source = StrokeSource(model=model)
    labels = np.arange(2 * _CHUNK + 37) % 10
    threaded = source.draw(labels, np.random.default_rng(5))
    monkeypatch.setattr(threads, "_POOL", False)  # one thread
    single = source.draw(labels, np.random.default_rng(5))
    np.testing.assert_array_equal(threaded.ink, single.ink)
    for key, value in single.meta.items():
        np.testing.assert_array_equal(threaded.meta[key], value, err_msg=key)


def test_run_parts_waits_for_every_part_then_raises(two_threads):
    done = []

    def work(i: int) -> None:
        if i == 0:
            raise ValueError("part 0 failed")
        done.append(i)

    with pytest.raises(ValueError, match="part 0 failed"):
        threads.run_parts(work, [0, 1, 2, 3], two_threads)
    assert sorted(done) == [1, 2, 3]


@pytest.mark.parametrize(("setting", "expected"), [("1", None), ("junk", None)])
def test_pool_size_from_the_environment(monkeypatch, setting, expected):
    monkeypatch.setattr(threads, "_POOL", None)
    monkeypatch.setenv("STROKESEQ_THREADS", setting)
    assert threads.shared_pool() is expected
    monkeypatch.setenv("STROKESEQ_THREADS", "2")
    monkeypatch.setattr(threads, "_POOL", None)
    pool = threads.shared_pool()
    assert isinstance(pool, ThreadPoolExecutor) and pool._max_workers == 2
    pool.shutdown()
