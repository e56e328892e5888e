import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.layers.dyngraph import (DynamicBiGCN, MaxPoolGraphReadout, NodeToGraphAttention,
                                       active_node_mask, mean_aggregation_operators,
                                       per_slice_initializer, per_step_weight_memory)


def _graph():
    # 3 nodes, T = 2: month 0 has 0->1 (x2), month 1 adds 1->2 (cumulative).
    a = np.zeros((1, 2, 3, 3), np.float32)
    a[0, 0, 0, 1] = 2
    a[0, 1, 0, 1] = 2
    a[0, 1, 1, 2] = 1
    a[0, 1, 0, 2] = 1
    f = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], np.float32)
    return np.broadcast_to(f, (1, 2, 3, 2)).copy(), a


def _relu(x):
    return np.maximum(x, 0)


def test_one_hop_matches_equations_3_1_to_3_3_with_per_step_weights():
    f, a = _graph()
    layer = DynamicBiGCN(units=1, hops=1, time_steps=2, edge_weights="count")
    layer([f, a])
    kern = np.zeros((2, 2, 2, 1), np.float32)
    kern[0, :, 0, 0] = [1.0, 2.0]    # t=0 forward
    kern[0, :, 1, 0] = [3.0, -1.0]   # t=0 backward
    kern[1, :, 0, 0] = [-1.0, 1.0]   # t=1 forward
    kern[1, :, 1, 0] = [0.5, 0.5]    # t=1 backward
    layer.kernels[0].assign(kern)
    layer.biases[0].assign(np.full((2, 2, 1), 0.1, np.float32))
    out = layer([f, a]).numpy()[0]
    for t in range(2):
        z_fw = _relu(f[0, t] @ kern[t, :, 0] + 0.1)
        z_bw = _relu(f[0, t] @ kern[t, :, 1] + 0.1)
        at = a[0, t]
        for v in range(3):
            outn = at[v]
            inn = at[:, v]
            exp_fw = (outn @ z_fw) / outn.sum() if outn.sum() else np.zeros(1)
            exp_bw = (inn @ z_bw) / inn.sum() if inn.sum() else np.zeros(1)
            np.testing.assert_allclose(out[t, v], np.concatenate([exp_fw, exp_bw]), rtol=1e-6,
                                       atol=1e-7)


def test_binary_edge_weights_use_set_mean():
    _, a = _graph()
    p_fw, _ = mean_aggregation_operators(a, "binary")
    np.testing.assert_allclose(p_fw.numpy()[0, 1, 0], [0, 0.5, 0.5])
    p_fw, p_bw = mean_aggregation_operators(a, "count")
    np.testing.assert_allclose(p_fw.numpy()[0, 1, 0], [0, 2 / 3, 1 / 3])
    np.testing.assert_allclose(p_bw.numpy()[0, 1, 2], [0.5, 0.5, 0])


def _numpy_two_hops(f, a, kernels, biases, concat, include_self):
    p_fw, p_bw = [x.numpy() for x in mean_aggregation_operators(a)]
    x_fw = x_bw = x = f
    for k, (kern, b) in enumerate(zip(kernels, biases)):
        def tr(inp, streams):
            z = np.einsum("btni,tisk->btnsk", inp, kern[:, :, streams]) + b[None, :, None, streams]
            return _relu(z)
        if k == 0 or concat == "per_hop":
            z = tr(x, list(range(kern.shape[2])))
            zf, zb = z[..., 0, :], z[..., 1, :]
            sf = z[..., 2, :] if include_self else None
            sb = z[..., 3, :] if include_self else None
        else:
            zf_all = tr(x_fw, [0, 2] if include_self else [0])
            zb_all = tr(x_bw, [1, 3] if include_self else [1])
            zf, zb = zf_all[..., 0, :], zb_all[..., 0, :]
            sf = zf_all[..., 1, :] if include_self else None
            sb = zb_all[..., 1, :] if include_self else None
        hf, hb = p_fw @ zf, p_bw @ zb
        if include_self:
            hf, hb = np.concatenate([sf, hf], -1), np.concatenate([sb, hb], -1)
        x_fw, x_bw, x = hf, hb, np.concatenate([hf, hb], -1)
    return x


@pytest.mark.parametrize("concat", ["per_hop", "final"])
@pytest.mark.parametrize("include_self", [False, True])
def test_two_hops_both_concat_schemes_and_self_term(concat, include_self):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 3, 4, 3)).astype(np.float32)
    a = (rng.uniform(size=(2, 3, 4, 4)) > 0.5).astype(np.float32) * rng.integers(1, 3, (2, 3, 4, 4))
    a = a.astype(np.float32)
    layer = DynamicBiGCN(units=2, hops=2, time_steps=3, concat=concat, include_self=include_self)
    out = layer([f, a]).numpy()
    width = 2 * 2 * (2 if include_self else 1)
    assert out.shape == (2, 3, 4, width)
    ref = _numpy_two_hops(f, a, [k.numpy() for k in layer.kernels], [b.numpy() for b in layer.biases],
                          concat, include_self)
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-6)
    # shared [T, N, D] features give the same result as per-graph ones
    layer2 = DynamicBiGCN(units=2, hops=2, time_steps=3, concat=concat, include_self=include_self)
    layer2([f[0], a])
    layer2.set_weights(layer.get_weights())
    np.testing.assert_allclose(layer2([f[0], a]).numpy(),
                               layer([np.broadcast_to(f[:1], f.shape), a]).numpy(), rtol=1e-5,
                               atol=1e-6)


def test_empty_snapshot_is_zero_and_gradients_finite():
    f = tf.ones([1, 2, 3, 2])
    a = tf.zeros([1, 2, 3, 3])
    layer = DynamicBiGCN(units=2, hops=2, time_steps=2)
    with tf.GradientTape() as tape:
        out = layer([f, a])
        loss = tf.reduce_sum(out)
    assert np.all(out.numpy() == 0)
    grads = tape.gradient(loss, layer.trainable_weights)
    assert all(np.all(np.isfinite(g.numpy())) for g in grads if g is not None)


def test_bad_inputs():
    layer = DynamicBiGCN(units=2, hops=1, time_steps=2)
    with pytest.raises(ValueError, match="nodes"):
        layer([tf.ones([1, 2, 3, 2]), tf.ones([1, 2, 4, 4])])
    with pytest.raises(ValueError, match="time steps"):
        DynamicBiGCN(units=2, hops=1, time_steps=3)([tf.ones([1, 2, 3, 2]), tf.ones([1, 2, 3, 3])])
    with pytest.raises(ValueError, match="time_steps"):
        DynamicBiGCN(units=2)
    with pytest.raises(ValueError, match="concat"):
        DynamicBiGCN(units=2, time_steps=2, concat="sum")


def test_first_layer_regularizer_and_memory_formula():
    from keras_egl.regularizers.group_lasso import SlidingWindowGroupLasso

    layer = DynamicBiGCN(units=3, hops=3, time_steps=5, include_self=True, concat="final",
                         first_layer_regularizer=SlidingWindowGroupLasso(beta=1.0, window=2))
    layer([tf.ones([1, 5, 4, 6]), tf.ones([1, 5, 4, 4])])
    assert layer.first_layer_kernel.shape == (5, 6, 4, 3)
    assert len(layer.losses) == 1 and float(layer.losses[0]) > 0
    mem = per_step_weight_memory(5, 6, 3, hops=3, concat="final", include_self=True)
    assert mem["params"] == layer.count_params()
    mem2 = per_step_weight_memory(4, 6, 3, hops=2)
    layer2 = DynamicBiGCN(units=3, hops=2, time_steps=4)
    layer2([tf.ones([1, 4, 4, 6]), tf.ones([1, 4, 4, 4])])
    assert mem2["params"] == layer2.count_params()
    assert mem2["train_bytes"] == 4 * mem2["weights_bytes"]


def test_gcn_config_round_trip():
    from keras_egl.regularizers.group_lasso import SlidingWindowGroupLasso

    layer = DynamicBiGCN(units=3, hops=2, time_steps=4, concat="final", include_self=True,
                         edge_weights="binary",
                         first_layer_regularizer=SlidingWindowGroupLasso(beta=0.1, window=2))
    x = [tf.random.normal([2, 4, 5, 3], seed=1), tf.ones([2, 4, 5, 5])]
    y = layer(x)
    again = keras.layers.deserialize(keras.layers.serialize(layer))
    again(x)
    again.set_weights(layer.get_weights())
    np.testing.assert_allclose(again(x).numpy(), y.numpy(), rtol=1e-6)
    assert again.get_config()["first_layer_regularizer"] is not None


@pytest.mark.parametrize("per_step", [True, False])
def test_kernels_use_per_slice_glorot_fans(per_step):
    # Regression: Keras read the stacked [T, D, S, H] kernel as a conv kernel (fans
    # S*T*D and H*T*D), so the T = 24 first-hop kernel started with std ~0.0098
    # instead of Glorot's sqrt(2 / (D + H)) ~ 0.18.
    t, d, h = 24, 48, 16
    layer = DynamicBiGCN(units=h, hops=2, time_steps=t, per_step_weights=per_step)
    layer([tf.ones([t, 30, d]), tf.ones([1, t, 30, 30])])
    for k, in_dim in zip(layer.kernels, (d, 2 * h)):
        expected = np.sqrt(2.0 / (in_dim + h))
        assert abs(float(np.std(k.numpy())) / expected - 1.0) < 0.1
        # every [I, H] slice on its own has the Glorot scale
        assert abs(float(np.std(k.numpy()[-1, :, 1])) / expected - 1.0) < 0.25
    # other initializers pass through; fan_in mode is corrected by S * T
    assert isinstance(per_slice_initializer("zeros", (3, 4, 2, 5)), keras.initializers.Zeros)
    he = per_slice_initializer(keras.initializers.HeNormal(seed=0), (3, 4, 2, 5))
    assert he.scale == pytest.approx(2.0 * 2 * 3)


def test_tied_init_starts_every_step_from_one_draw():
    x = [tf.random.normal([2, 3, 4, 5], seed=2), tf.ones([2, 3, 4, 4])]
    tied = DynamicBiGCN(units=3, hops=2, time_steps=3, tied_init=True)
    tied(x)
    for k in tied.kernels:
        w = k.numpy()
        assert np.std(w) > 0
        np.testing.assert_array_equal(w[0], w[1])
        np.testing.assert_array_equal(w[0], w[2])
    free = DynamicBiGCN(units=3, hops=2, time_steps=3)
    free(x)
    assert not np.allclose(free.kernels[0].numpy()[0], free.kernels[0].numpy()[1])
    again = keras.layers.deserialize(keras.layers.serialize(tied))
    assert again.tied_init is True


def test_maxpool_readout_masks_inactive_nodes():
    r = MaxPoolGraphReadout(2)
    h = tf.constant([[[1.0, 0.0], [5.0, 5.0], [0.0, 2.0]]])
    r(h)
    r.dense.kernel.assign(np.eye(2, dtype=np.float32))
    r.dense.bias.assign([0.0, 0.0])
    np.testing.assert_allclose(r(h).numpy(), [[5.0, 5.0]])
    mask = tf.constant([[True, False, True]])
    np.testing.assert_allclose(r(h, mask=mask).numpy(), [[1.0, 2.0]])
    empty = tf.constant([[False, False, False]])
    np.testing.assert_allclose(r(h, mask=empty).numpy(), [[0.0, 0.0]])
    again = MaxPoolGraphReadout.from_config(r.get_config())
    assert again.get_config() == r.get_config()


def test_node_to_graph_attention_hand_and_masking():
    att = NodeToGraphAttention()
    h = tf.constant([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]])
    att(h)
    att.score.kernel.assign([[1.0], [0.0]])
    att.score.bias.assign([0.5])
    g, a = att(h)
    e = np.array([1.5, 0.5, 2.5])
    exp = np.exp(e) / np.exp(e).sum()
    np.testing.assert_allclose(a.numpy()[0], exp, rtol=1e-6)
    np.testing.assert_allclose(g.numpy()[0], exp @ h.numpy()[0], rtol=1e-6)
    g, a = att(h, mask=tf.constant([[True, True, False]]))
    exp = np.exp(e[:2]) / np.exp(e[:2]).sum()
    np.testing.assert_allclose(a.numpy()[0], list(exp) + [0], rtol=1e-6, atol=1e-12)
    g, a = att(h, mask=tf.constant([[False, False, False]]))
    assert np.all(a.numpy() == 0) and np.all(g.numpy() == 0)
    cfg = att.get_config()
    assert NodeToGraphAttention.from_config(cfg).get_config() == cfg


def test_active_node_mask():
    _, a = _graph()
    np.testing.assert_array_equal(active_node_mask(a).numpy()[0],
                                  [[True, True, False], [True, True, True]])
