"""Evaluation of explanation-feedback experiments (Bekkemoen 2021, §6).

* :func:`mc_predict` — MC posterior probabilities ``(m, N, K)`` of a Bayesian
  model (or the mean-weight network).
* :func:`classification_scores` — accuracy; micro, macro and binary
  precision/recall/F1; balanced accuracy; benign specificity (binary).
  The thesis reports Decoy MNIST "macro" scores that all equal accuracy — i.e.
  **micro** averages (the article says micro); ISIC "accuracy" is balanced accuracy.
* :func:`uncertainty_scores` — **extensions the thesis motivates but never
  measured**: NLL, ECE (15 equal-width bins of the max probability), mean
  predictive entropy.
* :func:`attribution_maps` — Saliency, Grad-CAM, Occlusion and a DeepLIFT
  substitute for evaluation; for a stochastic model from the **mean weights**
  (``mode="mean"``, default) or **averaged over MC samples** (``mode="mc"``).
* :func:`overlap_scores` — the article's eq. 17 attribution overlap for each
  method (lower is better).

DeepLIFT substitution: there is no maintained DeepLIFT for TF2/Keras 2, so
``"deeplift"`` is **integrated gradients** from a zero baseline (DeepLIFT-
Rescale approximates IG along the straight path; Captum's DeepLift also uses a
zero reference by default); ``deeplift="gradient_x_input"`` selects the cheaper
gradient × input instead.
"""

import numpy as np

from keras_egl._keras import tf
from keras_egl.explain.attribution import gradient_x_input, integrated_gradients, occlusion
from keras_egl.explain.grad_cam import grad_cam
from keras_egl.explain.gradients import input_gradients
from keras_egl.layers.bayesian import bayesian_layers, mean_weights
from keras_egl.metrics.explanation import attribution_overlap
from keras_egl.validation import check_bool, check_positive_int

__all__ = ["mc_predict", "classification_scores", "uncertainty_scores", "attribution_maps", "overlap_scores",
           "ATTRIBUTION_METHODS"]

ATTRIBUTION_METHODS = ("saliency", "deeplift", "gradcam", "occlusion")


def _net(model):
    # A BayesianFeedbackModel wraps the classifier as `.model`; explain the classifier.
    return getattr(model, "model", model)


def mc_predict(model, x, mc_samples=8, batch_size=256, use_mean=False):
    """Softmax probabilities of ``mc_samples`` posterior draws: ``(m, N, K)``.

    Args:
      model: a classifier with LRT layers (or a ``BayesianFeedbackModel``).
      x: inputs ``(N, ...)``.
      mc_samples: ``m`` (1 with ``use_mean``).
      batch_size: inputs per forward pass.
      use_mean: the mean-weight network instead of samples.
    """
    use_mean = check_bool(use_mean, "use_mean")
    mc_samples = check_positive_int(mc_samples, "mc_samples")
    batch_size = check_positive_int(batch_size, "batch_size")
    net = _net(model)
    x = np.asarray(x)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"`x` must be a non-empty batch (N, ...); got shape {x.shape}.")
    m = 1 if use_mean else mc_samples
    out = []
    with mean_weights(net, enabled=use_mean):
        for _ in range(m):
            probs = [tf.nn.softmax(net(x[i:i + batch_size], training=False)).numpy()
                     for i in range(0, len(x), batch_size)]
            out.append(np.concatenate(probs))
    return np.stack(out)


def classification_scores(y_true, y_pred, num_classes=None, positive=1):
    """Accuracy and P/R/F1 (micro, macro, and binary when 2 classes), balanced accuracy.

    Returns a dict: ``accuracy, balanced_accuracy, {precision,recall,f1}_{micro,macro}``
    and, for two classes, ``precision, recall, f1`` of class ``positive`` and
    ``specificity`` (recall of the other class — benign specificity on ISIC).
    """
    from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support

    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"`y_true` {y_true.shape} and `y_pred` {y_pred.shape} must have the same length.")
    for name, v in (("y_true", y_true), ("y_pred", y_pred)):
        if v.dtype.kind not in "biuf" or (v.size and (not np.all(v == np.round(v)) or v.min() < 0)):
            raise ValueError(f"`{name}` must be class indices (non-negative integers; take the argmax of "
                             f"probabilities first); got values such as {v[:3].tolist()}.")
    y_true, y_pred = y_true.astype(np.int64), y_pred.astype(np.int64)
    needed = int(max(y_true.max(initial=0), y_pred.max(initial=0)) + 1)
    if num_classes is None:
        k = needed
    else:
        k = check_positive_int(num_classes, "num_classes")
        if k < needed:
            raise ValueError(f"`num_classes`={k} is smaller than the labels need ({needed}).")
    if k == 2 and positive not in (0, 1):
        raise ValueError(f"`positive` must be 0 or 1 for two classes; got {positive!r}.")
    labels = list(range(k))
    out = {"accuracy": float(np.mean(y_true == y_pred)),
           "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred))}
    for avg in ("micro", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg, zero_division=0)
        out.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    if k == 2:
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=[positive], average=None,
                                                     zero_division=0)
        neg = 1 - positive
        mask = y_true == neg
        spec = float(np.mean(y_pred[mask] == neg)) if mask.any() else float("nan")
        out.update({"precision": float(p[0]), "recall": float(r[0]), "f1": float(f[0]), "specificity": spec})
    return out


def uncertainty_scores(y_true, mc_probs, n_bins=15):
    """NLL, ECE and mean predictive entropy of the MC-averaged prediction (extensions).

    Args:
      y_true: ``(N,)`` labels.
      mc_probs: ``(m, N, K)`` or ``(N, K)`` probabilities.
      n_bins: ECE bins (equal width over the max probability).
    """
    from keras_egl.active.samplers import _as_probs

    n_bins = check_positive_int(n_bins, "n_bins")
    p = _as_probs(mc_probs).mean(0)
    y = np.asarray(y_true).reshape(-1)
    if y.dtype.kind not in "biuf" or (y.size and not np.all(y == np.round(y))):
        raise ValueError(f"`y_true` must be integer class labels; got values such as {y[:3].tolist()}.")
    y = y.astype(int)
    if len(y) != len(p):
        raise ValueError(f"`y_true` has {len(y)} labels but `mc_probs` has {len(p)} samples.")
    if y.size and (y.min() < 0 or y.max() >= p.shape[1]):
        raise ValueError(f"`y_true` must be in [0, {p.shape[1]}) (the classes of `mc_probs`); got min {y.min()}, "
                         f"max {y.max()}.")
    nll = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None))))
    conf, pred = p.max(1), p.argmax(1)
    edges = np.linspace(0, 1, n_bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (conf > lo) & (conf <= hi)
        if sel.any():
            ece += sel.mean() * abs(np.mean(pred[sel] == y[sel]) - conf[sel].mean())
    ent = float(np.mean(-np.sum(p * np.log(np.clip(p, 1e-12, None)), axis=1)))
    return {"nll": nll, "ece": float(ece), "predictive_entropy": ent}


def _one_map(net, x, method, target, layer_name, occlusion_window, deeplift, ig_steps, batch_size):
    x = tf.convert_to_tensor(x, tf.float32)
    if method == "saliency":  # Captum Saliency: |∂y_c/∂x|, max over channels → we keep channels, |·|
        return tf.abs(input_gradients(net, x, target=target, from_logits=True, quantity="logit")).numpy()
    if method == "deeplift":
        if deeplift == "gradient_x_input":
            return gradient_x_input(net, x, target=target, batch_size=batch_size).numpy()
        return integrated_gradients(net, x, target=target, steps=ig_steps, batch_size=batch_size).numpy()
    if method == "gradcam":
        if layer_name is None:
            raise ValueError("Grad-CAM needs `layer_name` (the target conv layer).")
        return grad_cam(net, x, layer_name, target=target, relu=False, normalize=None,
                        upsample="bilinear").numpy()
    if method == "occlusion":
        return occlusion(net, x, target=target, window=occlusion_window, stride=1,
                         batch_size=max(batch_size, 512)).numpy()
    raise ValueError(f"`method` must be one of {ATTRIBUTION_METHODS}; got {method!r}.")


def attribution_maps(model, x, method, target, layer_name=None, mode="mean", mc_samples=4,
                     occlusion_window=3, deeplift="integrated_gradients", ig_steps=16, batch_size=128):
    """Attribution maps of one method for a batch.

    Args:
      model: classifier with LRT layers (or a ``BayesianFeedbackModel``).
      x: ``(B, H, W, C)`` images.
      method: ``"saliency"``, ``"deeplift"`` (substitute, see module doc),
        ``"gradcam"`` (no ReLU, as Captum's ``LayerGradCam`` default; bilinear
        upsampling) or ``"occlusion"`` (stride 1, zero baseline).
      target: class per sample (``(B,)`` ints; the thesis leaves it unstated —
        we pass the true label) or ``"pred"``.
      layer_name: Grad-CAM layer.
      mode: ``"mean"`` (mean-weight network) or ``"mc"`` (average over
        ``mc_samples`` posterior samples).
      occlusion_window: 3 (MNIST) or 23 (224-px images) in the thesis.
      deeplift: ``"integrated_gradients"`` or ``"gradient_x_input"``.

    Returns:
      numpy maps ``(B, H, W[, C])``.
    """
    if mode not in ("mean", "mc"):
        raise ValueError(f"`mode` must be 'mean' or 'mc'; got {mode!r}.")
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"`method` must be one of {ATTRIBUTION_METHODS}; got {method!r}.")
    if deeplift not in ("integrated_gradients", "gradient_x_input"):
        raise ValueError(f"`deeplift` must be 'integrated_gradients' or 'gradient_x_input'; got {deeplift!r}.")
    mc_samples = check_positive_int(mc_samples, "mc_samples")
    net = _net(model)
    if not bayesian_layers(net):
        return _one_map(net, x, method, target, layer_name, occlusion_window, deeplift, ig_steps, batch_size)
    if mode == "mean":
        with mean_weights(net):
            return _one_map(net, x, method, target, layer_name, occlusion_window, deeplift, ig_steps, batch_size)
    maps = [_one_map(net, x, method, target, layer_name, occlusion_window, deeplift, ig_steps, batch_size)
            for _ in range(int(mc_samples))]
    return np.mean(maps, axis=0)


def overlap_scores(model, x, mask, target, layer_name, methods=ATTRIBUTION_METHODS, mode="mean",
                   occlusion_window=3, batch_size=128, **kwargs):
    """``{method: attribution overlap}`` (article eq. 17; lower is better).

    Samples with an empty mask are left out (``k`` = annotated test samples).
    """
    if isinstance(methods, str) or not isinstance(methods, (list, tuple)):
        raise TypeError(f"`methods` must be a list or tuple of {ATTRIBUTION_METHODS}; got {methods!r}.")
    for method in methods:
        if method not in ATTRIBUTION_METHODS:
            raise ValueError(f"`methods` must be among {ATTRIBUTION_METHODS}; got {method!r}.")
    batch_size = check_positive_int(batch_size, "batch_size")
    mask = np.asarray(mask, np.float32)
    if mask.ndim < 3 or mask.shape[:3] != tuple(np.shape(x)[:3]):
        raise ValueError(f"`mask` must have the images' shape (B, H, W) = {tuple(np.shape(x)[:3])} "
                         f"(or (B, H, W, C)); got {mask.shape}.")
    if not isinstance(target, str) and len(target) != len(x):
        raise ValueError(f"`target` must have one class per image ({len(x)}); got {len(target)}.")
    out = {}
    for method in methods:
        maps = []
        for i in range(0, len(x), batch_size):
            tgt = target[i:i + batch_size] if not isinstance(target, str) else target
            maps.append(attribution_maps(model, x[i:i + batch_size], method, tgt, layer_name=layer_name,
                                         mode=mode, occlusion_window=occlusion_window, batch_size=batch_size,
                                         **kwargs))
        maps = np.concatenate(maps)
        out[method] = float(attribution_overlap(np.asarray(mask, np.float32), maps.astype(np.float32)))
    return out
