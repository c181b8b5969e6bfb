r"""Keras 3 losses (TensorFlow backend) reproduced in numpy.

The four per-sample functions take Keras' names, argument order and defaults
and return what ``keras.losses.<same name>`` returns: the same values (to
float32 precision), dtype and shape. `loss` returns what a Keras loss *class*
instance returns, reductions and sample weights included, and `LossMeter`
keeps the running mean Keras' progress bar shows during ``fit``.

Where Keras silently computes garbage we raise instead (sparse labels that are
not integers or lie outside ``[0, K)``, ``label_smoothing`` outside [0, 1]);
where Keras computes a defined value from odd but legal input (probabilities
outside [0, 1], rows that do not sum to 1) we return Keras' value. See
:doc:`the Keras semantics page <keras-semantics>` for every quirk reproduced.

How the work is done: every loss has a *reference*, the whole-array
transcription of Keras' formulas, and float32/float64 inputs also have a
*kernel* (the table ``_KERNELS``). Kernels run on blocks of 2**18-2**19
elements through reused buffers, on two threads; each kernel takes a
shortcut only where it gives Keras' value (one-hot targets, rows whose
exponentials stay in range) and hands every other row to the reference.
`loss` reduces each block as soon as it is computed, so its memory stays
flat whatever the batch size. float16 always takes the reference, which adds
in TensorFlow's exact order (`_tfmath.half_sum`).
"""

from __future__ import annotations

import math
import os
import sys
import threading
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _tfmath
from ._validation import (
    EPSILON,
    as_float_dtype,
    check_axis,
    check_bool,
    check_epsilon,
    check_ignore_class,
    check_label_smoothing,
    check_reduction,
    plain,
    resolve_loss,
    to_array,
)

__all__ = [
    "LossMeter",
    "binary_crossentropy",
    "categorical_crossentropy",
    "loss",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]

_F32 = np.float32
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


# --------------------------------------------------------------------------
# Shapes


def _same_rank(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keras' ``squeeze_or_expand_to_same_rank``.

    Acts only when the ranks differ by one and the longer array's last
    dimension is 1: a rank-1 partner is expanded to ``(N, 1)``, otherwise the
    longer array is squeezed.
    """
    if x1.ndim == x2.ndim + 1 and x1.shape[-1] == 1:
        if x2.ndim == 1:
            x2 = x2[:, None]
        else:
            x1 = x1[..., 0]
    if x2.ndim == x1.ndim + 1 and x2.shape[-1] == 1:
        if x1.ndim == 1:
            x1 = x1[:, None]
        else:
            x2 = x2[..., 0]
    return x1, x2


def _require_same_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> None:
    if y_true.shape != y_pred.shape:
        what = "rank" if y_true.ndim != y_pred.ndim else "shape"
        raise ValueError(
            f"{loss}: `y_true` and `y_pred` must have the same {what}, got "
            f"y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}."
            + (
                " Hint: for integer class labels use "
                "sparse_categorical_crossentropy."
                if y_true.ndim + 1 == y_pred.ndim
                else ""
            )
        )


def _require_rank(array: np.ndarray, argument: str, loss: str) -> None:
    if array.ndim < 1:
        raise ValueError(
            f"{loss}: `{argument}` must have at least one dimension, got a "
            "scalar. Hint: wrap it, e.g. [value]."
        )


def _broadcast_shape(a: np.ndarray, b: np.ndarray, what: str) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{what}: shapes {a.shape} and {b.shape} do not broadcast against "
            "each other."
        ) from None


# --------------------------------------------------------------------------
# Inputs


def _predictions(y_pred: Any, loss: str, *, allow_int: bool = False) -> np.ndarray:
    y_pred = to_array(y_pred, "y_pred", allow_int=allow_int)
    if y_pred.dtype.kind in "iu" and not allow_int:  # pragma: no cover - to_array raises
        raise TypeError(f"{loss}: `y_pred` must be floating point.")
    return y_pred


def _targets(y_true: Any) -> np.ndarray:
    # Keras' ops.cast(y_true, y_pred.dtype) happens where the values are used:
    # whole in the reference, block by block in the kernels.
    return to_array(y_true, "y_true", allow_bool=True)


def _caller_outside_package() -> int:
    """The `stacklevel` that points a warning at the user's line, however deep inside lossbounds."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def _clip_bounds(epsilon: float, dtype: np.dtype) -> tuple[Any, Any]:
    # Keras passes Python floats to tf.clip_by_value, so `1 - epsilon` is
    # computed in double precision and then rounded to the tensor dtype:
    # f32(1 - 1e-7) = 1 - 2**-23, and in float16 it is 1.0.
    return dtype.type(epsilon), dtype.type(1.0 - epsilon)


def _clip(x: np.ndarray, epsilon: float) -> np.ndarray:
    low, high = _clip_bounds(epsilon, x.dtype)
    # tf.clip_by_value is minimum-then-maximum; both propagate NaN.
    return np.maximum(np.minimum(x, high), low)


def _cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return x.astype(dtype, copy=False)


# --------------------------------------------------------------------------
# References: Keras' formulas on whole arrays. They define the values; the
# kernels below must agree with them, and call them for rows they cannot do.


def _mse_reference(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # inf beyond float range, as in Keras
        difference = np.subtract(y_true, y_pred, dtype=y_pred.dtype)
        return _tfmath.keras_mean(np.square(difference), axis=-1)


def _flushed(value: Any) -> Any:
    """A scalar as TensorFlow's CPU kernels read it: subnormal float32/float64 is 0."""
    return _tfmath.flush_subnormals(np.asarray(value))[()]


def _smooth_binary(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    # y * (1 - a) + 0.5 * a, each Python scalar rounded to the tensor dtype
    # (and a subnormal 0.5 * a read as 0).
    dtype = y_true.dtype.type
    return y_true * dtype(1.0 - label_smoothing) + _flushed(dtype(0.5 * label_smoothing))


def _binary_elementwise(
    y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool, epsilon: float
) -> np.ndarray:
    with np.errstate(all="ignore"):
        if from_logits:
            # tf.nn.sigmoid_cross_entropy_with_logits:
            # max(x, 0) - x * y + log1p(exp(-|x|))
            positive = y_pred >= 0
            relu = np.where(positive, y_pred, 0).astype(y_pred.dtype)
            negative_abs = np.where(positive, -y_pred, y_pred)
            return (relu - y_pred * y_true) + np.log1p(np.exp(negative_abs))
        p = _clip(y_pred, epsilon)
        one = y_true.dtype.type(1)
        # Keras takes log(p) and log(1 - p), not log1p(-p): that is what puts
        # the y=0, p=0 loss at -log(1 - f32(1e-7)) = 1.1920929e-07.
        bce = y_true * np.log(p)
        bce = bce + (one - y_true) * np.log(one - p)
        return -bce


def _bce_reference(y_true, y_pred, from_logits, label_smoothing, axis, epsilon):
    if label_smoothing:
        y_true = _smooth_binary(y_true, label_smoothing)
    elementwise = _binary_elementwise(y_true, y_pred, from_logits, epsilon)
    return _tfmath.keras_mean(elementwise, axis=axis)


def _smooth_categorical(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    # y * (1 - a) + a / K, K from y_true's last axis (Keras 3, whatever `axis` is);
    # TF reads a subnormal a, or a / K, as 0.
    dtype = y_true.dtype.type
    shift = _flushed(_flushed(dtype(label_smoothing)) / dtype(y_true.shape[-1]))
    return y_true * dtype(1.0 - label_smoothing) + shift


def _log_softmax_parts(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(shifted, log_sum)`` as TF's softmax cross-entropy kernels compute them.

    ``shifted = x - max(x)`` and ``log_sum = log(sum(exp(shifted)))`` along
    the last axis; the loss for class j is ``log_sum - shifted[j]``.
    float16 logits are computed in float32, as TensorFlow does.
    """
    if logits.dtype == np.float16:
        logits = logits.astype(_F32)
    with np.errstate(all="ignore"):
        shifted = logits - np.max(logits, axis=-1, keepdims=True)
        log_sum = np.log(np.sum(np.exp(shifted), axis=-1, dtype=shifted.dtype))
    return shifted, log_sum


def _cce_reference(y_true, y_pred, from_logits, label_smoothing, axis, epsilon):
    if label_smoothing:
        y_true = _smooth_categorical(y_true, label_smoothing)
    with np.errstate(all="ignore"):
        if from_logits:
            # TF moves the class axis last, then runs its softmax kernel:
            # sum_k y_k * (log_sum - shifted_k).
            shifted, log_sum = _log_softmax_parts(np.moveaxis(y_pred, axis, -1))
            labels = np.moveaxis(y_true, axis, -1).astype(shifted.dtype)
            terms = labels * (log_sum[..., None] - shifted)
            return np.sum(terms, axis=-1, dtype=terms.dtype).astype(y_pred.dtype)
        y_pred = _tfmath.flush_subnormals(y_pred)
        total = _tfmath.flush_subnormals(np.expand_dims(_tfmath.reduce_sum(y_pred, axis), axis))
        p = _clip(y_pred / total, epsilon)
        return -_tfmath.reduce_sum(y_true * np.log(p), axis)


def _softmax_xent(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """tf.nn.sparse_softmax_cross_entropy_with_logits: log_sum - shifted[label]."""
    shifted, log_sum = _log_softmax_parts(logits)
    return log_sum - np.take_along_axis(shifted, labels[..., None], axis=-1)[..., 0]


def _scce_reference(labels, y_pred, valid, from_logits, epsilon):
    if valid is not None:
        # Keras zeroes the ignored rows' predictions before computing.
        y_pred = np.where(valid[..., None], y_pred, y_pred.dtype.type(0))
    with np.errstate(all="ignore"):
        # TF's float32 logs: their rounding survives the renormalisation
        logits = y_pred if from_logits else _tfmath.log(_clip(y_pred, epsilon))
    with np.errstate(over="ignore"):  # a float16 result may overflow, as in Keras
        values = _softmax_xent(logits, labels).astype(y_pred.dtype)
    if valid is not None:
        values = np.where(valid, values, y_pred.dtype.type(0))
    return values


def _integer_labels(y_true: np.ndarray, n_classes: int, valid: np.ndarray | None) -> np.ndarray:
    """Labels as int64, refusing what Keras would truncate or index out of range."""
    checked = y_true if valid is None else y_true[valid]
    if y_true.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(checked) | (checked != np.trunc(checked))
        if bad.any():
            example = checked[bad].flat[0]
            raise ValueError(
                "sparse_categorical_crossentropy: `y_true` must hold integer class "
                f"labels, got {plain(example)}. Keras would silently truncate it to "
                "an integer; lossbounds refuses. Hint: round your labels, or if "
                "they are one-hot rows use categorical_crossentropy."
            )
    out_of_range = (checked < 0) | (checked >= n_classes)
    if np.any(out_of_range):
        raise ValueError(
            f"sparse_categorical_crossentropy: label {plain(checked[out_of_range].flat[0])} in `y_true` lies "
            f"outside [0, {n_classes}) for y_pred with {n_classes} classes. "
            "Hint: labels must run from 0 to K-1; shift 1-based labels down by "
            "one, or pass `ignore_class` for a padding label."
        )
    labels = np.zeros(y_true.shape, np.int64)
    if valid is None:
        labels[...] = checked
    else:
        labels[valid] = checked
    return labels


# --------------------------------------------------------------------------
# Blocks: rows of 2**18-2**19 elements, scratch buffers reused from block to
# block (no page faults, data stays in cache), optionally on two threads.

#: Elements per block: numpy spends 1-3 us on each of the ~20 calls a block
#: takes, serialised on the GIL when two threads run, so blocks must be big;
#: elementwise kernels use half (see `_Kernel`). 2 MiB float32 buffers keep
#: the reduced loss far below its 32 MiB bound.
_BLOCK_ELEMENTS = 1 << 19
#: Threads for exp/log-bound kernels (numpy releases the GIL in its loops).
_THREADS = max(1, min(2, os.cpu_count() or 1))
#: Below this many elements a second thread costs more than it saves.
_THREAD_MIN_ELEMENTS = 1 << 20
#: Long rows are summed in leaves of this many columns (see `_row_sum`).
_LEAF = 256
#: Sparse CCE on probabilities: on rows whose clipped sum lies in [1/2, 2],
#: log(sum / target) is within ~0.7e-6 * max(1, loss) of TF's logsumexp of
#: rounded float32 logs for up to this many classes (the rounding errors of
#: the logs average out with weights p_k; the bound is 2**-24 * ((1 - w) *
#: (ln(K-1) + 2 ln 2 + loss) + 1/e), w = exp(-loss)). tests/test_kernels.py
#: checks the constant.
_NEAR_ONE_WIDTH = 2**15
#: Labels up to this size survive Keras' cast of integer labels to the
#: compute dtype unchanged (the class API casts y_true to float32).
_EXACT_INTEGERS = {np.dtype(np.float32): 2**24, np.dtype(np.float64): 2**53}


@dataclass(frozen=True)
class _Kernel:
    function: Callable[..., np.ndarray]
    threads: bool  # exp/log bound: worth a second thread
    # Elementwise kernels keep two or three block-sized buffers: half-size
    # blocks keep them in L2. Kernels over classes make ~20 numpy calls a
    # block whatever its size: full-size blocks keep that overhead small.
    elementwise: bool = False


@dataclass
class _Job:
    """One loss evaluation as rows: `y_pred` is (M, D); `y_true` is (M, D) targets or (M,) labels.

    Inputs keep their own dtype; each block is cast to `dtype` as it is read,
    which is what Keras' cast of the whole input gives.
    """

    kernel: _Kernel
    y_true: np.ndarray
    y_pred: np.ndarray
    dtype: np.dtype
    loss_shape: tuple[int, ...]
    epsilon: float = EPSILON
    label_smoothing: float = 0.0
    sparse: bool = False
    ignore_class: int | None = None
    label_dtype: np.dtype | None = None  # class API: labels pass through the compute dtype

    def __post_init__(self) -> None:
        self.low, self.high = _clip_bounds(self.epsilon, self.dtype)
        info = np.finfo(self.dtype)
        self.max, self.tiny = info.max, info.tiny
        self.n_rows, self.width = self.y_pred.shape
        block = _BLOCK_ELEMENTS // (2 if self.kernel.elementwise else 1)
        self.block_rows = max(1, block // max(self.width, 1))
        # TF's log takes the tensor's last size % 8 elements one by one
        size = self.n_rows * self.width
        self.scalar_log_from = size - size % 8


class _Workspace:
    """One thread's scratch arrays for one job, made on first use and reused by every block."""

    def __init__(self, job: _Job):
        self.job = job
        self.start = 0  # first row of the current block
        self.output: np.ndarray | None = None  # the block's rows of a per-sample result
        self._arrays: dict[Any, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
        dtype = self.job.dtype if dtype is None else np.dtype(dtype)
        size = math.prod(shape)
        array = self._arrays.get(name)
        if array is None or array.size < size or array.dtype != dtype:
            array = self._arrays[name] = np.empty(size, dtype)
        return array[:size].reshape(shape)

    def scratch(self, name: str, shape: tuple[int, int]) -> np.ndarray:
        """Like `array`, but a one-column elementwise result is computed in the output itself."""
        if self.output is not None and shape == (self.output.shape[0], 1):
            return self.output[:, None]
        return self.array(name, shape)

    def constant(self, key: Any, make: Callable[[], np.ndarray]) -> np.ndarray:
        array = self._arrays.get(key)
        if array is None:
            array = self._arrays[key] = make()
        return array

    def block(self, name: str, array: np.ndarray, start: int, stop: int) -> np.ndarray:
        """Rows start:stop of `array`, C-contiguous in the job's dtype (a view when it already is)."""
        rows = array[start:stop]
        if rows.dtype == self.job.dtype and rows.flags.c_contiguous:
            return rows
        out = self.array(name, rows.shape)
        np.copyto(out, rows, casting="unsafe")
        return out

    def row_offsets(self, rows: int) -> np.ndarray:
        """Flat index of each row's first element in a block: gathers become one np.take."""
        width, block = self.job.width, self.job.block_rows
        return self.constant("offsets", lambda: np.arange(block, dtype=np.int64) * width)[:rows]


def _run_blocks(job: _Job, work: Callable[[int, int, _Workspace], Any]) -> list[Any]:
    """``work(start, stop, workspace)`` on every block of rows, results in block order.

    With two threads the blocks alternate between them; each thread has its
    own workspace, and the caller combines the results in block order, so the
    answer does not depend on the number of threads.
    """
    starts = range(0, job.n_rows, job.block_rows)
    results: list[Any] = [None] * len(starts)

    def worker(first: int, step: int) -> None:
        workspace = _Workspace(job)
        with np.errstate(all="ignore"):  # errstate is per thread
            for i in range(first, len(starts), step):
                start = starts[i]
                results[i] = work(start, min(start + job.block_rows, job.n_rows), workspace)

    big = job.n_rows * job.width >= _THREAD_MIN_ELEMENTS
    threads = _THREADS if job.kernel.threads and big and len(starts) > 1 else 1
    if threads == 1:
        worker(0, 1)
        return results
    errors: list[BaseException] = []

    def helper(first: int) -> None:
        try:
            worker(first, threads)
        except BaseException as error:  # re-raised in the calling thread
            errors.append(error)

    helpers = [threading.Thread(target=helper, args=(i,), daemon=True) for i in range(1, threads)]
    for thread in helpers:
        thread.start()
    try:
        worker(0, threads)
    finally:
        for thread in helpers:
            thread.join()
    if errors:
        raise errors[0]
    return results


class _BadLabels(Exception):
    """A block holds a label Keras would reject or truncate; the reference reports which."""


def _labels_block(job: _Job, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Integer labels of one block and its ``ignore_class`` mask, as Keras casts and masks them."""
    k, ignore = job.width, job.ignore_class
    limit = None if job.label_dtype is None else _EXACT_INTEGERS[job.label_dtype]
    if labels.dtype.kind in "iu":
        low, high = int(labels.min()), int(labels.max())
        beyond = limit is not None and (
            low <= -limit or high >= limit or (ignore is not None and abs(ignore) >= limit)
        )
        if not beyond:  # the cast through the compute dtype changes nothing
            if ignore is None:
                if low < 0 or high >= k:
                    raise _BadLabels
                return labels, None
            valid = labels != ignore
            kept = labels[valid]
            if kept.size and (kept.min() < 0 or kept.max() >= k):
                raise _BadLabels
            return np.where(valid, labels, 0), valid
    if limit is not None and labels.dtype != job.label_dtype:
        labels = labels.astype(job.label_dtype)
    valid = None if ignore is None else labels != ignore
    kept = labels if valid is None else labels[valid]
    if kept.dtype.kind == "f":
        bad = ~np.isfinite(kept) | (kept != np.trunc(kept))
        if bad.any():
            raise _BadLabels
    if kept.size and (kept.min() < 0 or kept.max() >= k):
        raise _BadLabels
    if valid is not None:
        labels = np.where(valid, labels, 0)
    return labels.astype(np.int64, copy=False), valid


def _raise_label_error(job: _Job) -> None:
    """Report the first bad label with the reference's message."""
    labels = job.y_true if job.label_dtype is None else job.y_true.astype(job.label_dtype)
    valid = None if job.ignore_class is None else labels != job.ignore_class
    _integer_labels(labels, job.width, valid)
    raise AssertionError("a label block was rejected but the labels check out")  # pragma: no cover


def _evaluate(job: _Job, start: int, stop: int, ws: _Workspace):
    """Per-sample losses of rows start:stop, and their ``ignore_class`` mask (or None)."""
    ws.start = start
    y_pred = ws.block("y_pred", job.y_pred, start, stop)
    if not job.sparse:
        return job.kernel.function(ws.block("y_true", job.y_true, start, stop), y_pred, ws), None
    labels, valid = _labels_block(job, job.y_true[start:stop])
    values = job.kernel.function(labels, y_pred, ws)
    if valid is not None:
        values[~valid] = 0  # Keras: where(valid, loss, 0)
    return values, valid


def _run(job: _Job, work: Callable[[int, int, _Workspace], Any]) -> list[Any]:
    try:
        return _run_blocks(job, work)
    except _BadLabels:
        _raise_label_error(job)
        raise  # pragma: no cover


def _per_sample(job: _Job) -> tuple[np.ndarray, np.ndarray | None]:
    values = np.empty(job.n_rows, job.dtype)
    mask = None if job.ignore_class is None else np.empty(job.n_rows, bool)

    def work(start: int, stop: int, ws: _Workspace) -> None:
        ws.output = values[start:stop]
        block, valid = _evaluate(job, start, stop, ws)
        if not np.may_share_memory(block, ws.output):  # else computed in place
            ws.output[:] = block
        if mask is not None:
            mask[start:stop] = valid

    _run(job, work)
    if mask is not None:
        mask = mask.reshape(job.loss_shape)
    return values.reshape(job.loss_shape), mask


# --------------------------------------------------------------------------
# Kernels: one idea each. They take a block (y_true, y_pred) and a workspace
# and return the block's per-sample losses (which may live in the workspace).


def _leaf(width: int) -> int:
    """The leaf length for rows of `width`: a divisor of it in [_LEAF/2, _LEAF] if one exists (no tail)."""
    for leaf in range(_LEAF, _LEAF // 2 - 1, -1):
        if width % leaf == 0:
            return leaf
    return _LEAF


def _row_sum(x: np.ndarray, ws: _Workspace, name: str = "row_sum", sign: int = 1) -> np.ndarray:
    """Row sums of a C-contiguous block (of -x if sign < 0), as accurate as numpy's pairwise sum.

    numpy's sum(axis=1) costs ~20 ns a row; BLAS gemv is fast alone but
    OpenBLAS serialises calls from our two threads. So: up to 8 columns,
    add the columns; up to `_LEAF`, einsum (whose SIMD accumulators add at
    most a few terms each, as numpy's pairwise leaves do); longer rows in
    leaves of about `_LEAF` columns, then the leaf sums pairwise (a single
    einsum over 32000 terms drifts by 1e-5).
    """
    rows, width = x.shape
    out = ws.array(name, (rows,))
    if width <= 8:
        np.copyto(out, x[:, 0])
        for column in range(1, width):
            np.add(out, x[:, column], out=out)
    elif width <= _LEAF:
        np.einsum("ij->i", x, out=out)
    else:
        leaf = _leaf(width)
        leaves = width // leaf
        body = x[:, : leaves * leaf].reshape(rows, leaves, leaf)  # a view: rows split in leaves
        sums = np.einsum("ijk->ij", body, out=ws.array(name + "_leaves", (rows, leaves)))
        np.add.reduce(sums, axis=1, out=out)
        if width % leaf:
            tail = np.einsum("ij->i", x[:, leaves * leaf :], out=ws.array(name + "_tail", (rows,)))
            np.add(out, tail, out=out)
    return np.negative(out, out=out) if sign < 0 else out


def _sum(values: np.ndarray) -> float:
    """sum(values) of a 1-D array: numpy's pairwise accuracy at twice its speed (leaves by einsum)."""
    leaf = _LEAF
    leaves = values.size // leaf
    if leaves < 256 or not values.flags.c_contiguous:  # below 2**16 values einsum's set-up costs more
        return float(np.sum(values))
    sums = np.einsum("ij->i", values[: leaves * leaf].reshape(leaves, leaf))
    return float(np.sum(sums)) + float(np.sum(values[leaves * leaf :]))


def _row_mean(x: np.ndarray, ws: _Workspace, *, negate: bool = False) -> np.ndarray:
    """keras.ops.mean over the last axis (sum, then divide), optionally of -x; `x` is scratch."""
    if x.shape[1] == 1:
        return (np.negative(x, out=x) if negate else x)[:, 0]
    total = _row_sum(x, ws, "row_mean", -1 if negate else 1)
    return np.divide(total, x.dtype.type(x.shape[1]), out=total)


def _flat_index(labels: np.ndarray, ws: _Workspace) -> np.ndarray:
    """Flat positions of y_pred[i, label_i] in a block: np.take on them is 3-5x faster than fancy indexing."""
    index = ws.array("flat_index", labels.shape, np.int64)
    return np.add(ws.row_offsets(labels.shape[0]), labels, out=index)


def _squared_error(y_true, y_pred, ws):
    """MSE: (y - p)**2 averaged over the last axis. Memory-bound: one buffer, no temporaries."""
    difference = ws.scratch("difference", y_pred.shape)
    np.subtract(y_true, y_pred, out=difference)
    np.square(difference, out=difference)
    return _row_mean(difference, ws)


def _binary_from_probabilities(y_true, y_pred, ws):
    """BCE on probabilities. For 0/1 targets, y log p + (1 - y) log(1 - p) has
    one nonzero term, so one log of q = p or 1 - p per element instead of two."""
    job = ws.job
    if job.label_smoothing or not job.high < 1:  # soft targets; or 1 - eps rounds to 1 (Keras' NaN)
        return _bce_reference(y_true, y_pred, False, job.label_smoothing, -1, job.epsilon)
    shift = np.subtract(y_true, 1, out=ws.array("shift", y_pred.shape))  # 0 or -1 for 0/1 targets
    q = np.multiply(y_true, shift, out=ws.scratch("q", y_pred.shape))
    if q.any():  # some y (y - 1) != 0: a soft, NaN or infinite target
        return _bce_reference(y_true, y_pred, False, 0.0, -1, job.epsilon)
    np.clip(y_pred, job.low, job.high, out=q)
    np.add(shift, q, out=q)  # p (y = 1), or p - 1 = -(1 - p) exactly (y = 0)
    np.abs(q, out=q)
    return _row_mean(np.log(q, out=q), ws, negate=True)


def _binary_from_logits(y_true, y_pred, ws):
    """BCE on logits: TF's max(x, 0) - x y + log1p(exp(-|x|)), through reused buffers."""
    job = ws.job
    if job.label_smoothing:
        y_true = _smooth_binary(y_true, job.label_smoothing)
    softplus = np.abs(y_pred, out=ws.array("softplus", y_pred.shape))
    np.negative(softplus, out=softplus)
    np.exp(softplus, out=softplus)
    np.log1p(softplus, out=softplus)
    # np.clip(x, 0, inf) is max(x, 0) with NaN kept, 3x faster than np.maximum(x, 0)
    loss = np.clip(y_pred, 0, np.inf, out=ws.scratch("loss", y_pred.shape))
    product = np.multiply(y_pred, y_true, out=ws.array("product", y_pred.shape))
    np.subtract(loss, product, out=loss)
    np.add(loss, softplus, out=loss)
    return _row_mean(loss, ws)


def _sparse_from_probabilities(labels, y_pred, ws):
    """Sparse CCE on probabilities, TF's way: log(sum_k clip(p_k) / clip(p_y)).

    TF takes log(clip(p)) as logits and renormalises, so the clipped row sum
    needs a full pass; the target is a gather from the clipped buffer. TF's
    float32 logs round each log(clip(p_k)); on rows that sum to about 1 that
    moves its value by at most ~0.7e-6 * max(1, loss) from this one (see
    `_NEAR_ONE_WIDTH`), elsewhere (tiny unnormalised rows) by more, so those rows
    take TF's own formula.
    """
    job = ws.job
    clipped = np.clip(y_pred, job.low, job.high, out=ws.array("clipped", y_pred.shape))
    total = _row_sum(clipped, ws)
    normalised = None if job.width > _NEAR_ONE_WIDTH else (total >= 0.5) & (total <= 2)
    np.divide(total, np.take(clipped, _flat_index(labels, ws), mode="clip"), out=total)
    np.log(total, out=total)
    if normalised is None or not normalised.all():
        rows = slice(None) if normalised is None else ~normalised
        logits = _tfmath.log(clipped, scalar_from=job.scalar_log_from - ws.start * job.width)
        total[rows] = _softmax_xent(logits[rows], labels[rows])
    return total


def _exp_sum_over_target(logits, index, ws):
    """sum_k exp(z_k - z_y) per row, and the rows where this way is not exact (or None).

    The target shift is applied after one contiguous exp, as a division by
    the gathered exp(z_y): no subtraction pass, no max pass. It is exact (a
    few ulp, like TF's max shift) unless an exp overflows or exp(z_y) is so
    small that subnormal terms would matter; those rows go back to TF's max
    shift.
    """
    exp = np.exp(logits, out=ws.array("exp", logits.shape))
    ratio = _row_sum(exp, ws)
    target = np.take(exp, index, mode="clip")
    np.divide(ratio, target, out=ratio)
    job = ws.job
    ok = (ratio <= job.max) & (target >= job.tiny * 2.0**26)
    return ratio, (None if ok.all() else ~ok)


def _sparse_from_logits(labels, y_pred, ws):
    """Sparse CCE on logits: log(sum_k exp(z_k - z_y)), shifted by the target logit;
    rows that overflow take TF's max shift (logits of +-1e4 or +-1e30)."""
    ratio, bad = _exp_sum_over_target(y_pred, _flat_index(labels, ws), ws)
    np.log(ratio, out=ratio)
    if bad is not None:
        ratio[bad] = _softmax_xent(y_pred[bad], labels[bad])
    return ratio


def _one_hot(y_true, ws):
    """Flat index and value of each row's one nonzero target, or None unless every row has exactly one.

    The position of a lone nonzero is the row's argmax, or sum_k k y_k /
    sum_k y_k. Proof that there is just one: each row's entry at that position
    is nonzero, and the block holds as many entries with nonzero bits as rows
    (counted on the integer view: no temporary; -0.0 only costs the shortcut).
    """
    rows, width = y_true.shape
    if width >= 128:
        position = np.argmax(y_true, axis=1)
    else:  # argmax costs ~1 ns an element for short rows: sum_k k y_k / sum_k y_k instead
        weights = ws.constant("positions", lambda: np.arange(width, dtype=ws.job.dtype))
        weighted = np.einsum("ij,j->i", y_true, weights, out=ws.array("weighted", (rows,)))
        np.divide(weighted, _row_sum(y_true, ws, "target_sum"), out=weighted)
        position = np.rint(weighted, out=weighted).astype(np.int64)  # garbage if not one-hot
        np.clip(position, 0, width - 1, out=position)  # ...but inside its own row
    index = np.add(ws.row_offsets(rows), position, out=ws.array("flat_index", (rows,), np.int64))
    value = np.take(y_true, index, mode="clip")
    bits = y_true.view(np.int32 if y_true.dtype == np.float32 else np.int64)
    if np.count_nonzero(bits) != rows or not np.all(value):
        return None
    return index, value


def _unusable_sums(total: np.ndarray, job: _Job) -> np.ndarray | None:
    """Rows whose probability sum is 0, inf, NaN or below sqrt(tiny), or None.

    TF flushes subnormal probabilities to 0 before it sums and divides; with
    |sum| >= sqrt(tiny) and a clip floor of at least sqrt(tiny) (`_job`
    checks), that flushing cannot change a value, so the other rows are exact.
    """
    magnitude = np.abs(total)
    ok = (magnitude >= np.sqrt(job.tiny)) & (magnitude <= job.max)
    return None if ok.all() else ~ok


def _onehot_from_probabilities(y_true, y_pred, ws):
    """CCE on probabilities for one-hot targets: -y_c log clip(p_c / sum_k p_k).

    Keras' -sum_k y_k log clip(p_k / sum p) has one nonzero term: a row sum
    and a gather replace N x K divisions and logs. Blocks with soft targets
    take the reference, and so do the rows of `_unusable_sums`.
    """
    job = ws.job
    hot = None if job.label_smoothing else _one_hot(y_true, ws)
    if hot is None:
        return _cce_reference(y_true, y_pred, False, job.label_smoothing, -1, job.epsilon)
    index, value = hot
    total = _row_sum(y_pred, ws)
    loss = np.divide(np.take(y_pred, index, mode="clip"), total)
    np.clip(loss, job.low, job.high, out=loss)
    np.log(loss, out=loss)
    np.multiply(loss, value, out=loss)
    np.negative(loss, out=loss)
    bad = _unusable_sums(total, job)
    if bad is not None:
        loss[bad] = _cce_reference(y_true[bad], y_pred[bad], False, 0.0, -1, job.epsilon)
    return loss


def _onehot_from_logits(y_true, y_pred, ws):
    """CCE on logits for one-hot targets: y_c log sum_k exp(z_k - z_c), the sparse kernel's sum.

    TF multiplies every zero target by (log_sum - shifted_k), which is NaN
    when a logit is -inf: blocks with such logits (or soft targets) take the
    reference.
    """
    job = ws.job
    hot = None
    if not job.label_smoothing and y_pred.min() > -job.max / 2:
        hot = _one_hot(y_true, ws)
    if hot is None:
        return _cce_reference(y_true, y_pred, True, job.label_smoothing, -1, job.epsilon)
    index, value = hot
    ratio, bad = _exp_sum_over_target(y_pred, index, ws)
    np.log(ratio, out=ratio)
    np.multiply(ratio, value, out=ratio)
    if bad is not None:
        ratio[bad] = _cce_reference(y_true[bad], y_pred[bad], True, 0.0, -1, job.epsilon)
    return ratio


def _two_class_logits(y_true, y_pred, ws):
    """K = 2 on logits: TF's max shift leaves the logits 0 and -|d|, d = z1 - z0.

    So the two class losses are L and L + |d| with L = log1p(exp(-|d|)),
    i.e. L + max(d, 0) for class 0 and L + max(-d, 0) for class 1: two
    columns, no row sums, no gathers, and any targets (soft ones too).
    Blocks with a +inf or NaN logit (TF's shift gives inf - inf) take the
    reference; d = +-inf (a -inf logit, or an overflowing gap) is exact.
    """
    job = ws.job
    labels = y_true if job.sparse else None
    if not y_pred.max() < np.inf:
        if labels is not None:
            return _softmax_xent(y_pred, labels)
        return _cce_reference(y_true, y_pred, True, job.label_smoothing, -1, job.epsilon)
    rows = y_pred.shape[0]
    difference = np.subtract(y_pred[:, 1], y_pred[:, 0], out=ws.array("difference", (rows,)))
    softplus = np.abs(difference, out=ws.array("softplus", (rows,)))
    np.negative(softplus, out=softplus)
    np.exp(softplus, out=softplus)
    np.log1p(softplus, out=softplus)  # L
    if labels is not None:
        # the target's loss is L + max(t, 0) with t = d (label 0) or -d (label 1), exactly
        sign = ws.array("sign", (rows,))
        np.copyto(sign, labels, casting="unsafe")  # 1 - 2 label, in the float dtype (fast loops)
        np.multiply(sign, -2, out=sign)
        np.add(sign, 1, out=sign)
        shifted = np.multiply(difference, sign, out=difference)
        loss = np.clip(shifted, 0, np.inf, out=shifted)
        return np.add(loss, softplus, out=loss)
    if job.label_smoothing:
        y_true = _smooth_categorical(y_true, job.label_smoothing)
    first = np.clip(difference, 0, np.inf, out=ws.array("first", (rows,)))  # max(d, 0)
    np.add(softplus, first, out=first)
    np.multiply(first, y_true[:, 0], out=first)
    second = np.clip(difference, -np.inf, 0, out=difference)  # -max(-d, 0)
    np.subtract(softplus, second, out=second)
    np.multiply(second, y_true[:, 1], out=second)
    return np.add(first, second, out=first)  # TF: sum_k y_k (log_sum - shifted_k)


def _two_class_probabilities(y_true, y_pred, ws):
    """CCE on probabilities, K = 2: -(y0 log clip(p0 / s) + y1 log clip(p1 / s)), s = p0 + p1.

    Two logs per row straight from the columns beat the one-hot detection
    and gathers at K = 2; rows whose sum is 0, inf, NaN or tiny take the
    reference.
    """
    job = ws.job
    if job.label_smoothing:
        y_true = _smooth_categorical(y_true, job.label_smoothing)
    rows = y_pred.shape[0]
    total = _row_sum(y_pred, ws)
    logs = ws.array("logs", (2, rows))
    np.divide(y_pred[:, 0], total, out=logs[0])
    np.divide(y_pred[:, 1], total, out=logs[1])
    np.clip(logs, job.low, job.high, out=logs)
    np.log(logs, out=logs)
    np.multiply(logs[0], y_true[:, 0], out=logs[0])
    np.multiply(logs[1], y_true[:, 1], out=logs[1])
    loss = np.add(logs[0], logs[1], out=ws.array("loss", (rows,)))
    np.negative(loss, out=loss)
    bad = _unusable_sums(total, job)
    if bad is not None:
        loss[bad] = _cce_reference(y_true[bad], y_pred[bad], False, 0.0, -1, job.epsilon)
    return loss


#: (loss, from_logits) -> kernel. The cross-entropies are exp/log-bound and
#: gain most from a second thread; MSE's three passes (subtract, square, sum)
#: still gain ~1.3x on top of the memory traffic.
_KERNELS = {
    ("mean_squared_error", False): _Kernel(_squared_error, threads=True, elementwise=True),
    ("binary_crossentropy", False): _Kernel(_binary_from_probabilities, threads=True, elementwise=True),
    ("binary_crossentropy", True): _Kernel(_binary_from_logits, threads=True, elementwise=True),
    ("categorical_crossentropy", False): _Kernel(_onehot_from_probabilities, threads=True),
    ("categorical_crossentropy", True): _Kernel(_onehot_from_logits, threads=True),
    ("sparse_categorical_crossentropy", False): _Kernel(_sparse_from_probabilities, threads=True),
    ("sparse_categorical_crossentropy", True): _Kernel(_sparse_from_logits, threads=True),
}
#: ...and for two classes, where per-row numpy calls dominate: column formulas
#: (sparse CCE on probabilities keeps its kernel, in half-size blocks: its
#: per-row arrays would otherwise be the biggest).
_TWO_CLASS_KERNELS = {
    ("categorical_crossentropy", False): _Kernel(_two_class_probabilities, threads=True, elementwise=True),
    ("categorical_crossentropy", True): _Kernel(_two_class_logits, threads=True, elementwise=True),
    ("sparse_categorical_crossentropy", False): _Kernel(_sparse_from_probabilities, threads=True,
                                                       elementwise=True),
    ("sparse_categorical_crossentropy", True): _Kernel(_two_class_logits, threads=True, elementwise=True),
}


# --------------------------------------------------------------------------
# Plans: the checks of each loss, then either a job for the kernels or the
# reference. The per-sample functions and `loss` share them.


@dataclass
class _Plan:
    reference: Callable[[], tuple[np.ndarray, np.ndarray | None]]
    job: _Job | None = None

    def values(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-sample losses and the ``ignore_class`` mask (None without one)."""
        return self.reference() if self.job is None else _per_sample(self.job)


def _rows(array: np.ndarray, width: int) -> np.ndarray:
    """`array` as (M, width) rows: a view unless an N-d input is strided."""
    if array.ndim != 2:
        array = np.ascontiguousarray(array).reshape(-1, width)
    return array


def _job(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *, axis: int = -1,
    from_logits: bool = False, epsilon: float = EPSILON, **options: Any,
) -> _Job | None:
    """A kernel job, or None where the reference must do the work.

    The reference keeps: float16 (TensorFlow's exact adding order), class
    axes other than the last, 0-d and empty losses, and probability clips
    below the square root of the smallest normal number (1.1e-19 in float32;
    see `_unusable_sums`).
    """
    fast = (
        dtype in (np.float32, np.float64)
        and y_pred.ndim >= 2
        and axis % y_pred.ndim == y_pred.ndim - 1
        and y_pred.size > 0
        and (from_logits or _clip_bounds(epsilon, dtype)[0] >= np.sqrt(np.finfo(dtype).tiny))
    )
    if not fast:
        return None
    width = y_pred.shape[-1]
    sparse = name == "sparse_categorical_crossentropy"
    kernel = _KERNELS[name, from_logits]
    if width == 2:
        kernel = _TWO_CLASS_KERNELS.get((name, from_logits), kernel)
    return _Job(
        kernel=kernel,
        y_true=y_true.reshape(-1) if sparse else _rows(y_true, width),
        y_pred=_rows(y_pred, width),
        dtype=np.dtype(dtype),
        loss_shape=y_pred.shape[:-1],
        epsilon=epsilon,
        sparse=sparse,
        **options,
    )


def _plan_mean_squared_error(y_true, y_pred, dtype, *, epsilon=EPSILON):
    y_true, y_pred = _same_rank(y_true, y_pred)
    _require_rank(y_pred, "y_pred", "mean_squared_error")
    _require_rank(y_true, "y_true", "mean_squared_error")
    _broadcast_shape(y_true, y_pred, "mean_squared_error")

    def reference():
        return _mse_reference(_cast(y_true, dtype), _cast(y_pred, dtype)), None

    job = None
    if y_true.shape == y_pred.shape:
        job = _job("mean_squared_error", y_true, y_pred, dtype)
    return _Plan(reference, job)


def _plan_binary_crossentropy(y_true, y_pred, dtype, *, from_logits, label_smoothing, axis, epsilon):
    _require_same_shape(y_true, y_pred, "binary_crossentropy")
    _require_rank(y_pred, "y_pred", "binary_crossentropy")
    axis = check_axis(axis, y_pred.ndim)

    def reference():
        return _bce_reference(
            _cast(y_true, dtype), _cast(y_pred, dtype), from_logits, label_smoothing, axis, epsilon
        ), None

    job = _job("binary_crossentropy", y_true, y_pred, dtype, axis=axis, from_logits=from_logits,
               epsilon=epsilon, label_smoothing=label_smoothing)
    return _Plan(reference, job)


def _plan_categorical_crossentropy(y_true, y_pred, dtype, *, from_logits, label_smoothing, axis, epsilon):
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"`axis` must be an int, got bool: {axis!r}.")
    _require_rank(y_pred, "y_pred", "categorical_crossentropy")
    if y_pred.shape[-1] == 1:
        warnings.warn(
            "categorical_crossentropy with a single class (y_pred.shape[-1] == 1) "
            "is always about 1.2e-7. Hint: for two classes with one output, use "
            "binary_crossentropy.",
            UserWarning,
            stacklevel=_caller_outside_package(),
        )
    _require_rank(y_true, "y_true", "categorical_crossentropy")
    _require_same_shape(y_true, y_pred, "categorical_crossentropy")
    requested, axis = axis, check_axis(axis, y_pred.ndim)
    if from_logits and requested < -1:
        # tf.nn.softmax_cross_entropy_with_logits fails on a negative axis
        # other than -1 (it builds range(axis + 1, rank) with the raw value).
        raise ValueError(
            f"categorical_crossentropy: with from_logits=True the TensorFlow "
            f"backend rejects axis={requested}. Hint: pass the same axis as a "
            f"non-negative number, axis={axis}."
        )

    def reference():
        return _cce_reference(
            _cast(y_true, dtype), _cast(y_pred, dtype), from_logits, label_smoothing, axis, epsilon
        ), None

    job = _job("categorical_crossentropy", y_true, y_pred, dtype, axis=axis, from_logits=from_logits,
               epsilon=epsilon, label_smoothing=label_smoothing)
    return _Plan(reference, job)


def _plan_sparse_categorical_crossentropy(
    y_true, y_pred, dtype, *, from_logits, ignore_class, axis, epsilon, label_dtype=None
):
    _require_rank(y_pred, "y_pred", "sparse_categorical_crossentropy")
    axis = check_axis(axis, y_pred.ndim)
    if axis != y_pred.ndim - 1:
        raise ValueError(
            "sparse_categorical_crossentropy: only the last axis can be the class "
            f"axis on the TensorFlow backend, got axis={axis} for y_pred of shape "
            f"{y_pred.shape}. Hint: move the classes last with np.moveaxis."
        )
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]  # labels of shape (N, 1)
    if y_true.shape != y_pred.shape[:-1]:
        raise ValueError(
            "sparse_categorical_crossentropy: `y_true` must have the shape of "
            f"`y_pred` without its class axis, {y_pred.shape[:-1]}, got "
            f"{y_true.shape}. Hint: for one-hot targets use "
            "categorical_crossentropy."
        )
    n_classes = y_pred.shape[-1]
    if n_classes == 0 and y_true.size:
        raise ValueError(
            "sparse_categorical_crossentropy: `y_pred` has no classes (last axis "
            "of length 0)."
        )

    def reference():
        labels = y_true if label_dtype is None else _cast(y_true, label_dtype)
        valid = None if ignore_class is None else (labels != ignore_class)
        labels = _integer_labels(labels, n_classes, valid)
        return _scce_reference(labels, _cast(y_pred, dtype), valid, from_logits, epsilon), valid

    # the kernels check the labels block by block
    job = _job("sparse_categorical_crossentropy", y_true, y_pred, dtype, from_logits=from_logits,
               epsilon=epsilon, ignore_class=ignore_class, label_dtype=label_dtype)
    return _Plan(reference, job)


_PLANS = {
    "mean_squared_error": _plan_mean_squared_error,
    "binary_crossentropy": _plan_binary_crossentropy,
    "categorical_crossentropy": _plan_categorical_crossentropy,
    "sparse_categorical_crossentropy": _plan_sparse_categorical_crossentropy,
}


# --------------------------------------------------------------------------
# Per-sample functions


def mean_squared_error(y_true: Any, y_pred: Any, *, epsilon: float = EPSILON) -> np.ndarray:
    r"""Mean squared error over the last axis, as ``keras.losses.mean_squared_error``.

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} (y_d - \hat y_d)^2

    Parameters
    ----------
    y_true : array_like
        Targets. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predictions. Integer predictions give a float32 result, as in Keras.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; mean squared
        error clips nothing, so it has no effect.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s float
        dtype (0-d for 1-D inputs).

    Notes
    -----
    As in Keras 3, shapes that differ only by a trailing axis of length 1,
    ``(N,)`` against ``(N, 1)``, are first brought to the same rank; other
    shapes must broadcast. Nothing is clipped: a difference beyond about
    ``1.8e19`` overflows float32 to ``inf``, as in Keras.

    See Also
    --------
    loss : the reduced value of ``keras.losses.MeanSquaredError``.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.mean_squared_error([[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [1.0, 0.0]])
    array([0.25, 0.5 ], dtype=float32)
    """
    check_epsilon(epsilon)
    y_pred = _predictions(y_pred, "mean_squared_error", allow_int=True)
    y_true = _targets(y_true)
    return _plan_mean_squared_error(y_true, y_pred, y_pred.dtype).values()[0]


def binary_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    epsilon: float = EPSILON,
) -> np.ndarray:
    r"""Binary cross-entropy, averaged over `axis`, as ``keras.losses.binary_crossentropy``.

    For probabilities :math:`p = \mathrm{clip}(\hat y, \epsilon, 1 - \epsilon)`,

    .. math::

        \ell(y, \hat y) = -\frac{1}{D} \sum_{d=1}^{D}
            \left[ y_d \log p_d + (1 - y_d) \log (1 - p_d) \right],

    and for logits :math:`x`,
    :math:`\max(x, 0) - x y + \log(1 + e^{-|x|})`, unclipped.

    Parameters
    ----------
    y_true : array_like
        Targets in [0, 1], the same shape as `y_pred`. Values outside [0, 1]
        are used as given, as in Keras.
    y_pred : array_like
        Probabilities (clipped to ``[epsilon, 1 - epsilon]``) or, with
        ``from_logits=True``, logits. Must be floating point.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    label_smoothing : float in [0, 1], default 0
        Replace each target :math:`y` by :math:`y (1 - a) + a / 2`.
    axis : int, default -1
        The axis the elementwise losses are averaged over.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon, ``keras.config.epsilon()``.

    Returns
    -------
    numpy.ndarray
        Losses with `axis` removed, in `y_pred`'s dtype.

    Notes
    -----
    Keras clips *before* taking logs, and computes :math:`1 - \epsilon` in the
    input dtype: in float32 the two saturated values are
    :math:`-\log \epsilon = 16.118095` (y = 1, p = 0) and
    :math:`-\log(1 - \mathrm{f32}(1 - \epsilon)) = 23 \ln 2 = 15.942385`
    (y = 0, p = 1). In float16 :math:`1 - \epsilon` rounds to 1, so y = 0,
    p = 1 gives ``inf`` and y = 1, p = 1 gives NaN, as in Keras.

    See Also
    --------
    lossbounds.worst_case, lossbounds.best_case : the bounds of these values.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.binary_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
    array([0.6931472], dtype=float32)
    >>> lossbounds.binary_crossentropy([[1.0], [0.0]], [[0.0], [1.0]])
    array([16.118095, 15.942385], dtype=float32)
    """
    return _smoothable_loss(_plan_binary_crossentropy, "binary_crossentropy", y_true, y_pred, from_logits=from_logits,
                            label_smoothing=label_smoothing, axis=axis, epsilon=epsilon)


def _smoothable_loss(plan, name, y_true, y_pred, *, from_logits, label_smoothing, axis, epsilon):
    """Check the options BCE and CCE share, then run the loss's plan per sample."""
    from_logits = check_bool(from_logits, "from_logits")
    label_smoothing = check_label_smoothing(label_smoothing)
    epsilon = check_epsilon(epsilon)
    y_pred = _predictions(y_pred, name)
    return plan(
        _targets(y_true), y_pred, y_pred.dtype, from_logits=from_logits,
        label_smoothing=label_smoothing, axis=axis, epsilon=epsilon,
    ).values()[0]


def categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    epsilon: float = EPSILON,
) -> np.ndarray:
    r"""Categorical cross-entropy, as ``keras.losses.categorical_crossentropy``.

    For probabilities, Keras first rescales each row to sum to 1, then clips:
    :math:`p = \mathrm{clip}(\hat y / \sum_k \hat y_k, \epsilon, 1 - \epsilon)`,
    and

    .. math::

        \ell(y, \hat y) = -\sum_{k=1}^{K} y_k \log p_k .

    For logits :math:`x` it is :math:`\sum_k y_k \left(\log \sum_j e^{x_j} - x_k\right)`,
    computed stably and unclipped.

    Parameters
    ----------
    y_true : array_like
        One-hot (or soft) targets, the same shape as `y_pred`.
    y_pred : array_like
        Probabilities or, with ``from_logits=True``, logits, with the classes
        along `axis`. Must be floating point.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    label_smoothing : float in [0, 1], default 0
        Replace :math:`y` by :math:`y (1 - a) + a / K`. As in Keras 3,
        :math:`K` is the size of the *last* axis even when ``axis != -1``.
    axis : int, default -1
        The class axis.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with `axis` removed, in `y_pred`'s dtype.

    Notes
    -----
    Rows that do not sum to 1 are rescaled, and negative entries are clipped
    after rescaling; an all-zero row gives NaN (0/0), all as in Keras. A
    single class (K = 1) always gives about 1.2e-7; Keras and lossbounds warn.

    See Also
    --------
    sparse_categorical_crossentropy : the same loss from integer labels.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.categorical_crossentropy([[0, 1, 0]], [[0.05, 0.95, 0.0]])
    array([0.05129331], dtype=float32)
    >>> lossbounds.categorical_crossentropy([[0, 1, 0]], [[2.0, 1.0, 1.0]])  # rescaled
    array([1.3862944], dtype=float32)
    """
    return _smoothable_loss(_plan_categorical_crossentropy, "categorical_crossentropy", y_true, y_pred, from_logits=from_logits,
                            label_smoothing=label_smoothing, axis=axis, epsilon=epsilon)


def sparse_categorical_crossentropy(
    y_true: Any,
    y_pred: Any,
    *,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
    epsilon: float = EPSILON,
) -> np.ndarray:
    r"""Cross-entropy from integer labels, as ``keras.losses.sparse_categorical_crossentropy``.

    On the TensorFlow backend, probabilities are clipped, logged and then
    *renormalised*:

    .. math::

        \ell(c, \hat y) = -\log \frac{p_c}{\sum_{k=1}^{K} p_k}, \qquad
        p = \mathrm{clip}(\hat y, \epsilon, 1 - \epsilon),

    which differs from `categorical_crossentropy` (rescale, then clip, never
    renormalise) on clipped rows. For logits it is
    :math:`\log \sum_k e^{x_k} - x_c`.

    Parameters
    ----------
    y_true : array_like of int
        Class labels in ``[0, K)``, shape ``y_pred.shape[:-1]`` (a trailing
        axis of length 1 is also accepted). Float labels must be whole numbers.
    y_pred : array_like
        Probabilities or logits with the K classes along the last axis.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    ignore_class : int, optional
        A label value (such as -1 or 255) whose positions get loss 0 and are
        masked out of `loss`'s reductions.
    axis : int, default -1
        The class axis. The TensorFlow backend supports only the last axis.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.

    Returns
    -------
    numpy.ndarray
        Per-sample losses, shape ``y_pred.shape[:-1]``, in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        For labels outside ``[0, K)`` or not whole numbers. TensorFlow raises
        for out-of-range labels too, but JAX silently returns 0 and every
        backend truncates 1.7 to 1; lossbounds never does either.

    Notes
    -----
    Because of the renormalisation, a correct one-hot prediction costs
    :math:`\log(1 + (K-1)\epsilon/(1-\epsilon))` (1.0e-4 at K = 1000), and
    rows with entries above 1 can cost more than :math:`-\log \epsilon`. An
    all-zero row costs :math:`\log K` on TensorFlow (NaN on other backends).

    See Also
    --------
    categorical_crossentropy : the same loss from one-hot targets.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    array([0.05129344, 2.3025851 ], dtype=float32)
    """
    from_logits = check_bool(from_logits, "from_logits")
    ignore_class = check_ignore_class(ignore_class)
    epsilon = check_epsilon(epsilon)
    y_pred = _predictions(y_pred, "sparse_categorical_crossentropy")
    y_true = to_array(y_true, "y_true")
    return _plan_sparse_categorical_crossentropy(
        y_true, y_pred, y_pred.dtype, from_logits=from_logits,
        ignore_class=ignore_class, axis=axis, epsilon=epsilon,
    ).values()[0]


# --------------------------------------------------------------------------
# The class API: reduced values


def _reduce_weighted(
    values: np.ndarray,
    sample_weight: Any,
    mask: np.ndarray | None,
    reduction: str | None,
    dtype: np.dtype,
) -> np.ndarray:
    """Keras' ``reduce_weighted_values``: merge mask and weights, weight, reduce."""
    values = values.astype(dtype, copy=False)
    if sample_weight is not None:
        sample_weight = to_array(sample_weight, "sample_weight", dtype=dtype)
    if mask is not None:
        if reduction in ("mean", "sum_over_batch_size"):
            # Valid entries weigh total/valid, so the mean is over valid ones.
            total = dtype.type(mask.size)
            valid = dtype.type(np.count_nonzero(mask))
            mask_weight = total / valid if valid else dtype.type(0)
            float_mask = np.where(mask, mask_weight, dtype.type(0)).astype(dtype)
        else:
            float_mask = mask.astype(dtype)
        if sample_weight is None:
            sample_weight = float_mask
        else:
            float_mask, sample_weight = _same_rank(float_mask, sample_weight)
            _broadcast_shape(float_mask, sample_weight, "sample_weight")
            sample_weight = sample_weight * float_mask
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN as Keras gives them
        if sample_weight is not None:
            values, sample_weight = _same_rank(values, sample_weight)
            _broadcast_shape(values, sample_weight, "sample_weight")
            values = np.multiply(values, sample_weight, dtype=dtype)
        if reduction in (None, "none") or values.shape in ((), (0,)):
            return values
        total = _tfmath.reduce_sum(values)
        if reduction == "sum":
            return total
        if reduction == "mean_with_sample_weight" and sample_weight is not None:
            divisor = _tfmath.reduce_sum(np.asarray(sample_weight, dtype))
        else:
            divisor = dtype.type(values.size)
        # ops.divide_no_nan: 0 where the divisor is 0.
        return total / divisor if divisor != 0 else dtype.type(0)


def _exact_sum(parts: list[float]) -> float:
    """The correctly rounded sum of the block partials (so threads cannot change it)."""
    if all(math.isfinite(part) for part in parts):
        return math.fsum(parts)
    return sum(parts)  # inf or NaN, as a float32 sum would give


def _block_sum(array: np.ndarray, dtype: np.dtype) -> float:
    """sum(array.astype(dtype)) in float64, a block at a time (no full-size cast)."""
    flat = array.reshape(-1)
    return _exact_sum([
        float(np.sum(flat[i : i + _BLOCK_ELEMENTS].astype(dtype), dtype=np.float64))
        for i in range(0, flat.size, _BLOCK_ELEMENTS)
    ])


def _stream_reduce(job: _Job, sample_weight: Any, reduction: str) -> float | None:
    """`_reduce_weighted` without materialising the per-sample losses.

    Each block's weighted losses are summed as soon as they are computed, in
    float64; Keras' float32 total is that sum rounded to float32 (so a total
    beyond float32's range is inf, as in Keras). Returns None for the weight
    shapes that enlarge the losses (then the caller materialises them).
    """
    dtype = job.dtype
    masked = job.ignore_class is not None

    def like(shape):  # Keras' rank fixes act on shapes only: run them on stand-ins
        return np.broadcast_to(np.zeros((), bool), shape)

    weight = None
    if sample_weight is not None:
        # Keras fits the weights to the float mask if there is one, else to the losses
        weight = to_array(sample_weight, "sample_weight", allow_bool=True)  # cast block by block
        anchor, weight = _same_rank(like(job.loss_shape), weight)
        if _broadcast_shape(anchor, weight, "sample_weight") != anchor.shape:
            return None  # the weights enlarge the losses: materialise
        flat_weight = np.broadcast_to(weight, anchor.shape).reshape(-1)
    if weight is not None or masked:
        # ...then the losses to the merged weights, which may squeeze them
        merged = anchor if weight is not None else like(job.loss_shape)
        losses, merged = _same_rank(like(job.loss_shape), merged)
        if _broadcast_shape(losses, merged, "sample_weight") != losses.shape or losses.shape == ():
            return None  # enlarged, or the 0-d loss Keras returns unreduced
    mask_weight = dtype.type(1)
    if masked and reduction in ("mean", "sum_over_batch_size"):
        # Valid entries weigh total/valid (a pass over the labels first)
        counts = _run(job, lambda start, stop, ws: int(np.count_nonzero(
            _labels_block(job, job.y_true[start:stop])[1])))
        valid = dtype.type(sum(counts))
        mask_weight = dtype.type(job.n_rows) / valid if valid else dtype.type(0)

    def work(start: int, stop: int, ws: _Workspace) -> tuple[float, float]:
        values, valid = _evaluate(job, start, stop, ws)
        weights = None if weight is None else ws.block("weight", flat_weight, start, stop)
        if valid is not None:
            float_mask = np.where(valid, mask_weight, dtype.type(0)).astype(dtype)
            weights = float_mask if weights is None else np.multiply(weights, float_mask)
        if weights is None:  # pairwise-accurate sums: BLAS dot drifts on long runs of equal values
            return _sum(values), 0.0
        weighted = np.multiply(values, weights, out=ws.array("weighted", values.shape))
        return _sum(weighted), float(np.sum(weights, dtype=np.float64))

    parts = _run(job, work)
    with np.errstate(over="ignore"):
        total = dtype.type(_exact_sum([part[0] for part in parts]))
    if reduction == "sum":
        return float(total)
    if reduction == "mean_with_sample_weight" and masked:
        divisor = dtype.type(_exact_sum([part[1] for part in parts]))
    elif reduction == "mean_with_sample_weight" and weight is not None:
        divisor = dtype.type(_block_sum(weight, dtype))
    else:
        divisor = dtype.type(job.n_rows)
    # ops.divide_no_nan: 0 where the divisor is 0.
    with np.errstate(all="ignore"):
        return float(total / divisor) if divisor != 0 else 0.0


_DEFAULTS = {
    "from_logits": False,
    "label_smoothing": 0.0,
    "axis": -1,
    "ignore_class": None,
}

_CHECKS = {
    "from_logits": lambda value: check_bool(value, "from_logits"),
    "label_smoothing": check_label_smoothing,
    "ignore_class": check_ignore_class,
    "axis": lambda value: value,  # checked against the input's rank later
}


def loss(
    name: str,
    y_true: Any,
    y_pred: Any,
    *,
    sample_weight: Any = None,
    reduction: str | None = "sum_over_batch_size",
    dtype: Any = None,
    epsilon: float = EPSILON,
    **options: Any,
) -> float | np.ndarray:
    r"""The value a Keras loss class instance returns, such as ``keras.losses.MeanSquaredError()``.

    ``lossbounds.loss(name, y_true, y_pred, sample_weight=w, reduction=r,
    dtype=d, **options)`` equals
    ``keras.losses.<Class>(reduction=r, dtype=d, **options)(y_true, y_pred, sample_weight=w)``.

    Parameters
    ----------
    name : str
        A loss name: Keras' (``"binary_crossentropy"``), its aliases
        (``"mse"``, ``"bce"``), the class name (``"BinaryCrossentropy"``) or
        the short forms ``"cce"`` and ``"sparse_cce"``; case and separators
        do not matter.
    y_true, y_pred : array_like
        Targets and predictions, as for the per-sample function. Both are
        first cast to `dtype`.
    sample_weight : array_like, optional
        Weights that broadcast against the per-sample losses after Keras' rank
        fix: a scalar, ``(N,)``, ``(N, 1)``, or for 3-D inputs ``(N, T)``,
        ``(N, T, 1)`` or ``(T,)``.
    reduction : str or None, default "sum_over_batch_size"
        ``"sum_over_batch_size"`` and ``"mean"`` give
        :math:`\sum_i w_i \ell_i / n` where :math:`n` counts *all* per-sample
        losses (zero weights included; only ``ignore_class`` removes
        entries); ``"sum"`` gives :math:`\sum_i w_i \ell_i`;
        ``"mean_with_sample_weight"`` gives
        :math:`\sum_i w_i \ell_i / \sum_i w_i`; ``"none"`` and ``None``
        return the weighted per-sample losses.
    dtype : str, optional
        Keras' compute dtype: ``"float32"`` (default), ``"float16"``,
        ``"float64"`` or ``"mixed_float16"``.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.
    **options
        The loss's own options: ``from_logits``, ``label_smoothing``,
        ``axis``, ``ignore_class``.

    Returns
    -------
    float or numpy.ndarray
        A Python float for a reduced value; an array in `dtype` for
        ``reduction="none"`` (and, as in Keras, for an empty batch).

    See Also
    --------
    mean_squared_error, binary_crossentropy, categorical_crossentropy,
    sparse_categorical_crossentropy : the per-sample losses.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.loss("sparse_cce", [0, 1, 2], [[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.1, 0.8]])
    0.2676540...
    >>> lossbounds.loss("bce", [1.0, 0.0], [[0.9], [0.2]], sample_weight=[1.0, 3.0],
    ...                 reduction="mean_with_sample_weight")
    0.19370...
    """
    spec = resolve_loss(name, "name")
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise TypeError(
            f"{spec.class_name} has no option {', '.join(map(repr, unknown))}; its "
            f"options are {', '.join(spec.options) or 'none'} (plus sample_weight, "
            "reduction, dtype and epsilon)."
        )
    reduction = check_reduction(reduction)
    compute_dtype = as_float_dtype(dtype)
    kwargs = {key: _CHECKS[key](options.get(key, _DEFAULTS[key])) for key in spec.options}
    kwargs["epsilon"] = check_epsilon(epsilon)
    if spec.name == "sparse_categorical_crossentropy":
        kwargs["label_dtype"] = compute_dtype  # Keras casts the labels too
    # Keras casts both inputs to the compute dtype; the kernels do it block
    # by block, so a float64 or int input costs no full-size copy.
    y_pred = to_array(y_pred, "y_pred", allow_bool=True)
    y_true = to_array(y_true, "y_true", allow_bool=True)
    y_true, y_pred = _same_rank(y_true, y_pred)
    plan = _PLANS[spec.name](y_true, y_pred, compute_dtype, **kwargs)
    if plan.job is not None and reduction not in (None, "none"):
        streamed = _stream_reduce(plan.job, sample_weight, reduction)
        if streamed is not None:
            return streamed
    values, mask = plan.values()
    result = _reduce_weighted(values, sample_weight, mask, reduction, compute_dtype)
    if np.ndim(result) == 0:
        return float(result)
    return result


# --------------------------------------------------------------------------
# Streaming over batches


class LossMeter:
    r"""The running training loss, as Keras' progress bar shows it.

    ``LossMeter(loss_name, **options)`` takes `loss`'s arguments (``from_logits``,
    ``reduction``, ``dtype``, ``epsilon``, ...). Each ``update(y_true, y_pred,
    sample_weight=None)`` computes one batch's loss exactly as the Keras loss
    class does and adds it; ``result()`` is then the value ``fit`` would print.

    Why the printed training loss is a running mean: ``model.fit`` keeps a
    ``keras.metrics.Mean`` loss tracker and, after every batch, calls
    ``tracker.update_state(batch_loss, sample_weight=batch_size)``. The bar,
    and ``history.history["loss"]`` at the end of the epoch, show
    ``total / count`` with ``total = sum_b loss_b * n_b`` and
    ``count = sum_b n_b`` over the batches *so far in this epoch* (the tracker
    is reset when an epoch starts). So the displayed loss is the mean of
    per-batch losses weighted by batch size, each computed with the weights
    the model had *at that batch*: it lags behind the current model, and it
    is not the loss of the final weights on the training set, which
    ``model.evaluate`` would report (usually lower while the model is still
    improving). A short last batch counts for its size only.

    As in Keras, `total` and `count` are float32 variables, added to in
    float32 (`count` stops being exact after 2**24 samples in an epoch, in
    Keras as here); `count` on this object is the exact number of samples.

    Examples
    --------
    >>> import lossbounds
    >>> meter = lossbounds.LossMeter("sparse_cce")
    >>> meter.update([0, 1], [[0.9, 0.1], [0.2, 0.8]])
    0.1642520...
    >>> meter.update([1], [[0.5, 0.5]])
    0.6931471...
    >>> meter.result(), meter.count  # (2 * 0.164252 + 1 * 0.693147) / 3
    (0.3405504..., 3)
    """

    def __init__(self, loss_name: str, **options: Any):
        self._spec = resolve_loss(loss_name, "loss_name")
        reduction = check_reduction(options.get("reduction", "sum_over_batch_size"))
        if reduction in (None, "none"):
            raise ValueError(
                "LossMeter needs a reduced batch loss; reduction=None/'none' gives "
                "per-sample values. Hint: keep Keras' default 'sum_over_batch_size'."
            )
        if "sample_weight" in options:
            raise TypeError("Pass `sample_weight` to update(), once per batch.")
        unknown = sorted(set(options) - set(self._spec.options) - {"reduction", "dtype", "epsilon"})
        if unknown:
            raise TypeError(
                f"{self._spec.class_name} has no option {', '.join(map(repr, unknown))}; its "
                f"options are {', '.join(self._spec.options) or 'none'} (plus reduction, dtype "
                "and epsilon)."
            )
        self._options = options
        self.reset()

    def reset(self) -> None:
        """Forget every batch (Keras resets its tracker at the start of each epoch)."""
        self._total = _F32(0)
        self._weight = _F32(0)
        self._samples = 0

    def update(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> float:
        """Add one batch; returns its loss, ``loss(loss_name, y_true, y_pred, ...)``."""
        value = loss(self._spec.name, y_true, y_pred, sample_weight=sample_weight, **self._options)
        shape = np.shape(y_pred)
        batch_size = shape[0] if shape else 1  # Keras: the batch's first dimension
        with np.errstate(over="ignore", invalid="ignore"):
            # Mean.update_state(loss, sample_weight=batch_size), in float32
            size = _F32(batch_size)
            self._total = _F32(self._total + _F32(value) * size)
            self._weight = _F32(self._weight + size)
        self._samples += batch_size
        return value

    def result(self) -> float:
        """The running mean ``total / count`` (0 before any batch), as Keras displays it."""
        if self._weight == 0:
            return 0.0
        with np.errstate(all="ignore"):
            return float(self._total / self._weight)

    @property
    def count(self) -> int:
        """Samples seen since the last reset."""
        return self._samples

    def __repr__(self) -> str:
        return f"LossMeter({self._spec.name!r}, result={self.result():.6g}, count={self.count})"
