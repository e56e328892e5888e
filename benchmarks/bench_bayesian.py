"""Cost of Bekkemoen's feedback-as-evidence training step.

Rows:

* ``feedback step / plain ELBO step`` — one ``BayesianFeedbackModel``
  training step with a feedback mask (mask pass with its first-order backward,
  clamped pass, density term) over the same step without a mask.
* ``ours m=4 (tiled) / original-style m=4 (loop)`` — our step draws the ``m``
  MC samples in one pass over the batch tiled ``m`` times; the original-style
  design (the 2024 code's ``for i in range(num_samples)`` loop) runs ``m``
  separate passes, each with its own mask pass.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio
from keras_egl._keras import keras, tf
from keras_egl.models.bayesian import BayesianFeedbackModel, bayesian_lenet

TITLE = "Bayesian explanation feedback (Bekkemoen 2021): feedback ELBO step vs plain ELBO step, tiled vs looped MC"


def _model(m):
    net = bayesian_lenet(seed=0)
    model = BayesianFeedbackModel(net, "conv3", n_train=1000, mc_samples=m)
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def _looped_step(model, m):
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    opt = keras.optimizers.Adam(1e-3)

    @tf.function
    def step(x, mask, y):
        with tf.GradientTape() as tape:
            nll, fb = 0.0, 0.0
            for _ in range(m):  # original style: one full pass per MC sample
                logits, f = model.mc_forward(x, mask, m=1, training=True)
                nll += loss_fn(y, logits) / m
                fb += tf.reduce_mean(f) / m
            total = nll + tf.add_n(model.model.losses) + fb
        grads = tape.gradient(total, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return total

    return step


def run(quick=False):
    b = 16 if quick else 64
    repeats = 3 if quick else 10
    rng = np.random.default_rng(0)
    x = tf.constant(rng.random((b, 28, 28, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, b))
    mask = np.zeros((b, 28, 28), "float32")
    mask[:, :4, :4] = 1
    mask = tf.constant(mask)
    rows = []

    model = _model(1)
    step = tf.function(lambda inputs, labels: model.train_step((inputs, labels)))
    fb = lambda: step({"x": x, "neg_mask": mask}, y)  # noqa: E731
    plain = lambda: step({"x": x}, y)  # noqa: E731
    ratio, ta, tb = interleaved_ratio(fb, plain, repeats=repeats, warmup=2, rounds=2 if quick else 3)
    rows.append(dict(name="feedback step / plain ELBO step (m=1)", ratio=ratio, feedback_s=ta, plain_s=tb, batch=b))

    m = 4
    model4 = _model(m)
    step4 = tf.function(lambda inputs, labels: model4.train_step((inputs, labels)))
    ours = lambda: step4({"x": x, "neg_mask": mask}, y)  # noqa: E731
    looped = _looped_step(model4, m)
    orig = lambda: looped(x, mask, y)  # noqa: E731
    ratio, ta, tb = interleaved_ratio(ours, orig, repeats=repeats, warmup=2, rounds=2 if quick else 3)
    rows.append(dict(name="ours m=4 tiled / original-style m=4 looped", ratio=ratio, ours_s=ta, original_s=tb,
                     batch=b))
    return rows
