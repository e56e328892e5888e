"""Which training samples to ask a person to give explanation feedback on.

Bekkemoen (2021) draws the samples to annotate **uniformly at random** (article
§4: "Samples to annotate with feedback were chosen uniformly at random") and
leaves informativeness-based selection to future work (§7.3 cites BatchBALD).
:class:`UniformSampler` is the thesis; :class:`EntropySampler` and
:class:`BALDSampler` are **extensions beyond the thesis** that rank samples by
the MC posterior's predictive entropy or mutual information (Houlsby et al.
2011; Gal et al. 2017).

Every sampler has ``select(n_pool, budget=None, mc_probs=None) -> indices`` and
``budget_for(n_pool)``; uncertainty samplers need ``mc_probs`` of shape
``(m, n_pool, K)`` (softmax outputs of ``m`` posterior samples).
"""

import numbers

import numpy as np

from keras_egl.validation import check_float, check_positive_int

__all__ = ["UniformSampler", "EntropySampler", "BALDSampler", "predictive_entropy", "bald_scores",
           "get_sampler"]


def _as_probs(mc_probs, n_pool=None):
    """``(m, N, K)`` float64 probabilities (a ``(N, K)`` array is one draw), validated."""
    if mc_probs is None:
        raise ValueError("this sampler needs `mc_probs` of shape (m, n_pool, K) from the MC posterior.")
    p = np.asarray(mc_probs)
    if p.dtype.kind not in "biuf":
        raise TypeError(f"`mc_probs` must hold probabilities (numbers); got dtype {p.dtype}.")
    p = p.astype(np.float64)
    if p.ndim == 2:
        p = p[None]
    if p.ndim != 3 or (n_pool is not None and p.shape[1] != n_pool):
        raise ValueError(f"`mc_probs` must have shape (m, {'N' if n_pool is None else n_pool}, K); got "
                         f"{np.shape(mc_probs)}.")
    if not np.all(np.isfinite(p)) or (p.size and p.min() < 0):
        raise ValueError("`mc_probs` must hold finite, non-negative probabilities.")
    # Rows must be distributions: logits or unnormalised scores would give meaningless entropies.
    if p.size and not np.allclose(p.sum(-1), 1.0, atol=1e-3):
        raise ValueError(f"`mc_probs` must be probabilities summing to 1 over the classes (apply softmax to "
                         f"logits); got row sums in [{p.sum(-1).min():.4g}, {p.sum(-1).max():.4g}].")
    return p


def _check_probs(mc_probs, n_pool):
    return _as_probs(mc_probs, n_pool)


def predictive_entropy(mc_probs):
    """``H[E_q p(y|x,w)]`` per sample from ``(m, N, K)`` probabilities (nats)."""
    p = _as_probs(mc_probs)
    mean = p.mean(0)
    return -np.sum(np.where(mean > 0, mean * np.log(np.clip(mean, 1e-300, None)), 0.0), axis=-1)


def bald_scores(mc_probs):
    """BALD mutual information ``H[E p] − E H[p]`` per sample (nats, ≥ 0)."""
    p = _as_probs(mc_probs)
    cond = -np.sum(np.where(p > 0, p * np.log(np.clip(p, 1e-300, None)), 0.0), axis=-1).mean(0)
    return np.maximum(predictive_entropy(p) - cond, 0.0)


class _Sampler:
    needs_predictions = False

    def __init__(self, budget_fraction=None, budget=None, seed=0):
        if (budget_fraction is None) == (budget is None):
            raise ValueError("give exactly one of `budget_fraction` (share of the pool) or `budget` (a count); "
                             f"got budget_fraction={budget_fraction!r}, budget={budget!r}.")
        if budget_fraction is not None:
            check_float(budget_fraction, "budget_fraction", low=0.0, high=1.0, low_inclusive=False)
        if budget is not None and (isinstance(budget, (bool, np.bool_)) or not isinstance(budget, (int, np.integer))
                                   or budget < 1):
            raise ValueError(f"`budget` must be a positive int; got {budget!r}.")
        if isinstance(seed, (bool, np.bool_)) or not (seed is None or isinstance(seed, numbers.Integral)):
            raise TypeError(f"`seed` must be an int or None; got {type(seed).__name__} {seed!r}.")
        self.budget_fraction = None if budget_fraction is None else float(budget_fraction)
        self.budget = None if budget is None else int(budget)
        self.seed = seed

    def budget_for(self, n_pool):
        """Number of samples to annotate out of ``n_pool`` (at least 1)."""
        if self.budget is not None:
            return min(self.budget, int(n_pool))
        return max(1, min(int(n_pool), int(round(self.budget_fraction * n_pool))))

    def _n(self, n_pool, budget):
        if isinstance(n_pool, (bool, np.bool_)) or not isinstance(n_pool, (int, np.integer)) or n_pool < 1:
            raise ValueError(f"`n_pool` must be a positive int; got {n_pool!r}.")
        if budget is None:
            return self.budget_for(n_pool)
        return min(check_positive_int(budget, "budget"), int(n_pool))

    def get_config(self):
        return {"budget_fraction": self.budget_fraction, "budget": self.budget, "seed": self.seed}


class UniformSampler(_Sampler):
    """Uniformly random samples without replacement (the thesis's only strategy).

    Args:
      budget_fraction: share of the pool to annotate (thesis: 0.003–0.004 on
        Decoy MNIST, 0.015 ISIC, 0.045 Dogs vs Cats), or
      budget: a count.
      seed: seed of the draw.

    Example:
      >>> UniformSampler(budget_fraction=0.004, seed=0).select(54000)[:3]
    """

    def select(self, n_pool, budget=None, mc_probs=None):
        k = self._n(n_pool, budget)
        return np.sort(np.random.default_rng(self.seed).choice(int(n_pool), size=k, replace=False))


class EntropySampler(_Sampler):
    """Highest predictive entropy of the MC posterior (extension, not in the thesis)."""

    needs_predictions = True

    def select(self, n_pool, budget=None, mc_probs=None):
        k = self._n(n_pool, budget)
        scores = predictive_entropy(_check_probs(mc_probs, n_pool))
        # Stable ranking; random tie-break from the seed.
        jitter = np.random.default_rng(self.seed).random(len(scores)) * 1e-12
        return np.sort(np.argsort(-(scores + jitter), kind="stable")[:k])


class BALDSampler(_Sampler):
    """Highest BALD mutual information (epistemic uncertainty; extension, not in the thesis)."""

    needs_predictions = True

    def select(self, n_pool, budget=None, mc_probs=None):
        k = self._n(n_pool, budget)
        scores = bald_scores(_check_probs(mc_probs, n_pool))
        jitter = np.random.default_rng(self.seed).random(len(scores)) * 1e-12
        return np.sort(np.argsort(-(scores + jitter), kind="stable")[:k])


_SAMPLERS = {"uniform": UniformSampler, "entropy": EntropySampler, "bald": BALDSampler}


def get_sampler(name, **kwargs):
    """``"uniform"`` | ``"entropy"`` | ``"bald"`` → a sampler instance."""
    if name not in _SAMPLERS:
        raise ValueError(f"`name` (the sampler) must be one of {sorted(_SAMPLERS)}; got {name!r}.")
    return _SAMPLERS[name](**kwargs)
