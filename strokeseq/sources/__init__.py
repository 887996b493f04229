"""Digit sources: the :class:`DigitSource` interface, the built-in sources and a registry.

``get_source("mnist", split="test")`` returns a process-wide cached instance,
so repeated calls of the public API load the data once. A source is named by

- a registered name: ``"mnist"``, ``"synthetic"``, or one added with
  :func:`register_source`;
- an import path ``"package.module:Class"`` (or ``:factory``), imported on
  first use: the form to prefer for datasets. Dataset worker processes get
  run-time registrations too (forked ones inherit them, spawned ones receive
  the factory by reference), but a spawned worker imports the factory's
  module afresh: state set under ``if __name__ == "__main__":`` is not there.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
from collections.abc import Callable, Iterable
from typing import Any

from .base import TILE, Digits, DigitSource, ink_extent

__all__ = [
    "SOURCE_NAMES",
    "TILE",
    "DigitSource",
    "Digits",
    "clear_cache",
    "get_source",
    "ink_extent",
    "is_source_name",
    "register_source",
    "registered_sources",
    "source_for",
]

#: The built-in names accepted by ``source=`` in the API and ``--source`` on the CLI.
SOURCE_NAMES = ("mnist", "synthetic")

_CACHE: dict[tuple, DigitSource] = {}


#: Name -> factory, or the import path of one (the built-ins load on first use).
_REGISTRY: dict[str, Callable[..., DigitSource] | str] = {
    "mnist": "strokeseq.sources.mnist:MnistSource",
    "synthetic": "strokeseq.sources.stroke:StrokeSource",
}
#: Options a factory receives from its caller's context only when it takes them.
_CONTEXT_KEYS = ("split", "data_dir")


def register_source(name: str, factory: Callable[..., DigitSource]) -> None:
    """Make ``name`` usable wherever a source name is accepted.

    Parameters
    ----------
    name : str
        A new name (letters, digits, ``_`` and ``-``; not a built-in name).
    factory : callable
        Called with the source options (keyword arguments) and returning a
        :class:`DigitSource`; a DigitSource subclass itself will do.

    Examples
    --------
    >>> from strokeseq.sources import register_source, get_source
    >>> from strokeseq.sources.stroke import StrokeSource
    >>> register_source("calm", lambda **kw: StrokeSource(jitter=0.5, **kw))
    >>> get_source("calm").jitter
    0.5
    """
    if (
        not isinstance(name, str)
        or not name
        or not name.replace("_", "").replace("-", "").isalnum()
    ):
        raise ValueError(f"source name must be letters, digits, '_' or '-', got {name!r}")
    if name in SOURCE_NAMES:
        raise ValueError(f"{name!r} is a built-in source and cannot be replaced")
    if not callable(factory):
        raise TypeError(f"factory must be callable, got {type(factory).__name__}")
    _REGISTRY[name] = factory
    for key in [k for k in _CACHE if name in k[:2]]:
        del _CACHE[key]


def _runtime_factories(names: Iterable[str]) -> dict[str, Callable[..., DigitSource]]:
    """The factories of ``names`` registered at run time (not built-in, not an import path)."""
    found = {}
    for name in names:
        factory = _REGISTRY.get(name)
        if factory is not None and not isinstance(factory, str):
            found[name] = factory
    return found


def registered_sources() -> tuple[str, ...]:
    """The names :func:`get_source` accepts (besides import paths)."""
    return tuple(_REGISTRY)


def is_source_name(name: object) -> bool:
    """True for a registered name or a ``module:attr`` import path (not imported here)."""
    if not isinstance(name, str):
        return False
    if name in _REGISTRY:
        return True
    mod, sep, attr = name.partition(":")
    return bool(
        sep and mod and attr.isidentifier() and all(p.isidentifier() for p in mod.split("."))
    )


def clear_cache() -> None:
    """Forget the cached sources (e.g. after changing ``STROKESEQ_MNIST_DIR``).

    Named sources are loaded once per process and reused; the data location
    is resolved when a source first loads, so a changed environment takes
    effect only for sources created after this call.
    """
    _CACHE.clear()
    from ..compose import clear_page_tiles

    clear_page_tiles()


def _factory(name: str) -> Callable[..., DigitSource]:
    found = _REGISTRY.get(name)
    if found is not None and not isinstance(found, str):
        return found
    if found is not None:
        name = found
    elif not is_source_name(name):
        raise ValueError(
            f"source must be one of {', '.join(_REGISTRY)}, an import path "
            f"'package.module:Class', or a DigitSource; got {name!r}"
        )
    mod, _, attr = name.partition(":")
    try:
        factory = getattr(importlib.import_module(mod), attr)
    except ImportError as exc:
        raise ValueError(f"source {name!r}: cannot import {mod!r} ({exc})") from None
    except AttributeError:
        raise ValueError(f"source {name!r}: module {mod!r} has no {attr!r}") from None
    if not callable(factory):
        raise ValueError(f"source {name!r}: {attr!r} is not a class or factory")
    return factory


def _accepts(factory: Callable[..., Any], key: str) -> bool:
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return False
    # Named parameters only: a factory taking **options passes them on to
    # whatever it wraps, which may not take them.
    return any(p.name == key and p.kind is not p.VAR_POSITIONAL for p in params)


def get_source(
    source: str | DigitSource = "mnist",
    *,
    context: dict[str, Any] | None = None,
    **options: Any,
) -> DigitSource:
    """Return a digit source by name or import path, or ``source`` itself if it is one.

    Named sources are cached per (name, options) for the life of the process,
    so the MNIST files are read once however many sequences are generated.

    Parameters
    ----------
    source : str or DigitSource
        A registered name (``"mnist"``, ``"synthetic"``, see
        :func:`register_source`), an import path ``"package.module:Class"``,
        or an instance.
    context : dict, optional
        ``split`` and ``data_dir`` from the caller (the API, a dataset):
        passed to the factory only if it takes them, so that sources without
        files need not accept them. None values are left out.
    **options
        Constructor options (e.g. ``split="test"``, ``data_dir=...`` for
        MNIST; ``jitter=...`` for synthetic). Values must be hashable.

    Examples
    --------
    >>> from strokeseq.sources import get_source
    >>> get_source("synthetic").name
    'synthetic'
    """
    if isinstance(source, DigitSource):
        if options:
            raise TypeError("source options can only be given with a source name")
        return source
    if not isinstance(source, str):
        raise TypeError(
            f"source must be a name ({', '.join(_REGISTRY)}), an import path or a DigitSource, "
            f"not {type(source).__name__}"
        )
    factory = _factory(source)
    if context:
        for key in _CONTEXT_KEYS:
            value = context.get(key)
            if value is not None and key not in options and _accepts(factory, key):
                options[key] = str(value) if key == "data_dir" else value
    key = (source, tuple(sorted((k, str(v)) for k, v in options.items())))
    found = _CACHE.get(key)
    if found is None:
        made = factory(**options)
        if not isinstance(made, DigitSource):
            raise TypeError(f"source {source!r} made a {type(made).__name__}, not a DigitSource")
        found = _CACHE[key] = made
    return found


def source_for(
    source: str | DigitSource, split: str = "train", data_dir: Any = None
) -> DigitSource:
    """The source a caller with this MNIST ``split`` and data folder gets (cached).

    The API and datasets call it: a plain dict look-up once the source is
    made, since it runs on every single-image call. ``split`` and
    ``data_dir`` reach the factory only if it takes them (see :func:`get_source`).
    """
    key = ("\0for", source, split, data_dir)
    try:
        found = _CACHE.get(key)
    except TypeError:  # an unhashable data_dir or source: refused just below
        found = None
    if found is None:
        from ..validate import check_data_dir, check_split

        check_split(split)  # refused even where the source does not use them
        check_data_dir(data_dir)
        if isinstance(source, DigitSource):
            return source
        folder = None if data_dir is None else os.fspath(data_dir)  # path-likes too
        found = get_source(source, context={"split": split, "data_dir": folder})
        with contextlib.suppress(TypeError):
            _CACHE[key] = found
    return found
