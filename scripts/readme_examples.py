#!/usr/bin/env python3
"""Write docs/examples.png, the picture at the top of the README.

Rows: MNIST tiles, MNIST ink layout with touching digits, one MNIST writer,
synthetic digits, and the "medium" augmentation. Needs the MNIST files
(``STROKESEQ_MNIST_DIR``).

    STROKESEQ_MNIST_DIR=../shared/mnist python scripts/readme_examples.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from strokeseq import generate_numbers_sequence

ROWS = [
    ("MNIST, tiles, gaps 0..10", {}),
    ("MNIST, ink boxes, gaps -3..1 (touching)", {"layout": "ink", "spacing": (-3, 1)}),
    ("MNIST, one writer (QMNIST)", {"writer": "same"}),
    ("synthetic pen strokes", {"source": "synthetic"}),
    ("MNIST + augment='medium'", {"augment": "medium"}),
]


def main() -> None:
    width, scale, label_w = 260, 2, 230
    tiles = []
    for i, (label, opts) in enumerate(ROWS):
        spacing = opts.pop("spacing", (0, 10))
        img = generate_numbers_sequence("90210375", spacing, width, rng=i + 1, **opts)
        row = Image.fromarray(np.rint(img * 255).astype(np.uint8)).resize(
            (width * scale, 28 * scale)
        )
        canvas = Image.new("L", (label_w + width * scale, 28 * scale + 6), 255)
        canvas.paste(row, (label_w, 3))
        ImageDraw.Draw(canvas).text((6, 28 * scale // 2 - 4), label, fill=0)
        tiles.append(canvas)
    sheet = Image.new("L", (tiles[0].width, sum(t.height for t in tiles)), 255)
    y = 0
    for t in tiles:
        sheet.paste(t, (0, y))
        y += t.height
    out = Path(__file__).resolve().parent.parent / "docs" / "examples.png"
    sheet.save(out, optimize=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
