"""Nothing lost, nothing silently wrong: folder locking, data identity, an untrusting reader,
size limits, file modes and refused runs that leave nothing behind (issue 11)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import make_fake_digits

from strokeseq.dataset import generate_dataset, iter_shards, load_dataset
from strokeseq.dataset.folder_lock import FolderLock
from strokeseq.errors import DatasetError, DatasetLockedError
from strokeseq.sources import get_source
from strokeseq.sources.mnist.idx import write_idx

CFG = {"length": [3, 6], "spacing": [0, 8], "width": {"per_digit": 34, "extra": 0}}


@pytest.fixture(autouse=True)
def _own_env(tmp_path, monkeypatch):
    """Only the data this test points at: no QMNIST or cache from the user's environment."""
    for var in ("STROKESEQ_QMNIST_DIR", "STROKESEQ_MNIST_DIR"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("STROKESEQ_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("STROKESEQ_OFFLINE", "1")


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "strokeseq.cli", "dataset", *args, "--no-progress"],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _shards(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("shard-*"))}


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


def _edit_manifest(folder: Path, edit) -> None:
    m = _manifest(folder)
    edit(m)
    (folder / "manifest.json").write_text(json.dumps(m))


# -- 1. one run per folder ---------------------------------------------------------------------
_HOLDER = """
import sys, time
from strokeseq.dataset.folder_lock import FolderLock
lock = FolderLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
lock.release()
"""


def _hold(folder: Path, seconds: float) -> subprocess.Popen:
    folder.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(folder), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_run_is_refused_naming_the_holder(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    holder = _hold(out, 300)
    try:
        with pytest.raises(
            DatasetLockedError, match=rf"pid {holder.pid} on {socket.gethostname()}"
        ):
            generate_dataset(out, 40, CFG, 1, shard_size=20, data_dir=fake_mnist_dir)
        r = _cli(str(out), "--count", "40", "--data-dir", str(fake_mnist_dir), "--seed", "1")
        assert r.returncode == 2
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and f"pid {holder.pid}" in lines[0] and "--wait" in lines[0]
        assert not list(out.glob("shard-*")) and not (out / "manifest.json").exists()
    finally:
        holder.kill()
        holder.wait(30)


def test_wait_for_the_holder_then_run(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    holder = _hold(out, 3)
    t0 = time.monotonic()
    s = generate_dataset(out, 40, CFG, 1, shard_size=20, data_dir=fake_mnist_dir, wait=True)
    assert time.monotonic() - t0 > 1  # it did wait for the holder
    assert holder.wait(60) == 0
    assert s.shards_written == 2 and load_dataset(out).images.shape[0] == 40
    # a bounded wait gives up with the holder's name
    holder = _hold(out, 120)
    try:
        with pytest.raises(DatasetLockedError, match="wait longer"):
            generate_dataset(out, 40, CFG, 1, shard_size=20, data_dir=fake_mnist_dir, wait=0.5)
        proc = subprocess.Popen(
            [sys.executable, "-m", "strokeseq.cli", "dataset", str(out), "--count", "40",
             "--length", "3-6", "--spacing", "0", "8", "--width", "34n", "--shard-size", "20",
             "--data-dir", str(fake_mnist_dir), "--seed", "1", "--no-progress", "--wait"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        # its first words on stderr (however slow it starts): it waits for the holder
        assert "waiting for it" in proc.stderr.readline()
        assert proc.poll() is None
        holder.kill()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "taking over from a run" in err
    finally:
        holder.kill()
        holder.wait(30)


def test_a_lock_left_by_a_killed_run_is_taken_over(tmp_path, fake_mnist_dir, caplog):
    out = tmp_path / "d"
    holder = _hold(out, 300)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    assert json.loads((out / ".lock.json").read_text())["pid"] == holder.pid
    with caplog.at_level(logging.WARNING, logger="strokeseq.dataset.folder_lock"):
        s = generate_dataset(out, 40, CFG, 1, shard_size=20, data_dir=fake_mnist_dir)
    assert s.shards_written == 2
    assert f"pid {holder.pid}" in caplog.text and "taking over" in caplog.text
    assert not (out / ".lock.json").exists()


def test_stale_plain_lock_file_is_taken_over(tmp_path, monkeypatch):
    """Without flock (some network file systems) the lock is a file; a dead holder's is removed."""
    import filelock

    class NoFlock(filelock.FileLock):
        def acquire(self, *a, **k):
            raise NotImplementedError("no flock here")

    monkeypatch.setattr(filelock, "FileLock", NoFlock)
    folder = tmp_path / "d"
    folder.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    (folder / ".lock").write_text("")
    info = {"pid": dead.pid, "host": socket.gethostname(), "started": "then"}
    (folder / ".lock.json").write_text(json.dumps(info))
    with FolderLock(folder) as lock:
        assert lock.holder()["pid"] == os.getpid()
    # a live holder's plain lock is respected
    (folder / ".lock").write_text("")
    (folder / ".lock.json").write_text(json.dumps({**info, "pid": os.getppid()}))
    with pytest.raises(DatasetLockedError, match=f"pid {os.getppid()}"):
        FolderLock(folder).acquire()


def test_rerun_of_a_complete_folder_remakes_a_replaced_shard(tmp_path, fake_mnist_dir):
    """A shard replaced by another run's (same size, other bytes) is not kept by a rerun."""
    ref, out, other = tmp_path / "ref", tmp_path / "d", tmp_path / "other"
    kw = dict(shard_size=20, data_dir=fake_mnist_dir)
    generate_dataset(ref, 60, CFG, 1, **kw)
    generate_dataset(out, 60, CFG, 1, **kw)
    generate_dataset(other, 60, CFG, 2, **kw)
    a, b = out / "shard-000001.npz", other / "shard-000001.npz"
    assert a.stat().st_size == b.stat().st_size and a.read_bytes() != b.read_bytes()
    os.replace(b, a)  # what a concurrent run with another seed did
    s = generate_dataset(out, 60, CFG, 1, **kw)
    assert (s.shards_written, s.shards_kept) == (1, 2)
    # edited in place (same size) is caught too
    data = bytearray((out / "shard-000002.npz").read_bytes())
    data[-50] ^= 1
    time.sleep(0.01)
    (out / "shard-000002.npz").write_bytes(bytes(data))
    s = generate_dataset(out, 60, CFG, 1, **kw)
    assert (s.shards_written, s.shards_kept) == (1, 2)
    assert _shards(out) == _shards(ref)


# -- 3. resume with other digit data ---------------------------------------------------------
def _other_mnist(src: Path, dest: Path, *, qmnist: bool = True, change_pixels: bool = True):
    shutil.copytree(src, dest)
    if change_pixels:
        images, _ = make_fake_digits(300, 1)  # the same labels as conftest's train split
        images[:, 0, 0] = 7
        write_idx(dest / "train-images-idx3-ubyte.gz", images)
    if not qmnist:
        for p in dest.glob("qmnist-*"):
            p.unlink()
    return dest


def test_manifest_records_the_digit_data(tmp_path, fake_mnist_dir):
    import hashlib

    out = tmp_path / "d"
    generate_dataset(out, 20, {**CFG, "source": {"mnist": 1, "synthetic": 1}}, 1,
                     data_dir=fake_mnist_dir)  # fmt: skip
    data = _manifest(out)["data"]
    assert data["synthetic"] == get_source("synthetic").data_identity()
    assert data["synthetic"]["model"] == "fitted" and len(data["synthetic"]["sha256"]) == 64
    files = data["mnist"]["files"]
    assert sorted(files) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    for name, rec in files.items():
        raw = (fake_mnist_dir / name).read_bytes()
        assert rec == {"bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}
    assert isinstance(data["mnist"]["writers"], str)  # provenance on (QMNIST beside it)


def test_resume_by_a_version_drawing_synthetic_digits_otherwise_is_refused(tmp_path):
    # A dataset begun when the synthetic defaults drew at supersample 3 with
    # centred placement must not be finished with digits drawn otherwise.
    out = tmp_path / "d"
    cfg = {**CFG, "source": "synthetic"}
    generate_dataset(out, 40, cfg, 1, shard_size=20)
    (out / "shard-000001.npz").unlink()
    assert _manifest(out)["data"]["synthetic"]["render"]["placement"] == "mnist"
    _edit_manifest(
        out, lambda m: m["data"]["synthetic"]["render"].update(supersample=3, placement="centre")
    )
    with pytest.raises(
        ValueError,
        match=r"digit data \(synthetic: drawn with other placement \('centre' there, 'mnist' "
        r"now\), supersample \(3 there, 2 now\)\)",
    ):
        generate_dataset(out, 40, cfg, 1, shard_size=20)
    assert sorted(p.name for p in out.glob("shard-*")) == ["shard-000000.npz"]
    # written before the drawing options were recorded: refused, and said so
    _edit_manifest(out, lambda m: m["data"]["synthetic"].pop("render"))
    with pytest.raises(ValueError, match=r"synthetic: drawing options not recorded there"):
        generate_dataset(out, 40, cfg, 1, shard_size=20)
    # another stroke model file is named as such
    _edit_manifest(out, lambda m: m["data"]["synthetic"].update(sha256="0" * 64))
    with pytest.raises(
        ValueError, match=r"synthetic: other stroke data \(fitted there, fitted now\)"
    ):
        generate_dataset(out, 40, cfg, 1, shard_size=20)
    assert sorted(p.name for p in out.glob("shard-*")) == ["shard-000000.npz"]


def test_resume_with_other_digit_data_is_refused(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    generate_dataset(out, 60, CFG, 1, shard_size=20, data_dir=fake_mnist_dir)
    (out / "shard-000002.npz").unlink()
    before = _shards(out)
    other = _other_mnist(fake_mnist_dir, tmp_path / "other")
    with pytest.raises(
        ValueError, match=r"different dataset: digit data \(mnist: other train-images"
    ):
        generate_dataset(out, 60, CFG, 1, shard_size=20, data_dir=other)
    no_writers = _other_mnist(fake_mnist_dir, tmp_path / "nowriters", qmnist=False,
                              change_pixels=False)  # fmt: skip
    with pytest.raises(ValueError, match="writer provenance on there, off now"):
        generate_dataset(out, 60, CFG, 1, shard_size=20, data_dir=no_writers)
    r = _cli(str(out), "--count", "60", "--length", "3-6", "--spacing", "0", "8", "--width",
             "34n", "--seed", "1", "--shard-size", "20", "--data-dir", str(other))  # fmt: skip
    assert r.returncode == 2 and "digit data" in r.stderr and len(r.stderr.splitlines()) == 1
    assert _shards(out) == before  # nothing touched
    # the same files elsewhere are the same data
    same = _other_mnist(fake_mnist_dir, tmp_path / "same", change_pixels=False)
    s = generate_dataset(out, 60, CFG, 1, shard_size=20, data_dir=same)
    assert (s.shards_written, s.shards_kept) == (1, 2)


# -- 5, 12. the reader does not trust the manifest -------------------------------------------
@pytest.fixture
def made(tmp_path, fake_mnist_dir) -> Path:
    out = tmp_path / "d"
    generate_dataset(out, 100, CFG, 3, shard_size=25, data_dir=fake_mnist_dir)
    return out


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda m: m["shards"].pop(1), r"shard\(s\) \[1\]"),
        (lambda m: m["shards"].append(dict(m["shards"][0])), "shard 0 is listed twice"),
        (lambda m: m["shards"][2].update(start=60), "shard 2 covers 60"),
        (lambda m: m["shards"][1].update(file="/etc/passwd"), "not a path inside"),
        (lambda m: m["shards"][1].update(file="../d/shard-000001.npz"), "not a path inside"),
        (lambda m: m.update(shards="all"), "'shards' must be a list"),
        (lambda m: m["shards"].__setitem__(0, {"id": 0}), "missing start"),
        (lambda m: m.update(count="100"), "'count' and 'shard_size' must be integers"),
        (lambda m: m.pop("columns"), "missing 'columns'"),
        (lambda m: m["columns"].pop("images"), "column 'images' is missing"),
        (lambda m: m.update(config=None), "'config' must be a table"),
        (lambda m: m["shards"][0].update(id="0"), "shard id '0'"),
        (lambda m: m["shards"][3].update(id=9), r"shard id 9 is not in 0\.\.3"),
    ],
)
def test_malformed_or_inconsistent_manifest(made, edit, message):
    _edit_manifest(made, edit)
    with pytest.raises(DatasetError, match=message):
        load_dataset(made)


def test_swapped_shard_files_are_caught_by_their_rows(made):
    def swap(m):
        a, b = m["shards"][0], m["shards"][1]
        for key in ("file", "bytes", "sha256"):
            a[key], b[key] = b[key], a[key]

    _edit_manifest(made, swap)
    with pytest.raises(DatasetError, match=r"shard-000001\.npz .* does not hold samples 0\.\.24"):
        load_dataset(made)


def test_partial_dataset_reads_listed_shards_only(made):
    def drop(m):
        m["shards"].pop(1)
        m["complete"] = False

    _edit_manifest(made, drop)
    with pytest.raises(DatasetError, match="unfinished"):
        load_dataset(made)
    ds = load_dataset(made, allow_partial=True)
    np.testing.assert_array_equal(ds.labels["index"], np.r_[0:25, 50:100])


def test_missing_and_unreadable_shards_name_the_shard(made):
    (made / "shard-000002.npz").unlink()
    with pytest.raises(DatasetError, match=r"shard shard-000002\.npz of .* is missing"):
        load_dataset(made)
    (made / "shard-000001.npz").write_bytes(b"not a zip file")
    with pytest.raises(DatasetError, match=r"shard shard-000001\.npz of .* cannot be read"):
        list(iter_shards(made, verify=False))


def test_png_shard_ignores_stray_entries(tmp_path, fake_mnist_dir):
    out = tmp_path / "png"
    generate_dataset(out, 30, CFG, 3, shard_size=15, file_format="png", data_dir=fake_mnist_dir)
    ref = load_dataset(out)
    stray = out / "shard-000000" / ".ipynb_checkpoints"
    stray.mkdir()
    (stray / "labels-checkpoint.csv").write_text("x")
    (out / "shard-000001" / "Thumbs.db").write_bytes(b"junk")
    ds = load_dataset(out)  # hashes still match: stray entries are not part of a shard
    np.testing.assert_array_equal(ds.images, ref.images)
    s = generate_dataset(out, 30, CFG, 3, shard_size=15, file_format="png",
                         data_dir=fake_mnist_dir)  # fmt: skip
    assert s.shards_kept == 2
    (out / "shard-000001" / "labels.csv").unlink()
    with pytest.raises(DatasetError, match=r"shard-000001: cannot read labels\.csv"):
        load_dataset(out)


# -- 10. sizes are validated before anything is allocated or created --------------------------
def test_huge_count_is_refused_at_once(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    with pytest.raises(ValueError, match="the limit is 100,000 shards"):
        generate_dataset(out, 10**15, CFG, 1, data_dir=fake_mnist_dir)
    with pytest.raises(ValueError, match=r"the limit is 2 GiB per shard: use a shard size <= 766"):
        generate_dataset(out, 10_000, {"length": 1, "width": 100_000}, 1,
                         data_dir=fake_mnist_dir)  # fmt: skip
    assert not out.exists()
    r = _cli(str(out), "--count", str(10**15), "--data-dir", str(fake_mnist_dir), timeout=60)
    assert r.returncode == 2 and "limit" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not out.exists()


# -- 16. file modes follow the umask ----------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_files_respect_the_umask(tmp_path, fake_mnist_dir, umask):
    out = tmp_path / "d"
    old = os.umask(umask)
    try:
        generate_dataset(out, 20, CFG, 1, shard_size=10, data_dir=fake_mnist_dir)
    finally:
        os.umask(old)
    want = 0o666 & ~umask
    for name in ("manifest.json", "shard-000000.npz", "shard-000001.npz"):
        assert (out / name).stat().st_mode & 0o777 == want, name


# -- 17. refused runs leave no folder --------------------------------------------------------
def test_refused_runs_leave_no_folder(tmp_path, fake_mnist_dir):
    out = tmp_path / "sub" / "d"
    r = _cli(str(out), "--count", "10", "--source", "synthetic", "--jitter", "99")
    assert r.returncode == 2 and "jitter" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not out.exists() and not out.parent.exists()
    with pytest.raises(ValueError, match="too small"):
        generate_dataset(out, 10, {"length": 5, "width": 100}, 1, data_dir=fake_mnist_dir)
    assert not out.parent.exists()


def test_unreachable_scheduler_leaves_no_folder(tmp_path, fake_mnist_dir, monkeypatch):
    pytest.importorskip("dask.distributed")
    from strokeseq.dataset import dask_engine

    monkeypatch.setattr(dask_engine, "CONNECT_TIMEOUT", "2s")
    out = tmp_path / "d"
    with pytest.raises(OSError, match="cannot connect to the Dask scheduler"):
        generate_dataset(out, 10, CFG, 1, scheduler="tcp://127.0.0.1:9", data_dir=fake_mnist_dir)
    assert not out.exists()


def test_a_failed_start_keeps_an_existing_dataset(made, fake_mnist_dir):
    before = _shards(made)
    with pytest.raises(ValueError, match="different dataset"):
        generate_dataset(made, 100, CFG, 4, shard_size=25, data_dir=fake_mnist_dir)
    assert _shards(made) == before and (made / "manifest.json").exists()


def test_a_worker_with_other_digit_data_refuses(tmp_path, fake_mnist_dir):
    """A worker (say a Dask node) whose MNIST files differ from the run's does not write."""
    from strokeseq.dataset import DatasetConfig, SampleContext
    from strokeseq.dataset.shards import ShardJob, build_shard

    ctx = SampleContext(DatasetConfig.from_dict(CFG), 1, str(fake_mnist_dir))
    ours = {"mnist": ctx.source("mnist").data_identity()}
    job = ShardJob(ctx, 0, 0, 10, "npz", 0, str(tmp_path), data=ours)
    assert build_shard(job)["count"] == 10
    theirs = {"mnist": {**ours["mnist"], "writers": None}}
    job = ShardJob(ctx, 1, 10, 20, "npz", 0, str(tmp_path), data=theirs)
    with pytest.raises(DatasetError, match="other digit data than the run recorded"):
        build_shard(job)
    assert not (tmp_path / "shard-000001.npz").exists()


def test_a_run_refused_by_the_lock_removes_nothing(tmp_path, fake_mnist_dir, monkeypatch):
    """Two runs creating one new folder at once: the one refused leaves the other's files."""
    from strokeseq.dataset import runner

    class TheOtherRunWon(FolderLock):
        def acquire(self):
            (self.folder / "manifest.json").write_text("the other run's")
            raise DatasetLockedError(f"{self.folder} is being written by another run")

    monkeypatch.setattr(runner, "FolderLock", TheOtherRunWon)
    out = tmp_path / "new"
    with pytest.raises(DatasetLockedError):
        generate_dataset(out, 20, CFG, 1, data_dir=fake_mnist_dir)
    assert (out / "manifest.json").read_text() == "the other run's"


def test_two_runs_started_together_do_not_mix(tmp_path, fake_mnist_dir):
    """Two CLI runs into one folder with different seeds: one finishes, the other refuses."""
    out = tmp_path / "d"
    args = ["--count", "3000", "--shard-size", "100", "--data-dir", str(fake_mnist_dir),
            "--workers", "2", "--no-progress"]  # fmt: skip
    cmd = [sys.executable, "-m", "strokeseq.cli", "dataset", str(out), *args]
    procs = [
        subprocess.Popen([*cmd, "--seed", str(seed)], stderr=subprocess.PIPE, text=True)
        for seed in (1, 2)
    ]
    results = [(p.wait(300), p.stderr.read()) for p in procs]
    for p in procs:
        p.stderr.close()
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    # refused by the lock while the other ran, or as a different dataset (seed) after it
    assert "being written by another run" in refused or "different dataset" in refused
    winner = _manifest(out)["seed"]
    ds = load_dataset(out)  # every shard's hash and rows check out
    ref = tmp_path / "ref"
    generate_dataset(ref, 3000, {}, winner, shard_size=100, data_dir=fake_mnist_dir)
    assert _shards(out) == _shards(ref) and len(ds) == 3000


def test_disk_full_at_the_manifest_names_it(tmp_path, fake_mnist_dir, monkeypatch):
    import errno

    from strokeseq import atomic

    out = tmp_path / "d"
    generate_dataset(out, 40, CFG, 1, shard_size=20, data_dir=fake_mnist_dir)
    before = (out / "manifest.json").read_bytes()
    real_open = open

    def full(path, mode="r", *a, **k):
        if "manifest.json" in str(path) and "x" in mode:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, mode, *a, **k)

    monkeypatch.setattr(atomic, "open", full, raising=False)
    (out / "shard-000001.npz").unlink()
    with pytest.raises(OSError, match=r"No space left on the device to write .*manifest\.json"):
        generate_dataset(out, 40, CFG, 1, shard_size=20, data_dir=fake_mnist_dir)
    assert (out / "manifest.json").read_bytes() == before
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_resume_with_another_stroke_model_is_refused(tmp_path):
    from strokeseq.sources.stroke.model import default_model_path

    model = tmp_path / "model.json"
    model.write_bytes(default_model_path().read_bytes())
    cfg = {**CFG, "source": "synthetic", "synthetic": {"model": str(model)}}
    out = tmp_path / "d"
    generate_dataset(out, 40, cfg, 1, shard_size=20)
    (out / "shard-000001.npz").unlink()
    model.write_bytes(model.read_bytes() + b"\n")  # same parameters, another file
    with pytest.raises(ValueError, match=r"different dataset: digit data \(synthetic"):
        generate_dataset(out, 40, cfg, 1, shard_size=20)
