"""Bad inputs to the analysis, active-learning, callback and training helpers (``keras_egl.analysis.assemblies``,
``keras_egl.active.{samplers,regions,evaluation}``, ``keras_egl.callbacks``, ``keras_egl.training``) raise
errors naming the argument."""

import numpy as np
import pytest

from keras_egl.active.evaluation import (attribution_maps, classification_scores, mc_predict, overlap_scores,
                                         uncertainty_scores)
from keras_egl.active.regions import apply_sign, propose_feedback_regions, regions_to_mask, top_mass_threshold
from keras_egl.active.samplers import (BALDSampler, EntropySampler, UniformSampler, bald_scores, get_sampler,
                                       predictive_entropy)
from keras_egl.analysis import assemblies
from keras_egl.callbacks import BestValidationAUC, BestWeights, ExplanationImages, explanation_figure
from keras_egl.training.find_another_explanation import accuracy, find_another_explanation, fit_rrr
from keras_egl.training.sampling import AlwaysIncludeSequence, always_include_batches
from tests.robustness._cases import case, check, cnn_model, dense_model, features, images, params

NAN = float("nan")
INF = float("inf")
rng = np.random.default_rng(0)
KERNEL = rng.normal(size=(6, 3))
ACTS = rng.random((8, 6))
YS = np.array([0, 1, 2, 0, 1, 2, 0, 1])
PROBS = np.full((3, 5, 2), 0.5)
PROBS_BAD = PROBS.copy()
PROBS_BAD[0, 0, 0] = np.nan
LOGITS = rng.normal(size=(3, 5, 2)) * 5
MAP = rng.normal(size=(4, 4))
REGIONS = np.array([[0, 1], [2, 2]])
X = images()
XF = features(b=6)
YF = np.array([0, 1, 2, 0, 1, 2])
MASKX = np.zeros((2, 8, 8), "float32")


def _images_cb(**kw):
    args = dict(x=X, png_dir="/tmp/keras_egl_robustness_png")
    args.update(kw)
    return lambda: ExplanationImages(**args)


def _fae(**kw):
    args = dict(build_fn=lambda t: dense_model(), x=XF, y=YF, n_iter=1, epochs=1)
    args.update(kw)
    return lambda: find_another_explanation(**args)


CASES = [
    # ----------------------------------------------------------------- analysis.assemblies
    case("assembly_clusters", "kernel_rank1", lambda: assemblies.assembly_clusters(KERNEL[0]), ValueError, "`kernel`"),
    case("assembly_clusters", "k_one", lambda: assemblies.assembly_clusters(KERNEL, k=1), ValueError, "`k`"),
    case("assembly_clusters", "k_too_large", lambda: assemblies.assembly_clusters(KERNEL, k=10), ValueError, "`k`"),
    case("assembly_clusters", "k_float", lambda: assemblies.assembly_clusters(KERNEL, k=2.5), TypeError, "`k`"),
    case("assembly_clusters", "n_init_zero", lambda: assemblies.assembly_clusters(KERNEL, k=2, n_init=0),
         ValueError, "`n_init`"),
    case("assembly_clusters", "kernel_nan", lambda: assemblies.assembly_clusters(np.full((6, 3), np.nan), k=2),
         ValueError, "`kernel`"),
    case("tsne_layout", "too_few_neurons", lambda: assemblies.tsne_layout(KERNEL[:2]), ValueError, "`kernel`"),
    case("tsne_layout", "perplexity_zero", lambda: assemblies.tsne_layout(KERNEL, perplexity=0.0),
         ValueError, "`perplexity`"),
    case("tsne_layout", "perplexity_nan", lambda: assemblies.tsne_layout(KERNEL, perplexity=NAN),
         ValueError, "`perplexity`"),
    case("tsne_layout", "kernel_strings", lambda: assemblies.tsne_layout(np.full((4, 2), "a")), TypeError, "`kernel`"),
    case("tsne_layout", "kernel_rank3", lambda: assemblies.tsne_layout(np.ones((4, 2, 2))), ValueError, "`kernel`"),
    case("coactivation_maps", "y_length", lambda: assemblies.coactivation_maps(ACTS, YS[:5]), ValueError, "`y`"),
    case("coactivation_maps", "activations_rank1", lambda: assemblies.coactivation_maps(ACTS[0], YS), ValueError,
         "`activations`"),
    case("coactivation_maps", "y_fractional", lambda: assemblies.coactivation_maps(ACTS, YS + 0.5), ValueError, "`y`"),
    case("coactivation_maps", "y_negative", lambda: assemblies.coactivation_maps(ACTS, YS - 1), ValueError, "`y`"),
    case("coactivation_maps", "n_classes_too_small", lambda: assemblies.coactivation_maps(ACTS, YS, n_classes=2),
         ValueError, "`n_classes`"),
    case("class_selectivity", "y_length", lambda: assemblies.class_selectivity(ACTS, YS[:3]), ValueError, "`y`"),
    case("class_selectivity", "activations_nan", lambda: assemblies.class_selectivity(np.full((8, 6), np.nan), YS),
         ValueError, "`activations`"),
    case("class_selectivity", "n_classes_float", lambda: assemblies.class_selectivity(ACTS, YS, n_classes=3.5),
         TypeError, "`n_classes`"),
    case("class_selectivity", "y_rank2", lambda: assemblies.class_selectivity(ACTS, YS[:, None]), ValueError, "`y`"),
    case("class_selectivity", "y_strings", lambda: assemblies.class_selectivity(ACTS, YS.astype(str)),
         (TypeError, ValueError), "`y`"),
    case("ablation_matrix", "groups_length", lambda: assemblies.ablation_matrix(lambda h: h, ACTS, YS, [0, 1]),
         ValueError, "`groups`"),
    case("ablation_matrix", "head_not_callable", lambda: assemblies.ablation_matrix(3, ACTS, YS, np.zeros(6, int)),
         TypeError, "`head`"),
    case("ablation_matrix", "groups_negative", lambda: assemblies.ablation_matrix(lambda h: h, ACTS, YS, -np.ones(6)),
         ValueError, "`groups`"),
    case("ablation_matrix", "y_length", lambda: assemblies.ablation_matrix(lambda h: h, ACTS, YS[:2], np.zeros(6)),
         ValueError, "`y`"),
    case("ablation_matrix", "activations_rank3", lambda: assemblies.ablation_matrix(lambda h: h, ACTS[None], YS,
                                                                                   np.zeros(6)),
         ValueError, "`activations`"),
    case("reorder_by_assembly", "not_square", lambda: assemblies.reorder_by_assembly(KERNEL, np.zeros(6)),
         ValueError, "`matrix`"),
    case("reorder_by_assembly", "labels_length", lambda: assemblies.reorder_by_assembly(np.eye(3), [0, 1]),
         ValueError, "`labels`"),
    case("reorder_by_assembly", "labels_fractional", lambda: assemblies.reorder_by_assembly(np.eye(3), [0, 0.5, 1]),
         ValueError, "`labels`"),
    case("reorder_by_assembly", "matrix_nan", lambda: assemblies.reorder_by_assembly(np.full((2, 2), np.nan), [0, 1]),
         ValueError, "`matrix`"),
    case("reorder_by_assembly", "matrix_rank1", lambda: assemblies.reorder_by_assembly(np.ones(3), [0, 1, 2]),
         ValueError, "`matrix`"),
    case("sparsity_ratio", "threshold_negative", lambda: assemblies.sparsity_ratio([KERNEL], threshold=-1.0),
         ValueError, "`threshold`"),
    case("sparsity_ratio", "threshold_nan", lambda: assemblies.sparsity_ratio([KERNEL], threshold=NAN),
         ValueError, "`threshold`"),
    case("sparsity_ratio", "threshold_string", lambda: assemblies.sparsity_ratio([KERNEL], threshold="0.001"),
         TypeError, "`threshold`"),
    case("sparsity_ratio", "empty", lambda: assemblies.sparsity_ratio([]), ValueError, "`kernels`"),
    case("sparsity_ratio", "single_array", lambda: assemblies.sparsity_ratio(KERNEL), TypeError, "`kernels`"),
    case("alive_neurons", "chain_mismatch", lambda: assemblies.alive_neurons([KERNEL, np.ones((4, 2))]),
         ValueError, "`kernels`"),
    case("alive_neurons", "kernel_rank1", lambda: assemblies.alive_neurons([np.ones(3)]), ValueError, "`kernels`"),
    case("alive_neurons", "threshold_negative", lambda: assemblies.alive_neurons([KERNEL], threshold=-1),
         ValueError, "`threshold`"),
    case("alive_neurons", "empty", lambda: assemblies.alive_neurons([]), ValueError, "`kernels`"),
    case("alive_neurons", "single_array", lambda: assemblies.alive_neurons(KERNEL), TypeError, "`kernels`"),
    case("efficiency_ratios", "reference_mismatch", lambda: assemblies.efficiency_ratios(
        [KERNEL], reference_kernels=[KERNEL, np.ones((5, 5))]), ValueError, "`kernels`"),
    case("efficiency_ratios", "threshold_inf", lambda: assemblies.efficiency_ratios([KERNEL], threshold=INF),
         ValueError, "`threshold`"),
    case("efficiency_ratios", "empty", lambda: assemblies.efficiency_ratios([]), ValueError, "`kernels`"),
    case("efficiency_ratios", "architecture_mismatch", lambda: assemblies.efficiency_ratios(
        [KERNEL], reference_kernels=[np.ones((5, 3))]), ValueError, "`reference_kernels`"),
    case("efficiency_ratios", "kernels_string", lambda: assemblies.efficiency_ratios("fc1"), TypeError, "`kernels`"),
    # ----------------------------------------------------------------- active.samplers
    case("UniformSampler", "no_budget", lambda: UniformSampler(), ValueError, "`budget_fraction`"),
    case("UniformSampler", "both_budgets", lambda: UniformSampler(budget_fraction=0.1, budget=3), ValueError, "`budget`"),
    case("UniformSampler", "fraction_zero", lambda: UniformSampler(budget_fraction=0.0), ValueError, "`budget_fraction`"),
    case("UniformSampler", "fraction_above_1", lambda: UniformSampler(budget_fraction=1.5), ValueError,
         "`budget_fraction`"),
    case("UniformSampler", "budget_float", lambda: UniformSampler(budget=2.5), (TypeError, ValueError), "`budget`"),
    case("UniformSampler", "fraction_bool", lambda: UniformSampler(budget_fraction=True), TypeError,
         "`budget_fraction`"),
    case("UniformSampler", "seed_string", lambda: UniformSampler(budget=2, seed="0"), TypeError, "`seed`"),
    case("UniformSampler", "select_n_pool_zero", lambda: UniformSampler(budget=2).select(0), ValueError, "`n_pool`"),
    case("UniformSampler", "select_budget_negative", lambda: UniformSampler(budget=2).select(10, budget=-1),
         ValueError, "`budget`"),
    case("UniformSampler", "select_budget_float", lambda: UniformSampler(budget=2).select(10, budget=2.5),
         TypeError, "`budget`"),
    case("EntropySampler", "no_probs", lambda: EntropySampler(budget=2).select(5), ValueError, "`mc_probs`"),
    case("EntropySampler", "pool_mismatch", lambda: EntropySampler(budget=2).select(4, mc_probs=PROBS),
         ValueError, "`mc_probs`"),
    case("EntropySampler", "probs_nan", lambda: EntropySampler(budget=2).select(5, mc_probs=PROBS_BAD),
         ValueError, "`mc_probs`"),
    case("EntropySampler", "logits_not_probs", lambda: EntropySampler(budget=2).select(5, mc_probs=LOGITS),
         ValueError, "`mc_probs`"),
    case("EntropySampler", "probs_rank1", lambda: EntropySampler(budget=2).select(5, mc_probs=np.ones(5)),
         ValueError, "`mc_probs`"),
    case("BALDSampler", "no_probs", lambda: BALDSampler(budget_fraction=0.5).select(5), ValueError, "`mc_probs`"),
    case("BALDSampler", "negative_probs", lambda: BALDSampler(budget=1).select(5, mc_probs=-PROBS),
         ValueError, "`mc_probs`"),
    case("BALDSampler", "probs_sum_not_1", lambda: BALDSampler(budget=1).select(5, mc_probs=PROBS * 0.5),
         ValueError, "`mc_probs`"),
    case("BALDSampler", "n_pool_float", lambda: BALDSampler(budget=1).select(5.0, mc_probs=PROBS),
         (TypeError, ValueError), "`n_pool`"),
    case("BALDSampler", "budget_zero", lambda: BALDSampler(budget=0), ValueError, "`budget`"),
    case("get_sampler", "unknown", lambda: get_sampler("random"), ValueError, "`name`"),
    case("get_sampler", "none", lambda: get_sampler(None), ValueError, "`name`"),
    case("get_sampler", "bad_kwarg", lambda: get_sampler("uniform", budget=0), ValueError, "`budget`"),
    case("get_sampler", "upper_case", lambda: get_sampler("BALD"), ValueError, "`name`"),
    case("get_sampler", "missing_budget", lambda: get_sampler("entropy"), ValueError, "`budget_fraction`"),
    case("predictive_entropy", "probs_nan", lambda: predictive_entropy(PROBS_BAD), ValueError, "`mc_probs`"),
    case("predictive_entropy", "rank1", lambda: predictive_entropy(np.ones(3)), ValueError, "`mc_probs`"),
    case("predictive_entropy", "rank4", lambda: predictive_entropy(np.ones((1, 1, 1, 2))), ValueError, "`mc_probs`"),
    case("predictive_entropy", "above_1", lambda: predictive_entropy(PROBS * 3), ValueError, "`mc_probs`"),
    case("predictive_entropy", "strings", lambda: predictive_entropy(np.full((2, 2), "a")), TypeError, "`mc_probs`"),
    case("bald_scores", "probs_nan", lambda: bald_scores(PROBS_BAD), ValueError, "`mc_probs`"),
    case("bald_scores", "negative", lambda: bald_scores(-PROBS), ValueError, "`mc_probs`"),
    case("bald_scores", "rank1", lambda: bald_scores(np.ones(4)), ValueError, "`mc_probs`"),
    case("bald_scores", "logits", lambda: bald_scores(LOGITS), ValueError, "`mc_probs`"),
    case("bald_scores", "none", lambda: bald_scores(None), (TypeError, ValueError), "`mc_probs`"),
    # ----------------------------------------------------------------- active.regions
    case("apply_sign", "sign_choice", lambda: apply_sign(MAP, "pos"), ValueError, "`sign`"),
    case("apply_sign", "map_nan", lambda: apply_sign(np.array([1.0, np.nan])), ValueError, "`m`"),
    case("apply_sign", "map_strings", lambda: apply_sign(np.array(["a"])), TypeError, "`m`"),
    case("apply_sign", "sign_none", lambda: apply_sign(MAP, None), ValueError, "`sign`"),
    case("apply_sign", "map_inf", lambda: apply_sign(np.array([1.0, np.inf]), "absolute"), ValueError, "`m`"),
    case("top_mass_threshold", "lambda1_above_1", lambda: top_mass_threshold(np.abs(MAP), 1.5), ValueError, "`lambda1`"),
    case("top_mass_threshold", "lambda1_nan", lambda: top_mass_threshold(np.abs(MAP), NAN), ValueError, "`lambda1`"),
    case("top_mass_threshold", "lambda1_string", lambda: top_mass_threshold(np.abs(MAP), "0.2"), TypeError, "`lambda1`"),
    case("top_mass_threshold", "negative_map", lambda: top_mass_threshold(MAP, 0.2), ValueError, "`m`"),
    case("top_mass_threshold", "map_nan", lambda: top_mass_threshold(np.array([1.0, np.nan]), 0.2), ValueError, "`m`"),
    case("regions_to_mask", "label_zero", lambda: regions_to_mask(REGIONS, [0]), ValueError, "`accepted`"),
    case("regions_to_mask", "label_fractional", lambda: regions_to_mask(REGIONS, [1.5]), ValueError, "`accepted`"),
    case("regions_to_mask", "label_unknown", lambda: regions_to_mask(REGIONS, [7]), ValueError, "`accepted`"),
    case("regions_to_mask", "regions_float", lambda: regions_to_mask(REGIONS + 0.5, [1]), TypeError, "`regions`"),
    case("regions_to_mask", "regions_rank1", lambda: regions_to_mask(np.array([0, 1]), [1]), ValueError, "`regions`"),
    case("propose_feedback_regions", "x_batch", lambda: propose_feedback_regions(cnn_model(), X, 0, "conv"),
         ValueError, "`x`"),
    case("propose_feedback_regions", "sign_choice", lambda: propose_feedback_regions(cnn_model(), X[0], 0, "conv",
                                                                                    sign="both"),
         ValueError, "`sign`"),
    case("propose_feedback_regions", "lambda1_above_1", lambda: propose_feedback_regions(cnn_model(), X[0], 0, "conv",
                                                                                        lambda1=2.0),
         ValueError, "`lambda1`"),
    case("propose_feedback_regions", "class_out_of_range", lambda: propose_feedback_regions(cnn_model(), X[0], 5, "conv"),
         ValueError, "`class_index`"),
    case("propose_feedback_regions", "n_segments_zero", lambda: propose_feedback_regions(cnn_model(), X[0], 0, "conv",
                                                                                        n_segments=(0,)),
         ValueError, "`n_segments`"),
    case("propose_feedback_regions", "class_index_float", lambda: propose_feedback_regions(cnn_model(), X[0], 0.5,
                                                                                          "conv"),
         TypeError, "`class_index`"),
    # ----------------------------------------------------------------- active.evaluation
    case("mc_predict", "mc_samples_zero", lambda: mc_predict(dense_model(), XF, mc_samples=0), ValueError,
         "`mc_samples`"),
    case("mc_predict", "batch_size_zero", lambda: mc_predict(dense_model(), XF, batch_size=0), ValueError,
         "`batch_size`"),
    case("mc_predict", "mc_samples_float", lambda: mc_predict(dense_model(), XF, mc_samples=2.5), TypeError,
         "`mc_samples`"),
    case("mc_predict", "use_mean_string", lambda: mc_predict(dense_model(), XF, use_mean="no"), TypeError, "`use_mean`"),
    case("mc_predict", "x_empty", lambda: mc_predict(dense_model(), np.zeros((0, 4))), ValueError, "`x`"),
    case("classification_scores", "length_mismatch", lambda: classification_scores([0, 1, 1], [0, 1]), ValueError,
         "`y_true`"),
    case("classification_scores", "y_pred_probabilities", lambda: classification_scores([0, 1], [0.2, 0.9]),
         ValueError, "`y_pred`"),
    case("classification_scores", "num_classes_too_small", lambda: classification_scores([0, 2], [0, 1], num_classes=2),
         ValueError, "`num_classes`"),
    case("classification_scores", "positive_out_of_range", lambda: classification_scores([0, 1], [0, 1], positive=2),
         ValueError, "`positive`"),
    case("classification_scores", "negative_labels", lambda: classification_scores([-1, 1], [0, 1]), ValueError,
         "`y_true`"),
    case("uncertainty_scores", "label_out_of_range", lambda: uncertainty_scores([0, 5], PROBS[:, :2]), ValueError,
         "`y_true`"),
    case("uncertainty_scores", "n_bins_zero", lambda: uncertainty_scores([0, 1], PROBS[:, :2], n_bins=0), ValueError,
         "`n_bins`"),
    case("uncertainty_scores", "length_mismatch", lambda: uncertainty_scores([0, 1, 1], PROBS[:, :2]), ValueError,
         "`y_true`"),
    case("uncertainty_scores", "probs_nan", lambda: uncertainty_scores([0] * 5, PROBS_BAD), ValueError, "`mc_probs`"),
    case("uncertainty_scores", "labels_fractional", lambda: uncertainty_scores([0.5, 1], PROBS[:, :2]), ValueError,
         "`y_true`"),
    case("attribution_maps", "method_choice", lambda: attribution_maps(cnn_model(), X, "lime", [0, 1]), ValueError,
         "`method`"),
    case("attribution_maps", "mode_choice", lambda: attribution_maps(cnn_model(), X, "saliency", [0, 1], mode="max"),
         ValueError, "`mode`"),
    case("attribution_maps", "deeplift_choice", lambda: attribution_maps(cnn_model(), X, "deeplift", [0, 1],
                                                                         deeplift="rescale"),
         ValueError, "`deeplift`"),
    case("attribution_maps", "mc_samples_zero", lambda: attribution_maps(cnn_model(), X, "saliency", [0, 1], mode="mc",
                                                                         mc_samples=0),
         ValueError, "`mc_samples`"),
    case("attribution_maps", "gradcam_without_layer", lambda: attribution_maps(cnn_model(), X, "gradcam", [0, 1]),
         ValueError, "`layer_name`"),
    case("overlap_scores", "method_unknown", lambda: overlap_scores(cnn_model(), X, MASKX, [0, 1], "conv",
                                                                    methods=("lime",)),
         ValueError, "`methods`"),
    case("overlap_scores", "batch_size_zero", lambda: overlap_scores(cnn_model(), X, MASKX, [0, 1], "conv",
                                                                     methods=("saliency",), batch_size=0),
         ValueError, "`batch_size`"),
    case("overlap_scores", "mask_shape", lambda: overlap_scores(cnn_model(), X, MASKX[:, :4], [0, 1], "conv",
                                                                methods=("saliency",)),
         ValueError, "`mask`"),
    case("overlap_scores", "methods_string", lambda: overlap_scores(cnn_model(), X, MASKX, [0, 1], "conv",
                                                                    methods="saliency"),
         TypeError, "`methods`"),
    case("overlap_scores", "target_length", lambda: overlap_scores(cnn_model(), X, MASKX, [0], "conv",
                                                                   methods=("saliency",)),
         ValueError, "`target`"),
    # ----------------------------------------------------------------- callbacks
    case("ExplanationImages", "no_output", lambda: ExplanationImages(X), ValueError, "`log_dir`"),
    case("ExplanationImages", "every_zero", _images_cb(every=0), ValueError, "`every`"),
    case("ExplanationImages", "every_float", _images_cb(every=2.5), TypeError, "`every`"),
    case("ExplanationImages", "every_string", _images_cb(every="x"), TypeError, "`every`"),
    case("ExplanationImages", "max_images_zero", _images_cb(max_images=0), ValueError, "`max_images`"),
    case("ExplanationImages", "max_images_float", _images_cb(max_images=2.5), TypeError, "`max_images`"),
    case("ExplanationImages", "masks_length", _images_cb(masks=MASKX[:1]), ValueError, "`masks`"),
    case("ExplanationImages", "explain_fn_not_callable", _images_cb(explain_fn="grad_cam"), TypeError, "`explain_fn`"),
    case("explanation_figure", "maps_length", lambda: explanation_figure(X, MASKX[:1]), ValueError, "`maps`"),
    case("explanation_figure", "masks_length", lambda: explanation_figure(X, MASKX, masks=MASKX[:1]), ValueError,
         "`masks`"),
    case("explanation_figure", "titles_length", lambda: explanation_figure(X, MASKX, titles=["a"]), ValueError,
         "`titles`"),
    case("explanation_figure", "no_images", lambda: explanation_figure(X[:0], MASKX[:0]), ValueError, "`images`"),
    case("explanation_figure", "images_rank1", lambda: explanation_figure(np.ones(3), np.ones(3)), ValueError,
         "`images`"),
    case("BestWeights", "monitor_int", lambda: BestWeights(monitor=3), TypeError, "`monitor`"),
    case("BestWeights", "mode_choice", lambda: BestWeights(mode="maximize"), ValueError, "`mode`"),
    case("BestWeights", "monitor_empty", lambda: BestWeights(monitor=""), ValueError, "`monitor`"),
    case("BestWeights", "mode_auto", lambda: BestWeights(mode="auto"), ValueError, "`mode`"),
    case("BestWeights", "monitor_none", lambda: BestWeights(monitor=None), TypeError, "`monitor`"),
    case("BestValidationAUC", "dataset_none", lambda: BestValidationAUC(None), TypeError, "`dataset`"),
    case("BestValidationAUC", "dataset_int", lambda: BestValidationAUC(3), TypeError, "`dataset`"),
    case("BestValidationAUC", "dataset_string", lambda: BestValidationAUC("val"), TypeError, "`dataset`"),
    case("BestValidationAUC", "verbose_string", lambda: BestValidationAUC([], verbose="yes"), TypeError, "`verbose`"),
    case("BestValidationAUC", "verbose_negative", lambda: BestValidationAUC([], verbose=-1), ValueError, "`verbose`"),
    # ----------------------------------------------------------------- training
    case("find_another_explanation", "n_iter_zero", _fae(n_iter=0), ValueError, "`n_iter`"),
    case("find_another_explanation", "n_iter_float", _fae(n_iter=2.5), TypeError, "`n_iter`"),
    case("find_another_explanation", "schedule_short", _fae(n_iter=2, lambda_schedule=[1.0]), ValueError,
         "`lambda_schedule`"),
    case("find_another_explanation", "initial_mask_shape", _fae(initial_mask=np.zeros((6, 3))), ValueError,
         "`initial_mask`"),
    case("find_another_explanation", "build_fn_not_callable", _fae(build_fn=dense_model()), TypeError, "`build_fn`"),
    case("find_another_explanation", "y_length", _fae(y=YF[:3]), ValueError, "`y`"),
    case("find_another_explanation", "cutoff_above_1", _fae(cutoff=1.5), ValueError, "`cutoff`"),
    case("find_another_explanation", "x_test_without_y_test", _fae(x_test=XF), ValueError, "`y_test`"),
    case("fit_rrr", "annotation_shape", lambda: fit_rrr(dense_model(), XF, YF, annotation=np.zeros((6, 3)), epochs=1),
         ValueError, "`annotation`"),
    case("fit_rrr", "epochs_zero", lambda: fit_rrr(dense_model(), XF, YF, epochs=0), ValueError, "`epochs`"),
    case("fit_rrr", "batch_size_zero", lambda: fit_rrr(dense_model(), XF, YF, batch_size=0), ValueError, "`batch_size`"),
    case("fit_rrr", "y_length", lambda: fit_rrr(dense_model(), XF, YF[:2], epochs=1), ValueError, "`y`"),
    case("fit_rrr", "lambda1_negative", lambda: fit_rrr(dense_model(), XF, YF, lambda1=-1.0, epochs=1), ValueError,
         "`lambda1`"),
    case("fit_rrr", "epochs_float", lambda: fit_rrr(dense_model(), XF, YF, epochs=1.5), TypeError, "`epochs`"),
    case("accuracy", "y_length_1", lambda: accuracy(dense_model(), XF, [1]), ValueError, "`y`"),
    case("accuracy", "batch_size_zero", lambda: accuracy(dense_model(), XF, YF, batch_size=0), ValueError,
         "`batch_size`"),
    case("accuracy", "y_rank2", lambda: accuracy(dense_model(), XF, np.eye(3)[YF]), ValueError, "`y`"),
    case("accuracy", "x_empty", lambda: accuracy(dense_model(), np.zeros((0, 4)), []), ValueError, "`x`"),
    case("accuracy", "batch_size_float", lambda: accuracy(dense_model(), XF, YF, batch_size=2.5), TypeError,
         "`batch_size`"),
    case("always_include_batches", "include_out_of_range", lambda: always_include_batches(5, [7]), ValueError,
         "`include`"),
    case("always_include_batches", "batch_size_zero", lambda: always_include_batches(5, [0], batch_size=0), ValueError,
         "`batch_size`"),
    case("always_include_batches", "include_bool_mask", lambda: always_include_batches(
        4, np.array([True, False, False, True])), TypeError, "`include`"),
    case("always_include_batches", "include_fractional", lambda: always_include_batches(5, [1.5]), TypeError,
         "`include`"),
    case("always_include_batches", "n_float", lambda: always_include_batches(4.5, [0]), TypeError, "`n`"),
    case("always_include_batches", "batch_size_float", lambda: always_include_batches(5, [0], batch_size=2.5),
         TypeError, "`batch_size`"),
    case("always_include_batches", "shuffle_string", lambda: always_include_batches(5, [0], shuffle="no"), TypeError,
         "`shuffle`"),
    case("AlwaysIncludeSequence", "length_mismatch", lambda: AlwaysIncludeSequence(XF[:3], YF, [0]), ValueError, "`x"),
    case("AlwaysIncludeSequence", "include_out_of_range", lambda: AlwaysIncludeSequence(XF, YF, [9]), ValueError,
         "`include`"),
    case("AlwaysIncludeSequence", "batch_size_zero", lambda: AlwaysIncludeSequence(XF, YF, [0], batch_size=0),
         ValueError, "`batch_size`"),
    case("AlwaysIncludeSequence", "include_bool_mask", lambda: AlwaysIncludeSequence(XF, YF, YF == 0), TypeError,
         "`include`"),
    case("AlwaysIncludeSequence", "dict_key_mismatch", lambda: AlwaysIncludeSequence({"x": XF, "neg_mask": XF[:2]}, YF,
                                                                                     [0]),
         ValueError, "neg_mask"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)


def test_best_weights_skips_non_finite_epochs():
    """A NaN epoch (diverged validation) is skipped like a missing one: it must not become the
    "best" value that every later (finite) epoch then fails to beat."""
    from keras_egl._keras import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    cb = BestWeights(monitor="val_loss", mode="min")
    cb.set_model(model)
    cb.on_epoch_end(0, {"val_loss": NAN})
    cb.on_epoch_end(1, {"val_loss": 0.5})
    assert cb.best == 0.5 and cb.best_epoch == 1
