import numpy as np
import pytest

from keras_egl._keras import keras, tf

from keras_egl.layers.bayesian import BayesianConv2D, BayesianDense, mean_weights
from keras_egl.models.bayesian import (BayesianFeedbackModel, bayesian_alexnet_bn, bayesian_lenet,
                                       reduce_predictions)


def _tiny(seed=0):
    inp = keras.Input((6, 6, 1), name="x")
    h = BayesianConv2D(3, 3, padding="same", activation="relu", name="target", seed=seed,
                       kernel_mu_initializer=keras.initializers.GlorotUniform(seed))(inp)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    out = BayesianDense(4, name="out", seed=seed + 1, kernel_mu_initializer=keras.initializers.GlorotUniform(seed + 1))(h)
    return keras.Model(inp, out)


def _compiled(net, **kw):
    m = BayesianFeedbackModel(net, "target", n_train=100, **kw)
    m.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
    return m


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 4, n)
    F = np.zeros((n, 6, 6), "float32")
    F[: n // 2, :2, :3] = 1  # first half annotated, second half F = 0
    return x, y, F


def test_feedback_term_equals_hand_computation():
    net = _tiny()
    model = _compiled(net)
    x, y, F = _data()
    layer = net.get_layer("target")
    with mean_weights(net):
        logits, fb = model.mc_forward(tf.constant(x), tf.constant(F), m=1, training=False, clamp=True)
        # hand: moments, gradient filter, clamped forward
        xt = tf.constant(x)
        with tf.GradientTape() as tape:
            _, pre, mu, sd = layer(xt, return_moments=True)
            tape.watch(pre)
            h = tf.nn.relu(pre)
            rest = keras.Model(net.layers[2].input, net.output)
            out = rest(h)
            s = tf.reduce_sum(out)
        g = tape.gradient(s, pre).numpy()
        J = F  # the target grid equals the input grid: AdaptiveMaxPool is the identity
        flagged = (J[..., None] > 0) & (pre.numpy() != 0) & (g != 0)
        mu_n, sd_n = mu.numpy(), sd.numpy()
        nll = 0.5 * np.log(2 * np.pi) + np.log(sd_n) + 0.5 * (mu_n / sd_n) ** 2
        hand_fb = (nll * flagged).sum(axis=(1, 2, 3))
        clamped = tf.nn.relu(pre * (1 - flagged.astype("float32")))
        hand_logits = rest(clamped).numpy()
    assert flagged[: len(x) // 2].sum() > 0 and flagged[len(x) // 2:].sum() == 0
    np.testing.assert_allclose(fb.numpy(), hand_fb, rtol=1e-4)
    np.testing.assert_allclose(logits.numpy(), hand_logits, rtol=1e-5, atol=1e-6)
    assert np.all(fb.numpy()[len(x) // 2:] == 0)


def test_train_step_logs_and_reduces_loss_components():
    net = _tiny(1)
    model = _compiled(net, mc_samples=3, eval_mc_samples=2, feedback_weight=0.01)
    x, y, F = _data(16)
    hist = model.fit({"x": x, "mask": F}, y, batch_size=8, epochs=2, verbose=0)
    for key in ("loss", "task_loss", "regularization_loss", "feedback_loss", "accuracy"):
        assert key in hist.history and np.all(np.isfinite(hist.history[key]))
    h = hist.history
    assert h["feedback_loss"][0] > 0
    np.testing.assert_allclose(h["loss"][-1], h["task_loss"][-1] + h["regularization_loss"][-1]
                               + 0.01 * h["feedback_loss"][-1], rtol=0.05)
    # KL/n with n = 100
    kl = sum(float(l.kl_divergence()) for l in (net.get_layer("target"), net.get_layer("out")))
    np.testing.assert_allclose(h["regularization_loss"][-1], kl / 100, rtol=0.05)
    # plain ELBO (no mask key) has zero feedback term
    hist2 = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert hist2.history["feedback_loss"][0] == 0
    res = model.evaluate({"x": x, "mask": F}, y, verbose=0, return_dict=True)
    assert np.isfinite(res["loss"]) and res["feedback_loss"] > 0
    assert model.predict(x, verbose=0).shape == (16, 4)


def test_n_train_inferred_from_fit():
    net = _tiny(2)
    model = BayesianFeedbackModel(net, "target")
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y, _ = _data(10)
    model.fit(x, y, epochs=1, verbose=0, batch_size=5)
    assert model.n_train == 10
    np.testing.assert_allclose(net.get_layer("out").kl_weight, 0.1, rtol=1e-6)


def test_predictive_reductions():
    logits = tf.constant(np.random.default_rng(0).normal(size=(3 * 2, 4)).astype("float32"))
    per = logits.numpy().reshape(3, 2, 4)
    np.testing.assert_allclose(reduce_predictions(logits, 3, "mean_logits").numpy(), per.mean(0), rtol=1e-6)
    probs = np.exp(per) / np.exp(per).sum(-1, keepdims=True)
    np.testing.assert_allclose(np.exp(reduce_predictions(logits, 3, "mean_probs").numpy()), probs.mean(0), rtol=1e-5)
    with pytest.raises(ValueError, match="predictive_reduction"):
        reduce_predictions(logits, 3, "median")


def test_bad_inputs():
    net = _tiny(3)
    with pytest.raises(ValueError, match="BayesianConv2D"):
        BayesianFeedbackModel(net, "out")
    with pytest.raises(ValueError, match="target_layer"):
        BayesianFeedbackModel(net, "nope")
    model = _compiled(net)
    x, y, _ = _data(4)
    with pytest.raises(ValueError, match="spatial size"):
        model.fit({"x": x, "mask": np.zeros((4, 5, 5), "float32")}, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="mc_samples"):
        BayesianFeedbackModel(_tiny(4), "target", mc_samples=0)


def test_degenerate_target_layer_raises():
    inp = keras.Input((4, 4, 1))
    h = BayesianConv2D(2, 4, name="c")(inp)  # 1×1 grid
    out = BayesianDense(2)(keras.layers.Flatten()(h))
    m = BayesianFeedbackModel(keras.Model(inp, out), "c", n_train=4)
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="spatial extent"):
        m.fit({"x": np.zeros((2, 4, 4, 1), "float32"), "mask": np.ones((2, 4, 4), "float32")}, np.zeros(2),
              epochs=1, verbose=0)


def test_config_round_trip_and_builders():
    net = _tiny(5)
    model = BayesianFeedbackModel(net, "target", n_train=50, mc_samples=2, feedback_weight="v3_isic",
                                  predictive_reduction="mean_probs", pool="erode", gradient_filter=False)
    cfg = model.get_config()
    clone = BayesianFeedbackModel.from_config(cfg)
    assert clone.feedback_weight == 1e-5 and clone.pool == "erode" and not clone.gradient_filter
    assert clone.get_config()["target_layer"] == "target" and clone.n_train == 50
    lenet = bayesian_lenet(seed=0)
    assert lenet.get_layer("conv3").compute_output_shape((None, 7, 7, 16))[1:3] == (7, 7)
    assert lenet.output_shape == (None, 10)
    alex = bayesian_alexnet_bn(input_shape=(32, 32, 3), width=0.125, fc_units=32, stem="small", seed=0)
    assert alex.get_layer("conv5").output_shape[1:3] == (8, 8)
    assert not any(l.name == "bn5" for l in alex.layers)
    alex_bn = bayesian_alexnet_bn(input_shape=(32, 32, 3), width=0.125, fc_units=32, stem="small",
                                  target_batchnorm=True)
    assert any(l.name == "bn5" for l in alex_bn.layers)
    bn = alex.get_layer("bn1")  # PyTorch's defaults (momentum 0.1 there = 0.9 here, eps 1e-5), as the thesis
    assert bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="bn_momentum"):
        bayesian_alexnet_bn(input_shape=(32, 32, 3), width=0.125, fc_units=32, stem="small", bn_momentum=1.0)


def test_set_feedback_weight_retraces_and_updates_config():
    net = _tiny(3)
    model = _compiled(net, feedback_weight=0.0)
    x, y, F = _data(16)
    h0 = model.fit({"x": x, "mask": F}, y, batch_size=16, epochs=1, verbose=0).history
    np.testing.assert_allclose(h0["loss"][0], h0["task_loss"][0] + h0["regularization_loss"][0], rtol=1e-4)
    model.set_feedback_weight("v3_decoy_position")
    assert model.feedback_weight == 3e-4 and model.get_config()["feedback_weight"] == "v3_decoy_position"
    h1 = model.fit({"x": x, "mask": F}, y, batch_size=16, epochs=1, verbose=0).history
    assert h1["feedback_loss"][0] > 0
    np.testing.assert_allclose(h1["loss"][0], h1["task_loss"][0] + h1["regularization_loss"][0]
                               + 3e-4 * h1["feedback_loss"][0], rtol=1e-4)
    with pytest.raises(ValueError, match="feedback_weight"):
        model.set_feedback_weight("nope")
