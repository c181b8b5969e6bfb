"""lossbounds: exact Keras loss values in numpy, with proven bounds.
"""

from ._validation import EPSILON
from .losses import (
    binary_crossentropy,
    categorical_crossentropy,
    loss,
    mean_squared_error,
    sparse_categorical_crossentropy,
)

__version__ = "0.1.0"

__all__ = [
    "EPSILON",
    "binary_crossentropy",
    "categorical_crossentropy",
    "loss",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]
