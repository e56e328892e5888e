"""Sparsity baselines BEAN is compared with (thesis ch. 2, Table 2.1 and 2.2).

Weight regularizers for a ``Dense`` kernel ``W`` of shape ``(N_in, N_out)``:

* :class:`L1` — ``λ Σ |w|`` (ℓ1-norm baseline).
* :class:`GroupLasso21` — group sparsity ``λ Σ_g ‖w_g‖₂`` (ℓ2,1; Yuan & Lin
  2006, Alvarez & Salzmann 2016).
* :class:`ExclusiveSparsity12` — exclusive sparsity
  ``λ · ½ Σ_g (Σ_{w∈g} |w|)²`` (ℓ1,2; Zhou et al. 2010, Yoon & Hwang 2017).

The thesis does not define the groups; we use one group per neuron (Yoon &
Hwang's convention). ``groups="outgoing"`` (default) groups the row ``W[i, :]``
— the outgoing weights of input neuron ``i``, so a zeroed group prunes that
neuron exactly as the FLOPs criterion of Table 2.1 counts it;
``groups="incoming"`` groups the column ``W[:, j]``.

Weight decay is Keras's own ``keras.regularizers.L2(λ)`` (``λ Σ w²`` added to
the loss, i.e. *coupled* L2 like PyTorch ``Adam(weight_decay=2λ)`` in the
authors' code); dropout is ``keras.layers.Dropout``. Biases are never
regularised (the thesis: "applied to all layers except biases").
"""

from keras_egl._keras import keras, tf
from keras_egl.validation import check_choice, check_non_negative

__all__ = ["L1", "GroupLasso21", "ExclusiveSparsity12", "weight_decay"]

_GROUPS = ("outgoing", "incoming")




def _matrix(x):
    x = tf.convert_to_tensor(x)
    if x.shape.rank is None or x.shape.rank < 2:
        raise ValueError(f"The weight must have rank >= 2 (a kernel); received shape {x.shape}.")
    # Conv kernels (kh, kw, in, out): neurons are the last two axes' units.
    if x.shape.rank > 2:
        x = tf.reshape(x, (-1, tf.shape(x)[-1]))
    return x


def _group_axis(groups):
    # Row i = outgoing weights of input neuron i → reduce over columns (axis 1).
    return 1 if groups == "outgoing" else 0


@keras.saving.register_keras_serializable(package="keras_egl")
class L1(keras.regularizers.Regularizer):
    """ℓ1-norm penalty ``λ Σ |w|``.

    Args:
        l1: coefficient ``λ ≥ 0``.

    Example:
        >>> keras.layers.Dense(10, kernel_regularizer=L1(1e-4))
    """

    def __init__(self, l1=0.01):
        self.l1 = check_non_negative(l1, "l1")

    def __call__(self, x):
        return self.l1 * tf.reduce_sum(tf.abs(x))

    def get_config(self):
        return {"l1": self.l1}


@keras.saving.register_keras_serializable(package="keras_egl")
class GroupLasso21(keras.regularizers.Regularizer):
    """Group sparsity ℓ2,1: ``λ Σ_g ‖w_g‖₂`` with one group per neuron.

    Args:
        l: coefficient ``λ ≥ 0``.
        groups: ``"outgoing"`` (rows ``W[i, :]``, default) or ``"incoming"``
            (columns ``W[:, j]``).
        epsilon: added inside the square root so the gradient at an all-zero
            group is finite (0 by default is replaced by 1e-12).

    Input shape: a kernel ``(N_in, N_out)`` (conv kernels are flattened to
    ``(-1, out)``). Output: scalar.

    Example:
        >>> keras.layers.Dense(500, kernel_regularizer=GroupLasso21(1e-3))
    """

    def __init__(self, l=0.01, groups="outgoing", epsilon=1e-12):
        self.l = check_non_negative(l, "l")
        self.groups = check_choice(groups, _GROUPS, "groups")
        self.epsilon = check_non_negative(epsilon, "epsilon")

    def __call__(self, x):
        w = _matrix(x)
        norms = tf.sqrt(tf.reduce_sum(tf.square(w), axis=_group_axis(self.groups)) + self.epsilon)
        return self.l * tf.reduce_sum(norms)

    def get_config(self):
        return {"l": self.l, "groups": self.groups, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="keras_egl")
class ExclusiveSparsity12(keras.regularizers.Regularizer):
    """Exclusive sparsity ℓ1,2: ``λ · ½ Σ_g (Σ_{w∈g} |w|)²``, one group per neuron.

    Promotes competition *within* each group (few non-zero weights per
    neuron) rather than removing whole groups.

    Args:
        l: coefficient ``λ ≥ 0``.
        groups: ``"outgoing"`` (default) or ``"incoming"``.

    Example:
        >>> keras.layers.Dense(500, kernel_regularizer=ExclusiveSparsity12(1e-4))
    """

    def __init__(self, l=0.01, groups="outgoing"):
        self.l = check_non_negative(l, "l")
        self.groups = check_choice(groups, _GROUPS, "groups")

    def __call__(self, x):
        w = _matrix(x)
        l1s = tf.reduce_sum(tf.abs(w), axis=_group_axis(self.groups))
        return self.l * 0.5 * tf.reduce_sum(tf.square(l1s))

    def get_config(self):
        return {"l": self.l, "groups": self.groups}


def weight_decay(l2):
    """Weight decay baseline: ``keras.regularizers.L2(l2)`` (``l2 Σ w²`` in the loss).

    PyTorch's coupled ``Adam(weight_decay=wd)`` adds ``wd·w`` to the gradient,
    which equals ``keras.regularizers.L2(wd / 2)``.
    """
    return keras.regularizers.L2(check_non_negative(l2, "l2"))
