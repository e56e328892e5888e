"""GNES's explanation terms on graph classifiers (Gao et al., ICDM 2021; dissertation §4.2).

.. math::
    \\alpha_n\\,\\mathrm{dist}(M, M') + \\alpha_e\\,\\mathrm{dist}(E, E')
      + \\beta\\,\\Omega_c(A, M, E) + \\gamma\\,\\Omega_s(M, E)              (4.3–4.6)

* :class:`NodeSupervision` (registry ``gnes_node``): ``dist(M, M')`` on
  labelled graphs (eq. 4.3, nodes). Reads ``node_key`` (``"node_importance"``,
  ``(B, N)``) and ``flag_key`` (``"has_annotation"``, ``(B,)``).
* :class:`EdgeSupervision` (``gnes_edge``): ``dist(E, E')`` on labelled graphs
  (eq. 4.3, edges). Reads ``edge_key`` (``"edge_importance"``, ``(B, N, N)``),
  ``adjacency_key`` (``"adjacency"``, ``(B, N, N)``) and ``flag_key``.
* :class:`ConsistencyTerm` (``gnes_consistency``): Ω_c (eq. 4.5), batch mean.
  Reads ``adjacency_key``.
* :class:`SparsityTerm` (``gnes_sparsity``): Ω_s (eq. 4.6), batch mean. Reads
  ``adjacency_key``.

Graph inputs vs annotations
---------------------------
A graph batch is padded: the **model inputs** are ``x`` (B, N, F), one
normalised adjacency ``a_l`` (B, N, N) per GCN layer and ``node_mask`` (B, N)
(the model's ``input_key`` list; see
:func:`~keras_egl.layers.graph.gcn_classifier`). The **raw adjacency** ``A``
is *not* a model input: it is read from the input dict like an annotation
(``adjacency_key``) because the edge explanation is ``E = ReLU(∂y_c/∂V_L) ⊙ A``
(eq. 4.10) and Ω_c weighs ``E ⊙ A``; every term whose value uses ``E`` or
``A`` reads it. Human annotations ``M'``/``E'`` and the per-graph
``has_annotation`` flag are annotations proper.

A term whose keys are absent from the batch is exactly 0 (nothing to compare
to, or no ``A`` to build ``E`` from). A graph whose flag is 0 contributes 0 to
the supervision terms; without a flag key in the batch a graph counts as
labelled when its annotation has a non-zero entry on its real nodes (the
authors' rule). Ω_c and Ω_s apply to every graph (they need no human label).

Maps
----
``M`` (node map) and ``E`` (edge map) of the **true** class are computed once
per step from the step's forward pass (second order) and shared by the terms.
On a :class:`~keras_egl.models.gnes.GNES` model they follow its settings
(``node_method``, ``layer``, ``edge_layer``, ``normalize``, ``target``). On any
other :class:`~keras_egl.models.base.ExplanationGuidedModel` wrapping a
``gcn_classifier`` (``input_key=["x", "a_1", …, "a_L", "node_mask"]``) the
defaults are the dissertation's: Grad-CAM at ``explained_layer`` (the node
gradient of ``x`` when no layer is named), the edge gradient at ``a_L``, true
class, ``"max_positive"`` normalisation.

Every annotation is validated where it is read: shape ``(B, N)`` /
``(B, N, N)`` against ``node_mask`` (also at run time in graph mode),
finite values; errors name the input-dict key.
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.graph import (edge_gradient_map, node_grad_cam_map, node_gradient_map,
                                     normalize_graph_map)
from keras_egl.explain.targets import select_target
from keras_egl.losses.gnes import ExplanationDistance
from keras_egl.regularizers.gnes import ExplanationConsistency, ExplanationSparsity
from keras_egl.terms.core import HAS_ANNOTATION, ExplanationTerm
from keras_egl.validation import assert_values, check_bool, check_choice, check_key

__all__ = ["NodeSupervision", "EdgeSupervision", "ConsistencyTerm", "SparsityTerm", "NODE_IMPORTANCE",
           "EDGE_IMPORTANCE", "ADJACENCY", "DISTANCES", "step_graph_maps", "check_graph_tensor"]

NODE_IMPORTANCE = "node_importance"
EDGE_IMPORTANCE = "edge_importance"
ADJACENCY = "adjacency"
DISTANCES = ("l1", "l2")

#: Map settings of a graph model that is not a GNES (the dissertation's choices).
DEFAULT_MAP_SETTINGS = dict(node_method="grad_cam", node_on_input=False, edge_input=-2,
                            normalize="max_positive", target="true")



# --------------------------------------------------------------------------- validation
def check_graph_tensor(t, name, node_mask, rank):
    """A graph annotation as float32 ``(B, N)`` (``rank=2``) or ``(B, N, N)`` (``rank=3``).

    The shape must match the padded batch of ``node_mask`` ``(B, N)`` (checked
    when the step is traced, and at run time when sizes are unknown then);
    values must be finite. Errors name ``name`` (the input-dict key).
    """
    t = tf.convert_to_tensor(t)
    if not (t.dtype.is_floating or t.dtype.is_integer or t.dtype == tf.bool):
        raise TypeError(f"`{name}` must be numeric; got dtype {t.dtype.name}.")
    want = "(B, N)" if rank == 2 else "(B, N, N)"
    if t.shape.rank != rank:
        raise ValueError(f"`{name}` must have shape {want} (B graphs padded to N nodes, like "
                         f"`node_mask`); got shape {tuple(t.shape.as_list()) if t.shape.rank is not None else None}.")
    mask = tf.convert_to_tensor(node_mask)
    b, n = (mask.shape.as_list() + [None, None])[:2]
    expected = [b] + [n] * (rank - 1)
    got = t.shape.as_list()
    if any(g is not None and e is not None and g != e for g, e in zip(got, expected)):
        raise ValueError(f"`{name}` has shape {tuple(got)} but the batch has {b} graph(s) padded to {n} "
                         f"nodes (`node_mask` shape {(b, n)}); expected {want} = {tuple(expected)}.")
    t = tf.cast(t, tf.float32)
    if not tf.executing_eagerly() and not all(g is not None and e is not None for g, e in zip(got, expected)):
        dims = tf.shape(mask)
        exp = tf.concat([dims, dims[1:2]], 0) if rank == 3 else dims
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.shape(t), exp, message=f"`{name}` must have shape {want} matching `node_mask` (B, N) "
                                          f"(one entry per node of each padded graph)")]):
            t = tf.identity(t)
    return assert_values(t, name)


def _annotation(ctx, key, node_mask, rank):
    ck = ("gnes_annotation", key, rank)
    if ck not in ctx._cache:
        ctx._cache[ck] = check_graph_tensor(ctx.annotation(key), key, node_mask, rank)
    return ctx._cache[ck]


def _flags(ctx, flag_key):
    """``(B,)`` has-label flags (validated: one per graph, in [0, 1]) or ``None`` when absent."""
    return ctx.flags(flag_key=flag_key) if ctx.has(flag_key) else None


# --------------------------------------------------------------------------- maps
def _map_settings(ctx):
    model = ctx.model
    settings = getattr(model, "graph_map_settings", None)
    if settings is not None:
        return settings
    xs = ctx.x
    if not isinstance(xs, (list, tuple)) or len(xs) < 3:
        raise ValueError("GNES terms need a graph classifier with the inputs [x, a_1..a_L, node_mask] "
                         "(a gcn_classifier; `input_key` = the list of their keys); the model has "
                         f"{len(xs) if isinstance(xs, (list, tuple)) else 1} input(s).")
    s = dict(DEFAULT_MAP_SETTINGS)
    s["node_method"] = "grad_cam" if ctx.activations is not None else "gradient"
    s["node_on_input"] = ctx.activations is None
    s["edge_input"] = len(xs) - 2
    return s


def step_graph_maps(ctx, adjacency_key=ADJACENCY, edges=True):
    """``(M (B, N), E (B, N, N), node_mask (B, N), A (B, N, N))`` of this step (differentiable).

    Computed once per step and adjacency key (cached on ``ctx``) from the
    step's forward pass. With ``edges=False`` and no ``adjacency_key`` in the
    batch, only ``M`` is computed (``E`` and ``A`` are ``None``); with
    ``edges=True`` a missing adjacency raises ``ValueError`` naming the key.
    """
    ck = ("gnes_maps", adjacency_key)
    if ck in ctx._cache:
        return ctx._cache[ck]
    has_adj = ctx.has(adjacency_key)
    if not has_adj:
        if edges:
            raise ValueError(f"the edge explanation E = ReLU(∂y/∂V) ⊙ A needs the raw adjacency A (B, N, N) "
                             f"under `{adjacency_key}` in the input dict; the batch has keys "
                             f"{sorted(ctx.inputs)}.")
        ck = ("gnes_maps", None)
        if ck in ctx._cache:
            return ctx._cache[ck]
    s = _map_settings(ctx)
    xs = ctx.x
    mask = xs[-1]
    adj = _annotation(ctx, adjacency_key, mask, 3) if has_adj else None
    target = s["target"]
    y = ctx.y if isinstance(target, str) and target == "true" else None
    if y is None and isinstance(target, str) and target == "true":
        raise ValueError("GNES terms explain the true class (target='true') and need labels `y`.")

    def score(out):
        return select_target(out, target, y=y, from_logits=True, quantity="logit")

    node_wrt = xs[0] if s["node_on_input"] else ctx.activations
    if has_adj:
        g_node, g_edge = ctx.gradient(score, [node_wrt, xs[s["edge_input"]]])
    else:
        g_node, g_edge = ctx.gradient(score, [node_wrt])[0], None
    if s["node_method"] == "grad_cam":
        m = node_grad_cam_map(node_wrt, g_node, mask)
    else:
        m = node_gradient_map(g_node, mask)
    e = edge_gradient_map(g_edge, adj, mask) if has_adj else None
    if s["normalize"] is not None:
        m = normalize_graph_map(m, mask, s["normalize"])
        e = normalize_graph_map(e, mask, s["normalize"]) if e is not None else None
    out = (m, e, mask, adj)
    ctx._cache[ck] = out
    return out


def _node_map_and_mask(ctx):
    """``(M, node_mask)``: reuses any maps of this step (``M`` does not depend on ``A``)."""
    for k, v in ctx._cache.items():
        if isinstance(k, tuple) and k and k[0] == "gnes_maps":
            return v[0], v[2]
    key = getattr(ctx.model, "adjacency_key", ADJACENCY)
    m, _, mask, _ = step_graph_maps(ctx, key if isinstance(key, str) else ADJACENCY, edges=False)
    return m, mask


# --------------------------------------------------------------------------- terms
class _Supervision(ExplanationTerm):
    def __init__(self, weight=1.0, distance="l1", name=None, flag_key=HAS_ANNOTATION, **kwargs):
        super().__init__(weight, name, **kwargs)
        check_choice(distance, DISTANCES, "distance")
        self.distance = ExplanationDistance(distance)
        self.flag_key = check_key(flag_key, "flag_key")


@keras.saving.register_keras_serializable(package="keras_egl")
class NodeSupervision(_Supervision):
    """``dist(M, M')`` on labelled graphs (eq. 4.3, node part). Weight = α_n.

    Args:
      weight: α_n ≥ 0.
      distance: ``"l1"`` (dissertation) or ``"l2"``: mean over each graph's
        real nodes, summed over labelled graphs / B.
      name: log key (``"node_loss"``).
      node_key: key of the human node importance ``M'`` ``(B, N)``.
      flag_key: key of the per-graph has-label flags ``(B,)`` (optional in
        the batch; see the module docstring).
    """

    default_name = "node_loss"

    def __init__(self, weight=1.0, distance="l1", name=None, node_key=NODE_IMPORTANCE,
                 flag_key=HAS_ANNOTATION, **kwargs):
        super().__init__(weight, distance, name, flag_key=flag_key, **kwargs)
        self.node_key = check_key(node_key, "node_key")

    @property
    def required_annotations(self):
        return (self.node_key,)

    def compute(self, ctx):
        m, mask = _node_map_and_mask(ctx)
        target = _annotation(ctx, self.node_key, mask, 2)
        return self.distance.distance(target, m, node_mask=mask, has_label=_flags(ctx, self.flag_key))

    def get_config(self):
        return {**super().get_config(), "distance": self.distance.distance_kind, "node_key": self.node_key,
                "flag_key": self.flag_key}


@keras.saving.register_keras_serializable(package="keras_egl")
class EdgeSupervision(_Supervision):
    """``dist(E, E')`` on labelled graphs (eq. 4.3, edge part). Weight = α_e.

    Args:
      weight: α_e ≥ 0.
      distance: ``"l1"`` or ``"l2"`` (mean over each graph's N² real entries).
      name: log key (``"edge_loss"``).
      edge_key: key of the human edge importance ``E'`` ``(B, N, N)``.
      adjacency_key: key of the raw adjacency ``A`` ``(B, N, N)`` (``E`` is ``⊙ A``).
      flag_key: key of the per-graph has-label flags ``(B,)``.
    """

    default_name = "edge_loss"

    def __init__(self, weight=1.0, distance="l1", name=None, edge_key=EDGE_IMPORTANCE,
                 adjacency_key=ADJACENCY, flag_key=HAS_ANNOTATION, **kwargs):
        super().__init__(weight, distance, name, flag_key=flag_key, **kwargs)
        self.edge_key = check_key(edge_key, "edge_key")
        self.adjacency_key = check_key(adjacency_key, "adjacency_key")

    @property
    def required_annotations(self):
        return (self.edge_key, self.adjacency_key)

    def compute(self, ctx):
        _, e, mask, _ = step_graph_maps(ctx, self.adjacency_key)
        target = _annotation(ctx, self.edge_key, mask, 3)
        return self.distance.distance(target, e, node_mask=mask, has_label=_flags(ctx, self.flag_key))

    def get_config(self):
        return {**super().get_config(), "distance": self.distance.distance_kind, "edge_key": self.edge_key,
                "adjacency_key": self.adjacency_key, "flag_key": self.flag_key}


@keras.saving.register_keras_serializable(package="keras_egl")
class ConsistencyTerm(ExplanationTerm):
    """β·Ω_c (eq. 4.5), batch mean over all graphs.

    Args:
      weight: β ≥ 0.
      anti_collapse: add the authors' code's ``−mean log(Σ_j E_ij A_ij + 1e-6)``.
      upper_triangle: the code's upper-triangle sum over N² (else full / 2N²).
      name: log key (``"consistency"``).
      adjacency_key: key of the raw adjacency ``A`` ``(B, N, N)``.
    """

    default_name = "consistency"

    def __init__(self, weight=0.1, anti_collapse=False, upper_triangle=False, name=None,
                 adjacency_key=ADJACENCY, **kwargs):
        super().__init__(weight, name, **kwargs)
        self.reg = ExplanationConsistency(check_bool(anti_collapse, "anti_collapse"),
                                          check_bool(upper_triangle, "upper_triangle"))
        self.adjacency_key = check_key(adjacency_key, "adjacency_key")

    @property
    def required_annotations(self):
        return (self.adjacency_key,)

    def compute(self, ctx):
        m, e, mask, adj = step_graph_maps(ctx, self.adjacency_key)
        return tf.reduce_mean(self.reg(m, e, adj, mask))

    def get_config(self):
        return {**super().get_config(), "anti_collapse": self.reg.anti_collapse,
                "upper_triangle": self.reg.upper_triangle, "adjacency_key": self.adjacency_key}


@keras.saving.register_keras_serializable(package="keras_egl")
class SparsityTerm(ExplanationTerm):
    """γ·Ω_s (eq. 4.6), batch mean over all graphs.

    Args:
      weight: γ ≥ 0.
      name: log key (``"sparsity"``).
      adjacency_key: key of the raw adjacency ``A`` ``(B, N, N)`` (``E`` is ``⊙ A``).
    """

    default_name = "sparsity"

    def __init__(self, weight=0.001, name=None, adjacency_key=ADJACENCY, **kwargs):
        super().__init__(weight, name, **kwargs)
        self.reg = ExplanationSparsity()
        self.adjacency_key = check_key(adjacency_key, "adjacency_key")

    @property
    def required_annotations(self):
        return (self.adjacency_key,)

    def compute(self, ctx):
        m, e, mask, _ = step_graph_maps(ctx, self.adjacency_key)
        return tf.reduce_mean(self.reg(m, e, mask))

    def get_config(self):
        return {**super().get_config(), "adjacency_key": self.adjacency_key}
