"""Input-gradient EGL (RRR's right-reasons penalty) on real CNNs: exact vs finite-difference, XLA, PyTorch.

Rows, one per network (ratios measured interleaved in one process; the
PyTorch step in the same run when ``torch`` is installed):

* ``mlp`` — the RRR paper's MLP 784-50-30-10, batch 256;
* ``cnn_bn`` — 3 × (conv3×3 + BatchNorm + ReLU + max-pool) with 32/64/64
  filters, global average pool, dense; 32×32×3, batch 64;
* ``resnet_small`` — conv stem + three residual stages (16/32/64 filters, one
  basic block each, BatchNorm), 32×32×3, batch 64;
* ``resnet50`` — ``keras.applications.ResNet50(weights=None)`` at 64×64×3,
  batch 16 (full mode only; its PyTorch twin is a hand-written bottleneck
  ResNet-50 since torchvision is not installed).

Per row: ``exact / plain`` (our exact double-backprop step over our plain
step — the headline ratio), ``fd / plain`` (``penalty_gradient=
"finite_difference"``), ``torch exact / torch plain`` (``autograd.grad(...,
create_graph=True)``), ``ours / torch`` (absolute exact steps), and the XLA
(``jit_compile=True``) plain and exact steps over their graph-mode twins.
Every step is a full train step: forward, loss (cross-entropy + λ‖A ⊙
∂Σ log softmax/∂x‖², batch mean), backward, Adam update, BatchNorm in
training mode.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio

TITLE = "Input-gradient EGL step vs plain step: exact, finite difference, XLA, PyTorch"


# ------------------------------------------------------------------ Keras nets
def _keras_nets():
    from keras_egl._keras import keras

    def mlp():
        inp = keras.Input((784,))
        h = keras.layers.Dense(50, activation="relu")(inp)
        h = keras.layers.Dense(30, activation="relu")(h)
        return keras.Model(inp, keras.layers.Dense(10)(h))

    def cnn_bn():
        inp = keras.Input((32, 32, 3))
        h = inp
        for f in (32, 64, 64):
            h = keras.layers.Conv2D(f, 3, padding="same")(h)
            h = keras.layers.BatchNormalization()(h)
            h = keras.layers.ReLU()(h)
            h = keras.layers.MaxPooling2D()(h)
        h = keras.layers.GlobalAveragePooling2D()(h)
        return keras.Model(inp, keras.layers.Dense(10)(h))

    def resnet_small():
        def block(h, f, stride):
            s = h
            h = keras.layers.Conv2D(f, 3, strides=stride, padding="same", use_bias=False)(h)
            h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
            h = keras.layers.Conv2D(f, 3, padding="same", use_bias=False)(h)
            h = keras.layers.BatchNormalization()(h)
            if stride != 1 or s.shape[-1] != f:
                s = keras.layers.BatchNormalization()(
                    keras.layers.Conv2D(f, 1, strides=stride, use_bias=False)(s))
            return keras.layers.ReLU()(keras.layers.Add()([h, s]))

        inp = keras.Input((32, 32, 3))
        h = keras.layers.Conv2D(16, 3, padding="same", use_bias=False)(inp)
        h = keras.layers.ReLU()(keras.layers.BatchNormalization()(h))
        for f, stride in ((16, 1), (32, 2), (64, 2)):
            h = block(h, f, stride)
        h = keras.layers.GlobalAveragePooling2D()(h)
        return keras.Model(inp, keras.layers.Dense(10)(h))

    def resnet50():
        return keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=10,
                                           classifier_activation=None)

    return {"mlp": (mlp, (784,), 256), "cnn_bn": (cnn_bn, (32, 32, 3), 64),
            "resnet_small": (resnet_small, (32, 32, 3), 64), "resnet50": (resnet50, (64, 64, 3), 16)}


def _keras_step(builder, shape, batch, penalty_gradient=None, jit=False, seed=0):
    from keras_egl._keras import keras, tf
    from keras_egl.models.base import ExplanationGuidedModel
    from keras_egl.terms.rrr import RightReasonsTerm

    rng = np.random.default_rng(seed)
    x = tf.constant(rng.uniform(size=(batch,) + shape).astype(np.float32))
    y = tf.constant(rng.integers(0, 10, batch))
    mask = tf.constant((rng.uniform(size=(batch,) + shape[:-1] if len(shape) == 3 else (batch,) + shape)
                        > 0.7).astype(np.float32))
    keras.utils.set_random_seed(seed)
    terms = [] if penalty_gradient is None else [RightReasonsTerm(lambda1=1.0, penalty_gradient=penalty_gradient)]
    egl = ExplanationGuidedModel(builder(), terms=terms, extra_keys=("neg_mask",))
    egl.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                jit_compile=jit)
    from keras_egl import _compat

    step = _compat.train_function(egl)
    it = iter(tf.data.Dataset.from_tensors(({"x": x, "neg_mask": mask}, y)).repeat())
    return lambda: step(it)


# ------------------------------------------------------------------ PyTorch nets
def _torch_nets():
    import torch.nn as nn

    class Block(nn.Module):
        def __init__(self, cin, f, stride):
            super().__init__()
            self.body = nn.Sequential(nn.Conv2d(cin, f, 3, stride, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                                      nn.Conv2d(f, f, 3, 1, 1, bias=False), nn.BatchNorm2d(f))
            self.short = nn.Identity() if stride == 1 and cin == f else nn.Sequential(
                nn.Conv2d(cin, f, 1, stride, bias=False), nn.BatchNorm2d(f))

        def forward(self, x):
            return (self.body(x) + self.short(x)).relu()

    class Bottleneck(nn.Module):
        def __init__(self, cin, f, stride):
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(cin, f, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                nn.Conv2d(f, f, 3, stride, 1, bias=False), nn.BatchNorm2d(f), nn.ReLU(),
                nn.Conv2d(f, 4 * f, 1, bias=False), nn.BatchNorm2d(4 * f))
            self.short = nn.Identity() if stride == 1 and cin == 4 * f else nn.Sequential(
                nn.Conv2d(cin, 4 * f, 1, stride, bias=False), nn.BatchNorm2d(4 * f))

        def forward(self, x):
            return (self.body(x) + self.short(x)).relu()

    def mlp():
        return nn.Sequential(nn.Linear(784, 50), nn.ReLU(), nn.Linear(50, 30), nn.ReLU(), nn.Linear(30, 10))

    def cnn_bn():
        layers, c = [], 3
        for f in (32, 64, 64):
            layers += [nn.Conv2d(c, f, 3, padding=1), nn.BatchNorm2d(f), nn.ReLU(), nn.MaxPool2d(2)]
            c = f
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

    def resnet_small():
        return nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
                             Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
                             nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10))

    def resnet50():
        layers, c = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                     nn.MaxPool2d(3, 2, 1)], 64
        for f, n, stride in ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)):
            for i in range(n):
                layers.append(Bottleneck(c, f, stride if i == 0 else 1))
                c = 4 * f
        return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, 10))

    return {"mlp": mlp, "cnn_bn": cnn_bn, "resnet_small": resnet_small, "resnet50": resnet50}


def _torch_step(builder, shape, batch, rrr, seed=0):
    import torch
    import torch.nn.functional as F

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    chw = (shape[-1],) + shape[:-1] if len(shape) == 3 else shape
    x = torch.tensor(rng.uniform(size=(batch,) + chw).astype(np.float32))
    y = torch.tensor(rng.integers(0, 10, batch))
    mshape = (batch, 1) + shape[:-1] if len(shape) == 3 else (batch,) + shape
    mask = torch.tensor((rng.uniform(size=mshape) > 0.7).astype(np.float32))
    net = builder()
    net.train()
    opt = torch.optim.Adam(net.parameters(), 1e-3)

    def step():
        opt.zero_grad()
        if not rrr:
            F.cross_entropy(net(x), y).backward()
        else:
            xx = x.clone().requires_grad_(True)
            out = net(xx)
            g, = torch.autograd.grad(F.log_softmax(out, 1).sum(), xx, create_graph=True)
            penalty = (mask * g).square().flatten(1).sum(1).mean()
            (F.cross_entropy(out, y) + penalty).backward()
        opt.step()

    return step


def run(quick=False):
    repeats, rounds = (3, 1) if quick else (10, 3)
    names = ("mlp", "cnn_bn") if quick else ("mlp", "cnn_bn", "resnet_small", "resnet50")
    try:
        import torch

        torch.set_num_threads(2)
        torch_nets = _torch_nets()
    except ImportError:
        torch_nets = None
    rows = []
    nets = _keras_nets()
    for name in names:
        builder, shape, batch = nets[name]
        reps = max(2, repeats // 3) if name == "resnet50" else repeats
        plain = _keras_step(builder, shape, batch)
        exact = _keras_step(builder, shape, batch, "exact")
        fd = _keras_step(builder, shape, batch, "finite_difference")
        r_exact, t_exact, t_plain = interleaved_ratio(exact, plain, repeats=reps, rounds=rounds)
        r_fd, t_fd, _ = interleaved_ratio(fd, plain, repeats=reps, rounds=rounds)
        row = dict(name=f"{name}: exact / plain (b={batch})", ratio=r_exact, fd_over_plain=r_fd,
                   plain_ms=1e3 * t_plain, exact_ms=1e3 * t_exact, fd_ms=1e3 * t_fd)
        if not quick:
            plain_xla = _keras_step(builder, shape, batch, jit=True)
            exact_xla = _keras_step(builder, shape, batch, "exact", jit=True)
            row["xla_plain_over_graph_plain"] = interleaved_ratio(plain_xla, plain, reps, rounds=rounds)[0]
            row["xla_exact_over_graph_exact"] = interleaved_ratio(exact_xla, exact, reps, rounds=rounds)[0]
        if torch_nets is not None:
            tp = _torch_step(torch_nets[name], shape, batch, rrr=False)
            te = _torch_step(torch_nets[name], shape, batch, rrr=True)
            r_torch, t_te, t_tp = interleaved_ratio(te, tp, repeats=reps, rounds=rounds)
            row.update(torch_exact_over_plain=r_torch, ours_over_torch_exact=t_exact / t_te,
                       torch_plain_ms=1e3 * t_tp, torch_exact_ms=1e3 * t_te)
        else:
            row["torch"] = "not installed"
        rows.append(row)
    return rows


