"""HINT as an explanation term, in the XIL typology's simplified form.

Selvaraju et al., "Taking a HINT: Leveraging Explanations to Make Vision and
Language Models More Grounded", ICCV 2019, align the network's Grad-CAM
importance with human importance maps. The XIL typology (Friedrich, Stammer,
Schramowski & Kersting, *Nature Machine Intelligence* 2023; code
``xil_methods/xil_loss.py: HINTLoss``) replaces HINT's pairwise ranking loss
over region proposals by a pixel-wise squared error on images, which this
term follows:

    L = 1/B Σ_i flag_i · 1/(hw) Σ_{p ∈ grid} (M̂_ip − F'_ip)²

* ``M̂_i``: Grad-CAM of the explained layer for the **true** class, no ReLU,
  min–max normalised, first-order channel weights (Captum's ``LayerGradCam``);
* ``F'_i``: the right-reason mask (``pos_mask``) brought down to the CAM grid
  (``resize``; the mask must have the input's spatial size);
* ``flag_i``: the annotation flag; only ``neg_mask`` given → ``F = 1 − neg_mask``
  on annotated samples (``derive="complement"``).

HINT *rewards* attention on the right reasons where RRR-G
(:mod:`keras_egl.terms.rrr_g`) *penalises* it on the wrong ones.

Where this differs from the reference code:

* **reduction** — the code's default ``F.mse_loss(reduction="sum")`` is
  ``B·h·w ×`` this value (its ``"mean"`` is this value ``/ B``); we take the
  per-sample mean squared error and average over the batch. Its
  ``normalization_rate × regularization_rate`` is our ``weight``.
* **mask resizing** — the code downsamples with ``torchvision`` ``Resize``
  (bilinear) or, with ``upsample=True``, compares at the input size; we
  downsample with ``resize`` (default ``"area"``).
* **forward pass / normaliser** — as for RRR-G: the training step's pass
  instead of a separate ``model.eval()`` pass, and an exact NaN-safe min–max
  instead of ``max − min + 1e-6``.
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import RESIZE_METHODS, resize_mask
from keras_egl.terms._cam_mask import CAMMaskTerm
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK
from keras_egl.validation import check_choice

__all__ = ["HINTTerm"]


@keras.saving.register_keras_serializable(package="keras_egl")
class HINTTerm(CAMMaskTerm):
    """HINT (XIL form): MSE between the true-class Grad-CAM and the right reasons (see module docstring).

    Args:
      weight: λ.
      resize: how ``pos_mask`` is brought to the CAM grid: ``"area"``
        (default), ``"nearest"``, ``"nearest_exact"`` or ``"area_blur"``.
      relu, normalize, cam_weights: training-CAM options (reference: no ReLU,
        min–max, first-order weights).
      pos_key, neg_key, flag_key: annotation keys (``"pos_mask"``,
        ``"neg_mask"``, ``"has_annotation"``).
      derive: ``"complement"`` (only ``neg_mask`` given: ``F = 1 − neg``) or ``"error"``.
      name: log key (``"hint_loss"``).

    Example:
      >>> egl = ExplanationGuidedModel(cnn, terms=[HINTTerm()], explained_layer="conv_last")
      >>> egl.fit({"x": x, "pos_mask": object_masks}, y)
    """

    default_name = "hint_loss"

    def __init__(self, weight=1.0, resize="area", relu=False, normalize="minmax", cam_weights="detached",
                 pos_key=POS_MASK, neg_key=NEG_MASK, flag_key=HAS_ANNOTATION, derive="complement",
                 name=None, **kwargs):
        super().__init__(weight=weight, relu=relu, normalize=normalize, cam_weights=cam_weights,
                         pos_key=pos_key, neg_key=neg_key, flag_key=flag_key, derive=derive,
                         name=name, **kwargs)
        self.resize = check_choice(resize, RESIZE_METHODS, "resize")

    def compute(self, ctx):
        pos, _, flags = self.masks(ctx)
        cam = self.cam(ctx)  # CAMMaskTerm.cam: the true-class Grad-CAM
        pos = resize_mask(pos, tuple(cam.shape[1:3]), method=self.resize)
        per_sample = tf.reduce_mean(tf.square(cam - pos), axis=[1, 2])
        return tf.reduce_mean(per_sample * flags)

    def get_config(self):
        cfg = super().get_config()
        cfg.update(resize=self.resize)
        return cfg
