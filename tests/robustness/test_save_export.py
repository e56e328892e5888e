"""Every method's model: `.keras` reload in a fresh process keeps the optimizer's
iteration count and slots, the explainer, the explanation metrics, `serving_outputs`
and `explain`; a SavedModel loaded without keras_egl serves `serving_outputs`
(= predict; Bayesian: the mean-weight pass) and `explain` equal to the model's.

GNES (graph inputs x, a_1, a_2, node_mask) keeps its own explainer (node
Grad-CAM; ``explainer`` config None) and has no explanation metric: the metrics
read image/feature masks through ``ExplanationContext.mask``, which refuses the
(B, N) ``node_importance`` of a graph batch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from keras_egl import keras, terms
from keras_egl.explain.explainers import GradCAM
from keras_egl.metrics.explanation import ExplanationIoU
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.export import export_saved_model
from keras_egl.testing import annotated_batch, small_cnn
from keras_egl._compat import optimizer_variables

ROOT = Path(__file__).resolve().parents[2]


def _builders():
    from keras_egl.layers.bayesian import to_bayesian
    from keras_egl.layers.graph import gcn_classifier
    from keras_egl.models.bayesian import BayesianFeedbackModel
    from keras_egl.models.gnes import GNES
    from keras_egl.models.gradia import GRADIAModel
    from keras_egl.models.haics import HAICSModel
    from keras_egl.models.res import RESModel
    from keras_egl.models.rrr import RightForRightReasons

    common = dict(explainer=GradCAM(relu=False), explanation_metrics=[ExplanationIoU(0.5, name="iou50")])
    return {
        "egl_feedback": lambda: ExplanationGuidedModel(small_cnn(seed=0), terms=[terms.get("feedback")],
                                                       explained_layer="conv2", **common),
        "rrr": lambda: RightForRightReasons(small_cnn(seed=0), lambda1=1.0, explained_layer="conv2", **common),
        "gradia": lambda: GRADIAModel(small_cnn(seed=0), "conv2", **common),
        "haics": lambda: HAICSModel(small_cnn(seed=0), "conv2", **common),
        "res_l": lambda: RESModel(small_cnn(seed=0), "conv2", preset="RES-L", **common),
        "bayesian": lambda: BayesianFeedbackModel(to_bayesian(small_cnn(seed=0), seed=0), target_layer="conv2",
                                                  n_train=12, **common),
        "gnes": lambda: GNES(gcn_classifier(8, 2, hidden=(8, 6), seed=0)),
    }


NAMES = list(_builders())
GRAPH_INPUTS = ("x", "a_1", "a_2", "node_mask")


def _data(name):
    """``(inputs, y, model inputs of 6 samples)``: an annotated image batch, or 12 small graphs for GNES."""
    if name == "gnes":
        from keras_egl.data.molecules import assign_annotations, make_scene_graphs, pad_batch

        graphs = make_scene_graphs(n_per_class=6, n_distractors=(3, 6), feature_dim=8, seed=0)
        assign_annotations(graphs, np.arange(12), fraction=0.5, seed=0)
        inputs, y = pad_batch(graphs, n_layers=2)
        return inputs, y, {k: inputs[k][:6] for k in GRAPH_INPUTS}
    inputs, y = annotated_batch(n=12, seed=7)
    inputs.pop("reasonability")
    return inputs, y, inputs["x"][:6]


def _train_and_save(name, d):
    """Fit, save ``.keras`` and a SavedModel into ``d``; returns what the fresh process must reproduce."""
    inputs, y, x = _data(name)
    model = _builders()[name]()
    model.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(inputs, y, batch_size=6, epochs=2, verbose=0)
    model.save(d / "m.keras")
    slots = [float(np.abs(v.numpy()).sum()) for v in optimizer_variables(model.optimizer)]
    export_saved_model(model, d / "sm")
    np.savez(d / "x.npz", **(x if isinstance(x, dict) else {"x": x}))
    expected = model.serving_outputs(x).numpy()
    if name != "bayesian":
        np.testing.assert_allclose(expected, model.predict(x, verbose=0), atol=1e-5, err_msg=name)
    return {"out": expected, "maps": model.explain(x).numpy(), "slots": slots}


# One fresh process for all seven models (a process start with TensorFlow costs
# ~10 s): every SavedModel is served before keras_egl is imported, then every
# .keras file is loaded.
_FRESH = """
import json, sys, numpy as np, tensorflow as tf
names, root = sys.argv[1].split(","), sys.argv[2]
served = {}
for name in names:
    m = tf.saved_model.load(f"{root}/{name}/sm")
    data = np.load(f"{root}/{name}/x.npz")
    feed = {k: tf.constant(data[k]) for k in data.files}
    served[name] = (feed, m.signatures["serving_default"](**feed)["outputs"].numpy(),
                    m.signatures["explain"](**feed)["maps"].numpy())
without = not any(k.startswith("keras_egl") for k in sys.modules)
import keras_egl
from keras_egl import keras
from keras_egl._compat import optimizer_variables
got = {}
for name, (feed, out, ex) in served.items():
    r = keras.models.load_model(f"{root}/{name}/m.keras")
    x = feed if len(feed) > 1 else feed["x"]
    got[name] = {"out": out.tolist(), "maps": ex.tolist(), "without_keras_egl": without,
                 "reloaded_out": r.serving_outputs(x).numpy().tolist(),
                 "reloaded_maps": r.explain(x).numpy().tolist(),
                 "iterations": int(r.optimizer.iterations),
                 "slots": [float(np.abs(v.numpy()).sum()) for v in optimizer_variables(r.optimizer)],
                 "explainer": r.get_config()["explainer"] and r.explainer_object.get_config(),
                 "metrics": [s[0].name for s in r._state.metric_specs]}
print(json.dumps(got))
"""


@pytest.mark.slow
def test_reload_and_export_in_a_fresh_process(tmp_path):
    want = {}
    for name in NAMES:
        (tmp_path / name).mkdir()
        want[name] = _train_and_save(name, tmp_path / name)
    res = subprocess.run([sys.executable, "-c", _FRESH, ",".join(NAMES), str(tmp_path)], capture_output=True,
                         text=True, timeout=900, cwd=str(ROOT))
    assert res.returncode == 0, res.stderr[-1500:]
    fresh = json.loads(res.stdout.strip().splitlines()[-1])
    assert sorted(fresh) == sorted(NAMES)
    for name in NAMES:
        got, expected = fresh[name], want[name]
        assert got["without_keras_egl"] is True
        for key in ("out", "reloaded_out"):
            np.testing.assert_allclose(np.array(got[key]), expected["out"], atol=1e-5, err_msg=f"{name}: {key}")
        for key in ("maps", "reloaded_maps"):
            np.testing.assert_allclose(np.array(got[key]), expected["maps"], atol=1e-5, err_msg=f"{name}: {key}")
        assert got["iterations"] == 4, name
        np.testing.assert_allclose(got["slots"], expected["slots"], rtol=1e-6, err_msg=name)
        if name == "gnes":  # its own node Grad-CAM, no image-mask metric (see the module docstring)
            assert got["explainer"] is None and got["metrics"] == [], name
        else:
            assert got["explainer"]["relu"] is False, name
            assert got["metrics"] == ["iou50"], name
