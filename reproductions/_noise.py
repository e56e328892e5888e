"""``python -m reproductions noise NAME --seeds 0 1 2``: a quick mode's seed spread under one binding.

Runs the quick mode once per seed in this process's binding and merges each
row's spread (max − min over the seeds) into ``reproductions/quick_noise.json``
with the binding, the seeds and the date, so ``compare`` can tell a
cross-binding difference from seed noise (see :mod:`reproductions._compare`).
"""

import datetime
import json
import tempfile
from pathlib import Path

from reproductions._compare import NOISE_FILE, seed_spread
from reproductions._harness import RunContext, run_one


def measure_noise(registry, names, seeds, path=None):
    from keras_egl import keras_version

    path = Path(path or NOISE_FILE)
    data = json.loads(path.read_text()) if path.exists() else {}
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise SystemExit(f"unknown reproduction(s) {unknown}; known: {sorted(registry)}")
    if len(seeds) < 2:
        raise SystemExit("`--seeds` needs at least two seeds to measure a spread.")
    for name in names:
        reports = []
        with tempfile.TemporaryDirectory() as tmp:
            for seed in seeds:
                out = Path(tmp) / f"seed{seed}"
                run_one(registry[name], RunContext(quick=True, seed=seed, out=out, verbose=0))
                reports.append(json.loads((out / f"{name}.json").read_text()))
        n_rows = record(data, name, reports, keras_version, seeds)
        print(f"{name}: {n_rows} rows measured under {keras_version}")
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return 0


def record(data, name, reports, keras_version, seeds):
    """Merge one binding's measurement (its seed reports) into ``data``; returns the row count."""
    entry = data.setdefault(name, {"measurements": []})
    entry["measurements"] = [m for m in entry["measurements"] if m["keras"] != keras_version]
    spread = seed_spread(reports)
    entry["measurements"].append({"keras": keras_version, "seeds": list(seeds),
                                  "date": datetime.date.today().isoformat(), "spread": spread})
    return len(spread)
