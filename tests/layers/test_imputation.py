import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.layers.imputation import (DeepImputation, GaussianImputation, ShallowImputation,
                                         gaussian_kernel_1d)


def test_shallow_paper_geometry_224_to_7():
    layer = ShallowImputation(7, kernel_size=64, strides=32, padding=16)
    out = layer(tf.zeros((2, 224, 224, 1)))
    assert out.shape == (2, 7, 7)
    assert layer.kernel.shape == (64, 64, 1, 1)
    # Derived geometry gives the same at 224 and generalises to other sizes.
    derived = ShallowImputation(7)
    derived(tf.zeros((1, 224, 224)))
    assert derived.kernel.shape == (64, 64, 1, 1) and derived._geom[2] == ((16, 16), (16, 16))
    assert ShallowImputation(8)(tf.zeros((1, 64, 64))).shape == (1, 8, 8)
    assert ShallowImputation((5, 6), inputs="FC")(tf.zeros((1, 30, 45, 2))).shape == (1, 5, 6)
    with pytest.raises(ValueError, match="output_size"):
        ShallowImputation(8, kernel_size=64, strides=32, padding=16)(tf.zeros((1, 224, 224)))
    with pytest.raises(ValueError, match="channel"):
        ShallowImputation(7, inputs="FC")(tf.zeros((1, 224, 224, 1)))


def test_shallow_output_is_minmax_and_trainable():
    m = np.zeros((1, 64, 64), "float32")
    m[0, 8:24, 8:24] = 1
    layer = ShallowImputation(8)
    out = layer(m).numpy()
    assert out.min() == pytest.approx(0) and out.max() == pytest.approx(1)
    assert len(layer.trainable_weights) == 2
    with tf.GradientTape() as tape:
        val = tf.reduce_sum(layer(m) * tf.random.uniform((1, 8, 8), seed=0))
    assert all(g is not None for g in tape.gradient(val, layer.trainable_weights))


def test_deep_224_to_7_and_mismatch():
    assert DeepImputation(seed=0)(tf.zeros((1, 224, 224))).shape == (1, 7, 7)
    assert DeepImputation(seed=0, inputs="FC")(tf.zeros((1, 64, 64, 2))).shape == (1, 2, 2)
    with pytest.raises(ValueError, match="output_size"):
        DeepImputation(output_size=8)(tf.zeros((1, 224, 224)))


def test_gaussian_matches_opencv_3x3_hand_values():
    assert np.allclose(gaussian_kernel_1d(3), [0.25, 0.5, 0.25])
    m = np.zeros((1, 5, 5), "float32")
    m[0, 2, 2] = 1
    out = GaussianImputation(3)(m).numpy()[0]
    # Separable ¼[1,2,1] ⊗ ¼[1,2,1] of a delta, divided by its max (0.25).
    np.testing.assert_allclose(out[1:4, 1:4], np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]), atol=1e-6)
    assert out[0, 0] == 0
    # Nearest to 7×7 first (code), F − C variant clips negatives.
    big = np.zeros((1, 224, 224, 2), "float32")
    big[0, :112, :112, 0] = 1
    big[0, 112:, 112:, 1] = 1
    out = GaussianImputation(3, output_size=7, inputs="FC")(big).numpy()
    assert out.shape == (1, 7, 7) and out.min() >= 0 and out.max() == pytest.approx(1)
    assert not GaussianImputation().trainable_weights


@pytest.mark.parametrize("layer", [GaussianImputation(5, 1.2, output_size=(7, 7), inputs="FC"),
                                   ShallowImputation(7, 64, 32, 16, normalize="max"),
                                   DeepImputation(filters=2, seed=3)])
def test_config_round_trip(layer):
    x = tf.random.uniform((1, 224, 224, 2 if getattr(layer, "inputs_mode", "F") == "FC" else 1), seed=1)
    x = tf.cast(x > 0.5, tf.float32)
    y = layer(x)
    cfg = keras.saving.serialize_keras_object(layer)
    clone = keras.saving.deserialize_keras_object(cfg)
    assert clone.get_config() == layer.get_config()
    clone(x)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(clone(x).numpy(), y.numpy(), atol=1e-6)
