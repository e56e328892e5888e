import json
import math

import pytest

from reproductions import egl_benchmark
from reproductions._harness import RunContext, run_one


def _rec(cf, clean, wr):
    return {"counterfactual accuracy": cf, "clean accuracy": clean, "wrong-reason share (Grad-CAM)": wr}


def test_compare_flags_hidden_not_removed():
    base = [_rec(0.2, 0.6, 0.30), _rec(0.4, 0.6, 0.50)]  # means: cf 0.3, clean 0.6, WR 0.4
    d_cf, d_clean, d_wr, hidden = egl_benchmark.compare(base, [_rec(0.32, 0.7, 0.1)])
    assert d_cf == pytest.approx(0.02) and d_clean == pytest.approx(0.1) and d_wr == pytest.approx(-0.3)
    assert hidden  # Grad-CAM moved off the confounder, the shortcut stayed
    assert not egl_benchmark.compare(base, [_rec(0.6, 0.7, 0.1)])[3]  # removed
    assert not egl_benchmark.compare(base, [_rec(0.3, 0.7, 0.45)])[3]  # nothing hidden


@pytest.mark.slow
def test_egl_benchmark_quick(tmp_path):
    run_one(egl_benchmark, RunContext(quick=True, out=tmp_path, verbose=0))
    data = json.loads((tmp_path / f"{egl_benchmark.NAME}.json").read_text())
    methods = {r["setting"].split(" · ")[-1] for r in data["rows"]}
    assert methods == set(egl_benchmark.METHODS)
    for r in data["rows"]:
        assert math.isfinite(r["ours"]), r
    acc = [r["ours"] for r in data["rows"] if r["metric"].endswith("accuracy") and "Δ" not in r["metric"]]
    assert all(0.0 <= a <= 1.0 for a in acc)
    share = [r["ours"] for r in data["rows"] if r["metric"].startswith("wrong-reason share")]
    assert all(0.0 <= s <= 1.0 for s in share)


@pytest.mark.slow
def test_egl_penalty_gradient_quick(tmp_path):
    from reproductions import egl_penalty_gradient

    run_one(egl_penalty_gradient, RunContext(quick=True, out=tmp_path, verbose=0))
    data = json.loads((tmp_path / f"{egl_penalty_gradient.NAME}.json").read_text())
    settings = {r["setting"] for r in data["rows"]}
    assert "decoy_mnist: rrr (finite difference)" in settings
    assert "decoy_mnist: feedback (finite difference)" in settings
    for r in data["rows"]:
        assert math.isfinite(r["ours"]), r


def test_build_fd_variant_takes_the_finite_difference_gradient():
    model = egl_benchmark._build("rrr@fd", (28, 28, 1), 10, seed=0, n_train=10)
    assert [t.penalty_gradient for t in model.terms] == ["finite_difference"]
    model = egl_benchmark._build("feedback", (28, 28, 1), 10, seed=0, n_train=10)
    assert [t.penalty_gradient for t in model.terms] == ["exact"]
