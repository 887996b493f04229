"""Speed of the synthetic digit source (issue #12), in interleaved rounds.

Cases, for each stroke model (the fitted default and the glyphs) and
supersampling factor: ``StrokeSource.sample`` with ``--per-call`` (default 1
and 10) and ``--batch`` (default 10 000) labels per call, and one digit through
the API (``generate_numbers_sequence("5", (0, 0), 28, source=...)``). Every
case is timed once per round against yardsticks timed in the same round, in
alternating order, and the tables give the median rates over rounds and the
median and min..max of the **per-round** ratios, with the load average and the
CPU time the hypervisor gave to other guests (steal) during the run (the
machine may be shared: read the ratios). Rates are digits per CPU-second of
the process (user + system; the robust figure on a shared machine) and per
wall-second; the system share is printed (page faults of fresh memory).
With both models, a second table gives the per-round time ratio fitted /
glyphs of every case (issue #8: the fitted model no slower than the glyphs).

This is the one timing benchmark of ``StrokeSource``: ``bench_stroke_model.py``
runs it with ``--against none`` (see there). Two runs of it at different
times on the quiet machine differed 1.2-1.6x in absolute rates with the same
ratios (2026-11-29, 08:55 and 09:21 UTC): compare figures of one run only.

Yardsticks:

* ``--against old`` (default): the former per-layer pipeline in the same process
  (``render_reference.rasterise_capsules_reference`` and the former ``shift_images`` and
  ``downsample``, kept below), which also checks that the images are the same
  bit for bit (``--look`` digits per factor and model).
* ``--against none``: no yardstick (the fitted / glyphs table only).
* ``--compare PATH``: another checkout of strokeseq (e.g. a git worktree of
  ``main``): this script runs the cases in a subprocess on each checkout,
  alternately, every round (before/after of a branch).
* The per-pixel Python loop (``--loop-digits``, default 1 per round): the same
  capsules drawn by a pure-Python loop over the pixels of a 280x280 canvas,
  then box-filtered to 28x28. It stands in for the public notebook the
  project's speed target names (a Python loop per pixel on a 280x280 canvas,
  ~1.5 digits/s here on 2026-11-22), whose code is not in the repository.

Commands::

    python benchmarks/bench_synthetic.py --rounds 7
    python benchmarks/bench_synthetic.py --rounds 7 --compare ../main --look 0
    python benchmarks/bench_synthetic.py --rounds 7 --against none --per-call 10 1000
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np

from strokeseq import generate_numbers_sequence
from strokeseq.sources.stroke import StrokeSource, render

try:  # the reference rasteriser's home since the render module was split
    from strokeseq.sources.stroke.canvas import centre_of_mass
    from strokeseq.sources.stroke.render_reference import rasterise_capsules_reference
except ImportError:  # a checkout from before the split (--compare)
    centre_of_mass = render.centre_of_mass
    rasterise_capsules_reference = render._rasterise_capsules_reference

#: Digits per second of the public notebook (a Python loop per pixel on a
#: 280x280 canvas), measured on this machine on 2026-11-22; its code is not in
#: the repository, so it cannot be re-run (see the per-pixel loop instead).
NOTEBOOK_DIGITS_PER_S = 1.5


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


def _old_draw_centred(a, b, ra, rb, valid, factor, soft, target, tile=28, *, step=1):
    """The former pipeline after the geometry: per-layer raster, shift copy, sum.

    ``step``: moves by multiples of ``step`` canvas pixels (``placement="mnist"``).
    """
    canvas = rasterise_capsules_reference(a, b, ra, rb, valid, tile * factor, soft)
    cy, cx = centre_of_mass(canvas)
    dy = step * np.rint((target - cy) / step).astype(np.int64)
    dx = step * np.rint((target - cx) / step).astype(np.int64)
    if np.any(dy) or np.any(dx):
        canvas = _old_shift_images(canvas, dy, dx)
    return _old_downsample(canvas, factor)


_NEW = getattr(render, "draw_centred", None)  # None in a checkout from before it


@contextlib.contextmanager
def renderer(which: str) -> Iterator[None]:
    """Make ``StrokeSource`` draw with the former (``old``) or the current pipeline."""
    render.draw_centred = _old_draw_centred if which == "old" else _NEW
    try:
        yield
    finally:
        render.draw_centred = _NEW


# -- the per-pixel Python loop ------------------------------------------------------------


def loop_digit(src: StrokeSource, label: int, seed: int, side: int = 280) -> np.ndarray:
    """One digit drawn by a pure-Python loop over the pixels of a ``side`` canvas.

    The capsules are the ones ``src`` draws (same geometry); every pixel takes
    the ``max`` ink over all capsules (``math`` only, no NumPy in the loop),
    then the canvas is box-filtered to 28x28. A stand-in for a per-pixel
    notebook implementation, not a copy of one.
    """
    caps: list = []

    def catch(a, b, ra, rb, valid, factor, soft, target, tile=28, *, step=1):
        caps.append(
            (
                a[0].reshape(-1, 2),
                b[0].reshape(-1, 2),
                0.5 * (ra[0] + rb[0]).reshape(-1),
                valid[0].reshape(-1),
                factor,
                soft,
            )
        )
        return np.zeros((a.shape[0], tile, tile), np.float32)

    render.draw_centred = catch
    try:
        src.sample([label], rng=seed)
    finally:
        render.draw_centred = _NEW
    a, b, r, valid, factor, soft = caps[0]
    z = side / (28 * factor)  # loop-canvas pixels per source-canvas pixel
    segs = [
        (float(a[c, 0] * z), float(a[c, 1] * z), float(b[c, 0] * z), float(b[c, 1] * z), r[c] * z)
        for c in range(valid.size)
        if valid[c] and r[c] > 0
    ]
    canvas = [[0.0] * side for _ in range(side)]
    for i in range(side):
        py = i + 0.5
        row = canvas[i]
        for j in range(side):
            px = j + 0.5
            best = 0.0
            for ax, ay, bx, by, rc in segs:
                ux, uy = bx - ax, by - ay
                l2 = ux * ux + uy * uy
                t = 0.0 if l2 == 0 else min(1.0, max(0.0, ((px - ax) * ux + (py - ay) * uy) / l2))
                d = math.hypot(px - ax - t * ux, py - ay - t * uy)
                ink = min(1.0, max(0.0, (rc - d) / (soft * rc)))
                if ink > best:
                    best = ink
            row[j] = best
    f = side // 28
    img = np.array(canvas, np.float32).reshape(28, f, 28, f).mean(axis=(1, 3))
    return img


# -- cases ----------------------------------------------------------------------------------


def timed(fn: Callable[[int], object], calls: int) -> tuple[float, float, float]:
    """(wall, user CPU, system CPU) seconds of ``calls`` calls ``fn(i)``.

    ``getrusage`` (microseconds) rather than ``os.times`` (10 ms ticks: too
    coarse for a round of small calls).
    """
    t, c = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
    for i in range(calls):
        fn(i)
    d = resource.getrusage(resource.RUSAGE_SELF)
    return time.perf_counter() - t, d.ru_utime - c.ru_utime, d.ru_stime - c.ru_stime


def calls_per_round(per_call: int, most: int = 200) -> int:
    """Calls of a case per round: about 400 digits (``most`` single calls), at least one call."""
    return max(1, min(most, 400 // per_call))


def cases(
    models: list[str],
    factors: list[int],
    per_call: list[int],
    api: bool = True,
    most: int = 200,
) -> list[tuple[str, int, int, Callable[[int], object]]]:
    """(name, digits per call, calls per round, fn) for every case."""
    out = []
    for model in models:
        for ss in factors:
            src = StrokeSource(model, supersample=ss)
            src.sample(np.arange(20) % 10, rng=0)  # loading and first-call costs outside
            for k in per_call:
                labels = np.arange(k) % 10
                out.append(
                    (
                        f"{model} ss={ss} {k}/call",
                        k,
                        calls_per_round(k, most),
                        _sampler(src, labels),
                    )
                )
        if api:  # one digit through the API, with the model's default options
            api_src = "synthetic" if model == "fitted" else StrokeSource(model)
            generate_numbers_sequence("5", (0, 0), 28, source=api_src, rng=0)
            out.append((f"{model} API 1 digit (defaults)", 1, most, _api(api_src)))
    return out


def _sampler(src: StrokeSource, labels: np.ndarray) -> Callable[[int], object]:
    return lambda i: src.sample(labels, rng=i)


def _api(src) -> Callable[[int], object]:
    return lambda i: generate_numbers_sequence("5", (0, 0), 28, source=src, rng=i)


def look_difference(model: str, ss: int, n: int) -> tuple[float, int]:
    """Max |new - old| over ``n`` digits (same seed), and how many digits differ at all."""
    src = StrokeSource(model, supersample=ss)
    labels = np.arange(n) % 10
    with renderer("new"):
        new = src.sample(labels, rng=2026)
    with renderer("old"):
        old = src.sample(labels, rng=2026)
    diff = np.abs(new.astype(np.float64) - old).reshape(n, -1)
    return float(diff.max()), int((diff.max(axis=1) > 0).sum())


def _run_worker(path: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """Time every case once in a subprocess importing strokeseq from ``path``."""
    env = dict(os.environ, PYTHONPATH=os.path.abspath(path))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--batch", str(args.batch)]
    cmd += ["--models", *args.models, "--factors", *map(str, args.factors)]
    cmd += ["--per-call", *map(str, args.per_call), "--max-calls", str(args.max_calls)]
    cmd += [] if args.api else ["--no-api"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _cpu_ticks() -> tuple[int, int]:
    """(all, steal) CPU ticks of the machine so far (Linux /proc/stat; zeros elsewhere)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0, 0
    return sum(v[:8]), v[7] if len(v) > 7 else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--batch", type=int, default=10000, help="labels per call, batched case")
    ap.add_argument(
        "--per-call", type=int, nargs="+", default=[1, 10], help="labels per call, small cases"
    )
    ap.add_argument("--models", nargs="+", default=["fitted", "glyphs"])
    ap.add_argument("--factors", type=int, nargs="+", default=[3])
    ap.add_argument("--no-api", dest="api", action="store_false", help="skip the API case")
    ap.add_argument(
        "--against",
        choices=["old", "none"],
        default="old",
        help="yardstick in the same rounds: the former per-layer pipeline, or none",
    )
    ap.add_argument("--look", type=int, default=3000, help="digits compared per factor and model")
    ap.add_argument("--compare", metavar="PATH", help="another checkout to time (subprocesses)")
    ap.add_argument("--loop-digits", type=int, default=1, help="per-pixel loop digits per round")
    ap.add_argument("--max-calls", type=int, default=200, help="most calls of a case per round")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    per_call = sorted(set(args.per_call + ([args.batch] if args.batch else [])))
    args.per_call = [k for k in per_call if k != args.batch]
    all_cases = cases(args.models, args.factors, per_call, args.api, args.max_calls)
    if args.worker:  # one timing of every case, as JSON: {name: [wall, user, sys, digits]}
        res = {}
        for name, k, calls, fn in all_cases:
            wall, user, system = timed(fn, calls)
            res[name] = [wall, user, system, k * calls]
        print(json.dumps(res))
        return 0
    if args.compare:
        variants = ["new", "compare"]
    else:
        variants = ["new", "old"] if args.against == "old" else ["new"]
    other = {"new": None, "compare": "compare", "old": "old"}[variants[-1]]
    loop_src = StrokeSource(supersample=3)
    load0, ticks0, wall0 = _load(), _cpu_ticks(), time.perf_counter()
    # rates[case][variant clock] per round; sys_share[case]: system / (user + system)
    rates: dict[str, dict[str, list[float]]] = {c[0]: {} for c in all_cases}
    times: dict[str, list[float]] = {c[0]: [] for c in all_cases}  # new, CPU s per digit
    sys_share: dict[str, list[float]] = {c[0]: [] for c in all_cases}
    loop_rates: list[float] = []
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for r in range(args.rounds):
        order = variants if r % 2 == 0 else variants[::-1]
        # Alternate the order of the cases too, so that no model always runs first.
        run_cases = all_cases if r % 2 == 0 else all_cases[::-1]
        for which in order:
            if args.compare:  # both checkouts in subprocesses, in this round's order
                got = _run_worker(args.compare if which == "compare" else here, args)
                for name, (wall, user, system, digits) in got.items():
                    rates[name].setdefault(f"{which} wall", []).append(digits / wall)
                    rates[name].setdefault(f"{which} cpu", []).append(digits / (user + system))
                    if which == "new":
                        times[name].append((user + system) / digits)
                        sys_share[name].append(system / max(user + system, 1e-9))
                continue
            for name, k, calls, fn in run_cases:
                with renderer(which):
                    wall, user, system = timed(fn, calls)
                d = rates[name]
                d.setdefault(f"{which} wall", []).append(k * calls / wall)
                d.setdefault(f"{which} cpu", []).append(k * calls / (user + system))
                if which == "new":
                    times[name].append((user + system) / (k * calls))
                    sys_share[name].append(system / max(user + system, 1e-9))
        if args.loop_digits:
            c = time.process_time()
            for i in range(args.loop_digits):
                loop_digit(loop_src, i % 10, r * 100 + i)
            loop_rates.append(args.loop_digits / (time.process_time() - c))
    load1, ticks1 = _load(), _cpu_ticks()
    steal = (ticks1[1] - ticks0[1]) / max(ticks1[0] - ticks0[0], 1)
    label = {
        "compare": f"`{args.compare}`",
        "old": "former per-layer pipeline",
        None: "none",
    }[other]
    print(
        f"StrokeSource, {args.rounds} interleaved rounds, numpy {np.__version__}, "
        f"{os.cpu_count()} CPUs; load average {load0} at start, {load1} at end "
        f"(shared machine); steal {100 * steal:.1f} % of the machine's CPU time over "
        f"{time.perf_counter() - wall0:.0f} s; yardstick: {label}\n"
    )
    head = "| case | digits/s (CPU) | digits/s (wall) | system share of CPU |"
    rule = "|---|---:|---:|---:|"
    if other:
        head += f" {other} digits/s (CPU) | speed-up vs {other} (CPU), median | min..max |"
        rule += "---:|---:|---:|"
    print(head)
    print(rule)
    for name, _k, _calls, _fn in all_cases:
        d = rates[name]
        new_cpu = np.median(d["new cpu"])
        extra = f" ({1e3 / new_cpu:.3f} ms/digit)" if name.endswith((" 1/call", "digit")) else ""
        line = (
            f"| {name}{extra} | {new_cpu:,.0f} | {np.median(d['new wall']):,.0f} "
            f"| {100 * np.median(sys_share[name]):.0f} % |"
        )
        if other:
            ratio = np.array(d["new cpu"]) / np.array(d[f"{other} cpu"])
            line += (
                f" {np.median(d[f'{other} cpu']):,.0f} | {np.median(ratio):.2f}× "
                f"| {ratio.min():.2f}..{ratio.max():.2f} |"
            )
        print(line)
    if {"fitted", "glyphs"} <= set(args.models):
        print(
            "\nFitted model against the glyphs (issue #8): CPU time per digit, "
            "fitted / glyphs, per round (below 1: fitted faster)\n"
        )
        print("| case | fitted / glyphs time, median | min..max |")
        print("|---|---:|---:|")
        for name, *_ in all_cases:
            if name.startswith("fitted "):
                twin = "glyphs " + name[len("fitted ") :]
                if twin not in times:
                    continue
                q = np.array(times[name]) / np.array(times[twin])
                print(
                    f"| {name[len('fitted ') :]} | {np.median(q):.2f} | {q.min():.2f}..{q.max():.2f} |"
                )
        # Each model at its own default supersampling (the fitted model 2, the glyphs 3).
        df, dg = StrokeSource("fitted").supersample, StrokeSource("glyphs").supersample
        for name, *_ in all_cases:
            if name.startswith(f"fitted ss={df} ") and df != dg:
                rest = name[len(f"fitted ss={df} ") :]
                twin = f"glyphs ss={dg} {rest}"
                if times.get(twin):
                    q = np.array(times[name]) / np.array(times[twin])
                    print(
                        f"| defaults (ss={df} / ss={dg}) {rest} | {np.median(q):.2f} "
                        f"| {q.min():.2f}..{q.max():.2f} |"
                    )
    if len(args.factors) > 1 and 3 in args.factors:
        print(
            "\nSupersample against factor 3 (the quality/speed knob): CPU time per "
            "digit, factor f / factor 3, per round (below 1: faster)\n"
        )
        print("| case | f / 3 time, median | min..max |")
        print("|---|---:|---:|")
        for name, *_ in all_cases:
            model, ss, rest = name.split(" ", 2)
            twin = f"{model} ss=3 {rest}"
            if ss != "ss=3" and twin in times:
                q = np.array(times[name]) / np.array(times[twin])
                print(f"| {name} | {np.median(q):.2f} | {q.min():.2f}..{q.max():.2f} |")
    if loop_rates:
        lr = np.array(loop_rates)
        print(
            f"\nPer-pixel Python loop (280x280 canvas, fitted model): {np.median(lr):.2f} digits/s "
            f"(CPU; {lr.min():.2f}..{lr.max():.2f}); the notebook measured 2026-11-22: "
            f"{NOTEBOOK_DIGITS_PER_S} digits/s.\n"
        )
        print("| batched case | × the per-pixel loop (CPU), median | min..max of rounds |")
        print("|---|---:|---:|")
        for name, *_ in all_cases:
            if name.endswith(f" {args.batch}/call"):
                q = np.array(rates[name]["new cpu"]) / lr
                print(f"| {name} | {np.median(q):,.0f}× | {q.min():,.0f}..{q.max():,.0f} |")
    if args.look and not args.compare:
        print(f"\nLook: |new - old| over {args.look} digits per row (same seed)\n")
        print("| model | supersample | max difference | digits differing at all |")
        print("|---|---:|---:|---:|")
        for model in args.models:
            for ss in args.factors:
                mx, count = look_difference(model, ss, args.look)
                print(f"| {model} | {ss} | {mx:.2g} | {count} of {args.look} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
