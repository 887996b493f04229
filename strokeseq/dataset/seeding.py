"""Per-sample random words: NumPy's ``SeedSequence``, vectorised over indices.

Sample ``i`` of a dataset draws its randomness from
``numpy.random.SeedSequence(seed, spawn_key=(split_code, i))``. Creating one
``SeedSequence`` object per sample costs about 10 µs in CPython (a third of
the whole per-sample budget), so :func:`sample_words` computes exactly the same
``generate_state`` words for a whole array of indices at once with NumPy
integer arithmetic: the hash constants of the algorithm do not depend on the
data, the pool after mixing the seed is the same for every sample, and only
the spawn-key words differ. The result is bit-identical to NumPy's own class
(checked against it for one index per call, and exhaustively in the tests);
if a future NumPy ever changed the algorithm, the check falls back to the
per-sample objects, so samples stay defined by ``SeedSequence`` itself.
"""

from __future__ import annotations

import logging
from functools import lru_cache

import numpy as np

__all__ = ["sample_seedsequence", "sample_words"]

log = logging.getLogger(__name__)

_M32 = 0xFFFFFFFF
#: Below this many samples, NumPy's own objects beat the vectorised path's fixed cost.
_FEW = 8
_POOL = 4
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_L = 0xCA01F9DD
_MIX_R = 0x4973F715


def _int_words(n: int) -> list[int]:
    if n < 0:
        raise ValueError(f"seed and spawn-key values must be non-negative, got {n}")
    if n == 0:
        return [0]
    out = []
    while n:
        out.append(n & _M32)
        n >>= 32
    return out


def _hashmix_s(value: int, h: list[int]) -> int:
    value ^= h[0]
    h[0] = (h[0] * _MULT_A) & _M32
    value = (value * h[0]) & _M32
    return value ^ (value >> 16)


def _mix_s(x: int, y: int) -> int:
    r = (_MIX_L * x - _MIX_R * y) & _M32
    return r ^ (r >> 16)


@lru_cache(maxsize=64)
def _prefix_state(seed: int, n_prefix_key: int, prefix_key: tuple[int, ...]) -> tuple:
    """Pool and hash constant after mixing everything but the per-index words.

    Returns ``(pool, hash_const, n_done)``: the entropy array is the seed's
    words padded to the pool size, then the spawn-key words; the first
    ``n_done`` words are mixed here, scalar, once per (seed, prefix).
    """
    run = _int_words(seed)
    if len(run) < _POOL:
        run = run + [0] * (_POOL - len(run))
    entropy = run + list(prefix_key)
    h = [_INIT_A]
    pool = [_hashmix_s(entropy[i] if i < len(entropy) else 0, h) for i in range(_POOL)]
    for i_src in range(_POOL):
        for i_dst in range(_POOL):
            if i_src != i_dst:
                pool[i_dst] = _mix_s(pool[i_dst], _hashmix_s(pool[i_src], h))
    for w in entropy[_POOL:]:
        for i_dst in range(_POOL):
            pool[i_dst] = _mix_s(pool[i_dst], _hashmix_s(w, h))
    return tuple(pool), h[0]


def _words_vectorised(seed: int, prefix: tuple[int, ...], index: np.ndarray, n_words: int):
    """``generate_state(n_words)`` of ``SeedSequence(seed, spawn_key=prefix + (i,))``, i < 2**32."""
    # The seed's words fill the pool first (padded to 4 words), so with the
    # usual small seed and prefix, the per-index word is mixed in after the
    # pool's cross-mixing, i.e. in the last loop of ``mix_entropy``.
    run = _int_words(seed)
    n_run = max(len(run), _POOL)
    if n_run + len(prefix) < _POOL:  # cannot happen: run is padded to the pool size
        raise AssertionError
    pool0, h = _prefix_state(seed, len(prefix), tuple(prefix))
    u32 = np.uint32
    with np.errstate(over="ignore"):
        v = index.astype(u32)
        pool = [np.full(v.shape, p, u32) for p in pool0]
        for i_dst in range(_POOL):
            # hashmix(v, h)
            x = v ^ u32(h)
            h = (h * _MULT_A) & _M32
            x = x * u32(h)
            x ^= x >> u32(16)
            # mix(pool[i_dst], x)
            r = u32(_MIX_L) * pool[i_dst] - u32(_MIX_R) * x
            r ^= r >> u32(16)
            pool[i_dst] = r
        out = np.empty((v.size, n_words), u32)
        hb = _INIT_B
        for j in range(n_words):
            x = pool[j % _POOL] ^ u32(hb)
            hb = (hb * _MULT_B) & _M32
            x = x * u32(hb)
            x ^= x >> u32(16)
            out[:, j] = x
    return out


def sample_seedsequence(seed: int, split_code: int, index: int) -> np.random.SeedSequence:
    """The ``SeedSequence`` that defines sample ``index`` (its words and its child streams)."""
    return np.random.SeedSequence(seed, spawn_key=(split_code, int(index)))


def sample_words(seed: int, split_code: int, index: np.ndarray, n_words: int) -> np.ndarray:
    """Random words of many samples: ``(len(index), n_words)`` uint32.

    Row ``r`` equals
    ``SeedSequence(seed, spawn_key=(split_code, index[r])).generate_state(n_words)``.

    Parameters
    ----------
    seed : int
        Non-negative dataset seed.
    split_code : int
        0 for train, 1 for test: the two splits of one seed are independent.
    index : numpy.ndarray
        1-D array of non-negative sample indices.
    n_words : int
        Words per sample.
    """
    index = np.asarray(index, dtype=np.int64).reshape(-1)
    if index.size and index.min() < 0:
        raise ValueError("sample indices must be non-negative")
    out = np.empty((index.size, n_words), np.uint32)
    if index.size <= _FEW:  # a few samples (SequenceDataset[i]): the objects are cheaper
        for r, i in enumerate(index.tolist()):
            out[r] = sample_seedsequence(seed, split_code, i).generate_state(n_words)
        return out
    small = index < 2**32
    if small.all():
        out[:] = _words_vectorised(seed, (split_code,), index, n_words)
    else:  # indices beyond 2**32 take two spawn-key words: the plain objects handle them
        out[small] = _words_vectorised(seed, (split_code,), index[small], n_words)
        for r in np.flatnonzero(~small):
            out[r] = sample_seedsequence(seed, split_code, index[r]).generate_state(n_words)
    if index.size and not _agrees(seed, split_code, int(index[0]), out[0]):
        log.warning("NumPy's SeedSequence changed: falling back to one object per sample")
        for r in range(index.size):
            out[r] = sample_seedsequence(seed, split_code, index[r]).generate_state(n_words)
    return out


def _agrees(seed: int, split_code: int, index: int, row: np.ndarray) -> bool:
    ref = sample_seedsequence(seed, split_code, index).generate_state(row.size, np.uint32)
    return bool(np.array_equal(ref, row))
