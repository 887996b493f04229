"""Exception types of strokeseq.

Every error the package raises on purpose is a subclass of one of the
built-in types callers already catch (``ValueError``, ``TypeError``,
``OSError``), so ``except ValueError`` keeps working for code that does not
know strokeseq's own names.
"""

from __future__ import annotations

__all__ = [
    "CommandError",
    "DataNotFoundError",
    "DatasetError",
    "DatasetLockedError",
    "DownloadError",
    "GlyphError",
    "IdxFormatError",
]


class IdxFormatError(ValueError):
    """An IDX file is malformed: bad magic, unknown type, truncated, trailing bytes, bad gzip."""


class DataNotFoundError(FileNotFoundError):
    """The MNIST files are nowhere to be found and could not be downloaded."""


class DownloadError(OSError):
    """Every mirror failed (HTTP error, short read or hash mismatch) for a data file."""


class GlyphError(ValueError):
    """A glyph file of the synthetic source is malformed (names the file, digit and field)."""


class CommandError(Exception):
    """Bad input found by a ``strokeseq`` command: printed as one line, exit status 2."""


class DatasetError(ValueError):
    """A dataset folder cannot be read or used as it is.

    The message names the folder or shard and what is wrong with it: a missing
    or corrupt shard, a malformed manifest, rows that do not cover the dataset.
    """


class DatasetLockedError(DatasetError):
    """Another run holds the dataset folder (the message names its pid, host and start)."""
