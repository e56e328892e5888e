"""Minibatch schedules: the reference RRR code's ``always_include`` oversampling.

Ross et al.'s ``fit(..., always_include=idx)`` prepends the annotated rows to
every minibatch ("can transition with 10s of annotations if we oversample in
minibatches"): :func:`always_include_batches` gives the index arrays of one
epoch, :class:`AlwaysIncludeSequence` feeds them to ``fit``.
"""

import numpy as np

from keras_egl._keras import keras
from keras_egl.validation import check_bool, check_positive_int

__all__ = ["always_include_batches", "AlwaysIncludeSequence"]


def always_include_batches(n, include, batch_size=256, shuffle=False, seed=None, epoch=0):
    """Index arrays of one epoch where every batch starts with the rows ``include``.

    The remaining rows are cut into batches of ``batch_size`` in fixed order
    (reference) or in a seeded per-epoch permutation (``shuffle=True``); the
    last batch may be short. Rows in ``include`` are not repeated among the
    remaining rows.

    Returns:
      A list of int arrays.
    """
    n = check_positive_int(n, "n", minimum=0)
    shuffle = check_bool(shuffle, "shuffle")
    raw = np.asarray(include)
    if raw.dtype == bool:
        raise TypeError("`include` must be row indices, not a boolean mask (use np.flatnonzero(mask)).")
    if raw.size and raw.dtype.kind not in "iu":
        raise TypeError(f"`include` must be integer row indices; got dtype {raw.dtype}.")
    include = np.unique(raw.astype(np.int64).ravel())
    if include.size and (include.min() < 0 or include.max() >= n):
        raise ValueError(f"`include` indices must be in [0, {n}); got min {include.min()}, max {include.max()}.")
    batch_size = check_positive_int(batch_size, "batch_size", minimum=0)
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size!r}.")
    rest = np.setdiff1d(np.arange(n), include)
    if shuffle:
        rng = np.random.default_rng(None if seed is None else [int(seed), int(epoch)])
        rest = rng.permutation(rest)
    if rest.size == 0:
        return [include.copy()]
    return [np.concatenate([include, rest[i:i + int(batch_size)]])
            for i in range(0, rest.size, int(batch_size))]


class AlwaysIncludeSequence(keras.utils.Sequence):
    """A ``keras.utils.Sequence`` over ``(x_dict, y)`` with ``include`` rows in every batch.

    Args:
      x: dict of arrays (e.g. ``{"x": X, "neg_mask": A}``) or one array.
      y: labels.
      include: indices of the annotated rows.
      batch_size: rows per batch besides ``include``.
      shuffle: permute the other rows each epoch (seeded) instead of the
        reference's fixed order.
      seed: seed of the permutation.

    Example:
      >>> seq = AlwaysIncludeSequence({"x": X, "neg_mask": A}, y, include=np.flatnonzero(A.any(1)))
      >>> rrr.fit(seq, epochs=10)
    """

    def __init__(self, x, y, include, batch_size=256, shuffle=False, seed=None):
        super().__init__()
        self.x = x
        self.y = np.asarray(y)
        self.n = len(self.y)
        for k, v in (x.items() if isinstance(x, dict) else [("x", x)]):
            if len(v) != self.n:
                raise ValueError(f"`x[{k!r}]` has {len(v)} rows but `y` has {self.n}.")
        self.include = include
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self._batches = always_include_batches(self.n, include, self.batch_size, self.shuffle, seed, 0)

    def __len__(self):
        return len(self._batches)

    def __getitem__(self, i):
        idx = self._batches[i]
        if isinstance(self.x, dict):
            xb = {k: np.asarray(v)[idx] for k, v in self.x.items()}
        else:
            xb = np.asarray(self.x)[idx]
        return xb, self.y[idx]

    def on_epoch_end(self):
        self.epoch += 1
        if self.shuffle:
            self._batches = always_include_batches(self.n, self.include, self.batch_size, True,
                                                   self.seed, self.epoch)
