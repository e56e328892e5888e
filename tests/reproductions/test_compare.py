"""`python -m reproductions compare`: the noise band, timings, missing reports."""
import json

from reproductions._compare import agree, compare_dirs, is_timing, metric_scale


def _write(directory, name, rows):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(
        {"name": name, "rows": [{"setting": s, "metric": m, "ours": v} for s, m, v in rows]}))


def test_scale_and_timing_are_read_from_the_metric_name():
    assert metric_scale("BLEU-2") == 100 and metric_scale("val acc %") == 100
    assert metric_scale("test−val error q25 (points)") == 100
    assert metric_scale("test accuracy") == 1
    assert is_timing("seconds per epoch") and is_timing("fit wall time") and is_timing("cost vs plain")
    assert not is_timing("test accuracy") and not is_timing("FLOPs ratio")


def test_noise_band_on_the_metric_scale():
    assert agree("test accuracy", 0.80, 0.70)
    assert not agree("test accuracy", 0.80, 0.60)
    # A difference near zero is compared on the absolute scale, not relatively.
    assert agree("Δ clean accuracy vs baseline", 0.01, -0.02)
    assert not agree("Δ clean accuracy vs baseline", 0.10, -0.10)
    # BLEU is in points: 2.7 vs 0 is 0.027 of its range.
    assert agree("BLEU-2", 2.7, 1e-153)
    assert not agree("BLEU-2", 40.0, 20.0)
    # Unbounded metrics: relative.
    assert agree("nll", 2.0, 3.0) and not agree("nll", 2.0, 5.0)


def test_compare_dirs_counts_disagreements_and_skips_timings(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "r1", [("x", "test accuracy", 0.9), ("x", "seconds per epoch", 1.0), ("y", "nll", float("nan"))])
    _write(b, "r1", [("x", "test accuracy", 0.5), ("x", "seconds per epoch", 9.0), ("y", "nll", 1.0)])
    text, bad = compare_dirs(a, b)
    assert bad == 1
    assert "| r1 | 3 | 0 | 1 | 1 | 1 |" in text


def test_missing_reports_and_rows_are_disagreements(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "r1", [("x", "test accuracy", 0.9), ("x", "train accuracy", 1.0)])
    _write(b, "r1", [("x", "test accuracy", 0.9)])
    _write(a, "only_a", [("x", "test accuracy", 0.9)])
    text, bad = compare_dirs(a, b)
    assert bad == 2 and "only_a" in text
    _, bad_empty = compare_dirs(tmp_path / "none_a", tmp_path / "none_b")
    assert bad_empty == 1


def test_seed_spread_band_is_used_only_where_measured(tmp_path):
    from reproductions._compare import row_key, seed_spread
    from reproductions._noise import record

    seeds = [{"rows": [{"setting": "m", "metric": "ROUGE", "ours": v},
                       {"setting": "m", "metric": "seconds per epoch", "ours": 1.0}]} for v in (70.0, 40.0, 55.0)]
    assert seed_spread(seeds) == {row_key("m", "ROUGE"): 30.0}  # timings never get a band
    data = {}
    record(data, "r1", seeds, "keras 3.x", [0, 1, 2])
    record(data, "r1", seeds[:2], "tf_keras 2.x", [0, 1])
    noise_file = tmp_path / "noise.json"
    noise_file.write_text(json.dumps(data))
    from reproductions._compare import load_noise

    bands = load_noise(noise_file)
    assert bands == {"r1": {row_key("m", "ROUGE"): 30.0}}
    a, b = tmp_path / "a", tmp_path / "b"
    _write(a, "r1", [("m", "ROUGE", 74.0)])
    _write(b, "r1", [("m", "ROUGE", 50.0)])  # 24 points apart: outside 15, inside the 30 measured
    assert compare_dirs(a, b, noise=bands)[1] == 0
    assert compare_dirs(a, b, noise={})[1] == 1
    _write(b, "r1", [("m", "ROUGE", 40.0)])  # 34 apart: outside the measured spread too
    assert compare_dirs(a, b, noise=bands)[1] == 1
