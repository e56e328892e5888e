"""GNES cost ratios: batched training vs the original batch-size-1 design, EGL vs plain step.

* ``batched_vs_bs1``: time to train on 32 molecules with 32 ``train_on_batch``
  calls of one graph each (the authors' ``gcn_train`` loop, ``batch_size = 1``)
  over the time of one ``train_on_batch`` on the padded batch of the same 32
  graphs — i.e. the graphs/second speed-up of batching, same GNES model
  (full variant, code widths 256/128/64, second-order explanation losses).
* ``batched128_vs_bs1``: the same speed-up in graphs/second with batches of
  128 graphs.
* ``gnes_step_vs_plain``: one batched full-GNES step over one plain backbone
  step (cross-entropy only) on the same batch: the price of explanation
  supervision.

Real molecules from B3DB with rule masks (every graph labelled, the costliest
case). Ratios only; measured in the same process with interleaved rounds.
"""

import numpy as np

from benchmarks._timing import interleaved_ratio

TITLE = "GNES: batched vs batch-size-1 training (original design); GNES step vs plain step"


def _setup(n=32, big=128, seed=0):
    from keras_egl.data.molecules import RuleAnnotator, featurize_smiles, load_b3db, pad_batch

    smiles, labels = load_b3db()
    idx = np.random.default_rng(seed).choice(len(smiles), 2 * big, replace=False)
    graphs, _, _ = featurize_smiles([smiles[i] for i in idx], labels[idx], annotator=RuleAnnotator(),
                                    min_atoms=2, max_atoms=60)
    graphs = graphs[:big]
    for g in graphs:
        g.has_annotation = True
    batch = pad_batch(graphs[:n], 3)
    big_batch = pad_batch(sorted(graphs, key=lambda g: g.n_nodes), 3)
    singles = [pad_batch([g], 3) for g in graphs[:n]]
    return batch, big_batch, singles


def run(quick=False):
    from keras_egl.models.gnes import build_gnes

    batch, big_batch, singles = _setup()
    repeats, rounds = (2, 1) if quick else (5, 3)
    full = build_gnes(75, 2, fidelity="code", variant="full", seed=0)
    plain = build_gnes(75, 2, fidelity="code", variant="backbone", seed=0)
    for x, y in singles:  # trace every shape the bs-1 loop will meet (no retracing in the timing)
        full.train_on_batch(x, y)
    rows = []

    def bs1_loop():
        for x, y in singles:
            full.train_on_batch(x, y)

    def batched():
        full.train_on_batch(*batch)

    ratio, t1, tb = interleaved_ratio(bs1_loop, batched, repeats=repeats, warmup=1, rounds=rounds)
    rows.append(dict(name="batched_vs_bs1", ratio=ratio, graphs=len(singles), t_bs1_loop_s=t1, t_batched_s=tb,
                     speedup_graphs_per_s=ratio, note="ratio = (bs-1 loop time)/(batched time) = speed-up"))
    ratio, t1, tb = interleaved_ratio(bs1_loop, lambda: full.train_on_batch(*big_batch), repeats=repeats,
                                      warmup=1, rounds=rounds)
    nb = len(big_batch[1])
    rows.append(dict(name="batched128_vs_bs1", ratio=ratio * nb / len(singles), graphs_batched=nb,
                     t_bs1_per_graph_s=t1 / len(singles), t_batched_per_graph_s=tb / nb,
                     note="graphs/s of one 128-graph batch over graphs/s of the bs-1 loop"))
    ratio, tg, tp = interleaved_ratio(batched, lambda: plain.train_on_batch(*batch), repeats=repeats,
                                      warmup=2, rounds=rounds)
    rows.append(dict(name="gnes_step_vs_plain", ratio=ratio, batch=len(singles), t_gnes_s=tg, t_plain_s=tp,
                     note="cost of a full GNES step over a cross-entropy-only step"))
    return rows


if __name__ == "__main__":  # pragma: no cover
    for r in run(quick=True):
        print(r)
