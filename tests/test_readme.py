"""The README's "use it on your own model" example runs as written (on tiny inputs)."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    code = next(b for b in blocks if "ExplanationGuidedModel" in b)
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    scope = {"images": rng.uniform(size=(4, 32, 32, 3)).astype("float32"),
             "masks": (rng.uniform(size=(4, 32, 32)) > 0.5).astype("float32"),
             "labels": rng.integers(0, 10, size=4)}
    exec(compile(code, str(README), "exec"), scope)
    assert scope["maps"].shape == (4, 32, 32)  # explain() upsamples to the input
    assert (tmp_path / "exported" / "saved_model.pb").exists()
