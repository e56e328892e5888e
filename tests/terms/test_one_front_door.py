"""One front door: the same CNN and the same annotation dict train with every method.

This is the README's "Use it on your own model" script: only the term name changes.
"""

import numpy as np
import pytest

from keras_egl import keras, terms
from keras_egl.layers.bayesian import to_bayesian
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.testing import annotated_batch, small_cnn

METHODS = ["rrr", "gradia", "haics", "res_g", "res_l", "feedback"]


def _data():
    inputs, y = annotated_batch(n=12, seed=1)
    inputs.pop("reasonability")  # the plain user dict: {x, pos_mask, neg_mask, has_annotation}
    return inputs, y


@pytest.mark.parametrize("name", METHODS)
def test_same_cnn_same_dict_every_method(name):
    inputs, y = _data()
    term = terms.get(name)
    egl = ExplanationGuidedModel(small_cnn(seed=0), terms=[term], explained_layer="conv2")
    egl.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=["accuracy"])
    hist = egl.fit(inputs, y, epochs=2, batch_size=6, verbose=0).history
    assert hist[term.name][-1] > 0, f"{name}: the term logged {hist[term.name]}"
    assert np.all(np.isfinite(hist["loss"]))
    maps = egl.explain(inputs["x"][:4])
    assert maps.shape == (4, 16, 16)  # one meaning of explain(): Grad-CAM at input size


def test_bayesian_converted_copy_of_the_same_cnn_trains_with_feedback():
    from keras_egl.models.bayesian import BayesianFeedbackModel

    inputs, y = _data()
    bnn = to_bayesian(small_cnn(seed=0), seed=0)
    model = BayesianFeedbackModel(bnn, target_layer="conv2", n_train=len(y))
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = model.fit(inputs, y, epochs=2, batch_size=6, verbose=0).history
    assert hist["feedback_loss"][-1] > 0
    assert np.all(np.isfinite(hist["loss"]))
    assert model.explain(inputs["x"][:4]).shape == (4, 16, 16)
