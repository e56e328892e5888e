"""Bad inputs to ``keras_egl.metrics``: explanation IoU/PRF/overlap/pointing game (functions and
streaming metrics), graph explanation errors and sequence BLEU/ROUGE raise errors naming the argument."""

import numpy as np
import pytest

from keras_egl.metrics import (AttributionOverlap, EdgeExplanationMAE, ExplanationF1, ExplanationIoU,
                               ExplanationPrecision, ExplanationRecall, NodeExplanationMSE, PointingGame,
                               attribution_overlap, edge_explanation_mae, edge_explanation_mse, explanation_iou,
                               explanation_precision_recall_f1, node_explanation_mae, node_explanation_mse,
                               normalize_maps, pointing_game)
from keras_egl.metrics.graph_evaluation import evaluate_graph_model, roc_auc
from keras_egl.metrics.sequence import bleu_scores, rouge_1, sequence_scores
from tests.robustness._cases import case, check, gcn_model, params, raw_adjacency, t

NAN = float("nan")
INF = float("inf")
rng = np.random.default_rng(0)
MASK = (rng.random((3, 4, 4)) > 0.5).astype("float32")
MASK[:, 0, 0] = 1.0
MAP = rng.random((3, 4, 4)).astype("float32")
MAP_NAN = MAP.copy()
MAP_NAN[1, 2, 2] = np.nan
MASK_NAN = MASK.copy()
MASK_NAN[0, 1, 1] = np.nan
NODES = rng.random((2, 4)).astype("float32")
EDGES = rng.random((2, 4, 4)).astype("float32")
NODES_NAN = NODES.copy()
NODES_NAN[0, 0] = np.nan
REFS = [["a", "b", "c"], ["d", "e"]]
HYPS = [["a", "b"], ["d", "x"]]


def _update(metric, *args, **kw):
    return lambda: metric.update_state(*args, **kw)


class _Dataset:
    """One GNES-style batch (inputs dict, y), enough for evaluate_graph_model's argument checks."""

    def __iter__(self):
        from tests.robustness._cases import graph_inputs

        x, a1, a2, mask = graph_inputs()
        yield {"x": x, "a_1": a1, "a_2": a2, "node_mask": mask, "adjacency": raw_adjacency()}, np.array([0, 1])


CASES = [
    # ----------------------------------------------------------------- explanation_iou
    case("explanation_iou", "threshold_string", lambda: explanation_iou(MASK, MAP, threshold="0.5"),
         TypeError, "`threshold`"),
    case("explanation_iou", "threshold_nan", lambda: explanation_iou(MASK, MAP, threshold=NAN),
         (TypeError, ValueError), "`threshold`"),
    case("explanation_iou", "empty_score_above_1", lambda: explanation_iou(MASK, MAP, empty_score=2.0),
         ValueError, "`empty_score`"),
    case("explanation_iou", "normalize_choice", lambda: explanation_iou(MASK, MAP, normalize="zscore"),
         ValueError, "`normalize`"),
    case("explanation_iou", "shape_mismatch", lambda: explanation_iou(MASK[:, :3], MAP), ValueError, "`positive_mask`"),
    case("explanation_iou", "explanation_rank2", lambda: explanation_iou(MASK, MAP[0]), ValueError, "`explanation`"),
    case("explanation_iou", "flag_length_1", lambda: explanation_iou(MASK, MAP, has_annotation=[1]),
         ValueError, "`has_annotation`"),
    case("explanation_iou", "sample_weight_length", lambda: explanation_iou(MASK, MAP, sample_weight=[1.0, 2.0]),
         ValueError, "`sample_weight`"),
    case("explanation_iou", "reduction_choice", lambda: explanation_iou(MASK, MAP, reduction="sum"),
         ValueError, "`reduction`"),
    case("explanation_iou", "strict_string", lambda: explanation_iou(MASK, MAP, strict="no"), TypeError, "`strict`"),
    case("explanation_iou", "explanation_nan", lambda: explanation_iou(MASK, MAP_NAN), ValueError, "`explanation`"),
    case("explanation_iou", "mask_nan", lambda: explanation_iou(MASK_NAN, MAP), ValueError, "`positive_mask`"),
    case("explanation_iou", "mask_strings", lambda: explanation_iou(np.full((1, 2, 2), "a"), MAP[:1, :2, :2]),
         TypeError, "`positive_mask`"),
    # ----------------------------------------------------------------- explanation_precision_recall_f1
    case("explanation_precision_recall_f1", "negative_shape", lambda: explanation_precision_recall_f1(
        MASK, MASK[:, :2], MAP), ValueError, "`negative_mask`"),
    case("explanation_precision_recall_f1", "epsilon_negative", lambda: explanation_precision_recall_f1(
        MASK, None, MAP, epsilon=-1e-6), ValueError, "`epsilon`"),
    case("explanation_precision_recall_f1", "threshold_inf", lambda: explanation_precision_recall_f1(
        MASK, None, MAP, threshold=INF), (TypeError, ValueError), "`threshold`"),
    case("explanation_precision_recall_f1", "normalize_choice", lambda: explanation_precision_recall_f1(
        MASK, None, MAP, normalize="l1"), ValueError, "`normalize`"),
    case("explanation_precision_recall_f1", "flags_rank2", lambda: explanation_precision_recall_f1(
        MASK, None, MAP, has_annotation=np.ones((3, 2))), ValueError, "`has_annotation`"),
    case("explanation_precision_recall_f1", "reduction_choice", lambda: explanation_precision_recall_f1(
        MASK, None, MAP, reduction="median"), ValueError, "`reduction`"),
    case("explanation_precision_recall_f1", "strict_int", lambda: explanation_precision_recall_f1(
        MASK, None, MAP, strict=1), TypeError, "`strict`"),
    case("explanation_precision_recall_f1", "explanation_nan", lambda: explanation_precision_recall_f1(
        MASK, None, MAP_NAN), ValueError, "`explanation`"),
    # ----------------------------------------------------------------- attribution_overlap
    case("attribution_overlap", "channel_mismatch", lambda: attribution_overlap(
        np.ones((3, 4, 4, 2)), np.ones((3, 4, 4, 3))), ValueError, "`irrelevant_mask`"),
    case("attribution_overlap", "attribution_rank2", lambda: attribution_overlap(MASK, MAP[:, 0]),
         ValueError, "`attribution`"),
    case("attribution_overlap", "sample_weight_length_1", lambda: attribution_overlap(MASK, MAP, sample_weight=[1.0]),
         ValueError, "`sample_weight`"),
    case("attribution_overlap", "reduction_choice", lambda: attribution_overlap(MASK, MAP, reduction="max"),
         ValueError, "`reduction`"),
    case("attribution_overlap", "attribution_nan", lambda: attribution_overlap(MASK, MAP_NAN),
         ValueError, "`attribution`"),
    case("attribution_overlap", "flags_strings", lambda: attribution_overlap(MASK, MAP, has_annotation=["y", "n", "y"]),
         TypeError, "`has_annotation`"),
    # ----------------------------------------------------------------- pointing_game
    case("pointing_game", "tolerance_negative", lambda: pointing_game(MASK, MAP, tolerance=-1.0),
         ValueError, "`tolerance`"),
    case("pointing_game", "tolerance_string", lambda: pointing_game(MASK, MAP, tolerance="3"),
         TypeError, "`tolerance`"),
    case("pointing_game", "explanation_channels", lambda: pointing_game(MASK, np.ones((3, 4, 4, 2))),
         ValueError, "`explanation`"),
    case("pointing_game", "shape_mismatch", lambda: pointing_game(MASK[:2], MAP), ValueError, "`positive_mask`"),
    case("pointing_game", "explanation_nan", lambda: pointing_game(MASK, MAP_NAN), ValueError, "`explanation`"),
    case("pointing_game", "tolerance_inf", lambda: pointing_game(MASK, MAP, tolerance=INF),
         (TypeError, ValueError), "`tolerance`"),
    # ----------------------------------------------------------------- normalize_maps
    case("normalize_maps", "method_choice", lambda: normalize_maps(t(MAP), "zscore"), ValueError, "`method`"),
    case("normalize_maps", "maps_list", lambda: normalize_maps(MAP.tolist(), "minmax", axis=7), ValueError, "`axis`"),
    case("normalize_maps", "maps_rank1", lambda: normalize_maps(t([1.0, 2.0])), ValueError, "`maps`"),
    case("normalize_maps", "maps_strings", lambda: normalize_maps(np.full((1, 2, 2), "a")), TypeError, "`maps`"),
    case("normalize_maps", "axis_batch", lambda: normalize_maps(t(MAP), axis=0), ValueError, "`axis`"),
    # ----------------------------------------------------------------- streaming explanation metrics
    case("ExplanationIoU", "threshold_string", lambda: ExplanationIoU(threshold="x"), TypeError, "`threshold`"),
    case("ExplanationIoU", "empty_score_negative", lambda: ExplanationIoU(empty_score=-0.1),
         ValueError, "`empty_score`"),
    case("ExplanationIoU", "normalize_choice", lambda: ExplanationIoU(normalize="l2"), ValueError, "`normalize`"),
    case("ExplanationIoU", "strict_string", lambda: ExplanationIoU(strict="false"), TypeError, "`strict`"),
    case("ExplanationIoU", "update_shape_mismatch", lambda: ExplanationIoU().update_state(MASK, MAP[:, :2]),
         ValueError, "`positive_mask`"),
    case("ExplanationIoU", "update_weight_length", lambda: ExplanationIoU().update_state(MASK, MAP, [1.0]),
         ValueError, "`sample_weight`"),
    case("ExplanationPrecision", "epsilon_negative", lambda: ExplanationPrecision(epsilon=-1.0),
         ValueError, "`epsilon`"),
    case("ExplanationPrecision", "threshold_nan", lambda: ExplanationPrecision(threshold=NAN),
         (TypeError, ValueError), "`threshold`"),
    case("ExplanationPrecision", "normalize_choice", lambda: ExplanationPrecision(normalize="sigmoid"),
         ValueError, "`normalize`"),
    case("ExplanationPrecision", "strict_string", lambda: ExplanationPrecision(strict="yes"), TypeError, "`strict`"),
    case("ExplanationPrecision", "update_negative_shape", lambda: ExplanationPrecision().update_state(
        MASK, MASK[:1], MAP), ValueError, "`negative_mask`"),
    case("ExplanationRecall", "epsilon_string", lambda: ExplanationRecall(epsilon="1e-6"), TypeError, "`epsilon`"),
    case("ExplanationRecall", "threshold_bool", lambda: ExplanationRecall(threshold=True), TypeError, "`threshold`"),
    case("ExplanationRecall", "update_explanation_rank5", lambda: ExplanationRecall().update_state(
        MASK, None, np.ones((3, 4, 4, 1, 1))), ValueError, "`explanation`"),
    case("ExplanationRecall", "update_flags_length", lambda: ExplanationRecall().update_state(
        MASK, None, MAP, has_annotation=[1, 0]), ValueError, "`has_annotation`"),
    case("ExplanationRecall", "update_nan", lambda: ExplanationRecall().update_state(MASK, None, MAP_NAN),
         ValueError, "`explanation`"),
    case("ExplanationF1", "normalize_choice", lambda: ExplanationF1(normalize="none"), ValueError, "`normalize`"),
    case("ExplanationF1", "epsilon_inf", lambda: ExplanationF1(epsilon=INF), (TypeError, ValueError), "`epsilon`"),
    case("ExplanationF1", "strict_int", lambda: ExplanationF1(strict=0), TypeError, "`strict`"),
    case("ExplanationF1", "update_positive_shape", lambda: ExplanationF1().update_state(MASK[:, :1], None, MAP),
         ValueError, "`positive_mask`"),
    case("ExplanationF1", "update_mask_nan", lambda: ExplanationF1().update_state(MASK_NAN, None, MAP),
         ValueError, "`positive_mask`"),
    case("AttributionOverlap", "update_shape_mismatch", lambda: AttributionOverlap().update_state(MASK[:, :2], MAP),
         ValueError, "`irrelevant_mask`"),
    case("AttributionOverlap", "update_weight_length_1", lambda: AttributionOverlap().update_state(MASK, MAP, [2.0]),
         ValueError, "`sample_weight`"),
    case("AttributionOverlap", "update_nan", lambda: AttributionOverlap().update_state(MASK, MAP_NAN),
         ValueError, "`attribution`"),
    case("AttributionOverlap", "update_attribution_rank2", lambda: AttributionOverlap().update_state(MASK, MAP[0]),
         ValueError, "`attribution`"),
    case("AttributionOverlap", "update_mask_none", lambda: AttributionOverlap().update_state(None, MAP),
         ValueError, "`irrelevant_mask`"),
    case("PointingGame", "tolerance_negative", lambda: PointingGame(tolerance=-2), ValueError, "`tolerance`"),
    case("PointingGame", "tolerance_string", lambda: PointingGame(tolerance="15"), TypeError, "`tolerance`"),
    case("PointingGame", "tolerance_inf", lambda: PointingGame(tolerance=INF), (TypeError, ValueError), "`tolerance`"),
    case("PointingGame", "update_shape_mismatch", lambda: PointingGame().update_state(MASK, MAP[:, :, :3]),
         ValueError, "`positive_mask`"),
    case("PointingGame", "update_nan", lambda: PointingGame().update_state(MASK, MAP_NAN), ValueError, "`explanation`"),
    # ----------------------------------------------------------------- graph metrics
    case("node_explanation_mse", "shape_mismatch", lambda: node_explanation_mse(NODES[:, :3], NODES),
         ValueError, "`node_importance`"),
    case("node_explanation_mse", "node_mask_shape", lambda: node_explanation_mse(NODES, NODES, node_mask=np.ones((2, 3))),
         ValueError, "`node_mask`"),
    case("node_explanation_mse", "normalize_choice", lambda: node_explanation_mse(NODES, NODES, normalize="sum"),
         ValueError, "`normalize`"),
    case("node_explanation_mse", "reduction_choice", lambda: node_explanation_mse(NODES, NODES, reduction="sum"),
         ValueError, "`reduction`"),
    case("node_explanation_mse", "explanation_channels", lambda: node_explanation_mse(NODES, np.ones((2, 4, 2))),
         ValueError, "`node_explanation`"),
    case("node_explanation_mse", "explanation_nan", lambda: node_explanation_mse(NODES, NODES_NAN),
         ValueError, "`node_explanation`"),
    case("node_explanation_mae", "flags_length_1", lambda: node_explanation_mae(NODES, NODES, has_annotation=[1]),
         ValueError, "`has_annotation`"),
    case("node_explanation_mae", "importance_nan", lambda: node_explanation_mae(NODES_NAN, NODES),
         ValueError, "`node_importance`"),
    case("node_explanation_mae", "importance_rank1", lambda: node_explanation_mae(NODES[0], NODES),
         ValueError, "`node_importance`"),
    case("node_explanation_mae", "weights_length", lambda: node_explanation_mae(NODES, NODES, sample_weight=[1, 2, 3]),
         ValueError, "`sample_weight`"),
    case("node_explanation_mae", "node_mask_strings", lambda: node_explanation_mae(NODES, NODES,
                                                                                   node_mask=np.full((2, 4), "x")),
         TypeError, "`node_mask`"),
    case("edge_explanation_mse", "not_square", lambda: edge_explanation_mse(EDGES[:, :, :3], EDGES[:, :, :3]),
         ValueError, "`edge_explanation`"),
    case("edge_explanation_mse", "adjacency_shape", lambda: edge_explanation_mse(EDGES, EDGES, adjacency=EDGES[:1]),
         ValueError, "`adjacency`"),
    case("edge_explanation_mse", "node_mask_shape", lambda: edge_explanation_mse(EDGES, EDGES, node_mask=np.ones((2, 5))),
         ValueError, "`node_mask`"),
    case("edge_explanation_mse", "explanation_nan", lambda: edge_explanation_mse(EDGES, np.where(EDGES > 0.5, np.nan, 1.0)),
         ValueError, "`edge_explanation`"),
    case("edge_explanation_mse", "importance_rank2", lambda: edge_explanation_mse(NODES, EDGES),
         ValueError, "`edge_importance`"),
    case("edge_explanation_mae", "flags_rank2", lambda: edge_explanation_mae(EDGES, EDGES, has_annotation=np.ones((2, 2))),
         ValueError, "`has_annotation`"),
    case("edge_explanation_mae", "normalize_choice", lambda: edge_explanation_mae(EDGES, EDGES, normalize="l1"),
         ValueError, "`normalize`"),
    case("edge_explanation_mae", "reduction_choice", lambda: edge_explanation_mae(EDGES, EDGES, reduction="all"),
         ValueError, "`reduction`"),
    case("edge_explanation_mae", "adjacency_nan", lambda: edge_explanation_mae(EDGES, EDGES,
                                                                               adjacency=np.full((2, 4, 4), np.nan)),
         ValueError, "`adjacency`"),
    case("edge_explanation_mae", "shape_mismatch", lambda: edge_explanation_mae(EDGES[:1], EDGES),
         ValueError, "`edge_importance`"),
    case("NodeExplanationMSE", "normalize_choice", lambda: NodeExplanationMSE(normalize="l2"), ValueError, "`normalize`"),
    case("NodeExplanationMSE", "update_shape_mismatch", lambda: NodeExplanationMSE().update_state(NODES, NODES[:1]),
         ValueError, "`node_importance`"),
    case("NodeExplanationMSE", "update_mask_shape", lambda: NodeExplanationMSE().update_state(
        NODES, NODES, node_mask=np.ones((1, 4))), ValueError, "`node_mask`"),
    case("NodeExplanationMSE", "update_weight_length", lambda: NodeExplanationMSE().update_state(NODES, NODES, [1.0]),
         ValueError, "`sample_weight`"),
    case("NodeExplanationMSE", "update_nan", lambda: NodeExplanationMSE().update_state(NODES, NODES_NAN),
         ValueError, "`node_explanation`"),
    case("EdgeExplanationMAE", "normalize_choice", lambda: EdgeExplanationMAE(normalize=1), ValueError, "`normalize`"),
    case("EdgeExplanationMAE", "update_not_square", lambda: EdgeExplanationMAE().update_state(
        EDGES[:, :3], EDGES[:, :3]), ValueError, "`edge_explanation`"),
    case("EdgeExplanationMAE", "update_adjacency_shape", lambda: EdgeExplanationMAE().update_state(
        EDGES, EDGES, adjacency=EDGES[:, :2]), ValueError, "`adjacency`"),
    case("EdgeExplanationMAE", "update_flags_length", lambda: EdgeExplanationMAE().update_state(
        EDGES, EDGES, has_annotation=[1, 1, 1]), ValueError, "`has_annotation`"),
    case("EdgeExplanationMAE", "update_nan", lambda: EdgeExplanationMAE().update_state(
        EDGES, np.full((2, 4, 4), np.nan, "float32")), ValueError, "`edge_explanation`"),
    # ----------------------------------------------------------------- evaluate_graph_model / roc_auc
    case("evaluate_graph_model", "methods_unknown", lambda: evaluate_graph_model(gcn_model(), _Dataset(),
                                                                                 methods=("cam",)),
         ValueError, "`methods`"),
    case("evaluate_graph_model", "methods_string", lambda: evaluate_graph_model(gcn_model(), _Dataset(),
                                                                                methods="grad_cam"),
         TypeError, "`methods`"),
    case("evaluate_graph_model", "edge_method_choice", lambda: evaluate_graph_model(gcn_model(), _Dataset(),
                                                                                    edge_method="saliency"),
         ValueError, "`edge_method`"),
    case("evaluate_graph_model", "target_choice", lambda: evaluate_graph_model(gcn_model(), _Dataset(), target="best"),
         ValueError, "`target`"),
    case("evaluate_graph_model", "dataset_none", lambda: evaluate_graph_model(gcn_model(), None),
         TypeError, "`dataset`"),
    case("evaluate_graph_model", "layer_too_deep", lambda: evaluate_graph_model(gcn_model(), _Dataset(), layer=7),
         ValueError, "`layer`"),
    case("roc_auc", "length_mismatch", lambda: roc_auc([0, 1, 1], [0.2, 0.8]), ValueError, "`score`"),
    case("roc_auc", "score_nan", lambda: roc_auc([0, 1], [0.2, NAN]), ValueError, "`score`"),
    case("roc_auc", "labels_three_classes", lambda: roc_auc([0, 1, 2], [0.1, 0.5, 0.9]), ValueError, "`y`"),
    case("roc_auc", "labels_rank2", lambda: roc_auc([[0, 1]], [[0.1, 0.9]]), ValueError, "`y`"),
    case("roc_auc", "score_strings", lambda: roc_auc([0, 1], ["a", "b"]), TypeError, "`score`"),
    # ----------------------------------------------------------------- sequence metrics
    case("bleu_scores", "length_mismatch", lambda: bleu_scores(REFS, HYPS[:1]), ValueError, "`references`"),
    case("bleu_scores", "empty", lambda: bleu_scores([], []), ValueError, "`references`"),
    case("bleu_scores", "strings_not_tokens", lambda: bleu_scores(["a b c"], [["a"]]), TypeError, "`references`"),
    case("bleu_scores", "max_n_zero", lambda: bleu_scores(REFS, HYPS, max_n=0), ValueError, "`max_n`"),
    case("bleu_scores", "max_n_bool", lambda: bleu_scores(REFS, HYPS, max_n=True), (TypeError, ValueError), "`max_n`"),
    case("bleu_scores", "level_choice", lambda: bleu_scores(REFS, HYPS, level="document"), ValueError, "`level`"),
    case("bleu_scores", "smoothing_choice", lambda: bleu_scores(REFS, HYPS, smoothing="method9"),
         ValueError, "`smoothing`"),
    case("bleu_scores", "references_none", lambda: bleu_scores(None, HYPS), TypeError, "`references`"),
    case("bleu_scores", "hypotheses_ints", lambda: bleu_scores(REFS, [1, 2]), TypeError, "`hypotheses`"),
    case("rouge_1", "variant_choice", lambda: rouge_1(REFS, HYPS, variant="f1"), ValueError, "`variant`"),
    case("rouge_1", "length_mismatch", lambda: rouge_1(REFS[:1], HYPS), ValueError, "`references`"),
    case("rouge_1", "hypothesis_string", lambda: rouge_1(REFS, [["a"], "d x"]), TypeError, "`hypotheses`"),
    case("rouge_1", "hypotheses_none", lambda: rouge_1(REFS, None), TypeError, "`hypotheses`"),
    case("rouge_1", "references_ints", lambda: rouge_1([3, 4], HYPS), TypeError, "`references`"),
    case("sequence_scores", "rouge_choice", lambda: sequence_scores(REFS, HYPS, rouge="f1"), ValueError, "`rouge`"),
    case("sequence_scores", "level_choice", lambda: sequence_scores(REFS, HYPS, level="doc"), ValueError, "`level`"),
    case("sequence_scores", "smoothing_choice", lambda: sequence_scores(REFS, HYPS, smoothing=1),
         ValueError, "`smoothing`"),
    case("sequence_scores", "length_mismatch", lambda: sequence_scores(REFS, HYPS * 2), ValueError, "`references`"),
    case("sequence_scores", "references_string", lambda: sequence_scores("abc", "abc"), TypeError, "`references`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
