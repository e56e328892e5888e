"""Input gradients: ``∂ s(f(x)) / ∂x``, batched and differentiable.

Ross et al. (IJCAI 2017) penalise ``A ⊙ ∂/∂x Σ_k log ŷ_k``; other methods use the
gradient of the predicted or true class's score (see
:mod:`keras_egl.explain.targets`). The function below computes the gradient for
the whole batch with one backward pass. Called inside an outer
``tf.GradientTape`` it stays differentiable (double backpropagation), which is
what an input-gradient penalty trains through; pass ``stop_gradient=True`` to
get a constant.

:func:`largest_gradient_mask` / :func:`gradient_mask` turn gradients into the
"largest-gradient" masks ``M_c`` of Ross et al. (``|g| > c · max |g|``), used
by find-another-explanation (:mod:`keras_egl.training.find_another_explanation`)
and to score which features a model relies on.
"""

import numpy as np

from keras_egl._keras import tf
from keras_egl.explain.targets import select_target


def check_finite(x, name="x"):
    """Raise ``ValueError`` if ``x`` holds NaN/inf (eagerly; inside a graph use an assert op)."""
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(tf.math.is_finite(x))):
            raise ValueError(f"`{name}` contains NaN or infinite values.")
        return x
    return tf.debugging.assert_all_finite(x, f"`{name}` contains NaN or infinite values.")


def input_gradients(model, x, target="sum_log_prob", y=None, from_logits=True,
                    quantity="logit", training=False, stop_gradient=False, return_outputs=False):
    """Gradient of a per-sample score with respect to the model input.

    Args:
      model: a callable Keras model mapping ``x`` to outputs ``(B, K)``.
      x: input batch (any shape with batch first), float.
      target: ``"sum_log_prob"`` (RRR), ``"max_prob"``, ``"max_log_prob"``,
        ``"sum_prob"``, a class index, int vector, one-hot matrix, ``"true"``
        (needs ``y``) or ``"pred"``; see :func:`select_target`.
      y: labels for ``target="true"``.
      from_logits: whether the model outputs logits (else probabilities).
      quantity: for class targets: ``"logit"``, ``"prob"`` or ``"log_prob"``.
      training: passed to the model call.
      stop_gradient: return a constant (no second-order path).
      return_outputs: also return the model outputs of the same pass.

    Returns:
      ``∂ Σ_i s_i / ∂x`` with the shape of ``x`` (and the outputs if asked).

    Example:
      >>> g = input_gradients(model, x, target="sum_log_prob")
      >>> penalty = tf.reduce_sum(tf.square(mask * g))
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"`x` must be floating point to be differentiated; got dtype {x.dtype.name}.")
    with tf.GradientTape() as tape:
        tape.watch(x)
        outputs = model(x, training=training)
        score = select_target(outputs, target, y=y, from_logits=from_logits, quantity=quantity)
        total = tf.reduce_sum(score)
    grads = tape.gradient(total, x)
    if grads is None:
        raise ValueError(f"model {getattr(model, 'name', model)!r} output has no gradient path to `x`.")
    if stop_gradient:
        grads = tf.stop_gradient(grads)
        outputs = tf.stop_gradient(outputs)
    return (grads, outputs) if return_outputs else grads


def largest_gradient_mask(grads, cutoff=0.67, channel_axis=None, keepdims=True):
    """The reference's ``M_c``: ``|g_nd| > c · max_d |g_nd|`` per example (Ross et al. 2017).

    Args:
      grads: input gradients ``(B, ...)`` (tensor or array).
      cutoff: ``c`` in [0, 1] (reference 0.67, called arbitrary by the authors).
      channel_axis: if given (e.g. ``-1`` for ``(B, H, W, C)``), a pixel is
        marked when *any* of its channels is (the Toy-Colors 2-D variant).
        For flattened inputs reshape first.
      keepdims: with ``channel_axis``, broadcast the OR back over the channels
        (so the mask can be used as RRR's ``neg_mask``); else drop the axis.

    Returns:
      A bool tensor. All-zero gradients give an empty mask (no NaN).
    """
    grads = tf.convert_to_tensor(grads)
    if not grads.dtype.is_floating:
        raise TypeError(f"`grads` must be floating point; got dtype {grads.dtype.name}.")
    if not 0.0 <= float(cutoff) <= 1.0:
        raise ValueError(f"`cutoff` must be in [0, 1]; got {cutoff!r}.")
    rank = grads.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"`grads` must have shape (batch, features...); got shape {grads.shape}.")
    mag = tf.abs(grads)
    axes = list(range(1, rank))
    peak = tf.reduce_max(mag, axis=axes, keepdims=True)
    mask = mag > float(cutoff) * peak
    if channel_axis is not None:
        ax = channel_axis % rank
        if ax == 0:
            raise ValueError("`channel_axis` must not be the batch axis.")
        reduced = tf.reduce_any(mask, axis=ax, keepdims=True)
        mask = tf.broadcast_to(reduced, tf.shape(mask)) if keepdims else tf.squeeze(reduced, ax)
    return mask


def gradient_mask(model, x, cutoff=0.67, target="max_prob", channel_axis=None, keepdims=True,
                  batch_size=1024, from_logits=True, input_shape=None):
    """``M_c[f]`` of a model on ``x`` (numpy bool), computed in batches.

    ``target`` defaults to ``"max_prob"`` (the reference's ``input_gradients``:
    ∇ max prob of the predicted class), not RRR's penalised Σ log p.
    ``input_shape`` reshapes each gradient before ``channel_axis`` is applied
    (e.g. ``(5, 5, 3)`` for flattened Toy Colors); the mask is returned in the
    shape of ``x``.
    """
    x = np.asarray(x)
    out = []
    for start in range(0, len(x), int(batch_size)):
        xb = tf.convert_to_tensor(x[start:start + int(batch_size)].astype(np.float32))
        g = input_gradients(model, xb, target=target, from_logits=from_logits, stop_gradient=True)
        if input_shape is not None:
            g = tf.reshape(g, (-1,) + tuple(input_shape))
        m = largest_gradient_mask(g, cutoff, channel_axis=channel_axis, keepdims=keepdims)
        if input_shape is not None and keepdims:
            m = tf.reshape(m, tf.shape(xb))
        out.append(m.numpy())
    if not out:
        return np.zeros(x.shape, dtype=bool)
    return np.concatenate(out, 0)
