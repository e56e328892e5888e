"""Bad files fed to the data loaders raise errors naming the file, the row/line and the field.

Each case is a file an annotator, a spreadsheet or a script can plausibly produce; before
these checks the loaders binarised, truncated, dropped, stretched or shifted them silently
(or failed deep inside numpy/pandas).
"""

import csv
import json

import numpy as np
import pytest
from PIL import Image

from keras_egl.data.forum import load_forum_jsonl
from keras_egl.data.images import load_res_folder, read_res_annotations, write_res_csv
from keras_egl.data.molecules import load_moleculenet_csv, read_annotation_csv

# --------------------------------------------------------------------------- RES CSV (images)

EYE = [[1, 0], [0, 1]]


def _release(tmp_path, rows, counterfactual_rows=(), size=(4, 6), extra_split=False):
    """A RES release with train/{men,women}/{a.jpg,b.png,c.jpg} (H×W = ``size``) and the given CSV rows."""
    root = tmp_path / "gender"
    rng = np.random.default_rng(0)
    for split in ("train", "val") if extra_split else ("train",):
        for cls, files in {"men": ["a.jpg", "b.png"], "women": ["c.jpg"]}.items():
            (root / split / cls).mkdir(parents=True, exist_ok=True)
            for f in files:
                name = f if split == "train" else f"v{f}"
                Image.fromarray(rng.integers(0, 255, size + (3,), dtype=np.uint8)).save(root / split / cls / name)
    lab = root / "attention_label"
    lab.mkdir(parents=True)
    for name, rs in (("gender_train.csv", rows), ("gender_train_counterfactual.csv", counterfactual_rows)):
        if rs:
            with open(lab / name, "w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["img_idx", "attention", "img_check"])
                w.writerows(rs)
    return root


def _full(size=(4, 6), value=1):
    return json.dumps(np.full(size, value).tolist())


def _row(key, att, check="good"):
    return [key, att if isinstance(att, str) else json.dumps(att), check]


@pytest.mark.parametrize("att,words", [
    ('[[0, NaN], [1, 0]]', "NaN"),                       # NaN (json accepts it)
    ('[[0, Infinity], [1, 0]]', "infinite"),
    ([[0, 0.5], [1, 0]], "binary"),                      # soft value, no threshold
    ([[0, 255], [255, 0]], "binary"),                    # a 0/255 image mask
    ('[[0, 1], [1, 0]', "not valid JSON"),                # garbled JSON
    ([[0, 1, 1], [1, 0]], "ragged"),                     # ragged matrix
    ([[0, "x"], [1, 0]], "numbers"),                     # non-numeric entry
    ([0, 1, 1], "2-D"),                                  # 1-D
    ([[[0, 1]], [[1, 0]]], "numbers"),                   # 3-D
    ([], "2-D"),                                         # empty
    ("", "empty"),                                       # empty cell
])
def test_res_bad_attention_cells_name_file_and_line(tmp_path, att, words):
    root = _release(tmp_path, [_row("c", EYE), _row("a.jpg", att)])
    with pytest.raises(ValueError, match=words) as err:
        read_res_annotations(root / "attention_label")
    assert "gender_train.csv, line 3" in str(err.value) and "'a.jpg'" in str(err.value)


def test_res_threshold_binarises_explicitly(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", [[0, 0.5], [0.9, 0.2]])])
    pos, _ = read_res_annotations(root / "attention_label", threshold=0.4)
    assert pos["a.jpg"].tolist() == [[0, 1], [1, 0]]
    for bad, exc in ((float("nan"), ValueError), ("0.5", TypeError)):
        with pytest.raises(exc, match="`threshold`"):
            read_res_annotations(root / "attention_label", threshold=bad)
    # NaN is refused even with a threshold (it would silently become 0).
    root2 = _release(tmp_path / "b", [_row("a.jpg", '[[NaN, 1]]')])
    with pytest.raises(ValueError, match="NaN"):
        read_res_annotations(root2 / "attention_label", threshold=0.5)


def test_res_broken_rows_name_file_and_line(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", EYE)])
    path = root / "attention_label" / "gender_train.csv"
    with open(path, "a", newline="") as fh:
        fh.write("b.png\n")                                            # short row: no attention
    with pytest.raises(ValueError, match=r"line 3: row has no \['attention', 'img_check'\]"):
        read_res_annotations(root / "attention_label")
    path.write_text('img_idx,attention,img_check\na.jpg,"[[1, 0]]",good,extra\n')  # too many fields
    with pytest.raises(ValueError, match="line 2: 4 fields but the header has 3"):
        read_res_annotations(root / "attention_label")
    path.write_text('img_idx,attention,img_check\n  ,"[[1, 0]]",good\n')  # empty id
    with pytest.raises(ValueError, match="line 2: `img_idx` is empty"):
        read_res_annotations(root / "attention_label")
    path.write_text('img,attention\n')                                 # missing column
    with pytest.raises(ValueError, match=r"gender_train.csv: missing column\(s\) \['img_idx'\]"):
        read_res_annotations(root / "attention_label")
    path.write_bytes(b"img_idx,attention\n\xff\xfe,[[1]]\n")            # not text
    with pytest.raises(ValueError, match="gender_train.csv: not a UTF-8"):
        read_res_annotations(root / "attention_label")


def test_res_duplicate_ids_are_refused(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", EYE), _row("c", EYE), _row("a.jpg", [[0, 0], [0, 0]])])
    with pytest.raises(ValueError, match=r"duplicated `img_idx`.*'a\.jpg' at .*line 2, .*line 4"):
        read_res_annotations(root / "attention_label")
    # across two positive files too
    root = _release(tmp_path / "two", [_row("a.jpg", EYE)])
    write_res_csv(root / "attention_label" / "gender_val.csv", ["a.jpg"], [np.eye(2)])
    with pytest.raises(ValueError, match=r"'a\.jpg' at .*gender_train\.csv, line 2, .*gender_val\.csv, line 2"):
        read_res_annotations(root / "attention_label")
    # a 'bad' row is skipped, so it does not count as a duplicate; positives and negatives are separate
    root = _release(tmp_path / "ok", [_row("a.jpg", EYE, "bad"), _row("a.jpg", EYE)], [_row("a.jpg", EYE)])
    pos, neg = read_res_annotations(root / "attention_label")
    assert set(pos) == set(neg) == {"a.jpg"}


def test_res_unmatched_ids_are_refused(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", _full()), _row("zz.jpg", _full()), _row("3.0", _full())],
                    extra_split=True)
    with pytest.raises(ValueError, match=r"2 annotation\(s\) match no image") as err:
        load_res_folder(root, "train", image_size=8)
    msg = str(err.value)
    assert "'zz.jpg' (" in msg and "line 3" in msg and "float-formatted" in msg
    data, _, info = load_res_folder(root, "train", image_size=8, unmatched="ignore")
    assert data["has_annotation"].tolist() == [1, 0, 0]
    with pytest.raises(ValueError, match="`unmatched`"):
        load_res_folder(root, "train", unmatched="drop")
    # an annotation of a validation image is not "unmatched" when loading train
    root = _release(tmp_path / "v", [_row("a.jpg", _full()), _row("va.jpg", _full())], extra_split=True)
    tr, _, _ = load_res_folder(root, "train", image_size=8)
    va, _, _ = load_res_folder(root, "val", image_size=8)
    assert tr["has_annotation"].tolist() == [1, 0, 0] and va["has_annotation"].tolist() == [1, 0, 0]


def test_res_ambiguous_matches_are_refused(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", _full()), _row("a", _full(value=0))])
    with pytest.raises(ValueError, match=r"'train/men/a\.jpg' is annotated by 2 rows"):
        load_res_folder(root, "train", image_size=8)


def test_res_wrong_mask_size_is_refused_unless_resize(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", _full((4, 6))), _row("b.png", _full((8, 8))),
                               _row("c", _full((2, 3)))], size=(4, 6))
    with pytest.raises(ValueError, match=r"gender_train\.csv, line 4 \(img_idx 'c'\): the mask is 2×3 but image "
                                         r"'train/women/c\.jpg' is 4×6 \(H×W\) and is loaded at 8×8"):
        load_res_folder(root, "train", image_size=8)
    data, _, info = load_res_folder(root, "train", image_size=8, resize_masks=True)
    assert data["pos_mask"].sum((1, 2)).tolist() == [64, 64, 64]
    # masks of the image's own size, or of the loaded size, need no option
    root = _release(tmp_path / "ok", [_row("a.jpg", _full((4, 6))), _row("b.png", _full((8, 8)))], size=(4, 6))
    data, _, _ = load_res_folder(root, "train", image_size=8)
    assert data["pos_mask"].sum((1, 2)).tolist() == [64, 64, 0]
    with pytest.raises(TypeError, match="`resize_masks`"):
        load_res_folder(root, "train", image_size=8, resize_masks="yes")


def test_res_unreadable_image_names_the_file(tmp_path):
    root = _release(tmp_path, [_row("a.jpg", _full())])
    (root / "train" / "men" / "b.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"b\.png: cannot read the image"):
        load_res_folder(root, "train", image_size=8)


# --------------------------------------------------------------------------- molecules

@pytest.mark.parametrize("body,words", [
    ("smiles,p_np\nCCO,1\nCCN,0.5\n", r"`p_np`.*row 2 \(line 3\).*0\.5"),       # float label (was truncated to 0)
    ("smiles,p_np\nCCO,1\nCCN,yes\n", r"`p_np`.*row 2 \(line 3\).*'yes'"),      # text label
    ("smiles,p_np\nCCO,2\nCCN,0\n", r"`p_np`.*row 1 \(line 2\).*2"),           # not binary
    ("smiles,p_np\nCCO,1\n,0\n", r"`smiles`.*row 2 \(line 3\).*empty"),        # missing SMILES
    ("smiles,p_np\nCCO,1\nCCN,\n", r"`p_np`.*row 2 \(line 3\).*missing"),     # missing label (not Tox21)
    ("smiles,label\nCCO,1\n", r"no column 'p_np'"),                             # missing column
    ("smiles,p_np\nCCO,1,x,y\nCCN,0\n", r"malformed CSV"),                      # garbled CSV
    ("smiles,p_np\nCCO,1,x\nCCN,0\n", r"malformed CSV"),                        # one extra field: pandas shifted it
    ("", r"empty"),                                                              # empty file
])
def test_moleculenet_bad_rows(tmp_path, body, words):
    p = tmp_path / "BBBP.csv"
    p.write_text(body)
    with pytest.raises(ValueError, match=words) as err:
        load_moleculenet_csv(str(p), "bbbp")
    assert "BBBP.csv" in str(err.value)


def test_moleculenet_integral_float_labels_are_fine(tmp_path):
    p = tmp_path / "tox21.csv"
    p.write_text("NR-ER,smiles\n1.0,CCO\n,CCN\n0.0,CCC\n")  # a task column with gaps is read as float
    smi, y = load_moleculenet_csv(str(p), "tox21")
    assert smi == ["CCO", "CCC"] and y.tolist() == [1, 0] and y.dtype.kind == "i"


def _ann_csv(tmp_path, rows):
    p = tmp_path / "masks.csv"
    with open(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["img_idx", "status", "record"])
        w.writerows(rows)
    return p


GOOD_REC = json.dumps({"node_importance": [1, 0], "edge_importance": [[0, 1], [1, 0]]})


@pytest.mark.parametrize("row,words", [
    (["7.5", "done", GOOD_REC], r"`img_idx` must be an integer.*'7\.5'"),
    (["abc", "done", GOOD_REC], r"`img_idx` must be an integer.*'abc'"),
    (["", "done", GOOD_REC], r"`img_idx` must be an integer"),
    (["3", "done", '{"node_importance": [1, 0], '], r"`record` is not valid JSON"),
    (["3", "done", ""], r"`record` is not valid JSON"),
    (["3", "done", "[1, 2]"], r"`record` must be a JSON object"),
    (["3", "done", json.dumps({"node_importance": [1, 0]})], r"missing key 'edge_importance'"),
    (["3", "done", json.dumps({"node_importance": [1, 0], "edge_importance": [[0, 1], [1]]})], r"ragged"),
    (["3", "done", json.dumps({"node_importance": [1, None], "edge_importance": [[0, 1], [1, 0]]})], r"numbers"),
    (["3", "done", json.dumps({"node_importance": [[1, 0]], "edge_importance": [[0, 1], [1, 0]]})], r"1-D"),
    (["3", "done", '{"node_importance": [1, NaN], "edge_importance": [[0, 1], [1, 0]]}'], r"NaN"),
    (["3", "done", json.dumps({"node_importance": [1, 0, 1], "edge_importance": [[0, 1], [1, 0]]})],
     r"edge_importance shape \(2, 2\) does not match 3 nodes"),
    (["3", "", GOOD_REC], r"`status` is empty"),
])
def test_annotation_csv_bad_rows_name_file_and_row(tmp_path, row, words):
    p = _ann_csv(tmp_path, [["1", "done", GOOD_REC], row])
    with pytest.raises(ValueError, match=words) as err:
        read_annotation_csv(str(p))
    assert "masks.csv, line 3" in str(err.value)


def test_annotation_csv_duplicates_and_broken_rows(tmp_path):
    p = _ann_csv(tmp_path, [["1", "done", GOOD_REC], ["2", "done", GOOD_REC], ["1", "redo", GOOD_REC]])
    with pytest.raises(ValueError, match=r"masks\.csv, line 4: `img_idx` 1 already given at line 2"):
        read_annotation_csv(str(p))
    p.write_text('img_idx,status,record\n1,done\n')
    with pytest.raises(ValueError, match=r"masks\.csv, line 2: row has no \['record'\]"):
        read_annotation_csv(str(p))
    p.write_text('img_idx,status\n1,done\n')
    with pytest.raises(ValueError, match=r"masks\.csv.*lacks column 'record'"):
        read_annotation_csv(str(p))
    out = read_annotation_csv(str(_ann_csv(tmp_path, [["1", "done", GOOD_REC]])))
    assert list(out) == [1] and out[1][2].shape == (2, 2)


# --------------------------------------------------------------------------- forum JSON lines

def _rec(**kw):
    r = {"seq": "Dx Surgery", "g_ids": [0, 1, 2], "g_ids_features": {"0": "chemo", "1": "help"},
         "g_adjseq": [{"0": [1]}, {"0": [1], "1": [2]}]}
    r.update(kw)
    return r


def _jsonl(tmp_path, *lines):
    p = tmp_path / "forum.jsonl"
    p.write_text("\n".join(ln if isinstance(ln, str) else json.dumps(ln) for ln in lines) + "\n")
    return p


@pytest.mark.parametrize("bad,words", [
    (_rec(g_ids="012"), r"`g_ids` must be a list of integer node ids; got str"),      # shifted features
    (_rec(g_ids=[0, 1.5, 2]), r"`g_ids`.*integer.*1\.5"),
    (_rec(g_ids=[0, "a", 2]), r"`g_ids`.*integer.*'a'"),
    (_rec(g_ids=[0, True, 2]), r"`g_ids`.*integer.*True"),
    (_rec(g_adjseq=[{"0": "1"}, {"0": [1], "1": [2]}]), r"`g_adjseq\[0\]\['0'\]` must be a list"),
    (_rec(g_adjseq=[{"0": [1.0]}, {"0": [1], "1": [2]}]), r"`g_adjseq\[0\]\['0'\]`.*integer.*1\.0"),
    (_rec(g_adjseq=[{"x": [1]}, {"0": [1], "1": [2]}]), r"`g_adjseq\[0\]`.*integer.*'x'"),
    (_rec(g_adjseq={"0": [1]}), r"`g_adjseq` must be a list"),
    (_rec(seq=["Dx", "Surgery"]), r"`seq` must be a string"),
    (_rec(g_ids_features={"0": ["chemo"], "1": "help"}), r"`g_ids_features\['0'\]` must be a string"),
    (_rec(g_ids_features={"0": {"0": "chemo"}, "1": "help"}), r"mixes"),
    (_rec(g_ids_features={"x": {"0": "chemo"}}), r"month.*'x'.*integer"),
    (_rec(g_ids_features={"0.5": "chemo"}), r"`g_ids_features`.*integer.*'0\.5'"),
    ('{"seq": "Dx", "g_ids": [0, 1]', r"not valid JSON"),                              # garbled
    ('[1, 2, 3]', r"must be a JSON object"),
    ({"seq": "Dx", "g_ids": [0], "g_adjseq": [{}, {}]}, r"missing field 'g_ids_features'"),
])
def test_forum_bad_lines_name_file_line_and_field(tmp_path, bad, words):
    p = _jsonl(tmp_path, _rec(), "", bad)  # the blank line 2 still counts: the bad record is line 3
    with pytest.raises(ValueError, match=words) as err:
        load_forum_jsonl(p)
    assert f"{p}, line 3" in str(err.value)


def test_forum_time_steps_argument_is_checked(tmp_path):
    p = _jsonl(tmp_path, _rec())
    with pytest.raises(TypeError, match="`time_steps`"):
        load_forum_jsonl(p, time_steps=2.0)
    with pytest.raises(ValueError, match=r"forum\.jsonl, line 1: g_adjseq has 2 months; expected 3"):
        load_forum_jsonl(p, time_steps=3)
    d = load_forum_jsonl(_jsonl(tmp_path, _rec(g_ids=["0", "1", "2"])))  # integer strings are ids too
    assert d.transitions == [[[(0, 1)], [(1, 2)]]] and d.node_names == ["0", "1", "2"]


def test_res_img_check_semantics_are_kept(tmp_path):
    # An empty img_check is not "good" (skipped, as before); without the column every row counts.
    root = _release(tmp_path, [_row("a.jpg", EYE, ""), _row("c", EYE)])
    pos, _ = read_res_annotations(root / "attention_label")
    assert set(pos) == {"c"}
    pos, _ = read_res_annotations(root / "attention_label", only_good=False)
    assert set(pos) == {"a.jpg", "c"}
    (root / "attention_label" / "gender_train.csv").write_text('img_idx,attention\na.jpg,"[[1]]"\n')
    pos, _ = read_res_annotations(root / "attention_label")
    assert set(pos) == {"a.jpg"}
    with pytest.raises(TypeError, match="`only_good`"):
        read_res_annotations(root / "attention_label", only_good="no")
