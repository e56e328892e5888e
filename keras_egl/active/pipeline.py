"""The Active Feedback pipeline (Bekkemoen 2021, thesis §4.1, article §3.1).

    1. train       — plain ELBO on the training set (checkpoint: best validation score)
    2. evaluate    — on validation/test data
    3. explain     — explanations of (selected) *training* samples for a person
    4. collect     — the person rejects regions → masks F (1 = irrelevant);
                     accepted or unselected samples keep F = 0
    5. fine-tune   — continue training the same weights on the **whole**
                     training set plus the feedback (eq. 5.14 with e_act)
    6. evaluate    — on the test set

The thesis chooses the samples to annotate uniformly at random
(:class:`~keras_egl.active.samplers.UniformSampler`); the entropy and BALD
samplers are extensions. In experiments the "person" is an oracle holding
ground-truth masks (decoy corners, patch masks, backgrounds); pass them as
``oracle`` — an array ``(N, H, W)`` or a callable ``indices -> masks``.
"""

import warnings

import numpy as np

from keras_egl._deprecation import renamed_argument
from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.active.evaluation import attribution_maps, classification_scores, mc_predict
from keras_egl.active.samplers import UniformSampler

__all__ = ["ActiveFeedbackPipeline", "BestValidationScore"]


class BestValidationScore(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best validation score (the thesis: F1).

    Scores come from :func:`classification_scores` of MC-averaged predictions
    (``mc_samples`` draws). At the end of training the best weights are restored.
    Optional early stopping after ``patience`` epochs without improvement.

    Args:
      x_val, y_val: validation data (model inputs and labels).
      score: key of :func:`classification_scores` (``"f1_micro"``, ``"f1"``, ...).
      mc_samples: posterior draws per prediction.
      patience: ``None`` (no early stopping) or epochs without improvement.
      batch_size: prediction batch size.
    """

    def __init__(self, x_val, y_val, score="f1_micro", mc_samples=4, patience=None, batch_size=256):
        super().__init__()
        self.x_val, self.y_val = x_val, np.asarray(y_val)
        self.score, self.mc_samples, self.patience, self.batch_size = score, int(mc_samples), patience, batch_size
        self.best, self.best_epoch, self.history = -np.inf, -1, []
        self._best_weights = None

    def on_train_begin(self, logs=None):
        self.best, self.best_epoch, self.history, self._best_weights = -np.inf, -1, [], None

    def on_epoch_end(self, epoch, logs=None):
        probs = mc_predict(self.model, self.x_val, self.mc_samples, self.batch_size).mean(0)
        value = classification_scores(self.y_val, probs.argmax(1), num_classes=probs.shape[1])[self.score]
        self.history.append(value)
        if logs is not None:
            logs[f"val_{self.score}"] = value
        if value > self.best:
            self.best, self.best_epoch = value, epoch
            self._best_weights = self.model.get_weights()
        elif self.patience is not None and epoch - self.best_epoch >= self.patience:
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)


class ActiveFeedbackPipeline:
    """Train → evaluate → explain → collect masks → fine-tune → evaluate.

    Args:
      model: a compiled ``BayesianFeedbackModel`` (or any ``ExplanationGuidedModel``
        whose ``fit`` reads ``{"x": ..., "neg_mask": ...}``).
      sampler: which training samples get feedback (default: uniform, 0.4 %).
      monitor: validation score for checkpointing (thesis: F1; ``"f1_micro"``
        for multi-class, ``"f1"`` for binary).
      batch_size: training batch size (thesis: 256).
      mc_samples: posterior draws for evaluation and uncertainty samplers.
      input_key, neg_key: keys of the input dict given to ``fit``: the model
        input and the rejected-region masks ``F`` (``"neg_mask"``, the wrong
        reasons of :mod:`keras_egl.terms.core`; ``mask_key=`` is the deprecated
        name of ``neg_key``).
      class_weight: ``None`` (the thesis says nothing on imbalance), a dict
        ``{class: weight}``, or ``"balanced"`` — weight ``n / (K · n_k)`` from
        the training labels, the inverse-frequency weighting the later public
        code uses for ISIC (``[1, n_benign / n_malignant]`` up to a constant).
        Applied to the likelihood term in training and fine-tuning.
      verbose: Keras verbosity.

    Example:
      >>> pipe = ActiveFeedbackPipeline(bnn, UniformSampler(budget_fraction=0.004, seed=0))
      >>> pipe.train(x, y, epochs=1, validation=(xv, yv))
      >>> idx, F = pipe.collect(x, oracle=decoy_masks)
      >>> pipe.fine_tune(x, y, F, epochs=15, validation=(xv, yv))
      >>> pipe.evaluate(xt, yt)["accuracy"]
    """

    @renamed_argument("mask_key", "neg_key")
    def __init__(self, model, sampler=None, monitor="f1_micro", batch_size=256, mc_samples=8, input_key="x",
                 neg_key="neg_mask", class_weight=None, verbose=0):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a compiled keras.Model; got {type(model).__name__}.")
        self.model = model
        self.sampler = sampler or UniformSampler(budget_fraction=0.004, seed=0)
        self.monitor = monitor
        self.batch_size = int(batch_size)
        self.mc_samples = int(mc_samples)
        self.input_key, self.neg_key = input_key, neg_key
        if not (class_weight is None or class_weight == "balanced" or isinstance(class_weight, dict)):
            raise ValueError(f"`class_weight` must be None, 'balanced' or a dict; got {class_weight!r}.")
        self.class_weight = class_weight
        self.verbose = verbose
        self.selected = None
        self.log = {}

    @property
    def mask_key(self):
        """Deprecated name of :attr:`neg_key`."""
        warnings.warn("`mask_key` is deprecated; use `neg_key`.", DeprecationWarning, stacklevel=2)
        return self.neg_key

    def _callbacks(self, validation, patience):
        if validation is None:
            return []
        return [BestValidationScore(validation[0], validation[1], score=self.monitor, mc_samples=min(4, self.mc_samples),
                                    patience=patience, batch_size=self.batch_size)]

    def _class_weight(self, y):
        if self.class_weight != "balanced":
            return self.class_weight
        y = np.asarray(y).astype(np.int64).reshape(-1)
        counts = np.bincount(y)
        present = np.flatnonzero(counts)
        return {int(k): float(len(y) / (len(present) * counts[k])) for k in present}

    def train(self, x, y, epochs, validation=None, patience=None, seed=None):
        """Step 1: plain ELBO training (no feedback); best-validation checkpoint."""
        cbs = self._callbacks(validation, patience)
        hist = self.model.fit(x, y, batch_size=self.batch_size, epochs=int(epochs), verbose=self.verbose,
                              callbacks=cbs, shuffle=True, class_weight=self._class_weight(y))
        self.log["train"] = {"history": hist.history,
                             "best_epoch": cbs[0].best_epoch + 1 if cbs else int(epochs)}
        return self.log["train"]

    def evaluate(self, x, y, use_mean=False):
        """Steps 2 and 6: classification scores of the MC-averaged prediction."""
        probs = mc_predict(self.model, x, self.mc_samples, self.batch_size, use_mean=use_mean)
        mean = probs.mean(0)
        scores = classification_scores(y, mean.argmax(1), num_classes=mean.shape[1])
        scores["_mc_probs"] = probs
        return scores

    def explain(self, x, indices, method="gradcam", target="pred", layer_name=None, **kwargs):
        """Step 3: explanations of training samples ``indices`` for the person to judge."""
        layer_name = layer_name or getattr(self.model, "target_layer", None)
        xs = np.asarray(x)[np.asarray(indices)]
        return attribution_maps(self.model, xs, method, target, layer_name=layer_name, **kwargs)

    def select(self, x):
        """Which training samples to ask about (sampler; uncertainty samplers use the MC posterior)."""
        n = len(x)
        probs = None
        if getattr(self.sampler, "needs_predictions", False):
            probs = mc_predict(self.model, x, self.mc_samples, self.batch_size)
        self.selected = self.sampler.select(n, mc_probs=probs)
        return self.selected

    def collect(self, x, oracle, indices=None):
        """Step 4: masks for the selected samples; every other sample has ``F = 0``.

        Args:
          x: training inputs ``(N, H, W, C)``.
          oracle: ``(N, H, W)`` ground-truth irrelevant-region masks, or a callable
            ``indices -> (k, H, W)`` masks (a person's rejections; all-zero = accepted).
          indices: samples to annotate (default: :meth:`select`).

        Returns:
          ``(indices, F)`` with ``F`` float32 ``(N, H, W)``.
        """
        x = np.asarray(x)
        indices = self.select(x) if indices is None else np.asarray(indices, dtype=int)
        masks = oracle(indices) if callable(oracle) else np.asarray(oracle)[indices]
        masks = np.asarray(masks, np.float32)
        if masks.shape[0] != len(indices) or masks.shape[1:3] != x.shape[1:3]:
            raise ValueError(f"the oracle's masks {masks.shape} must be ({len(indices)}, {x.shape[1]}, "
                             f"{x.shape[2]}) for the selected samples.")
        F = np.zeros(x.shape[:3], np.float32)
        F[indices] = masks.reshape(len(indices), *x.shape[1:3])
        self.selected = indices
        self.log["feedback"] = {"n": int(len(indices)), "fraction": float(len(indices) / len(x)),
                                "n_nonzero": int(np.count_nonzero(masks.reshape(len(indices), -1).any(1)))}
        return indices, F

    def fine_tune(self, x, y, F, epochs, validation=None, patience=None, learning_rate=None, reset_optimizer=True):
        """Step 5: continue training on the whole training set plus feedback.

        Args:
          x, y: the whole training set.
          F: ``(N, H, W)`` feedback masks, 0 for samples without feedback.
          epochs, validation, patience: as :meth:`train`.
          learning_rate: ``None`` keeps the optimizer's rate; a float sets it
            for this and later fits (the thesis fine-tunes at its training
            rate, 1e-3).
          reset_optimizer: zero the optimizer's state (step count, Adam
            moments) first, as a fresh optimizer over the loaded weights —
            the thesis restarts from a checkpoint. It also makes fine-tunings
            that restart from the same weights (other ``w_F``, the no-feedback
            control) comparable: none inherits another's moments.
        """
        if learning_rate is not None:
            if not float(learning_rate) > 0:
                raise ValueError(f"`learning_rate` must be > 0; got {learning_rate!r}.")
            self.model.optimizer.learning_rate = float(learning_rate)
        if reset_optimizer:
            for v in _compat.optimizer_state_variables(self.model.optimizer):
                v.assign(tf.zeros_like(v))
        cbs = self._callbacks(validation, patience)
        inputs = {self.input_key: np.asarray(x), self.neg_key: np.asarray(F, np.float32)}
        hist = self.model.fit(inputs, y, batch_size=self.batch_size, epochs=int(epochs), verbose=self.verbose,
                              callbacks=cbs, shuffle=True, class_weight=self._class_weight(y))
        self.log["fine_tune"] = {"history": hist.history,
                                 "best_epoch": cbs[0].best_epoch + 1 if cbs else int(epochs)}
        return self.log["fine_tune"]

    def run(self, x, y, oracle, x_test, y_test, train_epochs, fine_tune_epochs, validation=None, patience=None):
        """All six steps; returns ``{"before": scores, "after": scores, "indices": ...}``."""
        self.train(x, y, train_epochs, validation, patience)
        before = self.evaluate(x_test, y_test)
        idx, F = self.collect(x, oracle)
        self.fine_tune(x, y, F, fine_tune_epochs, validation, patience)
        after = self.evaluate(x_test, y_test)
        return {"before": before, "after": after, "indices": idx, "feedback": F}
