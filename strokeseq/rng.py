"""Random number generators from the ``rng`` argument (SPEC 7)."""

from __future__ import annotations

import numbers
import os

import numpy as np

__all__ = ["as_generator"]

# One process-wide generator serves ``rng=None``: seeding a fresh Generator from
# OS entropy costs ~20 µs, as much as a whole sequence; a single one seeded once
# from entropy is just as unpredictable.
_DEFAULT: np.random.Generator | None = None


def _forget_default() -> None:
    # A forked child must not replay its parent's stream (workers of a
    # DataLoader or a process pool would all draw the same "random" images).
    global _DEFAULT
    _DEFAULT = None


if hasattr(os, "register_at_fork"):  # POSIX; spawned processes start fresh anyway
    os.register_at_fork(after_in_child=_forget_default)


def as_generator(rng: object = None) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    Parameters
    ----------
    rng : None, int, numpy.random.SeedSequence, numpy.random.BitGenerator or numpy.random.Generator
        ``None`` draws from fresh OS entropy; an int or SeedSequence seeds a new
        generator (same seed, same stream, on any machine); a Generator is used
        as it is (its state advances).

    Raises
    ------
    TypeError
        If ``rng`` is none of the above (a float or bool seed included).
    ValueError
        If ``rng`` is a negative integer.
    """
    global _DEFAULT
    if rng is None:
        if _DEFAULT is None:
            _DEFAULT = np.random.default_rng()
        return _DEFAULT
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, bool) or not isinstance(
        rng, (numbers.Integral, np.random.SeedSequence, np.random.BitGenerator)
    ):
        raise TypeError(
            "rng must be None, a non-negative int seed, a numpy.random.SeedSequence or a "
            f"numpy.random.Generator, not {type(rng).__name__}"
        )
    if isinstance(rng, numbers.Integral) and rng < 0:
        raise ValueError(f"rng seed must be a non-negative integer, got {rng}")
    return np.random.default_rng(rng)
