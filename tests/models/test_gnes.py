import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.data.molecules import assign_annotations, graph_dataset, make_scene_graphs, pad_batch
from keras_egl.explain.graph import explain_graph
from keras_egl.layers.graph import gcn_classifier
from keras_egl.losses.gnes import ExplanationDistance
from keras_egl.models.gnes import (GNES, BestValidationAUC, build_gnes, evaluate_graph_model)


@pytest.fixture(scope="module")
def graphs():
    gs = make_scene_graphs(n_per_class=12, n_distractors=(3, 6), feature_dim=8, seed=0)
    assign_annotations(gs, np.arange(16), test_idx=np.arange(16, 24), fraction=0.5, seed=0)
    return gs


def _model(variant="full", preset="dissertation", **kw):
    backbone = gcn_classifier(8, 2, hidden=(8, 6), seed=0)
    m = GNES(backbone, preset=preset, variant=variant, **kw)
    m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


@pytest.mark.parametrize("variant,names", [("full", {"node_loss", "edge_loss", "consistency", "sparsity"}),
                                           ("+human-reg", {"node_loss", "edge_loss"}),
                                           ("-human+reg", {"consistency", "sparsity"}), ("backbone", set())])
def test_variants_have_their_terms(variant, names):
    m = _model(variant)
    assert {t.name for t in m.terms} == names


def test_fit_logs_every_term_and_changes_explanations(graphs):
    m = _model("full", preset="code")
    hist = m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=2, verbose=0)
    for k in ("loss", "task_loss", "node_loss", "edge_loss", "consistency", "sparsity"):
        assert k in hist.history and np.isfinite(hist.history[k]).all()
    assert hist.history["node_loss"][0] > 0


def test_step_maps_equal_explain_graph_and_terms_match_loss(graphs):
    m = _model("full", preset="dissertation")
    inputs, y = pad_batch(graphs[:5], n_layers=2)
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
    _, ctx = m.forward(inputs, tf.constant(y), training=False)
    nm, em, mask, adj = m.graph_maps(ctx)
    ins = [inputs["x"], inputs["a_1"], inputs["a_2"], inputs["node_mask"]]
    ref = explain_graph(m.model, ins, target="true", y=y, adjacency=inputs["adjacency"], normalize="max")
    np.testing.assert_allclose(nm.numpy(), ref["node"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(em.numpy(), ref["edge"].numpy(), rtol=1e-5, atol=1e-6)
    vals = m.compute_terms(ctx)
    want = ExplanationDistance("l1").distance(inputs["node_importance"], ref["node"], inputs["node_mask"],
                                              inputs["has_annotation"])
    np.testing.assert_allclose(vals["node_loss"].numpy(), want.numpy(), rtol=1e-5)


def test_batched_maps_equal_batch_size_one(graphs):
    m = _model("full", preset="code")
    inputs, y = pad_batch(graphs[:4], n_layers=2)
    _, ctx = m.forward({k: tf.constant(v) for k, v in inputs.items()}, tf.constant(y))
    nb, eb, _, _ = m.graph_maps(ctx)
    for i, g in enumerate(graphs[:4]):
        one, y1 = pad_batch([g], n_layers=2)
        _, c1 = m.forward({k: tf.constant(v) for k, v in one.items()}, tf.constant(y1))
        n1, e1, _, _ = m.graph_maps(c1)
        k = g.n_nodes
        np.testing.assert_allclose(nb.numpy()[i, :k], n1.numpy()[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(eb.numpy()[i, :k, :k], e1.numpy()[0], rtol=1e-4, atol=1e-6)


def test_explanation_loss_reaches_gcn_weights_second_order(graphs):
    m = _model("+human-reg", preset="code")
    inputs, y = pad_batch(graphs[:6], n_layers=2)
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
    with tf.GradientTape() as tape:
        _, ctx = m.forward(inputs, tf.constant(y), training=True)
        vals = m.compute_terms(ctx)
        loss = vals["node_loss"] + vals["edge_loss"]
    grads = tape.gradient(loss, m.model.trainable_variables)
    k1 = m.model.get_layer("gcn_1").kernel
    g = dict(zip([v.ref() for v in m.model.trainable_variables], grads))[k1.ref()]
    assert g is not None and float(tf.reduce_sum(tf.abs(g))) > 0


def test_config_roundtrip_and_same_outputs(graphs):
    m = _model("-human+reg", preset="code", beta=0.5)
    inputs, y = pad_batch(graphs[:3], n_layers=2)
    cfg = m.get_config()
    m2 = GNES.from_config(cfg)
    m2.model.set_weights(m.model.get_weights())
    assert m2.beta == 0.5 and m2.anti_collapse and m2.normalize is None and m2.variant == "-human+reg"
    np.testing.assert_allclose(m2(inputs).numpy(), m(inputs).numpy(), rtol=1e-6)
    maps = m.explain({k: inputs[k] for k in ("x", "a_1", "a_2", "node_mask")})
    assert maps.shape == (3, inputs["x"].shape[1]) and float(tf.reduce_max(maps)) <= 1.0 + 1e-6


def test_evaluate_and_best_auc_callback(graphs):
    m = build_gnes(8, 2, preset="code", variant="full", hidden=(8, 6), seed=0)
    val = graph_dataset(graphs[16:], 8, n_layers=2, shuffle=False)
    cb = BestValidationAUC(val)
    m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=2, verbose=0, callbacks=[cb])
    assert cb.best_epoch in (0, 1)
    res = evaluate_graph_model(m, val, methods=("grad_cam", "eb"), edge_method="auto")
    assert 0 <= res["auc"] <= 1
    for meth in ("grad_cam", "eb"):
        assert res[meth]["n_labelled"] == 8
        assert all(0 <= res[meth][k] <= 1 for k in ("node_mse", "node_mae", "edge_mse", "edge_mae"))


def test_bad_arguments():
    backbone = gcn_classifier(8, 2, hidden=(8, 6), seed=0)
    with pytest.raises(ValueError, match="preset"):
        GNES(backbone, preset="paper")
    with pytest.raises(ValueError, match="variant"):
        GNES(backbone, variant="half")
    with pytest.raises(ValueError, match="node_method"):
        GNES(backbone, node_method="eb")
    with pytest.raises(ValueError, match="layer"):
        GNES(backbone, layer=3)
    with pytest.raises(ValueError, match="normalize"):
        GNES(backbone, normalize="minmax")
    with pytest.raises(TypeError, match="keras.Model"):
        GNES("model")


def test_fit_under_mirrored_strategy(graphs, mirrored_strategy):
    strategy = mirrored_strategy
    with strategy.scope():
        m = build_gnes(8, 2, preset="code", variant="full", hidden=(8, 6), seed=0)
    hist = m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and hist.history["node_loss"][0] > 0
