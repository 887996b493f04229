"""What the machine does around a dataset benchmark run: I/O stalls, writeback, disk rates (Linux).

Used by ``bench_dataset.py`` (run from this folder, which is on its import
path). Every reading returns NaN where the system does not provide it.
"""

from __future__ import annotations

import os
import time


def io_stall() -> float:
    """Seconds in which some task of the machine waited for I/O (Linux PSI), NaN without.

    Counts, system-wide, the time spent waiting for the disk, dirty-page
    throttling included (a writer the kernel makes wait because the disk
    lags behind the page cache). Compared before and after a run, it tells
    whether that run waited for the disk (another job's I/O counts too).
    """
    try:
        with open("/proc/pressure/io") as fh:
            some = fh.readline().split()
        return int(some[-1].split("=")[1]) / 1e6
    except (OSError, ValueError, IndexError):
        return float("nan")


def machine_cpu() -> tuple[float, float]:
    """CPU seconds the whole machine has been busy, and idle waiting for I/O (Linux), NaN without.

    Busy: user, nice, system, irq and softirq of every CPU (every process and
    kernel thread: the page-cache writeback's flusher threads too); iowait:
    idle time with I/O outstanding. From ``/proc/stat``.
    """
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        hz = os.sysconf("SC_CLK_TCK")
        return (f[0] + f[1] + f[2] + f[5] + f[6]) / hz, f[4] / hz
    except (OSError, ValueError, IndexError):
        return float("nan"), float("nan")


def dirty_mib() -> float:
    """Dirty plus under-writeback page cache now, MiB (Linux), NaN without."""
    try:
        with open("/proc/meminfo") as fh:
            got = {
                ln.split(":")[0]: int(ln.split()[1])
                for ln in fh
                if ln.startswith(("Dirty:", "Writeback:"))
            }
        return (got["Dirty"] + got["Writeback"]) / 1024
    except (OSError, ValueError, KeyError):
        return float("nan")


def disk_rates(folder: str, mib: int = 1024, rounds: int = 3) -> dict[str, list[float]]:
    """MB/s writing ``mib`` MiB in 4 MiB blocks into ``folder``, three ways, interleaved rounds.

    ``page cache``: plain writes, no flush (what a shard's write costs while
    the kernel keeps up); ``+ fsync``: the same, then flushed to the disk
    (what the disk sustains); ``O_DIRECT``: bypassing the page cache (dd's
    ``oflag=direct``; skipped where the file system refuses it).
    """
    import mmap

    block = mmap.mmap(-1, 4 << 20)  # page-aligned, as O_DIRECT needs
    block.write(b"\x07" * len(block))
    n = max(mib // 4, 1)
    path = os.path.join(folder, "disk-test.bin")

    def write(direct: bool, sync: bool) -> float:
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_TRUNC | (getattr(os, "O_DIRECT", 0) if direct else 0)
        )
        fd = os.open(path, flags, 0o644)
        try:
            t = time.perf_counter()
            for _ in range(n):
                os.write(fd, block)
            if sync:
                os.fsync(fd)
            dt = time.perf_counter() - t
        finally:
            os.close(fd)
            os.unlink(path)
        return n * len(block) / dt / 1e6

    cases = {"page cache": (False, False), "+ fsync": (False, True)}
    if hasattr(os, "O_DIRECT"):
        cases["O_DIRECT"] = (True, False)
    got: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for k in list(cases) if r % 2 == 0 else list(cases)[::-1]:
            try:
                got[k].append(write(*cases[k]))
            except OSError:  # O_DIRECT refused (tmpfs)
                got[k].append(float("nan"))
            os.sync()  # the next case starts with no dirty pages of this one
    return got
