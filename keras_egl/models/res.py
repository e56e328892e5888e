"""RES models: Grad-CAM supervision with the robust explanation loss (RES-G, RES-L).

Gao et al., "RES: A Robust Framework for Guiding Visual Explanation", KDD 2022.

    min_{θ,φ}  Σ_i CE(f_θ(x_i), y_i) + λ · L_Exp(M_i, F_i, C_i; h_φ)

with ``M_i`` the Grad-CAM of the explained layer for the **true** class
computed batched from the training forward pass (the authors run a second
per-sample forward instead), and ``L_Exp`` :class:`keras_egl.losses.res.RESLoss`.

* :class:`RESTerm` — the :class:`~keras_egl.models.base.ExplanationTerm`: reads
  ``"mask"`` (positive ``F``) and optionally ``"negative_mask"`` (``C``) at input
  resolution, resizes them to the CAM grid (nearest, as the code), imputes
  ``h(F[, C])`` and evaluates the loss. Samples without annotation drop out.
* :class:`RESModel` — an ``ExplanationGuidedModel`` with ``preset="RES-G"``
  (Gaussian imputation) or ``"RES-L"`` (learnable :class:`ShallowImputation`,
  trained jointly with the classifier) and ``fidelity="code"|"paper"``:

  ============================ ====================== ==========================
  point                        ``"code"`` (default)   ``"paper"``
  ============================ ====================== ==========================
  training CAM                 min–max, no ReLU       ReLU, divide by max
  hinge                        pooled over the batch  per sample, averaged
  threshold counts             normalised per group   raw counts
  distance term                all pixels             annotated pixels only
  imputation input             F                      F and C
  test-time CAM (metrics)      pred class, no ReLU,   pred class, ReLU,
                               min–max                divide by max
  ============================ ====================== ==========================

  Both use γ = 5 (code; the paper gives none), first-order ("detached")
  Grad-CAM weights (the code's semantics; ``cam_weights="second_order"`` for
  double backprop), masks resized by nearest neighbour, ``α`` default 0.01 (the
  paper's scene value).

Example:
  >>> net = build_small_cnn((64, 64, 3))
  >>> egl = RESModel(net, explained_layer="cam_conv", preset="RES-L", alpha=0.01)
  >>> egl.compile(keras.optimizers.Adam(1e-3),
  ...             keras.losses.SparseCategoricalCrossentropy(from_logits=True), ["accuracy"])
  >>> egl.fit({"x": x, "mask": pos, "negative_mask": neg}, y, epochs=30, batch_size=32)
"""

import functools

from keras_egl._keras import keras, tf
from keras_egl.explain.activations import find_layer
from keras_egl.explain.masks import as_map_batch, resize_mask
from keras_egl.layers.imputation import DeepImputation, GaussianImputation, ShallowImputation
from keras_egl.losses.res import FIDELITIES, RESLoss
from keras_egl.metrics.explanation import (ExplanationF1, ExplanationIoU, ExplanationPrecision,
                                           ExplanationRecall)
from keras_egl.models.base import ExplanationGuidedModel, ExplanationTerm

PRESETS = ("RES-G", "RES-L", "RES-L-deep", None)
IMPUTATIONS = ("gaussian", "shallow", "deep", None)

_masks = functools.partial(as_map_batch, dtype=tf.float32)

__all__ = ["RESTerm", "RESModel", "res_explainer", "default_explanation_metrics", "PRESETS"]




def _check_mask_size(mask, name, x):
    x0 = tf.nest.flatten(x)[0]
    if x0.shape.rank == 4 and tuple(mask.shape[1:3]) != tuple(x0.shape[1:3]):
        raise ValueError(f"`{name}` must have the input's spatial size {tuple(x0.shape[1:3])}; "
                         f"got {tuple(mask.shape[1:3])}.")


@keras.saving.register_keras_serializable(package="keras_egl")
class RESTerm(ExplanationTerm):
    """RES explanation term (see module docstring).

    Args:
      weight: λ (paper and code: 1).
      loss: a :class:`RESLoss` or its config dict (default ``RESLoss.preset(fidelity)``).
      imputation: ``"gaussian"`` (RES-G), ``"shallow"`` (RES-L), ``"deep"``, ``None``
        (hinge only) or a Keras layer mapping masks to ``(B, h, w)``.
      imputation_inputs: ``"F"`` (code) or ``"FC"`` (paper's ``h(F, C)``).
      imputation_regularization: weight of ``mean (h(F) − F↓)²`` tying the
        learnable imputation to the label (code ``--reg``, default 0).
      relu, normalize: training-CAM options (code: ``False``, ``"minmax"``).
      cam_weights: ``"detached"`` (code) or ``"second_order"``.
      gaussian_kernel: ``k`` of RES-G (code 3).
      mask_key, negative_key: input-dict keys of ``F`` and ``C``.
      name: log key (``"res_loss"``).
    """

    default_name = "res_loss"
    required_annotations = ("mask",)

    def __init__(self, weight=1.0, loss=None, imputation="gaussian", imputation_inputs="F",
                 imputation_regularization=0.0, relu=False, normalize="minmax",
                 cam_weights="detached", gaussian_kernel=3, mask_key="mask",
                 negative_key="negative_mask", name=None):
        super().__init__(weight=weight, name=name)
        if isinstance(loss, dict):
            loss = RESLoss.from_config(loss)
        self.loss = loss if loss is not None else RESLoss.preset("code")
        if not isinstance(self.loss, RESLoss):
            raise TypeError(f"`loss` must be a RESLoss or its config; got {type(loss).__name__}.")
        if isinstance(imputation, dict):
            imputation = keras.saving.deserialize_keras_object(imputation)
        if not (imputation in IMPUTATIONS or isinstance(imputation, keras.layers.Layer)):
            raise ValueError(f"`imputation` must be one of {IMPUTATIONS} or a Layer; got {imputation!r}.")
        if imputation_inputs not in ("F", "FC"):
            raise ValueError(f"`imputation_inputs` must be 'F' or 'FC'; got {imputation_inputs!r}.")
        if cam_weights not in ("detached", "second_order"):
            raise ValueError(f"`cam_weights` must be 'detached' or 'second_order'; got {cam_weights!r}.")
        self.imputation = imputation
        self.imputation_inputs = imputation_inputs
        self.imputation_regularization = float(imputation_regularization)
        self.relu = bool(relu)
        self.normalize = normalize
        self.cam_weights = cam_weights
        self.gaussian_kernel = int(gaussian_kernel)
        self.mask_key = mask_key
        self.negative_key = negative_key
        self.layer = imputation if isinstance(imputation, keras.layers.Layer) else None

    def bind(self, input_size, cam_grid, seed=0):
        """Create and build the imputation layer for ``input_size`` → ``cam_grid`` (called by RESModel)."""
        if self.layer is None and self.imputation is not None:
            if self.imputation == "gaussian":
                self.layer = GaussianImputation(self.gaussian_kernel, output_size=cam_grid,
                                                inputs=self.imputation_inputs, name=f"{self.name}_h")
            elif self.imputation == "shallow":
                self.layer = ShallowImputation(cam_grid, inputs=self.imputation_inputs,
                                               name=f"{self.name}_h")
            else:
                self.layer = DeepImputation(inputs=self.imputation_inputs, seed=seed,
                                            name=f"{self.name}_h")
        if self.layer is not None and not self.layer.built:
            c = 1 if self.imputation_inputs == "F" else 2
            self.layer.build(tf.TensorShape([None, *input_size, c]))
        return self.layer

    def cam(self, ctx):
        return ctx.grad_cam(target="true", weights=self.cam_weights, relu=self.relu,
                            normalize=self.normalize)

    def compute(self, ctx):
        cam = self.cam(ctx)
        grid = tuple(cam.shape[1:3])
        pos = _masks(ctx.annotation(self.mask_key), self.mask_key)
        _check_mask_size(pos, self.mask_key, ctx.x)
        neg = ctx.annotation(self.negative_key)
        neg = tf.zeros_like(pos) if neg is None else _masks(neg, self.negative_key)
        _check_mask_size(neg, self.negative_key, ctx.x)
        flags = ctx.flags(self.mask_key)
        pos7 = resize_mask(pos, grid, method="nearest")
        neg7 = resize_mask(neg, grid, method="nearest")
        imputed = None
        reg = 0.0
        if self.imputation is not None:
            if self.layer is None:
                self.bind(tuple(pos.shape[1:3]), grid)
            inp = pos[..., None] if self.imputation_inputs == "F" else tf.stack([pos, neg], -1)
            imputed = self.layer(inp)
            if tuple(imputed.shape[1:3]) != grid:
                raise ValueError(f"the imputation maps masks to {tuple(imputed.shape[1:3])}, "
                                 f"not the CAM grid {grid}.")
            if self.imputation_regularization:
                per = tf.reduce_mean(tf.square(imputed - pos7), [1, 2])
                reg = self.imputation_regularization * tf.math.divide_no_nan(
                    tf.reduce_sum(per * flags), tf.reduce_sum(flags))
        value = self.loss(cam, pos7, neg7, imputed=imputed, sample_weight=flags)
        return value + reg

    def get_config(self):
        cfg = super().get_config()
        imp = self.imputation
        if isinstance(imp, keras.layers.Layer):
            imp = keras.saving.serialize_keras_object(imp)
        cfg.update(loss=self.loss.get_config(), imputation=imp,
                   imputation_inputs=self.imputation_inputs,
                   imputation_regularization=self.imputation_regularization, relu=self.relu,
                   normalize=self.normalize, cam_weights=self.cam_weights,
                   gaussian_kernel=self.gaussian_kernel, mask_key=self.mask_key,
                   negative_key=self.negative_key)
        return cfg


def res_explainer(fidelity="code"):
    """Test-time explainer: predicted-class Grad-CAM upsampled (bilinear) to the input.

    ``"code"``: no ReLU, min–max (``RES.py`` ``model_test``); ``"paper"``: ReLU,
    divided by the max ("(0, 1]").
    """
    if fidelity not in FIDELITIES:
        raise ValueError(f"`fidelity` must be one of {FIDELITIES}; got {fidelity!r}.")
    relu, norm = (False, "minmax") if fidelity == "code" else (True, "max")

    def explain(ctx):
        return ctx.grad_cam(target="pred", weights="detached", relu=relu, normalize=norm,
                            upsample="bilinear")

    return explain


def default_explanation_metrics(iou_threshold=0.5, mask_key="mask", negative_key="negative_mask"):
    """RES's full-resolution metrics: IoU@``iou_threshold`` on ``F``; P/R/F1@0.5 on ``F − C``."""
    keys = (mask_key, negative_key)
    return [(ExplanationIoU(threshold=iou_threshold, normalize=None, name="explanation_iou"), (mask_key,)),
            (ExplanationPrecision(normalize=None), keys), (ExplanationRecall(normalize=None), keys),
            (ExplanationF1(normalize=None), keys)]


@keras.saving.register_keras_serializable(package="keras_egl")
class RESModel(ExplanationGuidedModel):
    """RES-G / RES-L: a classifier trained with :class:`RESTerm` (see module docstring).

    Args:
      model: the classifier (logits), e.g. :func:`~keras_egl.models.backbones.build_small_cnn`
        or :func:`~keras_egl.models.backbones.build_resnet50`.
      explained_layer: Grad-CAM layer (``"conv5_block3_out"`` for ResNet50).
      preset: ``"RES-G"`` (Gaussian ``h``), ``"RES-L"`` (shallow learnable ``h``),
        ``"RES-L-deep"`` or ``None`` (give ``terms``).
      fidelity: ``"code"`` (default) or ``"paper"`` (table in the module docstring).
      alpha, gamma: slack and tanh slope.
      weight: λ of the explanation term.
      terms: explicit terms (overrides ``preset``; used by ``from_config``).
      explanation_metrics: default: IoU@0.5 and P/R/F1 at input resolution.
      seed: seed of the deep imputation initialiser.
      **kwargs: passed to :class:`ExplanationGuidedModel`.
    """

    def __init__(self, model, explained_layer, preset="RES-G", fidelity="code", alpha=0.01,
                 gamma=5.0, weight=1.0, terms=None, explanation_metrics=None, seed=0,
                 input_key="x", from_logits=True, explainer=None, **kwargs):
        if preset not in PRESETS:
            raise ValueError(f"`preset` must be one of {PRESETS}; got {preset!r}.")
        if fidelity not in FIDELITIES:
            raise ValueError(f"`fidelity` must be one of {FIDELITIES}; got {fidelity!r}.")
        if terms is None:
            if preset is None:
                raise ValueError("give a `preset` or explicit `terms`.")
            imputation = {"RES-G": "gaussian", "RES-L": "shallow", "RES-L-deep": "deep"}[preset]
            code = fidelity == "code"
            terms = [RESTerm(weight=weight, loss=RESLoss.preset(fidelity, alpha=alpha, gamma=gamma),
                             imputation=imputation, imputation_inputs="F" if code else "FC",
                             relu=not code, normalize="minmax" if code else "max")]
        if explanation_metrics is None:
            explanation_metrics = default_explanation_metrics()
        super().__init__(model, terms=terms, explained_layer=explained_layer, input_key=input_key,
                         from_logits=from_logits, explainer=explainer or res_explainer(fidelity),
                         explanation_metrics=explanation_metrics, **kwargs)
        self.preset = preset
        self.fidelity = fidelity
        self.alpha = float(alpha)
        self.gamma = float(gamma)
        self.seed = seed
        x_shape = model.inputs[0].shape if getattr(model, "inputs", None) else None
        layers = []
        for t in self.terms:
            if isinstance(t, RESTerm) and t.imputation is not None:
                if x_shape is not None and x_shape.rank == 4:
                    out = find_layer(model, explained_layer).output.shape
                    t.bind((int(x_shape[1]), int(x_shape[2])), (int(out[1]), int(out[2])), seed=seed)
                if t.layer is not None:
                    layers.append(t.layer)
        # Attributes make Keras track the imputation weights: they join
        # trainable_variables and are optimised jointly with θ (RES-L's φ).
        self.imputation_layers = layers

    def get_config(self):
        cfg = super().get_config()
        cfg.update(preset=self.preset, fidelity=self.fidelity, alpha=self.alpha, gamma=self.gamma,
                   seed=self.seed)
        return cfg
