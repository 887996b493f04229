"""The reader: a small CRNN (convolutions -> BiLSTM -> CTC over 10 digits + blank).

Input ``(B, 1, 28, W)`` float images with ink 1.0 on 0.0 (``ink="white"``,
MNIST's array polarity); any width. The convolutions pool the height 28 -> 3
and the width by 4, so each output step sees a 4-px column stripe (a 28-px
digit spans ~7 steps, plenty for CTC). Output: ``(W // 4, B, 11)`` log
probabilities, class 10 the CTC blank.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

BLANK = 10
#: Default architecture; the smoke test passes a tiny one.
DEFAULT_ARCH = {"channels": [16, 32, 64], "hidden": 96}


def _block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]


class CRNN(nn.Module):
    """Conv layers -> bidirectional LSTM -> per-column digit/blank scores."""

    def __init__(self, channels: list[int] | None = None, hidden: int = 96) -> None:
        super().__init__()
        c1, c2, c3 = channels or DEFAULT_ARCH["channels"]
        self.arch = {"channels": [c1, c2, c3], "hidden": hidden}
        self.features = nn.Sequential(
            *_block(1, c1),
            nn.MaxPool2d(2),  # 14 x W/2
            *_block(c1, c2),
            nn.MaxPool2d(2),  # 7 x W/4
            *_block(c2, c3),
            *_block(c3, c3),
            nn.MaxPool2d((2, 1)),  # 3 x W/4
        )
        self.rnn = nn.LSTM(3 * c3, hidden, bidirectional=True, batch_first=False)
        self.head = nn.Linear(2 * hidden, BLANK + 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x)  # (B, C, 3, T)
        b, c, h, t = f.shape
        seq = f.permute(3, 0, 1, 2).reshape(t, b, c * h)
        out, _ = self.rnn(seq)
        return self.head(out).log_softmax(2)  # (T, B, 11)


def output_lengths(widths: torch.Tensor) -> torch.Tensor:
    """CTC input length of each sample: its own width after the two 2x poolings."""
    return torch.clamp(widths // 4, min=1)


def greedy_decode(logp: torch.Tensor, lengths: torch.Tensor | None = None) -> list[str]:
    """Best path: argmax per step, merge repeats, drop blanks."""
    best = logp.argmax(2).T.cpu().numpy()  # (B, T)
    n = best.shape[1]
    lens = np.full(best.shape[0], n) if lengths is None else lengths.cpu().numpy()
    out = []
    for row, k in zip(best, lens, strict=True):  # B short rows of ints: not a pixel loop
        row = row[:k]
        keep = np.ones(len(row), bool)
        keep[1:] = row[1:] != row[:-1]
        out.append("".join(str(d) for d in row[keep & (row != BLANK)]))
    return out


def save_checkpoint(path: str | Path, model: CRNN, extra: dict[str, Any]) -> Path:
    """Weights and architecture (torch.save of tensors and plain types only)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save({"arch": model.arch, "state": model.state_dict(), **extra}, tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> tuple[CRNN, dict[str, Any]]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only``: no pickle code)."""
    ck = torch.load(Path(path), map_location="cpu", weights_only=True)
    model = CRNN(**ck["arch"])
    model.load_state_dict(ck["state"])
    model.eval()
    return model, ck


@torch.no_grad()
def read_batch(model: CRNN, images: np.ndarray, batch_size: int = 256) -> list[str]:
    """Read ``(N, 28, W)`` ink-high float images (all the same width) into digit strings."""
    x = np.asarray(images, np.float32)
    out: list[str] = []
    for s in range(0, len(x), batch_size):
        t = torch.from_numpy(np.ascontiguousarray(x[s : s + batch_size]))[:, None]
        out += greedy_decode(model(t))
    return out
