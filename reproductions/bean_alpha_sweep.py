"""BEAN, thesis Fig. 2.7: sensitivity to α on 10-shot MNIST (validation and test accuracy).

BEAN-1 and BEAN-2 LeNet-5 with α ∈ {0.001, 0.01, 0.1, 1, 10, 100} (code scale,
``normalize=False``), mean ± SD over runs (20 in the thesis); the thesis picks
BEAN-1 α = 1 and BEAN-2 α = 100 from this sweep. Writes ``bean_alpha_sweep.png``.
"""

import numpy as np

from reproductions import bean_common as bc
from reproductions._harness import Report, RunContext

NAME = "bean_alpha_sweep"
TITLE = "BEAN (Gao et al. 2021) Fig. 2.7: alpha sweep, 10-shot MNIST, LeNet-5"

ALPHAS = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)


def run(ctx: RunContext) -> Report:
    report = Report(NAME, TITLE)
    n_runs = ctx.n_runs(20, 1)
    n_shot = 1 if ctx.quick else 10
    alphas = (0.1, 10.0) if ctx.quick else ALPHAS
    n_val = 200 if ctx.quick else 1000
    epochs, eval_every = bc.epochs_for(n_shot, ctx.quick)
    source = bc.fewshot_sources(ctx)[0]
    report.config.update({"n_shot": n_shot, "runs": n_runs, "alphas": list(alphas)})
    curves = {}
    for method in ("bean1", "bean2"):
        for alpha in alphas:
            vals, tests = [], []
            for r_i in range(n_runs):
                seed = ctx.seed + r_i
                train, val, test = bc.split_for(source, n_shot, seed, n_val)
                if ctx.quick:
                    test = (test[0][:400], test[1][:400])
                res = bc.train_eval(bc.build_fn(method, alpha, (28, 28, 1), seed), train, val, test, epochs,
                                    seed=seed, eval_every=eval_every)
                vals.append(100 * res["val_acc"])
                tests.append(100 * res["test_acc"])
            curves[(method, alpha)] = (vals, tests)
            report.add(f"{method} α={alpha:g}", "val acc %", vals)
            report.add(f"{method} α={alpha:g}", "test acc %", tests)
            ctx.log(f"{method} alpha={alpha}: val {np.mean(vals):.2f} test {np.mean(tests):.2f}")
    for method in ("bean1", "bean2"):
        best = max(alphas, key=lambda a: np.mean(curves[(method, a)][0]))
        report.notes.append(f"{method}: α chosen on validation = {best:g} (paper: "
                            f"{bc.PAPER_ALPHA[method]:g})")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, method in zip(axes, ("bean1", "bean2")):
        for idx, lab in ((0, "validation"), (1, "test")):
            m = [np.mean(curves[(method, a)][idx]) for a in alphas]
            s = [np.std(curves[(method, a)][idx]) for a in alphas]
            ax.errorbar(alphas, m, yerr=s, label=lab, capsize=3)
        ax.set_xscale("log")
        ax.set_xlabel("α (code scale)")
        ax.set_ylabel("accuracy %")
        ax.set_title(method)
        ax.legend()
    fig.tight_layout()
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / "bean_alpha_sweep.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    report.figures.append(str(path))
    return report
