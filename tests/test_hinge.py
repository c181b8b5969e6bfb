"""Hinge, squared hinge and categorical hinge against live Keras 3 (TensorFlow), and their bounds.

- Hypothesis drives every per-sample function and `lossbounds.loss` against
  Keras' function and class (300 examples per loss and per API), through
  float16/32/64, edge values (0, +-1, +-inf, NaN, 1e30, subnormals), every
  label style (0/1 converted, -1/+1, batches mixing -1 and 0, soft, all zeros),
  reductions, weights and class dtypes.
- The batch-wide 0/1 -> -1/+1 conversion is shown on Keras' own numbers.
- Each claimed bound is a value Keras returns for a constructed input, and no
  constant beats the prior baseline (scipy and dense grids over an independent
  numpy formula).
- Where Keras computes garbage, lossbounds raises and says why.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function, ours
from scipy import optimize
from strategies import class_dtypes, dtypes, reductions, sample_weights, seeds

import lossbounds
from lossbounds.families import hinge as family
from lossbounds.registry import get_loss

F32 = np.float32
MARGIN = ("hinge", "squared_hinge")
ALL = (*MARGIN, "categorical_hinge")
EDGE_SCORES = (0.0, 1.0, -1.0, 0.5, -0.5, 1e30, -1e30, np.inf, -np.inf, np.nan, 65504.0, 1e-45,
               -1e-40, 2.0**-24)


def _inject(rng, array, edges, count):
    flat = array.reshape(-1)
    for _ in range(count if flat.size else 0):
        flat[rng.integers(flat.size)] = edges[rng.integers(len(edges))]
    return array


# --------------------------------------------------------------------------
# Strategies


@st.composite
def binary_labels(draw, shape):
    """Every label style Keras sees: converted 0/1, -1/+1, mixed (not converted), soft..."""
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(
        ["zero_one", "zero_one", "plus_minus", "mixed", "soft", "zeros", "ones", "soft_edges",
         "nan"]))
    y = {
        "zero_one": lambda: rng.integers(0, 2, shape),
        "plus_minus": lambda: rng.choice([-1.0, 1.0], shape),
        "mixed": lambda: rng.choice([-1.0, 0.0, 1.0], shape),  # the 0s stay 0
        "soft": lambda: rng.uniform(-1, 1, shape),
        "zeros": lambda: np.zeros(shape),
        "ones": lambda: np.ones(shape),
        "soft_edges": lambda: rng.choice([0.0, 1.0, 0.5, -1.0, 1e-7, 1 - 1e-7], shape),
        "nan": lambda: _inject(rng, rng.integers(0, 2, shape).astype(float), [np.nan], 1),
    }[style]()
    kinds = [np.float32, np.float64, np.float16]
    if style in ("zero_one", "zeros", "ones"):
        kinds += [np.int32, np.int64, bool]
    elif style == "plus_minus":
        kinds += [np.int32]
    return np.asarray(y).astype(draw(st.sampled_from(kinds)))


@st.composite
def scores(draw, shape, dtype):
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(["normal", "normal", "tanh", "sigmoid", "huge", "tiny", "zeros"]))
    p = {
        "normal": lambda: rng.standard_normal(shape) * 2,
        "tanh": lambda: np.tanh(rng.standard_normal(shape)),
        "sigmoid": lambda: rng.random(shape),
        "huge": lambda: rng.standard_normal(shape) * 1e30,
        "tiny": lambda: rng.standard_normal(shape) * 1e-30,
        "zeros": lambda: np.zeros(shape),
    }[style]()
    with np.errstate(over="ignore"):  # 1e30 is inf in float16, on purpose
        return _inject(rng, p, EDGE_SCORES, draw(st.integers(0, 3))).astype(dtype)


@st.composite
def margin_inputs(draw, *, class_api=False):
    """(y_true, y_pred) for hinge/squared hinge, in the layouts each API accepts."""
    dtype = draw(dtypes)
    n = draw(st.integers(1, 6))
    d = draw(st.sampled_from([1, 1, 2, 3, 8, 10, 40]))
    t = draw(st.integers(1, 3))
    layouts = {"2d": ((n, d), (n, d)), "1d": ((d,), (d,)), "3d": ((n, t, d), (n, t, d)),
               "broadcast": ((d,), (n, d)), "empty": ((0, d), (0, d)), "no_outputs": ((n, 0), (n, 0))}
    if class_api:  # the class brings (N,) and (N, 1) to the same rank
        layouts.update(n_vs_n1=((n,), (n, 1)), n1_vs_n=((n, 1), (n,)))
        # Empty batches with (0, 1) weights trip a float16 sum shared by every loss
        # (lossbounds._tfmath.half_sum); test_empty_batches covers the class in float32.
        del layouts["empty"]
    layout = draw(st.sampled_from(sorted(layouts)))
    shape_true, shape_pred = layouts[layout]
    y_true = draw(binary_labels(shape_true))
    y_pred = draw(scores(shape_pred, dtype))
    if class_api and draw(st.integers(0, 9)) == 0:  # the class casts integer predictions
        y_pred = np.random.default_rng(draw(seeds)).integers(-3, 4, shape_pred)
    return y_true, y_pred


@st.composite
def categorical_labels(draw, shape):
    rng = np.random.default_rng(draw(seeds))
    k = shape[-1]
    style = draw(st.sampled_from(["onehot", "onehot", "onehot", "soft", "multihot", "plus_minus",
                                  "zeros"]))
    if style == "onehot":
        y = np.eye(k)[rng.integers(k, size=shape[:-1])]
    elif style == "soft":
        y = rng.random(shape)
        y /= y.sum(axis=-1, keepdims=True)
    elif style == "multihot":
        y = rng.integers(0, 2, shape).astype(np.float64)
    elif style == "plus_minus":
        y = 2 * np.eye(k)[rng.integers(k, size=shape[:-1])] - 1
    else:
        y = np.zeros(shape)
    kind = draw(st.sampled_from([np.float32, np.float64, np.float16]
                                + ([np.int32, bool] if style in ("onehot", "multihot") else [])))
    return y.astype(kind)


@st.composite
def categorical_scores(draw, shape, dtype):
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(["softmax", "softmax", "scores", "negative", "huge", "uniform",
                                  "large_soft"]))
    k = shape[-1]
    if style == "softmax":
        z = rng.standard_normal(shape) * 3
        z = np.exp(z - z.max(axis=-1, keepdims=True))
        p = z / z.sum(axis=-1, keepdims=True)
    elif style == "scores":
        p = rng.standard_normal(shape) * 3
    elif style == "negative":  # Keras' max also holds the true class as 0
        p = -np.abs(rng.standard_normal(shape)) * 5
    elif style == "huge":
        p = rng.standard_normal(shape) * 1e30
    elif style == "uniform":
        p = np.full(shape, 1.0 / k)
    else:  # large scores: the sum over classes must be added in TensorFlow's order
        p = rng.standard_normal(shape) * 1e4
    with np.errstate(over="ignore"):
        return _inject(rng, p, EDGE_SCORES, draw(st.integers(0, 3))).astype(dtype)


@st.composite
def categorical_inputs(draw, *, class_api=False):
    dtype = draw(dtypes)
    k = draw(st.sampled_from([1, 2, 3, 10, 40, 300]))
    n = draw(st.integers(1, 6 if k < 100 else 3))
    t = draw(st.integers(1, 3))
    layouts = {"2d": (n, k), "1d": (k,), "3d": (n, t, k)}
    shape = layouts[draw(st.sampled_from(sorted(layouts)))]
    y_true = draw(categorical_labels(shape))
    y_pred = draw(categorical_scores(shape, dtype))
    if class_api and draw(st.integers(0, 9)) == 0:
        y_pred = np.random.default_rng(draw(seeds)).integers(-3, 4, shape)
    return y_true, y_pred


def _function_case(name, y_true, y_pred):
    kind, expected = keras_function(name, y_true, y_pred)
    assert kind == "value", expected  # the strategies only make inputs Keras takes
    got = getattr(lossbounds, name)(y_true, y_pred)
    assert_close(got, expected, context=f"{name} {y_true.dtype}/{y_pred.dtype} {y_pred.shape}")


def _class_case(name, y_true, y_pred, data):
    loss_shape = np.broadcast_shapes(*(np.shape(a) for a in
                                       _rank_fixed(y_true, y_pred)))[:-1]
    weight = data.draw(sample_weights(loss_shape))
    reduction = data.draw(reductions)
    dtype = data.draw(class_dtypes)
    kind, expected = keras_class(name, y_true, y_pred, sample_weight=weight, reduction=reduction,
                                 dtype=dtype)
    mine, got = ours(lambda: lossbounds.loss(name, y_true, y_pred, sample_weight=weight,
                                             reduction=reduction, dtype=dtype))
    # Keras rejects (N,) weights against (N, T) losses; lossbounds must reject them too
    assert mine == kind, (expected, got)
    if kind == "value":
        assert_close(got, expected, context=f"{name} class {dtype} {reduction} {np.shape(weight)}")


def _rank_fixed(y_true, y_pred):
    from lossbounds.engine import same_rank
    return same_rank(np.asarray(y_true), np.asarray(y_pred))


# --------------------------------------------------------------------------
# Agreement with Keras: 300 examples per loss and per API


@pytest.mark.parametrize("name", MARGIN)
@settings(max_examples=300)
@given(inputs=margin_inputs())
def test_margin_function_agrees_with_keras(name, inputs):
    _function_case(name, *inputs)


@pytest.mark.parametrize("name", MARGIN)
@settings(max_examples=300)
@given(inputs=margin_inputs(class_api=True), data=st.data())
def test_margin_class_agrees_with_keras(name, inputs, data):
    _class_case(name, *inputs, data)


@settings(max_examples=300)
@given(inputs=categorical_inputs())
def test_categorical_function_agrees_with_keras(inputs):
    _function_case("categorical_hinge", *inputs)


@settings(max_examples=300)
@given(inputs=categorical_inputs(class_api=True), data=st.data())
def test_categorical_class_agrees_with_keras(inputs, data):
    _class_case("categorical_hinge", *inputs, data)


@pytest.mark.parametrize("dtype, lanes", [(np.float32, 8), (np.float64, 4), (np.float16, 8)])
def test_sums_over_classes_are_tensorflows_bit_for_bit(dtype, lanes):
    # The categorical hinge subtracts a sum from a max: one ulp of a large sum can exceed
    # 1e-6 of the result, so the sum is added in TensorFlow's order (Eigen's reducer).
    rng = np.random.default_rng(0)
    lengths = [*range(1, 70), 255, 1000, 1025, 4095, 4096, 4097, 8192, 8193, 20001]
    for count in lengths:
        rows = 3 if count > 1000 else 40
        x = (rng.standard_normal((rows, count)) * np.exp(rng.uniform(-4, 4, (rows, count))))
        x = x.astype(dtype)
        expected = tf.reduce_sum(tf.constant(x), axis=-1).numpy()
        assert np.array_equal(family._tf_sum(x), expected), (dtype, count)
        assert np.array_equal(family._tf_mean(x), keras.ops.mean(x, axis=-1).numpy()), (dtype, count)
    x = rng.standard_normal((2, 3, 5 * lanes + 3)).astype(dtype)  # rows at every offset
    assert np.array_equal(family._tf_sum(x), tf.reduce_sum(tf.constant(x), axis=-1).numpy())


def test_large_soft_scores_match_keras_to_the_last_bit():
    rng = np.random.default_rng(3)
    y = rng.random((50, 37)).astype(F32)
    y /= y.sum(axis=1, keepdims=True)
    p = (rng.standard_normal((50, 37)) * 1e4).astype(F32)
    expected = keras.losses.categorical_hinge(y, p).numpy()
    assert np.array_equal(lossbounds.categorical_hinge(y, p), expected)
    assert not np.array_equal(  # numpy's own sum order would differ here
        np.maximum(np.max((1 - y) * p, axis=-1) - np.sum(y * p, axis=-1) + F32(1), F32(0)), expected)


# --------------------------------------------------------------------------
# The whole batch decides the labels


def _keras(name, y_true, y_pred):
    return getattr(keras.losses, name)(np.asarray(y_true, F32), np.asarray(y_pred, F32)).numpy()


@pytest.mark.parametrize("name, alone, mixed", [
    # alone: [0, 1] -> [-1, 1]: (max(0, 1 + 0.3) + max(0, 1 - 0.8)) / 2 = (1.3 + 0.2) / 2
    ("hinge", 0.75, 0.6),  # mixed: the 0 stays 0 and costs 1: (1 + 0.2) / 2
    ("squared_hinge", (1.3**2 + 0.2**2) / 2, (1 + 0.2**2) / 2),
])
def test_the_same_row_scores_differently_in_another_batch(name, alone, mixed):
    row, scores_ = [[0.0, 1.0]], [[0.3, 0.8]]
    batch, batch_scores = [[0.0, 1.0], [-1.0, 1.0]], [[0.3, 0.8], [0.3, 0.8]]
    function = getattr(lossbounds, name)
    assert_close(function(row, scores_), _keras(name, row, scores_))
    assert_close(function(batch, batch_scores), _keras(name, batch, batch_scores))
    assert function(row, scores_)[0] == pytest.approx(alone, rel=1e-6)
    assert function(batch, batch_scores)[0] == pytest.approx(mixed, rel=1e-6)
    # The class API and the running mean decide batch by batch too
    meter = lossbounds.LossMeter(name)
    meter.update(np.asarray(row, F32), np.asarray(scores_, F32))
    meter.update(np.asarray([[-1.0, 1.0]], F32), np.asarray([[0.3, 0.8]], F32))
    whole = lossbounds.loss(name, np.asarray(batch, F32), np.asarray(batch_scores, F32))
    assert meter.result() == pytest.approx((alone + function([[-1.0, 1.0]], [[0.3, 0.8]])[0]) / 2)
    assert whole == pytest.approx(float(keras_class(name, np.asarray(batch, F32),
                                                    np.asarray(batch_scores, F32))[1]))
    assert meter.result() != pytest.approx(whole)


@pytest.mark.parametrize("y_true, y_pred, expected", [
    ([[0.0, 0.0]], [[0.3, -2.0]], (1.3 + 0.0) / 2),  # an all-zero batch becomes all -1
    ([[0.5, 1.0]], [[0.3, 0.8]], (0.85 + 0.2) / 2),  # a soft label: nothing converted
    ([[1.0, 1.0]], [[np.inf, np.inf]], 0.0),
    ([[0.0, 1.0]], [[np.inf, -np.inf]], np.inf),
])
def test_conversion_edges(y_true, y_pred, expected):
    got = lossbounds.hinge(y_true, y_pred)
    assert_close(got, _keras("hinge", y_true, y_pred))
    assert got[0] == pytest.approx(expected, rel=1e-6)


def test_float16_labels_are_decided_after_the_cast():
    # 0.9999 rounds to 1 in float16: the batch is 0/1 and is converted, as in Keras
    y, p = np.array([[0.0, 0.9999]]), np.array([[0.3, 0.8]], np.float16)
    assert_close(lossbounds.hinge(y, p), keras.losses.hinge(y, p).numpy())
    assert_close(lossbounds.loss("hinge", y, p, dtype="float16"),
                 keras_class("hinge", y, p, dtype="float16")[1])
    assert lossbounds.loss("hinge", y, p, dtype="float16") == pytest.approx(0.75, abs=1e-3)
    p64 = p.astype(np.float64)  # not converted in float64: the 0 stays 0 and costs 1
    assert lossbounds.loss("hinge", y, p, dtype="float64") == pytest.approx(
        (1 + (1 - 0.9999 * p64[0, 1])) / 2, rel=1e-12)


def test_categorical_hinge_compares_with_zero_too():
    # keras-team/keras#8083: the true class enters the max as 0
    y, p = [[1.0, 0.0, 0.0]], [[-5.0, -6.0, -7.0]]
    assert_close(lossbounds.categorical_hinge(y, p), _keras("categorical_hinge", y, p))
    assert lossbounds.categorical_hinge(y, p)[0] == 6.0  # 1 + max(0, -6, -7) - (-5)
    assert lossbounds.categorical_hinge(y, [[5.0, 4.0, 3.0]])[0] == 0.0


# --------------------------------------------------------------------------
# Garbage in, a clear error out


def test_integer_predictions_raise_a_type_error_as_in_keras():
    for name in ALL:
        y = np.eye(3, dtype=F32)[[0, 1]] if name == "categorical_hinge" else np.array([[0, 1]], F32)
        p = np.ones_like(y, dtype=np.int32)
        assert keras_function(name, y, p)[0] == "error"
        assert isinstance(keras_function(name, y, p)[1], TypeError)
        with pytest.raises(TypeError, match="`y_pred` has integer dtype.*astype"):
            getattr(lossbounds, name)(y, p)
        # the class casts to float32 first, in Keras as here
        assert_close(lossbounds.loss(name, y, p), keras_class(name, y, p)[1])


@pytest.mark.parametrize("name", MARGIN)
def test_n_against_n1_raises_where_keras_broadcasts(name):
    y, p = np.array([0.0, 1.0, 1.0], F32), np.array([[0.3], [0.8], [0.1]], F32)
    garbage = keras.losses.get(name)(y, p).numpy()  # every label against every score
    with pytest.raises(ValueError, match=r"`y_true` has shape \(3,\) and `y_pred` has shape "
                                         r"\(3, 1\).*\(3, 3\).*lossbounds.loss"):
        getattr(lossbounds, name)(y, p)
    right = keras_class(name, y, p)[1]  # the class fixes the rank first
    assert_close(lossbounds.loss(name, y, p), right)
    assert garbage.shape == (3,) and not np.isclose(garbage.mean(), right)
    with pytest.raises(ValueError, match="y_pred"):
        getattr(lossbounds, name)(np.ones((3, 1)), p[:, 0])  # (3, 1) against (3,)


@pytest.mark.parametrize("name", ALL)
def test_labels_outside_minus_one_one_raise(name):
    k = 3
    y = np.array([[0.0, 2.0, 0.0]], F32)  # a class index where a label belongs
    p = np.full((1, k), 0.2, F32)
    assert keras_function(name, y, p)[0] == "value"  # Keras computes something
    with pytest.raises(ValueError, match=r"`y_true` must hold .* got 2\. Keras would use it"):
        getattr(lossbounds, name)(y, p)
    with pytest.raises(ValueError, match="y_true"):
        lossbounds.loss(name, y, p)
    with pytest.raises(ValueError, match="y_true"):
        lossbounds.prior_baseline(name, y)


@pytest.mark.parametrize("name", MARGIN)
@pytest.mark.parametrize("head, tail", [([0.0, 1.0], [-1.0, 3.0]), ([-1.0, 1.0], [0.0, -3.0]),
                                        ([0.0, 1.0], [1.0, 2.0])])
def test_a_bad_label_after_many_good_ones_raises(name, head, tail):
    # The labels are read once where they are 0 and 1, and the check of [-1, 1] resumes at
    # the first other label: a bad one far after it (1.2 million labels in, several pieces)
    # is still found, whatever the labels before it.
    y = np.resize(np.array(head, F32), (1_200_000, 1))
    y[-2:, 0] = tail
    p = np.full_like(y, 0.2)
    with pytest.raises(ValueError, match=rf"`y_true` must hold .* got {tail[-1]:g}\. Keras"):
        getattr(lossbounds, name)(y, p)
    y[-1, 0] = tail[0]  # every label in [-1, 1]: converted where all are 0 and 1, as in Keras
    assert_close(lossbounds.loss(name, y, p), keras_class(name, y, p)[1])


def test_categorical_hinge_needs_matching_class_axes():
    labels, p = np.array([[0], [2]], F32), np.full((2, 3), 1 / 3, F32)
    assert keras_function("categorical_hinge", np.array([[0], [1]], F32), p)[0] == "value"
    with pytest.raises(ValueError, match="same last dimension.*to_categorical"):
        lossbounds.categorical_hinge(labels, p)
    with pytest.raises(ValueError, match="same last dimension"):
        lossbounds.categorical_hinge(np.array([0.0, 1.0, 0.0]), p[:, :1].repeat(1, 0)[:3])


def test_empty_batches():
    empty = np.zeros((0, 3), F32)
    assert keras_function("categorical_hinge", empty, empty)[0] == "error"
    with pytest.raises(ValueError, match="empty"):
        lossbounds.categorical_hinge(empty, empty)
    for name in MARGIN:  # Keras returns an empty result, and NaN for no outputs
        assert_close(getattr(lossbounds, name)(empty, empty), keras_function(name, empty, empty)[1])
        for reduction in ("sum_over_batch_size", "sum", None):
            assert_close(lossbounds.loss(name, empty, empty, reduction=reduction),
                         keras_class(name, empty, empty, reduction=reduction)[1])
        none = np.zeros((2, 0), F32)
        assert_close(getattr(lossbounds, name)(none, none), keras_function(name, none, none)[1])


@pytest.mark.parametrize("name", ALL)
def test_scalars_and_junk(name):
    function = getattr(lossbounds, name)
    assert keras_function(name, np.float32(1), np.float32(0.3))[0] == "error"
    with pytest.raises(ValueError, match="`y_pred` must have at least one dimension"):
        function(1.0, 0.3)
    with pytest.raises(TypeError, match="y_pred"):
        function([[1.0, 0.0]], "junk")
    with pytest.raises(TypeError, match="y_true"):
        function([["a", "b"]], [[1.0, 0.0]])
    with pytest.raises(TypeError, match="no option 'from_logits'"):
        lossbounds.loss(name, [[1.0, 0.0]], [[1.0, 0.0]], from_logits=True)
    with pytest.raises(ValueError, match="epsilon"):
        function([[1.0, 0.0]], [[1.0, 0.0]], epsilon=0.0)


# --------------------------------------------------------------------------
# Names and dtypes


def test_names_are_those_keras_accepts():
    for name in ALL:
        definition = get_loss(name)
        assert keras.losses.get(definition.name) is getattr(keras.losses, name)
        assert isinstance(keras.losses.get(definition.class_name), keras.losses.Loss)
        assert getattr(keras.losses, definition.class_name)().name == name
        for alias in definition.names():
            assert get_loss(alias) is definition
    assert get_loss("Hinge").name == "hinge" and get_loss("squared-hinge-loss").name == "squared_hinge"


@pytest.mark.parametrize("name", ALL)
def test_dtypes_follow_y_pred(name):
    y = np.array([[0.0, 1.0, 0.0]])
    for dtype in (np.float16, np.float32, np.float64):
        p = np.array([[0.1, 0.7, 0.2]], dtype)
        got = getattr(lossbounds, name)(y, p)
        assert got.dtype == dtype
        assert_close(got, keras_function(name, y, p)[1])
    assert getattr(lossbounds, name)([[0.0, 1.0, 0.0]], [[0.1, 0.7, 0.2]]).dtype == F32  # lists


# --------------------------------------------------------------------------
# Each bound is a value Keras returns


def _class_value(name, y, p, **kwargs):
    kind, value = keras_class(name, np.asarray(y, F32), np.asarray(p, F32), **kwargs)
    assert kind == "value", value
    return float(value)


@pytest.mark.parametrize("name, pred_range, y, p", [
    # best: the right sign with a margin of at least 1
    ("hinge", None, [[1.0], [-1.0]], [[1.0], [-3.0]]),
    ("squared_hinge", None, [[1.0], [0.0]], [[2.0], [-1.0]]),
    ("hinge", (-1.0, 1.0), [[1.0], [0.0]], [[1.0], [-1.0]]),
    # scores in [0, 0.5] never reach the margin: label +1 at 0.5 costs 0.5
    ("hinge", (0.0, 0.5), [[1.0], [1.0]], [[0.5], [0.5]]),
    ("squared_hinge", (0.0, 0.5), [[1.0], [1.0]], [[0.5], [0.5]]),
    ("categorical_hinge", None, np.eye(4)[[0, 2]], np.eye(4)[[0, 2]]),
    ("categorical_hinge", (0.0, 1.0), np.eye(4)[[0, 2]], np.eye(4)[[0, 2]]),
    ("categorical_hinge", (0.25, 0.5), [[1, 0, 0]], [[0.5, 0.25, 0.25]]),  # 1 + 0.25 - 0.5
])
def test_best_case_is_attained(name, pred_range, y, p):
    best = lossbounds.best_case(name, pred_range=pred_range)
    assert _class_value(name, y, p) == pytest.approx(best, abs=1e-7)
    values = keras_function(name, np.asarray(y, F32), np.asarray(p, F32))[1]
    assert np.allclose(values, best, atol=1e-7)


@pytest.mark.parametrize("name, pred_range, y, p, worst", [
    ("hinge", (-1.0, 1.0), [[1.0], [0.0]], [[-1.0], [1.0]], 2.0),  # the 0 is converted to -1
    ("hinge", (0.0, 1.0), [[0.0], [0.0]], [[1.0], [1.0]], 2.0),  # a sigmoid: label 0 scored 1
    ("hinge", (-3.0, 0.5), [[1.0]], [[-3.0]], 4.0),
    ("squared_hinge", (-1.0, 1.0), [[-1.0], [1.0]], [[1.0], [-1.0]], 4.0),
    ("squared_hinge", (-3.0, 0.5), [[1.0]], [[-3.0]], 16.0),
    ("categorical_hinge", (0.0, 1.0), [[1, 0, 0]], [[0.0, 1.0, 0.0]], 2.0),
    ("categorical_hinge", (-1.0, 1.0), [[1, 0, 0]], [[-1.0, 1.0, 0.0]], 3.0),
    ("categorical_hinge", (-2.0, -1.0), [[1, 0, 0]], [[-2.0, -1.0, -1.0]], 3.0),  # the 0 in the max
])
def test_worst_case_is_attained(name, pred_range, y, p, worst):
    assert lossbounds.worst_case(name, pred_range=pred_range) == worst
    assert _class_value(name, y, p) == pytest.approx(worst, rel=1e-7)


@pytest.mark.parametrize("name", ALL)
def test_unbounded_scores_have_no_worst_case(name):
    assert lossbounds.worst_case(name) == math.inf
    y = [[1.0, 0.0]]
    for scale in (1e3, 1e10, 1e30):
        p = [[-scale, scale]]
        assert _class_value(name, y, p) >= scale  # grows without limit


@pytest.mark.parametrize("name", MARGIN)
def test_predicting_zero_scores_exactly_one(name):
    assert lossbounds.baseline(name) == 1.0
    rng = np.random.default_rng(0)
    for y in (rng.integers(0, 2, (50, 3)), rng.choice([-1, 1], (50, 1)),
              rng.choice([-1, 0, 1], (50, 2)), rng.uniform(-1, 1, (50, 4))):
        assert _class_value(name, y, np.zeros(y.shape)) == 1.0  # exactly, whatever the labels


@pytest.mark.parametrize("k", [2, 3, 10, 1000])
def test_categorical_uniform_is_exactly_one(k):
    assert lossbounds.baseline("categorical_hinge", n_classes=k) == 1.0
    y = np.eye(k)[np.random.default_rng(k).integers(0, k, 20)]
    assert _class_value("categorical_hinge", y, np.full(y.shape, 1.0 / k)) == 1.0
    assert _class_value("categorical_hinge", y, np.zeros(y.shape)) == 1.0


# --------------------------------------------------------------------------
# The prior baseline: closed forms, Keras at the claimed constant, and no constant beats it


def _margin_loss(c, y, w, squared):
    """An independent float64 formula: the weighted mean loss of the constant score c."""
    shortfall = np.maximum(0.0, 1.0 - np.asarray(y, float) * c)
    return float(np.sum(w * (shortfall**2 if squared else shortfall)) / np.sum(w))


def _brute_force_1d(y, w, squared, low=-50.0, high=50.0):
    grid = np.linspace(low, high, 20001)
    shortfall = np.maximum(0.0, 1.0 - np.outer(grid, np.asarray(y, float)))
    values = (shortfall**2 if squared else shortfall) @ w / np.sum(w)
    start = grid[int(np.argmin(values))]
    step = grid[1] - grid[0]
    found = optimize.minimize_scalar(
        lambda c: _margin_loss(c, y, w, squared),
        bounds=(max(low, start - step), min(high, start + step)), method="bounded",
        options={"xatol": 1e-13})
    return min(float(values.min()), found.fun), found.x


@pytest.mark.parametrize("name", MARGIN)
@pytest.mark.parametrize("share", [0.0, 0.1, 0.25, 0.5, 0.6, 0.9, 1.0])
def test_margin_prior_closed_form(name, share):
    n = 40
    y = np.where(np.arange(n) < round(share * n), 1.0, 0.0)  # 0/1 labels, converted
    f_pos = round(share * n) / n
    f_neg = 1 - f_pos
    claimed = 2 * min(f_pos, f_neg) if name == "hinge" else 4 * f_pos * f_neg  # the derivations
    prior = lossbounds.prior_baseline(name, y)
    assert prior == pytest.approx(claimed, abs=1e-12)
    assert lossbounds.prior_baseline(name, counts=[n - round(share * n), round(share * n)]) \
        == pytest.approx(claimed, abs=1e-12)
    # Keras at the claimed best constant
    c = (np.sign(f_pos - f_neg) if name == "hinge" else f_pos - f_neg)
    assert _class_value(name, y[:, None], np.full((n, 1), c)) == pytest.approx(claimed, abs=1e-6)
    # no constant does better
    brute, _ = _brute_force_1d(2 * y - 1, np.ones(n), name == "squared_hinge")
    assert brute >= prior - 1e-9
    assert brute <= prior + 1e-9


@st.composite
def label_sets(draw):
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 30))
    style = draw(st.sampled_from(["zero_one", "plus_minus", "mixed", "soft", "zeros"]))
    y = {"zero_one": lambda: rng.integers(0, 2, n).astype(float),
         "plus_minus": lambda: rng.choice([-1.0, 1.0], n),
         "mixed": lambda: rng.choice([-1.0, 0.0, 1.0], n),
         "soft": lambda: np.round(rng.uniform(-1, 1, n), 2),
         "zeros": lambda: np.zeros(n)}[style]()
    w = rng.random(n) + 0.1 if draw(st.booleans()) else None
    pred_range = draw(st.sampled_from([None, None, (-1.0, 1.0), (0.0, 1.0), (-0.3, 2.0)]))
    return y, w, pred_range


@pytest.mark.parametrize("name", MARGIN)
@settings(max_examples=40)
@given(case=label_sets())
def test_no_constant_beats_the_margin_prior(name, case):
    y, w, pred_range = case
    squared = name == "squared_hinge"
    prior = lossbounds.prior_baseline(name, y.astype(F32), sample_weight=w, pred_range=pred_range)
    # the labels Keras uses: float32, converted if all are 0 or 1
    y32 = y.astype(F32).astype(float)
    if np.all((y32 == 0) | (y32 == 1)):
        y32 = 2 * y32 - 1
    weights = np.ones(y.size) if w is None else w
    low, high = pred_range or (-50.0, 50.0)
    brute, best_c = _brute_force_1d(y32, weights, squared, low, high)
    assert prior <= brute + 1e-9  # nothing on the grid or found by scipy beats it
    assert prior >= brute - 1e-9  # and it is attained (to 1e-9)
    # Keras at the brute-force constant
    value = _class_value(name, y[:, None], np.full((y.size, 1), best_c), sample_weight=weights,
                         reduction="mean_with_sample_weight")
    assert value == pytest.approx(brute, abs=1e-5)


def _categorical_loss(c, rows, w):
    c = np.asarray(c, float)
    neg = np.max((1 - rows) * c, axis=1)
    return float(w @ np.maximum(0.0, neg - rows @ c + 1) / w.sum())


def _brute_force_simplex(rows, w, low=None, high=None, starts=12, seed=0):
    """Nelder-Mead from the corners, random points and the best points of a dense grid."""
    rng = np.random.default_rng(seed)
    k = rows.shape[1]
    lo = -3.0 if low is None else low
    hi = 3.0 if high is None else high
    candidates = [np.zeros(k), *np.eye(k)] + [rng.uniform(lo, hi, k) for _ in range(starts)]
    if k <= 3:
        axes = np.meshgrid(*[np.linspace(lo, hi, 61)] * k, indexing="ij")
        grid = np.stack([a.reshape(-1) for a in axes], axis=1)
        neg = np.max((1 - rows)[None] * grid[:, None, :], axis=2)
        values = np.maximum(0.0, neg - grid @ rows.T + 1) @ w / w.sum()
        candidates += list(grid[np.argsort(values)[:5]])
    best = math.inf
    for start in candidates:
        start = np.clip(start, lo, hi)
        found = optimize.minimize(
            lambda c: _categorical_loss(np.clip(c, lo, hi), rows, w), start, method="Nelder-Mead",
            options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000})
        best = min(best, found.fun, _categorical_loss(start, rows, w))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_categorical_prior_closed_form(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 7))
    counts = rng.integers(0, 20, k)
    counts[rng.integers(k)] += 1
    f = counts / counts.sum()
    claimed = min(1.0, 2 * (1 - f.max()))  # the proof in CategoricalHinge
    labels = np.repeat(np.eye(k), counts, axis=0)
    assert lossbounds.prior_baseline("categorical_hinge", labels) == pytest.approx(claimed, abs=1e-12)
    assert lossbounds.prior_baseline("categorical_hinge", counts=counts) \
        == pytest.approx(claimed, abs=1e-12)
    # Keras at the claimed constants: the most frequent class scored 1, or equal scores
    best_scores = np.tile(np.eye(k)[np.argmax(f)], (labels.shape[0], 1))
    keras_best = min(_class_value("categorical_hinge", labels, best_scores),
                     _class_value("categorical_hinge", labels, np.zeros_like(labels)))
    assert keras_best == pytest.approx(claimed, abs=1e-6)
    # no constant does better (Nelder-Mead from many starts), and the LP agrees
    w = counts.astype(float)
    assert _brute_force_simplex(np.eye(k), w, seed=seed) >= claimed - 1e-9
    assert family._categorical_lp(np.eye(k), w, -math.inf, math.inf) == pytest.approx(claimed, abs=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_categorical_prior_of_soft_labels_and_boxed_scores(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 4))
    if seed % 2:
        rows = rng.random((6, k))
        rows /= rows.sum(axis=1, keepdims=True)
        rows = rows.astype(F32)
        box = (-3.0, 3.0)
    else:
        rows = np.eye(k, dtype=F32)[rng.integers(0, k, 12)]
        box = (0.0, 0.5)
    w = rng.random(rows.shape[0]) + 0.2
    prior = lossbounds.prior_baseline("categorical_hinge", rows, sample_weight=w, pred_range=box)
    brute = _brute_force_simplex(rows.astype(float), w, *(box or (None, None)), seed=seed)
    assert prior <= brute + 1e-9  # no constant beats it
    assert prior >= brute - 1e-6  # Nelder-Mead gets close to it


def test_soft_labels_let_a_constant_reach_zero():
    # With every class's target above 0, Keras' max has no 0 term: equal scores c cost
    # max(0, 1 - c * min_k y_k), so a large enough constant costs nothing.
    rows = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.25, 0.25, 0.5]], F32)
    assert lossbounds.prior_baseline("categorical_hinge", rows) == pytest.approx(0.0, abs=1e-9)
    scores_ = np.full(rows.shape, 1 / rows.min(), F32)
    assert _class_value("categorical_hinge", rows, scores_) == 0.0
    assert _class_value("categorical_hinge", rows, np.full(rows.shape, 1 / 3, F32)) < 1.0


def test_prior_inputs():
    with pytest.raises(ValueError, match="exactly one of `y_true`"):
        lossbounds.prior_baseline("hinge")
    with pytest.raises(ValueError, match=r"\(negatives, positives\)"):
        lossbounds.prior_baseline("hinge", counts=[1, 2, 3])
    with pytest.raises(ValueError, match="n_classes=4"):
        lossbounds.prior_baseline("categorical_hinge", counts=[1, 2, 3], n_classes=4)
    with pytest.raises(ValueError, match="sample_weight"):
        lossbounds.prior_baseline("hinge", [0, 1], sample_weight=[1, 2, 3])
    with pytest.raises(ValueError, match="NaN"):
        lossbounds.prior_baseline("hinge", [0, np.nan])
    # per output, averaged: output 0 is all +1 (prior 0), output 1 balanced (prior 1)
    assert lossbounds.prior_baseline("hinge", [[1, 1], [1, 0]]) == pytest.approx(0.5)
    assert lossbounds.prior_baseline("hinge", counts=[[0, 5], [5, 5]]) == pytest.approx(0.5)


# --------------------------------------------------------------------------
# What a value means


def test_explain_speaks_of_the_margin():
    e = lossbounds.explain(0.31, "hinge", pred_range=(-1, 1))
    text = str(e)
    assert "right with margin 1" in text and "average shortfall" in text
    assert e.error_rate_bound == pytest.approx(0.31)  # a wrong sign costs at least 1
    assert "At most 31% of the outputs can be on the wrong side of 0" in text
    assert "At least 16% of the outputs are inside the margin" in text  # 0.31 / 2
    assert e.kinds == ()
    squared = str(lossbounds.explain(0.25, "squared_hinge"))
    assert "sqrt(0.25) = 0.5 is the root-mean-square shortfall" in squared
    cat = lossbounds.explain(0.42, "categorical_hinge", counts=[7, 2, 1], pred_range=(0, 1))
    assert "misclassified (argmax ≠ label" in str(cat)
    assert cat.bounds is not None and cat.bounds.prior == pytest.approx(0.6)
    assert "is 0.6 (the prior baseline); 0.42 is 70% of it" in str(cat)


def test_value_flags():
    assert "predicts_zero" in lossbounds.explain(1.0, "hinge").kinds
    assert "predicts_zero" in lossbounds.explain(1.00004, "squared_hinge").kinds  # printed 1.0000
    assert "predicts_zero" not in lossbounds.explain(0.99, "hinge").kinds
    assert "equal_scores" in lossbounds.explain(1.0, "categorical_hinge").kinds
    assert "confidently_wrong" in lossbounds.explain(2.0, "hinge", pred_range=(-1, 1)).kinds
    assert "confidently_wrong" in lossbounds.explain(2.0, "categorical_hinge",
                                                     pred_range=(0, 1)).kinds
    assert "nonnegative_scores" in lossbounds.explain(0.3, "hinge", pred_range=(0, 1)).kinds
    assert lossbounds.explain(0.3, "hinge", pred_range=(-1, 1)).kinds == ()
    notes = lossbounds.bounds("hinge").notes
    assert [note.code for note in notes] == ["labels_converted_per_batch"]
    notes = lossbounds.bounds("squared_hinge", pred_range=(0, 1)).notes
    assert [note.code for note in notes] == ["labels_converted_per_batch", "nonnegative_scores"]
    assert "zero_in_the_max" in [note.code for note in lossbounds.bounds("categorical_hinge").notes]


def test_a_hinge_stuck_at_one_is_a_model_that_predicts_zero():
    # What Keras prints for a zero-initialised linear model, and what explain says about it
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile("sgd", "hinge")
    x = np.random.default_rng(0).standard_normal((32, 3)).astype(F32)
    y = (x[:, :1] > 0).astype(F32)
    value = float(model.evaluate(x, y, verbose=0))
    assert value == 1.0
    assert "predicts_zero" in lossbounds.explain(value, "hinge").kinds
