import json
import math

import pytest

from reproductions import bean_alpha_sweep, bean_figures, bean_table_2_1, bean_table_2_2, bean_table_2_3
from reproductions._harness import RunContext, run_one


def _check(module, tmp_path):
    ctx = RunContext(quick=True, out=tmp_path, verbose=0)
    run_one(module, ctx)
    data = json.loads((tmp_path / f"{module.NAME}.json").read_text())
    assert data["rows"], "no rows"
    assert all(math.isfinite(r["ours"]) for r in data["rows"])
    assert (tmp_path / f"{module.NAME}.md").exists()
    return data


@pytest.mark.slow
def test_table_2_2_quick(tmp_path):
    data = _check(bean_table_2_2, tmp_path)
    assert {r["paper"] for r in data["rows"]} >= {38.63, 54.79, 53.75}


@pytest.mark.slow
def test_table_2_3_quick(tmp_path):
    _check(bean_table_2_3, tmp_path)


@pytest.mark.slow
def test_alpha_sweep_quick(tmp_path):
    data = _check(bean_alpha_sweep, tmp_path)
    assert all((tmp_path / p.split("/")[-1]).exists() for p in data["figures"])


@pytest.mark.slow
def test_table_2_1_quick(tmp_path):
    data = _check(bean_table_2_1, tmp_path)
    rows = {(r["setting"], r["metric"]): r["ours"] for r in data["rows"]}
    assert rows[("vanilla", "FLOPs ratio")] == pytest.approx(1.0)


@pytest.mark.slow
def test_figures_quick(tmp_path):
    data = _check(bean_figures, tmp_path)
    assert len(data["figures"]) == 5
