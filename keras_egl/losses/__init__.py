"""Explanation losses, one module per method (``rrr``, ``res``, ``gradia``, ``haics``, ``gnes``, ``feedback``)."""

from keras_egl.losses import feedback, gnes, gradia, haics, res, rrr  # noqa: F401
from keras_egl.losses.feedback import (FEEDBACK_WEIGHT_PRESETS, feedback_evidence_nll,  # noqa: F401
                                       feedback_unit_mask, pool_feedback_mask)
from keras_egl.losses.gnes import ExplanationDistance  # noqa: F401
from keras_egl.losses.gradia import (GRADIALoss, gradia_attention_loss, gradia_label,  # noqa: F401
                                     reasonability_weights)
from keras_egl.losses.haics import HAICSLoss, haics_loss  # noqa: F401
from keras_egl.losses.res import (RESLoss, adaptive_threshold, adaptive_threshold_bruteforce,  # noqa: F401
                                  annotation_target, res_distance, res_hinge, res_loss)
from keras_egl.losses.rrr import (RightReasonsLoss, input_gradient_penalty,  # noqa: F401
                                  lambdas_from_reference, right_reasons_penalty, small_params_penalty)


def __getattr__(name):
    # Terms that used to live here (they moved to keras_egl.terms); loaded
    # lazily so that importing the losses never imports the term API/models.
    if name == "InputGradientFeedback":
        from keras_egl.terms.feedback import InputGradientFeedback

        return InputGradientFeedback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
