"""Grad-CAM (Selvaraju et al., ICCV 2017) as a differentiable, batched op.

For activations ``A ∈ R^{B×H×W×C}`` of a layer and a per-sample score ``y^c``:

    α_k = 1/(HW) Σ_ij ∂y^c/∂A_ijk                       (channel weights)
    M   = ReLU(Σ_k α_k A_k)                              (``relu=True``)
    M̂   = normalize(M)                                   (see :func:`~keras_egl.explain.masks.normalize_map`)

Two training semantics, which the original methods differ on, selected by
``cam_weights`` (the same name in the graph Grad-CAM and the training terms):

* ``cam_weights="detached"`` — ``α`` is a constant and the loss flows only
  through ``A`` (GRADIA and RES: PyTorch Grad-CAM via ``backward()`` without
  ``create_graph``);
* ``cam_weights="second_order"`` — ``α`` stays differentiable (double
  backpropagation; GNES and RRR-style).

A third choice is not Grad-CAM's channel average but HiResCAM (Draelos &
Carin, 2020): ``cam_weights="elementwise"`` gives ``M = Σ_k ∂y^c/∂A_k ⊙ A_k``,
the gradient taken at every position (as a constant, like ``"detached"``).
For a network whose head is not global average pooling (``Flatten`` + dense)
the channel average of Grad-CAM can cancel a large gradient at one position
against small ones elsewhere, so a model trained on Grad-CAM can keep using a
region its Grad-CAM no longer shows; the element-wise map is each position's
first-order contribution to the score and cannot hide it. With global
average pooling before a linear head the two maps are equal up to the ``1/HW``
factor.

The former name ``weights=`` still works but is deprecated.

The explanation is computed from the *same* forward pass as the outputs (see
:class:`keras_egl.explain.activations.ActivationModel`); no second pass.
"""

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import tf
from keras_egl.explain.activations import ActivationModel
from keras_egl.explain.masks import NORMALIZE_METHODS, normalize_map
from keras_egl.explain.targets import select_target
from keras_egl.validation import assert_values, check_bool, check_choice, check_pair

#: Values of ``cam_weights``.
CAM_WEIGHTS = ("detached", "second_order", "elementwise")
WEIGHTS = CAM_WEIGHTS  # former name
UPSAMPLE = (None, "bilinear", "nearest")


@renamed_argument("weights", "cam_weights")
def cam_from_gradients(activations, gradients, cam_weights="detached", relu=True,
                       normalize="minmax", size=None, method="bilinear", epsilon=0.0):
    """Grad-CAM map from activations ``(B, *S, C)`` and ``∂y/∂A`` of the same shape.

    Args:
      activations: ``(B, H, W, C)`` (or any ``(B, *spatial, C)``).
      gradients: ``∂y^c/∂A``, same shape.
      cam_weights: ``"detached"`` or ``"second_order"`` (see module docstring;
        ``weights=`` is the deprecated former name).
      relu: apply ReLU to the weighted sum.
      normalize: a :func:`~keras_egl.explain.masks.normalize_map` method
        (``"minmax"``, ``"relu_minmax"``, ``"max"``, ``"max_positive"``) or
        ``None``; NaN-safe (a constant map → 0).
      size: optional ``(H_out, W_out)`` to upsample the map to (2-D maps only).
      method: ``"bilinear"`` or ``"nearest"`` for upsampling.
      epsilon: added to the normaliser's denominator (the RES code adds 1e-6;
        0 = exact, still NaN-safe).

    Returns:
      ``(B, *spatial)`` maps (``(B, H_out, W_out)`` if ``size``).
    """
    check_choice(cam_weights, CAM_WEIGHTS, "cam_weights")
    check_choice(method, UPSAMPLE[1:], "method")
    check_choice(normalize, NORMALIZE_METHODS, "normalize")
    relu = check_bool(relu, "relu")
    if size is not None and not (isinstance(size, (tuple, list)) and None in tuple(size)):
        size = check_pair(size, "size")
    activations = tf.convert_to_tensor(activations)
    if activations.shape.rank is not None and activations.shape.rank < 3:
        raise ValueError("`activations` must be (batch, *spatial, channels); got shape "
                         f"{activations.shape}.")
    if gradients is None:
        raise ValueError("`gradients` is None: the explained layer has no gradient path to the score.")
    if not tf.is_tensor(gradients):
        gradients = tf.convert_to_tensor(gradients, dtype=activations.dtype)
    if not gradients.shape.is_compatible_with(activations.shape):
        raise ValueError(f"`gradients` shape {gradients.shape} must equal `activations` shape "
                         f"{activations.shape}.")
    spatial_axes = list(range(1, activations.shape.rank - 1))
    if cam_weights == "elementwise":
        alpha = tf.stop_gradient(gradients)
    else:
        alpha = tf.reduce_mean(gradients, axis=spatial_axes, keepdims=True)
    if cam_weights == "detached":
        alpha = tf.stop_gradient(alpha)
    cam = tf.reduce_sum(alpha * activations, axis=-1)
    if relu:
        cam = tf.nn.relu(cam)
    if size is not None:
        if cam.shape.rank != 3:
            raise ValueError(f"`size` upsampling needs 2-D maps; got maps of shape {cam.shape}.")
        cam = tf.image.resize(cam[..., None], size, method=method)[..., 0]
    if normalize is not None:
        cam = normalize_map(cam, normalize, epsilon=epsilon)
    return cam


@renamed_argument("weights", "cam_weights")
def grad_cam(model, x, layer_name, target="pred", y=None, cam_weights="detached", relu=True,
             normalize="minmax", upsample=None, from_logits=True, quantity="logit",
             training=False, return_outputs=False):
    """Batched Grad-CAM of ``model`` at ``layer_name`` for ``x``.

    Args:
      model: a Keras model (functional, Sequential or subclassed) — or an
        :class:`ActivationModel` already bound to the layer.
      x: input batch.
      layer_name: the convolutional layer to explain (e.g. ``"conv5_block3_out"``).
      target: ``"pred"``, ``"true"`` (needs ``y``), a class index / vector /
        one-hot; see :func:`keras_egl.explain.targets.select_target`.
      y: labels for ``target="true"``.
      cam_weights: ``"detached"`` (GRADIA/RES) or ``"second_order"`` (GNES);
        ``weights=`` is the deprecated former name.
      relu: ReLU on the weighted sum (standard Grad-CAM; GRADIA's training map
        is min–max normalised after ReLU).
      normalize: a :func:`~keras_egl.explain.masks.normalize_map` method or ``None``.
      upsample: ``None`` or ``"bilinear"``/``"nearest"`` to resize to the input's
        spatial size.
      from_logits, quantity: how the class score is read (``"logit"`` = y^c before softmax).
      training: passed to the model.
      return_outputs: also return the outputs of the same forward pass.

    Returns:
      maps ``(B, H, W)`` (and the outputs if ``return_outputs``).

    Example:
      >>> cams = grad_cam(model, images, "conv5_block3_out", target="true", y=labels,
      ...                 upsample="bilinear")
    """
    check_choice(upsample, UPSAMPLE, "upsample")
    check_choice(normalize, NORMALIZE_METHODS, "normalize")
    relu = check_bool(relu, "relu")
    fwd = model if isinstance(model, ActivationModel) else ActivationModel(model, layer_name)
    x = assert_values(tf.convert_to_tensor(x), "x", what="finite values")
    with tf.GradientTape() as tape:
        outputs, acts = fwd(x, training=training)
        tape.watch(acts)
        score = tf.reduce_sum(select_target(outputs, target, y=y, from_logits=from_logits,
                                            quantity=quantity))
    grads = tape.gradient(score, acts)
    size = None
    if upsample is not None:
        if x.shape.rank != 4:
            raise ValueError(f"`upsample` needs image inputs (B, H, W, C); got `x` of shape {x.shape}.")
        size = tuple(x.shape[1:3])
    cam = cam_from_gradients(acts, grads, cam_weights=cam_weights, relu=relu, normalize=normalize,
                             size=size, method=upsample or "bilinear")
    return (cam, outputs) if return_outputs else cam
