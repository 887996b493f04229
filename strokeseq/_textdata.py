"""Parsing the small TOML/JSON files users hand in (glyphs, augmentation, dataset configs)."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["parse_toml_or_json"]


def parse_toml_or_json(text: str, suffix: str) -> Any:
    """Parse ``text`` as JSON when ``suffix`` is ``.json``, else as TOML.

    Raises
    ------
    ValueError
        Malformed text (``JSONDecodeError`` and ``TOMLDecodeError`` are both
        ValueErrors); callers add the file name.
    """
    if suffix.lower() == ".json":
        return json.loads(text)
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    return tomllib.loads(text)
