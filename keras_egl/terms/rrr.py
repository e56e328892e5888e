"""Right for the Right Reasons as explanation terms (Ross, Hughes & Doshi-Velez, IJCAI 2017).

* :class:`RightReasonsTerm` — ``λ₁ · R_n flag_n Σ_d (A_nd ∂/∂x_d s(f(x_n)))²``,
  the input-gradient penalty on the **wrong** reasons ``A`` (``neg_mask``);
* :class:`SmallParamsTerm` — ``λ₂ Σ θ²`` over the wrapped model's weights and
  biases.

Both work on any Keras classifier wrapped in an
:class:`~keras_egl.models.base.ExplanationGuidedModel`;
:class:`~keras_egl.models.rrr.RightForRightReasons` is the preset holding the
two. The penalty functions and the λ conventions (the reference *sums* over
the batch, these terms *average*: ``reduction="mean"``, so λ₁ keeps the
reference's value; see :mod:`keras_egl.losses.rrr`) live in
:mod:`keras_egl.losses.rrr`.

Annotation (the vocabulary of :mod:`keras_egl.terms.core`):

* ``neg_mask`` = ``A``: 1 where the features are irrelevant (the decoy).
  Image inputs ``(B, H, W, C)`` take an image mask ``(B, H, W)`` /
  ``(B, H, W, 1)`` — broadcast over the channels by the term — or an
  ``x``-shaped ``(B, H, W, C)`` one; feature inputs ``(B, D)`` take
  ``(B, D)``. Values in ``[0, 1]`` (soft values weight the gradient before
  squaring).
* only ``pos_mask`` (the right reasons) given: with ``derive="complement"``
  (default) ``A = 1 − pos_mask`` on annotated samples (0 elsewhere);
  ``derive="error"`` raises instead.
* ``has_annotation``: optional ``(B,)`` flags; the per-sample penalty is
  multiplied by them (an unannotated sample contributes exactly 0). Without
  it a sample is annotated when its mask is non-zero.
"""

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.explain.explainers import _check_target
from keras_egl.explain.targets import CLASS_TARGETS, NAMED_TARGETS
from keras_egl.losses.rrr import NORMS, REDUCTIONS, small_params_penalty
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK, ExplanationTerm
from keras_egl.terms.penalty_gradient import DEFAULT_FD_STEP, InputGradientPenaltyMixin
from keras_egl.validation import check_bool, check_choice, check_non_negative

__all__ = ["RightReasonsTerm", "SmallParamsTerm", "REFERENCE_LAMBDA2", "broadcast_mask", "per_sample_penalty"]

#: The reference's λ₂ = 1e-4 (summed objective, batch 256) in our mean-reduced convention.
REFERENCE_LAMBDA2 = 1e-4 / 256


def broadcast_mask(mask, like):
    """``mask`` with trailing size-1 axes until it has ``like``'s rank (an image mask over channels).

    ``(B, H, W)`` against input gradients ``(B, H, W, C)`` becomes
    ``(B, H, W, 1)``, which broadcasts over the channels; an ``x``-shaped mask
    is returned unchanged. Cast to ``like``'s dtype.
    """
    mask = tf.cast(mask, like.dtype)
    rank, target = mask.shape.rank, like.shape.rank
    if rank is None or target is None or rank > target:
        raise ValueError(f"the mask of shape {mask.shape} cannot annotate input gradients of shape "
                         f"{like.shape}.")
    for _ in range(target - rank):
        mask = mask[..., None]
    return mask


def per_sample_penalty(mask, grads, norm="l2"):
    """``(B,)``: ``Σ_d (A_nd g_nd)²`` (``"l2"``) or ``Σ_d |A_nd g_nd|`` (``"l1"``).

    The same arithmetic as :func:`keras_egl.losses.rrr.right_reasons_penalty`
    before its batch reduction; ``mask`` is broadcast over channels
    (:func:`broadcast_mask`).
    """
    masked = broadcast_mask(mask, grads) * grads
    values = tf.square(masked) if norm == "l2" else tf.abs(masked)
    rank = values.shape.rank
    if rank == 1:
        return values
    return tf.reduce_sum(values, axis=list(range(1, rank)))


@keras.saving.register_keras_serializable(package="keras_egl")
class RightReasonsTerm(InputGradientPenaltyMixin, ExplanationTerm):
    """``λ₁ · R_n flag_n Σ_d (A_nd ∂/∂x_d s(f(x_n)))²`` — RRR's right-reasons term.

    ``A`` is the ``neg_mask`` (wrong reasons; see the module docstring for
    its shapes, the ``pos_mask`` complement and the flags). The logged value
    already includes λ₁, so ``right_answers`` and ``right_reasons`` are
    directly comparable (as the authors compare them); keep ``weight`` at 1.

    λ convention: ``reduction="mean"`` (the default here) averages over the
    batch, while the reference and the functions of
    :mod:`keras_egl.losses.rrr` (``right_reasons_penalty``,
    ``input_gradient_penalty``, ``RightReasonsLoss``; default ``"sum"``)
    sum — the same λ₁ is therefore B-fold weaker here than in those
    functions. With a mean-reduced task loss, ``"mean"`` keeps the
    reference's λ₁; ``"sum"`` needs λ₁ / B
    (:func:`keras_egl.losses.rrr.lambdas_from_reference`).

    Args:
      lambda1: λ₁ ≥ 0, finite.
      target: the differentiated score: ``"sum_log_prob"`` (paper and code,
        from logits with ``log_softmax``), ``"max_log_prob"``, ``"max_prob"``
        or ``"sum_prob"`` (the loss variants the authors tried); or a class
        (``"true"``, ``"pred"`` or an index), scored by its logit (probability
        with ``from_logits=False``).
      norm: ``"l2"`` (squares) or ``"l1"``.
      reduction: ``"mean"`` (default) or ``"sum"`` over the batch (see above).
      certainty: ignore every annotation and penalise all features of all
        samples (``A = 1``, "certainty regularisation"): the term is then
        active on every batch and needs no mask.
      weight: multiplier of the term in the total loss (λ₁ is inside the term).
      name: log key (``"right_reasons"``).
      neg_key: input-dict key of ``A`` (``"neg_mask"``). ``mask_key=`` is its
        deprecated former name.
      pos_key: key of the right-reasons mask used when ``neg_key`` is absent.
      flag_key: key of the per-sample ``has_annotation`` flags.
      derive: ``"complement"`` (``A = 1 − pos_mask`` when only ``pos_key`` is
        given) or ``"error"``.
      penalty_gradient: how the penalty's parameter gradient is taken:
        ``"exact"`` (double backprop, default) or ``"finite_difference"`` (one
        extra forward pass at ``x + h·v̂``; the logged value stays exact; see
        :mod:`keras_egl.terms.penalty_gradient`).
      fd_step: ``τ`` of the finite-difference step ``h = τ·rms(x)·√nnz(v)``
        (default 1e-3).

    Example:
      >>> egl = ExplanationGuidedModel(cnn, terms=[RightReasonsTerm(lambda1=10.0)])
      >>> egl.fit({"x": x, "neg_mask": decoy_masks}, y)
    """

    default_name = "right_reasons"
    needs = ("neg",)

    @renamed_argument("mask_key", "neg_key")
    def __init__(self, lambda1=1000.0, target="sum_log_prob", norm="l2", reduction="mean", certainty=False,
                 weight=1.0, name=None, neg_key=NEG_MASK, pos_key=POS_MASK, flag_key=HAS_ANNOTATION,
                 derive="complement", penalty_gradient="exact", fd_step=DEFAULT_FD_STEP, **kwargs):
        super().__init__(weight=weight, name=name, **kwargs)
        self.lambda1 = check_non_negative(lambda1, "lambda1")
        self.set_penalty_gradient(penalty_gradient, fd_step)
        # Checked here: a misspelt target would otherwise fail only in the first training step.
        self.target = _check_target(target, NAMED_TARGETS + CLASS_TARGETS)
        self.norm = check_choice(norm, NORMS, "norm")
        self.reduction = check_choice(reduction, REDUCTIONS, "reduction")
        self.certainty = check_bool(certainty, "certainty")
        self.set_mask_keys(pos_key, neg_key, flag_key, derive)

    def is_active(self, ctx):
        return True if self.certainty else super().is_active(ctx)

    def compute(self, ctx):
        if self.lambda1 == 0.0:
            return tf.constant(0.0)
        neg = flags = None
        if not self.certainty:
            _, neg, flags = self.masks(ctx, allow_channels=True)

        def penalty(grads):
            if self.certainty:
                per_sample = per_sample_penalty(tf.ones_like(grads), grads, self.norm)
            else:
                per_sample = per_sample_penalty(neg, grads, self.norm) * tf.cast(flags, grads.dtype)
            reduced = tf.reduce_sum(per_sample) if self.reduction == "sum" else tf.reduce_mean(per_sample)
            return self.lambda1 * reduced

        return self.input_gradient_penalty(ctx, penalty, self.target, "logit" if ctx.from_logits else "prob")

    def get_config(self):
        config = super().get_config()
        config.update({"lambda1": self.lambda1, "target": self.target, "norm": self.norm,
                       "reduction": self.reduction, "certainty": self.certainty, **self.mask_key_config(),
                       **self.penalty_gradient_config()})
        return config


@keras.saving.register_keras_serializable(package="keras_egl")
class SmallParamsTerm(ExplanationTerm):
    """``λ₂ Σ θ²`` over the wrapped model's trainable weights **and biases**.

    Reads no annotation (active on every batch). The logged value includes λ₂.

    Args:
      lambda2: λ₂ ≥ 0, finite (reference: 1e-4 on a summed objective at batch
        256, i.e. ``REFERENCE_LAMBDA2`` = 1e-4/256 with a mean task loss).
      include_biases: the reference decays biases too (default ``True``).
      weight: multiplier of the term (λ₂ is inside the term).
      name: log key (``"small_params"``).
    """

    default_name = "small_params"

    def __init__(self, lambda2=REFERENCE_LAMBDA2, include_biases=True, weight=1.0, name=None, **kwargs):
        super().__init__(weight=weight, name=name, **kwargs)
        self.lambda2 = check_non_negative(lambda2, "lambda2")
        self.include_biases = check_bool(include_biases, "include_biases")

    def compute(self, ctx):
        if self.lambda2 == 0.0:
            return tf.constant(0.0)
        model = getattr(ctx.model, "model", ctx.model)
        return self.lambda2 * small_params_penalty(model.trainable_variables,
                                                   include_biases=self.include_biases)

    def get_config(self):
        config = super().get_config()
        config.update({"lambda2": self.lambda2, "include_biases": self.include_biases})
        return config
