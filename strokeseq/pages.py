"""Tile banks in output pixels, and pasting from them straight into output.

The batch API's tile fast path (:mod:`strokeseq.tiles`) ends here:
:func:`page_bank` keeps each bank's tiles converted to output pixels (once
per bank, polarity and dtype), and :func:`compose_tiles_into` places a
batch with the composer's placement step (:func:`strokeseq.compose._place`)
and copies its tiles into the output chunk by chunk, giving the pixels of
:func:`strokeseq.compose.compose_rows` followed by
:func:`strokeseq.compose.to_image` without building the ink canvas.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .compose import _F255, _place, _scatter_runs, check_ink, to_image
from .sources.base import TILE
from .validate import check_spacing

__all__ = ["clear_page_tiles", "compose_tiles_into", "page_bank"]


def compose_tiles_into(
    out: np.ndarray,
    bank: np.ndarray,
    indices: np.ndarray,
    spacing: tuple[int, int],
    u_gaps: np.ndarray,
    u_margin: np.ndarray,
    *,
    ink_color: str,
) -> None:
    """Tile-layout lines straight into output pixels: the images of ``compose_rows``.

    The batch API's path for sources with a tile bank
    (:meth:`~strokeseq.sources.DigitSource.tile_pools`), no augmentation and
    no boxes wanted: the same placement as
    :func:`~strokeseq.compose.compose_rows` and the same pixels as
    :func:`~strokeseq.compose.to_image` of its canvas, without building the
    canvas.
    Tiles are converted to output pixels once per bank (:func:`page_bank`),
    then each cache-sized chunk of ``out`` is filled with the background and
    its tiles are copied in with one gather and one scatter.

    Parameters
    ----------
    out : numpy.ndarray
        ``(N, 28, W)`` C-contiguous output (float32 or uint8), overwritten.
    bank : numpy.ndarray
        ``(M, 28, 28)`` ink tiles.
    indices : numpy.ndarray
        ``(N, n)`` int positions in ``bank`` of each row's digits.
    spacing : (int, int)
        Gap range ``0 <= lo <= hi``; ``W`` at least ``28 n + (n - 1) * lo``.
    u_gaps, u_margin : numpy.ndarray
        Uniforms in [0, 1], ``(N, n - 1)`` and ``(N,)``, for the gaps and the
        margin.
    ink_color : {"black", "white"}
        Output polarity.

    Raises
    ------
    TypeError, ValueError
        For arrays of the wrong kind, shape or dtype, indices outside the
        bank, uniforms outside [0, 1] or an ``out`` too narrow; checked once
        per call with a few vectorised reductions, before anything is written
        (the batch API, whose values are valid by construction, skips them).

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.pages import compose_tiles_into
    >>> bank = np.full((2, 28, 28), 255, np.uint8)
    >>> out = np.empty((1, 28, 60), np.uint8)
    >>> compose_tiles_into(out, bank, np.array([[0, 1]]), (4, 4), np.zeros((1, 1)),
    ...                    np.zeros(1), ink_color="white")
    >>> (out[0, 0] > 0).nonzero()[0][[0, 27, 28, 55]].tolist()  # the tiles, 4 px apart
    [0, 27, 32, 59]
    """
    spacing = _check_tiles_into(out, bank, indices, spacing, u_gaps, u_margin, ink_color)
    # A caller's bank may change between calls: convert its tiles afresh (no cache).
    _compose_tiles_into(out, bank, indices, spacing, u_gaps, u_margin, ink_color, cache=False)


def _compose_tiles_into(
    out: np.ndarray,
    bank: np.ndarray,
    indices: np.ndarray,
    spacing: tuple[int, int],
    u_gaps: np.ndarray,
    u_margin: np.ndarray,
    ink_color: str,
    cache: bool = True,
) -> None:
    """:func:`compose_tiles_into` on checked input: the batch API's tile path
    (:func:`strokeseq.tiles.tiles_into`, whose indices, uniforms and options
    are valid by construction) calls this directly, so even a one-row call
    pays nothing for the checks. ``cache``: keep the converted tiles of
    ``bank`` across calls (:func:`page_bank`; only for banks that never
    change, as the sources' are); otherwise the used tiles are converted for
    this call alone."""
    n_rows, n = indices.shape
    width = out.shape[2]
    widths = np.full((n_rows, n), TILE, np.int64)
    x0, _ = _place(widths, spacing, width, u_gaps, u_margin, layout="tile")
    # uint8 ink is pasted as uint8 page pixels (a quarter of the bytes to move)
    # and divided into float32 output once per chunk, as to_image does.
    page_type = np.uint8 if np.uint8 in (bank.dtype, out.dtype) else np.float32
    if cache or (page_type is np.uint8 and ink_color == "white" and bank.dtype == np.uint8):
        pages = _page_bank(bank, indices, ink_color, page_type)
    else:
        used, inverse = np.unique(indices, return_inverse=True)
        indices = inverse.reshape(n_rows, n)
        pages = to_image(bank[used], ink_color=ink_color, dtype=page_type)
    background = to_image(np.zeros(1, bank.dtype), ink_color=ink_color, dtype=page_type)[0]
    _paste_bank(out, pages, indices, x0, background)


def _check_tiles_into(
    out: Any,
    bank: Any,
    indices: Any,
    spacing: object,
    u_gaps: Any,
    u_margin: Any,
    ink_color: object,
) -> tuple[int, int]:
    """:func:`compose_tiles_into`'s input, checked once per call (a few
    vectorised reductions, nothing per row); returns the gap range."""
    check_ink(ink_color)
    arrays = {"out": out, "bank": bank, "indices": indices, "u_gaps": u_gaps, "u_margin": u_margin}
    for name, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy.ndarray, not {type(a).__name__}")
    for name, a in (("out", out), ("bank", bank)):
        if a.dtype not in (np.float32, np.uint8):
            raise TypeError(f"{name} must be float32 or uint8, got dtype {a.dtype}")
    if out.ndim != 3 or out.shape[1] != TILE:
        raise ValueError(f"out must have shape (N, {TILE}, W), got {out.shape}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be C-contiguous and writeable")
    if bank.ndim != 3 or bank.shape[1:] != (TILE, TILE) or not len(bank):
        raise ValueError(f"bank must have shape (M, {TILE}, {TILE}) with M >= 1, got {bank.shape}")
    n_rows = len(out)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, got dtype {indices.dtype}")
    if indices.ndim != 2 or indices.shape[0] != n_rows or indices.shape[1] < 1:
        raise ValueError(
            f"indices must have shape (N, n) = ({n_rows}, n), one row per row of out, "
            f"n >= 1; got {indices.shape}"
        )
    if indices.size and (indices.min() < 0 or indices.max() >= len(bank)):
        raise ValueError(
            f"indices must be positions in bank, 0..{len(bank) - 1}; "
            f"got {indices.min()}..{indices.max()}"
        )
    lo, hi = check_spacing(spacing, allow_negative=False)
    n, width = indices.shape[1], out.shape[2]
    if width < TILE * n + (n - 1) * lo:
        raise ValueError(
            f"out is {width} px wide; {n} tiles with gaps of at least {lo} px need "
            f"{TILE * n + (n - 1) * lo} px"
        )
    for name, u, shape in (("u_gaps", u_gaps, (n_rows, n - 1)), ("u_margin", u_margin, (n_rows,))):
        if u.shape != shape:
            raise ValueError(f"{name} must have shape {shape}, got {u.shape}")
        if u.dtype.kind != "f":
            raise TypeError(f"{name} must be floats (uniforms in [0, 1]), got dtype {u.dtype}")
        if u.size and not (u.min() >= 0 and u.max() <= 1):  # (False for NaN too)
            raise ValueError(f"{name} must be uniforms in [0, 1], got {u.min()}..{u.max()}")
    return lo, hi


#: Page-pixel bytes pasted at once by :func:`compose_tiles_into`: big enough
#: that the ~8 NumPy calls per chunk cost little per row, small enough that
#: the chunk and its gathered tiles stay near the core (measured best of
#: 64 KiB..1 MiB; 256 KiB and 4 MiB again in benchmarks/bench_paste.py).
PASTE_BYTES = 1024 * 1024


def _paste_bank(
    out: np.ndarray, pages: np.ndarray, indices: np.ndarray, x0: np.ndarray, background
) -> None:
    """``out[r, :, x0[r, j]:+28] = pages[indices[r, j]]`` on a background, chunk by chunk.

    uint8 pages into float32 output are pasted into a reused uint8 canvas,
    then divided by 255 into ``out`` (the float32 map of :func:`to_image`).
    """
    n_rows, h, w = out.shape
    n = indices.shape[1]
    size = pages.itemsize
    step = max(1, PASTE_BYTES // (h * w * size))
    rowtype = np.dtype((np.void, TILE * size))
    flat = pages.reshape(len(pages), TILE * TILE)
    buf = np.empty((min(step, n_rows) * n, TILE * TILE), pages.dtype)
    convert = pages.dtype != out.dtype
    canvas = np.empty((min(step, n_rows), h, w), pages.dtype) if convert else None
    rows = np.arange(step).repeat(n)
    for s in range(0, n_rows, step):
        chunk = out[s : s + step]
        k = len(chunk) * n
        target = canvas[: len(chunk)] if canvas is not None else chunk
        target.fill(background)
        # mode="clip": the indices are valid, and "raise" would buffer the output.
        tiles = np.take(flat, indices[s : s + step].reshape(-1), axis=0, out=buf[:k], mode="clip")
        _scatter_runs(target, tiles, rows[:k], x0[s : s + step].reshape(-1), rowtype)
        if canvas is not None:
            np.divide(target, _F255, out=chunk, dtype=np.float32)


#: Converted-tile caches kept at most (each is the size of its bank in output
#: pixels, filled as tiles are used; sources made and dropped in a loop must
#: not keep theirs alive): the oldest is forgotten first.
MAX_PAGE_CACHES = 8
#: Converted tiles of the tile fast paths: (id(bank), ink, dtype) -> (bank, cache, done).
_PAGE_TILES: dict[tuple, tuple[np.ndarray, np.ndarray, bytearray]] = {}
#: The tile fast paths' plans (strokeseq.tiles): (id(source), ink, dtype) -> (source, plan).
_TILE_PLANS: dict[tuple, tuple[Any, Any]] = {}
#: The single call's plans by its options (source, split, data_dir, ink, dtype).
_SINGLE_PLANS: dict[tuple, Any] = {}


def _page_entry(bank: np.ndarray, ink_color: str, dtype: type):
    key = (id(bank), ink_color, dtype)
    entry = _PAGE_TILES.get(key)
    if entry is None or entry[0] is not bank:
        while len(_PAGE_TILES) >= MAX_PAGE_CACHES:
            del _PAGE_TILES[next(iter(_PAGE_TILES))]
        entry = _PAGE_TILES[key] = (bank, np.empty(bank.shape, dtype), bytearray(len(bank)))
    return entry


def page_bank(bank: np.ndarray, indices: np.ndarray, ink_color: str, dtype: type) -> np.ndarray:
    """``bank`` in output pixels, with at least the tiles at ``indices`` converted.

    Missing tiles are converted at once, each exactly as :func:`to_image`
    converts a canvas, and kept, keyed by the bank object: a bank must not be
    changed in place after its first conversion (the sources' banks never
    are; :func:`compose_tiles_into` does not use this cache). uint8 white ink from a uint8 bank is the bank itself
    (a private copy measured no faster to gather from: 1.05x, 0.91..1.51).

    Parameters
    ----------
    bank : numpy.ndarray
        ``(M, 28, 28)`` ink tiles (float32 or uint8).
    indices : numpy.ndarray
        Integer positions in ``bank`` of the tiles wanted, any shape.
    ink_color : {"black", "white"}
        Output polarity.
    dtype : numpy.float32 or numpy.uint8
        Output pixel type.

    Returns
    -------
    numpy.ndarray
        ``(M, 28, 28)`` of ``dtype``: converted where asked (others unset).

    Raises
    ------
    ValueError
        If an index is outside the bank.

    Examples
    --------
    >>> import numpy as np
    >>> from strokeseq.pages import page_bank
    >>> bank = np.zeros((3, 28, 28), np.float32)
    >>> float(page_bank(bank, np.array([2]), "black", np.float32)[2, 0, 0])  # a white page
    1.0
    """
    flat = np.asarray(indices).reshape(-1)
    if flat.size and (flat.min() < 0 or flat.max() >= len(bank)):
        raise ValueError(f"tile indices must be in 0..{len(bank) - 1} (the bank's tiles)")
    return _page_bank(bank, flat, ink_color, dtype)


def _page_bank(bank: np.ndarray, indices: np.ndarray, ink_color: str, dtype: type) -> np.ndarray:
    # page_bank on indices known to be valid: the API's single call and batch paths
    # (a bounds check would cost a fifth of a single call).
    if dtype is np.uint8 and ink_color == "white" and bank.dtype == np.uint8:
        return bank
    _, cache, done = _page_entry(bank, ink_color, dtype)
    flags = np.frombuffer(done, np.bool_)
    todo = indices.reshape(-1)
    todo = todo[~flags[todo]]
    if todo.size:
        todo = np.unique(todo)
        cache[todo] = to_image(bank[todo], ink_color=ink_color, dtype=dtype)
        flags[todo] = True
    return cache


def clear_page_tiles() -> None:
    """Forget the converted tiles and tile plans (``sources.clear_cache`` calls it)."""
    _PAGE_TILES.clear()
    _TILE_PLANS.clear()
    _SINGLE_PLANS.clear()
