"""Bayesian CNN trained on the ELBO, with explanation feedback as evidence.

Bekkemoen (2021), NTNU master thesis, ch. 5 (article arXiv:2105.02653 §3).
:class:`BayesianFeedbackModel` wraps a classifier built from the LRT layers of
``keras_egl.layers.bayesian`` and minimises, per mini-batch of ``B`` samples
and ``m`` Monte Carlo samples (eq. 5.16),

    L = KL(q ‖ p)/n
        + (1/(m·B)) Σ_t Σ_i [ −log P(y_i | a_F^(i,t) = 0, a_Fᶜ^(i,t))
                              + w_F · Σ_{u ∈ a_F^(i,t)} −log N(0; μ_u, σ_u²) ]

* the KL comes from the layers' ``add_loss`` scaled by ``kl_weight = 1/n``
  (``n`` = training-set size; set from ``n_train`` or from the ``fit`` data);
* ``a_F`` are the target conv layer's pre-activations under the rejected
  region (eqs. 5.10–5.12: adaptive max-pool of the mask to the layer grid,
  ``A ≠ 0``, ``∂Σ logits/∂A ≠ 0``), found by a first pass whose result is
  constant (``stop_gradient``); the second pass clamps them to 0 for the
  likelihood and scores their density at 0;
* samples without feedback (``F = 0``, or no ``"mask"`` key) reduce to the
  plain ELBO term; ``w_F = feedback_weight`` is 1 in the thesis.

The ``m`` MC samples are drawn in **one** batched pass over the batch tiled
``m`` times (LRT noise is per example, so tiles are independent samples); the
two passes draw independent noise (the thesis does not say whether they share it).

Builders of the thesis's architectures: :func:`bayesian_lenet` (Decoy MNIST)
and :func:`bayesian_alexnet_bn` (Dogs vs Cats, ISIC).
"""

import warnings

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.layers.bayesian import (BayesianConv2D, BayesianDense, bayesian_layers,
                                       clamp_preactivations, record_moments, set_kl_weight)
from keras_egl.losses.feedback import feedback_evidence_nll, feedback_unit_mask, resolve_feedback_weight
from keras_egl.models.base import ExplanationGuidedModel, _replica_count

__all__ = ["BayesianFeedbackModel", "bayesian_lenet", "bayesian_alexnet_bn", "PREDICTIVE_REDUCTIONS"]

PREDICTIVE_REDUCTIONS = ("mean_logits", "mean_probs")


class _Holder:
    def __init__(self, **kwargs):
        self.__dict__.update(kwargs)


def _metric_specs(model):
    state = getattr(model, "_state", None)
    return getattr(state, "metric_specs", None) or getattr(model, "_metric_specs", ()) or ()
NLL_REDUCTIONS = ("per_sample", "predictive")


def _tile(t, m):
    if t is None or m == 1:
        return t
    t = tf.convert_to_tensor(t)
    return tf.tile(t, [m] + [1] * (t.shape.rank - 1))


def reduce_predictions(logits, m, reduction):
    """``(m·B, K)`` logits of ``m`` tiled MC samples → ``(B, K)`` predictive logits.

    ``"mean_logits"``: the mean logit (the 2024 code). ``"mean_probs"``:
    ``log mean_t softmax`` — the Bayesian model average, returned as log
    probabilities so it can still be read with ``from_logits=True``.
    """
    if reduction not in PREDICTIVE_REDUCTIONS:
        raise ValueError(f"`predictive_reduction` must be one of {PREDICTIVE_REDUCTIONS}; got {reduction!r}.")
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

    Data: ``fit({"x": images, "mask": F}, y)`` with ``F`` of shape ``(N, H, W)``
    or ``(N, H, W, 1)`` (1 = irrelevant pixel; all-zero rows = no feedback),
    or ``fit(images, y)`` for the plain ELBO. Logs ``loss`` (total),
    ``task_loss`` (NLL), ``regularization_loss`` (KL/n) and ``feedback_loss``
    (the mean negative evidence per sample, before ``feedback_weight``).

    Args:
      model: the classifier (its LRT layers supply KL and moments); outputs logits.
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
      feedback_weight: ``w_F``; 1.0 (the thesis) or a preset name of
        ``keras_egl.losses.feedback.FEEDBACK_WEIGHT_PRESETS`` (2024 code).
      feedback_reduction: ``"sum"`` (eq. 5.16) or ``"mean"`` over flagged units.
      pool: ``"max"`` (thesis) or ``"erode"`` (2024 code, Pet/SBD).
      gradient_filter: AND the flags with ``∂Σ logits/∂A ≠ 0`` (thesis eq.
        5.12; the 2024 code omits it).
      clamp: clamp ``a_F`` to 0 in the likelihood pass (eq. 5.14; the 2024 code
        does too). ``False`` leaves only the density term.
      mask_key: input-dict key of ``F``.
      input_key, from_logits, explainer, explanation_metrics: as
        :class:`ExplanationGuidedModel`; ``explained_layer`` defaults to
        ``target_layer`` (Grad-CAM of ``model.explain``).

    Example:
      >>> net = bayesian_lenet(seed=0)
      >>> bnn = BayesianFeedbackModel(net, target_layer="conv3", n_train=len(x))
      >>> bnn.compile(keras.optimizers.Adam(1e-3),
      ...             keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      ...             metrics=["accuracy"])
      >>> bnn.fit({"x": x, "mask": F}, y, batch_size=256, epochs=15)
    """

    def __init__(self, model, target_layer, n_train=None, mc_samples=1, eval_mc_samples=8,
                 predictive_reduction="mean_logits", nll_reduction="per_sample", feedback_weight=1.0,
                 feedback_reduction="sum", pool="max", gradient_filter=True, clamp=True, mask_key="mask",
                 explained_layer=None, input_key="x", from_logits=True, explainer=None,
                 explanation_metrics=(), **kwargs):
        kwargs.pop("terms", None)
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras.Model; got {type(model).__name__}.")
        layer = BayesianFeedbackModel._find_target(model, target_layer)
        super().__init__(model, terms=(), explained_layer=explained_layer or target_layer,
                         input_key=input_key, from_logits=from_logits, explainer=explainer,
                         explanation_metrics=explanation_metrics, **kwargs)
        if not from_logits:
            raise ValueError("`from_logits` must be True: the ELBO and the MC reductions read logits.")
        for name, v in (("mc_samples", mc_samples), ("eval_mc_samples", eval_mc_samples)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"`{name}` must be a positive int; got {v!r}.")
        if predictive_reduction not in PREDICTIVE_REDUCTIONS:
            raise ValueError(f"`predictive_reduction` must be one of {PREDICTIVE_REDUCTIONS}; "
                             f"got {predictive_reduction!r}.")
        if nll_reduction not in NLL_REDUCTIONS:
            raise ValueError(f"`nll_reduction` must be one of {NLL_REDUCTIONS}; got {nll_reduction!r}.")
        if feedback_reduction not in ("sum", "mean"):
            raise ValueError(f"`feedback_reduction` must be 'sum' or 'mean'; got {feedback_reduction!r}.")
        if pool not in ("max", "erode"):
            raise ValueError(f"`pool` must be 'max' or 'erode'; got {pool!r}.")
        if not bayesian_layers(model):
            raise ValueError("`model` has no BayesianDense/BayesianConv2D layer: nothing to train on the ELBO.")
        self.target_layer = target_layer
        self._target = layer
        self.mc_samples = int(mc_samples)
        self.eval_mc_samples = int(eval_mc_samples)
        self.predictive_reduction = predictive_reduction
        self.nll_reduction = nll_reduction
        self._feedback_weight_arg = feedback_weight
        self.feedback_weight = resolve_feedback_weight(feedback_weight)
        self.feedback_reduction = feedback_reduction
        self.pool = pool
        self.gradient_filter = bool(gradient_filter)
        self.clamp = bool(clamp)
        self.mask_key = mask_key
        self.n_train = None
        if n_train is not None:
            self.set_n_train(n_train)
        # Kept off Keras's attribute tracking (as the base does with its trackers) so
        # the tracker's variables are not model weights.
        self._fb_state = _Holder(tracker=keras.metrics.Mean(name="feedback_loss"))

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
        n_train = int(n_train)
        if n_train < 1:
            raise ValueError(f"`n_train` must be a positive int; got {n_train!r}.")
        self.n_train = n_train
        set_kl_weight(self.model, 1.0 / n_train)

    def set_feedback_weight(self, feedback_weight):
        """Change ``w_F`` (a float or a preset name) after compiling.

        ``w_F`` is a Python constant of the traced train/test steps, so they are
        dropped here and retraced on the next ``fit``/``evaluate``; the config
        reports the new value.
        """
        self.feedback_weight = resolve_feedback_weight(feedback_weight)
        self._feedback_weight_arg = feedback_weight
        self.train_function = self.test_function = None

    # ------------------------------------------------------------------ passes
    def _x_and_mask(self, inputs):
        x, annotations = self.split_inputs(inputs)
        if isinstance(x, (list, tuple)):
            raise ValueError("BayesianFeedbackModel supports single-input image models.")
        mask = annotations.get(self.mask_key) if annotations else None
        if mask is not None:
            x0 = tf.convert_to_tensor(x)
            m = tf.convert_to_tensor(mask)
            if m.shape.rank not in (3, 4) or (m.shape.rank == 4 and m.shape[-1] != 1):
                raise ValueError(f"`{self.mask_key}` must be (B, H, W) or (B, H, W, 1); got shape {m.shape}.")
            if tuple(m.shape[1:3]) != tuple(x0.shape[1:3]):
                raise ValueError(f"`{self.mask_key}` spatial size {tuple(m.shape[1:3])} must match the input's "
                                 f"{tuple(x0.shape[1:3])}.")
        return x, mask

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
            fb = feedback_evidence_nll(moments["mean"], moments["stddev"], flagged, self.feedback_reduction)
        return logits, fb

    def call(self, inputs, training=None):
        x, _ = self.split_inputs(inputs)
        if training:
            return self.model(x, training=True)
        m = self.eval_mc_samples
        return reduce_predictions(self.model(_tile(x, m), training=False), m, self.predictive_reduction)

    # ------------------------------------------------------------------ steps
    def _elbo(self, inputs, y, sample_weight, training):
        x, mask = self._x_and_mask(inputs)
        m = self.mc_samples if training else self.eval_mc_samples
        logits, fb = self.mc_forward(x, mask, m=m, training=training, clamp=self.clamp and training)
        reduced = reduce_predictions(logits, m, self.predictive_reduction)
        n_rep = float(_replica_count())
        if self.nll_reduction == "per_sample" or not training:
            task_scaled = self.compiled_loss(_tile(y, m), logits, _tile(sample_weight, m),
                                             regularization_losses=None)
        else:
            task_scaled = self.compiled_loss(y, reduced, sample_weight, regularization_losses=None)
        task = task_scaled * n_rep
        reg = tf.add_n(self.losses) if self.losses else tf.constant(0.0)
        fb_mean = tf.reduce_mean(fb)
        total = task + reg + self.feedback_weight * fb_mean
        return reduced, task, reg, fb_mean, total, total / n_rep

    def train_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            reduced, task, reg, fb, total, scaled = self._elbo(inputs, y, sample_weight, training=True)
        self.optimizer.minimize(scaled, self.trainable_variables, tape=tape)
        self._update_trackers(task, reg, {}, total)
        self._feedback_tracker.update_state(fb)
        return self._results(inputs, y, reduced, sample_weight, ctx=None)

    def test_step(self, data):
        inputs, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        reduced, task, reg, fb, total, _ = self._elbo(inputs, y, sample_weight, training=False)
        self._update_trackers(task, reg, {}, total)
        self._feedback_tracker.update_state(fb)
        ctx = None
        if _metric_specs(self):
            _, ctx = self.forward(inputs, y, sample_weight, training=False)
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

    # ------------------------------------------------------------ serialization
    def get_config(self):
        config = super().get_config()
        config.pop("terms", None)
        config.update({
            "target_layer": self.target_layer, "n_train": self.n_train, "mc_samples": self.mc_samples,
            "eval_mc_samples": self.eval_mc_samples, "predictive_reduction": self.predictive_reduction,
            "nll_reduction": self.nll_reduction, "feedback_weight": self._feedback_weight_arg,
            "feedback_reduction": self.feedback_reduction, "pool": self.pool,
            "gradient_filter": self.gradient_filter, "clamp": self.clamp, "mask_key": self.mask_key,
        })
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        config.pop("terms", None)
        return cls(model, **config)


# --------------------------------------------------------------------------- architectures


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
    if len(conv_filters) != 3:
        raise ValueError(f"`conv_filters` must list 3 filter counts; got {conv_filters!r}.")
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
    if stem not in ("imagenet", "small"):
        raise ValueError(f"`stem` must be 'imagenet' or 'small'; got {stem!r}.")
    if not width > 0:
        raise ValueError(f"`width` must be > 0; got {width!r}.")
    if not 0.0 <= bn_momentum < 1.0:
        raise ValueError(f"`bn_momentum` must be in [0, 1) (Keras convention: weight of the old average); "
                         f"got {bn_momentum!r}.")
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
