"""Tests for keras_egl.metrics.graph (GNES node/edge explanation MSE/MAE)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from keras_egl._keras import keras, tf
from keras_egl.metrics.graph import (
    EdgeExplanationMAE,
    EdgeExplanationMSE,
    NodeExplanationMAE,
    NodeExplanationMSE,
    edge_explanation_mae,
    edge_explanation_mse,
    node_explanation_mae,
    node_explanation_mse,
)

FAST = settings(max_examples=20, deadline=None)

PATH_A = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], "float32")


def _f(x):
    return float(np.asarray(x))


def _random_graphs(seed, b, n):
    rng = np.random.default_rng(seed)
    adj = (rng.random((b, n, n)) < 0.4).astype("float32")
    adj = np.maximum(adj, np.transpose(adj, (0, 2, 1))) * (1 - np.eye(n, dtype="float32"))
    n_real = rng.integers(1, n + 1, size=b)
    node_mask = (np.arange(n)[None] < n_real[:, None]).astype("float32")
    node_expl = rng.random((b, n)).astype("float32") + 0.01
    node_true = (rng.random((b, n)) < 0.5).astype("float32")
    node_true[:, 0] = 1.0  # every graph labelled
    edge_expl = rng.random((b, n, n)).astype("float32")
    edge_true = adj * (rng.random((b, n, n)) < 0.5)
    edge_true[:, 0, 0] = 1.0
    w = rng.uniform(0.1, 2.0, size=(b,)).astype("float32")
    return node_true, node_expl, edge_true, edge_expl, adj, node_mask, w


# --------------------------------------------------------------------------- #
# hand-computed values
# --------------------------------------------------------------------------- #
def test_node_errors_hand_computed():
    # M = [2, 4] -> max-normalised [0.5, 1]; M' = [1, 0] -> errors [-0.5, 1].
    assert _f(node_explanation_mse([[1.0, 0.0]], [[2.0, 4.0]])) == pytest.approx((0.25 + 1.0) / 2)
    assert _f(node_explanation_mae([[1.0, 0.0]], [[2.0, 4.0]])) == pytest.approx((0.5 + 1.0) / 2)
    # (B, N, 1) inputs are accepted; normalize=None compares raw values.
    assert _f(node_explanation_mae([[[1.0], [0.0]]], [[[2.0], [4.0]]], normalize=None)) == pytest.approx((1 + 4) / 2)
    # minmax: [2, 4] -> [0, 1]; errors [-1, 1].
    assert _f(node_explanation_mse([[1.0, 0.0]], [[2.0, 4.0]], normalize="minmax")) == pytest.approx(1.0)


def test_node_errors_padding_and_weights():
    truth = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    expl = np.array([[2.0, 4.0, 100.0], [1.0, 1.0, 0.0]], "float32")
    mask = np.array([[1, 1, 0], [1, 1, 1]])
    # Graph 0: the padded 100 must not set the max -> same as the 2-node example (0.625).
    # Graph 1: [1, 1, 0] / 1 vs [0, 1, 1] -> sq errors [1, 0, 1] / 3.
    per = node_explanation_mse(truth, expl, node_mask=mask, reduction="none")
    np.testing.assert_allclose(per, [0.625, 2 / 3], rtol=1e-6)
    got = node_explanation_mse(truth, expl, node_mask=mask, sample_weight=[1.0, 2.0])
    assert _f(got) == pytest.approx((0.625 + 2 * 2 / 3) / 3, rel=1e-6)


def test_edge_errors_hand_computed():
    e_model = np.array([[[5, 2, 9], [4, 0, 1], [9, 1, 0]]], "float32")
    # E ⊙ A = [[0,2,0],[4,0,1],[0,1,0]] -> / 4 -> [[0,.5,0],[1,0,.25],[0,.25,0]]; E' = A.
    # Errors on the 9 entries: -.5, -.75, -.75 (plus zeros), averaged over N² = 9.
    assert _f(edge_explanation_mse(PATH_A[None], e_model, adjacency=PATH_A[None])) == pytest.approx(1.375 / 9)
    assert _f(edge_explanation_mae(PATH_A[None], e_model, adjacency=PATH_A[None])) == pytest.approx(2.0 / 9)
    # Without the adjacency the non-edges (9s) set the max: E / 9.
    expected = np.mean(np.abs(e_model[0] / 9 - PATH_A))
    assert _f(edge_explanation_mae(PATH_A[None], e_model)) == pytest.approx(expected, rel=1e-6)


def test_edge_errors_with_padding():
    # The 3-node path padded to 4 nodes; padding entries carry junk that must be ignored.
    e = np.full((1, 4, 4), 50.0, "float32")
    e[0, :3, :3] = [[5, 2, 9], [4, 0, 1], [9, 1, 0]]
    a = np.zeros((1, 4, 4), "float32")
    a[0, :3, :3] = PATH_A
    a[0, 3, 0] = a[0, 0, 3] = 1.0  # an edge to a padded node must not leak in either
    truth = np.zeros((1, 4, 4), "float32")
    truth[0, :3, :3] = PATH_A
    mask = np.array([[1, 1, 1, 0]])
    assert _f(edge_explanation_mse(truth, e, adjacency=a, node_mask=mask)) == pytest.approx(1.375 / 9)


def test_graph_annotation_and_empty_graphs():
    truth = np.array([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0]])
    expl = np.array([[2.0, 4.0], [1.0, 0.0], [1.0, 1.0]], "float32")
    mask = np.array([[1, 1], [1, 1], [0, 0]])  # graph 2 has no real node
    per = node_explanation_mae(truth, expl, node_mask=mask, reduction="none").numpy()
    assert per[0] == pytest.approx(0.75) and np.isnan(per[1]) and np.isnan(per[2])
    # Flag graph 1 as labelled (all-zero label): M̂ = [1, 0] -> MAE 0.5. Graph 2 still excluded.
    per = node_explanation_mae(truth, expl, node_mask=mask, has_annotation=[1, 1, 1], reduction="none").numpy()
    np.testing.assert_allclose(per[:2], [0.75, 0.5])
    assert np.isnan(per[2])
    # A zero explanation (max 0) gives zeros, not NaN; nothing labelled -> 0.0.
    assert np.isfinite(_f(node_explanation_mse(truth, np.zeros_like(expl))))
    assert _f(node_explanation_mse(np.zeros((2, 3)), np.ones((2, 3)))) == 0.0
    e = np.zeros((1, 3, 3), "float32")
    assert _f(edge_explanation_mse(PATH_A[None], e, adjacency=PATH_A[None])) == pytest.approx(4 / 9)


# --------------------------------------------------------------------------- #
# properties
# --------------------------------------------------------------------------- #
@FAST
@given(seed=st.integers(0, 10_000), b=st.integers(1, 4), n=st.integers(1, 6), scale=st.floats(0.01, 100.0))
def test_graph_error_properties(seed, b, n, scale):
    nt, ne, et, ee, adj, mask, _ = _random_graphs(seed, b, n)
    mse = node_explanation_mse(nt, ne, node_mask=mask, reduction="none").numpy()
    mae = node_explanation_mae(nt, ne, node_mask=mask, reduction="none").numpy()
    # Max-normalised metrics are invariant to positive scaling of the explanation.
    np.testing.assert_allclose(node_explanation_mse(nt, scale * ne, node_mask=mask, reduction="none"), mse, atol=1e-5)
    emse = edge_explanation_mse(et, ee, adjacency=adj, node_mask=mask, reduction="none").numpy()
    np.testing.assert_allclose(
        edge_explanation_mse(et, scale * ee, adjacency=adj, node_mask=mask, reduction="none"), emse, atol=1e-5)
    emae = edge_explanation_mae(et, ee, adjacency=adj, node_mask=mask, reduction="none").numpy()
    for sq, ab in ((mse, mae), (emse, emae)):
        assert np.all(sq >= 0) and np.all(ab >= 0)
        assert np.all(sq <= 1 + 1e-6) and np.all(ab <= 1 + 1e-6)  # both sides in [0, 1]
        assert np.all(sq >= ab ** 2 - 1e-6)  # Jensen: mean(e²) ≥ mean(|e|)²
    # Explanation equal to a max-1 label scores zero error.
    np.testing.assert_allclose(node_explanation_mae(nt, 2.0 * nt, node_mask=mask, reduction="none"), 0.0, atol=1e-6)
    # NumPy cross-check of the edge MSE definition.
    for i in range(b):
        k = int(mask[i].sum())
        e = ee[i, :k, :k] * adj[i, :k, :k]
        e = e / e.max() if e.max() > 0 else e
        assert emse[i] == pytest.approx(np.mean((e - et[i, :k, :k]) ** 2), abs=1e-5)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_graph_bad_inputs():
    with pytest.raises(ValueError, match=r"node_importance.*node_explanation.*\(2, 3\).*\(2, 4\)"):
        node_explanation_mse(np.ones((2, 3)), np.ones((2, 4)))
    with pytest.raises(ValueError, match="node_mask"):
        node_explanation_mse(np.ones((2, 3)), np.ones((2, 3)), node_mask=np.ones((2, 4)))
    with pytest.raises(ValueError, match="node_explanation"):
        node_explanation_mse(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="square"):
        edge_explanation_mse(np.ones((1, 3, 4)), np.ones((1, 3, 4)))
    with pytest.raises(ValueError, match="adjacency"):
        edge_explanation_mse(np.ones((1, 3, 3)), np.ones((1, 3, 3)), adjacency=np.ones((1, 4, 4)))
    with pytest.raises(ValueError, match="node_mask"):
        edge_explanation_mae(np.ones((1, 3, 3)), np.ones((1, 3, 3)), node_mask=np.ones((1, 4)))
    with pytest.raises(TypeError, match="edge_explanation"):
        edge_explanation_mae(np.ones((1, 2, 2)), np.array([[["a", "b"], ["c", "d"]]]))
    with pytest.raises(ValueError, match="normalize"):
        NodeExplanationMSE(normalize="relu")
    with pytest.raises(ValueError, match="sample_weight"):
        node_explanation_mse(np.ones((2, 3)), np.ones((2, 3)), sample_weight=np.ones(5))


# --------------------------------------------------------------------------- #
# streaming metrics
# --------------------------------------------------------------------------- #
CASES = [
    (NodeExplanationMSE, node_explanation_mse, "node"),
    (NodeExplanationMAE, node_explanation_mae, "node"),
    (EdgeExplanationMSE, edge_explanation_mse, "edge"),
    (EdgeExplanationMAE, edge_explanation_mae, "edge"),
]


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(2, 8), data=st.data())
def test_streaming_equals_batch_function_over_random_splits(seed, b, data):
    nt, ne, et, ee, adj, mask, w = _random_graphs(seed, b, 5)
    cuts = sorted(data.draw(st.lists(st.integers(1, b - 1), max_size=3, unique=True)))
    bounds = [0, *cuts, b]
    for cls, fn, level in CASES:
        metric = cls()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            s = slice(lo, hi)
            if level == "node":
                metric.update_state(nt[s], ne[s], sample_weight=w[s], node_mask=mask[s])
            else:
                metric.update_state(et[s], ee[s], sample_weight=w[s], adjacency=adj[s], node_mask=mask[s])
        if level == "node":
            expected = fn(nt, ne, node_mask=mask, sample_weight=w)
        else:
            expected = fn(et, ee, adjacency=adj, node_mask=mask, sample_weight=w)
        assert _f(metric.result()) == pytest.approx(_f(expected), abs=1e-6), cls.__name__


@pytest.mark.parametrize("cls,fn,level", CASES, ids=[c.__name__ for c, _, _ in CASES])
def test_graph_metric_config_roundtrip_and_tf_function(cls, fn, level):
    metric = cls(normalize="minmax", name="custom")
    config = metric.get_config()
    assert config["normalize"] == "minmax" and config["name"] == "custom"
    assert cls.from_config(config).get_config() == config
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is cls and restored.get_config() == config

    nt, ne, et, ee, adj, mask, w = _random_graphs(5, 4, 5)

    @tf.function(input_signature=[tf.TensorSpec([None, 5, 5])] * 3 + [tf.TensorSpec([None, 5]), tf.TensorSpec([None])])
    def edge_step(t, e, a, m, sw):
        metric.update_state(t, e, sample_weight=sw, adjacency=a, node_mask=m)
        return metric.result()

    @tf.function(input_signature=[tf.TensorSpec([None, 5])] * 3 + [tf.TensorSpec([None])])
    def node_step(t, e, m, sw):
        metric.update_state(t, e, sample_weight=sw, node_mask=m)
        return metric.result()

    if level == "node":
        got = node_step(nt, ne, mask, w)
        expected = fn(nt, ne, node_mask=mask, normalize="minmax", sample_weight=w)
    else:
        got = edge_step(et, ee, adj, mask, w)
        expected = fn(et, ee, adjacency=adj, node_mask=mask, normalize="minmax", sample_weight=w)
    assert _f(got) == pytest.approx(_f(expected), abs=1e-6)
    metric.reset_state()
    assert _f(metric.result()) == 0.0


def test_graph_metrics_under_mirrored_strategy(mirrored_strategy):
    strategy = mirrored_strategy
    nt, ne, et, ee, adj, mask, w = _random_graphs(21, 8, 4)
    with strategy.scope():
        node, edge = NodeExplanationMAE(), EdgeExplanationMSE()
    ds = tf.data.Dataset.from_tensor_slices((nt, ne, et, ee, adj, mask, w)).batch(4)

    @tf.function
    def step(batch):
        def replica_fn(nt_, ne_, et_, ee_, a_, m_, w_):
            node.update_state(nt_, ne_, sample_weight=w_, node_mask=m_)
            edge.update_state(et_, ee_, sample_weight=w_, adjacency=a_, node_mask=m_)

        strategy.run(replica_fn, args=batch)

    for batch in strategy.experimental_distribute_dataset(ds):
        step(batch)
    assert _f(node.result()) == pytest.approx(_f(node_explanation_mae(nt, ne, node_mask=mask, sample_weight=w)), abs=1e-6)
    assert _f(edge.result()) == pytest.approx(
        _f(edge_explanation_mse(et, ee, adjacency=adj, node_mask=mask, sample_weight=w)), abs=1e-6)
