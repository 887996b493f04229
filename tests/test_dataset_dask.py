"""Datasets on Dask: a LocalCluster of two worker processes gives the local bytes."""

from __future__ import annotations

import pytest

from strokeseq.dataset import generate_dataset

pytest.importorskip("dask.distributed")

CFG = {"length": [3, 6], "spacing": [0, 8], "width": {"per_digit": 34, "extra": 0}}


def _shards(folder):
    return {
        p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name.startswith("shard-")
    }


def _buffers() -> int:
    from strokeseq.dataset import shards

    return len(shards._BUFFERS)


@pytest.mark.slow
def test_dask_local_cluster_byte_identical(tmp_path, fake_mnist_dir):
    import dask
    from dask.distributed import Client, LocalCluster

    local = tmp_path / "local"
    generate_dataset(local, 300, CFG, 9, shard_size=40, file_format="tar", data_dir=fake_mnist_dir)
    # Generous deadlines (not retries): on a loaded machine workers start slowly.
    slow = {"distributed.comm.timeouts.connect": "600s", "distributed.comm.timeouts.tcp": "600s"}
    with (
        dask.config.set(slow),
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        for transfer in ("shared", "client"):
            out = tmp_path / transfer
            s = generate_dataset(
                out, 300, CFG, 9, shard_size=40, file_format="tar", executor=client,
                transfer=transfer, data_dir=fake_mnist_dir,
            )  # fmt: skip
            assert s.shards_written == 8
            assert _shards(out) == _shards(local)
            assert 1 <= len(s.worker_maxrss_mb) <= 2  # ran on the cluster's worker processes
            # the worker threads live on; the image arrays they reused are freed
            assert set(client.run(_buffers).values()) == {0}
        # the scheduler address path (what --scheduler uses) and resume on Dask
        out = tmp_path / "shared"
        (out / "shard-000003.tar").unlink()
        s = generate_dataset(
            out, 300, CFG, 9, shard_size=40, file_format="tar", scheduler=cluster.scheduler_address,
            data_dir=fake_mnist_dir,
        )  # fmt: skip
        assert (s.shards_written, s.shards_kept) == (1, 7)
        assert _shards(out) == _shards(local)
