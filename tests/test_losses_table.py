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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import pytest
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function

import lossbounds
from lossbounds.registry import all_losses, get_loss

F32 = np.float32


def _probabilities(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    rows = rng.dirichlet(np.full(k, 0.5), n)
    rows[rng.random(n) < 0.2] = np.eye(k)[rng.integers(0, k, 1)]  # some exactly one-hot
    return rows.astype(F32)


def _onehot(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    return np.eye(k, dtype=F32)[rng.integers(0, k, n)]


@dataclass(frozen=True)
class Row:
    """How to exercise one loss."""

    name: str
    #: (rng, n, k) -> (y_true, y_pred): valid inputs, whose values lie within the bounds.
    inputs: Callable[[np.random.Generator, int, int], tuple[np.ndarray, np.ndarray]]
    #: Keras options to try (each with the per-sample function and the class).
    options: tuple[dict[str, Any], ...] = ({},)
    #: (k) -> the bound options that describe the inputs (n_classes, ranges).
    bound_options: Callable[[int], dict[str, Any]] = field(default=lambda k: {})
    #: Smallest K the loss takes.
    min_k: int = 1
    #: The exactness contract (see compare.assert_close): 1e-6 relative unless Keras is noisier.
    rtol: float = 1e-6
    atol: float = 0.0
    #: Does the loss have a prior baseline (a best constant prediction)?
    has_prior: bool = True


# One section per family module; each loss adds its row to its family's section.
TABLE = (
    # -- regression (families/regression.py)
    Row("mean_squared_error",
        lambda rng, n, k: (rng.random((n, k)).astype(F32), rng.random((n, k)).astype(F32)),
        bound_options=lambda k: {"n_classes": k, "y_range": (0.0, 1.0), "pred_range": (0.0, 1.0)}),
    # -- probabilistic (families/probabilistic.py)
    # -- similarity (families/similarity.py)
    # -- hinge (families/hinge.py)
    # -- crossentropy (families/crossentropy.py)
    Row("binary_crossentropy",
        lambda rng, n, k: (rng.integers(0, 2, (n, k)).astype(F32), rng.random((n, k)).astype(F32)),
        options=({}, {"label_smoothing": 0.2}, {"from_logits": True})),
    Row("categorical_crossentropy",
        lambda rng, n, k: (_onehot(rng, n, k), _probabilities(rng, n, k)),
        options=({}, {"label_smoothing": 0.1}, {"from_logits": True}),
        bound_options=lambda k: {"n_classes": k}, min_k=2),
    Row("sparse_categorical_crossentropy",
        lambda rng, n, k: (rng.integers(0, k, n), _probabilities(rng, n, k)),
        options=({}, {"from_logits": True}, {"ignore_class": 0}),
        bound_options=lambda k: {"n_classes": k}, min_k=2),
    # -- focal (families/focal.py)
    # -- segmentation (families/segmentation.py)
    # -- metric_learning (families/metric_learning.py)
    # -- sequence (families/sequence.py)
)
ROWS = {row.name: row for row in TABLE}
CASES = [(row.name, i) for row in TABLE for i in range(len(row.options))]


def inputs(name: str, seed: int, k: int, n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    row = ROWS[name]
    return row.inputs(np.random.default_rng(seed), n, max(k, row.min_k))


def as_logits(name: str, y_pred: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore"):
        if name == "binary_crossentropy":
            return np.clip(np.log(y_pred) - np.log1p(-y_pred), -1e4, 1e4).astype(F32)
        return np.clip(np.log(y_pred), -1e4, 1e4).astype(F32)


def case_inputs(name: str, index: int, seed: int, k: int):
    options = ROWS[name].options[index]
    y_true, y_pred = inputs(name, seed, k)
    if options.get("from_logits"):
        y_pred = as_logits(name, y_pred)
    return y_true, y_pred, options


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


@pytest.mark.parametrize(("name", "index"), CASES)
@settings(max_examples=15)
@given(seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 2, 3, 10]))
def test_keras_stays_within_the_bounds(name, index, seed, k):
    y_true, y_pred, options = case_inputs(name, index, seed, k)
    kind, values = keras_function(name, y_true, y_pred, **options)
    assert kind == "value", values
    bound_options = {**ROWS[name].bound_options(y_pred.shape[-1]), **options}
    bound_options.pop("ignore_class", None)
    best = lossbounds.best_case(name, **{k_: v for k_, v in bound_options.items() if k_ != "axis"})
    worst = lossbounds.worst_case(name, **bound_options)
    values = values.astype(np.float64)
    slack = 1e-6 * np.maximum(1.0, np.abs(values))
    assert np.all(values >= best - slack), (values.min(), best)
    assert np.all(values <= worst + slack), (values.max(), worst)


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
    value = lossbounds.loss(name, y_true, y_pred)
    e = lossbounds.explain(value, name, **options)
    assert str(e) and e.loss == name and e.value == value
    uniform = lossbounds.baseline(name, **options)
    half = lossbounds.explain(uniform / 2, name, **options)  # half of guessing: nothing to flag
    assert half.kinds == () and half.fraction_of_uniform == pytest.approx(0.5)
    history = {"loss": [uniform, 0.7 * uniform, 0.5 * uniform],
               "val_loss": [uniform, 0.7 * uniform, 0.5 * uniform]}
    assert all(f.severity == "info" for f in lossbounds.diagnose(history, name, **options))
    meter = lossbounds.LossMeter(name)
    meter.update(y_true[:4], y_pred[:4])
    meter.update(y_true[4:], y_pred[4:])
    assert math.isclose(meter.result(), value, rel_tol=1e-6)
