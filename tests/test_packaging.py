"""A real wheel builds, carries its data files, and runs from any directory."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installs_and_runs_elsewhere(tmp_path, fake_mnist_dir):
    wheels = tmp_path / "wheels"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot build a wheel here: {res.stderr.strip()[-200:]}")
    (wheel,) = wheels.glob("strokeseq-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "strokeseq/py.typed" in names
    assert "strokeseq/commands/sequence.py" in names
    glyph_files = {n for n in names if n.startswith("strokeseq/glyphs/")}
    assert {f"strokeseq/glyphs/digit_{d}.toml" for d in range(10)} <= glyph_files
    assert {f"strokeseq/augment/presets/{p}.toml" for p in ("light", "medium", "heavy")} <= set(
        names
    )
    assert not any("tests/" in n for n in names)
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
            "-q",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "STROKESEQ_MNIST_DIR": str(fake_mnist_dir)}
    code = (
        "import strokeseq, sys; assert strokeseq.__file__.startswith(sys.argv[1]), strokeseq.__file__; "
        "from strokeseq import generate_numbers_sequence as g; "
        "print(g([3, 0, 5], (0, 10), 120, rng=1).shape, g('12', (0, 2), 60, source='synthetic', rng=1).shape)"
    )
    res = subprocess.run(
        [sys.executable, "-c", code, str(target)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["(28,", "120)", "(28,", "60)"]


def test_every_package_folder_is_listed_in_pyproject():
    """The package list is explicit (for the glyphs/ mapping): a new folder must join it."""
    from strokeseq._textdata import parse_toml_or_json

    config = parse_toml_or_json((ROOT / "pyproject.toml").read_text(), ".toml")
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "strokeseq").rglob("__init__.py")
    }
    assert found | {"strokeseq.glyphs"} == listed
