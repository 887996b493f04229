"""Evaluate reader checkpoints on a fresh ladder and the clean held-out sets, paired.

    python examples/digit_string_reader/evaluate.py BASE.pt TUNED.pt [...] --out eval/ \\
        --ladder-seed 11 --per-level 200 --eval 2000

The first checkpoint is the reference: every other one is compared with it on
the same samples (difficulty AUC, the whole ladder, clean exact match with
the paired standard error of the change). ``--averages 0.5 0.75`` also
evaluates, for every other checkpoint (a fine-tune of the reference), the
weight averages ``(1 - a) * reference + a * checkpoint`` (what ``train.py
--average a`` saves). ``--validation`` uses the clean sets and the MNIST
ladder made from the digits of the writers the reference was trained
without (``train.py --holdout-writers``), for choosing a recipe, instead of
the MNIST test split; ``--axes difficulty`` makes a smaller ladder,
``--ladder-source synthetic`` one of drawn digits. Writes ``OUT/<name>/``
(the robustness report of each model), ``OUT/eval.json``, and with all axes
``OUT/loop.png`` / ``OUT/loop.md``: the reference before, the last model
evaluated after (with ``--averages A``: the average of the last checkpoint).
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


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", type=Path, nargs="+", help="reference first")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--ladder-seed", type=int, default=11)
    p.add_argument("--per-level", type=int, default=200)
    p.add_argument("--axes", default="all", help="ladder axes (default all)")
    p.add_argument("--length", type=int, default=4)
    p.add_argument("--ladder-source", choices=("mnist", "synthetic"), default="mnist")
    p.add_argument("--eval", type=int, default=2000, help="clean samples per set (0: none)")
    p.add_argument(
        "--validation", action="store_true",
        help="clean sets and MNIST ladder from the reference's held-out writers",
    )  # fmt: skip
    p.add_argument(
        "--averages", type=float, nargs="*", default=[], metavar="A",
        help="also weight averages (1 - A) * reference + A * each other checkpoint",
    )  # fmt: skip
    p.add_argument(
        "--only-averages", action="store_true",
        help="with --averages: evaluate the averages, not the checkpoints they mix",
    )  # fmt: skip
    p.add_argument("--threads", type=int, default=2)
    return p.parse_args(argv)


def models(args):
    """``(name, model)`` of every checkpoint, and the weight averages asked for."""
    from model import load_checkpoint
    from train import average_weights

    ref, _ = load_checkpoint(args.checkpoints[0])
    start = {k: v.clone() for k, v in ref.state_dict().items()}
    yield args.checkpoints[0].stem, ref
    for ck in args.checkpoints[1:]:
        if not (args.only_averages and args.averages):
            yield ck.stem, load_checkpoint(ck)[0]
        for a in args.averages:
            mixed, _ = load_checkpoint(ck)
            average_weights(mixed, start, a)
            yield f"{ck.stem}_avg{round(100 * a)}", mixed


def main(argv=None) -> dict:
    args = parse_args(argv)

    import torch
    from hardcase_loop import auc, clean_split, ladder_for, paired, plot, table
    from model import load_checkpoint, read_batch
    from train import checkpoint_holdout, held_out_correct

    from strokeseq.hardcases import evaluate, write_report
    from strokeseq.hardcases.ladder import check_axes

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    holdout = checkpoint_holdout(load_checkpoint(args.checkpoints[0])[1])
    lad = ladder_for(args, holdout, args.axes)
    axes = check_axes(args.axes)
    reports, clean, rows = [], [], {}
    for name, model in models(args):
        rep = evaluate(lambda x, m=model: read_batch(m, x), lad, batch_size=256, name=name,
                       progress=None)  # fmt: skip
        write_report(rep, args.out / name)
        reports.append(rep)
        clean.append(held_out_correct(model, args.eval, validation=args.validation,
                                      holdout_writers=holdout) if args.eval else {})  # fmt: skip
        rows[name] = {
            "auc": {a: round(auc(rep.accuracy(a)), 2) for a in axes},
            "ladder_accuracy": rep.overall["accuracy"],
            "clean": {k: paired(clean[0][k], v) for k, v in clean[-1].items()},
        }
        print(json.dumps({"model": name, "auc_difficulty": rows[name]["auc"].get("difficulty"),
                          "clean": {k: round(100 * v.mean(), 2) for k, v in clean[-1].items()}}),
              flush=True)  # fmt: skip
    res = {
        "ladder": {
            "seed": args.ladder_seed,
            "per_level": args.per_level,
            "axes": axes,
            "source": lad.info["source"],
            "length": args.length,
        },
        "clean_split": clean_split(args.validation, holdout),
        "clean_n": args.eval,
        "checkpoints": rows,
        "seconds": round(time.perf_counter() - t0, 1),
        "load": [round(x, 2) for x in os.getloadavg()],
    }
    (args.out / "eval.json").write_text(json.dumps(res, indent=1) + "\n")
    if len(reports) >= 2 and set(axes) == set(check_axes("all")):  # reference against the last
        plot(reports[0], reports[-1], args.out / "loop.png")
        names = f"{reports[0].model} → {reports[-1].model}"
        (args.out / "loop.md").write_text(f"{names}\n\n{table(reports[0], reports[-1])}\n")
    return res


if __name__ == "__main__":
    main()
