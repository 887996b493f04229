"""What a dataset run says on stderr: one line for a refused run, workers logging like the parent.

These run real processes (a CLI or a script spawning workers): in-process,
pytest's own log handlers would hide what a user sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import make_fake_digits

from strokeseq.sources.mnist.idx import write_idx

# A source that says, once per process, where it was loaded, plus one line that
# every process says alike (which a run shows once).
TALKY = """
import logging
import multiprocessing

import numpy as np

from strokeseq.sources import Digits, DigitSource

log = logging.getLogger("strokeseq.talky")
_SAID = []


class TalkySource(DigitSource):
    name = "talky"

    def prepare(self, writer=None):
        if not _SAID:
            _SAID.append(1)
            who = "parent" if multiprocessing.parent_process() is None else "worker"
            log.warning("talky source loaded in the %s", who)
            log.warning("talky says this in every process")
            log.info("talky detail")

    def draw(self, labels, rng):
        labels = np.asarray(labels, np.int64)
        ink = np.zeros((labels.size, 28, 28), np.float32)
        for i, d in enumerate(labels.tolist()):
            ink[i, 6:22, 12 - d // 2 : 16 + d // 2] = rng.uniform(0.5, 1.0)
        return Digits(ink, labels.copy(), {"index": np.full(labels.size, -1)})
"""

SCRIPT = """
import logging
import sys

from strokeseq.dataset import generate_dataset

if __name__ == "__main__":
    mode, out = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 4:
        from strokeseq.dataset import local_engine

        local_engine.START_METHOD = sys.argv[4]
    if mode == "format":
        logging.basicConfig(level=logging.INFO, format="[custom] %(levelname)s %(name)s: %(message)s")
    elif mode == "package":  # a handler on the package's logger only, not on the root
        pkg = logging.getLogger("strokeseq")
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("[pkg] %(message)s"))
        pkg.addHandler(handler)
        pkg.setLevel(logging.WARNING)
        pkg.propagate = False
    elif mode == "silent":
        logging.getLogger("strokeseq").setLevel(logging.ERROR)
    s = generate_dataset(
        out, 4000, {"source": "talky_source:TalkySource", "length": 3, "width": 84}, 1,
        shard_size=100, workers=int(sys.argv[3]),
    )
    print("processes", len(s.cpu["processes"]), "children", s.cpu["children"] > 0)
"""


def _run_script(
    tmp_path: Path, mode: str, workers: int, method: str | None = None
) -> subprocess.CompletedProcess:
    (tmp_path / "talky_source.py").write_text(textwrap.dedent(TALKY))
    (tmp_path / "run.py").write_text(textwrap.dedent(SCRIPT))
    out = tmp_path / f"out-{mode}-{workers}"
    return subprocess.run(
        [sys.executable, "run.py", mode, str(out), str(workers), *([method] if method else [])],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "STROKESEQ_OFFLINE": "1"},
    )


def _talky_lines(err: str) -> list[str]:
    return sorted(line for line in err.splitlines() if "talky" in line)


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_warnings_follow_the_default_configuration(tmp_path, workers):
    """No logging set up: warnings as bare lines (Python's last resort), each once."""
    r = _run_script(tmp_path, "default", workers)
    assert r.returncode == 0, r.stderr
    said = ["talky says this in every process", "talky source loaded in the parent"]
    if workers == 2:  # the worker process loaded the source too, and its warning shows
        assert "children True" in r.stdout
        said.append("talky source loaded in the worker")
    assert _talky_lines(r.stderr) == sorted(said), r.stderr


def test_worker_records_use_the_parents_handlers_and_levels(tmp_path):
    """basicConfig(INFO, custom format) in the parent applies to the worker's records."""
    r = _run_script(tmp_path, "format", 2)
    assert r.returncode == 0, r.stderr
    prefix = "[custom] WARNING strokeseq.talky: "
    assert _talky_lines(r.stderr) == sorted(
        [
            f"{prefix}talky says this in every process",
            f"{prefix}talky source loaded in the parent",
            f"{prefix}talky source loaded in the worker",
            "[custom] INFO strokeseq.talky: talky detail",
        ]
    ), r.stderr


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_handler_of_the_package_logger_shows_worker_records_once(tmp_path, method):
    """A forked worker inherits the parent's handlers: it must not print through them itself."""
    if method == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    r = _run_script(tmp_path, "package", 2, method)
    assert r.returncode == 0, r.stderr
    assert "children True" in r.stdout
    assert _talky_lines(r.stderr) == sorted(
        [
            "[pkg] talky says this in every process",
            "[pkg] talky source loaded in the parent",
            "[pkg] talky source loaded in the worker",
        ]
    ), r.stderr


def test_a_silenced_logger_stays_silent_in_workers(tmp_path):
    r = _run_script(tmp_path, "silent", 2)
    assert r.returncode == 0, r.stderr
    assert "children True" in r.stdout
    assert _talky_lines(r.stderr) == [], r.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_cli_workers_log_as_the_cli_says(tmp_path, verbose):
    """``strokeseq [-v] dataset --workers 2``: the worker's warnings in the CLI's format, once."""
    (tmp_path / "talky_source.py").write_text(textwrap.dedent(TALKY))
    cmd = [sys.executable, "-m", "strokeseq.cli", *(["-v"] if verbose else []), "dataset",
           str(tmp_path / "out"), "--count", "4000", "--shard-size", "100", "--length", "3",
           "--width", "84", "--source", "talky_source:TalkySource", "--workers", "2",
           "--no-progress", "--seed", "1"]  # fmt: skip
    env = {**os.environ, "STROKESEQ_OFFLINE": "1"}
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stderr
    said = [
        "talky says this in every process",
        "talky source loaded in the parent",
        "talky source loaded in the worker",
    ]
    if verbose:  # -v: INFO and up, "LEVEL name: message"
        expected = [f"WARNING strokeseq.talky: {m}" for m in said]
        expected.append("INFO strokeseq.talky: talky detail")
    else:  # warnings only, bare
        expected = said
    assert _talky_lines(r.stderr) == sorted(expected), r.stderr


def _mnist_without_qmnist(folder: Path) -> Path:
    folder.mkdir(parents=True)
    images, labels = make_fake_digits(60, seed=5)
    write_idx(folder / "train-images-idx3-ubyte.gz", images)
    write_idx(folder / "train-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.mark.parametrize("command", ["dataset", "sequence"])
@pytest.mark.parametrize("verbose", [False, True])
def test_writer_same_without_qmnist_is_one_line(tmp_path, command, verbose):
    """The missing QMNIST files are reported once, as the error: no warning line before it."""
    mnist = _mnist_without_qmnist(tmp_path / "data" / "mnist")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "STROKESEQ_QMNIST_DIR"}
    env.update(
        STROKESEQ_MNIST_DIR=str(mnist),
        STROKESEQ_DATA_DIR=str(empty),
        STROKESEQ_OFFLINE="1",
        STROKESEQ_QMNIST_URL="http://127.0.0.1:9/",
    )
    args = (
        ["dataset", str(tmp_path / "out"), "--count", "10", "--no-progress"]
        if command == "dataset"
        else ["sequence", "123", "0", "10", "120", "-o", str(tmp_path / "s.png")]
    )
    r = subprocess.run(
        [sys.executable, "-m", "strokeseq.cli", *(["-v"] if verbose else []), *args,
         "--writer", "same"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    lines = [line for line in r.stderr.splitlines() if not line.startswith("INFO ")]
    assert lines == [
        f"strokeseq {command}: error: writer='same' needs the QMNIST writer labels "
        "(qmnist-train/test-labels-idx2-int.gz): put them next to the MNIST files, set "
        "STROKESEQ_QMNIST_DIR, or allow the download"
    ], r.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "s.png").exists()
