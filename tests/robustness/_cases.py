"""Shared machinery of the table-driven bad-input suite (``tests/robustness/test_*.py``).

Each module holds ``CASES``: a list of :class:`Case` rows — the public API
object, a short description, a zero-argument callable that must raise, the
expected exception type(s) and a substring the message must contain (the
argument's name, usually in backticks). A row whose API owner still has to fix
the behaviour carries ``xfail="reason"`` and runs as a strict xfail.

``tests/robustness/test_count.py`` sums the ``CASES`` lists (and the loader
tests) and guards against the suite shrinking.
"""

import collections
import functools

import numpy as np
import pytest

from keras_egl._keras import keras, tf

Case = collections.namedtuple("Case", "api what fn exc match xfail")


def case(api, what, fn, exc, match, xfail=None):
    """One row: ``api`` raises ``exc`` with ``match`` in its message when ``fn()`` runs."""
    return Case(api, what, fn, exc, match, xfail)


def params(cases):
    """``pytest.param`` per row, id ``api-what``; rows with ``xfail`` are strict xfails."""
    out = []
    for c in cases:
        marks = [pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        out.append(pytest.param(c, id=f"{c.api}-{c.what}", marks=marks))
    return out


def check(c):
    """Run one row: the exception type and the argument's name in the message."""
    with pytest.raises(c.exc) as err:
        c.fn()
    assert c.match in str(err.value), f"the message does not name {c.match!r}: {err.value}"


# --------------------------------------------------------------------------- small fixtures (cached)


@functools.lru_cache(None)
def dense_model():
    """``(B, 4) -> (B, 3)`` logits."""
    inp = keras.Input((4,), name="x")
    h = keras.layers.Dense(5, activation="relu", name="hidden",
                           kernel_initializer=keras.initializers.GlorotUniform(0))(inp)
    out = keras.layers.Dense(3, name="logits", kernel_initializer=keras.initializers.GlorotUniform(1))(h)
    return keras.Model(inp, out, name="dense_model")


@functools.lru_cache(None)
def cnn_model():
    """``(B, 8, 8, 3) -> (B, 2)`` logits; explained layer ``"conv"`` (8×8×4)."""
    inp = keras.Input((8, 8, 3), name="x")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv",
                            kernel_initializer=keras.initializers.GlorotUniform(0))(inp)
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    out = keras.layers.Dense(2, name="logits", kernel_initializer=keras.initializers.GlorotUniform(1))(h)
    return keras.Model(inp, out, name="cnn_model")


@functools.lru_cache(None)
def gcn_model():
    from keras_egl.layers.graph import gcn_classifier

    return gcn_classifier(5, 2, hidden=(4, 4), seed=0)


def images(b=2, h=8, w=8, c=3, seed=0):
    return np.random.default_rng(seed).random((b, h, w, c)).astype("float32")


def features(b=2, d=4, seed=0):
    return np.random.default_rng(seed).normal(size=(b, d)).astype("float32")


def graph_inputs(b=2, n=4, f=5, layers=2):
    """``[x, a_1..a_L, node_mask]`` of ``b`` padded path graphs with ``n`` nodes (last one padding)."""
    from keras_egl.layers.graph import gcn_normalize

    rng = np.random.default_rng(0)
    a = np.zeros((n, n), "float32")
    for i in range(n - 2):
        a[i, i + 1] = a[i + 1, i] = 1.0
    v = np.zeros((b, n, n), "float32")
    v[:, :n - 1, :n - 1] = gcn_normalize(a[:n - 1, :n - 1])
    mask = np.ones((b, n), "float32")
    mask[:, -1] = 0.0
    x = rng.normal(size=(b, n, f)).astype("float32") * mask[..., None]
    return [x] + [v] * layers + [mask]


def raw_adjacency(b=2, n=4):
    a = np.zeros((b, n, n), "float32")
    for i in range(n - 2):
        a[:, i, i + 1] = a[:, i + 1, i] = 1.0
    return a


def t(x, dtype="float32"):
    return tf.constant(np.asarray(x, dtype))
