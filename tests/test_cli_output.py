"""``strokeseq sequence`` output: limits, names, folders, modes, quiet logging (issue 11)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest
from conftest import SCRIPT, write_fake_mnist
from conftest import run_script as run
from PIL import Image


def _one_error_line(res, *fragments):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_huge_count_refused_at_once(tmp_path, fake_mnist_dir):
    res = run(["305", "0", "10", "120", "-n", str(10**12)], tmp_path, fake_mnist_dir, timeout=300)
    _one_error_line(res, "--count 1000000000000 is over the limit of 100000")
    assert list(tmp_path.iterdir()) == []


def test_huge_total_refused_with_the_memory_it_would_take(tmp_path, fake_mnist_dir):
    res = run(["305", "0", "10", "1000000", "-n", "100000"], tmp_path, fake_mnist_dir)
    _one_error_line(res, "100000 images of 1000000x28 px would take 2.5 TiB", "limit of 16.0 GiB")
    assert list(tmp_path.iterdir()) == []


def test_many_images_are_written_in_chunks(tmp_path, fake_mnist_dir, monkeypatch):
    """Same images whether generated at once or chunk by chunk (in-process, small chunks)."""
    import numpy as np

    from strokeseq.cli import main
    from strokeseq.commands import sequence

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STROKESEQ_MNIST_DIR", str(fake_mnist_dir))
    assert main(["sequence", "305", "0", "10", "120", "-n", "7", "--seed", "4", "-o", "a/"]) == 0
    monkeypatch.setattr(sequence, "CHUNK_PIXELS", 2 * 28 * 120)  # 2 images per chunk
    assert main(["sequence", "305", "0", "10", "120", "-n", "7", "--seed", "4", "-o", "b/"]) == 0
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir()) and len(names) == 7
    first = [np.asarray(Image.open(tmp_path / d / "305_3.png")) for d in ("a", "b")]
    assert first[0].shape == first[1].shape == (28, 120)


def test_concurrent_runs_take_the_next_free_name(tmp_path, fake_mnist_dir):
    env = {**os.environ, "STROKESEQ_MNIST_DIR": str(fake_mnist_dir), "STROKESEQ_OFFLINE": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(SCRIPT), "305", "0", "10", "120", "--seed", str(i)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(6)
    ]
    results = [(*p.communicate(timeout=300), p.returncode) for p in procs]
    assert [r[2] for r in results] == [0] * 6, [r[1] for r in results]
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["305.png"] + [f"305_{i}.png" for i in range(1, 6)]


def test_long_sequence_gets_a_short_name(tmp_path, fake_mnist_dir):
    digits = "1234567890" * 30
    res = run([digits, "0", "0", str(28 * 300)], tmp_path, fake_mnist_dir)
    assert res.returncode == 0, res.stderr
    (out,) = tmp_path.iterdir()
    assert out.name.startswith(digits[:55]) and len(out.name) <= 64 + 4
    assert Image.open(out).size == (28 * 300, 28)


def test_width_checked_before_the_name(tmp_path, fake_mnist_dir):
    res = run(["7" * 40_000, "0", "0", "1000"], tmp_path, fake_mnist_dir)
    _one_error_line(res, "image_width")
    assert "File name too long" not in res.stderr
    assert list(tmp_path.iterdir()) == []


def test_output_folder_with_slash_is_created(tmp_path, fake_mnist_dir):
    res = run(["305", "0", "10", "120", "-o", "newdir/"], tmp_path, fake_mnist_dir)
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "newdir" / "305.png").is_file()
    assert not (tmp_path / "newdir.png").exists()


def test_missing_folder_without_slash_refused_clearly(tmp_path, fake_mnist_dir):
    res = run(["305", "0", "10", "120", "-o", "nodir/x.png"], tmp_path, fake_mnist_dir)
    _one_error_line(res, "output folder 'nodir' does not exist")


@pytest.mark.parametrize("value", ["", " "])
def test_empty_output_refused(tmp_path, fake_mnist_dir, value):
    res = run(["305", "0", "10", "120", "-o", value], tmp_path, fake_mnist_dir)
    _one_error_line(res, "--output must not be empty")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_png_mode_respects_the_umask(tmp_path, fake_mnist_dir, umask, mode):
    res = run(["305", "0", "10", "120"], tmp_path, fake_mnist_dir, umask=umask)
    assert res.returncode == 0, res.stderr
    assert stat.S_IMODE((tmp_path / "305.png").stat().st_mode) == mode


def test_failed_download_is_one_line_and_verbose_tells_more(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    env = {
        "STROKESEQ_DATA_DIR": str(empty),
        "STROKESEQ_OFFLINE": "0",
        "STROKESEQ_MNIST_URL": "http://127.0.0.1:9/a/ http://127.0.0.1:9/b/",
    }
    res = run(["305", "0", "10", "120"], tmp_path, empty, env)
    _one_error_line(res, "no mirror could be reached")
    verbose = subprocess.run(
        [sys.executable, "-m", "strokeseq", "-v", "sequence", "305", "0", "10", "120"],
        cwd=tmp_path,
        env={**os.environ, "STROKESEQ_MNIST_DIR": str(empty), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert verbose.returncode == 2
    assert verbose.stderr.count("mirror failed") == 2, verbose.stderr


def test_script_startup_uses_no_ink_table(tmp_path):
    """A fresh folder with a fake set: the script runs and writes exactly one file."""
    folder = write_fake_mnist(tmp_path / "d", n_train=30, n_test=10)
    res = run(["305", "0", "10", "120"], tmp_path, folder)
    assert res.returncode == 0 and (tmp_path / "305.png").is_file()


def test_help_documents_none_preset_and_verbose(capsys):
    from strokeseq.cli import main

    for argv, fragments in (
        (["sequence", "--help"], ["none, light, medium, heavy", "at most 100000"]),
        (["--help"], ["-v, --verbose", "before the command"]),
    ):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        text = " ".join(capsys.readouterr().out.split())
        for fragment in fragments:
            assert fragment in text, (fragment, text)
