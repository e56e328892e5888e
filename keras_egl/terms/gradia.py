"""GRADIA's attention-alignment term (Gao, Sun, Zhao, Hong, CSCW 2022).

    L = mean_i w^(a)_i · mean_pixels |M_i − M'_i|          (dissertation Eq. 4.15)

* ``M_i``: the true-class Grad-CAM of the training pass (the code: no ReLU,
  min–max, first-order weights);
* ``M'_i``: the positive mask (``pos_mask``) brought to the CAM grid by the
  method's own label preprocessing (:func:`keras_egl.losses.gradia.gradia_label`:
  area-downsampled, 3×3-blurred, max-normalised — or nearest for RES's GRADIA
  baseline). The mask itself must have the input's spatial size (it is
  validated, never stretched);
* ``w^(a)_i``: the attention weight of the sample's Reasonability code
  (``reasonability``; 0 unlabelled, 1 RA, 2 UA, 3 RIA, 4 UIA) times its
  annotation flag; without codes every annotated sample weighs 1.

The prediction weights ``w^(p)`` of the same codes scale the task loss; that
is the model's job (:class:`keras_egl.models.gradia.GRADIAModel`).
"""

import numpy as np

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.losses.gradia import DEFAULT_WEIGHTS, REASONABILITY_CODES, GRADIALoss, reasonability_weights
from keras_egl.terms._cam_mask import CAMMaskTerm
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK, REASONABILITY
from keras_egl.validation import assert_values, check_non_negative, check_per_sample

__all__ = ["GRADIATerm", "check_reasonability", "check_reasonability_table", "MAX_CODE"]

MAX_CODE = max(REASONABILITY_CODES.values())
_CODES_TEXT = ", ".join(f"{v} {k}" for k, v in sorted(REASONABILITY_CODES.items(), key=lambda kv: kv[1]))


def check_reasonability_table(table, name="reasonability_table"):
    """Validate a Reasonability weight table override → plain dict or None.

    Keys among :data:`~keras_egl.losses.gradia.DEFAULT_WEIGHTS`, values
    ``(prediction_weight, attention_weight)`` pairs of finite numbers ≥ 0.
    """
    if table is None:
        return None
    if not isinstance(table, dict):
        raise TypeError(f"`{name}` must be a dict label -> (prediction_weight, attention_weight); "
                        f"got {type(table).__name__} {table!r}.")
    unknown = sorted(set(table) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise ValueError(f"`{name}` keys must be among {sorted(DEFAULT_WEIGHTS)}; got {unknown}.")
    out = {}
    for k, v in table.items():
        try:
            p, a = v
        except (TypeError, ValueError):
            raise ValueError(f"`{name}[{k!r}]` must be a (prediction_weight, attention_weight) pair; "
                             f"got {v!r}.") from None
        out[k] = (check_non_negative(p, f"{name}[{k!r}][0]"), check_non_negative(a, f"{name}[{k!r}][1]"))
    return out or None


def check_reasonability(codes, name, batch_like):
    """Per-sample Reasonability codes as ``(B,)`` int32, validated eagerly and in graph mode.

    One entry per sample of ``batch_like``; integers in ``0..4`` (strings
    ``"RA"``, ``"UA"``, … ``""`` are accepted outside ``tf.function``). An
    out-of-range or fractional code raises an error naming ``name`` (an
    ``InvalidArgumentError`` inside ``fit``) instead of a gather error.
    """
    if not tf.is_tensor(codes):
        arr = np.asarray(codes)
        if arr.dtype.kind in "USO":
            flat = [str(s) if s is not None else "" for s in arr.ravel()]
            bad = sorted({s for s in flat if (s or "unlabelled") not in REASONABILITY_CODES})
            if bad:
                raise ValueError(f"`{name}` labels must be among {sorted(REASONABILITY_CODES)}; got {bad[:3]}.")
            codes = np.asarray([REASONABILITY_CODES[s or "unlabelled"] for s in flat],
                               np.int32).reshape(arr.shape)
    what = f"Reasonability codes in 0..{MAX_CODE} ({_CODES_TEXT})"
    v = check_per_sample(codes, name, batch_like, dtype=tf.float32)
    v = assert_values(v, name, low=0.0, high=float(MAX_CODE), what=what)
    if tf.executing_eagerly():
        arr = v.numpy()
        if arr.size and not np.all(arr == np.round(arr)):
            raise ValueError(f"`{name}` must hold {what}; got non-integer values "
                             f"{sorted(set(arr[arr != np.round(arr)].tolist()))[:3]}.")
    else:
        with tf.control_dependencies([tf.debugging.assert_equal(
                v, tf.round(v), message=f"`{name}` must hold {what}; got non-integer values")]):
            v = tf.identity(v)
    return tf.cast(v, tf.int32)


@keras.saving.register_keras_serializable(package="keras_egl")
class GRADIATerm(CAMMaskTerm):
    """GRADIA's weighted attention loss (see module docstring).

    Args:
      weight: λ (code: 1).
      resize: label preprocessing, ``"area_blur"`` (GRADIA code), ``"area"`` or
        ``"nearest"`` (RES's GRADIA baseline).
      reasonability_table: dict overriding
        :data:`~keras_egl.losses.gradia.DEFAULT_WEIGHTS` entries, e.g.
        ``{"UA": (0.5, 1.5)}`` (``weights=`` is its deprecated name).
      relu, normalize, cam_weights: training-CAM options (code: no ReLU, min–max, detached).
      pos_key, neg_key, flag_key: annotation keys (``"pos_mask"``, ``"neg_mask"``,
        ``"has_annotation"``; ``mask_key``/``negative_key`` are the deprecated
        names of ``pos_key``/``neg_key``).
      reasonability_key: key of the ``(B,)`` Reasonability codes (``"reasonability"``).
      derive: ``"complement"`` (only ``neg_mask`` given: ``pos = 1 − neg``) or ``"error"``.
      name: log key (``"gradia_loss"``).
    """

    default_name = "gradia_loss"

    @renamed_argument("mask_key", "pos_key")
    @renamed_argument("negative_key", "neg_key")
    @renamed_argument("weights", "reasonability_table")
    def __init__(self, weight=1.0, resize="area_blur", reasonability_table=None, relu=False,
                 normalize="minmax", cam_weights="detached", pos_key=POS_MASK, neg_key=NEG_MASK,
                 flag_key=HAS_ANNOTATION, reasonability_key=REASONABILITY, derive="complement",
                 name=None, **kwargs):
        super().__init__(weight=weight, relu=relu, normalize=normalize, cam_weights=cam_weights,
                         pos_key=pos_key, neg_key=neg_key, flag_key=flag_key, derive=derive,
                         name=name, **kwargs)
        self.loss = GRADIALoss(resize)
        # Stored as a tuple of pairs: Keras would wrap a dict attribute.
        table = check_reasonability_table(reasonability_table)
        self._table = None if table is None else tuple(table.items())
        if reasonability_key is not None and (not isinstance(reasonability_key, str) or not reasonability_key):
            raise TypeError(f"`reasonability_key` must be a non-empty string or None; got {reasonability_key!r}.")
        self.reasonability_key = reasonability_key

    @property
    def resize(self):
        return self.loss.resize

    @property
    def reasonability_table(self):
        """The weight-table overrides as a plain dict (``None`` = the authors' defaults)."""
        if self._table is None:
            return None
        return {str(k): (float(v[0]), float(v[1])) for k, v in self._table}

    def codes(self, ctx):
        """The validated ``(B,)`` Reasonability codes of the batch, or ``None`` when absent."""
        if not ctx.has(self.reasonability_key):
            return None
        return check_reasonability(ctx.inputs[self.reasonability_key], self.reasonability_key, ctx.x0)

    def attention_weights(self, ctx, flags=None):
        """``(B,)`` attention weights ``w^(a)`` × annotation flags."""
        if flags is None:
            flags = self.flags(ctx, self.pos_key, self.neg_key)
        codes = self.codes(ctx)
        if codes is None:
            return flags
        return reasonability_weights(codes, self.reasonability_table)[1] * flags

    def prediction_weights(self, codes):
        """``(B,)`` prediction weights ``w^(p)`` of validated codes (used by GRADIAModel)."""
        return reasonability_weights(codes, self.reasonability_table)[0]

    def compute(self, ctx):
        pos, _, flags = self.masks(ctx)
        cam = self.cam(ctx)
        return self.loss(cam, pos, attention_weight=self.attention_weights(ctx, flags))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(resize=self.resize, reasonability_table=self.reasonability_table,
                   reasonability_key=self.reasonability_key)
        return cfg

