"""RES's term: the robust explanation loss with label imputation (RES-G, RES-L).

Gao et al., "RES: A Robust Framework for Guiding Visual Explanation", KDD 2022:

    λ · L_Exp(M_i, F_i, C_i; h_φ)

with ``M_i`` the Grad-CAM of the explained layer for the **true** class from
the training pass (batched; the authors run a second per-sample forward),
``F`` the positive mask (``pos_mask``), ``C`` the negative mask (``neg_mask``;
absent = no negative annotation, i.e. zeros), both at the input's spatial size
(validated, never stretched) and nearest-resized to the CAM grid as the code
does, and ``h_φ`` the label imputation:

* ``imputation="gaussian"`` (RES-G): :class:`~keras_egl.layers.imputation.GaussianImputation`;
* ``"shallow"`` (RES-L): the learnable :class:`~keras_egl.layers.imputation.ShallowImputation`;
* ``"deep"``: :class:`~keras_egl.layers.imputation.DeepImputation`;
* ``None`` (hinge only) or any Keras layer mapping masks to ``(B, h, w)``.

The imputation layer is created and built in :meth:`RESTerm.build` from the
input size and the explained layer's grid, so it is a tracked sublayer of the
term: its weights (RES-L's ``φ``) are in the model's ``trainable_variables``,
trained jointly with the classifier, saved and restored — with functional
and subclassed backbones alike.
"""

import copy
import warnings

from keras_egl._deprecation import renamed_argument
from keras_egl._keras import keras, tf
from keras_egl.explain.masks import resize_mask
from keras_egl.layers.imputation import DeepImputation, GaussianImputation, ShallowImputation
from keras_egl.losses.res import RESLoss
from keras_egl.terms._cam_mask import CAMMaskTerm
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK
from keras_egl.validation import check_choice, check_non_negative, check_positive_int

__all__ = ["RESTerm", "IMPUTATIONS"]

IMPUTATIONS = ("gaussian", "shallow", "deep", None)


@keras.saving.register_keras_serializable(package="keras_egl")
class RESTerm(CAMMaskTerm):
    """RES explanation term (see module docstring).

    Args:
      weight: λ (paper and code: 1).
      loss: a :class:`~keras_egl.losses.res.RESLoss` or its config dict
        (default ``RESLoss.preset("code")``).
      imputation: ``"gaussian"`` (RES-G), ``"shallow"`` (RES-L), ``"deep"``,
        ``None`` (hinge only) or a Keras layer (or its config) mapping masks
        to ``(B, h, w)``.
      imputation_inputs: ``"F"`` (code) or ``"FC"`` (paper's ``h(F, C)``).
      imputation_regularization: weight of ``mean (h(F) − F↓)²`` tying the
        learnable imputation to the label (code ``--reg``, default 0).
      relu, normalize, cam_weights: training-CAM options (code: no ReLU, min–max, detached).
      gaussian_kernel: ``k`` of RES-G (code 3; a positive odd int).
      seed: seed of the deep imputation's initialiser (``None`` = global seed).
      pos_key, neg_key, flag_key: annotation keys of ``F``, ``C`` and the flags
        (``mask_key``/``negative_key`` are the deprecated names of ``pos_key``/``neg_key``).
      derive: ``"complement"`` (only ``neg_mask`` given: ``F = 1 − C``) or ``"error"``.
      name: log key (``"res_loss"``).

    Attributes:
      imputation_layer: the imputation layer (``None`` before :meth:`build`
        for a named imputation, and for ``imputation=None``).
    """

    default_name = "res_loss"

    @renamed_argument("mask_key", "pos_key")
    @renamed_argument("negative_key", "neg_key")
    def __init__(self, weight=1.0, loss=None, imputation="gaussian", imputation_inputs="F",
                 imputation_regularization=0.0, relu=False, normalize="minmax",
                 cam_weights="detached", gaussian_kernel=3, seed=None, pos_key=POS_MASK,
                 neg_key=NEG_MASK, flag_key=HAS_ANNOTATION, derive="complement", name=None, **kwargs):
        super().__init__(weight=weight, relu=relu, normalize=normalize, cam_weights=cam_weights,
                         pos_key=pos_key, neg_key=neg_key, flag_key=flag_key, derive=derive,
                         name=name, **kwargs)
        if isinstance(loss, dict):
            loss = RESLoss.from_config(loss)
        loss = loss if loss is not None else RESLoss.preset("code")
        if not isinstance(loss, RESLoss):
            raise TypeError(f"`loss` must be a RESLoss or its config; got {type(loss).__name__}.")
        self.loss = loss
        if isinstance(imputation, dict):
            imputation = keras.saving.deserialize_keras_object(copy.deepcopy(imputation))
        layer = None
        if isinstance(imputation, keras.layers.Layer):
            layer, imputation = imputation, "layer"
        else:
            check_choice(imputation, IMPUTATIONS, "imputation")
        self._imputation = imputation
        self.imputation_inputs = check_choice(imputation_inputs, ("F", "FC"), "imputation_inputs")
        self.imputation_regularization = check_non_negative(imputation_regularization,
                                                            "imputation_regularization")
        self.gaussian_kernel = check_positive_int(gaussian_kernel, "gaussian_kernel")
        if self.gaussian_kernel % 2 == 0:
            raise ValueError(f"`gaussian_kernel` must be a positive odd int; got {gaussian_kernel!r}.")
        if seed is not None:
            seed = check_positive_int(seed, "seed", minimum=0)
        self.seed = seed
        # A user layer is tracked from the start; a named one is created in build().
        self.imputation_layer = layer

    # ------------------------------------------------------------ imputation
    @property
    def imputation(self):
        """``"gaussian"``, ``"shallow"``, ``"deep"``, ``None`` or the user's imputation layer."""
        return self.imputation_layer if self._imputation == "layer" else self._imputation

    @property
    def layer(self):
        """Alias of :attr:`imputation_layer`."""
        return self.imputation_layer

    def _channels(self):
        return 1 if self.imputation_inputs == "F" else 2

    def build(self, shapes):
        """Create and build the imputation layer for the input size and the CAM grid.

        Args:
          shapes: ``{"x": input shape (B, H, W, C), "activations": the explained
            layer's output shape (B, h, w, K)}`` (what the model passes).
        """
        if self._imputation is not None:
            x = tf.TensorShape(shapes.get("x"))
            if x.rank != 4 or x[1] is None or x[2] is None:
                raise ValueError(f"{type(self).__name__} {self.name!r} needs image inputs (B, H, W, C) with "
                                 f"a static spatial size for its imputation layer; got input shape {x}.")
            size = (int(x[1]), int(x[2]))
            if self.imputation_layer is None:
                acts = shapes.get("activations")
                acts = None if acts is None else tf.TensorShape(acts)
                if acts is None or acts.rank != 4 or acts[1] is None or acts[2] is None:
                    raise ValueError(f"{type(self).__name__} {self.name!r} needs the explained layer's "
                                     f"(B, h, w, K) activations to size its imputation (set the model's "
                                     f"`explained_layer`); got {acts}.")
                grid = (int(acts[1]), int(acts[2]))
                kind, mode, name = self._imputation, self.imputation_inputs, f"{self.name}_h"
                # The term's own dtype (float32 unless the user set one), not the
                # global mixed-precision policy.
                kw = dict(name=name, dtype=self.dtype_policy)
                if kind == "gaussian":
                    layer = GaussianImputation(self.gaussian_kernel, output_size=grid, inputs=mode, **kw)
                elif kind == "shallow":
                    layer = ShallowImputation(grid, inputs=mode, **kw)
                else:
                    layer = DeepImputation(inputs=mode, seed=self.seed, **kw)
                self.imputation_layer = layer
            if not self.imputation_layer.built:
                self.imputation_layer.build(tf.TensorShape([None, *size, self._channels()]))
        super().build(shapes)

    def bind(self, input_size, cam_grid, seed=None):
        """Deprecated: the model builds the term (:meth:`build`); kept for old callers."""
        warnings.warn("RESTerm.bind is deprecated: the model builds its terms; call "
                      "term.build({'x': (None, H, W, C), 'activations': (None, h, w, K)}) if you "
                      "need it yourself.", DeprecationWarning, stacklevel=2)
        if seed is not None and self.seed is None:
            self.seed = seed
        if not self.built:
            self.build({"x": (None, *input_size, 1), "activations": (None, *cam_grid, 1)})
        return self.imputation_layer

    # --------------------------------------------------------------- compute
    def compute(self, ctx):
        pos, neg, flags = self.masks(ctx)
        if neg is None:
            neg = tf.zeros_like(pos)  # no negative annotation
        cam = self.cam(ctx)
        grid = tuple(cam.shape[1:3])
        pos7 = resize_mask(pos, grid, method="nearest")
        neg7 = resize_mask(neg, grid, method="nearest")
        imputed = None
        reg = 0.0
        if self.imputation_layer is not None:
            inp = pos[..., None] if self.imputation_inputs == "F" else tf.stack([pos, neg], -1)
            imputed = self.imputation_layer(inp)
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
        imp = self._imputation
        if imp == "layer":
            imp = keras.saving.serialize_keras_object(self.imputation_layer)
        cfg.update(loss=self.loss.get_config(), imputation=imp,
                   imputation_inputs=self.imputation_inputs,
                   imputation_regularization=self.imputation_regularization,
                   gaussian_kernel=self.gaussian_kernel, seed=self.seed)
        return cfg
