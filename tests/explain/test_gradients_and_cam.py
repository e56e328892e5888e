import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.explain import ActivationModel, cam_from_gradients, grad_cam, input_gradients


def tiny_mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,))
    h = keras.layers.Dense(5, activation="tanh")(inp)
    return keras.Model(inp, keras.layers.Dense(3)(h))


def tiny_cnn(seed=0):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((6, 6, 1))
    a = keras.layers.Conv2D(2, 3, padding="valid", activation="tanh", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(a)
    return keras.Model(inp, keras.layers.Dense(3, name="head")(h))


def test_input_gradients_match_finite_differences():
    model = tiny_mlp()
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float64)
    g = input_gradients(model, tf.constant(x, tf.float32), target="sum_log_prob").numpy()

    def f(xx):
        z = model(tf.constant(xx, tf.float32)).numpy().astype(np.float64)
        z = z - z.max(-1, keepdims=True)
        return (z - np.log(np.exp(z).sum(-1, keepdims=True))).sum()

    eps = 1e-3
    fd = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        fd[i] = (f(x + d) - f(x - d)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=2e-2, atol=2e-3)


def test_input_gradients_are_differentiable_and_can_be_detached():
    model = tiny_mlp()
    x = tf.random.normal((2, 4), seed=1)
    with tf.GradientTape() as tape:
        g = input_gradients(model, x)
        pen = tf.reduce_sum(g ** 2)
    grads = tape.gradient(pen, model.trainable_variables)
    assert all(gr is not None for gr in grads)
    with tf.GradientTape() as tape:
        g = input_gradients(model, x, stop_gradient=True)
        pen = tf.reduce_sum(g ** 2)
    assert all(gr is None for gr in tape.gradient(pen, model.trainable_variables))


def test_input_gradients_bad_input():
    with pytest.raises(TypeError, match="`x`"):
        input_gradients(tiny_mlp(), np.zeros((2, 4), np.int32))


def test_grad_cam_equals_hand_computation():
    model = tiny_cnn()
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 1)).astype(np.float32)
    cam = grad_cam(model, x, "conv", target="pred", normalize=None).numpy()
    # by hand: A = conv(x); y = W^T mean(A) + b, so dy_c/dA_ijk = W[k, c] / (H*W)
    acts = keras.Model(model.input, model.get_layer("conv").output)(x).numpy()
    w = model.get_layer("head").kernel.numpy()
    pred = model(x).numpy().argmax(-1)
    hw = acts.shape[1] * acts.shape[2]
    for b in range(2):
        alpha = w[:, pred[b]] / hw  # mean over positions of a constant gradient
        expected = np.maximum((acts[b] * alpha).sum(-1), 0)
        np.testing.assert_allclose(cam[b], expected, rtol=1e-5, atol=1e-6)


def test_grad_cam_normalisations_upsampling_and_constant_maps():
    model = tiny_cnn()
    x = np.random.default_rng(3).normal(size=(2, 6, 6, 1)).astype(np.float32)
    cam = grad_cam(model, x, "conv", normalize="minmax", upsample="bilinear").numpy()
    assert cam.shape == (2, 6, 6)
    assert cam.min() >= 0 and cam.max() <= 1 + 1e-6
    zeros = cam_from_gradients(tf.zeros((1, 4, 4, 2)), tf.ones((1, 4, 4, 2)), normalize="minmax")
    assert np.all(np.isfinite(zeros.numpy())) and np.all(zeros.numpy() == 0)
    with tf.GradientTape() as tape:
        a = tf.ones((1, 4, 4, 2))
        tape.watch(a)
        m = cam_from_gradients(a, tf.ones((1, 4, 4, 2)), normalize="max", cam_weights="second_order")
        s = tf.reduce_sum(m)
    assert np.all(np.isfinite(tape.gradient(s, a).numpy()))


def test_grad_cam_second_order_matches_finite_differences():
    """d/dθ of a loss on a second-order Grad-CAM vs central differences on θ."""
    model = tiny_cnn(seed=4)
    x = tf.constant(np.random.default_rng(4).normal(size=(2, 6, 6, 1)), tf.float32)
    target = tf.constant(np.random.default_rng(5).uniform(size=(2, 4, 4)), tf.float32)
    fwd = ActivationModel(model, "conv")

    def loss():
        with tf.GradientTape() as t:
            out, acts = fwd(x)
            s = tf.reduce_sum(out[:, 1])
        g = t.gradient(s, acts)
        cam = cam_from_gradients(acts, g, cam_weights="second_order", relu=False, normalize=None)
        return tf.reduce_sum((cam - target) ** 2)

    var = model.get_layer("head").kernel  # the CAM depends on it through α only
    with tf.GradientTape() as tape:
        value = loss()
    analytic = tape.gradient(value, var).numpy()
    assert np.abs(analytic).max() > 0
    eps = 1e-2
    base = var.numpy()
    fd = np.zeros_like(base)
    for i in np.ndindex(base.shape):
        d = np.zeros_like(base)
        d[i] = eps
        var.assign(base + d)
        lp = float(loss())
        var.assign(base - d)
        lm = float(loss())
        fd[i] = (lp - lm) / (2 * eps)
    var.assign(base)
    np.testing.assert_allclose(analytic, fd, rtol=3e-2, atol=1e-4)
    # with detached weights the head kernel gets no gradient through the map
    with tf.GradientTape() as tape:
        with tf.GradientTape() as t:
            out, acts = fwd(x)
            s = tf.reduce_sum(out[:, 1])
        cam = cam_from_gradients(acts, t.gradient(s, acts), cam_weights="detached", relu=False, normalize=None)
        v = tf.reduce_sum(cam ** 2)
    assert tape.gradient(v, var) is None


def test_grad_cam_on_subclassed_model_matches_functional():
    func = tiny_cnn(seed=6)

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(2, 3, activation="tanh", name="conv")
            self.pool = keras.layers.GlobalAveragePooling2D()
            self.head = keras.layers.Dense(3)

        def call(self, x, training=None):
            return self.head(self.pool(self.conv(x)))

    sub = Sub()
    x = np.random.default_rng(7).normal(size=(2, 6, 6, 1)).astype(np.float32)
    sub(x)
    sub.set_weights(func.get_weights())
    np.testing.assert_allclose(grad_cam(sub, x, "conv").numpy(), grad_cam(func, x, "conv").numpy(), atol=1e-5)


def test_weights_is_a_deprecated_alias_of_cam_weights():
    rng = np.random.default_rng(6)
    acts = tf.constant(rng.normal(size=(2, 4, 4, 3)), tf.float32)
    grads = tf.constant(rng.normal(size=(2, 4, 4, 3)), tf.float32)
    want = cam_from_gradients(acts, grads, cam_weights="second_order").numpy()
    with pytest.warns(DeprecationWarning, match="`weights=` is deprecated; use `cam_weights=`"):
        got = cam_from_gradients(acts, grads, weights="second_order").numpy()
    np.testing.assert_array_equal(got, want)
    # positional third argument is cam_weights
    np.testing.assert_array_equal(cam_from_gradients(acts, grads, "second_order").numpy(), want)
    with pytest.raises(TypeError, match="both `cam_weights` and its deprecated alias `weights`"):
        cam_from_gradients(acts, grads, cam_weights="detached", weights="detached")
    with pytest.raises(TypeError, match="weights"):
        cam_from_gradients(acts, grads, "detached", weights="detached")
    model = tiny_cnn()
    x = np.zeros((1, 6, 6, 1), np.float32)
    with pytest.warns(DeprecationWarning):
        grad_cam(model, x, "conv", weights="detached")
    with pytest.raises(TypeError):
        grad_cam(model, x, "conv", weights="detached", cam_weights="detached")


def test_bad_layer_and_options():
    model = tiny_cnn()
    x = np.zeros((1, 6, 6, 1), np.float32)
    with pytest.raises(ValueError, match="nope"):
        grad_cam(model, x, "nope")
    with pytest.raises(ValueError, match="`cam_weights`"):
        grad_cam(model, x, "conv", cam_weights="half")
    with pytest.raises(ValueError, match="upsample"):
        grad_cam(model, x, "conv", upsample="cubic")
    with pytest.raises(TypeError, match="layer_name"):
        grad_cam(model, x, 3)


def test_layer_without_gradient_path_is_reported():
    inp = keras.Input((6, 6, 1))
    used = keras.layers.Conv2D(2, 3, name="used")(inp)
    keras.layers.Conv2D(2, 3, name="dead")(inp)  # built, but the output does not depend on it
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(used))
    model = keras.Model(inp, out)
    with pytest.raises(ValueError, match="dead|gradient path"):
        grad_cam(model, np.zeros((1, 6, 6, 1), np.float32), "dead")
