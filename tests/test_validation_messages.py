"""Bad input is refused with a message that says what would be valid (issue 11, item 15)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from strokeseq import generate_numbers_sequence, generate_sequences


@pytest.fixture
def data(fake_mnist_dir):
    return {"data_dir": fake_mnist_dir}


@pytest.mark.parametrize(
    ("spacing", "match"),
    [
        (np.array(5), r"pair \(min, max\) of integers, not an array of shape \(\)"),
        (np.array([[1, 2]]), r"pair \(min, max\) of integers, not an array of shape \(1, 2\)"),
        ({3, 9}, r"pair \(min, max\) of integers, not set"),
        ({3: 9, 4: 5}, r"pair \(min, max\) of integers, not dict"),
        (frozenset({1, 2}), r"not frozenset"),
    ],
)
def test_bad_spacing_says_what_is_valid(data, spacing, match):
    with pytest.raises(TypeError, match=match):
        generate_numbers_sequence("305", spacing, 120, **data)


@pytest.mark.parametrize(
    ("digits", "match"),
    [
        (b"305", r"str like '305' or a sequence of integers 0-9, not bytes"),
        (bytearray(b"305"), r"not bytearray"),
        ({3, 9}, r"ordered sequence .* not a set"),
        ({3: 1, 9: 2}, r"ordered sequence .* not a dict"),
    ],
)
def test_bad_digits_say_what_is_valid(data, digits, match):
    with pytest.raises(TypeError, match=match):
        generate_numbers_sequence(digits, (0, 5), 120, **data)
    with pytest.raises(TypeError, match=match):
        generate_sequences([digits], (0, 5), 120, **data)


def test_a_set_of_sequences_is_refused(data):
    with pytest.raises(TypeError, match="ordered list of digit sequences"):
        generate_sequences({"305", "12"}, (0, 5), 120, **data)


@pytest.mark.parametrize("data_dir", [["x"], 123, b"/tmp", {"a": 1}])
@pytest.mark.parametrize("source", ["mnist", "synthetic"])
def test_bad_data_dir_says_what_is_valid(data_dir, source):
    with pytest.raises(TypeError, match=r"data_dir must be a folder name \(str or pathlib.Path\)"):
        generate_numbers_sequence("305", (0, 5), 120, data_dir=data_dir, source=source)
    with pytest.raises(TypeError, match="data_dir must be a folder name"):
        generate_sequences(["305"], (0, 5), 120, data_dir=data_dir, source=source)


@pytest.mark.parametrize("source", ["mnist", "synthetic"])
def test_misspelt_split_refused_for_every_source(fake_mnist_dir, source):
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'tran'"):
        generate_numbers_sequence("305", (0, 5), 120, split="tran", source=source)
    with pytest.raises(ValueError, match="split must be 'train' or 'test'"):
        generate_sequences(["305"], (0, 5), 120, split="tran", source=source)


def test_path_like_data_dir_accepted(fake_mnist_dir):
    class Where:
        def __fspath__(self) -> str:
            return str(fake_mnist_dir)

    a = generate_numbers_sequence("305", (0, 5), 120, data_dir=Where(), rng=0)
    b = generate_numbers_sequence("305", (0, 5), 120, data_dir=Path(fake_mnist_dir), rng=0)
    np.testing.assert_array_equal(a, b)
