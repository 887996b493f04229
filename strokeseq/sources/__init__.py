"""Digit sources: the :class:`DigitSource` interface and the built-in sources.

``get_source("mnist", split="test")`` returns a process-wide cached instance,
so repeated calls of the public API load the data once.
"""

from __future__ import annotations

from typing import Any

from .base import Digits, DigitSource, ink_extent

__all__ = ["SOURCE_NAMES", "DigitSource", "Digits", "clear_cache", "get_source", "ink_extent"]

#: Names accepted by ``source=`` in the API and ``--source`` on the CLI.
SOURCE_NAMES = ("mnist", "synthetic")

_CACHE: dict[tuple, DigitSource] = {}
#: The API's own index of MNIST sources by (split, data_dir), for its fast path.
_MNIST: dict[tuple, DigitSource] = {}


def clear_cache() -> None:
    """Forget the cached sources (e.g. after changing ``STROKESEQ_MNIST_DIR``).

    Named sources are loaded once per process and reused; the data location
    is resolved when a source first loads, so a changed environment takes
    effect only for sources created after this call.
    """
    _CACHE.clear()
    _MNIST.clear()


def _make(name: str, options: dict[str, Any]) -> DigitSource:
    if name == "mnist":
        from .mnist import MnistSource

        return MnistSource(**options)
    if name == "synthetic":
        from .stroke import StrokeSource

        return StrokeSource(**options)
    raise ValueError(
        f"source must be one of {', '.join(SOURCE_NAMES)} or a DigitSource, got {name!r}"
    )


def get_source(source: str | DigitSource = "mnist", **options: Any) -> DigitSource:
    """Return a digit source by name, or ``source`` itself if it is one.

    Named sources are cached per (name, options) for the life of the process,
    so the MNIST files are read once however many sequences are generated.

    Parameters
    ----------
    source : {"mnist", "synthetic"} or DigitSource
        The source name or an instance.
    **options
        Constructor options of the named source (e.g. ``split="test"``,
        ``data_dir=...`` for MNIST; ``jitter=...`` for synthetic). Values must
        be hashable.
    """
    if isinstance(source, DigitSource):
        if options:
            raise TypeError("source options can only be given with a source name")
        return source
    if not isinstance(source, str):
        raise TypeError(
            f"source must be a name ({', '.join(SOURCE_NAMES)}) or a DigitSource, "
            f"not {type(source).__name__}"
        )
    key = (source, tuple(sorted((k, str(v)) for k, v in options.items())))
    found = _CACHE.get(key)
    if found is None:
        found = _CACHE[key] = _make(source, options)
    return found
