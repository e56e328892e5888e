import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.layers.graph import (MaskedGlobalAvgPool, check_adjacency, gcn_classifier, gcn_layers,
                                    gcn_normalize)

PATH3 = np.array([[0, 1, 0], [1, 0, 1], [0, 1, 0]], np.float32)


def test_gcn_normalize_hand_computed():
    v = gcn_normalize(PATH3)
    deg = np.array([2.0, 3.0, 2.0])  # degrees of A + I
    a = PATH3 + np.eye(3)
    np.testing.assert_allclose(v, a / np.sqrt(deg[:, None] * deg[None, :]), rtol=1e-6)


@pytest.mark.parametrize("bad, msg", [(np.zeros((2, 3)), "square"), (np.array([[0, 1], [0, 0]]), "symmetric"),
                                      (np.array([[0, np.nan], [np.nan, 0]]), "non-finite")])
def test_check_adjacency_rejects(bad, msg):
    with pytest.raises(ValueError, match=msg):
        check_adjacency(bad)


def test_check_adjacency_node_count():
    with pytest.raises(ValueError, match="node features have 4"):
        check_adjacency(PATH3, n_nodes=4)


def test_masked_pool_hand_and_empty():
    f = tf.constant([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]], [[5.0, 5.0], [7.0, 7.0], [9.0, 9.0]]])
    m = tf.constant([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    out = MaskedGlobalAvgPool()([f, m]).numpy()
    np.testing.assert_allclose(out, [[2.0, 3.0], [0.0, 0.0]])
    layer = MaskedGlobalAvgPool.from_config(MaskedGlobalAvgPool(name="p").get_config())
    assert layer.name == "p"
    with pytest.raises(ValueError, match="node_mask"):
        MaskedGlobalAvgPool()(f)


def _graph_inputs(v, x, n_layers):
    return [x[None]] + [v[None]] * n_layers + [np.ones((1, x.shape[0]), np.float32)]


def test_padded_batch_equals_single_graphs():
    rng = np.random.default_rng(0)
    model = gcn_classifier(5, 2, hidden=(8, 4), seed=1)
    graphs = []
    for n in (3, 5):
        a = (rng.random((n, n)) > 0.5).astype(np.float32)
        a = np.triu(a, 1)
        a = a + a.T
        graphs.append((rng.normal(size=(n, 5)).astype(np.float32), gcn_normalize(a)))
    singles = [model(_graph_inputs(v, x, 2)).numpy()[0] for x, v in graphs]
    x = np.zeros((2, 5, 5), np.float32)
    v = np.zeros((2, 5, 5), np.float32)
    m = np.zeros((2, 5), np.float32)
    for i, (xi, vi) in enumerate(graphs):
        k = xi.shape[0]
        x[i, :k], v[i, :k, :k], m[i, :k] = xi, vi, 1
    batched = model([x, v, v, m]).numpy()
    np.testing.assert_allclose(batched, np.stack(singles), rtol=1e-5, atol=1e-6)


def test_gcn_classifier_presets_and_errors():
    m = gcn_classifier(75, 2, hidden="code")
    gcns, pool, head = gcn_layers(m)
    assert [g.channels for g in gcns] == [256, 128, 64] and head.units == 2
    assert len(m.inputs) == 5  # x, a_1..a_3, node_mask
    with pytest.raises(ValueError, match="hidden"):
        gcn_classifier(75, 2, hidden="big")
    with pytest.raises(ValueError, match="n_classes"):
        gcn_classifier(75, 1)
    with pytest.raises(ValueError, match="gcn_1"):
        gcn_layers(keras.Sequential([keras.layers.Dense(2, input_shape=(3,))]))


def test_seeded_builder_is_deterministic():
    a = gcn_classifier(4, 2, hidden=(3,), seed=5).get_weights()
    b = gcn_classifier(4, 2, hidden=(3,), seed=5).get_weights()
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)
