"""RES Table 4.4 / KDD Table 1 analogue on the offline noisy-annotation substitute.

Baseline, GRADIA, HAICS, RES-G and RES-L (5 runs, mean ± std) on
:func:`keras_egl.data.images.make_noisy_annotation_benchmark` — real MNIST
digits as class-defining objects, a coloured distractor that predicts the
label in train only, and simulated noisy positive/negative annotations.
This **substitutes** for the authors' gender (MS-COCO) and scene (Places365)
sets, which are not reachable offline: the paper's numbers are printed beside
ours for orientation only (different data, a small CNN from scratch instead of
an ImageNet ResNet50), and the claim under test is the *ordering*: RES-G/RES-L
above GRADIA, HAICS and Baseline on IoU and F1, accuracy not below Baseline.

At ``fidelity="code"`` (the default, as the paper's table was produced by
``RES.py``) the "HAICS" row uses the code's unmasked BCE; the masked BCE of the
paper's text runs as an extra row (docs/FIDELITY.md).

Also: the few-shot curve (10/20/50/100 training images), the α sensitivity
sweep of RES-L, and a figure grid of test CAMs per method.

Protocol (both modes): Adam, batch 20 (README), joint horizontal flips, the
checkpoint with the best **validation** accuracy (RES code), metrics on the
test split at full resolution from the predicted-class Grad-CAM (no ReLU,
min–max, bilinear; ``RES.py`` ``model_test``) binarised at 0.5 against the
(noisy) human masks, per image then averaged.
"""

import numpy as np

from keras_egl._keras import keras, tf
from keras_egl.callbacks.model_selection import BestWeights
from keras_egl.data.images import few_shot_subset, make_dataset, make_noisy_annotation_benchmark
from keras_egl.explain.grad_cam import grad_cam
from keras_egl.metrics.explanation import explanation_iou, explanation_precision_recall_f1
from keras_egl.models.backbones import SMALL_CNN_LAYER, build_small_cnn
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.gradia import GRADIAModel
from keras_egl.models.haics import HAICSModel
from keras_egl.models.res import RESModel, res_explainer
from keras_egl.terms.core import HAS_ANNOTATION, NEG_MASK, POS_MASK
from reproductions._harness import Report

NAME = "res_table_4_4"
TITLE = ("RES (Gao et al., KDD 2022) Table 1 / dissertation Table 4.4 — Baseline, GRADIA, HAICS, "
         "RES-G, RES-L on an offline noisy-annotation substitute (small CNN)")

METHODS = ("Baseline", "GRADIA", "HAICS", "RES-G", "RES-L")
# The paper's HAICS row was produced by RES.py, i.e. with its unmasked BCE (see
# docs/FIDELITY.md): at fidelity="code" our "HAICS" row runs that loss; the
# loss as the paper describes it (BCE over annotated pixels only) is reported
# as an extra row and compared too.
HAICS_MASKED = "HAICS (masked BCE, paper text)"
FIDELITY = "code"
METRICS = ("accuracy", "iou", "precision", "recall", "f1")
# Table 1 (KDD) = Table 4.4 (dissertation), in %.
PAPER = {
    "gender": {"Baseline": (68.35, 13.68, 52.68, 56.34, 47.77), "GRADIA": (70.01, 16.66, 64.07, 51.84, 53.35),
               "HAICS": (69.29, 17.56, 60.06, 56.48, 54.90), "RES-G": (71.33, 22.97, 76.47, 63.90, 63.54),
               "RES-L": (70.39, 23.60, 76.32, 65.75, 65.24)},
    "scene": {"Baseline": (93.42, 38.55, 89.67, 60.96, 68.47), "GRADIA": (95.03, 39.60, 87.98, 63.47, 70.80),
              "HAICS": (94.89, 41.29, 88.47, 66.23, 72.95), "RES-G": (95.91, 45.97, 87.54, 82.88, 82.90),
              "RES-L": (95.53, 44.64, 86.37, 88.01, 84.78)},
}


CNN = dict(filters=(8, 16, 32), cam_filters=32)


def build(method, seed, image_size, alpha=0.01, lr=1e-3):
    net = build_small_cnn((image_size, image_size, 3), seed=seed, **CNN)
    kw = dict(explanation_metrics=[])
    # RES.py's test-time map (predicted class, no ReLU, min–max) for RES and HAICS,
    # as before the library-wide default explainer (with ReLU) existed.
    res_kw = dict(kw, explainer=res_explainer(FIDELITY))
    if method == "Baseline":  # reads no annotation; the batches carry the masks all methods get
        egl = ExplanationGuidedModel(net, terms=[], explained_layer=SMALL_CNN_LAYER,
                                     extra_keys=(POS_MASK, NEG_MASK))
    elif method == "GRADIA":  # RES's GRADIA baseline: L1 to the binary positive label
        egl = GRADIAModel(net, SMALL_CNN_LAYER, resize="nearest", **kw)
    elif method == "HAICS":
        egl = HAICSModel(net, SMALL_CNN_LAYER, code_unmasked_bce=FIDELITY == "code", **res_kw)
    elif method == HAICS_MASKED:
        egl = HAICSModel(net, SMALL_CNN_LAYER, code_unmasked_bce=False, **res_kw)
    else:
        egl = RESModel(net, SMALL_CNN_LAYER, preset=method, fidelity=FIDELITY, alpha=alpha, seed=seed,
                       **res_kw)
    egl.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    return egl


def test_maps(net, x, batch=250):
    maps = [grad_cam(net, x[i:i + batch], SMALL_CNN_LAYER, target="pred", relu=False, normalize="minmax",
                     upsample="bilinear") for i in range(0, len(x), batch)]
    return tf.concat(maps, 0)


def evaluate(net, data, y):
    logits = net.predict(data["x"], batch_size=250, verbose=0)
    acc = float(np.mean(logits.argmax(-1) == y))
    maps = test_maps(net, data["x"])
    iou = float(explanation_iou(data[POS_MASK], maps, threshold=0.5, normalize=None))
    prf = explanation_precision_recall_f1(data[POS_MASK], data[NEG_MASK], maps, threshold=0.5,
                                          normalize=None)
    return {"accuracy": 100 * acc, "iou": 100 * iou, **{k: 100 * float(v) for k, v in prf.items()}}, maps


def train_eval(method, train, val, test, seed, epochs, alpha=0.01, batch_size=20, validation_freq=2):
    keras.utils.set_random_seed(seed)
    egl = build(method, seed, train[0]["x"].shape[1], alpha=alpha)
    ds = make_dataset(train[0], train[1], batch_size=batch_size, seed=seed)
    vkeys = ("x", POS_MASK, NEG_MASK, HAS_ANNOTATION)
    vdata = {k: val[0][k] for k in vkeys}
    cb = BestWeights("val_accuracy")
    egl.fit(ds, epochs=epochs, validation_data=(vdata, val[1]), validation_batch_size=250,
            validation_freq=validation_freq, callbacks=[cb], verbose=0)
    scores, maps = evaluate(egl.model, *test)
    scores["best_epoch"] = cb.best_epoch
    return scores, maps


def _figure(ctx, test, maps_by_method, n=6):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = test
    rows = ["image / annotation"] + list(maps_by_method)
    fig, axes = plt.subplots(len(rows), n, figsize=(1.6 * n, 1.6 * len(rows)))
    for j in range(n):
        ax = axes[0, j]
        ax.imshow(x["x"][j])
        ax.contour(x[POS_MASK][j], levels=[0.5], colors="lime", linewidths=0.8)
        ax.contour(x[NEG_MASK][j], levels=[0.5], colors="red", linewidths=0.8)
        for i, (m, maps) in enumerate(maps_by_method.items(), start=1):
            axes[i, j].imshow(x["x"][j])
            axes[i, j].imshow(np.asarray(maps[j]), cmap="jet", alpha=0.5, vmin=0, vmax=1)
    for i, r in enumerate(rows):
        axes[i, 0].set_ylabel(r, fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = ctx.out / "res_cam_grid.png"
    ctx.out.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def run(ctx):
    report = Report(NAME, TITLE)
    quick = ctx.quick
    sizes = dict(n_train=40, n_val=60, n_test=60) if quick else dict(n_train=100, n_val=750, n_test=750)
    epochs = 4 if quick else 30
    runs = ctx.n_runs(5, 1)
    alpha = 0.01
    data = make_noisy_annotation_benchmark(seed=ctx.seed, **sizes)
    train, val, test = data["train"], data["val"], data["test"]
    report.config.update(dict(sizes, epochs=epochs, runs=runs, alpha=alpha, gamma=5.0, backbone=f"small_cnn {CNN} 64x64", validation_freq=2,
                              lr=1e-3, batch_size=20, fidelity=FIDELITY, selection="best val accuracy"))
    methods = METHODS + (HAICS_MASKED,)
    results = {m: {k: [] for k in METRICS} for m in methods}
    grid_maps = {}
    for m in ctx.progress(methods, desc="methods"):
        for r in range(runs):
            scores, maps = train_eval(m, train, val, test, seed=ctx.seed + r, epochs=epochs, alpha=alpha)
            ctx.log(f"{m} run {r}: " + ", ".join(f"{k}={v:.2f}" for k, v in scores.items() if k != "best_epoch")
                    + f" (best epoch {scores['best_epoch']})")
            for k in METRICS:
                results[m][k].append(scores[k])
            if r == 0:
                grid_maps[m] = maps[:6].numpy()
    for m in methods:
        for i, k in enumerate(METRICS):
            paper = PAPER["gender"][m][i] if m in PAPER["gender"] else None
            report.add(m, k, results[m][k], paper=paper, note="paper: gender" if paper is not None else "")
    for m in METHODS:  # scene rows as a second reference (same our-values would repeat; paper only)
        report.notes.append(f"paper scene {m}: " + ", ".join(
            f"{k} {v}" for k, v in zip(METRICS, PAPER["scene"][m])))

    # Done-when check: RES beats the others on IoU and F1 by > 2 std; accuracy ≥ Baseline.
    def mean_std(m, k):
        v = np.asarray(results[m][k])
        return v.mean(), (v.std(ddof=1) if v.size > 1 else 0.0)

    for res in ("RES-G", "RES-L"):
        for k in ("iou", "f1"):
            for other in ("Baseline", "GRADIA", "HAICS", HAICS_MASKED):
                mr, sr = mean_std(res, k)
                mo, so = mean_std(other, k)
                ok = mr - mo > 2 * max(sr, so)
                report.notes.append(f"{res} vs {other} on {k}: {mr:.2f} vs {mo:.2f} (gap {mr - mo:+.2f}, "
                                    f"2·max std {2 * max(sr, so):.2f}) → {'PASS' if ok else 'MISS'}")
        ma, _ = mean_std(res, "accuracy")
        mb, _ = mean_std("Baseline", "accuracy")
        report.notes.append(f"{res} accuracy {ma:.2f} vs Baseline {mb:.2f} → {'PASS' if ma >= mb else 'MISS'}")

    # Few-shot curve (training images in total; RES's --fw_sample is per class).
    shots = (5,) if quick else (5, 10, 25)  # per class; n = 100 is the main table
    fs_runs = 1 if quick else 2
    fs_methods = ("Baseline", "GRADIA", "RES-L") if not quick else ("Baseline", "RES-L")
    for n in shots:
        for m in fs_methods:
            vals = {k: [] for k in ("accuracy", "iou", "f1")}
            for r in range(fs_runs):
                sub = few_shot_subset(train[0], train[1], n, seed=ctx.seed + r)
                scores, _ = train_eval(m, sub, val, test, seed=ctx.seed + r, epochs=epochs, alpha=alpha)
                for k in vals:
                    vals[k].append(scores[k])
            for k in vals:
                report.add(f"few-shot n={2 * n} {m}", k, vals[k])
    report.notes.append("Few-shot (paper Fig. 2, gender, values only plotted): RES +2–5 % accuracy, "
                        "+60–80 % IoU, +36–40 % F1 over the baselines; GRADIA/HAICS lose accuracy at n=10, 20.")

    # α sensitivity of RES-L (paper Fig. 5: robust, accuracy peaks for α in [0.001, 0.1]).
    alphas = (0.1,) if quick else (0.001, 0.1, 0.3)  # α = 0.01 is the main table's RES-L
    for a in alphas:
        vals = {k: [] for k in ("accuracy", "iou", "f1")}
        for r in range(1):
            scores, _ = train_eval("RES-L", train, val, test, seed=ctx.seed + r, epochs=epochs, alpha=a)
            for k in vals:
                vals[k].append(scores[k])
        for k in vals:
            report.add(f"alpha={a} RES-L", k, vals[k])

    report.figures.append(_figure(ctx, test, grid_maps))
    report.notes.append("Data: an offline SUBSTITUTE (MNIST digits 0/6 vs 1/7 + a spurious coloured square "
                        "predictive in train only, simulated noisy annotations); paper columns are the "
                        "authors' gender set, for orientation only.")
    return report
