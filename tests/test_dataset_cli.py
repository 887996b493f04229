"""SequenceDataset (map-style, pickles small, DataLoader when torch exists) and the CLI."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

from strokeseq.cli import main
from strokeseq.dataset import SequenceDataset, generate_dataset, load_dataset

CFG = {"length": [3, 6], "spacing": [0, 8], "width": {"per_digit": 34, "extra": 0}}


def test_sequence_dataset_matches_written_dataset(tmp_path, fake_mnist_dir):
    generate_dataset(tmp_path / "d", 80, CFG, 4, data_dir=fake_mnist_dir)
    disk = load_dataset(tmp_path / "d")
    ds = SequenceDataset(80, CFG, 4, data_dir=str(fake_mnist_dir), dtype=np.uint8)
    assert len(ds) == 80
    for i in (0, 41, 79, -1):
        image, label = ds[i]
        j = i % 80
        w = disk.labels["width"][j]
        np.testing.assert_array_equal(image, disk.images[j, :, :w])
        assert label["index"] == j and label["text"] == disk.labels["text"][j]
        assert len(label["boxes"]) == label["length"] == len(label["text"])
    batch = ds.__getitems__([3, 70])
    assert batch[1][1] == ds[70][1]
    f = SequenceDataset(80, CFG, 4, data_dir=str(fake_mnist_dir))[5][0]
    assert f.dtype == np.float32 and f.min() >= 0 and f.max() <= 1
    with pytest.raises(IndexError):
        ds[80]


def test_sequence_dataset_pickles_small(fake_mnist_dir):
    ds = SequenceDataset(10**6, CFG, 1, data_dir=str(fake_mnist_dir))
    ds[0]  # loads the source in this process
    blob = pickle.dumps(ds)
    assert len(blob) < 4000  # no images inside
    again = pickle.loads(blob)
    np.testing.assert_array_equal(again[123][0], ds[123][0])


def test_torch_dataloader(fake_mnist_dir):
    torch = pytest.importorskip("torch")
    from torch.utils.data import DataLoader

    ds = SequenceDataset(32, {**CFG, "length": 4, "width": 140}, 2, data_dir=str(fake_mnist_dir))
    loader = DataLoader(ds, batch_size=8, num_workers=2)
    images = torch.cat([b[0] for b in loader]).numpy()
    np.testing.assert_array_equal(images[17], ds[17][0])


def test_cli_dataset_and_preview(tmp_path, fake_mnist_dir, capsys):
    out = tmp_path / "d"
    args = ["dataset", str(out), "--count", "50", "--length", "2-4", "--spacing", "0", "6",
            "--width", "30n+4", "--source", "mnist=0.7,synthetic=0.3", "--format", "png",
            "--shard-size", "20", "--seed", "3", "--data-dir", str(fake_mnist_dir)]  # fmt: skip
    assert main(args) == 0
    summary = capsys.readouterr().out
    assert "50 samples in 3 png shard(s)" in summary and "seed 3" in summary
    m = json.loads((out / "manifest.json").read_text())
    assert m["config"]["width"] == {"per_digit": 30, "extra": 4}
    assert (out / "shard-000000" / "labels.csv").read_text().startswith("file,index,text")
    assert main(args) == 0 and "kept from an earlier run" in capsys.readouterr().out
    assert main(["preview", str(out), "--count", "12", "-o", str(tmp_path / "p.png")]) == 0
    from PIL import Image

    with Image.open(tmp_path / "p.png") as im:
        assert im.mode == "L" and im.width > 100
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({**CFG, "seed": 5}))
    assert main(["preview", str(cfg), "--count", "8", "--data-dir", str(fake_mnist_dir)]) == 0
    assert (tmp_path / "c.png").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--length", "x"], "length must be"),
        (["--width", "100"], "too small"),
        (["--source", "emnist"], "unknown source"),
        (["--spacing", "-3", "4"], "needs layout='ink'"),
        (["--config", "/nonexistent.json"], "cannot read config"),
    ],
)
def test_cli_bad_input_exits_2(tmp_path, fake_mnist_dir, capsys, extra, message):
    args = ["dataset", str(tmp_path / "d"), "--count", "5", "--length", "5", "--no-progress",
            "--data-dir", str(fake_mnist_dir), *extra]  # fmt: skip
    try:
        code = main(args)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    assert code == 2
    assert message in capsys.readouterr().err


def test_cli_refuses_other_dataset(tmp_path, fake_mnist_dir, capsys):
    base = ["dataset", str(tmp_path / "d"), "--count", "5", "--no-progress",
            "--data-dir", str(fake_mnist_dir)]  # fmt: skip
    assert main([*base, "--seed", "1"]) == 0
    assert main([*base, "--seed", "2"]) == 2
    assert "holds a different dataset" in capsys.readouterr().err
    assert main([*base, "--seed", "2", "--overwrite"]) == 0


def test_refused_config_leaves_no_folder(tmp_path, fake_mnist_dir):
    """A width that cannot fit is refused before the output folder is created."""
    from strokeseq.dataset import DatasetConfig, generate_dataset

    out = tmp_path / "never"
    with pytest.raises(ValueError, match="too small"):
        generate_dataset(
            out, 10, DatasetConfig(length=(3, 8), width=200), seed=1, data_dir=fake_mnist_dir
        )
    assert not out.exists()
