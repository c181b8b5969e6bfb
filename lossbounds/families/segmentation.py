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

import functools
import importlib.metadata
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..checks import EPSILON, check_axis, check_real, plain, require_nonempty, to_array
from ..engine import Plan, cast
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

#: Eigen's packets on these wheels (AVX): 8 floats or halves, 4 doubles.
_LANES = {np.dtype(np.float16): 8, np.dtype(np.float32): 8, np.dtype(np.float64): 4}
_ACCUMULATORS = 4
_LEAF_PACKETS = 1024  # a row longer than this many packets is halved recursively


def _in_order(x: np.ndarray, axis: int) -> np.ndarray:
    """The sum over `axis`, added in order from 0: ((0 + x0) + x1) + ... (cumsum adds in order)."""
    if x.shape[axis] == 0:
        return np.zeros(np.delete(x.shape, axis), x.dtype)
    first = np.take(x, [0], axis=axis) + x.dtype.type(0)  # 0 + -0.0 is +0.0, as in Eigen
    rest = np.take(x, range(1, x.shape[axis]), axis=axis)
    return np.take(np.cumsum(np.concatenate([first, rest], axis=axis), axis=axis, dtype=x.dtype),
                   -1, axis=axis)


def _float_leaf(x: np.ndarray) -> np.ndarray:
    """Row sums of a float32 or float64 block as Eigen's packet reducer adds them.

    Four accumulators take the packets in turn, are added in order, the lanes
    are folded in halves, and the tail that fills no packet is added one by
    one to 0 before the folded packets.
    """
    rows, count = x.shape
    lanes = _LANES[x.dtype]
    packets = count // lanes
    unrolled = packets // _ACCUMULATORS * _ACCUMULATORS
    blocks = x[:, : packets * lanes].reshape(rows, packets, lanes)
    total = np.zeros((rows, lanes), x.dtype)
    if unrolled:
        parts = [_in_order(blocks[:, j:unrolled:_ACCUMULATORS], 1) for j in range(_ACCUMULATORS)]
        total = ((parts[0] + parts[1]) + parts[2]) + parts[3]
    for b in range(unrolled, packets):
        total = total + blocks[:, b]
    while total.shape[1] > 1:
        half = total.shape[1] // 2
        total = total[:, :half] + total[:, half:]
    scalar = np.zeros(rows, x.dtype)
    for j in range(packets * lanes, count):
        scalar = scalar + x[:, j]
    return scalar + total[:, 0]


def _float_tree(x: np.ndarray, first: int) -> np.ndarray:
    count, lanes = x.shape[1], _LANES[x.dtype]
    if count <= _LEAF_PACKETS * lanes:
        return _float_leaf(x)
    # The split point is aligned on a packet boundary of the flat tensor.
    split = lanes * -(-(first + -(-count // 2)) // lanes)
    left = min(split - first, count)
    total = np.zeros(x.shape[0], x.dtype) + _float_tree(x[:, :left], first)
    if left < count:
        total = total + _float_tree(x[:, left:], split)
    return total


def _inner(x: np.ndarray) -> np.ndarray:
    """Sums of the rows of a 2-D block (the reduced axis last and contiguous).

    float16 is `_tfmath.half_sum`: the same reducer with 8-half packets added
    in float and rounded, and rows longer than 200 packets halved.
    """
    if x.dtype == np.float16:
        return np.asarray(_tfmath.half_sum(x, -1))
    rows, count = x.shape
    lanes = _LANES[x.dtype]
    if count <= _LEAF_PACKETS * lanes:
        return _float_leaf(x)
    # Where the recursion splits depends on each row's offset modulo the packet.
    offsets = (np.arange(rows) * count) % lanes
    out = np.empty(rows, x.dtype)
    for offset in np.unique(offsets):
        chosen = offsets == offset
        out[chosen] = _float_tree(x[chosen], int(offset))
    return out


def _slices(x: np.ndarray) -> np.ndarray:
    """Sum over the first axis, one slice after another."""
    return _in_order(x, 0)


def _columns(x: np.ndarray) -> np.ndarray:
    """Sums over the middle axis of (K0, R, K2): Eigen's reducer that keeps the inner axis.

    It runs over the K0 * K2 outputs in packets (8 floats, 4 doubles). With
    at least 16 terms a packet inside one run of K2 outputs is vectorised:
    four accumulators take the terms in turn and are added in order; the
    other outputs (and all of them below 16 terms) add their terms one by
    one.
    """
    k0, terms, k2 = x.shape
    lanes = _LANES[x.dtype]
    rows = np.transpose(x, (1, 0, 2)).reshape(terms, k0 * k2)
    out = _slices(rows)
    if terms >= 16:
        whole = terms // _ACCUMULATORS * _ACCUMULATORS
        parts = [_in_order(rows[j:whole:_ACCUMULATORS], 0) for j in range(_ACCUMULATORS)]
        vector = ((parts[0] + parts[1]) + parts[2]) + parts[3]
        for i in range(whole, terms):
            vector = vector + rows[i]
        for start in range(0, k0 * k2 // lanes * lanes, lanes):
            if start // k2 == (start + lanes - 1) // k2:
                out[start : start + lanes] = vector[start : start + lanes]
    return out.reshape(k0, k2)


def _tf_sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``tf.reduce_sum(x, axes)`` in TensorFlow's order.

    TensorFlow drops axes of length 1 and merges neighbouring axes that are
    both reduced or both kept. Then a reduced last axis goes to the packet
    reducer (`_inner`); (reduced, kept) and (kept, reduced, kept) keep their
    inner axis (`_columns`); (reduced, kept, reduced) adds slices in the
    order of the last reduced axis first; anything longer is transposed so
    that the reduced axes come last.
    """
    out_shape = tuple(size for i, size in enumerate(x.shape) if i not in axes)
    if x.size == 0:
        return np.zeros(out_shape, x.dtype)
    dims: list[list[Any]] = []  # [size, reduced]
    for i, size in enumerate(x.shape):
        if size == 1:
            continue
        if dims and dims[-1][1] == (i in axes):
            dims[-1][0] *= size
        else:
            dims.append([size, i in axes])
    pattern = tuple(bool(reduced) for _, reduced in dims)
    merged = np.ascontiguousarray(x).reshape([size for size, _ in dims])
    if not any(pattern):
        result = merged
    elif pattern == (True,):
        result = _inner(merged[None])[0]
    elif pattern == (False, True):
        result = _inner(merged)
    elif pattern == (True, False):
        result = _columns(merged[None])[0]
    elif pattern == (False, True, False):
        result = _columns(merged)
    elif pattern == (True, False, True):
        result = _slices(np.transpose(merged, (2, 0, 1)).reshape(-1, merged.shape[1]))
    else:
        kept = [i for i, reduced in enumerate(pattern) if not reduced]
        reduced_axes = [i for i, reduced in enumerate(pattern) if reduced]
        moved = np.transpose(merged, kept + reduced_axes)
        rows = math.prod(merged.shape[i] for i in kept)
        result = _inner(np.ascontiguousarray(moved).reshape(rows, -1))
    return np.asarray(result, x.dtype).reshape(out_shape)


def _sum(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``ops.sum(x, axis)`` in TensorFlow's order (float16, float32 and float64)."""
    return _tf_sum(x, axes)


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
    if y_true.dtype.kind == "b":
        return
    with np.errstate(invalid="ignore"):
        bad = (y_true < 0) | (y_true > 1)
    if bad.any():
        first = y_true[bad].flat[0]
        hint = (" Masks stored as 0/255 images must be divided by 255." if first == 255
                else " Hint: binary masks hold 0 and 1; soft masks values in between.")
        raise ValueError(
            f"{loss}: `y_true` must be a mask with values in [0, 1], got {plain(first)}. Keras "
            "would use it as given, and the overlap would then mean nothing (it can make the "
            f"loss negative); lossbounds raises.{hint}")


def _overlap_plan(formula: Callable[[np.ndarray, np.ndarray, tuple[int, ...]], np.ndarray],
                  y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, axis: Axis,
                  loss: str) -> Plan:
    _require_same_shape(y_true, y_pred, loss)
    _require_mask(y_true, loss)
    axes = _axes(axis, y_pred.ndim, loss)

    def reference() -> tuple[np.ndarray, None]:
        # Keras: y_pred = convert_to_tensor(y_pred); y_true = cast(y_true, y_pred.dtype)
        with np.errstate(all="ignore"):  # inf and NaN as Keras gives them
            return formula(cast(y_true, dtype), cast(y_pred, dtype), axes), None

    return Plan(reference)


# --------------------------------------------------------------------------
# Values


def _dice_formula(epsilon: float) -> Callable[[np.ndarray, np.ndarray, tuple[int, ...]], np.ndarray]:
    def formula(y: np.ndarray, p: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        t = p.dtype.type
        intersection = _sum(y * p, axes)
        denominator = _sum(y, axes) + _sum(p, axes) + t(epsilon)
        return np.asarray(t(1) - (t(2.0) * intersection) / denominator, p.dtype)
    return formula


def _tversky_formula(alpha: float, beta: float, epsilon: float
                     ) -> Callable[[np.ndarray, np.ndarray, tuple[int, ...]], np.ndarray]:
    fn_first = _alpha_weighs_false_negatives()

    def formula(y: np.ndarray, p: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
        t = p.dtype.type
        intersection = _sum(y * p, axes)
        if fn_first:  # Keras <= 3.15: inputs = y_true, targets = y_pred
            first = _sum((t(1) - p) * y, axes)  # named fp, the false negatives
            second = _sum(p * (t(1) - y), axes)  # named fn, the false positives
        else:  # Keras >= 3.16: inputs = y_pred, targets = y_true
            first = _sum((t(1) - y) * p, axes)  # the false positives
            second = _sum(y * (t(1) - p), axes)  # the false negatives
        denominator = intersection + first * t(alpha) + second * t(beta) + t(epsilon)
        return np.asarray(t(1) - intersection / denominator, p.dtype)
    return formula


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

    def formula(self, **options: Any) -> Callable[[np.ndarray, np.ndarray, tuple[int, ...]],
                                                  np.ndarray]:
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

    def formula(self, **options: Any) -> Callable[[np.ndarray, np.ndarray, tuple[int, ...]],
                                                  np.ndarray]:
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

    def formula(self, **options: Any) -> Callable[[np.ndarray, np.ndarray, tuple[int, ...]],
                                                  np.ndarray]:
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
