"""Bad inputs to the seeded data generators and data helpers (``keras_egl.data``): Decoy MNIST, Toy Colors,
Iris-Cancer, MNIST files, few-shot sampling, 20 Newsgroups, the synthetic forum and the molecule helpers
raise errors naming the argument. (The file loaders are covered by ``test_loaders.py``.)"""

import struct

import numpy as np
import pytest

from keras_egl.data import fewshot, forum, molecules, newsgroups
from keras_egl.data.decoy_mnist import add_decoy, decoy_mnist, decoy_shade
from keras_egl.data.iris_cancer import iris_cancer, top_k_block_usage
from keras_egl.data.mnist import load_mnist_like, read_idx
from keras_egl.data.toy_colors import annotation, generate_images, rule_scores, toy_colors
from tests.robustness._cases import case, check, dense_model, params

NAN = float("nan")
rng = np.random.default_rng(0)
DIGITS = rng.integers(0, 256, size=(4, 28, 28)).astype(np.uint8)
LABELS = np.array([0, 3, 7, 9])
IMGS_NAN = DIGITS.astype(float)
IMGS_NAN[0, 0, 0] = np.nan
X = rng.random((20, 3)).astype("float32")
Y = np.repeat(np.arange(2), 10)
GRADS = rng.normal(size=(5, 12))


def _idx(tmp, data):
    def make():
        import tempfile
        from pathlib import Path

        p = Path(tempfile.mkdtemp()) / tmp
        p.write_bytes(data)
        return p
    return make


def _read(tmp, data):
    make = _idx(tmp, data)
    return lambda: read_idx(make())


def _npz_missing():
    import tempfile
    from pathlib import Path

    p = Path(tempfile.mkdtemp()) / "mnist.npz"
    np.savez(p, x_train=np.zeros((1, 2, 2)))
    return load_mnist_like(p)


def _graphs(n=4):
    return molecules.make_scene_graphs(n_per_class=n // 2, n_types=8, feature_dim=4, n_distractors=(1, 2), seed=0)


BAD_IDX_MAGIC = b"\x01\x02\x08\x01" + struct.pack(">I", 3) + b"abc"
IDX_TRUNCATED = b"\x00\x00\x08\x01" + struct.pack(">I", 5) + b"abc"
IDX_BAD_TYPE = b"\x00\x00\x01\x01" + struct.pack(">I", 3) + b"abc"

CASES = [
    # ----------------------------------------------------------------- Decoy MNIST
    case("add_decoy", "labels_length", lambda: add_decoy(DIGITS, LABELS[:3]), ValueError, "`labels`"),
    case("add_decoy", "labels_not_digits", lambda: add_decoy(DIGITS, [0, 1, 2, 10]), ValueError, "`labels`"),
    case("add_decoy", "labels_fractional", lambda: add_decoy(DIGITS, [0.0, 1.5, 2.0, 3.0]), ValueError, "`labels`"),
    case("add_decoy", "swatch_zero", lambda: add_decoy(DIGITS, LABELS, swatch=0), ValueError, "`swatch`"),
    case("add_decoy", "swatch_float", lambda: add_decoy(DIGITS, LABELS, swatch=2.5), TypeError, "`swatch`"),
    case("add_decoy", "mult_negative", lambda: add_decoy(DIGITS, LABELS, mult=-5), ValueError, "`mult`"),
    case("add_decoy", "mult_too_large", lambda: add_decoy(DIGITS, LABELS, mult=30), ValueError, "`mult`"),
    case("add_decoy", "images_nan", lambda: add_decoy(IMGS_NAN, LABELS), ValueError, "`images`"),
    case("add_decoy", "images_rank4", lambda: add_decoy(DIGITS[..., None], LABELS), ValueError, "`images`"),
    case("add_decoy", "images_above_255", lambda: add_decoy(DIGITS.astype(int) + 100, LABELS), ValueError, "`images`"),
    case("add_decoy", "train_string", lambda: add_decoy(DIGITS, LABELS, train="no"), TypeError, "`train`"),
    case("decoy_mnist", "x_test_shape", lambda: decoy_mnist(DIGITS, LABELS, DIGITS[:, :20], LABELS),
         ValueError, "`x_test`"),
    case("decoy_mnist", "y_test_length", lambda: decoy_mnist(DIGITS, LABELS, DIGITS, LABELS[:2]),
         ValueError, "`y_test`"),
    case("decoy_mnist", "y_train_range", lambda: decoy_mnist(DIGITS, LABELS + 5, DIGITS, LABELS),
         ValueError, "`y_train`"),
    case("decoy_mnist", "swatch_too_big", lambda: decoy_mnist(DIGITS, LABELS, DIGITS, LABELS, swatch=29),
         ValueError, "`swatch`"),
    case("decoy_mnist", "x_train_scaled", lambda: decoy_mnist(DIGITS * 2.0, LABELS, DIGITS, LABELS),
         ValueError, "`x_train`"),
    case("decoy_shade", "digit_out_of_range", lambda: decoy_shade(12), ValueError, "`digit`"),
    case("decoy_shade", "mult_float", lambda: decoy_shade(3, mult=2.5), TypeError, "`mult`"),
    case("decoy_shade", "mult_negative", lambda: decoy_shade(3, mult=-1), ValueError, "`mult`"),
    case("decoy_shade", "digit_string", lambda: decoy_shade("3"), TypeError, "`digit`"),
    case("decoy_shade", "mult_too_large", lambda: decoy_shade(9, mult=29), ValueError, "`mult`"),
    # ----------------------------------------------------------------- Toy Colors
    case("toy_colors", "n_zero", lambda: toy_colors(0), ValueError, "`n`"),
    case("toy_colors", "n_float", lambda: toy_colors(2.5), TypeError, "`n`"),
    case("toy_colors", "n_string", lambda: toy_colors("5"), TypeError, "`n`"),
    case("toy_colors", "n_test_negative", lambda: toy_colors(4, n_test=-1), ValueError, "`n_test`"),
    case("toy_colors", "seed_string", lambda: toy_colors(4, seed="0"), TypeError, "`seed`"),
    case("generate_images", "labels_not_binary", lambda: generate_images([0, 2]), ValueError, "`labels`"),
    case("generate_images", "labels_fractional", lambda: generate_images([0.5, 1]), ValueError, "`labels`"),
    case("generate_images", "seed_float", lambda: generate_images([0, 1], seed=1.5), TypeError, "`seed`"),
    case("generate_images", "labels_strings", lambda: generate_images(["0", "1"]), ValueError, "`labels`"),
    case("generate_images", "labels_nan", lambda: generate_images([0, NAN]), ValueError, "`labels`"),
    case("annotation", "kind_choice", lambda: annotation("edges", 2), ValueError, "`kind`"),
    case("annotation", "n_negative", lambda: annotation("corners", -1), ValueError, "`n`"),
    case("annotation", "n_float", lambda: annotation("corners", 2.5), TypeError, "`n`"),
    case("annotation", "n_string", lambda: annotation("corners", "2"), TypeError, "`n`"),
    case("annotation", "kind_none", lambda: annotation(None, 2), ValueError, "`kind`"),
    case("rule_scores", "cutoff_above_1", lambda: rule_scores(dense_model(), np.zeros((2, 75)), cutoff=2.0),
         ValueError, "`cutoff`"),
    case("rule_scores", "x_wrong_size", lambda: rule_scores(dense_model(), np.zeros((2, 4))), ValueError, "`X`"),
    case("rule_scores", "cutoff_nan", lambda: rule_scores(dense_model(), np.zeros((2, 75)), cutoff=NAN),
         ValueError, "`cutoff`"),
    case("rule_scores", "target_unknown", lambda: rule_scores(dense_model(), np.zeros((2, 75)), target="top"),
         ValueError, "`target`"),
    case("rule_scores", "x_empty", lambda: rule_scores(dense_model(), np.zeros((0, 75))), ValueError, "`X`"),
    # ----------------------------------------------------------------- Iris-Cancer
    case("iris_cancer", "test_size_zero", lambda: iris_cancer(test_size=0.0), ValueError, "`test_size`"),
    case("iris_cancer", "test_size_above_1", lambda: iris_cancer(test_size=1.5), ValueError, "`test_size`"),
    case("iris_cancer", "test_size_string", lambda: iris_cancer(test_size="0.3"), TypeError, "`test_size`"),
    case("iris_cancer", "test_size_nan", lambda: iris_cancer(test_size=NAN), ValueError, "`test_size`"),
    case("iris_cancer", "seed_string", lambda: iris_cancer(seed="0"), TypeError, "`seed`"),
    case("top_k_block_usage", "k_zero", lambda: top_k_block_usage(GRADS, k=0), ValueError, "`k`"),
    case("top_k_block_usage", "k_too_large", lambda: top_k_block_usage(GRADS, k=100), ValueError, "`k`"),
    case("top_k_block_usage", "grads_rank1", lambda: top_k_block_usage(GRADS[0]), ValueError, "`grads`"),
    case("top_k_block_usage", "k_float", lambda: top_k_block_usage(GRADS, k=2.5), TypeError, "`k`"),
    case("top_k_block_usage", "grads_nan", lambda: top_k_block_usage(np.full((2, 12), np.nan)), ValueError, "`grads`"),
    case("top_k_block_usage", "block_out_of_range", lambda: top_k_block_usage(GRADS, block=[20]), ValueError, "`block`"),
    # ----------------------------------------------------------------- MNIST files
    case("read_idx", "bad_magic", _read("x.idx", BAD_IDX_MAGIC), ValueError, "x.idx"),
    case("read_idx", "truncated", _read("t.idx", IDX_TRUNCATED), ValueError, "t.idx"),
    case("read_idx", "unknown_type", _read("u.idx", IDX_BAD_TYPE), ValueError, "u.idx"),
    case("read_idx", "empty_file", _read("e.idx", b""), ValueError, "e.idx"),
    case("read_idx", "short_header", _read("h.idx", b"\x00\x00\x08\x02" + b"\x00\x00"), ValueError, "h.idx"),
    case("read_idx", "gzip_garbage", _read("g.idx.gz", b"not gzip"), ValueError, "g.idx.gz"),
    case("load_mnist_like", "missing_path", lambda: load_mnist_like("/nonexistent/mnist"), FileNotFoundError,
         "/nonexistent/mnist"),
    case("load_mnist_like", "npz_missing_arrays", _npz_missing, ValueError, "mnist.npz"),
    case("load_mnist_like", "path_none", lambda: load_mnist_like(None), TypeError, "`path`"),
    case("load_mnist_like", "empty_dir", lambda: load_mnist_like(__import__("tempfile").mkdtemp()),
         FileNotFoundError, "MNIST"),
    case("load_mnist_like", "npz_name_int", lambda: load_mnist_like("/tmp", npz_name=3), TypeError, "`npz_name`"),
    # ----------------------------------------------------------------- few-shot
    case("holdout_split", "y_rank2", lambda: fewshot.holdout_split(X, Y[:, None], 2), ValueError, "`y`"),
    case("holdout_split", "length_mismatch", lambda: fewshot.holdout_split(X[:5], Y, 2), ValueError, "`x`"),
    case("holdout_split", "test_per_class_too_big", lambda: fewshot.holdout_split(X, Y, 10), ValueError,
         "`test_per_class`"),
    case("holdout_split", "test_per_class_zero", lambda: fewshot.holdout_split(X, Y, 0), ValueError, "`test_per_class`"),
    case("holdout_split", "test_per_class_float", lambda: fewshot.holdout_split(X, Y, 2.5), TypeError,
         "`test_per_class`"),
    case("sample_n_shot", "n_shot_zero", lambda: fewshot.sample_n_shot(X, Y, 0, n_val=4), ValueError, "`n_shot`"),
    case("sample_n_shot", "n_shot_float", lambda: fewshot.sample_n_shot(X, Y, 1.5, n_val=4), TypeError, "`n_shot`"),
    case("sample_n_shot", "n_val_zero", lambda: fewshot.sample_n_shot(X, Y, 1, n_val=0), ValueError, "`n_val`"),
    case("sample_n_shot", "n_val_too_big", lambda: fewshot.sample_n_shot(X, Y, 1, n_val=20), ValueError, "`n_val`"),
    case("sample_n_shot", "val_y_missing", lambda: fewshot.sample_n_shot(X, Y, 1, val_x=X), ValueError, "`val_y`"),
    case("sample_n_shot", "too_few_per_class", lambda: fewshot.sample_n_shot(X, Y, 9, n_val=4), ValueError, "n_shot"),
    case("fewshot_full_protocol", "n_shot_pool_zero", lambda: fewshot.fewshot_full_protocol(X, Y, 1, n_shot_pool=0),
         ValueError, "`n_shot_pool`"),
    case("fewshot_full_protocol", "n_shot_pool_all", lambda: fewshot.fewshot_full_protocol(X, Y, 1, n_shot_pool=20),
         ValueError, "`n_shot_pool`"),
    case("fewshot_full_protocol", "length_mismatch", lambda: fewshot.fewshot_full_protocol(X, Y[:3], 1),
         ValueError, "`x`"),
    case("fewshot_full_protocol", "n_shot_zero", lambda: fewshot.fewshot_full_protocol(X, Y, 0, n_shot_pool=10),
         ValueError, "`n_shot`"),
    case("fewshot_full_protocol", "n_shot_pool_float", lambda: fewshot.fewshot_full_protocol(X, Y, 1, n_shot_pool=9.5),
         TypeError, "`n_shot_pool`"),
    case("load_local", "name_choice", lambda: fewshot.load_local("svhn", "/tmp"), ValueError, "`name`"),
    case("load_local", "missing", lambda: fewshot.load_local("mnist", "/nonexistent"), FileNotFoundError, "mnist"),
    case("load_local", "name_none", lambda: fewshot.load_local(None, "/tmp"), ValueError, "`name`"),
    case("load_local", "data_dir_none", lambda: fewshot.load_local("mnist", None), TypeError, "`data_dir`"),
    case("load_local", "name_upper", lambda: fewshot.load_local("MNIST", "/tmp"), ValueError, "`name`"),
    # ----------------------------------------------------------------- 20 Newsgroups
    case("newsgroups_texts", "path_none", lambda: newsgroups.newsgroups_texts(None), FileNotFoundError, "`path`"),
    case("newsgroups_texts", "path_missing", lambda: newsgroups.newsgroups_texts("/nonexistent/20ng"),
         FileNotFoundError, "/nonexistent/20ng"),
    case("newsgroups_texts", "categories_string", lambda: newsgroups.newsgroups_texts("/tmp", categories="alt.atheism"),
         TypeError, "`categories`"),
    case("newsgroups_texts", "categories_one", lambda: newsgroups.newsgroups_texts("/tmp", categories=("alt.atheism",)),
         ValueError, "`categories`"),
    case("newsgroups_texts", "categories_duplicate", lambda: newsgroups.newsgroups_texts(
        "/tmp", categories=("alt.atheism", "alt.atheism")), ValueError, "`categories`"),
    case("newsgroups_tfidf", "max_features_zero", lambda: newsgroups.newsgroups_tfidf("/tmp", max_features=0),
         ValueError, "`max_features`"),
    case("newsgroups_tfidf", "max_features_float", lambda: newsgroups.newsgroups_tfidf("/tmp", max_features=2.5),
         TypeError, "`max_features`"),
    case("newsgroups_tfidf", "lowercase_string", lambda: newsgroups.newsgroups_tfidf("/tmp", lowercase="no"),
         TypeError, "`lowercase`"),
    case("newsgroups_tfidf", "path_none", lambda: newsgroups.newsgroups_tfidf(None), FileNotFoundError, "`path`"),
    case("newsgroups_tfidf", "max_features_string", lambda: newsgroups.newsgroups_tfidf("/tmp", max_features="5000"),
         TypeError, "`max_features`"),
    # ----------------------------------------------------------------- synthetic forum
    case("generate_synthetic_forum", "keywords_per_stage_zero", lambda: forum.generate_synthetic_forum(
        num_users=5, keywords_per_stage=0), ValueError, "`keywords_per_stage`"),
    case("generate_synthetic_forum", "num_features_small", lambda: forum.generate_synthetic_forum(
        num_users=5, num_features=10), ValueError, "`num_features`"),
    case("generate_synthetic_forum", "time_steps_one", lambda: forum.generate_synthetic_forum(
        num_users=5, time_steps=1), ValueError, "`time_steps`"),
    case("generate_synthetic_forum", "signal_choice", lambda: forum.generate_synthetic_forum(
        num_users=5, signal="dynamic"), ValueError, "`signal`"),
    case("generate_synthetic_forum", "transitions_choice", lambda: forum.generate_synthetic_forum(
        num_users=5, transitions="all"), ValueError, "`transitions`"),
    case("generate_synthetic_forum", "hot_persistence_above_1", lambda: forum.generate_synthetic_forum(
        num_users=5, hot_persistence=2.0), ValueError, "`hot_persistence`"),
    case("generate_synthetic_forum", "num_nodes_small", lambda: forum.generate_synthetic_forum(
        num_users=5, num_nodes=5), ValueError, "`num_nodes`"),
    case("generate_synthetic_forum", "num_users_zero", lambda: forum.generate_synthetic_forum(num_users=0),
         ValueError, "`num_users`"),
    case("generate_synthetic_forum", "p_stage_above_1", lambda: forum.generate_synthetic_forum(
        num_users=5, p_stage=1.5), ValueError, "`p_stage`"),
    case("generate_synthetic_forum", "episode_months_reversed", lambda: forum.generate_synthetic_forum(
        num_users=5, episode_months=(4, 1)), ValueError, "`episode_months`"),
    case("generate_synthetic_forum", "visits_negative", lambda: forum.generate_synthetic_forum(
        num_users=5, visits_per_month=-1.0), ValueError, "`visits_per_month`"),
    case("generate_synthetic_forum", "num_users_float", lambda: forum.generate_synthetic_forum(num_users=5.5),
         TypeError, "`num_users`"),
    case("split_indices", "two_fractions", lambda: forum.split_indices(10, fractions=(0.5, 0.5)), ValueError,
         "`fractions`"),
    case("split_indices", "fraction_nan", lambda: forum.split_indices(10, fractions=(NAN, 0.5, 0.5)), ValueError,
         "`fractions`"),
    case("split_indices", "n_negative", lambda: forum.split_indices(-1), ValueError, "`n`"),
    case("split_indices", "n_float", lambda: forum.split_indices(2.5), TypeError, "`n`"),
    case("split_indices", "fractions_negative", lambda: forum.split_indices(10, fractions=(1.2, -0.2, 0.0)),
         ValueError, "`fractions`"),
    case("StageVocab", "duplicate_stages", lambda: forum.StageVocab(["Dx", "Dx"]), ValueError, "`stages`"),
    case("StageVocab", "special_token_stage", lambda: forum.StageVocab(["<eos>", "Dx"]), ValueError, "`stages`"),
    case("StageVocab", "encode_unknown", lambda: forum.StageVocab().encode(["Dx", "Lunch"]), ValueError, "'Lunch'"),
    case("StageVocab", "stages_string", lambda: forum.StageVocab("Dx"), TypeError, "`stages`"),
    case("StageVocab", "decode_out_of_range", lambda: forum.StageVocab().decode([3, 99]), ValueError, "`ids`"),
    # ----------------------------------------------------------------- molecule helpers
    case("random_split", "n_negative", lambda: molecules.random_split(-1), ValueError, "`n`"),
    case("random_split", "n_float", lambda: molecules.random_split(2.5), TypeError, "`n`"),
    case("random_split", "frac_nan", lambda: molecules.random_split(10, frac=(NAN, 0.5, 0.5)), ValueError, "`frac`"),
    case("random_split", "frac_two", lambda: molecules.random_split(10, frac=(0.5, 0.5)), ValueError, "`frac`"),
    case("random_split", "frac_string", lambda: molecules.random_split(10, frac="0.8"), (TypeError, ValueError),
         "`frac`"),
    case("scaffold_split", "frac_nan", lambda: molecules.scaffold_split(["CCO", "c1ccccc1"], frac=(0.5, NAN, 0.5)),
         ValueError, "`frac`"),
    case("scaffold_split", "frac_sum", lambda: molecules.scaffold_split(["CCO"], frac=(0.8, 0.8, 0.1)),
         ValueError, "`frac`"),
    case("scaffold_split", "smiles_string", lambda: molecules.scaffold_split("CCO"), TypeError, "`smiles`"),
    case("scaffold_split", "smiles_invalid", lambda: molecules.scaffold_split(["CCO", "not a smiles"]),
         ValueError, "`smiles`"),
    case("scaffold_split", "smiles_none_entry", lambda: molecules.scaffold_split(["CCO", None]), (TypeError, ValueError),
         "`smiles`"),
    case("assign_annotations", "fraction_above_1", lambda: molecules.assign_annotations(_graphs(), [0, 1], fraction=2.0),
         ValueError, "`fraction`"),
    case("assign_annotations", "fraction_nan", lambda: molecules.assign_annotations(_graphs(), [0, 1], fraction=NAN),
         ValueError, "`fraction`"),
    case("assign_annotations", "train_idx_out_of_range", lambda: molecules.assign_annotations(_graphs(), [0, 9]),
         ValueError, "`train_idx`"),
    case("assign_annotations", "test_idx_out_of_range", lambda: molecules.assign_annotations(_graphs(), [0], [7]),
         ValueError, "`test_idx`"),
    case("assign_annotations", "train_idx_float", lambda: molecules.assign_annotations(_graphs(), [0.5, 1.0]),
         TypeError, "`train_idx`"),
    case("pad_batch", "empty", lambda: molecules.pad_batch([]), ValueError, "`graphs`"),
    case("pad_batch", "n_nodes_too_small", lambda: molecules.pad_batch(_graphs(), n_nodes=2), ValueError, "`n_nodes`"),
    case("pad_batch", "n_layers_zero", lambda: molecules.pad_batch(_graphs(), n_layers=0), ValueError, "`n_layers`"),
    case("pad_batch", "n_nodes_float", lambda: molecules.pad_batch(_graphs(), n_nodes=9.5), TypeError, "`n_nodes`"),
    case("pad_batch", "graphs_not_samples", lambda: molecules.pad_batch([np.eye(2)]), TypeError, "`graphs`"),
    case("graph_dataset", "empty", lambda: molecules.graph_dataset([]), ValueError, "`graphs`"),
    case("graph_dataset", "batch_size_zero", lambda: molecules.graph_dataset(_graphs(), batch_size=0),
         ValueError, "`batch_size`"),
    case("graph_dataset", "batch_size_float", lambda: molecules.graph_dataset(_graphs(), batch_size=2.5),
         TypeError, "`batch_size`"),
    case("graph_dataset", "n_layers_zero", lambda: molecules.graph_dataset(_graphs(), n_layers=0),
         ValueError, "`n_layers`"),
    case("graph_dataset", "seed_string", lambda: molecules.graph_dataset(_graphs(), seed="0"), TypeError, "`seed`"),
    case("make_scene_graphs", "n_types_small", lambda: molecules.make_scene_graphs(n_per_class=2, n_types=3),
         ValueError, "`n_types`"),
    case("make_scene_graphs", "label_noise_above_1", lambda: molecules.make_scene_graphs(n_per_class=2, label_noise=1.5),
         ValueError, "`label_noise`"),
    case("make_scene_graphs", "n_per_class_negative", lambda: molecules.make_scene_graphs(n_per_class=-1),
         ValueError, "`n_per_class`"),
    case("make_scene_graphs", "n_distractors_reversed", lambda: molecules.make_scene_graphs(
        n_per_class=2, n_distractors=(5, 2)), ValueError, "`n_distractors`"),
    case("make_scene_graphs", "noise_nan", lambda: molecules.make_scene_graphs(n_per_class=2, noise=NAN),
         ValueError, "`noise`"),
    case("make_scene_graphs", "edge_p_negative", lambda: molecules.make_scene_graphs(n_per_class=2,
                                                                                     distractor_edge_p=-0.1),
         ValueError, "`distractor_edge_p`"),
    case("featurize_smiles", "length_mismatch", lambda: molecules.featurize_smiles(["CCO", "CCN"], [1]),
         ValueError, "`smiles`"),
    case("featurize_smiles", "labels_fractional", lambda: molecules.featurize_smiles(["CCO"], [0.5]),
         ValueError, "`labels`"),
    case("featurize_smiles", "min_atoms_negative", lambda: molecules.featurize_smiles(["CCO"], [1], min_atoms=-1),
         ValueError, "`min_atoms`"),
    case("featurize_smiles", "max_atoms_below_min", lambda: molecules.featurize_smiles(["CCO"], [1], min_atoms=3,
                                                                                       max_atoms=2),
         ValueError, "`max_atoms`"),
    case("featurize_smiles", "smiles_string", lambda: molecules.featurize_smiles("CCO", [1, 0, 1]),
         TypeError, "`smiles`"),
    case("RuleAnnotator", "category_unknown", lambda: molecules.RuleAnnotator(categories=("rings",)),
         ValueError, "`categories`"),
    case("RuleAnnotator", "polar_threshold_nan", lambda: molecules.RuleAnnotator(polar_threshold=NAN),
         ValueError, "`polar_threshold`"),
    case("RuleAnnotator", "polar_threshold_negative", lambda: molecules.RuleAnnotator(polar_threshold=-0.4),
         ValueError, "`polar_threshold`"),
    case("RuleAnnotator", "categories_string", lambda: molecules.RuleAnnotator(categories="polar_bonds"),
         TypeError, "`categories`"),
    case("RuleAnnotator", "annotate_bad_smiles", lambda: molecules.RuleAnnotator().annotate("C1CC"), ValueError, "`mol`"),
    case("RuleAnnotator", "conjugated_aromatic_string", lambda: molecules.RuleAnnotator(conjugated_aromatic="yes"),
         TypeError, "`conjugated_aromatic`"),
]


@pytest.mark.parametrize("c", params(CASES))
def test_bad_input(c):
    check(c)
