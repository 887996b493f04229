"""Throughput of the augmentation transforms, printed as a markdown table.

    python benchmarks/bench_augment.py [--n 20000] [--repeat 3]

Ours (batched, one process, one call per batch) beside the plain SciPy elastic
distortion most ports use (per digit: gaussian_filter on two uniform fields,
then map_coordinates, order=1), measured in the same run. Each figure is the
best of ``--repeat`` runs (the machine may be shared). Digits are real MNIST
test digits when STROKESEQ_MNIST_DIR is set, else random blobs (the kernels'
speed does not depend on the content).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from strokeseq import augment as A


def best_rate(fn, n: int, repeat: int) -> float:
    fn()  # warm up (imports, caches)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return n / best


def scipy_elastic_loop(ink: np.ndarray, rng: np.random.Generator, alpha=34.0, sigma=4.0):
    """The plain per-digit SciPy version (Simard et al. as ported in most code)."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    y, x = np.mgrid[0:28, 0:28]
    out = np.empty_like(ink)
    for i in range(len(ink)):
        dx = gaussian_filter(rng.random((28, 28)) * 2 - 1, sigma, mode="constant") * alpha
        dy = gaussian_filter(rng.random((28, 28)) * 2 - 1, sigma, mode="constant") * alpha
        out[i] = map_coordinates(ink[i], [y + dy, x + dx], order=1)
    return out


def load_digits(n: int) -> tuple[np.ndarray, str]:
    d = os.environ.get("STROKESEQ_MNIST_DIR")
    if d:
        try:
            from strokeseq.sources.mnist.files import load_mnist

            images, _ = load_mnist("test", d)
            reps = -(-n // len(images))
            return np.tile(images, (reps, 1, 1))[:n].astype(np.float32) / 255, "MNIST test"
        except Exception:
            pass
    rng = np.random.default_rng(0)
    x = np.zeros((n, 28, 28), np.float32)
    x[:, 4:24, 10:18] = rng.random((n, 20, 8), dtype=np.float32)
    return x, "random blobs"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20000, help="digits per batch")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seq", type=int, default=2000, help="sequences per batch")
    ap.add_argument("--width", type=int, default=200, help="sequence width")
    args = ap.parse_args()
    n, rep = args.n, args.repeat
    ink, what = load_digits(n)
    rng = np.random.default_rng(1)
    n_loop = min(n, 2000)

    per_sample = {
        "rotation": rng.uniform(-10, 10, n),
        "shear": rng.uniform(-12, 12, n),
        "scale": rng.uniform(0.92, 1.08, n),
        "aspect": rng.uniform(0.9, 1.1, n),
        "translate": rng.uniform(-0.5, 0.5, (n, 2)),
    }
    rows: list[tuple[str, str, float]] = []

    def add(name: str, note: str, fn, count: int) -> None:
        rows.append((name, note, best_rate(fn, count, rep)))

    add(
        "elastic, SciPy plain loop (reference)",
        "alpha=34 sigma=4, per digit",
        lambda: scipy_elastic_loop(ink[:n_loop], rng),
        n_loop,
    )
    add("elastic (ours)", "alpha=34 sigma=4, batched", lambda: A.elastic(ink, rng), n)
    add(
        "elastic (ours), per-sample alpha, sigma",
        "alpha~U(10,28) sigma~U(4.5,6)",
        lambda: A.elastic(ink, rng, alpha=rng.uniform(10, 28, n), sigma=rng.uniform(4.5, 6, n)),
        n,
    )
    add(
        "affine (ours)",
        "per-sample rot/shear/scale/aspect/shift",
        lambda: A.affine(ink, **per_sample),
        n,
    )
    add(
        "stroke_width thicken (ours)",
        "radius 1.3 (grey dilation)",
        lambda: A.stroke_width(ink, radius=1.3),
        n,
    )
    add(
        "stroke_width thin (ours)",
        "radius -0.5 (grey erosion)",
        lambda: A.stroke_width(ink, radius=-0.5),
        n,
    )
    add(
        "broken_strokes (ours)",
        "2 cuts, radius 1.2",
        lambda: A.broken_strokes(ink, rng, cuts=2, radius=1.2),
        n,
    )
    add("blur (ours)", "sigma 0.7", lambda: A.blur(ink, sigma=0.7), n)
    add(
        "renormalize_mnist (ours)",
        "20x20 box + centre of mass",
        lambda: A.renormalize_mnist(ink),
        n,
    )
    for preset in ("light", "medium", "heavy"):
        aug = A.Augmenter.preset(preset)
        add(
            f"Augmenter.digits, {preset}",
            "all digit transforms of the preset",
            lambda aug=aug: aug.digits(ink, rng),
            n,
        )

    m, w = args.seq, args.width
    seq = np.zeros((m, 28, w), np.float32)
    seq[:, 4:24, :] = np.tile(ink[:1, 4:24, :], (1, 1, -(-w // 28)))[:, :, :w]
    boxes = np.stack([np.array([[j * 28, j * 28 + 28, 4, 24] for j in range(w // 28)])] * m)
    add("wobble (ours)", f"sequences 28x{w}", lambda: A.wobble(seq, boxes, rng, amplitude=1.0), m)
    add("slant (ours)", f"sequences 28x{w}", lambda: A.slant(seq, boxes, angle=8.0), m)
    add(
        "contrast (ours)",
        f"sequences 28x{w}",
        lambda: A.contrast(seq, gamma=0.8, ink_level=0.9),
        m,
    )
    add("clutter (ours)", f"sequences 28x{w}", lambda: A.clutter(seq, rng), m)
    add("noise (ours)", f"sequences 28x{w}", lambda: A.noise(seq, rng, std=0.05), m)
    add("blur (ours)", f"sequences 28x{w}, sigma 0.7", lambda: A.blur(seq, sigma=0.7), m)
    for preset in ("medium", "heavy"):
        aug = A.Augmenter.preset(preset)
        add(
            f"Augmenter.sequences, {preset}",
            f"sequences 28x{w}",
            lambda aug=aug: aug.sequences(seq, boxes, rng),
            m,
        )

    print(
        f"strokeseq augmentation throughput ({what}, {n} digits / {m} sequences per batch, "
        f"best of {rep}; Python {platform.python_version()}, NumPy {np.__version__}, "
        f"{os.cpu_count()} CPUs)\n"
    )
    print("| transform | setting | items/s |")
    print("|---|---|---:|")
    for name, note, rate in rows:
        print(f"| {name} | {note} | {rate:,.0f} |")
    ref = rows[0][2]
    ours = rows[1][2]
    print(f"\nelastic: ours / plain SciPy = {ours / ref:.1f}x")


if __name__ == "__main__":
    main()
