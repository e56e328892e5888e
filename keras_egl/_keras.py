"""The one place keras_egl imports Keras.

keras_egl is built on the Keras 2 API (``tf_keras``): Spektral 1.3.1 and
``tfp.layers`` break under Keras 3 (see ``docs/ARCHITECTURE.md``). TensorFlow
binds ``tf.keras`` once, at its first import, according to the environment
variable ``TF_USE_LEGACY_KERAS``; so this module sets it *before* importing
TensorFlow and refuses to continue if TensorFlow was already imported with
Keras 3 bound. Every other module does ``from keras_egl._keras import keras, tf``.
"""

import os
import sys

_ALREADY_IMPORTED = "tensorflow" in sys.modules
if not _ALREADY_IMPORTED:
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    # Quiet import (never overriding the user's TF_CPP_MIN_LOG_LEVEL; KERAS_EGL_VERBOSE=1
    # keeps TF's default verbosity). This hides TF's INFO/WARNING logs (cpu_feature_guard,
    # ...). Not hideable by any environment variable: the absl lines printed from static
    # constructors while TF's shared libraries load, before absl logging is initialised
    # ("All log messages before absl::InitializeLog()...", cudart_stub "Could not find cuda
    # drivers", and the oneDNN notice where oneDNN is on by default — silencing that one
    # would need TF_ENABLE_ONEDNN_OPTS=0, which changes numerics, so it is left alone).
    if os.environ.get("KERAS_EGL_VERBOSE", "").strip().lower() in ("", "0", "false", "no"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Lines TensorFlow's C++ runtime writes straight to file descriptor 2 while its
# shared libraries load and the CUDA probe runs, before absl logging exists (so
# TF_CPP_MIN_LOG_LEVEL cannot hide them). On a CPU-only machine they are noise;
# they are dropped while TensorFlow is imported here, and every other line that
# appears in that window is written back to stderr unchanged.
_IMPORT_NOISE = (
    "All log messages before absl::InitializeLog() is called",
    "cudart_stub.cc",
    "Could not find cuda drivers",
    "failed call to cuInit",
    "oneDNN custom operations are on",
    "Unable to register cuDNN factory",
    "Unable to register cuFFT factory",
    "Unable to register cuBLAS factory",
    "computation placer already registered",
    "TF-TRT Warning: Could not find TensorRT",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
)


def _import_tensorflow_quietly():
    verbose = os.environ.get("KERAS_EGL_VERBOSE", "").strip().lower() not in ("", "0", "false", "no")
    if verbose or _ALREADY_IMPORTED:
        import tensorflow

        return tensorflow
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters)
        import tensorflow

        return tensorflow
    with tempfile.TemporaryFile() as buffer:
        os.dup2(buffer.fileno(), 2)
        try:
            import tensorflow

            # The CUDA probe ("failed call to cuInit") runs on the first device
            # query; listing physical devices does not fix the logical ones.
            tensorflow.config.list_physical_devices("GPU")
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError):  # pragma: no cover
                pass
            os.dup2(saved, 2)
            os.close(saved)
            buffer.seek(0)
            text = buffer.read().decode("utf-8", errors="replace")
        kept = [line for line in text.splitlines(keepends=True)
                if not any(pattern in line for pattern in _IMPORT_NOISE)]
        if kept:
            sys.stderr.write("".join(kept))
            sys.stderr.flush()
    return tensorflow


tf = _import_tensorflow_quietly()

try:
    import tf_keras as keras  # noqa: E402
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "keras_egl needs the Keras 2 package `tf-keras` (pip install 'tf-keras==2.21.*')."
    ) from exc


def _tf_keras_is_legacy():
    # `tf.keras` is a lazy module bound at TensorFlow's first import; under
    # TF_USE_LEGACY_KERAS it is tf_keras's v2 API (which has no __version__),
    # so compare a class rather than a version string.
    try:
        return tf.keras.layers.Dense is keras.layers.Dense
    except Exception:  # pragma: no cover
        return False


if _ALREADY_IMPORTED and not _tf_keras_is_legacy():
    raise ImportError(
        "TensorFlow was imported before keras_egl with Keras 3 bound to tf.keras "
        "(tf.keras is not tf_keras). keras_egl needs the "
        "Keras 2 API (tf_keras): either `import keras_egl` before `import tensorflow`, "
        "or set the environment variable TF_USE_LEGACY_KERAS=1 before starting Python."
    )

__all__ = ["keras", "tf"]
