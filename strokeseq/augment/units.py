"""The transforms of a pipeline as units: each draws its randomness, then applies batched.

A unit is one schema entry (see :data:`strokeseq.augment.config.SCHEMA`) made
runnable. :meth:`Unit.draw` takes everything random a unit needs for the items
of ONE call (one row) from that call's generator: the apply mask, the
parameters, and any noise (:meth:`Unit.draw_noise`: elastic fields, gap
positions, pixel noise, clutter). The draws of many rows are joined
(:func:`join`) and :meth:`Unit.apply` then runs once over the whole batch, so
a batch of rows is bit for bit a loop of single calls, without replaying the
apply code.

The order of the draws within a call is part of the random stream (and so of
every dataset's bytes): digits draw every unit's mask and parameters first,
then every unit's noise; lines draw each unit's parameters and noise in turn
(:data:`PARAMS_FIRST`).

A new transform: one :data:`~strokeseq.augment.config.SCHEMA` entry and one
subclass of :class:`Unit` registered in :data:`UNITS`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import digit as _d
from . import sequence as _s
from ._core import gaussian_blur
from .config import SCHEMA, Param
from .morph import cut_gaps
from .warp import Fields, affine_inverse, warp

__all__ = ["PARAMS_FIRST", "UNITS", "Draw", "Unit", "join"]

Boxes = np.ndarray | None


@dataclass
class Draw:
    """What one unit drew for ``n`` items (one call, or many joined).

    ``applied`` (n,) bool and ``values`` {param: (n,) float64} cover every
    item; ``noise`` arrays hold the extra randomness of the applied items only,
    along axis 0, in item order. ``rows`` labels the call of each item (None:
    all from one call).
    """

    applied: np.ndarray
    values: dict[str, np.ndarray]
    noise: dict[str, np.ndarray] = field(default_factory=dict)
    rows: np.ndarray | None = None

    @property
    def index(self) -> np.ndarray:
        """Positions of the applied items."""
        return self.applied.nonzero()[0]  # 1-D: np.flatnonzero without its wrapper

    def subset(self) -> dict[str, np.ndarray]:
        """The parameters of the applied items."""
        idx = self.index
        return {k: v[idx] for k, v in self.values.items()}

    def groups(self) -> np.ndarray | None:
        """Call labels of the applied items (None: one call)."""
        return None if self.rows is None else self.rows[self.index]

    def record(self) -> dict[str, np.ndarray]:
        """The ``return_params`` view: the mask and the values, NaN where not applied."""
        rec: dict[str, np.ndarray] = {"applied": self.applied.copy()}
        for k, v in self.values.items():
            rec[k] = np.where(self.applied, v, np.nan)
        return rec


def draw_values(
    gen: np.random.Generator, n: int, entry: Mapping[str, Any], spec: Mapping[str, Param]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The apply mask (``p``) and the per-item parameters of one transform, in schema order.

    A fixed value draws nothing; a range draws uniformly (integers inclusive);
    a choice draws an index.
    """
    applied = gen.random(n) < entry["p"]
    values: dict[str, np.ndarray] = {}
    for pname, ps in spec.items():
        v = entry[pname]
        if isinstance(v, Mapping):
            choice = np.asarray(v["choice"], np.float64)
            values[pname] = (
                _filled(n, float(choice[0]))
                if choice.size == 1
                else choice[gen.integers(0, choice.size, n)]
            )
            continue
        lo, hi = v
        if lo == hi:
            values[pname] = _filled(n, float(lo))
        elif ps.integer:
            values[pname] = gen.integers(int(lo), int(hi) + 1, size=n).astype(np.float64)
        else:
            values[pname] = gen.uniform(lo, hi, size=n)
    return applied, values


def _filled(n: int, value: float) -> np.ndarray:
    """``np.full(n, value)`` (float64) without its Python overhead (small calls)."""
    arr = np.empty(n)
    arr.fill(value)
    return arr


class Unit:
    """One transform of a section: draw per call, apply per batch."""

    section: str = ""
    name: str = ""

    @property
    def spec(self) -> dict[str, Param]:
        return SCHEMA[self.section][self.name]

    def draw(self, gen: np.random.Generator, entry: Mapping[str, Any], n: int) -> Draw:
        """Mask and parameters for the ``n`` items of one call."""
        return Draw(*draw_values(gen, n, entry, self.spec))

    def draw_noise(self, gen: np.random.Generator, d: Draw, shape: tuple[int, ...]) -> None:
        """Extra randomness of the applied items of one call (items of ``shape``) into ``d.noise``."""

    def apply(
        self, x: np.ndarray, boxes: Boxes, d: Draw, draws: Mapping[str, Draw]
    ) -> tuple[np.ndarray, Boxes]:
        """Transform the applied items of the batch ``x`` (modified in place or replaced).

        ``draws`` holds every active unit's draw of this section (fused units
        look at each other's).
        """
        raise NotImplementedError


class _Pixelwise(Unit):
    """A unit that only changes pixel values of its applied items, with a kernel ``f(x, **v)``."""

    def kernel(self, x: np.ndarray, v: dict[str, np.ndarray], d: Draw) -> np.ndarray:
        raise NotImplementedError

    def apply(self, x, boxes, d, draws):
        idx = d.index
        if idx.size and idx.size == x.shape[0]:  # every item (one digit, mostly): no selection
            return self.kernel(x, d.values, d), boxes
        if idx.size:
            x[idx] = self.kernel(x[idx], d.subset(), d)
        return x, boxes


class _Noise(_Pixelwise):
    def draw_noise(self, gen, d, shape):
        k = int(np.count_nonzero(d.applied))
        if k:
            d.noise["z"] = gen.standard_normal((k, *shape), dtype=np.float32)

    def kernel(self, x, v, d):
        return _d._add_noise(x, d.noise["z"], v["std"])


class _Blur(_Pixelwise):
    def kernel(self, x, v, d):
        return gaussian_blur(x, v["sigma"])


# -- digits --------------------------------------------------------------------------------


class StrokeWidth(_Pixelwise):
    section, name = "digit", "stroke_width"

    def kernel(self, x, v, d):
        return _d.stroke_width(x, radius=v["radius"])


class Affine(Unit):
    """Affine resampling; fused with elastic into one resampling when both are active."""

    section, name = "digit", "affine"

    def apply(self, x, boxes, d, draws):
        if "elastic" in draws:  # Elastic.apply does both in one interpolation
            return x, boxes
        return _geometric(x, d, None), boxes


class Elastic(Unit):
    """Elastic distortion (with the affine map, when active: ``out(q) = in(A^-1 q + d(q))``)."""

    section, name = "digit", "elastic"

    def draw_noise(self, gen, d, shape):
        m, size = int(np.count_nonzero(d.applied)), _d.CHUNK
        # drawn chunk by chunk, as elastic_field does: each chunk has its own kernels
        chunks = [
            gen.random((min(m, s + size) - s, 2, *shape), dtype=np.float32)
            for s in range(0, m, size)
        ]
        if chunks:
            d.noise["u"] = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)

    def apply(self, x, boxes, d, draws):
        return _geometric(x, draws.get("affine"), d), boxes


class BrokenStrokes(Unit):
    section, name = "digit", "broken_strokes"

    def draw_noise(self, gen, d, shape):
        idx = d.index
        if idx.size:
            cmax = int(d.values["cuts"][idx].astype(np.int64).max())
            d.noise["u"] = gen.random((idx.size, max(cmax, 1)))

    def apply(self, x, boxes, d, draws):
        idx = d.index
        if idx.size:
            v = d.subset()
            x[idx] = cut_gaps(x[idx], d.noise["u"], v["cuts"], v["radius"], groups=d.groups())
        return x, boxes


class Normalize(_Pixelwise):
    section, name = "digit", "normalize"

    def kernel(self, x, v, d):
        return _d._renormalize(x, groups=d.groups())


class DigitBlur(_Blur):
    section, name = "digit", "blur"


class DigitNoise(_Noise):
    section, name = "digit", "noise"


def _geometric(x: np.ndarray, aff: Draw | None, ela: Draw | None) -> np.ndarray:
    """Affine and elastic fused into one bilinear resampling of the digits that get either.

    ``out(q) = in(A^-1 q + d(q))``: statistically the same as elastic then
    affine, with one interpolation (less blur) instead of two.
    """
    n = x.shape[0]
    a_on = aff.applied if aff is not None else np.zeros(n, bool)
    e_on = ela.applied if ela is not None else np.zeros(n, bool)
    union = (a_on | e_on).nonzero()[0]
    if union.size == 0:
        return x
    inv = None
    if aff is not None and a_on[union].any():
        v = aff.values
        on = a_on[union]

        def pick(key: str, ident: float) -> np.ndarray:
            return np.where(on, v[key][union], ident)

        translate = np.stack([pick("translate_x", 0.0), pick("translate_y", 0.0)], axis=1)
        inv = affine_inverse(
            union.size,
            pick("rotation", 0.0),
            pick("shear", 0.0),
            pick("scale", 1.0),
            pick("aspect", 1.0),
            translate,
        )
    f = None
    if ela is not None and e_on[union].any():
        sel = e_on[union].nonzero()[0]
        v = ela.subset()
        # kernels are per drawn chunk of each call (see elastic_field)
        own = np.arange(sel.size)
        if ela.rows is not None:
            rows = ela.groups()
            first = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            own -= np.repeat(first, np.diff(np.r_[first, sel.size]))
            kgroups = rows.astype(np.int64) * (1 << 32) + own // _d.CHUNK
        else:  # one call; a single chunk is one group, which is what no groups means
            kgroups = own // _d.CHUNK if sel.size > _d.CHUNK else None
        f = Fields(ela.noise["u"], v["alpha"], v["sigma"], kgroups, sel, union.size)
    if union.size == n:  # every digit is resampled: the warp's new array is the output
        return warp(x, inv, f)
    out = x.copy()
    out[union] = warp(x[union], inv, f)
    return out


# -- sequences -----------------------------------------------------------------------------


class _Moving(Unit):
    """A line transform that moves ink, and the boxes with it."""

    def move(self, x, b, v):
        raise NotImplementedError

    def apply(self, x, boxes, d, draws):
        idx = d.index
        if idx.size:
            sub = None if boxes is None else boxes[idx]
            x[idx], nb = self.move(x[idx], sub, d.subset())
            if boxes is not None and nb is not None:
                boxes[idx] = nb
        return x, boxes


class Slant(_Moving):
    section, name = "sequence", "slant"

    def move(self, x, b, v):
        return _s.slant(x, b, angle=v["angle"])


class Wobble(_Moving):
    section, name = "sequence", "wobble"

    def draw(self, gen, entry, n):
        d = super().draw(gen, entry, n)
        d.values["phase"] = gen.uniform(0.0, 2 * math.pi, n)  # recorded like a parameter
        return d

    def move(self, x, b, v):
        return _s.wobble(x, b, **v)


class Contrast(_Pixelwise):
    section, name = "sequence", "contrast"

    def kernel(self, x, v, d):
        return _s.contrast(x, **v)


class Clutter(_Pixelwise):
    section, name = "sequence", "clutter"

    def draw_noise(self, gen, d, shape):
        idx = d.index
        if idx.size:
            h, w = shape
            v = d.subset()
            d.noise.update(_s._clutter_draw(gen, h, w, v["lines"], v["specks"])._asdict())

    def kernel(self, x, v, d):
        draws = _s._ClutterDraws(**d.noise)
        return _s._clutter_apply(x, draws, v["lines"], v["line_intensity"], v["speck_intensity"])


class SequenceBlur(_Blur):
    section, name = "sequence", "blur"


class SequenceNoise(_Noise):
    section, name = "sequence", "noise"


#: The units of each section, in the canonical order of the schema.
UNITS: dict[str, dict[str, Unit]] = {
    section: {
        u.name: u
        for u in (
            StrokeWidth(),
            Affine(),
            Elastic(),
            BrokenStrokes(),
            Normalize(),
            DigitBlur(),
            DigitNoise(),
            Slant(),
            Wobble(),
            Contrast(),
            Clutter(),
            SequenceBlur(),
            SequenceNoise(),
        )
        if u.section == section
    }
    for section in SCHEMA
}
assert all(tuple(UNITS[s]) == tuple(SCHEMA[s]) for s in SCHEMA), "a unit per schema entry"

#: Digits draw every unit's parameters before any noise; lines draw unit by unit.
PARAMS_FIRST = {"digit": True, "sequence": False}


def draw_call(
    units: list[Unit],
    entries: Mapping[str, Mapping[str, Any]],
    gen: np.random.Generator,
    n: int,
    shape: tuple[int, ...],
    params_first: bool,
) -> dict[str, Draw]:
    """Everything the ``units`` need for one call of ``n`` items of ``shape``, in stream order."""
    draws: dict[str, Draw] = {}
    for u in units:
        draws[u.name] = u.draw(gen, entries[u.name], n)
        if not params_first:
            u.draw_noise(gen, draws[u.name], shape)
    if params_first:
        for u in units:
            u.draw_noise(gen, draws[u.name], shape)
    return draws


def join(parts: list[Draw], rows: np.ndarray) -> Draw:
    """The draws of consecutive calls as one, for a batch whose item ``i`` is in call ``rows[i]``.

    Noise arrays are concatenated along axis 0; where calls drew different
    trailing sizes (cut counts, ruling lines) they are zero-padded to the
    widest, past what any item uses.
    """
    if len(parts) == 1:
        return Draw(parts[0].applied, parts[0].values, parts[0].noise, rows)
    applied = np.concatenate([p.applied for p in parts])
    values = {k: np.concatenate([p.values[k] for p in parts]) for k in parts[0].values}
    noise: dict[str, np.ndarray] = {}
    for k in {k for p in parts for k in p.noise}:
        arrs = [p.noise[k] for p in parts if k in p.noise]
        if arrs[0].ndim > 1:
            width = np.max([a.shape[1:] for a in arrs], axis=0)
            arrs = [
                np.pad(a, [(0, 0), *((0, w - s) for w, s in zip(width, a.shape[1:], strict=True))])
                for a in arrs
            ]
        noise[k] = np.concatenate(arrs)
    return Draw(applied, values, noise, rows)
