r"""Segmentation overlap losses: Dice and Tversky.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it (the Dice coefficient and
the Tversky index, one minus the loss).

Both compare a target mask :math:`y \in [0, 1]` with predictions :math:`p`
through sums over `axis`. Keras' default ``axis=None`` sums over *everything*,
the batch included: the loss is one number per batch, not a mean of
per-image values. The bounds below are for one such sum (a batch with
``axis=None``, an image with ``axis=(1, 2, 3)``).

References
----------
.. [1] L. R. Dice, "Measures of the amount of ecologic association between
   species", *Ecology* 26(3), 297-302, 1945.
.. [2] F. Milletari, N. Navab and S.-A. Ahmadi, "V-Net: Fully convolutional
   neural networks for volumetric medical image segmentation", 3DV 2016
   (the soft Dice loss), arXiv:1606.04797.
.. [3] S. S. M. Salehi, D. Erdogmus and A. Gholipour, "Tversky loss function
   for image segmentation using 3D fully convolutional deep networks",
   MLMI 2017, arXiv:1706.05721.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
import re
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import ArrayLike

from .. import _tfmath
from .._tfmath import (
    ACCUMULATORS,
    PACKET_LANES,
    column_sums,
    in_order_sum,
    merged_axes,
    vectorised_packets,
)
from ..checks import (
    EPSILON,
    check_axis,
    check_real,
    first_outside_unit,
    plain,
    require_nonempty,
    to_array,
)
from ..engine import Plan, cast
from ..fused import accelerates
from ..fused import compile as compile_fused
from ..options import PRED_RANGE, Y_TRUE, Option
from ..registry import LossDefinition, Setting, UndefinedBound, register
from ..text import PRINT_ATOL, Note, loss_value, number, percent

# The per-sample functions: lossbounds exports them.
__all__ = ["dice", "tversky"]

Axis = int | tuple[int, ...] | None


# --------------------------------------------------------------------------
# Options


def _check_axis_option(axis: Any) -> Axis:
    """None, an int, or a tuple (or list) of ints; checked against the rank where it is used."""
    if axis is None:
        return None
    items = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
    for item in items:
        if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Integral):
            raise TypeError(
                f"`axis` must be None, an int or a tuple of ints, got {type(axis).__name__}: "
                f"{axis!r}. Hint: axis=(1, 2, 3) sums each image of an (N, H, W, C) batch.")
    if isinstance(axis, (tuple, list)):
        return tuple(int(item) for item in items)
    return int(items[0])


def _check_weight(value: Any, argument: str) -> float:
    weight = check_real(value, argument)
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(
            f"`{argument}` must be a finite number >= 0, got {plain(value)}. It weighs false "
            "positives or negatives in the Tversky denominator; a negative weight rewards "
            "mistakes. Keras' default is 0.5 (Dice); alpha = beta = 1 is the Jaccard loss.")
    return weight


def _check_fraction(value: Any) -> float:
    fraction = check_real(value, "foreground")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(
            f"`foreground` must be a fraction in [0, 1], got {plain(value)}: the share of "
            "target elements that are 1 (foreground), e.g. 0.05 when 5% of the pixels are.")
    return fraction


#: Keras' Dice and Tversky sum over every axis by default: the whole batch.
AXIS = Option("axis", None, _check_axis_option,
              "the axes the sums run over (None: every axis, the whole batch)")
ALPHA = Option("alpha", 0.5, lambda v: _check_weight(v, "alpha"),
               "Tversky weight alpha (Keras <= 3.15: on false negatives)",
               flag="--alpha", parse=float, metavar="A")
BETA = Option("beta", 0.5, lambda v: _check_weight(v, "beta"),
              "Tversky weight beta (Keras <= 3.15: on false positives)",
              flag="--beta", parse=float, metavar="B")
FOREGROUND = Option("foreground", None, _check_fraction,
                    "fraction f of target elements that are 1 (foreground), for the baselines",
                    flag="--foreground", parse=float, metavar="F")


# --------------------------------------------------------------------------
# Which Tversky term alpha weighs: it depends on the Keras release.


def _release(version: str) -> tuple[int, int]:
    found = re.match(r"(\d+)\.(\d+)", version)
    return (int(found.group(1)), int(found.group(2))) if found else (0, 0)


@functools.lru_cache(maxsize=1)
def _alpha_weighs_false_negatives() -> bool:
    """True for Keras <= 3.15, whose Tversky puts `alpha` on the false negatives.

    Keras 3.15.1 computes ``fp = sum((1 - y_pred) * y_true)`` (the false
    negatives) and ``fn = sum(y_pred * (1 - y_true))`` (the false positives),
    the reverse of its documentation; keras-team/keras#23333 swaps them back
    for Keras 3.16. lossbounds follows the installed Keras, and 3.15.1 (the
    latest release when this was written) where Keras is not installed.
    """
    import importlib.metadata  # (30 ms to import: only when a Tversky loss first asks)

    try:
        version = importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return True
    return _release(version) < (3, 16)


def _weights(alpha: float, beta: float) -> tuple[float, float]:
    """(weight of the false negatives, weight of the false positives) in the installed Keras."""
    return (alpha, beta) if _alpha_weighs_false_negatives() else (beta, alpha)


# --------------------------------------------------------------------------
# Sums as TensorFlow adds them
#
# Where the terms have both signs (predictions above 1 or below 0) the sums
# cancel, and then the order of the additions decides the value. TensorFlow's
# CPU reducer (Eigen) adds in an order found here by matching tf.reduce_sum
# bit for bit (TensorFlow 2.21 on x86), in float16, float32 and float64, for
# every pattern of reduced axes.

_LEAF_PACKETS = 1024  # a row longer than this many packets is halved recursively


def _slices(x: np.ndarray) -> np.ndarray:
    """Sum over the first axis, one slice after another."""
    return in_order_sum(x, 0)


def _tf_sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``tf.reduce_sum(x, axes)`` in TensorFlow's order.

    On the axes as TensorFlow merges them (`merged_axes`), a reduced last axis
    goes to the packet reducer (`_inner`); (reduced, kept) and (kept,
    reduced, kept) keep their inner axis (`column_sums`); (reduced, kept,
    reduced) adds slices in the order of the last reduced axis first;
    anything longer is transposed so that the reduced axes come last.
    """
    out_shape = tuple(size for i, size in enumerate(x.shape) if i not in axes)
    if x.size == 0:
        return np.zeros(out_shape, x.dtype)
    parts = _streamed_parts(x.shape, axes, x.dtype)
    if parts is not None:  # float32 and float64 sums of everything or of the last axes
        return _sums(_itself, x, x, x.dtype, parts)[0].reshape(out_shape)
    sizes, pattern = merged_axes(x.shape, axes)
    merged = np.ascontiguousarray(x).reshape(sizes)
    if not any(pattern):
        result = merged
    elif pattern == (True,):
        result = _inner(merged[None])[0]
    elif pattern == (False, True):
        result = _inner(merged)
    elif pattern == (True, False):
        result = column_sums(merged[None])[0]
    elif pattern == (False, True, False):
        result = column_sums(merged)
    elif pattern == (True, False, True):
        result = _slices(np.transpose(merged, (2, 0, 1)).reshape(-1, sizes[1]))
    else:
        kept = [i for i, reduced in enumerate(pattern) if not reduced]
        reduced_axes = [i for i, reduced in enumerate(pattern) if reduced]
        moved = np.transpose(merged, kept + reduced_axes)
        rows = math.prod(sizes[i] for i in kept)
        result = _inner(np.ascontiguousarray(moved).reshape(rows, -1))
    return np.asarray(result, x.dtype).reshape(out_shape)


def _sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``ops.sum(x, axis)`` in TensorFlow's order (float16, float32 and float64)."""
    return _tf_sum(x, axes)


# --------------------------------------------------------------------------
# The same sums a block of leaves at a time
#
# Eigen cuts each run of values it reduces into *leaves* of at most 1024
# packets, halving the run at packet boundaries of the flat tensor, adds
# each leaf in four packet accumulators, and adds the leaves' sums up the
# tree of halvings. A full reduction big enough for its thread pool is first
# cut into one piece per thread, each piece a tree of its own, and the
# pieces' sums are added in order. All these cuts depend on offsets alone:
# `_layout` finds the leaves without the values, `_sums` reads, casts and
# adds one block of leaves at a time (on two threads), and `_add_up` adds
# the leaves' sums as the trees and the pieces add them. The result is the
# whole tensor's sum to the bit, in the memory of a few blocks (checked
# against tf.reduce_sum of float32 and float64 runs up to 1.7e7 values, full
# and row by row, with and without the thread pieces).

#: Values per block of leaves: with up to five block-sized arrays per thread
#: (two inputs and three terms), 2**18 float32 values keep two threads near
#: 10 MiB, below the 32 MiB of a reduced loss.
_BLOCK = 1 << 18
#: Eigen's cost model for a thread pool (TensorCostModel): a start-up and a
#: per-thread cost in cycles, and per reduced value 31/64 cycle per byte
#: (measured: TensorFlow 2.21 splits float32 sums from 108,388 values and
#: float64 ones from 54,194 on two threads, 210,000 cycles either way).
_STARTUP_CYCLES = _THREAD_CYCLES = 100_000
_CYCLES_PER_BYTE = 31 / 64


def _tf_threads() -> int:
    """The threads of TensorFlow's pool by default: the CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _pieces(count: int, dtype: np.dtype, threads: int) -> tuple[list[int], list[int], bool]:
    """Where Eigen's full reduction cuts `count` values for its threads.

    Returns the pieces' first offsets and sizes, in the order their sums are
    added, and whether the first is the remainder (else the adding starts
    from 0). Eigen divides in float (float32 above 2**24 values).
    """
    cost = count * dtype.itemsize * _CYCLES_PER_BYTE
    used = min(threads, max(1, int((cost - _STARTUP_CYCLES) / _THREAD_CYCLES + 0.9)))
    if used == 1:
        return [0], [count], False
    size = int(np.floor(np.float32(count) / np.float32(used)))
    number = count // size
    firsts, counts = list(range(0, number * size, size)), [size] * number
    remainder = number * size < count
    if remainder:  # added first, where the other pieces' adding would start from 0
        firsts.insert(0, number * size)
        counts.insert(0, count - number * size)
    return firsts, counts, remainder


@dataclasses.dataclass(frozen=True)
class _Level:
    """One level of the trees above the leaves (level 0: their roots)."""

    leaf: np.ndarray  # bool: is the node a leaf
    index: np.ndarray  # a leaf's number; a node's left child's position one level down
    right: np.ndarray  # a node's right child's position one level down (-1: none)


@dataclasses.dataclass(frozen=True)
class _Layout:
    """The leaves of one or more runs of flat values, and how their sums are added."""

    starts: np.ndarray  # each leaf's first flat offset, ascending: the leaves tile the values
    lengths: np.ndarray
    levels: tuple[_Level, ...]
    chained: bool  # the roots are the thread pieces of one sum, added in order
    remainder: bool  # the first piece is the remainder (else the chain starts from 0)


def _layout(firsts: Any, counts: Any, lanes: int, *, chained: bool = False,
            remainder: bool = False) -> _Layout:
    """The trees of the runs (first offset, size) as Eigen halves them, level by level."""
    leaf_size = _LEAF_PACKETS * lanes
    first, count = np.asarray(firsts, np.int64), np.asarray(counts, np.int64)
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    leaf_firsts, leaf_counts = [], []
    while first.size:
        is_leaf = count <= leaf_size
        node = ~is_leaf
        split = lanes * -(-(first + -(-count // 2)) // lanes)  # aligned on a packet
        left = np.minimum(split - first, count)
        has_right = node & (left < count)
        children = node.astype(np.int64) + has_right
        below = np.cumsum(children) - children  # each node's left child, one level down
        found.append((is_leaf, np.where(node, below, -1), np.where(has_right, below + 1, -1)))
        leaf_firsts.append(first[is_leaf])
        leaf_counts.append(count[is_leaf])
        next_first = np.empty(int(children.sum()), np.int64)
        next_count = np.empty_like(next_first)
        next_first[below[node]], next_count[below[node]] = first[node], left[node]
        next_first[below[has_right] + 1] = split[has_right]
        next_count[below[has_right] + 1] = (count - left)[has_right]
        first, count = next_first, next_count
    starts = np.concatenate(leaf_firsts)
    order = np.argsort(starts, kind="stable")
    number = np.empty_like(order)
    number[order] = np.arange(order.size)
    levels, done = [], 0
    for (is_leaf, index, right), leaves in zip(found, leaf_firsts):
        index[is_leaf] = number[done:done + leaves.size]
        done += leaves.size
        levels.append(_Level(is_leaf, index, right))
    return _Layout(starts[order], np.concatenate(leaf_counts)[order], tuple(levels), chained,
                   remainder)


@functools.lru_cache(maxsize=32)
def _full_layout(count: int, dtype: np.dtype, threads: int) -> _Layout:
    """The layout of one sum over `count` values (the same shapes come batch after batch)."""
    firsts, counts, remainder = _pieces(count, dtype, threads)
    return _layout(firsts, counts, PACKET_LANES[dtype], chained=len(firsts) > 1, remainder=remainder)


def _rows_layout(rows: int, count: int, dtype: np.dtype, phase: int = 0) -> _Layout:
    """The layout of `rows` sums of `count` values each (a row is one tree, on one thread).

    The first row starts `phase` values into a packet (where the trees split
    depends on it); the offsets returned count from that row's start.
    """
    layout = _layout(phase + np.arange(rows) * count, np.full(rows, count), PACKET_LANES[dtype])
    return dataclasses.replace(layout, starts=layout.starts - phase)


#: A part of the sums: a layout, and the flat offset in the inputs where its offsets start.
_Part = tuple[_Layout, int]


def _row_parts(rows: int, count: int, dtype: np.dtype) -> list[_Part]:
    """`rows` sums of `count` values as layouts of about `_BLOCK` values each.

    Blocks of whole rows start on a packet, so one layout serves them all
    (and one more the last); a row longer than a block is a layout of its own,
    for its start's place in a packet.
    """
    lanes = PACKET_LANES[dtype]
    if count > _BLOCK:
        phases = {phase: _rows_layout(1, count, dtype, phase)
                  for phase in {row * count % lanes for row in range(min(rows, lanes))}}
        return [(phases[row * count % lanes], row * count) for row in range(rows)]
    unit = lanes // math.gcd(count, lanes)  # rows that fill whole packets
    per = max(unit, _BLOCK // count // unit * unit)
    made = {number: _rows_layout(number, count, dtype)
            for number in {per if rows >= per else 0, rows % per} if number}
    return [(made[min(per, rows - first)], first * count) for first in range(0, rows, per)]


def _leaf_sums(arrays: tuple[np.ndarray, ...], lengths: np.ndarray) -> np.ndarray:
    """Sums (terms, leaves) of each row's first `lengths` values, as Eigen adds a leaf.

    `arrays` are (leaves, width) arrays of one dtype, a leaf per row from
    column 0. Four accumulators take the packets in turn, are added in
    order, the packets after the last four are added to them, the lanes are
    folded in halves, and the tail that fills no packet is added one by one
    to 0 before the folded packets. Rows are grouped by their number of
    accumulator steps (usually one group); the steps run in a reduce over a
    non-contiguous axis, which numpy adds in order.
    """
    dtype = arrays[0].dtype
    lanes = PACKET_LANES[dtype]
    group = lanes * ACCUMULATORS  # the values one accumulator step takes
    packets = lengths // lanes
    steps = packets // ACCUMULATORS
    extra, tail = packets - steps * ACCUMULATORS, lengths - packets * lanes
    out = np.empty((len(arrays), lengths.size), dtype)
    for step in np.unique(steps):
        chosen = steps == step
        rows: Any = slice(None) if chosen.all() else np.flatnonzero(chosen)  # a view if all
        count, start = int(np.count_nonzero(chosen)), int(step) * group
        # At most three packets and lanes - 1 values follow the steps (fewer in short rows).
        after = min(group - 1, int(lengths[rows].max()) - start)
        if step:
            parts = np.stack([np.add.reduce(
                array[rows, :start].reshape(count, int(step), ACCUMULATORS, lanes),
                axis=1, initial=0) for array in arrays])  # (0 + x0) + x1 ...: 0 + -0.0 is +0.0
            total = ((parts[:, :, 0] + parts[:, :, 1]) + parts[:, :, 2]) + parts[:, :, 3]
        else:
            total = np.zeros((len(arrays), count, lanes), dtype)
        rest = np.zeros((len(arrays), count, after), dtype)
        for i, array in enumerate(arrays):
            piece = array[rows, start:start + after]  # fewer columns at the end of the width
            rest[i, :, :piece.shape[1]] = piece
        packets_after, values_after = extra[rows], tail[rows]
        for j in range(int(packets_after.max(initial=0))):
            np.add(total, rest[:, :, j * lanes:(j + 1) * lanes], out=total,
                   where=(packets_after > j)[None, :, None])
        half = lanes
        while half > 1:
            half //= 2
            total = total[:, :, :half] + total[:, :, half:2 * half]
        scalar = np.zeros((len(arrays), count), dtype)
        which = np.arange(count)
        for j in range(int(values_after.max(initial=0))):
            column = np.minimum(packets_after * lanes + j, max(after - 1, 0))
            np.add(scalar, rest[:, which, column], out=scalar, where=(values_after > j)[None, :])
        out[:, rows] = scalar + total[:, :, 0]
    return out


def _add_up(layout: _Layout, sums: np.ndarray) -> np.ndarray:
    """The runs' sums (terms, runs) from the leaves' (terms, leaves), added as Eigen adds them.

    A node's sum is ``(0 + left) + right``: Eigen's accumulator starts at 0.
    """
    zero = sums.dtype.type(0)
    below = sums[:, :0]
    for level in reversed(layout.levels):
        values = np.empty((sums.shape[0], level.leaf.size), sums.dtype)
        values[:, level.leaf] = sums[:, level.index[level.leaf]]
        node = ~level.leaf
        if node.any():
            right = level.right[node]
            values[:, node] = (below[:, level.index[node]] + zero) + np.where(
                right >= 0, below[:, right], zero)
        below = values
    if not layout.chained:
        return below
    total = below[:, 0] if layout.remainder else below[:, 0] + zero
    for piece in range(1, below.shape[1]):
        total = total + below[:, piece]
    return total[:, None]


class _Flat:
    """An input read as its flat C-order values, a piece at a time, cast to the compute dtype."""

    def __init__(self, array: np.ndarray, dtype: np.dtype):
        self.array, self.dtype, self.size = array, dtype, array.size
        self.flat = array.reshape(-1) if array.flags.c_contiguous else None
        # A view in the dtype: leaves can be gathered from it without a copy first.
        self.direct = self.flat is not None and array.dtype == dtype

    def read(self, start: int, stop: int, padding: int = 0) -> np.ndarray:
        """Values start:stop in the dtype (Keras' cast), followed by `padding` zeros."""
        out = np.zeros(stop - start + padding, self.dtype)
        if self.flat is not None:
            piece = self.flat[start:stop]
        elif not any(self.array.strides):  # a broadcast scalar
            piece = np.broadcast_to(self.array.reshape(-1)[:1], (stop - start,))
        else:
            piece = self.array[np.unravel_index(np.arange(start, stop), self.array.shape)]
        with np.errstate(over="ignore"):  # beyond the dtype's range is inf, as in Keras' cast
            out[:stop - start] = piece
        return out

    def piece(self, start: int, stop: int) -> np.ndarray:
        """Values start:stop in the dtype: a view where the input already is one."""
        return self.flat[start:stop] if self.direct else self.read(start, stop)  # type: ignore[index]

    def leaves(self, starts: np.ndarray, lengths: np.ndarray, uniform: bool) -> np.ndarray:
        """The leaves as rows (leaves, width): a view where they are equal and in the dtype."""
        first, stop, width = int(starts[0]), int(starts[-1] + lengths[-1]), int(lengths.max())
        if uniform:
            return self.piece(first, stop).reshape(-1, width)
        if self.direct and int(starts[-1]) + width <= self.size:
            source, offset = self.flat, 0
        else:  # padded, so that the last leaf's window holds `width` values
            source, offset = self.read(first, stop, width), first
        return sliding_window_view(source, width)[starts - offset]  # type: ignore[arg-type]


_Terms = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]


def _sums(terms: _Terms, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
          parts: list[_Part], compiled: int | None = None,
          finish: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """The sums (terms, runs) of ``terms(y, p)`` over the parts' runs, in order.

    `y_true` and `y_pred` have one shape and are cast to `dtype` a block of
    leaves at a time; two threads take the blocks, each block's leaves' sums
    its own, so the result does not depend on the threads. With `compiled`,
    the number of these terms in `_overlap_terms`, a block is added in one
    compiled pass where the accelerator takes inputs of this size
    (`_compiled_sums`, `lossbounds.fused.accelerates`). `finish`
    turns a part's sums into what is kept of them (the losses of its rows), as
    soon as the part is done.
    """
    truth, prediction = _Flat(y_true, dtype), _Flat(y_pred, dtype)
    kernel = _leaf_kernel() if compiled is not None and accelerates(y_pred.size) else None
    blocks, counts = [], []  # (part, first leaf, last leaf + 1); each part's number of blocks
    for part, (layout, _) in enumerate(parts):
        starts = layout.starts
        edges = np.unique(np.append(
            np.searchsorted(starts, np.arange(0, int(starts[-1]) + 1, _BLOCK)), starts.size))
        blocks += [(part, int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]
        counts.append(edges.size - 1)

    def block(chosen: tuple[int, int, int]) -> np.ndarray:
        (layout, offset), first_leaf, stop_leaf = parts[chosen[0]], chosen[1], chosen[2]
        first = layout.starts[first_leaf:stop_leaf] + offset
        size = layout.lengths[first_leaf:stop_leaf]
        with np.errstate(all="ignore"):  # inf and NaN as Keras gives them
            if kernel is not None and compiled is not None:
                return _compiled_sums(kernel, compiled, truth, prediction, first, size)
            uniform = bool(np.all(size == size[0])) and bool(np.all(np.diff(first) == size[0]))
            return _leaf_sums(terms(truth.leaves(first, size, uniform),
                                    prediction.leaves(first, size, uniform)), size)

    done: list[np.ndarray] = []
    with ThreadPoolExecutor(_THREADS) as pool, np.errstate(all="ignore"):
        # In order, as they are done: each part is finished (its leaves dropped) at once.
        found = pool.map(block, blocks) if len(blocks) > 1 else map(block, blocks)
        for (layout, _), count in zip(parts, counts):
            sums = _add_up(layout, np.concatenate([next(found) for _ in range(count)], axis=1))
            done.append(sums if finish is None else finish(sums))
    return np.concatenate(done, axis=-1)


#: Threads that add blocks of leaves (numpy's reduces and the compiled pass release the GIL).
_THREADS = 2


# --------------------------------------------------------------------------
# A block of leaves in one compiled pass (the fused accelerator, `lossbounds.fused`)
#
# numpy's reduces above pay ~17 ns for every 32 values (a call of the inner
# loop per accumulator step), and irregular leaves must be gathered first.
# Compiled, each leaf is read once, its three terms computed value by value
# and added in Eigen's order: the same float operations, so the same bits.
# The functions are module-level so that numba's disk cache keeps them.

#: `_overlap_terms` compiled, set by `_leaf_kernel` before it compiles `_leaf_pass`.
_compiled_terms: Any = None


def _overlap_terms(y: Any, p: Any, one: Any, formula: int) -> tuple[Any, Any, Any]:
    """The three terms one pair of values adds to the sums (`one`: 1 in their dtype)."""
    if formula == _DICE:
        return y * p, y, p
    if formula == _TVERSKY_3_15:  # inputs = y_true, targets = y_pred
        return y * p, (one - p) * y, p * (one - y)
    return y * p, (one - y) * p, y * (one - p)  # Keras 3.16: inputs = y_pred, targets = y_true


_DICE, _TVERSKY_3_15, _TVERSKY_3_16 = 0, 1, 2


def _leaf_pass(y: np.ndarray, p: np.ndarray, starts: np.ndarray, lengths: np.ndarray,
               lanes: int, one: Any, formula: int, out: np.ndarray) -> None:
    """`_leaf_sums` of `_overlap_terms` for the leaves (starts, lengths) of `y` and `p`.

    Each sum has its own array of accumulators (so that the compiler, seeing
    they do not overlap, vectorises a step across the lanes), and the steps
    read views of the leaf that index from 0 (so that it drops numpy's
    negative-index check there; a view costs too much for every short leaf).
    """
    zero = one - one
    group = lanes * 4
    steps_a, steps_b, steps_c = np.empty(group, y.dtype), np.empty(group, y.dtype), \
        np.empty(group, y.dtype)
    totals = np.empty((3, lanes), y.dtype)  # small loops below: no tuple of arrays to iterate
    for leaf in range(starts.size):
        start, length = starts[leaf], lengths[leaf]
        packets = length // lanes
        steps = packets // 4
        if steps:
            steps_a[:], steps_b[:], steps_c[:] = zero, zero, zero
            ys, ps = y[start:start + steps * group], p[start:start + steps * group]
            for step in range(steps):
                base = step * group
                for q in range(group):
                    a, b, c = _compiled_terms(ys[base + q], ps[base + q], one, formula)
                    steps_a[q] += a
                    steps_b[q] += b
                    steps_c[q] += c
            for lane in range(lanes):
                totals[0, lane] = ((steps_a[lane] + steps_a[lanes + lane])
                                   + steps_a[2 * lanes + lane]) + steps_a[3 * lanes + lane]
                totals[1, lane] = ((steps_b[lane] + steps_b[lanes + lane])
                                   + steps_b[2 * lanes + lane]) + steps_b[3 * lanes + lane]
                totals[2, lane] = ((steps_c[lane] + steps_c[lanes + lane])
                                   + steps_c[2 * lanes + lane]) + steps_c[3 * lanes + lane]
        else:
            totals[:] = zero
        for packet in range(steps * 4, packets):
            for lane in range(lanes):
                at = start + packet * lanes + lane
                a, b, c = _compiled_terms(y[at], p[at], one, formula)
                totals[0, lane] += a
                totals[1, lane] += b
                totals[2, lane] += c
        half = lanes // 2
        while half >= 1:
            for t in range(3):
                for lane in range(half):
                    totals[t, lane] = totals[t, lane] + totals[t, lane + half]
            half //= 2
        tail_a = tail_b = tail_c = zero
        for at in range(start + packets * lanes, start + length):
            a, b, c = _compiled_terms(y[at], p[at], one, formula)
            tail_a, tail_b, tail_c = tail_a + a, tail_b + b, tail_c + c
        out[0, leaf] = tail_a + totals[0, 0]
        out[1, leaf] = tail_b + totals[1, 0]
        out[2, leaf] = tail_c + totals[2, 0]


@functools.cache
def _leaf_kernel() -> Callable[..., None]:
    """`_leaf_pass` compiled (numba compiles a version per dtype on first use, cached on disk)."""
    global _compiled_terms
    _compiled_terms = compile_fused(_overlap_terms)
    return compile_fused(_leaf_pass)


def _compiled_sums(kernel: Callable[..., None], formula: int, truth: _Flat, prediction: _Flat,
                   starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The leaves' sums (3, leaves) of one block, by the compiled `_leaf_pass`."""
    first, stop = int(starts[0]), int(starts[-1] + lengths[-1])
    dtype, lanes = truth.dtype, PACKET_LANES[truth.dtype]
    out = np.empty((3, starts.size), dtype)
    kernel(truth.piece(first, stop), prediction.piece(first, stop), starts - first, lengths,
           lanes, dtype.type(1), formula, out)
    return out


def _inner(x: np.ndarray) -> np.ndarray:
    """Sums of the rows of a 2-D block (the reduced axis last and contiguous).

    float16 is `_tfmath.half_sum`: the same reducer with 8-half packets added
    in float and rounded, and rows longer than 200 packets halved.
    """
    if x.dtype == np.float16:
        return np.asarray(_tfmath.half_sum(x, -1))
    rows, count = x.shape
    return _sums(_itself, x, x, x.dtype, _row_parts(rows, count, x.dtype))[0]


def _itself(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """The terms of a plain sum of `p` (`_sums` reads it as the predictions)."""
    return (p,)


# --------------------------------------------------------------------------
# Checks


def _axes(axis: Axis, ndim: int, loss: str) -> tuple[int, ...]:
    """`axis` as non-negative axes of an `ndim`-dimensional input (None: all of them)."""
    if axis is None:
        return tuple(range(ndim))
    items = axis if isinstance(axis, tuple) else (axis,)
    if ndim == 0 and items:
        raise ValueError(f"{loss}: `axis`={axis!r} needs inputs with at least one dimension, "
                         "got scalars. Hint: wrap them, e.g. [value], or use axis=None.")
    found = tuple(check_axis(item, ndim) for item in items)
    if len(set(found)) != len(found):
        raise ValueError(f"{loss}: `axis`={axis!r} names an axis twice (for inputs with {ndim} "
                         "dimensions). Hint: list each axis once, e.g. axis=(1, 2, 3).")
    return found


def _require_same_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> None:
    if y_true.shape == y_pred.shape:
        return
    got = f"got y_true.shape={y_true.shape} and y_pred.shape={y_pred.shape}"
    trailing_one = (y_true.ndim == y_pred.ndim + 1 and y_true.shape[-1:] == (1,)) or (
        y_pred.ndim == y_true.ndim + 1 and y_pred.shape[-1:] == (1,))
    if trailing_one:
        raise ValueError(
            f"{loss}: `y_true` and `y_pred` must have the same shape, {got}. Keras' function "
            "would broadcast (N,) against (N, 1) into an (N, N) grid of every target against "
            "every prediction and return a wrong value (keras.losses.dice([1, 0, 1], "
            "[[.9], [.2], [.6]]) gives -0.838 for good predictions); lossbounds raises. Hint: "
            "reshape one of them (y_true.reshape(y_pred.shape)), or use lossbounds.loss(...), "
            "which, as the Keras class does, first squeezes the trailing axis of length 1.")
    raise ValueError(
        f"{loss}: `y_true` and `y_pred` must have the same shape, {got}. Keras would broadcast "
        "them, but its sums of y_true and of y_pred would then run over different elements, "
        "so the value would not be a Dice or Tversky loss; lossbounds raises. Hint: give one "
        "target per prediction.")


def _require_mask(y_true: np.ndarray, loss: str) -> None:
    """Targets must be a (soft) mask in [0, 1]; NaN passes through, as in Keras."""
    first = first_outside_unit(y_true)
    if first is not None:
        hint = (" Masks stored as 0/255 images must be divided by 255." if first == 255
                else " Hint: binary masks hold 0 and 1; soft masks values in between.")
        raise ValueError(
            f"{loss}: `y_true` must be a mask with values in [0, 1], got {plain(first)}. Keras "
            "would use it as given, and the overlap would then mean nothing (it can make the "
            f"loss negative); lossbounds raises.{hint}")


@dataclasses.dataclass(frozen=True)
class _Formula:
    """A loss of sums over `axis`: the terms it sums, and the loss from their sums.

    `terms` and `combine` take arrays in the compute dtype and compute in it,
    in Keras' order of operations.
    """

    terms: _Terms
    combine: Callable[[tuple[np.ndarray, ...]], np.ndarray]
    #: These terms in `_overlap_terms`, for the compiled pass (None: numpy alone).
    compiled: int | None = None


def _streamed_parts(shape: tuple[int, ...], axes: tuple[int, ...], dtype: np.dtype
                   ) -> list[_Part] | None:
    """The leaves of the sums where they stream: a whole sum, or sums over the last axes.

    None for float16 (`_tfmath.half_sum`), an empty input and sums whose
    kept axes come after a reduced one: the whole-array reference adds those.
    """
    if dtype not in (np.float32, np.float64) or math.prod(shape) == 0:
        return None
    sizes, pattern = merged_axes(shape, axes)
    if pattern == (True,):
        return [(_full_layout(sizes[0], dtype, _tf_threads()), 0)]
    if pattern == (False, True):
        return _row_parts(sizes[0], sizes[1], dtype)
    return None


def _as_columns(x: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]
                ) -> np.ndarray | None:
    """`x` as a (K0, R, K2) view whose middle axis holds the reduced ones, or None.

    For float32 and float64 sums that keep an inner axis, (reduced, kept) and
    (kept, reduced, kept) as TensorFlow merges the axes (`merged_axes`), where
    the view needs no copy: `_column_sums` takes them a block at a time.
    """
    if x.dtype.kind not in "biuf" or x.size == 0:
        return None
    sizes, pattern = merged_axes(shape, axes)
    if pattern == (True, False):
        sizes = [1, *sizes]
    elif pattern != (False, True, False):
        return None
    try:
        return np.reshape(x, sizes, copy=False)  # (raises where only a copy has this shape)
    except ValueError:
        return None
    except TypeError:  # numpy before 2.1: no `copy`
        view = x.view()
        try:
            view.shape = tuple(sizes)
        except AttributeError:
            return None
        return view


#: Outputs `_column_sums` keeps at a time (with three terms' five running sums: 5 MiB).
_COLUMN_OUTPUTS = _BLOCK // 16


def _column_sums(terms: _Terms, y: np.ndarray, p: np.ndarray, dtype: np.dtype
                 ) -> list[np.ndarray]:
    """`column_sums` of each of ``terms(y, p)`` over (K0, R, K2) inputs, in bounded memory.

    Many outputs are taken `_COLUMN_OUTPUTS` or so at a time, in ranges that
    start on a packet of the flat outputs (where `column_sums` vectorises): whole
    rows of K0 where K0 > 1, else columns of K2. Each range's sums run over
    R a block at a time (`_column_block_sums`).
    """
    k0, _, k2 = y.shape
    lanes = PACKET_LANES[np.dtype(dtype)]
    if k0 * k2 <= _COLUMN_OUTPUTS:
        return _column_block_sums(terms, y, p, dtype)
    if k0 > 1:  # ranges of b rows: b * K2 values, a multiple of the lanes
        b = lanes // math.gcd(k2, lanes)
        b = max(b, _COLUMN_OUTPUTS // k2 // b * b)
        ranges = [(slice(a, a + b), slice(None)) for a in range(0, k0, b)]
    else:
        w = max(lanes, _COLUMN_OUTPUTS // lanes * lanes)
        ranges = [(slice(None), slice(c, c + w)) for c in range(0, k2, w)]
    found = [_column_block_sums(terms, y[rows, :, columns], p[rows, :, columns], dtype)
             for rows, columns in ranges]
    return [np.concatenate([sums[t] for sums in found]) for t in range(len(found[0]))]


def _column_block_sums(terms: _Terms, y: np.ndarray, p: np.ndarray, dtype: np.dtype
                       ) -> list[np.ndarray]:
    """`column_sums` of each of ``terms(y, p)`` over (K0, R, K2) inputs, a block of R at a time.

    Each output adds its R terms in order (and, from 16 terms, in four
    accumulators taking them in turn, as `column_sums` says): both continue
    from one block to the next exactly, so the sums are `column_sums`' to the
    bit, in the memory of a block of about `_BLOCK` terms (the whole terms of
    a (100, 100, 100, 10) batch summed per channel took 191 MiB).
    """
    k0, count, k2 = y.shape
    outputs = k0 * k2
    step = max(ACCUMULATORS, _BLOCK // outputs // ACCUMULATORS * ACCUMULATORS)
    whole = count // ACCUMULATORS * ACCUMULATORS if count >= 16 else 0
    zero = np.zeros(outputs, dtype)
    in_order: list[np.ndarray] = []  # per term: its sums one term after another
    parts: list[list[np.ndarray]] = []  # per term: the four accumulators
    tails: list[list[np.ndarray]] = []  # per term: its last count % 4 rows (from 16 terms)

    def added(carry: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # ((carry + r0) + r1) + ...: cumsum adds in order (0 + -0.0 is +0.0, as in Eigen);
        # the last row copied, not a view that would keep the block's cumsum alive
        return carry if rows.shape[0] == 0 else np.cumsum(
            np.concatenate([carry[None], rows]), axis=0, dtype=dtype)[-1].copy()

    for start in range(0, count, step):
        stop = min(start + step, count)
        block = terms(cast(y[:, start:stop], dtype), cast(p[:, start:stop], dtype))
        for t, term in enumerate(block):
            rows = np.transpose(term, (1, 0, 2)).reshape(stop - start, outputs)
            if start == 0:
                in_order.append(zero)
                parts.append([zero] * ACCUMULATORS)
                tails.append([])
            in_order[t] = added(in_order[t], rows)
            if whole:
                vectorised = rows[: max(0, min(stop, whole) - start)]
                parts[t] = [added(parts[t][j], vectorised[j::ACCUMULATORS])
                            for j in range(ACCUMULATORS)]
                tails[t] += list(rows[max(0, whole - start):])
    if not whole:
        return in_order
    return [vectorised_packets(out, parts[t], tails[t], k2) for t, out in enumerate(in_order)]


def _values(formula: _Formula, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
            axes: tuple[int, ...]) -> np.ndarray:
    """The losses: Keras casts both inputs to `dtype`, sums the terms over `axes`, combines."""
    out_shape = tuple(size for i, size in enumerate(y_pred.shape) if i not in axes)
    parts = _streamed_parts(y_pred.shape, axes, dtype)
    streams = parts is None and dtype in (np.float32, np.float64)
    truth = _as_columns(y_true, y_pred.shape, axes) if streams else None
    prediction = _as_columns(y_pred, y_pred.shape, axes) if streams else None
    with np.errstate(all="ignore"):  # inf and NaN as Keras gives them
        if truth is not None and prediction is not None:
            sums = tuple(found.reshape(out_shape)
                         for found in _column_sums(formula.terms, truth, prediction, dtype))
            return np.asarray(formula.combine(sums), dtype)
        if parts is None:
            y, p = cast(y_true, dtype), cast(y_pred, dtype)
            sums = tuple(_sum(term, axes) for term in formula.terms(y, p))
        else:  # each part's losses as soon as it is done: only they are kept
            losses = _sums(formula.terms, y_true, y_pred, dtype, parts, formula.compiled,
                           lambda found: np.asarray(formula.combine(tuple(found)), dtype))
            return losses.reshape(out_shape)
        return np.asarray(formula.combine(sums), dtype)


def _overlap_plan(formula: _Formula, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
                  axis: Axis, loss: str) -> Plan:
    _require_same_shape(y_true, y_pred, loss)
    _require_mask(y_true, loss)
    axes = _axes(axis, y_pred.ndim, loss)
    # Keras: y_pred = convert_to_tensor(y_pred); y_true = cast(y_true, y_pred.dtype)
    return Plan(lambda: (_values(formula, y_true, y_pred, np.dtype(dtype), axes), None))


# --------------------------------------------------------------------------
# Values


def _dice_formula(epsilon: float) -> _Formula:
    def terms(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
        return y * p, y, p

    def combine(sums: tuple[np.ndarray, ...]) -> np.ndarray:
        intersection, truth, predicted = sums
        t = intersection.dtype.type
        return t(1) - (t(2.0) * intersection) / (truth + predicted + t(epsilon))

    return _Formula(terms, combine, _DICE)


def _tversky_formula(alpha: float, beta: float, epsilon: float) -> _Formula:
    fn_first = _alpha_weighs_false_negatives()

    def terms(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
        one = p.dtype.type(1)
        if fn_first:  # Keras <= 3.15: inputs = y_true, targets = y_pred
            first = np.multiply(np.subtract(one, p), y)  # named fp, the false negatives
            second = np.subtract(one, y)
            np.multiply(p, second, out=second)  # named fn, the false positives
        else:  # Keras >= 3.16: inputs = y_pred, targets = y_true
            first = np.multiply(np.subtract(one, y), p)  # the false positives
            second = np.subtract(one, p)
            np.multiply(y, second, out=second)  # the false negatives
        return y * p, first, second

    def combine(sums: tuple[np.ndarray, ...]) -> np.ndarray:
        intersection, first, second = sums
        t = intersection.dtype.type
        denominator = intersection + first * t(alpha) + second * t(beta) + t(epsilon)
        return t(1) - intersection / denominator

    return _Formula(terms, combine, _TVERSKY_3_15 if fn_first else _TVERSKY_3_16)


def dice(y_true: ArrayLike, y_pred: ArrayLike, *, axis: Axis = None,
         epsilon: float = EPSILON,
         backend: str = "tensorflow") -> np.ndarray:
    r"""Dice loss, as ``keras.losses.dice``.

    With the sums over `axis` (every axis by default: the whole batch),

    .. math::

        \ell(y, p) = 1 - \frac{2 \sum y\,p}{\sum y + \sum p + \epsilon} .

    One minus the loss is the soft Dice coefficient (the F1 score of the
    overlap): 0 is a perfect match, 1 no overlap at all.

    Parameters
    ----------
    y_true : array_like
        Target mask, values in [0, 1], the same shape as `y_pred`. Cast to
        `y_pred`'s dtype.
    y_pred : array_like
        Predictions, usually sigmoid outputs in [0, 1]. Must be floating
        point.
    axis : int or tuple of int, optional
        The axes the three sums run over. ``None`` (Keras' default) sums
        over every axis, batch included, and returns one 0-d value per
        batch; ``axis=(1, 2, 3)`` gives one value per image of an
        ``(N, H, W, C)`` batch.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``, added to the denominator only.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        The losses with the `axis` dimensions removed (0-d for
        ``axis=None``), in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        If `y_true` and `y_pred` differ in shape, or `y_true` leaves [0, 1].
        Keras' function broadcasts ``(N,)`` against ``(N, 1)`` into an
        ``(N, N)`` grid (``keras.losses.dice([1, 0, 1], [[.9], [.2], [.6]])``
        is -0.838 for good predictions) and uses a 0/255 mask as given;
        lossbounds raises for both.
    TypeError
        For integer predictions, on which Keras' TensorFlow function fails
        too (its class, and `loss`, cast them to float32 first).

    Notes
    -----
    Keras quirks, reproduced:

    - **The whole batch by default.** With ``axis=None`` the loss is not a
      mean of per-image losses, and the class API returns it as it is
      (a ``sample_weight`` multiplies it by the mean weight).
    - **An empty mask scores 1**, even predicted perfectly: with
      :math:`y = p = 0` the fraction is :math:`0/\epsilon`. There is no
      smoothing term in the numerator.
    - **A perfect prediction scores** :math:`\epsilon/(2\sum y + \epsilon)`,
      0 in float32 once :math:`\sum y \gtrsim 1`.
    - **Predictions are not clipped**: above 1 they make the loss negative
      (down to -1 as they grow), negative ones can push it above 1.

    References
    ----------
    .. [1] F. Milletari, N. Navab and S.-A. Ahmadi, "V-Net: Fully
       convolutional neural networks for volumetric medical image
       segmentation", 3DV 2016, arXiv:1606.04797.

    See Also
    --------
    tversky : weighs false positives and false negatives separately.
    loss : the reduced value of ``keras.losses.Dice``.

    Examples
    --------
    >>> import lossbounds
    >>> y_true = [[[[1.0], [1.0]], [[0.0], [0.0]]], [[[1.0], [1.0]], [[0.0], [0.0]]]]
    >>> y_pred = [[[[0.0], [1.0]], [[0.0], [1.0]]], [[[0.4], [0.0]], [[0.0], [0.9]]]]
    >>> lossbounds.dice(y_true, y_pred)  # the whole batch
    array(0.6164384, dtype=float32)
    >>> lossbounds.dice(y_true, y_pred, axis=(1, 2, 3))  # per image
    array([0.5       , 0.75757575], dtype=float32)
    """
    return Dice().per_sample(y_true, y_pred, axis=axis, epsilon=epsilon, backend=backend)


def tversky(y_true: ArrayLike, y_pred: ArrayLike, *, alpha: float = 0.5, beta: float = 0.5,
            axis: Axis = None, epsilon: float = EPSILON,
            backend: str = "tensorflow") -> np.ndarray:
    r"""Tversky loss, as ``keras.losses.tversky`` in the installed Keras.

    With the sums over `axis` (every axis by default: the whole batch),
    :math:`TP = \sum y p`, :math:`FN = \sum y (1 - p)` and
    :math:`FP = \sum (1 - y) p`:

    .. math::

        \ell(y, p) = 1 - \frac{TP}{TP + w_{FN} FN + w_{FP} FP + \epsilon} ,

    where, **in Keras 3.15 and earlier**, :math:`w_{FN} = \alpha` and
    :math:`w_{FP} = \beta`: the reverse of Keras' documentation and of
    Salehi et al., in which `alpha` weighs the false positives. Keras 3.16
    swaps them back (keras-team/keras#23333). lossbounds follows the
    installed Keras version (3.15.1's roles where Keras is not installed).
    With ``alpha == beta`` the two agree: 0.5 gives Dice (with
    :math:`2\epsilon`), 1 the Jaccard (IoU) loss.

    Parameters
    ----------
    y_true : array_like
        Target mask, values in [0, 1], the same shape as `y_pred`.
    y_pred : array_like
        Predictions, usually sigmoid outputs in [0, 1]. Must be floating
        point.
    alpha, beta : float >= 0, default 0.5
        The weights of the two kinds of mistakes (see above for which is
        which).
    axis : int or tuple of int, optional
        The axes the sums run over; ``None`` (Keras' default): every axis,
        the whole batch, one 0-d value.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``, added to the denominator only.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        The losses with the `axis` dimensions removed, in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        If `y_true` and `y_pred` differ in shape (Keras' function broadcasts
        ``(N,)`` against ``(N, 1)`` into an ``(N, N)`` grid), `y_true` leaves
        [0, 1], or `alpha` or `beta` is negative (Keras accepts all three and
        returns a meaningless value; lossbounds raises).
    TypeError
        For integer predictions, on which Keras' TensorFlow function fails
        too (its class, and `loss`, cast them to float32 first).

    Notes
    -----
    As for `dice`: the whole batch by default, an empty mask scores 1 even
    predicted perfectly, and predictions are not clipped. Above 1 they make
    the loss negative: down to :math:`1 - 1/(1 - w_{FN})` for
    :math:`w_{FN} < 1`, without limit from :math:`w_{FN} = 1` on (with
    :math:`w_{FP} = 0`, a prediction of :math:`10^6` gives
    :math:`1 - 10^6`).

    References
    ----------
    .. [1] S. S. M. Salehi, D. Erdogmus and A. Gholipour, "Tversky loss
       function for image segmentation using 3D fully convolutional deep
       networks", MLMI 2017, arXiv:1706.05721.

    See Also
    --------
    dice : the case alpha = beta = 0.5.
    loss : the reduced value of ``keras.losses.Tversky``.

    Examples
    --------
    >>> import lossbounds
    >>> y_true = [1.0, 1.0, 0.0, 0.0]
    >>> y_pred = [1.0, 0.0, 1.0, 1.0]  # TP 1, FN 1, FP 2
    >>> lossbounds.tversky(y_true, y_pred, alpha=1.0, beta=0.0)  # Keras 3.15: 1 - 1/(1 + FN)
    array(0.5, dtype=float32)
    >>> lossbounds.tversky(y_true, y_pred, alpha=0.0, beta=1.0)  # 1 - 1/(1 + FP)
    array(0.6666666, dtype=float32)
    """
    return Tversky().per_sample(y_true, y_pred, alpha=alpha, beta=beta, axis=axis,
                                epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Bounds


def _mask_statistics(y_true: Any, axis: Axis, loss: str) -> tuple[np.ndarray, int]:
    """Per loss entry: the sum of the targets over `axis`, and how many elements each sums."""
    y = to_array(y_true, "y_true", allow_bool=True).astype(np.float64)
    if y.size == 0:
        require_nonempty(0)
    _require_mask(y, loss)
    axes = _axes(axis, y.ndim, loss)
    return np.atleast_1d(np.sum(y, axis=axes)).reshape(-1), math.prod(y.shape[i] for i in axes)


class _Overlap(LossDefinition):
    """What Dice and Tversky share: the mask, the foreground fraction, the words."""

    batch_wide = "with axis=None the sums run over the whole batch"

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1.
    # They end in a sum, not ops.mean: PyTorch computes float64 exactly. The class follows
    # the function (the backends' "function" rule).
    float64_function = {"torch": "exact"}

    in_tf_keras = False  # Keras 3 added it

    bound_options = (FOREGROUND, PRED_RANGE)
    data_options = (Y_TRUE,)
    prior_keys = ("foreground",)
    prior_name = "foreground everywhere"
    prior_meaning = ("the loss of predicting 1 (foreground) everywhere, the best constant "
                     "prediction")

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        axis = options.pop("axis", None)
        return _overlap_plan(self.formula(**options), y_true, y_pred, dtype, axis, self.name)

    def formula(self, **options: Any) -> _Formula:
        raise NotImplementedError

    # -- bounds ------------------------------------------------------------

    def best(self, s: Setting) -> float:
        pred_range = s["pred_range"]
        if pred_range is None:
            return 0.0  # predictions in [0, 1]: a sigmoid head
        low, high = pred_range
        if low < 0:
            return -math.inf  # a negative prediction can make the denominator vanish
        return self.best_up_to(s, high)

    def best_up_to(self, s: Setting, high: float) -> float:
        """The least loss with predictions in [0, `high`] (see the class docstring)."""
        raise NotImplementedError

    def negative_floor(self, s: Setting) -> str:
        """How far below 0 predictions above 1 can take the loss, in words."""
        floor = self.best_up_to(s, math.inf)
        return "with no lower limit" if math.isinf(floor) else f"down to {number(floor)}"

    def worst(self, s: Setting) -> float:
        # An empty mask scores 1 whatever the prediction; more needs a vanishing denominator.
        pred_range = s["pred_range"]
        if pred_range is None:
            return 1.0
        low, high = pred_range
        return math.inf if low < 0 or self.vanishes_up_to(s, high) else 1.0

    def vanishes_up_to(self, s: Setting, high: float) -> bool:
        """Can predictions in [0, `high`] make the denominator 0 (and the loss +-inf)?"""
        return False

    def constant(self, s: Setting, c: float) -> float:
        """The constant `c`, checked against `pred_range`: the baselines are predictions in [0, 1]."""
        pred_range = s["pred_range"]
        if pred_range is None:
            return c
        low, high = pred_range
        if c == 1.0 and 0.0 < high < 1.0:
            return high  # the loss falls as the constant grows: the largest one allowed
        if not low <= c <= high:
            raise UndefinedBound(
                f"pred_range={pred_range} leaves out the constant prediction {c:g} of this "
                f"baseline of {self.name}: the baselines are for predictions in [0, 1].")
        return c

    def at_constant(self, s: Setting, targets: np.ndarray, elements: int, c: float,
                    eps: float) -> np.ndarray:
        """The loss of predicting `c` on masks with `targets` foreground of `elements` each."""
        raise NotImplementedError

    def baseline_at(self, s: Setting, y_true: Any, c: float) -> float:
        """The loss of predicting `c` everywhere: exactly on `y_true`, else from `foreground`."""
        f = s["foreground"]
        if y_true is not None:
            targets, elements = _mask_statistics(y_true, s["axis"], self.name)
            if f is not None:
                found = float(np.sum(targets)) / (targets.size * elements)
                if abs(found - f) > 1e-9:
                    raise ValueError(
                        f"`y_true` has a foreground fraction of {found:.6g} but foreground={f!r}: "
                        "give one of them (y_true gives the exact value).")
            return float(np.mean(self.at_constant(s, targets, elements, c, s["epsilon"])))
        if f is None:
            raise UndefinedBound(self.uniform_missing(s))
        # Per element, for many elements: epsilon's share vanishes (an empty mask stays at 1).
        return float(self.at_constant(s, np.array([f]), 1, c, 0.0)[0]) if f and c else 1.0

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        return self.baseline_at(s, y_true, self.constant(s, 0.5))

    def prior(self, s: Setting, y_true: Any) -> float:
        return self.baseline_at(s, y_true, self.constant(s, 1.0))

    def notes(self, s: Setting) -> tuple[Note, ...]:
        notes = []
        if s["axis"] is None:
            notes.append(Note("batch_level", (
                "With axis=None (Keras' default) the sums run over the whole batch: the loss is "
                "one number per batch, not a mean of per-image losses, and the printed epoch "
                "loss averages those batch values. Pass axis=(1, 2, 3) for one value per "
                "image.")))
        notes.append(Note("empty_mask_scores_one", (
            "A batch (or image) without foreground scores 1 whatever the prediction, even a "
            "perfect all-zero one: the numerator has no smoothing term.")))
        notes.append(Note("unclipped_predictions", (
            "Predictions are not clipped: above 1 they make the loss negative "
            f"({self.negative_floor(s)}), negative ones can push it above 1. A sigmoid output keeps "
            "it in [0, 1].")))
        return tuple(notes)

    # -- words -------------------------------------------------------------

    def uniform_meaning(self, s: Setting) -> str:
        return "the loss of predicting 0.5 everywhere"

    def uniform_missing(self, s: Setting) -> str:
        return (f"the baselines of {self.name} depend on the foreground fraction f of the "
                "targets: pass foreground=f (--foreground F), e.g. 0.05 when 5% of the pixels "
                "are foreground, or the targets y_true")

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if value < -PRINT_ATOL:
            ranges = ("" if s["pred_range"] is not None else
                      "; pass the outputs' range (pred_range=(0, inf)) for bounds that allow them")
            return (Note("negative_overlap_loss", (
                f"A negative {self.title} means predictions above 1, which Keras does not clip: "
                f"the overlap term then exceeds 1 (the loss falls {self.negative_floor(s)} as "
                f"they grow). End the model with a sigmoid, or clip the outputs{ranges}.")),)
        if value > 1 + PRINT_ATOL:
            return (Note("overlap_loss_above_one", (
                f"A {self.title} above 1 means negative predictions, which Keras does not clip: "
                "end the model with a sigmoid.")),)
        if abs(value - 1) <= PRINT_ATOL:
            return (Note("no_overlap", (
                f"{loss_value(value)} is the {self.title} of no overlap at all: the model "
                "predicts 0 wherever the target is 1, or the targets are empty (an empty mask "
                "scores 1 even when predicted perfectly, all zeros).")),)
        return ()


@register
class Dice(_Overlap):
    r"""Dice loss: :math:`1 - 2\sum y p / (\sum y + \sum p + \epsilon)`, sums over `axis`.

    For targets :math:`y \in [0, 1]` and predictions :math:`p \in [0, 1]`,
    write :math:`S = \sum y`, :math:`n` the number of elements summed and
    :math:`f = S/n` the foreground fraction.

    *Best case* 0: :math:`2yp \le y + p` on [0, 1], with equality at
    :math:`p = y \in \{0, 1\}`; a perfect prediction scores
    :math:`\epsilon / (2S + \epsilon)`, which rounds to 0 in float32 once
    :math:`S \gtrsim 1` (a perfect *empty* mask scores 1).

    *Worst case* 1, when :math:`\sum y p = 0`: predictions 0 wherever the
    target is 1, or an empty mask, whatever the predictions.

    *With predictions in* ``pred_range`` :math:`= [l, h]` (Keras does not clip
    them): for :math:`l \ge 0`, :math:`y \in [0, 1]` and :math:`p \le h`,
    :math:`h(y + p) - (1 + h) y p = y(h - p) + h p (1 - y) \ge 0`, so the
    fraction is at most :math:`2h/(1 + h)` and the best case is
    :math:`(1 - h)/(1 + h)`, attained by :math:`p = h` on the foreground and 0
    elsewhere: 0 for :math:`h = 1`, towards -1 as :math:`h` grows. The worst
    stays 1 (an empty mask). For :math:`l < 0` the denominator can vanish:
    :math:`-\infty` and :math:`\infty`.

    *Uniform baseline*: :math:`p = 0.5` everywhere gives
    :math:`1 - S / (S + n/2 + \epsilon) \to 1/(2f + 1)`.

    *Prior baseline*: a constant :math:`c` gives
    :math:`1 - 2cS / (S + cn + \epsilon)`, decreasing in :math:`c` (its
    derivative is :math:`-2S(S + \epsilon)/(S + cn + \epsilon)^2`), so the best
    constant in [0, 1] is :math:`c = 1`, foreground everywhere:
    :math:`1 - 2S/(S + n + \epsilon) \to (1 - f)/(1 + f)`. With `y_true` the
    exact values (epsilon and per-image sums included) are averaged over the
    loss entries, as Keras' class reduces them. The baselines are for
    predictions in [0, 1] (within ``pred_range``: below :math:`h < 1` the best
    constant is :math:`h`).
    """

    name = "dice"
    class_name = "Dice"
    aliases = ("dice_loss",)
    title = "Dice loss"
    keras_options = (AXIS,)
    function = staticmethod(dice)

    def formula(self, **options: Any) -> _Formula:
        return _dice_formula(options.get("epsilon", EPSILON))

    def best_up_to(self, s: Setting, high: float) -> float:
        if math.isinf(high):
            return -1.0
        return (1.0 - high) / (1.0 + high)

    def at_constant(self, s: Setting, targets: np.ndarray, elements: int, c: float,
                    eps: float) -> np.ndarray:
        return 1.0 - 2.0 * c * targets / (targets + c * elements + eps)

    def uniform_formula(self, s: Setting) -> str:
        f = s["foreground"]
        return "1/(2f+1)" + (f" for f = {number(f)}" if f is not None else "")

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        score = 1.0 - value  # the Dice coefficient
        if not 0.0 <= score <= 1.0:
            return []
        lines = [f"Dice coefficient 1 - {loss_value(value)} = {number(score)}: twice the overlap "
                 f"sum(y·p) is {percent(score)} of sum(y) + sum(p) (1 is a perfect match, "
                 "0 no overlap)."]
        if score < 1.0:
            lines.append(f"For hard 0/1 masks that is an intersection over union of "
                         f"D/(2 - D) = {number(score / (2.0 - score))}.")
        return lines


@register
class Tversky(_Overlap):
    r"""Tversky loss: :math:`1 - TP / (TP + w_{FN} FN + w_{FP} FP + \epsilon)`.

    In Keras <= 3.15 :math:`w_{FN} = \alpha`, :math:`w_{FP} = \beta` (the
    reverse of its documentation), in Keras >= 3.16 the other way round; the
    installed Keras decides. With :math:`S = \sum y`, :math:`n` elements and
    :math:`f = S/n`, for :math:`y, p \in [0, 1]` and weights >= 0:

    *Best case* 0: :math:`FN = FP = 0` at :math:`p = y`, up to
    :math:`\epsilon / (S + \epsilon)`. *Worst case* 1, at :math:`TP = 0`
    (an empty mask scores 1 whatever the predictions).

    *With predictions in* ``pred_range`` :math:`= [l, h]`, :math:`l \ge 0`:
    :math:`FP \ge 0`, and per element
    :math:`y p (1 - c) \le c\, w_{FN}\, y (1 - p)` for
    :math:`c = h / D`, :math:`D = w_{FN} + h (1 - w_{FN}) > 0` (it reduces to
    :math:`p \le h`), so the index is at most :math:`c` and the best case is
    :math:`1 - h/D`, attained by :math:`p = h` on the foreground and 0
    elsewhere; as :math:`h \to \infty`, :math:`1 - 1/(1 - w_{FN})` for
    :math:`w_{FN} < 1`. With :math:`D \le 0` (:math:`w_{FN} > 1`,
    :math:`h \ge w_{FN}/(w_{FN} - 1)`) or :math:`l < 0` the denominator can
    vanish: :math:`-\infty` and :math:`\infty`. Otherwise, per element
    :math:`y p + w_{FN} y (1 - p) \ge y \min(w_{FN}, D) \ge 0`: the
    denominator stays positive and the worst case 1, while at
    :math:`w_{FN} = 1` the best is :math:`1 - h`, unbounded as :math:`h` grows
    (:math:`w_{FP} = 0`, :math:`p = 10^6` on a full mask gives :math:`1 - p`).

    *Uniform baseline*: at :math:`p = 0.5`, :math:`TP = FN = S/2` and
    :math:`FP = (n - S)/2`: :math:`1 - f / (f + w_{FN} f + w_{FP}(1 - f))`.

    *Prior baseline*: a constant :math:`c` gives
    :math:`1 - cS / (cS + w_{FN}(1-c)S + w_{FP} c (n - S) + \epsilon)`; dividing
    by :math:`c`, the denominator's :math:`w_{FN} S (1 - c)/c + \epsilon / c`
    decreases in :math:`c`, so :math:`c = 1` is best:
    :math:`w_{FP}(1 - f) / (f + w_{FP}(1 - f))` (and 1 for an empty mask).
    """

    name = "tversky"
    class_name = "Tversky"
    aliases = ("tversky_loss",)
    title = "Tversky loss"
    keras_options = (ALPHA, BETA, AXIS)
    function = staticmethod(tversky)

    def formula(self, **options: Any) -> _Formula:
        return _tversky_formula(options.get("alpha", 0.5), options.get("beta", 0.5),
                                options.get("epsilon", EPSILON))

    def best_up_to(self, s: Setting, high: float) -> float:
        w_fn = _weights(s["alpha"], s["beta"])[0]
        if math.isinf(high):
            return 1.0 - 1.0 / (1.0 - w_fn) if w_fn < 1 else -math.inf
        denominator = w_fn + high * (1.0 - w_fn)
        return 1.0 - high / denominator if denominator > 0 else -math.inf

    def vanishes_up_to(self, s: Setting, high: float) -> bool:
        # per element y p + w_FN y (1 - p) >= y min(w_FN, D): negative only if D < 0 is reachable
        w_fn = _weights(s["alpha"], s["beta"])[0]
        return w_fn > 1 and high >= w_fn / (w_fn - 1)

    def at_constant(self, s: Setting, targets: np.ndarray, elements: int, c: float,
                    eps: float) -> np.ndarray:
        w_fn, w_fp = _weights(s["alpha"], s["beta"])
        tp, fn, fp = c * targets, (1.0 - c) * targets, c * (elements - targets)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = 1.0 - tp / (tp + w_fn * fn + w_fp * fp + eps)
        return np.where(targets > 0, value, 1.0)  # an empty mask: 0 / eps

    def notes(self, s: Setting) -> tuple[Note, ...]:
        w_fn, w_fp = ("alpha", "beta") if _alpha_weighs_false_negatives() else ("beta", "alpha")
        roles = Note("tversky_roles", (
            f"In the installed Keras `{w_fn}` weighs the false negatives and `{w_fp}` the false "
            "positives. Keras 3.15 and earlier put alpha on the false negatives, the reverse "
            "of their documentation and of Salehi et al.; Keras 3.16 swaps them back, so the "
            "same alpha != beta gives other values there."))
        return (*super().notes(s), roles)

    def uniform_formula(self, s: Setting) -> str:
        w_fn, w_fp = ("α", "β") if _alpha_weighs_false_negatives() else ("β", "α")
        f = s["foreground"]
        return (f"1 - f/(f + {w_fn}f + {w_fp}(1-f))"
                + (f" for f = {number(f)}" if f is not None else ""))

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        score = 1.0 - value  # the Tversky index
        if not 0.0 <= score <= 1.0:
            return []
        w_fn, w_fp = _weights(s["alpha"], s["beta"])
        return [f"Tversky index 1 - {loss_value(value)} = {number(score)}: the true positives "
                f"sum(y·p) are {percent(score)} of TP + {number(w_fn)}·FN + {number(w_fp)}·FP "
                "(false negatives and positives weighted as the installed Keras weighs them)."]
