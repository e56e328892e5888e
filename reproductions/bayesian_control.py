"""Bekkemoen (2021) Tables 6.6–6.7 analogue: a data set without a confounder (Dogs vs Cats).

Dogs vs Cats and DeepLabV3 masks are not available offline; we generate two
object classes (disc / plus) on textured, label-independent backgrounds with
exact background masks (``keras_egl.data.feedback_decoy.foreground_background``).
Feedback (background = irrelevant) on a uniformly random 4.5 % of the training
set; the thesis expects only marginal changes. Bayesian AlexNet-BN (small stem).
"""

from keras_egl.data.feedback_decoy import foreground_background
from keras_egl.models.bayesian import bayesian_alexnet_bn
from reproductions._harness import Report
from reproductions.bayesian_common import collect, run_experiment

NAME = "bayesian_control"
TITLE = "Bekkemoen 2021, Tables 6.6–6.7 analogue: no-confounder control (objects on backgrounds)"

PAPER = {"accuracy": (0.886, 0.894), "f1": (0.887, 0.896), "precision": (0.918, 0.923), "recall": (0.857, 0.870)}
# thesis Table 6.7 (the article swaps the Grad-CAM and Occlusion rows)
PAPER_OVERLAP = {"saliency": (0.396, 0.384), "deeplift": (0.405, 0.407), "occlusion": (0.441, 0.379),
                 "gradcam": (0.393, 0.380)}


def config(quick):
    # KL/n with the thesis's n (22,500 Dogs-vs-Cats training images): at KL/2000 the KL is ~240 nats
    # per sample against a likelihood of ~0.7, and the net stayed at the prior (accuracy 0.55–0.59).
    # The thesis's unweighted evidence term (w_F = 1) is the main F row; the later code's weight for its
    # background-mask sets (Pet/SBD, 2e-6) is reported beside it from the same NF checkpoint and masks.
    base = dict(target_layer="conv5", monitor="f1", occlusion_window=3, width=0.25, fc_units=128, kl_n=22500,
                alt_feedback_weights={"v3": "v3_pet_sbd"})
    if quick:
        base.update(n_train=200, n_val=50, n_test=100, batch_size=32, nf_epochs=1, ft_epochs=1,
                    budget_fraction=0.05, mc=2, overlap_n=2, ig_steps=2, width=0.125, fc_units=32,
                    model_kw={"mc_samples": 1, "eval_mc_samples": 2})
        return base
    # NF: early stopping on validation F1 (patience 8, at most 40 epochs) — the thesis trained up to
    # 1000 epochs with early stopping (best at 765); 8 fixed epochs left NF at 0.56 accuracy, still
    # improving. F: at most the thesis's 16 fine-tuning epochs, best validation F1.
    base.update(n_train=2000, n_val=300, n_test=600, batch_size=64, nf_epochs=40, nf_patience=8, ft_epochs=16,
                budget_fraction=0.045, mc=8, overlap_n=150, ig_steps=16,
                model_kw={"mc_samples": 1, "eval_mc_samples": 8})
    return base


def run(ctx):
    cfg = config(ctx.quick)
    report = Report(NAME, TITLE)
    report.config.update({k: v for k, v in cfg.items() if k != "model_kw"})
    runs = []
    for r in range(ctx.n_runs(1, 1)):
        seed = ctx.seed + r
        tr = foreground_background(cfg["n_train"], seed=seed)
        va = foreground_background(cfg["n_val"], seed=seed + 1000)
        te = foreground_background(cfg["n_test"], seed=seed + 2000)
        data = {"x_train": tr["x"], "y_train": tr["y"], "neg_mask_train": tr["neg_mask"], "x_val": va["x"],
                "y_val": va["y"], "tests": {"test": (te["x"], te["y"], te["neg_mask"])}}
        builder = lambda s: bayesian_alexnet_bn(input_shape=(32, 32, 3), num_classes=2, width=cfg["width"],  # noqa
                                                fc_units=cfg["fc_units"], stem="small", seed=s)
        runs.append(run_experiment(ctx, data, builder, dict(cfg, control=False), seed))
    report.add("NF", "epochs (best val F1)", collect(runs, ("nf_best_epoch",)), paper=765)
    report.add("F", "fine-tuning epochs (best val F1)", collect(runs, ("ft_best_epoch",)), paper=16)
    report.add("F", "feedback data fraction", collect(runs, ("feedback", "fraction")), paper=0.045)
    for metric, (p_nf, p_f) in PAPER.items():
        report.add("NF", metric, collect(runs, ("NF", "test", metric)), paper=p_nf)
        report.add("F", metric, collect(runs, ("F", "test", metric)), paper=p_f)
        if "F_v3" in runs[0]:
            report.add("F (w_F = 2e-6, later code)", metric, collect(runs, ("F_v3", "test", metric)))
    for method, (p_nf, p_f) in PAPER_OVERLAP.items():
        report.add("NF", f"overlap {method}", collect(runs, ("NF_overlap", method)), paper=p_nf)
        report.add("F", f"overlap {method}", collect(runs, ("F_overlap", method)), paper=p_f)
        if "F_v3_overlap" in runs[0]:
            report.add("F (w_F = 2e-6, later code)", f"overlap {method}", collect(runs, ("F_v3_overlap", method)))
    for setting in ("NF", "F"):
        for metric in ("nll", "ece", "predictive_entropy"):
            report.add(f"{setting} [extension, not in thesis]", metric, collect(runs, (setting, "test", metric)))
    report.notes += [
        "Synthetic control (disc vs plus on label-independent textures), positive class = 1 (plus); the paper's "
        "numbers are Dogs vs Cats (positive = cat) and only the 'marginal change' pattern is comparable.",
        "Paper overlaps are the thesis's Table 6.7; the article's Table 2 swaps the Grad-CAM and Occlusion rows.",
        "Background masks are large (most of the image), so overlaps are high for any model, as in the thesis.",
        "KL/n with the thesis's n = 22,500; the w_F = 2e-6 row is the later public code's weight for its "
        "background-mask sets (Pet/SBD), from the same NF checkpoint and masks.",
    ]
    report.config["timing_s"] = runs[0]["timing"]
    return report
