import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.models.base import (ExplanationGuidedModel, ExplanationTerm, annotation_flags,
                                   check_annotation)
from keras_egl.models.export import export_saved_model


@keras.saving.register_keras_serializable(package="keras_egl_tests")
class GradPenalty(ExplanationTerm):
    """Σ (mask ⊙ ∂ Σ log p / ∂x)² averaged over the batch (an RRR-like test term)."""

    default_name = "grad_penalty"
    required_annotations = ("mask",)

    def compute(self, ctx):
        g = ctx.input_gradients("sum_log_prob")
        mask = tf.cast(check_annotation(ctx.annotation("mask"), g, "mask", spatial_rank=2), g.dtype)
        per = tf.reduce_sum(tf.square(mask[..., None] * g), [1, 2, 3])
        return tf.reduce_mean(per)


@keras.saving.register_keras_serializable(package="keras_egl_tests")
class CamL1(ExplanationTerm):
    default_name = "cam_l1"
    required_annotations = ("mask",)

    def __init__(self, cam_weights="detached", **kw):
        super().__init__(**kw)
        self.cam_weights = cam_weights

    def compute(self, ctx):
        cam = ctx.grad_cam(target="true", cam_weights=self.cam_weights, upsample="bilinear")
        mask = tf.cast(check_annotation(ctx.annotation("mask"), cam, "mask"), cam.dtype)
        flags = ctx.flags("mask")
        per = tf.reduce_mean(tf.abs(cam - mask), [1, 2]) * flags
        return tf.math.divide_no_nan(tf.reduce_sum(per), tf.reduce_sum(flags))

    def get_config(self):
        return {**super().get_config(), "cam_weights": self.cam_weights}


def cnn(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(3)(h))


def data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 3, n)
    mask = (rng.uniform(size=(n, 8, 8)) > 0.6).astype(np.float32)
    mask[::4] = 0  # unannotated samples
    return x, y, mask


def make(terms, seed=0, **kw):
    egl = ExplanationGuidedModel(cnn(seed), terms=terms, explained_layer="conv", **kw)
    egl.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return egl


def test_fit_logs_every_term_and_total():
    x, y, mask = data()
    egl = make([GradPenalty(weight=2.0), CamL1(weight=0.5)])
    hist = egl.fit({"x": x, "mask": mask}, y, batch_size=8, epochs=1, verbose=0).history
    assert set(hist) == {"loss", "task_loss", "grad_penalty", "cam_l1", "accuracy"}
    # the epoch's `loss` is the minimised total, not the task loss alone
    np.testing.assert_allclose(hist["loss"][0], hist["task_loss"][0] + 2.0 * hist["grad_penalty"][0]
                               + 0.5 * hist["cam_l1"][0], rtol=1e-5)
    logs = egl.evaluate({"x": x, "mask": mask}, y, batch_size=32, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["task_loss"] + 2.0 * logs["grad_penalty"] + 0.5 * logs["cam_l1"],
                               rtol=1e-5)


def test_missing_annotations_mean_zero_terms_not_a_crash():
    x, y, _ = data()
    egl = make([GradPenalty(), CamL1()])
    logs = egl.evaluate(x, y, verbose=0, return_dict=True)  # plain tensor input
    assert logs["grad_penalty"] == 0 and logs["cam_l1"] == 0
    assert logs["loss"] == pytest.approx(logs["task_loss"])
    logs = egl.evaluate({"x": x}, y, verbose=0, return_dict=True)  # dict without the mask
    assert logs["cam_l1"] == 0
    egl.fit({"x": x}, y, epochs=1, verbose=0)


def test_has_annotation_flag_gates_samples():
    x, y, mask = data()
    egl = make([CamL1()])
    full = egl.evaluate({"x": x, "mask": mask}, y, batch_size=32, verbose=0, return_dict=True)["cam_l1"]
    flags = np.zeros(len(x), np.float32)
    none = egl.evaluate({"x": x, "mask": mask, "has_annotation": flags}, y, batch_size=32, verbose=0,
                        return_dict=True)["cam_l1"]
    assert full > 0 and none == 0
    np.testing.assert_array_equal(annotation_flags(mask).numpy(), (mask.reshape(len(x), -1).max(1) > 0))


def test_terms_change_training():
    x, y, mask = data()
    a = make([CamL1(weight=0.0)], seed=1)
    b = make([CamL1(weight=5.0)], seed=1)
    a.fit({"x": x, "mask": mask}, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    b.fit({"x": x, "mask": mask}, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    ea = a.evaluate({"x": x, "mask": mask}, y, verbose=0, return_dict=True)["cam_l1"]
    eb = b.evaluate({"x": x, "mask": mask}, y, verbose=0, return_dict=True)["cam_l1"]
    assert eb < ea


def test_bad_inputs_are_named():
    x, y, mask = data()
    egl = make([CamL1()])
    with pytest.raises(ValueError, match="mask"):
        egl.evaluate({"x": x, "mask": mask[:, :4, :4]}, y, verbose=0)
    with pytest.raises(ValueError, match="input key"):
        egl.evaluate({"image": x, "mask": mask}, y, verbose=0)
    with pytest.raises(ValueError, match="not a layer"):
        ExplanationGuidedModel(cnn(), explained_layer="nope")
    with pytest.raises(ValueError, match="unknown term 'x'"):
        ExplanationGuidedModel(cnn(), terms=["x"])
    with pytest.raises(TypeError, match="term"):
        ExplanationGuidedModel(cnn(), terms=[3])
    with pytest.raises(ValueError, match=r"\['masks'\].*extra_keys"):
        egl.fit({"x": x, "masks": mask}, y, verbose=0)
    with pytest.raises(ValueError, match="has_annotation.*7"):
        egl.fit({"x": x[:8], "mask": mask[:8], "has_annotation": np.ones(7)}, y[:8], verbose=0)
    with pytest.raises(ValueError, match="unique"):
        ExplanationGuidedModel(cnn(), terms=[CamL1(), CamL1()])
    with pytest.raises(ValueError, match="weight"):
        CamL1(weight=-1)
    with pytest.raises(TypeError, match="mask"):
        check_annotation(tf.constant(["a"]), tf.zeros((1,)), "mask")


def test_mirrored_strategy_matches_single_device(mirrored_strategy):
    devices = tf.config.list_logical_devices("CPU")
    assert len(devices) >= 2, "conftest should create two logical CPU devices"
    x, y, mask = data(16)

    def run(strategy):
        with strategy.scope():
            egl = make([GradPenalty(weight=1.0), CamL1(weight=1.0)], seed=3)
        hist = egl.fit({"x": x, "mask": mask}, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
        return hist, egl.get_weights()

    h1, w1 = run(tf.distribute.OneDeviceStrategy(devices[0].name))
    h2, w2 = run(mirrored_strategy)
    for key in ("loss", "task_loss", "grad_penalty", "cam_l1"):
        np.testing.assert_allclose(h1[key], h2[key], rtol=1e-4, atol=1e-6)
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_jit_compile_gives_same_loss():
    x, y, mask = data(16)
    a = make([GradPenalty(), CamL1()], seed=5)
    b = ExplanationGuidedModel(cnn(5), terms=[GradPenalty(), CamL1()], explained_layer="conv")
    b.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              jit_compile=True)
    ha = a.fit({"x": x, "mask": mask}, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    hb = b.fit({"x": x, "mask": mask}, y, batch_size=16, epochs=2, shuffle=False, verbose=0).history
    np.testing.assert_allclose(ha["loss"], hb["loss"], rtol=1e-3)


def test_get_config_round_trip_and_keras_save(tmp_path):
    x, y, mask = data(8)
    egl = make([GradPenalty(weight=0.3), CamL1(weight=0.7, cam_weights="second_order")])
    egl.fit({"x": x, "mask": mask}, y, epochs=1, verbose=0)
    clone = ExplanationGuidedModel.from_config(egl.get_config())
    assert [t.get_config() for t in clone.terms] == [t.get_config() for t in egl.terms]
    clone.set_weights(egl.get_weights())
    np.testing.assert_allclose(clone.predict({"x": x}, verbose=0), egl.predict({"x": x}, verbose=0), atol=1e-6)
    path = tmp_path / "m.keras"
    egl.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict({"x": x}, verbose=0), egl.predict({"x": x}, verbose=0), atol=1e-6)
    np.testing.assert_allclose(loaded.explain(x).numpy(), egl.explain(x).numpy(), atol=1e-5)


def test_saved_model_reloads_in_fresh_process(tmp_path):
    x, y, mask = data(8)
    egl = make([CamL1()])
    egl.fit({"x": x, "mask": mask}, y, epochs=1, verbose=0)
    export_saved_model(egl, tmp_path / "sm")
    np.save(tmp_path / "x.npy", x)
    expected_pred = egl.predict({"x": x}, verbose=0)
    expected_maps = egl.explain(x).numpy()
    assert expected_maps.shape == (8, 8, 8)
    script = textwrap.dedent(f"""
        import json, numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / 'sm')!r})
        x = tf.constant(np.load({str(tmp_path / 'x.npy')!r}))
        out = m.signatures["serving_default"](x=x)
        ex = m.signatures["explain"](x=x)
        np.save({str(tmp_path / 'pred.npy')!r}, out["outputs"].numpy())
        np.save({str(tmp_path / 'maps.npy')!r}, ex["maps"].numpy())
        print(json.dumps(sorted(m.signatures.keys())))
    """)
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout.strip().splitlines()[-1]) == ["explain", "serving_default"]
    np.testing.assert_allclose(np.load(tmp_path / "pred.npy"), expected_pred, atol=1e-5)
    np.testing.assert_allclose(np.load(tmp_path / "maps.npy"), expected_maps, atol=1e-5)


def test_nan_inputs_are_reported():
    x, y, mask = data(8)
    egl = make([CamL1()])
    bad = x.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        egl.explain(bad)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN"):
        egl.fit({"x": bad, "mask": mask}, y, epochs=1, verbose=0)
