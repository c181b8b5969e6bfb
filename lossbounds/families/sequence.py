r"""Sequence losses: connectionist temporal classification (CTC).

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.

CTC scores a whole label sequence against a sequence of frames:
:math:`-\ln P(\text{label} \mid \text{input})`, where :math:`P` sums the
probabilities of every *alignment*, every frame-by-frame spelling of the label
with blanks, that collapses to it [1]_. Keras 3 on TensorFlow computes it with
TensorFlow's dense implementation (``tf.nn.ctc_loss`` with dense labels [2]_),
whose state machine and stand-in for :math:`\ln 0` are reproduced here.

References
----------
.. [1] A. Graves, S. Fernández, F. Gomez and J. Schmidhuber, "Connectionist
   temporal classification: labelling unsegmented sequence data with recurrent
   neural networks", *Proc. ICML* 2006, pp. 369-376.
.. [2] K. C. Sim, A. Narayanan, T. Bagby, T. N. Sainath and M. Bacchiani,
   "Improving the efficiency of forward-backward algorithm using batched
   computation in TensorFlow", *Proc. ASRU* 2017.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..backends import Backend
from ..checks import EPSILON, plain, to_array
from ..engine import Plan, cast
from ..fused import accelerates, compile, float64_sum, row_max
from ..options import N_CLASSES, Option
from ..registry import LossDefinition, Setting, UndefinedBound, register
from ..text import PRINT_ATOL, Note, loss_value, number
from ..threads import run_pieces
from .crossentropy_fused import fast_exp, float64_log, log1p_unit

# The per-sample functions: lossbounds exports them.
__all__ = ["ctc"]

#: TensorFlow's stand-in for ln 0 in the dense CTC: float32(ln(1e-307)) = -706.8936
#: (``ctc_state_log_probs`` in tensorflow/python/ops/ctc_ops.py). Every state but the
#: two that end the label starts the backward pass with this log-probability
#: instead of -inf, so an alignment that cannot finish the label costs about 707
#: more than it would, rather than making the loss infinite.
TF_LOG_ZERO = float(np.float32(math.log(1e-307)))

#: Loss values that point at a label TensorFlow could not align: 706.89 plus the
#: cost of the partial alignments (their probabilities sum to at most 1, so the
#: value is never below 706.89; a few nats above it for an untrained model).
_IMPOSSIBLE_RANGE = (-TF_LOG_ZERO - 0.01, -TF_LOG_ZERO + 50.0)

#: C(n, k) is computed exactly (a big integer) while min(k, n - k) is at most this,
#: and by lgamma beyond (long labels on very long inputs), to about 1e-10 absolute.
_EXACT_COMB = 2000


# --------------------------------------------------------------------------
# Options


def _check_length(value: Any, argument: str, minimum: int, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        hint = (f" Use {int(value)}." if isinstance(value, float) and value.is_integer()
                else "")
        raise TypeError(f"`{argument}` must be an int ({what}), got "
                        f"{type(value).__name__}: {value!r}.{hint}")
    if int(value) < minimum:
        raise ValueError(f"`{argument}` must be at least {minimum} ({what}), got {int(value)}.")
    return int(value)


INPUT_LENGTH = Option(
    "input_length", None,
    lambda v: _check_length(v, "input_length", 1, "the number of frames T, y_pred.shape[1]"),
    "frames T per sample (y_pred.shape[1]), for the uniform baseline",
    flag="--input-length", parse=int, metavar="T")
LABEL_LENGTH = Option(
    "label_length", None,
    lambda v: _check_length(v, "label_length", 0, "the number of labels in a sequence"),
    "labels L per sequence (without padding), for the uniform baseline without y_true",
    flag="--label-length", parse=int, metavar="L")


# --------------------------------------------------------------------------
# Values


def _require_shapes(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    if y_pred.ndim != 3:
        hint = (" Keras' class API squeezes a last axis of length 1, so y_pred of shape "
                "(N, T, 1), a single class, arrives here as (N, T): with one class there is "
                "only the blank and nothing to score." if y_pred.ndim == 2 else "")
        raise ValueError(
            f"ctc: `y_pred` must have shape (batch_size, frames, classes), the logits for "
            f"each frame, got shape {y_pred.shape}.{hint}")
    if y_true.ndim != 2:
        raise ValueError(
            f"ctc: `y_true` must have shape (batch_size, max_label_length), integer labels "
            f"padded with 0, got shape {y_true.shape}.")
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(
            f"ctc: `y_true` has {y_true.shape[0]} label sequences but `y_pred` has "
            f"{y_pred.shape[0]} samples (shapes {y_true.shape} and {y_pred.shape}); they must "
            "match. Keras raises an InvalidArgumentError from deep inside TensorFlow.")
    if y_pred.shape[2] == 0:
        raise ValueError(
            f"ctc: `y_pred` has no classes (shape {y_pred.shape}); it needs at least the "
            "blank, class 0.")
    if y_true.shape[1] == 0 and y_pred.shape[0] > 0:
        raise ValueError(
            f"ctc: `y_true` has no columns (shape {y_true.shape}). TensorFlow then counts the "
            "way from the start to the first blank twice, so Keras returns ln 2 = 0.693 less "
            "than -ln P (a perfect prediction scores -0.693). Hint: give empty labels one "
            "column of padding, np.zeros((batch_size, 1), int).")


def _read_labels(y_true: np.ndarray, n_classes: int,
                 label_dtype: np.dtype | None = None) -> np.ndarray:
    """The labels as int64, checked: integers in [0, K), each row padded with 0 at its end.

    Keras' class API first casts the labels to its compute dtype (float16
    rounds labels above 2048), as `label_dtype` does here.
    """
    labels = y_true if label_dtype is None else cast(y_true, label_dtype)
    if labels.dtype.kind == "b":
        labels = labels.astype(np.int64)
    if labels.dtype.kind == "f":
        bad = ~np.isfinite(labels) | (labels != np.trunc(labels))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"ctc: `y_true` must hold integer labels, got {plain(labels[i, j])} in row {i}, "
                f"position {j}. Keras truncates it to an integer and counts it as a label if it "
                "is not 0. Hint: labels are class indices 1..K-1, padded with 0.")
    outside = (labels < 0) | (labels >= n_classes)
    if outside.any():
        i, j = np.argwhere(outside)[0]
        raise ValueError(
            f"ctc: label {plain(labels[i, j])} in row {i}, position {j} of `y_true` is outside "
            f"[0, {n_classes}) for y_pred with K = {n_classes} classes (class 0 is the blank, "
            "labels are 1..K-1). TensorFlow gives such a label probability 1 in every frame, "
            "so Keras silently returns a loss that is too low, even negative. Hint: the model "
            "needs max label + 1 outputs, one per class plus the blank.")
    labels = labels.astype(np.int64)
    present = labels != 0
    lengths = present.sum(axis=1)
    padded = np.arange(labels.shape[1]) < lengths[:, None]
    misplaced = present != padded
    if misplaced.any():
        i = int(np.argwhere(misplaced.any(axis=1))[0, 0])
        j = int(np.argmax(~present[i]))
        k = j + int(np.argmax(present[i, j:]))
        taken = labels[i, : lengths[i]].tolist()
        raise ValueError(
            f"ctc: row {i} of `y_true` has the blank 0 at position {j} before label "
            f"{labels[i, k]} at position {k}: 0 is the blank and may only pad the end of a "
            f"row. Keras counts the nonzero entries ({lengths[i]}) and scores the first "
            f"{lengths[i]} position(s), {taken}, reading each 0 as the blank's probability: a "
            "silently wrong value. Hint: remove the 0s inside the labels, or add 1 to every "
            "label if your classes start at 0.")
    return labels


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """tf.nn.log_softmax in float32: x - max - ln(sum(exp(x - max)))."""
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted = logits - logits.max(axis=-1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _ctc_reference(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    r"""TensorFlow's dense CTC, -ln of the backward pass from the start state, in float64.

    The states (``_ctc_state_trans`` in TensorFlow): a start state, one state
    per label *position* (padding included: a padding position is a label 0,
    which reads the blank's probability), and a blank after each. A path
    moves on by at most one label per frame, and skips the blank between two
    positions only if their labels differ. The backward pass starts at 0 on
    the label's last position and the blank after it, and at TF_LOG_ZERO
    (not -inf) on every other state; its value at the start state, before the
    first frame, is ln P.

    The backward direction is TensorFlow's: a frame whose every state is
    -inf is a NaN there (its per-frame normaliser is -inf), and a NaN in any
    state reaches every other through the transition matrix. Both are
    reproduced by rule below.
    """
    n, width = labels.shape
    frames = logits.shape[1]
    logp = _log_softmax(logits)
    lengths = np.count_nonzero(labels, axis=1)
    index = np.broadcast_to(labels[:, None, :], (n, frames, width))
    label_logp = np.take_along_axis(logp, index, axis=2)
    # TF reads a label position as sum_k logp_k * one_hot_k: another class's
    # -inf (or any NaN) times 0 makes it NaN.
    non_finite = ~np.isfinite(logp)
    others = non_finite.sum(axis=2)[:, :, None] - np.take_along_axis(non_finite, index, axis=2)
    nan_label = np.isnan(label_logp) | (others > 0)
    blank_logp = logp[:, :, 0].astype(np.float64)
    nan_row = nan_label.any(axis=(1, 2)) | np.isnan(blank_logp).any(axis=1)
    label_logp = np.where(nan_label, 0.0, label_logp).astype(np.float64).transpose(1, 0, 2).copy()
    blank_logp = np.where(np.isnan(blank_logp), 0.0, blank_logp).T.copy()

    # step[s]: log weight of label position s -> s + 1 (s = 0 is the start state).
    step = np.zeros((n, width))
    if width > 1:
        step[:, 1:] = np.where(labels[:, 1:] != labels[:, :-1], 0.0, -np.inf)
    ends = np.arange(width + 1)[None, :] == lengths[:, None]
    beta_label = np.where(ends, 0.0, TF_LOG_ZERO)  # start state, then positions 1..L
    beta_blank = beta_label.copy()  # the blank after each of those
    dead = np.zeros(n, bool)
    emit_label = np.full((n, width + 1), -np.inf)  # the start state emits nothing
    for t in range(frames - 1, -1, -1):
        np.add(beta_label[:, 1:], label_logp[t], out=emit_label[:, 1:])
        emit_blank = beta_blank + blank_logp[t][:, None]
        forward = emit_label[:, 1:]
        beta_label = np.logaddexp(emit_label, emit_blank)
        beta_label[:, :-1] = np.logaddexp(beta_label[:, :-1], forward + step)
        beta_blank = emit_blank.copy()
        beta_blank[:, :-1] = np.logaddexp(emit_blank[:, :-1], forward)
        dead |= np.isneginf(beta_label).all(axis=1) & np.isneginf(beta_blank).all(axis=1)
    values = -beta_label[:, 0]
    values[dead | nan_row] = np.nan
    return values


# --------------------------------------------------------------------------
# Each backend's CTC in one compiled pass (the fused accelerator, `lossbounds.fused`)
#
# numpy runs the backward pass a frame at a time over the whole batch: about
# fifteen calls a frame, each over every sample's states, with temporaries,
# and np.logaddexp calls the C library's exp and log1p for each element.
# Compiled, a group of samples runs in cache, a chunk of frames at a time:
# each sample's log-softmax of the chunk (float32, the exps summed in
# float64), the NaN rules, then the group's states frame by frame, in
# float64 with exp and log that the compiler vectorises over the group. The
# log-probabilities are within an ulp or two of numpy's float32 ones, and
# each log-sum within float64's rounding of np.logaddexp's, so TensorFlow's
# values agree to Keras' tolerance (1.1e-7 relative at most on 1000 random
# sequences); two threads share the groups. JAX's (and NumPy's) forward pass
# from optax and PyTorch's run the same way, in float64 where those backends
# add in float32 (the difference is their float32 rounding). 1000 sequences
# of 50 frames over 30 classes: TensorFlow 55 ms with numpy, 6.1 compiled;
# JAX and NumPy 36 -> 6.2 ms; PyTorch 19 -> 6.2 ms.

#: Samples a thread takes at a time: enough that the Python between pieces is small.
_CTC_PIECE = 64


def _fused_ctc(labels: np.ndarray, logits: np.ndarray, kernel: Callable[[], Callable[..., None]],
               log_zero: float) -> np.ndarray | None:
    """A backend's compiled CTC (`_BACKEND_CTC`: its kernel and ln 0), for float32 logits.

    None where the accelerator does not take them. Values in float64.
    """
    if logits.dtype != np.float32 or not accelerates(logits.size):
        return None
    n, frames, _ = logits.shape
    labels = np.ascontiguousarray(labels, np.int64)
    lengths = np.count_nonzero(labels, axis=1).astype(np.int64)
    logits = np.ascontiguousarray(logits)
    values = np.empty(n)
    compiled = kernel()
    pieces = range(0, n, _CTC_PIECE)

    def piece(i: int, _: None) -> None:
        first = pieces[i]
        compiled(labels, lengths, logits, log_zero, values, first, min(first + _CTC_PIECE, n))

    run_pieces(len(pieces), piece)
    return values


def _log_add(a: float, b: float, exp: Callable[[float], float],
             log1p: Callable[[float], float]) -> float:
    """np.logaddexp(a, b) in float64: the larger where they are infinities or far apart, NaN stays NaN.

    Selects, not branches: a loop of these vectorises (4.3 ns an element,
    np.logaddexp's libm calls 16.5).
    """
    top, gap = (a if a > b else b), abs(a - b)  # (the gap of two infinities is inf or NaN)
    # exp(-708) is `fast_exp`'s smallest: beyond, the term is 0 to float64's last subnormal
    sum_ = top + log1p(exp(-gap)) if gap < 708.0 else top
    return sum_ if a == a and b == b else a + b


#: Samples whose backward passes run side by side (the compiler vectorises over them).
_CTC_GROUP = 32
#: Logits whose log-softmax a sample computes at a time (a chunk of its frames, in cache).
_CTC_CHUNK = 4096


@functools.cache
def _ctc_frames() -> tuple[Callable[..., Any], Callable[..., None]]:
    """Compiled, inlined: ``(scratch, read)``, the log-probabilities a CTC reads, a chunk of frames at a time.

    ``chunk, buffers, blank_logp, label_logp = scratch(logits, labels)``: the
    frames a chunk holds (`_CTC_CHUNK` logits, in cache) and its buffers, for
    a group of `_CTC_GROUP` samples. ``read(logits, labels,
    i, low, last, g, buffers, blank_logp, label_logp, one_hot)``: for sample
    i's frames ``low:last``, the log-probabilities of the blank,
    ``blank_logp[f, g]``, and of each label position p, ``label_logp[f, p,
    g]`` (frame ``low + f``, in float64). With `one_hot`, a label's is read
    as TensorFlow and optax read it, ``sum_k logp_k one_hot_k``: NaN where
    another class's is not finite (its 0 * inf). ``buffers[4][f]`` is then
    the frame's count of log-probabilities that are inf or NaN.

    The log-probabilities are float32, as `_log_softmax` computes them, x -
    max - ln(sum(exp(x - max))), the exps in one map and summed in float64
    (an ulp or two from numpy's). (A NaN logit, whether or not it is a
    frame's max here, makes its exp and so the frame's sum NaN, and every
    log-probability: numpy's max is NaN.)
    """
    exp32 = fast_exp(np.dtype(np.float32))
    largest, lane_sum = row_max(), float64_sum()
    lanes, chunk_size, group = 8, _CTC_CHUNK, _CTC_GROUP

    def scratch(logits: np.ndarray, labels: np.ndarray) -> tuple[Any, ...]:
        _, frames, classes = logits.shape
        chunk = max(1, min(frames, chunk_size // max(classes, 1)))  # frames a chunk
        return chunk, (np.empty(chunk * classes, np.float32),  # shifted logits
                       np.empty(chunk * classes, np.float32),  # their exps
                       np.empty(chunk * classes, np.float32),  # log-probabilities
                       np.empty(lanes, np.float32), np.empty(chunk, np.int32)), \
            np.empty((chunk, group)), np.empty((chunk, labels.shape[1], group))

    def read(logits: np.ndarray, labels: np.ndarray, i: int, low: int, last: int, g: int,
             buffers: tuple[np.ndarray, ...], blank_logp: np.ndarray, label_logp: np.ndarray,
             one_hot: bool) -> None:
        shifted, terms, logp, maxima, nonfinite = buffers
        classes = logits.shape[2]
        size = (last - low) * classes
        block = logits[i, low:last].reshape(-1)
        for f in range(last - low):
            row = block[f * classes : (f + 1) * classes]
            if classes >= lanes:
                top = largest(row, lanes, maxima)
            else:
                top = row[0]
                for k in range(1, classes):
                    top = row[k] if row[k] > top else top
            for k in range(classes):
                shifted[f * classes + k] = row[k] - top
        for j in range(size):
            terms[j] = exp32(shifted[j])
        for f in range(last - low):
            log_sum = np.log(np.float32(lane_sum(terms[f * classes :], classes)))
            count = 0
            for k in range(f * classes, (f + 1) * classes):
                logp[k] = shifted[k] - log_sum
                count += np.int32(logp[k] - logp[k] != 0)  # (inf and NaN)
            nonfinite[f] = count
            frame = logp[f * classes : (f + 1) * classes]  # (read while in cache)
            blank_logp[f, g] = np.float64(frame[0])
            for p in range(labels.shape[1]):
                label_logp[f, p, g] = np.float64(frame[labels[i, p]])
            if one_hot and count:
                for p in range(labels.shape[1]):
                    if count - (not np.isfinite(label_logp[f, p, g])) > 0:
                        label_logp[f, p, g] = np.nan

    return compile(scratch, inline=True), compile(read, inline=True)


@functools.cache
def _ctc_kernel() -> Callable[..., None]:
    """Compiled ``kernel(labels, lengths, logits, log_zero, values, first, stop)``: samples first..stop-1.

    Writes each sample's TensorFlow CTC (`_ctc_reference`: the same states,
    NaN rules and stand-in for ln 0) to ``values``, in float64. Samples run
    in groups of `_CTC_GROUP` (a short group repeats its first sample and
    drops the copies), a chunk of frames at a time from the last: each
    sample's log-softmax of the chunk (one exp map over its logits), then
    the group's states frame by frame, every loop over the group's samples
    (the vectorised loops).
    """
    exp64, log1p = fast_exp(np.dtype(np.float64)), log1p_unit(np.dtype(np.float64))
    add, (scratch, read) = compile(_log_add, inline=True), _ctc_frames()
    minus_inf, group = -np.inf, _CTC_GROUP

    def kernel(labels: np.ndarray, lengths: np.ndarray, logits: np.ndarray, log_zero: float,
               values: np.ndarray, first: int, stop: int) -> None:
        frames = logits.shape[1]
        width = labels.shape[1]
        chunk, buffers, blank_logp, label_logp = scratch(logits, labels)
        nonfinite = buffers[4]
        step = np.zeros((width + 1, group))
        beta_label, beta_blank = np.empty((width + 1, group)), np.empty((width + 1, group))
        emit_label, emit_blank = np.empty((width + 1, group)), np.empty((width + 1, group))
        alive = np.empty(group, np.bool_)
        nan_row, dead = np.empty(group, np.bool_), np.empty(group, np.bool_)
        for start in range(first, stop, group):
            taken = min(group, stop - start)
            for g in range(group):
                i = start + (g if g < taken else 0)
                nan_row[g] = dead[g] = False
                for s in range(1, width):
                    step[s, g] = 0.0 if labels[i, s] != labels[i, s - 1] else minus_inf
                for s in range(width + 1):
                    beta_label[s, g] = 0.0 if s == lengths[i] else log_zero
                    beta_blank[s, g] = beta_label[s, g]
                emit_label[0, g] = minus_inf  # the start state emits nothing
            for last in range(frames, 0, -chunk):
                low = max(0, last - chunk)
                for g in range(group):
                    i = start + (g if g < taken else 0)
                    read(logits, labels, i, low, last, g, buffers, blank_logp, label_logp, True)
                    for f in range(last - low):
                        if nonfinite[f]:  # (a NaN read makes the sample's value NaN)
                            nan_row[g] |= np.isnan(blank_logp[f, g])
                            for p in range(width):
                                nan_row[g] |= np.isnan(label_logp[f, p, g])
                for f in range(last - low - 1, -1, -1):
                    for s in range(1, width + 1):
                        for g in range(group):
                            emit_label[s, g] = beta_label[s, g] + label_logp[f, s - 1, g]
                    for s in range(width + 1):
                        for g in range(group):
                            emit_blank[s, g] = beta_blank[s, g] + blank_logp[f, g]
                        for g in range(group):
                            beta_label[s, g] = add(emit_label[s, g], emit_blank[s, g], exp64, log1p)
                    for s in range(width):
                        for g in range(group):
                            beta_label[s, g] = add(beta_label[s, g],
                                                   emit_label[s + 1, g] + step[s, g], exp64, log1p)
                        for g in range(group):
                            beta_blank[s, g] = add(emit_blank[s, g], emit_label[s + 1, g],
                                                   exp64, log1p)
                    for g in range(group):
                        beta_blank[width, g] = emit_blank[width, g]
                        alive[g] = False
                    for s in range(width + 1):
                        for g in range(group):
                            alive[g] |= beta_label[s, g] != minus_inf or beta_blank[s, g] != minus_inf
                    for g in range(group):
                        dead[g] |= not alive[g]
            for g in range(taken):
                values[start + g] = np.nan if dead[g] or nan_row[g] else -beta_label[0, g]

    return compile(kernel)


#: The stand-in for ln 0 of the CTC that Keras' JAX and NumPy backends share (optax's
#: ``ctc_loss_with_forward_probs``): a label that cannot be aligned costs about 1e5.
OPTAX_LOG_EPSILON = -1e5


def _optax_ctc_reference(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """Keras' CTC on JAX and NumPy (``backend/{jax,numpy}/nn.py``, from optax), in float32.

    A forward pass over two rows of states per label position: ``phi`` (a
    blank, or the start, before position n) and ``emit`` (label n). Every
    state but the start begins at -1e5 rather than -inf, and a forbidden
    transition (a skipped blank between equal labels) adds -1e5: an
    impossible label costs about 1e5 instead of inf. Both one-hot
    contractions (the label log-probabilities, the final pick) multiply
    every entry by 0 or 1, so a non-finite log-probability anywhere in a row
    makes it NaN, and ``pad * prev + (1 - pad) * next`` turns a -inf state
    into NaN, as on those backends.
    """
    f32 = np.float32
    n, width = labels.shape
    logp = _log_softmax(logits.astype(f32))
    lengths = np.count_nonzero(labels, axis=1)
    index = np.broadcast_to(labels[:, None, :], (n, logits.shape[1], width))
    emit_logp = np.take_along_axis(logp, index, axis=2)
    non_finite = ~np.isfinite(logp)
    others = non_finite.sum(axis=2)[:, :, None] - np.take_along_axis(non_finite, index, axis=2)
    emit_logp = np.where(others > 0, f32(np.nan), emit_logp).transpose(1, 0, 2)
    blank_logp = logp[:, :, 0:1].transpose(1, 0, 2)
    repeat = np.zeros((n, width), f32)
    repeat[:, :-1] = labels[:, :-1] == labels[:, 1:]
    log_eps = f32(OPTAX_LOG_EPSILON)
    phi = np.full((n, width + 1), log_eps, f32)
    phi[:, 0] = 0
    emit = np.full((n, width), log_eps, f32)
    for t in range(logits.shape[1]):
        previous = phi
        phi = phi.copy()
        phi[:, 1:] = np.logaddexp(phi[:, 1:], emit + log_eps * repeat)
        next_emit = np.logaddexp(phi[:, :-1] + emit_logp[t], emit + emit_logp[t])
        next_phi = phi + blank_logp[t]
        next_phi[:, 1:] = np.logaddexp(next_phi[:, 1:],
                                       emit + blank_logp[t] + log_eps * (f32(1) - repeat))
        # Every frame is valid (pad = 0), but 0 * -inf is NaN.
        emit = f32(0) * emit + f32(1) * next_emit
        phi = f32(0) * previous + f32(1) * next_phi
    phi[:, 1:] = np.logaddexp(phi[:, 1:], emit)
    pick = np.arange(width + 1)[None, :] == lengths[:, None]
    return -np.sum(phi * pick.astype(f32), axis=1, dtype=f32)


def _torch_ctc_reference(labels: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """``torch.nn.functional.ctc_loss`` on the CPU (``LossCTC.cpp``), in float32.

    The textbook forward pass over the label with blanks interleaved, with
    -inf for ln 0: an impossible label costs ``inf``. Each step adds the up
    to three predecessors as ``log(sum exp(a - max)) + max`` (max taken as 0
    when all are -inf). Only the blank's and the label's log-probabilities
    are read, so a NaN among the other classes does not reach the value.
    """
    f32 = np.float32
    n, width = labels.shape
    frames = logits.shape[1]
    logp = _log_softmax(logits.astype(f32))
    lengths = np.count_nonzero(labels, axis=1)
    states = 2 * width + 1
    primes = np.zeros((n, states), np.int64)
    primes[:, 1::2] = labels
    skip = np.zeros((n, states), bool)  # s - 2 -> s allowed: a label unlike the one before
    skip[:, 3::2] = labels[:, 1:] != labels[:, :-1]
    emitted = np.take_along_axis(logp, np.broadcast_to(primes[:, None, :], (n, frames, states)),
                                 axis=2)
    alpha = np.full((n, states), -np.inf, f32)
    if frames:
        alpha[:, 0] = emitted[:, 0, 0]
        alpha[:, 1] = np.where(lengths > 0, emitted[:, 0, 1], -np.inf)
    for t in range(1, frames):
        one = alpha
        two = np.full_like(alpha, -np.inf)
        two[:, 1:] = alpha[:, :-1]
        three = np.full_like(alpha, -np.inf)
        three[:, 2:] = np.where(skip[:, 2:], alpha[:, :-2], -np.inf)
        top = np.maximum(np.maximum(one, two), three)
        top = np.where(top == -np.inf, f32(0), top)
        alpha = (np.log(np.exp(one - top) + np.exp(two - top) + np.exp(three - top)) + top
                 + emitted[:, t])
    rows = np.arange(n)
    last = alpha[rows, 2 * lengths]
    before = np.where(lengths > 0, alpha[rows, np.maximum(2 * lengths - 1, 0)], -np.inf)
    top = np.maximum(last, before)
    top = np.where(top == -np.inf, f32(0), top)
    both = np.log(np.exp(last - top) + np.exp(before - top)) + top
    return -np.where(lengths > 0, both, last)


def _nan_max(a: float, b: float) -> float:
    """np.maximum(a, b): NaN if either is NaN."""
    return a if a > b or a != a else b


@functools.cache
def _optax_ctc_kernel() -> Callable[..., None]:
    """Compiled ``kernel(labels, lengths, logits, log_epsilon, values, first, stop)``: `_optax_ctc_reference`.

    The same forward pass, stand-in for ln 0 (``log_epsilon``) and one-hot
    NaN rules, in float64 where the reference and Keras add in float32 (the
    difference is their rounding: a few float32 ulp of the value), in groups
    of `_CTC_GROUP` samples a chunk of frames at a time, from the first, as
    `_ctc_kernel` runs them.
    """
    exp64, log1p = fast_exp(np.dtype(np.float64)), log1p_unit(np.dtype(np.float64))
    add, (scratch, read) = compile(_log_add, inline=True), _ctc_frames()
    group = _CTC_GROUP

    def kernel(labels: np.ndarray, lengths: np.ndarray, logits: np.ndarray, log_eps: float,
               values: np.ndarray, first: int, stop: int) -> None:
        frames = logits.shape[1]
        width = labels.shape[1]
        chunk, buffers, blank_logp, emit_logp = scratch(logits, labels)
        same, differ = np.empty((width, group)), np.empty((width, group))  # log_eps * repeat, ...
        phi, previous = np.empty((width + 1, group)), np.empty((width + 1, group))
        next_phi = np.empty((width + 1, group))
        emit, next_emit = np.empty((width, group)), np.empty((width, group))
        for start in range(first, stop, group):
            taken = min(group, stop - start)
            for g in range(group):
                i = start + (g if g < taken else 0)
                for s in range(width):
                    repeat = 1.0 if s < width - 1 and labels[i, s] == labels[i, s + 1] else 0.0
                    same[s, g] = log_eps * repeat
                    differ[s, g] = log_eps * (1.0 - repeat)
                    emit[s, g] = log_eps
                phi[0, g] = 0.0
                for s in range(1, width + 1):
                    phi[s, g] = log_eps
            for low in range(0, frames, chunk):
                last = min(frames, low + chunk)
                for g in range(group):
                    i = start + (g if g < taken else 0)
                    read(logits, labels, i, low, last, g, buffers, blank_logp, emit_logp, True)
                for f in range(last - low):
                    for s in range(width + 1):
                        for g in range(group):
                            previous[s, g] = phi[s, g]
                    for s in range(width):
                        for g in range(group):
                            phi[s + 1, g] = add(phi[s + 1, g], emit[s, g] + same[s, g], exp64, log1p)
                        for g in range(group):
                            next_emit[s, g] = add(phi[s, g] + emit_logp[f, s, g],
                                                  emit[s, g] + emit_logp[f, s, g], exp64, log1p)
                    for s in range(width + 1):
                        for g in range(group):
                            next_phi[s, g] = phi[s, g] + blank_logp[f, g]
                    for s in range(width):
                        for g in range(group):
                            next_phi[s + 1, g] = add(next_phi[s + 1, g],
                                                     emit[s, g] + blank_logp[f, g] + differ[s, g],
                                                     exp64, log1p)
                    # every frame is valid (Keras' pad 0), but 0 * inf is NaN
                    for s in range(width):
                        for g in range(group):
                            emit[s, g] = 0.0 * emit[s, g] + next_emit[s, g]
                    for s in range(width + 1):
                        for g in range(group):
                            phi[s, g] = 0.0 * previous[s, g] + next_phi[s, g]
            for s in range(width):
                for g in range(group):
                    phi[s + 1, g] = add(phi[s + 1, g], emit[s, g], exp64, log1p)
            for g in range(taken):
                total = 0.0  # the one-hot pick of position L: NaN where another is not finite
                for s in range(width + 1):
                    total += phi[s, g] * (1.0 if s == lengths[start + g] else 0.0)
                values[start + g] = -total

    return compile(kernel)


@functools.cache
def _torch_ctc_kernel() -> Callable[..., None]:
    """Compiled ``kernel(labels, lengths, logits, log_zero, values, first, stop)``: `_torch_ctc_reference`.

    The same forward pass over the label with blanks interleaved, ln 0 being
    ``log_zero`` (-inf), in float64 where the reference and torch add in
    float32, in groups of `_CTC_GROUP` samples a chunk of frames at a time, as
    `_ctc_kernel` runs them. Each step's log-sum of up to three predecessors
    is ``log(sum exp(a - max)) + max``, the max NaN where any is NaN, and -inf
    where all are (torch's max taken as 0 there).
    """
    exp64, log64 = fast_exp(np.dtype(np.float64)), float64_log()
    maximum, (scratch, read) = compile(_nan_max, inline=True), _ctc_frames()
    group = _CTC_GROUP

    def kernel(labels: np.ndarray, lengths: np.ndarray, logits: np.ndarray, log_zero: float,
               values: np.ndarray, first: int, stop: int) -> None:
        frames = logits.shape[1]
        width = labels.shape[1]
        states = 2 * width + 1
        chunk, buffers, blank_logp, label_logp = scratch(logits, labels)
        skip = np.empty((states, group), np.bool_)  # s - 2 -> s: a label unlike the one before
        alpha, new = np.empty((states, group)), np.empty((states, group))
        for start in range(first, stop, group):
            taken = min(group, stop - start)
            for g in range(group):
                i = start + (g if g < taken else 0)
                for s in range(states):
                    skip[s, g] = s >= 3 and s % 2 == 1 and labels[i, s // 2] != labels[i, s // 2 - 1]
                    alpha[s, g] = log_zero
            for low in range(0, frames, chunk):
                last = min(frames, low + chunk)
                for g in range(group):
                    i = start + (g if g < taken else 0)
                    # (only the blank's and the label's log-probabilities: no one-hot reads)
                    read(logits, labels, i, low, last, g, buffers, blank_logp, label_logp, False)
                for f in range(last - low):
                    if low + f == 0:
                        for g in range(group):
                            alpha[0, g] = blank_logp[f, g]
                            length = lengths[start + (g if g < taken else 0)]
                            alpha[1, g] = label_logp[f, 0, g] if length else log_zero
                        continue
                    for s in range(states):
                        for g in range(group):
                            one = alpha[s, g]
                            two = alpha[s - 1, g] if s >= 1 else log_zero
                            three = alpha[s - 2, g] if s >= 2 and skip[s, g] else log_zero
                            top = maximum(maximum(one, two), three)
                            # (NaN and -inf are themselves: the exps would be NaN and 0)
                            total = top if not top > log_zero else log64(
                                exp64(one - top) + exp64(two - top) + exp64(three - top)) + top
                            # (state s emits the blank, or label position s // 2)
                            new[s, g] = total + (label_logp[f, s // 2, g] if s % 2
                                                 else blank_logp[f, g])
                    for s in range(states):
                        for g in range(group):
                            alpha[s, g] = new[s, g]
            for g in range(taken):
                length = lengths[start + g]
                final = alpha[2 * length, g]
                before = alpha[2 * length - 1, g] if length else log_zero
                top = maximum(final, before)
                both = top if not top > log_zero else log64(
                    exp64(final - top) + exp64(before - top)) + top
                values[start + g] = -(both if length else final)

    return compile(kernel)


#: The CTC each Keras backend runs (legacy tf.keras: TensorFlow's): its numpy reference, its
#: compiled pass, and the stand-in for ln 0 that pass takes.
_BACKEND_CTC: dict[str, tuple[Callable[[np.ndarray, np.ndarray], np.ndarray],
                              Callable[[], Callable[..., None]], float]] = {
    "tensorflow": (_ctc_reference, _ctc_kernel, TF_LOG_ZERO),
    "jax": (_optax_ctc_reference, _optax_ctc_kernel, OPTAX_LOG_EPSILON),
    "numpy": (_optax_ctc_reference, _optax_ctc_kernel, OPTAX_LOG_EPSILON),
    "torch": (_torch_ctc_reference, _torch_ctc_kernel, -math.inf)}


def _plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
          epsilon: float = EPSILON, label_dtype: np.dtype | None = None,
          backend: str = "tensorflow") -> Plan:
    _require_shapes(y_true, y_pred)
    labels = _read_labels(y_true, y_pred.shape[2], label_dtype)
    # Keras' ctc_loss computes in float32 and returns result_type(y_pred, float32):
    # float64 stays float64 (on TensorFlow; the other backends compute float64
    # inputs as float32 before this), the rest is float32.
    result = np.dtype(np.float64 if np.dtype(dtype) == np.float64 else np.float32)
    formula, kernel, log_zero = _BACKEND_CTC.get(backend, _BACKEND_CTC["tensorflow"])

    def reference() -> tuple[np.ndarray, None]:
        with np.errstate(all="ignore"):  # inf and NaN as Keras gives them
            logits = cast(cast(y_pred, dtype), np.dtype(np.float32))
            values = formula(labels, logits).astype(np.float32)
        return values.astype(result), None

    def fused() -> tuple[np.ndarray, None] | None:
        with np.errstate(all="ignore"):
            values = _fused_ctc(labels, cast(cast(y_pred, dtype), np.dtype(np.float32)), kernel,
                                log_zero)
        return None if values is None else (values.astype(np.float32).astype(result), None)

    return Plan(reference, fused=fused)


def ctc(y_true: ArrayLike, y_pred: ArrayLike, *, epsilon: float = EPSILON,
        backend: str = "tensorflow") -> np.ndarray:
    r"""CTC loss of each label sequence, as ``keras.losses.ctc`` on TensorFlow.

    .. math::

        \ell(y, x) = -\ln \sum_{\pi \in \mathcal{B}^{-1}(y)} \prod_{t=1}^{T}
            \mathrm{softmax}(x_t)_{\pi_t},

    where :math:`\mathcal{B}^{-1}(y)` is the set of alignments of the label
    :math:`y`: the length-T frame sequences that collapse to :math:`y` once
    repeats are merged and blanks (class 0) removed.

    Parameters
    ----------
    y_true : array_like, shape (N, L)
        Label sequences: integer classes 1..K-1, each row padded at its end
        with 0 (the blank, which Keras' CTC reserves). A row of zeros is the
        empty label. Integer-valued floats are accepted.
    y_pred : array_like, shape (N, T, K)
        Logits for each of the T frames (not probabilities: they are
        log-softmaxed). Every sample uses all T frames.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; CTC clips
        nothing, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray, shape (N,)
        float64 for float64 logits, float32 otherwise (Keras computes in
        float32 either way).

    Raises
    ------
    ValueError
        For labels outside [0, K), non-integer labels, a 0 before a label
        (0 only pads the end), a `y_true` without columns, and shapes that
        do not match. Keras computes a silently wrong value for the labels
        and the empty `y_true` (see Notes).

    Notes
    -----
    Keras takes the label length to be the number of nonzero entries and
    uses all T frames. TensorFlow's dense implementation gives every state
    that does not end the label the log-probability ``ln(1e-307)`` =
    -706.8936 instead of -inf, so a label that needs more frames than there
    are (a label of length L needs L frames plus one for the blank between
    each pair of equal neighbours) costs about 707 (706.89 plus the cost of
    the best partial alignment), not ``inf``; and a feasible label with very
    improbable alignments (logits thousands apart) is capped the same way
    (1311.9 where the exact value is 2915.6). Both are reproduced here, as
    are NaN results for NaN or infinite logits (an infinite logit makes the
    log-softmax of the other classes NaN or -inf; TensorFlow multiplies
    that by 0). The padding positions are states too: for very long inputs
    with much padding (T = 3000, 100 positions of padding) TensorFlow's
    1e-307 weight times the number of paths into the padding exceeds 1, and
    Keras returns values below -ln P, even negative; lossbounds returns the
    same.

    Keras would score labels outside [0, K) as probability 1 (a value too
    low, even negative), read a 0 before a label as a blank-probability
    label, and with a `y_true` of no columns count one transition twice
    (ln 2 too low); lossbounds raises instead. Keras raises on an empty
    batch; lossbounds returns an empty array.

    References
    ----------
    .. [1] A. Graves, S. Fernández, F. Gomez and J. Schmidhuber,
       "Connectionist temporal classification: labelling unsegmented
       sequence data with recurrent neural networks", *Proc. ICML* 2006.

    See Also
    --------
    loss : the reduced value of ``keras.losses.CTC``.
    lossbounds.baseline : the uniform baseline, ``T ln K - ln A``.

    Examples
    --------
    >>> import numpy as np
    >>> import lossbounds
    >>> y_true = [[1, 2], [1, 0]]  # two label sequences, padded with the blank 0
    >>> lossbounds.ctc(y_true, np.zeros((2, 4, 3), "float32"))  # uniform logits: 4 ln 3 - ln A
    array([1.686399, 2.091864], dtype=float32)
    >>> lossbounds.ctc([[1, 2, 1]], np.zeros((1, 2, 3), "float32"))  # 3 labels in 2 frames
    array([707.4814], dtype=float32)
    """
    return CTC().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Bounds


def _log_comb(n: int, k: int) -> float:
    """ln C(n, k) for 0 <= k <= n: exact where it is cheap, else by lgamma."""
    if min(k, n - k) <= _EXACT_COMB:
        return math.log(math.comb(n, k))
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def log_alignments(length: int, repeats: int, frames: int) -> float:
    r"""ln A: the log of the number of CTC alignments of a label with T frames.

    An alignment spells the label as runs: a blank run (possibly empty),
    a run of the first label (at least one frame), a blank run, ..., the
    last label's run, a blank run. The L label runs are non-empty; of the
    L + 1 blank runs, the r between two equal labels are non-empty too.
    Taking one frame from each non-empty run leaves T - L - r frames split
    among 2L + 1 runs, so

    .. math:: A = \binom{T + L - r}{2L},

    and A = 0 (-inf returned) when T < L + r.
    """
    n = frames + length - repeats
    if n < 2 * length:
        return -math.inf
    return _log_comb(n, 2 * length)


def _looks_impossible(value: float, s: Setting) -> bool:
    """Is `value` in the range TensorFlow gives a label it cannot align (about 707)?

    Not where uniform logits already cost half as much: such long sequences
    reach these values with feasible labels too.
    """
    low, high = _IMPOSSIBLE_RANGE
    if s["backend"] != "tensorflow" or not low <= value <= high:
        return False
    try:
        return CTC().uniform(s) < low / 2
    except UndefinedBound:
        return True


@register
class CTC(LossDefinition):
    r"""CTC: :math:`-\ln P(y \mid x)`, summed over the alignments of the label.

    *Best case* 0. The alignments of a label are distinct frame sequences,
    so :math:`P = \sum_{\pi} \prod_t q_t(\pi_t) \le \prod_t \sum_k q_t(k) =
    1` and :math:`-\ln P \ge 0`. Logits that put a large margin (say 1e4)
    on one alignment give :math:`P = 1` in float32: Keras returns 0 (or
    -0.0). (TensorFlow adds the 1e-307-weighted paths that leave the label;
    their total exceeds 1, and the loss goes below 0, only for absurd sizes
    such as an empty label padded to 100 positions with 3000 frames.)

    *Worst case* ``inf``: logits are not clipped, and a frame whose logit for
    the needed label is :math:`M` below the others costs about :math:`M`.
    (An impossible label, one longer than the frames allow, costs about 707
    on TensorFlow: 706.89 plus the best partial alignment's cost.)

    *Uniform baseline*: equal logits give every class :math:`1/K` in every
    frame, so each of the :math:`A` alignments has probability
    :math:`K^{-T}` and

    .. math:: \ell = T \ln K - \ln A, \qquad A = \binom{T + L - r}{2L}

    for a label of length L with r pairs of equal neighbours (see
    `log_alignments`). It needs ``n_classes`` (K), ``input_length`` (T) and
    ``label_length`` (L, no equal neighbours) or the labels ``y_true`` (the
    mean over their rows, as Keras' default reduction gives).

    *Prior baseline*: not defined. A constant prediction is the same logits
    in every frame of every sample; which one is best depends on the label
    lengths and the number of frames, not on class frequencies, so it is no
    natural reference for sequences. The uniform baseline is the yardstick.

    CTC is never negative at ordinary sizes for labels Keras scores
    correctly; on TensorFlow labels outside [0, K) and a `y_true` without
    columns (which lossbounds rejects) make it negative.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1.
    # The class follows the function (the backends' "function" rule).
    float64_function = {"torch": "float32"}
    backend_differences = {
        "jax": ("A label too long for the frames costs about 1e5 (JAX's stand-in for ln 0 is "
                "-1e5), not about 707 as on TensorFlow; with logits thousands apart the values "
                "differ from TensorFlow's too (TensorFlow caps them near 707). Labels >= K, which "
                "JAX scores as probability 1, raise a ValueError here as on every backend."),
        "numpy": ("A label too long for the frames costs about 1e5 (the stand-in for ln 0 is "
                  "-1e5), not about 707 as on TensorFlow; with logits thousands apart the "
                  "values differ from TensorFlow's too (TensorFlow caps them near 707). Labels >= K, "
                  "on which Keras raises an IndexError, raise a ValueError here."),
        "torch": ("A label too long for the frames costs inf (PyTorch's ctc_loss), not about "
                  "707 as on TensorFlow; with logits thousands apart the values differ from "
                  "TensorFlow's too, and a NaN or inf logit of a class the label does not use "
                  "leaves the value finite. Labels >= K, which PyTorch scores with garbage, raise a "
                  "ValueError here."),
    }

    in_tf_keras = False  # Keras 3 added it

    name = "ctc"
    class_name = "CTC"
    aliases = ("connectionist_temporal_classification",)
    title = "CTC (connectionist temporal classification) loss"
    bound_options = (N_CLASSES, INPUT_LENGTH, LABEL_LENGTH)
    function = staticmethod(ctc)
    integer_predictions = True
    option_hints = {
        "from_logits": "CTC always takes logits: Keras log-softmaxes y_pred itself.",
        "blank_index": "Keras' CTC always uses class 0 as the blank.",
        "mask_index": "Keras' CTC always uses class 0 as the blank.",
        "logit_length": "Keras' CTC uses every frame; pass input_length=T for the baseline.",
    }
    prior_name = "no prior baseline"
    prior_meaning = "the loss of the best constant logits (not defined for CTC)"

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return _plan(y_true, y_pred, dtype, backend=backend.name, **options)

    def class_options(self, dtype: np.dtype) -> dict[str, Any]:
        return {"label_dtype": dtype}  # Keras' class API casts the labels to its dtype

    def options_from_output(self, shape: tuple[int | None, ...]) -> dict[str, Any]:
        # A model's (N, T, K) output: T frames of K classes (the blank is class 0).
        if len(shape) != 3:
            return {}
        frames, classes = shape[1], shape[2]
        return {name: value for name, value in (("input_length", frames), ("n_classes", classes))
                if value is not None}

    def best(self, s: Setting) -> float:
        return 0.0

    def worst(self, s: Setting) -> float:
        return math.inf

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        k, frames, length = s["n_classes"], s["input_length"], s["label_length"]
        if k is None or frames is None or (length is None and y_true is None):
            raise UndefinedBound(self.uniform_missing(s) + ".")
        if y_true is None:
            return self._uniform_one(k, frames, length, 0, "a label of length")
        labels = to_array(y_true, "y_true", allow_bool=True)
        if labels.ndim != 2:
            raise ValueError(f"ctc: `y_true` must have shape (batch_size, max_label_length), "
                             f"integer labels padded with 0, got shape {labels.shape}.")
        if labels.shape[0] == 0:
            raise ValueError("ctc: `y_true` has no label sequences: a baseline needs at least "
                             "one.")
        labels = _read_labels(labels, k)
        lengths = np.count_nonzero(labels, axis=1)
        if length is not None and np.any(lengths != length):
            i = int(np.argmax(lengths != length))
            raise ValueError(
                f"ctc: `label_length` = {length} but row {i} of `y_true` has {lengths[i]} "
                "labels. Give one or the other: with y_true, each row's own length is used.")
        repeats = np.zeros(labels.shape[0], np.int64)
        if labels.shape[1] > 1:
            repeats = np.sum((labels[:, 1:] == labels[:, :-1]) & (labels[:, 1:] != 0), axis=1)
        pairs, counts = np.unique(np.stack([lengths, repeats], axis=1), axis=0,
                                  return_counts=True)
        total = math.fsum(
            int(count) * self._uniform_one(k, frames, int(ell), int(r), "a label in y_true of length")
            for (ell, r), count in zip(pairs, counts))
        return total / labels.shape[0]

    @staticmethod
    def _uniform_one(k: int, frames: int, length: int, repeats: int, what: str) -> float:
        log_a = log_alignments(length, repeats, frames)
        if log_a == -math.inf:
            raise UndefinedBound(
                f"ctc has no uniform baseline: {what} {length}"
                + (f" with {repeats} pairs of equal neighbours" if repeats else "")
                + f" needs at least {length + repeats} frames, and input_length is {frames}. "
                "No alignment exists; TensorFlow scores such a label at about 707, not inf.")
        return frames * math.log(k) - log_a

    def prior(self, s: Setting, y_true: Any) -> float:
        raise UndefinedBound(
            "ctc has no prior baseline: no constant prediction is a natural baseline for "
            "sequences (the best constant logits depend on the label lengths and the number "
            "of frames, not on class frequencies). Use the uniform baseline: "
            "lossbounds.baseline('ctc', y_true, n_classes=K, input_length=T).")

    def notes(self, s: Setting) -> tuple[Note, ...]:
        return (
            Note("unbounded_logits", "CTC takes logits, which are not clipped: one frame "
                 "confidently wrong costs its logit gap, without limit."),
            Note("impossible_alignment", (
                "A label that needs more frames than the input has (L labels need L frames, "
                "plus one for the blank between equal neighbours) cannot be aligned: "
                "TensorFlow returns about 707 for it (706.89 = -ln 1e-307 plus the cost of "
                "the best partial alignment), not inf; JAX and NumPy about 1e5, PyTorch inf.")),
        )

    def flags(self, s: Setting) -> tuple[Note, ...]:
        frames, length = s["input_length"], s["label_length"]
        if frames is not None and length is not None and length > frames:
            return (Note("label_longer_than_input", (
                f"label_length {length} is more than input_length {frames}: no alignment "
                "exists, and TensorFlow scores every sample at about 707. Hint: keep more "
                "frames (less downsampling), or shorter labels.")),)
        return ()

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        k, frames, length = s["n_classes"], s["input_length"], s["label_length"]
        if k is None or frames is None:
            return "T ln K - ln A"
        if length is None:
            return f"{frames} ln {k} - ln A"
        return f"{frames} ln {k} - ln C({frames + length}, {2 * length})"

    def uniform_meaning(self, s: Setting) -> str:
        return ("the loss of uniform logits, every class equally likely in every frame (each "
                "alignment of the label then has probability K^-T)")

    def uniform_missing(self, s: Setting) -> str:
        k, frames, length = s["n_classes"], s["input_length"], s["label_length"]
        needed = [text for value, text in (
            (k, "n_classes=K (y_pred.shape[2], the blank included)"),
            (frames, "input_length=T (y_pred.shape[1])"),
            (length, "label_length=L (or the labels y_true)")) if value is None]
        if needed:
            return ("ctc's uniform baseline T ln K - ln A depends on the frames, the classes and "
                    "the label: pass " + ", ".join(needed))
        if log_alignments(length, 0, frames) == -math.inf:
            return (f"ctc has no uniform baseline: a label of length {length} cannot be aligned "
                    f"with {frames} frames")
        return "ctc's uniform baseline is not defined here"  # pragma: no cover

    def measures(self, value: float, prior: float | None) -> dict[str, float | None]:
        return {"geometric_mean_probability": math.exp(-value) if math.isfinite(value) else None}

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = []
        probability = numbers.get("geometric_mean_probability")
        if probability is not None and value >= 0 and not _looks_impossible(value, s):
            lines.append(
                f"e^-{loss_value(value)} = {number(probability)} is the probability the model "
                "gives the whole label sequence, all its alignments with the frames together "
                "(a geometric mean over the samples).")
        frames = s["input_length"]
        if frames is not None and math.isfinite(value):
            line = (f"Per frame that is {loss_value(value)} / {frames} = {number(value / frames)} "
                    "nats")
            uniform = marks.get("uniform")
            if uniform is not None:
                line += f", against {number(uniform / frames)} for uniform logits"
            lines.append(line + ".")
        return lines

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        found = []
        if _looks_impossible(value, s):
            found.append(Note("impossible_alignment", (
                f"{loss_value(value)} is close to {-TF_LOG_ZERO:.2f} = -ln(1e-307), what "
                "TensorFlow's CTC adds for a label it cannot align with the frames: the label is "
                "longer than the input allows (L labels need L frames, plus one blank frame "
                "between equal neighbours such as the two l's of 'hello'). Keras returns about "
                "707 for it instead of inf; in a batch mean, one such sample adds 707/N. Check "
                "the number of frames the model outputs (downsampling) against the longest "
                "label.")))
        if value < -PRINT_ATOL:
            found.append(Note("labels_beyond_classes", (
                f"{loss_value(value)} is negative, which -ln P cannot be: on TensorFlow a label "
                "outside [0, K) gets probability 1 in every frame (y_pred needs one output per "
                "class plus the blank 0), and a y_true with no columns counts one transition "
                "twice (-ln 2 for a perfect prediction).")))
        return tuple(found)
