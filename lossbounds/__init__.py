"""lossbounds: exact Keras loss values in numpy, with proven bounds.

>>> import lossbounds
>>> lossbounds.baseline("sparse_cce", n_classes=7)  # ln 7: an untrained 7-class model
1.9459101490553132
"""

from . import losses
from .bounds import Bounds, baseline, best_case, bounds, prior_baseline, worst_case
from .checks import EPSILON
from .diagnose import Finding, diagnose
from .explain import Explanation, explain
from .fused import accelerator, accelerator_enabled, set_accelerator
from .logs import TrainingLog, read_keras_log
from .losses import *  # noqa: F403 - loss(), LossMeter and every loss's per-sample function
from .registry import available_losses

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
    "available_losses",
    "accelerator",
    "accelerator_enabled",
    "set_accelerator",
]
__all__ += losses.__all__
