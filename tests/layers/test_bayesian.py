import warnings

import numpy as np
import pytest

from keras_egl._keras import keras, tf
import tensorflow_probability as tfp  # noqa: E402

from keras_egl.layers import bayesian as lb
from keras_egl.layers.bayesian import (BayesianConv2D, BayesianDense, clamp_preactivations, mean_weights,
                                       record_moments, set_kl_weight)

tfd = tfp.distributions


def _randomize(layer, seed=0):
    rng = np.random.default_rng(seed)
    for v in (layer.kernel_mu, layer.bias_mu):
        v.assign(rng.normal(0, 0.5, v.shape).astype("float32"))
    for v in (layer.kernel_rho, layer.bias_rho):
        v.assign(rng.uniform(-3, -1, v.shape).astype("float32"))


def test_dense_moments_closed_form():
    layer = BayesianDense(3, seed=1, kl_weight=0.0)
    x = np.random.default_rng(1).normal(size=(4, 5)).astype("float32")
    layer(x)
    _randomize(layer)
    _, pre, mu, sd = layer(x, return_moments=True)
    M, b = layer.kernel_mu.numpy(), layer.bias_mu.numpy()
    sw = np.log1p(np.exp(layer.kernel_rho.numpy())) + 1e-8
    sb = np.log1p(np.exp(layer.bias_rho.numpy())) + 1e-8
    np.testing.assert_allclose(mu.numpy(), x @ M + b, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(sd.numpy() ** 2, (x ** 2) @ sw ** 2 + sb ** 2, rtol=1e-4, atol=1e-6)


def test_conv_moments_closed_form_and_mc_weight_sampling():
    layer = BayesianConv2D(2, 3, padding="valid", seed=3, kl_weight=0.0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(1, 5, 5, 2)).astype("float32")
    layer(x)
    _randomize(layer, 4)
    _, _, mu, sd = layer(x, return_moments=True)
    M, b = layer.kernel_mu.numpy(), layer.bias_mu.numpy()
    sw = layer.kernel_sigma.numpy()
    sb = layer.bias_sigma.numpy()
    # Monte Carlo over *weights* (no LRT): the LRT moments are the exact moments of this.
    n = 20000
    W = M[None] + sw[None] * rng.standard_normal((n,) + M.shape).astype("float32")
    B = b[None] + sb[None] * rng.standard_normal((n,) + b.shape).astype("float32")
    patch = x[0, 1:4, 2:5, :]  # output position (1, 2)
    outs = np.einsum("hwc,nhwcf->nf", patch, W) + B
    np.testing.assert_allclose(mu.numpy()[0, 1, 2], outs.mean(0), atol=0.05)
    np.testing.assert_allclose(sd.numpy()[0, 1, 2] ** 2, outs.var(0), rtol=0.06)
    # closed form at the same position
    np.testing.assert_allclose(mu.numpy()[0, 1, 2], np.einsum("hwc,hwcf->f", patch, M) + b, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(sd.numpy()[0, 1, 2] ** 2, np.einsum("hwc,hwcf->f", patch ** 2, sw ** 2) + sb ** 2,
                               rtol=1e-4)


def test_lrt_samples_match_moments():
    layer = BayesianDense(2, seed=5, kl_weight=0.0)
    x = np.tile(np.array([[1.0, -2.0, 0.5]], "float32"), (20000, 1))
    layer(x[:1])
    _randomize(layer, 6)
    _, pre, mu, sd = layer(x, return_moments=True)
    np.testing.assert_allclose(pre.numpy().mean(0), mu.numpy()[0], atol=4 * sd.numpy()[0].max() / np.sqrt(20000) + 1e-4)
    np.testing.assert_allclose(pre.numpy().std(0), sd.numpy()[0], rtol=0.04)


def test_kl_equals_tfp_and_scaled_add_loss():
    layer = BayesianConv2D(3, 2, seed=0, prior_stddev=0.1, kl_weight=0.25)
    layer(tf.zeros((1, 4, 4, 2)))
    _randomize(layer, 7)
    expected = sum(float(tf.reduce_sum(tfd.kl_divergence(tfd.Normal(mu, sig), tfd.Normal(0.0, 0.1))))
                   for mu, sig in ((layer.kernel_mu, layer.kernel_sigma), (layer.bias_mu, layer.bias_sigma)))
    np.testing.assert_allclose(float(layer.kl_divergence()), expected, rtol=1e-5)
    # the thesis's closed form with prior N(0, s²)
    s = 0.1
    closed = 0.0
    for mu, sig in ((layer.kernel_mu.numpy(), layer.kernel_sigma.numpy()), (layer.bias_mu.numpy(), layer.bias_sigma.numpy())):
        closed += 0.5 * np.sum(sig ** 2 / s ** 2 + mu ** 2 / s ** 2 - 1 - np.log(sig ** 2 / s ** 2))
    np.testing.assert_allclose(expected, closed, rtol=1e-4)
    layer(tf.zeros((1, 4, 4, 2)))
    assert len(layer.losses) == 1
    np.testing.assert_allclose(float(layer.losses[0]), 0.25 * expected, rtol=1e-5)


def test_clamp_zeroes_exactly_flagged_units():
    layer = BayesianConv2D(3, 3, padding="same", activation="relu", seed=0, kl_weight=0.0)
    x = tf.random.stateless_normal((2, 4, 4, 1), seed=(1, 2))
    layer(x)
    with mean_weights(keras.Sequential([keras.Input((4, 4, 1)), layer])):
        ref, pre_ref, _, _ = layer(x, return_moments=True)
        mask = np.zeros((2, 4, 4, 3), "float32")
        mask[0, 1, 2, 1] = 1
        mask[1, :, 0, :] = 1
        out, pre, _, _ = layer(x, clamp_mask=mask, return_moments=True)
        with clamp_preactivations(layer, tf.constant(mask)):
            out2 = layer(x)
    assert np.all(pre.numpy()[mask == 1] == 0)
    np.testing.assert_array_equal(pre.numpy()[mask == 0], pre_ref.numpy()[mask == 0])
    np.testing.assert_array_equal(out.numpy(), out2.numpy())
    with pytest.raises(ValueError, match="clamp_mask"):
        layer(x, clamp_mask=np.zeros((2, 4, 4, 2), "float32"))


def test_mean_mode_is_deterministic_and_sampling_is_not():
    model = keras.Sequential([keras.Input((5,)), BayesianDense(4, seed=0, kl_weight=0.0, name="d")])
    x = np.ones((3, 5), "float32")
    a, b = model(x).numpy(), model(x).numpy()
    assert not np.allclose(a, b)
    with mean_weights(model):
        c, d = model(x).numpy(), model(x).numpy()
        layer = model.get_layer("d")
        with record_moments(layer):
            model(x)
            mu = layer.last_moments["mean"].numpy()
    np.testing.assert_array_equal(c, d)
    np.testing.assert_allclose(c, mu, rtol=1e-6)
    assert not np.allclose(model(x).numpy(), c)  # mode restored


def test_sigma_underflow_is_clamped():
    layer = BayesianDense(2, seed=0, kl_weight=0.0, min_stddev=1e-4, use_bias=False)
    layer(tf.zeros((1, 3)))
    layer.kernel_rho.assign(tf.fill(layer.kernel_rho.shape, -200.0))  # softplus → 0
    _, _, mu, sd = layer(tf.zeros((1, 3)), return_moments=True)
    assert np.all(sd.numpy() >= 1e-4 * (1 - 1e-6))
    logp = tfd.Normal(mu, sd).log_prob(0.0).numpy()
    assert np.all(np.isfinite(logp))


def test_kl_weight_warning_and_set(recwarn):
    lb._LRTLayer._warned_kl_weight = False
    model = keras.Sequential([keras.Input((3,)), BayesianDense(2, seed=0)])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        model(tf.ones((1, 3)), training=True)
        model(tf.ones((1, 3)), training=True)
    assert sum("kl_weight" in str(m.message) for m in w) == 1
    assert set_kl_weight(model, 1 / 50) == 1
    model(tf.ones((1, 3)), training=True)
    layer = model.layers[0]
    np.testing.assert_allclose(float(model.losses[0]), float(layer.kl_divergence()) / 50, rtol=1e-5)


@pytest.mark.parametrize("cls,args,shape", [(BayesianDense, (4,), (2, 3)),
                                             (BayesianConv2D, (2, 3), (1, 5, 5, 2))])
def test_config_round_trip(cls, args, shape):
    layer = cls(*args, activation="relu", prior_stddev=0.2, posterior_rho_init=-3.0, kl_weight=0.5, seed=4,
                prior_fn=lb.normal_prior_fn(0.2), divergence_fn=lb.default_divergence_fn)
    layer(tf.zeros(shape))
    cfg = layer.get_config()
    clone = cls.from_config(cfg)
    assert clone.get_config() == cfg
    clone(tf.zeros(shape))
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(float(clone.kl_divergence()), float(layer.kl_divergence()), rtol=1e-6)
    ser = keras.saving.serialize_keras_object(layer)
    again = keras.saving.deserialize_keras_object(ser)
    assert type(again) is cls and again.prior_stddev == 0.2


def test_bad_arguments():
    with pytest.raises(ValueError, match="prior_stddev"):
        BayesianDense(2, prior_stddev=0.0)
    with pytest.raises(ValueError, match="units"):
        BayesianDense(0)
    with pytest.raises(ValueError, match="padding"):
        BayesianConv2D(2, 3, padding="full")
    with pytest.raises(TypeError, match="prior_fn"):
        BayesianDense(2, prior_fn=3)
    with pytest.raises(ValueError, match="kl_weight"):
        BayesianDense(2, kl_weight=-1)


# --------------------------------------------------------------------------- to_bayesian


def _small_cnn(name="cnn"):
    inp = keras.Input((10, 10, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1")(inp)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.MaxPooling2D(2, name="pool")(h)
    h = keras.layers.Conv2D(5, 3, strides=1, dilation_rate=2, use_bias=False, activation="relu", name="conv2")(h)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(3, name="logits")(h)
    model = keras.Model(inp, out, name=name)
    rng = np.random.default_rng(0)
    bn = model.get_layer("bn")  # non-trivial BN state, so copying it matters
    bn.set_weights([rng.normal(1, 0.2, 4), rng.normal(0, 0.2, 4), rng.normal(0, 0.2, 4), rng.uniform(0.5, 2, 4)])
    return model


def test_to_bayesian_functional_cnn_matches_source_in_mean_mode():
    src = _small_cnn()
    conv = lb.to_bayesian(src, seed=0)
    assert conv is not src and conv.name == src.name
    kinds = {l.name: type(l) for l in conv.layers}
    assert kinds["conv1"] is BayesianConv2D and kinds["conv2"] is BayesianConv2D and kinds["logits"] is BayesianDense
    assert kinds["bn"] is keras.layers.BatchNormalization and kinds["pool"] is keras.layers.MaxPooling2D
    c2 = conv.get_layer("conv2")
    assert (c2.filters, c2.kernel_size, c2.dilation_rate, c2.padding) == (5, (3, 3), (2, 2), "valid")
    assert not c2.use_bias
    assert c2.activation is keras.activations.relu
    assert [l.seed for l in lb.bayesian_layers(conv)] == [0, 1, 2]
    np.testing.assert_array_equal(conv.get_layer("conv1").kernel_mu.numpy(), src.get_layer("conv1").kernel.numpy())
    np.testing.assert_allclose(conv.get_layer("conv1").kernel_rho.numpy(), -4.0)
    x = np.random.default_rng(1).normal(size=(4, 10, 10, 3)).astype("float32")
    ref = src(x, training=False).numpy()
    with mean_weights(conv):
        np.testing.assert_allclose(conv(x, training=False).numpy(), ref, atol=1e-5)
    a, b = conv(x, training=False).numpy(), conv(x, training=False).numpy()
    assert not np.allclose(a, b)
    assert len(conv.losses) == 3 and all(np.isfinite(float(l)) and float(l) > 0 for l in conv.losses)
    # the source model is untouched
    assert type(src.get_layer("conv1")) is keras.layers.Conv2D


def test_to_bayesian_sequential_and_selected_layers():
    seq = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5, activation="tanh", name="d1"),
                            keras.layers.Dense(2, name="d2")], name="seq")
    conv = lb.to_bayesian(seq, init_from_weights=False, prior_stddev=0.2, posterior_rho_init=-3.0, name="bseq")
    assert isinstance(conv, keras.Sequential) and conv.name == "bseq"
    assert [type(l) for l in conv.layers] == [BayesianDense, BayesianDense]
    assert conv.layers[0].prior_stddev == 0.2 and conv.layers[0].posterior_rho_init == -3.0
    assert conv.layers[0].seed is None
    # deferred-build Sequential (no Input layer), with weights copied
    seq2 = keras.Sequential([keras.layers.Dense(4, name="a"), keras.layers.Dense(2, name="b")])
    x = np.random.default_rng(0).normal(size=(3, 6)).astype("float32")
    seq2(x)
    conv2 = lb.to_bayesian(seq2, layers=["b"])
    assert type(conv2.get_layer("a")) is keras.layers.Dense and type(conv2.get_layer("b")) is BayesianDense
    with mean_weights(conv2):
        np.testing.assert_allclose(conv2(x).numpy(), seq2(x).numpy(), atol=1e-6)
    # a single name and a functional model: only that layer
    part = lb.to_bayesian(_small_cnn(), layers="conv2")
    assert [l.name for l in lb.bayesian_layers(part)] == ["conv2"]
    assert type(part.get_layer("conv1")) is keras.layers.Conv2D


def test_to_bayesian_nested_model_is_converted_recursively():
    inner = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="inner_dense")], name="inner")
    inp = keras.Input((6,))
    outer = keras.Model(inp, keras.layers.Dense(2, name="head")(inner(inp)))
    conv = lb.to_bayesian(outer, seed=5)
    assert [(l.name, l.seed) for l in lb.bayesian_layers(conv)] == [("inner_dense", 5), ("head", 6)]
    x = np.ones((2, 6), "float32")
    with mean_weights(conv):
        np.testing.assert_allclose(conv(x).numpy(), outer(x).numpy(), atol=1e-6)


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.d = keras.layers.Dense(2)

    def call(self, x):
        return self.d(x)


def test_to_bayesian_errors():
    src = _small_cnn()
    with pytest.raises(ValueError, match=r"`layers`.*'nope'.*conv1"):
        lb.to_bayesian(src, layers=["nope"])
    with pytest.raises(ValueError, match=r"`layers`.*'bn'.*BatchNormalization"):
        lb.to_bayesian(src, layers=["conv1", "bn"])
    with pytest.raises(ValueError, match="`layers`"):
        lb.to_bayesian(src, layers=[])
    with pytest.raises(TypeError, match="`layers`"):
        lb.to_bayesian(src, layers=[3])
    sub = _Subclassed()
    sub(np.ones((1, 3), "float32"))
    with pytest.raises(TypeError, match=r"`model`.*functional or Sequential.*LRT layers"):
        lb.to_bayesian(sub)
    with pytest.raises(TypeError, match="`model`"):
        lb.to_bayesian(keras.layers.Dense(2))
    inp = keras.Input((8, 8, 4))
    grouped = keras.Model(inp, keras.layers.Conv2D(4, 3, groups=2, name="g")(inp))
    with pytest.raises(ValueError, match=r"`model`.*'g'.*groups"):
        lb.to_bayesian(grouped)
    cf = keras.Model(inp, keras.layers.Conv2D(2, 3, data_format="channels_first", name="cf")(inp))
    with pytest.raises(ValueError, match=r"`model`.*'cf'.*channels_first"):
        lb.to_bayesian(cf)
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="`init_from_weights"):
        lb.to_bayesian(unbuilt)
    with pytest.raises(ValueError, match="no keras.layers.Conv2D or Dense"):
        lb.to_bayesian(keras.Sequential([keras.Input((3,)), keras.layers.ReLU()]))
    with pytest.raises(ValueError, match="prior_stddev"):
        lb.to_bayesian(src, prior_stddev=0)


def test_to_bayesian_config_and_save_round_trip(tmp_path):
    src = _small_cnn()
    conv = lb.to_bayesian(src, seed=1)
    x = np.random.default_rng(2).normal(size=(2, 10, 10, 3)).astype("float32")
    with mean_weights(conv):
        ref = conv(x).numpy()
    again = keras.Model.from_config(conv.get_config())
    again.set_weights(conv.get_weights())
    cloned = keras.models.clone_model(conv)
    cloned.set_weights(conv.get_weights())
    path = str(tmp_path / "bnn.keras")
    conv.save(path)
    loaded = keras.models.load_model(path)
    for m in (again, cloned, loaded):
        assert [type(l) for l in m.layers] == [type(l) for l in conv.layers]
        with mean_weights(m):
            np.testing.assert_allclose(m(x).numpy(), ref, atol=1e-6)


def test_to_bayesian_cnn_trains():
    src = _small_cnn()
    conv = lb.to_bayesian(src, seed=0)
    set_kl_weight(conv, 1 / 32)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(32, 10, 10, 3)).astype("float32")
    y = rng.integers(0, 3, size=32)
    before = [l.kernel_mu.numpy().copy() for l in lb.bayesian_layers(conv)]
    conv.compile(optimizer=keras.optimizers.Adam(1e-2),
                 loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = conv.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    after = [l.kernel_mu.numpy() for l in lb.bayesian_layers(conv)]
    assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_to_bayesian_backbone_runs_in_bayesian_feedback_model():
    from keras_egl.models.bayesian import BayesianFeedbackModel

    conv = lb.to_bayesian(_small_cnn(), seed=0)
    rng = np.random.default_rng(4)
    x = rng.normal(size=(8, 10, 10, 3)).astype("float32")
    y = rng.integers(0, 3, size=8)
    mask = np.zeros((8, 10, 10), "float32")
    mask[:4, :4, :4] = 1
    model = BayesianFeedbackModel(conv, target_layer="conv1", n_train=8)
    assert conv.get_layer("conv1").kl_weight == 1 / 8
    logits, fb = model.mc_forward(x, mask, m=2, training=True)
    assert logits.shape == (16, 3)
    fb = fb.numpy().reshape(2, 8)
    assert np.all(np.isfinite(fb)) and np.all(fb[:, :4] > 0) and np.all(fb[:, 4:] == 0)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))


def test_to_bayesian_warns_about_dropped_regularizers():
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, kernel_regularizer="l2", name="r")])
    with pytest.warns(UserWarning, match="kernel_regularizer"):
        conv = lb.to_bayesian(seq)
    assert type(conv.get_layer("r")) is BayesianDense
