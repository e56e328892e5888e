"""GRADIA, HAICS and RES as terms: keys, derived masks, validation, RES-L's tracked imputation."""

import numpy as np
import pytest

from keras_egl import terms as egl_terms
from keras_egl._keras import keras, tf
from keras_egl.explain.explainers import GradCAM
from keras_egl.models.backbones import SMALL_CNN_LAYER, build_small_cnn
from keras_egl.models.base import ExplanationGuidedModel
from keras_egl.models.haics import HAICSModel
from keras_egl.models.res import RESModel, res_explainer
from keras_egl.terms.gradia import GRADIATerm
from keras_egl.terms.haics import HAICSTerm
from keras_egl.terms.res import RESTerm

TERMS = {"gradia": GRADIATerm, "haics": HAICSTerm, "res": lambda **kw: RESTerm(imputation="shallow", **kw)}


def _data(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, size, size, 3)).astype("float32")
    y = rng.integers(0, 2, n)
    pos = np.zeros((n, size, size), "float32")
    neg = np.zeros_like(pos)
    for i in range(n):  # irregular masks (a grid-aligned square gives degenerate imputations)
        pos[i, 3 + i % 3:13 + i % 4, 5:17 - i % 5] = 1
        neg[i, 20:28 - i % 3, 18 + i % 2:28] = 1
    return {"x": x, "pos_mask": pos, "neg_mask": neg}, y


def _net(size=32):
    return build_small_cnn((size, size, 3), filters=(4, 4, 4), cam_filters=4, seed=0)


def _value(term, data, y):
    egl = ExplanationGuidedModel(_net(), terms=[term], explained_layer=SMALL_CNN_LAYER,
                                 extra_keys=("pos_mask", "neg_mask", "obj", "bad"))
    _, ctx = egl.forward(data, tf.constant(y))
    return float(egl.compute_terms(ctx)[term.name])


def _compile(m):
    m.compile(keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


@pytest.mark.parametrize("kind", sorted(TERMS))
def test_non_default_pos_key_is_honoured(kind):
    data, y = _data()
    reference = _value(TERMS[kind](), data, y)
    assert reference > 0
    term = TERMS[kind](pos_key="obj")
    assert "obj" in term.annotation_keys and "pos_mask" not in term.annotation_keys
    renamed = {"x": data["x"], "obj": data["pos_mask"], "neg_mask": data["neg_mask"]}
    assert _value(term, renamed, y) == pytest.approx(reference, rel=1e-5)
    # Under the default key the renamed term sees only the negative mask: another loss.
    assert _value(TERMS[kind](pos_key="obj"), data, y) != pytest.approx(reference, rel=1e-3)


@pytest.mark.parametrize("kind", sorted(TERMS))
def test_only_neg_mask_derives_pos_as_complement(kind):
    data, y = _data()
    only_neg = {"x": data["x"], "neg_mask": data["neg_mask"]}
    explicit = {"x": data["x"], "pos_mask": 1.0 - data["neg_mask"], "neg_mask": data["neg_mask"]}
    derived = _value(TERMS[kind](), only_neg, y)
    assert derived > 0
    assert derived == pytest.approx(_value(TERMS[kind](), explicit, y), rel=1e-5)
    with pytest.raises(ValueError, match="`pos_mask`.*`neg_mask`"):
        _value(TERMS[kind](derive="error"), only_neg, y)
    # Neither mask: the term is exactly 0.
    assert _value(TERMS[kind](), {"x": data["x"]}, y) == 0.0


# 0/255, NaN and wrong-sized masks inside fit: run_term_test checks them for every
# key each term reads (tests/terms/test_contract.py).


class SubclassedCNN(keras.Model):
    """A subclassed CNN whose explained conv layer is an attribute."""

    def __init__(self):
        super().__init__()
        self.c1 = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                                      kernel_initializer=keras.initializers.GlorotUniform(0))
        self.cam_conv = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                                            name="sub_cam_conv",
                                            kernel_initializer=keras.initializers.GlorotUniform(1))
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(2, kernel_initializer=keras.initializers.GlorotUniform(2))

    def call(self, x):
        return self.head(self.pool(self.cam_conv(self.c1(x))))


def test_res_l_imputation_trains_with_subclassed_backbone():
    data, y = _data(n=8)
    egl = _compile(RESModel(SubclassedCNN(), "sub_cam_conv", preset="RES-L"))
    term = egl.terms[0]
    assert not term.built and term.imputation_layer is None  # built on the first step
    # A first batch without annotations leaves the term inactive but still builds it,
    # so its weights exist in the first trace and the optimizer gets their slots.
    egl.train_on_batch({"x": data["x"]}, y)
    layer = term.imputation_layer
    assert term.built and layer is not None and layer.kernel.shape == (8, 8, 1, 1)  # 32 → 8×8 grid
    assert any(v is layer.kernel for v in egl.trainable_variables)
    assert any(v is layer.kernel for v in term.trainable_variables)
    before = layer.kernel.numpy().copy()
    hist = egl.fit(data, y, epochs=2, batch_size=8, verbose=0)
    assert np.isfinite(hist.history["res_loss"]).all() and hist.history["res_loss"][0] > 0
    assert not np.allclose(before, layer.kernel.numpy())
    assert any(w is layer.kernel for w in egl.weights)


def test_res_l_imputation_weights_are_saved_and_restored(tmp_path):
    data, y = _data(n=8)
    egl = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset="RES-L"))
    assert egl.terms[0].built  # functional backbone: built at construction
    egl.fit(data, y, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "ckpt.weights.h5")
    egl.save_weights(path)
    fresh = _compile(RESModel(_net(), SMALL_CNN_LAYER, preset="RES-L"))
    fresh.load_weights(path)
    np.testing.assert_allclose(fresh.terms[0].imputation_layer.kernel.numpy(),
                               egl.terms[0].imputation_layer.kernel.numpy())


def test_registry_and_presets_append_terms():
    g, l_ = egl_terms.get("res_g"), egl_terms.get("res_l")
    assert (g.name, g.imputation, l_.name, l_.imputation) == ("res_g_loss", "gaussian", "res_l_loss", "shallow")
    egl = RESModel(_net(), SMALL_CNN_LAYER, preset="RES-G", terms=["haics", GRADIATerm(weight=0.5)])
    assert [t.name for t in egl.terms] == ["res_loss", "haics_loss", "gradia_loss"]
    clone = RESModel.from_config(egl.get_config())
    assert [t.name for t in clone.terms] == ["res_loss", "haics_loss", "gradia_loss"]
    assert clone.terms[2].weight == 0.5
    # preset=None: `terms` replace the preset (the old semantics); preset arguments must not be dropped.
    only = RESModel(_net(), SMALL_CNN_LAYER, preset=None, terms=[RESTerm(imputation=None)])
    assert [t.name for t in only.terms] == ["res_loss"]
    with pytest.raises(ValueError, match="alpha"):
        RESModel(_net(), SMALL_CNN_LAYER, preset=None, alpha=0.1, terms=[RESTerm()])
    with pytest.raises(ValueError, match="code_unmasked_bce"):
        HAICSModel(_net(), SMALL_CNN_LAYER, preset=None, code_unmasked_bce=True, terms=[HAICSTerm()])


def test_presets_use_the_library_default_explainer_unless_given():
    egl = RESModel(_net(), SMALL_CNN_LAYER)
    assert isinstance(egl.explainer_object, GradCAM) and egl.explainer_object.relu
    code = res_explainer("code")
    assert isinstance(code, GradCAM) and not code.relu and code.normalize == "minmax"
    assert res_explainer("paper").relu and res_explainer("paper").normalize == "max"
    egl = HAICSModel(_net(), SMALL_CNN_LAYER, explainer=code)
    back = HAICSModel.from_config(egl.get_config())
    assert back.explainer_object.get_config() == code.get_config()


def test_res_term_config_round_trip_with_layer_imputation():
    from keras_egl.layers.imputation import GaussianImputation

    t = RESTerm(imputation=GaussianImputation(5, output_size=4), pos_key="obj", derive="error", seed=3)
    back = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(t))
    assert back.get_config() == t.get_config()
    assert isinstance(back.imputation, GaussianImputation) and back.imputation.kernel_size == 5
    with pytest.raises(ValueError, match="imputation"):
        RESTerm(imputation="cubic")
    with pytest.raises(ValueError, match="derive"):
        HAICSTerm(derive="ignore")
