"""How an input-gradient penalty's parameter gradient is taken: exact double backprop or a finite difference.

Every term whose penalty is a function of input gradients,
``R(θ) = P(g(θ))`` with ``g = ∂S/∂x`` and ``S = Σ_n s(f(x_n; θ))`` (RRR's
right-reasons term, the non-Bayesian feedback term), needs ``∇_θ R``. Two routes:

* ``"exact"`` — backprop through the backward pass that produced ``g``
  (double backprop; TensorFlow differentiates the recorded gradient ops).
* ``"finite_difference"`` — with ``v = ∂P/∂g`` held fixed (the chain rule
  gives ``∇_θ R = ∇_θ ⟨g, v⟩``) and ``v̂ = v / ‖v‖`` over the whole batch,

  .. math::

     ∇_θ ⟨g, v⟩ ≈ ‖v‖/h · [∇_θ S(x + h v̂) − ∇_θ S(x)],

  one extra *forward* pass at the perturbed input and an ordinary backward
  through both passes, instead of a backward through the backward
  (Karakida et al., 2023, "Understanding gradient regularization in deep
  learning"; the same directional-derivative trick as Hessian-vector products
  by finite differences, Pearlmutter 1994). The term's *value* stays the exact
  ``P(g)``: only its gradient is approximated.

Step size. ``h = τ · rms(x) · √nnz(v)``: each perturbed input element moves by
about ``τ`` times the batch's RMS input magnitude (``rms(x) = 1`` if the batch
is all zeros), whatever the input scale (0–1 or 0–255) or the size of the
annotated region. ``τ = fd_step`` defaults to ``1e-3`` (forward difference in
float32: the rounding error grows like ``ε/τ``, the truncation error like
``τ``; ``√ε_f32 ≈ 3e-4``). Measured on the benchmark CNN with BatchNorm in
training mode: see ``docs/performance.md``.

Why one batch-wide direction rather than a step per sample: with BatchNorm in
training mode every sample's score depends on the whole batch, and ``g`` (the
exact path's input gradient) includes that dependence; the batch-wide
difference is the directional derivative of exactly that function, so the
two routes agree with batch statistics (each pass uses its own batch's
statistics; the perturbed pass's update of the moving averages is undone, so
they move once per step as in the exact path).

The same piece of the network. Double backprop differentiates the network
on the piece of its piecewise-linear parts (ReLU, max-pool) chosen at ``x``:
a ReLU's second derivative is 0 there. A plain difference does not: units
that flip between the two passes add jumps that do not shrink with ``h``
(measured on the benchmark CNN, float32: cosine 0.32 with the exact gradient
at τ = 1e-3, 0.77 at τ = 1e-2; in float64 only τ ≤ 1e-6 agreed). So the
perturbed pass *replays* the step's pass (:func:`install_replay`): ReLU /
LeakyReLU layers and ``relu`` activations of ``Dense``/``Conv*`` keep their
active units, max-pooling keeps the element each window took, and
``Dropout``-like layers (``Dropout``, ``SpatialDropout*``,
``GaussianDropout``, ``GaussianNoise``) reuse their noise. With that, on the
benchmark CNN (3 × conv + BatchNorm in training mode + ReLU + max-pool, batch
64, float32) the finite difference matches the exact gradient with cosine
similarity 0.99999 and a relative error of 0.27 % at τ = 1e-3 (0.94 % at
1e-4, 2.4 % at 1e-2); on the RRR MLP 0.2 %; with Dropout 0.7 %.

Where it is not accurate: piecewise-linear operations it does not know
(``tf.nn.relu`` inside a custom layer, ``ReLU(max_value=6)``, ``GlobalMaxPooling``,
``tf.abs``, ``tf.minimum``): their kinks bring the jump error back — measure
it on a batch of your data with :func:`gradient_agreement`, or use ``"exact"``;
float16/bfloat16 compute (``√ε`` is 0.03–0.06; refused); ``AlphaDropout``
and custom noise layers (refused / the user's to keep deterministic).

Cost (per conv layer of forward cost F): exact = F (forward) + F (input
gradient) + 2F (backward through it) + 2F (backward through the forward) =
6F; finite difference = F + F (input gradient, not differentiated) + F
(perturbed forward) + 2F + 2F = 7F. The finite difference saves no
arithmetic on layered networks; it avoids second-order kernels (BatchNorm's
gradient of gradient, ``MaxPoolGradGrad``), whose implementations are slower
than first-order ones. Measured ratios: ``python -m benchmarks
input_gradient`` and ``docs/performance.md``.
"""

from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.explain.targets import class_weights, select_target
from keras_egl.validation import check_choice, check_float

__all__ = ["PENALTY_GRADIENTS", "DEFAULT_FD_STEP", "check_penalty_gradient", "check_fd_step",
           "finite_difference_step", "install_replay", "penalty_from_input_gradients",
           "InputGradientPenaltyMixin", "gradient_agreement"]

PENALTY_GRADIENTS = ("exact", "finite_difference")
DEFAULT_FD_STEP = 1e-3

_MULTIPLICATIVE = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout")
_ADDITIVE = ("GaussianNoise",)
_REFUSED = ("AlphaDropout",)
_RELU_FUNCTIONS = (keras.activations.relu, tf.nn.relu)


def check_penalty_gradient(value, name="penalty_gradient"):
    """``"exact"`` or ``"finite_difference"``."""
    return check_choice(value, PENALTY_GRADIENTS, name)


def check_fd_step(value, name="fd_step"):
    """``τ`` in ``(0, 0.1]``: larger steps are no longer a derivative of anything."""
    return check_float(value, name, low=0.0, high=0.1, low_inclusive=False)


def finite_difference_step(x, v, fd_step=DEFAULT_FD_STEP):
    """``h = τ · rms(x) · √nnz(v)`` (a scalar of ``x``'s float dtype; see the module docstring)."""
    dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
    x = tf.cast(x, dtype)
    rms = tf.sqrt(tf.reduce_mean(tf.square(x)))
    rms = tf.where(rms > 0.0, rms, tf.ones_like(rms))
    nnz = tf.cast(tf.math.count_nonzero(v), dtype)
    return fd_step * rms * tf.sqrt(tf.maximum(nnz, 1.0))


# ------------------------------------------------- layers whose pass is replayed
def _kind(layer):
    for cls in type(layer).__mro__:
        if cls.__name__ in _REFUSED:
            return "refused"
        if cls.__name__ in _MULTIPLICATIVE:
            return "multiplicative"
        if cls.__name__ in _ADDITIVE:
            return "additive"
    if isinstance(layer, keras.layers.ReLU):
        plain = layer.max_value is None and float(layer.threshold) == 0.0
        return "relu" if plain else None
    if isinstance(layer, keras.layers.LeakyReLU):
        return "relu"
    if isinstance(layer, (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)):
        return "max_pool"
    if getattr(layer, "activation", None) in _RELU_FUNCTIONS and not isinstance(layer, keras.Model):
        return "relu_activation"
    return None


def _layers(model):
    """``model`` and every layer inside it, each once."""
    return [layer for layer in _compat.iter_layers(model) if isinstance(layer, keras.layers.Layer)]


def install_replay(model):
    """Make the layers of ``model`` replay, on request, what they chose in the last pass.

    * Stochastic layers (``Dropout`` and its spatial variants,
      ``GaussianDropout``, ``GaussianNoise``): ``call`` becomes ``x ⊙ noise``
      (``x + noise``) with ``noise`` drawn by the layer itself on a tensor of
      ones (zeros) — the same distribution — and remembered.
    * Piecewise-linear layers (``ReLU`` with default ``max_value``/``threshold``,
      ``LeakyReLU``, ``Dense``/``Conv*`` with ``activation="relu"``,
      ``MaxPooling1D/2D/3D``): the selection (which units are active, which
      element each window took) is remembered.

    While ``layer._egl_replay`` is set, the remembered noise/selection is
    applied to the new input instead of being drawn/chosen again: the
    perturbed pass is the *same piecewise-linear piece* as the step's pass, as
    double backprop assumes (its second derivative of a ReLU is 0). Without
    it, units flipping between the passes add jumps to the difference (measured:
    cosine 0.3 with the exact gradient on a ReLU CNN at τ = 1e-3).
    Idempotent. Returns the patched layers.

    Raises:
      ValueError: for ``AlphaDropout`` (its affine noise cannot be replayed
        this way); use ``penalty_gradient="exact"`` with it.
    """
    patched = []
    for layer in _layers(model):
        kind = _kind(layer)
        if kind is None:
            continue
        if kind == "refused":
            raise ValueError(f"penalty_gradient='finite_difference' cannot replay the noise of layer "
                             f"'{layer.name}' ({type(layer).__name__}); use penalty_gradient='exact'.")
        if not getattr(layer, "_egl_replay_installed", False):
            _patch(layer, kind)
        patched.append(layer)
    return patched


def _unprepared(model):
    """The layers :func:`install_replay` would patch that are not patched yet."""
    return [layer for layer in _layers(model)
            if _kind(layer) not in (None, "refused") and not getattr(layer, "_egl_replay_installed", False)]


def _patch(layer, kind):
    original = layer.call

    def remember(value):
        if not _compat.in_symbolic_pass():  # Keras 3's shape-inference call is not a call site
            layer._egl_memory.append(value)

    def recall():
        # One entry per call site, in call order: a layer used twice replays each use.
        if layer._egl_cursor >= len(layer._egl_memory):
            raise RuntimeError(f"layer '{layer.name}' is called more often in the perturbed pass than in "
                               "the step's forward pass; penalty_gradient='finite_difference' needs the "
                               "same calls in both (use penalty_gradient='exact').")
        value = layer._egl_memory[layer._egl_cursor]
        layer._egl_cursor += 1
        return value

    def noise_call(inputs, *args, **kwargs):
        if layer._egl_replay:
            noise = recall()
        else:
            neutral = tf.ones_like if kind == "multiplicative" else tf.zeros_like
            noise = original(neutral(inputs), *args, **kwargs)
            remember(noise)
        return inputs * noise if kind == "multiplicative" else inputs + noise

    def relu_call(inputs, *args, **kwargs):
        slope = float(getattr(layer, "negative_slope", getattr(layer, "alpha", 0.0)))
        if layer._egl_replay:
            return tf.where(recall(), inputs, slope * inputs)
        remember(inputs > 0)
        return original(inputs, *args, **kwargs)

    def activation_call(inputs, *args, **kwargs):
        activation = layer.activation
        layer.activation = keras.activations.linear
        try:
            z = original(inputs, *args, **kwargs)
        finally:
            layer.activation = activation
        if layer._egl_replay:
            return tf.where(recall(), z, tf.zeros_like(z))
        remember(z > 0)
        return tf.nn.relu(z)

    def pool_call(inputs, *args, **kwargs):
        if layer._egl_replay:
            clean = tf.stop_gradient(recall())
            if isinstance(layer, keras.layers.MaxPooling2D) and layer.data_format == "channels_last":
                # The element each window took in the step's pass, exact for overlapping windows too.
                _, index = tf.nn.max_pool_with_argmax(
                    clean, ksize=(1,) + tuple(layer.pool_size) + (1,),
                    strides=(1,) + tuple(layer.strides) + (1,), padding=layer.padding.upper(),
                    include_batch_in_index=True)
                return tf.gather(tf.reshape(inputs, [-1]), index)
            # Other poolings: keep only the selected elements (exact for non-overlapping windows).
            with tf.GradientTape() as tape:
                tape.watch(clean)
                pooled = original(clean, *args, **kwargs)
            selected = tape.gradient(pooled, clean) > 0
            lowest = tf.fill(tf.shape(inputs), tf.constant(inputs.dtype.min, inputs.dtype))
            return original(tf.where(selected, inputs, lowest), *args, **kwargs)
        remember(inputs)
        return original(inputs, *args, **kwargs)

    calls = {"multiplicative": noise_call, "additive": noise_call, "relu": relu_call,
             "relu_activation": activation_call, "max_pool": pool_call}
    layer._egl_memory = []
    layer._egl_cursor = 0
    layer._egl_replay = False
    layer._egl_replay_installed = True
    layer.call = calls[kind]


def forget(layers):
    """Clear what ``layers`` remembered (called before each forward pass of a step)."""
    for layer in layers:
        layer._egl_memory = []
        layer._egl_cursor = 0


def complete_batchnorm_moments(model):
    """Give the unfused BatchNorm layers of ``model`` moments whose second derivative is complete.

    ``tf.nn.moments`` (what tf_keras's unfused BatchNorm uses: float64, rank-2
    inputs after ``Dense``, virtual batches, renorm) computes the variance
    around ``stop_gradient(mean)``. First derivatives do not notice (∂var/∂mean
    is 0 at the mean), but double backprop then misses the mean's second-order
    term. Measured against the finite difference, which differentiates the
    function itself: 10 % relative error of RRR's parameter gradient on a
    float32 CNN with ``BatchNormalization(fused=False)`` and 4 % in float64 at
    every step size, against 0.0006 % without BatchNorm. The fused kernel's
    registered second derivative is complete. Patched layers compute
    ``var = mean((x − mean)²)`` without the stop; values are unchanged.
    Idempotent; masked and synchronised BatchNorm are left alone.
    """
    for layer in _layers(model):
        if not isinstance(layer, keras.layers.BatchNormalization) \
                or getattr(layer, "_egl_complete_moments", False):
            continue
        hook = _compat.batchnorm_moments_hook(layer)
        if hook is None:
            continue
        method, make = hook
        setattr(layer, method, make(getattr(layer, method), _complete_moments))
        layer._egl_complete_moments = True


def _complete_moments(inputs, reduction_axes, keep_dims):
    y = tf.cast(inputs, tf.float32) if inputs.dtype in (tf.float16, tf.bfloat16) else inputs
    mean = tf.reduce_mean(y, reduction_axes, keepdims=True)
    variance = tf.reduce_mean(tf.square(y - mean), reduction_axes, keepdims=True)
    if not keep_dims:
        mean = tf.squeeze(mean, reduction_axes)
        variance = tf.squeeze(variance, reduction_axes)
    return tf.cast(mean, inputs.dtype), tf.cast(variance, inputs.dtype)


class _Replaying:
    """Context: the given layers replay the step's pass; BatchNorm moving statistics are restored on exit."""

    def __init__(self, model, replayed):
        self.replayed = replayed
        self.moving = [v for layer in _layers(model)
                       if isinstance(layer, keras.layers.BatchNormalization)
                       for v in (getattr(layer, "moving_mean", None), getattr(layer, "moving_variance", None))
                       if v is not None]

    def __enter__(self):
        for layer in self.replayed:
            layer._egl_replay = True
            layer._egl_cursor = 0
        # Read after the step's own forward pass has updated them; restored after the perturbed pass.
        self.saved = [_compat.read_variable(v) for v in self.moving]
        return self

    def __exit__(self, *exc):
        for layer in self.replayed:
            layer._egl_replay = False
        for v, value in zip(self.moving, self.saved):
            v.assign(value)
        return False


# ------------------------------------------------------------------ the penalty
def _pinned(outputs, target, quantity, from_logits):
    """``(target, quantity)`` so that a perturbed pass scores the clean pass's class."""
    if isinstance(target, str) and target in ("pred", "max_prob", "max_log_prob"):
        onehot = tf.stop_gradient(class_weights(outputs, "pred", from_logits=from_logits))
        if target == "max_prob":
            return onehot, "prob"
        if target == "max_log_prob":
            return onehot, "log_prob"
        return onehot, quantity
    return target, quantity


def _refuse_half_precision(model):
    for layer in _layers(model):
        dtype = getattr(getattr(layer, "dtype_policy", None), "compute_dtype", None) \
            or getattr(layer, "compute_dtype", None)
        if dtype in ("float16", "bfloat16"):
            raise ValueError(f"penalty_gradient='finite_difference' needs float32 compute; layer "
                             f"'{layer.name}' computes in {dtype} (mixed precision). Use "
                             "penalty_gradient='exact'.")


def penalty_from_input_gradients(ctx, penalty_fn, target, quantity, method="exact",
                                 fd_step=DEFAULT_FD_STEP, owner="input-gradient penalties"):
    """``P(g)`` for ``g = ∂ Σ score / ∂x`` of this step, with its θ-gradient taken by ``method``.

    Args:
      ctx: the step's :class:`~keras_egl.terms.core.ExplanationContext`.
      penalty_fn: ``g ↦ P(g)``, a float32 scalar (reduction and flags included).
      target, quantity: the score, as for :meth:`ExplanationContext.input_gradients`.
      method: ``"exact"`` or ``"finite_difference"`` (module docstring).
      fd_step: ``τ`` of the finite-difference step rule.
      owner: the term class named in the multi-input error.

    Returns:
      A scalar whose value is ``P(g)`` and whose gradient with respect to the
      model's variables is the exact one or its finite-difference estimate.
    """
    grads = ctx.input_gradients(target, quantity=quantity)
    if isinstance(grads, (list, tuple)):
        raise ValueError(f"{owner} supports single-input models; got a multi-input model.")
    if method == "exact" or not ctx.training:
        return penalty_fn(grads)

    backbone = getattr(ctx.model, "model", ctx.model)
    _refuse_half_precision(backbone)
    new = _unprepared(backbone)
    if new:
        # Their noise in this step's forward pass was not recorded: the two passes would differ.
        raise RuntimeError(f"the layers {[layer.name for layer in new]} were not prepared "
                           "before the forward pass; call `term.attach(backbone)` first (an "
                           "ExplanationGuidedModel does this when it is constructed).")
    replayed = install_replay(backbone)
    # float32 (mixed precision is refused above) unless the model computes in float64.
    dtype = tf.float64 if grads.dtype == tf.float64 else tf.float32
    g = tf.stop_gradient(tf.cast(grads, dtype))
    with tf.GradientTape() as tape:
        tape.watch(g)
        value = penalty_fn(g)
    v = tf.stop_gradient(tape.gradient(value, g, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    norm = tf.norm(tf.reshape(v, [-1]))
    x = ctx.x0
    h = tf.cast(finite_difference_step(x, v, fd_step), dtype)
    safe = tf.where(norm > 0.0, norm, tf.ones_like(norm))
    x_shift = tf.stop_gradient(x + tf.cast(h * v / safe, x.dtype))

    pinned, pinned_quantity = _pinned(ctx.outputs, target, quantity, ctx.from_logits)
    y = ctx.y if isinstance(target, str) and target == "true" else None
    with _Replaying(backbone, replayed):
        shifted = backbone(x_shift, training=True)

    def total(outputs, tgt, qty):
        outputs = tf.cast(outputs, dtype)
        return tf.reduce_sum(select_target(outputs, tgt, y=y, from_logits=ctx.from_logits, quantity=qty))

    surrogate = (total(shifted, pinned, pinned_quantity) - total(ctx.outputs, target, quantity)) * (norm / h)
    surrogate = tf.where(norm > 0.0, surrogate, tf.zeros_like(surrogate))
    return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))


class InputGradientPenaltyMixin:
    """The ``penalty_gradient`` / ``fd_step`` options of an input-gradient penalty term.

    A term mixes this in, calls :meth:`set_penalty_gradient` in ``__init__``,
    takes its penalty through :meth:`input_gradient_penalty` and adds
    :meth:`penalty_gradient_config` to its config.
    """

    def set_penalty_gradient(self, penalty_gradient="exact", fd_step=DEFAULT_FD_STEP):
        self.penalty_gradient = check_penalty_gradient(penalty_gradient)
        self.fd_step = check_fd_step(fd_step)

    def attach(self, model):
        if self.penalty_gradient == "finite_difference":
            # Kept out of Keras's attribute tracking: the backbone's layers must not become
            # sub-layers of the term (saved twice; refused by a built Keras 3 layer).
            self.__dict__["_egl_replayed"] = tuple(install_replay(model))
        else:
            complete_batchnorm_moments(model)

    @tf.autograph.experimental.do_not_convert
    def before_forward(self):
        forget(self.__dict__.get("_egl_replayed", ()))

    def input_gradient_penalty(self, ctx, penalty_fn, target, quantity):
        return penalty_from_input_gradients(ctx, penalty_fn, target, quantity, self.penalty_gradient,
                                            self.fd_step, owner=type(self).__name__)

    def penalty_gradient_config(self):
        return {"penalty_gradient": self.penalty_gradient, "fd_step": self.fd_step}


def gradient_agreement(model, inputs, y, sample_weight=None):
    """How well the finite difference matches double backprop on one batch of *your* model.

    For every term of ``model`` (an ``ExplanationGuidedModel``) built with
    ``penalty_gradient="finite_difference"``, takes the term's gradient with
    respect to the backbone's trainable variables both ways on the same
    batch (training mode) and returns ``{term name: {"cosine": c,
    "relative_error": ‖g_fd − g_exact‖ / ‖g_exact‖}}``, both from one forward
    pass in training mode (BatchNorm moving statistics advance as in one step).

    Example:
      >>> gradient_agreement(egl, {"x": x[:64], "neg_mask": a[:64]}, y[:64])
      {'right_reasons': {'cosine': 0.99999, 'relative_error': 0.0027}}
    """
    import numpy as np

    backbone = getattr(model, "model", model)
    variables = backbone.trainable_variables
    result = {}
    for term in [t for t in model.terms if getattr(t, "penalty_gradient", None) == "finite_difference"]:
        values = {}
        # One forward pass for both: the same batch statistics and the same dropout masks.
        with tf.GradientTape(persistent=True) as tape:
            _, ctx = model.forward(inputs, y, sample_weight, training=True)
            try:
                for method in ("finite_difference", "exact"):
                    term.penalty_gradient = method
                    values[method] = term(ctx)
            finally:
                term.penalty_gradient = "finite_difference"
        grads = {}
        for method, value in values.items():
            g = _compat.gradients(tape, value, variables)
            grads[method] = np.concatenate([np.ravel(t.numpy()) for t in g]).astype(np.float64)
        del tape
        fd, exact = grads["finite_difference"], grads["exact"]
        denom = np.linalg.norm(fd) * np.linalg.norm(exact)
        result[term.name] = {"cosine": float(fd @ exact / denom) if denom > 0 else float("nan"),
                             "relative_error": float(np.linalg.norm(fd - exact) / max(np.linalg.norm(exact),
                                                                                      1e-30))}
    if not result:
        raise ValueError("`model` has no term with penalty_gradient='finite_difference'.")
    return result
