"""`import keras_egl` binds Keras 2, and refuses a TensorFlow already bound to Keras 3."""

import os
import re
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


# Lines TensorFlow's C++ prints through absl from static constructors while its shared
# libraries are dlopen'ed (before Python can run anything but `os.environ` edits, and
# before absl logging is initialised, so TF_CPP_MIN_LOG_LEVEL has no effect on them):
# libcudart's stub failing to find CUDA on a CPU-only machine, and TF's oneDNN notice on
# CPUs where oneDNN is on by default (hiding it would need TF_ENABLE_ONEDNN_OPTS=0, which
# changes numerics; keras_egl does not do that). Each library that links absl prints them.
_UNSILENCEABLE = (
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    r"I\d{4} [\d:. ]+ \d+ cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine, GPU will not be used\.",
    r"I\d{4} [\d:. ]+ \d+ port\.cc:\d+\] oneDNN custom operations are on\. .*",
)


def _run_clean(code, **env_overrides):
    env = {k: v for k, v in os.environ.items()
           if k not in ("TF_USE_LEGACY_KERAS", "TF_CPP_MIN_LOG_LEVEL", "KERAS_EGL_VERBOSE")}
    env.update(env_overrides, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)


def test_import_is_quiet():
    # Nothing at all on stderr, including the lines the C++ runtime prints while its
    # libraries load (filtered while keras_egl imports TensorFlow) and the CUDA probe.
    out = _run_clean("import os, keras_egl; from keras_egl import tf; tf.constant(1.0) + 1; "
                     "print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == "2"
    assert out.stderr == "", out.stderr


def test_import_filter_keeps_other_stderr_lines():
    # The filter drops only known noise: a verbose run shows TF's own lines again.
    out = _run_clean("import keras_egl", KERAS_EGL_VERBOSE="1")
    assert out.returncode == 0, out.stderr[-2000:]
    assert any(re.search(p, line) for line in out.stderr.splitlines() for p in _UNSILENCEABLE)


def test_import_keeps_the_users_log_level_and_verbose_opt_in():
    code = "import os, keras_egl; print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'))"
    out = _run_clean(code, TF_CPP_MIN_LOG_LEVEL="0")
    assert out.returncode == 0 and out.stdout.split()[-1] == "0", out.stderr[-2000:]
    out = _run_clean(code, KERAS_EGL_VERBOSE="1")  # TF's own default verbosity
    assert out.returncode == 0 and out.stdout.split()[-1] == "None", out.stderr[-2000:]
