"""Drawing cost of the fitted stroke model against the hand-made glyphs (issue #8).

Times ``StrokeSource(model).sample`` for both models in interleaved rounds
(same process, same labels, alternating order) and reports, per batch size,
digits per second (median) and the per-round ratio fitted / glyphs (median,
min..max) with the load average::

    python benchmarks/bench_stroke_model.py --rounds 7 --sizes 10 1000 10000

``--sheet FILE`` instead draws the allograph sheet of the docs (each
allograph's mean, ``variety=0``, one row per digit by frequency)::

    python benchmarks/bench_stroke_model.py --sheet docs/stroke_model_allographs.png
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from strokeseq import StrokeSource


def allograph_sheet(out: str, model: str = "fitted", scale: int = 2) -> None:
    """Draw every allograph's mean (no noise) in rows by digit, frequency under each."""
    import dataclasses

    from PIL import Image, ImageDraw

    from strokeseq.sources.stroke.sampler import draw_fitted

    src = StrokeSource(model, variety=0.0, pressure=0.0)
    m = src.fitted
    n_a = len(m.names)
    forced = dataclasses.replace(
        m, choice_cdf=np.ones((n_a, 1)), choice_ids=np.arange(n_a)[:, None]
    )
    p = draw_fitted(forced, np.arange(n_a), np.random.default_rng(0), src._options())
    ink = src._draw_from(m.digit, p).ink
    rows = [np.flatnonzero(m.digit == d) for d in range(10)]
    rows = [r[np.argsort(-m.frequency[r], kind="stable")] for r in rows]
    cell_w, cell_h = 28 * scale + 8, 28 * scale + 14
    sheet = Image.new("L", (cell_w * max(len(r) for r in rows), cell_h * 10), 255)
    draw = ImageDraw.Draw(sheet)
    for d, r in enumerate(rows):
        for j, a in enumerate(r):
            tile = Image.fromarray((255 - 255 * ink[a]).astype(np.uint8))
            sheet.paste(tile.resize((28 * scale, 28 * scale)), (j * cell_w + 4, d * cell_h))
            text = f"{100 * m.frequency[a]:.0f}%"
            draw.text((j * cell_w + 4, d * cell_h + 28 * scale), text, fill=0)
    sheet.save(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 1000, 10000])
    p.add_argument("--sheet", default=None, help="draw the allograph sheet to this PNG instead")
    args = p.parse_args()
    if args.sheet:
        allograph_sheet(args.sheet)
        return
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
