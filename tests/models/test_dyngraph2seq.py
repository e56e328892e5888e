import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.models.dyngraph2seq import (EOS_ID, GO_ID, PAD_ID, DynGraph2Seq, Graph2Seq, Seq2Seq,
                                           compile_for_sequences, finalize_tokens,
                                           make_teacher_forcing, sequence_sample_weight,
                                           strip_special)


def _dyn(**kw):
    args = dict(num_nodes=4, num_features=3, time_steps=3, vocab_size=9, gcn_units=4, hops=2,
                units=8, attention_units=8)
    args.update(kw)
    return DynGraph2Seq(**args)


def _x(b=2, seed=0):
    rng = np.random.default_rng(seed)
    return {"features": rng.uniform(size=(b, 3, 4, 3)).astype("float32"),
            "adjacency": (rng.uniform(size=(b, 3, 4, 4)) > 0.5).astype("float32")}


def test_teacher_forcing_arrays_by_hand():
    di, tg, mk = make_teacher_forcing([[3, 4], [5]], max_len=4)
    np.testing.assert_array_equal(di, [[GO_ID, 3, 4, PAD_ID], [GO_ID, 5, PAD_ID, PAD_ID]])
    np.testing.assert_array_equal(tg, [[3, 4, EOS_ID, PAD_ID], [5, EOS_ID, PAD_ID, PAD_ID]])
    np.testing.assert_array_equal(mk, [[1, 1, 1, 0], [1, 1, 0, 0]])
    np.testing.assert_array_equal(sequence_sample_weight(mk), 4 * mk)
    with pytest.raises(ValueError, match="max_len"):
        make_teacher_forcing([[3] * 15], max_len=15)
    di, tg, _ = make_teacher_forcing([[3] * 20], max_len=15, truncate=True)
    assert tg[0, -1] == EOS_ID


def test_finalize_and_strip():
    toks = np.array([[3, 4, EOS_ID, 5, 6], [5, 5, 5, 5, 5]])
    out, lengths = finalize_tokens(toks)
    np.testing.assert_array_equal(out, [[3, 4, EOS_ID, PAD_ID, PAD_ID], [5, 5, 5, 5, 5]])
    np.testing.assert_array_equal(lengths, [2, 5])
    assert strip_special(out) == [[3, 4], [5, 5, 5, 5, 5]]


def test_greedy_decoding_emits_pad_after_eos_when_eos_is_argmax():
    m = _dyn(seq_attention="monotonic", readout="attention")
    x = _x()
    m(dict(x, decoder_input=np.ones([2, 2], "int32")))
    k, b = m.output_layer.kernel, m.output_layer.bias
    k.assign(tf.zeros_like(k))
    bias = np.zeros(9, np.float32)
    bias[EOS_ID] = 5.0
    b.assign(bias)
    out = m.greedy_decode(x, max_len=6)
    np.testing.assert_array_equal(out["tokens"], [[EOS_ID] + [PAD_ID] * 5] * 2)
    np.testing.assert_array_equal(out["lengths"], [0, 0])
    assert out["attention"].shape == (2, 6, 3) and out["node_attention"].shape == (2, 3, 4)
    # attention rows after EOS are zeroed
    assert np.all(out["attention"][:, 1:] == 0)


@pytest.mark.slow
def test_greedy_decoding_learns_and_stops_at_eos():
    keras.utils.set_random_seed(0)
    m = _dyn(seq_attention="bahdanau", readout="maxpool")
    x = _x(16, seed=1)
    di, tg, mk = make_teacher_forcing([[3, 8]] * 16, max_len=5)
    compile_for_sequences(m, learning_rate=0.05)
    m.fit(dict(x, decoder_input=di), tg, sample_weight=sequence_sample_weight(mk), epochs=40,
          batch_size=16, verbose=0)
    out = m.greedy_decode(x)
    np.testing.assert_array_equal(out["tokens"][:, :3], [[3, 8, EOS_ID]] * 16)
    assert np.all(out["tokens"][:, 3:] == PAD_ID) and out["tokens"].shape[1] == 15
    np.testing.assert_array_equal(out["lengths"], 2)


@pytest.mark.parametrize("att,readout,gl", [(None, "maxpool", None),
                                            ("monotonic", "attention", {"window": 2}),
                                            ("luong", "maxpool", True)])
def test_dyngraph2seq_variants_shapes_losses_and_config(att, readout, gl):
    m = _dyn(seq_attention=att, readout=readout, group_lasso=gl)
    x = dict(_x(), decoder_input=np.ones([2, 5], "int32"))
    y = m(x)
    assert y.shape == (2, 5, 9)
    assert (len(m.losses) > 0) == (gl is not None)
    again = DynGraph2Seq.from_config(m.get_config())
    again(x)
    again.set_weights(m.get_weights())
    np.testing.assert_allclose(again(x).numpy(), y.numpy(), rtol=1e-5, atol=1e-6)
    assert m.first_layer_kernel().shape == (3, 3, 2, 4)


def test_tied_init_reaches_the_gcn_and_round_trips():
    m = _dyn(tied_init=True)
    m(dict(_x(), decoder_input=np.ones([2, 5], "int32")))
    k = m.first_layer_kernel().numpy()
    np.testing.assert_array_equal(k[0], k[2])
    assert DynGraph2Seq.from_config(m.get_config()).gcn.tied_init is True
    assert _dyn().gcn.tied_init is False


def test_shared_node_features_equal_per_user_features():
    x = _x()
    shared = x["features"][0]
    m1 = _dyn(node_features=shared)
    m2 = _dyn()
    feed = {"adjacency": x["adjacency"], "decoder_input": np.ones([2, 4], "int32")}
    y1 = m1(feed)
    m2(dict(feed, features=np.broadcast_to(shared, x["features"].shape)))
    m2.set_weights(m1.get_weights())
    y2 = m2(dict(feed, features=np.broadcast_to(shared, x["features"].shape)))
    np.testing.assert_allclose(y1.numpy(), y2.numpy(), rtol=1e-5, atol=1e-6)


def test_proximal_group_lasso_mode_zeroes_groups_and_keeps_the_loss_clean():
    keras.utils.set_random_seed(0)
    gl = {"beta": 0.5, "window": 2}
    m = _dyn(group_lasso=gl, group_lasso_mode="proximal")
    x = _x(8, seed=2)
    di, tg, mk = make_teacher_forcing([[3, 4]] * 8, max_len=4)
    feed = dict(x, decoder_input=di)
    m(feed)
    assert len(m.losses) == 0  # the l2,1 term is applied by the prox, not added to the loss
    compile_for_sequences(m, learning_rate=1e-2)
    hist = m.fit(feed, tg, sample_weight=mk, epochs=3, batch_size=8, verbose=0)
    assert "group_lasso" in hist.history
    k = m.first_layer_kernel().numpy()
    assert np.isfinite(k).all()
    # beta = 0.5 is large against the task gradient: whole (time, feature) rows are exactly 0.
    assert (np.linalg.norm(k.reshape(3, 3, -1), axis=-1) == 0).any()
    cfg = m.get_config()
    assert cfg["group_lasso_mode"] == "proximal"
    assert DynGraph2Seq.from_config(cfg).group_lasso_mode == "proximal"
    # the subgradient default puts the penalty into the loss
    sub = _dyn(group_lasso=gl)
    sub(feed)
    assert len(sub.losses) == 1
    with pytest.raises(ValueError, match="group_lasso_mode"):
        _dyn(group_lasso=gl, group_lasso_mode="admm")


def test_bad_inputs_raise():
    m = _dyn()
    x = _x()
    with pytest.raises(ValueError, match="adjacency"):
        m({"features": x["features"], "adjacency": np.ones([2, 3, 5, 5], "float32"),
           "decoder_input": np.ones([2, 3], "int32")})
    with pytest.raises(ValueError, match="snapshots"):
        m({"features": x["features"], "adjacency": np.ones([2, 4, 4, 4], "float32"),
           "decoder_input": np.ones([2, 3], "int32")})
    with pytest.raises(ValueError, match="decoder_input"):
        m(x)
    with pytest.raises(ValueError, match="node_features"):
        _dyn(node_features=np.ones([5, 3]))
    with pytest.raises(ValueError, match="monotonic"):
        Graph2Seq(num_nodes=4, num_features=3, vocab_size=9, seq_attention="monotonic")
    with pytest.raises(TypeError, match="group_lasso"):
        _dyn(group_lasso="yes")


def test_baselines_run_and_round_trip():
    rng = np.random.default_rng(0)
    g = Graph2Seq(num_nodes=4, num_features=3, vocab_size=9, gcn_units=4, hops=2, units=8,
                  attention_units=8, readout="attention", seq_attention="bahdanau",
                  node_features=rng.uniform(size=(4, 3)))
    xg = {"adjacency": (rng.uniform(size=(3, 4, 4)) > 0.4).astype("float32"),
          "decoder_input": np.ones([3, 4], "int32")}
    yg = g(xg)
    assert yg.shape == (3, 4, 9)
    out = g.greedy_decode({"adjacency": xg["adjacency"]}, max_len=5)
    assert out["attention"].shape == (3, 5, 4) and out["node_attention"].shape == (3, 4)
    g2 = Graph2Seq.from_config(g.get_config())
    g2(xg)
    g2.set_weights(g.get_weights())
    np.testing.assert_allclose(g2(xg).numpy(), yg.numpy(), rtol=1e-5, atol=1e-6)
    s = Seq2Seq(num_nodes=4, vocab_size=9, units=8, attention_units=8, seq_attention="monotonic")
    xs = {"tokens": np.array([[1, 2, 3, 0], [4, 4, 0, 0]]), "decoder_input": np.ones([2, 3], "int32")}
    ys = s(xs)
    assert ys.shape == (2, 3, 9)
    out = s.greedy_decode({"tokens": xs["tokens"]}, max_len=4)
    assert np.all(out["attention"][1, :, 2:] == 0)  # padded source positions get no attention
    s2 = Seq2Seq.from_config(s.get_config())
    s2(xs)
    s2.set_weights(s.get_weights())
    np.testing.assert_allclose(s2(xs).numpy(), ys.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError, match="tokens"):
        s({"tokens": np.ones([2, 3], "float32"), "decoder_input": np.ones([2, 3], "int32")})
