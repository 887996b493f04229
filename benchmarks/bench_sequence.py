"""Speed of the sequence API, beside the NumPy copy of the same output as a floor.

Run: ``STROKESEQ_MNIST_DIR=../shared/mnist python benchmarks/bench_sequence.py``

Prints a markdown table. Every figure is the best of a few repeats (the
machine is shared; the best run is the least disturbed one), measured in one
run so that the ratios to the copy floor are meaningful.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from pathlib import Path

import numpy as np

from strokeseq import generate_numbers_sequence, generate_sequences

ROOT = Path(__file__).resolve().parent.parent


def best_rate(fn, n: int, repeat: int = 5) -> float:
    """Calls per second of ``fn`` run ``n`` times, best of ``repeat``."""
    return n / min(timeit.repeat(fn, number=n, repeat=repeat))


def batch_rate(n_digits: int, width: int, n: int, dtype, repeat: int = 3) -> tuple[float, float]:
    """Sequences/s of the batch API, and of copying the same bytes (the floor)."""
    seqs = np.random.default_rng(0).integers(0, 10, size=(n, n_digits))
    generate_sequences(seqs[:10], (0, 10), width)  # load the source
    times = []
    for r in range(repeat):
        t = time.perf_counter()
        out = generate_sequences(seqs, (0, 10), width, rng=r, dtype=dtype)
        times.append(time.perf_counter() - t)
    dst = np.empty_like(out)
    dst[...] = 0  # memory already touched: the copy is the ceiling
    copy = min(timeit.repeat(lambda: np.copyto(dst, out), number=1, repeat=repeat))
    return n / min(times), n / copy


def wall(cmds: dict[str, list[str]], cwd: str, repeat: int = 11) -> dict[str, float]:
    """Median wall time of each command in seconds, runs interleaved.

    Interleaving (a, b, c, a, b, c, ...) keeps a slow moment of the shared
    machine from landing on one command only.
    """
    times: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(repeat):
        for name, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(cmd, cwd=cwd, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def plain_reference():
    """A plain implementation with one fixed spacing and no validation (the issue's yardstick)."""
    from strokeseq.sources import get_source

    src = get_source("mnist", split="train")
    images, labels = src.images, src.labels
    by_label = [np.flatnonzero(labels == d) for d in range(10)]
    rng = np.random.default_rng(0)

    def make(digits, spacing, width):
        img = np.ones((28, width), np.float32)
        x = 0
        for d in digits:
            pool = by_label[d]
            img[:, x : x + 28] = 1 - images[pool[rng.integers(len(pool))]] / 255
            x += 28 + spacing
        return img

    return make


def main() -> None:
    rows = []
    plain = plain_reference()
    plain_rate = best_rate(lambda: plain([3, 0, 5], 5, 120), 20_000)
    generate_numbers_sequence([3, 0, 5], (0, 10), 120)  # warm: data loaded
    one = generate_numbers_sequence([3, 0, 5], (0, 10), 120)
    single = best_rate(lambda: generate_numbers_sequence([3, 0, 5], (0, 10), 120), 20_000)
    floor = best_rate(one.copy, 20_000)
    rows.append(
        (
            "single call [3,0,5], (0,10), 120, float32",
            f"{single:,.0f} calls/s",
            f"{floor:,.0f} copies/s",
            "≥ 50 000",
        )
    )
    rows.append(
        (
            "plain fixed-spacing implementation, same call",
            f"{plain_rate:,.0f} calls/s",
            f"ours / plain = {single / plain_rate:.2f}",
            "(the issue measured it at 58 000 on a quiet machine)",
        )
    )
    for n_digits, width, n, dtype, target in (
        (3, 120, 100_000, np.float32, "≥ 80 000"),
        (3, 120, 100_000, np.uint8, "faster than float32"),
        (10, 400, 50_000, np.float32, "≥ 20 000"),
        (10, 400, 50_000, np.uint8, "faster than float32"),
    ):
        rate, copy = batch_rate(n_digits, width, n, dtype)
        rows.append(
            (
                f"batch {n_digits} digits, width {width}, {np.dtype(dtype).name}",
                f"{rate:,.0f} seq/s",
                f"{copy:,.0f} seq/s",
                target,
            )
        )
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        script = [py, str(ROOT / "scripts" / "make_sequence.py"), "305", "0", "10", "120"]
        script += ["-o", "x.png", "--overwrite"]
        t = wall(
            {
                "bare": [py, "-c", "pass"],
                "numpy": [py, "-c", "import numpy"],
                "strokeseq": [py, "-c", "import strokeseq"],
                "script": script,
            },
            tmp,
        )
    rows.append(
        (
            "`import strokeseq`, above bare python (includes NumPy)",
            f"{t['strokeseq'] - t['bare']:.3f} s",
            f"`import numpy` alone {t['numpy'] - t['bare']:.3f} s",
            "≤ 0.15 s",
        )
    )
    rows.append(
        (
            "`python scripts/make_sequence.py 305 0 10 120`, end to end",
            f"{t['script']:.3f} s",
            f"bare python {t['bare']:.3f} s",
            "≤ 0.5 s",
        )
    )

    print(
        f"strokeseq sequence benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, NumPy {np.__version__}"
    )
    print()
    print("| measure | strokeseq | NumPy floor / reference | target |")
    print("|---|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
