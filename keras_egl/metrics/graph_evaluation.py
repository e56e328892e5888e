"""Evaluation of a GCN classifier and its explanations on a dataset (GNES protocol).

:func:`evaluate_graph_model` runs a trained
:func:`~keras_egl.layers.graph.gcn_classifier` (bare, or inside a
:class:`~keras_egl.models.gnes.GNES`) over a dataset of padded graph batches
and reports the ROC AUC of its predictions together with the GNES node/edge
explanation errors of :mod:`keras_egl.metrics.graph` for each requested
explanation method (Gao et al., ICDM 2021, Tables 4.1–4.2; the authors'
``human_evaluate``). :func:`roc_auc` is the AUC used here and by
:class:`keras_egl.callbacks.BestValidationAUC`.
"""

import numpy as np

from keras_egl._keras import tf

__all__ = ["evaluate_graph_model", "roc_auc"]


def roc_auc(y, score):
    """ROC AUC of binary labels ``y`` and scores, ``NaN`` when ``y`` has a single class."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    score = np.asarray(score)
    if y.ndim != 1:
        raise ValueError(f"`y` must be 1-D binary labels (N,); got shape {y.shape}.")
    if score.dtype.kind not in "biuf":
        raise TypeError(f"`score` must hold real numbers; got dtype {score.dtype}.")
    if score.shape != y.shape:
        raise ValueError(f"`score` must have one value per label, shape {y.shape}; got shape {score.shape}.")
    if not np.all(np.isfinite(score)):
        raise ValueError("`score` must hold finite values; got NaN or infinite entries.")
    if len(np.unique(y)) > 2:
        raise ValueError(f"`y` must be binary labels; got {len(np.unique(y))} classes {np.unique(y)[:5].tolist()}.")
    if len(np.unique(y)) < 2:
        return float("nan")
    return float(roc_auc_score(y, score))


_auc = roc_auc  # former private name (keras_egl.models.gnes._auc)


def evaluate_graph_model(model, dataset, methods=("grad_cam",), edge_method="gradient", target="true",
                         layer=-1, edge_layer=-1):
    """AUC and GNES node/edge MSE/MAE of a GCN on a dataset of padded batches.

    Args:
      model: a :class:`~keras_egl.models.gnes.GNES` (any
        :class:`~keras_egl.models.base.ExplanationGuidedModel`) or a bare
        :func:`~keras_egl.layers.graph.gcn_classifier`.
      dataset: iterable of ``(inputs dict, y)`` (e.g.
        :func:`~keras_egl.data.molecules.graph_dataset` without shuffling).
      methods: node methods to evaluate (``"grad_cam"``, ``"eb"``, ``"gradient"``, ``"lrp"``).
      edge_method: ``"gradient"`` or ``"response"`` (paired with every node method;
        EB rows use the response-based edge map when ``"auto"``).
      target: explained class, ``"true"`` (the authors' ``human_evaluate``) or ``"pred"``.
      layer, edge_layer: explanation layers.

    Returns: ``{"auc": float, method: {"node_mse", "node_mae", "edge_mse", "edge_mae", "n_labelled"}}``;
    errors are max-normalised per graph (``normalize="max_positive"``),
    averaged over all N / N² entries of each labelled graph, then over labelled
    graphs (the GNES definition).

    Example:
      >>> res = evaluate_graph_model(gnes, graph_dataset(test_graphs, 128, shuffle=False),
      ...                            methods=("grad_cam", "eb"), edge_method="auto")
      >>> res["auc"], res["grad_cam"]["node_mse"]
    """
    from keras_egl.explain.graph import EDGE_METHODS, NODE_METHODS, explain_graph
    from keras_egl.layers.graph import gcn_layers
    from keras_egl.validation import check_choice

    if isinstance(methods, str) or not isinstance(methods, (list, tuple)):
        raise TypeError(f"`methods` must be a list or tuple of node methods {NODE_METHODS}, e.g. "
                        f"({methods!r},); got {type(methods).__name__} {methods!r}.")
    for meth in methods:
        check_choice(meth, NODE_METHODS, "methods")
    check_choice(edge_method, EDGE_METHODS + ("auto",), "edge_method")
    if isinstance(target, str):
        check_choice(target, ("true", "pred"), "target")
    try:
        iter(dataset)
    except TypeError:
        raise TypeError(f"`dataset` must be an iterable of (inputs dict, y) batches; got "
                        f"{type(dataset).__name__}.") from None
    from keras_egl.metrics.graph import (edge_explanation_mae, edge_explanation_mse,
                                         node_explanation_mae, node_explanation_mse)
    from keras_egl.models.base import ExplanationGuidedModel

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
                      normalize="max_positive", reduction="none")
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
    result = {"auc": roc_auc(np.concatenate(ys), np.concatenate(scores))}
    for meth, d in acc.items():
        r = {}
        for k, v in d.items():
            v = np.concatenate(v) if v else np.zeros(0)
            v = v[np.isfinite(v)]
            r[k] = float(v.mean()) if v.size else float("nan")
            r["n_labelled"] = int(v.size)
        result[meth] = r
    return result
