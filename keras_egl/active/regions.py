"""Candidate feedback regions for a person to accept or reject (Bekkemoen 2021, §4.2).

The thesis's "feedback selection" helper, shown there only qualitatively on an
ImageNet VGG:

1. ``V = ∇_X y_c`` (logit gradient) and ``U`` = Grad-CAM of the last conv
   layer **without ReLU**, bilinearly upsampled to the input size;
2. sign choice: ``"positive"`` (default) keeps ``V·1[V>0]``, ``"negative"``
   keeps ``|V|·1[V<0]``, ``"absolute"`` keeps ``|V|`` (same for ``U``);
   a multi-channel ``V`` is summed over channels first;
3. threshold (eqs. 4.4–4.7, ill-formed as printed): we implement the
   "top-mass" reading — keep the largest values whose total is at most a
   ``λ₁`` share of the map's mass (:func:`top_mass_threshold`), for ``V`` and
   ``U`` alike (Fig. 4.4: λ = 0.2);
4. ``W = V ⊙ U``;
5. SLIC superpixels (scikit-image, ``start_label=1`` so no segment collides
   with the 0 of "not selected") for several ``n_segments``; for each, the
   superpixels intersecting ``{W > 0}``; keep the segmentation whose selected
   area is **smallest**.

The optional step 6 (merging segments inside a detector's boxes) needs an
unnamed semantic-segmentation network and is not implemented. The regions a
person selects are OR-ed into ``F`` with :func:`regions_to_mask`.
"""

import numpy as np

from keras_egl._keras import tf
from keras_egl.explain.grad_cam import grad_cam
from keras_egl.explain.gradients import input_gradients
from keras_egl.validation import check_float, check_positive_int

__all__ = ["top_mass_threshold", "apply_sign", "propose_feedback_regions", "regions_to_mask", "SIGNS"]

SIGNS = ("positive", "negative", "absolute")


def _as_map(m):
    arr = np.asarray(m)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"`m` must be a real-valued map; got dtype {arr.dtype}.")
    arr = arr.astype(np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError("`m` must hold finite values; got NaN or infinite entries.")
    return arr


def apply_sign(m, sign="positive"):
    """Step 2: keep the positive part, the magnitude of the negative part, or ``|m|``."""
    if sign not in SIGNS:
        raise ValueError(f"`sign` must be one of {SIGNS}; got {sign!r}.")
    m = _as_map(m)
    if sign == "positive":
        return np.where(m > 0, m, 0.0)
    if sign == "negative":
        return np.where(m < 0, -m, 0.0)
    return np.abs(m)


def top_mass_threshold(m, lambda1):
    """Keep the largest entries of a non-negative map whose total mass is ≤ ``λ₁``·total.

    Entries are sorted in decreasing order and kept while the cumulative sum
    stays within ``λ₁ · Σ m`` (ties at the threshold are all dropped, so the
    constraint always holds). ``λ₁ = 1`` keeps everything; an all-zero map
    stays zero.

    Returns:
      the thresholded map (same shape).
    """
    lambda1 = check_float(lambda1, "lambda1", low=0.0, high=1.0)
    m = _as_map(m)
    if np.any(m < 0):
        raise ValueError("`m` must be non-negative (apply the sign choice first).")
    total = m.sum()
    if total <= 0:
        return np.zeros_like(m)
    if lambda1 >= 1:
        return m.copy()
    flat = np.sort(m.ravel())[::-1]
    csum = np.cumsum(flat)
    n_keep = int(np.searchsorted(csum, lambda1 * total * (1 + 1e-12), side="right"))
    if n_keep == 0:
        return np.zeros_like(m)
    theta = flat[n_keep - 1]
    keep = m > theta if (n_keep < flat.size and flat[n_keep] == theta) else m >= theta
    return np.where(keep & (m > 0), m, 0.0)


def propose_feedback_regions(model, x, class_index, layer_name, sign="positive", lambda1=0.2,
                             n_segments=(60, 120, 240), compactness=10.0, segment_image=None, seed=0):
    """Candidate regions (§4.2) for one image.

    Args:
      model: a Keras classifier returning logits (for a Bayesian model, call it
        inside ``keras_egl.layers.bayesian.mean_weights``).
      x: one image ``(H, W, C)`` (float).
      class_index: the class ``c`` the annotator inspects.
      layer_name: the last conv layer for Grad-CAM.
      sign: ``"positive"`` (default), ``"negative"`` or ``"absolute"``.
      lambda1: top-mass share kept by the threshold (0.2 in Fig. 4.4).
      n_segments: SLIC ``n_segments`` values tried (Fig. 4.5 uses 120).
      compactness: SLIC compactness.
      segment_image: image to segment (default ``x``; e.g. the un-normalised image).
      seed: unused by SLIC (deterministic); kept for the API's seed convention.

    Returns:
      dict ``regions`` int ``(H, W)`` (0 = not proposed, 1..k = candidate
      regions, relabelled consecutively), ``w`` the combined map ``V ⊙ U``,
      ``v``, ``u`` (after sign and threshold) and ``n_segments`` chosen.

    Example:
      >>> out = propose_feedback_regions(net, img, class_index=3, layer_name="conv3")
      >>> F = regions_to_mask(out["regions"], accepted=[1, 2])
    """
    from skimage.segmentation import slic

    del seed
    if sign not in SIGNS:
        raise ValueError(f"`sign` must be one of {SIGNS}; got {sign!r}.")
    check_float(lambda1, "lambda1", low=0.0, high=1.0)
    class_index = check_positive_int(class_index, "class_index", minimum=0)
    if isinstance(n_segments, (int, np.integer)):
        n_segments = (n_segments,)
    if not n_segments or not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1
                                 for n in n_segments):
        raise ValueError(f"`n_segments` must be positive ints (SLIC segment counts); got {n_segments!r}.")
    x = np.asarray(x, np.float32)
    if x.ndim != 3:
        raise ValueError(f"`x` must be one image (H, W, C); got shape {x.shape}.")
    n_out = model(x[None]).shape[-1]
    n_classes = 2 if n_out == 1 else n_out
    if class_index >= n_classes:
        raise ValueError(f"`class_index` must be in [0, {n_classes}); got {class_index}.")
    xb = tf.convert_to_tensor(x[None])
    v = input_gradients(model, xb, target=int(class_index), quantity="logit").numpy()[0].sum(-1)
    u = grad_cam(model, xb, layer_name, target=int(class_index), relu=False, normalize=None,
                 upsample="bilinear").numpy()[0]
    v = top_mass_threshold(apply_sign(v, sign), lambda1)
    u = top_mass_threshold(apply_sign(u, sign), lambda1)
    w = v * u
    img = x if segment_image is None else np.asarray(segment_image, np.float32)
    channel_axis = -1 if img.ndim == 3 and img.shape[-1] > 1 else None
    if channel_axis is None and img.ndim == 3:
        img = img[..., 0]
    best, best_area, best_n = None, None, None
    for n in n_segments:
        seg = slic(img.astype(np.float64), n_segments=int(n), compactness=float(compactness),
                   start_label=1, channel_axis=channel_axis)
        hit = np.unique(seg[w > 0])
        selected = np.where(np.isin(seg, hit), seg, 0)
        area = int(np.count_nonzero(selected))
        if best is None or area < best_area:
            best, best_area, best_n = selected, area, int(n)
    labels = np.unique(best[best > 0])
    regions = np.zeros_like(best)
    for k, lab in enumerate(labels, start=1):
        regions[best == lab] = k
    return {"regions": regions, "w": w, "v": v, "u": u, "n_segments": best_n}


def regions_to_mask(regions, accepted):
    """OR the person's chosen regions into a feedback mask ``F`` (1 = irrelevant)."""
    regions = np.asarray(regions)
    if regions.dtype.kind not in "iu":
        raise TypeError(f"`regions` must be an integer label image (H, W); got dtype {regions.dtype}.")
    if regions.ndim != 2:
        raise ValueError(f"`regions` must be a label image (H, W); got shape {regions.shape}.")
    accepted = np.atleast_1d(np.asarray(accepted))
    if accepted.dtype.kind not in "biuf" or (accepted.size and not np.all(accepted == np.round(accepted))):
        raise ValueError(f"`accepted` must be integer region labels; got {accepted.tolist()}.")
    accepted = accepted.astype(regions.dtype)
    if np.any(accepted < 1):
        raise ValueError("`accepted`: region labels start at 1 (0 = not proposed); got "
                         f"{accepted[accepted < 1].tolist()}.")
    unknown = np.setdiff1d(accepted, regions)
    if unknown.size:
        raise ValueError(f"`accepted` names region(s) {unknown.tolist()} that `regions` does not contain "
                         f"(labels 1..{int(regions.max())}).")
    return np.isin(regions, accepted).astype(np.float32)
