"""Toy Colors (Ross, Hughes & Doshi-Velez, IJCAI 2017): two rules, one label.

5×5 RGB images whose pixels take one of four colours — red (255, 0, 0),
green (0, 255, 0), blue (0, 128, 255) and violet (128, 0, 255) — with labels
drawn Bernoulli(0.5):

* **class 0** satisfies both rules: (rule 1) the four corners share one colour
  and (rule 2) the three top-middle pixels are all different;
* **class 1** violates both: one pair of opposite corners differs, and the
  top-middle contains a repeat.

Either rule alone decides the class, so a model can learn either; annotating
one region (``CORNERS`` or ``TOP_MIDDLE``) as irrelevant selects the other rule.
The generator follows the reference's procedure (uniform colours, then the
class-0 corners copied from the bottom-right one; random repairs of one
top-middle pixel at a time until rule 2 holds/fails; for class 1 a random
diagonal's first corner resampled until it differs), vectorised over images.
Images are returned flattened to 75 uint8 values on the 0–255 scale
(reference layout: row, column, channel).

Scores (:func:`rule_scores`): the fraction of the largest-gradient mask
``M_0.67`` (OR-ed over RGB) that falls in the corners / in the top-middle,
averaged over examples.
"""

import numbers

import numpy as np

from keras_egl.validation import check_float, check_positive_int

__all__ = ["COLORS", "SHAPE", "CORNERS", "TOP_MIDDLE", "toy_colors", "generate_images",
           "rule1_holds", "rule2_holds", "annotation", "region_fraction", "rule_scores"]

COLORS = np.array([[255, 0, 0], [0, 255, 0], [0, 128, 255], [128, 0, 255]], dtype=np.uint8)
SHAPE = (5, 5, 3)

_CORNERS_2D = np.zeros((5, 5), bool)
_CORNERS_2D[[0, 0, 4, 4], [0, 4, 0, 4]] = True
_TOPMID_2D = np.zeros((5, 5), bool)
_TOPMID_2D[0, 1:4] = True
#: flat (75,) bool masks over all three channels (the reference's ignore_rule1 / ignore_rule2)
CORNERS = np.repeat(_CORNERS_2D[:, :, None], 3, axis=2).ravel()
TOP_MIDDLE = np.repeat(_TOPMID_2D[:, :, None], 3, axis=2).ravel()


def _random_colors(rng, shape):
    return rng.integers(0, len(COLORS), size=shape)


def _has_repeat(row3):
    # row3: (n, 3) colour indices
    return (row3[:, 0] == row3[:, 1]) | (row3[:, 0] == row3[:, 2]) | (row3[:, 1] == row3[:, 2])


def _check_seed(seed):
    if seed is None or isinstance(seed, (np.random.SeedSequence, np.random.Generator)):
        return seed
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"`seed` must be an int, a SeedSequence or None; got {type(seed).__name__} {seed!r}.")
    return seed


def generate_images(labels, seed=None):
    """Images ``(N, 75)`` uint8 for the given 0/1 ``labels`` (see the module docstring)."""
    labels = np.asarray(labels).ravel()
    if labels.size and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"`labels` must be 0/1; got values {np.unique(labels)[:10]}.")
    _check_seed(seed)
    rng = np.random.default_rng(seed)
    n = len(labels)
    img = _random_colors(rng, (n, 5, 5))  # colour indices
    c0 = labels == 0
    c1 = ~c0
    # Rule 1 for class 0: all corners copy the bottom-right one.
    for r, c in ((0, 0), (0, 4), (4, 0)):
        img[c0, r, c] = img[c0, 4, 4]
    # Rule 1 for class 1: one diagonal's corners must differ.
    anti = rng.random(n) < 0.5  # True: (top-right, bottom-left); False: (top-left, bottom-right)
    for use_anti, (r1, c1_), (r2, c2) in ((True, (0, 4), (4, 0)), (False, (0, 0), (4, 4))):
        sel = c1 & (anti == use_anti)
        while True:
            bad = sel & (img[:, r1, c1_] == img[:, r2, c2])
            if not bad.any():
                break
            img[bad, r1, c1_] = _random_colors(rng, bad.sum())
    # Rule 2: repair one random top-middle pixel at a time.
    while True:
        rep = _has_repeat(img[:, 0, 1:4])
        bad = (c0 & rep) | (c1 & ~rep)
        if not bad.any():
            break
        idx = np.flatnonzero(bad)
        pos = 1 + rng.integers(0, 3, size=idx.size)
        img[idx, 0, pos] = _random_colors(rng, idx.size)
    return COLORS[img].reshape(n, -1)


def toy_colors(n=20000, n_test=None, seed=0):
    """The Toy Colors data set: ``(X, y, Xt, yt)``.

    Args:
      n: training images (reference 20,000).
      n_test: test images (default ``n``).
      seed: seed of labels and images.

    Returns:
      ``X, Xt`` uint8 ``(n, 75)``; ``y, yt`` int64 0/1.
    """
    n = check_positive_int(n, "n")
    n_test = n if n_test is None else check_positive_int(n_test, "n_test")
    _check_seed(seed)
    ss = np.random.SeedSequence(seed)
    s1, s2, s3, s4 = ss.spawn(4)
    y = (np.random.default_rng(s1).random(n) < 0.5).astype(np.int64)
    yt = (np.random.default_rng(s2).random(n_test) < 0.5).astype(np.int64)
    return generate_images(y, s3), y, generate_images(yt, s4), yt


def _colors_2d(X):
    X = np.asarray(X).reshape(-1, 5, 5, 3)
    return X


def rule1_holds(X):
    """``(N,)`` bool: all four corners share one colour."""
    X = _colors_2d(X)
    c = [X[:, r, k] for r, k in ((0, 0), (0, 4), (4, 0), (4, 4))]
    return np.all([np.all(ci == c[3], axis=-1) for ci in c[:3]], axis=0)


def rule2_holds(X):
    """``(N,)`` bool: the three top-middle pixels are all different."""
    X = _colors_2d(X)
    a, b, c = X[:, 0, 1], X[:, 0, 2], X[:, 0, 3]
    same = lambda u, v: np.all(u == v, axis=-1)  # noqa: E731
    return ~(same(a, b) | same(a, c) | same(b, c))


def annotation(kind, n):
    """``A`` ``(n, 75)`` float32 for ``kind`` in ``"corners"``, ``"top_middle"``, ``"both"``, ``"none"``.

    ``A`` marks the region declared irrelevant (a wrong reason): feed it as
    ``"neg_mask"`` (or pass it to ``fit_rrr(..., annotation=A)``).
    """
    masks = {"corners": CORNERS, "top_middle": TOP_MIDDLE, "both": CORNERS | TOP_MIDDLE,
             "none": np.zeros(75, bool)}
    if kind not in masks:
        raise ValueError(f"`kind` must be one of {sorted(masks)}; got {kind!r}.")
    return np.tile(masks[kind].astype(np.float32), (check_positive_int(n, "n", minimum=0), 1))


def region_fraction(mask2d, region2d):
    """Per-example fraction of a 2-D mask ``(N, 5, 5)`` inside ``region2d``; NaN for empty masks."""
    mask2d = np.asarray(mask2d, bool).reshape(-1, 25)
    region = np.asarray(region2d, bool).reshape(25)
    total = mask2d.sum(1).astype(float)
    inside = mask2d[:, region].sum(1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, inside / np.maximum(total, 1), np.nan)


def rule_scores(model, X, cutoff=0.67, target="max_prob"):
    """``(corner_score, top_middle_score)``: how much of ``M_c`` (OR-ed over RGB) lies in each region.

    Follows the reference's ``rule1_score`` / ``rule2_score``: ∇ max prob,
    ``|g| > c·max|g|`` per example, a pixel counts if any channel does, then the
    mean over examples of the fraction inside the region (examples with an
    empty mask are skipped).
    """
    from keras_egl.explain.gradients import input_gradients
    from keras_egl._keras import tf

    from keras_egl.explain.targets import NAMED_TARGETS

    cutoff = check_float(cutoff, "cutoff", low=0.0, high=1.0)
    if isinstance(target, str) and target not in NAMED_TARGETS + ("pred",):
        raise ValueError(f"`target` must be one of {NAMED_TARGETS + ('pred',)} or a class; got {target!r}.")
    X = np.asarray(X, dtype=np.float32)
    if X.ndim < 2 or int(np.prod(X.shape[1:])) != 75 or len(X) == 0:
        raise ValueError(f"`X` must be a non-empty batch of Toy Colors images (N, 75) or (N, 5, 5, 3); got shape "
                         f"{X.shape}.")
    masks = []
    for start in range(0, len(X), 2048):
        g = input_gradients(model, tf.constant(X[start:start + 2048]), target=target,
                            stop_gradient=True).numpy().reshape(-1, 5, 5, 3)
        mag = np.abs(g)
        m = mag > cutoff * mag.reshape(len(g), -1).max(1)[:, None, None, None]
        masks.append(m.any(-1))
    m2 = np.concatenate(masks, 0)
    corner = region_fraction(m2, _CORNERS_2D)
    topmid = region_fraction(m2, _TOPMID_2D)
    return float(np.nanmean(corner)), float(np.nanmean(topmid))
