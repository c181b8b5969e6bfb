"""Every input gets a right value or a clean error, in bounded time and memory.

Each test here is a reproducer that once gave a wrong value, a wrong exception,
a traceback or unbounded work; golden values come from live Keras, from a
derivation written next to them, or from a brute-force computation.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
import time
import tracemalloc
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from keras_reference import keras_class, keras_function

import lossbounds
from lossbounds.backends import neg_log, semantics
from lossbounds.diagnose import THEIL_SEN_EXACT

HUGE = 10**400


def binary_entropy(p):
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


# --------------------------------------------------------------------------
# Wrong values


def test_one_dimensional_binary_labels_are_samples():
    # (N,) labels are N samples of one output: H_b(3/4), as (N, 1) and counts=[1, 3] give.
    expected = binary_entropy(0.75)
    assert lossbounds.prior_baseline("bce", [0, 1, 1, 1]) == pytest.approx(expected, rel=1e-12)
    assert lossbounds.prior_baseline("bce", [[0], [1], [1], [1]]) == pytest.approx(expected)
    assert lossbounds.prior_baseline("bce", counts=[1, 3]) == pytest.approx(expected)
    assert lossbounds.bounds("bce", [0, 1, 1, 1]).prior == pytest.approx(expected)


def test_int64_minimum_is_not_read_as_zero():
    with pytest.raises(ValueError, match="label -9223372036854775808 .* outside"):
        lossbounds.sparse_categorical_crossentropy([-(2**63)], [[0.5, 0.5]])
    kind, expected = keras_function("mean_squared_error", [-(2**63), 5], [0.0, 0.0])
    assert kind == "value"
    assert float(lossbounds.mean_squared_error([-(2**63), 5], [0.0, 0.0])) == pytest.approx(
        float(expected), rel=1e-6)  # 4.25e37


def test_huge_class_counts_do_not_overflow():
    assert lossbounds.prior_baseline("cce", counts=np.array([1e308, 1e308])) == pytest.approx(
        math.log(2), rel=1e-12)
    assert lossbounds.prior_baseline("bce", [[0], [1]], sample_weight=[1e308, 1e308]) \
        == pytest.approx(math.log(2), rel=1e-12)


def test_reduced_totals_beyond_float32_are_inf_without_warnings():
    # Squares of 1e19 are 1e38 in float32 (its largest is 3.4e38): 2**20 of them add to
    # 1e44, which Keras' float32 total rounds to inf, as for the mean (inf / n). Weights of
    # 1e-12 sum to far below 1: the weighted mean of losses all 1e6 is 1e6. As many rows as
    # take the fused kernels, whose partial sums are float64 (1e44 is finite there).
    n = lossbounds.fused.MIN_ELEMENTS
    y_true, huge = np.zeros((n, 1), "f4"), np.full((n, 1), 1e19, "f4")
    for rows in (40, n):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # (numpy warns of overflows its caller did not expect)
            assert lossbounds.loss("mse", y_true[:rows], huge[:rows], reduction="sum") == math.inf
            assert lossbounds.loss("mse", y_true[:rows], huge[:rows]) == math.inf
            assert lossbounds.loss(
                "mse", y_true[:rows], np.full((rows, 1), 1e3, "f4"),
                sample_weight=np.full(rows, 1e-12, "f4"),
                reduction="mean_with_sample_weight") == pytest.approx(1e6, rel=1e-6)
            assert lossbounds.loss(
                "mse", y_true[:rows], np.full((rows, 1), np.inf, "f4"),
                sample_weight=np.full(rows, 1e-20, "f4"),
                reduction="mean_with_sample_weight") == math.inf


@pytest.mark.parametrize("name", ["binary_crossentropy", "binary_focal_crossentropy"])
@pytest.mark.parametrize("bad", ["target 2", "NaN prediction"])
def test_pytorch_refusals_come_at_the_call_on_streamed_inputs(name, bad):
    # PyTorch's binary_cross_entropy raises for a target outside [0, 1] and a NaN
    # probability, at the call: before Keras looks at the weights. lossbounds checks the
    # whole input (here 1.2 million values, the bad one last) before it streams the loss a
    # block at a time, so that error still comes before a bad weight's.
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, (1_200_000, 1)).astype(np.float32)
    y_pred = rng.random((1_200_000, 1), dtype=np.float32)
    if bad == "target 2":
        y_true[-1] = 2.0
    else:
        y_pred[-1] = np.nan
    match = "PyTorch's binary_cross_entropy raises" if name == "binary_crossentropy" or bad != "target 2" else \
        "must hold targets in \\[0, 1\\]"
    for function in (lambda: lossbounds.loss(name, y_true, y_pred, backend="torch"),
                     lambda: lossbounds.loss(name, y_true, y_pred, backend="torch",
                                             sample_weight=np.ones(7, np.float32)),
                     lambda: getattr(lossbounds, name)(y_true, y_pred, backend="torch")):
        with pytest.raises(ValueError, match=match):
            function()
    assert np.isfinite(lossbounds.loss(name, y_true[:-1], y_pred[:-1], backend="torch"))


def test_subnormal_weights_read_as_zero_like_tensorflow():
    y_true, y_pred = np.array([[1.0], [0.0]], "f4"), np.array([[0.8], [0.3]], "f4")
    weights = np.array([1e-45, 1e-45], "f4")
    kind, expected = keras_class("binary_crossentropy", y_true, y_pred, sample_weight=weights,
                                 reduction="mean_with_sample_weight")
    assert kind == "value" and float(expected) == 0.0
    assert lossbounds.loss("bce", y_true, y_pred, sample_weight=weights,
                           reduction="mean_with_sample_weight") == 0.0
    big_true = np.tile(y_true, (200_000, 1))  # the streamed path
    big_pred = np.tile(y_pred, (200_000, 1))
    assert lossbounds.loss("bce", big_true, big_pred, sample_weight=np.full(400_000, 1e-45, "f4"),
                           reduction="mean_with_sample_weight") == 0.0


def test_options_a_loss_does_not_use_are_not_ignored():
    with pytest.raises(ValueError, match="`sample_weight` describes the labels"):
        lossbounds.bounds("mse", sample_weight=object())
    with pytest.raises(TypeError, match="has no option 'y_range'"):
        lossbounds.bounds("cce", n_classes=3, y_range="junk")


# --------------------------------------------------------------------------
# Wrong exceptions


@pytest.mark.parametrize("call", [
    lambda: lossbounds.bounds("cce", n_classes=HUGE),
    lambda: lossbounds.baseline("sparse_cce", n_classes=HUGE),
    lambda: lossbounds.explain(1.0, "cce", n_classes=HUGE),
    lambda: lossbounds.baseline("cce", n_classes=2**63),
    lambda: lossbounds.bounds("bce", epsilon=HUGE),
    lambda: lossbounds.bounds("bce", label_smoothing=HUGE),
    lambda: lossbounds.bounds("mse", y_range=(0, HUGE)),
    lambda: lossbounds.loss("scce", [0], [[0.5, 0.5]], ignore_class=HUGE),
    lambda: lossbounds.prior_baseline("sparse_cce", [0.0, np.inf]),
    lambda: lossbounds.prior_baseline("sparse_cce", [0.0, np.nan]),
])
def test_out_of_range_numbers_give_a_value_error(call):
    with pytest.raises(ValueError) as raised:
        call()
    assert len(str(raised.value)) < 400  # no 400-digit number in the message


def test_an_array_like_that_raises_is_reported_as_the_input():
    class Broken:
        def __array__(self, dtype=None, copy=None):
            raise RuntimeError("disk on fire")

    with pytest.raises(ValueError, match="`y_pred` could not be read as an array.*disk on fire"):
        lossbounds.mean_squared_error([1.0], Broken())


def test_check_init_loss_and_plot_check_their_arguments():
    from lossbounds.keras import check_init_loss
    from lossbounds.plot import plot_history

    b = lossbounds.bounds("sparse_cce", n_classes=10)
    with pytest.raises(TypeError, match="`bounds` must be a lossbounds.Bounds"):
        check_init_loss(1.0, "x")
    with pytest.raises(ValueError, match="`tolerance` must lie in"):
        check_init_loss(1.0, b, tolerance=float("nan"))
    with pytest.raises(TypeError, match="`init_loss` must be a real number"):
        check_init_loss("2.3", b)
    with pytest.raises(TypeError, match="`ax` must be a matplotlib Axes"):
        plot_history({"loss": [1.0, 0.5]}, ax=1)


# --------------------------------------------------------------------------
# The command line: one line, status 2, never a traceback


def cli(*args, stdin=None, env=None, stdout=None):
    return subprocess.run([sys.executable, "-m", "lossbounds", *args], stdin=stdin,
                          stdout=stdout if stdout is not None else subprocess.PIPE,
                          stderr=subprocess.PIPE, env={**os.environ, **(env or {})},
                          timeout=120, check=False)


def test_cli_with_stdin_closed():
    result = cli("check-log", "-", stdin=subprocess.DEVNULL)  # an empty stdin: no epochs
    assert result.returncode == 2 and b"Traceback" not in result.stderr
    closed = subprocess.run(f"{sys.executable} -m lossbounds check-log - <&-", shell=True,
                            capture_output=True, timeout=120, check=False)
    assert closed.returncode == 2 and closed.stderr.count(b"\n") == 1
    assert b"standard input is closed" in closed.stderr


def test_cli_with_a_full_disk():
    with open("/dev/full", "w") as full:
        result = cli("bounds", "cce", "-k", "3", stdout=full)
    assert result.returncode == 2
    assert result.stderr.decode().strip().endswith("No space left on device")
    assert result.stderr.count(b"\n") == 1


def test_cli_under_a_legacy_console_encoding():
    result = cli("explain", "0.5", "cce", "-k", "3", env={"PYTHONIOENCODING": "cp1252"})
    assert result.returncode == 0
    assert b"argmax ? label" in result.stdout  # the sentence survives; only the sign is lost


def test_cli_reads_a_utf16_log(tmp_path):
    text = "Epoch 1/2\n1/1 - 0s - loss: 0.5000\nEpoch 2/2\n1/1 - 0s - loss: 0.4000\n"
    path = tmp_path / "powershell.log"
    path.write_bytes(text.encode("utf-16"))  # with a byte-order mark, as a redirect writes it
    result = cli("check-log", str(path))
    assert result.returncode == 0, result.stderr
    assert b"2 epochs" in result.stdout


def test_cli_rejects_a_huge_number_in_one_line():
    result = cli("bounds", "sparse_cce", "-k", str(HUGE))
    assert result.returncode == 2 and result.stderr.count(b"\n") == 1
    assert b"at most 2**53" in result.stderr


@pytest.mark.parametrize("argv", [
    ["bounds", "cce", "--from-logits", "--json"],
    ["explain", "nan", "cce", "--json"],
    ["explain", "inf", "cce", "--from-logits", "--json"],
])
def test_json_is_standard(argv, capsys):
    import json

    from lossbounds.cli import main

    assert main(argv) == 0
    out = capsys.readouterr().out
    json.loads(out, parse_constant=lambda name: pytest.fail(f"non-standard JSON: {name}"))


# --------------------------------------------------------------------------
# LossMeter


def test_an_empty_batch_does_not_poison_the_meter():
    meter = lossbounds.LossMeter("sparse_cce")
    meter.update([0], [[0.9, 0.1]])
    meter.update(np.zeros(0, int), np.zeros((0, 2), "f4"))
    assert meter.result() == pytest.approx(-math.log(0.9), rel=1e-6)
    assert "count=1" in repr(meter)


def test_concurrent_updates_are_not_lost():
    meter = lossbounds.LossMeter("mse")
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads switch as often as possible
    try:
        def work():
            for _ in range(250):
                meter.update([[1.0]], [[0.0]])

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch)
    assert meter.count == 2000 and meter.result() == 1.0


def _large_mse(seed):
    rng = np.random.default_rng(seed)  # 2**21 elements: two threads share the blocks
    return lossbounds.loss("mse", rng.random((2**20, 2), np.float32), rng.random((2**20, 2), np.float32))


def test_large_losses_from_several_threads_at_once():
    # Every call shares its blocks with the same helper thread: calls queue, none is lost
    expected = [_large_mse(seed) for seed in range(4)]
    found = [None] * 4

    def work(i):
        found[i] = _large_mse(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert found == expected


def test_an_error_on_the_helper_thread_is_raised_in_the_caller():
    # The helper keeps serving afterwards: the next large loss still shares its blocks
    from lossbounds.threads import THREADS, run_on_threads

    assert THREADS == 2, "this machine has one core: the helper thread is never started"
    caller = threading.get_ident()
    ran = []

    def worker():
        ran.append(threading.get_ident())
        if threading.get_ident() != caller:
            raise KeyError("raised on the helper")

    with pytest.raises(KeyError, match="raised on the helper"):
        run_on_threads(worker, 2)
    assert len(ran) == 2 and ran.count(caller) == 1
    assert _large_mse(2) == _large_mse(2)
    helped = []
    run_on_threads(lambda: helped.append(threading.get_ident()), 2)
    assert len(set(helped)) == 2


def test_helper_ends_are_seen_after_any_wait():
    # With the accelerator on, a caller spins a few milliseconds for its helper's end, then
    # sleeps until it comes (`lossbounds.threads._Spin`); a helper spins for its next task,
    # then sleeps. Ends within and beyond the spin, and tasks after a long idle, all arrive.
    from lossbounds import threads

    assert threads._spin.ready() is not None  # (the accelerator is on in the test run)
    caller = threading.get_ident()
    for seconds in (0.0, 0.001, 0.02, 0.0, 0.05):
        ran = []

        def worker(seconds=seconds, ran=ran):
            if threading.get_ident() != caller:
                time.sleep(seconds)
            ran.append(threading.get_ident())

        threads.run_on_threads(worker, 2)
        assert len(ran) == 2 and caller in ran
        if seconds:
            assert ran[-1] != caller  # (the helper's end, after its sleep)
        time.sleep(seconds)  # (the helper asleep again before the next task)
    assert _large_mse(3) == _large_mse(3)


def test_waits_that_fail_to_load_sleep(monkeypatch):
    # The spinning waits are an optimisation: if numba cannot load them, two-thread passes
    # sleep on their queues, and losses come out as before (a helper must never die of it).
    from lossbounds import fused, threads

    def broken():
        raise RuntimeError("no compiled waits here")

    monkeypatch.setattr(fused, "waiters", broken)
    spin = threads._Spin()
    assert spin.ready() is None and spin.broken
    monkeypatch.setattr(threads, "_spin", spin)
    helped = []
    threads.run_on_threads(lambda: helped.append(threading.get_ident()), 2)
    assert len(set(helped)) == 2
    assert _large_mse(4) == _large_mse(4)


def test_waits_sleep_where_the_accelerator_is_off():
    # Off from the start, numba is never imported, for the waits either: two-thread passes
    # sleep on their queues, as without numba.
    code = """if True:
        import sys
        import numpy as np
        import lossbounds
        from lossbounds import threads
        rng = np.random.default_rng(0)
        y, p = rng.random((2, 2**21, 1), np.float32)
        value = lossbounds.loss("mse", y, p)
        print("numba" in sys.modules, threads._spin.wait is None, value == value)
    """
    env = dict(os.environ, LOSSBOUNDS_ACCELERATOR="off")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.split() == ["False", "True", "True"]


def _child_mse(queue):
    queue.put(_large_mse(1))


def test_a_forked_child_computes_large_losses():
    # The parent's helper thread does not exist in a forked child: it must start its own
    import multiprocessing

    expected = _large_mse(1)  # (the parent's helper thread is running now)
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child_mse, args=(queue,))
    child.start()
    try:
        assert queue.get(timeout=120) == expected
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()


# --------------------------------------------------------------------------
# Bounded time and memory


def test_categorical_best_case_needs_no_array_of_k():
    tracemalloc.start()
    try:
        value = lossbounds.best_case("cce", n_classes=10**9, label_smoothing=0.1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20 and math.isfinite(value)


@settings(max_examples=200)
@given(k=st.integers(2, 3000), a=st.sampled_from([1e-9, 1e-6, 1e-3, 0.1, 0.5, 1.0]) | st.floats(0.0, 1.0),
       epsilon=st.sampled_from([1e-7, 1e-3, 1e-12]), dtype=st.sampled_from(["float16", "float32", "float64"]))
def test_categorical_best_case_equals_a_full_scan(k, a, epsilon, dtype):
    # Brute force: every number m of "other" classes that share the mass (the old scan).
    s = semantics(epsilon, dtype, "tensorflow", False)
    other = a / k
    true = 1 - a + other
    shared = np.arange(k, dtype=np.float64)
    total = true + shared * other
    floored = (k - 1 - shared) * other
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (-true * np.log(s.clip(true / total)) - shared * other * np.log(s.clip(other / total))
                + np.where(floored > 0, floored * neg_log(s.eps), 0.0))
    expected = float(cost.min()) if a else neg_log(s.high)
    got = lossbounds.best_case("cce", n_classes=k, label_smoothing=a, epsilon=epsilon, dtype=dtype)
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_sparse_prior_counts_only_the_classes_that_occur():
    tracemalloc.start()
    try:
        big_k = lossbounds.prior_baseline("sparse_cce", [0, 1], n_classes=2**31)
        far_label = lossbounds.prior_baseline("sparse_cce", [0, 10**12])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20
    # Derivation: f = (1/2, 1/2, 0, ...). TensorFlow clips the K - 2 zeros up to eps (1/2 is
    # inside the clip) and renormalises: -sum f ln q + ln sum q = ln 2 + ln(1 + (K - 2) eps).
    eps = float(np.float32(1e-7))
    assert big_k == pytest.approx(math.log(2) + math.log(1 + (2**31 - 2) * eps), rel=1e-12)
    assert far_label == pytest.approx(math.log(2) + math.log(1 + (10**12 - 1) * eps), rel=1e-12)


def test_diagnose_a_million_epochs_in_seconds():
    rng = np.random.default_rng(0)
    n = 1_000_000
    history = {"loss": np.linspace(2, 0.5, n) + rng.normal(0, 0.01, n),
               "val_loss": np.linspace(2, 0.6, n) + rng.normal(0, 0.01, n)}
    tracemalloc.start()
    start = time.perf_counter()
    try:
        findings = lossbounds.diagnose(history, "sparse_cce", n_classes=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # Not a timing assertion (benchmarks measure speed): a quadratic diagnosis would need
    # 7 TiB here, so finishing at all, in bounded memory, is the test.
    assert peak < 512 * 2**20, peak
    assert "growing_gap" in [f.kind for f in findings]
    assert time.perf_counter() - start < 600


def test_theil_sen_is_exact_on_short_curves_and_close_on_long_ones():
    from scipy import stats

    from lossbounds.diagnose import _theil_sen_slope

    rng = np.random.default_rng(1)
    short = np.cumsum(rng.normal(size=THEIL_SEN_EXACT))
    assert _theil_sen_slope(short) == pytest.approx(stats.theilslopes(short).slope, rel=1e-12)
    long = np.linspace(0, 1, 4000) + rng.normal(0, 0.05, 4000)
    assert _theil_sen_slope(long) == pytest.approx(stats.theilslopes(long).slope, rel=0.02)


def test_a_broadcast_result_beyond_the_limit_is_refused():
    # Two small inputs whose broadcast is 2**31 values (8 GiB): refused before any work.
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"broadcast to \(65536, 32768\).*at most 2\*\*30"):
            lossbounds.mean_squared_error(np.zeros((2**16, 1), "f4"), np.zeros((1, 2**15), "f4"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


@pytest.mark.parametrize("marked", [[], [(2_999, 999)], [(2_000, 5), (600, 7)],
                                    [(0, 0), (2_999, 999)], [(524, 288)], [(524, 287), (524, 288)],
                                    [(1_500, 0), (1_499, 999)]])
def test_first_where_names_the_first_entry(marked):
    # An input check names the first bad entry (its error message quotes it); two threads
    # test the pieces of 2**19 entries, and the first entry must win whichever finds its own
    # piece first: 3e6 entries are six pieces (flat 524,288 begins the second).
    from lossbounds.checks import first_where

    values = np.zeros((3_000, 1_000), np.float32)
    for position in marked:
        values[position] = 1.0
    expected = min(marked) if marked else None
    assert first_where(values, lambda piece: piece != 0) == expected
    transposed = values.T  # (a view that is not C-contiguous: searched a piece at a time)
    expected = min((j, i) for i, j in marked) if marked else None
    assert first_where(transposed, lambda piece: piece != 0) == expected


@pytest.mark.parametrize("marked", [[], [(1, 599_999)], [(2, 0), (1, 524_289)], [(0, 524_288)],
                                    [(2, 3), (0, 600_000 - 1)]])
def test_first_where_searches_a_view_a_piece_at_a_time(marked):
    # A transposed input is not copied whole: rows of 600,000 entries, each more than a
    # piece of 2**19, are cut into pieces along their own axis (the copy of 7.2 MB was whole).
    from lossbounds.checks import first_where

    values = np.zeros((600_000, 3), np.float32)
    for i, j in marked:
        values[j, i] = 1.0
    transposed = values.T
    tracemalloc.start()
    try:
        found = first_where(transposed, lambda piece: piece != 0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert found == (min(marked) if marked else None)
    assert peak < 2 * 2**20 * 2 + 2**20, f"{peak / 2**20:.1f} MiB"  # a piece and its test, per thread


def test_a_pass_inside_a_pass_does_not_wait_for_itself():
    # A worker on a helper thread that starts a two-thread pass of its own (a check inside a
    # block) would wait for the helper it runs on: it must run that pass alone
    from lossbounds.threads import run_on_threads

    done = []

    def inner():
        done.append(threading.current_thread().name)

    def outer():
        run_on_threads(inner, 2)

    finished = threading.Event()
    runner = threading.Thread(target=lambda: (run_on_threads(outer, 2), finished.set()), daemon=True)
    runner.start()
    assert finished.wait(30), "a nested two-thread pass deadlocked"
    assert len(done) == 3  # the outer caller's inner pass on two threads, the helper's alone
