r"""The block engine: a loss evaluated block by block through reused buffers.

Every loss has a *reference*, the whole-array transcription of Keras'
formulas, and float32/float64 inputs may also have a *kernel*
(`lossbounds.registry.LossDefinition.plan` chooses). Kernels run on blocks of
2**18-2**19 elements through reused buffers, on two threads; each kernel
takes a shortcut only where it gives Keras' value and hands every other row
to the reference. `stream_reduce` reduces each block as soon as it is
computed, so the memory of a reduced loss stays flat whatever the batch size;
where a fused kernel (`lossbounds.fused`) sums the losses straight from the
inputs, its blocks are longer (about 2**22 elements, an even number of them).
A row wider than a block whose value is the mean or sum of its elements' terms
(`Kernel.row_terms`; a 1-d input is one row) is computed a segment of columns
at a time, on two threads where it is the only row.

This module knows nothing about any particular loss: the definitions give it
kernels, and sparse labels a `LabelReader`.
"""

from __future__ import annotations

import functools
import math
import os
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from . import _tfmath
from .allocator import settle as settle_allocator
from .backends import Backend
from .checks import EPSILON, MAX_ELEMENTS, to_array
from .fused import Fused, weighted_sums
from .threads import THREADS, run_on_threads, run_pieces

__all__ = [
    "Job", "Kernel", "LabelReader", "Plan", "RejectedBlock", "RowView", "Workspace", "as_rows",
    "row_wise_plan",
    "broadcast_shape", "caller_outside_package", "cast", "clip", "flat_index", "make_job",
    "per_sample", "predictions", "reduce_weighted", "require_rank", "require_same_shape",
    "row_mean", "row_sum", "rows_job", "run", "same_rank", "stream_reduce", "sum_values",
    "targets",
]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


# --------------------------------------------------------------------------
# Shapes


def same_rank(x1: np.ndarray, x2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def require_same_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> None:
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


def require_rank(array: np.ndarray, argument: str, loss: str) -> None:
    if array.ndim < 1:
        raise ValueError(
            f"{loss}: `{argument}` must have at least one dimension, got a "
            "scalar. Hint: wrap it, e.g. [value]."
        )


def broadcast_shape(a: np.ndarray, b: np.ndarray, what: str) -> tuple[int, ...]:
    """The shape `a` and `b` broadcast to; refused beyond `MAX_ELEMENTS` (bounded memory)."""
    try:
        # (equal shapes, the usual case, without numpy's broadcasting machinery: 15 us a call
        # when the caches are cold, as after a pass over a large input)
        shape = a.shape if a.shape == b.shape else np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(
            f"{what}: shapes {a.shape} and {b.shape} do not broadcast against "
            "each other."
        ) from None
    if math.prod(shape) > MAX_ELEMENTS:
        # (2**16, 1) against (1, 2**15): small inputs, 2**31 results (8 GiB)
        raise ValueError(
            f"{what}: shapes {a.shape} and {b.shape} broadcast to {shape}, "
            f"{math.prod(shape):.3g} elements; lossbounds handles at most 2**30 per call. "
            "Hint: check the shapes (a (N,) against (N, 1) or a transposed input broadcasts "
            "every target against every prediction), or compute batch by batch."
        )
    return shape


# --------------------------------------------------------------------------
# Inputs


def predictions(y_pred: Any, loss: str, *, allow_int: bool = False) -> np.ndarray:
    y_pred = to_array(y_pred, "y_pred", allow_int=allow_int)
    if y_pred.dtype.kind in "iu" and not allow_int:  # pragma: no cover - to_array raises
        raise TypeError(f"{loss}: `y_pred` must be floating point.")
    return y_pred


def targets(y_true: Any) -> np.ndarray:
    # Keras' ops.cast(y_true, y_pred.dtype) happens where the values are used:
    # whole in the reference, block by block in the kernels.
    return to_array(y_true, "y_true", allow_bool=True)


def caller_outside_package() -> int:
    """The `stacklevel` that points a warning at the user's line, however deep inside lossbounds."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    return level


def clip(x: np.ndarray, epsilon: float) -> np.ndarray:
    low, high = Backend.clip_bounds(epsilon, x.dtype)
    # tf.clip_by_value is minimum-then-maximum; both propagate NaN.
    return np.maximum(np.minimum(x, high), low)


def cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return x.astype(dtype, copy=False)

# --------------------------------------------------------------------------
# Blocks: rows of 2**18-2**19 elements, scratch buffers reused from block to
# block (no page faults, data stays in cache), optionally on two threads.

#: Elements per block: numpy spends 1-3 us on each of the ~20 calls a block
#: takes, serialised on the GIL when two threads run, so blocks must be big;
#: elementwise kernels use half (see `Kernel`). 2 MiB float32 buffers keep
#: the reduced loss far below its 32 MiB bound.
_BLOCK_ELEMENTS = 1 << 19
#: Threads for exp/log-bound kernels (numpy releases the GIL in its loops).
_THREADS = THREADS
#: Below this many elements a second thread costs more than it saves.
_THREAD_MIN_ELEMENTS = 1 << 20
#: Elements per block, at most, where a fused kernel sums losses straight from
#: the inputs (`Job.fused_blocks`): it keeps no block-sized buffers, so long
#: blocks only cut the overhead between blocks, where both threads want the GIL
#: at once (MSE on 1e7 values in 2 blocks, not 4: median 1.60-1.62 -> 1.58-1.59 ms).
_FUSED_BLOCK_ELEMENTS = 1 << 23
#: ...and at least, as the blocks shrink toward the end of a pass (`Job.fused_blocks`).
_FUSED_TAIL_ELEMENTS = 1 << 19
#: Columns of a wide row of terms computed at a time (`Kernel.row_terms`): an
#: elementwise block's elements, a multiple of any packet.
_SEGMENT = _BLOCK_ELEMENTS // 2
#: Long rows are summed in leaves of this many columns (see `row_sum`).
_LEAF = 256
#: A float16 job's blocks hold whole packets of this many rows (see `make_job`).
_HALF_ROWS = 8


@dataclass(frozen=True)
class Kernel:
    """A kernel: the function, and how the engine should run it."""

    function: Callable[..., np.ndarray]
    threads: bool  # exp/log bound: worth a second thread
    # Elementwise kernels keep two or three block-sized buffers: half-size
    # blocks keep them in L2. Kernels over classes make ~20 numpy calls a
    # block whatever its size: full-size blocks keep that overhead small.
    elementwise: bool = False
    #: The same values in one compiled pass where the accelerator is on
    #: (`lossbounds.fused`); `function` runs where it is off or declines a block.
    fused: Fused | None = None
    #: "mean" or "sum" where a row's value is the mean (or sum) of one term per
    #: element: a row wider than `_SEGMENT` is then computed `_SEGMENT` columns at
    #: a time (`_segmented_row`), not whole. None: rows are read whole.
    row_terms: Literal["mean", "sum"] | None = None


@dataclass
class Job:
    """One loss evaluation as rows: `y_pred` is (M, D); `y_true` is (M, D) targets or (M,) labels.

    Inputs keep their own dtype; each block is cast to `dtype` as it is read,
    which is what Keras' cast of the whole input gives.
    """

    kernel: Kernel
    y_true: Any  # np.ndarray or RowView
    y_pred: Any
    dtype: np.dtype
    loss_shape: tuple[int, ...]
    epsilon: float = EPSILON
    label_smoothing: float = 0.0
    labels: LabelReader | None = None  # integer labels (M,) instead of (M, D) targets
    ignore_class: int | None = None
    label_dtype: np.dtype | None = None  # class API: labels pass through the compute dtype
    #: Every block but the last holds a multiple of this many elements (see `rows_job`).
    packet: int = 1
    #: The kernel's fused pass bound to this job, or None (set from `kernel.fused`).
    fused: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, bool]] | None = field(
        init=False, default=None)

    def __post_init__(self) -> None:
        self.low, self.high = Backend.clip_bounds(self.epsilon, self.dtype)
        self.max, self.tiny, _ = _limits(self.dtype)
        self.n_rows, self.width = self.y_pred.shape
        block = _BLOCK_ELEMENTS // (2 if self.kernel.elementwise else 1)
        self.block_rows = max(1, block // max(self.width, 1))
        unit = self.packet // math.gcd(self.packet, max(self.width, 1))  # rows per packet multiple
        self.block_rows = max(unit, self.block_rows - self.block_rows % unit)
        # TF's log takes the tensor's last size % 8 elements one by one
        size = self.n_rows * self.width
        self.scalar_log_from = size - size % 8
        self.fused = None if self.kernel.fused is None else self.kernel.fused.bind(self)
        #: Rows wider than a segment, of terms: each a segment of columns at a time
        self.segmented = self.kernel.row_terms is not None and self.width > _SEGMENT
        self.unread_labels = (self.fused is not None and self.labels is not None
                              and self.labels.unread(self))
        self.fused_blocks = self._fused_blocks()

    def holds_log_tail(self, end: int) -> bool:
        """Does a piece of the input ending at flat index `end` hold TensorFlow's scalar log tail?

        Such a piece takes the numpy kernel, which models the tail (see `rows_job`).
        """
        return self.packet > 1 and end > self.scalar_log_from

    def in_place(self, array: Any) -> bool:
        """Can a fused kernel read `array`'s blocks as they are: C-contiguous, in the job's dtype?"""
        return isinstance(array, np.ndarray) and array.dtype == self.dtype and array.flags.c_contiguous

    def _fused_blocks(self) -> list[int] | None:
        """The first row of each block where a fused kernel sums losses straight from the inputs
        (`run_fused`), then the number of rows; or None.

        Each block takes a ``1 / (2 * threads)`` share of the rows left (a
        quarter on two threads: OpenMP's guided schedule), of
        `_FUSED_TAIL_ELEMENTS` to `_FUSED_BLOCK_ELEMENTS` elements, in whole
        `block_rows`. So a thread that starts late or runs slow takes fewer
        blocks, and the threads end within a short block of each other. In
        equal halves they did not: MSE on 1e7 values, on an AMD EPYC virtual
        machine (2026), had one thread end a median 40-760 us after the other
        (90th percentile 220-1580, in six runs), of a 2-3.4 ms call; in these
        blocks 50-80 (110-170), and the call's median was lower in five runs
        of six (alternating).
        Only where every block reads its inputs in place: C-contiguous arrays
        in the job's dtype, and labels the kernel reads unread
        (`LabelReader.unread`). Otherwise None.
        """
        if self.fused is None or self.segmented or not self.in_place(self.y_pred) or not (
                self.unread_labels or (self.labels is None and self.in_place(self.y_true))):
            return None
        most = max(self.block_rows, _FUSED_BLOCK_ELEMENTS // self.width)
        least = min(_FUSED_TAIL_ELEMENTS // self.width, most)
        starts = [0]
        while starts[-1] < self.n_rows:
            rows = min(max(least, (self.n_rows - starts[-1]) // (2 * _THREADS)), most)
            rows += -rows % self.block_rows  # (whole packets: `block_rows` holds them)
            starts.append(min(starts[-1] + max(rows, self.block_rows), self.n_rows))
        return starts


@functools.cache
def _limits(dtype: np.dtype) -> tuple[Any, Any, Any]:
    """A float dtype's largest and smallest normal numbers, and that one's square root.

    np.finfo's, looked up once: ~10 us a call on the cold caches a large pass leaves.
    """
    info = np.finfo(dtype)
    return info.max, info.tiny, np.sqrt(info.tiny)


class Workspace:
    """One thread's scratch arrays for one job, made on first use and reused by every block."""

    def __init__(self, job: Job):
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
        # (no block holds more rows than the job: a small batch makes a small array)
        width, block = self.job.width, min(self.job.block_rows, self.job.n_rows)
        return self.constant("offsets", lambda: np.arange(block, dtype=np.int64) * width)[:rows]


def run_blocks(job: Job, work: Callable[[int, int, Workspace], Any], rows: int | None = None,
               ) -> list[Any]:
    """``work(start, stop, workspace)`` on every block of rows, results in block order.

    Blocks hold `rows` rows (default: the job's `block_rows`).

    With two threads each takes the next block not yet taken (so a thread
    that starts late, or is slowed, does fewer); each has its own workspace,
    and the caller combines the results in block order, so the answer does
    not depend on the number of threads or on which computed what.
    """
    rows = job.block_rows if rows is None else rows
    starts = range(0, job.n_rows, rows)
    if job.n_rows > job.block_rows:  # (numpy's kernel may take several blocks: `allocator`)
        settle_allocator()
    results: list[Any] = [None] * len(starts)

    def block(i: int, workspace: Workspace) -> None:
        start = starts[i]
        results[i] = work(start, min(start + rows, job.n_rows), workspace)

    run_pieces(len(starts), block, threads=_threads(job), state=lambda: Workspace(job))
    return results


def _threads(job: Job) -> int:
    """The threads a job's blocks run on: two for kernels that gain from them, on large inputs."""
    return _THREADS if job.kernel.threads and job.n_rows * job.width >= _THREAD_MIN_ELEMENTS else 1


def run_fused(job: Job, redo: Callable[[int, int, Workspace], tuple[float, float]],
              sums: Callable[[int, int], tuple[float, float, bool]] | None = None,
              ) -> list[tuple[float, float]]:
    """Each long block's float64 sums (`Job.fused_blocks`) of its losses and of its weights, fused.

    ``sums(start, stop)`` gives rows start:stop's ``(losses, weights, ok)``
    (default: the fused kernel's sum of the losses, and 0.0; with weights, a
    `Fused.weighted` kernel's). `run_blocks` for the kernels that read
    their blocks in place, without its machinery (a workspace and numpy's
    error state for each thread, the evaluation's checks): ~70 us less a
    call on the cold caches a large pass leaves, 4 % of a 1e7-element MSE.
    A block the kernel declines, or that holds TensorFlow's scalar log
    tail, gets them: ``redo(start, stop, workspace)`` computes it (a block
    of `block_rows` at a time, where numpy's kernel takes what the fused one
    declines).
    """
    starts = job.fused_blocks
    assert job.fused is not None and starts is not None
    if sums is None:
        fused, y_true, y_pred, none = job.fused, job.y_true, job.y_pred, np.empty(0, job.dtype)

        def sums(start: int, stop: int) -> tuple[float, float, bool]:
            total, ok = fused(y_true[start:stop], y_pred[start:stop], none)
            return total, 0.0, ok

    parts = [(0.0, 0.0)] * (len(starts) - 1)
    taken = iter(range(len(parts)))  # (next() is atomic: the GIL)

    def worker() -> None:
        workspace = None
        for i in taken:
            start, stop = starts[i], starts[i + 1]
            ok = not job.holds_log_tail(stop * job.width)
            if ok:
                total, weight_total, ok = sums(start, stop)
                parts[i] = (total, weight_total)
            if not ok:
                if workspace is None:
                    settle_allocator()
                    workspace = Workspace(job)
                with np.errstate(all="ignore"):
                    parts[i] = redo(start, stop, workspace)

    try:
        run_on_threads(worker, _threads(job) if len(parts) > 1 else 1)
    except RejectedBlock:
        _report(job)
        raise  # pragma: no cover - report raises
    return parts


class RejectedBlock(Exception):
    """A block holds a label Keras would reject or truncate; the reader's `report` says which."""


class LabelReader(Protocol):
    """How a loss with integer labels reads them: block by block, and the error for bad ones."""

    def read(self, job: Job, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Integer labels of one block and its ``ignore_class`` mask; raise `RejectedBlock`."""
        ...

    def unread(self, job: Job) -> bool:
        """Whether the job's fused kernel may take each block's labels as they are.

        True where a label in [0, K) needs no mask and no cast that could
        move it: the fused kernels check that range themselves, declining a
        block with any other label (which `read` then reads, and rejects),
        so the labels are read once, by the kernel.
        """
        ...

    def report(self, job: Job) -> None:
        """Raise the `ValueError` that names the first bad label of the whole input."""
        ...


def _evaluate(job: Job, start: int, stop: int, ws: Workspace, *, values_needed: bool = True):
    """Per-sample losses of rows start:stop, their ``ignore_class`` mask (or None), and their sum.

    The job's fused kernel runs where it has one (and
    accepts the block). Without `values_needed` (a sum of unweighted losses)
    the fused kernel, if it runs, stores no values: the first item is then
    None and the third the float64 sum of the losses (otherwise the third is
    None).
    """
    ws.start = start
    if job.segmented:  # rows wider than a block (several where packets need them)
        out = ws.output if ws.output is not None else ws.array("segmented", (stop - start,))
        # the only block: its segments share the threads (where the kernel takes two)
        threads = _THREADS if job.kernel.threads and stop - start == job.n_rows else 1
        for row in range(start, stop):
            out[row - start] = _segmented_row(job, row, threads)
        return out, None, None
    y_pred = ws.block("y_pred", job.y_pred, start, stop)
    kernel = job.fused if not job.holds_log_tail(stop * job.width) else None
    reader = job.labels
    unread = kernel is not None and job.unread_labels
    if reader is None:
        y_true, valid = ws.block("y_true", job.y_true, start, stop), None
    elif unread:  # the fused kernel checks them (`LabelReader.unread`)
        y_true, valid = job.y_true[start:stop], None
    else:
        y_true, valid = reader.read(job, job.y_true[start:stop])
    if kernel is not None:
        store = values_needed or valid is not None
        out = (ws.output if ws.output is not None else ws.array("fused", (stop - start,))) \
            if store else ws.array("fused", (0,))
        total, ok = kernel(y_true, y_pred, out)
        if ok and not store:
            return None, None, total
        if ok:
            if valid is not None:
                out[~valid] = 0  # Keras: where(valid, loss, 0)
            return out, valid, None
    if unread and reader is not None:  # declined: read (and check) them for numpy's kernel
        y_true, valid = reader.read(job, job.y_true[start:stop])
    values = job.kernel.function(y_true, y_pred, ws)
    if valid is not None:
        values[~valid] = 0  # Keras: where(valid, loss, 0)
    return values, valid, None


def _segmented_row(job: Job, row: int, threads: int) -> Any:
    """Row `row`'s value, from its terms a segment of `_SEGMENT` columns at a time, on `threads`.

    Each segment is a row of its own for the kernels (the fused one where it
    takes it, else numpy's), whose value, the mean (or sum) of the segment's
    terms, is added in float64 as their sum (a segment's mean times its
    length: exact in float64); the row's mean is that total rounded to the
    dtype and divided by the width there, as ``keras.ops.mean`` divides its
    sum. The total carries each segment value's roundings in the dtype (and
    in numpy's kernels their pairwise sums' own error): for terms of one
    sign a few ulp of the total, as TensorFlow's own float32 sum of the row
    does; in general a few ulp of the sum of the segments' magnitudes.

    Segments hold whole packets (`Job.packet`), and a 1-d input's last
    segment holds the tensor's scalar tail, so there each element's value
    is its value in the whole array. Where rows of a width that is not a
    multiple of the packet are segmented, numpy's formulas take each row's
    last ``width % packet`` elements for a tail (TensorFlow's other log, at
    most an ulp apart on each): at most 7 terms of at least 2**18, which
    moves a row's mean by less than 7 ulp of its largest term over 2**18.
    The fused kernels, which model no tail, give TensorFlow's value there.
    """
    width, kind = job.width, job.dtype.type
    starts = range(0, width, _SEGMENT)
    results: list[float] = [0.0] * len(starts)
    y_true, y_pred = job.y_true[row : row + 1], job.y_pred[row : row + 1]
    none = np.empty(0, job.dtype)

    def segment(i: int, ws: Workspace) -> None:
        ws.start = row
        first, last = starts[i], min(starts[i] + _SEGMENT, width)
        truth = ws.block("y_true", y_true[:, first:last], 0, 1)
        prediction = ws.block("y_pred", y_pred[:, first:last], 0, 1)
        tail = job.holds_log_tail(row * width + last)
        total, ok = (job.fused(truth, prediction, none) if job.fused is not None and not tail
                     else (0.0, False))
        if not ok:
            total = float(job.kernel.function(truth, prediction, ws)[0])
        results[i] = total * (last - first) if job.kernel.row_terms == "mean" else total

    run_pieces(len(starts), segment, threads=threads, state=lambda: Workspace(job))
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN as Keras gives them
        total = kind(_exact_sum(results))
        return total / kind(width) if job.kernel.row_terms == "mean" else total


def run(job: Job, work: Callable[[int, int, Workspace], Any], rows: int | None = None) -> list[Any]:
    try:
        return run_blocks(job, work, rows)
    except RejectedBlock:
        _report(job)
        raise  # pragma: no cover - report raises


def _report(job: Job) -> None:
    """Raise the error that names the first label a `RejectedBlock` met (`LabelReader.report`)."""
    if job.labels is not None:
        job.labels.report(job)


def per_sample(job: Job) -> tuple[np.ndarray, np.ndarray | None]:
    """Per-sample losses of the job and its ``ignore_class`` mask (None without one).

    The job's fused kernel computes the blocks it accepts, as for the
    reduced loss (where the accelerator is on, from
    `lossbounds.fused.MIN_ELEMENTS` elements: the small documented examples
    take numpy's kernels), and numpy's kernels the others.
    """
    values = np.empty(job.n_rows, job.dtype)
    mask: np.ndarray | None = None if job.ignore_class is None else np.empty(job.n_rows, bool)

    def work(start: int, stop: int, ws: Workspace) -> None:
        ws.output = values[start:stop]
        block, valid, _ = _evaluate(job, start, stop, ws)
        if not np.may_share_memory(block, ws.output):  # else computed in place
            ws.output[:] = block
        if mask is not None:
            mask[start:stop] = valid

    run(job, work)
    if mask is not None:
        mask = mask.reshape(job.loss_shape)
    return values.reshape(job.loss_shape), mask

# --------------------------------------------------------------------------
# What kernels are made of: row sums, means and gathers on a block, through
# the workspace's buffers. (The kernels themselves live with their losses;
# each takes a block (y_true, y_pred) and a workspace and returns the block's
# per-sample losses, which may live in the workspace.)


def _leaf(width: int) -> int:
    """The leaf length for rows of `width`: a divisor of it in [_LEAF/2, _LEAF] if one exists (no tail)."""
    for leaf in range(_LEAF, _LEAF // 2 - 1, -1):
        if width % leaf == 0:
            return leaf
    return _LEAF


def row_sum(x: np.ndarray, ws: Workspace, name: str = "row_sum", sign: int = 1) -> np.ndarray:
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


def sum_values(values: np.ndarray) -> float:
    """sum(values) of a 1-D array: numpy's pairwise accuracy at twice its speed (leaves by einsum)."""
    leaf = _LEAF
    leaves = values.size // leaf
    if leaves < 256 or not values.flags.c_contiguous:  # below 2**16 values einsum's set-up costs more
        return float(np.sum(values))
    sums = np.einsum("ij->i", values[: leaves * leaf].reshape(leaves, leaf))
    return float(np.sum(sums)) + float(np.sum(values[leaves * leaf :]))


def row_mean(x: np.ndarray, ws: Workspace, *, negate: bool = False) -> np.ndarray:
    """keras.ops.mean over the last axis (sum, then divide), optionally of -x; `x` is scratch."""
    if x.shape[1] == 1:
        return (np.negative(x, out=x) if negate else x)[:, 0]
    total = row_sum(x, ws, "row_mean", -1 if negate else 1)
    return np.divide(total, x.dtype.type(x.shape[1]), out=total)


def flat_index(labels: np.ndarray, ws: Workspace) -> np.ndarray:
    """Flat positions of y_pred[i, label_i] in a block: np.take on them is 3-5x faster than fancy indexing."""
    index = ws.array("flat_index", labels.shape, np.int64)
    return np.add(ws.row_offsets(labels.shape[0]), labels, out=index)


# --------------------------------------------------------------------------
# Plans: a loss definition's checks end in a plan, either a job for the
# kernels or the reference. The per-sample functions and `loss` share them.


@dataclass
class Plan:
    """What a loss definition's `plan` returns: the reference, and a kernel job where one applies.

    A loss without a job may give `fused`: its values from a compiled pass of
    its own (`lossbounds.fused`), or None where that does not run.
    """

    reference: Callable[[], tuple[np.ndarray, np.ndarray | None]]
    job: Job | None = None
    fused: Callable[[], tuple[np.ndarray, np.ndarray | None] | None] | None = None

    def values(self) -> tuple[np.ndarray, np.ndarray | None]:
        """Per-sample losses and the ``ignore_class`` mask (None without one).

        A plan's `fused` pass, or its job's fused kernel, runs where it
        applies (`per_sample`). A float16 job only reduces
        (`lossbounds.halfreduce`): the reference's values may be wider than
        float16 (MSLE gives float32), which a job's float16 output would round.
        """
        if self.fused is not None:
            values = self.fused()
            if values is not None:
                return values
        if self.job is None or self.job.dtype == np.float16:
            return self.reference()
        return per_sample(self.job)


class RowView:
    """An N-d array read as (M, width) rows without copying it whole.

    Slicing rows (``view[start:stop]``) gathers just those rows, so a strided
    or broadcast input (a transposed batch, ``np.broadcast_to`` of a scalar)
    costs one block of memory, not a copy of its full size.
    """

    ndim = 2

    def __init__(self, array: np.ndarray, width: int):
        self.array, self.dtype = array, array.dtype
        self.shape = (array.size // width if width else 0, width)
        self._leading = array.shape[:-1]

    def __getitem__(self, rows: slice) -> np.ndarray:
        start, stop, _ = rows.indices(self.shape[0])
        return self.array[np.unravel_index(np.arange(start, stop), self._leading)]


def as_rows(array: np.ndarray, width: int) -> np.ndarray | RowView:
    """`array` as (M, width) rows: a view of a C-contiguous array, else a `RowView`."""
    if array.ndim == 2:
        return array
    if array.flags.c_contiguous or array.ndim < 2:
        return array.reshape(-1, width)
    return RowView(array, width)


def make_job(
    kernels: Callable[[int], Kernel], y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
    *, axis: int = -1, from_logits: bool = False, epsilon: float = EPSILON,
    labels: LabelReader | None = None,
    reference: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, **options: Any,
) -> Job | None:
    """A kernel job, or None where the reference must do the work.

    `kernels(width)` gives the kernel for rows of that width (a loss may have
    its own for two classes); with a `labels` reader, `y_true` holds integer
    labels.

    The reference keeps: class axes other than the last, 0-d inputs, empty
    losses, float16 1-d inputs (a 1-d input is one row, its loss 0-d), and
    probability clips below the square root of the smallest
    normal number (1.1e-19 in float32; see the cross-entropy kernels'
    `unusable_sums`). float16 has no kernels (its values and sums must be
    TensorFlow's to the bit): given `reference`, the loss's whole-array
    formula on rows (``reference(y_true_rows, y_pred_rows)``, both in
    `dtype`, or integer labels), a float16 job runs that formula a block of
    whole packets of 8 rows at a time, which gives every row its value in the
    whole array; a reduced loss adds them in TensorFlow's order
    (`lossbounds.halfreduce`). Without `reference` float16 stays whole.
    """
    # (float16: one row's job would run the same whole-row formula, through more machinery)
    rows = ((y_pred.ndim >= 2 or (y_pred.ndim == 1 and dtype != np.float16))
            and axis % y_pred.ndim == y_pred.ndim - 1 and y_pred.size > 0)
    if not rows:
        return None
    width = y_pred.shape[-1]
    if dtype == np.float16 and reference is not None:
        # One thread: numpy's float16 loops gain nothing from a second, which
        # would double the memory of these formulas' float32 temporaries.
        kernel = Kernel(lambda targets, predictions, ws: reference(targets, predictions),
                        threads=False, elementwise=True)
        options = {**options, "packet": _HALF_ROWS * width}
    elif dtype in (np.float32, np.float64) and (
            from_logits or Backend.clip_bounds(epsilon, dtype)[0] >= _limits(dtype)[2]):
        kernel = kernels(width)
    else:
        return None
    return Job(
        kernel=kernel,
        y_true=y_true.reshape(-1) if labels is not None else as_rows(y_true, width),
        y_pred=as_rows(y_pred, width),
        dtype=np.dtype(dtype),
        loss_shape=y_pred.shape[:-1],
        epsilon=epsilon,
        labels=labels,
        **options,
    )

def vectors_last(y_true: np.ndarray, y_pred: np.ndarray, axis: int, dtype: np.dtype, *,
                 reads_last_length: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """`y_true` and `y_pred` with `axis` moved last, as views: each vector a row, for `rows_job`.

    For a loss whose value for a vector along `axis` depends on that vector
    alone: the other axes keep their order, and so the losses theirs. None
    along another axis for float16 (there TensorFlow adds float16 in its own
    order, `_tfmath.half_sum`) and where the loss `reads_last_length`
    (categorical label smoothing divides by the last axis' length, whatever
    `axis` is): only the whole-array formula keeps those.
    """
    if axis % max(y_pred.ndim, 1) != y_pred.ndim - 1 and (
            np.dtype(dtype) == np.float16 or reads_last_length):
        return None
    return np.moveaxis(y_true, axis, -1), np.moveaxis(y_pred, axis, -1)


def rows_job(
    formula: Callable[[np.ndarray, np.ndarray], np.ndarray], y_true: np.ndarray,
    y_pred: np.ndarray, dtype: np.dtype, *, epsilon: float = EPSILON, packet: int = 1,
    fused: Fused | None = None, row_terms: Literal["mean", "sum"] | None = None,
) -> Job | None:
    """A job that runs a loss's whole-array formula on blocks of rows.

    For a loss whose value for a row (the last axis) depends on that row
    alone, ``formula(y_true_rows, y_pred_rows)`` on a block of rows gives
    those rows' values exactly as on the whole input: blocking changes no
    value, and a reduced loss then streams in bounded memory. Not for losses
    that look across the batch (Dice over the whole batch, Circle's pairs,
    hinge's batch-wide label conversion). Returns None where the reference
    must run whole (see `make_job`); `y_true` and `y_pred` must have one shape.

    TensorFlow's float32 ``log`` and ``exp`` take a tensor 8 elements at a time
    and its last ``size % 8`` elements one by one (`lossbounds._tfmath`): with
    ``packet=8`` every block but the last holds a multiple of 8 elements, so a
    formula using them gives each element the value it has in the whole array.
    `fused` computes the same values in one pass where the accelerator is on;
    `row_terms` says whether a row's value is the mean or sum of its elements'
    terms (`Kernel.row_terms`).
    """
    if y_true.shape != y_pred.shape:
        return None
    kernel = Kernel(lambda targets, predictions, ws: formula(targets, predictions),
                    threads=True, elementwise=True, fused=fused, row_terms=row_terms)
    return make_job(lambda width: kernel, y_true, y_pred, dtype, from_logits=True,
                    epsilon=epsilon, packet=packet, reference=formula)


def row_wise_plan(
    formula: Callable[[np.ndarray, np.ndarray], np.ndarray], y_true: np.ndarray,
    y_pred: np.ndarray, dtype: np.dtype, *, packet: int = 1, fused: Fused | None = None,
    row_terms: Literal["mean", "sum"] | None = None,
) -> Plan:
    """The plan of a loss whose value for a row depends on that row alone.

    ``formula(y, p)`` takes both inputs in `dtype`: the reference casts the
    whole inputs (silently to inf beyond the dtype's range, as Keras casts),
    and `loss` streams it a block of rows at a time (`rows_job`, with its
    `packet`) in bounded memory.
    """
    def reference() -> tuple[np.ndarray, None]:
        with np.errstate(over="ignore"):
            truth, prediction = cast(y_true, dtype), cast(y_pred, dtype)
        return formula(truth, prediction), None

    return Plan(reference, rows_job(formula, y_true, y_pred, dtype, packet=packet, fused=fused,
                                    row_terms=row_terms))


# --------------------------------------------------------------------------
# The class API: reduced values


def reduce_weighted(
    values: np.ndarray,
    sample_weight: Any,
    mask: np.ndarray | None,
    reduction: str | None,
    dtype: np.dtype,
    *,
    fit_values: bool = True,
) -> np.ndarray:
    """Keras' ``reduce_weighted_values``: merge mask and weights, weight, reduce.

    With `fit_values` (Keras 3) the values and the weights are brought to the
    same rank, squeezing either; without (Keras 2's ``compute_weighted_loss``)
    only the weights are squeezed or expanded, and a scalar weight changes no
    shape.
    """
    values = values.astype(dtype, copy=False)
    if sample_weight is not None:
        # TensorFlow reads a subnormal weight as 0 (flush-to-zero)
        sample_weight = _tfmath.flush_subnormals(to_array(sample_weight, "sample_weight", dtype=dtype))
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
            float_mask, sample_weight = same_rank(float_mask, sample_weight)
            broadcast_shape(float_mask, sample_weight, "sample_weight")
            sample_weight = sample_weight * float_mask
    with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN as Keras gives them
        if sample_weight is not None:
            if fit_values:
                values, sample_weight = same_rank(values, sample_weight)
            elif sample_weight.ndim == values.ndim + 1 and sample_weight.shape[-1] == 1:
                sample_weight = sample_weight[..., 0]
            elif 0 < sample_weight.ndim == values.ndim - 1:
                sample_weight = sample_weight[..., None]
            broadcast_shape(values, sample_weight, "sample_weight")
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
    try:
        return math.fsum(parts)
    except (ValueError, OverflowError):  # inf and -inf, or a sum beyond float64's range
        return sum(parts)  # NaN or inf, as a float32 sum would give


def _block_sum(array: np.ndarray, dtype: np.dtype) -> float:
    """sum(array.astype(dtype)) in float64, a block at a time (no full-size cast)."""
    flat = array.reshape(-1)
    return _exact_sum([
        float(np.sum(_tfmath.flush_subnormals(flat[i : i + _BLOCK_ELEMENTS].astype(dtype)),
                     dtype=np.float64))
        for i in range(0, flat.size, _BLOCK_ELEMENTS)
    ])


def stream_reduce(job: Job, sample_weight: Any, reduction: str) -> float | None:
    """`reduce_weighted` without materialising the per-sample losses.

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
        anchor, weight = same_rank(like(job.loss_shape), weight)
        if broadcast_shape(anchor, weight, "sample_weight") != anchor.shape:
            return None  # the weights enlarge the losses: materialise
        flat_weight = np.broadcast_to(weight, anchor.shape).reshape(-1)
    if weight is not None or masked:
        # ...then the losses to the merged weights, which may squeeze them
        merged = anchor if weight is not None else like(job.loss_shape)
        losses, merged = same_rank(like(job.loss_shape), merged)
        if broadcast_shape(losses, merged, "sample_weight") != losses.shape or losses.shape == ():
            return None  # enlarged, or the 0-d loss Keras returns unreduced
    mask_weight = dtype.type(1)
    if masked and reduction in ("mean", "sum_over_batch_size"):
        # Valid entries weigh total/valid (a pass over the labels first)
        counts = run(job, lambda start, stop, ws: int(np.count_nonzero(
            job.labels.read(job, job.y_true[start:stop])[1])))  # type: ignore[union-attr, arg-type]
        valid = dtype.type(sum(counts))
        mask_weight = dtype.type(job.n_rows) / valid if valid else dtype.type(0)

    def work(start: int, stop: int, ws: Workspace) -> tuple[float, float]:
        values, valid, total = _evaluate(job, start, stop, ws, values_needed=weight is not None)
        if total is not None:  # the fused kernel's sum of unweighted losses
            return total, 0.0
        # accelerated: the weighted sums in one compiled pass (TF's flush of subnormals in it)
        compiled = job.fused is not None and values.dtype == dtype and values.ndim == 1
        weights = None if weight is None else ws.block("weight", flat_weight, start, stop)
        if weights is not None and valid is None and compiled:
            return weighted_sums()(values, weights, job.tiny)
        if weights is not None:
            weights = _tfmath.flush_subnormals(weights)  # TF reads subnormal weights as 0
        if valid is not None:
            float_mask = np.where(valid, mask_weight, dtype.type(0)).astype(dtype, copy=False)
            weights = float_mask if weights is None else np.multiply(weights, float_mask)
        if weights is None:  # pairwise-accurate sums: BLAS dot drifts on long runs of equal values
            return sum_values(values), 0.0
        if compiled:
            return weighted_sums()(values, weights, job.tiny)
        weighted = np.multiply(values, weights, out=ws.array("weighted", values.shape))
        return sum_values(weighted), float(np.sum(weights, dtype=np.float64))

    def redo(start: int, stop: int, ws: Workspace) -> tuple[float, float]:
        # a declined long block: numpy's kernel (or the fused one) a `block_rows` at a time
        sums = [work(first, min(first + job.block_rows, stop), ws)
                for first in range(start, stop, job.block_rows)]
        return _exact_sum([part[0] for part in sums]), _exact_sum([part[1] for part in sums])

    weighted = None
    if (weight is not None and not masked and job.fused_blocks is not None
            and job.kernel.fused is not None and weight.shape == anchor.shape
            and job.in_place(flat_weight)):
        weighted = job.kernel.fused.weighted(job)  # (one weight a loss, read in place)
    if masked or job.fused_blocks is None:
        parts = run(job, work)
    elif weight is None:
        parts = run_fused(job, redo)
    elif weighted is not None:
        def weighted_sums_of(start: int, stop: int) -> tuple[float, float, bool]:
            return weighted(job.y_true[start:stop], job.y_pred[start:stop],
                            flat_weight[start:stop])

        parts = run_fused(job, redo, weighted_sums_of)
    else:
        parts = run(job, work)
    total = _in_dtype(_exact_sum([part[0] for part in parts]), job)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and masked:
        divisor = _in_dtype(_exact_sum([part[1] for part in parts]), job)
    elif reduction == "mean_with_sample_weight" and weight is not None:
        # the blocks summed the weights as they met them, where the weights are not broadcast
        divisor = _in_dtype(_exact_sum([part[1] for part in parts]) if weight.shape == anchor.shape
                            else _block_sum(weight, dtype), job)
    else:
        divisor = _in_dtype(float(job.n_rows), job)  # Keras' count, in the dtype
    # ops.divide_no_nan: 0 where the divisor is 0. The float64 quotient of two float32
    # numbers, rounded to float32, is their float32 quotient (53 >= 2 * 24 + 2 bits).
    return _in_dtype(total / divisor, job) if divisor != 0 else 0.0


#: Rounds a Python float to float32: native "f" is C's conversion to float (IEEE's, inf
#: beyond the range; "<f" would raise there). Not numpy's scalars: each numpy scalar step
#: costs 1-7 us on the cold caches a large pass leaves.
_FLOAT32 = struct.Struct("f")


def _in_dtype(value: float, job: Job) -> float:
    """`value` rounded to the job's dtype, a Python float: inf beyond its range, as Keras' float sums give."""
    if job.dtype == np.float64:
        return value
    if job.dtype == np.float32:
        return float(_FLOAT32.unpack(_FLOAT32.pack(value))[0])
    with np.errstate(over="ignore"):
        return float(job.dtype.type(value))

