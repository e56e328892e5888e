"""``TermWeightSchedule``: drives warm-up, ramp and auto-calibration of term weights."""

from keras_egl._keras import keras

__all__ = ["TermWeightSchedule"]


class TermWeightSchedule(keras.callbacks.Callback):
    """Set each dynamic term's weight per epoch and log the weight in use.

    ``ExplanationGuidedModel.fit`` adds this callback by itself when a term has
    ``weight="auto"``, ``warmup_epochs`` or ``ramp_epochs`` (see
    :mod:`keras_egl.terms.weighting`); pass one explicitly only to control its
    place among other callbacks. At the start of every epoch it sets the
    schedule's factor and, for auto weights, requests a measurement when one is
    due; at the end it writes ``<term name>_weight`` (the λ the epoch ended
    with) into the epoch logs, so ``History`` and TensorBoard record it.
    Epochs are counted as ``fit`` counts them (``initial_epoch`` included).
    """

    def _dynamic_terms(self):
        found = getattr(self.model, "dynamic_weights", None)
        return list(found()) if callable(found) else []

    def on_epoch_begin(self, epoch, logs=None):
        for t in self._dynamic_terms():
            t.weight_state.start_epoch(epoch)

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for t in self._dynamic_terms():
            logs[f"{t.name}_weight"] = float(t.loss_weight().numpy())
