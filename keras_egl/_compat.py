"""Every API difference between Keras 3 and tf_keras, in one place.

Only this module and :mod:`keras_egl._keras` read ``KERAS_3``; the rest of the
library calls these functions (``tests/test_keras_binding.py`` checks it).
Private Keras attributes used here are listed per binding, so a Keras upgrade
has one file to check.
"""

from keras_egl._keras import KERAS_3, keras, tf

__all__ = ["KERAS_3", "task_loss", "apply_loss", "update_compiled_metrics", "compiled_metric_objects",
           "build_training_state", "train_function", "check_strategy", "value_tracker", "track_layer_value",
           "in_symbolic_pass", "optimizer_variables", "optimizer_state_variables",
           "adam_second_moment", "is_functional", "iter_layers", "built_input_shape",
           "rename_model", "static_shape", "variable_path", "read_variable", "variable_aggregation",
           "batchnorm_moments_hook", "random_generators", "gradients"]


# ---------------------------------------------------------------- train step
def task_loss(model, y, y_pred, sample_weight):
    """The compiled loss alone (no ``model.losses``), already ×1/replicas as Keras scales it."""
    if KERAS_3:
        if model._compile_loss is None:
            raise ValueError("the model was compiled without a `loss`: keras_egl models need one "
                             "(e.g. compile(optimizer, keras.losses.SparseCategoricalCrossentropy("
                             "from_logits=True))).")
        return model._compile_loss(y, y_pred, sample_weight)
    return model.compiled_loss(y, y_pred, sample_weight, regularization_losses=None)


def apply_loss(model, tape, loss, variables):
    """One optimizer step on ``loss`` recorded by ``tape`` (loss scaling included)."""
    optimizer = model.optimizer
    if not KERAS_3:
        optimizer.minimize(loss, variables, tape=tape)
        return
    with tape:
        # Recorded on the tape, so a LossScaleOptimizer's scaled loss is differentiated.
        scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
    grads = tape.gradient(scaled, variables)
    optimizer.apply_gradients(zip(grads, variables))


def update_compiled_metrics(model, y, y_pred, sample_weight):
    """Update the ``compile(metrics=...)`` metrics only (never the library's trackers)."""
    if KERAS_3:
        if model._compile_metrics is not None:
            model._compile_metrics.update_state(y, y_pred, sample_weight)
        return
    model.compiled_metrics.update_state(y, y_pred, sample_weight)


def compiled_metric_objects(model):
    """The metrics ``compile`` created (metrics, then the loss's), without Keras's ``loss`` tracker."""
    out = []
    if KERAS_3:
        if getattr(model, "_compile_metrics", None) is not None:
            out.append(model._compile_metrics)
        if getattr(model, "_compile_loss", None) is not None:
            out += list(model._compile_loss.metrics)
        return out
    if getattr(model, "compiled_metrics", None) is not None:
        out += list(model.compiled_metrics.metrics)
    if getattr(model, "compiled_loss", None) is not None:
        out += list(model.compiled_loss.metrics)
    return out


def build_training_state(model, variables, y=None, y_pred_shape=None):
    """Create the optimizer's slots (and the compiled metrics) before ``fit`` traces its step.

    A ``tf.function`` that creates variables during its first trace is traced
    a second time; Keras 3 (without a distribution strategy) and tf_keras both
    create the optimizer slots and the compiled metrics' variables inside that
    first trace, so every first ``fit`` traced the whole step twice — on
    MobileNetV2 with an input-gradient term 38 s of tracing instead of ~19 s.
    ``variables`` must be the list the train step applies gradients to.
    ``y`` (an array-like of labels) and ``y_pred_shape`` (the backbone's output
    shape) let the compiled metrics be built too; without them they stay lazy
    (and cost the second trace).
    """
    optimizer = model.optimizer
    if optimizer is not None and callable(getattr(optimizer, "build", None)):
        inner = getattr(optimizer, "_optimizer", optimizer)  # tf_keras LossScaleOptimizerV3
        built = optimizer.built if KERAS_3 else getattr(inner, "_built", False)
        if not built:
            optimizer.build(variables)
    if y is None or y_pred_shape is None or not hasattr(y, "shape") or len(y.shape) < 1:
        return
    y_pred_shape = tf.TensorShape(y_pred_shape)
    if y_pred_shape.rank is None or not y_pred_shape[1:].is_fully_defined():
        return
    y_true = tf.convert_to_tensor(y[:1])
    y_pred = tf.zeros([1] + y_pred_shape.as_list()[1:], tf.float32)
    if KERAS_3:
        container = getattr(model, "_compile_metrics", None)
        if container is not None and not container.built:
            container.build(y_true, y_pred)
    else:
        container = getattr(model, "compiled_metrics", None)
        if container is not None and not getattr(container, "_built", True):
            container.build(y_pred, y_true)


def train_function(model):
    """The compiled train function (Keras 3's ``make_train_function`` returns None)."""
    fn = model.make_train_function()
    return model.train_function if fn is None else fn


def check_strategy(model):
    """Refuse, with a clear error, a distribution strategy the bound Keras cannot ``fit`` with.

    Keras 3's ``fit`` does not support ``MultiWorkerMirroredStrategy``
    (keras-team/keras#20585: the per-replica batch reaches the step
    undistributed); tf_keras does, and keras_egl's multi-worker test runs there.
    """
    if not KERAS_3:
        return
    strategy = getattr(model, "distribute_strategy", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        raise NotImplementedError(
            "Keras 3's fit does not support tf.distribute.MultiWorkerMirroredStrategy "
            "(keras-team/keras#20585). Use tf_keras for multi-worker training: set "
            "TF_USE_LEGACY_KERAS=1 before Python starts (keras_egl then binds tf_keras).")


# ----------------------------------------------------------------- layers
def value_tracker(layer, name):
    """Create (in ``__init__``) what :func:`track_layer_value` logs ``name`` with.

    tf_keras: nothing (``add_metric`` in ``call``). Keras 3 has no
    ``add_metric`` and locks a layer's state once built, so the ``Mean`` is
    made up front; as a layer attribute it is in ``layer.metrics`` and thus in
    the model's logs.
    """
    if not KERAS_3:
        return None
    return keras.metrics.Mean(name=name)


def track_layer_value(layer, tracker, value, name):
    """Log ``value`` (a batch scalar) under ``name`` from ``layer.call``."""
    if not KERAS_3:
        layer.add_metric(value, name=name)
    elif tracker is not None:
        tracker.update_state(value)


def in_symbolic_pass():
    """Whether a layer is being called only to infer shapes (Keras 3 builds unbuilt layers this way).

    Keras 3 runs ``call`` once in a scratch graph (``compute_output_spec``, inside a
    ``SymbolicScope``) before the real call of a layer that has no ``build``;
    tf_keras has no such pass.
    """
    if not KERAS_3:
        return False
    from keras.src.backend.common.symbolic_scope import in_symbolic_scope

    return in_symbolic_scope()


def is_functional(model):
    """A functional or Sequential model (its graph of layers can be cloned/cut)."""
    if KERAS_3:
        from keras.src.models.functional import Functional

        if isinstance(model, keras.Sequential):
            return getattr(model, "_functional", None) is not None
        return isinstance(model, Functional)
    return bool(getattr(model, "_is_graph_network", False))


def iter_layers(model, include_self=True):
    """``model`` (optionally) and every layer nested in it, each once, in a stable order."""
    seen, out = set(), []
    for layer in model._flatten_layers(include_self=include_self, recursive=True):
        if id(layer) not in seen:
            seen.add(id(layer))
            out.append(layer)
    return out


def built_input_shape(model):
    """The input shape a subclassed model was built with (None if unknown)."""
    if KERAS_3:
        shapes = getattr(model, "_build_shapes_dict", None) or {}
        return next(iter(shapes.values()), None) if len(shapes) == 1 else shapes.get("input_shape")
    return getattr(model, "_build_input_shape", None)


def rename_model(model, name):
    if KERAS_3:
        model.name = name
    else:
        model._name = name


def static_shape(x):
    """``tf.TensorShape`` of a tensor/KerasTensor (Keras 3 KerasTensor shapes are tuples)."""
    return tf.TensorShape(x.shape if hasattr(x, "shape") else x)


def variable_path(variable):
    """``"layer/kernel"``-style name of a variable (Keras 3 ``path``; tf_keras ``name`` minus ``:0``)."""
    path = getattr(variable, "path", None)
    return path if isinstance(path, str) else variable.name.split(":")[0]


def read_variable(variable):
    """The variable's current value as a tensor (Keras 3 variables have no ``read_value``)."""
    return tf.identity(variable)


def variable_aggregation(kind="only_first_replica"):
    """The ``add_weight(aggregation=...)`` value for ``kind``."""
    if KERAS_3:
        return kind
    return {"only_first_replica": tf.VariableAggregation.ONLY_FIRST_REPLICA,
            "mean": tf.VariableAggregation.MEAN, "sum": tf.VariableAggregation.SUM,
            "none": tf.VariableAggregation.NONE}[kind]


def batchnorm_moments_hook(layer):
    """``(name, call_with_moments)`` of the method through which ``layer`` takes batch moments.

    tf_keras's unfused path: ``_no_sync_calculate_mean_and_var(x, axes,
    keep_dims, mask)``; Keras 3: ``_moments(x, mask)`` (every BatchNormalization).
    Returns None when the layer has neither (fused tf_keras BN, synchronized BN).
    ``call_with_moments(original, moments_fn)`` builds the replacement method.
    """
    if getattr(layer, "synchronized", False):
        return None
    if KERAS_3:
        if not hasattr(layer, "_moments"):
            return None

        def make(original, moments_fn):
            def patched(inputs, mask):
                if mask is not None:
                    return original(inputs, mask)
                return moments_fn(inputs, list(layer._reduction_axes), keep_dims=False)
            return patched

        return "_moments", make
    if not hasattr(layer, "_no_sync_calculate_mean_and_var"):
        return None

    def make(original, moments_fn):
        def patched(inputs, reduction_axes, keep_dims, mask=None):
            if mask is not None:
                return original(inputs, reduction_axes, keep_dims, mask=mask)
            return moments_fn(inputs, reduction_axes, keep_dims=keep_dims)
        return patched

    return "_no_sync_calculate_mean_and_var", make


# -------------------------------------------------------------- optimizer
def optimizer_variables(optimizer):
    """The optimizer's variables as a list (tf_keras returns a callable list)."""
    v = optimizer.variables
    return list(v() if callable(v) else v)


def optimizer_state_variables(optimizer):
    """The step count and slots (what a fresh optimizer starts at zero), not hyperparameters.

    Keras 3 lists the learning rate among ``optimizer.variables``; zeroing it
    would stop training.
    """
    hyper = {id(v) for v in (getattr(optimizer, "_learning_rate", None),) if v is not None}
    return [v for v in optimizer_variables(optimizer) if id(v) not in hyper]


def adam_second_moment(optimizer, variable):
    """Adam's ``v`` slot for ``variable`` (None when not Adam-like or not built yet)."""
    velocities = getattr(optimizer, "_velocities", None)
    if not velocities:
        return None
    try:
        if KERAS_3:
            index = optimizer._get_variable_index(variable)
        else:
            index_dict = getattr(optimizer, "_index_dict", None)
            if index_dict is None:
                return None
            index = index_dict[optimizer._var_key(variable)]
    except (KeyError, AttributeError, ValueError):
        return None
    return velocities[index]


# --------------------------------------------------------------- export
def random_generators(model):
    """Every ``tf.random.Generator`` held by ``model`` or its layers (saved with an export)."""
    if not KERAS_3:
        return list(model._flatten(predicate=lambda o: isinstance(o, tf.random.Generator)))
    out, seen = [], set()
    for layer in iter_layers(model):
        for value in vars(layer).values():
            if isinstance(value, tf.random.Generator) and id(value) not in seen:
                seen.add(id(value))
                out.append(value)
    return out


# ---------------------------------------------------------------- gradients
def gradients(tape, target, variables):
    """``tape.gradient(target, variables)`` with zeros for unconnected variables.

    Not ``unconnected_gradients=ZERO``: TensorFlow builds those zeros from the
    source's ``dtype``, which is a string for Keras 3 variables (AttributeError
    ``'str' object has no attribute '_type_enum'``).
    """
    grads = tape.gradient(target, variables)
    return [tf.zeros(v.shape, tf.as_dtype(v.dtype)) if g is None else g for g, v in zip(grads, variables)]
