"""The block kernels of ``lossbounds.losses`` against the whole-array reference, and Keras.

The reference is Keras' formulas transcribed onto whole arrays (checked live
against Keras by test_losses_keras.py and test_golden.py); every kernel must
agree with it to the exactness target, whatever the block boundaries, the
number of threads, the layout or the dtype of the inputs. A last group runs
inputs that span many blocks and both threads against live Keras.
"""

from __future__ import annotations

import functools
import os
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from accelerated import accelerator
from compare import assert_close

import lossbounds
from lossbounds import _tfmath, engine, fused
from lossbounds.backends import get_backend
from lossbounds.families import crossentropy_kernels
from lossbounds.registry import get_loss

NAMES = {
    "mse": "mean_squared_error",
    "bce": "binary_crossentropy",
    "cce": "categorical_crossentropy",
    "scce": "sparse_categorical_crossentropy",
}
REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight")
pytestmark = pytest.mark.filterwarnings("ignore:categorical_crossentropy with a single class")


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Blocks of 64 elements on two threads: many boundaries, both threads busy."""
    monkeypatch.setattr(engine, "_BLOCK_ELEMENTS", 64)
    monkeypatch.setattr(engine, "_THREAD_MIN_ELEMENTS", 0)
    monkeypatch.setattr(engine, "_THREADS", 2)


def softmax(z):
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def make(kind, n, k, *, seed=0, dtype=np.float32):
    """(y_true, y_pred, options) for one loss and prediction kind."""
    rng = np.random.default_rng(seed)
    loss, from_logits = kind.split("/")
    from_logits = from_logits == "logits"
    z = rng.standard_normal((n, k)) * 3
    y_pred = (z if from_logits or loss == "mse" else softmax(z)).astype(dtype)
    labels = rng.integers(0, k, n)
    if loss == "scce":
        y_true = labels
    elif loss == "cce":
        y_true = np.eye(k, dtype=dtype)[labels]
    elif loss == "bce":
        y_true = rng.integers(0, 2, (n, k)).astype(dtype)
        if not from_logits:
            y_pred = rng.random((n, k)).astype(dtype)
    else:
        y_true = rng.standard_normal((n, k)).astype(dtype)
    options = {} if loss == "mse" else {"from_logits": from_logits}
    return y_true, y_pred, options


def reference(name, y_true, y_pred, *, dtype=None, epsilon=1e-7, **options):
    """Per-sample losses and mask from the whole-array reference."""
    name = NAMES.get(name, name)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    defaults = {
        "mean_squared_error": {},
        "binary_crossentropy": {"from_logits": False, "label_smoothing": 0.0, "axis": -1},
        "categorical_crossentropy": {"from_logits": False, "label_smoothing": 0.0, "axis": -1},
        "sparse_categorical_crossentropy": {"from_logits": False, "ignore_class": None, "axis": -1},
    }[name]
    kwargs = {**defaults, **options, "epsilon": epsilon}
    definition = get_loss(name)
    if dtype is not None:
        kwargs.update(definition.class_options(np.dtype(dtype)))  # the class API casts labels
    dtype = np.dtype(dtype or y_pred.dtype)
    return definition.plan(y_true, y_pred, dtype, **kwargs).reference()


def reference_loss(name, y_true, y_pred, *, sample_weight=None, reduction="sum_over_batch_size",
                   dtype=np.float32, **options):
    y_true, y_pred = engine.same_rank(np.asarray(y_true), np.asarray(y_pred))  # as loss() does
    values, mask = reference(name, y_true, y_pred, dtype=dtype, **options)
    result = engine.reduce_weighted(values, sample_weight, mask, reduction, np.dtype(dtype))
    return float(result) if np.ndim(result) == 0 else result


def per_sample(name, y_true, y_pred, **options):
    return getattr(lossbounds, NAMES[name])(y_true, y_pred, **options)


KINDS = ("mse/values", "bce/probs", "bce/logits", "cce/probs", "cce/logits",
         "scce/probs", "scce/logits")


# --------------------------------------------------------------------------
# Block boundaries, widths, threads


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), [(101, 1), (257, 2), (97, 3), (61, 10), (37, 11),
                                      (23, 100), (9, 1000)])
def test_blocks_match_the_reference(tiny_blocks, kind, n, k):
    name = kind.split("/")[0]
    y_true, y_pred, options = make(kind, n, k, seed=n * k)
    assert_close(per_sample(name, y_true, y_pred, **options),
                 reference(name, y_true, y_pred, **options)[0], context=kind)
    weights = np.random.default_rng(k).random(n) + 0.5
    for reduction in REDUCTIONS:
        for sample_weight in (None, weights):
            ours = lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                                   reduction=reduction, **options)
            expected = reference_loss(name, y_true, y_pred, sample_weight=sample_weight,
                                      reduction=reduction, **options)
            assert_close(ours, np.float32(expected), context=f"{kind} {reduction}")


@pytest.mark.parametrize("kind", KINDS)
def test_threads_give_identical_results(monkeypatch, kind):
    y_true, y_pred, options = make(kind, 3001, 7, seed=3)
    name = kind.split("/")[0]
    monkeypatch.setattr(engine, "_BLOCK_ELEMENTS", 256)
    monkeypatch.setattr(engine, "_THREAD_MIN_ELEMENTS", 0)
    results = []
    for threads in (1, 2):
        monkeypatch.setattr(engine, "_THREADS", threads)
        results.append((per_sample(name, y_true, y_pred, **options),
                        lossbounds.loss(name, y_true, y_pred, **options)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]


def test_block_size_does_not_change_the_reduced_value(monkeypatch):
    y_true, y_pred, options = make("scce/logits", 5000, 10)
    values = []
    for block in (64, 1000, 1 << 17):
        monkeypatch.setattr(engine, "_BLOCK_ELEMENTS", block)
        values.append(lossbounds.loss("scce", y_true, y_pred, **options))
    assert max(values) - min(values) <= 2e-7 * values[0]


@pytest.mark.parametrize("kind", ("scce/probs", "scce/logits", "cce/probs", "cce/logits"))
def test_very_many_classes(kind):
    # beyond _NEAR_ONE_WIDTH: sparse probabilities take TF's own formula
    y_true, y_pred, options = make(kind, 3, 40000)
    name = kind.split("/")[0]
    assert_close(per_sample(name, y_true, y_pred, **options),
                 reference(name, y_true, y_pred, **options)[0], context=kind)


def test_float64_uses_the_kernels_too(tiny_blocks):
    for kind in KINDS:
        y_true, y_pred, options = make(kind, 50, 4, dtype=np.float64)
        name = kind.split("/")[0]
        ours = per_sample(name, y_true, y_pred, **options)
        assert ours.dtype == np.float64
        assert_close(ours, reference(name, y_true, y_pred, **options)[0], context=kind)


# --------------------------------------------------------------------------
# Rows the shortcuts must hand back


EXTREME_LOGITS = (1e4, -1e4, 1e30, -1e30, np.inf, -np.inf, np.nan, 88.0, 89.0, -70.0, -104.0,
                  3e38, -3e38)


@pytest.mark.parametrize("name", ("scce", "cce"))
@pytest.mark.parametrize("k", (2, 5, 300))
def test_overflowing_and_non_finite_logits(tiny_blocks, name, k):
    rng = np.random.default_rng(1)
    n = 300
    logits = (rng.standard_normal((n, k)) * 3).astype(np.float32)
    flat = logits.reshape(-1)
    flat[rng.integers(0, flat.size, 80 * k)] = rng.choice(EXTREME_LOGITS, 80 * k)
    logits[:10] = 1.0
    logits[:10, 0] = [-np.inf, np.inf, np.nan, -3e38, 3e38, 1e30, -1e30, 1e4, -1e4, 0]
    labels = rng.integers(0, k, n)
    y_true = labels if name == "scce" else np.eye(k, dtype=np.float32)[labels]
    options = [{}] if name == "scce" else [{}, {"label_smoothing": 0.1}]  # one-hot and soft
    for extra in options:
        with np.errstate(all="ignore"):
            expected = reference(name, y_true, logits, from_logits=True, **extra)[0]
        assert_close(per_sample(name, y_true, logits, from_logits=True, **extra), expected,
                     context=f"{name} {extra}")


@pytest.mark.parametrize("scale", (1e4, 1e30))
def test_target_shift_matches_tf_max_shift(scale):
    # rows where the target is the max keep TF's precision; the others overflow and fall back
    rng = np.random.default_rng(2)
    logits = (rng.standard_normal((1000, 3)) * scale).astype(np.float32)
    labels = rng.integers(0, 3, 1000)
    ours = lossbounds.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    assert_close(ours, reference("scce", labels, logits, from_logits=True)[0])


def test_sparse_probabilities_unnormalised_rows(tiny_blocks):
    rng = np.random.default_rng(3)
    p = np.concatenate([
        rng.random((50, 6)) * 1e-9,  # tiny: TF's float32 logs decide the value
        rng.random((50, 6)) * 3,  # rows summing to far more than 1
        np.zeros((5, 6)),  # log K on TensorFlow
        softmax(rng.standard_normal((50, 6)) * 40),  # peaked
        np.full((5, 6), np.nan),
    ]).astype(np.float32)
    labels = rng.integers(0, 6, len(p))
    for epsilon in (1e-7, 1e-12, 1e-3):
        assert_close(
            lossbounds.sparse_categorical_crossentropy(labels, p, epsilon=epsilon),
            reference("scce", labels, p, epsilon=epsilon)[0], context=f"eps={epsilon}")


def test_categorical_probabilities_odd_rows(tiny_blocks):
    rng = np.random.default_rng(4)
    k = 4
    p = rng.random((40, k)).astype(np.float32)
    p[0] = 0  # 0/0
    p[1] = [1e-39, 1.2e-38, 0, 0]  # subnormal entries: TF flushes them
    p[2] = [-0.5, 1, 0.5, 0]  # negative entries
    p[3] = [np.inf, 1, 0, 0]
    p[4, 2] = np.nan
    p[5] = [3e38, 3e38, 0, 0]  # the row sum overflows
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, 40)]
    y[6] = [0.3, 0.7, 0, 0]  # soft target: the block takes the reference
    y[7, 1] = -0.0
    for epsilon in (1e-7, 1e-12):
        assert_close(lossbounds.categorical_crossentropy(y, p, epsilon=epsilon),
                     reference("cce", y, p, epsilon=epsilon)[0], context=f"eps={epsilon}")
    y[6] = np.eye(k)[0]
    y[8, 0] = np.nan  # a NaN target: NaN, as in Keras
    y[9] = [np.inf, 0, 0, 0]
    assert_close(lossbounds.categorical_crossentropy(y, p), reference("cce", y, p)[0])


def test_binary_soft_and_odd_targets(tiny_blocks):
    rng = np.random.default_rng(5)
    p = rng.random((60, 3)).astype(np.float32)
    p[0] = [0, 1, 0.5]
    y = rng.integers(0, 2, (60, 3)).astype(np.float32)
    y[10] = [0.3, np.nan, np.inf]  # the block takes Keras' two-log formula
    for epsilon in (1e-7, 1e-12):  # 1 - 1e-12 rounds to 1 in float32: Keras' NaN/inf
        for smoothing in (0.0, 0.1):
            assert_close(
                lossbounds.binary_crossentropy(y, p, epsilon=epsilon, label_smoothing=smoothing),
                reference("bce", y, p, epsilon=epsilon, label_smoothing=smoothing)[0],
                context=f"eps={epsilon} smoothing={smoothing}")


def test_long_rows_are_summed_accurately():
    # a BLAS gemv adds each lane sequentially in float32: 1.2e-6 off on this row
    y = np.random.default_rng(1).integers(0, 2, (2, 1000)).astype(np.float32)
    p = np.zeros((2, 1000), np.float32)
    terms = np.where(y == 1, -np.log(np.float32(1e-7)), -np.log(np.float32(1) - np.float32(1e-7)))
    exact = terms.astype(np.float64).mean(axis=1)
    assert np.all(np.abs(lossbounds.binary_crossentropy(y, p) / exact - 1) < 2e-7)
    assert abs(lossbounds.loss("bce", y, p) / exact.mean() - 1) < 2e-7


def test_near_one_width_bound():
    # _NEAR_ONE_WIDTH: with row sums in [1/2, 2], the rounding of TF's logs
    # moves the loss by at most 2**-24 ((1 - w)(ln(K - 1) + 2 ln 2 + loss) + 1/e);
    # with 4 ulp of other rounding that stays below 0.8e-6 * max(1, loss).
    k = crossentropy_kernels._NEAR_ONE_WIDTH
    loss = np.linspace(0, 40, 40001)
    w = np.exp(-loss)
    bound = 2.0**-24 * ((1 - w) * (np.log(k - 1) + 2 * np.log(2) + loss) + 1 / np.e + 4 * np.maximum(1, loss))
    assert np.all(bound <= 0.8e-6 * np.maximum(1, loss))


# --------------------------------------------------------------------------
# Labels: gathers by flat index, masks, checks


@pytest.mark.parametrize("label_dtype", (np.int64, np.int32, np.uint8, np.float32, np.float64))
def test_label_dtypes_and_shapes(tiny_blocks, label_dtype):
    y_true, y_pred, _ = make("scce/logits", 203, 7)
    labels = y_true.astype(label_dtype)
    expected = reference("scce", labels, y_pred, from_logits=True)[0]
    assert_close(per_sample("scce", labels, y_pred, from_logits=True), expected)
    assert_close(per_sample("scce", labels[:, None], y_pred, from_logits=True), expected)
    # first and last class, and every class in every position of a block
    edge = np.tile([0, 6], 102)[:203].astype(label_dtype)
    assert_close(per_sample("scce", edge, y_pred, from_logits=True),
                 reference("scce", edge, y_pred, from_logits=True)[0])


@pytest.mark.parametrize("ignore_class", (-1, 0, 255))
@pytest.mark.parametrize("reduction", ("sum_over_batch_size", "sum", "mean_with_sample_weight", "none"))
def test_ignore_class(tiny_blocks, ignore_class, reduction):
    rng = np.random.default_rng(6)
    y_true, y_pred, _ = make("scce/probs", 301, 5)
    labels = np.where(rng.random(301) < 0.3, ignore_class, y_true)
    labels[:40] = ignore_class  # whole blocks ignored
    options = {"ignore_class": ignore_class}
    assert_close(per_sample("scce", labels, y_pred, **options),
                 reference("scce", labels, y_pred, **options)[0])
    for sample_weight in (None, rng.random(301), rng.random((301, 1)), 2.0):
        ours = lossbounds.loss("scce", labels, y_pred, sample_weight=sample_weight,
                               reduction=reduction, **options)
        expected = reference_loss("scce", labels, y_pred, sample_weight=sample_weight,
                                  reduction=reduction, **options)
        assert_close(ours, expected if isinstance(ours, np.ndarray) else np.float32(expected))


def test_all_labels_ignored_gives_zero(tiny_blocks):
    y_pred = make("scce/logits", 100, 3)[1]
    assert lossbounds.loss("scce", np.full(100, -1), y_pred, ignore_class=-1, from_logits=True) == 0.0


@pytest.mark.parametrize("bad", (7, -1, 2.5, np.nan))
def test_a_bad_label_late_in_the_input_is_reported_like_the_reference(tiny_blocks, bad):
    y_true, y_pred, _ = make("scce/probs", 500, 7)
    labels = y_true.astype(np.float64)
    labels[450] = bad
    labels[480] = 9
    with pytest.raises(ValueError) as expected:
        reference("scce", labels, y_pred)
    with pytest.raises(ValueError) as ours:
        lossbounds.sparse_categorical_crossentropy(labels, y_pred)
    assert str(ours.value) == str(expected.value)
    with pytest.raises(ValueError) as ours:
        lossbounds.loss("scce", labels, y_pred)
    with pytest.raises(ValueError) as expected:
        reference("scce", labels, y_pred, dtype=np.float32)
    assert str(ours.value) == str(expected.value)


def test_class_api_casts_labels_through_float32():
    # 2**24 + 1 becomes 2**24 in float32: with K = 2**24 + 2 Keras keeps it in range
    y_pred = np.zeros((1, 2**24 + 2), np.float32)
    labels = np.array([2**24 + 1])
    assert_close(lossbounds.loss("scce", labels, y_pred, from_logits=True),
                 np.float32(reference_loss("scce", labels, y_pred, from_logits=True)))


# --------------------------------------------------------------------------
# Layouts and dtypes of the inputs


@pytest.mark.parametrize("kind", KINDS)
def test_strided_inputs_and_cast_inputs(tiny_blocks, kind):
    name = kind.split("/")[0]
    y_true, y_pred, options = make(kind, 80, 6, dtype=np.float64)
    expected = lossbounds.loss(name, y_true.astype(np.float32) if name != "scce" else y_true,
                               y_pred.astype(np.float32), **options)
    # float64 inputs, cast block by block to the float32 compute dtype
    assert lossbounds.loss(name, y_true, y_pred, **options) == expected
    # Fortran order and slices: blocks are copied as they are read
    fortran = np.asfortranarray(y_pred.astype(np.float32))
    assert lossbounds.loss(name, y_true, fortran, **options) == expected
    wide = np.zeros((80, 12), np.float32)
    wide[:, ::2] = y_pred
    assert lossbounds.loss(name, y_true, wide[:, ::2], **options) == expected


@pytest.mark.parametrize("kind", KINDS)
def test_three_dimensional_inputs_and_weights(tiny_blocks, kind):
    name = kind.split("/")[0]
    y_true, y_pred, options = make(kind, 60, 5)
    y_true = y_true.reshape(12, 5, *y_true.shape[1:])
    y_pred = y_pred.reshape(12, 5, 5)
    rng = np.random.default_rng(7)
    for sample_weight in (None, rng.random((12, 5)), rng.random((12, 1)), rng.random(5), 3.0,
                          rng.random((12, 5, 1))):
        for reduction in REDUCTIONS:
            ours = lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                                   reduction=reduction, **options)
            expected = reference_loss(name, y_true, y_pred, sample_weight=sample_weight,
                                      reduction=reduction, **options)
            assert_close(ours, np.float32(expected), context=f"{kind} {reduction}")


def test_weights_that_enlarge_the_losses_are_materialised():
    # 1-D inputs make a 0-d loss; (N,) weights then broadcast it, as in Keras
    y, p = np.array([0.0, 1.0, 1.0]), np.array([0.5, 0.5, 0.25])
    w = np.array([1.0, 2.0, 3.0])
    assert_close(lossbounds.loss("mse", y, p, sample_weight=w),
                 np.float32(reference_loss("mse", y, p, sample_weight=w)))
    # (N, 1) losses squeezed against a scalar weight: Keras returns the 0-d value unreduced
    assert_close(lossbounds.loss("mse", [[0.1]], [[0.3]], sample_weight=2.0,
                                 reduction="mean_with_sample_weight"),
                 np.float32(reference_loss("mse", [[0.1]], [[0.3]], sample_weight=2.0,
                                           reduction="mean_with_sample_weight")))


# --------------------------------------------------------------------------
# Memory: the reduced loss streams


def peak_mib(call):
    """tracemalloc peak of a call, after a first call (numba compiles a fused kernel on its
    first use: Python objects that are not the loss's memory)."""
    call()
    tracemalloc.start()
    try:
        call()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_reduced_loss_memory_is_flat(kind):
    name = kind.split("/")[0]
    peaks = []
    for n in (2_000_000, 8_000_000):  # both big enough for two threads
        y_true, y_pred, options = make(kind, n, 4 if name in ("cce", "scce") else 1)
        peaks.append(peak_mib(functools.partial(lossbounds.loss, name, y_true, y_pred, **options)))
        del y_true, y_pred
    assert max(peaks) <= 32, peaks
    assert peaks[1] <= peaks[0] + 4, peaks  # does not grow with N


# --------------------------------------------------------------------------
# TensorFlow's log, and live Keras at sizes that span many blocks


os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@pytest.mark.parametrize("size", (1, 7, 8, 9, 23, 4096, 100_003))
def test_tf_log_is_bit_exact(size):
    import tensorflow as tf

    rng = np.random.default_rng(size)
    x = np.exp(rng.uniform(-30, 2, size)).astype(np.float32)
    x[rng.integers(0, size, min(size, 2))] = [0.0, np.inf][: min(size, 2)]
    expected = tf.math.log(x).numpy()
    packets = size - size % 8
    ours = _tfmath.log(x)
    np.testing.assert_array_equal(ours[:packets], expected[:packets])  # Eigen's plog
    # the last size % 8 go through glibc's logf: equal but for 0.1%, then 1 ulp
    assert np.all(np.abs(ours[packets:].view(np.int32) - expected[packets:].view(np.int32)) <= 1)
    if size > 8:  # a block in the middle of the tensor, and its last block
        np.testing.assert_array_equal(_tfmath.log(x[:8], scalar_from=8), ours[:8])
        np.testing.assert_array_equal(_tfmath.log(x[8:], scalar_from=packets - 8), ours[8:])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("n", "k"), [(30_001, 1), (20_011, 3), (3_001, 100), (61, 3000)])
def test_many_blocks_against_keras(monkeypatch, kind, n, k):
    from keras_reference import keras_class, keras_function

    monkeypatch.setattr(engine, "_THREAD_MIN_ELEMENTS", 0)
    monkeypatch.setattr(engine, "_BLOCK_ELEMENTS", 4096)
    name = NAMES[kind.split("/")[0]]
    y_true, y_pred, options = make(kind, n, k, seed=k)
    kind_, expected = keras_function(name, y_true, y_pred, **options)
    assert kind_ == "value", expected
    assert_close(getattr(lossbounds, name)(y_true, y_pred, **options), expected, context=kind)
    kind_, expected = keras_class(name, y_true, y_pred, **options)
    assert kind_ == "value", expected
    assert_close(lossbounds.loss(name, y_true, y_pred, **options), expected, context=kind)


# --------------------------------------------------------------------------
# Differential: kernels against the reference on the edge-value strategies


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from strategies import (  # noqa: E402
    EPSILONS,
    LABEL_SMOOTHING,
    binary_targets,
    categorical_targets,
    class_shapes,
    predictions,
    reductions,
    regression_pair,
    sample_weights,
    sparse_labels,
)


def draw(data, name, dtype):
    """(y_true, y_pred, options, loss_shape), last class axis (the kernels' case)."""
    if name == "mse":
        y_true, y_pred = data.draw(regression_pair(dtype))
        return y_true, y_pred, {}, np.broadcast_shapes(y_true.shape, y_pred.shape)[:-1]
    from_logits = data.draw(st.booleans(), label="from_logits")
    shape = data.draw(class_shapes(min_rank=2))
    y_pred = data.draw(predictions(shape, dtype, from_logits))
    options = {"from_logits": from_logits}
    if name == "scce":
        ignore_class = data.draw(st.sampled_from([None, None, -1, 0]), label="ignore_class")
        if ignore_class is not None:
            options["ignore_class"] = ignore_class
        return data.draw(sparse_labels(shape, ignore_class=ignore_class)), y_pred, options, shape[:-1]
    targets = binary_targets if name == "bce" else categorical_targets
    y_true = data.draw(targets(shape, data.draw(st.sampled_from([dtype, np.float64]))))
    options["label_smoothing"] = data.draw(LABEL_SMOOTHING, label="label_smoothing")
    return y_true, y_pred, options, shape[:-1]


@pytest.fixture(scope="module")
def tiny_blocks_for_module():
    saved = engine._BLOCK_ELEMENTS, engine._THREAD_MIN_ELEMENTS
    engine._BLOCK_ELEMENTS, engine._THREAD_MIN_ELEMENTS = 64, 0
    yield
    engine._BLOCK_ELEMENTS, engine._THREAD_MIN_ELEMENTS = saved


@pytest.mark.parametrize("name", ("mse", "bce", "cce", "scce"))
@settings(max_examples=400)
@given(data=st.data())
def test_kernels_agree_with_the_reference(tiny_blocks_for_module, name, data):
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    y_true, y_pred, options, loss_shape = draw(data, name, dtype)
    epsilon = data.draw(EPSILONS, label="epsilon")
    try:
        with np.errstate(all="ignore"):
            expected = reference(name, y_true, y_pred, epsilon=epsilon, **options)[0]
    except ValueError:
        with pytest.raises(ValueError):
            per_sample(name, y_true, y_pred, epsilon=epsilon, **options)
    else:
        assert_close(per_sample(name, y_true, y_pred, epsilon=epsilon, **options), expected,
                     context=f"{name} {options}")
    sample_weight = data.draw(sample_weights(loss_shape), label="sample_weight")
    reduction = data.draw(reductions, label="reduction")

    def ours():
        return lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                               reduction=reduction, epsilon=epsilon, **options)

    try:
        with np.errstate(all="ignore"):
            expected = reference_loss(name, y_true, y_pred, sample_weight=sample_weight,
                                      reduction=reduction, epsilon=epsilon, **options)
    except ValueError:  # weights that do not fit: Keras raises too
        with pytest.raises(ValueError):
            ours()
        return
    ours = ours()
    assert_close(ours, expected if isinstance(ours, np.ndarray) else np.float32(expected),
                 context=f"{name} {reduction} {options}")


@pytest.mark.parametrize("name", ("binary_crossentropy", "categorical_crossentropy"))
def test_subnormal_label_smoothing_is_read_as_zero(name):
    # TF's denormals-are-zero mode reads the constant 0.5 * a (or a / K) as 0
    from keras_reference import keras_class

    y_pred = np.array([[-np.inf, 0.5], [0.25, 1.0]], np.float64)
    y_true = np.array([[0.0, 1.0], [1.0, 0.0]], np.float64)
    options = {"from_logits": True, "label_smoothing": 2.2250738585072014e-308}
    kind, expected = keras_class(name, y_true, y_pred, dtype="float64", **options)
    assert kind == "value", expected
    assert_close(lossbounds.loss(name, y_true, y_pred, dtype="float64", **options),
                 expected, context=name)


# --------------------------------------------------------------------------
# Wide rows: beyond crossentropy_kernels._WIDE classes a row is read in
# column chunks, never whole (one row of 1e8 classes took 3.6 GB)


def wide_rows(kind, n, k, dtype):
    """Rows wider than several column chunks, labels at both ends, and edge rows."""
    name, from_logits = kind.split("/")
    rng = np.random.default_rng(k)
    z = rng.standard_normal((n, k)) * 3
    labels = rng.integers(0, k, n)
    labels[0], labels[1] = k - 1, 0  # the last chunk (and TF's scalar log tail), the first
    if from_logits == "logits":
        y_pred = z.astype(dtype)
        y_pred[2, 5] = np.nan
        y_pred[3, 100] = np.inf
        y_pred[4, :] = -np.inf  # TF's shift gives NaN
        y_pred[5, : k - 1] = -np.inf  # only the label is finite: 0 for sparse
        y_pred[6, 3] = 80  # exp overflows float32 without the shift
    else:
        y_pred = softmax(z).astype(dtype)
        y_pred[2] *= 3  # rows that do not sum to 1
    y_true = labels
    if name == "cce":
        y_true = np.zeros((n, k), dtype)
        y_true[np.arange(n), labels] = 1
    return name, y_true, y_pred, {"from_logits": from_logits == "logits"}


@pytest.mark.parametrize("accelerated", [False, True], ids=["numpy", "compiled"])
@pytest.mark.parametrize("kind", ("scce/probs", "scce/logits", "cce/probs", "cce/logits"))
@pytest.mark.parametrize("dtype", (np.float32, np.float64))
@pytest.mark.parametrize("rows", [8, 23])
def test_wide_rows_match_the_whole_row_kernels(monkeypatch, kind, dtype, accelerated, rows):
    # With the accelerator, compiled kernels take rows this wide: the logits kernels up to
    # 2**20 classes, those on probabilities any (sparse: TF's formula on its own logs).
    k = 3 * crossentropy_kernels._COLUMNS + 5  # four chunks
    name, y_true, y_pred, options = wide_rows(kind, rows, k, dtype)  # 23 rows: a log tail
    assert k > crossentropy_kernels._WIDE
    bound, bind = [], fused.Fused.bind

    def recording(self, job):
        kernel = bind(self, job)
        bound.append(kernel is not None)
        return kernel

    with accelerator(accelerated), mock.patch.object(fused.Fused, "bind", recording):
        streamed = per_sample(name, y_true, y_pred, **options)
        reduced = lossbounds.loss(name, y_true, y_pred, reduction="sum", dtype=dtype.__name__,
                                  **options)
    assert any(bound) == accelerated, bound
    monkeypatch.setattr(crossentropy_kernels, "_WIDE", 2**62)  # the whole-row kernels
    with accelerator(False):
        before = per_sample(name, y_true, y_pred, **options)
    assert_close(streamed, before, context=f"{kind} against the whole-row kernel")
    assert_close(streamed, reference(name, y_true, y_pred, **options)[0], context=kind)
    with accelerator(False):
        whole = lossbounds.loss(name, y_true, y_pred, reduction="sum", dtype=dtype.__name__,
                                **options)
    assert_close(reduced, np.asarray(whole, dtype))


def test_wide_rows_with_ignore_class_and_blocks_of_several_rows(monkeypatch):
    monkeypatch.setattr(engine, "_THREAD_MIN_ELEMENTS", 0)
    k = crossentropy_kernels._WIDE + 3  # blocks of 15 rows, on two threads
    y_true, y_pred, options = make("scce/probs", 61, k, seed=1)
    y_true[::3] = 7
    ours = lossbounds.loss("scce", y_true, y_pred, ignore_class=7, reduction="none")
    monkeypatch.setattr(crossentropy_kernels, "_WIDE", 2**62)
    assert_close(ours, lossbounds.loss("scce", y_true, y_pred, ignore_class=7, reduction="none"))


@pytest.mark.parametrize("shape", [(1, 1), (5, 1), (7, 2), (52_428, 10), (300, 64), (3, 65),
                                   (2**17, 8), (2**17 + 1, 8), (4, 3, 5)])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_log_softmax_of_narrow_rows_is_the_row_formula(shape, dtype):
    # The backends' log-softmax takes a block of narrow rows through a transposed copy: the
    # same values as the formula along the rows (np.max, np.sum), NaN and infinities included.
    rng = np.random.default_rng(sum(shape))
    x = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    for special in (np.nan, np.inf, -np.inf):
        flat[rng.integers(0, flat.size, max(1, flat.size // 50))] = special
    with np.errstate(all="ignore"):
        got = crossentropy_kernels._log_softmax_on(get_backend("numpy"), x)
        shifted = x - np.max(x, axis=-1, keepdims=True)
        expected = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    assert got.shape == expected.shape and got.dtype == expected.dtype
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_jax_binary_logits_equal_the_logaddexp_formula(dtype):
    # JAX's binary cross-entropy from logits, -t log_sigmoid(x) - (1 - t) log_sigmoid(-x),
    # takes both softplus(x) and softplus(-x) from one log1p(exp(-|x|)). Against the same
    # formula with np.logaddexp(+-x, 0) for each softplus: a few ulp apart, the special
    # values the same (0 and 1 targets, soft ones, logits of +-1e4, +-1e30, +-inf, NaN, 0).
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.standard_normal(4000) * 10, rng.standard_normal(1000) * 1e-3,
                        [0.0, -0.0, 1e4, -1e4, 1e30, -1e30, np.inf, -np.inf, np.nan, 88.0, -88.0,
                         16.0, -16.0, 200.0, -200.0]])
    with np.errstate(over="ignore"):  # (float16: 1e30 is inf)
        x = x.astype(dtype)
    t = np.resize(np.array([0.0, 1.0, 0.25, 0.9], dtype), x.size)
    computed = x.astype(np.float32) if dtype == np.float16 else x  # (JAX's float16 math)
    one, zero = t.dtype.type(1), computed.dtype.type(0)
    with np.errstate(all="ignore"):
        expected = (t * np.logaddexp(-computed, zero)
                    + (one - t) * np.logaddexp(computed, zero)).astype(dtype)
        got = crossentropy_kernels._jax_logits(t, x)
    assert got.dtype == expected.dtype
    special = ~np.isfinite(expected) | (expected == 0)
    np.testing.assert_array_equal(got[special], expected[special])
    ulp = np.spacing(np.abs(expected[~special]).astype(dtype))
    assert np.all(np.abs(got[~special] - expected[~special]) <= 4 * ulp)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_pairwise_rows_is_numpys_sum(dtype):
    # The backends' log-softmax sums a block's narrow rows from their transposed copy, in
    # numpy's own pairwise order (float16 in float32): np.sum's sums along the rows, bit for bit.
    rng = np.random.default_rng(8)
    for width in range(1, 129):
        x = rng.standard_normal((257, width)) * 10.0 ** rng.uniform(-4, 4, (257, width))
        with np.errstate(over="ignore"):  # (float16: beyond 65504 is inf)
            x = x.astype(dtype)
        x[0, 0], x[1, -1], x[2, width // 2] = np.inf, np.nan, -np.inf
        x[3] = -0.0
        with np.errstate(over="ignore"):
            got = crossentropy_kernels._pairwise_rows(np.ascontiguousarray(x.T))
            expected = np.sum(x, axis=-1)
        np.testing.assert_array_equal(got, expected, err_msg=f"width {width}")
        assert np.array_equal(np.signbit(got[3]), np.signbit(expected[3]))


def _narrow_blocks(test):
    """Parametrize `test` over the backends with narrow blocks, their dtypes, and widths."""
    test = pytest.mark.parametrize("width", [2, 7, 8, 10, 17, 64, 65])(test)
    test = pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])(test)
    return pytest.mark.parametrize("backend", ["jax", "numpy", "torch"])(test)


@_narrow_blocks
def test_backend_sparse_logits_equal_the_one_hot_formula(backend, dtype, width):
    # On narrow blocks the log-softmax reduces transposed rows, and JAX's and NumPy's
    # one-hot sum takes the label's own log where the row is finite. Against the formulas
    # written out (np.max, np.sum along the rows, the float32 one-hot product): the same
    # values, with -inf and NaN logits (0 x -inf is NaN in the one-hot sum) and without.
    rng = np.random.default_rng(width)
    on = get_backend(backend)
    for specials in (False, True):
        x = (rng.standard_normal((3000, width)) * 30).astype(dtype)
        if specials:
            x[5, 0], x[9, 1], x[11] = -np.inf, np.nan, -np.inf
            x[13, 0] = np.inf
        labels = rng.integers(0, width, 3000)
        computed = crossentropy_kernels._in_float32(on, x)
        with np.errstate(all="ignore"):
            shifted = computed - np.max(computed, axis=-1, keepdims=True)
            log_prob = (shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
                        ).astype(dtype)
            if backend == "torch":
                expected = -np.take_along_axis(log_prob, labels[:, None], axis=-1)[:, 0]
            else:
                one_hot = (labels[:, None] == np.arange(width)).astype(np.float32)
                expected = -np.sum(one_hot * log_prob, axis=-1)
            got = crossentropy_kernels._scce_normalised(on, labels, x, None, True, 1e-7)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)


@_narrow_blocks
def test_backend_probability_cce_equals_the_row_formula(backend, dtype, width):
    # On narrow blocks the rows' sums (the rescaling's, the cross-entropy's) are taken from
    # the transposed copy. Against the formulas written out with np.sum along the rows: the
    # same values, with rows of zeros (NaN), subnormal and huge entries; and along the first
    # axis of a 3-D block (no transposed copy).
    rng = np.random.default_rng(width)
    on = get_backend(backend)
    in32 = functools.partial(crossentropy_kernels._in_float32, on)
    x = rng.dirichlet(np.full(width, 0.5), 3000).astype(dtype)
    x[5], x[7, 0], x[9] = 0, np.finfo(dtype).smallest_subnormal, np.finfo(dtype).max / width
    labels = rng.integers(0, width, 3000)
    one_hot = np.eye(width, dtype=dtype)[labels]
    with np.errstate(all="ignore"):
        if backend == "jax":  # (XLA reads subnormals as 0, and multiplies by the reciprocal)
            flushed = _tfmath.flush_subnormals(x)
            total = np.sum(flushed, axis=-1, keepdims=True).astype(dtype)
            scaled = flushed * (dtype(1) / _tfmath.flush_subnormals(total))
        else:
            scaled = x / np.sum(in32(x), axis=-1, keepdims=True).astype(dtype)
        log_prob = np.log(crossentropy_kernels.clip(scaled, 1e-7))
        expected = (-np.sum(in32(one_hot * log_prob), axis=-1)).astype(dtype)
        got = crossentropy_kernels._cce_on(on, one_hot, x, False, 0.0, -1, 1e-7)
        np.testing.assert_array_equal(got, expected)
        along_first = np.moveaxis(np.stack([x[:1000], x[1000:2000]]), -1, 0)
        hot_first = np.moveaxis(np.stack([one_hot[:1000], one_hot[1000:2000]]), -1, 0)
        first = crossentropy_kernels._cce_on(on, hot_first, along_first, False, 0.0, 0, 1e-7)
        np.testing.assert_array_equal(first, np.stack([expected[:1000], expected[1000:2000]]))
