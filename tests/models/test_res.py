import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.models.backbones import SMALL_CNN_LAYER, build_resnet50, build_small_cnn, cam_size
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.haics import HAICSModel, HAICSTerm
from keras_egl.models.res import RESModel, RESTerm


def _data(n=8, size=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3)).astype("float32")
    y = rng.integers(0, 2, n)
    pos = np.zeros((n, size, size), "float32")
    pos[:, 4:12, 4:12] = 1
    neg = np.zeros_like(pos)
    neg[:, 20:28, 20:28] = 1
    return {"x": x, "pos_mask": pos, "neg_mask": neg}, y


def _net(size=32):
    return build_small_cnn((size, size, 3), filters=(4, 4, 4), cam_filters=4, seed=0)


def _compile(m):
    m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def test_backbones():
    net = _net()
    assert cam_size(net, SMALL_CNN_LAYER) == (4, 4)
    with pytest.raises(ValueError, match="download"):
        build_resnet50(weights="imagenet")
    with pytest.raises(ValueError, match="exist"):
        build_resnet50(weights="/nonexistent/w.h5")


@pytest.mark.slow
def test_resnet50_layer_is_7x7():
    net = build_resnet50((224, 224, 3), num_classes=2, weights=None)
    assert cam_size(net, "conv5_block3_out") == (7, 7) and net.output_shape == (None, 2)


@pytest.mark.parametrize("preset,fidelity", [("RES-G", "code"), ("RES-L", "paper")])
def test_res_model_trains_and_logs(preset, fidelity):
    data, y = _data()
    egl = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset=preset, fidelity=fidelity))
    hist = egl.fit(data, y, epochs=2, batch_size=4, verbose=0)
    assert {"loss", "task_loss", "res_loss"} <= set(hist.history)
    assert np.isfinite(hist.history["res_loss"]).all() and hist.history["res_loss"][0] > 0
    ev = egl.evaluate(data, y, verbose=0, return_dict=True)
    assert {"explanation_iou", "explanation_f1"} <= set(ev)
    assert egl.explain(data["x"][:2]).shape == (2, 32, 32)


def test_res_l_trains_imputation_jointly():
    data, y = _data()
    # Irregular masks: a grid-aligned square gives a binary imputation whose min–max
    # normalisation has an exactly zero gradient (ties), which would test nothing.
    data["pos_mask"][:] = 0
    for i in range(len(y)):
        data["pos_mask"][i, 3 + i % 3:13 + i % 4, 5:17 - i % 5] = 1
    egl = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset="RES-L"))
    layer = egl.terms[0].layer
    assert any(v is layer.kernel for v in egl.trainable_variables)
    before = layer.kernel.numpy().copy()
    egl.fit(data, y, epochs=1, batch_size=8, verbose=0)
    assert not np.allclose(before, layer.kernel.numpy())


def test_unannotated_batch_gives_zero_term():
    data, y = _data()
    data["pos_mask"][:] = 0
    data["neg_mask"][:] = 0
    egl = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset="RES-G", explanation_metrics=[]))
    ev = egl.evaluate(data, y, verbose=0, return_dict=True)
    assert ev["res_loss"] == 0.0
    # A batch without the mask key at all is fine too (term absent → 0).
    ev = egl.evaluate({"x": data["x"]}, y, verbose=0, return_dict=True)
    assert ev["res_loss"] == 0.0


def test_wrong_mask_size_raises():
    data, y = _data()
    egl = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset="RES-G", explanation_metrics=[]))
    data["pos_mask"] = data["pos_mask"][:, :16, :16]
    with pytest.raises(ValueError, match="spatial size"):
        egl.evaluate(data, y, verbose=0)


def test_term_config_round_trip():
    t = RESTerm(weight=0.5, imputation="shallow", imputation_inputs="FC", imputation_regularization=0.1)
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(t))
    assert back.get_config() == t.get_config()
    h = HAICSTerm(code_unmasked_bce=True)
    assert keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(h)).get_config() == h.get_config()


def test_res_model_from_config_same_outputs():
    data, y = _data()
    egl = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset="RES-L"))
    egl.fit(data, y, epochs=1, batch_size=8, verbose=0)
    clone = RESModel.from_config(egl.get_config())
    clone(data)
    clone.set_weights(egl.get_weights())
    np.testing.assert_allclose(clone.predict(data["x"], verbose=0), egl.predict(data["x"], verbose=0), atol=1e-5)
    assert clone.preset == "RES-L" and clone.fidelity == "code"


def test_batched_cam_term_equals_per_sample_cam_term():
    """The batched CAM from the training pass equals per-sample CAMs (no BatchNorm in the net)."""
    data, y = _data(n=4)
    net = _net()
    term = RESTerm(imputation="gaussian")
    egl = ExplanationGuidedModel(net, terms=[term], explained_layer=SMALL_CNN_LAYER)
    _, ctx = egl.forward(data, tf.constant(y))
    batched = term.cam(ctx).numpy()
    for i in range(4):
        one = {k: v[i:i + 1] for k, v in data.items()}
        _, c1 = egl.forward(one, tf.constant(y[i:i + 1]))
        np.testing.assert_allclose(term.cam(c1).numpy()[0], batched[i], atol=1e-5)


def test_haics_model_trains():
    data, y = _data()
    egl = _compile(HAICSModel(_net(), SMALL_CNN_LAYER))
    hist = egl.fit(data, y, epochs=1, batch_size=4, verbose=0)
    assert np.isfinite(hist.history["haics_loss"]).all() and hist.history["haics_loss"][0] > 0
