"""GNES explanation supervision loss (Gao et al., ICDM 2021; dissertation eq. 4.3).

.. math::
    \\mathcal{L}_{Att} = \\alpha_n\\,\\mathrm{dist}(M, M') + \\alpha_e\\,\\mathrm{dist}(E, E')      (4.3)

``dist`` is the mean element-wise absolute (default; "more robust to labelling
noise") or squared difference between a model explanation and its human
annotation, over the **real** entries of each graph (``n`` node entries or
``n²`` edge entries of a padded graph), applied **only to graphs that carry a
label**. Which graphs are labelled is an explicit ``has_label`` flag ``(B,)``;
the authors' code gates by ``max(M')`` instead (an all-zero annotation means "no
label"), which also silences a genuinely all-unimportant annotation — our flag
does not. Without a flag, graphs with any non-zero annotation count as
labelled (the code's rule).

Public object: :class:`ExplanationDistance`.
"""

from keras_egl._keras import keras, tf
from keras_egl.validation import assert_values

__all__ = ["ExplanationDistance"]

_DISTANCES = ("l1", "l2")
_REDUCTIONS = ("batch", "labelled")


def _keep_for(like, node_mask):
    """Real-entry mask of the same shape as ``like`` ((B, N) or (B, N, N))."""
    if node_mask is None:
        return tf.ones_like(like)
    k = tf.cast(tf.not_equal(node_mask, 0), like.dtype)
    if like.shape.rank == 2:
        if not k.shape.is_compatible_with(like.shape):
            raise ValueError(f"`node_mask` shape {tuple(k.shape)} does not match the node map "
                             f"shape {tuple(like.shape)}.")
        return k
    if like.shape.rank == 3:
        if not k.shape.is_compatible_with(like.shape[:2]):
            raise ValueError(f"`node_mask` shape {tuple(k.shape)} does not match the edge map "
                             f"shape {tuple(like.shape)} (expected (B, N)).")
        return k[:, :, None] * k[:, None, :]
    raise ValueError(f"explanations must have shape (B, N) or (B, N, N); received {tuple(like.shape)}.")


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationDistance(keras.losses.Loss):
    """Mean distance between model explanations and human annotations (eq. 4.3).

    Per graph ``i``: ``d_i = (1/|real_i|) Σ_{real entries} |X − X'|^p`` with
    ``p = 1`` (``distance="l1"``) or ``2`` (``"l2"``); then
    ``Σ_i flag_i d_i / B`` (``reduction="batch"``: the code's per-graph gating,
    same scale as a batch-mean task loss) or ``/ Σ_i flag_i``
    (``reduction="labelled"``: mean over labelled graphs).

    Usable as a Keras loss (``loss(y_true, y_pred, sample_weight)``, entries
    averaged over all positions, ``sample_weight`` = has-label flag) or through
    :meth:`distance`, which knows node masks and flags.

    Shapes: node maps ``(B, N)``, edge maps ``(B, N, N)``; ``node_mask`` ``(B, N)``;
    ``has_label`` ``(B,)``.

    Args:
      distance: ``"l1"`` (default; dissertation) or ``"l2"``.
      reduction_over_graphs: ``"batch"`` (default) or ``"labelled"``.
      name: loss name.

    Example:
      >>> d = ExplanationDistance("l1")
      >>> d.distance(human_nodes, node_map, node_mask=mask, has_label=flags)
    """

    def __init__(self, distance="l1", reduction_over_graphs="batch", name="explanation_distance", **kwargs):
        if distance not in _DISTANCES:
            raise ValueError(f"`distance` must be one of {_DISTANCES}; received {distance!r}.")
        if reduction_over_graphs not in _REDUCTIONS:
            raise ValueError(f"`reduction_over_graphs` must be one of {_REDUCTIONS}; "
                             f"received {reduction_over_graphs!r}.")
        super().__init__(name=name, **kwargs)
        self.distance_kind = distance
        self.reduction_over_graphs = reduction_over_graphs

    def _err(self, d):
        return tf.abs(d) if self.distance_kind == "l1" else tf.square(d)

    def call(self, y_true, y_pred):
        y_pred = tf.convert_to_tensor(y_pred)
        y_true = tf.cast(y_true, y_pred.dtype)
        axes = list(range(1, y_pred.shape.rank))
        return tf.reduce_mean(self._err(y_pred - y_true), axis=axes)

    def per_graph(self, target, explanation, node_mask=None):
        """``(B,)`` mean distance over each graph's real entries."""
        explanation = assert_values(tf.convert_to_tensor(explanation, tf.float32), "explanation",
                                    what="finite values")
        target = tf.cast(tf.convert_to_tensor(target), explanation.dtype)
        if not target.shape.is_compatible_with(explanation.shape):
            raise ValueError(f"the annotation shape {tuple(target.shape)} differs from the explanation "
                             f"shape {tuple(explanation.shape)}.")
        keep = _keep_for(explanation, node_mask)
        axes = list(range(1, explanation.shape.rank))
        return tf.math.divide_no_nan(tf.reduce_sum(self._err(explanation - target) * keep, axes),
                                     tf.reduce_sum(keep, axes))

    def distance(self, target, explanation, node_mask=None, has_label=None):
        """Scalar loss over a batch: labelled graphs only (see the class docstring)."""
        d = self.per_graph(target, explanation, node_mask)
        if has_label is None:
            keep = _keep_for(tf.cast(target, tf.float32), node_mask)
            axes = list(range(1, keep.shape.rank))
            flags = tf.cast(tf.reduce_any(tf.not_equal(tf.cast(target, tf.float32) * keep, 0), axes), d.dtype)
        else:
            flags = tf.reshape(tf.cast(has_label, d.dtype), [-1])
            if flags.shape[0] is not None and d.shape[0] is not None and flags.shape[0] != d.shape[0]:
                raise ValueError(f"`has_label` has {flags.shape[0]} entries for a batch of {d.shape[0]} graphs.")
        total = tf.reduce_sum(flags * d)
        if self.reduction_over_graphs == "labelled":
            return tf.math.divide_no_nan(total, tf.reduce_sum(flags))
        return tf.math.divide_no_nan(total, tf.cast(tf.size(d), d.dtype))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(distance=self.distance_kind, reduction_over_graphs=self.reduction_over_graphs)
        return cfg
