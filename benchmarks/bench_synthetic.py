"""Speed of the synthetic digit source, new rasteriser against the former one.

Cases: ``StrokeSource.sample`` with 1, 10 and ``--batch`` labels per call, for
each supersampling factor, and one digit through ``generate_numbers_sequence``.
Each case is timed with the batched rasteriser ("new") and with the former
per-layer one ("old": ``render._rasterise_capsules_reference`` plus the former
``downsample`` and ``shift_images``, kept below) in interleaved rounds, in
alternating order; the table gives medians over rounds and the median and
min..max of the per-round ratios new/old (by CPU time, the robust figure on a
shared machine; wall-clock digits/s are given too). It also measures how far
the new images are from the old ones (``--look`` digits per factor)::

    python benchmarks/bench_synthetic.py [--rounds 5] [--batch 10000] [--factors 1 2 3 4]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import Callable, Iterator

import numpy as np

from strokeseq import generate_numbers_sequence
from strokeseq.sources.stroke import StrokeSource, render

#: Digits per second of the public Kaggle notebook implementation of this stroke
#: method (a Python loop per pixel on a 280x280 canvas), measured on this machine
#: on 2026-11-22 (README, "Synthetic digits: speed"); not re-run here.
KAGGLE_DIGITS_PER_S = 1.5


def _old_downsample(canvas: np.ndarray, factor: int) -> np.ndarray:
    """The former ``render.downsample`` (a reshape and a two-axis sum)."""
    if factor == 1:
        return np.ascontiguousarray(canvas, dtype=np.float32)
    n, h, w = canvas.shape
    blocks = canvas.reshape(n, h // factor, factor, w // factor, factor)
    out = blocks.sum(axis=(2, 4), dtype=np.float32)
    out *= np.float32(1.0 / (factor * factor))
    return out


def _old_shift_images(images: np.ndarray, dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    """The former ``render.shift_images`` (a padded copy and a window gather)."""
    from numpy.lib.stride_tricks import sliding_window_view

    n, h, w = images.shape
    dy = np.asarray(dy, np.int64)
    dx = np.asarray(dx, np.int64)
    m = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    if m == 0:
        return images.copy()
    m = min(m, max(h, w))
    dy, dx = np.clip(dy, -m, m), np.clip(dx, -m, m)
    padded = np.zeros((n, h + 2 * m, w + 2 * m), images.dtype)
    padded[:, m : m + h, m : m + w] = images
    windows = sliding_window_view(padded, (h, w), axis=(1, 2))
    return windows[np.arange(n), m - dy, m - dx]


_NEW = {
    "rasterise_capsules": render.rasterise_capsules,
    "downsample": render.downsample,
    "shift_images": render.shift_images,
}
_OLD = {
    "rasterise_capsules": render._rasterise_capsules_reference,
    "downsample": _old_downsample,
    "shift_images": _old_shift_images,
}


@contextlib.contextmanager
def renderer(which: str) -> Iterator[None]:
    """Make ``StrokeSource`` draw with the old or the new functions of ``render``."""
    for k, f in (_OLD if which == "old" else _NEW).items():
        setattr(render, k, f)
    try:
        yield
    finally:
        for k, f in _NEW.items():
            setattr(render, k, f)


def timed(fn: Callable[[int], object], calls: int) -> tuple[float, float]:
    """(wall, CPU) seconds of ``calls`` calls ``fn(i)``."""
    t, c = time.perf_counter(), time.process_time()
    for i in range(calls):
        fn(i)
    return time.perf_counter() - t, time.process_time() - c


def cases(factors: list[int], batch: int) -> list[tuple[str, int, int, Callable[[int], object]]]:
    """(name, digits per call, calls per round, fn) for every case."""
    out = []
    default = StrokeSource().supersample
    for ss in factors:
        src = StrokeSource(supersample=ss)
        src.sample([1], rng=0)  # glyph compilation outside the timings
        for per_call, calls in ((1, 100), (10, 30), (batch, 1)):
            labels = np.arange(per_call) % 10
            out.append(
                (f"ss={ss} {per_call}/call", per_call, calls, _sampler(src, labels)),
            )
        if ss == default:
            out.append((f"ss={ss} API 1 digit", 1, 100, _api(src)))
    return out


def _sampler(src: StrokeSource, labels: np.ndarray) -> Callable[[int], object]:
    return lambda i: src.sample(labels, rng=i)


def _api(src: StrokeSource) -> Callable[[int], object]:
    return lambda i: generate_numbers_sequence([i % 10], (0, 0), 28, source=src, rng=i)


def look_difference(ss: int, n: int) -> tuple[float, float, int]:
    """Per-digit max and mean |new - old| over ``n`` digits: (max of max, mean of mean, #differing)."""
    src = StrokeSource(supersample=ss)
    labels = np.arange(n) % 10
    with renderer("new"):
        new = src.sample(labels, rng=2026)
    with renderer("old"):
        old = src.sample(labels, rng=2026)
    diff = np.abs(new.astype(np.float64) - old).reshape(n, -1)
    return float(diff.max()), float(diff.mean()), int((diff.max(axis=1) > 0).sum())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--batch", type=int, default=10000, help="labels per call, batched case")
    ap.add_argument("--factors", type=int, nargs="+", default=[1, 2, 3, 4])
    ap.add_argument("--look", type=int, default=3000, help="digits compared per factor")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()
    all_cases = cases(args.factors, args.batch)
    rates: dict[str, dict[str, list[float]]] = {c[0]: {} for c in all_cases}
    for r in range(args.rounds):
        for name, per_call, calls, fn in all_cases:
            order = ("old", "new") if (r % 2 == 0) else ("new", "old")
            for which in order:
                with renderer(which):
                    wall, cpu = timed(fn, calls)
                d = rates[name]
                d.setdefault(f"{which} wall", []).append(per_call * calls / wall)
                d.setdefault(f"{which} cpu", []).append(per_call * calls / cpu)
    load1 = os.getloadavg()
    print(
        f"StrokeSource, {args.rounds} interleaved rounds, 1 process, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs; load average {load0[0]:.1f} at start, {load1[0]:.1f} at end "
        "(shared machine)\n"
    )
    print(
        "| case | new digits/s (CPU) | new digits/s (wall) | old digits/s (CPU) "
        "| new/old (CPU), median | min..max |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, _per_call, _calls, _fn in all_cases:
        d = rates[name]
        ratio = np.array(d["new cpu"]) / np.array(d["old cpu"])
        new_cpu = np.median(d["new cpu"])
        extra = f" ({1e3 / new_cpu:.2f} ms/digit)" if "API" in name else ""
        print(
            f"| {name}{extra} | {new_cpu:,.0f} | {np.median(d['new wall']):,.0f} "
            f"| {np.median(d['old cpu']):,.0f} | {np.median(ratio):.2f}× "
            f"| {ratio.min():.2f}..{ratio.max():.2f} |"
        )
    default = StrokeSource().supersample
    key = f"ss={default} {args.batch}/call"
    if key in rates:
        best = np.median(rates[key]["new cpu"])
        print(
            f"\nBatched at the default supersample: {best / KAGGLE_DIGITS_PER_S:,.0f}× the Kaggle "
            f"notebook's {KAGGLE_DIGITS_PER_S} digits/s (measured 2026-11-22, not in this run)."
        )
    if args.look:
        print(
            f"\nLook: |new - old| per digit over {args.look} digits (same seed), ink in [0, 1]\n"
        )
        print("| supersample | max | mean | digits differing at all |")
        print("|---:|---:|---:|---:|")
        for ss in args.factors:
            mx, mean, count = look_difference(ss, args.look)
            print(f"| {ss} | {mx:.2g} | {mean:.2g} | {count} of {args.look} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
