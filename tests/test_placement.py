"""placement="mnist": the ink box on pixel edges, moved by whole pixels, as MNIST was made."""

import numpy as np
import pytest

from strokeseq.sources.stroke import StrokeSource, render
from strokeseq.sources.stroke.canvas import (
    _centring_shifts,
    centre_of_mass,
    downsample,
    shift_images,
)
from strokeseq.sources.stroke.render_reference import rasterise_capsules_reference


def _boxes(ink: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = (ink > level).any(axis=2), (ink > level).any(axis=1)
    h = 28 - rows.argmax(axis=1) - rows[:, ::-1].argmax(axis=1)
    w = 28 - cols.argmax(axis=1) - cols[:, ::-1].argmax(axis=1)
    return h, w


@pytest.mark.parametrize("model", ["fitted", "glyphs"])
@pytest.mark.parametrize(
    "opts",
    [{}, {"pen_width": (5.0, 8.0), "supersample": 3}, {"jitter": 4.0, "supersample": 1}],
)
def test_mnist_placement_fills_20_whole_columns_never_21(model, opts):
    src = StrokeSource(model, placement="mnist", **opts)
    labels = np.arange(400) % 10
    ink = src.sample(labels, rng=5)
    h, w = _boxes(ink, 0.0)
    for lab in range(10):  # the contract layouts rely on
        assert w[labels == lab].max() <= src.max_ink_width(lab) == 20
    assert h.max() <= 20
    if model == "fitted":  # the exact outline spans 20 px from a pixel edge
        assert (np.maximum(h, w) == 20).mean() > 0.99
    else:  # the glyphs' bound (largest radius) leaves the outline a little shorter
        assert (np.maximum(h, w) >= 18).all() and np.maximum(h, w).mean() > 19.5
    # whole-pixel moves: the centre of mass within MNIST's 0.5 px of (14, 14), but
    # for the rare lopsided digit whose 20 px box, so placed, leaves the frame (its
    # canvas loses that ink)
    cy, cx = centre_of_mass(ink)
    off = np.maximum(np.abs(cy - 14), np.abs(cx - 14))
    assert (off <= 0.5 + 1e-3).mean() >= 0.99 and off.max() < 0.6
    # ... and wider than the sub-pixel centring's 0.5 / supersample: not the same placement
    if src.supersample > 1:
        assert np.abs(cx - 14).max() > 0.5 / src.supersample + 0.05


def test_mnist_placement_edge_pixels_are_inked_like_mnist():
    """Box of ink > 0.5 near MNIST's 19.98 px (the centred placement: 18.3)."""
    labels = np.arange(1000) % 10
    aligned = StrokeSource(placement="mnist").sample(labels, rng=0)
    centred = StrokeSource(placement="centre").sample(labels, rng=0)
    box = [np.maximum(*_boxes(x, 0.5)).mean() for x in (aligned, centred)]
    assert box[0] > 19.8 and box[1] < 19.0


def test_placement_is_checked_and_kept():
    assert StrokeSource().placement == "mnist"
    assert StrokeSource("glyphs").placement == "centre"
    src = StrokeSource(placement="centre")
    assert "placement='centre'" in repr(src)
    with pytest.raises(ValueError, match="placement must be one of"):
        StrokeSource(placement="middle")
    with pytest.raises(ValueError, match="placement must be one of"):
        StrokeSource(placement=3)


@pytest.mark.parametrize("factor", [2, 3])
def test_draw_centred_by_whole_output_pixels(factor):
    """step=factor: raster, shift by multiples of factor, downsample (bit for bit)."""
    rng = np.random.default_rng(factor)
    size = 28 * factor
    n = 40
    a = rng.uniform(0.3 * size, 0.7 * size, (n, 12, 2))
    b = a + rng.normal(0, 2.0 * factor, (n, 12, 2))
    ra = rb = rng.uniform(0.5 * factor, 2.0 * factor, (n, 12))
    valid = rng.random((n, 12)) < 0.8
    for target in (14.5 * factor - 0.5, 6.0):  # small shifts, and beyond the margin
        new = render.draw_centred(a, b, ra, rb, valid, factor, 0.5, target, step=factor)
        canvas = rasterise_capsules_reference(a, b, ra, rb, valid, size, 0.5)
        cy, cx = centre_of_mass(canvas)
        dy = factor * np.rint((target - cy) / factor).astype(np.int64)
        dx = factor * np.rint((target - cx) / factor).astype(np.int64)
        np.testing.assert_array_equal(new, downsample(shift_images(canvas, dy, dx), factor))
        one = render.draw_centred(
            a[:1], b[:1], ra[:1], rb[:1], valid[:1], factor, 0.5, target, step=factor
        )
        np.testing.assert_array_equal(one[0], new[0])


def test_step_shifts_round_like_centre_of_mass():
    rng = np.random.default_rng(3)
    ink = rng.random((60, 56, 56)).astype(np.float32) ** 8
    ink[0] = 0.0  # blank: the geometric centre
    cy, cx = centre_of_mass(ink)
    ones = np.ones(56, np.float32)
    for target in (27.5, cx[2] + 1.0, cy[3] + 1.0 + 1e-7):  # ties at a half step
        dy, dx = _centring_shifts(ink @ ones, ones @ ink, target, lambda sel: ink[sel], 2)
        np.testing.assert_array_equal(dy, 2 * np.rint((target - cy) / 2).astype(np.int64))
        np.testing.assert_array_equal(dx, 2 * np.rint((target - cx) / 2).astype(np.int64))


def test_per_model_supersample_defaults_and_an_explicit_one():
    fitted, glyphs = StrokeSource(), StrokeSource("glyphs")
    assert (fitted.supersample, glyphs.supersample) == (2, 3)
    labels = np.arange(20) % 10
    # supersample is honoured: 3 draws other pixels than the default 2, the same ones each time
    old = StrokeSource(supersample=3).sample(labels, rng=1)
    assert not np.array_equal(old, fitted.sample(labels, rng=1))
    np.testing.assert_array_equal(old, StrokeSource(supersample=3).sample(labels, rng=1))
    with pytest.raises(TypeError, match="supersample must be an integer"):
        StrokeSource(supersample=2.0)
