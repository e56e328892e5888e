"""Shared machinery of the reproductions: registry, results, reports.

A reproduction is a module in this package that defines

* ``NAME`` – the name used on the command line (e.g. ``"rrr_decoy_mnist"``);
* ``TITLE`` – one line: paper, table, data set;
* ``run(ctx: RunContext) -> Report`` – does the work.

``RunContext`` carries ``quick``, ``runs``, ``seed``, ``out`` and ``data_dir``
and a ``progress`` helper. A ``Report`` holds rows (setting, metric, ours,
paper, and optionally the spread over runs), notes and figure paths; the
harness writes it as ``<out>/<NAME>.json`` and ``<out>/<NAME>.md``, a markdown
table with our numbers beside the paper's.
"""

import dataclasses
import importlib
import json
import math
import os
import pkgutil
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np


@dataclasses.dataclass
class RunContext:
    quick: bool = False
    runs: Optional[int] = None
    seed: int = 0
    out: Path = Path("results")
    data_dir: Optional[Path] = None
    verbose: int = 1

    def n_runs(self, full_default, quick_default=1):
        """Number of repetitions: ``--runs`` if given, else the mode's default."""
        if self.runs is not None:
            return int(self.runs)
        return quick_default if self.quick else full_default

    def progress(self, iterable, desc=None, total=None):
        if self.verbose <= 0:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=False)

    def log(self, *args):
        if self.verbose > 0:
            print(*args, flush=True)


@dataclasses.dataclass
class Row:
    setting: str
    metric: str
    ours: Optional[float]
    paper: Optional[float] = None
    ours_std: Optional[float] = None
    n: Optional[int] = None
    note: str = ""
    values: Optional[List[float]] = None  # per run (JSON only), so paired comparisons stay possible


@dataclasses.dataclass
class Report:
    name: str
    title: str
    rows: List[Row] = dataclasses.field(default_factory=list)
    notes: List[str] = dataclasses.field(default_factory=list)
    figures: List[str] = dataclasses.field(default_factory=list)
    config: Dict[str, Any] = dataclasses.field(default_factory=dict)
    seconds: Optional[float] = None

    def add(self, setting, metric, values, paper=None, note=""):
        """Add a row; ``values`` is one number or a list over runs."""
        arr = np.atleast_1d(np.asarray(values, dtype=float))
        arr_f = arr[np.isfinite(arr)]
        ours = float(arr_f.mean()) if arr_f.size else float("nan")
        std = float(arr_f.std(ddof=1)) if arr_f.size > 1 else None
        self.rows.append(Row(setting, metric, ours, paper, std, int(arr.size), note,
                             [float(v) for v in arr] if arr.size > 1 else None))
        return self

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_markdown(self):
        lines = [f"# {self.title}", ""]
        if self.config:
            lines.append("Config: " + ", ".join(f"`{k}={v}`" for k, v in self.config.items()))
            lines.append("")
        lines.append("| setting | metric | ours | paper | Δ (ours − paper) | runs |")
        lines.append("|---|---|---|---|---|---|")
        for r in self.rows:
            ours = _fmt(r.ours) + (f" ± {_fmt(r.ours_std)}" if r.ours_std is not None else "")
            delta = _fmt(r.ours - r.paper) if _finite(r.ours) and _finite(r.paper) else "–"
            note = f" ({r.note})" if r.note else ""
            lines.append(f"| {r.setting}{note} | {r.metric} | {ours} | {_fmt(r.paper)} | {delta} | {r.n or ''} |")
        if self.notes:
            lines += ["", "Notes:", ""] + [f"- {n}" for n in self.notes]
        if self.figures:
            lines += ["", "Figures:", ""] + [f"- ![]({Path(f).name})" for f in self.figures]
        if self.seconds is not None:
            lines += ["", f"Wall time: {self.seconds:.1f} s"]
        return "\n".join(lines) + "\n"

    def write(self, out):
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{self.name}.json").write_text(json.dumps(self.to_dict(), indent=2, default=_json_default))
        (out / f"{self.name}.md").write_text(self.to_markdown())
        return out / f"{self.name}.md"


def _finite(v):
    return v is not None and isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float) and not math.isfinite(v):
        return "nan"
    return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.3e}"


def _json_default(o):
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def discover():
    """Map NAME -> module for every reproduction module in this package."""
    import reproductions

    found = {}
    for info in pkgutil.iter_modules(reproductions.__path__):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"reproductions.{info.name}")
        if hasattr(mod, "NAME") and hasattr(mod, "run"):
            found[mod.NAME] = mod
    return dict(sorted(found.items()))


def run_one(module, ctx: RunContext) -> Report:
    start = time.time()
    report = module.run(ctx)
    report.seconds = time.time() - start
    report.config.setdefault("quick", ctx.quick)
    report.config.setdefault("seed", ctx.seed)
    path = report.write(ctx.out)
    # CI collects every report of a test run here, one directory per Keras binding, to
    # compare the bindings' numbers (`python -m reproductions compare A B`).
    extra = os.environ.get("KERAS_EGL_REPORT_COPY")
    if extra:
        from keras_egl import keras_version

        report.config.setdefault("keras", keras_version)
        report.write(Path(extra))
    if ctx.verbose > 0:
        print(report.to_markdown())
        print(f"[written {path} and {path.with_suffix('.json')}]")
    return report
