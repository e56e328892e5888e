"""keras_egl: explanation-guided learning for Keras (tf_keras) and TensorFlow."""

from keras_egl._keras import keras, tf  # noqa: F401  (must come first: binds Keras 2)

__version__ = "0.1.0"
