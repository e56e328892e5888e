"""RRR training-step cost: input-gradient penalty (double backprop) vs a plain step.

Model: the reference MLP 784-50-30-10, batch 256, raw 0–255 inputs, full A.
Rows (ratios only, measured in the same process by interleaved rounds):

* ``rrr_step / plain_step`` — :class:`RightForRightReasons`'s ``train_step``
  over a plain cross-entropy step of the same MLP (target ≤ 2×), bare and as
  ``fit`` runs it (``make_train_function`` fed by a dataset iterator);
* ``per_sample_loop / batched`` — the penalty's input gradients taken one
  example at a time (``tf.map_fn``, each example its own inner tape) inside
  the training step, over ours (one batched backward pass);
* ``torch_rrr / torch_plain`` and ``ours_rrr / torch_rrr`` — the same step
  written with ``torch.autograd.grad(create_graph=True)``, when PyTorch is
  installed (skipped otherwise).
"""

import numpy as np

TITLE = "RRR: input-gradient-penalty step vs plain step (MLP 784-50-30-10, batch 256)"


def _setup(batch=256, seed=0):
    from keras_egl._keras import keras, tf
    from keras_egl.models.rrr import RightForRightReasons, rrr_mlp, rrr_optimizer

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.integers(0, 256, size=(batch, 784)).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, size=batch))
    A = tf.ones_like(x)
    sce = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    plain_model = rrr_mlp((784,), 10, seed=seed)
    plain_opt = rrr_optimizer()

    @tf.function
    def plain_step():
        with tf.GradientTape() as tape:
            loss = sce(y, plain_model(x, training=True))
        grads = tape.gradient(loss, plain_model.trainable_variables)
        plain_opt.apply_gradients(zip(grads, plain_model.trainable_variables))
        return loss

    rrr = RightForRightReasons(rrr_mlp((784,), 10, seed=seed), lambda1=1000.0)
    rrr.compile(rrr_optimizer(), sce)
    data = ({"x": x, "neg_mask": A}, y)
    rrr_step = tf.function(lambda: rrr.train_step(data))

    # The same two steps compiled with XLA (what fit(..., jit_compile=True) runs).
    plain_xla_model = rrr_mlp((784,), 10, seed=seed)
    plain_xla_model.compile(rrr_optimizer(), sce)
    plain_xla = tf.function(lambda: plain_xla_model.train_step((x, y)), jit_compile=True)
    rrr_xla_model = RightForRightReasons(rrr_mlp((784,), 10, seed=seed), lambda1=1000.0)
    rrr_xla_model.compile(rrr_optimizer(), sce)
    rrr_xla = tf.function(lambda: rrr_xla_model.train_step(data), jit_compile=True)
    keras_plain_model = rrr_mlp((784,), 10, seed=seed)
    keras_plain_model.compile(rrr_optimizer(), sce)
    keras_plain = tf.function(lambda: keras_plain_model.train_step((x, y)))

    loop_model = rrr_mlp((784,), 10, seed=seed)
    loop_opt = rrr_optimizer()

    def one_grad(xi):
        xi = xi[None]
        with tf.GradientTape() as inner:
            inner.watch(xi)
            s = tf.reduce_sum(tf.nn.log_softmax(loop_model(xi, training=True)))
        return inner.gradient(s, xi)[0]

    @tf.function
    def loop_step():
        with tf.GradientTape() as tape:
            logits = loop_model(x, training=True)
            g = tf.map_fn(one_grad, x, fn_output_signature=tf.float32)
            pen = 1000.0 * tf.reduce_mean(tf.reduce_sum(tf.square(A * g), -1))
            loss = sce(y, logits) + pen
        grads = tape.gradient(loss, loop_model.trainable_variables)
        loop_opt.apply_gradients(zip(grads, loop_model.trainable_variables))
        return loss

    # What `fit` runs: each model's own train function fed from a dataset iterator.
    def fit_step(model, inputs):
        from keras_egl import _compat

        fn = _compat.train_function(model)
        it = iter(tf.data.Dataset.from_tensors((inputs, y)).repeat())
        return lambda: fn(it)

    fit_plain_model = rrr_mlp((784,), 10, seed=seed)
    fit_plain_model.compile(rrr_optimizer(), sce)
    fit_rrr_model = RightForRightReasons(rrr_mlp((784,), 10, seed=seed), lambda1=1000.0)
    fit_rrr_model.compile(rrr_optimizer(), sce)
    return (plain_step, rrr_step, loop_step, (x.numpy(), y.numpy()),
            dict(plain_xla=plain_xla, rrr_xla=rrr_xla, keras_plain=keras_plain,
                 fit_plain=fit_step(fit_plain_model, x), fit_rrr=fit_step(fit_rrr_model, {"x": x, "neg_mask": A})))


def _torch_steps(x_np, y_np, seed=0):
    try:
        import torch
    except ImportError:
        return None
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    def mlp():
        layers = torch.nn.Sequential(torch.nn.Linear(784, 50), torch.nn.ReLU(), torch.nn.Linear(50, 30),
                                     torch.nn.ReLU(), torch.nn.Linear(30, 10))
        for p in layers.parameters():
            torch.nn.init.normal_(p, 0.0, 0.1)
        return layers

    x = torch.tensor(x_np)
    y = torch.tensor(y_np, dtype=torch.long)
    plain, rrr = mlp(), mlp()
    opt_p = torch.optim.Adam(plain.parameters(), lr=1e-3, eps=1e-8)
    opt_r = torch.optim.Adam(rrr.parameters(), lr=1e-3, eps=1e-8)

    def plain_step():
        opt_p.zero_grad()
        loss = torch.nn.functional.cross_entropy(plain(x), y)
        loss.backward()
        opt_p.step()

    def rrr_step():
        opt_r.zero_grad()
        xi = x.clone().requires_grad_(True)
        logits = rrr(xi)
        s = torch.log_softmax(logits, -1).sum()
        (g,) = torch.autograd.grad(s, xi, create_graph=True)
        loss = torch.nn.functional.cross_entropy(logits, y) + 1000.0 * (g ** 2).sum(-1).mean()
        loss.backward()
        opt_r.step()

    return plain_step, rrr_step, torch.__version__


def run(quick=False):
    from benchmarks._timing import interleaved_ratio

    repeats, rounds = (5, 1) if quick else (30, 3)
    plain_step, rrr_step, loop_step, (x_np, y_np), extra = _setup()
    rows = []
    ratio, t_rrr, t_plain = interleaved_ratio(rrr_step, plain_step, repeats=repeats, rounds=rounds)
    rows.append(dict(name="rrr_step / plain_step (graph, minimal plain loop)", ratio=ratio,
                     rrr_ms=1e3 * t_rrr, plain_ms=1e3 * t_plain, target="<= 2.0"))
    ratio, t_rrr, t_plain = interleaved_ratio(rrr_step, extra["keras_plain"], repeats=repeats, rounds=rounds)
    rows.append(dict(name="rrr_step / keras plain train_step (graph)", ratio=ratio, rrr_ms=1e3 * t_rrr,
                     plain_ms=1e3 * t_plain, target="<= 2.0"))
    ratio, t_rrr, t_plain = interleaved_ratio(extra["fit_rrr"], extra["fit_plain"], repeats=repeats, rounds=rounds)
    rows.append(dict(name="RRR fit step / plain fit step (make_train_function, iterator)", ratio=ratio,
                     rrr_ms=1e3 * t_rrr, plain_ms=1e3 * t_plain, target="<= 2.0"))
    ratio, t_rrr, t_plain = interleaved_ratio(extra["rrr_xla"], extra["plain_xla"], repeats=repeats,
                                              rounds=rounds)
    rows.append(dict(name="rrr_step / keras plain train_step (both XLA)", ratio=ratio, rrr_ms=1e3 * t_rrr,
                     plain_ms=1e3 * t_plain, target="<= 2.0"))
    ratio, t_rrr, t_plain = interleaved_ratio(extra["rrr_xla"], extra["keras_plain"], repeats=repeats,
                                              rounds=rounds)
    rows.append(dict(name="rrr_step XLA / keras plain train_step (graph)", ratio=ratio, rrr_ms=1e3 * t_rrr,
                     plain_ms=1e3 * t_plain))
    r_loop, t_loop, t_b = interleaved_ratio(loop_step, rrr_step, repeats=max(2, repeats // 5), rounds=rounds,
                                            warmup=1)
    rows.append(dict(name="per_sample_loop / batched (penalty step)", ratio=r_loop, loop_ms=1e3 * t_loop,
                     batched_ms=1e3 * t_b))
    torch_steps = _torch_steps(x_np, y_np)
    if torch_steps is None:
        rows.append(dict(name="torch comparison", ratio=float("nan"), note="PyTorch not installed: skipped"))
    else:
        tp, tr, version = torch_steps
        r_t, t_tr, t_tp = interleaved_ratio(tr, tp, repeats=repeats, rounds=rounds)
        rows.append(dict(name="torch_rrr / torch_plain", ratio=r_t, torch=version, rrr_ms=1e3 * t_tr,
                         plain_ms=1e3 * t_tp))
        r_o, t_o, t_t = interleaved_ratio(rrr_step, tr, repeats=repeats, rounds=rounds)
        rows.append(dict(name="ours_rrr / torch_rrr", ratio=r_o, ours_ms=1e3 * t_o, torch_ms=1e3 * t_t))
    return rows
