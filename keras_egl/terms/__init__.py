"""Explanation terms: every method as a term on any Keras classifier.

>>> egl = ExplanationGuidedModel(cnn, terms=[keras_egl.terms.get("gradia")],
...                              explained_layer="conv_last")

swap ``"gradia"`` for ``"rrr"``, ``"haics"``, ``"res_g"``, ``"res_l"`` or
``"feedback"`` and nothing else changes: every term reads the same annotation
dict (``pos_mask``, ``neg_mask``, ``has_annotation``; see
:mod:`keras_egl.terms.core`). Every term takes ``weight="auto"`` and a
warm-up/ramp schedule (see :mod:`keras_egl.terms.weighting`).

=================  =============================================  ==========================
name               term                                           needs
=================  =============================================  ==========================
``rrr``            :class:`keras_egl.terms.rrr.RightReasonsTerm`    ``neg_mask`` (A)
``small_params``   :class:`keras_egl.terms.rrr.SmallParamsTerm`     –
``feedback``       :class:`keras_egl.terms.feedback.InputGradientFeedback`  ``neg_mask`` (F)
``gradia``         :class:`keras_egl.terms.gradia.GRADIATerm`       ``pos_mask``
``haics``          :class:`keras_egl.terms.haics.HAICSTerm`         ``pos_mask`` (+ ``neg_mask``)
``res_g``          :class:`keras_egl.terms.res.RESTerm` (Gaussian)  ``pos_mask`` (+ ``neg_mask``)
``res_l``          :class:`keras_egl.terms.res.RESTerm` (learnable) ``pos_mask`` (+ ``neg_mask``)
``rrr_g``          :class:`keras_egl.terms.rrr_g.RRRGradCAMTerm`    ``neg_mask`` (A)
``hint``           :class:`keras_egl.terms.hint.HINTTerm`           ``pos_mask``
=================  =============================================  ==========================

GNES's graph terms are in :mod:`keras_egl.terms.gnes` (names ``gnes_node``,
``gnes_edge``, ``gnes_consistency``, ``gnes_sparsity``).
"""

import copy
import importlib

from keras_egl._keras import keras
from keras_egl.terms.core import (ANNOTATION_KEYS, DERIVE_RULES, HAS_ANNOTATION, NEG_MASK,  # noqa: F401
                                  POS_MASK, REASONABILITY, ExplanationContext, ExplanationTerm,
                                  annotation_flags, check_annotation, check_derive)

# name -> (module, class, preset kwargs). Loaded on first use so importing the
# term API does not import every method.
# Defaults of terms made by name: the library's choice for training on your own
# data, picked on the validation splits of the cross-method benchmark
# (reproductions/egl_benchmark.py; docs/RESULTS.md): Grad-CAM terms supervise
# HiResCAM ("elementwise") maps, normalised by max |m| (alignment terms) or not
# at all (RRR-G's penalty), because a min–max normalised channel-average CAM
# let models keep the shortcut while hiding it from the map. The classes
# themselves default to the papers' / reference code's settings.
_CAM_ALIGN = {"cam_weights": "elementwise", "normalize": "max"}
_REGISTRY = {
    "rrr": ("rrr", "RightReasonsTerm", {}),
    "small_params": ("rrr", "SmallParamsTerm", {}),
    "feedback": ("feedback", "InputGradientFeedback", {}),
    "gradia": ("gradia", "GRADIATerm", dict(_CAM_ALIGN)),
    # HAICS's BCE clips a CAM below 0, so its sign-keeping "max" map loses gradient there.
    "haics": ("haics", "HAICSTerm", {"cam_weights": "elementwise"}),
    "res_g": ("res", "RESTerm", {"imputation": "gaussian", **_CAM_ALIGN}),
    "res_l": ("res", "RESTerm", {"imputation": "shallow", **_CAM_ALIGN}),
    "rrr_g": ("rrr_g", "RRRGradCAMTerm", {"cam_weights": "elementwise", "normalize": None}),
    "hint": ("hint", "HINTTerm", dict(_CAM_ALIGN)),
    "gnes_node": ("gnes", "NodeSupervision", {}),
    "gnes_edge": ("gnes", "EdgeSupervision", {}),
    "gnes_consistency": ("gnes", "ConsistencyTerm", {}),
    "gnes_sparsity": ("gnes", "SparsityTerm", {}),
}


def names():
    """The names :func:`get` accepts."""
    return tuple(_REGISTRY)


def term_class(name):
    """The class behind a registered name."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown term {name!r}; known terms: {sorted(_REGISTRY)}.")
    module, cls, _ = _REGISTRY[name]
    return getattr(importlib.import_module(f"keras_egl.terms.{module}"), cls)


def get(identifier, **kwargs):
    """A term from a name (with constructor ``kwargs``), a config dict or an instance.

    Args:
      identifier: a registered name (see :func:`names`), an
        :class:`ExplanationTerm` (returned as is; ``kwargs`` must be empty) or
        a serialised term config.
      **kwargs: constructor arguments, e.g. ``get("rrr", weight=10.0)``.

    Returns:
      An :class:`ExplanationTerm`.
    """
    if isinstance(identifier, ExplanationTerm):
        if kwargs:
            raise ValueError(f"keyword arguments {sorted(kwargs)} apply only to a term name; got an "
                             f"instance of {type(identifier).__name__}.")
        return identifier
    if isinstance(identifier, dict):
        try:
            term = keras.saving.deserialize_keras_object(copy.deepcopy(identifier))
        except (TypeError, ValueError) as err:
            # Keras's message (e.g. "Could not locate class 'Dense'") does not name the argument.
            kind = TypeError if isinstance(err, TypeError) else ValueError
            raise kind(f"`identifier` is not the config of a registered ExplanationTerm: {err}") from err
        if not isinstance(term, ExplanationTerm):
            raise TypeError(f"`identifier` config does not describe an ExplanationTerm; got {type(term).__name__}.")
        return term
    if isinstance(identifier, str):
        if identifier not in _REGISTRY:
            raise ValueError(f"unknown term {identifier!r}: `identifier` must be a registered term name, one of "
                             f"{names()}.")
        cls = term_class(identifier)
        preset = dict(_REGISTRY[identifier][2])
        preset.update(kwargs)
        if "name" not in preset and identifier in ("res_g", "res_l"):
            preset["name"] = f"{identifier}_loss"
        return cls(**preset)
    raise TypeError(f"`identifier` must be a term name, a config dict or an ExplanationTerm; got "
                    f"{type(identifier).__name__} {identifier!r}.")
