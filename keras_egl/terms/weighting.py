"""Term weights that set themselves: ``weight="auto"``, warm-up and ramp.

The auto rule (a GradNorm-style balance, computed once or every epoch)
----------------------------------------------------------------------
Let θ be the backbone's trainable parameters (the *shared* parameters: a
term's own weights, e.g. RES-L's imputation, are left out), ``L_task`` the
compiled task loss and ``L_t`` a term's unweighted value on a training batch.
Over ``calibration_steps`` consecutive training steps ``b`` the model
accumulates the two gradient norms and sets

    λ_t = α · Σ_b ‖∇θ L_task,b‖₂ / Σ_b ‖∇θ L_t,b‖₂        (α = ``auto_fraction``)

so that, on the batches measured, the weighted term pulls on the shared
parameters with ``α`` times the strength of the task loss. The steps that
measure use the previous λ (0 before the first calibration, so a model
starts with ``calibration_steps`` task-only steps). Batches without an
annotated sample add 0 to the term's sum; if every measured batch had none,
measuring continues until one has. Under a distribution strategy the norms
are summed over replicas before the ratio, so every replica gets the same λ.

Schedule
--------
``warmup_epochs`` task-only epochs (λ = 0), then λ rises linearly over
``ramp_epochs`` epochs: in epoch ``e`` the weight in use is
``λ · min(1, (e − warmup + 1) / (ramp + 1))``. With ``weight="auto"`` the
measurement happens at the start of the first epoch after warm-up (the
network the term then acts on, as when GRADIA/RES fine-tune a trained
baseline) and, with ``recalibrate="epoch"``, again at the start of every
later epoch. The schedule is driven by
:class:`keras_egl.callbacks.TermWeightSchedule`, which ``fit`` adds by itself;
it also logs the weight in use as ``<term>_weight`` in ``History``.

Fixed numeric weights without warm-up/ramp stay plain Python floats: no
variable, no extra log, no extra work in the step.
"""

from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.validation import check_choice, check_float, check_positive_int

__all__ = ["AUTO", "DEFAULT_AUTO_FRACTION", "DEFAULT_CALIBRATION_STEPS", "RECALIBRATE", "schedule_factor", "WeightState",
           "calibration_update"]

AUTO = "auto"
#: α of the auto rule. Chosen on the validation splits of the cross-method
#: benchmark's tasks (``reproductions/egl_benchmark.py``), never on test.
DEFAULT_AUTO_FRACTION = 1.0
RECALIBRATE = ("once", "epoch")
#: Training steps whose gradient norms λ is measured on.
DEFAULT_CALIBRATION_STEPS = 5


def schedule_factor(epoch, warmup_epochs, ramp_epochs):
    """The multiplier of λ in (0-based) ``epoch``: 0 in warm-up, then a linear ramp to 1."""
    if epoch < warmup_epochs:
        return 0.0
    return min(1.0, (epoch - warmup_epochs + 1) / (ramp_epochs + 1))


def check_weight(weight):
    """``"auto"`` or a finite float ≥ 0 (``weight`` named in the error)."""
    if isinstance(weight, str):
        if weight != AUTO:
            raise TypeError(f"`weight` must be a non-negative finite number or 'auto'; got str {weight!r}.")
        return weight
    return check_float(weight, "weight", low=0.0)


class WeightState:
    """The variables behind a scheduled or automatic term weight (owned by the term layer).

    ``base`` is λ (the fixed weight, or the last calibrated value), ``factor``
    the schedule's multiplier, ``pending`` the number of calibration steps
    still to measure, ``acc_task``/``acc_term`` the norm sums and
    ``calibrated`` whether λ was ever measured. They are layer weights, so
    checkpoints and ``BackupAndRestore`` resume with the λ in use.
    """

    def __init__(self, layer, weight, auto_fraction, warmup_epochs, ramp_epochs, recalibrate,
                 calibration_steps):
        self.auto = weight == AUTO
        self.auto_fraction = auto_fraction
        self.warmup_epochs = warmup_epochs
        self.ramp_epochs = ramp_epochs
        self.recalibrate = recalibrate
        self.calibration_steps = calibration_steps
        agg = _compat.variable_aggregation("only_first_replica")

        def var(name, value, dtype="float32"):
            return layer.add_weight(name=name, shape=(), dtype=dtype, trainable=False, aggregation=agg,
                                    initializer=keras.initializers.Constant(value))

        self.base = var("weight_base", 0.0 if self.auto else float(weight))
        self.factor = var("weight_factor", schedule_factor(0, warmup_epochs, ramp_epochs))
        first = calibration_steps if (self.auto and warmup_epochs == 0) else 0
        self.pending = var("calibration_pending", float(first))
        self.acc_task = var("calibration_task_norm", 0.0)
        self.acc_term = var("calibration_term_norm", 0.0)
        self.calibrated = var("calibrated", 0.0)

    def value(self):
        return self.base * self.factor

    def start_epoch(self, epoch):
        """Set the schedule's factor for ``epoch`` and request a measurement when due."""
        self.factor.assign(schedule_factor(epoch, self.warmup_epochs, self.ramp_epochs))
        if not self.auto or epoch < self.warmup_epochs:
            return
        due = self.recalibrate == "epoch" or float(self.calibrated.numpy()) == 0.0
        if due and float(self.pending.numpy()) == 0.0:
            self.acc_task.assign(0.0)
            self.acc_term.assign(0.0)
            self.pending.assign(float(self.calibration_steps))


def calibration_update(state, task_norm, term_norm):
    """One measured step of the auto rule (graph-safe; no-op when nothing is pending)."""
    active = state.pending > 0.0
    acc_task = state.acc_task + tf.where(active, task_norm, 0.0)
    acc_term = state.acc_term + tf.where(active, term_norm, 0.0)
    left = state.pending - tf.where(active, 1.0, 0.0)
    done = tf.logical_and(active, left <= 0.0)
    ok = tf.logical_and(done, acc_term > 0.0)
    ratio = state.auto_fraction * acc_task / tf.where(acc_term > 0.0, acc_term, 1.0)
    return [
        state.acc_task.assign(acc_task),
        state.acc_term.assign(acc_term),
        state.base.assign(tf.where(ok, ratio, state.base)),
        state.calibrated.assign(tf.where(ok, 1.0, state.calibrated)),
        # Nothing annotated in the measured batches: keep measuring.
        state.pending.assign(tf.where(tf.logical_and(done, tf.logical_not(ok)), 1.0, left)),
    ]


def validate_schedule(auto_fraction, warmup_epochs, ramp_epochs, recalibrate, calibration_steps):
    """Checked schedule arguments (each named in its error)."""
    frac = check_float(auto_fraction, "auto_fraction", low=0.0, low_inclusive=False)
    warm = check_positive_int(warmup_epochs, "warmup_epochs", minimum=0)
    ramp = check_positive_int(ramp_epochs, "ramp_epochs", minimum=0)
    rec = check_choice(recalibrate, RECALIBRATE, "recalibrate")
    steps = check_positive_int(calibration_steps, "calibration_steps", minimum=1)
    return frac, warm, ramp, rec, steps
