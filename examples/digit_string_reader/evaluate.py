"""Evaluate reader checkpoints on a fresh ladder and the clean held-out sets, paired.

    python examples/digit_string_reader/evaluate.py BASE.pt TUNED.pt [...] --out eval/ \\
        --ladder-seed 2 --per-level 100 --eval 2000

The first checkpoint is the reference: every other one is compared with it on
the same samples (difficulty AUC, the whole ladder, clean exact match with
the paired standard error of the change). ``--validation`` uses the clean
sets made from the MNIST **train** split (for choosing a recipe) instead of
the test split, and ``--axes difficulty`` a smaller ladder. Writes
``OUT/<name>/`` (the robustness report of each checkpoint), ``OUT/eval.json``,
and with two checkpoints ``OUT/loop.png`` / ``OUT/loop.md`` (before/after).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", type=Path, nargs="+", help="reference first")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ladder-seed", type=int, default=2)
    p.add_argument("--per-level", type=int, default=100)
    p.add_argument("--axes", default="all", help="ladder axes (default all)")
    p.add_argument("--length", type=int, default=4)
    p.add_argument("--eval", type=int, default=2000, help="clean samples per set (0: none)")
    p.add_argument("--validation", action="store_true", help="clean sets from the train split")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)

    import torch
    from hardcase_loop import auc, paired, plot, table
    from model import load_checkpoint, read_batch
    from train import held_out_correct

    from strokeseq.hardcases import evaluate, make_ladder, write_report
    from strokeseq.hardcases.ladder import check_axes

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    lad = make_ladder(args.axes, args.per_level, args.ladder_seed, kind="sequences",
                      length=args.length, source="synthetic", split="test")  # fmt: skip
    axes = check_axes(args.axes)
    reports, clean, rows = [], [], {}
    for ck in args.checkpoints:
        model, _ = load_checkpoint(ck)
        rep = evaluate(lambda x, m=model: read_batch(m, x), lad, batch_size=256, name=ck.stem,
                       progress=None)  # fmt: skip
        write_report(rep, args.out / ck.stem)
        reports.append(rep)
        clean.append(held_out_correct(model, args.eval, validation=args.validation)
                     if args.eval else {})  # fmt: skip
        rows[str(ck)] = {
            "auc": {a: round(auc(rep.accuracy(a)), 2) for a in axes},
            "ladder_accuracy": rep.overall["accuracy"],
            "clean": {k: paired(clean[0][k], v) for k, v in clean[-1].items()},
        }
        print(json.dumps({"checkpoint": str(ck), "auc_difficulty": rows[str(ck)]["auc"].get(
            "difficulty"), "clean": {k: round(100 * v.mean(), 2) for k, v in clean[-1].items()}}),
            flush=True)  # fmt: skip
    res = {
        "ladder": {"seed": args.ladder_seed, "per_level": args.per_level, "axes": axes},
        "clean_split": "train (validation)" if args.validation else "test",
        "clean_n": args.eval,
        "checkpoints": rows,
        "seconds": round(time.perf_counter() - t0, 1),
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    (args.out / "eval.json").write_text(json.dumps(res, indent=1) + "\n")
    if len(reports) == 2 and set(axes) == set(check_axes("all")):
        plot(reports[0], reports[1], args.out / "loop.png")
        (args.out / "loop.md").write_text(table(reports[0], reports[1]) + "\n")
    return res


if __name__ == "__main__":
    main()
