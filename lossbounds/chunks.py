"""Losses of arrays too large for one machine: Dask arrays, chunk by chunk.

`lossbounds.loss` hands Dask arrays here. The rows (the first axis) are
split along the prediction's chunks, each chunk's weighted losses are summed
where the chunk lives (on a ``dask.distributed`` worker when a client is
active), and only a few numbers per chunk come back: the weighted sum, the
number of values counted and the sum of the weights. Their exact sums give
the reduced value Keras gives for the whole array. This works for losses
whose value for a sample depends on that sample alone.

Dask is not imported until a Dask array arrives.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

__all__ = ["BlockSums", "combine", "is_chunked", "per_block", "row_blocks"]

#: A chunk's weighted sum, the number of values it counts, and the sum of its weights.
BlockSums = tuple[float, int, float]


def is_chunked(*arrays: Any) -> bool:
    """Is any of `arrays` a Dask array?"""
    for x in arrays:  # (a loop, not any(): a generator costs ~3 us on cold caches)
        if type(x).__module__.partition(".")[0] == "dask" and hasattr(x, "chunks"):
            return True
    return False


def row_blocks(y_true: Any, y_pred: Any, sample_weight: Any, *, name: str,
               axis: Any = -1) -> list[tuple[Any, Any, Any]]:
    """``(y_true, y_pred, sample_weight)`` of each block of rows, as Dask delayed objects.

    The rows follow the chunks of the first Dask array among `y_pred` and
    `y_true`; every other axis is one chunk. A weight with one entry per
    row is split the same way; any other weight (a scalar, per time step)
    goes whole to every block. Rows split in several chunks must be
    samples: refused where the loss `name` reduces the first axis (a 1-d
    `y_pred`, one sample, or its class `axis` 0).
    """
    import dask.array as da

    anchor = y_pred if is_chunked(y_pred) else y_true
    rows = anchor.chunks[0] if anchor.ndim else None
    if rows is None or np.shape(y_true)[:1] != np.shape(y_pred)[:1]:
        raise ValueError(
            f"a chunked loss needs y_true and y_pred with the same number of rows (the first "
            f"axis), got shapes {np.shape(y_true)} and {np.shape(y_pred)}. Hint: the rows are "
            "the samples; chunk both along them.")
    ndim = np.ndim(y_pred)
    if len(rows) > 1 and ndim < 2:
        raise ValueError(
            f"{name}: a 1-d `y_pred` (shape {np.shape(y_pred)}) is one sample, whose loss Keras "
            f"takes over all its {np.shape(y_pred)[0]} values, so it cannot be split into "
            f"{len(rows)} chunks of samples. Hint: if each value is a sample, pass "
            "y_true[:, None] and y_pred[:, None] (the loss is then the mean over samples); "
            "else rechunk to one chunk, or compute it on numpy arrays.")
    if len(rows) > 1 and isinstance(axis, (int, np.integer)) and axis % ndim == 0:
        raise ValueError(
            f"{name}: axis={axis} is the first axis of `y_pred` (shape {np.shape(y_pred)}), "
            f"along which Dask arrays are split into chunks of samples; its {len(rows)} chunks "
            "would each hold part of every sample. Hint: move the class axis last "
            "(dask.array.moveaxis) and pass axis=-1.")

    def split(x: Any) -> list[Any]:
        x = x if is_chunked(x) else da.from_array(np.asarray(x), chunks=-1)
        whole = {axis: -1 for axis in range(1, x.ndim)}
        return list(x.rechunk({0: rows, **whole}).to_delayed().ravel())

    truths, predictions = split(y_true), split(y_pred)
    weight_rows = sample_weight is not None and np.ndim(sample_weight) >= 1 \
        and np.shape(sample_weight)[0] == np.shape(y_pred)[0] and len(rows) > 1
    if weight_rows:
        weights = split(sample_weight)
    else:
        whole = sample_weight.compute() if is_chunked(sample_weight) else sample_weight
        weights = [whole] * len(rows)
    return list(zip(truths, predictions, weights))


def per_block(work: Callable[[Any, Any, Any], Any],
              blocks: Sequence[tuple[Any, Any, Any]]) -> list[Any]:
    """``work(y_true, y_pred, sample_weight)`` on every block, where the blocks live."""
    import dask

    return list(dask.compute(*[dask.delayed(work)(*block) for block in blocks]))


def combine(parts: Sequence[BlockSums], reduction: str, dtype: np.dtype) -> float:
    """Keras' reduced value from the blocks' sums, as `lossbounds.engine.reduce_weighted`.

    The sums are added exactly (``math.fsum``) and rounded to `dtype`, as
    Keras' total of the whole array is rounded.
    """
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        total = dtype.type(math.fsum(part[0] for part in parts))
        if reduction == "sum":
            return float(total)
        if reduction == "mean_with_sample_weight":
            divisor = dtype.type(math.fsum(part[2] for part in parts))
        else:
            divisor = dtype.type(sum(part[1] for part in parts))
        return float(total / divisor) if divisor != 0 else 0.0  # ops.divide_no_nan
