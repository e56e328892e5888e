import json
import math

import pytest

from reproductions import res_table_4_4
from reproductions._harness import RunContext, run_one


@pytest.mark.slow
def test_res_table_4_4_quick(tmp_path):
    ctx = RunContext(quick=True, out=tmp_path, verbose=0)
    report = run_one(res_table_4_4, ctx)
    data = json.loads((tmp_path / f"{res_table_4_4.NAME}.json").read_text())
    assert data["rows"], "no rows"
    main = [r for r in data["rows"] if r["setting"] in res_table_4_4.METHODS]
    assert {r["setting"] for r in main} == set(res_table_4_4.METHODS)
    for r in data["rows"]:
        assert math.isfinite(r["ours"]), r
    assert all(r["paper"] is not None for r in main)
    assert report.figures and (tmp_path / "res_cam_grid.png").exists()
