"""Binary and categorical focal cross-entropy and the generalized cross-entropy, against live Keras.

- Values: hypothesis draws inputs that reach the edges (probabilities 0, 1,
  eps, 1 - eps, logits of 1e30, float16/32/64, every option, numpy-scalar
  options, every sample-weight shape and reduction), 300 examples per loss
  and per API. Where Keras returns a value lossbounds must return the same
  shape and dtype within ``1e-6 * max(1, |keras|)``; where Keras raises,
  lossbounds raises TypeError or ValueError; where lossbounds raises by design
  (Keras computes garbage), the test says which argument must be named.
- Bounds: constructed inputs make Keras return each claimed value (best,
  worst, uniform, prior); the priors are checked against brute-force
  minimisers written here (dense grids, scipy), independent of lossbounds.
- Junk input gets a clear error; the words `explain` uses for these losses
  never speak of bits.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import warnings

import keras
import numpy as np
import pytest
from accelerated import accelerator
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import assert_close, keras_class, keras_epsilon, keras_function, ours
from scipy import optimize
from strategies import (
    EPSILONS,
    LABEL_SMOOTHING,
    binary_targets,
    categorical_targets,
    class_dtypes,
    class_shapes,
    dtypes,
    predictions,
    probabilities,
    reductions,
    sample_weights,
    seeds,
)

import lossbounds
from lossbounds.registry import get_loss

BFCE = "binary_focal_crossentropy"
CFCE = "categorical_focal_crossentropy"
GCE = "categorical_generalized_cross_entropy"
EXAMPLES = 300
F32 = np.float32
EPS32 = float(F32(1e-7))  # the clip bounds Keras uses in float32
HIGH32 = float(F32(1 - 1e-7))  # 1 - 2**-23
L_MAX = -math.log(EPS32)  # 16.118095...

GAMMAS = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 2, 2.5, 5.0, np.float64(2.0),
                                    np.float32(1.5), np.int64(3)]), st.floats(0.0, 6.0))
BINARY_ALPHAS = st.one_of(st.sampled_from([0.0, 0.25, 0.5, 1.0]), st.floats(0.0, 1.0),
                          st.just(np.float64(0.3)))
# (Below q = 0.06 TensorFlow's float32 power, 1 ulp from numpy's on a quarter of inputs, is
# magnified by 1/q past 1e-6: see test_generalized_small_q_magnifies_float32_power.)
QS = st.one_of(st.floats(0.1, 0.99), st.sampled_from([0.5, 0.1, 0.9, np.float64(0.7),
                                                      np.float32(0.3), np.float64(0.02)]))


def keras_value(function, *args, **kwargs) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(function(*args, **kwargs))


def _axis(data, ndim):
    return data.draw(st.one_of(st.just(-1), st.integers(-ndim, ndim - 1)), label="axis")


def _outside_unit(x) -> bool:
    x = np.asarray(x, np.float64)
    with np.errstate(invalid="ignore"):
        return bool(np.any((x < 0) | (x > 1)))


def check(expected, actual, context, *, refused=None):
    """Keras' outcome against ours; `refused` names the argument where lossbounds raises by design."""
    kind, value = expected
    our_kind, our_value = actual
    if refused is not None:
        assert our_kind == "error" and isinstance(our_value, ValueError), (
            f"{context}: lossbounds should refuse {refused}, Keras gave {value!r}, we {our_value!r}")
        assert f"`{refused}`" in str(our_value), our_value
        return
    if kind == "error":
        assert our_kind == "error", (
            f"{context}: Keras raised {type(value).__name__}: {value}, lossbounds returned {our_value!r}")
        return
    assert our_kind == "value", f"{context}: Keras returned {value!r}, lossbounds raised {our_value!r}"
    assert_close(our_value, value, context=context)


# --------------------------------------------------------------------------
# Drawing cases


def draw_binary(data):
    dtype = data.draw(dtypes, label="dtype")
    from_logits = data.draw(st.booleans(), label="from_logits")
    shape = data.draw(class_shapes())
    y_pred = data.draw(predictions(shape, dtype, from_logits))
    target_dtype = data.draw(st.sampled_from([dtype, np.float32, np.float64]), label="y_true dtype")
    y_true = data.draw(binary_targets(shape, target_dtype))
    axis = _axis(data, len(shape))
    options = {
        "from_logits": from_logits,
        "label_smoothing": data.draw(LABEL_SMOOTHING, label="label_smoothing"),
        "axis": axis,
        "apply_class_balancing": data.draw(st.booleans(), label="apply_class_balancing"),
        "alpha": data.draw(BINARY_ALPHAS, label="alpha"),
        "gamma": data.draw(GAMMAS, label="gamma"),
    }
    loss_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    return y_true, y_pred, options, loss_shape


def binary_refused(y_true, y_pred, options, dtype):
    """The argument lossbounds refuses (Keras computes garbage), or None."""
    if _outside_unit(np.asarray(y_true).astype(dtype)):
        return "y_true"
    if not options["from_logits"] and _outside_unit(np.asarray(y_pred).astype(dtype)):
        return "y_pred"
    return None


def draw_categorical(data):
    dtype = data.draw(dtypes, label="dtype")
    from_logits = data.draw(st.booleans(), label="from_logits")
    shape = data.draw(class_shapes())
    k = shape[-1]
    y_pred = data.draw(predictions(shape, dtype, from_logits))
    target_dtype = data.draw(st.sampled_from([dtype, np.float32, np.float64]), label="y_true dtype")
    y_true = data.draw(categorical_targets(shape, target_dtype))
    rng = np.random.default_rng(data.draw(seeds))
    alpha = data.draw(st.sampled_from(["scalar", "scalar", "list", "array64", "array32", "one",
                                       "numpy"]), label="alpha kind")
    alpha = {
        "scalar": lambda: data.draw(st.one_of(st.sampled_from([0.25, 1.0, 0.0, 2]),
                                              st.floats(0.0, 3.0)), label="alpha"),
        "list": lambda: [float(a) for a in rng.random(k) * 2],
        "array64": lambda: rng.random(k) * 2,
        "array32": lambda: (rng.random(k) * 2).astype(np.float32),
        "one": lambda: [0.5],
        "numpy": lambda: np.float64(0.4),
    }[alpha]()
    axis = _axis(data, len(shape))
    options = {
        "alpha": alpha,
        "gamma": data.draw(GAMMAS, label="gamma"),
        "from_logits": from_logits,
        "label_smoothing": data.draw(LABEL_SMOOTHING, label="label_smoothing"),
        "axis": axis,
    }
    loss_shape = tuple(d for i, d in enumerate(shape) if i != axis % len(shape))
    return y_true, y_pred, options, loss_shape


def draw_generalized(data):
    dtype = data.draw(dtypes, label="dtype")
    shape = data.draw(class_shapes())
    k = shape[-1]
    rng = np.random.default_rng(data.draw(seeds))
    if data.draw(st.integers(0, 9), label="integer y_pred") == 0:
        y_pred = np.eye(k, dtype=np.int64)[rng.integers(0, k, shape[:-1])]
    else:
        y_pred = data.draw(probabilities(shape, dtype))
    labels = rng.integers(0, k, shape[:-1])
    style = data.draw(st.sampled_from(["int"] * 5 + ["int32", "float", "float", "n1", "outside",
                                                     "fraction"]), label="labels")
    if style == "int32":
        labels = labels.astype(np.int32)
    elif style == "float":
        labels = labels.astype(np.float32)
    elif style == "n1" and labels.ndim >= 1:
        labels = labels[..., None]
    elif style == "outside" and labels.size:
        labels.flat[rng.integers(labels.size)] = data.draw(st.sampled_from([-1, k, k + 3]))
    elif style == "fraction" and labels.size:
        labels = labels.astype(np.float64)
        labels.flat[rng.integers(labels.size)] += 0.5
    q = data.draw(QS, label="q")
    return labels, y_pred, {"q": q}, shape[:-1]


def generalized_refused(labels, y_pred, k):
    labels = np.asarray(labels)
    if labels.shape != np.shape(y_pred)[:-1]:
        return "y_true"
    if labels.size and (np.any(labels != np.trunc(labels)) or labels.min() < 0 or labels.max() >= k):
        return "y_true"
    if np.any(np.asarray(y_pred) < 0):
        return "y_pred"
    return None


# --------------------------------------------------------------------------
# Values: the function and the class API


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_binary_function_matches_keras(data):
    y_true, y_pred, options, _ = draw_binary(data)
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_function(BFCE, y_true, y_pred, epsilon=epsilon, **options)
    actual = ours(lambda: lossbounds.binary_focal_crossentropy(y_true, y_pred, epsilon=epsilon,
                                                               **options))
    check(expected, actual, f"{BFCE}{options}", refused=binary_refused(y_true, y_pred, options,
                                                                         y_pred.dtype))


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_binary_class_matches_keras(data):
    y_true, y_pred, options, loss_shape = draw_binary(data)
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")
    dtype = data.draw(class_dtypes, label="class dtype")
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_class(BFCE, y_true, y_pred, sample_weight=sample_weight, reduction=reduction,
                           dtype=dtype, epsilon=epsilon, **options)
    extra = {} if dtype is None else {"dtype": dtype}
    actual = ours(lambda: lossbounds.loss(BFCE, y_true, y_pred, sample_weight=sample_weight,
                                          reduction=reduction, epsilon=epsilon, **extra, **options))
    compute = np.float16 if dtype in ("float16", "mixed_float16") else (dtype or np.float32)
    check(expected, actual, f"{BFCE} {reduction} {dtype} {options}",
          refused=binary_refused(y_true, y_pred, options, compute))


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_categorical_function_matches_keras(data):
    y_true, y_pred, options, _ = draw_categorical(data)
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_function(CFCE, y_true, y_pred, epsilon=epsilon, **options)
    actual = ours(lambda: lossbounds.categorical_focal_crossentropy(y_true, y_pred, epsilon=epsilon,
                                                                    **options))
    check(expected, actual, f"{CFCE}{options}")


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_categorical_class_matches_keras(data):
    y_true, y_pred, options, loss_shape = draw_categorical(data)
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")
    dtype = data.draw(class_dtypes, label="class dtype")
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_class(CFCE, y_true, y_pred, sample_weight=sample_weight, reduction=reduction,
                           dtype=dtype, epsilon=epsilon, **options)
    extra = {} if dtype is None else {"dtype": dtype}
    actual = ours(lambda: lossbounds.loss(CFCE, y_true, y_pred, sample_weight=sample_weight,
                                          reduction=reduction, epsilon=epsilon, **extra, **options))
    check(expected, actual, f"{CFCE} {reduction} {dtype} {options}")


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_generalized_function_matches_keras(data):
    labels, y_pred, options, _ = draw_generalized(data)
    expected = keras_function(GCE, labels, y_pred, **options)
    actual = ours(lambda: lossbounds.categorical_generalized_cross_entropy(labels, y_pred, **options))
    check(expected, actual, f"{GCE}{options}", refused=generalized_refused(labels, y_pred,
                                                                           y_pred.shape[-1]))


@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_generalized_class_matches_keras(data):
    labels, y_pred, options, loss_shape = draw_generalized(data)
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")
    dtype = data.draw(class_dtypes, label="class dtype")
    expected = keras_class(GCE, labels, y_pred, sample_weight=sample_weight, reduction=reduction,
                           dtype=dtype, **options)
    extra = {} if dtype is None else {"dtype": dtype}
    actual = ours(lambda: lossbounds.loss(GCE, labels, y_pred, sample_weight=sample_weight,
                                          reduction=reduction, **extra, **options))
    # Keras' rank fix (squeeze_or_expand_to_same_rank), when y_pred has a single class, makes
    # (N, 1) labels of (N,) ones, or squeezes the class axis away: garbage either way.
    fixed, pred = np.asarray(labels), np.asarray(y_pred)
    if pred.ndim == fixed.ndim + 1 and pred.shape[-1] == 1:
        fixed, pred = (fixed[:, None], pred) if fixed.ndim == 1 else (fixed, pred[..., 0])
    compute = np.float16 if dtype in ("float16", "mixed_float16") else (dtype or np.float32)
    check(expected, actual, f"{GCE} {reduction} {dtype} {options}",
          refused=None if pred.ndim == 0 else generalized_refused(fixed, pred.astype(compute),
                                                                   pred.shape[-1]))


@pytest.mark.parametrize(("bad", "shown"), [(-1.0, "-1"), (2.0, "2"), (np.inf, "inf")])
def test_categorical_targets_outside_the_unit_interval_are_refused(bad, shown):
    # Keras would weight -log(p) by them (a negative target, a negative loss)
    y = np.eye(3, dtype=F32)[[0, 1]]
    y[1, 2] = bad
    p = np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]], F32)
    message = rf"`y_true` must hold one-hot \(or soft\) targets in \[0, 1\], got {shown}\."
    with pytest.raises(ValueError, match=message):
        lossbounds.categorical_focal_crossentropy(y, p)
    with pytest.raises(ValueError, match=message):
        lossbounds.loss(CFCE, y, p)


def test_doc_examples_are_live_keras_values():
    f32 = lambda x: np.asarray(x, np.float32)  # noqa: E731
    cases = [
        (lossbounds.binary_focal_crossentropy, keras.losses.binary_focal_crossentropy,
         ([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]), {}),
        (lossbounds.binary_focal_crossentropy, keras.losses.binary_focal_crossentropy,
         ([[1.0], [0.0]], [[0.0], [1.0]]), {}),
        (lossbounds.binary_focal_crossentropy, keras.losses.binary_focal_crossentropy,
         ([[0.0]], [[1e4]]), {"from_logits": True}),
        (lossbounds.categorical_focal_crossentropy, keras.losses.categorical_focal_crossentropy,
         ([[0, 1, 0], [0, 0, 1]], [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]]), {}),
        (lossbounds.categorical_focal_crossentropy, keras.losses.categorical_focal_crossentropy,
         ([[0, 1, 0]], [[1e4, -1e4, 0.0]]), {"from_logits": True}),
    ]
    for ours_, theirs, (y, p), options in cases:
        assert_close(ours_(y, p, **options), keras_value(theirs, f32(y), f32(p), **options))
    labels, p = [0, 1, 0, 1], [[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]]
    assert_close(lossbounds.categorical_generalized_cross_entropy(labels, p, 0.5),
                 keras_value(keras.losses.categorical_generalized_cross_entropy,
                             np.array(labels), f32(p), 0.5))
    # Keras' own docstring example of the class: 0.3598597
    value = lossbounds.loss(GCE, labels, p)
    assert value == pytest.approx(0.3598597, abs=1e-7)
    assert_close(value, keras_value(keras.losses.CategoricalGeneralizedCrossEntropy(),
                                    np.array(labels), f32(p)))


def test_numpy_scalar_options_carry_their_dtype():
    y, p = np.eye(3, dtype=F32)[[0, 1]], np.array([[0.5, 0.3, 0.2], [0.1, 0.8, 0.1]], F32)
    for options, dtype in (({"gamma": np.float64(2.0)}, np.float64),
                           ({"alpha": np.float64(0.3)}, np.float64),
                           ({"alpha": np.array([0.2, 0.3, 0.5])}, np.float64),
                           # tf.convert_to_tensor takes a list's dtype from its first item
                           ({"alpha": [np.float64(0.2), 0.3, 0.5]}, np.float64),
                           ({"alpha": [0.2, 0.3, np.float64(0.5)]}, np.float32),
                           ({"alpha": [1, 2, 3]}, np.float32)):
        ours_ = lossbounds.categorical_focal_crossentropy(y, p, **options)
        assert ours_.dtype == dtype
        assert_close(ours_, keras_value(keras.losses.categorical_focal_crossentropy, y, p, **options))
    # float16 with a list alpha: Keras' float32 tensor of weights makes the loss float32
    ours_ = lossbounds.categorical_focal_crossentropy(y.astype(np.float16), p.astype(np.float16),
                                                      alpha=[0.2, 0.3, 0.5])
    assert ours_.dtype == np.float32
    gce = lossbounds.categorical_generalized_cross_entropy([0, 1], p[:, :2], np.float64(0.5))
    assert gce.dtype == np.float64
    with pytest.raises(TypeError, match="gamma.*float"):  # Keras fails to multiply float64 by float32
        lossbounds.binary_focal_crossentropy(y, p, gamma=np.float64(2.0))
    with pytest.raises(Exception, match="Mul"):
        keras.losses.binary_focal_crossentropy(y, p, gamma=np.float64(2.0))


# --------------------------------------------------------------------------
# Bounds of binary focal cross-entropy, against Keras


def keras_bfce(y, p, **options) -> np.ndarray:
    y = np.asarray(y, F32).reshape(-1, 1)
    p = np.asarray(p, F32).reshape(-1, 1)
    return keras_value(keras.losses.binary_focal_crossentropy, y, p, **options)


def focal_binary(t, p, gamma=2.0, weights=(1.0, 1.0), unclipped=False):
    """The exact float64 binary focal loss of target t at probability p (written here, for checks)."""
    t, p = np.asarray(t, np.float64), np.asarray(p, np.float64)
    c = p if unclipped else np.clip(p, EPS32, HIGH32)
    with np.errstate(divide="ignore", invalid="ignore"):
        bce = -(np.where(t > 0, t * np.log(c), 0) + np.where(t < 1, (1 - t) * np.log1p(-c), 0))
    factor = (t * (1 - p) + (1 - t) * p) ** gamma
    return (t * weights[0] + (1 - t) * weights[1]) * factor * bce


def test_binary_best_is_exactly_zero_and_attained():
    assert lossbounds.best_case(BFCE) == 0.0
    assert lossbounds.best_case(BFCE, apply_class_balancing=True) == 0.0
    assert keras_bfce([1.0, 0.0], [1.0, 0.0]).tolist() == [0.0, 0.0]
    # gamma = 0 is binary cross-entropy: its best case, -ln(f32(1 - 1e-7)) = 1.1920929e-07
    best = lossbounds.best_case(BFCE, gamma=0.0)
    assert best == lossbounds.best_case("binary_crossentropy")
    assert_close(F32(best), keras_bfce([1.0, 0.0], [1.0, 0.0], gamma=0.0)[0], check_dtype=False)


def test_binary_best_with_label_smoothing_is_the_numeric_minimum():
    # Coverage §3.11: a = 0.1, gamma = 2, target 0.95: argmin p = 0.994909, 0.00080099.
    best = lossbounds.best_case(BFCE, label_smoothing=0.1)
    found = optimize.minimize_scalar(lambda p: focal_binary(0.95, p), bounds=(0.9, 1.0),
                                     method="bounded", options={"xatol": 1e-12})
    grid = np.linspace(0, 1, 200001)
    assert best == pytest.approx(float(found.fun), abs=1e-12)
    assert best <= focal_binary(0.95, grid).min() + 1e-15
    assert found.x == pytest.approx(0.994909, abs=1e-6)
    assert best == pytest.approx(0.00080099, abs=1e-8)
    at = keras_bfce([1.0], [found.x], label_smoothing=0.1)[0]
    assert at == pytest.approx(best, abs=1e-8)
    nearby = keras_bfce([1.0] * 4, [found.x - 0.002, found.x + 0.002, 0.95, 1.0], label_smoothing=0.1)
    assert np.all(nearby > best)
    # the smoothed target itself, and a perfect prediction (coverage §3.11: 0.0019928)
    assert nearby[2:] == pytest.approx([0.0017916, 0.0019928], abs=1e-7)


@pytest.mark.parametrize(("options", "label", "p", "expected"), [
    ({}, 1.0, 0.0, L_MAX),  # -ln eps
    ({}, 0.0, 1.0, 23 * math.log(2)),  # -ln(1 - f32(1 - eps))
    ({"apply_class_balancing": True}, 1.0, 0.0, 0.25 * L_MAX),  # 4.0295239
    ({"apply_class_balancing": True}, 0.0, 1.0, 0.75 * 23 * math.log(2)),  # 11.956789
])
def test_binary_worst_is_attained(options, label, p, expected):
    worst = lossbounds.worst_case(BFCE, **options)
    assert worst == pytest.approx(max(expected, worst), rel=1e-12)
    value = keras_bfce([label], [p], **options)[0]
    assert value == pytest.approx(expected, rel=1e-6)
    assert value <= worst * (1 + 1e-6)


def test_binary_worst_from_logits_is_unbounded_on_tensorflow_only():
    assert lossbounds.worst_case(BFCE, from_logits=True) == math.inf
    assert keras_bfce([0.0], [1e30], from_logits=True)[0] == pytest.approx(1e30, rel=1e-6)
    assert lossbounds.binary_focal_crossentropy([[0.0]], [[1e30]], from_logits=True)[0] == \
        pytest.approx(1e30, rel=1e-6)
    # JAX, PyTorch and NumPy apply the sigmoid and clip (coverage §3.11): 15.942385
    for backend in ("jax", "torch", "numpy"):
        assert lossbounds.worst_case(BFCE, from_logits=True, backend=backend) == \
            pytest.approx(L_MAX, rel=1e-12)
    assert lossbounds.worst_case(BFCE, from_logits=True, backend="tf_keras") == math.inf


def test_binary_worst_with_smoothing_against_a_grid():
    worst = lossbounds.worst_case(BFCE, label_smoothing=0.2, gamma=1.0)
    grid = np.concatenate([np.linspace(0, 1, 100001), [EPS32, HIGH32]])
    brute = max(focal_binary(0.9, grid, gamma=1.0).max(), focal_binary(0.1, grid, gamma=1.0).max())
    assert worst == pytest.approx(brute, rel=1e-9)
    assert keras_bfce([1.0], [0.0], label_smoothing=0.2, gamma=1.0)[0] == pytest.approx(worst, rel=1e-6)


def test_binary_uniform_baseline():
    # p = 1/2 gives p_t = 1/2 and ln 2 whatever the target: 0.5**gamma ln 2
    assert lossbounds.baseline(BFCE) == pytest.approx(0.25 * math.log(2), rel=1e-15)
    assert lossbounds.baseline(BFCE, gamma=3.0, label_smoothing=0.3) == \
        pytest.approx(0.125 * math.log(2), rel=1e-15)
    keras_values = keras_bfce([1.0, 0.0, 0.3], [0.5] * 3)
    assert np.allclose(keras_values, 0.1732868, atol=1e-7)
    # with class balancing the weights depend on the labels: Keras' class at p = 0.5
    y = np.array([[1.0], [0.0], [0.0], [0.0]], F32)
    uniform = lossbounds.baseline(BFCE, y, apply_class_balancing=True)
    theirs = keras_value(keras.losses.BinaryFocalCrossentropy(apply_class_balancing=True),
                         y, np.full_like(y, 0.5))
    assert uniform == pytest.approx(float(theirs), rel=1e-6)
    assert uniform == pytest.approx(lossbounds.bounds(BFCE, counts=[3, 1],
                                                      apply_class_balancing=True).uniform, rel=1e-15)
    assert keras_bfce([1.0, 0.0], [0.5, 0.5], apply_class_balancing=True) == \
        pytest.approx([0.0433217, 0.1299651], abs=1e-7)
    with pytest.raises(ValueError, match="pass y_true"):
        lossbounds.baseline(BFCE, apply_class_balancing=True)


def brute_binary_prior(ts, cs, gamma, weights=(1.0, 1.0)):
    """min over p of sum_v c_v g(t_v, p): a 400001-point grid in p, then bounded Brent."""
    def objective(p):
        return float(sum(c * focal_binary(t, p, gamma, weights) for t, c in zip(ts, cs)))
    grid = np.concatenate([np.linspace(0, 1, 400001), [EPS32, HIGH32]])
    values = sum(c * focal_binary(t, grid, gamma, weights) for t, c in zip(ts, cs))
    i = int(np.argmin(values))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 3)]
    found = optimize.minimize_scalar(objective, bounds=(lo, hi), method="bounded",
                                     options={"xatol": 1e-13})
    return min(float(found.fun), float(values[i])), float(found.x)


@pytest.mark.parametrize(("counts", "balancing", "p_star", "value", "at_f"), [
    # coverage §3.11's table: the optimum is not at p = f
    ([3, 1], False, 0.398824, 0.1437614, 0.2084327),
    ([3, 1], True, 0.305787, 0.0548857, 0.0588507),
    ([9, 1], False, 0.305787, 0.0878171, None),
    ([1, 1], False, 0.5, 0.1732868, None),
])
def test_binary_prior_is_the_best_constant(counts, balancing, p_star, value, at_f):
    prior = lossbounds.prior_baseline(BFCE, counts=counts, apply_class_balancing=balancing)
    f = counts[1] / sum(counts)
    weights = (0.25, 0.75) if balancing else (1.0, 1.0)
    brute, p = brute_binary_prior([1.0, 0.0], [f, 1 - f], 2.0, weights)
    assert prior == pytest.approx(brute, abs=1e-9) and prior <= brute + 1e-12
    assert p == pytest.approx(p_star, abs=2e-6)
    assert prior == pytest.approx(value, abs=1e-7)
    # Keras' class on the labels, predicting p* for every sample, scores the prior
    y = np.array([[1.0]] * counts[1] + [[0.0]] * counts[0], F32)
    loss = keras.losses.BinaryFocalCrossentropy(apply_class_balancing=balancing)
    assert float(loss(y, np.full_like(y, p))) == pytest.approx(prior, abs=1e-6)
    for other in (p - 0.02, p + 0.02, f):
        assert float(loss(y, np.full_like(y, other))) > prior
    if at_f is not None:
        assert float(loss(y, np.full_like(y, f))) == pytest.approx(at_f, abs=1e-6)


def bce_f32(t, c):
    """Binary cross-entropy at a clipped c with 1 - c rounded to float32, as Keras computes it."""
    one_minus = float(F32(1) - F32(c))
    return -(t * math.log(c) if t else 0.0) - ((1 - t) * math.log(one_minus) if t < 1 else 0.0)


@settings(max_examples=25)
@given(seed=seeds, gamma=st.sampled_from([0.0, 0.5, 1.0, 2.0, 4.0]),
       smoothing=st.sampled_from([0.0, 0.1]), balancing=st.booleans())
def test_binary_prior_from_soft_targets_against_brute_force(seed, gamma, smoothing, balancing):
    rng = np.random.default_rng(seed)
    y = rng.choice([0.0, 1.0, 0.3, 0.9], size=(int(rng.integers(3, 12)), 2),
                   p=rng.dirichlet(np.ones(4)))
    w = rng.random(y.shape[0]) + 0.1
    options = dict(gamma=gamma, label_smoothing=smoothing, apply_class_balancing=balancing)
    b = lossbounds.bounds(BFCE, y, sample_weight=w, **options)
    weights = (0.25, 0.75) if balancing else (1.0, 1.0)
    brute, closed = [], []
    for column in y.T:  # the targets of one output, smoothed, with their weights
        values = np.unique(column)
        shares = np.array([w[column == v].sum() for v in values]) / w.sum()
        t = values * (1 - smoothing) + smoothing / 2
        brute.append(brute_binary_prior(t, shares, gamma, weights)[0])
        # gamma = 0 is weighted binary cross-entropy, least at the weighted mean target,
        # where lossbounds evaluates it as binary_crossentropy's bounds do (float32 1 - p)
        cw = shares * (t * weights[0] + (1 - t) * weights[1])
        c = float(np.clip(cw @ t / cw.sum(), EPS32, HIGH32))
        closed.append(sum(x * bce_f32(tv, c) for x, tv in zip(cw, t)))
    brute_value = float(np.mean(brute))
    if gamma == 0:
        assert b.prior == pytest.approx(float(np.mean(closed)), rel=1e-12)
        assert b.prior == pytest.approx(brute_value, rel=1e-7)  # float32's 1 - p: 1e-8 apart
    else:
        assert b.prior == pytest.approx(brute_value, abs=1e-9)
        assert b.prior <= brute_value + 1e-12
    assert b.prior <= b.uniform + 1e-12


def test_binary_prior_of_one_label_is_the_best_case():
    assert lossbounds.prior_baseline(BFCE, [1.0, 1.0, 1.0]) == 0.0
    assert lossbounds.prior_baseline(BFCE, counts=[5, 0], gamma=0.0) == \
        pytest.approx(lossbounds.best_case("binary_crossentropy"), rel=1e-12)


# --------------------------------------------------------------------------
# Bounds of categorical focal cross-entropy, against Keras


def keras_cfce(y, p, **options) -> np.ndarray:
    return keras_value(keras.losses.categorical_focal_crossentropy, np.asarray(y, F32),
                       np.asarray(p, F32), **options)


def phi(c, gamma=2.0):
    return (1 - c) ** gamma * -np.log(c)


def brute_simplex(w, gamma=2.0, starts=2, seed=0):
    """min over the simplex of sum_k w_k phi(clip(q_k)): SLSQP from several starts (written here)."""
    w = np.asarray(w, np.float64)
    k = w.size
    rng = np.random.default_rng(seed)

    def objective(q):
        return float(np.sum(w * phi(np.clip(q, EPS32, HIGH32), gamma)))

    best = math.inf, None
    for start in [w / w.sum(), np.full(k, 1 / k)] + [rng.dirichlet(np.ones(k)) for _ in range(starts)]:
        found = optimize.minimize(objective, start, method="SLSQP", bounds=[(0.0, 1.0)] * k,
                                  constraints=[{"type": "eq", "fun": lambda q: q.sum() - 1}],
                                  options={"ftol": 1e-16, "maxiter": 2000})
        if found.fun < best[0] and abs(found.x.sum() - 1) < 1e-12:
            best = float(found.fun), found.x
    return best


def test_categorical_best_and_worst_are_attained():
    best = lossbounds.best_case(CFCE)
    assert best == pytest.approx(0.25 * (2.0**-23) ** 2 * -math.log(HIGH32), rel=1e-12)
    assert keras_cfce([[0, 1, 0]], [[0, 1, 0]])[0] == pytest.approx(4.2351647e-22, rel=1e-6)
    assert best == pytest.approx(4.2351647e-22, rel=1e-6)
    worst = lossbounds.worst_case(CFCE)
    assert worst == pytest.approx(0.25 * (1 - EPS32) ** 2 * L_MAX, rel=1e-12)
    assert keras_cfce([[0, 1, 0]], [[1, 0, 0]])[0] == pytest.approx(4.0295229, rel=1e-7)
    # clipped even from logits, unlike categorical cross-entropy (20000 on TensorFlow)
    assert lossbounds.worst_case(CFCE, from_logits=True) == worst
    assert keras_cfce([[0, 1, 0]], [[1e4, -1e4, 0.0]], from_logits=True)[0] == \
        pytest.approx(worst, rel=1e-6)
    # per-class alpha: the heaviest class at 0, the lightest at 1
    alpha = [0.5, 2.0, 1.0]
    assert lossbounds.worst_case(CFCE, alpha=alpha) == pytest.approx(2.0 * phi(EPS32), rel=1e-12)
    assert keras_cfce([[0, 1, 0]], [[1, 0, 0]], alpha=alpha)[0] == \
        pytest.approx(2.0 * phi(EPS32), rel=1e-6)
    assert lossbounds.best_case(CFCE, alpha=alpha) == pytest.approx(0.5 * phi(HIGH32), rel=1e-12)
    # one class: rescaled to 1 and clipped, whatever it predicted
    assert lossbounds.worst_case(CFCE, n_classes=1) == pytest.approx(best, rel=1e-12)


@pytest.mark.parametrize("k", [2, 3, 10])
def test_categorical_worst_with_smoothing_is_a_vertex(k):
    a = 0.1
    worst = lossbounds.worst_case(CFCE, n_classes=k, label_smoothing=a)
    t = np.full(k, a / k)
    t[0] += 1 - a
    p = np.zeros(k)
    p[-1] = 1.0  # all mass on a class with the smallest target
    keras_at = keras_cfce([t * 0 + np.eye(k)[0]], [p], label_smoothing=a)[0]
    assert keras_at == pytest.approx(worst, rel=1e-6)
    # no point of the simplex costs more: random and vertex-adjacent rows through Keras
    rng = np.random.default_rng(k)
    rows = np.concatenate([rng.dirichlet(np.full(k, 0.2), 2000), np.eye(k)])
    values = keras_cfce(np.tile(np.eye(k)[0], (rows.shape[0], 1)), rows, label_smoothing=a)
    assert values.max() <= worst * (1 + 1e-6)


def test_categorical_best_with_smoothing_against_brute_force():
    for k, a, gamma in ((3, 0.1, 2.0), (5, 0.3, 1.0), (2, 0.05, 0.5)):
        best = lossbounds.best_case(CFCE, n_classes=k, label_smoothing=a, gamma=gamma)
        t = np.full(k, a / k)
        t[0] += 1 - a
        brute, q = brute_simplex(0.25 * t, gamma)
        assert best == pytest.approx(brute, abs=1e-9) and best <= brute + 1e-12
        keras_at = keras_cfce([np.eye(k)[0]], [q], label_smoothing=a, gamma=gamma)[0]
        assert keras_at == pytest.approx(best, rel=1e-6)


def test_categorical_uniform_baseline():
    for k in (2, 3, 10):
        uniform = lossbounds.baseline(CFCE, n_classes=k)
        assert uniform == pytest.approx(0.25 * (1 - 1 / k) ** 2 * math.log(k), rel=1e-12)
        keras_at = keras_cfce(np.eye(k), np.full((k, k), 1 / k))
        assert np.allclose(keras_at, uniform, rtol=1e-6)
    assert lossbounds.baseline(CFCE, n_classes=3) == pytest.approx(0.1220680, abs=1e-7)
    # per-class alpha: the alpha of the true class, averaged over the labels
    alpha, y = [1.0, 2.0, 4.0], np.eye(3, dtype=F32)[[0, 0, 1, 2]]
    uniform = lossbounds.baseline(CFCE, y, alpha=alpha)
    theirs = keras.losses.CategoricalFocalCrossentropy(alpha=alpha)(y, np.full_like(y, 1 / 3))
    assert uniform == pytest.approx(float(theirs), rel=1e-6)
    with pytest.raises(ValueError, match="frequencies"):
        lossbounds.baseline(CFCE, alpha=alpha)
    with pytest.raises(ValueError, match="n_classes"):
        lossbounds.baseline(CFCE)


@pytest.mark.parametrize(("f", "q_star", "value", "at_f"), [
    # coverage §3.12's table: the optimum is not q = f
    ((0.6, 0.3, 0.1), (0.48889, 0.35312, 0.15799), 0.0934163, 0.1031332),
    ((0.25, 0.25, 0.5), (0.28783, 0.28783, 0.42433), 0.1144639, 0.1191347),
    ((0.7, 0.1, 0.1, 0.1), (0.52012, 0.15996, 0.15996, 0.15996), 0.1233465, 0.1454997),
])
def test_categorical_prior_is_the_best_constant(f, q_star, value, at_f):
    counts = np.round(np.asarray(f) * 20).astype(int)
    prior = lossbounds.prior_baseline(CFCE, counts=counts)
    brute, q = brute_simplex(0.25 * np.asarray(f))
    assert prior == pytest.approx(brute, abs=1e-9) and prior <= brute + 1e-12
    assert q == pytest.approx(q_star, abs=2e-5)
    assert prior == pytest.approx(value, abs=1e-7)
    y = np.repeat(np.eye(len(f), dtype=F32), counts, axis=0)
    loss = keras.losses.CategoricalFocalCrossentropy()
    assert float(loss(y, np.tile(q.astype(F32), (y.shape[0], 1)))) == pytest.approx(prior, abs=1e-6)
    assert float(loss(y, np.tile(np.asarray(f, F32), (y.shape[0], 1)))) == pytest.approx(at_f, abs=1e-6)


@settings(max_examples=20)
@given(seed=seeds, k=st.sampled_from([2, 3, 5, 8]), gamma=st.sampled_from([0.0, 0.5, 2.0, 3.0]),
       smoothing=st.sampled_from([0.0, 0.2]), per_class=st.booleans())
def test_categorical_prior_against_brute_force(seed, k, gamma, smoothing, per_class):
    rng = np.random.default_rng(seed)
    y = np.eye(k)[rng.choice(k, size=40, p=rng.dirichlet(np.ones(k)))]
    alpha = list(rng.random(k) + 0.1) if per_class else 0.25
    prior = lossbounds.prior_baseline(CFCE, y, alpha=alpha, gamma=gamma, label_smoothing=smoothing)
    f = y.mean(axis=0) * (1 - smoothing) + smoothing / k
    brute, _ = brute_simplex(np.asarray(alpha) * f, gamma, seed=seed % 100)
    assert prior == pytest.approx(brute, abs=1e-9) and prior <= brute + 1e-12
    uniform = lossbounds.baseline(CFCE, y, alpha=alpha, gamma=gamma, label_smoothing=smoothing)
    assert prior <= uniform + 1e-12


def test_categorical_prior_leaves_a_rare_class_at_zero():
    # One class in 1e9: its best constant probability would be 1e-9 < eps. Left at 0 it still
    # costs w phi(eps), and its eps of mass goes to the frequent class: a 1-D problem here.
    counts = [1e9, 1.0]
    prior = lossbounds.prior_baseline(CFCE, counts=counts, gamma=0.0, alpha=1.0)
    f = np.array(counts) / sum(counts)
    p0 = 1 - np.concatenate([np.logspace(-16, -1, 200001), np.linspace(0.1, 1, 20001)])
    values = f[0] * -np.log(np.clip(p0, EPS32, HIGH32)) + f[1] * -np.log(np.clip(1 - p0, EPS32, HIGH32))
    assert prior == pytest.approx(values.min(), abs=1e-12)


# --------------------------------------------------------------------------
# Bounds of the generalized cross-entropy, against Keras


def keras_gce(labels, p, q=0.5) -> np.ndarray:
    return keras_value(keras.losses.categorical_generalized_cross_entropy, np.asarray(labels),
                       np.asarray(p, F32), q)


def test_generalized_bounds_are_attained():
    for q in (0.5, 0.1, 0.9):
        b = lossbounds.bounds(GCE, n_classes=3, q=q)
        assert b.best == 0.0 and b.worst == pytest.approx(1 / float(F32(q)), rel=1e-12)
        assert b.uniform == pytest.approx((1 - 3**-float(F32(q))) / float(F32(q)), rel=1e-12)
        values = keras_gce([1, 1, 1], [[0, 1, 0], [1, 0, 0], [1 / 3] * 3], q)
        assert values == pytest.approx([b.best, b.worst, b.uniform], rel=1e-6, abs=1e-7)
    assert lossbounds.baseline(GCE, n_classes=3) == pytest.approx(0.8452995, abs=1e-7)
    # above 1 (not probabilities) it goes negative, as Keras computes it
    assert keras_gce([0, 0], [[4.0, 0.0], [2.0, 2.0]]) == pytest.approx([-2.0, -0.8284271], abs=1e-6)
    assert lossbounds.categorical_generalized_cross_entropy([0, 0], [[4.0, 0.0], [2.0, 2.0]]) == \
        pytest.approx([-2.0, -0.8284271], abs=1e-6)


@settings(max_examples=20)
@given(seed=seeds, k=st.sampled_from([2, 3, 10]), q=st.sampled_from([0.1, 0.5, 0.7, 0.9]))
def test_generalized_prior_is_closed_form_and_best(seed, k, q):
    rng = np.random.default_rng(seed)
    labels = rng.choice(k, size=50, p=rng.dirichlet(np.ones(k)))
    prior = lossbounds.prior_baseline(GCE, labels, n_classes=k, q=q)
    f = np.bincount(labels, minlength=k) / labels.size
    qd = float(F32(q))
    c = f ** (1 / (1 - qd)) / np.sum(f ** (1 / (1 - qd)))
    closed = (1 - np.sum(f * c**qd)) / qd
    assert prior == pytest.approx(closed, abs=1e-12)
    # no point of the simplex does better (SLSQP from the frequencies)
    found = optimize.minimize(lambda x: (1 - np.sum(f * np.clip(x, 0, 1) ** qd)) / qd, f,
                              method="SLSQP", bounds=[(0, 1)] * k,
                              constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                              options={"ftol": 1e-15})
    assert prior <= found.fun + 1e-12
    value = keras.losses.CategoricalGeneralizedCrossEntropy(q=q)(labels, np.tile(c.astype(F32), (50, 1)))
    assert float(value) == pytest.approx(prior, abs=1e-6)


def test_generalized_prior_example():
    # coverage §3.13: f = (.75, .25), q = .5: c = (.9, .1), 0.4188612; f itself gives 0.4509619
    prior = lossbounds.prior_baseline(GCE, counts=[3, 1])
    assert prior == pytest.approx(0.4188612, abs=1e-7)
    labels = np.array([0, 0, 0, 1])
    assert float(keras.losses.CategoricalGeneralizedCrossEntropy()(labels, np.tile([[0.9, 0.1]], (4, 1)))) \
        == pytest.approx(prior, abs=1e-6)
    assert float(keras.losses.CategoricalGeneralizedCrossEntropy()(labels, np.tile([[0.75, 0.25]], (4, 1)))) \
        == pytest.approx(0.4509619, abs=1e-6)


# --------------------------------------------------------------------------
# Names, junk input, words


def test_names():
    for name in (BFCE, CFCE):
        assert keras.losses.get(name) is getattr(keras.losses, name)
    # Keras' get() knows neither of GCE's names; lossbounds accepts them and its short forms
    for name in (GCE, "CategoricalGeneralizedCrossEntropy"):
        with pytest.raises(ValueError, match="Could not interpret"):
            keras.losses.get(name)
    for alias in (GCE, "CategoricalGeneralizedCrossEntropy", "gce", "generalized_cross_entropy"):
        assert get_loss(alias).name == GCE
    assert get_loss("bfce").name == BFCE and get_loss("cfce").name == CFCE
    assert keras.losses.BinaryFocalCrossentropy().name == BFCE
    assert keras.losses.CategoricalFocalCrossentropy().name == CFCE
    assert keras.losses.CategoricalGeneralizedCrossEntropy().name == GCE


def test_binary_junk_input():
    y, p = [[0.0, 1.0]], [[0.2, 0.7]]
    with pytest.raises(ValueError, match=r"`y_pred`.*from_logits=True"):
        lossbounds.binary_focal_crossentropy(y, [[-0.5, 1.5]])
    # ...where Keras silently returns 36.27 = 1.5**2 * 16.118 and 63.77 = 2**2 * 15.942:
    assert keras_bfce([1.0, 0.0], [-0.5, 2.0]) == pytest.approx([36.265717, 63.769539], rel=1e-6)
    with pytest.raises(ValueError, match=r"`y_true`.*\[0, 1\]"):
        lossbounds.binary_focal_crossentropy([[2.0, -1.0]], p)
    with pytest.raises(ValueError, match=r"same rank.*\(N, N\)"):
        lossbounds.binary_focal_crossentropy([0.0, 1.0], [[0.2], [0.7]])
    with pytest.raises(ValueError, match="`alpha` must lie in"):
        lossbounds.binary_focal_crossentropy(y, p, alpha=1.5, apply_class_balancing=True)
    with pytest.raises(TypeError, match="`alpha` of binary focal"):
        lossbounds.binary_focal_crossentropy(y, p, alpha=[0.2, 0.8])
    with pytest.raises(ValueError, match="`gamma`"):
        lossbounds.binary_focal_crossentropy(y, p, gamma=-1.0)
    with pytest.raises(TypeError, match="`gamma`"):
        lossbounds.binary_focal_crossentropy(y, p, gamma="2")
    with pytest.raises(TypeError, match="apply_class_balancing"):
        lossbounds.binary_focal_crossentropy(y, p, apply_class_balancing=1)
    with pytest.raises(ValueError, match="at least one dimension"):
        lossbounds.binary_focal_crossentropy(1.0, 0.5)
    with pytest.raises(TypeError, match="no option 'q'"):
        lossbounds.bounds(BFCE, q=0.5)


def test_categorical_junk_input():
    y, p = [[0.0, 1.0, 0.0]], [[0.2, 0.7, 0.1]]
    # Keras' function broadcasts (N,) against (N, 1): a loss of every target against every row
    assert keras_cfce([1.0, 0.0, 1.0], [[0.9], [0.2], [0.6]]).shape == (3,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match=r"same rank.*\(N, N\)"):
            lossbounds.categorical_focal_crossentropy([1.0, 0.0, 1.0], [[0.9], [0.2], [0.6]])
    with pytest.raises(ValueError, match="np.eye"):
        lossbounds.categorical_focal_crossentropy([1, 2], [[0.2, 0.7, 0.1], [0.3, 0.3, 0.4]])
    with pytest.raises(ValueError, match="`y_true`"):
        lossbounds.categorical_focal_crossentropy([[0.0, -1.0, 2.0]], p)
    with pytest.raises(ValueError, match="2 per-class weights"):
        lossbounds.categorical_focal_crossentropy(y, p, alpha=[0.5, 0.5])
    with pytest.raises(ValueError, match="`alpha` weights must be"):
        lossbounds.categorical_focal_crossentropy(y, p, alpha=[0.5, -1.0, 0.5])
    with pytest.raises(TypeError, match="`axis`"):
        lossbounds.categorical_focal_crossentropy(y, p, axis=True)
    with pytest.warns(UserWarning, match="single class"):
        lossbounds.categorical_focal_crossentropy([[1.0]], [[0.3]])
    with pytest.raises(ValueError, match="n_classes"):
        lossbounds.best_case(CFCE, label_smoothing=0.1)
    with pytest.raises(ValueError, match="3 per-class weights but n_classes=4"):
        lossbounds.worst_case(CFCE, alpha=[1, 2, 3], n_classes=4)


def test_generalized_small_q_magnifies_float32_power():
    # (1 - p**q) / q loses log10(1/q) digits: TensorFlow's float32 pow (Eigen's, within 3 ulp)
    # and numpy's (within 1) then differ by up to about 2**-24 / q; in float64 they agree.
    rng = np.random.default_rng(0)
    p = rng.random((2000, 2)).astype(F32)
    labels = np.zeros(2000, np.int64)
    for q in (0.01, 0.05):
        ours_ = lossbounds.categorical_generalized_cross_entropy(labels, p, q)
        theirs = keras_gce(labels, p, q)
        assert np.max(np.abs(ours_ - theirs)) <= 4 * 2.0**-24 / q
        exact = lossbounds.categorical_generalized_cross_entropy(labels, p.astype(np.float64), q)
        assert_close(exact, keras_value(keras.losses.categorical_generalized_cross_entropy, labels,
                                        p.astype(np.float64), q))


def test_generalized_junk_input():
    p = np.array([[0.2, 0.8], [0.6, 0.4]], F32)
    # (N, 1) labels, which Keras' docstring promises, give Keras an (N, N) table
    assert keras_gce(np.array([[1], [0]]), p).shape == (2, 2)
    with pytest.raises(ValueError, match=r"\(N, N\).*reshape\(-1\)"):
        lossbounds.categorical_generalized_cross_entropy(np.array([[1], [0]]), p)
    assert keras_gce([5, -1], p) == pytest.approx([2.0, 2.0])  # Keras: 1/q for bad labels
    with pytest.raises(ValueError, match="label 5 .* outside"):
        lossbounds.categorical_generalized_cross_entropy([5, 0], p)
    with pytest.raises(ValueError, match="truncate"):
        lossbounds.categorical_generalized_cross_entropy([1.7, 0.0], p)
    with pytest.raises(ValueError, match="softmax"):
        lossbounds.categorical_generalized_cross_entropy([1, 0], [[-1.0, 2.0], [0.5, 0.5]])
    with pytest.raises(ValueError, match="argmax"):
        lossbounds.categorical_generalized_cross_entropy([[0, 1], [1, 0]], p)
    for q in (0.0, 1.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="`q` must lie in the open interval"):
            lossbounds.categorical_generalized_cross_entropy([1, 0], p, q)
    with pytest.raises(ValueError, match="q must be in the interval"):  # Keras' class agrees
        keras.losses.CategoricalGeneralizedCrossEntropy(q=1.0)
    with pytest.raises(TypeError, match="`q`"):
        lossbounds.loss(GCE, [1, 0], p, q="0.5")
    with pytest.raises(TypeError, match="no option 'from_logits'"):
        lossbounds.loss(GCE, [1, 0], p, from_logits=True)


def test_words_do_not_speak_of_bits():
    for name, options in ((BFCE, {}), (CFCE, {"n_classes": 10}), (GCE, {"n_classes": 10})):
        e = lossbounds.explain(0.1, name, **options)
        text = str(e)
        assert e.bits is None and e.perplexity is None
        assert "not in bits" in text and "Perplexity" not in text
        assert get_loss(name).probabilistic is False
    e = lossbounds.explain(0.05, BFCE)
    assert "probability 0.6558" in str(e)  # (1 - 0.6558)**2 * -ln 0.6558 = 0.05
    assert focal_binary(1.0, 0.6558) == pytest.approx(0.05, abs=1e-4)
    e = lossbounds.explain(0.3, GCE, n_classes=10)
    assert "0.7225" in str(e)  # (1 - 0.5 * 0.3)**2, the power mean of the true-class probabilities


def test_value_flags_and_option_flags():
    assert "negative_gce" in lossbounds.explain(-0.5, GCE, n_classes=3).kinds
    assert "alpha_unused" in lossbounds.explain(0.1, BFCE, alpha=0.5).kinds
    assert "alpha_unused" not in lossbounds.explain(0.1, BFCE, alpha=0.5,
                                                    apply_class_balancing=True).kinds
    assert "above_clipped_worst" in lossbounds.explain(40.0, BFCE).kinds
    assert "clipping_plateau" in lossbounds.explain(4.0295, CFCE, n_classes=5).kinds
    assert "clipping_plateau" in lossbounds.explain(2.0, GCE, n_classes=5).kinds
    codes = {note.code for note in lossbounds.bounds(BFCE).notes}
    assert "cached_logits" in codes
    codes = {note.code for note in lossbounds.bounds(CFCE, n_classes=3, from_logits=True).notes}
    assert "clipped_logits" in codes
    codes = {note.code for note in lossbounds.bounds(GCE, n_classes=3).notes}
    assert "not_in_keras_get" in codes


def test_sigmoid_head_in_fit_reads_cached_logits():
    # coverage §3.11: a sigmoid head with logit 1e4 and label 0 evaluates to 10000 on TensorFlow
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(
        1, activation="sigmoid", kernel_initializer=keras.initializers.Constant(1e4),
        bias_initializer="zeros")])
    model.compile(loss=keras.losses.BinaryFocalCrossentropy())
    with keras_epsilon(1e-7):
        value = model.evaluate(np.ones((1, 1), F32), np.zeros((1, 1), F32), verbose=0)
    assert value == pytest.approx(10000.0, rel=1e-6)
    assert value > lossbounds.worst_case(BFCE)
    assert lossbounds.binary_focal_crossentropy([[0.0]], [[1e4]], from_logits=True)[0] == \
        pytest.approx(value, rel=1e-6)


# Along an axis other than the last, the vectors are moved last as views and stream as
# rows (whole, 10**7 values took 191-229 MiB): the compiled kernels and numpy's, on
# 3-D batches whose vectors are not contiguous.
@pytest.mark.parametrize("accelerated", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("name", [BFCE, CFCE])
@pytest.mark.parametrize(("shape", "axis"), [((40, 7, 5), 0), ((6, 9, 30), 1), ((300, 3), 0)])
def test_focal_along_another_axis_streams_as_keras_computes(name, from_logits, accelerated,
                                                            shape, axis):
    rng = np.random.default_rng(sum(shape) + axis)
    if name == BFCE:
        y = (rng.random(shape) < 0.3).astype(np.float32)
    else:
        y = np.moveaxis(np.eye(shape[axis], dtype=np.float32)[
            rng.integers(0, shape[axis], np.delete(shape, axis))], -1, axis)
    p = rng.standard_normal(shape).astype(np.float32) if from_logits else \
        rng.uniform(0.01, 0.99, shape).astype(np.float32)
    options = {"from_logits": from_logits, "axis": axis, "gamma": 1.5}
    with accelerator(accelerated):
        kind, expected = keras_class(name, y, p, **options)
        assert kind == "value", expected
        assert_close(lossbounds.loss(name, y, p, **options), expected, context=name)
        kind, expected = keras_function(name, y, p, **options)
        assert kind == "value", expected
        assert_close(getattr(lossbounds, name)(y, p, **options), expected, context=name)


# TensorFlow's float16 softmax (categorical focal from logits) runs on Eigen in half
# arithmetic, or on oneDNN in float32 rounded once, where oneDNN is on and the CPU converts
# float16 in hardware (`_tfmath.onednn_float16`). Both settings, in their own processes (TF
# reads TF_ENABLE_ONEDNN_OPTS when imported): on other CPUs both take Eigen's path.
_SOFTMAX_CHECK = """
import json, numpy as np, tensorflow as tf
from lossbounds import _tfmath
from lossbounds.families import focal
rng = np.random.default_rng(0)
worst, differing, count = 0, 0, 0
for k in (2, 3, 10, 100, 1000):
    x = (rng.standard_normal((2000, k)) * 3).astype(np.float16)
    expected = tf.nn.softmax(tf.constant(x)).numpy()
    got = focal._softmax(x, -1)
    ulps = np.abs(expected.view(np.int16).astype(int) - got.view(np.int16).astype(int))
    worst, differing, count = max(worst, int(ulps.max())), differing + int((ulps > 0).sum()), count + x.size
print(json.dumps([_tfmath.onednn_float16(), worst, differing / count]))
"""


@pytest.mark.parametrize("setting", ["0", "1"], ids=["oneDNN off", "oneDNN on"])
def test_float16_softmax_follows_tensorflows_kernel_on_this_cpu(setting):
    env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS=setting, TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", _SOFTMAX_CHECK], env=env, capture_output=True,
                         text=True, check=True).stdout
    onednn, worst, differing = json.loads(out.strip().splitlines()[-1])
    assert onednn == (setting == "1" and _onednn_cpu())
    if onednn:  # lossbounds' float32 softmax, rounded: an ulp apart where it rounds otherwise
        assert worst <= 1 and differing < 1e-3, (worst, differing)
    else:  # half arithmetic in TensorFlow's order: bit for bit
        assert worst == 0, (worst, differing)


def _onednn_cpu() -> bool:
    """The CPU's float16 conversions, from Linux's flags, independently of lossbounds."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = next(line for line in info if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return False
    return ("avx512bw" in flags and ("avx512_fp16" in flags or "amx_fp16" in flags)) \
        or "avx_ne_convert" in flags
