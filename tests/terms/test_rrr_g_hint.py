"""RRR-G and HINT (the XIL typology's Grad-CAM terms): values, contract, gradients, inactivity."""

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.hint import HINTTerm
from keras_egl.terms.rrr_g import RRRGradCAMTerm
from keras_egl.testing import annotated_batch, run_term_test, small_cnn
from keras_egl._compat import variable_path


def _numpy_cam(model, x, classes):
    """Grad-CAM at ``conv2`` (8×8) by hand: α = mean ∂logit_c/∂A, Σ_k α_k A_k, no ReLU, min–max."""
    probe = keras.Model(model.inputs, [model.get_layer("conv2").output, model.output])
    with tf.GradientTape() as tape:
        acts, logits = probe(x)
        score = tf.reduce_sum(logits * tf.one_hot(classes, logits.shape[-1]))
    grads = tape.gradient(score, acts).numpy()
    acts = acts.numpy()
    cam = np.einsum("bhwk,bk->bhw", acts, grads.mean((1, 2)))
    lo, hi = cam.min((1, 2), keepdims=True), cam.max((1, 2), keepdims=True)
    return (cam - lo) / (hi - lo), logits.numpy()


def _area(mask):
    """16×16 → 8×8 area downsampling: 2×2 block means."""
    return mask.reshape(len(mask), 8, 2, 8, 2).mean((2, 4))


def _value(term, inputs, y, model=None):
    egl = ExplanationGuidedModel(model or small_cnn(), terms=[term], explained_layer="conv2",
                                 extra_keys=("pos_mask", "neg_mask", "reasonability"))
    _, ctx = egl.forward(inputs, tf.constant(y))
    return float(egl.compute_terms(ctx)[term.name]), egl


def test_rrr_g_value_equals_numpy_on_the_predicted_class():
    inputs, y = annotated_batch()
    model = small_cnn()
    got, _ = _value(RRRGradCAMTerm(), inputs, y, model)
    _, logits = _numpy_cam(model, inputs["x"], y)
    cam, _ = _numpy_cam(model, inputs["x"], logits.argmax(-1))
    per_sample = np.sum((_area(inputs["neg_mask"]) * cam) ** 2, axis=(1, 2))
    expected = np.mean(per_sample * inputs["has_annotation"])
    assert expected > 0 and got == pytest.approx(expected, rel=1e-5)
    # the predicted class, not the label: with y = pred the label never enters
    assert not np.array_equal(logits.argmax(-1), y)


def test_hint_value_equals_numpy_on_the_true_class():
    inputs, y = annotated_batch()
    model = small_cnn()
    got, _ = _value(HINTTerm(), inputs, y, model)
    cam, _ = _numpy_cam(model, inputs["x"], y)
    per_sample = np.mean((cam - _area(inputs["pos_mask"])) ** 2, axis=(1, 2))
    expected = np.mean(per_sample * inputs["has_annotation"])
    assert expected > 0 and got == pytest.approx(expected, rel=1e-5)


def test_derived_masks_and_nearest_resize():
    inputs, y = annotated_batch()
    model = small_cnn()
    flags = inputs["has_annotation"]
    only_pos = {k: v for k, v in inputs.items() if k != "neg_mask"}
    explicit = {**only_pos, "neg_mask": (1.0 - inputs["pos_mask"]) * flags[:, None, None]}
    assert _value(RRRGradCAMTerm(), only_pos, y, model)[0] == pytest.approx(
        _value(RRRGradCAMTerm(), explicit, y, model)[0], rel=1e-6)
    with pytest.raises(ValueError, match="`neg_mask`"):
        _value(RRRGradCAMTerm(derive="error"), only_pos, y, model)
    cam, _ = _numpy_cam(model, inputs["x"], y)
    nearest = inputs["pos_mask"][:, ::2, ::2]
    expected = np.mean(np.mean((cam - nearest) ** 2, axis=(1, 2)) * flags)
    assert _value(HINTTerm(resize="nearest"), inputs, y, model)[0] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("cls", [RRRGradCAMTerm, HINTTerm])
def test_term_contract(cls):
    result = run_term_test(lambda **kw: cls(**kw))
    assert np.isfinite(result["value"]) and result["bad_inputs_checked"] >= 5


@pytest.mark.parametrize("cls", [RRRGradCAMTerm, HINTTerm])
def test_gradient_reaches_the_backbone(cls):
    inputs, y = annotated_batch()
    egl = ExplanationGuidedModel(small_cnn(), terms=[cls()], explained_layer="conv2",
                                 extra_keys=("pos_mask", "neg_mask", "reasonability"))
    with tf.GradientTape() as tape:
        _, ctx = egl.forward(inputs, tf.constant(y), training=True)
        value = egl.terms[0].value(ctx)
    grads = dict(zip([variable_path(v) for v in egl.model.trainable_variables],
                     tape.gradient(value, egl.model.trainable_variables)))
    for name in ("conv1/kernel", "conv2/kernel"):
        assert grads[name] is not None and np.abs(grads[name].numpy()).sum() > 0, name


@pytest.mark.parametrize("cls", [RRRGradCAMTerm, HINTTerm])
def test_inactive_without_annotation_is_exactly_zero(cls):
    inputs, y = annotated_batch()
    assert _value(cls(), {"x": inputs["x"]}, y)[0] == 0.0
    off = {**inputs, "has_annotation": np.zeros(len(y), "float32")}
    assert _value(cls(), off, y)[0] == 0.0


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="`resize`"):
        RRRGradCAMTerm(resize="bilinear")
    with pytest.raises(ValueError, match="`normalize`"):
        HINTTerm(normalize="softmax")
    with pytest.raises(TypeError, match="`neg_key`"):
        RRRGradCAMTerm(neg_key=None)
