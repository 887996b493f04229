"""Parquet export: read back with pyarrow (and Hugging Face datasets when installed)."""

from __future__ import annotations

import io
import os

import numpy as np
import pytest

from strokeseq.cli import main
from strokeseq.dataset import generate_dataset, load_dataset

CFG = {"length": [2, 5], "spacing": [0, 6], "width": {"per_digit": 32, "extra": 2}}


@pytest.fixture(scope="module")
def written(tmp_path_factory, fake_mnist_dir):
    d = tmp_path_factory.mktemp("export") / "d"
    generate_dataset(d, 45, {**CFG, "source": {"mnist": 0.6, "synthetic": 0.4}}, 3,
                     data_dir=fake_mnist_dir, shard_size=20)  # fmt: skip
    return d


def _png_array(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "L"
        return np.asarray(im)


def test_parquet_round_trip_exact(written, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from strokeseq.dataset.export import export_parquet

    out = export_parquet(written, tmp_path / "d.parquet")
    table = pq.read_table(out)
    ref = load_dataset(written)
    lab = ref.labels
    assert table.num_rows == len(ref) == 45
    rows = table.to_pylist()
    for r, row in enumerate(rows):
        w = int(lab["width"][r])
        n = int(lab["length"][r])
        np.testing.assert_array_equal(_png_array(row["image"]["bytes"]), ref.images[r, :, :w])
        assert row["text"] == lab["text"][r] and row["width"] == w and row["length"] == n
        assert row["index"] == r
        assert row["digits"] == lab["digits"][r, :n].tolist()
        assert row["boxes"] == lab["boxes"][r, :n].tolist()
        assert row["gaps"] == lab["gaps"][r, : n - 1].tolist()
        assert row["src_index"] == lab["src_index"][r, :n].tolist()
        assert row["source"] == ("mnist" if lab["source"][r] == 0 else "synthetic")
    assert {row["source"] for row in rows} == {"mnist", "synthetic"}
    assert b"huggingface" in table.schema.metadata
    # the file respects the umask like the shards (not mkstemp's 0600)
    assert os.stat(out).st_mode & 0o777 == 0o666 & ~_umask()


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


def test_huggingface_datasets_reads_it(written, tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    datasets = pytest.importorskip("datasets")
    from strokeseq.dataset.export import export_parquet

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = export_parquet(written, tmp_path / "d.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(out), cache_dir=str(tmp_path / "hf"))[
        "train"
    ]
    ref = load_dataset(written)
    assert len(ds) == 45
    row = ds[7]
    w = int(ref.labels["width"][7])
    np.testing.assert_array_equal(np.asarray(row["image"]), ref.images[7, :, :w])
    assert row["text"] == ref.labels["text"][7]


def test_cli_export_refuses_existing_and_unfinished(written, tmp_path, capsys):
    pytest.importorskip("pyarrow")
    out = tmp_path / "x.parquet"
    assert main(["export", str(written), str(out)]) == 0
    assert f"wrote 45 samples to {out}" in capsys.readouterr().out
    assert main(["export", str(written), str(out)]) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--overwrite" in err and len(err.splitlines()) == 1
    assert main(["export", str(written), str(out), "--overwrite"]) == 0
    assert main(["export", str(tmp_path / "nope"), str(tmp_path / "y.parquet")]) == 2
    assert not (tmp_path / "y.parquet").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
