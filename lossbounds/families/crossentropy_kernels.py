r"""Cross-entropy values: Keras' formulas (the references) and the fast kernels.

The references transcribe what Keras 3 computes on the TensorFlow backend, on
whole arrays; they define the values. The kernels compute the same values
block by block through `lossbounds.engine`, taking a shortcut only where it
gives Keras' value (one-hot targets, rows whose exponentials stay in range)
and handing every other row to the reference. float16 always takes the
reference, which adds in TensorFlow's exact order (`_tfmath.half_sum`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from .. import _tfmath
from ..backends import Backend, get_backend
from ..checks import check_axis, first_where, plain
from ..engine import (
    Job,
    Kernel,
    Plan,
    RejectedBlock,
    caller_outside_package,
    cast,
    clip,
    flat_index,
    make_job,
    require_rank,
    require_same_shape,
    row_mean,
    row_sum,
    rows_job,
    vectors_last,
)
from ..fused import Fused
from .crossentropy_fused import (
    FUSED_BINARY,
    FUSED_BINARY_ON,
    FUSED_CATEGORICAL,
    FUSED_CATEGORICAL_ON,
    FUSED_SPARSE,
    FUSED_SPARSE_ON,
    FUSED_TWO_CLASS_CATEGORICAL,
    FUSED_TWO_CLASS_CATEGORICAL_ON,
    FUSED_TWO_CLASS_SPARSE,
    FUSED_TWO_CLASS_SPARSE_ON,
    FUSED_WIDE_SPARSE,
    binary_smoothing,
    fused_sparse_probabilities,
)

__all__ = ["binary_elementwise", "check_unit_targets", "keras_mean_on", "keras_sigmoid",
           "last_axis_rows", "plan_binary", "plan_binary_on", "plan_categorical",
           "plan_categorical_on", "plan_sparse", "plan_sparse_on", "rescaled",
           "sigmoid_cross_entropy_with_logits", "smooth_binary", "smooth_categorical"]

_F32 = np.float32

#: The backend these formulas are TensorFlow's of.
_TENSORFLOW = get_backend("tensorflow")


# --------------------------------------------------------------------------
# References: Keras' formulas on whole arrays. They define the values; the
# kernels below must agree with them, and call them for rows they cannot do.


def _flushed(value: Any) -> Any:
    """A scalar as TensorFlow's CPU kernels read it: subnormal float32/float64 is 0."""
    return _tfmath.flush_subnormals(np.asarray(value))[()]


def smooth_binary(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Keras' binary label smoothing, ``y * (1 - a) + 0.5 * a``.

    Each Python scalar is rounded to the tensor dtype, and a subnormal
    ``0.5 * a`` is read as 0, as TensorFlow reads it.
    """
    dtype = y_true.dtype.type
    return y_true * dtype(1.0 - label_smoothing) + _flushed(dtype(0.5 * label_smoothing))


def sigmoid_cross_entropy_with_logits(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``tf.nn.sigmoid_cross_entropy_with_logits``: max(x, 0) - x y + log1p(exp(-|x|))."""
    positive = logits >= 0
    relu = np.where(positive, logits, 0).astype(logits.dtype)
    negative_abs = np.where(positive, -logits, logits)
    return (relu - logits * labels) + np.log1p(np.exp(negative_abs))


def _binary_elementwise(
    y_true: np.ndarray, y_pred: np.ndarray, from_logits: bool, epsilon: float
) -> np.ndarray:
    with np.errstate(all="ignore"):
        if from_logits:
            return sigmoid_cross_entropy_with_logits(y_true, y_pred)
        p = clip(y_pred, epsilon)
        # -(y log p + (1 - y) log(1 - p)), the backend's two logs; negating
        # each term first changes no bit.
        positive, negative = _TENSORFLOW.binary_costs(p, epsilon, p.dtype)
        one = y_true.dtype.type(1)
        return y_true * positive + (one - y_true) * negative


def _bce_reference(y_true, y_pred, from_logits, label_smoothing, axis, epsilon):
    if label_smoothing:
        y_true = smooth_binary(y_true, label_smoothing)
    elementwise = _binary_elementwise(y_true, y_pred, from_logits, epsilon)
    return _tfmath.keras_mean(elementwise, axis=axis)


def smooth_categorical(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    """Keras' categorical label smoothing, ``y * (1 - a) + a / K``.

    K is the size of y_true's *last* axis (Keras 3.15, whatever `axis` is);
    TensorFlow reads a subnormal ``a``, or ``a / K``, as 0.
    """
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
        y_true = smooth_categorical(y_true, label_smoothing)
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
        p = clip(y_pred / total, epsilon)
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
        logits = y_pred if from_logits else _tfmath.log(clip(y_pred, epsilon))
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


#: Sparse CCE on probabilities: on rows whose clipped sum lies in [1/2, 2],
#: log(sum / target) is within ~0.7e-6 * max(1, loss) of TF's logsumexp of
#: rounded float32 logs for up to this many classes (the rounding errors of
#: the logs average out with weights p_k; the bound is 2**-24 * ((1 - w) *
#: (ln(K-1) + 2 ln 2 + loss) + 1/e), w = exp(-loss)). tests/test_kernels.py
#: checks the constant.
_NEAR_ONE_WIDTH = 2**15

#: Labels up to this size survive Keras' cast of integer labels to the
#: compute dtype unchanged (the class API casts y_true to float32).
_EXACT_INTEGERS = {np.dtype(np.float16): 2**11, np.dtype(np.float32): 2**24,
                   np.dtype(np.float64): 2**53}


class _SparseLabels:
    """How sparse labels are read block by block (the `lossbounds.engine.LabelReader`)."""

    def read(self, job: Job, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
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
                        raise RejectedBlock
                    return labels, None
                valid = labels != ignore
                kept = np.where(valid, labels, 0)  # (0 is a class: checking it changes nothing)
                if kept.size and (kept.min() < 0 or kept.max() >= k):
                    raise RejectedBlock
                return kept, valid
        if limit is not None and labels.dtype != job.label_dtype:
            labels = labels.astype(job.label_dtype)
        valid = None if ignore is None else labels != ignore
        kept = labels if valid is None else labels[valid]
        if kept.dtype.kind == "f":
            bad = ~np.isfinite(kept) | (kept != np.trunc(kept))
            if bad.any():
                raise RejectedBlock
        if kept.size and (kept.min() < 0 or kept.max() >= k):
            raise RejectedBlock
        if valid is not None:
            labels = np.where(valid, labels, 0)
        return labels.astype(np.int64, copy=False), valid

    def unread(self, job: Job) -> bool:
        """Integer labels without ``ignore_class`` that Keras' cast leaves as they are (`LabelReader`)."""
        limit = None if job.label_dtype is None else _EXACT_INTEGERS[job.label_dtype]
        return (job.ignore_class is None and isinstance(job.y_true, np.ndarray)
                and job.y_true.dtype.kind in "iu" and (limit is None or job.width <= limit))

    def report(self, job: Job) -> None:
        """Report the first bad label with the reference's message."""
        labels = job.y_true if job.label_dtype is None else job.y_true.astype(job.label_dtype)
        valid = None if job.ignore_class is None else labels != job.ignore_class
        _integer_labels(labels, job.width, valid)
        raise AssertionError("a label block was rejected but the labels check out")  # pragma: no cover


_SPARSE_LABELS = _SparseLabels()


# --------------------------------------------------------------------------
# Kernels: one idea each.


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
    return row_mean(np.log(q, out=q), ws, negate=True)


def _binary_from_logits(y_true, y_pred, ws):
    """BCE on logits: TF's max(x, 0) - x y + log1p(exp(-|x|)), through reused buffers."""
    job = ws.job
    if job.label_smoothing:
        y_true = smooth_binary(y_true, job.label_smoothing)
    softplus = np.abs(y_pred, out=ws.array("softplus", y_pred.shape))
    np.negative(softplus, out=softplus)
    np.exp(softplus, out=softplus)
    np.log1p(softplus, out=softplus)
    # np.clip(x, 0, inf) is max(x, 0) with NaN kept, 3x faster than np.maximum(x, 0)
    loss = np.clip(y_pred, 0, np.inf, out=ws.scratch("loss", y_pred.shape))
    product = np.multiply(y_pred, y_true, out=ws.array("product", y_pred.shape))
    np.subtract(loss, product, out=loss)
    np.add(loss, softplus, out=loss)
    return row_mean(loss, ws)


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
    total = row_sum(clipped, ws)
    normalised = None if job.width > _NEAR_ONE_WIDTH else (total >= 0.5) & (total <= 2)
    np.divide(total, np.take(clipped, flat_index(labels, ws), mode="clip"), out=total)
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
    ratio = row_sum(exp, ws)
    target = np.take(exp, index, mode="clip")
    np.divide(ratio, target, out=ratio)
    job = ws.job
    ok = (ratio <= job.max) & (target >= job.tiny * 2.0**26)
    return ratio, (None if ok.all() else ~ok)


def _sparse_from_logits(labels, y_pred, ws):
    """Sparse CCE on logits: log(sum_k exp(z_k - z_y)), shifted by the target logit;
    rows that overflow take TF's max shift (logits of +-1e4 or +-1e30)."""
    ratio, bad = _exp_sum_over_target(y_pred, flat_index(labels, ws), ws)
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
        np.divide(weighted, row_sum(y_true, ws, "target_sum"), out=weighted)
        position = np.rint(weighted, out=weighted).astype(np.int64)  # garbage if not one-hot
        np.clip(position, 0, width - 1, out=position)  # ...but inside its own row
    index = np.add(ws.row_offsets(rows), position, out=ws.array("flat_index", (rows,), np.int64))
    value = np.take(y_true, index, mode="clip")
    bits = y_true.view(np.int32 if y_true.dtype == np.float32 else np.int64)
    if np.count_nonzero(bits) != rows or not np.all(value):
        return None
    return index, value


def _unusable_sums(total: np.ndarray, job: Job) -> np.ndarray | None:
    """Rows whose probability sum is 0, inf, NaN or below sqrt(tiny), or None.

    TF flushes subnormal probabilities to 0 before it sums and divides; with
    |sum| >= sqrt(tiny) and a clip floor of at least sqrt(tiny) (`make_job`
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
    total = row_sum(y_pred, ws)
    loss = np.divide(np.take(y_pred, index, mode="clip"), total)
    np.clip(loss, job.low, job.high, out=loss)
    np.log(loss, out=loss)
    np.multiply(loss, value, out=loss)
    np.negative(loss, out=loss)
    bad = _unusable_sums(total, job)
    if bad is not None:
        loss[bad] = _cce_reference(y_true[bad], y_pred[bad], False, 0.0, -1, job.epsilon)
    return loss


def _one_hot_logits(y_true, y_pred, ws):
    """`_one_hot` of a block of logits, or None where the reference must take it.

    TF multiplies every zero target by (log_sum - shifted_k), which is NaN
    when a logit is -inf: blocks with such logits, soft targets or label
    smoothing take the reference.
    """
    if ws.job.label_smoothing or not y_pred.min() > -ws.job.max / 2:
        return None
    return _one_hot(y_true, ws)


def _onehot_from_logits(y_true, y_pred, ws):
    """CCE on logits for one-hot targets: y_c log sum_k exp(z_k - z_c), the sparse kernel's sum.

    Other blocks take the reference (`_one_hot_logits`).
    """
    job = ws.job
    hot = _one_hot_logits(y_true, y_pred, ws)
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
    labels = y_true if job.labels is not None else None
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
        y_true = smooth_categorical(y_true, job.label_smoothing)
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
        y_true = smooth_categorical(y_true, job.label_smoothing)
    rows = y_pred.shape[0]
    total = row_sum(y_pred, ws)
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



# --------------------------------------------------------------------------
# Wide rows: one row of K = 1e8 classes would take gigabytes of whole-row
# temporaries (its logs, shifts and exps); these kernels read it in chunks
# of columns instead.

#: Rows of more classes than this are read `_COLUMNS` classes at a time (TF's
#: own formula is needed beyond `_NEAR_ONE_WIDTH` anyway: see `_sparse_from_probabilities`).
_WIDE = _NEAR_ONE_WIDTH
_COLUMNS = 1 << 16


def _wide_log_softmax(logits_of: Callable[[int, int], np.ndarray], width: int, target: int,
                      kind: Any) -> Any:
    """TF's softmax cross-entropy of one row, ``log_sum - shifted[target]``, in column chunks.

    ``logits_of(start, stop)`` gives the row's logits start:stop in the job's
    dtype. TF shifts the row by its max, adds exp(shifted) and takes the log;
    here the max and the sum run along the row, the sum in float64 and
    rescaled whenever the max grows, so a term differs from TF's by a
    rounding at most (as the whole row's float32 pairwise sum differs from
    TF's own adding order).
    """
    top, total, picked = -np.inf, 0.0, kind(np.nan)
    for start in range(0, width, _COLUMNS):
        logits = logits_of(start, min(start + _COLUMNS, width))
        if start <= target < start + logits.size:
            picked = logits[target - start]
        high = float(logits.max())
        if np.isnan(high):
            return kind(np.nan)  # TF's max is NaN, so is every shifted logit
        if high > top:
            total *= float(np.exp(top - high))
            top = high
        if top > -np.inf:  # (while every logit so far is -inf they add nothing)
            total += float(np.sum(np.exp(logits - kind(top)), dtype=np.float64))
    if top == -np.inf:
        return kind(np.nan)  # every logit -inf: TF's shift is -inf - (-inf)
    with np.errstate(all="ignore"):
        return np.log(kind(total)) - (picked - kind(top))


def _row_logits(y_pred: np.ndarray, row: int, ws: Any, from_logits: bool
                ) -> Callable[[int, int], np.ndarray]:
    """Columns start:stop of a block row's logits: the logits, or TF's log of the clipped probabilities."""
    values = y_pred[row]
    if from_logits:
        return lambda start, stop: values[start:stop]
    job = ws.job
    first = (ws.start + row) * job.width  # the row's flat offset: TF's log tail is the tensor's

    def logits(start: int, stop: int) -> np.ndarray:
        clipped = np.clip(values[start:stop], job.low, job.high)
        return _tfmath.log(clipped, scalar_from=job.scalar_log_from - first - start)

    return logits


def _wide_sparse(from_logits: bool) -> Callable[..., np.ndarray]:
    """Sparse CCE on rows wider than `_WIDE`: TF's formula (`_softmax_xent`), a chunk at a time."""
    def kernel(labels: np.ndarray, y_pred: np.ndarray, ws: Any) -> np.ndarray:
        job = ws.job
        out = ws.array("wide", (y_pred.shape[0],))
        for row in range(y_pred.shape[0]):
            out[row] = _wide_log_softmax(_row_logits(y_pred, row, ws, from_logits), job.width,
                                         int(labels[row]), job.dtype.type)
        return out
    return kernel


def _wide_onehot_from_logits(y_true, y_pred, ws):
    """CCE on logits for rows wider than `_WIDE` and one-hot targets: y_c (log_sum - shifted_c).

    Other blocks take the reference (`_one_hot_logits`).
    """
    job = ws.job
    hot = _one_hot_logits(y_true, y_pred, ws)
    if hot is None:
        return _cce_reference(y_true, y_pred, True, job.label_smoothing, -1, job.epsilon)
    index, value = hot
    out = ws.array("wide", (y_pred.shape[0],))
    for row in range(y_pred.shape[0]):
        target = int(index[row]) - row * job.width  # the flat index is the block's
        out[row] = value[row] * _wide_log_softmax(_row_logits(y_pred, row, ws, True), job.width,
                                                  target, job.dtype.type)
    return out


# The cross-entropies are exp/log-bound and gain most from a second thread.
# (Each with its fused kernel: `crossentropy_fused`.)
_BINARY = {False: Kernel(_binary_from_probabilities, threads=True, elementwise=True,
                         fused=FUSED_BINARY[False], row_terms="mean"),
           True: Kernel(_binary_from_logits, threads=True, elementwise=True,
                        fused=FUSED_BINARY[True], row_terms="mean")}
_CATEGORICAL = {False: Kernel(_onehot_from_probabilities, threads=True,
                              fused=FUSED_CATEGORICAL[False]),
                True: Kernel(_onehot_from_logits, threads=True, fused=FUSED_CATEGORICAL[True])}
_SPARSE = {False: Kernel(_sparse_from_probabilities, threads=True,
                         fused=fused_sparse_probabilities(_NEAR_ONE_WIDTH)),
           True: Kernel(_sparse_from_logits, threads=True, fused=FUSED_SPARSE)}
# ...and for two classes, where per-row numpy calls dominate: column formulas
# (sparse CCE on probabilities keeps its kernel, in half-size blocks: its
# per-row arrays would otherwise be the biggest).
_TWO_CLASS_CATEGORICAL = {False: Kernel(_two_class_probabilities, threads=True, elementwise=True,
                                        fused=FUSED_TWO_CLASS_CATEGORICAL[False]),
                          True: Kernel(_two_class_logits, threads=True, elementwise=True,
                                       fused=FUSED_TWO_CLASS_CATEGORICAL[True])}
_TWO_CLASS_SPARSE = {False: Kernel(_sparse_from_probabilities, threads=True, elementwise=True,
                                   fused=FUSED_TWO_CLASS_SPARSE[False]),
                     True: Kernel(_two_class_logits, threads=True, elementwise=True,
                                  fused=FUSED_TWO_CLASS_SPARSE[True])}
# ...and for rows wider than _WIDE, in column chunks (CCE on probabilities
# needs no chunks: its one-hot kernel keeps no whole-row array).
# With the accelerator, the logits kernels take rows up to 2**20 classes (vocabularies of
# 50,000 to 256,000: 6-12x faster than these chunks).
_WIDE_CATEGORICAL = {False: _CATEGORICAL[False],
                     True: Kernel(_wide_onehot_from_logits, threads=True,
                                  fused=FUSED_CATEGORICAL[True])}
_WIDE_SPARSE = {False: Kernel(_wide_sparse(False), threads=True, fused=FUSED_WIDE_SPARSE),
                True: Kernel(_wide_sparse(True), threads=True, fused=FUSED_SPARSE)}


def _kernels(table: dict[bool, Kernel], two_class: dict[bool, Kernel] | None,
             from_logits: bool, wide: dict[bool, Kernel] | None = None) -> Callable[[int], Kernel]:
    """The kernel for rows of a width: the two-class one at width 2, the wide one beyond `_WIDE`."""
    def choose(width: int) -> Kernel:
        if wide is not None and width > _WIDE:
            return wide[from_logits]
        return two_class[from_logits] if two_class is not None and width == 2 else table[from_logits]
    return choose


# --------------------------------------------------------------------------
# Plans: each loss's checks, then a job for the kernels or the reference.


def plan_binary(y_true, y_pred, dtype, *, from_logits, label_smoothing, axis, epsilon):
    require_same_shape(y_true, y_pred, "binary_crossentropy")
    require_rank(y_pred, "y_pred", "binary_crossentropy")
    axis = check_axis(axis, y_pred.ndim)

    return _smoothable_plan(_bce_reference, _kernels(_BINARY, None, from_logits), y_true, y_pred,
                            dtype, from_logits=from_logits, label_smoothing=label_smoothing,
                            axis=axis, epsilon=epsilon, smoothing_reads_width=False)


def _smoothable_plan(formula, kernels, y_true, y_pred, dtype, *, from_logits, label_smoothing,
                     axis, epsilon, smoothing_reads_width=True):
    """The plan of binary and categorical cross-entropy, once their inputs are checked.

    `smoothing_reads_width`: does label smoothing divide by the last axis'
    length (categorical, not binary)?
    """

    def reference():
        return formula(
            cast(y_true, dtype), cast(y_pred, dtype), from_logits, label_smoothing, axis, epsilon
        ), None

    job = make_job(kernels, y_true, y_pred, dtype, axis=axis, from_logits=from_logits,
                   epsilon=epsilon, label_smoothing=label_smoothing)
    # No kernel (a clip below the square root of the smallest normal number, or the
    # class axis not last): the reference itself, a block of rows at a time, so that
    # memory stays flat. A class axis elsewhere is moved last as a view (`vectors_last`).
    if job is None:
        rows = vectors_last(y_true, y_pred, axis, dtype,
                            reads_last_length=bool(label_smoothing) and smoothing_reads_width)
        if rows is not None:
            job = rows_job(lambda t, p: formula(t, p, from_logits, label_smoothing, -1, epsilon),
                           *rows, dtype, epsilon=epsilon)
    return Plan(reference, job)


def plan_categorical(y_true, y_pred, dtype, *, from_logits, label_smoothing, axis, epsilon):
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"`axis` must be an int, got bool: {axis!r}.")
    require_rank(y_pred, "y_pred", "categorical_crossentropy")
    if y_pred.shape[-1] == 1:
        constant = "0 (the log-softmax of one logit)" if from_logits else \
            "about 1.2e-7 (the row divided by itself, clipped to 1 - epsilon)"
        warnings.warn(
            "categorical_crossentropy with a single class (y_pred.shape[-1] == 1) "
            f"is always {constant}. Hint: for two classes with one output, use "
            "binary_crossentropy.",
            UserWarning,
            stacklevel=caller_outside_package(),
        )
    require_rank(y_true, "y_true", "categorical_crossentropy")
    require_same_shape(y_true, y_pred, "categorical_crossentropy")
    requested, axis = axis, check_axis(axis, y_pred.ndim)
    if from_logits and requested < -1:
        # tf.nn.softmax_cross_entropy_with_logits fails on a negative axis
        # other than -1 (it builds range(axis + 1, rank) with the raw value).
        raise ValueError(
            f"categorical_crossentropy: with from_logits=True the TensorFlow "
            f"backend rejects axis={requested}. Hint: pass the same axis as a "
            f"non-negative number, axis={axis}."
        )

    return _smoothable_plan(_cce_reference,
                            _kernels(_CATEGORICAL, _TWO_CLASS_CATEGORICAL, from_logits,
                                     _WIDE_CATEGORICAL),
                            y_true, y_pred, dtype, from_logits=from_logits,
                            label_smoothing=label_smoothing, axis=axis, epsilon=epsilon)


def plan_sparse(
    y_true, y_pred, dtype, *, from_logits, ignore_class, axis, epsilon, label_dtype=None
):
    require_rank(y_pred, "y_pred", "sparse_categorical_crossentropy")
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
        labels = y_true if label_dtype is None else cast(y_true, label_dtype)
        valid = None if ignore_class is None else (labels != ignore_class)
        labels = _integer_labels(labels, n_classes, valid)
        return _scce_reference(labels, cast(y_pred, dtype), valid, from_logits, epsilon), valid

    # the kernels check the labels block by block
    kernels = _kernels(_SPARSE, _TWO_CLASS_SPARSE, from_logits, _WIDE_SPARSE)
    # Wide rows of probabilities take TF's log of each: whole packets of 8 in every block
    # but the last, which alone holds TF's scalar log tail (numpy's kernel models it)
    packet = 8 if not from_logits and n_classes > _WIDE else 1
    job = make_job(kernels, y_true, y_pred, dtype, from_logits=from_logits, packet=packet,
                   epsilon=epsilon, ignore_class=ignore_class, label_dtype=label_dtype,
                   labels=_SPARSE_LABELS,  # float16: the reference on blocks of rows
                   reference=lambda labels, p: _scce_reference(labels, p, None, from_logits,
                                                               epsilon))
    return Plan(reference, job)


# --------------------------------------------------------------------------
# The other backends: Keras 3 on JAX, PyTorch and NumPy, and legacy tf.keras.
# Whole-array references (the kernels above are a TensorFlow optimisation).


def _in_float32(backend: Backend, x: np.ndarray) -> np.ndarray:
    """`x` as PyTorch's and XLA's CPU kernels compute half precision: in float32.

    Their elementwise and reduction kernels upcast float16, compute, and round
    once; the NumPy backend's numpy ufuncs round after every operation.
    """
    if x.dtype == np.float16 and backend.name != "numpy":
        return x.astype(_F32)
    return x


def keras_mean_on(backend: Backend, x: np.ndarray, axis: int) -> np.ndarray:
    """``ops.mean`` on `backend`. PyTorch's averages float64 in float32 (Keras' result_type
    of float64 and "float32" is float32) and returns float64: the elementwise loss is float64."""
    if backend.name == "torch" and x.dtype == np.float64:
        return _tfmath.keras_mean(x.astype(_F32), axis=axis).astype(np.float64)
    return _tfmath.keras_mean(x, axis=axis)


def keras_sigmoid(backend: Backend, x: np.ndarray) -> np.ndarray:
    """``ops.sigmoid`` on `backend`: 1 / (1 + exp(-x)), in `x`'s dtype (TensorFlow's differs)."""
    one = _F32(1) if x.dtype == np.float16 and backend.name != "numpy" else x.dtype.type(1)
    with np.errstate(over="ignore"):
        return (one / (one + np.exp(-_in_float32(backend, x)))).astype(x.dtype)


def _jax_logits(y_true: np.ndarray, logits: np.ndarray) -> np.ndarray:
    # -t log_sigmoid(x) - (1 - t) log_sigmoid(-x), log_sigmoid(x) = -softplus(-x):
    # a logit of +inf costs inf for t < 1 (TensorFlow: NaN).
    # softplus(+-x) = max(+-x, 0) + log1p(exp(-|x|)), jnp.logaddexp's own formula: both
    # share one exp and one log1p (np.logaddexp takes ~16 ns an element in libm, 5x longer)
    one, zero = y_true.dtype.type(1), logits.dtype.type(0)
    x = _in_float32(get_backend("jax"), logits)
    tail = np.log1p(np.exp(-np.abs(x)))
    value = y_true * (np.maximum(-x, zero) + tail) + (one - y_true) * (np.maximum(x, zero) + tail)
    return value.astype(logits.dtype)


def _torch_logits(y_true: np.ndarray, logits: np.ndarray) -> np.ndarray:
    # binary_cross_entropy_with_logits: (1 - t) x - log_sigmoid(x), with
    # log_sigmoid(x) = min(x, 0) - log1p(exp(-|x|)): label 1 at -inf is NaN (TensorFlow: inf)
    one = y_true.dtype.type(1)
    x = _in_float32(get_backend("torch"), logits)
    log_sigmoid = np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x)))
    return ((one - y_true) * x - log_sigmoid).astype(logits.dtype)


#: Binary cross-entropy from logits where it is not TensorFlow's formula
#: (the NumPy backend applies the sigmoid and clips: `Backend.clips_binary_logits`).
_BINARY_LOGITS = {"jax": _jax_logits, "torch": _torch_logits}


def _outside_unit(y_true: np.ndarray) -> np.ndarray:
    """Where targets lie outside [0, 1], NaN included: those PyTorch's binary_cross_entropy refuses."""
    with np.errstate(invalid="ignore"):
        return ~((y_true >= 0) & (y_true <= 1))


def _refuse_outside_unit(y_true: np.ndarray, p: np.ndarray, backend: Backend) -> None:
    """PyTorch's binary_cross_entropy raises for targets outside [0, 1] and NaN."""
    bad_target = _outside_unit(y_true)
    if bad_target.any():
        raise ValueError(
            f"binary cross-entropy on {backend.title}: `y_true` must hold targets in [0, 1], "
            f"got {plain(y_true[bad_target].flat[0])} (after label smoothing); PyTorch's "
            "binary_cross_entropy raises a RuntimeError. Hint: map labels such as -1/+1 to 0/1."
        )
    if np.isnan(p).any():
        raise ValueError(
            f"binary cross-entropy on {backend.title}: `y_pred` holds NaN; PyTorch's "
            "binary_cross_entropy raises a RuntimeError for it."
        )


def binary_elementwise(backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                       from_logits: bool, epsilon: float) -> np.ndarray:
    """``ops.binary_crossentropy`` on `backend`, elementwise, for targets already smoothed."""
    with np.errstate(all="ignore"):
        if from_logits and not backend.clips_binary_logits:
            formula = _BINARY_LOGITS.get(backend.name, sigmoid_cross_entropy_with_logits)
            return formula(y_true, y_pred)
        if from_logits:
            y_pred = keras_sigmoid(backend, y_pred)
        p = clip(y_pred, epsilon)
        if backend.clamps_logs:
            _refuse_outside_unit(y_true, p, backend)
        positive, negative = backend.binary_costs(p, epsilon, p.dtype)
        one = y_true.dtype.type(1)
        return y_true * positive + (one - y_true) * negative


def plan_binary_on(backend, y_true, y_pred, dtype, *, from_logits, label_smoothing, axis,
                   epsilon):
    """`plan_binary` on `backend`: its logs and logits formula (see `binary_elementwise`)."""
    if backend.name == "tensorflow":
        return plan_binary(y_true, y_pred, dtype, from_logits=from_logits,
                           label_smoothing=label_smoothing, axis=axis, epsilon=epsilon)
    require_same_shape(y_true, y_pred, "binary_crossentropy")
    require_rank(y_pred, "y_pred", "binary_crossentropy")
    axis = check_axis(axis, y_pred.ndim)

    def formula(truth: np.ndarray, prediction: np.ndarray, axis: int = axis) -> np.ndarray:
        if label_smoothing:
            truth = smooth_binary(truth, label_smoothing)
        elementwise = binary_elementwise(backend, truth, prediction, from_logits, epsilon)
        return keras_mean_on(backend, elementwise, axis)

    def reference():
        return formula(cast(y_true, dtype), cast(y_pred, dtype)), None

    if backend.clamps_logs:  # PyTorch checks its inputs at the call: raise now
        check_unit_targets(backend, y_true, y_pred, dtype, from_logits=from_logits,
                           label_smoothing=label_smoothing, epsilon=epsilon)
    fused = FUSED_BINARY_ON.get((backend.name, from_logits))
    low, high = Backend.clip_bounds(epsilon, dtype)
    if fused is not None and (from_logits or low >= np.finfo(dtype).tiny):
        # (its options: the smoothing, then the clip bounds. A subnormal bound keeps numpy's
        # kernel: TensorFlow's log, the kernels', reads it as the smallest normal number)
        fused = fused.using(*binary_smoothing(dtype, label_smoothing), float(low), float(high))
    else:
        fused = None
    return _streamed(reference, formula, y_true, y_pred, dtype, axis, fused)


def _streamed(reference: Callable[[], tuple[np.ndarray, None]],
              formula: Callable[..., np.ndarray], y_true: np.ndarray, y_pred: np.ndarray,
              dtype: np.dtype, axis: int, fused: Fused | None = None) -> Plan:
    """The plan of a cross-entropy on JAX, PyTorch or NumPy: whole, and streamed where it can be.

    The whole-array `reference`, and ``formula(truth_rows, prediction_rows,
    axis=-1)`` a block of rows at a time where each row's value is its own:
    the class axis last, float32 or float64 (these backends reduce float16
    in their own orders, which the whole array keeps). A reduced loss then
    takes bounded memory and two threads (binary cross-entropy from
    probabilities on 1e7 values, JAX's formula: 191 MiB and 80 ms whole).
    `fused` computes the same values in one pass where the accelerator is on.
    """
    if np.dtype(dtype) == np.float16:
        return Plan(reference)
    return Plan(reference, last_axis_rows(formula, y_true, y_pred, dtype, axis, fused))


def last_axis_rows(formula: Callable[..., np.ndarray], y_true: np.ndarray, y_pred: np.ndarray,
                   dtype: Any, axis: int, fused: Fused | None = None,
                   row_terms: Literal["mean", "sum"] | None = None) -> Job | None:
    """A job streaming ``formula(t, p, axis=-1)`` a block of rows at a time, where the class axis is last.

    For losses whose row's value depends on that row alone (`rows_job`, with
    its `row_terms`); None where `axis` is another axis. `fused` computes the
    same values in one pass where the accelerator is on.
    """
    if axis % max(y_pred.ndim, 1) != y_pred.ndim - 1:
        return None
    return rows_job(lambda t, p: formula(t, p, axis=-1), y_true, y_pred, np.dtype(dtype),
                    fused=fused, row_terms=row_terms)


def check_unit_targets(backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                       dtype: np.dtype, *, from_logits: bool, label_smoothing: float,
                       epsilon: float) -> None:
    """PyTorch's binary_cross_entropy refusals (`_refuse_outside_unit`) on whole inputs.

    PyTorch raises at the call, so a streamed loss checks first, a piece at a
    time: targets outside [0, 1] once smoothed, and NaN probabilities (a
    NaN logit has a NaN sigmoid). None from logits: PyTorch's logits formula
    checks nothing.
    """
    if from_logits:
        return

    def targets(piece: np.ndarray) -> np.ndarray:
        truth = cast(piece, dtype)
        return _outside_unit(smooth_binary(truth, label_smoothing) if label_smoothing else truth)

    for values, test in ((y_true, targets), (y_pred, lambda piece: np.isnan(cast(piece, dtype)))):
        where = first_where(values, test)
        if where is not None:  # the error, from the offending entry alone
            one = (np.asarray(y_true[where])[None], np.asarray(y_pred[where])[None])
            truth, prediction = cast(one[0], dtype), cast(one[1], dtype)
            if label_smoothing:
                truth = smooth_binary(truth, label_smoothing)
            _refuse_outside_unit(truth, clip(prediction, epsilon), backend)


def rescaled(backend: Backend, y_pred: np.ndarray, axis: int) -> np.ndarray:
    """``y_pred / sum(y_pred, axis)``, categorical cross-entropy's first step, as `backend` divides.

    TensorFlow reads float32/float64 subnormals as 0. XLA (JAX) does too, and
    turns the division by a broadcast sum into a product with its reciprocal,
    rounded to the dtype: a float16 row summing to less than 2**-16 gets an
    infinite reciprocal (NaN and inf where TensorFlow gives a clipped 1).
    PyTorch and NumPy divide exactly as numpy does (float16 sums in float32
    on PyTorch).
    """
    with np.errstate(all="ignore"):
        if backend.name in ("tensorflow", "tf_keras"):
            y_pred = _tfmath.flush_subnormals(y_pred)
            total = np.expand_dims(_tfmath.reduce_sum(y_pred, axis), axis)
            return y_pred / _tfmath.flush_subnormals(total)
        if backend.name == "jax":
            y_pred = _tfmath.flush_subnormals(y_pred)
        total = _sum_along(_in_float32(backend, y_pred), axis).astype(y_pred.dtype)
        if backend.name == "jax":
            one = y_pred.dtype.type(1)
            return y_pred * (one / _tfmath.flush_subnormals(total))
        return y_pred / total


def _cce_on(backend, y_true, y_pred, from_logits, label_smoothing, axis, epsilon):
    """Categorical cross-entropy on JAX, PyTorch and NumPy: -sum(y log_prob) along `axis`."""
    if label_smoothing:
        y_true = smooth_categorical(y_true, label_smoothing)
    with np.errstate(all="ignore"):
        if from_logits:
            last = _log_softmax_on(backend, np.moveaxis(y_pred, axis, -1))
            log_prob = np.moveaxis(last, -1, axis)
        else:
            log_prob = np.log(clip(rescaled(backend, y_pred, axis), epsilon))
        terms = y_true * log_prob
        total = np.squeeze(_sum_along(_in_float32(backend, terms), axis), axis=axis)
        return (-total).astype(y_pred.dtype)


def plan_categorical_on(backend, y_true, y_pred, dtype, *, from_logits, label_smoothing, axis,
                        epsilon):
    """`plan_categorical` on `backend` (only TensorFlow refuses axis < -1 from logits)."""
    if backend.name in ("tensorflow", "tf_keras"):
        return plan_categorical(y_true, y_pred, dtype, from_logits=from_logits,
                                label_smoothing=label_smoothing, axis=axis, epsilon=epsilon)
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"`axis` must be an int, got bool: {axis!r}.")
    require_rank(y_pred, "y_pred", "categorical_crossentropy")
    axis = check_axis(axis, y_pred.ndim)
    # the checks and the single-class warning
    plan_categorical(y_true, y_pred, dtype, from_logits=from_logits,
                     label_smoothing=label_smoothing, axis=axis, epsilon=epsilon)

    def formula(truth: np.ndarray, prediction: np.ndarray, axis: int = axis) -> np.ndarray:
        return _cce_on(backend, truth, prediction, from_logits, label_smoothing, axis, epsilon)

    def reference():
        return formula(cast(y_true, dtype), cast(y_pred, dtype)), None

    # One-hot rows (the kernels decline the others, and the rows whose 0 * inf makes the sum
    # NaN), or any targets of two classes' probabilities; these backends' smoothing is numpy's
    if label_smoothing:
        fused = None
    elif not from_logits and y_pred.shape[axis] == 2:
        fused = FUSED_TWO_CLASS_CATEGORICAL_ON[backend.name]
    else:
        fused = FUSED_CATEGORICAL_ON[backend.name, from_logits]
    return _streamed(reference, formula, y_true, y_pred, dtype, axis, fused)


def _log_softmax_on(backend: Backend, logits: np.ndarray) -> np.ndarray:
    """``log_softmax`` on the last axis: x - max(x) - log(sum(exp(x - max(x))))."""
    x = _in_float32(backend, logits)
    if not _narrow(x):
        shifted = x - np.max(x, axis=-1, keepdims=True)
        return (shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
                ).astype(logits.dtype)
    # The same values from the rows transposed (the maxima may differ in the sign of a zero,
    # and so a value)
    columns = x.T.copy()
    columns -= np.max(columns, axis=0)
    columns -= np.log(_pairwise_rows(np.exp(columns)))
    return columns.T.astype(logits.dtype, order="C")


def _narrow(x: np.ndarray) -> bool:
    """Whether `x` is a block of narrow rows (2 to 64 classes, at most 2**20 values).

    numpy reduces a short last axis a row at a time: a maximum takes 2.3 ms
    for a block of 52,000 rows of 10 classes, a sum 1.0 ms, where a
    transposed copy and the reduction of its rows take 0.3 ms.
    """
    return x.ndim == 2 and 1 < x.shape[1] <= 64 and x.size <= 2**20


def _sum_along(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.sum(x, axis=axis, keepdims=True)`` bit for bit; narrow rows from their transposed copy."""
    if axis not in (-1, x.ndim - 1) or not _narrow(x):
        return np.sum(x, axis=axis, keepdims=True)
    return _pairwise_rows(x.T.copy())[:, None]


def _pairwise_rows(columns: np.ndarray) -> np.ndarray:
    """``np.sum(columns.T, axis=-1)`` bit for bit, from the transposed rows, for up to 128 of them.

    numpy's pairwise sum of a row of n < 8 values adds them in turn; up to
    128, it keeps 8 running sums (value j in sum j % 8), adds them as a tree
    ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)), then the last n % 8 values in turn.
    Its reduction starts from +0, so a row of -0 sums to +0. float16 rows it
    sums in float32, rounded to float16 once.
    """
    if columns.dtype == np.float16:
        return _pairwise_rows(columns.astype(_F32)).astype(np.float16)
    n = columns.shape[0]
    if n < 8:
        total = columns[0] + columns.dtype.type(0)
        for row in columns[1:]:
            total += row
        return total
    sums = columns[:8].copy()
    whole = n - n % 8
    for start in range(8, whole, 8):
        sums += columns[start : start + 8]
    total = ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]))
    for row in columns[whole:]:
        total += row
    return total + columns.dtype.type(0)


def _normalised_log(backend: Backend, y_pred: np.ndarray, epsilon: float) -> np.ndarray:
    """log(clip(p / sum(p))) on the last axis, as categorical cross-entropy takes it."""
    return np.log(clip(rescaled(backend, y_pred, -1), epsilon))


def _scce_normalised(backend, labels, y_pred, valid, from_logits, epsilon):
    """Sparse CCE on JAX, PyTorch and NumPy: rescale, clip, log (or log_softmax), pick the label.

    JAX and NumPy pick it with a float32 one-hot row (so float16 gives float32,
    and a -inf log anywhere in the row gives NaN); PyTorch gathers (nll_loss).
    """
    if valid is not None:
        y_pred = np.where(valid[..., None], y_pred, y_pred.dtype.type(0))
    with np.errstate(all="ignore"):
        if from_logits:
            log_prob = _log_softmax_on(backend, y_pred)
        else:
            log_prob = _normalised_log(backend, y_pred, epsilon)
        picked = np.take_along_axis(log_prob, labels[..., None], axis=-1)[..., 0]
        if backend.name == "torch":
            values = -picked
        elif np.isfinite(log_prob).all():  # (0 x a finite log is 0: the sum is the label's own)
            values = -picked.astype(np.result_type(_F32, log_prob.dtype))
        else:  # (0 x -inf or NaN is NaN)
            one_hot = (labels[..., None] == np.arange(y_pred.shape[-1])).astype(_F32)
            values = -np.sum(one_hot * log_prob, axis=-1)
    if valid is not None:
        values = np.where(valid, values, values.dtype.type(0))
    return values


def plan_sparse_on(backend, y_true, y_pred, dtype, *, from_logits, ignore_class, axis, epsilon,
                   label_dtype=None):
    """`plan_sparse` on `backend`: TensorFlow's renormalisation, or categorical cross-entropy's way."""
    plan = plan_sparse(y_true, y_pred, dtype, from_logits=from_logits, ignore_class=ignore_class,
                       axis=axis, epsilon=epsilon, label_dtype=label_dtype)
    if backend.renormalises_sparse:
        return plan
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = y_true[..., 0]  # labels of shape (N, 1)
    n_classes = y_pred.shape[-1]

    def reference():
        labels = y_true if label_dtype is None else cast(y_true, label_dtype)
        valid = None if ignore_class is None else (labels != ignore_class)
        labels = _integer_labels(labels, n_classes, valid)
        return _scce_normalised(backend, labels, cast(y_pred, dtype), valid, from_logits,
                                epsilon), valid

    if plan.job is None or plan.job.dtype == np.float16:  # (see `_streamed`)
        return Plan(reference)
    # Streamed as TensorFlow's kernels stream: labels read (and checked) block by block, the
    # ignored rows' values set to 0 after the formula
    if n_classes == 2 and not from_logits:  # (two classes' probabilities: one map over the rows)
        fused = FUSED_TWO_CLASS_SPARSE_ON[backend.name]
    else:
        fused = FUSED_SPARSE_ON[backend.name, from_logits]
    kernel = Kernel(lambda labels, p, ws: _scce_normalised(backend, labels, p, None, from_logits,
                                                           epsilon),
                    threads=True, elementwise=False, fused=fused)
    job = make_job(lambda width: kernel, y_true, y_pred, dtype, from_logits=from_logits,
                   epsilon=epsilon, ignore_class=ignore_class, label_dtype=label_dtype,
                   labels=_SPARSE_LABELS)
    return Plan(reference, job)
