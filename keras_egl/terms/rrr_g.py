"""RRR-G: Right for the Right Reasons on Grad-CAM, as an explanation term.

Schramowski et al. (Nature Machine Intelligence 2020) replace RRR's input
gradient by the Grad-CAM of the last convolutional layer; the XIL typology
(Friedrich, Stammer, Schramowski & Kersting, *Nature Machine Intelligence*
2023; code ``xil_methods/xil_loss.py: RRRGradCamLoss``) is the reference
implementation this term follows:

    L = 1/B Σ_i flag_i Σ_{p ∈ grid} (A'_ip · M̂_ip)²

* ``M̂_i``: Grad-CAM of the explained layer for the **predicted** class
  (``argmax`` of the logits — not the label: the penalty removes whatever
  the model currently uses), **no ReLU**, min–max normalised per sample;
  first-order channel weights (``cam_weights="detached"``: Captum's
  ``LayerGradCam`` takes ``∂y/∂A`` without ``create_graph``);
* ``A'_i``: the wrong-reason mask (``neg_mask``) brought down to the CAM grid
  (``resize``; the mask itself must have the input's spatial size);
* ``flag_i``: the sample's annotation flag (``has_annotation``, else "mask
  non-empty"); only ``pos_mask`` given → ``A = 1 − pos_mask`` on annotated
  samples (``derive="complement"``).

Where this differs from the reference code:

* **reduction** — the code's default ``reduction="sum"`` is ``B ×`` this value
  (its ``"mean"`` equals it); we average over the batch so λ does not depend
  on the batch size. Its ``normalization_rate × regularization_rate`` is our
  ``weight``; ``rr_clipping`` is not provided.
* **mask resizing** — the code uses ``torchvision.transforms.Resize`` (bilinear,
  antialiased in recent torchvision); we default to ``"area"`` (box-filter
  means: the exact coverage of each CAM cell), see
  :func:`keras_egl.explain.masks.resize_mask` for the alternatives.
* **forward pass** — the code switches to ``model.eval()`` and runs Captum's
  own forward pass; the term uses the training step's pass (like the GRADIA,
  HAICS and RES terms), identical for models without dropout/BatchNorm.
* **normaliser** — the code divides by ``max − min + 1e-6``; ours is exact and
  NaN-safe (a constant CAM becomes 0).
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import RESIZE_METHODS, resize_mask
from keras_egl.terms._cam_mask import CAMMaskTerm
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK
from keras_egl.validation import check_choice

__all__ = ["RRRGradCAMTerm"]


@keras.saving.register_keras_serializable(package="keras_egl")
class RRRGradCAMTerm(CAMMaskTerm):
    """RRR-G: squared predicted-class Grad-CAM on the wrong reasons (see module docstring).

    Args:
      weight: λ.
      resize: how ``neg_mask`` is brought to the CAM grid: ``"area"``
        (default), ``"nearest"``, ``"nearest_exact"`` or ``"area_blur"``.
      relu, normalize, cam_weights: training-CAM options (reference: no ReLU,
        min–max, first-order weights).
      neg_key, pos_key, flag_key: annotation keys (``"neg_mask"``,
        ``"pos_mask"``, ``"has_annotation"``).
      derive: ``"complement"`` (only ``pos_mask`` given: ``A = 1 − pos``) or ``"error"``.
      name: log key (``"rrr_g_loss"``).

    Example:
      >>> egl = ExplanationGuidedModel(cnn, terms=[RRRGradCAMTerm(weight=10.0)],
      ...                              explained_layer="conv_last")
      >>> egl.fit({"x": x, "neg_mask": decoy_masks}, y)
    """

    default_name = "rrr_g_loss"
    needs = ("neg",)

    def __init__(self, weight=1.0, resize="area", relu=False, normalize="minmax", cam_weights="detached",
                 neg_key=NEG_MASK, pos_key=POS_MASK, flag_key=HAS_ANNOTATION, derive="complement",
                 name=None, **kwargs):
        super().__init__(weight=weight, relu=relu, normalize=normalize, cam_weights=cam_weights,
                         pos_key=pos_key, neg_key=neg_key, flag_key=flag_key, derive=derive,
                         name=name, **kwargs)
        self.resize = check_choice(resize, RESIZE_METHODS, "resize")

    def cam(self, ctx):
        """The **predicted**-class Grad-CAM at the explained layer's grid, ``(B, h, w)``."""
        return ctx.grad_cam(target="pred", cam_weights=self.cam_weights, relu=self.relu,
                            normalize=self.normalize)

    def compute(self, ctx):
        _, neg, flags = self.masks(ctx)
        cam = self.cam(ctx)
        neg = resize_mask(neg, tuple(cam.shape[1:3]), method=self.resize)
        per_sample = tf.reduce_sum(tf.square(neg * cam), axis=[1, 2])
        return tf.reduce_mean(per_sample * flags)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(resize=self.resize)
        return cfg
