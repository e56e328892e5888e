"""RES / GRADIA cost ratios.

1. Grad-CAM-supervised training step (RES-G term, batched CAM from the
   training forward pass) over the plain step: small CNN, batch 64, with
   ``detached`` (RES/GRADIA code semantics) and ``second_order`` CAM weights;
   the same for the GRADIA step.
   Foundation target: ≤ 1.3× for the supervised (detached) step.
2. Ours (batched CAM in the training pass) vs the original design (an extra
   per-sample forward + backward pass for every annotated image, as the
   authors' ``get_attention_map`` does), same loss.
3. The adaptive threshold: ``O(m log m)`` ``tf.sort``/``tf.searchsorted`` vs the
   ``O(m²)`` brute force (the authors' ``BF_solver`` design) at m = 256·49.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio, median_time
from keras_egl import _compat
from keras_egl._keras import keras, tf
from keras_egl.explain.grad_cam import cam_from_gradients
from keras_egl.explain.masks import resize_mask
from keras_egl.layers.imputation import GaussianImputation
from keras_egl.losses.res import RESLoss, adaptive_threshold, adaptive_threshold_bruteforce
from keras_egl.models.backbones import SMALL_CNN_LAYER, build_small_cnn
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.gradia import GRADIAModel
from keras_egl.terms.res import RESTerm

TITLE = "RES: Grad-CAM-supervised step vs plain step; batched vs per-sample CAM; O(m log m) threshold"


def _data(batch, size, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((batch, size, size, 3)).astype("float32")
    y = rng.integers(0, 2, batch)
    pos = np.zeros((batch, size, size), "float32")
    pos[:, 8:32, 8:32] = 1
    neg = np.zeros_like(pos)
    neg[:, 40:56, 40:56] = 1
    return {"x": x, "pos_mask": pos, "neg_mask": neg}, y


def _step_fn(egl, inputs, y):
    egl.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fn = _compat.train_function(egl)
    ds = iter(tf.data.Dataset.from_tensors((inputs, y)).repeat())
    return lambda: fn(ds)


def _per_sample_step(net, inputs, y, grid):
    """The original design: CE on the batch + a separate forward/backward per sample for its CAM."""
    from keras_egl.explain.activations import ActivationModel

    act = ActivationModel(net, SMALL_CNN_LAYER)
    opt = keras.optimizers.Adam(1e-3)
    loss_obj = RESLoss.preset("code")
    imp = GaussianImputation(3, output_size=grid)
    ce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = tf.constant(inputs["x"])
    pos, neg = tf.constant(inputs["pos_mask"]), tf.constant(inputs["neg_mask"])
    yt = tf.constant(y)
    n = x.shape[0]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            task = ce(yt, net(x, training=True))
            cams = []
            for i in range(n):  # one extra pass per annotated image, as get_attention_map
                with tf.GradientTape() as inner:
                    out, a = act(x[i:i + 1], training=True)
                    score = tf.reduce_sum(tf.gather(out, yt[i:i + 1], axis=1, batch_dims=1))
                g = inner.gradient(score, a)
                cams.append(cam_from_gradients(a, g, "detached", relu=False, normalize="minmax"))
            cam = tf.concat(cams, 0)
            p7, n7 = resize_mask(pos, grid, "nearest"), resize_mask(neg, grid, "nearest")
            loss = task + loss_obj(cam, p7, n7, imputed=imp(pos[..., None]))
        grads = tape.gradient(loss, net.trainable_variables)
        opt.apply_gradients(zip(grads, net.trainable_variables))
        return loss

    return step


def run(quick=False):
    rows = []
    batch, size = (16, 64) if quick else (64, 64)
    reps = dict(repeats=3, warmup=2, rounds=1) if quick else dict(repeats=10, warmup=3, rounds=3)
    inputs, y = _data(batch, size)

    def plain():
        net = build_small_cnn((size, size, 3), seed=0)
        return _step_fn(ExplanationGuidedModel(net, terms=[], explained_layer=None,
                                               extra_keys=("pos_mask", "neg_mask")), inputs, y)

    plain_fn = plain()
    for weights in ("detached", "second_order"):
        net = build_small_cnn((size, size, 3), seed=0)
        # The term builds its imputation layer when the model is constructed.
        egl = ExplanationGuidedModel(net, terms=[RESTerm(imputation="gaussian", cam_weights=weights)],
                                     explained_layer=SMALL_CNN_LAYER)
        sup_fn = _step_fn(egl, inputs, y)
        ratio, ta, tb = interleaved_ratio(sup_fn, plain_fn, **reps)
        rows.append(dict(name=f"RES-G step ({weights} CAM) / plain step", ratio=ratio, t_supervised=ta,
                         t_plain=tb, batch=batch, target="≤ 1.3" if weights == "detached" else "–"))
    # GRADIA: L1 to the area-blurred positive mask, detached CAM from the same pass.
    egl = GRADIAModel(build_small_cnn((size, size, 3), seed=0), SMALL_CNN_LAYER, explanation_metrics=[])
    ratio, ta, tb = interleaved_ratio(_step_fn(egl, inputs, y), plain_fn, **reps)
    rows.append(dict(name="GRADIA step (detached CAM) / plain step", ratio=ratio, t_supervised=ta, t_plain=tb,
                     batch=batch, target="≤ 1.3"))
    # Ours (batched, detached) vs the per-sample second-forward design.
    net = build_small_cnn((size, size, 3), seed=0)
    egl = ExplanationGuidedModel(net, terms=[RESTerm(imputation="gaussian")], explained_layer=SMALL_CNN_LAYER)
    ours = _step_fn(egl, inputs, y)
    orig = _per_sample_step(build_small_cnn((size, size, 3), seed=0), inputs, y, (size // 8, size // 8))
    ratio, ta, tb = interleaved_ratio(orig, ours, **reps)
    rows.append(dict(name="per-sample second-forward design / ours batched", ratio=ratio, t_original=ta,
                     t_ours=tb, batch=batch))
    # Threshold: brute force / ours at m = 256·49.
    m_side = 256 if not quick else 32
    rng = np.random.default_rng(0)
    cam = rng.random((m_side, 7, 7)).astype("float32")
    h = rng.choice([-1.0, 0.0, 1.0], size=(m_side, 7, 7), p=[0.3, 0.3, 0.4]).astype("float32")
    cam_t, h_t = tf.constant(cam), tf.constant(h)
    fast = tf.function(lambda: adaptive_threshold(cam_t, h_t))
    t_fast = median_time(lambda: fast().numpy(), repeats=10, warmup=2)
    t_bf = median_time(lambda: adaptive_threshold_bruteforce(cam, h), repeats=5 if not quick else 2, warmup=1)
    rows.append(dict(name=f"threshold brute force O(m²) / ours O(m log m), m={m_side}·49",
                     ratio=t_bf / t_fast, t_bruteforce=t_bf, t_ours=t_fast, target="≥ 50"))
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run(quick=False):
        print(r)
