"""Shortcut-reliance evaluation: counterfactual swaps, wrong-reason share, prior-map baseline."""

import numpy as np
import pytest

from keras_egl._keras import keras
from keras_egl.metrics.shortcut import (WrongReasonShare, attributions, counterfactual_accuracy,
                                        prior_map_baseline, swap_masked_regions, wrong_reason_share)
from keras_egl.testing import annotated_batch, small_cnn

COLOURS = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]], "float32")


def _decoy(n=12, size=10, s=3, seed=0):
    """Images with a class-coloured s×s square at a random per-image position; image 0 unannotated."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.2, 0.8, (n, size, size, 3)).astype("float32")
    y = np.arange(n) % 3
    mask = np.zeros((n, size, size), "float32")
    for i in range(1, n):
        r, c = rng.integers(1, size - s, 2)  # row/col 0 never covered: the "object" pixel lives there
        mask[i, r:r + s, c:c + s] = 1.0
        x[i, r:r + s, c:c + s] = COLOURS[y[i]]
    x[:, 0, 0] = COLOURS[y]  # the right reason: a class-coloured pixel no mask covers
    return x, mask, y


# --------------------------------------------------------------------------- counterfactual swaps


def test_swap_replaces_exactly_the_masked_regions_with_a_donor_of_another_class():
    x, mask, y = _decoy()
    x_cf, donors, new = swap_masked_regions(x, mask, y, seed=3)
    assert donors[0] == -1 and np.array_equal(x_cf[0], x[0]) and not new[0].any()
    for r in range(1, len(x)):
        d = donors[r]
        assert d >= 0 and y[d] != y[r] and mask[d].any()
        own, theirs = mask[r] > 0.5, mask[d] > 0.5
        outside = ~(own | theirs)
        np.testing.assert_array_equal(x_cf[r][outside], x[r][outside])
        np.testing.assert_array_equal(x_cf[r][theirs], x[d][theirs])
        erased = own & ~theirs  # own confounder gone: the per-channel median of the background
        np.testing.assert_allclose(x_cf[r][erased], np.broadcast_to(np.median(x[r][~own], 0), x_cf[r][erased].shape))
        np.testing.assert_array_equal(new[r], theirs.astype("float32"))
    # seeded, and a constant fill is used verbatim
    again, donors2, _ = swap_masked_regions(x, mask, y, seed=3)
    np.testing.assert_array_equal(again, x_cf)
    np.testing.assert_array_equal(donors2, donors)
    zero_fill, _, _ = swap_masked_regions(x, mask, y, seed=3, fill=0.0)
    r = 1
    erased = (mask[r] > 0.5) & ~(mask[donors[r]] > 0.5)
    assert erased.any() and np.all(zero_fill[r][erased] == 0.0)


def test_swap_keeps_dtype_and_mask_shape_and_binarises_soft_masks():
    x, mask, y = _decoy()
    x8 = (x * 255).astype("uint8")
    soft = mask[..., None] * 0.9 + 0.05  # >0.5 inside the square only; 0.05 everywhere else
    x_cf, donors, new = swap_masked_regions(x8, soft, y, seed=0)
    assert x_cf.dtype == np.uint8 and new.shape == soft.shape
    # every image had a soft (non-zero) mask but image 0's is below 0.5: unchanged
    assert donors[0] == -1 and np.array_equal(x_cf[0], x8[0])
    np.testing.assert_array_equal(new[..., 0], np.where(donors[:, None, None] >= 0, mask[np.maximum(donors, 0)], 0))


def test_counterfactual_accuracy_separates_confounder_and_object_readers():
    x, mask, y = _decoy()
    x_cf, donors, _ = swap_masked_regions(x, mask, y, seed=1)

    def confounder_reader(batch):
        batch = np.asarray(batch)  # scores: pixels of each class colour anywhere but the object pixel
        body = batch.copy()
        body[:, 0, 0] = 0.5
        return np.stack([np.all(np.isclose(body, c), -1).sum((1, 2)) for c in COLOURS], -1).astype("float32")

    def object_reader(batch):
        return np.asarray(batch)[:, 0, 0, :]  # the object pixel's colour = one-hot class

    swapped = donors >= 0
    assert counterfactual_accuracy(confounder_reader, x[swapped], y[swapped]) == 1.0
    assert counterfactual_accuracy(confounder_reader, x_cf, y, sample_weight=swapped) == 0.0
    assert counterfactual_accuracy(object_reader, x_cf, y, batch_size=5) == 1.0
    assert counterfactual_accuracy(object_reader, x_cf, np.eye(3)[y]) == 1.0  # one-hot labels
    model = small_cnn((10, 10, 3))
    pred = model.predict(x_cf, verbose=0).argmax(-1)
    assert counterfactual_accuracy(model, x_cf, y, batch_size=4) == pytest.approx(np.mean(pred == y))


# --------------------------------------------------------------------------- wrong-reason share


def _np_share(a, m):
    mag = np.abs(a) if a.ndim == 3 else np.abs(a).sum(-1)
    m = m.reshape(mag.shape)
    mass = mag.sum((1, 2))
    share = np.where(mass > 0, (mag * m).sum((1, 2)) / np.where(mass > 0, mass, 1), 0.0)
    return share, m.reshape(len(m), -1).any(1)


@pytest.mark.parametrize("shape,mask_extra", [((5, 6, 7), False), ((4, 8, 8, 3), False), ((6, 5, 9, 1), True),
                                              ((3, 4, 4, 2), True)])
def test_wrong_reason_share_equals_numpy(shape, mask_extra):
    rng = np.random.default_rng(sum(shape))
    a = rng.normal(size=shape).astype("float32")
    m = rng.uniform(0, 1, shape[:3]).astype("float32") * (rng.random(shape[:3]) < 0.4)
    m[-1] = 0.0  # unannotated
    mask_in = m[..., None] if mask_extra else m
    share, valid = _np_share(a, m)
    assert wrong_reason_share(a, mask_in) == pytest.approx(share[valid].mean(), rel=1e-5)
    assert wrong_reason_share(a, mask_in, "median") == pytest.approx(np.median(share[valid]), rel=1e-5)
    per = wrong_reason_share(a, mask_in, "none")
    np.testing.assert_allclose(per[valid], share[valid], rtol=1e-5)
    assert np.isnan(per[-1])
    flags = np.ones(shape[0])  # has_annotation overrides the non-empty rule
    flags[0] = 0
    assert wrong_reason_share(a, mask_in, has_annotation=flags) == pytest.approx(share[1:].mean(), rel=1e-5)


def test_wrong_reason_share_reports_all_zero_attributions_and_never_nans():
    a = np.ones((3, 4, 4), "float32")
    a[1] = 0.0
    m = np.zeros((3, 4, 4), "float32")
    m[:, :2, :2] = 1.0
    with pytest.warns(UserWarning, match="1 of 3 annotated samples have an all-zero attribution"):
        value, zero = wrong_reason_share(a, m, return_zero_attribution=True)
    np.testing.assert_array_equal(zero, [False, True, False])
    assert value == pytest.approx((0.25 + 0.0 + 0.25) / 3)
    assert np.isnan(wrong_reason_share(a, np.zeros_like(m)))  # nothing annotated


def test_wrong_reason_share_metric_streams_serialises_and_runs_in_evaluate():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(8, 6, 6, 2)).astype("float32")
    m = (rng.random((8, 6, 6)) < 0.3).astype("float32")
    a[2] = 0.0
    metric = WrongReasonShare()
    metric.update_state(m[:5], a[:5])
    metric.update_state(m[5:], a[5:])
    with pytest.warns(UserWarning):
        assert float(metric.result()) == pytest.approx(wrong_reason_share(a, m), rel=1e-5)
    assert float(metric.zero_attributions) == 1.0
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(clone) is WrongReasonShare and clone.get_config() == metric.get_config()
    metric.reset_state()
    assert float(metric.result()) == 0.0 and float(metric.zero_attributions) == 0.0

    from keras_egl.models.base import ExplanationGuidedModel

    inputs, y = annotated_batch()
    egl = ExplanationGuidedModel(small_cnn(), explained_layer="conv2",
                                 explanation_metrics=[(WrongReasonShare(), "neg_mask")])
    egl.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    logs = egl.evaluate(inputs, y, batch_size=len(y), verbose=0, return_dict=True)
    maps = egl.explain(inputs["x"]).numpy()
    share, _ = _np_share(maps, inputs["neg_mask"])
    has = inputs["has_annotation"] > 0
    assert logs["wrong_reason_share"] == pytest.approx(share[has].mean(), rel=1e-4)


def test_attributions_for_every_method_feed_the_share():
    inputs, y = annotated_batch(n=4)
    model = small_cnn()
    ig = attributions(model, inputs["x"], y, method="integrated_gradients", target="true", steps=4, batch_size=3)
    assert ig.shape == inputs["x"].shape
    from keras_egl.explain.attribution import integrated_gradients

    np.testing.assert_allclose(ig, integrated_gradients(model, inputs["x"], target=y, steps=4).numpy(),
                               rtol=1e-4, atol=1e-6)
    cam = attributions(model, inputs["x"], method="grad_cam", layer="conv2", batch_size=3)
    assert cam.shape == inputs["x"].shape[:3] and cam.min() >= 0.0
    grad = attributions(model, inputs["x"], method="input_gradient")
    assert grad.shape == inputs["x"].shape
    for a in (ig, cam, grad):
        assert 0.0 <= wrong_reason_share(a, inputs["neg_mask"]) <= 1.0


# --------------------------------------------------------------------------- prior-map baseline


def test_prior_map_baseline_equals_numpy_iou_and_f1():
    rng = np.random.default_rng(1)
    train = (rng.random((20, 8, 8)) < 0.3).astype("float32")
    train[:, 2:6, 2:6] = 1.0
    train[0] = 0.0  # unannotated: not part of the prior
    test = (rng.random((7, 8, 8)) < 0.4).astype("float32")
    test[-1] = 0.0
    neg = ((rng.random((7, 8, 8)) < 0.3) & (test == 0)).astype("float32")
    prior = train[1:].mean(0)
    p = (prior - prior.min()) / (prior.max() - prior.min())
    binary = p >= 0.6
    ious, f1s = [], []
    for t, n in zip(test, neg):
        if t.any():
            ious.append((binary & (t > 0)).sum() / (binary | (t > 0)).sum())
        if t.any() or n.any():
            tp, fp, fn = (binary & (t > 0)).sum(), (binary & (n > 0)).sum(), (~binary & (t > 0)).sum()
            pr, rc = tp / (tp + fp + 1e-6), tp / (tp + fn + 1e-6)
            f1s.append(2 * pr * rc / (pr + rc + 1e-6))
    iou, got_prior = prior_map_baseline(train, test[..., None], threshold=0.6, return_prior=True)
    np.testing.assert_allclose(got_prior, prior, rtol=1e-6)
    assert iou == pytest.approx(np.mean(ious), rel=1e-5)
    f1 = prior_map_baseline(train, test, metric="f1", threshold=0.6, test_neg_masks=neg)
    assert f1 == pytest.approx(np.mean(f1s), rel=1e-5)


# --------------------------------------------------------------------------- bad inputs


def test_bad_inputs_raise_errors_naming_the_argument():
    x, mask, y = _decoy()
    cases = [
        (lambda: swap_masked_regions(x[0], mask, y), ValueError, "`x`"),
        (lambda: swap_masked_regions(x, mask * 255, y), ValueError, "`neg_mask`"),
        (lambda: swap_masked_regions(x, mask[:, :-1], y), ValueError, "`neg_mask`"),
        (lambda: swap_masked_regions(x, mask, y[:-1]), ValueError, "`y`"),
        (lambda: swap_masked_regions(x, mask, np.zeros_like(y)), ValueError, "`y`"),  # no donor
        (lambda: swap_masked_regions(x, mask, y, seed=1.5), TypeError, "`seed`"),
        (lambda: swap_masked_regions(x, mask, y, fill="mean"), ValueError, "`fill`"),
        (lambda: counterfactual_accuracy(3, x, y), TypeError, "`model`"),
        (lambda: counterfactual_accuracy(lambda b: b[:, 0, 0], x, y, batch_size=0), ValueError, "`batch_size`"),
        (lambda: counterfactual_accuracy(lambda b: b[:, 0, 0], x, y, sample_weight=np.ones(2)), ValueError,
         "`sample_weight`"),
        (lambda: wrong_reason_share(x[..., 0], mask, reduction="max"), ValueError, "`reduction`"),
        (lambda: wrong_reason_share(x[..., 0, 0], mask), ValueError, "`attributions`"),
        (lambda: wrong_reason_share(x[..., 0], mask[:, :5]), ValueError, "`neg_mask`"),
        (lambda: wrong_reason_share(x[..., 0], -mask), ValueError, "`neg_mask`"),
        (lambda: wrong_reason_share(np.where(x > 0.5, np.nan, x), mask), ValueError, "`attributions`"),
        (lambda: prior_map_baseline(mask, mask, metric="auc"), ValueError, "`metric`"),
        (lambda: prior_map_baseline(mask, mask[:, :5]), ValueError, "`train_pos_masks`"),
        (lambda: prior_map_baseline(np.zeros_like(mask), mask), ValueError, "`train_pos_masks`"),
        (lambda: prior_map_baseline(mask, mask, test_neg_masks=mask), ValueError, "`test_neg_masks`"),
        (lambda: attributions(small_cnn((10, 10, 3)), x, method="grad_cam"), ValueError, "`layer`"),
        (lambda: attributions(small_cnn((10, 10, 3)), x, method="lime"), ValueError, "`method`"),
        (lambda: attributions(small_cnn((10, 10, 3)), x, target="true"), ValueError, "`y`"),
    ]
    for call, exc, needle in cases:
        with pytest.raises(exc, match=needle):
            call()
