"""Shared test set-up: hypothesis profiles and the Keras reference backend.

The Keras tests import Keras unconditionally: when the ``test`` extra is not
installed they fail at collection, they are never skipped.
"""

import os

# Keras reads these at import time: the reference is Keras 3 on TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from hypothesis import HealthCheck, settings  # noqa: E402

_COMMON = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
# The default, for everyone who runs `python -m pytest` (CI too): the same examples on
# every run, no example database, so a first run on a new machine is the run CI made.
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
# Random exploration, run on purpose: HYPOTHESIS_PROFILE=explore python -m pytest
settings.register_profile("explore", max_examples=1000, **_COMMON)
settings.register_profile("dev", **_COMMON)  # random examples, hypothesis' default counts
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
