"""Metrics comparing image explanation maps with human annotation masks.

Every metric here is scored **per sample, then averaged** over the samples that
carry an annotation, which is how the reference codes report them (RES's
Table 1 F1 is provably a mean of per-image F1s; see
``shared/reference/seed_res_rrr.md`` A.11). Each comes in two forms:

* a plain function on batched tensors (``reduction="mean"`` gives the weighted
  mean over annotated samples, ``reduction="none"`` the ``(B,)`` per-sample
  scores with ``NaN`` marking the samples that were excluded);
* a streaming :class:`keras.metrics.Metric` (``update_state`` / ``result`` /
  ``reset_state``) that accumulates ``Σ wᵢ·scoreᵢ`` and ``Σ wᵢ`` over annotated
  samples, so it gives the same number as the function on the concatenated
  batches, works inside ``tf.function`` and sums its state across replicas
  under ``tf.distribute``.

Public objects:

* :func:`normalize_maps` — per-sample normalisation over all non-batch axes, a
  thin wrapper of :func:`keras_egl.explain.masks.normalize_map` (``"minmax"``,
  ``"relu_minmax"``, ``"max"``, ``"max_positive"``; NaN-safe).
* :func:`explanation_iou` / :class:`ExplanationIoU` — IoU of the thresholded
  map against the positive mask (RES: threshold 0.5; GRADIA: 0.75).
* :func:`explanation_precision_recall_f1` / :class:`ExplanationPrecision`,
  :class:`ExplanationRecall`, :class:`ExplanationF1` — RES's positive/negative
  aware precision, recall and F1.
* :func:`attribution_overlap` / :class:`AttributionOverlap` — Bekkemoen (2021)
  eq. 17, the fraction of absolute attribution mass on irrelevant pixels.
* :func:`pointing_game` / :class:`PointingGame` — Zhang et al. (2016): does the
  map's maximum fall inside (or within a radius of) the positive mask.

Conventions shared by all metrics:

* Maps and masks are ``(B, H, W)`` or ``(B, H, W, 1)`` (attribution overlap also
  takes ``(B, H, W, C)`` maps). A mask whose shape differs from the map's gives
  a ``ValueError`` naming both shapes; nothing is broadcast silently.
* Inputs of integer or boolean dtype are cast to ``float32``; floating inputs of
  any width are cast to the metric dtype (``float32``); strings and complex
  numbers raise ``TypeError``.
* A sample counts as **annotated** when ``has_annotation`` (``(B,)`` booleans or
  0/1) says so; without the flag, when its mask has at least one non-zero pixel.
  Unannotated samples are left out of the mean (their weight is 0).
* A stream that has seen no annotated sample reports ``0.0`` (``divide_no_nan``),
  never ``NaN``.
"""

import math
import numbers

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import NORMALIZE_METHODS, normalize_map
from keras_egl.validation import assert_values, check_bool, check_choice

#: The ``normalize`` options: the methods of :func:`keras_egl.explain.masks.normalize_map`.
NORMALIZATIONS = NORMALIZE_METHODS

# Keras runs a custom metric's update_state through AutoGraph on every eager call.
# These metrics have no tensor-dependent Python control flow, so conversion only
# costs time (it dominated eager updates) and garbles tracebacks; skip it.
_no_autograph = tf.autograph.experimental.do_not_convert
REDUCTIONS = ("mean", "none")

__all__ = [
    "NORMALIZATIONS",
    "normalize_maps",
    "explanation_iou",
    "explanation_precision_recall_f1",
    "attribution_overlap",
    "pointing_game",
    "ExplanationIoU",
    "ExplanationPrecision",
    "ExplanationRecall",
    "ExplanationF1",
    "AttributionOverlap",
    "PointingGame",
]


# --------------------------------------------------------------------------- #
# input validation
# --------------------------------------------------------------------------- #
def _to_float(x, name, dtype="float32"):
    """Convert ``x`` to a float tensor; ints/bools are cast, strings/complex refused."""
    if x is None:
        raise ValueError(f"`{name}` is required, received None.")
    if not tf.is_tensor(x):
        try:
            x = tf.convert_to_tensor(x)
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"`{name}` must be a numeric array or tensor, received {type(x).__name__}: {exc}"
            ) from exc
    dt = x.dtype
    if not (dt.is_floating or dt.is_integer or dt.is_bool):
        raise TypeError(
            f"`{name}` must have a real numeric or boolean dtype, received dtype {dt.name}."
        )
    return x if dtype is None else tf.cast(x, dtype)


def _as_maps(x, name, dtype="float32", allow_channels=False):
    """Return ``x`` as ``(B, H, W)`` (or ``(B, H, W, C)`` if ``allow_channels``)."""
    x = assert_values(_to_float(x, name, dtype), name, what="finite values")
    rank = x.shape.rank
    if rank == 3:
        return x
    if rank == 4:
        c = x.shape[-1]
        if c == 1:
            return tf.squeeze(x, -1)
        if allow_channels:
            return x
        raise ValueError(
            f"`{name}` must have shape (B, H, W) or (B, H, W, 1), received shape "
            f"{tuple(x.shape)} (a last axis of size {c} is not a single-channel map)."
        )
    expected = "(B, H, W), (B, H, W, 1) or (B, H, W, C)" if allow_channels else "(B, H, W) or (B, H, W, 1)"
    raise ValueError(f"`{name}` must have shape {expected}, received shape {tuple(x.shape)} (rank {rank}).")


def _check_same_shape(a, a_name, b, b_name):
    """Raise ``ValueError`` if the static shapes disagree; assert at run time otherwise."""
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(
            f"`{a_name}` and `{b_name}` must have the same shape, received "
            f"{a_name}.shape={tuple(a.shape)} and {b_name}.shape={tuple(b.shape)}."
        )
    if not (a.shape.is_fully_defined() and b.shape.is_fully_defined()):
        # Unknown dimensions (e.g. a None batch inside tf.function) are checked when the
        # graph runs; this raises tf.errors.InvalidArgumentError.
        tf.debugging.assert_equal(
            tf.shape(a),
            tf.shape(b),
            message=f"`{a_name}` and `{b_name}` must have the same shape",
        )


def _per_sample_vector(x, name, batch_like, dtype="float32"):
    """``(B,)`` or ``(B, 1)`` → ``(B,)`` float, checked against the batch of ``batch_like``."""
    x = _to_float(x, name, dtype)
    if x.shape.rank == 2 and x.shape[-1] == 1:
        x = tf.squeeze(x, -1)
    if x.shape.rank == 0:
        x = tf.fill(tf.shape(batch_like)[:1], x)
    if x.shape.rank != 1:
        raise ValueError(
            f"`{name}` must have shape (B,) or (B, 1), one value per sample, received shape {tuple(x.shape)}."
        )
    b = batch_like.shape[0]
    if b is not None and x.shape[0] is not None and x.shape[0] != b:
        raise ValueError(
            f"`{name}` must have one value per sample (B={b}), received shape {tuple(x.shape)}."
        )
    return x


def _annotated(mask_nonempty, has_annotation, batch_like, dtype="float32"):
    """Float ``(B,)`` indicator of annotated samples."""
    if has_annotation is None:
        return tf.cast(mask_nonempty, dtype)
    flag = _per_sample_vector(has_annotation, "has_annotation", batch_like, dtype)
    return tf.cast(flag != 0, dtype)


def _check_number(value, name, low=None, high=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite number, received {value!r}.")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"`{name}` must lie in [{low}, {high}], received {value!r}.")


# --------------------------------------------------------------------------- #
# normalisation and reduction
# --------------------------------------------------------------------------- #
def normalize_maps(maps, method="minmax", axis=None):
    """Normalise each sample's map independently: :func:`~keras_egl.explain.masks.normalize_map`
    over all non-batch axes.

    The options are those of :func:`~keras_egl.explain.masks.normalize_map`
    (documented there). For the metrics: ``"minmax"`` is GRADIA eq. (4.17) and
    what the RES/GRADIA codes apply to test-time Grad-CAMs (min-subtract, then
    divide by the max); ``"relu_minmax"`` is Grad-CAM as published (Selvaraju
    et al. 2017) scaled to [0, 1]; ``"max_positive"`` is the "(0, 1] by
    dividing the maximum" of the RES and GNES papers, with a map whose maximum
    is ``≤ 0`` (no positive evidence) set to zeros; ``"max"`` divides by the
    largest magnitude ``max |m|``; ``None`` returns ``maps`` unchanged.

    Args:
        maps: float tensor ``(B, ...)``; every axis but the first is one sample.
        method: ``"minmax"``, ``"relu_minmax"``, ``"max"``, ``"max_positive"`` or ``None``.
        axis: axes reduced per sample; default all axes but the first (also
            for rank ≥ 4, unlike :func:`normalize_map`'s per-channel default).

    Returns:
        A tensor of the shape and dtype of ``maps``.

    Example:
        >>> normalize_maps(tf.constant([[[2.0, 4.0], [6.0, 2.0]]])).numpy()[0, 1, 0]
        1.0
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"`method` (the metrics' `normalize` option) must be one of {NORMALIZATIONS}; "
                         f"got {method!r}.")
    maps = _to_float(maps, "maps", dtype=None)  # a tensor of a real or boolean dtype (unchanged)
    if maps.shape.rank is None or maps.shape.rank < 2:
        raise ValueError(f"`maps` must have a batch axis and at least one map axis (B, ...); received shape "
                         f"{tuple(maps.shape)}.")
    if method is None:
        return maps
    if axis is None:
        axis = tuple(range(1, maps.shape.rank))
    return normalize_map(maps, method, axis=axis)


def _reduce(scores, valid, sample_weight, reduction):
    """Weighted mean over valid samples, or per-sample scores with NaN where invalid."""
    check_choice(reduction, REDUCTIONS, "reduction")
    scores = tf.where(valid > 0, scores, tf.zeros_like(scores))
    if reduction == "none":
        return tf.where(valid > 0, scores, tf.fill(tf.shape(scores), float("nan")))
    w = valid
    if sample_weight is not None:
        w = w * _per_sample_vector(sample_weight, "sample_weight", scores)
    return tf.math.divide_no_nan(tf.reduce_sum(w * scores), tf.reduce_sum(w))


def _binarize(maps, threshold, strict):
    return tf.cast(maps > threshold if strict else maps >= threshold, maps.dtype)


# --------------------------------------------------------------------------- #
# per-sample kernels (shared by the functions and the Metric classes)
# --------------------------------------------------------------------------- #
def _iou_per_sample(positive_mask, explanation, has_annotation, threshold, normalize, strict, empty_score):
    expl = _as_maps(explanation, "explanation")
    pos = _as_maps(positive_mask, "positive_mask")
    _check_same_shape(pos, "positive_mask", expl, "explanation")
    pred = _binarize(normalize_maps(expl, normalize), threshold, strict)
    truth = tf.cast(pos > 0, expl.dtype)
    inter = tf.reduce_sum(pred * truth, axis=[1, 2])
    union = tf.reduce_sum(tf.maximum(pred, truth), axis=[1, 2])
    iou = tf.where(union > 0, tf.math.divide_no_nan(inter, union), tf.fill(tf.shape(union), float(empty_score)))
    valid = _annotated(tf.reduce_any(truth > 0, axis=[1, 2]), has_annotation, expl)
    return iou, valid


def _prf_per_sample(positive_mask, negative_mask, explanation, has_annotation, threshold, normalize, strict, epsilon):
    expl = _as_maps(explanation, "explanation")
    pos = _as_maps(positive_mask, "positive_mask")
    _check_same_shape(pos, "positive_mask", expl, "explanation")
    h = tf.cast(pos > 0, expl.dtype)
    if negative_mask is not None:
        neg = _as_maps(negative_mask, "negative_mask")
        _check_same_shape(neg, "negative_mask", expl, "explanation")
        # RES code: label = pos - neg, so a pixel marked in both masks is unannotated.
        h = h - tf.cast(neg > 0, expl.dtype)
    x = _binarize(normalize_maps(expl, normalize), threshold, strict)
    is_pos = tf.cast(h > 0, x.dtype)
    is_neg = tf.cast(h < 0, x.dtype)
    tp = tf.reduce_sum(x * is_pos, axis=[1, 2])
    fp = tf.reduce_sum(x * is_neg, axis=[1, 2])
    fn = tf.reduce_sum((1.0 - x) * is_pos, axis=[1, 2])
    precision = tp / (tp + fp + epsilon)
    recall = tp / (tp + fn + epsilon)
    f1 = 2.0 * precision * recall / (precision + recall + epsilon)
    valid = _annotated(tf.reduce_any(tf.not_equal(h, 0), axis=[1, 2]), has_annotation, expl)
    return {"precision": precision, "recall": recall, "f1": f1}, valid


def _overlap_per_sample(irrelevant_mask, attribution, has_annotation):
    t = _as_maps(attribution, "attribution", allow_channels=True)
    f = _as_maps(irrelevant_mask, "irrelevant_mask", allow_channels=True)
    if t.shape.rank == 4 and f.shape.rank == 3:
        # Eq. 17's F ⊗ T: one spatial mask applies to every channel of the attribution.
        _check_same_shape(f, "irrelevant_mask", t[..., 0], "attribution[..., 0]")
        f = f[..., None]
    else:
        _check_same_shape(f, "irrelevant_mask", t, "attribution")
    axes = list(range(1, t.shape.rank))
    mass = tf.reduce_sum(tf.abs(t), axis=axes)
    on_irrelevant = tf.reduce_sum(tf.abs(f * t), axis=axes)
    overlap = tf.math.divide_no_nan(on_irrelevant, mass)
    valid = _annotated(tf.reduce_any(tf.not_equal(f, 0), axis=list(range(1, f.shape.rank))), has_annotation, t)
    return overlap, valid


def _pointing_per_sample(positive_mask, explanation, has_annotation, tolerance):
    expl = _as_maps(explanation, "explanation")
    pos = _as_maps(positive_mask, "positive_mask")
    _check_same_shape(pos, "positive_mask", expl, "explanation")
    shape = tf.shape(expl)
    b, h, w = shape[0], shape[1], shape[2]
    flat = tf.reshape(expl, [b, h * w])
    idx = tf.argmax(flat, axis=1, output_type=tf.int32)  # first maximum in row-major order
    row = tf.cast(idx // w, expl.dtype)
    col = tf.cast(idx % w, expl.dtype)
    rr = tf.cast(tf.range(h), expl.dtype)[None, :, None]
    cc = tf.cast(tf.range(w), expl.dtype)[None, None, :]
    d2 = tf.square(rr - row[:, None, None]) + tf.square(cc - col[:, None, None])
    truth = pos > 0
    near = d2 <= float(tolerance) ** 2
    hit = tf.reduce_any(tf.logical_and(truth, near), axis=[1, 2])
    # A constant map points nowhere: counting its arbitrary argmax would reward blank maps.
    informative = tf.reduce_max(flat, axis=1) > tf.reduce_min(flat, axis=1)
    hit = tf.cast(tf.logical_and(hit, informative), expl.dtype)
    valid = _annotated(tf.reduce_any(truth, axis=[1, 2]), has_annotation, expl)
    return hit, valid


# --------------------------------------------------------------------------- #
# plain functions
# --------------------------------------------------------------------------- #
def explanation_iou(
    positive_mask,
    explanation,
    threshold=0.5,
    normalize="minmax",
    has_annotation=None,
    sample_weight=None,
    strict=False,
    empty_score=1.0,
    reduction="mean",
):
    r"""Explanation IoU against the positive annotation mask, per sample then averaged.

    Network-Dissection IoU (Bau et al. 2017) as used by RES (Gao et al., KDD 2022,
    §4.1) and GRADIA (Gao et al., CSCW 2022):

    .. math::
        \mathrm{IoU}_i = \frac{|\{M_i \ge t\} \cap \{F_i > 0\}|}{|\{M_i \ge t\} \cup \{F_i > 0\}|}

    with ``M`` the (normalised) explanation map, ``F`` the positive mask and ``t``
    the threshold: 0.5 in RES, 0.75 in the GRADIA code. The negative mask plays no
    part ("IoU only assesses the quality of positive explanation").

    Args:
        positive_mask: ``(B, H, W)`` or ``(B, H, W, 1)``; pixels ``> 0`` are positive.
        explanation: the map, same shape as ``positive_mask``.
        threshold: binarisation threshold ``t``.
        normalize: ``"minmax"`` (default; what the RES/GRADIA codes do to the test
            CAM), ``"relu_minmax"``, ``"max_positive"`` (RES paper: divide by the
            max; no positive evidence → zeros), ``"max"`` (divide by ``max |m|``) or
            ``None`` (the map is already normalised); see
            :func:`~keras_egl.explain.masks.normalize_map`.
        has_annotation: optional ``(B,)`` flags; default: annotated iff the
            positive mask is non-empty.
        sample_weight: optional ``(B,)`` weights of the mean.
        strict: ``False`` binarises with ``M ≥ t``; ``True`` with ``M > t`` (the RES
            test code's comparison).
        empty_score: IoU of a sample flagged as annotated whose mask and binarised
            map are both empty (an empty union): ``1.0`` — they agree exactly.
        reduction: ``"mean"`` → scalar weighted mean over annotated samples (0.0 if
            there are none); ``"none"`` → ``(B,)`` scores, ``NaN`` where unannotated.

    Returns:
        A scalar, or ``(B,)`` per-sample IoUs.

    Example:
        >>> mask = tf.constant([[[1, 1], [0, 0]]])
        >>> cam = tf.constant([[[0.9, 0.2], [0.8, 0.0]]])
        >>> float(explanation_iou(mask, cam, threshold=0.5, normalize=None))
        0.3333333432674408
    """
    _check_number(threshold, "threshold")
    _check_number(empty_score, "empty_score", 0.0, 1.0)
    check_choice(normalize, NORMALIZATIONS, "normalize")
    strict = check_bool(strict, "strict")
    scores, valid = _iou_per_sample(positive_mask, explanation, has_annotation, threshold, normalize, strict, empty_score)
    return _reduce(scores, valid, sample_weight, reduction)


def explanation_precision_recall_f1(
    positive_mask,
    negative_mask,
    explanation,
    threshold=0.5,
    normalize="minmax",
    has_annotation=None,
    sample_weight=None,
    strict=False,
    epsilon=1e-6,
    reduction="mean",
):
    r"""Explanation precision, recall and F1 against positive **and** negative masks.

    RES (Gao et al., KDD 2022, §4.1; reference code ``RES.py``). With ``x`` the
    binarised map and ``y = [F > 0] - [C > 0] ∈ {-1, 0, 1}`` per pixel:

    .. math::
        TP = \sum x[y>0],\quad FP = \sum x[y<0],\quad FN = \sum (1-x)[y>0],

        P = \frac{TP}{TP+FP+\epsilon},\quad R = \frac{TP}{TP+FN+\epsilon},\quad
        F_1 = \frac{2PR}{P+R+\epsilon}

    Unannotated pixels (``y = 0``, including pixels marked in both masks) count
    nowhere. All three are computed per image and then averaged, which is why the
    mean F1 can be below the harmonic mean of mean P and mean R (RES Table 1).
    A sample with negatives only scores ``P = R = F1 = 0``.

    Args:
        positive_mask: ``(B, H, W)`` or ``(B, H, W, 1)``; ``> 0`` = should matter.
        negative_mask: same shape; ``> 0`` = should not matter; ``None`` = no negatives.
        explanation: the map, same shape.
        threshold, normalize, strict: as in :func:`explanation_iou`.
        has_annotation: optional ``(B,)`` flags; default: annotated iff ``y`` has
            a non-zero pixel.
        sample_weight: optional ``(B,)`` weights of the mean.
        epsilon: the code's ``1e-6``.
        reduction: ``"mean"`` or ``"none"`` (``NaN`` where unannotated).

    Returns:
        A dict ``{"precision", "recall", "f1"}`` of scalars or ``(B,)`` tensors.

    Example:
        >>> pos = tf.constant([[[1, 1], [0, 0]]]); neg = tf.constant([[[0, 0], [1, 0]]])
        >>> cam = tf.constant([[[1.0, 0.0], [1.0, 1.0]]])
        >>> out = explanation_precision_recall_f1(pos, neg, cam, normalize=None)
        >>> round(float(out["precision"]), 4), round(float(out["recall"]), 4)
        (0.5, 0.5)
    """
    _check_number(threshold, "threshold")
    _check_number(epsilon, "epsilon", 0.0)
    check_choice(normalize, NORMALIZATIONS, "normalize")
    strict = check_bool(strict, "strict")
    scores, valid = _prf_per_sample(
        positive_mask, negative_mask, explanation, has_annotation, threshold, normalize, strict, epsilon
    )
    return {k: _reduce(v, valid, sample_weight, reduction) for k, v in scores.items()}


def attribution_overlap(irrelevant_mask, attribution, has_annotation=None, sample_weight=None, reduction="mean"):
    r"""Fraction of absolute attribution mass on irrelevant pixels (lower is better).

    Bekkemoen (2021), article eq. (17) / thesis Tables 6.4, 6.7, 6.10:

    .. math::
        \text{overlap} = \frac1k\sum_{i=1}^k
        \frac{\lVert \mathrm{vec}(F^{(i)}\otimes T^{(i)})\rVert_1}{\lVert \mathrm{vec}(T^{(i)})\rVert_1}

    over the ``k`` samples with an annotated explanation; ``F`` marks irrelevant
    pixels (1 = should not be used) and ``T ∈ R^{w×h×v}`` is the attribution with
    ``v`` channels. The score lies in ``[0, 1]`` for a binary ``F``. A spatial mask
    ``(B, H, W)``/``(B, H, W, 1)`` applies to every channel of ``T`` (the ``⊗`` of
    the equation); a mask with ``C`` channels must match ``T``'s ``C``. An
    all-zero attribution puts no mass anywhere and scores ``0``.

    Args:
        irrelevant_mask: ``F``: ``(B, H, W)``, ``(B, H, W, 1)`` or ``(B, H, W, C)``.
        attribution: ``T``: ``(B, H, W)``, ``(B, H, W, 1)`` or ``(B, H, W, C)``;
            signed values are fine (the L1 norm takes absolute values). Grad-CAM
            maps must first be upsampled to the mask size.
        has_annotation: optional ``(B,)`` flags; default: annotated iff ``F`` is non-empty.
        sample_weight: optional ``(B,)`` weights of the mean.
        reduction: ``"mean"`` or ``"none"`` (``NaN`` where unannotated).

    Returns:
        A scalar, or ``(B,)`` per-sample overlaps.

    Example:
        >>> f = tf.constant([[[1, 0], [0, 0]]])
        >>> t = tf.constant([[[-1.0, 1.0], [2.0, 0.0]]])
        >>> float(attribution_overlap(f, t))
        0.25
    """
    scores, valid = _overlap_per_sample(irrelevant_mask, attribution, has_annotation)
    return _reduce(scores, valid, sample_weight, reduction)


def pointing_game(positive_mask, explanation, tolerance=0.0, has_annotation=None, sample_weight=None, reduction="mean"):
    r"""Pointing-game hit rate (Zhang et al., "Top-down neural attention by
    excitation backprop", ECCV 2016).

    A sample is a hit when the location of its map's maximum lies within
    ``tolerance`` pixels (Euclidean) of a positive-mask pixel:

    .. math::
        \text{hit}_i = \big[\exists\,p: F_i(p) > 0,\ \lVert p - \arg\max M_i\rVert_2 \le r\big]

    The hit rate is the (weighted) mean over annotated samples. Ties take the
    first maximum in row-major order; a constant map points nowhere and is a miss.
    Zhang et al. use ``r = 15`` pixels at 224×224 input; ``0`` requires the exact
    pixel. Normalisation is irrelevant (the argmax is invariant to it).

    Args:
        positive_mask: ``(B, H, W)`` or ``(B, H, W, 1)``.
        explanation: same shape.
        tolerance: radius ``r`` in pixels, ``≥ 0``.
        has_annotation: optional ``(B,)`` flags; default: mask non-empty. A sample
            flagged annotated with an empty mask is a miss.
        sample_weight: optional ``(B,)`` weights.
        reduction: ``"mean"`` or ``"none"`` (``NaN`` where unannotated).

    Returns:
        A scalar hit rate, or ``(B,)`` hits in ``{0, 1}``.

    Example:
        >>> mask = tf.constant([[[0, 0, 0], [0, 0, 1], [0, 0, 0]]])
        >>> cam = tf.constant([[[0.0, 0.0, 0.0], [0.0, 0.1, 0.0], [0.0, 0.9, 0.0]]])
        >>> float(pointing_game(mask, cam)), float(pointing_game(mask, cam, tolerance=1.5))
        (0.0, 1.0)
    """
    _check_number(tolerance, "tolerance", 0.0)
    scores, valid = _pointing_per_sample(positive_mask, explanation, has_annotation, tolerance)
    return _reduce(scores, valid, sample_weight, reduction)


# --------------------------------------------------------------------------- #
# streaming metrics
# --------------------------------------------------------------------------- #
class AnnotatedMeanMetric(keras.metrics.Metric):
    """Base class: weighted mean of a per-sample score over annotated samples.

    Subclasses implement ``_scores(*args, has_annotation=...) -> (scores, valid)``
    with ``(B,)`` float tensors. The state is two scalars, ``total = Σ wᵢ·sᵢ`` and
    ``count = Σ wᵢ`` (``wᵢ = sample_weightᵢ · annotatedᵢ``); under ``tf.distribute``
    Keras sums them over replicas, so the result equals the single-device mean.
    """

    def __init__(self, name=None, dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.total = self.add_weight(name="total", initializer="zeros")
        self.count = self.add_weight(name="count", initializer="zeros")

    def _accumulate(self, scores, valid, sample_weight):
        scores = tf.cast(scores, self.dtype)
        valid = tf.cast(valid, self.dtype)
        w = valid
        if sample_weight is not None:
            w = w * _per_sample_vector(sample_weight, "sample_weight", scores, self.dtype)
        scores = tf.where(valid > 0, scores, tf.zeros_like(scores))
        return tf.group(
            self.total.assign_add(tf.reduce_sum(w * scores)),
            self.count.assign_add(tf.reduce_sum(w)),
        )

    def result(self):
        return tf.math.divide_no_nan(self.total, self.count)

    def reset_state(self):
        for v in self.variables:
            v.assign(tf.zeros_like(v))


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationIoU(AnnotatedMeanMetric):
    """Streaming explanation IoU against the positive mask (see :func:`explanation_iou`).

    Args:
        threshold: 0.5 (RES, default) or 0.75 (GRADIA code).
        normalize: ``"minmax"`` (default), ``"relu_minmax"``, ``"max"``, ``"max_positive"``
            or ``None`` (see :func:`~keras_egl.explain.masks.normalize_map`).
        strict: ``True`` binarises with ``>`` instead of ``≥``.
        empty_score: IoU for an annotated sample whose mask and binarised map are empty.
        name, dtype: as for any Keras metric.

    ``update_state(positive_mask, explanation, sample_weight=None, has_annotation=None)``
    with ``(B, H, W)``/``(B, H, W, 1)`` masks and maps.

    Example:
        >>> m = ExplanationIoU(threshold=0.75)
        >>> m.update_state(masks, cams)
        >>> m.result()
    """

    def __init__(self, threshold=0.5, normalize="minmax", strict=False, empty_score=1.0, name="explanation_iou", dtype=None, **kwargs):
        _check_number(threshold, "threshold")
        _check_number(empty_score, "empty_score", 0.0, 1.0)
        check_choice(normalize, NORMALIZATIONS, "normalize")
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.threshold = float(threshold)
        self.normalize = normalize
        self.strict = check_bool(strict, "strict")
        self.empty_score = float(empty_score)

    @_no_autograph
    def update_state(self, positive_mask, explanation, sample_weight=None, has_annotation=None):
        scores, valid = _iou_per_sample(
            positive_mask, explanation, has_annotation, self.threshold, self.normalize, self.strict, self.empty_score
        )
        return self._accumulate(scores, valid, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(threshold=self.threshold, normalize=self.normalize, strict=self.strict, empty_score=self.empty_score)
        return config


class _ExplanationPRFBase(AnnotatedMeanMetric):
    _key = None

    def __init__(self, threshold=0.5, normalize="minmax", strict=False, epsilon=1e-6, name=None, dtype=None, **kwargs):
        _check_number(threshold, "threshold")
        _check_number(epsilon, "epsilon", 0.0)
        check_choice(normalize, NORMALIZATIONS, "normalize")
        super().__init__(name=name or f"explanation_{self._key}", dtype=dtype, **kwargs)
        self.threshold = float(threshold)
        self.normalize = normalize
        self.strict = check_bool(strict, "strict")
        self.epsilon = float(epsilon)

    @_no_autograph
    def update_state(self, positive_mask, negative_mask, explanation, sample_weight=None, has_annotation=None):
        scores, valid = _prf_per_sample(
            positive_mask, negative_mask, explanation, has_annotation, self.threshold, self.normalize, self.strict, self.epsilon
        )
        return self._accumulate(scores[self._key], valid, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(threshold=self.threshold, normalize=self.normalize, strict=self.strict, epsilon=self.epsilon)
        return config


_PRF_DOC = """Streaming RES explanation {what} (see :func:`explanation_precision_recall_f1`).

    Per-image {what} of the binarised map against ``y = [F>0] - [C>0]``,
    averaged over annotated images (RES, Gao et al. KDD 2022; code ``RES.py``).

    Args:
        threshold: binarisation threshold (RES: 0.5).
        normalize: ``"minmax"`` (default), ``"relu_minmax"``, ``"max"``, ``"max_positive"``
            or ``None`` (see :func:`~keras_egl.explain.masks.normalize_map`).
        strict: ``True`` binarises with ``>`` instead of ``≥``.
        epsilon: the code's ``1e-6`` in every denominator.
        name, dtype: as for any Keras metric.

    ``update_state(positive_mask, negative_mask, explanation, sample_weight=None,
    has_annotation=None)``; ``negative_mask`` may be ``None``.

    Example:
        >>> m = {cls}()
        >>> m.update_state(pos_masks, neg_masks, cams)
        >>> m.result()
    """


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationPrecision(_ExplanationPRFBase):
    __doc__ = _PRF_DOC.format(what="precision", cls="ExplanationPrecision")
    _key = "precision"


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationRecall(_ExplanationPRFBase):
    __doc__ = _PRF_DOC.format(what="recall", cls="ExplanationRecall")
    _key = "recall"


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationF1(_ExplanationPRFBase):
    __doc__ = _PRF_DOC.format(what="F1", cls="ExplanationF1")
    _key = "f1"


@keras.saving.register_keras_serializable(package="keras_egl")
class AttributionOverlap(AnnotatedMeanMetric):
    """Streaming attribution overlap, Bekkemoen (2021) eq. 17 (see :func:`attribution_overlap`).

    Lower is better. ``update_state(irrelevant_mask, attribution, sample_weight=None,
    has_annotation=None)``.

    Example:
        >>> m = AttributionOverlap()
        >>> m.update_state(feedback_masks, saliency_maps)
        >>> m.result()
    """

    def __init__(self, name="attribution_overlap", dtype=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)

    @_no_autograph
    def update_state(self, irrelevant_mask, attribution, sample_weight=None, has_annotation=None):
        scores, valid = _overlap_per_sample(irrelevant_mask, attribution, has_annotation)
        return self._accumulate(scores, valid, sample_weight)


@keras.saving.register_keras_serializable(package="keras_egl")
class PointingGame(AnnotatedMeanMetric):
    """Streaming pointing-game hit rate (see :func:`pointing_game`).

    Args:
        tolerance: radius in pixels around the map's maximum (Zhang et al. 2016 use 15).
        name, dtype: as for any Keras metric.

    ``update_state(positive_mask, explanation, sample_weight=None, has_annotation=None)``.

    Example:
        >>> m = PointingGame(tolerance=15)
        >>> m.update_state(masks, cams)
        >>> m.result()
    """

    def __init__(self, tolerance=0.0, name="pointing_game", dtype=None, **kwargs):
        _check_number(tolerance, "tolerance", 0.0)
        super().__init__(name=name, dtype=dtype, **kwargs)
        self.tolerance = float(tolerance)

    @_no_autograph
    def update_state(self, positive_mask, explanation, sample_weight=None, has_annotation=None):
        scores, valid = _pointing_per_sample(positive_mask, explanation, has_annotation, self.tolerance)
        return self._accumulate(scores, valid, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(tolerance=self.tolerance)
        return config
