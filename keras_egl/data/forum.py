"""Online-health-forum data for DynGraph2Seq: JSON-lines loader and a seeded generator.

Thesis ch. 3 (Gao et al., ICDM 2019), Sec. 3.5.1: one user = a dynamic graph
over the N subforums (T monthly snapshots; snapshot t holds every transition of
the user's most-active subforum u -> v in month t *and before*, so graphs are
cumulative) plus the user's health-stage sequence, e.g. ``Dx Surgery Surgery
Hormonal``. Node features are bag-of-words over the D most frequent keywords.

**Schema** (one JSON object per line, as the authors' follow-up code reads it)::

    {"seq": "Dx Surgery Chemotherapy",
     "g_ids": [0, 1, ..., N-1],
     "g_ids_features": {"<node>": "kw1 kw2 ..."}            # static, or
                       {"<t>": {"<node>": "kw1 kw2 ..."}}     # per month
     "g_adjseq": [{"<src>": [dst, dst, ...]}, ...]}          # length T, cumulative

A destination listed k times means k transitions (count-weighted edges).

The real forum data are private; :func:`generate_synthetic_forum` plants a
ground truth (stage-indicative subforums and keywords, stage episodes with
onsets) so the attention and the group lasso can be checked against it.
Since 2026-12-01 its edges follow the thesis' construction - one transition
per change of the user's monthly *most active* subforum - rather than one per
switch between consecutive visits (still available as
``transitions="visits"``; with it the untimed NMT input listed ~34 visits per
user in order and carried nearly all of the planted signal).

Also since 2026-12-01 the stage signal is *time-local* by default
(``signal="temporal"``): subforum features are per month (``[T, N, D]``), and
each stage is discussed, besides its planted subforums, in general subforums
that change over the months, so a visit to a general subforum reflects a stage
only through that month's features - which the dynamic graph keeps and the
untimed transition sequence (NMT) and the union graph (static Graph2Seq) lose.
This is a substitute for the private forum data, shaped by the thesis' own
account of where the signal is (what is discussed in which subforum in which
month); ``signal="static"`` keeps the previous generator.

Bad input (different T across users, adjacency naming unknown nodes, edges
disappearing from a "cumulative" sequence, unknown stage tokens, sequences
longer than the decoder allows) - and garbled JSON, missing or wrongly typed fields
(``g_ids`` as a string, non-integer node ids) - raise ``ValueError`` naming the
file, the line and the field. Empty months are allowed: in ``"cumulative"`` mode an empty month must
repeat the previous snapshot (``{}`` is read as "no new transitions" only in
``"monthly"`` mode, or when nothing happened before).
"""

import collections
import dataclasses
import json
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from keras_egl.validation import check_float, check_non_negative, check_positive_int

STAGES = ("Dx", "Chemotherapy", "Targeted", "Hormonal", "Radiation", "Surgery")
SPECIAL_TOKENS = ("<pad>", "<go>", "<eos>")

# Stage-indicative keywords (planted); the first ``keywords_per_stage`` are used.
STAGE_KEYWORDS = {
    "Dx": ["diagnosed", "biopsy", "mammogram", "worried", "lump", "ultrasound"],
    "Chemotherapy": ["chemo", "taxol", "nausea", "infusion", "neulasta", "port"],
    "Targeted": ["herceptin", "her2", "perjeta", "kadcyla", "targeted", "echo"],
    "Hormonal": ["tamoxifen", "arimidex", "letrozole", "estrogen", "femara", "hormone"],
    "Radiation": ["radiation", "rads", "burn", "boost", "radiologist", "skin"],
    "Surgery": ["surgery", "mastectomy", "lumpectomy", "reconstruction", "surgeon", "drain"],
}
GENERIC_KEYWORDS = (
    "help sister treatment negative today bone mom year please new tumor share results therapy "
    "scared family question pain diagnosis back looking bc sisters hair care positive research "
    "news support scan vs people life show ca ladies anyone survivor newly friends husband work "
    "tired hope prayers thanks story week doctor appointment feel good day time thing kids weight "
    "exercise diet sleep insurance cost travel vacation birthday garden dog cat book movie music "
    "church faith walk yoga coffee recipe food holiday christmas summer winter spring fall home "
    "car job school daughter son mother father brother grandma"
).split()

# Thesis examples: #2 "Not Diagnosed but Worried" <-> Dx, #13 <-> chemo, #14 "Radiation
# Therapy - Before, During and After" <-> Radiation, #19 DCIS <-> Surgery, #22 IDC.
_PLANTED_DEFAULT = {"Dx": [2, 31], "Chemotherapy": [13, 40], "Targeted": [27, 52],
                    "Hormonal": [35, 60], "Radiation": [14, 47], "Surgery": [19, 22]}

# Stage-to-stage transition probabilities (rows: from, columns: STAGES order).
_TRANSITIONS = np.array([
    [0.10, 0.30, 0.05, 0.05, 0.05, 0.45],   # Dx
    [0.05, 0.25, 0.15, 0.10, 0.15, 0.30],   # Chemotherapy
    [0.05, 0.20, 0.20, 0.15, 0.15, 0.25],   # Targeted
    [0.05, 0.10, 0.05, 0.25, 0.20, 0.35],   # Hormonal
    [0.05, 0.10, 0.05, 0.40, 0.15, 0.25],   # Radiation
    [0.05, 0.25, 0.05, 0.20, 0.25, 0.20],   # Surgery
])


class StageVocab:
    """Token vocabulary: PAD=0, GO=1, EOS=2, then the stages.

    Args:
        stages: stage names (default :data:`STAGES`).

    Example:
        >>> v = StageVocab()
        >>> v.encode(["Dx", "Surgery"]), v.decode([3, 8, 2, 0])
        ([3, 8], ['Dx', 'Surgery'])
    """

    def __init__(self, stages=STAGES):
        if isinstance(stages, str) or not isinstance(stages, (list, tuple)) or \
                not all(isinstance(s, str) for s in stages):
            raise TypeError(f"`stages` must be a list of stage names; received {stages!r}.")
        stages = list(stages)
        if len(set(stages)) != len(stages) or any(s in SPECIAL_TOKENS for s in stages):
            raise ValueError(f"`stages` must be unique and not special tokens; received {stages}.")
        self.tokens = list(SPECIAL_TOKENS) + stages
        self.index = {t: i for i, t in enumerate(self.tokens)}
        self.stages = stages

    def __len__(self):
        return len(self.tokens)

    def encode(self, seq):
        out = []
        for tok in seq:
            if tok not in self.index or tok in SPECIAL_TOKENS:
                raise ValueError(f"unknown stage token {tok!r}; expected one of {self.stages}.")
            out.append(self.index[tok])
        return out

    def decode(self, ids):
        out = []
        for i in ids:
            i = int(i)
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"`ids` must be token ids in [0, {len(self.tokens)}); got {i}.")
            if i == 2:
                break
            if i < len(SPECIAL_TOKENS):
                continue
            out.append(self.tokens[i])
        return out


@dataclasses.dataclass
class ForumData:
    """A set of users' dynamic graphs and stage sequences.

    Attributes:
        num_nodes: N subforums (ids 0..N-1).
        time_steps: T months.
        keywords: the D feature keywords.
        node_features: ``[N, D]`` (static) or ``[T, N, D]`` binary bag-of-words.
        transitions: per user, per month, the ordered list of new (src, dst)
            transitions.
        sequences: per user, the stage names.
        ground_truth: generator only - ``planted_subforums`` {stage: [ids]},
            ``stage_keywords`` {stage: [kw]}, ``episodes`` per user
            [(stage, first_month, last_month)].
    """

    num_nodes: int
    time_steps: int
    keywords: List[str]
    node_features: np.ndarray
    transitions: List[List[List[tuple]]]
    sequences: List[List[str]]
    ground_truth: Optional[Dict] = None

    def __len__(self):
        return len(self.sequences)

    def subset(self, idx):
        idx = list(np.asarray(idx, dtype=int))
        gt = None
        if self.ground_truth is not None:
            gt = dict(self.ground_truth)
            gt["episodes"] = [self.ground_truth["episodes"][i] for i in idx]
        return ForumData(self.num_nodes, self.time_steps, self.keywords, self.node_features,
                         [self.transitions[i] for i in idx], [self.sequences[i] for i in idx], gt)

    def adjacency(self, dtype=np.float32):
        """Cumulative count-weighted adjacency ``[U, T, N, N]`` (``A[u, t, src, dst]``)."""
        u, t, n = len(self), self.time_steps, self.num_nodes
        out = np.zeros((u, t, n, n), dtype=dtype)
        for i, months in enumerate(self.transitions):
            cur = np.zeros((n, n), dtype=np.int64)
            for m, trans in enumerate(months):
                for s, d in trans:
                    cur[s, d] += 1
                out[i, m] = cur
        if np.issubdtype(np.dtype(dtype), np.integer):
            info = np.iinfo(dtype)
            if out.max(initial=0) >= info.max:
                raise ValueError(f"transition counts overflow dtype {np.dtype(dtype).name}.")
        return out

    def union_adjacency(self, dtype=np.float32):
        """Static union graph ``[U, N, N]``: all transitions of all months."""
        n = self.num_nodes
        out = np.zeros((len(self), n, n), dtype=dtype)
        for i, months in enumerate(self.transitions):
            for trans in months:
                for s, d in trans:
                    out[i, s, d] += 1
        return out

    def features(self, time_varying=None):
        """Node features ``[T, N, D]`` (static ones tiled) as float32."""
        f = np.asarray(self.node_features, np.float32)
        if f.ndim == 2:
            f = np.broadcast_to(f[None], (self.time_steps,) + f.shape)
        return f

    def static_features(self):
        """``[N, D]`` features for the static models (time average if time-varying)."""
        f = np.asarray(self.node_features, np.float32)
        return f if f.ndim == 2 else f.mean(axis=0)

    def transition_tokens(self, max_len=None, truncate="error"):
        """Concatenated monthly transition sequence as ids + 1, 0-padded ``[U, S]``.

        Consecutive duplicates are collapsed, so a walk a->b->c gives ``a b c``.
        ``truncate``: ``"error"`` (default) if a user exceeds ``max_len``,
        ``"first"`` keeps the first ``max_len`` tokens, ``"last"`` the last.
        """
        seqs = []
        for months in self.transitions:
            toks = []
            for trans in months:
                for s, d in trans:
                    if not toks or toks[-1] != s + 1:
                        toks.append(s + 1)
                    toks.append(d + 1)
            seqs.append(toks)
        longest = max((len(s) for s in seqs), default=0)
        max_len = max_len or max(longest, 1)
        out = np.zeros((len(seqs), max_len), np.int32)
        for i, s in enumerate(seqs):
            if len(s) > max_len:
                if truncate == "error":
                    raise ValueError(f"user {i} has {len(s)} transition tokens > max_len={max_len}; "
                                     "pass truncate='first' or 'last'.")
                s = s[:max_len] if truncate == "first" else s[-max_len:]
            out[i, :len(s)] = s
        return out

    def target_ids(self, vocab=None):
        vocab = vocab or StageVocab()
        return [vocab.encode(s) for s in self.sequences]

    def to_records(self):
        """The users as JSON-schema dicts (cumulative ``g_adjseq``, static or per-month features)."""
        f = np.asarray(self.node_features)

        def words(row):
            return " ".join(self.keywords[j] for j in np.nonzero(row)[0])

        if f.ndim == 2:
            feats = {str(v): words(f[v]) for v in range(self.num_nodes)}
        else:
            feats = {str(t): {str(v): words(f[t, v]) for v in range(self.num_nodes)}
                     for t in range(self.time_steps)}
        records = []
        for months, seq in zip(self.transitions, self.sequences):
            cum = collections.OrderedDict()
            adjseq = []
            for trans in months:
                for s, d in trans:
                    cum.setdefault(str(s), []).append(int(d))
                adjseq.append({k: list(v) for k, v in cum.items()})
            records.append({"seq": " ".join(seq), "g_ids": list(range(self.num_nodes)),
                            "g_ids_features": feats, "g_adjseq": adjseq})
        return records

    def save_jsonl(self, path):
        path = Path(path)
        with path.open("w") as fh:
            for rec in self.to_records():
                fh.write(json.dumps(rec) + "\n")
        return path


def split_indices(n, seed=0, fractions=(0.7, 0.1, 0.2)):
    """Random train/validation/test index split (thesis: 70/10/20)."""
    n = check_positive_int(n, "n", minimum=0)
    if len(fractions) != 3 or not all(np.isfinite(fractions)) or abs(sum(fractions) - 1.0) > 1e-6 \
            or min(fractions) < 0:
        raise ValueError(f"`fractions` must be three non-negative numbers summing to 1; "
                         f"received {fractions}.")
    perm = np.random.default_rng(seed).permutation(n)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]


def _planted_ids(num_nodes, per_stage, rng):
    if num_nodes < len(STAGES) * per_stage + 1:
        raise ValueError(f"`num_nodes` must be > {len(STAGES) * per_stage} to plant {per_stage} "
                         f"subforums per stage; received {num_nodes}.")
    used, planted = set(), {}
    for stage in STAGES:
        ids = [i for i in _PLANTED_DEFAULT[stage][:per_stage] if i < num_nodes]
        planted[stage] = ids
        used.update(ids)
    free = [i for i in rng.permutation(num_nodes) if i not in used]
    for stage in STAGES:
        while len(planted[stage]) < per_stage:
            planted[stage].append(int(free.pop(0)))
    return {s: [int(i) for i in v] for s, v in planted.items()}


def generate_synthetic_forum(num_users=2882, num_nodes=81, time_steps=96, num_features=100,
                             seed=0, keywords_per_stage=4, subforums_per_stage=2,
                             max_stages=9, episode_months=(1, 4), gap_months=(0, 3),
                             silent_gap_prob=0.5, visits_per_month=2.0, p_stage=0.55,
                             p_other_stage=0.10, transitions="most_active", signal="temporal",
                             hot_subforums_per_stage=2, hot_persistence=0.7):
    """Seeded synthetic forum with planted ground truth (thesis Sec. 3.5.1 stand-in).

    Generative story (per user):

    1. A stage sequence of length 1-9 (``1 + Binomial(max_stages - 1, 0.4)``)
       from a Markov chain over :data:`STAGES` starting at Dx with prob. 0.85;
       repeats ("Surgery Surgery") are allowed.
    2. Each stage is an *episode* of ``episode_months`` months; consecutive
       episodes are separated by ``gap_months`` months (>= 1 between two
       episodes of the same stage, else they would be one episode). A gap is
       silent with probability ``silent_gap_prob`` (the user does not post),
       otherwise spent in general subforums. Episodes not starting before T are
       dropped from the sequence too (the label always matches the data).
    3. Each active month has ``1 + Poisson(visits_per_month)`` visits: during a
       stage episode a visit goes to one of that stage's planted subforums with
       probability ``p_stage``, to another stage's with ``p_other_stage``, else
       to a general subforum (70 % one of the user's 3 favourites).
    4. ``transitions="most_active"`` (default; thesis Sec. 3.5.1 / Definition 3:
       an edge u -> v "when the user's most active forum switches from u to
       v"): each active month has one most-active subforum (most visits; ties
       go to the one visited first that month), and a change of it from u (the
       previous active month's) to v is one transition in the month of v - at
       most one new edge per month. ``transitions="visits"`` (the generator
       before 2026-12-01) makes every switch between consecutive *visits* a
       transition, so the untimed transition sequence spells out nearly every
       visit in order and hands the NMT baseline almost the whole planted
       signal, which the thesis' monthly construction does not. Snapshots are
       cumulative count-weighted graphs either way.

    Features: each subforum has 8 generic keywords; a stage subforum adds its
    stage's ``keywords_per_stage`` planted keywords (each with prob. 0.85, at
    least 2); any subforum gets one random stage keyword with prob. 0.15
    (confounder).

    ``signal="temporal"`` (default since 2026-12-01; thesis Definition 3 and
    Sec. 3.5.1: snapshot t carries node features F_t, "the topics covered by
    the subforum" in that window, and Table 3.2 selects different keywords in
    different months) makes the stage signal *time-local*:

    5. Features are per month, ``[T, N, D]``, shared by all users (forum-level,
       as the schema's per-month ``g_ids_features``). Each subforum keeps its
       8 generic keywords (each present in a month with prob. 0.9; one random
       extra generic word with prob. 0.5: topic drift). In every month, stage
       s is discussed in its planted subforums *and* in
       ``hot_subforums_per_stage`` general subforums ("hot threads") that
       carry s's keywords that month; each hot slot persists to the next month
       with prob. ``hot_persistence``, otherwise it moves to another random
       general subforum (so a general subforum is about chemo in some months
       and about radiation in others, with temporally smooth drift - the
       premise of the sliding-window group lasso). A random stage keyword
       appears on any subforum-month with prob. 0.1 (confounder).
    6. A stage visit (prob. ``p_stage``) goes to one of the subforums where
       the user's stage is discussed *in that month* (planted or hot general,
       uniformly); another stage's visit likewise uses that stage's current
       subforums.

    So which stage a transition into a general subforum reflects is only
    visible from the month's features: the untimed transition sequence (NMT)
    has subforum ids without months, and the union graph (static Graph2Seq)
    has one edge set with time-averaged features - both lose it; the dynamic
    graph keeps it. ``signal="static"`` is the generator before 2026-12-01
    (one ``[N, D]`` feature matrix; stage visits only to planted subforums),
    where nodes' features are a fixed code of their identity and the only thing
    the baselines lose is timing: *when* each episode happened, hence how many
    episodes of the same stage there were when they are separated by silent
    months, and their order when the episodes are linked through general
    subforums.

    The real forum data are private (thesis Sec. 3.5.1); this generator is a
    substitute shaped by the thesis' own description of where the signal lies
    (what is discussed in which subforum in which month, and the user's
    monthly most-active subforum), not by the real data's statistics, which we
    do not have. Its planted truth (``planted_subforums``, ``stage_keywords``,
    and in temporal mode ``hot_subforums`` per month) is what the attention and
    group-lasso checks are scored against.

    Args:
        num_users, num_nodes, time_steps, num_features: U, N, T, D (thesis-like
            defaults 2882, 81, 96, 100).
        seed: random seed (the whole data set is a function of it).
        keywords_per_stage, subforums_per_stage: size of the planted truth.
        max_stages: longest stage sequence.
        episode_months, gap_months: inclusive (min, max) ranges.
        silent_gap_prob, visits_per_month, p_stage, p_other_stage: see above.
        transitions: ``"most_active"`` (thesis) or ``"visits"`` (see step 4).
        signal: ``"temporal"`` (steps 5-6) or ``"static"`` (pre-2026-12-01).
        hot_subforums_per_stage, hot_persistence: temporal mode only (step 5).

    Returns:
        :class:`ForumData` with ``ground_truth``.
    """
    num_users = check_positive_int(num_users, "num_users")
    num_nodes = check_positive_int(num_nodes, "num_nodes")
    time_steps = check_positive_int(time_steps, "time_steps")
    num_features = check_positive_int(num_features, "num_features")
    keywords_per_stage = check_positive_int(keywords_per_stage, "keywords_per_stage", minimum=0)
    subforums_per_stage = check_positive_int(subforums_per_stage, "subforums_per_stage")
    max_stages = check_positive_int(max_stages, "max_stages")
    for name, rng_ in (("episode_months", episode_months), ("gap_months", gap_months)):
        lo_min = 1 if name == "episode_months" else 0
        if not isinstance(rng_, (tuple, list)) or len(rng_) != 2 or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in rng_) \
                or rng_[0] < lo_min or rng_[1] < rng_[0]:
            raise ValueError(f"`{name}` must be an inclusive (min, max) pair of ints with {lo_min} <= min <= max; "
                             f"received {rng_!r}.")
    for name, p in (("silent_gap_prob", silent_gap_prob), ("p_stage", p_stage), ("p_other_stage", p_other_stage)):
        check_float(p, name, low=0.0, high=1.0)
    if p_stage + p_other_stage > 1.0:
        raise ValueError(f"`p_stage` + `p_other_stage` must be <= 1; received {p_stage} + {p_other_stage}.")
    check_non_negative(visits_per_month, "visits_per_month")
    rng = np.random.default_rng(seed)
    n_stage_kw = len(STAGES) * keywords_per_stage
    if keywords_per_stage > 6 or keywords_per_stage < 1:
        raise ValueError(f"`keywords_per_stage` must be in 1..6; received {keywords_per_stage}.")
    if num_features < n_stage_kw + 8:
        raise ValueError(f"`num_features` must be >= {n_stage_kw + 8}; received {num_features}.")
    if time_steps < 2:
        raise ValueError(f"`time_steps` must be >= 2; received {time_steps}.")
    if signal not in ("temporal", "static"):
        raise ValueError(f"`signal` must be 'temporal' or 'static'; received {signal!r}.")
    if not 0 <= hot_persistence <= 1 or hot_subforums_per_stage < 0:
        raise ValueError("`hot_persistence` must be in [0, 1] and `hot_subforums_per_stage` >= 0; "
                         f"received {hot_persistence!r}, {hot_subforums_per_stage!r}.")
    if transitions not in ("most_active", "visits"):
        raise ValueError(f"`transitions` must be 'most_active' or 'visits'; received "
                         f"{transitions!r}.")
    generic = list(GENERIC_KEYWORDS)
    n_generic = num_features - n_stage_kw
    if n_generic > len(generic):
        generic += [f"word{i}" for i in range(n_generic - len(generic))]
    generic = generic[:n_generic]
    stage_kw = {s: STAGE_KEYWORDS[s][:keywords_per_stage] for s in STAGES}
    keywords = [w for s in STAGES for w in stage_kw[s]] + generic
    keywords = [keywords[i] for i in rng.permutation(len(keywords))]
    kw_index = {w: i for i, w in enumerate(keywords)}

    planted = _planted_ids(num_nodes, subforums_per_stage, rng)
    node_stage = {v: s for s, ids in planted.items() for v in ids}
    general = np.array([v for v in range(num_nodes) if v not in node_stage])
    feats = np.zeros((num_nodes, num_features), np.float32)
    all_stage_kw = [w for s in STAGES for w in stage_kw[s]]
    for v in range(num_nodes):
        for w in rng.choice(generic, size=min(8, len(generic)), replace=False):
            feats[v, kw_index[w]] = 1
        if v in node_stage:
            kws = stage_kw[node_stage[v]]
            on = rng.random(len(kws)) < 0.85
            if on.sum() < 2:
                on[rng.choice(len(kws), size=min(2, len(kws)), replace=False)] = True
            for w, o in zip(kws, on):
                if o:
                    feats[v, kw_index[w]] = 1
        if rng.random() < 0.15:
            feats[v, kw_index[rng.choice(all_stage_kw)]] = 1
    hot = None
    if signal == "temporal":
        feats, hot = _temporal_features(feats, rng, planted, general, generic, stage_kw, kw_index,
                                        time_steps, hot_subforums_per_stage, hot_persistence)

    all_transitions, sequences, episodes = [], [], []
    for _ in range(num_users):
        m = 1 + rng.binomial(max_stages - 1, 0.4)
        s = 0 if rng.random() < 0.85 else int(rng.choice([1, 5]))
        stages = [s]
        for _ in range(m - 1):
            s = int(rng.choice(len(STAGES), p=_TRANSITIONS[s]))
            stages.append(s)
        # Timeline.
        month = int(rng.integers(0, max(1, time_steps // 4)))
        eps, gaps = [], []
        for j, s in enumerate(stages):
            if j > 0:
                lo = max(gap_months[0], 1 if stages[j - 1] == s else 0)
                g = int(rng.integers(lo, max(lo, gap_months[1]) + 1))
                gaps.append((month, month + g, rng.random() < silent_gap_prob))
                month += g
            if month >= time_steps:
                break
            d = int(rng.integers(episode_months[0], episode_months[1] + 1))
            eps.append((STAGES[s], month, min(month + d, time_steps) - 1))
            month += d
        if not eps:  # start month always < T, so at least one episode exists
            raise RuntimeError("internal: empty episode list")
        month_stage = {}
        for st, a, b in eps:
            for t in range(a, b + 1):
                month_stage[t] = st
        active = set(month_stage)
        for a, b, silent in gaps:
            if not silent:
                active.update(t for t in range(a, min(b, time_steps)))
        tail = int(rng.integers(0, 4))
        last = eps[-1][2]
        active.update(t for t in range(last + 1, min(last + 1 + tail, time_steps)))
        favourites = rng.choice(general, size=min(3, len(general)), replace=False)
        months = [[] for _ in range(time_steps)]
        prev = None
        for t in sorted(active):
            st = month_stage.get(t)
            visits = []
            for _ in range(1 + rng.poisson(visits_per_month)):
                r = rng.random()
                where = planted if hot is None else hot[t]  # where each stage is discussed
                if st is not None and r < p_stage:
                    v = int(rng.choice(where[st]))
                elif st is not None and r < p_stage + p_other_stage:
                    other = STAGES[int(rng.choice([i for i in range(len(STAGES))
                                                   if STAGES[i] != st]))]
                    v = int(rng.choice(where[other]))
                elif rng.random() < 0.7:
                    v = int(rng.choice(favourites))
                else:
                    v = int(rng.choice(general))
                visits.append(v)
            if transitions == "most_active":
                counts = collections.Counter(visits)
                top = max(counts.values())
                visits = [next(v for v in visits if counts[v] == top)]
            for v in visits:
                if prev is not None and v != prev:
                    months[t].append((prev, v))
                prev = v
        all_transitions.append(months)
        sequences.append([e[0] for e in eps])
        episodes.append(eps)
    gt = {"planted_subforums": planted, "stage_keywords": stage_kw, "episodes": episodes,
          "stage_keyword_ids": sorted(kw_index[w] for w in all_stage_kw),
          "planted_ids": sorted(node_stage), "signal": signal}
    if hot is not None:
        gt["hot_subforums"] = hot
    return ForumData(num_nodes, time_steps, keywords, feats, all_transitions, sequences, gt)


def _temporal_features(static, rng, planted, general, generic, stage_kw, kw_index, time_steps,
                       per_stage, persistence):
    """Per-month features ``[T, N, D]`` and the month's stage subforums (docstring step 5).

    Returns ``(features, hot)`` with ``hot[t][stage]`` = planted + that month's hot
    general subforums of the stage.
    """
    n, d = static.shape
    gen_ids = [kw_index[w] for w in generic]
    all_stage_kw = [w for s in STAGES for w in stage_kw[s]]
    slots = {s: [int(v) for v in rng.choice(general, size=min(per_stage, len(general)),
                                             replace=False)] for s in STAGES}
    feats = np.zeros((time_steps, n, d), np.float32)
    hot = []
    for t in range(time_steps):
        if t > 0:
            for s in STAGES:
                for j, v in enumerate(slots[s]):
                    if rng.random() >= persistence:
                        free = [int(g) for g in general if g not in slots[s]]
                        if free:
                            slots[s][j] = int(rng.choice(free))
        # Generic content drifts: each base generic word kept w.p. 0.9, one extra w.p. 0.5.
        base = static.copy()
        base[:, gen_ids] *= rng.random((n, len(gen_ids))) < 0.9
        for v in range(n):
            if rng.random() < 0.5:
                base[v, gen_ids[int(rng.integers(len(gen_ids)))]] = 1
            if rng.random() < 0.1:
                base[v, kw_index[rng.choice(all_stage_kw)]] = 1
        for s in STAGES:
            kws = [kw_index[w] for w in stage_kw[s]]
            for v in slots[s]:
                on = rng.random(len(kws)) < 0.85
                if on.sum() < 2:
                    on[rng.choice(len(kws), size=min(2, len(kws)), replace=False)] = True
                base[v, np.asarray(kws)[on]] = 1
        feats[t] = base
        hot.append({s: list(planted[s]) + list(slots[s]) for s in STAGES})
    return feats, hot


def _node_id(value, where, field):
    """An integer node id (a JSON int or an integer string: JSON object keys are strings)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError(f"{where}: {field} must be integer node ids; got {type(value).__name__} {value!r}.")


def _check_record(rec, where):
    """Validate one JSON-lines record's structure → canonical ``(seq, g_ids, features, adjseq)``.

    ``features`` is ``{node: text}`` or ``{month: {node: text}}`` (int keys) and
    ``adjseq`` a list of ``[(src, [dst, ...]), ...]`` per month; raises
    ``ValueError`` naming ``where`` (file and line) and the field.
    """
    if not isinstance(rec, dict):
        raise ValueError(f"{where}: each line must be a JSON object with seq, g_ids, g_ids_features and "
                         f"g_adjseq; got a JSON {type(rec).__name__}.")
    for key in ("seq", "g_ids", "g_ids_features", "g_adjseq"):
        if key not in rec:
            raise ValueError(f"{where}: missing field {key!r}.")
    if not isinstance(rec["seq"], str):
        raise ValueError(f"{where}: `seq` must be a string of stage names separated by spaces; got "
                         f"{type(rec['seq']).__name__} {rec['seq']!r}.")
    if not isinstance(rec["g_ids"], list):
        raise ValueError(f"{where}: `g_ids` must be a list of integer node ids; got "
                         f"{type(rec['g_ids']).__name__} {rec['g_ids']!r}.")
    g_ids = [_node_id(g, where, "`g_ids` entries") for g in rec["g_ids"]]

    def texts(mapping, field):
        out = {}
        for node, text in mapping.items():
            if not isinstance(text, str):
                raise ValueError(f"{where}: `{field}[{node!r}]` must be a string of keywords; got "
                                 f"{type(text).__name__} {text!r}.")
            out[_node_id(node, where, f"`{field}` keys")] = text
        return out

    raw = rec["g_ids_features"]
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: `g_ids_features` must be an object; received {type(raw).__name__}.")
    kinds = {isinstance(v, dict) for v in raw.values()}
    if len(kinds) > 1:
        raise ValueError(f"{where}: `g_ids_features` mixes per-month objects and keyword strings; use "
                         "{node: text} or {month: {node: text}}.")
    if kinds == {True}:
        features = {}
        for t_key, mapping in raw.items():
            if not (isinstance(t_key, str) and re.fullmatch(r"\s*\d+\s*", t_key)):
                raise ValueError(f"{where}: `g_ids_features` month {t_key!r} must be a non-negative integer.")
            features[int(t_key)] = texts(mapping, f"g_ids_features[{t_key!r}]")
    else:
        features = texts(raw, "g_ids_features")
    adj = rec["g_adjseq"]
    if not isinstance(adj, list):
        raise ValueError(f"{where}: `g_adjseq` must be a list of monthly snapshots {{src: [dst, ...]}}; got "
                         f"{type(adj).__name__}.")
    adjseq = []
    for t, snap in enumerate(adj):
        if not isinstance(snap, dict):
            raise ValueError(f"{where}: g_adjseq[{t}] must be an object {{src: [dst, ...]}}.")
        month = []
        for src, dsts in snap.items():
            s = _node_id(src, where, f"`g_adjseq[{t}]` keys")
            if not isinstance(dsts, list):
                raise ValueError(f"{where}: `g_adjseq[{t}][{src!r}]` must be a list of destination node ids; "
                                 f"got {type(dsts).__name__} {dsts!r}.")
            month.append((s, [_node_id(d, where, f"`g_adjseq[{t}][{src!r}]` entries") for d in dsts]))
        adjseq.append(month)
    return rec["seq"], g_ids, features, adjseq


def _parse_features(features, node_index, keywords, time_steps, where):
    """Canonical features (see :func:`_check_record`) → ``[N, D]`` or ``[T, N, D]`` bag-of-words."""
    kw_index = {w: i for i, w in enumerate(keywords)}
    n = len(node_index)

    def bow(mapping, field):
        out = np.zeros((n, len(keywords)), np.float32)
        for node, text in mapping.items():
            if node not in node_index:
                raise ValueError(f"{where}: {field} names node {node!r} that is not in g_ids.")
            for w in text.split():
                j = kw_index.get(w)
                if j is not None:
                    out[node_index[node], j] = 1
        return out

    per_month = bool(features) and all(isinstance(v, dict) for v in features.values())
    if not per_month:
        return bow(features, "g_ids_features")
    out = np.zeros((time_steps, n, len(keywords)), np.float32)
    for t, mapping in features.items():
        if not 0 <= t < time_steps:
            raise ValueError(f"{where}: g_ids_features month {t!r} is outside 0..{time_steps - 1}.")
        out[t] = bow(mapping, f"g_ids_features[{t!r}]")
    return out


def _feature_words(features):
    words = collections.Counter()
    for v in features.values():
        if isinstance(v, dict):
            for text in v.values():
                words.update(text.split())
        else:
            words.update(v.split())
    return words


def load_forum_jsonl(path, time_steps=None, keywords=None, num_keywords=100, adjseq="cumulative",
                     stages=STAGES, max_stages=14):
    """Read users in the forum JSON-lines schema (module docstring) into :class:`ForumData`.

    Args:
        path: the ``.jsonl`` file.
        time_steps: expected T (default: that of the first line; every line
            must match).
        keywords: feature vocabulary; default the ``num_keywords`` most frequent
            words in ``g_ids_features`` (ties alphabetical).
        num_keywords: D when ``keywords`` is None (thesis: 100).
        adjseq: ``"cumulative"`` (schema; each month lists all transitions so
            far, counts must never decrease) or ``"monthly"`` (each month lists
            only that month's transitions).
        stages: allowed stage tokens (``None``: collect them from the file in
            order of first appearance).
        max_stages: longest accepted stage sequence (decoder max length 15
            minus EOS = 14).

    Returns:
        :class:`ForumData` (``ground_truth=None``); node ids are the positions
        of the sorted union of all ``g_ids``.

    Raises:
        ValueError: naming the file, the line (blank lines count) and the
            field, for garbled JSON, a line that is not an object, missing
            fields, wrongly typed fields (``seq`` not a string, ``g_ids`` or a
            destination list not a list — a string would be iterated
            character by character), non-integer node ids or months, and the
            schema violations listed in the module docstring.
    """
    from keras_egl.validation import check_choice, check_positive_int

    adjseq = check_choice(adjseq, ("cumulative", "monthly"), "adjseq")
    if time_steps is not None:
        time_steps = check_positive_int(time_steps, "time_steps")
    if keywords is None:
        num_keywords = check_positive_int(num_keywords, "num_keywords")
    max_stages = check_positive_int(max_stages, "max_stages")
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not a UTF-8 text file ({exc}).") from None
    # split("\n"), not splitlines(): JSON strings may hold U+2028 etc., which would shift line numbers.
    numbered = [(i, ln) for i, ln in enumerate(text.split("\n"), 1) if ln.strip()]
    if not numbered:
        raise ValueError(f"{path}: no records.")
    recs, wheres = [], []
    for i, ln in numbered:
        where = f"{path}, line {i}"
        try:
            rec = json.loads(ln)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise ValueError(f"{where}: not valid JSON ({exc}).") from None
        recs.append((rec, _check_record(rec, where)))
        wheres.append(where)
    node_ids = sorted({g for _, (_, g_ids, _, _) in recs for g in g_ids})
    node_index = {g: i for i, g in enumerate(node_ids)}
    first_raw, (_, _, first_features, first_adj) = recs[0]
    t_steps = time_steps if time_steps is not None else len(first_adj)
    if keywords is None:
        counts = _feature_words(first_features)
        keywords = [w for w, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:num_keywords]
    keywords = list(keywords)
    features = _parse_features(first_features, node_index, keywords, t_steps, wheres[0])
    if stages is None:
        seen = []
        for _, (seq, _, _, _) in recs:
            for tok in seq.split():
                if tok not in seen:
                    seen.append(tok)
        stages = seen
    vocab = StageVocab(stages)
    transitions, sequences = [], []
    for where, (raw, (seq_text, g_ids, feats_raw, adj)) in zip(wheres, recs):
        if len(adj) != t_steps:
            raise ValueError(f"{where}: g_adjseq has {len(adj)} months; expected {t_steps} (all users must share T).")
        if raw is not first_raw and raw["g_ids_features"] != first_raw["g_ids_features"]:
            feats_i = _parse_features(feats_raw, node_index, keywords, t_steps, where)
            if feats_i.shape != features.shape or not np.array_equal(feats_i, features):
                raise ValueError(f"{where}: g_ids_features differ from line 1; subforum features "
                                 "must be shared by all users.")
        own = set(g_ids)
        seq = seq_text.split()
        if not seq:
            raise ValueError(f"{where}: empty stage sequence 'seq'.")
        if len(seq) > max_stages:
            raise ValueError(f"{where}: 'seq' has {len(seq)} stages > max_stages={max_stages}.")
        try:
            vocab.encode(seq)
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
        prev = collections.Counter()
        months = []
        for t, snap in enumerate(adj):
            cur = collections.Counter()
            order = []
            for src, dsts in snap:
                for d in dsts:
                    for node in (src, d):
                        if node not in own:
                            raise ValueError(f"{where}: g_adjseq[{t}] names node {str(node)!r} "
                                             "that is not in g_ids.")
                    e = (node_index[src], node_index[d])
                    cur[e] += 1
                    order.append(e)
            if adjseq == "monthly":
                months.append(order)
                continue
            lost = [e for e in prev if cur[e] < prev[e]]
            if lost:
                raise ValueError(f"{where}: g_adjseq[{t}] drops transitions present in month "
                                 f"{t - 1} (e.g. {lost[0]}); with adjseq='cumulative' snapshots "
                                 "must include all earlier transitions (use adjseq='monthly').")
            seen = collections.Counter()
            new = []
            for e in order:
                seen[e] += 1
                if seen[e] > prev[e]:
                    new.append(e)
            months.append(new)
            prev = cur
        transitions.append(months)
        sequences.append(seq)
    data = ForumData(len(node_ids), t_steps, keywords, features, transitions, sequences, None)
    data.node_names = [str(g) for g in node_ids]
    data.stages = list(stages)
    return data


__all__ = ["STAGES", "SPECIAL_TOKENS", "StageVocab", "ForumData", "generate_synthetic_forum",
           "load_forum_jsonl", "split_indices"]
