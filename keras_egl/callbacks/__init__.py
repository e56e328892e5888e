"""Keras callbacks."""

from keras_egl.callbacks.explanation_images import ExplanationImages, explanation_figure  # noqa: F401
