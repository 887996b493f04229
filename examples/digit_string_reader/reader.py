"""The trained reader as a strokeseq model: ``--model reader:read``.

    PYTHONPATH=examples/digit_string_reader strokeseq robustness --kind sequences \\
        --model reader:read --per-level 100 -o reader_report

``read`` takes ``(n, 28, W)`` float images with ink 1.0 on 0.0 (the
``robustness`` default input) and returns ``n`` digit strings. The checkpoint
is ``$STROKESEQ_READER`` or the default path of ``train.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train.py

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

DEFAULT_CHECKPOINT = Path.home() / ".cache" / "strokeseq" / "digit_string_reader" / "reader.pt"
_MODELS: dict[str, object] = {}


def checkpoint_path() -> Path:
    return Path(os.environ.get("STROKESEQ_READER", str(DEFAULT_CHECKPOINT)))


def read(images: np.ndarray) -> list[str]:
    """Read a batch of digit-string images (loads the checkpoint once per process)."""
    import torch
    from model import load_checkpoint, read_batch

    path = str(checkpoint_path())
    if path not in _MODELS:
        if not Path(path).is_file():
            raise FileNotFoundError(
                f"no reader checkpoint at {path}: train one with "
                "examples/digit_string_reader/train.py or set STROKESEQ_READER"
            )
        torch.set_num_threads(min(2, torch.get_num_threads()))
        _MODELS[path] = load_checkpoint(path)[0]
    return read_batch(_MODELS[path], images)  # type: ignore[arg-type]
