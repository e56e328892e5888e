"""Right for the Right Reasons: model, reference MLP, masks, find-another-explanation.

Reference: Ross, Hughes & Doshi-Velez, *Right for the Right Reasons: Training
Differentiable Models by Constraining their Explanations*, IJCAI 2017
(code: ``dtak/rrr``). The loss and its λ conventions are documented in
:mod:`keras_egl.losses.rrr`.

* :class:`RightForRightReasons` — an
  :class:`~keras_egl.models.base.ExplanationGuidedModel` trained on
  ``mean CE + λ₁ R_n Σ_d (A ⊙ ∂/∂x Σ_k log ŷ)² + λ₂ Σ θ²`` (``R`` = mean or
  sum over the batch) and logging ``right_answers``, ``right_reasons``,
  ``small_params`` and ``answers_reasons_ratio`` (the authors tune λ₁ so that
  the ratio is ≈ 1 early in training). ``certainty=True`` sets ``A = 1``
  everywhere ("certainty regularisation").
* :class:`RightReasonsTerm`, :class:`SmallParamsTerm` — the two terms, usable
  in any ``ExplanationGuidedModel``.
* :func:`rrr_mlp` — the reference MLP (ReLU 50, 30; weights and biases drawn
  from N(0, 0.1²)).
* :func:`largest_gradient_mask` / :func:`gradient_mask` — the reference's
  ``M_c[f]``: ``|g_nd| > c · max_d |g_nd|`` on ∇ max prob (the visualisation
  quantity, *not* the penalised one), optionally OR-ed over channels.
* :func:`find_another_explanation` — FAE: ``A_t = A_{t-1} ∨ M_c[f_{t-1}]``.
* :func:`always_include_batches` / :class:`AlwaysIncludeSequence` — the
  reference's ``always_include``: annotated rows in every minibatch.
"""

import dataclasses
import numbers
from typing import Any, List, Optional

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.gradients import input_gradients
from keras_egl.losses.rrr import (NORMS, REDUCTIONS, _check_choice, _check_lambda,
                                  right_reasons_penalty, small_params_penalty)
from keras_egl.models.base import ExplanationGuidedModel, ExplanationTerm

__all__ = [
    "RightReasonsTerm",
    "SmallParamsTerm",
    "RightForRightReasons",
    "rrr_mlp",
    "rrr_optimizer",
    "largest_gradient_mask",
    "gradient_mask",
    "find_another_explanation",
    "FAEResult",
    "fit_rrr",
    "accuracy",
    "always_include_batches",
    "AlwaysIncludeSequence",
    "REFERENCE_LAMBDA2",
]

#: The reference's λ₂ = 1e-4 (summed objective, batch 256) in our mean-reduced convention.
REFERENCE_LAMBDA2 = 1e-4 / 256


# --------------------------------------------------------------------------- terms
@keras.saving.register_keras_serializable(package="keras_egl")
class RightReasonsTerm(ExplanationTerm):
    """``λ₁ · R_n Σ_d (A_nd ∂/∂x_d s(f(x_n)))²`` as an explanation term.

    The logged value already includes λ₁ (so ``right_answers`` and
    ``right_reasons`` are directly comparable, as the authors compare them).

    Args:
      lambda1: λ₁ ≥ 0.
      mask_key: input-dict key of ``A`` (same shape as ``x``; absent → 0).
      target: differentiated score; ``"sum_log_prob"`` (paper and code,
        computed from logits with ``log_softmax``), ``"max_log_prob"``,
        ``"max_prob"`` or ``"sum_prob"`` (the loss variants the authors tried).
      norm: ``"l2"`` or ``"l1"``.
      reduction: ``"mean"`` (default; keep the reference's λ₁) or ``"sum"``
        (reference's sum; use λ₁/B) over examples.
      certainty: ignore ``A`` and penalise every feature (A = 1).
      name: log key.
    """

    default_name = "right_reasons"

    def __init__(self, lambda1=1000.0, mask_key="mask", target="sum_log_prob", norm="l2",
                 reduction="mean", certainty=False, weight=1.0, name=None):
        super().__init__(weight=weight, name=name)
        self.lambda1 = _check_lambda(lambda1, "lambda1")
        self.mask_key = mask_key
        self.target = target
        self.norm = _check_choice(norm, NORMS, "norm")
        self.reduction = _check_choice(reduction, REDUCTIONS, "reduction")
        self.certainty = bool(certainty)
        self.required_annotations = () if self.certainty else (mask_key,)

    def compute(self, ctx):
        if self.lambda1 == 0.0:
            return tf.constant(0.0)
        grads = ctx.input_gradients(self.target, quantity="logit" if ctx.from_logits else "prob")
        if isinstance(grads, (list, tuple)):
            raise ValueError("RightReasonsTerm supports single-input models; got a multi-input model.")
        annotation = tf.ones_like(grads) if self.certainty else ctx.annotation(self.mask_key)
        return self.lambda1 * right_reasons_penalty(annotation, grads, norm=self.norm,
                                                    reduction=self.reduction)

    def get_config(self):
        return {"lambda1": self.lambda1, "mask_key": self.mask_key, "target": self.target,
                "norm": self.norm, "reduction": self.reduction, "certainty": self.certainty,
                "weight": self.weight, "name": self.name}


@keras.saving.register_keras_serializable(package="keras_egl")
class SmallParamsTerm(ExplanationTerm):
    """``λ₂ Σ θ²`` over the wrapped model's trainable weights **and biases**.

    Args:
      lambda2: λ₂ ≥ 0 (reference: 1e-4 on a summed objective at batch 256,
        i.e. ``REFERENCE_LAMBDA2`` = 1e-4/256 with a mean task loss).
      include_biases: the reference decays biases too (default ``True``).
      name: log key.
    """

    default_name = "small_params"

    def __init__(self, lambda2=REFERENCE_LAMBDA2, include_biases=True, weight=1.0, name=None):
        super().__init__(weight=weight, name=name)
        self.lambda2 = _check_lambda(lambda2, "lambda2")
        self.include_biases = bool(include_biases)

    def compute(self, ctx):
        if self.lambda2 == 0.0:
            return tf.constant(0.0)
        return self.lambda2 * small_params_penalty(ctx.model.model.trainable_variables,
                                                   include_biases=self.include_biases)

    def get_config(self):
        return {"lambda2": self.lambda2, "include_biases": self.include_biases,
                "weight": self.weight, "name": self.name}


# --------------------------------------------------------------------------- model
@keras.saving.register_keras_serializable(package="keras_egl")
class RightForRightReasons(ExplanationGuidedModel):
    """A classifier trained to be right for the right reasons (Ross et al. 2017).

    Objective (mean-reduced task loss, see :mod:`keras_egl.losses.rrr`):

    ``L = CE(y, f(x)) + λ₁ R_n Σ_d (A_nd ∂/∂x_d Σ_k log softmax(f(x_n))_k)² + λ₂ Σ θ²``

    computed from one forward pass with double backpropagation. Works with any
    Keras classifier producing logits (MLPs, CNNs, …) whose input ``x`` is
    floating point (integer pixels are cast to float32 *without rescaling*, so
    the reference's 0–255 λ's keep their meaning).

    Data: ``fit({"x": X, "mask": A}, y)`` with ``A`` of the shape of ``X``
    (1 = irrelevant; real values weight features). Rows of zeros (or a missing
    ``"mask"`` key) are unannotated: their penalty is exactly 0.

    Logs: ``loss`` = ``right_answers`` + ``right_reasons`` + ``small_params``
    (+ ``regularization_loss`` from the model's own ``add_loss``);
    ``task_loss`` (= ``right_answers``); ``answers_reasons_ratio`` =
    right_answers / right_reasons over the epoch (0 when the penalty is 0).

    Args:
      model: a ``keras.Model`` producing logits (or probabilities with
        ``from_logits=False``).
      lambda1: λ₁ (default 1000, the paper's Decoy-MNIST value on 0–255 pixels).
      lambda2: λ₂ on weights and biases (default ``1e-4/256``: the
        reference's 1e-4 on its summed objective at batch 256).
      mask_key: input-dict key of ``A``.
      target: penalised score (``"sum_log_prob"``; others for the loss-variant
        study).
      norm: ``"l2"`` (default) or ``"l1"``.
      reduction: ``"mean"`` (default) or ``"sum"`` of the penalty over the batch.
      certainty: penalise every feature (``A = 1``; no mask needed).
      include_biases: decay biases too (reference).
      input_key, from_logits, explainer, explanation_metrics: see
        :class:`~keras_egl.models.base.ExplanationGuidedModel`. The default
        explainer is ∇ₓ max prob (the reference's visualisation quantity).

    Example:
      >>> clf = rrr_mlp(input_shape=(784,), n_classes=10, seed=0)
      >>> rrr = RightForRightReasons(clf, lambda1=1000.0)
      >>> rrr.compile(rrr_optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      ...             metrics=["accuracy"])
      >>> rrr.fit({"x": X, "mask": A}, y, batch_size=256, epochs=64, shuffle=False)
    """

    def __init__(self, model, lambda1=1000.0, lambda2=REFERENCE_LAMBDA2, mask_key="mask",
                 target="sum_log_prob", norm="l2", reduction="mean", certainty=False,
                 include_biases=True, input_key="x", from_logits=True, explainer=None,
                 explanation_metrics=(), **kwargs):
        kwargs.pop("terms", None)
        kwargs.pop("explained_layer", None)
        if isinstance(input_key, (list, tuple)):
            raise ValueError(f"RightForRightReasons takes one model input; got input_key={input_key!r}.")
        terms = [RightReasonsTerm(lambda1, mask_key=mask_key, target=target, norm=norm,
                                  reduction=reduction, certainty=certainty),
                 SmallParamsTerm(lambda2, include_biases=include_biases)]
        super().__init__(model, terms=terms, explained_layer=None, input_key=input_key,
                         from_logits=from_logits, explainer=explainer,
                         explanation_metrics=explanation_metrics, **kwargs)
        self.lambda1 = terms[0].lambda1
        self.lambda2 = terms[1].lambda2
        self.mask_key = mask_key
        self.target = target
        self.norm = norm
        self.reduction = reduction
        self.certainty = bool(certainty)
        self.include_biases = bool(include_biases)

    def split_inputs(self, inputs):
        x, annotations = super().split_inputs(inputs)
        if not isinstance(x, (list, tuple)):
            x = tf.convert_to_tensor(x) if not isinstance(x, tf.Tensor) else x
            if not x.dtype.is_floating:
                # Integer pixels: cast, keep the scale (the reference trains on raw 0–255).
                x = tf.cast(x, tf.float32)
                if isinstance(annotations, dict) and annotations:
                    annotations = dict(annotations)
                    annotations[self.input_key] = x
        return x, annotations

    def _results(self, inputs, y, outputs, sample_weight, ctx):
        logs = super()._results(inputs, y, outputs, sample_weight, ctx)
        # Read from the logs (not the base's private trackers): epoch means so far.
        answers = logs["task_loss"]
        reasons = logs[self.terms[0].name]
        logs["right_answers"] = answers
        logs["answers_reasons_ratio"] = tf.math.divide_no_nan(answers, reasons)
        return logs

    def explainer(self, ctx):
        if self._explainer is not None:
            return self._explainer(ctx)
        return ctx.input_gradients(target="max_prob", quantity="logit")

    def get_config(self):
        config = super().get_config()
        config.pop("terms", None)
        config.update({"lambda1": self.lambda1, "lambda2": self.lambda2, "mask_key": self.mask_key,
                       "target": self.target, "norm": self.norm, "reduction": self.reduction,
                       "certainty": self.certainty, "include_biases": self.include_biases})
        config.pop("explained_layer", None)
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        model = keras.saving.deserialize_keras_object(config.pop("model"), custom_objects=custom_objects)
        return cls(model, **config)


# ------------------------------------------------------------------------ builders
def rrr_mlp(input_shape=(784,), n_classes=10, hidden=(50, 30), init_stddev=0.1, activation="relu",
            seed=None, name="rrr_mlp"):
    """The reference MLP of ``dtak/rrr`` (``MultilayerPerceptron``), producing logits.

    ReLU hidden layers (50, 30 by default); **weights and biases** drawn from
    N(0, ``init_stddev``²) (reference: ``0.1 * randn``; Keras would use Glorot
    and zero biases). Inputs of rank > 1 are flattened.

    Args:
      input_shape: shape of one example, e.g. ``(784,)`` or ``(5, 5, 3)``.
      n_classes: number of logits.
      hidden: hidden widths.
      init_stddev: standard deviation of the normal initialiser.
      activation: hidden activation.
      seed: seeds the initialisers (``None`` = random).
      name: model name.

    Returns:
      A functional ``keras.Model``.
    """
    if isinstance(input_shape, numbers.Integral):
        input_shape = (int(input_shape),)
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise ValueError(f"`input_shape` must be a non-empty tuple; got {input_shape!r}.")
    if int(n_classes) < 2:
        raise ValueError(f"`n_classes` must be >= 2; got {n_classes!r}.")
    if not float(init_stddev) > 0:
        raise ValueError(f"`init_stddev` must be > 0; got {init_stddev!r}.")

    def init(k):
        return keras.initializers.RandomNormal(0.0, float(init_stddev),
                                               seed=None if seed is None else int(seed) * 1009 + k)

    inputs = keras.Input(shape=tuple(input_shape), name="x")
    h = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    for i, units in enumerate(hidden):
        h = keras.layers.Dense(int(units), activation=activation, kernel_initializer=init(2 * i),
                               bias_initializer=init(2 * i + 1), name=f"dense_{i}")(h)
    out = keras.layers.Dense(int(n_classes), kernel_initializer=init(100),
                             bias_initializer=init(101), name="logits")(h)
    return keras.Model(inputs, out, name=name)


def rrr_optimizer(learning_rate=1e-3, epsilon=1e-8):
    """Adam as in the reference (autograd: step 1e-3, ε = 1e-8; Keras' default ε is 1e-7)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, epsilon=epsilon)


# --------------------------------------------------------------------------- masks
def largest_gradient_mask(grads, cutoff=0.67, channel_axis=None, keepdims=True):
    """The reference's ``M_c``: ``|g_nd| > c · max_d |g_nd|`` per example.

    Args:
      grads: input gradients ``(B, ...)`` (tensor or array).
      cutoff: ``c`` in [0, 1] (reference 0.67, called arbitrary by the authors).
      channel_axis: if given (e.g. ``-1`` for ``(B, H, W, C)``), a pixel is
        marked when *any* of its channels is (the Toy-Colors 2-D variant).
        For flattened inputs reshape first.
      keepdims: with ``channel_axis``, broadcast the OR back over the channels
        (so the mask can be used as ``A``); else drop the axis.

    Returns:
      A bool tensor. All-zero gradients give an empty mask (no NaN).
    """
    grads = tf.convert_to_tensor(grads)
    if not grads.dtype.is_floating:
        raise TypeError(f"`grads` must be floating point; got dtype {grads.dtype.name}.")
    if not 0.0 <= float(cutoff) <= 1.0:
        raise ValueError(f"`cutoff` must be in [0, 1]; got {cutoff!r}.")
    rank = grads.shape.rank
    if rank is None or rank < 2:
        raise ValueError(f"`grads` must have shape (batch, features...); got shape {grads.shape}.")
    mag = tf.abs(grads)
    axes = list(range(1, rank))
    peak = tf.reduce_max(mag, axis=axes, keepdims=True)
    mask = mag > float(cutoff) * peak
    if channel_axis is not None:
        ax = channel_axis % rank
        if ax == 0:
            raise ValueError("`channel_axis` must not be the batch axis.")
        reduced = tf.reduce_any(mask, axis=ax, keepdims=True)
        mask = tf.broadcast_to(reduced, tf.shape(mask)) if keepdims else tf.squeeze(reduced, ax)
    return mask


def gradient_mask(model, x, cutoff=0.67, target="max_prob", channel_axis=None, keepdims=True,
                  batch_size=1024, from_logits=True, input_shape=None):
    """``M_c[f]`` of a model on ``x`` (numpy bool), computed in batches.

    ``target`` defaults to ``"max_prob"`` (the reference's ``input_gradients``:
    ∇ max prob of the predicted class), not the penalised Σ log p.
    ``input_shape`` reshapes each gradient before ``channel_axis`` is applied
    (e.g. ``(5, 5, 3)`` for flattened Toy Colors); the mask is returned in the
    shape of ``x``.
    """
    x = np.asarray(x)
    out = []
    for start in range(0, len(x), int(batch_size)):
        xb = tf.convert_to_tensor(x[start:start + int(batch_size)].astype(np.float32))
        g = input_gradients(model, xb, target=target, from_logits=from_logits, stop_gradient=True)
        if input_shape is not None:
            g = tf.reshape(g, (-1,) + tuple(input_shape))
        m = largest_gradient_mask(g, cutoff, channel_axis=channel_axis, keepdims=keepdims)
        if input_shape is not None and keepdims:
            m = tf.reshape(m, tf.shape(xb))
        out.append(m.numpy())
    if not out:
        return np.zeros(x.shape, dtype=bool)
    return np.concatenate(out, 0)


# ---------------------------------------------------------------------------- data
def always_include_batches(n, include, batch_size=256, shuffle=False, seed=None, epoch=0):
    """Index arrays of one epoch where every batch starts with the rows ``include``.

    The reference's ``fit(..., always_include=idx)`` prepends the annotated
    rows to every minibatch ("can transition with 10s of annotations if we
    oversample in minibatches"). The remaining rows are cut into batches of
    ``batch_size`` in fixed order (reference) or in a seeded per-epoch
    permutation (``shuffle=True``); the last batch may be short. Rows in
    ``include`` are not repeated among the remaining rows.

    Returns:
      A list of int arrays.
    """
    n = int(n)
    include = np.unique(np.asarray(include, dtype=np.int64).ravel())
    if include.size and (include.min() < 0 or include.max() >= n):
        raise ValueError(f"`include` indices must be in [0, {n}); got min {include.min()}, max {include.max()}.")
    if int(batch_size) < 1:
        raise ValueError(f"`batch_size` must be >= 1; got {batch_size!r}.")
    rest = np.setdiff1d(np.arange(n), include)
    if shuffle:
        rng = np.random.default_rng(None if seed is None else [int(seed), int(epoch)])
        rest = rng.permutation(rest)
    if rest.size == 0:
        return [include.copy()]
    return [np.concatenate([include, rest[i:i + int(batch_size)]])
            for i in range(0, rest.size, int(batch_size))]


class AlwaysIncludeSequence(keras.utils.Sequence):
    """A ``keras.utils.Sequence`` over ``(x_dict, y)`` with ``include`` rows in every batch.

    Args:
      x: dict of arrays (e.g. ``{"x": X, "mask": A}``) or one array.
      y: labels.
      include: indices of the annotated rows.
      batch_size: rows per batch besides ``include``.
      shuffle: permute the other rows each epoch (seeded) instead of the
        reference's fixed order.
      seed: seed of the permutation.

    Example:
      >>> seq = AlwaysIncludeSequence({"x": X, "mask": A}, y, include=np.flatnonzero(A.any(1)))
      >>> rrr.fit(seq, epochs=10)
    """

    def __init__(self, x, y, include, batch_size=256, shuffle=False, seed=None):
        super().__init__()
        self.x = x
        self.y = np.asarray(y)
        self.n = len(self.y)
        for k, v in (x.items() if isinstance(x, dict) else [("x", x)]):
            if len(v) != self.n:
                raise ValueError(f"`x[{k!r}]` has {len(v)} rows but `y` has {self.n}.")
        self.include = include
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.epoch = 0
        self._batches = always_include_batches(self.n, include, self.batch_size, self.shuffle, seed, 0)

    def __len__(self):
        return len(self._batches)

    def __getitem__(self, i):
        idx = self._batches[i]
        if isinstance(self.x, dict):
            xb = {k: np.asarray(v)[idx] for k, v in self.x.items()}
        else:
            xb = np.asarray(self.x)[idx]
        return xb, self.y[idx]

    def on_epoch_end(self):
        self.epoch += 1
        if self.shuffle:
            self._batches = always_include_batches(self.n, self.include, self.batch_size, True,
                                                   self.seed, self.epoch)


# ---------------------------------------------------------------------------- FAE
@dataclasses.dataclass
class FAEResult:
    """What :func:`find_another_explanation` returns.

    Attributes:
      models: the trained classifiers ``f_0 … f_T`` (inner Keras models).
      masks: ``masks[t]`` is the cumulative ``A_t`` that ``f_t`` was trained
        with (``masks[0]`` is all False), bool, shape of ``x``.
      new_masks: ``M_c[f_t]`` on the training inputs.
      lambdas: λ₁ used for each model (``lambdas[0]`` is irrelevant: A = 0).
      train_accuracy, test_accuracy: per iteration (test is ``None`` without
        test data).
      histories: the Keras ``History.history`` dicts.
    """

    models: List[Any]
    masks: List[np.ndarray]
    new_masks: List[np.ndarray]
    lambdas: List[float]
    train_accuracy: List[float]
    test_accuracy: List[Optional[float]]
    histories: List[dict]


def accuracy(model, x, y, batch_size=2048):
    """Top-1 accuracy of a logits model on numpy data."""
    x = np.asarray(x, dtype=np.float32)
    # Direct calls, not model.predict: no predict-function tracing per model (FAE builds many).
    preds = [np.argmax(model(x[i:i + batch_size], training=False).numpy(), -1)
             for i in range(0, len(x), batch_size)]
    return float(np.mean(np.concatenate(preds) == np.asarray(y).ravel())) if preds else float("nan")


def fit_rrr(model, x, y, annotation=None, lambda1=1000.0, lambda2=REFERENCE_LAMBDA2, epochs=64,
            batch_size=256, shuffle=False, learning_rate=1e-3, reduction="mean", target="sum_log_prob",
            norm="l2", certainty=False, seed=None, verbose=0, callbacks=None, validation_data=None,
            run_eagerly=None, jit_compile=None):
    """Wrap ``model`` in :class:`RightForRightReasons`, compile as the reference, and fit.

    Reference training: Adam (lr 1e-3, ε 1e-8), 64 epochs, batch 256, batches
    in fixed order (``shuffle=False``; shuffle the rows once beforehand).
    ``annotation=None`` trains without explanation penalty (A = 0) unless
    ``certainty``. ``run_eagerly=True`` skips graph tracing (faster for a
    handful of steps); ``jit_compile=True`` compiles the double-backprop step
    with XLA (several times faster for small MLPs on CPU). Returns
    ``(rrr_model, history)``.
    """
    if seed is not None:
        tf.random.set_seed(int(seed))
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)  # keep the 0–255 scale
    inputs = {"x": x}
    if annotation is not None:
        annotation = np.asarray(annotation)
        if annotation.shape != x.shape:
            raise ValueError(f"`annotation` must have the shape of `x` {x.shape}; got {annotation.shape}.")
        inputs["mask"] = annotation.astype(np.float32)
    rrr = RightForRightReasons(model, lambda1=lambda1, lambda2=lambda2, reduction=reduction,
                               target=target, norm=norm, certainty=certainty)
    rrr.compile(rrr_optimizer(learning_rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"], run_eagerly=run_eagerly, jit_compile=jit_compile)
    hist = rrr.fit(inputs, np.asarray(y), epochs=int(epochs), batch_size=int(batch_size), shuffle=shuffle,
                   verbose=verbose, callbacks=callbacks, validation_data=validation_data)
    return rrr, hist


def find_another_explanation(build_fn, x, y, x_test=None, y_test=None, n_iter=3, lambda1=1000.0,
                             lambda_schedule=None, lambda2=REFERENCE_LAMBDA2, cutoff=0.67,
                             channel_axis=None, mask_shape=None, mask_target="max_prob",
                             epochs=64, batch_size=256, shuffle=False, learning_rate=1e-3,
                             reduction="mean", initial_mask=None, seed=0, verbose=0,
                             callback=None, run_eagerly=None, jit_compile=None):
    """Find-another-explanation (Ross et al. 2017, §"Case 2").

    Trains ``f_0`` with ``A_0 = 0`` (or ``initial_mask``), then ``f_t`` with
    ``A_t = A_{t-1} ∨ M_c[f_{t-1}]`` where ``M_c`` is the largest-gradient
    mask of ∇ max prob on the training inputs — an ensemble of models that are
    accurate for different reasons, until accuracy collapses.

    Args:
      build_fn: ``build_fn(t) -> keras.Model`` (logits) for iteration ``t``
        (e.g. ``lambda t: rrr_mlp((784,), 10, seed=t)``).
      x, y: training data (float inputs, int labels).
      x_test, y_test: optional test data for the accuracy curve.
      n_iter: number of models ``f_0 … f_{n_iter-1}``.
      lambda1: λ₁ for every ``t ≥ 1`` unless ``lambda_schedule`` is given.
      lambda_schedule: list (indexed by ``t``; ``[0]`` unused) or callable
        ``t -> λ₁`` — the authors raised λ₁ by hand on Toy Colors (1e3 then 1e6).
      lambda2, reduction, learning_rate, epochs, batch_size, shuffle: training
        (reference: λ₂ 1e-4 summed at batch 256, Adam 1e-3, 64 epochs, no
        shuffling).
      cutoff, channel_axis, mask_shape, mask_target: passed to
        :func:`gradient_mask` (``mask_shape`` reshapes flat inputs, e.g.
        ``(5, 5, 3)``, before OR-ing over ``channel_axis``).
      initial_mask: optional ``A_0``.
      seed: seeds ``tf`` before each model's training (``seed + t``).
      verbose: Keras verbosity.
      callback: optional ``callback(t, result_so_far)`` after each iteration.
      run_eagerly, jit_compile: passed to ``compile`` (``run_eagerly=True``
        avoids tracing for tiny runs; ``jit_compile=True`` uses XLA).

    Returns:
      :class:`FAEResult`.
    """
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if int(n_iter) < 1:
        raise ValueError(f"`n_iter` must be >= 1; got {n_iter!r}.")
    if lambda_schedule is not None and not callable(lambda_schedule):
        sched = list(lambda_schedule)
        if len(sched) < int(n_iter):
            raise ValueError(f"`lambda_schedule` needs {n_iter} entries (one per model); got {len(sched)}.")
        lambda_schedule = sched.__getitem__
    mask = np.zeros(x.shape, dtype=bool) if initial_mask is None else np.asarray(initial_mask, bool).copy()
    if mask.shape != x.shape:
        raise ValueError(f"`initial_mask` must have the shape of `x` {x.shape}; got {mask.shape}.")
    result = FAEResult([], [], [], [], [], [], [])
    for t in range(int(n_iter)):
        lam = float(lambda_schedule(t) if lambda_schedule is not None else lambda1)
        clf = build_fn(t)
        _, hist = fit_rrr(clf, x, y, annotation=mask, lambda1=lam, lambda2=lambda2, epochs=epochs,
                          batch_size=batch_size, shuffle=shuffle, learning_rate=learning_rate,
                          reduction=reduction, seed=None if seed is None else int(seed) + t,
                          verbose=verbose, run_eagerly=run_eagerly, jit_compile=jit_compile)
        new = gradient_mask(clf, x, cutoff=cutoff, target=mask_target, channel_axis=channel_axis,
                            input_shape=mask_shape)
        result.models.append(clf)
        result.masks.append(mask.copy())
        result.new_masks.append(new)
        result.lambdas.append(lam)
        result.train_accuracy.append(accuracy(clf, x, y))
        result.test_accuracy.append(accuracy(clf, x_test, y_test) if x_test is not None else None)
        result.histories.append(dict(hist.history))
        mask = np.logical_or(mask, new)
        if callback is not None:
            callback(t, result)
    return result
