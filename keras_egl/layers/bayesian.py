"""Variational (Bayes-by-Backprop) layers with the local reparameterisation trick.

Bekkemoen (2021), *Correcting Classification: A Bayesian Framework Using
Explanation Feedback to Improve Classification Abilities* (NTNU master thesis,
§2.5.6–2.5.7, §5.1; article arXiv:2105.02653 §2). Every weight **and bias** has
a mean-field Gaussian posterior ``q(w) = N(μ, σ²)`` with ``σ = softplus(ρ) + ε``
and a Gaussian prior ``N(0, s²)`` (``s = 0.1``, article §4). With the local
reparameterisation trick (LRT; Kingma et al. 2015) a layer does not sample
weights: it samples its **pre-activations** from their exact Gaussian
distribution given the layer input ``Z``:

    dense:  γ = Z·M + μ_b,          δ = Z²·σ_W² + σ_b²          (thesis Ex. 1)
    conv:   γ = Z ∗ M + μ_b,        δ = Z² ∗ σ_W² + σ_b²        (thesis Ex. 2;
                                     the thesis omits σ_b², the 2024 code keeps it)
    U = γ + √δ · ε,   ε ~ N(0, 1) per example and unit.

TensorFlow Probability has ``DenseLocalReparameterization`` but no
convolutional LRT layer, and none of its layers exposes the activation moments
``(γ, √δ)`` that Bekkemoen's feedback evidence needs (``P(a_F = 0 | X)`` is the
density of this Gaussian at 0). These layers fill that gap while keeping TFP's
conventions: a pluggable posterior, prior and divergence
(``posterior_fn``, ``prior_fn``, ``divergence_fn``) and the KL added through
``add_loss`` on every call, scaled by ``kl_weight`` (``1/n_train`` for the
per-sample ELBO ``KL/n − E[log P(y|·)]`` of eq. 5.14).

What the layers add beyond TFP:

* ``return_moments=True`` returns ``(outputs, pre_activation, mean, stddev)``;
  inside :func:`record_moments` the same tensors are stored on the layer (this
  is how a model-level training step reads them from any functional or
  subclassed model).
* ``clamp_mask`` (or the :func:`clamp_preactivations` context) zeroes chosen
  pre-activations *before* the activation: the evidence ``a_F = 0`` of eq. 5.13.
* a mean-weights (deterministic) mode, switched by :func:`mean_weights` or
  ``layer.set_mean_weights(True)`` without retracing (it is a variable).
* ``σ`` underflow is clamped: ``stddev = √max(δ, min_stddev²)``, so
  ``log N(0; γ, δ)`` is finite.
"""

import contextlib
import copy
import warnings

import numpy as np

from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.validation import (check_bool, check_choice, check_float, check_non_negative, check_pair,
                                   check_positive_int)
import tensorflow_probability as tfp  # noqa: E402  (after _keras: binds Keras 2)

tfd = tfp.distributions

__all__ = [
    "BayesianDense",
    "BayesianConv2D",
    "default_posterior_fn",
    "default_divergence_fn",
    "normal_prior_fn",
    "bayesian_layers",
    "set_kl_weight",
    "mean_weights",
    "clamp_preactivations",
    "record_moments",
    "to_bayesian",
]


# --------------------------------------------------------------------------- pluggable parts


@keras.saving.register_keras_serializable(package="keras_egl")
def default_posterior_fn(loc, scale):
    """Mean-field Gaussian posterior ``N(loc, scale²)`` (elementwise, not reduced)."""
    return tfd.Normal(loc=loc, scale=scale)


@keras.saving.register_keras_serializable(package="keras_egl")
def default_divergence_fn(q, p, sample=None):
    """``Σ KL(q ‖ p)`` via ``tfd.kl_divergence`` (closed form for Gaussians).

    Signature follows TFP's ``kernel_divergence_fn(q, p, sample)``; ``sample`` is
    ``None`` here because LRT layers never draw a weight sample.
    """
    del sample
    return tf.reduce_sum(tfd.kl_divergence(q, p))


@keras.saving.register_keras_serializable(package="keras_egl")
class normal_prior_fn:  # noqa: N801 - used like a function factory
    """Prior factory ``(dtype, shape) -> N(0, stddev²)`` (the article's ``N(0, 0.1² I)``).

    Args:
      stddev: prior standard deviation ``s`` (> 0).
    """

    def __init__(self, stddev=0.1):
        self.stddev = check_float(stddev, "stddev", low=0.0, low_inclusive=False)

    def __call__(self, dtype, shape):
        return tfd.Normal(loc=tf.zeros(shape, dtype), scale=tf.cast(self.stddev, dtype) * tf.ones(shape, dtype))

    def get_config(self):
        return {"stddev": self.stddev}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def _serialize_fn(fn):
    return None if fn is None else keras.saving.serialize_keras_object(fn)


def _deserialize_fn(cfg):
    return None if cfg is None else keras.saving.deserialize_keras_object(copy.deepcopy(cfg))


# --------------------------------------------------------------------------- base layer


def _master(variable):
    """The float32 master variable behind a mixed-precision AutoCastVariable (else itself)."""
    return getattr(variable, "_variable", variable)


class _LRTLayer(keras.layers.Layer):
    """Shared machinery of the LRT layers (weights, KL, modes, moments, clamping)."""

    _warned_kl_weight = False  # class-level: warn once per process

    def __init__(self, activation=None, use_bias=True, prior_stddev=0.1, posterior_rho_init=-4.0,
                 kernel_mu_initializer="he_uniform", bias_mu_initializer="zeros", kl_weight=None,
                 posterior_fn=None, prior_fn=None, divergence_fn=None, min_stddev=1e-6,
                 sigma_epsilon=1e-8, seed=None, **kwargs):
        # LRT layers compute in float32 under any mixed-precision policy: the
        # variance path (σ² ≈ 1e-4 at the default ρ, and the evidence's
        # ∂/∂σ ∝ μ²/σ³) overflows float16 in the backward pass, so loss scaling
        # would skip every update. Neighbouring layers keep the policy.
        policy = kwargs.get("dtype")
        name = getattr(policy, "name", policy) if not isinstance(policy, dict) else \
            policy.get("config", {}).get("name")
        if policy is None:
            name = keras.mixed_precision.global_policy().name
        if isinstance(name, str) and name.startswith("mixed_"):
            kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        prior_stddev = check_float(prior_stddev, "prior_stddev", low=0.0, low_inclusive=False)
        posterior_rho_init = check_float(posterior_rho_init, "posterior_rho_init")
        # σ-like arguments must be > 0: they keep log σ and log N(0; μ, σ²) finite.
        min_stddev = check_float(min_stddev, "min_stddev", low=0.0, low_inclusive=False)
        sigma_epsilon = check_float(sigma_epsilon, "sigma_epsilon", low=0.0, low_inclusive=False)
        if kl_weight is not None:
            kl_weight = check_non_negative(kl_weight, "kl_weight")
        if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"`seed` must be an int or None; got {seed!r}.")
        for name, fn in (("posterior_fn", posterior_fn), ("prior_fn", prior_fn), ("divergence_fn", divergence_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"`{name}` must be callable or None; got {type(fn).__name__}.")
        self.activation = keras.activations.get(activation)
        self.use_bias = bool(use_bias)
        self.prior_stddev = prior_stddev
        self.posterior_rho_init = float(posterior_rho_init)
        self.kernel_mu_initializer = keras.initializers.get(kernel_mu_initializer)
        self.bias_mu_initializer = keras.initializers.get(bias_mu_initializer)
        self.posterior_fn = posterior_fn
        self.prior_fn = prior_fn
        self.divergence_fn = divergence_fn
        self.min_stddev = float(min_stddev)
        self.sigma_epsilon = float(sigma_epsilon)
        self.seed = seed
        self._kl_weight_init = None if kl_weight is None else float(kl_weight)
        self._clamp_mask = None
        self._recording = False
        self.last_moments = None

    # ------------------------------------------------------------- weights
    def _add_params(self, kernel_shape, bias_shape):
        rho_init = keras.initializers.Constant(self.posterior_rho_init)
        self.kernel_mu = self.add_weight(name="kernel_mu", shape=kernel_shape,
                                         initializer=self.kernel_mu_initializer, trainable=True)
        self.kernel_rho = self.add_weight(name="kernel_rho", shape=kernel_shape,
                                          initializer=rho_init, trainable=True)
        if self.use_bias:
            self.bias_mu = self.add_weight(name="bias_mu", shape=bias_shape,
                                           initializer=self.bias_mu_initializer, trainable=True)
            self.bias_rho = self.add_weight(name="bias_rho", shape=bias_shape,
                                            initializer=rho_init, trainable=True)
        else:
            self.bias_mu = self.bias_rho = None
        # Modes live in variables so switching them never retraces a tf.function.
        self._mean_mode = self.add_weight(name="mean_mode", shape=(), initializer="zeros",
                                          trainable=False)
        init = -1.0 if self._kl_weight_init is None else self._kl_weight_init
        self._kl_weight = self.add_weight(name="kl_weight", shape=(),
                                          initializer=keras.initializers.Constant(init), trainable=False)
        with tf.init_scope():
            if self.seed is None:
                self._rng = tf.random.Generator.from_non_deterministic_state()
            else:
                self._rng = tf.random.Generator.from_seed(int(self.seed))

    def _sigma(self, rho):
        return tf.nn.softplus(rho) + self.sigma_epsilon

    @property
    def kernel_sigma(self):
        return self._sigma(self.kernel_rho)

    @property
    def bias_sigma(self):
        return None if self.bias_rho is None else self._sigma(self.bias_rho)

    # ------------------------------------------------------------- modes
    @property
    def kl_weight(self):
        if not self.built:
            return self._kl_weight_init
        v = float(self._kl_weight.numpy()) if tf.executing_eagerly() else None
        return None if v is not None and v < 0 else v

    def set_kl_weight(self, value):
        """Set the KL scale (``1/n_train`` for the per-sample ELBO)."""
        value = check_non_negative(value, "kl_weight")
        self._kl_weight_init = value
        if self.built:
            self._kl_weight.assign(value)

    def set_mean_weights(self, enabled=True):
        """Deterministic mode: pre-activations are their means (mean-weight network)."""
        if not self.built:
            raise ValueError(f"layer {self.name!r} is not built yet; call it once before switching modes.")
        self._mean_mode.assign(1.0 if enabled else 0.0)

    # ------------------------------------------------------------- KL
    def _posterior(self, loc, scale):
        return (self.posterior_fn or default_posterior_fn)(loc, scale)

    def _prior(self, dtype, shape):
        fn = self.prior_fn or normal_prior_fn(self.prior_stddev)
        return fn(dtype, shape)

    def kl_divergence(self):
        """Unscaled ``KL(q(w) ‖ p(w))`` summed over kernel and bias, in the variables' dtype.

        Under a mixed-precision policy the layer's call reads its variables cast
        to float16; the KL of a whole layer easily exceeds float16's range
        (and its loss-scaled gradient always does), so it is computed from the
        float32 variables themselves.
        """
        div = self.divergence_fn or default_divergence_fn
        mu = _master(self.kernel_mu)
        kl = div(self._posterior(mu, self._sigma(_master(self.kernel_rho))), self._prior(mu.dtype, mu.shape), None)
        if self.use_bias:
            b = _master(self.bias_mu)
            kl += div(self._posterior(b, self._sigma(_master(self.bias_rho))), self._prior(b.dtype, b.shape), None)
        return kl

    def _scaled_kl(self, training=None):
        w = self._kl_weight
        # Warn on training calls only: building a functional model calls the layer
        # before any model had the chance to set the weight from the data size.
        if training and self._kl_weight_init is None and not _LRTLayer._warned_kl_weight:
            _LRTLayer._warned_kl_weight = True
            warnings.warn(
                f"BayesianLayer {self.name!r}: `kl_weight` is not set for the data size; the KL is "
                "added unscaled (weight 1). Set it to 1/n_train (e.g. BayesianFeedbackModel(n_train=...) "
                "or keras_egl.layers.bayesian.set_kl_weight(model, 1/n)).", stacklevel=3)
        w = _master(w)
        w = tf.where(w < 0, tf.ones_like(w), w)
        return w * self.kl_divergence()

    # ------------------------------------------------------------- forward
    def _moments(self, inputs):  # pragma: no cover - abstract
        raise NotImplementedError

    def call(self, inputs, training=None, clamp_mask=None, return_moments=False):
        inputs = tf.convert_to_tensor(inputs)
        if not inputs.dtype.is_floating:
            inputs = tf.cast(inputs, self.compute_dtype)
        mean, var = self._moments(inputs)
        # Clamp σ² from below: σ → 0 would send log N(0; μ, σ²) to ±∞.
        std = tf.sqrt(tf.maximum(var, self.min_stddev ** 2))
        eps = self._rng.normal(tf.shape(mean), dtype=mean.dtype)
        pre = mean + (1.0 - tf.cast(self._mean_mode, mean.dtype)) * std * eps
        if clamp_mask is None:
            clamp_mask = self._clamp_mask
        if clamp_mask is not None:
            clamp_mask = tf.cast(clamp_mask, pre.dtype)
            if clamp_mask.shape.rank is not None and pre.shape.rank is not None:
                if clamp_mask.shape.rank != pre.shape.rank or not clamp_mask.shape[1:].is_compatible_with(pre.shape[1:]):
                    raise ValueError(f"`clamp_mask` of layer {self.name!r} must have the pre-activation "
                                     f"shape {pre.shape}; got {clamp_mask.shape}.")
            pre = pre * (1.0 - clamp_mask)
        self.add_loss(self._scaled_kl(training))
        out = self.activation(pre)
        if self._recording:
            self.last_moments = {"pre_activation": pre, "mean": mean, "stddev": std}
        if return_moments:
            return out, pre, mean, std
        return out

    def get_config(self):
        config = super().get_config()
        config.update({
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "prior_stddev": self.prior_stddev,
            "posterior_rho_init": self.posterior_rho_init,
            "kernel_mu_initializer": keras.initializers.serialize(self.kernel_mu_initializer),
            "bias_mu_initializer": keras.initializers.serialize(self.bias_mu_initializer),
            "kl_weight": self._kl_weight_init,
            "posterior_fn": _serialize_fn(self.posterior_fn),
            "prior_fn": _serialize_fn(self.prior_fn),
            "divergence_fn": _serialize_fn(self.divergence_fn),
            "min_stddev": self.min_stddev,
            "sigma_epsilon": self.sigma_epsilon,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("posterior_fn", "prior_fn", "divergence_fn"):
            config[key] = _deserialize_fn(config.get(key))
        return cls(**config)


_COMMON_ARGS_DOC = """
      activation: activation applied after the (optionally clamped) pre-activation.
      use_bias: Gaussian bias posterior (the thesis's q(B) = N(μ_B, σ_B²)).
      prior_stddev: ``s`` of the default prior ``N(0, s²)``; 0.1 (article §4).
      posterior_rho_init: initial ``ρ`` (σ = softplus(ρ) + ε); −4 → σ ≈ 0.018
        (unstated in the thesis; the 2024 code uses −2 … −4.2).
      kernel_mu_initializer, bias_mu_initializer: initialisers of the means.
      kl_weight: scale of the KL added with ``add_loss`` — ``1/n_train`` for the
        per-sample ELBO. ``None``: the model sets it (``BayesianFeedbackModel``
        does from ``n_train`` or the ``fit`` data); if still unset at call
        time the KL is added unscaled and a warning is issued once.
      posterior_fn: ``(loc, scale) -> tfd.Distribution`` (elementwise); default
        ``tfd.Normal``. The LRT itself always uses ``loc``/``scale`` (it
        needs a location–scale Gaussian); the posterior object feeds the KL.
      prior_fn: ``(dtype, shape) -> tfd.Distribution``; default ``N(0, s²)``.
      divergence_fn: ``(q, p, sample) -> scalar``; default ``Σ tfd.kl_divergence``.
      min_stddev: lower clamp of the pre-activation std (keeps densities finite).
      sigma_epsilon: ε in σ = softplus(ρ) + ε (1e-8 as in the 2024 code).
      seed: seed of the layer's noise generator (``None``: non-deterministic).
"""


@keras.saving.register_keras_serializable(package="keras_egl")
class BayesianDense(_LRTLayer):
    __doc__ = f"""Fully connected LRT layer (Bekkemoen 2021, thesis Example 1).

    ``U ~ N(Z·M + μ_b, Z²·σ_W² + σ_b²)`` sampled per example; KL to the prior
    added with ``add_loss`` (× ``kl_weight``).

    Input shape: ``(B, ..., d_in)``. Output shape: ``(B, ..., units)``.

    Args:
      units: number of output units.
{_COMMON_ARGS_DOC}
    Call args:
      training: unused (sampling happens in both phases unless mean mode is on).
      clamp_mask: optional 0/1 tensor of the output shape; 1 zeroes that
        pre-activation (evidence ``a = 0``).
      return_moments: return ``(outputs, pre_activation, mean, stddev)``.

    Example:
      >>> layer = BayesianDense(10, kl_weight=1 / 60000)
      >>> out, pre, mu, sd = layer(tf.ones((4, 8)), return_moments=True)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, "units")

    def build(self, input_shape):
        d = input_shape[-1]
        if d is None:
            raise ValueError(f"the last input dimension of {self.name!r} must be known; got {input_shape}.")
        self._add_params((int(d), self.units), (self.units,))
        super().build(input_shape)

    def _moments(self, inputs):
        mean = tf.tensordot(inputs, self.kernel_mu, axes=[[-1], [0]])
        var = tf.tensordot(tf.square(inputs), tf.square(self.kernel_sigma), axes=[[-1], [0]])
        if self.use_bias:
            mean = mean + self.bias_mu
            var = var + tf.square(self.bias_sigma)
        return mean, var

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)[:-1].concatenate([self.units])

    def get_config(self):
        config = super().get_config()
        config["units"] = self.units
        return config


@keras.saving.register_keras_serializable(package="keras_egl")
class BayesianConv2D(_LRTLayer):
    __doc__ = f"""2-D convolution with the local reparameterisation trick (thesis Example 2).

    ``μ_U = Z ∗ M + μ_b`` and ``σ_U² = Z² ∗ σ_W² + σ_b²`` (the bias variance
    follows the 2024 code; ``use_bias=False`` gives the thesis's formula),
    units treated as independent. Channels-last.

    Input shape: ``(B, H, W, C_in)``. Output shape: ``(B, H', W', filters)``.

    Args:
      filters: number of output channels.
      kernel_size: int or pair.
      strides: int or pair.
      padding: ``"valid"`` or ``"same"``.
      dilation_rate: int or pair.
{_COMMON_ARGS_DOC}
    Call args: as :class:`BayesianDense` (``clamp_mask`` of the output shape).

    Example:
      >>> conv = BayesianConv2D(16, 3, padding="same", activation="relu", kl_weight=1e-4)
      >>> y = conv(tf.zeros((2, 28, 28, 1)))
    """

    def __init__(self, filters, kernel_size, strides=1, padding="valid", dilation_rate=1, **kwargs):
        super().__init__(**kwargs)
        self.filters = check_positive_int(filters, "filters")
        self.padding = check_choice(str(padding).lower(), ("valid", "same"), "padding")
        self.kernel_size = check_pair(kernel_size, "kernel_size")
        self.strides = check_pair(strides, "strides")
        self.dilation_rate = check_pair(dilation_rate, "dilation_rate")

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"{self.name!r} expects (B, H, W, C) input with known C; got {input_shape}.")
        self._add_params(self.kernel_size + (int(input_shape[-1]), self.filters), (self.filters,))
        super().build(input_shape)

    def _conv(self, x, kernel):
        if self.dilation_rate != (1, 1):
            # tf.nn.convolution (as keras.layers.Conv2D): dilation > 1 goes through
            # space-to-batch, whose gradient exists on CPU (tf.nn.conv2d's does not).
            return tf.nn.convolution(x, kernel, strides=self.strides, padding=self.padding.upper(),
                                     dilations=self.dilation_rate)
        # Undilated: tf.nn.conv2d, as before the converter. Both compute the same
        # convolution, but inside a traced train step TensorFlow's graph rewrites
        # treat them differently and the float rounding of a BatchNorm network
        # (AlexNet-BN) moves, which changed the reproductions' numbers.
        return tf.nn.conv2d(x, kernel, strides=(1,) + self.strides + (1,), padding=self.padding.upper())

    def _moments(self, inputs):
        mean = self._conv(inputs, self.kernel_mu)
        var = self._conv(tf.square(inputs), tf.square(self.kernel_sigma))
        if self.use_bias:
            mean = mean + self.bias_mu
            var = var + tf.square(self.bias_sigma)
        return mean, var

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape).as_list()
        out = []
        for size, k, s, d in zip(shape[1:3], self.kernel_size, self.strides, self.dilation_rate):
            if size is None:
                out.append(None)
            elif self.padding == "same":
                out.append(-(-size // s))
            else:
                out.append(-(-(size - (k - 1) * d) // s))
        return tf.TensorShape([shape[0]] + out + [self.filters])

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                       "padding": self.padding, "dilation_rate": self.dilation_rate})
        return config


# --------------------------------------------------------------------------- model-level helpers


def bayesian_layers(model):
    """All LRT layers of ``model`` (recursively through nested models), in order."""
    if not isinstance(model, keras.layers.Layer) or not hasattr(model, "layers"):
        raise TypeError(f"`model` must be a keras Model (holding BayesianDense/BayesianConv2D layers); got "
                        f"{type(model).__name__}.")
    found = []

    def visit(layer):
        if isinstance(layer, _LRTLayer):
            found.append(layer)
        for sub in getattr(layer, "layers", []) or []:
            visit(sub)

    for layer in model.layers:
        visit(layer)
    return found


def set_kl_weight(model, kl_weight):
    """Set ``kl_weight`` (e.g. ``1/n_train``) on every LRT layer of ``model``."""
    layers = bayesian_layers(model)
    for layer in layers:
        layer.set_kl_weight(kl_weight)
    return len(layers)


@contextlib.contextmanager
def mean_weights(model, enabled=True):
    """Context in which every LRT layer of ``model`` uses its mean weights.

    Example:
      >>> with mean_weights(model):
      ...     saliency = input_gradients(model, x, target="pred")
    """
    enabled = check_bool(enabled, "enabled")
    layers = [l for l in bayesian_layers(model) if l.built]
    old = [float(l._mean_mode.numpy()) for l in layers]
    for layer in layers:
        layer.set_mean_weights(enabled)
    try:
        yield model
    finally:
        for layer, v in zip(layers, old):
            layer._mean_mode.assign(v)


@contextlib.contextmanager
def clamp_preactivations(layer, mask):
    """Context in which ``layer`` zeroes the pre-activations where ``mask`` is 1."""
    if not isinstance(layer, _LRTLayer):
        raise TypeError(f"`layer` must be a BayesianDense/BayesianConv2D; got {type(layer).__name__}.")
    old = layer._clamp_mask
    layer._clamp_mask = mask
    try:
        yield layer
    finally:
        layer._clamp_mask = old


@contextlib.contextmanager
def record_moments(layer):
    """Context in which ``layer.last_moments`` holds ``pre_activation``, ``mean``, ``stddev``
    of its most recent call (tensors of the current trace)."""
    if not isinstance(layer, _LRTLayer):
        raise TypeError(f"`layer` must be a BayesianDense/BayesianConv2D; got {type(layer).__name__}.")
    old = layer._recording
    layer._recording = True
    layer.last_moments = None
    try:
        yield layer
    finally:
        layer._recording = old


# --------------------------------------------------------------------------- converter


_REG_ATTRS = ("kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
              "bias_constraint")


def _is_cloneable(model):
    """Functional or Sequential (what ``keras.models.clone_model`` can rebuild layer by layer)."""
    return isinstance(model, keras.Sequential) or _compat.is_functional(model)


def _convertible(layer):
    # Exact types only: subclasses (Conv2DTranspose is a Conv2D subclass, user
    # subclasses may change `call`) cannot be replaced without changing the model.
    return type(layer) in (keras.layers.Conv2D, keras.layers.Dense)


def _walk(model):
    """Every layer of ``model``, recursing into nested functional/Sequential models, in order."""
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model) and _is_cloneable(layer):
            yield from _walk(layer)


def _check_conv(layer):
    if layer.data_format != "channels_last":
        raise ValueError(f"`model`: cannot convert Conv2D {layer.name!r}: data_format={layer.data_format!r}; "
                         "BayesianConv2D is channels-last only. Rebuild the model with "
                         "data_format='channels_last' (or leave the layer out of `layers`).")
    if getattr(layer, "groups", 1) != 1:
        raise ValueError(f"`model`: cannot convert Conv2D {layer.name!r}: groups={layer.groups}; BayesianConv2D has "
                         "no grouped convolution (leave the layer out of `layers`).")


def _lrt_from(layer, prior_stddev, posterior_rho_init, seed):
    """A :class:`BayesianConv2D`/:class:`BayesianDense` with ``layer``'s configuration."""
    dropped = [a for a in _REG_ATTRS if getattr(layer, a, None) is not None]
    if dropped:
        warnings.warn(f"to_bayesian: layer {layer.name!r} has {', '.join(dropped)}; the Bayesian layer does "
                      "not keep them (its KL to the prior is the regulariser).", stacklevel=4)
    common = dict(activation=keras.activations.serialize(layer.activation), use_bias=layer.use_bias,
                  prior_stddev=prior_stddev, posterior_rho_init=posterior_rho_init,
                  kernel_mu_initializer=keras.initializers.serialize(layer.kernel_initializer),
                  bias_mu_initializer=keras.initializers.serialize(layer.bias_initializer),
                  seed=seed, name=layer.name, trainable=layer.trainable, dtype=layer.dtype_policy)
    if isinstance(layer, keras.layers.Conv2D):
        _check_conv(layer)
        return BayesianConv2D(layer.filters, tuple(layer.kernel_size), strides=tuple(layer.strides),
                              padding=layer.padding, dilation_rate=tuple(layer.dilation_rate), **common)
    return BayesianDense(layer.units, **common)


def _copy_weights(src, new, converted, init_from_weights):
    if converted:
        if not init_from_weights:
            return
        pairs = [(src.kernel, new.kernel_mu)] + ([(src.bias, new.bias_mu)] if src.use_bias else [])
        for s, d in pairs:
            if tuple(s.shape) != tuple(d.shape):  # pragma: no cover - same config implies same shapes
                raise ValueError(f"to_bayesian: weight {s.name} of {src.name!r} has shape {tuple(s.shape)}, "
                                 f"the Bayesian layer expects {tuple(d.shape)}.")
            d.assign(s)
        return
    weights = src.get_weights()
    if weights:
        new.set_weights(weights)


def _convert(model, selected, offsets, init_from_weights, prior_stddev, posterior_rho_init, seed):
    pairs = []  # (source layer, new layer, converted?) of this level

    def clone_fn(layer):
        if isinstance(layer, keras.Model) and _is_cloneable(layer):
            # Nested backbone: convert it recursively (weights copied inside).
            return _convert(layer, selected, offsets, init_from_weights, prior_stddev, posterior_rho_init, seed)
        if id(layer) in selected:
            s = None if seed is None else int(seed) + offsets[id(layer)]
            new = _lrt_from(layer, prior_stddev, posterior_rho_init, s)
            pairs.append((layer, new, True))
            return new
        new = layer.__class__.from_config(layer.get_config())
        pairs.append((layer, new, False))
        return new

    clone = keras.models.clone_model(model, clone_function=clone_fn)
    if model.built and not clone.built:
        # A Sequential built without an Input layer (`build(shape)` or a first call).
        shape = _compat.built_input_shape(model)
        if shape is None:
            raise ValueError(f"to_bayesian: cannot rebuild the Sequential model {model.name!r}; give it an "
                             "explicit `keras.Input(shape)` as first layer.")
        clone.build(shape)
    for src, new, converted in pairs:
        if src.built:
            _copy_weights(src, new, converted, init_from_weights)
    return clone


def to_bayesian(model, layers=None, init_from_weights=True, prior_stddev=0.1, posterior_rho_init=-4.0,
                seed=None, name=None):
    """Convert a Keras CNN into a Bayesian one by swapping in the LRT layers.

    Returns a **new** model (built with ``keras.models.clone_model``; the input
    model is not modified) in which the chosen ``keras.layers.Conv2D`` and
    ``keras.layers.Dense`` layers are replaced by :class:`BayesianConv2D` and
    :class:`BayesianDense` with the same configuration (``filters``/``units``,
    ``kernel_size``, ``strides``, ``padding``, ``dilation_rate``,
    ``activation``, ``use_bias``, ``trainable``, dtype policy and **layer
    name**), so any backbone can be used with
    :class:`~keras_egl.models.bayesian.BayesianFeedbackModel` (name one of the
    converted Conv2D layers as its ``target_layer``; its pre-activation is the
    conv output *before* the layer's own activation).

    Each replaced deterministic weight ``w`` becomes a mean-field Gaussian
    posterior ``q(w) = N(μ, σ²)``, ``σ = softplus(ρ) + ε``, with prior
    ``N(0, prior_stddev²)``; the layer samples its pre-activations with the
    local reparameterisation trick and adds ``kl_weight · KL(q ‖ p)`` to
    ``model.losses`` on every call (``kl_weight`` is left unset: the
    ``BayesianFeedbackModel`` or :func:`set_kl_weight` sets it to ``1/n_train``).
    With ``init_from_weights=True`` the posterior means are the source weights,
    ``μ_W = W`` and ``μ_b = b``, and every ``ρ = posterior_rho_init``, so

    * under :func:`mean_weights` the converted model computes **exactly** the
      source model's function (``σ`` is ignored in mean mode), and
    * in sampling mode each pre-activation gets a small noise
      ``√(Z²·σ_W² + σ_b²)·ε`` around the source's (``σ ≈ 0.018`` for ρ = −4).

    Note that a pretrained ``W`` far from 0 gives a large ``KL`` to the
    ``N(0, 0.1²)`` prior; scale it with ``kl_weight = 1/n_train`` as usual.

    All other layers (BatchNormalization, pooling, Flatten, already-Bayesian
    layers, …) are cloned **with their weights** copied from the source, so
    the converted model starts where the source model was. Nested functional
    or Sequential sub-models (e.g. a ``keras.applications`` backbone called
    inside a functional model) are converted recursively. Layers that are
    *subclasses* of Conv2D/Dense (e.g. ``Conv2DTranspose``) and other
    convolutions (``DepthwiseConv2D``, ``SeparableConv2D``, ``Conv1D``…) are
    kept deterministic. Kernel/bias regularisers, constraints and activity
    regularisers of a replaced layer are dropped with a warning (the KL is the
    Bayesian layer's regulariser). The compile state (optimizer, loss) is not
    copied: compile the returned model again.

    Args:
      model: a built functional or ``Sequential`` Keras model.
        Subclassed models cannot be converted (their layer graph is not known):
        build them from :class:`BayesianConv2D`/:class:`BayesianDense` instead.
      layers: ``None`` converts every ``Conv2D`` and ``Dense`` (also inside
        nested sub-models); otherwise a list of layer names (a single name is
        accepted), each of which must be a ``Conv2D``/``Dense`` of the model.
      init_from_weights: set the posterior means from the source weights
        (``model`` must be built). ``False``: the means are drawn from the source
        layers' ``kernel_initializer``/``bias_initializer``.
      prior_stddev: ``s`` of the prior ``N(0, s²)`` of every new layer (> 0).
      posterior_rho_init: initial ``ρ`` of every new layer (σ = softplus(ρ) + ε).
      seed: seed of the new layers' noise generators; the ``i``-th converted layer
        (in layer order) gets ``seed + i``. ``None``: non-deterministic.
      name: name of the returned model; default: the source model's name.

    Returns:
      A new ``keras.Model`` (functional, or ``Sequential`` for a ``Sequential``
      input) with the same inputs, outputs and layer names.

    Raises:
      TypeError: ``model`` is not a ``keras.Model``, or is a subclassed model;
        ``layers`` is not a list of names.
      ValueError: an unknown / non-convertible name in ``layers``; no layer to
        convert; a chosen ``Conv2D`` has ``groups != 1`` or
        ``data_format="channels_first"``; ``init_from_weights=True`` on an
        unbuilt model; a bad ``prior_stddev``/``posterior_rho_init``.

    Example:
      >>> inp = keras.Input((28, 28, 1))
      >>> h = keras.layers.Conv2D(8, 3, activation="relu", name="conv1")(inp)
      >>> h = keras.layers.MaxPooling2D()(h)
      >>> h = keras.layers.Conv2D(16, 3, activation="relu", name="conv2")(h)
      >>> h = keras.layers.GlobalAveragePooling2D()(h)
      >>> net = keras.Model(inp, keras.layers.Dense(10, name="logits")(h))
      >>> # ... optionally pre-train `net` deterministically ...
      >>> bnn = to_bayesian(net, seed=0)
      >>> type(bnn.get_layer("conv2")).__name__
      'BayesianConv2D'
      >>> with mean_weights(bnn):  # same function as `net`
      ...     y = bnn(x)
      >>> model = BayesianFeedbackModel(bnn, target_layer="conv2", n_train=len(x))
    """
    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a `keras.Model` (functional or Sequential) of the bound Keras; got "
                        f"{type(model).__module__}.{type(model).__name__}.")
    if not _is_cloneable(model):
        raise TypeError(
            f"`model` must be a functional or Sequential model; got the subclassed model "
            f"{type(model).__name__!r}, whose layer graph Keras cannot clone. Only functional/Sequential "
            "models can be converted: build a subclassed model directly from the library's LRT layers "
            "(keras_egl.layers.BayesianConv2D / BayesianDense), or convert the functional/Sequential "
            "network it wraps.")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"`name` must be a str or None; got {type(name).__name__}.")
    prior_stddev = check_float(prior_stddev, "prior_stddev", low=0.0, low_inclusive=False)
    posterior_rho_init = check_float(posterior_rho_init, "posterior_rho_init")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None; got {seed!r}.")

    all_layers = list(_walk(model))
    candidates = [l for l in all_layers if _convertible(l)]
    convertible_names = [l.name for l in candidates]
    if layers is None:
        chosen = candidates
        if not chosen:
            raise ValueError(f"`model` {model.name!r} has no keras.layers.Conv2D or Dense layer to convert "
                             "(`layers`=None converts every Conv2D/Dense).")
    else:
        if isinstance(layers, str):
            layers = [layers]
        if not isinstance(layers, (list, tuple)) or not all(isinstance(n, str) for n in layers):
            raise TypeError(f"`layers` must be None or a list of layer names; got {layers!r}.")
        if not layers:
            raise ValueError("`layers` is empty; pass None to convert every Conv2D/Dense or a list of names. "
                             f"Convertible layers: {convertible_names}.")
        known = {l.name for l in all_layers}
        for n in layers:
            if n not in known:
                raise ValueError(f"`layers`: no layer named {n!r} in model {model.name!r}. "
                                 f"Convertible layers: {convertible_names}.")
            if n not in convertible_names:
                kinds = sorted({type(l).__name__ for l in all_layers if l.name == n})
                raise ValueError(f"`layers`: layer {n!r} is a {'/'.join(kinds)}, not a keras.layers.Conv2D or "
                                 f"Dense; it cannot be converted. Convertible layers: {convertible_names}.")
        wanted = set(layers)
        chosen = [l for l in candidates if l.name in wanted]
    for layer in chosen:  # fail before cloning anything
        if isinstance(layer, keras.layers.Conv2D):
            _check_conv(layer)
        if init_from_weights and not layer.built:
            raise ValueError(f"`init_from_weights=True` needs a built model, but layer {layer.name!r} has no "
                             "weights yet: call the model on data or give it a `keras.Input`, or pass "
                             "`init_from_weights=False`.")
    offsets = {id(l): i for i, l in enumerate(chosen)}
    converted = _convert(model, set(offsets), offsets, bool(init_from_weights), prior_stddev,
                         posterior_rho_init, seed)
    if name is not None:
        _compat.rename_model(converted, name)
    return converted
