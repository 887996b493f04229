"""Realism of a digit source, measured against real MNIST (issue #8).

Building blocks of ``benchmarks/bench_realism.py``, importable on their own
(NumPy, SciPy and scikit-image only at import; torch only inside
:func:`cnn_accuracy`)::

    import sys; sys.path.insert(0, "benchmarks")
    import realism

    x_fit, y_fit = realism.mnist_split("fit")          # design decisions:
    x_hold, y_hold = realism.mnist_split("holdout")    #   fit on "fit", judge on "holdout"
    acc = realism.proxy_accuracy(my_x, my_y, x_hold, y_hold)
    table = realism.compare_stats(realism.shape_stats(my_x, my_y),
                                  realism.shape_stats(x_hold, y_hold))
    print(acc.overall, table.n_over_15, table.n_over_30, table.min_spread_ratio)

What is measured (all on ``(n, 28, 28)`` float32 *ink*, 1 = ink, 0 = paper):

- **Accuracy, train on source / test on real**: a PCA-50 + 5-NN proxy (NumPy,
  the project's :class:`strokeseq.ReferenceClassifier`) and a small CNN
  (2 conv + 2 dense, Adam, 3 epochs; torch, CPU). Overall and per digit.
- **Shape statistics per digit** (:data:`FEATURES`): ink mass, stroke width,
  aspect, slant; their mean and std, plus the within-class spread.
- **Memorisation**: nearest-training-digit distance of source digits against
  that of real test digits.

Splits: ``"train"`` and ``"test"`` are MNIST's; ``"fit"`` and ``"holdout"``
divide the MNIST training split by QMNIST writer (no writer on both sides).
Design decisions use fit/holdout; the MNIST test split is for reported
figures only.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from strokeseq.sources.stroke.fit_verify import skeleton_lengths

__all__ = [
    "FEATURES",
    "THRESHOLD",
    "Accuracy",
    "Comparison",
    "Memorisation",
    "ShapeStats",
    "cnn_accuracy",
    "compare_stats",
    "digit_features",
    "memorisation",
    "mnist_split",
    "nearest_distances",
    "proxy_accuracy",
    "shape_stats",
    "skeleton_lengths",
    "train_holdout_split",
]

#: Per-digit features of :func:`digit_features`, in column order.
FEATURES = ("ink_mass", "stroke_width", "aspect", "slant")
#: Ink level above which a pixel counts as ink for the skeleton and the ink box.
THRESHOLD = 0.5
#: Share of the training writers in the holdout part (about the same share of digits).
HOLDOUT = 0.2
SPLITS = ("train", "test", "fit", "holdout")


# -- real data -------------------------------------------------------------------------------
def train_holdout_split(
    seed: int = 0, holdout: float = HOLDOUT, data_dir: str | os.PathLike | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Divide the MNIST training split by QMNIST writer: no writer on both sides.

    A random ``holdout`` share of the writers (rounded) goes to the holdout part.

    Parameters
    ----------
    seed : int
        Seed of the writer permutation; 0 is the project's standard split.
    holdout : float
        Share of writers held out, in (0, 1).
    data_dir : str or os.PathLike, optional
        MNIST folder (QMNIST files beside it or in ``STROKESEQ_QMNIST_DIR``).

    Returns
    -------
    fit_idx, holdout_idx : numpy.ndarray
        Sorted int64 indices into the MNIST training split; together all of it.

    Raises
    ------
    ValueError
        ``holdout`` outside (0, 1), or the QMNIST writer files are not found
        (no network is used).

    Examples
    --------
    >>> fit, hold = train_holdout_split()  # doctest: +SKIP
    >>> len(fit) + len(hold)  # doctest: +SKIP
    60000
    """
    from strokeseq.sources.mnist.writers import load_writers

    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be a share of writers in (0, 1), got {holdout!r}")
    writers = load_writers("train", data_dir, download=False)
    if writers is None:
        raise ValueError(
            "QMNIST writer IDs not found: put qmnist-train-labels-idx2-int.gz beside the "
            "MNIST folder (a sibling qmnist/ folder) or set STROKESEQ_QMNIST_DIR"
        )
    ids = np.unique(writers)
    perm = np.random.default_rng(seed).permutation(ids)
    held = np.isin(writers, perm[: max(1, round(holdout * len(ids)))])
    return np.flatnonzero(~held), np.flatnonzero(held)


def mnist_split(
    split: str,
    holdout: float = HOLDOUT,
    *,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Real MNIST digits as float32 ink and int64 labels.

    Parameters
    ----------
    split : {"train", "test", "fit", "holdout"}
        MNIST's own splits, or the writer-disjoint parts of the training split
        (:func:`train_holdout_split` with ``seed`` and ``holdout``).
    holdout, seed : float, int
        Only for "fit" and "holdout".
    data_dir : str or os.PathLike, optional
        MNIST folder (default: ``STROKESEQ_MNIST_DIR``, the cache, ...).

    Returns
    -------
    images : numpy.ndarray
        ``(n, 28, 28)`` float32 in [0, 1], ink 1.
    labels : numpy.ndarray
        ``(n,)`` int64.

    Examples
    --------
    >>> x, y = mnist_split("test")  # doctest: +SKIP
    >>> x.shape, x.dtype, y.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('float32'), dtype('int64'))
    """
    from strokeseq.sources.mnist.files import load_mnist

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    images, labels = load_mnist("test" if split == "test" else "train", data_dir)
    if split in ("fit", "holdout"):
        fit, hold = train_holdout_split(seed, holdout, data_dir)
        idx = fit if split == "fit" else hold
        images, labels = images[idx], labels[idx]
    return images.astype(np.float32) * np.float32(1 / 255), labels.astype(np.int64)


def _check_images(x: np.ndarray, name: str = "images") -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[1:] != (28, 28):
        raise ValueError(f"{name} must have shape (n, 28, 28), got {x.shape}")
    if x.dtype == np.uint8:
        return x.astype(np.float32) * np.float32(1 / 255)
    return np.ascontiguousarray(x, np.float32)


def _check_labels(y: np.ndarray, n: int, name: str = "labels") -> np.ndarray:
    y = np.asarray(y).astype(np.int64).reshape(-1)
    if len(y) != n:
        raise ValueError(f"{name}: {len(y)} labels for {n} images")
    if y.size and (y.min() < 0 or y.max() > 9):
        raise ValueError(f"{name} must be digits 0..9")
    return y


# -- shape statistics ------------------------------------------------------------------------
def digit_features(images: np.ndarray) -> np.ndarray:
    """The :data:`FEATURES` of each digit, ``(n, 4)`` float64 (NaN where undefined).

    - ``ink_mass``: sum of the ink (pixels of full ink count 1).
    - ``stroke_width``: ink mass / skeleton length (pixels) of ``ink > THRESHOLD``.
    - ``aspect``: width / height of the box of ``ink > THRESHOLD``.
    - ``slant``: ``mu11 / mu02``, central ink moments with y pointing up, so a
      digit leaning right is positive (x shift per unit of height).
    """
    x = _check_images(images).astype(np.float64)
    n = len(x)
    out = np.full((n, 4), np.nan)
    mass = x.sum(axis=(1, 2))
    out[:, 0] = mass
    mask = x > THRESHOLD
    length = skeleton_lengths(mask)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[:, 1] = np.where(length > 0, mass / np.maximum(length, 1), np.nan)
    rows, cols = mask.any(axis=2), mask.any(axis=1)
    has = rows.any(axis=1)

    def extent(a: np.ndarray) -> np.ndarray:
        first = a.argmax(axis=1)
        last = a.shape[1] - 1 - a[:, ::-1].argmax(axis=1)
        return (last - first + 1).astype(np.float64)

    out[has, 2] = extent(cols[has]) / extent(rows[has])
    ys = -np.arange(28, dtype=np.float64)  # up is positive
    xs = np.arange(28, dtype=np.float64)
    safe = np.where(mass > 0, mass, 1.0)
    py, px = x.sum(axis=2), x.sum(axis=1)  # row and column profiles
    yc = py @ ys / safe
    xc = px @ xs / safe
    mu02 = py @ ys**2 / safe - yc**2
    mu11 = np.einsum("nij,i,j->n", x, ys, xs) / safe - yc * xc
    ok = (mass > 0) & (mu02 > 1e-9)
    out[ok, 3] = mu11[ok] / mu02[ok]
    return out


@dataclass(frozen=True)
class ShapeStats:
    """Per-digit shape statistics of a set of digits (:func:`shape_stats`).

    Attributes
    ----------
    mean, std : numpy.ndarray
        ``(10, 4)``: digit x :data:`FEATURES` (NaN for an absent digit).
    spread : numpy.ndarray
        ``(10,)`` mean L2 distance of a digit to its class mean image.
    counts : numpy.ndarray
        ``(10,)`` digits per class.
    """

    mean: np.ndarray
    std: np.ndarray
    spread: np.ndarray
    counts: np.ndarray


def shape_stats(images: np.ndarray, labels: np.ndarray) -> ShapeStats:
    """Per digit: mean and std of each feature of :func:`digit_features`, and the spread.

    Parameters
    ----------
    images : (n, 28, 28) float (ink in [0, 1]) or uint8 array
    labels : (n,) int array

    Returns
    -------
    ShapeStats

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 28, 28), np.float32); x[:, 5:20, 10:13] = 1
    >>> s = shape_stats(x, [1, 1])
    >>> float(s.mean[1, 0]), float(s.spread[1])
    (45.0, 0.0)
    """
    x = _check_images(images)
    y = _check_labels(labels, len(x))
    f = digit_features(x)
    mean = np.full((10, 4), np.nan)
    std = np.full((10, 4), np.nan)
    spread = np.full(10, np.nan)
    counts = np.bincount(y, minlength=10)
    flat = x.reshape(len(x), -1).astype(np.float64)
    for d in range(10):
        sel = y == d
        if not sel.any():
            continue
        mean[d] = np.nanmean(f[sel], axis=0)
        std[d] = np.nanstd(f[sel], axis=0, ddof=1) if sel.sum() > 1 else 0.0
        xd = flat[sel]
        spread[d] = np.linalg.norm(xd - xd.mean(axis=0), axis=1).mean()
    return ShapeStats(mean, std, spread, counts)


@dataclass(frozen=True)
class Comparison:
    """Shape statistics of ``a`` against a reference ``b`` (:func:`compare_stats`).

    Attributes
    ----------
    a, b : ShapeStats
    rel : numpy.ndarray
        ``(10, 4, 2)`` relative differences (see :func:`compare_stats`), last
        axis (mean, std).
    n_over_15, n_over_30 : int
        How many of the 80 comparisons differ by more than 15 % and 30 %.
    spread_ratio : numpy.ndarray
        ``(10,)`` spread of ``a`` / spread of ``b``.
    min_spread_ratio : float
    """

    a: ShapeStats
    b: ShapeStats
    rel: np.ndarray
    n_over_15: int
    n_over_30: int
    spread_ratio: np.ndarray
    min_spread_ratio: float
    names: tuple[str, str] = field(default=("source", "real"))

    def summary(self) -> str:
        """One line: the counts and the smallest spread ratio."""
        return (
            f"{self.n_over_15}/80 differ > 15 %, {self.n_over_30}/80 > 30 %, "
            f"spread ratio min {self.min_spread_ratio:.2f}"
        )

    def to_markdown(self) -> str:
        """The full table: one row per digit and feature, then the spread ratios."""
        na, nb = self.names
        lines = [
            f"| digit | feature | mean {nb} | mean {na} | diff | std {nb} | std {na} | diff |",
            "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for d in range(10):
            for j, feat in enumerate(FEATURES):
                r = self.rel[d, j]
                lines.append(
                    f"| {d} | {feat} | {self.b.mean[d, j]:.3f} | {self.a.mean[d, j]:.3f} | "
                    f"{_pct(r[0])} | {self.b.std[d, j]:.3f} | {self.a.std[d, j]:.3f} | "
                    f"{_pct(r[1])} |"
                )
        lines += [
            "",
            "| digit | " + " | ".join(str(d) for d in range(10)) + " |",
            "| --- |" + " ---: |" * 10,
            f"| spread {nb} | " + " | ".join(f"{v:.2f}" for v in self.b.spread) + " |",
            f"| spread {na} | " + " | ".join(f"{v:.2f}" for v in self.a.spread) + " |",
            "| ratio | " + " | ".join(f"{v:.2f}" for v in self.spread_ratio) + " |",
        ]
        return "\n".join(lines)


def _pct(r: float) -> str:
    mark = " **" if r > 0.30 else " *" if r > 0.15 else ""
    return f"{100 * r:.0f} %{mark}"


def compare_stats(
    a: ShapeStats, b: ShapeStats, names: tuple[str, str] = ("source", "real")
) -> Comparison:
    """Compare shape statistics ``a`` against the reference ``b``.

    Relative difference of each of the 80 (digit x feature x {mean, std})
    numbers: ``|a - b| / |b|`` for the stds, ``|a - b| / max(|b|, std_b)``
    for the means. The guard matters only for a signed feature whose mean is
    near zero (slant: real means of 0.01-0.05 with stds of 0.25 would make
    noise look like a 300 % difference); for the others the mean exceeds the
    std and the rule is the plain relative difference. A NaN (absent digit)
    counts as over both limits.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((20, 28, 28), np.float32); x[:, 5:20, 10:13] = 1; x[1::2, 5:20, 13] = 1
    >>> y = np.repeat(np.arange(10), 2)
    >>> same = compare_stats(shape_stats(x, y), shape_stats(x, y))
    >>> same.n_over_15, float(same.min_spread_ratio)
    (0, 1.0)
    >>> compare_stats(shape_stats(x[:10], y[:10]), shape_stats(x, y)).n_over_30  # 5 digits absent
    40
    """
    ref = np.stack([b.mean, b.std], axis=-1)
    val = np.stack([a.mean, a.std], axis=-1)
    scale = np.stack([np.maximum(np.abs(b.mean), b.std), b.std], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.abs(val - ref) / scale
        rel = np.where(val == ref, 0.0, rel)  # 0/0 (e.g. a std of 0 on both sides) is equal
        ratio = a.spread / b.spread
    rel = np.where(np.isnan(rel), np.inf, rel)
    return Comparison(
        a,
        b,
        rel,
        int((rel > 0.15).sum()),
        int((rel > 0.30).sum()),
        ratio,
        float(np.nanmin(ratio)) if np.isfinite(ratio).any() else float("nan"),
        names,
    )


# -- accuracy --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Accuracy:
    """Overall and per-digit accuracy of a classifier on a test set."""

    overall: float
    per_digit: np.ndarray  # (10,), NaN for a digit absent from the test set

    @classmethod
    def of(cls, pred: np.ndarray, labels: np.ndarray) -> Accuracy:
        """Accuracy of predictions ``pred`` against ``labels``."""
        right = np.asarray(pred) == labels
        n = np.bincount(labels, minlength=10)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.bincount(labels, weights=right, minlength=10) / n
        return cls(float(right.mean()) if right.size else float("nan"), per)


def proxy_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    n_components: int = 50,
    k: int = 5,
) -> Accuracy:
    """PCA + k-NN fitted on ``train`` and scored on ``test``: NumPy only, no torch.

    Uses the project's :class:`strokeseq.ReferenceClassifier` (covariance
    eigenvectors, chunked nearest-neighbour search, ties to the nearer).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((20, 28, 28), np.float32); y = np.arange(20) % 2
    >>> x[y == 1, 10:18, 10:18] = 1
    >>> proxy_accuracy(x, y, x, y, n_components=5, k=3).overall
    1.0
    """
    from strokeseq import ReferenceClassifier

    tx = _check_images(train_x, "train_x")
    vx = _check_images(test_x, "test_x")
    ty = _check_labels(train_y, len(tx), "train_y")
    vy = _check_labels(test_y, len(vx), "test_y")
    clf = ReferenceClassifier(n_components=n_components, k=k).fit(tx, ty)
    return Accuracy.of(clf.predict(vx), vy)


def cnn_accuracy(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    epochs: int = 3,
    seed: int = 0,
    batch_size: int = 64,
    lr: float = 1e-3,
    threads: int = 2,
) -> Accuracy:
    """Train a small CNN on ``train`` and score it on ``test`` (torch, CPU).

    Conv(32, 3x3) - ReLU - max-pool 2 - Conv(64, 3x3) - ReLU - max-pool 2 -
    Dense(128) - ReLU - Dense(10); Adam, cross-entropy, ``epochs`` passes in
    shuffled mini-batches. Deterministic for a given ``seed`` and thread
    count; the global torch random state is left as it was.

    Raises
    ------
    ModuleNotFoundError
        torch is not installed (``pip install strokeseq[bench]``).
    """
    import torch
    from torch import nn

    tx = torch.from_numpy(_check_images(train_x, "train_x")).unsqueeze(1)
    vx = torch.from_numpy(_check_images(test_x, "test_x")).unsqueeze(1)
    ty_np = _check_labels(train_y, len(tx), "train_y")
    vy = _check_labels(test_y, len(vx), "test_y")
    ty = torch.from_numpy(ty_np)
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(threads, 2)))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = nn.Sequential(
                nn.Conv2d(1, 32, 3),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(64 * 5 * 5, 128),
                nn.ReLU(),
                nn.Linear(128, 10),
            )
            opt = torch.optim.Adam(model.parameters(), lr=lr)
            loss_fn = nn.CrossEntropyLoss()
            gen = torch.Generator().manual_seed(seed)
            model.train()
            for _ in range(epochs):
                order = torch.randperm(len(tx), generator=gen)
                for s in range(0, len(tx), batch_size):
                    b = order[s : s + batch_size]
                    opt.zero_grad()
                    loss_fn(model(tx[b]), ty[b]).backward()
                    opt.step()
            model.eval()
            with torch.no_grad():
                pred = torch.cat(
                    [model(vx[s : s + 1000]).argmax(1) for s in range(0, len(vx), 1000)]
                )
    finally:
        torch.set_num_threads(before)
    return Accuracy.of(pred.numpy(), vy)


# -- memorisation ----------------------------------------------------------------------------
def nearest_distances(query: np.ndarray, ref: np.ndarray, chunk: int = 256) -> np.ndarray:
    """L2 distance (784-d, ink units) of each query image to its nearest ``ref`` image.

    Chunked float32 matrix products find the neighbour; its distance is then
    recomputed exactly in float64 (an exact copy gives 0).
    """
    q = _check_images(query, "query").reshape(len(query), -1)
    r = _check_images(ref, "ref").reshape(len(ref), -1)
    if not len(r):
        raise ValueError("ref must hold at least one image")
    r_sq = np.einsum("ij,ij->i", r, r)
    out = np.empty(len(q))
    for s in range(0, len(q), chunk):
        qb = q[s : s + chunk]
        d = r_sq[None, :] - 2.0 * (qb @ r.T)  # + |q|^2, the same along each row
        nn = d.argmin(axis=1)
        diff = qb.astype(np.float64) - r[nn].astype(np.float64)
        out[s : s + chunk] = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return out


@dataclass(frozen=True)
class Memorisation:
    """Nearest-training-digit distances: source digits against real test digits.

    Attributes
    ----------
    source : float
        Mean distance of the source digits to their nearest training digit.
    real : float
        The same for real digits never trained on.
    ratio : float
        ``source / real``: >= 1 means no closer to the training set than real
        digits (issue #8's criterion). A low-variety source of prototypical
        digits can fall a little below 1 without copying anything.
    near_copies : float
        Share of source digits nearer to a training digit than the closest 1 %
        of the real digits are: the copies themselves (0.01 for real digits).
    n : int
        Digits in each sample.
    """

    source: float
    real: float
    ratio: float
    near_copies: float
    n: int


def memorisation(
    synth_x: np.ndarray,
    train_x: np.ndarray,
    test_x: np.ndarray,
    *,
    n: int = 1000,
    n_train: int | None = None,
    seed: int = 0,
) -> Memorisation:
    """Mean distance to the nearest training digit: source digits vs real test digits.

    Parameters
    ----------
    synth_x, train_x, test_x : (n, 28, 28) arrays
        Source digits, the training digits (what a model could have copied),
        real digits never trained on.
    n : int
        Digits sampled from ``synth_x`` and from ``test_x`` (without replacement).
    n_train : int, optional
        Sample of ``train_x`` searched (default: all of it).
    seed : int
        Seed of the samples.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train = rng.random((50, 28, 28), dtype=np.float32)
    >>> m = memorisation(train[:10], train, rng.random((10, 28, 28), dtype=np.float32))
    >>> m.source, m.ratio, m.near_copies
    (0.0, 0.0, 1.0)
    """
    rng = np.random.default_rng(seed)

    def pick(x: np.ndarray, k: int | None) -> np.ndarray:
        if k is None or k >= len(x):
            return x
        return x[np.sort(rng.choice(len(x), k, replace=False))]

    ref = pick(train_x, n_train)
    s = pick(synth_x, n)
    t = pick(test_x, n)
    ds, dt = nearest_distances(s, ref), nearest_distances(t, ref)
    near = float(np.mean(ds < np.quantile(dt, 0.01)))
    return Memorisation(
        float(ds.mean()), float(dt.mean()), float(ds.mean() / dt.mean()), near, min(len(s), len(t))
    )
