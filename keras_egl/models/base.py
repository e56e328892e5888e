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

import copy

from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.explain import explainers as _explainers
from keras_egl.explain.activations import ActivationModel
from keras_egl.models.array_input import repeated_array_fit
from keras_egl.terms import weighting as _weighting
from keras_egl.terms.core import (ANNOTATION_KEYS, HAS_ANNOTATION, NEG_MASK, POS_MASK, REASONABILITY,  # noqa: F401
                                  ExplanationContext, ExplanationTerm, annotation_flags,
                                  check_annotation)
from keras_egl.validation import check_bool, check_per_sample

__all__ = ["ExplanationGuidedModel", "ExplanationTerm", "ExplanationContext", "annotation_flags",
           "check_annotation", "HAS_ANNOTATION", "POS_MASK", "NEG_MASK"]


def _replica_count():
    ctx = tf.distribute.get_replica_context()
    return ctx.num_replicas_in_sync if ctx is not None else 1


def _assert_finite(t):
    if not t.dtype.is_floating:
        return t
    if tf.executing_eagerly():
        if not bool(tf.reduce_all(tf.math.is_finite(t))):
            raise ValueError(f"the model input contains NaN or infinite values (shape {t.shape}).")
        return t
    return tf.debugging.assert_all_finite(t, "the model input `x` contains NaN or infinite values")


class _Untracked:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


@keras.saving.register_keras_serializable(package="keras_egl")
class ExplanationGuidedModel(keras.Model):
    """A Keras model trained with explanation terms beside its task loss.

    Every method is a term on any classifier: swap the term, nothing else.

    Args:
      model: the classifier to train (functional, Sequential or subclassed).
      terms: a list of :class:`~keras_egl.terms.ExplanationTerm` objects or
        names for :func:`keras_egl.terms.get` (``"rrr"``, ``"gradia"``,
        ``"haics"``, ``"res_g"``, ``"res_l"``, ``"feedback"``, …). May be empty:
        then it trains like ``model`` but still reports explanation metrics.
      explained_layer: name of the layer whose activations Grad-CAM terms and
        the default explainer use (``None`` if no term needs activations).
      input_key: key of the model input in the input dict; a list of keys for
        multi-input models.
      from_logits: whether ``model`` outputs logits (recommended) or probabilities.
      explainer: what :meth:`explain`, the explanation metrics and the
        ``explain`` export return: a callable ``ctx -> maps`` (e.g.
        :class:`keras_egl.explain.explainers.GradCAM`), a name (``"grad_cam"``,
        ``"input_gradient"``) or ``None`` for the library-wide default — the
        same on every method's model: Grad-CAM of ``explained_layer`` for the
        predicted class (ReLU, min–max, upsampled to the input) when a layer
        is named, else the input gradient of the predicted class's logit.
      explanation_metrics: list of ``keras.metrics.Metric`` or ``(metric,
        mask_keys)`` pairs, updated in ``evaluate`` (never in ``fit``'s training
        logs) as ``metric.update_state(*annotations[mask_keys], maps,
        sample_weight=flags)`` when the first mask key is present (default key
        ``"pos_mask"``).
      check_finite: assert that model inputs hold no NaN/inf in every step
        (an ``InvalidArgumentError`` naming ``x`` inside ``fit``; a ``ValueError``
        when called eagerly) instead of training into a NaN loss.
      extra_keys: input-dict keys the model may receive but does not read
        (e.g. evaluation-only masks). Any other key that is neither a model
        input nor read by a term, a metric or the model raises ``ValueError`` —
        a misspelt annotation key never turns a method off silently.

    Example:
      >>> egl = ExplanationGuidedModel(cnn, terms=["gradia"], explained_layer="conv_last")
      >>> egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      ...             metrics=["accuracy"])
      >>> egl.fit({"x": images, "pos_mask": masks}, labels, epochs=5)
    """

    #: Keys the model itself reads besides its terms' (subclasses extend it).
    model_keys = (HAS_ANNOTATION,)

    def __init__(self, model, terms=(), explained_layer=None, input_key="x", from_logits=True,
                 explainer=None, explanation_metrics=(), check_finite=True, extra_keys=(), **kwargs):
        super().__init__(**kwargs)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
        from keras_egl import terms as _terms  # the registry imports the method terms

        terms = [_terms.get(t) for t in (terms or ())]
        names = [t.name for t in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"`terms` names must be unique (they are log keys); got {names}.")
        reserved = {"loss", "task_loss", "regularization_loss"}
        if reserved & set(names):
            raise ValueError(f"`terms` names must not be one of {sorted(reserved)}; got {names}.")
        if isinstance(input_key, (list, tuple)):
            if not input_key or not all(isinstance(k, str) for k in input_key):
                raise ValueError(f"`input_key` must be a string or a non-empty list of strings; got {input_key!r}.")
            input_key = list(input_key)
        elif not isinstance(input_key, str):
            raise ValueError(f"`input_key` must be a string or a list of strings; got {input_key!r}.")
        if isinstance(extra_keys, str):
            extra_keys = (extra_keys,)
        self.model = model
        # A tracked list of layers: term weights (RES-L's imputation) join
        # trainable_variables, checkpoints and saved models.
        self.terms = terms
        self.explained_layer = explained_layer
        self.input_key = input_key
        self.from_logits = check_bool(from_logits, "from_logits")
        self.check_finite = check_bool(check_finite, "check_finite")
        self.extra_keys = tuple(extra_keys)
        self._explainer = _explainers.get(explainer)
        self._activation_model = ActivationModel(model, explained_layer) if explained_layer else None
        specs = []
        for spec in explanation_metrics or ():
            metric, keys = (spec, (POS_MASK,)) if isinstance(spec, keras.metrics.Metric) else spec
            if not isinstance(metric, keras.metrics.Metric):
                raise TypeError("`explanation_metrics` must hold keras.metrics.Metric objects or "
                                f"(metric, mask_keys) pairs; got {spec!r}.")
            specs.append((metric, tuple([keys] if isinstance(keys, str) else keys)))
        # Held in a plain object so Keras does not track the metric variables as
        # model weights (they would end up in get_weights() and checkpoints).
        self._state = _Untracked(
            metric_specs=specs,
            total=keras.metrics.Mean(name="loss"),
            task=keras.metrics.Mean(name="task_loss"),
            reg=keras.metrics.Mean(name="regularization_loss"),
            terms=[keras.metrics.Mean(name=t.name) for t in terms],
            evaluating=False,
        )
        for t in terms:
            t.attach(self.model)
        self._build_terms()
        self._mark_built()

    def _mark_built(self):
        # fit never calls the wrapper itself, so Keras would consider it unbuilt:
        # `.keras` saving then warns and loading skips the optimizer's slots
        # (Adam back at iterations=0). Built backbone + built terms = built model.
        if getattr(self.model, "built", False) and all(t.built for t in self.terms):
            self.built = True

    # ------------------------------------------------------------------ terms
    def _build_terms(self):
        """Build terms from the backbone's static shapes (functional, or a built subclassed model)."""
        if all(t.built for t in self.terms):
            return
        shapes = self._static_shapes() if getattr(self.model, "inputs", None) else self._probed_shapes()
        if shapes is None:
            return  # built on the first step instead
        for t in self.terms:
            if not t.built:
                t.build(shapes)

    def _static_shapes(self):
        shapes = {"x": _compat.static_shape(self.model.inputs[0]), "activations": None}
        if self.explained_layer is not None:
            try:
                shapes["activations"] = _compat.static_shape(self._activation_model.layers[0].output)
            except (AttributeError, ValueError):
                return None  # a layer used at several call sites
        return shapes

    def _probed_shapes(self):
        # A subclassed backbone has no symbolic inputs; once built it knows its input
        # shape, and one inference pass on a single zero sample gives the explained
        # layer's. Built terms make the wrapper built, which is what lets a `.keras`
        # file restore the optimizer's state.
        shape = _compat.built_input_shape(self.model) if getattr(self.model, "built", False) else None
        if shape is None or isinstance(shape, dict) or isinstance(self.input_key, list):
            return None
        shape = tf.TensorShape(shape)
        if shape.rank is None or not shape[1:].is_fully_defined():
            return None
        probe = tf.zeros([1] + shape.as_list()[1:], self.model.compute_dtype or "float32")
        acts = None
        if self._activation_model is not None:
            _, acts = self._activation_model(probe, training=False)
            acts = None if isinstance(acts, (list, tuple)) else tf.TensorShape([None] + acts.shape.as_list()[1:])
        return {"x": tf.TensorShape([None] + shape.as_list()[1:]), "activations": acts}

    @property
    def annotation_keys(self):
        """Every input-dict key this model reads besides its model input(s)."""
        keys = list(self.model_keys)
        for t in self.terms:
            keys.extend(t.annotation_keys)
        for _, ks in self._state.metric_specs:
            keys.extend(ks)
        return tuple(dict.fromkeys(keys))

    # ------------------------------------------------------------------ I/O
    def _input_keys(self):
        return list(self.input_key) if isinstance(self.input_key, list) else [self.input_key]

    def split_inputs(self, inputs):
        """Return ``(model_input, annotations_dict)`` from what ``fit`` passes.

        Raises ``ValueError`` for a missing model input key and for a key that
        nothing reads (see ``extra_keys``).
        """
        if isinstance(inputs, dict):
            keys = self._input_keys()
            self._check_keys(inputs)
            x = [inputs[k] for k in keys] if isinstance(self.input_key, list) else inputs[keys[0]]
            return x, inputs
        return inputs, {}

    def _check_keys(self, inputs):
        keys = self._input_keys()
        missing = [k for k in keys if k not in inputs]
        if missing:
            raise ValueError(f"the input dict has no model input key(s) {missing} "
                             f"(`input_key`={self.input_key!r}); got keys {sorted(inputs)}.")
        # The vocabulary's keys are never typos: a baseline without terms takes the same dict.
        known = set(keys) | set(self.annotation_keys) | set(self.extra_keys) | set(ANNOTATION_KEYS)
        unknown = sorted(k for k in inputs if k not in known)
        if unknown:
            raise ValueError(
                f"the input dict has key(s) {unknown} that this model does not read. Its model "
                f"input key(s): {keys}; annotation keys its terms, metrics and model read: "
                f"{list(self.annotation_keys)}. Fix the key (the annotation vocabulary is "
                f"'pos_mask', 'neg_mask', 'has_annotation') or pass extra_keys={unknown} to "
                f"allow it.")

    def call(self, inputs, training=None):
        x, _ = self.split_inputs(inputs)
        return self.model(x, training=training)

    # -------------------------------------------------------------- forward
    def forward(self, inputs, y=None, sample_weight=None, training=False):
        """One forward pass returning ``(outputs, ExplanationContext)``.

        The pass runs on a persistent tape that watches the model input, so
        terms can take input and layer gradients without a second pass.
        """
        x, annotations = self.split_inputs(inputs)
        x = tf.nest.map_structure(tf.convert_to_tensor, x)
        x = self._restore_static_shape(x)
        if self.check_finite:
            x = tf.nest.map_structure(_assert_finite, x)
        for term in self.terms:
            term.before_forward()
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

    def _restore_static_shape(self, x):
        """Give inputs from Python generators / Sequences (all dims unknown) the backbone's shape."""
        specs = getattr(self.model, "inputs", None)
        if not specs or tf.executing_eagerly():
            return x
        flat = tf.nest.flatten(x)
        if len(flat) != len(specs):
            return x
        out = []
        for t, spec in zip(flat, specs):
            want = _compat.static_shape(spec)
            if t.shape.rank == want.rank and not t.shape[1:].is_fully_defined() \
                    and want[1:].is_fully_defined():
                t = tf.ensure_shape(t, [None] + want.as_list()[1:])
            out.append(t)
        return tf.nest.pack_sequence_as(x, out)

    def compute_terms(self, ctx):
        """``{name: unweighted value}`` of every explanation term (0 where inactive)."""
        values = {}
        for t in self.terms:
            # Build on the first step even when the batch leaves the term inactive:
            # its weights must exist in the first trace (and before the optimizer builds).
            if not t.built:
                t.build(ctx.shapes())
            values[t.name] = t.value(ctx) if t.is_active(ctx) else tf.constant(0.0)
        return values

    def _check_sample_weight(self, y, sample_weight):
        if sample_weight is None or y is None:
            return sample_weight
        sw = tf.convert_to_tensor(sample_weight)
        if sw.shape.rank is not None and sw.shape.rank > 1 and not (sw.shape.rank == 2 and sw.shape[1] == 1):
            return sample_weight  # temporal / per-output weights: Keras checks them
        return check_per_sample(sw, "sample_weight", tf.nest.flatten(y)[0], low=0.0)

    def _losses_and_logs(self, inputs, y, sample_weight, training):
        sample_weight = self._check_sample_weight(y, sample_weight)
        outputs, ctx = self.forward(inputs, y, sample_weight, training=training)
        n_rep = float(_replica_count())
        # The compiled loss comes already scaled by 1/replicas for the gradient.
        task_scaled = _compat.task_loss(self, y, outputs, sample_weight)
        task = tf.cast(task_scaled, tf.float32) * n_rep
        reg = tf.cast(tf.add_n(self.losses), tf.float32) if self.losses else tf.constant(0.0)
        values = self.compute_terms(ctx)
        total = task + reg + self.weighted_terms(values)
        return outputs, ctx, task, reg, values, total, total / n_rep

    def weighted_terms(self, values):
        """``Σ_t λ_t · values[t]`` with each term's weight in use (0.0 without terms)."""
        weighted = [t.loss_weight() * values[t.name] for t in self.terms]
        return tf.add_n(weighted) if weighted else 0.0

    def calibrate_term_weights(self, tape, task, values):
        """One measuring step of the ``weight="auto"`` terms (see :mod:`keras_egl.terms.weighting`).

        ``tape`` must be persistent and have recorded ``task`` and ``values``.
        The gradient norms are taken on the backbone's trainable variables and
        only inside a ``tf.cond`` that runs while a term has steps to measure,
        so steps after calibration pay nothing but the persistent tape.
        """
        auto = [(t.weight_state, values[t.name]) for t in self.dynamic_weights() if t.auto_weight]
        if not auto:
            return
        shared = self.model.trainable_variables
        pending = tf.reduce_any(tf.stack([state.pending > 0.0 for state, _ in auto]))

        def norm(target):
            grads = _compat.gradients(tape, target, shared)
            return tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads])

        def measure():
            norms = tf.stack([norm(task)] + [norm(value) for _, value in auto])
            ctx = tf.distribute.get_replica_context()
            if ctx is not None and ctx.num_replicas_in_sync > 1:
                norms = ctx.all_reduce(tf.distribute.ReduceOp.SUM, norms)
            ops = []
            for i, (state, _) in enumerate(auto):
                ops += _weighting.calibration_update(state, norms[0], norms[i + 1])
            with tf.control_dependencies(ops):
                return tf.constant(True)

        tf.cond(pending, measure, lambda: tf.constant(False))

    def _update_trackers(self, task, reg, values, total):
        self._state.task.update_state(task)
        self._state.total.update_state(total)
        if self.losses:
            self._state.reg.update_state(reg)
        for t, tracker in zip(self.terms, self._state.terms):
            tracker.update_state(values[t.name])

    def dynamic_weights(self):
        """The objects whose loss weight changes during training (auto, warm-up or ramp).

        Each has ``name``, ``weight_state``, ``auto_weight`` and ``loss_weight()``;
        :class:`~keras_egl.callbacks.TermWeightSchedule` drives them and logs
        ``<name>_weight``. The base model's are its dynamic terms; a subclass
        with a weighted loss of its own adds it here.
        """
        return [t for t in self.terms if t.dynamic_weight]

    def _needs_calibration(self):
        return any(t.auto_weight for t in self.dynamic_weights())

    def train_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=self._needs_calibration()) as tape:
            outputs, ctx, task, reg, values, total, scaled = self._losses_and_logs(
                inputs, y, sample_weight, training=True)
        self.calibrate_term_weights(tape, task, values)
        _compat.apply_loss(self, tape, scaled, self.trainable_variables)
        self._update_trackers(task, reg, values, total)
        return self._results(inputs, y, outputs, sample_weight, ctx=None)

    def test_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        outputs, ctx, task, reg, values, total, _ = self._losses_and_logs(
            inputs, y, sample_weight, training=False)
        self._update_trackers(task, reg, values, total)
        return self._results(inputs, y, outputs, sample_weight, ctx=ctx)

    def _results(self, inputs, y, outputs, sample_weight, ctx):
        _compat.update_compiled_metrics(self, y, outputs, sample_weight)
        if ctx is not None and self._state.metric_specs:
            self._update_explanation_metrics(ctx)
        return self._metric_logs(include_explanation=ctx is not None)

    def _check_lengths(self, x, y=None, sample_weight=None):
        """Name the key whose array length differs (Keras only says "ambiguous")."""
        if not isinstance(x, dict):
            return
        self._check_keys(x)
        sizes = {k: len(v) for k, v in x.items() if hasattr(v, "shape") and getattr(v, "ndim", 1) > 0
                 and not isinstance(v, (tf.data.Dataset,))}
        if y is not None and hasattr(y, "shape") and getattr(y, "ndim", 1) > 0:
            sizes["y"] = len(y)
        if sample_weight is not None and hasattr(sample_weight, "shape"):
            sizes["sample_weight"] = len(sample_weight)
        if len(set(sizes.values())) > 1:
            ref = sizes.get(self._input_keys()[0], max(sizes.values()))
            bad = {k: n for k, n in sizes.items() if n != ref}
            raise ValueError(f"every array must have one entry per sample ({ref}, the length of "
                             f"`{self._input_keys()[0]}`); got lengths {bad}.")

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``; arrays are fed as one repeated pipeline (:mod:`.array_input`)."""
        _compat.check_strategy(self)
        self._check_lengths(x, y, kwargs.get("sample_weight"))
        if self.dynamic_weights():
            from keras_egl.callbacks.term_weights import TermWeightSchedule

            callbacks = kwargs.get("callbacks")
            callbacks = list(callbacks) if isinstance(callbacks, (list, tuple)) else (
                [] if callbacks is None else callbacks)
            if isinstance(callbacks, list) and not any(isinstance(c, TermWeightSchedule) for c in callbacks):
                callbacks.append(TermWeightSchedule())
            kwargs["callbacks"] = callbacks
        self._build_training_state(x, y)
        converted = repeated_array_fit(self, x, y, args, kwargs)
        if converted is not None:
            x, y, kwargs = converted
        try:
            return super().fit(x, y, *args, **kwargs)
        finally:
            self._mark_built()

    def _build_training_state(self, x, y):
        # Only once every variable the step trains exists (backbone and terms built):
        # slots for a partial list would miss the variables created in the step.
        if not self.built:
            return
        outputs = getattr(self.model, "outputs", None)
        out_shape = _compat.static_shape(outputs[0]) if outputs and len(outputs) == 1 else None
        with self.distribute_strategy.scope():
            _compat.build_training_state(self, self.trainable_variables, y, out_shape)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        self._check_lengths(x, y, kwargs.get("sample_weight"))
        return self._evaluate(x, y, *args, **kwargs)

    def _evaluate(self, *args, **kwargs):
        # Explanation metrics are computed in test steps only; the flag keeps
        # them out of fit's training logs (no constant 0.0 entries there).
        previous, self._state.evaluating = self._state.evaluating, True
        try:
            return super().evaluate(*args, **kwargs)
        finally:
            self._state.evaluating = previous

    def get_metrics_result(self):
        """The logs: ``loss`` is the total; the compiled loss's own tracker is left out.

        Keras rebuilds epoch logs from this method by metric name, so it must
        agree with what the steps return: explanation metrics appear only in
        ``evaluate`` (and ``val_`` logs), where they are computed.
        """
        return self._metric_logs(include_explanation=self._state.evaluating)

    def _metric_logs(self, include_explanation):
        explanation = {id(m) for m, _ in self._state.metric_specs}
        logs = {}
        for m in self.metrics:
            if m is self._state.reg and not self.losses:
                continue
            if m.name == "loss" and m is not self._state.total:
                continue  # compiled_loss's own tracker: its value is reported as task_loss
            if id(m) in explanation and not include_explanation:
                continue
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
            flags = ctx.flags(*[k for k in keys if ctx.has(k)])
            first = ctx.mask(keys[0])
            # A missing secondary mask (e.g. no negative annotation) is an empty mask.
            masks = [ctx.mask(k) if ctx.has(k) else tf.zeros_like(first) for k in keys]
            metric.update_state(*masks, maps, sample_weight=flags)

    @property
    def metrics(self):
        ms = [self._state.total, self._state.task, self._state.reg] + self._state.terms
        ms += [m for m, _ in self._state.metric_specs]
        return ms + _compat.compiled_metric_objects(self)

    def serving_outputs(self, x):
        """What the exported ``serving_default`` signature returns for model input ``x``.

        The backbone's outputs in inference mode (``model.predict`` of the
        wrapper gives the same); models whose prediction is not one pass
        (the Bayesian model) override it with a documented deterministic choice.
        """
        return self.model(x, training=False)

    # ----------------------------------------------------------- explaining
    @property
    def explainer_object(self):
        """The explainer in use (the user's, or the library-wide default)."""
        return self._explainer if self._explainer is not None else _explainers.default_explainer(
            self.explained_layer)

    def explainer(self, ctx):
        """Maps used for metrics, :meth:`explain` and export; see the ``explainer`` argument."""
        return self.explainer_object(ctx)

    def explain(self, x, training=False):
        """Explanation maps for a batch of model inputs (no annotations needed)."""
        inputs = x
        if not isinstance(x, dict):
            keys = self._input_keys()
            inputs = dict(zip(keys, x if isinstance(self.input_key, list) else [x]))
        _, ctx = self.forward(inputs, training=training)
        return self.explainer(ctx)

    # -------------------------------------------------------- serialization
    def _serialize_explainer(self):
        if self._explainer is None:
            return None
        if not hasattr(self._explainer, "get_config"):
            raise ValueError(
                f"the model's `explainer` {self._explainer!r} cannot be serialised (it has no "
                "get_config). Use keras_egl.explain.explainers.GradCAM / InputGradient, or a "
                "registered class with get_config, to save this model.")
        return keras.saving.serialize_keras_object(self._explainer)

    def get_config(self):
        return {
            "model": keras.saving.serialize_keras_object(self.model),
            "terms": [keras.saving.serialize_keras_object(t) for t in self.terms],
            "explained_layer": self.explained_layer,
            "input_key": self.input_key,
            "from_logits": self.from_logits,
            "check_finite": self.check_finite,
            "extra_keys": list(self.extra_keys),
            "explainer": self._serialize_explainer(),
            "explanation_metrics": [[keras.saving.serialize_keras_object(m), list(keys)]
                                    for m, keys in self._state.metric_specs],
            "name": self.name,
        }

    @staticmethod
    def _deserialize_common(config, custom_objects=None):
        """Turn the serialised model, terms, explainer and metrics of ``config`` back into objects."""
        # A deep copy: Keras 3's deserialize_keras_object consumes nested dicts in place,
        # and the caller's config must survive (e.g. to compare or to build a second copy).
        config = copy.deepcopy(config)
        config["model"] = keras.saving.deserialize_keras_object(config["model"],
                                                                custom_objects=custom_objects)
        if "terms" in config:
            config["terms"] = [keras.saving.deserialize_keras_object(t, custom_objects=custom_objects)
                               for t in config["terms"]]
        if config.get("explainer") is not None:
            config["explainer"] = keras.saving.deserialize_keras_object(config["explainer"],
                                                                        custom_objects=custom_objects)
        if "explanation_metrics" in config and config["explanation_metrics"] is not None:
            config["explanation_metrics"] = [
                (keras.saving.deserialize_keras_object(m, custom_objects=custom_objects), tuple(keys))
                for m, keys in config["explanation_metrics"]]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = cls._deserialize_common(config, custom_objects)
        model = config.pop("model")
        return cls(model, **config)
