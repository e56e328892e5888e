"""GCN backbone pieces for explanation supervision on graphs (GNES).

GNES (Gao et al., "GNES: Learning to Explain Graph Neural Networks", ICDM 2021;
dissertation §4.2.1) explains a GCN classifier

.. math::
    F^{(l)} = \\sigma\\big(V_l F^{(l-1)} W^{(l)}\\big),\\quad
    V_l = \\tilde D^{-1/2}(A + I)\\tilde D^{-1/2},\\quad F^{(0)} = X        (4.1)

followed by global average pooling over the nodes and a softmax classifier.
The edge explanation of layer ``l`` is ``∂y_c/∂V_l`` (eq. 4.10), so every GCN
layer here takes **its own normalised-adjacency input** ``V_l`` (the authors'
code feeds three copies ``A_batch1..3`` for the same reason); with one shared
tensor the gradient would sum over all layers.

Batches are dense and padded: node features ``(B, N, F)``, normalised
adjacencies ``(B, N, N)`` (zero rows/columns on padded nodes) and a node mask
``(B, N)`` (1 on real nodes). Padded nodes still get ``σ(b)`` from a GCN layer's
bias, so pooling must average over real nodes only: :class:`MaskedGlobalAvgPool`.

Public objects: :func:`gcn_normalize` (numpy, per graph, validated),
:class:`MaskedGlobalAvgPool` and :func:`gcn_classifier` (the backbone).
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.validation import check_positive_int

__all__ = ["gcn_normalize", "check_adjacency", "MaskedGlobalAvgPool", "gcn_classifier",
           "gcn_layers", "HIDDEN_PRESETS"]

#: hidden sizes of the three GCN layers: dissertation §4.2.4 vs the authors' config.py.
HIDDEN_PRESETS = {"dissertation": (512, 256, 128), "code": (256, 128, 64)}


def check_adjacency(a, name="adjacency", n_nodes=None, symmetric=True):
    """Validate one graph's dense adjacency and return it as a float32 array.

    Args:
      a: array-like ``(N, N)``.
      name: argument name used in error messages.
      n_nodes: expected ``N`` (the node count of the features), or ``None``.
      symmetric: require ``a == a.T`` (undirected graphs, as GCN's symmetric
        normalisation assumes).

    Raises:
      ValueError: not 2-D/square, size differing from ``n_nodes``, not symmetric,
        or non-finite entries.
    """
    try:
        a = np.asarray(a, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be a numeric (N, N) matrix; received {type(a).__name__}: {exc}") from None
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"`{name}` must be a square (N, N) matrix; received shape {a.shape}.")
    if n_nodes is not None and a.shape[0] != n_nodes:
        raise ValueError(f"`{name}` has {a.shape[0]} nodes but the node features have {n_nodes}; "
                         f"expected shape ({n_nodes}, {n_nodes}).")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"`{name}` has non-finite entries.")
    if symmetric and not np.allclose(a, a.T):
        raise ValueError(f"`{name}` must be symmetric (undirected graph); received an asymmetric "
                         f"matrix (max |A - A^T| = {np.abs(a - a.T).max():.3g}).")
    return a


def gcn_normalize(a, symmetric=True, check=True):
    """``V = D̃^{-1/2} (A + I) D̃^{-1/2}`` of one graph (Spektral's ``gcn_filter``).

    Args:
      a: raw adjacency ``(N, N)`` (binary or non-negatively weighted, no self loops needed).
      symmetric: forwarded to :func:`check_adjacency`.
      check: validate ``a`` first.

    Returns:
      float32 array ``(N, N)``. A zero-node graph gives a ``(0, 0)`` array.

    Example:
      >>> gcn_normalize(np.array([[0, 1], [1, 0]]))
      array([[0.5, 0.5], [0.5, 0.5]], dtype=float32)
    """
    from spektral.utils import gcn_filter

    a = check_adjacency(a, symmetric=symmetric) if check else np.asarray(a, np.float32)
    if check and a.size and a.min() < 0:
        raise ValueError(f"`adjacency` must hold non-negative edge weights (D^-1/2 of a negative degree is "
                         f"undefined); received min {a.min()}.")
    if a.shape[0] == 0:
        return a.astype(np.float32)
    return np.asarray(gcn_filter(a.copy()), dtype=np.float32)


@keras.saving.register_keras_serializable(package="keras_egl")
class MaskedGlobalAvgPool(keras.layers.Layer):
    """Average of node features over the real nodes of each padded graph.

    .. math::
        g_k = \\frac{\\sum_n m_n F_{n,k}}{\\sum_n m_n}

    A graph without real nodes pools to zeros (``divide_no_nan``).

    Input: ``[F, node_mask]`` with ``F`` ``(B, N, K)`` and ``node_mask`` ``(B, N)``
    (non-zero = real node). Output: ``(B, K)``.

    Example:
      >>> g = MaskedGlobalAvgPool()([features, node_mask])
    """

    def call(self, inputs):
        if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
            raise ValueError("MaskedGlobalAvgPool expects inputs [features (B, N, K), node_mask (B, N)]; "
                             f"received {type(inputs).__name__}.")
        f, m = inputs
        f, m = tf.convert_to_tensor(f), tf.convert_to_tensor(m)
        if f.shape.rank is not None and f.shape.rank != 3:
            raise ValueError(f"`features` must have shape (B, N, K); received {f.shape}.")
        if m.shape.rank is not None and (m.shape.rank != 2 or not m.shape.is_compatible_with(f.shape[:2])):
            raise ValueError(f"`node_mask` must have shape (B, N) = {f.shape[:2]} (one flag per node); "
                             f"received {m.shape}.")
        m = tf.cast(tf.not_equal(m, 0), f.dtype)[..., None]
        return tf.math.divide_no_nan(tf.reduce_sum(f * m, axis=1), tf.reduce_sum(m, axis=1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], input_shape[0][2])


_GCN_CONV = []


def gcn_conv_class():
    """keras_egl's ``GCNConv``: Spektral's layer with the mask handling both Kerases need.

    Spektral 1.3.1's ``GCNConv.call`` multiplies its output by ``mask[0]``
    whenever a mask is passed; Keras 3 passes ``mask=[None, None]`` for the
    ``[x, a]`` inputs of every call, so the stock layer fails eagerly and
    cannot be traced symbolically. This subclass maps an all-``None`` mask to
    ``None`` (the math is unchanged: ``act(V X W + b)``, optionally ×
    ``mask[0]``), and is registered as ``keras_egl>GCNConv``; files saved with
    Spektral's own ``GCNConv`` load into it (see
    :meth:`keras_egl.models.gnes.GNESModel.from_config`). Built on first use so
    that ``import keras_egl`` does not import Spektral.
    """
    if _GCN_CONV:
        return _GCN_CONV[0]
    from spektral.layers import GCNConv as SpektralGCNConv

    @keras.saving.register_keras_serializable(package="keras_egl", name="GCNConv")
    class GCNConv(SpektralGCNConv):
        def call(self, inputs, mask=None):
            if mask is not None and all(m is None for m in (mask if isinstance(mask, (list, tuple)) else [mask])):
                mask = None
            return super().call(inputs, mask=mask)

        def compute_output_shape(self, input_shape):
            return tuple(input_shape[0][:-1]) + (self.channels,)

    _GCN_CONV.append(GCNConv)
    return GCNConv


def gcn_classifier(n_features, n_classes=2, hidden="dissertation", activation="relu",
                   kernel_initializer="glorot_uniform", seed=None, name="gcn_classifier"):
    """The GNES backbone: GCN layers → masked global average pooling → logits.

    Built on Spektral ``GCNConv`` (:func:`gcn_conv_class`; ``relu(V F W + b)``; the authors' code uses the
    same ``Dense(relu)(V @ H)``). The model outputs **logits** ``(B, n_classes)``
    (compile with ``from_logits=True``); the softmax of the paper is in the loss.

    Inputs, in order: ``x`` ``(B, N, n_features)``, one normalised adjacency
    ``a_l`` ``(B, N, N)`` per GCN layer (``a_1 … a_L``), ``node_mask`` ``(B, N)``.
    Layers are named ``gcn_1 … gcn_L``, ``pool`` and ``logits``; the explainers in
    :mod:`keras_egl.explain.graph` rely on these names.

    Args:
      n_features: node feature size ``d_in`` (75 for the ConvMol-like atom set).
      n_classes: number of classes (2 for BBB+/BBB−; a softmax over 2 logits as in the paper).
      hidden: tuple of GCN widths, or a preset name: ``"dissertation"`` (512, 256,
        128; §4.2.4) or ``"code"`` (256, 128, 64; the authors' ``config.py``).
      activation: GCN activation.
      kernel_initializer: initializer name (seeded when ``seed`` is given).
      seed: int seed of the weight initialisers.
      name: model name.

    Example:
      >>> model = gcn_classifier(75, 2, hidden="code", seed=0)
      >>> logits = model([x, a, a, a, node_mask])
    """
    GCNConv = gcn_conv_class()

    if isinstance(hidden, str):
        if hidden not in HIDDEN_PRESETS:
            raise ValueError(f"`hidden` must be one of {sorted(HIDDEN_PRESETS)} or a tuple of ints; "
                             f"received {hidden!r}.")
        hidden = HIDDEN_PRESETS[hidden]
    if isinstance(hidden, (int, np.integer)) or not all(
            isinstance(h, (int, np.integer)) and not isinstance(h, bool) for h in hidden):
        raise TypeError(f"`hidden` must be a preset name or a tuple of ints; received {hidden!r}.")
    hidden = tuple(int(h) for h in hidden)
    if not hidden or min(hidden) <= 0:
        raise ValueError(f"`hidden` must be a non-empty tuple of positive ints; received {hidden!r}.")
    n_features = check_positive_int(n_features, "n_features")
    n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None; received {type(seed).__name__} {seed!r}.")

    def init(i):
        cfg = {"class_name": kernel_initializer, "config": {}}
        if seed is not None:
            cfg["config"]["seed"] = int(seed) + i
        return keras.initializers.get(cfg)

    x_in = keras.Input((None, int(n_features)), name="x")
    a_in = [keras.Input((None, None), name=f"a_{i + 1}") for i in range(len(hidden))]
    m_in = keras.Input((None,), name="node_mask")
    h = x_in
    for i, (units, a) in enumerate(zip(hidden, a_in)):
        h = GCNConv(units, activation=activation, kernel_initializer=init(i), name=f"gcn_{i + 1}")([h, a])
    g = MaskedGlobalAvgPool(name="pool")([h, m_in])
    out = keras.layers.Dense(int(n_classes), kernel_initializer=init(len(hidden)), name="logits")(g)
    return keras.Model([x_in] + a_in + [m_in], out, name=name)


def gcn_layers(model):
    """``(gcn_layers, pool, head)`` of a :func:`gcn_classifier`-style model.

    Raises ``ValueError`` when the model does not follow the naming convention.
    """
    gcns, i = [], 1
    names = {l.name: l for l in model.layers}
    while f"gcn_{i}" in names:
        gcns.append(names[f"gcn_{i}"])
        i += 1
    if not gcns or "pool" not in names or "logits" not in names:
        raise ValueError("the model must be built like `gcn_classifier` (layers `gcn_1..gcn_L`, "
                         f"`pool`, `logits`); received layers {sorted(names)}.")
    return gcns, names["pool"], names["logits"]
