"""A user's own model (functional and subclassed) under the bound Keras: wrap, fit, save, reload, serve.

Under Keras 3 (the default binding) these are Keras 3 models built with the
``keras`` package itself; under ``TF_USE_LEGACY_KERAS=1`` the same test runs on
tf_keras models. The reload happens in a fresh process (predictions,
``explain`` and the optimizer's iteration count must survive) and the
SavedModel is served by a process that never imports keras_egl.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from keras_egl import KERAS_3, keras, terms
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.export import export_saved_model
from tests.models.user_models import SmallNet

ROOT = Path(__file__).resolve().parents[2]


def _functional():
    inp = keras.Input((10, 10, 1), name="x")
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inp)
    h = keras.layers.GlobalAveragePooling2D()(h)
    return keras.Model(inp, keras.layers.Dense(3)(h))


def _subclassed():
    net = SmallNet(3)
    net(np.zeros((1, 10, 10, 1), np.float32))
    return net


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 10, 10, 1)).astype("float32")
    neg = np.zeros((n, 10, 10), "float32")
    neg[:, :3, :3] = 1.0
    return x, neg, rng.integers(0, 3, n)


def _run(code):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.parametrize("build", [_functional, _subclassed], ids=["functional", "subclassed"])
def test_user_model_fits_reloads_in_a_fresh_process_and_serves(build, tmp_path):
    if KERAS_3:  # the user's classes are the `keras` package's own
        import keras as user_keras

        assert isinstance(build(), user_keras.Model)
    x, neg, y = _data()
    egl = ExplanationGuidedModel(build(), terms=[terms.get("rrr", weight="auto")], explained_layer="conv")
    egl.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = egl.fit({"x": x, "neg_mask": neg}, y, batch_size=8, epochs=2, verbose=0).history
    assert {"loss", "task_loss", "right_reasons", "right_reasons_weight"} <= set(hist)
    assert hist["right_reasons_weight"][-1] > 0
    iterations = int(egl.optimizer.iterations.numpy())
    assert iterations == 8
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "pred.npy", egl.predict({"x": x}, verbose=0))
    np.save(tmp_path / "maps.npy", np.asarray(egl.explain(x)))
    egl.save(tmp_path / "m.keras")
    export_saved_model(egl, tmp_path / "sm", input_signature=None if build is _functional else
                       __import__("tensorflow").TensorSpec((None, 10, 10, 1), "float32"))

    reload = _run(f"""
        import json, numpy as np
        import keras_egl
        from keras_egl import keras
        import tests.models.user_models  # the user's own class, as their code would import it
        m = keras.models.load_model({str(tmp_path / 'm.keras')!r})
        x = np.load({str(tmp_path / 'x.npy')!r})
        pred = m.predict({{"x": x}}, verbose=0)
        maps = np.asarray(m.explain(x))
        print(json.dumps({{"pred": float(np.abs(pred - np.load({str(tmp_path / 'pred.npy')!r})).max()),
                          "maps": float(np.abs(maps - np.load({str(tmp_path / 'maps.npy')!r})).max()),
                          "iterations": int(m.optimizer.iterations.numpy()),
                          "weight": float(m.terms[0].loss_weight())}}))
    """)
    assert reload.returncode == 0, reload.stderr[-3000:]
    got = json.loads(reload.stdout.strip().splitlines()[-1])
    assert got["pred"] == 0.0 and got["maps"] == 0.0, got
    assert got["iterations"] == iterations
    assert got["weight"] == pytest.approx(float(egl.terms[0].loss_weight()), rel=1e-6)

    serve = _run(f"""
        import json, sys, numpy as np, tensorflow as tf
        m = tf.saved_model.load({str(tmp_path / 'sm')!r})
        x = tf.constant(np.load({str(tmp_path / 'x.npy')!r}))
        pred = m.signatures["serving_default"](x=x)["outputs"].numpy()
        maps = m.signatures["explain"](x=x)["maps"].numpy()
        print(json.dumps({{"pred": float(np.abs(pred - np.load({str(tmp_path / 'pred.npy')!r})).max()),
                          "maps": float(np.abs(maps - np.load({str(tmp_path / 'maps.npy')!r})).max()),
                          "keras_egl_imported": "keras_egl" in sys.modules}}))
    """)
    assert serve.returncode == 0, serve.stderr[-3000:]
    got = json.loads(serve.stdout.strip().splitlines()[-1])
    assert not got["keras_egl_imported"]
    assert got["pred"] < 1e-5 and got["maps"] < 1e-5, got
