"""Every term trains from tf.data, a Python generator and a keras.utils.Sequence,
including batches where almost nothing (or nothing) is annotated."""

import numpy as np
import pytest

from keras_egl import keras, terms, tf
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.testing import annotated_batch, small_cnn

METHODS = ["rrr", "feedback", "gradia", "haics", "res_g", "res_l"]
# One input-gradient term, one Grad-CAM term and the term with its own weights run
# through every pipeline kind (the others share their code paths; CI time).
PIPELINE_METHODS = ["rrr", "gradia", "res_l"]


def _data(n=12):
    inputs, y = annotated_batch(n=n, seed=4)
    inputs.pop("reasonability")
    # mostly unannotated: only the first two samples keep their masks
    inputs["has_annotation"][2:] = 0.0
    return inputs, y


def _pipelines(inputs, y, batch=6):
    n = len(y)

    def batches():
        for i in range(0, n, batch):
            yield {k: v[i:i + batch] for k, v in inputs.items()}, y[i:i + batch]

    def gen():
        while True:
            yield from batches()

    class Seq(keras.utils.Sequence):
        def __len__(self):
            return n // batch

        def __getitem__(self, i):
            return {k: v[i * batch:(i + 1) * batch] for k, v in inputs.items()}, y[i * batch:(i + 1) * batch]

    ds = tf.data.Dataset.from_tensor_slices((inputs, y)).batch(batch)
    return {"tf.data": (ds, {}), "generator": (gen(), {"steps_per_epoch": n // batch}),
            "sequence": (Seq(), {})}


@pytest.mark.parametrize("name", PIPELINE_METHODS)
def test_every_pipeline_trains_the_term(name):
    inputs, y = _data()
    logs = {}
    for kind, (source, kw) in _pipelines(inputs, y).items():
        keras.utils.set_random_seed(0)
        egl = ExplanationGuidedModel(small_cnn(seed=0), terms=[terms.get(name)], explained_layer="conv2")
        egl.compile(keras.optimizers.SGD(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        hist = egl.fit(source, epochs=1, verbose=0, **kw).history
        term = egl.terms[0].name
        assert np.isfinite(hist["loss"][0]) and hist[term][0] > 0, (kind, hist)
        logs[kind] = hist[term][0]
    # the same batches in the same order: the same epoch mean of the term
    np.testing.assert_allclose(logs["generator"], logs["tf.data"], rtol=1e-5)
    np.testing.assert_allclose(logs["sequence"], logs["tf.data"], rtol=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_unannotated_batches_contribute_exactly_zero(name):
    inputs, y = _data()
    inputs["has_annotation"][:] = 0.0
    egl = ExplanationGuidedModel(small_cnn(seed=0), terms=[terms.get(name)], explained_layer="conv2")
    egl.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = egl.fit(inputs, y, batch_size=6, epochs=1, verbose=0).history
    assert hist[egl.terms[0].name] == [0.0]
    np.testing.assert_allclose(hist["loss"], hist["task_loss"])
