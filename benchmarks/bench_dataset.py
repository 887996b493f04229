"""Dataset throughput: 1 vs 2 workers in interleaved rounds, with where the CPU time goes.

5-digit MNIST sequences, 160 px wide, spacing 0..10, shards of 10 000, NPZ
(uncompressed, or deflate level 1 with ``--compress``). Each round runs every
case once, alternating their order from round to round, so slow spells of a
shared machine hit both cases alike; the 2-vs-1 speed-up is computed per
round and reported as the median and min..max of the per-round ratios, next
to the load average seen during the rounds.

Wall time on a shared machine measures the share of the CPUs a run got, so
the script also reports the CPU seconds of every process (parent and workers,
per stage: start-up, loading, generating, writing) from ``DatasetSummary.cpu``.
CPU time does not depend on the load, so the **serial fraction** ``s`` (CPU
of a 1-worker run not spent making shards: checks, loading, manifests) and
the **parallel overhead** (CPU a 2-worker run spends beyond the 1-worker run:
worker start-up, loading MNIST again) are known even on a busy machine, and
give the speed-up two idle cores would allow: Amdahl's ``1 / (s + (1 - s)/2)``,
and the same with the overhead added to the parallel part.

Needs the real MNIST files (``STROKESEQ_MNIST_DIR`` or ``--data-dir``). Run it
as a user would run the CLI: a fresh process per run (``--fresh``, default),
so that the parent pays its imports and MNIST loading in both cases:

    python benchmarks/bench_dataset.py --count 200000 --rounds 5
    python benchmarks/bench_dataset.py --count 1000000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

CONFIG = {"length": 5, "spacing": [0, 10], "width": 160, "source": "mnist"}


def seeding_cost(n: int = 20_000, words: int = 18) -> tuple[float, float]:
    """µs per sample: one SeedSequence object per sample vs the vectorised words."""
    from strokeseq.dataset import sample_words

    t = time.perf_counter()
    for i in range(n):
        np.random.SeedSequence(7, spawn_key=(0, i)).generate_state(words, np.uint32)
    objects = (time.perf_counter() - t) / n * 1e6
    t = time.perf_counter()
    sample_words(7, 0, np.arange(n), words)
    vectorised = (time.perf_counter() - t) / n * 1e6
    return objects, vectorised


def one_run(out: str, count: int, workers: int, compress: bool, data_dir: str | None) -> dict:
    """One dataset run in this process; its wall time, CPU accounting, size and memory."""
    import resource

    from strokeseq.dataset import generate_dataset

    t0 = time.perf_counter()
    cpu0 = time.process_time()
    s = generate_dataset(
        out, count, CONFIG, 7, shard_size=10_000, workers=workers, compress=compress,
        data_dir=data_dir,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    procs = s.cpu["processes"]
    return {
        "wall": wall,
        "run_wall": s.seconds,
        "rate": count / wall,
        "mib": s.bytes / 2**20,
        "rss": max(s.worker_maxrss_mb.values()) if s.worker_maxrss_mb else float("nan"),
        "parent": time.process_time() - cpu0,
        "parent_total": resource.getrusage(resource.RUSAGE_SELF).ru_utime
        + resource.getrusage(resource.RUSAGE_SELF).ru_stime,
        "parent_setup": s.cpu["parent_setup"],
        "children": s.cpu["children"],
        "processes": {str(k): v for k, v in procs.items()},
        "shard_cpu": sum(p["generate"] + p["write"] for p in procs.values()),
        "start_cpu": sum(p["start"] + p["load"] for p in procs.values()),
    }


def run(count: int, workers: int, compress: bool, root: str, data_dir: str | None,
        fresh: bool) -> dict:  # fmt: skip
    """One run (fresh process or in this one); the folder is removed after."""
    out = os.path.join(root, f"w{workers}{'c' if compress else ''}")
    if fresh:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", out, str(count), str(workers),
               str(int(compress)), data_dir or ""]  # fmt: skip
        got = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
        got["process_wall"] = time.perf_counter() - t0  # interpreter start and imports too
        got["rate"] = count / got["process_wall"]
    else:
        got = one_run(out, count, workers, compress, data_dir)
        got["process_wall"] = got["wall"]
    shutil.rmtree(out)
    return got


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}..{fmt.format(max(values))})"
    )


def _load() -> str:
    return ", ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        out, count, workers, compress, data_dir = sys.argv[2:7]
        got = one_run(out, int(count), int(workers), bool(int(compress)), data_dir or None)
        print(json.dumps(got))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--compress", action="store_true", help="deflate level 1 NPZ")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out", default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument(
        "--in-process", action="store_true",
        help="run in this process (MNIST stays loaded between runs) instead of a fresh one",
    )  # fmt: skip
    a = ap.parse_args()
    if a.data_dir is None and os.environ.get("STROKESEQ_MNIST_DIR"):
        a.data_dir = os.path.abspath(os.environ["STROKESEQ_MNIST_DIR"])
    root = a.out or tempfile.mkdtemp(prefix="strokeseq-bench-")
    os.makedirs(root, exist_ok=True)
    fmt = "npz, deflate level 1" if a.compress else "npz"
    objects, vectorised = seeding_cost()
    print(f"per-sample seeding (18 words): SeedSequence objects {objects:.1f} µs, "
          f"vectorised {vectorised:.2f} µs")  # fmt: skip
    print(f"{a.count:,} samples, 5 digits, width 160, MNIST, shards of 10 000, {fmt}; "
          f"{a.rounds} interleaved rounds; {os.cpu_count()} CPUs; "
          f"{'in this process' if a.in_process else 'a fresh process per run'}")  # fmt: skip
    print(f"load average at the start (1, 5, 15 min): {_load()}\n")
    print("| round | order | 1 worker: s (samples/s) | 2 workers: s (samples/s) | 2 vs 1 "
          "| load avg after |")  # fmt: skip
    print("|---:|---|---:|---:|---:|---:|")
    runs: dict[int, list[dict]] = {1: [], 2: []}
    ratios, loads = [], []
    t_start = time.perf_counter()
    for r in range(a.rounds):
        order = (1, 2) if r % 2 == 0 else (2, 1)
        got = {}
        for w in order:
            got[w] = run(a.count, w, a.compress, root, a.data_dir, not a.in_process)
            runs[w].append(got[w])
        loads.append(os.getloadavg()[0])
        ratios.append(got[1]["process_wall"] / got[2]["process_wall"])
        print(f"| {r + 1} | {order[0]}, {order[1]} | {got[1]['process_wall']:.2f} "
              f"({got[1]['rate']:,.0f}) | {got[2]['process_wall']:.2f} ({got[2]['rate']:,.0f}) "
              f"| {ratios[-1]:.2f}x | {loads[-1]:.1f} |", flush=True)  # fmt: skip
    elapsed = time.perf_counter() - t_start

    def med(w: int, key: str) -> float:
        return statistics.median(x[key] for x in runs[w])

    print(f"\nsamples/s (whole process), median (min..max): "
          f"1 worker {_spread([x['rate'] for x in runs[1]])}, "
          f"2 workers {_spread([x['rate'] for x in runs[2]])}")  # fmt: skip
    print(f"**2 vs 1 workers (wall): median {statistics.median(ratios):.2f}x, "
          f"per-round {min(ratios):.2f}..{max(ratios):.2f}x**")  # fmt: skip
    print(f"1-min load average after each round: {', '.join(f'{x:.1f}' for x in loads)}; "
          f"at the end (1, 5, 15 min): {_load()}")  # fmt: skip
    print(f"benchmark took {elapsed:.0f} s")

    # CPU accounting (medians over the rounds), independent of the machine's load.
    print("\nCPU seconds per run (median over rounds; process CPU time, load-independent):\n")
    print("| | 1 worker | 2 workers |")
    print("|---|---:|---:|")
    rows = [
        ("parent process, whole run (imports, checks, its shards, manifests)", "parent_total"),
        ("parent: before the first shard (checks, sources, manifest)", "parent_setup"),
        ("worker processes, start to exit", "children"),
        ("start-up of shard-making processes (interpreter, imports, loading)", "start_cpu"),
        ("making shards (generate + write + hash)", "shard_cpu"),
    ]
    for label, key in rows:
        print(f"| {label} | {med(1, key):.2f} | {med(2, key):.2f} |")
    total = {w: med(w, "parent_total") + med(w, "children") for w in (1, 2)}
    print(f"| **total CPU** | {total[1]:.2f} | {total[2]:.2f} |")
    gen = {
        w: statistics.median(sum(p["generate"] for p in x["processes"].values()) for x in runs[w])
        for w in (1, 2)
    }
    wri = {w: statistics.median(
        sum(p["write"] for p in x["processes"].values()) for x in runs[w]) for w in (1, 2)}  # fmt: skip
    print(f"| of the shards: generate / write+hash | {gen[1]:.2f} / {wri[1]:.2f} | "
          f"{gen[2]:.2f} / {wri[2]:.2f} |")  # fmt: skip
    shards_by_proc = [sorted(int(p["shards"]) for p in x["processes"].values()) for x in runs[2]]
    print(f"\nshards per process in the 2-worker runs: {shards_by_proc}")

    # Amdahl from the 1-worker run: everything but shard work is serial.
    work1 = med(1, "shard_cpu")
    serial = max(total[1] - work1, 0.0)
    s = serial / total[1]
    amdahl = 1 / (s + (1 - s) / 2)
    extra = max(total[2] - total[1], 0.0)
    bound = total[1] / (serial + (work1 + extra) / 2)
    util = {w: statistics.median((x["parent_total"] + x["children"]) / x["process_wall"]
                                 for x in runs[w]) for w in (1, 2)}  # fmt: skip
    print(f"serial CPU (1 worker, not making shards) {serial:.2f} s of {total[1]:.2f} s: "
          f"**serial fraction s = {s:.3f}**; Amdahl's bound for 2 workers "
          f"1 / (s + (1 - s)/2) = **{amdahl:.2f}x**")  # fmt: skip
    print(f"parallel overhead: the 2-worker run spends {extra:.2f} CPU s more "
          f"({extra / total[1]:.1%}); with it in the parallel part the bound is "
          f"**{bound:.2f}x** (two idle cores)")  # fmt: skip
    print(f"CPU use (CPU s per wall s, median): 1 worker {util[1]:.2f}, 2 workers {util[2]:.2f} "
          f"(2.0 = both cores; less means waiting or a busy machine)")  # fmt: skip
    print(f"size {runs[1][-1]['mib']:,.0f} MiB; peak RSS per shard-making process: 1 worker "
          f"{max(x['rss'] for x in runs[1]):.0f} MiB, 2 workers "
          f"{max(x['rss'] for x in runs[2]):.0f} MiB")  # fmt: skip
    if not a.out:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
