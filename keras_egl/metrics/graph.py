"""Node- and edge-level explanation errors for graph neural networks (GNES).

GNES (Gao et al., "GNES: Learning to Explain Graph Neural Networks", ICDM 2021;
dissertation §4.2.4, ``shared/reference/seed_gnes_gradia_res.md`` §1.6) scores a
model's node explanation ``M ∈ R^N`` and edge explanation ``E ∈ R^{N×N}`` against
human annotations ``M'`` and ``E'`` by MSE and MAE:

* the model explanation is normalised to (0, 1] by **dividing by its maximum**
  (per graph, over the real nodes; ``normalize="max_positive"``, the default —
  a graph whose maximum is ≤ 0 has no positive evidence and becomes zeros, a
  keras_egl convention: the GNES code would divide by zero or flip the sign);
* the edge explanation is **multiplied by the adjacency before normalising**
  (the GNES code's ``edge_mask ⊙ A``), so only existing edges carry importance;
* the error is averaged over **all N node entries / all N×N edge entries**,
  non-edges included (which is why the paper's edge errors are ~0.01–0.09),
  and then over the labelled graphs.

Batches are dense and padded: ``(B, N)`` node tensors, ``(B, N, N)`` edge
tensors, with an optional ``node_mask`` ``(B, N)`` marking real nodes; a graph
with ``n`` real nodes is averaged over ``n`` and ``n²`` entries, and a graph with
no real node is left out. A graph counts as labelled when ``has_annotation``
says so, or, without the flag, when its annotation has a non-zero entry (the
GNES code gates its supervision the same way, by ``max(M') > 0``).

Public objects: :func:`node_explanation_mse`, :func:`node_explanation_mae`,
:func:`edge_explanation_mse`, :func:`edge_explanation_mae` and the streaming
:class:`NodeExplanationMSE`, :class:`NodeExplanationMAE`,
:class:`EdgeExplanationMSE`, :class:`EdgeExplanationMAE`.
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import NORMALIZE_METHODS, normalize_map
from keras_egl.metrics.explanation import (
    AnnotatedMeanMetric,
    _annotated,
    _check_same_shape,
    _no_autograph,
    _reduce,
    _to_float,
)
from keras_egl.validation import assert_values, check_choice

#: The ``normalize`` options: the methods of :func:`keras_egl.explain.masks.normalize_map`.
GRAPH_NORMALIZATIONS = NORMALIZE_METHODS

__all__ = [
    "node_explanation_mse",
    "node_explanation_mae",
    "edge_explanation_mse",
    "edge_explanation_mae",
    "NodeExplanationMSE",
    "NodeExplanationMAE",
    "EdgeExplanationMSE",
    "EdgeExplanationMAE",
]


def _as_nodes(x, name):
    x = assert_values(_to_float(x, name), name, what="finite values")
    if x.shape.rank == 3 and x.shape[-1] == 1:
        x = tf.squeeze(x, -1)
    if x.shape.rank != 2:
        raise ValueError(f"`{name}` must have shape (B, N) or (B, N, 1), received shape {tuple(x.shape)}.")
    return x


def _as_edges(x, name):
    x = assert_values(_to_float(x, name), name, what="finite values")
    if x.shape.rank == 4 and x.shape[-1] == 1:
        x = tf.squeeze(x, -1)
    if x.shape.rank != 3:
        raise ValueError(f"`{name}` must have shape (B, N, N) or (B, N, N, 1), received shape {tuple(x.shape)}.")
    n1, n2 = x.shape[1], x.shape[2]
    if n1 is not None and n2 is not None and n1 != n2:
        raise ValueError(f"`{name}` must be square (B, N, N), received shape {tuple(x.shape)}.")
    return x


def _node_validity(node_mask, like):
    """``(B, N)`` float mask of real nodes (all ones when ``node_mask`` is None)."""
    if node_mask is None:
        return tf.ones_like(like)
    m = _as_nodes(node_mask, "node_mask")
    _check_same_shape(m, "node_mask", like, "node_explanation" if like.shape.rank == 2 else "explanation")
    return tf.cast(m != 0, like.dtype)


def _normalize_masked(x, keep, method, axes):
    """Per-graph :func:`normalize_map` over the real entries only (padding must not set the max)."""
    check_choice(method, GRAPH_NORMALIZATIONS, "normalize")
    return normalize_map(x, method, axis=tuple(axes), mask=keep)


def _error(diff, kind):
    return tf.abs(diff) if kind == "mae" else tf.square(diff)


def _node_per_sample(node_importance, node_explanation, node_mask, has_annotation, normalize, kind):
    expl = _as_nodes(node_explanation, "node_explanation")
    truth = _as_nodes(node_importance, "node_importance")
    _check_same_shape(truth, "node_importance", expl, "node_explanation")
    keep = _node_validity(node_mask, expl)
    m = _normalize_masked(expl, keep, normalize, [1])
    n = tf.reduce_sum(keep, axis=1)
    err = tf.math.divide_no_nan(tf.reduce_sum(_error(m - truth * keep, kind) * keep, axis=1), n)
    labelled = tf.reduce_any(tf.not_equal(truth * keep, 0), axis=1)
    valid = _annotated(labelled, has_annotation, expl) * tf.cast(n > 0, expl.dtype)
    return err, valid


def _edge_per_sample(edge_importance, edge_explanation, adjacency, node_mask, has_annotation, normalize, kind):
    expl = _as_edges(edge_explanation, "edge_explanation")
    truth = _as_edges(edge_importance, "edge_importance")
    _check_same_shape(truth, "edge_importance", expl, "edge_explanation")
    if adjacency is not None:
        adj = _as_edges(adjacency, "adjacency")
        _check_same_shape(adj, "adjacency", expl, "edge_explanation")
        # GNES code: edge_mask ⊙ A before normalising (weighted adjacencies scale the edge).
        expl = expl * adj
    if node_mask is None:
        keep_n = tf.ones_like(expl[:, :, 0])
    else:
        keep_n = _as_nodes(node_mask, "node_mask")
        if not keep_n.shape[:2].is_compatible_with(expl.shape[:2]):
            raise ValueError(
                f"`node_mask` must have shape (B, N) matching edge_explanation.shape={tuple(expl.shape)}, "
                f"received node_mask.shape={tuple(keep_n.shape)}."
            )
        keep_n = tf.cast(keep_n != 0, expl.dtype)
    keep = keep_n[:, :, None] * keep_n[:, None, :]
    e = _normalize_masked(expl, keep, normalize, [1, 2])
    n2 = tf.reduce_sum(keep, axis=[1, 2])
    err = tf.math.divide_no_nan(tf.reduce_sum(_error(e - truth * keep, kind) * keep, axis=[1, 2]), n2)
    labelled = tf.reduce_any(tf.not_equal(truth * keep, 0), axis=[1, 2])
    valid = _annotated(labelled, has_annotation, expl) * tf.cast(n2 > 0, expl.dtype)
    return err, valid


_FN_DOC = r"""{LEVEL} explanation {KIND} of GNES (Gao et al., ICDM 2021), per graph then averaged.

    .. math::
        {EQ}

    where ``\hat{{X}}`` is the model explanation{ADJ} divided by its per-graph
    maximum (``normalize="max_positive"``, the GNES evaluation; a graph whose
    maximum is ≤ 0 becomes zeros) and ``n`` counts the real nodes of graph
    ``i``. Padding entries (``node_mask == 0``) are ignored.

    Args:
{ARGS}
        node_mask: optional ``(B, N)``; non-zero = real node. Default: all real.
        has_annotation: optional ``(B,)`` flags; default: labelled iff the
            annotation has a non-zero entry.
        normalize: a :func:`keras_egl.explain.masks.normalize_map` method:
            ``"max_positive"`` (default, GNES), ``"max"``, ``"minmax"``, … or ``None``.
        sample_weight: optional ``(B,)`` weights of the mean.
        reduction: ``"mean"`` → scalar over labelled graphs with at least one node
            (``0.0`` if none); ``"none"`` → ``(B,)``, ``NaN`` for excluded graphs.

    Returns:
        A scalar, or ``(B,)`` per-graph errors.

    Example:
        >>> {EXAMPLE}
    """

_NODE_ARGS = """        node_importance: human node annotation ``M'``, ``(B, N)`` or ``(B, N, 1)``.
        node_explanation: model node explanation ``M``, same shape."""
_EDGE_ARGS = """        edge_importance: human edge annotation ``E'``, ``(B, N, N)``.
        edge_explanation: model edge explanation ``E``, ``(B, N, N)``.
        adjacency: ``(B, N, N)`` raw adjacency multiplying ``E`` before normalising
            (GNES); ``None`` skips the masking."""


def _fn_doc(kind, level):
    p = "2" if kind == "MSE" else ""
    bars = ("(", f")^{p}") if kind == "MSE" else ("|", "|")
    if level == "node":
        eq = rf"\frac1{{n}}\sum_{{v}}{bars[0]}\hat M_v - M'_v{bars[1]}"
        return _FN_DOC.format(
            LEVEL="Node", KIND=kind, EQ=eq, ADJ="", ARGS=_NODE_ARGS,
            EXAMPLE=f"float(node_explanation_{kind.lower()}([[1.0, 0.0]], [[2.0, 4.0]]))  # M̂ = [0.5, 1]\n        "
            + ("0.625" if kind == "MSE" else "0.75"),
        )
    eq = rf"\frac1{{n^2}}\sum_{{u,v}}{bars[0]}\hat E_{{uv}} - E'_{{uv}}{bars[1]}"
    return _FN_DOC.format(
        LEVEL="Edge", KIND=kind, EQ=eq, ADJ=" (times the adjacency)", ARGS=_EDGE_ARGS,
        EXAMPLE=f"edge_explanation_{kind.lower()}(E_true, E_model, adjacency=A)",
    )


def _node_fn(kind):
    def fn(node_importance, node_explanation, node_mask=None, has_annotation=None, normalize="max_positive", sample_weight=None, reduction="mean"):
        check_choice(normalize, GRAPH_NORMALIZATIONS, "normalize")
        scores, valid = _node_per_sample(node_importance, node_explanation, node_mask, has_annotation, normalize, kind)
        return _reduce(scores, valid, sample_weight, reduction)

    fn.__name__ = fn.__qualname__ = f"node_explanation_{kind}"
    fn.__doc__ = _fn_doc(kind.upper(), "node")
    return fn


def _edge_fn(kind):
    def fn(edge_importance, edge_explanation, adjacency=None, node_mask=None, has_annotation=None, normalize="max_positive", sample_weight=None, reduction="mean"):
        check_choice(normalize, GRAPH_NORMALIZATIONS, "normalize")
        scores, valid = _edge_per_sample(edge_importance, edge_explanation, adjacency, node_mask, has_annotation, normalize, kind)
        return _reduce(scores, valid, sample_weight, reduction)

    fn.__name__ = fn.__qualname__ = f"edge_explanation_{kind}"
    fn.__doc__ = _fn_doc(kind.upper(), "edge")
    return fn


node_explanation_mse = _node_fn("mse")
node_explanation_mae = _node_fn("mae")
edge_explanation_mse = _edge_fn("mse")
edge_explanation_mae = _edge_fn("mae")


class _GraphErrorMetric(AnnotatedMeanMetric):
    _kind = None

    def __init__(self, normalize="max_positive", name=None, dtype=None, **kwargs):
        check_choice(normalize, GRAPH_NORMALIZATIONS, "normalize")
        super().__init__(name=name or self._default_name, dtype=dtype, **kwargs)
        self.normalize = normalize

    def get_config(self):
        config = super().get_config()
        config.update(normalize=self.normalize)
        return config


class _NodeErrorMetric(_GraphErrorMetric):
    @_no_autograph
    def update_state(self, node_importance, node_explanation, sample_weight=None, node_mask=None, has_annotation=None):
        scores, valid = _node_per_sample(node_importance, node_explanation, node_mask, has_annotation, self.normalize, self._kind)
        return self._accumulate(scores, valid, sample_weight)


class _EdgeErrorMetric(_GraphErrorMetric):
    @_no_autograph
    def update_state(self, edge_importance, edge_explanation, sample_weight=None, adjacency=None, node_mask=None, has_annotation=None):
        scores, valid = _edge_per_sample(
            edge_importance, edge_explanation, adjacency, node_mask, has_annotation, self.normalize, self._kind
        )
        return self._accumulate(scores, valid, sample_weight)


_CLS_DOC = """Streaming GNES {level} explanation {KIND} (see :func:`{fn}`).

    Args:
        normalize: ``"max_positive"`` (default, GNES evaluation) or another
            :func:`keras_egl.explain.masks.normalize_map` method, or ``None``.
        name, dtype: as for any Keras metric.

    ``update_state({sig})``.

    Example:
        >>> m = {cls}()
        >>> m.update_state({example})
        >>> m.result()
    """


@keras.saving.register_keras_serializable(package="keras_egl")
class NodeExplanationMSE(_NodeErrorMetric):
    __doc__ = _CLS_DOC.format(
        level="node", KIND="MSE", fn="node_explanation_mse", cls="NodeExplanationMSE",
        sig="node_importance, node_explanation, sample_weight=None, node_mask=None, has_annotation=None",
        example="node_labels, node_cams, node_mask=mask",
    )
    _kind = "mse"
    _default_name = "node_explanation_mse"


@keras.saving.register_keras_serializable(package="keras_egl")
class NodeExplanationMAE(_NodeErrorMetric):
    __doc__ = _CLS_DOC.format(
        level="node", KIND="MAE", fn="node_explanation_mae", cls="NodeExplanationMAE",
        sig="node_importance, node_explanation, sample_weight=None, node_mask=None, has_annotation=None",
        example="node_labels, node_cams, node_mask=mask",
    )
    _kind = "mae"
    _default_name = "node_explanation_mae"


@keras.saving.register_keras_serializable(package="keras_egl")
class EdgeExplanationMSE(_EdgeErrorMetric):
    __doc__ = _CLS_DOC.format(
        level="edge", KIND="MSE", fn="edge_explanation_mse", cls="EdgeExplanationMSE",
        sig="edge_importance, edge_explanation, sample_weight=None, adjacency=None, node_mask=None, has_annotation=None",
        example="edge_labels, edge_grads, adjacency=A, node_mask=mask",
    )
    _kind = "mse"
    _default_name = "edge_explanation_mse"


@keras.saving.register_keras_serializable(package="keras_egl")
class EdgeExplanationMAE(_EdgeErrorMetric):
    __doc__ = _CLS_DOC.format(
        level="edge", KIND="MAE", fn="edge_explanation_mae", cls="EdgeExplanationMAE",
        sig="edge_importance, edge_explanation, sample_weight=None, adjacency=None, node_mask=None, has_annotation=None",
        example="edge_labels, edge_grads, adjacency=A, node_mask=mask",
    )
    _kind = "mae"
    _default_name = "edge_explanation_mae"
