"""DynGraph2Seq costs: the group-lasso training step vs a plain one, and the memory
of T per-step GCN weight sets (thesis T = 96) vs one shared set.

Rows:

* ``train_step group lasso / plain`` - wall-time ratio of a DynGraph2Seq
  ``train_on_batch`` with the sliding-window group lasso (eq. 3.13) over one
  without it (same model otherwise).
* ``train_step per-step / shared weights`` - ratio of the per-time-step GCN over
  a GCN sharing one weight set across time.
* ``weights T=96 per-step / shared`` - parameter-memory ratio (analytic, checked
  against ``count_params`` of a built layer) at the thesis' sizes (N = 81,
  D = 100, H = 32, K = 4), with the absolute bytes in the details.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio

TITLE = "DynGraph2Seq: group-lasso step cost and per-time-step weight memory (T=96)"


def _model(cfg, group_lasso, per_step=True):
    from keras_egl.models.dyngraph2seq import DynGraph2Seq, compile_for_sequences

    m = DynGraph2Seq(num_nodes=cfg["N"], num_features=cfg["D"], time_steps=cfg["T"], vocab_size=9,
                     gcn_units=cfg["H"], hops=cfg["K"], units=32, attention_units=32,
                     readout="attention", seq_attention="monotonic",
                     group_lasso={"window": min(12, cfg["T"])} if group_lasso else None,
                     per_step_weights=per_step,
                     node_features=np.random.default_rng(0).uniform(size=(cfg["N"], cfg["D"])) > 0.8)
    return compile_for_sequences(m)


def run(quick=False):
    from keras_egl._keras import keras, tf
    from keras_egl.layers.dyngraph import DynamicBiGCN, per_step_weight_memory
    from keras_egl.models.dyngraph2seq import make_teacher_forcing

    cfg = dict(N=12, D=20, T=12, H=8, K=2, B=16) if quick else dict(N=30, D=48, T=24, H=16, K=2, B=32)
    reps = dict(repeats=3, warmup=1, rounds=1) if quick else dict(repeats=10, warmup=2, rounds=3)
    rng = np.random.default_rng(0)
    adj = (rng.uniform(size=(cfg["B"], cfg["T"], cfg["N"], cfg["N"])) > 0.9).astype("float32")
    di, tg, mk = make_teacher_forcing([[3, 4, 5]] * cfg["B"], max_len=8)
    x = {"adjacency": adj, "decoder_input": di}
    keras.utils.set_random_seed(0)
    with_gl, plain = _model(cfg, True), _model(cfg, False)
    shared = _model(cfg, False, per_step=False)
    ratio, t_a, t_b = interleaved_ratio(lambda: with_gl.train_on_batch(x, tg, sample_weight=mk),
                                        lambda: plain.train_on_batch(x, tg, sample_weight=mk), **reps)
    rows = [dict(name="train_step group lasso / plain", ratio=ratio, seconds_a=t_a, seconds_b=t_b,
                 **{k: v for k, v in cfg.items()})]
    ratio, t_a, t_b = interleaved_ratio(lambda: plain.train_on_batch(x, tg, sample_weight=mk),
                                        lambda: shared.train_on_batch(x, tg, sample_weight=mk), **reps)
    rows.append(dict(name="train_step per-step / shared weights", ratio=ratio, seconds_a=t_a,
                     seconds_b=t_b, **{k: v for k, v in cfg.items()}))
    # Thesis sizes: memory only (analytic, verified on a built layer).
    big = dict(T=96, N=81, D=100, H=32, K=4)
    per = per_step_weight_memory(big["T"], big["D"], big["H"], big["K"])
    one = per_step_weight_memory(1, big["D"], big["H"], big["K"])
    layer = DynamicBiGCN(big["H"], hops=big["K"], time_steps=big["T"])
    layer.build([tf.TensorShape([None, big["T"], big["N"], big["D"]]),
                 tf.TensorShape([None, big["T"], big["N"], big["N"]])])
    assert layer.count_params() == per["params"]
    # Forward activations kept for backprop per user: K hops x (2 streams messages + output).
    act_per_user = big["T"] * big["N"] * big["K"] * (2 * big["H"] + 2 * big["H"]) * 4
    adj_per_user = big["T"] * big["N"] * big["N"] * 4
    rows.append(dict(name="weights T=96 per-step / shared", ratio=per["params"] / one["params"],
                     params_per_step=per["params"], params_shared=one["params"],
                     weights_MB=per["weights_bytes"] / 2**20,
                     train_MB_with_adam=per["train_bytes"] / 2**20,
                     activations_MB_per_user=act_per_user / 2**20,
                     dense_adjacency_MB_per_user=adj_per_user / 2**20, **big))
    return rows
