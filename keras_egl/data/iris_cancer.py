"""Iris-Cancer (Ross, Hughes & Doshi-Velez, IJCAI 2017) from scikit-learn's bundled data.

100 examples × 34 features: 4 iris features (versicolor then virginica, 50
each) beside 30 breast-cancer features (the first 50 malignant then the first
50 benign rows). Labels are by position: 0 for the first 50 rows, 1 for the
last 50, so **both** blocks predict the label. The split is 67/33
(``test_size=0.33``); the test set is also given with the iris columns zeroed —
the iris block is the decoy. ``A`` marks the 4 iris columns (a *wrong
reason*: the data dict holds it under ``"neg_mask"``).

The reference's split is unseeded (hence its 350 repeats); here ``seed=None``
keeps that behaviour and an int makes it reproducible.

Score: :func:`iris_usage` — the mean number of iris features among the
top-``k`` |input-gradient| features (reference: 2.63 for A = 0 vs 0.0019 with
A on the iris columns, k = 10).
"""

import numbers

import numpy as np

from keras_egl.validation import check_float, check_positive_int

__all__ = ["IRIS_COLUMNS", "iris_cancer_arrays", "iris_cancer", "top_k_block_usage", "iris_usage"]

IRIS_COLUMNS = slice(0, 4)


def iris_cancer_arrays():
    """The full 100×34 ``(X, y)`` before splitting (float64, int64)."""
    from sklearn.datasets import load_breast_cancer, load_iris

    iris, bc = load_iris(), load_breast_cancer()
    iris_x = np.vstack([iris.data[iris.target == 1], iris.data[iris.target == 2]])
    bc_x = np.vstack([bc.data[bc.target == 0][:50], bc.data[bc.target == 1][:50]])
    X = np.hstack([iris_x, bc_x])
    y = np.array([0] * 50 + [1] * 50, dtype=np.int64)
    return X, y


def iris_cancer(test_size=0.33, seed=None):
    """A random split of Iris-Cancer.

    Args:
      test_size: fraction of test rows (0.33 → 67/33).
      seed: split seed; ``None`` = unseeded like the reference.

    Returns:
      A dict with ``X, y`` (train), ``Xt`` (test, iris kept), ``Xt_zeroed``
      (test, iris columns 0), ``yt``, ``neg_mask`` (train annotation ``A``:
      1 on the iris columns of every row, float32) and ``neg_mask_t`` (the
      same for the test rows).
    """
    from sklearn.model_selection import train_test_split

    test_size = check_float(test_size, "test_size", low=0.0, high=1.0, low_inclusive=False, high_inclusive=False)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"`seed` must be an int or None; got {type(seed).__name__} {seed!r}.")
    X_all, y_all = iris_cancer_arrays()
    X, Xt, y, yt = train_test_split(X_all, y_all, test_size=float(test_size), random_state=seed)
    Xt_zeroed = Xt.copy()
    Xt_zeroed[:, IRIS_COLUMNS] = 0.0
    A = np.zeros(X.shape, np.float32)
    A[:, IRIS_COLUMNS] = 1.0
    At = np.zeros(Xt.shape, np.float32)
    At[:, IRIS_COLUMNS] = 1.0
    return {"X": X.astype(np.float32), "y": y, "Xt": Xt.astype(np.float32),
            "Xt_zeroed": Xt_zeroed.astype(np.float32), "yt": yt, "neg_mask": A,
            "neg_mask_t": At}


def top_k_block_usage(grads, block=IRIS_COLUMNS, k=10):
    """Mean over examples of how many ``block`` features are among the top-``k`` |grads|.

    Ties are broken by the stable order of ``argsort`` (lower index first is
    *not* favoured: features are ranked by descending magnitude).
    """
    g = np.abs(np.asarray(grads, dtype=np.float64))
    if g.ndim != 2:
        raise ValueError(f"`grads` must be (N, D); got shape {g.shape}.")
    if not np.all(np.isfinite(g)):
        raise ValueError("`grads` must hold finite values; got NaN or infinite entries.")
    if not 1 <= check_positive_int(k, "k", minimum=0) <= g.shape[1]:
        raise ValueError(f"`k` must be in [1, {g.shape[1]}]; got {k!r}.")
    in_block = np.zeros(g.shape[1], bool)
    try:
        in_block[block] = True
    except (IndexError, TypeError, ValueError) as exc:
        raise ValueError(f"`block` must select columns of `grads` (indices in [0, {g.shape[1]})); got {block!r} "
                         f"({exc}).") from None
    top = np.argsort(-g, axis=1, kind="stable")[:, :int(k)]
    return float(in_block[top].sum(1).mean())


def iris_usage(model, X, k=10, target="max_prob"):
    """Iris features among the top-``k`` |∇ target| of ``model`` on ``X`` (mean over rows)."""
    from keras_egl._keras import tf
    from keras_egl.explain.gradients import input_gradients

    g = input_gradients(model, tf.constant(np.asarray(X, np.float32)), target=target,
                        stop_gradient=True).numpy()
    return top_k_block_usage(g, IRIS_COLUMNS, k)
