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


def bench(ss: int, n: int, repeat: int, jitter: float | None) -> float:
    """Best digits/s over ``repeat`` batched draws of ``n`` digits."""
    src = (
        StrokeSource(supersample=ss)
        if jitter is None
        else StrokeSource(supersample=ss, jitter=jitter)
    )
    labels = np.arange(n) % 10
    src.sample(labels[:100], rng=0)  # warm-up: glyph loading and compilation
    best = np.inf
    for r in range(repeat):
        t = time.perf_counter()
        src.sample(labels, rng=r)
        best = min(best, time.perf_counter() - t)
    return n / best


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
    print("| supersample | canvas | digits/s | µs/digit |")
    print("|---:|---:|---:|---:|")
    for ss in args.factors:
        rate = bench(ss, args.n, args.repeat, args.jitter)
        mark = " (default)" if ss == default else ""
        print(f"| {ss}{mark} | {28 * ss}×{28 * ss} | {rate:,.0f} | {1e6 / rate:.0f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
