"""Speed of the sequence API against NumPy floors and a lean reference, in interleaved rounds.

Run (a relative ``STROKESEQ_MNIST_DIR`` works: it is made absolute first)::

    STROKESEQ_MNIST_DIR=../shared/mnist python benchmarks/bench_sequence.py [--rounds 5]

Every case is timed once per round, the rounds interleave all cases, and the
ratios are taken inside each round; the table gives their median and
min..max, with the load average before and after, so a busy moment of a
shared machine cannot flatter one case. The cases:

- single call ``generate_numbers_sequence([3, 0, 5], (0, 10), 120)`` against a
  lean fixed-spacing reference that pastes pre-converted float32 tiles;
- the batch API, 3 digits W=120 (float32, uint8) against the new-array floor
  (copying the same bytes into a fresh array) and with ``out=`` against the
  copy into a reused buffer;
- 10 digits W=400 against the floor and a Python loop of single calls into
  a reused buffer;
- the cost per sample at 1 k, 10 k and 100 k rows, with and without ``out=``,
  beside a plain fill of a fresh array of the same shape (what new memory
  costs this process, with no API work);
- ``import strokeseq`` and the script end to end (median wall time).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def _absolute_data_dir() -> None:
    """Make a relative STROKESEQ_MNIST_DIR absolute (subprocesses run in other folders)."""
    d = os.environ.get("STROKESEQ_MNIST_DIR")
    if d:
        os.environ["STROKESEQ_MNIST_DIR"] = str(Path(d).resolve())


_absolute_data_dir()

from strokeseq import generate_numbers_sequence, generate_sequences  # noqa: E402


def now() -> np.ndarray:
    """Wall-clock and process CPU seconds: every case is timed on both clocks.

    On a shared machine the wall clock also counts the time the process
    waits for a core; CPU time does not (it still counts page faults, which
    the kernel handles on the process's time).
    """
    return np.array([time.perf_counter(), time.process_time()])


def clock(fn: Callable[[], object], number: int = 1) -> np.ndarray:
    """Wall and CPU seconds for ``number`` calls of ``fn``."""
    t = now()
    for _ in range(number):
        fn()
    return now() - t


def lean_reference() -> Callable[[list[int], int, int], np.ndarray]:
    """Fixed spacing, no validation, tiles converted to float32 page pixels beforehand."""
    from strokeseq.sources import get_source

    src = get_source("mnist", split="train")
    tiles = np.subtract(np.float32(1), src.images / np.float32(255), dtype=np.float32)
    by_label = [np.flatnonzero(src.labels == d).tolist() for d in range(10)]
    rng = np.random.default_rng(0)

    def make(digits: list[int], spacing: int, width: int) -> np.ndarray:
        img = np.ones((28, width), np.float32)
        x = 0
        for d, u in zip(digits, rng.random(len(digits)).tolist(), strict=True):
            pool = by_label[d]
            img[:, x : x + 28] = tiles[pool[int(u * len(pool))]]
            x += 28 + spacing
        return img

    return make


#: Older versions have no ``out=``: their out= rows are left out.
HAS_OUT = "out" in inspect.signature(generate_sequences).parameters


def batch(seqs: np.ndarray, width: int, dtype, out=None, seed: int = 0) -> np.ndarray:
    kw = {"out": out} if out is not None else {}
    return generate_sequences(seqs, (0, 10), width, rng=seed, dtype=dtype, **kw)


def one_round(cases: dict[str, Callable[[], float]]) -> dict[str, float]:
    return {name: fn() for name, fn in cases.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big", type=int, default=100_000, help="rows of the largest batch")
    args = ap.parse_args()
    load0 = os.getloadavg()
    lean = lean_reference()
    rng = np.random.default_rng(1)
    gen = np.random.default_rng(2)
    three = rng.integers(0, 10, (20_000, 3))
    ten = rng.integers(0, 10, (5_000, 10))
    sizes = (1_000, 10_000, args.big)
    flat = {n: rng.integers(0, 10, (n, 3)) for n in sizes}
    generate_numbers_sequence([3, 0, 5], (0, 10), 120)  # data loaded
    batch(three[:3000], 120, np.float32)  # ink-box table built
    K = 3000
    single_args = ([3, 0, 5], (0, 10), 120)
    # Buffers written once before timing (np.zeros would leave their pages to
    # be faulted in by the first timed call).
    out3 = {dt: np.ones((len(three), 28, 120), dt) for dt in (np.float32, np.uint8)}
    buf10 = np.ones((len(ten), 28, 400), np.float32)
    outs = {n: np.ones((n, 28, 120), np.float32) for n in sizes} if HAS_OUT else {}
    # Steady state for the single call: the tiles it keeps in output pixels
    # are all converted first, as the lean reference's are (its setup).
    with contextlib.suppress(ImportError):  # (versions without the cache: nothing to warm)
        from strokeseq.sources import source_for

        try:  # the tile plan the single call pastes from
            from strokeseq.tiles import plan_for

            plan = plan_for(source_for("mnist"), "black", np.float32)
            if plan is not None:
                plan.convert_all()
        except ImportError:  # an older checkout (--compare): its converted-tile cache
            from strokeseq.compose import page_tiles

            bank = source_for("mnist").images
            page_tiles(bank, list(range(len(bank))), "black", np.float32)
    ten_lists = ten.tolist()

    def loop10() -> np.ndarray:
        t = now()
        for i, s in enumerate(ten_lists):
            buf10[i] = generate_numbers_sequence(s, (0, 10), 400, rng=gen)
        return now() - t

    def timed_new(seqs, width, dtype) -> tuple[np.ndarray, np.ndarray]:
        t = now()
        res = batch(seqs, width, dtype)
        t_api = now() - t
        t = now()
        res.copy()  # the new-array floor: the same bytes into a fresh array
        return t_api, now() - t

    def timed_out(seqs, width, dtype, out) -> tuple[np.ndarray, np.ndarray]:
        t_api = clock(lambda: batch(seqs, width, dtype, out=out))
        dst = np.empty_like(out)
        dst[...] = 0
        return t_api, clock(lambda: np.copyto(dst, out))

    cases: dict[str, Callable[[], object]] = {
        "single": lambda: clock(lambda: generate_numbers_sequence(*single_args, rng=gen), K),
        "lean": lambda: clock(lambda: lean([3, 0, 5], 5, 120), K),
        "b3_f32": lambda: timed_new(three, 120, np.float32),
        "b3_u8": lambda: timed_new(three, 120, np.uint8),
        "b10_f32": lambda: timed_new(ten, 400, np.float32),
        "loop10": loop10,
    }
    if HAS_OUT:
        cases["b3_f32_out"] = lambda: timed_out(three, 120, np.float32, out3[np.float32])
        cases["b3_u8_out"] = lambda: timed_out(three, 120, np.uint8, out3[np.uint8])

    def plain_fill(n: int) -> np.ndarray:
        """Seconds per row to allocate and fill a fresh array of the API's shape."""
        t = now()
        a = np.empty((n, 28, 120), np.float32)
        a[...] = 1.0
        return (now() - t) / n

    for n in sizes:
        cases[f"flat_{n}"] = lambda n=n: clock(lambda: batch(flat[n], 120, np.float32)) / n
        cases[f"fill_{n}"] = lambda n=n: plain_fill(n)
        if HAS_OUT:
            cases[f"flat_out_{n}"] = lambda n=n: (
                clock(lambda: batch(flat[n], 120, np.float32, out=outs[n])) / n
            )
    rounds = [one_round(cases) for _ in range(args.rounds)]
    load1 = os.getloadavg()

    def stat1(values: list[float], fmt: str) -> str:
        return (
            f"{fmt.format(statistics.median(values))} "
            f"({fmt.format(min(values))}..{fmt.format(max(values))})"
        )

    def stat(values: list[np.ndarray], fmt: str = "{:.2f}") -> str:
        """Median (min..max) on the wall clock; the same on CPU time after a slash."""
        wall, cpu = (stat1([float(v[i]) for v in values], fmt) for i in (0, 1))
        return f"{wall} / {cpu}"

    rows = []
    rows.append(
        (
            "single call [3,0,5], (0,10), 120 / lean reference",
            stat([r["lean"] / r["single"] for r in rounds]),
            stat([r["single"] / K * 1e6 for r in rounds], "{:.1f}") + " µs per call",
            "≥ 0.6",
        )
    )
    for key, label, target in (
        ("b3_f32", "batch 3 digits W=120 float32 / new-array floor", "≥ 0.5"),
        ("b3_u8", "batch 3 digits W=120 uint8 / new-array floor", "≥ 0.35"),
        ("b10_f32", "batch 10 digits W=400 float32 / new-array floor", "≥ 0.3"),
        ("b3_f32_out", "batch 3 digits W=120 float32, out= / copy into out", ""),
        ("b3_u8_out", "batch 3 digits W=120 uint8, out= / copy into out", ""),
    ):
        if key not in rounds[0]:
            continue
        n = len(ten) if key.startswith("b10") else len(three)
        rows.append(
            (
                label,
                stat([r[key][1] / r[key][0] for r in rounds]),
                stat([r[key][0] / n * 1e6 for r in rounds]) + " µs per row",
                target,
            )
        )
    rows.append(
        (
            "batch 10 digits W=400 / loop of single calls into a buffer (speed-up)",
            stat([r["loop10"] / r["b10_f32"][0] for r in rounds]),
            stat([r["loop10"] / len(ten) * 1e6 for r in rounds]) + " µs per loop row",
            "≥ 2",
        )
    )
    for prefix, label in (
        ("flat_", "new array"),
        ("flat_out_", "out="),
        ("fill_", "plain np.empty + fill (no API)"),
    ):
        if f"{prefix}{sizes[0]}" not in rounds[0]:
            continue
        per = {n: [r[f"{prefix}{n}"] for r in rounds] for n in sizes}
        rows.append(
            (
                f"per-row cost {sizes[-1]:,} / {sizes[0]:,} rows, 3 digits W=120, {label}",
                stat([a / b for a, b in zip(per[sizes[-1]], per[sizes[0]], strict=True)]),
                ", ".join(
                    f"{n:,}: {statistics.median(float(v[0]) for v in per[n]) * 1e6:.2f} / "
                    f"{statistics.median(float(v[1]) for v in per[n]) * 1e6:.2f} µs"
                    for n in sizes
                ),
                "≤ 1.5",
            )
        )
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        script = [py, str(ROOT / "scripts" / "make_sequence.py"), "305", "0", "10", "120"]
        script += ["-o", "x.png", "--overwrite"]
        cmds = {
            "bare": [py, "-c", "pass"],
            "strokeseq": [py, "-c", "import strokeseq"],
            "script": script,
        }
        walls: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(7):
            for name, cmd in cmds.items():
                t = time.perf_counter()
                subprocess.run(cmd, cwd=tmp, check=True, capture_output=True)
                walls[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) for k, v in walls.items()}
    rows.append(
        ("`import strokeseq` above bare python", f"{med['strokeseq'] - med['bare']:.3f} s", "", "")
    )
    rows.append(("`make_sequence.py 305 0 10 120` end to end", f"{med['script']:.3f} s", "", ""))
    print(
        f"strokeseq sequence benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}; {args.rounds} interleaved rounds; load average "
        f"{load0[0]:.1f} before, {load1[0]:.1f} after (shared machine)"
    )
    print()
    print("Each cell: wall clock / process CPU time (median and min..max of the rounds).")
    print()
    print("| measure | ratio, median (min..max) | time, median (min..max) | target |")
    print("|---|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
