"""``penalty_gradient="finite_difference"`` of the input-gradient penalty terms.

The finite-difference route must give the exact penalty *value* and a
parameter gradient close to the exact (double-backprop) one on smooth
networks in float32 — the issue's targets: cosine ≥ 0.99 and relative norm
error ≤ 5 % on a CNN with BatchNorm in training mode, cosine ≥ 0.999 and
≤ 1 % on an MLP — on smooth networks and, because the perturbed pass replays
the step's ReLU / max-pool selection, on ReLU / max-pool networks too (without
the replay the float32 difference picks up the kinks it crosses: a negative
control checks that). Float64 with a tiny step checks the exact path itself.
Stochastic layers must replay their noise in the perturbed pass and BatchNorm
moving statistics must move once per step.
"""

import math

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.terms import penalty_gradient as pg
from keras_egl.terms.feedback import InputGradientFeedback
from keras_egl.terms.rrr import RightReasonsTerm
from keras_egl import KERAS_3
from keras_egl._compat import gradients

FD = "finite_difference"
CE = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


# ---------------------------------------------------------------- helpers
def _mlp(act="softplus", dim=784, dropout=None):
    """784-50-30-10; ``dropout``: a factory of the noise layer put after the first hidden layer."""
    inp = keras.Input((dim,))
    h = keras.layers.Dense(50, activation=act)(inp)
    if dropout is not None:
        h = dropout()(h)
    h = keras.layers.Dense(30, activation=act)(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def _cnn(act="softplus", size=16, pool="avg", dropout=None):
    """3 × (conv3×3 + BatchNorm + activation + pooling), GAP, dense."""
    Pool = keras.layers.AveragePooling2D if pool == "avg" else keras.layers.MaxPooling2D
    inp = keras.Input((size, size, 3))
    h = inp
    for filters in (8, 16, 16):
        h = keras.layers.Conv2D(filters, 3, padding="same")(h)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.ReLU()(h) if act == "relu" else keras.layers.Activation(act)(h)
        if dropout is not None:
            h = dropout()(h)  # a new layer per block
        h = Pool(2)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def _mlp_batch(n=64, dim=784, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, dim)).astype(dtype)
    mask = (rng.uniform(size=(n, dim)) > 0.5).astype(dtype)
    return x, mask, rng.integers(0, 10, n)


def _image_batch(n=32, size=16, seed=0, dtype="float32"):
    rng = np.random.default_rng(seed)
    x = rng.uniform(size=(n, size, size, 3)).astype(dtype)
    mask = (rng.uniform(size=(n, size, size)) > 0.7).astype(dtype)
    return x, mask, rng.integers(0, 10, n)


def _flat(grads):
    return np.concatenate([np.reshape(np.asarray(g, dtype=np.float64), [-1]) for g in grads])


def _penalty_gradient(builder, batch, term, seed=0, training=True):
    """(θ-gradient of the term, term value) for one forward pass of a freshly seeded backbone."""
    x, mask, y = batch
    keras.utils.set_random_seed(seed)
    backbone = builder()
    egl = ExplanationGuidedModel(backbone, terms=[term], extra_keys=("neg_mask",))
    egl.compile("sgd", CE)
    keras.utils.set_random_seed(seed + 1)
    with tf.GradientTape() as tape:
        _, ctx = egl.forward({"x": tf.constant(x), "neg_mask": tf.constant(mask)}, tf.constant(y),
                             training=training)
        value = term(ctx)
    grads = gradients(tape, value, backbone.trainable_variables)
    return _flat(grads), float(value)


def _cos_rel(exact, approx):
    cos = float(exact @ approx / (np.linalg.norm(exact) * np.linalg.norm(approx)))
    rel = float(np.linalg.norm(approx - exact) / np.linalg.norm(exact))
    return cos, rel


def _compare(builder, batch, cls=RightReasonsTerm, fd_step=pg.DEFAULT_FD_STEP, **kwargs):
    g_exact, v_exact = _penalty_gradient(builder, batch, cls(**kwargs))
    g_fd, v_fd = _penalty_gradient(builder, batch, cls(penalty_gradient=FD, fd_step=fd_step, **kwargs))
    assert np.linalg.norm(g_exact) > 0.0
    cos, rel = _cos_rel(g_exact, g_fd)
    return cos, rel, v_exact, v_fd


@pytest.fixture
def float64():
    # The global policy wins over floatx once any test has set one (the mixed-precision
    # tests restore "float32" explicitly): set both, restore both.
    policy = keras.mixed_precision.global_policy()
    keras.backend.set_floatx("float64")
    keras.mixed_precision.set_global_policy("float64")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(policy)
        keras.backend.set_floatx("float32")


@pytest.fixture(scope="module")
def mlp_batch():
    return _mlp_batch()


@pytest.fixture(scope="module")
def image_batch():
    return _image_batch()


# ------------------------------------------------ 1. accuracy on a smooth MLP
@pytest.mark.parametrize("act, cls, kwargs", [
    ("softplus", RightReasonsTerm, dict(lambda1=1.0)),
    ("softplus", RightReasonsTerm, dict(lambda1=1.0, norm="l1")),
    ("softplus", RightReasonsTerm, dict(lambda1=1.0, target="pred")),
    ("softplus", RightReasonsTerm, dict(lambda1=1.0, target="max_prob")),
    ("softplus", RightReasonsTerm, dict(lambda1=1.0, target="max_log_prob")),
    ("softplus", RightReasonsTerm, dict(lambda1=1.0, target="true")),
    ("softplus", RightReasonsTerm, dict(lambda1=1.0, reduction="sum", certainty=True)),
    ("tanh", RightReasonsTerm, dict(lambda1=1.0)),
    ("softplus", InputGradientFeedback, dict(weight=1.0)),
    ("softplus", InputGradientFeedback, dict(weight=1.0, target="pred", quantity="log_prob")),
], ids=["l2", "l1", "pred", "max_prob", "max_log_prob", "true", "certainty_sum", "tanh",
        "feedback", "feedback_pred_logprob"])
def test_mlp_finite_difference_matches_exact(mlp_batch, act, cls, kwargs):
    cos, rel, v_exact, v_fd = _compare(lambda: _mlp(act), mlp_batch, cls, **kwargs)
    print(f"MLP {act} {cls.__name__} {kwargs}: cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.999, (cos, rel)
    assert rel <= 0.01, (cos, rel)
    # The two routes really are different computations (the estimate is not bit-identical).
    assert rel > 1e-7
    assert v_fd == v_exact


def test_fd_step_is_used(mlp_batch):
    """A 100× larger τ has a clearly larger truncation error (the step reaches the difference)."""
    _, rel_small, _, _ = _compare(_mlp, mlp_batch, lambda1=1.0, fd_step=1e-3)
    _, rel_large, _, _ = _compare(_mlp, mlp_batch, lambda1=1.0, fd_step=0.1)
    print(f"fd_step 1e-3 rel={rel_small:.5f}, 0.1 rel={rel_large:.5f}")
    assert rel_large > 5 * rel_small


# ------------------------------------- 2. smooth CNN with BatchNorm (training)
@pytest.mark.parametrize("act", ["softplus", "swish"])
def test_smooth_cnn_with_batchnorm_matches_exact(image_batch, act):
    cos, rel, _, _ = _compare(lambda: _cnn(act), image_batch, lambda1=1.0)
    print(f"CNN+BN {act}: cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.99, (cos, rel)
    assert rel <= 0.05, (cos, rel)


def test_smooth_cnn_feedback_matches_exact(image_batch):
    cos, rel, _, _ = _compare(lambda: _cnn("tanh"), image_batch, InputGradientFeedback, weight=1.0)
    print(f"CNN+BN tanh feedback: cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.99, (cos, rel)
    assert rel <= 0.05, (cos, rel)


# ------------------------------- 3. ReLU + max-pool CNN in float64, tiny step
def test_relu_maxpool_cnn_float64_matches_exact(float64):
    """Float64 (unfused BatchNorm) at a tiny step: the two routes agree to the step's truncation error."""
    batch = _image_batch(n=16, dtype="float64")
    cos, rel, v_exact, v_fd = _compare(lambda: _cnn("relu", pool="max"), batch, lambda1=1.0,
                                       fd_step=1e-6)
    print(f"CNN+BN relu/maxpool float64 τ=1e-6: cos={cos:.8f} rel={rel:.2e}")
    assert keras.backend.floatx() == "float64"
    assert keras.mixed_precision.global_policy().compute_dtype == "float64"
    assert cos >= 0.99999 and rel <= 1e-4, (cos, rel)
    # The value is P(g) on the same g; only summation order may differ.
    assert v_fd == pytest.approx(v_exact, rel=1e-6)


def _unfused_bn():
    # tf_keras: the unfused kernel (the fused one's second derivative is complete);
    # Keras 3 has only one BatchNormalization, which takes its moments like tf_keras's unfused one.
    return keras.layers.BatchNormalization() if KERAS_3 else keras.layers.BatchNormalization(fused=False)


def _unfused_bn_cnn():
    inp = keras.Input((16, 16, 3))
    h = inp
    for filters in (8, 16):
        h = keras.layers.Conv2D(filters, 3, padding="same")(h)
        h = keras.layers.ReLU()(_unfused_bn()(h))
        h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.ReLU()(keras.layers.BatchNormalization()(keras.layers.Dense(16)(h)))  # rank 2: unfused
    return keras.Model(inp, keras.layers.Dense(10)(h))


def test_exact_path_through_unfused_batchnorm_is_complete(monkeypatch):
    """tf.nn.moments stops the mean's gradient inside the variance; the exact term restores it."""
    batch = _image_batch(n=16)
    cos, rel, _, _ = _compare(_unfused_bn_cnn, batch, lambda1=1.0)
    print(f"unfused BN, exact (complete moments) vs FD: cos={cos:.6f} rel={rel:.4f}")
    assert cos >= 0.99 and rel <= 0.05, (cos, rel)
    monkeypatch.setattr(pg, "complete_batchnorm_moments", lambda model: None)
    cos_tf, rel_tf, _, _ = _compare(_unfused_bn_cnn, batch, lambda1=1.0)
    print(f"unfused BN, TensorFlow's moments vs FD: cos={cos_tf:.6f} rel={rel_tf:.4f}")
    assert rel_tf > 2 * rel, (rel_tf, rel)


def test_complete_moments_keep_values_and_first_derivatives():
    keras.utils.set_random_seed(0)
    x = tf.constant(np.random.default_rng(0).normal(size=(8, 6, 6, 3)).astype("float32"))
    outs, grads = [], []
    for patch in (False, True):
        keras.utils.set_random_seed(0)
        layer = _unfused_bn()
        layer.build(x.shape)
        if patch:
            pg.complete_batchnorm_moments(layer)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.sin(y))
        outs.append(y.numpy())
        grads.append(tape.gradient(loss, x).numpy())
        moving = layer.moving_variance.numpy()
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-4, atol=1e-5)
    assert np.all(np.isfinite(moving))


def _issue_cnn():
    """The issue's network: 3 × (conv3×3 + BN + ReLU + max-pool) with 32/64/64 filters, GAP, dense."""
    inp = keras.Input((32, 32, 3))
    h = inp
    for filters in (32, 64, 64):
        h = keras.layers.Conv2D(filters, 3, padding="same")(h)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.ReLU()(h)
        h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(10)(h))


def _residual():
    """Conv(activation="relu") stem, a residual block with Add + LeakyReLU, strided max-pool."""
    inp = keras.Input((16, 16, 3))
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    s = h
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(8, 3, padding="same")(h))
    h = keras.layers.LeakyReLU(0.1)(keras.layers.Add()([h, s]))
    h = keras.layers.MaxPooling2D(3, strides=2, padding="same")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inp, keras.layers.Dense(10)(keras.layers.Dense(16, activation="relu")(h)))


def test_relu_maxpool_cnn_with_batchnorm_float32_matches_exact():
    """The issue's bar: cosine ≥ 0.99, relative error ≤ 5 % on its CNN, BN in training mode, float32."""
    batch = _image_batch(n=32, size=32)
    cos, rel, v_exact, v_fd = _compare(_issue_cnn, batch, lambda1=1.0)
    print(f"issue CNN (ReLU, max-pool, BN) float32: cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.99 and rel <= 0.05, (cos, rel)
    assert v_fd == pytest.approx(v_exact, rel=1e-6)


def test_relu_activation_residual_leaky_overlapping_pool_matches_exact():
    cos, rel, _, _ = _compare(_residual, _image_batch(n=16), lambda1=1.0)
    print(f"residual (relu activation, LeakyReLU, overlapping max-pool): cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.99 and rel <= 0.05, (cos, rel)


def test_rrr_mlp_relu_matches_exact_tighter(mlp_batch):
    from keras_egl.models.rrr import rrr_mlp

    cos, rel, _, _ = _compare(lambda: rrr_mlp((784,), 10, seed=0), mlp_batch, lambda1=1.0)
    print(f"RRR MLP (ReLU) float32: cos={cos:.7f} rel={rel:.5f}")
    assert cos >= 0.999 and rel <= 0.01, (cos, rel)


def test_without_selection_replay_relu_estimate_is_wrong(monkeypatch):
    """Replaying the ReLU/max-pool selection is what makes the ReLU CNN agree (the check can fail)."""
    monkeypatch.setattr(pg, "_kind", lambda layer: None)
    cos, rel, _, _ = _compare(lambda: _cnn("relu", pool="max"), _image_batch(n=16), lambda1=1.0)
    print(f"ReLU CNN without replay: cos={cos:.4f} rel={rel:.3f}")
    assert cos < 0.95, (cos, rel)


def test_spatial_dropout_shared_across_shapes(image_batch):
    """One SpatialDropout2D instance reused after blocks of different shapes replays each call."""
    keras.utils.set_random_seed(0)
    drop = keras.layers.SpatialDropout2D(0.3)
    inp = keras.Input((16, 16, 3))
    h = drop(keras.layers.Conv2D(8, 3, padding="same", activation="softplus")(inp))
    h = keras.layers.AveragePooling2D(2)(h)
    h = drop(keras.layers.Conv2D(16, 3, padding="same", activation="softplus")(h))
    h = keras.layers.GlobalAveragePooling2D()(h)
    backbone = keras.Model(inp, keras.layers.Dense(10)(h))
    cos, rel = _same_pass_gradients(backbone, image_batch)
    assert cos >= 0.99 and rel <= 0.05, (cos, rel)


# ------------------------------------------------- 4. the value stays exact
def test_value_equals_exact_value(image_batch):
    _, v_exact = _penalty_gradient(lambda: _cnn("softplus"), image_batch, RightReasonsTerm(lambda1=3.0))
    _, v_fd = _penalty_gradient(lambda: _cnn("softplus"), image_batch,
                                RightReasonsTerm(lambda1=3.0, penalty_gradient=FD))
    assert v_exact > 0.0
    assert v_fd == pytest.approx(v_exact, rel=1e-6)


def test_zero_mask_gives_zero_value_and_finite_zero_gradient(mlp_batch):
    x, mask, y = mlp_batch
    grads, value = _penalty_gradient(_mlp, (x, np.zeros_like(mask), y),
                                     RightReasonsTerm(lambda1=1.0, penalty_gradient=FD))
    assert value == 0.0
    assert np.all(np.isfinite(grads)) and np.all(grads == 0.0)


# -------------------------------------------------- 5. MirroredStrategy step
def test_mirrored_strategy_update_matches_exact(mirrored_strategy):
    strategy = mirrored_strategy
    assert strategy.num_replicas_in_sync == 2
    x, mask, y = _mlp_batch(n=32, seed=3)

    def step(terms):
        with strategy.scope():
            keras.utils.set_random_seed(0)
            backbone = _mlp("softplus")
            egl = ExplanationGuidedModel(backbone, terms=terms, extra_keys=("neg_mask",))
            egl.compile(keras.optimizers.SGD(0.1), CE)
        logs = egl.train_on_batch({"x": x, "neg_mask": mask}, y, return_dict=True)
        return _flat(backbone.get_weights()), logs

    w_plain, _ = step([])
    w_exact, logs_exact = step([RightReasonsTerm(lambda1=1.0)])
    w_fd, logs_fd = step([RightReasonsTerm(lambda1=1.0, penalty_gradient=FD)])
    cos, rel = _cos_rel(w_exact - w_plain, w_fd - w_plain)
    print(f"MirroredStrategy penalty update: cos={cos:.6f} rel={rel:.5f}")
    assert np.linalg.norm(w_exact - w_plain) > 1e-3
    assert cos >= 0.99, (cos, rel)
    assert rel <= 0.05, (cos, rel)
    assert logs_fd["right_reasons"] == pytest.approx(logs_exact["right_reasons"], rel=1e-5)
    assert logs_fd["task_loss"] == pytest.approx(logs_exact["task_loss"], rel=1e-5)


def test_mirrored_strategy_dropout_replay_per_replica(mirrored_strategy):
    """The layers' remembered noise is shared Python state: each replica must still replay its own."""
    strategy = mirrored_strategy
    x, mask, y = _mlp_batch(n=32, seed=4)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        backbone = _mlp(dropout=lambda: keras.layers.Dropout(0.5))
        exact = RightReasonsTerm(lambda1=1.0)
        fd = RightReasonsTerm(lambda1=1.0, penalty_gradient=FD, name="fd")
        egl = ExplanationGuidedModel(backbone, terms=[fd], extra_keys=("neg_mask",))
    data = tf.data.Dataset.from_tensor_slices(({"x": x, "neg_mask": mask}, y)).batch(32)

    def replica_cos(inputs, labels):
        with tf.GradientTape(persistent=True) as tape:
            _, ctx = egl.forward(inputs, labels, training=True)
            v_exact, v_fd = exact(ctx), fd(ctx)
        flat = [tf.concat([tf.reshape(g, [-1]) for g in gradients(tape, v, backbone.trainable_variables)], 0)
                for v in (v_exact, v_fd)]
        return tf.reduce_sum(flat[0] * flat[1]) / (tf.norm(flat[0]) * tf.norm(flat[1]))

    @tf.function
    def step(batch):
        return strategy.experimental_local_results(strategy.run(replica_cos, args=batch))

    (batch,) = list(strategy.experimental_distribute_dataset(data))
    cosines = [float(c) for c in step(batch)]
    print(f"MirroredStrategy dropout replay per replica: {cosines}")
    assert len(cosines) == 2
    assert min(cosines) >= 0.99, cosines


# ------------------------------------------------------- 6. noise replay
def _same_pass_gradients(backbone, batch):
    """Exact and FD gradients read from ONE forward pass (same noise draws)."""
    x, mask, y = batch
    exact = RightReasonsTerm(lambda1=1.0)
    fd = RightReasonsTerm(lambda1=1.0, penalty_gradient=FD, name="fd")
    egl = ExplanationGuidedModel(backbone, terms=[fd], extra_keys=("neg_mask",))  # attaches fd
    with tf.GradientTape(persistent=True) as tape:
        _, ctx = egl.forward({"x": tf.constant(x), "neg_mask": tf.constant(mask)}, tf.constant(y),
                             training=True)
        v_exact, v_fd = exact(ctx), fd(ctx)
    g_exact = _flat(gradients(tape, v_exact, backbone.trainable_variables))
    g_fd = _flat(gradients(tape, v_fd, backbone.trainable_variables))
    assert float(v_fd) == float(v_exact)
    return _cos_rel(g_exact, g_fd)


_NOISE_LAYERS = {
    "dropout": lambda: _mlp(dropout=lambda: keras.layers.Dropout(0.5)),
    "gaussian_dropout": lambda: _mlp(dropout=lambda: keras.layers.GaussianDropout(0.3)),
    "gaussian_noise": lambda: _mlp(dropout=lambda: keras.layers.GaussianNoise(0.5)),
    "spatial_dropout2d": lambda: _cnn(dropout=lambda: keras.layers.SpatialDropout2D(0.3)),
}


@pytest.mark.parametrize("kind", sorted(_NOISE_LAYERS))
def test_stochastic_layers_replay_their_noise(mlp_batch, image_batch, kind):
    keras.utils.set_random_seed(0)
    backbone = _NOISE_LAYERS[kind]()
    cos, rel = _same_pass_gradients(backbone, image_batch if "2d" in kind else mlp_batch)
    print(f"{kind} replay: cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.99, (cos, rel)


def test_shared_dropout_layer_replays_each_call_site(mlp_batch):
    """One Dropout instance applied twice (common in subclassed models)."""
    keras.utils.set_random_seed(0)
    drop = keras.layers.Dropout(0.5)
    inp = keras.Input((784,))
    h = drop(keras.layers.Dense(50, activation="softplus")(inp))
    h = drop(keras.layers.Dense(50, activation="softplus")(h))
    backbone = keras.Model(inp, keras.layers.Dense(10)(h))
    cos, rel = _same_pass_gradients(backbone, mlp_batch)
    print(f"shared dropout replay: cos={cos:.6f} rel={rel:.5f}")
    assert cos >= 0.99, (cos, rel)


def test_without_replay_the_estimate_is_wrong(mlp_batch, monkeypatch):
    """Negative control: a perturbed pass with fresh dropout masks is meaningless."""
    keras.utils.set_random_seed(0)
    backbone = _mlp(dropout=lambda: keras.layers.Dropout(0.5))
    ExplanationGuidedModel(backbone, terms=[RightReasonsTerm(penalty_gradient=FD)])  # patches the layer
    monkeypatch.setattr(pg, "install_replay", lambda model: [])
    cos, rel = _same_pass_gradients(backbone, mlp_batch)
    print(f"dropout without replay: cos={cos:.6f} rel={rel:.5f}")
    assert cos < 0.9


def test_patched_layers_keep_their_semantics():
    keras.utils.set_random_seed(0)
    drop, gdrop, noise = keras.layers.Dropout(0.5), keras.layers.GaussianDropout(0.3), \
        keras.layers.GaussianNoise(0.5)
    inp = keras.Input((4000,))
    backbone = keras.Model(inp, keras.layers.Dense(10)(noise(gdrop(drop(inp)))))
    # Attached twice (two models on one backbone): patched once, not twice.
    for _ in range(2):
        ExplanationGuidedModel(backbone, terms=[RightReasonsTerm(penalty_gradient=FD)])
    for layer in (drop, gdrop, noise):
        assert layer._egl_replay_installed
    ones = tf.ones((4, 4000))

    out = drop(ones, training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert 0.45 < np.mean(out == 0.0) < 0.55
    np.testing.assert_array_equal(drop(ones, training=False).numpy(), ones.numpy())
    assert not np.array_equal(out, drop(ones, training=True).numpy())  # a fresh mask per call

    out = gdrop(ones, training=True).numpy()
    assert abs(out.mean() - 1.0) < 0.05
    assert abs(out.std() - math.sqrt(0.3 / 0.7)) < 0.05
    np.testing.assert_array_equal(gdrop(ones, training=False).numpy(), ones.numpy())

    out = noise(ones, training=True).numpy() - 1.0
    assert abs(out.mean()) < 0.05 and abs(out.std() - 0.5) < 0.05
    np.testing.assert_array_equal(noise(ones, training=False).numpy(), ones.numpy())


def test_unattached_fd_term_with_dropout_raises(mlp_batch):
    x, mask, y = mlp_batch
    keras.utils.set_random_seed(0)
    backbone = _mlp(dropout=lambda: keras.layers.Dropout(0.5))
    egl = ExplanationGuidedModel(backbone, terms=[RightReasonsTerm()], extra_keys=("neg_mask",))
    fd = RightReasonsTerm(penalty_gradient=FD, name="fd")  # never attached
    _, ctx = egl.forward({"x": x, "neg_mask": mask}, y, training=True)
    with pytest.raises(RuntimeError, match="attach"):
        fd(ctx)


# ------------------------------------------ 7. BatchNorm statistics move once
def test_batchnorm_moving_statistics_move_once(monkeypatch):
    x, mask, y = _image_batch(n=16, seed=1)

    def moving_stats(term):
        keras.utils.set_random_seed(0)
        backbone = _cnn("softplus")
        egl = ExplanationGuidedModel(backbone, terms=[term], extra_keys=("neg_mask",))
        egl.compile(keras.optimizers.SGD(0.1), CE)
        egl.train_on_batch({"x": x, "neg_mask": mask}, y)
        return [v.numpy() for layer in backbone.layers if isinstance(layer, keras.layers.BatchNormalization)
                for v in (layer.moving_mean, layer.moving_variance)]

    exact = moving_stats(RightReasonsTerm(lambda1=1.0))
    fd = moving_stats(RightReasonsTerm(lambda1=1.0, penalty_gradient=FD))
    assert len(exact) == 6
    assert max(float(np.max(np.abs(a))) for a in exact[::2]) > 1e-3  # the means did move
    for a, b in zip(exact, fd):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-8)

    # Negative control: without the restore the perturbed pass updates them a second time.
    class NoRestore(pg._Replaying):
        def __init__(self, model, stochastic):
            super().__init__(model, stochastic)
            self.moving = []

    monkeypatch.setattr(pg, "_Replaying", NoRestore)
    twice = moving_stats(RightReasonsTerm(lambda1=1.0, penalty_gradient=FD))
    assert not all(np.allclose(a, b, rtol=1e-6, atol=1e-8) for a, b in zip(exact, twice))


# ------------------------------------------------------------ 8. refusals
def test_alpha_dropout_is_refused_at_construction():
    inp = keras.Input((20,))
    h = keras.layers.AlphaDropout(0.2, name="my_alpha")(keras.layers.Dense(16, activation="selu")(inp))
    backbone = keras.Model(inp, keras.layers.Dense(3)(h))
    with pytest.raises(ValueError, match="finite_difference") as info:
        ExplanationGuidedModel(backbone, terms=[RightReasonsTerm(penalty_gradient=FD)])
    assert "my_alpha" in str(info.value)
    with pytest.raises(ValueError, match="my_alpha"):
        ExplanationGuidedModel(backbone, terms=[InputGradientFeedback(penalty_gradient=FD)])
    ExplanationGuidedModel(backbone, terms=[RightReasonsTerm()])  # the exact route accepts it


def test_mixed_precision_is_refused_on_first_step():
    x, mask, y = _mlp_batch(n=8, dim=20)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(0)
        backbone = _mlp(dim=20)
        egl = ExplanationGuidedModel(backbone, terms=[RightReasonsTerm(penalty_gradient=FD)],
                                     extra_keys=("neg_mask",))
        egl.compile(keras.optimizers.SGD(0.01), CE)
        with pytest.raises(ValueError, match="penalty_gradient"):
            egl.train_on_batch({"x": x, "neg_mask": mask}, y)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert keras.mixed_precision.global_policy().name == "float32"


# ------------------------------------------------------- 9. bad arguments
@pytest.mark.parametrize("cls", [RightReasonsTerm, InputGradientFeedback])
def test_bad_arguments(cls):
    for bad in ("fd", "Exact", None, "finite-difference"):
        with pytest.raises(ValueError, match="penalty_gradient"):
            cls(penalty_gradient=bad)
    for bad in (0, 0.0, -1, 0.5, 0.1000001, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="fd_step"):
            cls(penalty_gradient=FD, fd_step=bad)
    for bad in ("x", None, True, [1e-3]):
        with pytest.raises(TypeError, match="fd_step"):
            cls(penalty_gradient=FD, fd_step=bad)
    assert cls(penalty_gradient=FD, fd_step=0.1).fd_step == 0.1  # the upper bound is allowed
    assert cls(penalty_gradient=FD, fd_step=1e-9).fd_step == 1e-9
    term = cls()
    assert (term.penalty_gradient, term.fd_step) == ("exact", 1e-3)


# ------------------------------------------------ 10. config round trip, fit
@pytest.mark.parametrize("cls", [RightReasonsTerm, InputGradientFeedback])
@pytest.mark.parametrize("fd_step", [pg.DEFAULT_FD_STEP, 2.5e-3])
def test_config_round_trip(cls, fd_step):
    term = cls(penalty_gradient=FD, fd_step=fd_step)
    clone = cls.from_config(term.get_config())
    assert clone.penalty_gradient == FD
    assert clone.fd_step == fd_step
    assert clone.get_config() == term.get_config()
    exact = cls.from_config(cls().get_config())
    assert (exact.penalty_gradient, exact.fd_step) == ("exact", pg.DEFAULT_FD_STEP)


def test_model_config_round_trip_and_fit():
    x, mask, y = _mlp_batch(n=32, dim=40, seed=5)
    keras.utils.set_random_seed(0)
    egl = ExplanationGuidedModel(_mlp(dim=40, dropout=lambda: keras.layers.Dropout(0.2)),
                                 terms=[RightReasonsTerm(lambda1=0.1, penalty_gradient=FD, fd_step=2e-3)])
    egl.compile(keras.optimizers.SGD(0.01), CE)
    before = egl.get_weights()
    history = egl.fit({"x": x, "neg_mask": mask}, y, batch_size=16, epochs=2, verbose=0).history
    assert len(history["loss"]) == 2
    for key in ("loss", "task_loss", "right_reasons"):
        assert np.all(np.isfinite(history[key])), (key, history[key])
    assert all(v > 0.0 for v in history["right_reasons"])
    assert any(not np.allclose(a, b) for a, b in zip(before, egl.get_weights()))

    clone = ExplanationGuidedModel.from_config(egl.get_config())
    (term,) = clone.terms
    assert (term.penalty_gradient, term.fd_step) == (FD, 2e-3)


# -------------------------------------------------------------- 11. eval
def test_evaluate_equals_exact_model():
    x, mask, y = _mlp_batch(n=32, dim=40, seed=7)

    def make(penalty_gradient):
        keras.utils.set_random_seed(0)
        egl = ExplanationGuidedModel(_mlp(dim=40),
                                     terms=[RightReasonsTerm(lambda1=1.0, penalty_gradient=penalty_gradient)])
        egl.compile(keras.optimizers.SGD(0.01), CE)
        return egl

    fd, exact = make(FD), make("exact")
    fd.fit({"x": x, "neg_mask": mask}, y, batch_size=16, epochs=1, verbose=0)
    exact.set_weights(fd.get_weights())
    r_fd = fd.evaluate({"x": x, "neg_mask": mask}, y, batch_size=16, verbose=0, return_dict=True)
    r_exact = exact.evaluate({"x": x, "neg_mask": mask}, y, batch_size=16, verbose=0, return_dict=True)
    assert r_fd["right_reasons"] > 0.0
    for key in ("loss", "task_loss", "right_reasons"):
        assert r_fd[key] == pytest.approx(r_exact[key], rel=1e-6), key


def test_inference_pass_uses_the_exact_gradient(mlp_batch):
    """training=False: the FD term is the exact penalty, gradient included."""
    g_exact, v_exact = _penalty_gradient(_mlp, mlp_batch, RightReasonsTerm(lambda1=1.0), training=False)
    g_fd, v_fd = _penalty_gradient(_mlp, mlp_batch, RightReasonsTerm(lambda1=1.0, penalty_gradient=FD),
                                   training=False)
    assert v_fd == v_exact
    np.testing.assert_allclose(g_fd, g_exact, rtol=1e-6, atol=1e-9)
