"""SavedModel export with a prediction and an explanation signature.

``export_saved_model(egl_model, path)`` writes a TensorFlow SavedModel with

* ``serving_default``: ``{"outputs": egl_model.serving_outputs(x)}`` — the
  wrapped model's outputs (logits or probabilities, as it returns them;
  ``"probabilities"`` too when it outputs logits). For a
  ``BayesianFeedbackModel`` this is the deterministic mean-weight pass (a
  served model should not answer the same request differently twice; the MC
  predictive mean of ``predict`` is stochastic);
* ``explain``: ``{"maps": egl_model.explain(x), "outputs": ...}`` — the
  method's explanation maps from the same forward pass.

Load it anywhere with ``tf.saved_model.load(path)`` (no keras_egl needed):
``loaded.signatures["explain"](x=batch)["maps"]``.
"""

from keras_egl import _compat
from keras_egl._keras import tf


def _input_specs(egl_model, input_signature):
    keys = egl_model.input_key if isinstance(egl_model.input_key, (list, tuple)) else [egl_model.input_key]
    if input_signature is None:
        inputs = getattr(egl_model.model, "inputs", None)
        if not inputs:
            raise ValueError("`input_signature` is required for a subclassed model that was not "
                             "built from keras.Input; pass a tf.TensorSpec (or a list, one per input).")
        input_signature = [tf.TensorSpec(t.shape, t.dtype) for t in inputs]
    specs = input_signature if isinstance(input_signature, (list, tuple)) else [input_signature]
    if len(specs) != len(keys):
        raise ValueError(f"`input_signature` has {len(specs)} spec(s) but the model has "
                         f"{len(keys)} input key(s) {keys}.")
    return keys, [tf.TensorSpec(s.shape, s.dtype, name=k) for s, k in zip(specs, keys)]


class _ExportModule(tf.Module):
    def __init__(self, egl_model):
        super().__init__()
        # Track the variables, not the Keras model: the signatures below are the
        # whole serving surface, and tracking the model would make SavedModel
        # re-trace Keras's own call signatures (which a dict-input wrapper
        # cannot offer; it used to warn "Skipping full serialization").
        self.model_variables = list(egl_model.variables)
        # Random generators hold their state in variables that are not Keras
        # weights (the LRT layers' noise): the signatures capture them too.
        self.random_generators = _compat.random_generators(egl_model)


def export_saved_model(egl_model, path, input_signature=None):
    """Write ``egl_model`` as a SavedModel with ``serving_default`` and ``explain`` signatures.

    Args:
      egl_model: an :class:`~keras_egl.models.base.ExplanationGuidedModel` (or
        subclass) whose ``explain(x)`` gives the method's maps.
      path: output directory.
      input_signature: a ``tf.TensorSpec`` (or list, one per ``input_key``);
        inferred from a functional model's inputs when omitted.

    Returns:
      ``path``.
    """
    from keras_egl.models.base import ExplanationGuidedModel

    if not isinstance(egl_model, ExplanationGuidedModel):
        raise TypeError(f"`egl_model` must be an ExplanationGuidedModel; got {type(egl_model).__name__}.")
    keys, specs = _input_specs(egl_model, input_signature)
    multi = isinstance(egl_model.input_key, (list, tuple))
    module = _ExportModule(egl_model)

    def _model_input(args):
        return list(args) if multi else args[0]

    def _outputs(out):
        res = {"outputs": out}
        if egl_model.from_logits:
            res["probabilities"] = tf.sigmoid(out) if out.shape[-1] == 1 else tf.nn.softmax(out, -1)
        return res

    @tf.function(input_signature=specs)
    def serve(*args):
        return _outputs(egl_model.serving_outputs(_model_input(args)))

    @tf.function(input_signature=specs)
    def explain(*args):
        inputs = dict(zip(keys, args))
        outputs, ctx = egl_model.forward(inputs, training=False)
        res = _outputs(outputs)
        res["maps"] = tf.stop_gradient(egl_model.explainer(ctx))
        return res

    module.serve = serve
    module.explain = explain
    tf.saved_model.save(module, str(path), signatures={"serving_default": serve, "explain": explain})
    return path


__all__ = ["export_saved_model"]
