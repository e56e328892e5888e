import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.data.molecules import assign_annotations, graph_dataset, make_scene_graphs, pad_batch
from keras_egl.explain.graph import explain_graph
from keras_egl.layers.graph import gcn_classifier
from keras_egl.losses.gnes import ExplanationDistance
from keras_egl.callbacks import BestValidationAUC
from keras_egl.metrics.graph_evaluation import evaluate_graph_model
from keras_egl.models.export import export_saved_model
from keras_egl.models.gnes import GNES, build_gnes
from keras_egl.terms.gnes import SparsityTerm


@pytest.fixture(scope="module")
def graphs():
    gs = make_scene_graphs(n_per_class=12, n_distractors=(3, 6), feature_dim=8, seed=0)
    assign_annotations(gs, np.arange(16), test_idx=np.arange(16, 24), fraction=0.5, seed=0)
    return gs


def _model(variant="full", fidelity="dissertation", **kw):
    backbone = gcn_classifier(8, 2, hidden=(8, 6), seed=0)
    m = GNES(backbone, fidelity=fidelity, variant=variant, **kw)
    m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


@pytest.mark.parametrize("variant,names", [("full", {"node_loss", "edge_loss", "consistency", "sparsity"}),
                                           ("+human-reg", {"node_loss", "edge_loss"}),
                                           ("-human+reg", {"consistency", "sparsity"}), ("backbone", set())])
def test_variants_have_their_terms(variant, names):
    m = _model(variant)
    assert {t.name for t in m.terms} == names


def test_fit_logs_every_term_and_changes_explanations(graphs):
    m = _model("full", fidelity="code")
    hist = m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=2, verbose=0)
    for k in ("loss", "task_loss", "node_loss", "edge_loss", "consistency", "sparsity"):
        assert k in hist.history and np.isfinite(hist.history[k]).all()
    assert hist.history["node_loss"][0] > 0


def test_step_maps_equal_explain_graph_and_terms_match_loss(graphs):
    m = _model("full", fidelity="dissertation")
    inputs, y = pad_batch(graphs[:5], n_layers=2)
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
    _, ctx = m.forward(inputs, tf.constant(y), training=False)
    nm, em, mask, adj = m.graph_maps(ctx)
    ins = [inputs["x"], inputs["a_1"], inputs["a_2"], inputs["node_mask"]]
    ref = explain_graph(m.model, ins, target="true", y=y, adjacency=inputs["adjacency"], normalize="max_positive")
    np.testing.assert_allclose(nm.numpy(), ref["node"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(em.numpy(), ref["edge"].numpy(), rtol=1e-5, atol=1e-6)
    vals = m.compute_terms(ctx)
    want = ExplanationDistance("l1").distance(inputs["node_importance"], ref["node"], inputs["node_mask"],
                                              inputs["has_annotation"])
    np.testing.assert_allclose(vals["node_loss"].numpy(), want.numpy(), rtol=1e-5)


def test_batched_maps_equal_batch_size_one(graphs):
    m = _model("full", fidelity="code")
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
    m = _model("+human-reg", fidelity="code")
    inputs, y = pad_batch(graphs[:6], n_layers=2)
    inputs = {k: tf.constant(v) for k, v in inputs.items()}
    with tf.GradientTape() as tape:
        _, ctx = m.forward(inputs, tf.constant(y), training=True)
        vals = m.compute_terms(ctx)
        loss = vals["node_loss"] + vals["edge_loss"]
    grads = tape.gradient(loss, m.model.trainable_variables)
    k1 = m.model.get_layer("gcn_1").kernel
    g = dict(zip([id(v) for v in m.model.trainable_variables], grads))[id(k1)]
    assert g is not None and float(tf.reduce_sum(tf.abs(g))) > 0


def test_config_roundtrip_and_same_outputs(graphs):
    m = _model("-human+reg", fidelity="code", beta=0.5)
    inputs, y = pad_batch(graphs[:3], n_layers=2)
    cfg = m.get_config()
    m2 = GNES.from_config(cfg)
    m2.model.set_weights(m.model.get_weights())
    assert m2.beta == 0.5 and m2.anti_collapse and m2.normalize is None and m2.variant == "-human+reg"
    np.testing.assert_allclose(m2(inputs).numpy(), m(inputs).numpy(), rtol=1e-6)
    maps = m.explain({k: inputs[k] for k in ("x", "a_1", "a_2", "node_mask")})
    assert maps.shape == (3, inputs["x"].shape[1]) and float(tf.reduce_max(maps)) <= 1.0 + 1e-6


def test_evaluate_and_best_auc_callback(graphs):
    m = build_gnes(8, 2, fidelity="code", variant="full", hidden=(8, 6), seed=0)
    val = graph_dataset(graphs[16:], 8, n_layers=2, shuffle=False)
    cb = BestValidationAUC(val)
    m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=2, verbose=0, callbacks=[cb])
    assert cb.best_epoch in (0, 1)
    res = evaluate_graph_model(m, val, methods=("grad_cam", "eb"), edge_method="auto")
    assert 0 <= res["auc"] <= 1
    for meth in ("grad_cam", "eb"):
        assert res[meth]["n_labelled"] == 8
        assert all(0 <= res[meth][k] <= 1 for k in ("node_mse", "node_mae", "edge_mse", "edge_mae"))


def test_preset_is_a_deprecated_alias_of_fidelity_and_old_locations_still_import():
    import keras_egl.callbacks.model_selection as cbm
    import keras_egl.metrics.graph_evaluation as ge
    from keras_egl.models import gnes as gnes_module

    assert gnes_module.evaluate_graph_model is ge.evaluate_graph_model
    assert gnes_module.BestValidationAUC is cbm.BestValidationAUC
    assert gnes_module.PRESETS is gnes_module.FIDELITIES
    backbone = gcn_classifier(8, 2, hidden=(8, 6), seed=0)
    with pytest.warns(DeprecationWarning, match="preset"):
        m = GNES(backbone, preset="code")
    assert m.fidelity == "code" and m.preset == "code" and m.normalize is None and m.anti_collapse
    with pytest.raises(TypeError, match="preset"):
        GNES(backbone, fidelity="code", preset="code")
    d = GNES(backbone)
    assert d.fidelity == "dissertation" and d.normalize == "max_positive"
    # a config saved before the rename still loads
    cfg = m.get_config()
    assert cfg["fidelity"] == "code" and "preset" not in cfg
    cfg["preset"] = cfg.pop("fidelity")
    assert GNES.from_config(cfg).fidelity == "code"
    with pytest.warns(DeprecationWarning):
        assert build_gnes(8, 2, preset="code", hidden=(8, 6), seed=0).fidelity == "code"


def test_bad_arguments():
    backbone = gcn_classifier(8, 2, hidden=(8, 6), seed=0)
    with pytest.raises(ValueError, match="`fidelity`"):
        GNES(backbone, fidelity="paper")
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
        m = build_gnes(8, 2, fidelity="code", variant="full", hidden=(8, 6), seed=0)
    hist = m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and hist.history["node_loss"][0] > 0


GRAPH_KEYS = ("x", "a_1", "a_2", "node_mask")


@pytest.mark.parametrize("variant", ["backbone", "-human+reg", "+human-reg", "full"])
def test_every_variant_accepts_the_graph_data_dict_and_typos_raise(graphs, variant):
    m = _model(variant)
    inputs, y = pad_batch(graphs[:4], n_layers=2)
    assert set(m.annotation_keys) >= {"node_importance", "edge_importance", "adjacency", "has_annotation"}
    assert m(inputs).shape == (4, 2)
    logs = m.evaluate(inputs, y, verbose=0, return_dict=True)
    assert np.isfinite(logs["loss"])
    with pytest.raises(ValueError, match="node_importances"):
        m({**inputs, "node_importances": inputs["node_importance"]})


def test_non_default_keys_are_given_to_the_preset_terms(graphs):
    inputs, y = pad_batch(graphs[:5], n_layers=2)
    ren = {"node_importance": "nodes", "edge_importance": "edges", "adjacency": "A", "has_annotation": "labelled"}
    m = _model("full", node_key="nodes", edge_key="edges", adjacency_key="A", flag_key="labelled")
    ref = _model("full")
    m.model.set_weights(ref.model.get_weights())
    for t in m.terms:
        assert set(t.annotation_keys) <= set(ren.values())
    moved = {ren.get(k, k): tf.constant(v) for k, v in inputs.items()}
    _, c1 = ref.forward({k: tf.constant(v) for k, v in inputs.items()}, tf.constant(y))
    _, c2 = m.forward(moved, tf.constant(y))
    v1, v2 = ref.compute_terms(c1), m.compute_terms(c2)
    for k in v1:
        np.testing.assert_allclose(float(v2[k]), float(v1[k]), rtol=1e-6, err_msg=k)
        assert float(v1[k]) > 0, k
    with pytest.raises(ValueError, match="node_importance"):  # the default keys are typos for this model
        m(inputs)
    cfg = m.get_config()
    strip = lambda c: {k: v for k, v in c.items() if k != "model"}  # noqa: E731
    assert strip(GNES.from_config(cfg).get_config()) == strip(cfg)


def test_user_terms_are_appended_and_other_arguments_kept(graphs):
    extra = SparsityTerm(0.5, name="extra_sparsity")
    explainer = lambda ctx: tf.zeros_like(ctx.x[-1])  # noqa: E731
    m = _model("+human-reg", terms=[extra], explainer=explainer, check_finite=False, extra_keys=["smiles_id"])
    assert [t.name for t in m.terms] == ["node_loss", "edge_loss", "extra_sparsity"]
    assert m.user_terms == [extra] and not m.check_finite and m.extra_keys == ("smiles_id",)
    inputs, y = pad_batch(graphs[:4], n_layers=2)
    inputs["smiles_id"] = np.arange(4, dtype="float32")
    hist = m.fit(inputs, y, epochs=1, verbose=0)
    assert hist.history["extra_sparsity"][0] > 0
    np.testing.assert_array_equal(m.explain({k: inputs[k] for k in GRAPH_KEYS}).numpy(), 0.0)
    # serialisable arguments (the lambda explainer above is not) survive the round trip
    m2 = _model("+human-reg", terms=[SparsityTerm(0.5, name="extra_sparsity")], check_finite=False,
                extra_keys=["smiles_id"])
    cfg = m2.get_config()
    assert len(cfg["terms"]) == 1 and cfg["check_finite"] is False and cfg["extra_keys"] == ["smiles_id"]
    clone = GNES.from_config(cfg)
    assert [t.name for t in clone.terms] == ["node_loss", "edge_loss", "extra_sparsity"]
    assert {k: v for k, v in clone.get_config().items() if k != "model"} == \
        {k: v for k, v in cfg.items() if k != "model"}
    with pytest.raises(TypeError, match="input_key"):
        _model("full", input_key="x")


def test_export_saved_model_reloads_without_keras_egl(graphs, tmp_path):
    m = build_gnes(8, 2, fidelity="code", variant="full", hidden=(8, 6), seed=0)
    m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=1, verbose=0)
    inputs, _ = pad_batch(graphs[16:22], n_layers=2)
    model_inputs = {k: inputs[k] for k in GRAPH_KEYS}
    export_saved_model(m, tmp_path / "sm")
    np.savez(tmp_path / "inputs.npz", **model_inputs)
    expected_pred = m.predict(inputs, verbose=0)
    expected_maps = m.explain(model_inputs).numpy()
    script = textwrap.dedent(f"""
        import json, sys, numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / 'sm')!r})
        data = np.load({str(tmp_path / 'inputs.npz')!r})
        feed = {{k: tf.constant(data[k]) for k in data.files}}
        np.save({str(tmp_path / 'pred.npy')!r}, m.signatures["serving_default"](**feed)["outputs"].numpy())
        np.save({str(tmp_path / 'maps.npy')!r}, m.signatures["explain"](**feed)["maps"].numpy())
        print(json.dumps([sorted(m.signatures.keys()), any(k.startswith("keras_egl") for k in sys.modules)]))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == [["explain", "serving_default"], False]
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), expected_pred, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "maps.npy"), expected_maps, atol=1e-5)


@pytest.fixture
def bfloat16_policy():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_trains_under_mixed_bfloat16(graphs, bfloat16_policy):
    m = build_gnes(8, 2, fidelity="dissertation", variant="full", hidden=(8, 6), seed=0)
    assert m.model.get_layer("gcn_1").compute_dtype == "bfloat16"
    hist = m.fit(graph_dataset(graphs[:16], 8, n_layers=2, seed=0), epochs=1, verbose=0)
    for k in ("loss", "node_loss", "edge_loss", "consistency", "sparsity"):
        assert np.isfinite(hist.history[k]).all(), k
    assert hist.history["node_loss"][0] > 0
    inputs, y = pad_batch(graphs[:4], n_layers=2)
    maps = m.explain({k: inputs[k] for k in GRAPH_KEYS})
    assert maps.dtype == tf.float32 and np.isfinite(maps.numpy()).all()
    ins = [inputs[k] for k in GRAPH_KEYS]
    for node, edge in (("grad_cam", "gradient"), ("gradient", "gradient"), ("eb", "response"),
                       ("lrp", "response")):
        kw = {"alpha": 2.0, "beta": 1.0} if node == "lrp" else {}
        out = explain_graph(m.model, ins, target="true", y=y, node_method=node, edge_method=edge,
                            adjacency=inputs["adjacency"], **kw)
        for part in ("node", "edge"):
            assert out[part].dtype == tf.float32 and np.isfinite(out[part].numpy()).all(), (node, part)


def test_explanation_metrics_read_node_annotations(graphs):
    from keras_egl.metrics.graph import NodeExplanationMAE, node_explanation_mae

    m = _model("full", explanation_metrics=[(NodeExplanationMAE(), ("node_importance",))])
    inputs, y = pad_batch(graphs[:8], n_layers=2)
    logs = m.evaluate(inputs, y, batch_size=8, verbose=0, return_dict=True)
    maps = m.explain({k: tf.constant(v) for k, v in inputs.items() if k in ("x", "a_1", "a_2", "node_mask")})
    want = node_explanation_mae(inputs["node_importance"], maps, node_mask=inputs["node_mask"],
                                sample_weight=inputs["has_annotation"])
    assert np.isfinite(logs["node_explanation_mae"])
    np.testing.assert_allclose(logs["node_explanation_mae"], float(want), rtol=1e-5)
