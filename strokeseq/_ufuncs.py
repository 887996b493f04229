"""NumPy's ufuncs without their Python wrappers: one home for hot small calls.

``np.clip`` adds ~1–3 µs of Python per call on top of the ``clip`` ufunc it
wraps; on a one-digit call that is more than the arithmetic. The ufunc
takes the same arguments (``clip(a, lo, hi, out=...)``) and gives the same
bytes.
"""

from __future__ import annotations

import numpy as np

__all__ = ["clip"]

try:
    from numpy._core.umath import clip
except ImportError:  # NumPy 1
    try:
        from numpy.core.umath import clip
    except ImportError:  # pragma: no cover - a NumPy without the ufunc: the wrapper
        clip = np.clip
