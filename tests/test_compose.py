"""The one composer: compose_rows, the paste, the converted tiles of the single call."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from strokeseq.augment import Augmenter
from strokeseq.compose import (
    check_dtype,
    check_ink,
    compose_rows,
    paste_tiles,
    to_image,
)
from strokeseq.pages import compose_tiles_into, page_bank
from strokeseq.sources import Digits

PACKAGE = Path(__file__).resolve().parent.parent / "strokeseq"


def _digits(n: int, seed: int = 0, dtype=np.uint8) -> Digits:
    rng = np.random.default_rng(seed)
    ink = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):  # a random blob with margins, like a digit in its frame
        x0, y0 = rng.integers(4, 12, 2)
        ink[i, y0 : y0 + 12, x0 : x0 + rng.integers(3, 12)] = rng.integers(1, 256)
    if dtype is np.float32:
        ink = ink.astype(np.float32) / 255
    return Digits(ink, rng.integers(0, 10, n))


def _naive_paste(tiles: np.ndarray, xs: np.ndarray, width: int, overlap: bool) -> np.ndarray:
    n_rows, n = xs.shape
    canvas = np.zeros((n_rows, 28, width + 56), tiles.dtype)
    for r in range(n_rows):
        for j in range(n):
            x = xs[r, j] + 28
            region = canvas[r, :, x : x + 28]
            region[...] = np.maximum(region, tiles[r, j]) if overlap else tiles[r, j]
    return canvas[:, :, 28:-28]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_one_scatter_paste_equals_a_loop(dtype):
    rng = np.random.default_rng(1)
    tiles = rng.integers(0, 256, (50, 4, 28, 28)).astype(dtype)
    gaps = rng.integers(0, 5, (50, 3))
    xs = np.concatenate([np.zeros((50, 1), int), np.cumsum(28 + gaps, axis=1)], axis=1)
    xs += rng.integers(0, 6, (50, 1))
    np.testing.assert_array_equal(
        paste_tiles(tiles, xs, 140, overlap=False), _naive_paste(tiles, xs, 140, False)
    )


def test_overlapping_paste_is_max_composited():
    rng = np.random.default_rng(2)
    tiles = rng.integers(0, 256, (20, 3, 28, 28)).astype(np.uint8)
    xs = np.sort(rng.integers(-10, 60, (20, 3)), axis=1)
    np.testing.assert_array_equal(
        paste_tiles(tiles, xs, 80, overlap=True), _naive_paste(tiles, xs, 80, True)
    )


def test_fixed_spacing_places_tiles_exactly():
    d = _digits(6)
    labels = d.labels.reshape(2, 3)
    batch = compose_rows(d, labels, (4, 4), 100, uniforms=(np.zeros((2, 2)), np.zeros(2)))
    np.testing.assert_array_equal(batch.boxes[:, :, 0], [[0, 32, 64], [0, 32, 64]])
    np.testing.assert_array_equal(batch.gaps, [[4, 4], [4, 4]])
    np.testing.assert_array_equal(batch.ink[0, :, 32:60], d.ink[1])
    assert not batch.ink[:, :, 92:].any()  # the slack went right (margin uniform 0)


def test_rng_draws_gaps_then_margins():
    d = _digits(8, 3)
    labels = d.labels.reshape(2, 4)
    a = compose_rows(d, labels, (0, 9), 150, layout="ink", rng=np.random.default_rng(5))
    g = np.random.default_rng(5)
    uniforms = (g.random((2, 3)), g.random(2))
    b = compose_rows(d, labels, (0, 9), 150, layout="ink", uniforms=uniforms)
    np.testing.assert_array_equal(a.ink, b.ink)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    with pytest.raises(ValueError, match="rng or uniforms"):
        compose_rows(d, labels, (0, 9), 150)


def test_identity_augmenter_changes_nothing():
    d = _digits(6, 4)
    labels = d.labels.reshape(3, 2)
    plain = compose_rows(d, labels, (1, 5), 80, rng=np.random.default_rng(0))
    ident = compose_rows(
        d, labels, (1, 5), 80, rng=np.random.default_rng(0), augmenter=Augmenter.preset("none")
    )
    np.testing.assert_array_equal(plain.ink, ident.ink)
    assert plain.ink.dtype == np.uint8


def test_row_generators_make_each_row_independent_of_the_batch():
    d = _digits(12, 5)
    labels = d.labels.reshape(4, 3)
    aug = Augmenter.preset("heavy")
    u = (np.random.default_rng(1).random((4, 2)), np.random.default_rng(2).random(4))
    gens = [np.random.default_rng(100 + r) for r in range(4)]
    whole = compose_rows(
        d, labels, (0, 5), 110, layout="ink", uniforms=u, augmenter=aug, row_rngs=gens
    )
    for r in range(4):
        one = Digits(d.ink[3 * r : 3 * r + 3], d.labels[3 * r : 3 * r + 3])
        alone = compose_rows(
            one,
            labels[r : r + 1],
            (0, 5),
            110,
            layout="ink",
            uniforms=(u[0][r : r + 1], u[1][r : r + 1]),
            augmenter=aug,
            row_rngs=[np.random.default_rng(100 + r)],
        )
        np.testing.assert_array_equal(alone.ink[0], whole.ink[r])
        np.testing.assert_array_equal(alone.boxes[0], whole.boxes[r])


@pytest.mark.parametrize("bank_dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("ink", ["black", "white"])
@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
@pytest.mark.parametrize(
    ("n", "spacing", "width"), [(3, (0, 10), 120), (4, (2, 9), 125), (1, (0, 0), 40)]
)
def test_tiles_into_equals_compose_rows_then_to_image(bank_dtype, ink, dtype, n, spacing, width):
    """The images-only tile path gives the composer's pixels, loose or tight widths
    (125 px for 4 digits forces the exact conditional gap draw), over many paste chunks."""
    bank = _digits(50, 3, bank_dtype).ink
    rng = np.random.default_rng(n)
    n_rows = 700
    idx = rng.integers(0, 50, (n_rows, n))
    u = (rng.random((n_rows, n - 1)), rng.random(n_rows))
    d = Digits(bank[idx.ravel()], np.zeros(idx.size, np.int64))
    want = to_image(
        compose_rows(d, np.zeros((n_rows, n), np.int64), spacing, width, uniforms=u).ink,
        ink_color=ink,
        dtype=dtype,
    )
    out = np.full((n_rows, 28, width), 7, dtype)
    compose_tiles_into(out, bank, idx, spacing, *u, ink_color=ink)
    np.testing.assert_array_equal(out, want)


def test_page_bank_converts_what_is_asked_once():
    bank = _digits(20, 4).ink
    for ink in ("black", "white"):
        for dtype in (np.float32, np.uint8):
            pages = page_bank(bank, np.array([3, 1, 3]), ink, dtype)
            for i in (1, 3):  # each tile as to_image converts a canvas
                np.testing.assert_array_equal(
                    pages[i], to_image(bank[i], ink_color=ink, dtype=dtype)
                )
    pages = page_bank(bank, np.array([[3, 5], [5, 19]]), "black", np.float32)
    for i in (3, 5, 19):
        np.testing.assert_array_equal(pages[i], to_image(bank[i]))
    assert np.shares_memory(
        pages, page_bank(bank, np.array([3]), "black", np.float32)
    )  # one cache
    pages[3] = 0.5  # a converted tile is not converted again
    assert (page_bank(bank, np.array([3, 4]), "black", np.float32)[3] == 0.5).all()
    assert page_bank(bank, np.array([1]), "white", np.uint8) is bank  # nothing to convert


def test_option_vocabulary():
    assert check_ink("white") == "white"
    with pytest.raises(ValueError, match="black ink on white"):
        check_ink("red")
    for spelling in (np.uint8, "uint8", np.dtype("uint8")):
        assert check_dtype(spelling) is np.uint8
    assert check_dtype("float32") is np.float32
    for bad in ("float64", int, True, "nope"):
        with pytest.raises(TypeError, match="float32 or uint8"):
            check_dtype(bad)


def test_the_placement_step_has_one_caller():
    callers = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if re.search(r"\b_?arrange\(", p.read_text(encoding="utf-8"))
    ]
    assert callers == ["compose.py"]
    text = (PACKAGE / "compose.py").read_text(encoding="utf-8")
    assert len(re.findall(r"(?<!def )\b_arrange\(", text)) == 1


def test_converted_tile_caches_are_bounded():
    """Banks made and dropped in a loop do not keep their converted copies alive."""
    from strokeseq import pages

    pages.clear_page_tiles()
    banks = [np.full((4, 28, 28), k, np.uint8) for k in range(pages.MAX_PAGE_CACHES + 3)]
    for bank in banks:
        page = pages.page_bank(bank, np.array([1]), "black", np.float32)
        assert page[1, 0, 0] == np.float32((255 - bank[0, 0, 0]) / 255)
    assert len(pages._PAGE_TILES) == pages.MAX_PAGE_CACHES
    assert all(entry[0] is not banks[0] for entry in pages._PAGE_TILES.values())
    pages.clear_page_tiles()


def test_moved_names_still_import_from_compose():
    """The bank paste moved to strokeseq.pages; the old import path gives the same objects."""
    from strokeseq import compose, pages

    for name in ("compose_tiles_into", "page_bank", "clear_page_tiles", "MAX_PAGE_CACHES"):
        assert getattr(compose, name) is getattr(pages, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        compose.nope  # noqa: B018
