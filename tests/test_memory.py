"""Reduced losses stream: their extra memory stays under 32 MiB whatever the input's size.

Each case reduces an input of 10**7 float32 values (40 MB, so a full copy or
a full-size temporary would show) and measures the peak of what numpy
allocates meanwhile (tracemalloc sees numpy's buffers). The inputs are made
before the measurement starts.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import lossbounds

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
    "cce, classes on axis 0": lambda: (
        "cce", _one_hot((N // 10, 10)).T.copy(), _probabilities((N // 10, 10)).T.copy(),
        {"axis": 0}),
    "bce from logits, outputs on axis 0": lambda: (
        "bce", _one_hot((N // 10, 10)).T.copy(), _probabilities((N // 10, 10)).T.copy(),
        {"axis": 0, "from_logits": True}),
    "binary focal": lambda: ("binary_focal_crossentropy", _one_hot((N // 10, 10)),
                             _probabilities((N // 10, 10)), {}),
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
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_reduced_loss_streams(case):
    name, y_true, y_pred, options = CASES[case]()
    tracemalloc.start()
    try:
        value = lossbounds.loss(name, y_true, y_pred, **options)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.isfinite(value) and value != 0
    assert peak < LIMIT, f"{case}: {peak / 2**20:.1f} MiB"
