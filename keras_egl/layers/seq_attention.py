"""Sequence (decoder) attention: softmax Bahdanau/Luong and monotonic attention.

Used by DynGraph2Seq's graph-to-sequence attention (Gao et al., ICDM 2019;
thesis ch. 3, eqs. 3.17-3.19), whose monotonic form is Raffel et al.'s
expected alignment ("Online and Linear-Time Attention by Enforcing Monotonic
Alignments", ICML 2017), and by the NMT / Graph2Seq baselines (softmax
attention, Bahdanau et al. 2015; Luong et al. 2015).

Every attention layer is called as
``layer(query, memory, keys=None, mask=None, previous_alignment=None)`` with
``query [B, Q]`` (the previous decoder state s_{i-1}), ``memory [B, T, M]``
and returns ``(context [B, M], alignment [B, T])``. ``keys`` is
``layer.process_memory(memory)``; pass it to avoid recomputing the memory
projection at every decoder step.
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.layers.masking import ConsumesMask
from keras_egl.validation import assert_values, check_float, check_positive_int

_SCORES = ("bahdanau", "luong")


def _check_seed(seed, name="seed"):
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`{name}` must be an int or None; received {type(seed).__name__} {seed!r}.")
    return None if seed is None else int(seed)


def _eager_range(x, name, low, high):
    """Eager-only value check (inside a graph the op runs unchecked, as before)."""
    if tf.executing_eagerly():
        assert_values(x, name, low=low, high=high)


def _check_score(score):
    if score not in _SCORES:
        raise ValueError(f"`score` must be one of {_SCORES}; received {score!r}.")


def monotonic_expected_alignment(p_choose, previous_alignment, eps=1e-10):
    r"""Raffel et al.'s expected monotonic alignment (eqs. 3.18-3.19).

    ::

        q[i, t] = (1 - p[i, t-1]) q[i, t-1] + alpha[i-1, t],   q[i, 0] = p[i, 0] = 0
        alpha[i, t] = p[i, t] q[i, t]

    Computed in closed form, ``q[t] = sum_{s<=t} alpha_prev[s] prod_{r=s}^{t-1} (1 - p[r])``,
    with the products taken as exponentials of differences of a cumulative sum of
    ``log(1 - p)`` (no division by a cumulative product, so it is stable when p
    approaches 1). Mass is conserved or lost, never created: if
    ``sum(previous_alignment) <= 1`` then ``sum(alpha) <= 1``.

    Args:
        p_choose: ``[B, T]`` selection probabilities in [0, 1].
        previous_alignment: ``[B, T]`` alpha_{i-1}.
        eps: floor of ``1 - p`` inside the log.

    Returns:
        ``[B, T]`` alignment alpha_i.
    """
    eps = check_float(eps, "eps", low=0.0, low_inclusive=False)
    p = tf.convert_to_tensor(p_choose)
    prev = tf.cast(previous_alignment, p.dtype)
    if p.shape.rank != 2 or prev.shape.rank != 2:
        raise ValueError("`p_choose` and `previous_alignment` must be [B, T]; received "
                         f"{p.shape} and {prev.shape}.")
    if not prev.shape.is_compatible_with(p.shape):
        raise ValueError(f"`previous_alignment` must have the shape of `p_choose` {p.shape} (one alignment "
                         f"per sample over the same memory); received {prev.shape}.")
    _eager_range(p, "p_choose", 0.0, 1.0)
    log1m = tf.math.log(tf.clip_by_value(1.0 - p, eps, 1.0))
    cum = tf.math.cumsum(log1m, axis=1, exclusive=True)  # L_t = sum_{r<t} log(1 - p_r)
    diff = cum[:, :, None] - cum[:, None, :]  # [B, t, s] = L_t - L_s
    t = tf.shape(p)[1]
    tri = tf.linalg.band_part(tf.ones([t, t], dtype=tf.bool), -1, 0)[None]  # s <= t
    tri = tf.broadcast_to(tri, tf.shape(diff))
    # Double where: the upper triangle has positive differences whose exp could overflow.
    safe = tf.where(tri, diff, tf.zeros_like(diff))
    trans = tf.where(tri, tf.exp(safe), tf.zeros_like(diff))
    q = tf.einsum("bts,bs->bt", trans, prev)
    return p * q


class _ScoreMixin:
    def _init(self, offset, default):
        # One seed per weight (a seeded initializer repeats its draws); None: Keras' unseeded.
        if self.init_seed is None:
            return default
        config = keras.initializers.get(default).get_config()
        config["seed"] = self.init_seed + offset
        return type(keras.initializers.get(default)).from_config(config)

    def _build_score(self, query_dim):
        if self.score == "bahdanau":
            self.query_dense = keras.layers.Dense(self.units, use_bias=False, name="query",
                                                  kernel_initializer=self._init(0, "glorot_uniform"))
            self.memory_dense = keras.layers.Dense(self.units, use_bias=False, name="memory",
                                                   kernel_initializer=self._init(1, "glorot_uniform"))
            self.v = self.add_weight(name="v", shape=(self.units,),
                                     initializer=self._init(2, "random_normal"))
        else:
            self.memory_dense = keras.layers.Dense(query_dim, use_bias=False, name="memory",
                                                   kernel_initializer=self._init(1, "glorot_uniform"))

    def process_memory(self, memory):
        """Project the memory once per sequence: ``keys [B, T, units or Q]``.

        The layer must be built first (``layer.build((None, query_dim))``).
        """
        if not self.built:
            raise ValueError(f"{self.name}: call `build((None, query_dim))` before "
                             "`process_memory`; the layer is not built yet.")
        return self.memory_dense(memory)

    def _energy(self, query, keys):
        if self.score == "bahdanau":
            q = self.query_dense(query)[:, None, :]
            return tf.reduce_sum(self.v * tf.tanh(keys + q), axis=-1)
        return tf.reduce_sum(keys * query[:, None, :], axis=-1)

    @staticmethod
    def _check_inputs(query, memory):
        if query.shape.rank != 2:
            raise ValueError(f"`query` must be [B, Q]; received shape {query.shape}.")
        if memory.shape.rank != 3:
            raise ValueError(f"`memory` must be [B, T, M]; received shape {memory.shape}.")


@keras.saving.register_keras_serializable(package="keras_egl")
class SoftmaxAttention(_ScoreMixin, ConsumesMask, keras.layers.Layer):
    r"""Normalised (softmax) attention with Bahdanau or Luong scores.

    ::

        bahdanau: e[t] = v . tanh(W_q s + W_m o[t])
        luong:    e[t] = s . (W_m o[t])
        alpha = softmax(e) over unmasked t;   r = sum_t alpha[t] o[t]

    The follow-up code's default (``Bahdanau``, 128 units). With Luong scores
    the query is the previous decoder state s_{i-1}, like the monotonic form of
    eq. 3.17 (Luong et al. use the current state; documented choice).

    Args:
        units: attention size (Bahdanau); ignored by Luong.
        score: ``"bahdanau"`` or ``"luong"``.
        init_seed: seed of the score weights' initializers (None: Keras' unseeded
            defaults; a seed gives the same weights under Keras 3 and tf_keras).

    Input/Output: see the module docstring; ``previous_alignment`` is ignored.

    Example:
        >>> att = SoftmaxAttention(8)
        >>> r, a = att(tf.ones([2, 4]), tf.ones([2, 5, 3]))
        >>> r.shape, a.shape
        (TensorShape([2, 3]), TensorShape([2, 5]))
    """

    def __init__(self, units=128, score="bahdanau", init_seed=None, **kwargs):
        super().__init__(**kwargs)
        self._accept_mask()
        _check_score(score)
        self.units = check_positive_int(units, "units")
        self.score = score
        self.init_seed = _check_seed(init_seed, "init_seed")

    def build(self, input_shape):
        query_shape = tf.TensorShape(input_shape)
        if query_shape.rank != 2 or query_shape[-1] is None:
            raise ValueError(f"`query` must be [B, Q] with known Q; received shape {query_shape}.")
        self._build_score(int(query_shape[-1]))
        super().build(input_shape)

    def call(self, query, memory, keys=None, mask=None, previous_alignment=None, training=None):
        query = tf.convert_to_tensor(query)
        memory = tf.convert_to_tensor(memory)
        self._check_inputs(query, memory)
        if keys is None:
            keys = self.process_memory(memory)
        e = self._energy(query, keys)
        if mask is not None:
            mask = tf.cast(mask, tf.bool)
            if not mask.shape.is_compatible_with(e.shape):
                raise ValueError(f"`mask` must be [B, T] = {e.shape} (one flag per memory position); "
                                 f"received {mask.shape}.")
            e = tf.where(mask, e, tf.fill(tf.shape(e), tf.constant(-1e9, e.dtype)))
            alpha = tf.nn.softmax(e, axis=-1) * tf.cast(mask, e.dtype)
            alpha = tf.math.divide_no_nan(alpha, tf.reduce_sum(alpha, -1, keepdims=True))
        else:
            alpha = tf.nn.softmax(e, axis=-1)
        context = tf.einsum("bt,btm->bm", alpha, memory)
        return context, alpha

    def initial_alignment(self, batch_size, memory_length, dtype=tf.float32):
        """Zeros; softmax attention does not carry its alignment."""
        return tf.zeros([batch_size, memory_length], dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "score": self.score, "init_seed": self.init_seed})
        return config


@keras.saving.register_keras_serializable(package="keras_egl")
class MonotonicAttention(_ScoreMixin, ConsumesMask, keras.layers.Layer):
    r"""Monotonic expected-alignment attention (eqs. 3.17-3.19, Raffel et al. 2017).

    ::

        e[i, t] = a(s_{i-1}, o[t]) + r;     p[i, t] = sigmoid(e[i, t] + noise)
        alpha_i = monotonic_expected_alignment(p_i, alpha_{i-1});  r_i = sum_t alpha[i, t] o[t]

    The thesis leaves alpha_0 unspecified; we use Raffel et al.'s one-hot on
    the first memory position (:meth:`initial_alignment`), without which every
    alpha is zero. ``r`` is a learned scalar score bias initialised at
    ``score_bias_init`` (-1, the follow-up code's value). ``sigmoid_noise``
    (follow-up code: 1.0; our default 0.0) adds Gaussian pre-sigmoid noise only
    when ``training`` is true, to push p towards 0/1. Masked positions get
    p = 0 and therefore no alignment.

    Args:
        units: attention size (Bahdanau score).
        score: ``"bahdanau"`` or ``"luong"``.
        score_bias_init: initial score bias.
        sigmoid_noise: std of the training-time pre-sigmoid noise.
        seed: seed of that noise.
        init_seed: seed of the score weights' initializers (as in :class:`SoftmaxAttention`).

    Example:
        >>> att = MonotonicAttention(8)
        >>> a0 = att.initial_alignment(2, 5)
        >>> r, a1 = att(tf.ones([2, 4]), tf.ones([2, 5, 3]), previous_alignment=a0)
        >>> bool(tf.reduce_all(tf.reduce_sum(a1, -1) <= 1.0 + 1e-6))
        True
    """

    def __init__(self, units=128, score="bahdanau", score_bias_init=-1.0, sigmoid_noise=0.0,
                 seed=None, init_seed=None, **kwargs):
        super().__init__(**kwargs)
        self._accept_mask()
        _check_score(score)
        self.units = check_positive_int(units, "units")
        self.score = score
        self.score_bias_init = check_float(score_bias_init, "score_bias_init")
        self.sigmoid_noise = check_float(sigmoid_noise, "sigmoid_noise", low=0.0)
        self.seed = _check_seed(seed)
        self.init_seed = _check_seed(init_seed, "init_seed")

    def build(self, input_shape):
        query_shape = tf.TensorShape(input_shape)
        if query_shape.rank != 2 or query_shape[-1] is None:
            raise ValueError(f"`query` must be [B, Q] with known Q; received shape {query_shape}.")
        self._build_score(int(query_shape[-1]))
        self.score_bias = self.add_weight(
            name="score_bias", shape=(),
            initializer=keras.initializers.Constant(self.score_bias_init))
        self._noise = keras.layers.GaussianNoise(self.sigmoid_noise, seed=self.seed) \
            if self.sigmoid_noise > 0 else None
        super().build(input_shape)

    def p_choose(self, query, keys, mask=None, training=None):
        """Selection probabilities ``[B, T]`` (eq. 3.17)."""
        e = self._energy(query, keys) + self.score_bias
        if self._noise is not None:
            e = self._noise(e, training=training)
        p = tf.sigmoid(e)
        if mask is not None:
            p = p * tf.cast(mask, p.dtype)
        return p

    def call(self, query, memory, keys=None, mask=None, previous_alignment=None, training=None):
        query = tf.convert_to_tensor(query)
        memory = tf.convert_to_tensor(memory)
        self._check_inputs(query, memory)
        if previous_alignment is None:
            raise ValueError("MonotonicAttention needs `previous_alignment` (alpha_{i-1}); "
                             "received None. Start from `initial_alignment(batch, T)`.")
        if keys is None:
            keys = self.process_memory(memory)
        p = self.p_choose(query, keys, mask, training)
        alpha = monotonic_expected_alignment(p, previous_alignment)
        context = tf.einsum("bt,btm->bm", alpha, memory)
        return context, alpha

    def initial_alignment(self, batch_size, memory_length, dtype=tf.float32):
        """alpha_0: one-hot on the first memory position (Raffel et al.)."""
        return tf.one_hot(tf.zeros([batch_size], tf.int32), memory_length, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "score": self.score,
                       "score_bias_init": self.score_bias_init,
                       "sigmoid_noise": self.sigmoid_noise, "seed": self.seed,
                       "init_seed": self.init_seed})
        return config


def get_sequence_attention(kind, units=128, **kwargs):
    """Factory: ``None``/``"none"`` -> None, ``"bahdanau"``, ``"luong"``, ``"monotonic"``
    (Bahdanau score) or ``"monotonic_luong"``."""
    if kind in (None, "none", False):
        return None
    if kind in ("bahdanau", "luong"):
        return SoftmaxAttention(units, score=kind, **kwargs)
    if kind == "monotonic":
        return MonotonicAttention(units, score="bahdanau", **kwargs)
    if kind == "monotonic_luong":
        return MonotonicAttention(units, score="luong", **kwargs)
    raise ValueError("`kind` must be one of None, 'bahdanau', 'luong', 'monotonic', "
                     f"'monotonic_luong'; received {kind!r}.")


__all__ = ["SoftmaxAttention", "MonotonicAttention", "monotonic_expected_alignment",
           "get_sequence_attention"]
