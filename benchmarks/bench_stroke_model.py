"""Drawing cost of the fitted stroke model against the hand-made glyphs (issue #8).

Times ``StrokeSource(model).sample`` for both models in interleaved rounds
(same process, same labels, alternating order) and reports, per batch size,
digits per second (median) and the per-round ratio fitted / glyphs (median,
min..max) with the load average::

    python benchmarks/bench_stroke_model.py --rounds 7 --sizes 10 1000 10000
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from strokeseq import StrokeSource


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    args = p.parse_args()
    sources = {"glyphs": StrokeSource("glyphs"), "fitted": StrokeSource("fitted")}
    for src in sources.values():
        src.sample(np.arange(20) % 10, rng=0)  # load and warm up
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(
        "| labels per call | glyphs digits/s | fitted digits/s | fitted/glyphs time, median (min..max) |"
    )
    print("| ---: | ---: | ---: | ---: |")
    for n in args.sizes:
        labels = np.arange(n) % 10
        calls = max(1, 2000 // n)
        rates: dict[str, list[float]] = {k: [] for k in sources}
        ratios = []
        for r in range(args.rounds):
            t = {}
            order = list(sources) if r % 2 == 0 else list(sources)[::-1]
            for name in order:
                t0 = time.perf_counter()
                for c in range(calls):
                    sources[name].sample(labels, rng=c)
                t[name] = time.perf_counter() - t0
                rates[name].append(n * calls / t[name])
            ratios.append(t["fitted"] / t["glyphs"])
        q = np.array(ratios)
        print(
            f"| {n} | {np.median(rates['glyphs']):.0f} | {np.median(rates['fitted']):.0f} | "
            f"{np.median(q):.2f} ({q.min():.2f}..{q.max():.2f}) |"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
