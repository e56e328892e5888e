import json
import math
import types

from reproductions import _harness
from reproductions.__main__ import main


def test_report_markdown_and_json(tmp_path):
    rep = _harness.Report("demo", "Demo table")
    rep.add("method A", "accuracy", [0.5, 0.7], paper=0.65)
    rep.add("method B", "accuracy", 0.9)
    rep.notes.append("a note")
    path = rep.write(tmp_path)
    md = path.read_text()
    assert "| method A | accuracy | 0.6 ± 0.1414 | 0.65 | -0.05 | 2 |" in md
    assert "| method B | accuracy | 0.9 | – | – | 1 |" in md
    data = json.loads((tmp_path / "demo.json").read_text())
    assert data["rows"][0]["ours"] == 0.6 and math.isclose(data["rows"][0]["paper"], 0.65)


def test_context_runs_and_cli(tmp_path, capsys, monkeypatch):
    # A fake report must not join the reports CI compares across bindings.
    monkeypatch.delenv("KERAS_EGL_REPORT_COPY", raising=False)
    ctx = _harness.RunContext(quick=True)
    assert ctx.n_runs(10, 2) == 2
    assert _harness.RunContext(quick=False, runs=3).n_runs(10) == 3

    mod = types.SimpleNamespace(NAME="fake", TITLE="fake table",
                                run=lambda c: _harness.Report("fake", "fake table").add("s", "m", [1.0, 2.0]))
    monkeypatch.setattr(_harness, "discover", lambda: {"fake": mod})
    import reproductions.__main__ as cli

    monkeypatch.setattr(cli, "discover", lambda: {"fake": mod})
    assert main(["list"]) == 0
    assert "fake table" in capsys.readouterr().out
    assert main(["run", "fake", "--quick", "--out", str(tmp_path), "--quiet"]) == 0
    assert json.loads((tmp_path / "fake.json").read_text())["config"]["quick"] is True
