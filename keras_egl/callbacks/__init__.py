"""Keras callbacks."""

from keras_egl.callbacks.explanation_images import ExplanationImages, explanation_figure  # noqa: F401
from keras_egl.callbacks.model_selection import BestValidationAUC, BestWeights  # noqa: F401
from keras_egl.callbacks.term_weights import TermWeightSchedule  # noqa: F401
