import json
import math

import pytest

from reproductions import _harness
from reproductions import dyngraph2seq_table_3_1 as mod


@pytest.mark.slow
def test_quick_mode_writes_finite_table(tmp_path):
    ctx = _harness.RunContext(quick=True, seed=0, out=tmp_path, verbose=0)
    _harness.run_one(mod, ctx)
    data = json.loads((tmp_path / f"{mod.NAME}.json").read_text())
    rows = [r for r in data["rows"] if r["metric"] in mod.METRICS]
    assert len(rows) == (8 + len(mod.EXTRA)) * 5
    assert {r["setting"] for r in rows} == set(mod.PAPER) | set(mod.EXTRA)
    assert all(r["ours"] is not None and math.isfinite(r["ours"]) for r in rows)
    assert all((r["paper"] is not None) == (r["setting"] in mod.PAPER) for r in rows)
    assert (tmp_path / f"{mod.NAME}.md").exists()
