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
    hist = model.fit({"x": x, "neg_mask": F}, y, batch_size=8, epochs=2, verbose=0)
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
    res = model.evaluate({"x": x, "neg_mask": F}, y, verbose=0, return_dict=True)
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
        model.fit({"x": x, "neg_mask": np.zeros((4, 5, 5), "float32")}, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="mc_samples"):
        BayesianFeedbackModel(_tiny(4), "target", mc_samples=0)


def test_degenerate_target_layer_raises():
    inp = keras.Input((4, 4, 1))
    h = BayesianConv2D(2, 4, name="c")(inp)  # 1×1 grid
    out = BayesianDense(2)(keras.layers.Flatten()(h))
    m = BayesianFeedbackModel(keras.Model(inp, out), "c", n_train=4)
    m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="spatial extent"):
        m.fit({"x": np.zeros((2, 4, 4, 1), "float32"), "neg_mask": np.ones((2, 4, 4), "float32")}, np.zeros(2),
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


def test_bayesian_lenet_without_seed_follows_the_global_seed():
    # seed=None must not mean "unreproducible": the initial weights come from the global seed.
    def build(seed):
        keras.utils.set_random_seed(seed)
        return [w.numpy() for w in bayesian_lenet(conv_filters=(2, 2, 2), dense_units=4, seed=None).weights]

    first, again, other = build(3), build(3), build(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not all(np.array_equal(a, b) for a, b in zip(first, other))


def test_set_feedback_weight_retraces_and_updates_config():
    net = _tiny(3)
    model = _compiled(net, feedback_weight=0.0)
    x, y, F = _data(16)
    h0 = model.fit({"x": x, "neg_mask": F}, y, batch_size=16, epochs=1, verbose=0).history
    np.testing.assert_allclose(h0["loss"][0], h0["task_loss"][0] + h0["regularization_loss"][0], rtol=1e-4)
    model.set_feedback_weight("v3_decoy_position")
    assert model.feedback_weight == 3e-4 and model.get_config()["feedback_weight"] == "v3_decoy_position"
    h1 = model.fit({"x": x, "neg_mask": F}, y, batch_size=16, epochs=1, verbose=0).history
    assert h1["feedback_loss"][0] > 0
    np.testing.assert_allclose(h1["loss"][0], h1["task_loss"][0] + h1["regularization_loss"][0]
                               + 3e-4 * h1["feedback_loss"][0], rtol=1e-4)
    with pytest.raises(ValueError, match="feedback_weight"):
        model.set_feedback_weight("nope")


# --------------------------------------------------------------------------- the annotation vocabulary


def _plain_cnn(seed=0):
    """A plain functional Keras CNN (no Bayesian layers), as a user would bring it."""
    init = lambda i: keras.initializers.GlorotUniform(seed + i)  # noqa: E731
    inp = keras.Input((8, 8, 1), name="x")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1", kernel_initializer=init(0))(inp)
    h = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv2", kernel_initializer=init(1))(h)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    out = keras.layers.Dense(3, name="logits", kernel_initializer=init(2))(h)
    return keras.Model(inp, out)


def _img_data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 3, n)
    neg = np.zeros((n, 8, 8), "float32")
    neg[: n // 2, :3, :3] = 1  # a rejected corner on the first half
    return x, y, neg


def test_feedback_on_a_user_cnn_converted_with_to_bayesian():
    from keras_egl.layers.bayesian import to_bayesian

    net = _plain_cnn()
    bnn = to_bayesian(net, seed=0)
    model = BayesianFeedbackModel(bnn, target_layer="conv2", n_train=16, mc_samples=2, eval_mc_samples=2)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y, neg = _img_data()
    h = model.fit({"x": x, "neg_mask": neg}, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(h["loss"][0]) and h["feedback_loss"][0] > 0
    # Only the object given: F = 1 − pos_mask on annotated samples.
    pos = np.zeros_like(neg)
    pos[:4, 2:6, 2:6] = 1
    h = model.fit({"x": x, "pos_mask": pos}, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(h["loss"][0]) and h["feedback_loss"][0] > 0
    res = model.evaluate({"x": x, "neg_mask": neg}, y, verbose=0, return_dict=True)
    assert np.isfinite(res["loss"]) and res["feedback_loss"] > 0


def test_feedback_mask_derivation_and_flags():
    model = _compiled(_tiny(6))
    x, y, F = _data(8)
    ctx = lambda d: model._elbo(d, tf.constant(y), None, training=False)[1]  # noqa: E731
    # neg_mask as given
    np.testing.assert_array_equal(model.feedback_mask(ctx({"x": x, "neg_mask": F})).numpy(), F)
    # pos_mask only: 1 − pos on annotated samples (non-empty pos), 0 elsewhere
    pos = np.zeros_like(F)
    pos[:3, 2:, 2:] = 1
    want = (1 - pos) * pos.reshape(8, -1).any(1)[:, None, None]
    np.testing.assert_array_equal(model.feedback_mask(ctx({"x": x, "pos_mask": pos})).numpy(), want)
    # has_annotation = 0 → no feedback for that sample, even with a mask
    flags = np.array([1, 0, 1, 0, 1, 1, 1, 1], "float32")
    got = model.feedback_mask(ctx({"x": x, "neg_mask": F, "has_annotation": flags})).numpy()
    np.testing.assert_array_equal(got, F * flags[:, None, None])
    # neg_mask wins over pos_mask; no mask key → None (plain ELBO)
    np.testing.assert_array_equal(model.feedback_mask(ctx({"x": x, "neg_mask": F, "pos_mask": pos})).numpy(), F)
    assert model.feedback_mask(ctx({"x": x, "has_annotation": flags})) is None
    # fit with all flags 0 → zero feedback term
    h = model.fit({"x": x, "neg_mask": F, "has_annotation": np.zeros(8, "float32")}, y, batch_size=8, epochs=1,
                  verbose=0).history
    assert h["feedback_loss"][0] == 0


def test_derive_error_and_bad_masks_name_the_key():
    net = _tiny(7)
    x, y, F = _data(8)
    strict = _compiled(net, derive="error")
    with pytest.raises(ValueError, match=r"neg_mask.*pos_mask|pos_mask.*neg_mask"):
        strict.fit({"x": x, "pos_mask": F}, y, epochs=1, verbose=0)
    model = _compiled(_tiny(8))
    # graph mode (fit's tf.function): value checks are assertions naming the key
    with pytest.raises(tf.errors.InvalidArgumentError, match="neg_mask"):
        model.fit({"x": x, "neg_mask": F * 255}, y, epochs=1, verbose=0)
    nan = F.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(tf.errors.InvalidArgumentError, match="neg_mask"):
        model.fit({"x": x, "neg_mask": nan}, y, epochs=1, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="pos_mask"):
        model.fit({"x": x, "pos_mask": F * 255}, y, epochs=1, verbose=0)
    # (a retraced step may have generalised the shapes: then a run-time assertion, also naming the key)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="neg_mask.*spatial size"):
        model.fit({"x": x, "neg_mask": np.zeros((8, 5, 5), "float32")}, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="neg_mask.*spatial size"):
        _compiled(_tiny(8)).fit({"x": x, "neg_mask": np.zeros((8, 5, 5), "float32")}, y, epochs=1, verbose=0)
    # eager: ValueError naming the key
    with pytest.raises(ValueError, match="neg_mask"):
        model.feedback_mask(model._elbo({"x": x, "neg_mask": F * 255}, tf.constant(y), None, False)[1])
    # the old key is not read any more: an unknown key raises instead of switching feedback off
    with pytest.raises(ValueError, match=r"\['mask'\]"):
        model.fit({"x": x, "mask": F}, y, epochs=1, verbose=0)


def test_constructor_arguments_are_validated():
    net = _tiny(9)
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="feedback_weight"):
            BayesianFeedbackModel(net, "target", feedback_weight=bad)
    with pytest.raises(ValueError, match="feedback_weight"):
        BayesianFeedbackModel(net, "target", feedback_weight="nope")
    with pytest.raises(TypeError, match="feedback_weight"):
        BayesianFeedbackModel(net, "target", feedback_weight=[1.0])
    with pytest.raises(ValueError, match="explain_mc_samples"):
        BayesianFeedbackModel(net, "target", explain_mc_samples=-1)
    with pytest.raises(TypeError, match="eval_mc_samples"):
        BayesianFeedbackModel(net, "target", eval_mc_samples=2.0)
    with pytest.raises(ValueError, match="pool"):
        BayesianFeedbackModel(net, "target", pool="avg")
    with pytest.raises(ValueError, match="feedback_reduction"):
        BayesianFeedbackModel(net, "target", feedback_reduction="max")
    with pytest.raises(ValueError, match="nll_reduction"):
        BayesianFeedbackModel(net, "target", nll_reduction="mean")
    with pytest.raises(TypeError, match="gradient_filter"):
        BayesianFeedbackModel(net, "target", gradient_filter="yes")
    with pytest.raises(ValueError, match="derive"):
        BayesianFeedbackModel(net, "target", derive="union")
    with pytest.raises(ValueError, match="n_train"):
        BayesianFeedbackModel(net, "target", n_train=0)
    with pytest.raises(ValueError, match="distinct"):
        BayesianFeedbackModel(net, "target", neg_key="pos_mask")
    with pytest.raises(TypeError, match="neg_key"):
        BayesianFeedbackModel(net, "target", neg_key=None)
    with pytest.raises(ValueError, match="from_logits"):
        BayesianFeedbackModel(net, "target", from_logits=False)
    with pytest.raises(ValueError, match="feedback_loss"):
        BayesianFeedbackModel(net, "target", terms=[keras_egl_terms().get("gradia", name="feedback_loss")])
    with pytest.warns(DeprecationWarning, match="mask_key"):
        old = BayesianFeedbackModel(net, "target", mask_key="F")
    assert old.neg_key == "F" and "F" in old.annotation_keys
    with pytest.raises(ValueError, match="prior_stddev"):
        bayesian_lenet(prior_stddev=0.0)
    with pytest.raises(ValueError, match="bn_epsilon"):
        bayesian_alexnet_bn(input_shape=(32, 32, 3), width=0.125, fc_units=32, stem="small", bn_epsilon=0.0)
    with pytest.raises(ValueError, match="width"):
        bayesian_alexnet_bn(input_shape=(32, 32, 3), width=float("nan"), stem="small")


def keras_egl_terms():
    import keras_egl.terms

    return keras_egl.terms


def test_extra_terms_join_the_elbo_and_are_logged():
    net = _tiny(10)
    gradia = keras_egl_terms().get("gradia", weight=0.5)
    model = _compiled(net, terms=[gradia], feedback_weight=0.01)
    x, y, F = _data(8)
    pos = 1.0 - F  # object = everything but the rejected corner, on the annotated half
    pos[4:] = 0
    h = model.fit({"x": x, "neg_mask": F, "pos_mask": pos}, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(h["gradia_loss"][0]) and h["gradia_loss"][0] > 0 and h["feedback_loss"][0] > 0
    np.testing.assert_allclose(h["loss"][0], h["task_loss"][0] + h["regularization_loss"][0]
                               + 0.01 * h["feedback_loss"][0] + 0.5 * h["gradia_loss"][0], rtol=1e-5)
    # the term's annotation keys are accepted; without them it is 0
    h = model.fit({"x": x, "neg_mask": F}, y, batch_size=8, epochs=1, verbose=0).history
    assert h["feedback_loss"][0] > 0 and np.isfinite(h["gradia_loss"][0])
    h = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert h["gradia_loss"][0] == 0 and h["feedback_loss"][0] == 0
    res = model.evaluate({"x": x, "neg_mask": F, "pos_mask": pos}, y, verbose=0, return_dict=True)
    assert res["gradia_loss"] > 0
    clone = BayesianFeedbackModel.from_config(model.get_config())
    assert [t.name for t in clone.terms] == ["gradia_loss"] and clone.terms[0].weight == 0.5


def test_explain_defaults_to_mean_weight_grad_cam_with_mc_option():
    from keras_egl.explain.explainers import GradCAM
    from keras_egl.metrics.explanation import AttributionOverlap

    net = _tiny(11)
    model = _compiled(net, explanation_metrics=[(AttributionOverlap(name="overlap"), "neg_mask")])
    x, y, F = _data(8)
    assert isinstance(model.explainer_object, GradCAM) and model.explained_layer == "target"
    a, b = model.explain(x).numpy(), model.explain(x).numpy()
    np.testing.assert_array_equal(a, b)  # deterministic: mean weights
    assert a.shape == (8, 6, 6) and np.all(np.isfinite(a))
    with mean_weights(net):
        _, ctx = model.forward({"x": x})
        ref = GradCAM()(ctx).numpy()
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    # the layers are back in sampling mode
    assert all(float(l._mean_mode.numpy()) == 0.0 for l in (net.get_layer("target"), net.get_layer("out")))
    mc = model.explain(x, mc_samples=3).numpy()
    assert mc.shape == a.shape and np.all(np.isfinite(mc)) and not np.allclose(mc, a)
    # evaluation-time metrics use the same maps (graph mode)
    res = model.evaluate({"x": x, "neg_mask": F}, y, verbose=0, return_dict=True)
    assert np.isfinite(res["overlap"])
    h = model.fit({"x": x, "neg_mask": F}, y, epochs=1, verbose=0).history
    assert "overlap" not in h
    assert all(float(l._mean_mode.numpy()) == 0.0 for l in (net.get_layer("target"), net.get_layer("out")))


def test_config_round_trips_explainer_keys_and_metrics():
    from keras_egl.explain.explainers import GradCAM
    from keras_egl.metrics.explanation import AttributionOverlap

    net = _tiny(12)
    model = BayesianFeedbackModel(net, "target", n_train=20, explain_mc_samples=2, explainer=GradCAM(relu=False),
                                  neg_key="rejected", pos_key=None, flag_key="flag", derive="error",
                                  explanation_metrics=[(AttributionOverlap(name="ov"), "rejected")],
                                  extra_keys=("ids",))
    cfg = model.get_config()
    clone = BayesianFeedbackModel.from_config(cfg)
    assert clone.get_config() == cfg
    assert clone.explain_mc_samples == 2 and clone.explainer_object.relu is False
    assert (clone.neg_key, clone.pos_key, clone.flag_key, clone.derive) == ("rejected", None, "flag", "error")
    assert set(clone.annotation_keys) >= {"rejected", "flag"} and "pos_mask" not in clone.annotation_keys


def test_export_explain_signature_gives_the_mean_weight_maps(tmp_path):
    from keras_egl.models.export import export_saved_model

    model = _compiled(_tiny(13))
    x, _, _ = _data(8)
    export_saved_model(model, tmp_path / "bnn")
    loaded = tf.saved_model.load(str(tmp_path / "bnn"))
    maps = loaded.signatures["explain"](x=tf.constant(x))["maps"].numpy()
    np.testing.assert_allclose(maps, model.explain(x).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(maps, loaded.signatures["explain"](x=tf.constant(x))["maps"].numpy())
    assert loaded.signatures["serving_default"](x=tf.constant(x))["outputs"].shape == (8, 4)


# --------------------------------------------------------------------------- feedback_weight="auto"


def _auto_model(seed=0, optimizer=None, **kw):
    m = BayesianFeedbackModel(_tiny(seed), "target", n_train=100, feedback_weight="auto", **kw)
    m.compile(optimizer or keras.optimizers.Adam(1e-3),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def _auto_data(n, seed=0):
    """``_data`` with every other sample annotated, so every batch carries some evidence."""
    x, y, _ = _data(n, seed)
    F = np.zeros((n, 6, 6), "float32")
    F[::2, :2, :3] = 1
    return x, y, F


def _hand_auto_norms(model, x, y, F):
    """‖∇θ task‖₂ and ‖∇θ feedback_evidence_mean‖₂ of one batch, θ = the backbone's trainable variables."""
    theta = model.model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        _, _, task, _, fb, _, _, _ = model._elbo({"x": tf.constant(x), "neg_mask": tf.constant(F)},
                                                 tf.constant(y), None, training=True)
    # None (unconnected) counts 0: UnconnectedGradients.ZERO fails on Keras 3 variables (str dtype).
    norm = lambda t: float(np.sqrt(sum(np.sum(np.square(g.numpy()))  # noqa: E731
                                       for g in tape.gradient(t, theta) if g is not None)))
    return norm(task), norm(fb)


@pytest.mark.parametrize("fraction", [1.0, 0.5])
def test_auto_feedback_weight_equals_its_definition(fraction):
    """w_F = α · Σ_b ‖∇θ task_b‖ / Σ_b ‖∇θ evidence_b‖ over the first 5 steps, computed by hand.

    Exact by construction: the LRT layers run in mean-weight mode (``mean_weights``:
    the mode is a variable read by the traced step, so the pre-activations are
    their means and no noise enters) and the optimizer is SGD with learning rate
    0, so the 5 measured steps (5 distinct batches of 6, shuffle=False) see the
    same parameters as the hand computation, done beforehand with the model's
    own ``_elbo`` under an independent persistent tape. Then: the accumulators
    hold the hand sums, ``base = α · acc_task / acc_term``, the measuring epoch
    runs without the evidence (loss = task + KL) and the next one with it.
    """
    n, bs = 30, 6
    x, y, F = _auto_data(n, seed=1)
    model = _auto_model(optimizer=keras.optimizers.SGD(0.0),
                        **({} if fraction == 1.0 else {"feedback_auto_fraction": fraction}))
    net = model.model
    with mean_weights(net):
        norms = [_hand_auto_norms(model, x[i:i + bs], y[i:i + bs], F[i:i + bs]) for i in range(0, n, bs)]
        assert all(t > 0 and f > 0 for t, f in norms)
        sum_task, sum_fb = sum(t for t, _ in norms), sum(f for _, f in norms)
        # the ratio of sums is not the mean of the per-batch ratios here (the test can tell them apart)
        assert not np.isclose(sum_task / sum_fb, np.mean([t / f for t, f in norms]), rtol=1e-3)
        st = model._feedback_auto.weight_state
        assert float(st.base) == 0.0 and float(st.pending) == 5.0
        h = model.fit({"x": x, "neg_mask": F}, y, batch_size=bs, epochs=2, shuffle=False, verbose=0).history
    acc_task, acc_term, base = float(st.acc_task), float(st.acc_term), float(st.base)
    assert acc_task > 0 and acc_term > 0
    np.testing.assert_allclose(acc_task, sum_task, rtol=1e-5)
    np.testing.assert_allclose(acc_term, sum_fb, rtol=1e-5)
    np.testing.assert_allclose(base, fraction * acc_task / acc_term, rtol=1e-6)
    np.testing.assert_allclose(base, fraction * sum_task / sum_fb, rtol=1e-5)
    assert float(st.calibrated) == 1.0 and float(st.pending) == 0.0
    # epoch 1 = the 5 measuring steps: weight 0, the evidence is not in the loss (but is non-zero)
    assert h["feedback_loss"][0] != 0
    np.testing.assert_allclose(h["loss"][0], h["task_loss"][0] + h["regularization_loss"][0], rtol=1e-6)
    # epoch 2: the calibrated weight is in use
    assert h["feedback_loss_weight"] == [pytest.approx(base, rel=1e-6)] * 2
    np.testing.assert_allclose(h["loss"][1], h["task_loss"][1] + h["regularization_loss"][1]
                               + base * h["feedback_loss"][1], rtol=1e-5)
    assert not np.isclose(h["loss"][1], h["task_loss"][1] + h["regularization_loss"][1], rtol=1e-5)


def test_auto_feedback_weight_waits_five_steps_and_is_logged():
    """Stochastic (sampling) training with Adam: the rule's bookkeeping and the ``History`` log.

    4 steps in the first fit: nothing calibrated yet (weight 0, one step pending,
    loss = task + KL); the 5th step, in the next fit, completes the measurement.
    ``feedback_loss_weight`` in ``History`` is the weight in use at the end.
    """
    model = _auto_model(seed=2)
    st = model._feedback_auto.weight_state
    x, y, F = _auto_data(16, seed=2)
    h = model.fit({"x": x, "neg_mask": F}, y, batch_size=4, epochs=1, verbose=0).history
    assert float(st.base) == 0.0 and float(st.calibrated) == 0.0 and float(st.pending) == 1.0
    assert h["feedback_loss_weight"] == [0.0] and h["feedback_loss"][0] != 0
    np.testing.assert_allclose(h["loss"][0], h["task_loss"][0] + h["regularization_loss"][0], rtol=1e-6)
    h = model.fit({"x": x, "neg_mask": F}, y, batch_size=4, epochs=2, verbose=0).history
    acc_task, acc_term, base = float(st.acc_task), float(st.acc_term), float(st.base)
    assert acc_task > 0 and acc_term > 0 and base > 0
    assert float(st.calibrated) == 1.0 and float(st.pending) == 0.0
    np.testing.assert_allclose(base, acc_task / acc_term, rtol=1e-6)
    assert "feedback_loss_weight" in h and len(h["feedback_loss_weight"]) == 2
    assert h["feedback_loss_weight"][-1] == float(model._feedback_auto.loss_weight())
    assert h["feedback_loss_weight"][-1] == pytest.approx(base, rel=1e-6)
    # the second epoch of that fit runs entirely with the calibrated weight
    np.testing.assert_allclose(h["loss"][1], h["task_loss"][1] + h["regularization_loss"][1]
                               + base * h["feedback_loss"][1], rtol=1e-5)
    # a fixed weight adds no log
    fixed = _compiled(_tiny(2), feedback_weight=0.5)
    assert "feedback_loss_weight" not in fixed.fit({"x": x, "neg_mask": F}, y, batch_size=8, epochs=1,
                                                   verbose=0).history


def test_auto_feedback_weight_config_and_keras_save(tmp_path):
    model = _auto_model(seed=3, feedback_auto_fraction=0.5)
    cfg = model.get_config()
    assert cfg["feedback_weight"] == "auto" and cfg["feedback_auto_fraction"] == 0.5
    clone = BayesianFeedbackModel.from_config(cfg)
    assert clone.feedback_weight == "auto" and clone._feedback_auto is not None
    assert clone.feedback_auto_fraction == 0.5 and clone._feedback_auto.weight_state.auto_fraction == 0.5
    assert clone.get_config() == cfg
    default = _auto_model(seed=3)
    assert default.get_config()["feedback_weight"] == "auto"
    assert BayesianFeedbackModel.from_config(default.get_config()).feedback_auto_fraction == 1.0
    # the calibrated weight survives a .keras save/load exactly, and is not measured again
    x, y, F = _auto_data(24, seed=3)
    model.fit({"x": x, "neg_mask": F}, y, batch_size=4, epochs=1, verbose=0)
    st = model._feedback_auto.weight_state
    base = st.base.numpy()
    assert base > 0 and float(st.calibrated) == 1.0
    path = str(tmp_path / "bnn_auto.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(loaded, BayesianFeedbackModel) and loaded.get_config()["feedback_weight"] == "auto"
    lst = loaded._feedback_auto.weight_state
    assert lst.base.numpy() == base
    assert float(lst.calibrated) == 1.0 and float(lst.pending) == 0.0
    assert float(lst.acc_task) == float(st.acc_task) and float(lst.acc_term) == float(st.acc_term)
    h = loaded.fit({"x": x, "neg_mask": F}, y, batch_size=4, epochs=1, verbose=0).history
    assert h["feedback_loss_weight"] == [float(base)]
    assert lst.base.numpy() == base


def test_auto_feedback_weight_errors():
    fixed = _compiled(_tiny(4), feedback_weight=0.1)
    with pytest.raises(ValueError, match="feedback_weight"):
        fixed.set_feedback_weight("auto")
    assert fixed.feedback_weight == 0.1 and fixed._feedback_auto is None
    auto = _auto_model(seed=4)
    for new in (1.0, 0.0, "v3_isic"):
        with pytest.raises(ValueError, match="feedback_weight"):
            auto.set_feedback_weight(new)
    assert auto.feedback_weight == "auto" and auto.get_config()["feedback_weight"] == "auto"
    for bad in (0, 0.0, -1, -1.0, float("nan")):
        with pytest.raises(ValueError, match="feedback_auto_fraction"):
            BayesianFeedbackModel(_tiny(4), "target", feedback_weight="auto", feedback_auto_fraction=bad)
    for name in ("Auto", "automatic", "nope"):
        with pytest.raises(ValueError, match="preset must be one of"):
            BayesianFeedbackModel(_tiny(4), "target", feedback_weight=name)
