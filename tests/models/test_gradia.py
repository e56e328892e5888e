import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.models.backbones import SMALL_CNN_LAYER, build_small_cnn
from keras_egl.models.gradia import (GRADIAModel, GRADIATerm, ReasonabilityMatrix, judge_reasonability,
                                     two_phase_fit)


def _data(n=8, size=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3)).astype("float32")
    y = rng.integers(0, 2, n)
    pos = np.zeros((n, size, size), "float32")
    pos[:, 4:12, 4:12] = 1
    return {"x": x, "pos_mask": pos}, y


def _model(**kw):
    net = build_small_cnn((32, 32, 3), filters=(4, 4, 4), cam_filters=4, seed=0)
    m = GRADIAModel(net, SMALL_CNN_LAYER, **kw)
    m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def test_reasonability_matrix_counts_and_rates():
    rm = ReasonabilityMatrix([0, 1, 1, 0, 1], [0, 1, 0, 1, 1], [True, False, True, False, True])
    assert rm.counts == {"RA": 2, "UA": 1, "RIA": 1, "UIA": 1}
    assert rm.p1 == pytest.approx(0.4) and rm.accuracy == pytest.approx(0.6) and rm.p2 == pytest.approx(0.6)
    p, a = rm.weights()
    np.testing.assert_allclose(p, [1, 0.4, 0.8, 1, 1])
    np.testing.assert_allclose(a, [0, 1.6, 0.2, 1, 0])
    with pytest.raises(ValueError, match="one entry"):
        ReasonabilityMatrix([0, 1], [0], [True, True])


def test_attention_weights_follow_reasonability():
    data, y = _data(n=4)
    egl = _model()
    term = egl.terms[0]
    data["reasonability"] = np.array([0, 2, 3, 4], np.int32)
    _, ctx = egl.forward(data, tf.constant(y))
    np.testing.assert_allclose(term.attention_weights(ctx).numpy(), [0, 1.6, 0.2, 1])
    # Without reasonability labels every annotated sample weighs 1.
    del data["reasonability"]
    _, ctx = egl.forward(data, tf.constant(y))
    np.testing.assert_allclose(term.attention_weights(ctx).numpy(), [1, 1, 1, 1])


def test_prediction_weights_scale_task_loss():
    data, y = _data(n=4)
    egl = _model()
    # All-UA labels: prediction weight 0.4 on every sample → task loss × 0.4 in the step.
    data["reasonability"] = np.full(4, 2, np.int32)
    w0 = egl.get_weights()
    logs_w = egl.train_on_batch(data, y, return_dict=True)
    egl.set_weights(w0)
    egl.reset_metrics()
    del data["reasonability"]
    logs_u = egl.train_on_batch(data, y, return_dict=True)
    assert logs_w["task_loss"] == pytest.approx(0.4 * logs_u["task_loss"], rel=1e-4)


def test_judge_and_two_phase_fit_runs_without_test_set():
    train, y = _data(n=8, seed=0)
    fb, yf = _data(n=6, seed=1)
    sel, ys = _data(n=6, seed=2)
    egl = _model()
    out = two_phase_fit(egl, train, y, fb, yf, sel, ys, phase1_epochs=1, phase2_epochs=1, batch_size=4)
    assert out["matrix"].n == 6 and sum(out["matrix"].counts.values()) == 6
    assert "val_explanation_iou" in out["phase2"]
    maps = np.zeros((2, 4, 4), "float32")
    maps[0, :2, :2] = 1
    masks = np.zeros((2, 4, 4), "float32")
    masks[:, :2, :2] = 1
    np.testing.assert_array_equal(judge_reasonability(maps, masks), [True, False])


def test_term_config_round_trip():
    t = GRADIATerm(weight=2.0, resize="nearest", reasonability_table={"UA": (0.5, 1.5)}, pos_key="obj")
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(t))
    assert back.get_config() == t.get_config()
    assert back.reasonability_table == {"UA": (0.5, 1.5)} and back.pos_key == "obj"
    # `weights=` is the deprecated name of `reasonability_table`; the attribute
    # must not shadow keras.layers.Layer.weights.
    with pytest.warns(DeprecationWarning, match="reasonability_table"):
        old = GRADIATerm(weights={"UA": (0.5, 1.5)})
    assert old.reasonability_table == {"UA": (0.5, 1.5)} and old.weights == []
    with pytest.raises(ValueError, match="reasonability_table"):
        GRADIATerm(reasonability_table={"XX": (1, 1)})


def test_model_alias_and_config_round_trip():
    with pytest.warns(DeprecationWarning):
        egl = _model(weights={"UA": (0.5, 1.5)}, terms=["haics"])
    assert [t.name for t in egl.terms] == ["gradia_loss", "haics_loss"]  # user terms are appended
    cfg = egl.get_config()
    clone = GRADIAModel.from_config(cfg)
    assert [t.name for t in clone.terms] == ["gradia_loss", "haics_loss"]
    assert clone.reasonability_table == {"UA": (0.5, 1.5)}
    with pytest.raises(ValueError, match="resize"):
        _model(preset=None, resize="nearest", terms=[GRADIATerm()])


def test_out_of_range_reasonability_code_is_rejected():
    data, y = _data(n=4)
    egl = _model()
    data["reasonability"] = np.array([0, 2, 7, 1], np.int32)
    # Eagerly (the term and the model's prediction weights) ...
    _, ctx = egl.forward(data, tf.constant(y))
    with pytest.raises(ValueError, match="`reasonability`"):
        egl.terms[0].attention_weights(ctx)
    # ... and inside fit (graph mode): a clear message, not a GatherV2 error.
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="`reasonability`"):
        egl.fit(data, y, epochs=1, batch_size=4, verbose=0)
    data["reasonability"] = np.array([0, 2, -1, 1], np.int32)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="`reasonability`"):
        egl.fit(data, y, epochs=1, batch_size=4, verbose=0)
    data["reasonability"] = np.array([0, 2, 1], np.int32)
    with pytest.raises(ValueError, match="reasonability"):
        egl.fit(data, y, epochs=1, batch_size=4, verbose=0)
