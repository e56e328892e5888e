"""Training procedures beyond one fit call.

* :mod:`keras_egl.training.find_another_explanation` — Ross et al.'s
  find-another-explanation (a sequence of RRR models, each told to avoid what
  the previous ones used) and the reference training helper ``fit_rrr``;
* :mod:`keras_egl.training.sampling` — minibatch schedules, e.g. the
  reference's ``always_include`` oversampling of the annotated rows;
* :mod:`keras_egl.training.gradia_two_phase` — GRADIA's two-phase workflow
  ``two_phase_fit`` (phase 1 baseline, phase 2 fine-tune on Reasonability-
  labelled feedback, model selection on a split that is not the test set).

Loaded on first use (``find_another_explanation`` builds on
:mod:`keras_egl.models.rrr`, which re-exports these names). Note that
``keras_egl.training.find_another_explanation`` is the *module*; the function
is ``keras_egl.training.find_another_explanation.find_another_explanation``.
"""

import importlib

_EXPORTS = {
    "FAEResult": "find_another_explanation",
    "fit_rrr": "find_another_explanation", "accuracy": "find_another_explanation",
    "always_include_batches": "sampling", "AlwaysIncludeSequence": "sampling",
    "two_phase_fit": "gradia_two_phase",
}
_MODULES = ("find_another_explanation", "sampling", "gradia_two_phase")


def __getattr__(name):
    if name in _MODULES:
        return importlib.import_module(f"keras_egl.training.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"keras_egl.training.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'keras_egl.training' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_MODULES) + list(_EXPORTS))
