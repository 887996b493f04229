"""Train the digit-string reader on sequences made on the fly by strokeseq.

Default run (CPU, 2 threads; see docs/training.md for the time it took)::

    pip install -e ".[torch]"
    export STROKESEQ_MNIST_DIR=/path/to/mnist   # or let strokeseq download it
    python examples/digit_string_reader/train.py --seed 0

The checkpoint goes to ``~/.cache/strokeseq/digit_string_reader/reader.pt``
(outside the repository) unless ``--out`` says otherwise. ``--hardcases DIR``
(a folder written by ``mine_hard_cases`` / ``strokeseq robustness --mine``)
with ``--init CHECKPOINT`` fine-tunes with the mined cases mixed into every
batch. ``--holdout-writers 0.2`` trains on the MNIST training digits of all
but a held-out 20 % of the QMNIST writers (the project's writer-disjoint
split), so that validation sets made from the held-out writers' digits are
unseen by the model; fine-tuning from such a checkpoint keeps its split.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
from pathlib import Path

# OpenMP threads that spin while waiting burn a shared machine's CPU (measured: 5x the CPU
# per step with 2 spinning threads under load 15 on 2 cores); passive waiting costs nothing
# on a quiet machine. Set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from data import (  # noqa: E402
    COLLATE,
    VALIDATION_SEED,
    batches_by_width,
    held_out,
    train_dataset,
)
from model import CRNN, load_checkpoint, output_lengths, read_batch, save_checkpoint  # noqa: E402
from writer_split import source_name  # noqa: E402

DEFAULT_OUT = Path.home() / ".cache" / "strokeseq" / "digit_string_reader" / "reader.pt"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"checkpoint ({DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=2500, help="optimiser steps (default 2500)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument(
        "--buckets",
        type=int,
        default=4,
        help="make batches from groups of this many, sorted by width (less padding; 1: off)",
    )
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    p.add_argument(
        "--minutes",
        type=float,
        help="also stop after this many minutes (the schedule follows whichever ends first)",
    )
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    p.add_argument("--channels", type=int, nargs=3, default=None, help="conv widths (16 32 64)")
    p.add_argument("--hidden", type=int, default=96, help="LSTM units per direction")
    p.add_argument("--init", type=Path, help="start from this checkpoint (fine-tuning)")
    p.add_argument("--hardcases", type=Path, nargs="+", help="mined hard-case folder(s) to mix in")
    p.add_argument(
        "--hard-fraction", type=float, default=0.25, help="share of each batch from --hardcases"
    )
    p.add_argument(
        "--schedule",
        choices=("cosine", "constant"),
        default="cosine",
        help="after the warm-up: cosine decay to 2 %% of --lr, or constant --lr",
    )
    p.add_argument(
        "--freeze-bn",
        action="store_true",
        help="keep BatchNorm running statistics fixed (fine-tuning: they stay those of clean data)",
    )
    p.add_argument(
        "--average",
        type=float,
        default=1.0,
        help="with --init: save (1 - a) * initial + a * trained weights (default 1: trained)",
    )
    p.add_argument(
        "--ema",
        type=float,
        metavar="DECAY",
        help="save an exponential moving average of the weights over the steps (decay per "
        "step, e.g. 0.998) instead of the last weights (--average then mixes the average)",
    )
    p.add_argument("--last-out", type=Path, help="with --ema: also save the last weights here")
    p.add_argument(
        "--holdout-writers",
        type=float,
        metavar="SHARE",
        help="leave this share of the QMNIST writers of the MNIST train split out of training "
        "(the project's writer-disjoint split, e.g. 0.2; default: train on all; with --init: "
        "the checkpoint's own)",
    )
    p.add_argument(
        "--touching-share",
        type=float,
        default=0.0,
        help="share of the fresh samples in the clean touching geometry (ink layout, gaps "
        "-3..1), the rest tile and ink as usual (default 0: the base's mix)",
    )
    p.add_argument("--eval", type=int, default=1000, help="held-out samples per set (0: none)")
    p.add_argument("--data-dir", help="MNIST folder (default: STROKESEQ_MNIST_DIR / cache)")
    args = p.parse_args(argv)
    if not 0.0 <= args.touching_share < 1.0:  # before any folder, checkpoint or mining
        p.error(f"--touching-share must be in [0, 1), got {args.touching_share}")
    return args


def held_out_correct(
    model: CRNN,
    n: int,
    data_dir: str | None = None,
    validation: bool = False,
    holdout_writers: float | None = None,
) -> dict[str, np.ndarray]:
    """Per-sample exact match (bool array) on each held-out set (MNIST test split), or on the
    validation sets (same geometry, MNIST train split, another seed) with ``validation=True``:
    made from the held-out writers' digits only when ``holdout_writers`` is the share the
    model was trained without. Same sets for every model, so two models compare sample by
    sample (paired)."""
    model.eval()
    res = {}
    kw = {"seed": VALIDATION_SEED, "split": "train"} if validation else {}
    if validation and holdout_writers is not None:
        kw["source"] = source_name("holdout", holdout_writers)
    for name in ("tile", "touching"):
        images, texts = held_out(name, n, data_dir=data_dir, **kw)
        ok = np.zeros(n, bool)
        for idx in batches_by_width(images, 256):
            w = max(images[i].shape[1] for i in idx)
            x = np.zeros((len(idx), 28, w), np.float32)
            for r, i in enumerate(idx):
                x[r, :, : images[i].shape[1]] = images[i]
            pred = read_batch(model, x)
            ok[idx] = [p == texts[i] for p, i in zip(pred, idx, strict=True)]
        res[name] = ok
    return res


def evaluate_held_out(
    model: CRNN, n: int, data_dir: str | None = None, validation: bool = False
) -> dict[str, float]:
    """Exact-match rate on each held-out set (see :func:`held_out_correct`)."""
    return {
        k: float(v.mean()) for k, v in held_out_correct(model, n, data_dir, validation).items()
    }


class WidthBuckets:
    """Collate ``k`` batches' worth of samples at once: sorted by width, cut into ``k`` batches.

    Sequences of 3-8 digits in two layouts are 96-280 px wide; a random batch
    of 32 pads to its widest, so only ~65 % of the columns the model computes
    are real (measured on the training mix). Sorted in groups of 4 batches,
    ~89 % are: about a quarter less compute per step for the same samples.
    """

    def __init__(self, k: int, batch_size: int) -> None:
        self.k, self.batch_size = k, batch_size

    def __call__(self, items: list) -> list[dict]:
        order = sorted(range(len(items)), key=lambda i: items[i][0].shape[1])
        cut = range(0, len(items), self.batch_size)
        return [COLLATE([items[i] for i in order[s : s + self.batch_size]]) for s in cut]


def batches(loader, rng: np.random.Generator):
    """The batches of each collated group, in a random order (not always narrow to wide)."""
    for group in loader:
        for j in rng.permutation(len(group)):
            yield group[j]


class HardCaseMixer:
    """Replace a share of each batch with mined hard cases (their own width, padded)."""

    def __init__(self, folders: Path | list[Path], fraction: float, seed: int) -> None:
        from strokeseq.hardcases import read_hardcases

        self.images: list[np.ndarray] = []
        self.texts: list[str] = []
        for folder in [folders] if isinstance(folders, Path | str) else folders:
            ladder, _ = read_hardcases(folder)
            self.images += list(ladder.images)  # ink 1.0 on 0.0, as the reader expects
            self.texts += list(ladder.label_strings)
        self.fraction = fraction
        self.rng = np.random.default_rng(seed)

    def mix(self, batch: dict) -> dict:
        b = len(batch["texts"])
        k = round(b * self.fraction)
        if k == 0:
            return batch
        pick = self.rng.integers(0, len(self.images), k)
        items = [
            (img, lab)
            for img, lab in zip(batch["images"][k:, 0].numpy(), batch["texts"][k:], strict=True)
        ]
        items = [
            (img[:, :w], t)
            for (img, t), w in zip(items, batch["widths"][k:].tolist(), strict=True)
        ]
        items += [(self.images[i], self.texts[i]) for i in pick.tolist()]
        return COLLATE(items)


def average_weights(model: CRNN, initial: dict, a: float) -> None:
    """Set the weights to ``(1 - a) * initial + a * current`` (weight-space ensembling).

    Fine-tuned weights stay in the basin of their start, so the straight line
    between them keeps most of the gain on hard cases while recovering the
    start's clean accuracy (Wortsman et al., "Robust fine-tuning of zero-shot
    models", 2022). BatchNorm running statistics are averaged the same way;
    integer counters keep the current value.
    """
    with torch.no_grad():
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                v.mul_(a).add_(initial[k], alpha=1.0 - a)


class WeightEMA:
    """Exponential moving average of a model's floating-point weights and buffers.

    ``update`` after every optimiser step; ``copy_to`` puts the average into the model.
    Averaging the last few hundred steps of a fine-tune (Polyak averaging) smooths the
    noise of the final steps; ``--average`` can then mix it with the start as it would the
    last weights. No bias correction: the average keeps ``decay ** steps`` of the starting
    weights (0.998: 30 % after 600 steps, 5 % after 1 500).
    """

    def __init__(self, model: CRNN, decay: float) -> None:
        self.decay = decay
        self.avg = {k: v.detach().clone() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: CRNN) -> None:
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.avg[k].mul_(self.decay).add_(v, alpha=1.0 - self.decay)
            else:
                self.avg[k].copy_(v)

    def copy_to(self, model: CRNN) -> None:
        model.load_state_dict(self.avg)


def keep_freed_memory() -> bool:
    """Let glibc keep freed activation buffers instead of unmapping them (Linux/glibc only).

    Every step allocates tens of MB of activations at a new width. By default
    glibc serves such blocks with mmap and returns them on free, so each step
    faults its pages in again (measured: 37 M minor page faults and 162 s of
    system time in the default run). Serving them from the heap and not
    trimming it reuses the pages. Returns whether the setting was applied
    (``READER_MALLOPT=0`` in the environment leaves glibc alone, for comparisons).
    """
    if os.environ.get("READER_MALLOPT", "1") == "0":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD: the largest glibc accepts
        return bool(ok and libc.mallopt(-1, 1 << 30))  # M_TRIM_THRESHOLD: keep 1 GiB
    except (OSError, AttributeError):  # not glibc (macOS, musl): leave the allocator alone
        return False


def checkpoint_holdout(ck: dict) -> float | None:
    """The share of writers a checkpoint was trained without (None: trained on all)."""
    return json.loads(ck.get("info", "{}")).get("holdout_writers")


def train(args: argparse.Namespace) -> dict:
    from torch.utils.data import DataLoader, RandomSampler
    from tqdm import tqdm

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    keep_freed_memory()
    if not 0.0 <= args.average <= 1.0:
        raise ValueError(f"--average must be in [0, 1], got {args.average}")
    if args.ema is not None and not 0.0 < args.ema < 1.0:
        raise ValueError(f"--ema must be in (0, 1), got {args.ema}")
    if args.last_out is not None and args.ema is None:
        raise ValueError(
            "--last-out needs --ema (without it --out already holds the last weights)"
        )
    if args.init:
        model, ck = load_checkpoint(args.init)
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        if args.holdout_writers is None:  # fine-tuning stays on the base's side of the split
            args.holdout_writers = checkpoint_holdout(ck)
    else:
        model = CRNN(args.channels, args.hidden)
    fit = None if args.holdout_writers is None else source_name("fit", args.holdout_writers)
    n_samples = args.steps * args.batch_size
    data = train_dataset(n_samples, args.seed * 1000, data_dir=args.data_dir, source=fit,
                         touching_share=args.touching_share)  # fmt: skip
    sampler = RandomSampler(data, generator=torch.Generator().manual_seed(args.seed))
    if args.buckets < 1:
        raise ValueError(f"--buckets must be at least 1, got {args.buckets}")
    loader = DataLoader(
        data,
        batch_size=args.batch_size * args.buckets,
        sampler=sampler,
        num_workers=args.workers,
        collate_fn=WidthBuckets(args.buckets, args.batch_size),
        persistent_workers=False,
        prefetch_factor=4 if args.workers else None,
    )
    mixer = (
        HardCaseMixer(args.hardcases, args.hard_fraction, args.seed) if args.hardcases else None
    )
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    warm = 0.1 if not args.init else 0.02
    budget = None if args.minutes is None else 60.0 * args.minutes

    def progress(step: int, elapsed: float) -> float:
        """Fraction of the run done: by steps, or by time when --minutes is the tighter."""
        p = step / args.steps
        return p if budget is None else max(p, elapsed / budget)

    def lr_at(p: float) -> float:  # linear warm-up, then cosine decay to 2 % of the peak
        if p < warm:
            return args.lr * max(p / warm, 0.02)
        if args.schedule == "constant":
            return args.lr
        q = min(1.0, (p - warm) / (1 - warm))
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * q)))

    ctc = torch.nn.CTCLoss(blank=10, zero_infinity=True)
    model.train()
    if args.freeze_bn:
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.eval()  # use and keep the running statistics; weight and bias still learn
    t0 = time.perf_counter()
    bar = tqdm(total=args.steps, desc="training", unit="step", disable=None)
    step, ema = 0, None
    shadow = None if args.ema is None else WeightEMA(model, args.ema)
    for batch in batches(loader, np.random.default_rng(args.seed)):
        done = progress(step, time.perf_counter() - t0)
        if done >= 1.0:
            break
        for group in opt.param_groups:
            group["lr"] = lr_at(done)
        if mixer is not None:
            batch = mixer.mix(batch)
        logp = model(batch["images"])
        loss = ctc(
            logp, batch["targets"], output_lengths(batch["widths"]), batch["target_lengths"]
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if shadow is not None:
            shadow.update(model)
        step += 1
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{ema:.3f}")
        if step % 200 == 0 and not sys.stderr.isatty():
            print(
                f"step {step}/{args.steps} loss {ema:.4f} {time.perf_counter() - t0:.0f}s",
                flush=True,
            )
    bar.close()
    seconds = time.perf_counter() - t0
    last = None
    if shadow is not None:
        last = {k: v.clone() for k, v in model.state_dict().items()} if args.last_out else None
        shadow.copy_to(model)
    if args.init and args.average < 1.0:
        average_weights(model, initial, args.average)
    info = {
        "seed": args.seed,
        "steps": step,
        "planned_steps": args.steps,
        "minutes_limit": args.minutes,
        "cpu_seconds": round(time.process_time(), 1),
        "batch_size": args.batch_size,
        "buckets": args.buckets,
        "train_seconds": round(seconds, 1),
        "final_loss": round(float(ema), 4),
        "init": str(args.init) if args.init else None,
        "hardcases": [str(h) for h in args.hardcases] if args.hardcases else None,
        "hard_fraction": args.hard_fraction if args.hardcases else 0.0,
        "touching_share": args.touching_share,
        "lr": args.lr,
        "schedule": args.schedule,
        "freeze_bn": args.freeze_bn,
        "average": args.average if args.init else None,
        "ema": args.ema,
        "holdout_writers": args.holdout_writers,
    }
    save_checkpoint(args.out, model, {"info": json.dumps(info)})
    if args.eval:  # the weights saved in --out (before --last-out's replace them)
        info["held_out"] = evaluate_held_out(model, args.eval, args.data_dir)
    if last is not None:  # the last weights, neither averaged nor EMA (to compare with it)
        model.load_state_dict(last)
        last_info = {k: v for k, v in info.items() if k != "held_out"}
        last_info.update(ema=None, average=None)
        save_checkpoint(args.last_out, model, {"info": json.dumps(last_info)})
    print(json.dumps(info), flush=True)
    return info


if __name__ == "__main__":
    train(parse_args())
