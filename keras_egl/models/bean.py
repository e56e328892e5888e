"""Model builders of BEAN's experiments (thesis ch. 2): MLP, LeNet-5, ResNet-18.

Reference: Gao, Ascoli & Zhao, *Frontiers in Neurorobotics* 15:68 (2021).

Every builder returns a functional ``keras.Model`` producing **logits** and
takes the same regularisation arguments, so one experiment loop compares
vanilla / dropout / weight decay / ℓ1 / group / exclusive / BEAN:

* ``bean``: ``None`` or a :class:`~keras_egl.regularizers.bean.BEANRegularizer`
  (or its config dict). The regularised ``Dense`` layers become
  :class:`~keras_egl.layers.bean.BEANDense` (input activations × own kernel).
* ``kernel_regularizer``: a Keras regularizer for the same dense kernels
  (ℓ1, ℓ2,1, ℓ1,2, weight decay), biases untouched.
* ``dropout``: rate of ``Dropout`` after each hidden dense layer (only in
  training: the authors' ``F.dropout`` left it on at evaluation, a bug we do
  not reproduce).

Which layers BEAN regularises follows the authors' code: every ``Dense``,
pairing its input with its kernel — for LeNet-5 the 400 flattened conv
features (fc1), the 120 (fc2) and the 84 (fc3) units; the logits never.
"""

import numbers

from keras_egl._keras import keras
from keras_egl.validation import check_float, check_positive_int
from keras_egl.layers.bean import BEANDense
from keras_egl.regularizers.bean import get as _get_bean

__all__ = ["mlp", "lenet5", "resnet18_cifar", "dense_block"]


def _init(seed, k):
    return keras.initializers.GlorotUniform(seed=None if seed is None else int(seed) * 7919 + k)


def _he(seed, k):
    return keras.initializers.HeNormal(seed=None if seed is None else int(seed) * 7919 + k)


def dense_block(units, activation=None, bean=None, kernel_regularizer=None, seed=None, index=0, name=None):
    """One ``Dense`` (or ``BEANDense`` when ``bean`` is given) with a seeded initializer."""
    kw = dict(activation=activation, kernel_initializer=_init(seed, index), name=name)
    if kernel_regularizer is not None:
        kw["kernel_regularizer"] = kernel_regularizer
    bean = _get_bean(bean)
    if bean is not None:
        return BEANDense(units, bean=bean, **kw)
    return keras.layers.Dense(units, **kw)


def _check_shape(input_shape, rank, name):
    if not isinstance(input_shape, (tuple, list)) or len(input_shape) != rank or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in input_shape):
        raise ValueError(f"`input_shape` of {name} must be a tuple of {rank} positive ints; received "
                         f"{input_shape!r}.")
    return tuple(int(d) for d in input_shape)


def _check_dropout(dropout):
    return check_float(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)


def _check_seed(seed):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"`seed` must be an int or None; received {type(seed).__name__} {seed!r}.")
    return seed


def _check_widths(hidden):
    if isinstance(hidden, numbers.Integral) or not all(
            isinstance(h, numbers.Integral) and not isinstance(h, bool) for h in hidden):
        raise TypeError(f"`hidden` must be a tuple of ints, e.g. (500,); received {hidden!r}.")
    hidden = tuple(int(h) for h in hidden)
    if any(h <= 0 for h in hidden):
        raise ValueError(f"`hidden` widths must be positive; received {hidden}.")
    return hidden


def mlp(
    hidden=(500,),
    input_shape=(784,),
    n_classes=10,
    bean=None,
    bean_layers="all",
    kernel_regularizer=None,
    dropout=0.0,
    seed=None,
    name="mlp",
):
    """Multi-layer perceptron with ReLU hidden layers (1×500 for §2.3.1, 3×500 for Table 2.1).

    Args:
        hidden: hidden widths, e.g. ``(500,)`` or ``(500, 500, 500)``.
        input_shape: input shape; anything but 1-D is flattened.
        n_classes: output logits.
        bean: BEAN regularizer (config) or ``None``.
        bean_layers: ``"all"`` — every Dense, the first one pairing the raw
            input pixels with its kernel (the authors' code convention) — or
            ``"hidden"`` — skip the first Dense (only hidden activations).
        kernel_regularizer: Keras regularizer for every dense kernel.
        dropout: dropout rate after each hidden layer.
        seed: initialisation seed.

    Returns:
        ``keras.Model``: ``(batch, *input_shape) → (batch, n_classes)`` logits.

    Example:
        >>> model = mlp((500, 500, 500), bean=BEANRegularizer(alpha=3.0, normalize=False))
    """
    if bean_layers not in ("all", "hidden"):
        raise ValueError(f"`bean_layers` must be 'all' or 'hidden'; received {bean_layers!r}.")
    hidden = _check_widths(hidden)
    dropout = _check_dropout(dropout)
    n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
    seed = _check_seed(seed)
    if isinstance(input_shape, numbers.Integral):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise ValueError(f"`input_shape` of mlp must be a non-empty tuple of positive ints; received {input_shape!r}.")
    input_shape = _check_shape(input_shape, len(input_shape), "mlp")
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = keras.layers.Flatten()(inputs) if len(input_shape) != 1 else inputs
    widths = hidden + (int(n_classes),)
    for i, units in enumerate(widths):
        last = i == len(widths) - 1
        layer_bean = bean if (bean_layers == "all" or i > 0) else None
        x = dense_block(
            units,
            None if last else "relu",
            bean=layer_bean,
            kernel_regularizer=kernel_regularizer,
            seed=seed,
            index=i,
            name="logits" if last else f"fc{i + 1}",
        )(x)
        if not last and dropout > 0:
            x = keras.layers.Dropout(dropout, seed=seed)(x)
    return keras.Model(inputs, x, name=name)


def lenet5(
    input_shape=(28, 28, 1),
    n_classes=10,
    bean=None,
    kernel_regularizer=None,
    dropout=0.0,
    conv1_padding="auto",
    seed=None,
    name="lenet5",
):
    """LeNet-5 as in the authors' code, with BEAN on all three dense layers.

    conv 6@5×5 → max-pool 2 → conv 16@5×5 → max-pool 2 → flatten →
    dense 120 → dense 84 → dense ``n_classes`` (ReLU). ``fc1`` pairs BEAN
    with the flattened conv features, ``fc2`` with the 120, ``fc3`` (the
    logits layer) with the 84 units.

    Args:
        input_shape: ``(28, 28, 1)`` (MNIST/Fashion-MNIST) or ``(32, 32, 3)``.
        n_classes: logits.
        bean: BEAN regularizer (config) or ``None``.
        kernel_regularizer: regularizer for the three dense kernels (ℓ1, L2…).
        dropout: rate after fc1 and fc2 (training only).
        conv1_padding: ``"same"`` (pad 2, as LeNet on 28×28), ``"valid"``, or
            ``"auto"`` = ``"same"`` for 28×28 inputs, ``"valid"`` otherwise
            (flatten size 400 for both MNIST and 32×32 CIFAR; the thesis does
            not say how LeNet was adapted to CIFAR — assumption).
        seed: initialisation seed.

    Returns:
        ``keras.Model`` producing logits; layers named ``fc1``, ``fc2``, ``fc3``.

    Example:
        >>> model = lenet5(bean=BEANRegularizer(alpha=1.0, order=1, normalize=False), seed=0)
    """
    input_shape = _check_shape(input_shape, 3, "lenet5")
    if conv1_padding == "auto":
        conv1_padding = "same" if input_shape[:2] == (28, 28) else "valid"
    if conv1_padding not in ("same", "valid"):
        raise ValueError(f"`conv1_padding` must be 'auto', 'same' or 'valid'; received {conv1_padding!r}.")
    dropout = _check_dropout(dropout)
    n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
    seed = _check_seed(seed)
    side = min(input_shape[:2]) - (4 if conv1_padding == "valid" else 0)
    if (side // 2 - 4) // 2 < 1:
        raise ValueError(f"`input_shape` {input_shape} is too small for LeNet-5 (conv 5×5, pool, conv 5×5, pool "
                         f"with conv1_padding={conv1_padding!r}).")
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Conv2D(6, 5, padding=conv1_padding, activation="relu", kernel_initializer=_init(seed, 101),
                            name="conv1")(inputs)
    x = keras.layers.MaxPooling2D(2, name="pool1")(x)
    x = keras.layers.Conv2D(16, 5, activation="relu", kernel_initializer=_init(seed, 102), name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for i, units in enumerate((120, 84)):
        x = dense_block(units, "relu", bean, kernel_regularizer, seed, i, name=f"fc{i + 1}")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout, seed=None if seed is None else seed + i, name=f"drop{i + 1}")(x)
    x = dense_block(int(n_classes), None, bean, kernel_regularizer, seed, 2, name="fc3")(x)
    return keras.Model(inputs, x, name=name)


def _basic_block(x, filters, stride, seed, idx, prefix):
    shortcut = x
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            kernel_initializer=_he(seed, idx), name=f"{prefix}_conv1")(x)
    y = keras.layers.BatchNormalization(name=f"{prefix}_bn1")(y)
    y = keras.layers.ReLU()(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=_he(seed, idx + 1),
                            name=f"{prefix}_conv2")(y)
    y = keras.layers.BatchNormalization(name=f"{prefix}_bn2")(y)
    if stride != 1 or shortcut.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       kernel_initializer=_he(seed, idx + 2), name=f"{prefix}_short")(shortcut)
        shortcut = keras.layers.BatchNormalization(name=f"{prefix}_short_bn")(shortcut)
    return keras.layers.ReLU()(keras.layers.Add()([y, shortcut]))


def resnet18_cifar(input_shape=(32, 32, 3), n_classes=10, bean=None, kernel_regularizer=None, width=64, seed=None,
                   name="resnet18"):
    """CIFAR-style ResNet-18 (3×3 stem, no stem pooling) with BEAN on the final Dense.

    Stem conv 3×3 → 4 stages of 2 basic blocks (``width·[1, 2, 4, 8]``
    channels, strides 1, 2, 2, 2) → global average pooling (``8·width`` = 512
    features) → dense ``n_classes``. As in the authors' script, BEAN pairs the
    pooled features with the final ``Dense`` kernel (512×10).

    Args:
        input_shape: e.g. ``(32, 32, 3)``.
        n_classes: logits.
        bean: BEAN regularizer (config) for the final ``Dense`` or ``None``.
        kernel_regularizer: regularizer for the final dense kernel.
        width: channels of the first stage (64 in ResNet-18; smaller for tests).
        seed: initialisation seed.

    Returns:
        ``keras.Model`` producing logits; the final layer is named ``linear``
        and the pooled features ``features``.

    Example:
        >>> model = resnet18_cifar(bean={"alpha": 3.0, "order": 1, "normalize": False}, width=16)
    """
    input_shape = _check_shape(input_shape, 3, "resnet18_cifar")
    width = check_positive_int(width, "width")
    n_classes = check_positive_int(n_classes, "n_classes", minimum=2)
    seed = _check_seed(seed)
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Conv2D(width, 3, padding="same", use_bias=False, kernel_initializer=_he(seed, 0),
                            name="stem_conv")(inputs)
    x = keras.layers.BatchNormalization(name="stem_bn")(x)
    x = keras.layers.ReLU()(x)
    idx = 10
    for stage, (mult, stride) in enumerate(zip((1, 2, 4, 8), (1, 2, 2, 2))):
        for block in range(2):
            x = _basic_block(x, width * mult, stride if block == 0 else 1, seed, idx, f"s{stage + 1}b{block + 1}")
            idx += 3
    x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    x = dense_block(int(n_classes), None, bean, kernel_regularizer, seed, 3, name="linear")(x)
    return keras.Model(inputs, x, name=name)
