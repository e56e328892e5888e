"""Tests for keras_egl.explain.masks: adaptive pooling, normalisation, resizing."""

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from keras_egl._keras import tf
from keras_egl.explain.masks import (
    adaptive_max_pool2d,
    adaptive_min_pool2d,
    adaptive_pool_bins,
    normalize_map,
    resize_mask,
)

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- brute-force references


def torch_adaptive_pool_loop(x, oh, ow, reduce=np.max):
    """PyTorch's adaptive pooling, written as the literal loop over output cells."""
    b, h, w = x.shape[:3]
    out = np.zeros((b, oh, ow) + x.shape[3:], dtype=x.dtype)
    for i in range(oh):
        r0, r1 = math.floor(i * h / oh), math.ceil((i + 1) * h / oh)
        for j in range(ow):
            c0, c1 = math.floor(j * w / ow), math.ceil((j + 1) * w / ow)
            out[:, i, j] = reduce(x[:, r0:r1, c0:c1], axis=(1, 2))
    return out


def blur_reflect101_loop(img):
    """cv2.GaussianBlur(img, (3, 3), 0) by hand: ¼[1,2,1] ⊗ ¼[1,2,1], BORDER_REFLECT_101."""
    h, w = img.shape
    k = np.array([0.25, 0.5, 0.25])

    def refl(i, n):
        if n == 1:
            return 0
        if i < 0:
            return -i
        if i >= n:
            return 2 * (n - 1) - i
        return i

    out = np.zeros_like(img, dtype=np.float64)
    for r in range(h):
        for c in range(w):
            out[r, c] = sum(k[a] * k[bb] * img[refl(r + a - 1, h), refl(c + bb - 1, w)]
                            for a in range(3) for bb in range(3))
    return out


# --------------------------------------------------------------------------- adaptive pooling


def test_bins_follow_pytorch_rule():
    assert adaptive_pool_bins(5, 2) == [(0, 3), (2, 5)]
    assert adaptive_pool_bins(28, 11) == [
        (math.floor(i * 28 / 11), math.ceil((i + 1) * 28 / 11)) for i in range(11)]
    assert adaptive_pool_bins(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]


def test_adaptive_max_pool_hand_example():
    x = np.arange(25, dtype=np.float32).reshape(1, 5, 5)
    # 5 → 2: bins rows/cols [0,3) and [2,5) (overlapping at index 2).
    np.testing.assert_array_equal(adaptive_max_pool2d(x, 2).numpy()[0], [[12, 14], [22, 24]])
    np.testing.assert_array_equal(adaptive_min_pool2d(x, 2).numpy()[0], [[0, 2], [10, 12]])
    np.testing.assert_array_equal(adaptive_max_pool2d(x, (1, 5)).numpy()[0], [[20, 21, 22, 23, 24]])


def test_decoy_corner_dilation_vs_erosion():
    # A 4×4 corner swatch on 28×28 pooled to the 11×11 grid: bin i covers rows
    # [⌊28i/11⌋, ⌈28(i+1)/11⌉); bins 0 ([0,3)) and 1 ([2,6)) touch the swatch,
    # but only bin 0 lies wholly inside it.
    f = np.zeros((1, 28, 28), np.float32)
    f[0, :4, :4] = 1
    dil = adaptive_max_pool2d(f, 11).numpy()[0]
    ero = adaptive_max_pool2d(f, 11, erode=True).numpy()[0]
    expected_dil = np.zeros((11, 11))
    expected_dil[:2, :2] = 1
    expected_ero = np.zeros((11, 11))
    expected_ero[0, 0] = 1
    np.testing.assert_array_equal(dil, expected_dil)
    np.testing.assert_array_equal(ero, expected_ero)
    # Erosion is the complement trick of the 2024 code, 1 − maxpool(1 − F).
    np.testing.assert_array_equal(ero, 1 - adaptive_max_pool2d(1 - f, 11).numpy()[0])


@FAST
@given(
    b=st.integers(1, 2),
    h=st.integers(1, 13),
    w=st.integers(1, 13),
    oh=st.integers(1, 9),
    ow=st.integers(1, 9),
    channels=st.sampled_from([None, 1, 3]),
    seed=st.integers(0, 2**16),
)
def test_adaptive_pool_matches_bruteforce(b, h, w, oh, ow, channels, seed):
    rng = np.random.default_rng(seed)
    shape = (b, h, w) if channels is None else (b, h, w, channels)
    x = rng.normal(size=shape).astype(np.float32)
    np.testing.assert_array_equal(adaptive_max_pool2d(x, (oh, ow)).numpy(),
                                  torch_adaptive_pool_loop(x, oh, ow, np.max))
    np.testing.assert_array_equal(adaptive_min_pool2d(x, (oh, ow)).numpy(),
                                  torch_adaptive_pool_loop(x, oh, ow, np.min))
    binary = (x > 0).astype(np.float32)
    np.testing.assert_array_equal(
        adaptive_max_pool2d(binary, (oh, ow), erode=True).numpy(),
        1 - torch_adaptive_pool_loop(1 - binary, oh, ow, np.max))


def test_adaptive_pool_gradient_counts_argmax_hits():
    rng = np.random.default_rng(0)
    x = tf.constant(rng.permutation(49).reshape(1, 7, 7).astype(np.float32))  # distinct values
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(adaptive_max_pool2d(x, (3, 3)))
    g = tape.gradient(y, x).numpy()[0]
    expected = np.zeros((7, 7))
    xv = x.numpy()[0]
    for (r0, r1) in adaptive_pool_bins(7, 3):
        for (c0, c1) in adaptive_pool_bins(7, 3):
            block = xv[r0:r1, c0:c1]
            r, c = np.unravel_index(np.argmax(block), block.shape)
            expected[r0 + r, c0 + c] += 1
    np.testing.assert_array_equal(g, expected)


def test_adaptive_pool_in_tf_function_with_dynamic_batch():
    fn = tf.function(lambda m: adaptive_max_pool2d(m, (2, 3)),
                     input_signature=[tf.TensorSpec((None, 5, 7, 2), tf.float32)])
    x = np.random.default_rng(1).normal(size=(3, 5, 7, 2)).astype(np.float32)
    np.testing.assert_array_equal(fn(x).numpy(), torch_adaptive_pool_loop(x, 2, 3))
    assert fn.get_concrete_function().structured_outputs.shape.as_list() == [None, 2, 3, 2]


def test_adaptive_pool_bad_inputs():
    with pytest.raises(ValueError, match="output_size"):
        adaptive_max_pool2d(np.zeros((1, 4, 4)), 0)
    with pytest.raises(TypeError, match="output_size"):
        adaptive_max_pool2d(np.zeros((1, 4, 4)), (2, 2, 2))
    with pytest.raises(ValueError, match="`x`.*shape"):
        adaptive_max_pool2d(np.zeros((4, 4)), 2)
    fn = tf.function(lambda m: adaptive_max_pool2d(m, 2),
                     input_signature=[tf.TensorSpec((None, None, 4), tf.float32)])
    with pytest.raises(ValueError, match="static spatial size"):
        fn.get_concrete_function()


# --------------------------------------------------------------------------- normalisation


def test_normalize_hand_examples():
    m = tf.constant([[[1.0, 3.0], [2.0, 2.0]], [[5.0, 5.0], [5.0, 5.0]]])
    np.testing.assert_allclose(normalize_map(m, "minmax").numpy(),
                               [[[0, 1], [0.5, 0.5]], [[0, 0], [0, 0]]])
    s = tf.constant([[-4.0, 2.0, 1.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(normalize_map(s, "max").numpy(), [[-1, 0.5, 0.25], [0, 0, 0]])
    np.testing.assert_allclose(normalize_map(s, "relu_minmax").numpy(), [[0, 1, 0.5], [0, 0, 0]])
    np.testing.assert_allclose(normalize_map(s, None).numpy(), s.numpy())
    # RES adds 1e-6 to the denominator.
    np.testing.assert_allclose(normalize_map(s[:1], "minmax", epsilon=1e-6).numpy(),
                               [[0, 6 / (6 + 1e-6), 5 / (6 + 1e-6)]], rtol=1e-6)
    # Integer masks are cast to float.
    assert normalize_map(tf.constant([[0, 2, 4]]), "max").dtype == tf.float32


def test_normalize_per_channel_and_explicit_axis():
    m = np.zeros((1, 2, 2, 2), np.float32)
    m[0, :, :, 0] = [[0, 1], [2, 4]]
    m[0, :, :, 1] = [[10, 10], [10, 30]]
    out = normalize_map(m, "minmax").numpy()
    np.testing.assert_allclose(out[0, :, :, 0], [[0, 0.25], [0.5, 1]])
    np.testing.assert_allclose(out[0, :, :, 1], [[0, 0], [0, 1]])
    joint = normalize_map(m, "minmax", axis=(1, 2, 3)).numpy()
    np.testing.assert_allclose(joint.max(), 1.0)
    np.testing.assert_allclose(joint[0, 0, 0, 1], 1 / 3)


map_arrays = st.one_of(
    hnp.arrays(np.float32, hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5),
               elements=st.floats(-1e3, 1e3, width=32, allow_subnormal=False)),
    # constant maps, including zeros
    st.tuples(hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=5),
              st.floats(-10, 10, width=32)).map(lambda t: np.full(t[0], t[1], np.float32)),
)


@FAST
@given(m=map_arrays, method=st.sampled_from(["minmax", "max", "relu_minmax"]))
def test_normalize_properties(m, method):
    t = tf.constant(m)
    with tf.GradientTape() as tape:
        tape.watch(t)
        out = normalize_map(t, method)
        # a non-uniform upstream gradient, so the min/max paths are exercised
        ramp = tf.reshape(tf.range(1.0, tf.cast(tf.size(out), tf.float32) + 1.0), out.shape)
        loss = tf.reduce_sum(out * ramp)
    grad = tape.gradient(loss, t)
    o = out.numpy()
    assert o.shape == m.shape
    assert np.all(np.isfinite(o))
    assert np.all(np.isfinite(grad.numpy()))
    lo, hi = (-1.0, 1.0) if method == "max" else (0.0, 1.0)
    assert o.min() >= lo - 1e-6 and o.max() <= hi + 1e-6
    axes = (1,) if m.ndim == 2 else (1, 2)
    # documented: a range (or max |m|) below sqrt(finfo.tiny) counts as constant
    thr = np.sqrt(np.finfo(np.float32).tiny)
    const = (m.max(axis=axes, keepdims=True) - m.min(axis=axes, keepdims=True)) <= thr
    if method == "minmax":
        # constant maps → exactly zero; otherwise the range is spanned
        np.testing.assert_array_equal(np.where(np.broadcast_to(const, m.shape), o, 0), 0)
        spans = o.max(axis=axes)[~const.squeeze(axis=axes)]
        np.testing.assert_allclose(spans, 1.0, rtol=1e-6)
    if method == "max":
        zero = np.abs(m).max(axis=axes, keepdims=True) <= thr
        np.testing.assert_array_equal(np.where(np.broadcast_to(zero, m.shape), o, 0), 0)
        peak = np.abs(o).max(axis=axes)[~zero.squeeze(axis=axes)]
        np.testing.assert_allclose(peak, 1.0, rtol=1e-6)


def test_normalize_max_positive_and_valid_mask():
    s = tf.constant([[-4.0, 2.0, 1.0], [-4.0, -2.0, 0.0], [0.0, 0.0, 0.0]])
    # "max" divides by max |m| (sign kept); "max_positive" by max m, and a map
    # whose max is <= 0 (no positive evidence) becomes zeros, never sign-flipped.
    np.testing.assert_allclose(normalize_map(s, "max").numpy(), [[-1, 0.5, 0.25], [-1, -0.5, 0], [0, 0, 0]])
    np.testing.assert_allclose(normalize_map(s, "max_positive").numpy(), [[-2, 1, 0.5], [0, 0, 0], [0, 0, 0]])
    # They agree exactly on non-negative maps.
    p = tf.constant(np.random.default_rng(0).uniform(size=(3, 5, 4)), tf.float32)
    np.testing.assert_array_equal(normalize_map(p, "max").numpy(), normalize_map(p, "max_positive").numpy())
    # A valid mask: padding sets neither the scale nor the result.
    m = tf.constant([[2.0, 4.0, 9.0], [-1.0, 3.0, 5.0]])
    keep = tf.constant([[1, 1, 0], [1, 1, 1]])
    for method, want in (("max_positive", [[0.5, 1, 0], [-0.2, 0.6, 1]]),
                         ("max", [[0.5, 1, 0], [-0.2, 0.6, 1]]),
                         ("minmax", [[0, 1, 0], [0, 4 / 6, 1]]),
                         ("relu_minmax", [[0, 1, 0], [0, 0.6, 1]]),
                         (None, [[2, 4, 0], [-1, 3, 5]])):
        np.testing.assert_allclose(normalize_map(m, method, mask=keep).numpy(), want, rtol=1e-6,
                                   err_msg=str(method))
    # A sample without any valid entry is zeros; bool masks and size-1 axes broadcast.
    none_valid = normalize_map(m, "minmax", mask=tf.constant([[False] * 3, [True] * 3])).numpy()
    np.testing.assert_array_equal(none_valid[0], 0.0)
    img = tf.constant(np.random.default_rng(1).normal(size=(2, 3, 4)), tf.float32)
    row_mask = tf.constant([[[1.0], [1.0], [0.0]], [[1.0], [0.0], [0.0]]])
    got = normalize_map(img, "max_positive", mask=row_mask).numpy()
    np.testing.assert_array_equal(got[0, 2], 0.0)
    np.testing.assert_allclose(got[1, 0], img.numpy()[1, 0] / max(img.numpy()[1, 0].max(), 0), rtol=1e-6)
    with pytest.raises(ValueError, match="`mask`"):
        normalize_map(m, "max", mask=tf.ones((2,)))
    with pytest.raises(ValueError, match="`mask`"):
        normalize_map(m, "max", mask=tf.ones((2, 4)))


def test_normalize_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    m = tf.constant(rng.normal(size=(2, 3, 3)))  # float64 for the FD check
    w = tf.constant(rng.normal(size=(2, 3, 3)))
    for method in ("minmax", "max", "max_positive"):
        with tf.GradientTape() as tape:
            tape.watch(m)
            val = tf.reduce_sum(w * normalize_map(m, method))
        g = tape.gradient(val, m).numpy()
        fd = np.zeros_like(g)
        eps = 1e-6
        base = m.numpy()
        for idx in np.ndindex(base.shape):
            plus, minus = base.copy(), base.copy()
            plus[idx] += eps
            minus[idx] -= eps
            fd[idx] = (tf.reduce_sum(w * normalize_map(plus, method))
                       - tf.reduce_sum(w * normalize_map(minus, method))).numpy() / (2 * eps)
        np.testing.assert_allclose(g, fd, atol=1e-5)


def test_normalize_constant_map_gradient_is_zero_not_nan():
    m = tf.fill((2, 4, 4), 3.0)
    with tf.GradientTape() as tape:
        tape.watch(m)
        out = normalize_map(m, "minmax")
    g = tape.gradient(out, m).numpy()
    np.testing.assert_array_equal(g, 0.0)
    # float32: a range below sqrt(finfo.tiny) ≈ 1.1e-19 counts as constant (the
    # division's gradient would overflow); a range of 1e-10 is still normalised.
    tiny = tf.constant([[0.0, 1e-25], [0.0, 1e-10]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(tiny)
        out = normalize_map(tiny, "minmax")
    np.testing.assert_allclose(out.numpy(), [[0.0, 0.0], [0.0, 1.0]])
    assert np.all(np.isfinite(tape.gradient(out, tiny).numpy()))


def test_normalize_bad_inputs():
    with pytest.raises(ValueError, match="method"):
        normalize_map(np.zeros((1, 3)), "l2")
    with pytest.raises(ValueError, match="`m`"):
        normalize_map(np.zeros((3,)), "max")
    with pytest.raises(ValueError, match="batch axis"):
        normalize_map(np.zeros((2, 3)), "max", axis=0)
    with pytest.raises(ValueError, match="out of range"):
        normalize_map(np.zeros((2, 3)), "max", axis=2)
    with pytest.raises(ValueError, match="epsilon"):
        normalize_map(np.zeros((2, 3)), "max", epsilon=-1.0)
    with pytest.raises(TypeError, match="`m`"):
        normalize_map(tf.constant([["a", "b"]]), "max")


# --------------------------------------------------------------------------- resizing


def test_resize_nearest_hand_examples():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    # cv2.INTER_NEAREST / torch "nearest": src = ⌊i·4/2⌋ = 0, 2.
    np.testing.assert_array_equal(resize_mask(x, 2, "nearest").numpy()[0], [[0, 2], [8, 10]])
    # half-pixel centres: ⌊(i+½)·2⌋ = 1, 3.
    np.testing.assert_array_equal(resize_mask(x, 2, "nearest_exact").numpy()[0], [[5, 7], [13, 15]])
    # tie: (5 + ½)·26/11 = 13 exactly → row 13 (float32 implementations may give 12)
    col = np.arange(26, dtype=np.float32).reshape(1, 26, 1)
    assert resize_mask(col, (11, 1), "nearest_exact").numpy()[0, 5, 0] == 13
    # upsampling 2 → 4 repeats pixels
    up = resize_mask(np.array([[[1, 2], [3, 4]]]), 4, "nearest").numpy()[0]
    np.testing.assert_array_equal(up, np.kron([[1, 2], [3, 4]], np.ones((2, 2))))
    # RES: 224 → 7 picks the top-left pixel of each 32×32 block
    big = np.zeros((1, 224, 224), np.float32)
    big[0, 32, 64] = 1
    small = resize_mask(big, 7, "nearest").numpy()[0]
    assert small[1, 2] == 1 and small.sum() == 1


def test_resize_area_hand_examples():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4)
    np.testing.assert_allclose(resize_mask(x, 2, "area").numpy()[0], [[2.5, 4.5], [10.5, 12.5]])
    # 3 → 2: footprints [0, 1.5) and [1.5, 3): (x0 + ½x1)/1.5 and (½x1 + x2)/1.5
    row = np.array([[[3.0, 6.0, 9.0]]])
    np.testing.assert_allclose(resize_mask(row, (1, 2), "area").numpy()[0], [[(3 + 3) / 1.5, (3 + 9) / 1.5]])
    # channels are resized independently
    xc = np.stack([x[0], 2 * x[0]], -1)[None]
    out = resize_mask(xc, 2, "area").numpy()
    assert out.shape == (1, 2, 2, 2)
    np.testing.assert_allclose(out[0, :, :, 1], 2 * out[0, :, :, 0])
    # the mean is preserved by integer-factor area downsampling
    rng = np.random.default_rng(0)
    r = rng.random((2, 12, 8)).astype(np.float32)
    np.testing.assert_allclose(resize_mask(r, (3, 2), "area").numpy().mean((1, 2)), r.mean((1, 2)), rtol=1e-5)


def test_resize_area_blur_matches_gradia_pipeline():
    # corner delta on a 4×4 grid: 1-D ¼[1,2,1] with reflect-101 gives [.5, .25, 0, 0]
    d = np.zeros((1, 4, 4), np.float32)
    d[0, 0, 0] = 1
    np.testing.assert_allclose(resize_mask(d, 4, "area_blur").numpy()[0],
                               np.outer([0.5, 0.25, 0, 0], [0.5, 0.25, 0, 0]))
    # GRADIA: binary 224×224 label → area 7×7 → blur → / max
    rng = np.random.default_rng(5)
    label = np.zeros((1, 224, 224), np.float32)
    label[0, 40:150, 70:200] = 1
    label[0, rng.integers(0, 224, 50), rng.integers(0, 224, 50)] = 1
    area = label[0].reshape(7, 32, 7, 32).mean((1, 3))
    expected = blur_reflect101_loop(area)
    expected /= expected.max()
    got = resize_mask(label, 7, "area_blur", normalize="max").numpy()[0]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert got.max() == pytest.approx(1.0)


@FAST
@given(h=st.integers(1, 6), w=st.integers(1, 6), seed=st.integers(0, 1000))
def test_blur_matches_loop_on_random_sizes(h, w, seed):
    img = np.random.default_rng(seed).random((1, h, w))
    np.testing.assert_allclose(resize_mask(img, (h, w), "area_blur").numpy()[0],
                               blur_reflect101_loop(img[0]), rtol=1e-6, atol=1e-12)


def test_resize_empty_mask_with_normalize_stays_zero_and_is_differentiable():
    m = tf.zeros((2, 8, 8, 1))
    with tf.GradientTape() as tape:
        tape.watch(m)
        out = resize_mask(m, 4, "area_blur", normalize="max")
    assert out.shape == (2, 4, 4, 1)
    np.testing.assert_array_equal(out.numpy(), 0)
    assert np.all(np.isfinite(tape.gradient(out, m).numpy()))


def test_resize_bad_inputs():
    with pytest.raises(ValueError, match="method"):
        resize_mask(np.zeros((1, 4, 4)), 2, "bicubic")
    with pytest.raises(ValueError, match="normalize"):
        resize_mask(np.zeros((1, 4, 4)), 2, normalize="l1")
    with pytest.raises(ValueError, match="`mask`"):
        resize_mask(np.zeros((4, 4)), 2)
    with pytest.raises(ValueError, match="`mask`"):
        resize_mask(np.zeros((1, 2, 4, 4, 1)), 2)
    with pytest.raises(ValueError, match="size"):
        resize_mask(np.zeros((1, 4, 4)), (0, 2))
    with pytest.raises(TypeError, match="size"):
        resize_mask(np.zeros((1, 4, 4)), 2.5)


def test_as_map_batch_shapes_dtypes_and_errors():
    from keras_egl.explain.masks import as_map_batch

    m = as_map_batch(np.ones((2, 3, 4, 1), bool), "mask")
    assert m.shape == (2, 3, 4) and m.dtype == tf.float32
    assert as_map_batch(np.ones((2, 3, 4), np.float64), "m").dtype == tf.float64  # floats keep their dtype
    assert as_map_batch(np.ones((2, 3, 4), np.float64), "m", dtype=tf.float32).dtype == tf.float32
    with pytest.raises(ValueError, match=r"`mask`.*single channel"):
        as_map_batch(np.ones((2, 3, 4, 3)), "mask")  # never silently reduced over channels
    with pytest.raises(ValueError, match=r"`mask`.*\(B, h, w\)"):
        as_map_batch(np.ones((3, 4)), "mask")
    with pytest.raises(TypeError, match="`mask`"):
        as_map_batch(tf.constant([["a"]]), "mask")
    with pytest.raises(ValueError, match="required"):
        as_map_batch(None, "mask")
