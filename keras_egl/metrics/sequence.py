"""Sequence-generation metrics: BLEU-1..4 (via nltk) and ROUGE-1.

DynGraph2Seq (thesis Table 3.1) reports BLEU-1..4 (Papineni et al. 2002) and
"ROUGE" (ROUGE-1, Lin 2004) between predicted and true stage sequences, but
states neither corpus vs sentence level, smoothing, nor ROUGE recall vs F.
Defaults here: **corpus-level** BLEU without smoothing (nltk's
``corpus_bleu``; BLEU-n uses uniform weights 1/n over 1..n-grams) and
**ROUGE-1 recall** averaged over sequences (ROUGE-N is recall-oriented in Lin's
definition; the thesis' ROUGE > BLEU-1 gap fits recall). Every setting is a
switch. Scores are fractions in [0, 1]; multiply by 100 to compare with the
thesis.

Inputs are lists of token sequences (lists of strings or ints), one reference
per hypothesis.
"""

import collections
import warnings

import numpy as np

_SMOOTHING = (None, "method0", "method1", "method2", "method3", "method4", "method5", "method6",
              "method7")


def _check_pairs(references, hypotheses):
    for name, seqs in (("references", references), ("hypotheses", hypotheses)):
        if isinstance(seqs, str) or not isinstance(seqs, (list, tuple)):
            raise TypeError(f"`{name}` must be a list of token lists; received {type(seqs).__name__} "
                            f"{seqs!r:.80}.")
    if len(references) != len(hypotheses):
        raise ValueError(f"`references` has {len(references)} sequences but `hypotheses` has "
                         f"{len(hypotheses)}; expected one reference per hypothesis.")
    if len(references) == 0:
        raise ValueError("`references` and `hypotheses` are empty.")
    for name, seqs in (("references", references), ("hypotheses", hypotheses)):
        for s in seqs:
            if isinstance(s, str):
                raise TypeError(f"`{name}` must hold token lists, not strings (split them first); "
                                f"received {s!r}.")
            if not isinstance(s, (list, tuple, np.ndarray)):
                raise TypeError(f"`{name}` must hold token lists (one list per sequence); received "
                                f"{type(s).__name__} {s!r}.")


def bleu_scores(references, hypotheses, max_n=4, level="corpus", smoothing=None):
    """BLEU-1..``max_n`` with nltk.

    Args:
        references: list of reference token lists.
        hypotheses: list of hypothesis token lists.
        max_n: highest n (4).
        level: ``"corpus"`` (default; ``nltk.translate.bleu_score.corpus_bleu``)
            or ``"sentence"`` (mean of ``sentence_bleu``).
        smoothing: ``None`` (no smoothing) or the name of a
            ``SmoothingFunction`` method, e.g. ``"method1"``.

    Returns:
        dict ``{"BLEU-1": ..., ..., "BLEU-max_n": ...}`` in [0, 1].

    Example:
        >>> bleu_scores([["a", "b"]], [["a", "b"]])["BLEU-1"]
        1.0
    """
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu, sentence_bleu

    _check_pairs(references, hypotheses)
    if level not in ("corpus", "sentence"):
        raise ValueError(f"`level` must be 'corpus' or 'sentence'; received {level!r}.")
    if smoothing not in _SMOOTHING:
        raise ValueError(f"`smoothing` must be one of {_SMOOTHING}; received {smoothing!r}.")
    if isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 1:
        raise ValueError(f"`max_n` must be a positive int; received {max_n!r}.")
    fn = getattr(SmoothingFunction(), smoothing) if smoothing else None
    refs = [[list(map(str, r))] for r in references]
    hyps = [list(map(str, h)) for h in hypotheses]
    out = {}
    with warnings.catch_warnings():
        # nltk warns when an n-gram order has no match; the score is then 0 as documented.
        warnings.simplefilter("ignore")
        for n in range(1, max_n + 1):
            weights = tuple([1.0 / n] * n)
            if level == "corpus":
                score = corpus_bleu(refs, hyps, weights=weights, smoothing_function=fn)
            else:
                score = float(np.mean([sentence_bleu(r, h, weights=weights, smoothing_function=fn)
                                       for r, h in zip(refs, hyps)]))
            out[f"BLEU-{n}"] = float(score)
    return out


def rouge_1(references, hypotheses, variant="recall"):
    """ROUGE-1 averaged over sequence pairs.

    ``overlap = sum_w min(count_ref(w), count_hyp(w))``; recall =
    overlap / |ref|, precision = overlap / |hyp|, F = 2PR / (P + R). Empty
    sequences score 0 (never NaN).

    Args:
        references, hypotheses: lists of token lists.
        variant: ``"recall"`` (default), ``"precision"`` or ``"f"``.

    Returns:
        float in [0, 1].

    Example:
        >>> rouge_1([["a", "b", "c", "d"]], [["a", "b"]])
        0.5
    """
    _check_pairs(references, hypotheses)
    if variant not in ("recall", "precision", "f"):
        raise ValueError(f"`variant` must be 'recall', 'precision' or 'f'; received {variant!r}.")
    scores = []
    for ref, hyp in zip(references, hypotheses):
        rc, hc = collections.Counter(map(str, ref)), collections.Counter(map(str, hyp))
        overlap = sum(min(c, hc[w]) for w, c in rc.items())
        r = overlap / len(ref) if len(ref) else 0.0
        p = overlap / len(hyp) if len(hyp) else 0.0
        if variant == "recall":
            scores.append(r)
        elif variant == "precision":
            scores.append(p)
        else:
            scores.append(2 * p * r / (p + r) if p + r > 0 else 0.0)
    return float(np.mean(scores))


def sequence_scores(references, hypotheses, level="corpus", smoothing=None, rouge="recall"):
    """BLEU-1..4 and ROUGE-1 in one dict (Table 3.1's five columns)."""
    if rouge not in ("recall", "precision", "f"):
        raise ValueError(f"`rouge` must be 'recall', 'precision' or 'f'; received {rouge!r}.")
    out = bleu_scores(references, hypotheses, 4, level, smoothing)
    out["ROUGE"] = rouge_1(references, hypotheses, rouge)
    return out


__all__ = ["bleu_scores", "rouge_1", "sequence_scores"]
