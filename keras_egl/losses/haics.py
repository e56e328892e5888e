"""HAICS: binary cross-entropy between the explanation and scribbled annotations.

Shen et al., CHI EA 2021, as the baseline of RES (Gao et al., KDD 2022, §4.1):
"a conventional BCE loss between the continuous model explanation and the
combination of positive and negative binary explanation labels". Paper
reading (our default): target 1 on positive pixels, 0 on negative pixels,
averaged over annotated pixels ``H ≠ 0`` only:

    L_i = −Σ_p 1(H_p≠0)·[F_p log M_p + (1 − F_p) log(1 − M_p)] / Σ_p 1(H_p≠0)

The authors' ``RES.py`` computes ``BCELoss()(cam, max(H, 0)) * (H ≠ 0)`` and
takes its mean: because ``BCELoss`` already reduced to a scalar over *all*
pixels (unannotated ones count with target 0), the result is the unmasked
mean BCE times the fraction of annotated pixels — available behind
``code_unmasked_bce=True`` (named for that bug). Probabilities are clipped to
``[1e-7, 1 − 1e-7]`` before the log (Keras' convention; PyTorch's ``BCELoss``
clamps the log at −100 instead): min–max-normalised CAMs contain exact 0s and
1s, where an unclipped log has an infinite gradient (NaN weights in training).
"""

import functools

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import as_map_batch
from keras_egl.validation import assert_values, check_bool, check_per_sample

_as_maps = functools.partial(as_map_batch, dtype=tf.float32)

__all__ = ["haics_loss", "HAICSLoss"]

EPSILON = 1e-7


def _as_mask(mask, name):
    # A 0/255 mask would be a BCE target far outside [0, 1].
    return assert_values(_as_maps(mask, name), name, low=0.0, high=1.0, what="mask values in [0, 1]")


def _bce(p, t):
    # Clip before the log (Keras' convention): a min–max CAM has exact 0s and 1s,
    # where log's gradient is infinite and a post-hoc clamp would give inf·0 = NaN.
    p = tf.clip_by_value(p, EPSILON, 1.0 - EPSILON)
    return -(t * tf.math.log(p) + (1.0 - t) * tf.math.log(1.0 - p))


def haics_loss(maps, positive, negative=None, code_unmasked_bce=False, sample_weight=None):
    """HAICS masked BCE (see module docstring).

    Args:
      maps: ``(B, h, w)`` explanation in ``[0, 1]``.
      positive: ``(B, h, w)`` binary positive mask at the map's resolution (values in ``[0, 1]``).
      negative: ``(B, h, w)`` binary negative mask or ``None``. A pixel in both
        masks is unannotated (``H = pos − neg = 0``, as the code).
      code_unmasked_bce: reproduce ``RES.py``'s unmasked scalar BCE × annotated fraction.
      sample_weight: optional ``(B,)`` weights ``≥ 0`` of the per-sample mean (paper
        variant), one per sample.

    Returns:
      scalar; 0 for a batch without annotated pixels.
    """
    code_unmasked_bce = check_bool(code_unmasked_bce, "code_unmasked_bce")
    maps = _as_maps(maps, "maps")
    pos = _as_mask(positive, "positive")
    if not maps.shape.is_compatible_with(pos.shape):
        raise ValueError(f"`positive` must have the shape of `maps` {tuple(maps.shape)}; got "
                         f"{tuple(pos.shape)}.")
    h = pos
    if negative is not None:
        neg = _as_mask(negative, "negative")
        if not maps.shape.is_compatible_with(neg.shape):
            raise ValueError(f"`negative` must have the shape of `maps` {tuple(maps.shape)}; got "
                             f"{tuple(neg.shape)}.")
        h = pos - neg
    target = tf.nn.relu(h)
    ann = tf.cast(tf.not_equal(h, 0.0), tf.float32)
    bce = _bce(maps, target)
    if code_unmasked_bce:
        return tf.reduce_mean(bce) * tf.reduce_mean(ann)
    n_ann = tf.reduce_sum(ann, [1, 2])
    per = tf.math.divide_no_nan(tf.reduce_sum(bce * ann, [1, 2]), n_ann)
    w = tf.cast(n_ann > 0, tf.float32)
    if sample_weight is not None:
        w = w * check_per_sample(sample_weight, "sample_weight", maps, low=0.0)
    return tf.math.divide_no_nan(tf.reduce_sum(per * w), tf.reduce_sum(w))


@keras.saving.register_keras_serializable(package="keras_egl")
class HAICSLoss:
    """HAICS loss as a configurable callable: ``loss(maps, positive, negative=None)``.

    Args:
      code_unmasked_bce: ``False`` (paper, default) or ``True`` (``RES.py``'s bug).

    Example:
      >>> HAICSLoss()(cam7, pos7, neg7)
    """

    def __init__(self, code_unmasked_bce=False):
        self.code_unmasked_bce = check_bool(code_unmasked_bce, "code_unmasked_bce")

    def __call__(self, maps, positive, negative=None, sample_weight=None):
        return haics_loss(maps, positive, negative, self.code_unmasked_bce, sample_weight)

    def get_config(self):
        return {"code_unmasked_bce": self.code_unmasked_bce}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
