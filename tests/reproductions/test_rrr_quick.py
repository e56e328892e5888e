"""Quick modes of the RRR reproductions: run into a tmp dir, JSON with finite numbers."""

import json
import math

import pytest

from reproductions._harness import RunContext, run_one

NAMES = ["rrr_decoy_mnist", "rrr_toy_colors", "rrr_iris_cancer", "rrr_lambda_sweep", "rrr_decoy_size",
         "rrr_penalty_gradient"]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_quick_mode_writes_finite_report(name, tmp_path):
    import importlib

    module = importlib.import_module(f"reproductions.{name}")
    assert module.NAME == name
    ctx = RunContext(quick=True, seed=0, out=tmp_path, verbose=0)
    run_one(module, ctx)
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["rows"], "the report has no rows"
    for row in data["rows"]:
        assert isinstance(row["ours"], float) and math.isfinite(row["ours"]), row
    assert (tmp_path / f"{name}.md").exists()
    for fig in data["figures"]:
        assert (tmp_path / fig.split("/")[-1]).exists()
