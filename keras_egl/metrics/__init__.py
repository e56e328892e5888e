"""Explanation metrics: functions and streaming ``keras.metrics.Metric`` objects."""

from keras_egl.metrics.explanation import (  # noqa: F401
    AnnotatedMeanMetric,
    AttributionOverlap,
    ExplanationF1,
    ExplanationIoU,
    ExplanationPrecision,
    ExplanationRecall,
    PointingGame,
    attribution_overlap,
    explanation_iou,
    explanation_precision_recall_f1,
    normalize_maps,
    pointing_game,
)
from keras_egl.metrics.graph import (  # noqa: F401
    EdgeExplanationMAE,
    EdgeExplanationMSE,
    NodeExplanationMAE,
    NodeExplanationMSE,
    edge_explanation_mae,
    edge_explanation_mse,
    node_explanation_mae,
    node_explanation_mse,
)
from keras_egl.metrics.graph_evaluation import evaluate_graph_model  # noqa: F401
from keras_egl.metrics.shortcut import (  # noqa: F401
    WrongReasonShare,
    attributions,
    counterfactual_accuracy,
    prior_map_baseline,
    swap_masked_regions,
    wrong_reason_share,
)
from keras_egl.metrics.sequence import bleu_scores, rouge_1, sequence_scores  # noqa: F401
