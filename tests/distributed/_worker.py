"""One worker of the multi-worker test (run as a script; see test_multi_worker.py).

Trains every model class for two epochs on the same fixed data (GNES: a padded
batch of small graphs) under ``MultiWorkerMirroredStrategy`` (when ``TF_CONFIG``
names a cluster) or with no strategy (the single-process reference), and writes
the final weights and the History of each to ``OUT/<task index>.npz`` / ``.json``.
"""

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import keras_egl  # noqa: E402,F401
from keras_egl import keras, terms, tf  # noqa: E402
from keras_egl.models.base import ExplanationGuidedModel  # noqa: E402
from keras_egl.testing import annotated_batch, small_cnn  # noqa: E402


def builders():
    from keras_egl.layers.bayesian import to_bayesian
    from keras_egl.layers.graph import gcn_classifier
    from keras_egl.models.bayesian import BayesianFeedbackModel
    from keras_egl.models.gnes import GNES
    from keras_egl.models.gradia import GRADIAModel
    from keras_egl.models.haics import HAICSModel
    from keras_egl.models.res import RESModel
    from keras_egl.models.rrr import RightForRightReasons

    return {
        "egl_rrr": lambda: ExplanationGuidedModel(small_cnn(seed=0), terms=[terms.get("rrr", weight=0.1)],
                                                  explained_layer="conv2"),
        "egl_gradia": lambda: ExplanationGuidedModel(small_cnn(seed=0), terms=[terms.get("gradia")],
                                                     explained_layer="conv2"),
        "rrr": lambda: RightForRightReasons(small_cnn(seed=0), lambda1=0.1),
        "gradia": lambda: GRADIAModel(small_cnn(seed=0), "conv2"),
        "haics": lambda: HAICSModel(small_cnn(seed=0), "conv2"),
        "res_l": lambda: RESModel(small_cnn(seed=0), "conv2", preset="RES-L"),
        "bayesian": lambda: BayesianFeedbackModel(to_bayesian(small_cnn(seed=0), seed=0), target_layer="conv2",
                                                  n_train=16),
        # Graph model: node/edge supervision + Ω_c, Ω_s, all second order (see graph_batch).
        "gnes": lambda: GNES(gcn_classifier(8, 2, hidden=(8, 6), seed=0)),
    }


def graph_batch():
    """16 small scene graphs (8 annotated), padded to one size so they slice like the image batch."""
    from keras_egl.data.molecules import assign_annotations, make_scene_graphs, pad_batch

    graphs = make_scene_graphs(n_per_class=8, n_distractors=(3, 6), feature_dim=8, seed=0)
    assign_annotations(graphs, np.arange(16), fraction=0.5, seed=0)
    inputs, y = pad_batch(graphs, n_layers=2)
    return inputs, y.astype("int64")


def main(out):
    cfg = json.loads(os.environ.get("TF_CONFIG", "{}"))
    index = cfg.get("task", {}).get("index", "single")
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if cfg else tf.distribute.get_strategy()
    inputs, y = annotated_batch(n=16, seed=3)
    inputs.pop("reasonability")
    graphs = graph_batch()
    weights, logs = {}, {}
    for name, build in builders().items():
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = build()
            model.compile(keras.optimizers.SGD(0.05),
                          keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        data = graphs if name == "gnes" else (inputs, y)
        ds = tf.data.Dataset.from_tensor_slices(data).batch(8)  # global batch 8: 4 per worker
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        hist = model.fit(ds.with_options(options), epochs=2, verbose=0).history
        logs[name] = {k: [float(v) for v in vs] for k, vs in hist.items()}
        for i, v in enumerate(model.model.weights):
            weights[f"{name}/{i}"] = v.numpy()
    np.savez(Path(out) / f"{index}.npz", **weights)
    (Path(out) / f"{index}.json").write_text(json.dumps(logs))


if __name__ == "__main__":
    main(sys.argv[1])
