"""GRADIA attention-alignment loss with Reasonability-Matrix sample weights.

Gao, Sun, Zhao, Hong, "Aligning Eyes between Humans and Deep Neural Network
through Interactive Attention Alignment", CSCW 2022; dissertation §4.3.2
(Eq. 4.12–4.17). The attention loss is the absolute difference between the
min–max normalised Grad-CAM ``M`` and the human attention label ``M'``:

    L^(a)_i = mean_pixels |M_i − M'_i|                                 (Eq. 4.15)
    L_GRADIA = mean_i w^(p)_i · CE_i + mean_i w^(a)_i · L^(a)_i         (Eq. 4.14)

with per-sample prediction / attention weights from the sample's
Reasonability-Matrix label (authors' code ``GRADIA.py``; the dissertation
gives no values): UA 0.4/1.6, RIA 0.8/0.2, UIA 1/1, RA and unlabelled 1/0.

Label preprocessing (code): the 224×224 positive mask is area-downsampled to
the CAM grid, blurred with OpenCV's 3×3 Gaussian and divided by its max
(:func:`gradia_label`, ``resize="area_blur"``). In the RES paper's Table 4.4
GRADIA is the plain L1 to the *binary positive* label at the CAM grid
(``RES.py``: nearest-resized, no weights) — ``resize="nearest"``.
"""

import functools

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import as_map_batch, resize_mask
from keras_egl.validation import assert_values, check_non_negative, check_per_sample

#: Reasonability-Matrix codes used by the data dicts and CSVs.
REASONABILITY_CODES = {"unlabelled": 0, "RA": 1, "UA": 2, "RIA": 3, "UIA": 4}
#: The authors' (prediction weight, attention weight) per label (GRADIA.py).
DEFAULT_WEIGHTS = {"unlabelled": (1.0, 0.0), "RA": (1.0, 0.0), "UA": (0.4, 1.6),
                   "RIA": (0.8, 0.2), "UIA": (1.0, 1.0)}
LABEL_RESIZE = ("area_blur", "area", "nearest")

_as_maps = functools.partial(as_map_batch, dtype=tf.float32)

__all__ = ["REASONABILITY_CODES", "DEFAULT_WEIGHTS", "reasonability_weights", "gradia_label",
           "gradia_attention_loss", "GRADIALoss"]


def _assert_whole(codes, name):
    """Float ``codes`` that are whole numbers, checked eagerly or by an assertion inside ``tf.function``."""
    what = f"`{name}` codes must be whole numbers in 0..4 ({REASONABILITY_CODES})"
    if tf.executing_eagerly():
        v = codes.numpy()
        if not np.all(v == np.round(v)):
            raise ValueError(f"{what}; got {sorted(set(v[v != np.round(v)].tolist()))[:3]}.")
        return codes
    with tf.control_dependencies([tf.debugging.assert_equal(codes, tf.round(codes), message=what)]):
        return tf.identity(codes)


def reasonability_weights(labels, weights=None):
    """Per-sample ``(prediction_weight, attention_weight)`` from Reasonability labels.

    Args:
      labels: ``(B,)`` integer codes (:data:`REASONABILITY_CODES`: 0 unlabelled,
        1 RA, 2 UA, 3 RIA, 4 UIA) or strings (``"RA"``, ``"UA"``, … ``""``).
      weights: optional dict overriding :data:`DEFAULT_WEIGHTS` entries.

    Returns:
      two ``(B,)`` float32 tensors.

    Example:
      >>> p, a = reasonability_weights([2, 3, 0])
      >>> p.numpy(), a.numpy()
      (array([0.4, 0.8, 1. ], dtype=float32), array([1.6, 0.2, 0. ], dtype=float32))
    """
    table = dict(DEFAULT_WEIGHTS)
    if weights:
        unknown = set(weights) - set(table)
        if unknown:
            raise ValueError(f"`weights` keys must be among {sorted(table)}; got {sorted(unknown)}.")
        for k, v in weights.items():
            try:
                p, a = v
            except (TypeError, ValueError):
                raise ValueError(f"`weights` must map a label to a (prediction_weight, attention_weight) "
                                 f"pair; got {k!r}: {v!r}.") from None
            table[k] = (check_non_negative(p, "weights"), check_non_negative(a, "weights"))
    order = sorted(REASONABILITY_CODES, key=REASONABILITY_CODES.get)
    pw = tf.constant([table[k][0] for k in order], tf.float32)
    aw = tf.constant([table[k][1] for k in order], tf.float32)
    if not tf.is_tensor(labels) and len(labels) and isinstance(list(labels)[0], str):
        bad = [s for s in labels if (s or "unlabelled") not in REASONABILITY_CODES]
        if bad:
            raise ValueError(f"`labels` must be among {sorted(REASONABILITY_CODES)}; got {bad[:3]}.")
        labels = [REASONABILITY_CODES[s or "unlabelled"] for s in labels]
    codes = tf.reshape(tf.convert_to_tensor(labels), [-1])
    if codes.dtype.is_floating:
        # The int cast truncates: a code of 1.5 would silently weigh as RA.
        codes = _assert_whole(codes, "labels")
    codes = tf.cast(codes, tf.int32)
    if tf.executing_eagerly() and codes.shape[0] and (
            int(tf.reduce_min(codes)) < 0 or int(tf.reduce_max(codes)) > 4):
        raise ValueError(f"`labels` codes must be in 0..4 ({REASONABILITY_CODES}); got "
                         f"{sorted(set(codes.numpy().tolist()))}.")
    return tf.gather(pw, codes), tf.gather(aw, codes)


def gradia_label(positive, size, resize="area_blur"):
    """The attention label ``M'`` at the CAM grid from a full-resolution positive mask.

    ``"area_blur"`` (GRADIA code): area-downsample, 3×3 Gaussian blur, divide by
    the max (an empty mask stays 0). ``"area"``: without the blur.
    ``"nearest"`` (the GRADIA baseline of ``RES.py``): nearest-resized binary mask.

    Args:
      positive: ``(B, H, W)`` or ``(B, H, W, 1)`` binary mask.
      size: ``(h, w)`` of the CAM.
      resize: ``"area_blur"``, ``"area"`` or ``"nearest"``.

    Returns:
      ``(B, h, w)`` float32 in ``[0, 1]``.
    """
    if resize not in LABEL_RESIZE:
        raise ValueError(f"`resize` must be one of {LABEL_RESIZE}; got {resize!r}.")
    pos = assert_values(_as_maps(positive, "positive"), "positive", low=0.0, high=1.0,
                        what="mask values in [0, 1]")
    if resize == "nearest":
        return resize_mask(pos, size, method="nearest")
    return resize_mask(pos, size, method=resize, normalize="max")


def gradia_attention_loss(maps, label, attention_weight=None, has_annotation=None):
    """``mean_i w^(a)_i · mean_pixels |M_i − M'_i|`` (GRADIA.py's attention loss).

    The mean runs over the whole batch, as in the code (``torch.mean(att_weights
    * …)``): a sample with attention weight 0 still counts in the denominator.

    Args:
      maps: ``(B, h, w)`` min–max normalised Grad-CAM.
      label: ``(B, h, w)`` attention labels (same shape).
      attention_weight: ``(B,)`` weights (default: ``has_annotation`` or 1).
      has_annotation: ``(B,)`` 0/1 flags, multiplied into the weights.

    Returns:
      scalar.
    """
    maps = _as_maps(maps, "maps")
    label = _as_maps(label, "label")
    if not maps.shape.is_compatible_with(label.shape):
        raise ValueError(f"`label` must have the shape of `maps` {tuple(maps.shape)}; got "
                         f"{tuple(label.shape)} (use gradia_label to resize the mask).")
    label = assert_values(label, "label", what="finite values")
    per = tf.reduce_mean(tf.abs(maps - label), axis=[1, 2])
    w = tf.ones_like(per)
    if attention_weight is not None:
        w = w * check_per_sample(attention_weight, "attention_weight", maps, low=0.0)
    if has_annotation is not None:
        w = w * check_per_sample(has_annotation, "has_annotation", maps, low=0.0, high=1.0)
    return tf.reduce_mean(w * per)


@keras.saving.register_keras_serializable(package="keras_egl")
class GRADIALoss:
    """GRADIA's attention loss as a configurable callable.

    Call: ``loss(maps, positive, attention_weight=None, has_annotation=None)``
    with ``maps`` ``(B, h, w)`` and ``positive`` the full-resolution (or already
    CAM-resolution) positive mask; it is brought to the map's grid by
    :func:`gradia_label`.

    Args:
      resize: label preprocessing, ``"area_blur"`` (GRADIA code, default),
        ``"area"`` or ``"nearest"`` (RES Table 4.4's GRADIA baseline).

    Example:
      >>> GRADIALoss()(cam7, masks224, attention_weight=aw)
    """

    def __init__(self, resize="area_blur"):
        if resize not in LABEL_RESIZE:
            raise ValueError(f"`resize` must be one of {LABEL_RESIZE}; got {resize!r}.")
        self.resize = resize

    def __call__(self, maps, positive, attention_weight=None, has_annotation=None):
        maps = _as_maps(maps, "maps")
        label = gradia_label(positive, tuple(maps.shape[1:3]), self.resize)
        return gradia_attention_loss(maps, label, attention_weight, has_annotation)

    def get_config(self):
        return {"resize": self.resize}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
