"""Find-another-explanation (Ross, Hughes & Doshi-Velez, IJCAI 2017, §"Case 2").

:func:`find_another_explanation` trains ``f_0`` with ``A_0 = 0``, then ``f_t``
with ``A_t = A_{t-1} ∨ M_c[f_{t-1}]`` — each model is told that what its
predecessors relied on is a wrong reason (``neg_mask``) — giving models that
are accurate for different reasons until accuracy collapses.
:func:`fit_rrr` is the reference's training recipe for one
:class:`~keras_egl.models.rrr.RightForRightReasons` model; :func:`accuracy`
the top-1 accuracy used to score them. The masks ``M_c`` come from
:func:`keras_egl.explain.gradients.gradient_mask`.
"""

import dataclasses
from typing import Any, List, Optional

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.explain.gradients import gradient_mask
from keras_egl.models.rrr import RightForRightReasons, rrr_optimizer
from keras_egl.terms.core import NEG_MASK
from keras_egl.terms.rrr import REFERENCE_LAMBDA2
from keras_egl.validation import check_float, check_positive_int

__all__ = ["find_another_explanation", "FAEResult", "fit_rrr", "accuracy"]


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
    batch_size = check_positive_int(batch_size, "batch_size")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim == 0 or len(x) == 0:
        raise ValueError(f"`x` must be a non-empty batch (N, ...); got shape {x.shape}.")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"`y` must be integer labels (N,) with one entry per row of `x` ({len(x)}); got shape "
                         f"{y.shape}.")
    # Direct calls, not model.predict: no predict-function tracing per model (FAE builds many).
    preds = [np.argmax(model(x[i:i + batch_size], training=False).numpy(), -1)
             for i in range(0, len(x), batch_size)]
    return float(np.mean(np.concatenate(preds) == np.asarray(y).ravel())) if preds else float("nan")


def _check_annotation_shape(annotation, x):
    shapes = [x.shape]
    if x.ndim == 4:  # images: an image mask is broadcast over the channels by the term
        shapes += [x.shape[:3], x.shape[:3] + (1,)]
    if annotation.shape not in shapes:
        raise ValueError(f"`annotation` must have the shape of `x` {x.shape}"
                         f"{' or its image shape ' + str(x.shape[:3]) if x.ndim == 4 else ''}; "
                         f"got {annotation.shape}.")


def fit_rrr(model, x, y, annotation=None, lambda1=1000.0, lambda2=REFERENCE_LAMBDA2, epochs=64,
            batch_size=256, shuffle=False, learning_rate=1e-3, reduction="mean", target="sum_log_prob",
            norm="l2", certainty=False, seed=None, verbose=0, callbacks=None, validation_data=None,
            run_eagerly=None, jit_compile=None, penalty_gradient="exact"):
    """Wrap ``model`` in :class:`RightForRightReasons`, compile as the reference, and fit.

    Reference training: Adam (lr 1e-3, ε 1e-8), 64 epochs, batch 256, batches
    in fixed order (``shuffle=False``; shuffle the rows once beforehand).
    ``annotation`` is ``A`` (the wrong reasons, fed as ``neg_mask``), of the
    shape of ``x`` (or, for images, ``(N, H, W)``); ``None`` trains without
    explanation penalty unless ``certainty``. ``run_eagerly=True`` skips graph
    tracing (faster for a handful of steps); ``jit_compile=True`` compiles the
    double-backprop step with XLA (several times faster for small MLPs on
    CPU). ``penalty_gradient="finite_difference"`` replaces double backprop
    by a finite difference (:mod:`keras_egl.terms.penalty_gradient`).
    Returns ``(rrr_model, history)``.
    """
    epochs = check_positive_int(epochs, "epochs")
    batch_size = check_positive_int(batch_size, "batch_size")
    if seed is not None:
        tf.random.set_seed(int(seed))
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float32)  # keep the 0–255 scale
    if np.ndim(y) == 0 or len(y) != len(x):
        raise ValueError(f"`y` must have one label per row of `x` ({len(x)}); got shape {np.shape(y)}.")
    inputs = {"x": x}
    if annotation is not None:
        annotation = np.asarray(annotation)
        _check_annotation_shape(annotation, x)
        inputs[NEG_MASK] = annotation.astype(np.float32)
    rrr = RightForRightReasons(model, lambda1=lambda1, lambda2=lambda2, reduction=reduction,
                               target=target, norm=norm, certainty=certainty,
                               penalty_gradient=penalty_gradient)
    rrr.compile(rrr_optimizer(learning_rate), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"], run_eagerly=run_eagerly, jit_compile=jit_compile)
    hist = rrr.fit(inputs, np.asarray(y), epochs=epochs, batch_size=batch_size, shuffle=shuffle,
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
        :func:`~keras_egl.explain.gradients.gradient_mask` (``mask_shape``
        reshapes flat inputs, e.g. ``(5, 5, 3)``, before OR-ing over
        ``channel_axis``).
      initial_mask: optional ``A_0``.
      seed: seeds ``tf`` before each model's training (``seed + t``).
      verbose: Keras verbosity.
      callback: optional ``callback(t, result_so_far)`` after each iteration.
      run_eagerly, jit_compile: passed to ``compile`` (``run_eagerly=True``
        avoids tracing for tiny runs; ``jit_compile=True`` uses XLA).

    Returns:
      :class:`FAEResult`.
    """
    if not callable(build_fn) or isinstance(build_fn, keras.layers.Layer):
        raise TypeError(f"`build_fn` must be a callable t -> new keras.Model (a fresh model per iteration); got "
                        f"{type(build_fn).__name__}.")
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if np.ndim(y) == 0 or len(y) != len(x):
        raise ValueError(f"`y` must have one label per row of `x` ({len(x)}); got shape {np.shape(y)}.")
    if (x_test is None) != (y_test is None):
        raise ValueError("`x_test` and `y_test` go together: give both (for the test accuracy curve) or neither.")
    if x_test is not None and len(x_test) != len(y_test):
        raise ValueError(f"`y_test` must have one label per row of `x_test` ({len(x_test)}); got {len(y_test)}.")
    check_float(cutoff, "cutoff", low=0.0, high=1.0)
    n_iter = check_positive_int(n_iter, "n_iter", minimum=0)
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
