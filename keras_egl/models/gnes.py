"""GNES: explanation supervision for GCNs (Gao et al., "GNES: Learning to Explain
Graph Neural Networks", ICDM 2021; dissertation §4.2).

.. math::
    \\min\\ \\mathcal L_{Pred}
      + \\underbrace{\\alpha_n\\,\\mathrm{dist}(M, M') + \\alpha_e\\,\\mathrm{dist}(E, E')}_{\\text{labelled graphs}}
      + \\beta\\,\\Omega_c(A, M, E) + \\gamma\\,\\Omega_s(M, E)                (4.2–4.6)

``M`` is the node explanation (Grad-CAM at the last GCN layer by default) and
``E`` the edge explanation (``ReLU(∂y_c/∂V_L)``, zero diagonal, ``⊙ A``, eq.
4.10), both of the **true** class during training and both computed from the
training step's single batched forward pass (second order: the loss
differentiates through the gradients). The original trains one graph at a
time (``batch_size = 1``, ``train_on_batch``); here batches of padded graphs
with node masks are trained with ``fit``.

Fidelity settings, ``fidelity="dissertation" | "code"`` (every choice is in
``docs/FIDELITY.md``; ``preset=`` is the deprecated former name of the switch):

========================  ======================  =======================
                          ``"dissertation"``      ``"code"``
========================  ======================  =======================
hidden                    512/256/128             256/128/64
epochs (suggested)        100                     50
α_n, α_e                  1, 1                    1, 1
β, γ                      0.1, 0.001 (unreported  0.1, 0.001
                          in the text: the code's)
maps in the losses        max-normalised          unnormalised
                          (``"max_positive"``)
Ω_c anti-collapse term    off                     on
Ω_c sum                   full / 2N²              upper triangle / N²
========================  ======================  =======================

Variants (Table 4.1): ``"backbone"`` (plain GCN; the Grad-CAM and EB
baselines explain it), ``"-human+reg"``, ``"+human-reg"``, ``"full"``.

Public objects: :class:`GNES`, the terms :class:`NodeSupervision`,
:class:`EdgeSupervision`, :class:`ConsistencyTerm`, :class:`SparsityTerm`,
:data:`FIDELITIES` (formerly ``PRESETS``), :data:`VARIANTS`, :func:`build_gnes`.
The evaluation routine and the checkpoint callback live in
:func:`keras_egl.metrics.graph_evaluation.evaluate_graph_model` and
:class:`keras_egl.callbacks.BestValidationAUC` (re-exported here).

:class:`GNES` is a preset: it builds the four terms of
:mod:`keras_egl.terms.gnes` from its arguments (and appends the user's
``terms=``). The terms live in :mod:`keras_egl.terms.gnes` (registry names
``gnes_node``, ``gnes_edge``, ``gnes_consistency``, ``gnes_sparsity``) and
are re-exported here.

Graph data: the model inputs are ``x``, ``a_1..a_L`` and ``node_mask`` (the
``input_key`` list GNES sets); the raw ``adjacency``, ``node_importance``,
``edge_importance`` and ``has_annotation`` are read from the input dict under
``adjacency_key``, ``node_key``, ``edge_key`` and ``flag_key``. Every variant
accepts the same graph data dict (the backbone variant too: the keys are the
model's own, for evaluation and callbacks); any other key raises.
"""

import inspect

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.callbacks.model_selection import BestValidationAUC  # noqa: F401  (re-export)
from keras_egl.explain.graph import node_grad_cam_map, normalize_graph_map
from keras_egl.layers.graph import gcn_classifier, gcn_layers
from keras_egl.metrics.graph_evaluation import _auc, evaluate_graph_model  # noqa: F401  (re-export)
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.core import HAS_ANNOTATION
from keras_egl.terms.gnes import (ADJACENCY, DISTANCES, EDGE_IMPORTANCE, NODE_IMPORTANCE,  # noqa: F401
                                  ConsistencyTerm, EdgeSupervision, NodeSupervision, SparsityTerm,
                                  check_graph_tensor, step_graph_maps)
from keras_egl.validation import check_choice, check_key, check_non_negative, check_per_sample

__all__ = ["GNES", "NodeSupervision", "EdgeSupervision", "ConsistencyTerm", "SparsityTerm",
           "FIDELITIES", "PRESETS", "VARIANTS", "build_gnes", "evaluate_graph_model", "BestValidationAUC"]

#: ``fidelity`` -> its settings (paper = the dissertation, or the authors' code).
FIDELITIES = {
    "dissertation": dict(hidden="dissertation", epochs=100, learning_rate=1e-3, alpha_node=1.0,
                         alpha_edge=1.0, beta=0.1, gamma=0.001, normalize="max_positive", anti_collapse=False,
                         upper_triangle=False, distance="l1"),
    "code": dict(hidden="code", epochs=50, learning_rate=1e-3, alpha_node=1.0, alpha_edge=1.0,
                 beta=0.1, gamma=0.001, normalize=None, anti_collapse=True, upper_triangle=True,
                 distance="l1"),
}
PRESETS = FIDELITIES  # former name
#: variant -> (human supervision, regularisation)
VARIANTS = {"backbone": (False, False), "-human+reg": (False, True), "+human-reg": (True, False),
            "full": (True, True)}
_TRAIN_NODE_METHODS = ("grad_cam", "gradient")


@keras.saving.register_keras_serializable(package="keras_egl")
class GNES(ExplanationGuidedModel):
    """GNES explanation-supervised training of a :func:`gcn_classifier`.

    Data for ``fit``: a dict (or a ``tf.data`` of dicts, see
    :func:`keras_egl.data.molecules.graph_dataset`) with ``x`` (B, N, F),
    ``a_1..a_L`` (B, N, N) normalised adjacencies, ``node_mask`` (B, N)
    (the model inputs), ``adjacency`` (B, N, N) raw, and for supervision
    ``node_importance`` (B, N), ``edge_importance`` (B, N, N),
    ``has_annotation`` (B,); labels ``y`` (B,). The last four keys are
    arguments (``adjacency_key``, ``node_key``, ``edge_key``, ``flag_key``).

    Args:
      model: a :func:`~keras_egl.layers.graph.gcn_classifier` (logits output).
      fidelity: ``"dissertation"`` (default) or ``"code"`` (see module table);
        ``preset=`` is the deprecated former name.
      variant: ``"full"`` (default), ``"+human-reg"``, ``"-human+reg"`` or
        ``"backbone"``; overridden by ``supervision``/``regularization``.
      supervision, regularization: explicit switches of the two parts.
      alpha_node, alpha_edge, beta, gamma: loss weights (the fidelity's values when ``None``).
      distance: ``"l1"`` or ``"l2"`` (both fidelities: ``"l1"``).
      normalize: map normalisation inside the losses, over the real nodes:
        ``"max_positive"`` (divide by the max; a map whose max is ≤ 0 becomes
        zeros), ``"max"`` (divide by ``max |m|``; the same on these
        non-negative maps) or ``None``; ``"fidelity"`` (default) takes the
        fidelity's (``"dissertation"``: ``"max_positive"``, ``"code"``: ``None``).
      anti_collapse, upper_triangle: Ω_c options (see :mod:`keras_egl.regularizers.gnes`).
      node_method: ``"grad_cam"`` (paper) or ``"gradient"`` for the trained node map.
      layer: node-explanation layer (``-1`` = last GCN layer; 0 = input, gradient only).
      edge_layer: which ``V_l`` the edge explanation differentiates (``-1`` = last).
      target: explained class in training (``"true"``, as the code).
      terms: further :class:`~keras_egl.terms.ExplanationTerm` objects (or
        registry names), appended after the preset's terms.
      node_key, edge_key, adjacency_key, flag_key: input-dict keys of the
        human node importance, the human edge importance, the raw adjacency
        and the has-label flags (given to the preset's terms).
      **kwargs: forwarded to :class:`ExplanationGuidedModel` (``explainer``,
        ``explanation_metrics``, ``check_finite``, ``extra_keys``, ``name``).

    Example:
      >>> backbone = gcn_classifier(75, 2, hidden="code", seed=0)
      >>> gnes = GNES(backbone, fidelity="code", variant="full")
      >>> gnes.compile(keras.optimizers.Adam(1e-3),
      ...              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
      >>> gnes.fit(graph_dataset(train_graphs, 32), epochs=10)
    """

    @renamed_argument("preset", "fidelity")
    def __init__(self, model, fidelity="dissertation", variant="full", supervision=None,
                 regularization=None, alpha_node=None, alpha_edge=None, beta=None, gamma=None,
                 distance=None, normalize="fidelity", anti_collapse=None, upper_triangle=None,
                 node_method="grad_cam", layer=-1, edge_layer=-1, target="true", terms=(),
                 node_key=NODE_IMPORTANCE, edge_key=EDGE_IMPORTANCE, adjacency_key=ADJACENCY,
                 flag_key=HAS_ANNOTATION, **kwargs):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model built by gcn_classifier; got {type(model).__name__}.")
        fixed = sorted(k for k in ("explained_layer", "input_key", "from_logits") if k in kwargs)
        if fixed:
            raise TypeError(f"GNES sets {fixed} itself (the explained GCN layer, the graph inputs "
                            "[x, a_1..a_L, node_mask], logits); do not pass them.")
        check_choice(fidelity, tuple(FIDELITIES), "fidelity")
        check_choice(variant, tuple(VARIANTS), "variant")
        check_choice(node_method, _TRAIN_NODE_METHODS, "node_method")
        p = FIDELITIES[fidelity]
        sup, reg = VARIANTS[variant]
        sup = sup if supervision is None else bool(supervision)
        reg = reg if regularization is None else bool(regularization)
        pick = lambda v, k: p[k] if v is None else v  # noqa: E731
        self.fidelity, self.variant = fidelity, variant
        self.supervision, self.regularization = sup, reg
        self.alpha_node = check_non_negative(pick(alpha_node, "alpha_node"), "alpha_node")
        self.alpha_edge = check_non_negative(pick(alpha_edge, "alpha_edge"), "alpha_edge")
        self.beta = check_non_negative(pick(beta, "beta"), "beta")
        self.gamma = check_non_negative(pick(gamma, "gamma"), "gamma")
        self.distance = check_choice(pick(distance, "distance"), DISTANCES, "distance")
        # "preset" was the default's former spelling
        self.normalize = p["normalize"] if normalize in ("fidelity", "preset") else normalize
        check_choice(self.normalize, ("max_positive", "max", None), "normalize")
        self.anti_collapse = bool(pick(anti_collapse, "anti_collapse"))
        self.upper_triangle = bool(pick(upper_triangle, "upper_triangle"))
        self.node_method, self.layer, self.edge_layer, self.target = node_method, int(layer), int(edge_layer), target
        self.node_key, self.edge_key = check_key(node_key, "node_key"), check_key(edge_key, "edge_key")
        self.adjacency_key = check_key(adjacency_key, "adjacency_key")
        self.flag_key = check_key(flag_key, "flag_key")
        gcns, _, _ = gcn_layers(model)
        self.n_layers = len(gcns)
        l_node = self.n_layers + 1 + self.layer if self.layer < 0 else self.layer
        l_edge = self.n_layers + 1 + self.edge_layer if self.edge_layer < 0 else self.edge_layer
        if not 0 <= l_node <= self.n_layers or (node_method == "grad_cam" and l_node == 0):
            raise ValueError(f"`layer`={layer} is out of range for {self.n_layers} GCN layers "
                             "(Grad-CAM needs a GCN layer).")
        if not 1 <= l_edge <= self.n_layers:
            raise ValueError(f"`edge_layer`={edge_layer} is out of range for {self.n_layers} GCN layers.")
        self._l_node, self._l_edge = l_node, l_edge
        preset = []
        if sup:
            preset += [NodeSupervision(self.alpha_node, self.distance, node_key=node_key, flag_key=flag_key),
                       EdgeSupervision(self.alpha_edge, self.distance, edge_key=edge_key,
                                       adjacency_key=adjacency_key, flag_key=flag_key)]
        if reg:
            preset += [ConsistencyTerm(self.beta, self.anti_collapse, self.upper_triangle,
                                       adjacency_key=adjacency_key),
                       SparsityTerm(self.gamma, adjacency_key=adjacency_key)]
        self._n_preset_terms = len(preset)
        if isinstance(terms, str):
            terms = [terms]
        input_key = ["x"] + [f"a_{i + 1}" for i in range(self.n_layers)] + ["node_mask"]
        super().__init__(model, terms=preset + list(terms or ()),
                         explained_layer=f"gcn_{l_node}" if l_node > 0 else None,
                         input_key=input_key, from_logits=True, **kwargs)

    # ------------------------------------------------------------------ keys
    @property
    def model_keys(self):
        """The graph keys GNES itself reads (evaluation, callbacks, its maps), whatever the variant."""
        return (self.flag_key, self.adjacency_key, self.node_key, self.edge_key)

    @property
    def user_terms(self):
        """The terms passed as ``terms=`` (after the preset's)."""
        return list(self.terms[self._n_preset_terms:])

    def split_inputs(self, inputs):
        x, annotations = super().split_inputs(inputs)
        if isinstance(x, (list, tuple)):
            x = _check_graph_inputs(x, self._input_keys())
        return x, annotations

    # --------------------------------------------------------- explanations
    @property
    def graph_map_settings(self):
        """How the training maps are computed (read by :func:`keras_egl.terms.gnes.step_graph_maps`)."""
        return dict(node_method=self.node_method, node_on_input=self._l_node == 0, edge_input=self._l_edge,
                    normalize=self.normalize, target=self.target)

    def graph_maps(self, ctx, adjacency_key=None):
        """``(M (B,N), E (B,N,N), node_mask, adjacency)`` of a step (differentiable).

        ``adjacency_key`` defaults to the model's; the maps are cached on ``ctx``.
        """
        return step_graph_maps(ctx, self.adjacency_key if adjacency_key is None else adjacency_key)

    def explainer(self, ctx):
        """Max-normalised Grad-CAM node map of the predicted class (for ``explain``).

        A user ``explainer=`` takes precedence.
        """
        if self._explainer is not None:
            return self._explainer(ctx)
        acts = ctx.activations
        if acts is None:
            return ctx.input_gradients(target="pred")
        grads = ctx.layer_gradients("pred")
        return normalize_graph_map(node_grad_cam_map(acts, grads, ctx.x[-1]), ctx.x[-1], "max_positive")

    def _update_explanation_metrics(self, ctx):
        """Graph annotations are ``(B, N)`` node vectors, not image masks: validate them as such.

        Each metric receives ``(*annotations, node maps, sample_weight=flags)``
        and, when it takes one (the graph metrics), ``node_mask=``; node
        annotations only (the explainer returns node maps).
        """
        present = [(m, keys) for m, keys in self._state.metric_specs if keys[0] in ctx.inputs]
        if not present:
            return
        node_mask = tf.nest.flatten(ctx.x)[-1]
        maps = tf.stop_gradient(self.explainer(ctx))
        flags = None
        if ctx.has(self.flag_key):
            flags = check_per_sample(ctx.inputs[self.flag_key], self.flag_key, node_mask, low=0.0, high=1.0)
        for metric, keys in present:
            annotations = [check_graph_tensor(ctx.inputs[k], k, node_mask, rank=2)
                           for k in keys if ctx.has(k)]
            # The instance's update_state is Keras's (*args, **kwargs) wrapper: ask the class.
            extra = {"node_mask": node_mask} if "node_mask" in inspect.signature(
                type(metric).update_state).parameters else {}
            metric.update_state(*annotations, maps, sample_weight=flags, **extra)

    @property
    def preset(self):
        """Deprecated alias of :attr:`fidelity`."""
        return self.fidelity

    # -------------------------------------------------------- serialization
    def get_config(self):
        config = super().get_config()
        for k in ("explained_layer", "input_key", "from_logits"):  # set by GNES itself
            config.pop(k, None)
        config["terms"] = [keras.saving.serialize_keras_object(t) for t in self.user_terms]
        config.update({"fidelity": self.fidelity,
                       "variant": self.variant, "supervision": self.supervision,
                       "regularization": self.regularization, "alpha_node": self.alpha_node,
                       "alpha_edge": self.alpha_edge, "beta": self.beta, "gamma": self.gamma,
                       "distance": self.distance, "normalize": self.normalize,
                       "anti_collapse": self.anti_collapse, "upper_triangle": self.upper_triangle,
                       "node_method": self.node_method, "layer": self.layer, "edge_layer": self.edge_layer,
                       "target": self.target, "node_key": self.node_key, "edge_key": self.edge_key,
                       "adjacency_key": self.adjacency_key, "flag_key": self.flag_key})
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from keras_egl.layers.graph import MaskedGlobalAvgPool, gcn_conv_class

        GCNConv = gcn_conv_class()

        config = dict(config)
        if "preset" in config:  # configs saved before the rename
            config["fidelity"] = config.pop("preset")
        # "GCNConv": files saved with Spektral's own class; "keras_egl>GCNConv": ours.
        objs = {"GCNConv": GCNConv, "keras_egl>GCNConv": GCNConv, "MaskedGlobalAvgPool": MaskedGlobalAvgPool,
                **(custom_objects or {})}
        with keras.utils.custom_object_scope(objs):
            config = cls._deserialize_common(config, objs)
        return cls(config.pop("model"), **config)


def _static_dims(t):
    return t.shape.as_list() if t.shape.rank is not None else None


def _check_graph_inputs(xs, keys):
    """Shapes of the padded graph inputs ``[x, a_1..a_L, node_mask]`` (errors name the key)."""
    xs = [t if isinstance(t, tf.Tensor) else tf.convert_to_tensor(t) for t in xs]
    x, adjs, mask = xs[0], xs[1:-1], xs[-1]
    kx, ka, km = keys[0], keys[1:-1], keys[-1]
    if x.shape.rank != 3:
        raise ValueError(f"`{kx}` must have shape (B, N, F) (B graphs padded to N nodes); got shape {_static_dims(x)}.")
    b, n = x.shape.as_list()[:2]
    checks = [(mask, km, 2, "(B, N)")] + [(a, k, 3, "(B, N, N)") for a, k in zip(adjs, ka)]
    out = [x]
    for t, key, rank, want in checks:
        if t.shape.rank != rank:
            raise ValueError(f"`{key}` must have shape {want} with `{kx}` (B, N, F); got shape {_static_dims(t)}.")
        expected = [b] + [n] * (rank - 1)
        got = t.shape.as_list()
        if any(g is not None and e is not None and g != e for g, e in zip(got, expected)):
            raise ValueError(f"`{key}` has shape {tuple(got)} but `{kx}` has shape {tuple(x.shape.as_list())}: "
                             f"expected {want} = {tuple(expected)} (one entry per node of each padded graph).")
        if not tf.executing_eagerly() and not all(g is not None and e is not None for g, e in zip(got, expected)):
            dims = tf.shape(x)[:2]
            exp = tf.concat([dims, dims[1:2]], 0) if rank == 3 else dims
            with tf.control_dependencies([tf.debugging.assert_equal(
                    tf.shape(t), exp, message=f"`{key}` must have shape {want} matching `{kx}` (B, N, F) "
                                              f"(one entry per node of each padded graph)")]):
                t = tf.identity(t)
        out.append(t)
    # back in input order: x, a_1..a_L, node_mask
    return [out[0]] + out[2:] + [out[1]]


@renamed_argument("preset", "fidelity")
def build_gnes(n_features, n_classes=2, fidelity="dissertation", variant="full", seed=None,
               hidden=None, learning_rate=None, **kwargs):
    """A compiled :class:`GNES` on a fresh :func:`gcn_classifier` (Adam, sparse CE from logits).

    ``hidden``/``learning_rate`` default to the fidelity's (``preset=`` is the
    deprecated former name of ``fidelity=``). Returns the GNES model.
    """
    check_choice(fidelity, tuple(FIDELITIES), "fidelity")
    p = FIDELITIES[fidelity]
    backbone = gcn_classifier(n_features, n_classes, hidden=hidden or p["hidden"], seed=seed)
    model = GNES(backbone, fidelity=fidelity, variant=variant, **kwargs)
    model.compile(keras.optimizers.Adam(learning_rate or p["learning_rate"]),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model
