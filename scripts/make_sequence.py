#!/usr/bin/env python3
"""Write a PNG of a handwritten digit sequence.

Usage: python scripts/make_sequence.py SEQUENCE MIN_SPACING MAX_SPACING WIDTH [options]

Example: ``python scripts/make_sequence.py 305 0 10 120`` writes ``305.png``
(120x28, 8-bit grayscale) in the current directory. A thin wrapper over
``strokeseq sequence``; ``--help`` lists the options.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from strokeseq.cli import main
except ModuleNotFoundError:  # run from a checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from strokeseq.cli import main

if __name__ == "__main__":
    sys.exit(main(["sequence", *sys.argv[1:]]))
