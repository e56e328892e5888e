"""Turning a model's outputs into the scalar an explanation differentiates.

Every gradient-based explanation in keras_egl starts from a per-sample score
``s_i = f(z_i)`` of the model output ``z_i`` (logits or probabilities); the
gradient of ``Σ_i s_i`` with respect to a batched tensor then gives every
sample's explanation in one backward pass (samples do not interact, except
through layers such as BatchNorm in training mode).

Targets:

* ``"sum_log_prob"`` — ``Σ_k log p_k`` (RRR's penalised quantity, Ross et al. 2017);
* ``"max_prob"`` / ``"max_log_prob"`` — ``max_k p_k`` / ``max_k log p_k``
  (RRR's visualisation quantity is ``max_prob``);
* ``"sum_prob"`` — ``Σ_k p_k`` (meaningful for sigmoid/multi-label outputs; for a
  softmax it is constant and its gradient is zero);
* a class: ``int`` (same class for every sample), an int vector ``(B,)``, a
  one-hot/soft matrix ``(B, K)``, ``"true"`` (needs ``y``) or ``"pred"``
  (argmax of the output). For a class the score is ``quantity`` of that class:
  ``"logit"`` (default, Grad-CAM's pre-softmax y^c), ``"prob"`` or ``"log_prob"``.
"""

import numpy as np

from keras_egl._keras import tf

NAMED_TARGETS = ("sum_log_prob", "max_prob", "max_log_prob", "sum_prob")
CLASS_TARGETS = ("true", "pred")
QUANTITIES = ("logit", "prob", "log_prob")


def _log_probs(outputs, from_logits):
    if from_logits:
        if outputs.shape[-1] == 1:
            # A single logit is a sigmoid classifier: p = σ(z), 1 - p = σ(-z).
            return tf.concat([tf.math.log_sigmoid(-outputs), tf.math.log_sigmoid(outputs)], -1)
        return tf.nn.log_softmax(outputs, axis=-1)
    eps = 1e-7
    probs = outputs
    if probs.shape[-1] == 1:
        probs = tf.concat([1.0 - probs, probs], -1)
    return tf.math.log(tf.clip_by_value(probs, eps, 1.0))


def _probs(outputs, from_logits):
    if from_logits:
        if outputs.shape[-1] == 1:
            return tf.concat([tf.sigmoid(-outputs), tf.sigmoid(outputs)], -1)
        return tf.nn.softmax(outputs, axis=-1)
    if outputs.shape[-1] == 1:
        return tf.concat([1.0 - outputs, outputs], -1)
    return outputs


def class_weights(outputs, target, y=None, from_logits=True):
    """Return a ``(B, K)`` float matrix selecting the target class per sample.

    ``target`` is ``"true"``, ``"pred"``, an int, an int vector ``(B,)`` or a
    one-hot/soft matrix ``(B, K)``. ``y`` (int labels ``(B,)``/``(B,1)`` or
    one-hot ``(B, K)``) is needed for ``"true"``. ``K = 2`` for a single
    sigmoid output. Eager inputs are checked (whole numbers in ``[0, K)``, finite).
    """
    k = outputs.shape[-1]
    n_classes = 2 if k == 1 else k
    if isinstance(target, str):
        if target == "pred":
            if k == 1:
                idx = tf.cast(outputs[:, 0] > (0.0 if from_logits else 0.5), tf.int32)
            else:
                idx = tf.argmax(outputs, axis=-1, output_type=tf.int32)
            return tf.one_hot(idx, n_classes, dtype=outputs.dtype)
        if target == "true":
            if y is None:
                raise ValueError("target='true' needs the labels `y`; got y=None.")
            return _labels_to_weights(y, n_classes, outputs.dtype, "y", outputs.shape[0])
        raise ValueError(
            f"`target` must be one of {NAMED_TARGETS + CLASS_TARGETS}, a class index, "
            f"an int vector (B,) or a one-hot matrix (B, K); got {target!r}."
        )
    if isinstance(target, (bool, np.bool_)) or target is None:
        raise TypeError(f"`target` must be a string, an int, an int vector or a one-hot matrix; "
                        f"got {target!r}.")
    if isinstance(target, (int, np.integer)):
        if not 0 <= int(target) < n_classes:
            raise ValueError(f"`target` class index must be in [0, {n_classes}); got {int(target)}.")
        return tf.one_hot(tf.fill(tf.shape(outputs)[:1], int(target)), n_classes, dtype=outputs.dtype)
    return _labels_to_weights(target, n_classes, outputs.dtype, "target", outputs.shape[0])


def _labels_to_weights(labels, n_classes, dtype, name, batch=None):
    labels = tf.convert_to_tensor(labels)
    if batch is not None and labels.shape.rank and labels.shape[0] is not None \
            and labels.shape[0] != batch:
        raise ValueError(f"`{name}` must have one entry per sample ({batch}); got shape {labels.shape}.")
    if labels.shape.rank == 2 and labels.shape[-1] == n_classes and n_classes > 1:
        if labels.dtype.is_floating and tf.executing_eagerly() \
                and not bool(tf.reduce_all(tf.math.is_finite(labels))):
            raise ValueError(f"`{name}` (one-hot matrix) contains NaN or infinite values.")
        return tf.cast(labels, dtype)
    if labels.shape.rank == 2 and labels.shape[-1] == 1:
        labels = labels[:, 0]
    if labels.shape.rank != 1:
        raise ValueError(
            f"`{name}` must be int labels (B,) / (B, 1) or one-hot (B, {n_classes}); "
            f"got shape {labels.shape}."
        )
    if not (labels.dtype.is_integer or labels.dtype.is_floating or labels.dtype == tf.bool):
        raise TypeError(f"`{name}` class indices must be integers; got dtype {labels.dtype.name}.")
    if tf.executing_eagerly():
        values = labels.numpy()
        if values.size and (not np.all(np.isfinite(values)) or not np.all(values == np.round(values))):
            raise ValueError(f"`{name}` class indices must be whole numbers; got {values}.")
        if values.size and (values.min() < 0 or values.max() >= n_classes):
            raise ValueError(f"`{name}` class indices must be in [0, {n_classes}); got min "
                             f"{values.min()}, max {values.max()}.")
    if labels.dtype.is_floating:
        labels = tf.round(labels)
    return tf.one_hot(tf.cast(labels, tf.int32), n_classes, dtype=dtype)


def select_target(outputs, target="pred", y=None, from_logits=True, quantity="logit"):
    """Per-sample score ``(B,)`` whose gradient an explanation takes.

    Args:
      outputs: model outputs ``(B, K)`` (logits if ``from_logits`` else
        probabilities; ``K = 1`` means a binary sigmoid output).
      target: see the module docstring.
      y: labels for ``target="true"``.
      from_logits: whether ``outputs`` are logits.
      quantity: for class targets, ``"logit"``, ``"prob"`` or ``"log_prob"``.

    Returns:
      A float tensor ``(B,)``.
    """
    outputs = tf.convert_to_tensor(outputs)
    if outputs.shape.rank != 2:
        raise ValueError(f"`outputs` must have shape (batch, classes); got shape {outputs.shape}.")
    if not outputs.dtype.is_floating:
        raise TypeError(f"`outputs` must be floating point; got dtype {outputs.dtype.name}.")
    if isinstance(target, str) and target in NAMED_TARGETS:
        if target == "sum_log_prob":
            return tf.reduce_sum(_log_probs(outputs, from_logits), -1)
        if target == "max_log_prob":
            return tf.reduce_max(_log_probs(outputs, from_logits), -1)
        if target == "max_prob":
            return tf.reduce_max(_probs(outputs, from_logits), -1)
        return tf.reduce_sum(_probs(outputs, from_logits), -1)
    if quantity not in QUANTITIES:
        raise ValueError(f"`quantity` must be one of {QUANTITIES}; got {quantity!r}.")
    weights = tf.stop_gradient(class_weights(outputs, target, y, from_logits))
    if quantity == "logit":
        if not from_logits:
            raise ValueError("quantity='logit' needs logits; the model outputs probabilities "
                             "(from_logits=False): use quantity='prob' or 'log_prob'.")
        # A single logit z scores class 1 as z and class 0 as -z (Captum's convention).
        scores = outputs if outputs.shape[-1] > 1 else tf.concat([-outputs, outputs], -1)
    elif quantity == "prob":
        scores = _probs(outputs, from_logits)
    else:
        scores = _log_probs(outputs, from_logits)
    return tf.reduce_sum(scores * weights, -1)
