import numpy as np
import pytest

from keras_egl._keras import tf
from keras_egl.explain.graph import (excitation_backprop, explain_graph, gcn_forward, lrp_aggregate,
                                     lrp_dense, normalize_graph_map)
from keras_egl.layers.graph import gcn_classifier, gcn_normalize

A3 = np.array([[0, 1, 1], [1, 0, 0], [1, 0, 0]], np.float32)
X3 = np.array([[1.0, 0.5], [0.2, 1.0], [0.7, 0.3]], np.float32)
W = np.array([[0.5, -0.3, 0.8], [0.4, 0.9, -0.6]], np.float32)
B = np.array([0.05, -0.02, 0.1], np.float32)
WD = np.array([[0.7, -0.4], [-0.2, 0.6], [0.5, 0.3]], np.float32)
BD = np.array([0.0, 0.1], np.float32)


def _one_layer():
    m = gcn_classifier(2, 2, hidden=(3,), seed=0)
    m.set_weights([W, B, WD, BD])
    return m


def _inputs(x, a, n_layers=1):
    v = gcn_normalize(a)
    return [x[None], *([v[None]] * n_layers), np.ones((1, x.shape[0]), np.float32)], v


def test_forward_matches_model():
    m = gcn_classifier(2, 2, hidden=(4, 3), seed=3)
    ins, _ = _inputs(X3, A3, 2)
    logits, feats = gcn_forward(m, ins)
    np.testing.assert_allclose(logits.numpy(), m(ins).numpy(), rtol=1e-6)
    assert len(feats) == 3


def test_edge_node_maps_equal_hand_computation_on_3_node_graph():
    m = _one_layer()
    ins, v = _inputs(X3, A3)
    c, n = 1, 3
    xw = X3 @ W
    pre = v @ xw + B
    f1 = np.maximum(pre, 0)
    # ∂z_c/∂V_ij = Σ_k Wd_kc/n · 1[pre_ik > 0] · (XW)_jk
    grad_v = ((WD[:, c] / n) * (pre > 0)) @ xw.T
    e_hand = np.maximum(grad_v, 0) * (1 - np.eye(3)) * A3
    # Grad-CAM: α_k = Wd_kc / n (the pool is a mean)
    m_hand = np.maximum(f1 @ (WD[:, c] / n), 0)
    # GRAD at the input: ∂z_c/∂X_mj = Σ_n Σ_k Wd_kc/n 1[pre_nk>0] V_nm W_jk
    gx = v.T @ (((WD[:, c] / n) * (pre > 0)) @ W.T)
    g_hand = np.sqrt((np.maximum(gx, 0) ** 2).sum(-1))
    out = explain_graph(m, ins, target=c, node_method="grad_cam", edge_method="gradient",
                        adjacency=A3[None], normalize=None)
    np.testing.assert_allclose(out["edge"].numpy()[0], e_hand, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(out["node"].numpy()[0], m_hand, rtol=1e-5, atol=1e-7)
    grad = explain_graph(m, ins, target=c, node_method="gradient", edge_method=None, layer=0, normalize=None)
    np.testing.assert_allclose(grad["node"].numpy()[0], g_hand, rtol=1e-4, atol=1e-5)
    assert np.all(np.diag(out["edge"].numpy()[0]) == 0)


def test_edge_gradient_matches_finite_differences():
    m = _one_layer()
    ins, v = _inputs(X3, A3)
    out = explain_graph(m, ins, target=0, node_method=None, edge_method="gradient",
                        adjacency=np.ones((1, 3, 3), np.float32), normalize=None)
    eps = 1e-3
    fd = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            vp, vm = v.copy(), v.copy()
            vp[i, j] += eps
            vm[i, j] -= eps
            zp = m([ins[0], vp[None], ins[2]]).numpy()[0, 0]
            zm = m([ins[0], vm[None], ins[2]]).numpy()[0, 0]
            fd[i, j] = (zp - zm) / (2 * eps)
    np.testing.assert_allclose(out["edge"].numpy()[0], np.maximum(fd, 0) * (1 - np.eye(3)), atol=2e-3)


def _lrp_ref(a, w, r, alpha, beta):
    """Explicit-contribution LRP-αβ reference: z_ij = a_i w_ij."""
    z = a[:, None] * w
    zp, zn = np.maximum(z, 0), np.minimum(z, 0)
    sp, sn = zp.sum(0), zn.sum(0)
    out = np.zeros_like(a)
    for i in range(len(a)):
        for j in range(w.shape[1]):
            if sp[j] != 0:
                out[i] += alpha * zp[i, j] / sp[j] * r[j]
            if sn[j] != 0:
                out[i] -= beta * zn[i, j] / sn[j] * r[j]
    return out


@pytest.mark.parametrize("alpha,beta", [(1.0, 0.0), (2.0, 1.0)])
def test_lrp_primitives_match_explicit_reference(alpha, beta):
    rng = np.random.default_rng(0)
    a, w, r = rng.normal(size=4), rng.normal(size=(4, 3)), rng.random(3)
    got = lrp_dense(tf.constant(a[None], tf.float32), tf.constant(w, tf.float32), tf.constant(r[None], tf.float32),
                    alpha, beta).numpy()[0]
    np.testing.assert_allclose(got, _lrp_ref(a, w, r, alpha, beta), rtol=1e-4, atol=1e-6)
    v, f, rr = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.random((3, 2))
    got = lrp_aggregate(tf.constant(v[None], tf.float32), tf.constant(f[None], tf.float32),
                        tf.constant(rr[None], tf.float32), alpha, beta).numpy()[0]
    want = np.stack([_lrp_ref(f[:, k], v.T, rr[:, k], alpha, beta) for k in range(2)], 1)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)


def test_eb_equals_hand_computation():
    m = _one_layer()
    ins, v = _inputs(X3, A3)
    c, n = 0, 3
    f_hat = v @ X3
    f1 = np.maximum(f_hat @ W + B, 0)
    g = f1.mean(0)
    r_g = _lrp_ref(g, WD, np.eye(2)[c], 1.0, 0.0)
    r_f1 = np.stack([_lrp_ref(f1[:, k], np.full((3, 1), 1.0 / n), r_g[k:k + 1], 1, 0) for k in range(3)], 1)
    r_hat = np.stack([_lrp_ref(f_hat[i], W, r_f1[i], 1, 0) for i in range(3)])
    r_x = np.stack([_lrp_ref(X3[:, k], v.T, r_hat[:, k], 1, 0) for k in range(2)], 1)
    eb_last = excitation_backprop(m, ins, target=c, layer=-1, normalize=None).numpy()[0]
    np.testing.assert_allclose(eb_last, np.maximum(r_f1.mean(1), 0), rtol=1e-4, atol=1e-7)
    eb_in = excitation_backprop(m, ins, target=c, layer=0, normalize=None).numpy()[0]
    np.testing.assert_allclose(eb_in, np.maximum(r_x.mean(1), 0), rtol=1e-4, atol=1e-7)
    # EB conserves relevance (1 for the class) down to the input when all z+ sums are positive
    np.testing.assert_allclose(r_x.sum(), 1.0, rtol=1e-4)
    rn = r_hat.sum(1)
    e_hand = np.maximum(v * (rn[:, None] + rn[None, :]), 0) * (1 - np.eye(3)) * A3
    resp = explain_graph(m, ins, target=c, node_method="eb", edge_method="response", adjacency=A3[None],
                         normalize=None)
    np.testing.assert_allclose(resp["edge"].numpy()[0], e_hand, rtol=1e-4, atol=1e-7)


def _padded(graphs, n_layers):
    n = max(x.shape[0] for x, _ in graphs)
    b = len(graphs)
    x = np.zeros((b, n, graphs[0][0].shape[1]), np.float32)
    v = np.zeros((b, n, n), np.float32)
    a = np.zeros((b, n, n), np.float32)
    m = np.zeros((b, n), np.float32)
    for i, (xi, ai) in enumerate(graphs):
        k = xi.shape[0]
        x[i, :k], v[i, :k, :k], a[i, :k, :k], m[i, :k] = xi, gcn_normalize(ai), ai, 1
    return [x] + [v] * n_layers + [m], a


@pytest.mark.parametrize("node_method,edge_method,layer", [("grad_cam", "gradient", -1), ("eb", "response", -1),
                                                           ("gradient", "gradient", 0), ("lrp", "response", 1)])
def test_padded_batch_gives_same_explanations_as_batch_size_1(node_method, edge_method, layer):
    rng = np.random.default_rng(1)
    model = gcn_classifier(4, 2, hidden=(6, 5), seed=2)
    graphs = []
    for n in (3, 6, 4):
        a = np.triu((rng.random((n, n)) > 0.4).astype(np.float32), 1)
        graphs.append((rng.normal(size=(n, 4)).astype(np.float32), a + a.T))
    kw = dict(target="pred", node_method=node_method, edge_method=edge_method, layer=layer)
    if node_method == "lrp":
        kw.update(alpha=2.0, beta=1.0)
    ins, adj = _padded(graphs, 2)
    batch = explain_graph(model, ins, adjacency=adj, **kw)
    for i, g in enumerate(graphs):
        ins1, adj1 = _padded([g], 2)
        one = explain_graph(model, ins1, adjacency=adj1, **kw)
        k = g[0].shape[0]
        np.testing.assert_allclose(batch["node"].numpy()[i, :k], one["node"].numpy()[0], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(batch["edge"].numpy()[i, :k, :k], one["edge"].numpy()[0], rtol=1e-4, atol=1e-6)
        assert np.all(batch["node"].numpy()[i, k:] == 0)
        assert batch["node"].numpy()[i, :k].max() <= 1.0 + 1e-6


def _fd_check(loss_fn, var, idx_list, eps=1e-2, rtol=0.05):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    g = tape.gradient(loss, var).numpy()
    for idx in idx_list:
        old = var.numpy()
        p, mm = old.copy(), old.copy()
        p[idx] += eps
        mm[idx] -= eps
        var.assign(p)
        lp = float(loss_fn())
        var.assign(mm)
        lm = float(loss_fn())
        var.assign(old)
        fd = (lp - lm) / (2 * eps)
        assert abs(fd - g[idx]) <= rtol * max(abs(fd), 1e-3) + 1e-4, (idx, fd, g[idx])
    return g


def test_second_order_gradient_of_node_and_edge_losses_matches_finite_differences():
    rng = np.random.default_rng(0)
    model = gcn_classifier(2, 2, hidden=(4, 3), seed=2)
    a = np.array([[0, 1, 1, 0], [1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 1, 0]], np.float32)
    x = rng.random((4, 2)).astype(np.float32) + 0.5
    ins, adj = _padded([(x, a)], 2)
    m_true = np.array([[1.0, 0.0, 1.0, 0.0]], np.float32)
    e_true = a[None] * 0.5

    def node_loss():
        out = explain_graph(model, ins, target=1, node_method="grad_cam", edge_method=None, normalize=None)
        return tf.reduce_sum(tf.square(10.0 * out["node"] - m_true))

    def edge_loss():
        out = explain_graph(model, ins, target=1, node_method=None, edge_method="gradient", adjacency=adj,
                            normalize=None)
        return tf.reduce_sum(tf.square(10.0 * out["edge"] - e_true))

    k1 = model.get_layer("gcn_1").kernel
    head = model.get_layer("logits").kernel
    g = _fd_check(node_loss, k1, [(0, 0), (1, 2), (0, 3)], eps=1e-2)
    assert np.abs(g).sum() > 0
    _fd_check(node_loss, head, [(0, 1), (2, 1)], eps=1e-2)
    g = _fd_check(edge_loss, k1, [(0, 0), (1, 1), (0, 2)], eps=1e-2)
    assert np.abs(g).sum() > 0


def test_node_grad_cam_map_cam_weights_and_deprecated_detach_weights():
    from keras_egl.explain.graph import node_grad_cam_map

    rng = np.random.default_rng(0)
    acts = tf.constant(rng.normal(size=(2, 4, 3)), tf.float32)
    grads = tf.constant(rng.normal(size=(2, 4, 3)), tf.float32)
    mask = tf.constant([[1, 1, 1, 0], [1, 1, 0, 0]], tf.float32)
    want = node_grad_cam_map(acts, grads, mask).numpy()
    np.testing.assert_array_equal(node_grad_cam_map(acts, grads, mask, cam_weights="detached").numpy(), want)

    def grad_wrt_grads(**kw):
        with tf.GradientTape() as tape:
            tape.watch(grads)
            v = tf.reduce_sum(node_grad_cam_map(acts, grads, mask, **kw))
        return tape.gradient(v, grads)

    assert grad_wrt_grads() is not None and grad_wrt_grads(cam_weights="second_order") is not None
    assert grad_wrt_grads(cam_weights="detached") is None
    with pytest.warns(DeprecationWarning, match="detach_weights"):
        assert grad_wrt_grads(detach_weights=True) is None
    with pytest.warns(DeprecationWarning):
        assert grad_wrt_grads(detach_weights=False) is not None
    with pytest.raises(TypeError, match="detach_weights"):
        node_grad_cam_map(acts, grads, mask, cam_weights="detached", detach_weights=True)
    with pytest.raises(ValueError, match="`cam_weights`"):
        node_grad_cam_map(acts, grads, mask, cam_weights=True)


def test_normalize_graph_map_and_errors():
    m = tf.constant([[2.0, 4.0, 9.0], [0.0, 0.0, 0.0]])
    mask = tf.constant([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    out = normalize_graph_map(m, mask, "max_positive").numpy()
    np.testing.assert_allclose(out, [[0.5, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(normalize_graph_map(m, mask).numpy(), out)  # the default
    assert np.isfinite(normalize_graph_map(m, mask, "minmax").numpy()).all()
    # Signed maps: "max_positive" divides by the max over real nodes (no positive
    # value → zeros), "max" by the largest magnitude; padding never sets the scale.
    s = tf.constant([[-4.0, 2.0, 9.0], [-2.0, -1.0, 0.0]])
    np.testing.assert_allclose(normalize_graph_map(s, mask, "max_positive").numpy(),
                               [[-2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalize_graph_map(s, mask, "max").numpy(),
                               [[-1.0, 0.5, 0.0], [-1.0, -0.5, 0.0]])
    # Edge maps use the pairs of real nodes.
    e = tf.constant(np.arange(9, dtype=np.float32).reshape(1, 3, 3))
    np.testing.assert_allclose(normalize_graph_map(e, mask[:1]).numpy()[0],
                               [[0, 0.25, 0], [0.75, 1, 0], [0, 0, 0]])
    with pytest.raises(ValueError, match="method"):
        normalize_graph_map(m, mask, "l2")
    model = _one_layer()
    ins, _ = _inputs(X3, A3)
    with pytest.raises(ValueError, match="node_method"):
        explain_graph(model, ins, target=0, node_method="cam")
    with pytest.raises(ValueError, match="inputs"):
        explain_graph(model, ins[:2], target=0)
    with pytest.raises(ValueError, match="α − β = 1"):
        explain_graph(model, ins, target=0, node_method="lrp", alpha=1.0, beta=0.5)
    with pytest.raises(ValueError, match="layer"):
        explain_graph(model, ins, target=0, layer=5)
    with pytest.raises(ValueError, match="needs the labels"):
        explain_graph(model, ins, target="true")
