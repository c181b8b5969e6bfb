"""Bad input gets a clear ValueError or TypeError, never another exception.

The messages name the argument, what was received and what is expected.
A hypothesis test drives every public function with arbitrary junk.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lossbounds

LOSS_FUNCTIONS = (
    lossbounds.mean_squared_error,
    lossbounds.binary_crossentropy,
    lossbounds.categorical_crossentropy,
    lossbounds.sparse_categorical_crossentropy,
)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("sparse_categorical_crossentropie", "sparse_categorical_crossentropy"),
        ("binary_crossentrophy", "binary_crossentropy"),
        ("SparseCategoricalCrossEntropyy", "sparse_categorical_crossentropy"),
        ("msee", "mse"),
    ],
)
def test_unknown_loss_names_suggest_the_closest(name, suggestion):
    with pytest.raises(ValueError, match=f"Unknown loss '{name}'.*Did you mean.*'{suggestion}'"):
        lossbounds.baseline(name, n_classes=3)


@pytest.mark.parametrize(
    "name",
    ["sparse_categorical_crossentropy", "SparseCategoricalCrossentropy", "sparse_cce", "SPARSE-CCE",
     "sparse categorical crossentropy", "scce"],
)
def test_names_are_case_and_separator_insensitive(name):
    assert lossbounds.baseline(name, n_classes=7) == math.log(7)


def test_every_keras_alias_is_accepted():
    for name in ("mse", "MSE", "bce", "BCE", "MeanSquaredError", "BinaryCrossentropy",
                 "CategoricalCrossentropy", "cce", "categorical_crossentropy"):
        lossbounds.bounds(name, n_classes=3)


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (lambda: lossbounds.baseline(3), TypeError, r"`loss` must be a loss name \(str\), got int"),
        (lambda: lossbounds.baseline("cce", n_classes=0), ValueError, r"`n_classes` must be at least 1, got 0"),
        (lambda: lossbounds.baseline("bce", n_classes=1), ValueError, r"`n_classes` must be at least 2, got 1"),
        (lambda: lossbounds.baseline("cce", n_classes=2.5), TypeError, r"`n_classes` must be an int, got float"),
        (lambda: lossbounds.baseline("cce", n_classes=3.0), TypeError, r"Use 3\."),
        (lambda: lossbounds.baseline("cce", n_classes=True), TypeError, r"`n_classes` must be an int"),
        (lambda: lossbounds.baseline("cce"), ValueError, r"needs `n_classes`"),
        (lambda: lossbounds.baseline("mse"), ValueError, r"needs targets|prior_baseline\('mse', y_true\)"),
        (lambda: lossbounds.baseline("cce", n_classes=3, label_smoothing=1.5), ValueError,
         r"`label_smoothing` must lie in \[0, 1\], got 1.5"),
        (lambda: lossbounds.baseline("cce", n_classes=3, epsilon=0.5), ValueError,
         r"`epsilon` must lie in \(0, 0.5\), got 0.5"),
        (lambda: lossbounds.baseline("cce", n_classes=3, epsilon=0), ValueError, r"`epsilon`"),
        (lambda: lossbounds.baseline("cce", n_classes=3, epsilon="1e-7"), TypeError, r"`epsilon` must be a real number"),
        (lambda: lossbounds.worst_case("cce", backend="tensorflw"), ValueError,
         r"Unknown `backend` 'tensorflw'. Did you mean 'tensorflow'"),
        (lambda: lossbounds.worst_case("mse", y_range=(1, 0), pred_range=(0, 1)), ValueError,
         r"`y_range` must have low <= high, got \(1.0, 0.0\)"),
        (lambda: lossbounds.worst_case("mse", y_range=5), TypeError, r"`y_range` must be a pair"),
        (lambda: lossbounds.prior_baseline("sparse_cce", counts=[3, -1]), ValueError,
         r"`counts` must be finite and non-negative, got -1"),
        (lambda: lossbounds.prior_baseline("sparse_cce", counts=[3, np.nan]), ValueError, r"`counts` must be finite"),
        (lambda: lossbounds.prior_baseline("sparse_cce", counts=[0, 0]), ValueError, r"label set is empty"),
        (lambda: lossbounds.prior_baseline("sparse_cce", []), ValueError, r"label set is empty"),
        (lambda: lossbounds.prior_baseline("sparse_cce"), ValueError, r"exactly one of `y_true`"),
        (lambda: lossbounds.prior_baseline("mse", variance=-1), ValueError, r"`variance` must be finite and non-negative"),
        (lambda: lossbounds.prior_baseline("sparse_cce", [0, 5], n_classes=3), ValueError, r"label 5 is outside \[0, 3\)"),
        (lambda: lossbounds.loss("cce", [[1, 0]], [[0.5, 0.5]], reduction="auto"), ValueError,
         r"Unknown `reduction` 'auto'.*Keras 3 dropped \"auto\""),
        (lambda: lossbounds.loss("cce", [[1, 0]], [[0.5, 0.5]], ignore_class=0), TypeError,
         r"CategoricalCrossentropy has no option 'ignore_class'"),
        (lambda: lossbounds.loss("cce", [[1, 0]], [[0.5, 0.5]], dtype="bfloat16"), ValueError,
         r"Unsupported `dtype` 'bfloat16'"),
        (lambda: lossbounds.binary_crossentropy([[1, 0]], [[0.5, 0.5, 0.5]]), ValueError,
         r"`y_true` and `y_pred` must have the same shape, got y_true.shape=\(1, 2\) and y_pred.shape=\(1, 3\)"),
        (lambda: lossbounds.categorical_crossentropy([1, 0], [[0.5, 0.5], [0.5, 0.5]]), ValueError,
         r"same rank.*sparse_categorical_crossentropy"),
        (lambda: lossbounds.sparse_categorical_crossentropy([0, 3], [[0.5, 0.5, 0.0]] * 2), ValueError,
         r"label 3 in `y_true` lies outside \[0, 3\)"),
        (lambda: lossbounds.sparse_categorical_crossentropy([0, -1], [[0.5, 0.5]] * 2), ValueError,
         r"label -1 .* outside \[0, 2\).*ignore_class"),
        (lambda: lossbounds.sparse_categorical_crossentropy(np.array([0.0, 1.7]), [[0.5, 0.5]] * 2), ValueError,
         r"must hold integer class labels, got 1.7.*truncate"),
        (lambda: lossbounds.sparse_categorical_crossentropy([0, 1], [[0.5, 0.5]] * 2, axis=0), ValueError,
         r"only the last axis"),
        (lambda: lossbounds.sparse_categorical_crossentropy([[0]], [[[0.5, 0.5]]], axis=-1, ignore_class=1.5),
         TypeError, r"`ignore_class` must be None or an int"),
        (lambda: lossbounds.binary_crossentropy([[1.0]], np.array([[1]])), TypeError,
         r"`y_pred` has integer dtype int64.*astype\('float32'\)"),
        (lambda: lossbounds.binary_crossentropy("abc", [[0.5]]), TypeError, r"`y_true` must be an array of numbers, got a str"),
        (lambda: lossbounds.binary_crossentropy([[1, 0], [1]], [[0.5, 0.5]]), ValueError,
         r"`y_true` could not be read as an array.*rectangular"),
        (lambda: lossbounds.binary_crossentropy([[1.0]], [[0.5]], from_logits=1), TypeError,
         r"`from_logits` must be True or False, got int"),
        (lambda: lossbounds.binary_crossentropy([[1.0]], [[0.5]], axis=2), ValueError,
         r"`axis`=2 is out of range for inputs with 2 dimension"),
        (lambda: lossbounds.categorical_crossentropy([[1.0]], [[0.5]], axis=True), TypeError, r"`axis` must be an int"),
        (lambda: lossbounds.mean_squared_error(1.0, 2.0), ValueError, r"at least one dimension"),
        (lambda: lossbounds.mean_squared_logarithmic_error([[1.0], [-2.5]], [[1.0], [2.0]]), ValueError,
         r"`y_true` holds -2.5; targets must be >= 0.*Hint: shift the targets"),
        # (the first negative target, from a later piece of a large input)
        (lambda: lossbounds.loss("msle", np.r_[np.ones(3 * 2**19), -7.0, -1.0].reshape(-1, 1),
                                 np.ones((3 * 2**19 + 2, 1))), ValueError, r"`y_true` holds -7.0;"),
        (lambda: lossbounds.mean_squared_error([[1.0, 2.0]], [[1.0, 2.0, 3.0]]), ValueError, r"do not broadcast"),
        (lambda: lossbounds.loss("mse", [[1.0], [2.0]], [[1.0], [2.0]], sample_weight=[1.0, 2.0, 3.0]),
         ValueError, r"sample_weight: shapes .* do not broadcast"),
        (lambda: lossbounds.mean_squared_error(np.broadcast_to(np.float32(0), (10**6, 10**6)), [[0.0]]),
         ValueError, r"has 1e\+12 elements.*batch by batch"),
        # Each loss takes its own options; one it does not have is a TypeError naming them.
        (lambda: lossbounds.bounds("sparse_cce", label_smoothing=0.1, n_classes=3), TypeError,
         r"sparse_categorical_crossentropy has no option 'label_smoothing'.*Its options are "
         r"n_classes, from_logits.*Hint: use categorical_crossentropy with one-hot labels"),
        (lambda: lossbounds.worst_case("mse", label_smoothing=0.1), TypeError,
         r"mean_squared_error has no option 'label_smoothing' in worst_case.*Its options are "
         r"n_classes, y_range, pred_range, epsilon, dtype, backend\."),
        (lambda: lossbounds.baseline("cce", n_clases=3), TypeError,
         r"has no option 'n_clases' in baseline\. Did you mean 'n_classes'\?"),
    ],
)
def test_bad_input_gets_a_clear_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_keras_odd_but_legal_input_is_computed_like_keras():
    # Probabilities outside [0, 1] are clipped; rows not summing to 1 rescaled.
    assert lossbounds.binary_crossentropy([[1.0]], [[1.5]])[0] == pytest.approx(1.1920929e-07)
    assert lossbounds.categorical_crossentropy([[1.0, 0.0]], [[2.0, 2.0]])[0] == pytest.approx(math.log(2))
    # NaN propagates, as in Keras.
    assert np.isnan(lossbounds.binary_crossentropy([[1.0]], [[np.nan]])[0])
    # An all-zero categorical row is 0/0 = NaN in Keras; sparse CCE on TF gives ln K.
    assert np.isnan(lossbounds.categorical_crossentropy([[1.0, 0.0, 0.0]], [[0.0, 0.0, 0.0]])[0])
    assert lossbounds.sparse_categorical_crossentropy([0], [[0.0, 0.0, 0.0]])[0] == pytest.approx(math.log(3))


@pytest.mark.parametrize("call", [
    lambda: lossbounds.categorical_crossentropy([[1.0]], [[0.3]]),
    lambda: lossbounds.loss("cce", [[1.0]], [[0.3]]),
    lambda: lossbounds.LossMeter("cce").update([[1.0]], [[0.3]]),
], ids=["function", "loss", "LossMeter"])
def test_single_class_categorical_warns_like_keras(call):
    # The warning points at the caller's line, however deep inside lossbounds it is raised.
    with pytest.warns(UserWarning, match="single class") as caught:
        call()
    assert [warning.filename for warning in caught] == [__file__]


@pytest.mark.parametrize(("from_logits", "words", "expected"), [
    # -log of the clipped 1 - eps in float32 (0.99999988), as Keras gives: 1.1920929e-07
    (False, "about 1.2e-7", -float(np.log(np.float32(1 - 1e-7)))),
    (True, "always 0", 0.0)])
def test_single_class_categorical_warning_names_its_value(from_logits, words, expected):
    # A single probability is divided by itself and clipped to 1 - eps; a single logit's
    # log-softmax is 0. The warning says which
    with pytest.warns(UserWarning, match=words):
        result = lossbounds.loss("cce", [[1.0], [1.0]], [[0.3], [4.0]], from_logits=from_logits)
    assert result == pytest.approx(expected, abs=1e-9)


# ---------------------------------------------------------------------------
# Junk: only a value or ValueError/TypeError with a message


junk_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8), st.binary(max_size=8), st.complex_numbers(), st.just(object()),
    st.just(float("nan")), st.just(float("inf")), st.just(-1), st.just(0), st.just(10**6),
)
junk_arrays = st.one_of(
    junk_scalars,
    st.lists(junk_scalars, max_size=4),
    st.lists(st.lists(st.floats(-2, 2), max_size=3), max_size=3),  # often ragged
    st.builds(lambda shape, value: np.broadcast_to(np.float32(value), shape),
              st.sampled_from([(10**6, 10**6), (2**20, 2**13), (3, 0), (0,), (2, 1, 3)]),
              st.floats(-1, 1)),
    st.builds(lambda kind: np.zeros((2, 3), dtype=kind),
              st.sampled_from(["int8", "uint16", "bool", "complex64", "U3", "O", "float16", "datetime64[s]"])),
    st.builds(lambda values: np.array(values, dtype=np.float64).reshape(-1, 2)[:, :2]
              if len(values) % 2 == 0 else np.array(values), st.lists(st.floats(), min_size=0, max_size=8)),
)
option_values = st.dictionaries(
    st.sampled_from(["from_logits", "label_smoothing", "axis", "ignore_class", "epsilon", "reduction",
                     "sample_weight", "dtype", "n_classes", "backend", "y_range", "pred_range", "counts",
                     "variance", "bogus"]),
    junk_scalars | st.sampled_from([True, 0.1, -1, 1, 2, "sum", "float16", "tf_keras", (0, 1)]),
    max_size=3,
)


def _allowed(call):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    except (ValueError, TypeError) as error:
        assert str(error), "an error needs a message"


@settings(max_examples=400)
@given(function=st.sampled_from(LOSS_FUNCTIONS), y_true=junk_arrays, y_pred=junk_arrays, options=option_values)
def test_loss_functions_survive_junk(function, y_true, y_pred, options):
    _allowed(lambda: function(y_true, y_pred, **options))


@settings(max_examples=400)
@given(name=junk_scalars | st.sampled_from(["mse", "bce", "cce", "sparse_cce"]),
       y_true=junk_arrays, y_pred=junk_arrays, options=option_values)
def test_loss_survives_junk(name, y_true, y_pred, options):
    _allowed(lambda: lossbounds.loss(name, y_true, y_pred, **options))


@settings(max_examples=400)
@given(function=st.sampled_from([lossbounds.baseline, lossbounds.best_case, lossbounds.worst_case,
                                 lossbounds.bounds, lossbounds.prior_baseline]),
       name=junk_scalars | st.sampled_from(["mse", "bce", "cce", "sparse_cce"]),
       data=junk_arrays, options=option_values)
def test_bounds_survive_junk(function, name, data, options):
    if function in (lossbounds.prior_baseline, lossbounds.bounds):
        _allowed(lambda: function(name, data, **options))
    else:
        _allowed(lambda: function(name, **options))


def _late_checks():
    """(loss, y_true, y_pred, options, the error's words): two bad entries, the first named."""
    rows = lossbounds.fused.MIN_ELEMENTS  # (large enough for the fused kernels)
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, (rows, 1)).astype(np.float32)
    rates = rng.uniform(0.0, 10.0, (rows, 1)).astype(np.float32)
    labels = (rng.random((rows, 1)) < 0.5).astype(np.float32)
    probabilities = rng.random((rows, 1), np.float32)

    def spoiled(values, first, second):  # bad entries in two blocks, the later one first
        values = values.copy()
        values[rows - 10, 0], values[rows // 3, 0] = second, first
        return values

    first = rf"index \({rows // 3}, 0\)"
    return [
        ("poisson", spoiled(counts, -2, -7), rates, {}, "`y_true` holds -2 at " + first),
        ("poisson", counts, spoiled(rates, -2, -7), {}, "`y_pred` holds -2 at " + first),
        ("mean_squared_logarithmic_error", spoiled(rates, -2, -7), rates, {}, "holds -2.0;"),
        ("binary_focal_crossentropy", spoiled(labels, -2, -7), probabilities, {}, "got -2"),
        ("binary_focal_crossentropy", labels, spoiled(probabilities, 2, 7), {}, "got 2"),
        ("binary_focal_crossentropy", spoiled(labels, 3, 7), probabilities,
         {"from_logits": True}, "got 3"),
    ]


@pytest.mark.parametrize("case", range(6))
@pytest.mark.parametrize("accelerated", [True, False], ids=["accelerator", "numpy"])
def test_checks_in_the_blocks_name_the_first_bad_entry(case, accelerated):
    # Poisson, MSLE and binary focal check their values block by block as the kernels read
    # them (no passes of their own): the error still names the first bad entry of the input
    name, y_true, y_pred, options, words = _late_checks()[case]
    function = getattr(lossbounds, name)
    with lossbounds.accelerator(accelerated):
        for call in (lambda: lossbounds.loss(name, y_true, y_pred, **options),
                     lambda: lossbounds.loss(name, y_true, y_pred, reduction="none", **options),
                     lambda: function(y_true, y_pred, **options)):
            with pytest.raises(ValueError, match=words):
                call()
