"""Bayesian CNN trained on the ELBO, with explanation feedback as evidence.

Bekkemoen (2021), NTNU master thesis, ch. 5 (article arXiv:2105.02653 §3).
:class:`BayesianFeedbackModel` wraps a classifier built from (or converted to,
see :func:`keras_egl.layers.bayesian.to_bayesian`) the LRT layers of
``keras_egl.layers.bayesian`` and minimises, per mini-batch of ``B`` samples
and ``m`` Monte Carlo samples (eq. 5.16),

    L = KL(q ‖ p)/n
        + (1/(m·B)) Σ_t Σ_i [ −log P(y_i | a_F^(i,t) = 0, a_Fᶜ^(i,t))
                              + w_F · Σ_{u ∈ a_F^(i,t)} −log N(0; μ_u, σ_u²) ]
        + Σ_k w_k · L_k                                  (optional extra ``terms``)

* the KL comes from the layers' ``add_loss`` scaled by ``kl_weight = 1/n``
  (``n`` = training-set size; set from ``n_train`` or from the ``fit`` data);
* ``F`` is the rejected (irrelevant) region: the ``"neg_mask"`` annotation of
  :mod:`keras_egl.terms.core` (wrong reasons). With only ``"pos_mask"`` (the
  object) it is derived as ``F = 1 − pos_mask`` on annotated samples
  (``derive="complement"``); ``has_annotation = 0`` samples get no feedback;
* ``a_F`` are the target conv layer's pre-activations under ``F`` (eqs.
  5.10–5.12: adaptive max-pool of the mask to the layer grid, ``A ≠ 0``,
  ``∂Σ logits/∂A ≠ 0``), found by a first pass whose result is constant
  (``stop_gradient``); the second pass clamps them to 0 for the likelihood and
  scores their density at 0;
* samples without feedback (``F = 0``, or no mask key) reduce to the plain
  ELBO term; ``w_F = feedback_weight`` is 1 in the thesis.

The ``m`` MC samples are drawn in **one** batched pass over the batch tiled
``m`` times (LRT noise is per example, so tiles are independent samples); the
two passes draw independent noise (the thesis does not say whether they share it).

Builders of the thesis's architectures: :func:`bayesian_lenet` (Decoy MNIST)
and :func:`bayesian_alexnet_bn` (Dogs vs Cats, ISIC).
"""

import contextlib
import warnings

import numpy as np

from keras_egl._deprecation import renamed_argument
from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.layers.bayesian import (BayesianConv2D, BayesianDense, bayesian_layers,
                                       clamp_preactivations, record_moments, set_kl_weight)
from keras_egl.losses.feedback import (REDUCTIONS, feedback_evidence_nll, feedback_unit_mask,
                                       resolve_feedback_weight)
from keras_egl.models.base import ExplanationGuidedModel, _assert_finite, _replica_count
from keras_egl.terms import weighting as _weighting
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK, ExplanationContext, check_derive
from keras_egl.validation import (check_bool, check_choice, check_float, check_key, check_non_negative,
                                  check_positive_int)

__all__ = ["BayesianFeedbackModel", "bayesian_lenet", "bayesian_alexnet_bn", "reduce_predictions",
           "PREDICTIVE_REDUCTIONS", "NLL_REDUCTIONS", "POOLS"]

PREDICTIVE_REDUCTIONS = ("mean_logits", "mean_probs")
NLL_REDUCTIONS = ("per_sample", "predictive")
POOLS = ("max", "erode")


class _Holder:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


class _AnnotationContext(ExplanationContext):
    """The annotations of one batch, validated against ``x``, without a forward pass.

    The ELBO runs its own tiled MC passes; this context only serves
    :meth:`ExplanationContext.mask` / ``flags`` / ``resolve_masks`` (shape,
    finiteness and ``[0, 1]`` checks, also in graph mode) and carries the batch
    to :meth:`BayesianFeedbackModel.explainer` for evaluation-time maps.
    """

    def __init__(self, model, inputs, x, y, sample_weight, training):
        super().__init__(model, inputs, x, y, sample_weight, outputs=None, activations=None, tape=None,
                         training=training)

    def batch_size(self):
        return tf.shape(self.x0)[0]


def _tile(t, m):
    if t is None or m == 1:
        return t
    t = tf.convert_to_tensor(t)
    return tf.tile(t, [m] + [1] * (t.shape.rank - 1))


def _check_feedback_weight(weight):
    """``"auto"``, a finite float ``≥ 0`` or a preset name of ``FEEDBACK_WEIGHT_PRESETS`` → float or ``"auto"``."""
    if weight == _weighting.AUTO:
        return weight
    if isinstance(weight, str):
        return resolve_feedback_weight(weight)  # ValueError listing the presets
    return check_non_negative(weight, "feedback_weight")


class _FeedbackWeight(keras.layers.Layer):
    """The variables of ``feedback_weight="auto"`` (see :mod:`keras_egl.terms.weighting`).

    Quacks like a dynamic term for ``calibrate_term_weights`` and
    ``TermWeightSchedule``: the evidence's ``w_F`` is set so that its gradient
    norm on the network's parameters is ``auto_fraction`` times the NLL's, and
    logged as ``feedback_loss_weight``.
    """

    dynamic_weight = True
    auto_weight = True

    def __init__(self, auto_fraction, calibration_steps, **kwargs):
        super().__init__(name="feedback_loss", dtype="float32", **kwargs)
        self.weight_state = _weighting.WeightState(self, _weighting.AUTO, auto_fraction, 0, 0, "once",
                                                   calibration_steps)

    def loss_weight(self):
        return self.weight_state.value()



@contextlib.contextmanager
def _weight_mode(model, mean):
    """Every built LRT layer of ``model`` in mean-weight (``mean=True``) or sampling mode.

    Unlike :func:`keras_egl.layers.bayesian.mean_weights` this also works while
    tracing a ``tf.function`` (the train/test steps, the export signature): the
    previous modes are read as tensors and restored by assignments that
    TensorFlow's automatic control dependencies order after the pass's reads.
    """
    layers = [l for l in bayesian_layers(model) if l.built]
    old = [_compat.read_variable(l._mean_mode) for l in layers]
    for layer in layers:
        layer._mean_mode.assign(1.0 if mean else 0.0)
    try:
        yield
    finally:
        for layer, value in zip(layers, old):
            layer._mean_mode.assign(value)


def reduce_predictions(logits, m, reduction):
    """``(m·B, K)`` logits of ``m`` tiled MC samples → ``(B, K)`` predictive logits.

    ``"mean_logits"``: the mean logit (the 2024 code). ``"mean_probs"``:
    ``log mean_t softmax`` — the Bayesian model average, returned as log
    probabilities so it can still be read with ``from_logits=True``.
    """
    check_choice(reduction, PREDICTIVE_REDUCTIONS, "predictive_reduction")
    if m == 1:
        return logits if reduction == "mean_logits" else tf.nn.log_softmax(logits)
    k = logits.shape[-1]
    per = tf.reshape(logits, [m, -1, k])
    if reduction == "mean_logits":
        return tf.reduce_mean(per, axis=0)
    return tf.reduce_logsumexp(tf.nn.log_softmax(per), axis=0) - np.log(m)


@keras.saving.register_keras_serializable(package="keras_egl")
class BayesianFeedbackModel(ExplanationGuidedModel):
    """ELBO training of a Bayesian CNN with explanation feedback as evidence.

    Bekkemoen (2021), eqs. 5.14–5.16 (see the module docstring for the loss).

    Data: ``fit({"x": images, "neg_mask": F}, y)`` with ``F`` of shape
    ``(N, H, W)`` or ``(N, H, W, 1)``, values in ``[0, 1]`` (1 = rejected /
    irrelevant pixel; all-zero rows = no feedback; a grid cell of the target
    layer is flagged where any pixel of its bin is > 0), or
    ``fit({"x": images, "pos_mask": P}, y)`` (``F = 1 − P`` on annotated
    samples, see ``derive``), optionally with ``"has_annotation"`` ``(N,)``
    flags (0 = no feedback for that sample whatever its masks), or
    ``fit(images, y)`` for the plain ELBO. Masks with other values (0/255,
    NaN) or another spatial size are refused with an error naming the key,
    in graph mode too. Logs ``loss`` (total), ``task_loss`` (NLL),
    ``regularization_loss`` (KL/n), ``feedback_loss`` (the mean negative
    evidence per sample, before ``feedback_weight``) and one entry per extra term.

    Extra explanation terms (``terms=``, e.g. ``terms=["gradia"]``) are
    computed by the base class's :meth:`forward`/:meth:`compute_terms` on the
    **untiled** batch in **one extra stochastic pass** (sampling mode, fresh
    LRT noise, no clamping, ``training`` as the step): a one-sample
    reparameterised estimate of ``E_q[L_k]``, whose gradient reaches both the
    posterior means and scales. Each ``w_k · L_k`` is added to the ELBO and
    ``L_k`` is logged under the term's name. Cost: one forward pass over ``B``
    samples through the explained layer plus what the term differentiates
    (e.g. Grad-CAM's first-order backward to ``explained_layer``, which the
    outer training tape differentiates again): measured ×1.7 the step time of a
    feedback step for GRADIA on :func:`bayesian_lenet` (batch 64, ``m = 1``,
    CPU); nothing is added without ``terms``. With BatchNormalization in the backbone the term pass normalises
    with the batch statistics and updates the moving statistics once more per step.

    Explanation maps (:meth:`explain`, evaluation-time ``explanation_metrics``
    and the export's ``explain`` signature) use the model's explainer — the
    library-wide default, Grad-CAM of ``explained_layer`` (which defaults to
    ``target_layer``) for the predicted class with ReLU, min–max and bilinear
    upsampling, unless ``explainer=`` is given — on a **deterministic
    mean-weight** forward pass by default (``explain_mc_samples=0``), or
    averaged over ``k`` stochastic passes (``explain_mc_samples=k ≥ 1``).

    Args:
      model: the classifier (its LRT layers supply KL and moments); outputs
        logits. Build it from :class:`~keras_egl.layers.bayesian.BayesianConv2D`
        / ``BayesianDense`` or convert a Keras CNN with
        :func:`~keras_egl.layers.bayesian.to_bayesian`.
      target_layer: name of the :class:`BayesianConv2D` whose pre-activations
        receive the evidence (must keep spatial extent, e.g. ``"conv3"`` of
        :func:`bayesian_lenet`).
      n_train: training-set size; sets every layer's ``kl_weight = 1/n_train``.
        ``None``: taken from the first ``fit`` call with array data.
      mc_samples: ``m``, MC samples per training step (thesis: unstated; the
        2024 code: 1).
      eval_mc_samples: MC samples for ``evaluate``/``predict`` (default 8).
      predictive_reduction: ``"mean_logits"`` (2024 code) or ``"mean_probs"``
        (Bayesian model average) for the reported predictions.
      nll_reduction: ``"per_sample"`` — the mean over MC samples of the NLL
        (eq. 5.16, default) — or ``"predictive"`` — the NLL of the reduced
        prediction (the 2024 code: cross-entropy of the mean logits).
      feedback_weight: ``w_F``, a finite float ≥ 0 — 1.0 (the thesis) —, a
        preset name of ``keras_egl.losses.feedback.FEEDBACK_WEIGHT_PRESETS``
        (2024 code), or ``"auto"``: measured over the first 5 training steps
        (which run without the evidence) so that the evidence's gradient norm on
        the network's parameters is ``feedback_auto_fraction`` times the NLL's
        (the rule of :mod:`keras_egl.terms.weighting`); logged as
        ``feedback_loss_weight``. The evidence is a sum of Gaussian
        log-densities over flagged units: its scale depends on the layer's
        size and the posterior's spread, which is why ``w_F = 1`` can swamp
        the NLL on a network other than the thesis's.
      feedback_auto_fraction: ``α`` of ``feedback_weight="auto"`` (default
        1.0, as for terms).
      feedback_reduction: ``"sum"`` (eq. 5.16) or ``"mean"`` over flagged units.
      pool: ``"max"`` (thesis) or ``"erode"`` (2024 code, Pet/SBD).
      gradient_filter: AND the flags with ``∂Σ logits/∂A ≠ 0`` (thesis eq.
        5.12; the 2024 code omits it).
      clamp: clamp ``a_F`` to 0 in the likelihood pass (eq. 5.14; the 2024 code
        does too). ``False`` leaves only the density term.
      neg_key: input-dict key of ``F``, the rejected region (default
        ``"neg_mask"``; ``mask_key=`` is its deprecated name).
      pos_key: key of the right-reasons mask (``"pos_mask"``), used to derive
        ``F`` when the batch has no ``neg_key`` (``None``: never).
      flag_key: key of the per-sample ``has_annotation`` flags (``None``: none).
      derive: ``"complement"`` (``F = 1 − pos_mask`` on annotated samples when
        only ``pos_key`` is given) or ``"error"`` (then such a batch raises).
      terms: extra explanation terms (objects or names for
        :func:`keras_egl.terms.get`) added to the ELBO, see above.
      explain_mc_samples: ``0`` (default) — explanation maps of the mean-weight
        network; ``k ≥ 1`` — the average of ``k`` stochastic maps.
      explained_layer: layer of the explainer and of Grad-CAM terms; defaults
        to ``target_layer``.
      input_key, from_logits, explainer, explanation_metrics, check_finite,
        extra_keys: as :class:`ExplanationGuidedModel` (``from_logits`` must be
        True; ``input_key`` a single key).

    Example:
      >>> net = bayesian_lenet(seed=0)
      >>> bnn = BayesianFeedbackModel(net, target_layer="conv3", n_train=len(x))
      >>> bnn.compile(keras.optimizers.Adam(1e-3),
      ...             keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      ...             metrics=["accuracy"])
      >>> bnn.fit({"x": x, "neg_mask": F}, y, batch_size=256, epochs=15)
    """

    @renamed_argument("mask_key", "neg_key")
    def __init__(self, model, target_layer, n_train=None, mc_samples=1, eval_mc_samples=8,
                 predictive_reduction="mean_logits", nll_reduction="per_sample", feedback_weight=1.0,
                 feedback_reduction="sum", pool="max", gradient_filter=True, clamp=True, neg_key=NEG_MASK,
                 pos_key=POS_MASK, flag_key=HAS_ANNOTATION, derive="complement", terms=(),
                 explain_mc_samples=0, explained_layer=None, input_key="x", from_logits=True, explainer=None,
                 explanation_metrics=(), feedback_auto_fraction=None, **kwargs):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
        if not isinstance(target_layer, str):
            raise TypeError(f"`target_layer` must be a layer name (str); got {target_layer!r}.")
        if not isinstance(input_key, str):
            raise TypeError(f"`input_key` must be a single key: BayesianFeedbackModel supports single-input "
                            f"image models; got {input_key!r}.")
        if not bayesian_layers(model):
            raise ValueError("`model` has no BayesianDense/BayesianConv2D layer: nothing to train on the ELBO. "
                             "Convert a Keras CNN with keras_egl.layers.bayesian.to_bayesian(model).")
        layer = BayesianFeedbackModel._find_target(model, target_layer)
        from_logits = check_bool(from_logits, "from_logits")
        if not from_logits:
            raise ValueError("`from_logits` must be True: the ELBO and the MC reductions read logits.")
        mc_samples = check_positive_int(mc_samples, "mc_samples")
        eval_mc_samples = check_positive_int(eval_mc_samples, "eval_mc_samples")
        explain_mc_samples = check_positive_int(explain_mc_samples, "explain_mc_samples", minimum=0)
        check_choice(predictive_reduction, PREDICTIVE_REDUCTIONS, "predictive_reduction")
        check_choice(nll_reduction, NLL_REDUCTIONS, "nll_reduction")
        check_choice(feedback_reduction, REDUCTIONS, "feedback_reduction")
        check_choice(pool, POOLS, "pool")
        weight = _check_feedback_weight(feedback_weight)
        feedback_auto_fraction = check_float(
            _weighting.DEFAULT_AUTO_FRACTION if feedback_auto_fraction is None else feedback_auto_fraction,
            "feedback_auto_fraction", low=0.0, low_inclusive=False)
        gradient_filter = check_bool(gradient_filter, "gradient_filter")
        clamp = check_bool(clamp, "clamp")
        neg_key = check_key(neg_key, "neg_key")
        pos_key = check_key(pos_key, "pos_key", optional=True)
        flag_key = check_key(flag_key, "flag_key", optional=True)
        derive = check_derive(derive)
        keys = [k for k in (input_key, neg_key, pos_key, flag_key) if k is not None]
        if len(set(keys)) != len(keys):
            raise ValueError(f"`input_key`, `neg_key`, `pos_key` and `flag_key` must be distinct; got "
                             f"{input_key!r}, {neg_key!r}, {pos_key!r}, {flag_key!r}.")
        if n_train is not None:
            n_train = check_positive_int(n_train, "n_train")
        super().__init__(model, terms=terms, explained_layer=explained_layer or target_layer,
                         input_key=input_key, from_logits=from_logits, explainer=explainer,
                         explanation_metrics=explanation_metrics, **kwargs)
        if any(t.name == "feedback_loss" for t in self.terms):
            raise ValueError("`terms` names must not be 'feedback_loss' (the log key of the feedback evidence).")
        self.target_layer = target_layer
        self._target = layer
        self.mc_samples = mc_samples
        self.eval_mc_samples = eval_mc_samples
        self.explain_mc_samples = explain_mc_samples
        self.predictive_reduction = predictive_reduction
        self.nll_reduction = nll_reduction
        self._feedback_weight_arg = feedback_weight if isinstance(feedback_weight, str) else weight
        self.feedback_weight = weight
        self.feedback_auto_fraction = feedback_auto_fraction
        self._feedback_auto = (_FeedbackWeight(feedback_auto_fraction, _weighting.DEFAULT_CALIBRATION_STEPS)
                               if weight == _weighting.AUTO else None)
        self.feedback_reduction = feedback_reduction
        self.pool = pool
        self.gradient_filter = gradient_filter
        self.clamp = clamp
        self.neg_key = neg_key
        self.pos_key = pos_key
        self.flag_key = flag_key
        self.derive = derive
        self.n_train = None
        if n_train is not None:
            self.set_n_train(n_train)
        # Kept off Keras's attribute tracking (as the base does with its trackers) so
        # the tracker's variables are not model weights.
        self._fb_state = _Holder(tracker=keras.metrics.Mean(name="feedback_loss"))

    @property
    def mask_key(self):
        """Deprecated name of :attr:`neg_key`."""
        warnings.warn("`mask_key` is deprecated; use `neg_key`.", DeprecationWarning, stacklevel=2)
        return self.neg_key

    @property
    def annotation_keys(self):
        """The base's keys plus the feedback mask keys (``neg_key``, ``pos_key``, ``flag_key``)."""
        keys = list(super().annotation_keys)
        keys += [k for k in (self.neg_key, self.pos_key, self.flag_key) if k is not None]
        return tuple(dict.fromkeys(keys))

    @property
    def _feedback_tracker(self):
        return self._fb_state.tracker

    @staticmethod
    def _find_target(model, name):
        found = [l for l in bayesian_layers(model) if l.name == name]
        if not found:
            names = [l.name for l in model.layers]
            raise ValueError(f"`target_layer`={name!r} is not a BayesianConv2D/BayesianDense layer of "
                             f"{model.name!r}; layers: {names}.")
        if not isinstance(found[0], BayesianConv2D):
            raise ValueError(f"`target_layer`={name!r} must be a BayesianConv2D (feedback is pooled onto a "
                             f"spatial grid); got {type(found[0]).__name__}.")
        return found[0]

    def set_n_train(self, n_train):
        """Set ``n`` (training-set size): every LRT layer's ``kl_weight = 1/n``."""
        n_train = check_positive_int(n_train, "n_train")
        self.n_train = n_train
        set_kl_weight(self.model, 1.0 / n_train)

    def _feedback_loss_weight(self):
        return self.feedback_weight if self._feedback_auto is None else self._feedback_auto.loss_weight()

    def dynamic_weights(self):
        extra = [] if self._feedback_auto is None else [self._feedback_auto]
        return super().dynamic_weights() + extra

    def set_feedback_weight(self, feedback_weight):
        """Change ``w_F`` (a float or a preset name) after compiling.

        ``w_F`` is a Python constant of the traced train/test steps, so they are
        dropped here and retraced on the next ``fit``/``evaluate``; the config
        reports the new value.
        """
        if _check_feedback_weight(feedback_weight) == _weighting.AUTO or self._feedback_auto is not None:
            raise ValueError("`feedback_weight`: set_feedback_weight cannot switch to or from 'auto' (its "
                             "calibration variables belong to the model); build a new model instead.")
        self.feedback_weight = _check_feedback_weight(feedback_weight)
        self._feedback_weight_arg = feedback_weight if isinstance(feedback_weight, str) else self.feedback_weight
        self.train_function = self.test_function = None

    # ------------------------------------------------------------------ passes
    def feedback_mask(self, ctx):
        """``F`` ``(B, H, W)`` of a batch from its annotations, or ``None`` without a mask key.

        ``neg_key`` wins; with only ``pos_key``, ``F = 1 − pos_mask`` on
        annotated samples (``derive="complement"``) or a ``ValueError``
        (``"error"``). Samples whose ``flag_key`` is 0 get ``F = 0``.
        """
        if not (ctx.has(self.neg_key) or ctx.has(self.pos_key)):
            return None
        _, neg, flags = ctx.resolve_masks(self.pos_key, self.neg_key, ("neg",), derive=self.derive,
                                          flag_key=self.flag_key)
        return neg * tf.reshape(flags, [-1] + [1] * (neg.shape.rank - 1))

    def feedback_units(self, x, mask, training=False):
        """``a_F`` (eqs. 5.10–5.12) for a batch: 0/1 of the target pre-activations' shape."""
        grads = None
        with tf.GradientTape() as tape:
            with record_moments(self._target):
                logits = self.model(x, training=training)
                pre = self._target.last_moments["pre_activation"]
            total = tf.reduce_sum(logits)
        if self.gradient_filter:
            grads = tape.gradient(total, pre)
            if grads is None:
                raise ValueError(f"the output of {self.model.name!r} has no gradient path to "
                                 f"`target_layer`={self.target_layer!r}.")
        return feedback_unit_mask(mask, pre, grads, pool=self.pool)

    def mc_forward(self, x, mask=None, m=1, training=False, clamp=None):
        """One batched pass over ``m`` tiled MC samples.

        ``mask`` is ``F`` ``(B, H, W)`` (already resolved, see :meth:`feedback_mask`).
        Returns ``(logits (m·B, K), feedback_nll (m·B,))``; ``feedback_nll`` is 0
        without a mask. With a mask, ``a_F`` is clamped to 0 when ``clamp``.
        """
        clamp = self.clamp if clamp is None else clamp
        xt = _tile(x, m)
        flagged = None
        if mask is not None:
            flagged = self.feedback_units(xt, _tile(mask, m), training=training)
        with record_moments(self._target):
            if flagged is not None and clamp:
                with clamp_preactivations(self._target, flagged):
                    logits = self.model(xt, training=training)
            else:
                logits = self.model(xt, training=training)
            moments = self._target.last_moments
        if flagged is None:
            fb = tf.zeros(tf.shape(logits)[:1], logits.dtype)
        else:
            fb = feedback_evidence_nll(tf.cast(moments["mean"], tf.float32), tf.cast(moments["stddev"], tf.float32),
                                       flagged, self.feedback_reduction)
        return logits, fb

    def call(self, inputs, training=None):
        x, _ = self.split_inputs(inputs)
        if training:
            return self.model(x, training=True)
        m = self.eval_mc_samples
        return reduce_predictions(self.model(_tile(x, m), training=False), m, self.predictive_reduction)

    def serving_outputs(self, x):
        """The exported prediction: one pass of the mean-weight network (deterministic).

        ``predict`` returns the MC predictive (``eval_mc_samples`` stochastic
        passes), which differs between calls; a SavedModel's
        ``serving_default`` returns this instead, documented in
        ``keras_egl.models.export``.
        """
        with _weight_mode(self.model, mean=True):
            return self.model(x, training=False)

    # ------------------------------------------------------------------ steps
    def _elbo(self, inputs, y, sample_weight, training):
        x, annotations = self.split_inputs(inputs)
        x = tf.convert_to_tensor(x)
        if self.check_finite:
            x = _assert_finite(x)
        sample_weight = self._check_sample_weight(y, sample_weight)
        ctx = _AnnotationContext(self, annotations, x, y, sample_weight, training)
        mask = self.feedback_mask(ctx)
        m = self.mc_samples if training else self.eval_mc_samples
        logits, fb = self.mc_forward(x, mask, m=m, training=training, clamp=self.clamp and training)
        reduced = reduce_predictions(logits, m, self.predictive_reduction)
        n_rep = float(_replica_count())
        if self.nll_reduction == "per_sample" or not training:
            task_scaled = _compat.task_loss(self, _tile(y, m), logits, _tile(sample_weight, m))
        else:
            task_scaled = _compat.task_loss(self, y, reduced, sample_weight)
        # Losses in float32 under mixed precision (the KL and the evidence overflow float16).
        task = tf.cast(task_scaled, tf.float32) * n_rep
        reg = tf.add_n([tf.cast(l, tf.float32) for l in self.losses]) if self.losses else tf.constant(0.0)
        fb_mean = tf.reduce_mean(tf.cast(fb, tf.float32))
        total = task + reg + self._feedback_loss_weight() * fb_mean
        values = {}
        if self.terms:
            # One extra stochastic pass on the untiled batch (see the class docstring).
            _, tctx = self.forward(inputs, y, sample_weight, training=training)
            values = self.compute_terms(tctx)
            total = total + self.weighted_terms(values)
        return reduced, ctx, task, reg, fb_mean, values, total, total / n_rep

    def train_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape(persistent=self._needs_calibration()) as tape:
            reduced, _, task, reg, fb, values, total, scaled = self._elbo(inputs, y, sample_weight,
                                                                          training=True)
        self.calibrate_term_weights(tape, task, {**values, "feedback_loss": fb})
        _compat.apply_loss(self, tape, scaled, self.trainable_variables)
        self._update_trackers(task, reg, values, total)
        self._feedback_tracker.update_state(fb)
        return self._results(inputs, y, reduced, sample_weight, ctx=None)

    def test_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        reduced, ctx, task, reg, fb, values, total, _ = self._elbo(inputs, y, sample_weight, training=False)
        self._update_trackers(task, reg, values, total)
        self._feedback_tracker.update_state(fb)
        # ctx carries the batch; explanation metrics get maps from `explainer(ctx)`.
        return self._results(inputs, y, reduced, sample_weight, ctx=ctx)

    @property
    def metrics(self):
        return super().metrics + [self._feedback_tracker]

    def fit(self, x=None, y=None, *args, **kwargs):
        if self.n_train is None:
            arr = x.get(self.input_key) if isinstance(x, dict) else x
            if hasattr(arr, "shape") and len(getattr(arr, "shape", ())) > 0:
                split = kwargs.get("validation_split", 0.0) or 0.0
                self.set_n_train(int(round(arr.shape[0] * (1.0 - split))))
            elif any(l.kl_weight is None for l in bayesian_layers(self.model)):
                warnings.warn("BayesianFeedbackModel: `n_train` is unknown (data is not an array); the KL "
                              "is not scaled by 1/n. Pass n_train=... to the constructor.", stacklevel=2)
        return super().fit(x, y, *args, **kwargs)

    # ------------------------------------------------------------- explaining
    def explanation_maps(self, inputs, y=None, training=False, mc_samples=None):
        """Explanation maps of a batch: mean-weight network or average of ``k`` stochastic maps.

        Args:
          inputs: the input dict (model input under ``input_key``, annotations
            optional) or the model input tensor.
          y: labels (only for an explainer with ``target="true"``).
          training: the forward pass's ``training`` flag.
          mc_samples: ``None`` → ``explain_mc_samples``; ``0`` → one forward
            pass of the mean-weight network (deterministic); ``k ≥ 1`` → the
            mean of the maps of ``k`` stochastic passes (one pass over the
            batch tiled ``k`` times).

        Works eagerly and inside ``tf.function`` (evaluation steps, export).
        """
        k = self.explain_mc_samples if mc_samples is None else check_positive_int(
            mc_samples, "mc_samples", minimum=0)
        if not isinstance(inputs, dict):
            inputs = {self.input_key: inputs}
        if k == 0:
            with _weight_mode(self.model, mean=True):
                _, ctx = self.forward(inputs, y, training=training)
                return self.explainer_object(ctx)
        tiled = {key: _tile(v, k) for key, v in inputs.items()}
        with _weight_mode(self.model, mean=False):
            _, ctx = self.forward(tiled, _tile(y, k), training=training)
            maps = self.explainer_object(ctx)
        tail = maps.shape[1:]
        shape = [k, -1] + tail.as_list() if tail.is_fully_defined() else tf.concat([[k, -1], tf.shape(maps)[1:]], 0)
        return tf.reduce_mean(tf.reshape(maps, shape), axis=0)

    def explainer(self, ctx):
        """Maps of the batch in ``ctx``, recomputed by :meth:`explanation_maps`.

        The pass in ``ctx`` is not reused: maps come from the mean-weight
        network (``explain_mc_samples=0``) or an average of stochastic passes,
        so :meth:`explain`, evaluation-time explanation metrics and the
        export's ``explain`` signature agree.
        """
        inputs = dict(ctx.inputs) if ctx.inputs else {self.input_key: ctx.x}
        return self.explanation_maps(inputs, y=ctx.y, training=bool(ctx.training))

    def explain(self, x, training=False, mc_samples=None):
        """Explanation maps for a batch of model inputs (see :meth:`explanation_maps`)."""
        return self.explanation_maps(x, training=training, mc_samples=mc_samples)

    # ------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.update({
            "target_layer": self.target_layer, "n_train": self.n_train, "mc_samples": self.mc_samples,
            "eval_mc_samples": self.eval_mc_samples, "predictive_reduction": self.predictive_reduction,
            "nll_reduction": self.nll_reduction, "feedback_weight": self._feedback_weight_arg,
            "feedback_reduction": self.feedback_reduction, "pool": self.pool,
            "gradient_filter": self.gradient_filter, "clamp": self.clamp, "neg_key": self.neg_key,
            "pos_key": self.pos_key, "flag_key": self.flag_key, "derive": self.derive,
            "explain_mc_samples": self.explain_mc_samples,
        })
        if self.feedback_auto_fraction != _weighting.DEFAULT_AUTO_FRACTION:
            config["feedback_auto_fraction"] = self.feedback_auto_fraction
        return config


# --------------------------------------------------------------------------- architectures


def _check_input_shape(input_shape):
    if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3:
        raise ValueError(f"`input_shape` must be (H, W, C); got {input_shape!r}.")
    return tuple(check_positive_int(d, "input_shape") for d in input_shape)


def _check_lrt_args(prior_stddev, posterior_rho_init, seed):
    check_float(prior_stddev, "prior_stddev", low=0.0, low_inclusive=False)
    check_float(posterior_rho_init, "posterior_rho_init")
    if seed is not None and (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer))):
        raise TypeError(f"`seed` must be an int or None; got {seed!r}.")


def _lrt_kwargs(prior_stddev, posterior_rho_init, seed, offset):
    return dict(prior_stddev=prior_stddev, posterior_rho_init=posterior_rho_init,
                seed=None if seed is None else int(seed) + offset)


def bayesian_lenet(input_shape=(28, 28, 1), num_classes=10, conv_filters=(6, 16, 120), dense_units=84,
                   prior_stddev=0.1, posterior_rho_init=-4.0, seed=None, name="bayesian_lenet"):
    """Bekkemoen's LeNet for Decoy MNIST, with a target conv layer that keeps spatial extent.

    The thesis (§6.2.3) describes "5 layers, 3 convolutional layers, each
    followed by a pooling layer except for the last convolutional layer … last
    two layers fully connected". A literal LeNet-5 (C5 = 120@5×5 on 5×5)
    leaves a **1×1** last conv map, on which ``AdaptiveMaxPool(F, (1, 1))``
    flags every unit of every decoy sample (degenerate). We keep the shape of
    LeNet but use 'same' padding so the last conv layer ``conv3`` is **7×7**
    on 28×28 input (each 4×4 decoy corner maps to exactly one cell):

        conv1 6@5×5 same, ReLU → max-pool 2 → conv2 16@5×5 same, ReLU → max-pool 2
        → conv3 120@3×3 same, ReLU (7×7, target, no pool) → flatten → FC 84, ReLU → FC 10

    (The 2024 code instead targets conv2 of a 3×3-kernel LeNet at 11×11.) All
    conv and dense layers are LRT layers; ReLU is applied inside each layer so
    its ``pre_activation`` is the thesis's ``A``.

    Args:
      input_shape: ``(H, W, C)``.
      num_classes: output logits.
      conv_filters: filters of conv1–conv3.
      dense_units: hidden FC width.
      prior_stddev, posterior_rho_init: passed to every LRT layer.
      seed: base seed of the layers' noise and initialisers.
      name: model name.

    Returns:
      A functional ``keras.Model`` mapping images to logits; target layer ``"conv3"``.
    """
    input_shape = _check_input_shape(input_shape)
    num_classes = check_positive_int(num_classes, "num_classes")
    if not isinstance(conv_filters, (list, tuple)) or len(conv_filters) != 3:
        raise ValueError(f"`conv_filters` must list 3 filter counts; got {conv_filters!r}.")
    conv_filters = [check_positive_int(c, "conv_filters") for c in conv_filters]
    dense_units = check_positive_int(dense_units, "dense_units")
    _check_lrt_args(prior_stddev, posterior_rho_init, seed)
    init = (lambda i: keras.initializers.HeUniform(seed=None if seed is None else seed + 100 + i))
    inp = keras.Input(input_shape, name="x")
    h = BayesianConv2D(conv_filters[0], 5, padding="same", activation="relu", name="conv1",
                       kernel_mu_initializer=init(0), **_lrt_kwargs(prior_stddev, posterior_rho_init, seed, 0))(inp)
    h = keras.layers.MaxPooling2D(2, name="pool1")(h)
    h = BayesianConv2D(conv_filters[1], 5, padding="same", activation="relu", name="conv2",
                       kernel_mu_initializer=init(1), **_lrt_kwargs(prior_stddev, posterior_rho_init, seed, 1))(h)
    h = keras.layers.MaxPooling2D(2, name="pool2")(h)
    h = BayesianConv2D(conv_filters[2], 3, padding="same", activation="relu", name="conv3",
                       kernel_mu_initializer=init(2), **_lrt_kwargs(prior_stddev, posterior_rho_init, seed, 2))(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = BayesianDense(dense_units, activation="relu", name="fc1", kernel_mu_initializer=init(3),
                      **_lrt_kwargs(prior_stddev, posterior_rho_init, seed, 3))(h)
    out = BayesianDense(num_classes, name="logits", kernel_mu_initializer=init(4),
                        **_lrt_kwargs(prior_stddev, posterior_rho_init, seed, 4))(h)
    return keras.Model(inp, out, name=name)


def bayesian_alexnet_bn(input_shape=(227, 227, 3), num_classes=2, width=1.0, fc_units=4096, stem="imagenet",
                        target_batchnorm=False, bn_momentum=0.9, bn_epsilon=1e-5, prior_stddev=0.1,
                        posterior_rho_init=-4.0, seed=None, name="bayesian_alexnet_bn"):
    """Bekkemoen's AlexNet: BatchNorm after every layer, no dropout, all conv/FC layers LRT.

    Layer order for every layer except the target: ``LRT conv/FC → BatchNorm →
    ReLU`` (the thesis does not state BN's place relative to ReLU). The target
    ``conv5`` is the Gaussian pre-activation ``a_F`` itself: by default it is
    **not** followed by BatchNorm (``conv5 (ReLU inside) → max-pool``), so
    clamping ``a_F = 0`` really zeroes the signal the head sees. With
    ``target_batchnorm=True`` conv5 is followed by BN → ReLU like the others;
    then ``a_F`` is still conv5's pre-BN output (the only tensor with an
    analytic Gaussian), and a clamped unit reaches the head as ``β − γ·μ_B/σ_B``
    rather than 0 — the ambiguity of the thesis, made explicit.

    Args:
      input_shape: ``(H, W, C)``; 227×227×3 in the thesis.
      num_classes: logits.
      width: channel multiplier (1.0 = 96-256-384-384-256).
      fc_units: hidden FC width (4096 in AlexNet).
      stem: ``"imagenet"`` (11×11/4 conv1, 3×3/2 max-pools) or ``"small"``
        (3×3/1 conv1, 2×2 max-pools after conv1, conv2, conv5: for 32–64 px
        inputs; conv5 keeps an (H/4)×(W/4) grid).
      target_batchnorm: see above.
      bn_momentum, bn_epsilon: BatchNorm's moving-average momentum and ε.
        The defaults are PyTorch's (``momentum=0.1`` there means 0.9 here;
        ε = 1e-5), which the thesis used for every unlisted setting. Keras's
        own 0.99 lets the moving statistics trail the weights by ~100 steps;
        at a few dozen steps per epoch the evaluation-mode network then lags
        training, and an imbalanced binary head flips between predicting one
        class and the other from epoch to epoch.
      prior_stddev, posterior_rho_init, seed, name: as :func:`bayesian_lenet`.

    Returns:
      A functional ``keras.Model``; target layer ``"conv5"``.
    """
    input_shape = _check_input_shape(input_shape)
    num_classes = check_positive_int(num_classes, "num_classes")
    check_choice(stem, ("imagenet", "small"), "stem")
    width = check_float(width, "width", low=0.0, low_inclusive=False)
    fc_units = check_positive_int(fc_units, "fc_units")
    target_batchnorm = check_bool(target_batchnorm, "target_batchnorm")
    # Keras convention: the weight of the old average, in [0, 1).
    bn_momentum = check_float(bn_momentum, "bn_momentum", low=0.0, high=1.0, high_inclusive=False)
    bn_epsilon = check_float(bn_epsilon, "bn_epsilon", low=0.0, low_inclusive=False)
    _check_lrt_args(prior_stddev, posterior_rho_init, seed)
    ch = [max(1, int(round(c * width))) for c in (96, 256, 384, 384, 256)]
    init = (lambda i: keras.initializers.HeUniform(seed=None if seed is None else seed + 100 + i))
    kw = lambda i: _lrt_kwargs(prior_stddev, posterior_rho_init, seed, i)  # noqa: E731
    small = stem == "small"

    def block(h, i, filters, k, s, pad, target=False):
        if target and not target_batchnorm:
            return BayesianConv2D(filters, k, strides=s, padding=pad, activation="relu", name=f"conv{i}",
                                  kernel_mu_initializer=init(i), **kw(i))(h)
        h = BayesianConv2D(filters, k, strides=s, padding=pad, name=f"conv{i}", kernel_mu_initializer=init(i),
                           **kw(i))(h)
        h = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name=f"bn{i}")(h)
        return keras.layers.ReLU(name=f"relu{i}")(h)

    pool = (lambda n: keras.layers.MaxPooling2D(2, name=n)) if small else \
        (lambda n: keras.layers.MaxPooling2D(3, strides=2, name=n))
    inp = keras.Input(input_shape, name="x")
    h = block(inp, 1, ch[0], 3 if small else 11, 1 if small else 4, "same" if small else "valid")
    h = pool("pool1")(h)
    h = block(h, 2, ch[1], 5, 1, "same")
    h = pool("pool2")(h)
    h = block(h, 3, ch[2], 3, 1, "same")
    h = block(h, 4, ch[3], 3, 1, "same")
    h = block(h, 5, ch[4], 3, 1, "same", target=True)
    h = pool("pool5")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    for i in (6, 7):
        h = BayesianDense(fc_units, name=f"fc{i}", kernel_mu_initializer=init(i), **kw(i))(h)
        h = keras.layers.BatchNormalization(momentum=bn_momentum, epsilon=bn_epsilon, name=f"bn{i}")(h)
        h = keras.layers.ReLU(name=f"relu{i}")(h)
    out = BayesianDense(num_classes, name="logits", kernel_mu_initializer=init(8), **kw(8))(h)
    return keras.Model(inp, out, name=name)
