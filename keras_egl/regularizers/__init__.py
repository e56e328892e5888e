"""Regularizers: BEAN and its sparsity baselines, DynGraph2Seq's group lasso, GNES's explanation regularizers."""

from keras_egl.regularizers import bean, gnes, group_lasso, sparsity  # noqa: F401
from keras_egl.regularizers.bean import (BEANRegularizer, bean_penalty, bean_penalty_pairwise,  # noqa: F401
                                         connectivity_strength, convert_alpha, neuron_correlation)
from keras_egl.regularizers.gnes import ExplanationConsistency, ExplanationSparsity  # noqa: F401
from keras_egl.regularizers.group_lasso import (SlidingWindowGroupLasso, feature_importance,  # noqa: F401
                                                sliding_window_group_lasso)
from keras_egl.regularizers.sparsity import L1, ExclusiveSparsity12, GroupLasso21, weight_decay  # noqa: F401
