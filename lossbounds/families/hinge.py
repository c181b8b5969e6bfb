r"""Margin losses: hinge, squared hinge and categorical hinge.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.

The three count a prediction as right *with margin 1*: a score whose sign
(or, for the categorical hinge, whose lead over every other class) is right
by at least 1 costs nothing, and every unit short of that costs one unit of
loss (its square for the squared hinge). Their values are in the units of
the model's scores, never in bits.

Two Keras 3 quirks shape the values (both reproduced):

- `hinge` and `squared_hinge` convert labels 0/1 to -1/+1 only when *every*
  label of the batch is 0 or 1: a batch that also holds a -1 (or a soft
  label) keeps its zeros, and each costs exactly 1 whatever the prediction.
- `categorical_hinge` compares the true class's score with the other
  classes' *and with 0* (the true class enters the max as 0), so all-negative
  scores cost more than 1 even when the true class has the largest score.

References
----------
.. [1] C. Cortes and V. Vapnik, "Support-vector networks", *Machine
   Learning* 20, 273-297 (1995): the hinge loss.
.. [2] K. Crammer and Y. Singer, "On the algorithmic implementation of
   multiclass kernel-based vector machines", *JMLR* 2, 265-292 (2001): the
   multiclass hinge that `categorical_hinge` approximates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..backends import Backend
from ..checks import EPSILON, first_where, plain, require_nonempty, scan_pieces, to_array
from ..engine import Plan, broadcast_shape, cast, require_rank, row_wise_plan, same_rank
from ..fused import (
    CHUNK_ROWS,
    Fused,
    accelerates,
    chunk_adder,
    compile,
    elementwise_mean,
    prefetch,
    prefetch_steps,
    row_max,
)
from ..options import COUNTS, N_CLASSES, PRED_RANGE, SAMPLE_WEIGHT, Y_TRUE, Option
from ..registry import LossDefinition, Setting, register
from ..text import FLOAT32_RTOL, PRINT_ATOL, Note, loss_value, number, percent

# The per-sample functions: lossbounds exports them.
__all__ = ["hinge", "squared_hinge", "categorical_hinge"]


# --------------------------------------------------------------------------
# TensorFlow's sums over the last axis, bit for bit
#
# The hinge means add non-negative terms, where numpy's order is as good as
# TensorFlow's; but the categorical hinge subtracts a sum of soft targets
# times scores from a max, and there one ulp of a large sum can exceed 1e-6
# of the result. So the sums follow Eigen's inner-most reducer as TensorFlow
# runs it on x86 (AVX) CPUs: 8 float (4 double) lanes per packet, 4 packet
# accumulators, the lanes folded in halves, the tail added one by one into a
# scalar accumulator, and rows longer than 1024 packets split in two at a
# packet boundary of the flat tensor. Checked bit for bit against
# tf.reduce_sum for rows of 1 to 131075 elements (tests/test_hinge.py).

_LANES = {np.dtype(np.float32): 8, np.dtype(np.float64): 4}
_LEAF_PACKETS = 1024
_UNROLL = 4
#: Lanes of the fused categorical hinge's max of a long row (a vector of float32).
_MAX_LANES = 16


def _leaf_sum(rows: np.ndarray, lanes: int) -> np.ndarray:
    count = rows.shape[1]
    packets = count // lanes
    filled = packets * lanes
    # np.cumsum adds strictly left to right: the last column is a sequential sum
    if filled < count:
        tail = np.cumsum(rows[:, filled:], axis=1, dtype=rows.dtype)[:, -1]
    else:
        tail = np.zeros(rows.shape[0], rows.dtype)
    if packets == 0:
        return tail
    blocks = rows[:, :filled].reshape(rows.shape[0], packets, lanes)
    unrolled = packets // _UNROLL * _UNROLL
    if unrolled:
        accumulators = [np.cumsum(blocks[:, j:unrolled:_UNROLL], axis=1, dtype=rows.dtype)[:, -1]
                        for j in range(_UNROLL)]
        total = ((accumulators[0] + accumulators[1]) + accumulators[2]) + accumulators[3]
        for b in range(unrolled, packets):
            total = total + blocks[:, b]
    else:
        total = np.cumsum(blocks, axis=1, dtype=rows.dtype)[:, -1]
    while total.shape[1] > 1:  # Eigen's predux: fold the lanes in halves
        half = total.shape[1] // 2
        total = total[:, :half] + total[:, half:]
    return tail + total[:, 0]


def _tree_sum(rows: np.ndarray, first: int, lanes: int) -> np.ndarray:
    count = rows.shape[1]
    if count <= _LEAF_PACKETS * lanes:
        return _leaf_sum(rows, lanes)
    # The split point is aligned on a packet boundary of the flat tensor.
    split = lanes * -(-(first + -(-count // 2)) // lanes)
    left = min(split - first, count)
    total = _tree_sum(rows[:, :left], first, lanes)
    if left < count:
        total = total + _tree_sum(rows[:, left:], split, lanes)
    return total


def _tf_sum(x: np.ndarray) -> np.ndarray:
    """``tf.reduce_sum(x, axis=-1)`` in `x`'s dtype, bit for bit on x86 CPUs."""
    if x.dtype == np.float16:
        return np.asarray(_tfmath.reduce_sum(x, axis=-1))
    lanes = _LANES[x.dtype]
    count = x.shape[-1]
    rows = np.ascontiguousarray(x).reshape(math.prod(x.shape[:-1]), count)
    if count <= _LEAF_PACKETS * lanes:
        out = _leaf_sum(rows, lanes)
    else:
        # Where the recursion splits depends on each row's offset in the flat tensor.
        out = np.empty(rows.shape[0], x.dtype)
        offsets = (np.arange(rows.shape[0]) * count) % lanes
        for offset in np.unique(offsets):
            chosen = offsets == offset
            out[chosen] = _tree_sum(rows[chosen], int(offset), lanes)
    return out.reshape(x.shape[:-1])


def _tf_mean(x: np.ndarray) -> np.ndarray:
    """``keras.ops.mean(x, axis=-1)`` on TensorFlow: the sum divided by the count.

    float16 is averaged in float32 and rounded back, as Keras does; an empty
    last axis gives NaN (0/0), as in Keras.
    """
    compute = np.float32 if x.dtype == np.float16 else x.dtype.type
    values = x.astype(compute, copy=False)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = _tf_sum(values) / compute(x.shape[-1])
    return np.asarray(mean).astype(x.dtype, copy=False)


# --------------------------------------------------------------------------
# Checks shared by the three


def _check_shapes(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> tuple[int, ...]:
    """The broadcast shape, after refusing what Keras' function API gets silently wrong."""
    require_rank(y_pred, "y_pred", loss)
    require_rank(y_true, "y_true", loss)
    fixed_true, fixed_pred = same_rank(y_true, y_pred)
    if (fixed_true.shape, fixed_pred.shape) != (y_true.shape, y_pred.shape):
        try:
            fixed: tuple[int, ...] | None = np.broadcast_shapes(fixed_true.shape, fixed_pred.shape)
        except ValueError:
            fixed = None
        try:
            garbage: tuple[int, ...] | None = np.broadcast_shapes(y_true.shape, y_pred.shape)
        except ValueError:
            garbage = None
        if fixed != garbage:
            keras_does = (f"Keras' function would broadcast them to {garbage}, every target "
                          "against every prediction, and return a plausible-looking wrong number"
                          if garbage is not None else "Keras' function cannot use them")
            raise ValueError(
                f"{loss}: `y_true` has shape {y_true.shape} and `y_pred` has shape "
                f"{y_pred.shape}: {keras_does}; lossbounds raises. Hint: give both the same "
                f"shape (such as y_true.reshape({', '.join(map(str, fixed_pred.shape))})), or use "
                f"lossbounds.loss({loss!r}, ...), which first brings them to the same rank as "
                "the Keras class does."
            )
    return broadcast_shape(y_true, y_pred, loss)


def _check_labels(y: np.ndarray, dtype: np.dtype, loss: str, expected: str, hint: str) -> None:
    """Labels, cast to the compute dtype as Keras casts them, must lie in [-1, 1]."""
    where = first_where(y, lambda piece: np.abs(cast(piece, dtype)) > 1)
    if where is not None:
        raise ValueError(
            f"{loss}: `y_true` must hold {expected}, got {plain(cast(y[where], dtype))}. Keras would "
            f"use it silently (a label of 2 asks for a margin of 1/2, a label of 5 for a "
            f"margin of 1/5); lossbounds raises. Hint: {hint}"
        )


_HINGE_LABELS = "labels -1 and 1 (0 and 1 are converted to -1 and 1), or soft labels in [-1, 1]"
_HINGE_HINT = ("class indices 0..K-1 with K > 2 need categorical_hinge on one-hot labels "
               "(keras.utils.to_categorical); 1/2 labels can be shifted to 0/1.")
_CATEGORICAL_LABELS = "one-hot labels (0 and 1; Keras also accepts -1 and 1) in [-1, 1]"
_CATEGORICAL_HINT = "turn class indices into one-hot rows with keras.utils.to_categorical."


def _first_not_binary(y: np.ndarray, dtype: np.dtype) -> tuple[int, ...] | None:
    """The index of the first label that is neither 0 nor 1 once cast to `dtype`, or None."""
    return first_where(y, lambda piece: (lambda c: (c != 0) & (c != 1))(cast(piece, dtype)))


def _binary_labels(y: np.ndarray, dtype: np.dtype) -> bool:
    """Does Keras' ``convert_binary_labels_to_hinge`` convert this batch (every label 0 or 1)?"""
    return _first_not_binary(y, dtype) is None


def _checked_binary_labels(y: np.ndarray, dtype: np.dtype, loss: str) -> bool:
    """`_binary_labels`, with `_check_labels`' check of hinge labels, in one pass for 0/1 labels.

    The labels before the first that is not 0 or 1 lie in [-1, 1]: only the
    rest need the second check (a pass over all of them for -1/+1 labels,
    none for 0/1; two passes before, 1.5 ms each on 10**7 labels). With the
    accelerator, one compiled pass answers first (`_scanned_labels`).
    """
    scanned = _scanned_labels(y, dtype)
    if scanned is not None and scanned[1]:
        return scanned[0]
    first = _first_not_binary(y, dtype)
    if first is None:
        return True
    rest = y.reshape(-1)[np.ravel_multi_index(first, y.shape):] if y.flags.c_contiguous else y
    _check_labels(rest, dtype, loss, _HINGE_LABELS, _HINGE_HINT)
    return False


def _scanned_labels(y: np.ndarray, dtype: np.dtype) -> tuple[bool, bool] | None:
    """With the accelerator, ``(every label is 0 or 1, every label lies in [-1, 1])`` from one read.

    Labels already in the float `dtype`, C-contiguous, and enough of them
    for the accelerator (`lossbounds.fused.accelerates`) are read once, in
    a compiled pass on two threads; others give None. Where a label lies
    outside [-1, 1] (or is NaN), numpy's search finds the first and names it
    (and the first answer may be False for labels not read). 10**7 float32
    labels of 0 and 1, two threads: 4.0 -> 1.1 ms (numpy's search compares
    each label twice, into temporary arrays).
    """
    if (y.dtype != dtype or dtype not in (np.float32, np.float64) or not y.flags.c_contiguous
            or not accelerates(y.size)):
        return None
    # (a label outside [-1, 1]: stop, numpy's search names it)
    answers = scan_pieces(y.reshape(-1), _label_scan(), lambda answer: not answer[1])
    return all(binary for binary, _ in answers), all(within for _, within in answers)


@functools.cache
def _label_scan() -> Callable[[np.ndarray], tuple[bool, bool]]:
    """Compiled ``(every value is 0 or 1, every value lies in [-1, 1])`` of a flat array (NaN: neither)."""
    def scan(values: np.ndarray) -> tuple[bool, bool]:
        other = outside = False  # (bools: the compiler vectorises the loop)
        for i in range(values.size):
            v = values[i]
            other |= (v != 0) & (v != 1)
            outside |= not abs(v) <= 1
        return not other, not outside

    return compile(scan)


def _convert_labels(y: np.ndarray, convert: bool) -> np.ndarray:
    """0/1 -> -1/+1 where the whole batch is 0/1 (`convert`), else the labels as they are."""
    return y * y.dtype.type(2) - y.dtype.type(1) if convert else y


# --------------------------------------------------------------------------
# Values


def _margin_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *, loss: str,
                 squared: bool) -> Plan:
    _check_shapes(y_true, y_pred, loss)
    # Keras casts y_true to y_pred's dtype, then decides on the whole batch: a first pass.
    convert = _checked_binary_labels(y_true, dtype, loss)

    def formula(t: np.ndarray, p: np.ndarray) -> np.ndarray:
        y = _convert_labels(t, convert)
        with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN as Keras gives them
            shortfall = np.maximum(dtype.type(1) - y * p, dtype.type(0))
            if squared:
                shortfall = np.square(shortfall)
        return _tf_mean(shortfall)

    # Once the batch-wide conversion is decided, each row's value is its own: rows stream,
    # in blocks of whole 8-element packets (TensorFlow's sum splits rows on packets). A
    # row wider than a block is added a segment at a time: its terms are >= 0, so the
    # float64 total of the segments' sums is a few ulp from TensorFlow's own sum at most.
    fused = _MARGIN_FUSED.using(float(convert), float(squared), 2.0, 1.0, 0.0)
    return row_wise_plan(formula, y_true, y_pred, dtype, packet=8, fused=fused, row_terms="mean")


def _margin_term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
    # (non-negative terms: a float64 sum is as good as TensorFlow's order)
    convert, squared, two, one, zero = (options[0], options[1], options[2], options[3],
                                        options[4])
    label = y * two - one if convert != zero else y
    shortfall = one - label * p
    shortfall = zero if shortfall < zero else shortfall  # np.maximum: NaN stays NaN
    return shortfall * shortfall if squared != zero else shortfall


_MARGIN_FUSED = Fused(elementwise_mean(_margin_term))


def _categorical_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype) -> Plan:
    loss = "categorical_hinge"
    if y_true.ndim >= 1 and y_pred.ndim >= 1 and y_true.shape[-1] != y_pred.shape[-1]:
        raise ValueError(
            f"{loss}: the last axis holds the classes, so `y_true` and `y_pred` must have the "
            f"same last dimension, got y_true.shape={y_true.shape} and "
            f"y_pred.shape={y_pred.shape}. Keras' function would broadcast one against the "
            "other and compare every score with the same label; lossbounds raises. Hint: "
            + (_CATEGORICAL_HINT if y_true.shape[-1] == 1 else
               "give one one-hot row per prediction row.")
        )
    shape = _check_shapes(y_true, y_pred, loss)
    if math.prod(shape) == 0:
        raise ValueError(
            f"{loss}: the inputs are empty (shape {shape}). Keras on TensorFlow raises "
            "'Cannot compute the max of an empty tensor'; lossbounds raises too. Hint: skip "
            "empty batches."
        )
    scanned = _scanned_labels(y_true, dtype)
    if scanned is None or not scanned[1]:
        _check_labels(y_true, dtype, loss, _CATEGORICAL_LABELS, _CATEGORICAL_HINT)

    def formula(labels: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            positive = _tf_sum(labels * p)
            negative = np.max((dtype.type(1) - labels) * p, axis=-1)
            return np.asarray(np.maximum(negative - positive + dtype.type(1), dtype.type(0)),
                              dtype)

    return row_wise_plan(formula, y_true, y_pred, dtype, packet=8, fused=_CATEGORICAL_FUSED)


def _categorical_kernel(dtype: np.dtype) -> Any:
    """The fused categorical hinge: TensorFlow's sum of labels x scores, in Eigen's order.

    The sum is subtracted from a max, where one ulp of it can exceed 1e-6 of
    the result: so it is added as `_leaf_sum` adds it, packets of `lanes`
    in four accumulators, bit for bit. Rows longer than one leaf are split
    as `_tree_sum` splits them, which depends on each row's flat offset: rows
    of a multiple of `lanes` all start on a packet; other long rows are
    declined. The max of (1 - labels) x scores: a loop a row below 32
    classes; from 32, a vectorised map of the products, then the max in
    `_MAX_LANES` lanes, NaN noted apart (2.4x faster in cache at 100 to
    32,000 classes than the loop, whose every compare waits for the last).
    Rows below 32 classes with at most one nonzero product (one-hot labels)
    skip Eigen's order: a sum of one nonzero number and zeros is that number
    in any order. The rows' values are kept a chunk at a time and written to
    `out` after the chunk's rows (`lossbounds.fused.chunk_adder`; a store in
    the row loop made it 2x slower: 10 classes in cache, one thread, 28 ->
    13.5 ns a row, 12 with the shortcut), and narrow rows ask for their lines
    4 KiB ahead (from memory: 32 -> 14 ns a row).
    """
    lanes = _LANES[np.dtype(dtype)]
    leaf = _LEAF_PACKETS * lanes
    add_chunk, lanes_max = chunk_adder(), row_max()
    fetch, (ahead, _) = prefetch(), prefetch_steps(dtype)

    nan = np.dtype(dtype).type(np.nan)

    def row_sum(values: np.ndarray, count: int, accumulators: np.ndarray, zero: Any) -> Any:
        packets = count // lanes
        filled = packets * lanes
        tail = zero
        for j in range(filled, count):
            tail = tail + values[j]
        if packets == 0:
            return tail
        accumulators[:] = 0
        unrolled = packets // _UNROLL * _UNROLL
        for b in range(unrolled):
            for lane in range(lanes):
                accumulators[b % _UNROLL, lane] += values[b * lanes + lane]
        total = accumulators[4]
        if unrolled:
            for lane in range(lanes):
                total[lane] = ((accumulators[0, lane] + accumulators[1, lane])
                               + accumulators[2, lane]) + accumulators[3, lane]
        else:
            total[:] = 0
        for b in range(unrolled, packets):
            for lane in range(lanes):
                total[lane] = total[lane] + values[b * lanes + lane]
        width = lanes
        while width > 1:  # Eigen's predux: fold the lanes in halves
            width //= 2
            for lane in range(width):
                total[lane] = total[lane] + total[lane + width]
        return tail + total[0]

    summed = compile(row_sum, inline=True)

    def tree_sum(values: np.ndarray, count: int, accumulators: np.ndarray, zero: Any) -> Any:
        """`_tree_sum` of a row whose flat offset is a multiple of `lanes`: its leaves in
        order, each pair of halves added as the recursion adds them (a stack: no recursion in
        compiled closures)."""
        starts = np.empty(64, np.int64)  # the segments being split: start, count, halves done
        counts = np.empty(64, np.int64)
        done = np.empty(64, np.int64)
        sums = np.empty(64, values.dtype)  # finished halves, innermost last
        starts[0], counts[0], done[0] = 0, count, 0
        top, found = 1, 0
        while top > 0:
            start, length = starts[top - 1], counts[top - 1]
            if length <= leaf:
                sums[found] = summed(values[start : start + length], length, accumulators, zero)
                found += 1
                top -= 1
                continue
            half = (length + 1) // 2  # `_tree_sum`'s split: half, rounded up to a packet
            left = min((half + lanes - 1) // lanes * lanes, length)
            if done[top - 1] == 0:
                done[top - 1] = 1
                starts[top], counts[top], done[top] = start, left, 0
                top += 1
            elif done[top - 1] == 1 and left < length:
                done[top - 1] = 2
                starts[top], counts[top], done[top] = start + left, length - left, 0
                top += 1
            else:  # left (and right) finished: left + right
                if left < length:
                    found -= 1
                    sums[found - 1] = sums[found - 1] + sums[found]
                top -= 1
        return sums[0]

    tree = compile(tree_sum, inline=True)

    def margin_of(negative: Any, positive: Any, one: Any, zero: Any) -> Any:
        margin = negative - positive + one
        return zero if margin < zero else margin  # np.maximum: NaN stays NaN

    margin = compile(margin_of, inline=True)

    def kernel(labels: np.ndarray, scores: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = scores.shape
        if width > leaf and width % lanes:
            return 0.0, False  # Eigen splits each row where its flat offset puts a packet
        one, zero = constants[0], constants[1]
        products = np.empty(width, scores.dtype)
        others = np.empty(width, scores.dtype)
        maxima = np.empty(_MAX_LANES, scores.dtype)
        accumulators = np.zeros((_UNROLL + 1, lanes), scores.dtype)
        values = np.empty(CHUNK_ROWS, scores.dtype)  # a chunk's row values
        flat_y, flat_p = labels.reshape(-1), scores.reshape(-1)
        narrow = width < 2 * _MAX_LANES  # one loop a row (a vectorised one's set-up costs more)
        total = 0.0
        for start in range(0, rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, rows - start)
            for r in range(n if narrow else 0):
                first = (start + r) * width
                fetch(flat_y, first + ahead)
                fetch(flat_p, first + ahead)
                y, p = flat_y[first : first + width], flat_p[first : first + width]
                negative = (one - y[0]) * p[0]
                positive = zero
                nonzero = 0
                for j in range(width):
                    product = y[j] * p[j]
                    products[j] = product
                    positive += product
                    nonzero += product != zero  # (NaN too)
                    other = (one - y[j]) * p[j]
                    # np.max: NaN wins
                    negative = other if (other > negative or other != other) else negative
                if nonzero > 1:  # (one nonzero product, or none: its sum in any order)
                    positive = summed(products, width, accumulators, zero)
                values[r] = margin(negative, positive, one, zero)
            for r in range(0 if narrow else n):  # a vectorised map, then the max in lanes
                y, p = labels[start + r], scores[start + r]
                unordered = False  # (a NaN: np.max's result, whatever the others)
                for j in range(width):
                    products[j] = y[j] * p[j]
                    other = (one - y[j]) * p[j]
                    others[j] = other
                    unordered |= other != other
                negative = nan if unordered else lanes_max(others, _MAX_LANES, maxima)
                positive = (summed(products, width, accumulators, zero) if width <= leaf
                            else tree(products, width, accumulators, zero))
                values[r] = margin(negative, positive, one, zero)
            total += add_chunk(values, n, out, start, rows)
        return total, True

    return compile(kernel)


_CATEGORICAL_FUSED = Fused(_categorical_kernel).using(1.0, 0.0)


def hinge(y_true: ArrayLike, y_pred: ArrayLike, *, epsilon: float = EPSILON,
          backend: str = "tensorflow") -> np.ndarray:
    r"""Hinge loss averaged over the last axis, as ``keras.losses.hinge``.

    With labels :math:`y \in \{-1, +1\}` and scores :math:`\hat y`,

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} \max(0,\; 1 - y_d \hat y_d).

    A prediction counts as right with margin 1: an output costs 0 once
    :math:`y \hat y \ge 1` (the right sign, at least 1 away from 0) and
    :math:`1 - y \hat y` below that.

    Parameters
    ----------
    y_true : array_like
        Labels -1 and 1, or 0 and 1 (converted, see Notes); soft labels in
        [-1, 1] are used as given. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Scores (a linear or tanh output). Must be floating point.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; the hinge clips
        nothing, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s dtype
        (0-d for 1-D inputs).

    Raises
    ------
    TypeError
        For integer `y_pred`. Keras on TensorFlow raises a TypeError too
        ("Cannot convert 2.0 to EagerTensor of dtype int32"); cast to float.
    ValueError
        For shapes ``(N,)`` against ``(N, 1)`` (and any pair that Keras'
        rank fix would change): Keras' *function* broadcasts them to
        ``(N, N)`` and returns a plausible-looking wrong number; lossbounds
        raises (``lossbounds.loss`` fixes the rank first, as the Keras class
        does). For labels outside [-1, 1], such as class indices 2, 3, ...:
        Keras would use them silently; lossbounds raises.

    Notes
    -----
    **The whole batch decides the labels.** Keras converts 0/1 labels to
    -1/+1 (:math:`2y - 1`) only if *every* label of `y_true` is 0 or 1, after
    the cast to `y_pred`'s dtype. So the same row scores differently in
    different batches: with scores ``[0.3, 0.8]`` the labels ``[0, 1]`` cost
    0.75 alone (the 0 became -1), but 0.6 in a batch that also holds a -1
    (the 0 stays 0 and costs exactly 1 whatever its score). An all-zero batch
    becomes all -1. lossbounds reproduces this call by call: the per-sample
    values depend on the batch they are computed with.

    Nothing is clipped: a score of -1e30 against label 1 costs 1e30. NaN
    scores give NaN; an empty last axis gives NaN (0/0), both as in Keras.

    See Also
    --------
    squared_hinge : the same margin, squared.
    categorical_hinge : the margin between classes.
    loss : the reduced value of ``keras.losses.Hinge``.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.hinge([[0.0, 1.0]], [[0.3, 0.8]])  # 0 -> -1: (1.3 + 0.2) / 2
    array([0.75], dtype=float32)
    >>> lossbounds.hinge([[0.0, 1.0], [-1.0, 1.0]], [[0.3, 0.8], [0.3, 0.8]])  # 0 stays 0
    array([0.6 , 0.75], dtype=float32)
    """
    return Hinge().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)



def squared_hinge(y_true: ArrayLike, y_pred: ArrayLike, *, epsilon: float = EPSILON,
                  backend: str = "tensorflow") -> np.ndarray:
    r"""Squared hinge loss averaged over the last axis, as ``keras.losses.squared_hinge``.

    With labels :math:`y \in \{-1, +1\}` and scores :math:`\hat y`,

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} \max(0,\; 1 - y_d \hat y_d)^2 .

    Parameters
    ----------
    y_true : array_like
        Labels -1 and 1, or 0 and 1 (converted for the whole batch, as in
        `hinge`); soft labels in [-1, 1] are used as given.
    y_pred : array_like
        Scores. Must be floating point.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s dtype.

    Raises
    ------
    TypeError
        For integer `y_pred` (Keras on TensorFlow raises a TypeError too).
    ValueError
        For ``(N,)`` against ``(N, 1)``, which Keras' function broadcasts to
        ``(N, N)``, and for labels outside [-1, 1]; Keras computes garbage
        silently for both, lossbounds raises.

    Notes
    -----
    The 0/1 -> -1/+1 conversion is decided for the whole batch, as in
    `hinge`: ``[0, 1]`` with scores ``[0.3, 0.8]`` costs 0.865 alone and 0.52
    in a batch that also holds a -1. In float32 a shortfall beyond about
    1.8e19 squares to ``inf``, as in Keras.

    See Also
    --------
    hinge : the same margin, not squared.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.squared_hinge([[0.0, 1.0]], [[0.3, 0.8]])  # (1.3**2 + 0.2**2) / 2, in float32
    array([0.8649999], dtype=float32)
    >>> lossbounds.squared_hinge([[0.0, 1.0], [-1.0, 1.0]], [[0.3, 0.8], [0.3, 0.8]])
    array([0.52     , 0.8649999], dtype=float32)
    """
    return SquaredHinge().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


def categorical_hinge(y_true: ArrayLike, y_pred: ArrayLike, *,
                      epsilon: float = EPSILON,
                      backend: str = "tensorflow") -> np.ndarray:
    r"""Categorical hinge loss, as ``keras.losses.categorical_hinge``.

    With one-hot labels :math:`y` and scores :math:`\hat y` over K classes,

    .. math::

        \ell(y, \hat y) = \max\Bigl(0,\; \max_{k} (1 - y_k)\,\hat y_k
            - \sum_{k} y_k \hat y_k + 1\Bigr).

    For a one-hot label of class :math:`t` this is
    :math:`\max(0,\, 1 + \max(0, \max_{k \ne t} \hat y_k) - \hat y_t)`: a
    prediction counts as right with margin 1 when the true class's score
    beats every other score, *and 0*, by at least 1.

    Parameters
    ----------
    y_true : array_like
        One-hot labels (Keras also accepts -1/+1 rows), the same shape as
        `y_pred`. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Scores or probabilities, the classes along the last axis. Must be
        floating point.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s dtype.

    Raises
    ------
    TypeError
        For integer `y_pred` (Keras on TensorFlow raises a TypeError too).
    ValueError
        If the last axes differ (integer labels ``(N, 1)`` against scores
        ``(N, K)``, or ``(N,)`` against ``(N, 1)``): Keras' function
        broadcasts them and compares every score with the same label;
        lossbounds raises. For labels outside [-1, 1]. For an empty batch,
        which Keras on TensorFlow rejects too.

    Notes
    -----
    The true class enters the max as :math:`(1 - 1)\hat y_t = 0`, so the max
    is never below 0: with all-negative scores the loss is *not* the textbook
    multiclass hinge. Scores ``[-5, -6, -7]`` for class 0 cost 6, not 0
    (keras-team/keras#8083, reproduced). On probabilities (a softmax output)
    the loss lies in [0, 2], and is 0 only for a one-hot prediction.

    The sum over classes is TensorFlow's, added in its order, so soft labels
    with large scores give Keras' value to the last bit.

    See Also
    --------
    hinge : the binary margin loss.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.categorical_hinge([[1.0, 0.0, 0.0]], [[0.7, 0.2, 0.1]])  # 1 + 0.2 - 0.7
    array([0.5], dtype=float32)
    >>> lossbounds.categorical_hinge([[1.0, 0.0, 0.0]], [[-5.0, -6.0, -7.0]])  # 1 + 0 - (-5)
    array([6.], dtype=float32)
    """
    return CategoricalHinge().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# The prior's data: labels as Keras sees them, weights, counts


def _checked_weights(sample_weight: Any, n: int) -> np.ndarray:
    if sample_weight is None:
        return np.ones(n)
    weights = to_array(sample_weight, "sample_weight").astype(np.float64).reshape(-1)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
    if weights.size == 1:
        weights = np.full(n, weights[0])
    if weights.size != n:
        raise ValueError(f"`sample_weight` has {weights.size} weights for {n} samples; give one "
                         "weight per sample, shape (N,) or (N, 1).")
    require_nonempty(weights.sum())
    return weights


def _label_rows(y_true: Any, s: Setting, loss: str, expected: str, hint: str) -> np.ndarray:
    """`y_true` as float64 rows (N, D), after Keras' cast to the compute dtype, checked."""
    labels = to_array(y_true, "y_true", allow_bool=True)
    if labels.size == 0:
        require_nonempty(0)
    with np.errstate(over="ignore"):
        labels = labels.astype(s.semantics.dtype)  # Keras casts the labels first
    labels = labels.reshape(labels.shape[0] if labels.ndim else 1, -1)
    if np.any(np.isnan(labels)):
        raise ValueError("`y_true` holds NaN: a baseline needs real labels.")
    _check_labels(labels, labels.dtype, loss, expected, hint)
    return labels.astype(np.float64)


def _checked_counts(counts: Any, shape_hint: str) -> np.ndarray:
    counts = to_array(counts, "counts").astype(np.float64)
    if counts.ndim == 0:
        raise ValueError(f"`counts` must be an array: {shape_hint}, got a scalar.")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(
            "`counts` must be finite and non-negative, got "
            f"{plain(counts[~np.isfinite(counts) | (counts < 0)].flat[0])}."
        )
    return counts


def _one_source(y_true: Any, s: Setting, loss: str) -> None:
    if (y_true is None) == (s["counts"] is None):
        raise ValueError(
            f"prior_baseline({loss!r}) needs exactly one of `y_true` (the labels) and "
            "`counts` (their counts)."
        )
    if s["counts"] is not None and s["sample_weight"] is not None:
        raise ValueError("`sample_weight` applies to `y_true`, not to `counts`; weight the "
                         "counts yourself.")


# --------------------------------------------------------------------------
# The best constant score for one output with any labels in [-1, 1]


def _best_constant(y: np.ndarray, w: np.ndarray, *, squared: bool) -> tuple[float, float]:
    r"""The least weighted mean of :math:`h(1 - y_i c)` over constants c, and a c that attains it.

    :math:`h(z) = \max(0, z)` or its square. Each term is convex in c and
    changes form only at :math:`c = 1/y_i`, so the mean is convex and
    piecewise linear (quadratic): its minimum is at a breakpoint, or, for the
    square, at the stationary point :math:`\sum w y / \sum w y^2` of the
    active terms of one piece. Every candidate is evaluated exactly (by
    prefix sums), so the answer is the exact minimum up to float64 rounding.
    Labels 0 cost 1 whatever c.
    """
    total = w.sum()
    fixed = w[y == 0].sum()  # h(1) = 1
    up, down = y > 0, y < 0  # active (1 - y c > 0) below / above their breakpoint 1/y
    order_up = np.argsort(1 / y[up])
    b_up, y_up, w_up = (1 / y[up])[order_up], y[up][order_up], w[up][order_up]
    order_down = np.argsort(1 / y[down])
    b_down, y_down, w_down = (1 / y[down])[order_down], y[down][order_down], w[down][order_down]
    breaks = np.unique(np.concatenate([b_up, b_down]))
    if breaks.size == 0:
        return float(fixed / total), 0.0

    def cumulative(values: np.ndarray) -> np.ndarray:
        return np.concatenate([[0.0], np.cumsum(values)])

    # Sums over the active terms: a suffix of the ups, a prefix of the downs.
    sums_up = [cumulative(w_up * y_up**k) for k in range(3)]
    sums_down = [cumulative(w_down * y_down**k) for k in range(3)]

    def active(c: np.ndarray) -> list[np.ndarray]:
        first_up = np.searchsorted(b_up, c, side="right")
        last_down = np.searchsorted(b_down, c, side="left")
        return [sums_up[k][-1] - sums_up[k][first_up] + sums_down[k][last_down] for k in range(3)]

    candidates = breaks
    if squared:
        # One point inside each piece (between breakpoints, and beyond both ends)
        inner = np.concatenate([[breaks[0] - 1], (breaks[:-1] + breaks[1:]) / 2, [breaks[-1] + 1]])
        s0, s1, s2 = active(inner)
        low = np.concatenate([[-np.inf], breaks])
        high = np.concatenate([breaks, [np.inf]])
        with np.errstate(divide="ignore", invalid="ignore"):
            stationary = np.where(s2 > 0, s1 / s2, inner)
        candidates = np.concatenate([breaks, np.clip(stationary, low, high)])
    s0, s1, s2 = active(candidates)
    values = s0 - 2 * candidates * s1 + candidates**2 * s2 if squared else s0 - candidates * s1
    best = float(candidates[int(np.argmin(values))])
    # The value itself, summed term by term (the expanded form above only chooses).
    shortfall = np.maximum(0.0, 1 - y * best)
    terms = w * (shortfall**2 if squared else shortfall)
    return math.fsum(terms) / total, best


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _categorical_lp(rows: np.ndarray, w: np.ndarray, low: float, high: float) -> float:
    r"""The best constant scores for any label rows: a linear program, solved exactly (HiGHS).

    Minimise :math:`\sum_i w_i s_i` over scores :math:`c \in [low, high]^K` and
    :math:`s_i \ge 0` with :math:`s_i \ge (1 - y_{ik}) c_k - y_i \cdot c + 1`
    for every class k: :math:`s_i` is then row i's loss. The value returned
    is the loss at the solver's c, evaluated directly.
    """
    from scipy import sparse
    from scipy.optimize import linprog

    unique, inverse = np.unique(rows, axis=0, return_inverse=True)
    weights = np.bincount(inverse.reshape(-1), weights=w, minlength=unique.shape[0])
    u, k = unique.shape
    if u * k * k > 20_000_000:
        raise ValueError(
            f"categorical_hinge: {u} distinct label rows of {k} classes are too many for the "
            "exact prior baseline of soft labels. Hint: for one-hot labels pass the class "
            "counts (counts=...)."
        )
    scores = (np.repeat(-unique, k, axis=0)
              + np.tile(np.eye(k), (u, 1)) * (1 - unique).reshape(-1, 1))
    slack = sparse.kron(sparse.eye(u), np.ones((k, 1)))
    constraints = sparse.hstack([sparse.csr_matrix(scores), -slack]).tocsr()
    objective = np.concatenate([np.zeros(k), weights / weights.sum()])
    found = linprog(objective, A_ub=constraints, b_ub=-np.ones(u * k),
                    bounds=[(_finite(low), _finite(high))] * k + [(0, None)] * u, method="highs")
    if found.status != 0:  # pragma: no cover - the program is feasible and bounded
        raise RuntimeError(f"categorical_hinge prior: the linear program failed: {found.message}")
    c = found.x[:k]
    losses = np.maximum(0.0, np.max((1 - unique) * c, axis=1) - unique @ c + 1)
    return math.fsum(weights * losses) / weights.sum()


# --------------------------------------------------------------------------
# Shared words


def _at(value: float, target: float) -> bool:
    """Is `value` what Keras prints for `target` (4 decimals, float32 rounding)?"""
    return abs(value - target) <= PRINT_ATOL + FLOAT32_RTOL * abs(target)


def _integer_predictions(backend: Backend, y_true: np.ndarray, dtype: np.dtype, loss: str,
                         computes: tuple[str, ...]) -> np.dtype:
    """The compute dtype for integer predictions: float32 on the backends in `computes`.

    There Keras casts the labels to the integer dtype and the margin ``1.0 - ...``
    makes the rest float32; a label the cast would change raises. Elsewhere
    Keras raises a TypeError, and so does lossbounds.
    """
    if dtype.kind not in "iu":
        return dtype
    if backend.name not in computes:
        raise TypeError(
            f"{loss}: `y_pred` has integer dtype {dtype}, which {backend.title} "
            "rejects. Hint: pass `y_pred.astype('float32')`.")
    with np.errstate(invalid="ignore"):
        kept = y_true == np.trunc(y_true) if y_true.dtype.kind == "f" else np.True_
    if not np.all(kept):
        raise ValueError(
            f"{loss}: `y_true` holds {plain(y_true[~kept].flat[0])}, which Keras would truncate "
            f"when it casts the labels to the integer dtype {dtype} of `y_pred`. Hint: pass "
            "floating-point predictions, `y_pred.astype('float32')`.")
    return np.dtype(np.float32)


class _Margin(LossDefinition):
    """What the three margin losses share: the margin words and the error-rate bound."""

    bound_options: ClassVar[tuple[Option, ...]] = (PRED_RANGE,)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    prior_keys = ("counts",)
    #: Backends whose Keras computes this loss from integer predictions (in float32).
    integer_backends: ClassVar[tuple[str, ...]] = ()
    integer_predictions = True  # where the backend rejects them, the plan raises

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        dtype = _integer_predictions(backend, y_true, dtype, self.name, self.integer_backends)
        return self.margin_plan(y_true, y_pred, dtype)

    def margin_plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype) -> Plan:
        """Checks and reference in the (float) compute dtype."""
        raise NotImplementedError
    #: "output" or "sample", for sentences
    unit = "output"
    #: what a wrong prediction is, in words
    wrong_words = "on the wrong side of 0 (y·p ≤ 0)"

    def misclassified_floor(self, s: Setting) -> float | None:
        # A wrong sign (a wrong argmax) leaves a shortfall of at least the whole margin, 1.
        return 1.0

    def margin_sentence(self, value: float) -> str:
        raise NotImplementedError

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        if not math.isfinite(value):
            return []
        lines = [self.margin_sentence(value)]
        prior = marks["prior"]
        if prior is not None and prior > 0:
            lines.append(f"{self.prior_meaning[0].upper()}{self.prior_meaning[1:]} is "
                         f"{number(prior)} (the prior baseline); {loss_value(value)} is "
                         f"{percent(value / prior)} of it.")
        bound = marks["error_rate_bound"]
        units = f"{self.unit}s"
        if bound is not None and bound < 1.0:
            lines.append(
                f"At most {percent(bound)} of the {units} can be {self.wrong_words}, whatever the "
                f"model: each one misses the whole margin and costs at least 1, so a "
                f"mean of {loss_value(value)} allows at most that share of them.")
        elif bound is not None:
            lines.append(
                f"The loss is too high to bound the error rate: a wrong {self.unit} costs at least "
                f"1, and {loss_value(value)} allows every one to be wrong.")
        worst, best = self.worst(s), self.best(s)
        if best > 0:
            lines.append(f"No {self.unit} can reach the margin with predictions in "
                         f"{s['pred_range']}: every one is inside it.")
        elif math.isfinite(worst) and worst > 0 and value > 0:
            inside = min(1.0, value / worst)
            lines.append(
                f"At least {percent(inside)} of the {units} are inside the margin (short of it): "
                f"one costs at most {number(worst)} with predictions in {s['pred_range']}, and 0 "
                "once it clears the margin.")
        return lines


# --------------------------------------------------------------------------
# Hinge and squared hinge


class _BinaryMargin(_Margin):
    """Hinge and squared hinge: one margin per output, labels converted per batch."""

    batch_wide = "0/1 labels become -1/+1 only when every label of the batch is 0 or 1"

    squared: bool = False

    def margin_plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype) -> Plan:
        return _margin_plan(y_true, y_pred, dtype, loss=self.name, squared=self.squared)

    def shape(self, shortfall: float) -> float:
        """The loss of one output short of the margin by `shortfall` (>= 0)."""
        return shortfall * shortfall if self.squared else shortfall

    # -- bounds ------------------------------------------------------------

    def best(self, s: Setting) -> float:
        pred_range = s["pred_range"]
        if pred_range is None:
            return 0.0
        low, high = pred_range
        # label +1 at the highest score, or -1 at the lowest
        return self.shape(max(0.0, min(1.0 - high, 1.0 + low)))

    def worst(self, s: Setting) -> float:
        pred_range = s["pred_range"]
        if pred_range is None:
            return math.inf
        low, high = pred_range
        # label +1 at the lowest score, or -1 at the highest (1 - y p is linear in y)
        return self.shape(max(1.0 - low, 1.0 + high))

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        return 1.0  # max(0, 1 - y * 0) = 1 for every label, converted or not

    def prior(self, s: Setting, y_true: Any) -> float:
        _one_source(y_true, s, self.name)
        low, high = s["pred_range"] or (-math.inf, math.inf)
        if s["counts"] is not None:
            counts = _checked_counts(s["counts"], "(negatives, positives), shape (2,) or (D, 2)")
            if counts.shape[-1] != 2:
                raise ValueError(
                    f"For {self.name}, `counts` holds (negatives, positives) per output: shape "
                    f"(2,) or (D, 2), got {counts.shape}.")
            counts = counts.reshape(-1, 2)
            totals = counts.sum(axis=1)
            require_nonempty(totals.min())
            labels = np.array([-1.0, 1.0])
            return float(np.mean([self.output_prior(labels, row / total, low, high)
                                  for row, total in zip(counts, totals)]))
        rows = _label_rows(y_true, s, self.name, _HINGE_LABELS, _HINGE_HINT)
        rows = _convert_labels(rows, _binary_labels(rows, rows.dtype))
        w = _checked_weights(s["sample_weight"], rows.shape[0])
        return float(np.mean([self.output_prior(column, w, low, high) for column in rows.T]))

    def output_prior(self, y: np.ndarray, w: np.ndarray, low: float, high: float) -> float:
        """The least mean loss of one output over constant scores in [low, high]."""
        if np.all(np.abs(y) == 1):
            negatives, positives = float(w @ (y < 0)) / w.sum(), float(w @ (y > 0)) / w.sum()
            value, best = self.closed_form(negatives, positives)
        else:  # zeros Keras kept, or soft labels: the exact 1-D minimum
            value, best = _best_constant(y, w, squared=self.squared)
        if low <= best <= high:
            return value
        # The mean is convex in c: on [low, high] its minimum is at the end nearest `best`.
        c = min(max(best, low), high)
        shortfall = np.maximum(0.0, 1 - y * c)
        return math.fsum(w * (shortfall**2 if self.squared else shortfall)) / w.sum()

    def closed_form(self, negatives: float, positives: float) -> tuple[float, float]:
        """The prior of -1/+1 labels with these shares, and the constant score that attains it."""
        raise NotImplementedError

    # -- words -------------------------------------------------------------

    def notes(self, s: Setting) -> tuple[Note, ...]:
        converted = Note("labels_converted_per_batch", (
            "Keras converts 0/1 labels to -1/+1 only when every label of the batch is 0 or 1: in "
            "a batch that also holds a -1 or a soft label, each 0 stays 0 and costs exactly 1 "
            "whatever the prediction. The bounds are for -1/+1 labels."))
        return (converted, *self.flags(s))  # a head that cannot say "no" belongs here too

    def flags(self, s: Setting) -> tuple[Note, ...]:
        pred_range = s["pred_range"]
        if pred_range is None or pred_range[0] < 0:
            return ()
        return (Note("nonnegative_scores", (
            f"predictions in {pred_range} are never negative (a sigmoid, softmax or ReLU "
            f"output): every -1 label (every 0 label, converted) costs at least 1, so "
            f"{self.name} cannot go below the share of negative labels. Use a linear or tanh "
            "output, which can say 'no' with a negative score.")),)

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if _at(value, 1.0):
            return (Note("predicts_zero", (
                f"{self.name} at exactly 1 is what predicting 0 for every output scores "
                "(max(0, 1 - y·0) = 1 whatever the label): the model outputs 0. Check for a "
                "dead or zero-initialised output layer, or a learning rate far too small. (In "
                "batches that mix -1 and 0 labels each 0 also costs 1, whatever the "
                "prediction.)")),)
        worst = self.worst(s)
        if math.isfinite(worst) and _at(value, worst):
            return (Note("confidently_wrong", (
                f"{loss_value(value)} is the worst case {number(worst)} for predictions in "
                f"{s['pred_range']}: every output has the wrong sign at full strength. Check "
                "that the labels are not flipped (0/1 against -1/+1 conventions).")),)
        return ()

    def uniform_meaning(self, s: Setting) -> str:
        return "the loss of predicting 0 for every output"

    def uniform_missing(self, s: Setting) -> str:  # pragma: no cover - always defined
        return f"{self.name} always has a uniform baseline (1, predicting 0)"


@register
class Hinge(_BinaryMargin):
    r"""Hinge loss: :math:`\frac1D \sum_d \max(0, 1 - y_d \hat y_d)`, labels -1/+1.

    The bounds are per output (a sample's loss is the mean of its outputs',
    so the same bounds hold per sample), for labels :math:`y \in \{-1, +1\}`
    after Keras' conversion, and for soft labels in [-1, 1], since
    :math:`1 - y \hat y` is linear in :math:`y`.

    *Best case* 0, at :math:`y \hat y \ge 1`. With scores in
    ``pred_range`` :math:`[a, b]`, :math:`\max(0, \min(1 - b, 1 + a))`
    (label +1 scored :math:`b`, or -1 scored :math:`a`).

    *Worst case* :math:`\infty`: a score of :math:`-10^{30}` for label +1
    costs :math:`10^{30}`. With scores in :math:`[a, b]`,
    :math:`\max(1 - a, 1 + b)`, attained by label +1 scored :math:`a` or -1
    scored :math:`b`: 2 for a tanh output :math:`[-1, 1]`, and 2 for a
    sigmoid :math:`[0, 1]` (label -1 scored 1). A label 0 that Keras did not
    convert costs 1, between the two.

    *Uniform baseline* 1: predicting 0 gives :math:`\max(0, 1 - y \cdot 0) =
    1` for every label, converted or not.

    *Prior baseline.* A constant score :math:`c` on labels with a share
    :math:`f_+` of +1 and :math:`f_-` of -1 costs
    :math:`f_+ \max(0, 1 - c) + f_- \max(0, 1 + c)`, linear on
    :math:`[-1, 1]` and larger outside it, so the minimum is at
    :math:`c = \pm 1`: :math:`2 \min(f_+, f_-)`, attained by
    :math:`c = \mathrm{sign}(f_+ - f_-)`. Per output, averaged over outputs.
    With zeros Keras kept or soft labels, the minimum of the convex
    piecewise-linear mean over its breakpoints :math:`c = 1/y_i`, exactly.
    With ``pred_range``, the best constant within it: the mean is convex in
    :math:`c`, so its minimiser clipped to the range (a sigmoid output,
    :math:`[0, 1]`, cannot score -1).

    Never negative: a maximum with 0.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "float32"}
    integer_backends = ("torch", "numpy")
    backend_differences = {
        "torch": "Integer predictions are accepted and computed in float32 (TensorFlow raises).",
        "numpy": "Integer predictions are accepted and computed in float32 (TensorFlow raises).",
    }

    name = "hinge"
    class_name = "Hinge"
    aliases = ("hinge_loss",)
    title = "hinge loss"
    function = staticmethod(hinge)
    per = "output"
    prior_name = "best constant score"
    prior_meaning = ("the loss of the best constant score (+1 or -1, the majority label, for "
                     "every input)")

    def closed_form(self, negatives: float, positives: float) -> tuple[float, float]:
        best = 1.0 if positives > negatives else -1.0 if negatives > positives else 0.0
        return 2.0 * min(negatives, positives), best

    def uniform_formula(self, s: Setting) -> str:
        return "max(0, 1 - y·0)"

    def margin_sentence(self, value: float) -> str:
        return (f"Hinge counts a prediction as right with margin 1: an output with label y = ±1 "
                f"and score p costs 0 once y·p ≥ 1 and 1 - y·p below that, so {loss_value(value)} "
                "is the average shortfall from the margin, in units of the score.")


@register
class SquaredHinge(_BinaryMargin):
    r"""Squared hinge: :math:`\frac1D \sum_d \max(0, 1 - y_d \hat y_d)^2`, labels -1/+1.

    The bounds are those of `Hinge`, squared, since :math:`z \mapsto z^2`
    increases on :math:`z \ge 0`: *best case* 0 (or
    :math:`\max(0, \min(1 - b, 1 + a))^2` for scores in :math:`[a, b]`);
    *worst case* :math:`\infty`, or :math:`\max(1 - a, 1 + b)^2` (4 for
    :math:`[-1, 1]`); *uniform baseline* 1, predicting 0.

    *Prior baseline.* A constant :math:`c` costs
    :math:`f_+ (1 - c)^2 + f_- (1 + c)^2` on :math:`[-1, 1]` (larger
    outside), a parabola whose minimum is at :math:`c = f_+ - f_-`, the mean
    label: :math:`f_+ (2 f_-)^2 + f_- (2 f_+)^2 = 4 f_+ f_-
    = 1 - (f_+ - f_-)^2`. With zeros Keras kept or soft labels, the exact
    minimum of the convex piecewise-quadratic mean (at a breakpoint or at a
    piece's stationary point).
    With ``pred_range``, the minimiser clipped to the range, as for `Hinge`.

    Never negative.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "float32"}
    integer_backends = ("torch", "numpy")
    backend_differences = {
        "torch": "Integer predictions are accepted and computed in float32 (TensorFlow raises).",
        "numpy": "Integer predictions are accepted and computed in float32 (TensorFlow raises).",
    }

    name = "squared_hinge"
    class_name = "SquaredHinge"
    aliases = ("squared_hinge_loss",)
    title = "squared hinge loss"
    function = staticmethod(squared_hinge)
    per = "output"
    squared = True
    prior_name = "best constant score"
    prior_meaning = "the loss of the best constant score (the mean label, f₊ - f₋, for every input)"

    def closed_form(self, negatives: float, positives: float) -> tuple[float, float]:
        return 4.0 * negatives * positives, positives - negatives

    def uniform_formula(self, s: Setting) -> str:
        return "max(0, 1 - y·0)²"

    def margin_sentence(self, value: float) -> str:
        rms = math.sqrt(max(value, 0.0))
        return (f"Squared hinge counts a prediction as right with margin 1 and squares the "
                f"shortfall: an output with label y = ±1 and score p costs 0 once y·p ≥ 1 and "
                f"(1 - y·p)² below that. sqrt({loss_value(value)}) = {number(rms)} is the "
                "root-mean-square shortfall from the margin, in units of the score.")


# --------------------------------------------------------------------------
# Categorical hinge


@register
class CategoricalHinge(_Margin):
    r"""Categorical hinge: :math:`\max(0, \max_k (1 - y_k)\hat y_k - y \cdot \hat y + 1)`.

    For a one-hot label of class :math:`t`, with
    :math:`m = \max(0, \max_{k \ne t} \hat y_k)` (Keras' max includes the
    true class's :math:`0 \cdot \hat y_t = 0`), the loss is
    :math:`\max(0, 1 + m - \hat y_t)`.

    *Best case* 0, for :math:`\hat y_t \ge 1 + m` (a one-hot prediction).
    With scores in ``pred_range`` :math:`[a, b]`:
    :math:`\max(0, 1 + \max(0, a) - b)` (the true class at :math:`b`, the
    others at :math:`a`).

    *Worst case* :math:`\infty` for unbounded scores (:math:`m - \hat y_t`
    grows without limit). With scores in :math:`[a, b]`:
    :math:`1 + \max(0, b) - a`, the true class at :math:`a` and another at
    :math:`b`: 2 for probabilities, ``pred_range=(0, 1)`` (true class 0,
    another 1). This also holds for soft targets on the simplex, since
    :math:`y \cdot \hat y \ge a` and :math:`(1 - y_k)\hat y_k \le \max(0, b)`.

    *Uniform baseline* 1: equal scores :math:`c \ge 0` (:math:`1/K`, or 0)
    give :math:`m = c`, so :math:`\max(0, 1 + c - c) = 1` exactly.

    *Prior baseline* :math:`\min(1, 2(1 - f_{max}))` for one-hot labels with
    class shares :math:`f`. Proof: for constant scores :math:`c`, let
    :math:`j` be a class with the largest score and
    :math:`u = c_j - \max(0, \max_{k \ne j} c_k)`. If :math:`u < 0` every
    class costs at least 1. Otherwise a label :math:`t \ne j` costs at least
    :math:`1 + \max(0, c_j) - c_t \ge 1 + u`, and label :math:`j` costs
    :math:`\max(0, 1 - u)`, so the mean is at least
    :math:`f_j \max(0, 1 - u) + (1 - f_j)(1 + u)`, piecewise linear in
    :math:`u \ge 0` with its minimum at :math:`u = 0` (value 1) or
    :math:`u = 1` (value :math:`2(1 - f_j)`). Attained by scoring the most
    frequent class 1 and the others 0 (or by equal scores, value 1). For
    other label rows (soft, multi-hot, -1/+1), or scores boxed by a
    ``pred_range`` that does not contain [0, 1], the exact minimum of the
    linear program over constant scores (within the range).

    Never negative.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "float32"}
    integer_backends = ("jax", "torch", "numpy")
    backend_differences = {
        name: "Integer predictions are accepted and computed in float32 (TensorFlow raises)."
        for name in integer_backends
    }

    name = "categorical_hinge"
    class_name = "CategoricalHinge"
    aliases = ("categorical_hinge_loss",)
    title = "categorical hinge loss"
    bound_options = (N_CLASSES, PRED_RANGE)
    function = staticmethod(categorical_hinge)
    unit = "sample"
    wrong_words = "misclassified (argmax ≠ label, ties included)"
    prior_name = "best constant scores"
    prior_meaning = ("the loss of the best constant scores (the most frequent class scored 1 and "
                     "the others 0, or equal scores if no class holds half the labels)")

    def margin_plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype) -> Plan:
        return _categorical_plan(y_true, y_pred, dtype)

    def best(self, s: Setting) -> float:
        pred_range = s["pred_range"]
        if pred_range is None:
            return 0.0
        low, high = pred_range
        others = 0.0 if s["n_classes"] == 1 else max(0.0, low)  # K = 1: the max is the 0 alone
        return max(0.0, 1.0 + others - high)

    def worst(self, s: Setting) -> float:
        pred_range = s["pred_range"]
        if pred_range is None:
            return math.inf
        low, high = pred_range
        others = 0.0 if s["n_classes"] == 1 else max(0.0, high)
        return max(0.0, 1.0 + others - low)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        return 1.0  # equal scores c >= 0: max(0, 1 + c - c)

    def prior(self, s: Setting, y_true: Any) -> float:
        _one_source(y_true, s, self.name)
        k = s["n_classes"]
        low, high = s["pred_range"] or (-math.inf, math.inf)
        if s["counts"] is not None:
            counts = _checked_counts(s["counts"], "one count per class, shape (K,)")
            if counts.ndim != 1:
                raise ValueError(f"`counts` must be 1-D (one count per class), got shape "
                                 f"{counts.shape}.")
            if k is not None and k != counts.size:
                raise ValueError(f"`counts` has {counts.size} classes but n_classes={k}.")
            require_nonempty(counts.sum())
            rows, w = np.eye(counts.size), counts
        else:
            rows = _label_rows(y_true, s, self.name, _CATEGORICAL_LABELS, _CATEGORICAL_HINT)
            if k is not None and k != rows.shape[1]:
                raise ValueError(f"y_true has {rows.shape[1]} classes but n_classes={k}.")
            w = _checked_weights(s["sample_weight"], rows.shape[0])
        one_hot = np.all((rows == 0) | (rows == 1)) and np.all(rows.sum(axis=1) == 1)
        if one_hot and low <= 0.0 and high >= 1.0:  # e_max and equal scores are allowed
            shares = w @ rows / w.sum()
            return min(1.0, 2.0 * (1.0 - float(shares.max())))
        return _categorical_lp(rows, w, low, high)

    def classes_in_data(self, s: Setting) -> int | None:
        counts = s["counts"]
        if counts is None:
            return None
        counts = to_array(counts, "counts")
        return int(counts.shape[-1]) if counts.ndim == 1 and counts.shape[-1] >= 1 else None

    # -- words -------------------------------------------------------------

    def notes(self, s: Setting) -> tuple[Note, ...]:
        notes = [Note("zero_in_the_max", (
            "Keras' max includes the true class as 0: with all-negative scores a sample costs "
            "more than 1 even when the true class has the largest score (keras-team/keras#8083)."))]
        pred_range = s["pred_range"]
        if pred_range is not None and pred_range[1] - max(0.0, pred_range[0]) <= 1.0:
            notes.append(Note("margin_at_the_edge", (
                f"With scores in {pred_range} (probabilities), the margin 1 is reached only by "
                "a one-hot prediction: the true class at 1, every other class at 0.")))
        return tuple(notes)

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if _at(value, 1.0):
            return (Note("equal_scores", (
                "categorical_hinge at exactly 1 is what equal scores for every class give (all "
                "0, or 1/K from a softmax of equal logits): the model predicts the same for "
                "every class. Check for a dead or zero-initialised output layer, or a learning "
                "rate far too small.")),)
        worst = self.worst(s)
        if math.isfinite(worst) and _at(value, worst):
            return (Note("confidently_wrong", (
                f"{loss_value(value)} is the worst case {number(worst)} for predictions in "
                f"{s['pred_range']}: every sample puts its full score on a wrong class. Check "
                "that the one-hot labels match the outputs.")),)
        return ()

    def uniform_formula(self, s: Setting) -> str:
        return "max(0, 1 + c - c)"

    def uniform_meaning(self, s: Setting) -> str:
        k = s["n_classes"]
        share = f"1/{k}" if k else "1/K"
        return f"the loss of the same score for every class ({share}, or 0)"

    def uniform_missing(self, s: Setting) -> str:  # pragma: no cover - always defined
        return "categorical_hinge always has a uniform baseline (1, equal scores)"

    def margin_sentence(self, value: float) -> str:
        return (f"Categorical hinge counts a prediction as right with margin 1: the true class's "
                f"score must beat every other class's score, and 0, by at least 1. "
                f"{loss_value(value)} is the average shortfall from that margin, in units of the "
                "score.")
