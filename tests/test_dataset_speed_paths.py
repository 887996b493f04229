"""The fast paths of dataset runs keep their contracts.

One-pass shard writing (the bytes a writer lays out, hashed as they are
written) gives the writer's exact bytes and their true SHA-256; a failing
disk still leaves no partial shard. Reused shard buffers are freed at the
end of a run, for every thread. Worker processes started before the run's
checks are stopped when the run is refused.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import multiprocessing
import os
import sys
import threading

import numpy as np
import pytest

from strokeseq.dataset import generate_dataset
from strokeseq.dataset.onepass import BIG, FileLayout
from strokeseq.dataset.writers import write_npz, write_tar

CFG = {"length": [3, 6], "spacing": [0, 8], "width": {"per_digit": 34, "extra": 0}}


def _columns(n: int = 700) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {
        "images": rng.integers(0, 256, (n, 28, 170), dtype=np.uint8),  # > BIG: by reference
        "index": np.arange(n, dtype=np.int64),
        "text": np.array(["123", "45678"] * (n // 2)),
        "length": np.array([3, 5] * (n // 2), np.int8),
        "width": np.array([102, 170] * (n // 2), np.int16),
        "source": np.zeros(n, np.int8),
        "digits": rng.integers(-1, 10, (n, 5)).astype(np.int8),
        "boxes": rng.integers(-1, 170, (n, 5, 4)).astype(np.int32),
        "gaps": rng.integers(-3, 9, (n, 4)).astype(np.int32),
        "src_index": rng.integers(-1, 60_000, (n, 5)).astype(np.int32),
        "src_writer": rng.integers(-1, 600, (n, 5)).astype(np.int32),
    }


@pytest.mark.parametrize(
    "write",
    [
        lambda fh, cols: write_npz(fh, cols),
        lambda fh, cols: write_npz(fh, cols, compress=1),
        lambda fh, cols: write_tar(fh, {k: v[:40] for k, v in cols.items()}),
    ],
    ids=["npz", "npz-deflate", "tar"],
)
def test_layout_replays_the_writers_exact_bytes_and_hash(write):
    cols = _columns()
    direct = io.BytesIO()
    write(direct, cols)
    layout = FileLayout()
    write(layout, cols)
    out = io.BytesIO()
    size, digest = layout.replay(out)
    assert out.getvalue() == direct.getvalue()
    assert (size, digest) == (
        len(direct.getvalue()),
        hashlib.sha256(direct.getvalue()).hexdigest(),
    )


@pytest.mark.parametrize("fallocate", ["system", "refused"])
def test_layout_replays_into_a_file_whether_or_not_its_space_was_reserved(
    tmp_path, monkeypatch, fallocate
):
    # replay() first allocates the file's final size (Linux fallocate); the
    # file must hold exactly the writer's bytes either way.
    from strokeseq.dataset import onepass

    calls = []
    if fallocate == "refused":  # a file system without fallocate (EOPNOTSUPP)
        monkeypatch.setattr(onepass, "_FALLOCATE", lambda *a: calls.append(a) or -1)
    cols = _columns()
    direct = io.BytesIO()
    write_npz(direct, cols)
    layout = FileLayout()
    write_npz(layout, cols)
    path = tmp_path / "shard.npz"
    with open(path, "wb") as fh:
        size, digest = layout.replay(fh)
    assert path.read_bytes() == direct.getvalue()
    assert (size, digest) == (path.stat().st_size, hashlib.sha256(direct.getvalue()).hexdigest())
    if fallocate == "refused":
        assert calls and calls[0][1:] == (0, 0, size)  # mode 0, from offset 0, the final size


def test_reserve_allocates_the_blocks_of_a_real_file_on_linux(tmp_path):
    # The "system" case above passes even when the binding silently falls back:
    # here the space must really be allocated (st_blocks), where supported.
    from strokeseq.dataset import onepass

    if not sys.platform.startswith("linux"):
        pytest.skip("fallocate is Linux only")
    with open(tmp_path / "f", "wb") as fh:
        done = onepass.reserve(fh, 1 << 20)
        if not done:
            pytest.skip("this file system has no fallocate")
        st = os.fstat(fh.fileno())
    assert st.st_size == 1 << 20
    assert st.st_blocks * 512 >= 1 << 20


def test_layout_refuses_rewrites_it_cannot_apply():
    layout = FileLayout()
    layout.write(b"head")
    layout.write(np.zeros(BIG, np.uint8))  # kept by reference
    layout.seek(2)
    layout.write(b"AD")  # a header rewrite: fine
    layout.seek(4)
    with pytest.raises(ValueError, match="copied"):
        layout.write(b"x")  # inside the array's own memory
    layout.seek(-1, 2)
    with pytest.raises(ValueError, match="extend"):
        layout.write(b"xy")
    with pytest.raises(ValueError, match="seek"):
        layout.seek(BIG + 100)
    out = io.BytesIO()
    assert layout.replay(out)[0] == 4 + BIG and out.getvalue()[:4] == b"heAD"


def test_disk_full_while_writing_a_shard_leaves_nothing_partial(
    tmp_path, fake_mnist_dir, monkeypatch
):
    from strokeseq.dataset import onepass

    out = tmp_path / "d"
    real = onepass.FileLayout.replay
    calls = {"n": 0}

    def failing(self, fh):
        calls["n"] += 1
        if calls["n"] == 2:
            fh.write(b"x" * 5000)  # half a shard reached the file, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, fh)

    monkeypatch.setattr(onepass.FileLayout, "replay", failing)
    with pytest.raises(OSError, match=r"cannot write shard 1.*No space left"):
        generate_dataset(out, 90, CFG, 1, shard_size=30, data_dir=fake_mnist_dir)
    assert sorted(p.name for p in out.iterdir()) == [".lock", "manifest.json", "shard-000000.npz"]
    m = json.loads((out / "manifest.json").read_text())
    assert [e["id"] for e in m["shards"]] == [0] and not m["complete"]
    entry = m["shards"][0]
    data = (out / "shard-000000.npz").read_bytes()
    assert entry["bytes"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_shard_buffers_are_freed_for_every_thread(tmp_path, fake_mnist_dir):
    from strokeseq.dataset import shards
    from strokeseq.dataset.config import DatasetConfig
    from strokeseq.dataset.sampling import SampleContext

    shards.release_buffers()
    ctx = SampleContext(DatasetConfig.from_dict(CFG), 3, str(fake_mnist_dir))
    jobs = [
        shards.ShardJob(ctx, k, 20 * k, 20 * k + 20, "npz", 0, str(tmp_path)) for k in range(3)
    ]
    hold, go = threading.Event(), threading.Event()

    def work(job):
        shards.build_shard(job)
        hold.set()
        go.wait(30)  # alive, as a Dask worker thread between tasks

    t = threading.Thread(target=work, args=(jobs[0],))
    t.start()
    assert hold.wait(60)
    shards.build_shard(jobs[1])  # this thread's own buffer
    assert len(shards._BUFFERS) == 2
    first = shards._BUFFERS[threading.get_ident()]
    shards.build_shard(jobs[2])  # same shape: the same array again
    assert shards._BUFFERS[threading.get_ident()] is first
    assert shards.release_buffers() == 2 and not shards._BUFFERS
    go.set()
    t.join()
    # a thread that ended leaves no buffer behind once another shard is made
    t = threading.Thread(target=shards.build_shard, args=(jobs[0],))
    t.start()
    t.join()
    shards.build_shard(jobs[1])
    assert list(shards._BUFFERS) == [threading.get_ident()]
    shards.release_buffer()
    assert not shards._BUFFERS


def test_a_local_run_frees_its_buffer(tmp_path, fake_mnist_dir):
    from strokeseq.dataset import shards

    generate_dataset(tmp_path / "d", 60, CFG, 1, shard_size=30, data_dir=fake_mnist_dir)
    assert threading.get_ident() not in shards._BUFFERS


def test_refused_run_stops_the_workers_it_started(tmp_path, fake_mnist_dir):
    """Workers start before the checks; a refused run stops them and leaves nothing."""
    bad = dict(CFG, width=100)  # 6 tiles need 168 px: refused by the width check
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(ValueError, match="too small"):
        generate_dataset(tmp_path / "d", 600, bad, 1, shard_size=30, workers=3,
                         data_dir=fake_mnist_dir)  # fmt: skip
    assert not (tmp_path / "d").exists()
    assert {p.pid for p in multiprocessing.active_children()} <= before


def test_timeline_lists_every_shard_made(tmp_path, fake_mnist_dir):
    s = generate_dataset(tmp_path / "d", 200, CFG, 1, shard_size=40, workers=2,
                         data_dir=fake_mnist_dir)  # fmt: skip
    tl = s.cpu["timeline"]
    assert sorted(e[1] for e in tl["shards"]) == list(range(5))
    assert {e[0] for e in tl["shards"]} <= set(s.cpu["processes"])
    for _pid, _k, a, b in tl["shards"]:
        assert tl["start"] <= a <= b <= tl["engine_end"] <= tl["end"]
    assert sum(p["shards"] for p in s.cpu["processes"].values()) == 5


def test_npz_image_data_reaches_the_file_without_a_copy():
    """write_npz hands the zip entry views of the array's memory (NumPy's own
    ``write_array`` would copy every 16 MiB chunk first); FileLayout keeps them."""
    from strokeseq.dataset import writers

    cols = _columns()
    assert writers._npy_header(cols["images"]) is not None  # the no-copy path is taken
    layout = FileLayout()
    write_npz(layout, cols)
    views = [p for p in layout._pieces if isinstance(p, memoryview)]
    shared = [v for v in views if np.shares_memory(np.asarray(v), cols["images"])]
    assert sum(v.nbytes for v in shared) == cols["images"].nbytes


def test_an_error_stops_the_workers_before_temporaries_are_removed(
    tmp_path, fake_mnist_dir, monkeypatch
):
    """No worker may still be writing when the run removes the temporary files."""
    from strokeseq.dataset import runner

    seen: list[list[int]] = []
    real_clean, real_stamp = runner.clean_temporaries, runner.stamp
    calls = {"n": 0}

    def clean(folder):
        seen.append([p.pid for p in multiprocessing.active_children() if p.is_alive()])
        real_clean(folder)

    def stamp(path):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("recording failed")
        return real_stamp(path)

    monkeypatch.setattr(runner, "clean_temporaries", clean)
    monkeypatch.setattr(runner, "stamp", stamp)
    before = {p.pid for p in multiprocessing.active_children()}
    with pytest.raises(RuntimeError, match="recording failed"):
        generate_dataset(tmp_path / "d", 3000, CFG, 1, shard_size=100, workers=2,
                         data_dir=fake_mnist_dir)  # fmt: skip
    assert len(seen) == 2  # before the shards, and on the way out
    assert not set(seen[-1]) - before  # the workers were gone by then
    assert not [p for p in (tmp_path / "d").iterdir() if ".tmp" in p.name]
