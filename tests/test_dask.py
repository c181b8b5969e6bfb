"""Beyond one machine: baselines from sufficient statistics computed by Dask.

`prior_baseline` accepts class counts (sparse CCE) and moments (MSE) instead
of the labels, so any engine that can count can compute it. Here Dask
computes them chunk by chunk over 10**7 labels; the result must equal the
in-memory one.
"""

from __future__ import annotations

import math
import os
from unittest import mock

import dask
import dask.array as da
import numpy as np
import pytest

import lossbounds

N = 10**7
CHUNKS = N // 8


def test_sparse_prior_from_dask_bincount():
    k = 37
    rng = da.random.default_rng(0)
    labels = da.floor(rng.random(N, chunks=CHUNKS) ** 2 * k).astype(np.int64)  # skewed classes
    assert labels.npartitions == 8
    counts = da.bincount(labels, minlength=k).compute()
    assert counts.sum() == N
    from_counts = lossbounds.prior_baseline("sparse_cce", counts=counts)
    in_memory = lossbounds.prior_baseline("sparse_cce", labels.compute())
    assert from_counts == in_memory
    # and with a known number of classes, some of them never seen
    assert lossbounds.prior_baseline("sparse_cce", counts=np.append(counts, 0), n_classes=k + 1) == \
        lossbounds.prior_baseline("sparse_cce", labels.compute(), n_classes=k + 1)


def test_mse_prior_from_dask_moments():
    rng = da.random.default_rng(1)
    y = rng.normal(3.0, 2.0, size=N, chunks=CHUNKS)
    count, mean, variance = dask.compute(y.shape[0], y.mean(), y.var())
    from_moments = lossbounds.prior_baseline("mse", count=count, mean=mean, variance=variance)
    in_memory = lossbounds.prior_baseline("mse", y.compute())
    np.testing.assert_allclose(from_moments, in_memory, rtol=1e-12)
    assert abs(from_moments - 4.0) < 0.01  # the variance of N(3, 2**2)


def test_mse_prior_per_output_from_dask_moments():
    rng = da.random.default_rng(2)
    y = rng.normal(0.0, 1.0, size=(N // 3, 3), chunks=(CHUNKS // 3, 3)) * np.array([1.0, 2.0, 3.0])
    count, mean, variance = dask.compute(y.shape[0], y.mean(axis=0), y.var(axis=0))
    from_moments = lossbounds.prior_baseline("mse", count=count, mean=mean, variance=variance)
    in_memory = lossbounds.prior_baseline("mse", y.compute())
    np.testing.assert_allclose(from_moments, in_memory, rtol=1e-12)


# --------------------------------------------------------------------------
# The loss itself, chunk by chunk, on a dask.distributed cluster


@pytest.fixture(scope="module")
def client():
    from dask.distributed import Client, LocalCluster

    # Two worker processes: each chunk's losses are computed in another process. (The
    # cluster writes its workers' settings into this process's environment and leaves them
    # there: MALLOC_TRIM_THRESHOLD_, OMP_NUM_THREADS=1, ..., which later tests' subprocesses
    # would inherit; patch.dict puts the environment back.)
    with mock.patch.dict(os.environ), LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True,
            dashboard_address=None) as cluster, Client(cluster) as connected:
        yield connected


def _chunked(name, n, k, seed, chunks):
    """Targets and predictions made on the workers, chunk by chunk (never whole here)."""
    rng = da.random.default_rng(seed)
    p = rng.random((n, k), chunks=(chunks, k), dtype=np.float32) + np.float32(0.01)
    p = p / p.sum(axis=1, keepdims=True)
    if name == "sparse_cce":
        y = da.floor(rng.random(n, chunks=chunks) * k).astype(np.int64)
    elif name == "mse":
        y = rng.random((n, k), chunks=(chunks, k), dtype=np.float32)
    else:
        y = da.eye(k, dtype=np.float32)[da.floor(rng.random(n, chunks=chunks) * k).astype(int)]
    return y, p


@pytest.mark.parametrize("name", ["sparse_cce", "cce", "bce", "mse", "kl_divergence",
                                  "categorical_focal_crossentropy"])
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight"])
def test_loss_of_dask_arrays_on_a_cluster_equals_the_in_memory_loss(client, name, reduction):
    y, p = _chunked(name, 200_000, 7, seed=len(name), chunks=40_000)
    w = da.random.default_rng(3).random(200_000, chunks=40_000, dtype=np.float32)
    got = lossbounds.loss(name, y, p, sample_weight=w, reduction=reduction)
    expected = lossbounds.loss(name, *dask.compute(y, p), sample_weight=w.compute(),
                               reduction=reduction)
    assert math.isclose(got, expected, rel_tol=1e-6), (got, expected)
    # the chunks ran on worker processes. (Not client.scheduler_info()["workers"]: the
    # client's periodic refresh of that cache, without workers, can land between the fetch
    # and the read, and then there are none)
    assert len(client.nthreads()) == 2


def test_a_masked_loss_counts_only_its_valid_labels(client):
    y, p = _chunked("sparse_cce", 100_000, 5, seed=9, chunks=30_000)
    expected = lossbounds.loss("sparse_cce", *dask.compute(y, p), ignore_class=0)
    assert math.isclose(lossbounds.loss("sparse_cce", y, p, ignore_class=0), expected,
                        rel_tol=1e-6)


def test_a_numpy_target_goes_with_dask_predictions(client):
    y, p = _chunked("cce", 50_000, 4, seed=2, chunks=10_000)
    y = y.compute()
    assert math.isclose(lossbounds.loss("cce", y, p), lossbounds.loss("cce", y, p.compute()),
                        rel_tol=1e-6)


def test_batch_wide_losses_and_unreduced_values_are_refused():
    y = da.from_array(np.ones((10, 3), np.float32), chunks=5)
    with pytest.raises(ValueError, match="depends on the rest of its batch.*LossMeter"):
        lossbounds.loss("dice", y, y)
    with pytest.raises(ValueError, match="reduction='none' on Dask arrays"):
        lossbounds.loss("mse", y, y, reduction="none")
    with pytest.raises(ValueError, match="same number of rows"):
        lossbounds.loss("mse", y, y[:5])


def test_a_first_axis_the_loss_reduces_is_not_split():
    # The chunks are samples: a 1-d input (one sample, its loss over every value) or a
    # class axis 0 split in chunks gave a mean of the chunks' losses (MSE 0.144 for 0.167)
    rng = np.random.default_rng(0)
    y, p = rng.random((2, 3_001), np.float32)
    with pytest.raises(ValueError, match=r"mean_squared_error: a 1-d `y_pred`.*y_pred\[:, None\]"):
        lossbounds.loss("mse", da.from_array(y, chunks=1_000), da.from_array(p, chunks=1_000))
    one_hot = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 40)].T  # classes on axis 0
    scores = rng.random((5, 40), np.float32)
    with pytest.raises(ValueError, match="axis=0 is the first axis.*moveaxis"):
        lossbounds.loss("cce", da.from_array(one_hot, chunks=2), da.from_array(scores, chunks=2),
                        axis=0)
    # one chunk is the whole sample: the in-memory value
    whole = lossbounds.loss("mse", da.from_array(y, chunks=-1), da.from_array(p, chunks=-1))
    assert whole == lossbounds.loss("mse", y, p)
    assert math.isclose(lossbounds.loss("mse", da.from_array(y[:, None], chunks=1_000),
                                        da.from_array(p[:, None], chunks=1_000)),
                        lossbounds.loss("mse", y, p), rel_tol=1e-6)
    assert lossbounds.loss("cce", da.from_array(one_hot, chunks=(-1, 8)),
                           da.from_array(scores, chunks=(-1, 8)), axis=0) == pytest.approx(
        lossbounds.loss("cce", one_hot, scores, axis=0), rel=1e-6)
