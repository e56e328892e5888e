import numpy as np
import pytest

from keras_egl._keras import keras
from keras_egl.layers.bean import BEANDense
from keras_egl.models.bean import lenet5, mlp, resnet18_cifar
from keras_egl.regularizers.bean import BEANRegularizer
from keras_egl.regularizers.sparsity import GroupLasso21


def _dense_names(model):
    return [l.name for l in model.layers if isinstance(l, keras.layers.Dense)]


def test_lenet5_shapes_and_bean_on_all_three_dense_layers():
    bean = BEANRegularizer(alpha=1.0, order=1, normalize=False)
    model = lenet5(bean=bean, seed=0)
    assert model.output_shape == (None, 10)
    assert [model.get_layer(n).kernel.shape.as_list() for n in ("fc1", "fc2", "fc3")] == [[400, 120], [120, 84],
                                                                                          [84, 10]]
    assert all(isinstance(model.get_layer(n), BEANDense) for n in ("fc1", "fc2", "fc3"))
    model(np.zeros((2, 28, 28, 1), "float32"))
    assert len(model.losses) == 3
    cifar = lenet5(input_shape=(32, 32, 3), seed=0)
    assert cifar.get_layer("fc1").kernel.shape.as_list() == [400, 120]
    assert not any(isinstance(l, BEANDense) for l in cifar.layers)


def test_lenet5_seeded_and_dropout_only_in_training():
    a = lenet5(seed=3, dropout=0.5)
    b = lenet5(seed=3, dropout=0.5)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype("float32")
    np.testing.assert_allclose(a(x, training=False).numpy(), a(x, training=False).numpy())
    assert not np.allclose(a(x, training=True).numpy(), a(x, training=False).numpy())


def test_mlp_variants_and_regularizers():
    reg = GroupLasso21(1e-3)
    m3 = mlp((500, 500, 500), bean={"alpha": 3.0, "order": 2, "normalize": False}, kernel_regularizer=reg, seed=0)
    assert _dense_names(m3) == ["fc1", "fc2", "fc3", "logits"]
    m3(np.zeros((2, 784), "float32"))
    assert len(m3.losses) == 8  # 4 BEAN + 4 kernel regularizers
    hidden_only = mlp((50,), bean=BEANRegularizer(1.0), bean_layers="hidden", input_shape=(28, 28, 1))
    assert not isinstance(hidden_only.get_layer("fc1"), BEANDense)
    assert isinstance(hidden_only.get_layer("logits"), BEANDense)
    with pytest.raises(ValueError, match="bean_layers"):
        mlp(bean_layers="some")
    with pytest.raises(ValueError, match="dropout"):
        lenet5(dropout=1.0)
    with pytest.raises(ValueError, match="input_shape"):
        lenet5(input_shape=(28, 28))


def test_resnet18_small_width_bean_on_final_dense_only():
    model = resnet18_cifar(width=4, bean=BEANRegularizer(alpha=3.0, normalize=False), seed=0)
    assert model.output_shape == (None, 10)
    assert model.get_layer("linear").kernel.shape.as_list() == [32, 10]
    assert isinstance(model.get_layer("linear"), BEANDense)
    assert sum(isinstance(l, BEANDense) for l in model.layers) == 1
    convs = [l for l in model.layers if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 1 + 16 + 3  # stem + 8 blocks × 2 + 3 projection shortcuts


def test_lenet5_bean_trains_and_roundtrips(tmp_path):
    model = lenet5(bean=BEANRegularizer(alpha=100.0, order=2, normalize=False), seed=1)
    model.compile(keras.optimizers.Adam(5e-4), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x = rng.random((8, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, 8)
    hist = model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    assert np.all(np.isfinite(hist.history["loss"]))
    path = str(tmp_path / "lenet.keras")
    model.save(path)
    back = keras.models.load_model(path)
    np.testing.assert_allclose(back.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
