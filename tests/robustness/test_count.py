"""Guard against the bad-input suite shrinking.

Every table-driven module here holds ``CASES`` (rows of :class:`tests.robustness._cases.Case`);
``test_loaders.py`` predates the tables and is counted by its (parametrized) tests.
"""

import collections
import importlib
import pathlib

HERE = pathlib.Path(__file__).parent
MINIMUM_TOTAL = 250      # with the loaders; the tables alone hold well over 200 rows
MINIMUM_PER_API = 5      # rows per public API object a table covers


def _table_modules():
    for path in sorted(HERE.glob("test_*.py")):
        if path.stem != "test_count" and "\nCASES = [" in path.read_text(encoding="utf-8"):
            yield path.stem, importlib.import_module(f"tests.robustness.{path.stem}")


def _collected_cases(module):
    """Number of test items of a module without a table (parametrize marks expanded)."""
    total = 0
    for name, fn in vars(module).items():
        if not name.startswith("test_") or not callable(fn):
            continue
        n = 1
        for mark in getattr(fn, "pytestmark", []):
            if mark.name == "parametrize":
                n *= len(mark.args[1])
        total += n
    return total


def test_suite_holds_enough_cases():
    tables = dict(_table_modules())
    counts = {name: len(module.CASES) for name, module in tables.items()}
    loaders = _collected_cases(importlib.import_module("tests.robustness.test_loaders"))
    total = sum(counts.values()) + loaders
    assert len(counts) >= 8, f"table modules missing: {sorted(counts)}"
    assert sum(counts.values()) >= 200, counts
    assert total >= MINIMUM_TOTAL, f"{total} cases ({counts}, loaders {loaders}); expected >= {MINIMUM_TOTAL}"


def test_every_covered_api_has_enough_cases():
    thin = {}
    for name, module in _table_modules():
        per_api = collections.Counter(c.api for c in module.CASES)
        thin.update({f"{name}:{api}": n for api, n in per_api.items() if n < MINIMUM_PER_API})
    assert not thin, f"APIs with fewer than {MINIMUM_PER_API} bad-input cases: {thin}"


def test_case_ids_are_unique():
    seen = collections.Counter(f"{name}:{c.api}-{c.what}" for name, module in _table_modules() for c in module.CASES)
    assert not [k for k, n in seen.items() if n > 1], [k for k, n in seen.items() if n > 1]
