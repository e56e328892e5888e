import numpy as np
import pytest

from keras_egl._keras import keras, tf
import tensorflow_probability as tfp  # noqa: E402

from keras_egl.explain.masks import adaptive_max_pool2d
from keras_egl.losses.feedback import (FEEDBACK_WEIGHT_PRESETS, InputGradientFeedback, feedback_evidence_nll,
                                       feedback_unit_mask, gaussian_nll_at_zero, input_gradient_feedback_penalty,
                                       pool_feedback_mask, resolve_feedback_weight)
from keras_egl.models.base import ExplanationGuidedModel


def _torch_adaptive_max(x, oh, ow):
    h, w = x.shape[1:3]
    out = np.zeros((x.shape[0], oh, ow))
    for i in range(oh):
        r0, r1 = (i * h) // oh, -((-(i + 1) * h) // oh)
        for j in range(ow):
            c0, c1 = (j * w) // ow, -((-(j + 1) * w) // ow)
            out[:, i, j] = x[:, r0:r1, c0:c1].max(axis=(1, 2))
    return out


@pytest.mark.parametrize("size,grid", [((28, 28), (7, 7)), ((13, 11), (5, 3)), ((9, 7), (4, 4))])
def test_mask_pooling_follows_pytorch_bin_rule(size, grid):
    rng = np.random.default_rng(0)
    F = (rng.random((3,) + size) < 0.05).astype("float32")
    J = pool_feedback_mask(F, grid).numpy()
    np.testing.assert_array_equal(J, _torch_adaptive_max(F, *grid))
    ero = pool_feedback_mask(F, grid, pool="erode").numpy()
    np.testing.assert_array_equal(ero, 1 - _torch_adaptive_max(1 - F, *grid))


def test_decoy_corners_pool_to_corner_cells():
    F = np.zeros((1, 28, 28), "float32")
    F[:, :4, :4] = F[:, :4, -4:] = F[:, -4:, :4] = F[:, -4:, -4:] = 1
    J = pool_feedback_mask(F, (7, 7)).numpy()[0]
    expected = np.zeros((7, 7))
    expected[0, 0] = expected[0, 6] = expected[6, 0] = expected[6, 6] = 1
    np.testing.assert_array_equal(J, expected)


def test_degenerate_and_mismatched_masks_raise():
    F = np.zeros((1, 28, 28), "float32")
    with pytest.raises(ValueError, match="spatial extent"):
        pool_feedback_mask(F, (1, 1))
    with pytest.raises(ValueError, match="spatial size"):
        pool_feedback_mask(F, (7, 7), input_size=(32, 32))
    with pytest.raises(ValueError, match="spatial extent"):
        feedback_unit_mask(F, tf.zeros((1, 10)))
    with pytest.raises(ValueError, match="pool"):
        pool_feedback_mask(F, (7, 7), pool="avg")


def test_unit_mask_filters_zero_activations_and_zero_gradients():
    F = np.zeros((1, 4, 4), "float32")
    F[0, :2, :2] = 1  # pools onto cell (0, 0) of a 2×2 grid
    A = np.ones((1, 2, 2, 3), "float32")
    A[0, 0, 0, 0] = 0.0  # killed activation
    g = np.ones_like(A)
    g[0, 0, 0, 1] = 0.0  # no gradient path
    flagged = feedback_unit_mask(F, A, g).numpy()
    expected = np.zeros_like(A)
    expected[0, 0, 0, 2] = 1
    np.testing.assert_array_equal(flagged, expected)
    no_grad = feedback_unit_mask(F, A, None).numpy()
    assert no_grad[0, 0, 0].tolist() == [0, 1, 1]


def test_gaussian_nll_and_evidence_hand_computed():
    mu = np.array([[0.5, -1.0, 2.0]], "float32").reshape(1, 1, 1, 3)
    sd = np.array([[1.0, 0.5, 2.0]], "float32").reshape(1, 1, 1, 3)
    ref = -tfp.distributions.Normal(mu, sd).log_prob(0.0).numpy()
    np.testing.assert_allclose(gaussian_nll_at_zero(mu, sd).numpy(), ref, rtol=1e-6)
    flagged = np.array([1, 0, 1], "float32").reshape(1, 1, 1, 3)
    hand = [0.5 * np.log(2 * np.pi) + np.log(1.0) + 0.125, 0.5 * np.log(2 * np.pi) + np.log(2.0) + 0.5]
    np.testing.assert_allclose(feedback_evidence_nll(mu, sd, flagged).numpy(), [sum(hand)], rtol=1e-5)
    np.testing.assert_allclose(feedback_evidence_nll(mu, sd, flagged, "mean").numpy(), [sum(hand) / 2], rtol=1e-5)
    np.testing.assert_allclose(feedback_evidence_nll(mu, sd, np.zeros_like(flagged), "mean").numpy(), [0.0])


def test_feedback_weight_presets():
    assert resolve_feedback_weight("thesis") == 1.0
    assert resolve_feedback_weight("v3_isic") == FEEDBACK_WEIGHT_PRESETS["v3_isic"] == 1e-5
    assert resolve_feedback_weight(0.5) == 0.5
    with pytest.raises(ValueError, match="preset"):
        resolve_feedback_weight("nope")
    with pytest.raises(ValueError):
        resolve_feedback_weight(-1)


def _tiny_cnn():
    inp = keras.Input((4, 4, 2))
    h = keras.layers.Conv2D(2, 3, padding="same", activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(0))(inp)
    h = keras.layers.Flatten()(h)
    out = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(1))(h)
    return keras.Model(inp, out)


def test_input_gradient_penalty_hand_computed():
    net = _tiny_cnn()
    x = tf.random.stateless_normal((2, 4, 4, 2), seed=(0, 1))
    y = np.array([0, 2])
    F = np.zeros((2, 4, 4), "float32")
    F[0, 0, :] = 1
    F[1, :, 3] = 1
    with tf.GradientTape() as tape:
        tape.watch(x)
        p = tf.nn.softmax(net(x))
        s = tf.reduce_sum(tf.gather(p, y, batch_dims=1))
    g = tape.gradient(s, x).numpy()
    hand = np.abs(F[..., None] * g).sum(axis=(1, 2, 3)) / (4 * 4 * 2)
    np.testing.assert_allclose(input_gradient_feedback_penalty(F, g).numpy(), hand, rtol=1e-6)
    term = InputGradientFeedback(weight=2.0)
    egl = ExplanationGuidedModel(net, terms=[term])
    egl.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _, ctx = egl.forward({"x": x, "neg_mask": F}, y=tf.constant(y), training=False)
    np.testing.assert_allclose(float(term(ctx)), hand.mean(), rtol=1e-5)
    # double backprop: the penalty has a gradient w.r.t. the weights
    with tf.GradientTape() as tape:
        _, ctx = egl.forward({"x": x, "neg_mask": F}, y=tf.constant(y), training=True)
        val = term(ctx)
    grads = tape.gradient(val, net.trainable_variables)
    assert all(gr is not None for gr in grads) and any(float(tf.reduce_sum(tf.abs(gr))) > 0 for gr in grads)
    clone = InputGradientFeedback.from_config(term.get_config())
    assert clone.get_config() == term.get_config()
    with pytest.raises(ValueError, match="spatial size"):
        input_gradient_feedback_penalty(np.zeros((2, 5, 5)), g)


def _feedback_value(term, net, inputs, y):
    egl = ExplanationGuidedModel(net, terms=[term])
    _, ctx = egl.forward(inputs, y=tf.constant(y), training=False)
    return float(term(ctx)) if term.is_active(ctx) else 0.0


def test_input_gradient_feedback_mask_shapes_flags_and_derivation():
    net = _tiny_cnn()
    x = tf.random.stateless_normal((3, 4, 4, 2), seed=(2, 3))
    y = np.array([0, 2, 1])
    F = np.zeros((3, 4, 4), "float32")
    F[0, 0, :] = 1
    F[1, :, 3] = 1                      # sample 2 has no feedback
    term = InputGradientFeedback(weight=1.0)
    base = _feedback_value(term, net, {"x": x, "neg_mask": F}, y)
    assert base > 0
    # image mask with a unit channel axis, and an x-shaped mask: the same penalty
    for mask in (F[..., None], np.repeat(F[..., None], 2, axis=-1)):
        assert _feedback_value(term, net, {"x": x, "neg_mask": mask}, y) == pytest.approx(base, rel=1e-6)
    # has_annotation = 0 → exactly 0; per-sample flags select samples
    flags = np.zeros(3, "float32")
    assert _feedback_value(term, net, {"x": x, "neg_mask": F, "has_annotation": flags}, y) == 0.0
    only0 = F.copy()
    only0[1] = 0
    got = _feedback_value(term, net, {"x": x, "neg_mask": F, "has_annotation": np.array([1, 0, 0], "float32")}, y)
    assert got == pytest.approx(_feedback_value(term, net, {"x": x, "neg_mask": only0}, y), rel=1e-6)
    # only the right reasons: F = 1 − pos_mask on annotated samples
    pos = np.where(F.reshape(3, -1).any(1)[:, None, None], 1.0 - F, 0.0).astype("float32")
    assert _feedback_value(term, net, {"x": x, "pos_mask": pos}, y) == pytest.approx(base, rel=1e-6)
    strict = InputGradientFeedback(derive="error")
    with pytest.raises(ValueError, match="neg_mask.*pos_mask|pos_mask.*neg_mask"):
        _feedback_value(strict, net, {"x": x, "pos_mask": pos}, y)
    # no annotation at all: inactive (0)
    assert _feedback_value(term, net, {"x": x}, y) == 0.0


def test_input_gradient_feedback_keys_and_deprecated_mask_key():
    term = InputGradientFeedback()
    assert term.neg_key == "neg_mask" and term.needs == ("neg",)
    assert set(term.annotation_keys) == {"neg_mask", "pos_mask", "has_annotation"}
    with pytest.warns(DeprecationWarning, match="mask_key"):
        old = InputGradientFeedback(mask_key="F")
    assert old.neg_key == "F" and "mask_key" not in old.get_config()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(old))
    assert restored.get_config() == old.get_config()
    with pytest.raises(ValueError, match="quantity"):
        InputGradientFeedback(quantity="logits")
    with pytest.raises(ValueError, match="derive"):
        InputGradientFeedback(derive="ignore")


def test_input_gradient_feedback_import_paths_without_cycle():
    import subprocess
    import sys

    from keras_egl import losses, terms
    from keras_egl.terms.feedback import InputGradientFeedback as moved

    assert InputGradientFeedback is moved is losses.InputGradientFeedback
    assert type(terms.get("feedback")) is moved
    # `import keras_egl` registers every serialisable class (so the package imports all
    # modules); what must hold is that losses.feedback itself does not import the
    # models or terms at module level (the old losses -> models cycle).
    import ast
    from pathlib import Path

    import keras_egl.losses.feedback as module

    tree = ast.parse(Path(module.__file__).read_text())
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [n.module for n in top if isinstance(n, ast.ImportFrom)] + \
        [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in names if m and m.startswith(("keras_egl.models", "keras_egl.terms"))], names


def test_input_gradient_feedback_penalty_feature_inputs():
    g = np.array([[1.0, -2.0, 4.0], [3.0, 0.5, -1.0]], "float32")
    F = np.array([[1, 0, 1], [0, 0, 0]], "float32")
    np.testing.assert_allclose(input_gradient_feedback_penalty(F, g).numpy(), [5.0 / 3, 0.0], rtol=1e-6)
    np.testing.assert_allclose(input_gradient_feedback_penalty(F, g, normalize=False).numpy(), [5.0, 0.0])
    with pytest.raises(ValueError, match="shape"):
        input_gradient_feedback_penalty(F[:, :2], g)

