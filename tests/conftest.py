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
