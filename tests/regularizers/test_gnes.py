import numpy as np
import pytest

from keras_egl._keras import keras
from keras_egl.regularizers.gnes import ExplanationConsistency, ExplanationSparsity

A = np.array([[[0, 1, 1], [1, 0, 0], [1, 0, 0]]], np.float32)
M = np.array([[1.0, 0.0, 0.5]], np.float32)
E = np.array([[[0, 0.5, 1.0], [0.5, 0, 0], [1.0, 0, 0]]], np.float32)


def test_consistency_hand_computed():
    # Σ_ij E_ij A_ij (M_i − M_j)^2 = 2·(0.5·1 + 1·0.25) = 1.5 ; / (2·9)
    val = ExplanationConsistency()(M, E, A).numpy()
    np.testing.assert_allclose(val, [1.5 / 18], rtol=1e-6)
    # symmetric E ⊙ A: the code's upper-triangle/N² equals eq. 4.5
    np.testing.assert_allclose(ExplanationConsistency(upper_triangle=True)(M, E, A).numpy(), val, rtol=1e-6)
    # anti-collapse: −mean_i log(Σ_j E_ij A_ij + 1e-6), row sums 1.5, 0.5, 1.0
    ac = ExplanationConsistency(anti_collapse=True)(M, E, A).numpy()
    conn = -np.mean(np.log(np.array([1.5, 0.5, 1.0]) + 1e-6))
    np.testing.assert_allclose(ac, val + conn, rtol=1e-5)


def test_consistency_padding_and_empty_graph():
    m = np.zeros((2, 4), np.float32)
    m[0, :3] = M[0]
    m[0, 3] = 100.0
    e = np.zeros((2, 4, 4), np.float32)
    e[0, :3, :3] = E[0]
    e[0, 3, :] = e[0, :, 3] = 5.0
    a = np.zeros((2, 4, 4), np.float32)
    a[0, :3, :3] = A[0]
    a[0, 3, 0] = a[0, 0, 3] = 1.0
    mask = np.array([[1, 1, 1, 0], [0, 0, 0, 0]], np.float32)
    val = ExplanationConsistency(anti_collapse=True)(m, e, a, mask).numpy()
    ref = ExplanationConsistency(anti_collapse=True)(M, E, A).numpy()[0]
    np.testing.assert_allclose(val, [ref, 0.0], rtol=1e-5)
    assert np.isfinite(ExplanationSparsity()(m, e, mask).numpy()).all()


def test_sparsity_hand_computed():
    val = ExplanationSparsity()(M, E).numpy()
    np.testing.assert_allclose(val, [1.5 / 3 + 3.0 / 9], rtol=1e-6)
    val = ExplanationSparsity(node_weight=0.0)(-M, -E).numpy()
    np.testing.assert_allclose(val, [3.0 / 9], rtol=1e-6)


def test_config_roundtrip_and_errors():
    c = ExplanationConsistency(anti_collapse=True, upper_triangle=True, eps=1e-4)
    c2 = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(c))
    assert c2.get_config() == c.get_config()
    s2 = ExplanationSparsity.from_config(ExplanationSparsity(0.5, 2.0).get_config())
    assert (s2.node_weight, s2.edge_weight) == (0.5, 2.0)
    with pytest.raises(ValueError, match="edge_map"):
        ExplanationConsistency()(M, E[:, :2], A)
    with pytest.raises(ValueError, match="adjacency"):
        ExplanationConsistency()(M, E, A[:, :2, :2])
    with pytest.raises(ValueError, match="node_map"):
        ExplanationSparsity()(M[0], E)
    with pytest.raises(ValueError, match="eps"):
        ExplanationConsistency(eps=0)
    with pytest.raises(ValueError, match="node_weight"):
        ExplanationSparsity(-1.0)
