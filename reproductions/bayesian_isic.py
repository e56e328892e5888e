"""Bekkemoen (2021) Tables 6.9–6.10 analogue: ISIC-like patch confounder, with and without patches.

ISIC (Rieger et al.'s CDEP version) cannot be downloaded offline; we generate
an ISIC-like set (``keras_egl.data.feedback_decoy.isic_like``): 32×32 lesions,
10.5 % malignant (as Rieger's ISIC), each lesion showing the malignant
phenotype (irregular, two-toned border) to a graded degree sigmoid(z),
z ~ N(±d/2, 1), with d set so that the best patch-free balanced accuracy Φ(d/2)
is 0.721 — the thesis's patch-free ISIC figure (real dermoscopy is far from
separable, which is what makes the patch shortcut worth taking) — and coloured
patches on 48 % of benign images only, with patch masks. Balanced class
weights on the likelihood (the later public code's choice; the thesis is
silent). Bayesian AlexNet-BN (small stem, width 0.25, conv5 8×8 as feedback
layer, no BN after it; BatchNorm with PyTorch's defaults), Adam 1e-3. NF
trained with early stopping on validation F1 (the thesis: up to 1000 epochs
with early stopping). Feedback on a uniformly random 1.5 % of the training set
(only patched samples get a non-empty mask), fine-tuning from a fresh
optimizer state with the best-validation-F1 checkpoint (thesis: 1 epoch).
Test on a held-out set with patches and on its patch-free part (NP). The paper
numbers are the real ISIC's; only the direction of change is comparable. The
report also gives the two Bayes rules of the substitute in closed form — one
that reads the patch (what a shortcut-taking NF approximates) and one that
cannot (what feedback aims at).
"""

import numpy as np
from scipy.stats import norm

from keras_egl.data.feedback_decoy import isic_like
from keras_egl.models.bayesian import bayesian_alexnet_bn
from reproductions._harness import Report
from reproductions.bayesian_common import collect, run_experiment

NAME = "bayesian_isic"
TITLE = "Bekkemoen 2021, Tables 6.9–6.10 analogue: Bayesian AlexNet-BN, ISIC-like patches, with/without patches"

# (precision, recall, F1, balanced accuracy, benign specificity [derived]) NF → F
PAPER = {
    "patch": {"precision": (0.280, 0.320), "recall": (0.904, 0.798), "f1": (0.427, 0.457),
              "balanced_accuracy": (0.815, 0.799), "specificity": (0.726, 0.800)},
    "no_patch": {"precision": (0.289, 0.335), "recall": (0.904, 0.798), "f1": (0.437, 0.472),
                 "balanced_accuracy": (0.702, 0.721), "specificity": (0.500, 0.644)},
}
PAPER_OVERLAP = {"saliency": (0.154, 0.111), "deeplift": (0.145, 0.124), "gradcam": (0.221, 0.071),
                 "occlusion": (0.250, 0.148)}


# Rieger et al.'s ISIC: 2,284 malignant of 21,654 (10.5 %).
MALIGNANT_FRACTION = 0.105
# Graded lesion evidence z ~ N(±d/2, 1): the best patch-free BA is Φ(d/2). Set from the thesis's own
# patch-free ISIC figure (best BA 0.721, Table 6.10): d = 2·Φ⁻¹(0.721) ≈ 1.17 — the real task's
# difficulty, not our results.
CUE_SEPARATION = float(2 * norm.ppf(0.721))
PATCH_FRACTION_BENIGN = 0.48


def bayes_rule_rates(d, q):
    """Patch-free (specificity, recall) of the balanced-risk Bayes rules of the substitute.

    With balanced class weights the weighted log-odds of a lesion with
    evidence z are ``d·z``; a rule that also reads the patch adds
    ``−log(1 − q)`` on patch-free images (no malignant image has one), i.e.
    calls malignant when ``z > −c``, ``c = −log(1 − q)/d``.

    Returns:
      ``{"patch_using": (spec, recall), "patch_blind": (spec, recall)}``.
    """
    c = -np.log1p(-q) / d if d > 0 else np.inf
    return {"patch_using": (float(norm.cdf(d / 2 - c)), float(norm.cdf(d / 2 + c))),
            "patch_blind": (float(norm.cdf(d / 2)), float(norm.cdf(d / 2)))}


def config(quick):
    base = dict(target_layer="conv5", monitor="f1", occlusion_window=3, model_kw={"mc_samples": 1},
                width=0.25, fc_units=128, malignant_fraction=MALIGNANT_FRACTION, cue="graded",
                cue_separation=CUE_SEPARATION, patch_fraction_benign=PATCH_FRACTION_BENIGN,
                # Inverse-frequency class weights, as the later public code for ISIC ([1, 11618/1376]);
                # the thesis is silent, but its NF recall of 0.904 at 10.5 % prevalence implies re-weighting.
                class_weight="balanced",
                # KL/n with the thesis's n (19,488 ISIC training images): at KL/3000 the KL is ~240 nats
                # per sample against a likelihood of ~0.7 and the net cannot leave the prior.
                kl_n=19488,
                # The thesis's unweighted evidence term (w_F = 1) is the main F row; the later public code
                # weights it 1e-5 for ISIC ("v3_isic"), reported beside it from the same checkpoint and masks.
                alt_feedback_weights={"v3": "v3_isic"})
    if quick:
        base.update(n_train=240, n_val=60, n_test=120, batch_size=32, nf_epochs=1, ft_epochs=1,
                    budget_fraction=0.05, mc=2, overlap_n=2, ig_steps=2, width=0.125, fc_units=32, control=False)
        base["model_kw"] = {"mc_samples": 1, "eval_mc_samples": 2}
        return base
    # NF: early stopping on validation F1 (patience 8, at most 40 epochs), as the thesis's
    # "up to 1000 epochs with early stopping"; F: at most 5 epochs, best validation F1.
    base.update(n_train=3000, n_val=400, n_test=1000, batch_size=64, nf_epochs=40, nf_patience=8, ft_epochs=5,
                budget_fraction=0.015, mc=8, overlap_n=150, ig_steps=16)
    base["model_kw"] = {"mc_samples": 1, "eval_mc_samples": 8}
    return base


def run(ctx):
    cfg = config(ctx.quick)
    report = Report(NAME, TITLE)
    report.config.update({k: v for k, v in cfg.items() if k != "model_kw"})
    runs = []
    for r in range(ctx.n_runs(1, 1)):
        seed = ctx.seed + r
        gen = dict(malignant_fraction=cfg["malignant_fraction"], cue=cfg["cue"], cue_separation=cfg["cue_separation"],
                   patch_fraction_benign=cfg["patch_fraction_benign"])
        tr = isic_like(cfg["n_train"], seed=seed, **gen)
        va = isic_like(cfg["n_val"], seed=seed + 1000, **gen)
        te = isic_like(cfg["n_test"], seed=seed + 2000, **gen)
        keep = ~te["has_patch"]
        data = {"x_train": tr["x"], "y_train": tr["y"], "neg_mask_train": tr["neg_mask"], "x_val": va["x"],
                "y_val": va["y"],
                "tests": {"patch": (te["x"], te["y"], te["neg_mask"]),
                          "no_patch": (te["x"][keep], te["y"][keep], te["neg_mask"][keep])},
                "overlap_test": "patch"}
        cfg["overlap_test"] = "patch"
        ctx.log(f"run {r}: {len(tr['x'])} train ({tr['has_patch'].mean():.0%} patched, {tr['y'].mean():.0%} "
                f"malignant) / {len(te['x'])} test ({keep.sum()} patch-free)")
        builder = lambda s: bayesian_alexnet_bn(input_shape=(32, 32, 3), num_classes=2, width=cfg["width"],  # noqa
                                                fc_units=cfg["fc_units"], stem="small", seed=s)
        runs.append(run_experiment(ctx, data, builder, cfg, seed))

    report.add("NF", "epochs (best val F1)", collect(runs, ("nf_best_epoch",)), paper=997)
    rules = bayes_rule_rates(cfg["cue_separation"], cfg["patch_fraction_benign"])
    for rule, label in (("patch_using", "reads the patch"), ("patch_blind", "cannot read the patch")):
        spec, recall = rules[rule]
        report.add(f"Bayes rule that {label} (closed form), without patches (NP)", "specificity", [spec],
                   paper=0.500 if rule == "patch_using" else None)
        report.add(f"Bayes rule that {label} (closed form), without patches (NP)", "recall", [recall],
                   paper=0.904 if rule == "patch_using" else None)
    report.add("F", "fine-tuning epochs (best val F1)", collect(runs, ("ft_best_epoch",)), paper=1)
    report.add("F", "feedback data fraction", collect(runs, ("feedback", "fraction")), paper=0.015)
    report.add("F", "feedback samples with a patch mask", collect(runs, ("feedback", "n_nonzero")))
    for test in ("patch", "no_patch"):
        label = "with patches" if test == "patch" else "without patches (NP)"
        for metric, (p_nf, p_f) in PAPER[test].items():
            report.add(f"NF, {label}", metric, collect(runs, ("NF", test, metric)), paper=p_nf,
                       note="derived 2·BA − recall" if metric == "specificity" else "")
            report.add(f"F, {label}", metric, collect(runs, ("F", test, metric)), paper=p_f,
                       note="derived 2·BA − recall" if metric == "specificity" else "")
            if "F_v3" in runs[0]:
                report.add(f"F (w_F = 1e-5, later code), {label}", metric, collect(runs, ("F_v3", test, metric)))
            if "NFFT" in runs[0]:
                report.add(f"NF+FT (ours), {label}", metric, collect(runs, ("NFFT", test, metric)))
    for method, (p_nf, p_f) in PAPER_OVERLAP.items():
        report.add("NF", f"overlap {method}", collect(runs, ("NF_overlap", method)), paper=p_nf)
        report.add("F", f"overlap {method}", collect(runs, ("F_overlap", method)), paper=p_f)
        if "F_v3_overlap" in runs[0]:
            report.add("F (w_F = 1e-5, later code)", f"overlap {method}", collect(runs, ("F_v3_overlap", method)))
    for setting in ("NF", "F"):
        for metric in ("nll", "ece", "predictive_entropy"):
            report.add(f"{setting} [extension, not in thesis], with patches", metric,
                       collect(runs, (setting, "patch", metric)))
    nf_spec = np.nanmean(collect(runs, ("NF", "no_patch", "specificity")))
    f_spec = np.nanmean(collect(runs, ("F", "no_patch", "specificity")))
    report.add("F − NF, without patches", "benign specificity gain", [f_spec - nf_spec], paper=0.644 - 0.500)
    if "F_v3" in runs[0]:
        v3_spec = np.nanmean(collect(runs, ("F_v3", "no_patch", "specificity")))
        report.add("F (w_F = 1e-5) − NF, without patches", "benign specificity gain", [v3_spec - nf_spec])
    report.notes += [
        f"Synthetic ISIC-like data ({cfg['malignant_fraction']:.1%} malignant as Rieger's ISIC; graded lesion "
        f"evidence z ~ N(±{cfg['cue_separation'] / 2:.3f}, 1), so the best patch-free BA is "
        f"{norm.cdf(cfg['cue_separation'] / 2):.3f}, the thesis's patch-free figure; patches on "
        f"{cfg['patch_fraction_benign']:.0%} of benign images); absolute numbers are not comparable with the real "
        "ISIC, only the directions (patch-free specificity up, patch overlap down).",
        "The closed-form Bayes rules are computed from the generator's parameters, not fitted: the patch-reading "
        "rule lands at the thesis's NF patch-free operating point (specificity ≈ 0.5, recall ≈ 0.9) without any "
        "tuning, the patch-blind rule is where feedback should move a model.",
        "Balanced class weights on the likelihood (n / (2·n_k)), as the later public code; the thesis is silent.",
        "Architecture: LRT AlexNet-BN, small stem (3×3 conv1, 2×2 pools), width 0.25, FC 128; BN after every "
        "layer except the feedback layer conv5, whose Gaussian pre-activation is a_F (clamping it zeroes the signal).",
        "Positive class = malignant; 'accuracy' of the thesis = balanced accuracy; specificity = benign recall "
        "(the paper's is derived as 2·BA − recall).",
        "Feedback samples drawn uniformly from the whole training set (the thesis leaves open whether only patch "
        "images were eligible); feedback_weight = 1, sum reduction; every fine-tuning (F, F with the later code's "
        "weight, NF+FT) restarts from the NF weights with a fresh Adam state at lr 1e-3.",
        "Occlusion window 3×3 on 32×32 (≈ the thesis's 23×23 on 227×227); DeepLIFT → integrated gradients.",
        "NF+FT is our control (same fine-tuning epochs, no feedback).",
    ]
    report.config["timing_s"] = runs[0]["timing"]
    return report
