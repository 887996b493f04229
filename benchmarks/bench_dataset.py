"""Dataset throughput: 1 vs 2 workers in interleaved rounds, with the machine's load.

5-digit MNIST sequences, 160 px wide, spacing 0..10, shards of 10 000, NPZ
(uncompressed, or deflate level 1 with ``--compress``). Each round runs every
case once, alternating their order from round to round, so slow spells of a
shared machine hit both cases alike; the 2-vs-1 speed-up is computed per
round and reported as the median and min..max of the per-round ratios, next
to the load average seen during the rounds. Every figure comes from this run.
Needs the real MNIST files (``STROKESEQ_MNIST_DIR`` or ``--data-dir``).

    python benchmarks/bench_dataset.py --count 200000 --rounds 5
    python benchmarks/bench_dataset.py --count 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
    """One dataset run (the folder is removed after); its rate, size and memory."""
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
        "rate": s.samples_per_second,
        "seconds": s.seconds,
        "mib": s.bytes / 2**20,
        "rss": max(s.worker_maxrss_mb.values()) if s.worker_maxrss_mb else float("nan"),
    }


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}..{fmt.format(max(values))})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compress", action="store_true", help="deflate level 1 NPZ")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    a = ap.parse_args()
    root = a.out or tempfile.mkdtemp(prefix="strokeseq-bench-")
    os.makedirs(root, exist_ok=True)
    fmt = "npz, deflate level 1" if a.compress else "npz"
    objects, vectorised = seeding_cost()
    print(f"per-sample seeding (18 words): SeedSequence objects {objects:.1f} µs, "
          f"vectorised {vectorised:.2f} µs")  # fmt: skip
    print(f"{a.count:,} samples, 5 digits, width 160, MNIST, shards of 10 000, {fmt}; "
          f"{a.rounds} interleaved rounds; {os.cpu_count()} CPUs\n")  # fmt: skip
    print("| round | order | 1 worker (samples/s) | 2 workers (samples/s) | 2 vs 1 | load avg |")
    print("|---:|---|---:|---:|---:|---:|")
    rates: dict[int, list[float]] = {1: [], 2: []}
    ratios, loads, rss, mib = [], [], {1: [], 2: []}, 0.0
    for r in range(a.rounds):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        got = {}
        for w in order:
            got[w] = run(a.count, w, a.compress, root, a.data_dir)
            rates[w].append(got[w]["rate"])
            rss[w].append(got[w]["rss"])
            mib = got[w]["mib"]
        load = os.getloadavg()[0]
        loads.append(load)
        ratios.append(got[2]["rate"] / got[1]["rate"])
        print(f"| {r + 1} | {order[0]}, {order[1]} | {got[1]['rate']:,.0f} | "
              f"{got[2]['rate']:,.0f} | {ratios[-1]:.2f}x | {load:.1f} |", flush=True)  # fmt: skip
    print(f"\nsamples/s, median (min..max): 1 worker {_spread(rates[1])}, "
          f"2 workers {_spread(rates[2])}")  # fmt: skip
    print(f"2 vs 1 workers: median {statistics.median(ratios):.2f}x, "
          f"per-round {min(ratios):.2f}..{max(ratios):.2f}x")  # fmt: skip
    print(f"1-min load average after each round: {', '.join(f'{x:.1f}' for x in loads)}")
    print(f"size {mib:,.0f} MiB; peak RSS per worker process: 1 worker "
          f"{max(rss[1]):.0f} MiB, 2 workers {max(rss[2]):.0f} MiB")  # fmt: skip
    if not a.out:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
