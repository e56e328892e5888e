"""``ExplanationGuidedModel``: a Keras model whose training step supervises explanations.

A wrapped classifier ``model`` is trained on

    L = L_task(y, f(x)) + Σ_regularizers + Σ_t w_t · L_t(explanation, annotations)

where each explanation term ``L_t`` is an :class:`ExplanationTerm` computed from
the *same* forward pass as the task loss (one batched pass: logits, the
explained layer's activations and, when a term needs them, input gradients,
all recorded on one persistent inner tape inside the outer training tape).

Data contract for ``fit``/``evaluate``: ``x`` is a dict holding the model input
under ``input_key`` (or a list of keys for multi-input models) plus any
annotations (masks, ``has_annotation`` flags, per-sample weights). Missing
annotation keys mean "no annotation": terms then contribute 0, they do not
crash. A plain tensor ``x`` is accepted too (no annotations).

Every term is logged separately (``task_loss``, ``regularization_loss`` when the
model has ``add_loss`` losses, one entry per term) and ``loss`` is the total
that is minimised, so ``History`` and TensorBoard show the balance the λs are
tuned by.
"""

from keras_egl._keras import keras, tf
from keras_egl.explain.activations import ActivationModel
from keras_egl.explain.grad_cam import cam_from_gradients
from keras_egl.explain.targets import select_target

HAS_ANNOTATION = "has_annotation"


def _replica_count():
    ctx = tf.distribute.get_replica_context()
    return ctx.num_replicas_in_sync if ctx is not None else 1


def annotation_flags(mask, explicit=None):
    """Per-sample ``(B,)`` float flag: 1 where a sample is annotated.

    ``explicit`` (a ``has_annotation`` input) wins; otherwise a sample counts as
    annotated when its mask has any non-zero entry.
    """
    if explicit is not None:
        explicit = tf.reshape(tf.cast(explicit, tf.float32), [-1])
        return explicit
    mask = tf.convert_to_tensor(mask)
    axes = list(range(1, mask.shape.rank))
    return tf.cast(tf.reduce_any(tf.not_equal(mask, 0), axis=axes), tf.float32)


def _assert_finite(t):
    if not t.dtype.is_floating:
        return t
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(tf.math.is_finite(t))):
            raise ValueError(f"the model input contains NaN or infinite values (shape {t.shape}).")
        return t
    return tf.debugging.assert_all_finite(t, "the model input `x` contains NaN or infinite values")


def check_annotation(mask, like, name, spatial_rank=None):
    """Validate an annotation ``mask`` against the tensor it annotates.

    ``like`` is the tensor (input, map or activations) the mask must match on
    batch and spatial axes (the first ``1 + spatial_rank`` axes; all of
    ``like``'s axes when ``spatial_rank`` is None). A trailing channel axis of
    size 1 on either side is tolerated. Raises ``ValueError`` naming ``name``
    with both shapes — never broadcasts silently.
    """
    mask = tf.convert_to_tensor(mask)
    if not (mask.dtype.is_floating or mask.dtype.is_integer or mask.dtype == tf.bool):
        raise TypeError(f"`{name}` must be a numeric or boolean mask; got dtype {mask.dtype.name}.")
    ms, ls = mask.shape, like.shape
    n = (ls.rank if spatial_rank is None else 1 + spatial_rank)
    m_dims = ms.as_list()
    l_dims = ls.as_list()[:n]
    if len(m_dims) == n + 1 and m_dims[-1] == 1:
        m_dims = m_dims[:-1]
    if len(m_dims) != n or any(a is not None and b is not None and a != b
                               for a, b in zip(m_dims, l_dims)):
        raise ValueError(f"`{name}` has shape {ms} but must match {tuple(l_dims)} "
                         f"(batch and spatial axes of the annotated tensor of shape {ls}).")
    return mask[..., 0] if len(ms) == n + 1 else mask


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
        self.from_logits = model.from_logits
        self._tape = tape
        self._cache = {}

    # ----------------------------------------------------------- annotations
    def annotation(self, key, default=None):
        """The annotation tensor under ``key`` or ``default`` if absent."""
        return self.inputs.get(key, default)

    def has(self, key):
        return key in self.inputs

    def flags(self, mask_key):
        """``(B,)`` float: which samples carry an annotation (see :func:`annotation_flags`)."""
        if mask_key not in self.inputs and HAS_ANNOTATION not in self.inputs:
            return tf.zeros(tf.shape(self.outputs)[:1], tf.float32)
        return annotation_flags(self.inputs.get(mask_key), self.inputs.get(HAS_ANNOTATION))

    # ---------------------------------------------------------- explanations
    def score(self, target="true", quantity="logit"):
        y = self.y if target == "true" else None
        return select_target(self.outputs, target, y=y, from_logits=self.from_logits, quantity=quantity)

    def gradient(self, score_fn, wrt):
        """``∂ Σ score_fn(outputs) / ∂ wrt`` on the step's tape (differentiable)."""
        with self._tape:
            total = tf.reduce_sum(score_fn(self.outputs))
        grads = self._tape.gradient(total, wrt)
        if grads is None or (isinstance(grads, (list, tuple)) and any(g is None for g in grads)):
            raise ValueError("the model output has no gradient path to the requested tensor "
                             "(is the explained layer / input used in the forward pass?).")
        return grads

    def input_gradients(self, target="sum_log_prob", quantity="logit"):
        """Input gradients ``∂ s/∂x`` of this step's forward pass (cached per target)."""
        key = ("input_gradients", target if isinstance(target, str) else id(target), quantity)
        if key not in self._cache:
            if not tf.nest.flatten(self.x)[0].dtype.is_floating:
                raise TypeError("input gradients need a floating-point model input; got "
                                f"{tf.nest.flatten(self.x)[0].dtype.name}.")
            y = self.y if target == "true" else None
            self._cache[key] = self.gradient(
                lambda out: select_target(out, target, y=y, from_logits=self.from_logits,
                                          quantity=quantity), self.x)
        return self._cache[key]

    def layer_gradients(self, target="true", quantity="logit"):
        """``∂ s/∂A`` for the explained layer's activations (cached per target)."""
        if self.activations is None:
            raise ValueError("no `explained_layer` was given to the model; Grad-CAM terms need one.")
        key = ("layer_gradients", target if isinstance(target, str) else id(target), quantity)
        if key not in self._cache:
            y = self.y if target == "true" else None
            self._cache[key] = self.gradient(
                lambda out: select_target(out, target, y=y, from_logits=self.from_logits,
                                          quantity=quantity), self.activations)
        return self._cache[key]

    def grad_cam(self, target="true", weights="detached", relu=True, normalize="minmax",
                 upsample=None, quantity="logit", epsilon=0.0):
        """Batched Grad-CAM of the explained layer from this step's pass."""
        grads = self.layer_gradients(target, quantity)
        size = None
        if upsample is not None:
            x0 = tf.nest.flatten(self.x)[0]
            size = tuple(x0.shape[1:3])
        return cam_from_gradients(self.activations, grads, weights=weights, relu=relu,
                                  normalize=normalize, size=size, method=upsample or "bilinear",
                                  epsilon=epsilon)


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationTerm:
    """Base class of an explanation loss term of an :class:`ExplanationGuidedModel`.

    Subclasses implement ``compute(ctx) -> scalar`` (already reduced over the
    batch; samples without annotation contribute 0) and list their constructor
    arguments in ``get_config``.

    Args:
      weight: multiplier λ of the term in the total loss.
      name: the log key (defaults to the class's ``default_name``).
    """

    default_name = "explanation_loss"
    #: annotation keys the term reads; when any is absent from the batch the
    #: term is 0 (no annotation), without computing an explanation.
    required_annotations = ()

    def __init__(self, weight=1.0, name=None):
        weight = float(weight)
        if not weight >= 0:
            raise ValueError(f"`weight` must be a non-negative float; got {weight!r}.")
        self.weight = weight
        self.name = name or self.default_name

    def compute(self, ctx):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement compute(ctx).")

    def __call__(self, ctx):
        return tf.cast(self.compute(ctx), tf.float32)

    def get_config(self):
        return {"weight": self.weight, "name": self.name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class _Untracked:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationGuidedModel(keras.Model):
    """A Keras model trained with explanation terms beside its task loss.

    Args:
      model: the classifier to train (functional, Sequential or subclassed).
      terms: a list of :class:`ExplanationTerm` (may be empty: then it trains
        like ``model`` but still reports explanation metrics).
      explained_layer: name of the layer whose activations Grad-CAM terms use
        (``None`` if no term needs activations).
      input_key: key of the model input in the input dict; a list of keys for
        multi-input models.
      from_logits: whether ``model`` outputs logits (recommended) or probabilities.
      explainer: optional callable ``ctx -> maps`` used for explanation metrics
        at ``evaluate`` time and for :meth:`explain` / the ``explain`` export
        signature. Defaults to Grad-CAM of ``explained_layer`` on the predicted
        class (min–max, upsampled to the input) when a layer is named, else the
        input gradient of the predicted class's logit.
      check_finite: assert that model inputs hold no NaN/inf in every step
        (an ``InvalidArgumentError`` naming ``x`` inside ``fit``; a ``ValueError``
        when called eagerly) instead of training into a NaN loss.
      explanation_metrics: list of ``keras.metrics.Metric`` or ``(metric,
        mask_keys)`` pairs; each is updated as
        ``metric.update_state(*annotations[mask_keys], maps, sample_weight=flags)``
        when the first mask key is present (default mask key ``"mask"``).

    Example:
      >>> egl = ExplanationGuidedModel(cnn, terms=[MyTerm(weight=1.0)],
      ...                              explained_layer="conv_last")
      >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      ...             metrics=["accuracy"])
      >>> egl.fit({"x": images, "mask": masks}, labels, epochs=5)
    """

    def __init__(self, model, terms=(), explained_layer=None, input_key="x", from_logits=True,
                 explainer=None, explanation_metrics=(), check_finite=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
        terms = list(terms)
        for t in terms:
            if not isinstance(t, ExplanationTerm):
                raise TypeError(f"`terms` must hold ExplanationTerm objects; got {type(t).__name__}.")
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"`terms` names must be unique (they are log keys); got {names}.")
        reserved = {"loss", "task_loss", "regularization_loss"}
        if reserved & set(names):
            raise ValueError(f"`terms` names must not be one of {sorted(reserved)}; got {names}.")
        self.model = model
        self.terms = terms
        self.explained_layer = explained_layer
        self.input_key = input_key
        self.from_logits = bool(from_logits)
        self.check_finite = bool(check_finite)
        self._explainer = explainer
        self._activation_model = ActivationModel(model, explained_layer) if explained_layer else None
        specs = []
        for spec in explanation_metrics:
            metric, keys = (spec, ("mask",)) if isinstance(spec, keras.metrics.Metric) else spec
            specs.append((metric, tuple([keys] if isinstance(keys, str) else keys)))
        # Held in a plain object so Keras does not track the metric variables as
        # model weights (they would end up in get_weights() and checkpoints).
        self._state = _Untracked(
            metric_specs=specs,
            total=keras.metrics.Mean(name="loss"),
            task=keras.metrics.Mean(name="task_loss"),
            reg=keras.metrics.Mean(name="regularization_loss"),
            terms=[keras.metrics.Mean(name=t.name) for t in terms],
        )

    # ------------------------------------------------------------------ I/O
    def split_inputs(self, inputs):
        """Return ``(model_input, annotations_dict)`` from what ``fit`` passes."""
        if isinstance(inputs, dict):
            keys = self.input_key if isinstance(self.input_key, (list, tuple)) else [self.input_key]
            missing = [k for k in keys if k not in inputs]
            if missing:
                raise ValueError(f"the input dict has no model input key(s) {missing} "
                                 f"(`input_key`={self.input_key!r}); got keys {sorted(inputs)}.")
            x = [inputs[k] for k in keys] if isinstance(self.input_key, (list, tuple)) else inputs[keys[0]]
            return x, inputs
        return inputs, {}

    def call(self, inputs, training=None):
        x, _ = self.split_inputs(inputs)
        return self.model(x, training=training)

    # -------------------------------------------------------------- forward
    def _needs_tape(self):
        return bool(self.terms) or bool(self._state.metric_specs)

    def forward(self, inputs, y=None, sample_weight=None, training=False):
        """One forward pass returning ``(outputs, ExplanationContext)``.

        The pass runs on a persistent tape that watches the model input, so
        terms can take input and layer gradients without a second pass.
        """
        x, annotations = self.split_inputs(inputs)
        x = tf.nest.map_structure(tf.convert_to_tensor, x)
        if self.check_finite:
            x = tf.nest.map_structure(_assert_finite, x)
        tape = tf.GradientTape(persistent=True)
        with tape:
            for t in tf.nest.flatten(x):
                if t.dtype.is_floating:
                    tape.watch(t)
            if self._activation_model is not None:
                outputs, acts = self._activation_model(x, training=training)
            else:
                outputs, acts = self.model(x, training=training), None
        ctx = ExplanationContext(self, annotations, x, y, sample_weight, outputs, acts, tape, training)
        return outputs, ctx

    def compute_terms(self, ctx):
        """``{name: unweighted value}`` of every explanation term."""
        values = {}
        for t in self.terms:
            if all(ctx.has(k) for k in t.required_annotations):
                values[t.name] = t(ctx)
            else:
                values[t.name] = tf.constant(0.0)
        return values

    def _losses_and_logs(self, inputs, y, sample_weight, training):
        outputs, ctx = self.forward(inputs, y, sample_weight, training=training)
        n_rep = float(_replica_count())
        # compiled_loss returns a value already scaled by 1/replicas for the gradient.
        task_scaled = self.compiled_loss(y, outputs, sample_weight, regularization_losses=None)
        task = task_scaled * n_rep
        reg = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
        values = self.compute_terms(ctx)
        weighted = [t.weight * values[t.name] for t in self.terms]
        total = task + reg + (tf.add_n(weighted) if weighted else 0.0)
        return outputs, ctx, task, reg, values, total, total / n_rep

    def _update_trackers(self, task, reg, values, total):
        self._state.task.update_state(task)
        self._state.total.update_state(total)
        if self.losses:
            self._state.reg.update_state(reg)
        for t, tracker in zip(self.terms, self._state.terms):
            tracker.update_state(values[t.name])

    def train_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            outputs, ctx, task, reg, values, total, scaled = self._losses_and_logs(
                inputs, y, sample_weight, training=True)
        self.optimizer.minimize(scaled, self.trainable_variables, tape=tape)
        self._update_trackers(task, reg, values, total)
        return self._results(inputs, y, outputs, sample_weight, ctx=None)

    def test_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        outputs, ctx, task, reg, values, total, _ = self._losses_and_logs(
            inputs, y, sample_weight, training=False)
        self._update_trackers(task, reg, values, total)
        return self._results(inputs, y, outputs, sample_weight, ctx=ctx)

    def _results(self, inputs, y, outputs, sample_weight, ctx):
        self.compiled_metrics.update_state(y, outputs, sample_weight)
        if ctx is not None and self._state.metric_specs:
            self._update_explanation_metrics(ctx)
        return self.get_metrics_result()

    def get_metrics_result(self):
        """The logs: ``loss`` is the total; the compiled loss's own tracker is left out.

        Keras rebuilds epoch logs from this method by metric name, so it must
        agree with what the steps return.
        """
        logs = {}
        for m in self.metrics:
            if m is self._state.reg and not self.losses:
                continue
            if m.name == "loss" and m is not self._state.total:
                continue  # compiled_loss's own tracker: its value is reported as task_loss
            result = m.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[m.name] = result
        return logs

    def _update_explanation_metrics(self, ctx):
        present = [(m, keys) for m, keys in self._state.metric_specs if keys[0] in ctx.inputs]
        if not present:
            return
        maps = tf.stop_gradient(self.explainer(ctx))
        for metric, keys in present:
            flags = ctx.flags(keys[0])
            first = ctx.inputs[keys[0]]
            # A missing secondary mask (e.g. no negative annotation) is an empty mask.
            masks = [ctx.inputs[k] if k in ctx.inputs else tf.zeros_like(first) for k in keys]
            metric.update_state(*masks, maps, sample_weight=flags)

    @property
    def metrics(self):
        ms = [self._state.total, self._state.task, self._state.reg] + self._state.terms
        ms += [m for m, _ in self._state.metric_specs]
        if self.compiled_metrics is not None:
            ms += [m for m in self.compiled_metrics.metrics]
        if self.compiled_loss is not None:
            ms += self.compiled_loss.metrics
        return ms

    # ----------------------------------------------------------- explaining
    def explainer(self, ctx):
        """Maps used for metrics and export; see the ``explainer`` argument."""
        if self._explainer is not None:
            return self._explainer(ctx)
        if self.explained_layer is not None:
            x0 = tf.nest.flatten(ctx.x)[0]
            up = "bilinear" if x0.shape.rank == 4 else None
            return ctx.grad_cam(target="pred", weights="detached", relu=True,
                                normalize="minmax", upsample=up)
        quantity = "logit" if self.from_logits else "prob"
        return ctx.input_gradients(target="pred", quantity=quantity)

    def explain(self, x, training=False):
        """Explanation maps for a batch of model inputs (no annotations needed)."""
        inputs = x
        if not isinstance(x, dict):
            keys = self.input_key if isinstance(self.input_key, (list, tuple)) else [self.input_key]
            inputs = dict(zip(keys, x if isinstance(self.input_key, (list, tuple)) else [x]))
        _, ctx = self.forward(inputs, training=training)
        return self.explainer(ctx)

    # -------------------------------------------------------- serialization
    def get_config(self):
        return {
            "model": keras.saving.serialize_keras_object(self.model),
            "terms": [keras.saving.serialize_keras_object(t) for t in self.terms],
            "explained_layer": self.explained_layer,
            "input_key": self.input_key,
            "from_logits": self.from_logits,
            "check_finite": self.check_finite,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        terms = [keras.saving.deserialize_keras_object(t, custom_objects=custom_objects)
                 for t in config.pop("terms", [])]
        return cls(model, terms=terms, **config)
