"""The stroke model fitted on real handwriting: loading, checking and sampling it.

The model file (``stroke_model.json`` beside this module, written by
:mod:`.fit_model`) lists *allographs*: for one digit and stroke count, a way
of writing it found by clustering the traced MNIST training digits. Each
allograph keeps its real frequency, the mean control points of its strokes
(chains of cubic Bezier segments, slant removed), the principal components of
their variation with standard deviations, a residual spread, and the slant and
log pen width (mean and standard deviation) of its digits.

A new digit is drawn as: allograph by frequency; shape = mean + components x
normal coefficients (scaled by ``variety``) + residual noise; slant and pen
width from their normals; all vectorised over the batch with NumPy.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["FittedModel", "default_model_path", "load_model"]

FORMAT = "strokeseq-stroke-model"
#: Largest model file read (bytes): checked before parsing.
MAX_BYTES = 5 * 1024 * 1024


def default_model_path() -> Path:
    """The model shipped with the package."""
    return Path(__file__).with_name("stroke_model.json")


@dataclass(frozen=True)
class FittedModel:
    """A stroke model as padded arrays over its A allographs.

    Attributes
    ----------
    mean : (A, T, P, 2) float64
        Mean control points (T strokes of P points; padding 0).
    components : (A, C, T, P, 2) float64
        Principal directions of each allograph (padding 0).
    sd : (A, C) float64
        Standard deviation along each component (padding 0).
    residual : (A,) float64
        Standard deviation of the variation the components leave out, per coordinate.
    spread : (A,) float64
        Scale of the allograph's shape variation (components and residual) when
        drawn, set by the fitting script so that its drawn digits stay readable
        (1 where the file has none).
    stroke_on : (A, T) bool
        Which strokes the allograph has.
    slant, log_width : (A, 2) float64
        Mean and standard deviation of the slant (dx/dy) and of the log pen width (px).
    digit : (A,) int64
    choice_cdf, choice_ids : (10, M) arrays
        Cumulative frequencies of each digit's allographs and their global ids.
    names : tuple of str
        ``"digit/name"`` per allograph.
    frequency : (A,) float64
        Real frequency of the allograph among its digit's traced training digits.
    segments : int
        Cubic segments per stroke (``P = 3 * segments + 1``).
    provenance : dict
        Where the model comes from (script, seed, counts, date) and the licence.
    """

    mean: np.ndarray
    components: np.ndarray
    sd: np.ndarray
    residual: np.ndarray
    spread: np.ndarray
    stroke_on: np.ndarray
    slant: np.ndarray
    log_width: np.ndarray
    digit: np.ndarray
    choice_cdf: np.ndarray
    choice_ids: np.ndarray
    names: tuple[str, ...]
    frequency: np.ndarray
    segments: int
    provenance: dict[str, Any]

    @property
    def local_id(self) -> np.ndarray:
        """Index of each allograph among its digit's allographs."""
        return self._derived()[0]

    @property
    def n_strokes(self) -> np.ndarray:
        """Number of strokes of each allograph."""
        return self._derived()[1]

    def _derived(self) -> tuple[np.ndarray, np.ndarray]:
        cached = self.__dict__.get("_cache")
        if cached is None:
            local = np.zeros(len(self.digit), np.int64)
            for d in range(10):
                sel = np.flatnonzero(self.digit == d)
                local[sel] = np.arange(sel.size)
            cached = (local, self.stroke_on.sum(axis=1))
            object.__setattr__(self, "_cache", cached)  # frozen: a derived, private cache
        return cached

    def sample_shapes(
        self,
        allograph: np.ndarray,
        coeff: np.ndarray,
        noise: np.ndarray,
        variety: float,
        residual_scale: np.ndarray | float = 1.0,
    ) -> np.ndarray:
        """Control points ``(n, T, P, 2)`` from standard-normal ``coeff (n, C)`` and ``noise``.

        ``noise`` is ``(n, T, P, 2)`` standard normal, scaled by the residual.
        """
        v = variety * self.spread[allograph]
        z = coeff * (self.sd[allograph] * v[:, None])
        pts = self.mean[allograph] + np.einsum("nc,nctpd->ntpd", z, self.components[allograph])
        r = self.residual[allograph] * v * residual_scale
        return pts + noise * np.asarray(r)[..., None, None, None]


def _bad(path: Any, what: str) -> ValueError:
    return ValueError(f"stroke model {path}: {what}")


def _floats(path: Any, name: str, value: Any, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise _bad(path, f"{name} must be an array of numbers") from None
    if arr.shape != shape:
        raise _bad(path, f"{name} has shape {arr.shape}, expected {shape}")
    if not np.all(np.isfinite(arr)):
        raise _bad(path, f"{name} holds non-finite numbers")
    return arr


def parse_model(doc: Any, path: Any = "<document>") -> FittedModel:
    """Check a parsed model document and pack it into arrays.

    Raises
    ------
    ValueError
        Naming the first field that is missing or wrong.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _bad(path, f"not a {FORMAT} document")
    if doc.get("version") != 1:
        raise _bad(path, f"version {doc.get('version')!r} is not supported (expected 1)")
    seg = doc.get("segments_per_stroke")
    t_max = doc.get("max_strokes")
    if not (isinstance(seg, int) and 1 <= seg <= 8 and isinstance(t_max, int) and 1 <= t_max <= 6):
        raise _bad(path, "segments_per_stroke must be 1-8 and max_strokes 1-6")
    allos = doc.get("allographs")
    if not isinstance(allos, list) or not allos or len(allos) > 1000:
        raise _bad(path, "allographs must be a non-empty list (at most 1000)")
    n_p = 3 * seg + 1
    n_a = len(allos)
    n_c = 0
    for i, a in enumerate(allos):
        if not isinstance(a, dict):
            raise _bad(path, f"allograph {i} is not an object")
        comps = a.get("components")
        if not isinstance(comps, list) or len(comps) > 64:
            raise _bad(path, f"allograph {i}: components must be a list of at most 64 vectors")
        n_c = max(n_c, len(comps))
    mean = np.zeros((n_a, t_max, n_p, 2))
    comps = np.zeros((n_a, n_c, t_max, n_p, 2))
    sd = np.zeros((n_a, n_c))
    residual = np.zeros(n_a)
    spread = np.ones(n_a)
    stroke_on = np.zeros((n_a, t_max), bool)
    slant = np.zeros((n_a, 2))
    log_width = np.zeros((n_a, 2))
    digit = np.zeros(n_a, np.int64)
    freq = np.zeros(n_a)
    names = []
    for i, a in enumerate(allos):
        d, t = a.get("digit"), a.get("strokes")
        if not (isinstance(d, int) and 0 <= d <= 9):
            raise _bad(path, f"allograph {i}: digit must be 0-9, got {d!r}")
        if not (isinstance(t, int) and 1 <= t <= t_max):
            raise _bad(path, f"allograph {i}: strokes must be 1-{t_max}, got {t!r}")
        dim = t * n_p * 2
        c = len(a["components"])
        mean[i, :t] = _floats(path, f"allograph {i} mean", a.get("mean"), (dim,)).reshape(
            t, n_p, 2
        )
        comps[i, :c, :t] = _floats(
            path, f"allograph {i} components", a["components"], (c, dim)
        ).reshape(c, t, n_p, 2)
        sd[i, :c] = _floats(path, f"allograph {i} sd", a.get("sd"), (c,))
        residual[i] = _floats(path, f"allograph {i} residual", a.get("residual"), ())
        slant[i] = _floats(path, f"allograph {i} slant", a.get("slant"), (2,))
        log_width[i] = _floats(path, f"allograph {i} log_width", a.get("log_width"), (2,))
        freq[i] = _floats(path, f"allograph {i} frequency", a.get("frequency"), ())
        spread[i] = _floats(path, f"allograph {i} spread", a.get("spread", 1.0), ())
        if not 0 <= spread[i] <= 5:
            raise _bad(path, f"allograph {i}: spread must be in [0, 5]")
        if np.any(sd[i] < 0) or residual[i] < 0 or slant[i, 1] < 0 or log_width[i, 1] < 0:
            raise _bad(path, f"allograph {i}: standard deviations must be >= 0")
        if not freq[i] > 0:
            raise _bad(path, f"allograph {i}: frequency must be > 0")
        if np.abs(mean[i]).max() > 1000 or not -5 < log_width[i, 0] < 5:
            raise _bad(path, f"allograph {i}: control points or pen width out of range")
        stroke_on[i, :t] = True
        digit[i] = d
        names.append(f"{d}/{a.get('name', i)}")
    m = 0
    for d in range(10):
        if not np.any(digit == d):
            raise _bad(path, f"no allograph for digit {d}")
        m = max(m, int(np.sum(digit == d)))
    cdf = np.ones((10, m))
    ids = np.zeros((10, m), np.int64)
    for d in range(10):
        g = np.flatnonzero(digit == d)
        cdf[d, : g.size] = np.cumsum(freq[g]) / freq[g].sum()
        cdf[d, g.size - 1 :] = 1.0
        ids[d, : g.size] = g
        ids[d, g.size :] = g[-1]
    prov = {"provenance": doc.get("provenance", {}), "licence": doc.get("licence", "")}
    return FittedModel(
        mean=mean,
        components=comps,
        sd=sd,
        residual=residual,
        spread=spread,
        stroke_on=stroke_on,
        slant=slant,
        log_width=log_width,
        digit=digit,
        choice_cdf=cdf,
        choice_ids=ids,
        names=tuple(names),
        frequency=freq,
        segments=seg,
        provenance=prov,
    )


def load_model(path: str | Path | None = None) -> FittedModel:
    """Load and check a stroke model file (default: the one shipped with the package).

    Examples
    --------
    >>> from strokeseq.sources.stroke.model import load_model
    >>> m = load_model()
    >>> sorted(set(m.digit.tolist())) == list(range(10))
    True
    """
    p = (default_model_path() if path is None else Path(path)).resolve()
    try:
        st = p.stat()
    except OSError as exc:
        raise ValueError(f"stroke model {p}: cannot read ({exc.strerror})") from None
    if st.st_size > MAX_BYTES:
        raise _bad(p, f"{st.st_size} bytes, larger than the {MAX_BYTES} allowed")
    return _load(str(p), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=4)
def _load(path: str, mtime_ns: int, size: int) -> FittedModel:
    """Parse a model file once per (path, modification time, size)."""
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _bad(path, f"not valid JSON ({exc})") from None
    return parse_model(doc, path)


def pressure_radius(
    width: np.ndarray, press: np.ndarray, segments: int, k: int, n_strokes: int
) -> np.ndarray:
    """Pen radius ``(n, T * segments, k)``: width x pressure interpolated along each stroke."""
    along = _along(segments, k)  # (S, K)
    p0, p1 = press[..., :1, None], press[..., 1:, None]  # (n, T, 1, 1)
    r = 0.5 * width[:, None, None, None] * (p0 + (p1 - p0) * along)  # (n, T, S, K)
    return r.reshape(len(width), n_strokes * segments, k)


def shape_samples(ctrl: np.ndarray, segments: int, k: int) -> np.ndarray:
    """Points ``(n, T * segments, k, 2)`` along chained cubics ``ctrl (n, T, 3s+1, 2)``."""
    from .bezier import bezier_points

    n, t = ctrl.shape[:2]
    idx = _segment_points(segments)  # (S, 4)
    seg = ctrl[:, :, idx].reshape(n, t * segments, 4, 2)
    out = bezier_points(seg, k)
    return out.reshape(n, t * segments, k, 2)


# Constant tables of the two functions above, computed once per shape: a
# single digit's geometry is a few dozen NumPy calls, each table was several.
@lru_cache(maxsize=32)
def _along(segments: int, k: int) -> np.ndarray:
    """Position of each of ``k`` samples of ``segments`` chained segments along the chain."""
    out = (np.arange(segments)[:, None] + np.linspace(0.0, 1.0, k)) / segments
    out.flags.writeable = False
    return out


@lru_cache(maxsize=32)
def _segment_points(segments: int) -> np.ndarray:
    """Indices of the 4 control points of each segment in a chain of ``3 s + 1``."""
    out = np.arange(segments)[:, None] * 3 + np.arange(4)
    out.flags.writeable = False
    return out
