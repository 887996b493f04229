"""Hard cases: difficulty ladders, robustness reports and hard-case mining.

- :func:`make_ladder` / :func:`write_hardcases` / :func:`read_hardcases`:
  labelled digits or sequences along a difficulty ladder per axis, plus one
  combined ``difficulty`` knob (:func:`difficulty_params`).
- :func:`evaluate` / :func:`write_report`: run a user's model over a ladder;
  accuracy per level and digit, confusion matrices, worst failures; JSON,
  markdown and PNG output.
- :func:`mine_hard_cases`: generate until the model has failed ``n`` times
  (or a sample budget is spent).
- :func:`load_model`: ``"package.module:function"`` to a callable;
  :func:`reference_predict` adapts the reference classifier.

See the README, section "Hard cases and robustness reports".
"""

from __future__ import annotations

from .ladder import (
    AXES,
    CONTACT_NAMES,
    DIFFICULTY_TABLE,
    LEVEL_TABLES,
    N_LEVELS,
    Ladder,
    axis_params,
    classify_contact,
    difficulty_params,
    generate_level,
    make_ladder,
)
from .mining import MiningResult, mine_hard_cases
from .model import ModelError, load_model, reference_predict, reference_read
from .report import RobustnessReport, write_report
from .scoring import evaluate
from .store import read_hardcases, write_hardcases

__all__ = [
    "AXES",
    "CONTACT_NAMES",
    "DIFFICULTY_TABLE",
    "LEVEL_TABLES",
    "N_LEVELS",
    "Ladder",
    "MiningResult",
    "ModelError",
    "RobustnessReport",
    "axis_params",
    "classify_contact",
    "difficulty_params",
    "evaluate",
    "generate_level",
    "load_model",
    "make_ladder",
    "mine_hard_cases",
    "read_hardcases",
    "reference_predict",
    "reference_read",
    "write_hardcases",
    "write_report",
]
