r"""Regression losses: mean squared error.

Each loss here is one `LossDefinition`: its names, its Keras formula (the
reference and the fast kernel), its bounds with their derivations, and the
words `explain` uses for it (RMSE and :math:`R^2`, never bits).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..checks import EPSILON, check_epsilon, check_n_classes, require_nonempty, to_array
from ..engine import (
    Kernel,
    Plan,
    Workspace,
    broadcast_shape,
    cast,
    make_job,
    predictions,
    require_rank,
    row_mean,
    same_rank,
    targets,
)
from ..options import COUNT, MEAN, N_CLASSES, PRED_RANGE, SAMPLE_WEIGHT, VARIANCE, Y_RANGE, Y_TRUE
from ..registry import LossDefinition, Setting, UndefinedBound, register
from ..text import loss_value, number

# The per-sample functions: lossbounds exports them.
__all__ = ["mean_squared_error"]


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
_SQUARED_ERROR = Kernel(_squared_error, threads=True, elementwise=True)


def _plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
          epsilon: float = EPSILON) -> Plan:
    y_true, y_pred = same_rank(y_true, y_pred)
    require_rank(y_pred, "y_pred", "mean_squared_error")
    require_rank(y_true, "y_true", "mean_squared_error")
    broadcast_shape(y_true, y_pred, "mean_squared_error")

    def reference() -> tuple[np.ndarray, None]:
        return _mse_reference(cast(y_true, dtype), cast(y_pred, dtype)), None

    job = None
    if y_true.shape == y_pred.shape:
        job = make_job(lambda width: _SQUARED_ERROR, y_true, y_pred, dtype)
    return Plan(reference, job)


def mean_squared_error(y_true: ArrayLike, y_pred: ArrayLike, *,
                       epsilon: float = EPSILON) -> np.ndarray:
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
    prediction = predictions(y_pred, "mean_squared_error", allow_int=True)
    return _plan(targets(y_true), prediction, prediction.dtype).values()[0]


# --------------------------------------------------------------------------
# Bounds


def _variance(y_true: Any, sample_weight: Any) -> float:
    y = to_array(y_true, "y_true").astype(np.float64)
    if y.size == 0:
        require_nonempty(0)
    y = y.reshape(y.shape[0] if y.ndim else 1, -1)
    w = np.ones(y.shape[0]) if sample_weight is None else np.broadcast_to(
        to_array(sample_weight, "sample_weight").astype(np.float64).reshape(-1), (y.shape[0],))
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
        n = to_array(count, "count").astype(np.float64)
        if not np.all(np.isfinite(n)) or np.any(n < 0):
            raise ValueError(f"`count` must be finite and non-negative, got {count!r}.")
        require_nonempty(float(np.min(n)))
    if mean is not None and not np.all(np.isfinite(to_array(mean, "mean"))):
        raise ValueError(f"`mean` must be finite, got {mean!r}.")
    v = to_array(variance, "variance").astype(np.float64)
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
    prior_keys = ("variance",)
    uniform_needed = False
    prior_name = "target variance"
    prior_meaning = "the loss of predicting the mean target (the variance)"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
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
