"""GNES Table 4.1 (molecules) and Table 4.2 (scene graphs) analogues.

Gao et al., "GNES: Learning to Explain Graph Neural Networks" (ICDM 2021),
dissertation §4.2.4, Tables 4.1–4.2. Rows: EB and Grad-CAM (explanations of the
plain GCN backbone, same trained model), GNES −human +reg, +human −reg and
+human +reg (full); 5 runs (seeds change the initialisation and which 10 % of
training graphs carry masks).

Data (offline): B3DB (``qc-b3db``, 7,807 molecules, BBB+/BBB−; a superset
source of the paper's BBBP), Bemis–Murcko scaffold split 80/10/10, masks from
:class:`~keras_egl.data.molecules.RuleAnnotator` (the authors' chemist masks
are not public) on 10 % of the training graphs and every test graph. The
paper's BBBP numbers are printed beside ours (different data: trends only).
BBBP/BACE/Tox21-NR-ER are added when ``BBBP.csv``/``bace.csv``/``tox21.csv``
are in ``--data-dir``. Table 4.2 analogue: the scene-graph-like generator
(planted objects and relations), random split, beside the paper's Indoor vs
Outdoor rows.

Budget: full mode uses the authors' code widths (256/128/64) and
``GNES_EPOCHS`` (default 6) epochs instead of 100 so that the whole table fits
in ~30 CPU minutes; the checkpoint is the epoch with the best validation AUC
(the authors' rule; validation graphs are unlabelled). Loss configuration =
``fidelity="dissertation"`` (max-normalised maps, eq. 4.5 without the
code's anti-collapse term, β = 0.1, γ = 0.001).
"""

import os

import numpy as np

from reproductions._harness import Report

NAME = "gnes_table_4_1"
TITLE = "GNES (Gao et al., ICDM 2021) Table 4.1 (molecules; B3DB + rule masks) and Table 4.2 analogue"

# Table 4.1 / 4.2 (dissertation, 5 runs): (AUC, node MSE, node MAE, edge MSE, edge MAE)
PAPER_41 = {
    "BBBP": {"EB": (0.659, 0.572, 0.590, 0.050, 0.051), "GradCAM": (0.659, 0.460, 0.545, 0.042, 0.050),
             "GNES -human +reg": (0.662, 0.375, 0.514, 0.029, 0.047),
             "GNES +human -reg": (0.665, 0.449, 0.540, 0.041, 0.049),
             "GNES +human +reg": (0.676, 0.358, 0.504, 0.032, 0.048)},
    "BACE": {"EB": (0.703, 0.517, 0.548, 0.033, 0.035), "GradCAM": (0.703, 0.483, 0.544, 0.032, 0.036),
             "GNES -human +reg": (0.729, 0.427, 0.525, 0.026, 0.036),
             "GNES +human -reg": (0.732, 0.421, 0.522, 0.024, 0.035),
             "GNES +human +reg": (0.733, 0.391, 0.519, 0.023, 0.035)},
    "TOX21": {"EB": (0.788, 0.560, 0.622, 0.081, 0.091), "GradCAM": (0.788, 0.466, 0.566, 0.071, 0.084),
              "GNES -human +reg": (0.789, 0.460, 0.562, 0.068, 0.081),
              "GNES +human -reg": (0.789, 0.393, 0.537, 0.065, 0.083),
              "GNES +human +reg": (0.794, 0.392, 0.523, 0.065, 0.079)},
    "Indoor vs Outdoor": {"EB": (0.965, 0.304, 0.361, 0.013, 0.016),
                          "GradCAM": (0.965, 0.280, 0.439, 0.010, 0.016),
                          "GNES -human +reg": (0.964, 0.274, 0.420, 0.010, 0.016),
                          "GNES +human -reg": (0.965, 0.270, 0.419, 0.010, 0.015),
                          "GNES +human +reg": (0.965, 0.267, 0.406, 0.009, 0.014)},
}
METRICS = ("AUC", "node MSE", "node MAE", "edge MSE", "edge MAE")
ROWS = ("EB", "GradCAM", "GNES -human +reg", "GNES +human -reg", "GNES +human +reg")
_VARIANT_OF = {"GNES -human +reg": "-human+reg", "GNES +human -reg": "+human-reg", "GNES +human +reg": "full"}


def _metrics_row(res, method):
    r = res[method]
    return (res["auc"], r["node_mse"], r["node_mae"], r["edge_mse"], r["edge_mae"])


def _train_eval(graphs, split, variant, seed, epochs, batch_size, hidden, n_features, fidelity, keep_model=False):
    from keras_egl._keras import keras
    from keras_egl.callbacks.model_selection import BestValidationAUC
    from keras_egl.data.molecules import graph_dataset
    from keras_egl.metrics.graph_evaluation import evaluate_graph_model
    from keras_egl.models.gnes import build_gnes

    tr, va, te = split
    keras.utils.set_random_seed(seed)
    model = build_gnes(n_features, 2, fidelity=fidelity, variant=variant, seed=seed, hidden=hidden)
    dtr = graph_dataset([graphs[i] for i in tr], batch_size, seed=seed)
    dva = graph_dataset([graphs[i] for i in va], 128, shuffle=False)
    dte = graph_dataset([graphs[i] for i in te], 128, shuffle=False)
    cb = BestValidationAUC(dva)
    model.fit(dtr, epochs=epochs, verbose=0, callbacks=[cb])
    methods = ("grad_cam", "eb") if variant == "backbone" else ("grad_cam",)
    res = evaluate_graph_model(model, dte, methods=methods, edge_method="auto", target="true")
    res["best_epoch"] = cb.best_epoch
    return (res, model) if keep_model else (res, None)


def _run_dataset(ctx, report, name, graphs, split, runs, epochs, batch_size, hidden, fidelity, paper_key,
                 figure_fn=None):
    from keras_egl.data.molecules import assign_annotations

    n_features = graphs[0].x.shape[1]
    vals = {r: [] for r in ROWS}
    models = {}
    for run in ctx.progress(range(runs), desc=name):
        seed = ctx.seed + run
        assign_annotations(graphs, split[0], split[2], fraction=0.1, seed=seed)
        for variant in ("backbone", "-human+reg", "+human-reg", "full"):
            keep = figure_fn is not None and run == 0 and variant in ("backbone", "full")
            res, model = _train_eval(graphs, split, variant, seed, epochs, batch_size, hidden, n_features,
                                     fidelity, keep_model=keep)
            if keep:
                models[variant] = model
            if variant == "backbone":
                vals["EB"].append(_metrics_row(res, "eb"))
                vals["GradCAM"].append(_metrics_row(res, "grad_cam"))
            else:
                vals[{v: k for k, v in _VARIANT_OF.items()}[variant]].append(_metrics_row(res, "grad_cam"))
            ctx.log(f"[{name}] run {run} {variant}: auc={res['auc']:.3f} best_epoch={res['best_epoch']} "
                    + " ".join(f"{m}:{res[m]['node_mse']:.3f}/{res[m]['edge_mse']:.4f}"
                               for m in ("grad_cam", "eb") if m in res))
    paper = PAPER_41.get(paper_key, {})
    for row in ROWS:
        arr = np.asarray(vals[row], float)
        for j, metric in enumerate(METRICS):
            p = paper.get(row, (None,) * 5)[j]
            report.add(f"{name}: {row}", metric, arr[:, j], paper=p,
                       note=f"paper: {paper_key}" if p is not None and paper_key != name else "")
    gc = np.asarray(vals["GradCAM"], float)
    full = np.asarray(vals["GNES +human +reg"], float)
    gain = 1.0 - full[:, 1].mean() / gc[:, 1].mean()
    d_auc = full[:, 0].mean() - gc[:, 0].mean()
    report.notes.append(f"{name}: full GNES node MSE is {100 * gain:.1f}% lower than the Grad-CAM baseline "
                        f"(target ≥ 10%: {'met' if gain >= 0.10 else 'MISSED'}); AUC difference full − backbone "
                        f"= {d_auc:+.3f} (target ≥ −0.01: {'met' if d_auc >= -0.01 else 'MISSED'}).")
    if figure_fn is not None and models:
        figure_fn(models, graphs, split)
    return vals


def _draw_figure(ctx, report):
    def fn(models, graphs, split):
        try:
            from rdkit import Chem
            from rdkit.Chem.Draw import rdMolDraw2D
        except ImportError:  # pragma: no cover
            return
        from keras_egl.data.molecules import pad_batch
        from keras_egl.explain.graph import explain_graph

        te = [i for i in split[2] if graphs[i].smiles and 12 <= graphs[i].n_nodes <= 30]
        if not te:
            return
        g = graphs[te[0]]
        mol = Chem.MolFromSmiles(g.smiles)
        panels = []
        for title, model in (("backbone (Grad-CAM)", models["backbone"]), ("GNES full", models["full"])):
            inputs, y = pad_batch([g], model.n_layers)
            ins = [inputs["x"]] + [inputs[f"a_{l + 1}"] for l in range(model.n_layers)] + [inputs["node_mask"]]
            out = explain_graph(model.model, ins, target="true", y=y, adjacency=inputs["adjacency"])
            panels.append((title, out["node"].numpy()[0], out["edge"].numpy()[0]))
        panels.append(("rule mask (ground truth)", g.node_importance, g.edge_importance))
        paths = []
        for k, (title, node, edge) in enumerate(panels):
            d = rdMolDraw2D.MolDraw2DCairo(400, 360)
            d.drawOptions().legendFontSize = 18
            atoms = list(range(mol.GetNumAtoms()))
            acol = {i: (1.0, 1.0 - 0.8 * float(node[i]), 1.0 - 0.8 * float(node[i])) for i in atoms}
            bonds, bcol = [], {}
            for b in mol.GetBonds():
                i, j = b.GetBeginAtomIdx(), b.GetEndAtomIdx()
                w = float(max(edge[i, j], edge[j, i]))
                bonds.append(b.GetIdx())
                bcol[b.GetIdx()] = (1.0 - 0.8 * w, 1.0 - 0.8 * w, 1.0)
            rdMolDraw2D.PrepareAndDrawMolecule(d, mol, legend=title, highlightAtoms=atoms,
                                               highlightAtomColors=acol, highlightBonds=bonds,
                                               highlightBondColors=bcol)
            d.FinishDrawing()
            p = ctx.out / f"gnes_molecule_{k}.png"
            p.write_bytes(d.GetDrawingText())
            paths.append(p)
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.image as mpimg
            import matplotlib.pyplot as plt

            fig, axes = plt.subplots(1, len(paths), figsize=(4 * len(paths), 3.6))
            for ax, p in zip(axes, paths):
                ax.imshow(mpimg.imread(str(p)))
                ax.axis("off")
            fig.suptitle(f"node (red) / edge (blue) importance, {g.smiles[:60]}")
            fig.tight_layout()
            out = ctx.out / "gnes_molecule_before_after.png"
            fig.savefig(out, dpi=100)
            plt.close(fig)
            report.figures.append(str(out))
        except Exception as exc:  # pragma: no cover - figure is a bonus
            ctx.log(f"figure montage failed: {exc}")
            report.figures += [str(p) for p in paths]

    return fn


def run(ctx):
    from keras_egl.data.molecules import (RuleAnnotator, featurize_smiles, load_b3db, load_moleculenet_csv,
                                          make_scene_graphs, random_split, scaffold_split)

    ctx.out.mkdir(parents=True, exist_ok=True)
    report = Report(NAME, TITLE)
    runs = ctx.n_runs(5, 1)
    epochs = 2 if ctx.quick else int(os.environ.get("GNES_EPOCHS", 6))
    hidden = (32, 16, 8) if ctx.quick else "code"
    fidelity = "dissertation"
    batch_size = 32
    report.config.update(runs=runs, epochs=epochs, hidden=str(hidden), fidelity=fidelity, batch_size=batch_size,
                         label_fraction=0.1, target="true class", normalisation="max_positive (evaluation)")
    annot = RuleAnnotator()

    smiles, labels = load_b3db()
    if ctx.quick:
        idx = np.random.default_rng(ctx.seed).choice(len(smiles), 160, replace=False)
        smiles, labels = [smiles[i] for i in idx], labels[idx]
    graphs, _, skipped = featurize_smiles(smiles, labels, annotator=annot, min_atoms=2)
    report.notes.append(f"B3DB: {len(graphs)} molecules featurised; skipped {skipped}.")
    split = scaffold_split([g.smiles for g in graphs])
    report.notes.append(f"B3DB scaffold split sizes: {[len(s) for s in split]}; mean rule-mask node coverage "
                        f"{np.mean([g.node_importance.mean() for g in graphs]):.2f}.")
    _run_dataset(ctx, report, "B3DB", graphs, split, runs, epochs, batch_size, hidden, fidelity, "BBBP",
                 figure_fn=_draw_figure(ctx, report))

    if ctx.data_dir is not None and not ctx.quick:
        for fname, ds, key, splitter in (("BBBP.csv", "bbbp", "BBBP", "scaffold"),
                                         ("bace.csv", "bace", "BACE", "scaffold"),
                                         ("tox21.csv", "tox21", "TOX21", "random")):
            path = os.path.join(str(ctx.data_dir), fname)
            if not os.path.exists(path) and os.path.exists(path + ".gz"):
                path += ".gz"
            if not os.path.exists(path):
                report.notes.append(f"{key}: {fname} not in --data-dir; row skipped.")
                continue
            smi, y = load_moleculenet_csv(path, ds)
            gs, _, sk = featurize_smiles(smi, y, annotator=annot, min_atoms=2)
            sp = scaffold_split([g.smiles for g in gs]) if splitter == "scaffold" else random_split(len(gs), seed=ctx.seed)
            report.notes.append(f"{key}: {len(gs)} molecules, skipped {sk}, {splitter} split.")
            _run_dataset(ctx, report, key, gs, sp, runs, epochs, batch_size, hidden, fidelity, key)

    # Table 4.2 analogue: planted scene graphs.
    n_per_class = 40 if ctx.quick else 1000
    scenes = make_scene_graphs(n_per_class=n_per_class, seed=ctx.seed)
    sp = random_split(len(scenes), seed=ctx.seed)
    _run_dataset(ctx, report, "Scene graphs (synthetic)", scenes, sp, runs, epochs, batch_size,
                 (32, 16, 8) if ctx.quick else (64, 32, 16), fidelity, "Indoor vs Outdoor")
    report.notes.append("EB and GradCAM rows explain the same trained backbone (identical AUC), as in the paper. "
                        "EB edge errors use the response-based edge map (eq. 4.11); all others the gradient edge "
                        "map (eq. 4.10). Explanations: true class, max-normalised, errors over all N / N² entries.")
    report.notes.append("The paper's numbers are for BBBP (molecules) and Visual Genome Indoor vs Outdoor (scene "
                        "graphs) with chemist/human masks; ours use B3DB and a synthetic generator with rule-based "
                        "masks, so only the trends are comparable.")
    return report
