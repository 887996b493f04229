"""Fidelity of the synthetic digits: a classifier of real MNIST reads them.

Prints, as Markdown tables:

1. the reference classifier's accuracy on the real MNIST test set;
2. its accuracy on synthetic digits per digit x jitter level (100 per class
   per level by default), the ladder the hard-case generator builds on;
3. image statistics per digit, synthetic (default setting) versus real MNIST
   test digits: mean ink (sum of ink, in pixels), ink bounding-box height and
   width, and stroke width (ink / skeleton length);

and writes contact sheets (10 rows of digits x N samples) per jitter level as
PNG files, plus one small sheet of the default setting. Every level uses the
same seed (common random numbers), so the rows of the sheets show the same
digits growing wilder.

Usage::

    STROKESEQ_MNIST_DIR=/work/shared/mnist python scripts/fidelity_report.py \
        [--per-class 100] [--levels 0 0.5 1 2 3 4 5] [--out out/fidelity] \
        [--sheet docs/synthetic_contact_sheet.png] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from PIL import Image

from strokeseq.hardcases.reference import reference_classifier
from strokeseq.sources.mnist.files import load_mnist
from strokeseq.sources.stroke import StrokeSource

LEVELS = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)


def stats(ink: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image statistics of ``(n, 28, 28)`` float ink in [0, 1]."""
    from skimage.morphology import skeletonize

    mass = ink.sum(axis=(1, 2))
    rows = (ink > 0).any(axis=2)
    cols = (ink > 0).any(axis=1)
    h = 28 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    w = 28 - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    skel = np.array([skeletonize(im > 0.5).sum() for im in ink])
    width = (ink > 0.5).sum(axis=(1, 2)) / np.maximum(skel, 1)
    return {"ink": mass, "height": h, "width": w, "stroke": width}


def sheet(ink: np.ndarray, labels: np.ndarray, per_row: int, scale: int = 1) -> Image.Image:
    """10 rows (digits 0-9) x ``per_row`` samples, black ink on white, 1 px gaps."""
    tile = 29
    img = np.full((10 * tile + 1, per_row * tile + 1), 255, np.uint8)
    for d in range(10):
        picks = np.flatnonzero(labels == d)[:per_row]
        for j, i in enumerate(picks):
            y, x = 1 + d * tile, 1 + j * tile
            img[y : y + 28, x : x + 28] = (255 * (1 - ink[i])).round().astype(np.uint8)
    out = Image.fromarray(img)
    if scale > 1:
        out = out.resize((out.width * scale, out.height * scale), Image.NEAREST)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument("--per-class", type=int, default=100)
    ap.add_argument("--levels", type=float, nargs="+", default=list(LEVELS))
    ap.add_argument("--out", type=Path, default=Path("out/fidelity"))
    ap.add_argument("--sheet", type=Path, default=None, help="small sheet of the default setting")
    ap.add_argument("--ladder", type=Path, default=None, help="one row per jitter level")
    ap.add_argument("--samples", type=int, default=16, help="samples per row of the sheets")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    clf = reference_classifier(args.data_dir)
    test_x, test_y = load_mnist("test", data_dir=args.data_dir)
    real_acc = clf.score(test_x, test_y)
    print(f"reference classifier: PCA {clf.n_components} + {clf.k}-NN fitted on MNIST train")
    print(
        f"accuracy on the real MNIST test set: {100 * real_acc:.2f} % "
        f"({time.perf_counter() - t0:.1f} s)\n"
    )

    labels = np.repeat(np.arange(10), args.per_class)
    default = StrokeSource().jitter
    levels = sorted(set(args.levels) | {default})
    args.out.mkdir(parents=True, exist_ok=True)
    acc = np.zeros((len(levels), 11))
    default_ink = None
    ladder_rows = []
    for li, jit in enumerate(levels):
        src = StrokeSource(jitter=jit)
        # Common random numbers: every level draws the same allographs, pens and
        # poses and the same unit jitter directions, scaled by the radius, so
        # the ladder measures the jitter alone (and falls smoothly).
        ink = src.sample(labels, rng=np.random.default_rng(args.seed))
        pred = clf.predict(ink)
        ok = pred == labels
        acc[li, :10] = ok.reshape(10, -1).mean(axis=1)
        acc[li, 10] = ok.mean()
        sheet(ink, labels, args.samples).save(args.out / f"sheet_jitter_{jit:g}.png")
        if jit == default:
            default_ink = ink
        # two of each digit, the same digits on every level
        ladder_rows.append(ink.reshape(10, -1, 28, 28)[:, :2].reshape(-1, 28, 28))

    n = len(labels)
    print(f"## Accuracy of the reference classifier on synthetic digits ({n} per level)\n")
    print("| jitter (px) | " + " | ".join(str(d) for d in range(10)) + " | all |")
    print("|---:|" + "---:|" * 11)
    for li, jit in enumerate(levels):
        mark = " (default)" if jit == default else ""
        cells = " | ".join(f"{100 * a:.0f}" for a in acc[li, :10])
        print(f"| {jit:g}{mark} | {cells} | **{100 * acc[li, 10]:.1f}** |")

    # Statistics: synthetic at the default setting vs real test digits.
    real = test_x.astype(np.float32) / 255
    sr, ss_ = stats(real), stats(default_ink)
    print("\n## Synthetic (default) vs real MNIST test digits, per digit (mean)\n")
    print(
        "| digit | ink real | ink synth | height real | height synth | width real "
        "| width synth | stroke real | stroke synth |"
    )
    print("|---:|" + "---:|" * 8)
    for d in [*range(10), None]:
        mr = slice(None) if d is None else test_y == d
        ms = slice(None) if d is None else labels == d
        row = [
            f"{sr[k][mr].mean():.1f} | {ss_[k][ms].mean():.1f}"
            for k in ("ink", "height", "width", "stroke")
        ]
        print(f"| {'all' if d is None else d} | " + " | ".join(row) + " |")

    if args.sheet is not None:
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet(default_ink, labels, args.samples, scale=1).save(args.sheet, optimize=True)
    if args.ladder is not None:
        rows = np.concatenate(ladder_rows)
        img = sheet(rows, np.repeat(np.arange(len(levels)), 20), 20)
        img.crop((0, 0, img.width, len(levels) * 29 + 1)).save(args.ladder, optimize=True)
    print(f"\ncontact sheets in {args.out}/ ({time.perf_counter() - t0:.1f} s in all)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
