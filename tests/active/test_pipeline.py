import numpy as np
import pytest

from keras_egl._keras import keras
from keras_egl.active.evaluation import classification_scores, mc_predict, overlap_scores, uncertainty_scores
from keras_egl.active.pipeline import ActiveFeedbackPipeline
from keras_egl.active.samplers import (BALDSampler, EntropySampler, UniformSampler, bald_scores, get_sampler,
                                       predictive_entropy)
from keras_egl.layers.bayesian import BayesianConv2D, BayesianDense
from keras_egl.models.bayesian import BayesianFeedbackModel
from keras_egl._compat import optimizer_variables


def test_uniform_sampler_budget_and_seed():
    s = UniformSampler(budget_fraction=0.004, seed=3)
    assert s.budget_for(54000) == 216
    a, b = s.select(1000), s.select(1000)
    np.testing.assert_array_equal(a, b)
    assert len(a) == 4 and len(set(a)) == 4
    assert len(UniformSampler(budget=7).select(5)) == 5
    with pytest.raises(ValueError, match="exactly one"):
        UniformSampler()
    with pytest.raises(ValueError, match="budget_fraction"):
        UniformSampler(budget_fraction=1.5)


def test_entropy_and_bald_samplers_hand_computed():
    # sample 0: confident and consistent; 1: uncertain but consistent (aleatoric);
    # 2: confident but contradictory draws (epistemic).
    probs = np.array([
        [[0.99, 0.01], [0.5, 0.5], [0.99, 0.01]],
        [[0.99, 0.01], [0.5, 0.5], [0.01, 0.99]],
    ])
    ent = predictive_entropy(probs)
    np.testing.assert_allclose(ent[1], np.log(2), rtol=1e-6)
    bald = bald_scores(probs)
    assert bald[1] == pytest.approx(0.0, abs=1e-9) and bald[2] > bald[0]
    np.testing.assert_array_equal(EntropySampler(budget=2).select(3, mc_probs=probs), [1, 2])
    np.testing.assert_array_equal(BALDSampler(budget=1).select(3, mc_probs=probs), [2])
    with pytest.raises(ValueError, match="mc_probs"):
        BALDSampler(budget=1).select(3)
    assert isinstance(get_sampler("bald", budget=1), BALDSampler)


def test_classification_and_uncertainty_scores():
    y = np.array([0, 0, 1, 1, 1])
    p = np.array([0, 1, 1, 1, 0])
    s = classification_scores(y, p)
    assert s["accuracy"] == pytest.approx(0.6)
    assert s["f1_micro"] == pytest.approx(0.6)
    assert s["precision"] == pytest.approx(2 / 3) and s["recall"] == pytest.approx(2 / 3)
    assert s["specificity"] == pytest.approx(0.5)
    assert s["balanced_accuracy"] == pytest.approx((0.5 + 2 / 3) / 2)
    u = uncertainty_scores(np.array([0, 1]), np.array([[0.8, 0.2], [0.4, 0.6]]))
    assert u["nll"] == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    # ECE: bins (0.6] acc 1 conf .6, (0.8] acc 1 conf .8 → (0.4 + 0.2)/2
    assert u["ece"] == pytest.approx(0.3)


def _bnn(seed=0):
    inp = keras.Input((8, 8, 1))
    h = BayesianConv2D(4, 3, padding="same", activation="relu", name="conv", seed=seed,
                       kernel_mu_initializer=keras.initializers.GlorotUniform(seed))(inp)
    h = keras.layers.Flatten()(keras.layers.MaxPooling2D(2)(h))
    out = BayesianDense(2, seed=seed + 1, kernel_mu_initializer=keras.initializers.GlorotUniform(seed + 1))(h)
    model = BayesianFeedbackModel(keras.Model(inp, out), "conv", eval_mc_samples=2)
    model.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    return model


def test_pipeline_end_to_end_on_tiny_data():
    rng = np.random.default_rng(0)
    n = 40
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.1, (n, 8, 8, 1)).astype("float32")
    x[:, :2, :2, 0] += y[:, None, None]  # decoy in the corner
    x[:, 3:5, 3:5, 0] += y[:, None, None] * 0.5  # the real signal
    masks = np.zeros((n, 8, 8), "float32")
    masks[:, :2, :2] = 1
    model = _bnn()
    pipe = ActiveFeedbackPipeline(model, UniformSampler(budget_fraction=0.25, seed=0), monitor="f1",
                                  batch_size=10, mc_samples=2)
    pipe.train(x, y, epochs=2, validation=(x[:10], y[:10]))
    assert 1 <= pipe.log["train"]["best_epoch"] <= 2
    before = pipe.evaluate(x, y)
    assert 0 <= before["accuracy"] <= 1 and before["_mc_probs"].shape == (2, n, 2)
    idx, F = pipe.collect(x, masks)
    assert len(idx) == 10 and F[idx].sum() == 10 * 4 and np.delete(F, idx, axis=0).sum() == 0
    maps = pipe.explain(x, idx[:3], method="gradcam", target=y[idx[:3]])
    assert maps.shape == (3, 8, 8)
    pipe.fine_tune(x, y, F, epochs=1)
    assert "feedback_loss" in pipe.log["fine_tune"]["history"]
    assert pipe.log["fine_tune"]["history"]["feedback_loss"][0] > 0
    ov = overlap_scores(model, x[:6], masks[:6], y[:6], "conv", methods=("saliency", "gradcam"), batch_size=3)
    assert set(ov) == {"saliency", "gradcam"} and all(0 <= v <= 1 for v in ov.values())
    probs = mc_predict(model, x[:5], mc_samples=3)
    assert probs.shape == (3, 5, 2)
    mean = mc_predict(model, x[:5], use_mean=True)
    np.testing.assert_allclose(mean[0], mc_predict(model, x[:5], use_mean=True)[0], rtol=1e-6)
    with pytest.raises(ValueError, match="oracle"):
        pipe.collect(x, masks[:, :4, :4])
    bald_pipe = ActiveFeedbackPipeline(model, BALDSampler(budget=3), mc_samples=2)
    assert len(bald_pipe.select(x)) == 3


def test_pipeline_balanced_class_weight_and_bad_value():
    rng = np.random.default_rng(1)
    n = 40
    y = (np.arange(n) < 10).astype(int)  # 10 positives, 30 negatives
    x = rng.normal(0, 0.1, (n, 8, 8, 1)).astype("float32")
    pipe = ActiveFeedbackPipeline(_bnn(), UniformSampler(budget=4, seed=0), batch_size=10, mc_samples=2,
                                  class_weight="balanced")
    w = pipe._class_weight(y)
    assert w == pytest.approx({0: 40 / (2 * 30), 1: 40 / (2 * 10)})
    pipe.train(x, y, epochs=1)
    idx, F = pipe.collect(x, np.ones((n, 8, 8), "float32"))
    pipe.fine_tune(x, y, F, epochs=1)  # dict inputs + class weights
    assert np.isfinite(pipe.log["fine_tune"]["history"]["loss"][0])
    assert ActiveFeedbackPipeline(_bnn(), class_weight={0: 1.0, 1: 3.0})._class_weight(y) == {0: 1.0, 1: 3.0}
    with pytest.raises(ValueError, match="class_weight"):
        ActiveFeedbackPipeline(_bnn(), class_weight="inverse")


def test_fine_tune_resets_optimizer_and_sets_learning_rate():
    rng = np.random.default_rng(2)
    n = 24
    y = (np.arange(n) % 2).astype(int)
    x = rng.normal(0, 0.1, (n, 8, 8, 1)).astype("float32")
    model = _bnn()
    pipe = ActiveFeedbackPipeline(model, UniformSampler(budget=4, seed=0), batch_size=8, mc_samples=2)
    pipe.train(x, y, epochs=1)
    opt = model.optimizer
    assert int(opt.iterations) == 3
    slots = [v for v in optimizer_variables(opt) if v is not opt.iterations and v.shape.rank]
    assert any(np.abs(v.numpy()).sum() > 0 for v in slots)
    F = np.zeros((n, 8, 8), "float32")
    # The reset happens before fitting: one epoch of 3 steps from a zero step count.
    pipe.fine_tune(x, y, F, epochs=1, learning_rate=1e-4)
    assert int(opt.iterations) == 3
    assert float(opt.learning_rate) == pytest.approx(1e-4)
    # Without the reset, the step count carries on.
    pipe.fine_tune(x, y, F, epochs=1, reset_optimizer=False)
    assert int(opt.iterations) == 6 and float(opt.learning_rate) == pytest.approx(1e-4)
    with pytest.raises(ValueError, match="learning_rate"):
        pipe.fine_tune(x, y, F, epochs=1, learning_rate=0.0)


def test_pipeline_feeds_the_rejected_region_as_neg_mask():
    model = _bnn(1)
    pipe = ActiveFeedbackPipeline(model)
    assert pipe.neg_key == "neg_mask" and "neg_mask" in model.annotation_keys
    with pytest.warns(DeprecationWarning, match="mask_key"):
        old = ActiveFeedbackPipeline(model, mask_key="F")
    assert old.neg_key == "F"
