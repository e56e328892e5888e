"""Node and edge explanations of GCN classifiers (GNES, Gao et al., ICDM 2021).

Dissertation §4.2.2–4.2.3 unifies node explanations as

.. math::
    M_n^{(l)} = \\Big\\lVert \\mathrm{ReLU}\\Big( g\\big(\\tfrac{\\partial y^c}{\\partial F_n^{(l)}}\\big)
                \\cdot h\\big(F_n^{(l)}\\big)\\Big)\\Big\\rVert                  (4.7)

and edge explanations as

.. math::
    E^{(l)}_{n,m} = \\Big\\lVert \\mathrm{ReLU}\\Big( g\\big(\\tfrac{\\partial y^c}{\\partial F^{(l)}}
                    \\tfrac{\\partial F^{(l)}}{\\partial V_{n,m}}\\big)\\cdot h(F_n^{(l)}, F_m^{(l)})\\Big)\\Big\\rVert   (4.10)

Implemented here, batched over padded graphs (``(B, N, ·)`` with a node mask):

* node **gradient** (GRAD): ``‖ReLU(∂y_c/∂F_n^{(l)})‖`` (L2 over features by
  default, as the authors' code; ``norm="l1"`` option);
* node **Grad-CAM** at layer ``l``: ``ReLU(Σ_k α_k F_{n,k})`` with channel
  weights ``α = mean over real nodes of ∂y_c/∂F^{(l)}`` (padding excluded);
* node **Excitation Backprop / LRP-αβ** through the GCN layers (eq. 4.8–4.9):
  relevance of the target class propagated through the dense head, the masked
  mean pooling and each GCN layer's two linear steps (``F̂ = V F`` then
  ``F̂ W``), ``M_n = mean_k R(F^{(l)})_{n,k}``. **Convention**: the standard
  LRP-αβ rule of Bach et al. (2015), ``R_i = Σ_j (α z⁺_ij/Σ_i z⁺_ij − β z⁻_ij/Σ_i z⁻_ij) R_j``
  with ``α − β = 1``; the dissertation writes "α + β = 1" with an added β term,
  which coincides with ours for EB (``α = 1, β = 0``, the default). Biases are
  not given relevance (EB's convention); ReLUs pass relevance unchanged;
  the class relevance starts at 1.
* **edge gradient** (eq. 4.10): ``ReLU(∂y_c/∂V_l)`` with a zero diagonal, times
  the raw adjacency (the authors' code: gradient of the class *logit* w.r.t. the
  normalised adjacency fed to layer ``l``);
* **edge response** (eq. 4.11): ``V_{n,m} Σ_k (ĥ(F̂_{k,m}) + ĥ(F̂_{k,n}))``, the
  LRP relevance of the aggregated features of layer ``l``.

Everything is a differentiable TF function (usable inside an outer tape for
training: the explanation loss then back-propagates through the gradients, i.e.
second order). ``normalize="max_positive"`` (the default) divides each graph's
map by its max over real entries (the evaluation convention, "(0, 1]"; a graph
whose max is ≤ 0 becomes zeros); ``None`` leaves it unnormalised (the authors'
training losses). Every option is a :func:`keras_egl.explain.masks.normalize_map`
method, with the node mask selecting the real entries.

The Grad-CAM channel-weight switch is ``cam_weights="second_order" | "detached"``
as in :mod:`keras_egl.explain.grad_cam` (``detach_weights=`` is its deprecated
former, boolean, name).

The explained class is always explicit: ``target="true"`` (needs ``y``; the
training choice of the code), ``"pred"`` (evaluation), an int or an int vector.

Models must be built like :func:`keras_egl.layers.graph.gcn_classifier`
(inputs ``[x, a_1..a_L, node_mask]``, layers ``gcn_1..gcn_L``, ``pool``, ``logits``).
"""

import numpy as np

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import tf
from keras_egl.explain.grad_cam import CAM_WEIGHTS
from keras_egl.explain.masks import NORMALIZE_METHODS, normalize_map
from keras_egl.explain.targets import select_target
from keras_egl.layers.graph import gcn_layers
from keras_egl.validation import check_bool, check_choice, check_float

__all__ = [
    "gcn_forward", "normalize_graph_map", "node_gradient_map", "node_grad_cam_map",
    "edge_gradient_map", "lrp_dense", "lrp_aggregate", "excitation_backprop",
    "explain_graph", "NODE_METHODS", "EDGE_METHODS",
]

NODE_METHODS = ("gradient", "grad_cam", "eb", "lrp")
EDGE_METHODS = ("gradient", "response")


def _f32(t):
    """``t`` as a float32 tensor: maps are computed in float32, also under a
    ``mixed_float16``/``mixed_bfloat16`` policy (activations and their gradients
    then arrive in half precision; the losses and normalisations need float32)."""
    if isinstance(t, tf.Tensor):
        return tf.cast(t, tf.float32)
    return tf.convert_to_tensor(t, tf.float32)


def _as_map(t, name, ranks=None):
    """``t`` as float32 (like :func:`_f32`), with a dtype/rank error naming ``name``."""
    if t is None:
        raise ValueError(f"`{name}` is required; got None.")
    if not tf.is_tensor(t):
        arr = np.asarray(t)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"`{name}` must be a real tensor; got {type(t).__name__} of dtype {arr.dtype}.")
        t = arr
    elif not (t.dtype.is_floating or t.dtype.is_integer or t.dtype == tf.bool):
        raise TypeError(f"`{name}` must be a real tensor; got dtype {t.dtype.name}.")
    t = _f32(t)
    if ranks is not None and t.shape.rank not in ranks:
        want = " or ".join({2: "(B, N)", 3: "(B, N, K)" if name in ("grads", "acts") else "(B, N, N)"}[r]
                           for r in ranks)
        raise ValueError(f"`{name}` must have shape {want}; received {tuple(t.shape)}.")
    return t


def _check_node_mask(node_mask, like, name="node_mask"):
    """``node_mask`` must be ``(B, N)`` with ``like``'s first two axes (nothing is broadcast)."""
    if node_mask is None:
        return
    shape = node_mask.shape if tf.is_tensor(node_mask) else tf.TensorShape(np.shape(node_mask))
    if shape.rank != 2 or not shape.is_compatible_with(like.shape[:2]):
        raise ValueError(f"`{name}` must have shape (B, N) = {tuple(like.shape[:2])} (one flag per node); "
                         f"received {tuple(shape)}.")


def _is_true(target):
    return isinstance(target, str) and target == "true"


def _node_keep(node_mask, like):
    if node_mask is None:
        return tf.ones(tf.shape(like)[:2], like.dtype)
    return tf.cast(tf.not_equal(node_mask, 0), like.dtype)


def _split_inputs(model, inputs):
    gcns, _, _ = gcn_layers(model)
    if not isinstance(inputs, (list, tuple)) or len(inputs) != len(gcns) + 2:
        raise ValueError(f"`inputs` must be the list [x, a_1..a_{len(gcns)}, node_mask] "
                         f"({len(gcns) + 2} tensors); received "
                         f"{len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__}.")
    x = tf.convert_to_tensor(inputs[0], tf.float32)
    adjs = [tf.convert_to_tensor(a, tf.float32) for a in inputs[1:-1]]
    mask = tf.convert_to_tensor(inputs[-1], tf.float32)
    if x.shape.rank != 3:
        raise ValueError(f"`x` must have shape (B, N, F); received {tuple(x.shape)}.")
    for i, a in enumerate(adjs):
        if a.shape.rank != 3 or (a.shape[1] is not None and a.shape[1] != a.shape[2]):
            raise ValueError(f"`a_{i + 1}` must have shape (B, N, N); received {tuple(a.shape)}.")
        if x.shape[1] is not None and a.shape[1] is not None and a.shape[1] != x.shape[1]:
            raise ValueError(f"`a_{i + 1}` has {a.shape[1]} nodes but `x` has {x.shape[1]}.")
    if mask.shape.rank != 2:
        raise ValueError(f"`node_mask` must have shape (B, N); received {tuple(mask.shape)}.")
    return x, adjs, mask


def gcn_forward(model, inputs, training=False):
    """Run a ``gcn_classifier`` layer by layer.

    Returns ``(logits, feats)`` with ``feats = [F^(0)=x, F^(1), …, F^(L)]``; all
    are tensors of the current tape, so gradients w.r.t. any of them (or any
    ``a_l``) can be taken. The logits equal ``model(inputs)``.
    """
    gcns, pool, head = gcn_layers(model)
    x, adjs, mask = _split_inputs(model, inputs)
    feats = [x]
    h = x
    for layer, a in zip(gcns, adjs):
        h = layer([h, a], training=training)
        feats.append(h)
    logits = head(pool([h, mask]), training=training)
    return logits, feats


def normalize_graph_map(m, node_mask=None, method="max_positive"):
    """Per-graph :func:`~keras_egl.explain.masks.normalize_map` over the real entries.

    A thin wrapper: the node mask (pairs of real nodes for an edge map) is the
    ``mask`` of :func:`normalize_map`, so padding never sets the scale and is
    zero in the result.

    Args:
      m: node map ``(B, N)`` or edge map ``(B, N, N)``.
      node_mask: ``(B, N)`` real-node mask or ``None``.
      method: a :func:`normalize_map` method; default ``"max_positive"``
        (divide by the max → (0, 1], the GNES evaluation; a graph whose max is
        ≤ 0 becomes zeros).

    Returns: ``m`` normalised (float32), zero on padded entries.
    """
    check_choice(method, NORMALIZE_METHODS, "method")
    m = _as_map(m, "m")
    if m.shape.rank not in (2, 3):
        raise ValueError(f"`m` must have shape (B, N) or (B, N, N); received {tuple(m.shape)}.")
    _check_node_mask(node_mask, m)
    keep = _node_keep(node_mask, m if m.shape.rank == 2 else m[:, :, 0])
    if m.shape.rank == 3:
        keep = keep[:, :, None] * keep[:, None, :]
    return normalize_map(m, method, axis=tuple(range(1, m.shape.rank)), mask=keep)


def node_gradient_map(grads, node_mask=None, norm="l2"):
    """GRAD node map ``‖ReLU(∂y_c/∂F_n)‖`` from gradients ``(B, N, K)`` → ``(B, N)``."""
    if norm not in ("l1", "l2"):
        raise ValueError(f"`norm` must be 'l1' or 'l2'; received {norm!r}.")
    grads = _as_map(grads, "grads", (3,))
    _check_node_mask(node_mask, grads)
    r = tf.nn.relu(grads)
    if norm == "l1":
        m = tf.reduce_sum(r, -1)
    else:
        # sqrt has an infinite derivative at 0: add a tiny epsilon so double backprop stays finite.
        m = tf.sqrt(tf.reduce_sum(tf.square(r), -1) + 1e-12) - 1e-6
    return tf.nn.relu(m) * _node_keep(node_mask, grads)


@renamed_argument("detach_weights", "cam_weights",
                  convert=lambda detach: "detached" if detach else "second_order")
def node_grad_cam_map(acts, grads, node_mask=None, relu=True, cam_weights="second_order"):
    """Graph Grad-CAM ``ReLU(Σ_k α_k F_{n,k})``, ``α_k = mean_{real n} ∂y_c/∂F_{n,k}``.

    Args:
      acts: ``F^{(l)}`` ``(B, N, K)``; grads: ``∂y_c/∂F^{(l)}`` ``(B, N, K)``.
      node_mask: ``(B, N)``; the channel weights average over real nodes only
        (padded nodes would otherwise dilute α by ``n/N``).
      relu: apply the ReLU (both the dissertation and the code do).
      cam_weights: ``"second_order"`` (default: α stays differentiable, as the
        authors' TF1 graph differentiates through ``K.gradients``) or
        ``"detached"`` (stop the gradient through α) or ``"elementwise"``
        (HiResCAM, see :mod:`keras_egl.explain.grad_cam`). ``detach_weights=True/False``
        is the deprecated former name (``True`` = ``"detached"``).

    Returns: ``(B, N)``, zero on padded nodes.
    """
    check_choice(cam_weights, CAM_WEIGHTS, "cam_weights")
    relu = check_bool(relu, "relu")
    acts, grads = _as_map(acts, "acts", (3,)), _as_map(grads, "grads", (3,))
    if not grads.shape.is_compatible_with(acts.shape):
        raise ValueError(f"`grads` shape {tuple(grads.shape)} must equal `acts` shape {tuple(acts.shape)}.")
    _check_node_mask(node_mask, acts)
    keep = _node_keep(node_mask, acts)
    if cam_weights == "elementwise":  # HiResCAM: each node's own gradient, held constant
        m = tf.reduce_sum(acts * tf.stop_gradient(grads), -1)
    else:
        alpha = tf.math.divide_no_nan(tf.reduce_sum(grads * keep[..., None], 1),
                                      tf.reduce_sum(keep, 1, keepdims=True))
        if cam_weights == "detached":
            alpha = tf.stop_gradient(alpha)
        m = tf.reduce_sum(acts * alpha[:, None, :], -1)
    if relu:
        m = tf.nn.relu(m)
    return m * keep


def edge_gradient_map(grad_v, adjacency=None, node_mask=None, relu=True):
    """Edge GRAD map (eq. 4.10): ``ReLU(∂y_c/∂V_l)``, zero diagonal, ``⊙ A``.

    Args:
      grad_v: ``∂y_c/∂V_l`` ``(B, N, N)``.
      adjacency: raw adjacency ``(B, N, N)``; ``None`` multiplies by nothing.
      node_mask: ``(B, N)``; padded rows/columns are zeroed.
      relu: apply the ReLU.
    """
    relu = check_bool(relu, "relu")
    grad_v = _as_map(grad_v, "grad_v", (3,))
    if not grad_v.shape[1:2].is_compatible_with(grad_v.shape[2:3]):
        raise ValueError(f"`grad_v` must be square (B, N, N); received {tuple(grad_v.shape)}.")
    if adjacency is not None:
        a_shape = adjacency.shape if tf.is_tensor(adjacency) else tf.TensorShape(np.shape(adjacency))
        if not a_shape.is_compatible_with(grad_v.shape):
            raise ValueError(f"`adjacency` must have the shape of `grad_v` {tuple(grad_v.shape)} (one raw "
                             f"adjacency per graph; nothing is broadcast); received {tuple(a_shape)}.")
    _check_node_mask(node_mask, grad_v)
    e = tf.nn.relu(grad_v) if relu else grad_v
    e = tf.linalg.set_diag(e, tf.zeros_like(tf.linalg.diag_part(e)))
    if adjacency is not None:
        e = e * tf.cast(adjacency, e.dtype)
    if node_mask is not None:
        k = _node_keep(node_mask, e[:, :, 0])
        e = e * k[:, :, None] * k[:, None, :]
    return e


def _pos_neg(t):
    return tf.nn.relu(t), -tf.nn.relu(-t)


def lrp_dense(a, w, r, alpha=1.0, beta=0.0):
    """LRP-αβ through ``z = a @ w`` (bias ignored).

    Args: ``a`` ``(..., K)``, ``w`` ``(K, K')``, ``r`` relevance of ``z`` ``(..., K')``.
    Returns: relevance of ``a`` ``(..., K)``.
    """
    ap, an = _pos_neg(a)
    wp, wn = _pos_neg(w)
    zp = tf.matmul(ap, wp) + tf.matmul(an, wn)
    zn = tf.matmul(ap, wn) + tf.matmul(an, wp)
    sp = tf.math.divide_no_nan(r, zp)
    out = alpha * (ap * tf.matmul(sp, wp, transpose_b=True) + an * tf.matmul(sp, wn, transpose_b=True))
    if beta:
        sn = tf.math.divide_no_nan(r, zn)
        out -= beta * (ap * tf.matmul(sn, wn, transpose_b=True) + an * tf.matmul(sn, wp, transpose_b=True))
    return out


def lrp_aggregate(v, f, r, alpha=1.0, beta=0.0):
    """LRP-αβ through the neighbourhood aggregation ``F̂ = V F`` (eq. 4.9, first line).

    Args: ``v`` ``(B, M, N)``, ``f`` ``(B, N, K)``, ``r`` relevance of ``F̂`` ``(B, M, K)``.
    Returns: relevance of ``f`` ``(B, N, K)`` (channels are not mixed).
    """
    vp, vn = _pos_neg(v)
    fp, fn = _pos_neg(f)
    zp = tf.matmul(vp, fp) + tf.matmul(vn, fn)
    zn = tf.matmul(vp, fn) + tf.matmul(vn, fp)
    sp = tf.math.divide_no_nan(r, zp)
    out = alpha * (fp * tf.matmul(vp, sp, transpose_a=True) + fn * tf.matmul(vn, sp, transpose_a=True))
    if beta:
        sn = tf.math.divide_no_nan(r, zn)
        out -= beta * (fn * tf.matmul(vp, sn, transpose_a=True) + fp * tf.matmul(vn, sn, transpose_a=True))
    return out


def _check_alpha_beta(alpha, beta):
    alpha, beta = check_float(alpha, "alpha"), check_float(beta, "beta")
    if beta < 0 or abs(alpha - beta - 1.0) > 1e-6:
        raise ValueError(f"LRP-αβ needs β >= 0 and α − β = 1; received alpha={alpha}, beta={beta}.")
    return alpha, beta


def _relevances(model, feats, adjs, mask, class_w, alpha, beta):
    """Backward relevance pass: ``(R(F^(l)) for l=0..L, R(F̂_l) for l=1..L)``."""
    gcns, _, head = gcn_layers(model)
    feats = [_f32(f) for f in feats]
    class_w = _f32(class_w)
    f_last = feats[-1]
    keep = _node_keep(mask, f_last)
    g = tf.math.divide_no_nan(tf.reduce_sum(f_last * keep[..., None], 1), tf.reduce_sum(keep, 1, keepdims=True))
    r = lrp_dense(g, tf.cast(head.kernel, tf.float32), class_w, alpha, beta)                       # (B, K_L)
    pool_v = tf.math.divide_no_nan(keep, tf.reduce_sum(keep, 1, keepdims=True))[:, None, :]
    r = lrp_aggregate(pool_v, f_last, r[:, None, :], alpha, beta)            # (B, N, K_L)
    r_feats = [None] * len(feats)
    r_agg = [None] * len(feats)
    r_feats[-1] = r
    for l in range(len(gcns), 0, -1):
        f_prev, v = feats[l - 1], adjs[l - 1]
        f_hat = tf.matmul(v, f_prev)
        r_hat = lrp_dense(f_hat, tf.cast(gcns[l - 1].kernel, tf.float32), r_feats[l], alpha, beta)
        r_agg[l] = r_hat
        r_feats[l - 1] = lrp_aggregate(v, f_prev, r_hat, alpha, beta)
    return r_feats, r_agg


def _layer_index(layer, n_layers, name, allow_zero=True):
    lo = 0 if allow_zero else 1
    if not isinstance(layer, int) or isinstance(layer, bool):
        raise TypeError(f"`{name}` must be an int; received {type(layer).__name__}.")
    idx = n_layers + 1 + layer if layer < 0 else layer
    if not lo <= idx <= n_layers:
        raise ValueError(f"`{name}` must be in [{lo}, {n_layers}] or negative from the end; received {layer}.")
    return idx


def excitation_backprop(model, inputs, target, y=None, layer=-1, alpha=1.0, beta=0.0,
                        normalize="max_positive", training=False):
    """EB / LRP-αβ node map of a ``gcn_classifier`` at layer ``layer``.

    ``layer=0`` is the input features, ``l`` the output of GCN layer ``l``
    (``-1`` = last). Returns ``(B, N)``. See the module docstring for the
    convention. Differentiable.
    """
    # EB is LRP with (alpha, beta) = (1, 0): an alpha with beta = 0 is not silently replaced by 1.
    _check_alpha_beta(alpha, beta)
    return explain_graph(model, inputs, target=target, y=y, node_method="eb" if not beta else "lrp",
                         edge_method=None, layer=layer, alpha=alpha, beta=beta,
                         normalize=normalize, training=training)["node"]


def explain_graph(model, inputs, target, y=None, node_method="grad_cam", edge_method="gradient",
                  layer=-1, edge_layer=-1, adjacency=None, normalize="max_positive", alpha=1.0, beta=0.0,
                  grad_norm="l2", training=False):
    """Node and edge explanations of a batch of padded graphs (one forward pass).

    Args:
      model: a :func:`~keras_egl.layers.graph.gcn_classifier`-style model.
      inputs: ``[x (B,N,F), a_1..a_L (B,N,N), node_mask (B,N)]``.
      target: explained class, explicit: ``"true"`` (needs ``y``), ``"pred"``,
        an int, an int vector ``(B,)`` or one-hot ``(B, C)``.
      y: labels for ``target="true"``.
      node_method: ``"grad_cam"``, ``"gradient"``, ``"eb"`` (α=1, β=0) or
        ``"lrp"`` (α, β given), or ``None``.
      edge_method: ``"gradient"`` (eq. 4.10), ``"response"`` (eq. 4.11) or ``None``.
      layer: node explanation layer (0 = input features, ``l`` = output of GCN
        layer ``l``, ``-1`` = last; the paper uses the last).
      edge_layer: which ``V_l`` the edge explanation is taken at (1..L, ``-1`` = last).
      adjacency: raw adjacency ``(B, N, N)`` the edge map is multiplied by; when
        ``None`` the binary off-diagonal pattern of ``V_l`` is used.
      normalize: a :func:`~keras_egl.explain.masks.normalize_map` method over the
        real entries: ``"max_positive"`` (default, the evaluation's "(0, 1]"),
        ``"minmax"``, … or ``None`` (the unnormalised maps of the training losses).
      alpha, beta: LRP-αβ parameters (``α − β = 1``).
      grad_norm: ``"l2"`` or ``"l1"`` for the GRAD node map.
      training: forwarded to the layers.

    Returns: dict with ``"logits"`` ``(B, C)``, ``"node"`` ``(B, N)`` and ``"edge"`` ``(B, N, N)``
    (``None`` when the method is ``None``).

    Example:
      >>> out = explain_graph(model, [x, a, a, a, mask], target="pred")
      >>> out["node"].shape, out["edge"].shape
    """
    if node_method not in NODE_METHODS + (None,):
        raise ValueError(f"`node_method` must be one of {NODE_METHODS} or None; received {node_method!r}.")
    if edge_method not in EDGE_METHODS + (None,):
        raise ValueError(f"`edge_method` must be one of {EDGE_METHODS} or None; received {edge_method!r}.")
    if grad_norm not in ("l1", "l2"):
        raise ValueError(f"`grad_norm` must be 'l1' or 'l2'; received {grad_norm!r}.")
    check_choice(normalize, NORMALIZE_METHODS, "normalize")
    if node_method == "eb":
        alpha, beta = 1.0, 0.0
    alpha, beta = _check_alpha_beta(alpha, beta)
    gcns, _, _ = gcn_layers(model)
    n_layers = len(gcns)
    l_node = _layer_index(layer, n_layers, "layer")
    l_edge = _layer_index(edge_layer, n_layers, "edge_layer", allow_zero=False)
    if node_method == "grad_cam" and l_node == 0:
        raise ValueError("Grad-CAM needs a GCN layer (`layer` >= 1); received layer=0.")
    x, adjs, mask = _split_inputs(model, inputs)
    if adjacency is not None:
        adjacency = _as_map(adjacency, "adjacency", (3,))
        if not adjacency.shape.is_compatible_with(adjs[l_edge - 1].shape):
            raise ValueError(f"`adjacency` must have shape (B, N, N) = {tuple(adjs[l_edge - 1].shape)} (one raw "
                             f"adjacency per graph; nothing is broadcast); received {tuple(adjacency.shape)}.")
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        for a in adjs:
            tape.watch(a)
        logits, feats = gcn_forward(model, [x] + adjs + [mask], training=training)
        logits = _f32(logits)  # scores in float32 under mixed precision
        score = tf.reduce_sum(select_target(logits, target, y=y if _is_true(target) else None,
                                            from_logits=True, quantity="logit"))
    need_rel = node_method in ("eb", "lrp") or edge_method == "response"
    if need_rel:
        from keras_egl.explain.targets import class_weights
        cw = class_weights(logits, target, y=y if _is_true(target) else None, from_logits=True)
        r_feats, r_agg = _relevances(model, feats, adjs, mask, cw, alpha, beta)
    node = edge = None
    if node_method == "grad_cam":
        node = node_grad_cam_map(feats[l_node], tape.gradient(score, feats[l_node]), mask)
    elif node_method == "gradient":
        node = node_gradient_map(tape.gradient(score, feats[l_node]), mask, norm=grad_norm)
    elif node_method in ("eb", "lrp"):
        node = tf.nn.relu(tf.reduce_mean(r_feats[l_node], -1)) * _node_keep(mask, x)
    v = adjs[l_edge - 1]
    if adjacency is None:
        adjacency = tf.cast(v > 0, tf.float32)
        adjacency = tf.linalg.set_diag(adjacency, tf.zeros_like(tf.linalg.diag_part(adjacency)))
    if edge_method == "gradient":
        edge = edge_gradient_map(tape.gradient(score, v), adjacency, mask)
    elif edge_method == "response":
        rn = tf.reduce_sum(r_agg[l_edge], -1)                                   # (B, N)
        e = tf.nn.relu(v * (rn[:, :, None] + rn[:, None, :]))
        edge = edge_gradient_map(e, adjacency, mask, relu=False)
    del tape
    if normalize is not None:
        node = None if node is None else normalize_graph_map(node, mask, normalize)
        edge = None if edge is None else normalize_graph_map(edge, mask, normalize)
    return {"logits": logits, "node": node, "edge": edge}
