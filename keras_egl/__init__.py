"""keras_egl: explanation-guided learning for Keras 3 (TensorFlow backend) or tf_keras."""

from keras_egl._keras import KERAS_3, keras, keras_version, tf  # noqa: F401  (first: binds Keras)

__version__ = "0.1.0"


def _register_serializables():
    # Saved models name their classes "keras_egl>Class"; Keras finds them only
    # if the defining module was imported. Import every term, explainer and
    # model module now, so `import keras_egl; keras.models.load_model(path)`
    # works in a fresh process (~1 s; Spektral stays unimported until used).
    import importlib

    for name in ("terms.rrr", "terms.feedback", "terms.gradia", "terms.haics", "terms.res", "terms.gnes",
                 "terms.rrr_g", "terms.hint", "metrics.shortcut",
                 "explain.explainers", "metrics.explanation", "models.base", "models.rrr", "models.gradia",
                 "models.haics", "models.res", "models.bayesian", "models.gnes", "layers.bayesian",
                 "layers.imputation"):
        importlib.import_module(f"keras_egl.{name}")


_register_serializables()

