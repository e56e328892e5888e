"""Shortcut-reliance evaluation: counterfactual confounder swaps, wrong-reason share, prior-map baseline.

How much does a model rely on the wrong reasons (``neg_mask``: the
confounder) rather than the object? Three measurements, usable on any
classifier and any explanation method:

* **counterfactual accuracy** (:func:`swap_masked_regions`,
  :func:`counterfactual_accuracy`) — give every annotated test image the
  confounder of an image *of another class* and measure accuracy. A model that
  reads the object is unaffected; one that reads the confounder follows the
  donor's class. This needs no explanation at all, so it also checks the
  explanation-based numbers.
* **wrong-reason share** (:func:`wrong_reason_share`, :class:`WrongReasonShare`)
  — the fraction of a map's absolute attribution mass that falls on the
  confounder, for input gradients, Grad-CAM and integrated gradients alike
  (:func:`attributions`). The XIL typology (Friedrich, Stammer, Schramowski &
  Kersting, *Nature Machine Intelligence* 2023; ``explainer.py:
  quantify_wrong_reason``) reports this quantity as its "WR" metric for IG,
  Grad-CAM and LIME.
* **prior-map baseline** (:func:`prior_map_baseline`) — the IoU/F1 that one
  fixed map, the mean training annotation, scores on the test annotations. An
  explanation IoU near this number says the model's maps are no better than
  "where objects usually are".
"""

import warnings

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.activations import ActivationModel
from keras_egl.explain.attribution import integrated_gradients
from keras_egl.explain.grad_cam import grad_cam
from keras_egl.explain.gradients import input_gradients
from keras_egl.explain.targets import class_weights
from keras_egl.metrics.explanation import (AnnotatedMeanMetric, _no_autograph, _per_sample_vector,
                                           explanation_iou, explanation_precision_recall_f1)
from keras_egl.validation import assert_values, check_choice, check_float, check_mask, check_positive_int

__all__ = [
    "ATTRIBUTION_METHODS",
    "swap_masked_regions",
    "counterfactual_accuracy",
    "attributions",
    "wrong_reason_share",
    "WrongReasonShare",
    "prior_map_baseline",
]

ATTRIBUTION_METHODS = ("input_gradient", "grad_cam", "integrated_gradients")
WR_REDUCTIONS = ("mean", "median", "none")
PRIOR_METRICS = ("iou", "f1")


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _check_images(x, name="x"):
    """``x`` as a finite numeric ``(N, H, W, C)`` array (dtype kept)."""
    x = np.asarray(x)
    if x.dtype.kind not in "uif":
        raise TypeError(f"`{name}` must be a numeric image batch; got dtype {x.dtype}.")
    if x.ndim != 4 or x.shape[0] == 0:
        raise ValueError(f"`{name}` must have shape (N, H, W, C) with N > 0; got shape {x.shape}.")
    if x.dtype.kind == "f" and not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must hold finite values; got NaN or infinite entries.")
    return x


def _check_labels(y, n, name="y"):
    """Integer class labels ``(n,)`` from ``(n,)``, ``(n, 1)`` or one-hot ``(n, K)``."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        y = y.argmax(-1)
    elif y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"`{name}` must hold one label per image ({n}): (N,), (N, 1) or one-hot (N, K); "
                         f"got shape {y.shape}.")
    if y.dtype.kind not in "uifb" or (y.dtype.kind == "f" and not np.all(y == np.round(y))):
        raise ValueError(f"`{name}` must hold integer class labels; got {y[:5]!r}.")
    return y.astype(np.int64)


def _check_seed(seed):
    if seed is None:
        return None
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int or None; got {type(seed).__name__} {seed!r}.")
    return int(seed)


# --------------------------------------------------------------------------- #
# counterfactual confounder swaps
# --------------------------------------------------------------------------- #
def swap_masked_regions(x, neg_mask, y, seed=0, fill="median"):
    r"""Counterfactual images: each annotated image gets the confounder of an image of another class.

    For a recipient ``r`` with binarised wrong-reason mask ``m_r = [neg_mask_r > 0.5]``
    and a donor ``d`` drawn uniformly (seeded) among the images with a
    non-empty mask and a **different** label:

    .. math::
        x'_r = x_r\,(1 - m_r)(1 - m_d) \;+\; f_r\, m_r (1 - m_d) \;+\; x_d\, m_d

    i.e. the recipient's own confounder is erased (its pixels set to the fill
    value ``f_r``) and the donor's confounder pixels are pasted **at the donor's
    positions**. The counterfactual's wrong-reason mask is ``m_d``.

    Why this rule: for confounders that are a coloured patch at a per-image
    position (Decoy-MNIST's corner swatch, the Toy-Colors / ISIC patches) the
    recipient must end up carrying exactly the donor's confounder — its colour
    *and* its position — and none of its own; otherwise a model that keys on
    the patch's position, or on a leftover part of its own patch, would look
    robust. Pasting the donor's pixels at the *recipient's* positions
    (``x_r(1−m_r) + x_d m_r``) would instead copy donor background whenever
    the positions differ. When the two masks coincide the rule reduces to
    ``x_r (1 − m) + x_d m``. Pixels outside ``m_r ∪ m_d`` are never changed.

    Args:
      x: images ``(N, H, W, C)`` (any numeric dtype; kept).
      neg_mask: wrong-reason masks ``(N, H, W)`` or ``(N, H, W, 1)``, values in
        ``[0, 1]`` (binarised at ``> 0.5``). Images whose binarised mask is
        empty are returned unchanged (donor ``-1``).
      y: labels ``(N,)``, ``(N, 1)`` or one-hot ``(N, K)``.
      seed: seed of the donor draw (``None``: fresh randomness).
      fill: what replaces the recipient's own confounder: ``"median"`` (per
        channel, the median of the recipient's pixels outside its mask — the
        background on Decoy-MNIST-like images) or a finite number.

    Returns:
      ``(x_cf, donors, new_neg_mask)``: the counterfactual images (``x``'s
      shape and dtype), the ``(N,)`` int donor index per image (``-1`` where
      unchanged) and the counterfactuals' binarised wrong-reason masks (float32,
      ``neg_mask``'s shape; the donor's mask, zeros where unchanged).

    Raises:
      ValueError: bad shapes/values, or an annotated image for which no image
        of another class has a mask (no donor exists).

    Example:
      >>> x_cf, donors, m_cf = swap_masked_regions(d["Xt"], d["neg_mask_t"], d["yt"], seed=0)
      >>> counterfactual_accuracy(model, x_cf, d["yt"], sample_weight=donors >= 0)
    """
    x = _check_images(x)
    mask_shape = np.shape(neg_mask)
    m = check_mask(neg_mask, "neg_mask", like=tf.zeros((x.shape[0],) + x.shape[1:3] + (1,)),
                   spatial_rank=2).numpy() > 0.5
    labels = _check_labels(y, x.shape[0])
    rng = np.random.default_rng(_check_seed(seed))
    if isinstance(fill, str):
        check_choice(fill, ("median",), "fill")
    else:
        fill = check_float(fill, "fill")

    annotated = m.reshape(len(m), -1).any(1)
    donors = np.full(len(x), -1, np.int64)
    for r in np.flatnonzero(annotated):
        candidates = np.flatnonzero(annotated & (labels != labels[r]))
        if candidates.size == 0:
            raise ValueError(f"`y`: image {r} (class {labels[r]}) has a `neg_mask` but no image of another "
                             f"class has one, so there is no donor to swap with.")
        donors[r] = rng.choice(candidates)

    out = x.copy()
    new_mask = np.zeros(m.shape, np.float32)
    for r in np.flatnonzero(donors >= 0):
        d = donors[r]
        own, theirs = m[r], m[d]
        if fill == "median":
            f = np.median(x[r][~own], axis=0) if (~own).any() else np.zeros(x.shape[-1])
        else:
            f = np.full(x.shape[-1], fill)
        img = out[r]
        img[own] = np.asarray(np.round(f) if x.dtype.kind in "ui" else f, dtype=x.dtype)
        img[theirs] = x[d][theirs]
        new_mask[r] = theirs
    return out, donors, new_mask.reshape(mask_shape)


def _predict_classes(model, x, batch_size, from_logits):
    preds = []
    for start in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[start:start + batch_size])
        out = model(xb, training=False) if isinstance(model, keras.layers.Layer) else model(xb)
        out = tf.convert_to_tensor(out)
        if out.shape.rank == 1:
            out = out[:, None]
        # class_weights: argmax, or the sign / 0.5 rule of a single sigmoid unit.
        preds.append(np.argmax(class_weights(out, "pred", from_logits=from_logits).numpy(), -1))
    return np.concatenate(preds)


def counterfactual_accuracy(model, x_cf, y, batch_size=256, from_logits=True, sample_weight=None):
    """Accuracy of ``model`` on counterfactual images against their **original** labels.

    ``accuracy = Σ_i w_i [argmax f(x'_i) = y_i] / Σ_i w_i``. Compare it with
    the accuracy on the unswapped images: a model that reads the confounder
    loses the difference (and follows the donor's class).

    Args:
      model: a Keras model (called with ``training=False``) or a callable
        ``predict_fn(batch) -> scores (B, K)`` (logits or probabilities; a
        single unit ``(B, 1)`` is a binary classifier).
      x_cf: counterfactual images, e.g. from :func:`swap_masked_regions`.
      y: the original labels ``(N,)``, ``(N, 1)`` or one-hot ``(N, K)``.
      batch_size: images per model call.
      from_logits: only for a single-unit output: threshold the unit at 0
        (logits) or 0.5 (probabilities).
      sample_weight: optional ``(N,)`` weights, e.g. ``donors >= 0`` to score
        only the swapped images.

    Returns:
      A float in ``[0, 1]``.
    """
    if not callable(model):
        raise TypeError(f"`model` must be a Keras model or a callable batch -> scores; got {model!r}.")
    x_cf = np.asarray(x_cf)
    if x_cf.ndim < 2 or x_cf.shape[0] == 0:
        raise ValueError(f"`x_cf` must be a non-empty batch (N, ...); got shape {x_cf.shape}.")
    labels = _check_labels(y, x_cf.shape[0])
    batch_size = check_positive_int(batch_size, "batch_size")
    w = np.ones(len(labels)) if sample_weight is None else \
        _per_sample_vector(sample_weight, "sample_weight", tf.zeros(len(labels))).numpy()
    if np.any(w < 0):
        raise ValueError("`sample_weight` must be >= 0; got negative entries.")
    correct = _predict_classes(model, x_cf, batch_size, from_logits) == labels
    return float(np.sum(w * correct) / np.sum(w)) if np.sum(w) > 0 else 0.0


# --------------------------------------------------------------------------- #
# attributions
# --------------------------------------------------------------------------- #
def attributions(model, x, y=None, method="input_gradient", layer=None, target="pred", batch_size=64,
                 from_logits=True, steps=50, baseline=None):
    """Evaluation-time attribution maps for the wrong-reason share, in batches.

    * ``"input_gradient"`` — ``∂ s/∂x`` (:func:`keras_egl.explain.gradients.input_gradients`),
      ``(N, H, W, C)``; the map of RRR and the library's default explainer.
    * ``"grad_cam"`` — Grad-CAM of ``layer`` with ReLU, bilinearly upsampled to
      the input (:func:`keras_egl.explain.grad_cam.grad_cam`; the XIL WR
      metric's map), ``(N, H, W)``, unnormalised (the share is scale-free).
    * ``"integrated_gradients"`` — Sundararajan et al. 2017
      (:func:`keras_egl.explain.attribution.integrated_gradients`, trapezoid
      rule, ``steps`` nodes, ``baseline`` default zeros), ``(N, H, W, C)``.

    ``s`` is the ``target`` class's logit (probability when ``from_logits``
    is False): ``"pred"`` (default; the XIL metric explains the prediction)
    or ``"true"`` (needs ``y``).

    Returns:
      A float32 numpy array.
    """
    check_choice(method, ATTRIBUTION_METHODS, "method")
    check_choice(target, ("pred", "true"), "target")
    batch_size = check_positive_int(batch_size, "batch_size")
    x = _check_images(x)
    labels = None
    if target == "true":
        if y is None:
            raise ValueError("`y` is required for target='true'; got None.")
        labels = _check_labels(y, len(x))
    if method == "grad_cam":
        if not isinstance(layer, str) or not layer:
            raise ValueError(f"`layer` must name the explained layer for method='grad_cam'; got {layer!r}.")
        fwd = ActivationModel(model, layer)  # built once, reused by every batch
    quantity = "logit" if from_logits else "prob"
    out = []
    for start in range(0, len(x), batch_size):
        xb = tf.convert_to_tensor(x[start:start + batch_size].astype(np.float32))
        yb = None if labels is None else labels[start:start + batch_size]
        if method == "input_gradient":
            a = input_gradients(model, xb, target=target, y=yb, from_logits=from_logits,
                                quantity=quantity, stop_gradient=True)
        elif method == "grad_cam":
            a = grad_cam(fwd, xb, layer, target=target, y=yb, relu=True, normalize=None,
                         upsample="bilinear", from_logits=from_logits, quantity=quantity)
        else:
            a = integrated_gradients(model, xb, target="pred" if yb is None else yb, baseline=baseline,
                                     steps=steps, batch_size=batch_size, from_logits=from_logits,
                                     quantity=quantity)
        out.append(np.asarray(a, np.float32))
    return np.concatenate(out)


# --------------------------------------------------------------------------- #
# wrong-reason share
# --------------------------------------------------------------------------- #
def _wr_per_sample(neg_mask, attributions, has_annotation):
    """``(share, valid, zero)``: per-sample WR share, annotated flag, all-zero-attribution flag."""
    a = tf.convert_to_tensor(attributions)
    if not (a.dtype.is_floating or a.dtype.is_integer):
        raise TypeError(f"`attributions` must be a real-valued map; got dtype {a.dtype.name}.")
    if a.shape.rank not in (3, 4):
        raise ValueError(f"`attributions` must have shape (N, H, W) or (N, H, W, C); got shape {a.shape}.")
    a = assert_values(tf.cast(a, tf.float32), "attributions", what="finite values")
    mag = tf.abs(a) if a.shape.rank == 3 else tf.reduce_sum(tf.abs(a), -1)  # |a| summed over channels
    m = check_mask(neg_mask, "neg_mask", like=mag, spatial_rank=2)
    mass = tf.reduce_sum(mag, [1, 2])
    share = tf.math.divide_no_nan(tf.reduce_sum(mag * m, [1, 2]), mass)
    if has_annotation is None:
        valid = tf.cast(tf.reduce_any(m > 0, [1, 2]), tf.float32)
    else:
        valid = tf.cast(_per_sample_vector(has_annotation, "has_annotation", mag) != 0, tf.float32)
    return share, valid, tf.cast(mass == 0, tf.float32) * valid


def wrong_reason_share(attributions, neg_mask, reduction="mean", has_annotation=None,
                       return_zero_attribution=False):
    r"""Share of the absolute attribution mass that lies on the wrong reasons (lower is better).

    .. math::
        \mathrm{WR}_i = \frac{\sum_{h,w} |a|_{ihw}\, m_{ihw}}{\sum_{h,w} |a|_{ihw}},
        \qquad |a|_{ihw} = \sum_c |a_{ihwc}|

    with ``m`` the (soft, not binarised) ``neg_mask``; reduced over the samples
    whose mask is non-empty (or that ``has_annotation`` flags). For a binary
    mask it lies in ``[0, 1]``; a model ignoring the confounder scores 0, one
    attending only to it scores 1 (the chance level is the mask's area
    fraction). Equal to :func:`~keras_egl.metrics.explanation.attribution_overlap`
    for spatial masks; this version also gives the median and reports
    all-zero attributions.

    **All-zero attributions.** A sample whose attribution is zero everywhere
    (e.g. a Grad-CAM whose ReLU removes everything) has no mass to share: it
    scores 0 (never NaN), is counted in the reduction, and is reported — a
    ``UserWarning`` with the count, and the per-sample flags with
    ``return_zero_attribution=True``. The XIL code instead drops such samples
    and prints the count (``cannot_attribute_num``); pass
    ``reduction="none"`` and drop them yourself to reproduce that.

    Differences to the XIL WR metric (``quantify_wrong_reason``): it
    normalises each map to ``[0, 1]`` (negative values clipped) and reports
    either the mean activation inside the mask relative to the mask's area
    (after binarising at a threshold) or statistics of the raw activation;
    the share here is threshold-free and scale-invariant, so maps of different
    methods (gradients, IG, Grad-CAM) are comparable.

    Args:
      attributions: ``(N, H, W)`` or ``(N, H, W, C)`` maps at the mask's
        spatial size (upsample Grad-CAMs first; :func:`attributions` does).
      neg_mask: ``(N, H, W)`` or ``(N, H, W, 1)``, values in ``[0, 1]``.
      reduction: ``"mean"``, ``"median"`` or ``"none"`` (``(N,)`` shares with
        ``NaN`` where unannotated).
      has_annotation: optional ``(N,)`` flags overriding "mask non-empty".
      return_zero_attribution: also return the ``(N,)`` bool array marking
        annotated samples with an all-zero attribution.

    Returns:
      A float (``nan`` if no sample is annotated), or the ``(N,)`` array
      (and the zero-attribution flags if asked).

    Example:
      >>> a = attributions(model, x, method="grad_cam", layer="conv2")
      >>> wrong_reason_share(a, neg_mask)
    """
    check_choice(reduction, WR_REDUCTIONS, "reduction")
    share, valid, zero = (t.numpy() for t in _wr_per_sample(neg_mask, attributions, has_annotation))
    valid, zero = valid > 0, zero > 0
    if zero.any():
        warnings.warn(f"wrong_reason_share: {int(zero.sum())} of {int(valid.sum())} annotated samples have "
                      "an all-zero attribution; they score 0.", UserWarning, stacklevel=2)
    if reduction == "none":
        result = np.where(valid, share, np.nan)
    elif not valid.any():
        result = float("nan")
    else:
        result = float(np.mean(share[valid]) if reduction == "mean" else np.median(share[valid]))
    return (result, zero) if return_zero_attribution else result


@keras.saving.register_keras_serializable(package="keras_egl")
class WrongReasonShare(AnnotatedMeanMetric):
    """Streaming mean wrong-reason share (see :func:`wrong_reason_share`; lower is better).

    ``update_state(neg_mask, attributions, sample_weight=None, has_annotation=None)``.
    As an ``explanation_metrics`` entry of
    :class:`~keras_egl.models.base.ExplanationGuidedModel` give it the
    wrong-reason key (the default key is ``"pos_mask"``)::

        ExplanationGuidedModel(cnn, explained_layer="conv2",
                               explanation_metrics=[(WrongReasonShare(), "neg_mask")])

    The maps are the model's explainer's (Grad-CAM upsampled to the input, or
    input gradients). Samples with an all-zero map score 0 and are counted in
    :attr:`zero_attributions` (reset with the metric).
    """

    def __init__(self, name="wrong_reason_share", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.zero_attributions = self.add_weight(name="zero_attributions", initializer="zeros")

    @_no_autograph
    def update_state(self, neg_mask, attributions, sample_weight=None, has_annotation=None):
        share, valid, zero = _wr_per_sample(neg_mask, attributions, has_annotation)
        return tf.group(self._accumulate(share, valid, sample_weight),
                        self.zero_attributions.assign_add(tf.reduce_sum(tf.cast(zero, self.dtype))))


# --------------------------------------------------------------------------- #
# prior-map baseline
# --------------------------------------------------------------------------- #
def prior_map_baseline(train_pos_masks, test_pos_masks, metric="iou", threshold=0.5, normalize="minmax",
                       test_neg_masks=None, has_annotation=None, return_prior=False):
    r"""IoU / F1 of the fixed mean-annotation map on the test annotations.

    .. math::
        P = \frac{1}{|A|}\sum_{i \in A} F^{\mathrm{train}}_i, \qquad
        \text{baseline} = \mathrm{score}(F^{\mathrm{test}}, P\ \text{for every test image})

    with ``A`` the training samples whose mask is non-empty. ``score`` is
    :func:`~keras_egl.metrics.explanation.explanation_iou` (``metric="iou"``)
    or the F1 of :func:`~keras_egl.metrics.explanation.explanation_precision_recall_f1`
    (``"f1"``, with ``test_neg_masks`` when given) — the functions that score
    the model's explanations, with the same ``normalize`` and ``threshold``, so
    the two numbers are directly comparable. An explanation method that does
    not beat this baseline localises no better than the annotation prior.

    Args:
      train_pos_masks: ``(N, H, W)`` or ``(N, H, W, 1)`` right-reason masks, values in ``[0, 1]``.
      test_pos_masks: ``(M, H, W)`` or ``(M, H, W, 1)`` masks, same ``H, W``.
      metric: ``"iou"`` or ``"f1"``.
      threshold, normalize: as for the explanation metrics (defaults 0.5, ``"minmax"``).
      test_neg_masks: optional wrong-reason masks of the test set (F1 only).
      has_annotation: optional ``(M,)`` flags of the test set.
      return_prior: also return the ``(H, W)`` prior map (before normalisation).

    Returns:
      A float (and the prior map if asked).
    """
    check_choice(metric, PRIOR_METRICS, "metric")
    train = check_mask(train_pos_masks, "train_pos_masks", spatial_rank=2).numpy()
    test = check_mask(test_pos_masks, "test_pos_masks", spatial_rank=2)
    if train.shape[1:] != tuple(test.shape[1:]):
        raise ValueError(f"`train_pos_masks` and `test_pos_masks` must have the same spatial size; got "
                         f"{train.shape[1:]} and {tuple(test.shape[1:])}.")
    if test_neg_masks is not None and metric != "f1":
        raise ValueError("`test_neg_masks` is used only by metric='f1'; got metric='iou'.")
    annotated = train.reshape(len(train), -1).any(1)
    if not annotated.any():
        raise ValueError("`train_pos_masks` must hold at least one non-empty mask; got only empty masks.")
    prior = train[annotated].mean(0)
    maps = tf.broadcast_to(tf.constant(prior, tf.float32)[None], tf.shape(test))
    if metric == "iou":
        score = explanation_iou(test, maps, threshold=threshold, normalize=normalize,
                                has_annotation=has_annotation)
    else:
        neg = None if test_neg_masks is None else check_mask(test_neg_masks, "test_neg_masks", like=test,
                                                              spatial_rank=2)
        score = explanation_precision_recall_f1(test, neg, maps, threshold=threshold, normalize=normalize,
                                                has_annotation=has_annotation)["f1"]
    return (float(score), prior) if return_prior else float(score)
