import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.losses.gradia import (GRADIALoss, gradia_attention_loss, gradia_label,
                                     reasonability_weights)


def test_reasonability_weights_table_and_overrides():
    p, a = reasonability_weights([0, 1, 2, 3, 4])
    np.testing.assert_allclose(p.numpy(), [1, 1, 0.4, 0.8, 1])
    np.testing.assert_allclose(a.numpy(), [0, 0, 1.6, 0.2, 1])
    p, a = reasonability_weights(["UA", "", "UIA"], weights={"UA": (0.5, 1.5)})
    np.testing.assert_allclose(p.numpy(), [0.5, 1, 1])
    np.testing.assert_allclose(a.numpy(), [1.5, 0, 1])
    with pytest.raises(ValueError, match="labels"):
        reasonability_weights([7])
    with pytest.raises(ValueError, match="weights"):
        reasonability_weights([1], weights={"XX": (1, 1)})


def test_gradia_label_area_blur_max_normalised():
    m = np.zeros((1, 8, 8), "float32")
    m[0, :4, :4] = 1  # top-left quadrant → 2×2 block of ones at 4×4
    lab = gradia_label(m, (4, 4), "area_blur").numpy()[0]
    assert lab.max() == pytest.approx(1.0)
    assert lab[0, 0] == pytest.approx(1.0) and lab[3, 3] == pytest.approx(0.0)
    near = gradia_label(m, (4, 4), "nearest").numpy()[0]
    np.testing.assert_array_equal(near[:2, :2], 1)
    assert near.sum() == 4
    # An empty mask stays zero, no NaN.
    assert np.all(gradia_label(np.zeros((1, 8, 8)), 4).numpy() == 0)


def test_attention_loss_hand_computation():
    maps = np.array([[[1.0, 0.0]], [[0.5, 0.5]]], "float32")
    lab = np.array([[[1.0, 1.0]], [[0.0, 0.0]]], "float32")
    # per-sample mean |M − M'|: 0.5 and 0.5; weights 1.6 and 0 → mean over batch = 0.4
    val = gradia_attention_loss(maps, lab, attention_weight=[1.6, 0.0])
    assert float(val) == pytest.approx((1.6 * 0.5 + 0) / 2)
    with pytest.raises(ValueError, match="shape"):
        gradia_attention_loss(maps, np.zeros((2, 2, 2)))


def test_gradia_loss_config_round_trip_and_gradient():
    loss = GRADIALoss("nearest")
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert back.get_config() == {"resize": "nearest"}
    cam = tf.Variable(tf.random.uniform((2, 4, 4), seed=0))
    mask = np.zeros((2, 16, 16), "float32")
    mask[:, 4:12, 4:12] = 1
    with tf.GradientTape() as tape:
        val = loss(cam, mask)
    g = tape.gradient(val, cam)
    assert np.isfinite(float(val)) and np.abs(g.numpy()).sum() > 0
    with pytest.raises(ValueError, match="resize"):
        GRADIALoss("bicubic")
