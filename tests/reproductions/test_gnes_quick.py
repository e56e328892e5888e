import json
import math

import pytest

import reproductions.gnes_table_4_1 as repro
from reproductions._harness import RunContext, run_one


@pytest.mark.slow
def test_gnes_quick_mode_writes_finite_report(tmp_path):
    ctx = RunContext(quick=True, seed=0, out=tmp_path, verbose=0)
    run_one(repro, ctx)
    data = json.loads((tmp_path / f"{repro.NAME}.json").read_text())
    rows = data["rows"]
    settings = {r["setting"] for r in rows}
    assert "B3DB: GNES +human +reg" in settings and "B3DB: EB" in settings
    assert any(s.startswith("Scene graphs") for s in settings)
    node_rows = [r for r in rows if r["metric"] in ("node MSE", "node MAE", "edge MSE", "edge MAE")]
    assert node_rows and all(math.isfinite(r["ours"]) and 0 <= r["ours"] <= 1 for r in node_rows)
    assert (tmp_path / f"{repro.NAME}.md").exists()
    assert data["figures"] and all((tmp_path / p.split("/")[-1]).exists() for p in data["figures"])
