"""GRADIA's two-phase workflow (Gao et al., CSCW 2022) with honest model selection.

Phase 1 trains the classifier with attention weight 0 (plain CE); the
Reasonability judge (a person, or :func:`~keras_egl.models.gradia.judge_reasonability`
as a simulated stand-in) labels the feedback samples from the phase-1 CAMs;
phase 2 fine-tunes on train ∪ feedback with the Reasonability weights. Both
phases keep the best epoch on a selection split that must not be the test set
(the authors' code selects phase 2 on the test loader; we do not).
"""

import numpy as np

from keras_egl.callbacks.model_selection import BestWeights
from keras_egl.losses.gradia import REASONABILITY_CODES
from keras_egl.terms.core import POS_MASK, REASONABILITY

__all__ = ["two_phase_fit"]


def _concat(a, b):
    out = {}
    for k in set(a) | set(b):
        if k in a and k in b:
            out[k] = np.concatenate([np.asarray(a[k]), np.asarray(b[k])])
    return out


def _keys(egl):
    """The model input key, the positive-mask key and the Reasonability key ``egl`` reads."""
    from keras_egl.terms.gradia import GRADIATerm

    term = next((t for t in getattr(egl, "terms", ()) if isinstance(t, GRADIATerm)), None)
    input_key = egl.input_key if isinstance(getattr(egl, "input_key", "x"), str) else None
    if input_key is None:
        raise ValueError("two_phase_fit needs a single-input model (`input_key` a string).")
    pos_key = term.pos_key if term is not None else POS_MASK
    r_key = getattr(egl, "reasonability_key", None) or (
        term.reasonability_key if term is not None else REASONABILITY)
    return input_key, pos_key, r_key


def two_phase_fit(egl, train, y_train, feedback, y_feedback, select, y_select, judge=None,
                  phase1_epochs=20, phase2_epochs=20, batch_size=32, verbose=0):
    """GRADIA's two-phase workflow with honest model selection.

    Phase 1: train on ``train`` with attention weights 0 (plain CE), keep the
    epoch with the best accuracy on ``select``. Then the judge labels the
    ``feedback`` samples (RA/UA/RIA/UIA from the phase-1 CAMs); phase 2
    fine-tunes on ``train ∪ feedback`` (train samples unlabelled: weights 1/0;
    feedback samples: their Reasonability weights), keeping the epoch with the
    best explanation IoU on ``select``. ``select`` must not be the test set.

    Args:
      egl: a compiled :class:`~keras_egl.models.gradia.GRADIAModel` (with its
        default IoU metric, logged as ``val_explanation_iou``).
      train, feedback, select: input dicts (``"x"``, ``"pos_mask"``…);
        ``feedback`` needs ``"pos_mask"`` (the edited attention) and may carry
        ``"reasonability"`` codes (then ``judge`` is not used). The keys are
        the model's (its GRADIA term's ``pos_key``/``reasonability_key``).
      y_train, y_feedback, y_select: labels.
      judge: ``(maps, masks) -> (N,) bool`` (default
        :func:`~keras_egl.models.gradia.judge_reasonability`).
      phase1_epochs, phase2_epochs, batch_size, verbose: training options.

    Returns:
      dict with ``phase1``/``phase2`` histories, the feedback
      :class:`~keras_egl.models.gradia.ReasonabilityMatrix` and the selected epochs.
    """
    from keras_egl.models.gradia import ReasonabilityMatrix, judge_reasonability

    input_key, pos_key, r_key = _keys(egl)
    n_tr = len(y_train)
    p1_inputs = dict(train)
    p1_inputs[r_key] = np.zeros(n_tr, np.int32)  # unlabelled: attention weight 0
    cb1 = BestWeights("val_accuracy")
    h1 = egl.fit(p1_inputs, y_train, epochs=phase1_epochs, batch_size=batch_size,
                 validation_data=(select, y_select), callbacks=[cb1], verbose=verbose)
    logits = egl.predict(feedback[input_key], batch_size=batch_size, verbose=0)
    if r_key in feedback:
        codes = np.asarray(feedback[r_key], np.int32)
        rm = ReasonabilityMatrix(y_feedback, logits.argmax(-1),
                                 np.isin(codes, [REASONABILITY_CODES["RA"], REASONABILITY_CODES["RIA"]]))
    else:
        if pos_key not in feedback:
            raise ValueError(f"`feedback` needs `{pos_key}` (the edited attention) or `{r_key}` codes; "
                             f"got keys {sorted(feedback)}.")
        x_fb = feedback[input_key]
        maps = np.concatenate([np.asarray(egl.explain(x_fb[i:i + batch_size]))
                               for i in range(0, len(y_feedback), batch_size)])
        reasonable = (judge or judge_reasonability)(maps, np.asarray(feedback[pos_key]))
        rm = ReasonabilityMatrix(y_feedback, logits.argmax(-1), reasonable)
        codes = rm.codes
    fb = dict(feedback)
    fb[r_key] = codes
    p2_inputs = _concat(p1_inputs, fb)
    y2 = np.concatenate([np.asarray(y_train), np.asarray(y_feedback)])
    cb2 = BestWeights("val_explanation_iou")
    h2 = egl.fit(p2_inputs, y2, epochs=phase2_epochs, batch_size=batch_size, shuffle=True,
                 validation_data=(select, y_select), callbacks=[cb2], verbose=verbose)
    return {"phase1": h1.history, "phase2": h2.history, "matrix": rm,
            "phase1_best_epoch": cb1.best_epoch, "phase2_best_epoch": cb2.best_epoch}
