import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.losses.haics import HAICSLoss, haics_loss


def _bce(p, t):
    return -(t * np.log(p) + (1 - t) * np.log(1 - p))


def test_masked_bce_hand_computation():
    maps = np.array([[[0.8, 0.3], [0.6, 0.1]]], "float32")
    pos = np.array([[[1, 0], [0, 0]]], "float32")
    neg = np.array([[[0, 1], [0, 0]]], "float32")
    expected = (_bce(0.8, 1) + _bce(0.3, 0)) / 2
    assert float(haics_loss(maps, pos, neg)) == pytest.approx(expected, rel=1e-5)


def test_code_variant_is_unmasked_bce_times_annotated_fraction():
    maps = np.array([[[0.8, 0.3], [0.6, 0.1]]], "float32")
    pos = np.array([[[1, 0], [0, 0]]], "float32")
    neg = np.array([[[0, 1], [0, 0]]], "float32")
    unmasked = (_bce(0.8, 1) + _bce(0.3, 0) + _bce(0.6, 0) + _bce(0.1, 0)) / 4
    got = float(haics_loss(maps, pos, neg, code_unmasked_bce=True))
    assert got == pytest.approx(unmasked * 0.5, rel=1e-5)


def test_no_annotation_is_zero_and_extremes_finite():
    maps = np.array([[[1.0, 0.0]]], "float32")
    assert float(haics_loss(maps, np.zeros((1, 1, 2)))) == 0.0
    # Probabilities clipped to [1e-7, 1 − 1e-7]: exact 0/1 maps stay finite, gradients too.
    cam = tf.Variable(maps)
    with tf.GradientTape() as tape:
        val = haics_loss(cam, np.array([[[0.0, 1.0]]], "float32"))
    assert float(val) == pytest.approx(-np.log(1e-7), rel=1e-3)
    assert np.isfinite(tape.gradient(val, cam).numpy()).all()


def test_config_round_trip_and_bad_shape():
    loss = HAICSLoss(code_unmasked_bce=True)
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert back.code_unmasked_bce is True
    with pytest.raises(ValueError, match="shape"):
        haics_loss(np.zeros((1, 2, 2)), np.zeros((1, 3, 3)))
