"""Same bytes as another copy of the package: the augmentation outputs, case by case.

    python benchmarks/augment_bytes.py --baseline DIR

(``benchmarks/`` is not a package: run it from the repository root.) ``DIR``
holds another ``strokeseq`` (e.g. ``git archive main strokeseq | tar -x -C
DIR``), loaded beside this one as in ``bench_augment.py --baseline``. Every
case runs on both with the same input and seed and compares the output bytes
(dtype, shape and C-contiguity too):

- every plain per-digit function at 0-20, 33, 100 and 257 digits, with scalar
  and per-digit parameters, on MNIST test digits (when STROKESEQ_MNIST_DIR is
  set), blobs with values outside [0, 1] and -0.0, and uint8 ink;
- blur and noise on lines 28 x 60 and 28 x 200;
- the light, medium and heavy presets through ``Augmenter.digits`` (1-17, 40
  and 300 digits), ``Augmenter.digits_rows`` (two rows), ``Augmenter.sequences``
  (images and boxes) and ``Augmenter.sequences_rows`` (1-12 lines 28 x 200).

Exit status 1 if any case differs. A speed change that keeps the bytes of
every seed passes; anything else is a change of behaviour to document.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from bench_augment import load_baseline, load_digits

from strokeseq import augment as ours

SIZES = [*range(21), 33, 100, 257]


def inks(n: int, seed: int, kind: str) -> np.ndarray:
    """Digits of a kind: MNIST test digits, blobs (out-of-range values, -0.0) or uint8."""
    rng = np.random.default_rng(seed)
    if kind == "mnist":
        x, _ = load_digits(400)
        return x[rng.integers(0, 400, n)].copy()
    x = np.zeros((n, 28, 28), np.float32)
    x[:, 5:23, 9:19] = rng.uniform(-0.2, 1.2, (n, 18, 10)).astype(np.float32)
    x[:, 12, 4:24] = 1.0
    x[rng.random(x.shape) < 0.05] = -0.0
    if n > 2:
        x[1] = 0.0
    if kind == "uint8":
        return (np.clip(x, 0, 1) * 255).astype(np.uint8)
    return x


def lines_of(n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Lines of five MNIST digits with their boxes ``(n, 5, 4)``."""
    ink = inks(5 * n, n, "mnist")
    lines = np.zeros((n, 28, width), np.float32)
    boxes = np.zeros((n, 5, 4), np.int64)
    for j in range(5):
        x0 = 8 + j * 36
        lines[:, :, x0 : x0 + 28] = ink[j * n : (j + 1) * n]
        boxes[:, j] = (x0, x0 + 28, 4, 24)
    return lines, boxes


def digit_cases():
    """(function name, n, input kind, parameters) for every plain per-digit function."""
    for n in SIZES:
        for kind in ("blob", "mnist", "uint8"):
            for per_digit in (False, True):
                r = np.random.default_rng(n * 7 + len(kind) + per_digit)

                def value(lo, hi, r=r, n=n, per_digit=per_digit):
                    return r.uniform(lo, hi, n) if per_digit else float(r.uniform(lo, hi))

                shift = r.uniform(-2, 2, (n, 2)) if per_digit else (0.3, -0.7)
                yield (
                    "affine",
                    n,
                    kind,
                    {
                        "rotation": value(-20, 20),
                        "shear": value(-20, 20),
                        "scale": value(0.8, 1.2),
                        "aspect": value(0.8, 1.2),
                        "translate": shift,
                    },
                )
                for rad in (1.0, -1.0, 0.5, -0.5, 2.0, -2.3, 1.7):
                    radius = r.uniform(-1, 1, n) * abs(rad) if per_digit else rad
                    yield "stroke_width", n, kind, {"radius": radius}
                mixed = r.choice([-1.0, 0.0, 1.5], n) if per_digit else 0.0
                yield "stroke_width", n, kind, {"radius": mixed}
                for s in (0.3, 0.7, 1.0, 2.5):
                    yield "blur", n, kind, {"sigma": r.uniform(0, s, n) if per_digit else s}
                yield "noise", n, kind, {"std": value(0, 0.2)}
                for c in (1, 2, 3):
                    cuts = r.integers(0, c + 1, n) if per_digit else c
                    yield "broken_strokes", n, kind, {"cuts": cuts, "radius": value(0.5, 2)}
                yield "renormalize_mnist", n, kind, {}
                yield "elastic", n, kind, {"alpha": value(0, 40), "sigma": value(3, 6)}


def run_digit(lib, name: str, n: int, kind: str, params: dict, seed: int) -> np.ndarray:
    x = inks(n, seed, kind)
    f = getattr(lib, name)
    if name == "renormalize_mnist":
        return f(x, **params)
    rng = None if name in ("affine", "stroke_width", "blur") else np.random.default_rng(seed)
    return f(x, rng, **params)


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return (
        a.dtype == b.dtype
        and a.shape == b.shape
        and a.flags.c_contiguous == b.flags.c_contiguous
        and a.tobytes() == b.tobytes()
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", required=True, help="folder holding the other strokeseq")
    args = ap.parse_args()
    base = load_baseline(args.baseline)
    total, differ = 0, []

    def check(label: str, a: np.ndarray, b: np.ndarray) -> None:
        nonlocal total
        total += 1
        if not same(a, b):
            differ.append(label)

    for i, (name, n, kind, params) in enumerate(digit_cases()):
        a = run_digit(base, name, n, kind, params, i)
        b = run_digit(ours, name, n, kind, params, i)
        check(f"{name} n={n} {kind} {sorted(params)}", a, b)
    for n in (1, 2, 3, 5, 8, 9, 20):
        for width in (60, 200):
            r = np.random.default_rng(n * width)
            lines = r.uniform(-0.1, 1.1, (n, 28, width)).astype(np.float32)
            lines[r.random(lines.shape) < 0.1] = -0.0
            for s in (0.3, 0.7, 1.5):
                for sigma in (s, r.uniform(0, s, n)):
                    check(
                        f"lines blur n={n} W={width}",
                        *(L.blur(lines, sigma=sigma) for L in (base, ours)),
                    )
                rngs = [np.random.default_rng(3) for _ in range(2)]
                got = [
                    L.noise(lines, g, std=s / 10) for L, g in zip((base, ours), rngs, strict=True)
                ]
                check(f"lines noise n={n} W={width}", *got)
    for preset in ("light", "medium", "heavy"):
        pair = [L.Augmenter.preset(preset) for L in (base, ours)]
        for n in [*range(1, 18), 40, 300]:
            for seed in range(3):
                x = inks(n, seed, "mnist")
                check(f"{preset} digits n={n}", *(aug.digits(x, seed) for aug in pair))
                if n % 2 == 0:
                    rows = [
                        aug.digits_rows(
                            x, [np.random.default_rng(seed * 100 + k) for k in range(2)], n // 2
                        )
                        for aug in pair
                    ]
                    check(f"{preset} digits_rows n={n}", *rows)
        for n in (1, 2, 3, 5, 12):
            lines, boxes = lines_of(n, 200)
            for seed in range(3):
                got = [aug.sequences(lines, boxes, seed) for aug in pair]
                check(f"{preset} sequences n={n}", got[0][0], got[1][0])
                check(f"{preset} sequence boxes n={n}", got[0][1], got[1][1])
                rngs = [[np.random.default_rng(seed * 10 + k) for k in range(n)] for _ in pair]
                got = [
                    aug.sequences_rows(lines, boxes, g) for aug, g in zip(pair, rngs, strict=True)
                ]
                check(f"{preset} sequences_rows n={n}", got[0][0], got[1][0])
    print(f"{total} cases, {len(differ)} differ")
    for label in differ[:20]:
        print("  differs:", label)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
