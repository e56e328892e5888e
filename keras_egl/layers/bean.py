"""Dense layers that carry the BEAN co-activation regularizer.

Reference: Gao, Ascoli & Zhao, *Frontiers in Neurorobotics* 15:68 (2021);
Gao's dissertation ch. 2. See :mod:`keras_egl.regularizers.bean` for the
penalty.

Following the authors' code, a ``Dense`` layer pairs its **input**
activations ``H`` (layer ``l``) with its **own kernel** ``W`` (the outgoing
weights of layer ``l``) and adds ``α · L_c(H, W)`` through ``add_loss``; the
gradient reaches both ``W`` and every parameter upstream of ``H``.
"""

from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.regularizers.bean import BEANRegularizer, get as _get_bean
from keras_egl.validation import check_bool

__all__ = ["BEANDense", "BEANRegularized"]


def _flatten_inputs(inputs):
    # A Dense on (batch, ..., N_l) treats every leading position as a sample.
    if inputs.shape.rank is not None and inputs.shape.rank > 2:
        return tf.reshape(inputs, (-1, tf.shape(inputs)[-1]))
    return inputs


def _make_bean(bean, bean_alpha, bean_order, bean_gamma, bean_divergence, bean_normalize):
    if bean is not None:
        return _get_bean(bean)
    return BEANRegularizer(
        alpha=bean_alpha, order=bean_order, gamma=bean_gamma, divergence=bean_divergence, normalize=bean_normalize
    )


@keras.saving.register_keras_serializable(package="keras_egl")
class BEANDense(keras.layers.Dense):
    """``Dense`` whose input activations and kernel feed the BEAN penalty.

    ``outputs = activation(inputs @ kernel + bias)`` and, in every call,
    ``add_loss(α · L_c(inputs, kernel))`` with
    ``L_c = 1/(S N_l²) Σ_s Σ_ij A_ij (H_si − H_sj)²`` and ``A`` built from
    ``|tanh(γ kernel)|`` (BEAN-1, BEAN-2 or BEAN-cos).

    Args:
        units: ``N_{l+1}``.
        activation, use_bias, kernel_initializer, ...: as ``keras.layers.Dense``.
        bean: a :class:`BEANRegularizer` (or its config dict); if given it
            overrides the ``bean_*`` arguments.
        bean_alpha: ``α ≥ 0``.
        bean_order: ``1``, ``2`` or ``"cos"``.
        bean_gamma: ``γ > 0``.
        bean_divergence: ``"squared"`` (default) or ``"abs"``.
        bean_normalize: ``True`` = paper's ``1/N_{l+1}^order``; ``False`` = the
            authors' code, the scale of the reported α (1 for BEAN-1, 100 for
            BEAN-2). Default ``True``.
        track_penalty: also log the un-scaled ``L_c`` as a metric named
            ``"<layer name>_bean"`` (so ``History`` shows the balance of terms).

    Input shape: ``(batch, N_l)`` (or ``(batch, ..., N_l)``; leading axes are
    samples). Output shape: ``(batch, units)``.

    Example:
        >>> layer = BEANDense(84, activation="relu", bean_alpha=100.0, bean_order=2, bean_normalize=False)
        >>> y = layer(tf.random.normal((32, 120)))
        >>> float(layer.losses[0]) > 0
        True
    """

    def __init__(
        self,
        units,
        activation=None,
        bean=None,
        bean_alpha=1.0,
        bean_order=1,
        bean_gamma=1.0,
        bean_divergence="squared",
        bean_normalize=True,
        track_penalty=False,
        **kwargs,
    ):
        super().__init__(units, activation=activation, **kwargs)
        self.bean = _make_bean(bean, bean_alpha, bean_order, bean_gamma, bean_divergence, bean_normalize)
        self.track_penalty = check_bool(track_penalty, "track_penalty")
        self._penalty_tracker = _compat.value_tracker(self, f"{self.name}_bean") if self.track_penalty else None

    def call(self, inputs):
        outputs = super().call(inputs)
        if self.bean.alpha > 0:
            penalty = self.bean.penalty(_flatten_inputs(inputs), self.kernel)
            self.add_loss(self.bean.alpha * penalty)
            if self.track_penalty:
                _compat.track_layer_value(self, self._penalty_tracker, penalty, f"{self.name}_bean")
        return outputs

    def get_config(self):
        config = super().get_config()
        config["bean"] = self.bean.get_config()
        config["track_penalty"] = self.track_penalty
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="keras_egl")
class BEANRegularized(keras.layers.Wrapper):
    """Adds BEAN to an existing ``Dense`` layer (input activations + its kernel).

    The wrapped layer computes as before; the wrapper adds
    ``α · L_c(inputs, layer.kernel)`` through ``add_loss``.

    Args:
        layer: a built or unbuilt ``keras.layers.Dense`` (anything with a 2-D
            ``kernel`` whose first axis is the input width).
        bean: a :class:`BEANRegularizer` or its config dict (default: BEAN-1,
            α = 1, paper normalisation).
        track_penalty: log ``L_c`` as ``"<name>_bean"``.

    Input/output shapes: those of ``layer``.

    Example:
        >>> dense = keras.layers.Dense(10)
        >>> wrapped = BEANRegularized(dense, bean=BEANRegularizer(alpha=3.0, normalize=False))
        >>> logits = wrapped(tf.random.normal((4, 84)))
    """

    def __init__(self, layer, bean=None, track_penalty=False, **kwargs):
        if not isinstance(layer, keras.layers.Layer):
            raise TypeError(f"`layer` must be a keras Dense layer; received {type(layer).__name__}.")
        if not isinstance(layer, keras.layers.Dense):
            raise TypeError(
                f"`layer` must be a keras.layers.Dense (its kernel is the outgoing weight matrix); "
                f"received {type(layer).__name__}."
            )
        super().__init__(layer, **kwargs)
        self.bean = _get_bean(bean) if bean is not None else BEANRegularizer()
        self.track_penalty = check_bool(track_penalty, "track_penalty")
        self._penalty_tracker = _compat.value_tracker(self, f"{self.name}_bean") if self.track_penalty else None

    def build(self, input_shape):
        if not self.layer.built:
            self.layer.build(input_shape)
        super().build(input_shape)

    def call(self, inputs, *args, **kwargs):
        outputs = self.layer(inputs, *args, **kwargs)
        if self.bean.alpha > 0:
            penalty = self.bean.penalty(_flatten_inputs(inputs), self.layer.kernel)
            self.add_loss(self.bean.alpha * penalty)
            if self.track_penalty:
                _compat.track_layer_value(self, self._penalty_tracker, penalty, f"{self.name}_bean")
        return outputs

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config["bean"] = self.bean.get_config()
        config["track_penalty"] = self.track_penalty
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        layer = keras.layers.deserialize(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
