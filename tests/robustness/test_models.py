"""Bad inputs to the model builders and presets: ``models.rrr``, ``models.backbones``, ``models.bean`` and
``models.dyngraph2seq`` raise errors naming the argument."""

import numpy as np
import pytest

from keras_egl.models.backbones import build_resnet50, build_small_cnn, cam_size
from keras_egl.models.bean import lenet5, mlp, resnet18_cifar
from keras_egl.models.dyngraph2seq import DynGraph2Seq, Graph2Seq, Seq2Seq, make_teacher_forcing
from keras_egl.models.rrr import RightForRightReasons, rrr_mlp
from tests.robustness._cases import case, check, cnn_model, dense_model, params

NAN = float("nan")
INF = float("inf")


def _rrr(**kw):
    return lambda: RightForRightReasons(dense_model(), **kw)


def _dg(**kw):
    args = dict(num_nodes=4, num_features=3, time_steps=2, vocab_size=6, gcn_units=4, hops=1, units=4,
                attention_units=4)
    args.update(kw)
    return lambda: DynGraph2Seq(**args)


def _g2s(**kw):
    args = dict(num_nodes=4, num_features=3, vocab_size=6, gcn_units=4, hops=1, units=4, attention_units=4)
    args.update(kw)
    return lambda: Graph2Seq(**args)


def _s2s(**kw):
    args = dict(num_nodes=4, vocab_size=6, node_embed_dim=4, units=4, attention_units=4)
    args.update(kw)
    return lambda: Seq2Seq(**args)


CASES = [
    # ----------------------------------------------------------------- RightForRightReasons / rrr_mlp
    case("RightForRightReasons", "lambda1_negative", _rrr(lambda1=-1.0), ValueError, "`lambda1`"),
    case("RightForRightReasons", "lambda2_inf", _rrr(lambda2=INF), ValueError, "`lambda2`"),
    case("RightForRightReasons", "norm_choice", _rrr(norm="l3"), ValueError, "`norm`"),
    case("RightForRightReasons", "reduction_choice", _rrr(reduction="max"), ValueError, "`reduction`"),
    case("RightForRightReasons", "certainty_string", _rrr(certainty="yes"), TypeError, "`certainty`"),
    case("RightForRightReasons", "input_key_list", _rrr(input_key=["x", "y"]), ValueError, "input_key"),
    case("RightForRightReasons", "derive_choice", _rrr(derive="flip"), ValueError, "`derive`"),
    case("RightForRightReasons", "include_biases_string", _rrr(include_biases="no"), TypeError, "`include_biases`"),
    case("RightForRightReasons", "explainer_unknown", _rrr(explainer="gradcam"), ValueError, "`explainer`"),
    case("RightForRightReasons", "target_unknown", _rrr(target="logprob"), ValueError, "`target`"),
    case("rrr_mlp", "input_shape_empty", lambda: rrr_mlp(()), ValueError, "`input_shape`"),
    case("rrr_mlp", "input_shape_string", lambda: rrr_mlp("784"), ValueError, "`input_shape`"),
    case("rrr_mlp", "n_classes_one", lambda: rrr_mlp(n_classes=1), ValueError, "`n_classes`"),
    case("rrr_mlp", "n_classes_float", lambda: rrr_mlp(n_classes=2.5), TypeError, "`n_classes`"),
    case("rrr_mlp", "init_stddev_zero", lambda: rrr_mlp(init_stddev=0.0), ValueError, "`init_stddev`"),
    case("rrr_mlp", "init_stddev_inf", lambda: rrr_mlp(init_stddev=INF), ValueError, "`init_stddev`"),
    case("rrr_mlp", "hidden_float", lambda: rrr_mlp(hidden=(50.5, 30)), TypeError, "`hidden`"),
    case("rrr_mlp", "hidden_zero", lambda: rrr_mlp(hidden=(0,)), ValueError, "`hidden`"),
    case("rrr_mlp", "seed_string", lambda: rrr_mlp(seed="a"), TypeError, "`seed`"),
    case("rrr_mlp", "input_shape_negative", lambda: rrr_mlp((-4,)), ValueError, "`input_shape`"),
    # ----------------------------------------------------------------- backbones
    case("build_resnet50", "weights_imagenet", lambda: build_resnet50(weights="imagenet"), ValueError, "`weights`"),
    case("build_resnet50", "weights_int", lambda: build_resnet50(weights=3), TypeError, "`weights`"),
    case("build_resnet50", "weights_missing_file", lambda: build_resnet50(weights="/nonexistent/w.h5"),
         ValueError, "`weights`"),
    case("build_resnet50", "num_classes_zero", lambda: build_resnet50(num_classes=0), ValueError, "`num_classes`"),
    case("build_resnet50", "input_shape_rank2", lambda: build_resnet50(input_shape=(224, 224)),
         ValueError, "`input_shape`"),
    case("build_resnet50", "num_classes_float", lambda: build_resnet50(num_classes=2.5), TypeError, "`num_classes`"),
    case("build_small_cnn", "num_classes_float", lambda: build_small_cnn(num_classes=2.5), TypeError, "`num_classes`"),
    case("build_small_cnn", "dropout_above_1", lambda: build_small_cnn(dropout=1.5), ValueError, "`dropout`"),
    case("build_small_cnn", "filters_zero", lambda: build_small_cnn(filters=(0, 4)), ValueError, "`filters`"),
    case("build_small_cnn", "seed_string", lambda: build_small_cnn(seed="0"), TypeError, "`seed`"),
    case("build_small_cnn", "cam_filters_zero", lambda: build_small_cnn(cam_filters=0), ValueError, "`cam_filters`"),
    case("build_small_cnn", "input_shape_rank2", lambda: build_small_cnn(input_shape=(64, 64)),
         ValueError, "`input_shape`"),
    case("build_small_cnn", "too_many_pools", lambda: build_small_cnn(input_shape=(4, 4, 3), filters=(2, 2, 2)),
         ValueError, "`input_shape`"),
    case("build_small_cnn", "dropout_nan", lambda: build_small_cnn(dropout=NAN), ValueError, "`dropout`"),
    case("cam_size", "unknown_layer", lambda: cam_size(cnn_model(), "conv9"), ValueError, "`layer_name`"),
    case("cam_size", "vector_layer", lambda: cam_size(cnn_model(), "gap"), ValueError, "`layer_name`"),
    case("cam_size", "layer_name_int", lambda: cam_size(cnn_model(), 0), TypeError, "`layer_name`"),
    case("cam_size", "model_not_keras", lambda: cam_size("cnn", "conv"), TypeError, "`model`"),
    case("cam_size", "dense_layer", lambda: cam_size(dense_model(), "hidden"), ValueError, "`layer_name`"),
    # ----------------------------------------------------------------- BEAN models
    case("mlp", "bean_layers_choice", lambda: mlp(bean_layers="some"), ValueError, "`bean_layers`"),
    case("mlp", "hidden_zero", lambda: mlp(hidden=(0,)), ValueError, "`hidden`"),
    case("mlp", "dropout_one", lambda: mlp(dropout=1.0), ValueError, "`dropout`"),
    case("mlp", "dropout_string", lambda: mlp(dropout="x"), TypeError, "`dropout`"),
    case("mlp", "hidden_float", lambda: mlp(hidden=(5.5,)), TypeError, "`hidden`"),
    case("mlp", "n_classes_one", lambda: mlp(n_classes=1), ValueError, "`n_classes`"),
    case("mlp", "hidden_int", lambda: mlp(hidden=500), TypeError, "`hidden`"),
    case("lenet5", "input_shape_rank2", lambda: lenet5(input_shape=(28, 28)), ValueError, "`input_shape`"),
    case("lenet5", "conv1_padding_choice", lambda: lenet5(conv1_padding="full"), ValueError, "`conv1_padding`"),
    case("lenet5", "dropout_negative", lambda: lenet5(dropout=-0.1), ValueError, "`dropout`"),
    case("lenet5", "n_classes_zero", lambda: lenet5(n_classes=0), ValueError, "`n_classes`"),
    case("lenet5", "input_too_small", lambda: lenet5(input_shape=(8, 8, 1)), ValueError, "`input_shape`"),
    case("lenet5", "seed_string", lambda: lenet5(seed="0"), TypeError, "`seed`"),
    case("resnet18_cifar", "width_zero", lambda: resnet18_cifar(width=0), ValueError, "`width`"),
    case("resnet18_cifar", "width_float", lambda: resnet18_cifar(width=2.5), TypeError, "`width`"),
    case("resnet18_cifar", "input_shape_rank2", lambda: resnet18_cifar(input_shape=(32, 32)),
         ValueError, "`input_shape`"),
    case("resnet18_cifar", "n_classes_float", lambda: resnet18_cifar(n_classes=9.5, width=2), TypeError, "`n_classes`"),
    case("resnet18_cifar", "bean_string", lambda: resnet18_cifar(bean="bean1", width=2), TypeError, "`bean`"),
    # ----------------------------------------------------------------- DynGraph2Seq family
    case("DynGraph2Seq", "num_nodes_zero", _dg(num_nodes=0), ValueError, "`num_nodes`"),
    case("DynGraph2Seq", "readout_choice", _dg(readout="mean"), ValueError, "`readout`"),
    case("DynGraph2Seq", "group_lasso_mode_choice", _dg(group_lasso_mode="admm"), ValueError, "`group_lasso_mode`"),
    case("DynGraph2Seq", "group_lasso_string", _dg(group_lasso="yes"), TypeError, "`group_lasso`"),
    case("DynGraph2Seq", "vocab_size_too_small", _dg(vocab_size=2), ValueError, "`vocab_size`"),
    case("DynGraph2Seq", "decoder_init_choice", _dg(decoder_init="zeros"), ValueError, "`decoder_init`"),
    case("DynGraph2Seq", "max_decode_len_zero", _dg(max_decode_len=0), ValueError, "`max_decode_len`"),
    case("DynGraph2Seq", "num_features_zero", _dg(num_features=0), ValueError, "`num_features`"),
    case("DynGraph2Seq", "node_features_shape", _dg(node_features=np.ones((4, 5))), ValueError, "`node_features`"),
    case("DynGraph2Seq", "seq_attention_choice", _dg(seq_attention="additive"), ValueError, "`seq_attention`"),
    case("DynGraph2Seq", "l2_negative", _dg(l2=-1.0), ValueError, "`l2`"),
    case("DynGraph2Seq", "units_zero", _dg(units=0), ValueError, "`units`"),
    case("DynGraph2Seq", "time_steps_float", _dg(time_steps=2.5), TypeError, "`time_steps`"),
    case("Graph2Seq", "monotonic_attention", _g2s(seq_attention="monotonic"), ValueError, "seq_attention"),
    case("Graph2Seq", "readout_choice", _g2s(readout="sum"), ValueError, "`readout`"),
    case("Graph2Seq", "num_nodes_string", _g2s(num_nodes="4"), TypeError, "`num_nodes`"),
    case("Graph2Seq", "embed_dim_zero", _g2s(embed_dim=0), ValueError, "`embed_dim`"),
    case("Graph2Seq", "l2_nan", _g2s(l2=NAN), ValueError, "`l2`"),
    case("Seq2Seq", "num_nodes_string", _s2s(num_nodes="5"), TypeError, "`num_nodes`"),
    case("Seq2Seq", "num_nodes_zero", _s2s(num_nodes=0), ValueError, "`num_nodes`"),
    case("Seq2Seq", "vocab_size_float", _s2s(vocab_size=6.0), (TypeError, ValueError), "`vocab_size`"),
    case("Seq2Seq", "node_embed_dim_zero", _s2s(node_embed_dim=0), ValueError, "`node_embed_dim`"),
    case("Seq2Seq", "sigmoid_noise_negative", _s2s(seq_attention="monotonic", sigmoid_noise=-1.0),
         ValueError, "`sigmoid_noise`"),
    case("Seq2Seq", "attention_units_float", _s2s(seq_attention="luong", attention_units=2.5),
         TypeError, "`attention_units`"),
    case("make_teacher_forcing", "max_len_zero", lambda: make_teacher_forcing([[3, 4]], max_len=0),
         ValueError, "`max_len`"),
    case("make_teacher_forcing", "max_len_float", lambda: make_teacher_forcing([[3, 4]], max_len=4.5),
         TypeError, "`max_len`"),
    case("make_teacher_forcing", "sequences_none", lambda: make_teacher_forcing(None), TypeError, "`sequences`"),
    case("make_teacher_forcing", "too_long", lambda: make_teacher_forcing([[3, 4, 5]], max_len=3), ValueError, "max_len"),
    case("make_teacher_forcing", "string_sequence", lambda: make_teacher_forcing(["Dx Surgery"]),
         TypeError, "`sequences`"),
    case("make_teacher_forcing", "float_tokens", lambda: make_teacher_forcing([[3.5, 4]]), TypeError, "`sequences`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
