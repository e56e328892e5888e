"""Sliding-window group lasso over time-stacked kernels (DynGraph2Seq eq. 3.13).

Gao, Wu, Homayoun & Zhao, ICDM 2019; thesis ch. 3, Sec. 3.4.3:

    L_reg = beta * sum_{t=1}^{T-w+1} || W_hat_[t:t+w] ||_{2,1},   ||X||_{2,1} = sum_i ||X_{i,:}||_2

where W_hat_[t:t+w] concatenates the first-layer GCN kernels of w consecutive
snapshots, so row i holds feature i's weights across the window. Overlapping
windows (stride 1) give sparse feature selection that is locally consistent in
time yet may change across the year.
"""

from keras_egl._keras import keras, tf


def _safe_norm(sq):
    # Subgradient 0 at the origin instead of the NaN of d sqrt(x)/dx at 0.
    pos = sq > 0
    safe = tf.where(pos, sq, tf.ones_like(sq))
    return tf.where(pos, tf.sqrt(safe), tf.zeros_like(sq))


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
    if separate_streams and w.shape.rank != 4:
        raise ValueError("`separate_streams=True` needs a [T, D, S, H] kernel; received shape "
                         f"{w.shape}.")
    if not isinstance(window, int) or window <= 0:
        raise ValueError(f"`window` must be a positive int; received {window!r}.")
    if not isinstance(stride, int) or stride <= 0:
        raise ValueError(f"`stride` must be a positive int; received {stride!r}.")
    t_steps = w.shape[0]
    if separate_streams:
        sq = tf.reduce_sum(tf.square(w), axis=-1)  # [T, D, S]
    else:
        sq = tf.reduce_sum(tf.reshape(tf.square(w), [t_steps, w.shape[1], -1]), axis=-1)[..., None]
    win = min(window, t_steps)
    starts = list(range(0, t_steps - win + 1, stride))
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
        if beta < 0 or l2 < 0:
            raise ValueError(f"`beta` and `l2` must be >= 0; received beta={beta!r}, l2={l2!r}.")
        if not isinstance(window, int) or window <= 0:
            raise ValueError(f"`window` must be a positive int; received {window!r}.")
        if not isinstance(stride, int) or stride <= 0:
            raise ValueError(f"`stride` must be a positive int; received {stride!r}.")
        self.beta = float(beta)
        self.window = window
        self.stride = stride
        self.separate_streams = bool(separate_streams)
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
    w = tf.convert_to_tensor(kernel)
    sq = tf.reduce_sum(tf.reshape(tf.square(w), [w.shape[0], w.shape[1], -1]), axis=-1)
    if per_time:
        return tf.sqrt(sq)
    return tf.sqrt(tf.reduce_sum(sq, axis=0))


__all__ = ["SlidingWindowGroupLasso", "sliding_window_group_lasso", "feature_importance"]
