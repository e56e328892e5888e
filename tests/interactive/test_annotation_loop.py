import csv

import numpy as np
import pytest
from PIL import Image

from keras_egl._keras import keras
from keras_egl.data.images import read_res_annotations
from keras_egl.interactive import export_batch, fine_tune, import_annotations
from keras_egl.models.backbones import SMALL_CNN_LAYER, build_small_cnn
from keras_egl.models.gradia import GRADIAModel
from keras_egl.models.res import RESModel


@pytest.fixture(scope="module")
def model():
    net = build_small_cnn((32, 32, 3), filters=(4, 4, 4), cam_filters=4, seed=0)
    m = GRADIAModel(net, SMALL_CNN_LAYER)
    m.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return m


def test_export_edit_import_round_trip(tmp_path, model):
    rng = np.random.default_rng(0)
    x = rng.random((4, 32, 32, 3)).astype("float32")
    y = np.array([0, 1, 0, 1])
    pos = np.zeros((4, 32, 32), "float32")
    pos[:, 5:15, 5:15] = 1
    path = export_batch(model, {"x": x, "pos_mask": pos}, y, tmp_path, indices=[0, 2, 3])
    assert (tmp_path / "overlays" / "sample_0.png").exists()
    assert (tmp_path / "masks" / "sample_2_positive.png").exists()
    rows = list(csv.DictReader(open(path)))
    assert [r["img_idx"] for r in rows] == ["sample_0", "sample_2", "sample_3"]
    assert all(r["reasonability"] == "" for r in rows)
    # The person edits: a new positive mask for sample_2, a negative region, labels, exclusion.
    edited = np.zeros((32, 32), np.uint8)
    edited[10:20, 3:9] = 255
    Image.fromarray(edited).save(tmp_path / "masks" / "sample_2_positive.png")
    negm = np.zeros((32, 32), np.uint8)
    negm[25:, 25:] = 255
    negm[10:12, 3:5] = 255  # overlaps the positive: positive wins
    Image.fromarray(negm).save(tmp_path / "masks" / "sample_2_negative.png")
    rows[0]["reasonability"], rows[1]["reasonability"] = "ua", "RIA"
    rows[2]["include"] = "0"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ann, ids, yf = import_annotations(tmp_path, 32)
    assert ids == ["sample_0", "sample_2"] and yf.tolist() == [0, 0]
    np.testing.assert_array_equal(ann["pos_mask"][0], pos[0])
    np.testing.assert_array_equal(ann["pos_mask"][1], edited > 0)
    expected_neg = (negm > 0) & ~(edited > 0)
    np.testing.assert_array_equal(ann["neg_mask"][1], expected_neg)
    assert ann["reasonability"].tolist() == [2, 3]
    # Written in the RES annotation CSV format and readable by the loader's reader.
    rp, rn = read_res_annotations(tmp_path / "attention_label")
    np.testing.assert_array_equal(rp["sample_2"], edited > 0)
    np.testing.assert_array_equal(rn["sample_2"], expected_neg)
    # Fine-tune on train ∪ feedback.
    hist = fine_tune(model, {"x": x, "pos_mask": pos}, y, x[[0, 2]], ann, yf, epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(hist.history["gradia_loss"]).all()
    # A model that reads no Reasonability codes (RES) is fed only the keys it reads.
    res = RESModel(build_small_cnn((32, 32, 3), filters=(4, 4, 4), cam_filters=4, seed=0), SMALL_CNN_LAYER,
                   explanation_metrics=[])
    res.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    hist = fine_tune(res, {"x": x, "pos_mask": pos}, y, x[[0, 2]], ann, yf, epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(hist.history["res_loss"]).all()


def test_import_rejects_bad_label(tmp_path, model):
    x = np.zeros((1, 32, 32, 3), "float32")
    path = export_batch(model, {"x": x}, np.array([0]), tmp_path)
    rows = list(csv.DictReader(open(path)))
    rows[0]["reasonability"] = "GOOD"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(ValueError, match="reasonability"):
        import_annotations(tmp_path, 32)
    with pytest.raises(ValueError, match="labels.csv"):
        import_annotations(tmp_path / "nothing", 32)
