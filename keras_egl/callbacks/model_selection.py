"""Model-selection callbacks: keep the weights of the best epoch.

:class:`BestValidationAUC` is the GNES authors' checkpoint rule (Gao et al.,
ICDM 2021): after every epoch, the ROC AUC of the model's positive-class
probability on a validation set; at the end of training the weights of the
best epoch are restored.

:class:`BestWeights` keeps the best epoch on any log key (``"val_accuracy"``
for RES and GRADIA's phase 1, ``"val_explanation_iou"`` for GRADIA's phase 2).
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.metrics.graph_evaluation import roc_auc
from keras_egl.validation import check_choice, check_positive_int

__all__ = ["BestValidationAUC", "BestWeights"]


class BestValidationAUC(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best validation ROC AUC (the GNES authors' selection).

    The score is ``softmax(model(inputs))[:, -1]`` (the last class is the
    positive one), so the model must output class logits.

    Args:
      dataset: validation batches ``(inputs, y)`` (e.g.
        :func:`~keras_egl.data.molecules.graph_dataset` without shuffling).
      verbose: print the AUC each epoch.

    Attributes:
      best: the best validation AUC so far (``-inf`` before the first finite one).
      best_epoch: its 0-based epoch (``-1`` if none).

    Example:
      >>> cb = BestValidationAUC(graph_dataset(val_graphs, 128, shuffle=False))
      >>> gnes.fit(train_ds, epochs=50, callbacks=[cb])   # ends with the best epoch's weights
    """

    def __init__(self, dataset, verbose=0):
        super().__init__()
        if isinstance(dataset, (str, bytes)) or not hasattr(dataset, "__iter__"):
            raise TypeError(f"`dataset` must be an iterable of (inputs, y) validation batches; got "
                            f"{type(dataset).__name__}.")
        self.dataset = dataset
        self.verbose = int(verbose) if isinstance(verbose, (bool, np.bool_)) else \
            check_positive_int(verbose, "verbose", minimum=0)
        self.best = -np.inf
        self.best_epoch = -1
        self._weights = None

    def _val_auc(self):
        ys, ss = [], []
        for inputs, y in self.dataset:
            logits = self.model(inputs, training=False)
            ys.append(np.asarray(y))
            ss.append(tf.nn.softmax(logits)[:, -1].numpy())
        return roc_auc(np.concatenate(ys), np.concatenate(ss))

    def on_epoch_end(self, epoch, logs=None):
        auc = self._val_auc()
        if logs is not None:
            logs["val_auc"] = auc
        if self.verbose:
            print(f"epoch {epoch + 1}: val_auc={auc:.4f}")
        if np.isfinite(auc) and auc > self.best:
            self.best, self.best_epoch = auc, epoch
            self._weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self._weights is not None:
            self.model.set_weights(self._weights)


class BestWeights(keras.callbacks.Callback):
    """Keep the weights of the best epoch on ``monitor`` and restore them at the end.

    Args:
      monitor: a log key, e.g. ``"val_accuracy"`` (RES, GRADIA phase 1) or
        ``"val_explanation_iou"`` (GRADIA phase 2). Epochs without it (e.g.
        between ``validation_freq`` steps) are skipped.
      mode: ``"max"`` or ``"min"``.

    Attributes:
      best, best_epoch: the best value and its 0-based epoch (``None`` before one).
    """

    def __init__(self, monitor="val_accuracy", mode="max"):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"`monitor` must be a log key (str); got {monitor!r}.")
        if not monitor:
            raise ValueError("`monitor` must be a non-empty log key, e.g. 'val_accuracy'; got ''.")
        self.monitor, self.mode = monitor, check_choice(mode, ("max", "min"), "mode")
        self.best, self.best_weights, self.best_epoch = None, None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not np.isfinite(value):
            return  # missing (validation_freq) or non-finite (a diverged epoch is never the best)
        better = self.best is None or (value > self.best if self.mode == "max" else value < self.best)
        if better:
            self.best, self.best_epoch = float(value), epoch
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)
