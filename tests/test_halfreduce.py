"""Reduced float16 losses stream (`lossbounds.halfreduce`) and stay bit for bit the same.

A float16 total must be added in TensorFlow's exact order, which the
whole-array path reproduces (`lossbounds._tfmath.half_sum`, checked against
live Keras by test_golden.py and test_float16_sums_along_any_axis_are_tensorflows). The streamed path walks
the same tree a subtree at a time: every reduced value must be the
whole-array one to the bit, whatever the shapes, the weights, the mask and
the reduction. The whole-array path is the one `loss` takes when
`losses.reduce_half` declines (returns None), which is the switch used here.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import sample_weights

import lossbounds
from lossbounds import _tfmath, engine, losses

REDUCTIONS = ("sum_over_batch_size", "sum", "mean_with_sample_weight", "mean")
pytestmark = pytest.mark.filterwarnings("ignore:categorical_(focal_)?crossentropy with a single class")


@pytest.fixture
def small_subtrees(monkeypatch):
    """Subtrees of one leaf and blocks of 512 elements: many boundaries on small inputs."""
    monkeypatch.setattr(_tfmath, "HALF_CHUNK", 1600)
    monkeypatch.setattr(engine, "_BLOCK_ELEMENTS", 512)


def same_bits(a: float, b: float) -> bool:
    return np.float64(a).tobytes() == np.float64(b).tobytes()


def streamed_and_whole(monkeypatch, name, y_true, y_pred, **options):
    """`loss` streamed (asserting it streamed) and on the whole values."""
    calls = []

    def recording(*args, **kwargs):
        result = losses_reduce_half(*args, **kwargs)
        calls.append(result is not None)
        return result

    losses_reduce_half = losses.reduce_half
    with monkeypatch.context() as patch:
        patch.setattr(losses, "reduce_half", recording)
        streamed = lossbounds.loss(name, y_true, y_pred, **options)
    with monkeypatch.context() as patch:
        patch.setattr(losses, "reduce_half", lambda *args, **kwargs: None)
        whole = lossbounds.loss(name, y_true, y_pred, **options)
    return streamed, whole, calls


# --------------------------------------------------------------------------
# The tree walk


def half_data(kind: int, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == 0:
        return rng.standard_normal(n).astype(np.float16)
    if kind == 1:  # partial sums overflow to inf
        return (rng.random(n) * 60).astype(np.float16)
    if kind == 2:  # signed zeros, subnormals, inf, NaN, the largest half
        edges = np.array([0, -0.0, 1e-7, 3, -3, np.inf, -np.inf, np.nan, 65504], np.float16)
        return rng.choice(edges, n)
    return (rng.standard_normal(n) * 1e-3).astype(np.float16)


@pytest.mark.parametrize("n", [1, 7, 8, 1599, 1600, 1601, 3207, 12_345, 100_003])
@pytest.mark.parametrize("kind", [0, 1, 2, 3])
def test_tree_walk_is_half_sum(n, kind):
    rng = np.random.default_rng(n * 4 + kind)
    x = half_data(kind, n, rng)
    with np.errstate(all="ignore"):
        expected = _tfmath.half_sum(x, -1)
        for chunk in (1600, 2048, 5000, None):
            got = _tfmath.streamed_half_sum(n, lambda start, stop: x[start:stop], chunk)
            assert got.shape == () and got.dtype == np.float16
            assert got.tobytes() == expected.tobytes(), chunk
        for first in (0, 8, 24, 8 * 1001):
            assert (_tfmath.tree_sum_1d(x, first).tobytes()
                    == _tfmath._tree_sum(x[None], first).tobytes()), first


# --------------------------------------------------------------------------
# Reduced losses against their whole-array reduction


def probabilities(rng, shape):
    p = rng.random(shape).astype(np.float32) + np.float32(0.01)
    return p / p.sum(axis=-1, keepdims=True)


def make(name, variant, shape, rng):
    """(y_true, y_pred, options) for a loss, in float32 (`loss` casts to float16)."""
    k = shape[-1]
    logits = (rng.standard_normal(shape) * 3).astype(np.float32)
    options = {"from_logits": True} if variant == "logits" else {}
    if name == "sparse_cce":
        labels = rng.integers(0, k, shape[:-1])
        if variant == "ignore":
            labels[rng.random(labels.shape) < 0.3] = -1
            options["ignore_class"] = -1
        return labels, logits if variant == "logits" else probabilities(rng, shape), options
    if name == "categorical_generalized_cross_entropy":
        return rng.integers(0, k, shape[:-1]), probabilities(rng, shape), options
    if name in ("cce", "categorical_focal_crossentropy", "categorical_hinge"):
        one_hot = np.eye(k, dtype=np.float32)[rng.integers(0, k, shape[:-1])]
        if variant == "smooth":
            options["label_smoothing"] = 0.1
        return one_hot, logits if variant == "logits" else probabilities(rng, shape), options
    if name in ("bce", "binary_focal_crossentropy"):
        targets = rng.integers(0, 2, shape).astype(np.float32)
        return targets, logits if variant == "logits" else rng.random(shape, np.float32), options
    if name in ("hinge", "squared_hinge"):
        targets = rng.integers(0, 2, shape).astype(np.float32)
        return targets if variant == "01" else targets * 2 - 1, logits, options
    if name in ("kl_divergence", "poisson"):
        return probabilities(rng, shape), probabilities(rng, shape), options
    if name in ("mape", "msle"):
        return rng.random(shape, np.float32) + np.float32(0.5), rng.random(shape, np.float32), {}
    y_true = rng.standard_normal(shape).astype(np.float32)
    return y_true, y_true + logits, options


# Every row-wise loss (hinge's batch-wide 0/1 conversion is decided first, then rows stream)
ROW_WISE = [("mse", ""), ("mae", ""), ("mape", ""), ("msle", ""), ("huber", ""),
            ("log_cosh", ""), ("poisson", ""), ("kl_divergence", ""), ("cosine_similarity", ""),
            ("hinge", ""), ("hinge", "01"), ("squared_hinge", ""), ("categorical_hinge", ""),
            ("bce", ""), ("bce", "logits"), ("cce", ""), ("cce", "logits"), ("cce", "smooth"),
            ("sparse_cce", ""), ("sparse_cce", "logits"), ("sparse_cce", "ignore"),
            ("binary_focal_crossentropy", ""), ("categorical_focal_crossentropy", ""),
            ("categorical_generalized_cross_entropy", "")]
SHAPES = [(5, 3), (1599, 1), (1601, 3), (3203, 2), (2, 801, 3), (13, 2000)]


def weights_for(loss_shape, rng):
    """No weights, (N,), a scalar, (N, 1), (T,) for 3-D losses, and float64 weights with zeros."""
    found = [None, rng.random(loss_shape).astype(np.float32) * 2, np.float32(0.37),
             rng.random(loss_shape + (1,)).astype(np.float32),
             np.where(rng.random(loss_shape) < 0.5, 0, rng.random(loss_shape))]
    if len(loss_shape) == 2:
        found.append(rng.random(loss_shape[-1:]).astype(np.float32))
    return found


# (generalized cross-entropy refuses a single class: its (N, 1) labels are not left out by a skip)
CASES = [(name, variant, shape) for name, variant in ROW_WISE for shape in SHAPES
         if not (name == "categorical_generalized_cross_entropy" and shape[-1] == 1)]


@pytest.mark.parametrize(("name", "variant", "shape"), CASES)
def test_float16_reductions_are_bit_identical(small_subtrees, monkeypatch, name, variant, shape):
    rng = np.random.default_rng(sum(shape))
    y_true, y_pred, options = make(name, variant, shape, rng)
    streamed_any = []
    for weight in weights_for(shape[:-1], rng):
        for reduction in REDUCTIONS:
            for prediction in (y_pred, y_pred.astype(np.float16)):
                streamed, whole, calls = streamed_and_whole(
                    monkeypatch, name, y_true, prediction, sample_weight=weight,
                    reduction=reduction, dtype="float16", **options)
                assert same_bits(streamed, whole), (reduction, np.shape(weight), streamed, whole)
                streamed_any += calls
    assert any(streamed_any)


def test_big_inputs_are_bit_identical(monkeypatch):
    # The default subtrees (2**18 values) and blocks: three subtrees and a tail.
    rng = np.random.default_rng(7)
    n = 3 * _tfmath.HALF_CHUNK + 1003
    y_true, y_pred, _ = make("bce", "", (n, 2), rng)
    y_pred = np.clip(y_pred, 0.01, 0.99)  # float16's 1 - epsilon is 1: p = 1 would give NaN
    weight = (rng.random(n) * 2**-8).astype(np.float32)  # keeps the float16 sum finite
    for sample_weight, reduction in ((None, "sum_over_batch_size"),
                                     (weight, "mean_with_sample_weight")):
        streamed, whole, calls = streamed_and_whole(
            monkeypatch, "bce", y_true, y_pred, sample_weight=sample_weight,
            reduction=reduction, dtype="float16")
        assert calls == [True] and same_bits(streamed, whole), (streamed, whole)
        assert np.isfinite(streamed) or reduction == "sum_over_batch_size"  # float16(n) is inf


@settings(max_examples=60)
@given(data=st.data())
def test_drawn_shapes_weights_and_reductions(data):
    name, variant = data.draw(st.sampled_from(
        [("mse", ""), ("bce", "logits"), ("cce", ""), ("sparse_cce", "ignore"),
         ("log_cosh", ""), ("kl_divergence", "")]), label="loss")
    n = data.draw(st.integers(1, 4000), label="n")
    t = data.draw(st.sampled_from([None, 1, 3]), label="t")
    k = data.draw(st.integers(1, 5), label="k")
    shape = (n, k) if t is None else (n, t, k)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    y_true, y_pred, options = make(name, variant, shape, rng)
    sample_weight = data.draw(sample_weights(shape[:-1]), label="sample_weight")
    reduction = data.draw(st.sampled_from(REDUCTIONS), label="reduction")
    chunk = data.draw(st.sampled_from([1600, 4096]), label="chunk")
    backend = data.draw(st.sampled_from(["tensorflow", "tf_keras"]), label="backend")
    if backend == "tf_keras":
        reduction = "sum" if reduction == "sum" else "sum_over_batch_size"
        y_pred, dtype = y_pred.astype(np.float16), None  # Keras 2 computes in y_pred's dtype
    else:
        dtype = "float16"
    saved = _tfmath.HALF_CHUNK, engine._BLOCK_ELEMENTS
    _tfmath.HALF_CHUNK, engine._BLOCK_ELEMENTS = chunk, 1024
    try:
        results = []
        for streaming in (True, False):
            decline = losses.reduce_half
            if not streaming:
                losses.reduce_half = lambda *args, **kwargs: None
            try:
                results.append(lossbounds.loss(name, y_true, y_pred, sample_weight=sample_weight,
                                               reduction=reduction, dtype=dtype,
                                               backend=backend, **options))
            except ValueError as error:  # weights that do not fit: both raise the same
                results.append(str(error))
            finally:
                losses.reduce_half = decline
    finally:
        _tfmath.HALF_CHUNK, engine._BLOCK_ELEMENTS = saved
    if isinstance(results[0], str) or isinstance(results[1], str):
        assert results[0] == results[1]
    else:
        assert same_bits(results[0], results[1]), results


def test_keras_2_fits_the_weights_to_3d_losses(monkeypatch):
    # tf.keras 2.x expands (N,) weights to (N, 1) against (N, T) losses (Keras 3 would refuse)
    rng = np.random.default_rng(3)
    y_true, y_pred, _ = make("mse", "", (2000, 3, 4), rng)
    weight = rng.random(2000).astype(np.float32)
    streamed, whole, calls = streamed_and_whole(
        monkeypatch, "mse", y_true, y_pred.astype(np.float16), sample_weight=weight,
        backend="tf_keras")
    assert calls == [True] and same_bits(streamed, whole)


def test_weights_that_enlarge_the_losses_take_the_whole_values(monkeypatch):
    rng = np.random.default_rng(4)
    y_true, y_pred, _ = make("mse", "", (300, 1, 4), rng)  # losses (300, 1)
    weight = rng.random((300, 5)).astype(np.float32)  # broadcasts them to (300, 5)
    streamed, whole, calls = streamed_and_whole(
        monkeypatch, "mse", y_true, y_pred, sample_weight=weight, dtype="float16")
    assert calls == [False] and same_bits(streamed, whole)


def test_a_bad_label_late_in_the_input_is_reported_like_the_whole_path(small_subtrees,
                                                                         monkeypatch):
    rng = np.random.default_rng(5)
    labels, y_pred, _ = make("sparse_cce", "", (5000, 4), rng)
    labels[4321], labels[4400] = 7, 9
    messages = []
    for decline in (False, True):
        with monkeypatch.context() as patch:
            if decline:
                patch.setattr(losses, "reduce_half", lambda *args, **kwargs: None)
            with pytest.raises(ValueError, match="label 7") as raised:
                lossbounds.loss("sparse_cce", labels, y_pred, dtype="float16")
            messages.append(str(raised.value))
    assert messages[0] == messages[1]


def test_per_sample_values_stay_the_reference(small_subtrees):
    # MSLE on float16 gives float32 values: the function API keeps the whole-array reference
    rng = np.random.default_rng(6)
    y_true, y_pred, _ = make("msle", "", (3000, 3), rng)
    values = lossbounds.mean_squared_logarithmic_error(y_true.astype(np.float16),
                                                       y_pred.astype(np.float16))
    assert values.dtype == np.float32
    none = lossbounds.loss("msle", y_true, y_pred, dtype="float16", reduction="none")
    assert none.dtype == np.float16 and none.shape == (3000,)


@pytest.mark.parametrize("name", ["mean_squared_error", "binary_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_streamed_totals_are_keras_totals(monkeypatch, name):
    # Live Keras, the sums read in 25 subtrees. (Above a few 1e5 values TensorFlow may split
    # a float16 sum between its threads, which `_tfmath.half_sum` does not model; the
    # streamed sums equal half_sum's at any size: test_big_inputs_are_bit_identical.)
    from keras_reference import keras_class

    monkeypatch.setattr(_tfmath, "HALF_CHUNK", 4096)
    rng = np.random.default_rng(11)
    n = 100_003
    y_pred = np.clip(rng.random((n, 3), dtype=np.float32), 0.01, 0.99)
    y_true = {"mean_squared_error": rng.random((n, 3), dtype=np.float32),
              "binary_crossentropy": rng.integers(0, 2, (n, 3)).astype(np.float32),
              "sparse_categorical_crossentropy": rng.integers(0, 3, n)}[name]
    weight = (rng.random(n) * 2**-5).astype(np.float32)  # keeps the float16 sums finite
    for reduction in ("sum", "mean_with_sample_weight"):
        kind, expected = keras_class(name, y_true, y_pred, sample_weight=weight,
                                     reduction=reduction, dtype="float16")
        assert kind == "value", expected
        ours = lossbounds.loss(name, y_true, y_pred, sample_weight=weight, reduction=reduction,
                               dtype="float16")
        assert np.isfinite(ours) and ours == float(np.float16(expected)), (reduction, ours, expected)


# Along another axis TensorFlow merges the axes: where an axis longer than 1 follows the
# reduced one, Eigen's reducer that keeps the inner axis (four accumulators from 16 terms,
# `_tfmath.column_sums`); else the packet reducer of the last axis.
@pytest.mark.parametrize("seed", range(3))
def test_float16_sums_along_any_axis_are_tensorflows(seed):
    import keras

    rng = np.random.default_rng(seed)
    for shape in [(300, 7), (17, 40), (16, 9), (5, 33, 6), (40, 1), (1, 50, 1, 3), (3, 200, 1),
                  (2, 3, 70, 9), (3, 4099), (2, 33_001)]:  # (rows past 1600: halved)
        x = (rng.random(shape) * 4 - 1).astype(np.float16)
        for axis in range(len(shape)):
            expected = keras.ops.convert_to_numpy(keras.ops.sum(x, axis=axis))
            np.testing.assert_array_equal(_tfmath.half_sum(x, axis), expected,
                                          err_msg=f"{shape} axis={axis}")


@pytest.mark.parametrize("name", ["categorical_crossentropy", "categorical_focal_crossentropy"])
def test_float16_classes_along_the_first_axis_are_keras_values(name):
    # Soft targets over 17 to 300 classes on axis 0: each loss a float16 sum along it
    from keras_reference import keras_class

    rng = np.random.default_rng(3)
    for k, m in ((17, 30), (120, 9), (300, 4)):
        y_true, y_pred = (rng.random((k, m)).astype(np.float16) for _ in range(2))
        kind, expected = keras_class(name, y_true, y_pred, axis=0, dtype="float16",
                                     reduction=None)
        assert kind == "value", expected
        got = lossbounds.loss(name, y_true, y_pred, axis=0, dtype="float16", reduction=None)
        np.testing.assert_array_equal(got, expected, err_msg=f"{name} {k} classes")
