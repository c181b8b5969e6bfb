"""Every loss, from one table: adding a loss adds a row, and these properties run on it.

As scipy's tests run every distribution from one list, each row says how to
make valid inputs for one loss and which options to try; the tests below are
generic:

- the table covers every registered loss, and every name finds its loss;
- the per-sample function and ``loss()`` agree with live Keras (TensorFlow);
- Keras' values lie within [best, worst];
- best <= prior <= uniform <= worst;
- junk input gets a TypeError or ValueError that names the argument;
- ``explain``, ``diagnose`` and ``LossMeter`` work on the loss.

The deeper, loss-specific tests (edges, dtypes, every weight shape, the
derivations) are in test_losses_keras.py, test_bounds.py and test_kernels.py.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from accelerated import accelerator
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function
from loss_table import CASES, ROWS, assert_within_bounds, case_inputs, inputs, row_cases

import lossbounds
from lossbounds.registry import all_losses, get_loss

# --------------------------------------------------------------------------
# The table and the names


def test_the_table_has_every_loss():
    assert set(ROWS) == {loss.name for loss in all_losses()}


@pytest.mark.parametrize("name", list(ROWS))
def test_every_name_finds_its_loss(name):
    definition = get_loss(name)
    for alias in definition.names():
        assert get_loss(alias) is definition
        assert get_loss(alias.upper().replace("_", "-")) is definition  # case, separators
    assert getattr(lossbounds, name) is definition.function
    assert definition.function.__name__ == name
    # Keras' own function and class names
    assert callable(getattr(keras.losses, name))
    assert isinstance(getattr(keras.losses, definition.class_name)(), keras.losses.Loss)


# --------------------------------------------------------------------------
# Agreement with Keras, and the bounds


@pytest.mark.parametrize(("name", "index"), CASES)
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 2, 3, 10]))
def test_agrees_with_keras(name, index, seed, k):
    y_true, y_pred, options = case_inputs(name, index, seed, k)
    kind, expected = keras_function(name, y_true, y_pred, **options)
    if "ignore_class" not in options:  # the function API of Keras has no ignore_class mask
        assert kind == "value", expected
        assert_close(getattr(lossbounds, name)(y_true, y_pred, **options), expected,
                     context=name, rtol=ROWS[name].rtol, atol=ROWS[name].atol)
    kind, expected = keras_class(name, y_true, y_pred, **options)
    assert kind == "value", expected
    assert_close(lossbounds.loss(name, y_true, y_pred, **options), expected, context=name,
                 rtol=ROWS[name].rtol, atol=ROWS[name].atol)


@pytest.mark.parametrize(("name", "index"), row_cases())
@pytest.mark.parametrize("shape", [(-1,), (2, -1)], ids=["1-d", "two rows"])
@pytest.mark.parametrize("accelerated", [False, True], ids=["numpy", "compiled"])
def test_rows_wider_than_a_block_agree_with_keras(name, index, shape, accelerated):
    # 140 rows of 4099 classes end to end: rows of 573,860 and 286,930 values. A row
    # of terms wider than a block (2**18 values) is computed a segment at a time.
    y_true, y_pred, options = case_inputs(name, index, seed=index, k=4_099)
    y_true, y_pred = (np.concatenate([x] * 18)[:140].reshape(shape) for x in (y_true, y_pred))
    kind, expected = keras_class(name, y_true, y_pred, **options)
    assert kind == "value", expected
    with accelerator(accelerated):
        assert_close(lossbounds.loss(name, y_true, y_pred, **options), expected,
                     context=f"{name} {options} {y_pred.shape}",
                     rtol=ROWS[name].rtol, atol=ROWS[name].atol)
        kind, expected = keras_function(name, y_true, y_pred, **options)
        assert kind == "value", expected
        assert_close(getattr(lossbounds, name)(y_true, y_pred, **options), expected,
                     context=f"{name} {options} {y_pred.shape} per sample",
                     rtol=ROWS[name].rtol, atol=ROWS[name].atol)


@pytest.mark.parametrize(("name", "index"), CASES)
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 2, 3, 10]))
def test_keras_stays_within_the_bounds(name, index, seed, k):
    y_true, y_pred, options = case_inputs(name, index, seed, k)
    kind, values = keras_function(name, y_true, y_pred, **options)
    assert kind == "value", values
    assert_within_bounds(name, values, y_pred.shape[-1], options)


@pytest.mark.parametrize(("name", "index"), CASES)
@settings(max_examples=10)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([2, 3, 10]))
def test_bounds_are_ordered(name, index, seed, k):
    y_true, y_pred, options = case_inputs(name, index, seed, k)
    bound_options = {**ROWS[name].bound_options(y_pred.shape[-1]), **options}
    b = lossbounds.bounds(name, y_true, **bound_options)
    values = [v for v in (b.best, b.prior, b.uniform, b.worst) if v is not None]
    assert (b.prior is not None) == ROWS[name].has_prior
    assert all(x <= y + 1e-9 * max(1.0, abs(y)) for x, y in zip(values, values[1:])), b


# --------------------------------------------------------------------------
# Junk input, and reading a value


@pytest.mark.parametrize("name", list(ROWS))
def test_junk_input_gets_a_clear_error(name):
    y_true, y_pred = inputs(name, 0, 3)
    function = getattr(lossbounds, name)
    with pytest.raises(TypeError, match="y_pred"):
        function(y_true, "junk")
    with pytest.raises(TypeError, match="y_pred"):
        lossbounds.loss(name, y_true, [["a", "b", "c"]])
    with pytest.raises(ValueError):
        function(y_true, y_pred[:5])  # 8 targets, 5 predictions
    with pytest.raises(TypeError, match="no option 'not_an_option'"):
        lossbounds.loss(name, y_true, y_pred, not_an_option=1)
    with pytest.raises(TypeError, match="no option 'not_an_option'.*Its options are"):
        lossbounds.bounds(name, not_an_option=1)
    with pytest.raises(ValueError, match="epsilon"):
        function(y_true, y_pred, epsilon=2.0)


@pytest.mark.parametrize("name", list(ROWS))
def test_explain_diagnose_and_meter_work(name):
    y_true, y_pred = inputs(name, 1, 3)
    options = ROWS[name].bound_options(y_pred.shape[-1])
    data = {"y_true": y_true} if ROWS[name].has_prior else {}  # baselines may need the targets
    value = lossbounds.loss(name, y_true, y_pred)
    e = lossbounds.explain(value, name, **options, **data)
    assert str(e) and e.loss == name and e.value == value
    b = lossbounds.bounds(name, **options, **data)
    # Halfway from the lower baseline to the best case (or, where the best case is -inf,
    # half the baseline's size below it): better than both baselines, nothing to flag.
    low = min(v for v in (b.uniform, b.prior) if v is not None)
    good = (b.best + low) / 2 if math.isfinite(b.best) else low - abs(low) / 2
    assert b.best <= good < low
    # (only what the loss itself reads in such a value may be flagged: a negative Poisson loss)
    definition = get_loss(name)
    own = {note.code for note in definition.value_flags(good, definition.setting(options))}
    assert set(lossbounds.explain(good, name, **options, **data).kinds) <= own
    history = {"loss": [low, (low + good) / 2, good], "val_loss": [low, (low + good) / 2, good]}
    findings = lossbounds.diagnose(history, name, **options, **data)
    assert all(f.severity == "info" for f in findings), findings
    meter = lossbounds.LossMeter(name)
    meter.update(y_true[:4], y_pred[:4])
    meter.update(y_true[4:], y_pred[4:])
    assert math.isclose(meter.result(), value, rel_tol=1e-6)
