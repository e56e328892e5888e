import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.layers.bean import BEANDense, BEANRegularized
from keras_egl.regularizers.bean import BEANRegularizer, bean_penalty
from keras_egl._compat import variable_path


def test_beandense_adds_penalty_on_inputs_and_kernel():
    layer = BEANDense(4, activation="relu", bean_alpha=2.5, bean_order=2, bean_normalize=False)
    x = tf.random.stateless_normal((6, 7), seed=(1, 1))
    y = layer(x)
    assert y.shape == (6, 4)
    assert len(layer.losses) == 1
    expected = 2.5 * bean_penalty(x, layer.kernel, order=2, normalize=False)
    np.testing.assert_allclose(layer.losses[0].numpy(), expected.numpy(), rtol=1e-6)
    # outputs equal a plain Dense with the same weights
    dense = keras.layers.Dense(4, activation="relu")
    dense.build((None, 7))
    dense.set_weights(layer.get_weights())
    np.testing.assert_allclose(dense(x).numpy(), y.numpy(), rtol=1e-6)


def test_beandense_gradient_reaches_upstream_and_kernel():
    inp = keras.Input((5,))
    h = keras.layers.Dense(6, activation="tanh", name="up")(inp)
    out = BEANDense(3, bean_alpha=1.0, name="bean")(h)
    model = keras.Model(inp, out)
    x = tf.random.stateless_normal((4, 5), seed=(2, 2))
    with tf.GradientTape() as tape:
        model(x)
        loss = tf.add_n(model.losses)
    grads = tape.gradient(loss, model.trainable_variables)
    names = [variable_path(v) for v in model.trainable_variables]
    g = dict(zip(names, grads))
    up_kernel = [n for n in names if n.startswith("up") and "kernel" in n][0]
    bean_kernel = [n for n in names if n.startswith("bean") and "kernel" in n][0]
    assert np.abs(g[up_kernel].numpy()).sum() > 0
    assert np.abs(g[bean_kernel].numpy()).sum() > 0


def test_beandense_config_roundtrip_and_saved_model(tmp_path):
    layer = BEANDense(3, activation="relu", bean_alpha=100.0, bean_order="cos", bean_gamma=0.5,
                      bean_divergence="abs", bean_normalize=False, name="b")
    cfg = layer.get_config()
    back = BEANDense.from_config(cfg)
    assert back.bean.get_config() == layer.bean.get_config()
    assert back.units == 3
    inp = keras.Input((5,))
    model = keras.Model(inp, BEANDense(3, bean=BEANRegularizer(1.0, order=2))(inp))
    x = np.random.default_rng(0).normal(size=(2, 5)).astype("float32")
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)
    assert isinstance(loaded.layers[-1], BEANDense)
    assert loaded.layers[-1].bean.order == 2


def test_wrapper_matches_beandense_and_roundtrips():
    dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.GlorotUniform(seed=1))
    bean = BEANRegularizer(alpha=3.0, order=1, normalize=False)
    wrapped = BEANRegularized(dense, bean=bean)
    x = tf.random.stateless_normal((5, 6), seed=(3, 3))
    y = wrapped(x)
    np.testing.assert_allclose(y.numpy(), dense(x).numpy(), rtol=1e-6)
    expected = 3.0 * bean_penalty(x, dense.kernel, order=1, normalize=False)
    np.testing.assert_allclose(wrapped.losses[0].numpy(), expected.numpy(), rtol=1e-6)
    cfg = wrapped.get_config()
    back = BEANRegularized.from_config(cfg)
    assert back.bean.get_config() == bean.get_config()
    assert isinstance(back.layer, keras.layers.Dense) and back.layer.units == 4
    with pytest.raises(TypeError, match="layer"):
        BEANRegularized(keras.layers.Conv2D(3, 3))


def test_fit_with_tracked_penalty_and_batch_of_one():
    inp = keras.Input((8,))
    h = BEANDense(6, activation="relu", bean_alpha=1.0, track_penalty=True, name="fc1")(inp)
    out = BEANDense(3, bean_alpha=1.0, bean_order=2, name="fc2")(h)
    model = keras.Model(inp, out)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(12, 8)).astype("float32")
    y = rng.integers(0, 3, size=12)
    hist = model.fit(x, y, batch_size=1, epochs=2, verbose=0)
    assert "fc1_bean" in hist.history
    assert all(np.isfinite(hist.history["loss"]))


def test_bad_inputs():
    with pytest.raises(ValueError, match="gamma"):
        BEANDense(3, bean_gamma=0.0)
    with pytest.raises(ValueError, match="order"):
        BEANDense(3, bean_order=5)
    with pytest.raises(TypeError, match="bean"):
        BEANDense(3, bean="yes")
