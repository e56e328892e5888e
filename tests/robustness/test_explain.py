"""Bad inputs to ``keras_egl.explain``: Grad-CAM, input gradients, targets, attributions, masks,
graph explanations and explainers raise errors naming the argument."""

import numpy as np
import pytest

from keras_egl.explain import explainers
from keras_egl.explain.attribution import gradient_x_input, integrated_gradients, occlusion, smoothgrad
from keras_egl.explain.grad_cam import cam_from_gradients, grad_cam
from keras_egl.explain.gradients import input_gradients
from keras_egl.explain.graph import (edge_gradient_map, excitation_backprop, explain_graph, node_grad_cam_map,
                                     node_gradient_map, normalize_graph_map)
from keras_egl.explain.masks import adaptive_max_pool2d, normalize_map, resize_mask
from keras_egl.explain.targets import class_weights, select_target
from tests.robustness._cases import (case, check, cnn_model, dense_model, features, gcn_model, graph_inputs,
                                     images, params, raw_adjacency, t)

X = images()
XF = features()
NAN = float("nan")
INF = float("inf")
LOGITS = t([[1.0, -1.0, 0.5], [0.2, 0.3, -2.0]])
ACTS = t(np.ones((2, 4, 4, 3)))


def _nan_images():
    x = X.copy()
    x[0, 0, 0, 0] = np.nan
    return x


def _g(**kw):
    """explain_graph on the cached GCN with keyword overrides."""
    args = dict(model=gcn_model(), inputs=graph_inputs(), target="pred")
    args.update(kw)
    return lambda: explain_graph(**args)


def _eb(**kw):
    args = dict(model=gcn_model(), inputs=graph_inputs(), target="pred")
    args.update(kw)
    return lambda: excitation_backprop(**args)


NODE_MAP = t(np.ones((2, 4)))
EDGE_MAP = t(np.ones((2, 4, 4)))
NODE_GRADS = t(np.ones((2, 4, 3)))

CASES = [
    # ----------------------------------------------------------------- grad_cam
    case("grad_cam", "unknown_layer", lambda: grad_cam(cnn_model(), X, "conv9"), ValueError, "`layer_name`"),
    case("grad_cam", "layer_name_int", lambda: grad_cam(cnn_model(), X, 3), TypeError, "`layer_name`"),
    case("grad_cam", "upsample_choice", lambda: grad_cam(cnn_model(), X, "conv", upsample="cubic"),
         ValueError, "`upsample`"),
    case("grad_cam", "cam_weights_choice", lambda: grad_cam(cnn_model(), X, "conv", cam_weights="first"),
         ValueError, "`cam_weights`"),
    case("grad_cam", "target_string", lambda: grad_cam(cnn_model(), X, "conv", target="best"),
         ValueError, "`target`"),
    case("grad_cam", "target_out_of_range", lambda: grad_cam(cnn_model(), X, "conv", target=5),
         ValueError, "`target`"),
    case("grad_cam", "true_without_y", lambda: grad_cam(cnn_model(), X, "conv", target="true"),
         ValueError, "`y`"),
    case("grad_cam", "y_length_1_broadcast", lambda: grad_cam(cnn_model(), X, "conv", target="true", y=[1]),
         ValueError, "`y`"),
    case("grad_cam", "normalize_choice", lambda: grad_cam(cnn_model(), X, "conv", normalize="zscore"),
         ValueError, "`normalize`"),
    case("grad_cam", "model_not_keras", lambda: grad_cam(lambda x: x, X, "conv"), TypeError, "`model`"),
    case("grad_cam", "quantity_choice", lambda: grad_cam(cnn_model(), X, "conv", quantity="logits"),
         ValueError, "`quantity`"),
    case("grad_cam", "relu_string", lambda: grad_cam(cnn_model(), X, "conv", relu="no"), TypeError, "`relu`"),
    case("grad_cam", "x_nan", lambda: grad_cam(cnn_model(), _nan_images(), "conv"), ValueError, "`x`"),
    # ----------------------------------------------------------------- cam_from_gradients
    case("cam_from_gradients", "activations_rank2", lambda: cam_from_gradients(t(np.ones((2, 3))), t(np.ones((2, 3)))),
         ValueError, "`activations`"),
    case("cam_from_gradients", "gradients_none", lambda: cam_from_gradients(ACTS, None), ValueError, "`gradients`"),
    case("cam_from_gradients", "shape_mismatch", lambda: cam_from_gradients(ACTS, t(np.ones((2, 4, 4, 2)))),
         ValueError, "`gradients`"),
    case("cam_from_gradients", "cam_weights_choice", lambda: cam_from_gradients(ACTS, ACTS, cam_weights="both"),
         ValueError, "`cam_weights`"),
    case("cam_from_gradients", "method_choice", lambda: cam_from_gradients(ACTS, ACTS, size=(8, 8), method="cubic"),
         ValueError, "`method`"),
    case("cam_from_gradients", "size_on_1d_maps", lambda: cam_from_gradients(t(np.ones((2, 5, 3))), t(np.ones((2, 5, 3))),
                                                                             size=(8, 8)), ValueError, "`size`"),
    case("cam_from_gradients", "size_zero", lambda: cam_from_gradients(ACTS, ACTS, size=(0, 8)), ValueError, "`size`"),
    case("cam_from_gradients", "normalize_choice", lambda: cam_from_gradients(ACTS, ACTS, normalize="zscore"),
         ValueError, "`normalize`"),
    case("cam_from_gradients", "gradients_list", lambda: cam_from_gradients(ACTS, np.ones((2, 4, 4, 3)).tolist()[:1]),
         ValueError, "`gradients`"),
    case("cam_from_gradients", "epsilon_negative", lambda: cam_from_gradients(ACTS, ACTS, epsilon=-1e-6),
         ValueError, "`epsilon`"),
    case("cam_from_gradients", "relu_string", lambda: cam_from_gradients(ACTS, ACTS, relu="yes"), TypeError, "`relu`"),
    # ----------------------------------------------------------------- input_gradients
    case("input_gradients", "x_integer", lambda: input_gradients(dense_model(), np.ones((2, 4), "int32")),
         TypeError, "`x`"),
    case("input_gradients", "target_unknown", lambda: input_gradients(dense_model(), XF, target="sum_logprob"),
         ValueError, "`target`"),
    case("input_gradients", "quantity_choice", lambda: input_gradients(dense_model(), XF, target=0, quantity="p"),
         ValueError, "`quantity`"),
    case("input_gradients", "true_without_y", lambda: input_gradients(dense_model(), XF, target="true"),
         ValueError, "`y`"),
    case("input_gradients", "y_wrong_length", lambda: input_gradients(dense_model(), XF, target="true", y=[0, 1, 2]),
         ValueError, "`y`"),
    case("input_gradients", "y_out_of_range", lambda: input_gradients(dense_model(), XF, target="true", y=[0, 3]),
         ValueError, "`y`"),
    case("input_gradients", "target_fractional", lambda: input_gradients(dense_model(), XF, target=np.array([0.5, 1.5])),
         ValueError, "`target`"),
    case("input_gradients", "target_bool", lambda: input_gradients(dense_model(), XF, target=True), TypeError, "`target`"),
    case("input_gradients", "logit_of_probabilities", lambda: input_gradients(dense_model(), XF, target=0,
                                                                              from_logits=False), ValueError, "quantity"),
    # ----------------------------------------------------------------- select_target / class_weights
    case("select_target", "outputs_rank1", lambda: select_target(t([1.0, 2.0])), ValueError, "`outputs`"),
    case("select_target", "outputs_int", lambda: select_target(t([[1, 2]], "int32")), TypeError, "`outputs`"),
    case("select_target", "index_out_of_range", lambda: select_target(LOGITS, 3), ValueError, "`target`"),
    case("select_target", "target_none", lambda: select_target(LOGITS, None), TypeError, "`target`"),
    case("select_target", "quantity_choice", lambda: select_target(LOGITS, "pred", quantity="score"),
         ValueError, "`quantity`"),
    case("select_target", "negative_index_vector", lambda: select_target(LOGITS, np.array([0, -1])),
         ValueError, "`target`"),
    case("class_weights", "onehot_nan", lambda: class_weights(LOGITS, t([[1, 0, 0], [0, NAN, 1]])),
         ValueError, "`target`"),
    case("class_weights", "y_length_1_broadcast", lambda: class_weights(LOGITS, "true", y=[1]), ValueError, "`y`"),
    case("class_weights", "onehot_wrong_width", lambda: class_weights(LOGITS, t([[1, 0], [0, 1]])),
         ValueError, "`target`"),
    case("class_weights", "target_typo", lambda: class_weights(LOGITS, "prediction"), ValueError, "`target`"),
    case("class_weights", "y_rank3", lambda: class_weights(LOGITS, "true", y=np.zeros((2, 1, 1), "int32")),
         ValueError, "`y`"),
    case("class_weights", "y_strings", lambda: class_weights(LOGITS, "true", y=np.array(["a", "b"])),
         TypeError, "`y`"),
    # ----------------------------------------------------------------- integrated_gradients
    case("integrated_gradients", "steps_zero", lambda: integrated_gradients(dense_model(), XF, steps=0),
         ValueError, "`steps`"),
    case("integrated_gradients", "steps_float", lambda: integrated_gradients(dense_model(), XF, steps=2.5),
         ValueError, "`steps`"),
    case("integrated_gradients", "method_choice", lambda: integrated_gradients(dense_model(), XF, method="simpson"),
         ValueError, "`method`"),
    case("integrated_gradients", "baseline_shape", lambda: integrated_gradients(dense_model(), XF, baseline=np.zeros(3)),
         ValueError, "`baseline`"),
    case("integrated_gradients", "baseline_nan", lambda: integrated_gradients(dense_model(), XF, baseline=NAN),
         ValueError, "`baseline`"),
    case("integrated_gradients", "batch_size_zero", lambda: integrated_gradients(dense_model(), XF, batch_size=0),
         ValueError, "`batch_size`"),
    case("integrated_gradients", "x_nan", lambda: integrated_gradients(dense_model(), np.full((2, 4), NAN, "float32")),
         ValueError, "`x`"),
    case("integrated_gradients", "x_empty", lambda: integrated_gradients(dense_model(), np.zeros((0, 4), "float32")),
         ValueError, "`x`"),
    case("integrated_gradients", "target_true_unsupported", lambda: integrated_gradients(dense_model(), XF, target="true"),
         ValueError, "`target`"),
    case("integrated_gradients", "trapezoid_one_step", lambda: integrated_gradients(dense_model(), XF, steps=1),
         ValueError, "`steps`"),
    case("integrated_gradients", "delta_flag_string", lambda: integrated_gradients(
        dense_model(), XF, steps=4, return_convergence_delta="yes"), TypeError, "`return_convergence_delta`"),
    # ----------------------------------------------------------------- smoothgrad
    case("smoothgrad", "n_samples_zero", lambda: smoothgrad(dense_model(), XF, n_samples=0), ValueError, "`n_samples`"),
    case("smoothgrad", "noise_negative", lambda: smoothgrad(dense_model(), XF, noise_level=-0.1),
         ValueError, "`noise_level`"),
    case("smoothgrad", "noise_nan", lambda: smoothgrad(dense_model(), XF, noise_level=NAN), ValueError, "`noise_level`"),
    case("smoothgrad", "noise_string", lambda: smoothgrad(dense_model(), XF, noise_level="0.1"),
         ValueError, "`noise_level`"),
    case("smoothgrad", "seed_string", lambda: smoothgrad(dense_model(), XF, seed="0"), TypeError, "`seed`"),
    case("smoothgrad", "batch_size_negative", lambda: smoothgrad(dense_model(), XF, batch_size=-1),
         ValueError, "`batch_size`"),
    case("smoothgrad", "squared_string", lambda: smoothgrad(dense_model(), XF, n_samples=2, squared="yes"),
         TypeError, "`squared`"),
    case("smoothgrad", "x_rank1", lambda: smoothgrad(dense_model(), XF[0]), ValueError, "`x`"),
    # ----------------------------------------------------------------- occlusion
    case("occlusion", "window_too_large", lambda: occlusion(cnn_model(), X, window=9), ValueError, "`window`"),
    case("occlusion", "window_zero", lambda: occlusion(cnn_model(), X, window=0), ValueError, "`window`"),
    case("occlusion", "stride_one_entry", lambda: occlusion(cnn_model(), X, stride=(1,)), TypeError, "`stride`"),
    case("occlusion", "baseline_nan", lambda: occlusion(cnn_model(), X, baseline_value=NAN),
         ValueError, "`baseline_value`"),
    case("occlusion", "x_features", lambda: occlusion(dense_model(), XF), ValueError, "`x`"),
    case("occlusion", "window_float", lambda: occlusion(cnn_model(), X, window=2.5), TypeError, "`window`"),
    case("occlusion", "baseline_string", lambda: occlusion(cnn_model(), X, baseline_value="0"),
         ValueError, "`baseline_value`"),
    # ----------------------------------------------------------------- gradient_x_input
    case("gradient_x_input", "x_strings", lambda: gradient_x_input(dense_model(), np.array([["a"] * 4] * 2)),
         TypeError, "`x`"),
    case("gradient_x_input", "batch_size_bool", lambda: gradient_x_input(dense_model(), XF, batch_size=True),
         ValueError, "`batch_size`"),
    case("gradient_x_input", "target_out_of_range", lambda: gradient_x_input(dense_model(), XF, target=7),
         ValueError, "`target`"),
    case("gradient_x_input", "target_vector_length", lambda: gradient_x_input(dense_model(), XF, target=[1]),
         ValueError, "`target`"),
    case("gradient_x_input", "model_returns_list", lambda: gradient_x_input(lambda x: [x, x], XF), ValueError, "model"),
    case("gradient_x_input", "logit_of_probabilities", lambda: gradient_x_input(dense_model(), XF, from_logits=False),
         ValueError, "quantity"),
    # ----------------------------------------------------------------- normalize_map
    case("normalize_map", "method_choice", lambda: normalize_map(NODE_MAP, "zscore"), ValueError, "`method`"),
    case("normalize_map", "axis_batch", lambda: normalize_map(NODE_MAP, axis=0), ValueError, "`axis`"),
    case("normalize_map", "axis_out_of_range", lambda: normalize_map(NODE_MAP, axis=5), ValueError, "`axis`"),
    case("normalize_map", "axis_float", lambda: normalize_map(NODE_MAP, axis=1.0), TypeError, "`axis`"),
    case("normalize_map", "epsilon_negative", lambda: normalize_map(NODE_MAP, epsilon=-1.0), ValueError, "`epsilon`"),
    case("normalize_map", "epsilon_nan", lambda: normalize_map(NODE_MAP, epsilon=NAN), ValueError, "`epsilon`"),
    case("normalize_map", "epsilon_inf", lambda: normalize_map(NODE_MAP, epsilon=INF), ValueError, "`epsilon`"),
    case("normalize_map", "m_rank1", lambda: normalize_map(t([1.0, 2.0])), ValueError, "`m`"),
    case("normalize_map", "m_strings", lambda: normalize_map(np.array([["a", "b"]])), TypeError, "`m`"),
    case("normalize_map", "mask_shape", lambda: normalize_map(NODE_MAP, mask=np.ones((2, 3))), ValueError, "`mask`"),
    # ----------------------------------------------------------------- resize_mask
    case("resize_mask", "method_choice", lambda: resize_mask(X[..., 0], 4, method="bilinear"), ValueError, "`method`"),
    case("resize_mask", "normalize_choice", lambda: resize_mask(X[..., 0], 4, normalize="sum"),
         ValueError, "`normalize`"),
    case("resize_mask", "size_zero", lambda: resize_mask(X[..., 0], 0), ValueError, "`size`"),
    case("resize_mask", "size_one_entry", lambda: resize_mask(X[..., 0], (4,)), TypeError, "`size`"),
    case("resize_mask", "size_float", lambda: resize_mask(X[..., 0], 3.5), TypeError, "`size`"),
    case("resize_mask", "mask_rank2", lambda: resize_mask(X[0, ..., 0], 4), ValueError, "`mask`"),
    case("resize_mask", "mask_strings", lambda: resize_mask(np.full((1, 2, 2), "a"), 4), TypeError, "`mask`"),
    # ----------------------------------------------------------------- adaptive_max_pool2d
    case("adaptive_max_pool2d", "output_size_zero", lambda: adaptive_max_pool2d(X, 0), ValueError, "`output_size`"),
    case("adaptive_max_pool2d", "output_size_string", lambda: adaptive_max_pool2d(X, "7"), TypeError, "`output_size`"),
    case("adaptive_max_pool2d", "output_size_triple", lambda: adaptive_max_pool2d(X, (2, 2, 2)),
         TypeError, "`output_size`"),
    case("adaptive_max_pool2d", "x_rank2", lambda: adaptive_max_pool2d(X[0, ..., 0], 2), ValueError, "`x`"),
    case("adaptive_max_pool2d", "x_rank5", lambda: adaptive_max_pool2d(X[None], 2), ValueError, "`x`"),
    case("adaptive_max_pool2d", "x_empty_spatial", lambda: adaptive_max_pool2d(np.zeros((1, 0, 4)), 2),
         ValueError, "`x`"),
    case("adaptive_max_pool2d", "erode_string", lambda: adaptive_max_pool2d(X, 2, erode="yes"), TypeError, "`erode`"),
    case("adaptive_max_pool2d", "x_strings", lambda: adaptive_max_pool2d(np.full((1, 2, 2), "a"), 1),
         TypeError, "`x`"),
    # ----------------------------------------------------------------- explain_graph
    case("explain_graph", "node_method_choice", _g(node_method="cam"), ValueError, "`node_method`"),
    case("explain_graph", "edge_method_choice", _g(edge_method="saliency"), ValueError, "`edge_method`"),
    case("explain_graph", "layer_too_deep", _g(layer=5), ValueError, "`layer`"),
    case("explain_graph", "layer_float", _g(layer=1.0), TypeError, "`layer`"),
    case("explain_graph", "edge_layer_zero", _g(edge_layer=0), ValueError, "`edge_layer`"),
    case("explain_graph", "inputs_missing_mask", _g(inputs=graph_inputs()[:-1]), ValueError, "`inputs`"),
    case("explain_graph", "lrp_alpha_beta", _g(node_method="lrp", alpha=2.0, beta=0.0), ValueError, "alpha"),
    case("explain_graph", "grad_norm_choice", _g(grad_norm="l3"), ValueError, "`grad_norm`"),
    case("explain_graph", "normalize_choice", _g(normalize="zscore"), ValueError, "`normalize`"),
    case("explain_graph", "true_without_y", _g(target="true"), ValueError, "`y`"),
    case("explain_graph", "node_mask_rank3", _g(inputs=graph_inputs()[:-1] + [np.ones((2, 4, 1))]),
         ValueError, "`node_mask`"),
    case("explain_graph", "x_rank2", _g(inputs=[np.ones((2, 5))] + graph_inputs()[1:]), ValueError, "`x`"),
    case("explain_graph", "adjacency_batch_1", _g(adjacency=raw_adjacency(b=1)), ValueError, "`adjacency`"),
    case("explain_graph", "grad_cam_layer_0", _g(layer=0), ValueError, "`layer`"),
    case("explain_graph", "a_1_wrong_nodes", _g(inputs=[graph_inputs()[0], np.ones((2, 3, 3)), graph_inputs()[2],
                                                        graph_inputs()[3]]), ValueError, "`a_1`"),
    # ----------------------------------------------------------------- excitation_backprop
    case("excitation_backprop", "alpha_ignored", _eb(alpha=3.0), ValueError, "alpha"),
    case("excitation_backprop", "beta_negative", _eb(alpha=0.0, beta=-1.0), ValueError, "beta"),
    case("excitation_backprop", "alpha_string", _eb(alpha="two", beta=1.0), TypeError, "`alpha`"),
    case("excitation_backprop", "layer_too_deep", _eb(layer=9), ValueError, "`layer`"),
    case("excitation_backprop", "target_unknown", _eb(target="most"), ValueError, "`target`"),
    case("excitation_backprop", "normalize_choice", _eb(normalize="sum"), ValueError, "`normalize`"),
    # ----------------------------------------------------------------- normalize_graph_map
    case("normalize_graph_map", "method_choice", lambda: normalize_graph_map(NODE_MAP, method="l2"),
         ValueError, "`method`"),
    case("normalize_graph_map", "m_rank4", lambda: normalize_graph_map(t(np.ones((2, 4, 4, 1)))), ValueError, "`m`"),
    case("normalize_graph_map", "node_mask_width", lambda: normalize_graph_map(NODE_MAP, np.ones((2, 3))),
         ValueError, "`node_mask`"),
    case("normalize_graph_map", "node_mask_rank1", lambda: normalize_graph_map(NODE_MAP, np.ones(4)),
         ValueError, "`node_mask`"),
    case("normalize_graph_map", "m_strings", lambda: normalize_graph_map(np.array([["a", "b"]])), TypeError, "`m`"),
    # ----------------------------------------------------------------- node_gradient_map
    case("node_gradient_map", "norm_choice", lambda: node_gradient_map(NODE_GRADS, norm="max"), ValueError, "`norm`"),
    case("node_gradient_map", "grads_rank2", lambda: node_gradient_map(NODE_MAP), ValueError, "`grads`"),
    case("node_gradient_map", "grads_rank4", lambda: node_gradient_map(t(np.ones((2, 4, 3, 1)))),
         ValueError, "`grads`"),
    case("node_gradient_map", "node_mask_width", lambda: node_gradient_map(NODE_GRADS, np.ones((2, 1))),
         ValueError, "`node_mask`"),
    case("node_gradient_map", "grads_strings", lambda: node_gradient_map(np.full((1, 2, 2), "a")),
         TypeError, "`grads`"),
    # ----------------------------------------------------------------- node_grad_cam_map
    case("node_grad_cam_map", "cam_weights_choice", lambda: node_grad_cam_map(NODE_GRADS, NODE_GRADS, cam_weights="x"),
         ValueError, "`cam_weights`"),
    case("node_grad_cam_map", "shape_mismatch", lambda: node_grad_cam_map(NODE_GRADS, t(np.ones((2, 4, 2)))),
         ValueError, "`grads`"),
    case("node_grad_cam_map", "acts_rank2", lambda: node_grad_cam_map(NODE_MAP, NODE_MAP), ValueError, "`acts`"),
    case("node_grad_cam_map", "node_mask_width", lambda: node_grad_cam_map(NODE_GRADS, NODE_GRADS, np.ones((2, 1))),
         ValueError, "`node_mask`"),
    case("node_grad_cam_map", "relu_string", lambda: node_grad_cam_map(NODE_GRADS, NODE_GRADS, relu="no"),
         TypeError, "`relu`"),
    # ----------------------------------------------------------------- edge_gradient_map
    case("edge_gradient_map", "grad_v_rank2", lambda: edge_gradient_map(NODE_MAP), ValueError, "`grad_v`"),
    case("edge_gradient_map", "grad_v_not_square", lambda: edge_gradient_map(t(np.ones((2, 4, 3)))),
         ValueError, "`grad_v`"),
    case("edge_gradient_map", "adjacency_shape", lambda: edge_gradient_map(EDGE_MAP, np.ones((1, 4, 4))),
         ValueError, "`adjacency`"),
    case("edge_gradient_map", "node_mask_width", lambda: edge_gradient_map(EDGE_MAP, node_mask=np.ones((2, 1))),
         ValueError, "`node_mask`"),
    case("edge_gradient_map", "relu_string", lambda: edge_gradient_map(EDGE_MAP, relu="no"), TypeError, "`relu`"),
    # ----------------------------------------------------------------- explainers
    case("GradCAM", "relu_string", lambda: explainers.GradCAM(relu="yes"), TypeError, "`relu`"),
    case("GradCAM", "normalize_choice", lambda: explainers.GradCAM(normalize="zscore"), ValueError, "`normalize`"),
    case("GradCAM", "upsample_choice", lambda: explainers.GradCAM(upsample="cubic"), ValueError, "`upsample`"),
    case("GradCAM", "cam_weights_choice", lambda: explainers.GradCAM(cam_weights="first"),
         ValueError, "`cam_weights`"),
    case("GradCAM", "quantity_choice", lambda: explainers.GradCAM(quantity="probability"), ValueError, "`quantity`"),
    case("GradCAM", "target_unknown", lambda: explainers.GradCAM(target="best"), ValueError, "`target`"),
    case("GradCAM", "target_negative", lambda: explainers.GradCAM(target=-1), ValueError, "`target`"),
    case("InputGradient", "quantity_choice", lambda: explainers.InputGradient(quantity="odds"),
         ValueError, "`quantity`"),
    case("InputGradient", "reduce_channels_choice", lambda: explainers.InputGradient(reduce_channels="mean"),
         ValueError, "`reduce_channels`"),
    case("InputGradient", "target_unknown", lambda: explainers.InputGradient(target="sum_logprob"),
         ValueError, "`target`"),
    case("InputGradient", "target_bool", lambda: explainers.InputGradient(target=True), TypeError, "`target`"),
    case("InputGradient", "target_float", lambda: explainers.InputGradient(target=1.5), TypeError, "`target`"),
    case("explainers.get", "unknown_name", lambda: explainers.get("gradcam"), ValueError, "`explainer`"),
    case("explainers.get", "number", lambda: explainers.get(42), TypeError, "`explainer`"),
    case("explainers.get", "empty_name", lambda: explainers.get(""), ValueError, "`explainer`"),
    case("explainers.get", "list", lambda: explainers.get(["grad_cam"]), TypeError, "`explainer`"),
    case("explainers.get", "unknown_config", lambda: explainers.get({"class_name": "NoSuchExplainer", "config": {}}),
         ValueError, "`explainer`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
