"""Reading a loss: `explain` (one value) and `diagnose` (a training log), in one namespace.

The two live in `lossbounds.explain` and `lossbounds.diagnose`; this module
gathers what they make public, as earlier versions did.
"""

from .diagnose import (
    ACCURACY_ATOL,
    LEVEL_EPOCHS,
    MIN_TREND_EPOCHS,
    NOISE_UNITS,
    SEVERITIES,
    TREND_ALPHA,
    Finding,
    diagnose,
)
from .explain import (
    BASELINE_RTOL,
    FAR_BETTER,
    FLOAT32_RTOL,
    MIN_ERROR_GAP,
    PLATEAU_ATOL,
    PRINT_ATOL,
    Explanation,
    Flag,
    explain,
)

__all__ = [
    "ACCURACY_ATOL",
    "BASELINE_RTOL",
    "FAR_BETTER",
    "FLOAT32_RTOL",
    "LEVEL_EPOCHS",
    "MIN_ERROR_GAP",
    "MIN_TREND_EPOCHS",
    "NOISE_UNITS",
    "PLATEAU_ATOL",
    "PRINT_ATOL",
    "SEVERITIES",
    "TREND_ALPHA",
    "Explanation",
    "Finding",
    "Flag",
    "diagnose",
    "explain",
]
