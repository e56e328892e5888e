"""HAICS model: Grad-CAM supervision with a masked BCE to scribbled annotations.

Shen et al., CHI EA 2021, the baseline of RES (Gao et al., KDD 2022, Table 1):
``min Σ_i CE_i + λ·BCE(M_i, F_i | H_i ≠ 0)`` with ``M_i`` the true-class
Grad-CAM (min–max, no ReLU, like the RES code's training CAM), computed
batched from the training pass, and the masks nearest-resized to the CAM grid.
The term is :class:`keras_egl.terms.haics.HAICSTerm` (re-exported here); see
:mod:`keras_egl.losses.haics` for the loss and the code's unmasked variant.

Example:
  >>> egl = HAICSModel(build_small_cnn(), explained_layer="cam_conv")
  >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  >>> egl.fit({"x": x, "pos_mask": pos, "neg_mask": neg}, y, epochs=30)
"""

from keras_egl._keras import keras
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.res import default_explanation_metrics
from keras_egl.terms.haics import HAICSTerm
from keras_egl.validation import check_choice

__all__ = ["HAICSTerm", "HAICSModel", "PRESETS"]

PRESETS = ("HAICS", None)
_TERM_DEFAULTS = {"weight": 1.0, "code_unmasked_bce": False}


@keras.saving.register_keras_serializable(package="keras_egl")
class HAICSModel(ExplanationGuidedModel):
    """A classifier trained with :class:`HAICSTerm`; metrics IoU@0.5 and P/R/F1 at input size.

    A preset of :class:`~keras_egl.models.base.ExplanationGuidedModel`: it
    builds a :class:`HAICSTerm` from its arguments and appends the user's
    ``terms``. The explainer (metrics, ``explain``) is the library-wide
    default unless ``explainer=`` is given; RES's test-time map (no ReLU) is
    ``explainer=keras_egl.models.res.res_explainer("code")``.

    Args:
      model, explained_layer: classifier and Grad-CAM layer.
      weight: λ.
      code_unmasked_bce: the code's variant of the loss.
      terms: further terms (objects or names), **appended** to the HAICS term.
      explanation_metrics: default IoU@0.5 on ``"pos_mask"`` and P/R/F1 on
        ``("pos_mask", "neg_mask")`` (:func:`keras_egl.models.res.default_explanation_metrics`).
      preset: ``"HAICS"`` (default) or ``None``: no HAICS term is built and
        ``terms`` are used as given (then ``weight`` and ``code_unmasked_bce``
        must keep their defaults).
      **kwargs: passed to :class:`ExplanationGuidedModel`.
    """

    def __init__(self, model, explained_layer, weight=1.0, code_unmasked_bce=False, terms=None,
                 explanation_metrics=None, preset="HAICS", **kwargs):
        check_choice(preset, PRESETS, "preset")
        extra = list(terms) if isinstance(terms, (list, tuple)) else ([] if terms is None else [terms])
        if preset is None:
            if not extra:
                raise ValueError("preset=None builds no HAICS term: give `terms`.")
            given = {"weight": weight, "code_unmasked_bce": code_unmasked_bce}
            changed = sorted(k for k, v in given.items() if v != _TERM_DEFAULTS[k])
            if changed:
                raise ValueError(f"{changed} configure the preset's HAICS term, but preset=None builds none; "
                                 "pass them to your own HAICSTerm in `terms`.")
            own = []
        else:
            own = [HAICSTerm(weight, code_unmasked_bce)]
        if explanation_metrics is None:
            explanation_metrics = default_explanation_metrics(0.5)
        super().__init__(model, terms=own + extra, explained_layer=explained_layer,
                         explanation_metrics=explanation_metrics, **kwargs)
        self.preset = preset
        self._n_preset_terms = len(own)
        self.weight = own[0].weight if own else float(weight)
        self.code_unmasked_bce = own[0].code_unmasked_bce if own else bool(code_unmasked_bce)

    def get_config(self):
        cfg = super().get_config()
        cfg["terms"] = cfg["terms"][self._n_preset_terms:]
        cfg.update(weight=self.weight, code_unmasked_bce=self.code_unmasked_bce, preset=self.preset)
        return cfg
