"""DynGraph2Seq, thesis Table 3.1 (+ Fig. 3.5, Tables 3.2-3.4 analogues).

Gao et al., ICDM 2019 / Gao thesis ch. 3: health-stage sequence prediction
from users' dynamic forum-activity graphs. The breast-cancer forum data are
private, so by default the table is reproduced on the seeded synthetic forum
of :func:`keras_egl.data.forum.generate_synthetic_forum`, whose planted truth
(stage subforums and keywords) also lets us score the interpretability claims.
If ``--data-dir`` holds ``forum.jsonl`` (the authors' JSON-lines schema) it is
used instead (no planted truth then).

Eight settings x (BLEU-1..4, ROUGE-1 recall), mean +/- std over runs (each
run: a new 70/10/20 split and a new initialisation; early stopping on the
validation loss; greedy decoding on the test split). Scores x 100 as in the
thesis. CPU budget forces a scaled-down setting in full mode (see ``CONFIGS``
and the notes written into the report).

The generator runs with ``signal="temporal"`` (time-local stage signal in the
monthly subforum features; see the generator's docstring). Two extra rows
repeat the regularised settings with the proximal group lasso
(``group_lasso_mode="proximal"``); the eight Table 3.1 rows use the thesis'
subgradient form.

``NOTES`` records the 2026-12-01 diagnosis: a GCN initialisation bug (fixed),
the generator's switch to the thesis' monthly most-active transitions, the
validation-only hyperparameter look (no change adopted) and why the group
lasso ranking tracks keyword frequency rather than the planted keywords.
"""

import csv
from pathlib import Path

import numpy as np

from reproductions._harness import Report

NAME = "dyngraph2seq_table_3_1"
TITLE = ("DynGraph2Seq (Gao et al. ICDM 2019; thesis ch. 3) Table 3.1: health-stage sequence "
         "prediction, BLEU-1..4 / ROUGE-1 x100, synthetic forum")

PAPER = {  # Table 3.1, mean over 20 runs
    "NMT(seq2seq) (w/o att)": (55.5, 38.4, 27.1, 19.2, 71.6),
    "NMT(seq2seq) (w/ att)": (57.8, 40.4, 29.0, 20.1, 72.9),
    "Graph2Seq (w/o att)": (57.5, 41.5, 29.8, 20.3, 75.8),
    "Graph2Seq (w/ att)": (58.2, 41.1, 30.1, 21.0, 76.2),
    "DynGraph2Seq (w/o reg & att)": (60.9, 43.7, 31.5, 22.1, 79.3),
    "DynGraph2Seq (w/ reg)": (61.5, 45.1, 32.3, 23.1, 78.5),
    "DynGraph2Seq (w/ att)": (62.3, 44.7, 32.0, 22.5, 80.8),
    "DynGraph2Seq (w/ reg & att)": (64.1, 45.4, 33.1, 24.1, 81.0),
}
METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE")

# Written into every report. Hyperparameters were looked at on the VALIDATION split only
# (seed 0, split seed 0: 560 train / 80 validation users, full config), never on test.
NOTES = [
    "Changes of 2026-12-01 (vs the 2026-11-23 measurement): (1) DynamicBiGCN kernels "
    "[T, D, S, H] were initialised with Keras' conv-kernel fans (fan_in = S*T*D), i.e. ~18x "
    "too small at T = 24 (std 0.0098 instead of Glorot 0.18; ~1/300 of the signal after two "
    "hops) - fixed with per-slice fans, which also affects Graph2Seq (T = 1, ~3.6x too small). "
    "(2) The generator's transitions now follow the thesis' construction - one edge per change "
    "of the user's monthly *most active* subforum - instead of one edge per switch between "
    "consecutive visits, which spelled out ~34 visits per user in order for the NMT baseline "
    "(now ~12 tokens per user).",
    "Hyperparameter look on the validation split (full config, one split, 80 users; BLEU-1 on "
    "80 users moves by ~+/-3 between seeds): for the full model tied per-step initialisation, "
    "shared (not per-step) GCN weights, binary edge weights, the self term, L2 1e-3, Bahdanau "
    "instead of monotonic graph-to-sequence attention, and lr 1e-3 with 40 epochs all gave "
    "validation BLEU-1 65-69 and validation loss 5.4-6.0 against Graph2Seq (w/ att) 70-72 / 5.2 "
    "and NMT (w/ att) 72.6 / 4.6; none was better than the noise, so CONFIGS is unchanged "
    "(tied_init stays off). Data scale, same look at the thesis' 2882 users (288 validation "
    "users): full DynGraph2Seq 71.4 / 74.5 (BLEU-1 / ROUGE), Graph2Seq (w/ att) 72.1 / 74.5, "
    "NMT (w/ att) 77.8 / 79.5 - the dynamic model catches up with the static one with more "
    "users (its T per-step weight sets are data-hungry) but not with NMT, whose input (the "
    "ordered monthly most-active switches) still spells out the stage order directly.",
    "Why the group lasso's |W1| keyword ranking is not enriched for planted keywords: Adam "
    "applies the l2,1 subgradient at a per-weight normalised rate, so every first-layer row "
    "shrinks and a row survives in proportion to the task gradient it receives, which grows "
    "with the number of visited subforums carrying the keyword - generic keywords sit on ~10 of "
    "30 subforums, planted ones on ~2. The 'w/ reg' rankings therefore track keyword frequency "
    "(Spearman row above, ~0.85 in the 2-run check) and fall below chance, while the same "
    "ranking without the lasso is at or above chance (2-run check: 0.46 max-pool, 0.73 "
    "attention; 0.69 / 0.96 before the initialisation fix, when the ~0.01 initial weights let "
    "the training updates dominate the row norms). The thesis' own Table 3.2 (help, sister, "
    "treatment, ...) is likewise dominated by frequent generic words. (First pass, static "
    "generator; the proximal form is now implemented, see (4).)",
    "Changes of 2026-12-01, second pass: (3) the generator's stage signal is time-local "
    "(`signal='temporal'`, thesis Definition 3: snapshot t has features F_t, the topics the "
    "subforum covers in month t): per-month forum-level features [T, N, D], and each stage is "
    "discussed in its planted subforums plus 2 general subforums per month that drift over "
    "time, so a visit to a general subforum tells the stage only through that month's "
    "features (lost by the untimed NMT input and by the union graph with time-averaged "
    "features). Decided from the thesis text before any test-split comparison. (4) The "
    "proximal group lasso (`group_lasso_mode='proximal'`: Adam step on the task loss, then "
    "the sequential per-window block soft-thresholding with an Adam-preconditioned "
    "threshold beta*lr/mean(sqrt(v_hat)+eps)) is reported in two extra rows; the eight "
    "Table 3.1 rows keep the thesis' subgradient form.",
]

CONFIGS = {
    "quick": dict(users=90, nodes=16, time_steps=8, features=32, hops=2, gcn_units=8, units=16,
                  attention_units=16, epochs=2, batch=32, patience=2, window=4, beta=3e-4,
                  seq_attention="monotonic", lr=1e-3, signal="temporal"),
    # Thesis: N=81, T=96, D=100, K=4, ~2.9k users, 20 runs. Scaled to a shared 2-core CPU.
    "full": dict(users=800, nodes=30, time_steps=24, features=48, hops=2, gcn_units=16, units=64,
                 attention_units=64, epochs=25, batch=32, patience=4, window=6, beta=3e-4,
                 seq_attention="monotonic", lr=2e-3, signal="temporal"),
}


# Beyond Table 3.1: the two regularised rows again with the proximal group lasso
# (`group_lasso_mode="proximal"`); no thesis number to compare with.
EXTRA = ("DynGraph2Seq (w/ reg, proximal)", "DynGraph2Seq (w/ reg & att, proximal)")


def _variants(cfg):
    gl = {"beta": cfg["beta"], "window": cfg["window"]}
    glm = cfg.get("group_lasso_mode", "subgradient")
    att = cfg["seq_attention"]
    extra = [
        (EXTRA[0], "dyn", dict(readout="maxpool", seq_attention=None, group_lasso=gl,
                               group_lasso_mode="proximal")),
        (EXTRA[1], "dyn", dict(readout="attention", seq_attention=att, group_lasso=gl,
                               group_lasso_mode="proximal")),
    ]
    return _table_variants(gl, glm, att) + extra


def _table_variants(gl, glm, att):
    return [
        ("NMT(seq2seq) (w/o att)", "seq", dict(seq_attention=None)),
        ("NMT(seq2seq) (w/ att)", "seq", dict(seq_attention="bahdanau")),
        ("Graph2Seq (w/o att)", "g2s", dict(readout="maxpool", seq_attention=None)),
        ("Graph2Seq (w/ att)", "g2s", dict(readout="attention", seq_attention="bahdanau")),
        ("DynGraph2Seq (w/o reg & att)", "dyn", dict(readout="maxpool", seq_attention=None)),
        ("DynGraph2Seq (w/ reg)", "dyn", dict(readout="maxpool", seq_attention=None, group_lasso=gl,
                                                 group_lasso_mode=glm)),
        ("DynGraph2Seq (w/ att)", "dyn", dict(readout="attention", seq_attention=att)),
        ("DynGraph2Seq (w/ reg & att)", "dyn", dict(readout="attention", seq_attention=att,
                                                    group_lasso=gl, group_lasso_mode=glm)),
    ]


def _load_data(ctx, cfg):
    from keras_egl.data.forum import generate_synthetic_forum, load_forum_jsonl

    if ctx.data_dir is not None and (Path(ctx.data_dir) / "forum.jsonl").exists():
        data = load_forum_jsonl(Path(ctx.data_dir) / "forum.jsonl")
        return data, "user data: " + str(Path(ctx.data_dir) / "forum.jsonl")
    data = generate_synthetic_forum(num_users=cfg["users"], num_nodes=cfg["nodes"],
                                    time_steps=cfg["time_steps"], num_features=cfg["features"],
                                    seed=ctx.seed, signal=cfg.get("signal", "temporal"))
    return data, "synthetic forum (seed %d, signal=%s)" % (ctx.seed, cfg.get("signal", "temporal"))


def _build(kind, kw, cfg, data, vocab_size, seed):
    from keras_egl.models.dyngraph2seq import DynGraph2Seq, Graph2Seq, Seq2Seq

    common = dict(vocab_size=vocab_size, units=cfg["units"], attention_units=cfg["attention_units"])
    if kind == "seq":
        return Seq2Seq(num_nodes=data.num_nodes, seed=seed, **common, **kw)
    if kind == "g2s":
        return Graph2Seq(num_nodes=data.num_nodes, num_features=len(data.keywords),
                         gcn_units=cfg["gcn_units"], hops=cfg["hops"],
                         node_features=data.static_features(), seed=seed, **common, **kw)
    return DynGraph2Seq(num_nodes=data.num_nodes, num_features=len(data.keywords),
                        time_steps=data.time_steps, gcn_units=cfg["gcn_units"], hops=cfg["hops"],
                        node_features=np.asarray(data.node_features, np.float32), seed=seed,
                        **common, **kw)


def _inputs(kind, arrays, idx):
    if kind == "seq":
        return {"tokens": arrays["tokens"][idx]}
    if kind == "g2s":
        return {"adjacency": arrays["union"][idx]}
    return {"adjacency": arrays["adjacency"][idx]}


def _hot_mask(gt, num_nodes):
    """``[T, N]``: subforum v discusses some stage in month t (temporal generator), else None."""
    if not gt or "hot_subforums" not in gt:
        return None
    hot = np.zeros((len(gt["hot_subforums"]), num_nodes), bool)
    for t, per_stage in enumerate(gt["hot_subforums"]):
        for ids in per_stage.values():
            hot[t, ids] = True
    return hot


def _node_attention_stats(node_att, adjacency, planted_ids):
    """Lift of node attention on planted subforums over their share of active nodes.

    ``planted_ids``: a list of node ids (the same for every snapshot) or a boolean
    ``[T, N]`` mask (per-month ground truth, e.g. the temporal generator's hot subforums).
    """
    from keras_egl.layers.dyngraph import active_node_mask

    mask = active_node_mask(adjacency.astype(np.float32)).numpy()
    if isinstance(planted_ids, np.ndarray) and planted_ids.dtype == bool:
        # Per-month truth for the dynamic model; "ever" for the static union graph (T = 1).
        same_t = planted_ids.shape[0] == mask.shape[1]
        is_planted = planted_ids[None] if same_t else planted_ids.any(0)[None, None]
    else:
        is_planted = np.zeros(mask.shape[-1], bool)
        is_planted[planted_ids] = True
    both = (mask & is_planted).any(-1) & (mask & ~is_planted).any(-1)
    mass = (node_att * is_planted).sum(-1)
    share = (mask & is_planted).sum(-1) / np.maximum(mask.sum(-1), 1)
    top_planted = np.take_along_axis(np.broadcast_to(is_planted, mask.shape),
                                     node_att.argmax(-1)[..., None], -1)[..., 0]
    return {"lift": float(mass[both].mean() / share[both].mean()) if both.any() else float("nan"),
            "top1": float(top_planted[both].mean()) if both.any() else float("nan"),
            "top1_base": float(share[both].mean()) if both.any() else float("nan")}


def _stage_match(out, adjacency, planted, vocab):
    """Fig. 3.5 claim: when emitting stage s, the most-attended snapshot's most-attended
    node is one of s's planted subforums."""
    from keras_egl.layers.dyngraph import active_node_mask

    mask = active_node_mask(adjacency.astype(np.float32)).numpy()
    hits, base, n = 0, 0.0, 0
    for b in range(out["tokens"].shape[0]):
        for i in range(out["lengths"][b]):
            tok = vocab.tokens[int(out["tokens"][b, i])]
            if tok not in planted:
                continue
            t = int(out["attention"][b, i].argmax())
            if not mask[b, t].any():
                continue
            node = int(out["node_attention"][b, t].argmax())
            hits += node in planted[tok]
            base += len([v for v in planted[tok] if mask[b, t, v]]) / mask[b, t].sum()
            n += 1
    return (hits / n, base / n) if n else (float("nan"), float("nan"))


def run(ctx):
    from keras_egl._keras import keras, tf
    from keras_egl.data.forum import StageVocab, split_indices
    from keras_egl.metrics.sequence import sequence_scores
    from keras_egl.models.dyngraph2seq import (compile_for_sequences, make_teacher_forcing,
                                               sequence_sample_weight, strip_special)
    from keras_egl.regularizers.group_lasso import feature_importance

    cfg = dict(CONFIGS["quick" if ctx.quick else "full"])
    runs = ctx.n_runs(5, 1)
    report = Report(NAME, TITLE)
    report.config.update({k: v for k, v in cfg.items()})
    report.config["runs"] = runs
    data, source = _load_data(ctx, cfg)
    vocab = StageVocab(getattr(data, "stages", None) or StageVocab().stages)
    ctx.log(f"[{NAME}] data: {source}; {len(data)} users, N={data.num_nodes}, "
            f"T={data.time_steps}, D={len(data.keywords)}")
    adjacency = data.adjacency(np.uint16 if data.num_nodes > 40 else np.float32)
    arrays = {"adjacency": adjacency, "union": adjacency[:, -1].astype(np.float32),
              "tokens": data.transition_tokens()}
    targets = data.target_ids(vocab)
    # Teacher forcing needs only the longest target + EOS (<= 15); greedy decoding still
    # runs to 15 tokens.
    dec_in, dec_tgt, dec_mask = make_teacher_forcing(
        targets, max_len=min(15, 1 + max(len(t) for t in targets)))
    weights = sequence_sample_weight(dec_mask)
    gt = data.ground_truth
    variants = _variants(cfg)
    results = {name: {m: [] for m in METRICS} for name, _, _ in variants}
    interp = {name: {"kw_prec": [], "lift": [], "top1": [], "top1_base": [], "stage_match": [],
                     "stage_base": [], "freq_corr": [], "hot_lift": [], "zero_rows": []} for name, _, _ in variants}
    hot = _hot_mask(gt, data.num_nodes)
    # How many subforums carry each keyword: the |W1| ranking's main confounder (see notes).
    kw_freq = np.asarray(data.static_features()).sum(0)  # time-averaged when features are [T, N, D]
    examples, fig_data = {}, None
    out_dir = Path(ctx.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in range(runs):
        seed = ctx.seed * 1000 + r
        tr, va, te = split_indices(len(data), seed=seed)
        refs = [data.sequences[i] for i in te]
        for name, kind, kw in ctx.progress(variants, desc=f"run {r + 1}/{runs}"):
            keras.utils.set_random_seed(seed)
            model = _build(kind, kw, cfg, data, len(vocab), seed)
            compile_for_sequences(model, learning_rate=cfg["lr"])
            x_tr = dict(_inputs(kind, arrays, tr), decoder_input=dec_in[tr])
            x_va = dict(_inputs(kind, arrays, va), decoder_input=dec_in[va])
            fit_kw = {}
            if not ctx.quick:  # quick mode skips validation: tracing it costs more than it runs
                fit_kw = dict(validation_data=(x_va, dec_tgt[va], weights[va]),
                              callbacks=[keras.callbacks.EarlyStopping(
                                  "val_loss", patience=cfg["patience"], restore_best_weights=True)])
            model.fit(x_tr, dec_tgt[tr], sample_weight=weights[tr], batch_size=cfg["batch"],
                      epochs=cfg["epochs"], verbose=0, **fit_kw)
            out = model.greedy_decode(_inputs(kind, arrays, te))
            hyps = [vocab.decode(row) for row in out["tokens"]]
            scores = sequence_scores(refs, hyps)
            for m in METRICS:
                results[name][m].append(100.0 * scores[m])
            ctx.log(f"  run {r} {name}: " + ", ".join(f"{m}={100 * scores[m]:.1f}" for m in METRICS))
            if r == 0:
                examples[name] = hyps
                examples["_te"] = te
            if gt is not None and kind != "seq":
                if "node_attention" in out:
                    adj_te = arrays["union"][te][:, None] if kind == "g2s" else adjacency[te]
                    natt = out["node_attention"]
                    natt = natt[:, None] if natt.ndim == 2 else natt
                    st = _node_attention_stats(natt, adj_te, gt["planted_ids"])
                    for k in ("lift", "top1", "top1_base"):
                        interp[name][k].append(st[k])
                    # Per-month truth: only meaningful for the dynamic model (over 24 months
                    # every general subforum is hot at some point, so "ever hot" is everything).
                    if hot is not None and kind == "dyn":
                        interp[name]["hot_lift"].append(
                            _node_attention_stats(natt, adj_te, hot)["lift"])
                    if kind == "dyn" and kw.get("seq_attention"):
                        sm, sb = _stage_match(out, adj_te, gt["planted_subforums"], vocab)
                        interp[name]["stage_match"].append(sm)
                        interp[name]["stage_base"].append(sb)
                if kind == "dyn":
                    imp = feature_importance(model.first_layer_kernel(), per_time=False).numpy()
                    k = len(gt["stage_keyword_ids"])
                    top = np.argsort(-imp)[:k]
                    interp[name]["kw_prec"].append(len(set(top) & set(gt["stage_keyword_ids"])) / k)
                    interp[name]["freq_corr"].append(_spearman(imp, kw_freq))
                    per_t_norm = feature_importance(model.first_layer_kernel()).numpy()
                    interp[name]["zero_rows"].append(float((per_t_norm == 0).mean()))
                    if name == "DynGraph2Seq (w/ reg & att)" and r == 0:
                        per_t = feature_importance(model.first_layer_kernel()).numpy()
                        fig_data = {"out": out, "te": te, "per_t": per_t}
            keras.backend.clear_session()
    for name, _, _ in variants:
        for j, m in enumerate(METRICS):
            report.add(name, m, results[name][m], paper=PAPER[name][j] if name in PAPER else None)
    if gt is not None:
        base_prec = len(gt["stage_keyword_ids"]) / len(data.keywords)
        for name, kind, kw in variants:
            if interp[name]["kw_prec"]:
                report.add(name, "stage-keyword precision@%d of |W1| ranking"
                           % len(gt["stage_keyword_ids"]), interp[name]["kw_prec"],
                           note=f"chance {base_prec:.2f}")
                report.add(name, "Spearman(|W1| row norm, #subforums with the keyword)",
                           interp[name]["freq_corr"], note="0 = ranking ignores frequency")
                report.add(name, "fraction of (month, keyword) first-layer rows exactly 0",
                           interp[name]["zero_rows"], note="group-lasso sparsity")
            if interp[name]["lift"]:
                report.add(name, "node-attention lift on planted subforums", interp[name]["lift"],
                           note="1 = no preference")
                report.add(name, "top-1 attended node is planted", interp[name]["top1"],
                           note=f"chance {np.nanmean(interp[name]['top1_base']):.2f}")
            if interp[name]["hot_lift"]:
                report.add(name, "node-attention lift on the month's stage subforums (planted + hot)",
                           interp[name]["hot_lift"], note="1 = no preference")
            if interp[name]["stage_match"]:
                report.add(name, "emitted stage <-> top node of top snapshot is its planted subforum",
                           interp[name]["stage_match"],
                           note=f"chance {np.nanmean(interp[name]['stage_base']):.2f}")
    _claims(report, results, interp, gt)
    _examples(report, data, examples, vocab, runs)
    if fig_data is not None:
        _figures(report, ctx, data, fig_data, vocab)
    report.notes.append(
        f"Data: {source}. Scaled setting (CPU budget): N={data.num_nodes}, T={data.time_steps}, "
        f"D={len(data.keywords)}, {len(data)} users, K={cfg['hops']} hops (thesis: N=81, T=96, "
        f"D=100, K=4, ~2.9k users, 20 runs), GCN units {cfg['gcn_units']}, LSTM {cfg['units']}, "
        f"group lasso beta={cfg['beta']} w={cfg['window']} (thesis w=12 of T=96; follow-up code 6), "
        f"Adam lr {cfg['lr']} (thesis 1e-3) clip 1, batch {cfg['batch']}, <= {cfg['epochs']} epochs, "
        f"early stopping on validation loss (patience {cfg['patience']}). Loss: token CE summed "
        "per sequence / batch (follow-up code). BLEU corpus-level, no smoothing (nltk); ROUGE-1 "
        f"recall. DynGraph2Seq 'w/ att' = node-to-graph attention + {cfg['seq_attention']} "
        "graph-to-sequence attention; baselines use Bahdanau softmax attention.")
    report.notes.extend(NOTES)
    return report


def _spearman(a, b):
    """Spearman rank correlation (average ranks for ties)."""
    def ranks(x):
        x = np.asarray(x, float)
        order = np.argsort(x, kind="mergesort")
        r = np.empty(len(x))
        r[order] = np.arange(len(x))
        for v in np.unique(x):
            hit = x == v
            r[hit] = r[hit].mean()
        return r

    ra, rb = ranks(a), ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _claims(report, results, interp, gt):
    full = "DynGraph2Seq (w/ reg & att)"
    mean = {n: {m: float(np.mean(v[m])) for m in METRICS} for n, v in results.items()}
    for base in ("Graph2Seq (w/ att)", "Graph2Seq (w/o att)", "NMT(seq2seq) (w/ att)",
                 "NMT(seq2seq) (w/o att)"):
        for m in ("BLEU-1", "ROUGE"):
            verdict = "beats" if mean[full][m] > mean[base][m] else "does NOT beat"
            report.notes.append(f"Claim check: full DynGraph2Seq {verdict} {base} on {m} "
                                f"({mean[full][m]:.1f} vs {mean[base][m]:.1f}).")
    best = {m: max(mean, key=lambda n: mean[n][m]) for m in METRICS}
    report.notes.append("Best setting per column: " + ", ".join(f"{m}: {best[m]}" for m in METRICS))


def _examples(report, data, examples, vocab, runs):
    keys = ["DynGraph2Seq (w/ reg & att)", "Graph2Seq (w/ att)", "NMT(seq2seq) (w/ att)"]
    if not all(k in examples for k in keys):
        return
    te = examples["_te"]
    lines = ["Example test predictions (run 0; Tables 3.3-3.4 analogue):"]
    shown = 0
    for j, i in enumerate(te):
        gt = data.sequences[i]
        if len(gt) < 4 and shown < 3:
            continue
        lines.append(f"  Ground truth: {' '.join(gt)}")
        for k in keys:
            lines.append(f"    {k}: {' '.join(examples[k][j]) or '(empty)'}")
        shown += 1
        if shown >= 4:
            break
    report.notes.append("\n".join(lines))


def _figures(report, ctx, data, fig_data, vocab):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out, te, per_t = fig_data["out"], fig_data["te"], fig_data["per_t"]
    gt = data.ground_truth
    # Choose the test user with the longest correctly-decoded prefix (or longest prediction).
    lens = out["lengths"]
    b = int(np.argmax(lens + 0.01 * np.arange(len(lens))[::-1]))
    toks = [vocab.tokens[int(t)] for t in out["tokens"][b, :lens[b]]]
    att = out["attention"][b, :max(lens[b], 1)]
    top_t = list(np.argsort(-att.sum(0))[:2])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), gridspec_kw={"width_ratios": [1.2, 1, 1]})
    axes[0].imshow(att.T, aspect="auto", cmap="Greys")
    labels = toks or ["(EOS)"]
    axes[0].set_xticks(range(len(labels)))
    axes[0].set_xticklabels(labels, rotation=45, ha="right")
    axes[0].set_ylabel("month (snapshot)")
    axes[0].set_title("graph-to-sequence attention\ntrue: " + " ".join(data.sequences[te[b]]),
                      fontsize=9)
    stage_of = {v: s for s, ids in gt["planted_subforums"].items() for v in ids}
    for ax, t in zip(axes[1:], top_t):
        a = out["node_attention"][b, t]
        colors = ["tab:red" if v in stage_of else "tab:grey" for v in range(len(a))]
        ax.bar(range(len(a)), a, color=colors)
        for v in np.argsort(-a)[:3]:
            if a[v] > 0:
                ax.text(v, a[v], stage_of.get(int(v), f"#{v}"), fontsize=7, ha="center",
                        va="bottom", rotation=60)
        ax.set_title(f"node-to-graph attention, month {t} (red = planted)", fontsize=9)
        ax.set_xlabel("subforum id")
    fig.tight_layout()
    path = Path(ctx.out) / f"{NAME}_attention.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    report.figures.append(str(path))
    # Table 3.2 analogue: top-15 keywords per month, last 6 months.
    months = list(range(max(0, data.time_steps - 6), data.time_steps))
    stage_kw = {w for ws in gt["stage_keywords"].values() for w in ws}
    cols = []
    for t in months:
        order = np.argsort(-per_t[t])[:15]
        cols.append([data.keywords[j] + ("*" if data.keywords[j] in stage_kw else "") for j in order])
    csv_path = Path(ctx.out) / f"{NAME}_top_keywords.csv"
    with csv_path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"month {t}" for t in months])
        for row in zip(*cols):
            w.writerow(row)
    md = ["Top-15 keywords per month by first-layer row norm, full model run 0 (Table 3.2 "
          "analogue; * = planted stage keyword):", "",
          "| " + " | ".join(f"month {t}" for t in months) + " |",
          "|" + "---|" * len(months)]
    md += ["| " + " | ".join(row) + " |" for row in zip(*cols)]
    report.notes.append("\n".join(md))
    # Heat-map of keyword importance over time.
    fig, ax = plt.subplots(figsize=(10, 4))
    order = np.argsort(-per_t.sum(0))[:30]
    ax.imshow(per_t[:, order].T, aspect="auto", cmap="viridis")
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([data.keywords[j] + ("*" if data.keywords[j] in stage_kw else "")
                        for j in order], fontsize=6)
    ax.set_xlabel("month")
    ax.set_title("first-layer row norms (group lasso), top-30 keywords; * planted", fontsize=9)
    fig.tight_layout()
    path2 = Path(ctx.out) / f"{NAME}_keywords.png"
    fig.savefig(path2, dpi=110)
    plt.close(fig)
    report.figures.append(str(path2))
