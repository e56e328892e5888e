"""Post-hoc attribution baselines for *evaluating* explanations.

These are the attributions the papers score their models with (Bekkemoen's
"attribution overlap" uses Saliency, DeepLIFT, Grad-CAM and Occlusion; RRR
and the GNES/RES family compare against gradient-based maps). They are
evaluation tools, not training losses: they run eagerly, batch the many model
evaluations they need (``batch_size``), and return constants — no outer-tape
differentiability.

* :func:`gradient_x_input` — ``x ⊙ ∂s/∂x`` (Shrikumar et al. 2016), the usual
  stand-in for DeepLIFT, which has no maintained TF2 port (Ancona et al.,
  ICLR 2018, relate the two: DeepLIFT-Rescale with a zero reference reduces
  to gradient × input for ReLU networks without biases).
* :func:`integrated_gradients` — Sundararajan et al., ICML 2017.
* :func:`smoothgrad` — Smilkov et al. 2017 (and SmoothGrad-Squared, Hooker et al. 2019).
* :func:`occlusion` — Zeiler & Fergus, ECCV 2014, with Captum's window/averaging rule.

The score ``s_i`` is one class's output per sample, chosen by ``target``: an
``int`` (same class for all), an int vector ``(B,)`` (e.g. the true labels), a
one-hot (or soft) matrix ``(B, K)``, or ``"pred"`` (the argmax at ``x``). The
class is resolved once at ``x`` and held fixed along the IG path, across the
SmoothGrad noise and under every occlusion. ``quantity`` reads the class as a
``"logit"`` (default; needs ``from_logits=True``), ``"prob"`` or ``"log_prob"``;
a single-unit output ``(B, 1)`` is a binary sigmoid classifier (class 1 = the
unit, scored ``z`` for class 1 and ``−z`` for class 0). Samples must not interact in the model (no BatchNorm in training mode):
each sample's gradient is taken from the gradient of the batch sum.
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.targets import QUANTITIES, class_weights, select_target
from keras_egl.validation import check_bool, check_pair

IG_METHODS = ("riemann_left", "riemann_right", "riemann_middle", "riemann_trapezoid", "gausslegendre")


# --------------------------------------------------------------------------- target / score


def _target_weights(outputs, target, from_logits=True):
    """``(B, K)`` float matrix selecting each sample's class (``K = 2`` for one unit)."""
    if isinstance(target, str) and target != "pred":
        raise ValueError(
            f"`target` must be 'pred', a class index, an int vector (B,) or a one-hot "
            f"matrix (B, K); got {target!r}."
        )
    return class_weights(outputs, target, from_logits=from_logits)


def _class_score(outputs, target, from_logits=True, quantity="logit"):
    """Per-sample scalar ``(B,)``: the ``quantity`` of the ``target`` class.

    ``target`` is ``"pred"``, an int, an int vector ``(B,)`` or a (resolved)
    one-hot / soft matrix ``(B, K)``; scoring is
    :func:`keras_egl.explain.targets.select_target`'s (a single unit ``z``
    scores class 1 as ``z`` and class 0 as ``−z``, so IG's completeness reads
    ``Σ IG = z(x) − z(x')``, Captum's convention).
    """
    outputs = _check_outputs(outputs)
    if quantity not in QUANTITIES:
        raise ValueError(f"`quantity` must be one of {QUANTITIES}; got {quantity!r}.")
    return select_target(outputs, target, from_logits=from_logits, quantity=quantity)


# --------------------------------------------------------------------------- shared machinery


def _check_outputs(outputs):
    if isinstance(outputs, (list, tuple, dict)):
        raise ValueError(
            "the model must return one tensor of shape (B, K); got a "
            f"{type(outputs).__name__} (wrap multi-output models to select the head)."
        )
    outputs = tf.convert_to_tensor(outputs)
    if outputs.shape.rank == 1:
        outputs = outputs[:, None]
    if outputs.shape.rank != 2:
        raise ValueError(f"the model output must have shape (B, K) or (B,); got shape {outputs.shape}.")
    if not outputs.dtype.is_floating:
        raise TypeError(f"the model output must be floating point; got dtype {outputs.dtype.name}.")
    return outputs


def _call(model, x):
    if isinstance(model, keras.layers.Layer):
        return _check_outputs(model(x, training=False))
    return _check_outputs(model(x))


def _check_x(x):
    if not tf.executing_eagerly():
        raise RuntimeError(
            "keras_egl.explain.attribution functions are eager evaluation tools; call them "
            "outside tf.function."
        )
    x = tf.convert_to_tensor(x)
    if x.dtype.is_integer or x.dtype == tf.bool:
        x = tf.cast(x, keras.backend.floatx())
    if not x.dtype.is_floating:
        raise TypeError(f"`x` must be a real tensor; got dtype {x.dtype.name}.")
    if x.shape.rank is None or x.shape.rank < 2 or x.shape[0] == 0:
        raise ValueError(f"`x` must be a non-empty batch (B, ...); got shape {x.shape}.")
    if not bool(tf.reduce_all(tf.math.is_finite(x))):
        raise ValueError("`x` contains NaN or infinite values.")
    return x


def _check_positive_int(value, name, minimum=1):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an int ≥ {minimum}; got {value!r}.")
    return int(value)


def _check_batch_size(batch_size):
    if batch_size is None:
        return None
    return _check_positive_int(batch_size, "batch_size")


def _score_gradients(model, points, weights, from_logits, quantity):
    """``∂ s_i / ∂ points_i`` for a stack of inputs with per-row class weights."""
    with tf.GradientTape() as tape:
        tape.watch(points)
        score = _class_score(_call(model, points), weights, from_logits, quantity)
        total = tf.reduce_sum(score)
    grads = tape.gradient(total, points)
    if grads is None:
        raise ValueError("the model output has no gradient path to its input `x`.")
    return grads


def _accumulate_gradients(model, x, weights, n_points, point_fn, coef_fn, batch_size,
                          from_logits, quantity, transform=None):
    """``Σ_k coef(k) · T(∂s_i/∂p)(p = point(k, i))`` for every sample ``i``.

    Points are enumerated ``k``-major (flat index ``k·B + i``) and evaluated in
    chunks of ``batch_size`` model inputs, so the result does not depend on
    ``batch_size``.
    """
    b = int(x.shape[0])
    total = n_points * b
    chunk = total if batch_size is None else batch_size
    acc = tf.zeros_like(x)
    for start in range(0, total, chunk):
        flat = np.arange(start, min(start + chunk, total))
        ks, rows = flat // b, flat % b
        points = point_fn(ks, rows)
        grads = _score_gradients(model, points, tf.gather(weights, rows), from_logits, quantity)
        if transform is not None:
            grads = transform(grads)
        coef = tf.reshape(tf.constant(coef_fn(ks), dtype=x.dtype), [-1] + [1] * (x.shape.rank - 1))
        acc += tf.math.unsorted_segment_sum(grads * coef, tf.constant(rows, tf.int32), b)
    return acc


def _predict(model, x, batch_size):
    if batch_size is None or batch_size >= int(x.shape[0]):
        return _call(model, x)
    return tf.concat([_call(model, x[i:i + batch_size]) for i in range(0, int(x.shape[0]), batch_size)], 0)


def _resolve(model, x, target, from_logits, quantity, batch_size=None):
    outputs = _predict(model, x, batch_size)
    if quantity not in QUANTITIES:
        raise ValueError(f"`quantity` must be one of {QUANTITIES}; got {quantity!r}.")
    if quantity == "logit" and not from_logits:
        raise ValueError(
            "quantity='logit' needs a model that outputs logits; with from_logits=False use "
            "quantity='prob' or 'log_prob'."
        )
    weights = _target_weights(outputs, target, from_logits)
    return outputs, weights


# --------------------------------------------------------------------------- attributions


def gradient_x_input(model, x, target="pred", from_logits=True, quantity="logit", batch_size=None):
    """Gradient × input attribution, ``x ⊙ ∂s/∂x``.

    Args:
      model: callable mapping a batch ``(B, ...)`` to outputs ``(B, K)``
        (a Keras model is called with ``training=False``).
      x: input batch ``(B, ...)``; finite.
      target: ``"pred"``, a class index, an int vector ``(B,)`` or a one-hot ``(B, K)``.
      from_logits: whether the model outputs logits (else probabilities).
      quantity: ``"logit"``, ``"prob"`` or ``"log_prob"`` of the target class.
      batch_size: model inputs per backward pass (``None``: all at once).

    Returns:
      Attributions with the shape of ``x``.

    Example:
      >>> attr = gradient_x_input(model, images, target=labels)
      >>> heat = tf.reduce_sum(attr, -1)             # (B, H, W)
    """
    x = _check_x(x)
    batch_size = _check_batch_size(batch_size)
    _, weights = _resolve(model, x, target, from_logits, quantity, batch_size)
    grads = _accumulate_gradients(
        model, x, weights, 1, lambda ks, rows: tf.gather(x, rows), lambda ks: np.ones(len(ks)),
        batch_size, from_logits, quantity)
    return x * grads


def _ig_nodes(steps, method):
    if method not in IG_METHODS:
        raise ValueError(f"`method` must be one of {IG_METHODS}; got {method!r}.")
    k = np.arange(steps, dtype=np.float64)
    if method == "riemann_left":
        return k / steps, np.full(steps, 1.0 / steps)
    if method == "riemann_right":
        return (k + 1) / steps, np.full(steps, 1.0 / steps)
    if method == "riemann_middle":
        return (k + 0.5) / steps, np.full(steps, 1.0 / steps)
    if method == "riemann_trapezoid":
        if steps < 2:
            raise ValueError(f"`steps` must be ≥ 2 for method='riemann_trapezoid'; got {steps}.")
        w = np.full(steps, 1.0 / (steps - 1))
        w[0] = w[-1] = 0.5 / (steps - 1)
        return k / (steps - 1), w
    nodes, w = np.polynomial.legendre.leggauss(steps)
    return 0.5 * (nodes + 1.0), 0.5 * w


def integrated_gradients(model, x, target="pred", baseline=None, steps=50, batch_size=None,
                         method="riemann_trapezoid", from_logits=True, quantity="logit",
                         return_convergence_delta=False):
    """Integrated Gradients (Sundararajan, Taly & Yan, ICML 2017).

    For baseline ``x'``:

        IG_j(x) = (x_j − x'_j) · ∫₀¹ ∂s(x' + α(x − x'))/∂x_j dα
               ≈ (x_j − x'_j) · Σ_k w_k ∂s(x' + α_k(x − x'))/∂x_j

    with nodes ``α_k`` and weights ``w_k`` from ``method``. Completeness:
    ``Σ_j IG_j(x) = s(x) − s(x')`` up to the quadrature error.

    Args:
      model: callable mapping ``(B, ...)`` to ``(B, K)`` (Keras: ``training=False``).
      x: input batch ``(B, ...)``; finite.
      target: ``"pred"`` (argmax at ``x``), a class index, an int vector ``(B,)``
        or a one-hot ``(B, K)``.
      baseline: ``None`` (zeros), a float (constant image), or a tensor of shape
        ``x.shape`` (one per sample) or ``x.shape[1:]`` (shared by all samples).
      steps: number of quadrature nodes (≥ 1; ≥ 2 for the trapezoid rule).
      batch_size: model inputs per backward pass (``None``: all ``B·steps`` at once).
      method: ``"riemann_trapezoid"`` (default), ``"riemann_left"``,
        ``"riemann_right"``, ``"riemann_middle"`` or ``"gausslegendre"``
        (Captum's names and rules).
      from_logits, quantity: how the target class is read (see module docstring).
      return_convergence_delta: also return ``Σ_j IG_j − (s(x) − s(x'))`` per sample.

    Returns:
      Attributions with the shape of ``x`` (and the ``(B,)`` deltas if asked).

    Example:
      >>> attr, delta = integrated_gradients(model, x, target=y, steps=64,
      ...                                    return_convergence_delta=True)
    """
    x = _check_x(x)
    return_convergence_delta = check_bool(return_convergence_delta, "return_convergence_delta")
    steps = _check_positive_int(steps, "steps")
    batch_size = _check_batch_size(batch_size)
    alphas, w = _ig_nodes(steps, method)
    if baseline is None:
        base = tf.zeros_like(x)
    elif isinstance(baseline, (int, float, np.integer, np.floating)) and not isinstance(baseline, bool):
        if not np.isfinite(baseline):
            raise ValueError(f"`baseline` must be finite; got {baseline!r}.")
        base = tf.fill(tf.shape(x), tf.cast(baseline, x.dtype))
    else:
        base = tf.cast(tf.convert_to_tensor(baseline), x.dtype)
        if base.shape == x.shape[1:]:
            base = tf.broadcast_to(base[None], tf.shape(x))
        elif base.shape != x.shape:
            raise ValueError(
                f"`baseline` must be None, a float, or a tensor of shape {tuple(x.shape)} or "
                f"{tuple(x.shape[1:])}; got shape {tuple(base.shape)}."
            )
        if not bool(tf.reduce_all(tf.math.is_finite(base))):
            raise ValueError("`baseline` contains NaN or infinite values.")
    _, weights = _resolve(model, x, target, from_logits, quantity, batch_size)
    diff = x - base
    alpha_t = tf.constant(alphas, dtype=x.dtype)

    def points(ks, rows):
        a = tf.reshape(tf.gather(alpha_t, ks), [-1] + [1] * (x.shape.rank - 1))
        return tf.gather(base, rows) + a * tf.gather(diff, rows)

    avg_grads = _accumulate_gradients(model, x, weights, steps, points, lambda ks: w[ks],
                                      batch_size, from_logits, quantity)
    attr = diff * avg_grads
    if not return_convergence_delta:
        return attr
    s_x = _class_score(_predict(model, x, batch_size), weights, from_logits, quantity)
    s_b = _class_score(_predict(model, base, batch_size), weights, from_logits, quantity)
    delta = tf.reduce_sum(tf.reshape(attr, [x.shape[0], -1]), -1) - (s_x - s_b)
    return attr, delta


def _seed_pair(seed):
    if seed is None:
        return np.random.default_rng().integers(0, 2**31 - 1, size=2)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"`seed` must be an int or None; got {seed!r}.")
    return np.array([int(seed) % (2**31 - 1), 0x5EED])


def smoothgrad(model, x, target="pred", n_samples=25, noise_level=0.15, squared=False, seed=None,
               batch_size=None, from_logits=True, quantity="logit"):
    """SmoothGrad (Smilkov et al. 2017): the gradient averaged over noisy copies.

        SG(x)  = 1/n Σ_k ∂s(x + ε_k)/∂x,        ε_k ~ N(0, σ² I)
        SG²(x) = 1/n Σ_k (∂s(x + ε_k)/∂x)²      (``squared=True``; Hooker et al. 2019)

    with ``σ = noise_level · (max x_i − min x_i)`` computed per sample (the
    paper's "noise level" as a fraction of the input range; a constant input
    gets no noise).

    Args:
      model: callable mapping ``(B, ...)`` to ``(B, K)`` (Keras: ``training=False``).
      x: input batch ``(B, ...)``; finite.
      target: ``"pred"`` (argmax at the clean ``x``), a class index, an int
        vector ``(B,)`` or a one-hot ``(B, K)``.
      n_samples: noisy copies per sample (≥ 1).
      noise_level: ``σ`` as a fraction of each sample's value range (≥ 0;
        the paper recommends 0.1–0.2).
      squared: average squared gradients (SmoothGrad-Squared).
      seed: int for reproducible noise (the noise does not depend on
        ``batch_size``); ``None`` draws fresh noise.
      batch_size: model inputs per backward pass (``None``: all ``B·n_samples``).
      from_logits, quantity: how the target class is read.

    Returns:
      Averaged (squared) gradients with the shape of ``x``.

    Example:
      >>> sg = smoothgrad(model, images, target="pred", n_samples=50, seed=0)
    """
    x = _check_x(x)
    squared = check_bool(squared, "squared")
    n_samples = _check_positive_int(n_samples, "n_samples")
    batch_size = _check_batch_size(batch_size)
    if isinstance(noise_level, bool) or not isinstance(noise_level, (int, float, np.integer, np.floating)) \
            or not np.isfinite(noise_level) or noise_level < 0:
        raise ValueError(f"`noise_level` must be a finite number ≥ 0; got {noise_level!r}.")
    seed_pair = _seed_pair(seed)
    _, weights = _resolve(model, x, target, from_logits, quantity, batch_size)
    axes = list(range(1, x.shape.rank))
    sigma = noise_level * (tf.reduce_max(x, axes, keepdims=True) - tf.reduce_min(x, axes, keepdims=True))

    def points(ks, rows):
        # Noise for copy k is drawn for the whole batch from seed (seed, k), so
        # chunking (batch_size) does not change it.
        uniq = np.unique(ks)
        groups = tf.stack([
            tf.random.stateless_normal(
                tf.shape(x), seed=tf.constant([seed_pair[0], seed_pair[1] + int(k)], tf.int64),
                dtype=x.dtype)
            for k in uniq])  # (G, B, ...)
        noise = tf.gather_nd(groups, np.stack([np.searchsorted(uniq, ks), rows], 1).astype(np.int32))
        return tf.gather(x, rows) + tf.gather(sigma, rows) * noise

    return _accumulate_gradients(
        model, x, weights, n_samples, points, lambda ks: np.full(len(ks), 1.0 / n_samples),
        batch_size, from_logits, quantity, transform=tf.square if squared else None)


def _window_starts(size, window, stride):
    # Captum's rule: ⌈(size − window)/stride⌉ + 1 positions; the last window may
    # stick out past the border and is clipped, so every pixel is covered.
    # (With stride > window a start can fall past the border; it occludes nothing.)
    n = int(np.ceil((size - window) / stride)) + 1
    return [j * stride for j in range(n) if j * stride < size]


def occlusion(model, x, target="pred", window=(3, 3), stride=(1, 1), baseline_value=0.0,
              batch_size=None, from_logits=True, quantity="logit"):
    """Occlusion sensitivity (Zeiler & Fergus 2014) as a per-pixel score drop.

    A ``window`` (all channels) slides over the image with ``stride``; each
    position ``p`` sets the window to ``baseline_value`` and records the drop
    ``d_p = s(x) − s(x with window p occluded)``. A pixel's attribution is the
    mean drop over the windows that cover it (Captum's ``Occlusion``, summed
    over channels since the window spans them):

        A_hw = Σ_{p ∋ (h,w)} d_p / #{p ∋ (h,w)}

    Window starts are ``0, s, 2s, …`` for ``⌈(H − h)/s⌉ + 1`` positions per axis
    (Captum's count); a last window that passes the border is clipped, so every
    pixel is covered when ``stride ≤ window`` (with a larger stride the pixels
    no window covers get 0, not NaN). Bekkemoen's thesis scores 3×3 windows on MNIST and
    23×23 on Dogs-vs-Cats/ISIC (stride unstated; Captum's default is 1).

    Args:
      model: callable mapping ``(B, H, W[, C])`` to ``(B, K)`` (Keras: ``training=False``).
      x: images ``(B, H, W)`` or ``(B, H, W, C)``; finite.
      target: ``"pred"`` (argmax at ``x``), a class index, an int vector ``(B,)``
        or a one-hot ``(B, K)``.
      window: ``int`` or ``(h, w)``, at most the image size.
      stride: ``int`` or ``(sh, sw)``, positive.
      baseline_value: the value occluded pixels are set to.
      batch_size: occluded images per forward pass (``None``: all ``B·P`` at once).
      from_logits, quantity: how the target class is read.

    Returns:
      ``(B, H, W)`` score drops (positive: the region supports the class).

    Example:
      >>> heat = occlusion(model, images, target=labels, window=3, stride=1, batch_size=512)
    """
    x = _check_x(x)
    if x.shape.rank not in (3, 4):
        raise ValueError(f"`x` must be images (B, H, W) or (B, H, W, C); got shape {x.shape}.")
    h_img, w_img = int(x.shape[1]), int(x.shape[2])
    wh, ww = check_pair(window, "window")
    sh, sw = check_pair(stride, "stride")
    if wh > h_img or ww > w_img:
        raise ValueError(f"`window` {(wh, ww)} is larger than the image {(h_img, w_img)}.")
    if isinstance(baseline_value, bool) or not isinstance(baseline_value, (int, float, np.integer, np.floating)) \
            or not np.isfinite(baseline_value):
        raise ValueError(f"`baseline_value` must be a finite number; got {baseline_value!r}.")
    batch_size = _check_batch_size(batch_size)
    outputs, weights = _resolve(model, x, target, from_logits, quantity, batch_size)
    s_x = _class_score(outputs, weights, from_logits, quantity)

    masks = []
    for r in _window_starts(h_img, wh, sh):
        for c in _window_starts(w_img, ww, sw):
            m = np.zeros((h_img, w_img), dtype=np.float64)
            m[r:r + wh, c:c + ww] = 1.0
            masks.append(m)
    masks = np.stack(masks)  # (P, H, W)
    n_pos, b = len(masks), int(x.shape[0])
    masks_t = tf.constant(masks, dtype=x.dtype)
    if x.shape.rank == 4:
        masks_t = masks_t[..., None]

    total = n_pos * b
    chunk = total if batch_size is None else batch_size
    drops = np.zeros((n_pos, b), dtype=np.float64)
    for start in range(0, total, chunk):
        flat = np.arange(start, min(start + chunk, total))
        ps, rows = flat // b, flat % b
        m = tf.gather(masks_t, ps)
        occluded = tf.gather(x, rows) * (1.0 - m) + tf.cast(baseline_value, x.dtype) * m
        s_occ = _class_score(_call(model, occluded), tf.gather(weights, rows), from_logits, quantity)
        drops[ps, rows] = (tf.gather(s_x, rows) - s_occ).numpy()
    counts = masks.sum(0)
    total_drop = np.einsum("pb,phw->bhw", drops, masks)
    # a stride larger than the window leaves pixels no window covers: no evidence → 0
    attr = np.where(counts[None] > 0, total_drop / np.maximum(counts[None], 1), 0.0)
    return tf.constant(attr, dtype=x.dtype)


__all__ = ["gradient_x_input", "integrated_gradients", "smoothgrad", "occlusion"]
