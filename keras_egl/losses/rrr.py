"""Right for the Right Reasons (RRR): the input-gradient penalty and its λ conventions.

Reference: Ross, Hughes & Doshi-Velez, *Right for the Right Reasons: Training
Differentiable Models by Constraining their Explanations*, IJCAI 2017
(code: ``dtak/rrr``).

The RRR objective is

.. math::

    L(θ, X, y, A) = \\underbrace{\\sum_n \\sum_k -y_{nk}\\log\\hat y_{nk}}_{\\text{right answers}}
      + λ_1 \\underbrace{\\sum_n \\sum_d \\Big(A_{nd}\\,\\frac{∂}{∂x_d}\\sum_k \\log\\hat y_{nk}\\Big)^2}_{\\text{right reasons}}
      + λ_2 \\underbrace{\\sum_i θ_i^2}_{\\text{small params}}

where ``A[n, d] = 1`` marks feature ``d`` of example ``n`` as *irrelevant*.

This module holds the pieces that do not need a model:

* :func:`right_reasons_penalty` — ``Σ_d (A ⊙ g)²`` (or ``Σ_d |A ⊙ g|``) from
  precomputed input gradients ``g``, reduced over the batch;
* :class:`RightReasonsLoss` — the same as a ``keras.losses.Loss`` called as
  ``loss(A, input_gradients)``;
* :func:`input_gradient_penalty` — gradients *and* penalty from a model in one
  call (differentiable: use it inside a training tape);
* :func:`small_params_penalty` — ``Σ θ²`` over weights **and biases** (the
  reference's ``λ₂‖θ‖²``; Keras' ``kernel_regularizer`` would miss the biases);
* :func:`lambdas_from_reference` — the λ conversions between the reference's
  summed objective and a Keras (mean-reduced) one.

λ conventions (``reduction``)
-----------------------------
The reference (autograd ``MultilayerPerceptron``, ``normalize=False``) *sums*
the cross-entropy and the penalty over the batch and adds ``λ₂‖θ‖²`` once per
batch. Keras averages the cross-entropy. Dividing the reference objective by the
batch size ``B`` (which Adam is almost invariant to) gives

    mean CE + λ₁ · mean_n(penalty_n) + (λ₂ / B) ‖θ‖²

so, with a mean-reduced task loss:

* ``reduction="mean"`` (penalty averaged over examples): keep ``λ₁``;
* ``reduction="sum"`` (penalty summed over examples): use ``λ₁ / B``;
* always use ``λ₂ / B``.

Defaults differ on purpose — mind the factor ``B``: the functions of this
module (:func:`right_reasons_penalty`, :func:`input_gradient_penalty`,
:class:`RightReasonsLoss`) default to ``reduction="sum"`` (the reference's
penalty), while the term :class:`keras_egl.terms.rrr.RightReasonsTerm` and the
model :class:`keras_egl.models.rrr.RightForRightReasons` default to
``"mean"`` (so the reference's λ₁ carries over next to Keras' mean task
loss). The same λ₁ is therefore ``B`` times stronger in these functions than
in the term, for a batch of ``B`` examples.

The TF1 variant of the reference (``tensorflow_perceptron.py``) uses
``tf.nn.l2_loss`` = ``½ Σ x²`` for both the penalty and the weight decay, so its
λ's are twice the autograd ones for the same objective (``source="tensorflow"``
in :func:`lambdas_from_reference`).

Input scale: the reference trains on raw 0–255 pixels. Rescaling inputs to
[0, 1] multiplies input gradients by 255 and the penalty by 255² ≈ 65,025, so
λ₁ = 1000 on raw pixels is about λ₁ ≈ 0.015 on [0, 1] inputs.
"""

import numbers

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.explain.gradients import input_gradients as _input_gradients
from keras_egl.validation import assert_values, check_bool

__all__ = [
    "right_reasons_penalty",
    "RightReasonsLoss",
    "input_gradient_penalty",
    "small_params_penalty",
    "lambdas_from_reference",
    "NORMS",
    "REDUCTIONS",
]

NORMS = ("l2", "l1")
REDUCTIONS = ("sum", "mean")


def _check_choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; got {value!r}.")
    return value


def _check_lambda(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a non-negative real number; got {type(value).__name__} {value!r}.")
    value = float(value)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"`{name}` must be a finite number >= 0; got {value!r}.")
    return value


def _check_mask(annotation, grads):
    """Cast ``A`` to the gradients' dtype; raise on a shape mismatch (no broadcasting)."""
    annotation = tf.convert_to_tensor(annotation)
    if annotation.dtype == tf.bool or annotation.dtype.is_integer or annotation.dtype != grads.dtype:
        annotation = tf.cast(annotation, grads.dtype)
    if not annotation.shape.is_compatible_with(grads.shape):
        raise ValueError(
            "the annotation `A` must have the shape of the input `x` (one entry per input feature, "
            f"no broadcasting); got A of shape {annotation.shape} for inputs/gradients of shape "
            f"{grads.shape}.")
    if annotation.shape.rank is None or grads.shape.rank is None:
        # Unknown ranks: check at run time.
        tf.debugging.assert_equal(tf.shape(annotation), tf.shape(grads),
                                  message="`A` must have the shape of `x`.")
    # NaN/inf in A would make the penalty NaN (a NaN weight is never "no annotation").
    return assert_values(annotation, "annotation", what="finite values")


def right_reasons_penalty(annotation, grads, norm="l2", reduction="sum"):
    """The right-reasons penalty ``Σ_n Σ_d (A_nd g_nd)²`` from input gradients.

    Args:
      annotation: ``A``, same shape as ``grads`` ``(B, ...)``; 1 marks an
        irrelevant feature. Binary in the paper; real values act as
        per-feature weights (the penalty is ``(A g)²``, so ``A`` scales the
        gradient before squaring). Bool/int are cast.
      grads: input gradients ``(B, ...)``, normally of ``Σ_k log ŷ_k``.
      norm: ``"l2"`` (paper, autograd code: squares) or ``"l1"`` (absolute
        values; the TF1 variant's ``l1_grads`` option).
      reduction: ``"sum"`` over examples (reference; default) or ``"mean"``
        over examples. Features are always summed. ``RightReasonsTerm`` and
        ``RightForRightReasons`` default to ``"mean"``: the same λ₁ is ``B``
        times weaker there (see the module docstring).

    Returns:
      A scalar. An all-zero ``A`` gives exactly 0.

    Example:
      >>> g = tf.constant([[1.0, -2.0], [3.0, 4.0]])
      >>> float(right_reasons_penalty([[0, 1], [1, 0]], g))  # 4 + 9
      13.0
    """
    grads = tf.convert_to_tensor(grads)
    if not grads.dtype.is_floating:
        raise TypeError(f"`grads` must be floating point; got dtype {grads.dtype.name}.")
    if tf.executing_eagerly():
        assert_values(grads, "grads", what="finite values")
    _check_choice(norm, NORMS, "norm")
    _check_choice(reduction, REDUCTIONS, "reduction")
    annotation = _check_mask(annotation, grads)
    per_sample = _per_sample(annotation, grads, norm)
    if reduction == "sum":
        return tf.reduce_sum(per_sample)
    return tf.reduce_mean(per_sample)


def _per_sample(annotation, grads, norm):
    masked = annotation * grads
    values = tf.square(masked) if norm == "l2" else tf.abs(masked)
    rank = values.shape.rank
    if rank is None or rank < 1:
        raise ValueError(f"`grads` must have a batch axis; got shape {grads.shape}.")
    if rank == 1:
        return values
    return tf.reduce_sum(values, axis=list(range(1, rank)))


@keras.saving.register_keras_serializable(package="keras_egl")
class RightReasonsLoss(keras.losses.Loss):
    """RRR's right-reasons term as a Keras loss: ``loss(A, input_gradients)``.

    ``call`` returns the per-example penalty ``Σ_d (A_nd g_nd)²`` (shape
    ``(B,)``); the batch reduction is ``"sum"`` (the reference's convention,
    default) or ``"mean"``. The result is multiplied by ``lambda1``.

    Args:
      lambda1: strength λ₁ (≥ 0).
      norm: ``"l2"`` (default, paper) or ``"l1"``.
      reduction: ``"sum"`` (default, the reference's) or ``"mean"`` over
        examples (see the module docstring for the matching λ's; the term
        ``RightReasonsTerm`` defaults to ``"mean"``, a B-fold weaker λ₁).
      name: loss name.

    Input shapes: ``A`` and the gradients ``(B, ...)``, identical.
    Output: a scalar.

    Example:
      >>> loss = RightReasonsLoss(lambda1=1000.0, reduction="mean")
      >>> g = input_gradients(model, x, target="sum_log_prob")   # inside a tape
      >>> value = loss(A, g)
    """

    def __init__(self, lambda1=1.0, norm="l2", reduction="sum", name="right_reasons"):
        self.lambda1 = _check_lambda(lambda1, "lambda1")
        self.norm = _check_choice(norm, NORMS, "norm")
        self.rrr_reduction = _check_choice(reduction, REDUCTIONS, "reduction")
        # Both bindings name the Keras reductions alike.
        super().__init__(reduction={"sum": "sum", "mean": "sum_over_batch_size"}[reduction], name=name)

    def call(self, y_true, y_pred):
        grads = tf.convert_to_tensor(y_pred)
        if not grads.dtype.is_floating:
            raise TypeError(f"the input gradients (`y_pred`) must be floating point; got {grads.dtype.name}.")
        annotation = _check_mask(y_true, grads)
        return self.lambda1 * _per_sample(annotation, grads, self.norm)

    def get_config(self):
        return {"lambda1": self.lambda1, "norm": self.norm, "reduction": self.rrr_reduction,
                "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


def input_gradient_penalty(model, x, annotation, lambda1=1.0, target="sum_log_prob", norm="l2",
                           reduction="sum", from_logits=True, training=False, y=None):
    """``λ₁ · Σ (A ⊙ ∂/∂x s(f(x)))²`` in one call, differentiable w.r.t. the weights.

    Call it inside the training ``tf.GradientTape``: the inner gradient is
    taken on its own tape, so the outer tape sees the double-backprop graph.

    Args:
      model: a Keras classifier producing logits (or probabilities with
        ``from_logits=False``).
      x: float inputs ``(B, ...)`` (integer pixels raise ``TypeError``: cast
        them, keeping the 0–255 scale if you use the reference's λ's).
      annotation: ``A``, same shape as ``x``.
      lambda1: λ₁ ≥ 0.
      target: the differentiated score, ``"sum_log_prob"`` (RRR, computed with
        ``log_softmax``), ``"max_log_prob"``, ``"max_prob"``, ``"sum_prob"``
        (zero for a softmax: the penalty then does nothing), or a class target.
      norm, reduction: see :func:`right_reasons_penalty`.
      from_logits, training, y: passed to
        :func:`keras_egl.explain.gradients.input_gradients`.

    Returns:
      The scalar penalty.
    """
    lambda1 = _check_lambda(lambda1, "lambda1")
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        raise TypeError(f"`x` must be floating point (cast integer pixels, e.g. uint8 → float32, keeping "
                        f"their scale); got dtype {x.dtype.name}.")
    grads = _input_gradients(model, x, target=target, y=y, from_logits=from_logits, training=training)
    return lambda1 * right_reasons_penalty(annotation, grads, norm=norm, reduction=reduction)


def small_params_penalty(variables, include_biases=True, half=False):
    """``Σ θ²`` over ``variables`` (a model or a list of variables).

    The reference's ``λ₂‖θ‖²`` regularises weights **and** biases; set
    ``include_biases=False`` for Keras-style kernel-only decay (variables whose
    name contains ``"bias"`` are skipped). ``half=True`` gives ``½ Σ θ²``
    (``tf.nn.l2_loss``, the TF1 variant).

    Returns:
      A float32 scalar (0 for no variables).
    """
    include_biases = check_bool(include_biases, "include_biases")
    half = check_bool(half, "half")
    if isinstance(variables, keras.Model) or isinstance(variables, keras.layers.Layer):
        variables = variables.trainable_variables
    if isinstance(variables, (str, bytes)) or not hasattr(variables, "__iter__"):
        raise TypeError(f"`variables` must be a model, a layer or a list of variables; got "
                        f"{type(variables).__name__}.")
    variables = list(variables)
    for v in variables:
        if not (isinstance(v, tf.Variable) or tf.is_tensor(v)):
            raise TypeError(f"`variables` must hold tf.Variables (or tensors); got {type(v).__name__} {v!r}.")
    terms = []
    for v in variables:
        if not include_biases and "bias" in v.name:
            continue
        terms.append(tf.reduce_sum(tf.square(tf.cast(v, tf.float32))))
    total = tf.add_n(terms) if terms else tf.constant(0.0)
    return 0.5 * total if half else total


@renamed_argument("source", "fidelity")
def lambdas_from_reference(lambda1, lambda2, batch_size, reduction="mean", fidelity="autograd"):
    """Convert the reference's ``(λ₁, λ₂)`` to ours (mean-reduced task loss).

    The reference objective at batch size ``B`` is ``Σ CE + λ₁ Σ pen + λ₂‖θ‖²``
    (autograd) or ``Σ CE + λ₁·½Σ pen + λ₂·½‖θ‖²`` (TF1, ``tf.nn.l2_loss``).
    Divided by ``B`` it equals ``mean CE + λ₁' R(pen) + λ₂'‖θ‖²`` with

    ============  ===================  ==============
    reduction     λ₁'                  λ₂'
    ============  ===================  ==============
    ``"mean"``    ``s·λ₁``             ``s·λ₂ / B``
    ``"sum"``     ``s·λ₁ / B``         ``s·λ₂ / B``
    ============  ===================  ==============

    with ``s = 1`` for ``fidelity="autograd"`` and ``s = ½`` for
    ``fidelity="tensorflow"``.

    Args:
      lambda1, lambda2: the reference's values (≥ 0).
      batch_size: the reference batch size ``B`` (256 in ``dtak/rrr``).
      reduction: our penalty reduction, ``"mean"`` or ``"sum"``.
      fidelity: which reference code base the λ's come from: ``"autograd"``
        (``multilayer_perceptron.py``, the paper's numbers) or ``"tensorflow"``
        (``tensorflow_perceptron.py``). ``source=`` is its deprecated former name.

    Returns:
      ``(lambda1, lambda2)`` for :class:`~keras_egl.models.rrr.RightForRightReasons`.

    Example:
      >>> lambdas_from_reference(1000.0, 1e-4, 256, reduction="mean")
      (1000.0, 3.90625e-07)
    """
    lambda1 = _check_lambda(lambda1, "lambda1")
    lambda2 = _check_lambda(lambda2, "lambda2")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; got {batch_size!r}.")
    _check_choice(reduction, REDUCTIONS, "reduction")
    _check_choice(fidelity, ("autograd", "tensorflow"), "fidelity")
    scale = 1.0 if fidelity == "autograd" else 0.5
    l1 = scale * lambda1 / (batch_size if reduction == "sum" else 1)
    l2 = scale * lambda2 / batch_size
    return l1, l2
