import numpy as np
import pytest

from keras_egl.data import confounded as C
from keras_egl.data.confounded import COLOUR_POSITION, DECOY, SPLITS, TASKS, confounded_task, to_inputs
from keras_egl.data.feedback_decoy import isic_like

SIZES = {"decoy_mnist": dict(n_train=600, n_val=100, n_test=300),
         "colour_position": dict(n_train=600, n_val=100, n_test=300),
         "isic_like": dict(n_train=400, n_val=60, n_test=300)}
SHAPE = {"decoy_mnist": (28, 28, 1), "colour_position": (32, 32, 3), "isic_like": (32, 32, 3)}


def _task(name, **kw):
    return confounded_task(name, **{**SIZES[name], **kw})


@pytest.fixture(scope="module", params=TASKS)
def clean_noisy(request):
    name = request.param
    return name, _task(name, mask_noise="clean", seed=1), _task(name, mask_noise="noisy", seed=1)


def _flat(a):
    return a.reshape(len(a), -1)


# --------------------------------------------------------------------------- format


def test_shapes_dtypes_ranges(clean_noisy):
    name, task, _ = clean_noisy
    assert tuple(task) == SPLITS
    for split, d in task.items():
        n = SIZES[name]["n_" + ("train" if split.startswith("train") else "val" if split == "val" else "test")]
        assert d["x"].shape == (n,) + SHAPE[name] and d["x"].dtype == np.float32
        assert d["x"].min() >= 0.0 and d["x"].max() <= 1.0
        assert d["y"].shape == (n,) and d["y"].dtype == np.int64
        assert d["shortcut"].shape == (n,) and d["shortcut"].dtype == np.int64
        for k in ("pos_mask", "neg_mask"):
            assert d[k].shape == (n,) + SHAPE[name][:2] and d[k].dtype == np.float32
            assert set(np.unique(d[k])) <= {0.0, 1.0}
        assert d["has_annotation"].shape == (n,) and d["has_annotation"].dtype == np.float32
        assert (d["pos_mask"] * d["neg_mask"]).sum() == 0  # never both right and wrong
        if split in ("val", "test", "test_cf"):  # clean, complete evaluation masks
            assert (d["has_annotation"] == 1).all() and _flat(d["pos_mask"]).any(1).all()
    n_classes = 2 if name == "isic_like" else 10
    assert set(np.unique(task["train"]["y"])) == set(range(n_classes))
    for d in task.values():
        # every confounder region is marked in the evaluation masks, and nothing else
        conf = d["shortcut"] >= 0
        assert _flat(d["neg_mask"]).any(1)[conf].all()


def test_to_inputs_picks_model_inputs():
    task = _task("decoy_mnist", budget=0.5)
    inp = to_inputs(task["train"])
    assert set(inp) == {"x", "pos_mask", "neg_mask", "has_annotation"}
    assert inp["x"] is task["train"]["x"]
    assert set(to_inputs(task["test"], keys=("neg_mask",))) == {"x", "neg_mask"}
    with pytest.raises(ValueError, match="masks"):
        to_inputs(task["test"], keys=("masks",))


# --------------------------------------------------------------------------- determinism, budget


@pytest.mark.parametrize("name", TASKS)
def test_deterministic_for_a_seed(name):
    a = _task(name, seed=3, budget=0.4)
    C.clear_cache()  # rebuild from scratch, not from the cache
    b = _task(name, seed=3, budget=0.4)
    for split in SPLITS:
        for k in a[split]:
            np.testing.assert_array_equal(a[split][k], b[split][k], err_msg=f"{split}/{k}")
    a["train"]["x"][:] = 0  # returned arrays are copies: the cache is untouched
    assert _task(name, seed=3)["train"]["x"].max() > 0
    c = _task(name, seed=4, budget=0.4)
    assert not np.array_equal(a["test"]["x"], c["test"]["x"])


@pytest.mark.parametrize("budget", [0.0, 0.1, 0.37, 0.5, 1.0])
def test_budget_fraction_is_exact(budget):
    task = _task("colour_position", budget=budget)
    tr = task["train"]
    n = len(tr["y"])
    assert abs(tr["has_annotation"].sum() - budget * n) <= 1
    off = tr["has_annotation"] == 0
    assert tr["pos_mask"][off].sum() == 0 and tr["neg_mask"][off].sum() == 0
    assert _flat(tr["pos_mask"]).any(1)[~off].all()


def test_budgets_are_nested_and_noise_does_not_depend_on_budget():
    small, large = _task("decoy_mnist", budget=0.2, seed=2), _task("decoy_mnist", budget=0.6, seed=2)
    C.clear_cache()
    fresh = _task("decoy_mnist", budget=0.6, seed=2)  # noise drawn without the cache
    s, l = small["train"]["has_annotation"] > 0, large["train"]["has_annotation"] > 0
    assert (l[s]).all()
    for k in ("pos_mask", "neg_mask"):
        np.testing.assert_array_equal(small["train"][k][s], large["train"][k][s])
        np.testing.assert_array_equal(fresh["train"][k], large["train"][k])
    np.testing.assert_array_equal(small["train"]["x"], large["train"]["x"])


# --------------------------------------------------------------------------- the shortcut


def test_decoy_mnist_swatch_encodes_the_label_in_training():
    task = _task("decoy_mnist", mask_noise="clean")
    for split, expect in (("train", True), ("test", False), ("test_cf", False)):
        d = task[split]
        A = d["neg_mask"] > 0
        assert (A.reshape(len(A), -1).sum(1) == DECOY["swatch"] ** 2).all()
        shade = np.round(d["x"][..., 0][A].reshape(len(A), -1).mean(1) * 255)
        digit = (255 - shade) / DECOY["mult"]
        np.testing.assert_array_equal(digit, d["shortcut"])
        if expect:
            assert (digit == d["y"]).mean() == 1.0
        else:
            assert (digit == d["y"]).mean() < 0.2
    assert (task["test_cf"]["shortcut"] != task["test_cf"]["y"]).all()


def _cp_decode(d):
    """Colour and position index of each image's square, read off the pixels."""
    A = d["neg_mask"] > 0
    colours = np.asarray(COLOUR_POSITION["colours"], np.float32)
    pix = d["x"][A].reshape(len(A), -1, 3)[:, 0]
    colour = np.argmin(np.abs(pix[:, None, :] - colours[None]).sum(-1), axis=1)
    top = np.array([np.flatnonzero(A[i].any(1))[0] for i in range(len(A))])
    left = np.array([np.flatnonzero(A[i].any(0))[0] for i in range(len(A))])
    corners = C._positions(A.shape[1])
    position = np.array([np.flatnonzero((corners == (t, l)).all(1))[0] for t, l in zip(top, left)])
    return colour, position


def test_colour_position_confounder_predicts_the_label_in_training():
    task = _task("colour_position", mask_noise="clean", n_train=1000)
    owns = np.asarray(COLOUR_POSITION["class_positions"])
    for split in ("train", "test", "test_cf"):
        d = task[split]
        A = d["neg_mask"] > 0
        assert (A.reshape(len(A), -1).sum(1) == COLOUR_POSITION["square"] ** 2).all()
        colour, position = _cp_decode(d)
        coded = (owns[colour] == position[:, None]).any(1)
        np.testing.assert_array_equal(np.where(coded, colour, -1), d["shortcut"])
        hit = (d["shortcut"] == d["y"]).mean()
        if split == "train":
            assert 0.85 <= hit <= 0.95  # p_confounded = 0.9
            # exactly round(0.9 n) label-coded by construction, plus chance hits
            assert (d["shortcut"] == d["y"]).sum() >= round(0.9 * len(d["y"]))
        else:
            assert hit < 0.1
    cf = task["test_cf"]
    assert (cf["shortcut"] >= 0).all() and (cf["shortcut"] != cf["y"]).all()


def test_val_distribution_train_makes_validation_confounded():
    for name in ("decoy_mnist", "colour_position"):
        like_test = _task(name)["val"]
        like_train = _task(name, val_distribution="train")["val"]
        assert (like_test["shortcut"] == like_test["y"]).mean() < 0.2
        assert (like_train["shortcut"] == like_train["y"]).mean() > 0.85
    val = _task("isic_like", val_distribution="train")["val"]
    assert (val["shortcut"] == 0).any() and (val["y"][val["shortcut"] == 0] == 0).all()
    assert (_task("isic_like")["val"]["neg_mask"] == 0).all()
    with pytest.raises(ValueError, match="val_distribution"):
        _task("isic_like", val_distribution="test_cf")


def test_isic_patches_benign_in_training_malignant_in_test_cf():
    task = _task("isic_like", mask_noise="clean")
    tr, te, cf = task["train"], task["test"], task["test_cf"]
    patched = _flat(tr["neg_mask"]).any(1)
    assert not patched[tr["y"] == 1].any()
    assert 0.35 < patched[tr["y"] == 0].mean() < 0.6  # ≈ 48 %
    np.testing.assert_array_equal(tr["shortcut"], np.where(patched, 0, -1))
    assert (te["neg_mask"] == 0).all() and (te["shortcut"] == -1).all()
    cf_patched = _flat(cf["neg_mask"]).any(1)
    np.testing.assert_array_equal(cf_patched, cf["y"] == 1)
    assert 0.15 < cf_patched.mean() < 0.45  # malignant_fraction = 0.3
    np.testing.assert_array_equal(cf["y"], te["y"])


def test_feedback_decoy_return_lesion_is_backwards_compatible():
    a = isic_like(40, seed=5, cue_strength=0.5)
    b = isic_like(40, seed=5, cue_strength=0.5, return_lesion=True)
    assert set(a) == {"x", "y", "neg_mask", "has_patch", "severity"}
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    out = b["neg_mask"] == 0
    np.testing.assert_array_equal(b["x_clean"][out], b["x"][out])
    assert not np.array_equal(b["x_clean"][~out], b["x"][~out])
    assert _flat(b["lesion_mask"]).any(1).all()


# --------------------------------------------------------------------------- counterfactual and clean copies


def test_test_cf_swaps_only_the_confounder(clean_noisy):
    name, task, _ = clean_noisy
    te, cf = task["test"], task["test_cf"]
    np.testing.assert_array_equal(te["y"], cf["y"])
    conf = cf["shortcut"] >= 0
    assert conf.any() and (cf["shortcut"][conf] != cf["y"][conf]).all()
    if name != "isic_like":
        assert conf.all()
    outside = cf["neg_mask"] == 0
    np.testing.assert_array_equal(cf["x"][outside], te["x"][outside])
    changed = _flat(np.abs(cf["x"] - te["x"]).max(-1)).max(1) > 0
    assert changed[conf].mean() > 0.85  # the swap shows in the pixels


def test_train_clean_differs_only_inside_the_confounder(clean_noisy):
    name, task, _ = clean_noisy
    tr, cl = task["train"], task["train_clean"]
    np.testing.assert_array_equal(tr["y"], cl["y"])
    outside = tr["neg_mask"] == 0
    np.testing.assert_array_equal(tr["x"][outside], cl["x"][outside])
    conf = _flat(tr["neg_mask"]).any(1)
    diff = _flat(np.abs(tr["x"] - cl["x"]).max(-1)).max(1) > 0
    assert diff[conf].all() and not diff[~conf].any()
    assert (cl["shortcut"] == -1).all()


# --------------------------------------------------------------------------- annotation noise


def _mean_iou(clean, noisy):
    a, b = _flat(clean) > 0, _flat(noisy) > 0
    keep = a.any(1)
    return ((a & b).sum(1)[keep] / (a | b).sum(1)[keep]).mean()


def test_noisy_masks_differ_from_clean_but_overlap(clean_noisy):
    name, clean, noisy = clean_noisy
    for split in ("val", "test", "test_cf"):  # evaluation masks are always clean
        for k in ("pos_mask", "neg_mask"):
            np.testing.assert_array_equal(clean[split][k], noisy[split][k])
    np.testing.assert_array_equal(clean["train"]["x"], noisy["train"]["x"])
    for k in ("pos_mask", "neg_mask"):
        c, n = clean["train"][k], noisy["train"][k]
        assert not np.array_equal(c, n)
        assert 0.3 <= _mean_iou(c, n) <= 0.95, (name, k, _mean_iou(c, n))
    # a noisy neg_mask exists exactly where there is a confounder
    np.testing.assert_array_equal(_flat(clean["train"]["neg_mask"]).any(1), _flat(noisy["train"]["neg_mask"]).any(1))


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("kwargs, arg", [
    (dict(name="decoy"), "name"),
    (dict(name="decoy_mnist", budget=-0.1), "budget"),
    (dict(name="decoy_mnist", budget=1.5), "budget"),
    (dict(name="decoy_mnist", budget=float("nan")), "budget"),
    (dict(name="decoy_mnist", mask_noise="none"), "mask_noise"),
    (dict(name="decoy_mnist", image_size=32), "image_size"),
    (dict(name="colour_position", image_size=28), "image_size"),
    (dict(name="decoy_mnist", n_train=4000, n_val=500, n_test=1000), "n_train"),
    (dict(name="decoy_mnist", n_test=0), "n_test"),
    (dict(name="decoy_mnist", seed=-1), "seed"),
])
def test_bad_arguments_raise_naming_the_argument(kwargs, arg):
    with pytest.raises(ValueError, match=arg):
        confounded_task(**kwargs)
