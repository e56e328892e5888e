"""HAICS model: Grad-CAM supervision with a masked BCE to scribbled annotations.

Shen et al., CHI EA 2021, the baseline of RES (Gao et al., KDD 2022, Table 1):
``min Σ_i CE_i + λ·BCE(M_i, F_i | H_i ≠ 0)`` with ``M_i`` the true-class
Grad-CAM (min–max, no ReLU, like the RES code's training CAM), computed
batched from the training pass, and the masks nearest-resized to the CAM grid.
See :mod:`keras_egl.losses.haics` for the loss and the code's unmasked variant.

Example:
  >>> egl = HAICSModel(build_small_cnn(), explained_layer="cam_conv")
  >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  >>> egl.fit({"x": x, "mask": pos, "negative_mask": neg}, y, epochs=30)
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import resize_mask
from keras_egl.losses.haics import HAICSLoss
from keras_egl.metrics.explanation import (ExplanationF1, ExplanationIoU, ExplanationPrecision,
                                           ExplanationRecall)
from keras_egl.models.base import ExplanationGuidedModel, ExplanationTerm

__all__ = ["HAICSTerm", "HAICSModel"]


def _masks(x, name):
    x = tf.cast(tf.convert_to_tensor(x), tf.float32)
    if x.shape.rank == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.shape.rank != 3:
        raise ValueError(f"`{name}` must be (B, H, W) or (B, H, W, 1); got {x.shape}.")
    return x


@keras.saving.register_keras_serializable(package="keras_egl")
class HAICSTerm(ExplanationTerm):
    """HAICS explanation term.

    Args:
      weight: λ (1 in the RES experiments).
      code_unmasked_bce: reproduce ``RES.py``'s unmasked BCE × annotated fraction.
      relu, normalize, cam_weights: training-CAM options (code: no ReLU, min–max, detached).
      mask_key, negative_key: input keys of ``F`` and ``C``.
      name: log key (``"haics_loss"``).
    """

    default_name = "haics_loss"
    required_annotations = ("mask",)

    def __init__(self, weight=1.0, code_unmasked_bce=False, relu=False, normalize="minmax",
                 cam_weights="detached", mask_key="mask", negative_key="negative_mask", name=None):
        super().__init__(weight=weight, name=name)
        self.loss = HAICSLoss(code_unmasked_bce)
        self.relu, self.normalize, self.cam_weights = bool(relu), normalize, cam_weights
        self.mask_key, self.negative_key = mask_key, negative_key

    def compute(self, ctx):
        cam = ctx.grad_cam(target="true", weights=self.cam_weights, relu=self.relu,
                           normalize=self.normalize)
        grid = tuple(cam.shape[1:3])
        pos = _masks(ctx.annotation(self.mask_key), self.mask_key)
        neg = ctx.annotation(self.negative_key)
        neg = None if neg is None else resize_mask(_masks(neg, self.negative_key), grid, method="nearest")
        pos = resize_mask(pos, grid, method="nearest")
        return self.loss(cam, pos, neg, sample_weight=ctx.flags(self.mask_key))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(code_unmasked_bce=self.loss.code_unmasked_bce, relu=self.relu,
                   normalize=self.normalize, cam_weights=self.cam_weights, mask_key=self.mask_key,
                   negative_key=self.negative_key)
        return cfg


@keras.saving.register_keras_serializable(package="keras_egl")
class HAICSModel(ExplanationGuidedModel):
    """A classifier trained with :class:`HAICSTerm`; metrics IoU@0.5 and P/R/F1 at input size.

    Args:
      model, explained_layer: classifier and Grad-CAM layer.
      weight: λ.
      code_unmasked_bce: the code's variant of the loss.
      terms: explicit terms (used by ``from_config``).
      **kwargs: passed to :class:`ExplanationGuidedModel`.
    """

    def __init__(self, model, explained_layer, weight=1.0, code_unmasked_bce=False, terms=None,
                 explanation_metrics=None, explainer=None, **kwargs):
        terms = terms if terms is not None else [HAICSTerm(weight, code_unmasked_bce)]
        if explanation_metrics is None:
            keys = ("mask", "negative_mask")
            explanation_metrics = [
                (ExplanationIoU(0.5, normalize=None), ("mask",)),
                (ExplanationPrecision(normalize=None), keys), (ExplanationRecall(normalize=None), keys),
                (ExplanationF1(normalize=None), keys)]
        if explainer is None:
            def explainer(ctx):  # RES.py model_test: predicted class, no ReLU, min–max
                return ctx.grad_cam(target="pred", relu=False, normalize="minmax", upsample="bilinear")
        super().__init__(model, terms=terms, explained_layer=explained_layer, explainer=explainer,
                         explanation_metrics=explanation_metrics, **kwargs)
