"""Bad inputs to ``keras_egl.regularizers``: BEAN, sparsity baselines, the sliding-window group lasso and
GNES's explanation regularizers raise errors naming the argument."""

import numpy as np
import pytest

from keras_egl.regularizers import bean as bean_mod
from keras_egl.regularizers.bean import (BEANRegularizer, bean_penalty, bean_penalty_pairwise, connectivity_strength,
                                         convert_alpha, neuron_correlation)
from keras_egl.regularizers.gnes import ExplanationConsistency, ExplanationSparsity
from keras_egl.regularizers.group_lasso import SlidingWindowGroupLasso, feature_importance, sliding_window_group_lasso
from keras_egl.regularizers.sparsity import L1, ExclusiveSparsity12, GroupLasso21, weight_decay
from tests.robustness._cases import case, check, params, t

NAN = float("nan")
INF = float("inf")
H = t(np.random.default_rng(0).normal(size=(5, 4)))
W = t(np.random.default_rng(1).normal(size=(4, 3)))
K3 = t(np.ones((6, 4, 2)))
NODE = t(np.ones((2, 4)))
EDGE = t(np.ones((2, 4, 4)))

CASES = [
    # ----------------------------------------------------------------- BEANRegularizer
    case("BEANRegularizer", "alpha_negative", lambda: BEANRegularizer(alpha=-1.0), ValueError, "`alpha`"),
    case("BEANRegularizer", "alpha_inf", lambda: BEANRegularizer(alpha=INF), ValueError, "`alpha`"),
    case("BEANRegularizer", "alpha_string", lambda: BEANRegularizer(alpha="1"), (TypeError, ValueError), "`alpha`"),
    case("BEANRegularizer", "order_three", lambda: BEANRegularizer(order=3), ValueError, "`order`"),
    case("BEANRegularizer", "order_bool", lambda: BEANRegularizer(order=True), ValueError, "`order`"),
    case("BEANRegularizer", "gamma_zero", lambda: BEANRegularizer(gamma=0.0), ValueError, "`gamma`"),
    case("BEANRegularizer", "gamma_inf", lambda: BEANRegularizer(gamma=INF), ValueError, "`gamma`"),
    case("BEANRegularizer", "gamma_string", lambda: BEANRegularizer(gamma="1"), TypeError, "`gamma`"),
    case("BEANRegularizer", "divergence_choice", lambda: BEANRegularizer(divergence="kl"), ValueError, "`divergence`"),
    case("BEANRegularizer", "normalize_string", lambda: BEANRegularizer(normalize="false"), TypeError, "`normalize`"),
    case("BEANRegularizer", "call_mismatch", lambda: BEANRegularizer()(H, t(np.ones((5, 3)))), ValueError, "`h`"),
    # ----------------------------------------------------------------- bean penalties
    case("bean_penalty", "kernel_rank3", lambda: bean_penalty(H, t(np.ones((4, 3, 1)))), ValueError, "`kernel`"),
    case("bean_penalty", "h_rank3", lambda: bean_penalty(t(np.ones((5, 2, 4))), W), ValueError, "`h`"),
    case("bean_penalty", "units_mismatch", lambda: bean_penalty(t(np.ones((5, 6))), W), ValueError, "`h`"),
    case("bean_penalty", "h_scalar", lambda: bean_penalty(t(1.0), W), ValueError, "`h`"),
    case("bean_penalty", "order_choice", lambda: bean_penalty(H, W, order="3"), ValueError, "`order`"),
    case("bean_penalty", "gamma_negative", lambda: bean_penalty(H, W, gamma=-1.0), ValueError, "`gamma`"),
    case("bean_penalty", "divergence_choice", lambda: bean_penalty(H, W, divergence="l1"), ValueError, "`divergence`"),
    case("bean_penalty", "h_nan", lambda: bean_penalty(t(np.full((5, 4), np.nan)), W), ValueError, "`h`"),
    case("bean_penalty", "normalize_string", lambda: bean_penalty(H, W, normalize="yes"), TypeError, "`normalize`"),
    case("bean_penalty_pairwise", "units_mismatch", lambda: bean_penalty_pairwise(t(np.ones((5, 2))), W),
         ValueError, "`h`"),
    case("bean_penalty_pairwise", "kernel_rank1", lambda: bean_penalty_pairwise(H, t(np.ones(4))), ValueError, "`kernel`"),
    case("bean_penalty_pairwise", "order_zero", lambda: bean_penalty_pairwise(H, W, order=0), ValueError, "`order`"),
    case("bean_penalty_pairwise", "gamma_nan", lambda: bean_penalty_pairwise(H, W, gamma=NAN), ValueError, "`gamma`"),
    case("bean_penalty_pairwise", "divergence_none", lambda: bean_penalty_pairwise(H, W, divergence=None),
         ValueError, "`divergence`"),
    case("connectivity_strength", "gamma_zero", lambda: connectivity_strength(W, gamma=0), ValueError, "`gamma`"),
    case("connectivity_strength", "kernel_rank1", lambda: connectivity_strength(t(np.ones(3))), ValueError, "`kernel`"),
    case("connectivity_strength", "gamma_nan", lambda: connectivity_strength(W, gamma=NAN), ValueError, "`gamma`"),
    case("connectivity_strength", "gamma_bool", lambda: connectivity_strength(W, gamma=True), TypeError, "`gamma`"),
    case("connectivity_strength", "kernel_nan", lambda: connectivity_strength(t(np.full((2, 2), np.nan))),
         ValueError, "`kernel`"),
    case("neuron_correlation", "order_five", lambda: neuron_correlation(W, order=5), ValueError, "`order`"),
    case("neuron_correlation", "kernel_rank3", lambda: neuron_correlation(t(np.ones((2, 2, 2)))), ValueError, "`kernel`"),
    case("neuron_correlation", "normalize_string", lambda: neuron_correlation(W, normalize="no"),
         TypeError, "`normalize`"),
    case("neuron_correlation", "gamma_negative", lambda: neuron_correlation(W, gamma=-2.0), ValueError, "`gamma`"),
    case("neuron_correlation", "order_string", lambda: neuron_correlation(W, order="cosine"), ValueError, "`order`"),
    case("convert_alpha", "to_choice", lambda: convert_alpha(1.0, 10, 1, to="torch"), ValueError, "`to`"),
    case("convert_alpha", "order_four", lambda: convert_alpha(1.0, 10, 4), ValueError, "`order`"),
    case("convert_alpha", "n_out_zero", lambda: convert_alpha(1.0, 0, 2, to="code"), ValueError, "`n_out`"),
    case("convert_alpha", "n_out_negative", lambda: convert_alpha(1.0, -3, 1), ValueError, "`n_out`"),
    case("convert_alpha", "alpha_string", lambda: convert_alpha("x", 10, 1), TypeError, "`alpha`"),
    case("convert_alpha", "alpha_negative", lambda: convert_alpha(-1.0, 10, 1), ValueError, "`alpha`"),
    case("convert_alpha", "alpha_nan", lambda: convert_alpha(NAN, 10, 1), ValueError, "`alpha`"),
    case("bean.get", "number", lambda: bean_mod.get(5), TypeError, "`bean`"),
    case("bean.get", "string", lambda: bean_mod.get("bean1"), TypeError, "`bean`"),
    case("bean.get", "dict_bad_order", lambda: bean_mod.get({"order": 7}), ValueError, "`order`"),
    case("bean.get", "list", lambda: bean_mod.get([1.0, 1]), TypeError, "`bean`"),
    case("bean.get", "dict_bad_alpha", lambda: bean_mod.get({"alpha": -2}), ValueError, "`alpha`"),
    # ----------------------------------------------------------------- sparsity
    case("L1", "negative", lambda: L1(-1.0), ValueError, "`l1`"),
    case("L1", "inf", lambda: L1(INF), ValueError, "`l1`"),
    case("L1", "string", lambda: L1("0.1"), (TypeError, ValueError), "`l1`"),
    case("L1", "nan", lambda: L1(NAN), ValueError, "`l1`"),
    case("L1", "bool", lambda: L1(True), (TypeError, ValueError), "`l1`"),
    case("GroupLasso21", "groups_choice", lambda: GroupLasso21(groups="rows"), ValueError, "`groups`"),
    case("GroupLasso21", "epsilon_negative", lambda: GroupLasso21(epsilon=-1.0), ValueError, "`epsilon`"),
    case("GroupLasso21", "l_inf", lambda: GroupLasso21(l=INF), ValueError, "`l`"),
    case("GroupLasso21", "l_bool", lambda: GroupLasso21(l=True), (TypeError, ValueError), "`l`"),
    case("GroupLasso21", "call_rank1", lambda: GroupLasso21()(t(np.ones(3))), ValueError, "weight"),
    case("ExclusiveSparsity12", "l_nan", lambda: ExclusiveSparsity12(l=NAN), ValueError, "`l`"),
    case("ExclusiveSparsity12", "groups_choice", lambda: ExclusiveSparsity12(groups="all"), ValueError, "`groups`"),
    case("ExclusiveSparsity12", "l_negative", lambda: ExclusiveSparsity12(l=-0.5), ValueError, "`l`"),
    case("ExclusiveSparsity12", "l_inf", lambda: ExclusiveSparsity12(l=INF), ValueError, "`l`"),
    case("ExclusiveSparsity12", "call_rank0", lambda: ExclusiveSparsity12()(t(1.0)), ValueError, "weight"),
    case("weight_decay", "negative", lambda: weight_decay(-1.0), ValueError, "`l2`"),
    case("weight_decay", "inf", lambda: weight_decay(INF), ValueError, "`l2`"),
    case("weight_decay", "string", lambda: weight_decay("1e-4"), (TypeError, ValueError), "`l2`"),
    case("weight_decay", "nan", lambda: weight_decay(NAN), ValueError, "`l2`"),
    case("weight_decay", "none", lambda: weight_decay(None), (TypeError, ValueError), "`l2`"),
    # ----------------------------------------------------------------- group lasso
    case("sliding_window_group_lasso", "kernel_rank1", lambda: sliding_window_group_lasso(t(np.ones(4))),
         ValueError, "`kernel`"),
    case("sliding_window_group_lasso", "window_zero", lambda: sliding_window_group_lasso(K3, window=0),
         (TypeError, ValueError), "`window`"),
    case("sliding_window_group_lasso", "stride_zero", lambda: sliding_window_group_lasso(K3, stride=0),
         (TypeError, ValueError), "`stride`"),
    case("sliding_window_group_lasso", "window_bool", lambda: sliding_window_group_lasso(K3, window=True),
         (TypeError, ValueError), "`window`"),
    case("sliding_window_group_lasso", "separate_streams_rank3", lambda: sliding_window_group_lasso(
        K3, separate_streams=True), ValueError, "`separate_streams`"),
    case("SlidingWindowGroupLasso", "beta_negative", lambda: SlidingWindowGroupLasso(beta=-1.0), ValueError, "`beta`"),
    case("SlidingWindowGroupLasso", "beta_string", lambda: SlidingWindowGroupLasso(beta="x"),
         (TypeError, ValueError), "`beta`"),
    case("SlidingWindowGroupLasso", "beta_nan", lambda: SlidingWindowGroupLasso(beta=NAN), ValueError, "`beta`"),
    case("SlidingWindowGroupLasso", "l2_negative", lambda: SlidingWindowGroupLasso(l2=-1.0), ValueError, "`l2`"),
    case("SlidingWindowGroupLasso", "window_float", lambda: SlidingWindowGroupLasso(window=2.5),
         (TypeError, ValueError), "`window`"),
    case("SlidingWindowGroupLasso", "separate_streams_string", lambda: SlidingWindowGroupLasso(separate_streams="no"),
         TypeError, "`separate_streams`"),
    case("feature_importance", "kernel_rank1", lambda: feature_importance(t(np.ones(4))), ValueError, "`kernel`"),
    case("feature_importance", "per_time_string", lambda: feature_importance(K3, per_time="no"),
         TypeError, "`per_time`"),
    case("feature_importance", "kernel_strings", lambda: feature_importance(np.full((2, 2), "a")),
         TypeError, "`kernel`"),
    case("feature_importance", "kernel_scalar", lambda: feature_importance(3.0), ValueError, "`kernel`"),
    case("feature_importance", "kernel_none", lambda: feature_importance(None), (TypeError, ValueError), "`kernel`"),
    # ----------------------------------------------------------------- GNES regularizers
    case("ExplanationConsistency", "eps_zero", lambda: ExplanationConsistency(eps=0.0), ValueError, "`eps`"),
    case("ExplanationConsistency", "eps_string", lambda: ExplanationConsistency(eps="x"), (TypeError, ValueError), "`eps`"),
    case("ExplanationConsistency", "eps_inf", lambda: ExplanationConsistency(eps=INF), ValueError, "`eps`"),
    case("ExplanationConsistency", "anti_collapse_string", lambda: ExplanationConsistency(anti_collapse="no"),
         TypeError, "`anti_collapse`"),
    case("ExplanationConsistency", "upper_triangle_string", lambda: ExplanationConsistency(upper_triangle="yes"),
         TypeError, "`upper_triangle`"),
    case("ExplanationConsistency", "edge_map_shape", lambda: ExplanationConsistency()(NODE, EDGE[:, :3], EDGE),
         ValueError, "`edge_map`"),
    case("ExplanationConsistency", "adjacency_shape", lambda: ExplanationConsistency()(NODE, EDGE, EDGE[:1]),
         ValueError, "`adjacency`"),
    case("ExplanationConsistency", "node_map_rank3", lambda: ExplanationConsistency()(EDGE, EDGE, EDGE),
         ValueError, "`node_map`"),
    case("ExplanationConsistency", "node_mask_shape", lambda: ExplanationConsistency()(NODE, EDGE, EDGE,
                                                                                         np.ones((2, 3))),
         ValueError, "`node_mask`"),
    case("ExplanationSparsity", "node_weight_negative", lambda: ExplanationSparsity(node_weight=-1.0),
         ValueError, "`node_weight`"),
    case("ExplanationSparsity", "edge_weight_nan", lambda: ExplanationSparsity(edge_weight=NAN),
         ValueError, "`edge_weight`"),
    case("ExplanationSparsity", "node_weight_string", lambda: ExplanationSparsity(node_weight="x"),
         TypeError, "`node_weight`"),
    case("ExplanationSparsity", "edge_map_not_square", lambda: ExplanationSparsity()(NODE, t(np.ones((2, 4, 3)))),
         ValueError, "`edge_map`"),
    case("ExplanationSparsity", "node_mask_batch_1", lambda: ExplanationSparsity()(NODE, EDGE, np.ones((1, 4))),
         ValueError, "`node_mask`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
