"""The command line, run as a user would: in a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import run_script as run
from PIL import Image


def test_script_writes_the_png(tmp_path, fake_mnist_dir):
    res = run(["305", "0", "10", "120"], tmp_path, fake_mnist_dir)
    assert res.returncode == 0, res.stderr
    out = tmp_path / "305.png"
    assert str(out) in res.stdout
    with Image.open(out) as im:
        assert im.mode == "L" and im.size == (120, 28)
        pixels = np.asarray(im)
    assert pixels.max() == 255 and pixels.min() < 128  # white page, dark digits


def test_script_never_overwrites_silently(tmp_path, fake_mnist_dir):
    (tmp_path / "305.png").write_bytes(b"keep me")
    res = run(["305", "0", "10", "120", "--seed", "1"], tmp_path, fake_mnist_dir)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "305.png").read_bytes() == b"keep me"
    assert (tmp_path / "305_1.png").exists() and "305_1.png" in res.stdout
    # an explicit --output that exists is refused, unless --overwrite
    res = run(["305", "0", "10", "120", "-o", "305.png"], tmp_path, fake_mnist_dir)
    assert res.returncode == 2 and "--overwrite" in res.stderr
    assert (tmp_path / "305.png").read_bytes() == b"keep me"
    res = run(["305", "0", "10", "120", "-o", "305.png", "--overwrite"], tmp_path, fake_mnist_dir)
    assert res.returncode == 0
    assert (tmp_path / "305.png").read_bytes()[:4] == b"\x89PNG"


def test_options_seed_count_output_folder(tmp_path, fake_mnist_dir):
    folder = tmp_path / "out"
    folder.mkdir()
    args = [
        "42",
        "2",
        "4",
        "90",
        "--seed",
        "7",
        "--count",
        "3",
        "-o",
        str(folder),
        "--ink",
        "white",
        "--layout",
        "ink",
        "--split",
        "test",
    ]
    assert run(args, tmp_path, fake_mnist_dir).returncode == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["42.png", "42_1.png", "42_2.png"]
    first = np.asarray(Image.open(folder / "42.png"))
    assert first[0, 0] == 0  # white ink on black
    again = tmp_path / "again"
    again.mkdir()
    assert (
        run(
            [*args[:-8], "-o", str(again), "--ink", "white", "--layout", "ink", "--split", "test"],
            tmp_path,
            fake_mnist_dir,
        ).returncode
        == 0
    )
    np.testing.assert_array_equal(
        np.asarray(Image.open(again / "42.png")), first
    )  # same seed, same image


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["3a5", "0", "10", "120"], "digits 0-9"),
        (["305", "10", "0", "120"], "min must be <= max"),
        (["305", "0", "10", "abc"], "WIDTH"),
        (["305", "x", "10", "120"], "MIN"),
        (["305", "0", "10", "50"], "at least 84 px"),
        (["305", "0", "10", "0"], "positive"),
        (["305", "-2", "10", "120"], "layout='ink'"),
        (["305", "0", "10"], "required"),
        (["305", "0", "10", "120", "--source", "nope"], "invalid choice"),
        (["305", "0", "10", "120", "--count", "0"], "positive"),
        (["305", "0", "10", "120", "-o", "no/such/dir/x.png"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, fake_mnist_dir, args, words):
    res = run(args, tmp_path, fake_mnist_dir)
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert words in lines[0] and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_missing_data_offline_exits_2(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    res = run(["305", "0", "10", "120"], work, empty, {"STROKESEQ_DATA_DIR": str(empty)})
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1 and "STROKESEQ_MNIST_DIR" in res.stderr
    assert list(work.iterdir()) == []


def test_help_and_module_entry(tmp_path, fake_mnist_dir):
    res = run(["--help"], tmp_path, fake_mnist_dir)
    assert res.returncode == 0 and "SEQUENCE" in res.stdout and "--seed" in res.stdout
    env = {**os.environ, "STROKESEQ_MNIST_DIR": str(fake_mnist_dir)}
    res = subprocess.run(
        [sys.executable, "-m", "strokeseq", "--help"], capture_output=True, text=True, env=env
    )
    assert res.returncode == 0 and "sequence" in res.stdout


@pytest.mark.skipif(shutil.which("strokeseq") is None, reason="console script not installed")
def test_console_script(tmp_path, fake_mnist_dir):
    env = {**os.environ, "STROKESEQ_MNIST_DIR": str(fake_mnist_dir)}
    res = subprocess.run(
        ["strokeseq", "sequence", "12", "0", "0", "56", "--seed", "1"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "12.png").size == (56, 28)


def test_augmentation_flags(tmp_path, fake_mnist_dir):
    base = ["305", "0", "10", "120", "--seed", "3"]
    assert run([*base, "-o", "plain.png"], tmp_path, fake_mnist_dir).returncode == 0
    res = run(
        [*base, "-o", "aug.png", "--rotate", "20", "--slant", "8", "--noise", "0.05"],
        tmp_path,
        fake_mnist_dir,
    )
    assert res.returncode == 0, res.stderr
    res = run(
        [*base, "-o", "preset.png", "--augment", "heavy", "--elastic", "40"],
        tmp_path,
        fake_mnist_dir,
    )
    assert res.returncode == 0, res.stderr
    plain = np.asarray(Image.open(tmp_path / "plain.png"))
    assert not np.array_equal(plain, np.asarray(Image.open(tmp_path / "aug.png")))
    assert not np.array_equal(plain, np.asarray(Image.open(tmp_path / "preset.png")))
    res = run([*base, "-o", "bad.png", "--stroke-width", "9"], tmp_path, fake_mnist_dir)
    assert (
        res.returncode == 2 and "stroke_width" in res.stderr and len(res.stderr.splitlines()) == 1
    )
    res = run([*base, "-o", "bad.png", "--augment", "no-such-preset"], tmp_path, fake_mnist_dir)
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "bad.png").exists()


def test_synthetic_jitter_flag(tmp_path, fake_mnist_dir):
    res = run(
        ["42", "0", "4", "80", "--source", "synthetic", "--jitter", "3", "--seed", "1"],
        tmp_path,
        fake_mnist_dir,
    )
    assert res.returncode == 0, res.stderr
    assert Image.open(tmp_path / "42.png").size == (80, 28)
    res = run(["42", "0", "4", "80", "--jitter", "3", "-o", "x.png"], tmp_path, fake_mnist_dir)
    assert res.returncode == 2 and "synthetic" in res.stderr
