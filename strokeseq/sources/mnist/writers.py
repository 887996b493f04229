"""Writer IDs of the MNIST digits, from the QMNIST labels (found like the MNIST files).

The QMNIST files (``qmnist-{train,test}-labels-idx2-int.gz``) give the NIST
writer of every MNIST digit; they are searched for like the MNIST files (see
:mod:`.files`): the explicit ``data_dir`` and its sibling ``qmnist/`` folder,
``STROKESEQ_QMNIST_DIR``, every MNIST folder and its sibling ``qmnist/``, the
cache, then a download from ``STROKESEQ_QMNIST_URL`` or :data:`QMNIST_MIRRORS`.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path

import numpy as np

from ...errors import DataNotFoundError, DownloadError, IdxFormatError
from .files import _MNIST_ARGS, _check_split, _mnist_folders, _resolve, mnist_file
from .unpacked import _read

__all__ = ["QMNIST_MIRRORS", "load_writers"]

logger = logging.getLogger(__name__)


#: Public QMNIST mirror (the authors' repository; torchvision uses it too).
QMNIST_MIRRORS: tuple[str, ...] = (
    "https://raw.githubusercontent.com/facebookresearch/qmnist/master/",
)


def _qmnist_file(split: str) -> str:
    return f"qmnist-{_check_split(split)}-labels-idx2-int.gz"


def _qmnist_folders(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    """QMNIST search path: each MNIST folder, then its sibling ``qmnist/``.

    ``STROKESEQ_QMNIST_DIR`` goes right after the explicit ``data_dir`` (the
    explicit argument always wins, as for MNIST).
    """
    mnist = _mnist_folders(data_dir)
    folders: list[Path] = []
    for i, folder in enumerate(mnist):
        if i == (1 if data_dir is not None else 0):
            env = os.environ.get("STROKESEQ_QMNIST_DIR")
            if env:
                folders.append(Path(env).expanduser())
        folders += [folder, folder.parent / "qmnist"]
    return list(dict.fromkeys(folders))  # drop duplicates, keep order


def load_writers(
    split: str,
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    strict: bool = True,
    missing: str = "warn",
) -> np.ndarray | None:
    """NIST writer ID of every MNIST digit of ``split``, from the QMNIST labels.

    QMNIST's training rows match MNIST train one by one; its first 10000 test
    rows match MNIST test (the rest are digits MNIST left out). Column 0 is
    checked against the MNIST labels, so a misaligned file cannot pass.

    Parameters
    ----------
    split : {"train", "test"}
    data_dir : str or os.PathLike, optional
        Searched first, with its sibling ``qmnist/`` folder; then
        ``STROKESEQ_QMNIST_DIR``, the MNIST folders, the cache, a download.
    download : bool, default True
        False: only local files (no network), for callers that merely want the
        writers as provenance when they happen to be there.
    strict : bool, default True
        False: a QMNIST file that does not match the MNIST labels (another
        MNIST-format set, a truncated file) gives None with one logged warning
        instead of an error; the writers are provenance, not a reason to
        refuse drawing digits.
    missing : {"warn", "raise"}, default "warn"
        When the QMNIST file cannot be found or downloaded: return None with a
        logged warning (a debug record when ``download`` is False), or raise
        (for callers that need the writers and report the failure themselves,
        so that the user sees one message, not a warning and then an error).

    Returns
    -------
    numpy.ndarray or None
        ``(n,)`` int32 writer IDs, read-only, aligned with :func:`load_mnist`;
        None (with a logged warning) when the QMNIST files cannot be found or
        downloaded.

    Raises
    ------
    ValueError
        Bad ``split``, or (``strict``) the QMNIST labels disagree with the
        MNIST labels.
    """
    _check_split(split)
    if missing not in ("warn", "raise"):
        raise ValueError(f"missing must be 'warn' or 'raise', got {missing!r}")
    # Only the labels are needed to check alignment: do not fetch the images.
    labels_path = _resolve(mnist_file(split, "labels"), _mnist_folders(data_dir), *_MNIST_ARGS)
    try:
        qpath = _resolve(
            _qmnist_file(split),
            _qmnist_folders(data_dir),
            "STROKESEQ_QMNIST_DIR",
            "STROKESEQ_QMNIST_URL",
            QMNIST_MIRRORS,
            "QMNIST",
            download,
        )
    except (DataNotFoundError, DownloadError) as exc:
        if missing == "raise":
            raise
        (logger.warning if download else logger.debug)(
            "QMNIST writer IDs unavailable for %s: %s", split, exc
        )
        return None
    key = (str(labels_path.resolve()), str(qpath.resolve()), split)
    if strict:
        return _writers(*key)
    try:
        return _writers(*key)
    except ValueError as exc:  # IdxFormatError too
        if key not in _MISMATCH_WARNED:
            _MISMATCH_WARNED.add(key)
            logger.warning("QMNIST writer IDs not used (writer -1) for %s: %s", split, exc)
        return None


#: Mismatched (labels, QMNIST) pairs already reported: one warning per process.
_MISMATCH_WARNED: set[tuple[str, str, str]] = set()


@functools.lru_cache(maxsize=4)
def _writers(labels_path: str, qmnist_path: str, split: str) -> np.ndarray:
    labels = _read(Path(labels_path))
    q = _read(Path(qmnist_path))
    n = len(labels)
    if q.ndim != 2 or q.shape[1] < 3 or q.dtype != np.int32:
        raise IdxFormatError(
            f"{qmnist_path}: expected int32 QMNIST labels of shape (rows, 8), "
            f"found {q.dtype} {q.shape}"
        )
    # Train must match exactly; the test file has 50000 extra (non-MNIST) rows.
    if (split == "train" and len(q) != n) or len(q) < n:
        how = "exactly" if split == "train" else "at least"
        raise ValueError(
            f"{qmnist_path} has {len(q)} rows, expected {how} {n} "
            f"(the MNIST {split} labels in {labels_path})"
        )
    bad = np.flatnonzero(q[:n, 0] != labels)
    if bad.size:
        raise ValueError(
            f"{qmnist_path} does not match the MNIST {split} labels in {labels_path}: "
            f"{bad.size} rows differ, first row {bad[0]} (QMNIST {q[bad[0], 0]}, "
            f"MNIST {labels[bad[0]]})"
        )
    writers = np.ascontiguousarray(q[:n, 2])
    writers.flags.writeable = False
    return writers
