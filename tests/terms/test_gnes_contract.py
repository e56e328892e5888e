"""The term contract for GNES's graph terms (a graph-data version of keras_egl.testing.run_term_test).

For each term of :mod:`keras_egl.terms.gnes`: config round trip (``from_config``
and Keras (de)serialisation, same value), every ``*_key`` argument honoured
(data moved to the new key → same value; the new key on unmoved data → another
value), exactly 0 without annotations (absent key; has-label flags all 0 for the
supervision terms), and a clear error naming the key for bad graph inputs
inside ``fit`` (graph mode, static and unknown batch shapes).
"""

import numpy as np
import pytest

from keras_egl import terms
from keras_egl._keras import keras, tf
from keras_egl.data.molecules import assign_annotations, make_scene_graphs, pad_batch
from keras_egl.layers.graph import gcn_classifier
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.gnes import GNES
from keras_egl.terms.gnes import ConsistencyTerm, EdgeSupervision, NodeSupervision, SparsityTerm

TERMS = [("gnes_node", {}), ("gnes_node", {"distance": "l2", "weight": 2.0}), ("gnes_edge", {}),
         ("gnes_consistency", {}), ("gnes_consistency", {"anti_collapse": True, "upper_triangle": True}),
         ("gnes_sparsity", {})]
SUPERVISION = ("gnes_node", "gnes_edge")


@pytest.fixture(scope="module")
def batch():
    """Six padded scene graphs; annotated graphs carry masks, one annotated graph is switched off."""
    gs = make_scene_graphs(n_per_class=6, n_distractors=(3, 6), feature_dim=8, seed=0)
    assign_annotations(gs, np.arange(8), test_idx=np.arange(8, 12), fraction=0.75, seed=0)
    inputs, y = pad_batch(gs[:6], n_layers=2)
    has = inputs["has_annotation"].copy()
    on = np.flatnonzero(has)
    assert len(on) >= 2 and (has == 0).any(), has
    # A flag that differs from the mask-derived rule (non-zero annotation, flag 0):
    # the flag key is then observable.
    inputs["node_importance"][on[0]] = np.where(inputs["node_mask"][on[0]] > 0, 1.0, 0.0)
    inputs["edge_importance"][on[0]] = inputs["adjacency"][on[0]]
    has[on[0]] = 0.0
    inputs["has_annotation"] = has
    return inputs, y


def _backbone():
    return gcn_classifier(8, 2, hidden=(8, 6), seed=0)


def _model(term, fidelity="dissertation"):
    """A GNES with no preset term (backbone variant) and ``term`` appended."""
    return GNES(_backbone(), fidelity=fidelity, variant="backbone", terms=[term])


def _value(model, inputs, y):
    term = model.terms[-1]
    _, ctx = model.forward({k: tf.constant(v) for k, v in inputs.items()}, tf.constant(y), training=False)
    return float(term.value(ctx)) if term.is_active(ctx) else 0.0


def _keys(term):
    return {k: v for k, v in term.get_config().items() if k.endswith("_key")}


@pytest.mark.parametrize("name,kwargs", TERMS)
def test_graph_term_contract(batch, name, kwargs):
    inputs, y = batch
    make = lambda **kw: terms.get(name, **{**kwargs, **kw})  # noqa: E731
    term = make()
    model = _model(term)
    base = _value(model, inputs, y)
    assert np.isfinite(base) and base != 0.0, base

    # config round trip
    cfg = term.get_config()
    clone = type(term).from_config(cfg)
    assert clone.get_config() == cfg
    clone2 = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(term))
    assert type(clone2) is type(term) and clone2.get_config() == cfg
    for c in (clone, clone2):
        assert _value(_model(c), inputs, y) == pytest.approx(base, rel=1e-6, abs=1e-8)
    # the term lists exactly the keys it reads
    assert set(term.annotation_keys) == set(_keys(term).values())

    # every *_key honoured
    for arg, key in _keys(term).items():
        alt = f"alt_{key}"
        m_alt = _model(make(**{arg: alt}))
        moved = {(alt if k == key else k): v for k, v in inputs.items()}
        assert _value(m_alt, moved, y) == pytest.approx(base, rel=1e-6, abs=1e-8), arg
        unmoved = _value(m_alt, inputs, y)
        assert not np.isclose(unmoved, base, rtol=1e-6, atol=0.0), f"`{arg}` is not read"

    # exactly 0 without annotation
    for key in term.required_annotations:
        assert _value(model, {k: v for k, v in inputs.items() if k != key}, y) == 0.0, key
    if name in SUPERVISION:
        off = {**inputs, "has_annotation": np.zeros_like(inputs["has_annotation"])}
        assert _value(model, off, y) == 0.0
        # the model's own step reports exactly 0 as well
        _, ctx = model.forward(off, tf.constant(y))
        assert float(model.compute_terms(ctx)[term.name]) == 0.0


def _fit_error(model, bad, y, dynamic):
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    if dynamic:  # every dimension unknown when the step is traced (like graph_dataset)
        spec = {k: tf.TensorSpec([None] * np.ndim(v), tf.as_dtype(np.asarray(v).dtype)) for k, v in bad.items()}
        ds = tf.data.Dataset.from_generator(lambda: iter([(bad, y)]),
                                            output_signature=(spec, tf.TensorSpec((None,), tf.int32)))
    else:
        ds = tf.data.Dataset.from_tensors((bad, y))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError)) as info:
        model.fit(ds, epochs=1, verbose=0)
    return str(info.value)


def _nan_at_first(v):
    v = np.array(v, "float32")
    v.reshape(-1)[0] = np.nan
    return v


BAD = {
    "node_mask": [("wrong size", lambda v: v[:, :-1])],
    "node_importance": [("wrong size", lambda v: v[:, :-1]), ("NaN", _nan_at_first),
                        ("wrong rank", lambda v: v[..., None])],
    "edge_importance": [("wrong size", lambda v: v[:, :-1, :-1]), ("NaN", _nan_at_first)],
    "adjacency": [("wrong size", lambda v: v[:, :-1, :-1]), ("NaN", _nan_at_first)],
    "has_annotation": [("wrong length", lambda v: np.ones(len(v) + 1, "float32"))],
}
READS = {"gnes_node": ("node_mask", "node_importance", "has_annotation"),
         "gnes_edge": ("edge_importance", "adjacency", "has_annotation"),
         "gnes_consistency": ("adjacency",), "gnes_sparsity": ("adjacency",)}


@pytest.mark.parametrize("name", list(READS))
def test_bad_graph_inputs_name_the_key(batch, name):
    inputs, y = batch
    n = 0
    for key in READS[name]:
        for desc, mutate in BAD[key]:
            bad = {**inputs, key: mutate(inputs[key])}
            msg = _fit_error(_model(terms.get(name)), bad, y, dynamic=False)
            assert f"`{key}`" in msg, (name, key, desc, msg[-500:])
            n += 1
    assert n >= 1


@pytest.mark.parametrize("key,desc", [("node_mask", "wrong size"), ("node_importance", "wrong size"),
                                      ("node_importance", "NaN"), ("edge_importance", "wrong size"),
                                      ("adjacency", "wrong size"), ("has_annotation", "wrong length")])
def test_bad_graph_inputs_with_unknown_shapes_name_the_key(batch, key, desc):
    """Shapes unknown at trace time (graph_dataset batches): run-time checks name the key."""
    inputs, y = batch
    mutate = dict(BAD[key])[desc]
    m = GNES(_backbone(), fidelity="code", variant="full")
    msg = _fit_error(m, {**inputs, key: mutate(inputs[key])}, y, dynamic=True)
    assert f"`{key}`" in msg, msg[-500:]


def test_flags_absent_fall_back_to_non_zero_annotations(batch):
    """Without a flag key in the batch a graph is labelled when its annotation is non-zero (the code's rule)."""
    inputs, y = batch
    m = _model(NodeSupervision())
    no_flags = {k: v for k, v in inputs.items() if k != "has_annotation"}
    derived = (np.abs(inputs["node_importance"] * inputs["node_mask"]).sum(1) > 0).astype("float32")
    assert _value(m, no_flags, y) == pytest.approx(_value(m, {**inputs, "has_annotation": derived}, y), rel=1e-6)


def test_terms_on_a_plain_explanation_guided_model_equal_gnes(batch):
    """The terms work on any ExplanationGuidedModel wrapping a gcn_classifier (dissertation map defaults)."""
    inputs, y = batch
    gnes = GNES(_backbone(), fidelity="dissertation", variant="full")
    plain = ExplanationGuidedModel(_backbone(), terms=["gnes_node", "gnes_edge", "gnes_consistency",
                                                       "gnes_sparsity"],
                                   explained_layer="gcn_2", input_key=["x", "a_1", "a_2", "node_mask"],
                                   extra_keys=["node_importance", "edge_importance", "adjacency"])
    plain.model.set_weights(gnes.model.get_weights())
    data = {k: tf.constant(v) for k, v in inputs.items()}
    _, c1 = gnes.forward(data, tf.constant(y))
    _, c2 = plain.forward(data, tf.constant(y))
    v1, v2 = gnes.compute_terms(c1), plain.compute_terms(c2)
    assert set(v1) == set(v2) == {"node_loss", "edge_loss", "consistency", "sparsity"}
    for k in v1:
        np.testing.assert_allclose(float(v2[k]), float(v1[k]), rtol=1e-6, err_msg=k)
    with pytest.raises(ValueError, match="graph classifier"):
        bad = ExplanationGuidedModel(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]),
                                     terms=["gnes_sparsity"], extra_keys=["adjacency"])
        _, ctx = bad.forward({"x": np.ones((2, 3), "float32"), "adjacency": np.ones((2, 3, 3), "float32")},
                             tf.constant([0, 1]))
        bad.compute_terms(ctx)


def test_node_term_without_adjacency_computes_the_node_map_only(batch):
    inputs, y = batch
    m = _model(NodeSupervision())
    no_adj = {k: v for k, v in inputs.items() if k != "adjacency"}
    assert _value(m, no_adj, y) == pytest.approx(_value(m, inputs, y), rel=1e-6)


@pytest.mark.parametrize("cls,kwargs,match", [
    (NodeSupervision, {"distance": "l3"}, "`distance`"),
    (NodeSupervision, {"weight": -1.0}, "`weight`"),
    (NodeSupervision, {"node_key": ""}, "`node_key`"),
    (EdgeSupervision, {"adjacency_key": 3}, "`adjacency_key`"),
    (EdgeSupervision, {"flag_key": None}, "`flag_key`"),
    (ConsistencyTerm, {"anti_collapse": 1}, "`anti_collapse`"),
    (ConsistencyTerm, {"weight": float("nan")}, "`weight`"),
    (SparsityTerm, {"adjacency_key": None}, "`adjacency_key`"),
])
def test_bad_constructor_arguments(cls, kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        cls(**kwargs)


def test_old_import_location_still_works():
    from keras_egl.models import gnes as old

    assert old.NodeSupervision is NodeSupervision and old.EdgeSupervision is EdgeSupervision
    assert old.ConsistencyTerm is ConsistencyTerm and old.SparsityTerm is SparsityTerm
    assert terms.term_class("gnes_node") is NodeSupervision
