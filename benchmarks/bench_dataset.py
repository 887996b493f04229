"""Dataset throughput: samples/s for 1 and 2 workers, NPZ uncompressed and compressed.

5-digit MNIST sequences, 160 px wide, spacing 0..10, shards of 10 000.
Prints one table; every figure comes from this run. Needs the real MNIST
files (``STROKESEQ_MNIST_DIR`` or ``--data-dir``).

    python benchmarks/bench_dataset.py --count 200000
    python benchmarks/bench_dataset.py --count 1000000 --only 2:npz
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import numpy as np

from strokeseq.dataset import DatasetConfig, generate_dataset, sample_words

CONFIG = DatasetConfig(length=5, spacing=(0, 10), width=160, source="mnist")


def seeding_cost(n: int = 20_000, words: int = 18) -> tuple[float, float]:
    """µs per sample: one SeedSequence object per sample vs the vectorised words."""
    t = time.perf_counter()
    for i in range(n):
        np.random.SeedSequence(7, spawn_key=(0, i)).generate_state(words, np.uint32)
    objects = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    sample_words(7, 0, np.arange(n), words)
    vectorised = (time.perf_counter() - t) / n * 1e6
    return objects, vectorised


def run(count: int, workers: int, compress: bool, root: str, data_dir: str | None) -> dict:
    out = os.path.join(root, f"w{workers}{'c' if compress else ''}")
    s = generate_dataset(
        out,
        count,
        CONFIG,
        7,
        shard_size=10_000,
        workers=workers,
        compress=compress,
        data_dir=data_dir,
    )
    shutil.rmtree(out)
    return {
        "workers": workers,
        "format": "npz (deflate)" if compress else "npz",
        "rate": s.samples_per_second,
        "seconds": s.seconds,
        "mib": s.bytes / 2**20,
        "rss": max(s.worker_maxrss_mb.values()) if s.worker_maxrss_mb else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--only", help="one case, WORKERS:npz or WORKERS:npzc (e.g. 2:npz)")
    a = ap.parse_args()
    root = a.out or tempfile.mkdtemp(prefix="strokeseq-bench-")
    os.makedirs(root, exist_ok=True)
    cases = [(1, False), (2, False), (1, True), (2, True)]
    if a.only:
        w, fmt = a.only.split(":")
        cases = [(int(w), fmt == "npzc")]
    objects, vectorised = seeding_cost()
    print(f"per-sample seeding (18 words): SeedSequence objects {objects:.1f} µs, "
          f"vectorised {vectorised:.2f} µs")  # fmt: skip
    print(f"{a.count:,} samples, 5 digits, width 160, MNIST, shards of 10 000\n")
    print("| workers | format | samples/s | time (s) | size (MiB) | peak RSS / worker (MiB) |")
    print("|---:|---|---:|---:|---:|---:|")
    rows = []
    for w, c in cases:
        r = run(a.count, w, c, root, a.data_dir)
        rows.append(r)
        print(f"| {r['workers']} | {r['format']} | {r['rate']:,.0f} | {r['seconds']:.1f} | "
              f"{r['mib']:,.0f} | {r['rss']:.0f} |", flush=True)  # fmt: skip
    by = {(r["workers"], r["format"]): r["rate"] for r in rows}
    for fmt in ("npz", "npz (deflate)"):
        if (1, fmt) in by and (2, fmt) in by:
            print(f"\nscaling 2 vs 1 worker, {fmt}: {by[(2, fmt)] / by[(1, fmt)]:.2f}x")
    if not a.out:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
