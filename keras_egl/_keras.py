"""The one place keras_egl imports Keras.

keras_egl runs on **Keras 3** (the ``keras`` package with the TensorFlow
backend, TensorFlow 2.21's default) or on **tf_keras** (the Keras 2 API).
TensorFlow binds ``tf.keras`` once, at its first import, from the environment
variable ``TF_USE_LEGACY_KERAS``; keras_egl follows the same choice so that the
user's ``keras``/``tf.keras`` objects and the library's are the same classes:

* TensorFlow already imported: the binding ``tf.keras`` has (tf_keras if it is
  the legacy API, else Keras 3);
* otherwise ``TF_USE_LEGACY_KERAS`` set to ``1``/``true``/``yes`` → tf_keras,
  anything else or unset → Keras 3.

``KERAS_3`` and ``keras_version`` say which. Every other module does
``from keras_egl._keras import keras, tf``; the API differences between the two
bindings live in :mod:`keras_egl._compat` and nowhere else.
"""

import os
import sys

_ALREADY_IMPORTED = "tensorflow" in sys.modules
_TRUE = ("1", "true", "yes")
if not _ALREADY_IMPORTED:
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


def _legacy_bound():
    """Whether ``tf.keras`` is tf_keras's v2 API (the lazy module TensorFlow bound at import)."""
    if os.environ.get("TF_USE_LEGACY_KERAS", "").strip().lower() in _TRUE:
        return True
    if not _ALREADY_IMPORTED:
        return False
    try:
        # tf_keras's v2 API has no __version__: compare a class, not a version string.
        import tf_keras

        return tf.keras.layers.Dense is tf_keras.layers.Dense
    except Exception:  # pragma: no cover - tf_keras missing or tf.keras unresolvable
        return False


KERAS_3 = not _legacy_bound()

if KERAS_3:
    if os.environ.get("KERAS_BACKEND", "tensorflow").strip().lower() != "tensorflow":
        raise ImportError(
            "keras_egl needs Keras 3 with the TensorFlow backend; got KERAS_BACKEND="
            f"{os.environ['KERAS_BACKEND']!r}. Unset it or set KERAS_BACKEND=tensorflow "
            "(or TF_USE_LEGACY_KERAS=1 for tf_keras).")
    try:
        import keras  # noqa: E402
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("keras_egl on Keras 3 needs the `keras` package (pip install 'keras>=3.12'); "
                          "set TF_USE_LEGACY_KERAS=1 to use tf_keras instead.") from exc
    if keras.backend.backend() != "tensorflow":  # pragma: no cover - KERAS_BACKEND checked above
        raise ImportError(f"keras_egl needs Keras's TensorFlow backend; got {keras.backend.backend()!r}.")
else:
    try:
        import tf_keras as keras  # noqa: E402
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "TF_USE_LEGACY_KERAS=1 asks for tf_keras, which is not installed "
            "(pip install 'tf-keras==2.21.*').") from exc

#: ``"3.x.y"`` under Keras 3, ``"tf_keras 2.x.y"`` under tf_keras.
keras_version = keras.__version__ if KERAS_3 else f"tf_keras {getattr(keras, '__version__', '2')}"

__all__ = ["keras", "tf", "KERAS_3", "keras_version"]
