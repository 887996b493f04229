"""``python -m strokeseq``: the same as the ``strokeseq`` command."""

import sys

from .cli import main

sys.exit(main())
