import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.callbacks import ExplanationImages
from keras_egl.models.base import ExplanationGuidedModel


def _egl():
    keras.utils.set_random_seed(0)
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(inp)
    out = keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h))
    egl = ExplanationGuidedModel(keras.Model(inp, out), explained_layer="conv")
    egl.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return egl


def test_writes_png_and_tensorboard(tmp_path):
    x = np.random.default_rng(0).normal(size=(6, 8, 8, 1)).astype(np.float32)
    y = np.arange(6) % 2
    masks = np.zeros((6, 8, 8), np.float32)
    masks[:, 2:5, 2:5] = 1
    cb = ExplanationImages(x, masks=masks, log_dir=tmp_path / "tb", png_dir=tmp_path / "png", every=2,
                           max_images=3)
    _egl().fit({"x": x}, y, epochs=4, verbose=0, callbacks=[cb])
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert [p.name for p in pngs] == ["epoch_002.png", "epoch_004.png"]
    assert pngs[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    events = list((tmp_path / "tb" / "explanations").glob("events.out.tfevents.*"))
    assert events
    tags = set()
    for e in tf.compat.v1.train.summary_iterator(str(events[0])):
        tags |= {v.tag for v in e.summary.value}
    assert "explanations" in tags


def test_bad_arguments():
    with pytest.raises(ValueError, match="log_dir"):
        ExplanationImages(np.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match="every"):
        ExplanationImages(np.zeros((1, 8, 8, 1)), png_dir="/tmp/x", every=0)
