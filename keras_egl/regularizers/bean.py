"""BEAN: the Biologically-Enhanced Artificial Neuronal assembly regularizer.

Reference: Y. Gao, G. A. Ascoli, L. Zhao, "BEAN: Interpretable and Efficient
Learning With Biologically-Enhanced Artificial Neuronal Assembly
Regularization", *Frontiers in Neurorobotics* 15:68 (2021); Gao's
dissertation, ch. 2 (Eqs. 2.1–2.7).

For a layer ``l`` with activations ``H`` (``S`` samples × ``N_l`` neurons) and
the *outgoing* kernel ``W`` (``N_l × N_{l+1}``, exactly the kernel of a Keras
``Dense`` whose input is ``H``)::

    L_c = 1 / (S · N_l²) · Σ_s Σ_ij A_ij · d(H_si, H_sj)            (Eq. 2.1)

    f(W)      = |tanh(γ W)|                                          (Eq. 2.3)
    BEAN-1:   A = f fᵀ / N_{l+1}                                     (Eq. 2.5)
    BEAN-2:   A = (f fᵀ) ⊙ (f fᵀ) / N_{l+1}²                         (Eq. 2.7)
    BEAN-cos: A_ij = cos(f_i,:, f_j,:)          (assumption, see below)

With the squared divergence ``d(x, y) = (x − y)²`` and a symmetric ``A`` the
double sum is a graph-Laplacian quadratic form::

    Σ_ij A_ij (h_i − h_j)² = 2 hᵀ (diag(A 1) − A) h = 2 hᵀ L_A h

so ``L_c = 2 / (S N_l²) · tr(H L_A Hᵀ)``, computed here in ``O(S N_l² )`` time
and ``O(N_l²)`` memory, never materialising the ``S × N_l × N_l`` tensor the
authors' code builds. The absolute divergence ``|x − y|`` has no such form and
is computed pairwise (``S × N_l × N_l``).

Normalisation (fidelity): the paper divides ``A`` by ``N_{l+1}`` (BEAN-1) or
``N_{l+1}²`` (BEAN-2); the authors' code does not, and the α values reported
(BEAN-1 α = 1, BEAN-2 α = 100, code default α = 3) are on the code's scale.
``normalize=True`` follows the paper, ``normalize=False`` the code; the two are
exactly related by ``α_paper = α_code · N_{l+1}^order`` (see
:func:`convert_alpha`). BEAN-cos is unaffected by ``normalize``.

BEAN-cos is named but not formalised in the thesis; we use the cosine of the
rows of ``f(W)`` (non-negative, so it never rewards divergent activations),
following a commented-out alternative in the authors' ResNet script.

Floating point: the Laplacian form is a difference of two large sums
(``Σ deg_i h_i² − h A hᵀ``) that cancel when the activations share a common
offset — in float32 a ``1e3`` offset on ``1e-3`` differences lost every digit
(and could make the penalty negative). Since ``d(x, y)`` depends only on
``x − y`` and ``A`` only on the kernel, ``L_c`` is unchanged by subtracting any
per-sample constant from all ``N_l`` units, for every order, normalisation and
divergence (and so are its gradients: the gradient w.r.t. ``h_s`` already sums
to zero over the units). :func:`bean_penalty` therefore centres each sample on
its mean activation before forming the quadratic form, and clips the result at
0 (float rounding on a near-zero penalty of a PSD form).
"""

import functools
import numbers

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.validation import (assert_values, check_bool, check_choice, check_float, check_non_negative,
                                  check_positive_int)

ORDERS = (1, 2, "cos")
DIVERGENCES = ("squared", "abs")

__all__ = [
    "BEANRegularizer",
    "bean_penalty",
    "bean_penalty_pairwise",
    "connectivity_strength",
    "convert_alpha",
    "neuron_correlation",
]


def _check_order(order):
    if isinstance(order, str) and order.lower() in ("1", "2"):
        order = int(order)
    if isinstance(order, str):
        order = order.lower()
    elif isinstance(order, numbers.Integral) and not isinstance(order, bool):
        order = int(order)
    if isinstance(order, bool) or order not in ORDERS:
        raise ValueError(f"`order` must be one of {ORDERS}; received order={order!r}.")
    return order




def _as_kernel(kernel):
    kernel = tf.convert_to_tensor(kernel)
    if not kernel.dtype.is_floating:
        kernel = tf.cast(kernel, tf.float32)
    if kernel.shape.rank != 2:
        raise ValueError(
            f"`kernel` must be the 2-D outgoing weight matrix (N_l, N_(l+1)); received shape {kernel.shape}."
        )
    if tf.executing_eagerly():  # eager calls only: the layers' traced steps stay assertion-free
        assert_values(kernel, "kernel")
    return kernel


def _as_activations(h, kernel):
    h = tf.convert_to_tensor(h)
    if h.dtype != kernel.dtype:
        h = tf.cast(h, kernel.dtype)
    if h.shape.rank is not None and h.shape.rank < 1:
        raise ValueError(f"`h` must have shape (S, N_l) (or (N_l,) for one sample); received shape {h.shape}.")
    if h.shape.rank == 1:
        h = h[None, :]
    elif h.shape.rank is not None and h.shape.rank > 2:
        raise ValueError(
            f"`h` must be 2-D activations (S, N_l); received shape {h.shape}. Flatten the features first "
            "(a Dense kernel pairs with the flattened input)."
        )
    if tf.executing_eagerly():
        assert_values(h, "h")
    n_h, n_w = h.shape[-1], kernel.shape[0]
    if n_h is not None and n_w is not None and n_h != n_w:
        raise ValueError(
            f"Activations and kernel disagree on N_l: `h` has {n_h} units (shape {h.shape}) but `kernel` "
            f"has {n_w} rows (shape {kernel.shape}); the kernel must be the layer's *outgoing* weights."
        )
    return h


def connectivity_strength(kernel, gamma=1.0):
    """Connectivity strength ``f(W) = |tanh(γ W)|`` (Eq. 2.3), elementwise in ``[0, 1)``.

    At ``W = 0`` the gradient of ``|·|`` is taken as 0, a valid subgradient
    (the thesis's footnote).

    Args:
        kernel: ``(N_l, N_{l+1})`` outgoing weights.
        gamma: scale ``γ > 0``; 1 in every experiment of the thesis.

    Returns:
        A tensor shaped like ``kernel``.
    """
    gamma = check_float(gamma, "gamma", low=0.0, low_inclusive=False)
    kernel = _as_kernel(kernel)
    return tf.abs(tf.tanh(gamma * kernel))


def neuron_correlation(kernel, order=1, gamma=1.0, normalize=True):
    """Neuron-correlation ("wiring strength") matrix ``A`` of BEAN.

    ``BEAN-1: A = f fᵀ / N_{l+1}``, ``BEAN-2: A = (f fᵀ)⊙(f fᵀ) / N_{l+1}²``,
    ``BEAN-cos: A_ij = cos(f_i, f_j)`` with ``f = |tanh(γ W)|``.

    Args:
        kernel: ``(N_l, N_{l+1})`` outgoing weights of layer ``l``.
        order: ``1``, ``2`` or ``"cos"``.
        gamma: ``γ > 0`` of ``f``.
        normalize: divide by ``N_{l+1}^order`` (paper, default) or not (code).
            Ignored for ``"cos"``.

    Returns:
        Symmetric ``(N_l, N_l)`` tensor with non-negative entries.

    Example:
        >>> A = neuron_correlation(tf.ones((4, 3)), order=2)   # (4, 4)
    """
    order = _check_order(order)
    normalize = check_bool(normalize, "normalize")
    f = connectivity_strength(kernel, gamma)
    if order == "cos":
        norms = tf.norm(f, axis=1)
        gram = tf.matmul(f, f, transpose_b=True)
        # Zero rows (a fully pruned neuron) get zero correlation, not NaN.
        return tf.math.divide_no_nan(gram, norms[:, None] * norms[None, :])
    gram = tf.matmul(f, f, transpose_b=True)
    a = gram if order == 1 else gram * gram
    if normalize:
        m = tf.cast(tf.shape(f)[1], f.dtype)
        a = a / (m if order == 1 else m * m)
    return a


def _laplacian_quadratic(h, a):
    # Σ_s Σ_ij A_ij (h_si − h_sj)² = 2 Σ_s [Σ_i deg_i h_si² − h_s A h_sᵀ]
    deg = tf.reduce_sum(a, axis=1)
    first = tf.reduce_sum(tf.square(h) * deg[None, :])
    second = tf.reduce_sum(h * tf.matmul(h, a))
    return 2.0 * (first - second)


def bean_penalty(h, kernel, order=1, gamma=1.0, divergence="squared", normalize=True):
    """BEAN co-activation penalty ``L_c`` of one layer (Eq. 2.1), a scalar.

    ``L_c = 1/(S N_l²) Σ_s Σ_ij A_ij d(H_si, H_sj)``; with
    ``divergence="squared"`` it is computed as ``2/(S N_l²) tr(H L_A Hᵀ)``.
    Gradients flow into both ``h`` (hence every upstream parameter) and
    ``kernel`` (through ``A``), as in the paper's Eq. 2.2 and the authors' code.

    Args:
        h: activations of layer ``l``, shape ``(S, N_l)`` (the mini-batch; a
            single sample ``(N_l,)`` or ``S = 1`` is fine).
        kernel: the outgoing weights ``(N_l, N_{l+1})`` (a ``Dense`` kernel
            whose input is ``h``).
        order: ``1`` (BEAN-1), ``2`` (BEAN-2) or ``"cos"`` (BEAN-cos).
        gamma: ``γ > 0`` in ``f(W) = |tanh(γ W)|``.
        divergence: ``"squared"`` (all reported results) or ``"abs"``.
        normalize: ``True`` = paper's ``1/N_{l+1}^order`` in ``A``;
            ``False`` = the authors' code (α on the code's scale).

    Returns:
        Scalar tensor (``h``'s float dtype).

    Raises:
        ValueError: mismatched ``N_l``, bad ``order``/``divergence``, ``γ ≤ 0``.

    Example:
        >>> h = tf.random.normal((32, 84)); w = tf.random.normal((84, 10))
        >>> loss = 100.0 * bean_penalty(h, w, order=2, normalize=False)
    """
    divergence = check_choice(divergence, DIVERGENCES, "divergence")
    order = _check_order(order)
    normalize = check_bool(normalize, "normalize")
    kernel = _as_kernel(kernel)
    h = _as_activations(h, kernel)
    s = tf.cast(tf.shape(h)[0], h.dtype)
    n = tf.cast(tf.shape(h)[1], h.dtype)
    # L_c depends on the differences h_si − h_sj only: centring each sample leaves it (and
    # its gradients) unchanged and stops the cancellation of a common offset in float32.
    h = h - tf.reduce_mean(h, axis=1, keepdims=True)
    n_in, n_out = kernel.shape
    if divergence == "squared" and order in (1, "cos") and n_in is not None and n_out is not None and n_out < n_in:
        # A = B Bᵀ is low rank: use it without forming the N_l × N_l matrix.
        total = _lowrank_laplacian_quadratic(h, _factor(kernel, order, gamma, normalize))
    elif divergence == "squared" and order == 2 and n_in is not None and n_out is not None:
        # A = G ⊙ G (G = f fᵀ) costs N_l² N_{l+1}; its quadratic form also equals
        # Σ_s ‖fᵀ diag(h_s) f‖_F², costing (S + 1) N_l N_{l+1}² — cheaper for small
        # batches (few-shot, S = 1). Pick the cheaper one for the batch at hand.
        f = connectivity_strength(kernel, gamma)
        if normalize:  # (f/√M)(f/√M)ᵀ = G/M, so its Hadamard square is G⊙G/M²
            f = f / tf.sqrt(tf.cast(n_out, f.dtype))
        if h.shape[0] is not None:
            # Static batch: choose while tracing; a graph-level cond and its
            # gradient cost as much as the penalty itself at batch size 1.
            if _order2_lowrank_cheaper(h.shape[0], n_in, n_out):
                total = _order2_lowrank_quadratic(h, f)
            else:
                total = _laplacian_quadratic(h, _gram_square(f))
        else:
            total = tf.cond(_order2_lowrank_cheaper(tf.cast(tf.shape(h)[0], tf.float64), n_in, n_out),
                            functools.partial(_order2_lowrank_quadratic, h, f),
                            functools.partial(_dense_order2_quadratic, h, f))
    elif divergence == "squared":
        total = _laplacian_quadratic(h, neuron_correlation(kernel, order=order, gamma=gamma, normalize=normalize))
    else:
        a = neuron_correlation(kernel, order=order, gamma=gamma, normalize=normalize)
        total = _pairwise_total(h, a, divergence)
    # A quadratic form of a PSD Laplacian: a negative total is rounding on a ~0 penalty.
    total = tf.maximum(total, tf.zeros_like(total))
    return tf.math.divide_no_nan(total, s * n * n)


def _factor(kernel, order, gamma, normalize):
    # B with A = B Bᵀ for BEAN-1 (B = f / sqrt(N_{l+1})) and BEAN-cos (rows of f normalised).
    f = connectivity_strength(kernel, gamma)
    if order == "cos":
        return tf.math.divide_no_nan(f, tf.norm(f, axis=1, keepdims=True))
    if normalize:
        f = f / tf.sqrt(tf.cast(tf.shape(f)[1], f.dtype))
    return f


def _order2_lowrank_cheaper(s, n_in, n_out):
    # (S + 1)·N_l·N_{l+1}² (per-sample form) vs N_l²·(N_{l+1} + S) (dense G ⊙ G)
    n_in, n_out = float(n_in), float(n_out)
    return (s + 1.0) * n_in * n_out ** 2 < n_in * n_in * (n_out + s)


def _dense_order2_quadratic(h, f):
    return _laplacian_quadratic(h, _gram_square(f))


def _gram_square(f):
    g = tf.matmul(f, f, transpose_b=True)
    return g * g


def _order2_lowrank_quadratic(h, f):
    # deg_i = Σ_j G_ij² = f_i (fᵀf) f_iᵀ ;  h A hᵀ = ‖fᵀ diag(h) f‖_F²
    ftf = tf.matmul(f, f, transpose_a=True)
    deg = tf.reduce_sum(tf.matmul(f, ftf) * f, axis=1)
    first = tf.reduce_sum(tf.square(h) * deg[None, :])
    hf = h[:, :, None] * f[None, :, :]  # (S, N_l, N_{l+1})
    second = tf.reduce_sum(tf.square(tf.matmul(hf, f, transpose_a=True)))  # (S, N_{l+1}, N_{l+1})
    return 2.0 * (first - second)


def _lowrank_laplacian_quadratic(h, b):
    # tr(H (diag(B Bᵀ 1) − B Bᵀ) Hᵀ) with O(S·N·M) work.
    deg = tf.linalg.matvec(b, tf.reduce_sum(b, axis=0))
    first = tf.reduce_sum(tf.square(h) * deg[None, :])
    second = tf.reduce_sum(tf.square(tf.matmul(h, b)))
    return 2.0 * (first - second)


def _pairwise_total(h, a, divergence):
    diff = h[:, :, None] - h[:, None, :]  # (S, N, N): only for |·| and tests
    d = tf.square(diff) if divergence == "squared" else tf.abs(diff)
    return tf.reduce_sum(a[None, :, :] * d)


def bean_penalty_pairwise(h, kernel, order=1, gamma=1.0, divergence="squared", normalize=True):
    """The literal pairwise form of :func:`bean_penalty` (materialises ``S×N×N``).

    Reference implementation for tests and the benchmark; same arguments and
    result as :func:`bean_penalty`.
    """
    divergence = check_choice(divergence, DIVERGENCES, "divergence")
    order = _check_order(order)
    normalize = check_bool(normalize, "normalize")
    kernel = _as_kernel(kernel)
    h = _as_activations(h, kernel)
    a = neuron_correlation(kernel, order=order, gamma=gamma, normalize=normalize)
    s = tf.cast(tf.shape(h)[0], h.dtype)
    n = tf.cast(tf.shape(h)[1], h.dtype)
    return tf.math.divide_no_nan(_pairwise_total(h, a, divergence), s * n * n)


def convert_alpha(alpha, n_out, order, to="paper"):
    """Exact α conversion between the paper's and the code's normalisation.

    ``α_paper · L(normalize=True) == α_code · L(normalize=False)`` when
    ``α_paper = α_code · n_out**order`` (``order`` 1 or 2; ``"cos"`` is
    unchanged).

    Args:
        alpha: the coefficient to convert.
        n_out: ``N_{l+1}``, the number of units of the ``Dense`` (kernel columns).
        order: ``1``, ``2`` or ``"cos"``.
        to: ``"paper"`` (code → paper) or ``"code"`` (paper → code).

    Example:
        >>> convert_alpha(100.0, 10, 2, to="paper")   # BEAN-2 on LeNet fc3
        10000.0
    """
    order = _check_order(order)
    if to not in ("paper", "code"):
        raise ValueError(f"`to` must be 'paper' or 'code'; received to={to!r}.")
    alpha = check_non_negative(alpha, "alpha")
    n_out = check_positive_int(n_out, "n_out")
    if order == "cos":
        return float(alpha)
    factor = float(n_out) ** order
    return float(alpha) * factor if to == "paper" else float(alpha) / factor


@keras.saving.register_keras_serializable(package="keras_egl")
class BEANRegularizer:
    """Config holder and callable for the BEAN penalty: ``α · L_c(h, W)``.

    A plain Keras ``kernel_regularizer`` cannot express BEAN (it sees only the
    kernel, not the activations), and an ``activity_regularizer`` sees the
    layer's outputs rather than the inputs that pair with the kernel. So this
    object is consumed by :class:`keras_egl.layers.bean.BEANDense` and
    :class:`keras_egl.layers.bean.BEANRegularized`, or called directly.

    Args:
        alpha: coefficient ``α ≥ 0`` (on the scale set by ``normalize``).
        order: ``1``, ``2`` or ``"cos"``.
        gamma: ``γ > 0`` of ``f(W) = |tanh(γ W)|``.
        divergence: ``"squared"`` or ``"abs"``.
        normalize: ``True`` (paper's ``1/N_{l+1}^order``) or ``False``
            (authors' code; the reported α values live on this scale).

    Call args:
        h: ``(S, N_l)`` activations; kernel: ``(N_l, N_{l+1})``.

    Returns:
        Scalar ``α · L_c``.

    Example:
        >>> reg = BEANRegularizer(alpha=1.0, order=1, normalize=False)
        >>> reg(tf.random.normal((8, 84)), tf.random.normal((84, 10)))
    """

    def __init__(self, alpha=1.0, order=1, gamma=1.0, divergence="squared", normalize=True):
        if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not np.isfinite(alpha) or alpha < 0:
            raise ValueError(f"`alpha` must be a finite number >= 0; received alpha={alpha!r}.")
        self.alpha = float(alpha)
        self.order = _check_order(order)
        self.gamma = check_float(gamma, "gamma", low=0.0, low_inclusive=False)
        self.divergence = check_choice(divergence, DIVERGENCES, "divergence")
        self.normalize = check_bool(normalize, "normalize")

    def penalty(self, h, kernel):
        """``L_c`` without ``α``."""
        return bean_penalty(h, kernel, self.order, self.gamma, self.divergence, self.normalize)

    def __call__(self, h, kernel):
        return self.alpha * self.penalty(h, kernel)

    def correlation(self, kernel):
        """The matrix ``A`` for ``kernel`` (see :func:`neuron_correlation`)."""
        return neuron_correlation(kernel, self.order, self.gamma, self.normalize)

    def get_config(self):
        return {
            "alpha": self.alpha,
            "order": self.order,
            "gamma": self.gamma,
            "divergence": self.divergence,
            "normalize": self.normalize,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"BEANRegularizer({args})"


def get(identifier):
    """Resolve ``None``/dict/``BEANRegularizer`` into a ``BEANRegularizer`` (or ``None``)."""
    if identifier is None or isinstance(identifier, BEANRegularizer):
        return identifier
    if isinstance(identifier, dict):
        cfg = identifier.get("config", identifier) if "class_name" in identifier else identifier
        return BEANRegularizer(**cfg)
    raise TypeError(
        f"`bean` must be None, a dict of BEANRegularizer arguments or a BEANRegularizer; "
        f"received {type(identifier).__name__}."
    )
