"""Speed of the synthetic digit source: digits per second, batched, one process.

Prints a Markdown table with one row per supersampling factor: digits/s for a
batch of ``--n`` digits (best of ``--repeat`` runs, after a warm-up) and the
time per digit. Run it on an otherwise idle machine::

    python benchmarks/bench_synthetic.py [--n 4000] [--repeat 3] [--factors 1 2 3 4]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from strokeseq.sources.stroke import StrokeSource


def bench(ss: int, n: int, repeat: int, jitter: float | None) -> tuple[float, float]:
    """Best digits/s over ``repeat`` batched draws of ``n`` digits: (wall clock, CPU time).

    The CPU-time rate is what one process achieves on an idle core; it is the
    robust figure on a shared machine, where the wall-clock rate also measures
    the neighbours.
    """
    src = (
        StrokeSource(supersample=ss)
        if jitter is None
        else StrokeSource(supersample=ss, jitter=jitter)
    )
    labels = np.arange(n) % 10
    src.sample(labels[:100], rng=0)  # warm-up: glyph loading and compilation
    best, best_cpu = np.inf, np.inf
    for r in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        src.sample(labels, rng=r)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return n / best, n / best_cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=4000, help="digits per batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 2, 3, 4, 6])
    ap.add_argument("--jitter", type=float, default=None, help="default: the source's default")
    args = ap.parse_args(argv)
    default = StrokeSource().supersample
    print(
        f"StrokeSource, batches of {args.n} digits, best of {args.repeat}, "
        f"1 process ({os.cpu_count()} CPUs visible), numpy {np.__version__}\n"
    )
    try:
        load = " (load average {:.1f} {:.1f} {:.1f})".format(*os.getloadavg())
    except OSError:
        load = ""
    print(f"digits/s by wall clock and per CPU-second{load}\n")
    print("| supersample | canvas | digits/s (wall) | digits/s (CPU) | µs/digit (CPU) |")
    print("|---:|---:|---:|---:|---:|")
    for ss in args.factors:
        rate, cpu = bench(ss, args.n, args.repeat, args.jitter)
        mark = " (default)" if ss == default else ""
        print(f"| {ss}{mark} | {28 * ss}×{28 * ss} | {rate:,.0f} | {cpu:,.0f} | {1e6 / cpu:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
