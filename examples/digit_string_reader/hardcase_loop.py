"""The hard-case loop: mine hard cases for the reader, fine-tune on them, measure again.

    python examples/digit_string_reader/train.py --holdout-writers 0.2 --out base.pt
    python examples/digit_string_reader/hardcase_loop.py --checkpoint base.pt --out loop/

1. mine along the combined ``difficulty`` knob (levels 1-6) from the MNIST
   training digits of the writers the base trained on only: by default 9 000
   sequences at the training lengths 3-8, split over mining seeds 1-6
   (``--mine-seed``) and the lengths, keeping **every** sample of the levels
   (``--mine-levels all``; ``failures``: only those the base misreads, found
   with ``mine_hard_cases``; ``--mine-source synthetic --mine-lengths 4 4``:
   sequences of 4 drawn digits);
2. fine-tune from the checkpoint with the mined cases mixed into every batch
   (``train.py --init ... --hardcases ...``, fresh training samples for the
   rest: 50 % mined cases, 3 000 steps, peak learning rate 5e-4, cosine;
   ``--hard-fraction 0``: the control, the same fine-tune without them). A
   third of the fresh samples are in the clean touching geometry (ink layout,
   gaps -3..1; ``--touching-share``): the mined cases wear that skill down,
   the fresh ones keep it;
3. ``--average A`` (default 1: off) would save ``(1 - A) * start + A *
   fine-tuned`` (weight-space ensembling; session 5's default 0.75: with the
   touching share it is no longer needed, docs/training.md has the
   validation table that chose these defaults);
4. evaluate before and after on a **fresh** ladder (seed 11, all axes, 200
   per level, MNIST test digits; ``--ladder-source synthetic``: drawn digits)
   and on the clean held-out sets (MNIST test split). ``--validation``: the
   clean sets and the ladder from the writers the base was trained without
   (``train.py --holdout-writers``), for choosing a recipe.

Writes ``OUT/loop.json`` (all figures), ``OUT/loop.md`` (the tables) and
``OUT/loop.png`` (difficulty curve before/after and the per-axis change);
``--mine-only`` stops after mining (``OUT/mined/``, ``OUT/mined.json``).
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def auc(acc: list[float]) -> float:
    """Area under accuracy against difficulty t in [0, 1] (trapezoid over the levels), in %."""
    a = np.asarray(acc, float)
    return float(100 * np.mean((a[1:] + a[:-1]) / 2))  # equal steps of t


def ladder_source(source: str, validation: bool, holdout: float | None) -> tuple[str, str]:
    """``(source, split)`` of the evaluation ladder's digits.

    ``"synthetic"``: drawn strokes (no writer). ``"mnist"``: the MNIST test split, or with
    ``validation`` the digits of the writers the model was trained without (``holdout``, the
    share of ``train.py --holdout-writers``; required: the base must not have seen them).
    """
    if source == "synthetic":
        return "synthetic", "test"
    if source != "mnist":
        raise ValueError(f"ladder source must be 'synthetic' or 'mnist', got {source!r}")
    if not validation:
        return "mnist", "test"
    if holdout is None:
        raise ValueError(
            "a validation ladder of MNIST digits needs a base trained with --holdout-writers "
            "(its held-out writers' digits); this checkpoint was trained on all writers"
        )
    from writer_split import source_name

    return source_name("holdout", holdout), "train"


def ladder_for(args, holdout: float | None, axes: str = "all"):
    """The fresh ladder of ``args`` (``ladder_source``, seed, per level, length)."""
    from strokeseq.hardcases import make_ladder

    source, split = ladder_source(args.ladder_source, args.validation, holdout)
    return make_ladder(axes, args.per_level, args.ladder_seed, kind="sequences",
                       length=args.length, source=source, split=split)  # fmt: skip


def ladder_eval(model, lad, args, tag: str):
    from model import read_batch

    from strokeseq.hardcases import evaluate, write_report

    rep = evaluate(lambda x: read_batch(model, x), lad, batch_size=256, name=f"reader ({tag})",
                   progress=None)  # fmt: skip
    write_report(rep, args.out / f"report_{tag}")
    return rep


def plot(before, after, path: Path) -> None:
    """Difficulty curve before/after (left) and accuracy change per axis and level (right)."""
    from PIL import Image, ImageDraw

    from strokeseq.hardcases.figures import _font
    from strokeseq.hardcases.ladder import AXES, N_LEVELS

    w, h = 900, 380
    img = Image.new("RGB", (w, h), "white")
    dr = ImageDraw.Draw(img)
    f, fs = _font(14), _font(12)
    left, top, pw, ph = 60, 40, 330, 280
    for k in range(6):
        y = top + ph * (1 - k / 5)
        dr.line([(left, y), (left + pw, y)], fill=(225, 225, 225))
        dr.text((left - 6, y), f"{20 * k}%", fill="black", font=fs, anchor="rm")
    for i in range(N_LEVELS):
        x = left + pw * i / (N_LEVELS - 1)
        dr.text((x, top + ph + 6), f"L{i}", fill="black", font=fs, anchor="ma")
    dr.rectangle([left, top, left + pw, top + ph], outline="black")
    dr.text((left + pw / 2, 10), "difficulty curve (sequence accuracy)", fill="black", font=f,
            anchor="ma")  # fmt: skip
    for rep, col, name in ((before, (150, 150, 150), "before"), (after, (31, 119, 180), "after")):
        acc = rep.accuracy("difficulty")
        pts = [(left + pw * i / (N_LEVELS - 1), top + ph * (1 - v)) for i, v in enumerate(acc)]
        dr.line(pts, fill=col, width=3)
        for x, y in pts:
            dr.ellipse([x - 3, y - 3, x + 3, y + 3], fill=col)
        dr.text((pts[-1][0] - 4, pts[-1][1] - 14), f"{name} AUC {auc(acc):.1f}", fill=col,
                font=fs, anchor="rs")  # fmt: skip
    # right: heat map of accuracy change (after - before), axes x levels
    x0, y0, cw, chh = 520, 50, 50, 34
    dr.text((x0 + 3.5 * cw, 10), "change in accuracy (points)", fill="black", font=f, anchor="ma")
    for i in range(N_LEVELS):
        dr.text((x0 + i * cw + cw / 2, y0 - 4), f"L{i}", fill="black", font=fs, anchor="md")
    for r, a in enumerate(AXES):
        b, c = before.accuracy(a), after.accuracy(a)
        dr.text((x0 - 6, y0 + r * chh + chh / 2), a, fill="black", font=fs, anchor="rm")
        for i in range(N_LEVELS):
            d = 100 * (c[i] - b[i])
            g = int(min(1.0, abs(d) / 30) * 180)
            fill = (255 - g, 255, 255 - g) if d >= 0 else (255, 255 - g, 255 - g)
            box = [x0 + i * cw, y0 + r * chh, x0 + (i + 1) * cw - 1, y0 + (r + 1) * chh - 1]
            dr.rectangle(box, fill=fill, outline=(220, 220, 220))
            dr.text((box[0] + cw / 2, box[1] + chh / 2), f"{d:+.0f}", fill="black", font=fs,
                    anchor="mm")  # fmt: skip
    img.save(path, format="PNG", optimize=True)


def table(before, after) -> str:
    from strokeseq.hardcases.ladder import AXES, N_LEVELS

    head = "| axis | " + " | ".join(f"L{i}" for i in range(N_LEVELS)) + " | AUC |"
    lines = [head, "|---|" + "---:|" * (N_LEVELS + 1)]
    for a in AXES:
        b, c = before.accuracy(a), after.accuracy(a)
        cells = [f"{100 * x:.1f} → {100 * y:.1f}" for x, y in zip(b, c, strict=True)]
        lines.append(f"| {a} | " + " | ".join(cells) + f" | {auc(b):.1f} → {auc(c):.1f} |")
    return "\n".join(lines)


def paired(before: np.ndarray, after: np.ndarray) -> dict[str, float]:
    """Accuracy before/after on the same samples, the change and its standard error (paired)."""
    d = after.astype(float) - before.astype(float)
    se = float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    return {
        "n": len(d),
        "before": float(before.mean()),
        "after": float(after.mean()),
        "change": float(d.mean()),
        "change_se": se,
        "se_after": float(np.sqrt(after.mean() * (1 - after.mean()) / len(d))),
    }


def mine_source(source: str, holdout: float | None) -> str:
    """Digits to mine from: synthetic, or the MNIST training digits the base trained on
    (with ``holdout``, only the writers it was trained with: never a held-out writer)."""
    if source == "synthetic" or holdout is None:
        return source
    from writer_split import source_name

    return source_name("fit", holdout) if source == "mnist" else source


def mine(base, args, holdout: float | None = None) -> tuple[list[Path], dict]:
    """Mine ``--mine`` hard cases, split evenly over ``--mine-seed`` x ``--mine-lengths``
    (one folder each). ``--mine-levels all``: every sample of the levels, not only the
    failures (a ladder of the base's training digits, no model needed)."""
    from model import read_batch

    from strokeseq.hardcases import make_ladder, mine_hard_cases, write_hardcases

    source = mine_source(args.mine_source, holdout)
    seeds = args.mine_seed if isinstance(args.mine_seed, list) else [args.mine_seed]
    lo, hi = args.mine_lengths
    runs = [(s, length) for s in seeds for length in range(lo, hi + 1)]
    folders, summary = [], {}
    for k, (seed, length) in enumerate(runs):
        n = args.mine // len(runs) + (k < args.mine % len(runs))
        budget = args.budget // len(runs) + (k < args.budget % len(runs))
        if n == 0:  # fewer cases than seeds x lengths
            continue
        key = str(length) if len(seeds) == 1 else f"{seed}/{length}"
        folder = (
            args.out / "mined" / (f"len{length}" if len(seeds) == 1 else f"s{seed}_len{length}")
        )
        rng = np.random.SeedSequence([seed, length])
        if args.mine_levels == "all":
            levels = list(range(1, 7))
            per = -(-n // len(levels))
            lad = make_ladder("difficulty", per, rng, kind="sequences", length=length,
                              source=source, split="train", levels=levels)  # fmt: skip
            keep = np.random.default_rng([seed, length, 1]).permutation(len(lad.images))[:n]
            lad = lad.subset(np.sort(keep))  # n of the 6 * per samples, levels mixed
            write_hardcases(folder, lad, overwrite=True)
            summary[key] = {"found": len(lad.images), "failures": None, "generated": per * 6}
        else:
            res = mine_hard_cases(
                lambda x: read_batch(base, x), n, budget=budget, kind="sequences",
                length=length, source=source, split="train",  # training digits only
                rng=rng, out=folder, overwrite=True, name="reader", progress=None,
            )  # fmt: skip
            summary[key] = res.summary()
        folders.append(folder)
    totals = {
        k: sum(v[k] or 0 for v in summary.values()) for k in ("found", "failures", "generated")
    }
    return folders, {**totals, "levels": args.mine_levels, "per_length": summary}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", type=Path, required=True, help="the trained reader")
    p.add_argument("--out", type=Path, required=True, help="folder for the results")
    p.add_argument("--mine", type=int, default=9000, help="hard cases to mine (9000)")
    p.add_argument("--budget", type=int, default=72000, help="most samples while mining")
    p.add_argument(
        "--mine-seed", type=int, nargs="+", default=[1, 2, 3, 4, 5, 6], metavar="SEED",
        help="mining seed(s): the cases split evenly over seeds and lengths (default 1-6)",
    )  # fmt: skip
    p.add_argument(
        "--mine-levels", choices=("failures", "all"), default="all",
        help="every sample of levels 1-6 (default) or only the base's failures",
    )  # fmt: skip
    p.add_argument(
        "--mine-source", choices=("synthetic", "mnist"), default="mnist",
        help="digits of the mined sequences: synthetic, or mnist: the MNIST training digits "
        "the base trained on (its writers only, with --holdout-writers)",
    )  # fmt: skip
    p.add_argument(
        "--mine-lengths", type=int, nargs=2, default=[3, 8], metavar=("MIN", "MAX"),
        help="lengths of the mined sequences, the cases split evenly (default 3 8)",
    )  # fmt: skip
    p.add_argument("--ladder-seed", type=int, default=11, help="seed of the fresh ladder (11)")
    p.add_argument("--per-level", type=int, default=200, help="fresh ladder samples per level")
    p.add_argument("--length", type=int, default=4, help="fresh ladder sequence length")
    p.add_argument(
        "--ladder-source", choices=("mnist", "synthetic"), default="mnist",
        help="ladder digits: mnist (the MNIST test split; --validation: the held-out writers) "
        "or synthetic",
    )  # fmt: skip
    p.add_argument("--steps", type=int, default=3000, help="fine-tuning steps (3000)")
    p.add_argument("--minutes", type=float, help="also stop fine-tuning after this long")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    p.add_argument("--freeze-bn", action="store_true", help="see train.py")
    p.add_argument("--ema", type=float, metavar="DECAY", help="see train.py (default: off)")
    p.add_argument(
        "--average", type=float, default=1.0,
        help="weight of the fine-tuned model against the start (default 1: the fine-tuned)",
    )  # fmt: skip
    p.add_argument(
        "--hard-fraction", type=float, default=0.5,
        help="share of each batch from the mined cases (0: the control, no mining)",
    )  # fmt: skip
    p.add_argument(
        "--touching-share", type=float, default=0.3333,
        help="share of the fresh (not mined) samples in the clean touching geometry, ink "
        "layout, gaps -3..1 (default 0.3333; see train.py)",
    )  # fmt: skip
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval", type=int, default=2000, help="clean held-out samples per set")
    p.add_argument(
        "--validation", action="store_true",
        help="clean sets and the MNIST ladder from the writers the base was trained without "
        "(train.py --holdout-writers), for choosing a recipe; default: the MNIST test split",
    )  # fmt: skip
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=7, help="fine-tuning seed (fresh samples)")
    p.add_argument(
        "--mine-only", action="store_true",
        help="only mine (OUT/mined/, OUT/mined.json): to try fine-tuning recipes on one mining",
    )  # fmt: skip
    args = p.parse_args(argv)
    if not 0.0 <= args.touching_share < 1.0:  # before any folder, checkpoint or mining
        p.error(f"--touching-share must be in [0, 1), got {args.touching_share}")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    seeds = args.mine_seed if isinstance(args.mine_seed, list) else [args.mine_seed]
    if len(set(seeds)) != len(seeds):  # the same seed twice mines the same cases twice
        raise ValueError(f"--mine-seed values must differ, got {seeds}")
    args.out.mkdir(parents=True, exist_ok=True)

    import torch
    from model import load_checkpoint
    from train import checkpoint_holdout, held_out_correct, train
    from train import parse_args as train_args

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    base, ck = load_checkpoint(args.checkpoint)
    holdout = checkpoint_holdout(ck)
    if args.mine_only:
        folders, mined = mine(base, args, holdout)
        mined["folders"] = [str(f) for f in folders]
        mined["seconds"] = round(time.perf_counter() - t0, 1)
        (args.out / "mined.json").write_text(json.dumps(mined, indent=1) + "\n")
        print(json.dumps({k: mined[k] for k in ("found", "failures", "generated", "seconds")}))
        return {"mined": mined}
    lad = ladder_for(args, holdout)

    def clean(model):
        if not args.eval:
            return {}
        return held_out_correct(model, args.eval, validation=args.validation,
                                holdout_writers=holdout)  # fmt: skip

    before, clean_before = ladder_eval(base, lad, args, "before"), clean(base)
    folders, mined = mine(base, args, holdout) if args.hard_fraction > 0 else ([], {})
    t_mined = time.perf_counter()
    ft = args.out / "finetuned.pt"
    info = train(train_args([
        "--init", str(args.checkpoint), *(["--hardcases", *map(str, folders)] if folders else []),
        "--hard-fraction", str(args.hard_fraction), "--steps", str(args.steps),
        "--touching-share", str(args.touching_share),
        "--lr", str(args.lr), "--schedule", args.schedule, "--average", str(args.average),
        "--batch-size", str(args.batch_size), "--seed", str(args.seed), "--out", str(ft),
        "--eval", "0", "--workers", str(args.workers), "--threads", str(args.threads),
        *(["--freeze-bn"] if args.freeze_bn else []),
        *([] if args.ema is None else ["--ema", str(args.ema)]),
        *([] if args.minutes is None else ["--minutes", str(args.minutes)]),
    ]))  # fmt: skip
    tuned, _ = load_checkpoint(ft)
    after, clean_after = ladder_eval(tuned, lad, args, "after"), clean(tuned)
    res = {
        "mined": mined,
        "mine": {
            "source": args.mine_source,
            "lengths": args.mine_lengths,
            "seed": args.mine_seed,
            "levels": args.mine_levels,
        },
        "finetune": info,
        "ladder": {
            "seed": args.ladder_seed,
            "per_level": args.per_level,
            "length": args.length,
            "source": lad.info["source"],
        },
        "mine_seed": args.mine_seed,
        "auc_difficulty": {
            "before": round(auc(before.accuracy("difficulty")), 2),
            "after": round(auc(after.accuracy("difficulty")), 2),
        },
        "ladder_accuracy": {
            "before": before.overall["accuracy"],
            "after": after.overall["accuracy"],
        },
        "clean_split": clean_split(args.validation, holdout),
        "clean": {k: paired(clean_before[k], clean_after[k]) for k in clean_before},
        "per_axis_level": {"before": before.levels, "after": after.levels},
        "seconds": {"mining": round(t_mined - t0, 1), "total": round(time.perf_counter() - t0, 1)},
    }
    for rep in res["per_axis_level"].values():
        for r in rep:
            r.pop("confusion", None)
    (args.out / "loop.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "loop.md").write_text(table(before, after) + "\n")
    plot(before, after, args.out / "loop.png")
    print(json.dumps({k: res[k] for k in ("auc_difficulty", "ladder_accuracy", "clean")}))
    return res


def clean_split(validation: bool, holdout: float | None) -> str:
    """Where the clean sets came from (for the reports)."""
    if not validation:
        return "test"
    if holdout is None:
        return "train (validation)"
    return f"train, held-out {round(100 * holdout)} % of writers (validation)"


if __name__ == "__main__":
    main()
