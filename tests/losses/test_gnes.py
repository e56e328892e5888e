import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.losses.gnes import ExplanationDistance

TRUTH = np.array([[1.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 1.0, 0.0]], np.float32)
EXPL = np.array([[0.5, 0.5, 1.0], [0.2, 0.4, 0.6], [0.0, 1.0, 9.0]], np.float32)
MASK = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0]], np.float32)  # graph 3 has 2 real nodes


def test_l1_per_graph_and_labelled_gating():
    d = ExplanationDistance("l1")
    per = d.per_graph(TRUTH, EXPL, node_mask=MASK).numpy()
    np.testing.assert_allclose(per, [1.0 / 3, 1.2 / 3, 0.5], rtol=1e-6)  # padded entry (9 vs 0) ignored
    # explicit flag: graph 2 (all-zero annotation) IS labelled, graph 3 is not
    val = d.distance(TRUTH, EXPL, node_mask=MASK, has_label=[1, 1, 0]).numpy()
    np.testing.assert_allclose(val, (1.0 / 3 + 1.2 / 3) / 3, rtol=1e-6)
    # without a flag, the code's rule: any non-zero annotation → graph 2 unlabelled
    val = d.distance(TRUTH, EXPL, node_mask=MASK).numpy()
    np.testing.assert_allclose(val, (1.0 / 3 + 0.5) / 3, rtol=1e-6)
    lab = ExplanationDistance("l1", reduction_over_graphs="labelled")
    np.testing.assert_allclose(lab.distance(TRUTH, EXPL, MASK, [1, 1, 0]).numpy(), (1.0 / 3 + 1.2 / 3) / 2, rtol=1e-6)
    assert lab.distance(TRUTH, EXPL, MASK, [0, 0, 0]).numpy() == 0.0


def test_l2_and_edges():
    d = ExplanationDistance("l2")
    e_true = np.zeros((1, 3, 3), np.float32)
    e_true[0, 0, 1] = e_true[0, 1, 0] = 1.0
    e = np.full((1, 3, 3), 0.5, np.float32)
    e[0, 2, :] = e[0, :, 2] = 7.0  # node 2 is padding
    val = d.per_graph(e_true, e, node_mask=[[1, 1, 0]]).numpy()
    np.testing.assert_allclose(val, [0.25], rtol=1e-6)


def test_keras_loss_interface_and_config_roundtrip():
    d = ExplanationDistance("l2", reduction_over_graphs="labelled", name="nd")
    d2 = ExplanationDistance.from_config(d.get_config())
    assert (d2.distance_kind, d2.reduction_over_graphs, d2.name) == ("l2", "labelled", "nd")
    v = d(TRUTH, EXPL, sample_weight=[1.0, 0.0, 0.0]).numpy()
    np.testing.assert_allclose(v, (0.25 + 0.25 + 0.0) / 3 / 3, rtol=1e-6)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(d))
    assert isinstance(restored, ExplanationDistance)


def test_bad_input():
    with pytest.raises(ValueError, match="distance"):
        ExplanationDistance("huber")
    with pytest.raises(ValueError, match="reduction_over_graphs"):
        ExplanationDistance(reduction_over_graphs="sum")
    d = ExplanationDistance()
    with pytest.raises(ValueError, match="annotation shape"):
        d.per_graph(np.zeros((3, 4)), EXPL)
    with pytest.raises(ValueError, match="node_mask"):
        d.per_graph(TRUTH, EXPL, node_mask=np.ones((3, 5)))
    with pytest.raises(ValueError, match="has_label"):
        d.distance(TRUTH, EXPL, has_label=[1, 0])


def test_gradient_flows_to_explanation():
    d = ExplanationDistance("l1")
    e = tf.Variable(EXPL)
    with tf.GradientTape() as tape:
        loss = d.distance(TRUTH, e, node_mask=MASK, has_label=[1, 0, 0])
    g = tape.gradient(loss, e).numpy()
    np.testing.assert_allclose(g[0], np.sign(EXPL[0] - TRUTH[0]) / 3 / 3, rtol=1e-6)
    assert np.all(g[1:] == 0)
