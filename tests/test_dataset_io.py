"""Datasets on disk: formats, manifest, reader checks, resume, kill, Ctrl-C, disk errors."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from strokeseq.dataset import (
    DatasetConfig,
    SampleContext,
    generate,
    generate_dataset,
    iter_shards,
    load_dataset,
)
from strokeseq.dataset.manifest import FORMAT_VERSION
from strokeseq.errors import DatasetError

CFG = {"length": [3, 6], "spacing": [0, 8], "width": {"per_digit": 34, "extra": 0}}


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name -> bytes)."""
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _shards(folder: Path) -> dict[str, bytes]:
    return {k: v for k, v in _files(folder).items() if k.startswith("shard-")}


@pytest.mark.parametrize("fmt", ["npz", "tar", "png"])
def test_formats_round_trip_same_samples(tmp_path, fake_mnist_dir, fmt):
    out = tmp_path / fmt
    s = generate_dataset(out, 150, CFG, 7, shard_size=64, file_format=fmt, data_dir=fake_mnist_dir)
    assert (s.shards, s.shards_written, s.count) == (3, 3, 150)
    ds = load_dataset(out)
    ref = generate(
        SampleContext(DatasetConfig.from_dict(CFG), 7, str(fake_mnist_dir)), np.arange(150)
    )
    np.testing.assert_array_equal(ds.images, ref["images"])
    for k, v in ds.labels.items():
        np.testing.assert_array_equal(v, ref[k], err_msg=k)
    m = json.loads((out / "manifest.json").read_text())
    assert m["complete"] and m["format_version"] == FORMAT_VERSION and m["seed"] == 7
    assert [(e["start"], e["stop"]) for e in m["shards"]] == [(0, 64), (64, 128), (128, 150)]
    assert {"strokeseq", "numpy"} <= set(m["versions"])
    assert DatasetConfig.from_dict(m["config"]).digest() == m["config_sha256"]


def test_npz_loads_without_pickle_and_tar_is_webdataset(tmp_path, fake_mnist_dir):
    generate_dataset(tmp_path / "n", 40, CFG, 1, file_format="npz", data_dir=fake_mnist_dir)
    with np.load(tmp_path / "n" / "shard-000000.npz", allow_pickle=False) as z:
        assert z["images"].dtype == np.uint8 and z["images"].shape == (40, 28, 204)
        assert z["boxes"].shape == (40, 6, 4)
    generate_dataset(tmp_path / "t", 40, CFG, 1, file_format="tar", data_dir=fake_mnist_dir)
    with tarfile.open(tmp_path / "t" / "shard-000000.tar") as tf:
        members = tf.getmembers()
        assert [m.name for m in members[:4]] == [
            "000000.png",
            "000000.json",
            "000001.png",
            "000001.json",
        ]
        assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
        rec = json.loads(tf.extractfile(members[1]).read())
        assert set(rec) >= {"text", "length", "boxes", "gaps", "src_index", "src_writer"}
        from PIL import Image

        im = Image.open(tf.extractfile(members[0]))
        assert im.mode == "L" and im.size == (rec["width"], 28)


@pytest.mark.parametrize("method", ["fork", "spawn"])
@pytest.mark.parametrize("fmt", ["npz", "tar", "png"])
def test_byte_identical_whatever_the_workers(tmp_path, fake_mnist_dir, fmt, method, monkeypatch):
    from strokeseq.dataset import local_engine

    if method == "fork" and not sys.platform.startswith("linux"):
        pytest.skip("workers are forked on Linux only")
    monkeypatch.setattr(local_engine, "START_METHOD", method)
    a, b = tmp_path / "a", tmp_path / "b"
    generate_dataset(a, 200, CFG, 3, shard_size=50, file_format=fmt, data_dir=fake_mnist_dir)
    s = generate_dataset(
        b, 200, CFG, 3, shard_size=50, file_format=fmt, workers=2, data_dir=fake_mnist_dir
    )
    assert s.cpu["start_method"] == method
    assert _shards(a) == _shards(b)


def test_shard_size_does_not_change_samples(tmp_path, fake_mnist_dir):
    generate_dataset(tmp_path / "a", 130, CFG, 3, shard_size=130, data_dir=fake_mnist_dir)
    generate_dataset(tmp_path / "b", 130, CFG, 3, shard_size=17, data_dir=fake_mnist_dir)
    a, b = load_dataset(tmp_path / "a"), load_dataset(tmp_path / "b")
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.labels["src_index"], b.labels["src_index"])


def test_reader_checks(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    generate_dataset(out, 60, CFG, 2, shard_size=30, data_dir=fake_mnist_dir, compress=True)
    with zipfile.ZipFile(out / "shard-000000.npz") as z:
        assert z.getinfo("images.npy").compress_type == zipfile.ZIP_DEFLATED
    assert [e["id"] for e, _ in iter_shards(out)] == [0, 1]
    shard = out / "shard-000001.npz"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 1
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its manifest"):
        load_dataset(out)
    m = json.loads((out / "manifest.json").read_text())
    m["format_version"] = 99
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(ValueError, match="version 99"):
        load_dataset(out)
    with pytest.raises(DatasetError, match=r"no manifest\.json"):
        load_dataset(tmp_path)


def test_resume_and_refusals(tmp_path, fake_mnist_dir):
    out = tmp_path / "d"
    generate_dataset(out, 100, CFG, 5, shard_size=25, data_dir=fake_mnist_dir)
    full = _shards(out)
    # drop a shard from disk and one from the manifest, leave a stale temporary file
    (out / "shard-000001.npz").unlink()
    m = json.loads((out / "manifest.json").read_text())
    m["shards"] = [e for e in m["shards"] if e["id"] != 3]
    m["complete"] = False
    (out / "manifest.json").write_text(json.dumps(m))
    (out / ".shard-000002.npz.tmp-1-abcd").write_bytes(b"partial")
    s = generate_dataset(out, 100, CFG, None, shard_size=25, data_dir=fake_mnist_dir)
    assert (s.shards_written, s.shards_kept, s.seed) == (2, 2, 5)  # seed taken from the folder
    assert _shards(out) == full
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    # a different dataset is refused, and --overwrite replaces it
    with pytest.raises(ValueError, match=r"different dataset: config \(width\)"):
        generate_dataset(
            out, 100, {**CFG, "width": 240}, 5, shard_size=25, data_dir=fake_mnist_dir
        )
    with pytest.raises(ValueError, match="seed"):
        generate_dataset(out, 100, CFG, 6, shard_size=25, data_dir=fake_mnist_dir)
    s = generate_dataset(out, 10, CFG, 6, data_dir=fake_mnist_dir, overwrite=True)
    assert s.shards == 1 and sorted(_shards(out)) == ["shard-000000.npz"]
    # a folder with other files is refused
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not a strokeseq dataset"):
        generate_dataset(other, 10, CFG, 1, data_dir=fake_mnist_dir)


def test_disk_full_leaves_no_partial_shard(tmp_path, fake_mnist_dir, monkeypatch):
    from strokeseq.dataset import shards

    out = tmp_path / "d"
    real = shards.write_npz
    calls = {"n": 0}

    def failing(fh, cols, compress=False):
        calls["n"] += 1
        if calls["n"] == 2:
            fh.write(b"x" * 1000)
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fh, cols, compress=compress)

    monkeypatch.setattr(shards, "write_npz", failing)
    with pytest.raises(OSError, match=r"cannot write shard 1.*No space left"):
        generate_dataset(out, 90, CFG, 1, shard_size=30, data_dir=fake_mnist_dir)
    # the lock file stays (waiters share its inode); the holder record is removed
    names = sorted(p.name for p in out.iterdir())
    assert names == [".lock", "manifest.json", "shard-000000.npz"]
    m = json.loads((out / "manifest.json").read_text())
    assert [e["id"] for e in m["shards"]] == [0] and not m["complete"]
    monkeypatch.setattr(shards, "write_npz", real)
    s = generate_dataset(out, 90, CFG, 1, shard_size=30, data_dir=fake_mnist_dir)
    assert s.shards_written == 2


def test_unwritable_folder_is_a_clear_error(tmp_path, fake_mnist_dir):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        generate_dataset(blocker, 10, CFG, 1, data_dir=fake_mnist_dir)
    r = _cli(tmp_path, blocker / "sub", fake_mnist_dir, "--count", "10")
    assert r.returncode == 1 and "error" in r.stderr and "Traceback" not in r.stderr


# -- real processes: SIGKILL and Ctrl-C ---------------------------------------------------------
def _cli(tmp_path: Path, out: Path, data: Path, *extra: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        _cmd(out, data, *extra), capture_output=True, text=True, timeout=900, **kw
    )


def _cmd(out: Path, data: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "strokeseq.cli", "dataset", str(out), "--length", "3-6",
        "--spacing", "0", "8", "--width", "34n", "--seed", "11", "--data-dir", str(data),
        "--no-progress", *extra,
    ]  # fmt: skip


def _wait_for_shards(out: Path, proc: subprocess.Popen, k: int) -> None:
    deadline = time.monotonic() + 600  # generous: a loaded machine starts processes slowly
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if len(json.loads((out / "manifest.json").read_text())["shards"]) >= k:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.01)
    raise AssertionError("the run did not get going")


# Long enough (134 shards) that a loaded machine cannot finish before the signal lands.
ARGS = ("--count", "20000", "--shard-size", "150", "--workers", "2")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, fake_mnist_dir) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("ref") / "d"
    r = _cli(out, out, fake_mnist_dir, *ARGS)
    assert r.returncode == 0, r.stderr
    return _shards(out)


# A suite started in the background (``pytest &`` in a script) hands its children
# SIGINT ignored, and Python keeps it ignored: the run under test gets Python's
# usual Ctrl-C handler back, as it has in a terminal.
AS_IN_A_TERMINAL = (
    "import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "runpy.run_module('strokeseq.cli', run_name='__main__', alter_sys=True)"
)


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_is_byte_identical(tmp_path, fake_mnist_dir, uninterrupted):
    out = tmp_path / "d"
    proc = subprocess.Popen(
        _cmd(out, fake_mnist_dir, *ARGS), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    _wait_for_shards(out, proc, 3)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its workers, mid-shard
    proc.wait()
    m = json.loads((out / "manifest.json").read_text())
    assert not m["complete"] and len(m["shards"]) < 40
    r = _cli(tmp_path, out, fake_mnist_dir, *ARGS)
    assert r.returncode == 0, r.stderr
    assert "kept from an earlier run" in r.stdout
    assert _shards(out) == uninterrupted
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_resumes(tmp_path, fake_mnist_dir, uninterrupted):
    out = tmp_path / "d"
    proc = subprocess.Popen(
        [sys.executable, "-c", AS_IN_A_TERMINAL, *_cmd(out, fake_mnist_dir, *ARGS)[3:]],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    _wait_for_shards(out, proc, 2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    assert not [p for p in out.iterdir() if ".tmp" in p.name]
    m = json.loads((out / "manifest.json").read_text())
    for e in m["shards"]:  # every recorded shard is whole
        assert (out / e["file"]).stat().st_size == e["bytes"]
    r = _cli(tmp_path, out, fake_mnist_dir, *ARGS)
    assert r.returncode == 0, r.stderr
    assert _shards(out) == uninterrupted


@pytest.mark.parametrize("level", [0, 1, 6])
def test_npz_entries_are_numpys_bytes(level):
    """write_npz writes array data from the array's memory: the bytes of np.lib.format."""
    import io

    from strokeseq.dataset import writers

    rng = np.random.default_rng(4)
    cols = {
        "images": rng.integers(0, 4, (7_000, 28, 100), dtype=np.uint8),  # > one 16 MiB chunk
        "text": np.array(["123", "4567", ""] * 10),
        "boxes": rng.integers(-1, 100, (30, 5, 4)).astype(np.int32),
        "syn_slant": rng.random((30, 5)).astype(np.float32),
        "empty": np.zeros((0, 3), np.int8),
    }
    ours = io.BytesIO()
    writers.write_npz(ours, cols, compress=level)
    numpys = io.BytesIO()
    with zipfile.ZipFile(numpys, "w", zipfile.ZIP_DEFLATED if level else zipfile.ZIP_STORED,
                         compresslevel=level or None, allowZip64=True) as zf:  # fmt: skip
        for key in sorted(cols):
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zf.compression
            setattr(info, writers._LEVEL_ATTR, level or None)
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, cols[key], allow_pickle=False)
    assert ours.getvalue() == numpys.getvalue()
    with np.load(io.BytesIO(ours.getvalue()), allow_pickle=False) as z:
        for key, value in cols.items():
            np.testing.assert_array_equal(z[key], value)
