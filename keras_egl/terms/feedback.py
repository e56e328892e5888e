"""Non-Bayesian explanation feedback (Bekkemoen 2021, thesis ch. 4, eq. 4.9) as a term.

:class:`InputGradientFeedback`:

    λ₂ / (w·h·c) · ‖ vec(F ⊗ ∇_X ŷ_c) ‖₁

averaged over the batch, with ``F`` the rejected region (``neg_mask``, the
wrong reasons) and ``ŷ_c`` the softmax probability of the class of interest.
The per-sample penalty is in :func:`keras_egl.losses.feedback.input_gradient_feedback_penalty`;
the Bayesian variant is :class:`keras_egl.models.bayesian.BayesianFeedbackModel`.
"""

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.explain.explainers import _check_target
from keras_egl.explain.targets import CLASS_TARGETS
from keras_egl.losses.feedback import input_gradient_feedback_penalty
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK, ExplanationTerm
from keras_egl.terms.penalty_gradient import DEFAULT_FD_STEP, InputGradientPenaltyMixin
from keras_egl.validation import check_bool, check_choice

__all__ = ["InputGradientFeedback"]


@keras.saving.register_keras_serializable(package="keras_egl")
class InputGradientFeedback(InputGradientPenaltyMixin, ExplanationTerm):
    """Non-Bayesian explanation feedback (Bekkemoen 2021, thesis ch. 4, eq. 4.9).

    ``L* = L(y, ŷ) + λ₂/(w·h·c) · ‖vec(F ⊗ ∇_X ŷ_c)‖₁``, averaged over the batch
    (eq. 4.10); the per-sample penalty is multiplied by the annotation flags,
    so samples without feedback contribute exactly 0. Unlike RRR it takes the
    L1 norm of the gradient of **one class's softmax probability** and
    normalises by the input size. Needs double backprop (the model records the
    forward pass on a persistent tape).

    Annotation: ``F`` is the ``neg_mask`` (1 = rejected, irrelevant pixel):
    ``(B, H, W)`` / ``(B, H, W, 1)`` (broadcast over channels) or ``x``-shaped
    ``(B, H, W, C)``; feature inputs ``(B, D)`` take ``(B, D)``. With only a
    ``pos_mask`` and ``derive="complement"`` (default), ``F = 1 − pos_mask``
    on annotated samples; ``derive="error"`` raises. ``has_annotation``
    flags, when given, decide which samples count.

    Args:
      weight: λ₂.
      target: the class of interest: ``"true"`` (default; the thesis's "class
        of interest" for a rejected explanation of a training sample),
        ``"pred"`` or a class index.
      quantity: ``"prob"`` (the thesis: softmax output), ``"logit"`` or
        ``"log_prob"``.
      normalize: divide by ``w·h·c`` (the input size).
      name: log key (``"feedback_loss"``).
      neg_key: input-dict key of ``F`` (``"neg_mask"``). ``mask_key=`` is its
        deprecated former name.
      pos_key, flag_key, derive: see :class:`keras_egl.terms.core.ExplanationTerm`.
      penalty_gradient: ``"exact"`` (double backprop, default) or
        ``"finite_difference"`` (see :mod:`keras_egl.terms.penalty_gradient`).
      fd_step: ``τ`` of the finite-difference step (default 1e-3).

    Example:
      >>> egl = ExplanationGuidedModel(cnn, terms=[InputGradientFeedback(weight=100.0)])
      >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
      >>> egl.fit({"x": x, "neg_mask": F}, y)
    """

    default_name = "feedback_loss"
    needs = ("neg",)

    @renamed_argument("mask_key", "neg_key")
    def __init__(self, weight=1.0, target="true", quantity="prob", normalize=True, name=None,
                 neg_key=NEG_MASK, pos_key=POS_MASK, flag_key=HAS_ANNOTATION, derive="complement",
                 penalty_gradient="exact", fd_step=DEFAULT_FD_STEP, **kwargs):
        super().__init__(weight=weight, name=name, **kwargs)
        # Checked here: a misspelt target would otherwise fail only in the first training step.
        self.target = _check_target(target, CLASS_TARGETS)
        self.quantity = check_choice(quantity, ("prob", "logit", "log_prob"), "quantity")
        self.normalize = check_bool(normalize, "normalize")
        self.set_mask_keys(pos_key, neg_key, flag_key, derive)
        self.set_penalty_gradient(penalty_gradient, fd_step)

    def compute(self, ctx):
        _, neg, flags = self.masks(ctx, allow_channels=True)

        def penalty(grads):
            per_sample = input_gradient_feedback_penalty(neg, grads, self.normalize)
            return tf.reduce_mean(per_sample * tf.cast(flags, per_sample.dtype))

        return self.input_gradient_penalty(ctx, penalty, self.target, self.quantity)

    def get_config(self):
        config = super().get_config()
        config.update({"target": self.target, "quantity": self.quantity, "normalize": self.normalize,
                       **self.mask_key_config(), **self.penalty_gradient_config()})
        return config
