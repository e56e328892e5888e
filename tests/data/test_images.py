import numpy as np
import pytest
from PIL import Image

from keras_egl.data.images import (few_shot_subset, joint_flip, load_res_folder, make_dataset,
                                   make_noisy_annotation_benchmark, read_res_annotations, write_res_csv)


@pytest.fixture(scope="module")
def bench():
    return make_noisy_annotation_benchmark(n_train=20, n_val=10, n_test=10, image_size=48, seed=3)


def test_benchmark_shapes_and_failure_modes(bench):
    (tr, ytr), (te, yte) = bench["train"], bench["test"]
    assert tr["x"].shape == (20, 48, 48, 3) and tr["pos_mask"].shape == (20, 48, 48)
    assert tr["x"].dtype == np.float32 and 0 <= tr["x"].min() and tr["x"].max() <= 1
    assert set(np.unique(ytr)) == {0, 1}
    # Masks binary, never overlapping, positives present.
    for d, _ in bench.values():
        assert set(np.unique(d["pos_mask"])) <= {0.0, 1.0}
        assert not np.any((d["pos_mask"] > 0) & (d["neg_mask"] > 0))
        assert np.all(d["pos_mask"].reshape(len(d["pos_mask"]), -1).max(1) == 1)
    # Annotator noise: the noisy positive mask differs from the clean object region.
    assert np.mean(tr["pos_mask"] != tr["clean_mask"]) > 0
    # Shortcut in train only: the distractor colour (red channel high) matches class 0.
    def red(d):
        return np.array([d["x"][i][d["distractor_mask"][i] > 0, 0].mean() > 0.5 for i in range(len(d["x"]))])
    assert np.all(red(tr) == (ytr == 0))
    assert not np.all(red(te) == (yte == 0)) or len(yte) < 4


def test_benchmark_is_seeded_and_checks_args():
    a = make_noisy_annotation_benchmark(n_train=4, n_val=2, n_test=2, image_size=48, seed=1)
    b = make_noisy_annotation_benchmark(n_train=4, n_val=2, n_test=2, image_size=48, seed=1)
    np.testing.assert_array_equal(a["train"][0]["x"], b["train"][0]["x"])
    with pytest.raises(ValueError, match="image_size"):
        make_noisy_annotation_benchmark(image_size=32)
    with pytest.raises(ValueError, match="digits"):
        make_noisy_annotation_benchmark(n_train=5000)


def test_few_shot_and_flip(bench):
    tr, y = bench["train"]
    sub, ys = few_shot_subset(tr, y, 3, seed=0)
    assert np.bincount(ys).tolist() == [3, 3]
    sub2, _ = few_shot_subset(tr, y, 3, seed=0)
    np.testing.assert_array_equal(sub["x"], sub2["x"])
    with pytest.raises(ValueError, match="n_per_class"):
        few_shot_subset(tr, y, 50)
    f = joint_flip(tr, seed=0, p=1.0)
    np.testing.assert_array_equal(f["x"], tr["x"][:, :, ::-1])
    np.testing.assert_array_equal(f["pos_mask"], tr["pos_mask"][:, :, ::-1])
    bug = joint_flip(tr, seed=0, p=1.0, unflipped_masks_bug=True)
    np.testing.assert_array_equal(bug["pos_mask"], tr["pos_mask"])
    ds = make_dataset(tr, y, batch_size=5, seed=0)
    xb, yb = next(iter(ds))
    assert xb["x"].shape == (5, 48, 48, 3) and xb["pos_mask"].shape == (5, 48, 48)
    # The annotation vocabulary of every term; evaluation-only masks stay out.
    assert set(xb) == {"x", "pos_mask", "neg_mask", "has_annotation"}
    # Each flip is joint: the flipped mask still sits on the flipped image's object.
    for i in range(5):
        j = int(np.flatnonzero(np.all(np.isclose(tr["x"], xb["x"][i].numpy()), axis=(1, 2, 3)) |
                               np.all(np.isclose(tr["x"][:, :, ::-1], xb["x"][i].numpy()), axis=(1, 2, 3)))[0])
        flipped = not np.allclose(tr["x"][j], xb["x"][i].numpy())
        expect = tr["pos_mask"][j][:, ::-1] if flipped else tr["pos_mask"][j]
        np.testing.assert_array_equal(xb["pos_mask"][i].numpy(), expect)


def test_loader_reads_fixture_in_authors_format(tmp_path):
    root = tmp_path / "gender_data"
    rng = np.random.default_rng(0)
    names = {"men": ["a.jpg", "b.png"], "women": ["c.jpg"]}
    for cls, files in names.items():
        (root / "train" / cls).mkdir(parents=True)
        for f in files:
            Image.fromarray(rng.integers(0, 255, (20, 30, 3), dtype=np.uint8)).save(root / "train" / cls / f)
    pos_a = np.zeros((10, 10), int)
    pos_a[2:5, 2:5] = 1
    neg_a = np.zeros((10, 10), int)
    neg_a[7:, 7:] = 1
    write_res_csv(root / "attention_label" / "gender_train.csv", ["a.jpg", "c", "b.png"],
                  [pos_a, pos_a, pos_a], checks=["good", "good", "bad"])
    write_res_csv(root / "attention_label" / "gender_train_counterfactual.csv", ["a.jpg"], [neg_a])
    pos, neg = read_res_annotations(root / "attention_label")
    assert set(pos) == {"a.jpg", "c"} and set(neg) == {"a.jpg"}  # the 'bad' row is dropped
    with pytest.raises(ValueError, match="10×10 but image"):  # masks are not stretched implicitly
        load_res_folder(root, "train", image_size=20)
    data, y, info = load_res_folder(root, "train", image_size=20, resize_masks=True)
    assert data["x"].shape == (3, 20, 20, 3) and y.tolist() == [0, 0, 1]
    assert info["classes"] == ["men", "women"]
    a = info["files"].index("train/men/a.jpg")
    assert data["pos_mask"][a].sum() == 36 and data["neg_mask"][a].sum() == 36  # 3×3 and 3×3 at 2×
    b = info["files"].index("train/men/b.png")
    assert data["has_annotation"][b] == 0 and data["pos_mask"][b].sum() == 0
    only, yo, _ = load_res_folder(root, "train", image_size=20, annotated_only=True, resize_masks=True)
    assert len(yo) == 2
    with pytest.raises(ValueError, match="split"):
        load_res_folder(root, "test")
    with pytest.raises(ValueError, match="binary"):
        write_res_csv(tmp_path / "x.csv", ["a"], [np.full((2, 2), 0.5)])
