"""Mixed precision on this CPU: an EGL step under mixed_bfloat16 / mixed_float16 vs float32.

The same small CNN (3 conv, batch 64, 32×32×3) trained with an input-gradient
term (``terms.get("rrr")``, double backprop) and a Grad-CAM term
(``terms.get("gradia")``); each ratio is ``time(step under the policy) /
time(float32 step)``, measured interleaved in one process. Explanations and
terms compute in float32 under every policy (see ``keras_egl.terms.core``), so
the ratio is what a user gets for the backbone in reduced precision. CPUs
without bfloat16/float16 units are expected to be slower, not faster.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio
from benchmarks.bench_core import _cnn
from keras_egl import _compat, keras, terms, tf
from keras_egl.models.base import ExplanationGuidedModel

TITLE = "mixed precision step vs float32 step (RRR and GRADIA terms, small CNN)"


def _step(policy, term, data):
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(0)
        egl = ExplanationGuidedModel(_cnn(), terms=[terms.get(term)], explained_layer="last_conv")
        egl.compile(keras.optimizers.SGD(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        step = _compat.train_function(egl)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    it = iter(tf.data.Dataset.from_tensors(data).repeat())
    return lambda: step(it)


def run(quick=False):
    repeats, rounds = (3, 1) if quick else (20, 3)
    rng = np.random.default_rng(0)
    x = rng.uniform(size=(64, 32, 32, 3)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    pos = np.zeros((64, 32, 32), np.float32)
    pos[:, 8:24, 8:24] = 1.0
    neg = np.zeros((64, 32, 32), np.float32)
    neg[:, :6, :6] = 1.0
    data = ({"x": x, "pos_mask": pos, "neg_mask": neg}, y)
    rows = []
    for term in ("rrr", "gradia"):
        base = _step("float32", term, data)
        for policy in ("mixed_bfloat16", "mixed_float16"):
            ratio, t_mp, t_32 = interleaved_ratio(_step(policy, term, data), base, repeats=repeats, rounds=rounds)
            rows.append(dict(name=f"{term}: {policy} / float32 (small CNN, b=64)", ratio=ratio,
                             policy_ms=1e3 * t_mp, float32_ms=1e3 * t_32))
    return rows
