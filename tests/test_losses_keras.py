"""lossbounds against live Keras 3 (TensorFlow backend), with hypothesis.

For every input on which Keras returns a value, lossbounds must return the
same shape and dtype and agree elementwise to ``1e-6 * max(1, |keras|)``;
where Keras raises, lossbounds must raise ValueError or TypeError. Each loss
runs 600 function-API and 600 class-API examples.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import assert_close, keras_class, keras_function, ours
from strategies import (
    EPSILONS,
    LABEL_SMOOTHING,
    binary_targets,
    categorical_targets,
    class_dtypes,
    class_shapes,
    dtypes,
    predictions,
    reductions,
    regression_pair,
    sample_weights,
    sparse_labels,
)

import lossbounds

EXAMPLES = 600
LOSSES = (
    "mean_squared_error",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
)


def _axis(data, ndim):
    return data.draw(st.one_of(st.just(-1), st.integers(-ndim, ndim - 1)), label="axis")


def draw_case(data, name):
    """``(y_true, y_pred, options, loss_shape)`` for one loss."""
    dtype = data.draw(dtypes, label="dtype")
    if name == "mean_squared_error":
        y_true, y_pred = data.draw(regression_pair(dtype))
        loss_shape = np.broadcast_shapes(y_true.shape, y_pred.shape)[:-1]
        return y_true, y_pred, {}, loss_shape
    from_logits = data.draw(st.booleans(), label="from_logits")
    shape = data.draw(class_shapes())
    y_pred = data.draw(predictions(shape, dtype, from_logits))
    options = {"from_logits": from_logits}
    if name == "sparse_categorical_crossentropy":
        ignore_class = data.draw(st.sampled_from([None, None, -1, 0, 255]), label="ignore_class")
        y_true = data.draw(sparse_labels(shape, ignore_class=ignore_class))
        if ignore_class is not None:
            options["ignore_class"] = ignore_class
        return y_true, y_pred, options, shape[:-1]
    target_dtype = data.draw(st.sampled_from([dtype, np.float32, np.float64]), label="y_true dtype")
    targets = binary_targets if name == "binary_crossentropy" else categorical_targets
    y_true = data.draw(targets(shape, target_dtype))
    options["label_smoothing"] = data.draw(LABEL_SMOOTHING, label="label_smoothing")
    axis = _axis(data, len(shape))
    options["axis"] = axis
    loss_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    return y_true, y_pred, options, loss_shape


def check_against_keras(expected, actual, context):
    kind, value = expected
    our_kind, our_value = actual
    if kind == "error":
        assert our_kind == "error", (
            f"{context}: Keras raised {type(value).__name__}: {value}, lossbounds "
            f"returned {our_value!r}")
        return
    assert our_kind == "value", f"{context}: Keras returned {value!r}, lossbounds raised {our_value!r}"
    assert_close(our_value, value, context=context)


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_function_matches_keras(name, data):
    y_true, y_pred, options, _ = draw_case(data, name)
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_function(name, y_true, y_pred, epsilon=epsilon, **options)
    actual = ours(lambda: getattr(lossbounds, name)(y_true, y_pred, epsilon=epsilon, **options))
    check_against_keras(expected, actual, f"{name}{options}")


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_class_matches_keras(name, data):
    y_true, y_pred, options, loss_shape = draw_case(data, name)
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")
    dtype = data.draw(class_dtypes, label="class dtype")
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_class(name, y_true, y_pred, sample_weight=sample_weight,
                           reduction=reduction, dtype=dtype, epsilon=epsilon, **options)
    extra = {} if dtype is None else {"dtype": dtype}
    actual = ours(lambda: lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                                          reduction=reduction, epsilon=epsilon, **extra, **options))
    check_against_keras(expected, actual, f"{name} {reduction} {dtype} {options}")
