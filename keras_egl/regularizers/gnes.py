"""GNES explanation regularizers (Gao et al., ICDM 2021; dissertation eq. 4.4–4.6).

.. math::
    \\Omega(A, M, E) = \\beta\\,\\Omega_c(A, M, E) + \\gamma\\,\\Omega_s(M, E)          (4.4)

    \\Omega_c = \\frac{1}{2N^2}\\sum_{i,j} E_{ij} A_{ij} \\lVert M_i - M_j\\rVert^2          (4.5)

    \\Omega_s = \\frac{1}{N}\\lVert M\\rVert_1 + \\frac{1}{N^2}\\lVert E\\rVert_1            (4.6)

These act on explanations (not on weights), so they are callables returning a
per-graph value ``(B,)`` for padded batches; ``N`` is each graph's real node
count. Applied to every graph, labelled or not.

Where the authors' code departs from the text (``utils.custom_loss``):

* it sums only the upper triangle of ``(M_i − M_j)²`` and divides by ``N²``
  (``upper_triangle=True``); for a symmetric ``E ⊙ A`` this equals eq. 4.5;
* it adds an **anti-collapse** term ``−mean_i log(Σ_j (E⊙A)_{ij} + 1e-6)``
  inside the β bracket (``anti_collapse=True``), because ``E → 0`` trivially
  minimises Ω_c (and Ω_s pushes the same way). Not in the dissertation: off by
  default.

Public objects: :class:`ExplanationConsistency`, :class:`ExplanationSparsity`.
"""

from keras_egl._keras import keras, tf
from keras_egl.validation import check_bool, check_float, check_non_negative

__all__ = ["ExplanationConsistency", "ExplanationSparsity"]


def _shapes(node_map, edge_map, node_mask):
    m = tf.convert_to_tensor(node_map, tf.float32)
    e = tf.convert_to_tensor(edge_map, tf.float32)
    if m.shape.rank != 2:
        raise ValueError(f"`node_map` must have shape (B, N); received {tuple(m.shape)}.")
    if e.shape.rank != 3 or not e.shape[:2].is_compatible_with(m.shape) or \
            not e.shape[1:2].is_compatible_with(e.shape[2:3]):
        raise ValueError(f"`edge_map` must have shape (B, N, N) matching node_map {tuple(m.shape)}; "
                         f"received {tuple(e.shape)}.")
    keep = tf.ones_like(m) if node_mask is None else tf.cast(tf.not_equal(node_mask, 0), m.dtype)
    if not keep.shape.is_compatible_with(m.shape):
        raise ValueError(f"`node_mask` must have shape {tuple(m.shape)}; received {tuple(keep.shape)}.")
    return m * keep, e * keep[:, :, None] * keep[:, None, :], keep


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationConsistency:
    """Ω_c, eq. 4.5: neighbours joined by important edges get similar node importance.

    Call: ``reg(node_map (B,N), edge_map (B,N,N), adjacency (B,N,N), node_mask=None) -> (B,)``.

    Args:
      anti_collapse: add the code's ``−mean_i log(Σ_j E_ij A_ij + eps)`` (default
        ``False``: the dissertation's eq. 4.5 only).
      upper_triangle: the code's upper-triangle sum over ``N²`` instead of the
        full sum over ``2N²`` (default ``False``).
      eps: the code's 1e-6 inside the log.

    Example:
      >>> omega_c = ExplanationConsistency()(node_map, edge_map, adjacency, node_mask)
    """

    def __init__(self, anti_collapse=False, upper_triangle=False, eps=1e-6):
        self.anti_collapse = check_bool(anti_collapse, "anti_collapse")
        self.upper_triangle = check_bool(upper_triangle, "upper_triangle")
        self.eps = check_float(eps, "eps", low=0.0, low_inclusive=False)

    def __call__(self, node_map, edge_map, adjacency, node_mask=None):
        m, e, keep = _shapes(node_map, edge_map, node_mask)
        a = tf.convert_to_tensor(adjacency, tf.float32)
        if not a.shape.is_compatible_with(e.shape):
            raise ValueError(f"`adjacency` must have shape {tuple(e.shape)}; received {tuple(a.shape)}.")
        n = tf.reduce_sum(keep, 1)
        ea = e * a
        diff2 = tf.square(m[:, :, None] - m[:, None, :])
        if self.upper_triangle:
            diff2 = tf.linalg.band_part(diff2, 0, -1)
            val = tf.math.divide_no_nan(tf.reduce_sum(ea * diff2, [1, 2]), n * n)
        else:
            val = tf.math.divide_no_nan(tf.reduce_sum(ea * diff2, [1, 2]), 2.0 * n * n)
        if self.anti_collapse:
            deg = tf.reduce_sum(ea, 2)
            conn = -tf.math.divide_no_nan(tf.reduce_sum(tf.math.log(deg + self.eps) * keep, 1), n)
            val = val + conn
        return val

    def get_config(self):
        return {"anti_collapse": self.anti_collapse, "upper_triangle": self.upper_triangle, "eps": self.eps}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationSparsity:
    """Ω_s, eq. 4.6: ``mean_n |M_n| + mean_{n,m} |E_nm|`` over each graph's real entries.

    Call: ``reg(node_map (B,N), edge_map (B,N,N), node_mask=None) -> (B,)``.

    Args:
      node_weight, edge_weight: multipliers of the two parts (1, 1 in eq. 4.6).

    Example:
      >>> omega_s = ExplanationSparsity()(node_map, edge_map, node_mask)
    """

    def __init__(self, node_weight=1.0, edge_weight=1.0):
        self.node_weight = check_non_negative(node_weight, "node_weight")
        self.edge_weight = check_non_negative(edge_weight, "edge_weight")

    def __call__(self, node_map, edge_map, node_mask=None):
        m, e, keep = _shapes(node_map, edge_map, node_mask)
        n = tf.reduce_sum(keep, 1)
        return (self.node_weight * tf.math.divide_no_nan(tf.reduce_sum(tf.abs(m), 1), n)
                + self.edge_weight * tf.math.divide_no_nan(tf.reduce_sum(tf.abs(e), [1, 2]), n * n))

    def get_config(self):
        return {"node_weight": self.node_weight, "edge_weight": self.edge_weight}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
