import json

import numpy as np
import pytest

from keras_egl.data.forum import (STAGES, ForumData, StageVocab, generate_synthetic_forum,
                                  load_forum_jsonl, split_indices)


def _small(seed=0, users=40, **kw):
    return generate_synthetic_forum(num_users=users, num_nodes=20, time_steps=12, num_features=40,
                                    seed=seed, **kw)


@pytest.mark.parametrize("signal", ["temporal", "static"])
def test_generator_is_deterministic_per_seed(signal):
    a, b, c = _small(0, signal=signal), _small(0, signal=signal), _small(1, signal=signal)
    assert a.sequences == b.sequences and a.transitions == b.transitions
    np.testing.assert_array_equal(a.node_features, b.node_features)
    assert a.keywords == b.keywords
    assert a.sequences != c.sequences or a.transitions != c.transitions
    if signal == "temporal":
        assert a.ground_truth["hot_subforums"] == b.ground_truth["hot_subforums"]


def test_temporal_generator_puts_the_stage_signal_in_monthly_features():
    d = _small(users=60)  # signal="temporal" is the default
    f, gt = d.node_features, d.ground_truth
    assert f.shape == (12, 20, 40) and gt["signal"] == "temporal"
    planted = set(gt["planted_ids"])
    general = [v for v in range(20) if v not in planted]
    hot = gt["hot_subforums"]
    assert len(hot) == 12
    for t in range(12):
        for stage, ids in hot[t].items():
            kw = [d.keywords.index(w) for w in gt["stage_keywords"][stage]]
            assert ids[:2] == gt["planted_subforums"][stage]  # planted: every month
            assert len(ids) == 4 and all(v in general for v in ids[2:])  # + 2 general, drifting
            for v in ids:
                assert f[t, v, kw].sum() >= 2
    # the hot general subforums drift over the months (persistence 0.7), but not every month
    moved = [hot[t][s][2:] != hot[t - 1][s][2:] for t in range(1, 12) for s in hot[t]]
    assert 0 < sum(moved) < len(moved)
    # stage keywords of general subforums vary over time; the static mean keeps a trace only
    stage_ids = gt["stage_keyword_ids"]
    assert f[:, general][..., stage_ids].std(axis=0).max() > 0
    # episodes agree with the label; transitions are monthly most-active switches
    for eps, seq in zip(gt["episodes"], d.sequences):
        assert [e[0] for e in eps] == seq
    assert all(len(m) <= 1 for months in d.transitions for m in months)
    with pytest.raises(ValueError, match="signal"):
        _small(signal="hourly")


def test_generator_structure_and_ground_truth():
    d = _small(users=60, signal="static")
    assert len(d) == 60 and d.node_features.shape == (20, 40)
    lens = [len(s) for s in d.sequences]
    assert 1 <= min(lens) and max(lens) <= 9
    assert all(tok in STAGES for s in d.sequences for tok in s)
    gt = d.ground_truth
    assert len(gt["planted_ids"]) == 12 and len(gt["stage_keyword_ids"]) == 24
    # planted stage subforums carry their stage keywords
    for stage, ids in gt["planted_subforums"].items():
        kw = [d.keywords.index(w) for w in gt["stage_keywords"][stage]]
        for v in ids:
            assert d.node_features[v, kw].sum() >= 2
    # episodes agree with the label and lie inside [0, T)
    for eps, seq in zip(gt["episodes"], d.sequences):
        assert [e[0] for e in eps] == seq
        assert all(0 <= a <= b < d.time_steps for _, a, b in eps)
    adj = d.adjacency()
    assert adj.shape == (60, 12, 20, 20)
    assert np.all(np.diff(adj, axis=1) >= 0)  # cumulative
    np.testing.assert_array_equal(d.union_adjacency(), adj[:, -1])
    assert np.all(np.diagonal(adj, axis1=2, axis2=3) == 0)


def test_generator_transitions_are_monthly_most_active_switches():
    # Thesis Definition 3: an edge u -> v when the user's *most active* subforum
    # switches - at most one new transition per month. The old per-visit walk
    # (transitions="visits") put ~3 transitions per month into the NMT's input.
    d = generate_synthetic_forum(num_users=80, num_nodes=20, time_steps=12, num_features=40, seed=3)
    assert all(len(m) <= 1 for months in d.transitions for m in months)
    for months in d.transitions:  # consecutive monthly transitions chain u->v, v->w
        flat = [e for m in months for e in m]
        assert all(a[1] == b[0] for a, b in zip(flat, flat[1:]))
    v = generate_synthetic_forum(num_users=80, num_nodes=20, time_steps=12, num_features=40, seed=3,
                                 transitions="visits")
    assert v.sequences == d.sequences  # same random stream for the stage story
    assert max(len(m) for months in v.transitions for m in months) > 1
    with pytest.raises(ValueError, match="transitions"):
        generate_synthetic_forum(num_users=2, num_nodes=20, time_steps=12, num_features=40,
                                 transitions="daily")


def test_transition_tokens_follow_the_walk():
    d = ForumData(3, 2, ["a"], np.zeros((3, 1)), [[[(0, 1)], [(1, 2), (2, 0)]]], [["Dx"]])
    np.testing.assert_array_equal(d.transition_tokens(), [[1, 2, 3, 1]])
    with pytest.raises(ValueError, match="max_len"):
        d.transition_tokens(max_len=2)
    np.testing.assert_array_equal(d.transition_tokens(max_len=2, truncate="last"), [[3, 1]])


@pytest.mark.parametrize("signal", ["temporal", "static"])
def test_jsonl_round_trip(tmp_path, signal):
    d = _small(users=15, signal=signal)
    path = d.save_jsonl(tmp_path / "forum.jsonl")
    back = load_forum_jsonl(path, keywords=d.keywords)
    assert back.sequences == d.sequences
    np.testing.assert_array_equal(back.adjacency(), d.adjacency())
    np.testing.assert_array_equal(back.node_features, d.node_features)
    # default keyword vocabulary: most frequent words, capped at num_keywords
    back2 = load_forum_jsonl(path, num_keywords=10)
    assert len(back2.keywords) == 10


def _write(tmp_path, recs):
    p = tmp_path / "bad.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in recs))
    return p


def _rec(**kw):
    r = {"seq": "Dx Surgery", "g_ids": [0, 1, 2], "g_ids_features": {"0": "chemo", "1": "help"},
         "g_adjseq": [{"0": [1]}, {"0": [1], "1": [2]}]}
    r.update(kw)
    return r


def test_loader_bad_input(tmp_path):
    ok = load_forum_jsonl(_write(tmp_path, [_rec()]))
    assert ok.transitions == [[[(0, 1)], [(1, 2)]]]
    with pytest.raises(ValueError, match="not in g_ids"):
        load_forum_jsonl(_write(tmp_path, [_rec(g_adjseq=[{"0": [7]}, {}])]))
    with pytest.raises(ValueError, match="share T"):
        load_forum_jsonl(_write(tmp_path, [_rec(), _rec(g_adjseq=[{}])]))
    with pytest.raises(ValueError, match="unknown stage"):
        load_forum_jsonl(_write(tmp_path, [_rec(seq="Dx Acupuncture")]))
    with pytest.raises(ValueError, match="drops transitions"):
        load_forum_jsonl(_write(tmp_path, [_rec(g_adjseq=[{"0": [1]}, {}])]))
    monthly = load_forum_jsonl(_write(tmp_path, [_rec(g_adjseq=[{"0": [1]}, {}])]),
                               adjseq="monthly")
    assert monthly.transitions == [[[(0, 1)], []]]
    with pytest.raises(ValueError, match="max_stages"):
        load_forum_jsonl(_write(tmp_path, [_rec(seq=" ".join(["Dx"] * 15))]))
    with pytest.raises(ValueError, match="missing field"):
        load_forum_jsonl(_write(tmp_path, [{"seq": "Dx"}]))


def test_vocab_and_split():
    v = StageVocab()
    assert v.encode(["Dx", "Surgery"]) == [3, 8]
    assert v.decode([3, 8, 2, 4]) == ["Dx", "Surgery"]
    with pytest.raises(ValueError, match="unknown stage"):
        v.encode(["<eos>"])
    tr, va, te = split_indices(100, seed=3)
    assert (len(tr), len(va), len(te)) == (70, 10, 20)
    assert len(set(tr) | set(va) | set(te)) == 100
    np.testing.assert_array_equal(split_indices(100, seed=3)[0], tr)
