"""Sliding-window group lasso over time-stacked kernels (DynGraph2Seq eq. 3.13).

Gao, Wu, Homayoun & Zhao, ICDM 2019; thesis ch. 3, Sec. 3.4.3:

    L_reg = beta * sum_{t=1}^{T-w+1} || W_hat_[t:t+w] ||_{2,1},   ||X||_{2,1} = sum_i ||X_{i,:}||_2

where W_hat_[t:t+w] concatenates the first-layer GCN kernels of w consecutive
snapshots, so row i holds feature i's weights across the window. Overlapping
windows (stride 1) give sparse feature selection that is locally consistent in
time yet may change across the year.

Two ways to train with it:

* **subgradient** (default; what the thesis implies - L_reg is added to the
  objective and the sum is minimised with Adam): :class:`SlidingWindowGroupLasso`
  as a regularizer, its (sub)gradient ``beta * W_g / ||W_g||`` flows through
  the optimiser. Under Adam every row then moves at the same *normalised* rate,
  so rows never become exactly zero (they oscillate around 0 at amplitude ~lr)
  and which rows stay large tracks how much task gradient they receive.
* **proximal**: the task loss alone goes through the optimiser, then
  :func:`proximal_group_lasso_step` applies ``prox_{tau * L_reg}`` to the
  kernel after every step (proximal gradient; exact zeros). The l_{2,1} over
  *overlapping* windows has no closed-form prox; :func:`sliding_window_group_prox`
  composes the exact block soft-thresholdings of the individual windows in time
  order (exact when the windows do not overlap, i.e. ``stride >= window``).
"""

from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.validation import check_bool, check_non_negative


def _safe_norm(sq):
    # Subgradient 0 at the origin instead of the NaN of d sqrt(x)/dx at 0.
    pos = sq > 0
    safe = tf.where(pos, sq, tf.ones_like(sq))
    return tf.where(pos, tf.sqrt(safe), tf.zeros_like(sq))


def _check_window(window, stride):
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
        raise ValueError(f"`window` must be a positive int; received {window!r}.")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride <= 0:
        raise ValueError(f"`stride` must be a positive int; received {stride!r}.")


def _window_starts(t_steps, window, stride):
    win = min(window, t_steps)
    return win, list(range(0, t_steps - win + 1, stride))


def sliding_window_group_lasso(kernel, window=12, stride=1, separate_streams=False):
    r"""Unscaled sliding-window l_{2,1} norm of a time-stacked kernel.

    Args:
        kernel: ``[T, D, ...]`` tensor: time first, features second; trailing
            axes are flattened into the group. With ``separate_streams=True`` the
            kernel must be ``[T, D, S, H]`` and each stream s (e.g. forward and
            backward GCN) forms its own groups.
        window: w, window length in time steps; clipped to T when T < w (one
            window covering all steps).
        stride: step between window starts (thesis: 1).
        separate_streams: one group per (window, feature) over all streams
            (``False``, default) or one per (window, feature, stream) (``True``,
            the follow-up code's separate forward/backward sums).

    Returns:
        scalar ``sum_windows sum_i ||W[t:t+w, i, ...]||_2``.
    """
    w = tf.convert_to_tensor(kernel)
    if w.shape.rank is None or w.shape.rank < 2:
        raise ValueError(f"`kernel` must be [T, D, ...] (rank >= 2); received shape {w.shape}.")
    if check_bool(separate_streams, "separate_streams") and w.shape.rank != 4:
        raise ValueError("`separate_streams`=True needs a [T, D, S, H] kernel; received shape "
                         f"{w.shape}.")
    _check_window(window, stride)
    t_steps = w.shape[0]
    if separate_streams:
        sq = tf.reduce_sum(tf.square(w), axis=-1)  # [T, D, S]
    else:
        sq = tf.reduce_sum(tf.reshape(tf.square(w), [t_steps, w.shape[1], -1]), axis=-1)[..., None]
    win, starts = _window_starts(t_steps, window, stride)
    # Gather the windows explicitly ([n_windows, w, D, S]): exact zeros stay zeros, so
    # the subgradient at a fully pruned group is 0 rather than a rounding artefact.
    idx = tf.constant([[s + j for j in range(win)] for s in starts], tf.int32)
    window_sq = tf.reduce_sum(tf.gather(sq, idx), axis=1)
    return tf.reduce_sum(_safe_norm(window_sq))


@keras.saving.register_keras_serializable(package="keras_egl")
class SlidingWindowGroupLasso(keras.regularizers.Regularizer):
    r"""Sliding-window group lasso (eq. 3.13), optionally plus L2.

    ::

        L = beta * sum_{t} sum_i || W[t:t+w, i, ...] ||_2  +  l2 * sum(W ** 2) / 2

    Attach it to :class:`keras_egl.layers.dyngraph.DynamicBiGCN` as
    ``first_layer_regularizer``; its first-hop kernel is ``[T, D, S, H]`` with
    streams S = (forward, backward[, self terms]).
    As a regularizer it is optimised through its subgradient; for exact zeros
    apply :func:`proximal_group_lasso_step` after each optimiser step instead
    (``DynGraph2Seq(group_lasso_mode="proximal")`` does this in ``fit``).

    Args:
        beta: weight of the group lasso (thesis: 3e-4).
        window: w (thesis: 12; follow-up code: 6).
        stride: window stride (thesis: 1).
        separate_streams: ``False`` (default) groups forward and backward
            weights of a feature together (one group, our reading of "the first
            layer weights"); ``True`` sums separate forward/backward norms as
            the follow-up code does.
        l2: coefficient of an additional ``tf.nn.l2_loss``-style term
            (follow-up code: 1e-4 on all aggregator weights; default 0).

    Input: a ``[T, D, ...]`` kernel. Output: scalar loss.

    Example:
        >>> reg = SlidingWindowGroupLasso(beta=1.0, window=2)
        >>> float(reg(tf.ones([3, 1, 1])))  # two windows, each ||(1, 1)|| = sqrt(2)
        2.828...
    """

    def __init__(self, beta=3e-4, window=12, stride=1, separate_streams=False, l2=0.0):
        beta = check_non_negative(beta, "beta")
        l2 = check_non_negative(l2, "l2")
        _check_window(window, stride)
        self.beta = float(beta)
        self.window = window
        self.stride = stride
        self.separate_streams = check_bool(separate_streams, "separate_streams")
        self.l2 = float(l2)

    def __call__(self, x):
        loss = self.beta * sliding_window_group_lasso(x, self.window, self.stride,
                                                      self.separate_streams)
        if self.l2:
            loss = loss + self.l2 * tf.nn.l2_loss(x)
        return loss

    def get_config(self):
        return {"beta": self.beta, "window": self.window, "stride": self.stride,
                "separate_streams": self.separate_streams, "l2": self.l2}


def feature_importance(kernel, per_time=True):
    """Row L2 norms of a ``[T, D, ...]`` kernel: ``[T, D]`` (or ``[D]`` over all time).

    Used to rank keywords per month (thesis Table 3.2; the ranking rule is not
    stated there, this is our reading).
    """
    per_time = check_bool(per_time, "per_time")
    if kernel is None:
        raise ValueError("`kernel` is required; got None.")
    w = tf.convert_to_tensor(kernel)
    if not (w.dtype.is_floating or w.dtype.is_integer):
        raise TypeError(f"`kernel` must be a real tensor; received dtype {w.dtype.name}.")
    if w.shape.rank is None or w.shape.rank < 2:
        raise ValueError(f"`kernel` must be [T, D, ...] (rank >= 2); received shape {w.shape}.")
    w = tf.cast(w, tf.float32) if w.dtype.is_integer else w
    sq = tf.reduce_sum(tf.reshape(tf.square(w), [w.shape[0], w.shape[1], -1]), axis=-1)
    if per_time:
        return tf.sqrt(sq)
    return tf.sqrt(tf.reduce_sum(sq, axis=0))


def _grouped(w, separate_streams):
    """View ``[T, D, ...]`` as ``[T, D, G, F]``: G groups per (window, feature), F entries."""
    t_steps, d = w.shape[0], w.shape[1]
    if separate_streams:
        if w.shape.rank != 4:
            raise ValueError("`separate_streams`=True needs a [T, D, S, H] kernel; received "
                             f"shape {w.shape}.")
        return w
    return tf.reshape(w, [t_steps, d, 1, -1])


def sliding_window_group_prox(kernel, threshold, window=12, stride=1, separate_streams=False):
    r"""Approximate proximal operator of ``threshold * sliding_window_group_lasso``.

    For one group g (window j, feature i[, stream s]) the exact prox of
    ``tau * ||X_g||_2`` is block soft-thresholding::

        prox(X)_g = X_g * max(0, 1 - tau_g / ||X_g||_2)        (0 when ||X_g|| <= tau_g)

    Groups of *different* windows overlap (stride < w), and the prox of a sum of
    overlapping group norms has no closed form. We use the **sequential
    composition** ``prox_{g_J} o ... o prox_{g_1}`` over the windows in time
    order (within one window the feature groups are disjoint, so each window's
    step is exact): window j soft-thresholds the current value left by windows
    < j. Properties:

    * exact when no two windows share a time step (``stride >= window``, or a
      single window when T <= w);
    * to first order in tau it moves every slice by ``-tau * sum_{j ni t}
      W_t / ||W_{g_j}||``, i.e. by the same amount as a gradient step on the
      penalty (a slice in c windows is shrunk c times), so the strength of
      ``beta`` matches the subgradient form;
    * a (window, feature) group whose norm falls below its threshold becomes
      **exactly** zero - what a subgradient step under Adam never does.

    Alternatives we did not take: the proximal average (Yu 2013; averages the
    per-window proxes with an m-fold threshold and does not give exact zeros
    for partially covered slices) and an inner iterative solver (e.g. dual
    block-coordinate ascent or Dykstra over the windows), which is exact but
    costs an inner loop every optimiser step.

    Args:
        kernel: ``[T, D, ...]`` (time first, features second).
        threshold: tau >= 0; a scalar or a tensor broadcastable to
            ``[n_windows, D, G]`` (G = S with ``separate_streams`` else 1) for
            per-group thresholds (e.g. a preconditioned step).
        window, stride, separate_streams: as :func:`sliding_window_group_lasso`.

    Returns:
        tensor of the kernel's shape and dtype.
    """
    w = tf.convert_to_tensor(kernel)
    if w.shape.rank is None or w.shape.rank < 2:
        raise ValueError(f"`kernel` must be [T, D, ...] (rank >= 2); received shape {w.shape}.")
    _check_window(window, stride)
    shape = tf.shape(w)
    x = _grouped(w, separate_streams)
    t_steps = x.shape[0]
    win, starts = _window_starts(t_steps, window, stride)
    # dtype_hint: a Python float must not round through float32 on a float64 kernel.
    thr = tf.broadcast_to(tf.cast(tf.convert_to_tensor(threshold, dtype_hint=x.dtype), x.dtype),
                          [len(starts), x.shape[1], x.shape[2]])
    for j, s in enumerate(starts):
        blk = x[s:s + win]
        norm = _safe_norm(tf.reduce_sum(tf.square(blk), axis=[0, 3]))      # [D, G]
        # max(0, 1 - tau / ||X||); a zero group stays zero (no 0/0).
        scale = tf.where(norm > thr[j], 1.0 - thr[j] / tf.where(norm > 0, norm, 1.0), 0.0)
        x = tf.concat([x[:s], blk * scale[None, :, :, None], x[s + win:]], axis=0)
    return tf.reshape(x, shape)


def _adam_step_sizes(optimizer, variable):
    """Per-entry effective Adam step ``lr / (sqrt(v_hat) + eps)`` or None if not Adam-like."""
    v = _compat.adam_second_moment(optimizer, variable)
    if v is None:
        return None
    step = tf.cast(optimizer.iterations, v.dtype)
    beta_2 = tf.cast(getattr(optimizer, "beta_2", 0.999), v.dtype)
    eps = tf.cast(getattr(optimizer, "epsilon", 1e-7), v.dtype)
    v_hat = v / (1.0 - tf.pow(beta_2, tf.maximum(step, 1.0)))
    return tf.sqrt(v_hat) + eps


def _current_lr(optimizer, dtype):
    lr = optimizer.learning_rate
    if callable(lr):
        lr = lr(optimizer.iterations)
    return tf.cast(lr, dtype)


def proximal_group_lasso_step(variable, regularizer, optimizer, preconditioned=True):
    r"""One proximal step ``W <- prox_{tau * L_reg}(W)`` after an optimiser update.

    Proximal gradient on ``task_loss(W) + beta * sum ||W_g||`` takes the
    optimiser step on the task loss and then applies the prox of the penalty
    with the *same* step size. With plain SGD the threshold is ``tau = lr * beta``.
    Adam's step on entry e is ``lr * m_hat_e / (sqrt(v_hat_e) + eps)``, i.e. SGD
    in the diagonal metric ``C = diag(sqrt(v_hat) + eps) / lr``; the exact
    prox in that metric has no closed form for a group norm, so
    (``preconditioned=True``) each group g uses the scalar metric given by its
    mean (a ProxGen-style diagonal-preconditioned prox, Yun et al. NeurIPS 2021)::

        tau_g = beta * lr / mean_{e in g}(sqrt(v_hat_e) + eps)

    which puts beta on the same scale as in the subgradient form (where Adam
    divides the penalty gradient by the same sqrt(v_hat)). Groups that receive
    little task gradient get a large threshold and are zeroed; groups whose
    task gradient outweighs beta survive. ``preconditioned=False`` (or an
    optimiser without Adam's second moments) uses ``tau = lr * beta``.

    Args:
        variable: the ``[T, D, ...]`` kernel variable (updated in place).
        regularizer: a :class:`SlidingWindowGroupLasso` (its beta, window,
            stride and separate_streams; its ``l2`` is not part of the prox -
            leave that term in the loss).
        optimizer: the model's optimiser (after its ``apply_gradients``).
        preconditioned: scale the threshold by Adam's second moments.

    Returns:
        the assign op / updated variable.
    """
    reg = regularizer
    lr = _current_lr(optimizer, variable.dtype)
    thr = reg.beta * lr
    if preconditioned:
        denom = _adam_step_sizes(optimizer, variable)
        if denom is not None:
            d = _grouped(tf.convert_to_tensor(denom), reg.separate_streams)
            win, starts = _window_starts(d.shape[0], reg.window, reg.stride)
            idx = tf.constant([[s + j for j in range(win)] for s in starts], tf.int32)
            mean = tf.reduce_mean(tf.gather(d, idx), axis=[1, 4])             # [n_win, D, G]
            thr = reg.beta * lr / mean
    new = sliding_window_group_prox(variable, thr, reg.window, reg.stride, reg.separate_streams)
    return variable.assign(new)


__all__ = ["SlidingWindowGroupLasso", "sliding_window_group_lasso", "feature_importance",
           "sliding_window_group_prox", "proximal_group_lasso_step"]
