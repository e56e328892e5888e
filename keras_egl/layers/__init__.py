"""Layers: Bayesian (LRT, TFP-style), BEAN, graph (Spektral GCN), dynamic graph, sequence attention, RES imputation."""

from keras_egl.layers import bayesian, bean, dyngraph, graph, imputation, seq_attention  # noqa: F401
from keras_egl.layers.bayesian import BayesianConv2D, BayesianDense, mean_weights, set_kl_weight  # noqa: F401
from keras_egl.layers.bayesian import to_bayesian  # noqa: F401
from keras_egl.layers.bean import BEANDense, BEANRegularized  # noqa: F401
from keras_egl.layers.dyngraph import DynamicBiGCN, MaxPoolGraphReadout, NodeToGraphAttention  # noqa: F401
from keras_egl.layers.graph import MaskedGlobalAvgPool, gcn_classifier, gcn_normalize  # noqa: F401
from keras_egl.layers.imputation import DeepImputation, GaussianImputation, ShallowImputation  # noqa: F401
from keras_egl.layers.seq_attention import MonotonicAttention, SoftmaxAttention  # noqa: F401
