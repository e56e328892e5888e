"""Iris-Cancer: construction by position, zeroed iris columns, usage score."""

import numpy as np
import pytest

from keras_egl.data.iris_cancer import iris_cancer, iris_cancer_arrays, top_k_block_usage


def test_full_arrays():
    from sklearn.datasets import load_breast_cancer, load_iris

    X, y = iris_cancer_arrays()
    assert X.shape == (100, 34)
    np.testing.assert_array_equal(y, [0] * 50 + [1] * 50)
    iris, bc = load_iris(), load_breast_cancer()
    np.testing.assert_array_equal(X[:50, :4], iris.data[iris.target == 1])
    np.testing.assert_array_equal(X[50:, :4], iris.data[iris.target == 2])
    np.testing.assert_array_equal(X[:50, 4:], bc.data[bc.target == 0][:50])
    np.testing.assert_array_equal(X[50:, 4:], bc.data[bc.target == 1][:50])


def test_split_zeroed_and_seeded():
    d = iris_cancer(seed=0)
    assert d["X"].shape == (67, 34) and d["Xt"].shape == (33, 34)
    assert np.all(d["Xt_zeroed"][:, :4] == 0)
    np.testing.assert_array_equal(d["Xt_zeroed"][:, 4:], d["Xt"][:, 4:])
    assert np.any(d["Xt"][:, :4] != 0)
    # A (the iris decoy, a wrong reason) under the annotation vocabulary's key
    assert "A" not in d and "At" not in d
    assert np.all(d["neg_mask"][:, :4] == 1) and np.all(d["neg_mask"][:, 4:] == 0)
    assert d["neg_mask"].shape == d["X"].shape and d["neg_mask_t"].shape == d["Xt"].shape
    assert np.all(d["neg_mask_t"][:, :4] == 1) and np.all(d["neg_mask_t"][:, 4:] == 0)
    d2 = iris_cancer(seed=0)
    np.testing.assert_array_equal(d["X"], d2["X"])
    assert not np.array_equal(d["X"], iris_cancer(seed=1)["X"])
    with pytest.raises(ValueError, match="test_size"):
        iris_cancer(test_size=1.5)


def test_top_k_usage_by_hand():
    g = np.zeros((2, 34))
    g[0, 20:34] = 0.1                      # no ties with the zero iris entries
    g[0, [0, 1, 10, 11]] = [5, 4, 3, 2]   # two iris features on top
    g[1, 4:14] = 1.0
    g[1, 0] = 0.5                          # iris feature just outside the top 10
    assert top_k_block_usage(g, k=10) == pytest.approx((2 + 0) / 2)
    assert top_k_block_usage(g, k=3) == pytest.approx((2 + 0) / 2)
    with pytest.raises(ValueError, match="k"):
        top_k_block_usage(g, k=0)
