"""The rng argument (SPEC 7) and the process-wide default generator."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from strokeseq.rng import as_generator


def test_accepted_kinds():
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    assert as_generator(5).random() == np.random.default_rng(5).random()
    ss = np.random.SeedSequence(9)
    assert as_generator(ss).random() == np.random.default_rng(np.random.SeedSequence(9)).random()
    assert isinstance(as_generator(None), np.random.Generator)
    assert as_generator(None) is as_generator(None)  # one process-wide default


@pytest.mark.parametrize(
    ("bad", "exc"), [(1.5, TypeError), (True, TypeError), ("7", TypeError), (-1, ValueError)]
)
def test_refused(bad, exc):
    with pytest.raises(exc):
        as_generator(bad)


FORK_RNG_SCRIPT = """
import multiprocessing as mp

from strokeseq.rng import as_generator


def child(queue):
    queue.put(as_generator(None).random(4).tolist())


if __name__ == "__main__":
    as_generator(None)  # the parent has a default generator before forking
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=child, args=(queue,)) for _ in range(2)]
    for p in procs:
        p.start()
    draws = [queue.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=600)
    parent = as_generator(None).random(4).tolist()
    assert draws[0] != draws[1] and parent not in draws, draws
    print("ok")
"""


@pytest.mark.skipif(sys.platform == "win32", reason="fork is POSIX")
def test_forked_children_do_not_replay_the_parent_stream(tmp_path):
    """Run in a fresh interpreter, so no thread of the test runner is forked."""
    import subprocess

    script = tmp_path / "fork_rng.py"
    script.write_text(FORK_RNG_SCRIPT)
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=900
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
