import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.layers.seq_attention import (MonotonicAttention, SoftmaxAttention,
                                            get_sequence_attention, monotonic_expected_alignment)


def _sequential(p, prev):
    """Eqs. 3.18-3.19 literally: q_0 = p_0 = 0, loop over t."""
    out = np.zeros_like(p)
    for b in range(p.shape[0]):
        q_prev, p_prev = 0.0, 0.0
        for t in range(p.shape[1]):
            q = (1 - p_prev) * q_prev + prev[b, t]
            out[b, t] = p[b, t] * q
            q_prev, p_prev = q, p[b, t]
    return out


def test_expected_alignment_hand_computation_t3():
    p = np.array([[0.5, 0.2, 0.9]], np.float32)
    a0 = np.array([[1.0, 0.0, 0.0]], np.float32)  # alpha_0 one-hot (Raffel et al.)
    a1 = monotonic_expected_alignment(p, a0).numpy()
    # q = (1, 0.5, 0.4) -> alpha = (0.5, 0.1, 0.36)
    np.testing.assert_allclose(a1, [[0.5, 0.1, 0.36]], rtol=1e-6)
    assert a1.sum() <= 1.0
    # second step with alpha_1 as previous alignment and p = (0.3, 0.6, 0.5):
    p2 = np.array([[0.3, 0.6, 0.5]], np.float32)
    a2 = monotonic_expected_alignment(p2, a1).numpy()
    q1 = 0.5
    q2 = (1 - 0.3) * q1 + 0.1
    q3 = (1 - 0.6) * q2 + 0.36
    np.testing.assert_allclose(a2, [[0.3 * q1, 0.6 * q2, 0.5 * q3]], rtol=1e-6)
    assert a2.sum() <= a1.sum() + 1e-7


def test_expected_alignment_random_matches_loop_and_sums_at_most_one():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=(5, 9)).astype(np.float64)
    p[0, 3] = 1.0  # a hard stop
    prev = rng.dirichlet(np.ones(9), size=5) * rng.uniform(0.2, 1.0, size=(5, 1))
    got = monotonic_expected_alignment(p, prev).numpy()
    np.testing.assert_allclose(got, _sequential(p, prev), rtol=1e-6, atol=1e-9)
    assert np.all(got.sum(-1) <= prev.sum(-1) + 1e-9)
    assert np.all(got.sum(-1) <= 1.0 + 1e-9) and np.all(got >= 0)


def test_expected_alignment_gradient_finite_at_saturation():
    p = tf.Variable([[1.0, 1.0, 0.0, 0.5]])
    with tf.GradientTape() as tape:
        a = monotonic_expected_alignment(p, tf.constant([[1.0, 0.0, 0.0, 0.0]]))
        loss = tf.reduce_sum(a * tf.constant([[1.0, 2.0, 3.0, 4.0]]))
    g = tape.gradient(loss, p)
    assert np.all(np.isfinite(g.numpy()))


def test_monotonic_layer_alignments_decay_and_respect_mask():
    att = MonotonicAttention(4, seed=0)
    memory = tf.random.normal([2, 5, 3], seed=2)
    mask = tf.constant(np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], bool))
    a = att.initial_alignment(2, 5)
    np.testing.assert_array_equal(a.numpy()[:, 0], [1, 1])
    total = np.ones(2)
    for _ in range(4):
        r, a = att(tf.random.normal([2, 6], seed=3), memory, mask=mask, previous_alignment=a)
        s = a.numpy().sum(-1)
        assert np.all(s <= total + 1e-6)
        total = s
        assert np.all(a.numpy()[1, 3:] == 0)
        np.testing.assert_allclose(r.numpy(), np.einsum("bt,btm->bm", a.numpy(), memory.numpy()),
                                   rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="previous_alignment"):
        att(tf.ones([2, 6]), memory)


def test_softmax_luong_hand_and_masking():
    att = SoftmaxAttention(score="luong")
    att.build((None, 2))
    att.memory_dense.build((None, 2))
    att.memory_dense.kernel.assign(np.eye(2, dtype=np.float32))
    q = tf.constant([[1.0, 0.0]])
    mem = tf.constant([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]])
    r, a = att(q, mem)
    e = np.array([1.0, 0.0, 2.0])
    exp = np.exp(e) / np.exp(e).sum()
    np.testing.assert_allclose(a.numpy()[0], exp, rtol=1e-6)
    np.testing.assert_allclose(r.numpy()[0], exp @ mem.numpy()[0], rtol=1e-6)
    r, a = att(q, mem, mask=tf.constant([[True, True, False]]))
    exp = np.exp(e[:2]) / np.exp(e[:2]).sum()
    np.testing.assert_allclose(a.numpy()[0], list(exp) + [0.0], rtol=1e-6, atol=1e-12)


def test_bahdanau_sums_to_one_and_config_round_trips():
    for layer in (SoftmaxAttention(8, score="bahdanau"),
                  MonotonicAttention(8, score="luong", score_bias_init=-2.0, sigmoid_noise=0.5, seed=1)):
        cfg = layer.get_config()
        again = type(layer).from_config(cfg)
        assert again.get_config() == cfg
        again2 = keras.layers.deserialize(keras.layers.serialize(layer))
        assert type(again2) is type(layer)
    att = SoftmaxAttention(8)
    _, a = att(tf.random.normal([3, 4]), tf.random.normal([3, 6, 5]))
    np.testing.assert_allclose(a.numpy().sum(-1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match="score"):
        SoftmaxAttention(score="dot")
    with pytest.raises(ValueError, match="kind"):
        get_sequence_attention("additive")
    with pytest.raises(ValueError, match="query"):
        att(tf.ones([3, 4, 1]), tf.ones([3, 6, 5]))
