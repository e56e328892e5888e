"""`import keras_egl` binds Keras 3 by default, tf_keras on request, and follows a TensorFlow imported first."""

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


def _binding(out):
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.split()[-3:]


_PRINT = ("from keras_egl import keras, tf, KERAS_3, keras_version\n"
          "print(KERAS_3, keras_version.split()[-1], tf.keras.layers.Dense is keras.layers.Dense)")


def test_default_binding_is_keras_3_and_the_same_as_tf_keras():
    k3, version, same = _binding(_run("import keras_egl\n" + _PRINT))
    assert k3 == "True" and version.startswith("3.") and same == "True"


def test_legacy_env_var_binds_tf_keras():
    k3, version, same = _binding(_run("import keras_egl\n" + _PRINT, TF_USE_LEGACY_KERAS="1"))
    assert k3 == "False" and version.startswith("2.") and same == "True"


def test_follows_a_tensorflow_imported_first_either_way():
    k3, _, same = _binding(_run("import tensorflow as tf\nimport keras\nimport keras_egl\n" + _PRINT))
    assert k3 == "True" and same == "True"
    k3, _, same = _binding(_run("import tensorflow as tf\nimport keras_egl\n" + _PRINT, TF_USE_LEGACY_KERAS="1"))
    assert k3 == "False" and same == "True"


def test_a_user_keras_3_model_is_accepted():
    code = ("import keras\nimport keras_egl\nfrom keras_egl.models.base import ExplanationGuidedModel\n"
            "net = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])\n"
            "print(type(ExplanationGuidedModel(net)).__name__, 'x', 'y')")
    out = _run(code)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-3] == "ExplanationGuidedModel"


def test_non_tensorflow_backend_is_refused_with_a_clear_error():
    out = _run("import keras_egl", KERAS_BACKEND="jax")
    assert out.returncode != 0 and "KERAS_BACKEND" in out.stderr


def test_only_the_compat_modules_read_the_binding():
    # One place owns the API differences: no other module branches on the binding or
    # reaches into the private attributes that differ between the two Kerases.
    import ast

    banned_names = {"KERAS_3", "tf_keras"}
    banned_attrs = {"_compile_loss", "_compile_metrics", "compiled_loss", "compiled_metrics", "_velocities",
                    "_index_dict", "_var_key", "_is_graph_network", "_build_shapes_dict", "_build_input_shape",
                    "submodules", "add_metric", "_no_sync_calculate_mean_and_var", "read_value"}
    offenders = []
    for path in sorted((ROOT / "keras_egl").rglob("*.py")):
        if path.relative_to(ROOT).as_posix() in ("keras_egl/_keras.py", "keras_egl/_compat.py",
                                                 "keras_egl/__init__.py"):  # __init__ re-exports KERAS_3
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Name) and node.id in banned_names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.id}")
            elif isinstance(node, ast.Attribute) and node.attr in banned_attrs | banned_names:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} .{node.attr}")
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n in banned_names or n.startswith("tf_keras") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} import")
    assert not offenders, offenders


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


def test_binding_agnostic_tests_do_not_reach_keras():
    # The tf_keras CI leg skips these (tests/conftest.py); that is only sound while they
    # exercise numpy code: no model, layer, term, loss or TensorFlow import.
    import ast

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import BINDING_AGNOSTIC, BINDING_AGNOSTIC_EXCEPT

    keras_modules = ("keras_egl.models", "keras_egl.layers", "keras_egl.terms", "keras_egl.losses",
                     "keras_egl.regularizers", "keras_egl.callbacks", "keras_egl.active", "keras_egl.explain",
                     "keras_egl._keras", "keras_egl._compat", "keras_egl.testing", "tensorflow", "keras", "tf_keras")
    files = []
    for entry in BINDING_AGNOSTIC:
        path = ROOT / entry
        files += sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
    offenders = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith(BINDING_AGNOSTIC_EXCEPT):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if node.module == "keras_egl":
                    names += [a.name for a in node.names if a.name in ("keras", "tf", "terms")]
            bad = [n for n in names if n in ("keras", "tf", "terms")
                   or any(n == m or n.startswith(m + ".") for m in keras_modules)]
            if bad:
                offenders.append(f"{rel}:{node.lineno} {bad}")
    assert files and not offenders, offenders


_DUMP_SEEDED = """
import sys, numpy as np
from keras_egl import keras
from keras_egl.models.dyngraph2seq import DynGraph2Seq, Graph2Seq, Seq2Seq
out = {}
models = {
    "dyn": DynGraph2Seq(num_nodes=5, num_features=4, time_steps=3, vocab_size=9, gcn_units=4, hops=2, units=8,
                        attention_units=8, readout="attention", seq_attention="monotonic", seed=3),
    "g2s": Graph2Seq(num_nodes=5, num_features=4, vocab_size=9, gcn_units=4, hops=2, units=8, attention_units=8,
                     seq_attention="bahdanau", seed=3),
    "seq": Seq2Seq(num_nodes=5, vocab_size=9, units=8, attention_units=8, seq_attention="luong", seed=3),
}
inputs = {"dyn": {"features": np.ones([1, 3, 5, 4], "float32"), "adjacency": np.ones([1, 3, 5, 5], "float32")},
          "g2s": {"features": np.ones([1, 5, 4], "float32"), "adjacency": np.ones([1, 5, 5], "float32")},
          "seq": {"tokens": np.array([[1, 2, 3, 0]])}}
for name, model in models.items():
    model(dict(inputs[name], decoder_input=np.ones([1, 4], "int32")))
    for i, v in enumerate(model.weights):
        out[f"{name}/{i}"] = np.asarray(v)
np.savez(sys.argv[1], **out)
print("ok", "x", "y")
"""


def test_seeded_dyngraph2seq_models_start_from_the_same_weights_under_both_bindings(tmp_path):
    # Unseeded initializers draw from different streams in Keras 3 and tf_keras; `seed=`
    # seeds every initializer, so both bindings train the same model (the quick-mode
    # comparison of dyngraph2seq_table_3_1 relies on it).
    import numpy as np

    script = tmp_path / "dump.py"
    script.write_text(_DUMP_SEEDED)
    for legacy in ("0", "1"):
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        env.update(TF_USE_LEGACY_KERAS=legacy, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
        out = subprocess.run([sys.executable, str(script), str(tmp_path / f"{legacy}.npz")], env=env,
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
    k3, tk = np.load(tmp_path / "0.npz"), np.load(tmp_path / "1.npz")
    assert sorted(k3.files) == sorted(tk.files) and len(k3.files) > 30
    for key in k3.files:
        np.testing.assert_array_equal(k3[key], tk[key], err_msg=key)
    # Within a model every weight got its own seed: no two same-shaped random weights are equal.
    for model in ("dyn", "g2s", "seq"):
        random = [k3[k] for k in k3.files if k.startswith(model + "/") and len(np.unique(k3[k])) > 2]
        for i in range(len(random)):
            for j in range(i + 1, len(random)):
                assert random[i].shape != random[j].shape or not np.array_equal(random[i], random[j])
