"""Worker processes of a dataset run do not outlive it: killing only the parent stops them.

``workers=3`` is the run's own process and two worker processes (forked on
Linux when the run's process has no other thread, else spawned).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="needs /proc to list child processes"
)


def _run_script(tmp_path: Path, script: str, timeout: int, env: dict | None = None) -> str:
    """Run ``script`` as ``run.py`` in a fresh interpreter; its stdout (fails on a non-zero exit)."""
    (tmp_path / "run.py").write_text(script)
    return subprocess.run(
        [sys.executable, str(tmp_path / "run.py")], capture_output=True, text=True,
        timeout=timeout, check=True, env=env,
    ).stdout  # fmt: skip


def _children(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is ``pid``."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after the last ')'
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == pid and state != "Z":
            out.append(int(d.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _n_shards(out: Path) -> int:
    return len(list(out.glob("shard-*")))


@pytest.mark.slow
def test_workers_exit_when_the_parent_is_killed(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    script = textwrap.dedent(
        f"""
        from strokeseq.dataset import generate_dataset

        if __name__ == "__main__":
            generate_dataset(
                {str(out)!r}, 1_000_000, {{"length": 5, "width": 160}}, 3, shard_size=500,
                workers=3, compress=1, data_dir={str(fake_mnist_dir)!r},
            )
        """
    )
    (tmp_path / "run.py").write_text(script)
    proc = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], cwd=tmp_path)
    try:
        # Wait (generously: the machine may be loaded) until both workers made shards.
        deadline = time.monotonic() + 120
        workers: list[int] = []
        while time.monotonic() < deadline and proc.poll() is None:
            workers = [p for p in _children(proc.pid) if _alive(p)]
            manifest = out / "manifest.json"
            done = len(json.loads(manifest.read_text())["shards"]) if manifest.exists() else 0
            if done >= 4 and len(workers) >= 2:
                break
            time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be killed"
        assert len(workers) >= 2, f"expected two worker processes, found {workers}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        # Workers notice within a second or so; allow a loaded machine a minute.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and any(_alive(p) for p in workers):
            time.sleep(0.2)
        left = [p for p in workers if _alive(p)]
        assert not left, f"worker(s) {left} still running after their parent was killed"
        n = _n_shards(out)
        time.sleep(2)
        assert _n_shards(out) == n  # nothing is written any more
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        for p in _children(proc.pid):  # pragma: no cover - only after a failure
            os.kill(p, signal.SIGKILL)


# A suite started in the background (``pytest &`` in a script) hands its children
# SIGINT ignored, and Python keeps it ignored: the run under test gets Python's
# usual Ctrl-C handler back, as it has in a terminal.
AS_IN_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('strokeseq.cli', run_name='__main__', alter_sys=True)"
)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_ctrl_c_while_workers_start_prints_no_traceback(tmp_path, fake_mnist_dir, method):
    """Ctrl-C lands on the whole process group while a worker is still starting up.

    The worker is started with SIGINT blocked and then ignores it: only the
    run's process reacts (one line, exit 130), no worker prints a traceback.
    A spawned worker is then importing strokeseq (~0.3 s); a forked one is
    loading its data or already making shards.
    """
    if method == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    force = f"import strokeseq.dataset.local_engine as le; le.START_METHOD = {method!r}; "
    out = tmp_path / "d"
    cmd = [sys.executable, "-c", force + AS_IN_A_TERMINAL, "dataset", str(out), "--count", "200000",
           "--shard-size", "500", "--workers", "2", "--no-progress",
           "--data-dir", str(fake_mnist_dir)]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None and not _children(proc.pid):
            time.sleep(0.005)
        assert proc.poll() is None and _children(proc.pid), "no worker process was started"
        time.sleep(0.15)  # a spawned worker is now importing strokeseq (it takes ~0.3 s)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C, mid start-up
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1] == "strokeseq dataset: interrupted", err


def test_a_finished_worker_skips_the_teardown_but_flushes_its_output(tmp_path):
    # A worker's pool lets it go once every shard is back: it then ends at once
    # (os._exit after multiprocessing's finalizers), so atexit handlers and the
    # module teardown do not run, but what it printed still arrives.
    script = tmp_path / "child.py"
    script.write_text(
        textwrap.dedent(
            """
            import atexit, multiprocessing as mp, sys

            from strokeseq.dataset.worker_process import _exit_fast_when_done

            def child():
                _exit_fast_when_done()
                atexit.register(lambda: print("teardown ran", flush=True))
                sys.stdout.write("last words")  # not flushed by the child itself

            if __name__ == "__main__":
                p = mp.get_context("spawn").Process(target=child)
                p.start()
                p.join(60)
                print("|exitcode", p.exitcode, flush=True)
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out == "last words|exitcode 0\n"


def test_workers_are_spawned_while_another_thread_runs(monkeypatch):
    import threading

    from strokeseq.dataset import local_engine

    monkeypatch.setattr(local_engine, "START_METHOD", None)
    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert local_engine.start_method() == "spawn"  # fork could copy a held lock
    finally:
        stop.set()
        t.join()


def test_a_single_threaded_run_forks_its_workers_on_linux(tmp_path, fake_mnist_dir):
    script = textwrap.dedent(
        f"""
        import json, sys
        from strokeseq.dataset import generate_dataset
        from strokeseq.dataset.local_engine import start_method

        if __name__ == "__main__":
            got = [start_method()]
            for k in range(2):  # the first run leaves no thread behind: the second forks too
                s = generate_dataset({str(tmp_path)!r} + f"/d{{k}}", 400, {{"length": 3, "width": 84}},
                                     3, shard_size=50, workers=2, data_dir={str(fake_mnist_dir)!r})
                got.append(s.cpu["start_method"])
            print(json.dumps(got))
        """
    )
    out = _run_script(tmp_path, script, timeout=300)
    expected = "fork" if sys.platform.startswith("linux") else "spawn"
    assert json.loads(out) == [expected] * 3


def test_a_forked_worker_gets_default_signal_handlers(tmp_path):
    # The run's process may have signal handlers (a server, a script's cleanup):
    # a forked worker must not run them; LocalWorkers.kill's SIGTERM ends it
    # (through the worker's own handler, which only removes partial downloads).
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    script = textwrap.dedent(
        """
        import json, signal
        import multiprocessing as mp

        from strokeseq.dataset.local_engine import _worker_init

        def handlers():
            term = getattr(signal.getsignal(signal.SIGTERM), "__name__", "")
            return [term == "_terminated", signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL]

        if __name__ == "__main__":
            signal.signal(signal.SIGTERM, lambda *a: None)
            signal.signal(signal.SIGUSR1, lambda *a: None)
            with mp.get_context("fork").Pool(1, initializer=_worker_init) as pool:
                got = pool.apply(handlers)
            print(json.dumps(got))
        """
    )
    out = _run_script(tmp_path, script, timeout=120)
    assert json.loads(out) == [True, True]


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_worker_stopped_while_downloading_leaves_no_part_file(tmp_path, method):
    # LocalWorkers.kill sends SIGTERM; a worker may be in the middle of an MNIST
    # download, whose ``finally`` would never run: the handler removes the file.
    if method == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    part = tmp_path / ".train-images-idx3-ubyte.gz.x1.part"
    script = textwrap.dedent(
        f"""
        import multiprocessing as mp, sys, time

        from strokeseq.dataset.local_engine import _worker_init
        from strokeseq.sources.mnist import files

        def downloading(ready):
            _worker_init()
            open({str(part)!r}, "wb").close()
            files._PARTIAL.add({str(part)!r})  # as _download_one does
            ready.set()
            time.sleep(60)

        if __name__ == "__main__":
            ctx = mp.get_context({method!r})
            ready = ctx.Event()
            p = ctx.Process(target=downloading, args=(ready,))
            p.start()
            assert ready.wait(60)
            p.terminate()
            p.join(60)
            print(p.exitcode)
        """
    )
    out = _run_script(tmp_path, script, timeout=180)
    assert int(out) == -signal.SIGTERM  # still killed by the signal
    assert not part.exists()


def test_strokeseq_idle_pool_does_not_cost_the_fork(tmp_path, fake_mnist_dir):
    # Augmenting a large batch leaves strokeseq's shared thread pool alive (idle):
    # a dataset run stops it before starting its workers, so it still forks.
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    script = textwrap.dedent(
        f"""
        import json, os, threading
        os.environ["STROKESEQ_THREADS"] = "2"
        from strokeseq.threads import shared_pool
        from strokeseq.dataset import generate_dataset

        if __name__ == "__main__":
            shared_pool().submit(sum, [1]).result()
            before = sorted(t.name for t in threading.enumerate())
            s = generate_dataset({str(tmp_path)!r} + "/d", 200, {{"length": 2, "width": 56}},
                                 3, shard_size=50, workers=2, data_dir={str(fake_mnist_dir)!r})
            print(json.dumps([before, s.cpu["start_method"], shared_pool() is not None]))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STROKESEQ_")}
    out = _run_script(tmp_path, script, timeout=300, env=env)
    before, method, pool_again = json.loads(out)
    assert "strokeseq_0" in before  # the pool's thread was there
    assert method == "fork"
    assert pool_again  # and the pool is made again on its next use


_REGISTERING_SCRIPT = """
import json, sys
from strokeseq.dataset import generate_dataset, local_engine
from strokeseq.sources import register_source
from strokeseq.sources.mnist import MnistSource


def calm(**kw):  # module level: picklable by reference, also from __main__
    return MnistSource(**kw)


if __name__ == "__main__":
    local_engine.START_METHOD = sys.argv[1]
    register_source("calm", calm if sys.argv[2] == "module" else (lambda **kw: MnistSource(**kw)))
    try:
        s = generate_dataset(sys.argv[3], 400, {"length": 2, "width": 56, "source": "calm"}, 3,
                             shard_size=50, workers=2, data_dir=sys.argv[4])
        # whether the worker made a shard is a matter of timing: ask one directly
        from strokeseq.dataset.config import DatasetConfig
        from strokeseq.dataset.local_engine import LocalWorkers
        from strokeseq.dataset.sampling import SampleContext
        from strokeseq.dataset.shards import ShardJob
        from strokeseq.sources import registered_sources

        cfg = DatasetConfig.from_dict({"length": 2, "width": 56, "source": "calm"})
        with LocalWorkers(1, ShardJob(SampleContext(cfg, 3, None), 0, 0, 0, "npz", 0, None)) as w:
            names = w.pool.submit(registered_sources).result()
        print(json.dumps(["ok", s.count, s.cpu["start_method"], "calm" in names]))
    except ValueError as exc:
        print(json.dumps(["refused", str(exc)]))
"""


@pytest.mark.parametrize(
    ("method", "factory", "expected"),
    [
        ("spawn", "module", "ok"),
        ("fork", "lambda", "ok"),
        ("spawn", "lambda", "refused"),
        ("spawn", "interactive", "refused"),
    ],
)
def test_a_source_registered_at_run_time_reaches_workers_however_started(
    tmp_path, fake_mnist_dir, method, factory, expected
):
    # Forked workers inherit a run-time registration; spawned ones receive it
    # with their start-up arguments, or the run is refused up front (a lambda
    # cannot be sent), never failing inside a worker.
    if method == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("fork on Linux only")
    (tmp_path / "run.py").write_text(_REGISTERING_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STROKESEQ_")}
    # the factory's own MnistSource finds the fake files here (never the network)
    env.update(STROKESEQ_MNIST_DIR=str(fake_mnist_dir), STROKESEQ_OFFLINE="1")
    args = [method, "module" if factory == "interactive" else factory, str(tmp_path / "d")]
    args.append(str(fake_mnist_dir))
    # "interactive": the same module-level factory in a __main__ without a file
    # (python -c, as in a notebook), which a spawned worker cannot import
    run = [str(tmp_path / "run.py")]
    if factory == "interactive":
        run = ["-c", f"import sys; sys.argv[1:] = {args!r}; exec(open({run[0]!r}).read())"]
    out = subprocess.run(
        [sys.executable, *run, *args], capture_output=True, text=True,
        timeout=300, check=True, env=env,
    ).stdout  # fmt: skip
    got = json.loads(out)
    assert got[0] == expected
    if expected == "ok":
        assert got[1:] == [400, method, True]
    else:
        assert "'calm'" in got[1] and "importable module" in got[1]
        assert not (tmp_path / "d").exists() or not any((tmp_path / "d").iterdir())


def test_a_forked_worker_does_not_write_to_the_parents_wakeup_fd(tmp_path):
    # asyncio sets a signal wakeup fd; a worker ended by SIGTERM must not wake
    # (and so shut down) the parent's event loop through its inherited copy.
    if not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    script = textwrap.dedent(
        """
        import os, signal, socket, time
        import multiprocessing as mp

        from strokeseq.dataset.local_engine import _worker_init

        if __name__ == "__main__":
            a, b = socket.socketpair()
            a.setblocking(False)
            signal.set_wakeup_fd(a.fileno())
            signal.signal(signal.SIGTERM, lambda *x: None)
            ctx = mp.get_context("fork")
            ready = ctx.Event()
            p = ctx.Process(target=lambda: (_worker_init(), ready.set(), time.sleep(30)))
            p.start()
            assert ready.wait(60)  # _worker_init has run
            os.kill(p.pid, signal.SIGTERM)
            p.join(10)
            b.setblocking(False)
            try:
                got = b.recv(16)
            except BlockingIOError:
                got = b""
            print(p.exitcode, list(got))
        """
    )
    out = _run_script(tmp_path, script, timeout=120)
    assert out.split() == [str(-signal.SIGTERM), "[]"]


def test_sigterm_gets_its_default_action_once_a_workers_data_is_loaded(tmp_path):
    # The worker's SIGTERM handler (removing partial downloads) is only needed
    # while data may be downloading: once the warm sources are loaded, SIGTERM
    # is back to its default, which kills at once (a Python handler waits for
    # the running C call). Signals blocked by the parent are unblocked.
    if not sys.platform.startswith("linux"):
        pytest.skip("uses fork and /proc")
    script = textwrap.dedent(
        """
        import json, signal
        import multiprocessing as mp

        from strokeseq.dataset.config import DatasetConfig
        from strokeseq.dataset.local_engine import _signals_blocked, _worker_init
        from strokeseq.dataset.sampling import SampleContext
        from strokeseq.dataset.shards import ShardJob

        def state():
            term = signal.getsignal(signal.SIGTERM)
            blocked = [l for l in open("/proc/self/status") if l.startswith("SigBlk:")][0]
            mask = int(blocked.split()[1], 16)
            return [getattr(term, "__name__", str(term)), bool(mask & (1 << (signal.SIGTERM - 1))),
                    bool(mask & (1 << (signal.SIGINT - 1)))]

        if __name__ == "__main__":
            cfg = DatasetConfig.from_dict({"source": "synthetic", "length": 2, "width": 60})
            warm = ShardJob(SampleContext(cfg, 7, None), 0, 0, 0, "npz", 0, None)
            got = []
            for job in (None, warm):
                with _signals_blocked():
                    pool = mp.get_context("fork").Pool(1, initializer=_worker_init,
                                                       initargs=(None, job))
                got.append(pool.apply(state))
                pool.terminate()
            print(json.dumps(got))
        """
    )
    out = _run_script(tmp_path, script, timeout=120)
    assert json.loads(out) == [
        ["_terminated", False, False],  # no data loaded yet: the clean-up handler
        ["0", False, False],  # loaded: the default action (SIG_DFL)
    ]
