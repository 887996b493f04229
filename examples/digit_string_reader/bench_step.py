"""CPU time of one training step: random batches against width-sorted groups (``--buckets``).

    python examples/digit_string_reader/bench_step.py --rounds 4 --threads 1

Each round draws 4 batches of 32 widths from the training mix (tile 34n + 8,
ink 28n + 12, n = 3..8), runs forward + CTC + backward + AdamW on them as
they come and again sorted into 4 batches, and times both with the process
CPU clock (robust to a shared machine's load). Prints the per-round ratio
(sorted / random), its median and range, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from model import CRNN, output_lengths


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--buckets", type=int, default=4)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    group = args.batch_size * args.buckets
    n = rng.integers(3, 9, group * args.rounds)
    widths = np.where(rng.random(n.size) < 0.5, 34 * n + 8, 28 * n + 12)
    model = CRNN()
    opt = torch.optim.AdamW(model.parameters(), 1e-4)
    ctc = torch.nn.CTCLoss(blank=10, zero_infinity=True)

    def step(ws: np.ndarray) -> None:
        x = torch.rand(len(ws), 1, 28, int(ws.max()))
        targets = torch.randint(0, 10, (4 * len(ws),))
        lengths = torch.full((len(ws),), 4)
        loss = ctc(model(x), targets, output_lengths(torch.as_tensor(ws)), lengths)
        opt.zero_grad()
        loss.backward()
        opt.step()

    cpu: dict[str, list[float]] = {"random": [], "sorted": []}
    for r in range(args.rounds):
        w = widths[r * group : (r + 1) * group]
        for name, ws in (("random", w), ("sorted", np.sort(w))):
            t = time.process_time()
            for b in ws.reshape(args.buckets, args.batch_size):
                step(b)
            cpu[name].append((time.process_time() - t) / args.buckets)
    ratio = np.array(cpu["sorted"]) / np.array(cpu["random"])
    res = {
        "cpu_s_per_step": {k: [round(v, 3) for v in vs] for k, vs in cpu.items()},
        "ratio": {
            "median": round(float(np.median(ratio)), 3),
            "min": round(float(ratio.min()), 3),
            "max": round(float(ratio.max()), 3),
        },
        "load": [round(x, 2) for x in os.getloadavg()],
        "threads": args.threads,
    }
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
