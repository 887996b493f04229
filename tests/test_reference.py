"""The reference classifier: API, input units, persistence, and accuracy on real MNIST."""

from __future__ import annotations

import numpy as np
import pytest

from strokeseq.hardcases.reference import ReferenceClassifier, reference_classifier
from strokeseq.sources.stroke import StrokeSource


@pytest.fixture(scope="module")
def fitted():
    # No MNIST needed: learn synthetic digits and read held-out synthetic digits.
    src = StrokeSource("glyphs", jitter=1.0)
    y = np.arange(600) % 10
    x = src.sample(y, rng=0)
    return ReferenceClassifier(n_components=30, k=3).fit(x, y), src


def test_fit_predict_score(fitted):
    clf, src = fitted
    y = np.arange(200) % 10
    x = src.sample(y, rng=1)
    pred = clf.predict(x)
    assert pred.dtype == np.int64 and pred.shape == (200,)
    assert clf.score(x, y) >= 0.9
    assert clf.components_.shape == (784, 30)
    # orthonormal basis
    np.testing.assert_allclose(clf.components_.T @ clf.components_, np.eye(30), atol=1e-4)


def test_uint8_and_float_inputs_agree(fitted):
    clf, src = fitted
    x = src.sample(np.arange(50) % 10, rng=2)
    x8 = np.round(x * 255).astype(np.uint8)
    np.testing.assert_array_equal(clf.predict(x8), clf.predict(x8.astype(np.float32) / 255))
    assert clf.predict(x[0]).shape == (1,)  # a single (28, 28) image


def test_nearest_neighbour_of_a_training_image_is_itself():
    rng = np.random.default_rng(0)
    x = rng.random((30, 28, 28)).astype(np.float32)
    y = np.arange(30) % 10
    clf = ReferenceClassifier(n_components=29, k=1).fit(x, y)
    np.testing.assert_array_equal(clf.predict(x), y)


def test_save_load_round_trip_without_pickle(fitted, tmp_path):
    clf, src = fitted
    path = tmp_path / "ref.npz"
    clf.save(path)
    with np.load(path, allow_pickle=False) as f:  # plain arrays only
        assert set(f.files) == {"mean", "components", "train", "labels", "k"}
    again = ReferenceClassifier.load(path)
    x = src.sample(np.arange(40) % 10, rng=4)
    np.testing.assert_array_equal(again.predict(x), clf.predict(x))


def test_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        ReferenceClassifier().predict(np.zeros((1, 28, 28)))
    with pytest.raises(ValueError, match="shape"):
        ReferenceClassifier().fit(np.zeros((5, 10, 10)), np.zeros(5))
    with pytest.raises(ValueError, match="labels"):
        ReferenceClassifier(n_components=2).fit(np.zeros((5, 28, 28)), np.zeros(4))


def test_real_mnist_accuracy(real_mnist_dir):
    from strokeseq.sources.mnist.files import load_mnist

    clf = reference_classifier(real_mnist_dir)
    assert reference_classifier(real_mnist_dir) is clf  # fitted once per process
    x, y = load_mnist("test", data_dir=real_mnist_dir)
    assert clf.score(x[:3000], y[:3000]) >= 0.96
