"""Pack MNIST-style IDX files into one ``.npz`` (``x_train, y_train, x_test, y_test``).

Usage: ``python -m data_prep.mnist_to_npz DIR [--out DIR/mnist.npz]`` where DIR holds
``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``, ``t10k-images-idx3-ubyte[.gz]``
and ``t10k-labels-idx1-ubyte[.gz]`` (MNIST or Fashion-MNIST).
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from keras_egl.data.mnist import IDX_FILES, load_mnist_like, read_idx  # noqa: F401


def convert(directory, out=None):
    """Write ``DIR/mnist.npz`` (or ``out``) from the four IDX files in ``directory``."""
    directory = Path(directory)
    arrays = dict(zip(IDX_FILES, load_mnist_like(directory, npz_name="(none)", what="MNIST IDX files")))
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
