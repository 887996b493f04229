"""Real MNIST digits, drawn by label from the IDX files."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from ..base import Digits, DigitSource, ink_boxes
from .files import SPLITS

__all__ = ["MnistSource"]

log = logging.getLogger(__name__)


class MnistSource(DigitSource):
    """Digits sampled uniformly, by label, from one MNIST split.

    Parameters
    ----------
    split : {"train", "test"}
        MNIST's training digits (60 000, 539 writers) or test digits (10 000,
        297 writers). The writers of the two splits are disjoint, so a model
        trained on sequences from ``"train"`` and tested on ``"test"`` never
        sees a test writer's hand.
    data_dir : str or path, optional
        Folder holding the IDX files; otherwise the usual resolution
        (``STROKESEQ_MNIST_DIR``, the cache, a download).

    Notes
    -----
    The files are read on first use, once per process, and a label -> indices
    table is built, so drawing ``k`` digits costs O(k). The ink is the file's
    uint8 bytes (255 = full ink), handed out without conversion.
    """

    name = "mnist"
    uniform_draws = True

    def __init__(self, split: str = "train", data_dir: str | Path | None = None) -> None:
        if split not in SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        self.split = split
        self.data_dir = data_dir
        self._images: np.ndarray | None = None

    # -- loading -----------------------------------------------------------
    def __getstate__(self) -> dict:
        # Worker processes reload the data themselves (cheaper than pickling 47 MB).
        return {"split": self.split, "data_dir": self.data_dir, "_images": None}

    def _load(self) -> None:
        from .files import load_mnist

        images, labels = load_mnist(self.split, self.data_dir)
        # A memory-mapped file comes back as np.memmap, whose every slice pays
        # for subclass bookkeeping: a plain view of the same pages is faster.
        images = images.view(np.ndarray)
        labels = labels.astype(np.int64)
        order = np.argsort(labels, kind="stable")
        counts = np.bincount(labels, minlength=10)
        missing = [d for d in range(10) if counts[d] == 0]
        if missing:
            raise ValueError(f"MNIST {self.split} split has no images of digit(s) {missing}")
        self._labels = labels
        self._order = order
        self._counts = counts
        self._starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
        # Plain-Python copies for the single-sequence fast path.
        self._counts_list = counts.tolist()
        self._starts_list = self._starts.tolist()
        self._order_list = order.tolist()
        self._extents: np.ndarray | None = None
        self._writers: np.ndarray | bool | None = False  # False: not looked up yet
        self._images = images
        log.debug("loaded MNIST %s: %d digits", self.split, len(labels))

    @property
    def images(self) -> np.ndarray:
        """All images of the split, ``(n, 28, 28)`` uint8 ink."""
        if self._images is None:
            self._load()
        return self._images  # type: ignore[return-value]

    @property
    def labels(self) -> np.ndarray:
        """Labels of :attr:`images`."""
        self.images  # noqa: B018 - loads
        return self._labels

    @property
    def writers(self) -> np.ndarray | None:
        """QMNIST writer ID of each image, or None when no matching QMNIST file is here.

        Provenance only: local files, never a download; a QMNIST file that
        does not match these MNIST labels is ignored with one logged warning
        (writer -1). ``writer="same"`` needs them and may download them.
        """
        return self._local_writers()

    @property
    def extents(self) -> np.ndarray:
        """Ink box ``x0, x1, y0, y1`` of every image.

        Computed once (~0.15 s for train) and cached beside the unpacked copy
        of the images, verified with it, so later processes only load it.
        """
        self.images  # noqa: B018
        if self._extents is None:
            from .files import derived_table, mnist_paths

            images_path, _ = mnist_paths(self.split, self.data_dir)
            extents = derived_table(images_path, "inkbox", ink_boxes)
            if extents.shape != (len(self._images), 4) or extents.dtype != np.int64:
                extents = ink_boxes(self._images)  # the file changed under us: recompute
            self._extents = extents
            widths = self._extents[:, 1] - self._extents[:, 0]
            self._max_width = [int(widths[self._labels == d].max()) for d in range(10)]
        return self._extents

    def _local_writers(self) -> np.ndarray | None:
        """Writers for provenance: local QMNIST files only, never a download."""
        self.images  # noqa: B018
        if self._writers is False:
            if getattr(self, "_no_local_writers", False):
                return None
            from .writers import load_writers

            found = load_writers(self.split, self.data_dir, download=False, strict=False)
            if found is None:
                self._no_local_writers = True  # writer="same" may still download them
                return None
            self._writers = found
        return self._writers  # type: ignore[return-value]

    def _writers_for_same(self) -> np.ndarray:
        """Writers for ``writer="same"``: local or downloaded, and they must match."""
        writers = self._local_writers()
        if writers is None:
            from ...errors import DataNotFoundError, DownloadError
            from .writers import load_writers

            try:  # raises on a mismatch; a missing file is this one error, no warning first
                writers = load_writers(self.split, self.data_dir, missing="raise")
            except (DataNotFoundError, DownloadError) as exc:
                raise DataNotFoundError(
                    "writer='same' needs the QMNIST writer labels "
                    "(qmnist-train/test-labels-idx2-int.gz): put them next to the MNIST "
                    "files, set STROKESEQ_QMNIST_DIR, or allow the download"
                ) from exc
            self._writers = writers
        return writers

    def __len__(self) -> int:
        return len(self.labels)

    # -- drawing -----------------------------------------------------------
    def indices_from_uniform(self, labels: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Map uniforms in [0, 1) to image indices of the given labels (O(k))."""
        self.images  # noqa: B018
        counts = self._counts[labels]
        pick = np.minimum((u * counts).astype(np.int64), counts - 1)
        return self._order[self._starts[labels] + pick]

    def digits_at(self, indices: np.ndarray) -> Digits:
        """The digits at ``indices`` of the split, with their provenance."""
        images = self.images
        indices = np.asarray(indices, dtype=np.int64)
        writers = self._local_writers()
        meta = {
            "index": indices,
            "writer": writers[indices] if writers is not None else np.full(len(indices), -1),
        }
        # Once enough digits have been drawn (a large batch, or many chunks of
        # one), pay once for the table of all ink boxes; small uses (a CLI call)
        # let the composer measure just the digits drawn.
        if self._extents is None:
            self._drawn = getattr(self, "_drawn", 0) + len(indices)
            if self._drawn >= 4096:
                self.extents  # noqa: B018
        extents = self._extents[indices] if self._extents is not None else None
        return Digits(images[indices], self._labels[indices], meta, extents)

    def draw(self, labels: np.ndarray, rng: np.random.Generator) -> Digits:
        return self.digits_at(self.indices_from_uniform(labels, rng.random(len(labels))))

    def draw_sequences(
        self, labels: np.ndarray, rng: np.random.Generator, writer: str | None = None
    ) -> Digits:
        """Draw ``(N, n)`` labels; with ``writer="same"`` each row from one writer.

        The writer of a row is chosen uniformly among the writers who wrote
        every digit the row needs, then each digit uniformly among that
        writer's instances of it.
        """
        if writer is None:
            return super().draw_sequences(labels, rng)
        if writer != "same":
            raise ValueError(f"writer must be None or 'same', got {writer!r}")
        n_rows, n = labels.shape
        u_writer = rng.random(n_rows)
        return self.digits_at(self.same_writer_indices(labels, u_writer, rng.random((n_rows, n))))

    def draw_rows(self, labels: np.ndarray, rngs, writer: str | None = None) -> Digits:
        """Row ``r`` from ``rngs[r]``, as :meth:`draw_sequences` of that row alone."""
        self.check_writer(writer)
        if writer is None:
            return super().draw_rows(labels, rngs)
        labels = np.asarray(labels, np.int64)
        idx = [
            self.same_writer_indices(row[None], g.random(1), g.random((1, row.size)))
            for row, g in zip(labels, rngs, strict=True)
        ]
        return self.digits_at(np.concatenate(idx) if idx else np.zeros(0, np.int64))

    def _writer_tables(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        tables = getattr(self, "_wtables", None)
        if tables is None:
            writers = self._writers_for_same()
            ids, wpos = np.unique(writers, return_inverse=True)
            key = wpos * 10 + self._labels  # (writer, label) cell
            order = np.argsort(key, kind="stable")
            counts = np.bincount(key, minlength=len(ids) * 10).reshape(len(ids), 10)
            starts = np.concatenate(([0], np.cumsum(counts.ravel())[:-1])).reshape(len(ids), 10)
            tables = self._wtables = (ids, order, counts, starts)
        return tables

    def same_writer_indices(
        self, labels: np.ndarray, u_writer: np.ndarray, u_pick: np.ndarray
    ) -> np.ndarray:
        """Image indices for ``(N, n)`` labels, each row from one writer.

        ``u_writer`` ``(N,)`` and ``u_pick`` ``(N, n)`` are uniforms in [0, 1):
        the first picks the writer among those who wrote every digit of the
        row, the second each digit among that writer's instances.
        """
        _ids, order, counts, starts = self._writer_tables()
        _n_rows, _n = labels.shape
        # Rows are grouped by the set of digits they need (a 10-bit mask, at
        # most 1024 groups), so eligibility is worked out once per group.
        need = np.bitwise_or.reduce(np.left_shift(1, labels), axis=1)
        masks, group = np.unique(need, return_inverse=True)
        has = (counts > 0) @ (1 << np.arange(10))  # (n_writers,) bit mask of digits written
        eligible = (masks[:, None] & ~has[None, :]) == 0  # (groups, n_writers)
        n_ok = eligible.sum(axis=1)
        if (n_ok == 0).any():
            digits = [d for d in range(10) if masks[np.argmax(n_ok == 0)] >> d & 1]
            raise ValueError(
                f"no MNIST {self.split} writer wrote all of the digits {digits}; "
                "use writer=None for this sequence"
            )
        ok_rows = n_ok[group]
        j = np.minimum((u_writer * ok_rows).astype(np.int64), ok_rows - 1)
        # index of the j-th eligible writer of the row's group
        first = np.concatenate(([0], np.cumsum(n_ok)[:-1]))
        eligible_writers = np.nonzero(eligible)[1]  # row-major: groups in order
        w = eligible_writers[first[group] + j]
        cell_counts = counts[w[:, None], labels]
        pick = np.minimum((u_pick * cell_counts).astype(np.int64), cell_counts - 1)
        return order[starts[w[:, None], labels] + pick].ravel()

    # -- the DigitSource interface for callers with their own randomness ----
    def check_writer(self, writer: str | None) -> None:
        if writer not in (None, "same"):
            raise ValueError(f"writer must be None or 'same', got {writer!r}")

    def draw_from_uniforms(
        self,
        labels: np.ndarray,
        u_pick: np.ndarray,
        *,
        u_writer: np.ndarray | None = None,
        writer: str | None = None,
    ) -> Digits:
        """Digits for ``(R, n)`` labels from one uniform per digit (and per row for writers)."""
        self.check_writer(writer)
        labels = np.asarray(labels, np.int64)
        if writer == "same":
            if u_writer is None:
                raise ValueError("writer='same' needs u_writer, one uniform per row")
            return self.digits_at(self.same_writer_indices(labels, u_writer, u_pick))
        return self.digits_at(self.indices_from_uniform(labels.ravel(), np.ravel(u_pick)))

    def tile_pools(self) -> tuple[np.ndarray, list[list[int]]]:
        """The split's images and, per label, their positions in draw order."""
        self.images  # noqa: B018 - loads
        return (
            self._images,
            [  # type: ignore[return-value]
                self._order_list[s : s + c]
                for s, c in zip(self._starts_list, self._counts_list, strict=True)
            ],
        )

    def prepare(self, writer: str | None = None) -> None:
        """Load the split and look the QMNIST writers up (None, logged, when unavailable)."""
        self.check_writer(writer)
        self.writers  # noqa: B018 - every digit's writer is then recorded

    def meta_columns(self) -> dict[str, np.dtype]:
        return {}

    def max_ink_width(self, label: int) -> int:
        self.extents  # noqa: B018
        return self._max_width[label]

    def __repr__(self) -> str:
        return f"MnistSource(split={self.split!r}, data_dir={self.data_dir!r})"

    def data_identity(self) -> dict:
        """The files this source draws from: SHA-256 and size of each, and the writers.

        Paths are left out (they belong to the machine, not the data): the
        same files elsewhere give the same identity. ``writers`` is the
        SHA-256 of the QMNIST writer IDs in use, or None when there are none
        (provenance off). Files are hashed once per process per
        ``(path, size, mtime_ns)`` (~20 ms for the training split).

        Examples
        --------
        >>> src = MnistSource("test")  # doctest: +SKIP
        >>> sorted(src.data_identity())  # doctest: +SKIP
        ['files', 'source', 'split', 'writers']
        """
        import hashlib

        from .files import mnist_paths

        files = {}
        for path in mnist_paths(self.split, self.data_dir):
            st = path.stat()
            files[path.name] = {
                "bytes": st.st_size,
                "sha256": _file_sha256(str(path.resolve()), st.st_size, st.st_mtime_ns),
            }
        self.images  # noqa: B018 - the writers are looked up after the images
        writers = self._writers if self._writers is not False else self._local_writers()
        digest = None
        if writers is not None:
            digest = hashlib.sha256(np.ascontiguousarray(writers, "<i4").tobytes()).hexdigest()
        return {"source": self.name, "split": self.split, "files": files, "writers": digest}


@functools.lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, once per process per version (size and mtime are the cache key)."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()
