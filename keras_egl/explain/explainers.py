"""Explainers: what ``model.explain(x)``, explanation metrics and the ``explain`` export return.

An explainer is a config-serializable callable ``explainer(ctx) -> maps`` over an
:class:`~keras_egl.terms.core.ExplanationContext` (the forward pass of one
batch). Every ``ExplanationGuidedModel`` — and every method preset built on it —
uses the **same** default unless the user passes ``explainer=``:

* with an ``explained_layer``: :class:`GradCAM` — predicted class, ReLU,
  min–max normalised, bilinearly upsampled to the input for images
  (Selvaraju et al. 2017's map);
* without one: :class:`InputGradient` — ``∂ logit_pred / ∂x`` (``∂ p_pred/∂x``
  for a model that outputs probabilities), the raw input gradient of the model
  input's shape.

Method-specific maps are explainers too, e.g. RES's test-time map
``GradCAM(relu=False)`` (``RES.py``'s ``model_test``) or RRR's visualisation
quantity ``InputGradient(target="max_prob")``. Like Captum's
``LayerGradCam(forward_func, layer).attribute(...)``, one explainer serves
every caller.
"""

import copy

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.targets import NAMED_TARGETS
from keras_egl.validation import check_bool, check_choice

__all__ = ["GradCAM", "InputGradient", "default_explainer", "get"]

_NORMALIZE = ("minmax", "max", "relu_minmax", None)
_UPSAMPLE = (None, "bilinear", "nearest")


@keras.saving.register_keras_serializable(package="keras_egl")
class GradCAM:
    """Grad-CAM of the model's ``explained_layer`` from the step's forward pass.

    Args:
      target: ``"pred"`` (default), ``"true"`` (needs labels) or a class index.
      relu: ReLU on the weighted sum (standard Grad-CAM; RES/HAICS code: False).
      normalize: ``"minmax"`` (default), ``"max"``, ``"relu_minmax"`` or None.
      upsample: ``"bilinear"`` (default), ``"nearest"`` or None; applied only to
        image inputs ``(B, H, W, C)``.
      cam_weights: ``"detached"`` (default) or ``"second_order"``.
      quantity: the explained score, ``"logit"`` (default) or ``"prob"``.

    Returns maps ``(B, H, W)`` (the input's size when upsampled).
    """

    def __init__(self, target="pred", relu=True, normalize="minmax", upsample="bilinear",
                 cam_weights="detached", quantity="logit"):
        self.target = _check_target(target, ("pred", "true"))
        self.relu = check_bool(relu, "relu")
        self.normalize = check_choice(normalize, _NORMALIZE, "normalize")
        self.upsample = check_choice(upsample, _UPSAMPLE, "upsample")
        self.cam_weights = check_choice(cam_weights, ("detached", "second_order"), "cam_weights")
        self.quantity = check_choice(quantity, ("logit", "prob", "log_prob"), "quantity")

    def __call__(self, ctx):
        up = self.upsample if ctx.x0.shape.rank == 4 else None
        return ctx.grad_cam(target=self.target, cam_weights=self.cam_weights, relu=self.relu,
                            normalize=self.normalize, upsample=up, quantity=self.quantity)

    def get_config(self):
        return {"target": self.target, "relu": self.relu, "normalize": self.normalize,
                "upsample": self.upsample, "cam_weights": self.cam_weights, "quantity": self.quantity}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"GradCAM({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


@keras.saving.register_keras_serializable(package="keras_egl")
class InputGradient:
    """Input gradients ``∂ s/∂x`` of the step's forward pass.

    Args:
      target: ``"pred"`` (default), ``"true"``, a class index, or a named score
        of :func:`keras_egl.explain.targets.select_target` (``"max_prob"`` is
        RRR's visualisation quantity, ``"sum_log_prob"`` its penalised one).
      quantity: ``"logit"`` or ``"prob"``; ``None`` (default) = ``"logit"`` for
        a model with ``from_logits=True``, ``"prob"`` otherwise.
      reduce_channels: None (default: the gradient has the input's shape) or
        ``"sum_abs"`` (``Σ_c |g|``: one ``(B, H, W)`` map per image).
    """

    def __init__(self, target="pred", quantity=None, reduce_channels=None):
        self.target = _check_target(target, ("pred", "true") + NAMED_TARGETS)
        self.quantity = check_choice(quantity, (None, "logit", "prob", "log_prob"), "quantity")
        self.reduce_channels = check_choice(reduce_channels, (None, "sum_abs"), "reduce_channels")

    def __call__(self, ctx):
        quantity = self.quantity or ("logit" if ctx.from_logits else "prob")
        g = ctx.input_gradients(target=self.target, quantity=quantity)
        if self.reduce_channels == "sum_abs":
            g = tf.reduce_sum(tf.abs(g), axis=-1)
        return g

    def get_config(self):
        return {"target": self.target, "quantity": self.quantity, "reduce_channels": self.reduce_channels}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"InputGradient({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _check_target(target, names):
    """An explainer's ``target``: one of ``names`` or a class index ``>= 0``."""
    if isinstance(target, str):
        return check_choice(target, names, "target")
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, (int, np.integer)):
        raise TypeError(f"`target` must be one of {names} or a class index (int >= 0); "
                        f"got {type(target).__name__} {target!r}.")
    if int(target) < 0:
        raise ValueError(f"`target` class index must be >= 0; got {int(target)}.")
    return int(target)


def default_explainer(explained_layer):
    """The library-wide default: :class:`GradCAM` with a layer, :class:`InputGradient` without."""
    return GradCAM() if explained_layer is not None else InputGradient()


def get(identifier):
    """An explainer from an instance, a callable, a config dict or ``"grad_cam"``/``"input_gradient"``."""
    if identifier is None:
        return None
    if isinstance(identifier, str):
        table = {"grad_cam": GradCAM, "input_gradient": InputGradient}
        check_choice(identifier, tuple(table), "explainer")
        return table[identifier]()
    if isinstance(identifier, dict):
        try:
            explainer = keras.saving.deserialize_keras_object(copy.deepcopy(identifier))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"`explainer` config {identifier!r} does not describe a registered explainer: "
                             f"{exc}") from exc
        if not callable(explainer):
            raise TypeError(f"`explainer` config must describe a callable ctx -> maps; got "
                            f"{type(explainer).__name__}.")
        return explainer
    if callable(identifier):
        return identifier
    raise TypeError(f"`explainer` must be a callable ctx -> maps, a name or a config; got {identifier!r}.")
