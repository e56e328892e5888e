"""Mask and map utilities shared by the explanation-guided methods.

Three families of batched, differentiable ops:

* :func:`normalize_map` — per-sample (per-channel) normalisation of saliency
  maps and masks (``"minmax"``, ``"relu_minmax"``, ``"max"``,
  ``"max_positive"``), optionally over the valid entries of a mask (padded
  graph nodes), NaN-safe: a constant map becomes zeros and its gradient is
  finite (zero), never NaN. It is the one normalisation of keras_egl: the
  metrics (:func:`keras_egl.metrics.explanation.normalize_maps`) and graph
  explanations (:func:`keras_egl.explain.graph.normalize_graph_map`) call it.
* :func:`adaptive_max_pool2d` / :func:`adaptive_min_pool2d` — PyTorch's
  ``adaptive_max_pool2d`` bin rule, used by Bekkemoen's Bayesian explanation
  feedback to map an input-resolution mask onto the last conv layer's grid
  (thesis eq. 5.10), plus the *erosion* variant of the 2024 code.
* :func:`resize_mask` — resizing annotation masks to an explanation's
  resolution the ways the original codes do: nearest (RES, ``cv2.INTER_NEAREST``)
  and area + 3×3 Gaussian blur (GRADIA, ``cv2.INTER_AREA`` then
  ``cv2.GaussianBlur((3, 3), 0)``).

Layouts are channels-last: ``(B, H, W)`` or ``(B, H, W, C)``; the spatial size
must be static (known when a ``tf.function`` is traced), the batch may be
dynamic.
"""

import numpy as np

from keras_egl._keras import tf
from keras_egl.validation import check_bool, check_choice, check_pair

#: The options of :func:`normalize_map` (each name has one meaning, documented there).
NORMALIZE_METHODS = ("minmax", "relu_minmax", "max", "max_positive", None)
RESIZE_METHODS = ("nearest", "nearest_exact", "area", "area_blur")

# OpenCV's fixed 3-tap kernel: cv2.getGaussianKernel(3, sigma<=0) returns this
# table (not a sampled Gaussian), and GaussianBlur((3, 3), 0) uses it per axis.
_BLUR_3TAP = (0.25, 0.5, 0.25)


# --------------------------------------------------------------------------- helpers


def _as_float(x, name):
    x = tf.convert_to_tensor(x)
    if x.dtype.is_floating:
        return x
    if x.dtype.is_integer or x.dtype == tf.bool:
        return tf.cast(x, tf.float32)
    raise TypeError(f"`{name}` must be a real (float, int or bool) tensor; got dtype {x.dtype.name}.")


def _check_image_rank(x, name):
    rank = x.shape.rank
    if rank not in (3, 4):
        raise ValueError(
            f"`{name}` must have shape (B, H, W) or (B, H, W, C); got shape {x.shape}."
        )
    h, w = x.shape[1], x.shape[2]
    if h is None or w is None:
        raise ValueError(
            f"`{name}` must have a static spatial size (H, W) (give the tf.function an "
            f"input_signature with fixed H and W); got shape {x.shape}."
        )
    if h == 0 or w == 0:
        raise ValueError(f"`{name}` has an empty spatial size; got shape {x.shape}.")
    return int(h), int(w)


def _safe_threshold(dtype):
    # Ranges below sqrt(smallest normal) count as "constant": dividing by them
    # would overflow the gradient (∂/∂r (a/r) = -a/r²), so they map to zero.
    try:
        tiny = float(np.finfo(dtype.as_numpy_dtype).tiny)
    except (TypeError, ValueError):  # pragma: no cover - exotic dtypes
        tiny = float(np.finfo(np.float32).tiny)
    return float(np.sqrt(tiny))


# --------------------------------------------------------------------------- normalisation


def _default_axes(rank):
    if rank == 2:
        return (1,)  # (B, N): nodes / features
    if rank == 3:
        return (1, 2)  # (B, H, W)
    return tuple(range(1, rank - 1))  # channels-last: every axis but batch and channels


def _norm_axes(axis, rank):
    if axis is None:
        return _default_axes(rank)
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise TypeError(f"`axis` must be an int or a tuple of ints; got {axis!r}.")
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or isinstance(a, bool):
            raise TypeError(f"`axis` must be an int or a tuple of ints; got {axis!r}.")
        if not -rank <= a < rank:
            raise ValueError(f"`axis` {a} is out of range for a map of rank {rank}.")
        a = int(a) % rank
        if a == 0:
            raise ValueError(
                f"`axis` must not include the batch axis 0 (maps are normalised per sample); got {axis!r}."
            )
        out.append(a)
    if len(set(out)) != len(out) or not out:
        raise ValueError(f"`axis` must list distinct, non-batch axes; got {axis!r}.")
    return tuple(sorted(out))


def _safe_divide(numerator, denominator, epsilon):
    """``numerator / (denominator + epsilon)``, 0 where ``denominator`` is (near) zero.

    Both branches of the ``tf.where`` are finite (the double-where trick), so
    the gradient is finite everywhere, including for constant maps.
    """
    ok = denominator > _safe_threshold(numerator.dtype)
    safe_den = tf.where(ok, denominator + epsilon, tf.ones_like(denominator))
    return tf.where(ok, numerator / safe_den, tf.zeros_like(numerator))


def as_map_batch(x, name, dtype=None):
    """A batch of single-channel maps ``(B, h, w)`` from ``(B, h, w)`` or ``(B, h, w, 1)``.

    The one input check every mask/explanation loss shares. Booleans and
    integers become ``float32`` (or ``dtype``); floats keep their dtype unless
    ``dtype`` is given. A trailing axis other than 1, or any other rank, is an
    error naming ``name`` — a multi-channel mask is never silently reduced.
    """
    if x is None:
        raise ValueError(f"`{name}` is required; got None.")
    x = tf.convert_to_tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise TypeError(f"`{name}` must be a real or boolean tensor; got dtype {x.dtype.name}.")
    if dtype is not None:
        x = tf.cast(x, dtype)
    elif not x.dtype.is_floating:
        x = tf.cast(x, tf.float32)
    if x.shape.rank == 4:
        if x.shape[-1] != 1:
            raise ValueError(f"`{name}` must have shape (B, h, w) or (B, h, w, 1); got {x.shape} "
                             f"(last axis {x.shape[-1]} is not a single channel).")
        x = x[..., 0]
    if x.shape.rank != 3:
        raise ValueError(f"`{name}` must have shape (B, h, w) or (B, h, w, 1); got shape {x.shape}.")
    return x


def _valid_mask(mask, m):
    """``mask`` as a 0/1 tensor of ``m``'s dtype (non-zero = valid), rank-checked."""
    mask = tf.convert_to_tensor(mask)
    if not (mask.dtype.is_floating or mask.dtype.is_integer or mask.dtype == tf.bool):
        raise TypeError(f"`mask` must be a real or boolean tensor; got dtype {mask.dtype.name}.")
    if mask.shape.rank != m.shape.rank or not all(
            a is None or b is None or a == b or a == 1 for a, b in zip(mask.shape, m.shape)):
        raise ValueError(f"`mask` must have the shape of `m` {tuple(m.shape)} (or broadcast to it "
                         f"along size-1 axes); got shape {tuple(mask.shape)}.")
    return tf.cast(tf.not_equal(mask, tf.zeros((), mask.dtype)), m.dtype)


def normalize_map(m, method="minmax", axis=None, epsilon=0.0, mask=None):
    """Normalise saliency maps or masks per sample, NaN-safely.

    The one normalisation of keras_egl (the metrics' :func:`normalize_maps` and
    the graph explanations' :func:`normalize_graph_map` are thin wrappers).
    For each sample (and, by default, each channel) with values ``m`` over the
    normalised axes — only over the valid entries when ``mask`` is given:

    ==================  ===========================================  =====================
    ``method``          result                                       range
    ==================  ===========================================  =====================
    ``"minmax"``        ``(m − min m) / (max m − min m)``            [0, 1]
    ``"relu_minmax"``   ``"minmax"`` of ``ReLU(m)`` (Grad-CAM's      [0, 1]
                        usual map)
    ``"max"``           ``m / max |m|`` (sign kept)                  [−1, 1] ([0, 1] if m ≥ 0)
    ``"max_positive"``  ``m / max m`` if ``max m > 0``, else all     (−∞, 1]; [0, 1] if m ≥ 0
                        zeros: a map with no positive evidence
                        is zero (never flipped in sign)
    ``None``            ``m`` unchanged (cast to float; times the
                        mask if one is given)
    ==================  ===========================================  =====================

    On non-negative maps (ReLU'd Grad-CAMs, masks) ``"max"`` and
    ``"max_positive"`` agree exactly. They differ on signed maps: ``"max"``
    divides by the largest magnitude (``[-4, 2, 1] → [-1, 0.5, 0.25]``),
    ``"max_positive"`` by the largest value (``[-4, 2, 1] → [-2, 1, 0.5]``) and
    sends a map whose maximum is ``≤ 0`` to zeros (``[-4, -2] → [0, 0]``).
    ``"max_positive"`` is the explanation metrics' and GNES's "(0, 1] by
    dividing by the maximum" (RES and GNES papers) with keras_egl's deliberate
    convention for maps without positive evidence (the papers' formula would
    divide by zero or flip the sign there; see ``docs/FIDELITY.md``).

    A map whose denominator (range for ``"minmax"``, ``max |m|`` for ``"max"``,
    ``max(max m, 0)`` for ``"max_positive"``) is zero — or below
    ``sqrt(finfo(dtype).tiny)`` (≈1e-19 in float32), where the division's
    gradient would overflow — becomes all zeros with a zero gradient, never
    NaN or inf. So a constant map gives zeros under ``"minmax"``; under
    ``"max"`` only the all-zero map does (a constant ``c ≠ 0`` gives
    ``sign(c)``). The result is differentiable (``tf.reduce_min``/
    ``tf.reduce_max`` split the gradient between ties).

    GRADIA's and RES's training Grad-CAM is ``"minmax"`` without ReLU (RES adds
    ``epsilon=1e-6`` to the denominator); GRADIA's label preprocessing divides
    by the max (``"max"``; labels are non-negative, so ``max |m| = max m``).

    Args:
      m: maps of shape ``(B, N)`` (node/feature scores), ``(B, H, W)`` or
        ``(B, H, W, C)`` (or any rank ≥ 2 with batch first). Integer or bool
        maps are cast to float32. Input must be finite (NaN propagates).
      method: ``"minmax"``, ``"relu_minmax"``, ``"max"``, ``"max_positive"``
        or ``None`` (see the table).
      axis: the axes to normalise over. Default: all axes but the batch for
        rank 2 and 3, the spatial axes ``1 .. rank-2`` (per channel) for rank
        ≥ 4. Must not include the batch axis 0.
      epsilon: added to the denominator (where it is non-zero), e.g. ``1e-6``
        to follow RES's code; default ``0``.
      mask: optional valid-entry mask of ``m``'s rank (non-zero = valid; size-1
        axes broadcast), e.g. the real nodes ``(B, N)`` of padded graphs or
        their pairs ``(B, N, N)`` for edge maps. The min/max are taken over the
        valid entries only (padding never sets the scale) and the result is
        zero on invalid entries. A sample with no valid entry becomes zeros.

    Returns:
      A float tensor of the shape of ``m``.

    Example:
      >>> cam = tf.constant([[[1., 3.], [2., 2.]], [[5., 5.], [5., 5.]]])
      >>> normalize_map(cam, "minmax").numpy()[:, 0]
      array([[0. , 1. ],
             [0. , 0. ]], dtype=float32)
      >>> normalize_map(tf.constant([[-4., 2., 1.], [-4., -2., 0.]]), "max_positive").numpy()
      array([[-2. ,  1. ,  0.5],
             [ 0. ,  0. ,  0. ]], dtype=float32)
    """
    check_choice(method, NORMALIZE_METHODS, "method")
    m = _as_float(m, "m")
    rank = m.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"`m` must have a batch axis and at least one map axis; got shape {m.shape}.")
    axes = _norm_axes(axis, rank)
    if isinstance(epsilon, (bool, np.bool_)) or not isinstance(epsilon, (int, float, np.floating, np.integer)) \
            or not np.isfinite(epsilon) or epsilon < 0:
        raise ValueError(f"`epsilon` must be a non-negative number; got {epsilon!r}.")
    keep = None if mask is None else _valid_mask(mask, m)
    if method is None:
        return m if keep is None else m * keep
    if method == "relu_minmax":
        m = tf.nn.relu(m)
    eps = tf.cast(epsilon, m.dtype)
    big = float(m.dtype.max)  # fill of invalid entries: never their min or max

    def reduce(fn, values, fill):
        if keep is not None:
            values = tf.where(keep > 0, values, tf.constant(fill, m.dtype))
        return fn(values, axis=axes, keepdims=True)

    if method == "max":
        out = _safe_divide(m, reduce(tf.reduce_max, tf.abs(m), 0.0), eps)
    elif method == "max_positive":
        out = _safe_divide(m, tf.maximum(reduce(tf.reduce_max, m, -big), 0.0), eps)
    else:
        lo = reduce(tf.reduce_min, m, big)
        hi = reduce(tf.reduce_max, m, -big)
        out = _safe_divide(m - lo, hi - lo, eps)
    return out if keep is None else out * keep


# --------------------------------------------------------------------------- adaptive pooling


def adaptive_pool_bins(in_size, out_size):
    """PyTorch's adaptive-pooling bins: ``[⌊i·n/o⌋, ⌈(i+1)·n/o⌉)`` for ``i < o``.

    Bins cover the input, may overlap when ``n`` is not a multiple of ``o``, and
    repeat single pixels when ``o > n``.

    Returns:
      A list of ``(start, end)`` pairs (end exclusive).
    """
    return [((i * in_size) // out_size, -((-(i + 1) * in_size) // out_size)) for i in range(out_size)]


def _bin_index(in_size, out_size):
    # Pad every bin to the longest bin by repeating its last index: max/min are
    # idempotent, so the duplicates change neither the value nor (after the
    # gather's gradient sums them back) the gradient.
    bins = adaptive_pool_bins(in_size, out_size)
    width = max(e - s for s, e in bins)
    idx = np.array([[min(s + j, e - 1) for j in range(width)] for s, e in bins], dtype=np.int32)
    return tf.constant(idx)


def _adaptive_pool(x, output_size, reducer, name):
    x = tf.convert_to_tensor(x)
    if x.dtype == tf.bool:
        x = tf.cast(x, tf.float32)
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"`{name}` must be a real (float, int or bool) tensor; got dtype {x.dtype.name}.")
    h, w = _check_image_rank(x, name)
    oh, ow = check_pair(output_size, "output_size")
    # max/min are separable over a rectangle: pool rows, then columns.
    x = reducer(tf.gather(x, _bin_index(h, oh), axis=1), axis=2)  # (B, oh, W[, C])
    return reducer(tf.gather(x, _bin_index(w, ow), axis=2), axis=3)  # (B, oh, ow[, C])


def adaptive_max_pool2d(x, output_size, erode=False):
    """Adaptive max pooling with PyTorch's bin rule, batched and differentiable.

    Output cell ``(i, j)`` is the max of ``x`` over rows
    ``[⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉)`` and columns ``[⌊j·W/ow⌋, ⌈(j+1)·W/ow⌉)``,
    exactly as ``torch.nn.functional.adaptive_max_pool2d`` (any ``H``, ``W``,
    divisible or not, also ``o > H``). For a binary mask a cell is 1 if *any*
    pixel of its bin is flagged — Bekkemoen's ``J = AdaptiveMaxPool(F, (u, v))``
    (thesis eq. 5.10), a dilation-like downsampling.

    ``erode=True`` gives the *erosion* variant ``1 − AdaptiveMaxPool(1 − F)``,
    which the 2024 code (observer4599/explanation-regularization-in-bnn,
    ``bnn.py``) uses for Oxford-IIIT-Pet and SBD: a cell is 1 only if *every*
    pixel of its bin is flagged. We compute it as the bin minimum
    (:func:`adaptive_min_pool2d`), identical to ``1 − max(1 − F)`` in exact
    arithmetic and bit-for-bit on binary masks; the thesis's method (Decoy
    MNIST, ISIC, and the code for those) is the default max pooling.

    The gradient of each output flows to the arg-max (arg-min) pixel of its
    bin (split between ties). Works inside ``tf.function``: ``H``, ``W`` and
    ``output_size`` must be static, the batch may be dynamic.

    Args:
      x: ``(B, H, W)`` or ``(B, H, W, C)`` tensor (bool is cast to float32).
      output_size: ``int`` or ``(oh, ow)``, positive.
      erode: take the bin minimum (erosion) instead of the maximum.

    Returns:
      ``(B, oh, ow)`` or ``(B, oh, ow, C)``, dtype of ``x``.

    Example:
      >>> mask = np.zeros((2, 28, 28), "float32"); mask[:, :4, :4] = 1
      >>> adaptive_max_pool2d(mask, (11, 11)).shape      # decoy corner → conv2 grid
      TensorShape([2, 11, 11])
    """
    if check_bool(erode, "erode"):
        return adaptive_min_pool2d(x, output_size)
    return _adaptive_pool(x, output_size, tf.reduce_max, "x")


def adaptive_min_pool2d(x, output_size):
    """Adaptive *min* pooling (erosion) with PyTorch's bin rule.

    ``adaptive_min_pool2d(F, o) == 1 − adaptive_max_pool2d(1 − F, o)``; see
    :func:`adaptive_max_pool2d` (``erode=True``) for the bins and where the
    erosion variant is used.

    Args:
      x: ``(B, H, W)`` or ``(B, H, W, C)``.
      output_size: ``int`` or ``(oh, ow)``.

    Returns:
      ``(B, oh, ow[, C])``.
    """
    return _adaptive_pool(x, output_size, tf.reduce_min, "x")


# --------------------------------------------------------------------------- resizing


def _area_matrix(in_size, out_size):
    """``(out, in)`` matrix of fractional pixel coverage / bin length (rows sum to 1)."""
    scale = in_size / out_size
    mat = np.zeros((out_size, in_size), dtype=np.float64)
    for i in range(out_size):
        lo, hi = i * scale, (i + 1) * scale
        for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), in_size)):
            mat[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return mat / mat.sum(axis=1, keepdims=True)


def _blur3x3_reflect101(x):
    """OpenCV ``GaussianBlur(ksize=(3, 3), sigmaX=0)``: separable ¼·[1, 2, 1],
    border ``BORDER_REFLECT_101`` (… 2 1 | 0 1 2 … : the edge pixel not repeated)."""
    k0, k1, k2 = _BLUR_3TAP
    for axis, n in ((1, x.shape[1]), (2, x.shape[2])):
        if n == 1:
            continue  # a 1-pixel axis reflects onto itself: the kernel sums to 1
        idx = np.arange(n)
        prev = np.where(idx - 1 < 0, 1, idx - 1)  # reflect-101: index -1 → 1
        nxt = np.where(idx + 1 > n - 1, n - 2, idx + 1)  # index n → n-2
        x = k0 * tf.gather(x, prev, axis=axis) + k1 * x + k2 * tf.gather(x, nxt, axis=axis)
    return x


def resize_mask(mask, size, method="nearest", normalize=None):
    """Resize annotation masks (or maps) to another spatial size, batched.

    Methods (all linear in the mask, hence differentiable):

    * ``"nearest"`` — source index ``⌊i·H/h⌋`` (exact integers): the convention of
      ``cv2.INTER_NEAREST`` and PyTorch's ``mode="nearest"``, which RES's code
      uses to bring 224×224 labels to the 7×7 Grad-CAM grid (it picks the
      top-left pixel of each 32×32 block).
    * ``"nearest_exact"`` — half-pixel centres, ``min(⌊(i+½)·H/h⌋, H−1)``
      (PyTorch's ``"nearest-exact"``, ``tf.image.resize(method="nearest")``),
      in exact integer arithmetic: where ``(i+½)·H/h`` is a whole number those
      float32 implementations may pick the pixel before it.
    * ``"area"`` — each output pixel is the coverage-weighted mean of the input
      pixels its footprint ``[i·H/h, (i+1)·H/h)`` overlaps: ``cv2.INTER_AREA``
      for downsampling (block means when ``H`` is a multiple of ``h``; checked
      against OpenCV 5.0 to float32 round-off on random sizes). For
      upsampling this gives piecewise-constant blocks (OpenCV's INTER_AREA
      upsampling is bilinear instead).
    * ``"area_blur"`` — ``"area"`` followed by OpenCV's ``GaussianBlur((3, 3), 0)``:
      with ``sigma = 0`` and a 3-tap kernel OpenCV uses its fixed table
      ``¼·[1, 2, 1]`` per axis (close to a sampled Gaussian with σ ≈ 0.85, the
      value its formula ``0.3·((k−1)/2 − 1) + 0.8 = 0.8`` gives), separable, with
      border ``BORDER_REFLECT_101``. This is GRADIA's label preprocessing
      (``GRADIA.py: resize_attention_label``: ``INTER_AREA`` to 7×7, then the
      blur, then division by the max — pass ``normalize="max"`` for that last
      step). GRADIA runs it on ``uint8`` images (values rounded to 1/255 after
      each step); we keep float precision (differences ≤ 1/255).

    Args:
      mask: ``(B, H, W)`` or ``(B, H, W, C)`` masks; static ``H``, ``W``. Int and
        bool masks are cast to float32.
      size: ``int`` or ``(h, w)``, the output spatial size.
      method: ``"nearest"``, ``"nearest_exact"``, ``"area"`` or ``"area_blur"``.
      normalize: ``None`` or a :func:`normalize_map` method (``"max"``,
        ``"max_positive"``, ``"minmax"``, ``"relu_minmax"``), applied per sample
        and channel after resizing; an all-zero mask stays zero.

    Returns:
      float ``(B, h, w)`` or ``(B, h, w, C)``.

    Example:
      >>> label = tf.zeros((1, 224, 224))                           # a human annotation
      >>> resize_mask(label, 7, method="area_blur", normalize="max").shape   # GRADIA
      TensorShape([1, 7, 7])
      >>> resize_mask(label, 7, method="nearest").shape                      # RES
      TensorShape([1, 7, 7])
    """
    check_choice(method, RESIZE_METHODS, "method")
    check_choice(normalize, NORMALIZE_METHODS, "normalize")
    mask = _as_float(mask, "mask")
    h_in, w_in = _check_image_rank(mask, "mask")
    h, w = check_pair(size, "size")
    if method in ("nearest", "nearest_exact"):
        if method == "nearest":
            rows = (np.arange(h) * h_in) // h
            cols = (np.arange(w) * w_in) // w
        else:
            # exact integer form of ⌊(i + ½)·H/h⌋ (float32 versions can land on the
            # neighbouring pixel when the product is an exact integer)
            rows = np.minimum(((2 * np.arange(h) + 1) * h_in) // (2 * h), h_in - 1)
            cols = np.minimum(((2 * np.arange(w) + 1) * w_in) // (2 * w), w_in - 1)
        out = tf.gather(tf.gather(mask, rows.astype(np.int32), axis=1), cols.astype(np.int32), axis=2)
    else:
        a_h = tf.constant(_area_matrix(h_in, h), dtype=mask.dtype)
        a_w = tf.constant(_area_matrix(w_in, w), dtype=mask.dtype)
        spec = "ih,bhw,jw->bij" if mask.shape.rank == 3 else "ih,bhwc,jw->bijc"
        out = tf.einsum(spec, a_h, mask, a_w)
        if method == "area_blur":
            out = _blur3x3_reflect101(out)
    if normalize is not None:
        out = normalize_map(out, normalize, axis=(1, 2))
    return out


__all__ = [
    "as_map_batch",
    "normalize_map",
    "adaptive_pool_bins",
    "adaptive_max_pool2d",
    "adaptive_min_pool2d",
    "resize_mask",
]
