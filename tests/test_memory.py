"""Reduced losses stream: their extra memory stays under 32 MiB whatever the input's size.

Each case reduces an input of 10**7 float32 values (40 MB, so a full copy or
a full-size temporary would show) and measures the peak of what numpy
allocates meanwhile (tracemalloc sees numpy's buffers). The inputs are made
before the measurement starts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from unittest import mock

import numpy as np
import pytest
from accelerated import accelerator

import lossbounds
from lossbounds import engine
from lossbounds.families import crossentropy_kernels

N = 10**7
LIMIT = 32 * 2**20


def _probabilities(shape):
    rng = np.random.default_rng(0)
    p = rng.random(shape, dtype=np.float32)
    return p / p.sum(axis=-1, keepdims=True)


def _one_hot(shape):
    rng = np.random.default_rng(1)
    return np.eye(shape[-1], dtype=np.float32)[rng.integers(0, shape[-1], shape[:-1])]


CASES = {
    "cce": lambda: ("cce", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "bce": lambda: ("bce", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "bce from float64 input": lambda: ("bce", _one_hot((N // 10, 10)),
                                       _probabilities((N // 10, 10)).astype(np.float64), {}),
    "sparse cce": lambda: ("sparse_cce", np.random.default_rng(2).integers(0, 10, N // 10),
                           _probabilities((N // 10, 10)), {}),
    "cce, a transposed 3-D batch": lambda: (
        "cce", _one_hot((100, N // 1000, 10)).transpose(1, 0, 2),
        _probabilities((100, N // 1000, 10)).transpose(1, 0, 2), {}),
    "mse, broadcast views": lambda: (
        "mse", np.broadcast_to(np.float32(0.5), (100, N // 10_000, 100)),
        np.broadcast_to(np.float32(0.25), (100, N // 10_000, 100)), {}),
    "mse, one target row for every sample": lambda: (
        "mse", np.zeros((1, 10), np.float32), _probabilities((N // 10, 10)), {}),
    "bce, a clip below every kernel's": lambda: (
        "bce", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {"epsilon": 1e-30}),
    "cce, a clip below every kernel's": lambda: (
        "cce", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {"epsilon": 1e-30}),
    "mae": lambda: ("mae", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "mape": lambda: ("mape", _probabilities((N // 10, 10)) + 1, _probabilities((N // 10, 10)), {}),
    "huber": lambda: ("huber", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "cosine": lambda: ("cosine_similarity", _probabilities((N // 10, 10)),
                       _probabilities((N // 10, 10)), {}),
    "cosine, vectors on axis 0": lambda: ("cosine_similarity", _probabilities((N // 10, 10)),
                                          _probabilities((N // 10, 10))[::-1].copy(), {"axis": 0}),
    "cosine, vectors on axis 1 of a 3-D batch": lambda: (
        "cosine_similarity", _probabilities((1000, 100, N // 100_000)),
        _probabilities((1000, 100, N // 100_000))[::-1].copy(), {"axis": 1}),
    "cce, classes on axis 0": lambda: (
        "cce", _one_hot((N // 10, 10)).T.copy(), _probabilities((N // 10, 10)).T.copy(),
        {"axis": 0}),
    "bce with label smoothing, outputs on axis 0": lambda: (
        "bce", _one_hot((N // 10, 10)).T.copy(), _probabilities((N // 10, 10)).T.copy(),
        {"axis": 0, "label_smoothing": 0.1}),
    "bce from logits, outputs on axis 0": lambda: (
        "bce", _one_hot((N // 10, 10)).T.copy(), _probabilities((N // 10, 10)).T.copy(),
        {"axis": 0, "from_logits": True}),
    "binary focal": lambda: ("binary_focal_crossentropy", _one_hot((N // 10, 10)),
                             _probabilities((N // 10, 10)), {}),
    "binary focal, outputs on axis 0": lambda: (
        "binary_focal_crossentropy", _one_hot((N // 10, 10)).T.copy(),
        _probabilities((N // 10, 10)).T.copy(), {"axis": 0}),
    "categorical focal from logits, classes on axis 0": lambda: (
        "categorical_focal_crossentropy", _one_hot((N // 10, 10)).T.copy(),
        _logits((10, N // 10)), {"axis": 0, "from_logits": True}),
    "categorical focal from logits": lambda: (
        "categorical_focal_crossentropy", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)),
        {"from_logits": True}),
    "msle": lambda: ("msle", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "log_cosh": lambda: ("log_cosh", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "kl_divergence": lambda: ("kl_divergence", _probabilities((N // 10, 10)),
                              _probabilities((N // 10, 10))[::-1].copy(), {}),
    "poisson, integer counts": lambda: (
        "poisson", np.random.default_rng(4).poisson(3.0, (N // 10, 10)),
        _probabilities((N // 10, 10)) * np.float32(3), {}),
    "hinge, 0/1 labels": lambda: ("hinge", _one_hot((N // 10, 10)),
                                  _probabilities((N // 10, 10)), {}),
    "categorical hinge": lambda: ("categorical_hinge", _one_hot((N // 10, 10)),
                                  _probabilities((N // 10, 10)), {}),
    "generalized cross-entropy": lambda: (
        "categorical_generalized_cross_entropy", np.random.default_rng(5).integers(0, 10, N // 10),
        _probabilities((N // 10, 10)), {"q": 0.5}),
    "mse with weights": lambda: ("mse", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)),
                                 {"sample_weight": np.ones(N // 10, np.float32)}),
    # Rows of the widest the compiled logits kernels take (a row's exps at a time)
    "sparse cce from logits, rows of 2**20 classes": lambda: (
        "sparse_cce", np.arange(9) * 100_000, _logits((9, 2**20)), {"from_logits": True}),
    # One row of 10**7 classes, read in column chunks
    "sparse cce, one row of 10**7 classes": lambda: (
        "sparse_cce", np.array([N - 3]), _probabilities((1, N)), {}),
    "sparse cce from logits, one row of 10**7 classes": lambda: (
        "sparse_cce", np.array([3]), _logits((1, N)), {"from_logits": True}),
    "cce, one row of 10**7 classes": lambda: ("cce", _one_hot_row(N), _probabilities((1, N)), {}),
    "cce from logits, one row of 10**7 classes": lambda: (
        "cce", _one_hot_row(N), _logits((1, N)), {"from_logits": True}),
}


def _one_hot_row(k):
    row = np.zeros((1, k), np.float32)
    row[0, k // 3] = 1
    return row


def _logits(shape):
    return np.random.default_rng(3).standard_normal(shape, dtype=np.float32)


def _assert_streams(case, name, y_true, y_pred, options, accelerated=False):
    """One `loss()` call's tracemalloc peak is under LIMIT, and its value finite and nonzero."""
    with accelerator(accelerated):
        if accelerated:  # numba compiles a kernel on its first call: Python objects, not counted
            # (64 rows: a multiple of 8 elements, so that no block holds a packet's tail,
            # which takes numpy's kernel, `engine.rows_job`: the fused one runs, and compiles)
            few = {key: value[:64] if key == "sample_weight" and np.ndim(value) else value
                   for key, value in options.items()}
            lossbounds.loss(name, y_true[:64], y_pred[:64], **few)
        tracemalloc.start()
        try:
            value = lossbounds.loss(name, y_true, y_pred, **options)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert np.isfinite(value) and value != 0
    assert peak < LIMIT, f"{case}: {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("accelerated", [True, False])
def test_a_reduced_loss_streams(case, accelerated):
    _assert_streams(case, *CASES[case](), accelerated)


# One sample of 10**7 values: 1-d inputs, whose loss is 0-d, are one row of the job (whole,
# they took 76-553 MiB: log_cosh), computed a segment of columns at a time where the row's
# value is the mean or sum of its elements' terms; cosine similarity's two sums likewise.
_TERMS = ("mse", "mae", "mape", "huber", "log_cosh", "msle", "bce", "binary_focal_crossentropy",
          "kl_divergence", "poisson", "hinge", "squared_hinge")
ONE_ROW_CASES = {
    **{name: (lambda name=name: (name, _one_hot((N // 10, 10)).reshape(-1),
                                 _probabilities((N // 10, 10)).reshape(-1), {}))
       for name in (*_TERMS, "cosine_similarity")},
    "log_cosh, 10**7 + 3 values (TensorFlow's scalar tail)": lambda: (
        "log_cosh", _one_hot((N // 10 + 1, 10)).reshape(-1)[: N + 3],
        _probabilities((N // 10 + 1, 10)).reshape(-1)[: N + 3], {}),
    "mse, two rows of 5 * 10**6": lambda: ("mse", _one_hot((N // 10, 10)).reshape(2, -1),
                                           _probabilities((N // 10, 10)).reshape(2, -1), {}),
    # (rows of a width that is no multiple of 8: blocks of 4 rows keep TensorFlow's packets)
    "log_cosh, two rows of 5 * 10**6 + 1": lambda: (
        "log_cosh", _one_hot((N // 10 + 1, 10)).reshape(-1)[: N + 2].reshape(2, -1),
        _probabilities((N // 10 + 1, 10)).reshape(-1)[: N + 2].reshape(2, -1), {}),
}


@pytest.mark.parametrize("accelerated", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("case", list(ONE_ROW_CASES))
def test_a_one_dimensional_input_streams(case, accelerated):
    name, y_true, y_pred, options = ONE_ROW_CASES[case]()
    _assert_streams(case, name, y_true, y_pred, options, accelerated=accelerated)
    expected = lossbounds.loss(name, y_true[None], y_pred[None], **options)
    assert lossbounds.loss(name, y_true, y_pred, **options) == expected


# float16: the totals are added in TensorFlow's order a subtree at a time
# (`lossbounds.halfreduce`). A float16 sum of 10**6 losses overflows, and so
# does float16(10**6), the divisor of "sum_over_batch_size": a small weight
# and "sum" keep the value finite.
HALF_CASES = {
    "mse": lambda: ("mse", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "mae, float16 inputs": lambda: ("mae", _one_hot((N // 10, 10)),
                                    _probabilities((N // 10, 10)).astype(np.float16), {}),
    "bce": lambda: ("bce", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "cce": lambda: ("cce", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "cce from logits": lambda: ("cce", _one_hot((N // 10, 10)), _logits((N // 10, 10)),
                                {"from_logits": True}),
    "sparse cce": lambda: ("sparse_cce", np.random.default_rng(2).integers(0, 10, N // 10),
                           _probabilities((N // 10, 10)), {}),
    "sparse cce, ignore_class": lambda: (
        "sparse_cce", np.random.default_rng(2).integers(-1, 10, N // 10),
        _probabilities((N // 10, 10)), {"ignore_class": -1}),
    "log_cosh": lambda: ("log_cosh", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "poisson": lambda: ("poisson", _probabilities((N // 10, 10)),
                        _probabilities((N // 10, 10)) + np.float32(0.01), {}),
    "kl_divergence": lambda: ("kl_divergence", _probabilities((N // 10, 10)),
                              _probabilities((N // 10, 10))[::-1] + np.float32(0.01), {}),
    "msle": lambda: ("msle", _one_hot((N // 10, 10)), _probabilities((N // 10, 10)), {}),
    "mse with weights, 1000 long rows": lambda: (
        "mse", _one_hot((1000, N // 1000)), _probabilities((1000, N // 1000)),
        {"sample_weight": np.full(1000, 2.0**-10, np.float16), "reduction": "mean_with_sample_weight"}),
}


@pytest.mark.parametrize("case", list(HALF_CASES))
def test_a_reduced_float16_loss_streams(case):
    name, y_true, y_pred, options = HALF_CASES[case]()
    options = {"sample_weight": 2.0**-10, "reduction": "sum", "dtype": "float16", **options}
    _assert_streams(case, name, y_true, y_pred, options)


# Losses that look across the batch. Dice and Tversky add TensorFlow's leaves of the
# whole batch (or of each image) a block at a time, and sums that keep an inner axis
# (per channel) a block of their terms at a time; Circle makes its N x M pair matrix a
# block of rows at a time (4000 x 4000 pairs: 64 MB of float32 whole). Each runs with
# the accelerator's compiled passes and with numpy's.
def _mask(shape):
    return (np.random.default_rng(6).random(shape, dtype=np.float32) < 0.25).astype(np.float32)


def _scores(shape):
    return np.random.default_rng(7).random(shape, dtype=np.float32)


def _unit(shape):
    x = np.random.default_rng(8).standard_normal(shape, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


BATCH_WIDE_CASES = {
    "dice": lambda: ("dice", _mask((N, 1)), _scores((N, 1)), {}),
    "tversky": lambda: ("tversky", _mask((N // 100, 100)), _scores((N // 100, 100)),
                        {"alpha": 0.3, "beta": 0.7}),
    "dice per image": lambda: ("dice", _mask((1000, 100, 100, 1)), _scores((1000, 100, 100, 1)),
                               {"axis": (1, 2, 3)}),
    "dice, boolean masks and float64 scores": lambda: ("dice", _mask((N, 1)) > 0,
                                                       _scores((N, 1)).astype(np.float64), {}),
    "tversky, a transposed batch": lambda: ("tversky", _mask((100, N // 100)).T,
                                            _scores((100, N // 100)).T, {}),
    # sums that keep an inner axis (whole, the per-channel dice took 191 MiB)
    "dice per channel": lambda: ("dice", _mask((100, 100, 100, 10)), _scores((100, 100, 100, 10)),
                                 {"axis": (1, 2)}),
    "tversky per class over the batch": lambda: ("tversky", _mask((N // 10, 10)),
                                                 _scores((N // 10, 10)), {"axis": 0}),
    "dice per column of ten rows": lambda: ("dice", _mask((10, N // 10)), _scores((10, N // 10)),
                                            {"axis": 0}),
    "circle": lambda: ("circle", np.random.default_rng(9).integers(0, 100, 4000),
                       _unit((4000, 64)), {}),
}


@pytest.mark.parametrize("accelerated", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("case", list(BATCH_WIDE_CASES))
def test_a_batch_wide_loss_streams(case, accelerated):
    _assert_streams(case, *BATCH_WIDE_CASES[case](), accelerated)


# The cross-entropies on JAX, PyTorch and NumPy follow those backends' formulas (their own
# logs, sigmoid and log-softmax, `crossentropy_kernels.*_on`), streamed a block of rows at a
# time like TensorFlow's: computed whole, 10**7 values took 114-229 MiB (binary focal on
# PyTorch, 191).
def _labels_with_ignored(n):
    labels = np.random.default_rng(2).integers(0, 10, n)
    labels[::7] = -1
    return labels


BACKEND_CASES = {
    "bce": lambda n: ("bce", _one_hot((n // 10, 10)), _probabilities((n // 10, 10)), {}),
    "bce from logits, label smoothing": lambda n: (
        "bce", _one_hot((n // 10, 10)), _logits((n // 10, 10)),
        {"from_logits": True, "label_smoothing": 0.1}),
    "cce": lambda n: ("cce", _one_hot((n // 10, 10)), _probabilities((n // 10, 10)), {}),
    "cce from logits": lambda n: ("cce", _one_hot((n // 10, 10)), _logits((n // 10, 10)),
                                  {"from_logits": True}),
    "sparse cce": lambda n: ("sparse_cce", np.random.default_rng(2).integers(0, 10, n // 10),
                             _probabilities((n // 10, 10)), {}),
    "binary focal": lambda n: ("binary_focal_crossentropy", _one_hot((n // 10, 10)),
                               _probabilities((n // 10, 10)), {}),
    "binary focal from logits, class balancing": lambda n: (
        "binary_focal_crossentropy", _one_hot((n // 10, 10)), _logits((n // 10, 10)),
        {"from_logits": True, "apply_class_balancing": True}),
    "sparse cce from logits, ignore_class": lambda n: (
        "sparse_cce", _labels_with_ignored(n // 10), _logits((n // 10, 10)),
        {"from_logits": True, "ignore_class": -1}),
}


@pytest.mark.parametrize("accelerated", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("case", list(BACKEND_CASES))
def test_a_cross_entropy_streams_on_every_backend(case, backend, accelerated):
    name, y_true, y_pred, options = BACKEND_CASES[case](N)
    _assert_streams(f"{case} on {backend}", name, y_true, y_pred, {**options, "backend": backend},
                    accelerated)


@pytest.mark.parametrize("backend", ["jax", "torch", "numpy"])
@pytest.mark.parametrize("case", list(BACKEND_CASES))
def test_streamed_cross_entropies_equal_the_whole_array_formula(case, backend):
    # Several blocks of rows (1.2 million values); without jobs the plans compute whole. The
    # numpy kernels, bit for bit (the fused ones are held to Keras' tolerance of them:
    # tests/test_accelerator.py)
    name, y_true, y_pred, options = BACKEND_CASES[case](1_200_000)
    options = {**options, "backend": backend}
    with accelerator(False):
        streamed = [lossbounds.loss(name, y_true, y_pred, reduction=reduction, **options)
                    for reduction in ("none", "sum_over_batch_size")]
    with accelerator(False), mock.patch.object(crossentropy_kernels, "rows_job", return_value=None), \
            mock.patch.object(crossentropy_kernels, "make_job", return_value=None):
        whole = [lossbounds.loss(name, y_true, y_pred, reduction=reduction, **options)
                 for reduction in ("none", "sum_over_batch_size")]
    np.testing.assert_array_equal(streamed[0], whole[0])  # each row's value is its own
    assert streamed[1] == pytest.approx(whole[1], rel=1e-6)


# The C allocator (lossbounds.allocator): numpy-only kernels make temporaries of 1-4 MiB a
# block, which glibc maps afresh (page faults each time) until its thresholds rise.

_MAPPED = """
import ctypes, sys
import numpy as np
from lossbounds import allocator

class Info(ctypes.Structure):  # glibc's struct mallinfo2
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
if sys.argv[1] == "settle":
    print(allocator.settle(), allocator.settle())
before = libc.mallinfo2().hblkhd
block = np.ones(2**19)  # 4 MiB, the largest temporary of a numpy kernel's block
print(libc.mallinfo2().hblkhd - before >= block.nbytes)
"""


def _glibc():
    return os.confstr("CS_GNU_LIBC_VERSION") is not None


def _mapped_after(step, **settings):
    """What `_MAPPED` prints in a fresh process whose allocator settings are `settings` only."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("MALLOC_") and key != "GLIBC_TUNABLES"}
    return subprocess.run([sys.executable, "-c", _MAPPED, step], capture_output=True, text=True,
                          check=True, env=env | settings).stdout.split()


def test_settling_the_allocator_keeps_temporaries_off_fresh_mappings():
    assert _glibc(), "these tests read glibc's malloc statistics (mallinfo2)"
    # a fresh process maps a 4 MiB array of its own...
    assert _mapped_after("none") == ["True"]
    # ...and after settle() takes it from the heap; settle() acts once
    assert _mapped_after("settle") == ["True", "False", "False"]


def test_thresholds_a_user_fixed_are_left_alone():
    # glibc stops adjusting its thresholds once one is set (dask.distributed sets this one
    # for its workers): the free in settle() then changes nothing
    assert _mapped_after("settle", MALLOC_TRIM_THRESHOLD_="65536") == ["True", "False", "True"]


def test_a_pass_over_several_blocks_settles_the_allocator():
    # numpy's kernels make temporaries a block at a time; the fused kernels make none,
    # unless they decline a block, which numpy's kernel then computes
    y = np.zeros((2**21, 1), np.float32)
    calls = []
    with mock.patch.object(engine, "settle_allocator", lambda: calls.append(1)):
        with accelerator(False):
            lossbounds.loss("mse", y, y + 1)
            assert calls, "a pass over several blocks did not settle the allocator"
            calls.clear()
            lossbounds.loss("mse", y[:1000], y[:1000] + 1)  # one block: nothing to settle
            assert not calls
        with accelerator(True):
            lossbounds.loss("mse", y, y + 1)
            assert not calls
            declined = np.ones((2**21, 2), np.float32)
            declined[-1] = 0  # a row whose sum is 0: numpy's kernel takes its block
            lossbounds.loss("categorical_crossentropy", declined, declined)
            assert calls, "a declined block did not settle the allocator"
