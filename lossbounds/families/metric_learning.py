r"""Metric-learning losses: Circle.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.

Circle loss compares every sample of a batch with every other: its value for
one sample depends on how many positive pairs (other samples with its label)
and negative pairs (samples with another label) the batch gives it, so its
bounds take those two counts, ``n_positives`` and ``n_negatives``.

References
----------
.. [1] Y. Sun, C. Cheng, Y. Zhang, C. Zhang, L. Zheng, Z. Wang and Y. Wei,
   "Circle loss: A unified perspective of pair similarity optimization",
   CVPR 2020, arXiv:2002.10857.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..backends import Backend
from ..checks import EPSILON, check_bool, check_real, plain, to_array
from ..engine import Plan, cast, predictions
from ..fused import accelerates
from ..fused import compile as compile_fused
from ..options import Y_TRUE, Option
from ..registry import LossDefinition, Setting, UndefinedBound, register
from ..text import Note, loss_value, number
from ..threads import run_pieces

# The per-sample functions: lossbounds exports them.
__all__ = ["circle"]


# --------------------------------------------------------------------------
# Options


def _check_gamma(value: Any) -> float:
    gamma = check_real(value, "gamma")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(
            f"`gamma` must be a finite number > 0, got {plain(value)}: it scales the "
            "similarities (Keras' default 80; Sun et al. use 32 to 256). At 0 every sample "
            "costs ln(1 + P·N), and a negative gamma rewards the wrong pairs.")
    return gamma


def _check_margin(value: Any) -> float:
    margin = check_real(value, "margin")
    if not math.isfinite(margin):
        raise ValueError(f"`margin` must be a finite number, got {plain(value)} "
                         "(Keras' default 0.4; Sun et al. use 0.25).")
    return margin


def _check_count(value: Any, argument: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{argument}` must be an int, got {type(value).__name__}: {value!r}.")
    count = int(value)
    if count < 0:
        raise ValueError(f"`{argument}` must be a count >= 0, got {count}.")
    return count


GAMMA = Option("gamma", 80.0, _check_gamma, "Circle loss scale gamma (default 80)",
               flag="--gamma", parse=float, metavar="G")
MARGIN = Option("margin", 0.4, _check_margin, "Circle loss relaxation margin m (default 0.4)",
                flag="--margin", parse=float, metavar="M")
REMOVE_DIAGONAL = Option("remove_diagonal", True, lambda v: check_bool(v, "remove_diagonal"),
                         "leave each sample out of its own positive pairs (default True)")
N_POSITIVES = Option("n_positives", None, lambda v: _check_count(v, "n_positives"),
                     "positive pairs of a sample: the other samples with its label in the batch",
                     flag="--n-positives", parse=int, metavar="P")
N_NEGATIVES = Option("n_negatives", None, lambda v: _check_count(v, "n_negatives"),
                     "negative pairs of a sample: the samples with another label in the batch",
                     flag="--n-negatives", parse=int, metavar="N")


# --------------------------------------------------------------------------
# TensorFlow's arithmetic


#: oneDNN's float32 GEMM on x86 (TensorFlow 2.21): each dot product is a
#: chain of fused multiply-adds in order, restarted every k-block and the
#: block sums added in order. Blocks: 384 columns while more than 768 remain,
#: then the rest in two halves (the first one larger), or one block of <= 384.
#: Found by matching tf.matmul bit for bit; the float32 exponentials and logs
#: after it differ from TensorFlow's by an ulp at most.
_BLOCK = 384


def _blocks(width: int) -> list[int]:
    sizes = []
    while width > 2 * _BLOCK:
        sizes.append(_BLOCK)
        width -= _BLOCK
    if width > _BLOCK:
        sizes += [(width + 1) // 2, width // 2]
    elif width:
        sizes.append(width)
    return sizes


def _fma_chain(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b.T in float32 as a chain of fused multiply-adds over the columns, in order."""
    total = np.zeros((a.shape[0], b.shape[0]), np.float32)
    product = np.empty(total.shape)
    wide_a, wide_b = a.astype(np.float64), b.astype(np.float64)
    for k in range(a.shape[1]):
        # A float32 product is exact in float64: adding it there and rounding once is an
        # FMA (but where the float64 sum lands on a float32 tie: about once in 2**28 adds).
        np.multiply.outer(wide_a[:, k], wide_b[:, k], out=product)
        np.add(total, product, out=total, dtype=np.float64, casting="unsafe")
    return total


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ops.matmul(a, ops.transpose(b))`` on TensorFlow's CPU kernels."""
    if a.dtype == np.float64:
        return a @ b.T  # Eigen's float64 GEMM: a few ulp of float64 from this
    wide_a, wide_b = a.astype(np.float32), b.astype(np.float32)
    total: np.ndarray | None = None
    start = 0
    for size in _blocks(a.shape[1]):
        part = _fma_chain(wide_a[:, start:start + size], wide_b[:, start:start + size])
        total = part if total is None else total + part
        start += size
    if total is None:  # no columns
        total = np.zeros((a.shape[0], b.shape[0]), np.float32)
    # float16 inputs are multiplied and added in float32, then rounded once.
    return total.astype(a.dtype)


#: Eigen's ``NumTraits<half>::epsilon()`` is 2**-13, not float16's machine epsilon 2**-10.
_EIGEN_EPSILON = {np.dtype(np.float16): 2.0**-13}


def _softplus(x: np.ndarray) -> np.ndarray:
    """``tf.math.softplus``: x above -(ln eps + 2), exp(x) below ln eps + 2, else log1p(exp(x)).

    The threshold is computed in the input's dtype from Eigen's epsilon
    (-13.94 in float32, -7.008 in float16).
    """
    t = x.dtype.type
    epsilon = _EIGEN_EPSILON.get(x.dtype, np.finfo(x.dtype).eps)
    threshold = t(np.log(t(epsilon))) + t(2)
    exp = np.exp(x)
    out = np.where(x > -threshold, x, np.where(x < threshold, exp, np.log1p(exp)))
    # TensorFlow's CPU kernels flush subnormal results to 0 (float16 is converted in software).
    return _tfmath.flush_subnormals(out.astype(x.dtype))


def _numpy_matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ops.matmul(a, ops.transpose(b))`` on Keras' NumPy backend: NumPy's own matmul."""
    return np.matmul(a, b.T).astype(a.dtype)


#: The float matmul each backend runs, where it is not TensorFlow's (`_matmul`).
_MATMULS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {"numpy": _numpy_matmul}


#: Pairs computed at a time: a sample's loss depends on its own row of pairs alone,
#: so the (N, M) pair matrix is made a block of rows at a time. The reference
#: keeps about fifteen arrays of a block's size: 2**16 pairs, 4 MiB in float32.
_PAIRS = 1 << 16


def _pair_logits(labels: np.ndarray, ref_labels: np.ndarray, products: np.ndarray,
                 first_row: int, *, gamma: float, margin: float, remove_diagonal: bool
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Keras' positive and negative pair logits of rows from `first_row` on, -inf off the pairs.

    `products` are the rows' embeddings times the references, ``ops.matmul``'s
    result; the rest follows ``losses.circle`` (Keras 3.15.1) step by step.
    """
    t = products.dtype.type
    # Python arithmetic first, as in Keras: 1 + margin, 1 - margin and -1 * gamma.
    optim_pos, optim_neg, delta_pos, delta_neg = margin, 1 + margin, margin, 1 - margin
    distances = np.maximum(t(1) - products, t(0))
    positive = labels[:, None] == ref_labels[None, :]
    negative = ~positive
    if remove_diagonal:  # pair (i, i) of the whole batch: this block's diagonal from first_row
        positive &= ~np.eye(labels.size, ref_labels.size, k=first_row, dtype=bool)
    pos_weights = np.maximum((t(optim_pos) + distances) * positive.astype(t), t(0))
    neg_weights = np.maximum((t(optim_neg) - distances) * negative.astype(t), t(0))
    pos_logits = (t(-1 * gamma) * pos_weights) * (t(delta_pos) - distances)
    neg_logits = (t(gamma) * neg_weights) * (t(delta_neg) - distances)
    return np.where(positive, pos_logits, t(-np.inf)), np.where(negative, neg_logits, t(-np.inf))


def _exp_sums(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, ``tf.math.reduce_logsumexp``'s sum of exp(x - max) and its max (0 if not finite).

    TensorFlow's log-sum-exp is then ``log(sum) + max``, taken for all rows at once.
    """
    t = x.dtype.type
    top = np.max(x, axis=1) if x.shape[1] else np.full(x.shape[0], -np.inf, x.dtype)
    top = np.where(np.isfinite(top), top, t(0))
    return _tfmath.reduce_sum(np.exp(x - top[:, None]), 1), top


def _circle_values(labels: np.ndarray, ref_labels: np.ndarray, embeddings: np.ndarray,
                   references: np.ndarray, *, gamma: float, margin: float,
                   remove_diagonal: bool, backend: str = "tensorflow") -> np.ndarray:
    """Keras' circle on `backend`, a block of rows of the pair matrix at a time.

    Each row's log-sum-exps need its own pairs alone; only the logarithm
    depends on where a row sits in the batch (TensorFlow takes the last
    N % 8 one by one), so it is taken once for all rows at the end.
    """
    t = embeddings.dtype.type
    sums = np.empty((4, labels.size), embeddings.dtype)  # positives' sum and max, negatives'
    options: dict[str, Any] = {"gamma": gamma, "margin": margin,
                               "remove_diagonal": remove_diagonal}
    if backend in _MATMULS or not _fused_pairs(labels, ref_labels, embeddings, references, sums,
                                               **options):
        _pair_sums(labels, ref_labels, embeddings, references, sums, _MATMULS.get(backend),
                   **options)
    p_loss = (_tfmath.log(sums[0]) + sums[1]).astype(t)
    n_loss = (_tfmath.log(sums[2]) + sums[3]).astype(t)
    return _softplus(p_loss + n_loss)


def _pair_sums(labels: np.ndarray, ref_labels: np.ndarray, embeddings: np.ndarray,
               references: np.ndarray, sums: np.ndarray,
               matmul: Callable[[np.ndarray, np.ndarray], np.ndarray] | None, **options: Any
               ) -> None:
    """`_exp_sums` of every row's positive and negative logits into `sums`, a block at a time.

    With another backend's `matmul`, the product is made whole: its GEMM's
    bits may depend on the shape. TensorFlow's (`_matmul`) runs per block.
    """
    whole = None if matmul is None else matmul(embeddings, references)
    rows = max(1, _PAIRS // max(ref_labels.size, 1))
    for start in range(0, labels.size, rows):
        stop = min(start + rows, labels.size)
        products = _matmul(embeddings[start:stop], references) if whole is None else \
            whole[start:stop]
        positive, negative = _pair_logits(labels[start:stop], ref_labels, products, start,
                                          **options)
        sums[0, start:stop], sums[1, start:stop] = _exp_sums(positive)
        sums[2, start:stop], sums[3, start:stop] = _exp_sums(negative)


# --------------------------------------------------------------------------
# The pairs in one compiled pass (the fused accelerator, `lossbounds.fused`)
#
# The float32 product is N x M x D fused multiply-adds in TensorFlow's order,
# which numpy can only emulate a column at a time over the whole block (two
# float64 passes per column). Compiled, each row's products run as real
# FMAs (TensorFlow's own instruction, so no double rounding either), and its
# logits, maximum and sum of exponentials follow in the same loop, without
# storing the pair matrix. The exponentials are the C library's and the
# sums are added in float64: within an ulp or two of the numpy path's
# float32 sums, as both are of TensorFlow's.


def _fused_pairs(labels: np.ndarray, ref_labels: np.ndarray, embeddings: np.ndarray,
                 references: np.ndarray, sums: np.ndarray, *, gamma: float, margin: float,
                 remove_diagonal: bool) -> bool:
    """`_pair_sums` compiled, for float32 where the accelerator takes it; False where it does not run.

    Its size is the pair matrix's multiply-adds, N x M x D: a small batch
    takes numpy's milliseconds, not the compiler's first load (`accelerates`).
    """
    work = labels.size * ref_labels.size * embeddings.shape[1]
    if embeddings.dtype != np.float32 or not accelerates(work):
        return False
    t = np.float32
    # Keras' constants: Python arithmetic first (1 + margin, -1 * gamma), then float32.
    constants = np.array([margin, 1 + margin, margin, 1 - margin, -1 * gamma, gamma], t)
    by_column = np.ascontiguousarray(references.T, dtype=t)  # (D, M): a row of products at a time
    blocks = np.array(_blocks(embeddings.shape[1]), np.int64)
    a = np.ascontiguousarray(embeddings)
    labels, ref_labels = labels.astype(np.int64, copy=False), ref_labels.astype(np.int64, copy=False)
    kernel = _pairs_kernel()
    # Rows are independent: big batches in two halves on two threads (the kernel releases
    # the GIL).
    half = -(-labels.size // 2) if labels.size * ref_labels.size >= _PAIRS else labels.size

    halves = range(0, labels.size, max(half, 1))

    def rows(i: int, _: None) -> None:
        first = halves[i]
        stop = min(first + half, labels.size)
        kernel(a[first:stop], by_column, labels[first:stop], ref_labels, first,
               bool(remove_diagonal), blocks, constants, sums[:, first:stop])

    run_pieces(len(halves), rows)
    return True


#: The FMA intrinsic and `_exp_sum` compiled, set by `_pairs_kernel` before it compiles
#: `_pairs_pass` (module-level functions: numba's disk cache keeps them).
_multiply_add: Any = None
_compiled_exp_sum: Any = None


def _pairs_pass(a: np.ndarray, by_column: np.ndarray, labels: np.ndarray, ref_labels: np.ndarray,
                first_row: int, remove_diagonal: bool, blocks: np.ndarray, constants: np.ndarray,
                sums: np.ndarray) -> None:
    """`_pair_sums` of the rows of `a` (float32), the first of them row `first_row` of the batch."""
    optim_pos, optim_neg, delta_pos, delta_neg = constants[0], constants[1], constants[2], constants[3]
    minus_gamma, gamma = constants[4], constants[5]
    zero, one, minus_infinity = np.float32(0), np.float32(1), np.float32(-np.inf)
    m = ref_labels.size
    total, part = np.empty(m, np.float32), np.empty(m, np.float32)
    positive_logits, negative_logits = np.empty(m, np.float32), np.empty(m, np.float32)
    for i in range(a.shape[0]):
        row = a[i]
        start = 0
        total[:] = zero
        for block in range(blocks.size):  # each k-block a chain from 0; the blocks added
            part[:] = zero
            for k in range(start, start + blocks[block]):
                ak, column = row[k], by_column[k]
                for j in range(m):
                    part[j] = _multiply_add(ak, column[j], part[j])
            for j in range(m):
                total[j] = part[j] if block == 0 else total[j] + part[j]
            start += blocks[block]
        for j in range(m):
            d = one - total[j]
            if d < zero:  # np.maximum(d, 0): NaN and -0.0 stay
                d = zero
            same = labels[i] == ref_labels[j]
            positive = same and not (remove_diagonal and first_row + i == j)
            weight = (optim_pos + d) * (one if positive else zero)
            if weight < zero:
                weight = zero
            positive_logits[j] = (minus_gamma * weight) * (delta_pos - d) if positive \
                else minus_infinity
            weight = (optim_neg - d) * (zero if same else one)
            if weight < zero:
                weight = zero
            negative_logits[j] = (gamma * weight) * (delta_neg - d) if not same else minus_infinity
        sums[0, i], sums[1, i] = _compiled_exp_sum(positive_logits)
        sums[2, i], sums[3, i] = _compiled_exp_sum(negative_logits)


def _exp_sum(logits: np.ndarray) -> tuple[Any, Any]:
    """`_exp_sums` of one row (float32): the sum in float64, rounded once, and the max used."""
    top = logits.dtype.type(-np.inf)
    seen_nan = False
    for value in logits:  # np.max: NaN if any is NaN
        if value != value:
            seen_nan = True
        elif value > top:
            top = value
    if seen_nan or not np.isfinite(top):
        top = logits.dtype.type(0)
    total = 0.0
    for value in logits:
        if value != -np.inf:  # exp(-inf) = 0 adds nothing
            total += np.exp(value - top)
    return logits.dtype.type(total), top


def _fma(typing_context: Any, a: Any, b: Any, c: Any) -> Any:
    """a * b + c rounded once (llvm.fma): the instruction TensorFlow's GEMM runs."""
    from numba.core import types

    return types.float32(types.float32, types.float32, types.float32), \
        lambda context, builder, signature, arguments: builder.fma(*arguments)


@functools.cache
def _pairs_kernel() -> Callable[..., None]:
    """`_pairs_pass` compiled (once per process; numba's disk cache keeps it)."""
    from numba.extending import intrinsic

    global _multiply_add, _compiled_exp_sum
    _multiply_add = intrinsic(_fma)
    _compiled_exp_sum = compile_fused(_exp_sum)
    return compile_fused(_pairs_pass)


# --------------------------------------------------------------------------
# Checks


def _labels(values: Any, argument: str, dtype: np.dtype | None) -> np.ndarray:
    """Integer labels, shape (N,) or (N, 1), as Keras' ``ops.cast(labels, "int32")`` reads them.

    Through the class API Keras first casts the labels to the compute dtype
    (`dtype`): there a label that the dtype cannot hold exactly would merge
    with another one; lossbounds raises instead.
    """
    labels = to_array(values, argument, allow_bool=True)
    if labels.ndim == 0 or labels.ndim > 2 or (labels.ndim == 2 and labels.shape[1] != 1):
        raise ValueError(
            f"circle: `{argument}` must hold one integer label per sample, shape (N,) or (N, 1), "
            f"got shape {labels.shape}. Hint: for one-hot labels pass labels.argmax(-1).")
    labels = labels.reshape(-1)
    if labels.dtype.kind == "b":
        return labels.astype(np.int64)
    if dtype is not None and labels.size:
        with np.errstate(over="ignore", invalid="ignore"):
            held = labels.astype(dtype)
            lost = held.astype(np.float64) != labels.astype(np.float64)
        if lost.any():
            first = labels[lost][0]
            raise ValueError(
                f"circle: label {plain(first)} in `{argument}` is not exactly representable in "
                f"{np.dtype(dtype).name}, the dtype Keras' Circle class casts the labels to "
                f"first (it would become {plain(held[lost][0])} and could merge with another "
                "label); lossbounds raises. Hint: number the classes from 0, or use a float64 "
                "loss dtype.")
    if labels.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(labels) | (labels != np.trunc(labels))
        if bad.any():
            raise ValueError(
                f"circle: `{argument}` must hold integer labels, got {labels[bad][0]:.7g}. "
                "Keras would truncate it silently (1.7 becomes 1); lossbounds raises.")
    wide = labels.astype(np.float64)
    if labels.size and (wide.min() < -(2**31) or wide.max() >= 2**31):
        outside = labels[(wide < -(2**31)) | (wide >= 2**31)][0]
        raise ValueError(f"circle: label {plain(outside)} in `{argument}` does not fit int32, the "
                         "type Keras casts labels to. Hint: number the classes from 0.")
    return labels.astype(np.int64)


def _float(dtype: np.dtype) -> np.dtype:
    """The float dtype Keras computes integer embeddings in: float32."""
    return np.dtype(np.float32) if dtype.kind in "iu" else dtype


def _embeddings(values: np.ndarray, argument: str) -> np.ndarray:
    if values.ndim != 2:
        raise ValueError(
            f"circle: `{argument}` must be a 2-D array of embeddings, one row per sample (N, D), "
            f"got shape {values.shape}.")
    return values


def _plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *, gamma: float = 80.0,
          margin: float = 0.4, remove_diagonal: bool = True, epsilon: float = EPSILON,
          label_dtype: np.dtype | None = None, ref_labels: Any = None,
          ref_embeddings: Any = None, backend: str = "tensorflow") -> Plan:
    embeddings = _embeddings(y_pred, "y_pred")
    labels = _labels(y_true, "y_true", label_dtype)
    if labels.size != embeddings.shape[0]:
        raise ValueError(
            f"circle: `y_true` has {labels.size} labels but `y_pred` {embeddings.shape[0]} "
            "embeddings: give one label per embedding (row).")
    compute = np.dtype(dtype)
    references = embeddings
    if ref_embeddings is not None:
        references = _embeddings(predictions(ref_embeddings, "circle", allow_int=True),
                                 "ref_embeddings")
        if references.shape[1] != embeddings.shape[1]:
            raise ValueError(
                f"circle: `ref_embeddings` have {references.shape[1]} dimensions but `y_pred` "
                f"{embeddings.shape[1]}: both must be embeddings of the same model.")
        # Keras multiplies the two as they are: float32 against float64 gives float64, and
        # integers count as float32.
        compute = np.promote_types(compute, _float(references.dtype))
    references_labels = labels if ref_labels is None else _labels(ref_labels, "ref_labels", None)
    if references_labels.size != references.shape[0]:
        given = "`ref_labels`" if ref_labels is not None else "`ref_labels` (by default `y_true`)"
        held = "`ref_embeddings`" if ref_embeddings is not None else "`ref_embeddings` (by default `y_pred`)"
        raise ValueError(
            f"circle: {given} has {references_labels.size} labels but {held} "
            f"{references.shape[0]} rows: pass both, one label per reference embedding.")

    def reference() -> tuple[np.ndarray, np.ndarray]:
        with np.errstate(all="ignore"):  # inf and NaN as Keras gives them
            values = _circle_values(labels, references_labels, cast(embeddings, compute),
                                    cast(references, compute), gamma=gamma, margin=margin,
                                    remove_diagonal=remove_diagonal, backend=backend)
        return values, values > 0  # Keras' mask: samples with loss 0 leave the mean

    return Plan(reference)


# --------------------------------------------------------------------------
# Values


def circle(y_true: ArrayLike, y_pred: ArrayLike, *, ref_labels: ArrayLike | None = None,
           ref_embeddings: ArrayLike | None = None, remove_diagonal: bool = True,
           gamma: float = 80.0, margin: float = 0.4, epsilon: float = EPSILON,
           backend: str = "tensorflow") -> np.ndarray:
    r"""Circle loss, as ``keras.losses.circle``.

    For a sample with label :math:`y_i` and embedding :math:`x_i`, and the
    reference embeddings :math:`x_j` (by default the batch itself), with
    cosine distances :math:`d_{ij} = \max(1 - x_i \cdot x_j, 0)`:

    .. math::

        \ell_i = \mathrm{softplus}\Bigl(
            \log \sum_{j \in \mathcal{P}_i} e^{-\gamma (m + d_{ij})_+ (m - d_{ij})}
          + \log \sum_{j \in \mathcal{N}_i} e^{\gamma (1 + m - d_{ij})_+ (1 - m - d_{ij})}
        \Bigr),

    where :math:`\mathcal{P}_i` are the references with label :math:`y_i`
    (without :math:`i` itself when `remove_diagonal`) and
    :math:`\mathcal{N}_i` those with another label. For unit embeddings a
    positive pair's logit is :math:`\gamma(d^2 - m^2)` and a negative pair's
    :math:`\gamma((1-d)^2 - m^2)` while :math:`d \le 1 + m`, else 0.

    Parameters
    ----------
    y_true : array_like of int
        One integer label per sample, shape ``(N,)`` or ``(N, 1)``. Float
        labels must be whole numbers.
    y_pred : array_like
        Embeddings, shape ``(N, D)``, which should be L2-normalised: Keras
        does not normalise them (end the model with
        ``keras.layers.UnitNormalization``).
    ref_labels : array_like of int, optional
        Labels of the reference embeddings; by default `y_true`.
    ref_embeddings : array_like, optional
        Reference embeddings, shape ``(M, D)``; by default `y_pred`.
    remove_diagonal : bool, default True
        Leave the pair (i, i) out of the positives. Keras removes the pair
        (i, i) even when the references are another set than the batch.
    gamma : float > 0, default 80
        Scale of the similarities (Keras' function default is the int 80,
        the same value).
    margin : float, default 0.4
        The relaxation margin m.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; Circle loss does
        not use Keras' epsilon, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        One loss per sample, shape ``(N,)``, in `y_pred`'s dtype (the wider
        of `y_pred`'s and `ref_embeddings`' dtypes, as in Keras; float32 for
        integer embeddings).

    Raises
    ------
    ValueError
        For labels that are not whole numbers (Keras truncates 1.7 to 1),
        labels beyond int32, a label count that differs from the number of
        embeddings, and embeddings that are not 2-D.

    Notes
    -----
    Keras quirks, reproduced:

    - **A sample without a positive pair** (alone with its label in the
      batch) has an empty positive log-sum-exp, :math:`-\infty`, and loss
      exactly 0. Keras' class API masks the losses that are 0 out of the
      mean (`lossbounds.loss` too): labels ``[0, 0, 1]`` give per-sample
      losses ``[x, y, 0]`` and the batch value :math:`(x + y)/2`, not
      :math:`/3`. A loss that underflows to 0 is dropped the same way.
    - **Nothing normalises the embeddings**; for non-unit ones the loss is
      unbounded.
    - The cosine distance is floored at 0 but not capped at 2.
    - The products run as TensorFlow's float32 GEMM runs them (fused
      multiply-adds in order, in blocks of 384), so values match Keras to
      the last bits, also where the loss cancels.

    References
    ----------
    .. [1] Y. Sun, C. Cheng, Y. Zhang, C. Zhang, L. Zheng, Z. Wang and
       Y. Wei, "Circle loss: A unified perspective of pair similarity
       optimization", CVPR 2020, arXiv:2002.10857.

    See Also
    --------
    loss : the reduced value of ``keras.losses.Circle`` (with the mask).

    Examples
    --------
    >>> import lossbounds
    >>> labels = [0, 0, 1]
    >>> embeddings = [[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]]
    >>> lossbounds.circle(labels, embeddings)  # label 1 has no positive pair: 0
    array([1.86984...e-10, 6.4016638e+00, 0.0000000e+00], dtype=float32)
    >>> lossbounds.loss("circle", labels, embeddings)  # the mean of the first two
    3.2008316...
    """
    return Circle().per_sample(y_true, y_pred, ref_labels=ref_labels,
                               ref_embeddings=ref_embeddings, remove_diagonal=remove_diagonal,
                               gamma=gamma, margin=margin, epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Bounds


def _softplus_exact(x: float) -> float:
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def _log_sum_exp(terms: list[tuple[float, int]]) -> float:
    """log sum_k count_k e^{logit_k}, for (logit, count) pairs with count >= 0."""
    present = [(logit + math.log(count)) for logit, count in terms if count > 0]
    if not present:
        return -math.inf
    top = max(present)
    return top + math.log(sum(math.exp(value - top) for value in present))


class _Pairs:
    """The logit of a positive and of a negative pair at cosine distance d, for unit embeddings."""

    def __init__(self, gamma: float, margin: float):
        self.gamma, self.margin = gamma, margin

    def positive(self, d: float) -> float:
        return -self.gamma * max(self.margin + d, 0.0) * (self.margin - d)

    def negative(self, d: float) -> float:
        return self.gamma * max(1 + self.margin - d, 0.0) * (1 - self.margin - d)

    def extremes(self, logit: Callable[[float], float]) -> tuple[float, float]:
        """Least and greatest logit over d in [0, 2]: at an end, a kink or a vertex."""
        m = self.margin
        candidates = [d for d in (0.0, 2.0, 1.0, -m, 1 + m) if 0.0 <= d <= 2.0]
        values = [logit(d) for d in candidates]
        return min(values), max(values)


@register
class Circle(LossDefinition):
    r"""Circle loss, per sample, for unit embeddings.

    A sample with :math:`P` positive pairs (other samples with its label)
    and :math:`N` negative pairs costs
    :math:`\mathrm{softplus}(\mathrm{LSE}_{\mathcal P} + \mathrm{LSE}_{\mathcal N})`.
    For unit vectors the cosine distance :math:`d` lies in [0, 2]. A positive
    pair's logit :math:`\gamma(d^2 - m^2)` runs from :math:`-\gamma m^2`
    (:math:`d = 0`, identical) to :math:`\gamma(4 - m^2)` (:math:`d = 2`,
    opposite); a negative pair's :math:`\gamma((1-d)^2 - m^2)` (0 beyond
    :math:`d = 1 + m`) from :math:`-\gamma m^2` (:math:`d = 1`, orthogonal) to
    :math:`\gamma(1 - m^2)` (:math:`d = 0`, identical). (For any margin the
    extremes are taken over the ends, kinks and vertices of these piecewise
    quadratics.) Each log-sum-exp of :math:`K` terms lies between the least
    term plus :math:`\ln K` and the greatest plus :math:`\ln K`, and
    softplus is increasing, so, with :math:`m \ge 0`:

    *Best case* :math:`\mathrm{softplus}(-2\gamma m^2 + \ln PN)`, positives
    identical and negatives orthogonal: 1.5243732e-11 for :math:`\gamma = 80`,
    :math:`m = 0.4`, :math:`P = 1`, :math:`N = 2`. Without the counts, the
    least over all batches, :math:`P = N = 1`.

    *Worst case* :math:`\mathrm{softplus}(\gamma(5 - 2m^2) + \ln PN)`,
    positives opposite and negatives identical: :math:`374.4 + \ln PN`.
    Without the counts: ``inf`` (:math:`\ln PN` grows with the batch).
    Non-unit embeddings are unbounded.

    *Prior baseline*: a constant embedding puts every pair at :math:`d = 0`
    (a collapse): :math:`\mathrm{softplus}(\gamma(1 - 2m^2) + \ln PN)`,
    :math:`54.4 + \ln PN`. Every constant unit embedding scores this.
    (A constant of squared norm :math:`r < 1` has :math:`d = 1 - r` and scores
    :math:`\gamma(d^2 + (1-d)^2 - 2m^2)`, least at :math:`r = 1/2`:
    :math:`\gamma(1/2 - 2m^2) + \ln PN` = 14.4 + ln PN, below the collapse,
    which is why the bounds assume unit embeddings.)

    *Uniform baseline*: random embeddings in many dimensions are nearly
    orthogonal, :math:`d = 1`: the positive logits are :math:`\gamma(1-m^2)`
    and the negative ones :math:`-\gamma m^2`, the same sum
    :math:`\gamma(1 - 2m^2) + \ln PN` as the collapse.

    With ``remove_diagonal=False`` each sample is also its own positive, at
    :math:`d = 0` whatever the model does: the positive log-sum-exp gets a
    fixed term :math:`-\gamma m^2`. Then random embeddings (orthogonal) score
    *below* the collapse, and a sample without other positives still counts.

    With `y_true` (one batch's labels) the baselines are Keras' class value
    on that batch: the mean over the samples with a positive and a negative
    pair of their own :math:`P_i`, :math:`N_i` values.
    """

    batch_wide = "its pairs are the other samples of the batch"

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1.
    # The class follows the function (the backends' "function" rule).
    float64_function = {"torch": "float32"}
    backend_differences = {
        backend: ("The class raises for a scalar sample_weight: Keras multiplies the weight in "
                  "place by the mask that leaves out samples with loss 0. Pass one weight per "
                  "sample instead.")
        for backend in ("torch", "numpy")
    }

    in_tf_keras = False  # Keras 3 added it

    name = "circle"
    class_name = "Circle"
    aliases = ("circle_loss",)
    title = "Circle loss"
    keras_options = (GAMMA, MARGIN, REMOVE_DIAGONAL)
    bound_options = (N_POSITIVES, N_NEGATIVES)
    data_options = (Y_TRUE,)
    function = staticmethod(circle)
    boolean_targets = True
    #: Integer embeddings give float32 losses, as Keras' matmul computes them in float32.
    integer_predictions = True
    prior_keys = ("n_positives", "n_negatives")
    function_arrays = ("ref_labels", "ref_embeddings")
    prior_name = "collapsed embeddings"
    prior_meaning = ("the loss of a constant embedding (all samples collapsed to one point), "
                     "the best constant prediction")

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return _plan(y_true, y_pred, _float(dtype), backend=backend.name, **options)

    def class_options(self, dtype: np.dtype) -> dict[str, Any]:
        return {"label_dtype": dtype}  # Keras' class casts the labels to its dtype first

    # -- bounds ------------------------------------------------------------

    def counts(self, s: Setting) -> tuple[int, int] | None:
        """(P, N) from the options, checked against remove_diagonal; None if not given."""
        p, n = s["n_positives"], s["n_negatives"]
        if p is None and n is None:
            return None
        if p is None or n is None:
            raise ValueError("`n_positives` and `n_negatives` go together: give both (for a "
                             "batch of K samples from each of C classes: K - 1 and (C - 1)·K).")
        if n < 1 or (p < 1 and s["remove_diagonal"]):
            raise ValueError(
                f"n_positives={p}, n_negatives={n}: a sample needs a negative pair and (with "
                "remove_diagonal=True) a positive pair, else its loss is 0 and Keras leaves it "
                "out of the mean.")
        return p, n

    def per_sample_value(self, s: Setting, p: int, n: int, d_pos: float | None,
                         d_neg: float | None, extreme: int = 0) -> float:
        """The loss of a sample whose positives all lie at `d_pos` and negatives at `d_neg`.

        With `extreme` -1 or 1 (and the distances None), every pair takes its least or
        greatest logit instead.
        """
        pairs = _Pairs(s["gamma"], s["margin"])
        if extreme:
            pos = pairs.extremes(pairs.positive)[extreme > 0]
            neg = pairs.extremes(pairs.negative)[extreme > 0]
        else:
            assert d_pos is not None and d_neg is not None
            pos, neg = pairs.positive(d_pos), pairs.negative(d_neg)
        terms = [(pos, p)]
        if not s["remove_diagonal"]:
            terms.append((pairs.positive(0.0), 1))  # the sample itself, always at d = 0
        return _softplus_exact(_log_sum_exp(terms) + neg + math.log(n))

    def best(self, s: Setting) -> float:
        found = self.counts(s)
        if found is None:
            # Every pair adds a term to a log-sum-exp: the fewest pairs cost least.
            found = (0 if not s["remove_diagonal"] else 1, 1)
        return self.per_sample_value(s, *found, None, None, -1)

    def worst(self, s: Setting) -> float:
        found = self.counts(s)
        if found is None:
            return math.inf
        return self.per_sample_value(s, *found, None, None, 1)

    def baseline(self, s: Setting, y_true: Any, d: float) -> float:
        """Every pair at cosine distance `d`: from the batch labels, else from the counts."""
        if y_true is not None:
            labels = _labels(y_true, "y_true", None)
            _, index, sizes = np.unique(labels, return_inverse=True, return_counts=True)
            same = sizes[index]  # samples with each sample's label, itself included
            positives, negatives = same - 1, labels.size - same
            keep = (negatives > 0) & ((positives > 0) | (not s["remove_diagonal"]))
            if not keep.any():
                raise ValueError(
                    "No sample in `y_true` has both a positive and a negative pair: Keras' "
                    "Circle loss is 0 for every embedding of this batch. Hint: a batch needs at "
                    "least two samples of one class and one of another.")
            # Samples with equal counts have equal values: one per distinct count.
            values = {(int(a), int(b)): self.per_sample_value(s, int(a), int(b), d, d)
                      for a, b in set(zip(positives[keep], negatives[keep]))}
            return float(np.mean([values[int(a), int(b)]
                                  for a, b in zip(positives[keep], negatives[keep])]))
        found = self.counts(s)
        if found is None:
            raise UndefinedBound(self.uniform_missing(s))
        return self.per_sample_value(s, *found, d, d)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        # Random unit vectors in many dimensions are nearly orthogonal: d = 1. Without the
        # self pair that scores gamma (1 - 2 m^2) + ln PN, the collapse value (d = 0): computed
        # as that, so that the two are equal to the last bit.
        return self.baseline(s, y_true, 0.0 if s["remove_diagonal"] else 1.0)

    def prior(self, s: Setting, y_true: Any) -> float:
        return self.baseline(s, y_true, 0.0)

    def notes(self, s: Setting) -> tuple[Note, ...]:
        return (
            Note("unit_embeddings", (
                "The bounds assume L2-normalised embeddings, as Keras' documentation asks "
                "(end the model with keras.layers.UnitNormalization): Keras does not normalise "
                "them, and without it the loss is unbounded.")),
            Note("masked_samples", (
                "A sample without a positive pair in its batch (alone with its label) has loss "
                "0 and Keras leaves it out of the batch mean; so does a loss that underflows to "
                "0 (a near-perfect sample when 2·gamma·margin² exceeds about 87 in float32).")),
            Note("batch_composition", (
                "A sample's loss grows with ln(P·N), its numbers of positive and negative pairs "
                "in the batch: the same model scores higher with bigger batches.")),
        )

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        counts = self.counts(s)
        shown = f" for P = {counts[0]}, N = {counts[1]}" if counts else ""
        return f"softplus(γ(1 - 2m²) + ln(P·N)){shown}"

    def uniform_meaning(self, s: Setting) -> str:
        if s["remove_diagonal"]:
            return ("the loss of collapsed embeddings (all equal) or of random ones (all pairs "
                    "orthogonal)")
        return "the loss of random embeddings (all pairs orthogonal)"

    def uniform_missing(self, s: Setting) -> str:
        return ("the baselines of circle depend on the number of positive and negative pairs "
                "of a sample: pass n_positives=P and n_negatives=N (--n-positives P "
                "--n-negatives N; for K samples from each of C classes per batch, P = K - 1 and "
                "N = (C - 1)·K), or one batch's labels y_true")

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if value == 0.0:
            return (Note("no_positive_pairs", (
                "A Circle loss of exactly 0 means no sample counted: none had a positive pair in "
                "its batch (each is alone with its label), or every loss underflowed. Keras "
                "leaves such samples out and an empty mean is 0. Hint: sample batches with at "
                "least two examples of each class (P×K sampling).")),)
        counts = self.counts(s)
        if counts is not None and value > self.worst(s) * (1 + 1e-6):
            return (Note("embeddings_not_normalised", (
                f"{loss_value(value)} is above {number(self.worst(s))}, the most a sample with "
                f"{counts[0]} positive and {counts[1]} negative pairs can cost with unit "
                "embeddings: the embeddings are not L2-normalised (Keras does not normalise "
                "them). Hint: end the model with keras.layers.UnitNormalization.")),)
        return ()

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        gamma, margin = s["gamma"], s["margin"]
        collapse = gamma * (1 - 2 * margin**2)
        return [
            f"Circle loss sits near γ(1 - 2m²) + ln(P·N) = {number(collapse)} + ln(P·N) when the "
            "embeddings collapse to one point or are random, and falls towards "
            f"softplus(-2γm² + ln(P·N)) (about {number(_softplus_exact(-2 * gamma * margin**2))} "
            "for P = N = 1) as positive pairs coincide and negative pairs turn orthogonal.",
        ]
