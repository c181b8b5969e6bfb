"""Beyond one machine: baselines from sufficient statistics computed by Dask.

`prior_baseline` accepts class counts (sparse CCE) and moments (MSE) instead
of the labels, so any engine that can count can compute it. Here Dask
computes them chunk by chunk over 10**7 labels; the result must equal the
in-memory one.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np

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
