"""Where the batch API's uint8 time goes, and the paste variants tried, in interleaved rounds.

Run from the repository root (MNIST files needed)::

    STROKESEQ_MNIST_DIR=../shared/mnist python benchmarks/bench_paste.py [--rounds 9]

The case is issue 12's 3 digits W=120 uint8 (20 000 rows, black ink: tiles
from the converted 47 MB bank). Every case runs once per round, the rounds
interleave the cases, and the table gives CPU time per row (median and
min..max) and the per-round ratio to the shipped paste (``paste``), with
the load average. The variants paste the same indices and positions and
must give the shipped bytes (checked before timing):

- ``paste``: the shipped :func:`strokeseq.pages._paste_bank` steps: per 1 MiB
  chunk, fill with the background, one ``np.take`` of the tiles into a
  reused buffer, one fancy-index scatter of 28-byte runs;
- its parts alone (fill, take, scatter), and the take from a 1 000-tile
  bank that stays in cache (what the gather costs without memory misses);
- the bank on 4 KiB pages (anonymous memory without ``MADV_HUGEPAGE``) or as
  a file memory map, instead of NumPy's huge-page-hinted copy;
- each chunk's tile indices sorted (locality), chunks of 256 KiB and 4 MiB;
- one fancy-index gather of tile lines into a ``(chunk, 28, 3 * 28)``
  buffer, then the scatter from it;
- staging: the chunk pasted in a reused cache-sized canvas, then one
  contiguous copy into the output;
- the API with ``out=`` and into a new array, the new-array floor (a copy
  into a fresh array), and a fresh array pre-faulted with
  ``MADV_POPULATE_WRITE`` (the kernel's share of the floor).
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from strokeseq import generate_sequences
from strokeseq.api import chunk_rows
from strokeseq.compose import _place, _scatter_runs
from strokeseq.pages import page_bank
from strokeseq.sources import source_for
from strokeseq.sources.base import TILE
from strokeseq.tiles import chunk_uniforms, plan_for

N, N_DIGITS, W, H = 20_000, 3, 120, TILE
RUN = np.dtype((np.void, TILE))


def _populate(a: np.ndarray) -> None:
    """``madvise(MADV_POPULATE_WRITE)`` on the whole pages of ``a`` (Linux >= 5.14)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    start = a.ctypes.data - a.ctypes.data % mmap.PAGESIZE
    length = (a.ctypes.data + a.nbytes - start) // mmap.PAGESIZE * mmap.PAGESIZE
    if libc.madvise(start, length, 23):
        raise OSError(ctypes.get_errno(), "madvise(MADV_POPULATE_WRITE)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    labels = np.random.default_rng(1).integers(0, 10, (N, N_DIGITS))
    plan = plan_for(source_for("mnist"), "black", np.uint8)
    if plan is None:
        raise SystemExit("the MNIST source has no tile bank")
    u_pick, u_gaps, u_margin = chunk_uniforms(np.random.default_rng(0), N, N_DIGITS, chunk_rows(W))
    idx = plan.indices(labels.reshape(-1), u_pick.reshape(-1)).reshape(N, N_DIGITS)
    pages = page_bank(plan.bank, np.arange(len(plan.bank)), "black", np.uint8)
    x0, _ = _place(
        np.full((N, N_DIGITS), TILE, np.int64), (0, 10), W, u_gaps, u_margin, layout="tile"
    )
    anon = mmap.mmap(-1, pages.nbytes)  # anonymous, no MADV_HUGEPAGE: 4 KiB pages
    bank_4k = np.frombuffer(anon, np.uint8).reshape(pages.shape)
    bank_4k[...] = pages
    tmp = tempfile.TemporaryDirectory()
    path = Path(tmp.name) / "bank.u8"
    pages.tofile(path)
    bank_file = np.asarray(np.memmap(path, np.uint8, "r", shape=pages.shape))
    small = np.ascontiguousarray(pages[:1000])
    out = np.ones((N, H, W), np.uint8)
    other = np.ones_like(out)

    def paste(
        bank=pages,
        chunk_bytes=1 << 20,
        fill=True,
        take=True,
        scatter=True,
        sort=False,
        lines=False,
        stage=False,
        index=idx,
    ) -> None:
        """One variant of the paste of all rows into ``out`` (defaults: the shipped one)."""
        step = max(1, chunk_bytes // (H * W))
        flat = bank.reshape(len(bank), TILE * TILE)
        buf = np.empty((step * N_DIGITS, TILE * TILE), np.uint8)
        canvas = np.empty((step, H, W), np.uint8)
        rows = np.arange(step).repeat(N_DIGITS)
        for s in range(0, N, step):
            chunk = out[s : s + step]
            r = len(chunk)
            target = canvas[:r] if stage else chunk
            if fill:
                target.fill(255)
            ii, rr, xx = index[s : s + step].reshape(-1), rows[: r * N_DIGITS], x0[s : s + step]
            xx = xx.reshape(-1)
            if lines:  # tile lines side by side: (r, 28, 3 * 28), then the same scatter
                li = index[s : s + step][:, None, :] * TILE + np.arange(TILE)[None, :, None]
                lb = np.take(bank.reshape(-1, TILE), li.reshape(-1), axis=0, mode="clip")
                runs = np.ndarray((r, H, W - TILE + 1), RUN, buffer=target, strides=(H * W, W, 1))
                src = lb.view(RUN).reshape(r, H, N_DIGITS).transpose(0, 2, 1)
                runs[np.arange(r)[:, None], :, x0[s : s + step]] = src
                continue
            if sort:
                order = np.argsort(ii)
                ii, rr, xx = ii[order], rr[order], xx[order]
            tiles = buf[: r * N_DIGITS]
            if take:
                np.take(flat, ii, axis=0, out=tiles, mode="clip")
            if scatter:
                _scatter_runs(target, tiles, rr, xx, RUN)
            if stage:
                np.copyto(chunk, target)

    def api(into=None):
        kw = {"out": into} if into is not None else {}
        return generate_sequences(labels, (0, 10), W, rng=0, dtype=np.uint8, **kw)

    def populated():
        a = np.empty_like(out)
        _populate(a)
        return a

    cases: dict[str, Callable[[], object]] = {
        "paste": paste,
        "  fill only": lambda: paste(take=False, scatter=False),
        "  take only": lambda: paste(fill=False, scatter=False),
        "  take only, 1 000-tile bank (in cache)": lambda: paste(
            small, fill=False, scatter=False, index=idx % 1000
        ),
        "  scatter only": lambda: paste(fill=False, take=False),
        "bank on 4 KiB pages": lambda: paste(bank_4k),
        "bank as a file memory map": lambda: paste(bank_file),
        "indices sorted per chunk": lambda: paste(sort=True),
        "chunks of 256 KiB": lambda: paste(chunk_bytes=256 << 10),
        "chunks of 4 MiB": lambda: paste(chunk_bytes=4 << 20),
        "gather of tile lines (chunk, 28, 3*28)": lambda: paste(lines=True),
        "staged in a cached canvas, then copied": lambda: paste(stage=True),
        "API, out=": lambda: api(out),
        "API, new array": api,
        "new-array floor (copy into a fresh array)": out.copy,
        "copy into a reused array": lambda: np.copyto(other, out),
        "fresh array + MADV_POPULATE_WRITE only": populated,
    }
    want = api()
    variants = [k for k in cases if not k.startswith(("  ", "API", "new-", "copy", "fresh"))]
    for name in variants:  # every full variant gives the API's bytes
        out[...] = 0
        cases[name]()
        np.testing.assert_array_equal(out, want, err_msg=name)
    load0 = os.getloadavg()
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.rounds):
        for name, fn in cases.items():
            t = time.process_time()
            res = fn()
            times[name].append((time.process_time() - t) / N * 1e6)
            del res  # (freed outside the timing)
    load1 = os.getloadavg()
    print(
        f"bench_paste, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: 3 digits W=120 "
        f"uint8, {N:,} rows, {args.rounds} interleaved rounds, load average {load0[0]:.1f} "
        f"before, {load1[0]:.1f} after (shared machine); CPU time per row"
    )
    print()
    print("| case | µs per row, median (min..max) | / paste, per round: median (min..max) |")
    print("|---|---:|---:|")
    for name, v in times.items():
        r = [a / b for a, b in zip(v, times["paste"], strict=True)]
        print(
            f"| {name.strip()}{' (part)' if name.startswith('  ') else ''} | "
            f"{statistics.median(v):.3f} ({min(v):.3f}..{max(v):.3f}) | "
            f"{statistics.median(r):.2f} ({min(r):.2f}..{max(r):.2f}) |"
        )
    f = times["new-array floor (copy into a fresh array)"]
    ratio = [a / b for a, b in zip(f, times["API, new array"], strict=True)]
    print()
    print(
        f"new-array floor / API: {statistics.median(ratio):.3f} "
        f"({min(ratio):.3f}..{max(ratio):.3f}) (target >= 0.35)"
    )
    tmp.cleanup()


if __name__ == "__main__":
    main()
