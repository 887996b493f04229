"""Drawing cost of the fitted stroke model against the hand-made glyphs (issue #8).

Times ``StrokeSource(model).sample`` for both models in interleaved rounds
with the timing code of ``bench_synthetic.py`` (one benchmark, one clock:
digits per CPU-second, and the per-round time ratio fitted / glyphs, median
and min..max, with the load average and steal)::

    python benchmarks/bench_stroke_model.py --rounds 7 --sizes 10 1000 10000

is ``bench_synthetic.py --against none --look 0 --loop-digits 0 --no-api
--factors 2 3`` with those labels per call (its "defaults" rows compare each
model at its own default supersampling). (It used to keep its own loop on the wall clock,
which is why its figures and bench_synthetic's were compared as if they
disagreed: see docs/synthetic.md, Speed.)

``--sheet FILE`` instead draws the allograph sheet of the docs (each
allograph's mean, ``variety=0``, one row per digit by frequency)::

    python benchmarks/bench_stroke_model.py --sheet docs/stroke_model_allographs.png
"""

from __future__ import annotations

import argparse
import os
import sys

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
    p.add_argument("--max-calls", type=int, default=200, help="most calls of a case per round")
    args = p.parse_args()
    if args.sheet:
        allograph_sheet(args.sheet)
        return
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import bench_synthetic

    sizes = sorted(args.sizes)
    opts = ["--rounds", str(args.rounds), "--against", "none", "--look", "0", "--loop-digits", "0"]
    opts += ["--no-api", "--models", "fitted", "glyphs", "--batch", str(sizes[-1])]
    opts += ["--per-call", *map(str, sizes[:-1] or sizes), "--max-calls", str(args.max_calls)]
    # Both factors: the models compared at the same one, and each at its own
    # default (since session 6 the fitted model draws at 2, the glyphs at 3).
    opts += ["--factors", "2", "3"]
    bench_synthetic.main(opts)


if __name__ == "__main__":
    main()
