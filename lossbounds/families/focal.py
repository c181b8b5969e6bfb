r"""Re-weighted cross-entropies: binary and categorical focal cross-entropy, and the
categorical generalized cross-entropy.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.

These losses take probabilities, but their values are not cross-entropies:
the focal losses multiply each cross-entropy term by a weight that depends on
the prediction itself, :math:`(1 - p_t)^\gamma`, and the generalized
cross-entropy is :math:`(1 - p^q)/q`. So none of them is in bits, and
``exp(loss)`` is no perplexity; `explain` places their values between their
own best, uniform, prior and worst values instead, and translates them into
the probability of the true class that would cost as much.

References
----------
.. [1] T.-Y. Lin, P. Goyal, R. Girshick, K. He and P. Dollár, "Focal Loss for
   Dense Object Detection", ICCV 2017. arXiv:1708.02002.
.. [2] Z. Zhang and M. R. Sabuncu, "Generalized Cross Entropy Loss for Training
   Deep Neural Networks with Noisy Labels", NeurIPS 2018. arXiv:1805.07836.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..backends import Backend, Semantics, get_backend, neg_log, semantics, weighted_cost
from ..checks import (
    EPSILON,
    check_axis,
    check_blocks,
    check_bool,
    check_real,
    first_outside_unit,
    first_where,
    plain,
    to_array,
)
from ..engine import (
    Kernel,
    Plan,
    caller_outside_package,
    cast,
    clip,
    make_job,
    require_rank,
    vectors_last,
)
from ..options import AXIS, COUNTS, FROM_LOGITS, LABEL_SMOOTHING, N_CLASSES, SAMPLE_WEIGHT, Y_TRUE, Option
from ..registry import LossDefinition, Plateau, Setting, UndefinedBound, register
from ..text import Note, loss_value, number, percent
from .crossentropy_fused import fused_binary_focal, fused_categorical_focal, fused_generalized
from .crossentropy_kernels import (
    binary_elementwise,
    check_unit_targets,
    keras_mean_on,
    keras_sigmoid,
    last_axis_rows,
    rescaled,
    sigmoid_cross_entropy_with_logits,
    smooth_binary,
    smooth_categorical,
)

# The per-sample functions: lossbounds exports them.
__all__ = [
    "binary_focal_crossentropy",
    "categorical_focal_crossentropy",
    "categorical_generalized_cross_entropy",
]

_BFCE = "binary_focal_crossentropy"
_CFCE = "categorical_focal_crossentropy"
_GCE = "categorical_generalized_cross_entropy"
_LN2 = math.log(2.0)
_TENSORFLOW = get_backend("tensorflow")


# --------------------------------------------------------------------------
# Options: the focal parameters and q. A Python number is read as Keras reads
# it, in the dtype of the tensor it meets; a numpy float scalar (or a numpy
# array of per-class weights) keeps its dtype, and Keras' arithmetic then
# promotes to it (np.float64 alpha makes a float32 focal loss float64).


class _PerClass(tuple):
    """Per-class weights (`alpha` of categorical focal loss) and the dtype Keras makes them.

    A list of Python numbers becomes a float32 tensor (int32 for whole
    numbers, which takes the loss's dtype); a numpy array keeps its dtype.
    ``dtype`` is None where the weights take the loss's dtype.
    """

    dtype: np.dtype | None

    def __new__(cls, values: Sequence[float], dtype: np.dtype | None) -> _PerClass:
        made = super().__new__(cls, values)
        made.dtype = dtype
        return made

    def __reduce__(self) -> tuple[Any, ...]:
        return (_PerClass, (tuple(self), self.dtype))


def _keep_kind(original: Any, value: float) -> float:
    """`value` as a numpy float of `original`'s type if it was one (it carries its dtype into Keras)."""
    if isinstance(original, np.floating):
        return original.dtype.type(value)
    return value


def _check_gamma(value: Any) -> float:
    gamma = check_real(value, "gamma")
    if not 0.0 <= gamma < math.inf:
        raise ValueError(
            f"`gamma` must be a finite number >= 0, got {value!r}. It is the focusing "
            "parameter of (1 - p_t)**gamma: 0 gives plain cross-entropy, 2 is the usual choice. "
            "Keras accepts a negative gamma silently; a correct confident prediction then "
            "costs inf * 0 = NaN."
        )
    return _keep_kind(value, gamma)


def _check_binary_alpha(value: Any) -> float:
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        raise TypeError(
            f"`alpha` of binary focal cross-entropy is one number (the weight of the positive "
            f"label; the negative label weighs 1 - alpha), got {type(value).__name__}: "
            f"{value!r}. Keras fails on a list (1 - list). Per-class weights belong to "
            "categorical_focal_crossentropy."
        )
    alpha = check_real(value, "alpha")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(
            f"`alpha` must lie in [0, 1], got {value!r}: it weighs the positive label, and "
            "the negative label weighs 1 - alpha. Keras accepts other values silently; "
            "the loss of negative labels is then negative. 0.25 is the paper's choice."
        )
    return alpha  # Keras multiplies tensors by it: a numpy scalar takes their dtype


def _check_class_alpha(value: Any) -> float | _PerClass:
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        array = np.asarray(value)
        if array.ndim != 1 or array.size == 0 or array.dtype.kind not in "biuf":
            raise TypeError(
                "`alpha` must be one number or a 1-D sequence of per-class weights, got "
                f"{type(value).__name__} of shape {array.shape} and dtype {array.dtype}."
            )
        weights = array.astype(np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            bad = weights[~np.isfinite(weights) | (weights < 0)][0]
            raise ValueError(
                f"`alpha` weights must be finite and >= 0, got {plain(bad)}. Keras accepts "
                "a negative weight silently; that class's loss is then negative."
            )
        dtype: np.dtype | None
        if isinstance(value, np.ndarray):
            dtype = value.dtype if value.dtype.kind == "f" else None
        elif isinstance(value[0], np.floating):
            dtype = value[0].dtype  # tf.convert_to_tensor takes a list's dtype from its first item
        else:  # ...else Python floats make float32, whole numbers int32 (which takes the loss's)
            any_float = any(isinstance(v, (float, np.floating)) for v in value)
            dtype = np.dtype(np.float32) if any_float else None
        return _PerClass(tuple(float(v) for v in weights), dtype)
    alpha = check_real(value, "alpha")
    if not 0.0 <= alpha < math.inf:
        raise ValueError(
            f"`alpha` must be a finite weight >= 0, got {value!r} (0.25 in the paper; "
            "per-class weights are accepted too). Keras accepts a negative alpha silently; "
            "the loss is then negative."
        )
    return _keep_kind(value, alpha)


def _check_q(value: Any) -> float:
    q = check_real(value, "q")
    if not 0.0 < q < 1.0:
        raise ValueError(
            f"`q` must lie in the open interval (0, 1), got {value!r}. Keras' class rejects "
            "other values, but its function computes them: q = 0 gives NaN. Near 0 the loss "
            "behaves like cross-entropy, near 1 like mean absolute error; 0.5 is the default "
            "and 0.7 the paper's choice."
        )
    return _keep_kind(value, q)


def _parse_alpha(text: str) -> float | list[float]:
    """``"0.25"`` -> 0.25, ``"1,2,0.5"`` -> per-class weights, for ``--alpha``."""
    try:
        parts = [float(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"expected a number or comma-separated per-class weights, got {text!r}") from None
    return parts[0] if len(parts) == 1 else parts


_ALPHA_HELP = ("focal weight alpha: of positive labels with --apply-class-balancing (binary "
               "focal), or of every class, one number or one per class (categorical focal)")
APPLY_CLASS_BALANCING = Option(
    "apply_class_balancing", False, lambda v: check_bool(v, "apply_class_balancing"),
    "weigh positive labels by alpha and negative ones by 1 - alpha (binary focal)",
    flag="--apply-class-balancing")
BINARY_ALPHA = Option("alpha", 0.25, _check_binary_alpha, _ALPHA_HELP, flag="--alpha",
                      parse=_parse_alpha, metavar="A")
CLASS_ALPHA = Option("alpha", 0.25, _check_class_alpha, _ALPHA_HELP, flag="--alpha",
                     parse=_parse_alpha, metavar="A")
GAMMA = Option("gamma", 2.0, _check_gamma, "focal focusing parameter gamma >= 0 (default 2)",
               flag="--gamma", parse=float, metavar="G")
Q = Option("q", 0.5, _check_q, "generalized cross-entropy q in (0, 1) (default 0.5)",
           flag="--q", parse=float, metavar="Q")


# --------------------------------------------------------------------------
# Keras' arithmetic on the TensorFlow backend


def _promoted(dtype: np.dtype, *values: Any) -> np.dtype:
    """The dtype Keras' ops compute in when a tensor of `dtype` meets these scalars or weights.

    A Python number is *weak*: it takes the tensor's dtype. A numpy float
    scalar, or per-class weights with a dtype, promote it (float32 and
    float64 give float64).
    """
    result = np.dtype(dtype)
    for value in values:
        kind = value.dtype if isinstance(value, (np.floating, _PerClass)) else None
        if kind is not None:
            result = np.promote_types(result, kind)
    return result


def _tensor_scalar(value: Any, dtype: np.dtype, backend: Backend) -> Any:
    """A Python float as ``ops.power`` and ``ops.multiply`` see it on `backend`.

    PyTorch's ``convert_to_tensor`` makes it a float32 tensor: against float64
    it is rounded to float32 (gamma = 0.3 becomes 0.30000001192092896). The
    other backends keep it weak, exact.
    """
    if backend.name == "torch" and type(value) is float and np.dtype(dtype) == np.float64:
        return float(np.float32(value))
    return value


def _tensorflow_kernel_fits(backend: Backend, dtype: np.dtype, from_logits: bool, *,
                            softmax: bool = False) -> bool:
    """Whether TensorFlow's fused focal kernel gives `backend`'s values, for `dtype` jobs.

    Off TensorFlow the probabilities' formulas are TensorFlow's: the binary
    costs (PyTorch's clamp at 100 lies beyond a normal float32 clip bound's
    -log 1.2e-38 = 87.3) and the categorical rescaling, to an ulp (JAX
    multiplies by the sum's reciprocal; PyTorch and NumPy keep subnormal
    probabilities, which the clip lifts to epsilon either way). Not from
    binary logits, whose sigmoid those backends clip (`keras_sigmoid`), nor
    for PyTorch's float64, where gamma and alpha are rounded to float32
    (`_tensor_scalar`) and the clamp can be reached. (The softmax of
    categorical logits is TensorFlow's in float32 and float64: `_softmax`.)
    """
    if backend is _TENSORFLOW:
        return True
    return backend.name in ("jax", "numpy", "torch") and (softmax or not from_logits) and not (
        backend.clamps_logs and np.dtype(dtype) == np.float64)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``tf.nn.sigmoid``: e / (1 + e) with e = exp(x), and 1 where e overflows.

    Bit for bit in float16 (Eigen's generic logistic, in half arithmetic);
    within a few ulp of TensorFlow's own float32 kernel.
    """
    one = x.dtype.type(1)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(x)
        return np.where(np.isinf(e), one, e / (one + e))


def _softmax(x: np.ndarray, axis: int, backend: Backend = _TENSORFLOW) -> np.ndarray:
    """``tf.nn.softmax``: exp(x - max) times the inverse of its sum, along `axis`.

    Bit for bit in float16 (half arithmetic, TensorFlow's summation order)
    where TensorFlow runs it on Eigen; where it runs on oneDNN
    (`_tfmath.onednn_float16`), computed in float32 and rounded once, as
    oneDNN does (within a float16 ulp where its exp rounds otherwise, about
    one value in 10,000). Within a few ulp in float32 and float64.
    """
    if x.dtype == np.float16 and backend.name in ("tensorflow", "tf_keras") \
            and _tfmath.onednn_float16():
        return _softmax(x.astype(np.float32), axis).astype(np.float16)
    z = np.moveaxis(x, axis, -1)
    shifted = z - np.max(z, axis=-1, keepdims=True)
    e = np.exp(shifted)
    total = _tfmath.reduce_sum(e, -1)[..., None]
    out = e * (total.dtype.type(1) / total)
    return np.moveaxis(out, -1, axis)


def _mean(x: np.ndarray, axis: int, backend: Backend = _TENSORFLOW) -> np.ndarray:
    with warnings.catch_warnings():  # an empty axis: NaN, as in Keras
        warnings.simplefilter("ignore", RuntimeWarning)
        return keras_mean_on(backend, x, axis)


def _same_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: str, hint: str) -> None:
    if y_true.shape == y_pred.shape:
        return
    what = "rank" if y_true.ndim != y_pred.ndim else "shape"
    column = y_pred if y_pred.ndim == 2 else y_true
    broadcast = ""
    if sorted((y_true.ndim, y_pred.ndim)) == [1, 2] and column.shape[-1] == 1:
        broadcast = (" Keras' function API would broadcast (N,) against (N, 1) into an (N, N) "
                     "table of every target against every prediction, or raise.")
    raise ValueError(
        f"{loss}: `y_true` and `y_pred` must have the same {what}, got y_true.shape="
        f"{y_true.shape} and y_pred.shape={y_pred.shape}.{broadcast} {hint}"
    )


# --------------------------------------------------------------------------
# Binary focal cross-entropy: the value


def _bfce_reference(y_true: np.ndarray, y_pred: np.ndarray, *, apply_class_balancing: bool,
                    alpha: float, gamma: float, from_logits: bool, label_smoothing: float,
                    axis: int, epsilon: float, backend: Backend = _TENSORFLOW) -> np.ndarray:
    """Keras' binary_focal_crossentropy on `backend`, in `y_pred`'s dtype."""
    kind = y_pred.dtype.type
    one = kind(1)
    with np.errstate(all="ignore"):
        if label_smoothing:
            y_true = smooth_binary(y_true, label_smoothing)
        if from_logits and backend.caches_logits:
            # ops.sigmoid attaches the logits; TF's binary_crossentropy then
            # takes them, unclipped: the cross-entropy part is the logits formula.
            # (tf.keras 2.x passes from_logits on to the same formula.)
            p = _sigmoid(y_pred)
            bce = sigmoid_cross_entropy_with_logits(y_true, y_pred)
        else:
            # the other backends clip the sigmoid like any probability
            p = keras_sigmoid(backend, y_pred) if from_logits else y_pred
            bce = binary_elementwise(backend, y_true, p, False, epsilon)
        p_t = y_true * p + (one - y_true) * (one - p)  # the unclipped prediction
        focal = np.power(one - p_t, kind(_tensor_scalar(gamma, y_pred.dtype, backend))) * bce
        if apply_class_balancing:
            weight = y_true * kind(alpha) + (one - y_true) * kind(1 - alpha)
            focal = weight * focal
        return _mean(focal, axis, backend)


def _plan_binary(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
                 apply_class_balancing: bool = False, alpha: float = 0.25, gamma: float = 2.0,
                 from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                 epsilon: float = EPSILON, backend: Backend = _TENSORFLOW) -> Plan:
    require_rank(y_pred, "y_pred", _BFCE)
    _same_shape(y_true, y_pred, _BFCE, "Hint: give y_true the shape of y_pred, e.g. "
                "y_true.reshape(y_pred.shape) for (N,) labels of (N, 1) predictions.")
    axis = check_axis(axis, y_pred.ndim)
    dtype = np.dtype(dtype)
    if _promoted(dtype, gamma) != dtype:
        raise TypeError(
            f"{_BFCE}: `gamma` is a numpy {np.dtype(type(gamma)).name} scalar; Keras computes "
            f"(1 - p_t)**gamma in {_promoted(dtype, gamma).name} and then fails to multiply it "
            f"by the {dtype.name} cross-entropy. Hint: pass a Python float, gamma=float(gamma)."
        )
    truth, prediction = cast(y_true, dtype), cast(y_pred, dtype)

    def report() -> None:
        bad = first_outside_unit(truth)
        if bad is not None:
            raise ValueError(
                f"{_BFCE}: `y_true` must hold targets in [0, 1] (labels 0 and 1, or soft "
                f"targets), got {plain(bad)}. Keras would use it as given: p_t = y p + (1 - y)"
                "(1 - p) is then no probability, and the loss can be negative or exceed its "
                "ceiling; lossbounds raises. Hint: map labels such as -1/+1 to 0/1."
            )
        bad = None if from_logits else first_outside_unit(prediction)
        if bad is not None:
            raise ValueError(
                f"{_BFCE}: with from_logits=False `y_pred` must hold probabilities in [0, 1], got "
                f"{plain(bad)}. Keras clips them inside the log but not in the focal factor "
                "(1 - p_t)**gamma, so label 0 at p = 2 costs 63.77, four times the clipped "
                "ceiling 15.94; lossbounds raises. Hint: pass from_logits=True if these are "
                "logits, or end the model with a sigmoid."
            )

    def invalid(t: np.ndarray, p: np.ndarray) -> bool:
        return first_outside_unit(t) is not None or (not from_logits and first_outside_unit(p) is not None)

    def values(t: np.ndarray, p: np.ndarray, axis: int = axis) -> np.ndarray:
        return _bfce_reference(
            t, p, apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
            from_logits=from_logits, label_smoothing=label_smoothing, axis=axis,
            epsilon=epsilon, backend=backend)

    formula = check_blocks(values, invalid, report)  # each block checked as it is read

    def reference() -> tuple[np.ndarray, None]:
        return formula(truth, prediction), None

    if backend.clamps_logs and dtype == np.float16:  # PyTorch raises at the call: compute now
        computed = reference()
        return Plan(lambda: computed)
    if backend.clamps_logs:  # the same checks, a piece at a time; then stream
        # (from logits PyTorch checks their sigmoid, NaN where the logit is; lossbounds'
        # own checks first, as on the other backends)
        report()
        check_unit_targets(backend, y_true, y_pred, dtype, from_logits=False,
                           label_smoothing=label_smoothing, epsilon=epsilon)
    fused = None if not _tensorflow_kernel_fits(backend, dtype, from_logits) else fused_binary_focal(
        dtype, from_logits=from_logits, gamma=gamma, alpha=alpha,
        apply_class_balancing=apply_class_balancing, label_smoothing=label_smoothing,
        epsilon=epsilon)
    rows = vectors_last(y_true, y_pred, axis, dtype)
    return Plan(reference, last_axis_rows(formula, *rows, dtype, -1, fused, row_terms="mean")
                if rows is not None else None)


def binary_focal_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    apply_class_balancing: bool = False,
    alpha: float = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
) -> np.ndarray:
    r"""Binary focal cross-entropy, averaged over `axis`, as ``keras.losses.binary_focal_crossentropy``.

    For a target :math:`y` (after label smoothing) and a probability
    :math:`p` (the sigmoid of the logit with ``from_logits=True``),

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} w_d\, (1 - p_{t,d})^{\gamma}\,
            \mathrm{BCE}(y_d, p_d), \qquad p_t = y p + (1 - y)(1 - p),

    where :math:`\mathrm{BCE}(y, p) = -y \log c - (1 - y) \log(1 - c)` with
    :math:`c = \mathrm{clip}(p, \epsilon, 1 - \epsilon)`, and
    :math:`w = y\alpha + (1 - y)(1 - \alpha)` with ``apply_class_balancing``
    (else 1). :math:`1 - p_t` is the probability given to the wrong label, so
    confident right answers count almost nothing [1]_.

    Parameters
    ----------
    y_true : array_like
        Targets in [0, 1] (labels 0 and 1, or soft targets), the shape of
        `y_pred`.
    y_pred : array_like
        Probabilities in [0, 1] or, with ``from_logits=True``, logits. Must be
        floating point.
    apply_class_balancing : bool, default False
        Weigh positive targets by `alpha` and negative ones by ``1 - alpha``.
    alpha : float in [0, 1], default 0.25
        The weight of positive targets. It has **no effect** unless
        ``apply_class_balancing=True``, as in Keras.
    gamma : float >= 0, default 2.0
        The focusing parameter; 0 gives binary cross-entropy.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    label_smoothing : float in [0, 1], default 0
        Replace each target :math:`y` by :math:`y (1 - a) + a / 2`.
    axis : int, default -1
        The axis the elementwise losses are averaged over.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon, ``keras.config.epsilon()``.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Losses with `axis` removed, in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        For targets outside [0, 1], and for probabilities outside [0, 1]
        with ``from_logits=False``: Keras clips :math:`p` in the log but uses
        it unclipped in :math:`p_t`, so label 0 at :math:`p = 2` costs
        63.77, four times the clipped ceiling; lossbounds raises instead.
        Also for shapes that differ (Keras raises too).
    TypeError
        For a numpy float `gamma` of a wider dtype than the loss (Keras fails
        to multiply the two), and for a list `alpha`.

    Notes
    -----
    Keras quirks reproduced:

    - The focal factor uses the *unclipped* probability; only the
      cross-entropy is clipped. So label 1 at :math:`p = 0` costs
      :math:`-\ln\epsilon` = 16.118095 and label 0 at :math:`p = 1` costs
      :math:`23 \ln 2` = 15.942385 (times :math:`\alpha` or
      :math:`1 - \alpha` with balancing), and a perfect prediction costs
      exactly 0.
    - **From logits on TensorFlow the cross-entropy is not clipped**: Keras'
      sigmoid keeps the logits and TensorFlow's binary cross-entropy uses
      them, so label 0 at logit :math:`10^4` costs 10000 (15.942 on JAX,
      PyTorch and NumPy). The same happens in ``fit`` and ``evaluate`` with
      a sigmoid last layer and ``from_logits=False``.
    - ``alpha`` is ignored unless ``apply_class_balancing=True``.
    - In float16, :math:`1 - \epsilon` rounds to 1: label 0 at
      :math:`p = 1` gives ``inf`` and label 1 at :math:`p = 1` gives NaN.

    See Also
    --------
    binary_crossentropy : gamma = 0 without balancing.
    categorical_focal_crossentropy : the softmax version.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.binary_focal_crossentropy([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]])
    array([0.32986468, 0.20579839], dtype=float32)
    >>> lossbounds.binary_focal_crossentropy([[1.0], [0.0]], [[0.0], [1.0]])  # the ceilings
    array([16.118095, 15.942385], dtype=float32)
    >>> lossbounds.binary_focal_crossentropy([[0.0]], [[1e4]], from_logits=True)  # unclipped
    array([10000.], dtype=float32)
    """
    return BinaryFocalCrossentropy().per_sample(
        y_true, y_pred, apply_class_balancing=apply_class_balancing, alpha=alpha, gamma=gamma,
        from_logits=from_logits, label_smoothing=label_smoothing, axis=axis, epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Categorical focal cross-entropy: the value


def _cfce_reference(y_true: np.ndarray, y_pred: np.ndarray, *, alpha: float | _PerClass,
                    gamma: float, from_logits: bool, label_smoothing: float, axis: int,
                    epsilon: float, backend: Backend = _TENSORFLOW) -> np.ndarray:
    """Keras' categorical_focal_crossentropy on `backend` (they differ in `rescaled` only)."""
    kind = y_pred.dtype.type
    with np.errstate(all="ignore"):
        if label_smoothing:
            y_true = smooth_categorical(y_true, label_smoothing)
        if from_logits:
            y_pred = _softmax(y_pred, axis, backend)  # (no cached logits: clipped as probabilities)
        output = clip(rescaled(backend, y_pred, axis), epsilon)
        cce = -y_true * np.log(output)
        gamma = _tensor_scalar(gamma, y_pred.dtype, backend)
        alpha = _tensor_scalar(alpha, y_pred.dtype, backend)
        # ops.power and ops.multiply promote to a numpy gamma's or alpha's dtype
        power_dtype = _promoted(y_pred.dtype, gamma)
        modulating = np.power((kind(1) - output).astype(power_dtype), power_dtype.type(gamma))
        weight_dtype = _promoted(power_dtype, alpha)
        if isinstance(alpha, _PerClass):  # a tensor of its own dtype, broadcast on the last axis
            weights = np.asarray(alpha, alpha.dtype or weight_dtype).astype(weight_dtype)
        else:
            weights = weight_dtype.type(alpha)
        focal = (modulating.astype(weight_dtype) * weights) * cce.astype(weight_dtype)
        return _tfmath.reduce_sum(focal, axis)


def _plan_categorical(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
                      alpha: float | _PerClass = 0.25, gamma: float = 2.0,
                      from_logits: bool = False, label_smoothing: float = 0.0, axis: int = -1,
                      epsilon: float = EPSILON, backend: Backend = _TENSORFLOW) -> Plan:
    require_rank(y_pred, "y_pred", _CFCE)
    require_rank(y_true, "y_true", _CFCE)
    hint = ("Hint: categorical focal loss takes one-hot rows; for integer labels use "
            "np.eye(K)[labels] (Keras has no sparse focal loss)."
            if y_true.ndim + 1 == y_pred.ndim else
            "Hint: give y_true the shape of y_pred (one row of K targets per sample).")
    _same_shape(y_true, y_pred, _CFCE, hint)
    axis = check_axis(axis, y_pred.ndim)
    k = y_pred.shape[-1]
    if isinstance(alpha, _PerClass) and len(alpha) not in (1, k):
        raise ValueError(
            f"{_CFCE}: `alpha` has {len(alpha)} per-class weights but y_pred has {k} entries "
            "along its last axis (Keras broadcasts alpha on the last axis and fails). Hint: "
            "give one weight per class."
        )
    if k == 1:
        warnings.warn(
            f"{_CFCE} with a single class (y_pred.shape[-1] == 1) is always about 0 (the one "
            "class is rescaled to probability 1). Hint: for two classes with one output, use "
            "binary_focal_crossentropy.",
            UserWarning, stacklevel=caller_outside_package())
    truth, prediction = cast(y_true, dtype), cast(y_pred, dtype)
    bad = first_outside_unit(truth)
    if bad is not None:
        raise ValueError(
            f"{_CFCE}: `y_true` must hold one-hot (or soft) targets in [0, 1], got {plain(bad)}. "
            "Keras would use it as a weight of -log(p): a negative target makes the loss "
            "negative; lossbounds raises. Hint: for integer labels use np.eye(K)[labels]."
        )

    def formula(t: np.ndarray, p: np.ndarray, axis: int = axis) -> np.ndarray:
        return _cfce_reference(t, p, alpha=alpha, gamma=gamma, from_logits=from_logits,
                               label_smoothing=label_smoothing, axis=axis, epsilon=epsilon,
                               backend=backend)

    def reference() -> tuple[np.ndarray, None]:
        return formula(truth, prediction), None

    # A numpy alpha or gamma may widen the result's dtype: then the whole-array reference.
    if isinstance(alpha, _PerClass) or _promoted(
            _promoted(np.dtype(dtype), gamma), alpha) != np.dtype(dtype):
        return Plan(reference)
    fused = None if not _tensorflow_kernel_fits(backend, dtype, from_logits, softmax=True) \
        else fused_categorical_focal(
        dtype, from_logits=from_logits, gamma=gamma, alpha=alpha,
        label_smoothing=label_smoothing, epsilon=epsilon)
    # (label smoothing divides by the last axis' length, Keras' quirk: its rows stay whole)
    rows = vectors_last(y_true, y_pred, axis, dtype, reads_last_length=bool(label_smoothing))
    return Plan(reference, last_axis_rows(formula, *rows, dtype, -1, fused)
                if rows is not None else None)


def categorical_focal_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    alpha: float | Sequence[float] = 0.25,
    gamma: float = 2.0,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
) -> np.ndarray:
    r"""Categorical focal cross-entropy, as ``keras.losses.categorical_focal_crossentropy``.

    Keras rescales each row to sum to 1 (after a softmax with
    ``from_logits=True``), clips it,
    :math:`c = \mathrm{clip}(p / \sum_k p_k, \epsilon, 1 - \epsilon)`, and sums

    .. math::

        \ell(y, \hat y) = \sum_{k=1}^{K} \alpha_k (1 - c_k)^{\gamma}\,
            \bigl(-y_k \log c_k\bigr)

    over the classes [1]_: the cross-entropy of each class weighted by the
    probability the model gives to the *other* classes, to the power
    :math:`\gamma`.

    Parameters
    ----------
    y_true : array_like
        One-hot (or soft) targets in [0, 1], the shape of `y_pred`.
    y_pred : array_like
        Probabilities or, with ``from_logits=True``, logits, with the classes
        along `axis`. Must be floating point.
    alpha : float >= 0 or sequence of K floats, default 0.25
        The weight of every class, or one weight per class (multiplied along
        the *last* axis, as in Keras, whatever `axis` is).
    gamma : float >= 0, default 2.0
        The focusing parameter; with ``gamma=0, alpha=1`` this is categorical
        cross-entropy.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    label_smoothing : float in [0, 1], default 0
        Replace :math:`y` by :math:`y (1 - a) + a / K`, with :math:`K` the
        size of the *last* axis even when ``axis != -1`` (Keras 3.15).
    axis : int, default -1
        The class axis.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with `axis` removed, in `y_pred`'s dtype, or in a
        numpy `alpha`'s or `gamma`'s wider dtype (and float32 for float16
        predictions with a list `alpha`), as Keras promotes them.

    Raises
    ------
    ValueError
        For shapes that differ: Keras' function broadcasts ``(N,)`` targets
        against ``(N, 1)`` predictions into an ``(N, N)`` table and returns
        ``(N,)`` values of it; lossbounds raises. For targets outside [0, 1]
        (Keras would compute a negative loss), and for per-class `alpha`
        of another length than the last axis.

    Notes
    -----
    Keras quirks reproduced:

    - **Logits are clipped too.** Unlike categorical cross-entropy, this
      loss never reads TensorFlow's cached logits: it softmaxes, rescales
      and clips, so from logits too the worst case is
      :math:`\alpha(1 - \epsilon)^\gamma (-\ln \epsilon)` = 4.0295229
      (:math:`\alpha = 0.25, \gamma = 2`).
    - A correct one-hot prediction is clipped to :math:`c = 1 - 2^{-23}` and
      costs :math:`\alpha (1 - c)^\gamma (-\ln c)` = 4.2351647e-22, not 0.
    - Rows that do not sum to 1 are rescaled; an all-zero row gives NaN.
    - Label smoothing takes K from the last axis.

    See Also
    --------
    categorical_crossentropy : ``gamma=0, alpha=1``.
    binary_focal_crossentropy : the sigmoid version.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.categorical_focal_crossentropy([[0, 1, 0], [0, 0, 1]],
    ...                                           [[0.05, 0.9, 0.05], [0.1, 0.85, 0.05]])
    array([2.6340148e-04, 6.7591208e-01], dtype=float32)
    >>> lossbounds.categorical_focal_crossentropy([[0, 1, 0]], [[1e4, -1e4, 0.0]],
    ...                                           from_logits=True)  # clipped: the worst case
    array([4.029523], dtype=float32)
    """
    return CategoricalFocalCrossentropy().per_sample(
        y_true, y_pred, alpha=alpha, gamma=gamma, from_logits=from_logits,
        label_smoothing=label_smoothing, axis=axis, epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Categorical generalized cross-entropy: the value


def _check_integer_labels(y_true: np.ndarray, n_classes: int) -> None:
    """Refuse labels Keras would truncate or turn into an all-zero one-hot row (a piece at a time)."""
    if y_true.dtype.kind == "f":
        where = first_where(y_true, lambda t: ~np.isfinite(t) | (t != np.trunc(t)))
        if where is not None:
            raise ValueError(
                f"{_GCE}: `y_true` must hold integer class labels, got {plain(y_true[where])}. "
                "Keras would silently truncate it to an integer; lossbounds raises. Hint: "
                "round your labels, or if they are one-hot rows use their argmax."
            )
    where = first_where(y_true, lambda t: (t < 0) | (t >= n_classes))
    if where is not None:
        raise ValueError(
            f"{_GCE}: label {plain(y_true[where])} in `y_true` lies outside [0, "
            f"{n_classes}) for y_pred with {n_classes} classes. Keras would one-hot it as a "
            "row of zeros and return 1/q, as if the true class were predicted 0; lossbounds "
            "raises. Hint: labels run from 0 to K-1; shift 1-based labels down by one."
        )


class _CheckedLabels:
    """GCE's labels, checked whole before any block (`lossbounds.engine.LabelReader`)."""

    def read(self, job: Any, labels: np.ndarray) -> tuple[np.ndarray, None]:
        return labels, None

    def unread(self, job: Any) -> bool:
        return False  # (reading them costs nothing)

    def report(self, job: Any) -> None:  # pragma: no cover - read() rejects nothing
        raise AssertionError("checked labels were rejected")


def _gce_reference(labels: np.ndarray, y_pred: np.ndarray, q: float,
                   backend: Backend = _TENSORFLOW) -> np.ndarray:
    """Keras' categorical_generalized_cross_entropy: (1 - p**q) / q, p = sum(y_pred * one_hot)."""
    k = y_pred.shape[-1]
    one_hot = (labels[..., None] == np.arange(k)).astype(y_pred.dtype)
    with np.errstate(all="ignore"):
        # the product keeps inf * 0 = NaN of the other classes, as in Keras; TF reads a
        # subnormal probability as 0 (so it costs exactly 1/q)
        # (so does XLA on JAX; PyTorch and NumPy keep it: p = 1e-40 with q = 1e-4 costs 91.68)
        flushes = backend.name in _FLUSHING and y_pred.dtype.kind == "f"
        flushed = _tfmath.flush_subnormals(y_pred) if flushes else y_pred
        p = np.sum(flushed * one_hot, axis=-1, dtype=y_pred.dtype)
        compute = _promoted(np.dtype(np.float32) if y_pred.dtype.kind in "iub" else y_pred.dtype, q)
        kind = compute.type
        exponent = kind(_tensor_scalar(q, compute, backend))  # (the division is Python's)
        return (kind(1) - np.power(np.asarray(p).astype(compute), exponent)) / kind(q)


#: Backends whose CPU kernels read float32/float64 subnormals as 0.
_FLUSHING = ("tensorflow", "jax")


def _plan_generalized(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
                      q: float = 0.5, epsilon: float = EPSILON,
                      backend: Backend = _TENSORFLOW) -> Plan:
    require_rank(y_pred, "y_pred", _GCE)
    k = y_pred.shape[-1]
    if y_true.shape != y_pred.shape[:-1]:
        if y_true.shape == y_pred.shape[:-1] + (1,):
            hint = (f" Keras would one-hot these (N, 1) labels to (N, 1, {k}) and broadcast them "
                    "against y_pred into an (N, N) table of every label against every row; "
                    "lossbounds raises. Hint: pass y_true.reshape(-1), labels of shape (N,)."
                    + (" (Keras' class API makes (N, 1) labels of (N,) ones when y_pred has a "
                       "single class.)" if k == 1 else ""))
        elif y_true.shape == y_pred.shape:
            hint = " Hint: this loss takes integer labels; for one-hot rows pass their argmax."
        else:
            hint = ""
        raise ValueError(
            f"{_GCE}: `y_true` must hold one integer label per row of y_pred, shape "
            f"{y_pred.shape[:-1]}, got {y_true.shape}.{hint}"
        )
    _check_integer_labels(y_true, k)
    # the class API casts (integer) predictions to its dtype
    where = first_where(y_pred, lambda p: cast(p, dtype) < 0)
    if where is not None:
        raise ValueError(
            f"{_GCE}: `y_pred` must hold probabilities, got {plain(cast(y_pred[where], dtype))}. "
            "Keras would return NaN (a fractional power of a negative number) where the true "
            "class's is negative; lossbounds raises. Hint: this loss has no from_logits: end "
            "the model with a softmax."
        )

    def formula(labels: np.ndarray, p: np.ndarray, ws: Any = None) -> np.ndarray:
        return _gce_reference(labels, p, q, backend)

    def reference() -> tuple[np.ndarray, None]:
        return formula(y_true, cast(y_pred, dtype)), None

    # Rows stream (a row's value is its own) unless a numpy q widens the result's dtype.
    job = None
    if _promoted(np.dtype(dtype), q) == np.dtype(dtype):
        # (PyTorch rounds q to float32 for the power of a float64 p, not for the division)
        fused = fused_generalized(q, flushes=backend.name in _FLUSHING) \
            if _tensor_scalar(q, dtype, backend) == q else None
        job = make_job(lambda width: Kernel(formula, threads=True, fused=fused), y_true, y_pred,
                       dtype, from_logits=True, labels=_CheckedLabels(), reference=formula)
    return Plan(reference, job)


def categorical_generalized_cross_entropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    q: float = 0.5,
    *,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
) -> np.ndarray:
    r"""Generalized cross-entropy, as ``keras.losses.categorical_generalized_cross_entropy``.

    With :math:`p` the probability `y_pred` gives to the true class,

    .. math::

        \ell(y, \hat y) = \frac{1 - p^{q}}{q},

    which tends to the cross-entropy :math:`-\ln p` as :math:`q \to 0` and
    is :math:`1 - p` (mean absolute error on the true class) at
    :math:`q = 1` [2]_.

    Parameters
    ----------
    y_true : array_like of int
        Class labels in ``[0, K)``, shape ``y_pred.shape[:-1]``.
    y_pred : array_like
        Probabilities with the K classes along the last axis. Nothing is
        clipped or rescaled.
    q : float in (0, 1), default 0.5
        Keras' function *requires* `q` (its class defaults to 0.5); here it
        defaults to 0.5 and may be given by position, as in Keras.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; this loss clips
        nothing, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses, shape ``y_pred.shape[:-1]``, in `y_pred`'s dtype
        (float32 for integer predictions, a numpy `q`'s wider dtype).

    Raises
    ------
    ValueError
        Where Keras silently computes garbage: labels of shape ``(N, 1)``
        (Keras' docstring promises them, but they broadcast into an
        ``(N, N)`` table), labels outside ``[0, K)`` (Keras returns
        :math:`1/q`, as for a true class predicted 0), labels that are not
        whole numbers (Keras truncates 1.7 to 1), negative predictions
        (NaN), and `q` outside (0, 1) (Keras' function gives NaN at 0).

    Notes
    -----
    Nothing is clipped or normalised: a true class predicted 0 costs
    exactly :math:`1/q`, and predictions above 1 make the loss **negative**
    (:math:`p = 4, q = 0.5` gives -2), as in Keras. Keras' ``get()`` does not
    accept this loss's names (they are missing from its registry); lossbounds
    does.

    For small `q` the formula cancels: TensorFlow's float32 power (within 3
    ulp) and numpy's (within 1) can differ by about :math:`2^{-24}/q` in the
    result, more than 1e-6 below q = 0.06. float16 and float64 agree exactly.

    See Also
    --------
    sparse_categorical_crossentropy : the limit q -> 0, from integer labels.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.categorical_generalized_cross_entropy(
    ...     [0, 1, 0, 1], [[0.7, 0.3], [0.2, 0.8], [0.6, 0.4], [0.4, 0.6]], 0.5)
    array([0.32667994, 0.21114564, 0.45080662, 0.45080662], dtype=float32)
    """
    return CategoricalGeneralizedCrossEntropy().per_sample(y_true, y_pred, q=q, epsilon=epsilon,
                                                           backend=backend)


# --------------------------------------------------------------------------
# Shared by the bounds: targets from y_true or counts, weights, numbers


def _as_float64(value: Any, argument: str) -> np.ndarray:
    """`value` as float64, checked by `to_array` but without narrowing Python floats to float32."""
    to_array(value, argument, allow_bool=True)  # the kind checks: TypeError for junk
    return np.asarray(value, dtype=np.float64)


def _sample_weights(sample_weight: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Weights broadcast to the per-sample losses' `shape`, flattened; checked for a baseline."""
    if sample_weight is None:
        return np.ones(math.prod(shape))
    weights = _as_float64(sample_weight, "sample_weight")
    if weights.ndim == len(shape) + 1 and weights.shape[-1] == 1:
        weights = weights[..., 0]  # (N, 1) weights of (N,) losses, as Keras' rank fix reads them
    try:
        weights = np.broadcast_to(weights, shape)
    except ValueError:
        raise ValueError(
            f"`sample_weight` of shape {weights.shape} does not match the losses, shape {shape}."
        ) from None
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
    if not weights.sum() > 0:
        raise ValueError("`sample_weight` sums to 0: a baseline needs at least one weighted label.")
    return weights.reshape(-1)


def _one_source(s: Setting, y_true: Any, loss: str) -> None:
    if (y_true is None) == (s.get("counts") is None):
        raise ValueError(
            f"prior_baseline({loss!r}) needs exactly one of `y_true` (the labels) and `counts` "
            "(their class counts)."
        )
    if s.get("counts") is not None and s.get("sample_weight") is not None:
        raise ValueError("`sample_weight` applies to `y_true`, not to `counts`; weight the "
                         "counts yourself.")


def _counts(counts: Any) -> np.ndarray:
    values = _as_float64(counts, "counts")
    if values.ndim == 0 or values.shape[-1] < 1:
        raise ValueError(f"`counts` must be an array of class counts, got shape {values.shape}.")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        bad = values[~np.isfinite(values) | (values < 0)].flat[0]
        raise ValueError(f"`counts` must be finite and non-negative, got {plain(bad)}.")
    return values


def _power(base: float, exponent: float) -> float:
    """``base ** exponent`` with 0**0 = 1, for bases in [0, 1]."""
    return 1.0 if exponent == 0 else base**exponent


def _as_computed(value: float, sem: Semantics) -> float:
    """An option as Keras' arithmetic sees it: a Python number rounded to the dtype."""
    if isinstance(value, np.floating):
        return float(value)  # it keeps (or widens to) its own precision
    return float(sem.dtype(value))


def _probability_for(target: float, cost: Callable[[float], float], high: float) -> float | None:
    """The p in [0, high] at which a decreasing `cost(p)` equals `target` (None if none)."""
    if not cost(high) <= target <= cost(1e-300):
        return None
    if target == cost(high):
        return high
    from scipy import optimize  # (scipy.optimize takes 0.3 s to import: only when needed)

    return float(optimize.brentq(lambda p: cost(p) - target, 1e-300, high, xtol=1e-15, rtol=1e-12))


def _error_sentence(value: float, marks: Mapping[str, Any], what: str, wrong: str,
                    cost_words: str) -> str:
    bound, floor, cost = marks["error_rate_bound"], marks["floor"], marks["wrong"]
    shown = loss_value(value)
    if bound >= 1.0:
        return (f"The loss is too high to bound the error rate: a {wrong} costs at least "
                f"{number(cost)} ({cost_words}), and {shown} allows every one to be wrong.")
    return (f"At most {percent(bound)} of the {what}, whatever the model: a {wrong} costs at "
            f"least {number(cost)} ({cost_words}) and any costs at least {number(floor)}, so at "
            f"most ({shown} - {number(floor)}) / ({number(cost)} - {number(floor)}) of them.")


# --------------------------------------------------------------------------
# Binary focal cross-entropy: the bounds


class _BinaryFocalTerms:
    r"""One output's focal loss as a function of a target t and an unclipped probability p.

    ``value(t, p)`` is :math:`w(t) (t(1-p) + (1-t)p)^\gamma \mathrm{BCE}(t, p)`,
    exactly, with the backend's clipped cross-entropy (or TensorFlow's
    unclipped one from logits).
    """

    def __init__(self, s: Setting):
        sem = s.semantics
        # From logits only TensorFlow (and tf.keras) skip the clip: their
        # binary cross-entropy reads the logits Keras' sigmoid keeps.
        self.unclipped = sem.from_logits and sem.backend.caches_logits
        self.sem = semantics(sem.epsilon, sem.dtype, sem.backend, False)
        self.gamma = _as_computed(s["gamma"], sem)
        alpha = float(s["alpha"])
        self.balanced = bool(s["apply_class_balancing"])
        self.alpha = (float(sem.dtype(alpha)), float(sem.dtype(1 - alpha)))
        a = s["label_smoothing"]
        self.targets = (1.0 - a / 2, a / 2)  # labels 1 and 0 after smoothing

    def weight(self, t: Any) -> Any:
        return t * self.alpha[0] + (1 - t) * self.alpha[1] if self.balanced else 1.0 + 0 * t

    def bce(self, t: float, p: float) -> float:
        if self.unclipped:
            return weighted_cost(t, neg_log(p)) + weighted_cost(1.0 - t, neg_log(1.0 - p))
        return self.sem.binary_crossentropy(t, p)

    def value(self, t: float, p: float) -> float:
        factor = _power(t * (1.0 - p) + (1.0 - t) * p, self.gamma)
        if factor == 0:
            return 0.0  # 0 * (a cost that goes to 0 there): the limit
        return float(self.weight(t)) * factor * self.bce(t, p)

    def expected(self, ts: np.ndarray, cs: np.ndarray, p: float) -> float:
        return float(sum(c * self.value(float(t), p) for t, c in zip(ts, cs)))

    def curve(self, ts: np.ndarray, cs: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The expected loss at p = sigmoid(x), vectorised over the logits `x`."""
        from scipy import special

        p, r = special.expit(x), special.expit(-x)  # p and 1 - p, both accurate
        t = ts[:, None]
        base = t * r + (1.0 - t) * p
        factor = np.ones_like(base) if self.gamma == 0 else base**self.gamma
        if self.unclipped:
            positive, negative = np.logaddexp(0.0, -x), np.logaddexp(0.0, x)
        else:
            q = np.clip(p, self.sem.eps, self.sem.high)
            positive, negative = self.sem.backend.binary_costs(q, self.sem.eps, np.float64,
                                                               exact=True)
        bce = t * positive + (1.0 - t) * negative
        weighted = (cs * self.weight(ts))[:, None]
        return np.sum(weighted * factor * bce, axis=0)

    def extremum(self, ts: np.ndarray, cs: np.ndarray, sign: float) -> float:
        """min (sign = 1) or max (sign = -1) over p in [0, 1] of the expected loss.

        The ends p = 0 and 1 are exact values; inside, a grid of 3201 logits in
        [-40, 40] brackets the lowest local minima, each refined by a bounded
        Brent search (beyond |x| = 40, p is within 4e-18 of an end).
        """
        if self.gamma == 0 and sign > 0 and not self.unclipped:
            # w(t) BCE(t, p): convex, least at the w-weighted mean target (clipped), where
            # binary cross-entropy's own bounds evaluate it, in the dtype's arithmetic
            weights = cs * self.weight(ts)
            mean = float(weights @ ts / weights.sum()) if weights.sum() > 0 else 0.5
            return self.expected(ts, cs, float(self.sem.clip(mean)))
        ends = [sign * self.expected(ts, cs, p) for p in (0.0, 1.0)]
        grid = np.linspace(-40.0, 40.0, 3201)
        with np.errstate(all="ignore"):
            values = sign * self.curve(ts, cs, grid)
        best = min(ends + [float(np.min(values))])
        # local minima of the grid (where it stops falling), the lowest few: rounding noise
        # in flat stretches makes many, at one height
        inner = np.flatnonzero((values[1:-1] < values[:-2]) & (values[1:-1] <= values[2:])) + 1
        inner = inner[np.argsort(values[inner], kind="stable")[:4]]
        from scipy import optimize

        for i in inner:
            found = optimize.minimize_scalar(
                lambda x: float(sign * self.curve(ts, cs, np.array([x]))[0]),
                bounds=(grid[i - 1], grid[i + 1]), method="bounded", options={"xatol": 1e-11})
            best = min(best, float(found.fun))
        return sign * best


def _binary_distributions(s: Setting, y_true: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per output, the distinct targets (before smoothing) and their weights, summing to 1."""
    _one_source(s, y_true, _BFCE)
    if s.get("counts") is not None:
        counts = _counts(s.get("counts"))
        if counts.shape[-1] != 2 or counts.ndim > 2:
            raise ValueError(
                f"For {_BFCE}, `counts` holds (negatives, positives) per output: shape (2,) or "
                f"(outputs, 2), got {counts.shape}."
            )
        rows = counts.reshape(-1, 2)
        totals = rows.sum(axis=1)
        if not np.all(totals > 0):
            raise ValueError("`counts` of an output sum to 0: a baseline needs at least one label.")
        return [(np.array([0.0, 1.0]), row / total) for row, total in zip(rows, totals)]
    y = _as_float64(y_true, "y_true")
    if y.size == 0:
        raise ValueError("`y_true` is empty: a baseline needs at least one label.")
    bad = first_outside_unit(y)
    if bad is not None or np.isnan(y).any():
        raise ValueError(f"{_BFCE}: `y_true` must hold targets in [0, 1], got "
                         f"{plain(bad if bad is not None else np.nan)}.")
    # (N,) targets are N samples of one output (Keras' rank fix reads them against (N, 1))
    rows = y.reshape(-1, 1) if y.ndim <= 1 else y.reshape(-1, y.shape[-1])
    weights = _sample_weights(s.get("sample_weight"), (y.size,) if y.ndim <= 1 else y.shape[:-1])
    found = []
    for column in rows.T:
        values, inverse = np.unique(column, return_inverse=True)
        share = np.bincount(inverse.reshape(-1), weights=weights, minlength=values.size)
        found.append((values, share / share.sum()))
    return found


@register
class BinaryFocalCrossentropy(LossDefinition):
    r"""Binary focal cross-entropy, per output, averaged over the last axis.

    Write :math:`g_t(p) = w(t)\,(t(1-p) + (1-t)p)^\gamma\, \mathrm{BCE}(t, c)`
    for a target :math:`t` and a probability :math:`p`, with
    :math:`c = \mathrm{clip}(p)` inside the cross-entropy only and
    :math:`w(t) = t\alpha + (1-t)(1-\alpha)` with class balancing (else 1).

    *Best case.* For a hard label the focal factor vanishes at a perfect
    prediction (:math:`p = t`), so the best case is **exactly 0** for
    :math:`\gamma > 0`; for :math:`\gamma = 0` it is binary cross-entropy's
    :math:`w\,(-\ln(1 - \epsilon))`. With label smoothing :math:`a` the
    targets are :math:`1 - a/2` and :math:`a/2`, and the minimum of
    :math:`g_t` is *not* at :math:`p = t` (the focal factor keeps falling
    past it): it is found numerically, over a grid of logits refined by
    Brent's method (a = 0.1, :math:`\gamma = 2`: 0.00080099 at
    :math:`p = 0.994909`, where :math:`p = t` gives 0.0019928).

    *Worst case.* For label 1, :math:`g_1(p) = w_1 (1-p)^\gamma (-\ln c)`
    falls with :math:`p`: its maximum is at :math:`p = 0`,
    :math:`w_1 (-\ln \epsilon)` = 16.118095 (float32); label 0 peaks at
    :math:`p = 1`, :math:`w_0 (-\ln(1 - \mathrm{f32}(1 - \epsilon)))` =
    15.942385. With smoothing the maximum is found numerically as the
    minimum is. From logits on TensorFlow the cross-entropy is unclipped:
    ``inf``. On JAX, PyTorch and NumPy the sigmoid is clipped like a
    probability.

    *Uniform baseline.* At :math:`p = 1/2`, :math:`p_t = 1/2` whatever the
    target and the cross-entropy is :math:`\ln 2`, so the loss is
    :math:`w(t)\, 2^{-\gamma} \ln 2` = 0.1732868 for :math:`\gamma = 2`.
    With class balancing the weight depends on the label: its mean over the
    targets, :math:`\alpha \bar t + (1 - \alpha)(1 - \bar t)`, needs the
    targets (`y_true` or ``counts``).

    *Prior baseline.* The loss is not linear in the target (:math:`p_t`
    depends on it), so per output the expected loss of a constant :math:`p`
    is :math:`\sum_v f_v g_v(p)` over the distinct targets :math:`v` with
    shares :math:`f_v`. It is minimised numerically, like the best case;
    its minimiser is **not** the positive rate (f = 0.25, :math:`\gamma = 2`:
    p = 0.398824, 0.1437614, where p = f gives 0.2084327).

    The loss is never negative for targets and probabilities in [0, 1],
    which lossbounds enforces.
    """

    # PyTorch computes float64 elementwise and averages in float32 (`keras_mean_on`): the
    # plan takes float64 as it is. Measured with Keras 3.15.1.
    float64_function = {"torch": "exact"}
    backend_differences = {
        "jax": ("From logits, the sigmoid is clipped like a probability: target 0 at logit 100 "
                "costs 15.942385 (TensorFlow 100, from the logits it caches), so the worst case "
                "is finite."),
        "torch": ("From logits, the sigmoid is clipped like a probability (target 0 at logit "
                  "100 costs 15.942385, TensorFlow 100); logs are clamped at -100 and 1 - p is "
                  "taken with log1p (float16 saturates at 100 instead of inf); NaN raises (a "
                  "ValueError here, a RuntimeError in PyTorch); float64 is averaged in float32."),
        "numpy": ("From logits, the sigmoid is clipped like a probability: target 0 at logit "
                  "100 costs 15.942385 (TensorFlow 100), so the worst case is finite."),
        "tf_keras": ("Epsilon is added inside both logs: target 1 predicted 0 costs 15.424949 "
                     "(TensorFlow 16.118095) and target 0 predicted 1 costs 15.333239 "
                     "(15.942385)."),
    }

    name = _BFCE
    class_name = "BinaryFocalCrossentropy"
    aliases = ("bfce", "binary_focal", "binary_focal_loss")
    title = "binary focal cross-entropy"
    keras_options = (APPLY_CLASS_BALANCING, BINARY_ALPHA, GAMMA, FROM_LOGITS, LABEL_SMOOTHING, AXIS)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(binary_focal_crossentropy)
    per = "output"
    # head = "sigmoid" would make lossbounds.keras say a sigmoid's uniform loss is ln 2
    # (binary cross-entropy's words); the focal loss's is 0.5**gamma ln 2.
    head = None
    prior_keys = ("counts",)
    prior_name = "best constant prediction"
    prior_meaning = ("the loss of the best constant prediction (found numerically: for focal "
                     "loss it is not the positive rate)")

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return _plan_binary(y_true, y_pred, dtype, backend=backend, **options)

    # -- bounds ------------------------------------------------------------

    def best(self, s: Setting) -> float:
        terms = _BinaryFocalTerms(s)
        return min(terms.extremum(np.array([t]), np.ones(1), 1.0) for t in terms.targets)

    def worst(self, s: Setting) -> float:
        terms = _BinaryFocalTerms(s)
        if terms.unclipped:
            return math.inf
        return max(terms.extremum(np.array([t]), np.ones(1), -1.0) for t in terms.targets)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        terms = _BinaryFocalTerms(s)
        half = _power(0.5, terms.gamma) * terms.bce(0.5, 0.5)  # ln 2 for every target
        if not terms.balanced:
            return half
        if y_true is None and s.get("counts") is None:
            raise UndefinedBound(self.uniform_missing(s))
        a = s["label_smoothing"]
        means = [float(ts @ cs) * (1 - a) + a / 2 for ts, cs in _binary_distributions(s, y_true)]
        return half * float(np.mean([terms.weight(t) for t in means]))

    def prior(self, s: Setting, y_true: Any) -> float:
        terms = _BinaryFocalTerms(s)
        a = s["label_smoothing"]
        found: dict[bytes, float] = {}
        values = []
        for ts, cs in _binary_distributions(s, y_true):
            key = ts.tobytes() + cs.tobytes()
            if key not in found:
                found[key] = terms.extremum(ts * (1 - a) + a / 2, cs, 1.0)
            values.append(found[key])
        return float(np.mean(values))

    def misclassified_floor(self, s: Setting) -> float | None:
        # g_t falls with p up to p = t >= 1/2 (label 1), so the wrong side of 1/2 costs at
        # least its value at 1/2: w(t) 2**-gamma ln 2; label 0 likewise.
        terms = _BinaryFocalTerms(s)
        return min(terms.value(t, 0.5) for t in terms.targets)

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        found = []
        for backend in ("tensorflow", "tf_keras"):
            terms = _BinaryFocalTerms(s.replace(backend=backend, from_logits=False))
            positive, negative = terms.targets
            legacy = " (legacy tf.keras adds ε inside the log)" if backend == "tf_keras" else ""
            found.append(Plateau(terms.value(positive, 0.0),
                                 "label 1 predicted 0: -ln ε, clipped up to ε, times its weight"
                                 + legacy))
            found.append(Plateau(terms.value(negative, 1.0),
                                 "label 0 predicted 1: -ln(1 - fl(1 - ε)) (23 ln 2 in float32), "
                                 "times its weight" + legacy))
        return tuple(found)

    def notes(self, s: Setting) -> tuple[Note, ...]:
        sem, notes = s.semantics, []
        if sem.backend.caches_logits and not sem.from_logits:
            notes.append(Note("cached_logits", (
                "With the TensorFlow backend, when the model's last layer is a sigmoid, fit() and "
                "evaluate() compute the cross-entropy inside the focal loss from the cached "
                "logits, unclipped: training losses can then exceed this worst case without "
                "limit (label 0 at logit 1e4 costs 10000).")))
        if sem.from_logits and sem.backend.caches_logits:
            notes.append(Note("unbounded_logits", (
                "From logits, TensorFlow's cross-entropy is unclipped: a confidently wrong logit "
                "costs about its size (the focal factor is then near 1), without limit.")))
        elif sem.from_logits:
            notes.append(Note("clipped_logits", (
                f"On {sem.backend.name}, Keras applies the sigmoid and then clips like a "
                "probability: the worst case is finite even from logits.")))
        if not sem.from_logits and sem.high == 1.0 and not sem.backend.clamps_logs:
            notes.append(Note("one_minus_epsilon_is_one", (
                "In this dtype 1 - epsilon rounds to 1: label 0 predicted 1 gives inf and label 1 "
                "predicted 1 gives NaN.")))
        if s["label_smoothing"]:
            notes.append(Note("smoothing_floor", (
                "With label smoothing even the best prediction costs something; the focal factor "
                "moves it past the smoothed target, so the best case is found numerically.")))
        notes.extend(self.flags(s))
        return tuple(notes)

    def flags(self, s: Setting) -> tuple[Note, ...]:
        if "alpha" in s.given and not s["apply_class_balancing"]:
            return (Note("alpha_unused", (
                f"alpha={float(s['alpha']):g} has no effect: Keras uses alpha only with "
                "apply_class_balancing=True.")),)
        return ()

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        sem = s.semantics
        if sem.backend.caches_logits and not sem.from_logits:
            worst = self.worst(s)
            if value > worst * (1 + 1e-6):
                return (Note("above_clipped_worst", (
                    f"{loss_value(value)} is above the clipped worst case {number(worst)}: on "
                    "TensorFlow this happens when fit() or evaluate() reads the cached logits of "
                    "a sigmoid last layer, unclipped. Some outputs are confidently wrong.")),)
        return ()

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        gamma = f"0.5^{float(s['gamma']):g} ln 2"
        if s["apply_class_balancing"]:
            return f"{gamma} × the mean class weight (α = {float(s['alpha']):g} on positives)"
        return gamma

    def uniform_meaning(self, s: Setting) -> str:
        return "the loss of predicting 0.5 for every output"

    def uniform_missing(self, s: Setting) -> str:
        return ("with apply_class_balancing=True the uniform baseline of binary focal loss "
                "weighs positives by alpha and negatives by 1 - alpha, so it depends on their "
                "shares: pass y_true (or, to bounds and explain, counts=(negatives, positives))")

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        gamma = float(s["gamma"])
        lines = [
            f"Focal loss multiplies each output's cross-entropy by (1 - p_t)^{gamma:g}, the "
            "probability of the wrong label to that power: confident right answers count almost "
            "nothing, so the value is not in bits and exp(loss) is no perplexity."
        ]
        terms = _BinaryFocalTerms(s)
        if not s["label_smoothing"] and not terms.balanced and math.isfinite(value):
            p = _probability_for(value, lambda p: terms.value(1.0, p), terms.sem.high)
            if p is not None and value > 0:
                lines.append(
                    f"{loss_value(value)} is what each output costs if the model gives its true "
                    f"label probability {number(p)} on every output.")
        if marks["error_rate_bound"] is not None:
            lines.append(_error_sentence(value, marks, "outputs can be on the wrong side of 0.5",
                                         "wrong output", f"0.5^{gamma:g} ln 2 at p = 0.5"))
        return lines


# --------------------------------------------------------------------------
# Categorical focal cross-entropy: the bounds


def _phi(c: Any, gamma: float) -> Any:
    """:math:`(1 - c)^\\gamma (-\\ln c)`, the focal cost of a class at clipped probability c."""
    base = 1.0 - np.asarray(c, np.float64)
    factor = np.ones_like(base) if gamma == 0 else base**gamma
    return factor * -np.log(c)


def _phi_slope(u: np.ndarray, gamma: float) -> np.ndarray:
    """d phi / dc at c = sigmoid(u) (u a logit, so 1 - c is accurate too)."""
    from scipy import special

    c, r = special.expit(u), special.expit(-u)
    focal = np.ones_like(r) if gamma == 0 else r**gamma
    slope = -focal / c
    if gamma:
        slope -= gamma * r ** (gamma - 1) * -np.log(c)
    return slope


def _clamped_share(w: np.ndarray, lam: float, gamma: float, low: float, high: float) -> np.ndarray:
    """argmin over c in [low, high] of w phi(c) + lam c, per class (phi is convex)."""
    from scipy import special

    u_low, u_high = special.logit(low), special.logit(high)
    lo, hi = np.full(w.shape, u_low), np.full(w.shape, u_high)
    target = -lam / w
    for _ in range(64):  # bisection on the logit of c (phi' increases): 2**-64 of 33
        mid = (lo + hi) / 2
        rising = _phi_slope(mid, gamma) > target
        hi = np.where(rising, mid, hi)
        lo = np.where(rising, lo, mid)
    c = special.expit((lo + hi) / 2)
    c = np.where(w * _phi_slope(np.full(w.shape, u_low), gamma) >= -lam, low, c)
    return np.where(w * _phi_slope(np.full(w.shape, u_high), gamma) <= -lam, high, c)


def _active_minimum(w: np.ndarray, gamma: float, low: float,
                    high: float) -> tuple[float, np.ndarray, float]:
    """min sum_k w_k phi(min(p_k, high)) over p_k >= low with sum p_k = 1: value, p, multiplier.

    Convex and separable: the KKT conditions w_k phi'(p_k) = -lam give each
    p_k as a function of the multiplier lam, found by a root search on the
    sum of the shares (which falls as lam grows).
    """
    if w.size == 1:
        return float(w[0] * _phi(high, gamma)), np.ones(1), 0.0
    from scipy import optimize, special

    slope_low = -w * _phi_slope(np.full(w.shape, special.logit(low)), gamma)
    slope_high = -w * _phi_slope(np.full(w.shape, special.logit(high)), gamma)
    lo = math.log(max(float(slope_high.min()), 1e-300)) - 1.0  # every class at high: sum > 1
    hi = math.log(float(slope_low.max())) + 1.0  # every class at low: sum = K low < 1

    def excess(log_lam: float) -> float:
        return float(np.sum(_clamped_share(w, math.exp(log_lam), gamma, low, high))) - 1.0

    log_lam = optimize.brentq(excess, lo, hi, xtol=1e-13, rtol=1e-15, maxiter=500)
    share = _clamped_share(w, math.exp(log_lam), gamma, low, high)
    return float(np.sum(w * _phi(share, gamma))), share, math.exp(log_lam)


def _simplex_minimum(w: np.ndarray, gamma: float, eps: float, high: float) -> float:
    r"""min over the probability simplex of :math:`\sum_k w_k \phi(\mathrm{clip}(p_k))`.

    Keras clips p up to eps, so a class may also be left at p = 0 for the
    cost :math:`w_k\phi(\epsilon)`, freeing its mass (a p in (0, eps) is
    never better). Swapping two classes shows that those left at 0 are the
    lightest. With the others at least eps, the problem is convex
    (`_active_minimum`); its value V as a function of the mass handed out is
    convex with slope :math:`-\lambda`, so leaving the m lightest classes at
    0 costs at least the all-active optimum plus
    :math:`\sum_{k<m} d_k`, :math:`d_k = w_k(\phi(\epsilon) - \phi(p_k)) -
    \lambda p_k`. The scan below tries m = 1, 2, ... until that lower bound
    cannot beat the best value found (it only rises once every d_k left is
    non-negative).
    """
    w = np.sort(np.asarray(w, np.float64)[np.asarray(w) > 0])
    if w.size == 0:
        return 0.0
    if w.size * eps >= 1:
        raise UndefinedBound(f"{w.size} classes with epsilon={eps:g} leave no room above the "
                             "clip: the focal bound is not computed for K >= 1/epsilon.")
    best, share, lam = _active_minimum(w, gamma, eps, high)
    d = w * (_phi(eps, gamma) - _phi(share, gamma)) - lam * share
    negative = np.flatnonzero(d < 0)
    last = int(negative.max()) + 1 if negative.size else 0
    bound, all_active = 0.0, best
    for m in range(1, w.size):
        bound += float(d[m - 1])
        if m > last and all_active + bound >= best:
            break
        value = float(np.sum(w[:m]) * _phi(eps, gamma)) + _active_minimum(w[m:], gamma, eps, high)[0]
        best = min(best, value)
    return best


class _CategoricalFocalTerms:
    """Categorical focal loss's parameters, as Keras' arithmetic sees them, for the bounds."""

    def __init__(self, s: Setting):
        sem = s.semantics
        self.sem = sem
        self.gamma = _as_computed(s["gamma"], sem)
        alpha = s["alpha"]
        if isinstance(alpha, _PerClass):
            kind = _promoted(np.dtype(sem.dtype), alpha).type
            self.alpha: np.ndarray | float = np.asarray(alpha, alpha.dtype or kind).astype(np.float64)
        else:
            self.alpha = _as_computed(alpha, sem)
        self.a = float(s["label_smoothing"])
        self.k: int | None = s["n_classes"]
        if isinstance(alpha, _PerClass) and len(alpha) > 1:
            if self.k is not None and self.k != len(alpha):
                raise ValueError(f"`alpha` has {len(alpha)} per-class weights but n_classes={self.k}.")
            self.k = len(alpha)

    @property
    def per_class(self) -> bool:
        return isinstance(self.alpha, np.ndarray) and self.alpha.size > 1 and np.ptp(self.alpha) > 0

    def alphas(self, k: int) -> np.ndarray:
        return np.broadcast_to(np.asarray(self.alpha, np.float64), (k,)).astype(np.float64)

    def smoothed(self, k: int, true: int) -> np.ndarray:
        t = np.full(k, self.a / k)
        t[true] += 1.0 - self.a
        return t

    def classes(self, name: str) -> int:
        if self.k is None:
            raise UndefinedBound(
                f"{name} needs `n_classes`, the number of classes K, with label smoothing. "
                f"Example: lossbounds.bounds({name!r}, n_classes=10, label_smoothing=0.1).")
        return self.k

    def alpha_range(self) -> tuple[float, float]:
        values = np.atleast_1d(np.asarray(self.alpha, np.float64))
        return float(values.min()), float(values.max())


def _class_frequencies(s: Setting, y_true: Any, k: int | None, loss: str,
                       labels: bool) -> np.ndarray:
    """Mean target per class (weighted), from one-hot rows or integer labels, or from counts."""
    _one_source(s, y_true, loss)
    if s.get("counts") is not None:
        counts = _counts(s.get("counts"))
        if counts.ndim != 1:
            raise ValueError(f"`counts` must be 1-D (one count per class), got shape {counts.shape}.")
        if k is not None and k != counts.size:
            raise ValueError(f"`counts` has {counts.size} classes but n_classes={k}.")
        if not counts.sum() > 0:
            raise ValueError("`counts` sum to 0: a baseline needs at least one label.")
        return counts / counts.sum()
    y = _as_float64(y_true, "y_true")
    if y.size == 0:
        raise ValueError("`y_true` is empty: a baseline needs at least one label.")
    if labels:
        y = y.reshape(-1) if y.ndim else y.reshape(1)
        if np.any(~np.isfinite(y) | (y != np.trunc(y)) | (y < 0)):
            raise ValueError(f"{loss}: `y_true` must hold integer class labels >= 0.")
        k = int(y.max()) + 1 if k is None else k
        if y.max() >= k:
            raise ValueError(f"label {int(y.max())} is outside [0, {k}) for n_classes={k}.")
        counts = np.bincount(y.astype(np.int64), weights=_sample_weights(s.get("sample_weight"), y.shape),
                             minlength=k)
        return counts / counts.sum()
    if y.ndim == 0:
        raise ValueError(f"{loss}: `y_true` must be one-hot rows, got a scalar.")
    bad = first_outside_unit(y)
    if bad is not None or np.isnan(y).any():
        raise ValueError(f"{loss}: `y_true` must hold targets in [0, 1], got "
                         f"{plain(bad if bad is not None else np.nan)}.")
    if k is not None and k != y.shape[-1]:
        raise ValueError(f"y_true has {y.shape[-1]} classes but n_classes={k}.")
    weights = _sample_weights(s.get("sample_weight"), y.shape[:-1])
    rows = y.reshape(-1, y.shape[-1])
    return np.asarray(weights @ rows / weights.sum())


@register
class CategoricalFocalCrossentropy(LossDefinition):
    r"""Categorical focal cross-entropy from one-hot (or soft) targets.

    Write :math:`\phi(c) = (1 - c)^\gamma (-\ln c)`, decreasing and strictly
    convex on (0, 1) for every :math:`\gamma \ge 0` (each term of
    :math:`\phi''` is non-negative for :math:`\gamma \ge 1`; for
    :math:`0 < \gamma < 1` use :math:`-\ln c \le (1 - c)/c`). A sample with
    smoothed target :math:`t` costs :math:`\sum_k \alpha_k t_k \phi(c_k)` at
    clipped rescaled probabilities :math:`c`.

    *Best case.* Without smoothing only the true class counts, and
    :math:`\phi` falls, so the minimum is at :math:`c = 1 - \epsilon`:
    :math:`\alpha\phi(1 - \epsilon)` = 4.2351647e-22 (:math:`\alpha = 0.25,
    \gamma = 2`, float32), 0 in exact arithmetic. With smoothing it is the
    minimum of :math:`\sum_k w_k \phi(\mathrm{clip}(p_k))` over the simplex
    with :math:`w = \alpha t`: convex and separable once the classes left at
    :math:`p = 0` are chosen (they are the lightest), solved by a root search
    on the Lagrange multiplier (see `_simplex_minimum`).

    *Worst case.* :math:`\sum_k w_k \phi(c_k)` is convex on the box-simplex
    :math:`\{c_k \in [\epsilon, 1 - \epsilon], \sum_k c_k = 1\}` (inputs
    outside it are clipped onto a point that costs no more), so its maximum
    is at a vertex: every class at :math:`\epsilon` but one, which holds
    :math:`1 - (K-1)\epsilon`; that one is the lightest. Without smoothing:
    :math:`\max_k \alpha_k\, \phi(\epsilon)` = 4.0295229 for
    :math:`\alpha = 0.25, \gamma = 2`. **Logits are clipped too**: the same
    worst case.

    *Uniform baseline.* :math:`c = 1/K` for every class and smoothed targets
    sum to 1: :math:`\bar\alpha (1 - 1/K)^\gamma \ln K`, with
    :math:`\bar\alpha = \sum_k \alpha_k \bar t_k` for per-class weights (it
    then needs the class frequencies).

    *Prior baseline.* The loss is linear in the target, so a constant
    prediction costs :math:`\sum_k \alpha_k \tilde f_k \phi(c_k)` for the
    smoothed class frequencies :math:`\tilde f`: the simplex problem of the
    best case with :math:`w = \alpha\tilde f`. Its minimiser is **not**
    :math:`\tilde f` (f = (.6, .3, .1): 0.0934163 at q* = (.48889, .35312,
    .15799), where q = f gives 0.1031332).

    Never negative for targets in [0, 1], which lossbounds enforces.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "exact"}
    backend_differences = {
        "jax": ("A float16 row of probabilities summing below 2**-16 gives NaN or inf (XLA "
                "multiplies by the reciprocal of the sum, which overflows float16); TensorFlow "
                "rescales it."),
        "torch": ("float64 inputs use gamma and alpha rounded to float32 (PyTorch makes Python "
                  "numbers float32 tensors): a relative difference near 1e-8; a float32 row "
                  "whose sum is subnormal is rescaled (TensorFlow: NaN)."),
        "numpy": ("A float32 row whose sum is subnormal is rescaled (TensorFlow reads it as 0 "
                  "and gives NaN)."),
    }

    name = _CFCE
    class_name = "CategoricalFocalCrossentropy"
    aliases = ("cfce", "categorical_focal", "categorical_focal_loss")
    title = "categorical focal cross-entropy"
    keras_options = (CLASS_ALPHA, GAMMA, FROM_LOGITS, LABEL_SMOOTHING, AXIS)
    bound_options = (N_CLASSES,)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(categorical_focal_crossentropy)
    head = "softmax"
    prior_keys = ("counts",)
    prior_name = "best constant prediction"
    prior_meaning = ("the loss of the best constant probability vector (found numerically: "
                     "for focal loss it is not the class frequencies)")

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return _plan_categorical(y_true, y_pred, dtype, backend=backend, **options)

    # -- bounds ------------------------------------------------------------

    def best(self, s: Setting) -> float:
        terms, sem = _CategoricalFocalTerms(s), s.semantics
        if not terms.a:
            return terms.alpha_range()[0] * float(_phi(sem.high, terms.gamma))
        k = terms.classes(self.name)
        alphas = terms.alphas(k)
        trues = range(k) if terms.per_class else range(1)
        return min(_simplex_minimum(alphas * terms.smoothed(k, c), terms.gamma, sem.eps, sem.high)
                   for c in trues)

    def worst(self, s: Setting) -> float:
        terms, sem = _CategoricalFocalTerms(s), s.semantics
        if terms.k == 1:
            # one class is rescaled to 1 and clipped to 1 - eps, whatever it was
            return terms.alpha_range()[1] * float(_phi(sem.high, terms.gamma))
        if not terms.a:
            return terms.alpha_range()[1] * float(_phi(sem.eps, terms.gamma))
        k = terms.classes(self.name)
        alphas = terms.alphas(k)
        floor = float(_phi(sem.eps, terms.gamma))
        top = float(_phi(sem.clip(1.0 - (k - 1) * sem.eps), terms.gamma))
        values = []
        for c in range(k) if terms.per_class else range(1):
            w = alphas * terms.smoothed(k, c)
            values.append(float(np.sum(w)) * floor - float(w.min()) * (floor - top))
        return max(values)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        terms, sem = _CategoricalFocalTerms(s), s.semantics
        k = terms.k if terms.k is not None else self.classes_in_data(s)
        if k is None and y_true is not None and np.ndim(y_true) >= 1:
            k = int(np.shape(y_true)[-1])
        if k is None:
            raise UndefinedBound(self.uniform_missing(s))
        cost = float(_phi(sem.clip(1.0 / k), terms.gamma))
        if not terms.per_class:
            return terms.alpha_range()[0] * cost
        if y_true is None and s.get("counts") is None:
            raise UndefinedBound(self.uniform_missing(s))
        f = _class_frequencies(s, y_true, k, self.name, labels=False)
        f = f * (1 - terms.a) + terms.a / f.size
        return float(terms.alphas(k) @ f) * cost

    def prior(self, s: Setting, y_true: Any) -> float:
        terms, sem = _CategoricalFocalTerms(s), s.semantics
        f = _class_frequencies(s, y_true, terms.k, self.name, labels=False)
        f = f * (1 - terms.a) + terms.a / f.size
        return _simplex_minimum(terms.alphas(f.size) * f, terms.gamma, sem.eps, sem.high)

    def classes_in_data(self, s: Setting) -> int | None:
        alpha = s["alpha"]
        if isinstance(alpha, _PerClass) and len(alpha) > 1:
            return len(alpha)
        counts = s.get("counts")
        if counts is None:
            return None
        shape = np.shape(counts)
        return int(shape[-1]) if len(shape) == 1 and shape[-1] >= 1 else None

    def misclassified_floor(self, s: Setting) -> float | None:
        terms = _CategoricalFocalTerms(s)
        if (terms.k is not None and terms.k < 2) or terms.a:
            return None  # one class: nothing to misclassify; smoothing: not derived
        # argmax != label leaves the true class at most 1/2 of the rescaled row; phi falls
        return terms.alpha_range()[0] * float(_phi(0.5, terms.gamma))

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        terms = _CategoricalFocalTerms(s)
        if terms.a:
            if terms.k is None:
                return ()
            return (Plateau(self.worst(s), "every true class predicted 0 (clipped up to ε), "
                                           "with label smoothing"),)
        values = sorted(set(np.atleast_1d(np.asarray(terms.alpha, np.float64)).tolist()))
        cost = float(_phi(s.semantics.eps, terms.gamma))
        return tuple(Plateau(alpha * cost, f"α(1 - ε)^γ (-ln ε) with α = {alpha:g}: the true class "
                                           "predicted 0, clipped up to ε") for alpha in values)

    def notes(self, s: Setting) -> tuple[Note, ...]:
        notes = []
        if s.semantics.from_logits:
            notes.append(Note("clipped_logits", (
                "Unlike categorical cross-entropy, Keras' categorical focal loss softmaxes logits "
                "and then rescales and clips them like probabilities, on every backend (it never "
                "reads cached logits): the worst case is finite from logits too.")))
        if s["label_smoothing"] and s["axis"] not in (-1, None):
            notes.append(Note("smoothing_last_axis", (
                "Keras 3.15 takes K for label smoothing from the last axis of y_true, even with "
                f"axis={s['axis']}.")))
        if isinstance(s["alpha"], _PerClass) and s["axis"] != -1:
            notes.append(Note("alpha_last_axis", (
                "Per-class alpha multiplies along the last axis, whatever `axis` is.")))
        return tuple(notes)

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        terms = _CategoricalFocalTerms(s)
        k = terms.k if terms.k is not None else "K"
        alpha = "ᾱ" if terms.per_class else f"{terms.alpha_range()[0]:g}"
        return f"{alpha}·(1 - 1/{k})^{float(s['gamma']):g}·ln {k}"

    def uniform_meaning(self, s: Setting) -> str:
        k = _CategoricalFocalTerms(s).k
        return f"the loss of predicting 1/{k if k is not None else 'K'} for every class"

    def uniform_missing(self, s: Setting) -> str:
        if _CategoricalFocalTerms(s).per_class:
            return ("with per-class alpha the uniform baseline of categorical focal loss is "
                    "the alpha of the true class times (1 - 1/K)^gamma ln K, so it needs the "
                    "class frequencies: pass y_true (or, to bounds and explain, counts)")
        return (f"the uniform baseline α(1 - 1/K)^γ ln K of {self.name} needs the number of "
                "classes K: pass n_classes=K (--n-classes K), the number of units of the "
                "output layer")

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        terms = _CategoricalFocalTerms(s)
        gamma = float(s["gamma"])
        lines = [
            f"Focal loss multiplies the cross-entropy of the true class by α(1 - p)^{gamma:g}: "
            "confident right answers count almost nothing, so the value is not in bits and "
            "exp(loss) is no perplexity."
        ]
        if not terms.a and not terms.per_class and math.isfinite(value) and value > 0:
            alpha = terms.alpha_range()[0]
            p = _probability_for(value, lambda p: alpha * float(_phi(p, terms.gamma)),
                                 s.semantics.high) if alpha > 0 else None
            if p is not None:
                lines.append(f"{loss_value(value)} is what each sample costs if the model gives "
                             f"its true class probability {number(p)} every time.")
        if marks["error_rate_bound"] is not None:
            lines.append(_error_sentence(value, marks, "samples can be misclassified (argmax ≠ "
                                         "label)", "misclassified sample",
                                         f"α(1/2)^{gamma:g} ln 2 at p = 1/2"))
        return lines


# --------------------------------------------------------------------------
# Categorical generalized cross-entropy: the bounds


@register
class CategoricalGeneralizedCrossEntropy(LossDefinition):
    r"""Generalized cross-entropy :math:`(1 - p^q)/q` of the true class's probability :math:`p`.

    Nothing is clipped, so on the simplex :math:`p \in [0, 1]`:

    *Best case* 0, at :math:`p = 1`. *Worst case* :math:`1/q`, at
    :math:`p = 0` (2 for q = 0.5). Predictions above 1, which Keras accepts,
    make it negative (:math:`p = 4, q = 0.5`: -2).

    *Uniform baseline* :math:`(1 - K^{-q})/q` (0.8452995 for K = 3,
    q = 0.5).

    *Prior baseline.* A constant prediction :math:`c` costs
    :math:`(1 - \sum_k f_k c_k^q)/q` for class frequencies :math:`f`.
    :math:`c^q` is concave, so the maximum of :math:`\sum_k f_k c_k^q` on
    the simplex is where :math:`q f_k c_k^{q-1}` is the same for every
    class: :math:`c_k \propto f_k^{1/(1-q)}`. With
    :math:`S = \sum_k f_k^{1/(1-q)}` the sum is :math:`S^{1-q}`, so the
    prior baseline is :math:`(1 - S^{1-q})/q` (f = (.75, .25), q = 0.5:
    c = (.9, .1), 0.4188612; predicting f gives 0.4509619).
    """

    in_tf_keras = False  # Keras 3 added it

    # PyTorch (on tensors: see plan_on) ends in no ops.mean, so float64 stays float64.
    float64_function = {"torch": "exact"}
    backend_differences = {
        "torch": ("Keras' function raises a TypeError for numpy inputs (it works on tensors, "
                  "and the class works); lossbounds gives the tensors' value. Subnormal "
                  "probabilities count as given (TensorFlow reads them as 0: p = 1e-40 with "
                  "q = 1e-4 costs 91.68, TensorFlow 10000), and float64 inputs use q rounded "
                  "to float32 in the power."),
        "numpy": ("Subnormal probabilities count as given (TensorFlow reads them as 0: "
                  "p = 1e-40 with q = 1e-4 costs 91.68, TensorFlow 10000)."),
    }

    name = _GCE
    class_name = "CategoricalGeneralizedCrossEntropy"
    # Keras' get() accepts none of these (the loss is missing from its registry); lossbounds does.
    aliases = ("gce", "generalized_cross_entropy", "categorical_gce")
    title = "categorical generalized cross-entropy"
    keras_options = (Q,)
    bound_options = (N_CLASSES,)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(categorical_generalized_cross_entropy)
    integer_predictions = True
    head = "softmax"
    prior_keys = ("counts",)
    prior_name = "best constant prediction"
    prior_meaning = ("the loss of the best constant prediction, c_k ∝ f_k^(1/(1-q)) for class "
                     "frequencies f")

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        # On PyTorch Keras' function raises a TypeError for numpy inputs (it multiplies a
        # numpy array by a tensor); lossbounds gives what it returns for tensors.
        return _plan_generalized(y_true, y_pred, dtype, backend=backend, **options)

    def _q(self, s: Setting) -> float:
        return _as_computed(s["q"], s.semantics)

    def best(self, s: Setting) -> float:
        return 0.0

    def worst(self, s: Setting) -> float:
        return 1.0 / self._q(s)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        k = s["n_classes"] if s["n_classes"] is not None else self.classes_in_data(s)
        if k is None:
            raise UndefinedBound(self.uniform_missing(s))
        q = self._q(s)
        return -math.expm1(-q * math.log(k)) / q

    def prior(self, s: Setting, y_true: Any) -> float:
        q = self._q(s)
        f = _class_frequencies(s, y_true, s["n_classes"], self.name, labels=True)
        total = float(np.sum(f ** (1.0 / (1.0 - q))))
        return -math.expm1((1.0 - q) * math.log(total)) / q

    def classes_in_data(self, s: Setting) -> int | None:
        counts = s.get("counts")
        if counts is None:
            return None
        shape = np.shape(counts)
        return int(shape[-1]) if len(shape) == 1 and shape[-1] >= 1 else None

    def misclassified_floor(self, s: Setting) -> float | None:
        k = s["n_classes"]
        if k is not None and k < 2:
            return None
        q = self._q(s)  # argmax != label leaves the true class at most 1/2
        return -math.expm1(-q * _LN2) / q

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        return (Plateau(self.worst(s), "1/q: every true class predicted 0 (nothing is clipped)"),)

    def notes(self, s: Setting) -> tuple[Note, ...]:
        return (
            Note("not_in_keras_get", (
                "Keras' get() does not know this loss's names: compile with an instance, "
                "keras.losses.CategoricalGeneralizedCrossEntropy(q=...), not with a string.")),
            Note("unclipped", (
                "Nothing is clipped or rescaled: predictions above 1 make the loss negative, "
                "and a true class predicted 0 costs exactly 1/q.")),
        )

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if value < 0:
            return (Note("negative_gce", (
                f"A negative generalized cross-entropy ({loss_value(value)}) means some "
                "predictions of the true class exceed 1: the outputs are not probabilities. "
                "Check that the last layer is a softmax.")),)
        return ()

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        q, k = float(s["q"]), s["n_classes"] if s["n_classes"] is not None else "K"
        return f"(1 - {k}^-{q:g})/{q:g}"

    def uniform_meaning(self, s: Setting) -> str:
        k = s["n_classes"] if s["n_classes"] is not None else "K"
        return f"the loss of predicting 1/{k} for every class"

    def uniform_missing(self, s: Setting) -> str:
        return (f"the uniform baseline (1 - K^-q)/q of {self.name} needs the number of classes "
                "K: pass n_classes=K (--n-classes K), the number of units of the output layer")

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        q = self._q(s)
        lines = []
        if math.isfinite(value) and value <= 1 / q:
            mean = max(0.0, 1.0 - q * value) ** (1 / q)
            lines.append(
                f"(1 - q·L)^(1/q) = {number(mean)}: the power mean of order q = {float(s['q']):g} of "
                "the probabilities the model gives to the true class (q → 0 would make it their "
                "geometric mean, cross-entropy's; q = 1 their plain mean). The value is not in "
                "bits.")
        if marks["error_rate_bound"] is not None:
            lines.append(_error_sentence(value, marks, "samples can be misclassified (argmax ≠ "
                                         "label)", "misclassified sample",
                                         f"(1 - 2^-{float(s['q']):g})/{float(s['q']):g} at p = 1/2"))
        return lines
