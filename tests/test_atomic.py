"""atomic_write: all or nothing, no overwrite races, the umask respected."""

from __future__ import annotations

import errno
import os

import pytest

from strokeseq.atomic import atomic_write


def test_writes_bytes_and_callables(tmp_path):
    assert atomic_write(tmp_path / "a", b"abc").read_bytes() == b"abc"
    atomic_write(tmp_path / "b", lambda fh: fh.write(b"xyz"))
    assert (tmp_path / "b").read_bytes() == b"xyz"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_overwrite_false_never_replaces(tmp_path):
    atomic_write(tmp_path / "a", b"first")
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "a", b"second", overwrite=False)
    assert (tmp_path / "a").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["a"]  # no temporary left


def test_failure_leaves_nothing(tmp_path):
    def boom(fh):
        fh.write(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(tmp_path / "a", boom)
    assert list(tmp_path.iterdir()) == []


def test_disk_full_names_the_file(tmp_path):
    def full(fh):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError, match=r"No space left on the device to write .*manifest\.json"):
        atomic_write(tmp_path / "manifest.json", full)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_mode_follows_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        path = atomic_write(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
