"""Input gradients: ``∂ s(f(x)) / ∂x``, batched and differentiable.

Ross et al. (IJCAI 2017) penalise ``A ⊙ ∂/∂x Σ_k log ŷ_k``; other methods use the
gradient of the predicted or true class's score (see
:mod:`keras_egl.explain.targets`). The function below computes the gradient for
the whole batch with one backward pass. Called inside an outer
``tf.GradientTape`` it stays differentiable (double backpropagation), which is
what an input-gradient penalty trains through; pass ``stop_gradient=True`` to
get a constant.
"""

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
