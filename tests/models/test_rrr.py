"""RightForRightReasons preset and terms, reference MLP, masks, FAE and the always-include helper."""

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.explain.gradients import input_gradients
from keras_egl.losses.rrr import right_reasons_penalty, small_params_penalty
from keras_egl.models.rrr import (AlwaysIncludeSequence, RightForRightReasons, RightReasonsTerm,
                                  SmallParamsTerm, always_include_batches, find_another_explanation,
                                  fit_rrr, gradient_mask, largest_gradient_mask, rrr_mlp, rrr_optimizer)

SCE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data(n=64, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    A = np.zeros_like(X)
    A[:, 0] = 1.0
    return X, y, A


def _compiled(model, **kw):
    rrr = RightForRightReasons(model, **kw)
    rrr.compile(rrr_optimizer(), SCE, metrics=["accuracy"])
    return rrr


def test_logs_and_total_equal_hand_objective():
    X, y, A = _data()
    clf = rrr_mlp((6,), 2, hidden=(5,), seed=0)
    rrr = _compiled(clf, lambda1=10.0, lambda2=1e-3)
    logs = rrr.evaluate({"x": X, "neg_mask": A}, y, batch_size=64, verbose=0, return_dict=True)
    for key in ("loss", "right_answers", "right_reasons", "small_params", "answers_reasons_ratio", "accuracy"):
        assert key in logs
    ce = float(SCE(y, clf(X)))
    pen = 10.0 * float(right_reasons_penalty(A, input_gradients(clf, tf.constant(X)), reduction="mean"))
    small = 1e-3 * float(small_params_penalty(clf))
    assert logs["right_answers"] == pytest.approx(ce, rel=1e-4)
    assert logs["right_reasons"] == pytest.approx(pen, rel=1e-4)
    assert logs["small_params"] == pytest.approx(small, rel=1e-4)
    assert logs["loss"] == pytest.approx(ce + pen + small, rel=1e-4)
    assert logs["answers_reasons_ratio"] == pytest.approx(ce / pen, rel=1e-3)


def test_train_step_reduces_masked_gradient():
    X, y, A = _data(n=128)
    tf.random.set_seed(0)
    clf = rrr_mlp((6,), 2, hidden=(16,), init_stddev=0.3, seed=1)
    g0 = float(right_reasons_penalty(A, input_gradients(clf, tf.constant(X))))
    rrr = _compiled(clf, lambda1=100.0)
    hist = rrr.fit({"x": X, "neg_mask": A}, y, batch_size=32, epochs=15, verbose=0)
    g1 = float(right_reasons_penalty(A, input_gradients(clf, tf.constant(X))))
    assert g1 < 0.1 * g0
    assert np.all(np.isfinite(hist.history["loss"]))


def test_missing_mask_and_certainty():
    X, y, A = _data()
    rrr = _compiled(rrr_mlp((6,), 2, hidden=(4,), seed=0), lambda1=5.0)
    logs = rrr.evaluate({"x": X}, y, verbose=0, return_dict=True)
    assert logs["right_reasons"] == 0.0
    assert logs["answers_reasons_ratio"] == 0.0  # NaN-safe
    clf = rrr_mlp((6,), 2, hidden=(4,), seed=0)
    cert = _compiled(clf, lambda1=5.0, certainty=True)
    logs = cert.evaluate({"x": X}, y, batch_size=64, verbose=0, return_dict=True)
    want = 5.0 * float(right_reasons_penalty(np.ones_like(X), input_gradients(clf, tf.constant(X)),
                                             reduction="mean"))
    assert logs["right_reasons"] == pytest.approx(want, rel=1e-4)


def test_cnn_and_integer_pixels():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(16, 8, 8, 1)).astype(np.uint8)
    y = rng.integers(0, 3, 16)
    A = np.zeros(X.shape, np.float32)
    A[:, :2, :2] = 1.0
    inp = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(4, 3, activation="relu")(inp)
    out = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(h))
    cnn = keras.Model(inp, out)
    rrr = RightForRightReasons(cnn, lambda1=1.0)
    rrr.compile(rrr_optimizer(), SCE, run_eagerly=True)
    hist = rrr.fit({"x": X, "neg_mask": A}, y, batch_size=8, epochs=1, verbose=0)
    assert hist.history["right_reasons"][0] > 0
    maps = rrr.explain(X[:2].astype(np.float32))
    assert maps.shape == (2, 8, 8, 1)


def test_annotation_shape_mismatch_raises():
    X, y, _ = _data()
    rrr = _compiled(rrr_mlp((6,), 2, hidden=(4,), seed=0), lambda1=1.0)
    with pytest.raises(ValueError, match="shape"):
        rrr.fit({"x": X, "neg_mask": np.ones((len(X), 5), np.float32)}, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="lambda1"):
        RightForRightReasons(rrr_mlp((6,), 2, seed=0), lambda1=-1.0)


def test_config_round_trip():
    clf = rrr_mlp((6,), 2, hidden=(4,), seed=0)
    rrr = RightForRightReasons(clf, lambda1=7.0, lambda2=1e-5, reduction="sum", norm="l1", certainty=True)
    clone = RightForRightReasons.from_config(rrr.get_config())
    for attr in ("lambda1", "lambda2", "reduction", "norm", "certainty", "target"):
        assert getattr(clone, attr) == getattr(rrr, attr)
    for term in (RightReasonsTerm(3.0, norm="l1", reduction="sum"), SmallParamsTerm(1e-3, include_biases=False)):
        again = type(term).from_config(term.get_config())
        assert again.get_config() == term.get_config()
        restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(term))
        assert restored.get_config() == term.get_config()


def test_reference_mlp_init_and_shape():
    m = rrr_mlp((784,), 10, seed=0)
    assert [layer.units for layer in m.layers if isinstance(layer, keras.layers.Dense)] == [50, 30, 10]
    w = np.concatenate([v.ravel() for v in m.get_weights()])
    assert abs(w.std() - 0.1) < 0.01
    biases = np.concatenate([v.ravel() for v in m.get_weights()[1::2]])
    assert biases.std() > 0.05  # biases are drawn too, not zero
    m2 = rrr_mlp((784,), 10, seed=0)
    np.testing.assert_array_equal(m.get_weights()[0], m2.get_weights()[0])
    assert rrr_mlp((5, 5, 3), 2, seed=0).output_shape == (None, 2)


def test_largest_gradient_mask_by_hand():
    g = np.array([[1.0, -3.0, 2.5, 0.0], [0.0, 0.0, 0.0, 0.0]], np.float32)
    m = largest_gradient_mask(g, cutoff=0.67).numpy()
    np.testing.assert_array_equal(m, [[False, True, True, False], [False, False, False, False]])
    img = np.zeros((1, 2, 2, 3), np.float32)
    img[0, 0, 1, 2] = 5.0
    img[0, 1, 0, 0] = 1.0
    ored = largest_gradient_mask(img, 0.5, channel_axis=-1).numpy()
    assert ored.shape == img.shape and ored[0, 0, 1].all() and not ored[0, 1, 0].any()
    flat = largest_gradient_mask(img, 0.1, channel_axis=-1, keepdims=False).numpy()
    np.testing.assert_array_equal(flat[0], [[False, True], [True, False]])
    with pytest.raises(ValueError, match="cutoff"):
        largest_gradient_mask(g, cutoff=1.5)
    with pytest.raises(TypeError):
        largest_gradient_mask(np.ones((2, 3), np.int32))


def test_gradient_mask_uses_max_prob():
    clf = rrr_mlp((6,), 3, hidden=(5,), seed=0)
    X = np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32)
    m = gradient_mask(clf, X, batch_size=4)
    g = input_gradients(clf, tf.constant(X), target="max_prob").numpy()
    want = np.abs(g) > 0.67 * np.abs(g).max(1, keepdims=True)
    np.testing.assert_array_equal(m, want)


def test_find_another_explanation_masks_are_cumulative():
    X, y, _ = _data(n=96, d=6, seed=2)
    res = find_another_explanation(lambda t: rrr_mlp((6,), 2, hidden=(8,), seed=t), X, y, X, y,
                                   n_iter=3, lambda_schedule=[0.0, 10.0, 100.0], epochs=1,
                                   batch_size=48, seed=0, run_eagerly=True)
    assert len(res.models) == len(res.masks) == len(res.new_masks) == 3
    assert res.lambdas == [0.0, 10.0, 100.0]
    assert not res.masks[0].any()
    for t in range(2):
        np.testing.assert_array_equal(res.masks[t + 1], res.masks[t] | res.new_masks[t])
        assert np.all(res.masks[t + 1] >= res.masks[t])
    assert res.masks[1].any()
    assert all(0.0 <= a <= 1.0 for a in res.train_accuracy + res.test_accuracy)
    with pytest.raises(ValueError, match="lambda_schedule"):
        find_another_explanation(lambda t: rrr_mlp((6,), 2, seed=t), X, y, n_iter=3, lambda_schedule=[1.0])


def test_always_include_batches():
    batches = always_include_batches(10, [7, 2], batch_size=3)
    assert all(list(b[:2]) == [2, 7] for b in batches)
    rest = np.concatenate([b[2:] for b in batches])
    np.testing.assert_array_equal(rest, [0, 1, 3, 4, 5, 6, 8, 9])
    assert [len(b) for b in batches] == [5, 5, 4]
    s1 = always_include_batches(10, [1], 4, shuffle=True, seed=3, epoch=1)
    s2 = always_include_batches(10, [1], 4, shuffle=True, seed=3, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(s1, s2))
    with pytest.raises(ValueError, match="include"):
        always_include_batches(5, [9], 2)
    X, y, A = _data(n=20)
    seq = AlwaysIncludeSequence({"x": X, "neg_mask": A}, y, include=[0, 1], batch_size=8)
    xb, yb = seq[0]
    assert xb["x"].shape == (10, 6) and np.array_equal(xb["x"][:2], X[:2]) and len(yb) == 10
    rrr = _compiled(rrr_mlp((6,), 2, hidden=(4,), seed=0), lambda1=1.0)
    hist = rrr.fit(seq, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])


def test_fit_rrr_helper():
    X, y, A = _data(n=32)
    rrr, hist = fit_rrr(rrr_mlp((6,), 2, hidden=(4,), seed=0), X, y, A, lambda1=1.0, epochs=1,
                        batch_size=16, seed=0)
    assert isinstance(rrr, RightForRightReasons) and "right_reasons" in hist.history
    with pytest.raises(ValueError, match="annotation"):
        fit_rrr(rrr_mlp((6,), 2, seed=0), X, y, A[:, :3], epochs=1)


# ------------------------------------------------------------------ the new vocabulary
def _cnn(name="conv"):
    inp = keras.Input((6, 6, 3))
    h = keras.layers.Conv2D(4, 3, activation="tanh", name=name,
                            kernel_initializer=keras.initializers.GlorotUniform(0))(inp)
    out = keras.layers.Dense(3, kernel_initializer=keras.initializers.GlorotUniform(1))(
        keras.layers.GlobalAveragePooling2D()(h))
    return keras.Model(inp, out)


def _images(n=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6, 6, 3)).astype(np.float32)
    y = rng.integers(0, 3, n)
    A = np.zeros((n, 6, 6), np.float32)       # image-shaped wrong-reasons mask
    A[:, :2, :2] = 1.0
    A[::4] = 0.0                               # some samples unannotated
    return X, y, A


def _reasons(rrr, inputs, y):
    return rrr.evaluate(inputs, y, batch_size=len(y), verbose=0, return_dict=True)["right_reasons"]


def test_image_shaped_and_x_shaped_masks_give_the_same_penalty_on_a_cnn():
    X, y, A = _images()
    clf = _cnn()
    want = 3.0 * float(right_reasons_penalty(np.repeat(A[..., None], 3, -1), input_gradients(clf, tf.constant(X)),
                                             reduction="mean"))
    assert want > 0
    for mask in (A, A[..., None], np.repeat(A[..., None], 3, axis=-1)):
        # a fresh test function per mask rank (a retrace with relaxed shapes loses the mask's rank)
        rrr = _compiled(clf, lambda1=3.0)
        assert _reasons(rrr, {"x": X, "neg_mask": mask}, y) == pytest.approx(want, rel=1e-5)


def test_only_pos_mask_derives_the_complement():
    X, y, A = _images()
    annotated = A.reshape(len(A), -1).any(1)
    pos = np.where(annotated[:, None, None], 1.0 - A, 0.0).astype(np.float32)
    rrr = _compiled(_cnn(), lambda1=2.0)
    explicit = _reasons(rrr, {"x": X, "neg_mask": A}, y)
    derived = _reasons(rrr, {"x": X, "pos_mask": pos}, y)
    assert explicit > 0 and derived == pytest.approx(explicit, rel=1e-6)
    # the same on feature inputs (the classic RRR setting)
    Xf, yf, Af = _data()
    mlp = _compiled(rrr_mlp((6,), 2, hidden=(5,), seed=0), lambda1=10.0)
    assert _reasons(mlp, {"x": Xf, "pos_mask": 1.0 - Af}, yf) == pytest.approx(
        _reasons(mlp, {"x": Xf, "neg_mask": Af}, yf), rel=1e-6)


def test_derive_error_raises_naming_the_keys():
    X, y, A = _images()
    rrr = _compiled(_cnn(), lambda1=2.0, derive="error")
    with pytest.raises(ValueError, match=r"neg_mask.*pos_mask"):
        rrr.evaluate({"x": X, "pos_mask": 1.0 - A}, y, verbose=0)
    with pytest.raises(ValueError, match="derive"):
        RightReasonsTerm(derive="guess")


def test_has_annotation_zero_gives_exactly_zero():
    X, y, A = _data()
    rrr = _compiled(rrr_mlp((6,), 2, hidden=(5,), seed=0), lambda1=10.0)
    assert _reasons(rrr, {"x": X, "neg_mask": A}, y) > 0
    zeros = np.zeros(len(X), np.float32)
    assert _reasons(rrr, {"x": X, "neg_mask": A, "has_annotation": zeros}, y) == 0.0
    # partial flags: only the flagged samples count (the mean is still over the batch)
    flags = (np.arange(len(X)) < 10).astype(np.float32)
    only = A * flags[:, None]
    assert _reasons(rrr, {"x": X, "neg_mask": A, "has_annotation": flags}, y) == pytest.approx(
        _reasons(rrr, {"x": X, "neg_mask": only}, y), rel=1e-6)
    # certainty ignores the annotations altogether
    cert = _compiled(rrr_mlp((6,), 2, hidden=(5,), seed=0), lambda1=10.0, certainty=True)
    assert _reasons(cert, {"x": X, "neg_mask": A, "has_annotation": zeros}, y) > 0


def test_non_finite_lambdas_and_bad_switches_are_rejected():
    for bad in (float("inf"), float("nan")):
        with pytest.raises(ValueError, match="lambda1"):
            RightReasonsTerm(bad)
        with pytest.raises(ValueError, match="lambda2"):
            SmallParamsTerm(bad)
        with pytest.raises(ValueError, match="lambda1"):
            RightForRightReasons(rrr_mlp((6,), 2, seed=0), lambda1=bad)
    with pytest.raises(TypeError, match="lambda1"):
        RightReasonsTerm("1000")
    with pytest.raises(TypeError, match="certainty"):
        RightReasonsTerm(certainty="yes")
    with pytest.raises(ValueError, match="norm"):
        RightReasonsTerm(norm="l3")


def test_preset_keeps_explained_layer_and_appends_extra_terms():
    from keras_egl.explain.explainers import GradCAM
    from keras_egl.terms.feedback import InputGradientFeedback

    X, y, A = _images()
    rrr = RightForRightReasons(_cnn(), lambda1=1.0, explained_layer="conv",
                               terms=[InputGradientFeedback(weight=2.0)])
    assert rrr.explained_layer == "conv"
    assert [t.name for t in rrr.terms] == ["right_reasons", "small_params", "feedback_loss"]
    assert isinstance(rrr.explainer_object, GradCAM)           # the library-wide default with a layer
    assert rrr.explain(X[:2]).shape == (2, 6, 6)
    rrr.compile(rrr_optimizer(), SCE)
    hist = rrr.fit({"x": X, "neg_mask": A}, y, batch_size=8, epochs=1, verbose=0).history
    assert hist["feedback_loss"][0] > 0 and hist["right_reasons"][0] > 0
    config = rrr.get_config()
    assert config["explained_layer"] == "conv" and len(config["terms"]) == 1
    clone = RightForRightReasons.from_config(config)
    assert [t.name for t in clone.terms] == [t.name for t in rrr.terms]
    assert clone.terms[2].get_config() == rrr.terms[2].get_config()
    assert clone.explained_layer == "conv"
    # names work too; without extras the config holds no `terms`
    named = RightForRightReasons(_cnn(), terms=["feedback"])
    assert type(named.terms[2]) is InputGradientFeedback
    assert "terms" not in RightForRightReasons(_cnn()).get_config()


def test_default_explainer_and_the_reference_visualisation_quantity():
    from keras_egl.explain.explainers import InputGradient

    X, _, _ = _data(n=10)
    clf = rrr_mlp((6,), 3, hidden=(5,), seed=0)
    default = RightForRightReasons(clf)
    logits = clf(X)
    with tf.GradientTape() as tape:
        xt = tf.constant(X)
        tape.watch(xt)
        z = clf(xt)
        s = tf.reduce_sum(tf.gather(z, tf.argmax(logits, -1), batch_dims=1))
    np.testing.assert_allclose(default.explain(X).numpy(), tape.gradient(s, xt).numpy(), rtol=1e-5, atol=1e-7)
    reference = RightForRightReasons(clf, explainer=InputGradient(target="max_prob", quantity="logit"))
    np.testing.assert_allclose(reference.explain(X).numpy(),
                               input_gradients(clf, tf.constant(X), target="max_prob").numpy(), rtol=1e-5,
                               atol=1e-7)
    clone = RightForRightReasons.from_config(reference.get_config())
    assert clone.explainer_object.get_config() == reference.explainer_object.get_config()


def test_neg_key_config_and_deprecated_mask_key():
    X, y, A = _data()
    with pytest.warns(DeprecationWarning, match="mask_key"):
        old = RightForRightReasons(rrr_mlp((6,), 2, hidden=(4,), seed=0), lambda1=4.0, mask_key="A")
    assert old.neg_key == "A" and old.terms[0].neg_key == "A"
    old.compile(rrr_optimizer(), SCE)
    assert _reasons(old, {"x": X, "A": A}, y) > 0
    config = old.get_config()
    assert "mask_key" not in config and config["neg_key"] == "A"
    assert RightForRightReasons.from_config(config).terms[0].neg_key == "A"
    term = RightReasonsTerm()
    assert term.needs == ("neg",) and term.neg_key == "neg_mask" and term.reduction == "mean"
    # a misspelt key raises instead of silently switching RRR off
    rrr = _compiled(rrr_mlp((6,), 2, hidden=(4,), seed=0))
    with pytest.raises(ValueError, match="mask"):
        rrr.evaluate({"x": X, "mask": A}, y, verbose=0)


def test_registry_terms_match_the_preset():
    from keras_egl import terms
    from keras_egl.models.base import ExplanationGuidedModel

    X, y, A = _data()
    clf = rrr_mlp((6,), 2, hidden=(5,), seed=0)
    egl = ExplanationGuidedModel(clf, terms=[terms.get("rrr", lambda1=10.0), terms.get("small_params")])
    egl.compile(rrr_optimizer(), SCE)
    preset = _compiled(clf, lambda1=10.0)
    got = egl.evaluate({"x": X, "neg_mask": A}, y, batch_size=64, verbose=0, return_dict=True)
    want = preset.evaluate({"x": X, "neg_mask": A}, y, batch_size=64, verbose=0, return_dict=True)
    for key in ("right_reasons", "small_params", "loss"):
        assert got[key] == pytest.approx(want[key], rel=1e-6)


def test_moved_helpers_are_importable_from_both_paths():
    from keras_egl.explain import gradients
    from keras_egl.models import rrr as old
    from keras_egl.terms import rrr as terms_rrr
    from keras_egl.training import find_another_explanation as fae
    from keras_egl.training import sampling

    assert old.find_another_explanation is fae.find_another_explanation
    assert old.FAEResult is fae.FAEResult and old.fit_rrr is fae.fit_rrr and old.accuracy is fae.accuracy
    assert old.always_include_batches is sampling.always_include_batches
    assert old.AlwaysIncludeSequence is sampling.AlwaysIncludeSequence
    assert old.largest_gradient_mask is gradients.largest_gradient_mask
    assert old.gradient_mask is gradients.gradient_mask
    assert old.RightReasonsTerm is terms_rrr.RightReasonsTerm and old.SmallParamsTerm is terms_rrr.SmallParamsTerm
    assert old.REFERENCE_LAMBDA2 == terms_rrr.REFERENCE_LAMBDA2
    from keras_egl import training

    assert training.FAEResult is fae.FAEResult and training.AlwaysIncludeSequence is sampling.AlwaysIncludeSequence
    assert training.find_another_explanation is fae  # the module (the function is fae.find_another_explanation)
    with pytest.raises(AttributeError):
        old.no_such_name


def test_fit_rrr_accepts_image_masks():
    X, y, A = _images(n=8)
    rrr, hist = fit_rrr(_cnn(), X, y, A, lambda1=1.0, epochs=1, batch_size=8, seed=0, run_eagerly=True)
    assert hist.history["right_reasons"][0] > 0
    with pytest.raises(ValueError, match="annotation"):
        fit_rrr(_cnn(), X, y, A[:, :3], epochs=1)
