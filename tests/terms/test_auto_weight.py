"""``weight="auto"``, warm-up and ramp (keras_egl.terms.weighting)."""

import numpy as np
import pytest

from keras_egl import terms
from keras_egl._keras import keras, tf
from keras_egl.callbacks import TermWeightSchedule
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.weighting import schedule_factor
from keras_egl.testing import annotated_batch, small_cnn
from keras_egl._compat import variable_path


def _mlp(seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    inp = keras.Input((6,), name="x")
    h = keras.layers.Dense(5, activation="tanh", kernel_initializer=init, name="h")(inp)
    return keras.Model(inp, keras.layers.Dense(3, kernel_initializer=init, name="out")(h))


def _tabular(n=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype("float32")
    y = rng.integers(0, 3, n).astype("int64")
    neg = np.zeros((n, 6), "float32")
    neg[: n // 2, :2] = 1.0  # half the samples annotated: features 0, 1 are wrong reasons
    return {"x": x, "neg_mask": neg}, y


def _egl(term, model=None):
    m = ExplanationGuidedModel(model or _mlp(), terms=[term])
    # lr = 0: the calibration batches see the same weights as the hand computation.
    m.compile(keras.optimizers.SGD(0.0), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def _hand_norms(m, inputs, y):
    """‖∇θ L_task‖ and ‖∇θ L_term‖ on the backbone's variables, by an independent tape."""
    theta = m.model.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        out, ctx = m.forward({k: tf.constant(v) for k, v in inputs.items()}, tf.constant(y), training=True)
        task = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, out, from_logits=True))
        term = m.terms[0].value(ctx)
    norm = lambda t: float(np.sqrt(sum(np.sum(np.square(g.numpy())) for g in tape.gradient(t, theta))))  # noqa: E731
    return norm(task), norm(term)


@pytest.mark.parametrize("fraction", [1.0, 0.25])
def test_auto_weight_equals_its_definition_one_batch(fraction):
    inputs, y = _tabular()
    m = _egl(terms.get("rrr", weight="auto", auto_fraction=fraction, calibration_steps=1))
    gt, gr = _hand_norms(m, inputs, y)
    assert gt > 0 and gr > 0
    m.fit(inputs, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    assert float(m.terms[0].loss_weight()) == pytest.approx(fraction * gt / gr, rel=1e-5)


def test_auto_weight_is_a_ratio_of_sums_over_the_measured_steps():
    inputs, y = _tabular(n=32, seed=1)
    m = _egl(terms.get("rrr", weight="auto", calibration_steps=2))
    halves = [{k: v[i:i + 16] for k, v in inputs.items()} for i in (0, 16)]
    norms = [_hand_norms(m, h, y[i:i + 16]) for h, i in zip(halves, (0, 16))]
    m.fit(inputs, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    want = sum(n[0] for n in norms) / sum(n[1] for n in norms)
    assert float(m.terms[0].loss_weight()) == pytest.approx(want, rel=1e-5)
    # The measuring steps used λ = 0: the logged total equals the task loss.
    h = m.fit(inputs, y, batch_size=16, epochs=1, shuffle=False, verbose=0).history
    assert h["right_reasons_weight"] == [pytest.approx(want, rel=1e-5)]


def test_unannotated_batches_keep_measuring():
    inputs, y = _tabular(n=32)
    inputs["neg_mask"][:] = 0.0
    inputs["neg_mask"][16:, :2] = 1.0  # only the second batch is annotated
    m = _egl(terms.get("rrr", weight="auto", calibration_steps=1))
    st = m.terms[0].weight_state
    m.fit({k: v[:16] for k, v in inputs.items()}, y[:16], batch_size=16, epochs=1, verbose=0)
    assert float(st.calibrated) == 0.0 and float(st.pending) == 1.0 and float(st.base) == 0.0
    m.fit({k: v[16:] for k, v in inputs.items()}, y[16:], batch_size=16, epochs=1, verbose=0)
    assert float(st.calibrated) == 1.0 and float(st.base) > 0.0


def test_warmup_and_ramp_follow_the_schedule():
    assert [schedule_factor(e, 2, 2) for e in range(6)] == [0.0, 0.0, 1 / 3, 2 / 3, 1.0, 1.0]
    inputs, y = _tabular()
    m = _egl(terms.get("rrr", weight=4.0, warmup_epochs=1, ramp_epochs=1))
    h = m.fit(inputs, y, batch_size=8, epochs=4, verbose=0).history
    assert h["right_reasons_weight"] == [0.0, 2.0, 4.0, 4.0]
    # λ = 0 in warm-up: the total is the task loss.
    assert h["loss"][0] == pytest.approx(h["task_loss"][0], rel=1e-6)


def test_auto_with_warmup_measures_after_warmup_and_recalibrates_per_epoch():
    x, y = annotated_batch(n=32, size=16)
    x.pop("reasonability")
    cnn = small_cnn()
    m = ExplanationGuidedModel(cnn, explained_layer="conv2", terms=[terms.get(
        "gradia", weight="auto", warmup_epochs=1, recalibrate="epoch", calibration_steps=2)])
    m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    h = m.fit(x, y, batch_size=8, epochs=3, verbose=0).history["gradia_loss_weight"]
    assert h[0] == 0.0 and h[1] > 0.0 and h[2] > 0.0 and h[1] != h[2]


def test_fixed_weights_add_no_state_and_no_log():
    t = terms.get("rrr", weight=10.0)
    assert t.weight_state is None and t.weights == [] and t.loss_weight() == 10.0
    inputs, y = _tabular()
    h = _egl(t).fit(inputs, y, batch_size=8, epochs=1, verbose=0).history
    assert "right_reasons_weight" not in h


def test_auto_config_round_trip_and_state_in_weights():
    t = terms.get("haics", weight="auto", auto_fraction=0.5, warmup_epochs=2, recalibrate="epoch")
    cfg = t.get_config()
    assert cfg["weight"] == "auto" and cfg["auto_fraction"] == 0.5 and cfg["warmup_epochs"] == 2
    t2 = type(t).from_config(cfg)
    assert t2.auto_weight and t2.recalibrate == "epoch" and t2.warmup_epochs == 2
    assert {variable_path(v).split("/")[-1] for v in t.weights} >= {"weight_base", "weight_factor"}
    assert all(not v.trainable for v in t.weights)


def test_schedule_callback_is_added_once():
    inputs, y = _tabular()
    m = _egl(terms.get("rrr", weight=1.0, ramp_epochs=1))
    cb = TermWeightSchedule()
    h = m.fit(inputs, y, epochs=2, batch_size=8, verbose=0, callbacks=[cb]).history
    assert h["right_reasons_weight"] == [0.5, 1.0]


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"weight": "automatic"}, TypeError, "`weight`"),
    ({"weight": -1.0}, ValueError, "`weight`"),
    ({"weight": "auto", "auto_fraction": 0.0}, ValueError, "`auto_fraction`"),
    ({"weight": "auto", "auto_fraction": float("nan")}, ValueError, "`auto_fraction`"),
    ({"warmup_epochs": -1}, ValueError, "`warmup_epochs`"),
    ({"ramp_epochs": 1.5}, TypeError, "`ramp_epochs`"),
    ({"weight": "auto", "recalibrate": "step"}, ValueError, "`recalibrate`"),
    ({"weight": "auto", "calibration_steps": 0}, ValueError, "`calibration_steps`"),
])
def test_bad_schedule_arguments_name_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        terms.get("rrr", **kwargs)


def test_auto_weight_survives_a_checkpoint_and_is_not_measured_again(tmp_path):
    inputs, y = _tabular(n=32)

    def build():
        m = ExplanationGuidedModel(_mlp(), terms=[terms.get("rrr", weight="auto", calibration_steps=2)])
        m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return m

    m = build()
    m.fit(inputs, y, batch_size=16, epochs=1, verbose=0)
    lam = float(m.terms[0].loss_weight())
    assert lam > 0.0
    m.save_weights(str(tmp_path / "ckpt.weights.h5"))
    resumed = build()
    resumed.load_weights(str(tmp_path / "ckpt.weights.h5"))
    st = resumed.terms[0].weight_state
    assert float(st.base) == pytest.approx(lam) and float(st.calibrated) == 1.0 and float(st.pending) == 0.0
    h = resumed.fit(inputs, y, batch_size=16, epochs=1, initial_epoch=0, verbose=0).history
    assert h["right_reasons_weight"] == [pytest.approx(lam)]  # recalibrate="once": kept, not re-measured
