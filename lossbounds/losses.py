r"""Keras 3 losses (TensorFlow backend) reproduced in numpy.

The four per-sample functions take Keras' names, argument order and defaults
and return what ``keras.losses.<same name>`` returns: the same values (to
float32 precision), dtype and shape. `loss` returns what a Keras loss *class*
instance returns, reductions and sample weights included.

Where Keras silently computes garbage we raise instead (sparse labels that are
not integers or lie outside ``[0, K)``, ``label_smoothing`` outside [0, 1]);
where Keras computes a defined value from odd but legal input (probabilities
outside [0, 1], rows that do not sum to 1) we return Keras' value. See
:doc:`the Keras semantics page <keras-semantics>` for every quirk reproduced.
"""

from __future__ import annotations

import warnings
from typing import Any

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
    "binary_crossentropy",
    "categorical_crossentropy",
    "loss",
    "mean_squared_error",
    "sparse_categorical_crossentropy",
]

_F32 = np.float32


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


def _targets(y_true: Any, dtype: np.dtype) -> np.ndarray:
    # ops.cast(y_true, y_pred.dtype)
    return to_array(y_true, "y_true", allow_bool=True).astype(dtype, copy=False)


def _clip_bounds(epsilon: float, dtype: np.dtype) -> tuple[Any, Any]:
    # Keras passes Python floats to tf.clip_by_value, so `1 - epsilon` is
    # computed in double precision and then rounded to the tensor dtype:
    # f32(1 - 1e-7) = 1 - 2**-23, and in float16 it is 1.0.
    return dtype.type(epsilon), dtype.type(1.0 - epsilon)


def _clip(x: np.ndarray, epsilon: float) -> np.ndarray:
    low, high = _clip_bounds(epsilon, x.dtype)
    # tf.clip_by_value is minimum-then-maximum; both propagate NaN.
    return np.maximum(np.minimum(x, high), low)


# --------------------------------------------------------------------------
# Mean squared error


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
    y_true = to_array(y_true, "y_true", allow_bool=True).astype(y_pred.dtype, copy=False)
    return _mean_squared_error(y_true, y_pred)


def _mean_squared_error(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    y_true, y_pred = _same_rank(y_true, y_pred)
    _require_rank(y_pred, "y_pred", "mean_squared_error")
    _require_rank(y_true, "y_true", "mean_squared_error")
    _broadcast_shape(y_true, y_pred, "mean_squared_error")
    difference = np.subtract(y_true, y_pred, dtype=y_pred.dtype)
    return _tfmath.keras_mean(np.square(difference), axis=-1)


# --------------------------------------------------------------------------
# Binary cross-entropy


def _smooth_binary(y_true: np.ndarray, label_smoothing: float) -> np.ndarray:
    # y * (1 - a) + 0.5 * a, each Python scalar rounded to the tensor dtype.
    dtype = y_true.dtype.type
    return y_true * dtype(1.0 - label_smoothing) + dtype(0.5 * label_smoothing)


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
    from_logits = check_bool(from_logits, "from_logits")
    label_smoothing = check_label_smoothing(label_smoothing)
    epsilon = check_epsilon(epsilon)
    y_pred = _predictions(y_pred, "binary_crossentropy")
    y_true = _targets(y_true, y_pred.dtype)
    return _binary_crossentropy(
        y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing,
        axis=axis, epsilon=epsilon,
    )


def _binary_crossentropy(y_true, y_pred, *, from_logits, label_smoothing, axis, epsilon):
    if label_smoothing:
        y_true = _smooth_binary(y_true, label_smoothing)
    _require_same_shape(y_true, y_pred, "binary_crossentropy")
    _require_rank(y_pred, "y_pred", "binary_crossentropy")
    axis = check_axis(axis, y_pred.ndim)
    elementwise = _binary_elementwise(y_true, y_pred, from_logits, epsilon)
    return _tfmath.keras_mean(elementwise, axis=axis)


# --------------------------------------------------------------------------
# Softmax cross-entropy (shared by CCE and sparse CCE on logits)


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


# --------------------------------------------------------------------------
# Categorical cross-entropy


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
    from_logits = check_bool(from_logits, "from_logits")
    label_smoothing = check_label_smoothing(label_smoothing)
    epsilon = check_epsilon(epsilon)
    y_pred = _predictions(y_pred, "categorical_crossentropy")
    y_true = _targets(y_true, y_pred.dtype)
    return _categorical_crossentropy(
        y_true, y_pred, from_logits=from_logits, label_smoothing=label_smoothing,
        axis=axis, epsilon=epsilon,
    )


def _categorical_crossentropy(y_true, y_pred, *, from_logits, label_smoothing, axis, epsilon):
    if isinstance(axis, (bool, np.bool_)):
        raise TypeError(f"`axis` must be an int, got bool: {axis!r}.")
    _require_rank(y_pred, "y_pred", "categorical_crossentropy")
    if y_pred.shape[-1] == 1:
        warnings.warn(
            "categorical_crossentropy with a single class (y_pred.shape[-1] == 1) "
            "is always about 1.2e-7. Hint: for two classes with one output, use "
            "binary_crossentropy.",
            UserWarning,
            stacklevel=3,
        )
    _require_rank(y_true, "y_true", "categorical_crossentropy")
    if label_smoothing:
        dtype = y_pred.dtype.type
        # Keras 3 takes K from y_true's last axis, whatever `axis` is.
        smoothing = dtype(label_smoothing) / dtype(y_true.shape[-1])
        y_true = y_true * dtype(1.0 - label_smoothing) + smoothing
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


# --------------------------------------------------------------------------
# Sparse categorical cross-entropy


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
    values, _ = _sparse_categorical_crossentropy(
        y_true, y_pred, from_logits=from_logits, ignore_class=ignore_class,
        axis=axis, epsilon=epsilon,
    )
    return values


def _sparse_categorical_crossentropy(y_true, y_pred, *, from_logits, ignore_class, axis, epsilon):
    """Per-sample losses and the ``ignore_class`` mask (None without one)."""
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
    valid = None if ignore_class is None else (y_true != ignore_class)
    n_classes = y_pred.shape[-1]
    if n_classes == 0 and y_true.size:
        raise ValueError(
            "sparse_categorical_crossentropy: `y_pred` has no classes (last axis "
            "of length 0)."
        )
    labels = _integer_labels(y_true, n_classes, valid)
    if valid is not None:
        # Keras zeroes the ignored rows' predictions before computing.
        y_pred = np.where(valid[..., None], y_pred, y_pred.dtype.type(0))
    with np.errstate(all="ignore"):
        logits = y_pred if from_logits else np.log(_clip(y_pred, epsilon))
    shifted, log_sum = _log_softmax_parts(logits)
    picked = np.take_along_axis(shifted, labels[..., None], axis=-1)[..., 0]
    with np.errstate(over="ignore"):  # a float16 result may overflow, as in Keras
        values = (log_sum - picked).astype(y_pred.dtype)
    if valid is not None:
        values = np.where(valid, values, y_pred.dtype.type(0))
    return values, valid


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


_FUNCTIONS = {
    "mean_squared_error": lambda y_true, y_pred, **_: (_mean_squared_error(y_true, y_pred), None),
    "binary_crossentropy": lambda y_true, y_pred, **o: (_binary_crossentropy(y_true, y_pred, **o), None),
    "categorical_crossentropy": lambda y_true, y_pred, **o: (
        _categorical_crossentropy(y_true, y_pred, **o), None
    ),
    "sparse_categorical_crossentropy": _sparse_categorical_crossentropy,
}

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
    if spec.options:
        kwargs["epsilon"] = check_epsilon(epsilon)
    else:
        check_epsilon(epsilon)
    y_pred = to_array(y_pred, "y_pred", dtype=compute_dtype)
    y_true = to_array(y_true, "y_true", dtype=compute_dtype)
    y_true, y_pred = _same_rank(y_true, y_pred)
    values, mask = _FUNCTIONS[spec.name](y_true, y_pred, **kwargs)
    result = _reduce_weighted(values, sample_weight, mask, reduction, compute_dtype)
    if np.ndim(result) == 0:
        return float(result)
    return result
