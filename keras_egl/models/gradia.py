"""GRADIA: interactive attention alignment with a Reasonability Matrix.

Gao, Sun, Zhao, Hong, CSCW 2022; dissertation §4.3.2 (Eq. 4.12–4.17):

    L = mean_i w^(p)_i · CE(f(x_i), y_i) + mean_i w^(a)_i · mean |M_i − M'_i|

* ``M_i``: true-class Grad-CAM, min–max normalised (the code drops the ReLU),
  computed batched from the training pass;
* ``M'_i``: the human attention label (``pos_mask``, at the input's size),
  area-downsampled to the CAM grid, 3×3-Gaussian blurred, max-normalised
  (:func:`keras_egl.losses.gradia.gradia_label`);
* ``(w^(p), w^(a))`` from the sample's Reasonability label: UA 0.4/1.6, RIA
  0.8/0.2, UIA 1/1, RA and unlabelled 1/0 (authors' ``GRADIA.py``; configurable).

Public objects:

* :class:`GRADIAModel` — a preset of
  :class:`~keras_egl.models.base.ExplanationGuidedModel` with a
  :class:`~keras_egl.terms.gradia.GRADIATerm` (re-exported here) that also
  applies the prediction weights to the task loss in ``train_step``;
* :class:`ReasonabilityMatrix` — RA/UA/RIA/UIA counts, P1 (reasonable-accurate
  rate), accuracy, P2 (attention accuracy) and per-sample codes;
* :func:`judge_reasonability` — a *simulated* judge (IoU of the CAM with the
  annotation ≥ a threshold ⇒ reasonable) standing in for the human answer to
  Q1/Q2 when none is available (a substitute; say so when you use it);
* re-exported: :func:`~keras_egl.training.gradia_two_phase.two_phase_fit`
  (phase 1 baseline, phase 2 fine-tune on train + annotated validation
  samples, both with model selection on a split that is **not** the test set)
  and :class:`~keras_egl.callbacks.model_selection.BestWeights`.

Inputs to ``fit``: ``{"x", "pos_mask", "reasonability" (optional (B,) codes),
"has_annotation" (optional), "neg_mask" (optional)}``. Without
``"reasonability"`` every annotated sample gets attention weight 1 and
prediction weight 1 (the GRADIA baseline of RES's Table 4.4).
"""

import numpy as np

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.callbacks.model_selection import BestWeights
from keras_egl.losses.gradia import REASONABILITY_CODES, reasonability_weights
from keras_egl.metrics.explanation import ExplanationIoU, explanation_iou
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms.core import POS_MASK, REASONABILITY
from keras_egl.terms.gradia import GRADIATerm, check_reasonability
from keras_egl.validation import check_choice, check_float

__all__ = ["GRADIATerm", "GRADIAModel", "ReasonabilityMatrix", "judge_reasonability",
           "BestWeights", "two_phase_fit", "PRESETS"]

#: Kept for old imports; the key is the GRADIA term's ``reasonability_key``.
REASONABILITY_KEY = REASONABILITY
PRESETS = ("GRADIA", None)
_TERM_DEFAULTS = {"weight": 1.0, "resize": "area_blur", "reasonability_table": None}


def __getattr__(name):
    # Lazy: keras_egl.training.gradia_two_phase imports this module.
    if name == "two_phase_fit":
        from keras_egl.training.gradia_two_phase import two_phase_fit

        return two_phase_fit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@keras.saving.register_keras_serializable(package="keras_egl")
class GRADIAModel(ExplanationGuidedModel):
    """A classifier trained with :class:`GRADIATerm` and Reasonability prediction weights.

    A preset of :class:`~keras_egl.models.base.ExplanationGuidedModel`: it
    builds a :class:`GRADIATerm` from its arguments and appends the user's
    ``terms``. In ``train_step`` the prediction weight ``w^(p)`` of each
    sample's Reasonability code (key ``"reasonability"``, validated: one code
    in 0..4 per sample) multiplies the task loss's ``sample_weight``
    (evaluation is unweighted). Default explanation metric: IoU at 0.75
    (GRADIA code) of the model's explainer (the library-wide default:
    predicted-class Grad-CAM, ReLU, min–max, bilinear) against ``"pos_mask"``.

    Args:
      model, explained_layer: classifier and Grad-CAM layer.
      weight: λ of the GRADIA term.
      resize: label preprocessing (``"area_blur"`` default; ``"nearest"`` for
        RES's GRADIA baseline).
      reasonability_table: Reasonability weight-table overrides (``weights=``
        is its deprecated name).
      iou_threshold: of the default IoU metric (0.75).
      terms: further terms (objects or names), **appended** to the GRADIA term.
      explanation_metrics: default ``[(ExplanationIoU(iou_threshold), ("pos_mask",))]``.
      preset: ``"GRADIA"`` (default) or ``None``: no GRADIA term is built and
        ``terms`` are used as given (the old ``terms=`` semantics; then
        ``weight``, ``resize`` and ``reasonability_table`` must keep their
        defaults — configure your own :class:`GRADIATerm` instead). The
        prediction weights use the first :class:`GRADIATerm` in ``terms``
        (its ``reasonability_key`` and table), else the defaults.
      **kwargs: passed to :class:`ExplanationGuidedModel` (``explainer``,
        ``input_key``, ``extra_keys``, …).

    Example:
      >>> egl = GRADIAModel(build_small_cnn(), "cam_conv")
      >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
      >>> egl.fit({"x": x, "pos_mask": m, "reasonability": codes}, y, epochs=10)
    """

    model_keys = ExplanationGuidedModel.model_keys + (REASONABILITY,)

    @renamed_argument("weights", "reasonability_table")
    def __init__(self, model, explained_layer, weight=1.0, resize="area_blur", reasonability_table=None,
                 iou_threshold=0.75, terms=None, explanation_metrics=None, preset="GRADIA", **kwargs):
        check_choice(preset, PRESETS, "preset")
        extra = list(terms) if isinstance(terms, (list, tuple)) else ([] if terms is None else [terms])
        given = {"weight": weight, "resize": resize, "reasonability_table": reasonability_table}
        if preset is None:
            if not extra:
                raise ValueError("preset=None builds no GRADIA term: give `terms`.")
            changed = sorted(k for k, v in given.items() if v != _TERM_DEFAULTS[k])
            if changed:
                raise ValueError(f"{changed} configure the preset's GRADIA term, but preset=None builds none; "
                                 "pass them to your own GRADIATerm in `terms`.")
            own = []
        else:
            own = [GRADIATerm(weight, resize, reasonability_table)]
        if explanation_metrics is None:
            explanation_metrics = [(ExplanationIoU(iou_threshold, normalize=None), (POS_MASK,))]
        super().__init__(model, terms=own + extra, explained_layer=explained_layer,
                         explanation_metrics=explanation_metrics, **kwargs)
        self.preset = preset
        self._n_preset_terms = len(own)
        self.iou_threshold = check_float(iou_threshold, "iou_threshold", low=0.0, high=1.0)
        self.weight = own[0].weight if own else float(weight)
        self.resize = resize

    @property
    def reasonability_table(self):
        term = self.gradia_term
        return term.reasonability_table if term is not None else None

    @property
    def gradia_term(self):
        """The model's (first) :class:`GRADIATerm`, or ``None``."""
        return next((t for t in self.terms if isinstance(t, GRADIATerm)), None)

    @property
    def reasonability_key(self):
        term = self.gradia_term
        return term.reasonability_key if term is not None else REASONABILITY

    def _prediction_weights(self, inputs):
        key = self.reasonability_key
        if not isinstance(inputs, dict) or key is None or key not in inputs:
            return None
        x, _ = self.split_inputs(inputs)
        codes = check_reasonability(inputs[key], key, tf.nest.flatten(x)[0])
        term = self.gradia_term
        if term is not None:
            return term.prediction_weights(codes)
        return reasonability_weights(codes)[0]

    def train_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        pw = self._prediction_weights(inputs)
        if pw is not None:
            sample_weight = pw if sample_weight is None else tf.reshape(
                tf.cast(sample_weight, tf.float32), [-1]) * pw
        return super().train_step((inputs, y, sample_weight))

    def get_config(self):
        cfg = super().get_config()
        # The preset's own term is rebuilt from the arguments; `terms` holds the user's.
        cfg["terms"] = cfg["terms"][self._n_preset_terms:]
        cfg.update(weight=self.weight, resize=self.resize, reasonability_table=self.reasonability_table
                   if self._n_preset_terms else None, iou_threshold=self.iou_threshold, preset=self.preset)
        return cfg


class ReasonabilityMatrix:
    """GRADIA's Reasonability Matrix: reasonable/unreasonable × accurate/inaccurate.

    Args:
      y_true, y_pred: ``(N,)`` labels and predicted classes.
      reasonable: ``(N,)`` booleans — attention judged reasonable (Q1 yes and Q2 no).

    Attributes/properties: ``counts`` (dict RA, UA, RIA, UIA), ``p1``
    (RA/N, reasonable-accurate rate), ``accuracy`` ((RA+UA)/N), ``p2``
    ((RA+RIA)/N, attention accuracy), ``codes`` ((N,) ints of
    :data:`~keras_egl.losses.gradia.REASONABILITY_CODES`), ``weights()``.

    Example:
      >>> rm = ReasonabilityMatrix([0, 1, 1, 0], [0, 1, 0, 1], [True, False, True, False])
      >>> rm.counts
      {'RA': 1, 'UA': 1, 'RIA': 1, 'UIA': 1}
      >>> rm.p1, rm.p2
      (0.25, 0.5)
    """

    def __init__(self, y_true, y_pred, reasonable):
        y_true, y_pred = np.asarray(y_true).ravel(), np.asarray(y_pred).ravel()
        reasonable = np.asarray(reasonable).ravel()
        if not (y_true.shape == y_pred.shape == reasonable.shape):
            raise ValueError(f"`y_true`, `y_pred`, `reasonable` must have one entry per sample; got "
                             f"shapes {y_true.shape}, {y_pred.shape}, {reasonable.shape}.")
        if reasonable.dtype != bool and not np.isin(reasonable, [0, 1]).all():
            raise ValueError("`reasonable` must be booleans or 0/1.")
        reasonable = reasonable.astype(bool)
        acc = y_true == y_pred
        self.codes = np.where(reasonable & acc, REASONABILITY_CODES["RA"],
                              np.where(~reasonable & acc, REASONABILITY_CODES["UA"],
                                       np.where(reasonable & ~acc, REASONABILITY_CODES["RIA"],
                                                REASONABILITY_CODES["UIA"]))).astype(np.int32)
        self.n = int(y_true.size)

    @property
    def counts(self):
        return {k: int(np.sum(self.codes == REASONABILITY_CODES[k])) for k in ("RA", "UA", "RIA", "UIA")}

    def _rate(self, *keys):
        return sum(self.counts[k] for k in keys) / self.n if self.n else 0.0

    @property
    def p1(self):
        return self._rate("RA")

    @property
    def accuracy(self):
        return self._rate("RA", "UA")

    @property
    def p2(self):
        return self._rate("RA", "RIA")

    def weights(self, table=None):
        """``(prediction_weights, attention_weights)`` numpy arrays for the samples."""
        p, a = reasonability_weights(self.codes, table)
        return p.numpy(), a.numpy()

    def as_dict(self):
        return dict(self.counts, P1=self.p1, accuracy=self.accuracy, P2=self.p2, n=self.n)


def judge_reasonability(maps, masks, threshold=0.5, iou_threshold=0.75, negative_masks=None,
                        max_negative_overlap=0.25):
    """Simulated Reasonability judge (a substitute for the human Q1/Q2 answers).

    Attention counts as *reasonable* when the IoU of the map (binarised at
    ``iou_threshold``… the GRADIA code's 0.75) with the positive mask is at least
    ``threshold`` (Q1: enough detail) and, if negative masks are given, the
    fraction of the binarised map on negative pixels is at most
    ``max_negative_overlap`` (Q2: no spurious context).

    Args:
      maps: ``(N, H, W)`` maps in ``[0, 1]``.
      masks: ``(N, H, W)`` positive masks.
      threshold: minimal IoU.
      iou_threshold: binarisation threshold of the maps.
      negative_masks: optional ``(N, H, W)`` negative masks.
      max_negative_overlap: maximal fraction of the attention on negatives.

    Returns:
      ``(N,)`` booleans.
    """
    iou = explanation_iou(masks, maps, threshold=iou_threshold, normalize=None, reduction="none")
    iou = np.nan_to_num(np.asarray(iou), nan=0.0)
    ok = iou >= threshold
    if negative_masks is not None:
        b = np.asarray(maps) >= iou_threshold
        on_neg = (b & (np.asarray(negative_masks) > 0)).sum((1, 2)) / np.maximum(b.sum((1, 2)), 1)
        ok &= on_neg <= max_negative_overlap
    return ok
