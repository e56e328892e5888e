"""Explanation feedback as evidence (Bekkemoen 2021) and its non-Bayesian variant.

Bayesian feedback (thesis ch. 5, eqs. 5.10–5.16). A user rejects an
explanation by marking irrelevant pixels ``F ∈ {0,1}^{w×h}`` (1 = irrelevant;
``F = 0`` = accepted or not annotated). With ``A`` the pre-activations
``(B, u, v, d)`` of the target conv layer:

    J = AdaptiveMaxPool(F, (u, v))                              (5.10)
    G = A ⊗ J                        (broadcast over d channels) (5.11)
    L = G ⊙ 1[∇_A Σ_j ŷ_j ≠ 0]       (ŷ = logits)                (5.12)
    a_F = the units where L ≠ 0;  e_act = e ∪ {a_F = 0}           (5.13)

and the per-sample loss is

    KL/n − E_q[ log P(y | a_F = 0, a_Fᶜ) + log P(a_F = 0 | X, a_Fᶜ) ]   (5.14–5.16)

where the first term is the likelihood of a forward pass with ``a_F``
clamped to 0 and the second, the **feedback evidence** implemented here, is
``Σ_{u ∈ a_F} log N(0; μ_u, σ_u²)`` under the LRT distribution of each flagged
pre-activation. :func:`feedback_unit_mask` computes ``a_F`` (eqs. 5.10–5.12);
:func:`feedback_evidence_nll` the negative evidence; the model
``keras_egl.models.bayesian.BayesianFeedbackModel`` puts both into its ELBO.

Non-Bayesian variant (thesis ch. 4, eq. 4.9), never run on its own in the
thesis:

    λ₂ / (w·h·c) · ‖ vec(F ⊗ ∇_X ŷ_c) ‖₁

with ``ŷ_c`` the softmax probability of the class of interest: the per-sample
penalty is :func:`input_gradient_feedback_penalty`; the term is
:class:`keras_egl.terms.feedback.InputGradientFeedback` (``terms.get("feedback")``),
still importable from here (loaded lazily: this module does not import the
term API).
"""

import numpy as np

from keras_egl._keras import tf
from keras_egl.explain.masks import adaptive_max_pool2d, as_map_batch
from keras_egl.validation import assert_values, check_bool, check_pair

__all__ = [
    "FEEDBACK_WEIGHT_PRESETS",
    "resolve_feedback_weight",
    "pool_feedback_mask",
    "feedback_unit_mask",
    "gaussian_nll_at_zero",
    "feedback_evidence_nll",
    "input_gradient_feedback_penalty",
    "InputGradientFeedback",
]

#: ``feedback_weight`` presets. The thesis uses no weight (1.0: "the objective
#: trades off between complexity and data"); the 2024 code
#: (observer4599/explanation-regularization-in-bnn, ``main.py`` Args) multiplies
#: the evidence by these per-data-set weights.
FEEDBACK_WEIGHT_PRESETS = {
    "thesis": 1.0,
    "v3_decoy_color": 5e-5,
    "v3_decoy_position": 3e-4,
    "v3_isic": 1e-5,
    "v3_pet_sbd": 2e-6,
}

REDUCTIONS = ("sum", "mean")


def resolve_feedback_weight(weight):
    """A float ``≥ 0`` or a key of :data:`FEEDBACK_WEIGHT_PRESETS` → float."""
    if isinstance(weight, (bool, np.bool_)) or weight is None:
        raise TypeError(f"`feedback_weight` must be a number or a preset name; got {weight!r}.")
    if isinstance(weight, str):
        if weight not in FEEDBACK_WEIGHT_PRESETS:
            raise ValueError(f"`feedback_weight` preset must be one of {sorted(FEEDBACK_WEIGHT_PRESETS)}; "
                             f"got {weight!r}.")
        return FEEDBACK_WEIGHT_PRESETS[weight]
    try:
        value = float(weight)
    except (TypeError, ValueError):
        raise TypeError(f"`feedback_weight` must be a number or a preset name; got {weight!r}.") from None
    if not value >= 0 or not np.isfinite(value):
        raise ValueError(f"`feedback_weight` must be a finite number ≥ 0; got {weight!r}.")
    return value



def pool_feedback_mask(mask, grid, pool="max", input_size=None):
    """``J = AdaptiveMaxPool(F, (u, v))`` (eq. 5.10), PyTorch's bin rule.

    Args:
      mask: ``F``, ``(B, H, W)`` or ``(B, H, W, 1)``; 1 = irrelevant pixel.
      grid: ``(u, v)`` of the target layer; both must be ≥ 2 unless the input
        is itself that small (a 1×1 grid flags *every* unit of any annotated
        sample — the degenerate literal-LeNet-5 case, refused).
      pool: ``"max"`` (thesis: a cell is flagged if any pixel of its bin is)
        or ``"erode"`` (2024 code for Pet/SBD: only if every pixel is).
      input_size: optional ``(H, W)`` of the model input; the mask must match it.

    Returns:
      ``(B, u, v)`` float.
    """
    if pool not in ("max", "erode"):
        raise ValueError(f"`pool` must be 'max' or 'erode'; got {pool!r}.")
    u, v = check_pair(grid, "grid")
    mask = as_map_batch(mask, "mask")
    if input_size is not None and tuple(mask.shape[1:3]) != tuple(input_size):
        raise ValueError(f"the feedback `mask` must have the input's spatial size {tuple(input_size)}; "
                         f"got mask shape {mask.shape}.")
    # F marks irrelevant pixels with 1: a 0/255 image mask or NaN is refused, not pooled.
    mask = assert_values(mask, "mask", low=0.0, high=1.0, what="mask values in [0, 1]")
    if (u < 2 or v < 2) and (mask.shape[1] > u or mask.shape[2] > v):
        raise ValueError(f"the feedback target layer (`grid`) has spatial size {(u, v)}: the mask would flag "
                         "every unit of any annotated sample. Choose a conv layer that keeps spatial extent "
                         "(e.g. the 7×7 conv3 of `bayesian_lenet`).")
    return adaptive_max_pool2d(mask, (u, v), erode=(pool == "erode"))


def feedback_unit_mask(mask, pre_activation, gradients=None, pool="max", nonzero_filter=True,
                       input_size=None):
    """The flagged units ``a_F`` of eqs. 5.10–5.12 as a 0/1 tensor shaped like ``A``.

    ``flagged = J ⊗ 1[A ≠ 0] ⊙ 1[∇_A Σ_j ŷ_j ≠ 0]``, with ``J`` broadcast over
    channels. Constant (no gradient flows through it).

    Args:
      mask: ``F``, ``(B, H, W)`` or ``(B, H, W, 1)``.
      pre_activation: ``A``, ``(B, u, v, d)``.
      gradients: ``∂ Σ logits / ∂A`` of the same shape, or ``None`` to skip the
        gradient filter (the 2024 code flags all channels at the pooled positions).
      pool: ``"max"`` or ``"erode"`` (see :func:`pool_feedback_mask`).
      nonzero_filter: AND with ``A ≠ 0`` (eq. 5.11's ``G`` keeps non-zeros).
      input_size: optional ``(H, W)`` to validate the mask against.

    Returns:
      ``(B, u, v, d)`` float 0/1.
    """
    nonzero_filter = check_bool(nonzero_filter, "nonzero_filter")
    pre_activation = tf.convert_to_tensor(pre_activation)
    if pre_activation.shape.rank != 4:
        raise ValueError("feedback needs a conv layer's (B, u, v, d) pre-activations (spatial extent): "
                         f"`pre_activation` has shape {pre_activation.shape}.")
    grid = pre_activation.shape[1:3]
    if grid[0] is None or grid[1] is None:
        raise ValueError(f"the target layer's spatial size must be static; got {pre_activation.shape}.")
    j = pool_feedback_mask(mask, (int(grid[0]), int(grid[1])), pool=pool, input_size=input_size)
    if j.shape[0] is not None and pre_activation.shape[0] is not None and j.shape[0] != pre_activation.shape[0]:
        raise ValueError(f"the feedback `mask` has {j.shape[0]} samples but `pre_activation` has "
                         f"{pre_activation.shape[0]} (one mask per sample; nothing is broadcast).")
    flagged = tf.cast(j[..., None] > 0, pre_activation.dtype) * tf.ones_like(pre_activation)
    if nonzero_filter:
        flagged *= tf.cast(tf.not_equal(pre_activation, 0), pre_activation.dtype)
    if gradients is not None:
        gradients = tf.convert_to_tensor(gradients)
        if not gradients.shape.is_compatible_with(pre_activation.shape):
            raise ValueError(f"`gradients` shape {gradients.shape} must equal `pre_activation` shape "
                             f"{pre_activation.shape}.")
        flagged *= tf.cast(tf.not_equal(gradients, 0), pre_activation.dtype)
    return tf.stop_gradient(flagged)


def gaussian_nll_at_zero(mean, stddev):
    """``−log N(0; μ, σ²) = ½ log(2π) + log σ + μ² / (2σ²)``, elementwise.

    Equals ``-tfd.Normal(mean, stddev).log_prob(0)``. ``stddev`` must be > 0
    (the LRT layers clamp it at ``min_stddev``).
    """
    mean = tf.convert_to_tensor(mean)
    stddev = tf.convert_to_tensor(stddev, dtype=mean.dtype)
    return 0.5 * np.log(2.0 * np.pi) + tf.math.log(stddev) + 0.5 * tf.square(mean / stddev)


def feedback_evidence_nll(mean, stddev, flagged, reduction="sum"):
    """Per-sample negative feedback evidence ``−Σ_{a_F} log N(0; μ, σ²)``.

    Args:
      mean, stddev: LRT moments of the target pre-activations ``(B, u, v, d)``.
      flagged: 0/1 ``(B, u, v, d)`` from :func:`feedback_unit_mask`.
      reduction: ``"sum"`` over flagged units (eq. 5.16, the thesis and the
        2024 code) or ``"mean"`` over them (a scale-free variant; 0 when none).

    Returns:
      ``(B,)``; 0 for samples without flagged units.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"`reduction` must be one of {REDUCTIONS}; got {reduction!r}.")
    mean = tf.convert_to_tensor(mean)
    stddev = tf.convert_to_tensor(stddev, dtype=mean.dtype)
    flagged = tf.cast(flagged, mean.dtype)
    for name, t in (("stddev", stddev), ("flagged", flagged)):
        if not t.shape.is_compatible_with(mean.shape):
            raise ValueError(f"`{name}` must have the shape of `mean` {mean.shape} (one value per unit); "
                             f"got {t.shape}.")
    if tf.executing_eagerly():
        sd = stddev.numpy()
        if sd.size and not (np.all(np.isfinite(sd)) and sd.min() > 0):
            raise ValueError(f"`stddev` must be finite and > 0 (log σ); got values in [{sd.min()}, {sd.max()}].")
        assert_values(flagged, "flagged", low=0.0, high=1.0, what="0/1 flags")
    nll = gaussian_nll_at_zero(mean, stddev) * flagged
    axes = list(range(1, nll.shape.rank))
    total = tf.reduce_sum(nll, axis=axes)
    if reduction == "mean":
        total = tf.math.divide_no_nan(total, tf.reduce_sum(flagged, axis=axes))
    return total


def input_gradient_feedback_penalty(mask, gradients, normalize=True):
    """Per-sample ``‖vec(F ⊗ H)‖₁ / (w·h·c)`` of thesis eq. 4.9 (``(B,)``).

    Args:
      mask: ``F`` (1 = irrelevant): for image gradients ``(B, H, W)`` or
        ``(B, H, W, 1)`` (broadcast over the channels) or the gradients' shape
        ``(B, H, W, C)``; for other inputs (e.g. features ``(B, D)``) the
        gradients' shape.
      gradients: ``∇_X ŷ_c``, ``(B, H, W, C)`` (or any ``(B, ...)``).
      normalize: divide by the input size ``w·h·c`` (the thesis); ``False``
        gives the raw L1.
    """
    normalize = check_bool(normalize, "normalize")
    gradients = tf.convert_to_tensor(gradients)
    rank = gradients.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"`gradients` must have shape (B, ...); got shape {gradients.shape}.")
    raw = tf.convert_to_tensor(mask) if mask is not None else None
    x_shaped = (raw is not None and raw.shape.rank == rank
                and (rank != 4 or (raw.shape[-1] == gradients.shape[-1] and gradients.shape[-1] != 1)))
    if rank == 4 and not x_shaped:
        mask = as_map_batch(mask, "mask")
        if tuple(mask.shape[1:3]) != tuple(gradients.shape[1:3]):
            raise ValueError(f"the feedback `mask` {mask.shape} must have the input's spatial size "
                             f"{tuple(gradients.shape[1:3])}.")
        mask = tf.cast(mask, gradients.dtype)[..., None]
    else:
        if raw is None or not raw.shape.is_compatible_with(gradients.shape):
            raise ValueError(f"the feedback `mask` must have the shape of the input gradients "
                             f"{gradients.shape}{' or (B, H, W)' if rank == 4 else ''}; got "
                             f"{None if raw is None else raw.shape}.")
        mask = tf.cast(raw, gradients.dtype)
    mask = assert_values(mask, "mask", low=0.0, high=1.0, what="mask values in [0, 1]")
    h = tf.abs(mask * gradients)
    total = tf.reduce_sum(h, axis=list(range(1, rank)))
    if normalize:
        total = total / float(np.prod(gradients.shape[1:]))
    return total


def __getattr__(name):
    # The term moved to keras_egl.terms.feedback; loaded lazily so that this
    # module (and keras_egl.losses) never imports the term API or the models.
    if name == "InputGradientFeedback":
        from keras_egl.terms.feedback import InputGradientFeedback

        return InputGradientFeedback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
