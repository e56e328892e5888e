"""GRADIA: interactive attention alignment with a Reasonability Matrix.

Gao, Sun, Zhao, Hong, CSCW 2022; dissertation §4.3.2 (Eq. 4.12–4.17):

    L = mean_i w^(p)_i · CE(f(x_i), y_i) + mean_i w^(a)_i · mean |M_i − M'_i|

* ``M_i``: true-class Grad-CAM, min–max normalised (the code drops the ReLU),
  computed batched from the training pass;
* ``M'_i``: the human attention label, area-downsampled to the CAM grid,
  3×3-Gaussian blurred, max-normalised (:func:`keras_egl.losses.gradia.gradia_label`);
* ``(w^(p), w^(a))`` from the sample's Reasonability label: UA 0.4/1.6, RIA
  0.8/0.2, UIA 1/1, RA and unlabelled 1/0 (authors' ``GRADIA.py``; configurable).

Public objects:

* :class:`GRADIATerm`, :class:`GRADIAModel` (applies the prediction weights to
  the task loss in ``train_step``);
* :class:`ReasonabilityMatrix` — RA/UA/RIA/UIA counts, P1 (reasonable-accurate
  rate), accuracy, P2 (attention accuracy) and per-sample codes;
* :func:`judge_reasonability` — a *simulated* judge (IoU of the CAM with the
  annotation ≥ a threshold ⇒ reasonable) standing in for the human answer to
  Q1/Q2 when none is available (a substitute; say so when you use it);
* :func:`two_phase_fit` — phase 1 baseline, phase 2 fine-tune on train +
  annotated validation samples, both with model selection on a split that is
  **not** the test set (the code selects phase 2 on the test loader; we do not).

Inputs to ``fit``: ``{"x", "mask", "reasonability" (optional (B,) codes),
"has_annotation" (optional)}``. Without ``"reasonability"`` every annotated
sample gets attention weight 1 and prediction weight 1 (the GRADIA baseline of
RES's Table 4.4).
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.losses.gradia import (DEFAULT_WEIGHTS, REASONABILITY_CODES, GRADIALoss,
                                     reasonability_weights)
from keras_egl.metrics.explanation import ExplanationIoU, explanation_iou
from keras_egl.models.base import ExplanationGuidedModel, ExplanationTerm

__all__ = ["GRADIATerm", "GRADIAModel", "ReasonabilityMatrix", "judge_reasonability",
           "BestWeights", "two_phase_fit"]

REASONABILITY_KEY = "reasonability"


@keras.saving.register_keras_serializable(package="keras_egl")
class GRADIATerm(ExplanationTerm):
    """GRADIA's weighted attention loss.

    Args:
      weight: λ (code: 1).
      resize: label preprocessing, ``"area_blur"`` (GRADIA code) or ``"nearest"``
        (RES's GRADIA baseline).
      weights: dict overriding :data:`~keras_egl.losses.gradia.DEFAULT_WEIGHTS`.
      relu, normalize, cam_weights: training-CAM options (code: no ReLU, min–max, detached).
      mask_key, reasonability_key: input keys.
      name: log key (``"gradia_loss"``).
    """

    default_name = "gradia_loss"
    required_annotations = ("mask",)

    def __init__(self, weight=1.0, resize="area_blur", weights=None, relu=False,
                 normalize="minmax", cam_weights="detached", mask_key="mask",
                 reasonability_key=REASONABILITY_KEY, name=None):
        super().__init__(weight=weight, name=name)
        self.loss = GRADIALoss(resize)
        self.weights = dict(weights) if weights else None
        reasonability_weights([0], self.weights)  # validates the table
        self.relu, self.normalize, self.cam_weights = bool(relu), normalize, cam_weights
        self.mask_key, self.reasonability_key = mask_key, reasonability_key

    def attention_weights(self, ctx):
        flags = ctx.flags(self.mask_key)
        labels = ctx.annotation(self.reasonability_key)
        if labels is None:
            return flags
        return reasonability_weights(labels, self.weights)[1] * flags

    def compute(self, ctx):
        cam = ctx.grad_cam(target="true", weights=self.cam_weights, relu=self.relu,
                           normalize=self.normalize)
        return self.loss(cam, ctx.annotation(self.mask_key),
                         attention_weight=self.attention_weights(ctx))

    def get_config(self):
        cfg = super().get_config()
        cfg.update(resize=self.loss.resize, weights=self.weights, relu=self.relu,
                   normalize=self.normalize, cam_weights=self.cam_weights, mask_key=self.mask_key,
                   reasonability_key=self.reasonability_key)
        return cfg


@keras.saving.register_keras_serializable(package="keras_egl")
class GRADIAModel(ExplanationGuidedModel):
    """A classifier trained with :class:`GRADIATerm` and Reasonability prediction weights.

    In ``train_step`` the per-sample prediction weight ``w^(p)`` of each sample's
    ``"reasonability"`` label multiplies the task loss's ``sample_weight``
    (evaluation is unweighted). Explanation metric: IoU at 0.75 (GRADIA code)
    of the predicted-class CAM (ReLU, min–max, bilinear) against ``"mask"``.

    Args:
      model, explained_layer: classifier and Grad-CAM layer.
      weight: λ.
      resize: label preprocessing (``"area_blur"`` default).
      weights: Reasonability weight table overrides.
      iou_threshold: of the default IoU metric (0.75).
      terms: explicit terms (used by ``from_config``).
      **kwargs: passed to :class:`ExplanationGuidedModel`.

    Example:
      >>> egl = GRADIAModel(build_small_cnn(), "cam_conv")
      >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
      >>> egl.fit({"x": x, "mask": m, "reasonability": codes}, y, epochs=10)
    """

    def __init__(self, model, explained_layer, weight=1.0, resize="area_blur", weights=None,
                 iou_threshold=0.75, terms=None, explanation_metrics=None, **kwargs):
        terms = terms if terms is not None else [GRADIATerm(weight, resize, weights)]
        if explanation_metrics is None:
            explanation_metrics = [(ExplanationIoU(iou_threshold, normalize=None), ("mask",))]
        super().__init__(model, terms=terms, explained_layer=explained_layer,
                         explanation_metrics=explanation_metrics, **kwargs)
        self.iou_threshold = float(iou_threshold)

    def _prediction_weights(self, inputs):
        if not isinstance(inputs, dict) or REASONABILITY_KEY not in inputs:
            return None
        term = next((t for t in self.terms if isinstance(t, GRADIATerm)), None)
        table = term.weights if term is not None else None
        return reasonability_weights(inputs[REASONABILITY_KEY], table)[0]

    def train_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        pw = self._prediction_weights(inputs)
        if pw is not None:
            sample_weight = pw if sample_weight is None else tf.reshape(
                tf.cast(sample_weight, tf.float32), [-1]) * pw
        return super().train_step((inputs, y, sample_weight))

    def get_config(self):
        cfg = super().get_config()
        cfg["iou_threshold"] = self.iou_threshold
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


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best epoch on ``monitor`` and restore them at the end.

    Args:
      monitor: a log key, e.g. ``"val_accuracy"`` (RES, GRADIA phase 1) or
        ``"val_explanation_iou"`` (GRADIA phase 2).
      mode: ``"max"`` or ``"min"``.
    """

    def __init__(self, monitor="val_accuracy", mode="max"):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"`mode` must be 'max' or 'min'; got {mode!r}.")
        self.monitor, self.mode = monitor, mode
        self.best, self.best_weights, self.best_epoch = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def _concat(a, b):
    out = {}
    for k in set(a) | set(b):
        if k in a and k in b:
            out[k] = np.concatenate([np.asarray(a[k]), np.asarray(b[k])])
    return out


def two_phase_fit(egl, train, y_train, feedback, y_feedback, select, y_select, judge=None,
                  phase1_epochs=20, phase2_epochs=20, batch_size=32, verbose=0):
    """GRADIA's two-phase workflow with honest model selection.

    Phase 1: train on ``train`` with attention weights 0 (plain CE), keep the
    epoch with the best accuracy on ``select``. Then the judge labels the
    ``feedback`` samples (RA/UA/RIA/UIA from the phase-1 CAMs); phase 2
    fine-tunes on ``train ∪ feedback`` (train samples unlabelled: weights 1/0;
    feedback samples: their Reasonability weights), keeping the epoch with the
    best explanation IoU on ``select``. ``select`` must not be the test set.

    Args:
      egl: a compiled :class:`GRADIAModel`.
      train, feedback, select: input dicts (``"x"``, ``"mask"``…); ``feedback``
        needs ``"mask"`` (the edited attention) and may carry ``"reasonability"``
        (then ``judge`` is not used).
      y_train, y_feedback, y_select: labels.
      judge: ``(maps, masks) -> (N,) bool`` (default :func:`judge_reasonability`).
      phase1_epochs, phase2_epochs, batch_size, verbose: training options.

    Returns:
      dict with ``phase1``/``phase2`` histories, the feedback
      :class:`ReasonabilityMatrix` and the selected epochs.
    """
    n_tr = len(y_train)
    p1_inputs = dict(train)
    p1_inputs[REASONABILITY_KEY] = np.zeros(n_tr, np.int32)  # unlabelled: attention weight 0
    cb1 = BestWeights("val_accuracy")
    h1 = egl.fit(p1_inputs, y_train, epochs=phase1_epochs, batch_size=batch_size,
                 validation_data=(select, y_select), callbacks=[cb1], verbose=verbose)
    if REASONABILITY_KEY in feedback:
        codes = np.asarray(feedback[REASONABILITY_KEY], np.int32)
        logits = egl.predict(feedback["x"], batch_size=batch_size, verbose=0)
        rm = ReasonabilityMatrix(y_feedback, logits.argmax(-1),
                                 np.isin(codes, [REASONABILITY_CODES["RA"], REASONABILITY_CODES["RIA"]]))
    else:
        maps = np.concatenate([egl.explain(feedback["x"][i:i + batch_size]).numpy()
                               for i in range(0, len(y_feedback), batch_size)])
        logits = egl.predict(feedback["x"], batch_size=batch_size, verbose=0)
        reasonable = (judge or judge_reasonability)(maps, np.asarray(feedback["mask"]))
        rm = ReasonabilityMatrix(y_feedback, logits.argmax(-1), reasonable)
        codes = rm.codes
    fb = dict(feedback)
    fb[REASONABILITY_KEY] = codes
    p2_inputs = _concat(p1_inputs, fb)
    y2 = np.concatenate([np.asarray(y_train), np.asarray(y_feedback)])
    cb2 = BestWeights("val_explanation_iou")
    h2 = egl.fit(p2_inputs, y2, epochs=phase2_epochs, batch_size=batch_size, shuffle=True,
                 validation_data=(select, y_select), callbacks=[cb2], verbose=verbose)
    return {"phase1": h1.history, "phase2": h2.history, "matrix": rm,
            "phase1_best_epoch": cb1.best_epoch, "phase2_best_epoch": cb2.best_epoch}
