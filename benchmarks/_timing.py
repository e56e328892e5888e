"""Shared timing helpers for the benchmarks.

Every benchmark module ``benchmarks/bench_*.py`` defines ``TITLE`` and
``run(quick: bool) -> list[dict]``; each dict is one table row with at least
``name`` and ``ratio`` (cost of the explanation-guided variant over its
baseline) plus free-form details. Costs are always *ratios measured in the same
process*, never absolute times asserted anywhere.
"""

import time

import numpy as np


def median_time(fn, repeats=20, warmup=3):
    """Median wall time of ``fn()`` in seconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def interleaved_ratio(fn_a, fn_b, repeats=20, warmup=3, rounds=3):
    """Median time of ``fn_a`` over that of ``fn_b``, measured in alternating rounds.

    Alternating cancels slow drifts of a shared 2-core machine. Returns
    ``(ratio, t_a, t_b)``.
    """
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(median_time(fn_a, repeats, warmup))
        tb.append(median_time(fn_b, repeats, warmup))
    a, b = float(np.median(ta)), float(np.median(tb))
    return a / b, a, b
