"""Bezier evaluation (bezier.py), capsule rasterisation (render.py) and the image steps (canvas.py)."""

from __future__ import annotations

import numpy as np
import pytest

from strokeseq.sources.stroke import bezier, render
from strokeseq.sources.stroke.bezier import bezier_basis, compile_glyphs
from strokeseq.sources.stroke.canvas import (
    _centring_shifts,
    centre_of_mass,
    downsample,
    shift_images,
)
from strokeseq.sources.stroke.glyph_schema import load_glyphs
from strokeseq.sources.stroke.render import rasterise_capsules
from strokeseq.sources.stroke.render_reference import (
    rasterise_capsules_reference as _rasterise_capsules_reference,
)


def test_bezier_basis_partition_of_unity_and_endpoints():
    b = bezier_basis(7)
    assert b.shape == (7, 4)
    np.testing.assert_allclose(b.sum(axis=1), 1.0)
    np.testing.assert_allclose(b[0], [1, 0, 0, 0])
    np.testing.assert_allclose(b[-1], [0, 0, 0, 1])
    # a cubic with collinear equally spaced control points is the straight line at t
    ctrl = np.array([[0.0, 0], [1, 0], [2, 0], [3, 0]])
    np.testing.assert_allclose((b @ ctrl)[:, 0], np.linspace(0, 3, 7))


def _one(a, b, r, size=40, soft=0.5):
    a = np.array(a, float)[None, None]
    b = np.array(b, float)[None, None]
    r = np.full((1, 1), r)
    return rasterise_capsules(a, b, r, r, np.ones((1, 1), bool), size, soft=soft)[0]


def test_capsule_profile_matches_distance():
    img = _one((10.0, 20.0), (30.0, 20.0), r=4.0, soft=0.5)
    assert img.dtype == np.float32 and img.shape == (40, 40)
    yy, xx = np.mgrid[0:40, 0:40] + 0.5
    # analytic distance to the segment y=20, 10<=x<=30
    dx = np.clip(xx, 10, 30) - xx
    d = np.hypot(dx, yy - 20)
    expect = np.clip((4.0 - d) / 2.0, 0, 1)
    np.testing.assert_allclose(img, expect, atol=1e-5)
    assert img[20, 20] == 1.0 and img[20 + 5, 20] == 0.0


def test_overlapping_capsules_combine_by_max_and_invalid_are_skipped():
    a = np.array([[[5.0, 10], [10.0, 5]]])
    b = np.array([[[15.0, 10], [10.0, 15]]])
    r = np.full((1, 2), 2.0)
    both = rasterise_capsules(a, b, r, r, np.array([[True, True]]), 20)[0]
    first = rasterise_capsules(a, b, r, r, np.array([[True, False]]), 20)[0]
    second = rasterise_capsules(a[:, 1:], b[:, 1:], r[:, 1:], r[:, 1:], np.ones((1, 1), bool), 20)[
        0
    ]
    np.testing.assert_array_equal(both, np.maximum(first, second))
    assert both.max() == 1.0  # crossing does not exceed full ink
    empty = rasterise_capsules(a, b, r, r, np.zeros((1, 2), bool), 20)
    assert not empty.any()


def test_batch_rasterisation_equals_one_by_one():
    rng = np.random.default_rng(0)
    n, c = 6, 5
    a = rng.uniform(5, 35, (n, c, 2))
    b = a + rng.uniform(-4, 4, (n, c, 2))
    ra, rb = rng.uniform(1, 3, (n, c)), rng.uniform(1, 3, (n, c))
    valid = rng.random((n, c)) < 0.8
    batch = rasterise_capsules(a, b, ra, rb, valid, 40)
    for i in range(n):
        one = rasterise_capsules(
            a[i : i + 1], b[i : i + 1], ra[i : i + 1], rb[i : i + 1], valid[i : i + 1], 40
        )
        np.testing.assert_array_equal(batch[i], one[0])


def test_capsules_at_the_border_are_clipped_not_wrapped():
    img = _one((-3.0, 5.0), (3.0, 5.0), r=2.0, size=12)
    assert img[:, :6].any() and not img[:, 8:].any()


def test_downsample_is_a_box_mean():
    x = np.arange(2 * 6 * 6, dtype=np.float32).reshape(2, 6, 6)
    out = downsample(x, 3)
    assert out.shape == (2, 2, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[1, 0, 1], x[1, 0:3, 3:6].mean())
    np.testing.assert_array_equal(downsample(x, 1), x)


def test_centre_of_mass_and_shift():
    x = np.zeros((3, 10, 10), np.float32)
    x[0, 2, 3] = 1
    x[1, 4:6, 6:8] = 1
    cy, cx = centre_of_mass(x)
    np.testing.assert_allclose(cy, [2, 4.5, 4.5])  # blank image -> geometric centre
    np.testing.assert_allclose(cx, [3, 6.5, 4.5])
    moved = shift_images(x, np.array([3, -4, 0]), np.array([-2, 2, 0]))
    assert moved[0, 5, 1] == 1 and moved[0].sum() == 1
    assert moved[1, 0:2, 8:10].sum() == 4
    s = shift_images(x, np.array([0, 0, 0]), np.array([0, 0, 0]))
    np.testing.assert_array_equal(s, x)
    gone = shift_images(x, np.array([20, 0, 0]), np.array([0, 0, 0]))  # off the canvas
    assert gone[0].sum() == 0


def test_compiled_glyphs_share_repeated_points():
    g = compile_glyphs(load_glyphs())
    zero = g.names.index("0/oval")
    m = g.seg_matrix[zero][g.seg_valid[zero]]  # (S, 4, P)
    # the loop closes: the last point of the last segment is the first of the first
    np.testing.assert_array_equal(m[-1, 3], m[0, 0])
    # rows are convex weights: every cubic control point is a combination of points
    np.testing.assert_allclose(m.sum(axis=2), 1.0)
    # choice tables: cumulative weights end at 1 for each digit
    np.testing.assert_allclose(g.choice_cdf[:, -1], 1.0)
    for d in range(10):
        assert set(g.digit[g.choice_ids[d]].tolist()) == {d}


@pytest.mark.parametrize("size", [28, 56])
def test_rasterise_empty_batch(size):
    z = np.zeros((0, 3, 2))
    out = rasterise_capsules(
        z, z, np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), bool), size
    )
    assert out.shape == (0, size, size)


# -- the batched rasteriser against the former per-layer one ----------------------------------
#
# Tolerance: none. The batched rasteriser performs the same float32 operations
# on every (pixel, capsule) pair as the per-layer reference (only the window
# shapes and the order of the max-combination differ, and max is exact), so
# the images are compared bit for bit.


def _random_capsules(rng, n, c, size, r_lo, r_hi, spread=1.0):
    """Polyline-like capsules of n digits: chains of short random steps, with
    zero-length pieces and pieces reaching past the canvas edge mixed in."""
    start = rng.uniform(-0.1 * size, 1.1 * size, (n, 1, 2))
    steps = rng.normal(0, 2.0 * spread, (n, c, 2))
    steps[rng.random((n, c)) < 0.1] = 0.0  # zero-length capsules
    pts = start + np.concatenate([np.zeros((n, 1, 2)), np.cumsum(steps, axis=1)], axis=1)
    r = rng.uniform(r_lo, r_hi, (n, c + 1))
    valid = rng.random((n, c)) < 0.85
    return pts[:, :-1], pts[:, 1:], r[:, :-1], r[:, 1:], valid


@pytest.mark.parametrize(
    ("size", "r_lo", "r_hi", "soft"),
    [
        (84, 3.0, 7.0, 0.5),  # the default look at supersample 3
        (28, 0.05, 0.4, 0.5),  # very thin pens, thinner than a pixel
        (56, 8.0, 20.0, 0.3),  # very thick pens: windows as large as the canvas
        (40, 0.5, 4.0, 1.0),  # the softest profile
        (28, 1.0, 2.0, 0.05),  # the hardest profile
    ],
)
def test_batched_rasteriser_equals_the_per_layer_reference(size, r_lo, r_hi, soft):
    rng = np.random.default_rng(size + int(10 * r_hi))
    args = _random_capsules(rng, 40, 30, size, r_lo, r_hi)
    new = rasterise_capsules(*args, size, soft=soft)
    old = _rasterise_capsules_reference(*args, size, soft=soft)
    assert new.dtype == np.float32 and new.shape == (40, size, size)
    assert old.any() and np.array_equal(new, old)


def test_edge_cases_equal_the_reference():
    size = 20
    a = np.array(
        [
            [[5.0, 5.0], [-30.0, -30.0], [10.0, 10.0], [-2.0, 10.0], [10.0, 19.9]],
            [[0.0, 0.0], [20.0, 20.0], [10.0, -3.0], [25.0, 10.0], [3.3, 3.3]],
        ]
    )
    b = np.array(
        [
            [[5.0, 5.0], [-20.0, -30.0], [10.0, 10.0], [4.0, 10.0], [10.0, 25.0]],
            [[20.0, 20.0], [20.0, 20.0], [10.0, 3.0], [30.0, 10.0], [3.3, 3.3]],
        ]
    )
    # zero-length, fully off canvas, zero-length tiny, crossing the left edge,
    # crossing the bottom edge; a diagonal, a point on the corner, crossing the
    # top edge, off the right edge with a reach back in, zero radius.
    r = np.array([[3.0, 4.0, 0.01, 2.5, 1.5], [1.0, 2.0, 0.7, 6.0, 0.0]])
    valid = np.ones((2, 5), bool)
    new = rasterise_capsules(a, b, r, r, valid, size)
    old = _rasterise_capsules_reference(a, b, r, r, valid, size)
    assert np.array_equal(new, old)
    assert new[0, 5, 5] == 1.0  # the zero-length capsule is a disc
    assert new[1, :, 10].any()  # the right-edge capsule reaches back in (radius 6)
    # every capsule off the canvas: blank, not an error
    off = rasterise_capsules(a - 100, b - 100, r, r, valid, size)
    assert off.shape == (2, size, size) and not off.any()


def test_a_digit_does_not_depend_on_its_batch_mates():
    rng = np.random.default_rng(7)
    a, b, ra, rb, valid = _random_capsules(rng, 300, 28, 84, 3.0, 7.0)
    whole = rasterise_capsules(a, b, ra, rb, valid, 84)
    # the big batch is drawn with windows grouped by size, one digit alone with
    # one window for all: the same pixels either way
    caps = render._capsules(a, b, ra, rb, valid, 84, 0.5)
    order, chunks, _ = render._plan(caps["span"])
    assert order is not None and len({c[2:] for c in chunks}) > 1  # windows of several sizes
    one = render._capsules(a[:1], b[:1], ra[:1], rb[:1], valid[:1], 84, 0.5)
    order, chunks, _ = render._plan(one["span"])
    assert order is None and len(chunks) == 1  # one window for all
    for i in (0, 1, 150, 299):
        s = slice(i, i + 1)
        alone = rasterise_capsules(a[s], b[s], ra[s], rb[s], valid[s], 84)
        np.testing.assert_array_equal(alone[0], whole[i])
    # other batch-mates, in another order (one of them with a canvas-sized window)
    perm = rng.permutation(300)[:50]
    big = np.array([[[0.0, 0.0]]]), np.array([[[84.0, 84.0]]])
    mixed = rasterise_capsules(
        np.concatenate([a[perm], np.repeat(big[0], 28, axis=1)]),
        np.concatenate([b[perm], np.repeat(big[1], 28, axis=1)]),
        np.concatenate([ra[perm], np.full((1, 28), 30.0)]),
        np.concatenate([rb[perm], np.full((1, 28), 30.0)]),
        np.concatenate([valid[perm], np.ones((1, 28), bool)]),
        84,
    )
    np.testing.assert_array_equal(mixed[:50], whole[perm])


def test_rasterise_does_not_modify_its_inputs_and_accepts_float32():
    rng = np.random.default_rng(3)
    args = _random_capsules(rng, 5, 10, 40, 1.0, 3.0)
    copies = [x.copy() for x in args]
    out64 = rasterise_capsules(*args, 40)
    for x, y in zip(args, copies, strict=True):
        np.testing.assert_array_equal(x, y)
    f32 = [x.astype(np.float32) if x.dtype != bool else x for x in args]
    np.testing.assert_array_equal(
        rasterise_capsules(*f32, 40), _rasterise_capsules_reference(*f32, 40)
    )
    assert out64.any()


@pytest.mark.parametrize("factor", [2, 3, 4, 8])
def test_downsample_equals_the_block_mean(factor):
    rng = np.random.default_rng(factor)
    x = rng.random((4, 7 * factor, 5 * factor)).astype(np.float32)
    expect = x.reshape(4, 7, factor, 5, factor).mean(axis=(2, 4))
    out = downsample(x, factor)
    assert out.shape == (4, 7, 5) and out.flags.c_contiguous
    np.testing.assert_allclose(out, expect, rtol=1e-6, atol=1e-7)


def test_shift_images_equals_a_padded_crop_for_mixed_shifts():
    rng = np.random.default_rng(5)
    x = rng.random((30, 12, 9)).astype(np.float32)
    dy = rng.integers(-3, 4, 30)
    dx = rng.integers(-3, 4, 30)
    out = shift_images(x, dy, dx)
    pad = np.pad(x, ((0, 0), (3, 3), (3, 3)))
    for i in range(30):
        np.testing.assert_array_equal(
            out[i], pad[i, 3 - dy[i] : 15 - dy[i], 3 - dx[i] : 12 - dx[i]]
        )


def _three_steps(a, b, ra, rb, valid, factor, soft, target, tile=28, *, step=1):
    """The pipeline as separate steps: per-layer reference raster, shift, downsample.

    ``step``: moves by multiples of ``step`` canvas pixels (``placement="mnist"``).
    """
    canvas = _rasterise_capsules_reference(a, b, ra, rb, valid, tile * factor, soft)
    cy, cx = centre_of_mass(canvas)
    dy = step * np.rint((target - cy) / step).astype(np.int64)
    dx = step * np.rint((target - cx) / step).astype(np.int64)
    return downsample(shift_images(canvas, dy, dx), factor)


@pytest.mark.parametrize("factor", [1, 2, 3, 5])
def test_draw_centred_equals_raster_shift_downsample(factor):
    rng = np.random.default_rng(factor)
    size = 28 * factor
    a, b, ra, rb, valid = _random_capsules(rng, 60, 20, size, 0.5 * factor, 2.0 * factor)
    # targets near the middle (small shifts, as drawn digits have), and far from
    # it (shifts beyond the buffer's margin: the general path)
    for target in (14.5 * factor - 0.5, 4.0, size - 3.0):
        new = render.draw_centred(a, b, ra, rb, valid, factor, 0.5, target)
        old = _three_steps(a, b, ra, rb, valid, factor, 0.5, target)
        assert new.shape == (60, 28, 28) and new.dtype == np.float32
        np.testing.assert_array_equal(new, old)
        for i in (0, 7):  # one digit alone: its own path, the same pixels
            s = slice(i, i + 1)
            one = render.draw_centred(a[s], b[s], ra[s], rb[s], valid[s], factor, 0.5, target)
            np.testing.assert_array_equal(one[0], old[i])
    empty = render.draw_centred(a[:0], b[:0], ra[:0], rb[:0], valid[:0], factor, 0.5, 1.0)
    assert empty.shape == (0, 28, 28)


@pytest.mark.parametrize("model", ["fitted", "glyphs"])
def test_stroke_source_draws_what_the_per_layer_pipeline_drew(monkeypatch, model):
    """The whole synthetic pipeline against the former one (per-layer raster, shift
    copy, downsample) on 700 digits: two chunks, windows grouped by size, every
    shift; bit for bit."""
    from strokeseq.sources.stroke import StrokeSource

    src = StrokeSource(model)
    labels = np.arange(700) % 10
    new = src.sample(labels, rng=11)
    monkeypatch.setattr(render, "draw_centred", _three_steps)
    old = src.sample(labels, rng=11)
    assert new.shape == old.shape == (700, 28, 28)
    np.testing.assert_array_equal(new, old)


@pytest.mark.parametrize("k", [2, 9, 16])
def test_bezier_points_equal_the_einsum_bit_for_bit(k):
    rng = np.random.default_rng(k)
    ctrl = rng.normal(0, 10, (20, 7, 4, 2))
    expect = np.einsum("kc,nscd->nskd", bezier_basis(k), ctrl)
    np.testing.assert_array_equal(bezier.bezier_points(ctrl, k), expect)


def test_plan_chunks_cover_the_capsules_in_windows_that_fit():
    rng = np.random.default_rng(12)
    a, b, ra, rb, valid = _random_capsules(rng, 400, 30, 84, 1.0, 8.0, spread=2.0)
    caps = render._capsules(a, b, ra, rb, valid, 84, 0.5)
    order, chunks, wsize = render._plan(caps["span"])
    assert order is not None and sorted(order.tolist()) == list(range(order.size))
    span = caps["span"][order]
    assert chunks[0][0] == 0 and chunks[-1][1] == order.size
    for (start, end, wy, wx), nxt in zip(chunks, [*chunks[1:], None], strict=True):
        assert nxt is None or nxt[0] == end
        assert (span[start:end] <= (wx, wy)).all()  # every window fits its chunk's size
        assert (wsize[start:end] == (wx, wy)).all()
        assert (end - start) * wy * wx <= render._CHUNK_ELEMENTS or end - start == 1


def test_draw_centred_in_parts_equals_one_batch(monkeypatch):
    rng = np.random.default_rng(21)
    a, b, ra, rb, valid = _random_capsules(rng, 50, 20, 84, 1.5, 6.0)
    whole = render.draw_centred(a, b, ra, rb, valid, 3, 0.5, 41.5)
    side = 84 + 2 * 4
    monkeypatch.setattr(render, "_CANVAS_BYTES", 4 * side * side * 7)  # parts of 7 digits
    parts = render.draw_centred(a, b, ra, rb, valid, 3, 0.5, 41.5)
    np.testing.assert_array_equal(parts, whole)
    np.testing.assert_array_equal(whole, _three_steps(a, b, ra, rb, valid, 3, 0.5, 41.5))


@pytest.mark.parametrize("size", [28, 84, 224])
def test_centring_shifts_round_like_centre_of_mass(size):
    rng = np.random.default_rng(size)
    ink = rng.random((120, size, size)).astype(np.float32) ** 8  # sparse, uneven ink
    ink[0] = 0.0  # blank: the geometric centre
    ink[1] = 0.0
    ink[1, 3, [4, 5]] = 1.0  # centre exactly on a half pixel in x: a tie
    cy, cx = centre_of_mass(ink)
    # targets that put some centres within a hair of a half pixel
    for target in (size / 2 - 0.5, cx[2] + 0.5, cy[3] + 0.5 + 1e-7, cx[4] - 0.5 - 1e-6):
        ones = np.ones(size, np.float32)
        rows, cols = ink @ ones, ones @ ink  # BLAS sums, as draw_centred takes them
        dy, dx = _centring_shifts(rows, cols, target, lambda sel: ink[sel])
        np.testing.assert_array_equal(dy, np.rint(target - cy).astype(np.int64))
        np.testing.assert_array_equal(dx, np.rint(target - cx).astype(np.int64))
        for i in range(5):  # one canvas at a time: the scalar path
            s = slice(i, i + 1)
            one = _centring_shifts(rows[s], cols[s], target, lambda sel, s=s: ink[s][sel])
            assert (one[0][0], one[1][0]) == (dy[i], dx[i])


def test_images_wider_than_the_index_tables():
    """Canvases beyond the 4096-entry shared tables work as any other size."""
    x = np.zeros((1, 5000, 3), np.float32)
    x[0, 4500, 1] = 1.0
    cy, cx = centre_of_mass(x)
    assert (cy[0], cx[0]) == (4500.0, 1.0)
    a, b = np.array([[[10.0, 20.0]]]), np.array([[[4500.0, 20.0]]])
    r = np.full((1, 1), 3.0)
    img = rasterise_capsules(a, b, r, r, np.ones((1, 1), bool), 4600)
    assert img[0, 20, 10:4500].min() == 1.0 and img[0, 40:].max() == 0.0


@pytest.mark.parametrize("n_digits", [5, 10])
def test_few_capsules_in_equal_count_groups_equal_the_reference(n_digits):
    """A few dozen capsules of mixed sizes take the equal-count grouping of
    ``_plan`` (several window sizes, capsules reordered); the windows still fit
    and the pixels are the per-layer reference's, bit for bit."""
    rng = np.random.default_rng(40 + n_digits)
    a, b, ra, rb, valid = _random_capsules(rng, n_digits, 18, 84, 1.0, 9.0, spread=2.5)
    valid[:] = True
    caps = render._capsules(a, b, ra, rb, valid, 84, 0.5)
    order, chunks, wsize = render._plan(caps["span"])
    m = caps["span"].shape[0]
    assert order is not None and sorted(order.tolist()) == list(range(m))
    assert len({(wy, wx) for _, _, wy, wx in chunks}) > 1  # several window sizes
    span = caps["span"][order]
    for start, end, wy, wx in chunks:
        assert (span[start:end] <= (wx, wy)).all()
        assert (wsize[start:end] == (wx, wy)).all()
    # fewer pairs than one window fitting all
    wx_all, wy_all = caps["span"].max(axis=0)
    assert sum((e - s) * wy * wx for s, e, wy, wx in chunks) < m * wx_all * wy_all
    np.testing.assert_array_equal(
        rasterise_capsules(a, b, ra, rb, valid, 84),
        _rasterise_capsules_reference(a, b, ra, rb, valid, 84),
    )


def test_one_digit_keeps_one_window_size():
    """A split cannot pay for its extra chunk on one digit: one window, in order."""
    rng = np.random.default_rng(5)
    a, b, ra, rb, valid = _random_capsules(rng, 1, 12, 84, 3.0, 6.0)
    caps = render._capsules(a, b, ra, rb, valid, 84, 0.5)
    order, chunks, _ = render._plan(caps["span"])
    assert order is None and len(chunks) == 1
