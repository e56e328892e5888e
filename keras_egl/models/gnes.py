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

Presets (every choice is in ``docs/FIDELITY.md``):

========================  ======================  =======================
                          ``"dissertation"``      ``"code"``
========================  ======================  =======================
hidden                    512/256/128             256/128/64
epochs (suggested)        100                     50
α_n, α_e                  1, 1                    1, 1
β, γ                      0.1, 0.001 (unreported  0.1, 0.001
                          in the text: the code's)
maps in the losses        max-normalised          unnormalised
Ω_c anti-collapse term    off                     on
Ω_c sum                   full / 2N²              upper triangle / N²
========================  ======================  =======================

Variants (Table 4.1): ``"backbone"`` (plain GCN; the Grad-CAM and EB
baselines explain it), ``"-human+reg"``, ``"+human-reg"``, ``"full"``.

Public objects: :class:`GNES`, the terms :class:`NodeSupervision`,
:class:`EdgeSupervision`, :class:`ConsistencyTerm`, :class:`SparsityTerm`,
:data:`PRESETS`, :data:`VARIANTS`, :func:`build_gnes`,
:func:`evaluate_graph_model` and :class:`BestValidationAUC`.
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.graph import (edge_gradient_map, explain_graph, node_grad_cam_map,
                                     node_gradient_map, normalize_graph_map)
from keras_egl.explain.targets import select_target
from keras_egl.layers.graph import gcn_classifier, gcn_layers
from keras_egl.losses.gnes import ExplanationDistance
from keras_egl.models.base import ExplanationGuidedModel, ExplanationTerm
from keras_egl.regularizers.gnes import ExplanationConsistency, ExplanationSparsity

__all__ = ["GNES", "NodeSupervision", "EdgeSupervision", "ConsistencyTerm", "SparsityTerm",
           "PRESETS", "VARIANTS", "build_gnes", "evaluate_graph_model", "BestValidationAUC"]

PRESETS = {
    "dissertation": dict(hidden="dissertation", epochs=100, learning_rate=1e-3, alpha_node=1.0,
                         alpha_edge=1.0, beta=0.1, gamma=0.001, normalize="max", anti_collapse=False,
                         upper_triangle=False, distance="l1"),
    "code": dict(hidden="code", epochs=50, learning_rate=1e-3, alpha_node=1.0, alpha_edge=1.0,
                 beta=0.1, gamma=0.001, normalize=None, anti_collapse=True, upper_triangle=True,
                 distance="l1"),
}
#: variant -> (human supervision, regularisation)
VARIANTS = {"backbone": (False, False), "-human+reg": (False, True), "+human-reg": (True, False),
            "full": (True, True)}
_TRAIN_NODE_METHODS = ("grad_cam", "gradient")


def _maps(ctx):
    """``(M, E, node_mask, adjacency)`` of this step, computed once and cached on ``ctx``."""
    cached = getattr(ctx, "_gnes_maps", None)
    if cached is not None:
        return cached
    model = ctx.model
    if not isinstance(model, GNES):
        raise TypeError(f"GNES terms need a GNES model; received {type(model).__name__}.")
    cached = model.graph_maps(ctx)
    ctx._gnes_maps = cached
    return cached


@keras.saving.register_keras_serializable(package="keras_egl")
class NodeSupervision(ExplanationTerm):
    """``dist(M, M')`` on labelled graphs (eq. 4.3, node part). Weight = α_n."""

    default_name = "node_loss"
    required_annotations = ("node_importance",)

    def __init__(self, weight=1.0, distance="l1", name=None):
        super().__init__(weight, name)
        self.distance = ExplanationDistance(distance)

    def compute(self, ctx):
        m, _, mask, _ = _maps(ctx)
        return self.distance.distance(ctx.annotation("node_importance"), m, node_mask=mask,
                                      has_label=ctx.flags("node_importance"))

    def get_config(self):
        return {**super().get_config(), "distance": self.distance.distance_kind}


@keras.saving.register_keras_serializable(package="keras_egl")
class EdgeSupervision(ExplanationTerm):
    """``dist(E, E')`` on labelled graphs (eq. 4.3, edge part). Weight = α_e."""

    default_name = "edge_loss"
    required_annotations = ("edge_importance", "adjacency")

    def __init__(self, weight=1.0, distance="l1", name=None):
        super().__init__(weight, name)
        self.distance = ExplanationDistance(distance)

    def compute(self, ctx):
        _, e, mask, _ = _maps(ctx)
        return self.distance.distance(ctx.annotation("edge_importance"), e, node_mask=mask,
                                      has_label=ctx.flags("edge_importance"))

    def get_config(self):
        return {**super().get_config(), "distance": self.distance.distance_kind}


@keras.saving.register_keras_serializable(package="keras_egl")
class ConsistencyTerm(ExplanationTerm):
    """β·Ω_c (eq. 4.5), batch mean over all graphs."""

    default_name = "consistency"
    required_annotations = ("adjacency",)

    def __init__(self, weight=0.1, anti_collapse=False, upper_triangle=False, name=None):
        super().__init__(weight, name)
        self.reg = ExplanationConsistency(anti_collapse, upper_triangle)

    def compute(self, ctx):
        m, e, mask, adj = _maps(ctx)
        return tf.reduce_mean(self.reg(m, e, adj, mask))

    def get_config(self):
        return {**super().get_config(), "anti_collapse": self.reg.anti_collapse,
                "upper_triangle": self.reg.upper_triangle}


@keras.saving.register_keras_serializable(package="keras_egl")
class SparsityTerm(ExplanationTerm):
    """γ·Ω_s (eq. 4.6), batch mean over all graphs."""

    default_name = "sparsity"
    required_annotations = ("adjacency",)

    def __init__(self, weight=0.001, name=None):
        super().__init__(weight, name)
        self.reg = ExplanationSparsity()

    def compute(self, ctx):
        m, e, mask, _ = _maps(ctx)
        return tf.reduce_mean(self.reg(m, e, mask))


@keras.saving.register_keras_serializable(package="keras_egl")
class GNES(ExplanationGuidedModel):
    """GNES explanation-supervised training of a :func:`gcn_classifier`.

    Data for ``fit``: a dict (or a ``tf.data`` of dicts, see
    :func:`keras_egl.data.molecules.graph_dataset`) with ``x`` (B, N, F),
    ``a_1..a_L`` (B, N, N) normalised adjacencies, ``node_mask`` (B, N),
    ``adjacency`` (B, N, N) raw, and for supervision ``node_importance`` (B, N),
    ``edge_importance`` (B, N, N), ``has_annotation`` (B,); labels ``y`` (B,).

    Args:
      model: a :func:`~keras_egl.layers.graph.gcn_classifier` (logits output).
      preset: ``"dissertation"`` (default) or ``"code"`` (see module table).
      variant: ``"full"`` (default), ``"+human-reg"``, ``"-human+reg"`` or
        ``"backbone"``; overridden by ``supervision``/``regularization``.
      supervision, regularization: explicit switches of the two parts.
      alpha_node, alpha_edge, beta, gamma: loss weights (preset values when ``None``).
      distance: ``"l1"`` or ``"l2"`` (preset: ``"l1"``).
      normalize: ``"max"`` or ``None``: map normalisation inside the losses.
      anti_collapse, upper_triangle: Ω_c options (see :mod:`keras_egl.regularizers.gnes`).
      node_method: ``"grad_cam"`` (paper) or ``"gradient"`` for the trained node map.
      layer: node-explanation layer (``-1`` = last GCN layer; 0 = input, gradient only).
      edge_layer: which ``V_l`` the edge explanation differentiates (``-1`` = last).
      target: explained class in training (``"true"``, as the code).
      **kwargs: forwarded to :class:`ExplanationGuidedModel` (e.g. ``name``).

    Example:
      >>> backbone = gcn_classifier(75, 2, hidden="code", seed=0)
      >>> gnes = GNES(backbone, preset="code", variant="full")
      >>> gnes.compile(keras.optimizers.Adam(1e-3),
      ...              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
      >>> gnes.fit(graph_dataset(train_graphs, 32), epochs=10)
    """

    def __init__(self, model, preset="dissertation", variant="full", supervision=None,
                 regularization=None, alpha_node=None, alpha_edge=None, beta=None, gamma=None,
                 distance=None, normalize="preset", anti_collapse=None, upper_triangle=None,
                 node_method="grad_cam", layer=-1, edge_layer=-1, target="true", **kwargs):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model built by gcn_classifier; got {type(model).__name__}.")
        if preset not in PRESETS:
            raise ValueError(f"`preset` must be one of {sorted(PRESETS)}; received {preset!r}.")
        if variant not in VARIANTS:
            raise ValueError(f"`variant` must be one of {sorted(VARIANTS)}; received {variant!r}.")
        if node_method not in _TRAIN_NODE_METHODS:
            raise ValueError(f"`node_method` must be one of {_TRAIN_NODE_METHODS} for training; "
                             f"received {node_method!r}.")
        p = PRESETS[preset]
        sup, reg = VARIANTS[variant]
        sup = sup if supervision is None else bool(supervision)
        reg = reg if regularization is None else bool(regularization)
        pick = lambda v, k: p[k] if v is None else v  # noqa: E731
        self.preset, self.variant = preset, variant
        self.supervision, self.regularization = sup, reg
        self.alpha_node, self.alpha_edge = float(pick(alpha_node, "alpha_node")), float(pick(alpha_edge, "alpha_edge"))
        self.beta, self.gamma = float(pick(beta, "beta")), float(pick(gamma, "gamma"))
        self.distance = pick(distance, "distance")
        self.normalize = p["normalize"] if normalize == "preset" else normalize
        if self.normalize not in ("max", None):
            raise ValueError(f"`normalize` must be 'max' or None; received {normalize!r}.")
        self.anti_collapse = bool(pick(anti_collapse, "anti_collapse"))
        self.upper_triangle = bool(pick(upper_triangle, "upper_triangle"))
        self.node_method, self.layer, self.edge_layer, self.target = node_method, int(layer), int(edge_layer), target
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
        terms = []
        if sup:
            terms += [NodeSupervision(self.alpha_node, self.distance), EdgeSupervision(self.alpha_edge, self.distance)]
        if reg:
            terms += [ConsistencyTerm(self.beta, self.anti_collapse, self.upper_triangle), SparsityTerm(self.gamma)]
        input_key = ["x"] + [f"a_{i + 1}" for i in range(self.n_layers)] + ["node_mask"]
        kwargs.pop("terms", None)
        super().__init__(model, terms=terms, explained_layer=f"gcn_{l_node}" if l_node > 0 else None,
                         input_key=input_key, from_logits=True, **kwargs)

    # --------------------------------------------------------- explanations
    def graph_maps(self, ctx):
        """``(M (B,N), E (B,N,N), node_mask, adjacency)`` of a step (differentiable)."""
        xs = ctx.x
        mask = xs[-1]
        adj = ctx.annotation("adjacency")
        if adj is None:
            raise ValueError("GNES needs the raw `adjacency` (B, N, N) in the input dict.")
        target = self.target
        y = ctx.y if isinstance(target, str) and target == "true" else None

        def score(out):
            return select_target(out, target, y=y, from_logits=True, quantity="logit")

        node_wrt = ctx.activations if self._l_node > 0 else xs[0]
        g_node, g_edge = ctx.gradient(score, [node_wrt, xs[self._l_edge]])
        if self.node_method == "grad_cam":
            m = node_grad_cam_map(ctx.activations, g_node, mask)
        else:
            m = node_gradient_map(g_node, mask)
        e = edge_gradient_map(g_edge, adj, mask)
        if self.normalize is not None:
            m = normalize_graph_map(m, mask, self.normalize)
            e = normalize_graph_map(e, mask, self.normalize)
        return m, e, mask, adj

    def explainer(self, ctx):
        """Max-normalised Grad-CAM node map of the predicted class (for ``explain``)."""
        acts = ctx.activations
        if acts is None:
            return ctx.input_gradients(target="pred")
        grads = ctx.layer_gradients("pred")
        return normalize_graph_map(node_grad_cam_map(acts, grads, ctx.x[-1]), ctx.x[-1], "max")

    def get_config(self):
        return {"model": keras.saving.serialize_keras_object(self.model), "preset": self.preset,
                "variant": self.variant, "supervision": self.supervision,
                "regularization": self.regularization, "alpha_node": self.alpha_node,
                "alpha_edge": self.alpha_edge, "beta": self.beta, "gamma": self.gamma,
                "distance": self.distance, "normalize": self.normalize,
                "anti_collapse": self.anti_collapse, "upper_triangle": self.upper_triangle,
                "node_method": self.node_method, "layer": self.layer, "edge_layer": self.edge_layer,
                "target": self.target, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from spektral.layers import GCNConv

        from keras_egl.layers.graph import MaskedGlobalAvgPool

        config = dict(config)
        objs = {"GCNConv": GCNConv, "MaskedGlobalAvgPool": MaskedGlobalAvgPool, **(custom_objects or {})}
        with keras.utils.custom_object_scope(objs):
            model = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=objs)
        return cls(model, **config)


def build_gnes(n_features, n_classes=2, preset="dissertation", variant="full", seed=None,
               hidden=None, learning_rate=None, **kwargs):
    """A compiled :class:`GNES` on a fresh :func:`gcn_classifier` (Adam, sparse CE from logits).

    ``hidden``/``learning_rate`` default to the preset's. Returns the GNES model.
    """
    p = PRESETS[preset] if preset in PRESETS else None
    if p is None:
        raise ValueError(f"`preset` must be one of {sorted(PRESETS)}; received {preset!r}.")
    backbone = gcn_classifier(n_features, n_classes, hidden=hidden or p["hidden"], seed=seed)
    model = GNES(backbone, preset=preset, variant=variant, **kwargs)
    model.compile(keras.optimizers.Adam(learning_rate or p["learning_rate"]),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _auc(y, score):
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


def evaluate_graph_model(model, dataset, methods=("grad_cam",), edge_method="gradient", target="true",
                         layer=-1, edge_layer=-1):
    """AUC and GNES node/edge MSE/MAE of a GCN on a dataset of padded batches.

    Args:
      model: a :class:`GNES` or a bare :func:`gcn_classifier`.
      dataset: iterable of ``(inputs dict, y)`` (e.g. :func:`graph_dataset` without shuffling).
      methods: node methods to evaluate (``"grad_cam"``, ``"eb"``, ``"gradient"``, ``"lrp"``).
      edge_method: ``"gradient"`` or ``"response"`` (paired with every node method;
        EB rows use the response-based edge map when ``"auto"``).
      target: explained class, ``"true"`` (the authors' ``human_evaluate``) or ``"pred"``.
      layer, edge_layer: explanation layers.

    Returns: ``{"auc": float, method: {"node_mse", "node_mae", "edge_mse", "edge_mae", "n_labelled"}}``;
    errors are max-normalised per graph, averaged over all N / N² entries of each
    labelled graph, then over labelled graphs (the GNES definition).
    """
    from keras_egl.metrics.graph import (edge_explanation_mae, edge_explanation_mse,
                                         node_explanation_mae, node_explanation_mse)

    backbone = model.model if isinstance(model, ExplanationGuidedModel) else model
    gcns, _, _ = gcn_layers(backbone)
    keys = ["x"] + [f"a_{i + 1}" for i in range(len(gcns))] + ["node_mask"]
    ys, scores = [], []
    acc = {m: {"node_mse": [], "node_mae": [], "edge_mse": [], "edge_mae": []} for m in methods}
    for inputs, y in dataset:
        ins = [tf.convert_to_tensor(inputs[k]) for k in keys]
        y = tf.convert_to_tensor(y)
        for meth in methods:
            em = edge_method
            if em == "auto":
                em = "response" if meth in ("eb", "lrp") else "gradient"
            out = explain_graph(backbone, ins, target=target, y=y, node_method=meth, edge_method=em,
                                layer=layer, edge_layer=edge_layer, adjacency=inputs["adjacency"],
                                normalize=None)
            logits = out["logits"]
            kw = dict(node_mask=inputs["node_mask"], has_annotation=inputs.get("has_annotation"),
                      normalize="max", reduction="none")
            for name, fn, truth, expl in (
                    ("node_mse", node_explanation_mse, "node_importance", out["node"]),
                    ("node_mae", node_explanation_mae, "node_importance", out["node"]),
                    ("edge_mse", edge_explanation_mse, "edge_importance", out["edge"]),
                    ("edge_mae", edge_explanation_mae, "edge_importance", out["edge"])):
                if truth not in inputs:
                    continue
                extra = {"adjacency": inputs["adjacency"]} if name.startswith("edge") else {}
                acc[meth][name].append(fn(inputs[truth], expl, **extra, **kw).numpy())
        ys.append(np.asarray(y))
        scores.append(tf.nn.softmax(logits)[:, -1].numpy())
    result = {"auc": _auc(np.concatenate(ys), np.concatenate(scores))}
    for meth, d in acc.items():
        r = {}
        for k, v in d.items():
            v = np.concatenate(v) if v else np.zeros(0)
            v = v[np.isfinite(v)]
            r[k] = float(v.mean()) if v.size else float("nan")
            r["n_labelled"] = int(v.size)
        result[meth] = r
    return result


class BestValidationAUC(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best validation ROC AUC (the authors' selection).

    Args:
      dataset: validation batches ``(inputs dict, y)``.
      verbose: print the AUC each epoch.
    """

    def __init__(self, dataset, verbose=0):
        super().__init__()
        self.dataset = dataset
        self.verbose = verbose
        self.best = -np.inf
        self.best_epoch = -1
        self._weights = None

    def _val_auc(self):
        ys, ss = [], []
        for inputs, y in self.dataset:
            logits = self.model(inputs, training=False)
            ys.append(np.asarray(y))
            ss.append(tf.nn.softmax(logits)[:, -1].numpy())
        return _auc(np.concatenate(ys), np.concatenate(ss))

    def on_epoch_end(self, epoch, logs=None):
        auc = self._val_auc()
        if logs is not None:
            logs["val_auc"] = auc
        if self.verbose:
            print(f"epoch {epoch + 1}: val_auc={auc:.4f}")
        if np.isfinite(auc) and auc > self.best:
            self.best, self.best_epoch = auc, epoch
            self._weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.model.set_weights(self._weights)
