"""SHA-256 of synthetic digits over many configurations: is a speed change bit-identical?

Writes a JSON of ``{configuration: hash}`` for the strokeseq on ``PYTHONPATH``
(ink and every meta array of ``StrokeSource.draw`` for both models and 28
option sets at 1, 2, 7, 10, 100 and 700 digits per call, ``writer="same"``
rows, and 40 calls of ``generate_numbers_sequence``), or compares two such
files::

    PYTHONPATH=../main python benchmarks/synthetic_hashes.py before.json
    python benchmarks/synthetic_hashes.py after.json
    python benchmarks/synthetic_hashes.py --compare before.json after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np


def _h(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()[:16]


def configurations() -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for model in ("fitted", "glyphs"):
        out += [(model, {"supersample": ss}) for ss in (1, 2, 3, 4, 5)]
        for kw in (
            {"soft": 0.2},
            {"soft": 1.0},
            {"pressure": 0.0},
            {"pressure": 0.9},
            {"jitter": 3.0},
            {"pen_width": (0.5, 1.0)},
            {"pen_width": (6.0, 8.0)},
            {"samples_per_segment": 2},
            {"samples_per_segment": 16},
            {"slant": 40.0, "rotation": 30.0},
            {"aspect": (0.3, 3.0)},
            {"supersample": 8, "soft": 0.3},
            {"variety": 0.0},
            {"variety": 3.0},
        ):
            out.append((model, kw))
    return out


def hashes() -> dict[str, str]:
    from strokeseq import StrokeSource, generate_numbers_sequence

    out = {}
    for model, kw in configurations():
        src = StrokeSource(model, **kw)
        for n in (1, 2, 7, 10, 100, 700):
            d = src.draw(np.arange(n) % 10, np.random.default_rng(n))
            out[f"{model} {kw} n={n}"] = _h(d.ink) + "".join(_h(d.meta[k]) for k in sorted(d.meta))
        rows = src.draw_sequences(
            np.arange(30).reshape(5, 6) % 10, np.random.default_rng(5), writer="same"
        )
        out[f"{model} {kw} writer"] = _h(rows.ink)
    for i in range(20):
        out[f"api {i}"] = _h(generate_numbers_sequence("5", (0, 0), 28, source="synthetic", rng=i))
        out[f"api3 {i}"] = _h(
            generate_numbers_sequence("305", (0, 5), 120, source="synthetic", rng=i)
        )
    glyphs = StrokeSource("glyphs")
    calls = [
        ("5", (0, 0), 28, {"source": glyphs}),
        ("305", (2, 9), 100, {}),  # tight width: gaps from the exact conditional
        ("305", (2, 9), 100, {"dtype": np.uint8, "ink": "white"}),
        ("12", (0, 3), 90, {"dtype": np.uint8, "source": glyphs}),
        ("4096", (-4, 2), 100, {"layout": "ink"}),
        ("777", (0, 4), 100, {"writer": "same"}),
    ]
    for j, (digits, spacing, width, kw) in enumerate(calls):
        for i in range(5):
            kw = {"source": "synthetic", **kw}
            img = generate_numbers_sequence(digits, spacing, width, rng=i, **kw)
            out[f"api call {j} {i}"] = _h(img)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", help="output JSON, or two JSONs with --compare")
    ap.add_argument("--compare", action="store_true", help="compare two hash files")
    args = ap.parse_args(argv)
    if args.compare:
        a, b = (json.loads(Path(f).read_text()) for f in args.files[:2])
        differ = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
        print(f"{len(a)} configurations; {len(differ)} differ")
        for k in differ[:20]:
            print("  ", k)
        return 1 if differ else 0
    h = hashes()
    with open(args.files[0], "w") as f:
        json.dump(h, f, indent=0)
    print(f"{len(h)} configurations hashed to {args.files[0]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
