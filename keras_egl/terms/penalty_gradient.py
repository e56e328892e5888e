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

Stochastic layers. ``Dropout`` (and its spatial variants), ``GaussianDropout``
and ``GaussianNoise`` are made to replay, in the perturbed pass, the noise they
drew in the step's forward pass (:func:`install_replay`), so both passes see
the same masks. Any other layer that draws randomness in ``call`` (custom
noise layers, ``AlphaDropout``) would make the difference meaningless:
:func:`install_replay` refuses ``AlphaDropout``; custom layers are the user's
to keep deterministic.

Where it is accurate: float32 models with piecewise-smooth activations (ReLU,
max-pool kinks are crossed by few elements at this ``τ``); measured cosine
similarity with the exact gradient ≥ 0.99 on the benchmark CNN with BatchNorm.
Where it is not: float16/bfloat16 compute (``√ε`` is ~0.03–0.06; refused),
inputs that are quantised before the first layer, and models whose output is
not differentiable in ``x`` at the scale of ``h``.
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.targets import class_weights, select_target
from keras_egl.validation import check_choice, check_float

__all__ = ["PENALTY_GRADIENTS", "DEFAULT_FD_STEP", "check_penalty_gradient", "check_fd_step",
           "finite_difference_step", "install_replay", "penalty_from_input_gradients",
           "InputGradientPenaltyMixin"]

PENALTY_GRADIENTS = ("exact", "finite_difference")
DEFAULT_FD_STEP = 1e-3

_MULTIPLICATIVE = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianDropout")
_ADDITIVE = ("GaussianNoise",)
_REFUSED = ("AlphaDropout",)


def check_penalty_gradient(value, name="penalty_gradient"):
    """``"exact"`` or ``"finite_difference"``."""
    return check_choice(value, PENALTY_GRADIENTS, name)


def check_fd_step(value, name="fd_step"):
    """``τ`` in ``(0, 0.1]``: larger steps are no longer a derivative of anything."""
    return check_float(value, name, low=0.0, high=0.1, low_inclusive=False)


def finite_difference_step(x, v, fd_step=DEFAULT_FD_STEP):
    """``h = τ · rms(x) · √nnz(v)`` (scalar float32; see the module docstring)."""
    x = tf.cast(x, tf.float32)
    rms = tf.sqrt(tf.reduce_mean(tf.square(x)))
    rms = tf.where(rms > 0.0, rms, tf.ones_like(rms))
    nnz = tf.cast(tf.math.count_nonzero(v), tf.float32)
    return fd_step * rms * tf.sqrt(tf.maximum(nnz, 1.0))


# ------------------------------------------------------------- stochastic layers
def _kind(layer):
    for cls in type(layer).__mro__:
        if cls.__name__ in _REFUSED:
            return "refused"
        if cls.__name__ in _MULTIPLICATIVE:
            return "multiplicative"
        if cls.__name__ in _ADDITIVE:
            return "additive"
    return None


def _layers(model):
    seen = []
    for layer in [model] + list(getattr(model, "submodules", [])):
        if isinstance(layer, keras.layers.Layer) and all(layer is not s for s in seen):
            seen.append(layer)
    return seen


def install_replay(model, return_new=False):
    """Make the stochastic layers of ``model`` replay their last noise on request.

    Each ``Dropout``-like layer's ``call`` becomes ``x ⊙ noise`` (``x + noise``
    for ``GaussianNoise``) with ``noise`` drawn by the layer itself on a tensor
    of ones (zeros) — the same distribution — and remembered; while
    ``layer._egl_replay`` is set, the remembered noise is applied instead of a
    new draw. Idempotent. Returns the patched layers.

    Raises:
      ValueError: for ``AlphaDropout`` (its affine noise cannot be replayed
        this way); use ``penalty_gradient="exact"`` with it.
    """
    patched, new = [], []
    for layer in _layers(model):
        kind = _kind(layer)
        if kind is None:
            continue
        if kind == "refused":
            raise ValueError(f"penalty_gradient='finite_difference' cannot replay the noise of layer "
                             f"'{layer.name}' ({type(layer).__name__}); use penalty_gradient='exact'.")
        if not getattr(layer, "_egl_replay_installed", False):
            _patch(layer, kind)
            new.append(layer)
        patched.append(layer)
    return (patched, new) if return_new else patched


def _patch(layer, kind):
    original = layer.call
    neutral = tf.ones_like if kind == "multiplicative" else tf.zeros_like

    def call(inputs, *args, **kwargs):
        if layer._egl_replay and layer._egl_noise is not None:
            noise = layer._egl_noise
        else:
            noise = original(neutral(inputs), *args, **kwargs)
            layer._egl_noise = noise
        return inputs * noise if kind == "multiplicative" else inputs + noise

    layer._egl_noise = None
    layer._egl_replay = False
    layer._egl_replay_installed = True
    layer.call = call


class _Replaying:
    """Context: the given layers replay their last noise; BatchNorm moving statistics are restored on exit."""

    def __init__(self, model, stochastic):
        self.stochastic = stochastic
        self.moving = [v for layer in _layers(model)
                       if isinstance(layer, keras.layers.BatchNormalization)
                       for v in (getattr(layer, "moving_mean", None), getattr(layer, "moving_variance", None))
                       if v is not None]

    def __enter__(self):
        for layer in self.stochastic:
            layer._egl_replay = True
        # Read after the step's own forward pass has updated them; restored after the perturbed pass.
        self.saved = [tf.identity(v.read_value()) for v in self.moving]
        return self

    def __exit__(self, *exc):
        for layer in self.stochastic:
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


def _check_float32(model):
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
    _check_float32(backbone)
    stochastic, new = install_replay(backbone, return_new=True)
    if new:
        # Their noise in this step's forward pass was not recorded: the two passes would differ.
        raise RuntimeError(f"the stochastic layers {[layer.name for layer in new]} were not prepared "
                           "before the forward pass; call `term.attach(backbone)` first (an "
                           "ExplanationGuidedModel does this when it is constructed).")
    g = tf.stop_gradient(tf.cast(grads, tf.float32))
    with tf.GradientTape() as tape:
        tape.watch(g)
        value = penalty_fn(g)
    v = tf.stop_gradient(tape.gradient(value, g, unconnected_gradients=tf.UnconnectedGradients.ZERO))
    norm = tf.norm(tf.reshape(v, [-1]))
    x = ctx.x0
    h = finite_difference_step(x, v, fd_step)
    safe = tf.where(norm > 0.0, norm, tf.ones_like(norm))
    x_shift = tf.stop_gradient(x + tf.cast(h * v / safe, x.dtype))

    pinned, pinned_quantity = _pinned(ctx.outputs, target, quantity, ctx.from_logits)
    y = ctx.y if isinstance(target, str) and target == "true" else None
    with _Replaying(backbone, stochastic):
        shifted = backbone(x_shift, training=True)

    def total(outputs, tgt, qty):
        outputs = tf.cast(outputs, tf.float32)
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
            install_replay(model)

    def input_gradient_penalty(self, ctx, penalty_fn, target, quantity):
        return penalty_from_input_gradients(ctx, penalty_fn, target, quantity, self.penalty_gradient,
                                            self.fd_step, owner=type(self).__name__)

    def penalty_gradient_config(self):
        config = {"penalty_gradient": self.penalty_gradient}
        if self.fd_step != DEFAULT_FD_STEP:
            config["fd_step"] = self.fd_step
        return config
