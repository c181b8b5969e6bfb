"""lossbounds: exact Keras loss values in numpy, with proven bounds.

>>> import lossbounds
>>> lossbounds.baseline("sparse_cce", n_classes=7)  # ln 7: an untrained 7-class model
1.9459101490553132
"""

from .bounds import Bounds, baseline, best_case, bounds, prior_baseline, worst_case
from .checks import EPSILON
from .diagnose import Finding, diagnose
from .explain import Explanation, explain
from .logs import TrainingLog, read_keras_log
from .losses import (
    LossMeter,
    binary_crossentropy,
    categorical_crossentropy,
    loss,
    mean_squared_error,
    sparse_categorical_crossentropy,
)

__version__ = "0.2.0.dev0"

__all__ = [
    "EPSILON",
    "Bounds",
    "baseline",
    "best_case",
    "bounds",
    "prior_baseline",
    "worst_case",
    "Explanation",
    "Finding",
    "diagnose",
    "explain",
    "TrainingLog",
    "read_keras_log",
    "binary_crossentropy",
    "categorical_crossentropy",
    "loss",
    "LossMeter",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]
