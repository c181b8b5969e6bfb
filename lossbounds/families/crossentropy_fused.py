r"""Fused kernels of the cross-entropies: the numpy kernels' shortcuts in one compiled pass.

Each kernel here computes, for float32 and float64 blocks, what its numpy
kernel in `crossentropy_kernels` (or `focal`) computes, reading each input
once (see `lossbounds.fused`): Keras' formula where a shortcut gives its
value (one-hot targets, a softmax sum, the renormalised sparse sum), and
otherwise it declines the block, which the numpy kernel then takes. Sums are
added in float64 (sums of exps a few terms at a time in the dtype first, as
accurate as numpy's pairwise sums: see below) and each value is rounded to
the dtype as TensorFlow rounds it, so a value differs from TensorFlow's by the rounding of TensorFlow's own
float32 sums, exps and logs at most (its logs, where a log of a probability
is the value, are TensorFlow's own, bit for bit).

Why the loops look as they do: numba compiles without ``fastmath``, so the
compiler may not reorder a floating-point sum, and a plain ``total += x``
loop runs one element at a time. These kernels make the loops it *can*
vectorise:

- maps: each element's exp or log (compiled here without libm, which no
  loop vectorises) into a small buffer of the dtype, then summed;
- sums of terms already in cache (exps) first add eight terms pairwise in
  the dtype (`_tree_add`, wide rows: within a few ulp, as numpy's pairwise
  sums are), then in float64; narrow rows' sums are doubling windows in the
  dtype, vector maps over a chunk of rows (`_row_sums`, as accurate), or,
  for float32 rows of up to 16, one masked vector load and a reduction
  across the register (`_vector_row_sum`, LLVM code numba's vectoriser does
  not write);
- sums into ``lanes`` float64 accumulators, ``acc[k] += part[k]`` for each
  slice ``part`` of ``lanes`` elements, each accumulator adding its own
  elements in order. ``lanes`` is read from the constants at run time: a
  constant trip count is unrolled instead, and an unrolled loop is not
  vectorised (numba runs no SLP vectoriser);
- slices indexed from 0 and flat 1-d indices: ``x[c * lanes + k]`` with a
  runtime step, or ``x[i, 0]``, keep numba's negative-index check, which
  stops the vectoriser;
- no branch on a value loaded in the loop (options are read into locals
  first), and flags as bools (an int64 count halves the vector width).

Rows of fewer than ``2 * lanes`` classes are taken a chunk of rows at a time
(a scalar pass over each row where one is needed, then one vectorised map
over the whole chunk); wider rows one at a time, in lanes. Wide rows are read
in order first (a gather of each row's target before that pass keeps the
prefetcher from streaming them).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from .._tfmath import flush_subnormals
from ..backends import Backend
from ..fused import (
    CHUNK_ROWS,
    Fused,
    chunk_adder,
    compile,
    elementwise_mean,
    float64_sum,
    prefetch,
    prefetch_steps,
    row_max,
    row_sum,
    tensorflow_exp_log1p,
    tensorflow_log,
)

__all__ = ["FUSED_BINARY", "FUSED_BINARY_ON", "FUSED_CATEGORICAL", "FUSED_CATEGORICAL_ON",
           "FUSED_SPARSE", "FUSED_SPARSE_ON", "FUSED_TWO_CLASS_CATEGORICAL",
           "FUSED_TWO_CLASS_CATEGORICAL_ON", "FUSED_TWO_CLASS_SPARSE", "FUSED_TWO_CLASS_SPARSE_ON",
           "FUSED_WIDE_SPARSE",
           "binary_smoothing", "fast_exp", "float64_log", "fused_binary_focal",
           "fused_categorical_focal", "fused_generalized", "fused_sparse_probabilities",
           "lanes_sum", "log1p_unit"]

#: float64 accumulators of a wide row: eight AVX-512 registers, enough to keep the adds busy.
_LANES = 64
#: Rows of probabilities at least this wide are summed in lanes (CCE, sparse CCE).
_LANE_ROW = 64
#: Narrow rows of exps narrower than this are summed by `_row_sums`' windows, the others by
#: `_narrow_sum` (3 classes: the windows 1.27x faster; 10: 0.96x; 40: 0.75x); with one-hot
#: targets every narrow row by `_narrow_hot_sum`, which finds the target in the same loop.
#: Float32 rows of exps at most `_VECTOR_ROW` wide take `_vector_row_sum` instead.
_WINDOWED_BELOW = 8
#: Float32 rows at most this wide are summed in one vector register (`_vector_row_sum`).
_VECTOR_ROW = 16
#: One-hot float32 rows of logits at most this wide find their targets 16 rows at a time
#: (`_vector_rows_targets`), wider ones a row at a time. From memory, 10**7 logits, one
#: thread (AMD EPYC, 2026): 10 classes 0.92-0.95 -> 0.85-0.89 ns an element, 12 the same,
#: 13 0.86-0.88 -> 0.94-0.99, 16 0.82-0.85 -> 1.02-1.07 (in cache, 16 classes 0.63 -> 0.60).
_GROUPED_TARGETS = 12
#: Elements in one chunk of a narrow-row kernel (its per-element buffers stay in
#: L1 cache, as its per-row ones of `CHUNK_ROWS`).
_CHUNK = 4096
#: Logits in one chunk of `_logits_kernel` (its buffer of exps, 128 KiB of float32, in L2
#: cache). Each chunk reads its rows from memory in one exp map and then sums them from the
#: buffer, with memory idle: longer maps stall less on memory each time they start. 1000
#: classes: 4 rows a chunk took 1.3x the time of 32 (sparse CCE on 5e4 rows, one thread,
#: 17.0 -> 13.1 ms; 100 classes 17.9 -> 14.6); rows of 32768 logits or more, one a chunk.
_EXP_CHUNK = 32768
#: Elements a map computes between its requests for the lines `PREFETCH_AHEAD` ahead
#: (`_log_products`' parts; `_logits_kernel`'s exps on one-hot rows wider than `_VECTOR_ROW`,
#: and on its wide rows, 2 * lanes classes or more). Requests for a whole chunk's lines at
#: once (as these kernels made them before) stall the map until most lines arrive; a few
#: lines every 128 elements keep the memory and the exps busy together. Two threads on an
#: Intel Xeon (AVX-512, 2026): binary cross-entropy from logits on 1e7 values 5.1-5.4 ->
#: 3.3-3.5 ms (64 elements alike, 32 and 256 3.7-3.9, 512 4.0-4.3). (`_logits_kernel`'s
#: narrower rows ask for the next chunk's rows one at a time, with their sums.)
_FETCHED = 128


# --------------------------------------------------------------------------
# Compiled math: exp and log that the compiler vectorises (no libm calls).
# A logarithm that decides a value bit for bit is TensorFlow's own
# (`lossbounds.fused.tensorflow_log`); these serve terms of float64 sums,
# where one ulp of an element is far below the contract.

_F32 = np.float32
#: float32 exp: Cephes' expf (Cody-Waite reduction, degree-7 polynomial) with
#: fused multiply-adds (a quarter faster; 1 ulp), clamped to [-87, 88] (exp(-87)
#: = 1.6e-38 stands for anything smaller: no sum of such terms can notice).
_EXP32 = tuple(_F32(c) for c in (
    -87.0, 88.0, 1.44269504088896341, 12582912.0, 0.693359375, -2.12194440e-4,
    1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1,
    5.0000001201e-1, 1.0))
#: 2**-k from the bits of k + 12582912.0f (the rounding constant) in one subtraction.
_EXP32_BIAS = np.int32(0x4B400000 - 127)

#: float64 exp: the same reduction and degree-12 Taylor polynomial (2e-16), on [-708, 709].
_EXP64 = (-708.0, 709.0, 1.4426950408889634, 6755399441055744.0, 6.93147180369123816490e-01,
          1.90821492927058770002e-10)
_EXP64_BIAS = np.int64(0x4338000000000000 - 1023)
_EXP64_TAYLOR = tuple(1.0 / float(np.prod(np.arange(1, n + 1, dtype=np.float64)))
                      for n in range(12, -1, -1))

#: float64 log: fdlibm's e_log.c (its Lg1..Lg7 and split ln 2), 1 ulp.
_LOG64 = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01,
          2.222219843214978396e-01, 1.818357216161805012e-01, 1.531383769920937332e-01,
          1.479819860511658591e-01, 6.93147180369123816490e-01, 1.90821492927058770002e-10)
#: The bits of sqrt(2)/2: subtracted, they put the mantissa in [sqrt(1/2), sqrt(2)).
_SQRT_HALF_BITS = np.int64(0x3FE6A09E667F3BCD)
_MANTISSA = np.int64(0x000FFFFFFFFFFFFF)


def _multiply_add(typing_context: Any, a: Any, b: Any, c: Any) -> Any:
    """a * b + c rounded once (llvm.fma, one instruction where the processor has it)."""
    return a(a, b, c), lambda context, builder, signature, arguments: builder.fma(*arguments)


@functools.cache
def _fused_multiply_add() -> Any:
    """`_multiply_add` as a numba intrinsic (numba is imported here, on first use)."""
    from numba.extending import intrinsic

    return intrinsic(_multiply_add)


def _splat(builder: Any, scalar: Any, vector: Any) -> Any:
    """LLVM code: `scalar` in every lane of a vector of type `vector` (insert, then shuffle)."""
    from llvmlite import ir

    first = builder.insert_element(vector(ir.Undefined), scalar, ir.Constant(ir.IntType(32), 0))
    lanes = ir.Constant(ir.VectorType(ir.IntType(32), vector.count), [0] * vector.count)
    return builder.shuffle_vector(first, vector(ir.Undefined), lanes)


def _masked_row(context: Any, builder: Any, signature: Any, arguments: Any) -> tuple[Any, Any]:
    """LLVM code loading a row of at most `_VECTOR_ROW` values into one vector: ``(row, mask)``.

    For an intrinsic of arguments ``(values, start, width)``: the row
    ``values[start : start + width]`` in a vector of `_VECTOR_ROW` lanes, by
    one masked load (the lanes from `width` on hold +0 and are not read, so
    the row may end the array), and the mask of the row's lanes.
    """
    from llvmlite import ir
    from numba.core import cgutils

    lanes = _VECTOR_ROW
    array = context.make_array(signature.args[0])(context, builder, arguments[0])
    pointer = builder.gep(array.data, [arguments[1]])
    element = context.get_data_type(signature.args[0].dtype)
    name = "f32" if isinstance(element, ir.FloatType) else "f64"
    vector = ir.VectorType(element, lanes)
    if getattr(pointer.type, "is_opaque", False):  # LLVM 15 on: one pointer type
        suffix = "p0"
    else:  # typed pointers: the load's is to the vector
        pointer, suffix = builder.bitcast(pointer, vector.as_pointer()), f"p0v{lanes}{name}"
    indices = ir.VectorType(ir.IntType(64), lanes)
    width = _splat(builder, arguments[2], indices)
    mask = builder.icmp_unsigned("<", ir.Constant(indices, list(range(lanes))), width)
    load = cgutils.get_or_insert_function(
        builder.module, ir.FunctionType(vector, [pointer.type, ir.IntType(32), mask.type, vector]),
        f"llvm.masked.load.v{lanes}{name}.{suffix}")
    alignment = ir.Constant(ir.IntType(32), 4 if name == "f32" else 8)
    return builder.call(load, [pointer, alignment, mask, ir.Constant(vector, [0.0] * lanes)]), mask


def _masked_row_sum(typing_context: Any, values: Any, start: Any, width: Any) -> Any:
    """``values[start : start + width]`` summed in the values' dtype, `_VECTOR_ROW` lanes at once.

    One masked vector load (`_masked_row`) and LLVM's vector reduction,
    which may add the lanes in any order (reassociation, for this add alone).
    """
    from llvmlite import ir
    from numba.core import cgutils, types

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        row, _ = _masked_row(context, builder, signature, arguments)
        element = row.type.element
        name = "f32" if isinstance(element, ir.FloatType) else "f64"
        add = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(element, [element, row.type]),
            f"llvm.vector.reduce.fadd.v{_VECTOR_ROW}{name}")
        return builder.call(add, [ir.Constant(element, 0.0), row], fastmath=("reassoc",))

    return values.dtype(values, types.intp, types.intp), codegen


def _masked_clipped_sum(typing_context: Any, values: Any, start: Any, width: Any, low: Any,
                        high: Any) -> Any:
    """``values[start : start + width]`` clipped to [low, high] and summed in float64, at once.

    One masked vector load (`_masked_row`), the clip (NaN stays NaN, as in
    np.clip), the lanes outside the row set back to +0, and LLVM's float64
    vector reduction, which may add the lanes in any order.
    """
    from llvmlite import ir
    from numba.core import cgutils, types

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        row, mask = _masked_row(context, builder, signature, arguments[:3])
        bottom, top = _splat(builder, arguments[3], row.type), _splat(builder, arguments[4], row.type)
        clipped = builder.select(builder.fcmp_ordered("<", row, bottom), bottom, row)
        clipped = builder.select(builder.fcmp_ordered(">", clipped, top), top, clipped)
        clipped = builder.select(mask, clipped, ir.Constant(row.type, [0.0] * _VECTOR_ROW))
        wide = ir.VectorType(ir.DoubleType(), _VECTOR_ROW)
        add = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(ir.DoubleType(), [ir.DoubleType(), wide]),
            f"llvm.vector.reduce.fadd.v{_VECTOR_ROW}f64")
        return builder.call(add, [ir.Constant(ir.DoubleType(), 0.0), builder.fpext(clipped, wide)],
                            fastmath=("reassoc",))

    return types.float64(values, types.intp, types.intp, values.dtype, values.dtype), codegen


def _nonzero_lanes(builder: Any, row: Any, mask: Any) -> tuple[Any, Any, Any]:
    """LLVM code: ``(nonzero, bits, one)`` of a row `_masked_row` loaded with its `mask`.

    Its lanes that are nonzero (NaN counts, as ``y != 0`` does), as a vector
    of booleans and as an integer of `_VECTOR_ROW` bits, and whether exactly
    one is set.
    """
    from llvmlite import ir

    zero = ir.Constant(row.type, [0.0] * _VECTOR_ROW)
    nonzero = builder.and_(builder.fcmp_unordered("!=", row, zero), mask)
    bits = builder.bitcast(nonzero, ir.IntType(_VECTOR_ROW))
    return nonzero, bits, builder.icmp_unsigned("==", builder.ctpop(bits), ir.Constant(bits.type, 1))


def _masked_hot_position(typing_context: Any, values: Any, start: Any, width: Any) -> Any:
    """The position in ``values[start : start + width]`` of its one nonzero value, or -1.

    -1 where the row has no nonzero value or several (NaN counts as
    nonzero, as ``y != 0`` does). One masked vector load (`_masked_row`),
    a compare, and the count and first position of the set lanes.
    """
    from llvmlite import ir
    from numba.core import types

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        _, bits, one = _nonzero_lanes(builder, *_masked_row(context, builder, signature, arguments))
        first = builder.cttz(builder.zext(bits, ir.IntType(64)), ir.Constant(ir.IntType(1), 0))
        return builder.select(one, first, ir.Constant(ir.IntType(64), -1))

    return types.intp(values, types.intp, types.intp), codegen


def _rows_tree(builder: Any, rows: list[Any]) -> Any:
    """LLVM code: `_VECTOR_ROW` vectors (one row each) summed across their lanes into one vector.

    Lane r of the result is the sum of ``rows[r]``'s lanes, added as one
    register's reduction adds them, a tree: lanes j and j + 8, then j and
    j + 4, j + 2, j + 1. Each level takes the vectors in pairs and adds two
    shuffles of the pair (the first half of each row's lanes, the second
    half), so the pair's rows share one vector: 45 shuffles and adds for 16
    rows, where one row at a time takes 8 (10 classes: 1.2 ns a row in
    cache, not 2.0).
    """
    from llvmlite import ir

    lanes, index = _VECTOR_ROW, ir.VectorType(ir.IntType(32), _VECTOR_ROW)
    vectors = [(row, [r]) for r, row in enumerate(rows)]  # (each vector, its rows in order)
    size = lanes  # lanes a row holds
    while len(vectors) > 1:
        half, paired = size // 2, []
        for (a, rows_a), (b, rows_b) in zip(vectors[::2], vectors[1::2], strict=True):
            first: list[int] = []
            second: list[int] = []
            order: list[int] = []
            for g, pair in enumerate(zip(rows_a, rows_b, strict=True)):
                for source in (0, lanes):  # (a shuffle's lanes from lanes on are b's)
                    first += [source + g * size + j for j in range(half)]
                    second += [source + g * size + half + j for j in range(half)]
                order += pair
            added = builder.fadd(builder.shuffle_vector(a, b, ir.Constant(index, first)),
                                 builder.shuffle_vector(a, b, ir.Constant(index, second)))
            paired.append((added, order))
        vectors, size = paired, half
    total, order = vectors[0]
    return builder.shuffle_vector(total, total,
                                  ir.Constant(index, [order.index(r) for r in range(lanes)]))


def _rows_of(context: Any, builder: Any, array_type: Any, arguments: list[Any]) -> list[tuple[Any, Any]]:
    """LLVM code: ``(row, mask)`` of each of `_VECTOR_ROW` rows of ``(values, start, width)``.

    Row r is ``values[start + r * width : start + (r + 1) * width]`` as
    `_masked_row` loads it. (All 16 rows are read: they then share one
    mask; a count of rows to read, a mask a row, took 1.1x the time.)
    """
    from llvmlite import ir
    from numba.core import types

    values, start, width = arguments
    signature = types.none(array_type, types.intp, types.intp)
    return [_masked_row(context, builder, signature,
                        [values, builder.add(start, builder.mul(ir.Constant(ir.IntType(64), r),
                                                                width)), width])
            for r in range(_VECTOR_ROW)]


def _store_rows(context: Any, builder: Any, array_type: Any, array: Any, first: Any,
                vector: Any) -> None:
    """LLVM code: `vector`, converted to the array's dtype, stored at ``array[first:]``."""
    from llvmlite import ir

    element = context.get_data_type(array_type.dtype)
    if element != vector.type.element:
        wide = ir.VectorType(element, _VECTOR_ROW)
        vector = (builder.fpext if isinstance(element, ir.DoubleType) else builder.fptrunc)(vector, wide)
    pointer = builder.gep(context.make_array(array_type)(context, builder, array).data, [first])
    if not getattr(pointer.type, "is_opaque", False):  # (typed pointers: LLVM before 15)
        pointer = builder.bitcast(pointer, vector.type.as_pointer())
    builder.store(vector, pointer, align=context.get_abi_sizeof(element))


def _masked_rows_sums(typing_context: Any, values: Any, start: Any, width: Any, sums: Any,
                      first: Any) -> Any:
    """``sums[first + r]`` = the sum of row r of `_rows_of`, for each r < `_VECTOR_ROW`, at once.

    Each row's sum is the one `_masked_row_sum` takes (the same tree,
    `_rows_tree`), converted to the dtype of `sums`.
    """
    from numba.core import types

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        rows = _rows_of(context, builder, signature.args[0], list(arguments[:3]))
        _store_rows(context, builder, signature.args[3], arguments[3], arguments[4],
                    _rows_tree(builder, [row for row, _ in rows]))
        return context.get_dummy_value()

    return types.none(values, types.intp, types.intp, sums, types.intp), codegen


def _masked_rows_targets(typing_context: Any, hot: Any, logits: Any, start: Any, width: Any,
                         weight: Any, target: Any, first: Any) -> Any:
    """Of `_VECTOR_ROW` one-hot rows at once: whether each has one nonzero target, and its (y_c, z_c).

    True where each row of `hot` (read as `_rows_of` reads them) has
    exactly one nonzero target (NaN counts, as ``y != 0`` does); then
    ``weight[first + r]`` is row r's target and ``target[first + r]`` the
    logit at its position, each row's one nonzero lane summed by
    `_rows_tree` (the other lanes +0: exact).
    """
    from llvmlite import ir
    from numba.core import types

    if hot.dtype != logits.dtype:
        return None  # (the kernels cast one-hot targets to the logits' dtype)

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        hot_rows = _rows_of(context, builder, signature.args[0], [arguments[0], *arguments[2:4]])
        logit_rows = _rows_of(context, builder, signature.args[1], [arguments[1], *arguments[2:4]])
        zero = ir.Constant(hot_rows[0][0].type, [0.0] * _VECTOR_ROW)
        one_each = ir.Constant(ir.IntType(1), 1)
        weights, targets = [], []
        for (y, mask), (z, _) in zip(hot_rows, logit_rows, strict=True):
            nonzero, _, one = _nonzero_lanes(builder, y, mask)
            one_each = builder.and_(one_each, one)
            weights.append(builder.select(nonzero, y, zero))
            targets.append(builder.select(nonzero, z, zero))
        _store_rows(context, builder, signature.args[4], arguments[4], arguments[6],
                    _rows_tree(builder, weights))
        _store_rows(context, builder, signature.args[5], arguments[5], arguments[6],
                    _rows_tree(builder, targets))
        return one_each

    return types.boolean(hot, logits, types.intp, types.intp, weight, target, types.intp), codegen


@functools.cache
def _vector_row_sum() -> Any:
    r"""Compiled ``row_sum(values, start, width)``: a row of up to `_VECTOR_ROW` exps summed in the dtype.

    For narrow rows of float32 exps: a float64 sum, even reordered, finishes
    each row by adding across its vector lanes, the cost of a narrow row
    (10 classes: 2.9 ns a row in cache); one masked load of the row and a
    float32 reduction across the register take 1.6 ns (sparse CCE from
    logits on 1e6 rows of 5 or 10 classes 17-21 % faster; with
    `_vector_hot_position`, CCE 23-28 %). numba's vectoriser makes no such
    loop, so this is LLVM code (`_masked_row_sum`).

    Error: LLVM adds the 16 lanes as a tree, 4 levels deep where vectors
    hold 8 or 16 floats (x86 with AVX or AVX-512; the masked lanes hold
    +0, added exactly), so a row's sum is within ``4 u sum_j |x_j|`` of
    exact (u = 2**-24): for exps, 2.4e-7 relative at worst, as
    `_row_sums`' windows and the float32 sums TensorFlow itself takes.
    Elsewhere the tree may be deeper (15 roundings at worst, if the lanes
    were added in turn).
    """
    from numba.extending import intrinsic

    return intrinsic(_masked_row_sum)


@functools.cache
def _vector_clipped_sum() -> Any:
    """Compiled ``clipped_sum(values, start, width, low, high)``: a float32 row of up to
    `_VECTOR_ROW` values clipped and summed in float64 in one vector register
    (`_masked_clipped_sum`); exact to float64 rounding, as `_clipped_sum`. Sparse CCE on
    1e6 rows of 10 probabilities, one thread: 17.2 -> 13.5 ms against `_clipped_sum`."""
    from numba.extending import intrinsic

    return intrinsic(_masked_clipped_sum)


@functools.cache
def _vector_hot_position() -> Any:
    """Compiled ``hot_position(values, start, width)``: where a row of at most `_VECTOR_ROW`
    one-hot targets has its one nonzero target, or -1 (`_masked_hot_position`): with
    `_vector_row_sum`, a narrow float32 one-hot row's sum and target without a loop."""
    from numba.extending import intrinsic

    return intrinsic(_masked_hot_position)


@functools.cache
def _vector_rows_sums() -> Any:
    """Compiled ``rows_sums(values, start, width, sums, first)``: `_VECTOR_ROW` narrow rows of
    float32 exps summed at once (`_masked_rows_sums`), each as `_vector_row_sum` sums it, bit for
    bit. Sparse CCE from logits on 2000 rows of 10 classes in cache, one thread: 0.71 -> 0.65 ns
    an element (AMD EPYC, 2026)."""
    from numba.extending import intrinsic

    return intrinsic(_masked_rows_sums)


@functools.cache
def _vector_rows_targets() -> Any:
    """Compiled ``rows_targets(hot, logits, start, width, weight, target, first)``: of
    `_VECTOR_ROW` narrow one-hot rows at once, whether each is one-hot, and its target and target
    logit (`_masked_rows_targets`), as `_vector_hot_position` and a gather find them."""
    from numba.extending import intrinsic

    return intrinsic(_masked_rows_targets)


def _exp32_of(fma: Callable[[Any, Any, Any], Any]) -> Callable[[Any], Any]:
    def exp(x: Any) -> Any:
        low, high, log2e, rounding, ln2_high, ln2_low, p0, p1, p2, p3, p4, p5, one = _EXP32
        x = np.float32(x)  # (a float64 argument would round t, and k, wrongly)
        x = low if x < low else x  # NaN stays NaN
        x = high if x > high else x
        t = fma(x, log2e, rounding)  # k + rounding: the float's last bits hold k
        k = t - rounding
        r = fma(k, -ln2_high, x)
        r = fma(k, -ln2_low, r)
        y = fma(fma(fma(fma(fma(p0, r, p1), r, p2), r, p3), r, p4), r, p5)
        y = fma(y, r * r, r) + one
        return y * np.int32((np.float32(t).view(np.int32) - _EXP32_BIAS) << 23).view(np.float32)

    return exp


def _exp64(x: Any) -> Any:
    low, high, log2e, rounding, ln2_high, ln2_low = _EXP64
    x = low if x < low else x  # NaN stays NaN
    x = high if x > high else x
    t = x * log2e + rounding
    k = t - rounding
    r = (x - k * ln2_high) - k * ln2_low
    y = 0.0
    for c in _EXP64_TAYLOR:
        y = y * r + c
    return y * np.int64((np.float64(t).view(np.int64) - _EXP64_BIAS) << 52).view(np.float64)


def _log64(x: Any) -> Any:
    lg1, lg2, lg3, lg4, lg5, lg6, lg7, ln2_high, ln2_low = _LOG64
    bits = np.float64(x).view(np.int64) - _SQRT_HALF_BITS
    k = np.float64(bits >> 52)
    f = np.int64((bits & _MANTISSA) + _SQRT_HALF_BITS).view(np.float64) - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * (lg1 + w * (lg3 + w * (lg5 + w * lg7))) + w * (lg2 + w * (lg4 + w * lg6))
    half_square = 0.5 * f * f
    result = k * ln2_high - ((half_square - (s * (half_square + r) + k * ln2_low)) - f)
    # log(inf) = inf, log(0) = -inf (subnormals too: TensorFlow reads them as 0),
    # log(negative or NaN) = NaN
    result = result if x < np.inf else x
    result = result if x >= 2.2250738585072014e-308 else -np.inf
    return result if x >= 0.0 else np.nan


@functools.cache
def fast_exp(dtype: np.dtype) -> Callable[[Any], Any]:
    """Compiled exp of one element for terms of float64 sums (1 ulp).

    Below -87 (float32) or -708 (float64) it gives the exp of that bound (a
    normal number, where TensorFlow's is 0 or subnormal); above 88 or 709,
    the exp of that bound (callers check: a sum that large is taken another
    way, and a sigmoid is 1 either way).
    """
    if np.dtype(dtype) != np.float32:
        return compile(_exp64, inline=True)
    return compile(_exp32_of(_fused_multiply_add()), inline=True)


@functools.cache
def float64_log() -> Callable[[Any], Any]:
    """Compiled float64 log of one element (fdlibm's, 1 ulp), which loops vectorise (libm's do not)."""
    return compile(_log64, inline=True)


@functools.cache
def _logs(dtype: np.dtype) -> Callable[[Any], Any]:
    """The dtype's log of one element: TensorFlow's in float32 (bit for bit), `float64_log` in float64."""
    return tensorflow_log(dtype) if np.dtype(dtype) == np.float32 else float64_log()


#: 2 / (2n + 1), n = 7..0: log1p(e) = 2 atanh(s) = s sum_n 2 s**2n / (2n + 1), s = e / (2 + e).
_ATANH32 = tuple(_F32(2.0 / (2 * n + 1)) for n in range(7, -1, -1))


def _log1p32_of(fma: Callable[[Any, Any, Any], Any]) -> Callable[[Any], Any]:
    def log1p(e: Any) -> Any:
        c0, c1, c2, c3, c4, c5, c6, c7 = _ATANH32
        e = np.float32(e)
        s = e / (_F32(2) + e)  # in [0, 1/3] for e in [0, 1]: s**16 / 17 < 2**-26
        z = s * s
        return s * fma(fma(fma(fma(fma(fma(fma(c0, z, c1), z, c2), z, c3), z, c4), z, c5), z, c6),
                       z, c7)

    return log1p


def _log1p64_of(log: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def log1p(e: Any) -> Any:
        u = 1.0 + e  # Goldberg's: log(u) e / (u - 1), 2 ulp
        return e if u == 1.0 else log(u) * (e / (u - 1.0))

    return log1p


@functools.cache
def log1p_unit(dtype: np.dtype) -> Callable[[Any], Any]:
    """Compiled log1p(e) for e in [0, 1] (softplus' tail): float32 in 3 ulp, float64 in 2.

    float32 sums the atanh series (no range reduction: a map of these runs
    at the speed of an exp); float64 corrects the log of 1 + e.
    """
    if np.dtype(dtype) != np.float32:
        return compile(_log1p64_of(float64_log()), inline=True)
    return compile(_log1p32_of(_fused_multiply_add()), inline=True)


# --------------------------------------------------------------------------
# Options: each kernel's constants from the job (`Fused`'s `options`), lanes first.


def binary_smoothing(dtype: np.dtype, label_smoothing: float) -> tuple[float, float]:
    """``(scale, shift)``: `crossentropy_kernels.smooth_binary` is y * scale + shift (1 and 0 for
    no smoothing, which change no target)."""
    kind, a = np.dtype(dtype).type, label_smoothing
    shift = flush_subnormals(np.asarray(kind(0.5 * a)))[()]  # TensorFlow reads a subnormal as 0
    return float(kind(1.0 - a)), float(shift)


def _binary_smoothing(job: Any) -> tuple[float, float]:
    return binary_smoothing(job.dtype, job.label_smoothing)


def _categorical_smoothing(job: Any) -> tuple[float, float]:
    """``(scale, shift)``: `crossentropy_kernels.smooth_categorical`, K the row width."""
    kind, a = job.dtype.type, job.label_smoothing
    flushed = flush_subnormals(np.asarray(kind(a)))[()]
    shift = flush_subnormals(np.asarray(flushed / kind(job.width)))[()]
    return float(kind(1.0 - a)), float(shift)


def _two_class_options(job: Any) -> tuple[float, ...]:
    """The clip bounds and the smoothing's (scale, shift): the two-class kernels' constants."""
    return (_LANES, job.low, job.high, *_categorical_smoothing(job))


def _clipped(job: Any) -> tuple[float, ...] | None:
    """The clip bounds; None with label smoothing (the numpy kernels take the reference then)."""
    return None if job.label_smoothing else (_LANES, job.low, job.high)


# --------------------------------------------------------------------------
# Loops the compiler vectorises, compiled inline into the kernels.


@functools.cache
def lanes_sum() -> Callable[..., float]:
    """Compiled float64 sum of a 1-d array in `lanes` accumulators over slices."""
    lane_sum = float64_sum()

    def summed(values: np.ndarray, lanes: int, acc: np.ndarray) -> float:
        size = values.size
        acc[:] = 0.0
        for c in range((size + lanes - 1) // lanes):  # (the tail in the same vectorised loop)
            part = values[c * lanes : min((c + 1) * lanes, size)]
            for k in range(part.size):
                acc[k] += np.float64(part[k])
        return lane_sum(acc, lanes)

    return compile(summed, inline=True)


@functools.cache
def _tree_add() -> Callable[..., None]:
    r"""Compiled: add a buffer's elements into the float64 lanes ``acc``, eight at a time in the dtype.

    The buffer is cut into eight segments of ``m`` elements (m a multiple of
    8); ``tree[k]`` is the pairwise sum ((b0 + b1) + (b2 + b3)) + ((b4 + b5)
    + (b6 + b7)) of the segments' k-th elements, in the dtype (one vectorised
    map over eight streams: the buffer is in cache, where eight streams cost
    nothing, unlike a row read from memory), and ``tree`` and the last
    elements are then added to ``acc`` in lanes, in float64: eight times
    fewer float64 conversions and adds than adding every element in lanes
    (a wide row's sum of exps in half the time). A row read from memory is
    better summed as it streams in (`lanes_sum`): eight streams of a short
    row defeat the prefetcher, and a buffer filled first leaves memory idle
    while the tree is added.

    Error: a sum of 8 terms added pairwise in depth 3 is within
    ``3 u sum_j |b_j|`` of exact (u = 2**-24 in float32, each of the three
    levels adds at most one rounding of relative size u to the terms below
    it), and the float64 lanes add ``(m / lanes + 8) 2**-53`` relative more;
    so the whole sum is within ``(3 u + 2**-40) sum_j |b_j|``. numpy's
    pairwise float32 sum (leaves of 128 in 8 accumulators of 16 serial
    terms, then leaves in pairs) is within about ``(18 + log2(n / 128)) u
    sum_j |b_j|``: this one is tighter, for positive terms (probabilities,
    exponentials) a relative error below 1.8e-7 at worst, 1e-8 typically.
    """
    def tree_add(values: np.ndarray, lanes: int, acc: np.ndarray, tree: np.ndarray) -> None:
        size = values.size
        m = (size // 8) & -8  # (a multiple of the vector width: no scalar remainder)
        b0, b1, b2, b3 = values[:m], values[m : 2 * m], values[2 * m : 3 * m], values[3 * m : 4 * m]
        b4, b5 = values[4 * m : 5 * m], values[5 * m : 6 * m]
        b6, b7 = values[6 * m : 7 * m], values[7 * m : 8 * m]
        for k in range(m):
            tree[k] = ((b0[k] + b1[k]) + (b2[k] + b3[k])) + ((b4[k] + b5[k]) + (b6[k] + b7[k]))
        pairs = tree[:m]
        for c in range((m + lanes - 1) // lanes):
            part = pairs[c * lanes : min((c + 1) * lanes, m)]
            for k in range(part.size):
                acc[k] += np.float64(part[k])
        rest = values[8 * m :]
        left = rest.size
        for c in range((left + lanes - 1) // lanes):
            part = rest[c * lanes : min((c + 1) * lanes, left)]
            for k in range(part.size):
                acc[k] += np.float64(part[k])

    return compile(tree_add, inline=True)


@functools.cache
def _tree_sum() -> Callable[..., float]:
    """Compiled float64 sum of a 1-d buffer in cache by `_tree_add` (``tree`` holds size // 8)."""
    tree_add, lane_sum = _tree_add(), float64_sum()

    def tree_sum(values: np.ndarray, lanes: int, acc: np.ndarray, tree: np.ndarray) -> float:
        acc[:] = 0.0
        tree_add(values, lanes, acc, tree)
        return lane_sum(acc, lanes)

    return compile(tree_sum, inline=True)


@functools.cache
def _row_sums() -> Callable[..., None]:
    r"""Compiled sums of a chunk's narrow rows by doubling windows: vectorised maps, no row loops.

    ``sums[r]`` (float64) becomes the sum of
    ``values[r * width : (r + 1) * width]``, r < rows. Windows of 2**b
    consecutive elements, every position at once: w_{b+1}[j] = w_b[j] +
    w_b[j + 2**b], one map over the chunk per b, in two buffers of its size
    (``first``, ``second``, of the type the windows are added in); each row
    then adds, in float64, one window for each bit b of its width (width 10:
    the windows of 2 and 8 at its first and third element), a gather of a
    few elements a row. (Float64 buffers take twice the time: float32
    windows are what make this faster than a float64 sum a row, in order,
    or reordered below `_WINDOWED_BELOW` elements.)

    Error: a window of 2**b elements is a balanced tree of additions in the
    buffers' type, within ``b u sum_j |x_j|`` of exact (u = 2**-24 in
    float32), so a row of K elements is within ``floor(log2 K) u sum_j
    |x_j|`` (6 u below 128 elements). numpy's pairwise float32 sum of a
    narrow row is no better: up to 7 elements it adds them in turn (K - 1
    roundings deep), beyond in 8 accumulators of K / 8 serial terms each,
    then a tree of 3 (K / 8 + 2 deep). For positive terms (exps) a row's
    sum is within 3.6e-7 relative at worst (K < 128), typically 1e-8.
    """
    def row_sums(values: np.ndarray, width: int, rows: int, sums: np.ndarray,
                 first: np.ndarray, second: np.ndarray) -> None:
        size = rows * width
        for r in range(rows):
            sums[r] = 0
        if width & 1:
            for r in range(rows):
                sums[r] += values[r * width]
        if width < 2:
            return
        size -= 1  # the windows of 2, added in the buffers' type
        low, high = values[:size], values[1 : size + 1]
        for j in range(size):
            first[j] = low[j]
            first[j] += high[j]
        window = first[:size]
        span, offset = 2, width & 1  # the window's length; where the next window starts in a row
        into_first = False
        while True:
            if width & span:
                for r in range(rows):
                    sums[r] += window[r * width + offset]
                offset += span
            if 2 * span > width:
                return
            length = size - span  # (the windows of 2 * span that start before the end)
            low, high = window[:length], window[span:size]
            following = first if into_first else second  # (`window` is the other buffer)
            into_first = not into_first
            for j in range(length):
                following[j] = low[j] + high[j]
            window = following[:length]
            size = length
            span *= 2

    return compile(row_sums, inline=True)


@functools.cache
def _row_exp(dtype: np.dtype) -> Callable[..., bool]:
    """Compiled ``terms[j] = exp(row[j] - shift)`` over a row, returning whether an argument is -inf."""
    exp = fast_exp(dtype)
    minus_infinity = np.dtype(dtype).type(-np.inf)

    def shifted(row: np.ndarray, shift: Any, terms: np.ndarray) -> bool:
        infinite = False  # (a bool: an int64 count would halve the vector width)
        for j in range(row.size):
            d = row[j] - shift
            infinite |= d == minus_infinity
            terms[j] = exp(d)
        return infinite

    return compile(shifted, inline=True)


# --------------------------------------------------------------------------
# Binary cross-entropy: elementwise terms, averaged over each row.

#: Options of an elementwise term (`_elementwise`).
_OPTIONS = 8


def _options(*values: float) -> tuple[float, ...]:
    """An elementwise kernel's constants: lanes, then `values` padded to `_OPTIONS`."""
    return (_LANES, *values, *[0.0] * (_OPTIONS - len(values)))



def _elementwise(term_of: Callable[[np.dtype], Callable[..., Any]],
                 quick_of: Callable[[np.dtype], Callable[..., Any]] | None = None,
                 ) -> Callable[[np.dtype], Callable[..., tuple[float, bool]]]:
    """The `Fused.make` of a row mean of ``term(y, p, options)``, declining any block with a NaN.

    ``options`` are ``constants[1:1 + _OPTIONS]`` (`_options` pads them), read
    once into a tuple (a load inside the loop would keep it from being
    vectorised), and a term is in the dtype. As
    `lossbounds.fused.elementwise_mean`: terms are computed a chunk at a time
    into a buffer (a map, vectorised at the dtype's width), then added in
    float64 (in lanes); row sums are rounded to the dtype, then divided by the
    width in the dtype. A term is NaN where
    the numpy kernel hands a block to the reference (targets that are not 0
    or 1) as well as for NaN inputs: such blocks are declined, and the numpy
    kernel decides.

    ``quick(y, p, options)`` (from `quick_of`), where given, is a cheaper
    term, equal to ``term`` to the bit or NaN: each chunk (or row) takes it
    first, and where that gives a NaN takes ``term`` again, as does the rest
    of the block.
    """
    def make(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
        term = compile(term_of(dtype), inline=True)
        quick = term if quick_of is None else compile(quick_of(dtype), inline=True)
        add_terms, summed = row_sum(dtype), lanes_sum()
        quick_first = quick_of is not None

        def fill(y_part: np.ndarray, p_part: np.ndarray, terms: np.ndarray,
                 options: tuple[Any, ...], quickly: bool) -> None:
            if quickly:
                for j in range(terms.size):
                    terms[j] = quick(y_part[j], p_part[j], options)
            else:
                for j in range(terms.size):
                    terms[j] = term(y_part[j], p_part[j], options)

        fill_terms = compile(fill, inline=True)

        def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                   out: np.ndarray) -> tuple[float, bool]:
            rows, width = y_pred.shape
            lanes = int(constants[0])
            options = (constants[1], constants[2], constants[3], constants[4], constants[5],
                       constants[6], constants[7], constants[8])
            y, p = y_true.reshape(-1), y_pred.reshape(-1)
            size = y.size
            acc = np.empty(lanes)
            quickly = quick_first  # (until a chunk or row needs the full term)
            total = 0.0
            if out.size != rows or width == 1:  # the flat block, a chunk at a time
                store = out.size == rows  # (rows of one term: the terms are the values)
                buffer = np.empty(0 if store else min(size, _CHUNK), y_pred.dtype)
                for part in range((size + _CHUNK - 1) // _CHUNK):
                    start = part * _CHUNK
                    length = min(_CHUNK, size - start)
                    y_part, p_part = y[start : start + length], p[start : start + length]
                    terms = out[start : start + length] if store else buffer[:length]
                    fill_terms(y_part, p_part, terms, options, quickly)
                    chunk_total = summed(terms, lanes, acc)
                    if quickly and chunk_total != chunk_total:
                        quickly = False
                        fill_terms(y_part, p_part, terms, options, quickly)
                        chunk_total = summed(terms, lanes, acc)
                    total += chunk_total
                if not store:
                    total /= width
                return total, total == total
            terms = np.empty(width, y_pred.dtype)
            count = constants[constants.size - 1]
            for i in range(rows):
                y_row = y[i * width : (i + 1) * width]
                p_row = p[i * width : (i + 1) * width]
                fill_terms(y_row, p_row, terms, options, quickly)
                value = add_terms(terms, width)
                if quickly and value != value:
                    quickly = False
                    fill_terms(y_row, p_row, terms, options, quickly)
                    value = add_terms(terms, width)
                out[i] = value  # rounded to the dtype
                out[i] = out[i] / count
            total = summed(out, lanes, acc)
            return total, total == total

        return compile(kernel)

    return make


#: Factors a float64 lane multiplies before adding their product's log
#: (`_log_products`), and the smallest product it takes (above float64's
#: smallest normal, 2**-1022: the product of normals this large is exact to 32 ulp).
_FACTORS = 32
_SMALLEST_PRODUCT = 2.0**-1000


def _log_products(by_term: Callable[[np.dtype], Callable[..., tuple[float, bool]]],
                  parts_of: Callable[[np.dtype], Callable[..., tuple[Any, Any]]], *,
                  sign: float, offset: float, buffered: bool, width: int = 1,
                  ) -> Callable[[np.dtype], Callable[..., tuple[float, bool]]]:
    r"""The kernel `by_term` makes, with a sum alone that adds logs of products: one log per 32 terms.

    The terms are those of items: each element (`width` 1: the sum is then
    divided by the row width, a sum of row means) or each row of a
    two-class kernel with labels (`width` 2). ``parts(y, first, last,
    options)``, for an item's target (or label) and its first and last
    prediction (scalars: a function given arrays and an index is not
    vectorised), is ``(a, e)``, both in the dtype, with the item's term
    ``a + sign * log(offset + e)``: a computed as `by_term`
    computes it, and the factor ``offset + e`` (in float64) a normal number
    in (0, 1] or in [1, 2], so a product of 32 only falls or only rises.
    Where no values are stored, the sum of the terms is

    .. math:: \sum_i a_i + s \sum_{\text{lanes}} \sum_g \log \prod_{i \in g} (c + e_i),

    each lane multiplying `_FACTORS` factors in float64 before one float64
    log, instead of a log a term. The value differs from the sum of the
    terms (TensorFlow's logs, rounded to the dtype) by their rounding only:
    the logs of the products are exact to ~32 float64 ulp, and where every
    term is non-negative (cross-entropies) the relative difference of the
    sum is at most the largest relative error of one term, 2.6e-7 for
    TensorFlow's float32 log (4.3 ulp, its largest over every float32 in
    [2**-24, 1), at 0.7073) plus the term's rounding. A block where a
    product falls below 2**-1000 (it may have lost digits) is declined, as
    is a block with a NaN (parts give a NaN where `by_term` declines).
    `by_term`'s kernel is compiled when values are first stored (a reduced
    loss never needs it: its first call compiles half as much).

    With `buffered`, each 2048 items' parts are computed into two buffers
    first (a map; faster where the parts call an exp), else they go
    straight into the lanes (faster for a few selects).
    """
    def make(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
        parts = compile(parts_of(dtype), inline=True)
        log, lane_sum = float64_log(), float64_sum()
        smallest, group = _SMALLEST_PRODUCT, _FACTORS
        step = width
        fetch = prefetch()
        ahead, line_size = prefetch_steps(dtype)

        def summed(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                   ) -> tuple[float, bool]:
            columns = y_pred.shape[1]
            lanes = _LANES  # (a constant: the compiler unrolls the lanes' loop)
            options = (constants[1], constants[2], constants[3], constants[4], constants[5],
                       constants[6], constants[7], constants[8])
            y, p = y_true.reshape(-1), y_pred.reshape(-1)
            items = y.size
            span = lanes * group
            whole = items - items % span
            addends, logs = np.zeros(lanes), np.zeros(lanes)
            products = np.ones(lanes)
            underflow = False
            a_buf = np.empty(span if buffered else 0, y_pred.dtype)
            e_buf = np.empty(span if buffered else 0, y_pred.dtype)
            for start in range(0, whole, span):
                if buffered:
                    y_part, p_part = y[start : start + span], p[start * step : (start + span) * step]
                    for first in range(0, span, _FETCHED):  # (it divides the span, 2048)
                        if step == 1:  # (two-class rows: 1.07x slower)
                            for line in range(0, _FETCHED, line_size):
                                fetch(y, start + first + ahead + line)
                                fetch(p, start + first + ahead + line)
                        for j in range(first, first + _FETCHED):
                            a_buf[j], e_buf[j] = parts(y_part[j], p_part[j * step],
                                                       p_part[j * step + step - 1], options)
                for g in range(group):
                    if buffered:
                        a_part = a_buf[g * lanes : (g + 1) * lanes]
                        e_part = e_buf[g * lanes : (g + 1) * lanes]
                        for k in range(lanes):
                            addends[k] += np.float64(a_part[k])
                            products[k] *= offset + np.float64(e_part[k])
                    else:
                        first = start + g * lanes
                        for line in range(0, lanes * step, line_size):
                            fetch(y, first + ahead + line // step)
                            fetch(p, (first + ahead) * step + line)
                        y_part = y[first : first + lanes]
                        p_part = p[first * step : (first + lanes) * step]
                        for k in range(lanes):
                            a, e = parts(y_part[k], p_part[k * step], p_part[k * step + step - 1],
                                         options)
                            addends[k] += np.float64(a)
                            products[k] *= offset + np.float64(e)
                for k in range(lanes):
                    underflow |= products[k] < smallest
                    logs[k] += log(products[k])
                    products[k] = 1.0
            if underflow:
                return 0.0, False
            tail = 0.0
            for i in range(whole, items):
                a, e = parts(y[i], p[i * step], p[i * step + step - 1], options)
                tail += np.float64(a) + sign * log(offset + np.float64(e))
            total = lane_sum(addends, lanes) + sign * lane_sum(logs, lanes) + tail
            if step == 1:  # a sum of row means
                total /= columns
            return total, total == total

        sums, values = compile(summed), _compiled_on_first_use(by_term, dtype)

        def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                   out: np.ndarray) -> tuple[float, bool]:
            if out.size == y_pred.shape[0]:
                return values()(y_true, y_pred, constants, out)
            return sums(y_true, y_pred, constants)

        kernel.stored = values  # type: ignore[attr-defined]  # (`Fused.weighted`)
        return kernel

    return make


def _compiled_on_first_use(make: Callable[[np.dtype], Callable[..., tuple[float, bool]]],
                           dtype: np.dtype) -> Callable[[], Callable[..., tuple[float, bool]]]:
    """A function returning ``make(dtype)``, made once, at the first call (from any thread)."""
    made: list[Callable[..., tuple[float, bool]]] = []
    lock = threading.Lock()

    def kernel() -> Callable[..., tuple[float, bool]]:
        if not made:
            with lock:
                if not made:
                    made.append(make(dtype))
        return made[0]

    return kernel


def _binary_probability_parts(dtype: np.dtype) -> Callable[..., tuple[Any, Any]]:
    """``(-0, q)``, q = clip(p) (y = 1) or 1 - clip(p) (y = 0), NaN for other targets: the term is -log q."""
    kind = np.dtype(dtype).type
    one, zero, nan = kind(1), kind(0), kind(np.nan)
    # a = -0.0, not 0.0: x + -0.0 is x for every x, so the compiler drops the add of a
    # (x + 0.0 is not x for x = -0.0, so it would convert and add a zero a term)
    no_addend = kind(-0.0)

    def parts(y: Any, p: Any, last: Any, options: tuple[Any, ...]) -> tuple[Any, Any]:
        low, high = options[0], options[1]
        clipped = low if p < low else p  # np.clip: NaN stays NaN
        clipped = high if clipped > high else clipped
        q = clipped if y == one else one - clipped
        return no_addend, (q if (y == one or y == zero) else nan)

    return parts


def _binary_probability_term(dtype: np.dtype) -> Callable[..., Any]:
    """-log q (`_binary_probability_parts`), TensorFlow's log: one log a term."""
    log, parts = _logs(dtype), compile(_binary_probability_parts(dtype), inline=True)

    def term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
        return -log(parts(y, p, p, options)[1])

    return term


def _binary_logits_pieces(dtype: np.dtype) -> Callable[..., tuple[Any, Any]]:
    """``(max(x, 0) - x y, exp(-|x|))`` in the dtype, y label-smoothed: TensorFlow's term is a + log1p(e)."""
    exp = fast_exp(dtype)
    zero = np.dtype(dtype).type(0)

    def pieces(y: Any, x: Any, last: Any, options: tuple[Any, ...]) -> tuple[Any, Any]:
        scale, shift = options[0], options[1]
        # label smoothing, y (1 - a) + a / 2; without, y 1 + 0 = y (a branch here would keep
        # the loop from being vectorised)
        y = y * scale + shift
        relu = x if (x >= zero or x != x) else zero  # np.clip(x, 0, inf): NaN stays NaN
        magnitude = x if x >= zero else -x
        return relu - x * y, exp(-magnitude)

    return pieces


def _binary_logits_term(dtype: np.dtype) -> Callable[..., Any]:
    """TensorFlow's max(x, 0) - x y + log1p(exp(-|x|)), in the dtype as the numpy kernel adds it."""
    log1p, pieces = log1p_unit(dtype), compile(_binary_logits_pieces(dtype), inline=True)

    def term(y: Any, x: Any, options: tuple[Any, ...]) -> Any:
        a, e = pieces(y, x, x, options)
        return a + log1p(e)

    return term


def _binary_probability_options(job: Any) -> tuple[float, ...] | None:
    # soft (smoothed) targets, or 1 - eps rounding to 1: the numpy kernel takes the reference.
    # (A job has kernels only for a clip bound of at least the square root of the smallest
    # normal, `engine.make_job`: every factor of `_log_products` is normal.)
    return None if job.label_smoothing or not job.high < 1 else _options(job.low, job.high)


#: Binary cross-entropy, by `from_logits`.
FUSED_BINARY = {
    # (offset -0.0: -0.0 + q is q for every q, so the compiler drops the add; 0.0 + q is not)
    False: Fused(_log_products(_elementwise(_binary_probability_term), _binary_probability_parts,
                               sign=-1.0, offset=-0.0, buffered=False),
                 options=_binary_probability_options),
    True: Fused(_log_products(_elementwise(_binary_logits_term), _binary_logits_pieces,
                              sign=1.0, offset=1.0, buffered=True),
                options=lambda job: _options(*_binary_smoothing(job))),
}


# --------------------------------------------------------------------------
# Binary cross-entropy on JAX, PyTorch and NumPy: each element's term as
# `crossentropy_kernels.binary_elementwise` computes it there, averaged over
# each row (`lossbounds.fused.elementwise_mean`). The options are the label
# smoothing's (scale, shift) and the clip bounds (low, high), in the dtype.
# The logs and exps are TensorFlow's (`tensorflow_log`): within an ulp of
# those backends' own, as numpy's are.


def _binary_costs_term(clamped: bool) -> Callable[[np.dtype], Callable[..., Any]]:
    """``t (-log p) + (1 - t) (-log(1 - p))``, p the clipped probability, t the smoothed target.

    `clamped`: PyTorch's costs, ``min(-log p, 100)`` and ``min(-log1p(-p),
    100)``.
    """
    def term_of(dtype: np.dtype) -> Callable[..., Any]:
        kind = np.dtype(dtype).type
        one, hundred = kind(1), kind(100)
        log, log1p = tensorflow_log(dtype), tensorflow_exp_log1p(dtype)[1]

        def term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
            t = y * options[0] + options[1]
            q = options[3] if p > options[3] else p  # np.minimum, then np.maximum
            q = options[2] if q < options[2] else q
            if clamped:  # (np.minimum, but no NaN: PyTorch refuses one first, `check_unit_targets`)
                positive, negative = min(-log(q), hundred), min(-log1p(-q), hundred)
            else:
                positive, negative = -log(q), -log(one - q)
            return t * positive + (one - t) * negative

        return term

    return term_of


def _softplus_costs_term(pytorch: bool) -> Callable[[np.dtype], Callable[..., Any]]:
    """Binary cross-entropy from logits x, with softplus's tail log1p(exp(-|x|)).

    JAX's ``t softplus(-x) + (1 - t) softplus(x)``, softplus(+-x) = max(+-x,
    0) + the tail; or (`pytorch`) PyTorch's ``(1 - t) x - log_sigmoid(x)``,
    log_sigmoid(x) = min(x, 0) - the tail. (np.maximum's and np.minimum's
    NaN need not be kept: the tail of a NaN x is NaN.)
    """
    def term_of(dtype: np.dtype) -> Callable[..., Any]:
        kind = np.dtype(dtype).type
        one, zero = kind(1), kind(0)
        exp, log1p = tensorflow_exp_log1p(dtype)

        def term(y: Any, x: Any, options: tuple[Any, ...]) -> Any:
            t = y * options[0] + options[1]
            tail = log1p(exp(-abs(x)))
            if pytorch:
                return (one - t) * x - (min(x, zero) - tail)
            return t * (max(-x, zero) + tail) + (one - t) * (max(x, zero) + tail)

        return term

    return term_of


#: Binary cross-entropy's fused kernels off TensorFlow, by (backend, from_logits): bound to
#: a call's options with `Fused.using` (smoothing scale and shift, then the clip bounds).
#: None from logits on NumPy: its sigmoid is numpy's float32 exp, whose last bit 1 - p
#: magnifies where the prediction is confident (TensorFlow's exp there: 1.2e-6 relative
#: apart at p = 0.97), so numpy's kernel computes it.
FUSED_BINARY_ON = {
    ("jax", False): Fused(elementwise_mean(_binary_costs_term(False), per_dtype=True)),
    ("torch", False): Fused(elementwise_mean(_binary_costs_term(True), per_dtype=True)),
    ("jax", True): Fused(elementwise_mean(_softplus_costs_term(False), per_dtype=True)),
    ("torch", True): Fused(elementwise_mean(_softplus_costs_term(True), per_dtype=True)),
}
FUSED_BINARY_ON["numpy", False] = FUSED_BINARY_ON["jax", False]


# --------------------------------------------------------------------------
# Categorical and sparse cross-entropy from logits: TensorFlow's softmax
# cross-entropy, log(sum_k exp(z_k - max)) - (z_y - max), the sum in float64.

#: A row whose sum of unshifted exps lies in this range needs no shift by its max: no
#: term was clamped above (`fast_exp` of 88 or 709 exceeds it), and the terms clamped
#: below (1.6e-38 or 3e-308 each, 2**15 of them at most) change its sum by under 1e-13.
_UNSHIFTED = {np.dtype(np.float32): (1e-20, 1e30), np.dtype(np.float64): (1e-280, 1e280)}
#: An unshifted row's log(sum) - z_c below this is taken as log(sum) - log(e_c), e_c the
#: row's own exp of z_c (`_logits_kernel`): exact where the target's exp is nearly the
#: sum, and never negative (the sum of e_c and other non-negative terms is at least e_c).
_DOMINATED = 2.0**-10
#: exp(`_DOMINATED`): a row whose sum lies below its target's exp times this is dominated.
_DOMINATED_RATIO = math.exp(_DOMINATED)


@functools.cache
def _unshifted_sum() -> Callable[..., float]:
    r"""Compiled ``unshifted_sum(sums, target, n, subtracted, logs)``: a reduced chunk's sum.

    For n float32 rows of labels (or one-hot targets of 1) whose unshifted
    sums of exps lie within `_UNSHIFTED`, the float64 sum of their values
    ``log(sum) - z_c``, as `_logits_kernel` computes them row by row but with
    one log per four rows (four such sums multiply to within [1e-80, 1e120],
    far inside float64's range):

    .. math:: \sum_r (\log s_r - z_r) = \sum_j \Bigl(\log \prod_{r \in g_j} s_r
              - \sum_{r \in g_j} z_r\Bigr).

    A dominated row (`_DOMINATED`: its sum below ``e_c`` times
    `_DOMINATED_RATIO`, e_c its own exp of z_c) has the factor ``s / e_c``
    (written over its sum) and nothing subtracted: log(s / e_c), as row by
    row, never negative (exactly 0 for one class). The products' three
    roundings and the float64 log move a group's sum by ~1e-16 of the log's
    size, where rounding each row's value to float32 would move it by up to
    6e-8 of its size (the values are not rounded here). 2000 rows of 10
    classes in cache, one thread: 0.65 -> 0.59 ns an element (sparse CCE),
    0.80 -> 0.73 (CCE; AMD EPYC, 2026).
    """
    exp, log, lane_sum = fast_exp(np.dtype(np.float32)), float64_log(), float64_sum()
    ratio = _DOMINATED_RATIO

    def unshifted_sum(sums: np.ndarray, target: np.ndarray, n: int, subtracted: np.ndarray,
                      logs: np.ndarray) -> float:
        dominated = False
        for r in range(n):
            subtracted[r] = np.float64(target[r])
            # (the target's exp, as the row's sum holds it)
            dominated |= sums[r] < np.float64(exp(target[r])) * ratio
        if dominated:  # (a loop of its own: a division in the one above took 1.1x as long)
            for r in range(n):
                e = np.float64(exp(target[r]))
                if sums[r] < e * ratio:
                    sums[r] /= e
                    subtracted[r] = 0.0
        factors = sums
        q = n // 4  # (groups of rows q apart: the loop reads each factor in turn)
        for j in range(q):
            product = (factors[j] * factors[j + q]) * (factors[j + 2 * q] * factors[j + 3 * q])
            logs[j] = log(product) - ((subtracted[j] + subtracted[j + q])
                                      + (subtracted[j + 2 * q] + subtracted[j + 3 * q]))
        for r in range(4 * q, n):
            logs[r - 3 * q] = log(factors[r]) - subtracted[r]
        return lane_sum(logs, n - 3 * q)

    return compile(unshifted_sum, inline=True)


@functools.cache
def _outside() -> Callable[[np.ndarray, int], bool]:
    """Compiled: whether any label lies outside [0, k) (kernels take labels unread, see `_row_targets`)."""
    def outside(labels: np.ndarray, k: int) -> bool:
        found = False
        for i in range(labels.size):  # (one unsigned compare: a negative label wraps above k)
            found |= np.uint64(labels[i]) >= np.uint64(k)
        return found

    return compile(outside, inline=True)


@functools.cache
def _one_hot_target() -> Callable[..., tuple[Any, Any]]:
    """Compiled ``(y_c, z_c)`` of a one-hot row: its target and target logit, or NaN to decline the block.

    A row at least ``2 * lanes`` wide (narrower ones: `_narrow_hot_sum`) is read
    once, counting its nonzero targets and adding their positions (integer
    sums, which the compiler vectorises): with one nonzero target, the sum
    is its position. A row with no or several nonzero targets (or an
    infinite or NaN one) gives NaN. (The logits elsewhere in the row are not
    read here: a -inf among them, whose zero target makes TensorFlow's
    one-hot sum NaN, is for the caller.)
    """
    def target(y_true: np.ndarray, i: int, z: np.ndarray) -> tuple[Any, Any]:
        y = y_true[i]
        count = 0
        key = 0
        for k in range(y.size):  # (integer sums: vectorised, in registers)
            nonzero = y[k] != 0
            count += nonzero
            key += k if nonzero else 0
        if count != 1:
            return np.nan, np.nan
        weight = np.float64(y[key])
        if not abs(weight) < np.inf:
            return np.nan, np.nan
        return weight, np.float64(z[key])

    return compile(target, inline=True)


@functools.cache
def _row_targets(one_hot: bool) -> Callable[..., bool]:
    """Compiled: a chunk's targets and target logits, rows read one by one; False to decline it.

    Labels (which the kernels take unread: `lossbounds.engine.LabelReader`)
    are checked for the chunk at once (`_outside`), then each row's logit
    gathered; one-hot rows go through `_one_hot_target`.
    """
    if not one_hot:
        outside = _outside()

        def labelled(y_true: np.ndarray, start: int, n: int, block: np.ndarray,
                     weight: np.ndarray, target: np.ndarray) -> bool:
            width = block.size // n
            if outside(y_true[start : start + n], width):
                return False
            for r in range(n):
                target[r] = block[r * width + y_true[start + r]]
                weight[r] = 1.0
            return True

        return compile(labelled, inline=True)
    target_of = _one_hot_target()

    def hot(y_true: np.ndarray, start: int, n: int, block: np.ndarray,
            weight: np.ndarray, target: np.ndarray) -> bool:
        width = block.size // n
        for r in range(n):
            weight[r], target[r] = target_of(y_true, start + r, block[r * width : (r + 1) * width])
            if weight[r] != weight[r]:
                return False  # not one-hot
        return True

    return compile(hot, inline=True)


def _logits_kernel(dtype: np.dtype, one_hot: bool, finite: bool = False,
                   ) -> Callable[..., tuple[float, bool]]:
    """The fused kernel from logits, with integer labels or one-hot rows (`one_hot`).

    A chunk of rows (or one wide row) at a time: the rows' targets, then one
    exp map over all their logits, unshifted, and each row's sum; where every
    sum lies within `_UNSHIFTED`, the value is log(sum) - z_c, in float64
    (where that is below `_DOMINATED`, log(sum) - log(e_c), e_c the row's
    own exp of z_c), and a reduced float32 chunk whose targets are 1 adds
    them with one log per four rows (`_unshifted_sum`); otherwise
    each row is shifted by its max as TensorFlow shifts it (the value is then
    TensorFlow's y_c (log_sum - shifted_c), log_sum the log of the sum
    rounded to the dtype). A logit of -inf makes TensorFlow's one-hot sum NaN
    (0 * inf, its zero target times the -inf log-softmax): with one-hot
    targets such blocks are declined (the exp map flags them), as are rows
    that are not one-hot; with `finite`, labels' blocks too (JAX and NumPy
    pick a label with a one-hot row: any -inf log-probability makes the
    row's value NaN). NaN and +inf logits give NaN, as in TensorFlow.
    Wide rows' sums of exps are taken by `_tree_add`, from the terms in cache;
    float32 rows of at most `_VECTOR_ROW` classes are summed 16 at a time
    (`_vector_rows_sums`; one-hot rows of at most `_GROUPED_TARGETS` find
    their targets so too), the chunk's last rows one at a time.
    """
    kind = np.dtype(dtype).type
    log, log64 = _logs(dtype), float64_log()
    row_exp = _row_exp(dtype)
    lanes_max, tree_sum, row_sums = row_max(), _tree_sum(), _row_sums()
    add_chunk = chunk_adder()
    targets_of, narrow_sum, hot_sum = _row_targets(one_hot), _narrow_sum(), _narrow_hot_sum()
    vector_sum, hot_position = _vector_row_sum(), _vector_hot_position()
    rows_sums, rows_targets = _vector_rows_sums(), _vector_rows_targets()
    vector_row = _VECTOR_ROW if np.dtype(dtype) == np.float32 else 0
    logs_of_products = np.dtype(dtype) == np.float32  # (`_unshifted_sum`: float32's sums only)
    unshifted_sum = _unshifted_sum()
    exp = fast_exp(dtype)
    zero = np.dtype(dtype).type(0)
    smallest, largest = _UNSHIFTED[np.dtype(dtype)]
    fetch, (ahead, line_size) = prefetch(), prefetch_steps(dtype)

    def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = y_pred.shape
        lanes = int(constants[0])
        wide = width >= 2 * lanes
        chunk = max(1, min(CHUNK_ROWS, _EXP_CHUNK // width))  # rows per chunk
        target = np.empty(chunk, y_pred.dtype)  # each row's target logit
        weight = np.empty(chunk, y_pred.dtype)  # its target (1 for labels)
        shift = np.empty(chunk, y_pred.dtype)  # its max, where shifted
        sums = np.empty(chunk)
        gaps = np.empty(chunk)  # log(sum) - z_c, unshifted
        subtracted = np.empty(chunk)  # (`_unshifted_sum`)
        values = np.empty(chunk, y_pred.dtype)
        acc = np.empty(lanes)
        maxima = np.empty(lanes, y_pred.dtype)
        terms = np.empty(chunk * width, y_pred.dtype)
        tree = np.empty(width // 8 if wide else 1, y_pred.dtype)  # (`_tree_add`)
        first = np.empty(1 if wide else chunk * width, y_pred.dtype)  # (`_row_sums`' buffers)
        second = np.empty(1 if wide else chunk * width, y_pred.dtype)
        flat, hot = y_pred.reshape(-1), y_true.reshape(-1)
        total = 0.0
        for part in range((rows + chunk - 1) // chunk):
            start = part * chunk
            n = min(chunk, rows - start)
            block = flat[start * width : (start + n) * width]
            # the exps first. Rows of at most `_VECTOR_ROW` ask for the next chunk's lines with
            # their sums, a row at a time; wider one-hot rows, and rows of 2 * lanes or more, in
            # the exp map (narrower rows with labels took 1.1x as long so). On an AMD EPYC (2026)
            # the hardware prefetcher alone left wide rows waiting on memory: sparse CCE from
            # logits, two threads, 1e5 x 1000 25.8-27.8 -> 21.9-22.7 ms, 1e4 x 32000 77-79 ->
            # 66-68 (one-hot 35.2-35.6 -> 32.8-34.4, 100-103 -> 86-89); in cache, the same time.
            infinite = False
            if vector_row < width and (one_hot or wide):
                for begin in range(0, n * width, _FETCHED):
                    for line in range(0, _FETCHED, line_size):
                        fetch(flat, start * width + begin + ahead + line)
                        if one_hot:
                            fetch(hot, start * width + begin + ahead + line)
                    end = min(begin + _FETCHED, n * width)
                    infinite |= row_exp(block[begin:end], zero, terms[begin:end])
            else:
                infinite = row_exp(block, zero, terms)
            if infinite and (one_hot or finite):
                return 0.0, False  # a -inf logit: TensorFlow's 0 * inf, the numpy kernel's NaN
            # the targets (narrow one-hot rows': with their sums, below)
            if (wide or not one_hot) and not targets_of(y_true, start, n, block, weight, target):
                return 0.0, False  # a label outside [0, K), or a row that is not one-hot
            shifted = False
            for sweep in range(2):  # the unshifted sums, then (if needed) the shifted ones
                if sweep == 1:
                    if not shifted:
                        break
                    infinite = False  # TensorFlow's shift by each row's max
                    for r in range(n):
                        z = block[r * width : (r + 1) * width]
                        if wide:
                            best = lanes_max(z, lanes, maxima)
                        else:
                            best = z[0]
                            for k in range(1, width):
                                best = z[k] if z[k] > best else best
                        shift[r] = best
                        infinite |= row_exp(z, best, terms[r * width : (r + 1) * width])
                    if infinite and (one_hot or finite):
                        return 0.0, False  # 0 * inf: TensorFlow's NaN, left to the numpy kernel
                if wide:  # (the terms are in cache: `_tree_add`)
                    for r in range(n):
                        sums[r] = tree_sum(terms[r * width : (r + 1) * width], lanes, acc, tree)
                elif one_hot and sweep == 0 and width <= vector_row:
                    # (apart from the hot_sum rows below: one loop branching on the width
                    # took 3-10 % longer on 10 classes)
                    hot_block = hot[start * width : (start + n) * width]
                    # (rows in groups of 16, then one at a time: in one loop, branching on
                    # the row, 1.1x as long)
                    whole = n - n % _VECTOR_ROW if width <= _GROUPED_TARGETS else 0
                    for group in range(0, whole, _VECTOR_ROW):
                        for r in range(group, group + _VECTOR_ROW):
                            # (the next chunk's rows: 1e6 rows of 10 classes, 4.3-4.6 -> 4.0-4.4
                            # ms)
                            fetch(flat, (start + n + r) * width)
                            fetch(hot, (start + n + r) * width)
                        if not rows_targets(hot_block, block, group * width, width, weight,
                                            target, group):
                            return 0.0, False  # a row that is not one-hot
                        rows_sums(terms, group * width, width, sums, group)
                    for r in range(whole, n):
                        fetch(flat, (start + n + r) * width)
                        fetch(hot, (start + n + r) * width)
                        position = hot_position(hot_block, r * width, width)
                        if position < 0:
                            return 0.0, False  # a row that is not one-hot
                        sums[r] = vector_sum(terms, r * width, width)
                        weight[r] = hot_block[r * width + position]
                        target[r] = block[r * width + position]
                elif one_hot and sweep == 0:
                    hot_block = hot[start * width : (start + n) * width]
                    for r in range(n):
                        sums[r], count, position = hot_sum(terms[r * width : (r + 1) * width],
                                                           hot_block[r * width : (r + 1) * width])
                        if count != 1:
                            return 0.0, False  # a row that is not one-hot
                        weight[r] = hot_block[r * width + position]
                        target[r] = block[r * width + position]
                elif width <= vector_row:
                    whole = n - n % _VECTOR_ROW
                    for group in range(0, whole, _VECTOR_ROW):
                        for r in range(group, group + _VECTOR_ROW):
                            # (the next chunk's rows and labels: 1e6 rows of 10 classes, 4.0-4.1
                            # -> 3.3-3.7 ms; wider rows' loops, asking for each line, took 5-20 %
                            # longer)
                            fetch(flat, (start + n + r) * width)
                            fetch(y_true, start + n + r)
                        rows_sums(terms, group * width, width, sums, group)
                    for r in range(whole, n):
                        fetch(flat, (start + n + r) * width)
                        fetch(y_true, start + n + r)
                        sums[r] = vector_sum(terms, r * width, width)
                elif width >= _WINDOWED_BELOW:
                    for r in range(n):
                        sums[r] = narrow_sum(terms[r * width : (r + 1) * width])
                else:
                    row_sums(terms, width, n, sums, first, second)
                if sweep == 0:
                    for r in range(n):  # (a loop of its own: in the one above it slows the sums)
                        shifted |= not smallest <= sums[r] <= largest  # (NaN too)
            if logs_of_products and not shifted and out.size != rows:  # a reduced loss
                units = True
                if one_hot:  # (labels' weights are 1)
                    for r in range(n):
                        units &= weight[r] == 1
                if units:
                    total += unshifted_sum(sums, target, n, subtracted, gaps)
                    continue
            if shifted:
                for r in range(n):
                    values[r] = weight[r] * (log(kind(sums[r])) - (target[r] - shift[r]))
            else:
                dominated = False
                for r in range(n):
                    gaps[r] = log64(sums[r]) - np.float64(target[r])
                    dominated |= gaps[r] < _DOMINATED
                if dominated:  # (a loop of its own: in the one above it stops the vectors)
                    for r in range(n):
                        # e_c = exp(z_c) is nearly the whole sum: its rounding, log(e_c) - z_c,
                        # would be most of the value (or make it negative); log(sum / e_c) is not
                        z = np.float64(target[r])
                        exact = gaps[r] + (z - log64(np.float64(exp(target[r]))))
                        gaps[r] = exact if gaps[r] < _DOMINATED else gaps[r]
                for r in range(n):
                    values[r] = weight[r] * kind(gaps[r])
            total += add_chunk(values, n, out, start, rows)
        return total, True

    return compile(kernel)


def _sparse_logits(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _logits_kernel(dtype, False)


def _onehot_logits(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _logits_kernel(dtype, True)


def _finite_sparse_logits(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _logits_kernel(dtype, False, finite=True)


# --------------------------------------------------------------------------
# Categorical cross-entropy from probabilities, one-hot targets:
# -y_c log clip(p_c / sum_k p_k).


@functools.cache
def _hot_vector_row(dtype: np.dtype) -> Callable[[np.ndarray, np.ndarray, int, int], tuple[int, Any]]:
    """Compiled ``hot_vector_row(flat_y, flat_p, first, width)``: a narrow one-hot row's target
    position (-1 if not one-hot) and the sum of its predictions, each read in one vector register
    (`_vector_hot_position`, `_vector_row_sum`), with the next rows' lines requested 4 KiB ahead.

    Categorical cross-entropy and categorical focal cross-entropy on float32 probabilities read
    their rows of up to `_VECTOR_ROW` classes this way (1e6 rows of 10 classes, two threads:
    the requests alone took 3.8-4.0 -> 2.7 ms).
    """
    vector_sum, hot_position = _vector_row_sum(), _vector_hot_position()
    fetch, (ahead, _) = prefetch(), prefetch_steps(dtype)

    def hot_vector_row(flat_y: np.ndarray, flat_p: np.ndarray, first: int, width: int,
                       ) -> tuple[int, Any]:
        fetch(flat_y, first + ahead)
        fetch(flat_p, first + ahead)
        position = hot_position(flat_y, first, width)
        return position, vector_sum(flat_p, first, width)

    return compile(hot_vector_row, inline=True)


def _rescaled_probabilities(dtype: np.dtype, one_hot: bool, reciprocal: bool = False,
                            ) -> Callable[..., tuple[float, bool]]:
    """The fused kernel of categorical cross-entropy on probabilities: one pass over the rows.

    Each row's value is ``-y_c log(clip(p_c / sum_k p_k))``, c its target:
    with `one_hot`, the row's one nonzero target y_c (found as in
    `_one_hot_target`: in lanes; narrow rows with their sum,
    `_narrow_hot_sum`); else its label (``y_c = 1``: sparse categorical
    cross-entropy as JAX, PyTorch and NumPy take it), checked as
    `_row_targets` checks labels. The row sum is added in float64 and
    rounded to the dtype; float32 rows of up to `_VECTOR_ROW` classes are
    read in one vector register instead (`_vector_hot_position`), their sum
    a float32 tree (`_vector_row_sum`: within 4 ulp, as TensorFlow's own;
    1e6 rows of 10 one-hot classes, 8.5 -> 3.8 ms). The division (with
    `reciprocal`, JAX's product with the sum's reciprocal, rounded to the
    dtype), the clip and the log are in the dtype (TensorFlow's log in
    float32). Rows that are not one-hot, or whose sum is 0, inf, NaN or
    below sqrt(tiny) (`crossentropy_kernels._unusable_sums`), make the
    kernel decline the block. (TensorFlow and JAX read subnormals as 0, the
    others keep them: beside a sum of at least sqrt(tiny) a subnormal's
    quotient is below any clip bound the kernels take, so each gives the
    same value.)
    """
    kind = np.dtype(dtype).type
    one = kind(1)
    log = _logs(dtype)
    lane_sum, add_chunk = float64_sum(), chunk_adder()
    info = np.finfo(dtype)
    largest, smallest = kind(info.max), kind(np.sqrt(info.tiny))

    def wide_stats(y: np.ndarray, p: np.ndarray, lanes: int, acc: np.ndarray,
                   ) -> tuple[int, int, float]:
        # The nonzero targets' count and the sum of their positions (integer sums: vectorised,
        # exact), and the predictions' sum in lanes; the target itself is read afterwards.
        # Predictions k and k + lanes of each 2 * lanes are added in the dtype first: one
        # rounding, 2**-24 of the sum of their magnitudes, before the sum is itself rounded to
        # the dtype (Keras' own float32 sum rounds more). In cache, 1000 classes: 0.39 -> 0.20
        # ns an element with both changes. (`_narrow_hot_sum`'s one reordered loop, as sparse
        # CCE now sums its rows, was no faster here from memory: 0.8-1.2x from 128 to 32000
        # classes.)
        width = y.size
        acc[:] = 0.0
        count = 0
        key = 0
        span = 2 * lanes
        paired = width - width % span
        for c in range(paired // span):
            first = c * span
            y0, y1 = y[first : first + lanes], y[first + lanes : first + span]
            p0, p1 = p[first : first + lanes], p[first + lanes : first + span]
            for k in range(lanes):
                nonzero, second = y0[k] != 0, y1[k] != 0
                count += nonzero + second
                key += (first + k if nonzero else 0) + (first + lanes + k if second else 0)
                acc[k] += np.float64(p0[k] + p1[k])
        for c in range((width - paired + lanes - 1) // lanes):
            first = paired + c * lanes
            y_part = y[first : min(first + lanes, width)]
            p_part = p[first : min(first + lanes, width)]
            for k in range(y_part.size):
                nonzero = y_part[k] != 0
                count += nonzero
                key += first + k if nonzero else 0
                acc[k] += np.float64(p_part[k])
        return count, key, lane_sum(acc, lanes)

    stats, hot_sum = compile(wide_stats, inline=True), _narrow_hot_sum()
    summed, narrow_sum, outside = lanes_sum(), _narrow_sum(), _outside()
    vector_sum, hot_row = _vector_row_sum(), _hot_vector_row(dtype)
    vector_row = _VECTOR_ROW if np.dtype(dtype) == np.float32 else 0
    fetch, (ahead, _) = prefetch(), prefetch_steps(dtype)

    def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = y_pred.shape
        lanes, low, high = int(constants[0]), constants[1], constants[2]
        wide = width >= _LANE_ROW  # (see `_sparse_probabilities`)
        chunk = max(1, min(CHUNK_ROWS, _CHUNK // width))  # rows per chunk
        target = np.empty(chunk, y_pred.dtype)
        weight = np.empty(chunk, y_pred.dtype)
        sums = np.empty(chunk, y_pred.dtype)
        values = np.empty(chunk, y_pred.dtype)
        acc = np.empty(lanes)
        flat_y, flat_p = y_true.reshape(-1), y_pred.reshape(-1)
        total = 0.0
        for part in range((rows + chunk - 1) // chunk):
            start = part * chunk
            n = min(chunk, rows - start)
            if not one_hot:  # labels: each row's sum, and its label's probability
                if outside(y_true[start : start + n], width):
                    return 0.0, False
                for r in range(n):
                    first = (start + r) * width
                    if width <= vector_row:  # (prefetched as `_sparse_probabilities`)
                        fetch(flat_p, first + ahead)
                        fetch(y_true, start + r + ahead)
                        sums[r] = vector_sum(flat_p, first, width)
                    else:
                        row = flat_p[first : first + width]
                        sums[r] = summed(row, lanes, acc) if wide else narrow_sum(row)
                    target[r] = flat_p[first + y_true[start + r]]
                    weight[r] = one
            elif wide:
                for r in range(n):
                    count, key, p_sum = stats(y_true[start + r], y_pred[start + r], lanes, acc)
                    if count != 1 or not abs(y_true[start + r, key]) <= largest:
                        return 0.0, False  # not one-hot (or an infinite or NaN target)
                    target[r] = y_pred[start + r, key]
                    weight[r] = y_true[start + r, key]
                    sums[r] = p_sum  # rounded to the dtype
            elif width <= vector_row:  # each row's nonzero target and sum, in one vector each
                for r in range(n):
                    first = (start + r) * width
                    position, sums[r] = hot_row(flat_y, flat_p, first, width)
                    if position < 0:
                        return 0.0, False  # not one-hot
                    target[r] = flat_p[first + position]
                    weight[r] = flat_y[first + position]
            else:  # each row's nonzero target, and its row sum
                y_block = flat_y[start * width : (start + n) * width]
                p_block = flat_p[start * width : (start + n) * width]
                for r in range(n):
                    p_sum, count, position = hot_sum(p_block[r * width : (r + 1) * width],
                                                     y_block[r * width : (r + 1) * width])
                    if count != 1:
                        return 0.0, False  # not one-hot
                    sums[r] = p_sum  # rounded to the dtype
                    target[r] = p_block[r * width + position]
                    weight[r] = y_block[r * width + position]
            for r in range(n):
                size = abs(sums[r])
                if not smallest <= size <= largest:
                    return 0.0, False
            for r in range(n):
                ratio = target[r] * (one / sums[r]) if reciprocal else target[r] / sums[r]
                ratio = low if ratio < low else ratio  # (never NaN here)
                ratio = high if ratio > high else ratio
                values[r] = -(weight[r] * log(ratio))
            total += add_chunk(values, n, out, start, rows)
        return total, True

    return compile(kernel)


def _onehot_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _rescaled_probabilities(dtype, one_hot=True)


def _onehot_reciprocal_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _rescaled_probabilities(dtype, one_hot=True, reciprocal=True)


def _labelled_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _rescaled_probabilities(dtype, one_hot=False)


def _labelled_reciprocal_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _rescaled_probabilities(dtype, one_hot=False, reciprocal=True)


# --------------------------------------------------------------------------
# Sparse categorical cross-entropy from probabilities: log(sum_k clip(p_k) / clip(p_y)).


def _clipped_row_sum(row: np.ndarray, low: Any, high: Any) -> float:
    total = 0.0
    for k in range(row.size):
        v = row[k]
        v = low if v < low else v  # np.clip: NaN stays NaN
        total += np.float64(high if v > high else v)
    return total


def _row_sum(row: np.ndarray) -> float:
    total = 0.0
    for k in range(row.size):
        total += np.float64(row[k])
    return total


@functools.cache
def _narrow_sum() -> Callable[[np.ndarray], float]:
    """Compiled: the float64 sum of a narrow row, in any order (see `_narrow_clipped_sum`).

    For rows of fewer than 128 values, whose sums are used in the dtype: in
    any order the float64 sum is within a few float64 ulp of the sum of the
    values' magnitudes (of the sum itself for exps and probabilities), far
    within what Keras' own sum in the dtype rounds.
    """
    return compile(_row_sum, reassociate=True)


def _hot_row_sum(terms: np.ndarray, y: np.ndarray) -> tuple[float, int, int]:
    total, count, position = 0.0, 0, 0
    for k in range(terms.size):
        total += np.float64(terms[k])
        nonzero = y[k] != 0
        count += nonzero
        position += k if nonzero else 0
    return total, count, position


@functools.cache
def _narrow_hot_sum() -> Callable[[np.ndarray, np.ndarray], tuple[float, int, int]]:
    """Compiled: a narrow row's float64 sum of terms, in any order (`_narrow_sum`), and of its
    one-hot targets the number that are nonzero and the sum of their positions.

    With one nonzero target, the sum of positions is its position (integer
    sums, exact in any order). One loop over the row for the three sums: the
    cost of a narrow row is in finishing each sum across the vector lanes,
    which one loop shares (in cache, one-hot logits rows of 10 / 40 / 100
    classes: 13.1 / 39.0 / 88.9 -> 11.9 / 28.6 / 51.8 ns a row, against a
    vectorised map of keys summed by `_row_sums`' windows).
    """
    return compile(_hot_row_sum, reassociate=True)


@functools.cache
def _clipped_sum() -> Callable[[np.ndarray, Any, Any], float]:
    """Compiled: the float64 sum of a row's values clipped to [low, high], in any order.

    Reordered so that the compiler vectorises it across the row (a row of 40
    float32 values 2.3x faster than in order): the values lie in [low, high],
    within (0, 1), and there are at most 2**15 (`_sparse_probabilities`'
    rows), so any order rounds the sum by at most 2**15 float64 ulp of
    itself (4e-12 relative), far below the dtype's rounding.
    """
    return compile(_clipped_row_sum, reassociate=True)


def _sparse_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    """The fused sparse kernel on probabilities: the clipped row sum over the clipped target.

    The rows the numpy kernel takes this way (clipped sums in [1/2, 2], rows
    of at most `crossentropy_kernels._NEAR_ONE_WIDTH` classes, see there);
    a block with any other row, or a label outside [0, K), is declined. The
    sum (added in float64) is rounded to the dtype, then divided and its log
    taken there, as the numpy kernel does (in float32 the log is
    TensorFlow's own): the sum's, the division's and the log's roundings
    are 3 of the 4 ulp `_NEAR_ONE_WIDTH`'s bound allows. (In float64, 1e6
    rows of 10 classes took 8-14% longer.) Every row's sum is one reordered
    loop (`_clipped_sum`), which the compiler vectorises: from memory, on
    2.5e7 values in one thread, 1.2x faster at 1000 and 4000 classes and
    1.4x at 128 than float64 lanes fed with pairs of values added in the
    dtype (an Intel Xeon with AVX-512, 2026); float32 rows of up to
    `_VECTOR_ROW` values are summed in one vector register instead
    (`_vector_clipped_sum`).
    """
    kind = np.dtype(dtype).type
    log = _logs(dtype)
    add_chunk, outside, clipped_sum = chunk_adder(), _outside(), _clipped_sum()
    vector_sum = _vector_clipped_sum()
    vector_row = _VECTOR_ROW if np.dtype(dtype) == np.float32 else 0
    fetch, (ahead, _) = prefetch(), prefetch_steps(dtype)

    def kernel(labels: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = y_pred.shape
        low, high = constants[0], constants[1]
        chunk = max(1, min(CHUNK_ROWS, _CHUNK // width))  # rows per chunk
        ratio = np.empty(chunk)
        target = np.empty(chunk, y_pred.dtype)
        values = np.empty(chunk, y_pred.dtype)
        flat = y_pred.reshape(-1)
        total = 0.0
        for part in range((rows + chunk - 1) // chunk):
            start = part * chunk
            n = min(chunk, rows - start)
            if outside(labels[start : start + n], width):
                return 0.0, False
            for r in range(n):  # each row's clipped sum, then its clipped target
                row = flat[(start + r) * width : (start + r + 1) * width]
                if width <= vector_row:
                    # the lines PREFETCH_AHEAD on, one a row (1e6 rows of 10 classes, two
                    # threads: 3.5-3.6 -> 2.9-3.0 ms; rows of 1000, 1.03x slower: not there)
                    fetch(flat, (start + r) * width + ahead)
                    fetch(labels, start + r + ahead)
                    ratio[r] = vector_sum(flat, (start + r) * width, width, low, high)
                else:
                    ratio[r] = clipped_sum(row, low, high)
                v = row[labels[start + r]]
                v = low if v < low else v
                target[r] = high if v > high else v
            usable = True  # then the checks, divisions and logs in one vectorised loop
            for r in range(n):
                usable &= 0.5 <= ratio[r] <= 2.0
                values[r] = log(kind(ratio[r]) / target[r])
            if not usable:
                return 0.0, False  # TensorFlow's own formula: the numpy kernel's
            total += add_chunk(values, n, out, start, rows)
        return total, True

    return compile(kernel)


def _wide_sparse_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    """The fused sparse kernel on probabilities for rows wider than `_NEAR_ONE_WIDTH`: TF's formula.

    TensorFlow takes the log of each clipped probability, shifts the row's
    logs by their max and returns log(sum exp(shifted)) - shifted_c (its
    softmax cross-entropy on the logs); the rounding of each float32 log is
    part of its value, which `_NEAR_ONE_WIDTH` bounds. Here, as numpy's
    column chunks compute it (`crossentropy_kernels._wide_log_softmax`):
    each log is TensorFlow's own (Eigen's, bit for bit in float32), the exps
    of the shifted logs are added in float64, and the last log and
    subtraction are in the dtype. The shift is the log of the row's largest
    clipped probability, read in a first pass (the row is read twice, not
    its logs kept: the log is increasing, and a shift an ulp off moves no
    value beyond its roundings). Per row two passes, each a vectorised map;
    a block whose labels leave [0, K) is declined. The engine gives the
    block holding TensorFlow's scalar log tail (the tensor's last
    ``size % 8`` logs, libm's) to numpy's kernel (``packet=8``).
    """
    kind = np.dtype(dtype).type
    tf_log, exp = tensorflow_log(dtype), fast_exp(dtype)
    lane_sum, add_chunk, outside = float64_sum(), chunk_adder(), _outside()
    lanes_max = row_max()

    def shifted_exps(row: np.ndarray, low: Any, high: Any, top: Any, lanes: int,
                     acc: np.ndarray) -> float:
        acc[:] = 0.0
        width = row.size
        for c in range((width + lanes - 1) // lanes):
            part = row[c * lanes : min((c + 1) * lanes, width)]
            for k in range(part.size):
                v = part[k]
                v = low if v < low else v  # np.clip: NaN stays NaN
                v = high if v > high else v
                acc[k] += np.float64(exp(tf_log(v) - top))
        return lane_sum(acc, lanes)

    row_exps = compile(shifted_exps, inline=True)

    def kernel(labels: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = y_pred.shape
        lanes, low, high = int(constants[0]), constants[1], constants[2]
        if outside(labels, width):
            return 0.0, False
        chunk = min(rows, CHUNK_ROWS)
        values = np.empty(chunk, y_pred.dtype)
        acc = np.empty(lanes)
        maxima = np.empty(lanes, y_pred.dtype)
        total = 0.0
        for part in range((rows + chunk - 1) // chunk):
            start = part * chunk
            n = min(chunk, rows - start)
            for r in range(n):
                row = y_pred[start + r]
                best = lanes_max(row, lanes, maxima)  # (a NaN: the sum below is NaN)
                best = low if best < low else best
                top = tf_log(high if best > high else best)
                v = row[labels[start + r]]
                v = low if v < low else v
                target = tf_log(high if v > high else v) - top
                values[r] = np.log(kind(row_exps(row, low, high, top, lanes, acc))) - target
            total += add_chunk(values, n, out, start, rows)
        return total, True

    return compile(kernel)


def fused_sparse_probabilities(near_one_width: int) -> Fused:
    """Sparse cross-entropy on probabilities, for rows of at most `near_one_width` classes."""
    def options(job: Any) -> tuple[float, ...] | None:
        return None if job.width > near_one_width else (job.low, job.high)

    return Fused(_sparse_probabilities, options=options)


# --------------------------------------------------------------------------
# Two classes: TensorFlow's max shift leaves the logits 0 and -|d|, d = z1 - z0
# (see `crossentropy_kernels._two_class_logits`): maps over the rows.


def _exp_gap(dtype: np.dtype) -> Callable[..., Any]:
    """Compiled (exp(-|d|), max(d, 0), max(-d, 0)) of a row's logits, d = z1 - z0."""
    exp = fast_exp(dtype)
    zero = np.dtype(dtype).type(0)

    def gap(z0: Any, z1: Any) -> tuple[Any, Any, Any]:
        d = z1 - z0
        magnitude = d if d >= zero else -d
        # (a NaN d gives zeros here, and a NaN exp)
        return exp(-magnitude), (d if d > zero else zero), (-d if d < zero else zero)

    return compile(gap, inline=True)


def _softplus_gap(dtype: np.dtype) -> Callable[..., Any]:
    """Compiled (L, max(d, 0), max(-d, 0)) of a row's logits, L = log1p(exp(-|d|)), d = z1 - z0."""
    exp_gap, log1p = _exp_gap(dtype), log1p_unit(dtype)

    def gap(z0: Any, z1: Any) -> tuple[Any, Any, Any]:
        e, first, second = exp_gap(z0, z1)
        return log1p(e), first, second

    return compile(gap, inline=True)


def _two_class_sparse_logits_parts(dtype: np.dtype) -> Callable[..., tuple[Any, Any]]:
    """`_log_products`' parts of a row of two logits and its label: (max(d, 0) or max(-d, 0), exp(-|d|)).

    NaN for a +inf logit (TensorFlow's inf - inf) or a label other than 0 or 1, which
    `_two_class_sparse_logits` declines.
    """
    gap = _exp_gap(dtype)
    kind = np.dtype(dtype).type
    infinity, nan = kind(np.inf), kind(np.nan)

    def parts(label: Any, z0: Any, z1: Any, options: tuple[Any, ...]) -> tuple[Any, Any]:
        e, first, second = gap(z0, z1)
        a = first if label == 0 else second
        declined = (z0 == infinity) | (z1 == infinity) | (label != 0) & (label != 1)
        return (nan if declined else a), e

    return parts


def _two_class_sparse_logits(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    """K = 2 from logits and labels: class 0 costs L + max(d, 0), class 1 L + max(-d, 0).

    Blocks with a +inf logit (TensorFlow's inf - inf), or a label other than 0 or 1, are declined.
    """
    gap = _softplus_gap(dtype)
    infinity = np.dtype(dtype).type(np.inf)
    lane_sum, outside = float64_sum(), _outside()

    def kernel(labels: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows = y_pred.shape[0]
        buffer = np.empty(min(rows, _CHUNK), y_pred.dtype)
        infinite, total = False, 0.0
        for start in range(0, rows, _CHUNK):  # a chunk of rows at a time into a buffer in cache
            n = min(_CHUNK, rows - start)
            values = out[start : start + n] if out.size == rows else buffer[:n]
            # (flat indices: 2-d ones keep the loop from being vectorised)
            z, label = y_pred[start : start + n].reshape(-1), labels[start : start + n]
            if outside(label, 2):
                return 0.0, False
            for i in range(n):
                z0, z1 = z[2 * i], z[2 * i + 1]
                infinite |= (z0 == infinity) | (z1 == infinity)
                softplus, first, second = gap(z0, z1)
                values[i] = softplus + (first if label[i] == 0 else second)
            total += lane_sum(values, n)
        if infinite:
            return 0.0, False
        return total, True

    return compile(kernel)


def _two_class_logits(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    """K = 2 from logits and any targets (smoothed too): y0 (L + max(d, 0)) + y1 (L + max(-d, 0))."""
    gap = _softplus_gap(dtype)
    infinity = np.dtype(dtype).type(np.inf)
    lane_sum = float64_sum()

    def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows = y_pred.shape[0]
        buffer = np.empty(min(rows, _CHUNK), y_pred.dtype)
        scale, shift = constants[1], constants[2]  # y 1 + 0 = y without smoothing
        infinite, total = False, 0.0
        for start in range(0, rows, _CHUNK):
            n = min(_CHUNK, rows - start)
            values = out[start : start + n] if out.size == rows else buffer[:n]
            y, z = y_true[start : start + n].reshape(-1), y_pred[start : start + n].reshape(-1)
            for i in range(n):
                z0, z1 = z[2 * i], z[2 * i + 1]
                infinite |= (z0 == infinity) | (z1 == infinity)
                softplus, first, second = gap(z0, z1)
                y0, y1 = y[2 * i] * scale + shift, y[2 * i + 1] * scale + shift
                values[i] = (softplus + first) * y0 + (softplus + second) * y1
            total += lane_sum(values, n)
        if infinite:
            return 0.0, False
        return total, True

    return compile(kernel)


def _two_class_sparse_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    """K = 2 on probabilities and labels: `_sparse_probabilities` as one map over the rows.

    Blocks with a label other than 0 or 1 are declined.
    """
    kind = np.dtype(dtype).type
    log = float64_log()
    lane_sum, outside = float64_sum(), _outside()

    def kernel(labels: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows = y_pred.shape[0]
        buffer = np.empty(min(rows, _CHUNK), y_pred.dtype)
        low, high = constants[1], constants[2]
        unusable, total = False, 0.0
        for start in range(0, rows, _CHUNK):
            n = min(_CHUNK, rows - start)
            values = out[start : start + n] if out.size == rows else buffer[:n]
            p, label = y_pred[start : start + n].reshape(-1), labels[start : start + n]
            if outside(label, 2):
                return 0.0, False
            for i in range(n):
                c0, c1 = p[2 * i], p[2 * i + 1]
                c0 = low if c0 < low else c0  # np.clip: NaN stays NaN
                c0 = high if c0 > high else c0
                c1 = low if c1 < low else c1
                c1 = high if c1 > high else c1
                row_sum = np.float64(c0) + np.float64(c1)
                unusable |= not 0.5 <= row_sum <= 2.0
                values[i] = kind(log(row_sum / np.float64(c0 if label[i] == 0 else c1)))
            total += lane_sum(values, n)
        if unusable:
            return 0.0, False  # TensorFlow's own formula: the numpy kernel's
        return total, True

    return compile(kernel)


def _two_class_rescaled(dtype: np.dtype, reciprocal: bool, labelled: bool = False,
                        ) -> Callable[..., tuple[float, bool]]:
    """K = 2 on probabilities: -(y0 log clip(p0 / s) + y1 log clip(p1 / s)), s = p0 + p1, in the dtype.

    TensorFlow's own operations in its order (its log bit for bit), which
    PyTorch and NumPy take too; with `reciprocal`, JAX's p * (1 / s). With
    `labelled`, labels (checked as `_row_targets` checks them) give y1 = the
    label and y0 = 1 - y1: sparse categorical cross-entropy as JAX, PyTorch
    and NumPy take it (the other class's clipped log times 0 adds -0.0, which
    changes no value). Rows whose sum is 0, inf, NaN or below sqrt(tiny)
    make the kernel decline (for subnormals, see `_rescaled_probabilities`).
    """
    kind = np.dtype(dtype).type
    one = kind(1)
    log = _logs(dtype)
    lane_sum, outside = float64_sum(), _outside()
    info = np.finfo(dtype)
    zero, largest, smallest = kind(0), kind(info.max), kind(np.sqrt(info.tiny))

    def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows = y_pred.shape[0]
        buffer = np.empty(min(rows, _CHUNK), y_pred.dtype)
        low, high, scale, shift = constants[1], constants[2], constants[3], constants[4]
        unusable, total = False, 0.0
        for start in range(0, rows, _CHUNK):
            n = min(_CHUNK, rows - start)
            values = out[start : start + n] if out.size == rows else buffer[:n]
            y, p = y_true[start : start + n].reshape(-1), y_pred[start : start + n].reshape(-1)
            if labelled and outside(y, 2):
                return 0.0, False
            for i in range(n):
                p0, p1 = p[2 * i], p[2 * i + 1]
                s = p0 + p1
                size = s if s >= zero else -s
                unusable |= not (smallest <= size <= largest)
                if reciprocal:
                    inverse = one / s
                    r0, r1 = p0 * inverse, p1 * inverse
                else:
                    r0, r1 = p0 / s, p1 / s
                r0 = low if r0 < low else r0
                r0 = high if r0 > high else r0
                r1 = low if r1 < low else r1
                r1 = high if r1 > high else r1
                if labelled:
                    y1 = kind(y[i])
                    y0 = one - y1
                else:
                    y0, y1 = y[2 * i] * scale + shift, y[2 * i + 1] * scale + shift
                values[i] = -(log(r0) * y0 + log(r1) * y1)
            total += lane_sum(values, n)
        if unusable:
            return 0.0, False
        return total, True

    return compile(kernel)


def _two_class_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _two_class_rescaled(dtype, reciprocal=False)


def _two_class_reciprocal_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _two_class_rescaled(dtype, reciprocal=True)


def _two_class_labelled_probabilities(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    return _two_class_rescaled(dtype, reciprocal=False, labelled=True)


def _two_class_labelled_reciprocal_probabilities(dtype: np.dtype,
                                                 ) -> Callable[..., tuple[float, bool]]:
    return _two_class_rescaled(dtype, reciprocal=True, labelled=True)


#: The widest rows the logits kernels take: they keep a row's exps (4 MiB of float32),
#: and numpy's column chunks take wider ones (`crossentropy_kernels._wide_log_softmax`).
_WIDEST_LOGITS = 2**20


def _logits_options(job: Any) -> tuple[float, ...] | None:
    return None if job.width > _WIDEST_LOGITS else (_LANES,)


#: Categorical cross-entropy (one-hot targets), by `from_logits`.
FUSED_CATEGORICAL = {False: Fused(_onehot_probabilities, options=_clipped),
                     True: Fused(_onehot_logits, options=lambda job: None if job.label_smoothing
                                 else _logits_options(job))}
#: Sparse categorical cross-entropy from logits (probabilities: `fused_sparse_probabilities`).
FUSED_SPARSE = Fused(_sparse_logits, options=_logits_options)
#: Categorical and sparse categorical cross-entropy off TensorFlow, by (backend, from_logits).
#: From logits: log_softmax, then the target's (PyTorch gathers a label's, as TensorFlow
#: does; JAX and NumPy contract a one-hot row with it, so a -inf anywhere in the row is NaN,
#: which the kernel leaves to numpy's). From probabilities: the row rescaled by its sum
#: (JAX multiplies by the sum's reciprocal), clipped, and the target's log; a clipped log
#: is finite, so every backend's pick of it gives it. Label smoothing's rows are not
#: one-hot: numpy's kernel (TensorFlow's semantics, `FUSED_CATEGORICAL`, otherwise).
FUSED_CATEGORICAL_ON = {
    ("jax", False): Fused(_onehot_reciprocal_probabilities, options=_clipped),
    ("torch", False): FUSED_CATEGORICAL[False],
    **{(backend, True): FUSED_CATEGORICAL[True] for backend in ("jax", "torch", "numpy")},
}
FUSED_CATEGORICAL_ON["numpy", False] = FUSED_CATEGORICAL_ON["torch", False]
FUSED_SPARSE_ON = {
    ("jax", False): Fused(_labelled_reciprocal_probabilities, options=_clipped),
    ("torch", False): Fused(_labelled_probabilities, options=_clipped),
    ("jax", True): Fused(_finite_sparse_logits, options=_logits_options),
    ("torch", True): FUSED_SPARSE,
}
FUSED_SPARSE_ON["numpy", False] = FUSED_SPARSE_ON["torch", False]
FUSED_SPARSE_ON["numpy", True] = FUSED_SPARSE_ON["jax", True]
#: Sparse categorical cross-entropy on probabilities, rows wider than `_NEAR_ONE_WIDTH`.
FUSED_WIDE_SPARSE = Fused(_wide_sparse_probabilities,
                          options=lambda job: (_LANES, job.low, job.high))
#: Two-class categorical cross-entropy (any targets, label smoothing too), by `from_logits`.
FUSED_TWO_CLASS_CATEGORICAL = {
    False: Fused(_two_class_probabilities, options=_two_class_options),
    True: Fused(_two_class_logits, options=lambda job: (_LANES, *_categorical_smoothing(job))),
}
#: The same from probabilities off TensorFlow, by backend (PyTorch and NumPy divide as
#: TensorFlow does, JAX multiplies by the sum's reciprocal; these backends' label smoothing
#: keeps numpy's kernel, `FUSED_CATEGORICAL_ON`).
FUSED_TWO_CLASS_CATEGORICAL_ON = {
    "jax": Fused(_two_class_reciprocal_probabilities, options=_two_class_options),
    "torch": FUSED_TWO_CLASS_CATEGORICAL[False],
    "numpy": FUSED_TWO_CLASS_CATEGORICAL[False],
}
#: Two-class sparse categorical cross-entropy from probabilities off TensorFlow, by backend:
#: the same kernel, reading labels (TensorFlow's own renormalises otherwise,
#: `FUSED_TWO_CLASS_SPARSE`).
FUSED_TWO_CLASS_SPARSE_ON = {
    "jax": Fused(_two_class_labelled_reciprocal_probabilities, options=_two_class_options),
    "torch": Fused(_two_class_labelled_probabilities, options=_two_class_options),
}
FUSED_TWO_CLASS_SPARSE_ON["numpy"] = FUSED_TWO_CLASS_SPARSE_ON["torch"]
#: Two-class sparse categorical cross-entropy, by `from_logits`.
FUSED_TWO_CLASS_SPARSE = {False: Fused(_two_class_sparse_probabilities, options=_clipped),
                          True: Fused(_log_products(_two_class_sparse_logits,
                                                    _two_class_sparse_logits_parts, sign=1.0,
                                                    offset=1.0, buffered=True, width=2),
                                      options=lambda job: _options())}


# --------------------------------------------------------------------------
# Focal losses and the generalized cross-entropy (families/focal.py): the
# same passes, with the focal factor (1 - p_t)**gamma or the power p**q.


def _power(dtype: np.dtype, square: bool) -> Callable[[Any, Any], Any]:
    """Compiled b**e as np.power takes it: b * b for e = 2 (`square`, numpy's own shortcut);
    otherwise exp(e log b) in float64, rounded (0**e = 0, b**0 = 1)."""
    kind = np.dtype(dtype).type
    zero, one = kind(0), kind(1)
    if square:
        def power(b: Any, exponent: Any) -> Any:
            return b * b
    else:
        exp64, log64 = fast_exp(np.dtype(np.float64)), float64_log()

        def power(b: Any, exponent: Any) -> Any:
            value = kind(exp64(np.float64(exponent) * log64(np.float64(b))))
            value = zero if b == zero else value
            return one if exponent == zero else value
    return compile(power, inline=True)


def _binary_focal_term(from_logits: bool, square: bool, one_log: bool = False,
                       ) -> Callable[[np.dtype], Callable[..., Any]]:
    """Keras' binary focal term on TensorFlow, for `_elementwise`.

    Options: clip bounds, smoothing's scale and shift (`_binary_smoothing`),
    gamma, the class weights alpha and 1 - alpha, and whether to weigh. From
    logits, p is TensorFlow's sigmoid e / (1 + e) (1 for a huge e) and the
    cross-entropy its logits formula; from probabilities, both clipped logs,
    or with `one_log` (`_elementwise`'s quick term) the log of the one that
    a target of 0 or 1 keeps, and NaN for other targets: TensorFlow's sum
    y (-log c) + (1 - y) (-log(1 - c)) adds a zero to it (both logs are
    finite: c is clipped), so the term is the same to the bit.
    """
    def term_of(dtype: np.dtype) -> Callable[..., Any]:
        log, exp, log1p = _logs(dtype), fast_exp(dtype), log1p_unit(dtype)
        power = _power(dtype, square)
        kind = np.dtype(dtype).type
        zero, one, nan = kind(0), kind(1), kind(np.nan)

        def term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
            low, high, scale, shift, gamma, alpha, beta, weighted = options
            # NaN for a target (or a probability) outside [0, 1], which the plan rejects: the
            # kernel declines the block, and numpy's kernel raises
            outside = (y < zero or y > one) or (not from_logits and (p < zero or p > one))
            y = y * scale + shift  # label smoothing (y 1 + 0 = y without)
            if from_logits:
                e = exp(p)
                probability = e / (one + e)
                relu = p if (p >= zero or p != p) else zero
                magnitude = p if p >= zero else -p
                cross_entropy = (relu - p * y) + log1p(exp(-magnitude))
            else:
                probability = p
                clipped = low if p < low else p
                clipped = high if clipped > high else clipped
                if one_log:
                    cross_entropy = -log(clipped if y == one else one - clipped)
                    cross_entropy = cross_entropy if (y == one or y == zero) else nan
                else:
                    cross_entropy = y * -log(clipped) + (one - y) * -log(one - clipped)
            p_t = y * probability + (one - y) * (one - probability)
            focal = power(one - p_t, gamma) * cross_entropy
            balanced = (y * alpha + (one - y) * beta) * focal
            return nan if outside else (focal if weighted == zero else balanced)

        return term

    return term_of


#: Binary focal cross-entropy, by `from_logits` and gamma = 2. From probabilities, targets of
#: 0 and 1 take one log a term (10**7 terms: 13 -> 11 ms).
_BINARY_FOCAL = {(logits, square): Fused(_elementwise(
    _binary_focal_term(logits, square),
    None if logits else _binary_focal_term(logits, square, one_log=True)))
    for logits in (False, True) for square in (False, True)}


def fused_binary_focal(dtype: np.dtype, *, from_logits: bool, gamma: float, alpha: float,
                       apply_class_balancing: bool, label_smoothing: float,
                       epsilon: float) -> Fused:
    """Binary focal cross-entropy on TensorFlow, with these options, for `dtype` jobs."""
    kind = np.dtype(dtype).type
    low, high = Backend.clip_bounds(epsilon, dtype)
    shift = float(flush_subnormals(np.asarray(kind(0.5 * label_smoothing)))[()])
    return _BINARY_FOCAL[from_logits, gamma == 2].using(*_options(
        low, high, kind(1.0 - label_smoothing), shift, gamma, kind(alpha), kind(1 - alpha),
        float(apply_class_balancing)))


def _categorical_focal(from_logits: bool, square: bool,
                       ) -> Callable[[np.dtype], Callable[..., tuple[float, bool]]]:
    """Keras' categorical focal loss on TensorFlow for one-hot targets: its one nonzero term.

    (alpha (1 - o_c)**gamma) (-y_c log o_c), o_c = clip(p_c / sum_k p_k), p
    TensorFlow's softmax e_k (1 / sum_k e_k) from logits (e = exp(z - max)).
    Rows that are not one-hot, or whose sum `_onehot_probabilities` would
    refuse, make the kernel decline the block. Float32 rows of up to
    `_VECTOR_ROW` probabilities are read in one vector register, their sum a
    float32 tree within 4 ulp (`_vector_row_sum`), as `_rescaled_probabilities`
    reads them; other rows' sums are added in float64.
    """
    def make(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
        kind = np.dtype(dtype).type
        log, exp, row_exp = _logs(dtype), fast_exp(dtype), _row_exp(dtype)
        power = _power(dtype, square)
        lanes_max, summed = row_max(), lanes_sum()
        target_of, narrow_sum, hot_sum = _one_hot_target(), _narrow_sum(), _narrow_hot_sum()
        hot_row = _hot_vector_row(dtype)
        # (from probabilities: from logits, a row's exps come before its sum)
        vector_row = 0 if from_logits or np.dtype(dtype) != np.float32 else _VECTOR_ROW
        add_chunk = chunk_adder()
        info = np.finfo(dtype)
        one, largest, smallest = kind(1), kind(info.max), kind(np.sqrt(info.tiny))

        def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                   out: np.ndarray) -> tuple[float, bool]:
            rows, width = y_pred.shape
            lanes, low, high = int(constants[0]), constants[1], constants[2]
            gamma, alpha = constants[3], constants[4]
            wide = width >= 2 * lanes
            chunk = max(1, min(CHUNK_ROWS, _CHUNK // width))  # rows per chunk
            acc = np.empty(lanes)
            maxima = np.empty(lanes, y_pred.dtype)
            terms = np.empty(width, y_pred.dtype)
            weights = np.empty(chunk, y_pred.dtype)  # each row's target y_c
            targets = np.empty(chunk, y_pred.dtype)  # p_c (from logits: the softmax's)
            totals = np.empty(chunk, y_pred.dtype)  # sum_k p_k
            values = np.empty(chunk, y_pred.dtype)
            flat_y, flat_z = y_true.reshape(-1), y_pred.reshape(-1)
            total_loss = 0.0
            for part in range((rows + chunk - 1) // chunk):
                start = part * chunk
                n = min(chunk, rows - start)
                # narrow rows, each in one vector, as `_rescaled_probabilities` reads them (1e6
                # rows of 10 classes: 20.6 -> 4.4 ns a row in cache; from memory, two threads,
                # 18-19 -> 4.2-4.4 ms)
                for r in range(n if width <= vector_row else 0):
                    first = (start + r) * width
                    position, totals[r] = hot_row(flat_y, flat_z, first, width)  # (within 4 ulp)
                    if position < 0:
                        return 0.0, False  # not one-hot
                    size = abs(totals[r])
                    if not smallest <= size <= largest:
                        return 0.0, False
                    weights[r], targets[r] = flat_y[first + position], flat_z[first + position]
                for r in range(0 if width <= vector_row else n):  # each row's target and sum
                    i = start + r
                    z = flat_z[i * width : (i + 1) * width]
                    z_sum = 0.0  # (narrow rows: the sum of z, read with the target)
                    if wide:
                        found_weight, found_value = target_of(y_true, i, z)
                        if found_weight != found_weight:
                            return 0.0, False  # not one-hot
                        weight, value = kind(found_weight), kind(found_value)
                    else:
                        y = flat_y[i * width : (i + 1) * width]
                        z_sum, count, position = hot_sum(z, y)
                        if count != 1:
                            return 0.0, False  # not one-hot
                        weight, value = y[position], z[position]
                    if from_logits:  # TensorFlow's softmax, then Keras' rescaling
                        best = lanes_max(z, lanes, maxima) if wide else z[0]
                        if not wide:
                            for k in range(1, width):
                                best = z[k] if z[k] > best else best
                        row_exp(z, best, terms)
                        # (narrow rows: a float64 sum in any order, `_narrow_sum`, not 64 lanes)
                        inverse = one / kind(summed(terms, lanes, acc) if wide else narrow_sum(terms))
                        for k in range(width):
                            terms[k] = terms[k] * inverse
                        value = exp(value - best) * inverse
                        total = kind(summed(terms, lanes, acc) if wide else narrow_sum(terms))
                    else:
                        total = kind(summed(z, lanes, acc) if wide else z_sum)
                        size = abs(total)
                        if not smallest <= size <= largest:
                            return 0.0, False
                    weights[r], targets[r], totals[r] = weight, value, total
                for r in range(n):  # then the focal terms, in one vectorised loop
                    output = targets[r] / totals[r]
                    output = low if output < low else output
                    output = high if output > high else output
                    cross_entropy = -weights[r] * log(output)
                    values[r] = (power(one - output, gamma) * alpha) * cross_entropy
                total_loss += add_chunk(values, n, out, start, rows)
            return total_loss, True

        return compile(kernel)

    return make


_CATEGORICAL_FOCAL = {(logits, square): Fused(_categorical_focal(logits, square))
                      for logits in (False, True) for square in (False, True)}


def fused_categorical_focal(dtype: np.dtype, *, from_logits: bool, gamma: float, alpha: float,
                            label_smoothing: float, epsilon: float) -> Fused | None:
    """Categorical focal cross-entropy on TensorFlow for one-hot targets (None with smoothing)."""
    if label_smoothing:
        return None  # every target nonzero: the numpy kernel's
    low, high = Backend.clip_bounds(epsilon, dtype)
    return _CATEGORICAL_FOCAL[from_logits, gamma == 2].using(
        _LANES, low, high, gamma, np.dtype(dtype).type(alpha))


def _generalized(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
    """Keras' generalized cross-entropy (1 - p**q) / q, p the label's probability.

    TensorFlow (and JAX) read a subnormal p as 0, where the constants' third
    is nonzero; PyTorch and NumPy keep it. Its p is sum_k p_k one_hot_k, NaN
    where another class is inf or NaN: blocks with a non-finite prediction
    are declined.
    """
    kind = np.dtype(dtype).type
    power = _power(dtype, False)
    summed = lanes_sum()
    zero, one, tiny = kind(0), kind(1), kind(np.finfo(dtype).tiny)

    def kernel(labels: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = y_pred.shape
        lanes, q = int(constants[0]), constants[1]
        smallest = tiny if constants[2] else zero  # (p >= 0: nothing is below 0)
        flat = y_pred.reshape(-1)
        infinite = False
        for j in range(flat.size):
            infinite |= not abs(flat[j]) < np.inf
        if infinite:
            return 0.0, False
        buffer = np.empty(min(rows, _CHUNK), y_pred.dtype)
        acc = np.empty(lanes)
        total = 0.0
        for start in range(0, rows, _CHUNK):  # a chunk of rows at a time into a buffer in cache
            n = min(_CHUNK, rows - start)
            values = out[start : start + n] if out.size == rows else buffer[:n]
            for i in range(n):  # the gather, then one vectorised map of the powers
                values[i] = flat[(start + i) * width + int(labels[start + i])]
            for i in range(n):
                p = values[i]
                p = zero if p < smallest else p
                values[i] = (one - power(p, q)) / q
            total += summed(values, lanes, acc)
        return total, True

    return compile(kernel)


_GENERALIZED = Fused(_generalized)


def fused_generalized(q: float, *, flushes: bool = True) -> Fused:
    """The generalized cross-entropy with this q, on a backend that reads subnormal p as 0 or not."""
    return _GENERALIZED.using(_LANES, q, float(flushes))
