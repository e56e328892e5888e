"""`fit` traces the train step once: optimizer slots and compiled metrics exist before the trace.

A tf.function that creates variables during its first trace is traced again, so
lazily created Adam slots (and the compiled metrics' totals) doubled the cost of
every first epoch — 38 s instead of ~21 s on MobileNetV2 with an input-gradient term.
"""
import numpy as np
import pytest

from keras_egl import keras, terms
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.testing import annotated_batch, small_cnn


class _Counting(ExplanationGuidedModel):
    traces = 0

    def train_step(self, data):
        type(self).traces += 1
        return super().train_step(data)


def _data():
    inputs, y = annotated_batch(n=16, size=16, n_classes=3, seed=0)
    inputs.pop("reasonability", None)
    return inputs, y


@pytest.mark.parametrize("weight", [1.0, "auto"])
@pytest.mark.parametrize("optimizer", ["adam", "sgd_momentum"])
def test_first_fit_traces_the_step_once(weight, optimizer):
    inputs, y = _data()
    _Counting.traces = 0
    model = _Counting(small_cnn(input_shape=(16, 16, 3), n_classes=3, seed=0),
                      terms=[terms.get("rrr", weight=weight)], explained_layer="conv2")
    opt = keras.optimizers.Adam(1e-3) if optimizer == "adam" else keras.optimizers.SGD(1e-2, momentum=0.9)
    model.compile(opt, keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    slots_before = len(model.optimizer.variables)
    history = model.fit(inputs, y, epochs=2, batch_size=8, verbose=0)
    assert _Counting.traces == 1
    assert len(model.optimizer.variables) > slots_before
    assert np.isfinite(history.history["loss"]).all() and "accuracy" in history.history
    assert int(model.optimizer.iterations) == 4


def test_a_reloaded_model_keeps_its_optimizer_state(tmp_path):
    inputs, y = _data()
    model = ExplanationGuidedModel(small_cnn(input_shape=(16, 16, 3), n_classes=3, seed=0),
                                   terms=[terms.get("rrr")], explained_layer="conv2")
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(inputs, y, epochs=1, batch_size=8, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    before = [v.numpy().copy() for v in reloaded.optimizer.variables]
    assert int(reloaded.optimizer.iterations) == 2 and sum(np.abs(b).sum() for b in before) > 0
    reloaded.fit(inputs, y, epochs=1, batch_size=8, verbose=0)  # no rebuild over the restored slots
    assert int(reloaded.optimizer.iterations) == 4
    changed = sum(not np.array_equal(b, v.numpy()) for b, v in zip(before, reloaded.optimizer.variables))
    assert changed > 0
