import gzip
import struct

import numpy as np
import pytest

from data_prep.mnist_to_npz import convert, read_idx


def _write_idx(path, arr, gz=False):
    header = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    data = header + arr.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    xs = {"train": rng.integers(0, 255, (5, 28, 28)), "t10k": rng.integers(0, 255, (3, 28, 28))}
    ys = {"train": rng.integers(0, 10, 5), "t10k": rng.integers(0, 10, 3)}
    for split in xs:
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte.gz", xs[split], gz=True)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte", ys[split])
    out = np.load(convert(tmp_path))
    np.testing.assert_array_equal(out["x_train"], xs["train"])
    np.testing.assert_array_equal(out["y_test"], ys["t10k"])


def test_bad_magic(tmp_path):
    (tmp_path / "f").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "f")
