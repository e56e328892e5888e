"""Tests for keras_egl.metrics.explanation (image-map explanation metrics)."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from keras_egl._keras import keras, tf
from keras_egl.metrics.explanation import (
    AttributionOverlap,
    ExplanationF1,
    ExplanationIoU,
    ExplanationPrecision,
    ExplanationRecall,
    PointingGame,
    attribution_overlap,
    explanation_iou,
    explanation_precision_recall_f1,
    normalize_maps,
    pointing_game,
)

FAST = settings(max_examples=20, deadline=None)


def _f(x):
    return float(np.asarray(x))


def _random_batch(seed, b, h, w, p_pos=0.3, p_neg=0.3):
    rng = np.random.default_rng(seed)
    expl = rng.normal(size=(b, h, w)).astype("float32")
    pos = (rng.random((b, h, w)) < p_pos).astype("float32")
    neg = ((rng.random((b, h, w)) < p_neg) & (pos == 0)).astype("float32")
    weights = rng.uniform(0.1, 2.0, size=(b,)).astype("float32")
    return pos, neg, expl, weights


def _np_prf(pos, neg, expl01, t=0.5, eps=1e-6):
    """Direct transcription of the RES test code, per image, for cross-checking."""
    out = []
    for p, n, m in zip(pos, neg, expl01):
        x = (m >= t).astype(float)
        y = (p > 0).astype(float) - (n > 0).astype(float)
        tp = np.sum(x * (y > 0))
        fp = np.sum(x * (y < 0))
        fn = np.sum((1 - x) * (y > 0))
        pr = tp / (tp + fp + eps)
        rc = tp / (tp + fn + eps)
        out.append((pr, rc, 2 * pr * rc / (pr + rc + eps), np.any(y != 0)))
    return np.array(out)


# --------------------------------------------------------------------------- #
# normalisation
# --------------------------------------------------------------------------- #
def test_normalize_maps_hand_values_and_constant_maps():
    m = tf.constant([[[2.0, 4.0], [6.0, 2.0]], [[3.0, 3.0], [3.0, 3.0]]])
    np.testing.assert_allclose(normalize_maps(m, "minmax")[0], [[0, 0.5], [1, 0]])
    np.testing.assert_allclose(normalize_maps(m, "max_positive")[0], [[1 / 3, 2 / 3], [1, 1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(normalize_maps(m, "max")[0], [[1 / 3, 2 / 3], [1, 1 / 3]], rtol=1e-6)
    # Constant map: min-max gives zeros, not NaN.
    np.testing.assert_array_equal(normalize_maps(m, "minmax")[1], np.zeros((2, 2)))
    neg = tf.constant([[[-2.0, 1.0], [3.0, -1.0]]])
    np.testing.assert_allclose(normalize_maps(neg, "relu_minmax")[0], [[0, 1 / 3], [1, 0]], rtol=1e-6)
    np.testing.assert_allclose(normalize_maps(neg, "minmax")[0], [[0, 0.6], [1, 0.2]], rtol=1e-6)
    # A map with no positive value has no evidence under "max_positive": zeros, not a sign flip.
    np.testing.assert_array_equal(normalize_maps(-tf.abs(neg), "max_positive")[0], np.zeros((2, 2)))
    # Signed maps: "max_positive" divides by the max, "max" by the largest magnitude.
    np.testing.assert_allclose(normalize_maps(neg, "max_positive")[0], [[-2 / 3, 1 / 3], [1, -1 / 3]], rtol=1e-6)
    np.testing.assert_allclose(normalize_maps(-tf.abs(neg), "max")[0], [[-2 / 3, -1 / 3], [-1, -1 / 3]],
                               rtol=1e-6)
    assert normalize_maps(m, None) is m
    with pytest.raises(ValueError, match="normalize"):
        normalize_maps(m, "l2")


# --------------------------------------------------------------------------- #
# IoU
# --------------------------------------------------------------------------- #
def test_iou_hand_computed_two_samples_weighted():
    mask = np.array([[[1, 1], [0, 0]], [[1, 0], [0, 1]]])
    cam = np.array([[[0.9, 0.2], [0.8, 0.0]], [[0.6, 0.1], [0.0, 0.7]]], "float32")
    # sample 0: pred {(0,0),(1,0)}, truth {(0,0),(0,1)} -> 1/3; sample 1: identical sets -> 1.
    per = explanation_iou(mask, cam, normalize=None, reduction="none")
    np.testing.assert_allclose(per, [1 / 3, 1.0], rtol=1e-6)
    assert _f(explanation_iou(mask, cam, normalize=None)) == pytest.approx(2 / 3)
    w = np.array([3.0, 1.0])
    assert _f(explanation_iou(mask, cam, normalize=None, sample_weight=w)) == pytest.approx((1 + 1) / 4)
    # GRADIA's 0.75 threshold: sample 0 pred {(0,0),(1,0)} (0.8 >= .75) -> 1/3; sample 1 pred empty -> 0.
    np.testing.assert_allclose(
        explanation_iou(mask, cam, threshold=0.75, normalize=None, reduction="none"), [1 / 3, 0.0], rtol=1e-6
    )


def test_iou_minmax_default_and_strict_ties():
    mask = np.array([[[0, 1], [1, 0]]])
    cam = np.array([[[2.0, 4.0], [6.0, 2.0]]], "float32")  # minmax -> [[0, .5], [1, 0]]
    assert _f(explanation_iou(mask, cam)) == pytest.approx(1.0)  # 0.5 >= 0.5 kept
    assert _f(explanation_iou(mask, cam, strict=True)) == pytest.approx(0.5)  # RES code's "> 0.5"
    assert _f(explanation_iou(mask[..., None], cam[..., None])) == pytest.approx(1.0)  # (B,H,W,1)


def test_iou_annotation_handling():
    mask = np.array([[[1, 0], [0, 0]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]])
    cam = np.array([[[1, 0], [0, 0]], [[1, 0], [0, 0]], [[0, 0], [0, 0]]], "float32")
    per = explanation_iou(mask, cam, normalize=None, reduction="none").numpy()
    assert per[0] == 1.0 and np.isnan(per[1]) and np.isnan(per[2])
    assert _f(explanation_iou(mask, cam, normalize=None)) == 1.0  # empty masks excluded
    # Flagged as annotated: empty mask + non-empty prediction = 0, both empty = empty_score.
    flags = np.array([True, True, True])
    np.testing.assert_allclose(
        explanation_iou(mask, cam, normalize=None, has_annotation=flags, reduction="none"), [1, 0, 1]
    )
    np.testing.assert_allclose(
        explanation_iou(mask, cam, normalize=None, has_annotation=flags, empty_score=0.0, reduction="none"),
        [1, 0, 0],
    )
    # The flag can also drop an annotated sample.
    assert _f(explanation_iou(mask, cam, normalize=None, has_annotation=[0, 1, 0])) == 0.0
    # Nothing annotated at all: 0.0, not NaN.
    assert _f(explanation_iou(mask[1:], cam[1:])) == 0.0


@FAST
@given(seed=st.integers(0, 10_000), b=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6),
       t=st.floats(0.05, 0.95))
def test_iou_properties(seed, b, h, w, t):
    pos, _, expl, _ = _random_batch(seed, b, h, w)
    per = explanation_iou(pos, expl, threshold=t, reduction="none").numpy()
    finite = per[~np.isnan(per)]
    assert np.all((finite >= 0) & (finite <= 1))
    # IoU(mask, mask) = 1 wherever the mask is annotated.
    same = explanation_iou(pos, pos, threshold=t, normalize="max", reduction="none").numpy()
    assert np.all(same[~np.isnan(same)] == 1.0)
    # Min-max normalisation makes IoU invariant to a positive affine rescaling of the map.
    scaled = explanation_iou(pos, 3.7 * expl + 2.0, threshold=t, reduction="none").numpy()
    np.testing.assert_allclose(scaled, per, atol=1e-6)
    # Cross-check against a NumPy transcription.
    m = (expl - expl.min((1, 2), keepdims=True)) / (expl.max((1, 2), keepdims=True) - expl.min((1, 2), keepdims=True) + 1e-30)
    pred = m >= t
    truth = pos > 0
    inter = (pred & truth).sum((1, 2))
    union = (pred | truth).sum((1, 2))
    ref = np.where(truth.any((1, 2)), inter / np.maximum(union, 1), np.nan)
    np.testing.assert_allclose(per, ref, atol=1e-5)


# --------------------------------------------------------------------------- #
# precision / recall / F1
# --------------------------------------------------------------------------- #
def test_prf_hand_computed_and_per_image_averaging():
    pos = np.array([[[1, 1], [0, 0]], [[1, 0], [0, 0]]])
    neg = np.array([[[0, 0], [1, 0]], [[0, 1], [0, 0]]])
    cam = np.array([[[1, 0], [1, 1]], [[1, 1], [0, 0]]], "float32")
    # sample 0: TP=1 FP=1 FN=1 -> P=R=F1=.5; sample 1: TP=1 FP=1 FN=0 -> P=.5 R=1 F1=2/3.
    out = explanation_precision_recall_f1(pos, neg, cam, normalize=None, reduction="none")
    np.testing.assert_allclose(out["precision"], [0.5, 0.5], atol=1e-5)
    np.testing.assert_allclose(out["recall"], [0.5, 1.0], atol=1e-5)
    np.testing.assert_allclose(out["f1"], [0.5, 2 / 3], atol=1e-5)
    mean = explanation_precision_recall_f1(pos, neg, cam, normalize=None)
    assert _f(mean["precision"]) == pytest.approx(0.5, abs=1e-5)
    assert _f(mean["recall"]) == pytest.approx(0.75, abs=1e-5)
    # Mean of per-image F1 (0.5833), not the harmonic mean of mean P and R (0.6): RES Table 1.
    assert _f(mean["f1"]) == pytest.approx((0.5 + 2 / 3) / 2, abs=1e-5)
    # epsilon is exactly the code's 1e-6.
    assert _f(out["precision"][0]) == pytest.approx(1 / (2 + 1e-6), rel=1e-7)


def test_prf_annotation_rules():
    # Pixel (0,0) is in both masks -> unannotated (label = pos - neg = 0): ignored entirely.
    pos = np.array([[[1, 1], [0, 0]]])
    neg = np.array([[[1, 0], [0, 0]]])
    cam = np.array([[[1, 0], [1, 0]]], "float32")
    out = explanation_precision_recall_f1(pos, neg, cam, normalize=None, reduction="none")
    # y = [[0,1],[0,0]]: TP=0 FP=0 FN=1.
    np.testing.assert_allclose([out[k][0] for k in ("precision", "recall", "f1")], [0, 0, 0], atol=1e-6)
    # Negatives only: the sample is annotated and scores zeros (the RES code's formula).
    out = explanation_precision_recall_f1(np.zeros((1, 2, 2)), np.ones((1, 2, 2)), cam, normalize=None)
    assert _f(out["f1"]) == 0.0
    # No annotation at all: excluded; with negative_mask=None only the positive mask counts.
    out = explanation_precision_recall_f1(np.zeros((1, 2, 2)), None, cam, normalize=None, reduction="none")
    assert np.isnan(out["f1"].numpy()[0])
    out = explanation_precision_recall_f1(pos, None, cam, normalize=None)
    # y = [[1,1],[0,0]], x = [[1,0],[1,0]]: TP=1 FP=0 FN=1 -> P=1, R=.5.
    assert _f(out["precision"]) == pytest.approx(1.0, abs=1e-5)
    assert _f(out["recall"]) == pytest.approx(0.5, abs=1e-5)


@FAST
@given(seed=st.integers(0, 10_000), b=st.integers(1, 5), h=st.integers(1, 6), w=st.integers(1, 6))
def test_prf_properties(seed, b, h, w):
    pos, neg, expl, _ = _random_batch(seed, b, h, w)
    out = {k: v.numpy() for k, v in explanation_precision_recall_f1(pos, neg, expl, reduction="none").items()}
    valid = ~np.isnan(out["f1"])
    p, r, f1 = out["precision"][valid], out["recall"][valid], out["f1"][valid]
    for v in (p, r, f1):
        assert np.all((v >= 0) & (v <= 1))
    # F1 is a harmonic mean: between min(P, R) and max(P, R) (up to epsilon).
    assert np.all(f1 <= np.maximum(p, r) + 1e-5)
    assert np.all(f1 >= np.minimum(p, r) - 1e-5)
    # Symmetric in P and R: recompute with the roles of P and R swapped.
    np.testing.assert_allclose(f1, 2 * r * p / (r + p + 1e-6), atol=1e-5)
    m01 = normalize_maps(tf.constant(expl), "minmax").numpy()
    ref = _np_prf(pos, neg, m01)
    np.testing.assert_allclose(p, ref[ref[:, 3] > 0, 0], atol=1e-5)
    np.testing.assert_allclose(r, ref[ref[:, 3] > 0, 1], atol=1e-5)
    np.testing.assert_allclose(f1, ref[ref[:, 3] > 0, 2], atol=1e-5)
    # Perfect map (x = positive mask) gives R = 1 and P = 1 wherever positives exist.
    perfect = explanation_precision_recall_f1(pos, neg, pos, normalize=None, reduction="none")
    has_pos = pos.reshape(b, -1).any(1)
    np.testing.assert_allclose(perfect["recall"].numpy()[has_pos], 1.0, atol=1e-5)
    np.testing.assert_allclose(perfect["precision"].numpy()[has_pos], 1.0, atol=1e-5)


# --------------------------------------------------------------------------- #
# attribution overlap
# --------------------------------------------------------------------------- #
def test_attribution_overlap_hand_computed():
    f = np.array([[[1, 0], [0, 0]], [[0, 1], [1, 0]]])
    t = np.array([[[-1.0, 1.0], [2.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]], "float32")
    np.testing.assert_allclose(attribution_overlap(f, t, reduction="none"), [0.25, 0.5])
    assert _f(attribution_overlap(f, t)) == pytest.approx(0.375)
    assert _f(attribution_overlap(f, t, sample_weight=[1.0, 3.0])) == pytest.approx((0.25 + 1.5) / 4)
    # Multi-channel attribution (v = 2) with one spatial mask: F ⊗ T over every channel.
    t2 = np.stack([t[0], 3 * t[0]], axis=-1)[None]  # (1, 2, 2, 2), channel 2 = 3x channel 1
    assert _f(attribution_overlap(f[:1], t2)) == pytest.approx(0.25)
    assert _f(attribution_overlap(f[:1, ..., None], t2)) == pytest.approx(0.25)
    # Per-channel masks are allowed when the channel counts match.
    f2 = np.stack([f[0], np.zeros((2, 2))], -1)[None]
    assert _f(attribution_overlap(f2, t2)) == pytest.approx(1 / 16)
    # Zero attribution: no mass anywhere -> 0; empty mask -> excluded.
    np.testing.assert_array_equal(attribution_overlap(f[:1], np.zeros((1, 2, 2)), reduction="none"), [0.0])
    assert np.isnan(attribution_overlap(np.zeros((1, 2, 2)), t[:1], reduction="none").numpy()[0])


@FAST
@given(seed=st.integers(0, 10_000), b=st.integers(1, 4), h=st.integers(1, 6), w=st.integers(1, 6),
       c=st.sampled_from([1, 3]), scale=st.floats(-50, 50).filter(lambda s: abs(s) > 1e-2))
def test_attribution_overlap_properties(seed, b, h, w, c, scale):
    pos, _, _, _ = _random_batch(seed, b, h, w, p_pos=0.5)
    rng = np.random.default_rng(seed + 1)
    t = rng.normal(size=(b, h, w, c)).astype("float32")
    per = attribution_overlap(pos, t, reduction="none").numpy()
    finite = per[~np.isnan(per)]
    assert np.all((finite >= 0) & (finite <= 1 + 1e-6))
    # Invariant to any non-zero rescaling of the attribution (|c T| / |T|).
    np.testing.assert_allclose(attribution_overlap(pos, scale * t, reduction="none"), per, atol=1e-5)
    # Complementary masks split the mass: overlap(F) + overlap(1 - F) = 1 (when both annotated).
    both = attribution_overlap(pos, t, has_annotation=np.ones(b), reduction="none").numpy() + \
        attribution_overlap(1 - pos, t, has_annotation=np.ones(b), reduction="none").numpy()
    np.testing.assert_allclose(both, 1.0, atol=1e-5)


# --------------------------------------------------------------------------- #
# pointing game
# --------------------------------------------------------------------------- #
def test_pointing_game_hand_computed():
    mask = np.zeros((4, 3, 3))
    mask[:, 1, 2] = 1
    cam = np.zeros((4, 3, 3), "float32")
    cam[0, 1, 2] = 1.0  # exact hit
    cam[1, 2, 1] = 1.0  # diagonal neighbour: distance sqrt(2)
    cam[2, 0, 0] = 1.0  # distance sqrt(1 + 4) = 2.236
    # cam[3] constant: points nowhere -> miss even though argmax (0,0) ...
    np.testing.assert_array_equal(pointing_game(mask, cam, reduction="none"), [1, 0, 0, 0])
    np.testing.assert_array_equal(pointing_game(mask, cam, tolerance=1.5, reduction="none"), [1, 1, 0, 0])
    np.testing.assert_array_equal(pointing_game(mask, cam, tolerance=2.3, reduction="none"), [1, 1, 1, 0])
    assert _f(pointing_game(mask, cam, tolerance=1.5)) == pytest.approx(0.5)
    # ... including when (0,0) is inside the mask.
    m2 = np.ones((1, 3, 3))
    assert _f(pointing_game(m2, np.zeros((1, 3, 3)))) == 0.0
    # Unannotated samples excluded; flagged-but-empty masks are misses.
    np.testing.assert_array_equal(
        np.isnan(pointing_game(np.zeros((1, 3, 3)), cam[:1], reduction="none").numpy()), [True]
    )
    assert _f(pointing_game(np.zeros((1, 3, 3)), cam[:1], has_annotation=[1])) == 0.0


@FAST
@given(seed=st.integers(0, 10_000), b=st.integers(1, 5), h=st.integers(2, 6), w=st.integers(2, 6),
       scale=st.floats(0.01, 100.0))
def test_pointing_game_properties(seed, b, h, w, scale):
    pos, _, expl, _ = _random_batch(seed, b, h, w)
    per = pointing_game(pos, expl, reduction="none").numpy()
    np.testing.assert_array_equal(pointing_game(pos, scale * expl - 1.0, reduction="none"), per)
    # Hit rate can only grow with the tolerance, and a large radius always hits.
    wide = pointing_game(pos, expl, tolerance=1.0, reduction="none").numpy()
    valid = ~np.isnan(per)
    assert np.all(wide[valid] >= per[valid])
    assert np.all(pointing_game(pos, expl, tolerance=h + w, reduction="none").numpy()[valid] == 1)
    # Pointing at the mask itself (mask + tiny noise) always hits.
    assert np.all(pointing_game(pos, pos + 1e-3 * expl, reduction="none").numpy()[valid] == 1)


# --------------------------------------------------------------------------- #
# bad input
# --------------------------------------------------------------------------- #
def test_shape_mismatch_names_arguments_and_shapes():
    with pytest.raises(ValueError, match=r"positive_mask.*explanation.*\(2, 4, 4\).*\(2, 4, 5\)"):
        explanation_iou(np.ones((2, 4, 4)), np.ones((2, 4, 5)))
    with pytest.raises(ValueError, match="negative_mask"):
        explanation_precision_recall_f1(np.ones((2, 4, 4)), np.ones((2, 3, 4)), np.ones((2, 4, 4)))
    with pytest.raises(ValueError, match="irrelevant_mask"):
        attribution_overlap(np.ones((2, 4, 4, 2)), np.ones((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="positive_mask"):
        pointing_game(np.ones((3, 4, 4)), np.ones((2, 4, 4)))  # batch mismatch is not broadcast
    with pytest.raises(ValueError, match="explanation"):
        explanation_iou(np.ones((2, 4, 4)), np.ones((2, 4, 4, 3)))  # RGB map
    with pytest.raises(ValueError, match="rank 2"):
        explanation_iou(np.ones((4, 4)), np.ones((4, 4)))
    with pytest.raises(ValueError, match="sample_weight"):
        explanation_iou(np.ones((2, 4, 4)), np.ones((2, 4, 4)), sample_weight=np.ones(3))
    with pytest.raises(ValueError, match="has_annotation"):
        explanation_iou(np.ones((2, 4, 4)), np.ones((2, 4, 4)), has_annotation=np.ones((2, 2)))


def test_dtypes_and_arguments():
    with pytest.raises(TypeError, match="explanation"):
        explanation_iou(np.ones((1, 2, 2)), np.array([[["a", "b"], ["c", "d"]]]))
    with pytest.raises(TypeError, match="positive_mask"):
        explanation_iou(np.ones((1, 2, 2), np.complex64), np.ones((1, 2, 2)))
    # Boolean/integer masks and float64/int maps are cast (documented).
    assert _f(explanation_iou(np.ones((1, 2, 2), bool), np.eye(2, dtype=np.float64)[None])) == pytest.approx(0.5)
    assert _f(explanation_iou(np.ones((1, 2, 2), np.int64), np.eye(2, dtype=np.int32)[None])) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="normalize"):
        explanation_iou(np.ones((1, 2, 2)), np.ones((1, 2, 2)), normalize="softmax")
    with pytest.raises(ValueError, match="reduction"):
        explanation_iou(np.ones((1, 2, 2)), np.ones((1, 2, 2)), reduction="sum")
    with pytest.raises(TypeError, match="threshold"):
        ExplanationIoU(threshold="0.5")
    with pytest.raises(ValueError, match="tolerance"):
        PointingGame(tolerance=-1)
    with pytest.raises(ValueError, match="empty_score"):
        ExplanationIoU(empty_score=2.0)


# --------------------------------------------------------------------------- #
# streaming metrics
# --------------------------------------------------------------------------- #
METRIC_CASES = [
    (lambda: ExplanationIoU(threshold=0.75), "iou"),
    (lambda: ExplanationPrecision(), "precision"),
    (lambda: ExplanationRecall(normalize="relu_minmax"), "recall"),
    (lambda: ExplanationF1(strict=True), "f1"),
    (lambda: AttributionOverlap(), "overlap"),
    (lambda: PointingGame(tolerance=1.0), "pointing"),
]


def _args(kind, pos, neg, expl):
    return (pos, neg, expl) if kind in ("precision", "recall", "f1") else (pos, expl)


def _batch_value(metric, kind, pos, neg, expl, w):
    cfg = metric.get_config()
    if kind == "iou":
        return explanation_iou(pos, expl, threshold=cfg["threshold"], normalize=cfg["normalize"],
                               strict=cfg["strict"], sample_weight=w)
    if kind in ("precision", "recall", "f1"):
        return explanation_precision_recall_f1(pos, neg, expl, threshold=cfg["threshold"], normalize=cfg["normalize"],
                                               strict=cfg["strict"], sample_weight=w)[kind]
    if kind == "overlap":
        return attribution_overlap(pos, expl, sample_weight=w)
    return pointing_game(pos, expl, tolerance=cfg["tolerance"], sample_weight=w)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 10_000), b=st.integers(2, 9), data=st.data())
def test_streaming_equals_batch_function_over_random_splits(seed, b, data):
    pos, neg, expl, w = _random_batch(seed, b, 4, 5)
    cuts = sorted(data.draw(st.lists(st.integers(1, b - 1), max_size=3, unique=True)))
    bounds = [0, *cuts, b]
    for make, kind in METRIC_CASES:
        metric = make()
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            metric.update_state(*_args(kind, pos[lo:hi], neg[lo:hi], expl[lo:hi]), sample_weight=w[lo:hi])
        expected = _f(_batch_value(metric, kind, pos, neg, expl, w))
        assert _f(metric.result()) == pytest.approx(expected, abs=1e-5), kind


@pytest.mark.parametrize("make,kind", METRIC_CASES, ids=[k for _, k in METRIC_CASES])
def test_metric_config_roundtrip_reset_and_tf_function(make, kind):
    metric = make()
    config = metric.get_config()
    clone = type(metric).from_config(config)
    assert clone.get_config() == config
    # Registered serializable: keras.metrics.serialize/deserialize round-trips by name.
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is type(metric) and restored.get_config() == config
    assert restored.get_config()["name"] == metric.name

    pos, neg, expl, w = _random_batch(3, 6, 4, 4)
    assert _f(metric.result()) == 0.0  # empty stream: 0, not NaN

    @tf.function
    def step(p, n, e, sw):
        metric.update_state(*_args(kind, p, n, e), sample_weight=sw)
        return metric.result()

    got = step(tf.constant(pos), tf.constant(neg), tf.constant(expl), tf.constant(w))
    assert _f(got) == pytest.approx(_f(_batch_value(metric, kind, pos, neg, expl, w)), abs=1e-5)
    metric.reset_state()
    assert _f(metric.result()) == 0.0 and _f(metric.count) == 0.0


def test_metric_has_annotation_and_shape_errors_in_update_state():
    mask = np.array([[[1, 0], [0, 0]], [[0, 1], [0, 0]]])
    cam = np.array([[[1, 0], [0, 0]], [[1, 0], [0, 0]]], "float32")
    m = ExplanationIoU(normalize=None)
    m.update_state(mask, cam, has_annotation=[True, False])
    assert _f(m.result()) == 1.0
    m.update_state(mask, cam, sample_weight=[0.0, 1.0])
    assert _f(m.result()) == pytest.approx(1 / 2)  # weights (1) + (0, 1) over scores 1, (1, 0)
    with pytest.raises(ValueError, match=r"positive_mask.*explanation"):
        m.update_state(np.ones((2, 3, 3)), np.ones((2, 3, 2)))


def test_metrics_under_mirrored_strategy(mirrored_strategy):
    strategy = mirrored_strategy
    pos, neg, expl, w = _random_batch(11, 8, 4, 4)
    with strategy.scope():
        iou, f1, point = ExplanationIoU(), ExplanationF1(), PointingGame()
    ds = tf.data.Dataset.from_tensor_slices((pos, neg, expl, w)).batch(4)
    dist = strategy.experimental_distribute_dataset(ds)

    @tf.function
    def step(batch):
        def replica_fn(p, n, e, sw):
            iou.update_state(p, e, sample_weight=sw)
            f1.update_state(p, n, e, sample_weight=sw)
            point.update_state(p, e, sample_weight=sw)

        strategy.run(replica_fn, args=batch)

    for batch in dist:
        step(batch)
    assert strategy.num_replicas_in_sync == 2
    assert _f(iou.result()) == pytest.approx(_f(explanation_iou(pos, expl, sample_weight=w)), abs=1e-5)
    assert _f(f1.result()) == pytest.approx(
        _f(explanation_precision_recall_f1(pos, neg, expl, sample_weight=w)["f1"]), abs=1e-5)
    assert _f(point.result()) == pytest.approx(_f(pointing_game(pos, expl, sample_weight=w)), abs=1e-5)
