"""poisson, kl_divergence and cosine_similarity against live Keras 3 (TensorFlow backend).

(a) Hypothesis: on every input where Keras returns a value, the per-sample
    function and ``lossbounds.loss`` return the same shape and dtype and agree
    to ``1e-6 * max(1, |keras|)``, except where lossbounds deliberately raises
    (`deviation` says where, independently of lossbounds); where Keras raises,
    lossbounds raises ValueError or TypeError. 300 examples per loss and API.
(b) Constructed inputs make Keras return each claimed bound.
(c) scipy and dense grids find no constant prediction below the prior.
(d) Junk input gets a ValueError or TypeError naming the argument.
(e) The words: names, value flags and descriptions.

One exception to the 1e-6 contract: float16 cosine similarity. TensorFlow
takes the inverse norm of the last ``size % 8`` vectors of a tensor with an
unrefined hardware approximation of rsqrt (CPU-dependent; up to 7e-4 relative
before rounding to float16), so there Keras' float16 value can differ from the
correctly rounded computation by a few float16 ulps (at most 2**-9 measured).
"""

from __future__ import annotations

import contextlib
import io
import math

import keras
import numpy as np
import pytest
from accelerated import accelerator
from compare import assert_close
from hypothesis import event, given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function, ours
from scipy.optimize import minimize, minimize_scalar
from scipy.special import softmax
from strategies import (
    EPSILONS,
    categorical_targets,
    class_dtypes,
    class_shapes,
    dtypes,
    probabilities,
    reductions,
    sample_weights,
    seeds,
)

import lossbounds
from lossbounds.cli import main as cli_main
from lossbounds.registry import UndefinedBound, get_loss

EXAMPLES = 300
NAMES = ("poisson", "kl_divergence", "cosine_similarity")
F16_COSINE_ATOL = 2.0**-8  # see the module docstring
E = math.e


def _rank_fixed(a_shape, b_shape):
    """Keras' squeeze_or_expand_to_same_rank, on shapes (written out again here)."""
    a, b = tuple(a_shape), tuple(b_shape)
    if len(a) == len(b) + 1 and a[-1] == 1:
        a, b = (a, b + (1,)) if len(b) == 1 else (a[:-1], b)
    if len(b) == len(a) + 1 and b[-1] == 1:
        a, b = (a + (1,), b) if len(a) == 1 else (a, b[:-1])
    return a, b


def _inject(draw, rng, array, edges, count=4):
    flat = array.reshape(-1)
    for _ in range(draw(st.integers(0, count))):
        if flat.size:
            flat[rng.integers(flat.size)] = draw(st.sampled_from(edges))
    return array


def _as_kind(draw, array, dtype):
    """The targets in the prediction dtype, or another (Keras casts them)."""
    kind = draw(st.sampled_from([dtype, dtype, np.float32, np.float64, np.int32, bool]))
    with np.errstate(invalid="ignore", over="ignore"):
        if kind is bool:
            return array > 0.5
        if kind is np.int32:
            return np.nan_to_num(np.clip(np.round(array), -1e6, 1e6)).astype(np.int32)
        return array.astype(kind)


# --------------------------------------------------------------------------
# Inputs

LAYOUTS = ("same", "same", "same", "vector", "three", "broadcast", "n_vs_n1", "n1_vs_n")


def _shapes(draw, layout, d):
    n, t = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    return {
        "same": ((n, d), (n, d)),
        "vector": ((d,), (d,)),
        "three": ((n, t, d), (n, t, d)),
        "broadcast": ((d,), (n, d)),
        "n_vs_n1": ((n,), (n, 1)),
        "n1_vs_n": ((n, 1), (n,)),
    }[layout]


@st.composite
def poisson_case(draw):
    rng = np.random.default_rng(draw(seeds))
    dtype = draw(dtypes)
    layout = draw(st.sampled_from(LAYOUTS))
    true_shape, pred_shape = _shapes(draw, layout, draw(st.sampled_from([1, 2, 3, 10, 40])))
    rate = draw(st.sampled_from([0.0, 0.1, 1.0, 5.0, 100.0, 1e4]))
    style = draw(st.sampled_from(["counts", "counts", "rates"]))
    y = (rng.poisson(rate, true_shape) if style == "counts"
         else rng.gamma(0.5, rate + 1e-3, true_shape)).astype(np.float64)
    y = _inject(draw, rng, y, (0.0, 1.0, E, 10.0, 1e-30, 1e6))
    guess = draw(st.sampled_from(["near", "random", "exact", "zero", "scaled"]))
    # A perfect prediction scores y - y ln y: negative above e.
    target = y if y.shape == tuple(pred_shape) else np.broadcast_to(y.mean(), pred_shape)
    if guess == "near":
        p = np.abs(target * rng.uniform(0.5, 1.5, pred_shape))
    elif guess == "exact":
        p = target.copy()
    elif guess == "zero":
        p = np.zeros(pred_shape)
    else:
        p = rng.uniform(0, 1, pred_shape) * draw(st.sampled_from([1e-9, 1.0, 10.0, 1e4]))
    # (-eps, 0) is still finite in Keras; -1e-7 and below raise (see `deviation`).
    p = _inject(draw, rng, p, (0.0, 1e-7, 1e-8, -5e-8, -1e-7, 1e-30, 65504.0, 1e30, np.nan,
                                np.inf), count=3)
    with np.errstate(over="ignore"):
        y_pred = p.astype(dtype)
    return _as_kind(draw, y, dtype), y_pred, {}


@st.composite
def kld_case(draw):
    dtype = draw(dtypes)
    layout = draw(st.sampled_from(["classes", "classes", "classes", "n_vs_n1", "broadcast"]))
    shape = draw(class_shapes())
    if layout == "classes":
        true_shape = pred_shape = shape
    elif layout == "n_vs_n1":
        true_shape, pred_shape = (shape[0],), (shape[0], 1)
    else:
        true_shape, pred_shape = shape[-1:], (2, shape[-1])
    if draw(st.booleans()):
        y = draw(categorical_targets(true_shape, np.float64))
    else:
        y = draw(probabilities(true_shape, np.float64))
    y_pred = draw(probabilities(pred_shape, dtype))
    return _as_kind(draw, y, dtype), y_pred, {}


@st.composite
def cosine_case(draw):
    rng = np.random.default_rng(draw(seeds))
    dtype = draw(dtypes)
    layout = draw(st.sampled_from(LAYOUTS))
    d = draw(st.sampled_from([1, 2, 3, 10, 100]))
    true_shape, pred_shape = _shapes(draw, layout, d)
    fixed_true, fixed_pred = _rank_fixed(true_shape, pred_shape)
    ndim = max(len(fixed_true), len(fixed_pred))
    same_rank = len(fixed_true) == len(fixed_pred)
    axis = draw(st.sampled_from([-1, -1, *range(-ndim, ndim)])) if same_rank else -1
    scale = draw(st.sampled_from([1.0, 1e-9, 3e-8, 1e-6, 1e-3, 1e3, 1e19]))
    y = rng.standard_normal(true_shape) * draw(st.sampled_from([1.0, 1e-8, 1e3]))
    relation = draw(st.sampled_from(["random", "parallel", "opposite", "zeros"]))
    if relation == "random" or y.shape != tuple(pred_shape):
        p = rng.standard_normal(pred_shape) * scale
    else:
        p = {"parallel": y * scale, "opposite": -y * scale, "zeros": np.zeros(pred_shape)}[relation]
    if draw(st.booleans()) and y.size:
        y.reshape(-1)[: max(1, y.size // 3)] = 0.0  # zero vectors (or parts of them)
    p = _inject(draw, rng, p, (0.0, 1.0, -1.0, 300.0, 1e-8, np.nan), count=2)
    with np.errstate(over="ignore"):
        y_pred = p.astype(dtype)
    return _as_kind(draw, y, dtype), y_pred, {"axis": axis}


CASES = {"poisson": poisson_case, "kl_divergence": kld_case, "cosine_similarity": cosine_case}


def deviation(name, y_true, y_pred, options, dtype, epsilon, *, function_api):
    """The argument lossbounds rejects where Keras returns a value, or None (they must agree).

    The rules, written out again from the docstrings: Poisson rejects negative
    targets and predictions at or below -epsilon (Keras: NaN, inf or a value
    unbounded below); the Poisson and KL divergence functions reject shapes
    that only broadcast without Keras' rank fix; cosine similarity rejects
    vectors of different lengths along the axis (after the rank fix; a
    length-1 vector broadcast against a longer one gives values outside
    [-1, 1]).
    """
    true_shape, pred_shape = np.shape(y_true), np.shape(y_pred)
    if name == "cosine_similarity":
        fixed_true, fixed_pred = (shape or (1,) for shape in _rank_fixed(true_shape, pred_shape))
        axis = options.get("axis", -1)
        where = [axis % len(shape) - len(shape) for shape in (fixed_true, fixed_pred)]
        if where[0] != where[1] or fixed_true[where[0]] != fixed_pred[where[1]]:
            return "length"
    if function_api and name != "cosine_similarity":
        fixed = _rank_fixed(true_shape, pred_shape)
        try:
            fixed_shape = np.broadcast_shapes(*fixed)
        except ValueError:
            fixed_shape = None
        if fixed_shape != np.broadcast_shapes(true_shape, pred_shape):
            return "broadcast"
    if name == "poisson":
        with np.errstate(all="ignore"):
            y = np.asarray(y_true).astype(dtype)
            p = np.asarray(y_pred).astype(dtype)
            if np.any(y < 0):
                return "y_true"
            if np.any(p + dtype.type(epsilon) <= 0):
                return "y_pred"
    return None


def check(name, expected, actual, context, *, dtype):
    kind, value = expected
    our_kind, our_value = actual
    event(f"{dtype}: Keras {kind}" + (" (NaN or inf)" if kind == "value" and not np.all(
        np.isfinite(value)) else ""))
    if kind == "error":
        assert our_kind == "error", (
            f"{context}: Keras raised {type(value).__name__}: {value}, lossbounds returned "
            f"{our_value!r}")
        return
    assert our_kind == "value", f"{context}: Keras returned {value!r}, lossbounds raised {our_value!r}"
    atol = F16_COSINE_ATOL if name == "cosine_similarity" and dtype == np.float16 else 0.0
    assert_close(our_value, value, context=context, atol=atol)


def check_deviation(why, expected, actual, context):
    """lossbounds raises a ValueError that names `why`, where Keras returned a value."""
    event(f"deviation: {why}")
    our_kind, error = actual
    assert our_kind == "error" and isinstance(error, ValueError), (context, expected, error)
    expected_words = {"broadcast": "broadcast to", "length": "has length"}.get(why, f"`{why}`")
    assert expected_words in str(error), str(error)


# --------------------------------------------------------------------------
# (a) Agreement with Keras


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_function_matches_keras(name, data):
    y_true, y_pred, options = data.draw(CASES[name]())
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_function(name, y_true, y_pred, epsilon=epsilon, **options)
    actual = ours(lambda: getattr(lossbounds, name)(y_true, y_pred, epsilon=epsilon, **options))
    context = f"{name}{options} {np.shape(y_true)} {np.shape(y_pred)} {y_pred.dtype}"
    why = deviation(name, y_true, y_pred, options, y_pred.dtype, epsilon, function_api=True)
    if why is not None and expected[0] == "value":
        check_deviation(why, expected, actual, context)
    else:
        check(name, expected, actual, context, dtype=y_pred.dtype)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=EXAMPLES)
@given(data=st.data())
def test_class_matches_keras(name, data):
    y_true, y_pred, options = data.draw(CASES[name]())
    fixed_true, fixed_pred = _rank_fixed(np.shape(y_true), np.shape(y_pred))
    shape = np.broadcast_shapes(fixed_true or (1,), fixed_pred or (1,))
    axis = options.get("axis", -1) % len(shape)
    loss_shape = tuple(size for i, size in enumerate(shape) if i != axis)
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")
    class_dtype = data.draw(class_dtypes, label="class dtype")
    epsilon = data.draw(EPSILONS, label="epsilon")
    expected = keras_class(name, y_true, y_pred, sample_weight=sample_weight,
                           reduction=reduction, dtype=class_dtype, epsilon=epsilon, **options)
    extra = {} if class_dtype is None else {"dtype": class_dtype}
    actual = ours(lambda: lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                                          reduction=reduction, epsilon=epsilon, **extra, **options))
    compute = np.dtype("float16" if class_dtype == "mixed_float16" else class_dtype or "float32")
    context = f"{name} {reduction} {class_dtype} {options} {np.shape(y_true)} {np.shape(y_pred)}"
    why = deviation(name, y_true, y_pred, options, compute, epsilon, function_api=False)
    if why is not None and expected[0] == "value":
        check_deviation(why, expected, actual, context)
    else:
        check(name, expected, actual, context, dtype=compute)


# --------------------------------------------------------------------------
# (b) Keras returns each claimed bound; (c) no constant beats the prior

EPS32 = float(np.float32(1e-7))
L32 = -math.log(EPS32)  # 16.118095...


def keras_value(name, y_true, y_pred, dtype="float32", **options):
    kind, value = keras_function(name, np.asarray(y_true, dtype), np.asarray(y_pred, dtype),
                                 **options)
    assert kind == "value", value
    return value.astype(np.float64)


def keras_reduced(name, y_true, y_pred, dtype="float32", **options):
    kind, value = keras_class(name, np.asarray(y_true, dtype), np.asarray(y_pred, dtype),
                              dtype=dtype, **options)
    assert kind == "value", value
    return float(value)


def assert_equal(claimed, keras_result, rel):
    assert math.isclose(float(np.squeeze(keras_result)), claimed, rel_tol=rel, abs_tol=1e-300), (
        claimed, keras_result)


COUNTS = np.array([[0.0, 3.0], [1.0, 7.0], [2.0, 2.0], [5.0, 12.0], [0.0, 4.0]])


def test_poisson_best_case_is_attained():
    # A perfect prediction, p = y - eps: y - eps - y ln y, -13.0258509 for y = 10.
    best = lossbounds.best_case("poisson", y_range=(0, 10))
    assert best == pytest.approx(10 - EPS32 - 10 * math.log(10), rel=1e-15)
    assert_equal(best, keras_value("poisson", [[10.0]], [[10.0 - 1e-7]], "float64"), 1e-12)
    # Targets in [0, 1]: y - y ln y is at most 1 there, and 0 at y = 0 predicted 0.
    assert lossbounds.best_case("poisson", y_range=(0, 1)) == 0.0
    assert keras_value("poisson", [[0.0]], [[0.0]])[0] == 0.0
    # Predictions capped at 5: y = 10 is best predicted 5.
    capped = lossbounds.best_case("poisson", y_range=(0, 10), pred_range=(0, 5))
    assert_equal(capped, keras_value("poisson", [[10.0]], [[5.0]], "float64"), 1e-12)
    assert capped == pytest.approx(5 - 10 * math.log(5 + EPS32), rel=1e-15)
    # Unbounded targets: y - y ln y falls without limit.
    assert lossbounds.best_case("poisson") == -math.inf


def test_poisson_worst_case_is_attained():
    # The corners of [0, 3] x [0, 100]: 0, 100 (y = 0, p = 100), 48.35 (y = 3, p = 0), 86.18.
    worst = lossbounds.worst_case("poisson", y_range=(0, 3), pred_range=(0, 100))
    assert worst == 100.0
    assert_equal(worst, keras_value("poisson", [[0.0]], [[100.0]]), 1e-7)
    assert keras_value("poisson", [[3.0]], [[100.0]])[0] == pytest.approx(100 - 3 * math.log(100))
    worst = lossbounds.worst_case("poisson", y_range=(0, 10), pred_range=(0, 10))
    assert worst == pytest.approx(10 * L32, rel=1e-15)  # 161.18095: y = 10 predicted 0
    assert_equal(worst, keras_value("poisson", [[10.0]], [[0.0]]), 1e-7)
    # float16: epsilon rounds to 2**-23, so p = 0 costs 15.94 y; Keras rounds to float16.
    worst16 = lossbounds.worst_case("poisson", y_range=(0, 3), pred_range=(0, 1), dtype="float16")
    assert worst16 == pytest.approx(3 * 23 * math.log(2), rel=1e-15)
    assert_equal(worst16, keras_value("poisson", [[3.0]], [[0.0]], "float16"), 2**-10)
    assert lossbounds.worst_case("poisson", y_range=(0, 3)) == math.inf
    assert lossbounds.worst_case("poisson", pred_range=(0, 1)) == math.inf  # y grows


def test_poisson_uniform_and_prior_are_attained():
    y = COUNTS
    # Predicting 0 everywhere: -mean(y) ln eps.
    uniform = lossbounds.baseline("poisson", y)
    assert uniform == pytest.approx(y.mean() * L32, rel=1e-12)
    assert_equal(uniform, keras_reduced("poisson", y, np.zeros_like(y)), 1e-6)
    # The mean target of each output, less eps, costs mean_d(ybar - eps - ybar ln ybar).
    means = y.mean(axis=0)
    prior = lossbounds.prior_baseline("poisson", y)
    assert prior == pytest.approx(np.mean(means - EPS32 - means * np.log(means)), rel=1e-12)
    constant = np.broadcast_to(means - 1e-7, y.shape)
    assert_equal(prior, keras_reduced("poisson", y, constant, "float64"), 1e-9)
    # The same from the mean alone (what data too large for memory gives).
    assert lossbounds.prior_baseline("poisson", mean=means) == pytest.approx(prior, rel=1e-12)
    assert lossbounds.bounds("poisson", mean=means).prior == pytest.approx(prior, rel=1e-12)
    # coverage.md: y = [0, 1, 2, 5] -> 2 - 2 ln 2 = 0.6137056 (at c = 2, 0.6230852 at c = 2.2)
    small = np.array([[0.0], [1.0], [2.0], [5.0]])
    assert lossbounds.prior_baseline("poisson", small) == pytest.approx(0.6137056, abs=1e-7)
    # 1-D targets are N samples of one output (not one sample of N outputs).
    assert lossbounds.prior_baseline("poisson", small[:, 0]) == pytest.approx(0.6137056, abs=1e-7)
    assert keras_reduced("poisson", small, np.full((4, 1), 2.2)) == pytest.approx(0.6230852, abs=1e-6)
    # With sample weights: the weighted mean.
    w = np.array([1.0, 0.0, 0.0, 3.0])
    weighted = lossbounds.prior_baseline("poisson", small, sample_weight=w)
    mean = (0 * 1 + 5 * 3) / 4
    assert weighted == pytest.approx(mean - EPS32 - mean * math.log(mean), rel=1e-12)
    # Predictions capped at 1 (a sigmoid output): the best constant is the cap.
    capped = lossbounds.prior_baseline("poisson", small, pred_range=(0, 1))
    assert_equal(capped, keras_reduced("poisson", small, np.ones((4, 1)), "float64"), 1e-9)


def test_no_constant_beats_the_poisson_prior():
    rng = np.random.default_rng(5)
    for y in (COUNTS, rng.poisson(0.01, (50, 3)).astype(float), rng.gamma(2.0, 40.0, (30, 2))):
        prior = lossbounds.prior_baseline("poisson", y)
        total = 0.0
        for column in y.T:  # the loss is a mean over outputs: each constant on its own
            def cost(c, column=column):
                return float(np.mean(c - column * np.log(c + EPS32)))
            found = minimize_scalar(cost, bounds=(0.0, column.max() + 1.0), method="bounded",
                                    options={"xatol": 1e-12})
            grid = min(cost(c) for c in np.linspace(0, column.max() + 1, 2001))
            total += min(found.fun, grid, cost(0.0))
        assert prior <= total / y.shape[1] + 1e-12, (prior, total / y.shape[1])
        assert prior == pytest.approx(total / y.shape[1], abs=1e-9)


def onehot_rows(labels, k):
    return np.eye(k)[labels]


def test_kld_best_case_is_attained():
    # K = 2: y = (1 - eps, eps) against (1, 0) gives (1 - eps) ln(1 - eps), about -eps.
    for k in (2, 3, 10):
        y = np.full((1, k), 1e-7)
        y[0, 0] = 1 - (k - 1) * 1e-7
        best = lossbounds.best_case("kld", n_classes=k, dtype="float64")
        assert best == pytest.approx((1 - (k - 1) * 1e-7) * math.log1p(-(k - 1) * 1e-7), rel=1e-12)
        assert_equal(best, keras_value("kl_divergence", y, onehot_rows([0], k), "float64"), 1e-9)
    assert lossbounds.best_case("kld", n_classes=1) == 0.0
    # Large K: the target (1/e, eps, ...) reaches -1/e (epsilon = 1e-3 keeps K small).
    k = 700
    y = np.full((1, k), (1 - 1 / E) / (k - 1))
    y[0, 0] = 1 / E
    best = lossbounds.best_case("kld", n_classes=k, epsilon=1e-3, dtype="float64")
    assert best == pytest.approx(-1 / E, rel=1e-15)
    assert_equal(best, keras_value("kl_divergence", y, onehot_rows([0], k), "float64",
                                   epsilon=1e-3), 1e-12)
    assert lossbounds.best_case("kld") == pytest.approx(-1 / E, rel=1e-15)  # without K: the limit


def test_kld_worst_case_is_attained():
    # A one-hot target predicted 0 (the other class 1): (1 - eps) L - eps ln(1 - eps).
    worst = lossbounds.worst_case("kld", n_classes=2, dtype="float64")
    assert worst == pytest.approx((1 - 1e-7) * -math.log(1e-7) - 1e-7 * math.log1p(-1e-7),
                                  rel=1e-14)
    assert_equal(worst, keras_value("kl_divergence", [[1.0, 0.0]], [[0.0, 1.0]], "float64"), 1e-12)
    assert_equal(lossbounds.worst_case("kld", n_classes=2),
                 keras_value("kl_divergence", [[1.0, 0.0]], [[0.0, 1.0]]), 1e-6)  # 16.1180935
    # K = 500 with epsilon = 1e-3: every other class at eps, the rest 1 - 499 eps on one class.
    k, eps = 500, 1e-3
    p = np.full((1, k), eps)
    p[0, 1] = 1 - (k - 1) * eps
    worst = lossbounds.worst_case("kld", n_classes=k, epsilon=eps, dtype="float64")
    assert_equal(worst, keras_value("kl_divergence", onehot_rows([0], k), p, "float64",
                                    epsilon=eps), 1e-12)
    # K >= 1/eps: every class at eps gives -ln eps.
    k = 1000
    worst = lossbounds.worst_case("kld", n_classes=k, epsilon=eps, dtype="float64")
    assert worst == pytest.approx(-math.log(eps), rel=1e-15)
    assert_equal(worst, keras_value("kl_divergence", onehot_rows([0], k), np.full((1, k), 1 / k),
                                    "float64", epsilon=eps), 1e-12)
    # float16: y/p overflows.
    assert lossbounds.worst_case("kld", n_classes=2, dtype="float16") == math.inf
    assert keras_value("kl_divergence", [[1.0, 0.0]], [[0.0, 1.0]], "float16")[0] == math.inf
    # Unnormalised rows go beyond (the note says so): K L for y = 1 everywhere predicted 0.
    assert keras_value("kl_divergence", [[1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0]])[0] == \
        pytest.approx(3 * L32, rel=1e-6)
    notes = lossbounds.bounds("kld", n_classes=3).notes
    assert any(note.code == "unnormalised_rows" and "48.35429" in note for note in notes)


def test_kld_uniform_and_prior_are_attained():
    # One-hot, K = 3, predicted 1/3: ln 3 less the clipped entropy 2 eps ln eps = 1.0986092.
    uniform = lossbounds.baseline("kld", n_classes=3, dtype="float64")
    assert uniform == pytest.approx(math.log(3) + 2e-7 * math.log(3e-7), rel=1e-12)
    assert_equal(uniform, keras_value("kl_divergence", [[0.0, 1.0, 0.0]], [[1 / 3] * 3],
                                      "float64"), 1e-12)
    assert keras_value("kl_divergence", [[0.0, 1.0, 0.0]], [[1 / 3] * 3])[0] == \
        pytest.approx(1.0986092, abs=1e-7)
    # Soft targets: the mean of ln K - H(y').
    y = np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])
    assert_equal(lossbounds.baseline("kld", y, dtype="float64"),
                 keras_reduced("kl_divergence", y, np.full_like(y, 0.5), "float64"), 1e-12)
    # Prior: predict the mean target; coverage.md's 0.1847124 = 0.690923 - 0.506211.
    prior = lossbounds.prior_baseline("kld", y)
    assert prior == pytest.approx(0.1847124, abs=1e-7)
    assert_equal(prior, keras_reduced("kl_divergence", y, np.broadcast_to(y.mean(0), y.shape),
                                      "float64"), 1e-7)
    # One-hot with frequencies (.75, .25): H(.75, .25) = 0.5623337, from labels or counts.
    labels = onehot_rows([0, 0, 0, 1], 2)
    prior = lossbounds.prior_baseline("kld", labels)
    assert prior == pytest.approx(0.5623337, abs=2e-6)
    assert lossbounds.prior_baseline("kld", counts=[3, 1]) == pytest.approx(prior, rel=1e-12)
    assert_equal(prior, keras_reduced("kl_divergence", labels, [[0.75, 0.25]] * 4, "float64"),
                 1e-9)


def _kld_at_constant(y, w, q, eps=EPS32):
    """Keras' KL divergence of rows y (weights w) against one constant prediction q, in float64."""
    yc, qc = np.clip(y, eps, 1), np.clip(q, eps, 1)
    return float(w @ np.sum(yc * np.log(yc / qc), axis=-1) / w.sum())


def test_no_distribution_beats_the_kld_prior():
    rng = np.random.default_rng(3)
    cases = [(rng.dirichlet([0.3, 1.0, 2.0, 0.5], 40), np.ones(40)),
             (onehot_rows(rng.integers(0, 5, 60), 5), np.ones(60)),
             # a class of frequency 5e-8: below e eps, it is best left at eps
             (np.eye(3), np.array([0.5, 5e-8, 0.5 - 5e-8]))]
    for y, w in cases:
        k = y.shape[1]
        prior = lossbounds.prior_baseline("kld", y, sample_weight=w)
        f = w @ np.clip(y, EPS32, 1) / w.sum()
        naive = _kld_at_constant(y, w, f / f.sum())
        best = naive
        for start in range(6):
            x0 = np.log(f) if start == 0 else rng.standard_normal(k) * 3
            found = minimize(lambda z, y=y, w=w: _kld_at_constant(y, w, softmax(z)), x0,
                             method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000})
            best = min(best, found.fun)
        assert prior <= best + 1e-9, (prior, best)
        assert prior <= naive + 1e-12
    # In the rare-class case, dropping the class beats q = f: the scan finds it.
    y, w = cases[-1]
    f = w @ np.clip(y, EPS32, 1)
    dropped = _kld_at_constant(y, w, np.array([f[0], 0.0, f[2]]) / (f[0] + f[2]))
    assert dropped < _kld_at_constant(y, w, f / f.sum()) - 1e-8
    assert lossbounds.prior_baseline("kld", y, sample_weight=w) == pytest.approx(dropped, abs=1e-13)


def test_cosine_bounds_are_attained():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((20, 7))
    assert_equal(lossbounds.best_case("cosine"), keras_value("cosine_similarity", x, 3 * x,
                                                             "float64").min(), 1e-14)
    assert_equal(lossbounds.worst_case("cosine"), keras_value("cosine_similarity", x, -x,
                                                              "float64").max(), 1e-14)
    # float32 rounding: within 1e-6 of the real bounds (-1.0000002 is seen).
    values = keras_value("cosine_similarity", x, x)
    assert np.all(np.abs(values + 1) <= 1e-6)
    # Zeros: exactly 0 (-0.0), the uniform baseline.
    zeros = keras_value("cosine_similarity", x, np.zeros_like(x))
    assert np.all(zeros == 0.0) and lossbounds.baseline("cosine") == 0.0


def test_cosine_prior_is_attained_and_not_beaten():
    # coverage.md: [[1, 0], [0, 1], [1, 0]] -> predict (2, 1): -sqrt(5)/3 = -0.7453559.
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    prior = lossbounds.prior_baseline("cosine", y)
    assert prior == pytest.approx(-math.sqrt(5) / 3, rel=1e-14)
    assert_equal(prior, keras_reduced("cosine_similarity", y, [[2.0, 1.0]] * 3, "float64"), 1e-14)
    assert keras_reduced("cosine_similarity", y, [[1.0, 1.0]] * 3) == pytest.approx(-0.7071068)
    rng = np.random.default_rng(1)
    # 2-D: every direction on a dense grid, refined by scipy.
    y = rng.standard_normal((30, 2)) + [0.5, 0.2]
    prior = lossbounds.prior_baseline("cosine", y)

    def cost(angle):
        c = np.array([math.cos(angle), math.sin(angle)])
        return float(np.mean(-(y @ c) / np.linalg.norm(y, axis=1)))

    angles = np.linspace(0, 2 * math.pi, 20001)
    start = angles[np.argmin([cost(a) for a in angles])]
    found = minimize_scalar(cost, bounds=(start - 1e-3, start + 1e-3), method="bounded",
                            options={"xatol": 1e-12})
    assert prior <= found.fun + 1e-12 and prior == pytest.approx(found.fun, abs=1e-10)
    constant = np.broadcast_to([math.cos(found.x), math.sin(found.x)], y.shape)
    assert_equal(prior, keras_reduced("cosine_similarity", y, constant, "float64"), 1e-9)
    # 5-D with weights, along axis 0: scipy over directions.
    y = rng.standard_normal((5, 40)) + 0.3
    w = rng.random(40)
    prior = lossbounds.prior_baseline("cosine", y, axis=0, sample_weight=w)
    units = y / np.linalg.norm(y, axis=0)
    weighted = lambda c: float(-(w @ (units.T @ c)) / np.linalg.norm(c) / w.sum())  # noqa: E731
    best = min(minimize(weighted, rng.standard_normal(5), method="BFGS", options={"gtol": 1e-12}).fun
               for _ in range(5))
    assert prior <= best + 1e-10 and prior == pytest.approx(best, abs=1e-8)
    mean = units @ w / w.sum()
    assert_equal(prior, keras_reduced("cosine_similarity", y, np.broadcast_to(mean[:, None],
                                      y.shape), "float64", axis=0, sample_weight=w,
                                      reduction="mean_with_sample_weight"), 1e-12)
    # Tiny targets are scaled by 1/eps, not normalised, in Keras and in the prior.
    y = np.array([[1.0, 0.0], [1e-9, 0.0]])
    assert lossbounds.prior_baseline("cosine", y) == pytest.approx(-(1 + 1e-2) / 2, rel=1e-12)
    assert_equal(-(1 + 1e-2) / 2, keras_reduced("cosine_similarity", y, [[1.0, 0.0]] * 2,
                                                "float64"), 1e-12)


def _correlated(shape, seed):
    """Vectors and noisy copies of them: cosines near -0.7, far from the 0 of random pairs
    (where the contract's 1e-6 is absolute, and a relative error would hide)."""
    rng = np.random.default_rng(seed)
    y = rng.standard_normal(shape).astype(np.float32)
    return y, (y + rng.standard_normal(shape)).astype(np.float32)


def _wide_rows():
    y, p = _correlated((2, 150_001), 3)
    p[1] *= np.float32(1e-18)  # a norm below epsilon: scaled by 1/epsilon, not normalised
    return y, p


COSINE_STREAMS = {
    # rows wider than the numpy path's segment of columns, and one 1-d vector
    "one vector of 300,002 values": lambda: tuple(x.reshape(-1) for x in _correlated((2, 150_001), 2)),
    "two wide rows, one below epsilon": lambda: (*_wide_rows(), {}),
    "vectors along axis 0": lambda: (*_correlated((3_000, 5), 4), {"axis": 0}),
    "vectors along axis 1 of a 3-D batch": lambda: (*_correlated((20, 300, 7), 5), {"axis": 1}),
}


@pytest.mark.parametrize("accelerated", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("case", list(COSINE_STREAMS))
def test_cosine_streams_wide_rows_and_any_axis_as_keras_computes(case, accelerated):
    # These run a block of vectors (or a segment of one) at a time: see test_memory.py.
    y, p, *rest = COSINE_STREAMS[case]()
    options = rest[0] if rest else {}
    kind, expected = keras_class("cosine_similarity", y, p, **options)
    assert kind == "value" and abs(expected) > 0.3, expected
    with accelerator(accelerated):
        assert_close(lossbounds.loss("cosine", y, p, **options), expected, context=case)
        kind, expected = keras_function("cosine_similarity", y, p, **options)
        assert kind == "value", expected
        assert_close(lossbounds.cosine_similarity(y, p, **options), expected, context=case)


@pytest.mark.parametrize("name", NAMES)
def test_bounds_are_ordered_on_data(name):
    rng = np.random.default_rng(2)
    data = {"poisson": (rng.poisson(3.0, (50, 4)).astype(float), {"y_range": (0, 20),
                                                                    "pred_range": (0, 30)}),
            "kl_divergence": (rng.dirichlet([1, 2, 3], 50), {"n_classes": 3}),
            "cosine_similarity": (rng.standard_normal((50, 4)), {})}
    y, options = data[name]
    b = lossbounds.bounds(name, y, **options)
    assert b.best <= b.prior <= b.uniform <= b.worst, b


# --------------------------------------------------------------------------
# (d) Junk input


def test_poisson_rejects_negative_targets_and_predictions():
    # Keras: NaN for p < -eps, inf/NaN at p = -eps, a value unbounded below for y < 0.
    assert np.isnan(keras_value("poisson", [[1.0]], [[-1.0]])[0])
    assert keras_value("poisson", [[1.0]], [[-1e-7]])[0] == math.inf
    with pytest.raises(ValueError, match=r"`y_pred` holds -1 at index \(0, 1\).*softplus"):
        lossbounds.poisson([[1.0, 1.0]], [[1.0, -1.0]])
    with pytest.raises(ValueError, match="`y_pred`"):
        lossbounds.loss("poisson", [[1.0]], [[-1e-7]])
    assert np.isfinite(keras_value("poisson", [[1.0]], [[-5e-8]])[0])
    assert_close(lossbounds.poisson(np.float32([[1.0]]), np.float32([[-5e-8]])),
                 keras_value("poisson", [[1.0]], [[-5e-8]]).astype(np.float32))
    assert np.isfinite(keras_value("poisson", [[-1.0]], [[2.0]])[0])
    with pytest.raises(ValueError, match="`y_true` holds -1.*counts or rates"):
        lossbounds.poisson([[-1.0]], [[2.0]])
    with pytest.raises(ValueError, match="y_true"):
        lossbounds.prior_baseline("poisson", [[-1.0, 2.0]])
    with pytest.raises(ValueError, match="pred_range"):
        lossbounds.worst_case("poisson", pred_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="y_range"):
        lossbounds.best_case("poisson", y_range=(-1.0, 1.0))
    with pytest.raises(ValueError, match="exactly one of `y_true`"):
        lossbounds.prior_baseline("poisson", [[1.0]], mean=1.0)
    with pytest.raises(ValueError, match="exactly one of `y_true`"):
        lossbounds.prior_baseline("poisson")
    with pytest.raises(ValueError, match="mean"):
        lossbounds.prior_baseline("poisson", mean=[1.0, -2.0])
    with pytest.raises(UndefinedBound, match="mean"):
        lossbounds.baseline("poisson")


@pytest.mark.parametrize("name", ["poisson", "kl_divergence"])
def test_functions_reject_n_against_n1(name):
    # Keras' function broadcasts (N,) against (N, 1) to (N, N) and returns N values of garbage.
    y, p = np.float32([0.2, 0.8, 0.5]), np.float32([[0.5], [0.5], [0.3]])
    kind, garbage = keras_function(name, y, p)
    assert kind == "value" and garbage.shape == (3,)
    kind, right = keras_class(name, y, p, reduction=None)
    assert kind == "value" and not np.allclose(garbage, right)
    with pytest.raises(ValueError, match=r"broadcast to \(3, 3\): every target against"):
        getattr(lossbounds, name)(y, p)
    assert_close(lossbounds.loss(name, y, p, reduction=None), right)  # the class: rank fixed
    with pytest.raises(ValueError, match="scalars"):
        getattr(lossbounds, name)(np.float32(0.5), np.float32(0.5))
    assert keras_function(name, np.float32(0.5), np.float32(0.5))[0] == "error"


def test_cosine_rejects_vectors_of_different_lengths():
    y, p = np.float32([[1.0], [-2.0]]), np.float32([[1, 2, 3], [1, 1, 1]])
    kind, garbage = keras_function("cosine_similarity", y, p)
    assert kind == "value" and np.max(np.abs(garbage)) > 1  # -1.6035674, 1.7320508
    with pytest.raises(ValueError, match="length 1 and `y_pred`.*length 3"):
        lossbounds.cosine_similarity(y, p)
    with pytest.raises(ValueError, match="length"):
        lossbounds.loss("cosine", y, p)
    with pytest.raises(ValueError, match="not the same dimension"):
        lossbounds.cosine_similarity(np.float32([1, 2, 3]), np.float32([[1, 0, 3], [4, 5, 0]]),
                                     axis=0)
    with pytest.raises(ValueError, match="axis"):
        lossbounds.cosine_similarity([1.0, 2.0], [1.0, 2.0], axis=1)
    assert keras_function("cosine_similarity", np.float32([1, 2]), np.float32([1, 2]),
                          axis=1)[0] == "error"
    with pytest.raises(TypeError, match="axis"):
        lossbounds.cosine_similarity([1.0, 2.0], [1.0, 2.0], axis=0.5)
    # Scalars are one-element vectors, as in Keras.
    assert_close(lossbounds.cosine_similarity(np.float32(1), np.float32(-2)),
                 keras_function("cosine_similarity", np.float32(1), np.float32(-2))[1])


@pytest.mark.parametrize("name", NAMES)
def test_integer_predictions_and_bad_baseline_data(name):
    assert keras_function(name, np.float32([[1.0, 2.0]]), np.int32([[1, 2]]))[0] == "error"
    with pytest.raises(TypeError, match="y_pred"):
        getattr(lossbounds, name)([[1.0, 2.0]], np.int32([[1, 2]]))
    with pytest.raises(ValueError, match="sample_weight"):
        lossbounds.prior_baseline(name, [[0.5, 0.5]], sample_weight=[-1.0])
    with pytest.raises(ValueError, match="y_true"):
        lossbounds.prior_baseline(name, [[0.5, np.nan]])
    with pytest.raises(ValueError, match="empty"):
        lossbounds.prior_baseline(name, [[0.5, 0.5]], sample_weight=[0.0])


def test_kld_rejects_mismatched_classes_and_counts():
    with pytest.raises(ValueError, match="3 classes but n_classes=4"):
        lossbounds.prior_baseline("kld", [[0.2, 0.3, 0.5]], n_classes=4)
    with pytest.raises(ValueError, match="not both"):
        lossbounds.prior_baseline("kld", [[1.0, 0.0]], counts=[1, 1])
    with pytest.raises(ValueError, match="counts"):
        lossbounds.prior_baseline("kld", counts=[[1, 2], [3, 4]])
    with pytest.raises(ValueError, match="empty"):
        lossbounds.prior_baseline("kld", counts=[0, 0])
    assert lossbounds.bounds("kld", counts=[3, 1]).uniform == pytest.approx(
        lossbounds.baseline("kld", onehot_rows([0, 0, 0, 1], 2)), rel=1e-12)


# --------------------------------------------------------------------------
# (e) Names and words


@pytest.mark.parametrize("name", NAMES)
def test_every_name_keras_accepts_finds_the_loss(name):
    from keras.src.losses import ALL_OBJECTS_DICT

    definition = get_loss(name)
    cls = getattr(keras.losses, definition.class_name)
    keras_names = {key for key, value in ALL_OBJECTS_DICT.items()
                   if value is getattr(keras.losses, name) or value is cls}
    assert keras_names >= {name, definition.class_name}
    folded = {n.lower() for n in definition.names()}
    assert {n.lower() for n in keras_names} <= folded
    assert cls().name in folded  # the class's own name attribute
    for alias in keras_names:
        keras.losses.get(alias)  # Keras accepts it...
        assert get_loss(alias) is definition  # ...and so do we


def test_explain_words():
    e = lossbounds.explain(-0.5, "poisson", mean=3.0)
    assert "negative_poisson" in e.kinds and "ln(y!)" in str(e)
    assert "below_best" not in e.kinds and e.bounds.prior == pytest.approx(3 - EPS32 - 3 * math.log(3))
    assert "negative_poisson" not in lossbounds.explain(0.3, "poisson", mean=0.5).kinds
    e = lossbounds.explain(-0.2, "kld", n_classes=3)
    assert "unnormalised_inputs" in e.kinds and "softmax" in str(e)
    assert lossbounds.explain(-1e-7, "kld", n_classes=3).kinds == ()  # clipping noise
    assert "unnormalised_inputs" in lossbounds.explain(-0.2, "kld").kinds
    assert "clipping_plateau" in lossbounds.explain(16.1181, "kld", n_classes=10).kinds
    # Not at Keras' defaults: a log without a loss name at 16.1181 is cross-entropy's plateau.
    assert "KL divergence" not in str(lossbounds.diagnose({"loss": [16.1181] * 3}))
    e = lossbounds.explain(0.3, "cosine")
    assert {"cosine_positive", "worse_than_uniform"} <= set(e.kinds)
    e = lossbounds.explain(-0.8, "cosine", y_true=[[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    assert e.kinds == () and "-1 is perfect, 0 is orthogonal" in str(e)
    assert "36.9°" in str(e) and "-0.7454" in str(e)
    assert lossbounds.explain(0.0, "cosine").kinds == ("at_uniform",)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["explain", "-0.5", "poisson"]) == 0
    assert "negative Poisson loss" in out.getvalue()
