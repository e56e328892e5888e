"""The term API shared by every method: annotation vocabulary, context, term base class.

One annotation language for every method
----------------------------------------
``fit``/``evaluate`` receive a dict holding the model input(s) and annotations
under these keys (the defaults of every term's ``*_key`` argument):

============================  ===============================================================
key                           meaning
============================  ===============================================================
``"pos_mask"``                where the **right** reasons are: the object. RES's ``F``,
                              GRADIA's and HAICS's attention mask. ``(N, H, W)`` or
                              ``(N, H, W, 1)``; values in ``[0, 1]``.
``"neg_mask"``                where the **wrong** reasons are: the confounder / shortcut.
                              RRR's ``A``, Bayesian feedback's rejected region ``F``, RES's
                              and HAICS's negative annotation ``C``. Same shapes.
``"has_annotation"``          optional ``(N,)`` 0/1 flag per sample. Without it a sample
                              counts as annotated when any mask the term was given is
                              non-zero.
``"reasonability"``           optional ``(N,)`` GRADIA Reasonability codes (per-sample
                              prediction/attention weights; see ``keras_egl.terms.gradia``).
============================  ===============================================================

Masks are image-shaped for every image method; an input-space method (RRR,
input-gradient feedback) broadcasts them over channels itself and also accepts
an ``x``-shaped mask. Each term declares which of the two masks its penalty
*needs* (``needs``). When the batch lacks the needed mask but has the other one,
the term's ``derive`` rule decides: ``"complement"`` (default) uses ``1 − other``
on annotated samples (e.g. RRR's ``A = 1 − pos_mask``), ``"error"`` raises. A
batch with neither mask contributes exactly 0 (no annotation). A key the model
reads from nowhere raises (see ``ExplanationGuidedModel``), so a typo such as
``"masks"`` cannot switch a method off silently.

Terms
-----
:class:`ExplanationTerm` is a ``keras.layers.Layer``: it is tracked by the model
that holds it, so weights it creates in :meth:`ExplanationTerm.build` (RES-L's
learnable imputation) join ``trainable_variables``, are saved and restored, and
train — whatever the backbone. ``build`` receives a dict of shapes (``"x"``,
``"activations"``); the model calls it at construction time when the backbone is
functional, else on the first step. A term's config is merged from its base
classes (``super().get_config()`` then its own arguments).
"""

import warnings

from keras_egl._keras import keras, tf
from keras_egl.explain.grad_cam import cam_from_gradients
from keras_egl.explain.targets import select_target
from keras_egl.terms import weighting as _weighting
from keras_egl.validation import check_choice, check_key, check_mask, check_per_sample

__all__ = [
    "POS_MASK",
    "NEG_MASK",
    "HAS_ANNOTATION",
    "REASONABILITY",
    "ANNOTATION_KEYS",
    "DERIVE_RULES",
    "ExplanationContext",
    "ExplanationTerm",
    "annotation_flags",
    "check_annotation",
    "check_derive",
]

POS_MASK = "pos_mask"
NEG_MASK = "neg_mask"
HAS_ANNOTATION = "has_annotation"
REASONABILITY = "reasonability"
ANNOTATION_KEYS = (POS_MASK, NEG_MASK, HAS_ANNOTATION, REASONABILITY)
DERIVE_RULES = ("complement", "error")
ROLES = ("pos", "neg")


def annotation_flags(mask, explicit=None):
    """Per-sample ``(B,)`` float flag: 1 where a sample is annotated.

    ``explicit`` (a ``has_annotation`` input) wins; otherwise a sample counts as
    annotated when its mask has any non-zero entry.
    """
    if explicit is not None:
        return tf.reshape(tf.cast(explicit, tf.float32), [-1])
    mask = tf.convert_to_tensor(mask)
    axes = list(range(1, mask.shape.rank))
    return tf.cast(tf.reduce_any(tf.not_equal(mask, 0), axis=axes), tf.float32)


def check_annotation(mask, like, name, spatial_rank=None):
    """Validate ``mask`` against the tensor it annotates (kept for custom terms).

    ``like`` is the annotated tensor (input, map or activations); the mask must
    match its batch and spatial axes (all of ``like``'s axes when
    ``spatial_rank`` is None; a trailing size-1 axis is tolerated). Values must
    be finite and in [0, 1]. Returns the mask without the size-1 axis.
    """
    like = tf.convert_to_tensor(like)
    if spatial_rank is None:
        spatial_rank = like.shape.rank - 1
    return check_mask(mask, name, like=like, spatial_rank=spatial_rank)


def _spatial_rank(x):
    """Spatial axes of a model input: images ``(B, H, W, C)`` → 2; features ``(B, D)`` → 1."""
    rank = x.shape.rank
    return rank - 2 if rank is not None and rank >= 4 else max((rank or 2) - 1, 1)


class ExplanationContext:
    """What an :class:`ExplanationTerm` sees in one train/test step.

    Attributes:
      inputs: the full input dict (model inputs and annotations).
      x: the model input tensor (or list of tensors).
      y, sample_weight: as given to ``fit``.
      outputs: the model outputs of this step's forward pass.
      activations: the explained layer's activations (``None`` if no layer is named).
      training: whether this is a training step.
      from_logits: whether ``outputs`` are logits.
    """

    def __init__(self, model, inputs, x, y, sample_weight, outputs, activations, tape, training):
        self.model = model
        self.inputs = inputs if isinstance(inputs, dict) else {}
        self.x = x
        self.y = y
        self.sample_weight = sample_weight
        self.outputs = outputs
        self.activations = activations
        self.training = training
        self.from_logits = getattr(model, "from_logits", True)
        self._tape = tape
        self._cache = {}

    # ----------------------------------------------------------- annotations
    def annotation(self, key, default=None):
        """The raw annotation tensor under ``key`` or ``default`` if absent."""
        return self.inputs.get(key, default)

    def has(self, key):
        return key is not None and key in self.inputs

    @property
    def x0(self):
        return tf.nest.flatten(self.x)[0]

    def batch_size(self):
        return tf.shape(self.outputs)[0] if not isinstance(self.outputs, (list, tuple)) \
            else tf.shape(tf.nest.flatten(self.outputs)[0])[0]

    def mask(self, key, allow_channels=False):
        """The mask under ``key``, validated against the model input; ``None`` if absent.

        Image inputs ``(B, H, W, C)`` take ``(B, H, W)`` or ``(B, H, W, 1)``
        masks (and ``(B, H, W, C)`` with ``allow_channels``); feature inputs
        ``(B, D)`` take ``(B, D)``. Values must be finite and in [0, 1]
        (checked in graph mode too). Returned as float32 without the size-1 axis.
        """
        if not self.has(key):
            return None
        ck = ("mask", key, bool(allow_channels))
        if ck not in self._cache:
            x0 = self.x0
            self._cache[ck] = check_mask(self.inputs[key], key, like=x0, spatial_rank=_spatial_rank(x0),
                                         allow_channels=allow_channels)
        return self._cache[ck]

    def flags(self, *mask_keys, flag_key=HAS_ANNOTATION):
        """``(B,)`` float: which samples carry an annotation.

        ``flag_key`` (``has_annotation``) wins when present (validated: one
        entry per sample, values in [0, 1]); otherwise a sample is annotated
        when any of the present ``mask_keys`` is non-zero; zeros when none is.
        """
        ck = ("flags", mask_keys, flag_key)
        if ck in self._cache:
            return self._cache[ck]
        if self.has(flag_key):
            flags = check_per_sample(self.inputs[flag_key], flag_key, self.x0, low=0.0, high=1.0)
        else:
            present = [self.mask(k, allow_channels=True) for k in mask_keys if self.has(k)]
            if not present:
                flags = tf.zeros(self.batch_size()[None], tf.float32)
            else:
                flags = tf.zeros_like(annotation_flags(present[0]))
                for m in present:
                    flags = tf.maximum(flags, annotation_flags(m))
        self._cache[ck] = flags
        return flags

    def resolve_masks(self, pos_key, neg_key, needs, derive="complement", allow_channels=False,
                      flag_key=HAS_ANNOTATION):
        """``(pos, neg, flags)`` for a term that reads ``pos_key``/``neg_key``.

        ``needs`` lists the roles (``"pos"``, ``"neg"``) the penalty needs. A
        needed mask that is absent is derived from the other one by ``derive``
        (``"complement"``: ``1 − other``) or raises (``"error"``). A role that is
        neither needed nor given is ``None``. ``flags`` marks the annotated
        samples (see :meth:`flags`); derived masks are zero on unannotated ones.
        """
        keys = {"pos": pos_key, "neg": neg_key}
        got = {r: self.mask(k, allow_channels) for r, k in keys.items() if self.has(k)}
        flags = self.flags(*[keys[r] for r in got], flag_key=flag_key)
        for role in needs:
            if role in got:
                continue
            other = "neg" if role == "pos" else "pos"
            if other not in got:
                raise ValueError(f"the batch has neither `{pos_key}` nor `{neg_key}`; this term needs "
                                 f"`{keys[role]}`.")
            if derive == "error":
                raise ValueError(f"this term needs `{keys[role]}` ({'right' if role == 'pos' else 'wrong'} "
                                 f"reasons) but the batch only has `{keys[other]}`; pass `{keys[role]}` or "
                                 f"derive='complement' (uses 1 − `{keys[other]}`).")
            o = got[other]
            fl = tf.reshape(flags, [-1] + [1] * (o.shape.rank - 1))
            got[role] = (1.0 - o) * fl
        return got.get("pos"), got.get("neg"), flags

    # ---------------------------------------------------------- explanations
    def score(self, target="true", quantity="logit"):
        y = self.y if target == "true" else None
        return select_target(self.outputs, target, y=y, from_logits=self.from_logits, quantity=quantity)

    def gradient(self, score_fn, wrt):
        """``∂ Σ score_fn(outputs) / ∂ wrt`` on the step's tape (differentiable)."""
        with self._tape:
            # Scores in float32: under mixed precision log-softmax and the
            # second-order terms overflow float16.
            outputs = tf.nest.map_structure(
                lambda o: tf.cast(o, tf.float32) if o.dtype.is_floating else o, self.outputs)
            total = tf.reduce_sum(score_fn(outputs))
        grads = self._tape.gradient(total, wrt)
        if grads is None or (isinstance(grads, (list, tuple)) and any(g is None for g in grads)):
            raise ValueError("the model output has no gradient path to the requested tensor "
                             "(is the explained layer / input used in the forward pass?).")
        return grads

    def _needs_y(self, target):
        if isinstance(target, str) and target == "true" and self.y is None:
            raise ValueError("target='true' needs labels `y`; none were given (use target='pred' "
                             "to explain the predicted class).")

    def _cached_gradient(self, kind, wrt, target, quantity):
        """``∂ s/∂wrt`` of the step's score ``s`` (``target``, ``quantity``), once per step."""
        key = (kind, target if isinstance(target, str) else id(target), quantity)
        if key not in self._cache:
            self._needs_y(target)
            y = self.y if target == "true" else None
            self._cache[key] = self.gradient(
                lambda out: select_target(out, target, y=y, from_logits=self.from_logits,
                                          quantity=quantity), wrt)
        return self._cache[key]

    def input_gradients(self, target="sum_log_prob", quantity="logit"):
        """Input gradients ``∂ s/∂x`` of this step's forward pass (cached per target)."""
        if not self.x0.dtype.is_floating:
            raise TypeError("input gradients need a floating-point model input; got "
                            f"{self.x0.dtype.name}.")
        return self._cached_gradient("input_gradients", self.x, target, quantity)

    def layer_gradients(self, target="true", quantity="logit"):
        """``∂ s/∂A`` for the explained layer's activations (cached per target)."""
        if self.activations is None:
            raise ValueError("no `explained_layer` was given to the model; Grad-CAM terms need one.")
        return self._cached_gradient("layer_gradients", self.activations, target, quantity)

    def grad_cam(self, target="true", cam_weights="detached", relu=True, normalize="minmax",
                 upsample=None, quantity="logit", epsilon=0.0, weights=None):
        """Batched Grad-CAM of the explained layer from this step's pass.

        ``weights`` is the deprecated name of ``cam_weights``.
        """
        if weights is not None:
            warnings.warn("`weights=` is deprecated; use `cam_weights=`.", DeprecationWarning, stacklevel=2)
            cam_weights = weights
        grads = self.layer_gradients(target, quantity)
        size = None
        if upsample is not None:
            size = tuple(self.x0.shape[1:3])
        acts = self.activations
        with self._tape:
            # Maps in float32 (mixed precision): min–max normalisation divides by
            # small ranges whose gradient overflows float16.
            acts = tf.cast(acts, tf.float32)
        grads = tf.cast(grads, tf.float32)
        return cam_from_gradients(acts, grads, cam_weights=cam_weights, relu=relu,
                                  normalize=normalize, size=size, method=upsample or "bilinear",
                                  epsilon=epsilon)

    def shapes(self):
        """``{"x": shape, "activations": shape or None}`` — what :meth:`ExplanationTerm.build` receives."""
        acts = self.activations
        return {"x": self.x0.shape,
                "activations": None if acts is None else tf.nest.flatten(acts)[0].shape}


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationTerm(keras.layers.Layer):
    """Base class of an explanation loss term of an ``ExplanationGuidedModel``.

    A term is a Keras layer that is never called on tensors: the model calls
    :meth:`value` with the step's :class:`ExplanationContext` and adds
    ``weight · value`` to the loss. Subclasses implement ``compute(ctx) ->
    scalar`` (reduced over the batch; unannotated samples contribute 0), take
    the annotation keys they read as ``*_key`` constructor arguments, declare
    the mask roles their penalty needs in ``needs`` and add their own
    arguments to ``get_config`` (merged with this class's).

    Args:
      weight: multiplier λ ≥ 0 of the term in the total loss (finite), or
        ``"auto"``: λ is measured on the first training steps so that the
        term's gradient norm on the backbone's parameters is
        ``auto_fraction`` times the task loss's (see
        :mod:`keras_egl.terms.weighting` for the rule).
      auto_fraction: α of the auto rule (``weight="auto"`` only; default
        :data:`keras_egl.terms.weighting.DEFAULT_AUTO_FRACTION`).
      warmup_epochs: task-only epochs before the term switches on.
      ramp_epochs: epochs over which λ then rises linearly to its value.
      recalibrate: ``"once"`` (measure λ at the first epoch after warm-up) or
        ``"epoch"`` (again at the start of every later epoch); auto only.
      calibration_steps: training steps whose gradient norms λ is measured on.
      name: the log key (defaults to the class's ``default_name``).
      **kwargs: ``keras.layers.Layer`` arguments (``trainable``, ``dtype``).

    Class attributes:
      default_name: the log key when ``name`` is not given.
      needs: mask roles (``"pos"``, ``"neg"``) the penalty needs; a term with
        ``needs`` is active on a batch that has either mask (the missing one
        is derived, see :meth:`ExplanationContext.resolve_masks`).
      required_annotations: for terms that read other keys: the term is 0 on a
        batch that lacks any of them (the keys are read from the instance).
    """

    default_name = "explanation_loss"
    needs = ()
    required_annotations = ()

    def __init__(self, weight=1.0, name=None, auto_fraction=None, warmup_epochs=0, ramp_epochs=0,
                 recalibrate="once", calibration_steps=_weighting.DEFAULT_CALIBRATION_STEPS,
                 **kwargs):
        # Explanation terms compute in float32 whatever the global mixed-precision
        # policy: normalised maps and second-order terms overflow float16.
        kwargs.setdefault("dtype", "float32")
        super().__init__(name=name or self.default_name, **kwargs)
        self.weight = _weighting.check_weight(weight)
        if auto_fraction is None:
            auto_fraction = _weighting.DEFAULT_AUTO_FRACTION
        (self.auto_fraction, self.warmup_epochs, self.ramp_epochs, self.recalibrate,
         self.calibration_steps) = _weighting.validate_schedule(
            auto_fraction, warmup_epochs, ramp_epochs, recalibrate, calibration_steps)
        self.weight_state = None
        if self.weight == _weighting.AUTO or self.warmup_epochs or self.ramp_epochs:
            self.weight_state = _weighting.WeightState(
                self, self.weight, self.auto_fraction, self.warmup_epochs, self.ramp_epochs,
                self.recalibrate, self.calibration_steps)

    # ---------------------------------------------------------------- weight
    @property
    def dynamic_weight(self):
        """Whether λ changes during training (auto, warm-up or ramp)."""
        return self.weight_state is not None

    @property
    def auto_weight(self):
        return self.weight_state is not None and self.weight_state.auto

    def loss_weight(self):
        """The λ multiplying this term in the loss now (a float, or a tensor when dynamic)."""
        return self.weight if self.weight_state is None else self.weight_state.value()

    # ------------------------------------------------------------- contract
    @property
    def annotation_keys(self):
        """The input-dict keys this term reads (every ``*_key`` argument, plus ``required_annotations``)."""
        keys = [v for k, v in self.get_config().items()
                if k.endswith("_key") and isinstance(v, str)]
        keys += [k for k in self.required_annotations if isinstance(k, str)]
        return tuple(dict.fromkeys(keys))

    def is_active(self, ctx):
        """Whether this batch carries what the term reads (else the term is exactly 0)."""
        if self.needs:
            return ctx.has(getattr(self, "pos_key", None)) or ctx.has(getattr(self, "neg_key", None))
        return all(ctx.has(k) for k in self.required_annotations)

    def set_mask_keys(self, pos_key=POS_MASK, neg_key=NEG_MASK, flag_key=HAS_ANNOTATION,
                      derive="complement"):
        """Validate and store the keys a mask term reads and its ``derive`` rule.

        The needed role's key is required; the other mask key and ``flag_key``
        may be ``None`` (never read).
        """
        self.pos_key = check_key(pos_key, "pos_key", optional="pos" not in self.needs)
        self.neg_key = check_key(neg_key, "neg_key", optional="neg" not in self.needs)
        self.flag_key = check_key(flag_key, "flag_key", optional=True)
        self.derive = check_derive(derive)

    def mask_key_config(self):
        """The config entries :meth:`set_mask_keys` stored."""
        return {"pos_key": self.pos_key, "neg_key": self.neg_key, "flag_key": self.flag_key,
                "derive": self.derive}

    def masks(self, ctx, allow_channels=False):
        """``(pos, neg, flags)`` of this term's keys (see :meth:`ExplanationContext.resolve_masks`)."""
        return ctx.resolve_masks(getattr(self, "pos_key", POS_MASK), getattr(self, "neg_key", NEG_MASK),
                                 self.needs, derive=getattr(self, "derive", "complement"),
                                 allow_channels=allow_channels,
                                 flag_key=getattr(self, "flag_key", HAS_ANNOTATION))

    def flags(self, ctx, *keys):
        return ctx.flags(*keys, flag_key=getattr(self, "flag_key", HAS_ANNOTATION))

    def attach(self, model):
        """Called once with the backbone when a model takes this term (before any forward pass)."""
        return None

    @tf.autograph.experimental.do_not_convert
    def before_forward(self):
        """Called (while tracing) before each forward pass of a train/test step."""
        return None

    def build(self, shapes):
        """Create the term's weights from ``shapes`` (``{"x": …, "activations": …}``)."""
        self.built = True

    def compute(self, ctx):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement compute(ctx).")

    def value(self, ctx):
        """The unweighted term as a float32 scalar (builds the term on first use)."""
        if not self.built:
            self.build(ctx.shapes())
        return tf.cast(self.compute(ctx), tf.float32)

    def __call__(self, ctx, *args, **kwargs):
        if isinstance(ctx, ExplanationContext):
            return self.value(ctx)
        return super().__call__(ctx, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config["weight"] = self.weight
        if self.weight_state is not None or self.auto_fraction != _weighting.DEFAULT_AUTO_FRACTION:
            config.update(auto_fraction=self.auto_fraction, warmup_epochs=self.warmup_epochs,
                          ramp_epochs=self.ramp_epochs, recalibrate=self.recalibrate,
                          calibration_steps=self.calibration_steps)
        return config


def check_derive(derive):
    """Validate a term's ``derive`` rule (``"complement"`` or ``"error"``)."""
    return check_choice(derive, DERIVE_RULES, "derive")
