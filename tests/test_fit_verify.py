"""Analysis by synthesis in the fitting script: rendering programs, width calibration, checks."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("skimage")

from strokeseq.sources.stroke import fit_model, fit_verify
from strokeseq.sources.stroke.fit_allographs import pose_targets
from strokeseq.sources.stroke.fit_verify import (
    calibrate_slants,
    calibrate_widths,
    chamfer,
    ink_features,
    ink_slant,
    render_programs,
)
from strokeseq.sources.stroke.trace import bezier_chain_fit

SEG = fit_model.SEGMENTS


def _chain(points: np.ndarray) -> np.ndarray:
    """Control points of a polyline through ``points`` (resampled, least squares)."""
    from strokeseq.sources.stroke.trace import resample

    return bezier_chain_fit(resample(np.asarray(points, float), 40), SEG)


def _programs(k: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """One-stroke digits (a stick, a bent stick, an 'L', a 'Z'), padded to MAX_STROKES."""
    shapes = [
        [(0, -10), (0, 10)],
        [(-3, -10), (2, 0), (0, 10)],
        [(-4, -10), (-4, 8), (6, 8)],
        [(-8, -10), (8, -10), (-8, 10), (8, 10)],
    ]
    ctrl = np.zeros((4, fit_model.MAX_STROKES, 3 * SEG + 1, 2))
    for i, s in enumerate(shapes):
        ctrl[i, 0] = _chain(s)
    return ctrl[:k], np.ones(k, np.int64)


def test_render_programs_draws_in_the_mnist_frame_and_width_adds_ink():
    ctrl, n = _programs()
    thin = render_programs(ctrl, n, np.zeros(3), np.full(3, 1.5), SEG)
    thick = render_programs(ctrl, n, np.zeros(3), np.full(3, 3.5), SEG)
    assert thin.shape == (3, 28, 28) and thin.dtype == np.float32
    np.testing.assert_allclose(thin.max(axis=(1, 2)), 1.0)  # full ink at the core
    m_thin, w_thin = ink_features(thin)
    m_thick, w_thick = ink_features(thick)
    assert (m_thick > 1.5 * m_thin).all() and (w_thick > 1.5 * w_thin).all()
    # slant is added back: a leaning stick's ink moves right at the top
    lean = render_programs(ctrl[:1], n[:1], np.array([-0.4]), np.array([2.0]), SEG)[0]
    top, bottom = lean[5:9].sum(axis=0), lean[-9:-5].sum(axis=0)
    cols = np.arange(28)
    assert top @ cols / top.sum() > bottom @ cols / bottom.sum() + 3


def test_calibration_recovers_the_width_a_digit_was_drawn_with(monkeypatch):
    # the algorithm, with sub-pixel placement: with the whole-pixel one a stick's
    # edges snap to pixel edges and the ink steps with the width (see the next test)
    monkeypatch.setattr(fit_verify, "PLACEMENT", "centre")
    ctrl, n = _programs()
    true = np.array([1.8, 2.6, 3.4])
    target = ink_features(render_programs(ctrl, n, np.zeros(3), true, SEG))
    width, ink = calibrate_widths(ctrl, n, np.zeros(3), np.full(3, 4.5), target, SEG)
    np.testing.assert_allclose(width, true, rtol=0.08)
    np.testing.assert_allclose(ink_features(ink)[1], target[1], rtol=0.05)


def test_ink_slant_is_the_benchmarks_moment_and_slant_calibration_matches_it():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import realism as bench  # the benchmark's own feature code

    ctrl, n = _programs()
    ink = render_programs(ctrl, n, np.array([0.0, -0.3, 0.2]), np.full(3, 2.5), SEG)
    np.testing.assert_allclose(ink_slant(ink), bench.digit_features(ink)[:, 3], atol=1e-9)
    # a shear x += a * y (y down) moves the moment (y up) by -a
    two = render_programs(ctrl[[0, 0]], n[:2], np.array([0.0, -0.3]), np.full(2, 2.5), SEG)
    assert ink_slant(two)[1] - ink_slant(two)[0] == pytest.approx(0.3, abs=0.03)
    # recover the lean of digits drawn with other slants, from a start at 0
    true = np.array([0.25, -0.2, 0.1])
    target = ink_slant(render_programs(ctrl, n, true, np.full(3, 2.5), SEG))
    slant, got = calibrate_slants(ctrl, n, np.zeros(3), np.full(3, 2.5), target, SEG)
    np.testing.assert_allclose(ink_slant(got), target, atol=0.01)
    np.testing.assert_allclose(slant, true, atol=0.03)
    t = pose_targets(got)
    assert t.shape == (3, 3)
    np.testing.assert_allclose(t[:, 0], ink_slant(got))
    np.testing.assert_allclose(np.exp(t[:, 1:]), np.stack(ink_features(got), axis=1), rtol=1e-9)


def test_chamfer_distance():
    a = np.zeros((3, 28, 28), np.float32)
    a[:, 4:24, 10:13] = 1
    b = a.copy()
    b[1] = np.roll(a[1], 2, axis=1)  # moved 2 px
    b[2] = 0  # empty
    d = chamfer(a, b)
    assert d[0] == 0 and d[1] == pytest.approx(2 / 3 * 2, abs=0.35) and np.isinf(d[2])


def test_has_flag_tells_a_flagged_one_from_a_stick():
    stick = _chain([(0, -10), (0, 10)])[None]
    flag = _chain([(-5, -5), (0, -10), (0, 10)])[None]
    hooked_foot = _chain([(0, -10), (0, 10), (4, 8)])[None]
    assert fit_model.has_flag(flag)
    assert not fit_model.has_flag(stick) and not fit_model.has_flag(hooked_foot)


def test_has_flag_stroke_tells_a_flag_from_a_bar_and_a_foot():
    stem = _chain([(0, -10), (0, 10)])
    flag = _chain([(0, -9), (-5, -4)])  # leaves the top down to the left
    bar = _chain([(-5, 0), (5, 0)])  # crosses the middle
    foot = _chain([(-5, 10), (5, 10)])
    assert fit_model.has_flag_stroke(np.stack([stem, flag]))
    assert fit_model.has_flag_stroke(np.stack([flag[::-1], stem]))  # any order, any direction
    assert not fit_model.has_flag_stroke(np.stack([stem, bar]))
    assert not fit_model.has_flag_stroke(np.stack([stem, foot]))
    assert not fit_model.has_flag_stroke(np.stack([stem, _chain([(0, -9), (5, -4)])]))  # right


class _Reader:
    """A classifier stub: reads the i-th rendering as ``pred[i]``."""

    def __init__(self, pred):
        self.pred = np.asarray(pred)

    def predict(self, x):
        assert len(x) == len(self.pred)
        return self.pred


@pytest.mark.parametrize("placement", ["centre", "mnist"])
def test_check_programs_calibrates_and_drops_far_and_misread_fits(monkeypatch, placement):
    monkeypatch.setattr(fit_verify, "PLACEMENT", placement)
    ctrl, n = _programs(4)
    src = render_programs(ctrl, n, np.zeros(4), np.array([2.0, 2.5, 3.0, 2.5]), SEG) * 255
    src = src.astype(np.uint8)
    progs = [
        (1, ctrl[0, :1], 0.0, np.log(4.0), 0),  # right shape, too wide a pen: kept, recalibrated
        (1, ctrl[0, :1], 0.0, np.log(2.5), 3),  # a stick fitted to a Z: far
        (7, ctrl[2, :1], 0.0, np.log(3.0), 2),  # right shape, read as 1: misread
        (7, ctrl[2, :1], 0.0, np.log(3.0), 2),  # the same, read as 7: kept
    ]
    kept, counts = fit_model.check_programs(progs, src, _Reader([1, 1, 1, 7]))
    assert counts == {"dropped_far": 1, "dropped_misread": 1}
    assert [k[4] for k in kept] == [0, 2]
    # a stick placed on pixel edges (mnist) inks whole columns: its width is
    # recovered to 25 % (2.49 px for 2.0), to 10 % with sub-pixel placement
    tol = 0.1 if placement == "centre" else 0.3
    assert np.exp(kept[0][3]) == pytest.approx(2.0, rel=tol)
    assert np.exp(kept[1][3]) == pytest.approx(3.0, rel=tol)
    # a digit none of whose fits passes keeps them all (tiny fits must still cover 0-9)
    kept, counts = fit_model.check_programs(progs[2:3], src, _Reader([1]))
    assert len(kept) == 1 and counts["dropped_misread"] == 0


def test_fit_renders_as_the_fitted_source_draws():
    from strokeseq.sources.stroke import fit_verify, source

    # the calibration is only right for the pen StrokeSource() draws with
    assert fit_verify.SOFT == source.StrokeSource().soft == source._FITTED_DEFAULTS["soft"]
    assert source.StrokeSource().supersample == fit_verify.SUPERSAMPLE
    assert source.StrokeSource().placement == fit_verify.PLACEMENT


def test_calibrate_pose_widens_the_pen_when_only_the_ink_mass_spreads_more():
    # Targets drawn from the model itself, then the log ink mass spread
    # doubled about its mean with the stroke width untouched: the pen width's
    # spread must grow (the ink-mass half of SD_MASS_WEIGHT); with the stroke
    # width's ratio alone (about 1) it would stay put (checked: it fails so).
    import json

    from strokeseq.sources.stroke import fit_allographs as fa
    from strokeseq.sources.stroke.model import default_model_path, parse_model

    doc = json.loads(default_model_path().read_text())
    first = {}
    for a in doc["allographs"]:
        first.setdefault(a["digit"], a)
    doc = {**doc, "allographs": list(first.values())}
    model = parse_model(doc)
    got = np.concatenate(
        [fa.pose_targets(ink) for _, ink in fa.draw_allographs(model, np.ones(10), 400, seed=7)]
    ).reshape(10, 400, 3)
    target = []
    for t in got:
        t = t.copy()
        t[:, 1] = t[:, 1].mean() + 2.0 * (t[:, 1] - t[:, 1].mean())
        target.append(t)
    assert fa.SD_MASS_WEIGHT == 0.5
    out = fa.calibrate_pose(doc, target, seed=0)
    before = np.array([a["log_width"][1] for a in doc["allographs"]])
    after = np.array([a["log_width"][1] for a in out])
    assert np.all(after > 1.1 * before), (before, after)
