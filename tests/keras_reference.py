"""Calling real Keras and comparing lossbounds with it.

The reference is Keras 3 on TensorFlow, unless ``LOSSBOUNDS_BACKEND`` names
another backend: tests/test_backends.py runs tests/on_backend.py once per
backend, each in its own process (Keras fixes its backend at import), with
``KERAS_BACKEND`` set, or with legacy tf.keras 2.x (``tf_keras``) imported as
``keras``.
"""

from __future__ import annotations

import contextlib
import os
import warnings

import numpy as np
from compare import assert_close  # noqa: F401  (re-exported for the tests)

from lossbounds.registry import all_losses

#: The backend Keras runs on in this process, as lossbounds' `backend=` names it.
BACKEND = os.environ.get("LOSSBOUNDS_BACKEND", "tensorflow")

if BACKEND == "tf_keras":
    import tf_keras as keras  # legacy Keras 2 (it reads no KERAS_BACKEND)

    def _get_epsilon() -> float:
        return keras.backend.epsilon()

    def _set_epsilon(value: float) -> None:
        keras.backend.set_epsilon(value)
else:
    import keras

    assert keras.backend.backend() == BACKEND, (
        f"Keras runs on {keras.backend.backend()}, the tests expect {BACKEND}: "
        "set KERAS_BACKEND before Keras is imported")

    def _get_epsilon() -> float:
        return keras.config.epsilon()

    def _set_epsilon(value: float) -> None:
        keras.config.set_epsilon(value)

# Keras' class of each loss, from lossbounds' definitions (one place per fact).
CLASS_NAMES = {loss.name: loss.class_name for loss in all_losses()}


@contextlib.contextmanager
def keras_epsilon(epsilon: float):
    """Keras' clip epsilon is a global setting read at call time."""
    previous = _get_epsilon()
    _set_epsilon(epsilon)
    try:
        yield
    finally:
        _set_epsilon(previous)


def run(call):
    """``("value", result)`` or ``("error", exception)`` for a Keras call."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = call()
    except Exception as error:  # Keras raises many kinds; we only record it
        return "error", error
    return "value", to_numpy(result)


def to_numpy(result) -> np.ndarray:
    """A backend's tensor as a numpy array (a torch tensor through ``.numpy()``)."""
    if hasattr(result, "detach"):
        result = result.detach().cpu().numpy()
    return np.asarray(result)


def keras_function(name, y_true, y_pred, *, epsilon=1e-7, **options):
    function = getattr(keras.losses, name)
    with keras_epsilon(epsilon):
        kind, result = run(lambda: function(y_true, y_pred, **options))
        if BACKEND == "torch" and kind == "error" and isinstance(result, TypeError):
            # Some torch functions take tensors only (generalized cross-entropy):
            # call them as a PyTorch user does, with tensors.
            tensors = [keras.ops.convert_to_tensor(x) for x in (y_true, y_pred)]
            kind, result = run(lambda: function(*tensors, **options))
        return kind, result


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
