"""Label imputation layers ``h(F, C)`` of RES (Gao et al., KDD 2022, §3.2.2, App. A.5).

RES compares the continuous explanation ``M`` with a continuous version of
the binary annotations, ``h(F, C) ∈ [0, 1]``, so that pixels near a coarsely
drawn boundary get slack values:

* :class:`GaussianImputation` (RES-G): a fixed ``k×k`` Gaussian blur. The
  authors' code blurs the *positive part* of the label after nearest-resizing
  it to the CAM grid, with OpenCV's ``GaussianBlur((3, 3), 0)``, then divides by
  the max.
* :class:`ShallowImputation` (RES-L): one learnable convolution, 64×64 kernel,
  stride 32, padding 16 — maps 224×224 to the 7×7 Grad-CAM grid of ResNet50
  (``(224 + 32 − 64)/32 + 1 = 7``). Generalised: for input ``H`` and output
  ``o`` the defaults are stride ``s = ⌊H/o⌋``, kernel ``2s`` and symmetric
  padding filling the rest.
* :class:`DeepImputation`: five convolutions (7×7, then 3×3 ×4; padding 3, then
  1; stride 2 each; ReLU between), 224 → 7.

Inputs are channels-last masks ``(B, H, W)``, ``(B, H, W, 1)`` (``F`` only, the
code's choice) or ``(B, H, W, 2)`` (``F`` and ``C`` stacked, the paper's
``h(F, C)``). Outputs are ``(B, h, w)`` maps in ``[0, 1]`` (min–max normalised
per sample for the learnable layers, as the code; max-normalised for the
Gaussian). The learnable layers are trained jointly with the classifier by the
same optimiser when they are attributes of the model (see
:class:`keras_egl.models.res.RESModel`).
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.masks import normalize_map, resize_mask
from keras_egl.validation import check_float, check_pair, check_positive_int

__all__ = ["GaussianImputation", "ShallowImputation", "DeepImputation", "gaussian_kernel_1d"]

# OpenCV's fixed kernels used by getGaussianKernel when sigma <= 0 and ksize <= 7.
_CV_FIXED = {
    1: [1.0],
    3: [0.25, 0.5, 0.25],
    5: [0.0625, 0.25, 0.375, 0.25, 0.0625],
    7: [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125],
}


def gaussian_kernel_1d(kernel_size, sigma=0.0):
    """OpenCV ``getGaussianKernel(k, sigma)``: fixed tables for ``sigma ≤ 0, k ≤ 7``,
    else a sampled Gaussian with ``sigma = 0.3((k−1)/2 − 1) + 0.8`` when ``sigma ≤ 0``."""
    k = check_positive_int(kernel_size, "kernel_size")
    if k % 2 == 0:
        raise ValueError(f"`kernel_size` must be a positive odd int; got {kernel_size!r}.")
    sigma = check_float(sigma, "sigma")
    if sigma <= 0 and k in _CV_FIXED:
        return np.asarray(_CV_FIXED[k], np.float32)
    if sigma <= 0:
        sigma = 0.3 * ((k - 1) * 0.5 - 1) + 0.8
    x = np.arange(k) - (k - 1) / 2
    g = np.exp(-(x ** 2) / (2 * sigma ** 2))
    return (g / g.sum()).astype(np.float32)


def _as_channels(x, name, channels=None):
    x = tf.convert_to_tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise TypeError(f"`{name}` must be a real or boolean mask tensor; got dtype {x.dtype.name}.")
    x = tf.cast(x, tf.float32)
    if x.shape.rank == 3:
        x = x[..., None]
    if x.shape.rank != 4:
        raise ValueError(f"`{name}` must have shape (B, H, W) or (B, H, W, C); got shape {x.shape}.")
    if channels is not None and x.shape[-1] != channels:
        raise ValueError(f"`{name}` must have {channels} channel(s) ({'F' if channels == 1 else 'F, C'}); "
                         f"got shape {x.shape}.")
    return x


@keras.saving.register_keras_serializable(package="keras_egl")
class GaussianImputation(keras.layers.Layer):
    """RES-G imputation: a fixed Gaussian blur of the annotation, max-normalised.

        h(F) = blur_k,σ(F) / max blur_k,σ(F)           (``inputs="F"``, code)
        h(F, C) = ReLU(blur(F) − blur(C)) / max(·)     (``inputs="FC"``, paper's h(F, C))

    Args:
      kernel_size: odd ``k`` (code: 3; the paper leaves it open).
      sigma: Gaussian σ; ``≤ 0`` follows OpenCV (``k = 3`` → the fixed ¼[1, 2, 1]).
      output_size: optional ``(h, w)``; the mask is first nearest-resized to it
        (the code blurs the 7×7 nearest-resized label). ``None`` keeps the size.
      inputs: ``"F"`` (1 channel) or ``"FC"`` (2 channels: F, C).

    Input shape: ``(B, H, W)``/``(B, H, W, 1)`` for ``"F"``, ``(B, H, W, 2)`` for ``"FC"``.
    Output shape: ``(B, h, w)``.

    Border: reflect-101 (OpenCV's default). Non-trainable.

    Example:
      >>> GaussianImputation(3, output_size=7)(masks224).shape
      TensorShape([B, 7, 7])
    """

    def __init__(self, kernel_size=3, sigma=0.0, output_size=None, inputs="F", **kwargs):
        super().__init__(trainable=False, **{k: v for k, v in kwargs.items() if k != "trainable"})
        if inputs not in ("F", "FC"):
            raise ValueError(f"`inputs` must be 'F' or 'FC'; got {inputs!r}.")
        self.kernel_1d = gaussian_kernel_1d(kernel_size, sigma)
        self.kernel_size = int(kernel_size)
        self.sigma = float(sigma)
        self.output_size = None if output_size is None else check_pair(output_size, "output_size")
        self.inputs_mode = inputs

    def call(self, masks):
        x = _as_channels(masks, "masks", 1 if self.inputs_mode == "F" else 2)
        if self.output_size is not None:
            x = resize_mask(x, self.output_size, method="nearest")
        k = self.kernel_1d
        r = self.kernel_size // 2
        if r:
            h, w = x.shape[1], x.shape[2]
            if h <= r or w <= r:
                raise ValueError(f"`masks` spatial size {(h, w)} is too small for kernel_size {self.kernel_size}.")
            x = tf.pad(x, [[0, 0], [r, r], [r, r], [0, 0]], mode="REFLECT")  # reflect-101
            kh = tf.constant(k.reshape(-1, 1, 1, 1), tf.float32)
            kw = tf.constant(k.reshape(1, -1, 1, 1), tf.float32)
            c = x.shape[-1]
            x = tf.concat([tf.nn.conv2d(tf.nn.conv2d(x[..., i:i + 1], kh, 1, "VALID"), kw, 1, "VALID")
                           for i in range(c)], axis=-1)
        out = x[..., 0] if self.inputs_mode == "F" else tf.nn.relu(x[..., 0] - x[..., 1])
        return normalize_map(out, "max")

    def compute_output_shape(self, input_shape):
        size = self.output_size or tuple(input_shape[1:3])
        return tf.TensorShape([input_shape[0], *size])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(kernel_size=self.kernel_size, sigma=self.sigma, output_size=self.output_size,
                   inputs=self.inputs_mode)
        return cfg


@keras.saving.register_keras_serializable(package="keras_egl")
class ShallowImputation(keras.layers.Layer):
    """RES-L's learnable imputation: one convolution over the raw annotation.

    App. A.5: a 64×64 kernel, stride 32, padding 16 (224 → 7). With
    ``kernel_size``/``strides``/``padding`` left ``None`` they are derived from
    the input size ``H`` and ``output_size`` ``o``: ``s = ⌊H/o⌋``, ``k = 2s`` and
    padding ``((o − 1)s + k − H)/2`` (split low/high when odd), so any input
    maps onto any CAM grid. The output is min–max normalised per sample (code).

    Args:
      output_size: ``(h, w)`` or int — the CAM grid (7 for ResNet50 at 224).
      kernel_size, strides, padding: explicit geometry (ints or pairs), e.g.
        ``(64, 32, 16)``; ``None`` = derived as above.
      inputs: ``"F"`` (code) or ``"FC"`` (paper's ``h(F, C)``: 2 input channels).
      kernel_initializer: default a box filter ``1/(k_h k_w c)`` (a local average:
        a sensible imputation at step 0; the code uses PyTorch's random default).
      normalize: ``"minmax"`` (code) or ``"max"``.

    Input shape: ``(B, H, W)``/``(B, H, W, 1)`` or ``(B, H, W, 2)``; output ``(B, h, w)``.

    Example:
      >>> ShallowImputation(7)(tf.zeros((2, 224, 224))).shape
      TensorShape([2, 7, 7])
    """

    def __init__(self, output_size=7, kernel_size=None, strides=None, padding=None, inputs="F",
                 kernel_initializer=None, normalize="minmax", **kwargs):
        super().__init__(**kwargs)
        if inputs not in ("F", "FC"):
            raise ValueError(f"`inputs` must be 'F' or 'FC'; got {inputs!r}.")
        if normalize not in ("minmax", "max", None):
            raise ValueError(f"`normalize` must be 'minmax', 'max' or None; got {normalize!r}.")
        self.output_size = check_pair(output_size, "output_size")
        self.kernel_size = None if kernel_size is None else check_pair(kernel_size, "kernel_size")
        self.strides = None if strides is None else check_pair(strides, "strides")
        self.padding = None if padding is None else check_pair(padding, "padding", minimum=0)
        self.inputs_mode = inputs
        self.kernel_initializer = keras.initializers.get(kernel_initializer) if kernel_initializer else None
        self.normalize = normalize

    def _geometry(self, size, axis):
        o = self.output_size[axis]
        if self.kernel_size is not None and self.strides is not None and self.padding is not None:
            k, s, p = self.kernel_size[axis], self.strides[axis], self.padding[axis]
            out = (size + 2 * p - k) // s + 1
            if out != o:
                raise ValueError(f"kernel {k}, stride {s}, padding {p} map input size {size} to {out}, "
                                 f"not `output_size` {o}.")
            return k, s, (p, p)
        if size < o:
            raise ValueError(f"input size {size} is smaller than `output_size` {o}.")
        s = self.strides[axis] if self.strides else size // o
        k = self.kernel_size[axis] if self.kernel_size else 2 * s
        total = (o - 1) * s + k - size
        if total < 0:
            k -= total
            total = 0
        return k, s, (total // 2, total - total // 2)

    def build(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        if h is None or w is None:
            raise ValueError(f"ShallowImputation needs a static input size; got {input_shape}.")
        c = 1 if self.inputs_mode == "F" else 2
        (kh, sh, ph), (kw, sw, pw) = self._geometry(int(h), 0), self._geometry(int(w), 1)
        self._geom = ((kh, kw), (sh, sw), (ph, pw))
        init = self.kernel_initializer or keras.initializers.Constant(1.0 / (kh * kw * c))
        self.kernel = self.add_weight(name="kernel", shape=(kh, kw, c, 1), initializer=init,
                                      trainable=True)
        self.bias = self.add_weight(name="bias", shape=(1,), initializer="zeros", trainable=True)
        super().build(input_shape)

    def call(self, masks):
        x = _as_channels(masks, "masks", 1 if self.inputs_mode == "F" else 2)
        (_, _), strides, (ph, pw) = self._geom
        x = tf.pad(x, [[0, 0], list(ph), list(pw), [0, 0]])
        y = tf.nn.conv2d(x, self.kernel, strides=strides, padding="VALID") + self.bias
        y = y[..., 0]
        return normalize_map(y, self.normalize) if self.normalize else y

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], *self.output_size])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(output_size=self.output_size, kernel_size=self.kernel_size, strides=self.strides,
                   padding=self.padding, inputs=self.inputs_mode,
                   kernel_initializer=(keras.initializers.serialize(self.kernel_initializer)
                                       if self.kernel_initializer else None),
                   normalize=self.normalize)
        return cfg


@keras.saving.register_keras_serializable(package="keras_egl")
class DeepImputation(keras.layers.Layer):
    """RES's deep imputation design (App. A.5): five stride-2 convolutions.

    Kernels 7×7, 3×3, 3×3, 3×3, 3×3; padding 3 on the first and 1 on the rest;
    stride 2 each; ReLU between layers (code ``D1``); min–max output. 224 → 7;
    any input divisible by 32 maps to ``H/32``.

    Args:
      filters: channels of the hidden layers (code: 1).
      kernel_sizes: the five (or any number of) kernel sizes.
      inputs: ``"F"`` or ``"FC"``.
      output_size: optional expected ``(h, w)``; a mismatch raises ``ValueError``.
      normalize: ``"minmax"`` (code) or ``"max"``.
      seed: seed of the kernel initialiser.

    Input shape: ``(B, H, W[, 1|2])``; output ``(B, H/2^n, W/2^n)`` (ceil rule).
    """

    def __init__(self, filters=1, kernel_sizes=(7, 3, 3, 3, 3), inputs="F", output_size=None,
                 normalize="minmax", seed=None, **kwargs):
        super().__init__(**kwargs)
        if inputs not in ("F", "FC"):
            raise ValueError(f"`inputs` must be 'F' or 'FC'; got {inputs!r}.")
        self.filters = check_positive_int(filters, "filters")
        if isinstance(kernel_sizes, (int, np.integer)) or not all(
                isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in kernel_sizes):
            raise TypeError(f"`kernel_sizes` must be a sequence of positive odd ints; got {kernel_sizes!r}.")
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        if not self.kernel_sizes or any(k < 1 or k % 2 == 0 for k in self.kernel_sizes):
            raise ValueError(f"`kernel_sizes` must be positive odd ints; got {kernel_sizes!r}.")
        if normalize not in ("minmax", "max", None):
            raise ValueError(f"`normalize` must be 'minmax', 'max' or None; got {normalize!r}.")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"`seed` must be an int or None; got {type(seed).__name__} {seed!r}.")
        self.inputs_mode = inputs
        self.output_size = None if output_size is None else check_pair(output_size, "output_size")
        self.normalize = normalize
        self.seed = seed
        n = len(self.kernel_sizes)
        self.convs = []
        for i, k in enumerate(self.kernel_sizes):
            last = i == n - 1
            self.convs.append((
                keras.layers.ZeroPadding2D(k // 2),
                keras.layers.Conv2D(1 if last else self.filters, k, strides=2, padding="valid",
                                    activation=None if last else "relu",
                                    kernel_initializer=keras.initializers.GlorotUniform(
                                        None if seed is None else seed + i),
                                    name=f"conv{i}"),
            ))

    def build(self, input_shape):
        h, w = input_shape[1], input_shape[2]
        c = 1 if self.inputs_mode == "F" else 2
        for (_, conv), k in zip(self.convs, self.kernel_sizes):
            # Build the convolutions here (not lazily in call) so their weights
            # exist as soon as the layer is built (RESTerm.build).
            if not conv.built:
                conv.build(tf.TensorShape([None, h + 2 * (k // 2), w + 2 * (k // 2), c]))
            c = conv.filters
            h = (h + 2 * (k // 2) - k) // 2 + 1
            w = (w + 2 * (k // 2) - k) // 2 + 1
        if self.output_size is not None and (h, w) != self.output_size:
            raise ValueError(f"DeepImputation maps input {tuple(input_shape[1:3])} to {(h, w)}, not "
                             f"`output_size` {self.output_size}.")
        self._out = (h, w)
        super().build(input_shape)

    def call(self, masks):
        x = _as_channels(masks, "masks", 1 if self.inputs_mode == "F" else 2)
        for pad, conv in self.convs:
            x = conv(pad(x))
        y = x[..., 0]
        return normalize_map(y, self.normalize) if self.normalize else y

    def compute_output_shape(self, input_shape):
        return tf.TensorShape([input_shape[0], *self._out])

    def get_config(self):
        cfg = super().get_config()
        cfg.update(filters=self.filters, kernel_sizes=self.kernel_sizes, inputs=self.inputs_mode,
                   output_size=self.output_size, normalize=self.normalize, seed=self.seed)
        return cfg
