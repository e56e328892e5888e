"""The shared core: annotation vocabulary, context, validation, logs, explainer config."""

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl import validation
from keras_egl.explain.explainers import GradCAM, InputGradient
from keras_egl.metrics.explanation import ExplanationIoU
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.core import ExplanationTerm, check_derive
from keras_egl.testing import annotated_batch, small_cnn


def test_check_float_refuses_inf_nan_bool_and_strings():
    for bad, exc in ((float("inf"), ValueError), (float("nan"), ValueError), (True, TypeError),
                     ("abc", TypeError), (-1.0, ValueError)):
        with pytest.raises(exc, match="`lam`"):
            validation.check_non_negative(bad, "lam")
    assert validation.check_non_negative(np.float32(2), "lam") == 2.0


def test_check_choice_pair_int_bool():
    with pytest.raises(ValueError, match="`mode`.*got 'x'"):
        validation.check_choice("x", ("a", "b"), "mode")
    assert validation.check_pair(3, "size") == (3, 3)
    with pytest.raises(ValueError, match="`size`"):
        validation.check_pair((0, 2), "size")
    with pytest.raises(TypeError, match="`n`"):
        validation.check_positive_int(2.0, "n")
    with pytest.raises(TypeError, match="`flag`"):
        validation.check_bool("False", "flag")
    with pytest.raises(ValueError, match="`derive`"):
        check_derive("invert")


@pytest.mark.parametrize("mask,needle", [
    (np.full((2, 8, 8), 255.0, "float32"), "[0, 1]"),
    (np.full((2, 8, 8), np.nan, "float32"), "NaN"),
    (np.ones((2, 6, 8), "float32"), "spatial size"),
    (np.ones((2, 8, 8, 3), "float32"), "last axis"),
    (np.ones((2, 8), "float32"), "shape"),
])
def test_check_mask_rejects_eagerly_and_in_graph_mode(mask, needle):
    x = tf.zeros((2, 8, 8, 3))
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="pos_mask"):
        validation.check_mask(mask, "pos_mask", like=x)

    @tf.function
    def graph(m):
        return validation.check_mask(m, "pos_mask", like=x)

    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match="pos_mask"):
        graph(tf.constant(mask))


def test_check_mask_accepts_channel_masks_only_when_asked():
    x = tf.zeros((2, 8, 8, 3))
    m = validation.check_mask(np.ones((2, 8, 8, 1)), "m", like=x)
    assert m.shape == (2, 8, 8)
    m3 = validation.check_mask(np.ones((2, 8, 8, 3)), "m", like=x, allow_channels=True)
    assert m3.shape == (2, 8, 8, 3)


def test_check_per_sample_rejects_broadcastable_length_one():
    with pytest.raises(ValueError, match="sample_weight.*5"):
        validation.check_per_sample(np.ones(1), "sample_weight", tf.zeros((5, 2)))

    @tf.function(input_signature=[tf.TensorSpec([None]), tf.TensorSpec([None, 2])])
    def graph(v, like):
        return validation.check_per_sample(v, "sample_weight", like)

    with pytest.raises(tf.errors.InvalidArgumentError, match="sample_weight"):
        graph(tf.ones(1), tf.zeros((5, 2)))


@keras.saving.register_keras_serializable(package="keras_egl_tests")
class _PosL1(ExplanationTerm):
    default_name = "pos_l1"
    needs = ("pos",)

    def __init__(self, pos_key="pos_mask", neg_key="neg_mask", flag_key="has_annotation",
                 derive="complement", **kwargs):
        super().__init__(**kwargs)
        self.pos_key, self.neg_key, self.flag_key = pos_key, neg_key, flag_key
        self.derive = check_derive(derive)

    def compute(self, ctx):
        cam = ctx.grad_cam(target="true", upsample="bilinear")
        pos, _, flags = self.masks(ctx)
        per = tf.reduce_mean(tf.abs(cam - pos), [1, 2]) * flags
        return tf.math.divide_no_nan(tf.reduce_sum(per), tf.reduce_sum(flags))

    def get_config(self):
        return {**super().get_config(), "pos_key": self.pos_key, "neg_key": self.neg_key,
                "flag_key": self.flag_key, "derive": self.derive}


def _model(**kw):
    egl = ExplanationGuidedModel(small_cnn(), terms=[_PosL1()], explained_layer="conv2",
                                 extra_keys=["reasonability"], **kw)
    egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return egl


def test_explanation_metrics_only_in_evaluate_logs():
    x, y = annotated_batch()
    egl = _model(explanation_metrics=[ExplanationIoU(0.5)])
    hist = egl.fit(x, y, epochs=2, verbose=0, validation_data=(x, y)).history
    assert "explanation_iou" not in hist  # no constant 0.0 from the training steps
    assert "val_explanation_iou" in hist
    logs = egl.evaluate(x, y, verbose=0, return_dict=True)
    assert "explanation_iou" in logs


def test_derived_mask_and_derive_error():
    x, y = annotated_batch()
    only_neg = {k: v for k, v in x.items() if k != "pos_mask"}
    egl = _model()
    _, ctx = egl.forward(only_neg, y)
    pos, neg, flags = egl.terms[0].masks(ctx)
    expect = (1.0 - x["neg_mask"]) * x["has_annotation"][:, None, None]
    np.testing.assert_allclose(pos.numpy(), expect)
    strict = _PosL1(derive="error")
    with pytest.raises(ValueError, match="pos_mask.*neg_mask|neg_mask.*pos_mask"):
        strict.masks(ctx)


def test_default_explainer_is_the_same_everywhere_and_serialised():
    egl = _model()
    assert isinstance(egl.explainer_object, GradCAM)
    assert egl.explainer_object.get_config() == GradCAM().get_config()
    plain = ExplanationGuidedModel(small_cnn())
    assert isinstance(plain.explainer_object, InputGradient)
    custom = _model(explainer=GradCAM(relu=False))
    again = ExplanationGuidedModel.from_config(custom.get_config())
    assert again.explainer_object.get_config()["relu"] is False
    unserialisable = _model(explainer=lambda ctx: ctx.grad_cam())
    with pytest.raises(ValueError, match="explainer"):
        unserialisable.get_config()


def test_explanation_metrics_survive_config_round_trip():
    egl = _model(explanation_metrics=[(ExplanationIoU(0.25, name="iou25"), ("pos_mask",))])
    again = ExplanationGuidedModel.from_config(egl.get_config())
    (metric, keys), = again._state.metric_specs
    assert metric.name == "iou25" and keys == ("pos_mask",)


def test_term_weight_must_be_a_finite_number():
    for bad, exc in (("abc", TypeError), (float("inf"), ValueError), (-1, ValueError)):
        with pytest.raises(exc, match="weight"):
            _PosL1(weight=bad)
