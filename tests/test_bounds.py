"""The bounds are proven in lossbounds/bounds.py; these tests show both sides.

(a) hypothesis never finds a valid input on which Keras leaves [best, worst];
(b) constructed inputs make Keras return exactly the claimed best, uniform,
    prior and worst values;
(c) no constant prediction beats the prior baseline (scipy.optimize);
(d) best <= prior <= uniform <= worst.

Keras values come from live Keras 3 (TensorFlow backend). Values for the other
backends and for legacy tf.keras, which the test extra does not install, are
checked against measurements taken with those packages (quoted with their
source) and against the formulas written out here in float32.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function
from scipy.optimize import minimize
from scipy.special import softmax
from strategies import class_counts, seeds

import lossbounds

F32 = np.float32
EPS32 = float(F32(1e-7))
HIGH32 = float(F32(1 - 1e-7))  # 1 - 2**-23
CE = ("binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy")


def keras_values(name, y_true, y_pred, **options):
    kind, value = keras_function(name, y_true, y_pred, **options)
    assert kind == "value", value
    return value.astype(np.float64)


def assert_keras_equals(claimed, keras_value):
    """Keras' float32 result is the claimed real number rounded (1e-6 contract)."""
    keras_value = np.asarray(keras_value, np.float64)
    assert np.all(np.abs(keras_value - claimed) <= 1e-6 * np.maximum(1.0, abs(claimed))), (
        f"claimed {claimed!r}, Keras {keras_value!r}")


def onehot(labels, k):
    return np.eye(k, dtype=F32)[labels]


# ---------------------------------------------------------------------------
# Hand derivations, written out independently of lossbounds/bounds.py


def test_float32_clip_constants():
    # f32(1e-7) and f32(1 - 1e-7) = 1 - 2**-23, as Keras rounds them.
    assert HIGH32 == 1 - 2**-23
    assert lossbounds.worst_case("bce") == pytest.approx(-math.log(EPS32), rel=1e-15)
    assert lossbounds.best_case("bce") == pytest.approx(-math.log1p(-(2**-23)), rel=1e-15)
    assert lossbounds.worst_case("cce") == pytest.approx(16.118095639272223, rel=1e-15)


def test_the_first_call_users_type():
    assert lossbounds.baseline("sparse_cce", n_classes=7) == math.log(7)
    assert lossbounds.baseline("categorical_crossentropy", n_classes=10) == math.log(10)
    assert lossbounds.baseline("BinaryCrossentropy") == math.log(2)
    assert lossbounds.baseline("mse", n_classes=4) == 3 / 16


@pytest.mark.parametrize(
    ("backend", "claimed", "measured"),
    [
        # tf_keras 2.21: -log(2 eps), -log(1 - f32(1-eps) + eps), -log(0.5 + eps) in float32.
        # Measured: keras-semantics.md section 5 (tf_keras 2.21.0 on tensorflow-cpu 2.21.0).
        ("tf_keras", "worst", 15.424948692321777),
        ("tf_keras", "best", 0.0),
        ("tf_keras", "uniform", 0.6931469440460205),
        # torch backend: log1p(-eps) for y=0, p=0 (keras-semantics.md section 4).
        ("torch", "best", 1.0000001e-07),
        # numpy backend: sigmoid then clip, so logits are bounded too (section 6.2).
        ("numpy", "worst_logits", 16.11809539794922),
    ],
)
def test_other_backends_against_measurements(backend, claimed, measured):
    value = {
        "worst": lambda: lossbounds.worst_case("bce", backend=backend),
        "best": lambda: lossbounds.best_case("bce", backend=backend),
        "uniform": lambda: lossbounds.baseline("bce", backend=backend),
        "worst_logits": lambda: lossbounds.worst_case("bce", from_logits=True, backend=backend),
    }[claimed]()
    assert value == pytest.approx(measured, rel=1e-6, abs=1e-9)


def test_tf_keras_binary_plateaus_from_the_formula():
    # Keras 2 computes -(y log(p + eps) + (1 - y) log(1 - p + eps)) in float32.
    p_low, p_high = F32(1e-7), F32(1 - 1e-7)
    label_one = -math.log(float(p_low + F32(1e-7)))
    label_zero = -math.log(float(F32(1) - p_high + F32(1e-7)))
    assert lossbounds.worst_case("bce", backend="tf_keras") == pytest.approx(label_one, rel=1e-12)
    assert label_zero == pytest.approx(15.33323860168457, rel=1e-6)  # the 15.33 plateau
    assert label_one == pytest.approx(15.424948692321777, rel=1e-6)


def test_sparse_backends_without_renormalisation():
    for backend in ("jax", "torch", "numpy"):
        assert lossbounds.worst_case("sparse_cce", n_classes=1000, backend=backend) == pytest.approx(
            -math.log(EPS32))
        assert lossbounds.best_case("sparse_cce", n_classes=1000, backend=backend) == pytest.approx(
            -math.log(HIGH32))


def test_float16_binary_worst_is_infinite():
    # float16: 1 - eps rounds to 1, so label 0 at p = 1 is -log(0).
    assert np.float16(1 - 1e-7) == 1
    assert lossbounds.worst_case("bce", dtype="float16") == math.inf
    assert lossbounds.worst_case("cce", dtype="float16") == pytest.approx(-math.log(2**-23))


# ---------------------------------------------------------------------------
# (b) Keras attains each claimed value


@pytest.mark.parametrize("k", [1, 2, 3, 10, 1000])
def test_categorical_attains_best_uniform_worst(k):
    labels = np.array([0])
    y = onehot(labels, k)
    right = onehot(labels, k)
    assert_keras_equals(lossbounds.best_case("cce", n_classes=k),
                        keras_values("categorical_crossentropy", y, right))
    uniform = np.full((1, k), 1 / k, F32)
    assert_keras_equals(lossbounds.baseline("cce", n_classes=k),
                        keras_values("categorical_crossentropy", y, uniform))
    if k >= 2:
        wrong = onehot(np.array([k - 1]), k)
        assert_keras_equals(lossbounds.worst_case("cce", n_classes=k),
                            keras_values("categorical_crossentropy", y, wrong))


@pytest.mark.parametrize("k", [2, 3, 10, 1000])
@pytest.mark.parametrize("a", [0.1, 0.2, 1.0])
def test_categorical_smoothing_attains_best_and_worst(k, a):
    y = onehot(np.array([0]), k)
    true, other = 1 - a + a / k, a / k
    smoothed = np.full((1, k), other)
    smoothed[0, 0] = true
    assert_keras_equals(
        lossbounds.best_case("cce", n_classes=k, label_smoothing=a),
        keras_values("categorical_crossentropy", y, smoothed.astype(F32), label_smoothing=a))
    # All mass but (K-1) eps on a wrong class, eps on every other class.
    worst = np.full((1, k), EPS32)
    worst[0, 1] = 1 - (k - 1) * EPS32
    assert_keras_equals(
        lossbounds.worst_case("cce", n_classes=k, label_smoothing=a),
        keras_values("categorical_crossentropy", y, worst.astype(F32), label_smoothing=a))


@pytest.mark.parametrize("k", [1, 2, 3, 10, 1000])
def test_sparse_attains_best_uniform_worst(k):
    label = np.array([0])
    assert_keras_equals(lossbounds.best_case("sparse_cce", n_classes=k),
                        keras_values("sparse_categorical_crossentropy", label, onehot(label, k)))
    assert_keras_equals(
        lossbounds.baseline("sparse_cce", n_classes=k),
        keras_values("sparse_categorical_crossentropy", label, np.full((1, k), 1 / k, F32)))
    if k == 1:
        assert lossbounds.worst_case("sparse_cce", n_classes=1) == 0.0
        return
    wrong = np.zeros((1, k), F32)
    wrong[0, 1:3] = 1.0 / min(2, k - 1)  # the mass split over two wrong classes
    assert_keras_equals(lossbounds.worst_case("sparse_cce", n_classes=k),
                        keras_values("sparse_categorical_crossentropy", label, wrong))


@pytest.mark.parametrize("k", [3, 10, 1000])
def test_sparse_unnormalised_rows_go_beyond_the_worst_case(k):
    # p = [0, 1, ..., 1]: every other entry clips to 1 - eps, then renormalises.
    row = np.ones((1, k), F32)
    row[0, 0] = 0
    value = keras_values("sparse_categorical_crossentropy", np.array([0]), row)
    claimed = -math.log(EPS32) + math.log(EPS32 + (k - 1) * HIGH32)
    assert_keras_equals(claimed, value)
    note = [n for n in lossbounds.bounds("sparse_cce", n_classes=k).notes if "do not sum to 1" in n]
    assert f"{claimed:.7g}" in note[0]
    assert value[0] > lossbounds.worst_case("sparse_cce", n_classes=k) + math.log(k - 1) - 1e-3


@pytest.mark.parametrize("a", [0.0, 0.1, 0.2, 1.0])
def test_binary_attains_best_uniform_worst(a):
    y = np.array([[1.0], [0.0]], F32)
    best = lossbounds.best_case("bce", label_smoothing=a)
    targets = y * (1 - a) + a / 2
    assert_keras_equals(best, keras_values("binary_crossentropy", y, targets.astype(F32),
                                           label_smoothing=a).max())
    worst = lossbounds.worst_case("bce", label_smoothing=a)
    wrong = np.array([[0.0], [1.0]], F32)
    assert_keras_equals(worst, keras_values("binary_crossentropy", y, wrong, label_smoothing=a).max())
    assert_keras_equals(lossbounds.baseline("bce", label_smoothing=a),
                        keras_values("binary_crossentropy", y, np.full((2, 1), 0.5, F32),
                                     label_smoothing=a))


@pytest.mark.parametrize("k", [3, 10])
def test_binary_on_one_hot_outputs_baseline(k):
    labels = np.arange(k) % k
    y = onehot(labels, k)
    predicted = np.full((k, k), 1 / k, F32)
    assert_keras_equals(lossbounds.baseline("bce", n_classes=k),
                        keras_values("binary_crossentropy", y, predicted))
    assert lossbounds.baseline("bce", n_classes=k) < math.log(k)


@settings(max_examples=60)
@given(seed=seeds, k=st.integers(2, 12), n=st.integers(1, 60), a=st.sampled_from([0.0, 0.1]))
def test_prior_is_attained_by_the_label_frequencies(seed, k, n, a):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, n) if n > 1 else np.array([0])
    frequencies = np.bincount(labels, minlength=k) / n
    constant = np.tile(frequencies, (n, 1)).astype(F32)
    kind, value = keras_class("sparse_categorical_crossentropy", labels, constant)
    assert_keras_equals(lossbounds.prior_baseline("sparse_cce", labels, n_classes=k), value)
    kind, value = keras_class("categorical_crossentropy", onehot(labels, k),
                              (constant * (1 - a) + a / k).astype(F32), label_smoothing=a)
    assert_keras_equals(
        lossbounds.prior_baseline("cce", onehot(labels, k), label_smoothing=a), value)
    positives = rng.integers(0, 2, (n, 3)).astype(F32)
    rate = np.tile(positives.mean(axis=0), (n, 1)).astype(F32)
    kind, value = keras_class("binary_crossentropy", positives, rate)
    assert_keras_equals(lossbounds.prior_baseline("bce", positives), value)


def test_mse_attains_its_bounds():
    y = np.array([[0.0], [1.0], [1.0], [3.0]], F32)
    mean = np.full_like(y, y.mean())
    kind, value = keras_class("mean_squared_error", y, mean)
    assert_keras_equals(lossbounds.prior_baseline("mse", y), value)
    assert lossbounds.prior_baseline("mse", y) == pytest.approx(np.var(y))
    kind, value = keras_class("mean_squared_error", np.array([[3.0]]), np.array([[-1.0]]))
    assert_keras_equals(lossbounds.worst_case("mse", y_range=(0, 3), pred_range=(-1, 2)), value)
    k = 4
    kind, value = keras_class("mean_squared_error", onehot(np.arange(k), k), np.full((k, k), 1 / k))
    assert_keras_equals(lossbounds.baseline("mse", n_classes=k), value)


def test_prior_from_counts_equals_prior_from_labels():
    labels = np.repeat([0, 1, 2, 4], [50, 30, 15, 5])
    counts = np.bincount(labels, minlength=6)
    for loss in ("sparse_cce", "cce"):
        data = labels if loss == "sparse_cce" else onehot(labels, 6)
        assert lossbounds.prior_baseline(loss, data, n_classes=6) == pytest.approx(
            lossbounds.prior_baseline(loss, counts=counts), rel=1e-12)
    y = np.random.default_rng(0).normal(3, 2, 1000)
    assert lossbounds.prior_baseline("mse", y) == pytest.approx(
        lossbounds.prior_baseline("mse", count=y.size, mean=y.mean(), variance=y.var()))
    binary = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])
    per_output = np.stack([(binary == 0).sum(0), (binary == 1).sum(0)], axis=1)
    assert lossbounds.prior_baseline("bce", binary) == pytest.approx(
        lossbounds.prior_baseline("bce", counts=per_output))


# ---------------------------------------------------------------------------
# (a) Keras never leaves [best, worst] on valid input


def _valid_rows(rng, n, k, style):
    if style == "onehot":
        return np.eye(k)[rng.integers(k, size=n)]
    scale = {"soft": 2.0, "peaked": 60.0}[style]
    return softmax(rng.standard_normal((n, k)) * scale, axis=1)


@settings(max_examples=400)
@given(seed=seeds, k=class_counts(), style=st.sampled_from(["onehot", "soft", "peaked"]),
       name=st.sampled_from(CE), a=st.sampled_from([0.0, 0.0, 0.1, 0.3, 1.0]),
       from_logits=st.booleans(), dtype=st.sampled_from(["float32", "float32", "float64", "float16"]))
def test_keras_stays_within_best_and_worst(seed, k, style, name, a, from_logits, dtype):
    rng = np.random.default_rng(seed)
    n = 4
    sparse = name == "sparse_categorical_crossentropy"
    if sparse:
        a = 0.0
    options = {"from_logits": from_logits}
    if a:
        options["label_smoothing"] = a
    with np.errstate(divide="ignore"):  # logits of exactly 0 and 1 are +-inf, then clipped
        if name == "binary_crossentropy":
            y_true = rng.integers(0, 2, (n, k)).astype(F32)
            p = (rng.choice([0.0, 1.0, 0.5, 1e-9, 1 - 1e-9], (n, k)) if style == "onehot"
                 else rng.random((n, k)))
            y_pred = (np.log(p) - np.log1p(-p)) if from_logits else p
        else:
            labels = rng.integers(0, k, n)
            y_true = labels if sparse else onehot(labels, k)
            rows = _valid_rows(rng, n, k, style)
            y_pred = np.log(rows) if from_logits else rows
        y_pred = np.clip(y_pred, -1e30, 1e30)
    with np.errstate(over="ignore"):  # 1e30 logits are inf in float16, as a user's would be
        y_pred = y_pred.astype(dtype)
    values = keras_values(name, y_true, y_pred, **options)
    assume(not np.isnan(values).any())
    # (sparse categorical cross-entropy has no label_smoothing: passing it is a TypeError)
    kwargs = dict(n_classes=k, dtype=dtype, **options)
    best = lossbounds.best_case(name, **kwargs)
    worst = lossbounds.worst_case(name, **kwargs)
    # Keras returns the bound rounded to its dtype: allow that rounding.
    with np.errstate(invalid="ignore"):
        spacing = np.nan_to_num(np.spacing(np.abs(values).astype(dtype)).astype(np.float64))
    tolerance = np.maximum(1e-6 * np.maximum(1.0, np.abs(values)), 2 * spacing)
    if dtype == "float16" and name == "categorical_crossentropy" and not from_logits:
        # Keras sums the K terms of a float16 row in float16, rounding at each
        # step: up to (K - 1) * 2**-11 relative (observed: 16.0 for 15.94 at
        # K = 1000 with label smoothing 0.3).
        tolerance = tolerance + (k - 1) * 2.0**-11 * np.abs(values)
    assert np.all(values >= best - tolerance), (values.min(), best)
    assert np.all(values <= worst + tolerance), (values.max(), worst)


# ---------------------------------------------------------------------------
# (c) no constant prediction beats the prior baseline


@settings(max_examples=25)
@given(seed=seeds, k=st.integers(2, 6), a=st.sampled_from([0.0, 0.1]),
       name=st.sampled_from(["sparse_categorical_crossentropy", "categorical_crossentropy"]))
def test_no_constant_prediction_beats_the_prior(seed, k, a, name):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, 40)
    sparse = name == "sparse_categorical_crossentropy"
    if sparse:
        a = 0.0
    y = labels if sparse else onehot(labels, k)
    options = {} if sparse else {"label_smoothing": a}
    prior = lossbounds.prior_baseline(name, y, n_classes=k, **options)

    def objective(z):
        row = softmax(z).astype(np.float32)
        return lossbounds.loss(name, y, np.tile(row, (labels.size, 1)), **options)

    found = min(
        minimize(objective, rng.standard_normal(k), method="Nelder-Mead",
                 options={"xatol": 1e-9, "fatol": 1e-10, "maxiter": 4000}).fun
        for _ in range(3)
    )
    # float32 evaluation and clipping (at most ln(1 + K eps)) are the only slack.
    assert found >= prior - 1e-6
    assert found <= prior + 1e-3  # and the optimiser does get there


def test_prior_binary_and_mse_minimisers():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, (50, 2)).astype(F32)
    prior = lossbounds.prior_baseline("bce", y)

    def bce(z):
        q = 1 / (1 + np.exp(-z))
        return lossbounds.loss("bce", y, np.tile(q, (50, 1)).astype(F32))

    assert minimize(bce, np.zeros(2), method="Nelder-Mead").fun >= prior - 1e-6
    targets = rng.normal(size=30)
    mse_prior = lossbounds.prior_baseline("mse", targets)
    found = minimize(lambda c: float(np.mean((targets - c) ** 2)), [0.0]).fun
    assert found == pytest.approx(mse_prior, rel=1e-6)


# ---------------------------------------------------------------------------
# (d) ordering


@settings(max_examples=300)
@given(name=st.sampled_from(CE + ("mean_squared_error",)), k=class_counts(),
       a=st.floats(0, 1), from_logits=st.booleans(),
       dtype=st.sampled_from(["float16", "float32", "float64"]),
       backend=st.sampled_from(["tensorflow", "jax", "torch", "numpy", "tf_keras"]),
       epsilon=st.sampled_from([1e-7, 1e-3, 1e-12]), seed=seeds)
def test_best_prior_uniform_worst_are_ordered(name, k, a, from_logits, dtype, backend, epsilon, seed):
    if name in ("sparse_categorical_crossentropy", "mean_squared_error"):
        a = 0.0
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, k, 30)
    data = {
        "sparse_categorical_crossentropy": labels,
        "categorical_crossentropy": onehot(labels, k),
        "binary_crossentropy": rng.integers(0, 2, (30, 3)),
        "mean_squared_error": onehot(labels, k),
    }[name]
    ranges = {"y_range": (0, 1), "pred_range": (0, 1)} if name == "mean_squared_error" else {}
    if name == "mean_squared_error":
        b = lossbounds.bounds(name, data, n_classes=k, **ranges)
    else:
        # each loss takes its own options: sparse CCE has no label_smoothing
        smoothing = {} if name == "sparse_categorical_crossentropy" else {"label_smoothing": a}
        b = lossbounds.bounds(name, data, n_classes=k if name != "binary_crossentropy" else None,
                              from_logits=from_logits, dtype=dtype, backend=backend,
                              epsilon=epsilon, **smoothing)
    values = [v for v in (b.best, b.prior, b.uniform, b.worst) if v is not None]
    # In float16 the prior is Keras' loss at q = f with 1 - q rounded to float16 (one ulp is
    # 2**-11 near 1/2), so with heavy label smoothing it can exceed ln 2 by that rounding.
    rounding = 2.0**-10 if dtype == "float16" else 1e-9
    slack = rounding * max(1.0, max(abs(v) for v in values if math.isfinite(v)))
    assert all(x <= y + slack for x, y in zip(values, values[1:])), b


def test_bounds_str_is_a_table():
    text = str(lossbounds.bounds("sparse_cce", [0, 1, 1, 2], n_classes=3))
    lines = text.splitlines()
    assert lines[0] == "sparse_categorical_crossentropy (n_classes=3)"
    assert [line.split()[0] for line in lines[1:5]] == ["best", "prior", "uniform", "worst"]
    assert "cached logits" in text


def test_bounds_dataclass_is_frozen_and_serialisable():
    import dataclasses
    import json

    b = lossbounds.bounds("bce", from_logits=True)
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.best = 1.0
    payload = json.loads(json.dumps(b.as_dict()))
    assert payload["worst"] == math.inf and payload["loss"] == "binary_crossentropy"


def test_bounds_take_the_number_of_classes_from_counts():
    b = lossbounds.bounds("sparse_cce", counts=[5, 3, 2])
    assert b.options["n_classes"] == 3 and b.uniform == math.log(3)
    assert b.prior == pytest.approx(-(0.5 * math.log(0.5) + 0.3 * math.log(0.3) + 0.2 * math.log(0.2)),
                                    abs=1e-6)


def test_torch_float16_binary_worst_is_its_log_clamp():
    # torch's binary_cross_entropy clamps each log at -100: no inf, no inf note.
    b = lossbounds.bounds("bce", dtype="float16", backend="torch")
    assert b.worst == 100.0
    assert not any("inf" in note for note in b.notes)
