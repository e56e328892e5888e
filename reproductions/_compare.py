"""Row-by-row comparison of two directories of reproduction reports.

CI uses it to check that every reproduction's quick mode gives the same numbers
under Keras 3 and under tf_keras *within noise*. Both bindings seed the same
initialisers and run the same TensorFlow kernels, so most reports agree to the
last digit; where they do not (a binding draws a random stream differently),
two runs differ by what two seeds would. The tolerance is therefore a noise
band on the metric's own scale, not float precision:

* **scale** — 100 for metrics reported in percent or points (``%``,
  ``(points)``, BLEU, ROUGE), else 1;
* a metric whose two values both lie in ``[-scale, scale]`` (accuracies,
  IoU, shares, correlations, differences of such) agrees when
  ``|a − b| ≤ abs_tol · scale`` (default 0.15: two quick runs on 64–128 test
  images);
* any other metric when ``|a − b| ≤ rel_tol · max(|a|, |b|)`` (default 0.5);
* **timings** (seconds, wall time, cost ratios against a plain step) are
  listed but not compared: they measure the machine, not the method;
* rows that are not finite in both reports are listed and not counted;
* **measured seed noise**: where a reproduction's quick mode is a smoke-size
  model whose numbers swing with the seed (DynGraph2Seq's BLEU/ROUGE after two
  epochs), ``python -m reproductions noise NAME --seeds 0 1 2`` runs its quick
  mode once per seed *under one binding* and records each row's spread
  (max − min) in ``reproductions/quick_noise.json``; ``compare`` then also
  accepts ``|a − b| ≤ spread``, the larger spread measured under either binding.
  The file holds what was measured (binding, seeds, date), never a cross-binding
  difference.
"""

import json
import math
import re
from pathlib import Path

NOISE_FILE = Path(__file__).resolve().parent / "quick_noise.json"

_TIMING = re.compile(r"seconds|wall time|cost vs plain|per epoch \(s\)|\bms\b", re.IGNORECASE)
_PERCENT = re.compile(r"%|\(points\)|^BLEU|^ROUGE", re.IGNORECASE)


def metric_scale(metric):
    """100 for metrics in percent or points, else 1."""
    return 100.0 if _PERCENT.search(metric) else 1.0


def is_timing(metric):
    """True for rows that measure time (listed, never compared)."""
    return bool(_TIMING.search(metric))


def agree(metric, a, b, abs_tol=0.15, rel_tol=0.5):
    """Whether ``a`` and ``b`` agree within the noise band of ``metric``."""
    scale = metric_scale(metric)
    if abs(a) <= scale and abs(b) <= scale:
        return abs(a - b) <= abs_tol * scale
    return abs(a - b) <= rel_tol * max(abs(a), abs(b), 1e-12)


def row_key(setting, metric):
    return f"{setting} || {metric}"


def load_noise(path=NOISE_FILE):
    """``{reproduction: {row_key: spread}}``: the largest within-binding seed spread of each row."""
    path = Path(path)
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    out = {}
    for name, entry in data.items():
        bands = {}
        for measurement in entry.get("measurements", []):
            for key, spread in measurement["spread"].items():
                bands[key] = max(bands.get(key, 0.0), float(spread))
        out[name] = bands
    return out


def seed_spread(reports):
    """``{row_key: max − min}`` over reports of one reproduction run with different seeds."""
    values = {}
    for data in reports:
        for r in data["rows"]:
            v = r["ours"]
            if isinstance(v, (int, float)) and math.isfinite(v) and not is_timing(r["metric"]):
                values.setdefault(row_key(r["setting"], r["metric"]), []).append(float(v))
    return {k: max(v) - min(v) for k, v in values.items() if len(v) == len(reports)}


def _rows(path):
    data = json.loads(Path(path).read_text())
    return {(r["setting"], r["metric"]): r["ours"] for r in data["rows"]}


def compare_dirs(dir_a, dir_b, abs_tol=0.15, rel_tol=0.5, noise=None):
    """``(markdown, number of rows outside the tolerance)``.

    Reports present in only one directory count as one disagreement each, as
    does a row present in only one of two reports: a reproduction that ran
    under one binding only has not been compared. ``noise`` is
    :func:`load_noise`'s mapping (``None``: the committed file).
    """
    noise = load_noise() if noise is None else noise
    dir_a, dir_b = Path(dir_a), Path(dir_b)
    names_a = {p.stem for p in dir_a.glob("*.json")}
    names_b = {p.stem for p in dir_b.glob("*.json")}
    lines = [f"# Reports: {dir_a} vs {dir_b}", "",
             f"Tolerance: |a − b| ≤ {abs_tol} × scale when both values lie in [−scale, scale] "
             f"(scale 100 for percent/points/BLEU/ROUGE, else 1), else ≤ {rel_tol} × max(|a|, |b|). "
             "Timings are not compared. Rows with a measured seed spread (reproductions/quick_noise.json) "
             "also agree within that spread.", "",
             "| reproduction | rows | agree | outside | timings | not comparable | max abs Δ / scale |",
             "|---|---|---|---|---|---|---|"]
    details, total_bad = [], 0
    for name in sorted(names_a & names_b):
        ra, rb = _rows(dir_a / f"{name}.json"), _rows(dir_b / f"{name}.json")
        ok = bad = skipped = timings = by_noise = 0
        bands = noise.get(name, {})
        worst = 0.0
        for key in sorted(set(ra) | set(rb)):
            if key not in ra or key not in rb:
                bad += 1
                details.append(f"| {name} | {key[0]} | {key[1]} | {ra.get(key, '—')} | {rb.get(key, '—')} |")
                continue
            a, b = ra[key], rb[key]
            if is_timing(key[1]):
                timings += 1
                continue
            if not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                    and math.isfinite(a) and math.isfinite(b)):
                skipped += 1
                continue
            scale = metric_scale(key[1])
            if abs(a) <= scale and abs(b) <= scale:
                worst = max(worst, abs(a - b) / scale)
            if agree(key[1], a, b, abs_tol, rel_tol):
                ok += 1
            elif abs(a - b) <= bands.get(row_key(*key), -1.0):
                ok += 1
                by_noise += 1
            else:
                bad += 1
                details.append(f"| {name} | {key[0]} | {key[1]} | {a:.4g} | {b:.4g} |")
        total_bad += bad
        agreed = f"{ok} ({by_noise} within seed spread)" if by_noise else f"{ok}"
        lines.append(f"| {name} | {len(ra)} | {agreed} | {bad} | {timings} | {skipped} | {worst:.3f} |")
    if details:
        lines += ["", "Outside the tolerance:", "", "| reproduction | setting | metric | a | b |",
                  "|---|---|---|---|---|"] + details
    only = sorted(names_a ^ names_b)
    if only:
        total_bad += len(only)
        lines += ["", f"Reports in only one directory (not compared): {only}"]
    if not (names_a & names_b):
        total_bad += 1
        lines += ["", "No report is present in both directories."]
    return "\n".join(lines) + "\n", total_bad
