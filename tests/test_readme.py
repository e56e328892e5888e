"""The README's "use it on your own model" section runs as written (on tiny inputs)."""

import re
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _section_code():
    text = README.read_text()
    section = text[text.index("## Use it on your own model"):text.index("## Reproductions")]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, re.S))


@pytest.mark.slow
def test_readme_example_runs(tmp_path, monkeypatch):
    from keras_egl import KERAS_3
    from keras_egl.testing import annotated_batch, run_term_test, small_cnn

    monkeypatch.chdir(tmp_path)
    inputs, y = annotated_batch(n=8, size=32, n_classes=10, seed=2)
    scope = {"images": inputs["x"], "object_masks": inputs["pos_mask"],
             "shortcut_masks": inputs["neg_mask"], "flags": inputs["has_annotation"], "labels": y,
             "my_cnn": lambda: small_cnn(input_shape=(32, 32, 3), n_classes=10, seed=0, name="my_cnn")}
    code = _section_code().replace('explained_layer="last_conv"', 'explained_layer="conv2"') \
        .replace('target_layer="last_conv"', 'target_layer="conv2"') \
        .replace("epochs=5", "epochs=1, verbose=0")
    if not KERAS_3:  # what the README's comment tells a tf_keras user to write
        code = code.replace("import keras ", "import tf_keras as keras ", 1)
    exec(compile(code, str(README), "exec"), scope)
    assert scope["net"].name.startswith("mobilenetv2")  # the user's own Keras application model
    assert scope["maps"].shape == (8, 32, 32)  # explain() upsamples to the input
    assert (tmp_path / "exported" / "saved_model.pb").exists() and (tmp_path / "mine.keras").exists()
    # the README's custom term meets the same contract as the library's terms
    run_term_test(lambda **kw: scope["MaskedCamL1"](**kw))
