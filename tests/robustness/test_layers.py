"""Bad inputs to ``keras_egl.layers``: Bayesian LRT layers and ``to_bayesian``, BEAN, dynamic-graph,
sequence-attention, RES imputation and GCN layers raise errors naming the argument."""

import functools

import numpy as np
import pytest

from keras_egl._keras import keras
from keras_egl.layers.bayesian import BayesianConv2D, BayesianDense, mean_weights, set_kl_weight, to_bayesian
from keras_egl.layers.bean import BEANDense, BEANRegularized
from keras_egl.layers.dyngraph import (DynamicBiGCN, MaxPoolGraphReadout, NodeToGraphAttention,
                                       mean_aggregation_operators)
from keras_egl.layers.graph import MaskedGlobalAvgPool, check_adjacency, gcn_classifier, gcn_normalize
from keras_egl.layers.imputation import DeepImputation, GaussianImputation, ShallowImputation
from keras_egl.layers.seq_attention import (MonotonicAttention, SoftmaxAttention, get_sequence_attention,
                                            monotonic_expected_alignment)
from tests.robustness._cases import case, check, cnn_model, params, t

NAN = float("nan")
INF = float("inf")


@functools.lru_cache(None)
def _bnn():
    return to_bayesian(cnn_model(), seed=0)


def _with(ctx):
    def run():
        with ctx():
            pass
    return run


def _built(layer, shape):
    layer.build(shape)
    return layer


def _call(layer, *args, **kw):
    return lambda: layer(*args, **kw)


FEATS = t(np.ones((2, 3, 4, 5)))           # (B, T, N, D)
ADJ = t(np.ones((2, 3, 4, 4)))             # (B, T, N, N)
NODE_EMB = t(np.ones((2, 3, 4, 6)))        # (..., N, F)
MEMORY = t(np.ones((2, 5, 3)))
QUERY = t(np.ones((2, 4)))
MASKS = t(np.zeros((2, 8, 8)))
PRE = t(np.zeros((2, 3)))

CASES = [
    # ----------------------------------------------------------------- BayesianDense / BayesianConv2D
    case("BayesianDense", "units_zero", lambda: BayesianDense(0), ValueError, "`units`"),
    case("BayesianDense", "units_float", lambda: BayesianDense(2.5), TypeError, "`units`"),
    case("BayesianDense", "prior_stddev_zero", lambda: BayesianDense(3, prior_stddev=0.0), ValueError, "`prior_stddev`"),
    case("BayesianDense", "prior_stddev_nan", lambda: BayesianDense(3, prior_stddev=NAN), ValueError, "`prior_stddev`"),
    case("BayesianDense", "kl_weight_negative", lambda: BayesianDense(3, kl_weight=-1.0), ValueError, "`kl_weight`"),
    case("BayesianDense", "seed_string", lambda: BayesianDense(3, seed="0"), TypeError, "`seed`"),
    case("BayesianDense", "posterior_fn_not_callable", lambda: BayesianDense(3, posterior_fn=3),
         TypeError, "`posterior_fn`"),
    case("BayesianDense", "min_stddev_zero", lambda: BayesianDense(3, min_stddev=0.0), ValueError, "`min_stddev`"),
    case("BayesianDense", "clamp_mask_shape", lambda: BayesianDense(3, seed=0)(t(np.ones((2, 4))),
                                                                              clamp_mask=t(np.ones((2, 5)))),
         ValueError, "`clamp_mask`"),
    case("BayesianConv2D", "filters_zero", lambda: BayesianConv2D(0, 3), ValueError, "`filters`"),
    case("BayesianConv2D", "kernel_size_one_entry", lambda: BayesianConv2D(4, (3,)), TypeError, "`kernel_size`"),
    case("BayesianConv2D", "kernel_size_float", lambda: BayesianConv2D(4, 3.5), TypeError, "`kernel_size`"),
    case("BayesianConv2D", "strides_zero", lambda: BayesianConv2D(4, 3, strides=0), ValueError, "`strides`"),
    case("BayesianConv2D", "padding_choice", lambda: BayesianConv2D(4, 3, padding="full"), ValueError, "`padding`"),
    case("BayesianConv2D", "dilation_string", lambda: BayesianConv2D(4, 3, dilation_rate="2"),
         TypeError, "`dilation_rate`"),
    case("BayesianConv2D", "posterior_rho_inf", lambda: BayesianConv2D(4, 3, posterior_rho_init=-INF),
         ValueError, "`posterior_rho_init`"),
    # ----------------------------------------------------------------- set_kl_weight / mean_weights / to_bayesian
    case("set_kl_weight", "negative", lambda: set_kl_weight(_bnn(), -1.0), ValueError, "`kl_weight`"),
    case("set_kl_weight", "nan", lambda: set_kl_weight(_bnn(), NAN), ValueError, "`kl_weight`"),
    case("set_kl_weight", "string", lambda: set_kl_weight(_bnn(), "0.1"), TypeError, "`kl_weight`"),
    case("set_kl_weight", "model_not_keras", lambda: set_kl_weight([1, 2], 0.1), TypeError, "`model`"),
    case("set_kl_weight", "inf", lambda: set_kl_weight(_bnn(), INF), ValueError, "`kl_weight`"),
    case("mean_weights", "model_not_keras", _with(lambda: mean_weights("bnn")), TypeError, "`model`"),
    case("mean_weights", "enabled_string", _with(lambda: mean_weights(_bnn(), enabled="no")), TypeError, "`enabled`"),
    case("mean_weights", "enabled_int", _with(lambda: mean_weights(_bnn(), enabled=0)), TypeError, "`enabled`"),
    case("mean_weights", "model_none", _with(lambda: mean_weights(None)), TypeError, "`model`"),
    case("mean_weights", "model_layer", _with(lambda: mean_weights(keras.layers.Dense(2))), TypeError, "`model`"),
    case("to_bayesian", "model_int", lambda: to_bayesian(3), TypeError, "`model`"),
    case("to_bayesian", "layers_unknown", lambda: to_bayesian(cnn_model(), layers="conv9"), ValueError, "`layers`"),
    case("to_bayesian", "layers_empty", lambda: to_bayesian(cnn_model(), layers=[]), ValueError, "`layers`"),
    case("to_bayesian", "layers_ints", lambda: to_bayesian(cnn_model(), layers=[1]), TypeError, "`layers`"),
    case("to_bayesian", "layers_not_convertible", lambda: to_bayesian(cnn_model(), layers=["gap"]),
         ValueError, "`layers`"),
    case("to_bayesian", "prior_stddev_negative", lambda: to_bayesian(cnn_model(), prior_stddev=-0.1),
         ValueError, "`prior_stddev`"),
    case("to_bayesian", "seed_float", lambda: to_bayesian(cnn_model(), seed=1.5), TypeError, "`seed`"),
    case("to_bayesian", "name_int", lambda: to_bayesian(cnn_model(), name=3), TypeError, "`name`"),
    # ----------------------------------------------------------------- BEAN layers
    case("BEANDense", "alpha_negative", lambda: BEANDense(4, bean_alpha=-1.0), ValueError, "`alpha`"),
    case("BEANDense", "alpha_inf", lambda: BEANDense(4, bean_alpha=INF), ValueError, "`alpha`"),
    case("BEANDense", "order_three", lambda: BEANDense(4, bean_order=3), ValueError, "`order`"),
    case("BEANDense", "gamma_zero", lambda: BEANDense(4, bean_gamma=0.0), ValueError, "`gamma`"),
    case("BEANDense", "divergence_choice", lambda: BEANDense(4, bean_divergence="l2"), ValueError, "`divergence`"),
    case("BEANDense", "bean_string", lambda: BEANDense(4, bean="bean1"), TypeError, "`bean`"),
    case("BEANDense", "normalize_string", lambda: BEANDense(4, bean_normalize="no"), TypeError, "`normalize`"),
    case("BEANDense", "track_penalty_string", lambda: BEANDense(4, track_penalty="yes"), TypeError, "`track_penalty`"),
    case("BEANRegularized", "layer_conv", lambda: BEANRegularized(keras.layers.Conv2D(2, 3)), TypeError, "`layer`"),
    case("BEANRegularized", "layer_string", lambda: BEANRegularized("dense"), TypeError, "`layer`"),
    case("BEANRegularized", "bean_number", lambda: BEANRegularized(keras.layers.Dense(2), bean=5), TypeError, "`bean`"),
    case("BEANRegularized", "bean_dict_typo", lambda: BEANRegularized(keras.layers.Dense(2), bean={"alfa": 1.0}),
         TypeError, "alfa"),
    case("BEANRegularized", "track_penalty_string", lambda: BEANRegularized(keras.layers.Dense(2), track_penalty="no"),
         TypeError, "`track_penalty`"),
    # ----------------------------------------------------------------- dynamic graph layers
    case("DynamicBiGCN", "units_zero", lambda: DynamicBiGCN(0, time_steps=3), (TypeError, ValueError), "`units`"),
    case("DynamicBiGCN", "units_bool", lambda: DynamicBiGCN(True, time_steps=3), (TypeError, ValueError), "`units`"),
    case("DynamicBiGCN", "hops_zero", lambda: DynamicBiGCN(4, hops=0, time_steps=3), (TypeError, ValueError), "`hops`"),
    case("DynamicBiGCN", "concat_choice", lambda: DynamicBiGCN(4, time_steps=3, concat="sum"), ValueError, "`concat`"),
    case("DynamicBiGCN", "edge_weights_choice", lambda: DynamicBiGCN(4, time_steps=3, edge_weights="weighted"),
         ValueError, "`edge_weights`"),
    case("DynamicBiGCN", "time_steps_missing", lambda: DynamicBiGCN(4), ValueError, "`time_steps`"),
    case("DynamicBiGCN", "time_steps_float", lambda: DynamicBiGCN(4, time_steps=2.5), (TypeError, ValueError),
         "`time_steps`"),
    case("DynamicBiGCN", "per_step_weights_string", lambda: DynamicBiGCN(4, time_steps=3, per_step_weights="no"),
         TypeError, "`per_step_weights`"),
    case("DynamicBiGCN", "node_count_mismatch", _call(DynamicBiGCN(4, hops=1, time_steps=3), [FEATS, t(np.ones((2, 3, 5, 5)))]),
         ValueError, "`features`"),
    case("DynamicBiGCN", "features_rank2", _call(DynamicBiGCN(4, hops=1, time_steps=3), [t(np.ones((4, 5))), ADJ]),
         ValueError, "`features`"),
    case("MaxPoolGraphReadout", "units_zero", lambda: MaxPoolGraphReadout(0), (TypeError, ValueError), "`units`"),
    case("MaxPoolGraphReadout", "units_float", lambda: MaxPoolGraphReadout(2.5), (TypeError, ValueError), "`units`"),
    case("MaxPoolGraphReadout", "units_bool", lambda: MaxPoolGraphReadout(True), (TypeError, ValueError), "`units`"),
    case("MaxPoolGraphReadout", "mask_inactive_string", lambda: MaxPoolGraphReadout(4, mask_inactive="no"),
         TypeError, "`mask_inactive`"),
    case("MaxPoolGraphReadout", "mask_rank", _call(MaxPoolGraphReadout(4), NODE_EMB, mask=t(np.ones((2, 3)))),
         ValueError, "`mask`"),
    case("MaxPoolGraphReadout", "mask_nodes", _call(MaxPoolGraphReadout(4), NODE_EMB, mask=t(np.ones((2, 3, 5)))),
         ValueError, "`mask`"),
    case("NodeToGraphAttention", "mask_inactive_string", lambda: NodeToGraphAttention(mask_inactive="yes"),
         TypeError, "`mask_inactive`"),
    case("NodeToGraphAttention", "mask_rank", _call(NodeToGraphAttention(), NODE_EMB, mask=t(np.ones((2,)))),
         ValueError, "`mask`"),
    case("NodeToGraphAttention", "mask_nodes", _call(NodeToGraphAttention(), NODE_EMB, mask=t(np.ones((2, 3, 1)))),
         ValueError, "`mask`"),
    case("NodeToGraphAttention", "mask_batch", _call(NodeToGraphAttention(), NODE_EMB, mask=t(np.ones((1, 3, 4)))),
         ValueError, "`mask`"),
    case("NodeToGraphAttention", "node_emb_rank1", _call(NodeToGraphAttention(), t(np.ones(4))),
         ValueError, "`node_emb`"),
    case("mean_aggregation_operators", "edge_weights_choice", lambda: mean_aggregation_operators(ADJ, "mean"),
         ValueError, "`edge_weights`"),
    case("mean_aggregation_operators", "not_square", lambda: mean_aggregation_operators(t(np.ones((2, 4, 3)))),
         ValueError, "`adjacency`"),
    case("mean_aggregation_operators", "rank1", lambda: mean_aggregation_operators(t(np.ones(4))),
         ValueError, "`adjacency`"),
    case("mean_aggregation_operators", "strings", lambda: mean_aggregation_operators(np.full((2, 2), "a")),
         TypeError, "`adjacency`"),
    case("mean_aggregation_operators", "negative_counts", lambda: mean_aggregation_operators(t([[0.0, -1.0], [1.0, 0.0]])),
         ValueError, "`adjacency`"),
    # ----------------------------------------------------------------- sequence attention
    case("SoftmaxAttention", "score_choice", lambda: SoftmaxAttention(8, score="dot"), ValueError, "`score`"),
    case("SoftmaxAttention", "units_zero", lambda: SoftmaxAttention(0), (TypeError, ValueError), "`units`"),
    case("SoftmaxAttention", "units_float", lambda: SoftmaxAttention(2.7), (TypeError, ValueError), "`units`"),
    case("SoftmaxAttention", "units_string", lambda: SoftmaxAttention("8"), (TypeError, ValueError), "`units`"),
    case("SoftmaxAttention", "query_rank3", lambda: _built(SoftmaxAttention(8), (None, 4))(t(np.ones((2, 1, 4))), MEMORY),
         ValueError, "`query`"),
    case("SoftmaxAttention", "memory_rank2", lambda: _built(SoftmaxAttention(8), (None, 4))(QUERY, t(np.ones((2, 5)))),
         ValueError, "`memory`"),
    case("SoftmaxAttention", "mask_length", lambda: _built(SoftmaxAttention(8), (None, 4))(
        QUERY, MEMORY, mask=t(np.ones((2, 4)))), ValueError, "`mask`"),
    case("MonotonicAttention", "sigmoid_noise_negative", lambda: MonotonicAttention(8, sigmoid_noise=-1.0),
         ValueError, "`sigmoid_noise`"),
    case("MonotonicAttention", "sigmoid_noise_nan", lambda: MonotonicAttention(8, sigmoid_noise=NAN),
         ValueError, "`sigmoid_noise`"),
    case("MonotonicAttention", "sigmoid_noise_string", lambda: MonotonicAttention(8, sigmoid_noise="0.1"),
         TypeError, "`sigmoid_noise`"),
    case("MonotonicAttention", "score_bias_init_nan", lambda: MonotonicAttention(8, score_bias_init=NAN),
         ValueError, "`score_bias_init`"),
    case("MonotonicAttention", "seed_string", lambda: MonotonicAttention(8, seed="1"), TypeError, "`seed`"),
    case("MonotonicAttention", "no_previous_alignment", lambda: _built(MonotonicAttention(8), (None, 4))(QUERY, MEMORY),
         ValueError, "`previous_alignment`"),
    case("MonotonicAttention", "previous_alignment_length", lambda: _built(MonotonicAttention(8), (None, 4))(
        QUERY, MEMORY, previous_alignment=t(np.ones((2, 4)))), ValueError, "`previous_alignment`"),
    case("monotonic_expected_alignment", "rank_mismatch", lambda: monotonic_expected_alignment(
        t(np.ones((2, 5))), t(np.ones(5))), ValueError, "`p_choose`"),
    case("monotonic_expected_alignment", "length_mismatch", lambda: monotonic_expected_alignment(
        t(np.full((2, 5), 0.5)), t(np.ones((2, 4)))), ValueError, "`previous_alignment`"),
    case("monotonic_expected_alignment", "batch_length_1", lambda: monotonic_expected_alignment(
        t(np.full((2, 5), 0.5)), t(np.ones((1, 5)))), ValueError, "`previous_alignment`"),
    case("monotonic_expected_alignment", "p_above_1", lambda: monotonic_expected_alignment(
        t(np.full((2, 5), 1.5)), t(np.ones((2, 5)))), ValueError, "`p_choose`"),
    case("monotonic_expected_alignment", "eps_zero", lambda: monotonic_expected_alignment(
        t(np.full((2, 5), 0.5)), t(np.ones((2, 5))), eps=0.0), ValueError, "`eps`"),
    case("get_sequence_attention", "kind_choice", lambda: get_sequence_attention("additive"), ValueError, "`kind`"),
    case("get_sequence_attention", "kind_int", lambda: get_sequence_attention(1), ValueError, "`kind`"),
    case("get_sequence_attention", "units_zero", lambda: get_sequence_attention("luong", units=0),
         (TypeError, ValueError), "`units`"),
    case("get_sequence_attention", "noise_negative", lambda: get_sequence_attention("monotonic", sigmoid_noise=-1),
         ValueError, "`sigmoid_noise`"),
    case("get_sequence_attention", "score_conflict", lambda: get_sequence_attention("luong", score="bahdanau"),
         (TypeError, ValueError), "score"),
    # ----------------------------------------------------------------- imputation
    case("GaussianImputation", "kernel_even", lambda: GaussianImputation(4), ValueError, "`kernel_size`"),
    case("GaussianImputation", "kernel_float", lambda: GaussianImputation(3.7), TypeError, "`kernel_size`"),
    case("GaussianImputation", "sigma_nan", lambda: GaussianImputation(3, sigma=NAN), ValueError, "`sigma`"),
    case("GaussianImputation", "sigma_string", lambda: GaussianImputation(3, sigma="1"), TypeError, "`sigma`"),
    case("GaussianImputation", "inputs_choice", lambda: GaussianImputation(inputs="C"), ValueError, "`inputs`"),
    case("GaussianImputation", "output_size_zero", lambda: GaussianImputation(output_size=0), ValueError, "`output_size`"),
    case("GaussianImputation", "masks_two_channels", _call(GaussianImputation(), t(np.zeros((2, 8, 8, 2)))),
         ValueError, "`masks`"),
    case("GaussianImputation", "masks_too_small", _call(GaussianImputation(5), t(np.zeros((2, 2, 2)))),
         ValueError, "`masks`"),
    case("ShallowImputation", "output_size_zero", lambda: ShallowImputation(0), ValueError, "`output_size`"),
    case("ShallowImputation", "inputs_choice", lambda: ShallowImputation(inputs="X"), ValueError, "`inputs`"),
    case("ShallowImputation", "normalize_choice", lambda: ShallowImputation(normalize="zscore"),
         ValueError, "`normalize`"),
    case("ShallowImputation", "padding_negative", lambda: ShallowImputation(padding=-1), ValueError, "`padding`"),
    case("ShallowImputation", "strides_zero", lambda: ShallowImputation(strides=0), ValueError, "`strides`"),
    case("ShallowImputation", "input_smaller_than_output", _call(ShallowImputation(16), MASKS),
         ValueError, "`output_size`"),
    case("DeepImputation", "kernel_even", lambda: DeepImputation(kernel_sizes=(4,)), ValueError, "`kernel_sizes`"),
    case("DeepImputation", "inputs_choice", lambda: DeepImputation(inputs="X"), ValueError, "`inputs`"),
    case("DeepImputation", "filters_zero", lambda: DeepImputation(filters=0), ValueError, "`filters`"),
    case("DeepImputation", "filters_float", lambda: DeepImputation(filters=2.5), TypeError, "`filters`"),
    case("DeepImputation", "normalize_choice", lambda: DeepImputation(normalize="zscore"), ValueError, "`normalize`"),
    case("DeepImputation", "seed_string", lambda: DeepImputation(seed="0"), TypeError, "`seed`"),
    case("DeepImputation", "kernel_float", lambda: DeepImputation(kernel_sizes=(3.5,)), TypeError, "`kernel_sizes`"),
    case("DeepImputation", "output_size_mismatch", _call(DeepImputation(kernel_sizes=(3,), output_size=7), MASKS),
         ValueError, "`output_size`"),
    # ----------------------------------------------------------------- GCN layers
    case("gcn_classifier", "hidden_preset", lambda: gcn_classifier(5, hidden="paper"), ValueError, "`hidden`"),
    case("gcn_classifier", "hidden_empty", lambda: gcn_classifier(5, hidden=()), ValueError, "`hidden`"),
    case("gcn_classifier", "hidden_float", lambda: gcn_classifier(5, hidden=(8.5,)), TypeError, "`hidden`"),
    case("gcn_classifier", "n_features_zero", lambda: gcn_classifier(0), ValueError, "`n_features`"),
    case("gcn_classifier", "n_classes_one", lambda: gcn_classifier(5, 1), ValueError, "`n_classes`"),
    case("gcn_classifier", "n_features_string", lambda: gcn_classifier("x"), TypeError, "`n_features`"),
    case("gcn_classifier", "n_features_float", lambda: gcn_classifier(2.5), TypeError, "`n_features`"),
    case("gcn_classifier", "seed_string", lambda: gcn_classifier(5, hidden=(4,), seed="a"), TypeError, "`seed`"),
    case("gcn_normalize", "not_square", lambda: gcn_normalize(np.ones((2, 3))), ValueError, "`adjacency`"),
    case("gcn_normalize", "asymmetric", lambda: gcn_normalize(np.array([[0, 1], [0, 0]])), ValueError, "`adjacency`"),
    case("gcn_normalize", "nan", lambda: gcn_normalize(np.array([[0, np.nan], [np.nan, 0]])), ValueError, "`adjacency`"),
    case("gcn_normalize", "negative_weight", lambda: gcn_normalize(np.array([[0, -2.0], [-2.0, 0]])),
         ValueError, "`adjacency`"),
    case("gcn_normalize", "strings", lambda: gcn_normalize(np.array([["a", "b"], ["b", "a"]])), TypeError, "`adjacency`"),
    case("check_adjacency", "node_count", lambda: check_adjacency(np.eye(3), n_nodes=4), ValueError, "`adjacency`"),
    case("check_adjacency", "rank3", lambda: check_adjacency(np.ones((1, 2, 2))), ValueError, "`adjacency`"),
    case("check_adjacency", "custom_name_inf", lambda: check_adjacency(np.full((2, 2), np.inf), name="a_1"),
         ValueError, "`a_1`"),
    case("check_adjacency", "ragged", lambda: check_adjacency([[0, 1], [1]]), (TypeError, ValueError), "`adjacency`"),
    case("check_adjacency", "none", lambda: check_adjacency(None), (TypeError, ValueError), "`adjacency`"),
    case("MaskedGlobalAvgPool", "single_tensor", _call(MaskedGlobalAvgPool(), t(np.ones((2, 4, 3)))),
         ValueError, "inputs"),
    case("MaskedGlobalAvgPool", "mask_nodes", _call(MaskedGlobalAvgPool(), [t(np.ones((2, 4, 3))), t(np.ones((2, 5)))]),
         ValueError, "`node_mask`"),
    case("MaskedGlobalAvgPool", "mask_batch_1", _call(MaskedGlobalAvgPool(), [t(np.ones((2, 4, 3))), t(np.ones((1, 4)))]),
         ValueError, "`node_mask`"),
    case("MaskedGlobalAvgPool", "features_rank2", _call(MaskedGlobalAvgPool(), [t(np.ones((2, 4))), t(np.ones((2, 4)))]),
         ValueError, "`features`"),
    case("MaskedGlobalAvgPool", "mask_rank3", _call(MaskedGlobalAvgPool(), [t(np.ones((2, 4, 3))), t(np.ones((2, 4, 1)))]),
         ValueError, "`node_mask`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
