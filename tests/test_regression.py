"""The regression losses against live Keras 3 (TensorFlow): MAE, MAPE, MSLE, Huber and log-cosh.

- Values: hypothesis draws inputs that reach the edges (exact 0 and 1,
  epsilon, tiny and huge values, overflow, every dtype, (N,) against (N, 1),
  broadcasting, integer predictions, every option, sample-weight shape and
  reduction) and lossbounds must agree with Keras, function and class API,
  300 examples each; where Keras raises, lossbounds raises.
- Bounds: inputs built to make Keras return each claimed bound, grids of
  targets and predictions that Keras never takes outside [best, worst], and a
  brute-force minimiser (scipy and a dense grid) that no constant beats the
  prior baseline. Golden values come from live Keras or from the derivation
  written next to them.
- Deliberate deviations (where Keras computes garbage and lossbounds raises),
  junk input, the words of `explain` and `diagnose`.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import assert_close, keras_class, keras_function, ours
from scipy.optimize import minimize_scalar
from strategies import EPSILONS, class_dtypes, reductions, sample_weights, seeds

import lossbounds
from lossbounds.registry import UndefinedBound, get_loss

F32 = np.float32
EPS32 = float(F32(1e-7))  # keras.config.epsilon() as a float32 tensor
EXAMPLES = 300
LOSSES = (
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "huber",
    "log_cosh",
)
# The exactness contract: 1e-6 relative; log_cosh 2e-7 absolute on top (Keras' own cancellation).
ATOL = {"log_cosh": 2e-7}
INTEGER_PREDICTIONS = ("mean_absolute_error", "mean_squared_logarithmic_error")
EDGES = (0.0, 1.0, -1.0, 1e-7, -1e-7, 1e-8, 0.5, 2.0, 3.0, 65504.0, 1e19, -1e19, 1e-30, 3e38,
         -3e38)
DELTAS = st.one_of(st.sampled_from([1.0, 0.5, 2.0, 1e-3, 10.0, 1e5, math.inf]),
                   st.floats(1e-3, 1e3))


def check(expected, actual, context, name):
    """Keras' value (or error) against lossbounds' (or error)."""
    kind, value = expected
    our_kind, our_value = actual
    if kind == "error":
        assert our_kind == "error", (
            f"{context}: Keras raised {type(value).__name__}: {value}, lossbounds returned "
            f"{our_value!r}")
        return
    assert our_kind == "value", f"{context}: Keras returned {value!r}, lossbounds raised {our_value!r}"
    assert_close(our_value, value, context=context, atol=ATOL.get(name, 0.0))


# --------------------------------------------------------------------------
# Inputs


def _inject(draw, rng, array, edges):
    flat = array.reshape(-1)
    for _ in range(draw(st.integers(0, 4))):
        flat[rng.integers(flat.size)] = draw(st.sampled_from(edges))
    return array


def _like(y, shape):
    """`y` laid out as the predictions are: (N,) as (N, 1), (N, 1) as (N,), or broadcast."""
    if y.shape == shape:
        return y.copy()
    if y.ndim + 1 == len(shape) and shape[-1] == 1:
        return y[..., None].copy()
    if y.ndim == len(shape) + 1 and y.shape[-1] == 1:
        return y[..., 0].copy()
    return np.broadcast_to(y, shape).copy()


@st.composite
def regression_inputs(draw, name):
    """(y_true, y_pred, options, loss_shape): every layout, scale and edge the losses meet."""
    rng = np.random.default_rng(draw(seeds))
    choices = ["float32", "float32", "float16", "float64"]
    if name in INTEGER_PREDICTIONS:
        choices.append("int32")
    dtype = draw(st.sampled_from(choices), label="dtype")
    n = draw(st.integers(1, 6))
    d = draw(st.sampled_from([1, 2, 3, 8, 10, 17]))
    layout = draw(st.sampled_from(
        ["same", "same", "same", "n_vs_n1", "n1_vs_n", "vector", "broadcast", "3d"]))
    shapes = {
        "same": ((n, d), (n, d)),
        "n_vs_n1": ((n,), (n, 1)),
        "n1_vs_n": ((n, 1), (n,)),
        "vector": ((d,), (d,)),
        "broadcast": ((d,), (n, d)),
        "3d": ((n, 2, d), (n, 2, d)),
    }[layout]
    scale = draw(st.sampled_from([1.0, 1.0, 1e-3, 1e-6, 100.0, 1e19]))
    style = draw(st.sampled_from(["apart", "close", "exact", "at_delta"]))
    y = rng.standard_normal(shapes[0]) * scale
    if style == "apart":
        p = rng.standard_normal(shapes[1]) * scale
    else:  # errors near 0 (log-cosh's cancellation), exactly 0, or exactly delta (Huber's corner)
        p = _like(y, shapes[1])
        if style == "close":
            p = p + rng.standard_normal(shapes[1]) * draw(st.sampled_from([1e-8, 1e-5, 3e-4, 1e-2]))
    options = {}
    if name == "huber":
        options["delta"] = draw(DELTAS, label="delta")
        if style == "at_delta" and math.isfinite(options["delta"]):
            p = p + options["delta"] * rng.choice([-1.0, 1.0], shapes[1])
    y = _inject(draw, rng, y, EDGES)
    p = _inject(draw, rng, p, EDGES)
    if name == "mean_squared_logarithmic_error":
        y = np.abs(y)  # negative targets are rejected (see the deviation tests)
    with np.errstate(over="ignore", invalid="ignore"):
        if dtype == "int32":
            y = np.clip(np.round(y), -1000, 1000)
            p = np.clip(np.round(p), -1000, 1000).astype(np.int32)
        else:
            p = p.astype(dtype)
        target_dtype = draw(st.sampled_from(["same", "float32", "float64"]), label="y_true dtype")
        y = y.astype(p.dtype if target_dtype == "same" else target_dtype)
    loss_shape = np.broadcast_shapes(y.shape, p.shape)[:-1]
    if layout in ("n_vs_n1", "n1_vs_n"):
        loss_shape = (n,)
    return y, p, options, loss_shape


# --------------------------------------------------------------------------
# Values: the function and the class against Keras


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_function_matches_keras(name, data):
    y_true, y_pred, options, _ = data.draw(regression_inputs(name))
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_function(name, y_true, y_pred, epsilon=epsilon, **options)
    actual = ours(lambda: getattr(lossbounds, name)(y_true, y_pred, epsilon=epsilon, **options))
    check(expected, actual, f"{name} {y_pred.dtype} {options}", name)


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_class_matches_keras(name, data):
    y_true, y_pred, options, loss_shape = data.draw(regression_inputs(name))
    if y_pred.dtype.kind == "i":
        y_pred = y_pred.astype(F32)  # the class casts to its dtype first: nothing new to see
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")
    dtype = data.draw(class_dtypes, label="class dtype")
    epsilon = data.draw(EPSILONS, label="epsilon")
    if name == "huber" and dtype in ("float16", "mixed_float16") and options["delta"] < 1e-4:
        options["delta"] = 1.0  # rounds to ~0 in float16: a deviation, tested below
    expected = keras_class(name, y_true, y_pred, sample_weight=sample_weight,
                           reduction=reduction, dtype=dtype, epsilon=epsilon, **options)
    extra = {} if dtype is None else {"dtype": dtype}
    actual = ours(lambda: lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                                          reduction=reduction, epsilon=epsilon, **extra, **options))
    check(expected, actual, f"{name} {reduction} {dtype} {options}", name)


def test_the_drawn_inputs_reach_the_edges():
    """The strategy draws what the values test claims: a check that the check can fail."""
    seen = {"float16": 0, "int32": 0, "inf": 0, "zero_error": 0, "n_vs_n1": 0}

    @settings(max_examples=100)
    @given(case=regression_inputs("mean_absolute_error"))
    def collect(case):
        y, p, _, _ = case
        seen[p.dtype.name] = seen.get(p.dtype.name, 0) + 1
        with np.errstate(all="ignore"):
            seen["inf"] += bool(np.isinf(p.astype(np.float64)).any())
            seen["zero_error"] += bool(np.any(y - p == 0))
        seen["n_vs_n1"] += y.ndim != p.ndim

    collect()
    assert all(count > 0 for count in seen.values()), seen


# --------------------------------------------------------------------------
# Quirks Keras has, reproduced


def keras_value(name, y_true, y_pred, dtype="float32", **options):
    name = get_loss(name).name
    kind, value = keras_function(name, np.asarray(y_true, dtype), np.asarray(y_pred, dtype),
                                 **options)
    assert kind == "value", value
    return value


def test_mape_divides_by_epsilon_near_zero_and_uses_the_absolute_target():
    # |0 - 1| / 1e-7 = 1e7, times 100; (-2 - 2) / |-2| = 2, times 100.
    for y, p, expected in [([[0.0]], [[1.0]], 1e9), ([[1e-8]], [[1.0]], (1 - 1e-8) / EPS32 * 100),
                           ([[-2.0]], [[2.0]], 200.0)]:
        value = keras_value("mape", y, p)
        assert value[0] == pytest.approx(expected, rel=1e-6)
        assert_close(lossbounds.mean_absolute_percentage_error(np.asarray(y, F32), np.asarray(p, F32)),
                     value)
    # float16: epsilon rounds to 2**-23, and |0 - 1| / 2**-23 overflows
    value = keras_value("mape", [[0.0]], [[1.0]], "float16")
    assert np.isinf(value[0])
    assert_close(lossbounds.mean_absolute_percentage_error(np.zeros((1, 1), np.float16),
                                                           np.ones((1, 1), np.float16)), value)


def test_mape_of_predicting_zero_is_exactly_100():
    y = np.array([[2.0, -3.0, 0.5]], F32)
    value = keras_value("mape", y, np.zeros_like(y))
    assert value[0] == 100.0
    assert lossbounds.mean_absolute_percentage_error(y, np.zeros_like(y))[0] == 100.0


def test_msle_floors_negative_predictions_at_epsilon():
    # (ln 2 - ln(1 + eps))**2 whatever the negative prediction: 0.480452865
    for p in (-0.5, -1.0, -5.0, 0.0):
        value = keras_value("msle", [[1.0]], [[p]])
        assert value[0] == pytest.approx((math.log(2) - math.log1p(EPS32)) ** 2, rel=1e-6)
        assert_close(lossbounds.mean_squared_logarithmic_error([[1.0]], [[p]]), value)


def test_msle_epsilon_is_float32_in_float64_and_float16_promotes():
    # 1.000000005e-7 lies between 1e-7 and float32(1e-7): floored only by the float32 epsilon
    y, p = np.zeros((1, 1)), np.array([[1.000000005e-7]])
    value = keras_value("msle", y, p, "float64")
    assert value[0] == 0.0 and value.dtype == np.float64
    assert_close(lossbounds.mean_squared_logarithmic_error(y, p), value)
    half = keras_value("msle", [[0, 1, 3, 7]], [[5, 6, 1000, 60000]], "float16")
    assert half.dtype == np.float32
    assert_close(lossbounds.mean_squared_logarithmic_error(np.array([[0, 1, 3, 7]], np.float16),
                                                           np.array([[5, 6, 1000, 60000]], np.float16)),
                 half)


def test_log_cosh_noise_is_reproduced_bit_for_bit():
    # Keras' x + softplus(-2x) - ln 2 in float32: errors below ~3e-4 give multiples of 2**-24
    errors = np.geomspace(1e-8, 1e-1, 57).astype(F32)
    errors = np.concatenate([errors, -errors])[:, None]
    zeros = np.zeros_like(errors)
    expected = keras_value("log_cosh", zeros, errors)
    assert (expected < 0).any(), "Keras' float32 noise should give negative values here"
    actual = lossbounds.log_cosh(zeros, errors)
    assert np.array_equal(actual, expected)
    rng = np.random.default_rng(1)
    for dtype in (np.float16, np.float32):  # Eigen's exp and log1p, packets and scalar tail
        x = (rng.standard_normal((1001, 3)) * rng.choice([1e-3, 1.0, 5.0], (1001, 3))).astype(dtype)
        assert np.array_equal(lossbounds.log_cosh(np.zeros_like(x), x),
                              keras_value("log_cosh", np.zeros_like(x), x, dtype.__name__))


def test_log_cosh_float64_uses_float32_ln2_and_infinities():
    value = keras_value("log_cosh", [[0.0]], [[0.0]], "float64")
    assert value[0] == pytest.approx(math.log(2) - float(F32(math.log(2))), abs=1e-18)  # -1.9e-09
    assert_close(lossbounds.log_cosh(np.zeros((1, 1)), np.zeros((1, 1))), value)
    infinite = keras_value("log_cosh", [[0.0], [0.0]], [[np.inf], [-np.inf]])
    assert np.isinf(infinite[0]) and np.isnan(infinite[1])
    assert_close(lossbounds.log_cosh(np.zeros((2, 1), F32), np.array([[np.inf], [-np.inf]], F32)),
                 infinite)


def test_huber_corner_overflow_and_a_float16_delta():
    # |e| == delta takes the quadratic branch: 0.5 delta**2 either way
    value = keras_value("huber", [[0.0, 0.0]], [[2.0, -2.0]], delta=2.0)
    assert value[0] == 2.0
    # a row [3e38, -3e38]: each finite, their float32 mean overflows
    big = keras_value("huber", [[0.0, 0.0]], [[3e38, -3e38]])
    assert np.isinf(big[0])
    assert_close(lossbounds.huber(np.zeros((1, 2), F32), np.array([[3e38, -3e38]], F32)), big)
    # delta=1e5 is inf in float16: half the squared error everywhere (3**2/2 = 4.5)
    half = keras_value("huber", [[0.0]], [[3.0]], "float16", delta=1e5)
    assert half[0] == 4.5
    assert_close(lossbounds.huber(np.zeros((1, 1), np.float16), np.full((1, 1), 3.0, np.float16),
                                  delta=1e5), half)


def test_huber_get_config_drops_delta_in_keras_and_lossbounds_says_so():
    loss = keras.losses.Huber(delta=2.5)
    y, p = np.array([[0.0], [0.0]], F32), np.array([[3.0], [0.5]], F32)
    # (2.5 * 3 - 2.5**2 / 2 + 0.5**2 / 2) / 2 = 2.25; with delta 1: (2.5 + 0.125) / 2 = 1.3125
    assert float(loss(y, p)) == 2.25
    assert float(keras.losses.Huber.from_config(loss.get_config())(y, p)) == 1.3125
    assert lossbounds.loss("huber", y, p, delta=2.5) == 2.25
    codes = [note.code for note in lossbounds.bounds("huber", delta=2.5).notes]
    assert codes == ["huber_delta_not_saved"]
    assert lossbounds.bounds("huber").notes == ()


def test_names_are_the_ones_keras_accepts():
    for alias, name in [("mae", "mean_absolute_error"), ("MAPE", "mean_absolute_percentage_error"),
                        ("msle", "mean_squared_logarithmic_error"), ("huber", "huber"),
                        ("log_cosh", "log_cosh")]:
        assert keras.losses.get(alias).__name__ == name
        assert get_loss(alias).name == name
    # the classes' `name` attributes; Keras' get() rejects "huber_loss", lossbounds takes it
    for name in LOSSES:
        definition = get_loss(name)
        keras_name = getattr(keras.losses, definition.class_name)().name
        assert get_loss(keras_name) is definition
    with pytest.raises(ValueError):
        keras.losses.get("huber_loss")


# --------------------------------------------------------------------------
# Deviations: where Keras computes garbage, lossbounds raises


def test_negative_msle_targets_raise():
    # Keras floors a target of -3 at epsilon: predicting -7 then "costs" 0
    assert keras_value("msle", [[-3.0]], [[-7.0]])[0] == 0.0
    for call in (lambda: lossbounds.mean_squared_logarithmic_error([[-3.0]], [[-7.0]]),
                 lambda: lossbounds.loss("msle", [[-3.0]], [[-7.0]]),
                 lambda: lossbounds.prior_baseline("msle", [1.0, -3.0]),
                 lambda: lossbounds.baseline("msle", [1.0, -3.0])):
        with pytest.raises(ValueError, match="y_true.*-3"):
            call()


def test_integer_predictions_keras_miscomputes_raise():
    y, p = np.array([[1, 2], [0, 3]], np.int32), np.array([[2, 2], [1, 1]], np.int32)
    # Huber: 0.5 becomes the integer 0, so the quadratic branch gives 0 ([0.25, 1.0] in floats)
    assert keras_value("huber", y, p, "int32").tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match="y_pred.*int32.*0.5"):
        lossbounds.huber(y, p)
    # MAPE: epsilon becomes the integer 0, so the target 0 gives inf (5e8 in floats), float64
    garbage = keras_value("mape", y, p, "int32")
    assert garbage.dtype == np.float64 and np.isinf(garbage[1])
    with pytest.raises(TypeError, match="y_pred.*int32.*epsilon"):
        lossbounds.mean_absolute_percentage_error(y, p)
    # log_cosh: Keras itself raises
    assert keras_function("log_cosh", y, p)[0] == "error"
    with pytest.raises(TypeError, match="y_pred"):
        lossbounds.log_cosh(y, p)
    # The class casts to float first: all three are fine there
    assert lossbounds.loss("huber", y, p) == pytest.approx(0.625)


def test_integer_predictions_with_fractional_or_wrapping_targets_raise():
    # Keras truncates 0.7 to 0 and 1.9 to 1: |0 - 1| and |1 - 1| give 0.5, not 0.6
    y, p = np.array([[0.7, 1.9]], F32), np.array([[1, 1]], np.int32)
    assert keras_value("mae", y, p, "float32")[0] == pytest.approx(0.6)
    kind, truncated = keras_function("mean_absolute_error", y, p)
    assert kind == "value" and truncated[0] == 0.5
    for function in (lossbounds.mean_absolute_error, lossbounds.mean_squared_logarithmic_error):
        with pytest.raises(ValueError, match="y_true.*0.7.*int32"):
            function(y, p)
    # unsigned predictions: 1 - 2 wraps around to 255
    kind, wrapped = keras_function("mean_absolute_error", np.array([[1]], np.uint8), np.array([[2]], np.uint8))
    assert kind == "value" and wrapped[0] == 255
    with pytest.raises(TypeError, match="y_pred.*uint8.*255"):
        lossbounds.mean_absolute_error(np.array([[1]], np.uint8), np.array([[2]], np.uint8))
    # whole targets are fine, as in Keras
    assert_close(lossbounds.mean_absolute_error([[1.0, 2.0]], np.array([[2, 2]], np.int32)),
                 keras_function("mean_absolute_error", np.array([[1.0, 2.0]], F32), np.array([[2, 2]], np.int32))[1])


@pytest.mark.parametrize(("delta", "error", "match"), [
    (0.0, ValueError, "delta.*positive"),
    (-1.0, ValueError, "delta.*positive"),
    (math.nan, ValueError, "delta.*NaN"),
    ("1", TypeError, "delta"),
    (True, TypeError, "delta"),
    (np.array([1.0, 2.0]), TypeError, "delta"),
])
def test_bad_delta_is_rejected(delta, error, match):
    y, p = np.zeros((1, 2), F32), np.array([[0.5, 3.0]], F32)
    for call in (lambda: lossbounds.huber(y, p, delta=delta),
                 lambda: lossbounds.loss("huber", y, p, delta=delta),
                 lambda: lossbounds.bounds("huber", delta=delta)):
        with pytest.raises(error, match=match):
            call()


def test_negative_delta_keras_would_make_the_loss_negative():
    assert keras_value("huber", [[0.0, 0.0]], [[0.5, 3.0]], delta=-1.0)[0] == -2.25


def test_delta_that_rounds_to_zero_in_float16_is_rejected():
    y, p = np.zeros((1, 2), np.float16), np.array([[0.5, 3.0]], np.float16)
    assert keras_value("huber", y, p, "float16", delta=1e-10)[0] == 0.0  # every error costs 0
    with pytest.raises(ValueError, match="delta.*rounds to 0 in float16"):
        lossbounds.huber(y, p, delta=1e-10)
    with pytest.raises(ValueError, match="delta.*rounds to 0"):
        lossbounds.loss("huber", y, p, delta=1e-10, dtype="float16")
    with pytest.raises(ValueError, match="delta.*rounds to 0"):
        lossbounds.worst_case("huber", delta=1e-10, dtype="float16", y_range=(0, 1),
                              pred_range=(0, 1))


@pytest.mark.parametrize("name", LOSSES)
def test_junk_input_names_the_argument(name):
    function = getattr(lossbounds, name)
    with pytest.raises(ValueError, match="y_pred.*scalar"):
        function(F32(1.0), F32(2.0))
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        function(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(TypeError, match="y_true"):
        function("junk", np.zeros((2, 3)))
    with pytest.raises(TypeError, match="y_pred"):
        function(np.zeros((2, 3)), np.zeros((2, 3), bool))
    with pytest.raises(ValueError, match="epsilon"):
        function(np.zeros((2, 3)), np.zeros((2, 3)), epsilon=0.0)
    with pytest.raises(TypeError, match="no option 'delta'" if name != "huber" else "no option"):
        lossbounds.loss(name, np.zeros((2, 3)), np.zeros((2, 3)),
                        **({"delta": 1.0} if name != "huber" else {"alpha": 1.0}))
    # the baselines' data
    with pytest.raises(ValueError, match="y_true.*finite.*nan"):
        lossbounds.prior_baseline(name, [1.0, np.nan])
    with pytest.raises(ValueError, match="sample_weight.*non-negative"):
        lossbounds.prior_baseline(name, [1.0, 2.0], sample_weight=[1.0, -1.0])
    with pytest.raises(ValueError, match="sample_weight.*one weight per sample"):
        lossbounds.prior_baseline(name, [1.0, 2.0, 3.0], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="empty"):
        lossbounds.prior_baseline(name, [])
    with pytest.raises(UndefinedBound, match="y_true"):
        lossbounds.prior_baseline(name)


def test_keras_raises_where_lossbounds_raises_for_a_scalar():
    for name in LOSSES:
        assert keras_function(name, F32(1.0), F32(2.0))[0] == "error"


# --------------------------------------------------------------------------
# Bounds: each claimed value is what Keras returns on inputs built for it


def keras_loss_value(name, y_true, y_pred, sample_weight=None, **options):
    """The class API's reduced value (float32), the mean over samples."""
    name = get_loss(name).name
    reduction = "sum_over_batch_size" if sample_weight is None else "mean_with_sample_weight"
    kind, value = keras_class(name, np.asarray(y_true, F32), np.asarray(y_pred, F32),
                              sample_weight=sample_weight, reduction=reduction, **options)
    assert kind == "value", value
    return float(value)


# (loss, options, y_range, pred_range, target, prediction attaining the best, then the worst)
CORNERS = [
    ("mae", {}, (0.0, 1.0), (3.0, 4.0), (1.0, 3.0), (0.0, 4.0)),
    ("huber", {"delta": 1.5}, (0.0, 1.0), (3.0, 4.0), (1.0, 3.0), (0.0, 4.0)),
    ("huber", {}, (-2.0, 1.0), (0.0, 0.5), (0.25, 0.25), (-2.0, 0.5)),
    ("log_cosh", {}, (0.0, 1.0), (3.0, 4.0), (1.0, 3.0), (0.0, 4.0)),
    ("log_cosh", {}, (-5.0, 5.0), (-1.0, 1.0), (0.5, 0.5), (5.0, -1.0)),
    ("msle", {}, (0.0, 1.0), (3.0, 7.0), (1.0, 3.0), (0.0, 7.0)),
    ("msle", {}, (2.0, 9.0), (-4.0, 0.5), (2.0, 0.5), (9.0, -4.0)),
    # MAPE: the best target is the nearest end (50% = |2 - 1| / 2); the worst y = -eps, p = 1
    ("mape", {}, (2.0, 4.0), (0.0, 1.0), (2.0, 1.0), (4.0, 0.0)),
    ("mape", {}, (-1.0, 1.0), (0.0, 1.0), (0.5, 0.5), (-EPS32, 1.0)),
    ("mape", {}, (-8.0, -0.5), (-0.25, 3.0), (-0.5, -0.25), (-0.5, 3.0)),
]


@pytest.mark.parametrize(("name", "options", "y_range", "pred_range", "best_at", "worst_at"),
                         CORNERS)
def test_best_and_worst_are_what_keras_returns_at_the_corners(name, options, y_range, pred_range,
                                                              best_at, worst_at):
    ranges = {"y_range": y_range, "pred_range": pred_range}
    for bound, (y, p) in ((lossbounds.best_case(name, **ranges, **options), best_at),
                          (lossbounds.worst_case(name, **ranges, **options), worst_at)):
        value = keras_value(name, [[y]], [[p]], **options)
        assert bound == pytest.approx(float(value[0]), rel=2e-6, abs=1e-12), (y, p)


def test_unbounded_worst_cases_and_the_msle_ceiling():
    for name in ("mae", "mape", "huber", "log_cosh"):
        assert lossbounds.worst_case(name) == math.inf
        assert lossbounds.best_case(name) == 0.0
    assert lossbounds.worst_case("mape", y_range=(1.0, 2.0)) == math.inf  # predictions unbounded
    # bounded predictions keep MAPE finite for any target: y = -eps, p = 1 gives 100 (1 + eps) / eps
    assert lossbounds.worst_case("mape", pred_range=(0.0, 1.0)) == pytest.approx(
        float(keras_value("mape", [[-EPS32]], [[1.0]])[0]), rel=1e-6)
    # MSLE: the largest finite float32 prediction against a target of 0: 7871.742
    ceiling = keras_value("msle", [[0.0]], [[np.finfo(F32).max]])
    assert float(ceiling[0]) == pytest.approx(7871.742, rel=1e-6)
    assert lossbounds.worst_case("msle") == pytest.approx(float(ceiling[0]), rel=1e-6)
    half = keras_value("msle", [[0.0]], [[65504.0]], "float16")
    assert lossbounds.worst_case("msle", dtype="float16") == pytest.approx(float(half[0]), rel=1e-6)


RANGES = st.sampled_from([(-1.0, 1.0), (0.0, 1.0), (0.5, 2.0), (-3.0, -0.1), (2.0, 9.0),
                          (-EPS32, EPS32), (0.0, 0.0), (-1e-8, 5.0), (100.0, 200.0)])


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=40)
@given(y_range=RANGES, pred_range=RANGES, delta=st.sampled_from([1.0, 0.3, 4.0]))
def test_keras_on_a_grid_stays_within_the_bounds_and_reaches_them(name, y_range, pred_range,
                                                                   delta):
    if name == "mean_squared_logarithmic_error" and y_range[0] < 0:
        y_range = (0.0, y_range[1] - y_range[0])
    options = {"delta": delta} if name == "huber" else {}
    ranges = {"y_range": y_range, "pred_range": pred_range}
    best = lossbounds.best_case(name, **ranges, **options)
    worst = lossbounds.worst_case(name, **ranges, **options)

    def grid(low, high, extra):
        points = np.linspace(low, high, 41)
        inside = [v for v in extra if low <= v <= high]
        return np.unique(np.concatenate([points, inside]).astype(F32))

    special = [-EPS32, EPS32, 0.0, *y_range, *pred_range, sum(pred_range) / 2]
    ys, ps = np.meshgrid(grid(*y_range, special), grid(*pred_range, special))
    values = keras_value(name, ys.reshape(-1, 1), ps.reshape(-1, 1), **options).astype(np.float64)
    slack = 2e-6 * max(1.0, abs(worst)) + ATOL.get(name, 0.0)
    assert values.min() >= best - slack and values.max() <= worst + slack
    assert values.min() == pytest.approx(best, rel=2e-6, abs=slack)
    assert values.max() == pytest.approx(worst, rel=2e-6, abs=slack)


# Uniform: predicting 0 for numeric targets, 1/K for one-hot targets

TARGETS = [np.array([0.0, 0.0, 0.0, 10.0]), np.array([1.0, 2.0, 3.0, 10.0]),
           np.array([[0.5, 3.0], [2.0, 0.0], [7.0, 1.25]]), np.array([2.0, -3.0, 0.5, 1e-8])]


@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("index", range(len(TARGETS)))
def test_uniform_is_keras_predicting_zero(name, index):
    y = TARGETS[index]
    if name == "mean_squared_logarithmic_error":
        y = np.abs(y)
    y = y.astype(F32).astype(np.float64)
    y = y[:, None] if y.ndim == 1 else y  # N targets are N samples (for Keras, (N, 1))
    expected = keras_loss_value(name, y, np.zeros_like(y))
    assert lossbounds.baseline(name, y) == pytest.approx(expected, rel=2e-6, abs=2e-7)
    weights = np.arange(1.0, y.shape[0] + 1)
    weighted = keras_loss_value(name, y, np.zeros_like(y), sample_weight=weights)
    # baseline() takes no data options: bounds() weighs the targets
    assert lossbounds.bounds(name, y, sample_weight=weights).uniform == pytest.approx(
        weighted, rel=2e-6, abs=2e-7)


def test_uniform_golden_values():
    # predicting 0 on 0, 0, 0, 10: huber (10 - 1/2) / 4; log cosh(10) / 4 = (10 - ln 2 + ln(1 + e^-20)) / 4
    y = [0.0, 0.0, 0.0, 10.0]
    assert lossbounds.baseline("huber", y) == 2.375
    assert lossbounds.baseline("log_cosh", y) == pytest.approx(
        (10 - math.log(2) + math.log1p(math.exp(-20))) / 4, rel=1e-15)
    # MSLE on 0, 1, 3, 7: ((ln 2)^2 + (ln 4)^2 + (ln 8)^2) / 4 = 3.5 (ln 2)^2 (epsilon aside)
    assert lossbounds.baseline("msle", [0.0, 1.0, 3.0, 7.0]) == pytest.approx(3.5 * math.log(2) ** 2,
                                                                              rel=1e-6)
    # MAPE: exactly 100 without targets (or with targets away from 0), less with zeros
    assert lossbounds.baseline("mape") == 100.0
    assert lossbounds.baseline("mape", y_range=(0.5, 2.0)) == 100.0
    assert lossbounds.baseline("mape", [2.0, -3.0, 0.5]) == 100.0
    assert lossbounds.baseline("mape", y) == 25.0  # a target 0 predicted 0 costs 0
    with pytest.raises(UndefinedBound, match="y_true"):
        lossbounds.baseline("mape", y_range=(0.0, 1.0))
    for name in ("mae", "msle", "huber", "log_cosh"):
        with pytest.raises(UndefinedBound, match="y_true.*n_classes"):
            lossbounds.baseline(name)


@pytest.mark.parametrize("name", ["mae", "msle", "huber", "log_cosh"])
@pytest.mark.parametrize("k", [1, 2, 3, 10])
def test_uniform_on_one_hot_targets_is_keras_predicting_one_over_k(name, k):
    y = np.eye(k, dtype=F32)[[i % k for i in range(7)]]
    expected = keras_loss_value(name, y, np.full_like(y, 1.0 / k))
    assert lossbounds.baseline(name, n_classes=k) == pytest.approx(expected, rel=2e-6, abs=2e-7)
    if name == "mae":
        assert lossbounds.baseline(name, n_classes=k) == pytest.approx(2 * (k - 1) / k**2)


# Prior: the best constant, against Keras at that constant and a brute-force minimiser


def independent_objective(name, w, delta=1.0):
    """c -> sum_i w_i loss(y_i, c) / sum_i w_i for one output's targets, written apart from lossbounds.

    `c` may be an array of constants. delta is Keras' float32 tensor (0.1 is 0.10000000149).
    """
    ln2 = math.log(2)
    delta = float(F32(delta))

    def objective(column, c):
        c = np.asarray(c, np.float64)[..., None]  # constants along the first axis
        if name == "mean_absolute_error":
            terms = np.abs(column - c)
        elif name == "mean_absolute_percentage_error":
            terms = 100 * np.abs(column - c) / np.maximum(np.abs(column), EPS32)
        elif name == "mean_squared_logarithmic_error":
            terms = (np.log1p(np.maximum(c, EPS32)) - np.log1p(np.maximum(column, EPS32))) ** 2
        elif name == "huber":
            e = np.abs(column - c)
            terms = np.where(e <= delta, 0.5 * e**2, delta * e - 0.5 * delta**2)
        else:
            terms = np.logaddexp(column - c, c - column) - ln2
        return terms @ w / w.sum()

    return objective


def brute_force_prior(name, y, w, **options):
    """min over constants per column: scipy's bounded minimiser, a dense grid and the targets."""
    rows = np.asarray(y, np.float64).reshape(len(y), -1)
    objective = independent_objective(name, w, **options)
    values = []
    for column in rows.T:
        low, high = column.min(), column.max()
        candidates = np.concatenate([np.linspace(low, high, 4001), column])
        if high > low:
            found = minimize_scalar(lambda c, v=column: float(objective(v, c)), bounds=(low, high),
                                    method="bounded", options={"xatol": 1e-12})
            candidates = np.append(candidates, found.x)
        values.append(float(objective(column, candidates).min()))
    return float(np.mean(values))


PRIORS = [
    # derivations: MAE, the median interval [2, 3] of 1, 2, 3, 10: (1 + 0 + 1 + 8) / 4
    ("mean_absolute_error", [1.0, 2.0, 3.0, 10.0], {}, 2.5, [2.0]),
    # MAPE weights 1, 1/2, 1/4, 1/100: the weighted median is 1; (1/2 + 3/4 + 99/100) / 4 * 100
    ("mean_absolute_percentage_error", [1.0, 2.0, 4.0, 100.0], {}, 56.0, [1.0]),
    # MSLE: the variance of ln(1 + y) = (0, 1, 2, 3) ln 2, at c = 2 sqrt 2 - 1
    ("mean_squared_logarithmic_error", [0.0, 1.0, 3.0, 7.0], {}, 1.25 * math.log(2) ** 2,
     [2 * math.sqrt(2) - 1]),
    # Huber, delta 1: -3c + 1 = 0 at c = 1/3; (3 (1/9) / 2 + 10 - 1/3 - 1/2) / 4 = 7/3
    ("huber", [0.0, 0.0, 0.0, 10.0], {}, 7 / 3, [1 / 3]),
    # ... and 0, 0, 0, 10, 1, 2, 5: clip sums -3 + 1 + 0 + 1 + 1 = 0 at c = 1; 14 / 7
    ("huber", [0.0, 0.0, 0.0, 10.0, 1.0, 2.0, 5.0], {}, 2.0, [1.0]),
    # log-cosh: coverage.md's scipy optimum c = 1.185564 (1.9008056)
    ("log_cosh", [0.0, 0.0, 0.0, 10.0, 1.0, 2.0, 5.0], {}, 1.9008056, [1.185564]),
]


@pytest.mark.parametrize(("name", "y", "options", "golden", "constant"), PRIORS)
def test_prior_golden_values_and_keras_at_the_best_constant(name, y, options, golden, constant):
    prior = lossbounds.prior_baseline(name, y, **options)
    assert prior == pytest.approx(golden, rel=1e-6)
    y = np.asarray(y, F32)[:, None]
    at = keras_loss_value(name, y, np.full_like(y, constant[0]), **options)
    assert at == pytest.approx(prior, rel=2e-6, abs=2e-7)
    for nudge in (0.97, 1.03):  # a constant a bit off scores no less, in Keras too
        assert keras_loss_value(name, y, np.full_like(y, constant[0] * nudge), **options) >= at


@st.composite
def target_sets(draw, name):
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(1, 12))
    d = draw(st.sampled_from([1, 1, 2]))
    style = draw(st.sampled_from(["normal", "lognormal", "integers", "ties", "outlier"]))
    y = {
        "normal": lambda: rng.standard_normal((n, d)) * 3,
        "lognormal": lambda: rng.lognormal(0, 1.5, (n, d)),
        "integers": lambda: rng.integers(-3, 4, (n, d)).astype(float),
        "ties": lambda: rng.choice([0.0, 1.0, 5.0], (n, d)),
        "outlier": lambda: np.concatenate([rng.standard_normal((n, d)), [[50.0] * d]]),
    }[style]()
    if name == "mean_squared_logarithmic_error":
        y = np.abs(y)
    weighted = draw(st.booleans())
    w = rng.choice([0.0, 0.5, 1.0, 3.0], y.shape[0]) if weighted else None
    if w is not None and w.sum() == 0:
        w[0] = 1.0
    return y.astype(F32).astype(np.float64), w


@pytest.mark.parametrize("name", LOSSES)
@settings(max_examples=30)
@given(data=st.data())
def test_no_constant_beats_the_prior(name, data):
    y, w = data.draw(target_sets(name))
    delta = data.draw(st.sampled_from([1.0, 0.25, 3.0]))
    options = {"delta": delta} if name == "huber" else {}
    prior = lossbounds.prior_baseline(name, y, sample_weight=w, **options)
    brute = brute_force_prior(name, y, np.ones(len(y)) if w is None else w, **options)
    tolerance = 1e-9 * max(1.0, abs(brute))
    assert prior <= brute + tolerance, (prior, brute)  # no constant beats it ...
    assert prior >= brute - max(tolerance, 1e-7 * abs(brute)), (prior, brute)  # ... it is attained
    assert prior <= lossbounds.bounds(name, y, sample_weight=w, **options).uniform + tolerance


def test_log_cosh_and_huber_minimisers_are_exact():
    # The exact optimum of scipy on a fine tolerance, in float64, and lossbounds agree to 1e-9
    rng = np.random.default_rng(7)
    y = rng.standard_normal(500) * 4 + rng.choice([0.0, 30.0], 500, p=[0.9, 0.1])
    w = rng.random(500)
    for name, options in (("log_cosh", {}), ("huber", {"delta": 1.0}), ("huber", {"delta": 0.1})):
        objective = independent_objective(name, w, **options)
        found = minimize_scalar(lambda c, f=objective: float(f(y, c)), bounds=(y.min(), y.max()),
                                method="bounded", options={"xatol": 1e-13})
        prior = lossbounds.prior_baseline(name, y, sample_weight=w, **options)
        assert prior == pytest.approx(found.fun, rel=1e-9)
        assert prior <= found.fun + 1e-12


def test_prior_of_several_outputs_is_the_mean_of_per_output_priors():
    y = np.array([[1.0, 10.0], [2.0, 20.0], [4.0, 40.0], [9.0, 30.0]])
    for name in LOSSES:
        whole = lossbounds.prior_baseline(name, y)
        parts = [lossbounds.prior_baseline(name, y[:, j]) for j in range(2)]
        assert whole == pytest.approx(np.mean(parts), rel=1e-12)


# --------------------------------------------------------------------------
# What a value means: explain and diagnose


def test_mape_value_flags():
    at_100 = lossbounds.explain(100.0, "mape")
    assert "mape_predicts_zero" in at_100.kinds
    assert "predicts 0" in str(at_100)
    huge = lossbounds.explain(1766348.0, "mape")  # the StackOverflow question in coverage.md
    assert "mape_targets_near_zero" in huge.kinds and "1e+09" in str(huge)
    assert lossbounds.explain(35.0, "mape").kinds == ()
    assert lossbounds.explain(100.5, "mape").kinds == ("at_uniform",)  # near, not exactly, 100
    found = lossbounds.diagnose({"loss": [180.0, 120.0, 100.0, 100.0, 100.0]}, "mape")
    assert "mape_predicts_zero" in [finding.kind for finding in found]


def test_log_cosh_rounding_flag():
    assert lossbounds.explain(-5.96e-8, "log_cosh").kinds == ("log_cosh_rounding",)
    assert lossbounds.explain(0.0, "log_cosh").kinds == ()


def test_words_give_a_typical_error_in_the_loss_units():
    # MAE: the value is the typical error; against the median 2.5: 1 - 1.2 / 2.5 = 0.52
    text = str(lossbounds.explain(1.2, "mae", y_true=[1.0, 2.0, 3.0, 10.0]))
    assert "off by 1.2 on average" in text and "= 0.52" in text and "median" in text
    # Huber: 0.125 is an error of 0.5 within delta; 2.5 an error of 3 beyond it (2.5 / 1 + 1/2)
    assert "An error of 0.5 on every output" in str(lossbounds.explain(0.125, "huber"))
    assert "An error of 3 on every output" in str(lossbounds.explain(2.5, "huber"))
    # log-cosh: log cosh(2) = 1.325 is an error of 2
    assert "An error of 2 on every output" in str(lossbounds.explain(math.log(math.cosh(2)),
                                                                     "log_cosh"))
    # MSLE: RMSLE sqrt(0.25) = 0.5, a factor e^0.5 = 1.649; R² on the log scale with targets
    e = lossbounds.explain(0.25, "msle", y_true=[0.0, 1.0, 3.0, 7.0])
    assert e.rmse == 0.5 and e.r2 is None
    assert "1.649" in str(e) and "R² on the log scale" in str(e)
    # MAPE in percent
    assert "by 35% of the target's size" in str(lossbounds.explain(35.0, "mape"))
    assert "worse than that constant" in str(lossbounds.explain(3.0, "mae", y_true=[1.0, 2.0, 3.0,
                                                                                   10.0]))
