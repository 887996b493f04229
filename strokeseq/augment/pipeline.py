"""The augmentation pipeline: :class:`Augmenter` runs a checked config on batches.

The config (schema, presets, validation) lives in :mod:`.config`; the
transforms, as units that draw their randomness per call and then apply
batched, in :mod:`.units`. See docs/augmentation.md.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..rng import as_generator
from . import sequence as _s
from ._core import check_batch, finish
from .config import (
    CONFIG_VERSION,
    DEFAULT_CONFIG,
    DIGIT_ORDER,
    PRESETS,
    SCHEMA,
    SEQUENCE_ORDER,
    is_active,
    load_file,
    normalise_config,
    strength_config,
)
from .units import PARAMS_FIRST, UNITS, Draw, draw_call, join

__all__ = ["DEFAULT_CONFIG", "DIGIT_ORDER", "PRESETS", "SEQUENCE_ORDER", "Augmenter"]

Params = dict[str, dict[str, np.ndarray]]


class Augmenter:
    """A pipeline of per-digit and per-sequence transforms, built from a config.

    Build with :meth:`from_config` or :meth:`preset`; apply with :meth:`digits`
    (before composition) and :meth:`sequences` (after). The same ``rng``
    state gives the same output. Instances are immutable and compare equal
    when their explicit configs are equal.
    """

    def __init__(self, config: Mapping[str, Any] | None = None) -> None:
        self._config = normalise_config(config or {})
        # The active transforms in canonical order, once: the rows API asks for
        # them for every row, and the config never changes.
        self._on = {
            section: tuple(t for t in SCHEMA[section] if self._active(section, t))
            for section in SCHEMA
        }

    # ---- construction -------------------------------------------------
    @classmethod
    def from_config(
        cls, config: Augmenter | Mapping[str, Any] | str | os.PathLike | None
    ) -> Augmenter:
        """Build from a dict, a TOML/JSON file, a preset name, or None (identity).

        Parameters
        ----------
        config : dict, str, os.PathLike, Augmenter or None
            A dict ``{"digit": {...}, "sequence": {...}}``; a path to a ``.toml``
            or ``.json`` file holding one (at top level or in an ``[augment]``
            table); a preset name (``"none"``, ``"light"``, ``"medium"``,
            ``"heavy"``) given as a str that is not an existing file; an
            Augmenter (returned as is); None for no augmentation.

        Raises
        ------
        ValueError
            Unknown section, transform or parameter, a bad range or probability,
            a missing or unreadable file; the message names the key and what is valid.
        TypeError
            If ``config`` is of another type.
        """
        if config is None:
            return cls({})
        if isinstance(config, Augmenter):
            return config
        if isinstance(config, str) and config in PRESETS and not Path(config).is_file():
            return cls.preset(config)
        if isinstance(config, (str, os.PathLike)):
            return cls(load_file(Path(config)))
        if isinstance(config, Mapping):
            return cls(config)
        raise TypeError(
            "augment config must be a dict, a path to a .toml/.json file, a preset name or "
            f"None, not {type(config).__name__}"
        )

    @classmethod
    def preset(cls, name: str) -> Augmenter:
        """A named preset: ``"none"``, ``"light"``, ``"medium"`` (the default) or ``"heavy"``."""
        if name not in PRESETS:
            raise ValueError(f"unknown augment preset {name!r}; valid: {', '.join(PRESETS)}")
        return cls(PRESETS[name])

    @classmethod
    def of_strengths(cls, **strengths: Any) -> Augmenter:
        """Every digit gets exact strengths: see :func:`strokeseq.augment.config.strength_config`.

        Examples
        --------
        >>> import numpy as np
        >>> from strokeseq.augment import Augmenter
        >>> aug = Augmenter.of_strengths(rotation=15, elastic_alpha=20)
        >>> _, params = aug.digits(np.zeros((4, 28, 28)), 0, return_params=True)
        >>> np.abs(params["affine"]["rotation"]).tolist()
        [15.0, 15.0, 15.0, 15.0]
        """
        return cls(strength_config(**strengths))

    def to_config(self) -> dict[str, Any]:
        """The fully explicit config (every transform and parameter), JSON-serialisable."""
        return {"version": CONFIG_VERSION, **copy.deepcopy(self._config)}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Augmenter) and other._config == self._config

    def __hash__(self) -> int:
        return hash(json.dumps(self._config, sort_keys=True))

    def __repr__(self) -> str:
        on = [
            f"{sec}.{name}(p={e['p']:g})"
            for sec, ts in self._config.items()
            for name, e in ts.items()
            if self._active(sec, name)
        ]
        return f"Augmenter({', '.join(on) or 'identity'})"

    # ---- identity -------------------------------------------------------
    def _active(self, section: str, name: str) -> bool:
        """True when the transform can change an image."""
        return is_active(section, name, self._config[section][name])

    @property
    def digit_is_identity(self) -> bool:
        """True when :meth:`digits` returns its input unchanged."""
        return not self._on["digit"]

    @property
    def sequence_is_identity(self) -> bool:
        """True when :meth:`sequences` returns its input unchanged."""
        return not self._on["sequence"]

    @property
    def is_identity(self) -> bool:
        """True when nothing can change (the composer may skip augmentation)."""
        return self.digit_is_identity and self.sequence_is_identity

    # ---- application ----------------------------------------------------
    def _draw(
        self, section: str, gens: list[np.random.Generator], per_row: int, shape: tuple[int, ...]
    ) -> dict[str, Draw]:
        """Every active unit's draws, call by call (one generator each), joined in call order."""
        units = [UNITS[section][t] for t in self._on[section]]
        entries = self._config[section]
        if not gens:  # no rows: empty draws (a throwaway generator draws nothing for 0 items)
            return draw_call(units, entries, np.random.default_rng(0), 0, shape, True)
        calls = [draw_call(units, entries, g, per_row, shape, PARAMS_FIRST[section]) for g in gens]
        if len(calls) == 1:
            return calls[0]
        rows = np.repeat(np.arange(len(calls)), per_row)
        return {t: join([c[t] for c in calls], rows) for t in self._on[section]}

    def _apply(
        self,
        section: str,
        x: np.ndarray,
        boxes: np.ndarray | None,
        draws: dict[str, Draw],
        record: bool,
    ) -> tuple[np.ndarray, np.ndarray | None, Params]:
        out = x.copy()
        for t, d in draws.items():
            out, boxes = UNITS[section][t].apply(out, boxes, d, draws)
        params = {t: d.record() for t, d in draws.items()} if record else {}
        return finish(out), boxes, params

    def digits(
        self, ink: object, rng: object = None, *, return_params: bool = False
    ) -> np.ndarray | tuple[np.ndarray, Params]:
        """Augment a batch of ink digits ``(n, 28, 28)`` (before composition).

        Parameters
        ----------
        ink : array_like, shape (n, 28, 28)
            Ink units (1 = ink, 0 = background; uint8 0..255 is scaled); not modified.
        rng : None, int, SeedSequence or Generator
        return_params : bool
            Also return the drawn parameters: ``{transform: {"applied": bool (n,),
            param: float (n,) (NaN where not applied)}}`` for each active transform.

        Returns
        -------
        ndarray (n, 28, 28) float32 in [0, 1], C-contiguous
            (and the parameters when ``return_params``).

        Examples
        --------
        >>> import numpy as np
        >>> from strokeseq.augment import Augmenter
        >>> ink = np.zeros((2, 28, 28), np.float32); ink[:, 6:22, 12:16] = 1
        >>> out = Augmenter.preset("heavy").digits(ink, 0)
        >>> out.shape, out.dtype, bool((out == Augmenter.preset("heavy").digits(ink, 0)).all())
        ((2, 28, 28), dtype('float32'), True)
        """
        x = check_batch(ink)
        draws = self._draw("digit", [as_generator(rng)], x.shape[0], x.shape[1:])
        out, _, params = self._apply("digit", x, None, draws, return_params)
        return (out, params) if return_params else out

    def digits_rows(
        self,
        ink: object,
        rngs: Sequence[object],
        per_row: int,
        *,
        return_params: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, Params]:
        """Augment the digits of many rows, each row with its own generator, in one batch.

        The same as ``np.concatenate([self.digits(ink[r*per_row:(r+1)*per_row],
        rngs[r]) for r in range(R)])``, bit for bit, and each generator is left
        in the state that loop leaves it in: every unit draws row by row with
        the row's generator (cheap), then applies once over all rows.

        Parameters
        ----------
        ink : array_like, shape (R * per_row, 28, 28)
            Row ``r`` owns digits ``r * per_row`` to ``(r + 1) * per_row - 1``.
        rngs : sequence of R generators (or anything :meth:`digits` accepts)
            Independent generators, one per row (a later :meth:`sequences_rows`
            with the same generators continues their streams).
        per_row : int
            Digits per row, >= 1.
        return_params : bool
            Also return the parameters, as :meth:`digits` (rows concatenated).

        Returns
        -------
        ndarray (R * per_row, 28, 28) float32 in [0, 1]
            (and the parameters when ``return_params``).

        Raises
        ------
        ValueError
            If ``per_row < 1`` or ``len(ink) != len(rngs) * per_row``.
        """
        x = check_batch(ink)
        gens = [as_generator(g) for g in rngs]
        per_row = _check_per_row(per_row, x.shape[0], len(gens))
        draws = self._draw("digit", gens, per_row, x.shape[1:])
        out, _, params = self._apply("digit", x, None, draws, return_params)
        return (out, params) if return_params else out

    def sequences(
        self,
        images: object,
        boxes: object = None,
        rng: object = None,
        *,
        return_params: bool = False,
    ) -> Any:
        """Augment a batch of ink lines ``(N, 28, W)`` and move their digit boxes.

        Parameters
        ----------
        images : array_like, shape (N, 28, W)
            Ink units; not modified.
        boxes : array_like (N, k, 4) of ints ``[x0, x1, y0, y1)``, or None
            Per-digit boxes; slant and wobble move them with the ink.
        rng : None, int, SeedSequence or Generator
        return_params : bool
            Also return the drawn parameters (as in :meth:`digits`; wobble
            records its phase too).

        Returns
        -------
        (images, boxes) or (images, boxes, params)
            images float32 (N, 28, W) in [0, 1]; boxes int64 (N, k, 4) or None.

        Examples
        --------
        >>> import numpy as np
        >>> from strokeseq.augment import Augmenter
        >>> lines = np.zeros((1, 28, 100), np.float32); lines[:, 6:22, 40:44] = 1
        >>> boxes = np.array([[[40, 44, 6, 22]]])
        >>> aug = Augmenter.from_config({"sequence": {"slant": {"angle": 20}}})
        >>> out, moved = aug.sequences(lines, boxes, 0)
        >>> moved.tolist()
        [[[37, 47, 6, 22]]]
        """
        x = check_batch(images, "images")
        b = _s.check_boxes(boxes, x)
        draws = self._draw("sequence", [as_generator(rng)], x.shape[0], x.shape[1:])
        out, b, params = self._apply("sequence", x, b, draws, return_params)
        return (out, b, params) if return_params else (out, b)

    def sequences_rows(
        self,
        images: object,
        boxes: object,
        rngs: Sequence[object],
        *,
        return_params: bool = False,
    ) -> Any:
        """Augment many lines, each with its own generator, in one batch.

        The same as concatenating ``self.sequences(images[r:r+1], boxes[r:r+1],
        rngs[r])`` over the rows, bit for bit (images, boxes and parameters),
        and each generator is left in the state that loop leaves it in.

        Parameters
        ----------
        images : array_like, shape (R, 28, W)
            Ink units; not modified.
        boxes : array_like (R, k, 4) of ints, or None
        rngs : sequence of R generators (or anything :meth:`sequences` accepts)
            One independent generator per line.
        return_params : bool
            Also return the parameters, as :meth:`sequences` (rows concatenated).

        Returns
        -------
        (images, boxes) or (images, boxes, params)
            As :meth:`sequences`.

        Raises
        ------
        ValueError
            If ``len(rngs)`` is not the number of lines.
        """
        x = check_batch(images, "images")
        b = _s.check_boxes(boxes, x)
        gens = [as_generator(g) for g in rngs]
        if len(gens) != x.shape[0]:
            raise ValueError(
                f"need one generator per line: {x.shape[0]} lines, {len(gens)} generators"
            )
        draws = self._draw("sequence", gens, 1, x.shape[1:])
        out, b, params = self._apply("sequence", x, b, draws, return_params)
        return (out, b, params) if return_params else (out, b)


def _check_per_row(per_row: object, n: int, rows: int) -> int:
    """``per_row`` as an int >= 1 that splits ``n`` digits into ``rows`` rows."""
    if isinstance(per_row, (bool, np.bool_)) or not isinstance(per_row, (int, np.integer)):
        raise TypeError(f"per_row must be an int, got {per_row!r}")
    per_row = int(per_row)
    if per_row < 1:
        raise ValueError(f"per_row must be >= 1, got {per_row}")
    if n != rows * per_row:
        raise ValueError(
            f"ink holds {n} digits but {rows} generators x {per_row} per row = {rows * per_row}"
        )
    return per_row
