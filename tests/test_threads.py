"""The shared thread pool: its size from STROKESEQ_THREADS."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from strokeseq import threads


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
