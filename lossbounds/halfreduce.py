r"""Reduced float16 losses in bounded memory, bit for bit TensorFlow's.

A float16 total must be added in TensorFlow's exact order (Eigen's half
reducer, `lossbounds._tfmath.half_sum`): one float16 ulp is 1e-3, so any
other order changes the value. That order is a tree over the flat tensor of
weighted per-sample losses whose split points depend on flat offsets alone,
so `reduce_half` walks it without the values (`_tfmath.streamed_half_sum`)
and computes only the losses of one subtree at a time: a float16 job
(`lossbounds.engine.make_job`) gives any range of rows their values in the
whole array, and the weights and the ``ignore_class`` mask are multiplied in
float16 exactly as `lossbounds.engine.reduce_weighted` multiplies them. The
result equals `reduce_weighted` on the whole values to the bit; the memory is
a subtree's (2**18 values) and a block of rows, whatever the batch size.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _tfmath
from .checks import to_array
from .engine import Job, RowView, broadcast_shape, per_sample, run, same_rank

__all__ = ["reduce_half"]


def _like(shape: tuple[int, ...]) -> np.ndarray:
    """A stand-in of `shape` that costs no memory: Keras' rank fixes act on shapes only."""
    return np.broadcast_to(np.zeros((), bool), shape)


class _FlatReader:
    """Values start:stop of ``np.broadcast_to(array, shape).reshape(-1)``, never copied whole."""

    def __init__(self, array: np.ndarray, shape: tuple[int, ...]):
        view = np.broadcast_to(array, shape)
        self.shape = shape
        self.flat = view.reshape(-1) if view.flags.c_contiguous else None
        self.view = view

    def __call__(self, start: int, stop: int) -> np.ndarray:
        if self.flat is not None:
            return self.flat[start:stop]
        if self.view.size and not any(self.view.strides):  # one value (a scalar weight)
            return np.broadcast_to(self.view.reshape(-1)[:1], (stop - start,))
        return self.view[np.unravel_index(np.arange(start, stop), self.shape)]


@dataclasses.dataclass(frozen=True)
class _Weights:
    """How `reduce_weighted` weighs the flat losses, found on stand-ins of the shapes.

    `weight` reads the user's weights (uncast) as they multiply flat losses
    start:stop, or is None without weights. ``mean_with_sample_weight``
    divides by the sum of `divisor_size` values: the weights in their own
    shape (a scalar weight divides by itself), read by `divisor`; with an
    ``ignore_class`` mask the merged weights, flat like the losses (then
    `divisor` is None); none at all (size 0) without weights or mask, when
    it divides by the count of losses.
    """

    weight: Callable[[int, int], np.ndarray] | None
    divisor: Callable[[int, int], np.ndarray] | None
    divisor_size: int


def _weights(job: Job, sample_weight: Any, fit_values: bool) -> _Weights | None:
    """`reduce_weighted`'s rank fixes on stand-ins; None where weights enlarge the losses."""
    masked = job.ignore_class is not None
    weight = None if sample_weight is None else to_array(sample_weight, "sample_weight",
                                                         allow_bool=True)  # cast per range
    values = _like(job.loss_shape)
    merged, weight_shape = weight, job.loss_shape
    if masked and weight is not None:
        # the mask is fitted to the weights first, and their product weighs the losses
        mask, weight = same_rank(_like(job.loss_shape), weight)
        merged = _like(broadcast_shape(mask, weight, "sample_weight"))
        if merged.size != values.size:
            return None
        weight_shape = merged.shape
    elif masked:
        merged = _like(job.loss_shape)
    if merged is not None:
        if fit_values:
            values, fitted = same_rank(values, merged)
        elif merged.ndim == values.ndim + 1 and merged.shape[-1] == 1:
            fitted = merged[..., 0]
        elif 0 < merged.ndim == values.ndim - 1:
            fitted = merged[..., None]
        else:
            fitted = merged
        if broadcast_shape(values, fitted, "sample_weight") != values.shape:
            return None  # the weights enlarge the losses: `reduce_weighted` on whole values
        if weight is not None and not masked:
            weight, weight_shape = fitted, values.shape
    if values.shape in ((), (0,)):
        return None  # Keras returns these unreduced
    read = None if weight is None else _FlatReader(weight, weight_shape)
    if masked:  # the merged weights (mask times weights) are flat like the losses
        return _Weights(read, None, values.size)
    if weight is None:
        return _Weights(None, None, 0)
    return _Weights(read, _FlatReader(weight, weight.shape), weight.size)


class _RowRange:
    """Rows start:stop of a job's (M, D) input, sliced further without a copy (like `RowView`)."""

    ndim = 2

    def __init__(self, rows: Any, start: int, stop: int):
        self.rows, self.start, self.dtype = rows, start, rows.dtype
        self.shape = (stop - start, rows.shape[1])

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        return self.rows[self.start + start : self.start + stop]


def _rows(job: Job, start: int, stop: int) -> Job:
    """The job of rows start:stop alone (labels and arrays are sliced as views)."""
    def part(source: Any) -> Any:
        if isinstance(source, RowView):
            return _RowRange(source, start, stop)  # a RowView gathers what it is sliced to
        return source[start:stop]

    return dataclasses.replace(job, y_true=part(job.y_true), y_pred=part(job.y_pred),
                               loss_shape=(stop - start,))


def reduce_half(job: Job, sample_weight: Any, reduction: str, *,
                fit_values: bool = True) -> float | None:
    """`lossbounds.engine.reduce_weighted` of a float16 job's losses, a subtree at a time.

    Parameters
    ----------
    job : Job
        A float16 job (`lossbounds.engine.make_job` with a `reference`).
    sample_weight : array_like or None
    reduction : str
        A reduction other than ``"none"``.
    fit_values : bool, default True
        Keras 3's rank fix of losses and weights (False: Keras 2's, which
        fits only the weights).

    Returns
    -------
    float or None
        The reduced loss, or None where `reduce_weighted` must have the whole
        values: weights that enlarge the losses, and 0-d or empty losses.
    """
    kind = job.dtype.type
    weights = _weights(job, sample_weight, fit_values)
    if weights is None:
        return None
    count = math.prod(job.loss_shape)
    labels = job.labels if job.ignore_class is not None else None  # the mask's reader

    def mask(start: int, stop: int) -> np.ndarray | None:
        return None if labels is None else labels.read(job, job.y_true[start:stop])[1]

    mask_weight = kind(1)
    if labels is not None and reduction in ("mean", "sum_over_batch_size"):
        # Valid entries weigh total/valid: a first pass over the labels counts them.
        def valid_count(start: int, stop: int, ws: object) -> int:
            valid = mask(start, stop)
            return stop - start if valid is None else int(np.count_nonzero(valid))

        counts = run(job, valid_count)
        with np.errstate(all="ignore"):  # inf beyond 65504 entries, as in Keras
            valid = kind(sum(counts))
            mask_weight = kind(count) / valid if valid else kind(0)

    def merged(start: int, stop: int, valid: np.ndarray | None) -> np.ndarray | None:
        """The float16 weights of losses start:stop: weights times float mask, as Keras merges them."""
        weight = None if weights.weight is None else weights.weight(start, stop).astype(job.dtype)
        if valid is None:
            return weight
        float_mask = np.where(valid, mask_weight, kind(0)).astype(job.dtype)
        return float_mask if weight is None else weight * float_mask

    def weighted(start: int, stop: int) -> np.ndarray:
        values, valid = per_sample(_rows(job, start, stop))
        weight = merged(start, stop, valid)
        return values if weight is None else np.multiply(values, weight, dtype=job.dtype)

    def divided(start: int, stop: int) -> np.ndarray:
        """The values ``mean_with_sample_weight`` divides by: merged weights, or the weights."""
        if labels is not None:
            return merged(start, stop, mask(start, stop))  # type: ignore[return-value]
        return weights.divisor(start, stop).astype(job.dtype)  # type: ignore[misc]

    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN as Keras gives them
        total = _tfmath.streamed_half_sum(count, weighted)
        if reduction == "sum":
            return float(total)
        if reduction == "mean_with_sample_weight" and weights.divisor_size:
            divisor = _tfmath.streamed_half_sum(weights.divisor_size, divided)
        else:
            divisor = kind(count)
        # ops.divide_no_nan: 0 where the divisor is 0.
        return float(total / divisor) if divisor != 0 else 0.0
