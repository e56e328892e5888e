"""Pack MNIST-style IDX files into one ``.npz`` (``x_train, y_train, x_test, y_test``).

Usage: ``python -m data_prep.mnist_to_npz DIR [--out DIR/mnist.npz]`` where DIR holds
``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``
and ``t10k-labels-idx1-ubyte[.gz]`` (MNIST or Fashion-MNIST).
"""

import argparse
import gzip
import struct
import sys
from pathlib import Path

import numpy as np


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    dtype = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}[data[2]]
    ndim = data[3]
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} but holds {arr.size} values.")
    return arr.reshape(shape)


def _find(directory, stem):
    for name in (stem, stem + ".gz"):
        if (directory / name).exists():
            return directory / name
    raise FileNotFoundError(f"{directory} has no {stem}[.gz]")


def convert(directory, out=None):
    directory = Path(directory)
    arrays = {
        "x_train": read_idx(_find(directory, "train-images-idx3-ubyte")),
        "y_train": read_idx(_find(directory, "train-labels-idx1-ubyte")),
        "x_test": read_idx(_find(directory, "t10k-images-idx3-ubyte")),
        "y_test": read_idx(_find(directory, "t10k-labels-idx1-ubyte")),
    }
    out = Path(out) if out else directory / "mnist.npz"
    np.savez_compressed(out, **arrays)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m data_prep.mnist_to_npz")
    p.add_argument("directory", type=Path)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    print(convert(args.directory, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
