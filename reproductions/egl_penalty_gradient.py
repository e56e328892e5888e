"""Exact vs finite-difference penalty gradient on the cross-method benchmark's tasks.

Not a table of a paper: evidence for ``penalty_gradient="finite_difference"``
(:mod:`keras_egl.terms.penalty_gradient`) beyond Decoy MNIST. The two
input-gradient terms of ``egl_benchmark`` (RRR, non-Bayesian feedback) are
trained with ``weight="auto"`` and their defaults on every benchmark task at a
100 % noisy annotation budget, with the exact and the finite-difference
gradient, same seeds and sizes as ``egl_benchmark``'s full mode; plain
training is shown for reference. ``--quick``: one task, one seed, tiny data.
"""

import numpy as np

from reproductions import egl_benchmark as bench
from reproductions._harness import Report

NAME = "egl_penalty_gradient"
TITLE = "Exact vs finite-difference penalty gradient on the egl_benchmark tasks (100 % noisy masks)"
METHODS = ("baseline", "rrr", "rrr@fd", "feedback", "feedback@fd")


def run(ctx):
    quick = ctx.quick
    sizes = bench.QUICK if quick else bench.FULL
    tasks = ("decoy_mnist",) if quick else bench.TASKS
    seeds = [ctx.seed + r for r in range(ctx.n_runs(3, 1))]
    records = []
    for task in tasks:
        for seed in ctx.progress(seeds, desc=f"{NAME} {task}"):
            records += bench.run_job(task, seed, ((1.0, "noisy"),), sizes, METHODS)
    report = Report(NAME, TITLE)
    for task in tasks:
        for method in METHODS:
            rows = sorted((r for r in records if r["task"] == task and r["method"] == method),
                          key=lambda r: r["seed"])
            label = method.replace("@fd", " (finite difference)")
            for metric in ("clean accuracy", "counterfactual accuracy"):
                report.add(f"{task}: {label}", metric, [r[metric] for r in rows])
            report.add(f"{task}: {label}", "seconds per epoch", [r["seconds per epoch"] for r in rows])
        for term in ("rrr", "feedback"):
            ex = {r["seed"]: r for r in records if r["task"] == task and r["method"] == term}
            fd = {r["seed"]: r for r in records if r["task"] == task and r["method"] == f"{term}@fd"}
            for metric in ("clean accuracy", "counterfactual accuracy"):
                diffs = [fd[s][metric] - ex[s][metric] for s in sorted(ex) if s in fd]
                sd = float(np.std([ex[s][metric] for s in ex], ddof=1)) if len(ex) > 1 else float("nan")
                report.add(f"{task}: {term} finite difference − exact", f"{metric} (per seed)", diffs,
                           note=f"exact runs' std {sd:.3f}")
    report.config.update({"tasks": list(tasks), "seeds": seeds, **sizes, "budget": 1.0, "masks": "noisy",
                          "weight": "auto"})
    return report
