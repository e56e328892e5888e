"""`import keras_egl` binds Keras 2, and refuses a TensorFlow already bound to Keras 3."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(code, **env_overrides):
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env.update(env_overrides, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_import_first_binds_keras_2():
    out = _run("import keras_egl\nfrom keras_egl import keras, tf\n"
               "print(keras.__version__, tf.keras.layers.Dense is keras.layers.Dense)")
    assert out.returncode == 0, out.stderr[-2000:]
    version, same = out.stdout.split()[-2:]
    assert version.startswith("2.") and same == "True"


def test_tensorflow_imported_with_keras_3_raises_a_clear_error():
    out = _run("import tensorflow as tf\nprint(getattr(tf.keras, '__version__', '2'), flush=True)\nimport keras_egl")
    if out.stdout.strip().startswith("2"):  # no Keras 3 installed: nothing to refuse
        assert out.returncode == 0, out.stderr[-2000:]
        return
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "TF_USE_LEGACY_KERAS=1" in out.stderr


def test_legacy_env_var_set_before_tensorflow_is_accepted():
    out = _run("import tensorflow as tf\nimport keras_egl\nprint('ok')", TF_USE_LEGACY_KERAS="1")
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-2000:]
