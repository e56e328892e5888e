"""Toy Colors: the two class rules hold exactly, masks, scores."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from keras_egl.data.toy_colors import (COLORS, CORNERS, TOP_MIDDLE, annotation, generate_images,
                                       region_fraction, rule1_holds, rule2_holds, rule_scores, toy_colors)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 300))
def test_rules_hold_exactly(seed, n):
    X, y, Xt, yt = toy_colors(n, n_test=n, seed=seed)
    for images, labels in ((X, y), (Xt, yt)):
        r1, r2 = rule1_holds(images), rule2_holds(images)
        assert np.all(r1[labels == 0]) and np.all(r2[labels == 0])
        assert not np.any(r1[labels == 1]) and not np.any(r2[labels == 1])


def test_colours_shapes_and_seed():
    X, y, Xt, yt = toy_colors(2000, seed=3)
    assert X.shape == (2000, 75) and X.dtype == np.uint8 and set(np.unique(y)) == {0, 1}
    pix = X.reshape(-1, 3)
    palette = {tuple(c) for c in COLORS}
    assert {tuple(p) for p in np.unique(pix, axis=0)} <= palette
    assert {tuple(c) for c in COLORS} == {(255, 0, 0), (0, 255, 0), (0, 128, 255), (128, 0, 255)}
    assert abs(y.mean() - 0.5) < 0.05
    X2, y2, _, _ = toy_colors(2000, seed=3)
    np.testing.assert_array_equal(X, X2)
    assert not np.array_equal(X, toy_colors(2000, seed=4)[0])


def test_masks():
    assert CORNERS.shape == (75,) and CORNERS.sum() == 12 and TOP_MIDDLE.sum() == 9
    c = CORNERS.reshape(5, 5, 3)
    assert c[0, 0].all() and c[4, 4].all() and c[0, 4].all() and c[4, 0].all() and not c[2, 2].any()
    t = TOP_MIDDLE.reshape(5, 5, 3)
    assert t[0, 1:4].all() and not t[0, 0].any() and not t[1].any()
    A = annotation("both", 3)
    assert A.shape == (3, 75) and A.sum() == 3 * 21
    with pytest.raises(ValueError, match="kind"):
        annotation("edges", 2)
    with pytest.raises(ValueError, match="labels"):
        generate_images([0, 2])


def test_region_fraction_and_rule_scores():
    m = np.zeros((2, 5, 5), bool)
    m[0, 0, 0] = m[0, 2, 2] = True  # half in the corners
    region = np.zeros((5, 5), bool)
    region[[0, 0, 4, 4], [0, 4, 0, 4]] = True
    frac = region_fraction(m, region)
    assert frac[0] == 0.5 and np.isnan(frac[1])  # empty mask: NaN, skipped by the score
    from keras_egl.models.rrr import rrr_mlp

    X, _, _, _ = toy_colors(50, seed=0)
    r1, r2 = rule_scores(rrr_mlp((75,), 2, seed=0), X)
    assert 0.0 <= r1 <= 1.0 and 0.0 <= r2 <= 1.0
