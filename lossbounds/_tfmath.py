"""numpy versions of the TensorFlow kernels whose order of operations fixes a value.

Keras' losses run on TensorFlow ops. For float32 and float64 numpy's own
reductions agree with TensorFlow's to a few ulp, which is all the exactness
target needs. float16 is different: one ulp of float16 is 1e-3, so a float16
sum must be added up in exactly TensorFlow's order. `half_sum` reproduces the
order of Eigen's CPU reducer, which TensorFlow uses for ``reduce_sum``.

One float32 kernel matters too: TensorFlow's ``log`` (Eigen's polynomial,
`log`) rounds differently from numpy's on ~20% of inputs, and sparse
categorical cross-entropy on probabilities subtracts such logs of tiny
probabilities from each other, so there one ulp can exceed 1e-6.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

_F16 = np.float16
_F32 = np.float32

#: Eigen's packets on the TensorFlow wheels (AVX): 8 floats or halves, 4 doubles.
PACKET_LANES = {np.dtype(np.float16): 8, np.dtype(np.float32): 8, np.dtype(np.float64): 4}

# Eigen's inner-most reducer on x86 CPUs: 8-lane half packets, 4 packet
# accumulators in the unrolled loop, and a recursive halving above
# 8 * 200 values (LeafSize<half> = 200). Found by matching tf.reduce_sum on
# random float16 rows of length 2..32000 (tests/test_halfreduce.py checks it).
_LANES = PACKET_LANES[np.dtype(np.float16)]
ACCUMULATORS = 4
_TREE_ABOVE = _LANES * 200


def _add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Eigen adds halves in float and rounds back to half.
    return (a.astype(_F32) + b.astype(_F32)).astype(_F16)


def _packet_total(packet: np.ndarray) -> np.ndarray:
    """Eigen's predux on 8 lanes: widened to float, folded 8 -> 4 -> 2 -> 1."""
    lanes = packet.astype(_F32)
    four = lanes[:, :4] + lanes[:, 4:]
    two = four[:, :2] + four[:, 2:]
    return (two[:, 0] + two[:, 1]).astype(_F16)


def _leaf_sum(rows: np.ndarray) -> np.ndarray:
    count = rows.shape[1]
    packets = count // _LANES
    unrolled = packets // ACCUMULATORS * ACCUMULATORS
    scalar = np.zeros(rows.shape[0], _F16)
    for j in range(packets * _LANES, count):
        scalar = _add(scalar, rows[:, j])
    if packets == 0:
        return scalar
    blocks = rows[:, : packets * _LANES].reshape(rows.shape[0], packets, _LANES)
    accumulators = [np.zeros((rows.shape[0], _LANES), _F16) for _ in range(ACCUMULATORS)]
    for b in range(unrolled):
        accumulators[b % ACCUMULATORS] = _add(accumulators[b % ACCUMULATORS], blocks[:, b])
    total = accumulators[0]
    for other in accumulators[1:]:
        total = _add(total, other)
    for b in range(unrolled, packets):
        total = _add(total, blocks[:, b])
    return _add(scalar, _packet_total(total))


def _split(first: int, count: int) -> tuple[int, int]:
    """Where Eigen halves `count` values from flat offset `first`: the split offset and the left size.

    The split point is aligned on a packet boundary of the flat tensor.
    """
    split = _LANES * -(-(first + -(-count // 2)) // _LANES)
    return split, min(split - first, count)


def _tree_sum(rows: np.ndarray, first: int) -> np.ndarray:
    count = rows.shape[1]
    if count <= _TREE_ABOVE:
        return _leaf_sum(rows)
    split, left = _split(first, count)
    total = _add(np.zeros(rows.shape[0], _F16), _tree_sum(rows[:, :left], first))
    if left < count:
        total = _add(total, _tree_sum(rows[:, left:], split))
    return total




def in_order_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """The sum over `axis`, added in order from 0: ((0 + x0) + x1) + ... (cumsum adds in order)."""
    if x.shape[axis] == 0:
        return np.zeros(np.delete(x.shape, axis), x.dtype)
    first = np.take(x, [0], axis=axis) + x.dtype.type(0)  # 0 + -0.0 is +0.0, as in Eigen
    rest = np.take(x, range(1, x.shape[axis]), axis=axis)
    return np.take(np.cumsum(np.concatenate([first, rest], axis=axis), axis=axis, dtype=x.dtype),
                   -1, axis=axis)


def column_sums(x: np.ndarray) -> np.ndarray:
    """Sums over the middle axis of (K0, R, K2): Eigen's reducer that keeps the inner axis.

    It runs over the K0 * K2 outputs in packets (`PACKET_LANES`). With at
    least 16 terms a packet inside one run of K2 outputs is vectorised: four
    accumulators take the terms in turn and are added in order; the other
    outputs (and all of them below 16 terms) add their terms one by one.
    Found by matching tf.reduce_sum bit for bit in float16, float32 and
    float64 (tests/test_segmentation.py, tests/test_halfreduce.py).
    """
    k0, terms, k2 = x.shape
    rows = np.transpose(x, (1, 0, 2)).reshape(terms, k0 * k2)
    out = in_order_sum(rows, 0)
    if terms >= 16:
        whole = terms // ACCUMULATORS * ACCUMULATORS
        parts = [in_order_sum(rows[j:whole:ACCUMULATORS], 0) for j in range(ACCUMULATORS)]
        out = vectorised_packets(out, parts, rows[whole:], k2)
    return out.reshape(k0, k2)


def vectorised_packets(in_order: np.ndarray, parts: list[np.ndarray], tail: Any,
                       k2: int) -> np.ndarray:
    """`column_sums`' flat outputs from its two ways of adding, for 16 terms or more.

    `in_order`: each output's terms added one by one; `parts`: the four
    accumulators' sums; `tail`: the last ``terms % 4`` rows of terms, which
    the vectorised loop adds after its accumulators. A packet of outputs
    inside one run of K2 takes the vectorised sum, the others keep theirs.
    """
    vector = ((parts[0] + parts[1]) + parts[2]) + parts[3]
    for row in tail:
        vector = vector + row
    out = in_order.copy()
    lanes = PACKET_LANES[out.dtype]
    for start in range(0, out.size // lanes * lanes, lanes):
        if start // k2 == (start + lanes - 1) // k2:
            out[start : start + lanes] = vector[start : start + lanes]
    return out


def merged_axes(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[list[int], tuple[bool, ...]]:
    """The sizes TensorFlow reduces over, and which are reduced.

    It drops axes of length 1 and merges neighbouring axes that are both
    reduced or both kept.
    """
    dims: list[list[int]] = []  # [size, reduced]
    for i, size in enumerate(shape):
        if size == 1:
            continue
        if dims and bool(dims[-1][1]) == (i in axes):
            dims[-1][0] *= size
        else:
            dims.append([size, int(i in axes)])
    return [size for size, _ in dims], tuple(bool(reduced) for _, reduced in dims)


def half_sum(x: np.ndarray, axis: int) -> np.ndarray:
    """``tf.reduce_sum(x, axis)`` for float16 `x`, bit for bit on x86 CPUs.

    Along the last axis this is Eigen's packet reducer. Along another axis,
    on the axes as TensorFlow merges them (`merged_axes`): the packet reducer
    where the axis is the last longer than 1, else the reducer that keeps the
    inner axis (`column_sums`).
    """
    axis = axis % x.ndim
    if axis != x.ndim - 1 and x.size:
        sizes, pattern = merged_axes(x.shape, (axis,))
        out_shape = tuple(np.delete(x.shape, axis))
        whole = np.ascontiguousarray(x)
        if pattern in ((True, False), (False, True, False)):
            return column_sums(whole.reshape([1, *sizes][-3:])).reshape(out_shape)
        if pattern in ((True,), (False, True)):
            return half_sum(whole.reshape([1, *sizes][-2:]), -1).reshape(out_shape)
    if axis != x.ndim - 1:  # (an axis of length 1: 0 + x, which makes -0.0 +0.0)
        total = np.zeros(np.delete(x.shape, axis), _F16)
        for k in range(x.shape[axis]):
            total = _add(total, np.take(x, k, axis=axis))
        return total
    count = x.shape[-1]
    if x.size == 0:  # no rows, or rows of nothing (each sums to 0)
        return np.zeros(x.shape[:-1], _F16)
    rows = np.ascontiguousarray(x).reshape(-1, count)
    out = np.empty(rows.shape[0], _F16)
    if count <= _TREE_ABOVE:
        out[:] = _leaf_sum(rows)
    else:
        # Where the recursion splits depends on each row's offset modulo 8.
        offsets = (np.arange(rows.shape[0]) * count) % _LANES
        for offset in np.unique(offsets):
            chosen = offsets == offset
            out[chosen] = _tree_sum(rows[chosen], int(offset))
    return out.reshape(x.shape[:-1])


#: Values `streamed_half_sum` reads at a time: 512 KiB of float16.
HALF_CHUNK = 1 << 18


def streamed_half_sum(count: int, read: Callable[[int, int], np.ndarray],
                      chunk: int | None = None) -> np.ndarray:
    """``tf.reduce_sum`` of a flat float16 tensor that is never whole, bit for bit.

    ``read(start, stop)`` gives the tensor's values start:stop (float16).
    Where Eigen's tree splits depends on flat offsets alone, so the recursion
    of `half_sum` is walked without the values, and each subtree of at most
    `chunk` values is read and added on its own, exactly as within the whole
    tensor; the subtrees are then combined as the tree combines them.

    Returns a 0-d float16 array, as ``half_sum(x, -1)`` of the 1-d tensor does;
    `chunk` is `HALF_CHUNK` unless given (at least ``_TREE_ABOVE``, 1600).
    """
    chunk = max(HALF_CHUNK if chunk is None else chunk, _TREE_ABOVE)
    if count <= chunk:
        return half_sum(read(0, count), -1)
    return _walk(0, count, read, chunk).reshape(())


def _walk(first: int, count: int, read: Callable[[int, int], np.ndarray], chunk: int) -> np.ndarray:
    """`_tree_sum` of values first:first+count of the flat tensor, reading subtrees of `chunk`."""
    if count <= chunk:
        return tree_sum_1d(read(first, first + count), first)
    split, left = _split(first, count)
    total = _add(np.zeros(1, _F16), _walk(first, left, read, chunk))
    if left < count:
        total = _add(total, _walk(split, count - left, read, chunk))
    return total


def tree_sum_1d(values: np.ndarray, first: int) -> np.ndarray:
    """``_tree_sum(values[None], first)``: the same leaves and the same adds, leaves batched.

    `values` is a 1-d float16 run of the flat tensor starting at offset
    `first`. `_leaf_sum` works row by row, so the tree's leaves of one length
    are stacked and added in one call (a few hundred numpy calls for the
    whole run, not a few hundred per leaf); their sums are then combined in
    the tree's order. Returns an array of shape (1,).
    """
    leaves: list[tuple[int, int]] = []
    _leaves(first, values.size, leaves)
    sums: list[np.ndarray] = [np.zeros(1, _F16)] * len(leaves)
    lengths = np.array([length for _, length in leaves])
    starts = np.array([start for start, _ in leaves]) - first
    for length in np.unique(lengths):
        chosen = np.flatnonzero(lengths == length)
        rows = values[starts[chosen, None] + np.arange(length)]
        total = _leaf_sum(rows)
        for row, index in enumerate(chosen):
            sums[index] = total[row : row + 1]
    return _combine(first, values.size, iter(sums))


def _leaves(first: int, count: int, out: list[tuple[int, int]]) -> None:
    """The (offset, length) of each leaf `_tree_sum` adds, in its order."""
    if count <= _TREE_ABOVE:
        out.append((first, count))
        return
    split, left = _split(first, count)
    _leaves(first, left, out)
    if left < count:
        _leaves(split, count - left, out)


def _combine(first: int, count: int, sums: Iterator[np.ndarray]) -> np.ndarray:
    """`_tree_sum`'s adds above its leaves, given the leaf sums in order."""
    if count <= _TREE_ABOVE:
        return next(sums)
    split, left = _split(first, count)
    total = _add(np.zeros(1, _F16), _combine(first, left, sums))
    if left < count:
        total = _add(total, _combine(split, count - left, sums))
    return total


def reduce_sum(x: np.ndarray, axis: int | None = None) -> np.ndarray:
    """``tf.reduce_sum`` in `x`'s own dtype (float16 in TensorFlow's order)."""
    if x.dtype == _F16:
        if axis is None:
            return half_sum(x.reshape(-1), -1)
        return half_sum(x, axis)
    return np.sum(x, axis=axis, dtype=x.dtype)


def _cpu_flags() -> set[str]:
    """The CPU's feature flags as Linux lists them (/proc/cpuinfo); empty elsewhere."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


@functools.cache
def onednn_float16() -> bool:
    """Does TensorFlow run float16 ops such as softmax on oneDNN on this machine?

    It does where oneDNN is on (``TF_ENABLE_ONEDNN_OPTS``, on by default on
    x86 Linux) and the CPU converts float16 in hardware: AVX512BW with
    AVX512_FP16 or AMX_FP16, or AVX_NE_CONVERT (TensorFlow's
    ``IsDataTypeSupportedByOneDNNOnThisCPU``; Intel Xeons from Sapphire
    Rapids on). oneDNN's float16 softmax computes in float32 and rounds
    once; Eigen's, elsewhere, adds in float16, so half its values differ by
    a float16 ulp. Read from Linux's CPU flags; False on other systems.
    """
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if setting in ("0", "false"):
        return False
    flags = _cpu_flags()
    return ("avx512bw" in flags and bool({"avx512_fp16", "amx_fp16"} & flags)) \
        or "avx_ne_convert" in flags


def flush_subnormals(x: np.ndarray) -> np.ndarray:
    """Replace float32/float64 subnormals by zero, as TensorFlow's CPU kernels see them.

    TensorFlow runs its kernels with the x86 flush-to-zero and
    denormals-are-zero flags set, so a subnormal input acts as 0. That
    decides a value only where one is divided by: a categorical
    cross-entropy row whose sum is subnormal gives 0/0 = NaN in Keras.
    float16 is converted to float32 in software, where no flushing happens.
    """
    if x.dtype == _F16:
        return x
    tiny = np.finfo(x.dtype).tiny
    with np.errstate(invalid="ignore"):
        subnormal = np.abs(x) < tiny
    if subnormal.any():
        return np.where(subnormal, x.dtype.type(0), x)
    return x


def keras_mean(x: np.ndarray, axis: int) -> np.ndarray:
    """``keras.ops.mean``: float16 and integers are averaged in float32.

    Keras computes low-precision means in float32 and casts back, because
    ``tf.reduce_mean`` overflows in float16; integers give float32.
    """
    if x.dtype.kind in "iub":
        # numpy's stubs allow a scalar here (a 1-d `x`); like `reduce_sum`, it is used as an array.
        return cast(np.ndarray, np.mean(x, axis=axis, dtype=_F32).astype(_F32))
    if x.dtype == _F16:
        return cast(np.ndarray, np.mean(x.astype(_F32), axis=axis, dtype=_F32).astype(_F16))
    return np.mean(x, axis=axis, dtype=x.dtype)


# TensorFlow's float32 log on x86: Eigen's vectorised plog on 8-lane AVX
# packets (the pip wheels use no FMA), and std::log for the last size % 8
# elements of the tensor, which do not fill a packet. Subnormal inputs are
# not modelled in that scalar tail (TF's denormals-are-zero mode makes
# glibc's logf return odd values there). numpy's log differs by
# one ulp on ~20% of inputs; that matters where logs of tiny probabilities
# cancel, as in sparse categorical cross-entropy's renormalisation.
_PACKET = 8
_SQRT_HALF = _F32(0.707106781186547524)
# Eigen's rational approximation of log(1 + x) on [sqrt(1/2) - 1, sqrt(2) - 1]
_LOG_P = tuple(_F32(c) for c in (0.18256296349849254, 1.0000000190281063, 1.0000000190281136))
_LOG_Q = tuple(_F32(c) for c in (0.049616247954120038, 0.59923249590823520, 1.4999999999999927, 1.0))
_LN2 = _F32(0.693147180559945309417232121458)


def _polynomial(x: np.ndarray, coefficients: tuple) -> np.ndarray:
    # Eigen's ppolevl: Horner's rule, a multiply and an add per step (no FMA)
    result = np.full_like(x, coefficients[0])
    for c in coefficients[1:]:
        result = result * x + c
    return result


def _eigen_log(x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        mantissa, exponent = np.frexp(x)  # x = m * 2**e, m in [0.5, 1)
        below = mantissa < _SQRT_HALF  # shift m to [sqrt(1/2), sqrt(2)), centred on 1
        e = exponent.astype(_F32) - below.astype(_F32)
        m = (mantissa - _F32(1)) + np.where(below, mantissa, _F32(0))
        ratio = (m * _polynomial(m, _LOG_P)) / _polynomial(m, _LOG_Q)
        result = e * _LN2 + ratio
    # Under TF's denormals-are-zero a subnormal is 0; log(0) = -inf,
    # log(negative) = NaN, log(inf) = inf.
    result[np.abs(x) < np.finfo(_F32).tiny] = -np.inf
    result[np.isinf(x)] = np.inf
    result[~(x >= 0)] = np.nan
    return result


def log(x: np.ndarray, scalar_from: int | None = None) -> np.ndarray:
    """``tf.math.log`` for float32 `x`, bit for bit on x86 CPUs; other dtypes use np.log.

    `x` is the whole tensor, whose last ``x.size % 8`` elements TensorFlow
    takes one at a time (with glibc's logf: here the float64 log rounded to
    float32, equal on 99.9% of inputs and otherwise 1 ulp away), or a block of
    it: then the elements from flat index `scalar_from` on are those.
    """
    if x.dtype != _F32:
        return np.log(x)
    flat = np.ascontiguousarray(x).reshape(-1)
    if scalar_from is None:
        scalar_from = flat.size - flat.size % _PACKET
    scalar_from = min(max(scalar_from, 0), flat.size)
    out = np.empty_like(flat)
    out[:scalar_from] = _eigen_log(flat[:scalar_from])
    with np.errstate(all="ignore"):  # glibc's logf: the float64 log rounded, but for 0.1%
        out[scalar_from:] = np.log(flat[scalar_from:].astype(np.float64))
    return out.reshape(x.shape)


#: Eigen's float32 log constants, for compiled kernels (`lossbounds.fused`):
#: sqrt(1/2), the numerator's and the denominator's coefficients, ln 2.
EIGEN_LOG_CONSTANTS = (_SQRT_HALF, _LOG_P, _LOG_Q, _LN2)

#: Eigen's float32 exp (pexp_float, no FMA) polynomial, highest order first
#: (TensorFlow's softplus on 8-lane AVX packets).
EIGEN_EXP_POLYNOMIAL = tuple(_F32(c) for c in (
    1.37449637986719608306884765625e-3, 8.36894474923610687255859375e-3,
    4.166965186595916748046875e-2, 0.16666518151760101318359375,
    0.49999988079071044921875))
