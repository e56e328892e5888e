"""RES models: Grad-CAM supervision with the robust explanation loss (RES-G, RES-L).

Gao et al., "RES: A Robust Framework for Guiding Visual Explanation", KDD 2022.

    min_{θ,φ}  Σ_i CE(f_θ(x_i), y_i) + λ · L_Exp(M_i, F_i, C_i; h_φ)

with ``M_i`` the Grad-CAM of the explained layer for the **true** class
computed batched from the training forward pass (the authors run a second
per-sample forward instead), and ``L_Exp`` :class:`keras_egl.losses.res.RESLoss`.

* :class:`RESTerm` — :class:`keras_egl.terms.res.RESTerm` (re-exported): reads
  ``"pos_mask"`` (positive ``F``) and optionally ``"neg_mask"`` (``C``) at input
  resolution, resizes them to the CAM grid (nearest, as the code), imputes
  ``h(F[, C])`` with the imputation layer it builds and tracks, and evaluates
  the loss. Samples without annotation drop out.
* :class:`RESModel` — a preset of ``ExplanationGuidedModel`` with
  ``preset="RES-G"`` (Gaussian imputation) or ``"RES-L"`` (learnable
  :class:`ShallowImputation`, trained jointly with the classifier) and
  ``fidelity="code"|"paper"``:

  ============================ ====================== ==========================
  point                        ``"code"`` (default)   ``"paper"``
  ============================ ====================== ==========================
  training CAM                 min–max, no ReLU       ReLU, divide by max
  hinge                        pooled over the batch  per sample, averaged
  threshold counts             normalised per group   raw counts
  distance term                all pixels             annotated pixels only
  imputation input             F                      F and C
  test-time CAM                pred class, no ReLU,   pred class, ReLU,
  (:func:`res_explainer`)      min–max                divide by max
  ============================ ====================== ==========================

  Both use γ = 5 (code; the paper gives none), first-order ("detached")
  Grad-CAM weights (the code's semantics; ``cam_weights="second_order"`` for
  double backprop), masks resized by nearest neighbour, ``α`` default 0.01 (the
  paper's scene value).

  The model's explainer (metrics, ``explain``) is the library-wide default
  (predicted-class Grad-CAM with ReLU, min–max) unless ``explainer=`` is
  given: pass ``explainer=res_explainer(fidelity)`` for the RES test-time map
  (as ``reproductions/res_table_4_4.py`` does).

Example:
  >>> net = build_small_cnn((64, 64, 3))
  >>> egl = RESModel(net, explained_layer="cam_conv", preset="RES-L", alpha=0.01)
  >>> egl.compile(keras.optimizers.Adam(1e-3),
  ...             keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
  >>> egl.fit({"x": x, "pos_mask": pos, "neg_mask": neg}, y, epochs=30, batch_size=32)
"""

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras
from keras_egl.explain.explainers import GradCAM
from keras_egl.layers.imputation import DeepImputation, GaussianImputation, ShallowImputation  # noqa: F401
from keras_egl.losses.res import FIDELITIES, RESLoss
from keras_egl.metrics.explanation import (ExplanationF1, ExplanationIoU, ExplanationPrecision,
                                           ExplanationRecall)
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.core import NEG_MASK, POS_MASK
from keras_egl.terms.res import IMPUTATIONS, RESTerm  # noqa: F401
from keras_egl.validation import check_choice, check_float, check_positive_int

PRESETS = ("RES-G", "RES-L", "RES-L-deep", None)
_IMPUTATION = {"RES-G": "gaussian", "RES-L": "shallow", "RES-L-deep": "deep"}
_TERM_DEFAULTS = {"fidelity": "code", "alpha": 0.01, "gamma": 5.0, "weight": 1.0, "seed": 0}

__all__ = ["RESTerm", "RESModel", "res_explainer", "default_explanation_metrics", "PRESETS"]


def res_explainer(fidelity="code"):
    """RES's test-time explainer: predicted-class Grad-CAM upsampled (bilinear) to the input.

    ``"code"``: no ReLU, min–max (``RES.py`` ``model_test``); ``"paper"``: ReLU,
    divided by the max ("(0, 1]").

    Returns:
      a :class:`keras_egl.explain.explainers.GradCAM` (config-serialisable).
    """
    check_choice(fidelity, FIDELITIES, "fidelity")
    relu, norm = (False, "minmax") if fidelity == "code" else (True, "max")
    return GradCAM(target="pred", relu=relu, normalize=norm, upsample="bilinear", cam_weights="detached")


@renamed_argument("mask_key", "pos_key")
@renamed_argument("negative_key", "neg_key")
def default_explanation_metrics(iou_threshold=0.5, pos_key=POS_MASK, neg_key=NEG_MASK):
    """RES's full-resolution metrics: IoU@``iou_threshold`` on ``F``; P/R/F1@0.5 on ``F − C``.

    ``mask_key``/``negative_key`` are the deprecated names of ``pos_key``/``neg_key``.
    """
    keys = (pos_key, neg_key)
    return [(ExplanationIoU(threshold=iou_threshold, normalize=None, name="explanation_iou"), (pos_key,)),
            (ExplanationPrecision(normalize=None), keys), (ExplanationRecall(normalize=None), keys),
            (ExplanationF1(normalize=None), keys)]


@keras.saving.register_keras_serializable(package="keras_egl")
class RESModel(ExplanationGuidedModel):
    """RES-G / RES-L: a classifier trained with :class:`RESTerm` (see module docstring).

    A preset of :class:`~keras_egl.models.base.ExplanationGuidedModel`: it
    builds a :class:`RESTerm` from ``preset``/``fidelity``/``alpha``/``gamma``/
    ``weight``/``seed`` and appends the user's ``terms``. The imputation layer
    is the term's tracked sublayer (RES-L's ``φ`` is in ``trainable_variables``).

    Args:
      model: the classifier (logits), e.g. :func:`~keras_egl.models.backbones.build_small_cnn`
        or :func:`~keras_egl.models.backbones.build_resnet50` — functional,
        Sequential or subclassed.
      explained_layer: Grad-CAM layer (``"conv5_block3_out"`` for ResNet50).
      preset: ``"RES-G"`` (Gaussian ``h``), ``"RES-L"`` (shallow learnable ``h``),
        ``"RES-L-deep"`` or ``None``: no RES term is built and ``terms`` are used
        as given (the old ``terms=`` semantics; then ``fidelity``, ``alpha``,
        ``gamma``, ``weight`` and ``seed`` must keep their defaults).
      fidelity: ``"code"`` (default) or ``"paper"`` (table in the module docstring).
      alpha, gamma: slack and tanh slope.
      weight: λ of the explanation term.
      terms: further terms (objects or names), **appended** to the RES term.
      explanation_metrics: default: IoU@0.5 on ``"pos_mask"`` and P/R/F1 on
        ``("pos_mask", "neg_mask")`` at input resolution.
      seed: seed of the deep imputation initialiser.
      explainer: default: the library-wide default explainer; RES's test-time
        map is ``res_explainer(fidelity)``.
      **kwargs: passed to :class:`ExplanationGuidedModel`.
    """

    def __init__(self, model, explained_layer, preset="RES-G", fidelity="code", alpha=0.01,
                 gamma=5.0, weight=1.0, terms=None, explanation_metrics=None, seed=0,
                 input_key="x", from_logits=True, explainer=None, **kwargs):
        check_choice(preset, PRESETS, "preset")
        check_choice(fidelity, FIDELITIES, "fidelity")
        alpha = check_float(alpha, "alpha", low=0.0)
        gamma = check_float(gamma, "gamma", low=0.0, low_inclusive=False)
        seed = None if seed is None else check_positive_int(seed, "seed", minimum=0)
        extra = list(terms) if isinstance(terms, (list, tuple)) else ([] if terms is None else [terms])
        if preset is None:
            if not extra:
                raise ValueError("give a `preset` or explicit `terms`.")
            given = {"fidelity": fidelity, "alpha": alpha, "gamma": gamma, "weight": weight, "seed": seed}
            changed = sorted(k for k, v in given.items() if v != _TERM_DEFAULTS[k])
            if changed:
                raise ValueError(f"{changed} configure the preset's RES term, but preset=None builds none; "
                                 "pass them to your own RESTerm in `terms`.")
            own = []
        else:
            code = fidelity == "code"
            own = [RESTerm(weight=weight, loss=RESLoss.preset(fidelity, alpha=alpha, gamma=gamma),
                           imputation=_IMPUTATION[preset], imputation_inputs="F" if code else "FC",
                           relu=not code, normalize="minmax" if code else "max", seed=seed)]
        if explanation_metrics is None:
            explanation_metrics = default_explanation_metrics()
        super().__init__(model, terms=own + extra, explained_layer=explained_layer, input_key=input_key,
                         from_logits=from_logits, explainer=explainer,
                         explanation_metrics=explanation_metrics, **kwargs)
        self.preset = preset
        self.fidelity = fidelity
        self.alpha = alpha
        self.gamma = gamma
        self.weight = own[0].weight if own else float(weight)
        self.seed = seed
        self._n_preset_terms = len(own)

    def get_config(self):
        cfg = super().get_config()
        # The preset's own term is rebuilt from the arguments; `terms` holds the user's.
        cfg["terms"] = cfg["terms"][self._n_preset_terms:]
        cfg.update(preset=self.preset, fidelity=self.fidelity, alpha=self.alpha, gamma=self.gamma,
                   weight=self.weight, seed=self.seed)
        return cfg
