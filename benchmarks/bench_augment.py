"""Speed of the augmentation transforms against SciPy per-digit loops, in interleaved rounds.

    python benchmarks/bench_augment.py [--rounds 7] [--sizes 1,10,100,1000] [--quick]

(``benchmarks/`` is not a package: run it from the repository root.)

For every case and batch size, each round times our batched call and the
SciPy per-digit loop one after the other (the order alternates between
rounds), on the same digits, so both see the same machine load. Reported:
the per-digit wall time of each (median over rounds), and the ratio SciPy /
ours per round as median and min..max, in wall-clock time and in CPU time
of the process (all threads; less sensitive to other processes on a shared
machine, but it counts our thread pool's work on large batches too). The
machine load (``os.getloadavg``) is printed before and after: on a shared
machine only the same-round ratios mean much.

SciPy references (what a plain per-digit port does):

- elastic: ``gaussian_filter`` on two uniform(-1, 1) fields (``mode="constant"``),
  times alpha, then ``map_coordinates(order=1)``;
- affine: ``affine_transform(order=1)`` with the same per-digit matrix;
- stroke_width: ``grey_dilation`` with the 4-neighbour cross (radius 1);
- blur: ``gaussian_filter(sigma, truncate=3)``.

Digits are real MNIST test digits when STROKESEQ_MNIST_DIR is set, else
random blobs (the kernels' speed does not depend on the content). Lines (for
the sequence transforms and the pipeline) are 28 x 200.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

import numpy as np
import scipy
from scipy import ndimage

from strokeseq import augment as A

ALPHA, SIGMA = 34.0, 4.0


# -- SciPy per-digit references -------------------------------------------------------------


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


def scipy_blur(ink: np.ndarray, sigma: float) -> np.ndarray:
    out = np.empty_like(ink)
    for i in range(len(ink)):
        out[i] = ndimage.gaussian_filter(ink[i], sigma, mode="constant", truncate=3.0)
    return out


# -- data and timing ------------------------------------------------------------------------


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


def interleaved(ours, ref, n: int, rounds: int, min_items: int) -> dict:
    """Per-item wall times (median) and per-round ratios ref/ours (wall and CPU); ref may be None."""
    calls = max(1, -(-min_items // n))
    ours()
    if ref is not None:
        ref()
    t_ours, t_ref, ratios, cpu_ratios = [], [], [], []
    for r in range(rounds):
        order = (0, 1) if r % 2 == 0 else (1, 0)
        got = {}
        for which in order:
            if which == 0:
                got[0] = timed(ours, calls)
            elif ref is not None:
                got[1] = timed(ref, calls)
        t_ours.append(got[0][0] / n)
        if ref is not None:
            t_ref.append(got[1][0] / n)
            ratios.append(got[1][0] / got[0][0])
            cpu_ratios.append(got[1][1] / max(got[0][1], 1e-9))
    out = {"ours": statistics.median(t_ours)}
    if ref is not None:
        out.update(ref=statistics.median(t_ref), ratios=ratios, cpu=cpu_ratios)
    return out


def fmt_us(t: float) -> str:
    return f"{t * 1e6:.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--sizes", default="1,10,100,1000", help="digits per call")
    ap.add_argument("--min-items", type=int, default=300, help="digits timed per round and case")
    ap.add_argument("--quick", action="store_true", help="elastic only")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    nmax = max(max(sizes), 1000)
    ink, what = load_digits(max(nmax, 5000))
    rng = np.random.default_rng(1)
    load0 = os.getloadavg()
    print(
        f"# bench_augment: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{what}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"NumPy {np.__version__}, SciPy {scipy.__version__}, rounds {args.rounds}"
    )
    print(f"# load average before: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}\n")
    print(
        "| transform | digits/call | ours µs/digit | SciPy loop µs/digit "
        "| ratio median | min..max | CPU-time ratio median | min..max |"
    )
    print("|---|---:|---:|---:|---:|---|---:|---|")

    def row(name: str, n: int, res: dict) -> None:
        cells = [name, str(n), fmt_us(res["ours"])]
        if "ratios" in res:
            cells.append(fmt_us(res["ref"]))
            for r in (res["ratios"], res["cpu"]):
                cells += [f"{statistics.median(r):.2f}×", f"{min(r):.2f}..{max(r):.2f}"]
        else:
            cells += [""] * 5
        print("| " + " | ".join(cells) + " |", flush=True)

    for n in sizes:
        x = ink[:n]
        row(
            "elastic α=34 σ=4",
            n,
            interleaved(
                lambda x=x: A.elastic(x, rng, alpha=ALPHA, sigma=SIGMA),
                lambda x=x: scipy_elastic(x, rng),
                n,
                args.rounds,
                args.min_items,
            ),
        )
    if not args.quick:
        for n in sizes:
            x = ink[:n]
            rot, sh = rng.uniform(-10, 10, n), rng.uniform(-12, 12, n)
            row(
                "affine (rotation, shear)",
                n,
                interleaved(
                    lambda x=x, rot=rot, sh=sh: A.affine(x, rotation=rot, shear=sh),
                    lambda x=x, rot=rot, sh=sh: scipy_affine(x, rot, sh),
                    n,
                    args.rounds,
                    args.min_items,
                ),
            )
        for n in sizes:
            x = ink[:n]
            row(
                "stroke_width radius 1 (dilation)",
                n,
                interleaved(
                    lambda x=x: A.stroke_width(x, radius=1.0),
                    lambda x=x: scipy_dilate(x),
                    n,
                    args.rounds,
                    args.min_items,
                ),
            )
        for n in sizes:
            x = ink[:n]
            row(
                "blur σ=0.7",
                n,
                interleaved(
                    lambda x=x: A.blur(x, sigma=0.7),
                    lambda x=x: scipy_blur(x, 0.7),
                    n,
                    args.rounds,
                    args.min_items,
                ),
            )
        others = {
            "stroke_width radius -0.5 (erosion)": lambda x: A.stroke_width(x, radius=-0.5),
            "broken_strokes 2 cuts": lambda x: A.broken_strokes(x, rng, cuts=2, radius=1.2),
            "noise std 0.05": lambda x: A.noise(x, rng, std=0.05),
            "renormalize_mnist": A.renormalize_mnist,
            "Augmenter.digits light": A.Augmenter.preset("light").digits,
            "Augmenter.digits medium": A.Augmenter.preset("medium").digits,
            "Augmenter.digits heavy": A.Augmenter.preset("heavy").digits,
        }
        for name, fn in others.items():
            for n in sizes:
                x = ink[:n]
                row(name, n, interleaved(lambda x=x, fn=fn: fn(x), None, n, 3, args.min_items))
        print("\nLines 28 x 200 (µs per line):\n")
        print("| transform | lines/call | ours µs/line |")
        print("|---|---:|---:|")
        seq = {
            "wobble": lambda im, b: A.wobble(im, b, rng, amplitude=1.0, wavelength=80),
            "slant": lambda im, b: A.slant(im, b, angle=8.0),
            "contrast": lambda im, b: A.contrast(im, gamma=0.8, ink_level=0.9, background=0.03),
            "clutter": lambda im, b: A.clutter(im, rng, lines=1, specks=3),
            "blur σ=0.7": lambda im, b: A.blur(im, sigma=0.7),
            "noise": lambda im, b: A.noise(im, rng, std=0.04),
            "Augmenter.sequences medium": lambda im, b: A.Augmenter.preset("medium").sequences(
                im, b, rng
            ),
            "Augmenter.sequences heavy": lambda im, b: A.Augmenter.preset("heavy").sequences(
                im, b, rng
            ),
        }
        for name, fn in seq.items():
            for n in [s for s in sizes if s <= 1000]:
                im, b = lines_from(ink, n)
                res = interleaved(lambda im=im, b=b, fn=fn: fn(im, b), None, n, 3, 100)
                print(f"| {name} | {n} | {fmt_us(res['ours'])} |", flush=True)
    load1 = os.getloadavg()
    print(f"\n# load average after: {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
