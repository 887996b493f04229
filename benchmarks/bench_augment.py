"""Speed of the augmentation transforms against per-digit SciPy/NumPy loops, in interleaved rounds.

    python benchmarks/bench_augment.py [--rounds 7] [--sizes 1,3,10,100,1000]
        [--only affine,blur] [--quick] [--baseline DIR]

(``benchmarks/`` is not a package: run it from the repository root.)

For every case and batch size, each round times our batched call, the
per-digit reference loop and (with ``--baseline``) the same call of another
copy of the package, one after the other (the order rotates between rounds),
on the same digits, so all see the same machine load. Reported: the
per-digit wall time of each (median over rounds), and the per-round ratios
reference / ours and baseline / ours (> 1: ours is faster) as median and
min..max; for the reference also in CPU time of the process (all threads;
less sensitive to other processes on a shared machine, but it counts our
thread pool's work on large batches too). The machine load
(``os.getloadavg``) is printed before and after: on a shared machine only
the same-round ratios mean much.

``--baseline DIR`` loads ``DIR/strokeseq`` (e.g. an exported older commit:
``mkdir /tmp/base && git archive main strokeseq | tar -x -C /tmp/base``)
under another module name, so "before" and "after" run in the same rounds.

References (what a plain per-digit port does; SciPy where it has the operation):

- elastic: ``gaussian_filter`` on two uniform(-1, 1) fields (``mode="constant"``),
  times alpha, then ``map_coordinates(order=1)``;
- affine: ``affine_transform(order=1)`` with the same per-digit matrix;
- stroke_width 1 / -1: ``grey_dilation`` / ``grey_erosion`` with the 4-neighbour
  cross (our output is identical); 0.5: the dilation blended half and half
  with the digit (our fractional radius);
- stroke_width U(0.05, 1) per call: the cross dilation blended with the digit
  by the drawn fraction (our fractional radius), a new radius every call;
- blur: ``gaussian_filter(sigma, truncate=3)``; "per call": a new sigma every
  call, drawn uniformly in [0.3, 1] (what a pipeline does; nothing cached by
  value helps either side);
- noise: ``clip(x + std * standard_normal)`` per digit (NumPy);
- broken_strokes: per digit, ``cuts`` random ink pixels, the distance to the
  nearest on the grid, the soft disk multiplied in (NumPy);
- renormalize_mnist: per digit, the ink box from ``np.nonzero``,
  ``center_of_mass`` and ``affine_transform(order=1)`` (SciPy).

Digits are real MNIST test digits when STROKESEQ_MNIST_DIR is set, else
random blobs (the kernels' speed does not depend on the content). Lines (for
the sequence transforms) are 28 x 200.
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import importlib.util
import itertools
import os
import platform
import statistics
import sys
import time

import numpy as np
import scipy
from scipy import ndimage

from strokeseq import augment as A

ALPHA, SIGMA = 34.0, 4.0
_GY, _GX = np.mgrid[0:28, 0:28].astype(np.float32)


# -- per-digit references -------------------------------------------------------------------


def scipy_elastic(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    y, x = np.mgrid[0:28, 0:28]
    out = np.empty_like(ink)
    for i in range(len(ink)):
        dx = ndimage.gaussian_filter(rng.random((28, 28)) * 2 - 1, SIGMA, mode="constant") * ALPHA
        dy = ndimage.gaussian_filter(rng.random((28, 28)) * 2 - 1, SIGMA, mode="constant") * ALPHA
        out[i] = ndimage.map_coordinates(ink[i], [y + dy, x + dx], order=1)
    return out


def _affine_matrix(rot: float, shear: float) -> tuple[np.ndarray, np.ndarray]:
    """Inverse map (row, col) -> source (row, col) about the centre, as ours."""
    c = 13.5
    r, s = np.deg2rad(rot), np.tan(np.deg2rad(shear))
    m = np.array(
        [[np.cos(r), (-np.cos(r) * s + np.sin(r))], [-np.sin(r), np.sin(r) * s + np.cos(r)]]
    )
    inv = np.linalg.inv(m)[::-1, ::-1]  # (x, y) -> (y, x) order
    return inv, np.array([c, c]) - inv @ np.array([c, c])


def scipy_affine(ink: np.ndarray, rot: np.ndarray, shear: np.ndarray) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        m, off = _affine_matrix(float(rot[i]), float(shear[i]))
        out[i] = ndimage.affine_transform(ink[i], m, off, order=1, mode="constant")
    return out


_CROSS = ndimage.generate_binary_structure(2, 1)


def scipy_dilate(ink: np.ndarray) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        out[i] = ndimage.grey_dilation(ink[i], footprint=_CROSS, mode="constant", cval=0.0)
    return out


def scipy_erode(ink: np.ndarray) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        out[i] = ndimage.grey_erosion(ink[i], footprint=_CROSS, mode="constant", cval=0.0)
    return out


def scipy_half_dilate(ink: np.ndarray) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        d = ndimage.grey_dilation(ink[i], footprint=_CROSS, mode="constant", cval=0.0)
        out[i] = 0.5 * ink[i] + 0.5 * d
    return out


def scipy_blend_dilate(ink: np.ndarray, f: float) -> np.ndarray:
    """Our fractional radius ``f`` in (0, 1]: ``(1 - f) x + f * dilation`` by the cross."""
    out = np.empty_like(ink)
    for i in range(len(ink)):
        d = ndimage.grey_dilation(ink[i], footprint=_CROSS, mode="constant", cval=0.0)
        out[i] = (1 - f) * ink[i] + f * d
    return out


def scipy_blur(ink: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        out[i] = ndimage.gaussian_filter(ink[i], sigma, mode="constant", truncate=3.0)
    return out


def numpy_noise(ink: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        z = rng.standard_normal((28, 28), dtype=np.float32)
        out[i] = np.clip(ink[i] + np.float32(std) * z, 0.0, 1.0)
    return out


def numpy_gaps(ink: np.ndarray, rng: np.random.Generator, cuts: int, radius: float) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        ys, xs = np.nonzero(ink[i] > 0.5)
        if ys.size == 0:
            out[i] = ink[i]
            continue
        k = rng.integers(0, ys.size, cuts)
        d2 = ((_GY - ys[k, None, None]) ** 2 + (_GX - xs[k, None, None]) ** 2).min(axis=0)
        out[i] = ink[i] * np.clip(np.sqrt(d2) - radius + 0.5, 0.0, 1.0)
    return out


def scipy_framing(ink: np.ndarray, box: int = 20) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        ys, xs = np.nonzero(ink[i] > 0.05)
        if ys.size == 0:
            out[i] = ink[i]
            continue
        s = box / max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1)
        cy, cx = ndimage.center_of_mass(ink[i])
        offset = (cy - 13.5 / s, cx - 13.5 / s)
        out[i] = ndimage.affine_transform(ink[i], [1 / s, 1 / s], offset, order=1)
    return out


# -- data, baseline and timing --------------------------------------------------------------


def load_digits(n: int) -> tuple[np.ndarray, str]:
    d = os.environ.get("STROKESEQ_MNIST_DIR")
    if d:
        try:
            from strokeseq.sources.mnist.files import load_mnist

            images, _ = load_mnist("test", os.path.abspath(d))
            reps = -(-n // len(images))
            return np.tile(images, (reps, 1, 1))[:n].astype(np.float32) / 255, "MNIST test"
        except Exception as exc:  # a benchmark still runs on blobs
            print(f"(MNIST not loaded: {exc}; using blobs)")
    rng = np.random.default_rng(0)
    x = np.zeros((n, 28, 28), np.float32)
    x[:, 4:24, 10:18] = rng.random((n, 20, 8), dtype=np.float32)
    return x, "random blobs"


def load_baseline(path: str):
    """``path/strokeseq``'s augment module, imported as ``strokeseq_baseline.augment``."""
    root = os.path.join(os.path.abspath(path), "strokeseq")
    if not os.path.isfile(os.path.join(root, "__init__.py")):
        sys.exit(f"--baseline: no strokeseq package in {path}")
    name = "strokeseq_baseline"
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(root, "__init__.py"), submodule_search_locations=[root]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return importlib.import_module(name + ".augment")


def lines_from(ink: np.ndarray, count: int, width: int = 200) -> tuple[np.ndarray, np.ndarray]:
    img = np.zeros((count, 28, width), np.float32)
    boxes = np.zeros((count, 5, 4), np.int64)
    for j in range(5):
        x0 = 8 + j * 36
        img[:, :, x0 : x0 + 28] = ink[j * count : (j + 1) * count]
        boxes[:, j] = (x0, x0 + 28, 4, 24)
    return img, boxes


def timed(fn, calls: int) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, all threads) per call."""
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls, (time.process_time() - c0) / calls


def interleaved(fns: dict, n: int, rounds: int, min_items: int) -> dict:
    """Per-item wall times (median) of each contestant and per-round ratios other / ``ours``.

    ``fns`` maps names to callables, ``"ours"`` first; each round times every
    one once (``calls`` calls), in an order rotated by one per round.
    """
    calls = max(1, -(-min_items // n))
    names = list(fns)
    for fn in fns.values():  # warm-up: caches, lazy imports, first-touch pages
        fn()
    times = {k: [] for k in names}
    ratios = {k: [] for k in names[1:]}
    cpu = {k: [] for k in names[1:]}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        got = {k: timed(fns[k], calls) for k in order}
        for k in names:
            times[k].append(got[k][0] / n)
        for k in names[1:]:
            ratios[k].append(got[k][0] / got["ours"][0])
            cpu[k].append(got[k][1] / max(got["ours"][1], 1e-9))
    return {
        "t": {k: statistics.median(v) for k, v in times.items()},
        "ratios": ratios,
        "cpu": cpu,
    }


def fmt_us(t: float) -> str:
    return f"{t * 1e6:.1f}"


def fmt_ratio(r: list[float]) -> list[str]:
    return [f"{statistics.median(r):.2f}×", f"{min(r):.2f}..{max(r):.2f}"]


# -- cases ----------------------------------------------------------------------------------


_PRESETS: dict[tuple[str, str], object] = {}


def preset(lib, name: str):
    """``lib.Augmenter.preset(name)``, built once per library (construction is not timed)."""
    key = (lib.__name__, name)
    if key not in _PRESETS:
        _PRESETS[key] = lib.Augmenter.preset(name)
    return _PRESETS[key]


def digit_cases(rng: np.random.Generator, quick: bool) -> list[tuple[str, object, object]]:
    """(name, ours(lib, x), reference(x) or None); ``lib`` is an augment module."""
    cases = [
        (
            "elastic α=34 σ=4",
            lambda L, x: L.elastic(x, rng, alpha=ALPHA, sigma=SIGMA),
            lambda x: scipy_elastic(x, rng),
        )
    ]
    if quick:
        return cases
    angles: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def rot_shear(n: int) -> tuple[np.ndarray, np.ndarray]:
        if n not in angles:
            angles[n] = (rng.uniform(-10, 10, n), rng.uniform(-12, 12, n))
        return angles[n]

    # Parameters drawn afresh for every call (as a pipeline draws them): no cache
    # of ours keyed on a value helps; both sides draw from the same sequence.
    fresh = itertools.count()
    widths, radii = rng.uniform(0.3, 1.0, 4096), rng.uniform(0.05, 1.0, 4096)

    def drawn(table: np.ndarray) -> float:
        return float(table[next(fresh) % table.size])

    return [
        *cases,
        (
            "affine (rotation, shear)",
            lambda L, x: L.affine(x, rotation=rot_shear(len(x))[0], shear=rot_shear(len(x))[1]),
            lambda x: scipy_affine(x, *rot_shear(len(x))),
        ),
        ("stroke_width 1 (dilation)", lambda L, x: L.stroke_width(x, radius=1.0), scipy_dilate),
        ("stroke_width -1 (erosion)", lambda L, x: L.stroke_width(x, radius=-1.0), scipy_erode),
        (
            "stroke_width 0.5 (blended)",
            lambda L, x: L.stroke_width(x, radius=0.5),
            scipy_half_dilate,
        ),
        (
            "stroke_width U(0.05, 1) per call",
            lambda L, x: L.stroke_width(x, radius=drawn(radii)),
            lambda x: scipy_blend_dilate(x, drawn(radii)),
        ),
        ("blur σ=0.7", lambda L, x: L.blur(x, sigma=0.7), lambda x: scipy_blur(x, 0.7)),
        (
            "blur σ=U(0.3, 1) per call",
            lambda L, x: L.blur(x, sigma=drawn(widths)),
            lambda x: scipy_blur(x, drawn(widths)),
        ),
        (
            "noise std 0.05",
            lambda L, x: L.noise(x, rng, std=0.05),
            lambda x: numpy_noise(x, rng, 0.05),
        ),
        (
            "broken_strokes 2 cuts r=1.2",
            lambda L, x: L.broken_strokes(x, rng, cuts=2, radius=1.2),
            lambda x: numpy_gaps(x, rng, 2, 1.2),
        ),
        ("renormalize_mnist", lambda L, x: L.renormalize_mnist(x), scipy_framing),
        ("Augmenter.digits light", lambda L, x: preset(L, "light").digits(x, rng), None),
        (
            "Augmenter.digits medium",
            lambda L, x: preset(L, "medium").digits(x, rng),
            None,
        ),
        ("Augmenter.digits heavy", lambda L, x: preset(L, "heavy").digits(x, rng), None),
    ]


def line_cases(rng: np.random.Generator) -> list[tuple[str, object]]:
    return [
        ("wobble", lambda L, im, b: L.wobble(im, b, rng, amplitude=1.0, wavelength=80)),
        ("slant", lambda L, im, b: L.slant(im, b, angle=8.0)),
        ("contrast", lambda L, im, b: L.contrast(im, gamma=0.8, ink_level=0.9, background=0.03)),
        ("clutter", lambda L, im, b: L.clutter(im, rng, lines=1, specks=3)),
        ("blur σ=0.7", lambda L, im, b: L.blur(im, sigma=0.7)),
        ("noise", lambda L, im, b: L.noise(im, rng, std=0.04)),
        (
            "Augmenter.sequences medium",
            lambda L, im, b: preset(L, "medium").sequences(im, b, rng),
        ),
        (
            "Augmenter.sequences heavy",
            lambda L, im, b: preset(L, "heavy").sequences(im, b, rng),
        ),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="1,3,10,100,1000", help="digits per call")
    ap.add_argument("--min-items", type=int, default=300, help="digits timed per round and case")
    ap.add_argument("--quick", action="store_true", help="elastic only")
    ap.add_argument("--only", default="", help="comma-separated name prefixes of the cases to run")
    ap.add_argument("--baseline", default="", help="folder holding another strokeseq to compare")
    ap.add_argument("--no-lines", action="store_true", help="skip the line transforms")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    base = load_baseline(args.baseline) if args.baseline else None
    nmax = max(max(sizes), 1000)
    ink, what = load_digits(max(nmax, 5000))
    rng = np.random.default_rng(1)
    load0 = os.getloadavg()
    print(
        f"# bench_augment: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{what}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, rounds {args.rounds}"
        + (f", baseline {os.path.abspath(args.baseline)}" if base else "")
    )
    print(f"# command: python {' '.join(sys.argv)}")
    print(f"# load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}\n")
    head = "| transform | digits/call | ours µs/digit | reference µs/digit | ref/ours median "
    head += "| min..max | CPU-time ratio median | min..max |"
    rule = "|---|---:|---:|---:|---:|---|---:|---|"
    if base:
        head += " before µs/digit | before/ours median | min..max |"
        rule += "---:|---:|---|"
    print(head)
    print(rule)

    def wanted(name: str) -> bool:
        return not only or any(name.startswith(o) for o in only)

    for name, ours, ref in digit_cases(rng, args.quick):
        if not wanted(name):
            continue
        for n in sizes:
            x = ink[:n]
            fns = {"ours": lambda x=x, ours=ours: ours(A, x)}
            if ref is not None:
                fns["ref"] = lambda x=x, ref=ref: ref(x)
            if base:
                fns["base"] = lambda x=x, ours=ours: ours(base, x)
            res = interleaved(fns, n, args.rounds, args.min_items)
            cells = [name, str(n), fmt_us(res["t"]["ours"])]
            if ref is not None:
                cells.append(fmt_us(res["t"]["ref"]))
                cells += fmt_ratio(res["ratios"]["ref"]) + fmt_ratio(res["cpu"]["ref"])
            else:
                cells += [""] * 5
            if base:
                cells.append(fmt_us(res["t"]["base"]))
                cells += fmt_ratio(res["ratios"]["base"])
            print("| " + " | ".join(cells) + " |", flush=True)
    if not args.quick and not args.no_lines:
        print("\nLines 28 x 200 (µs per line):\n")
        head, rule = "| transform | lines/call | ours µs/line |", "|---|---:|---:|"
        if base:
            head += " before µs/line | before/ours median | min..max |"
            rule += "---:|---:|---|"
        print(head)
        print(rule)
        for name, fn in line_cases(rng):
            if not wanted("lines " + name):
                continue
            for n in [s for s in sizes if s <= 1000]:
                im, b = lines_from(ink, n)
                fns = {"ours": lambda im=im, b=b, fn=fn: fn(A, im, b)}
                if base:
                    fns["base"] = lambda im=im, b=b, fn=fn: fn(base, im, b)
                res = interleaved(fns, n, max(3, args.rounds // 2), 100)
                cells = [name, str(n), fmt_us(res["t"]["ours"])]
                if base:
                    cells += [fmt_us(res["t"]["base"]), *fmt_ratio(res["ratios"]["base"])]
                print("| " + " | ".join(cells) + " |", flush=True)
    load1 = os.getloadavg()
    print(f"\n# load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
