"""Bad inputs to ``keras_egl.losses`` and ``keras_egl.terms``: RRR, feedback, GNES, RES, GRADIA and
HAICS losses and the term registry raise errors naming the argument."""

import numpy as np
import pytest

from keras_egl import terms
from keras_egl._keras import keras
from keras_egl.explain.explainers import GradCAM
from keras_egl.losses.feedback import (feedback_evidence_nll, feedback_unit_mask, input_gradient_feedback_penalty,
                                       pool_feedback_mask, resolve_feedback_weight)
from keras_egl.losses.gnes import ExplanationDistance
from keras_egl.losses.gradia import GRADIALoss, gradia_attention_loss, gradia_label, reasonability_weights
from keras_egl.losses.haics import HAICSLoss, haics_loss
from keras_egl.losses.res import RESLoss, adaptive_threshold, annotation_target, res_distance, res_hinge
from keras_egl.losses.rrr import (RightReasonsLoss, input_gradient_penalty, lambdas_from_reference,
                                  right_reasons_penalty, small_params_penalty)
from keras_egl.terms.feedback import InputGradientFeedback
from keras_egl.terms.rrr import RightReasonsTerm, SmallParamsTerm
from tests.robustness._cases import case, check, dense_model, features, params, t

NAN = float("nan")
INF = float("inf")
XF = features()
A = np.zeros((2, 4), "float32")
A[:, 0] = 1.0
G = t(np.random.default_rng(0).normal(size=(2, 4)))
MASK28 = np.zeros((2, 8, 8), "float32")
MASK28[:, :2, :2] = 1.0
PRE = t(np.random.default_rng(1).normal(size=(2, 4, 4, 3)))
SD = t(np.full((2, 4, 4, 3), 0.5))
FLAG = t(np.ones((2, 4, 4, 3)))
GIMG = t(np.random.default_rng(2).normal(size=(2, 8, 8, 3)))
MAPS = t(np.random.default_rng(3).random((2, 4, 4)))
POS = np.zeros((2, 4, 4), "float32")
POS[:, 0, :2] = 1.0
NEG = np.zeros((2, 4, 4), "float32")
NEG[:, 3, 3] = 1.0
TARGET = POS - NEG
NODE = np.ones((2, 4), "float32")

CASES = [
    # ----------------------------------------------------------------- RRR functions
    case("right_reasons_penalty", "grads_int", lambda: right_reasons_penalty(A, np.ones((2, 4), "int32")),
         TypeError, "`grads`"),
    case("right_reasons_penalty", "norm_choice", lambda: right_reasons_penalty(A, G, norm="l3"), ValueError, "`norm`"),
    case("right_reasons_penalty", "reduction_choice", lambda: right_reasons_penalty(A, G, reduction="max"),
         ValueError, "`reduction`"),
    case("right_reasons_penalty", "annotation_shape", lambda: right_reasons_penalty(A[:, :3], G),
         ValueError, "annotation"),
    case("right_reasons_penalty", "annotation_batch_1", lambda: right_reasons_penalty(A[:1], G),
         ValueError, "annotation"),
    case("right_reasons_penalty", "annotation_nan", lambda: right_reasons_penalty(np.full((2, 4), np.nan), G),
         ValueError, "`annotation`"),
    case("right_reasons_penalty", "grads_nan", lambda: right_reasons_penalty(A, np.full((2, 4), np.nan, "float32")),
         ValueError, "`grads`"),
    case("RightReasonsLoss", "lambda1_negative", lambda: RightReasonsLoss(lambda1=-1.0), ValueError, "`lambda1`"),
    case("RightReasonsLoss", "lambda1_inf", lambda: RightReasonsLoss(lambda1=INF), ValueError, "`lambda1`"),
    case("RightReasonsLoss", "lambda1_string", lambda: RightReasonsLoss(lambda1="1000"), TypeError, "`lambda1`"),
    case("RightReasonsLoss", "norm_choice", lambda: RightReasonsLoss(norm="l0"), ValueError, "`norm`"),
    case("RightReasonsLoss", "reduction_choice", lambda: RightReasonsLoss(reduction="none"), ValueError, "`reduction`"),
    case("RightReasonsLoss", "call_shape_mismatch", lambda: RightReasonsLoss()(A[:, :2], G), ValueError, "annotation"),
    case("input_gradient_penalty", "x_int", lambda: input_gradient_penalty(dense_model(), np.ones((2, 4), "int32"), A),
         TypeError, "`x`"),
    case("input_gradient_penalty", "lambda1_negative", lambda: input_gradient_penalty(dense_model(), XF, A, lambda1=-1),
         ValueError, "`lambda1`"),
    case("input_gradient_penalty", "annotation_shape", lambda: input_gradient_penalty(dense_model(), XF, A[:, :2]),
         ValueError, "annotation"),
    case("input_gradient_penalty", "target_unknown", lambda: input_gradient_penalty(dense_model(), XF, A,
                                                                                    target="logprob"),
         ValueError, "`target`"),
    case("input_gradient_penalty", "norm_choice", lambda: input_gradient_penalty(dense_model(), XF, A, norm="linf"),
         ValueError, "`norm`"),
    case("small_params_penalty", "variables_number", lambda: small_params_penalty(3.0), TypeError, "`variables`"),
    case("small_params_penalty", "variables_none", lambda: small_params_penalty(None), TypeError, "`variables`"),
    case("small_params_penalty", "variables_strings", lambda: small_params_penalty(["w"]), TypeError, "`variables`"),
    case("small_params_penalty", "include_biases_string", lambda: small_params_penalty(dense_model(),
                                                                                       include_biases="no"),
         TypeError, "`include_biases`"),
    case("small_params_penalty", "half_string", lambda: small_params_penalty(dense_model(), half="yes"),
         TypeError, "`half`"),
    case("lambdas_from_reference", "batch_size_zero", lambda: lambdas_from_reference(1000.0, 1e-4, 0),
         ValueError, "`batch_size`"),
    case("lambdas_from_reference", "batch_size_float", lambda: lambdas_from_reference(1000.0, 1e-4, 256.0),
         ValueError, "`batch_size`"),
    case("lambdas_from_reference", "reduction_choice", lambda: lambdas_from_reference(1000.0, 1e-4, 256, "max"),
         ValueError, "`reduction`"),
    case("lambdas_from_reference", "fidelity_choice", lambda: lambdas_from_reference(1000.0, 1e-4, 256,
                                                                                     fidelity="pytorch"),
         ValueError, "`fidelity`"),
    case("lambdas_from_reference", "lambda1_negative", lambda: lambdas_from_reference(-1.0, 1e-4, 256),
         ValueError, "`lambda1`"),
    case("lambdas_from_reference", "lambda2_inf", lambda: lambdas_from_reference(1000.0, INF, 256),
         ValueError, "`lambda2`"),
    # ----------------------------------------------------------------- feedback functions
    case("pool_feedback_mask", "pool_choice", lambda: pool_feedback_mask(MASK28, (4, 4), pool="avg"),
         ValueError, "`pool`"),
    case("pool_feedback_mask", "mask_rank2", lambda: pool_feedback_mask(MASK28[0], (4, 4)), ValueError, "`mask`"),
    case("pool_feedback_mask", "input_size_mismatch", lambda: pool_feedback_mask(MASK28, (4, 4), input_size=(28, 28)),
         ValueError, "`mask`"),
    case("pool_feedback_mask", "grid_1x1", lambda: pool_feedback_mask(MASK28, (1, 1)), ValueError, "`grid`"),
    case("pool_feedback_mask", "grid_one_entry", lambda: pool_feedback_mask(MASK28, (4,)), TypeError, "`grid`"),
    case("pool_feedback_mask", "grid_float", lambda: pool_feedback_mask(MASK28, (3.5, 4)), TypeError, "`grid`"),
    case("pool_feedback_mask", "mask_0_255", lambda: pool_feedback_mask(MASK28 * 255, (4, 4)), ValueError, "`mask`"),
    case("feedback_unit_mask", "pre_activation_rank3", lambda: feedback_unit_mask(MASK28, PRE[..., 0]),
         ValueError, "`pre_activation`"),
    case("feedback_unit_mask", "gradients_shape", lambda: feedback_unit_mask(MASK28, PRE, gradients=PRE[..., :2]),
         ValueError, "`gradients`"),
    case("feedback_unit_mask", "pool_choice", lambda: feedback_unit_mask(MASK28, PRE, pool="min"), ValueError, "`pool`"),
    case("feedback_unit_mask", "input_size_mismatch", lambda: feedback_unit_mask(MASK28, PRE, input_size=(9, 9)),
         ValueError, "`mask`"),
    case("feedback_unit_mask", "nonzero_filter_string", lambda: feedback_unit_mask(MASK28, PRE, nonzero_filter="no"),
         TypeError, "`nonzero_filter`"),
    case("feedback_unit_mask", "mask_batch_1", lambda: feedback_unit_mask(MASK28[:1], PRE), ValueError, "`mask`"),
    case("feedback_evidence_nll", "reduction_choice", lambda: feedback_evidence_nll(PRE, SD, FLAG, reduction="max"),
         ValueError, "`reduction`"),
    case("feedback_evidence_nll", "stddev_zero", lambda: feedback_evidence_nll(PRE, SD * 0.0, FLAG),
         ValueError, "`stddev`"),
    case("feedback_evidence_nll", "flagged_shape", lambda: feedback_evidence_nll(PRE, SD, FLAG[:1]),
         ValueError, "`flagged`"),
    case("feedback_evidence_nll", "stddev_shape", lambda: feedback_evidence_nll(PRE, SD[..., :1], FLAG),
         ValueError, "`stddev`"),
    case("feedback_evidence_nll", "flagged_not_binary", lambda: feedback_evidence_nll(PRE, SD, FLAG * 255.0),
         ValueError, "`flagged`"),
    case("input_gradient_feedback_penalty", "gradients_rank1", lambda: input_gradient_feedback_penalty(
        np.ones(4), t(np.ones(4))), ValueError, "`gradients`"),
    case("input_gradient_feedback_penalty", "mask_spatial", lambda: input_gradient_feedback_penalty(
        np.ones((2, 4, 4)), GIMG), ValueError, "`mask`"),
    case("input_gradient_feedback_penalty", "mask_none", lambda: input_gradient_feedback_penalty(None, G),
         ValueError, "`mask`"),
    case("input_gradient_feedback_penalty", "mask_features_shape", lambda: input_gradient_feedback_penalty(
        np.ones((2, 3)), G), ValueError, "`mask`"),
    case("input_gradient_feedback_penalty", "mask_0_255", lambda: input_gradient_feedback_penalty(
        MASK28 * 255, GIMG), ValueError, "`mask`"),
    case("input_gradient_feedback_penalty", "normalize_string", lambda: input_gradient_feedback_penalty(
        MASK28, GIMG, normalize="no"), TypeError, "`normalize`"),
    case("resolve_feedback_weight", "unknown_preset", lambda: resolve_feedback_weight("v9_mnist"),
         ValueError, "`feedback_weight`"),
    case("resolve_feedback_weight", "negative", lambda: resolve_feedback_weight(-1.0), ValueError, "`feedback_weight`"),
    case("resolve_feedback_weight", "inf", lambda: resolve_feedback_weight(INF), ValueError, "`feedback_weight`"),
    case("resolve_feedback_weight", "bool", lambda: resolve_feedback_weight(True), TypeError, "`feedback_weight`"),
    case("resolve_feedback_weight", "none", lambda: resolve_feedback_weight(None), TypeError, "`feedback_weight`"),
    # ----------------------------------------------------------------- GNES ExplanationDistance
    case("ExplanationDistance", "distance_choice", lambda: ExplanationDistance("l3"), ValueError, "`distance`"),
    case("ExplanationDistance", "reduction_choice", lambda: ExplanationDistance(reduction_over_graphs="mean"),
         ValueError, "`reduction_over_graphs`"),
    case("ExplanationDistance", "per_graph_shape", lambda: ExplanationDistance().per_graph(NODE[:, :3], NODE),
         ValueError, "annotation"),
    case("ExplanationDistance", "node_mask_shape", lambda: ExplanationDistance().per_graph(NODE, NODE, np.ones((2, 3))),
         ValueError, "`node_mask`"),
    case("ExplanationDistance", "has_label_length", lambda: ExplanationDistance().distance(NODE, NODE, has_label=[1]),
         ValueError, "`has_label`"),
    case("ExplanationDistance", "explanation_rank4", lambda: ExplanationDistance().per_graph(
        np.ones((2, 4, 4, 1)), np.ones((2, 4, 4, 1)), np.ones((2, 4))), ValueError, "explanations"),
    case("ExplanationDistance", "explanation_nan", lambda: ExplanationDistance().per_graph(NODE, NODE * np.nan),
         ValueError, "`explanation`"),
    # ----------------------------------------------------------------- RES / GRADIA / HAICS losses
    case("res_hinge", "alpha_negative", lambda: res_hinge(MAPS, TARGET, alpha=-0.1), ValueError, "`alpha`"),
    case("res_hinge", "gamma_zero", lambda: res_hinge(MAPS, TARGET, gamma=0.0), ValueError, "`gamma`"),
    case("res_hinge", "scope_choice", lambda: res_hinge(MAPS, TARGET, scope="pixel"), ValueError, "`scope`"),
    case("res_hinge", "target_shape", lambda: res_hinge(MAPS, TARGET[:, :2]), ValueError, "`target`"),
    case("res_hinge", "alpha_inf", lambda: res_hinge(MAPS, TARGET, alpha=INF), ValueError, "`alpha`"),
    case("res_hinge", "sample_weight_length_1", lambda: res_hinge(MAPS, TARGET, sample_weight=[2.0]),
         ValueError, "`sample_weight`"),
    case("annotation_target", "overlap_choice", lambda: annotation_target(POS, NEG, overlap="ignore"),
         ValueError, "`overlap`"),
    case("annotation_target", "positive_0_255", lambda: annotation_target(POS * 255), ValueError, "`positive`"),
    case("annotation_target", "negative_shape", lambda: annotation_target(POS, NEG[:, :3]), ValueError, "`negative`"),
    case("annotation_target", "overlap_error", lambda: annotation_target(POS, POS), ValueError, "`positive`"),
    case("annotation_target", "positive_rank2", lambda: annotation_target(POS[0]), ValueError, "`positive`"),
    case("adaptive_threshold", "scope_choice", lambda: adaptive_threshold(MAPS, TARGET, scope="all"),
         ValueError, "`scope`"),
    case("adaptive_threshold", "target_shape", lambda: adaptive_threshold(MAPS, TARGET[:1]), ValueError, "`target`"),
    case("adaptive_threshold", "maps_rank2", lambda: adaptive_threshold(MAPS[0], TARGET), ValueError, "`maps`"),
    case("adaptive_threshold", "offset_nan", lambda: adaptive_threshold(MAPS, TARGET, offset=NAN),
         ValueError, "`offset`"),
    case("adaptive_threshold", "default_string", lambda: adaptive_threshold(MAPS, TARGET, default="0.5"),
         TypeError, "`default`"),
    case("res_distance", "no_target_masked", lambda: res_distance(MAPS, MAPS), ValueError, "`target`"),
    case("res_distance", "imputed_shape", lambda: res_distance(MAPS, MAPS[:, :2], TARGET), ValueError, "`imputed`"),
    case("res_distance", "target_shape", lambda: res_distance(MAPS, MAPS, TARGET[:, :, :2]), ValueError, "`target`"),
    case("res_distance", "sample_weight_length_1", lambda: res_distance(MAPS, MAPS, TARGET, sample_weight=[3.0]),
         ValueError, "`sample_weight`"),
    case("res_distance", "imputed_nan", lambda: res_distance(MAPS, MAPS * np.nan, TARGET), ValueError, "`imputed`"),
    case("RESLoss", "hinge_scope_choice", lambda: RESLoss(hinge_scope="pixel"), ValueError, "`hinge_scope`"),
    case("RESLoss", "alpha_negative", lambda: RESLoss(alpha=-1.0), ValueError, "`alpha`"),
    case("RESLoss", "gamma_zero", lambda: RESLoss(gamma=0.0), ValueError, "`gamma`"),
    case("RESLoss", "preset_fidelity", lambda: RESLoss.preset(fidelity="torch"), ValueError, "`fidelity`"),
    case("RESLoss", "overlap_choice", lambda: RESLoss(overlap="ignore"), ValueError, "`overlap`"),
    case("RESLoss", "alpha_string", lambda: RESLoss(alpha="x"), TypeError, "`alpha`"),
    case("reasonability_weights", "labels_unknown", lambda: reasonability_weights(["RA", "XX"]), ValueError, "`labels`"),
    case("reasonability_weights", "codes_out_of_range", lambda: reasonability_weights([1, 7]), ValueError, "`labels`"),
    case("reasonability_weights", "weights_unknown_key", lambda: reasonability_weights([1], weights={"AB": (1, 1)}),
         ValueError, "`weights`"),
    case("reasonability_weights", "weights_negative", lambda: reasonability_weights([1], weights={"RA": (-1.0, 1.0)}),
         ValueError, "`weights`"),
    case("reasonability_weights", "codes_fractional", lambda: reasonability_weights([1.5, 2.0]), ValueError, "`labels`"),
    case("gradia_label", "resize_choice", lambda: gradia_label(MASK28, (4, 4), resize="bilinear"),
         ValueError, "`resize`"),
    case("gradia_label", "positive_rank2", lambda: gradia_label(MASK28[0], (4, 4)), ValueError, "`positive`"),
    case("gradia_label", "size_zero", lambda: gradia_label(MASK28, 0), ValueError, "`size`"),
    case("gradia_label", "positive_channels", lambda: gradia_label(np.ones((2, 8, 8, 3)), (4, 4)),
         ValueError, "`positive`"),
    case("gradia_label", "positive_0_255", lambda: gradia_label(MASK28 * 255, (4, 4), resize="nearest"),
         ValueError, "`positive`"),
    case("gradia_attention_loss", "label_shape", lambda: gradia_attention_loss(MAPS, MAPS[:, :2]), ValueError, "`label`"),
    case("gradia_attention_loss", "maps_rank2", lambda: gradia_attention_loss(MAPS[0], MAPS), ValueError, "`maps`"),
    case("gradia_attention_loss", "weight_length_1", lambda: gradia_attention_loss(MAPS, MAPS, attention_weight=[2.0]),
         ValueError, "`attention_weight`"),
    case("gradia_attention_loss", "flags_length", lambda: gradia_attention_loss(MAPS, MAPS, has_annotation=[1, 0, 1]),
         ValueError, "`has_annotation`"),
    case("gradia_attention_loss", "label_nan", lambda: gradia_attention_loss(MAPS, MAPS * np.nan), ValueError, "`label`"),
    case("GRADIALoss", "resize_choice", lambda: GRADIALoss(resize="cubic"), ValueError, "`resize`"),
    case("GRADIALoss", "resize_none", lambda: GRADIALoss(resize=None), ValueError, "`resize`"),
    case("GRADIALoss", "resize_int", lambda: GRADIALoss(resize=1), ValueError, "`resize`"),
    case("GRADIALoss", "resize_upper", lambda: GRADIALoss(resize="AREA"), ValueError, "`resize`"),
    case("GRADIALoss", "resize_list", lambda: GRADIALoss(resize=["area"]), (TypeError, ValueError), "`resize`"),
    case("haics_loss", "positive_shape", lambda: haics_loss(MAPS, POS[:, :3]), ValueError, "`positive`"),
    case("haics_loss", "negative_shape", lambda: haics_loss(MAPS, POS, NEG[:1]), ValueError, "`negative`"),
    case("haics_loss", "maps_rank4_channels", lambda: haics_loss(np.ones((2, 4, 4, 2)), POS), ValueError, "`maps`"),
    case("haics_loss", "positive_0_255", lambda: haics_loss(MAPS, POS * 255), ValueError, "`positive`"),
    case("haics_loss", "sample_weight_length_1", lambda: haics_loss(MAPS, POS, sample_weight=[2.0]),
         ValueError, "`sample_weight`"),
    case("HAICSLoss", "flag_string", lambda: HAICSLoss(code_unmasked_bce="yes"), TypeError, "`code_unmasked_bce`"),
    case("HAICSLoss", "call_positive_shape", lambda: HAICSLoss()(MAPS, POS[:, :2]), ValueError, "`positive`"),
    case("HAICSLoss", "call_negative_shape", lambda: HAICSLoss()(MAPS, POS, NEG[:, :, :1]), ValueError, "`negative`"),
    case("HAICSLoss", "call_maps_strings", lambda: HAICSLoss()(np.full((2, 4, 4), "a"), POS), TypeError, "`maps`"),
    case("HAICSLoss", "call_positive_none", lambda: HAICSLoss()(MAPS, None), ValueError, "`positive`"),
    # ----------------------------------------------------------------- terms registry and RRR/feedback terms
    case("terms.get", "unknown_name", lambda: terms.get("rrr2"), ValueError, "term"),
    case("terms.get", "number", lambda: terms.get(3), TypeError, "term"),
    case("terms.get", "instance_with_kwargs", lambda: terms.get(SmallParamsTerm(), weight=2.0),
         ValueError, "keyword arguments"),
    case("terms.get", "config_not_a_term", lambda: terms.get(keras.saving.serialize_keras_object(GradCAM())),
         TypeError, "ExplanationTerm"),
    case("terms.get", "config_unregistered", lambda: terms.get({"class_name": "Dense", "config": {"units": 2}}),
         (TypeError, ValueError), "`identifier`"),
    case("terms.get", "bad_kwarg_value", lambda: terms.get("rrr", lambda1=-5.0), ValueError, "`lambda1`"),
    case("terms.get", "unknown_name_names_identifier", lambda: terms.get("gradcam"), ValueError, "`identifier`"),
    case("RightReasonsTerm", "lambda1_negative", lambda: RightReasonsTerm(lambda1=-1.0), ValueError, "`lambda1`"),
    case("RightReasonsTerm", "norm_choice", lambda: RightReasonsTerm(norm="l3"), ValueError, "`norm`"),
    case("RightReasonsTerm", "reduction_choice", lambda: RightReasonsTerm(reduction="max"), ValueError, "`reduction`"),
    case("RightReasonsTerm", "certainty_string", lambda: RightReasonsTerm(certainty="yes"), TypeError, "`certainty`"),
    case("RightReasonsTerm", "derive_choice", lambda: RightReasonsTerm(derive="invert"), ValueError, "`derive`"),
    case("RightReasonsTerm", "weight_string", lambda: RightReasonsTerm(weight="1"), TypeError, "`weight`"),
    case("RightReasonsTerm", "weight_nan", lambda: RightReasonsTerm(weight=NAN), ValueError, "`weight`"),
    case("RightReasonsTerm", "target_unknown", lambda: RightReasonsTerm(target="sum_logprob"), ValueError, "`target`"),
    case("RightReasonsTerm", "neg_key_int", lambda: RightReasonsTerm(neg_key=3), TypeError, "`neg_key`"),
    case("SmallParamsTerm", "lambda2_negative", lambda: SmallParamsTerm(lambda2=-1e-4), ValueError, "`lambda2`"),
    case("SmallParamsTerm", "lambda2_inf", lambda: SmallParamsTerm(lambda2=INF), ValueError, "`lambda2`"),
    case("SmallParamsTerm", "include_biases_string", lambda: SmallParamsTerm(include_biases="no"),
         TypeError, "`include_biases`"),
    case("SmallParamsTerm", "weight_negative", lambda: SmallParamsTerm(weight=-1.0), ValueError, "`weight`"),
    case("SmallParamsTerm", "lambda2_string", lambda: SmallParamsTerm(lambda2="1e-4"), TypeError, "`lambda2`"),
    case("InputGradientFeedback", "quantity_choice", lambda: InputGradientFeedback(quantity="odds"),
         ValueError, "`quantity`"),
    case("InputGradientFeedback", "normalize_string", lambda: InputGradientFeedback(normalize="yes"),
         TypeError, "`normalize`"),
    case("InputGradientFeedback", "derive_choice", lambda: InputGradientFeedback(derive="both"), ValueError, "`derive`"),
    case("InputGradientFeedback", "weight_negative", lambda: InputGradientFeedback(weight=-2.0), ValueError, "`weight`"),
    case("InputGradientFeedback", "weight_inf", lambda: InputGradientFeedback(weight=INF), ValueError, "`weight`"),
    case("InputGradientFeedback", "target_unknown", lambda: InputGradientFeedback(target="label"), ValueError, "`target`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
