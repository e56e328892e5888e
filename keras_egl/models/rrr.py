"""Right for the Right Reasons: the model preset and the reference MLP.

Reference: Ross, Hughes & Doshi-Velez, *Right for the Right Reasons: Training
Differentiable Models by Constraining their Explanations*, IJCAI 2017
(code: ``dtak/rrr``). The loss and its λ conventions are documented in
:mod:`keras_egl.losses.rrr`.

* :class:`RightForRightReasons` — a preset of
  :class:`~keras_egl.models.base.ExplanationGuidedModel` holding
  :class:`~keras_egl.terms.rrr.RightReasonsTerm` and
  :class:`~keras_egl.terms.rrr.SmallParamsTerm`, trained on
  ``mean CE + λ₁ R_n Σ_d (A ⊙ ∂/∂x Σ_k log ŷ)² + λ₂ Σ θ²`` (``R`` = mean or
  sum over the batch) and logging ``right_answers``, ``right_reasons``,
  ``small_params`` and ``answers_reasons_ratio`` (the authors tune λ₁ so that
  the ratio is ≈ 1 early in training). ``certainty=True`` sets ``A = 1``
  everywhere ("certainty regularisation").
* :func:`rrr_mlp` — the reference MLP (ReLU 50, 30; weights and biases drawn
  from N(0, 0.1²)); :func:`rrr_optimizer` — its Adam.

Moved, still importable from here: the terms (:mod:`keras_egl.terms.rrr`),
the largest-gradient masks ``largest_gradient_mask`` / ``gradient_mask``
(:mod:`keras_egl.explain.gradients`), find-another-explanation
``find_another_explanation`` / ``FAEResult`` / ``fit_rrr`` / ``accuracy``
(:mod:`keras_egl.training.find_another_explanation`) and the oversampling
``always_include_batches`` / ``AlwaysIncludeSequence``
(:mod:`keras_egl.training.sampling`).
"""

import importlib
import numbers

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.explain.gradients import gradient_mask, largest_gradient_mask  # noqa: F401  (re-export)
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK, ExplanationTerm
from keras_egl.terms.penalty_gradient import DEFAULT_FD_STEP
from keras_egl.terms.rrr import REFERENCE_LAMBDA2, RightReasonsTerm, SmallParamsTerm
from keras_egl.training.sampling import AlwaysIncludeSequence, always_include_batches  # noqa: F401  (re-export)
from keras_egl.validation import check_float, check_positive_int

__all__ = [
    "RightReasonsTerm",
    "SmallParamsTerm",
    "RightForRightReasons",
    "rrr_mlp",
    "rrr_optimizer",
    "largest_gradient_mask",
    "gradient_mask",
    "find_another_explanation",
    "FAEResult",
    "fit_rrr",
    "accuracy",
    "always_include_batches",
    "AlwaysIncludeSequence",
    "REFERENCE_LAMBDA2",
]

# Re-exported lazily: keras_egl.training.find_another_explanation imports this module.
_FAE_EXPORTS = ("find_another_explanation", "FAEResult", "fit_rrr", "accuracy")


def __getattr__(name):
    if name in _FAE_EXPORTS:
        return getattr(importlib.import_module("keras_egl.training.find_another_explanation"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# --------------------------------------------------------------------------- model
@keras.saving.register_keras_serializable(package="keras_egl")
class RightForRightReasons(ExplanationGuidedModel):
    """A classifier trained to be right for the right reasons (Ross et al. 2017).

    Objective (mean-reduced task loss, see :mod:`keras_egl.losses.rrr`):

    ``L = CE(y, f(x)) + λ₁ R_n Σ_d (A_nd ∂/∂x_d Σ_k log softmax(f(x_n))_k)² + λ₂ Σ θ²``

    computed from one forward pass with double backpropagation. A preset of
    :class:`~keras_egl.models.base.ExplanationGuidedModel` with the terms
    ``[RightReasonsTerm(...), SmallParamsTerm(...)]`` built from the arguments,
    followed by any ``terms`` the user adds. Works with any Keras classifier
    producing logits (MLPs, CNNs, …) whose input ``x`` is floating point
    (integer pixels are cast to float32 *without rescaling*, so the
    reference's 0–255 λ's keep their meaning).

    Data: ``fit({"x": X, "neg_mask": A}, y)`` with ``A`` the wrong reasons
    (1 = irrelevant; real values in [0, 1] weight features) of the shape of
    ``X``, or for images ``(N, H, W)`` / ``(N, H, W, 1)`` (broadcast over the
    channels). With only ``"pos_mask"`` (the right reasons) and
    ``derive="complement"`` (default), ``A = 1 − pos_mask`` on annotated
    samples. Rows of zeros, ``has_annotation = 0`` or a batch without either
    mask are unannotated: their penalty is exactly 0.

    Logs: ``loss`` = ``right_answers`` + ``right_reasons`` + ``small_params``
    (+ extra terms, + ``regularization_loss`` from the model's own
    ``add_loss``); ``task_loss`` (= ``right_answers``);
    ``answers_reasons_ratio`` = right_answers / right_reasons over the epoch
    (0 when the penalty is 0).

    Args:
      model: a ``keras.Model`` producing logits (or probabilities with
        ``from_logits=False``).
      lambda1: λ₁ (default 1000, the paper's Decoy-MNIST value on 0–255 pixels).
      lambda2: λ₂ on weights and biases (default ``1e-4/256``: the
        reference's 1e-4 on its summed objective at batch 256).
      neg_key: input-dict key of ``A`` (``"neg_mask"``); ``mask_key=`` is its
        deprecated former name.
      target: penalised score (``"sum_log_prob"``; others for the loss-variant
        study).
      norm: ``"l2"`` (default) or ``"l1"``.
      reduction: ``"mean"`` (default) or ``"sum"`` of the penalty over the
        batch. The functions of :mod:`keras_egl.losses.rrr` default to the
        reference's ``"sum"``: the same λ₁ there is B times stronger.
      certainty: penalise every feature of every sample (``A = 1``; no mask needed).
      include_biases: decay biases too (reference).
      pos_key, flag_key, derive: the right-reasons key (used when ``neg_key``
        is absent), the ``has_annotation`` key, and how a missing ``A`` is
        derived (``"complement"`` or ``"error"``); see
        :class:`~keras_egl.terms.rrr.RightReasonsTerm`.
      terms: extra terms (objects or names) appended after the two RRR terms.
      penalty_gradient, fd_step: ``"exact"`` double backprop (default) or
        ``"finite_difference"``; see :mod:`keras_egl.terms.penalty_gradient`.
      explained_layer, input_key, from_logits, explainer, explanation_metrics,
        **kwargs: see :class:`~keras_egl.models.base.ExplanationGuidedModel`.
        The explainer is the library-wide default (the input gradient of the
        predicted logit without an ``explained_layer``); the reference's
        visualisation quantity ∇ₓ max prob is
        ``explainer=InputGradient(target="max_prob", quantity="logit")``.

    Example:
      >>> clf = rrr_mlp(input_shape=(784,), n_classes=10, seed=0)
      >>> rrr = RightForRightReasons(clf, lambda1=1000.0)
      >>> rrr.compile(rrr_optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      ...             metrics=["accuracy"])
      >>> rrr.fit({"x": X, "neg_mask": A}, y, batch_size=256, epochs=64, shuffle=False)
    """

    #: Number of leading terms the preset builds from its arguments.
    _n_preset_terms = 2

    @renamed_argument("mask_key", "neg_key")
    def __init__(self, model, lambda1=1000.0, lambda2=REFERENCE_LAMBDA2, neg_key=NEG_MASK,
                 target="sum_log_prob", norm="l2", reduction="mean", certainty=False,
                 include_biases=True, pos_key=POS_MASK, flag_key=HAS_ANNOTATION, derive="complement",
                 terms=(), explained_layer=None, input_key="x", from_logits=True, explainer=None,
                 explanation_metrics=(), penalty_gradient="exact", fd_step=DEFAULT_FD_STEP, **kwargs):
        if isinstance(input_key, (list, tuple)):
            raise ValueError(f"RightForRightReasons takes one model input; got input_key={input_key!r}.")
        if isinstance(terms, (str, dict, ExplanationTerm)):
            terms = [terms]
        preset = [RightReasonsTerm(lambda1, target=target, norm=norm, reduction=reduction,
                                   certainty=certainty, neg_key=neg_key, pos_key=pos_key,
                                   flag_key=flag_key, derive=derive, penalty_gradient=penalty_gradient,
                                   fd_step=fd_step),
                  SmallParamsTerm(lambda2, include_biases=include_biases)]
        super().__init__(model, terms=preset + list(terms or ()), explained_layer=explained_layer,
                         input_key=input_key, from_logits=from_logits, explainer=explainer,
                         explanation_metrics=explanation_metrics, **kwargs)
        self.lambda1 = preset[0].lambda1
        self.lambda2 = preset[1].lambda2
        self.neg_key = neg_key
        self.pos_key = pos_key
        self.flag_key = flag_key
        self.derive = preset[0].derive
        self.target = preset[0].target
        self.norm = preset[0].norm
        self.reduction = preset[0].reduction
        self.certainty = preset[0].certainty
        self.include_biases = preset[1].include_biases
        self.penalty_gradient = preset[0].penalty_gradient
        self.fd_step = preset[0].fd_step

    @property
    def extra_terms(self):
        """The terms added with ``terms=`` (after the two RRR terms)."""
        return list(self.terms[self._n_preset_terms:])

    def split_inputs(self, inputs):
        x, annotations = super().split_inputs(inputs)
        if not isinstance(x, (list, tuple)):
            x = tf.convert_to_tensor(x) if not isinstance(x, tf.Tensor) else x
            if not x.dtype.is_floating:
                # Integer pixels: cast, keep the scale (the reference trains on raw 0–255).
                x = tf.cast(x, tf.float32)
                if isinstance(annotations, dict) and annotations:
                    annotations = dict(annotations)
                    annotations[self.input_key] = x
        return x, annotations

    def _metric_logs(self, include_explanation):
        # Added here, not in the step: Keras rebuilds epoch logs from
        # get_metrics_result() only when its keys equal the step's; otherwise it
        # falls back to step logs, which MultiWorkerMirroredStrategy sums over
        # workers (History was 2x the true values).
        logs = super()._metric_logs(include_explanation)
        # Read from the logs (not the base's private trackers): epoch means so far.
        answers = logs["task_loss"]
        reasons = logs[self.terms[0].name]
        logs["right_answers"] = answers
        logs["answers_reasons_ratio"] = tf.math.divide_no_nan(answers, reasons)
        return logs

    def get_config(self):
        config = super().get_config()
        # The two preset terms are rebuilt from the arguments below; only the
        # user's extra terms are kept (as the `terms` argument they came from).
        config.pop("terms", None)
        extra = self.extra_terms
        if extra:
            config["terms"] = [keras.saving.serialize_keras_object(t) for t in extra]
        config.update({"lambda1": self.lambda1, "lambda2": self.lambda2, "neg_key": self.neg_key,
                       "target": self.target, "norm": self.norm, "reduction": self.reduction,
                       "certainty": self.certainty, "include_biases": self.include_biases,
                       "pos_key": self.pos_key, "flag_key": self.flag_key, "derive": self.derive,
                       "penalty_gradient": self.penalty_gradient, "fd_step": self.fd_step})
        return config


# ------------------------------------------------------------------------ builders
def rrr_mlp(input_shape=(784,), n_classes=10, hidden=(50, 30), init_stddev=0.1, activation="relu",
            seed=None, name="rrr_mlp"):
    """The reference MLP of ``dtak/rrr`` (``MultilayerPerceptron``), producing logits.

    ReLU hidden layers (50, 30 by default); **weights and biases** drawn from
    N(0, ``init_stddev``²) (reference: ``0.1 * randn``; Keras would use Glorot
    and zero biases). Inputs of rank > 1 are flattened.

    Args:
      input_shape: shape of one example, e.g. ``(784,)`` or ``(5, 5, 3)``.
      n_classes: number of logits.
      hidden: hidden widths.
      init_stddev: standard deviation of the normal initialiser.
      activation: hidden activation.
      seed: seeds the initialisers (``None`` = random).
      name: model name.

    Returns:
      A functional ``keras.Model``.
    """
    if isinstance(input_shape, numbers.Integral) and not isinstance(input_shape, bool):
        input_shape = (int(input_shape),)
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in input_shape):
        raise ValueError(f"`input_shape` must be a non-empty tuple of positive ints; got {input_shape!r}.")
    input_shape = tuple(int(d) for d in input_shape)
    n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
    init_stddev = check_float(init_stddev, "init_stddev", low=0.0, low_inclusive=False)
    if isinstance(hidden, numbers.Integral) or not all(
            isinstance(u, numbers.Integral) and not isinstance(u, bool) for u in hidden):
        raise TypeError(f"`hidden` must be a tuple of ints; got {hidden!r}.")
    if any(u < 1 for u in hidden):
        raise ValueError(f"`hidden` widths must be >= 1; got {hidden!r}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"`seed` must be an int or None; got {type(seed).__name__} {seed!r}.")

    def init(k):
        return keras.initializers.RandomNormal(0.0, float(init_stddev),
                                               seed=None if seed is None else int(seed) * 1009 + k)

    inputs = keras.Input(shape=tuple(input_shape), name="x")
    h = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(int(units), activation=activation, kernel_initializer=init(2 * i),
                               bias_initializer=init(2 * i + 1), name=f"dense_{i}")(h)
    out = keras.layers.Dense(int(n_classes), kernel_initializer=init(100),
                             bias_initializer=init(101), name="logits")(h)
    return keras.Model(inputs, out, name=name)


def rrr_optimizer(learning_rate=1e-3, epsilon=1e-8):
    """Adam as in the reference (autograd: step 1e-3, ε = 1e-8; Keras' default ε is 1e-7)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, epsilon=epsilon)
