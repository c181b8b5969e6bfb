"""The fused accelerator (numba) gives the numpy kernels' values, and its switch works.

The numpy kernels are checked against live Keras everywhere else (and the
backend runs repeat that with the accelerator off: tests/test_backends.py);
here every loss of the table, in each of its options, dtypes float32 and
float64, with exact edge values mixed in, gives the same per-sample values
and reduced losses with the accelerator on as off, to the Keras contract.
The per-sample functions keep the numpy kernels (their documented values are
Keras' to the bit), so `_both` makes them use the fused kernels, as `loss()`
does, for the comparison.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from unittest import mock

import numpy as np
import pytest
from accelerated import accelerator
from compare import assert_close
from hypothesis import given, settings
from hypothesis import strategies as st
from loss_table import CASES, ROWS, as_logits, case_inputs, inputs, row_cases

import lossbounds
from lossbounds import _tfmath, engine, fused
from lossbounds.families import crossentropy_fused, sequence


def test_numba_is_installed_with_the_test_extra():
    # The accelerator must be under test: a missing numba fails here, it does not skip.
    assert fused.available()
    assert lossbounds.accelerator_enabled()


def test_switch():
    assert lossbounds.set_accelerator(False) is True
    try:
        assert not lossbounds.accelerator_enabled()
        with lossbounds.accelerator(True):
            assert lossbounds.accelerator_enabled()
        assert not lossbounds.accelerator_enabled()
    finally:
        lossbounds.set_accelerator(True)
    with pytest.raises(TypeError, match="enabled"):
        lossbounds.set_accelerator("off")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="enabled"):
        with lossbounds.accelerator(1):  # type: ignore[arg-type]
            pass


def test_environment_variable_switches_it_off():
    code = "import lossbounds; print(lossbounds.accelerator_enabled())"
    env = dict(os.environ, LOSSBOUNDS_ACCELERATOR="off")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_import_does_not_import_numba():
    code = "import sys, lossbounds; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


def test_waits_read_what_another_thread_writes():
    # lossbounds.threads' helpers and callers spin, without the GIL, on counts that other
    # threads change: each look must read memory (a load hoisted out of the loop would never
    # see the change), and signals from two threads at once must all count.
    wait, signal_and_wait = fused.waiters()
    counts = np.zeros(2, np.int64)
    assert wait(counts, 0, 1, 1000) is False
    counts[0] = 1
    assert wait(counts, 0, 1, 1) is True
    signal = np.zeros(1, np.int64)
    assert signal_and_wait(signal, counts, 1, 0, 10) is False and signal[0] == 1
    counts[:] = 0
    timer = threading.Timer(0.05, counts.__setitem__, (0, 1))
    timer.start()
    start = time.perf_counter()
    assert wait(counts, 0, 1, 10**9)  # (seconds, if it never saw the change)
    assert time.perf_counter() - start < 2
    timer.join()
    signal[0] = 0

    def signals():
        for _ in range(20_000):
            signal_and_wait(signal, counts, 0, 1, 1)

    others = [threading.Thread(target=signals) for _ in range(2)]
    for thread in others:
        thread.start()
    signals()
    for thread in others:
        thread.join()
    assert signal[0] == 60_000


def test_small_inputs_do_not_load_the_compiler():
    """Below `MIN_ELEMENTS` every loss takes numpy's kernels: loading the compiled ones costs
    0.3-0.4 s a process, numpy a millisecond on these inputs (the table's, per sample and
    reduced)."""
    code = """if True:
        import sys
        import lossbounds
        from loss_table import CASES, case_inputs
        for name, index in CASES:
            y_true, y_pred, options = case_inputs(name, index, seed=1, k=4)
            getattr(lossbounds, name)(y_true, y_pred, **options)
            lossbounds.loss(name, y_true, y_pred, **options)
            if "numba" in sys.modules:
                print(name, options)
                break
        else:
            print("numba not loaded")
    """
    env = {k: v for k, v in os.environ.items() if k != "LOSSBOUNDS_ACCELERATOR"}  # (on)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(__file__)).stdout
    assert out.strip() == "numba not loaded"


def _with_edges(name, options, y_pred, rng):
    """y_pred with some of the row's exact edge values (0, 1, eps, 1-eps, ±1e4, ±1e30, ...)."""
    with np.errstate(over="ignore"):  # 1e30 is inf in float16
        edges = np.asarray(ROWS[name].edges(options), dtype=y_pred.dtype)
    y_pred = y_pred.copy()
    flat = y_pred.reshape(-1)
    where = rng.random(flat.size) < 0.2
    flat[where] = rng.choice(edges, int(where.sum()))
    return y_pred


def _both(function, *args, **kwargs):
    """`function`'s value with numpy's kernels, and with the fused ones (per-sample values too)."""
    with accelerator(False):
        numpy_value = function(*args, **kwargs)
    with accelerator(True):
        fused_value = function(*args, **kwargs)
    return numpy_value, fused_value


def _fused_values_and_loss_agree(name, y_true, y_pred, context, **options):
    """The per-sample values and the reduced loss of `name`, fused and numpy, agree."""
    numpy_values, fused_values = _both(getattr(lossbounds, name), y_true, y_pred, **options)
    assert_close(fused_values, numpy_values, context=context)
    numpy_loss, fused_loss = _both(lossbounds.loss, name, y_true, y_pred, **options)
    # a sum of N values is as close as each value, relative to the sum of their sizes
    assert_close(fused_loss, np.asarray(numpy_loss, np.float64), check_dtype=False, rtol=4e-6,
                 context=context)


def _with_random_edges(x, values, rng, share):
    """`x` with about `share` of its entries replaced by `values`, drawn at random."""
    x = x.copy()
    where = rng.random(x.shape) < share
    x[where] = np.asarray(values, x.dtype)[rng.integers(0, len(values), int(where.sum()))]
    return x


def _fused_answers(function, *args, everywhere=True, **kwargs):
    """Whether the fused kernel took each block it was given, in a call of `function`.

    `everywhere`: on inputs of any size (else from `MIN_ELEMENTS`, as outside the tests).
    """
    answers = []
    bind = fused.Fused.bind

    def recording(self, job):
        bound = bind(self, job)
        if bound is None:
            return None

        def kernel(y_true, y_pred, out):
            total, ok = bound(y_true, y_pred, out)
            answers.append(ok)
            return total, ok

        return kernel

    switch = accelerator if everywhere else lossbounds.accelerator
    with switch(True), mock.patch.object(fused.Fused, "bind", recording):
        function(*args, **kwargs)
    return answers


def test_per_sample_comparison_reaches_the_fused_kernels():
    # Not identical: the fused kernel adds in float64 where numpy adds pairwise in float32
    y = np.random.default_rng(0).random((2000, 300), np.float32)
    p = np.random.default_rng(1).random((2000, 300), np.float32)
    numpy_values, fused_values = _both(lossbounds.mean_squared_error, y, p)
    assert not np.array_equal(numpy_values, fused_values)
    assert_close(fused_values, numpy_values)


def test_per_sample_values_are_fused_from_min_elements():
    # As for the reduced loss: the per-sample function and reduction="none" take the fused
    # kernel from MIN_ELEMENTS elements (the compiler is not worth loading below)
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.standard_normal((2, fused.MIN_ELEMENTS, 1), np.float32)
    for n, expected in [(fused.MIN_ELEMENTS, True), (fused.MIN_ELEMENTS - 1, False)]:
        for values in (lambda t, p: lossbounds.huber(t, p),
                       lambda t, p: lossbounds.loss("huber", t, p, reduction="none")):
            answers = _fused_answers(values, y_true[:n], y_pred[:n], everywhere=False)
            assert (bool(answers) and all(answers)) == expected


@pytest.mark.parametrize(("name", "index"), CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "k"), [(1, 1), (9, 3), (300_007, 1), (20_011, 40), (30_001, 2),
                                     (1_003, 131), (5, 4_099)])
@pytest.mark.parametrize("edges", [False, True])
def test_fused_equals_numpy(name, index, dtype, n, k, edges):
    row = ROWS[name]
    options = row.options[index]
    if name in ("dice", "tversky", "circle", "ctc"):  # batch-wide or sequences: the table's size
        y_true, y_pred, options = case_inputs(name, index, seed=n + k, k=k)
    else:
        y_true, y_pred = inputs(name, seed=n + k, k=k, n=n)
        if options.get("from_logits"):
            y_pred = as_logits(name, y_pred)
    y_pred = y_pred.astype(dtype)
    if edges:
        y_pred = _with_edges(name, options, y_pred, np.random.default_rng(k))
    context = f"{name} {options} {dtype.__name__} {y_pred.shape}"
    numpy_values, fused_values = _both(getattr(lossbounds, name), y_true, y_pred, **options)
    assert_close(fused_values, numpy_values, rtol=row.rtol, atol=row.atol, context=context)
    weight = np.random.default_rng(1).random(np.shape(numpy_values)).astype(dtype)
    for reduction, sample_weight in [("sum_over_batch_size", None), ("sum", None),
                                     ("sum_over_batch_size", weight),
                                     ("mean_with_sample_weight", weight)]:
        numpy_loss, fused_loss = _both(lossbounds.loss, name, y_true, y_pred, reduction=reduction,
                                       sample_weight=sample_weight, **options)
        # a sum of N values is as close as each value, relative to the sum of their sizes
        assert_close(fused_loss, np.asarray(numpy_loss, np.float64), check_dtype=False,
                     rtol=row.rtol * 4, atol=row.atol, context=f"{context} {reduction}")


@pytest.mark.parametrize(("name", "index"), row_cases())
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 80])
def test_fused_equals_numpy_on_one_dimensional_inputs(name, index, dtype, n):
    # A 1-d input is one row (its loss 0-d): the fused kernels take it as they take a row.
    # The table's n rows of 4099 classes, end to end (one-hot rows then hold n ones).
    row = ROWS[name]
    options = row.options[index]
    y_true, y_pred = inputs(name, seed=n, k=4_099, n=n)
    if options.get("from_logits"):
        y_pred = as_logits(name, y_pred)
    y_pred = _with_edges(name, options, y_pred.astype(dtype), np.random.default_rng(n))
    y_true, y_pred = y_true.reshape(-1), y_pred.reshape(-1)
    context = f"{name} {options} {dtype.__name__} {y_pred.shape}"
    numpy_values, fused_values = _both(getattr(lossbounds, name), y_true, y_pred, **options)
    assert np.shape(fused_values) == ()
    assert_close(fused_values, numpy_values, rtol=row.rtol, atol=row.atol, context=context)
    numpy_loss, fused_loss = _both(lossbounds.loss, name, y_true, y_pred, **options)
    assert_close(fused_loss, np.asarray(numpy_loss, np.float64), check_dtype=False,
                 rtol=row.rtol * 4, atol=row.atol, context=f"{context} loss()")
    # the fused kernels answer for it as for the same row of shape (1, N)
    assert (_fused_answers(lossbounds.loss, name, y_true, y_pred, **options)
            == _fused_answers(lossbounds.loss, name, y_true[None], y_pred[None], **options)), context


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([case for case in CASES if case[0] not in ("dice", "tversky", "circle",
                                                                   "ctc")]),
       st.integers(1, 70), st.integers(1, 12), st.sampled_from([np.float32, np.float64]),
       st.integers(0, 2**32 - 1))
def test_fused_equals_numpy_on_any_shape(case, n, k, dtype, seed):
    name, index = case
    row = ROWS[name]
    k = max(k, row.min_k)
    options = row.options[index]
    rng = np.random.default_rng(seed)
    y_true, y_pred = row.inputs(rng, n, k)
    if options.get("from_logits"):
        y_pred = as_logits(name, y_pred)
    y_pred = _with_edges(name, options, y_pred.astype(dtype), rng)
    numpy_values, fused_values = _both(getattr(lossbounds, name), y_true, y_pred, **options)
    assert_close(fused_values, numpy_values, rtol=row.rtol, atol=row.atol,
                 context=f"{name} {options} {y_pred.dtype} {y_pred.shape}")
    numpy_loss, fused_loss = _both(lossbounds.loss, name, y_true, y_pred, **options)
    assert_close(fused_loss, np.asarray(numpy_loss, np.float64), check_dtype=False,
                 rtol=row.rtol * 4, atol=row.atol, context=f"{name} {options} loss()")


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs(special):
    y = np.zeros((1000, 3), np.float32)
    p = np.full((1000, 3), 0.5, np.float32)
    p[17, 1] = special
    for name in ("mse", "mae", "mape", "huber", "log_cosh", "msle"):
        numpy_values, fused_values = _both(lossbounds.loss, name, y, p, reduction="none")
        assert_close(fused_values, numpy_values, context=f"{name} {special}")
        numpy_loss, fused_loss = _both(lossbounds.loss, name, y, p)
        assert_close(fused_loss, np.asarray(numpy_loss), check_dtype=False, context=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [8192, 8200, 24584, 32000, 65536, 8193])
def test_categorical_hinge_long_rows_bit_for_bit(dtype, width):
    # TensorFlow splits a row longer than 1024 packets in halves (tests/test_hinge.py); the
    # fused sum walks the same tree. Soft labels: every product counts, so any other adding
    # order would show in the bits. (8193 is not a multiple of a packet: declined, numpy's.)
    rng = np.random.default_rng(width)
    y = rng.uniform(-1, 1, (6, width)).astype(dtype)
    p = rng.standard_normal((6, width)).astype(dtype)
    numpy_values, fused_values = _both(lossbounds.categorical_hinge, y, p)
    np.testing.assert_array_equal(fused_values, numpy_values)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 2, 10, 31, 32, 33, 47, 100, 1000])
def test_categorical_hinge_rows_narrow_and_wide_bit_for_bit(dtype, width):
    # Rows below 32 classes take the max in one loop, longer rows in lanes: each row's
    # largest (1 - y) x p sits first, last, in a lane's tail or in the middle, and rows
    # with a NaN score, or an inf one (0 x inf where y = 1), give NaN as np.max does
    rng = np.random.default_rng(width)
    rows = 12
    y = rng.uniform(-1, 1, (rows, width)).astype(dtype)
    p = rng.standard_normal((rows, width)).astype(dtype)
    for r, k in enumerate([0, width - 1, width // 2, max(0, width - 3)]):
        y[r, k], p[r, k] = 0, 50  # the row's largest (1 - y) x p
    y[4:7, width // 3] = 0
    p[4, width // 3], p[5, width // 3], p[6, width // 3] = np.nan, np.inf, -np.inf
    y[7, width - 1], p[7, width - 1] = 1, np.inf  # (1 - 1) x inf: NaN
    p[8, width - 1] = np.nan  # last of the row (in a lane's tail where rows are long)
    numpy_values, fused_values = _both(lossbounds.categorical_hinge, y, p)
    np.testing.assert_array_equal(fused_values, numpy_values)
    assert np.isnan(fused_values[[4, 5, 7, 8]]).all() and np.isfinite(fused_values[:4]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 2, 3, 8, 10, 16, 31])
def test_categorical_hinge_one_hot_rows_bit_for_bit(dtype, width):
    # Rows below 32 classes with at most one nonzero label x score take it as their sum (zeros
    # add exactly in any order); rows with more take Eigen's order, which products b, 1, -b
    # at 0, 1 and 4 show (b = 2 / eps): Eigen adds lanes 0 and 4 first, (b - b) + 1 = 1, so
    # the margin is 0 - 1 + 1 = 0; in order, b + 1 rounds to b and the margin would be 1.
    # One-hot rows (scaled), rows of zeros, and a target score of NaN, inf or -0.0.
    rng = np.random.default_rng(width)
    rows = 300
    y = np.eye(width, dtype=dtype)[rng.integers(0, width, rows)]
    y *= rng.uniform(-1, 1, (rows, 1)).astype(dtype)
    p = (10 * rng.standard_normal((rows, width))).astype(dtype)
    y[10] = 0
    y[11] = rng.uniform(-1, 1, width)
    for row, score in zip((12, 13, 14), (np.nan, np.inf, -0.0)):
        p[row, np.flatnonzero(y[row])] = score
    if width >= 8:  # (two packets of float64, one of float32)
        big = 2 / np.finfo(dtype).eps
        y[15], p[15] = 0, 0
        y[15, [0, 1, 4]], p[15, [0, 1, 4]] = 1, [big, 1, -big]
    numpy_values, fused_values = _both(lossbounds.categorical_hinge, y, p)
    np.testing.assert_array_equal(fused_values, numpy_values)
    assert np.isnan(fused_values[12]) and not np.isnan(fused_values[[10, 11, 14]]).any()
    assert width < 8 or fused_values[15] == 0


@pytest.mark.filterwarnings("ignore:categorical_crossentropy with a single class")
@pytest.mark.parametrize("width", [1, 2, 3, 7, 8, 10, 15, 16, 17])
@pytest.mark.parametrize("scale", [6.0, 6e3])
@pytest.mark.parametrize("one_hot", [False, True])
def test_narrow_float32_logits_rows_against_float64(width, scale, one_hot):
    # Float32 rows of up to 16 classes sum their exps in one masked vector register, 16
    # rows at a time and the last rows of a chunk one by one (and one-hot rows find their
    # target in another). Rows end the array and each chunk of rows, so a load that read
    # past a row would add the next row's exps (or see a second target), and a group's
    # sums stored to the wrong rows would move every value. Against log-sum-exp in float64
    # (u = 2**-24): logits of a few units take the unshifted sum (exps 1 ulp, the sum's
    # tree 4 u: log(sum) within 6 u, then the value's rounding), a third of the rows with
    # their target 8-30 above the rest, so most chunks mix rows whose target's exp is
    # nearly their sum with others; large ones are shifted by the row's max as TensorFlow
    # shifts them (the float32 shift rounds z_c - max, and TensorFlow's log of the sum in
    # [1, K] is within 4.3 ulp). The reduced loss adds the unrounded values, one log for
    # four rows of unshifted sums: within the mean of the bounds.
    from scipy.special import logsumexp

    rng = np.random.default_rng(width)
    rows = 3 * 4096 // width + 5
    z = (rng.standard_normal((rows, width)) * scale).astype(np.float32)
    labels = rng.integers(0, width, rows)
    if scale < 100:
        boosted = rng.random(rows) < 1 / 3
        z[boosted, labels[boosted]] += rng.uniform(8, 30, np.count_nonzero(boosted)).astype(np.float32)
    wide = z.astype(np.float64)
    target = wide[np.arange(rows), labels]
    exact = logsumexp(wide, axis=1) - target
    name = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    y_true = np.eye(width, dtype=np.float32)[labels] if one_hot else labels
    _, fused_values = _both(getattr(lossbounds, name), y_true, z, from_logits=True)
    answers = _fused_answers(lossbounds.loss, name, y_true, z, from_logits=True)
    assert answers and all(answers)  # (not declined: the rows are one-hot, the labels in range)
    u = 2.0**-24
    if scale < 100:
        bound = 8 * u + u * np.abs(exact)
    else:
        bound = 8 * u + 9 * u * np.log(width) + u * np.abs(target - wide.max(axis=1)) \
            + u * np.abs(exact)
    assert np.all(np.abs(fused_values - exact) <= bound), np.max(np.abs(fused_values - exact) / bound)
    _, fused_loss = _both(lossbounds.loss, name, y_true, z, from_logits=True)
    assert abs(fused_loss - exact.mean()) <= bound.mean() + u * exact.mean()


@pytest.mark.parametrize("width", range(1, 17))
def test_sixteen_narrow_rows_sum_as_one_row_does(width):
    # `_vector_rows_sums` adds 16 rows' lanes in one tree of shuffles: each row's sum is
    # the one `_vector_row_sum` takes, bit for bit (exps of logits 10 apart, whose sums
    # round differently in any other order), wherever the 16 rows start.
    rows_sums, row_sum = crossentropy_fused._vector_rows_sums(), crossentropy_fused._vector_row_sum()

    def both(values, start, width, grouped, single):
        rows_sums(values, start, width, grouped, 0)
        for r in range(16):
            single[r] = row_sum(values, start + r * width, width)

    both = fused.compile(both)
    rng = np.random.default_rng(width)
    values = np.exp(rng.standard_normal(16 * width + 7) * 10).astype(np.float32)
    values[rng.integers(0, values.size, 3)] = [np.inf, np.nan, 0.0]
    for start in (0, 7):  # (as far into the array as the rows allow)
        grouped, single = np.full(16, -1.0), np.full(16, -2.0)
        both(values, start, width, grouped, single)
        np.testing.assert_array_equal(grouped, single)
        exact = values[start : start + 16 * width].astype(np.float64).reshape(16, width).sum(axis=1)
        with np.errstate(invalid="ignore"):
            assert np.all((np.abs(grouped - exact) <= 4 * 2.0**-24 * exact) | np.isnan(exact)
                          | (np.isinf(exact) & (grouped == exact)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 2, 3, 7, 10, 15, 16, 17, 40, 1000])
def test_probability_rows_clip_every_value(dtype, width):
    # Sparse CCE on probabilities clips every value to [eps, 1 - eps], then takes
    # log(sum_k clip(p_k) / clip(p_c)). Each row's smallest value is replaced by one far out
    # of range (negative, 0, above 1, infinite; the target for a third of the rows), so an
    # unclipped value would move the sum by up to its whole size. Float32 rows of up to 16
    # values are clipped and summed in one masked vector register: rows end the array and
    # each chunk of rows, so a load past a row would add the next row's values. Against
    # float64 (u: the dtype's unit roundoff): the sum's, the division's and the log's
    # roundings.
    rng = np.random.default_rng(width)
    rows = 3 * 4096 // width + 5
    p = rng.dirichlet(np.ones(width), rows)
    smallest = np.argmin(p, axis=1)
    far = np.array([-0.3, 0.0, 1e-30, -np.inf, 3.0, np.inf])
    p[np.arange(rows), smallest] = far[rng.integers(0 if width > 1 else 4, far.size, rows)]
    p = p.astype(dtype)
    labels = np.where(np.arange(rows) % 3 == 0, smallest, rng.integers(0, width, rows))
    low, high = np.float64(dtype(1e-7)), np.float64(dtype(1 - 1e-7))
    clipped = np.clip(p.astype(np.float64), low, high)
    exact = np.log(clipped.sum(axis=1) / clipped[np.arange(rows), labels])
    _, fused_values = _both(lossbounds.sparse_categorical_crossentropy, labels, p)
    answers = _fused_answers(lossbounds.loss, "sparse_categorical_crossentropy", labels, p)
    assert answers and all(answers)  # (not declined: every clipped sum lies in [1/2, 2])
    u = np.finfo(dtype).eps / 2
    error = np.abs(fused_values - exact)
    assert np.all(error <= 4 * u + 2 * u * np.abs(exact)), np.max(error / (u + u * np.abs(exact)))


@pytest.mark.filterwarnings("ignore:categorical_crossentropy with a single class")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 3, 10, 16, 17, 40, 200])
@pytest.mark.parametrize("one_hot", [False, True])
def test_logits_rows_whose_target_dominates(dtype, width, one_hot):
    # A well-trained classifier: each row's target logit 8-30 above the others, so its
    # exp is nearly the whole sum and the loss log(1 + sum_j e^(z_j - z_c)) is tiny.
    # Computed as log(sum) - z_c, the rounding of exp(z_c) alone (up to 1.2e-7 in float32)
    # would be most of the value, or make it negative (a mean loss of -6.6e-10 with one
    # class); TensorFlow's shifted formula is never negative. Against float64
    # log-sum-exp: never negative, 0 for one class, within the float32 sum's rounding.
    from scipy.special import log1p, logsumexp

    rng = np.random.default_rng(width)
    rows = 4000
    z = rng.standard_normal((rows, width)).astype(dtype)
    labels = rng.integers(0, width, rows)
    z[np.arange(rows), labels] += rng.uniform(8, 30, rows).astype(dtype)
    wide = z.astype(np.float64)
    target = wide[np.arange(rows), labels]
    others = np.where(np.arange(width) == labels[:, None], -np.inf, wide)
    exact = log1p(np.exp(logsumexp(others, axis=1) - target)) if width > 1 else np.zeros(rows)
    y_true = np.eye(width, dtype=dtype)[labels] if one_hot else labels
    name = "categorical_crossentropy" if one_hot else "sparse_categorical_crossentropy"
    _, fused_values = _both(getattr(lossbounds, name), y_true, z, from_logits=True)
    u = 2.0**-24 if dtype == np.float32 else 2.0**-53
    assert np.all(fused_values >= 0)
    if width == 1:
        assert np.all(fused_values == 0)
    # the sum's rounding (4 u of it in float32 vectors, less elsewhere), exps' (2 ulp of
    # the other terms, relative), the value's own rounding, and the float64 logs' (1 ulp
    # each of logs near z_c)
    bound = 4 * u + 5 * u * exact + 4 * 2.0**-53 * (np.abs(target) + 1)
    assert np.all(np.abs(fused_values - exact) <= bound), np.max(np.abs(fused_values - exact) / bound)
    _, fused_loss = _both(lossbounds.loss, name, y_true, z, from_logits=True,
                          dtype=np.dtype(dtype).name)
    assert fused_loss >= 0 and (width > 1 or fused_loss == 0)
    assert abs(fused_loss - exact.mean()) <= bound.mean() + u * exact.mean()


def test_small_inputs_take_numpy_and_do_not_compile():
    # Compiling costs seconds, loading a compiled kernel tens of milliseconds a process;
    # numpy takes milliseconds below MIN_ELEMENTS
    code = ("import sys, numpy as np, lossbounds\n"
            "lossbounds.loss('mse', np.zeros((1000, 3)), np.ones((1000, 3)))\n"
            "print('numba' in sys.modules)")
    env = dict(os.environ, LOSSBOUNDS_ACCELERATOR="on")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"
    env["LOSSBOUNDS_ACCELERATOR"] = "always"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "True"


def test_a_reordered_sum_is_not_inlined():
    # numba would compile an inlined body with its caller's flags: the reordering would be
    # lost, or spread to the caller's float operations
    def total(values):
        return values.sum()

    with pytest.raises(ValueError, match="reassociate=True needs inline=False"):
        fused.compile(total, inline=True, reassociate=True)
    assert fused.compile(total, reassociate=True)(np.arange(40.0)) == 780.0


def test_kernels_use_the_widest_vectors():
    # LLVM's default for Intel CPUs with AVX-512 is 256-bit vectors; every compiled function
    # (a kernel or a helper it calls) asks for 512, as numpy's own loops use (and the
    # reordered sums, compiled with other flags, too). Where the CPU has AVX-512, the
    # machine code then uses its 512-bit registers.
    def total(values):
        acc = np.zeros(16, np.float32)
        for i in range(0, values.size - 15, 16):
            for j in range(16):
                acc[j] += values[i + j] * values[i + j]
        return acc

    from numba.core.caching import NullCache

    for options in ({}, {"reassociate": True}):
        compiled = fused.compile(total, **options)
        compiled._cache = NullCache()  # (numba cannot show the code of a function it loads)
        values = np.arange(64, dtype=np.float32)
        np.testing.assert_array_equal(compiled(values), (values * values).reshape(4, 16).sum(0))
        (llvm,) = compiled.inspect_llvm().values()
        kernel = next(line for line in llvm.splitlines()
                      if line.startswith("define") and "cpython" not in line)
        group = re.search(r"#(\d+) \{$", kernel)  # the function's attribute group, if any
        assert group, f"no attributes on {kernel}"
        assert f'attributes #{group.group(1)} = {{ "prefer-vector-width"="512"' in llvm
        if "avx512f" in _tfmath._cpu_flags():
            (assembly,) = compiled.inspect_asm().values()
            assert "zmm" in assembly


def test_prefetch_reads_ahead_and_changes_no_value():
    # `fused.prefetch` is a hint for the cache line of an element, however far past the
    # array's end (it never faults): a loop with it gives the loop's values, and its machine
    # code has the x86 instruction where the machine is x86.
    fetch = fused.prefetch()

    def total(values, ahead):
        acc = 0.0
        for i in range(values.size):
            fetch(values, i + ahead)
            acc += values[i]
        return acc

    from numba.core.caching import NullCache

    compiled = fused.compile(total)
    compiled._cache = NullCache()  # (numba cannot show the code of a function it loads)
    values = np.arange(1000, dtype=np.float32)
    for ahead in (0, 1024, 10**12, -(10**12)):
        assert compiled(values, ahead) == 499500.0
    if "sse2" in _tfmath._cpu_flags():  # (x86)
        (assembly,) = compiled.inspect_asm().values()
        assert "prefetcht0" in assembly


_CACHED_RUN = """
import json, numpy as np, lossbounds
from lossbounds.families import crossentropy_fused, regression
rng = np.random.default_rng(0)
labels, logits = rng.integers(0, 10, 300), rng.standard_normal((300, 10), dtype=np.float32)
values = [lossbounds.loss("sparse_categorical_crossentropy", labels, logits, from_logits=True),
          lossbounds.loss("log_cosh", logits, logits[::-1])]
kernels = [crossentropy_fused.FUSED_SPARSE._kernels[np.dtype(np.float32)],
           regression._LOG_COSH_FUSED._kernels[np.dtype(np.float32)]]
print(json.dumps({"values": values,
                  "hits": [sum(kernel.stats.cache_hits.values()) for kernel in kernels],
                  "misses": [sum(kernel.stats.cache_misses.values()) for kernel in kernels]}))
"""


def test_kernels_compile_once_a_machine(tmp_path):
    # The kernels are closures, which numba's own cache key never finds again (it pickles
    # the compiled helpers they capture, with a random id): compiled in one process, they
    # must load from the disk cache in the next, with the same values.
    env = dict(os.environ, LOSSBOUNDS_ACCELERATOR="always", NUMBA_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", _CACHED_RUN], env=env,
                                      capture_output=True, text=True, check=True).stdout)
            for _ in range(2)]
    assert runs[0]["misses"] == [1, 1] and runs[0]["hits"] == [0, 0]
    assert runs[1]["misses"] == [0, 0] and runs[1]["hits"] == [1, 1]
    assert runs[1]["values"] == runs[0]["values"]


def test_a_cache_key_tells_kernels_apart():
    from lossbounds.families import crossentropy_fused

    kernels = [crossentropy_fused._logits_kernel(np.dtype(dtype), one_hot)
               for dtype in (np.float32, np.float64) for one_hot in (False, True)]
    keys = {fused._identity(kernel.py_func) for kernel in kernels}
    assert len(keys) == 4 and None not in keys
    assert fused._identity(float("nan")) != fused._identity(np.float32("nan"))

    def opaque():  # captures a value with no identity across processes: not cached
        return marker

    def counted():
        return count

    def early():  # reads a variable assigned after it is compiled
        return later

    marker, count = object(), 3
    assert fused._identity(opaque) is None and fused._identity(counted) is not None
    assert fused._identity(early) is None
    later = 1  # noqa: F841
    assert not isinstance(fused.compile(opaque)._cache, fused._closure_cache())
    assert isinstance(fused.compile(counted)._cache, fused._closure_cache())


@pytest.mark.parametrize("k", [10, 1000])
def test_a_minus_inf_logit_with_one_hot_targets_is_nan(k):
    # TensorFlow's one-hot sum takes 0 * -inf at the -inf logit: NaN (the fused kernel
    # declines such a block; it used to return a finite value on narrow rows)
    y = np.eye(k, dtype=np.float32)[np.arange(600) % k]
    z = np.random.default_rng(k).standard_normal((600, k)).astype(np.float32)
    z[5, (5 % k) + 1] = -np.inf
    numpy_loss, fused_loss = _both(lossbounds.loss, "categorical_crossentropy", y, z,
                                   from_logits=True)
    assert np.isnan(numpy_loss) and np.isnan(fused_loss)


def test_binary_crossentropy_sums_logs_of_products_within_tensorflows_log_error():
    # Without stored values, BCE on probabilities adds one log of 32 probabilities' product
    # for 32 of TensorFlow's float32 logs (`crossentropy_fused._log_products`). The sums
    # differ by TensorFlow's log's error at most: 2.55e-7 relative at its worst, q = 0.70730275
    # (found by comparing it with the float64 log over every float32 in [2**-24, 1)), plus the
    # rounding of each result to float32.
    n = 300_000
    y = (np.arange(n) % 2).astype(np.float32).reshape(n, 1)
    p = np.where(y == 1, np.float32(0.70730275), np.float32(1) - np.float32(0.70730275))
    numpy_loss, fused_loss = _both(lossbounds.loss, "binary_crossentropy", y, p)
    assert numpy_loss != fused_loss  # TensorFlow's log is off here: the sums differ...
    assert abs(fused_loss - numpy_loss) <= (2.55e-7 + 2 * 2.0**-24) * numpy_loss  # ...this little


def test_binary_crossentropy_products_that_would_underflow():
    # float64 probabilities clipped at 1e-12: 32 of them multiply to 1e-384, below float64's
    # range, and the kernel sums that block term by term (a product of 0 would make the loss
    # inf). In float32 a clip bound this small leaves 1 - epsilon at 1: numpy's kernel runs.
    y = np.ones((70_000, 1))
    p = np.zeros((70_000, 1))
    p[::7] = 0.5
    numpy_loss, fused_loss = _both(lossbounds.loss, "binary_crossentropy", y, p, epsilon=1e-12,
                                   dtype="float64")
    assert_close(fused_loss, np.asarray(numpy_loss), check_dtype=False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
def test_weighted_sums_against_exact_sums(dtype, size):
    # Each product rounded to the dtype (Keras multiplies the losses by the weights in it), a
    # subnormal weight read as 0 (TensorFlow flushes it), the sums exact: math.fsum of each
    # product, computed here one by one in Python
    rng = np.random.default_rng(size)
    tiny = np.finfo(dtype).tiny
    values = (rng.random(size) * 10).astype(dtype)
    weights = rng.choice(np.array([0.0, 1.0, -2.5, 3.0, tiny / 4, -tiny / 2, tiny, 1e-3],
                                  dtype), size) * dtype(rng.random(size) + 0.5)
    flushed = [0.0 if abs(w) < tiny else float(w) for w in weights]
    products = [float(dtype(v) * dtype(w)) for v, w in zip(values, flushed)]
    total, weight_total = fused.weighted_sums()(values, weights, dtype(tiny))
    assert (total, weight_total) == pytest.approx((math.fsum(products), math.fsum(flushed)),
                                                  rel=1e-14, abs=1e-300)
    subnormal = np.full(size, tiny / 2, dtype)  # alone, where their flush shows
    assert fused.weighted_sums()(values, subnormal, dtype(tiny)) == (0.0, 0.0)
    if size:
        weights[-1] = np.nan
        assert all(map(math.isnan, fused.weighted_sums()(values, weights, dtype(tiny))))


def _same_float(value, expected):
    expected = float(expected)
    assert type(value) is float
    assert (math.isnan(value) and math.isnan(expected)) or (
        value == expected and math.copysign(1, value) == math.copysign(1, expected)), (value, expected)


_FLOAT32_EDGES = [float(np.finfo(np.float32).max), 3.4028235677973366e38, 3.4028236e38, 1e39,
                  float(np.finfo(np.float32).tiny), 1e-45, 7e-46, 1e-46, 0.0, -0.0, math.inf,
                  math.nan, 16777217.0, 1e8 + 3]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.floats(), st.sampled_from(_FLOAT32_EDGES),
                 st.sampled_from(_FLOAT32_EDGES).map(lambda x: -x)))
def test_reduced_sums_round_to_float32_as_numpy_does(value):
    # stream_reduce rounds its float64 sums to float32 without numpy's scalars (struct's
    # rounding): to the bit numpy's, inf beyond float32's range
    with np.errstate(over="ignore"):
        expected = np.float32(value)
    _same_float(engine._in_dtype(value, SimpleNamespace(dtype=np.dtype(np.float32))), expected)
    _same_float(engine._in_dtype(value, SimpleNamespace(dtype=np.dtype(np.float64))), value)


@settings(max_examples=300, deadline=None)
@given(*[st.one_of(st.floats(width=32), st.sampled_from(_FLOAT32_EDGES[:1] + _FLOAT32_EDGES[4:]))
         for _ in range(2)])
def test_reduced_means_divide_as_float32(total, divisor):
    # ...and divides them in Python floats, rounding the float64 quotient to float32: that is
    # float32's own quotient (53 >= 2 * 24 + 2 bits), computed here by numpy
    total, divisor = (float(np.float32(x)) for x in (total, divisor))
    if divisor != 0:
        with np.errstate(all="ignore"):
            expected = np.float32(total) / np.float32(divisor)
        job = SimpleNamespace(dtype=np.dtype(np.float32))
        _same_float(engine._in_dtype(total / divisor, job), expected)


@pytest.mark.parametrize(("name", "options", "weighted"), [
    ("mse", {}, True), ("bce", {}, True), ("sparse_cce", {"ignore_class": 2}, False),
    ("sparse_cce", {"ignore_class": 2, "from_logits": True}, True)])
def test_weighted_and_masked_losses_take_one_pass(name, options, weighted):
    # A weighted (or ignore_class-masked) reduced loss on the accelerator: the fused kernel's
    # values, then one compiled pass over them and the weights (not numpy's flush, multiply
    # and sums). Weights read in place go with the inputs to the weighted kernel, which
    # computes a chunk of values in cache and sums them with their weights (`Fused.weighted`);
    # masked losses store a block's values and then sum them (`engine.weighted_sums`).
    rng = np.random.default_rng(0)
    n = 5000
    if name == "mse":
        y, p = rng.random((n, 1), np.float32), rng.random((n, 1), np.float32)
    elif name == "bce":  # (its kernel is Python choosing a compiled one: `stored` gives it)
        y, p = rng.integers(0, 2, (n, 1)).astype(np.float32), rng.random((n, 1), np.float32)
    else:
        y, p = rng.integers(0, 5, n), rng.random((n, 5), np.float32)
    weight = rng.random(n).astype(np.float32) if weighted else None
    if weighted:
        weight[::100] = 1e-40  # subnormal: read as 0
    calls = []
    compiled = fused.weighted_sums()

    def counted(*args):
        calls.append(args[0].size)
        return compiled(*args)

    driven = []
    make_weighted = fused.Fused.weighted

    def weighted_kernel(self, job):
        kernel = make_weighted(self, job)
        if kernel is None:
            return None

        def counted_rows(y_true, y_pred, weights):
            driven.append(weights.size)
            return kernel(y_true, y_pred, weights)

        return counted_rows

    with mock.patch.object(engine, "weighted_sums", lambda: counted), \
            mock.patch.object(fused.Fused, "weighted", weighted_kernel):  # (numpy's calls neither)
        for reduction in ("sum_over_batch_size", "sum", "mean_with_sample_weight"):
            numpy_loss, fused_loss = _both(lossbounds.loss, name, y, p, sample_weight=weight,
                                           reduction=reduction, **options)
            assert fused_loss == pytest.approx(numpy_loss, rel=2e-7)
    in_place = weighted and "ignore_class" not in options
    assert (sum(driven), sum(calls)) == ((3 * n, 0) if in_place else (0, 3 * n))


@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])  # (NumPy's are JAX's)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("k", [2, 10, 100, 250])  # (100: narrow rows, 250: in lanes)
@pytest.mark.parametrize("label_dtype", [np.int64, np.int32, np.uint8])
def test_fused_kernels_check_the_labels_they_read(backend, from_logits, k, label_dtype):
    # The fused sparse kernels read the labels unread (`LabelReader.unread`): a label outside
    # [0, K) must make them decline, so that the numpy kernel raises its error; in range,
    # any integer dtype gives numpy's value. Long blocks (`Job.fused_rows`) too.
    rng = np.random.default_rng(k)
    p = rng.random((40_000, k)).astype(np.float32)
    if not from_logits:
        p /= p.sum(axis=1, keepdims=True)
    labels = rng.integers(0, k, 40_000).astype(label_dtype)
    options = {"from_logits": from_logits, "backend": backend}
    numpy_loss, fused_loss = _both(lossbounds.loss, "sparse_categorical_crossentropy", labels, p,
                                   **options)
    assert_close(fused_loss, np.asarray(numpy_loss), check_dtype=False, rtol=4e-6)
    assert _fused_answers(lossbounds.loss, "sparse_categorical_crossentropy", labels, p,
                          **options)
    bad = [k, 255] if label_dtype == np.uint8 else [k, -1, 2**40 if label_dtype == np.int64 else -7]
    for label in bad:
        wrong = labels.copy()
        wrong[31_337] = label
        with accelerator(True), mock.patch.object(engine, "_FUSED_BLOCK_ELEMENTS", 2**15), \
                pytest.raises(ValueError, match=rf"label {label} in `y_true` lies outside \[0, {k}\)"):
            lossbounds.loss("sparse_categorical_crossentropy", wrong, p, **options)
        with accelerator(True), pytest.raises(ValueError, match=rf"label {label} in `y_true`"):
            lossbounds.sparse_categorical_crossentropy(wrong, p, **options)


@pytest.mark.parametrize("k", [10, 131, 4_099])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize(("name", "row"), [
    *(("categorical_crossentropy", row) for row in ("two targets", "no target", "inf target",
                                                    "nan target", "negative target")),
    # (focal cross-entropy refuses targets outside [0, 1], either way: test_focal.py)
    *(("categorical_focal_crossentropy", row) for row in ("two targets", "no target",
                                                          "nan target"))])
def test_categorical_rows_that_are_not_one_hot(k, from_logits, name, row):
    # The fused categorical kernels take one-hot rows only (each finds its one nonzero target):
    # a block with any other row is declined, and numpy's kernel gives TensorFlow's value
    rng = np.random.default_rng(k)
    n = max(40, 2**17 // k)  # many chunks of narrow rows; the odd row is not in the first
    y = np.eye(k, dtype=np.float32)[rng.integers(0, k, n)]
    p = rng.random((n, k)).astype(np.float32)
    if not from_logits:
        p /= p.sum(axis=1, keepdims=True)
    odd = n // 3
    y[odd] = 0.0
    if row == "two targets":
        y[odd, [1, k - 1]] = [0.25, 0.75]
    elif row != "no target":
        y[odd, k // 2] = {"inf target": np.inf, "nan target": np.nan, "negative target": -1.0}[row]
    numpy_values, fused_values = _both(getattr(lossbounds, name), y, p, from_logits=from_logits)
    assert_close(fused_values, numpy_values)
    numpy_loss, fused_loss = _both(lossbounds.loss, name, y, p, from_logits=from_logits)
    assert_close(fused_loss, np.asarray(numpy_loss, np.float64), check_dtype=False, rtol=4e-6)


def _sparse_probabilities_with_a_declined_row(rng):
    p = rng.random((4000, 16)).astype(np.float32)
    p /= p.sum(axis=1, keepdims=True)
    p[2222] *= 0.3  # a row summing to 0.3: the fused kernel declines its block
    return rng.integers(0, 16, 4000), p, {}


def _log_cosh_with_a_scalar_tail(rng):
    # 8003 x 3 elements: TensorFlow's log takes the last 24009 % 8 one by one, which
    # only the numpy kernel models, so the fused kernel leaves the last block to it
    return (rng.standard_normal((8003, 3)).astype(np.float32),
            rng.standard_normal((8003, 3)).astype(np.float32), {})


def _mse_accepted(rng):
    return (rng.standard_normal((30001, 1)).astype(np.float32),
            rng.standard_normal((30001, 1)).astype(np.float32), {})


@pytest.mark.parametrize(("name", "make", "declined"), [
    ("sparse_categorical_crossentropy", _sparse_probabilities_with_a_declined_row, True),
    ("log_cosh", _log_cosh_with_a_scalar_tail, True),
    ("mean_squared_error", _mse_accepted, False),
])
def test_long_fused_blocks_and_their_fallback(name, make, declined):
    # An unweighted loss() runs the fused kernel on long blocks (`Job.fused_blocks`,
    # `engine.run_fused`); a block it declines is redone a block of `block_rows` at a time
    # (`_evaluate`, which runs for nothing else there). Small blocks here, so that a
    # test-sized input makes several long blocks.
    y, p, options = make(np.random.default_rng(7))
    with accelerator(False):
        expected = lossbounds.loss(name, y, p, **options)
    with accelerator(True), _small_fused_blocks(), \
            mock.patch.object(engine, "run_fused", wraps=engine.run_fused) as run_fused, \
            mock.patch.object(engine, "_evaluate", wraps=engine._evaluate) as evaluate:
        value = lossbounds.loss(name, y, p, **options)
        (job, _), = [call.args for call in run_fused.call_args_list]
        sizes = _fused_block_sizes(job)
    assert len(sizes) >= 4
    redone = [call.args[2] - call.args[1] for call in evaluate.call_args_list]
    assert bool(redone) == declined
    assert all(0 < span <= job.block_rows < sizes[0] for span in redone)
    assert_close(value, np.asarray(expected, np.float32), context=name)


def _small_fused_blocks():
    """Blocks of at most 2**13 elements for the fused kernels, shrinking to 2**11 (numpy's: 2**10)."""
    return mock.patch.multiple(engine, _BLOCK_ELEMENTS=2**10, _FUSED_BLOCK_ELEMENTS=2**13,
                               _FUSED_TAIL_ELEMENTS=2**11)


def _fused_block_sizes(job):
    """A job's fused blocks' sizes, checked: guided (OpenMP's schedule) for `engine._THREADS`.

    Call it under the patches that made the job (it reads the engine's block sizes)."""
    starts = job.fused_blocks
    sizes = np.diff(starts)
    assert starts[0] == 0 and starts[-1] == job.n_rows and np.all(sizes > 0)
    # whole blocks of `block_rows` (so whole packets), but the last
    assert np.all(sizes[:-1] % job.block_rows == 0)
    least = -(-max(engine._FUSED_TAIL_ELEMENTS // job.width, 1) // job.block_rows) * job.block_rows
    most = max(job.block_rows, engine._FUSED_BLOCK_ELEMENTS // job.width)
    most += -most % job.block_rows
    for start, size in zip(starts, sizes):
        left = job.n_rows - start
        # a 1 / (2 * threads) share of the rows left, rounded up to `block_rows`...
        share = -(-(left // (2 * engine._THREADS)) // job.block_rows) * job.block_rows
        # ...within the bounds: the threads end within a short block of each other
        assert size == min(left, max(least, min(share, most))), (start, size, left)
    return sizes


@pytest.mark.parametrize("threads", [1, 2])
@settings(max_examples=60, deadline=None)
@given(shape=st.sampled_from([1, 3, 7, 16, 100, 1000, 5000]).flatmap(
    lambda width: st.tuples(st.integers(1, 400_000 // width), st.just(width))))
def test_fused_blocks_shrink_toward_the_end(threads, shape):
    # A thread that starts late, or runs slow, takes fewer blocks; the last are short. In
    # equal halves, on a virtual machine, one thread of an MSE on 1e7 values ended up to
    # 1.6 ms after the other.
    rows, width = shape  # (up to 400,000 values: about 50 of the blocks patched in)
    rng = np.random.default_rng(rows)
    y = rng.standard_normal((rows, width)).astype(np.float32)
    p = rng.standard_normal((rows, width)).astype(np.float32)
    with accelerator(True), _small_fused_blocks(), mock.patch.object(engine, "_THREADS", threads), \
            mock.patch.object(engine, "run_fused", wraps=engine.run_fused) as run_fused:
        value = lossbounds.loss("mean_squared_error", y, p)
        (job, _), = [call.args for call in run_fused.call_args_list]
        sizes = _fused_block_sizes(job)
        if rows * width >= 4 * threads * engine._FUSED_BLOCK_ELEMENTS and width <= 16:
            # long blocks first, then shorter, down to about `_FUSED_TAIL_ELEMENTS`
            most, least = (engine._FUSED_BLOCK_ELEMENTS // width,
                           engine._FUSED_TAIL_ELEMENTS // width)
            assert most <= sizes[0] < most + job.block_rows  # (in whole `block_rows`)
            assert least <= sizes[-2] <= least + job.block_rows
    expected = math.fsum(((y.astype(np.float64) - p) ** 2).mean(axis=1).tolist()) / rows
    assert value == pytest.approx(expected, rel=2e-6)


def _ctc_inputs(rng, n, frames, k, width, special):
    """CTC labels (N, width), padded with the blank 0, and float32 logits (N, frames, k),
    with one kind of special entry in some of the samples."""
    labels = rng.integers(1, k, (n, width))
    lengths = rng.integers(0, width + 1, n)
    labels[np.arange(width)[None, :] >= lengths[:, None]] = 0
    logits = (rng.standard_normal((n, frames, k)) * 3).astype(np.float32)
    some = rng.random(n) < 0.5  # the samples that get the special entry
    t, c = rng.integers(0, frames, n), rng.integers(0, k, n)
    rows = np.flatnonzero(some)
    if special in ("nan", "inf", "-inf"):
        logits[rows, t[rows], c[rows]] = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf}[special]
    elif special == "-inf on its label":
        # the only non-finite log-probability of its frame, read by every position
        labels[rows] = 1
        logits[rows, t[rows], 1] = -np.inf
    elif special == "-inf on the blank":  # the empty label reads the blank everywhere
        labels[rows] = 0
        logits[rows, t[rows], 0] = -np.inf
    elif special == "repeats":  # a label that needs a blank between equal neighbours
        labels[rows] = labels[rows, :1]
        labels[rows, 0] = np.maximum(labels[rows, 0], 1)
    elif special == "too long":  # more labels than frames: TensorFlow's ln(1e-307) stand-in
        labels[rows] = rng.integers(1, k, (rows.size, width))
    elif special == "huge logits":
        logits[rows] *= np.float32(1e4)
    return labels, logits


@pytest.mark.parametrize(("n", "frames", "k", "width"), [
    (1, 1, 2, 1), (31, 8, 5, 3), (33, 2, 3, 4), (70, 50, 30, 10), (9, 3, 4099, 6),
    (5, 1000, 5, 3), (12, 300, 40, 20)])  # (the last three: several chunks of frames)
@pytest.mark.parametrize("special", [None, "nan", "inf", "-inf", "-inf on its label",
                                     "-inf on the blank", "repeats", "too long", "huge logits"])
@pytest.mark.parametrize("backend", ["tensorflow", "jax", "torch"])  # (NumPy's is JAX's)
def test_ctc_fused_pass_equals_numpy(n, frames, k, width, special, backend):
    # Each backend's compiled pass (`sequence._fused_ctc`) against its numpy reference,
    # sample by sample: the log-probabilities are within an ulp or two of numpy's; the
    # backward pass is TensorFlow's float64 arithmetic, NaN where numpy's is NaN. JAX's and
    # torch's references add in float32, as those backends do, and the compiled passes in
    # float64: over 1000 frames of huge logits their roundings reach 1e-6 of the value
    # (36e6 +- 36), within Keras' own 1e-5 for CTC (tests/compare.py).
    labels, logits = _ctc_inputs(np.random.default_rng(n * frames + k), n, frames, k, width,
                                 special)
    rtol = 1e-6 if backend == "tensorflow" else 1e-5
    ran = []
    fused_ctc = sequence._fused_ctc

    def recording(*args):
        values = fused_ctc(*args)
        ran.append(values is not None)
        return values

    with mock.patch.object(sequence, "_fused_ctc", recording):
        numpy_values, fused_values = _both(lossbounds.loss, "ctc", labels, logits,
                                           reduction="none", backend=backend)
    assert ran == [False, True]  # the accelerator off, then on
    assert_close(fused_values, numpy_values, context=f"{special} {logits.shape}", rtol=rtol)
    for dtype in (np.float64, np.float16):  # Keras computes float32 either way
        with np.errstate(over="ignore"):  # (1e4 times a logit is inf in float16)
            cast = logits.astype(dtype)
        numpy_values, fused_values = _both(lossbounds.loss, "ctc", labels, cast, reduction="none",
                                           backend=backend)
        assert_close(fused_values, numpy_values, context=f"{special} {dtype.__name__}", rtol=rtol)


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(300, 7), (5000, 1), (3, 4099)])
@pytest.mark.parametrize("epsilon", [1e-7, 1e-50])
def test_binary_crossentropy_off_tensorflow_fused_equals_numpy(backend, from_logits,
                                                               label_smoothing, dtype, shape,
                                                               epsilon):
    # JAX's, PyTorch's and NumPy's binary cross-entropy have fused kernels of their own
    # (`crossentropy_fused.FUSED_BINARY_ON`): each element's cost as that backend computes
    # it, with TensorFlow's log, exp and log1p (an ulp from theirs), hard and soft
    # targets, the exact edges of each kind of input, NaN, and a clip at 1e-50 (PyTorch's
    # float64 function then reaches its costs' clamp at 100; in float32, where loss() computes
    # on all three, the bound is 0, which keeps numpy's kernel, as a subnormal bound does).
    # NumPy's logits keep numpy's kernel: its float32 sigmoid's last bit, magnified by 1 - p,
    # is numpy's exp's own.
    rng = np.random.default_rng(sum(shape) + 7 * from_logits)
    y = (rng.random(shape) < 0.5).astype(dtype) if label_smoothing == 0 else \
        rng.random(shape).astype(dtype)  # (soft targets where smoothed)
    if from_logits:
        p = (rng.standard_normal(shape) * 4).astype(dtype)
        edges = [0.0, -0.0, 1e-30, -1e4, 1e4, np.inf, -np.inf, 88.5, -88.5, 100.0, -100.0, np.nan]
    else:
        p = rng.random(shape).astype(dtype)
        edges = [0.0, 1.0, 1e-8, 1 - 1e-8, 1e-45, 0.5] + ([np.nan] if backend != "torch" else [])
    clean, p = p, _with_random_edges(p, edges, rng, 0.05)
    options = {"from_logits": from_logits, "label_smoothing": label_smoothing,
               "backend": backend, "epsilon": epsilon}
    context = f"{backend} {options} {dtype.__name__} {shape}"
    for predictions in (p, clean):  # (a NaN among the edges makes the first loss NaN)
        _fused_values_and_loss_agree("binary_crossentropy", y, predictions, context, **options)
    fused_kernel = (backend != "numpy") if from_logits else np.float32(epsilon) > 0
    answers = _fused_answers(lossbounds.loss, "bce", y, p, **options)
    assert answers == [True] * len(answers) and bool(answers) == fused_kernel, context


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "k"), [(3000, 2), (500, 10), (100, 131), (3, 4099)])
@pytest.mark.parametrize("edges", ["kept", "-inf", "inf", "huge"])
def test_categorical_logits_off_tensorflow_fused_equals_numpy(backend, name, dtype, n, k, edges):
    # From logits, JAX, PyTorch and NumPy take log_softmax and then the target's: TensorFlow's
    # fused kernels give it. Where a -inf log-probability makes their value NaN (a one-hot
    # row's 0 * -inf: categorical everywhere, sparse on JAX and NumPy, whose one-hot pick
    # meets every class) the kernel declines, and numpy's kernel gives the NaN. A logit of
    # -inf is such a log-probability; so is every other class's beside a logit of +inf, and
    # two logits 6e38 apart (their difference overflows). With the other edges (NaN among
    # them) the kernel takes every block.
    rng = np.random.default_rng(n + k)
    labels = rng.integers(0, k, n)
    y = labels if name.startswith("sparse") else np.eye(k, dtype=dtype)[labels]
    p = clean = (rng.standard_normal((n, k)) * 4).astype(dtype)
    values = {"kept": [0.0, -0.0, 1e-30, -1e4, 1e4, 1e30, -1e30, np.nan],
              "-inf": [-np.inf], "inf": [np.inf], "huge": [3e38, -3e38]}[edges]
    p = _with_random_edges(clean, values, rng, 0.03)
    options = {"from_logits": True, "backend": backend}
    context = f"{backend} {name} {dtype.__name__} {p.shape} {edges}"
    _fused_values_and_loss_agree(name, y, p, context, **options)
    answers = _fused_answers(lossbounds.loss, name, y, p, **options)
    declines = edges != "kept" and (name.startswith("categorical") or backend != "torch")
    assert answers and all(answers) != declines, (context, answers)
    if name.startswith("categorical"):  # smoothed targets are not one-hot: numpy's kernel
        _fused_values_and_loss_agree(name, y, clean, f"{context} smoothed", label_smoothing=0.1,
                                     **options)


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "k"), [(3000, 2), (500, 10), (300, 64), (100, 131), (3, 4099)])
@pytest.mark.parametrize("edges", ["kept", "zero row", "tiny row", "nan", "inf"])
def test_categorical_probabilities_off_tensorflow_fused_equals_numpy(backend, name, dtype, n, k,
                                                                    edges):
    # From probabilities, JAX, PyTorch and NumPy rescale each row by its sum (JAX multiplies
    # by the sum's reciprocal), clip, and take the target's log, which a label picks on
    # every backend (a clipped log is finite): the fused kernels compute it from the row's
    # float64 sum. Exact zeros and ones, subnormals (JAX reads them as 0, the others keep
    # them: a usable row's quotient of one is below any clip), and probabilities that do
    # not add up to 1 keep the kernel; it declines a row whose sum is 0, below sqrt(tiny),
    # NaN or inf, and numpy's kernel gives the backend's NaN or value there. Two classes
    # take the two-class kernel, which takes soft targets too.
    rng = np.random.default_rng(n + k)
    labels = rng.integers(0, k, n)
    y = labels if name.startswith("sparse") else np.eye(k, dtype=dtype)[labels]
    p = rng.random((n, k)).astype(dtype)
    p /= p.sum(axis=1, keepdims=True) * dtype(rng.uniform(0.5, 2.0))
    subnormal = 1e-45 if dtype == np.float32 else 5e-324
    p = _with_random_edges(p, [0.0, 1.0, subnormal, 1e-8, 1 - 1e-8], rng, 0.05)
    p[p.sum(axis=1) < 1e-6, 0] = 0.5  # (rows of zeros and subnormals only are the edges below)
    row = rng.integers(0, n)
    if edges == "zero row":
        p[row] = 0
    elif edges == "tiny row":
        p[row] = 1e-30
    elif edges in ("nan", "inf"):
        p[row, rng.integers(0, k)] = float(edges)
    options = {"backend": backend}
    context = f"{backend} {name} {dtype.__name__} {p.shape} {edges}"
    _fused_values_and_loss_agree(name, y, p, context, **options)
    answers = _fused_answers(lossbounds.loss, name, y, p, **options)
    assert answers and all(answers) == (edges == "kept"), (context, answers)
    if name.startswith("categorical"):  # smoothed targets are not one-hot: numpy's kernel
        _fused_values_and_loss_agree(name, y, p, f"{context} smoothed", label_smoothing=0.1,
                                     **options)
        assert not _fused_answers(lossbounds.loss, name, y, p, label_smoothing=0.1, **options)
    if name.startswith("categorical") and k == 2:  # two classes: any targets, in one map
        soft = rng.random((n, k)).astype(dtype)
        _fused_values_and_loss_agree(name, soft, p, f"{context} soft", **options)
        answers = _fused_answers(lossbounds.loss, name, soft, p, **options)
        assert answers and all(answers) == (edges == "kept"), (context, "soft", answers)


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("name", ["categorical_crossentropy", "sparse_categorical_crossentropy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_categorical_probabilities_divide_as_the_backend_does(backend, name, dtype):
    # JAX multiplies a probability by the reciprocal of its row's sum where PyTorch and
    # NumPy divide by the sum: a quotient an ulp apart in some rows. A target probability t
    # near 1, in rows [t, u] with u in [1e-5, 1e-4], has a loss near u, which that ulp moves
    # by at least 6e-4 (float32) or 1e-12 (float64) of itself; the two-class rows' sums are
    # rounded as these backends round them (t + u once). So each row's value must be the
    # backend's own to a tenth of that.
    rng = np.random.default_rng(3)
    u = rng.uniform(1e-5, 1e-4, 4000).astype(dtype)
    t = (1 - rng.uniform(0, 1e-3, 4000)).astype(dtype)
    p = np.stack([t, u], axis=1)
    labels = np.zeros(4000, np.int64)
    y = labels if name.startswith("sparse") else np.eye(2, dtype=dtype)[labels]
    function = getattr(lossbounds, name)
    numpy_values, fused_values = _both(function, y, p, backend=backend)
    kind = numpy_values.dtype.type  # (JAX, and NumPy's categorical, compute float64 in float32)
    t, u = t.astype(kind), u.astype(kind)
    total = t + u
    differ = t / total != t * (kind(1) / total)
    assert 200 < differ.sum() < 3800  # (both kinds of row)
    ulp_effect = float(np.finfo(kind).epsneg) / 1e-4
    np.testing.assert_allclose(fused_values, numpy_values, rtol=ulp_effect / 10, atol=0)
    # (the test tells the two roundings apart: the other one's values are that far off)
    other = -np.log(t / total if backend == "jax" else t * (kind(1) / total))
    assert np.array_equal(np.abs(other - numpy_values) > numpy_values * ulp_effect / 2, differ)
    assert _fused_answers(function, y, p, backend=backend) == [True]


def _focal_cases(rng, n, k, dtype, edges):
    """(name, y_true, y_pred, options, takes TensorFlow's kernel off TensorFlow) of the focal
    and generalized cross-entropies; with `edges`, exact edge probabilities mixed in (zeros,
    ones, subnormals: where a backend keeps a subnormal, the clip lifts it to epsilon)."""
    labels = rng.integers(0, k, n)
    one_hot = np.eye(k, dtype=dtype)[labels]
    probabilities = rng.random((n, k)).astype(dtype)
    binary = rng.random((n, k)).astype(dtype)
    if edges:
        values = [0.0, 1.0, 1e-8, 1 - 1e-8, 1e-45, 1e-310]
        probabilities, binary = (_with_random_edges(p, values, rng, 0.05)
                                 for p in (probabilities, binary))
    probabilities /= np.maximum(probabilities.sum(axis=1, keepdims=True), 1)
    logits = (rng.standard_normal((n, k)) * 3).astype(dtype)
    targets = (rng.random((n, k)) < 0.5).astype(dtype)
    balanced = {"gamma": 0.5, "alpha": 0.3}
    return [
        *[("binary_focal_crossentropy", targets, binary, options, True)
          for options in ({}, {**balanced, "apply_class_balancing": True},
                          {"label_smoothing": 0.1})],
        ("binary_focal_crossentropy", targets, logits, {"from_logits": True}, False),
        *[("categorical_focal_crossentropy", one_hot, p, dict(options, from_logits=logits_),
           True) for p, logits_ in ((probabilities, False), (logits, True))
          for options in ({}, balanced)],
        ("categorical_focal_crossentropy", one_hot, probabilities, {"label_smoothing": 0.1},
         False),
        ("categorical_generalized_cross_entropy", labels, probabilities, {"q": 0.7}, True),
        ("categorical_generalized_cross_entropy", labels, probabilities, {"q": 0.5}, True),
        # (a small q tells a kept subnormal p from 0: p = 1.4e-45 with q = 0.1 costs 9.99966,
        # not 10; a smaller one makes 1 - p**q lose the digits that tell the two apart)
        ("categorical_generalized_cross_entropy", labels, probabilities, {"q": 0.1}, True),
    ]


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "k"), [(2000, 3), (300, 10), (3, 4099)])
@pytest.mark.parametrize("edges", [False, True])
def test_focal_losses_off_tensorflow_take_tensorflows_kernels(backend, dtype, n, k, edges):
    # Off TensorFlow, binary focal cross-entropy from probabilities and categorical focal
    # cross-entropy compute TensorFlow's formulas (`focal._tensorflow_kernel_fits`): its
    # fused kernels give their values (PyTorch's in float32, where gamma and alpha stay
    # exact; PyTorch's float64 and binary logits, which these backends' sigmoid takes to
    # a clipped probability, keep numpy's kernels). Generalized cross-entropy takes it on
    # every backend, reading subnormal probabilities as 0 where the backend does (JAX, as
    # TensorFlow) and keeping them on PyTorch and NumPy; PyTorch's float64 rounds q to
    # float32 for the power only, and keeps numpy's kernel unless q is a float32 (0.5).
    for name, y, p, options, fits in _focal_cases(np.random.default_rng(n + k), n, k, dtype,
                                                  edges):
        options = {**options, "backend": backend}
        context = f"{name} {options} {dtype.__name__} {p.shape} edges={edges}"
        _fused_values_and_loss_agree(name, y, p, context, **options)
        rounded = backend == "torch" and dtype == np.float64 and not (
            name == "categorical_generalized_cross_entropy"
            and float(np.float32(options["q"])) == options["q"])
        fits = fits and not rounded
        answers = _fused_answers(getattr(lossbounds, name), y, p, **options)
        assert bool(answers) == fits, (context, answers)


@pytest.mark.parametrize("backend", ["numpy", "jax"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("n", "k"), [(3000, 3), (300, 10), (3, 4099)])
def test_cosine_similarity_on_numpy_takes_the_fused_kernel(backend, dtype, n, k):
    # The NumPy backend divides each vector by its exact norm, a zero norm counting as 1,
    # where the others multiply by its inverse capped at 1/epsilon: the fused kernel does
    # either (`similarity._cosine_kernel`'s constants). Zero, tiny (their squares
    # underflow), huge (they overflow) and subnormal entries, whole zero and tiny vectors.
    rng = np.random.default_rng(n + k)
    values = [0.0, -0.0, 1e-30, 1e-45, 1e20, -1e20, 3e38, 1e-8]
    y, p = (_with_random_edges(rng.standard_normal((n, k)).astype(dtype), values, rng, 0.05)
            for _ in range(2))
    y[::17], p[5::23], y[7::29] = 0, 1e-30, 1e-8
    context = f"{backend} {dtype.__name__} {(n, k)}"
    _fused_values_and_loss_agree("cosine_similarity", y, p, context, backend=backend)
    answers = _fused_answers(lossbounds.loss, "cosine_similarity", y, p, backend=backend)
    assert answers and all(answers), context


def test_ctc_log_add_is_numpys_logaddexp():
    # The backward pass' log-sum, compiled, against np.logaddexp (which it replaces) on
    # special values: infinities of either sign (equal ones too), NaN, equal and distant
    # finite values, and the TensorFlow stand-in for ln 0.
    exp64 = crossentropy_fused.fast_exp(np.dtype(np.float64))
    log1p = crossentropy_fused.log1p_unit(np.dtype(np.float64))
    log_add = fused.compile(sequence._log_add, inline=True)

    def compiled(a, b):  # (as the kernel calls it, inlined)
        return log_add(a, b, exp64, log1p)

    add = fused.compile(compiled)
    specials = [-np.inf, np.inf, np.nan, 0.0, -0.0, 1.0, -1.0, 1e-300, -745.2, 700.0, -1e308,
                sequence.TF_LOG_ZERO, 3.5, 3.5 + 2**-50]
    for a in specials:
        for b in specials:
            with np.errstate(invalid="ignore"):  # (inf and -inf)
                expected = np.logaddexp(a, b)
            got = add(a, b)
            assert (np.isnan(got) and np.isnan(expected)) or got == pytest.approx(
                expected, rel=4e-16, abs=0), (a, b, got, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_sums_are_float64_sums(dtype):
    """A kernel's row sum: float32 terms in any order, within float64 rounding of the exact
    sum (math.fsum), so their sum rounds to the same float32 but at a tie; float64 terms in
    eight lanes in order, bit for bit as written out. Lengths 0 to 70, with inf and NaN."""
    add = fused.row_sum(np.dtype(dtype))
    rng = np.random.default_rng(3)
    for length in range(71):
        values = (rng.standard_normal(length + 3) * 10.0 ** rng.uniform(-3, 3, length + 3)
                  ).astype(dtype)
        exact = math.fsum(float(v) for v in values[:length])
        total = add(values, length)
        if dtype is np.float32:
            scale = math.fsum(abs(float(v)) for v in values[:length])
            assert abs(total - exact) <= 1e-15 * scale, length
        else:
            lanes = [0.0] * 8
            packed = length - length % 8
            for i in range(packed):
                lanes[i % 8] += float(values[i])
            expected = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + \
                ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            for i in range(packed, length):
                expected += float(values[i])
            assert total == expected, length
    for special, expected in ((np.inf, np.inf), (np.nan, np.nan)):
        values = np.ones(40, dtype)
        values[17] = special
        np.testing.assert_equal(add(values, 40), expected)
    values = np.ones(40, dtype)
    values[3], values[30] = np.inf, -np.inf
    assert np.isnan(add(values, 40))


_FOCAL_KERNELS = {}


def _focal_kernels(dtype):
    """Binary focal (gamma 2, probabilities) with the full term alone, and with the one-log quick term first."""
    if dtype not in _FOCAL_KERNELS:
        full = crossentropy_fused._binary_focal_term(False, True)
        quick = crossentropy_fused._binary_focal_term(False, True, one_log=True)
        _FOCAL_KERNELS[dtype] = (crossentropy_fused._elementwise(full)(np.dtype(dtype)),
                                 crossentropy_fused._elementwise(full, quick)(np.dtype(dtype)))
    return _FOCAL_KERNELS[dtype]


@settings(max_examples=60, deadline=None)
@given(st.sampled_from([np.float32, np.float64]), st.integers(1, 3000), st.sampled_from([1, 3]),
       st.sampled_from(["binary", "soft after", "soft at first", "nan", "smoothed"]),
       st.booleans(), st.integers(0, 2**32 - 1))
def test_a_quick_term_changes_no_bit(dtype, rows, width, targets, weighted, seed):
    # Binary focal takes one log a term for targets 0 and 1, then the full term from the first
    # chunk (or row) of other targets on: every value and sum as the full term's, to the bit
    rng = np.random.default_rng(seed)
    y = (rng.random((rows, width)) < 0.5).astype(dtype)
    p = rng.choice(np.asarray([0, 1, 1e-7, 1 - 1e-7, 0.5, 1e-30], dtype), (rows, width))
    p = np.where(rng.random((rows, width)) < 0.5, rng.random((rows, width)).astype(dtype), p)
    at = int(rng.integers(0, rows * width))
    if targets == "soft after":
        y.reshape(-1)[at:] = np.where(rng.random(y.size - at) < 0.3, dtype(0.3), y.reshape(-1)[at:])
    elif targets == "soft at first":
        y.reshape(-1)[0] = dtype(0.7)
    elif targets == "nan":
        p.reshape(-1)[at] = np.nan
    scale, shift = (0.9, 0.05) if targets == "smoothed" else (1.0, 0.0)
    low, high = (dtype(1e-7), dtype(1 - 1e-7))
    constants = np.asarray(crossentropy_fused._options(
        low, high, scale, shift, 2.0, 0.25, 0.75, float(weighted)) + (width,), dtype)
    full, quick = _focal_kernels(dtype)
    for out_size in (0, rows):  # the sum alone, and each row's value
        values = [np.full(out_size, -1.0, dtype) for _ in range(2)]
        (full_total, full_ok), (quick_total, quick_ok) = (
            kernel(y, p, constants, out) for kernel, out in zip((full, quick), values))
        assert quick_ok == full_ok == (targets != "nan")
        if full_ok:
            assert quick_total == full_total
            np.testing.assert_array_equal(values[1].view(np.uint8), values[0].view(np.uint8))



def _off_and_on(monkeypatch, module, call):
    """``call()`` with the accelerator off, then on, in pieces of 64 (`checks.scan_pieces`).

    Each outcome is its value or its ValueError's message; also whether numpy's
    search (``module.first_where``) ran with the accelerator on.
    """
    from lossbounds import checks

    monkeypatch.setattr(checks, "_SCAN_PIECE", 64)
    searches = []
    search = module.first_where
    monkeypatch.setattr(module, "first_where", lambda *args: searches.append(1) or search(*args))
    outcomes = []
    for on in (False, True):
        searches.clear()
        with accelerator(on):
            try:
                outcomes.append(call())
            except ValueError as error:
                outcomes.append(str(error))
    return outcomes, bool(searches)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("odd", [None, -0.0, 0.5, -1.0, 1 - 2**-24, 1e-45, 2.0, np.inf, np.nan])
@pytest.mark.parametrize("where", [0, 63, 64, 999])
def test_hinge_labels_scanned_in_one_compiled_pass(monkeypatch, dtype, odd, where):
    # Keras converts 0/1 labels to -1/+1 only where every label of the batch is 0 or 1, and
    # lossbounds refuses labels outside [-1, 1]. With the accelerator one compiled pass (on
    # two threads) decides, as numpy's search does; numpy's search runs only to name a label
    # outside [-1, 1] (or NaN).
    from lossbounds.families import hinge

    y = (np.random.default_rng(where).random((1000, 1)) < 0.5).astype(dtype)
    if odd is not None:
        y[where, 0] = odd
    outcomes, searched = _off_and_on(
        monkeypatch, hinge, lambda: hinge._checked_binary_labels(y, np.dtype(dtype), "hinge"))
    assert outcomes[0] == outcomes[1]
    named = odd is not None and not abs(odd) <= 1  # (NaN too)
    if odd is None or odd == 0:
        assert outcomes[1] is True
    elif not named or np.isnan(odd):
        assert outcomes[1] is False
    else:
        assert ("got 2." if odd == 2 else "got inf.") in outcomes[1]
    assert searched == named


@pytest.mark.parametrize("odd", [None, 0.5, -1.0, 1e-45, 2.0, -np.inf, np.nan])
@pytest.mark.parametrize("where", [0, 63, 64, 999])
def test_categorical_hinge_labels_scanned_in_one_compiled_pass(monkeypatch, odd, where):
    # As hinge's: lossbounds refuses one-hot labels outside [-1, 1], found by one compiled pass
    # with the accelerator and named by numpy's search, which runs only then.
    from lossbounds.families import hinge

    rng = np.random.default_rng(where)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 100)]
    if odd is not None:
        y.reshape(-1)[where] = odd
    p = rng.random((100, 10), np.float32)

    def refused():  # (the values differ in their last bits: the kernels add in other orders)
        lossbounds.loss("categorical_hinge", y, p)

    outcomes, searched = _off_and_on(monkeypatch, hinge, refused)
    named = odd is not None and not abs(odd) <= 1  # (NaN too)
    assert outcomes[0] == outcomes[1]
    assert isinstance(outcomes[1], str) == (named and not np.isnan(odd))
    assert searched == named


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("odd", [None, 0.0, 1.0, 1e-45, -0.0, np.nan, -1e-45, 1 + 2**-23, 2.0,
                                 np.inf])
@pytest.mark.parametrize("where", [0, 63, 64, 999])
def test_probabilities_checked_in_one_compiled_pass(monkeypatch, dtype, odd, where):
    # Probabilities must lie in [0, 1] (NaN passes, as in Keras): with the accelerator one
    # compiled pass over their bits (on two threads) clears them, and numpy's search runs
    # where the bits lie above 1's (-0.0 and NaN too), to name the value.
    from lossbounds import checks

    p = np.random.default_rng(where).random(1000).astype(dtype)
    if odd is not None:
        p[where] = odd
    found, searched = _off_and_on(monkeypatch, checks, lambda: checks.first_outside_unit(p))
    outside = odd is not None and (odd < 0 or odd > 1)
    assert found[1] == (odd if outside else None)
    assert found[0] == found[1]
    assert searched == (odd is not None and (outside or np.signbit(odd) or np.isnan(odd)))
