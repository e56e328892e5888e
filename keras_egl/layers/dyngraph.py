"""Dynamic-graph encoder layers of DynGraph2Seq.

Gao, Wu, Homayoun & Zhao, "DynGraph2Seq: Dynamic-Graph-to-Sequence
Interpretable Learning for Health Stage Prediction in Online Health Forums",
ICDM 2019; Gao, PhD thesis (Emory 2023), ch. 3, eqs. 3.1-3.6 and 3.14-3.16.

* :class:`DynamicBiGCN` - a bi-directional mean-aggregation GCN applied to
  every snapshot of a dynamic graph with *separate weights per time step*
  (eqs. 3.1-3.6), both concatenation schemes (per hop, as in the thesis; or the
  forward/backward streams kept apart and joined at the end, as in the authors'
  TKDE follow-up code) and an optional self term.
* :class:`MaxPoolGraphReadout` - FC layer then element-wise max over nodes.
* :class:`NodeToGraphAttention` - feed-forward node-to-graph attention
  (eqs. 3.14-3.16) that returns the graph embedding and the node weights.
* :func:`active_node_mask` - nodes with at least one in- or out-edge.
* :func:`per_slice_initializer` - Glorot/He fans of one ``[D, H]`` slice for the
  stacked ``[T, D, S, H]`` kernels (Keras would read them as conv kernels and
  start them ~sqrt(S*T) to sqrt(T*D) times too small; fixed 2026-12-01).
* :func:`per_step_weight_memory` - parameter/optimizer memory of the T weight
  sets (the thesis' T = 96 case is documented in ``docs/FIDELITY.md``).

Conventions: a dynamic graph is a dense, padded tensor pair
``features [B, T, N, D]`` and ``adjacency [B, T, N, N]`` where
``adjacency[b, t, u, v]`` is the (cumulative) number of transitions u -> v up
to month t. Forward neighbours of v are its out-neighbours {u: A[v, u] > 0},
backward neighbours its in-neighbours {u: A[u, v] > 0} (as in the follow-up
code, ``fw_adj[src] = [dst]``).
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.layers.masking import ConsumesMask
from keras_egl.validation import check_bool, check_choice, check_positive_int

_CONCATS = ("per_hop", "final")
_EDGE_WEIGHTS = ("count", "binary")


def _fresh(initializer):
    # A new instance per weight: one unseeded instance reused gives identical draws.
    return keras.initializers.deserialize(keras.initializers.serialize(initializer))


def _offset_seed(initializer, offset):
    """The same initializer with its seed moved by ``offset`` (unseeded: unchanged).

    A seeded initializer draws the same numbers at every call, so the hops'
    kernels would start correlated; each hop gets its own seed instead.
    """
    seed = getattr(initializer, "seed", None)
    if seed is None or not offset:
        return initializer
    config = initializer.get_config()
    config["seed"] = int(seed) + int(offset)
    return type(initializer).from_config(config)


def per_slice_initializer(initializer, shape):
    """Fan-correct initializer for a stacked ``[T, I, S, H]`` kernel.

    Keras' variance-scaling initializers (Glorot, He, LeCun) read a rank-4
    shape as a convolution kernel: fan_in = S * T * I and fan_out = H * T * I.
    Each ``[I, H]`` slice of this kernel is one dense map, whose fans are I and
    H; without the correction the T = 24 kernels started ~18x too small (std
    0.0098 instead of Glorot's 0.18) and two hops scaled the GCN signal by
    ~1/300. Variance-scaling initializers get their ``scale`` multiplied by the
    ratio of the two fans; every other initializer is returned unchanged.
    """
    init = _fresh(keras.initializers.get(initializer))
    if not isinstance(init, keras.initializers.VarianceScaling) or len(shape) != 4:
        return init
    t_w, in_dim, streams, units = (int(d) for d in shape)
    conv_in, conv_out = streams * t_w * in_dim, units * t_w * in_dim
    if init.mode == "fan_in":
        ratio = conv_in / in_dim
    elif init.mode == "fan_out":
        ratio = conv_out / units
    else:
        ratio = (conv_in + conv_out) / (in_dim + units)
    return keras.initializers.VarianceScaling(scale=init.scale * ratio, mode=init.mode,
                                              distribution=init.distribution, seed=init.seed)


def active_node_mask(adjacency):
    """Boolean mask of nodes with at least one incident edge.

    Args:
        adjacency: ``[..., N, N]`` non-negative edge weights.

    Returns:
        ``[..., N]`` bool: ``True`` where the node has an in- or out-edge.
    """
    adjacency = tf.convert_to_tensor(adjacency)
    deg = tf.reduce_sum(tf.abs(adjacency), axis=-1) + tf.reduce_sum(tf.abs(adjacency), axis=-2)
    return deg > 0


def mean_aggregation_operators(adjacency, edge_weights="count"):
    """Row-normalised forward (out-neighbour) and backward (in-neighbour) operators.

    ``P_fw[v, u] = A[v, u] / sum_u A[v, u]`` and ``P_bw[v, u] = A[u, v] / sum_u A[u, v]``;
    a node without neighbours in a direction gets a zero row (NaN-safe), so its
    aggregated message is the zero vector.

    Args:
        adjacency: ``[..., N, N]`` tensor.
        edge_weights: ``"count"`` weights each neighbour by its transition count
            (the mean over the multiset of transitions) or ``"binary"``, the plain
            mean over the neighbour *set* as written in eqs. 3.1-3.2.

    Returns:
        ``(P_fw, P_bw)``, each ``[..., N, N]``.
    """
    check_choice(edge_weights, _EDGE_WEIGHTS, "edge_weights")
    a = tf.convert_to_tensor(adjacency)
    if not (a.dtype.is_floating or a.dtype.is_integer):
        raise TypeError(f"`adjacency` must be a real tensor of edge weights; got dtype {a.dtype.name}.")
    if a.shape.rank is not None and (a.shape.rank < 2 or not a.shape[-1:].is_compatible_with(a.shape[-2:-1])):
        raise ValueError(f"`adjacency` must be [..., N, N] (square snapshots); got shape {a.shape}.")
    if tf.executing_eagerly() and a.shape.num_elements():
        v = a.numpy()
        if (a.dtype.is_floating and not np.all(np.isfinite(v))) or v.min() < 0:
            raise ValueError(f"`adjacency` must hold finite, non-negative edge weights (transition counts); "
                             f"got values in [{v.min()}, {v.max()}].")
    if edge_weights == "binary":
        a = tf.cast(a > 0, a.dtype)
    a_t = tf.linalg.matrix_transpose(a)
    p_fw = tf.math.divide_no_nan(a, tf.reduce_sum(a, axis=-1, keepdims=True))
    p_bw = tf.math.divide_no_nan(a_t, tf.reduce_sum(a_t, axis=-1, keepdims=True))
    return p_fw, p_bw


def per_step_weight_memory(time_steps, num_features, units, hops=4, concat="per_hop",
                           include_self=False, bytes_per_value=4, optimizer_slots=2):
    """Memory of the per-time-step GCN weights of :class:`DynamicBiGCN`.

    Args:
        time_steps: T, the number of weight sets.
        num_features: D, input feature size.
        units: H, units per stream.
        hops: K.
        concat: ``"per_hop"`` or ``"final"``.
        include_self: whether self streams exist.
        bytes_per_value: 4 for float32.
        optimizer_slots: extra copies kept by the optimizer (Adam: 2).

    Returns:
        dict with ``params`` (count), ``weights_bytes`` and ``train_bytes``
        (weights + gradients + optimizer slots).
    """
    check_choice(concat, _CONCATS, "concat")
    streams = 4 if include_self else 2
    out_dir = units * (2 if include_self else 1)
    params = 0
    for k in range(hops):
        if k == 0:
            in_dim = num_features
        else:
            in_dim = 2 * out_dir if concat == "per_hop" else out_dir
        params += time_steps * (in_dim * streams * units + streams * units)
    w = params * bytes_per_value
    return {"params": int(params), "weights_bytes": int(w),
            "train_bytes": int(w * (2 + optimizer_slots))}


@keras.saving.register_keras_serializable(package="keras_egl")
class DynamicBiGCN(keras.layers.Layer):
    r"""Bi-directional mean-aggregation GCN with separate weights per snapshot.

    Thesis form (eqs. 3.1-3.6, ``concat="per_hop"``, ``include_self=False``)::

        h_fw(k)[t, v] = mean_{u in N_fw(v)} sigma(W_fw(k)_t h(k-1)[t, u] + b_fw(k)_t)
        h_bw(k)[t, v] = mean_{u in N_bw(v)} sigma(W_bw(k)_t h(k-1)[t, u] + b_bw(k)_t)
        h(k)[t, v]    = concat[h_fw(k)[t, v], h_bw(k)[t, v]],   h(0) = F

    ``concat="final"`` follows the TKDE follow-up code: the forward stream reads
    only the previous forward output and the backward stream only the backward
    one; the two are concatenated after the last hop. ``include_self=True`` adds
    the code's GraphSAGE self term: each direction becomes
    ``concat[sigma(W_self h[t, v] + b), mean_u sigma(W h[t, u] + b)]``
    (activation before the mean, as in the thesis, for both parts).

    Weights: hop k holds one kernel ``[T_w, in_dim, S, H]`` with S = 2 streams
    (fw, bw) or 4 (fw, bw, fw_self, bw_self) and T_w = T
    (``per_step_weights=True``) or 1 (shared over time). The first-hop kernel
    ``[T, D, S, H]`` is what the sliding-window group lasso (eq. 3.13) acts on:
    pass it as ``first_layer_regularizer``.

    Input: ``[features, adjacency]`` with ``features [B, T, N, D]`` (or
    ``[T, N, D]`` shared by every graph of the batch - forum-level subforum
    features; the first hop is then computed once per batch, not per user) and
    ``adjacency [B, T, N, N]`` (T may be 1 for a static graph).
    Output: node embeddings ``[B, T, N, 2 * H * (2 if include_self else 1)]``.

    Args:
        units: H, units per stream and hop.
        hops: K, number of hops (thesis default 4).
        time_steps: T; required when ``per_step_weights`` (weights are created
            per step); checked against the input.
        per_step_weights: separate weights per time step (thesis) or shared.
        concat: ``"per_hop"`` (thesis, default) or ``"final"`` (follow-up code).
        include_self: add the self term of the follow-up code (default False,
            as in the thesis equations).
        edge_weights: ``"count"`` (default; mean over the multiset of
            transitions, the generator's count-weighted edges) or ``"binary"``
            (mean over the neighbour set).
        activation: sigma, default ReLU.
        kernel_initializer, bias_initializer: Keras initializers.
        first_layer_regularizer: regularizer on the first-hop kernel
            ``[T, D, S, H]`` (e.g. :class:`SlidingWindowGroupLasso`).
        kernel_regularizer: regularizer on every hop's kernel (e.g. the
            follow-up code's L2).
        tied_init: with per-step weights, start every time step from the same
            initial draw (the T weight sets still train independently). With
            independent draws (default, ``False``) an unchanged cumulative
            snapshot is embedded differently in every month at initialisation,
            so the encoder LSTM first has to undo T random projections before
            it can see what changed; the thesis does not specify the
            initialisation. Kernels are initialised with per-slice fans
            (:func:`per_slice_initializer`) either way.

    Example:
        >>> gcn = DynamicBiGCN(units=8, hops=2, time_steps=5)
        >>> h = gcn([tf.ones([2, 5, 4, 3]), tf.ones([2, 5, 4, 4])])
        >>> h.shape
        TensorShape([2, 5, 4, 16])
    """

    def __init__(self, units, hops=4, time_steps=None, per_step_weights=True, concat="per_hop",
                 include_self=False, edge_weights="count", activation="relu",
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 first_layer_regularizer=None, kernel_regularizer=None, tied_init=False, **kwargs):
        super().__init__(**kwargs)
        units = check_positive_int(units, "units")
        hops = check_positive_int(hops, "hops")
        check_choice(concat, _CONCATS, "concat")
        check_choice(edge_weights, _EDGE_WEIGHTS, "edge_weights")
        per_step_weights = check_bool(per_step_weights, "per_step_weights")
        include_self = check_bool(include_self, "include_self")
        tied_init = check_bool(tied_init, "tied_init")
        if per_step_weights and time_steps is None:
            raise ValueError("`time_steps` is required when `per_step_weights=True`; received None.")
        if time_steps is not None:
            time_steps = check_positive_int(time_steps, "time_steps")
        self.units = units
        self.hops = hops
        self.time_steps = time_steps
        self.per_step_weights = bool(per_step_weights)
        self.concat = concat
        self.include_self = bool(include_self)
        self.edge_weights = edge_weights
        self.tied_init = bool(tied_init)
        self.activation = keras.activations.get(activation)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.first_layer_regularizer = keras.regularizers.get(first_layer_regularizer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.streams = 4 if self.include_self else 2

    @property
    def stream_units(self):
        """Output size of one direction (H, or 2H with the self term)."""
        return self.units * (2 if self.include_self else 1)

    def build(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 2:
            raise ValueError("DynamicBiGCN expects inputs [features, adjacency]; "
                             f"received input shape {input_shape}.")
        f_shape, a_shape = [tf.TensorShape(s) for s in input_shape]
        if f_shape.rank not in (3, 4) or a_shape.rank != 4:
            raise ValueError("`features` must be [B, T, N, D] (or [T, N, D] shared by the batch) "
                             f"and `adjacency` [B, T, N, N]; received {f_shape} and {a_shape}.")
        t = f_shape[-3]
        if self.per_step_weights and t is not None and t != self.time_steps:
            raise ValueError(f"`features` has {t} time steps but the layer was built for "
                             f"time_steps={self.time_steps}.")
        d = f_shape[-1]
        if d is None:
            raise ValueError("The feature size (last axis of `features`) must be known.")
        t_w = self.time_steps if self.per_step_weights else 1
        self.kernels, self.biases = [], []
        for k in range(self.hops):
            if k == 0:
                in_dim = int(d)
            else:
                in_dim = 2 * self.stream_units if self.concat == "per_hop" else self.stream_units
            reg = self.first_layer_regularizer if k == 0 else None
            kernel = self.add_weight(
                name=f"kernel_{k}", shape=(t_w, in_dim, self.streams, self.units),
                initializer=self._kernel_init(t_w, in_dim, k), regularizer=reg, trainable=True)
            if self.kernel_regularizer is not None:
                # Keep the L2 term separate from the group lasso on the first hop.
                self.add_loss(lambda kern=kernel: self.kernel_regularizer(kern))
            bias = self.add_weight(name=f"bias_{k}", shape=(t_w, self.streams, self.units),
                                   initializer=_fresh(self.bias_initializer), trainable=True)
            self.kernels.append(kernel)
            self.biases.append(bias)
        super().build(input_shape)

    def _kernel_init(self, t_w, in_dim, hop=0):
        init = per_slice_initializer(self.kernel_initializer,
                                     (1 if self.tied_init else t_w, in_dim, self.streams, self.units))
        init = _offset_seed(init, hop)
        if not self.tied_init or t_w == 1:
            return init

        def tiled(shape, dtype=None, **kwargs):
            one = init((1,) + tuple(shape[1:]), dtype=dtype)
            return tf.tile(one, [shape[0], 1, 1, 1])

        return tiled

    @property
    def first_layer_kernel(self):
        """The first-hop kernel ``[T, D, S, H]`` (streams fw, bw[, fw_self, bw_self])."""
        return self.kernels[0]

    def _transform(self, x, k, streams=None):
        kern, bias = self.kernels[k], self.biases[k]
        if streams is not None:
            kern = tf.gather(kern, streams, axis=2)
            bias = tf.gather(bias, streams, axis=1)
        if x.shape.rank == 3:
            # Shared (forum-level) features: transform once, not once per user.
            if self.per_step_weights:
                z = tf.einsum("tni,tisk->tnsk", x, kern)
            else:
                z = tf.einsum("tni,isk->tnsk", x, kern[0])
            return self.activation(z + bias[:, None, :, :])
        if self.per_step_weights:
            # One batched matmul per time step; the kernel is never tiled over the batch.
            z = tf.einsum("btni,tisk->btnsk", x, kern)
        else:
            z = tf.einsum("btni,isk->btnsk", x, kern[0])
        z = z + bias[None, :, None, :, :]
        return self.activation(z)

    def call(self, inputs):
        features, adjacency = inputs
        features = tf.convert_to_tensor(features)
        adjacency = tf.cast(adjacency, features.dtype)
        n_f, n_a, n_a2 = features.shape[-2], adjacency.shape[2], adjacency.shape[3]
        if None not in (n_f, n_a, n_a2) and not (n_f == n_a == n_a2):
            raise ValueError(f"`features` has {n_f} nodes but `adjacency` is {n_a}x{n_a2}; "
                             "every snapshot must share one padded node set.")
        p_fw, p_bw = mean_aggregation_operators(adjacency, self.edge_weights)
        x_fw = x_bw = x = features
        for k in range(self.hops):
            if k == 0 or self.concat == "per_hop":
                z = self._transform(x, k)
                z_fw, z_bw = z[..., 0, :], z[..., 1, :]
                z_sfw = z[..., 2, :] if self.include_self else None
                z_sbw = z[..., 3, :] if self.include_self else None
            else:
                fw_streams = [0, 2] if self.include_self else [0]
                bw_streams = [1, 3] if self.include_self else [1]
                zf = self._transform(x_fw, k, fw_streams)
                zb = self._transform(x_bw, k, bw_streams)
                z_fw, z_bw = zf[..., 0, :], zb[..., 0, :]
                z_sfw = zf[..., 1, :] if self.include_self else None
                z_sbw = zb[..., 1, :] if self.include_self else None
            if z_fw.shape.rank == 3:
                # Explicit broadcast of the shared [T, N, H] messages over the batch: the
                # gradient of a broadcasting BatchMatMul segfaults on CPU (TF 2.21, oneDNN).
                full = tf.concat([tf.shape(p_fw)[:1], tf.shape(z_fw)], 0)
                z_fw = tf.broadcast_to(z_fw[None], full)
                z_bw = tf.broadcast_to(z_bw[None], full)
            h_fw = tf.matmul(p_fw, z_fw)
            h_bw = tf.matmul(p_bw, z_bw)
            if self.include_self:
                if z_sfw.shape.rank == 3:
                    z_sfw = tf.broadcast_to(z_sfw[None], tf.concat([tf.shape(h_fw)[:1],
                                                                    tf.shape(z_sfw)], 0))
                    z_sbw = tf.broadcast_to(z_sbw[None], tf.shape(z_sfw))
                h_fw = tf.concat([z_sfw, h_fw], axis=-1)
                h_bw = tf.concat([z_sbw, h_bw], axis=-1)
            x_fw, x_bw = h_fw, h_bw
            x = tf.concat([h_fw, h_bw], axis=-1)
        return x

    def compute_output_shape(self, input_shape):
        f_shape = tf.TensorShape(input_shape[0])
        a_shape = tf.TensorShape(input_shape[1])
        return a_shape[:-1].concatenate([2 * self.stream_units])

    def get_config(self):
        config = super().get_config()
        config.update({
            "units": self.units, "hops": self.hops, "time_steps": self.time_steps,
            "per_step_weights": self.per_step_weights, "concat": self.concat,
            "include_self": self.include_self, "edge_weights": self.edge_weights,
            "tied_init": self.tied_init,
            "activation": keras.activations.serialize(self.activation),
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "first_layer_regularizer": keras.regularizers.serialize(self.first_layer_regularizer)
            if self.first_layer_regularizer is not None else None,
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer)
            if self.kernel_regularizer is not None else None,
        })
        return config


def _masked_or_all(node_emb, mask):
    if mask is None:
        return tf.ones(tf.shape(node_emb)[:-1], dtype=tf.bool)
    mask = tf.cast(mask, tf.bool)
    if mask.shape.rank is not None and node_emb.shape.rank is not None \
            and (mask.shape.rank != node_emb.shape.rank - 1
                 or not mask.shape.is_compatible_with(node_emb.shape[:-1])):
        raise ValueError(f"`mask` must have shape {node_emb.shape[:-1]} (the node axes); "
                         f"received {mask.shape}.")
    return mask


@keras.saving.register_keras_serializable(package="keras_egl")
class MaxPoolGraphReadout(ConsumesMask, keras.layers.Layer):
    """Graph readout: fully-connected layer, then element-wise max over nodes.

    The thesis' base aggregation (Sec. 3.4.2, after Graph2Seq): node embeddings
    go through an FC layer and an element-wise max over the nodes gives g_t.
    With ``mask_inactive=True`` nodes without edges are left out of the max; a
    snapshot with no active node gives the zero vector (NaN-safe).

    Input: ``node_emb [..., N, F]`` and optional ``mask [..., N]``.
    Output: ``[..., units]``.

    Args:
        units: FC output size.
        activation: FC activation (default None, i.e. linear; the follow-up
            code uses ReLU without an FC layer).
        mask_inactive: exclude masked nodes from the max.
        kernel_initializer: the FC layer's kernel initializer.

    Example:
        >>> g = MaxPoolGraphReadout(4)(tf.ones([2, 3, 5, 6]))
        >>> g.shape
        TensorShape([2, 3, 4])
    """

    def __init__(self, units, activation=None, mask_inactive=True, kernel_initializer="glorot_uniform",
                 **kwargs):
        super().__init__(**kwargs)
        self._accept_mask()
        self.units = check_positive_int(units, "units")
        self.activation = keras.activations.get(activation)
        self.mask_inactive = check_bool(mask_inactive, "mask_inactive")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.dense = keras.layers.Dense(units, activation=self.activation, name="fc",
                                        kernel_initializer=self.kernel_initializer)

    def call(self, node_emb, mask=None):
        z = self.dense(node_emb)
        if not self.mask_inactive or mask is None:
            return tf.reduce_max(z, axis=-2)
        m = _masked_or_all(node_emb, mask)
        lowest = tf.fill(tf.shape(z), tf.constant(z.dtype.min, z.dtype))
        zm = tf.where(m[..., None], z, lowest)
        g = tf.reduce_max(zm, axis=-2)
        any_active = tf.reduce_any(m, axis=-1, keepdims=True)
        return tf.where(any_active, g, tf.zeros_like(g))

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units,
                       "activation": keras.activations.serialize(self.activation),
                       "mask_inactive": self.mask_inactive,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


def masked_softmax(scores, mask=None, axis=-1):
    """Softmax over ``axis`` restricted to ``mask``; all-masked rows give zeros."""
    if mask is None:
        return tf.nn.softmax(scores, axis=axis)
    mask = tf.cast(mask, tf.bool)
    neg = tf.fill(tf.shape(scores), tf.constant(-1e9, scores.dtype))
    s = tf.where(mask, scores, neg)
    s = s - tf.stop_gradient(tf.reduce_max(s, axis=axis, keepdims=True))
    e = tf.exp(s) * tf.cast(mask, scores.dtype)
    return tf.math.divide_no_nan(e, tf.reduce_sum(e, axis=axis, keepdims=True))


@keras.saving.register_keras_serializable(package="keras_egl")
class NodeToGraphAttention(ConsumesMask, keras.layers.Layer):
    r"""Feed-forward node-to-graph attention (eqs. 3.14-3.16).

    ::

        e[t, n] = a(h[t, n]) = h[t, n] . w + b
        alpha[t, n] = exp(e[t, n]) / sum_k exp(e[t, k])
        g[t] = sum_n alpha[t, n] h[t, n]

    a(.) is only "learnable" in the thesis; the linear form follows the
    follow-up code. ``mask_inactive=True`` (default; the thesis softmax runs over
    all N nodes, ``False`` reproduces that) restricts the softmax to nodes with
    edges, so padding/inactive subforums cannot absorb attention; an empty
    snapshot gives ``alpha = 0`` and ``g = 0``.

    Input: ``node_emb [..., N, F]``, optional ``mask [..., N]``.
    Output: ``(g [..., F], alpha [..., N])``.

    Args:
        mask_inactive: restrict the softmax to masked-in nodes.
        kernel_initializer: the score layer's kernel initializer.

    Example:
        >>> g, a = NodeToGraphAttention()(tf.ones([2, 3, 5, 6]))
        >>> g.shape, a.shape
        (TensorShape([2, 3, 6]), TensorShape([2, 3, 5]))
    """

    def __init__(self, mask_inactive=True, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self._accept_mask()
        self.mask_inactive = check_bool(mask_inactive, "mask_inactive")
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.score = keras.layers.Dense(1, name="score", kernel_initializer=self.kernel_initializer)

    def call(self, node_emb, mask=None):
        node_emb = tf.convert_to_tensor(node_emb)
        if node_emb.shape.rank is not None and node_emb.shape.rank < 2:
            raise ValueError(f"`node_emb` must be [..., N, F]; received shape {node_emb.shape}.")
        e = tf.squeeze(self.score(node_emb), axis=-1)
        m = _masked_or_all(node_emb, mask) if (self.mask_inactive and mask is not None) else None
        alpha = masked_softmax(e, m, axis=-1)
        g = tf.reduce_sum(alpha[..., None] * node_emb, axis=-2)
        return g, alpha

    def get_config(self):
        config = super().get_config()
        config.update({"mask_inactive": self.mask_inactive,
                       "kernel_initializer": keras.initializers.serialize(self.kernel_initializer)})
        return config


__all__ = ["DynamicBiGCN", "MaxPoolGraphReadout", "NodeToGraphAttention", "active_node_mask",
           "mean_aggregation_operators", "masked_softmax", "per_slice_initializer",
           "per_step_weight_memory"]
