"""One forward pass that yields both the outputs and a named layer's activations.

Grad-CAM-style explanations need the activations ``A`` of an inner layer and
the model output computed *from those same activations* in one pass, so that
``∂y/∂A`` is taken inside the training tape without a second forward pass
(the original RES/GRADIA code runs an extra per-sample forward).

* Functional / Sequential models: a sub-model ``Model(inputs, [outputs, A])``
  sharing the weights.
* Subclassed models: the named layer's ``call`` is intercepted for the
  duration of the forward pass and its output recorded.
"""

import contextlib

from keras_egl import _compat
from keras_egl._keras import keras, tf


def find_layer(model, layer_name):
    """Return the layer named ``layer_name`` anywhere inside ``model`` (nested models too)."""
    if not isinstance(layer_name, str):
        raise TypeError(f"`layer_name` must be a string; got {type(layer_name).__name__} {layer_name!r}.")
    stack = [model]
    seen = []
    while stack:
        m = stack.pop(0)
        for layer in getattr(m, "layers", []):
            if layer.name == layer_name:
                return layer
            seen.append(layer.name)
            if getattr(layer, "layers", None):
                stack.append(layer)
        # Subclassed models may hold layers only as attributes.
        for layer in getattr(m, "_flatten_layers", lambda **k: [])(include_self=False, recursive=True):
            if layer.name == layer_name:
                return layer
    raise ValueError(
        f"`layer_name`={layer_name!r} is not a layer of model {model.name!r}; "
        f"its layers are {sorted(set(seen))}."
    )


def _is_graph_network(model):
    return _compat.is_functional(model)


@contextlib.contextmanager
def _capture_call(layer, store):
    original = layer.call

    def call(*args, **kwargs):
        out = original(*args, **kwargs)
        if not _compat.in_symbolic_pass():  # a shape-inference pass is not a call of the step
            store.append(out)
        return out

    layer.call = call
    try:
        yield
    finally:
        try:
            del layer.call
        except AttributeError:
            layer.call = original


class ActivationModel:
    """Callable returning ``(outputs, activations)`` of ``model`` at ``layer_name``.

    Args:
      model: a Keras model (functional, Sequential or subclassed).
      layer_name: name of the layer whose output is explained, or a list of names
        (then ``activations`` is a list).

    Call:
      ``outputs, activations = ActivationModel(model, "conv")(x, training=False)``
      with ``outputs`` exactly ``model(x)`` and ``activations`` the layer's
      output tensor(s) from the same pass.
    """

    def __init__(self, model, layer_name):
        if not isinstance(model, keras.Model):
            raise TypeError(f"`model` must be a keras Model; got {type(model).__name__}.")
        self.model = model
        self.multi = isinstance(layer_name, (list, tuple))
        self.layer_names = list(layer_name) if self.multi else [layer_name]
        self.layers = [find_layer(model, n) for n in self.layer_names]
        self._sub = None
        if _is_graph_network(model):
            try:
                outs = [layer.output for layer in self.layers]
                self._sub = keras.Model(model.inputs, [model.outputs] + outs)
            except (AttributeError, ValueError):
                # A layer reused at several call sites, or nested inside a
                # sub-model: fall back to interception.
                self._sub = None

    def __call__(self, x, training=None):
        if self._sub is not None:
            res = self._sub(x, training=training)
            outputs = res[0]
            if isinstance(outputs, (list, tuple)) and len(outputs) == 1:
                outputs = outputs[0]
            acts = list(res[1:])
        else:
            stores = [[] for _ in self.layers]
            with contextlib.ExitStack() as stack:
                for layer, store in zip(self.layers, stores):
                    stack.enter_context(_capture_call(layer, store))
                outputs = self.model(x, training=training)
            for name, store in zip(self.layer_names, stores):
                if not store:
                    raise ValueError(
                        f"`layer_name`={name!r} was not called in the forward pass of "
                        f"{self.model.name!r}; it has no gradient path to the output."
                    )
                if len(store) > 1:
                    raise ValueError(
                        f"`layer_name`={name!r} is called {len(store)} times in one forward pass; "
                        "explain a layer that is used once."
                    )
            acts = [s[0] for s in stores]
        return outputs, (acts if self.multi else acts[0])
