import math

import numpy as np
import pytest
from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu

from keras_egl.metrics.sequence import bleu_scores, rouge_1, sequence_scores

REFS = [["Dx", "Surgery", "Surgery", "Hormonal", "Surgery", "Surgery"],
        ["Dx", "Chemotherapy", "Chemotherapy", "Surgery", "Radiation"]]
HYPS = [["Dx", "Surgery", "Chemotherapy", "Hormonal"],
        ["Dx", "Chemotherapy", "Surgery", "Surgery"]]


def test_bleu_matches_nltk_corpus_and_sentence():
    got = bleu_scores(REFS, HYPS)
    for n in range(1, 5):
        w = tuple([1.0 / n] * n)
        assert got[f"BLEU-{n}"] == pytest.approx(corpus_bleu([[r] for r in REFS], HYPS, weights=w))
    got = bleu_scores(REFS, HYPS, level="sentence", smoothing="method1")
    sm = SmoothingFunction().method1
    for n in range(1, 5):
        w = tuple([1.0 / n] * n)
        exp = np.mean([sentence_bleu([r], h, weights=w, smoothing_function=sm)
                       for r, h in zip(REFS, HYPS)])
        assert got[f"BLEU-{n}"] == pytest.approx(exp)


def test_bleu1_hand_value():
    # corpus: clipped unigram matches: hyp1 Dx,Surgery,Hormonal = 3 (Chemotherapy not in ref1);
    # hyp2 Dx,Chemotherapy,Surgery,Surgery -> Surgery clipped to 1 -> 3. precision 6/8.
    # brevity: c = 8, r = 11 -> BP = exp(1 - 11/8)
    exp = 6 / 8 * math.exp(1 - 11 / 8)
    assert bleu_scores(REFS, HYPS, max_n=1)["BLEU-1"] == pytest.approx(exp)
    assert bleu_scores([["a", "b"]], [["a", "b"]], max_n=2) == {"BLEU-1": 1.0, "BLEU-2": 1.0}


def test_rouge1_hand_values():
    # overlaps: pair 1 = 3 (Dx, Surgery, Hormonal), pair 2 = 3 (Dx, Chemotherapy, Surgery)
    r = (3 / 6 + 3 / 5) / 2
    p = (3 / 4 + 3 / 4) / 2
    f = (2 * 0.75 * 0.5 / 1.25 + 2 * 0.75 * 0.6 / 1.35) / 2
    assert rouge_1(REFS, HYPS) == pytest.approx(r)
    assert rouge_1(REFS, HYPS, "precision") == pytest.approx(p)
    assert rouge_1(REFS, HYPS, "f") == pytest.approx(f)
    assert rouge_1([["a"]], [[]]) == 0.0  # empty prediction: 0, not NaN
    s = sequence_scores(REFS, HYPS)
    assert set(s) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE"}


def test_bad_inputs():
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        bleu_scores(REFS, HYPS[:1])
    with pytest.raises(TypeError, match="token lists"):
        rouge_1(["Dx Surgery"], ["Dx"])
    with pytest.raises(ValueError, match="level"):
        bleu_scores(REFS, HYPS, level="document")
    with pytest.raises(ValueError, match="smoothing"):
        bleu_scores(REFS, HYPS, smoothing="laplace")
    with pytest.raises(ValueError, match="variant"):
        rouge_1(REFS, HYPS, variant="l")
