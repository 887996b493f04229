"""User models: loading ``package.module:function``, calling them safely, checking outputs.

A *digit model* maps ``(n, 28, 28)`` images to ``n`` labels 0-9; a *sequence
model* maps ``(n, 28, W)`` images to ``n`` strings of digits. Anything else
(an exception, the wrong number of outputs, scores instead of labels, labels
out of range) is reported as :class:`ModelError` (a ``ValueError``) or a
``TypeError`` that names the model and says what was expected.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "ModelError",
    "call_model",
    "load_model",
    "model_name",
    "reference_predict",
    "reference_read",
]

log = logging.getLogger(__name__)


class ModelError(ValueError):
    """The user's model failed or returned something unusable."""


def model_name(predict: Callable[..., Any]) -> str:
    """A readable name of a callable (``module:qualname``)."""
    mod = getattr(predict, "__module__", None)
    qual = getattr(predict, "__qualname__", None) or type(predict).__name__
    return f"{mod}:{qual}" if mod else str(qual)


def load_model(spec: str) -> Callable[[np.ndarray], Any]:
    """Import ``"package.module:function"`` (the attribute may be dotted: ``mod:obj.method``).

    The module is imported from ``sys.path`` (add a folder with
    ``PYTHONPATH`` or ``sys.path.insert``).

    Raises
    ------
    ValueError
        If ``spec`` is malformed, the module cannot be imported, or the
        attribute is missing; ``TypeError`` if it is not callable.
    """
    if not isinstance(spec, str):
        raise TypeError(f"model must be 'package.module:function', got {type(spec).__name__}")
    mod_name, sep, attr = spec.partition(":")
    if not sep or not mod_name or not attr:
        raise ValueError(f"model must be written 'package.module:function', got {spec!r}")
    try:
        obj: Any = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ValueError(
            f"cannot import module {mod_name!r} of model {spec!r}: {exc} "
            "(is its folder on PYTHONPATH?)"
        ) from exc
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # an error (or sys.exit) while the module runs its top level
        raise ModelError(
            f"importing module {mod_name!r} of model {spec!r} raised {type(exc).__name__}: {exc}"
        ) from exc
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"model {spec!r}: {obj.__name__!r} has no attribute {part!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"model {spec!r} is a {type(obj).__name__}, not a callable")
    return obj


def call_model(
    predict: Callable[[np.ndarray], Any], images: np.ndarray, kind: str, name: str | None = None
) -> np.ndarray:
    """Call ``predict`` on a batch and check what comes back.

    Parameters
    ----------
    predict : callable
        The model.
    images : numpy.ndarray
        ``(n, 28, W)`` model inputs.
    kind : {"digits", "sequences"}
    name : str, optional
        Name used in messages (default: from the callable).

    Returns
    -------
    numpy.ndarray
        ``(n,)`` int64 labels (digits) or an ``(n,)`` object array of str (sequences).

    The model is called on a copy of ``images``, so it may modify its input.

    Raises
    ------
    ModelError
        If the model raises (any exception, ``SystemExit`` included; only
        ``KeyboardInterrupt`` passes through), or returns the wrong number of outputs or values
        out of range.
    TypeError
        If the outputs have the wrong type (floats that are not whole numbers,
        non-strings for sequences).
    """
    name = name or model_name(predict)
    n = images.shape[0]
    # The model gets its own copy: one that normalises its input in place must not
    # change the ladder, the report's pictures or the mined cases (often a view here).
    batch = np.array(images, copy=True, order="C")
    try:
        out = predict(batch)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit from a model is a failure, not our exit status
        raise ModelError(
            f"model {name} raised {type(exc).__name__}: {exc} "
            f"(called on images of shape {images.shape}, dtype {images.dtype})"
        ) from exc
    if kind == "digits":
        return _check_labels(out, n, name)
    return _check_strings(out, n, name)


def _check_labels(out: Any, n: int, name: str) -> np.ndarray:
    try:
        arr = np.asarray(out)
    except Exception as exc:
        raise TypeError(
            f"model {name} returned {type(out).__name__}, not an array of labels"
        ) from exc
    if arr.ndim == 2 and arr.shape == (n, 10):
        raise ModelError(
            f"model {name} returned scores of shape {arr.shape}; return labels of shape ({n},) "
            "(e.g. scores.argmax(axis=1))"
        )
    if arr.ndim == 2 and arr.shape == (n, 1):
        arr = arr[:, 0]
    if arr.shape != (n,):
        raise ModelError(
            f"model {name} returned shape {arr.shape} for {n} images; expected ({n},) labels 0-9"
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise TypeError(f"model {name} returned non-integer floats; expected labels 0-9")
    elif arr.dtype.kind not in "iu":
        raise TypeError(f"model {name} returned dtype {arr.dtype}; expected integer labels 0-9")
    labels = arr.astype(np.int64)
    if n and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)][0]
        raise ModelError(f"model {name} returned label {bad}; labels must be 0-9")
    return labels


def _check_strings(out: Any, n: int, name: str) -> np.ndarray:
    if isinstance(out, (str, bytes)) or not hasattr(out, "__len__"):
        raise TypeError(
            f"model {name} returned {type(out).__name__}; expected a list of {n} digit strings"
        )
    if len(out) != n:
        raise ModelError(f"model {name} returned {len(out)} outputs for {n} images")
    res = np.empty(n, dtype=object)
    for i, s in enumerate(out):  # n small strings: validation, not a pixel hot path
        if isinstance(s, np.str_):
            s = str(s)
        if not isinstance(s, str):
            raise TypeError(
                f"model {name} returned {type(s).__name__} at position {i}; expected str like '305'"
            )
        if s and not (s.isascii() and s.isdigit()):
            raise ModelError(f"model {name} returned {s!r} at position {i}; only 0-9 allowed")
        res[i] = s
    return res


# -- the reference classifier as a model ---------------------------------------------------


def reference_predict(images: np.ndarray) -> np.ndarray:
    """Digit model: the package's reference classifier (PCA + kNN fitted on real MNIST).

    Expects ink-high images (ink 1.0 on 0.0, the default model input of
    :func:`strokeseq.hardcases.evaluate`). Needs the MNIST training set
    (``STROKESEQ_MNIST_DIR`` or the data cache); fitted once per process.
    """
    from .reference import reference_classifier

    return reference_classifier().predict(np.asarray(images, np.float32))


def _segments(cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of inked columns in ``(N, W)`` bool: row id, start, end (half-open) of each run."""
    n, w = cols.shape
    pad = np.zeros((n, w + 2), bool)
    pad[:, 1:-1] = cols
    step = np.diff(pad.astype(np.int8), axis=1)
    r0, s = np.nonzero(step == 1)
    _r1, e = np.nonzero(step == -1)
    return r0, s, e  # row-major order pairs starts and ends of the same run


def reference_read(images: np.ndarray, threshold: float = 0.25) -> list[str]:
    """Sequence model: split at blank columns, classify each piece with the reference classifier.

    A deliberately naive reader (no segmentation of touching digits): every
    run of inked columns is one digit, scaled into a 20x20 box if wider and
    centred by its box in a 28x28 frame. Touching digits therefore merge into
    one wrong digit, which is what the "touching" ladder is meant to expose.

    Parameters
    ----------
    images : numpy.ndarray
        ``(N, 28, W)`` ink-high images.
    threshold : float
        Ink level that marks a column as inked.

    Returns
    -------
    list of str
    """
    x = np.asarray(images, np.float32)
    if x.ndim != 3 or x.shape[1] != 28:
        raise ValueError(f"images must be (N, 28, W), got {x.shape}")
    n = x.shape[0]
    rows, s, e = _segments((x > threshold).any(axis=1))
    keep = (e - s) >= 2  # a 1-px speck is not a digit
    rows, s, e = rows[keep], s[keep], e[keep]
    if rows.size == 0:
        return [""] * n
    crops = _frames(x, rows, s, e)
    pred = reference_predict(crops) if crops.size else np.zeros(0, np.int64)
    out = [[] for _ in range(n)]
    for r, d in zip(rows.tolist(), pred.tolist(), strict=True):
        out[r].append(str(d))
    return ["".join(o) for o in out]


def _frames(x: np.ndarray, rows: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Cut column runs out of ``x`` and put each in a 28x28 frame (resampled if wider than 20)."""
    from scipy.ndimage import map_coordinates

    m = rows.size
    w = x.shape[2]
    width = (e - s).astype(np.float64)
    zoom = np.minimum(1.0, 20.0 / width)  # > 1 means shrink the piece
    centre = (s + e - 1) / 2.0
    yy, xx = np.mgrid[0:28, 0:28].astype(np.float64)
    # Output pixel (y, x) samples the canvas at column centre + (x - 13.5) / zoom,
    # row 13.5 + (y - 13.5) / zoom; columns outside the run are blanked.
    src_x = centre[:, None, None] + (xx[None] - 13.5) / zoom[:, None, None]
    src_y = 13.5 + (yy[None] - 13.5) / zoom[:, None, None]
    inside = (src_x >= s[:, None, None] - 0.5) & (src_x <= e[:, None, None] - 0.5)
    coords = np.stack(
        [np.broadcast_to(rows[:, None, None], src_x.shape).astype(np.float64), src_y, src_x]
    )
    out = map_coordinates(x, coords, order=1, mode="constant", cval=0.0)
    out = np.where(inside & (src_x >= 0) & (src_x <= w - 1), out, 0.0)
    return out.reshape(m, 28, 28).astype(np.float32)
