"""NumPy inputs to ``fit`` as one repeated ``tf.data`` pipeline.

Keras 3 rebuilds the input pipeline of in-memory arrays at every epoch — two
iterators per epoch (one at the start, one prepared at the end and then
discarded), each instantiating a dataset that holds the arrays. On a 2-core CPU
that costs 40–60 ms per epoch for 1,000 × 75 floats and ~100 ms for 4,000 MNIST
digits, two to three times a small model's whole epoch. tf_keras built one
pipeline and repeated it over the epochs.

:meth:`ExplanationGuidedModel.fit` therefore hands Keras one infinitely
repeated dataset and ``steps_per_epoch = ceil(n / batch_size)``: one iterator
for the whole fit, the same batches (in order without ``shuffle``; a fresh
permutation per epoch with it, drawn by ``tf.data`` from TensorFlow's global
seed), floats cast to ``floatx`` as both Keras versions do. It does so under
both bindings, so a seeded fit sees the same batch order under Keras 3 and
tf_keras. Anything else — ``validation_split``, ``class_weight``,
``steps_per_epoch``, ``shuffle="batch"``, positional arguments, a distribution
strategy, datasets, generators, pandas — goes to Keras unchanged.

Measured (``benchmarks/``-style, 2 cores, MLP 75-50-2, 1,000 rows, batch 256,
30 epochs): Keras 3 80 ms/epoch from arrays → 28 ms/epoch from a dataset;
tf_keras 25 → 23 ms.
"""

import math

import numpy as np

from keras_egl._keras import keras, tf

__all__ = ["repeated_array_fit"]

_FALLBACK_KEYS = ("validation_split", "class_weight", "steps_per_epoch")


def _is_array(a):
    if isinstance(a, np.ndarray):
        return a.ndim > 0 and a.dtype != object
    return isinstance(a, tf.Tensor) and a.shape.rank not in (None, 0) and tf.executing_eagerly()


def _batch_size(v):
    """``v`` as a positive int, or ``None`` (Keras then names the bad argument itself)."""
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1:
        return int(v)
    return None


def _structure_of_arrays(s):
    if isinstance(s, dict):
        return bool(s) and all(_is_array(v) for v in s.values())
    return _is_array(s)


def _as_tensors(s):
    def conv(a):
        a = a if isinstance(a, tf.Tensor) else np.asarray(a)
        dtype = tf.as_dtype(a.dtype)
        if dtype.is_floating and dtype.name != keras.backend.floatx():
            return tf.cast(a, keras.backend.floatx())
        return tf.convert_to_tensor(a)

    return tf.nest.map_structure(conv, s)


def _length(s):
    return int(tf.nest.flatten(s)[0].shape[0])


def _dataset(parts, batch_size, shuffle):
    """One pass = ``ceil(n / batch_size)`` batches, repeated forever (reshuffled per pass)."""
    parts = _as_tensors(parts)
    n = _length(parts)
    index = tf.data.Dataset.range(n)
    if shuffle:
        index = index.shuffle(n, reshuffle_each_iteration=True)
    index = index.batch(batch_size).repeat()
    data = tf.data.Dataset.from_tensors(parts).repeat()
    ds = tf.data.Dataset.zip((index, data)).map(
        lambda i, d: tf.nest.map_structure(lambda t: tf.gather(t, i), d),
        num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE), math.ceil(n / batch_size)


def _validation(data, batch_size):
    if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
        return None
    if not all(_structure_of_arrays(p) for p in data if p is not None) or data[0] is None:
        return None
    parts = tuple(p for p in data if p is not None)
    if len({_length(p) for p in parts}) != 1:
        return None  # let Keras raise its own error on mismatched lengths
    return _dataset(parts, batch_size, shuffle=False)


def repeated_array_fit(model, x, y, args, kwargs):
    """``(x, y, kwargs)`` for ``keras.Model.fit`` with arrays as one repeated dataset, or ``None``.

    ``None`` means "leave the call to Keras as it is" (see the module docstring
    for when).
    """
    if args or any(kwargs.get(k) not in (None, 0, 0.0) for k in _FALLBACK_KEYS):
        return None
    shuffle = kwargs.get("shuffle", True)
    if not isinstance(shuffle, (bool, np.bool_)):
        return None
    if tf.distribute.has_strategy() or model.distribute_strategy is not tf.distribute.get_strategy():
        return None
    sample_weight = kwargs.get("sample_weight")
    if not _structure_of_arrays(x) or y is None or not _structure_of_arrays(y) or (
            sample_weight is not None and not _is_array(sample_weight)):
        return None
    n = _length(x)
    if n == 0:
        return None
    batch_size = _batch_size(kwargs.get("batch_size") or 32)
    if batch_size is None:
        return None
    parts = (x, y) if sample_weight is None else (x, y, sample_weight)
    dataset, steps = _dataset(parts, batch_size, bool(shuffle))
    kwargs = {k: v for k, v in kwargs.items() if k not in ("batch_size", "sample_weight", "shuffle")}
    kwargs["steps_per_epoch"] = steps
    kwargs["shuffle"] = False
    if kwargs.get("validation_data") is not None and kwargs.get("validation_steps") is None:
        val_bs = _batch_size(kwargs.get("validation_batch_size") or batch_size)
        if val_bs is not None:
            val = _validation(kwargs["validation_data"], val_bs)
            if val is not None:
                kwargs["validation_data"], kwargs["validation_steps"] = val
                kwargs.pop("validation_batch_size", None)
    return dataset, None, kwargs
