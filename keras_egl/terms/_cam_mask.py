"""Shared base of the Grad-CAM-vs-mask terms (GRADIA, HAICS, RES).

All three supervise the explained layer's true-class Grad-CAM of the training
pass with the annotation vocabulary of :mod:`keras_egl.terms.core`: they need
the positive mask (``needs = ("pos",)``), read the keys given to their
constructor (``pos_key``, ``neg_key``, ``flag_key``) and derive a missing
positive mask from the negative one by ``derive``.
"""

from keras_egl.explain.grad_cam import CAM_WEIGHTS
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK, ExplanationTerm
from keras_egl.validation import check_bool, check_choice

__all__ = ["CAMMaskTerm", "CAM_NORMALIZE", "CAM_WEIGHTS"]

CAM_NORMALIZE = ("minmax", "max", "relu_minmax", None)


class CAMMaskTerm(ExplanationTerm):
    """Base of a term comparing the training Grad-CAM with the annotation masks.

    Args:
      weight: λ.
      relu, normalize, cam_weights: training-CAM options (the RES/GRADIA code:
        no ReLU, min–max, first-order "detached" channel weights;
        ``cam_weights="elementwise"`` supervises HiResCAM instead, see
        :mod:`keras_egl.explain.grad_cam`).
      pos_key, neg_key, flag_key: input-dict keys of the right-reason mask, the
        wrong-reason mask and the per-sample annotation flag.
      derive: ``"complement"`` (a batch with only ``neg_key`` uses
        ``pos = 1 − neg`` on annotated samples) or ``"error"``.
      name: log key.
    """

    needs = ("pos",)

    def __init__(self, weight=1.0, relu=False, normalize="minmax", cam_weights="detached",
                 pos_key=POS_MASK, neg_key=NEG_MASK, flag_key=HAS_ANNOTATION, derive="complement",
                 name=None, **kwargs):
        super().__init__(weight=weight, name=name, **kwargs)
        self.relu = check_bool(relu, "relu")
        self.normalize = check_choice(normalize, CAM_NORMALIZE, "normalize")
        self.cam_weights = check_choice(cam_weights, CAM_WEIGHTS, "cam_weights")
        self.set_mask_keys(pos_key, neg_key, flag_key, derive)

    def cam(self, ctx):
        """The true-class Grad-CAM at the explained layer's grid, ``(B, h, w)``."""
        return ctx.grad_cam(target="true", cam_weights=self.cam_weights, relu=self.relu,
                            normalize=self.normalize)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(relu=self.relu, normalize=self.normalize, cam_weights=self.cam_weights,
                   **self.mask_key_config())
        return cfg
