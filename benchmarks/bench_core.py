"""Foundation cost ratios: an explanation-guided step vs the plain step of the same model.

* input-gradient penalty (RRR-style, double backprop), MLP 784-50-30-10, batch 256;
* Grad-CAM supervision of the last conv layer, small CNN, batch 64, with
  detached and second-order channel weights.

Each ratio is ``time(EGL train step) / time(plain train step)``, both compiled
``tf.function`` train steps of ``ExplanationGuidedModel`` (the plain one has no
terms), measured interleaved in one process.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio
from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.models.base import ExplanationGuidedModel, ExplanationTerm

TITLE = "EGL step vs plain step (input-gradient penalty; Grad-CAM supervision)"


class _InputGradientPenalty(ExplanationTerm):
    default_name = "right_reasons"
    required_annotations = ("neg_mask",)  # A: the wrong reasons

    def compute(self, ctx):
        g = ctx.input_gradients("sum_log_prob")
        return tf.reduce_sum(tf.square(tf.cast(ctx.annotation("neg_mask"), g.dtype) * g))


class _CamL1(ExplanationTerm):
    default_name = "cam_l1"
    required_annotations = ("pos_mask",)  # the right reasons

    def __init__(self, cam_weights="detached", **kw):
        super().__init__(**kw)
        self.cam_weights = cam_weights  # not `weights`: a Keras layer's read-only property

    def compute(self, ctx):
        cam = ctx.grad_cam(target="true", cam_weights=self.cam_weights)
        return tf.reduce_mean(tf.abs(cam - tf.cast(ctx.annotation("pos_mask"), cam.dtype)))


def _mlp():
    inp = keras.Input((784,))
    h = keras.layers.Dense(50, activation="relu")(inp)
    h = keras.layers.Dense(30, activation="relu")(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def _cnn():
    inp = keras.Input((32, 32, 3))
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(inp)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D()(h)
    h = keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="last_conv")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def _step_fn(builder, terms, layer, inputs, y):
    keras.utils.set_random_seed(0)
    # The plain model (no terms) receives the same input dict: allow the annotation keys.
    egl = ExplanationGuidedModel(builder(), terms=terms, explained_layer=layer,
                                 extra_keys=("neg_mask", "pos_mask"))
    egl.compile(keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    step = _compat.train_function(egl)
    data = tf.data.Dataset.from_tensors((inputs, y)).repeat()
    it = iter(data)
    return lambda: step(it)


def run(quick=False):
    repeats, rounds = (5, 1) if quick else (30, 3)
    rng = np.random.default_rng(0)
    rows = []

    x = tf.constant(rng.uniform(size=(256, 784)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 256))
    mask = tf.constant((rng.uniform(size=(256, 784)) > 0.9).astype(np.float32))
    plain = _step_fn(_mlp, [], None, {"x": x, "neg_mask": mask}, y)
    egl = _step_fn(_mlp, [_InputGradientPenalty(weight=1.0)], None, {"x": x, "neg_mask": mask}, y)
    ratio, t_egl, t_plain = interleaved_ratio(egl, plain, repeats=repeats, rounds=rounds)
    rows.append(dict(name="input-gradient penalty / plain (MLP 784-50-30-10, b=256)", ratio=ratio,
                     egl_ms=1e3 * t_egl, plain_ms=1e3 * t_plain, target="<= 2.0"))

    x = tf.constant(rng.uniform(size=(64, 32, 32, 3)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, 64))
    mask = tf.constant((rng.uniform(size=(64, 8, 8)) > 0.7).astype(np.float32))
    plain = _step_fn(_cnn, [], "last_conv", {"x": x, "pos_mask": mask}, y)
    for weights in ("detached", "second_order"):
        egl = _step_fn(_cnn, [_CamL1(weights)], "last_conv", {"x": x, "pos_mask": mask}, y)
        ratio, t_egl, t_plain = interleaved_ratio(egl, plain, repeats=repeats, rounds=rounds)
        rows.append(dict(name=f"Grad-CAM supervision ({weights}) / plain (small CNN, b=64)", ratio=ratio,
                         egl_ms=1e3 * t_egl, plain_ms=1e3 * t_plain,
                         target="<= 1.3" if weights == "detached" else "(reported)"))
    return rows
