"""Layers that consume a mask accept a propagated Keras mask silently and pass none on."""
import warnings

import numpy as np
import pytest

from keras_egl._keras import keras, tf
from keras_egl.layers import MaxPoolGraphReadout, NodeToGraphAttention
from keras_egl.layers.seq_attention import MonotonicAttention, SoftmaxAttention


def _masked(x, mask):
    """`x` carrying a Keras mask, the way Embedding(mask_zero=True) leaves it."""
    return keras.layers.Masking(mask_value=0.0)(x * tf.cast(mask, x.dtype)[..., None])


def _call_no_warning(fn):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn()
    mask_warnings = [w for w in caught if "mask" in str(w.message)]
    assert not mask_warnings, [str(w.message) for w in mask_warnings]
    return out


@pytest.mark.parametrize("layer_cls", [MaxPoolGraphReadout, NodeToGraphAttention])
def test_graph_readouts_take_the_propagated_mask(layer_cls):
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(2, 5, 3)) + 3.0, tf.float32)
    mask = tf.constant(np.array([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], bool))
    layer = layer_cls(4) if layer_cls is MaxPoolGraphReadout else layer_cls()
    propagated = _call_no_warning(lambda: layer(_masked(x, mask)))
    explicit = layer(x * tf.cast(mask, x.dtype)[..., None], mask=mask)
    # The propagated mask is used exactly as an explicit one would be.
    for a, b in zip(tf.nest.flatten(propagated), tf.nest.flatten(explicit)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
        assert getattr(a, "_keras_mask", None) is None


@pytest.mark.parametrize("layer_cls", [SoftmaxAttention, MonotonicAttention])
def test_sequence_attention_does_not_warn_on_a_masked_query(layer_cls):
    query = keras.layers.Masking(mask_value=0.0)(tf.ones([2, 4]))  # mask [B]
    memory = tf.constant(np.random.default_rng(1).normal(size=(2, 5, 3)), tf.float32)
    # The memory mask is passed explicitly, as the decoders do (tf_keras would
    # otherwise fill `mask` with the query's own mask).
    kwargs = {"mask": tf.constant(np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool))}
    layer = layer_cls(8)
    if layer_cls is MonotonicAttention:
        kwargs["previous_alignment"] = layer.initial_alignment(2, 5)
    context, alpha = _call_no_warning(lambda: layer(query, memory, **kwargs))
    plain_context, plain_alpha = layer(tf.ones([2, 4]), memory, **kwargs)
    np.testing.assert_allclose(context.numpy(), plain_context.numpy(), atol=1e-6)
    np.testing.assert_allclose(alpha.numpy(), plain_alpha.numpy(), atol=1e-6)
    assert float(tf.reduce_sum(alpha[0, 3:])) == 0.0
    assert getattr(context, "_keras_mask", None) is None


def test_mask_survives_serialization_round_trip():
    layer = NodeToGraphAttention(name="readout")
    clone = NodeToGraphAttention.from_config(layer.get_config())
    assert clone.supports_masking
