"""Bezier evaluation, capsule rasterisation and the image helpers of strokeseq.render."""

from __future__ import annotations

import numpy as np
import pytest

from strokeseq.sources.stroke.glyph_schema import load_glyphs
from strokeseq.sources.stroke.render import (
    bezier_basis,
    centre_of_mass,
    compile_glyphs,
    downsample,
    rasterise_capsules,
    shift_images,
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
