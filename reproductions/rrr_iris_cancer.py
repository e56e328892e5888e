"""RRR (Ross et al., IJCAI 2017) — Iris-Cancer: the iris block as a decoy.

Paper/notebook numbers (``seed_res_rrr.md`` §B.7): mean over 350 random splits,
200 epochs, A = 0: test accuracy 0.9155 with the iris columns kept and 0.8113
with them zeroed; mean number of iris features among the top-10 |input
gradient| entries 2.63 (A = 0) vs 0.0019 (A on the iris columns, λ₁ = 1000).
The annotated model's accuracies appear only as histograms ("reliably higher"
with iris zeroed).

Here: ≥ 100 seeded random 67/33 splits (``--runs`` to change), the reference
MLP (50, 30; N(0, 0.1²)), Adam 1e-3, 200 epochs, full batch (67 < 256) and so
λ₂ = 1e-4/67 on our mean objective (the reference's 1e-4 on its summed one), raw
feature scales. One compiled model per setting is re-initialised for every
split (fresh N(0, 0.1²) weights and a reset optimiser), so no retracing.
Usage is measured on the test rows with iris kept, with ∇ max prob (the
reference's default explanation).
"""

import numpy as np

NAME = "rrr_iris_cancer"
TITLE = "RRR (IJCAI'17) Iris-Cancer: accuracy with iris kept/zeroed and iris usage, A=0 vs A=iris"


def _reinit(model, optimizer, rng, stddev=0.1):
    model.set_weights([rng.normal(0.0, stddev, w.shape).astype(np.float32) for w in model.get_weights()])
    from keras_egl._compat import optimizer_state_variables
    from keras_egl._keras import tf

    for v in optimizer_state_variables(optimizer):
        v.assign(tf.zeros_like(v))


def run(ctx):
    from reproductions._harness import Report
    from keras_egl._keras import keras
    from keras_egl.data.iris_cancer import iris_cancer, iris_usage
    from keras_egl.losses.rrr import lambdas_from_reference
    from keras_egl.models.rrr import RightForRightReasons, rrr_mlp, rrr_optimizer
    from keras_egl.training.find_another_explanation import accuracy

    splits = ctx.n_runs(100, 3)
    epochs = 50 if ctx.quick else 200
    settings = {"A = 0": 0.0, "A on iris (λ1 = 1000)": 1000.0}
    # Full batch (67 < 256): the reference's summed objective divided by the
    # batch gives λ₂ = 1e-4 / 67 here, not the batch-256 REFERENCE_LAMBDA2.
    n_train = len(iris_cancer(seed=ctx.seed)["X"])
    lambda2 = lambdas_from_reference(0.0, 1e-4, batch_size=n_train)[1]
    models = {}
    for name, lam in settings.items():
        clf = rrr_mlp((34,), 2, seed=ctx.seed)
        rrr = RightForRightReasons(clf, lambda1=lam, lambda2=lambda2)
        rrr.compile(rrr_optimizer(), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    jit_compile=not ctx.quick)
        models[name] = (clf, rrr)
    res = {(n, m): [] for n in settings for m in ("kept", "zeroed", "usage")}
    for s in ctx.progress(range(splits), desc=NAME):
        d = iris_cancer(seed=ctx.seed + s)
        for name in settings:
            clf, rrr = models[name]
            _reinit(clf, rrr.optimizer, np.random.default_rng([ctx.seed, s]))
            rrr.fit({"x": d["X"], "neg_mask": d["neg_mask"]}, d["y"], epochs=epochs, batch_size=256, shuffle=False,
                    verbose=0)
            res[(name, "kept")].append(accuracy(clf, d["Xt"], d["yt"]))
            res[(name, "zeroed")].append(accuracy(clf, d["Xt_zeroed"], d["yt"]))
            res[(name, "usage")].append(iris_usage(clf, d["Xt"], k=10))
    report = Report(NAME, TITLE)
    paper = {("A = 0", "kept"): 0.9155, ("A = 0", "zeroed"): 0.8113, ("A = 0", "usage"): 2.63,
             ("A on iris (λ1 = 1000)", "usage"): 0.0019}
    metric = {"kept": "test accuracy (iris kept)", "zeroed": "test accuracy (iris zeroed)",
              "usage": "iris features in top-10 |∇|"}
    for name in settings:
        for m in ("kept", "zeroed", "usage"):
            report.add(name, metric[m], res[(name, m)], paper=paper.get((name, m)))
    report.config.update({"splits": splits, "epochs": epochs, "lambda2": lambda2,
                          "test_size": 0.33})
    report.notes.append("Paper: mean over 350 unseeded splits; ours: mean ± std over seeded splits "
                        f"{ctx.seed}…{ctx.seed + splits - 1}. The annotated model's accuracies have no "
                        "printed paper value (histograms only; text: 'reliably higher' with iris zeroed).")
    return report
