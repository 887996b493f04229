"""Speed of the sequence API against NumPy floors and a lean reference, in interleaved rounds.

Run (a relative ``STROKESEQ_MNIST_DIR`` works: it is made absolute first)::

    STROKESEQ_MNIST_DIR=../shared/mnist python benchmarks/bench_sequence.py [--rounds 5]
    python benchmarks/bench_sequence.py --rounds 5 --compare ../main   # before/after

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
- the cost per row at 1 k, 10 k and 100 k rows (3 digits W=120 float32): the
  API into a new array, the new-array floor of the same size (a copy into a
  fresh array: what new memory costs this process, no API work), timed as a
  pair in alternating order, and the API with ``out=``; once with NumPy's
  huge-page hint for new arrays (its default) and once without it (4 KiB
  pages), ``--pages``;
- ``import strokeseq`` and the script end to end (median wall time).

Beside every new-array ratio and per-row cost the table prints the minor
page faults and the system CPU time per row (``getrusage``) of the API and
of the floor: in steady state both fault exactly the output's pages, and
what moves those ratios between runs is the price per fault. Every
new-array case is called once at full size before timing (a process's
first calls also convert tiles and grow the heap).

Every new array is freed outside the timing (the API's result and the
floors' copies alike). ``--compare PATH`` runs this script on this checkout
and on another one (e.g. a worktree of ``main``) in subprocesses,
alternately (``--runs`` each), and prints both checkouts' medians side by
side.
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import json
import os
import platform
import resource
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


def faults() -> np.ndarray:
    """Minor page faults and system CPU seconds of this process so far.

    A fresh array's pages are faulted in by whoever writes them first: the
    API writing its result, or the floor's copy. Counting them per row beside
    each ratio shows whether the API touches more fresh memory than the floor
    (it should not: the same output bytes) and how much of a ratio is the
    kernel's (and on a VM the host's) price per fault, which moves from run
    to run.
    """
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([ru.ru_minflt, ru.ru_stime])


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


def one_round(cases: dict[str, Callable[[], object]]) -> dict[str, object]:
    return {name: fn() for name, fn in cases.items()}


def set_hugepage(enabled: bool) -> bool:
    """Turn NumPy's huge-page hint for new arrays on or off; returns the old setting.

    A private NumPy toggle (``madvise(MADV_HUGEPAGE)`` on allocations of
    4 MiB and more, on by default): used here only, to compare new arrays on
    huge and on 4 KiB pages (transparent huge pages are ``madvise`` here).
    """
    try:
        from numpy._core.multiarray import _set_madvise_hugepage
    except ImportError:  # NumPy 1
        from numpy.core.multiarray import _set_madvise_hugepage  # type: ignore[no-redef]
    return bool(_set_madvise_hugepage(enabled))


def compare(args: argparse.Namespace) -> None:
    """This checkout and ``args.compare`` in subprocesses, alternately, side by side."""
    here = str(ROOT)
    other = str(Path(args.compare).resolve())
    results: dict[str, list[dict]] = {here: [], other: []}
    with tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            for path in (here, other) if run % 2 == 0 else (other, here):
                out = Path(tmp) / "run.json"
                cmd = [sys.executable, str(Path(__file__).resolve()), "--rounds", str(args.rounds)]
                cmd += ["--big", str(args.big), "--pages", args.pages, "--json", str(out)]
                env = dict(os.environ, PYTHONPATH=path)
                subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
                results[path].append(json.loads(out.read_text(encoding="utf-8")))
    print(f"before/after: this checkout {here} vs {other}; {args.runs} runs each, alternating")
    print(f"({args.rounds} interleaved rounds per run); each cell: one run's median (min..max)")
    print("of the per-round ratios, wall clock / CPU time; runs separated by ';'")
    print()
    for res in results[here]:
        print("-", res["header"])
    print()
    print("| measure | this checkout | other checkout | target |")
    print("|---|---:|---:|---|")
    theirs = {r[0]: r for res in results[other] for r in res["rows"]}
    for i, row in enumerate(results[here][0]["rows"]):
        mine = "; ".join(res["rows"][i][1] for res in results[here])
        other_cells = [
            next((r[1] for r in res["rows"] if r[0] == row[0]), "") for res in results[other]
        ]
        old = "; ".join(other_cells) if row[0] in theirs else "(no such case)"
        print(f"| {row[0]} | {mine} | {old} | {row[3]} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--big", type=int, default=100_000, help="rows of the largest batch")
    ap.add_argument(
        "--pages",
        choices=("huge", "4k", "both"),
        default="both",
        help="new arrays of the per-row cases with NumPy's huge-page hint, without it, or both",
    )
    ap.add_argument("--json", metavar="FILE", help="also write the table to FILE as JSON")
    ap.add_argument("--compare", metavar="PATH", help="another checkout: before/after table")
    ap.add_argument("--runs", type=int, default=2, help="runs per checkout with --compare")
    args = ap.parse_args()
    if args.compare:
        compare(args)
        return
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
    outs = {n: np.ones((n, 28, 120), np.float32) for n in sizes}  # (also the floors' source)
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
    # One full-size call of every new-array case before timing: the first calls
    # of a process convert tiles and grow the heap (their page faults are a
    # one-time cost; in steady state the API faults exactly the output's pages,
    # as the floor does: see the faults per row the table prints).
    for seqs, width, dtype in (
        (three, 120, np.float32),
        (three, 120, np.uint8),
        (ten, 400, np.float32),
    ):
        batch(seqs, width, dtype)
    ten_lists = ten.tolist()

    def loop10() -> np.ndarray:
        t = now()
        for i, s in enumerate(ten_lists):
            buf10[i] = generate_numbers_sequence(s, (0, 10), 400, rng=gen)
        return now() - t

    def timed_new(seqs, width, dtype) -> tuple[np.ndarray, ...]:
        f0, t = faults(), now()
        res = batch(seqs, width, dtype)
        t_api, f1 = now() - t, faults()
        t = now()
        floor = res.copy()  # the new-array floor: the same bytes into a fresh array
        t_floor, f2 = now() - t, faults()
        del res, floor  # (both freed outside the timing)
        return t_api, t_floor, f1 - f0, f2 - f1

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

    def flat_pair(n: int, huge: bool, api_first: bool) -> dict[str, np.ndarray]:
        """Per-row cost at ``n`` rows: the API into a new array and the new-array
        floor (a copy of the same bytes into a fresh array) as a pair, in the
        given order, both kept alive until both are timed; then ``out=``."""
        prev = set_hugepage(huge)
        try:
            got: dict[str, np.ndarray] = {}
            keep = []
            for which in ("api", "floor") if api_first else ("floor", "api"):
                f0, t = faults(), now()
                if which == "api":
                    keep.append(batch(flat[n], 120, np.float32))
                else:
                    keep.append(outs[n].copy())
                got[which] = (now() - t) / n
                got[which + " faults"] = (faults() - f0) / n
            del keep
            if HAS_OUT:
                f0 = faults()
                got["out"] = clock(lambda: batch(flat[n], 120, np.float32, out=outs[n])) / n
                got["out faults"] = (faults() - f0) / n
        finally:
            set_hugepage(prev)
        return got

    page_modes = {"huge": [True], "4k": [False], "both": [True, False]}[args.pages]
    parity = [0]
    for huge in page_modes:
        for n in sizes:
            key = f"flat{'' if huge else '4k'}_{n}"
            cases[key] = lambda n=n, huge=huge: flat_pair(n, huge, parity[0] % 2 == 0)
    cases["_parity"] = lambda: parity.__setitem__(0, parity[0] + 1)
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

    def fault_note(api: list[np.ndarray], floor: list[np.ndarray]) -> str:
        """Minor faults and system CPU µs per row (medians), API and floor."""

        def med(v: list[np.ndarray], i: int) -> float:
            return statistics.median(float(x[i]) for x in v)

        return (
            f"faults per row API {med(api, 0):.3f} / floor {med(floor, 0):.3f}, "
            f"system CPU {med(api, 1) * 1e6:.2f} / {med(floor, 1) * 1e6:.2f} µs per row"
        )

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
        where = stat([r[key][0] / n * 1e6 for r in rounds]) + " µs per row"
        if len(rounds[0][key]) > 2:  # a new array: its page faults, API and floor
            where += "; " + fault_note(
                [r[key][2] / n for r in rounds], [r[key][3] / n for r in rounds]
            )
        rows.append((label, stat([r[key][1] / r[key][0] for r in rounds]), where, target))
    rows.append(
        (
            "batch 10 digits W=400 / loop of single calls into a buffer (speed-up)",
            stat([r["loop10"] / r["b10_f32"][0] for r in rounds]),
            stat([r["loop10"] / len(ten) * 1e6 for r in rounds]) + " µs per loop row",
            "≥ 2",
        )
    )
    for huge in page_modes:
        pre = "flat" if huge else "flat4k"
        pages = "huge-page hint" if huge else "4 KiB pages"

        def per(key: str, pre: str = pre) -> dict[int, list[np.ndarray]]:
            return {n: [r[f"{pre}_{n}"][key] for r in rounds] for n in sizes}

        def times(values: dict[int, list[np.ndarray]], key: str = "", pre: str = pre) -> str:
            text = ", ".join(
                f"{n:,}: {statistics.median(float(v[0]) for v in values[n]) * 1e6:.2f} / "
                f"{statistics.median(float(v[1]) for v in values[n]) * 1e6:.2f} µs"
                for n in sizes
            )
            fk = f"{key} faults"
            if key and fk in rounds[0][f"{pre}_{sizes[0]}"]:  # faults and system µs per row
                text += "; faults / system µs per row " + ", ".join(
                    f"{n:,}: {statistics.median(float(r[f'{pre}_{n}'][fk][0]) for r in rounds):.3f}"
                    f" / {statistics.median(float(r[f'{pre}_{n}'][fk][1]) for r in rounds) * 1e6:.2f}"
                    for n in sizes
                )
            return text

        big, small = sizes[-1], sizes[0]
        api, floor = per("api"), per("floor")
        for label, values, target, key in (
            ("new array", api, "≤ 1.5", "api"),
            ("out=", per("out") if HAS_OUT else None, "≤ 1.5", "out"),
            ("new-array floor (copy into a fresh array, no API)", floor, "", "floor"),
        ):
            if values is None:
                continue
            rows.append(
                (
                    f"per-row cost {big:,} / {small:,} rows, 3 digits W=120, {label}, {pages}",
                    stat([a / b for a, b in zip(values[big], values[small], strict=True)]),
                    times(values, key),
                    target,
                )
            )
        # Where the growth goes: the API's added cost per row from the smallest
        # to the largest batch against the floor's (1 = all of it is new memory).
        grow_api = [a - b for a, b in zip(api[big], api[small], strict=True)]
        grow_floor = [a - b for a, b in zip(floor[big], floor[small], strict=True)]
        rows.append(
            (
                f"added cost per row {small:,} → {big:,} rows: API (new array) / floor, {pages}",
                stat([a / b for a, b in zip(grow_api, grow_floor, strict=True)]),
                "API "
                + stat([g * 1e6 for g in grow_api], "{:+.2f}")
                + " µs, floor "
                + stat([g * 1e6 for g in grow_floor], "{:+.2f}")
                + " µs",
                "≈ 1: the growth is the floor's",
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
    header = (
        f"strokeseq sequence benchmark, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}; {args.rounds} interleaved rounds; load average "
        f"{load0[0]:.1f} before, {load1[0]:.1f} after (shared machine)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"header": header, "rows": rows}), encoding="utf-8")
    print(header)
    print()
    print("Each cell: wall clock / process CPU time (median and min..max of the rounds).")
    print()
    print("| measure | ratio, median (min..max) | time, median (min..max) | target |")
    print("|---|---:|---:|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")


if __name__ == "__main__":
    main()
