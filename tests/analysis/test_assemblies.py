import numpy as np
import pytest

from keras_egl.analysis import assemblies as asm


def _clustered_kernel(seed=0, n_per=6, k=4, m=5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(k, m)) * 5
    rows = np.concatenate([c + 0.01 * rng.normal(size=(n_per, m)) for c in centers])
    return rows, np.repeat(np.arange(k), n_per)


def test_kmeans_silhouette_high_on_clusters_low_on_noise():
    w, truth = _clustered_kernel()
    labels, sil = asm.assembly_clusters(w, k=4, seed=0)
    assert sil > 0.9
    # labels recover the clusters up to permutation
    for c in range(4):
        assert len(set(labels[truth == c])) == 1
    noise = np.random.default_rng(1).normal(size=(24, 5))
    _, sil_noise = asm.assembly_clusters(noise, k=4, seed=0)
    assert sil_noise < 0.5
    with pytest.raises(ValueError, match="k"):
        asm.assembly_clusters(w, k=1)


def test_tsne_layout_shape():
    w, _ = _clustered_kernel(n_per=3)
    coords = asm.tsne_layout(w, seed=0)
    assert coords.shape == (12, 2) and np.all(np.isfinite(coords))


def test_coactivation_and_selectivity_hand_values():
    h = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 2.0]])
    y = np.array([0, 0, 1, 1])
    maps = asm.coactivation_maps(h, y, n_classes=3)
    np.testing.assert_allclose(maps, [[2, 0], [0, 2], [0, 0]])
    sel, pref = asm.class_selectivity(h, y, n_classes=3)
    np.testing.assert_array_equal(pref, [0, 1])
    # µ_max = 2, µ_-max = mean(0, 0) = 0 -> 1
    np.testing.assert_allclose(sel, [1.0, 1.0])
    sel0, _ = asm.class_selectivity(np.zeros((4, 2)), y)
    np.testing.assert_array_equal(sel0, [0.0, 0.0])  # silent neurons, no NaN
    with pytest.raises(ValueError, match="y"):
        asm.coactivation_maps(h, y[:3])


def test_ablation_matrix_diagonal_for_dedicated_neurons():
    # Neuron c votes only for class c: ablating it kills that class only.
    h = np.eye(3)[np.array([0, 1, 2, 0, 1, 2])]
    y = np.array([0, 1, 2, 0, 1, 2])
    head = lambda a: a @ np.eye(3) + np.array([0.0, 0.0, 1e-3])  # noqa: E731
    m = asm.ablation_matrix(head, h, y, groups=np.array([0, 1, 2]), n_classes=3)
    assert m.shape == (3, 3)
    assert m[0, 0] == -1.0 and m[1, 1] == -1.0
    assert m[0, 1] == 0.0 and m[1, 2] == 0.0


def test_reorder_by_assembly():
    a = np.arange(16.0).reshape(4, 4)
    r, order = asm.reorder_by_assembly(a, [1, 0, 1, 0])
    np.testing.assert_array_equal(order, [1, 3, 0, 2])
    assert r[0, 1] == a[1, 3]
    with pytest.raises(ValueError, match="square"):
        asm.reorder_by_assembly(np.zeros((2, 3)), [0, 1])


def test_sparsity_flops_hand_values():
    w1 = np.array([[1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])  # input neuron 1 has no outgoing weights
    w2 = np.array([[1.0], [0.0005], [0.2]])  # hidden neuron 1: only below-threshold weights
    assert asm.sparsity_ratio([w1, w2], threshold=1e-3) == pytest.approx(4 / 9)
    alive = asm.alive_neurons([w1, w2], threshold=1e-3)
    assert [a.tolist() for a in alive] == [[True, False], [True, False, True], [True]]
    assert asm.flops_count([w1, w2]) == 2 * (1 * 2 + 2 * 1)
    r = asm.efficiency_ratios([w1, w2], threshold=1e-3)
    assert r["flops"] == pytest.approx(8 / (2 * (6 + 3)))
    assert r["parameter"] == pytest.approx(4 / 9)
    r2 = asm.efficiency_ratios([w1, w2], [np.ones((2, 3)), np.ones((3, 1))])
    assert r2["parameter"] == pytest.approx(4 / 9) and r2["alive_neurons"] == [1, 2, 1]
    with pytest.raises(ValueError, match="threshold"):
        asm.sparsity_ratio([w1], threshold=-1)
    with pytest.raises(ValueError, match="inputs"):
        asm.alive_neurons([w1, np.ones((4, 1))])


def test_figures_written(tmp_path):
    w, labels = _clustered_kernel(n_per=3)
    coords = np.random.default_rng(0).normal(size=(12, 2))
    p1 = asm.plot_assemblies([("a", coords, labels)], tmp_path / "a.png")
    p2 = asm.plot_coactivation_maps(coords, np.random.default_rng(0).random((3, 12)), tmp_path / "b.png")
    p3 = asm.plot_reordered_correlation(w @ w.T, labels, tmp_path / "c.png")
    p4 = asm.plot_ablation([("x", -np.eye(3))], tmp_path / "d.png")
    for p in (p1, p2, p3, p4):
        assert p.exists() and p.stat().st_size > 1000
