"""Row-by-row comparison of two directories of reproduction reports.

Used by CI to check that every reproduction's quick mode gives the same numbers
under Keras 3 and under tf_keras *within noise*. The two bindings draw
different seeded initial weights (their random streams differ), so two runs
differ by what two seeds would; the tolerance is therefore a noise band, not
float precision: a metric in [0, 1] (accuracy, IoU, share) agrees when
``|a − b| ≤ abs_tol`` (default 0.15: two quick runs on 64–128 test images), any
other metric when ``|a − b| ≤ rel_tol · max(|a|, |b|)`` (default 0.5). Rows
that are not finite in both are listed and not counted.
"""

import json
import math
from pathlib import Path


def _rows(path):
    data = json.loads(Path(path).read_text())
    return {(r["setting"], r["metric"]): r["ours"] for r in data["rows"]}, data.get("config", {})


def _agree(a, b, abs_tol, rel_tol):
    if 0.0 <= a <= 1.0 and 0.0 <= b <= 1.0:
        return abs(a - b) <= abs_tol
    return abs(a - b) <= rel_tol * max(abs(a), abs(b), 1e-12)


def compare_dirs(dir_a, dir_b, abs_tol=0.15, rel_tol=0.5):
    """``(markdown, number of rows outside the tolerance)``."""
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    names = sorted(p.stem for p in dir_a.glob("*.json"))
    lines = [f"# Reports: {dir_a} vs {dir_b}", "",
             f"Tolerance: |a − b| ≤ {abs_tol} for metrics in [0, 1], else ≤ {rel_tol} × max(|a|, |b|).", "",
             "| reproduction | rows | agree | outside | not comparable | max abs Δ (in [0, 1]) |",
             "|---|---|---|---|---|---|"]
    details, total_bad = [], 0
    missing = sorted(set(p.stem for p in dir_b.glob("*.json")) ^ set(names))
    for name in names:
        if not (dir_b / f"{name}.json").exists():
            continue
        (ra, ca), (rb, cb) = _rows(dir_a / f"{name}.json"), _rows(dir_b / f"{name}.json")
        ok = bad = skipped = 0
        worst = 0.0
        for key in ra:
            a, b = ra[key], rb.get(key)
            if not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                    and math.isfinite(a) and math.isfinite(b)):
                skipped += 1
                continue
            if 0.0 <= a <= 1.0 and 0.0 <= b <= 1.0:
                worst = max(worst, abs(a - b))
            if _agree(a, b, abs_tol, rel_tol):
                ok += 1
            else:
                bad += 1
                details.append(f"| {name} | {key[0]} | {key[1]} | {a:.4g} | {b:.4g} |")
        total_bad += bad
        lines.append(f"| {name} | {len(ra)} | {ok} | {bad} | {skipped} | {worst:.3f} |")
    if details:
        lines += ["", "Outside the tolerance:", "", "| reproduction | setting | metric | a | b |",
                  "|---|---|---|---|---|"] + details
    if missing:
        lines += ["", f"Reports in only one directory: {missing}"]
    return "\n".join(lines) + "\n", total_bad
