"""Instructions per call of the synthetic source, counted by valgrind (steady on a loaded machine).

Wall and CPU times of small NumPy calls move by 2x on a shared 2-core
machine; the number of instructions a call executes does not (the same to
~1 % run to run). For every case and checkout this script runs
``valgrind --tool=cachegrind --cache-sim=no`` twice on a worker that makes
a few warm-up calls and then ``0`` or ``N`` calls of the case, and prints
``(I(N) - I(0)) / N`` in millions, per call and per digit. Instructions are
not time (a memory-bound pass costs more per instruction than a call's
Python overhead), so confirm a change with interleaved timings
(``bench_synthetic.py``) on a quiet machine; but they decide between
variants while the machine is busy.

Cases: ``api`` (``generate_numbers_sequence("3", (0, 0), 28,
source=...)``), ``sample`` (``StrokeSource.sample`` of ``K`` labels), for the
``fitted`` or ``glyphs`` model at a supersampling; e.g. ``fitted:api:3``,
``fitted:sample:512:2``. Commands::

    python benchmarks/count_instructions.py                      # default cases, this checkout
    python benchmarks/count_instructions.py --compare ../main    # and another checkout
    python benchmarks/count_instructions.py --cases fitted:api:2 fitted:sample:512:2

Needs valgrind (``apt-get install valgrind``); ``OPENBLAS_NUM_THREADS=1``
and ``PYTHONHASHSEED=0`` are set for the workers.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CASES = [
    "fitted:api:3",
    "fitted:api:2",
    "fitted:sample:1:3",
    "fitted:sample:10:3",
    "fitted:sample:512:3",
    "fitted:sample:512:2",
]


def _calls(case: str):
    """``(fn(i), digits per call)`` of a case ``model:kind[:k]:supersample``."""
    import numpy as np

    from strokeseq import generate_numbers_sequence
    from strokeseq.sources.stroke import StrokeSource

    parts = case.split(":")
    model, kind = parts[0], parts[1]
    if kind == "api":
        src = StrokeSource(model, supersample=int(parts[2]))
        return (lambda i: generate_numbers_sequence("3", (0, 0), 28, source=src, rng=i)), 1
    k, ss = int(parts[2]), int(parts[3])
    src = StrokeSource(model, supersample=ss)
    labels = np.arange(k) % 10
    return (lambda i: src.sample(labels, rng=i)), k


def worker(case: str, n: int) -> None:
    fn, k = _calls(case)
    for i in range(3 if k >= 100 else 5):  # first-call costs outside the count
        fn(1000 + i)
    for i in range(n):
        fn(i)


def count(path: str, case: str, n: int) -> int:
    """Instructions of one worker run (``n`` calls after the warm-up)."""
    env = dict(os.environ, PYTHONPATH=path, OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0")
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    cmd += [sys.executable, str(Path(__file__).resolve()), "--worker", case, str(n)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{done.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", nargs="+", default=DEFAULT_CASES)
    ap.add_argument("--compare", metavar="PATH", help="another checkout, counted the same way")
    ap.add_argument("--calls", type=int, default=20, help="calls counted (2 for >= 100 labels)")
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], int(args.worker[1]))
        return 0
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    paths = [str(ROOT)] + ([str(Path(args.compare).resolve())] if args.compare else [])
    head = "| case | " + " | ".join(f"`{p}` M per call (per digit)" for p in paths)
    print(head + (" | change |" if args.compare else " |"))
    print("|---|" + "---:|" * (len(paths) + bool(args.compare)))
    for case in args.cases:
        _, k = _calls(case)
        n = 2 if k >= 100 else args.calls
        per = [(count(p, case, n) - count(p, case, 0)) / n / 1e6 for p in paths]
        cells = " | ".join(f"{v:.3f} ({v / k:.4f})" for v in per)
        change = f" | {100 * (per[0] / per[1] - 1):+.1f} % |" if args.compare else " |"
        print(f"| {case} | {cells}{change}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
