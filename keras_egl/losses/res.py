"""RES: the robust explanation loss for noisy positive/negative annotations.

Gao, Sun, Bai, Gu, Hong, Zhao, "RES: A Robust Framework for Guiding Visual
Explanation", KDD 2022 (Eq. 5–8, Algorithm 1/2 of App. A.4); dissertation
§4.3.3 (Eq. 4.22–4.25). With ``M`` the model's explanation map (Grad-CAM at the
explained layer's resolution, in ``[0, 1]``), positive annotation ``F``,
negative annotation ``C``, ``H = F − C ∈ {−1, 0, 1}`` and ``1(H ≠ 0)`` the
annotated pixels:

    L_Exp = max{0, ‖[tanh(γ(M − a)) − H] ⊙ 1(H≠0)‖ − α}              (hinge)
          + d(M ⊙ 1(H≠0), h(F, C) ⊙ 1(H≠0))                           (distance)

* ``a`` is the adaptive threshold of Algorithm 2, found with ``θ`` fixed
  (under ``stop_gradient``): the value satisfying the most constraints
  ``M ≥ a`` on positive pixels and ``M < a`` on negative ones. We solve it in
  ``O(m log m)`` with ``tf.sort`` + ``tf.searchsorted``
  (:func:`adaptive_threshold`); :func:`adaptive_threshold_bruteforce` is the
  ``O(m²)`` reference (the authors' ``BF_solver`` design).
* ``h`` is a label imputation (Gaussian for RES-G, a learnable conv for RES-L;
  see :mod:`keras_egl.layers.imputation`): the caller passes the imputed map.
* ``‖·‖`` is the masked mean absolute error (the code's; the paper leaves the
  norm open) and ``d`` the mean absolute error.

Paper vs code (see ``docs/FIDELITY.md``): the authors' code
pools the hinge over the whole batch (``hinge_scope="batch"``) where the paper
sums per-sample hinges (``"sample"``); it does not mask the distance term
(``mask_distance_term=False``; the paper does); it normalises the threshold
counts by group size (``normalize_counts=True``; Algorithm 1 counts raw); it
uses ``γ = 5``. :meth:`RESLoss.preset` gives both sets.
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import as_map_batch
from keras_egl.validation import (assert_values, check_bool, check_choice, check_float, check_non_negative,
                                  check_per_sample)

SCOPES = ("batch", "sample")
FIDELITIES = ("code", "paper")
OVERLAPS = ("error", "unannotated", "positive", "negative")

_as_maps = as_map_batch

__all__ = [
    "adaptive_threshold",
    "adaptive_threshold_bruteforce",
    "threshold_objective",
    "annotation_target",
    "res_hinge",
    "res_distance",
    "res_loss",
    "RESLoss",
]


# --------------------------------------------------------------------------- validation


def _check_weights(sample_weight, maps):
    """``(B,)`` weights, one per map (ones when ``None``); a length-1 vector is not broadcast."""
    if sample_weight is None:
        return tf.ones_like(maps[:, 0, 0])
    return check_per_sample(sample_weight, "sample_weight", maps, low=0.0, dtype=maps.dtype)


def _same_shape(a, a_name, b, b_name):
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"`{b_name}` must have the shape of `{a_name}` {tuple(a.shape)} "
                         f"(resize masks to the explanation's resolution first); got {tuple(b.shape)}.")


def _check_binary(mask, name):
    """Eager check that a mask is 0/1 (skipped inside ``tf.function``, where it cannot raise early)."""
    if tf.executing_eagerly():
        bad = tf.reduce_any(tf.logical_and(tf.not_equal(mask, 0.0), tf.not_equal(mask, 1.0)))
        if bool(bad):
            vals = np.unique(mask.numpy())[:6]
            raise ValueError(f"`{name}` must be a binary 0/1 mask; got values such as {vals.tolist()}.")


def annotation_target(positive, negative=None, overlap="error"):
    """``H = F − C`` from binary masks, with a documented overlap rule.

    Args:
      positive: ``(B, h, w)`` binary positive mask ``F``.
      negative: ``(B, h, w)`` binary negative mask ``C`` or ``None`` (no negatives).
      overlap: what a pixel marked in both masks means: ``"error"`` (raise,
        eager only), ``"unannotated"`` (``H = 0``, what ``pos − neg`` gives in the
        authors' code; the default of the losses), ``"positive"`` or ``"negative"``
        (that mask wins).

    Returns:
      ``(B, h, w)`` float32 with values in ``{−1, 0, 1}``.
    """
    check_choice(overlap, OVERLAPS, "overlap")
    f = _as_maps(positive, "positive")
    _check_binary(f, "positive")
    if negative is None:
        return f
    c = _as_maps(negative, "negative")
    _same_shape(f, "positive", c, "negative")
    _check_binary(c, "negative")
    both = f * c
    if overlap == "error" and tf.executing_eagerly() and bool(tf.reduce_any(both > 0)):
        n = int(tf.reduce_sum(both))
        raise ValueError(f"`positive` and `negative` masks overlap on {n} pixel(s); pass "
                         "overlap='unannotated'|'positive'|'negative' to choose a precedence.")
    if overlap == "positive":
        c = c - both
    elif overlap == "negative":
        f = f - both
    return f - c


# --------------------------------------------------------------------------- threshold


def _groups(maps, target, scope):
    b = tf.shape(maps)[0]
    if scope == "batch":
        return tf.reshape(maps, [1, -1]), tf.reshape(target, [1, -1])
    return tf.reshape(maps, [b, -1]), tf.reshape(target, [b, -1])


def adaptive_threshold(maps, target, scope="batch", normalize_counts=True, offset=1e-4,
                       default=0.5):
    """Adaptive threshold ``a`` of RES Algorithm 2 in ``O(m log m)``, batched.

    Picks the candidate ``a`` maximising the number of satisfied constraints

        score(a) = w_F · #{M_p ≥ a : H_p = 1} + w_C · #{M_p < a : H_p = −1}

    over candidates ``{M_p : H_p = 1} ∪ {M_p + offset : H_p = −1}`` (the code's
    ``+1e-4`` lets the candidate satisfy its own negative constraint, which
    Algorithm 1 counts via ``i + 1``). With ``normalize_counts`` (code)
    ``w_F = 1/|F|``, ``w_C = 1/|C|`` (a group without negatives, or without
    positives, contributes 0 — no NaN); otherwise ``w_F = w_C = 1`` (paper).
    Both counts come from ``tf.searchsorted`` on the sorted positive and
    negative values. The result is under ``stop_gradient``.

    Args:
      maps: ``(B, h, w)`` explanation maps ``M``.
      target: ``(B, h, w)`` ``H = F − C`` in ``{−1, 0, 1}``.
      scope: ``"batch"`` (one threshold for all annotated pixels of the batch:
        the code, and the paper's Eq. 6 sum over samples) or ``"sample"`` (one per
        sample).
      normalize_counts: divide counts by group size (code) or not (paper).
      offset: added to negative candidates (code: ``1e-4``).
      default: the threshold of a group with no annotated pixel (irrelevant to
        the loss: such a group has no hinge term).

    Returns:
      a scalar (``scope="batch"``) or ``(B,)`` thresholds.

    Example:
      >>> m = tf.constant([[[0.9, 0.2], [0.6, 0.1]]]); h = tf.constant([[[1., -1.], [1., 0.]]])
      >>> float(adaptive_threshold(m, h))   # 0.2 + 1e-4 already satisfies all three constraints
      0.20010000467300415
    """
    check_choice(scope, SCOPES, "scope")
    offset = check_float(offset, "offset")
    default = check_float(default, "default")
    maps = _as_maps(maps, "maps")
    target = _as_maps(target, "target")
    _same_shape(maps, "maps", target, "target")
    maps = tf.cast(tf.stop_gradient(maps), tf.float32)
    target = tf.cast(target, tf.float32)
    m, h = _groups(maps, target, scope)
    pos, neg = h > 0, h < 0
    inf = tf.constant(np.inf, tf.float32)
    # Non-members sort to the end as +inf and are never "< v" for finite v.
    pos_sorted = tf.sort(tf.where(pos, m, inf), axis=-1)
    neg_sorted = tf.sort(tf.where(neg, m, inf), axis=-1)
    n_pos = tf.reduce_sum(tf.cast(pos, tf.float32), -1, keepdims=True)
    n_neg = tf.reduce_sum(tf.cast(neg, tf.float32), -1, keepdims=True)
    # One candidate per annotated pixel (a pixel is never both), so each sorted
    # array is searched once per pixel rather than once per (pixel, kind).
    valid = pos | neg
    cand = tf.where(neg, m + offset, tf.where(pos, m, tf.zeros_like(m)))
    pos_below = tf.cast(tf.searchsorted(pos_sorted, cand, side="left"), tf.float32)
    neg_below = tf.cast(tf.searchsorted(neg_sorted, cand, side="left"), tf.float32)
    sat_pos = n_pos - pos_below
    if normalize_counts:
        score = tf.math.divide_no_nan(sat_pos, n_pos) + tf.math.divide_no_nan(neg_below, n_neg)
    else:
        score = sat_pos + neg_below
    # Ties go to negative candidates first, then positives, each in pixel order
    # (the brute force's order).
    minus_inf = tf.fill(tf.shape(score), -inf)
    score_neg, score_pos = tf.where(neg, score, minus_inf), tf.where(pos, score, minus_inf)
    neg_wins = tf.reduce_max(score_neg, -1) >= tf.reduce_max(score_pos, -1)
    best = tf.where(neg_wins, tf.argmax(score_neg, axis=-1, output_type=tf.int32),
                    tf.argmax(score_pos, axis=-1, output_type=tf.int32))
    a = tf.gather(cand, best, axis=-1, batch_dims=1)
    a = tf.where(tf.reduce_any(valid, -1), a, tf.fill(tf.shape(a), default))
    a = tf.stop_gradient(a)
    return a[0] if scope == "batch" else a


def threshold_objective(maps, target, a, normalize_counts=True):
    """The number (or group-normalised fraction) of constraints threshold ``a`` satisfies.

    Numpy reference used by the tests: ``w_F·#{M ≥ a on F} + w_C·#{M < a on C}``
    over one group (all pixels of ``maps``/``target`` given).
    """
    m = np.asarray(maps, np.float64).ravel()
    h = np.asarray(target).ravel()
    p, n = m[h > 0], m[h < 0]
    sp, sn = float(np.sum(p >= a)), float(np.sum(n < a))
    if normalize_counts:
        return (sp / p.size if p.size else 0.0) + (sn / n.size if n.size else 0.0)
    return sp + sn


def adaptive_threshold_bruteforce(maps, target, normalize_counts=True, offset=1e-4, default=0.5):
    """``O(m²)`` reference of the adaptive threshold (the authors' ``BF_solver`` design).

    Loops over every candidate in Python and counts the constraints it
    satisfies with a full comparison, as ``RES.py`` does. One group: all pixels
    of ``maps``/``target`` (numpy arrays). Ties resolve to the first candidate
    in the order negatives-then-positives, like :func:`adaptive_threshold`.

    Returns:
      ``(a, objective)`` as Python floats.
    """
    m = np.asarray(maps, np.float32).ravel()
    h = np.asarray(target).ravel()
    p, n = m[h > 0], m[h < 0]
    cands = list((m[h < 0] + np.float32(offset)).astype(np.float32)) + list(p)
    best_a, best = float(default), -np.inf
    for v in cands:
        sp, sn = float(np.sum(p >= v)), float(np.sum(n < v))
        if normalize_counts:
            s = (sp / p.size if p.size else 0.0) + (sn / n.size if n.size else 0.0)
        else:
            s = sp + sn
        if s > best:
            best, best_a = s, float(v)
    return best_a, (best if np.isfinite(best) else 0.0)


# --------------------------------------------------------------------------- loss pieces


def res_hinge(maps, target, alpha=0.01, gamma=5.0, threshold=None, scope="batch",
              threshold_scope=None, normalize_counts=True, offset=1e-4, sample_weight=None):
    """The robust hinge ``max{0, ‖[tanh(γ(M − a)) − H] ⊙ 1(H≠0)‖ − α}``.

    ``‖·‖`` is the mean absolute error over annotated pixels. ``scope="batch"``
    (code) pools the error over every annotated pixel of the batch and applies
    the hinge once; ``"sample"`` (paper's ``Σ_i``) applies it per sample and
    averages over samples that have annotated pixels (a sample without any
    drops out; an all-unannotated batch gives 0, never NaN).

    Args:
      maps: ``(B, h, w)`` maps ``M`` in ``[0, 1]`` (differentiable).
      target: ``(B, h, w)`` ``H`` in ``{−1, 0, 1}``.
      alpha: slack ``α ≥ 0``.
      gamma: tanh slope ``γ > 0`` (code: 5; the paper gives none).
      threshold: a fixed ``a`` (scalar or ``(B,)``); default: :func:`adaptive_threshold`.
      scope: ``"batch"`` or ``"sample"`` for the hinge.
      threshold_scope: scope of the threshold search (default: ``scope``).
      normalize_counts, offset: see :func:`adaptive_threshold`.
      sample_weight: optional ``(B,)`` weights ``≥ 0``, one per sample (``"sample"``
        scope: weights of the mean; ``"batch"`` scope: weights of each sample's pixels).

    Returns:
      scalar loss.
    """
    check_choice(scope, SCOPES, "scope")
    alpha = check_non_negative(alpha, "alpha")
    gamma = check_float(gamma, "gamma", low=0.0, low_inclusive=False)
    maps = _as_maps(maps, "maps")
    target = tf.cast(_as_maps(target, "target"), maps.dtype)
    _same_shape(maps, "maps", target, "target")
    if threshold is None:
        threshold = adaptive_threshold(maps, target, scope=threshold_scope or scope,
                                       normalize_counts=normalize_counts, offset=offset)
    dt = maps.dtype
    a = tf.stop_gradient(tf.cast(threshold, dt))
    if a.shape.rank == 1:
        a = a[:, None, None]
    ann = tf.cast(tf.not_equal(target, 0.0), dt)
    w = _check_weights(sample_weight, maps)
    err = tf.abs(tf.tanh(gamma * (maps - a)) - target) * ann
    if scope == "batch":
        wpix = ann * w[:, None, None]
        mean_err = tf.math.divide_no_nan(tf.reduce_sum(err * w[:, None, None]), tf.reduce_sum(wpix))
        has_any = tf.cast(tf.reduce_sum(wpix) > 0, dt)
        return tf.nn.relu(mean_err - alpha) * has_any
    n_ann = tf.reduce_sum(ann, [1, 2])
    per = tf.math.divide_no_nan(tf.reduce_sum(err, [1, 2]), n_ann)
    annotated = tf.cast(n_ann > 0, dt) * w
    per = tf.nn.relu(per - alpha) * tf.cast(n_ann > 0, dt)
    return tf.math.divide_no_nan(tf.reduce_sum(per * annotated), tf.reduce_sum(annotated))


def res_distance(maps, imputed, target=None, masked=True, sample_weight=None):
    """Distance term ``d(M ⊙ 1(H≠0), h ⊙ 1(H≠0))`` as a mean absolute error.

    ``masked=True`` (paper) averages ``|M − h|`` over annotated pixels of each
    sample, then over annotated samples; ``masked=False`` (code) averages over
    all pixels of every sample (``target`` then only decides which samples count,
    when given).

    Args:
      maps: ``(B, h, w)`` explanation maps.
      imputed: ``(B, h, w)`` imputed labels ``h(F, C)`` in ``[0, 1]`` (finite).
      target: ``(B, h, w)`` ``H`` (required when ``masked``).
      masked: mask by ``1(H ≠ 0)``.
      sample_weight: optional ``(B,)`` weights ``≥ 0``, one per sample.

    Returns:
      scalar.
    """
    maps = _as_maps(maps, "maps")
    imputed = tf.cast(_as_maps(imputed, "imputed"), maps.dtype)
    _same_shape(maps, "maps", imputed, "imputed")
    # A NaN label (e.g. a diverged learnable imputation) would turn the loss NaN.
    imputed = assert_values(imputed, "imputed", what="finite values")
    diff = tf.abs(maps - imputed)
    dt = maps.dtype
    w = _check_weights(sample_weight, maps)
    if target is None:
        if masked:
            raise ValueError("`target` is required when `masked=True`.")
        per = tf.reduce_mean(diff, [1, 2])
        return tf.math.divide_no_nan(tf.reduce_sum(per * w), tf.reduce_sum(w))
    target = tf.cast(_as_maps(target, "target"), dt)
    _same_shape(maps, "maps", target, "target")
    ann = tf.cast(tf.not_equal(target, 0.0), dt)
    n_ann = tf.reduce_sum(ann, [1, 2])
    if masked:
        per = tf.math.divide_no_nan(tf.reduce_sum(diff * ann, [1, 2]), n_ann)
    else:
        per = tf.reduce_mean(diff, [1, 2])
    w = w * tf.cast(n_ann > 0, dt)
    return tf.math.divide_no_nan(tf.reduce_sum(per * w), tf.reduce_sum(w))


def res_loss(maps, positive, negative=None, imputed=None, alpha=0.01, gamma=5.0,
             hinge_scope="batch", threshold_scope=None, normalize_counts=True, offset=1e-4,
             mask_distance_term=False, overlap="unannotated", sample_weight=None,
             return_parts=False):
    """The full RES explanation loss ``hinge + distance`` (Eq. 8); see :class:`RESLoss`.

    Returns a scalar, or ``(total, {"hinge", "distance", "threshold"})`` with
    ``return_parts``.
    """
    target = annotation_target(positive, negative, overlap=overlap)
    maps = _as_maps(maps, "maps")
    target = tf.cast(target, maps.dtype)
    _same_shape(maps, "maps", target, "positive")
    a = adaptive_threshold(maps, target, scope=threshold_scope or hinge_scope,
                           normalize_counts=normalize_counts, offset=offset)
    hinge = res_hinge(maps, target, alpha=alpha, gamma=gamma, threshold=a, scope=hinge_scope,
                      sample_weight=sample_weight)
    dist = tf.zeros([], maps.dtype)
    if imputed is not None:
        dist = res_distance(maps, imputed, target, masked=mask_distance_term,
                            sample_weight=sample_weight)
    total = hinge + dist
    if return_parts:
        return total, {"hinge": hinge, "distance": dist, "threshold": a}
    return total


@keras.saving.register_keras_serializable(package="keras_egl")
class RESLoss:
    """RES robust explanation loss (Gao et al., KDD 2022, Eq. 8) as a configurable callable.

        L = max{0, ‖[tanh(γ(M − a)) − H] ⊙ 1(H≠0)‖ − α} + d(M[⊙1(H≠0)], h(F, C)[⊙1(H≠0)])

    Call: ``loss(maps, positive, negative=None, imputed=None, sample_weight=None)``
    with ``maps`` ``(B, h, w)`` in ``[0, 1]`` and masks already at the map's
    resolution (binary). ``imputed`` is ``h(F, C)`` (e.g. from
    :class:`keras_egl.layers.imputation.GaussianImputation`); without it only
    the hinge is used.

    Args:
      alpha: slack ``α`` (paper: 0.001 gender, 0.01 scene; code README: 0.1).
      gamma: tanh slope (code: 5).
      hinge_scope: ``"batch"`` (code) or ``"sample"`` (paper).
      threshold_scope: scope of ``a`` (default = ``hinge_scope``).
      normalize_counts: group-normalised threshold counts (code) or raw (paper).
      offset: the code's ``+1e-4`` on negative candidates.
      mask_distance_term: mask ``d`` by ``1(H≠0)`` (paper) or not (code).
      overlap: precedence for pixels in both masks (see :func:`annotation_target`).

    Example:
      >>> loss = RESLoss.preset("code", alpha=0.01)
      >>> value = loss(cam7, pos7, neg7, imputed=h7)
    """

    def __init__(self, alpha=0.01, gamma=5.0, hinge_scope="batch", threshold_scope=None,
                 normalize_counts=True, offset=1e-4, mask_distance_term=False,
                 overlap="unannotated"):
        check_choice(hinge_scope, SCOPES, "hinge_scope")
        if threshold_scope is not None:
            check_choice(threshold_scope, SCOPES, "threshold_scope")
        self.alpha = check_non_negative(alpha, "alpha")
        self.gamma = check_float(gamma, "gamma", low=0.0, low_inclusive=False)
        self.hinge_scope = hinge_scope
        self.threshold_scope = threshold_scope
        self.normalize_counts = check_bool(normalize_counts, "normalize_counts")
        self.offset = check_float(offset, "offset")
        self.mask_distance_term = check_bool(mask_distance_term, "mask_distance_term")
        self.overlap = check_choice(overlap, OVERLAPS, "overlap")

    @classmethod
    def preset(cls, fidelity="code", **overrides):
        """``"code"``: the authors' ``RES.py``; ``"paper"``: KDD Eq. 5–8 + Algorithm 1."""
        check_choice(fidelity, FIDELITIES, "fidelity")
        if fidelity == "code":
            cfg = dict(hinge_scope="batch", normalize_counts=True, mask_distance_term=False)
        else:
            cfg = dict(hinge_scope="sample", threshold_scope="batch", normalize_counts=False,
                       mask_distance_term=True)
        cfg.update(overrides)
        return cls(**cfg)

    def __call__(self, maps, positive, negative=None, imputed=None, sample_weight=None,
                 return_parts=False):
        return res_loss(maps, positive, negative, imputed, alpha=self.alpha, gamma=self.gamma,
                        hinge_scope=self.hinge_scope, threshold_scope=self.threshold_scope,
                        normalize_counts=self.normalize_counts, offset=self.offset,
                        mask_distance_term=self.mask_distance_term, overlap=self.overlap,
                        sample_weight=sample_weight, return_parts=return_parts)

    def get_config(self):
        return dict(alpha=self.alpha, gamma=self.gamma, hinge_scope=self.hinge_scope,
                    threshold_scope=self.threshold_scope, normalize_counts=self.normalize_counts,
                    offset=self.offset, mask_distance_term=self.mask_distance_term,
                    overlap=self.overlap)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
