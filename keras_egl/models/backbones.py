"""Image classifiers to supervise with Grad-CAM (RES, GRADIA, HAICS).

* :func:`build_resnet50` — ``keras.applications.ResNet50`` with a new
  ``num_classes`` logit head; Grad-CAM layer ``conv5_block3_out`` (7×7 at 224),
  the Keras twin of torchvision's ``layer4[-1]`` used by the RES/GRADIA codes.
  ``weights=None`` (random init) or a *local* weights file — nothing is
  downloaded. ImageNet pretraining (what the papers use) is therefore only
  available if you have the ``.h5`` file.
* :func:`build_small_cnn` — a four-block CNN that trains in minutes on two CPU
  cores; the default for tests and quick reproductions. Its Grad-CAM layer is
  :data:`SMALL_CNN_LAYER` at ``input/8`` resolution (8×8 at 64).

Both return logits (``from_logits=True``).
"""

import numbers
import os

from keras_egl._keras import keras, tf
from keras_egl.validation import check_float, check_positive_int


def _check_image_shape(input_shape, allow_none=False):
    """``(H, W, C)`` of positive ints (``None`` for H/W only with ``allow_none``)."""
    ok = isinstance(input_shape, (tuple, list)) and len(input_shape) == 3 and all(
        (d is None and allow_none and i < 2) or (isinstance(d, numbers.Integral) and not isinstance(d, bool)
                                                 and d >= 1)
        for i, d in enumerate(input_shape))
    if not ok:
        raise ValueError(f"`input_shape` must be an image shape (H, W, C) of positive ints; got {input_shape!r}.")
    return tuple(None if d is None else int(d) for d in input_shape)

RESNET50_LAYER = "conv5_block3_out"
SMALL_CNN_LAYER = "cam_conv"

__all__ = ["build_resnet50", "build_small_cnn", "RESNET50_LAYER", "SMALL_CNN_LAYER", "cam_size"]


def build_resnet50(input_shape=(224, 224, 3), num_classes=2, weights=None, name="resnet50_egl"):
    """ResNet50 backbone + global-average-pool + ``Dense(num_classes)`` logits.

    Args:
      input_shape: ``(H, W, 3)``; 224×224 gives the papers' 7×7 CAM.
      num_classes: output logits (2 in RES/GRADIA).
      weights: ``None`` (random) or a path to a local Keras ResNet50 *notop*
        weights file (e.g. ``resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5``).
        ``"imagenet"`` is refused because it would download.
      name: model name.

    Returns:
      a functional ``keras.Model``; explain layer :data:`RESNET50_LAYER`.

    Example:
      >>> net = build_resnet50(weights=None)
      >>> egl = RESModel(net, explained_layer=RESNET50_LAYER)
    """
    if weights not in (None,) and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"`weights` must be None or a local file path; got {type(weights).__name__}.")
    if weights == "imagenet":
        raise ValueError("`weights`='imagenet' would download; pass None or a local weights file path.")
    if weights is not None and not os.path.exists(weights):
        raise ValueError(f"`weights` file {weights!r} does not exist.")
    input_shape = _check_image_shape(input_shape, allow_none=True)
    num_classes = check_positive_int(num_classes, "num_classes")
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=tuple(input_shape))
    if weights is not None:
        base.load_weights(weights)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    out = keras.layers.Dense(int(num_classes), name="logits")(x)
    return keras.Model(base.input, out, name=name)


def build_small_cnn(input_shape=(64, 64, 3), num_classes=2, filters=(16, 32, 64), cam_filters=64,
                    dropout=0.0, seed=0, name="small_cnn"):
    """A small CNN whose last conv (``cam_conv``) is at ``input/2^len(filters)`` resolution.

    ``[Conv3×3-ReLU-MaxPool2]`` per entry of ``filters``, then ``Conv3×3-ReLU``
    named ``cam_conv``, global average pooling, optional dropout and a logit
    layer. No BatchNorm, so ``training=True/False`` give the same CAM.

    Args:
      input_shape: ``(H, W, C)``.
      num_classes: number of logits.
      filters: channels of the pooled blocks.
      cam_filters: channels of the explained layer.
      dropout: dropout before the head.
      seed: kernel-initialiser seed.
      name: model name.

    Returns:
      a functional ``keras.Model`` (logits).
    """
    input_shape = _check_image_shape(input_shape)
    num_classes = check_positive_int(num_classes, "num_classes")
    if isinstance(filters, numbers.Integral) or not all(
            isinstance(f, numbers.Integral) and not isinstance(f, bool) for f in filters):
        raise TypeError(f"`filters` must be a tuple of ints; got {filters!r}.")
    if any(f < 1 for f in filters):
        raise ValueError(f"`filters` must be positive; got {filters!r}.")
    cam_filters = check_positive_int(cam_filters, "cam_filters")
    dropout = check_float(dropout, "dropout", low=0.0, high=1.0, high_inclusive=False)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
        raise TypeError(f"`seed` must be an int or None; got {type(seed).__name__} {seed!r}.")
    if input_shape[0] < 2 ** len(filters) or input_shape[1] < 2 ** len(filters):
        raise ValueError(f"`input_shape` {input_shape} is too small for {len(filters)} 2×2 poolings "
                         f"(H and W must be >= {2 ** len(filters)}).")
    init = lambda i: keras.initializers.GlorotUniform(None if seed is None else seed + i)  # noqa: E731
    inp = keras.Input(tuple(input_shape), name="image")
    x = inp
    for i, f in enumerate(filters):
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu", kernel_initializer=init(i),
                                name=f"conv{i}")(x)
        x = keras.layers.MaxPool2D(2, name=f"pool{i}")(x)
    x = keras.layers.Conv2D(cam_filters, 3, padding="same", activation="relu",
                            kernel_initializer=init(len(filters)), name=SMALL_CNN_LAYER)(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=seed, name="dropout")(x)
    out = keras.layers.Dense(int(num_classes), kernel_initializer=init(len(filters) + 1),
                             name="logits")(x)
    return keras.Model(inp, out, name=name)


def cam_size(model, layer_name):
    """Static ``(h, w)`` of ``layer_name``'s output in ``model`` (the CAM grid)."""
    from keras_egl.explain.activations import find_layer

    if not isinstance(model, keras.Model):
        raise TypeError(f"`model` must be a keras Model; got {type(model).__name__}.")
    shape = tf.TensorShape(find_layer(model, layer_name).output.shape)
    if shape.rank != 4 or shape[1] is None or shape[2] is None:
        raise ValueError(f"`layer_name`={layer_name!r} must name a conv layer with a static (B, h, w, C) output; "
                         f"its output has shape {shape}.")
    return int(shape[1]), int(shape[2])
