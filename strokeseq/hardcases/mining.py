"""Hard-case mining: generate along the ladder until the model has failed ``n`` times."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..validate import is_integer
from .ladder import N_LEVELS, Ladder, check_axes, generate_level
from .model import call_model, model_name
from .scoring import model_inputs, progress_bar

__all__ = ["MAX_IMAGE_BYTES", "MAX_LENGTH", "MiningResult", "check_size", "mine_hard_cases"]

log = logging.getLogger(__name__)

#: Longest hard-case sequence (as for datasets): the images stay a sane size.
MAX_LENGTH = 64
#: Most bytes of float32 images a ladder (or one mining batch) may hold in memory.
MAX_IMAGE_BYTES = 2 * 1024**3
#: Widest hard-case sequence image (as for datasets).
MAX_WIDTH = 100_000


def _gib(n: float) -> str:
    return f"{n / 1024**3:.3g} GiB"


def check_size(
    kind: str, count: int, length: int = 4, width: int | None = None, what: str = "samples"
) -> None:
    """Refuse, before anything is allocated, a ladder or batch that cannot sensibly be held.

    Parameters
    ----------
    kind : {"digits", "sequences"}
    count : int
        Images held at once (a whole ladder, or one mining batch).
    length, width : int
        Sequence length and width (sequences only; width default ``36 * length - 8``).
    what : str
        How ``count`` is called in the message (e.g. ``"--per-level 1000 x 56 levels"``).

    Raises
    ------
    ValueError
        If the sequence is longer than :data:`MAX_LENGTH` digits or the images
        would take more than :data:`MAX_IMAGE_BYTES`, saying the limit and the
        memory it would take.
    """
    w = 28
    if kind == "sequences":
        if not is_integer(length) or length < 1:
            raise ValueError(f"length must be a positive integer, got {length!r}")
        if length > MAX_LENGTH:
            raise ValueError(
                f"length must be at most {MAX_LENGTH} digits for hard-case sequences, got {length}"
            )
        w = 36 * int(length) - 8 if width is None else int(width)
        if w > MAX_WIDTH:
            raise ValueError(f"width must be at most {MAX_WIDTH} px, got {w}")
    need = int(count) * 28 * w * 4
    if need > MAX_IMAGE_BYTES:
        raise ValueError(
            f"{what} ({count} images of 28x{w}) would take {_gib(need)} of memory; the limit is "
            f"{_gib(MAX_IMAGE_BYTES)}: ask for fewer"
        )


@dataclass
class MiningResult:
    """What :func:`mine_hard_cases` found.

    Attributes
    ----------
    cases : Ladder or None
        The samples the model got wrong (at most ``n``), with their levels and
        parameters; None if none was found.
    predictions : numpy.ndarray
        The model's (wrong) answer for each case.
    found : int
        Failures kept (``len(cases)``).
    failures : int
        Failures seen in total (can exceed ``found`` in the last batch).
    generated : int
        Samples generated and shown to the model.
    budget : int
        The sample budget.
    per_level : list of dict
        ``axis``, ``level``, ``generated``, ``failures`` per (axis, level) visited.
    paths : dict
        Files written when ``out`` was given.
    """

    cases: Ladder | None
    predictions: np.ndarray
    found: int
    failures: int
    generated: int
    budget: int
    per_level: list[dict[str, Any]] = field(default_factory=list)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def budget_exhausted(self) -> bool:
        """True when the budget ran out before ``n`` failures were found."""
        return self.generated >= self.budget

    def summary(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {
            "found": self.found,
            "failures": self.failures,
            "generated": self.generated,
            "budget": self.budget,
            "failure_rate": round(self.failures / self.generated, 4) if self.generated else None,
            "per_level": self.per_level,
        }


def mine_hard_cases(
    predict: Callable[[np.ndarray], Any],
    n: int,
    *,
    budget: int = 10_000,
    axis: str | list[str] = "difficulty",
    levels: list[int] | None = None,
    kind: str = "digits",
    batch_size: int = 256,
    rng: Any = None,
    source: Any = "synthetic",
    split: str = "test",
    data_dir: str | Path | None = None,
    length: int = 4,
    width: int | None = None,
    ink: str = "white",
    dtype: str = "float32",
    out: str | Path | None = None,
    overwrite: bool = False,
    name: str | None = None,
    progress: bool | None = False,
) -> MiningResult:
    """Generate hard cases until the model gets ``n`` wrong or ``budget`` samples are spent.

    Batches of ``batch_size`` samples are generated at each (axis, level) in
    turn, shown to the model (polarity ``ink``, type ``dtype`` as in
    :func:`strokeseq.hardcases.evaluate`), and the failures kept with their
    parameters. The last batch is cut so that no more than ``budget`` samples
    are generated.

    Parameters
    ----------
    predict : callable
        The model (see :func:`strokeseq.hardcases.evaluate`).
    n : int
        Failures wanted.
    budget : int
        Most samples to generate.
    axis : str or list of str
        Axes to draw from (default the combined ``difficulty`` knob; ``"all"``).
    levels : list of int, optional
        Levels to draw from (default 1..6: level 0 is the clean digit).
    kind, source, split, data_dir, length, width
        As in :func:`strokeseq.hardcases.make_ladder`.
    batch_size : int
        Samples per round.
    rng : None, int, SeedSequence or Generator
        Randomness; the same seed gives the same cases.
    ink, dtype : str
        Model input polarity and type.
    out : str or path, optional
        Also write the cases there (:func:`strokeseq.hardcases.write_hardcases`,
        with the predictions and the counts in the manifest).
    overwrite : bool
        Replace an existing set in ``out``.
    name : str, optional
        Model name for messages.
    progress : bool or None
        tqdm bar of samples spent against the budget: False (default), True,
        or None for "only on a terminal" (what the CLI passes).

    Returns
    -------
    MiningResult
    """
    from ..rng import as_generator

    for key, v in (("n", n), ("budget", budget), ("batch_size", batch_size)):
        if not is_integer(v) or v < 1:
            raise ValueError(f"{key} must be a positive integer, got {v!r}")
    if not callable(predict):
        raise TypeError(f"predict must be callable, got {type(predict).__name__}")
    model_inputs(np.zeros((0, 28, 28), np.float32), ink, dtype)
    check_size(kind, min(int(batch_size), int(budget)), length, width, what="a batch_size")
    names = check_axes(axis)
    lv = list(range(1, N_LEVELS)) if levels is None else [int(v) for v in levels]
    if not lv or any(not 0 <= v < N_LEVELS for v in lv):
        raise ValueError(f"levels must be a non-empty list within 0..{N_LEVELS - 1}, got {levels}")
    name = name or model_name(predict)
    root = int(as_generator(rng).integers(0, 2**63))
    slots = [(a, i) for a in names for i in lv]
    stats = {s: [0, 0] for s in slots}
    kept: list[Ladder] = []
    kept_pred: list[np.ndarray] = []
    found = failures = generated = 0
    rnd = 0
    with progress_bar(progress, total=int(budget), desc="mining", unit="img") as bar:
        while found < n and generated < budget:
            a, i = slots[rnd % len(slots)]
            size = min(batch_size, budget - generated)
            child = np.random.default_rng(np.random.SeedSequence(root, spawn_key=(rnd,)))
            part = generate_level(
                a,
                i / (N_LEVELS - 1),
                size,
                child,
                kind=kind,
                source=source,
                split=split,
                data_dir=data_dir,
                length=length,
                width=width,
                level=i,
            )
            pred = call_model(predict, model_inputs(part.images, ink, dtype), kind, name)
            truth = part.labels if kind == "digits" else np.array(part.label_strings, object)
            wrong = np.flatnonzero(np.asarray(pred != truth, bool))
            generated += size
            failures += wrong.size
            stats[(a, i)][0] += size
            stats[(a, i)][1] += wrong.size
            take = wrong[: n - found]
            if take.size:
                kept.append(part.subset(take))
                kept_pred.append(pred[take])
                found += take.size
            rnd += 1
            bar.update(size)
            bar.set_postfix(found=found)
    log.info("mined %d hard cases (%d failures in %d samples)", found, failures, generated)
    info = {
        "mined_for": name,
        "kind": kind,
        "axes": names,
        "levels": lv,
        "source": source if isinstance(source, str) else type(source).__name__,
    }
    cases = Ladder.concat(kept, info) if kept else None
    preds = np.concatenate(kept_pred) if kept_pred else np.zeros(0, np.int64)
    per_level = [
        {"axis": a, "level": i, "generated": g, "failures": f}
        for (a, i), (g, f) in stats.items()
        if g
    ]
    result = MiningResult(cases, preds, found, failures, generated, int(budget), per_level)
    if out is not None:
        if cases is None:
            raise ValueError(
                f"no hard cases found in {generated} samples; nothing written to {out}"
            )
        from .store import write_hardcases

        result.paths = write_hardcases(
            out,
            cases,
            overwrite=overwrite,
            predictions=preds,
            extra={"mining": result.summary()},
        )
    return result
