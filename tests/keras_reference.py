"""Calling real Keras 3 (TensorFlow backend) and comparing lossbounds with it."""

from __future__ import annotations

import contextlib
import warnings

import keras
import numpy as np
from compare import assert_close  # noqa: F401  (re-exported for the tests)

from lossbounds.registry import all_losses

assert keras.backend.backend() == "tensorflow", "the reference is Keras 3 on TensorFlow"

# Keras' class of each loss, from lossbounds' definitions (one place per fact).
CLASS_NAMES = {loss.name: loss.class_name for loss in all_losses()}


@contextlib.contextmanager
def keras_epsilon(epsilon: float):
    """Keras' clip epsilon is a global setting read at call time."""
    previous = keras.config.epsilon()
    keras.config.set_epsilon(epsilon)
    try:
        yield
    finally:
        keras.config.set_epsilon(previous)


def run(call):
    """``("value", result)`` or ``("error", exception)`` for a Keras call."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except Exception as error:  # Keras raises many kinds; we only record it
        return "error", error
    return "value", np.asarray(result)


def keras_function(name, y_true, y_pred, *, epsilon=1e-7, **options):
    function = getattr(keras.losses, name)
    with keras_epsilon(epsilon):
        return run(lambda: function(y_true, y_pred, **options))


def keras_class(name, y_true, y_pred, *, sample_weight=None, reduction="sum_over_batch_size",
                dtype=None, epsilon=1e-7, **options):
    cls = getattr(keras.losses, CLASS_NAMES[name])
    kwargs = dict(options, reduction=reduction)
    if dtype is not None:
        kwargs["dtype"] = dtype
    with keras_epsilon(epsilon):
        return run(lambda: cls(**kwargs)(y_true, y_pred, sample_weight=sample_weight))


def ours(call):
    """Like `run`, for lossbounds: only ValueError and TypeError are allowed."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "value", call()
    except (ValueError, TypeError) as error:
        assert str(error), "error messages must not be empty"
        return "error", error
