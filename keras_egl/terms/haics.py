"""HAICS's term: masked BCE between the training Grad-CAM and scribbled annotations.

Shen et al., CHI EA 2021, the baseline of RES (Gao et al., KDD 2022, Table 1):
``λ·BCE(M_i, F_i | H_i ≠ 0)`` with ``M_i`` the true-class Grad-CAM of the
training pass (the RES code: min–max, no ReLU), ``F`` the positive mask
(``pos_mask``), ``C`` the negative mask (``neg_mask``; absent = no negative
annotation), ``H = F − C``; both masks nearest-resized to the CAM grid (the
method's own preprocessing; the masks must have the input's spatial size).
See :mod:`keras_egl.losses.haics` for the loss and the code's unmasked variant.
"""

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras
from keras_egl.explain.masks import resize_mask
from keras_egl.losses.haics import HAICSLoss
from keras_egl.terms._cam_mask import CAMMaskTerm
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK
from keras_egl.validation import check_bool

__all__ = ["HAICSTerm"]


@keras.saving.register_keras_serializable(package="keras_egl")
class HAICSTerm(CAMMaskTerm):
    """HAICS explanation term.

    Args:
      weight: λ (1 in the RES experiments).
      code_unmasked_bce: reproduce ``RES.py``'s unmasked BCE × annotated fraction.
      relu, normalize, cam_weights: training-CAM options (code: no ReLU, min–max, detached).
      pos_key, neg_key, flag_key: annotation keys of ``F``, ``C`` and the flags
        (``mask_key``/``negative_key`` are the deprecated names of ``pos_key``/``neg_key``).
      derive: ``"complement"`` (only ``neg_mask`` given: ``F = 1 − C``) or ``"error"``.
      name: log key (``"haics_loss"``).
    """

    default_name = "haics_loss"

    @renamed_argument("mask_key", "pos_key")
    @renamed_argument("negative_key", "neg_key")
    def __init__(self, weight=1.0, code_unmasked_bce=False, relu=False, normalize="minmax",
                 cam_weights="detached", pos_key=POS_MASK, neg_key=NEG_MASK, flag_key=HAS_ANNOTATION,
                 derive="complement", name=None, **kwargs):
        super().__init__(weight=weight, relu=relu, normalize=normalize, cam_weights=cam_weights,
                         pos_key=pos_key, neg_key=neg_key, flag_key=flag_key, derive=derive,
                         name=name, **kwargs)
        self.loss = HAICSLoss(check_bool(code_unmasked_bce, "code_unmasked_bce"))

    @property
    def code_unmasked_bce(self):
        return self.loss.code_unmasked_bce

    def compute(self, ctx):
        pos, neg, flags = self.masks(ctx)
        cam = self.cam(ctx)
        grid = tuple(cam.shape[1:3])
        pos = resize_mask(pos, grid, method="nearest")
        neg = None if neg is None else resize_mask(neg, grid, method="nearest")
        return self.loss(cam, pos, neg, sample_weight=flags)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(code_unmasked_bce=self.code_unmasked_bce)
        return cfg
