"""``cam_weights="elementwise"`` (HiResCAM) in the image and graph Grad-CAM."""

import numpy as np
import pytest

from keras_egl._keras import tf
from keras_egl.explain.grad_cam import cam_from_gradients
from keras_egl.explain.graph import node_grad_cam_map


def test_elementwise_cam_is_the_sum_of_gradient_times_activation():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 4, 5, 3)).astype("float32")
    g = rng.normal(size=(2, 4, 5, 3)).astype("float32")
    got = cam_from_gradients(a, g, cam_weights="elementwise", relu=False, normalize=None).numpy()
    np.testing.assert_allclose(got, (a * g).sum(-1), rtol=1e-6, atol=1e-6)


def test_elementwise_equals_grad_cam_times_hw_when_the_gradient_is_uniform():
    # A global-average-pooling head gives the same ∂y/∂A at every position.
    rng = np.random.default_rng(1)
    a = rng.normal(size=(2, 3, 3, 4)).astype("float32")
    g = np.broadcast_to(rng.normal(size=(2, 1, 1, 4)), a.shape).astype("float32")
    ew = cam_from_gradients(a, g, cam_weights="elementwise", relu=False, normalize=None).numpy()
    gc = cam_from_gradients(a, g, cam_weights="detached", relu=False, normalize=None).numpy()
    np.testing.assert_allclose(ew, gc, rtol=1e-5, atol=1e-6)


def test_elementwise_holds_the_gradient_constant():
    a = tf.Variable(np.ones((1, 2, 2, 1), "float32"))
    g = tf.Variable(np.full((1, 2, 2, 1), 3.0, "float32"))
    with tf.GradientTape() as tape:
        s = tf.reduce_sum(cam_from_gradients(a, g * 1.0, cam_weights="elementwise", relu=False,
                                             normalize=None))
    da, dg = tape.gradient(s, [a, g])
    np.testing.assert_allclose(da.numpy(), 3.0)
    assert dg is None


def test_graph_elementwise_cam():
    rng = np.random.default_rng(2)
    acts = rng.normal(size=(2, 5, 3)).astype("float32")
    grads = rng.normal(size=(2, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")
    got = node_grad_cam_map(acts, grads, node_mask=mask, relu=True, cam_weights="elementwise").numpy()
    np.testing.assert_allclose(got, np.maximum((acts * grads).sum(-1), 0) * mask, rtol=1e-6, atol=1e-6)


def test_unknown_cam_weights_names_the_argument():
    with pytest.raises(ValueError, match="`cam_weights`"):
        cam_from_gradients(np.ones((1, 2, 2, 1)), np.ones((1, 2, 2, 1)), cam_weights="hires")
