r"""Regression losses: mean squared, absolute, percentage and squared-log errors, Huber, log-cosh.

Each loss here is one `LossDefinition`: its names, its Keras formula (the
reference, and for mean squared error a fast kernel), its bounds with their
derivations, and the words `explain` uses for it (typical errors in the
target's units, RMSE and :math:`R^2`, never bits).

References
----------
.. [1] P. J. Huber, "Robust Estimation of a Location Parameter", *Ann. Math.
   Statist.* 35(1), 73-101, 1964: the Huber loss and its location estimate
   (the best constant), between the median and the mean.
.. [2] A. de Myttenaere, B. Golden, B. Le Grand and F. Rossi, "Mean Absolute
   Percentage Error for regression models", *Neurocomputing* 192, 38-48,
   2016: minimising MAPE is weighted MAE regression, with weights
   :math:`1/|y|`; its best constant is a weighted median.
.. [3] R. A. Saleh and A. K. Md. E. Saleh, "Statistical Properties of the
   log-cosh Loss Function Used in Machine Learning", arXiv:2208.04564, 2022.
.. [4] R. Koenker and J. A. F. Machado, "Goodness of Fit and Related
   Inference Processes for Quantile Regression", *J. Amer. Statist. Assoc.*
   94(448), 1296-1310, 1999: :math:`1 - \mathrm{MAE}/\mathrm{MAE}_{\mathrm{median}}`,
   the absolute-error counterpart of :math:`R^2`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..backends import Backend
from ..checks import (
    EPSILON,
    check_blocks,
    check_n_classes,
    check_real,
    first_where,
    plain,
    require_nonempty,
    to_array,
)
from ..engine import (
    Kernel,
    Plan,
    Workspace,
    broadcast_shape,
    cast,
    make_job,
    require_rank,
    row_mean,
    row_wise_plan,
    same_rank,
)
from ..fused import Fused, elementwise_mean, tensorflow_exp_log1p, tensorflow_log
from ..options import (
    COUNT,
    MEAN,
    N_CLASSES,
    PRED_RANGE,
    SAMPLE_WEIGHT,
    VARIANCE,
    Y_RANGE,
    Y_TRUE,
    Option,
)
from ..registry import LossDefinition, Setting, UndefinedBound, register
from ..text import FLOAT32_RTOL, PRINT_ATOL, Note, loss_value, number, percent

# The per-sample functions: lossbounds exports them.
__all__ = [
    "huber",
    "log_cosh",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_error",
    "mean_squared_logarithmic_error",
]


# --------------------------------------------------------------------------
# Values


def _mse_reference(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore", invalid="ignore"):  # inf beyond float range, as in Keras
        difference = np.subtract(y_true, y_pred, dtype=y_pred.dtype)
        return _tfmath.keras_mean(np.square(difference), axis=-1)


def _squared_error(y_true: np.ndarray, y_pred: np.ndarray, ws: Workspace) -> np.ndarray:
    """MSE: (y - p)**2 averaged over the last axis. Memory-bound: one buffer, no temporaries."""
    difference = ws.scratch("difference", y_pred.shape)
    np.subtract(y_true, y_pred, out=difference)
    np.square(difference, out=difference)
    return row_mean(difference, ws)


#: MSE's three passes (subtract, square, sum) still gain ~1.3x from a second
#: thread on top of the memory traffic.
def _squared_term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
    difference = y - p
    return difference * difference


_SQUARED_ERROR = Kernel(_squared_error, threads=True, elementwise=True,
                        fused=Fused(elementwise_mean(_squared_term)), row_terms="mean")


def _plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
          epsilon: float = EPSILON) -> Plan:
    y_true, y_pred = same_rank(y_true, y_pred)
    require_rank(y_pred, "y_pred", "mean_squared_error")
    require_rank(y_true, "y_true", "mean_squared_error")
    shape = broadcast_shape(y_true, y_pred, "mean_squared_error")

    def reference() -> tuple[np.ndarray, None]:
        return _mse_reference(cast(y_true, dtype), cast(y_pred, dtype)), None

    # A broadcast target (one row for every sample) streams as a view, not a copy.
    job = make_job(lambda width: _SQUARED_ERROR, _read_only(y_true, shape),
                   _read_only(y_pred, shape), dtype,
                   reference=_mse_reference)  # float16: the reference on blocks of rows
    return Plan(reference, job)


def _read_only(array: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A read-only view of `array` at `shape`, as ``np.broadcast_to(array, shape)`` gives.

    Where no axis grows, a plain view made read-only: numpy's broadcasting
    machinery costs 20 us a call when the caches are cold.
    """
    if array.shape != shape:
        return np.broadcast_to(array, shape)
    view = array.view()
    view.flags.writeable = False
    return view


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                       epsilon: float = EPSILON, backend: str = "tensorflow") -> np.ndarray:
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
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

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
    return MeanSquaredError().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Bounds


def _variance(y_true: Any, sample_weight: Any) -> float:
    y = to_array(y_true, "y_true", exact=True).astype(np.float64)
    if y.size == 0:
        require_nonempty(0)
    y = y.reshape(y.shape[0] if y.ndim else 1, -1)
    w = np.ones(y.shape[0]) if sample_weight is None else np.broadcast_to(
        to_array(sample_weight, "sample_weight", exact=True).astype(np.float64).reshape(-1),
        (y.shape[0],))
    if np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
    require_nonempty(w.sum())
    centre = w @ y / w.sum()
    return float(np.mean(w @ (y - centre) ** 2 / w.sum()))


def _variance_from_statistics(count: Any, mean: Any, variance: Any) -> float:
    if variance is None:
        raise ValueError(
            "prior_baseline('mse') needs the targets `y_true`, or their sufficient "
            "statistics: `variance` (and optionally `count`, `mean`)."
        )
    if count is not None:
        n = to_array(count, "count", exact=True).astype(np.float64)
        if not np.all(np.isfinite(n)) or np.any(n < 0):
            raise ValueError(f"`count` must be finite and non-negative, got {count!r}.")
        require_nonempty(float(np.min(n)))
    if mean is not None and not np.all(np.isfinite(to_array(mean, "mean", exact=True))):
        raise ValueError(f"`mean` must be finite, got {mean!r}.")
    v = to_array(variance, "variance", exact=True).astype(np.float64)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"`variance` must be finite and non-negative, got {variance!r}.")
    return float(np.mean(v))


@register
class MeanSquaredError(LossDefinition):
    r"""Mean squared error: :math:`\frac1D \sum_d (y_d - \hat y_d)^2`.

    *Best case* 0, or the squared gap between `y_range` and `pred_range`
    if they do not overlap. *Worst case*
    :math:`\max((y_{hi} - p_{lo})^2, (p_{hi} - y_{lo})^2)` with both ranges,
    ``inf`` otherwise. *Uniform baseline* on K one-hot targets, predicting
    :math:`1/K` everywhere: :math:`((1 - 1/K)^2 + (K-1)/K^2)/K = (K-1)/K^2`.
    *Prior baseline*: the best constant is the mean target, since
    :math:`\mathbb{E}(y - c)^2 = \mathrm{Var}(y) + (\bar y - c)^2`; its loss
    is the (population) variance of the targets.
    """

    name = "mean_squared_error"
    class_name = "MeanSquaredError"
    aliases = ("mse",)
    title = "mean squared error"
    bound_options = (N_CLASSES, Y_RANGE, PRED_RANGE)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNT, MEAN, VARIANCE)
    function = staticmethod(mean_squared_error)
    integer_predictions = True
    backend_differences = {"tf_keras": "Integer predictions raise a TypeError: tf.keras 2.x "
                           "averages them in integers, truncating the mean (2 for squared errors 1 and 4)."}
    prior_keys = ("variance",)
    uniform_needed = False
    prior_name = "target variance"
    prior_meaning = "the loss of predicting the mean target (the variance)"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _plan(y_true, y_pred, dtype, **options)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        if backend.name == "tf_keras":
            _float_predictions(dtype, self.name, _INTEGER_MEAN)
        return _plan(y_true, y_pred, dtype, **options)

    def best(self, s: Setting) -> float:
        y_range, pred_range = s["y_range"], s["pred_range"]
        if y_range is None or pred_range is None:
            return 0.0
        gap = max(pred_range[0] - y_range[1], y_range[0] - pred_range[1], 0.0)
        return float(gap * gap)

    def worst(self, s: Setting) -> float:
        y_range, pred_range = s["y_range"], s["pred_range"]
        if y_range is None or pred_range is None:
            return math.inf
        (y_low, y_high), (p_low, p_high) = y_range, pred_range
        return float(max((y_high - p_low) ** 2, (p_high - y_low) ** 2))

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        k = s["n_classes"]
        if k is None:
            raise UndefinedBound(
                "mean_squared_error has no uniform baseline without classes: give "
                "`n_classes` for one-hot targets, or use prior_baseline('mse', "
                "y_true) with your targets (its value is their variance)."
            )
        k = check_n_classes(k, minimum=1)
        return (k - 1) / k**2

    def prior(self, s: Setting, y_true: Any) -> float:
        statistics = (s["count"], s["mean"], s["variance"])
        if y_true is not None:
            if statistics != (None, None, None):
                raise ValueError("Give either `y_true` or (`count`, `mean`, `variance`), "
                                 "not both.")
            return _variance(y_true, s["sample_weight"])
        return _variance_from_statistics(*statistics)

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        return f"(K-1)/K² for K = {s['n_classes']}"

    def uniform_meaning(self, s: Setting) -> str:
        k = s["n_classes"]
        return f"the loss of predicting 1/{k} on each of {k} one-hot outputs"

    def uniform_missing(self, s: Setting) -> str:
        return ("mean squared error has no uniform baseline: pass the target variance "
                "(variance=..., or --variance) to compare with predicting the mean (R²)")

    def measures(self, value: float, prior: float | None) -> dict[str, float | None]:
        known = not math.isnan(value)
        return {
            "rmse": math.sqrt(value) if known and value >= 0 else None,
            "r2": 1.0 - value / prior if known and prior else None,
        }

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = []
        if numbers["rmse"] is not None:
            lines.append(f"RMSE = sqrt({loss_value(value)}) = {number(numbers['rmse'])}: "
                         "predictions are off by about that much, in the units of the target.")
        if numbers["r2"] is not None:
            lines.append(f"R² = 1 - {loss_value(value)} / {number(marks['prior'])} = "
                         f"{number(numbers['r2'])}: predicting the mean scores the variance of "
                         "the targets (R² = 0), a perfect model 0 (R² = 1).")
        return lines


# --------------------------------------------------------------------------
# Mean absolute, absolute percentage and squared logarithmic error, Huber and
# log-cosh: their inputs, integer predictions and targets


_F32 = np.float32
_LN2 = math.log(2.0)


def _shapes(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Keras' rank fix ((N,) against (N, 1)), then the shapes must broadcast."""
    y_true, y_pred = same_rank(y_true, y_pred)
    require_rank(y_pred, "y_pred", loss)
    require_rank(y_true, "y_true", loss)
    broadcast_shape(y_true, y_pred, loss)
    return y_true, y_pred


def _mean(x: np.ndarray) -> np.ndarray:
    """``keras.ops.mean`` over the last axis: float16 through float32, integers give float32."""
    if x.shape[-1] == 0:  # Keras: 0/0 = NaN (numpy would warn)
        return np.full(x.shape[:-1], np.nan, _F32 if x.dtype.kind in "iub" else x.dtype)
    return _tfmath.keras_mean(x, axis=-1)


def _integer_targets(y_true: np.ndarray, dtype: np.dtype, loss: str) -> None:
    """Keras casts `y_true` to an integer `y_pred`'s dtype: a target the cast changes is garbage."""
    if y_true.dtype.kind == "b":
        return
    info = np.iinfo(dtype)
    with np.errstate(invalid="ignore"):
        kept = (y_true >= info.min) & (y_true <= info.max)
        if y_true.dtype.kind == "f":
            kept &= y_true == np.trunc(y_true)
    if not np.all(kept):
        first = y_true[~kept].flat[0]
        raise ValueError(
            f"{loss}: `y_true` holds {first!s}, which Keras would silently change (truncate "
            f"or wrap around) when it casts the targets to the integer dtype {dtype} of `y_pred`. "
            "Hint: pass floating-point predictions, `y_pred.astype('float32')`."
        )


def _float_predictions(dtype: np.dtype, loss: str, why: str) -> None:
    """Integer predictions Keras accepts but computes nonsense with: lossbounds raises."""
    if dtype.kind in "iu":
        raise TypeError(
            f"{loss}: `y_pred` has integer dtype {dtype}. {why} Hint: pass "
            "`y_pred.astype('float32')`."
        )


#: Why lossbounds refuses integer predictions to MSE and MAE on tf.keras 2.x.
_INTEGER_MEAN = ("tf.keras 2.x computes the loss in that integer dtype, so the mean over the "
                 "last axis is truncated (1 for errors 1 and 2).")


def _target_rows(y_true: Any, sample_weight: Any) -> tuple[np.ndarray, np.ndarray]:
    """Targets as (samples, outputs) in float64, and one non-negative weight per sample."""
    y = to_array(y_true, "y_true", allow_bool=True, exact=True).astype(np.float64)
    if y.size == 0:
        require_nonempty(0)
    if not np.all(np.isfinite(y)):
        raise ValueError(f"`y_true` must be finite for a baseline; it holds "
                         f"{plain(y[~np.isfinite(y)].flat[0])}.")
    rows = y.reshape(y.shape[0] if y.ndim else 1, -1)
    n = rows.shape[0]
    if sample_weight is None:
        weights = np.ones(n)
    else:
        given = to_array(sample_weight, "sample_weight", exact=True).astype(np.float64)
        if given.size not in (1, n):
            raise ValueError(
                f"`sample_weight` must hold one weight per sample ({n}) or one for all, got shape "
                f"{given.shape}. For a baseline the weights weigh whole samples."
            )
        weights = np.broadcast_to(given.reshape(-1), (n,))
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
    require_nonempty(float(weights.sum()))
    return rows, weights


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    r"""A minimiser of :math:`\sum_i w_i |v_i - c|`: the first value where the weight reaches half."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, cumulative[-1] / 2))
    return float(values[order][min(index, values.size - 1)])


def _range(s: Setting, name: str) -> tuple[float, float]:
    found = s[name]
    return (-math.inf, math.inf) if found is None else found


def _difference(a: float, b: float) -> float:
    """a - b for range ends, with inf - inf (two ranges at the same infinity) read as 0."""
    return 0.0 if math.isinf(a) and a == b else a - b


def _skill_sentence(value: float, prior: float | None, constant: str) -> str | None:
    """How much of the best constant's loss the model removes (R²'s counterpart)."""
    if not prior or math.isnan(value):
        return None
    skill = 1.0 - value / prior
    shown = f"1 - {loss_value(value)} / {number(prior)} = {number(skill)}"
    if skill < 0:
        return (f"Predicting {constant} for every input scores {number(prior)}; {shown}: the "
                "model does worse than that constant.")
    return (f"Predicting {constant} for every input scores {number(prior)}; {shown}: the model "
            f"removes {percent(skill)} of that error (1 would be perfect, 0 no better than the "
            "constant).")


class _Regression(LossDefinition):
    r"""What the five regression losses below share: their baselines and range bounds.

    *Uniform baseline.* The know-nothing prediction is the output of an
    untrained model. For numeric targets that is 0: the baseline is the loss
    of predicting 0 for every target, computed from `y_true`. With
    ``n_classes=K`` the targets are one-hot (a regression loss used on
    classes, as for mean squared error) and the know-nothing prediction is
    :math:`1/K` on each output: :math:`(\ell(1, 1/K) + (K-1)\,\ell(0, 1/K))/K`
    whatever the class. Given, `n_classes` takes precedence over `y_true`, as
    for mean squared error.

    *Prior baseline.* The best constant prediction, per output (the mean over
    outputs is averaged), with the samples weighted by `sample_weight`; each
    loss says how it is found.

    *Best and worst.* Without `y_range`/`pred_range` the best case is 0
    (predict the target) and the worst unbounded; with them the bounds are
    taken over targets and predictions in those ranges.
    """

    bound_options: ClassVar[tuple[Option, ...]] = (N_CLASSES, Y_RANGE, PRED_RANGE)
    data_options: ClassVar[tuple[Option, ...]] = (Y_TRUE, SAMPLE_WEIGHT)
    uniform_needed = False
    #: The loss of predicting 0, as a formula in the targets (`uniform_formula`).
    zero_formula: ClassVar[str]
    #: The best constant prediction, in words ("the median target").
    constant: ClassVar[str]

    def pointwise(self, s: Setting, y: Any, p: Any) -> np.ndarray:
        """The exact loss of one output, target `y` and prediction `p` (float64, broadcasting)."""
        raise NotImplementedError

    def best_constant(self, s: Setting, y: np.ndarray, w: np.ndarray) -> float:
        """The constant minimising ``sum(w * pointwise(y, c))`` for one output's targets `y`."""
        raise NotImplementedError

    def check_targets(self, rows: np.ndarray) -> None:
        """Reject targets this loss cannot use (see MSLE)."""

    def error_bound(self, s: Setting, error: float) -> float:
        """The loss of an error of size `error` (for losses of ``|p - y|`` alone)."""
        return float(self.pointwise(s, 0.0, error))

    # -- bounds ------------------------------------------------------------

    def best(self, s: Setting) -> float:
        (y_low, y_high), (p_low, p_high) = _range(s, "y_range"), _range(s, "pred_range")
        gaps = [_difference(p_low, y_high), _difference(y_low, p_high)]
        return self.error_bound(s, max([0.0, *gaps]))

    def worst(self, s: Setting) -> float:
        (y_low, y_high), (p_low, p_high) = _range(s, "y_range"), _range(s, "pred_range")
        far = max(_difference(p_high, y_low), _difference(y_high, p_low))
        return self.error_bound(s, far)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        k = s.get("n_classes")
        if k is not None:
            k = check_n_classes(k, minimum=1)
            return float((self.pointwise(s, 1.0, 1.0 / k)
                          + (k - 1) * self.pointwise(s, 0.0, 1.0 / k)) / k)
        if y_true is None:
            raise UndefinedBound(f"{self.uniform_missing(s)}.")
        rows, weights = _target_rows(y_true, s.get("sample_weight"))
        self.check_targets(rows)
        per_sample = self.pointwise(s, rows, 0.0).mean(axis=1)
        return float(weights @ per_sample / weights.sum())

    def prior(self, s: Setting, y_true: Any) -> float:
        if y_true is None:
            raise UndefinedBound(
                f"prior_baseline({self.name!r}) needs the targets: pass y_true (and optionally "
                "sample_weight). The best constant prediction depends on all of them.")
        rows, weights = _target_rows(y_true, s.get("sample_weight"))
        self.check_targets(rows)
        total = weights.sum()
        values = []
        for column in rows.T:
            c = self.best_constant(s, column, weights)
            values.append(weights @ self.pointwise(s, column, c) / total)
        return float(np.mean(values))

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        k = s.get("n_classes")
        if k is not None:
            return f"(ℓ(1, 1/K) + (K-1)·ℓ(0, 1/K))/K for K = {k}"
        return self.zero_formula

    def uniform_meaning(self, s: Setting) -> str:
        k = s.get("n_classes")
        if k is not None:
            return f"the loss of predicting 1/{k} on each of {k} one-hot outputs"
        return "the loss of predicting 0 for every target"

    def uniform_missing(self, s: Setting) -> str:
        return (f"the uniform baseline of {self.name} (predicting 0) depends on the targets: pass "
                "y_true=... (or n_classes=K for one-hot targets)")


# --------------------------------------------------------------------------
# Mean absolute error


def _mae_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
              epsilon: float = EPSILON) -> Plan:
    loss = "mean_absolute_error"
    y_true, y_pred = _shapes(y_true, y_pred, loss)
    if dtype.kind == "u":
        raise TypeError(
            f"{loss}: `y_pred` has unsigned dtype {dtype}. Keras subtracts in it, where 1 - 2 "
            f"wraps around to {np.iinfo(dtype).max}. Hint: pass `y_pred.astype('float32')`.")
    if dtype.kind == "i":
        _integer_targets(y_true, dtype, loss)

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return _mean(np.abs(np.subtract(y, p, dtype=dtype)))

    return row_wise_plan(formula, y_true, y_pred, dtype, fused=_MAE_FUSED, row_terms="mean")


def _absolute_term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
    return np.abs(y - p)


_MAE_FUSED = Fused(elementwise_mean(_absolute_term))


def mean_absolute_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                        epsilon: float = EPSILON,
                        backend: str = "tensorflow") -> np.ndarray:
    r"""Mean absolute error over the last axis, as ``keras.losses.mean_absolute_error``.

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} |y_d - \hat y_d|

    Parameters
    ----------
    y_true : array_like
        Targets. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predictions. Signed integer predictions give a float32 result, as in
        Keras.
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; mean absolute
        error uses no epsilon, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s float
        dtype (0-d for 1-D inputs).

    Raises
    ------
    TypeError
        For unsigned integer predictions: Keras subtracts in their dtype,
        where 1 - 2 wraps around to 255; lossbounds raises.
    ValueError
        For integer predictions with targets the cast to their dtype would
        change (0.7 truncated to 0): Keras computes on the truncated
        targets; lossbounds raises.

    Notes
    -----
    As in Keras 3, shapes ``(N,)`` and ``(N, 1)`` are first brought to the
    same rank; other shapes must broadcast. Nothing is clipped: in float16
    a difference beyond 65504 is ``inf``.

    See Also
    --------
    loss : the reduced value of ``keras.losses.MeanAbsoluteError``.
    huber, log_cosh : absolute error for large errors, squared error for small ones.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.mean_absolute_error([[0.0, 1.0], [1.0, 1.0]], [[0.5, 0.5], [1.0, 3.0]])
    array([0.5, 1. ], dtype=float32)
    """
    return MeanAbsoluteError().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


@register
class MeanAbsoluteError(_Regression):
    r"""Mean absolute error: :math:`\frac1D \sum_d |y_d - \hat y_d|`.

    *Best case* 0 at :math:`\hat y = y`, or with ranges the gap between
    `y_range` and `pred_range` (the closest ends, when they do not overlap).
    *Worst case* :math:`\max(p_{hi} - y_{lo}, y_{hi} - p_{lo})`, attained at
    opposite ends of the ranges (:math:`|p - y|` is convex, so its maximum
    over the rectangle is at a corner); ``inf`` without both ranges.

    *Uniform baseline.* Predicting 0 scores the mean :math:`|y|` of the
    targets. On K one-hot targets, predicting :math:`1/K` scores
    :math:`((1 - 1/K) + (K-1)/K)/K = 2(K-1)/K^2`.

    *Prior baseline.* :math:`\sum_i w_i |y_i - c|` is convex and piecewise
    linear in :math:`c`, with slope :math:`W_{<c} - W_{>c}` (the weight below
    minus the weight above): it is smallest where neither side holds more
    than half the weight, at a (weighted) median of each output's targets.
    Its loss is the mean absolute deviation from the median. The median
    interval's every point is optimal: 2.5 for targets 1, 2, 3, 10 (any
    constant in [2, 3]), where the mean 4 scores 3.
    """

    name = "mean_absolute_error"
    class_name = "MeanAbsoluteError"
    aliases = ("mae",)
    title = "mean absolute error"
    function = staticmethod(mean_absolute_error)
    integer_predictions = True
    backend_differences = {"tf_keras": "Integer predictions raise a TypeError: tf.keras 2.x "
                           "averages them in integers, truncating the mean."}
    zero_formula = "mean |y|"
    constant = "the median target"
    prior_name = "mean absolute deviation from the median"
    prior_meaning = "the loss of predicting the median target for every input"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _mae_plan(y_true, y_pred, dtype, **options)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        if backend.name == "tf_keras":
            _float_predictions(dtype, self.name, _INTEGER_MEAN)
        return _mae_plan(y_true, y_pred, dtype, **options)

    def pointwise(self, s: Setting, y: Any, p: Any) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.abs(np.subtract(p, y, dtype=np.float64))

    def best_constant(self, s: Setting, y: np.ndarray, w: np.ndarray) -> float:
        return _weighted_median(y, w)

    def uniform_formula(self, s: Setting) -> str:
        k = s.get("n_classes")
        return f"2(K-1)/K² for K = {k}" if k is not None else self.zero_formula

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = [f"Predictions are off by {loss_value(value)} on average, in the units of the "
                 "target: a mean absolute error is itself a typical error."]
        skill = _skill_sentence(value, marks["prior"], self.constant)
        return lines + ([skill] if skill else [])


# --------------------------------------------------------------------------
# Mean absolute percentage error


_PERCENT = 100.0
#: Above this MAPE (errors 100 times the targets) the targets near 0 are the usual cause.
_HUGE_MAPE = 1e4


def _mape_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
               epsilon: float = EPSILON) -> Plan:
    loss = "mean_absolute_percentage_error"
    y_true, y_pred = _shapes(y_true, y_pred, loss)
    _float_predictions(dtype, loss, (
        f"Keras would cast epsilon ({epsilon:g}) to that dtype, where it is 0: a target of 0 "
        "then gives inf or NaN instead of the usual 1e9-scale value."))
    eps = dtype.type(epsilon)  # convert_to_tensor(epsilon, dtype=y_pred.dtype)

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            ratio = np.abs((y - p) / np.maximum(np.abs(y), eps))
            return dtype.type(_PERCENT) * _mean(ratio)

    return row_wise_plan(formula, y_true, y_pred, dtype,
                         fused=_MAPE_FUSED.using(_PERCENT, float(eps)), row_terms="mean")


def _percentage_ratio(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
    size, epsilon = np.abs(y), options[1]
    return np.abs((y - p) / (epsilon if size < epsilon else size))


_MAPE_FUSED = Fused(elementwise_mean(_percentage_ratio, scaled=True))


def mean_absolute_percentage_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                                   epsilon: float = EPSILON,
                                   backend: str = "tensorflow") -> np.ndarray:
    r"""Mean absolute percentage error, as ``keras.losses.mean_absolute_percentage_error``.

    .. math::

        \ell(y, \hat y) = \frac{100}{D} \sum_{d=1}^{D}
            \frac{|y_d - \hat y_d|}{\max(|y_d|, \epsilon)}

    Parameters
    ----------
    y_true : array_like
        Targets. Cast to the dtype of `y_pred`; negative targets are divided
        by their absolute value.
    y_pred : array_like
        Predictions. Must be floating point.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``: the smallest divisor, in the dtype
        of `y_pred` (1.1920929e-07 in float16).
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses in percent with the last axis removed, in `y_pred`'s
        dtype.

    Raises
    ------
    TypeError
        For integer predictions. Keras casts epsilon to their dtype, where it
        is 0, so a target of 0 gives inf or NaN (and int32 inputs a float64
        result); lossbounds raises.

    Notes
    -----
    A target below :math:`\epsilon` in absolute value is divided by
    :math:`\epsilon`: a target of 0 predicted as :math:`\hat y` costs
    :math:`10^9 |\hat y|` percent with the default epsilon. That, not a bad
    model, is the usual reason for a huge MAPE. Predicting 0 costs exactly
    100 for every target with :math:`|y| \ge \epsilon`: a MAPE stuck at 100
    is a model that outputs 0. Keras' docstring says ``maximum(y_true,
    epsilon)``; the code uses :math:`|y|`, and so does lossbounds. In
    float16 the division overflows to ``inf`` for a difference above 0.0078
    when the target is 0.

    See Also
    --------
    loss : the reduced value of ``keras.losses.MeanAbsolutePercentageError``.
    mean_absolute_error : the same errors in the target's units.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.mean_absolute_percentage_error(
    ...     [[100.0, 200.0], [1.0, -2.0], [0.0, 1.0]], [[90.0, 210.0], [0.0, 0.0], [1e-3, 1.0]])
    array([7.5000005e+00, 1.0000000e+02, 5.0000000e+05], dtype=float32)
    """
    return MeanAbsolutePercentageError().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


def _mape_ratio(y: float, p: float, eps: float) -> float:
    """|p - y| / max(|y|, eps), with its limits where a range end is infinite."""
    if math.isinf(p):
        return math.inf
    if math.isinf(y):
        return 1.0
    return abs(p - y) / max(abs(y), eps)


@register
class MeanAbsolutePercentageError(_Regression):
    r"""Mean absolute percentage error: :math:`\frac{100}{D} \sum_d |y_d - \hat y_d| / \max(|y_d|, \epsilon)`.

    Here :math:`\epsilon` is Keras' epsilon in the compute dtype and
    :math:`r(y, p) = |p - y| / \max(|y|, \epsilon)`.

    *Best case* 0 at :math:`\hat y = y`. With ranges that do not overlap,
    the best prediction for a target is the nearest end of `pred_range`, and
    :math:`\min_y \mathrm{dist}(y, P) / \max(|y|, \epsilon)` is monotone
    between the points :math:`\pm\epsilon`, :math:`p_{lo}`, :math:`p_{hi}`
    (on :math:`y \ge \epsilon` it is :math:`a/y - 1` or :math:`1 - a/y`, on
    :math:`|y| < \epsilon` linear): its minimum is at one of them or at an
    end of `y_range` (a target at infinity gives 100).

    *Worst case.* For a target :math:`y` the farthest prediction is an end
    of `pred_range`, and :math:`\max(|p_{lo} - y|, |p_{hi} - y|) / \max(|y|,
    \epsilon)` is monotone between :math:`\pm\epsilon` and
    :math:`(p_{lo} + p_{hi})/2`, so the maximum is at one of those or an end
    of `y_range`. Bounded predictions keep MAPE finite even for unbounded
    targets: :math:`100 (|p| + \epsilon)/\epsilon \approx 10^9 |p|` at
    :math:`y = \mp\epsilon`. Unbounded predictions make it ``inf``.

    *Uniform baseline.* Predicting 0 costs :math:`100 |y| / \max(|y|,
    \epsilon)`: exactly 100 for every target with :math:`|y| \ge \epsilon`,
    less for targets closer to 0. Without `y_true` it is 100 unless
    `y_range` reaches into :math:`(-\epsilon, \epsilon)`.

    *Prior baseline.* :math:`\sum_i w_i |y_i - c| / \max(|y_i|, \epsilon)` is
    a weighted absolute error with weights :math:`a_i = w_i / \max(|y_i|,
    \epsilon)` (de Myttenaere et al., 2016), smallest at their weighted median: a constant biased
    towards the small targets (for 1, 2, 4, 100 it is 1, scoring 56, where
    the median 3 scores 93).
    """

    name = "mean_absolute_percentage_error"
    class_name = "MeanAbsolutePercentageError"
    aliases = ("mape",)
    title = "mean absolute percentage error"
    bound_options = (Y_RANGE, PRED_RANGE)
    function = staticmethod(mean_absolute_percentage_error)
    integer_predictions = True  # rejected by the plan with the reason
    zero_formula = "100·mean(|y| / max(|y|, ε))"
    constant = "the best constant (a weighted median of the targets)"
    prior_name = "MAPE of the best constant"
    prior_meaning = ("the loss of predicting the best constant, a weighted median of the targets, "
                     "for every input")

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _mape_plan(y_true, y_pred, dtype, **options)

    def pointwise(self, s: Setting, y: Any, p: Any) -> np.ndarray:
        y = np.asarray(y, np.float64)
        return _PERCENT * np.abs(np.subtract(y, p)) / np.maximum(np.abs(y), s.semantics.eps)

    def best_constant(self, s: Setting, y: np.ndarray, w: np.ndarray) -> float:
        return _weighted_median(y, w / np.maximum(np.abs(y), s.semantics.eps))

    def best(self, s: Setting) -> float:
        (y_low, y_high), (p_low, p_high) = _range(s, "y_range"), _range(s, "pred_range")
        if p_low <= y_high and y_low <= p_high:
            return 0.0
        eps = s.semantics.eps
        candidates = [y_low, y_high] + [v for v in (-eps, eps, p_low, p_high) if y_low <= v <= y_high]
        return _PERCENT * min(_mape_ratio(y, min(max(y, p_low), p_high), eps) for y in candidates)

    def worst(self, s: Setting) -> float:
        (y_low, y_high), (p_low, p_high) = _range(s, "y_range"), _range(s, "pred_range")
        if math.isinf(p_low) or math.isinf(p_high):
            return math.inf
        eps = s.semantics.eps
        middle = (p_low + p_high) / 2
        candidates = [y_low, y_high] + [v for v in (-eps, eps, middle) if y_low <= v <= y_high]
        return _PERCENT * max(_mape_ratio(y, p, eps) for y in candidates for p in (p_low, p_high))

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        if y_true is not None:
            return super().uniform(s, y_true)
        y_low, y_high = _range(s, "y_range")
        eps = s.semantics.eps
        if s["y_range"] is not None and y_low < eps and y_high > -eps:
            raise UndefinedBound(
                f"y_range {s['y_range']} reaches within epsilon = {eps:.8g} of 0, where predicting "
                "0 costs less than 100: pass the targets, y_true=..., for the exact uniform baseline")
        return _PERCENT

    def uniform_formula(self, s: Setting) -> str:
        return self.zero_formula if s.get("y_true") is not None else "100·|y - 0| / |y|"

    def uniform_meaning(self, s: Setting) -> str:
        return "the loss of predicting 0 for every target (exactly 100 when no |y| is below ε)"

    def uniform_missing(self, s: Setting) -> str:
        return ("the uniform baseline of mean_absolute_percentage_error (predicting 0) is 100 only "
                "for targets at least epsilon away from 0: pass y_true=...")

    def notes(self, s: Setting) -> tuple[Note, ...]:
        eps = s.semantics.eps
        return (Note("mape_epsilon", (
            f"Keras divides by max(|y|, ε) with ε = {eps:.8g}: a target of 0 predicted as p costs "
            f"{_PERCENT / eps:.4g}·|p| percent. MAPE is unbounded unless the predictions are "
            "bounded (pred_range), and huge values usually mean targets at or near 0.")),)

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        eps = s.semantics.eps
        if abs(value - _PERCENT) <= PRINT_ATOL + FLOAT32_RTOL * _PERCENT:
            return (Note("mape_predicts_zero", (
                "A MAPE of exactly 100 almost always means the model predicts 0 for every input: "
                "predicting 0 misses each target by all of its size (|y - 0| / |y| = 1). Typical "
                "causes: a dead output (a ReLU stuck at 0, or a final activation that cannot reach "
                "the targets), or targets far larger than the outputs (scale the targets).")),)
        if value >= _HUGE_MAPE:
            return (Note("mape_targets_near_zero", (
                f"A MAPE of {loss_value(value)} means errors {value / _PERCENT:.3g} times the size "
                "of the targets on average: almost always some targets are 0 or close to it. "
                f"Keras divides by max(|y|, ε) with ε = {eps:.3g}, so a target of 0 predicted as p "
                f"adds {_PERCENT / eps:.3g}·|p| percent. Check the smallest |y_true|; use MAE, or "
                "MAPE only on targets away from 0.")),)
        return ()

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        times = f" ({value / _PERCENT:.3g} times the target)" if value >= 2 * _PERCENT else ""
        lines = [f"A prediction misses its target by {loss_value(value)}% of the target's size on "
                 f"average{times}."]
        skill = _skill_sentence(value, marks["prior"], self.constant)
        return lines + ([skill] if skill else [])


# --------------------------------------------------------------------------
# Mean squared logarithmic error


#: Backends whose MSLE takes the maximum with epsilon in float16 for float16 inputs.
_HALF_MAXIMUM = ("jax", "tf_keras")


def _msle_epsilon(epsilon: float) -> float:
    """Keras' msle makes its epsilon a float32 tensor, whatever the inputs' dtype."""
    return float(_F32(epsilon))


def _msle_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
               epsilon: float = EPSILON, float16_inside: bool = False) -> Plan:
    """MSLE's checks and reference; `float16_inside`: float16 stays float16 (JAX, tf.keras).

    TensorFlow's ``ops.maximum`` promotes float16 against the float32
    epsilon tensor; JAX's weakly typed scalar and tf.keras' Python float
    take the float16 instead, so every step rounds to float16.
    """
    loss = "mean_squared_logarithmic_error"
    y_true, y_pred = _shapes(y_true, y_pred, loss)
    if dtype.kind in "iu":
        _integer_targets(y_true, dtype, loss)

    def report() -> None:
        negative = first_where(y_true, lambda y: y < 0)
        if negative is not None:
            raise ValueError(
                f"{loss}: `y_true` holds {y_true[negative]!s}; targets must be >= 0. "
                "Keras would floor negative targets at epsilon, so every negative target counts "
                "as 0 and the loss cannot see its error. Hint: shift the targets (y - min(y)), "
                "or use mean_squared_error.")

    if y_true.dtype != dtype:
        report()  # now: the cast to the dtype may round a tiny negative target to -0
    # maximum(x, float32 epsilon) promotes: float16 and integers compute in float32.
    compute = np.result_type(dtype, _F32) if dtype.kind == "f" else np.dtype(_F32)
    if float16_inside and dtype == np.float16:
        compute = dtype
    eps = compute.type(_F32(epsilon))

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        y, p = cast(y, compute), cast(p, compute)
        with np.errstate(over="ignore", invalid="ignore"):
            first = _tfmath.log(np.maximum(p, eps) + compute.type(1))
            second = _tfmath.log(np.maximum(y, eps) + compute.type(1))
            return _mean(np.square(first - second))

    # the class API casts to its dtype first, then to the compute dtype; each block is
    # checked as it is read
    fused = _MSLE_FUSED.using(float(eps), 1.0) if compute == dtype else None
    return row_wise_plan(check_blocks(formula, lambda y, p: bool(np.any(y < 0)), report),
                         y_true, y_pred, dtype, packet=8, fused=fused, row_terms="mean")


def _squared_log_term(dtype: np.dtype) -> Any:
    log = tensorflow_log(dtype)
    zero, nan = np.dtype(dtype).type(0), np.dtype(dtype).type(np.nan)

    def term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
        epsilon, one = options[0], options[1]
        difference = log((epsilon if p < epsilon else p) + one) \
            - log((epsilon if y < epsilon else y) + one)
        # NaN for a negative target, which `_msle_plan` rejects: numpy's kernel then raises
        return difference * difference if not y < zero else nan
    return term


_MSLE_FUSED = Fused(elementwise_mean(_squared_log_term, per_dtype=True, checked=True))


def mean_squared_logarithmic_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                                   epsilon: float = EPSILON,
                                   backend: str = "tensorflow") -> np.ndarray:
    r"""Mean squared logarithmic error, as ``keras.losses.mean_squared_logarithmic_error``.

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D}
            \bigl(\ln(1 + \max(\hat y_d, \epsilon)) - \ln(1 + \max(y_d, \epsilon))\bigr)^2

    Parameters
    ----------
    y_true : array_like
        Targets, at least 0. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predictions. Values below epsilon, negative ones included, count as
        epsilon. Integer predictions give a float32 result, as in Keras.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``, the floor of both inputs. Keras
        makes it a float32 tensor, so it is 1.0000000116860974e-07 even in
        float64.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed: float32 for float16
        and integer predictions (Keras' maximum with the float32 epsilon
        promotes them; on JAX and tf.keras 2.x float16 stays float16), else
        `y_pred`'s dtype.

    Raises
    ------
    ValueError
        For negative targets. Keras floors them at epsilon, so every
        negative target counts as 0; lossbounds raises. Also for integer
        predictions with targets the cast to their dtype would change.

    Notes
    -----
    Keras computes ``log(x + 1)``, not ``log1p``, as reproduced here. A
    prediction at or below epsilon scores as epsilon: its gradient is 0, so a
    model stuck at negative outputs cannot recover. With finite float32
    inputs the loss is at most :math:`\ln(1 + 3.4 \times 10^{38})^2 =
    7871.74`.

    See Also
    --------
    loss : the reduced value of ``keras.losses.MeanSquaredLogarithmicError``.
    mean_squared_error : the same on the targets themselves.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.mean_squared_logarithmic_error([[0.0, 1.0], [1.0, 3.0]], [[0.0, 3.0], [-5.0, 3.0]])
    array([0.2402265 , 0.24022643], dtype=float32)
    """
    return MeanSquaredLogarithmicError().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


@register
class MeanSquaredLogarithmicError(_Regression):
    r"""Mean squared logarithmic error, :math:`\frac1D \sum_d (u(\hat y_d) - u(y_d))^2`.

    Here :math:`u(x) = \ln(1 + \max(x, \epsilon))`, nondecreasing, with
    Keras' float32 :math:`\epsilon`.

    *Best case* 0 at :math:`\hat y = y`; with ranges, the squared gap
    between :math:`u(\text{y\_range})` and :math:`u(\text{pred\_range})`.
    *Worst case* :math:`\max\bigl((u(p_{hi}) - u(y_{lo}))^2, (u(y_{hi}) -
    u(p_{lo}))^2\bigr)` at opposite corners, finite even without ranges:
    finite inputs of the compute dtype are at most its largest number, so
    in float32 the loss is at most :math:`(\ln(1 + 3.4 \times 10^{38}) -
    \ln(1 + \epsilon))^2 = 7871.74` (target 0, prediction 3.4e38).

    *Uniform baseline.* Predicting 0 (or anything below :math:`\epsilon`)
    scores :math:`\overline{(u(y) - \ln(1 + \epsilon))^2}`.

    *Prior baseline.* A constant :math:`c` enters only through
    :math:`v = u(c) \ge \ln(1 + \epsilon)`, and :math:`\sum_i w_i (v -
    u(y_i))^2` is smallest at the weighted mean :math:`\bar u` (at least
    :math:`\ln(1 + \epsilon)` since every :math:`u(y_i)` is), so
    :math:`c = e^{\bar u} - 1` and the prior is the weighted variance of
    :math:`\ln(1 + \max(y, \epsilon))`: 1.25 (ln 2)² = 0.6005662 for targets
    0, 1, 3, 7 (:math:`c = 2\sqrt 2 - 1`).
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "float32"}
    backend_differences = {
        "jax": ("float16 inputs give a float16 result computed in float16 (TensorFlow computes "
                "float32): 21.28125 instead of 21.299335 for target 0, prediction 100."),
        "tf_keras": ("float16 inputs give a float16 result computed in float16 (21.28 instead "
                     "of 21.299335 for target 0, prediction 100); integer predictions raise a "
                     "TypeError."),
    }

    name = "mean_squared_logarithmic_error"
    class_name = "MeanSquaredLogarithmicError"
    aliases = ("msle",)
    title = "mean squared logarithmic error"
    function = staticmethod(mean_squared_logarithmic_error)
    integer_predictions = True
    zero_formula = "mean (ln(1 + y) - ln(1 + ε))²"
    constant = "exp(mean ln(1 + y)) - 1"
    prior_name = "variance of ln(1 + y)"
    prior_meaning = "the loss of predicting the constant exp(mean ln(1 + y)) - 1 for every input"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _msle_plan(y_true, y_pred, dtype, **options)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        if backend.name == "tf_keras":
            _float_predictions(dtype, self.name, (
                "tf.keras 2.x raises a TypeError there (its maximum with the float epsilon "
                "takes y_pred's dtype)."))
        return _msle_plan(y_true, y_pred, dtype, float16_inside=backend.name in _HALF_MAXIMUM,
                          **options)

    def log_floor(self, s: Setting, x: Any) -> np.ndarray:
        """u(x) = ln(1 + max(x, eps)), the finite inputs of the dtype at most its largest."""
        largest = float(np.finfo(s.semantics.dtype).max)
        return np.log1p(np.clip(np.asarray(x, np.float64), _msle_epsilon(s["epsilon"]), largest))

    def pointwise(self, s: Setting, y: Any, p: Any) -> np.ndarray:
        return np.square(self.log_floor(s, p) - self.log_floor(s, y))

    def check_targets(self, rows: np.ndarray) -> None:
        if np.any(rows < 0):
            raise ValueError(
                f"mean_squared_logarithmic_error: `y_true` holds {rows[rows < 0].flat[0]}; "
                "targets must be >= 0 (Keras floors negative targets at epsilon).")

    def best_constant(self, s: Setting, y: np.ndarray, w: np.ndarray) -> float:
        return float(np.expm1(w @ self.log_floor(s, y) / w.sum()))

    def best(self, s: Setting) -> float:
        (y_low, y_high), (p_low, p_high) = _range(s, "y_range"), _range(s, "pred_range")
        u = self.log_floor(s, [y_low, y_high, p_low, p_high])
        return float(max(u[2] - u[1], u[0] - u[3], 0.0) ** 2)

    def worst(self, s: Setting) -> float:
        (y_low, y_high), (p_low, p_high) = _range(s, "y_range"), _range(s, "pred_range")
        u = self.log_floor(s, [y_low, y_high, p_low, p_high])
        return float(max(u[3] - u[0], u[1] - u[2]) ** 2)

    def notes(self, s: Setting) -> tuple[Note, ...]:
        return (Note("msle_floor", (
            f"Keras floors predictions and targets at ε = {_msle_epsilon(s['epsilon']):.8g} before "
            "the log: every prediction at or below it (negative ones included) scores the same "
            "and gets no gradient. The worst case is finite only because the inputs are finite "
            "numbers of the dtype.")),)

    def measures(self, value: float, prior: float | None) -> dict[str, float | None]:
        known = not math.isnan(value) and value >= 0
        return {"rmse": math.sqrt(value) if known else None}

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = []
        root = numbers.get("rmse")
        if root is not None and math.isfinite(root):
            factor = math.exp(min(root, 700.0))
            lines.append(
                f"RMSLE = sqrt({loss_value(value)}) = {number(root)}: predictions are off by a "
                f"factor of about e^{number(root)} = {number(factor)} in 1 + target (for targets "
                f"well above 1, about ±{percent(factor - 1)} of the target).")
        prior = marks["prior"]
        if prior:
            lines.append(
                f"R² on the log scale = 1 - {loss_value(value)} / {number(prior)} = "
                f"{number(1 - value / prior)}: predicting the constant exp(mean ln(1 + y)) - 1 "
                "scores the variance of ln(1 + y) (0 on this scale), a perfect model 1.")
        return lines


# --------------------------------------------------------------------------
# Huber


def _check_delta(value: Any) -> float:
    delta = check_real(value, "delta")
    if not delta > 0:
        raise ValueError(
            f"`delta` must be positive, got {value!r}. Keras 3.15.1 accepts it silently, but "
            "delta = 0 makes every loss 0 and a negative delta makes the loss negative (later "
            "Keras releases, like torch's HuberLoss, raise too). 1.0 is Keras' default.")
    return delta


DELTA = Option("delta", 1.0, _check_delta,
               "Huber's delta: errors up to it cost half their square, larger ones grow "
               "linearly (default 1)", flag="--delta", parse=float, metavar="D")


def _rounded_delta(delta: float, dtype: Any, loss: str = "huber") -> float:
    """delta in the compute dtype, as Keras converts it; one that rounds to 0 is rejected."""
    with np.errstate(over="ignore"):
        rounded = float(np.dtype(dtype).type(delta))
    if rounded == 0:
        raise ValueError(
            f"{loss}: `delta`={delta!r} rounds to 0 in {np.dtype(dtype)}, which would make every "
            "loss 0. Hint: a larger delta, or a wider dtype.")
    return rounded


def _huber_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
                delta: float = 1.0, epsilon: float = EPSILON) -> Plan:
    loss = "huber"
    y_true, y_pred = _shapes(y_true, y_pred, loss)
    _float_predictions(dtype, loss, (
        "Keras would cast the 0.5 of the quadratic branch to the integer 0, so every error "
        "within `delta` would cost 0."))
    d = dtype.type(_rounded_delta(delta, dtype))
    half = dtype.type(0.5)

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            error = np.subtract(p, y, dtype=dtype)
            size = np.abs(error)
            values = np.where(size <= d, half * np.square(error), d * size - half * np.square(d))
            return _mean(values)

    with np.errstate(over="ignore"):  # a delta beyond the dtype's range, as Keras rounds it
        linear_offset = float(half * np.square(d))
    return row_wise_plan(formula, y_true, y_pred, dtype,
                         fused=_HUBER_FUSED.using(float(d), float(half), linear_offset),
                         row_terms="mean")


def _huber_term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
    delta, half, linear_offset = options[0], options[1], options[2]
    error = p - y
    size = np.abs(error)
    if size <= delta:
        return half * (error * error)
    return delta * size - linear_offset


_HUBER_FUSED = Fused(elementwise_mean(_huber_term))


def huber(y_true: ArrayLike, y_pred: ArrayLike, *, delta: float = 1.0,
          epsilon: float = EPSILON,
          backend: str = "tensorflow") -> np.ndarray:
    r"""Huber loss, averaged over the last axis, as ``keras.losses.huber``.

    For the error :math:`e = \hat y - y`,

    .. math::

        h_\delta(e) = \begin{cases} \tfrac12 e^2 & |e| \le \delta \\
            \delta |e| - \tfrac12 \delta^2 & |e| > \delta \end{cases}, \qquad
        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} h_\delta(\hat y_d - y_d) .

    Parameters
    ----------
    y_true : array_like
        Targets. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predictions. Must be floating point.
    delta : float > 0, default 1.0
        Where the loss turns from quadratic to linear, converted to
        `y_pred`'s dtype (in float16, 1e5 becomes ``inf``: the loss is then
        half the squared error everywhere).
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; the Huber loss
        uses no epsilon, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        For ``delta <= 0``, or a delta that rounds to 0 in the dtype. Keras
        3.15.1 accepts them: delta = 0 gives 0 for every error, a negative
        delta a negative loss; lossbounds raises.
    TypeError
        For a delta that is not a real number (Keras broadcasts an array
        delta over the last axis) and for integer predictions (Keras casts the
        0.5 to the integer 0, so errors within delta cost 0).

    Notes
    -----
    An error of exactly delta takes the quadratic branch; both give
    :math:`\delta^2/2` there. Both branches are computed, as in Keras.
    ``keras.losses.Huber(delta=d).get_config()`` in Keras 3.15.1 drops
    `delta`: a model saved and loaded again computes the loss with delta = 1.
    The class's ``name`` is ``"huber_loss"``, which ``keras.losses.get``
    does not accept; lossbounds does.

    References
    ----------
    .. [1] P. J. Huber, "Robust Estimation of a Location Parameter", *Ann.
       Math. Statist.* 35(1), 73-101, 1964.

    See Also
    --------
    loss : the reduced value of ``keras.losses.Huber``.
    log_cosh : a smooth loss of the same shape.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.huber([[0.0, 1.0], [0.0, 0.0]], [[0.6, 0.4], [0.4, 0.6]])
    array([0.18      , 0.13000001], dtype=float32)
    >>> lossbounds.huber([[0.0], [0.0]], [[3.0], [0.5]], delta=2.5)
    array([4.375, 0.125], dtype=float32)
    """
    return Huber().per_sample(y_true, y_pred, delta=delta, epsilon=epsilon, backend=backend)


def _huber_location(y: np.ndarray, w: np.ndarray, delta: float) -> float:
    r"""The exact minimiser of :math:`\sum_i w_i h_\delta(y_i - c)`.

    Its derivative is :math:`-g(c)` with :math:`g(c) = \sum_i w_i\,
    \mathrm{clip}(y_i - c, -\delta, \delta)`, non-increasing and linear
    between the breakpoints :math:`y_i \pm \delta`: bisect on them for the
    two around the root, then solve the line.
    """
    if math.isinf(delta):
        return float(w @ y / w.sum())  # half the squared error: the mean
    points = np.sort(np.concatenate([y - delta, y + delta]))

    def g(c: float) -> float:
        return float(w @ np.clip(y - c, -delta, delta))

    low, high = 0, points.size - 1  # g(low) = delta W > 0 >= g(high) = -delta W
    while high - low > 1:
        middle = (low + high) // 2
        if g(points[middle]) > 0:
            low = middle
        else:
            high = middle
    a, b = float(points[low]), float(points[high])
    ga, gb = g(a), g(b)
    return a if ga == gb else a + ga * (b - a) / (ga - gb)


@register
class Huber(_Regression):
    r"""Huber loss :math:`h_\delta(\hat y - y)`, averaged over the last axis (Huber, 1964).

    :math:`h_\delta` is even, 0 at 0 and increasing in :math:`|e|`, with
    delta as Keras rounds it to the compute dtype.

    *Best case* 0 at :math:`\hat y = y`; with ranges, :math:`h_\delta` of the
    gap between them. *Worst case* :math:`h_\delta(\max(p_{hi} - y_{lo},
    y_{hi} - p_{lo}))` at opposite corners, ``inf`` without both ranges.
    Never negative (lossbounds rejects :math:`\delta \le 0`).

    *Uniform baseline.* Predicting 0 scores :math:`\overline{h_\delta(y)}`
    (2.375 for targets 0, 0, 0, 10).

    *Prior baseline.* :math:`F(c) = \sum_i w_i h_\delta(y_i - c)` is convex
    with derivative :math:`-\sum_i w_i\,\mathrm{clip}(y_i - c, -\delta,
    \delta)`, piecewise linear with breakpoints :math:`y_i \pm \delta`. Its
    root, found exactly between two breakpoints, is Huber's M-estimate of
    location, between the median and the mean (1/3 for 0, 0, 0, 10 with
    delta 1, scoring 7/3).
    """

    name = "huber"
    class_name = "Huber"
    aliases = ("huber_loss",)
    title = "Huber loss"
    keras_options = (DELTA,)
    function = staticmethod(huber)
    integer_predictions = True  # rejected by the plan with the reason (but on tf.keras)
    # tf.keras 2.x computes Huber in float32 whatever the inputs
    float64_function = {"tf_keras": "float32"}
    backend_differences = {
        "tf_keras": ("Computed and returned in float32 whatever the inputs (float16 and "
                     "float64 too), so integer predictions work; Keras 3 returns the input's "
                     "float dtype."),
    }
    zero_formula = "mean huber(y)"
    constant = "the best constant (the Huber estimate of location)"
    prior_name = "Huber loss of the best constant"
    prior_meaning = ("the loss of predicting the best constant (the Huber estimate of location, "
                     "between the median and the mean) for every input")

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _huber_plan(y_true, y_pred, dtype, **options)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        if backend.name == "tf_keras":
            # tf.keras 2.x casts y_true, y_pred and delta to floatx: float32 whatever the
            # inputs, so integer predictions are fine there.
            return _huber_plan(y_true, y_pred, np.dtype(_F32), **options)
        return _huber_plan(y_true, y_pred, dtype, **options)

    def delta(self, s: Setting) -> float:
        dtype = _F32 if s.semantics.backend.name == "tf_keras" else s.semantics.dtype
        return _rounded_delta(s["delta"], dtype)

    def pointwise(self, s: Setting, y: Any, p: Any) -> np.ndarray:
        delta = self.delta(s)
        with np.errstate(invalid="ignore"):
            size = np.abs(np.subtract(p, y, dtype=np.float64))
            return np.where(size <= delta, size * size / 2, delta * (size - delta / 2))

    def best_constant(self, s: Setting, y: np.ndarray, w: np.ndarray) -> float:
        return _huber_location(y, w, self.delta(s))

    def notes(self, s: Setting) -> tuple[Note, ...]:
        if s["delta"] == 1.0:
            return ()
        return (Note("huber_delta_not_saved", (
            f"Keras 3.15.1's Huber.get_config() drops delta: a model compiled with "
            f"Huber(delta={s['delta']:g}) and saved reports the loss for delta = 1 once "
            "loaded again.")),)

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        delta = self.delta(s)
        lines = []
        if value >= 0 and math.isfinite(value):
            if value <= delta * delta / 2:
                error = math.sqrt(2 * value)
                where = (f"within delta = {delta:g}, where the loss is half the squared error "
                         f"(an RMSE of sqrt(2 × {loss_value(value)}))")
            else:
                error = value / delta + delta / 2
                where = (f"beyond delta = {delta:g}, where the loss grows like delta × the "
                         "absolute error")
            lines.append(f"An error of {number(error)} on every output, in the units of the "
                         f"target, gives this loss: {where}.")
        skill = _skill_sentence(value, marks["prior"], self.constant)
        return lines + ([skill] if skill else [])


# --------------------------------------------------------------------------
# Log-cosh

_PACKET = 8


def _eigen_exp(x: np.ndarray) -> np.ndarray:
    """Eigen's vectorised float32 exp: a 6th-order polynomial of the remainder, times 2**m."""
    p6, p5, p4, p3, p2 = _tfmath.EIGEN_EXP_POLYNOMIAL
    with np.errstate(all="ignore"):
        clamped = np.minimum(x, _F32(88.723))
        m = np.floor(clamped * _F32(1.44269504088896341) + _F32(0.5))
        r = m * _F32(-0.693359375) + clamped
        r = m * _F32(2.12194440e-4) + r
        r2 = r * r
        even = r2 * (r2 * p6 + p4) + p2
        odd = r2 * p5 + p3
        y = r2 * (r * odd + even) + (r + _F32(1))
        out = np.ldexp(y, m.astype(np.int32)).astype(_F32)
        out[np.abs(out) < np.finfo(_F32).tiny] = 0  # TensorFlow flushes subnormals
        out[x < _F32(-104)] = 0
        return np.where(np.isnan(x), x, np.maximum(out, x))


def _eigen_log1p(x: np.ndarray) -> np.ndarray:
    """Eigen's generic float32 log1p: x log(1 + x) / ((1 + x) - 1), Kahan's formula."""
    with np.errstate(all="ignore"):
        u = x + _F32(1)
        log = _tfmath.log(u, scalar_from=u.size)  # packet path throughout
        plain_x = (u == _F32(1)) | (u == log)
        return np.where(plain_x, x, x * (log / (u - _F32(1))))


def _softplus_threshold(dtype: np.dtype) -> Any:
    """``log(epsilon) + 2`` in `dtype`, with Eigen's epsilon (2**-13 for float16, not 2**-10)."""
    kind = np.dtype(dtype).type
    machine = 2.0**-13 if dtype == np.float16 else float(np.finfo(dtype).eps)
    return kind(np.log(kind(machine))) + kind(2)


def _softplus(z: np.ndarray) -> np.ndarray:
    """``tf.math.softplus``: z above -threshold, exp(z) below threshold, else log1p(exp(z)).

    The threshold is ``log(epsilon) + 2`` in the dtype, with Eigen's epsilon
    (2**-13 for float16, not 2**-10). float16 and float32 use Eigen's packet
    exp and log1p in float32 (the last ``size % 8`` elements libm's);
    float64 numpy's, within a few ulp of Eigen's.
    """
    threshold = _softplus_threshold(z.dtype)
    flat = np.ascontiguousarray(z).reshape(-1)
    with np.errstate(all="ignore"):
        if z.dtype == np.float64:
            exp = np.exp(flat)
            log1p = np.log1p(exp)
        else:
            packed = flat.size - flat.size % _PACKET
            exp = np.empty_like(flat)
            exp[:packed] = _eigen_exp(flat[:packed].astype(_F32)).astype(z.dtype)
            exp[packed:] = np.exp(flat[packed:].astype(np.float64)).astype(_F32).astype(z.dtype)
            log1p = np.empty_like(flat)
            log1p[:packed] = _eigen_log1p(exp[:packed].astype(_F32)).astype(z.dtype)
            log1p[packed:] = (np.log1p(exp[packed:].astype(np.float64)).astype(_F32)
                              .astype(z.dtype))
        out = np.where(flat > -threshold, flat, np.where(flat < threshold, exp, log1p))
    return out.reshape(z.shape)


def _log_cosh_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
                   epsilon: float = EPSILON) -> Plan:
    y_true, y_pred = _shapes(y_true, y_pred, "log_cosh")
    # ops.log(2.0) is computed in float32, then converted: f32(ln 2) even in float64.
    log2 = dtype.type(_F32(_LN2))

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            x = np.subtract(p, y, dtype=dtype)
            return _mean((x + _softplus(x * dtype.type(-2.0))) - log2)

    fused = _LOG_COSH_FUSED.using(-2.0, float(_softplus_threshold(dtype)), float(log2))
    return row_wise_plan(formula, y_true, y_pred, dtype, packet=8, fused=fused, row_terms="mean")


def _log_cosh_steps(dtype: np.dtype) -> tuple[Any, Any]:
    exp, log1p = tensorflow_exp_log1p(dtype)

    def exponential(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
        return exp((p - y) * options[0])

    def term(y: Any, p: Any, exponential: Any, options: tuple[Any, ...]) -> Any:
        minus_two, threshold, log2 = options[0], options[1], options[2]
        x = p - y
        z = x * minus_two
        softplus = z if z > -threshold else (exponential if z < threshold else log1p(exponential))
        return (x + softplus) - log2
    return exponential, term


_LOG_COSH_FUSED = Fused(elementwise_mean(_log_cosh_steps, staged=True))


def log_cosh(y_true: ArrayLike, y_pred: ArrayLike, *, epsilon: float = EPSILON,
             backend: str = "tensorflow") -> np.ndarray:
    r"""Logarithm of the hyperbolic cosine of the error, as ``keras.losses.log_cosh``.

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D} \ln \cosh(\hat y_d - y_d),

    computed as Keras does, :math:`x + \mathrm{softplus}(-2x) - \ln 2` for
    :math:`x = \hat y - y`: about :math:`x^2/2` for small errors and
    :math:`|x| - \ln 2` for large ones.

    Parameters
    ----------
    y_true : array_like
        Targets. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predictions. Must be floating point (Keras raises for integers too).
    epsilon : float in (0, 0.5), default 1e-7
        Accepted so that every loss takes the same options; log-cosh uses
        no epsilon, so it has no effect.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s dtype.

    Notes
    -----
    Keras' formula subtracts numbers near :math:`\ln 2` for small errors: in
    float32 an error below about 3e-4 gives noise of :math:`\pm 5.96 \times
    10^{-8}`, so a perfect prediction can score -5.96e-08. lossbounds
    reproduces TensorFlow's softplus (Eigen's exp and log1p) and matches it
    bit for bit in float16 and float32 on x86; the exactness contract is
    2e-7 absolute. In float64 :math:`\ln 2` is float32's (Keras computes
    ``log(2.0)`` in float32), so a perfect prediction scores -1.9e-09. An
    error of ``+inf`` gives ``inf`` and ``-inf`` gives NaN, as in Keras.

    References
    ----------
    .. [1] R. A. Saleh and A. K. Md. E. Saleh, "Statistical Properties of the
       log-cosh Loss Function Used in Machine Learning", arXiv:2208.04564,
       2022.

    See Also
    --------
    loss : the reduced value of ``keras.losses.LogCosh``.
    huber : a loss of the same shape with a sharp corner at delta.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.log_cosh([[0.0, 1.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]])
    array([0.2168904, 0.       ], dtype=float32)
    """
    return LogCosh().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


def _log_cosh(x: np.ndarray) -> np.ndarray:
    """ln cosh(x) without overflow: |x| + ln(1 + e^(-2|x|)) - ln 2."""
    size = np.abs(x)
    return size + np.log1p(np.exp(-2 * size)) - _LN2


def _log_cosh_location(y: np.ndarray, w: np.ndarray) -> float:
    r"""The minimiser of :math:`\sum_i w_i \ln\cosh(y_i - c)`: the root of :math:`\sum_i w_i \tanh(y_i - c)`.

    The sum decreases strictly in :math:`c` from :math:`\ge 0` at the least
    target to :math:`\le 0` at the largest; Brent's method finds its root to
    1e-13 of the targets' spread.
    """
    from scipy.optimize import brentq  # scipy.optimize takes a moment to import: only when needed

    used = w > 0
    low, high = float(np.min(y[used])), float(np.max(y[used]))
    if low == high:
        return low

    def g(c: float) -> float:
        return float(w @ np.tanh(y - c))

    if g(low) <= 0:
        return low
    if g(high) >= 0:
        return high
    tolerance = 1e-13 * max(1.0, high - low)
    return float(brentq(g, low, high, xtol=tolerance, rtol=4 * np.finfo(float).eps, maxiter=500))


@register
class LogCosh(_Regression):
    r"""Log-cosh loss :math:`\ln\cosh(\hat y - y)`, averaged over the last axis (Saleh and Saleh, 2022).

    :math:`\ln\cosh` is even, strictly convex, 0 at 0, increasing in
    :math:`|x|`, between :math:`|x| - \ln 2` and :math:`\min(x^2/2, |x|)`.

    *Best case* 0 at :math:`\hat y = y` (Keras' float32 value there is noise
    in :math:`\{-5.96 \times 10^{-8}, 0, 5.96 \times 10^{-8}\}`, see
    `log_cosh`); with ranges, :math:`\ln\cosh` of the gap between them.
    *Worst case* :math:`\ln\cosh(\max(p_{hi} - y_{lo}, y_{hi} - p_{lo}))` at
    opposite corners, ``inf`` without both ranges.

    *Uniform baseline.* Predicting 0 scores :math:`\overline{\ln\cosh y}`
    (2.3267131 for targets 0, 0, 0, 10).

    *Prior baseline.* :math:`F(c) = \sum_i w_i \ln\cosh(y_i - c)` is strictly
    convex with derivative :math:`-\sum_i w_i \tanh(y_i - c)`, which falls
    from :math:`\ge 0` at the least target to :math:`\le 0` at the largest:
    its root (Brent's method, to 1e-13 of the spread) is the best constant,
    between the median and the mean (1.185564 for 0, 0, 0, 10, 1, 2, 5,
    scoring 1.9008056).
    """

    name = "log_cosh"
    class_name = "LogCosh"
    title = "log-cosh loss"
    function = staticmethod(log_cosh)
    backend_differences = {
        name: ("Integer predictions raise a TypeError, as on TensorFlow; Keras here casts "
               "ln 2 to the integer dtype (0), so log cosh(2) comes out 2.018 instead of 1.325.")
        for name in ("jax", "torch", "numpy")
    }
    zero_formula = "mean log cosh(y)"
    constant = "the best constant (between the median and the mean)"
    prior_name = "log-cosh loss of the best constant"
    prior_meaning = ("the loss of predicting the best constant (between the median and the mean) "
                     "for every input")

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _log_cosh_plan(y_true, y_pred, dtype, **options)

    def pointwise(self, s: Setting, y: Any, p: Any) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return _log_cosh(np.subtract(p, y, dtype=np.float64))

    def best_constant(self, s: Setting, y: np.ndarray, w: np.ndarray) -> float:
        return _log_cosh_location(y, w)

    def notes(self, s: Setting) -> tuple[Note, ...]:
        return (Note("log_cosh_noise", (
            "Keras computes log cosh(x) as x + softplus(-2x) - ln 2, which cancels for small "
            "errors: in float32 errors below about 3e-4 give noise of ±5.96e-08, and a perfect "
            "prediction can score -5.96e-08.")),)

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if -1e-6 <= value < 0:
            return (Note("log_cosh_rounding", (
                f"{loss_value(value)} is below 0 only by Keras' float32 rounding (x + softplus(-2x) "
                "- ln 2 cancels for errors near 0): read it as 0, a perfect fit.")),)
        return ()

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = []
        if math.isfinite(value):
            # the error x with ln cosh x = value: acosh(e^value), ~ value + ln 2 when large
            error = (value + _LN2 if value > 20 else math.acosh(math.exp(value))) if value > 0 else 0.0
            lines.append(
                f"An error of {number(error)} on every output, in the units of the target, gives "
                "this loss: log cosh(x) is about x²/2 for small errors and |x| - ln 2 for large "
                "ones.")
        skill = _skill_sentence(value, marks["prior"], self.constant)
        return lines + ([skill] if skill else [])
