"""Every loss against live Keras on one backend: run by tests/test_backends.py, once per backend.

Keras fixes its backend when it is imported, so each backend runs in its own
process: ``LOSSBOUNDS_BACKEND=jax KERAS_BACKEND=jax python -m pytest
tests/on_backend.py`` (``LOSSBOUNDS_BACKEND=tf_keras`` imports legacy
tf.keras 2.x instead). The file is not named ``test_*.py``, so the main run
does not collect it; tests/test_backends.py runs it for tensorflow, jax,
torch, numpy and tf_keras and fails if any of its tests fails or is skipped.

For each loss, on the table's inputs (tests/loss_table.py) in float16,
float32 and float64, with exact edge values mixed in:

- the per-sample function with ``backend=`` equals Keras' function, dtype
  included (300 examples per loss);
- ``lossbounds.loss`` with ``backend=`` equals Keras' class, with every
  reduction, weights and compute dtype (300 examples per loss);
- Keras' values lie within the loss's bounds for that backend;
- where Keras raises, lossbounds raises a TypeError or ValueError.
"""

from __future__ import annotations

import numpy as np
import pytest
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import BACKEND, keras_class, keras_function, ours
from loss_table import ROWS, Row, assert_within_bounds, case_inputs

import lossbounds
from lossbounds.backends import get_backend
from lossbounds.registry import get_loss

#: Keras 3's reductions; legacy tf.keras has three of them (and "auto").
REDUCTIONS = (("sum_over_batch_size", "sum", "none") if BACKEND == "tf_keras" else
              ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None))
#: Loss classes take a compute dtype in Keras 3 only.
CLASS_DTYPES = (None,) if BACKEND == "tf_keras" else (None, "float16", "float32", "float64")
DTYPES = (np.float16, np.float32, np.float64)

#: The losses this backend has (legacy tf.keras 2.x lacks the newer ones).
NAMES = [name for name in ROWS if get_backend(BACKEND).has_loss(get_loss(name))]


def _tolerance(row: Row, dtype) -> tuple[float, float]:
    """The row's contract, widened to a few units of float16 where float16 is computed."""
    if np.dtype(dtype) == np.float16:
        return max(row.rtol, 4e-3), max(row.atol, 1e-3)
    return row.rtol, row.atol


def _with_edges(y_pred: np.ndarray, options: dict, draw_mask: np.ndarray, row: Row) -> np.ndarray:
    """`y_pred` with some entries replaced by the exact edges of its kind."""
    edges = row.edges(options)
    if not edges or y_pred.dtype.kind != "f":
        return y_pred
    y_pred = y_pred.copy()
    picks = np.asarray(edges, np.float64)[np.arange(draw_mask.sum()) % len(edges)]
    with np.errstate(over="ignore"):
        y_pred[draw_mask] = picks.astype(y_pred.dtype)
    return y_pred


def _case(name: str, index: int, seed: int, k: int, dtype, edges: bool):
    row = ROWS[name]
    y_true, y_pred, options = case_inputs(name, index % len(row.options), seed, k)
    if edges:
        mask = np.random.default_rng(seed + 1).random(y_pred.shape) < 0.25
        y_pred = _with_edges(y_pred, options, mask, row)
    with np.errstate(over="ignore"):
        if y_pred.dtype.kind == "f":
            y_pred = y_pred.astype(dtype)
        if y_true.dtype.kind == "f":
            y_true = y_true.astype(dtype)
    return row, y_true, y_pred, options


def _agree(got, expected, context, rtol, atol):
    kind, value = got
    expected_kind, expected_value = expected
    if expected_kind == "error":
        assert kind == "error", (
            f"{context}: Keras raised {type(expected_value).__name__}: {expected_value}; "
            f"lossbounds returned {value!r}")
        return
    assert kind == "value", f"{context}: Keras returned {expected_value!r}; lossbounds: {value}"
    assert_close(value, expected_value, context=context, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300)
@given(index=st.integers(0, 9), seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 2, 3, 10]),
       dtype=st.sampled_from(DTYPES), edges=st.booleans())
def test_function_agrees(name, index, seed, k, dtype, edges):
    row, y_true, y_pred, options = _case(name, index, seed, k, dtype, edges)
    if "ignore_class" in options:  # Keras' function has no ignore_class mask
        return
    expected = keras_function(name, y_true, y_pred, **options)
    function = getattr(lossbounds, name)
    got = ours(lambda: function(y_true, y_pred, backend=BACKEND, **options))
    rtol, atol = _tolerance(row, dtype)
    _agree(got, expected, f"{name} {options} {np.dtype(dtype).name} on {BACKEND}", rtol, atol)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=300)
@given(index=st.integers(0, 9), seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 2, 3, 10]),
       reduction=st.sampled_from(REDUCTIONS), weights=st.sampled_from([None, "scalar", "rows"]),
       dtype=st.sampled_from(CLASS_DTYPES), edges=st.booleans())
def test_class_agrees(name, index, seed, k, reduction, weights, dtype, edges):
    row, y_true, y_pred, options = _case(name, index, seed, k, np.float32, edges)
    weight = {None: None, "scalar": np.float32(0.5),
              "rows": np.random.default_rng(seed).random(len(y_pred)).astype(np.float32)}[weights]
    extra = {} if dtype is None else {"dtype": dtype}
    expected = keras_class(name, y_true, y_pred, sample_weight=weight, reduction=reduction,
                           **extra, **options)
    got = ours(lambda: lossbounds.loss(name, y_true, y_pred, sample_weight=weight,
                                       reduction=reduction, backend=BACKEND, **extra, **options))
    rtol, atol = _tolerance(row, dtype or np.float32)
    _agree(got, expected, f"{name} {options} {reduction} {dtype} on {BACKEND}", rtol, atol)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=50)
@given(index=st.integers(0, 9), seed=st.integers(0, 2**32 - 1), k=st.sampled_from([1, 2, 3, 10]))
def test_keras_stays_within_the_bounds(name, index, seed, k):
    row, y_true, y_pred, options = _case(name, index, seed, k, np.float32, False)
    kind, values = keras_function(name, y_true, y_pred, **options)
    assert kind == "value", values
    assert_within_bounds(name, values, y_pred.shape[-1], options, BACKEND)


@pytest.mark.parametrize("name", [name for name in NAMES if ROWS[name].extremes])
def test_keras_attains_the_best_and_the_worst_case(name):
    # Among inputs at the edges, Keras' least value is the best case and its greatest the
    # worst case on this backend (an unbounded worst case: Keras' values run past 1000).
    for options, y_true, y_pred in ROWS[name].extremes:
        kind, values = keras_function(name, y_true, y_pred, **options)
        assert kind == "value", (options, values)
        values = values.astype(np.float64).ravel()
        bound_options = {**ROWS[name].bound_options(y_pred.shape[-1]), **options,
                         "backend": BACKEND}
        best = lossbounds.best_case(name, **bound_options)
        worst = lossbounds.worst_case(name, **bound_options)
        context = f"{name} {options} on {BACKEND}"
        # The values' contract (1e-6 of max(1, |value|)): a best case near 1e-7 is the real
        # number Keras' float32 computation rounds (TensorFlow's sparse best for K = 3 is
        # 2.0e-7, which its float32 logs give as 2.38e-7).
        least, greatest = float(np.nanmin(values)), float(np.nanmax(values))
        assert_close(least, np.float64(best), context=f"{context}: best")
        if np.isinf(worst):
            assert greatest > 1000, (context, values)
        else:
            assert_close(greatest, np.float64(worst), context=f"{context}: worst")


def test_this_is_the_backend_asked_for():
    # A run on the wrong backend must not pass for this one.
    from keras_reference import keras

    if BACKEND == "tf_keras":
        assert keras.__version__.startswith("2."), keras.__version__
    else:
        assert keras.backend.backend() == BACKEND


if BACKEND != "tf_keras":  # lossbounds.keras reads Keras 3 models

    def test_the_keras_integration_reads_the_backend():
        import warnings

        from keras_reference import keras

        from lossbounds.keras import BoundsCallback, bounds_for

        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        model.compile(loss="sparse_categorical_crossentropy")
        found = bounds_for(model)
        expected = lossbounds.bounds("sparse_cce", n_classes=3, backend=BACKEND)
        assert found.options.get("backend", "tensorflow") == BACKEND
        assert (found.best, found.uniform, found.worst) == (
            expected.best, expected.uniform, expected.worst)
        if BACKEND == "numpy":  # Keras' NumPy backend does not train
            return
        rng = np.random.default_rng(0)
        x, y = rng.random((64, 4)).astype(np.float32), rng.integers(0, 3, 64)
        with warnings.catch_warnings(record=True):
            history = model.fit(x, y, epochs=2, verbose=0,
                                callbacks=[BoundsCallback(verbose=0, strict=True)])
        assert len(history.history["loss"]) == 2
