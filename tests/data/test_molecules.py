import json

import numpy as np
import pytest

from keras_egl.data.molecules import (N_ATOM_FEATURES, GraphSample, RuleAnnotator, assign_annotations,
                                      atom_features, bemis_murcko_scaffold, featurize_smiles, graph_dataset,
                                      load_b3db, load_moleculenet_csv, make_scene_graphs, pad_batch,
                                      random_split, read_annotation_csv, scaffold_split)

SMILES = ["c1ccccc1O", "c1ccccc1CC(=O)O", "C1CCCCC1N", "CCO", "c1ccncc1C", "c1ccccc1Cl", "C1CCCCC1O",
          "CCN", "c1ccc2ccccc2c1", "OCC(O)CO", "c1ccncc1O", "c1ccc2ccccc2c1N"]


def test_atom_features_ethanol_by_hand():
    from rdkit import Chem

    mol = Chem.MolFromSmiles("CCO")
    f = atom_features(mol.GetAtomWithIdx(2))  # the O
    assert f.shape == (N_ATOM_FEATURES,) == (75,)
    assert f[2] == 1 and f[:44].sum() == 1           # symbol O
    assert f[44 + 1] == 1 and f[44:55].sum() == 1     # degree 1
    assert f[55 + 1] == 1                             # implicit valence 1 (the OH)
    assert f[62] == 0 and f[63] == 0                  # charge, radicals
    assert f[64 + 2] == 1                             # SP3
    assert f[69] == 0                                 # not aromatic
    assert f[70 + 1] == 1 and f[70:75].sum() == 1     # one H


def test_featurize_skips_unparsable_and_small_with_counts():
    graphs, kept, skipped = featurize_smiles(["CCO", "not_a_smiles", "C", "c1ccccc1" * 1, ""], [1, 0, 1, 0, 1],
                                             min_atoms=2, max_atoms=5)
    assert [g.smiles for g in graphs] == ["CCO"]
    assert list(kept) == [0]
    assert skipped == {"unparsable": 2, "too_small": 1, "too_large": 1}
    g = graphs[0]
    np.testing.assert_array_equal(g.adjacency, [[0, 1, 0], [1, 0, 1], [0, 1, 0]])
    with pytest.raises(ValueError, match="differ in length"):
        featurize_smiles(["CCO"], [0, 1])


def test_scaffold_split_deterministic_and_disjoint():
    s1 = scaffold_split(SMILES)
    s2 = scaffold_split(list(SMILES))
    for a, b in zip(s1, s2):
        np.testing.assert_array_equal(a, b)
    assert sum(len(s) for s in s1) == len(SMILES)
    assert len(set(np.concatenate(s1))) == len(SMILES)
    scafs = [{bemis_murcko_scaffold(SMILES[i]) for i in part} for part in s1]
    assert not (scafs[0] & scafs[1]) and not (scafs[0] & scafs[2]) and not (scafs[1] & scafs[2])
    # the largest scaffold set (benzene) goes to train
    assert bemis_murcko_scaffold("c1ccccc1O") in scafs[0]
    with pytest.raises(ValueError, match="frac"):
        scaffold_split(SMILES, frac=(0.5, 0.5, 0.5))


def test_random_split_seeded():
    a = random_split(100, seed=3)
    b = random_split(100, seed=3)
    c = random_split(100, seed=4)
    assert [len(p) for p in a] == [80, 10, 10]
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_b3db_offline():
    smiles, labels = load_b3db()
    assert len(smiles) == 7807 and labels.sum() == 4956 and set(np.unique(labels)) == {0, 1}


def test_moleculenet_csv_drops_missing(tmp_path):
    p = tmp_path / "tox21.csv"
    p.write_text("NR-AR,NR-ER,mol_id,smiles\n0,1,a,CCO\n1,,b,CCN\n0,0,c,c1ccccc1\n")
    smi, y = load_moleculenet_csv(str(p), "tox21")
    assert smi == ["CCO", "c1ccccc1"] and list(y) == [1, 0]
    with pytest.raises(ValueError, match="NR-XX"):
        load_moleculenet_csv(str(p), "tox21", task="NR-XX")
    with pytest.raises(ValueError, match="dataset"):
        load_moleculenet_csv(str(p), "qm9")
    with pytest.raises(FileNotFoundError):
        load_moleculenet_csv(str(tmp_path / "none.csv"), "bbbp")


def test_annotation_csv_reader(tmp_path):
    rec = json.dumps({"node_importance": [1, 0, 1], "edge_importance": [[0, 1, 0], [1, 0, 0], [0, 0, 0]]})
    bad = json.dumps({"node_importance": [1, 0], "edge_importance": [[0, 1, 0]]})
    p = tmp_path / "masks.csv"
    import pandas as pd

    pd.DataFrame({"img_idx": [7], "status": ["done"], "record": [rec]}).to_csv(p, index=False)
    out = read_annotation_csv(str(p))
    status, node, edge = out[7]
    assert status == "done" and node.tolist() == [1, 0, 1] and edge.shape == (3, 3)
    pd.DataFrame({"img_idx": [1], "status": ["done"], "record": [bad]}).to_csv(p, index=False)
    with pytest.raises(ValueError, match="edge_importance"):
        read_annotation_csv(str(p))


def test_rule_annotator_marks_groups_and_bonds():
    node, edge = RuleAnnotator().annotate("CCC(=O)O")  # propanoic acid
    assert node.tolist() == [0, 0, 1, 1, 1]
    assert edge[2, 3] == edge[3, 2] == 1 and edge[2, 4] == 1 and edge[0, 1] == 0
    np.testing.assert_array_equal(edge, edge.T)
    node, edge = RuleAnnotator(categories=("conjugated",)).annotate("C=CC=C")
    assert node.tolist() == [1, 1, 1, 1] and edge[1, 2] == 1
    node, _ = RuleAnnotator(categories=("conjugated",)).annotate("c1ccccc1")  # aromatic excluded by default
    assert node.sum() == 0
    node, _ = RuleAnnotator(categories=("conjugated",), conjugated_aromatic=True).annotate("c1ccccc1")
    assert node.sum() == 6
    node, _ = RuleAnnotator(categories=("polar_bonds",)).annotate("CCCl")
    assert node.tolist() == [0, 1, 1]
    with pytest.raises(ValueError, match="categories"):
        RuleAnnotator(categories=("aromaticity",))
    with pytest.raises(ValueError, match="parse"):
        RuleAnnotator().annotate("C1CC")


def test_graph_sample_validation():
    x = np.ones((3, 2))
    with pytest.raises(ValueError, match="zero-node"):
        GraphSample(np.zeros((0, 2)), np.zeros((0, 0)), 0)
    with pytest.raises(ValueError, match="symmetric"):
        GraphSample(x, [[0, 1, 0], [0, 0, 0], [0, 0, 0]], 0)
    with pytest.raises(ValueError, match="node features have 3"):
        GraphSample(x, np.zeros((2, 2)), 0)
    with pytest.raises(ValueError, match="node_importance"):
        GraphSample(x, np.zeros((3, 3)), 0, node_importance=np.zeros(4))
    with pytest.raises(ValueError, match="edge_importance"):
        GraphSample(x, np.zeros((3, 3)), 0, edge_importance=np.zeros((2, 2)))
    g = GraphSample(np.ones((1, 2)), np.zeros((1, 1)), 1)  # single-node graph is fine
    np.testing.assert_allclose(g.normalized(), [[1.0]])


def test_assign_annotations_and_padding():
    graphs, _, _ = featurize_smiles(SMILES, [i % 2 for i in range(len(SMILES))], annotator=RuleAnnotator())
    chosen = assign_annotations(graphs, np.arange(10), test_idx=[10, 11], fraction=0.2, seed=0)
    assert len(chosen) == 2 and sum(g.has_annotation for g in graphs) == 4
    inputs, y = pad_batch(graphs[:4], n_layers=2)
    n = max(g.n_nodes for g in graphs[:4])
    assert inputs["x"].shape == (4, n, 75) and inputs["a_1"].shape == (4, n, n) and "a_3" not in inputs
    for i, g in enumerate(graphs[:4]):
        assert inputs["node_mask"][i].sum() == g.n_nodes
        assert inputs["has_annotation"][i] == float(g.has_annotation)
        if not g.has_annotation:
            assert inputs["node_importance"][i].sum() == 0
    ds = list(graph_dataset(graphs, batch_size=5, n_layers=3, seed=0))
    assert sum(int(b[1].shape[0]) for b in ds) == len(graphs)
    ds2 = list(graph_dataset(graphs, batch_size=5, n_layers=3, seed=0))
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(ds, ds2))


def test_scene_graph_generator():
    gs = make_scene_graphs(n_per_class=10, seed=0)
    assert len(gs) == 20 and {g.label for g in gs} == {0, 1}
    for g in gs:
        assert g.node_importance.sum() == 3 and g.edge_importance.sum() == 4  # 3-node path, symmetric
        assert np.all(g.adjacency[g.edge_importance > 0] == 1)
    gs2 = make_scene_graphs(n_per_class=10, seed=0)
    np.testing.assert_array_equal(gs[0].x, gs2[0].x)
