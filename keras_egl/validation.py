"""The one place keras_egl validates arguments and annotation tensors.

Every public object checks its arguments with these helpers, so an error always
reads the same way: the argument's name in backticks, what was expected, and
``got <value>`` (the wording keras_egl has used since its first release; see
``docs/ARCHITECTURE.md``).

Two families:

* constructor arguments (Python values, checked once): :func:`check_choice`,
  :func:`check_float` (finite, optional bounds — ``inf``/``nan`` are refused),
  :func:`check_non_negative`, :func:`check_positive_int`, :func:`check_pair`,
  :func:`check_bool`;
* tensors fed to ``fit``/``evaluate`` (checked where they are used):
  :func:`check_mask` (shape against the annotated tensor, finite, values in
  [0, 1]) and :func:`check_per_sample` (one entry per sample). Static
  properties (rank, spatial size) are checked when the step is traced and
  raise ``ValueError``; value properties are checked eagerly with a
  ``ValueError`` and, inside ``tf.function``, by ``tf.debugging`` assertions
  whose ``InvalidArgumentError`` message names the argument the same way — so
  a 0/255 mask or a NaN in an annotation stops ``fit`` instead of training on it.
"""

import math
import numbers

import numpy as np

from keras_egl._keras import tf

__all__ = [
    "check_choice",
    "check_float",
    "check_non_negative",
    "check_positive_int",
    "check_pair",
    "check_bool",
    "check_key",
    "check_mask",
    "check_per_sample",
    "assert_values",
]


# --------------------------------------------------------------------------- Python arguments


def check_choice(value, choices, name):
    """``value`` if it is one of ``choices`` else ``ValueError`` naming ``name``."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a set
        ok = False
    if not ok:
        raise ValueError(f"`{name}` must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_float(value, name, low=None, high=None, low_inclusive=True, high_inclusive=True,
                allow_none=False):
    """A finite real number as ``float``, optionally bounded.

    ``bool``, strings and other non-numbers raise ``TypeError``; ``nan``,
    ``±inf`` and out-of-range values raise ``ValueError`` — all naming ``name``.
    """
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.generic)):
        raise TypeError(f"`{name}` must be a real number; got {type(value).__name__} {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"`{name}` must be a finite number; got {value!r}.")
    if low is not None and (value < low or (value == low and not low_inclusive)):
        op = ">=" if low_inclusive else ">"
        raise ValueError(f"`{name}` must be {op} {low}; got {value!r}.")
    if high is not None and (value > high or (value == high and not high_inclusive)):
        op = "<=" if high_inclusive else "<"
        raise ValueError(f"`{name}` must be {op} {high}; got {value!r}.")
    return value


def check_non_negative(value, name):
    """A finite float ``>= 0`` (λs, weights, coefficients)."""
    return check_float(value, name, low=0.0)


def check_positive_int(value, name, minimum=1):
    """An ``int`` ``>= minimum`` (``bool`` and floats are refused)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"`{name}` must be an int >= {minimum}; got {type(value).__name__} {value!r}.")
    if int(value) < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; got {value!r}.")
    return int(value)


def check_pair(value, name, minimum=1):
    """An int or a 2-sequence of ints ``>= minimum`` → ``(a, b)``."""
    if isinstance(value, (numbers.Integral, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = (int(value), int(value))
    try:
        pair = tuple(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an int or a pair of ints; got {value!r}.") from None
    if len(pair) != 2 or not all(isinstance(v, (numbers.Integral, np.integer))
                                 and not isinstance(v, (bool, np.bool_)) for v in pair):
        raise TypeError(f"`{name}` must be an int or a pair of ints; got {value!r}.")
    if pair[0] < minimum or pair[1] < minimum:
        raise ValueError(f"`{name}` must be >= {minimum}; got {value!r}.")
    return int(pair[0]), int(pair[1])


def check_bool(value, name):
    """A Python/NumPy bool (``0``/``1`` and strings are refused: ``"False"`` is truthy)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"`{name}` must be True or False; got {type(value).__name__} {value!r}.")
    return bool(value)


def check_key(value, name, optional=False):
    """An input-dict key: a non-empty string (or ``None`` when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise TypeError(f"`{name}` must be a non-empty string (an input-dict key)"
                        f"{' or None' if optional else ''}; got {type(value).__name__} {value!r}.")
    return value


# --------------------------------------------------------------------------- tensors


def assert_values(t, name, low=None, high=None, finite=True, what=None):
    """Check ``t``'s values (finite, within ``[low, high]``), eagerly or in graph mode.

    Returns ``t`` (in graph mode with the assertions as control dependencies).
    """
    if not (t.dtype.is_floating or t.dtype.is_integer):
        return t
    what = what or (f"values in [{low}, {high}]" if low is not None and high is not None else "finite values")
    if tf.executing_eagerly():
        v = t.numpy()
        if finite and t.dtype.is_floating and not np.all(np.isfinite(v)):
            raise ValueError(f"`{name}` must hold {what}; got NaN or infinite entries (shape {t.shape}).")
        if v.size and ((low is not None and v.min() < low) or (high is not None and v.max() > high)):
            raise ValueError(f"`{name}` must hold {what}; got values in [{v.min()}, {v.max()}] "
                             f"(shape {t.shape}).")
        return t
    deps = []
    if finite and t.dtype.is_floating:
        deps.append(tf.debugging.assert_all_finite(t, f"`{name}` must hold {what}; got NaN or inf"))
    if low is not None:
        deps.append(tf.debugging.assert_greater_equal(
            t, tf.cast(low, t.dtype), message=f"`{name}` must hold {what}; got values < {low}"))
    if high is not None:
        deps.append(tf.debugging.assert_less_equal(
            t, tf.cast(high, t.dtype), message=f"`{name}` must hold {what}; got values > {high}"))
    with tf.control_dependencies(deps):
        return tf.identity(t)


def check_mask(mask, name, like=None, spatial_rank=2, allow_channels=False, check_values=True,
               dtype=tf.float32):
    """Validate an annotation mask and return it as ``(B, *spatial)`` float.

    Accepts ``(B, *S)`` or ``(B, *S, 1)`` (and, with ``allow_channels``, the
    channel count of ``like`` — the input-space masks of RRR). ``S`` must equal
    ``like``'s spatial size (``like`` is the annotated tensor: the model input
    ``(B, *S, C)`` or a map ``(B, *S)``); nothing is broadcast or stretched.
    With ``check_values``, entries must be finite and in ``[0, 1]`` (0/1 masks
    or soft weights; a 0/255 image mask is refused).

    Args:
      mask: the mask (tensor, array, bool/int/float).
      name: the argument/key name used in errors.
      like: the tensor the mask annotates (``None`` = only the rank is checked).
      spatial_rank: number of spatial axes ``S`` (2 for images, 1 for features).
      allow_channels: keep a trailing channel axis equal to ``like``'s.
      check_values: finite and in ``[0, 1]``.
      dtype: the returned dtype.

    Returns:
      ``(B, *S)`` (or ``(B, *S, C)`` when a full channel axis was given and
      ``allow_channels``) tensor of ``dtype``.
    """
    if mask is None:
        raise ValueError(f"`{name}` is required; got None.")
    mask = tf.convert_to_tensor(mask)
    if not (mask.dtype.is_floating or mask.dtype.is_integer or mask.dtype == tf.bool):
        raise TypeError(f"`{name}` must be a numeric or boolean mask; got dtype {mask.dtype.name}.")
    rank = mask.shape.rank
    if rank is None:
        raise ValueError(f"`{name}` must have a known rank (B, {'S, ' * spatial_rank}[1]); got unknown rank.")
    dims = mask.shape.as_list()
    expected = None
    channels = None
    if like is not None:
        like_dims = like.shape.as_list()
        expected = like_dims[1:1 + spatial_rank]
        if len(like_dims) > 1 + spatial_rank:
            channels = like_dims[-1]
    if rank == spatial_rank + 2:
        if dims[-1] == 1:
            mask = mask[..., 0]
        elif not (allow_channels and channels is not None and dims[-1] == channels):
            allowed = "1" if not allow_channels or channels is None else f"1 or {channels}"
            raise ValueError(f"`{name}` has shape {tuple(dims)}: its last axis must be {allowed} "
                             f"(one mask per {'image' if spatial_rank == 2 else 'sample'}); "
                             f"masks are never reduced over channels.")
    elif rank != spatial_rank + 1:
        raise ValueError(f"`{name}` must have shape (B, {', '.join('HW'[:spatial_rank]) if spatial_rank <= 2 else 'S...'}) "
                         f"or (B, ..., 1); got shape {tuple(dims)}.")
    spatial = dims[1:1 + spatial_rank]
    if expected is not None and not tf.executing_eagerly() and \
            any(a is None and b is not None for a, b in zip(spatial, expected)):
        # Python generators and Sequences reach the step with every dimension
        # unknown: check the sizes at run time (naming the key), then restore
        # the static shape the resize/pooling ops need.
        got = tf.shape(mask)[1:1 + spatial_rank]
        with tf.control_dependencies([tf.debugging.assert_equal(
                got, tf.constant([int(e) for e in expected], got.dtype),
                message=f"`{name}` must have the spatial size {tuple(expected)} of the annotated tensor")]):
            mask = tf.identity(mask)
        mask.set_shape([dims[0]] + [int(e) for e in expected] + dims[1 + spatial_rank:])
        dims = mask.shape.as_list()
        spatial = dims[1:1 + spatial_rank]
    if expected is not None and any(a is not None and b is not None and a != b
                                    for a, b in zip(spatial, expected)):
        raise ValueError(f"`{name}` has spatial size {tuple(spatial)} but the annotated tensor has "
                         f"{tuple(expected)} (shape {tuple(like.shape.as_list())}); masks are not resized "
                         f"implicitly — resize them to the input first.")
    if like is not None and dims[0] is not None and like.shape[0] is not None and dims[0] != like.shape[0]:
        raise ValueError(f"`{name}` has {dims[0]} samples but the annotated tensor has {like.shape[0]}.")
    if mask.dtype != dtype:
        mask = tf.cast(mask, dtype)
    if check_values:
        mask = assert_values(mask, name, low=0.0, high=1.0, what="mask values in [0, 1]")
    if like is not None and not tf.executing_eagerly() and (dims[0] is None or like.shape[0] is None):
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.shape(mask)[0], tf.shape(like)[0],
                message=f"`{name}` must have one mask per sample of the batch")]):
            mask = tf.identity(mask)
    return mask


def check_per_sample(vector, name, batch_like, low=None, high=None, dtype=tf.float32):
    """A ``(B,)`` per-sample vector (flags, weights) with exactly one entry per sample.

    ``(B, 1)`` is accepted and flattened; a length-1 vector for a larger batch
    (which NumPy/TensorFlow would broadcast) is an error naming ``name``, also
    in graph mode. Values must be finite (and within ``[low, high]`` if given).
    """
    v = tf.convert_to_tensor(vector)
    if not (v.dtype.is_floating or v.dtype.is_integer or v.dtype == tf.bool):
        raise TypeError(f"`{name}` must be numeric; got dtype {v.dtype.name}.")
    if v.shape.rank == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.shape.rank != 1:
        raise ValueError(f"`{name}` must have shape (batch,) — one entry per sample; got shape {v.shape}.")
    v = tf.cast(v, dtype)
    batch_like = tf.convert_to_tensor(batch_like)
    n, b = v.shape[0], batch_like.shape[0]
    if n is not None and b is not None:
        if n != b:
            raise ValueError(f"`{name}` must have one entry per sample ({b}); got {n} entries.")
    elif tf.executing_eagerly():  # pragma: no cover - eager shapes are known
        pass
    else:
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.shape(v)[0], tf.shape(batch_like)[0],
                message=f"`{name}` must have one entry per sample of the batch")]):
            v = tf.identity(v)
    what = None
    if low is not None and high is not None:
        what = f"values in [{low}, {high}]"
    return assert_values(v, name, low=low, high=high, what=what)
