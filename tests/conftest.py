import gc
import os
import sys
from pathlib import Path

# Two logical CPU devices for the tf.distribute tests; must be set before TF starts.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import keras_egl  # noqa: E402,F401  (binds Keras 2 before anything imports TensorFlow)
from keras_egl._keras import tf  # noqa: E402

try:
    _cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:
    pass  # already initialised


import pytest  # noqa: E402

# Garbage collection. Python's automatic full collections in a test process that has
# built thousands of TF graphs took 15-80 s each, and with one explicit collection
# every 50 tests some still took 40-141 s of wall time at ~2 s of CPU: the process was
# waiting, not collecting. TensorFlow 2.21 destroys a tf.data iterator whose `fit`
# raised (the bad-input tests do this again and again) by waiting for its autotuning
# thread's timed sleep, which is longer the older the iterator (measured: freeing such
# an iterator 0-20 s old took 0.8-1.3 s with the collection, 90 s old 52 s;
# docs/performance.md). So every test's garbage is collected right after the test, while its
# iterators are young, and gc.freeze() then moves the survivors out of the collector's
# view so each collection only walks what the last test allocated. (logfinish runs
# after pytest has dropped the test's fixture values, so they are collected too.)
gc.disable()


def pytest_runtest_logfinish(nodeid, location):
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def mirrored_strategy():
    """One two-replica MirroredStrategy for the whole session.

    A second MirroredStrategy in the same process restarts its collective
    instance keys and collides with the first one's launched collectives
    ("Shape mismatch in the collective instance 100"), so every distributed
    test shares this one.
    """
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    return tf.distribute.MirroredStrategy(devices)


# Tests that never reach Keras (numpy data generators, loaders, analyses, the report
# harness): CI runs them once, in the Keras 3 leg; the tf_keras leg deselects them
# with -m "not binding_agnostic". tests/test_keras_binding.py checks that these
# modules import nothing that binds Keras behaviour.
BINDING_AGNOSTIC = ("tests/data/", "tests/data_prep/", "tests/analysis/", "tests/metrics/test_sequence.py",
                    "tests/robustness/test_data.py", "tests/robustness/test_loaders.py",
                    "tests/robustness/test_count.py", "tests/reproductions/test_harness.py")
# tests/test_keras_binding.py runs everything in subprocesses whose binding it sets
# itself (TF_USE_LEGACY_KERAS stripped or given), so the leg's binding does not matter.
BINDING_AGNOSTIC += ("tests/test_keras_binding.py",)
BINDING_AGNOSTIC_EXCEPT = ("tests/data/test_toy_colors.py",)  # trains an rrr_mlp


def pytest_collection_modifyitems(config, items):
    for item in items:
        rel = Path(str(item.fspath)).resolve().relative_to(ROOT).as_posix()
        if rel.startswith(BINDING_AGNOSTIC) and not rel.startswith(BINDING_AGNOSTIC_EXCEPT):
            item.add_marker(pytest.mark.binding_agnostic)
    # The end-to-end (`slow`) tests first, the README's (the longest) first of all:
    # collected in path order they came last, and with two xdist workers one
    # worker sat idle while the other finished a 1-2 minute test.
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None,
                                 not item.nodeid.startswith("tests/test_readme.py")))
