import numpy as np
import pytest

from keras_egl.data.feedback_decoy import foreground_background, isic_like


def test_isic_like_is_deterministic_and_patches_only_benign():
    a, b = isic_like(60, seed=3, cue_strength=0.5), isic_like(60, seed=3, cue_strength=0.5)
    np.testing.assert_array_equal(a["x"], b["x"])
    assert a["x"].shape == (60, 32, 32, 3) and a["x"].min() >= 0 and a["x"].max() <= 1
    assert not a["has_patch"][a["y"] == 1].any()
    np.testing.assert_array_equal(a["neg_mask"].reshape(60, -1).any(1), a["has_patch"])
    none = isic_like(30, seed=3, patches=False)
    assert none["neg_mask"].sum() == 0 and not none["has_patch"].any()


def _lesion_darkness(d):
    # mean brightness of the darkest lesion pixels per image (the two-tone cue darkens some of them)
    x = d["x"].mean(-1).reshape(len(d["x"]), -1)
    return np.sort(x, axis=1)[:, :40].mean(1)


def test_isic_like_cue_strength_controls_the_class_difference():
    gap = {}
    for s in (0.0, 1.0):
        d = isic_like(400, malignant_fraction=0.5, patches=False, cue_strength=s, seed=0)
        dark = _lesion_darkness(d)
        gap[s] = dark[d["y"] == 0].mean() - dark[d["y"] == 1].mean()
    assert abs(gap[0.0]) < 0.01  # identical lesion distributions at strength 0
    assert gap[1.0] > 0.05      # malignant lesions are two-toned (darker) at strength 1
    with pytest.raises(ValueError, match="cue_strength"):
        isic_like(4, cue_strength=1.5)
    with pytest.raises(ValueError, match="malignant_fraction"):
        isic_like(4, malignant_fraction=0.0)


def test_isic_like_graded_cue_is_a_continuum_with_the_stated_separation():
    d = isic_like(2000, malignant_fraction=0.5, patches=False, cue="graded", cue_separation=1.2, seed=1)
    z = np.log(d["severity"] / (1 - d["severity"]))
    assert z[d["y"] == 1].mean() == pytest.approx(0.6, abs=0.1)
    assert z[d["y"] == 0].mean() == pytest.approx(-0.6, abs=0.1)
    assert z[d["y"] == 0].std() == pytest.approx(1.0, abs=0.1)
    # the image shows the degree: darker lesions at higher severity, within one class
    benign = d["y"] == 0
    rank = lambda v: np.argsort(np.argsort(v))  # noqa: E731
    rho = np.corrcoef(rank(d["severity"][benign]), rank(-_lesion_darkness(d)[benign]))[0, 1]
    assert rho > 0.5
    flat = isic_like(400, malignant_fraction=0.5, patches=False, cue="graded", cue_separation=0.0, seed=1)
    z0 = np.log(flat["severity"] / (1 - flat["severity"]))
    assert abs(z0[flat["y"] == 1].mean() - z0[flat["y"] == 0].mean()) < 0.3
    with pytest.raises(ValueError, match="cue"):
        isic_like(4, cue="continuous")
    with pytest.raises(ValueError, match="cue_separation"):
        isic_like(4, cue="graded", cue_separation=-1.0)


def test_foreground_background_masks_mark_the_background():
    d = foreground_background(10, seed=0)
    assert d["neg_mask"].shape == (10, 32, 32)
    assert 0.5 < d["neg_mask"].mean() < 0.98
