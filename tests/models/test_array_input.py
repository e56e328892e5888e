"""Array inputs reach ``fit`` as one repeated pipeline: same batches, same results, fallbacks kept."""

import numpy as np
import pytest

from keras_egl import keras, tf
from keras_egl.models import array_input
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl import terms


def _data(n=50, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float64)  # float64 on purpose: cast to floatx as Keras does
    y = rng.integers(0, 3, n)
    neg = (rng.random((n, 6)) < 0.3).astype(np.float32)
    return {"x": x, "neg_mask": neg}, y, rng.random(n).astype(np.float32)


def _model(seed=0):
    keras.utils.set_random_seed(seed)
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(3)])
    model = ExplanationGuidedModel(net, terms=[terms.get("rrr", weight=0.5)])
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def _fit(monkeypatch, convert, **kw):
    if not convert:
        monkeypatch.setattr("keras_egl.models.base.repeated_array_fit", lambda *a: None)
    x, y, sw = _data()
    model = _model()
    hist = model.fit(x, y, sample_weight=sw, batch_size=16, epochs=3, shuffle=False, verbose=0,
                     validation_data=({"x": x["x"][:20]}, y[:20]), **kw)
    monkeypatch.undo()
    return model, hist.history


def test_unshuffled_fit_matches_keras_own_array_path(monkeypatch):
    ours, h_ours = _fit(monkeypatch, convert=True)
    stock, h_stock = _fit(monkeypatch, convert=False)
    for a, b in zip(ours.get_weights(), stock.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert set(h_ours) == set(h_stock)
    for key in h_stock:
        np.testing.assert_allclose(h_ours[key], h_stock[key], rtol=1e-5, atol=1e-6, err_msg=key)
    assert ours.optimizer.iterations.numpy() == stock.optimizer.iterations.numpy() == 3 * 4


def test_each_pass_is_a_permutation_and_reshuffled():
    x = np.arange(10)
    ds, steps = array_input._dataset((x, x), batch_size=4, shuffle=True)
    assert steps == 3
    batches = [b[0].numpy() for b in ds.take(3 * steps)]
    assert [len(b) for b in batches] == [4, 4, 2] * 3
    passes = [np.concatenate(batches[i * steps:(i + 1) * steps]) for i in range(3)]
    for p in passes:
        assert sorted(p) == list(range(10))
    assert any(not np.array_equal(passes[0], p) for p in passes[1:])
    ds, _ = array_input._dataset((x, x), batch_size=4, shuffle=False)
    assert np.array_equal(np.concatenate([b[0].numpy() for b in ds.take(steps)]), x)


def test_seeded_shuffled_fits_are_identical():
    x, y, _ = _data()
    weights = []
    for _ in range(2):
        model = _model(seed=3)
        model.fit(x, y, batch_size=16, epochs=2, shuffle=True, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_floats_are_cast_to_floatx_and_ints_kept():
    x, y, _ = _data()
    ds, _ = array_input._dataset((x, y), batch_size=8, shuffle=False)
    bx, by = next(iter(ds))
    assert bx["x"].dtype == tf.float32 and by.dtype == tf.int64


@pytest.mark.parametrize("kwargs", [dict(validation_split=0.2), dict(class_weight={0: 1.0, 1: 2.0, 2: 1.0}),
                                    dict(steps_per_epoch=2), dict(shuffle="batch")])
def test_other_arguments_go_to_keras_unchanged(kwargs):
    x, y, _ = _data()
    assert array_input.repeated_array_fit(_model(), x, y, (), dict(kwargs)) is None


def test_non_array_inputs_and_positional_arguments_go_to_keras_unchanged():
    x, y, _ = _data()
    model = _model()
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    assert array_input.repeated_array_fit(model, ds, None, (), {}) is None
    assert array_input.repeated_array_fit(model, x, None, (), {}) is None
    assert array_input.repeated_array_fit(model, x, y, (16,), {}) is None
    assert array_input.repeated_array_fit(model, {"x": [[1.0] * 6]}, y[:1], (), {}) is None
    assert array_input.repeated_array_fit(model, x, y, (), {}) is not None


def test_fit_under_a_strategy_scope_goes_to_keras_unchanged():
    x, y, _ = _data()
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope():
        model = _model()
        assert array_input.repeated_array_fit(model, x, y, (), {}) is None
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
