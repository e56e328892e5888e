"""BEAN cost ratios: Laplacian vs pairwise penalty, and the BEAN training step vs a plain step.

* ``penalty laplacian/pairwise``: time of :func:`bean_penalty` (Laplacian /
  low-rank form) over the literal ``S×N×N`` form of the authors' code, with
  its gradient, at ``N = 400`` (LeNet-5 fc1 input), ``N_{l+1} = 120``,
  ``S = 100``; peak memory is the size of the largest intermediate tensor
  (analytic: TensorFlow exposes no allocator statistics on CPU).
* ``train step BEAN/plain``: one Adam step of LeNet-5 with BEAN-1 / BEAN-2 on
  its three dense layers over the same step without BEAN (target ≤ 1.5×), at
  batch 100 (full-data setting) and batch 1 (few-shot setting).
"""

from benchmarks._timing import interleaved_ratio
from keras_egl._keras import keras, tf
from keras_egl.models.bean import lenet5
from keras_egl.regularizers.bean import BEANRegularizer, bean_penalty, bean_penalty_pairwise

TITLE = "BEAN: Laplacian vs pairwise penalty; BEAN training step vs plain step (LeNet-5)"


def _penalty_rows(quick):
    s, n, m = 100, 400, 120
    h = tf.random.stateless_normal((s, n), seed=(0, 1))
    w = tf.Variable(tf.random.stateless_normal((n, m), seed=(0, 2)))
    rows = []
    for order in (1, 2):
        def make(fn):
            @tf.function
            def step():
                with tf.GradientTape() as tape:
                    tape.watch(h)
                    loss = fn(h, w, order=order, normalize=False)
                return tape.gradient(loss, [h, w])
            return step

        lap, pair = make(bean_penalty), make(bean_penalty_pairwise)
        ratio, t_lap, t_pair = interleaved_ratio(lap, pair, repeats=3 if quick else 10, warmup=1,
                                                 rounds=1 if quick else 3)
        bytes_pair = 4 * s * n * n * 2  # difference tensor and its square/product, S×N×N each
        bytes_lap = 4 * (s * m + n * m) if order == 1 else 4 * (n * n + s * n)
        rows.append(dict(name=f"penalty BEAN-{order} laplacian/pairwise (N=400, S=100)", ratio=ratio,
                         t_laplacian_s=t_lap, t_pairwise_s=t_pair, speedup=t_pair / t_lap,
                         peak_memory_ratio=bytes_lap / bytes_pair, peak_bytes_laplacian=bytes_lap,
                         peak_bytes_pairwise=bytes_pair, memory="analytic largest intermediate"))
    return rows


def _step_fn(model, x, y):
    opt = keras.optimizers.Adam(5e-4)
    opt.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = loss_fn(y, logits)
            if model.losses:
                loss = loss + tf.add_n(model.losses)
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return step


def _step_rows(quick):
    rows = []
    for batch in (100, 1):
        x = tf.random.stateless_uniform((batch, 28, 28, 1), seed=(1, batch))
        y = tf.random.stateless_uniform((batch,), seed=(2, batch), maxval=10, dtype=tf.int32)
        plain = _step_fn(lenet5(seed=0), x, y)
        for order, alpha in ((1, 1.0), (2, 100.0)):
            bean = _step_fn(lenet5(seed=0, bean=BEANRegularizer(alpha, order=order, normalize=False)), x, y)
            ratio, t_b, t_p = interleaved_ratio(bean, plain, repeats=5 if quick else 30, warmup=2,
                                                rounds=1 if quick else 3)
            rows.append(dict(name=f"train step BEAN-{order}/plain (LeNet-5, batch {batch})", ratio=ratio,
                             t_bean_s=t_b, t_plain_s=t_p, target="<= 1.5"))
    return rows


def run(quick=False):
    return _penalty_rows(quick) + _step_rows(quick)


if __name__ == "__main__":
    import sys

    for row in run(quick="--quick" in sys.argv):
        print(row)
