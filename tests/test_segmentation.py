"""Dice, Tversky and Circle against live Keras 3 (TensorFlow), and their bounds.

- Hypothesis drives `dice`, `tversky`, `circle` and `lossbounds.loss` against
  Keras' functions and classes (300 examples per loss and per API): float16,
  float32 and float64, masks hard and soft, predictions at the edges (0, 1,
  eps, 1 - eps, above 1, negative, huge, tiny), every axis pattern, every
  option, sample-weight shapes, reductions and class dtypes; for Circle also
  labels of every kind, reference sets, unit and raw embeddings, and the
  mask that leaves samples without a positive pair out of the mean.
- Each claimed bound is a value Keras returns for a constructed input, and no
  constant beats the prior baseline (a dense grid and scipy over an
  independent float64 formula, checked against Keras on the grid's best).
- Tversky's alpha/beta roles follow the installed Keras version: both
  releases' formulas are checked (3.15.1 against Keras, 3.16 independently).
- Where Keras computes garbage, lossbounds raises and says why.
"""

from __future__ import annotations

import importlib.metadata
import math
from contextlib import contextmanager
from unittest import mock

import keras
import numpy as np
import pytest
from accelerated import accelerator
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function
from scipy import optimize
from strategies import class_dtypes, dtypes, reductions, sample_weights, seeds

import lossbounds
from lossbounds.engine import same_rank
from lossbounds.families import metric_learning, segmentation
from lossbounds.registry import get_loss

F32 = np.float32
EPS = 1e-7
EDGE_PREDICTIONS = (0.0, 1.0, EPS, 1.0 - EPS, 0.5, 1e-30, 2.0**-24, 1.0 - 2.0**-23, 2.0, 1e6)


def _inject(rng, array, edges, count):
    flat = array.reshape(-1)
    for _ in range(count if flat.size else 0):
        flat[rng.integers(flat.size)] = edges[rng.integers(len(edges))]
    return array


# --------------------------------------------------------------------------
# Strategies: Dice and Tversky


@st.composite
def overlap_shapes(draw):
    """A shape and an axis pattern: None, trailing, leading, middle, negative, empty."""
    rank = draw(st.sampled_from([1, 2, 2, 3, 4]))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5, 8]), min_size=rank, max_size=rank)))
    if draw(st.integers(0, 9)) == 0:
        shape = (draw(st.sampled_from([40, 300, 2000])),)  # long sums: float16's tree order
    patterns = [None, None, tuple(range(1, len(shape))) or None]
    patterns += [(0,), -1, (len(shape) - 1,), ()]
    if len(shape) >= 3:
        patterns += [(0, 2), (1,), (0, len(shape) - 1), (-1, -2)]
    if len(shape) == 4:
        patterns += [(1, 3), (0, 1, 3)]
    return shape, draw(st.sampled_from(patterns))


@st.composite
def masks(draw, shape):
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(["hard", "hard", "soft", "zeros", "ones", "edges", "bool"]))
    y = {
        "hard": lambda: rng.integers(0, 2, shape).astype(np.float64),
        "soft": lambda: rng.random(shape),
        "zeros": lambda: np.zeros(shape),
        "ones": lambda: np.ones(shape),
        "edges": lambda: rng.choice([0.0, 1.0, 0.5, EPS, 1 - EPS], shape),
        "bool": lambda: rng.integers(0, 2, shape).astype(bool),
    }[style]()
    if style == "bool":
        return y
    return y.astype(draw(st.sampled_from([np.float32, np.float64, np.float16, np.int64])))


@st.composite
def overlap_predictions(draw, shape, dtype, y_true):
    rng = np.random.default_rng(draw(seeds))
    style = draw(st.sampled_from(["uniform", "uniform", "sigmoid", "exact", "zeros", "ones",
                                  "above_one", "negative", "huge", "tiny"]))
    p = {
        "uniform": lambda: rng.random(shape),
        "sigmoid": lambda: 1 / (1 + np.exp(-rng.standard_normal(shape) * 4)),
        "exact": lambda: np.asarray(y_true, np.float64),
        "zeros": lambda: np.zeros(shape),
        "ones": lambda: np.ones(shape),
        "above_one": lambda: rng.uniform(0.5, 3.0, shape),
        "negative": lambda: rng.uniform(-0.5, 1.0, shape),
        "huge": lambda: rng.random(shape) * 1e30,
        "tiny": lambda: rng.random(shape) * 1e-9,
    }[style]()
    p = _inject(rng, np.array(p, np.float64), EDGE_PREDICTIONS, draw(st.integers(0, 3)))
    with np.errstate(over="ignore"):  # 1e30 is inf in float16, on purpose
        return p.astype(dtype)


@st.composite
def overlap_cases(draw, name):
    shape, axis = draw(overlap_shapes())
    dtype = draw(dtypes)
    y_true = draw(masks(shape))
    y_pred = draw(overlap_predictions(shape, dtype, y_true))
    options = {} if axis is None and draw(st.booleans()) else {"axis": axis}
    if name == "tversky" and draw(st.booleans()):
        options["alpha"] = draw(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0, 2.5]))
        options["beta"] = draw(st.sampled_from([0.0, 0.3, 0.5, 0.7, 1.0]))
    epsilon = draw(st.sampled_from([1e-7, 1e-7, 1e-3, 1e-12]))
    return y_true, y_pred, options, epsilon


def _weight_fits(weight, loss_shape):
    """Does Keras take this weight: after its rank fix, does it broadcast to the losses?"""
    if weight is None:
        return True
    values, weight = same_rank(np.zeros(loss_shape), np.asarray(weight))
    try:
        return np.broadcast_shapes(values.shape, weight.shape) == values.shape
    except ValueError:
        return False


def _loss_shape(shape, axis):
    if axis is None:
        return ()
    axes = {a % len(shape) for a in ((axis,) if isinstance(axis, int) else axis)}
    return tuple(size for i, size in enumerate(shape) if i not in axes)


# --------------------------------------------------------------------------
# Dice and Tversky against Keras


@pytest.mark.parametrize("name", ["dice", "tversky"])
@settings(max_examples=300)
@given(data=st.data())
def test_overlap_function_matches_keras(name, data):
    y_true, y_pred, options, epsilon = data.draw(overlap_cases(name))
    kind, expected = keras_function(name, y_true, y_pred, epsilon=epsilon, **options)
    assert kind == "value", expected
    actual = getattr(lossbounds, name)(y_true, y_pred, epsilon=epsilon, **options)
    assert_close(actual, expected, context=f"{name} {options} {y_pred.dtype}")


@pytest.mark.parametrize("name", ["dice", "tversky"])
@settings(max_examples=300)
@given(data=st.data())
def test_overlap_class_matches_keras(name, data):
    y_true, y_pred, options, epsilon = data.draw(overlap_cases(name))
    if data.draw(st.booleans()) and y_pred.ndim == 2 and y_pred.shape[1] == 1:
        y_true = y_true[:, 0]  # (N,) against (N, 1): the class squeezes, as Keras' does
        options.pop("axis", None)
    loss_shape = _loss_shape(y_pred.shape, options.get("axis"))
    # A batch-level (0-d) loss takes per-sample weights too: Keras multiplies it by their mean.
    weight = data.draw(sample_weights(loss_shape[:2] or y_pred.shape[:1]))
    if not _weight_fits(weight, loss_shape or y_pred.shape[:1]):
        weight = None
    reduction = data.draw(reductions)
    dtype = data.draw(class_dtypes)
    kind, expected = keras_class(name, y_true, y_pred, sample_weight=weight, reduction=reduction,
                                 dtype=dtype, epsilon=epsilon, **options)
    assert kind == "value", expected
    actual = lossbounds.loss(name, y_true, y_pred, sample_weight=weight, reduction=reduction,
                             dtype=dtype, epsilon=epsilon, **options)
    assert_close(actual, expected, context=f"{name} {options} {reduction} {dtype}")


def test_the_docstring_examples_are_keras_values():
    y_true = np.array([[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]], F32)
    y_pred = np.array([[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]], F32)
    # Keras' own docstring: 0.6164384 for the batch, [0.5, 0.75757575] per image.
    assert float(lossbounds.dice(y_true, y_pred)) == float(F32(0.6164384))
    assert_close(lossbounds.dice(y_true, y_pred, axis=(1, 2, 3)),
                 np.array([0.5, 0.75757575], F32))
    assert_close(lossbounds.loss("dice", y_true, y_pred, axis=(1, 2, 3)),
                 keras.losses.Dice(axis=(1, 2, 3))(y_true, y_pred))
    # A sample weight multiplies the batch value by its mean: [1, 0] halves it.
    assert_close(lossbounds.loss("dice", y_true, y_pred, sample_weight=[1.0, 0.0]),
                 np.asarray(F32(0.6164384) / 2))
    # Tversky with alpha = beta = 0.5 is Dice but for 2 eps.
    assert_close(lossbounds.tversky(y_true, y_pred, axis=(1, 2, 3)), np.array([0.5, 0.75757575], F32))


def test_empty_inputs_follow_keras():
    for name in ("dice", "tversky"):
        empty, empty_pred = np.zeros((0, 3)), np.zeros((0, 3), F32)
        assert_close(getattr(lossbounds, name)(empty, empty_pred), keras_function(name, empty, empty_pred)[1])
        assert_close(lossbounds.loss(name, empty, empty_pred), keras_class(name, empty, empty_pred)[1])
        assert_close(lossbounds.loss(name, empty, empty_pred, axis=1),
                     keras_class(name, empty, empty_pred, axis=1)[1])


# --------------------------------------------------------------------------
# Tversky's alpha and beta: which mistake each weighs depends on the Keras release


@pytest.fixture
def keras_release(monkeypatch):
    """Pretend another Keras release is installed (the roles are read once, then cached)."""
    def install(version):
        def fake(name):
            if version is None:
                raise importlib.metadata.PackageNotFoundError(name)
            return version
        monkeypatch.setattr(importlib.metadata, "version", fake)
        segmentation._alpha_weighs_false_negatives.cache_clear()
    yield install
    monkeypatch.undo()
    segmentation._alpha_weighs_false_negatives.cache_clear()


def test_tversky_roles_in_keras_3_15_are_the_reverse_of_its_docs():
    assert keras.__version__.startswith("3.15"), "the installed reference is Keras 3.15"
    y_true = np.array([1.0, 1.0, 0.0, 0.0], F32)
    y_pred = np.array([1.0, 0.0, 1.0, 1.0], F32)  # TP 1, FN 1, FP 2
    # alpha on the false negatives: 1 - 1/(1 + FN) = 0.5 (if it weighed FP: 1 - 1/3)
    for alpha, beta, expected in ((1.0, 0.0, 0.5), (0.0, 1.0, 2 / 3)):
        kind, value = keras_function("tversky", y_true, y_pred, alpha=alpha, beta=beta)
        assert kind == "value" and math.isclose(float(value), expected, rel_tol=1e-6)
        assert_close(lossbounds.tversky(y_true, y_pred, alpha=alpha, beta=beta), value)
    note = {n.code: n for n in lossbounds.bounds("tversky").notes}["tversky_roles"]
    assert "`alpha` weighs the false negatives" in note


def test_tversky_roles_follow_the_installed_release(keras_release):
    y_true = np.array([1.0, 1.0, 0.0, 0.0], F32)
    y_pred = np.array([1.0, 0.0, 1.0, 1.0], F32)  # TP 1, FN 1, FP 2
    keras_release("3.16.0")  # keras-team/keras#23333: inputs = y_pred, targets = y_true
    # alpha on the false positives now, as documented: 1 - 1/(1 + 2 alpha) (independent numbers)
    assert_close(lossbounds.tversky(y_true, y_pred, alpha=1.0, beta=0.0), np.asarray(F32(2 / 3)))
    assert_close(lossbounds.tversky(y_true, y_pred, alpha=0.0, beta=1.0), np.asarray(F32(0.5)))
    # the prior baseline's weight moves with it: alpha (1 - f) / (f + alpha (1 - f))
    assert math.isclose(lossbounds.prior_baseline("tversky", foreground=0.25, alpha=0.3, beta=0.7),
                        0.3 * 0.75 / (0.25 + 0.3 * 0.75))
    assert "`beta` weighs the false negatives" in str(lossbounds.bounds("tversky").notes)
    keras_release("3.16.0.dev2026082101")
    assert not segmentation._alpha_weighs_false_negatives()
    for reversed_release in ("3.15.1", "3.9.2", "2.15.0", None):  # None: Keras not installed
        keras_release(reversed_release)
        assert segmentation._alpha_weighs_false_negatives()
        assert_close(lossbounds.tversky(y_true, y_pred, alpha=1.0, beta=0.0), np.asarray(F32(0.5)))


def test_tversky_3_16_formula_on_random_inputs(keras_release):
    """The 3.16 order of operations, against float32 numpy written from keras-team/keras#23333."""
    keras_release("3.16.0")
    rng = np.random.default_rng(3)
    for _ in range(50):
        y = rng.integers(0, 2, (4, 6)).astype(F32)
        p = rng.random((4, 6)).astype(F32)
        alpha, beta = F32(rng.random()), F32(rng.random())
        tp = np.sum(p * y, axis=1)
        fp = np.sum((1 - y) * p, axis=1)
        fn = np.sum(y * (1 - p), axis=1)
        expected = 1 - tp / (tp + fp * alpha + fn * beta + F32(EPS))
        assert_close(lossbounds.tversky(y, p, alpha=float(alpha), beta=float(beta), axis=1),
                     expected)


# --------------------------------------------------------------------------
# Strategies: Circle


@st.composite
def circle_labels(draw, n):
    rng = np.random.default_rng(draw(seeds))
    classes = draw(st.sampled_from([1, 2, 2, 3, 4, n or 1]))
    labels = rng.integers(0, classes, n) + draw(st.sampled_from([0, 0, -2, 7]))
    kind = draw(st.sampled_from([np.int32, np.int64, np.float32, np.float64, np.uint8]))
    if kind is np.uint8:
        labels = np.abs(labels)
    labels = labels.astype(kind)
    return labels[:, None] if draw(st.integers(0, 4)) == 0 else labels


@st.composite
def embeddings(draw, labels, d, dtype):
    rng = np.random.default_rng(draw(seeds))
    n = labels.shape[0]
    flat = labels.reshape(-1)
    style = draw(st.sampled_from(["unit", "unit", "unit", "raw", "collapsed", "best", "worst",
                                  "near", "huge", "tiny", "zeros"]))
    if style == "collapsed":
        x = np.tile(rng.standard_normal(d), (n, 1))
    elif style in ("best", "worst", "near"):
        # one direction per class: positives identical (best), or opposite (worst);
        # near: close to their class direction
        _, index = np.unique(flat, return_inverse=True)
        directions = np.eye(max(d, 1))[index % max(d, 1)][:, :d]
        if style == "worst":
            directions = np.tile(np.eye(1, d), (n, 1)) * np.where(rng.random(n) < 0.5, 1, -1)[:, None]
        x = directions + (rng.standard_normal((n, d)) * 0.05 if style == "near" else 0)
    elif style == "zeros":
        x = np.zeros((n, d))
    else:
        x = rng.standard_normal((n, d))
    if style not in ("raw", "huge", "tiny", "zeros"):
        with np.errstate(invalid="ignore", divide="ignore"):
            x = x / np.linalg.norm(x, axis=1, keepdims=True)
        x = np.nan_to_num(x)
    if style == "huge":
        x = x * draw(st.sampled_from([1e3, 1e20]))
    elif style == "tiny":
        x = x * 1e-20
    with np.errstate(over="ignore"):  # 1e20 is inf in float16, on purpose
        return x.astype(dtype)


CIRCLE_OPTIONS = st.fixed_dictionaries({}, optional={
    "remove_diagonal": st.booleans(),
    "gamma": st.sampled_from([80.0, 32.0, 256.0, 1.0, 600.0]),
    "margin": st.sampled_from([0.4, 0.25, 0.0, -0.2, 1.5]),
})


@st.composite
def circle_cases(draw, *, references=False):
    n = draw(st.sampled_from([1, 2, 3, 5, 8, 12]))
    d = draw(st.sampled_from([1, 2, 3, 8, 17, 64, 500, 800]))
    dtype = draw(dtypes)
    labels = draw(circle_labels(n))
    y_pred = draw(embeddings(labels, d, dtype))
    options = draw(CIRCLE_OPTIONS)
    if references and draw(st.booleans()):
        m = draw(st.sampled_from([1, 2, 4, 7]))
        ref_labels = draw(circle_labels(m)).reshape(-1)
        options["ref_labels"] = ref_labels
        options["ref_embeddings"] = draw(embeddings(ref_labels[:, None], d,
                                                    draw(st.sampled_from([dtype, np.float64]))))
    return labels, y_pred, options


# --------------------------------------------------------------------------
# Circle against Keras


@settings(max_examples=300)
@given(case=circle_cases(references=True))
def test_circle_function_matches_keras(case):
    labels, y_pred, options = case
    kind, expected = keras_function("circle", labels, y_pred, **options)
    assert kind == "value", expected
    actual = lossbounds.circle(labels, y_pred, **options)
    assert_close(actual, expected, context=f"circle {options} {y_pred.dtype}")


@settings(max_examples=300)
@given(case=circle_cases(), data=st.data())
def test_circle_class_matches_keras(case, data):
    labels, y_pred, options = case
    weight = data.draw(sample_weights((labels.shape[0],)))
    reduction = data.draw(reductions)
    dtype = data.draw(class_dtypes)
    kind, expected = keras_class("circle", labels, y_pred, sample_weight=weight,
                                 reduction=reduction, dtype=dtype, **options)
    assert kind == "value", expected
    actual = lossbounds.loss("circle", labels, y_pred, sample_weight=weight, reduction=reduction,
                             dtype=dtype, **options)
    assert_close(actual, expected, context=f"circle {options} {reduction} {dtype}")


def test_circle_products_run_as_tensorflows_gemm():
    """Where the loss cancels, an ulp of a dot product decides: TF's k-blocks are reproduced."""
    rng = np.random.default_rng(0)
    for d in (1, 7, 384, 385, 769, 1000, 1537):
        a = rng.standard_normal((5, d)).astype(F32)
        b = rng.standard_normal((4, d)).astype(F32)
        expected = keras.ops.convert_to_numpy(keras.ops.matmul(a, keras.ops.transpose(b)))
        np.testing.assert_array_equal(metric_learning._matmul(a, b), expected, err_msg=f"D = {d}")


def test_circle_masks_samples_without_a_positive_pair():
    labels = np.array([0, 0, 1])
    x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]], F32)
    per_sample = keras.ops.convert_to_numpy(keras.losses.circle(labels, x))
    assert per_sample[2] == 0.0  # label 1 has no positive pair
    assert_close(lossbounds.circle(labels, x), per_sample)
    # Keras' class divides by the 2 samples that count, not 3
    value = lossbounds.loss("circle", labels, x)
    assert_close(value, keras_class("circle", labels, x)[1])
    assert math.isclose(value, float(per_sample.sum()) / 2, rel_tol=1e-6)
    assert_close(lossbounds.loss("circle", labels, x, reduction="sum"),
                 keras_class("circle", labels, x, reduction="sum")[1])
    # A loss that underflows to 0 is dropped as well: a perfect sample with gamma = 600
    perfect = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]], F32)
    per_sample = keras.ops.convert_to_numpy(keras.losses.circle([0, 0, 1, 1], perfect, gamma=600))
    assert np.all(per_sample == 0)
    assert lossbounds.loss("circle", [0, 0, 1, 1], perfect, gamma=600.0) == 0.0
    assert_close(lossbounds.loss("circle", [0, 0, 1, 1], perfect, gamma=600.0),
                 keras_class("circle", np.array([0, 0, 1, 1]), perfect, gamma=600.0)[1])


# --------------------------------------------------------------------------
# Large batches: the sums stream in TensorFlow's order, the pair matrix in blocks of rows


@contextmanager
def _compiled_runs(module, name, expected):
    """Check that `module.name` (a loss's compiled pass) ran in the block, or did not."""
    with mock.patch.object(module, name, wraps=getattr(module, name)) as spy:
        yield
    assert spy.called == expected, f"{name} called: {spy.called}"


def _sum_inputs(rng, n, dtype):
    """A soft mask and predictions of both signs and many magnitudes: the order of adding shows."""
    y = rng.random(n)
    p = rng.standard_normal(n) * 10.0 ** rng.integers(-2, 5, n)
    return y.astype(dtype), p.astype(dtype)


@pytest.mark.parametrize("accelerated", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_overlap_sums_are_tensorflows_bit_for_bit(dtype, accelerated):
    """Every length around Eigen's leaf (1024 packets), its four accumulators and its tail,
    the tree above the leaves, and the split of a whole sum between the threads of
    TensorFlow's pool (from 108,388 float32 or 54,194 float64 values on two threads; the
    pieces follow this machine's CPUs, as TensorFlow's pool does), for a whole sum and for
    sums over rows."""
    rng = np.random.default_rng(11)
    formula = segmentation._dice_formula(EPS)  # its terms: y * p, y and p
    lanes = 8 if dtype is np.float32 else 4
    lengths = [2, 7, 8, 9, 31, 32, 33, 100, 1023 * lanes + 5, 1024 * lanes, 1024 * lanes + 1,
               3 * 1024 * lanes + 3, 54_193, 54_195, 108_387, 108_389, 250_007, 1_000_003]
    with accelerator(accelerated), _compiled_runs(segmentation, "_compiled_sums", accelerated):
        for n in lengths:
            y, p = _sum_inputs(rng, n, dtype)
            expected = [keras.ops.convert_to_numpy(keras.ops.sum(x)) for x in (y * p, y, p)]
            jobs = segmentation._streamed_parts((n,), (0,), np.dtype(dtype))
            found = segmentation._sums(formula.terms, y, p, np.dtype(dtype), jobs,
                                       formula.compiled)
            np.testing.assert_array_equal(found[:, 0], expected, err_msg=f"{n} values")
        for rows, count in ((3, 1024 * lanes + 9), (5, 40_001), (2, 300_003), (1000, 100)):
            y, p = (x.reshape(rows, count) for x in _sum_inputs(rng, rows * count, dtype))
            expected = [keras.ops.convert_to_numpy(keras.ops.sum(x, axis=1)) for x in (y * p, y, p)]
            jobs = segmentation._streamed_parts((rows, count), (1,), np.dtype(dtype))
            found = segmentation._sums(formula.terms, y, p, np.dtype(dtype), jobs,
                                       formula.compiled)
            np.testing.assert_array_equal(found, expected, err_msg=f"{rows} rows of {count}")


# Sums that keep an inner axis, (reduced, kept) and (kept, reduced, kept) once TensorFlow
# merges the axes: per channel of an (N, H, W, C) batch, or per class over (N, C).
COLUMN_CASES = [  # (shape, axis): under 16 terms a sum, from 16 four accumulators and a tail
    ((7, 13), 0), ((10, 21), (0,)), ((67, 5), 0), ((3, 40, 9), 1), ((5, 4, 6, 3), (1, 2)),
    ((6, 19, 2, 11), (1, 2)), ((4, 1, 37, 1, 8), (1, 2, 3)), ((2, 300, 40), 1)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("block", "outputs"), [(2**18, 2**14), (8, 16)], ids=["whole", "blocks"])
def test_sums_that_keep_an_inner_axis_are_tensorflows_bit_for_bit(dtype, block, outputs):
    """A block of the reduced terms at a time (4 of them, with `block` 8), and with `outputs`
    16 ranges of 16 outputs (whole rows of K0, or columns where K0 is 1): Eigen's column
    reducer's order, its packets and their accumulators, to the bit."""
    rng = np.random.default_rng(12)
    formula = segmentation._dice_formula(EPS)
    strided = ((6, 38, 11), 1)  # every other row of the reduced axis: a view with strides
    with mock.patch.object(segmentation, "_BLOCK", block), \
            mock.patch.object(segmentation, "_COLUMN_OUTPUTS", outputs):
        for shape, axis in [*COLUMN_CASES, strided]:
            y, p = (x.reshape(shape) for x in _sum_inputs(rng, math.prod(shape), dtype))
            if (shape, axis) == strided:
                y, p = y[:, ::2], p[:, ::2]
                shape = y.shape
            axes = axis if isinstance(axis, tuple) else (axis,)
            expected = [keras.ops.convert_to_numpy(keras.ops.sum(x, axis=axes))
                        for x in (y * p, y, p)]
            views = [segmentation._as_columns(x, shape, axes) for x in (y, p)]
            found = segmentation._column_sums(formula.terms, *views, np.dtype(dtype))
            for term, (got, want) in enumerate(zip(found, expected)):
                np.testing.assert_array_equal(got.reshape(want.shape), want,
                                              err_msg=f"{shape} axis={axis} term {term}")
            for name in ("dice", "tversky"):  # each loss to the bit; their mean to 1e-6
                kind, values = keras_class(name, y, p, axis=axis, reduction=None)
                assert kind == "value", values
                np.testing.assert_array_equal(lossbounds.loss(name, y, p, axis=axis,
                                                              reduction=None), values)
                kind, value = keras_class(name, y, p, axis=axis)
                assert kind == "value", value
                assert_close(lossbounds.loss(name, y, p, axis=axis), value, context=name)


@st.composite
def large_overlap_cases(draw):
    """10**5 to 3 * 10**6 values: masks hard, soft, boolean or integer; predictions constant,
    near 0 or 1, exact, or of both signs and huge (where the adding order decides)."""
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.sampled_from([100_003, 258_001, 1_000_000, 2_999_999]))
    shape = draw(st.sampled_from([(n,), (n, 1), (n // 100, 100), (1, n)]))
    size = math.prod(shape)
    mask = draw(st.sampled_from(["hard", "soft", "bool", "int", "constant"]))
    y = {"hard": lambda: (rng.random(size) < 0.25).astype(np.float32),
         "soft": lambda: rng.random(size),
         "bool": lambda: rng.random(size) < 0.5,
         "int": lambda: rng.integers(0, 2, size),
         "constant": lambda: np.full(size, 0.9)}[mask]()
    style = draw(st.sampled_from(["uniform", "constant", "near one", "near zero", "exact",
                                  "both signs", "huge"]))
    p = {"uniform": lambda: rng.random(size),
         "constant": lambda: np.full(size, draw(st.sampled_from([0.1, 0.7, 0.9]))),
         "near one": lambda: 1 - rng.integers(0, 4, size) * 2.0**-24,
         "near zero": lambda: rng.integers(0, 4, size) * 2.0**-24,
         "exact": lambda: np.asarray(y, np.float64),
         "both signs": lambda: np.where(rng.random(size) < 0.5, -1, 1) * rng.uniform(1e3, 1e4, size),
         "huge": lambda: rng.standard_normal(size) * 1e30}[style]()
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    axis = draw(st.sampled_from([None, None, -1])) if len(shape) > 1 else None
    return y.reshape(shape), p.astype(dtype).reshape(shape), axis


@pytest.mark.parametrize("accelerated", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("name", ["dice", "tversky"])
@settings(max_examples=20)
@given(case=large_overlap_cases(), data=st.data())
def test_large_overlap_batches_match_keras(name, accelerated, case, data):
    y_true, y_pred, axis = case
    options = {} if axis is None else {"axis": axis}
    if name == "tversky":
        options.update(alpha=0.3, beta=0.7)
    with accelerator(accelerated):
        kind, expected = keras_function(name, y_true, y_pred, **options)
        assert kind == "value", expected
        assert_close(getattr(lossbounds, name)(y_true, y_pred, **options), expected,
                     context=f"{name} {y_pred.shape} {y_pred.dtype} {options}")
        dtype = data.draw(st.sampled_from([None, "float64"]))
        kind, expected = keras_class(name, y_true, y_pred, dtype=dtype, **options)
        assert kind == "value", expected
        assert_close(lossbounds.loss(name, y_true, y_pred, dtype=dtype, **options), expected,
                     context=f"{name} class {y_pred.shape} {dtype} {options}")


def test_compiled_overlap_sums_are_numpys_bit_for_bit():
    """The accelerator's pass adds the same float32 or float64 terms in the same order."""
    rng = np.random.default_rng(12)
    for shape, axis in (((300_001,), None), ((40, 999), (1,)), ((7, 3, 20_000), (1, 2)),
                        ((5, 4096), None), ((2000, 3, 17), (0, 1, 2))):
        for truth in (rng.random(shape), rng.random(shape) < 0.3, rng.integers(0, 2, shape)):
            for dtype in (np.float32, np.float64):
                p = (rng.standard_normal(shape) * 10.0 ** rng.integers(-2, 5, shape)).astype(dtype)
                for name, options in (("dice", {}), ("tversky", {"alpha": 0.3, "beta": 2.5})):
                    function = getattr(lossbounds, name)
                    with accelerator(True), \
                            _compiled_runs(segmentation, "_compiled_sums", True):
                        compiled = function(truth, p, axis=axis, **options)
                    with accelerator(False):
                        plain = function(truth, p, axis=axis, **options)
                    np.testing.assert_array_equal(compiled, plain, err_msg=f"{name} {shape}")


def _circle_batch(rng, n, d, classes):
    labels = rng.integers(0, classes, n)
    x = rng.standard_normal((classes, d))[labels] + rng.standard_normal((n, d))
    return labels, (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(F32)


@pytest.mark.parametrize("accelerated", [True, False], ids=["compiled", "numpy"])
def test_large_circle_batches_match_keras(accelerated):
    """Pair matrices of up to 1500 x 1500, made a block of rows at a time (compiled: with
    TensorFlow's own FMAs), against Keras' function and class, gamma up to 256."""
    rng = np.random.default_rng(13)
    cases = [(_circle_batch(rng, 1500, 100, 100), {}),
             (_circle_batch(rng, 700, 800, 20), {"gamma": 256.0, "margin": 0.25}),
             (_circle_batch(rng, 600, 3, 5), {"remove_diagonal": False}),
             (_circle_batch(rng, 900, 64, 900), {})]  # mostly alone: samples masked out
    with accelerator(accelerated), _compiled_runs(metric_learning, "_pairs_kernel", accelerated):
        for (labels, x), options in cases:
            kind, expected = keras_function("circle", labels, x, **options)
            assert kind == "value", expected
            assert_close(lossbounds.circle(labels, x, **options), expected,
                         context=f"circle {x.shape} {options}")
            for dtype in (None, "float64"):
                kind, expected = keras_class("circle", labels, x, dtype=dtype, **options)
                assert kind == "value", expected
                assert_close(lossbounds.loss("circle", labels, x, dtype=dtype, **options),
                             expected, context=f"circle class {x.shape} {dtype} {options}")
        # Reference embeddings (M != N), half of them float64: the compiled pass needs float32
        labels, x = _circle_batch(rng, 500, 32, 10)
        refs, y = _circle_batch(rng, 300, 32, 10)
        for ref_embeddings in (y, y.astype(np.float64)):
            kind, expected = keras_function("circle", labels, x, ref_labels=refs,
                                            ref_embeddings=ref_embeddings)
            assert kind == "value", expected
            assert_close(lossbounds.circle(labels, x, ref_labels=refs,
                                           ref_embeddings=ref_embeddings), expected)


# --------------------------------------------------------------------------
# Bounds: each claimed value is what Keras returns for a constructed input


def _keras(name, y_true, y_pred, **options):
    kind, value = keras_function(name, y_true, y_pred, **options)
    assert kind == "value", value
    return value.astype(np.float64)


def test_dice_bounds_are_keras_values():
    y = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0], F32)  # f = 3/8
    assert _keras("dice", y, y) == lossbounds.best_case("dice") == 0.0
    assert _keras("dice", y, 1 - y) == lossbounds.worst_case("dice") == 1.0
    # A perfect prediction of an empty mask scores 1: 0 / eps
    assert _keras("dice", np.zeros(8, F32), np.zeros(8, F32)) == 1.0
    # Uniform 1/(2f + 1) and prior (1 - f)/(1 + f): predicting 0.5, and 1, everywhere
    f = 3 / 8
    for c, bound in ((0.5, lossbounds.baseline), (1.0, lossbounds.prior_baseline)):
        value = _keras("dice", y, np.full(8, c, F32))
        assert math.isclose(bound("dice", foreground=f), value, rel_tol=1e-6)
        assert math.isclose(bound("dice", y), value, rel_tol=1e-6)  # exact, epsilon included
    assert math.isclose(lossbounds.baseline("dice", foreground=f), 1 / (2 * f + 1))
    assert math.isclose(lossbounds.prior_baseline("dice", foreground=f), (1 - f) / (1 + f))
    # coverage.md: f = 1/4 gives 0.6666666 and 0.6; p = 0.7 gives 0.6315789, above the prior
    y4 = np.array([1, 0, 0, 0] * 4, F32)
    assert math.isclose(_keras("dice", y4, np.full(16, 0.7, F32)), 0.6315789, rel_tol=1e-6)
    assert math.isclose(lossbounds.prior_baseline("dice", foreground=0.25), 0.6)
    # Predictions above 1: (1 - h)/(1 + h), towards -1
    h = 1e6
    value = _keras("dice", y, y * F32(h))
    assert value < 0 and math.isclose(value, (1 - h) / (1 + h), rel_tol=1e-6)


def test_dice_per_image_baselines_are_the_keras_class_value():
    rng = np.random.default_rng(1)
    y = (rng.random((6, 5, 4, 1)) < rng.random((6, 1, 1, 1))).astype(F32)  # f varies by image
    y[0] = 0  # an empty image scores 1 either way
    for c, bound in ((0.5, lossbounds.baseline), (1.0, lossbounds.prior_baseline)):
        expected = keras_class("dice", y, np.full(y.shape, c, F32), axis=(1, 2, 3))[1]
        assert math.isclose(bound("dice", y, axis=(1, 2, 3)), float(expected), rel_tol=1e-6)


@pytest.mark.parametrize(("name", "options"), [("dice", {}), ("tversky", {}),
                                               ("tversky", {"alpha": 0.3, "beta": 0.7}),
                                               ("tversky", {"alpha": 0.9, "beta": 0.1})])
@pytest.mark.parametrize("high", [1.0, 1.5, 4.0, 1e6])
def test_predictions_above_one_reach_the_best_case_of_their_range(name, options, high):
    y = np.array([1, 1, 0, 0, 0, 1, 0, 0], F32)
    best = lossbounds.best_case(name, pred_range=(0.0, high), **options)
    # attained: the highest prediction on the foreground, 0 elsewhere
    assert math.isclose(_keras(name, y, y * F32(high), **options), best, rel_tol=1e-6, abs_tol=1e-7)
    # and no mask (hard or soft) and prediction in the range does better (random search,
    # Keras' formula in float64)
    rng = np.random.default_rng(11)
    p = rng.uniform(0, high, (20000, 8)) * (rng.random((20000, 8)) < 0.7)
    p[:100] = high * (rng.random((100, 8)) < 0.5)  # at the corners
    masks = np.where(rng.random((20000, 1)) < 0.7, rng.integers(0, 2, (20000, 8)), rng.random((20000, 8)))
    if name == "dice":
        values = 1 - 2 * (p * masks).sum(1) / (masks.sum(1) + p.sum(1) + EPS)
    else:
        alpha, beta = options.get("alpha", 0.5), options.get("beta", 0.5)
        tp, fn, fp = (p * masks).sum(1), ((1 - p) * masks).sum(1), (p * (1 - masks)).sum(1)
        values = 1 - tp / (tp + alpha * fn + beta * fp + EPS)  # Keras 3.15: alpha on FN
    assert values.min() >= best - 1e-9
    assert lossbounds.worst_case(name, pred_range=(0.0, high), **options) == 1.0


def test_ranges_that_let_the_denominator_vanish():
    # Tversky with alpha (on FN) = 2: a prediction of 2 on the foreground zeroes TP + 2 FN
    y = np.ones(4, F32)
    value = _keras("tversky", y, np.full(4, 2.0, F32), alpha=2.0, beta=0.5)
    assert value < -1e6  # 1 - TP / epsilon
    assert lossbounds.best_case("tversky", alpha=2.0, pred_range=(0, 2)) == -math.inf
    assert lossbounds.worst_case("tversky", alpha=2.0, pred_range=(0, 3)) == math.inf
    assert lossbounds.best_case("tversky", alpha=1.0, pred_range=(0, math.inf)) == -math.inf
    assert lossbounds.worst_case("tversky", alpha=1.0, pred_range=(0, math.inf)) == 1.0  # TP + FN = S
    assert lossbounds.worst_case("tversky", alpha=2.0, pred_range=(0, 1.9)) == 1.0  # D > 0
    assert lossbounds.best_case("dice", pred_range=(0, math.inf)) == -1.0
    # negative predictions: sum(y) + sum(p) can be 0
    value = _keras("dice", np.array([1.0, 0.0], F32), np.array([0.5, -1.5 + 1e-6], F32))
    assert abs(value) > 1e5
    assert lossbounds.best_case("dice", pred_range=(-1, 1)) == -math.inf
    assert lossbounds.worst_case("dice", pred_range=(-1, 1)) == math.inf
    # the baselines are predictions in [0, 1]: a range below 1 moves the prior to its top
    assert math.isclose(lossbounds.prior_baseline("dice", foreground=0.25, pred_range=(0, 0.5)),
                        _keras("dice", np.array([1, 0, 0, 0], F32), np.full(4, 0.5, F32)),
                        rel_tol=1e-6)
    with pytest.raises(ValueError, match="leaves out the constant prediction 0.5"):
        lossbounds.baseline("dice", foreground=0.25, pred_range=(0.6, 1.0))


def test_tversky_bounds_are_keras_values():
    y = np.array([1, 0, 0, 0] * 4, F32)  # f = 1/4
    a, b = 0.3, 0.7
    assert _keras("tversky", y, y, alpha=a, beta=b) == lossbounds.best_case("tversky") == 0.0
    assert _keras("tversky", y, 1 - y, alpha=a, beta=b) == lossbounds.worst_case("tversky") == 1.0
    # coverage.md: uniform 0.7058824 and prior 0.6774193 for a = .3, b = .7, f = .25 (3.15.1 roles)
    for c, bound, claimed in ((0.5, lossbounds.baseline, 0.7058824),
                              (1.0, lossbounds.prior_baseline, 0.6774193)):
        value = _keras("tversky", y, np.full(16, c, F32), alpha=a, beta=b)
        assert math.isclose(value, claimed, rel_tol=1e-6)
        assert math.isclose(bound("tversky", foreground=0.25, alpha=a, beta=b), value, rel_tol=1e-6)
        assert math.isclose(bound("tversky", y, alpha=a, beta=b), value, rel_tol=1e-6)
    # Unbounded below with predictions above 1: alpha = 1 (on FN), beta = 0, p = 1e6 gives 1 - p
    p = np.array([1e6, 1e6], F32)
    value = _keras("tversky", np.ones(2, F32), p, alpha=1.0, beta=0.0)
    assert value == 1 - 1e6  # (TP = 2p, "fp" = 2(1 - p): 1 - 2p / 2)
    assert_close(lossbounds.tversky(np.ones(2, F32), p, alpha=1.0, beta=0.0), np.asarray(F32(value)))
    assert _keras("tversky", np.zeros(8, F32), np.zeros(8, F32)) == 1.0  # empty mask


def _overlap_at(name, y, c, alpha=0.5, beta=0.5):
    """Keras' formula in float64 for the constant prediction c (independent of lossbounds)."""
    tp = c * y.sum()
    fn = (1 - c) * y.sum()
    fp = c * (1 - y).sum()
    if name == "dice":
        return 1 - 2 * tp / (y.sum() + c * y.size + EPS)
    return 1 - tp / (tp + alpha * fn + beta * fp + EPS)  # Keras 3.15: alpha on FN


@pytest.mark.parametrize(("name", "options"), [("dice", {}), ("tversky", {}),
                                               ("tversky", {"alpha": 0.3, "beta": 0.7}),
                                               ("tversky", {"alpha": 2.0, "beta": 0.1})])
def test_no_constant_beats_the_overlap_prior(name, options):
    rng = np.random.default_rng(7)
    for f in (0.02, 0.25, 0.5, 0.9):
        y = (rng.random(400) < f).astype(F32)
        prior = lossbounds.prior_baseline(name, y, **options)
        grid = np.linspace(0.0, 1.0, 2001)
        values = np.array([_overlap_at(name, y, c, **options) for c in grid])
        assert values.min() >= prior - 1e-12
        found = optimize.minimize_scalar(lambda c, y=y: _overlap_at(name, y, c, **options),
                                         bounds=(0, 1), method="bounded", options={"xatol": 1e-12})
        assert found.fun >= prior - 1e-9 and abs(found.x - 1) < 1e-4
        # Keras agrees at the grid's best and at a constant just below it
        assert math.isclose(_keras(name, y, np.ones(400, F32), **options), prior, rel_tol=1e-6)
        assert _keras(name, y, np.full(400, 0.9, F32), **options) > prior


def _circle_keras(labels, x, **options):
    return _keras("circle", np.asarray(labels), np.asarray(x, F32), **options)


def test_circle_bounds_are_keras_values():
    e = np.eye(4)
    # Sample 0 of labels [0, 0, 1, 2]: P = 1, N = 2
    best = _circle_keras([0, 0, 1, 2], [e[0], e[0], e[1], e[2]])[0]
    assert math.isclose(best, 1.5243732e-11, rel_tol=1e-6)  # coverage.md
    assert math.isclose(lossbounds.best_case("circle", n_positives=1, n_negatives=2), best,
                        rel_tol=1e-5)  # float32's logit -25.6 + ln 2 carries ~1e-6 absolute
    worst = _circle_keras([0, 0, 1, 2], [e[0], -e[0], e[0], e[0]])[0]  # positive opposite
    assert math.isclose(worst, 374.400024 + math.log(2), rel_tol=1e-6)
    assert math.isclose(lossbounds.worst_case("circle", n_positives=1, n_negatives=2), worst,
                        rel_tol=1e-6)
    assert lossbounds.worst_case("circle") == math.inf
    # The least over all batches: P = N = 1
    assert math.isclose(lossbounds.best_case("circle"),
                        _circle_keras([0, 0, 1], [e[0], e[0], e[1]])[0], rel_tol=1e-5)
    # Collapse (all equal) and random (all orthogonal): gamma (1 - 2 m^2) + ln PN
    labels = [0, 0, 0, 1, 1]
    collapsed = _circle_keras(labels, np.tile(e[0], (5, 1)))
    orthogonal = _circle_keras(labels, np.eye(5))
    assert np.allclose(collapsed, [55.786297] * 3 + [55.498615] * 2, rtol=1e-6)  # coverage.md
    assert np.allclose(orthogonal, collapsed, rtol=1e-6)
    for p, n, value in ((2, 2, collapsed[0]), (1, 3, collapsed[3])):
        assert math.isclose(lossbounds.prior_baseline("circle", n_positives=p, n_negatives=n),
                            value, rel_tol=1e-6)
        assert math.isclose(lossbounds.baseline("circle", n_positives=p, n_negatives=n), value,
                            rel_tol=1e-6)
    random_unit = np.linalg.qr(np.random.default_rng(0).standard_normal((5, 5)))[0].astype(F32)
    assert np.allclose(_circle_keras(labels, random_unit), collapsed, rtol=1e-6)
    # From one batch's labels: Keras' class value on the collapsed batch
    class_value = float(keras_class("circle", np.array(labels), np.tile(e[0], (5, 1)).astype(F32))[1])
    assert math.isclose(lossbounds.prior_baseline("circle", labels), class_value, rel_tol=1e-6)
    assert math.isclose(lossbounds.baseline("circle", labels), class_value, rel_tol=1e-6)


def test_circle_without_removing_the_diagonal():
    e = np.eye(4)
    labels = [0, 0, 1, 2]
    options = {"remove_diagonal": False}
    # Each sample is its own positive at d = 0: random (orthogonal) embeddings score below the collapse
    orthogonal = _circle_keras(labels, e, **options)
    collapsed = _circle_keras(labels, np.tile(e[0], (4, 1)), **options)
    assert math.isclose(lossbounds.baseline("circle", n_positives=1, n_negatives=2, **options),
                        orthogonal[0], rel_tol=1e-6)
    assert math.isclose(lossbounds.prior_baseline("circle", n_positives=1, n_negatives=2, **options),
                        collapsed[0], rel_tol=1e-6)
    assert orthogonal[0] < collapsed[0]
    # A sample alone with its label still counts: P = 0, its own pair only
    assert orthogonal[2] > 0
    assert math.isclose(lossbounds.best_case("circle", n_positives=0, n_negatives=3, **options),
                        orthogonal[2], rel_tol=1e-5)
    worst = _circle_keras(labels, [e[0], -e[0], e[0], e[0]], **options)[0]
    assert math.isclose(lossbounds.worst_case("circle", n_positives=1, n_negatives=2, **options),
                        worst, rel_tol=1e-6)


def test_no_unit_constant_beats_the_circle_prior_but_a_shorter_one_does():
    rng = np.random.default_rng(5)
    labels = [0, 0, 1, 1, 2]
    prior = lossbounds.prior_baseline("circle", labels)
    for _ in range(20):  # any constant unit embedding is a collapse
        v = rng.standard_normal(3)
        x = np.tile(v / np.linalg.norm(v), (5, 1))
        value = float(keras_class("circle", np.array(labels), x.astype(F32))[1])
        assert math.isclose(value, prior, rel_tol=1e-6)
    # Over squared norms r, a constant scores gamma (d^2 + (1 - d)^2 - 2 m^2) + ln PN with
    # d = max(1 - r, 0): least at r = 1/2, 14.4 + ln PN, which is why the bounds assume unit vectors.
    found = optimize.minimize_scalar(
        lambda r: float(_circle_keras([0, 0, 1], np.tile([math.sqrt(r), 0.0], (3, 1)))[0]),
        bounds=(0.01, 2.0), method="bounded")
    assert abs(found.x - 0.5) < 1e-3
    assert math.isclose(found.fun, 80 * (0.5 - 2 * 0.16), rel_tol=1e-5)


# --------------------------------------------------------------------------
# Garbage in, clear error out


def test_overlap_junk_gets_a_clear_error():
    # (N,) against (N, 1): Keras' function broadcasts to (N, N) and returns nonsense
    y, p = np.array([1.0, 0.0, 1.0], F32), np.array([[0.9], [0.2], [0.6]], F32)
    assert math.isclose(float(keras_function("dice", y, p)[1]), -0.837838, rel_tol=1e-5)
    for name in ("dice", "tversky"):
        with pytest.raises(ValueError, match=r"same shape.*\(N, N\).*lossbounds raises"):
            getattr(lossbounds, name)(y, p)
        with pytest.raises(ValueError, match="same shape"):
            getattr(lossbounds, name)(np.ones((2, 3)), np.ones((1, 3), F32))
        # the class squeezes the trailing 1, as Keras' class does
        assert_close(lossbounds.loss(name, y, p), keras_class(name, y, p)[1])
        with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
            getattr(lossbounds, name)([0.0, 255.0], [0.1, 0.9])
        with pytest.raises(ValueError, match=r"y_true.*\[0, 1\], got -1"):
            lossbounds.loss(name, [[-1.0, 1.0]], [[0.5, 0.5]])
        with pytest.raises(ValueError, match="axis.*out of range"):
            getattr(lossbounds, name)(np.ones((2, 3)), np.ones((2, 3), F32), axis=2)
        with pytest.raises(ValueError, match="twice"):
            getattr(lossbounds, name)(np.ones((2, 3)), np.ones((2, 3), F32), axis=(1, -1))
        with pytest.raises(TypeError, match="axis"):
            getattr(lossbounds, name)(np.ones((2, 3)), np.ones((2, 3), F32), axis=1.5)
        with pytest.raises(TypeError, match="y_pred"):
            getattr(lossbounds, name)([1.0], [1])  # integer predictions: Keras' TF errors too
        with pytest.raises(ValueError, match="foreground"):
            lossbounds.baseline(name, foreground=1.5)
        with pytest.raises(ValueError, match="foreground fraction of 0.5 but foreground"):
            lossbounds.prior_baseline(name, [0.0, 1.0], foreground=0.25)
        with pytest.raises(ValueError, match="foreground=f"):
            lossbounds.baseline(name)
    for bad, error in ((-0.5, ValueError), (math.inf, ValueError), ("a", TypeError)):
        with pytest.raises(error, match="alpha"):
            lossbounds.tversky([1.0], [0.5], alpha=bad)
        with pytest.raises(error, match="beta"):
            lossbounds.loss("tversky", [1.0], [0.5], beta=bad)


def test_circle_junk_gets_a_clear_error():
    x = np.eye(3, dtype=F32)
    with pytest.raises(ValueError, match="integer labels, got 1.7.*truncate"):
        lossbounds.circle([0.0, 1.7, 1.0], x)
    assert_close(keras_function("circle", np.array([0.0, 1.7, 1.0]), x)[1],
                 keras_function("circle", np.array([0, 1, 1]), x)[1])  # Keras truncated it
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, 1\)"):
        lossbounds.circle(np.eye(3), x)
    with pytest.raises(ValueError, match="3 labels but `y_pred` 2"):
        lossbounds.circle([0, 0, 1], x[:2])
    with pytest.raises(ValueError, match="2-D"):
        lossbounds.circle([0], [1.0, 0.0])
    with pytest.raises(ValueError, match="dimensions"):
        lossbounds.circle([0, 0, 1], x, ref_embeddings=np.eye(2, dtype=F32), ref_labels=[0, 1])
    with pytest.raises(ValueError, match="ref_labels.*2 rows"):
        lossbounds.circle([0, 0, 1], x, ref_embeddings=x[:2])
    with pytest.raises(ValueError, match="int32"):
        lossbounds.circle([0, 2**40, 1], x)
    # integer embeddings: Keras' matmul computes them in float32, and so does lossbounds
    for kind in (np.int32, np.int64):
        ints = np.array([[2, 0], [1, 1], [0, 3]], kind)
        assert_close(lossbounds.circle([0, 0, 1], ints), keras_function("circle", np.array([0, 0, 1]), ints)[1])
        assert_close(lossbounds.circle([0, 0, 1], x[:, :2], ref_embeddings=ints, ref_labels=[0, 1, 1]),
                     keras_function("circle", np.array([0, 0, 1]), x[:, :2], ref_embeddings=ints,
                                    ref_labels=np.array([0, 1, 1]))[1])
    with pytest.raises(TypeError, match="y_pred"):
        lossbounds.circle([0, 0, 1], np.eye(3, dtype=bool))
    with pytest.raises(ValueError, match="gamma"):
        lossbounds.circle([0, 0, 1], x, gamma=0.0)
    with pytest.raises(TypeError, match="gamma"):
        lossbounds.loss("circle", [0, 0, 1], x, gamma="80")
    with pytest.raises(TypeError, match="remove_diagonal"):
        lossbounds.circle([0, 0, 1], x, remove_diagonal=1)
    with pytest.raises(ValueError, match="margin"):
        lossbounds.circle([0, 0, 1], x, margin=math.nan)
    # Keras' class passes labels through float32 first: 16777217 becomes 16777216
    big = np.array([16777216, 16777217, 5])
    merged = keras_class("circle", big, x)[1]
    assert_close(merged, keras_class("circle", np.array([0, 0, 5]), x)[1])
    with pytest.raises(ValueError, match="16777217.*not exactly representable in float32"):
        lossbounds.loss("circle", big, x)
    assert lossbounds.circle(big, x).shape == (3,)  # the function API casts straight to int32
    with pytest.raises(ValueError, match="float16"):
        lossbounds.loss("circle", [0, 2049, 2049], x, dtype="float16")
    # Bound options
    with pytest.raises(ValueError, match="go together"):
        lossbounds.worst_case("circle", n_positives=1)
    with pytest.raises(ValueError, match="positive pair"):
        lossbounds.best_case("circle", n_positives=0, n_negatives=3)
    with pytest.raises(TypeError, match="n_negatives"):
        lossbounds.best_case("circle", n_positives=1, n_negatives=2.5)
    with pytest.raises(ValueError, match="n_negatives"):
        lossbounds.best_case("circle", n_positives=1, n_negatives=-1)
    with pytest.raises(ValueError, match="No sample in `y_true`"):
        lossbounds.prior_baseline("circle", [0, 1, 2])
    with pytest.raises(ValueError, match="n_positives=P"):
        lossbounds.baseline("circle")


# --------------------------------------------------------------------------
# Names and words


@pytest.mark.parametrize("name", ["dice", "tversky", "circle"])
def test_keras_accepts_the_names(name):
    definition = get_loss(name)
    for keras_name in (definition.name, definition.class_name):
        assert keras.losses.get(keras_name) is not None
    assert getattr(keras.losses, definition.class_name)().name == definition.name
    assert get_loss(f"{name}_loss") is definition


def test_values_explain_themselves():
    kinds = lossbounds.explain(-0.4, "dice", foreground=0.1).kinds
    assert "negative_overlap_loss" in kinds
    # with the outputs' range the value is possible: only the explanation remains
    found = lossbounds.explain(-0.4, "dice", foreground=0.1, pred_range=(0, math.inf))
    assert found.kinds == ("negative_overlap_loss",) and "pred_range" not in str(found)
    assert "overlap_loss_above_one" in lossbounds.explain(1.3, "tversky").kinds
    assert "no_overlap" in lossbounds.explain(1.0, "dice").kinds
    assert lossbounds.explain(0.3, "dice", foreground=0.1).kinds == ()
    text = str(lossbounds.explain(0.3, "dice", foreground=0.25))
    assert "Dice coefficient 1 - 0.3 = 0.7" in text and "0.5385" in text  # IoU = D/(2 - D)
    assert "no_positive_pairs" in lossbounds.explain(0.0, "circle").kinds
    found = lossbounds.explain(500.0, "circle", n_positives=1, n_negatives=2)
    assert "embeddings_not_normalised" in found.kinds
    assert lossbounds.explain(30.0, "circle", n_positives=1, n_negatives=2).kinds == ()
    assert "at_uniform" in lossbounds.explain(55.1, "circle", n_positives=1, n_negatives=2).kinds
    b = lossbounds.bounds("circle", n_positives=1, n_negatives=2)
    assert b.prior == b.uniform and "unit_embeddings" in [note.code for note in b.notes]
    assert "batch_level" in [n.code for n in lossbounds.bounds("dice").notes]
    assert "batch_level" not in [n.code for n in lossbounds.bounds("dice", axis=(1, 2)).notes]

