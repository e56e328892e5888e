"""Models: the shared ``ExplanationGuidedModel`` and one builder module per method.

The method modules (``rrr``, ``res``, ``gradia``, ``haics``, ``gnes``,
``bayesian``, ``bean``, ``dyngraph2seq``, ``backbones``) are loaded on first
use, so that a loss module may import ``keras_egl.models.base`` without
pulling in every method (and a cycle with them).
"""

import importlib

from keras_egl.models.base import (ExplanationContext, ExplanationGuidedModel,  # noqa: F401
                                   ExplanationTerm, annotation_flags, check_annotation)
from keras_egl.models.export import export_saved_model  # noqa: F401

METHOD_MODULES = ("backbones", "bayesian", "bean", "dyngraph2seq", "gnes", "gradia", "haics", "res", "rrr")
_EXPORTS = {
    "BayesianFeedbackModel": "bayesian", "bayesian_lenet": "bayesian", "bayesian_alexnet_bn": "bayesian",
    "DynGraph2Seq": "dyngraph2seq", "Graph2Seq": "dyngraph2seq", "Seq2Seq": "dyngraph2seq",
    "GNES": "gnes", "build_gnes": "gnes",
    "GRADIAModel": "gradia", "GRADIATerm": "gradia", "ReasonabilityMatrix": "gradia", "two_phase_fit": "gradia",
    "HAICSModel": "haics", "HAICSTerm": "haics",
    "RESModel": "res", "RESTerm": "res",
    "RightForRightReasons": "rrr", "RightReasonsTerm": "rrr", "SmallParamsTerm": "rrr",
    "find_another_explanation": "rrr", "largest_gradient_mask": "rrr",
    "build_resnet50": "backbones", "build_small_cnn": "backbones",
    "lenet5": "bean", "resnet18_cifar": "bean",
}


def __getattr__(name):
    if name in METHOD_MODULES:
        return importlib.import_module(f"keras_egl.models.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"keras_egl.models.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'keras_egl.models' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(METHOD_MODULES) + list(_EXPORTS))
