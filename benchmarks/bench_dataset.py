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

Needs the real MNIST files (``STROKESEQ_MNIST_DIR`` or ``--data-dir``). Every
run is a fresh process, as a CLI run (it pays its interpreter, imports and
MNIST loading, with 1 worker as with 2); ``--in-process`` runs them in this
process instead. ``--compare CHECKOUT`` times another strokeseq checkout in
the same rounds (before/after). On a quiet 2-core machine the first command
takes about a minute, the second 3-4 minutes (twice that with ``--compare``):

    python benchmarks/bench_dataset.py --count 200000 --rounds 5
    python benchmarks/bench_dataset.py --count 1000000 --rounds 3
    python benchmarks/bench_dataset.py --count 200000 --rounds 5 --compare ../main
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
from system_io import dirty_mib, disk_rates, io_stall, machine_cpu

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


def checksum_costs(nbytes: int = 44_800_000, rounds: int = 7) -> dict[str, list[float]]:
    """CPU ms to checksum one shard's worth of bytes, per algorithm, in interleaved rounds."""
    import hashlib
    import zlib

    data = memoryview(np.random.default_rng(0).integers(0, 256, nbytes, dtype=np.uint8))
    cases = {
        "zlib.crc32": lambda: zlib.crc32(data),
        "sha256": lambda: hashlib.sha256(data).digest(),
        "sha1": lambda: hashlib.sha1(data).digest(),
        "blake2b": lambda: hashlib.blake2b(data).digest(),
        "md5": lambda: hashlib.md5(data).digest(),
    }
    got: dict[str, list[float]] = {k: [] for k in cases}
    for r in range(rounds):
        for k in list(cases) if r % 2 == 0 else list(cases)[::-1]:
            t = time.process_time()
            cases[k]()
            got[k].append((time.process_time() - t) * 1e3)
    return got


def write_block_costs(data_dir: str | None, rounds: int = 5) -> dict[int, list[tuple]]:
    """Kernel and user CPU ms of making one shard, per size of the writes to the file.

    Shards are made in this process (into a temporary folder) with
    ``strokeseq.dataset.onepass.BLOCK`` set to each size in turn, in
    interleaved rounds; the first round is a warm-up.
    """
    import resource

    from strokeseq.dataset import onepass, shards
    from strokeseq.dataset.config import DatasetConfig
    from strokeseq.dataset.sampling import SampleContext

    ctx = SampleContext(DatasetConfig.from_dict(CONFIG), 7, data_dir)
    sizes = [256 << 10, 1 << 20, 4 << 20, 16 << 20]
    got: dict[int, list[tuple]] = {b: [] for b in sizes}
    default, k = onepass.BLOCK, 0
    with tempfile.TemporaryDirectory() as folder:
        try:
            for r in range(rounds + 1):
                for b in sizes if r % 2 == 0 else sizes[::-1]:
                    onepass.BLOCK = b
                    job = shards.ShardJob(ctx, k, k * 10_000, (k + 1) * 10_000, "npz", 0, folder)
                    r0 = resource.getrusage(resource.RUSAGE_SELF)
                    shards.build_shard(job)
                    r1 = resource.getrusage(resource.RUSAGE_SELF)
                    k += 1
                    if r:
                        got[b].append(((r1.ru_stime - r0.ru_stime) * 1e3,
                                       (r1.ru_utime - r0.ru_utime) * 1e3))  # fmt: skip
        finally:
            onepass.BLOCK = default
    return got


def children_cpu() -> float:
    """CPU seconds of this process's ended children."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def process_start() -> float | None:
    """``time.monotonic()`` when this process started (Linux: from /proc), else None."""
    try:
        with open("/proc/self/stat") as fh:
            ticks = int(fh.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as fh:
            up = float(fh.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    # /proc counts from boot; monotonic() too on Linux, up to suspended time (none here)
    return time.monotonic() - (up - ticks / os.sysconf("SC_CLK_TCK"))


def timeline(tl: dict | None, born: float | None) -> dict:
    """Milestones of a run, seconds since its process started (NaN when unknown).

    ``call``: generate_dataset called (interpreter and imports before);
    ``first``: this process's first shard starts; ``worker``: the spawned
    worker's first shard starts; ``last_idle``: how long the process that
    finished its shards first waited for the other; ``after``: from the end of
    the last shard to the return (the manifest, the workers' exit);
    ``end``: the call returns.
    """
    nan = float("nan")
    if not tl or born is None:
        return dict.fromkeys(("call", "first", "worker", "last_idle", "after", "end"), nan)
    me = os.getpid()
    by: dict[int, list] = {}
    for pid, _k, a, b in tl["shards"]:
        by.setdefault(pid, []).append((a, b))
    mine = by.get(me, [])
    others = [min(a for a, _ in v) for pid, v in by.items() if pid != me]
    ends = [max(b for _, b in v) for v in by.values()]
    return {
        "call": tl["start"] - born,
        "first": (min(a for a, _ in mine) - born) if mine else nan,
        "worker": (min(others) - born) if others else nan,
        "last_idle": (max(ends) - min(ends)) if len(ends) > 1 else 0.0,
        "after": (tl["end"] - max(ends)) if ends else nan,
        "end": tl["end"] - born,
    }


def one_run(out: str, count: int, workers: int, compress: bool, data_dir: str | None) -> dict:
    """One dataset run in this process; its wall time, CPU accounting, size and memory."""
    import resource

    from strokeseq.dataset import generate_dataset

    born = process_start()
    t0 = time.perf_counter()
    children0 = children_cpu()
    s = generate_dataset(
        out, count, CONFIG, 7, shard_size=10_000, workers=workers, compress=compress,
        data_dir=data_dir,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    ru = resource.getrusage(resource.RUSAGE_SELF)
    # DatasetSummary.cpu is new: an older checkout (--compare) has only the totals.
    cpu = getattr(s, "cpu", None) or {"parent_setup": float("nan"), "processes": {}}
    procs = cpu["processes"]
    return {
        "wall": wall,
        "mib": s.bytes / 2**20,
        "rss": max(s.worker_maxrss_mb.values()) if s.worker_maxrss_mb else float("nan"),
        "parent_total": ru.ru_utime + ru.ru_stime,  # the whole process, imports included
        "parent_setup": cpu["parent_setup"],
        "children": children_cpu() - children0,
        "processes": {str(k): v for k, v in procs.items()},
        "shard_cpu": sum(p["generate"] + p["write"] for p in procs.values())
        if procs
        else float("nan"),
        "start_cpu": sum(p["start"] + p["load"] for p in procs.values()) if procs else 0.0,
        "timeline": timeline(cpu.get("timeline"), born),
        "start_method": cpu.get("start_method"),
    }


def run(count: int, workers: int, compress: bool, root: str, data_dir: str | None,
        fresh: bool, code: str | None = None) -> dict:  # fmt: skip
    """One run (fresh process or in this one); the folder is removed after.

    ``code``: the strokeseq checkout to import (a fresh process only), None for this one.
    """
    out = os.path.join(root, f"w{workers}{'c' if compress else ''}")
    stall0, dirty0, (busy0, iowait0) = io_stall(), dirty_mib(), machine_cpu()
    if fresh:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", out, str(count), str(workers),
               str(int(compress)), data_dir or ""]  # fmt: skip
        env = dict(os.environ)
        if code is not None:
            env["PYTHONPATH"] = os.path.abspath(code)
        got = json.loads(
            subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
        )
        got["process_wall"] = time.perf_counter() - t0  # interpreter start and imports too
        got["rate"] = count / got["process_wall"]
    else:
        got = one_run(out, count, workers, compress, data_dir)
        got["process_wall"] = got["wall"]
        got["rate"] = count / got["wall"]
    got["io_stall"] = io_stall() - stall0
    busy1, iowait1 = machine_cpu()
    got["machine_busy"], got["machine_iowait"] = busy1 - busy0, iowait1 - iowait0
    got["dirty_end"] = dirty_mib()
    got["dirty_start"] = dirty0
    shutil.rmtree(out)
    return got


def _spread(values: list[float], fmt: str = "{:,.0f}") -> str:
    return (
        f"{fmt.format(statistics.median(values))} "
        f"({fmt.format(min(values))}..{fmt.format(max(values))})"
    )


def _load() -> str:
    """The load average as ``uptime`` prints it (1, 5, 15 minutes)."""
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out.strip() or ", ".join(f"{x:.2f}" for x in os.getloadavg())


def _report(name: str, runs: dict[int, list[dict]], ratios: list[float]) -> None:
    """Rates, the per-round speed-ups, CPU accounting and Amdahl's bound of one code version."""

    def med(w: int, key: str) -> float:
        return statistics.median(x[key] for x in runs[w])

    print(f"\n### {name}\n")
    print(f"samples/s (whole process), median (min..max): "
          f"1 worker {_spread([x['rate'] for x in runs[1]])}, "
          f"2 workers {_spread([x['rate'] for x in runs[2]])}")  # fmt: skip
    print(f"**2 vs 1 workers (wall of the whole process): median {statistics.median(ratios):.2f}x, "
          f"per-round {min(ratios):.2f}..{max(ratios):.2f}x**")  # fmt: skip
    calls = [x["wall"] / y["wall"] for x, y in zip(runs[1], runs[2], strict=True)]
    print(f"2 vs 1 workers (wall of the generate_dataset call, without the interpreter and "
          f"imports): median {statistics.median(calls):.2f}x, per-round "
          f"{min(calls):.2f}..{max(calls):.2f}x\n")  # fmt: skip
    print("CPU seconds per run (median over rounds; process CPU time, load-independent):\n")
    print("| | 1 worker | 2 workers |")
    print("|---|---:|---:|")
    rows = [
        ("run's own process, whole (interpreter, imports, checks, its shards, manifests)",
         "parent_total"),
        ("  of it before the first shard (checks, sources, manifest)", "parent_setup"),
        ("spawned worker processes, start to exit", "children"),
        ("start-up of the processes making shards (interpreter, imports, loading)", "start_cpu"),
        ("making shards (generate + write + hash), all processes", "shard_cpu"),
    ]  # fmt: skip
    for label, key in rows:
        print(f"| {label} | {med(1, key):.2f} | {med(2, key):.2f} |")
    total = {w: med(w, "parent_total") + med(w, "children") for w in (1, 2)}
    print(f"| **total CPU** | {total[1]:.2f} | {total[2]:.2f} |")
    if runs[1][0]["processes"]:
        for stage in ("generate", "write"):
            got = {w: statistics.median(sum(p[stage] for p in x["processes"].values())
                                        for x in runs[w]) for w in (1, 2)}  # fmt: skip
            print(f"| of the shards: {stage} | {got[1]:.2f} | {got[2]:.2f} |")
        per = [sorted(int(p["shards"]) for p in x["processes"].values()) for x in runs[2]]
        print(f"\nshards per process in the 2-worker runs: {per}")
    tl = {w: [x.get("timeline") for x in runs[w] if x.get("timeline")] for w in (1, 2)}
    if tl[1] and tl[2] and tl[2][0]["call"] == tl[2][0]["call"]:
        print("\nTimeline (median seconds since the run's process started; wall time, so "
              "load-dependent):\n")  # fmt: skip
        print("| | 1 worker | 2 workers |")
        print("|---|---:|---:|")
        for label, key in (
            ("generate_dataset called (interpreter, imports)", "call"),
            ("its process starts its first shard", "first"),
            ("the spawned worker starts its first shard", "worker"),
            ("one process idle at the end, waiting for the other's last shard", "last_idle"),
            ("from the last shard to the return (manifest, the workers' exit)", "after"),
            ("generate_dataset returns (after the workers exit)", "end"),
        ):
            got = [statistics.median(t.get(key, float("nan")) for t in tl[w]) for w in (1, 2)]
            print(f"| {label} | {got[0]:.3f} | {got[1]:.3f} |")
        print(f"| process ends (as the benchmark saw it) | {med(1, 'process_wall'):.2f} | "
              f"{med(2, 'process_wall'):.2f} |")  # fmt: skip
    work1 = med(1, "shard_cpu")
    if work1 != work1:  # no per-stage figures (an older checkout)
        return
    # Amdahl from the 1-worker run: everything but making shards is serial.
    serial = max(total[1] - work1, 0.0)
    s = serial / total[1]
    extra = max(total[2] - total[1], 0.0)
    bound = total[1] / (serial + (work1 + extra) / 2)
    util = {w: statistics.median((x["parent_total"] + x["children"]) / x["process_wall"]
                                 for x in runs[w]) for w in (1, 2)}  # fmt: skip
    print(f"\nserial CPU (1 worker, not making shards) {serial:.2f} s of {total[1]:.2f} s: "
          f"**serial fraction s = {s:.3f}**; Amdahl's bound for 2 workers "
          f"1 / (s + (1 - s)/2) = **{1 / (s + (1 - s) / 2):.2f}x**")  # fmt: skip
    print(f"parallel overhead: the 2-worker run spends {extra:.2f} CPU s more "
          f"({extra / total[1]:.1%}: worker start-up, contention); with it in the parallel "
          f"part the bound is **{bound:.2f}x** (two idle cores)")  # fmt: skip
    print(f"CPU use (CPU s per wall s, median): 1 worker {util[1]:.2f}, 2 workers {util[2]:.2f} "
          f"(2.0 = both cores; less means waiting, or a busy machine)")  # fmt: skip
    stall = {
        w: statistics.median(x.get("io_stall", float("nan")) for x in runs[w]) for w in (1, 2)
    }
    dirty = {
        w: statistics.median(x.get("dirty_end", float("nan")) for x in runs[w]) for w in (1, 2)
    }
    others = {w: statistics.median(x.get("machine_busy", float("nan")) - x["parent_total"]
                                   - x["children"] for x in runs[w]) for w in (1, 2)}  # fmt: skip
    iowait = {w: statistics.median(x.get("machine_iowait", float("nan")) for x in runs[w])
              for w in (1, 2)}  # fmt: skip
    print(f"machine CPU during a run not spent by the run's processes (kernel threads such as "
          f"the page-cache writeback, other jobs; median CPU-s): 1 worker {others[1]:.2f}, "
          f"2 workers {others[2]:.2f}; CPUs idle waiting for I/O: {iowait[1]:.2f} / "
          f"{iowait[2]:.2f} CPU-s")  # fmt: skip
    print(f"waiting for I/O during a run (machine-wide PSI 'some', median s): 1 worker "
          f"{stall[1]:.2f}, 2 workers {stall[2]:.2f}; dirty + writeback page cache at the end "
          f"of a run: {dirty[1]:,.0f} / {dirty[2]:,.0f} MiB; workers started by: "
          f"{sorted({str(x.get('start_method')) for x in runs[2]})}")  # fmt: skip
    print(f"size {runs[1][-1]['mib']:,.0f} MiB; peak RSS per process making shards: 1 worker "
          f"{max(x['rss'] for x in runs[1]):.0f} MiB, 2 workers "
          f"{max(x['rss'] for x in runs[2]):.0f} MiB")  # fmt: skip


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
        "--compare", metavar="CHECKOUT",
        help="also time another strokeseq checkout (e.g. a worktree of main) in the same rounds",
    )  # fmt: skip
    ap.add_argument(
        "--in-process", action="store_true",
        help="run in this process (MNIST stays loaded between runs) instead of a fresh one",
    )  # fmt: skip
    ap.add_argument(
        "--no-compile", action="store_true",
        help="do not byte-compile the checkouts first (then, with PYTHONDONTWRITEBYTECODE=1 and "
        "no __pycache__, every run compiles strokeseq's modules: ~40 ms CPU per process)",
    )  # fmt: skip
    ap.add_argument(
        "--checksums", action="store_true",
        help="only time checksums of one shard's bytes (45 MB): the manifest's SHA-256 and others",
    )  # fmt: skip
    ap.add_argument(
        "--disk", action="store_true",
        help="only time writing 1 GiB into the output folder (--out): page cache, fsync, O_DIRECT",
    )  # fmt: skip
    ap.add_argument(
        "--write-blocks", action="store_true",
        help="only time making shards with 256 KiB..16 MiB writes to the file (kernel, user CPU)",
    )  # fmt: skip
    a = ap.parse_args()
    if a.data_dir is None and os.environ.get("STROKESEQ_MNIST_DIR"):
        a.data_dir = os.path.abspath(os.environ["STROKESEQ_MNIST_DIR"])
    if a.disk:
        folder = a.out or tempfile.gettempdir()
        os.makedirs(folder, exist_ok=True)
        print(f"MB/s writing 1 GiB in 4 MiB blocks into {folder}, 3 interleaved rounds; "
              f"`uptime`: {_load()}\n")  # fmt: skip
        print("| how | median MB/s | min..max |")
        print("|---|---:|---:|")
        for k, v in disk_rates(folder).items():
            print(f"| {k} | {statistics.median(v):,.0f} | {min(v):,.0f}..{max(v):,.0f} |")
        return
    if a.write_blocks:
        print(f"CPU ms per shard (10 000 samples, 45 MB NPZ) by size of the writes, median of 5 "
              f"interleaved rounds; `uptime`: {_load()}\n")  # fmt: skip
        print("| write size | kernel ms | user ms |")
        print("|---:|---:|---:|")
        for b, v in write_block_costs(a.data_dir).items():
            print(f"| {b >> 10} KiB | {statistics.median(x[0] for x in v):.1f} "
                  f"| {statistics.median(x[1] for x in v):.1f} |")  # fmt: skip
        return
    if a.checksums:
        print(f"CPU ms per 44.8 MB (one shard of 10 000 x 28 x 160), 7 interleaved rounds; "
              f"`uptime`: {_load()}\n")  # fmt: skip
        print("| checksum | median ms | min..max ms | GB/s at the median |")
        print("|---|---:|---:|---:|")
        for k, v in checksum_costs().items():
            med = statistics.median(v)
            print(f"| {k} | {med:.1f} | {min(v):.1f}..{max(v):.1f} | {44.8 / med:.2f} |")
        return
    if a.in_process and a.compare:
        ap.error("--compare needs fresh processes")
    root = a.out or tempfile.mkdtemp(prefix="strokeseq-bench-")
    os.makedirs(root, exist_ok=True)
    fmt = "npz, deflate level 1" if a.compress else "npz"
    objects, vectorised = seeding_cost()
    print(f"per-sample seeding (18 words): SeedSequence objects {objects:.1f} µs, "
          f"vectorised {vectorised:.2f} µs")  # fmt: skip
    print(f"{a.count:,} samples, 5 digits, width 160, MNIST, shards of 10 000, {fmt}; "
          f"{a.rounds} interleaved rounds; {os.cpu_count()} CPUs; "
          f"{'in this process' if a.in_process else 'a fresh process per run'}")  # fmt: skip
    print(f"`uptime` at the start: {_load()}\n")
    versions = {"this checkout": None}
    if a.compare:
        versions = {f"compared: {a.compare}": a.compare, **versions}
    if not a.no_compile:
        # As `pip install` does: a CLI run of an installed package reads .pyc files.
        # (Where PYTHONDONTWRITEBYTECODE is set and there is no __pycache__, every run
        # would compile the package's modules again.)
        import compileall

        import strokeseq

        for code in versions.values():
            pkg = (os.path.join(code, "strokeseq") if code is not None
                   else os.path.dirname(strokeseq.__file__))  # fmt: skip
            compileall.compile_dir(pkg, quiet=1)
        print("byte-compiled the checkouts' strokeseq packages first (as pip install does; "
              "--no-compile: not)")  # fmt: skip
    cases = [(v, w) for v in versions for w in (1, 2)]
    heads = " | ".join(f"{v}, {w} worker{'s' if w > 1 else ''}: s" for v, w in cases)
    print(f"| round | {heads} | " + " | ".join(f"{v}: 2 vs 1" for v in versions)
          + " | load avg after |")  # fmt: skip
    print("|---:|" + "---:|" * (len(cases) + len(versions) + 1))
    runs = {v: {1: [], 2: []} for v in versions}
    ratios: dict[str, list[float]] = {v: [] for v in versions}
    loads = []
    t_start = time.perf_counter()
    for r in range(a.rounds):
        order = cases if r % 2 == 0 else cases[::-1]
        got = {}
        for v, w in order:
            got[v, w] = run(a.count, w, a.compress, root, a.data_dir, not a.in_process,
                            versions[v])  # fmt: skip
            runs[v][w].append(got[v, w])
        loads.append(os.getloadavg()[0])
        for v in versions:
            ratios[v].append(got[v, 1]["process_wall"] / got[v, 2]["process_wall"])
        cells = " | ".join(f"{got[c]['process_wall']:.2f}" for c in cases)
        rat = " | ".join(f"{ratios[v][-1]:.2f}x" for v in versions)
        print(f"| {r + 1} | {cells} | {rat} | {loads[-1]:.1f} |", flush=True)
    elapsed = time.perf_counter() - t_start
    print(f"\n1-min load average after each round: {', '.join(f'{x:.1f}' for x in loads)}; "
          f"`uptime` at the end: {_load()}; the benchmark took {elapsed:.0f} s")  # fmt: skip
    for v in versions:
        _report(v, runs[v], ratios[v])
    if a.compare:
        other, this = list(versions)
        for w in (1, 2):
            per = [x["process_wall"] / y["process_wall"]
                   for x, y in zip(runs[other][w], runs[this][w], strict=True)]  # fmt: skip
            print(f"\nthis checkout vs compared, {w} worker(s), speed-up per round: median "
                  f"{statistics.median(per):.2f}x ({min(per):.2f}..{max(per):.2f})")  # fmt: skip
    if not a.out:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
