"""Where the MNIST files come from: local folders, cache, download (QMNIST: :mod:`.writers`).

Resolution, per file, first hit wins:

1. the explicit ``data_dir`` argument;
2. the environment variable ``STROKESEQ_MNIST_DIR``;
3. the cache folder: ``STROKESEQ_DATA_DIR``, else the platform cache dir
   (``platformdirs.user_cache_dir("strokeseq")``);
4. a download into the cache folder, trying the mirrors in turn: the private
   mirror(s) of ``STROKESEQ_MNIST_URL`` (several may be separated by spaces or
   commas), then the public ones in :data:`MNIST_MIRRORS`. Every download is
   checked against the published hash in :data:`HASHES`.

In a folder, a file may be gzip-compressed or not and spelled either way
(``t10k-images-idx3-ubyte`` or ``t10k-images.idx3-ubyte``). Local files are not
hash-checked (a re-compressed copy is as good as the original), they are
validated structurally by :func:`strokeseq.idx.read_idx`.

Environment variables:

``STROKESEQ_OFFLINE=1``
    Never download; a missing file raises :class:`DataNotFoundError`.
``STROKESEQ_PUBLIC_MIRRORS=0``
    Try only the private mirror(s) (tests use this to stay off the internet).
``STROKESEQ_QMNIST_DIR`` / ``STROKESEQ_QMNIST_URL``
    Folder / private mirror for the QMNIST writer files. They are also looked
    for in every MNIST folder and in a sibling folder ``qmnist/`` next to it.
``STROKESEQ_UNPACK=0``
    Do not keep unpacked copies of big ``.gz`` files in ``<cache>/unpacked/``
    (see :data:`UNPACK_MIN_BYTES`).

Concurrency: each download holds a :class:`filelock.FileLock` next to the file
in the cache, writes to a temporary name in the same folder and is renamed
into place (atomic) only after its hash matched, so concurrent processes never
see, or leave, a partial or unverified file.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ...errors import DataNotFoundError, DownloadError, IdxFormatError
from .unpacked import _read, derived_table

__all__ = [
    "HASHES",
    "MNIST_MIRRORS",
    "cache_dir",
    "derived_table",
    "fetch",
    "find_file",
    "load_mnist",
    "mnist_file",
    "mnist_paths",
]

logger = logging.getLogger(__name__)

SPLITS = ("train", "test")

#: Public MNIST mirrors, tried in this order after ``STROKESEQ_MNIST_URL``.
#: The original site comes last: it often answers 403 to scripts.
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",  # torchvision's
    "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow's
    "http://yann.lecun.com/exdb/mnist/",
)


#: Published hash of each distributed archive, in pooch's ``"alg:hex"`` form.
#: SHA-256 where the genuine archive's is known; for train-images the MD5 of the
#: distributed archive (the one torchvision checks). Tests replace entries.
HASHES: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "md5:f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": (
        "sha256:3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "sha256:8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "sha256:f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
    "qmnist-train-labels-idx2-int.gz": (
        "sha256:2c05dc77f6b916b38e455e97ab129a42a444f3dbef09b278a366f82904e0dd9f"
    ),
    "qmnist-test-labels-idx2-int.gz": (
        "sha256:9fbcbe594c3766fdf4f0b15c5165dc0d1e57ac604e01422608bb72c906030d06"
    ),
}

#: Seconds to wait for a server (connect and between bytes) and for another
#: process's download lock.
HTTP_TIMEOUT = 30
LOCK_TIMEOUT = 900

_PREFIX = {"train": "train", "test": "t10k"}


def _env_flag(name: str, default: bool) -> bool:
    """Read a boolean environment variable (``1/true/yes/on`` vs ``0/false/no/off``)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value not in ("0", "false", "no", "off")


def _check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def mnist_file(split: str, kind: str) -> str:
    """Canonical (gzip) file name of an MNIST file.

    Parameters
    ----------
    split : {"train", "test"}
    kind : {"images", "labels"}

    Returns
    -------
    str
        E.g. ``"t10k-images-idx3-ubyte.gz"``.
    """
    _check_split(split)
    dims = {"images": 3, "labels": 1}
    if kind not in dims:
        raise ValueError(f"kind must be 'images' or 'labels', got {kind!r}")
    return f"{_PREFIX[split]}-{kind}-idx{dims[kind]}-ubyte.gz"


def _spellings(name: str) -> list[str]:
    """Every accepted local spelling of ``name``: gz/raw and ``-idx``/``.idx``."""
    stem = name.removesuffix(".gz")
    stems = [stem]
    dotted = re.sub(r"-(idx\d)", r".\1", stem, count=1)
    if dotted != stem:
        stems.append(dotted)
    return [s + ext for s in stems for ext in (".gz", "")]


def find_file(name: str, folders: Sequence[Path]) -> Path | None:
    """First existing spelling of ``name`` in ``folders``, searched in order.

    Parameters
    ----------
    name : str
        Canonical name, e.g. ``"t10k-labels-idx1-ubyte.gz"``.
    folders : sequence of pathlib.Path
        Folders to search, in priority order.

    Returns
    -------
    pathlib.Path or None
        The file found, or None.
    """
    for folder in folders:
        for spelling in _spellings(name):
            candidate = folder / spelling
            if candidate.is_file():
                return candidate
    return None


def cache_dir() -> Path:
    """The download cache: ``STROKESEQ_DATA_DIR``, else the platform cache dir.

    Returns
    -------
    pathlib.Path
        The folder (not created here).
    """
    env = os.environ.get("STROKESEQ_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs  # only needed when the cache is consulted

    return Path(platformdirs.user_cache_dir("strokeseq"))


def _split_urls(value: str | None) -> list[str]:
    return [u for u in re.split(r"[\s,]+", value or "") if u]


def _mirrors(env_var: str, public: Sequence[str]) -> list[str]:
    """Private mirrors from ``env_var`` first, then the public ones unless disabled."""
    urls = _split_urls(os.environ.get(env_var))
    if _env_flag("STROKESEQ_PUBLIC_MIRRORS", True):
        urls += [u for u in public if u not in urls]
    return urls


def _mnist_folders(data_dir: str | os.PathLike[str] | None) -> list[Path]:
    folders = []
    if data_dir is not None:
        folders.append(Path(data_dir).expanduser())
    env = os.environ.get("STROKESEQ_MNIST_DIR")
    if env:
        folders.append(Path(env).expanduser())
    folders.append(cache_dir())
    return folders


def _ways_out(what: str, env_dir: str, env_url: str) -> str:
    """The one message that tells a user how to get the data."""
    return (
        f"Three ways out: (1) pass data_dir=... or set {env_dir} to a folder holding the "
        f"{what} files (.gz or uncompressed, '-idx' or '.idx' spelling); "
        f"(2) put the files in the cache dir {cache_dir()} (set STROKESEQ_DATA_DIR to move it); "
        f"(3) allow the download (be online, unset STROKESEQ_OFFLINE) or set {env_url} "
        "to a mirror that serves them."
    )


class _Unreachable(Exception):
    """No server answered (connection refused, DNS failure, timeout)."""


def _download_one(url: str, dest: Path, known_hash: str) -> None:
    """Download ``url`` to ``dest`` via a verified temporary file (atomic rename).

    On any failure (HTTP error, short read, hash mismatch) the temporary file
    is removed and nothing appears at ``dest``.
    """
    import pooch  # heavy (requests); only imported when a download happens
    import requests

    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    _PARTIAL.add(tmp)  # a signal handler may end the process without the finally below
    try:
        downloader = pooch.HTTPDownloader(progressbar=False, timeout=HTTP_TIMEOUT)
        try:
            downloader(url, tmp, None)
        except (requests.ConnectionError, requests.Timeout) as exc:
            # A connection that breaks mid-body is a ChunkedEncodingError, not
            # a ConnectionError, so it lands below as a bad download.
            raise _Unreachable(str(exc)) from exc
        alg, _, expected = known_hash.partition(":")
        found = pooch.file_hash(tmp, alg=alg)
        if found.lower() != expected.lower():
            size = os.path.getsize(tmp)
            raise ValueError(
                f"hash mismatch: expected {alg} {expected}, found {found} ({size} bytes)"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)
        _PARTIAL.discard(tmp)


def fetch(name: str, urls: Sequence[str], folder: Path | None = None) -> Path:
    """Download ``name`` into the cache from the first mirror that works.

    Parameters
    ----------
    name : str
        Canonical file name; its expected hash is ``HASHES[name]``.
    urls : sequence of str
        Mirror base URLs, tried in order (``base + name``).
    folder : pathlib.Path, optional
        Destination folder; defaults to :func:`cache_dir`.

    Returns
    -------
    pathlib.Path
        The verified file in ``folder``.

    Raises
    ------
    DownloadError
        A mirror answered but every answer was bad (HTTP error, short read,
        hash mismatch).
    DataNotFoundError
        No mirror could be reached at all.
    """
    from filelock import FileLock, Timeout

    if name not in HASHES:
        raise ValueError(f"no published hash for {name!r}; known files: {sorted(HASHES)}")
    folder = cache_dir() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / name
    lock = FileLock(str(folder / f".{name}.lock"), timeout=LOCK_TIMEOUT)
    try:
        with lock:
            # Another process may have finished the download while we waited.
            if dest.is_file():
                return dest
            return _try_mirrors(name, urls, dest)
    except Timeout as exc:
        raise DownloadError(
            f"timed out after {LOCK_TIMEOUT} s waiting for another process to download "
            f"{dest} (lock {lock.lock_file}); remove the lock file if no download is running"
        ) from exc


def _try_mirrors(name: str, urls: Sequence[str], dest: Path) -> Path:
    failures: list[str] = []
    all_unreachable = True
    for base in urls:
        url = base if base.endswith("/") else base + "/"
        url += name
        try:
            _download_one(url, dest, HASHES[name])
        except _Unreachable as exc:
            failures.append(f"{url}: unreachable ({exc})")
        except Exception as exc:  # HTTP status, broken stream, hash: try the next
            all_unreachable = False
            failures.append(f"{url}: {type(exc).__name__}: {exc}")
        else:
            logger.info("downloaded %s from %s into %s", name, url, dest.parent)
            return dest
        logger.info("mirror failed: %s", failures[-1])  # detail: the error lists them all
    detail = "; ".join(failures) or "no mirror configured"
    error = DataNotFoundError if all_unreachable else DownloadError
    raise error(f"could not download {name} into {dest.parent}: {detail}")


def _resolve(
    name: str,
    folders: list[Path],
    env_dir: str,
    env_url: str,
    public: Sequence[str],
    what: str,
    download: bool = True,
) -> Path:
    """Find ``name`` locally, else download it (if ``download``); raise with the ways out."""
    found = find_file(name, folders)
    if found is not None:
        logger.debug("using %s", found)
        return found
    # Say which folders do not even exist: usually a typo in data_dir or an env var.
    looked = ", ".join(f"{f}{'' if f.is_dir() else ' (no such folder)'}" for f in folders)
    ways = _ways_out(what, env_dir, env_url)
    if not download:
        raise DataNotFoundError(f"{what} file {name} not found locally (looked in: {looked})")
    if _env_flag("STROKESEQ_OFFLINE", False):
        raise DataNotFoundError(
            f"{what} file {name} not found (looked in: {looked}) and downloads are "
            f"disabled by STROKESEQ_OFFLINE. {ways}"
        )
    logger.info("%s not found locally (looked in: %s); downloading", name, looked)
    try:
        return fetch(name, _mirrors(env_url, public))
    except DataNotFoundError as exc:
        raise DataNotFoundError(
            f"{what} file {name} not found (looked in: {looked}) and no mirror could be "
            f"reached ({exc}). {ways}"
        ) from exc
    except DownloadError as exc:
        raise DownloadError(f"{exc}. {ways}") from exc
    except OSError as exc:  # e.g. the cache folder cannot be created or written
        raise DownloadError(f"cannot download {name} into {cache_dir()}: {exc}. {ways}") from exc


_MNIST_ARGS = ("STROKESEQ_MNIST_DIR", "STROKESEQ_MNIST_URL", MNIST_MIRRORS, "MNIST")


def mnist_paths(split: str, data_dir: str | os.PathLike[str] | None = None) -> tuple[Path, Path]:
    """Paths of the images and labels files of ``split``, downloading if needed.

    Parameters
    ----------
    split : {"train", "test"}
    data_dir : str or os.PathLike, optional
        Folder searched first.

    Returns
    -------
    images, labels : pathlib.Path
        Where the files are (local folder or cache).

    Raises
    ------
    DataNotFoundError, DownloadError
        As :func:`load_mnist`.
    """
    _check_split(split)
    folders = _mnist_folders(data_dir)
    images = _resolve(mnist_file(split, "images"), folders, *_MNIST_ARGS)
    labels = _resolve(mnist_file(split, "labels"), folders, *_MNIST_ARGS)
    return images, labels


def load_mnist(
    split: str, data_dir: str | os.PathLike[str] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Load one MNIST split, finding or downloading its files as needed.

    Each file is read once per process and kept in memory; later calls return
    the same read-only arrays.

    Parameters
    ----------
    split : {"train", "test"}
        ``"test"`` is the t10k files.
    data_dir : str or os.PathLike, optional
        Folder searched first (see the module docstring for the full order).

    Returns
    -------
    images : numpy.ndarray
        ``(n, 28, 28)`` uint8, C-contiguous, read-only; 0 background, 255 ink.
    labels : numpy.ndarray
        ``(n,)`` uint8 in 0..9, read-only.

    Raises
    ------
    ValueError
        ``split`` is not "train" or "test".
    IdxFormatError
        A file is malformed, or images and labels disagree.
    DataNotFoundError
        The files are nowhere and cannot be downloaded; the message names the
        three ways out.
    DownloadError
        Every mirror gave a bad answer.
    """
    _check_split(split)
    images_path, labels_path = mnist_paths(split, data_dir)
    images, labels = _read(images_path), _read(labels_path)
    _check_mnist(images, labels, images_path, labels_path)
    return images, labels


def _check_mnist(images: np.ndarray, labels: np.ndarray, ipath: Path, lpath: Path) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise IdxFormatError(
            f"{ipath}: expected uint8 images of shape (n, 28, 28), "
            f"found {images.dtype} {images.shape}"
        )
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise IdxFormatError(
            f"{lpath}: expected uint8 labels of shape (n,), found {labels.dtype} {labels.shape}"
        )
    if len(images) != len(labels):
        raise IdxFormatError(
            f"{ipath} has {len(images)} images but {lpath} has {len(labels)} labels "
            "(expected equal counts; are they from the same split?)"
        )
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{lpath}: expected labels 0..9, found {int(labels.max())}")


#: Temporary files of the downloads this process has in progress.
_PARTIAL: set[str] = set()


def remove_partial_downloads() -> int:
    """Remove the temporary files of this process's downloads in progress; how many.

    For a process about to end without unwinding (a dataset worker stopped
    with SIGTERM ends through ``os._exit``-like paths that skip ``finally``):
    its half-downloaded ``.part`` files would otherwise stay in the cache.

    Returns
    -------
    int
        How many files were removed.

    Examples
    --------
    >>> remove_partial_downloads()  # no download in progress
    0
    """
    n = 0
    for tmp in list(_PARTIAL):
        try:
            os.unlink(tmp)
            n += 1
        except OSError:
            pass
        _PARTIAL.discard(tmp)
    return n
