import numpy as np
import pytest

from keras_egl._keras import keras
from keras_egl.active.regions import (apply_sign, propose_feedback_regions, regions_to_mask,
                                      top_mass_threshold)


def test_apply_sign():
    m = np.array([[-2.0, 1.0], [0.0, 3.0]])
    np.testing.assert_array_equal(apply_sign(m, "positive"), [[0, 1], [0, 3]])
    np.testing.assert_array_equal(apply_sign(m, "negative"), [[2, 0], [0, 0]])
    np.testing.assert_array_equal(apply_sign(m, "absolute"), [[2, 1], [0, 3]])
    with pytest.raises(ValueError, match="sign"):
        apply_sign(m, "both")


def test_top_mass_threshold_hand_computed():
    m = np.array([5.0, 3.0, 1.0, 1.0, 0.0])  # total 10
    np.testing.assert_array_equal(top_mass_threshold(m, 0.5), [5, 0, 0, 0, 0])
    np.testing.assert_array_equal(top_mass_threshold(m, 0.8), [5, 3, 0, 0, 0])
    np.testing.assert_array_equal(top_mass_threshold(m, 0.9), [5, 3, 0, 0, 0])  # tie 1,1 would exceed
    np.testing.assert_array_equal(top_mass_threshold(m, 1.0), m)
    np.testing.assert_array_equal(top_mass_threshold(m, 0.1), np.zeros(5))
    np.testing.assert_array_equal(top_mass_threshold(np.zeros(3), 0.5), np.zeros(3))
    kept = top_mass_threshold(np.random.default_rng(0).random((8, 8)), 0.2)
    assert kept.sum() <= 0.2 * np.random.default_rng(0).random((8, 8)).sum() + 1e-9
    with pytest.raises(ValueError, match="non-negative"):
        top_mass_threshold(np.array([-1.0, 2.0]), 0.5)


def test_propose_regions_on_tiny_cnn():
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=keras.initializers.GlorotUniform(0))(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    net = keras.Model(inp, keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(1))(h))
    img = np.zeros((16, 16, 3), "float32")  # four flat quadrants of different colours
    img[:8, :8] = (1, 0, 0)
    img[:8, 8:] = (0, 1, 0)
    img[8:, :8] = (0, 0, 1)
    img[8:, 8:] = (1, 1, 0)
    img += np.random.default_rng(0).normal(0, 0.01, img.shape).astype("float32")
    out = propose_feedback_regions(net, img, class_index=1, layer_name="conv", sign="absolute", lambda1=0.6,
                                   n_segments=(4, 16))
    regions = out["regions"]
    assert regions.shape == (16, 16) and regions.min() == 0
    k = regions.max()
    assert k >= 1 and set(np.unique(regions)) == set(range(k + 1))  # consecutive labels from 1
    assert np.all(regions[out["w"] > 0] > 0)  # every selected pixel is covered
    assert out["n_segments"] in (4, 16)
    F = regions_to_mask(regions, [1])
    np.testing.assert_array_equal(F, (regions == 1).astype("float32"))
    with pytest.raises(ValueError, match="start at 1"):
        regions_to_mask(regions, [0])
