r"""Probabilistic regression losses: Poisson and Kullback-Leibler divergence.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.

Both take logarithms of the predictions and both can be negative: Poisson
because Keras leaves out the :math:`\ln y!` term of the likelihood, the KL
divergence when the rows do not sum to 1.

References
----------
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd
   ed., Wiley, 2006. Theorem 2.6.3 (Gibbs' inequality), Theorem 2.7.1 (the
   log sum inequality) and Theorem 2.7.2 (convexity of relative entropy).
.. [2] P. McCullagh and J. A. Nelder, *Generalized Linear Models*, 2nd ed.,
   Chapman and Hall, 1989, Section 6.2 (the Poisson log-likelihood and its
   deviance).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..checks import (
    EPSILON,
    check_axis,
    check_blocks,
    check_n_classes,
    first_where,
    plain,
    require_nonempty,
    to_array,
)
from ..engine import Plan, broadcast_shape, cast, row_wise_plan, same_rank
from ..fused import Fused, elementwise_mean, tensorflow_log
from ..options import COUNTS, MEAN, N_CLASSES, PRED_RANGE, SAMPLE_WEIGHT, Y_RANGE, Y_TRUE
from ..registry import LossDefinition, Plateau, Setting, UndefinedBound, register
from ..text import PRINT_ATOL, Note, loss_value, number

# The per-sample functions: lossbounds exports them.
__all__ = ["kl_divergence", "poisson"]


# --------------------------------------------------------------------------
# Shared checks (also used by the similarity losses)


def reduced_shape(y_true: np.ndarray, y_pred: np.ndarray, loss: str) -> tuple[int, ...]:
    """The broadcast shape of the inputs of a loss that reduces their last axis.

    Keras' Poisson and KL divergence *functions* do not bring ``(N,)`` and
    ``(N, 1)`` to the same rank (their classes do), so such a pair broadcasts
    to ``(N, N)``: every target against every prediction. That raises here,
    as does a pair that would be reduced to a scalar.
    """
    shape = broadcast_shape(y_true, y_pred, loss)
    fixed_true, fixed_pred = same_rank(y_true, y_pred)
    try:
        fixed = np.broadcast_shapes(fixed_true.shape, fixed_pred.shape)
    except ValueError:
        fixed = None
    if fixed != shape:
        raise ValueError(
            f"{loss}: `y_true` of shape {y_true.shape} and `y_pred` of shape {y_pred.shape} "
            f"broadcast to {shape}: every target against every prediction. Keras' {loss} "
            "function computes that silently (its class first drops the trailing axis of "
            "length 1). Hint: give both the same shape, e.g. y_pred.reshape(y_true.shape)."
        )
    if not shape:
        raise ValueError(
            f"{loss}: `y_true` and `y_pred` are scalars, but the loss reduces their last "
            "axis, so they need at least one dimension. Hint: wrap them, e.g. [value]."
        )
    return shape


def data_array(value: Any, argument: str) -> np.ndarray:
    """A baseline's data as float64: checked as an input, Python numbers kept exact, finite."""
    array = to_array(value, argument, allow_bool=True)
    if not isinstance(value, (np.ndarray, np.generic)) and not hasattr(value, "__array__"):
        array = np.asarray(value, dtype=np.float64)  # not narrowed to float32: no Keras here
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"`{argument}` must be finite for a baseline, got "
                         f"{plain(array[~np.isfinite(array)][0])}.")
    return array


def target_rows(y_true: Any, sample_weight: Any, *, axis: int = -1, column: bool = False
                ) -> tuple[np.ndarray, np.ndarray]:
    """Targets as ``(M, D)`` rows along `axis`, and each row's weight (the weights sum to 1).

    With `column`, 1-D targets are N samples of one output (regression
    targets); otherwise they are one sample (a distribution, a vector).
    `sample_weight` is broadcast against the per-sample losses as Keras does
    (after its rank fix): a scalar, ``(N,)``, ``(N, 1)``, ...
    """
    y = data_array(y_true, "y_true")
    axis = check_axis(axis, max(y.ndim, 1))
    if y.ndim <= 1:
        y, axis = (y.reshape(-1, 1) if column else y.reshape(1, -1)), 1
    if y.size == 0:
        require_nonempty(0)
    y = np.moveaxis(y, axis, -1)
    loss_shape = y.shape[:-1]
    rows = y.reshape(-1, y.shape[-1])
    if sample_weight is None:
        return rows, np.full(rows.shape[0], 1.0 / rows.shape[0])
    weights = data_array(sample_weight, "sample_weight")
    if np.any(weights < 0):
        raise ValueError("`sample_weight` must be non-negative for a baseline.")
    losses, weights = same_rank(np.zeros(loss_shape), weights)  # Keras' rank fix, on stand-ins
    try:
        weights = np.broadcast_to(weights, losses.shape).reshape(-1)
    except ValueError:
        raise ValueError(f"`sample_weight` of shape {np.shape(sample_weight)} does not match "
                         f"the {rows.shape[0]} per-sample losses of shape {loss_shape}.") from None
    largest = float(weights.max())
    require_nonempty(largest)
    weights = weights / largest  # so that their sum cannot overflow
    return rows, weights / weights.sum()


def _xlogx(x: np.ndarray) -> np.ndarray:
    """x ln x with 0 ln 0 = 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def _range(s: Setting, name: str, loss: str, default: tuple[float, float]) -> tuple[float, float]:
    given = s[name]
    if given is None:
        return default
    if given[0] < 0:
        raise ValueError(
            f"`{name}` must not go below 0 for {loss}, got {given}: its targets are counts or "
            "rates and its predictions rates (Keras gives NaN for predictions below "
            "-epsilon).")
    return given


# --------------------------------------------------------------------------
# Poisson


def _poisson_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
                  epsilon: float = EPSILON) -> Plan:
    reduced_shape(y_true, y_pred, "poisson")
    eps = dtype.type(epsilon)  # Keras' epsilon tensor is in the prediction dtype

    def report() -> None:
        where = first_where(y_true, lambda y: cast(y, dtype) < 0)
        if where is not None:
            raise ValueError(
                f"poisson: `y_true` holds {plain(y_true[where])} at index {where}, but Poisson "
                "targets are counts or rates and must be >= 0. Keras computes a value that falls "
                "without limit as the prediction nears -epsilon; lossbounds raises. Hint: do not "
                "standardise count targets for a Poisson loss.")
        where = first_where(y_pred, lambda p: cast(p, dtype) + eps <= 0)
        if where is not None:
            raise ValueError(
                f"poisson: `y_pred` holds {plain(cast(y_pred[where], dtype))} at index {where}, "
                f"but predictions are rates and must be >= 0: Keras takes log(y_pred + "
                f"{epsilon:g}) and returns NaN (or inf) there. Hint: end the model with an "
                "activation whose outputs are non-negative, such as 'softplus', 'exponential' "
                "or 'relu'.")

    def invalid(y: np.ndarray, p: np.ndarray) -> bool:
        return bool(np.any(y < 0)) or bool(np.any(p + eps <= 0))

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # NaN and inf as Keras gives them
            return np.asarray(_tfmath.keras_mean(p - y * _tfmath.log(p + eps), axis=-1))

    # Rows stream, each block checked as it is read; blocks of whole 8-element packets keep
    # TensorFlow's log exact.
    return row_wise_plan(check_blocks(formula, invalid, report), y_true, y_pred, dtype,
                         packet=8, fused=_POISSON_FUSED.using(float(eps)), row_terms="mean")


def _poisson_term(dtype: np.dtype) -> Any:
    log = tensorflow_log(dtype)
    zero, nan = np.dtype(dtype).type(0), np.dtype(dtype).type(np.nan)

    def term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
        # NaN where `_poisson_plan` rejects the inputs: numpy's kernel then raises
        value = p - y * log(p + options[0])
        return value if (y >= zero and p + options[0] > zero) else nan
    return term


_POISSON_FUSED = Fused(elementwise_mean(_poisson_term, per_dtype=True, checked=True))


def poisson(y_true: ArrayLike, y_pred: ArrayLike, *, epsilon: float = EPSILON,
            backend: str = "tensorflow") -> np.ndarray:
    r"""Poisson loss over the last axis, as ``keras.losses.poisson``.

    .. math::

        \ell(y, \hat y) = \frac{1}{D} \sum_{d=1}^{D}
            \left[ \hat y_d - y_d \ln(\hat y_d + \epsilon) \right]

    This is the negative log-likelihood of counts :math:`y_d` under Poisson
    distributions of rates :math:`\hat y_d`, *without* its
    :math:`\ln y_d!` term [2]_. So it is not 0 for a perfect prediction: at
    :math:`\hat y = y` it is :math:`y - y \ln y`, negative for every count
    above :math:`e` (-13.025851 for y = 10).

    Parameters
    ----------
    y_true : array_like
        Counts or rates, at least 0. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predicted rates, at least 0. Must be floating point (Keras on
        TensorFlow rejects integers).
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``, added inside the logarithm (in the
        dtype of `y_pred`).
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with the last axis removed, in `y_pred`'s dtype
        (0-d for 1-D inputs).

    Raises
    ------
    ValueError
        For a negative target or a prediction at or below
        :math:`-\epsilon`: Keras returns a value unbounded below for the first
        and NaN (or inf) for the second; lossbounds raises. Also for
        ``(N,)`` against ``(N, 1)``: Keras' function broadcasts them to an
        ``(N, N)`` loss of every target against every prediction (its class
        does not); lossbounds raises.

    Notes
    -----
    Nothing is clipped: a prediction of 0 costs :math:`-y \ln \epsilon`,
    16.118095 y in float32 (15.945 y in float16, where :math:`\epsilon`
    rounds to :math:`2^{-23}`); an infinite prediction gives NaN for
    y > 0. Predictions in :math:`(-\epsilon, 0)` still give a finite value,
    as in Keras.

    References
    ----------
    .. [2] P. McCullagh and J. A. Nelder, *Generalized Linear Models*, 2nd
       ed., Chapman and Hall, 1989, Section 6.2.

    See Also
    --------
    loss : the reduced value of ``keras.losses.Poisson``.
    kl_divergence : the other probabilistic loss.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.poisson([[0.0, 1.0, 10.0], [2.0, 2.0, 2.0]], [[0.5, 1.0, 10.0], [0.0, 1.0, 2.0]])
    array([-3.8419507, 11.2832985], dtype=float32)
    """
    return Poisson().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


def _poisson_cost(y: float, p: float, eps: float) -> float:
    """:math:`p - y \\ln(p + \\epsilon)` in exact arithmetic, 0 ln 0 = 0."""
    return p if y == 0 else p - y * math.log(p + eps)


def _poisson_floor(y: float, low: float, high: float, eps: float) -> float:
    """The least cost of target `y` over predictions in [low, high]: at the clamped y - eps."""
    p = min(max(y - eps, low), high)
    return _poisson_cost(y, p, eps)


def _poisson_means(s: Setting, y_true: Any) -> np.ndarray:
    """The (weighted) mean target of each output, from `y_true` or the `mean` option."""
    mean = s.get("mean")
    if (y_true is None) == (mean is None):
        raise ValueError(
            "The Poisson baselines need exactly one of `y_true` (the targets) and `mean` (the "
            "mean target, overall or per output).")
    if mean is not None:
        if s.get("sample_weight") is not None:
            raise ValueError("`sample_weight` applies to `y_true`, not to `mean`.")
        means = np.atleast_1d(data_array(mean, "mean")).reshape(-1)
        if means.size == 0:
            require_nonempty(0)
        argument = "mean"
    else:
        rows, weights = target_rows(y_true, s.get("sample_weight"), column=True)
        means, argument = weights @ rows, "y_true"
        if np.any(rows < 0):
            raise ValueError(f"`y_true` must be >= 0 for poisson (counts or rates), got "
                             f"{plain(rows[rows < 0][0])}.")
    if np.any(means < 0):
        raise ValueError(f"`{argument}` must be >= 0 for poisson (counts or rates), got "
                         f"{plain(means[means < 0][0])}.")
    return means


@register
class Poisson(LossDefinition):
    r"""Poisson loss: :math:`\frac1D \sum_d [\hat y_d - y_d \ln(\hat y_d + \epsilon)]`.

    Write :math:`g(y, p) = p - y \ln(p + \epsilon)`, targets in
    `y_range` :math:`[a, b]` (default :math:`[0, \infty)`) and predictions in
    `pred_range` :math:`[c, d]` (default :math:`[0, \infty)`); a sample's
    loss is a mean of :math:`g` over its outputs, so its bounds are those of
    :math:`g`.

    *Best case.* :math:`g` is convex in :math:`p`, smallest at
    :math:`p = y - \epsilon` (clamped to :math:`[c, d]`): without ranges
    :math:`y - \epsilon - y \ln y`, which is 0 at y = 0, 1 - ε at y = 1,
    negative above :math:`e` and falls without limit as y grows. As a
    function of :math:`y` this least cost is a minimum of functions linear in
    :math:`y`, hence concave, so over :math:`[a, b]` it is least at an end:
    the best case is the smaller of the two, and :math:`-\infty` without an
    upper target bound (unless predictions stay at or below
    :math:`1 - \epsilon`, where every log is negative).

    *Worst case.* :math:`g` is convex in :math:`p` and linear in :math:`y`,
    so its maximum over the rectangle is at a corner:
    :math:`\max_{y \in \{a,b\}, p \in \{c,d\}} g(y, p)`, which is
    :math:`-b \ln \epsilon` = 16.118 b (y = b predicted 0) in most cases;
    ``inf`` without both ranges.

    *Uniform baseline.* Predicting 0 for every target costs
    :math:`-\bar y \ln \epsilon = 16.118\,\bar y`: what a model whose output
    is stuck at 0 (a dead ReLU) scores.

    *Prior baseline.* For a constant :math:`c_d` per output, the mean cost
    is :math:`c_d - \bar y_d \ln(c_d + \epsilon)`, linear in the targets and
    convex in :math:`c_d`: the best constant is the mean target
    :math:`c_d = \bar y_d - \epsilon` (clamped to `pred_range`), costing
    :math:`\bar y_d - \epsilon - \bar y_d \ln \bar y_d`, negative when
    :math:`\bar y_d > e`.

    *Negative values* are normal: see `poisson`.
    """

    name = "poisson"
    class_name = "Poisson"
    title = "Poisson loss"
    bound_options = (Y_RANGE, PRED_RANGE)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, MEAN)
    function = staticmethod(poisson)
    backend_differences = {
        name: ("Integer predictions raise a TypeError, as on TensorFlow; Keras here casts its "
               "epsilon to the integer dtype (0) and returns NaN or -inf for a prediction of 0.")
        for name in ("jax", "torch", "numpy")
    }
    prior_keys = ("mean",)
    uniform_needed = False  # the prior (predicting the mean) is the baseline to beat
    prior_name = "mean target"
    prior_meaning = "the loss of predicting the mean target for every input"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _poisson_plan(y_true, y_pred, dtype, **options)

    def ranges(self, s: Setting) -> tuple[float, float, float, float]:
        a, b = _range(s, "y_range", self.name, (0.0, math.inf))
        c, d = _range(s, "pred_range", self.name, (0.0, math.inf))
        return a, b, c, d

    def best(self, s: Setting) -> float:
        a, b, c, d = self.ranges(s)
        eps = s.semantics.eps
        if math.isinf(b):
            # Beyond every target: the least cost's slope in y is -ln(p + eps) at the best p.
            if math.isinf(d) or d + eps > 1:
                return -math.inf
            limit = math.inf if d + eps < 1 else d
            return min(_poisson_floor(a, c, d, eps), limit)
        return min(_poisson_floor(a, c, d, eps), _poisson_floor(b, c, d, eps))

    def worst(self, s: Setting) -> float:
        a, b, c, d = self.ranges(s)
        eps = s.semantics.eps
        if math.isinf(d) or (math.isinf(b) and c + eps < 1):
            return math.inf
        ys = (a,) if math.isinf(b) else (a, b)  # with c + eps >= 1, more y only lowers g
        return max(_poisson_cost(y, p, eps) for y in ys for p in (c, d))

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        if y_true is None and s.get("mean") is None:
            raise UndefinedBound(self.uniform_missing(s))
        means = _poisson_means(s, y_true)
        return float(np.mean(means)) * -math.log(s.semantics.eps)

    def prior(self, s: Setting, y_true: Any) -> float:
        means = _poisson_means(s, y_true)
        _, _, c, d = self.ranges(s)
        eps = s.semantics.eps
        return float(np.mean([_poisson_floor(float(f), c, d, eps) for f in means]))

    def notes(self, s: Setting) -> tuple[Note, ...]:
        notes = [Note("no_log_factorial", (
            "Keras' Poisson loss leaves out the ln(y!) term of the Poisson likelihood: a "
            "perfect prediction scores y - y ln y, not 0, and that is negative for counts "
            "above e = 2.718."))]
        if math.isinf(self.best(s)):
            notes.append(Note("unbounded_below", (
                "Without an upper bound on the targets the best case is -inf (y - y ln y falls "
                "without limit as y grows): pass y_range=(0, largest count) for a finite one.")))
        return tuple(notes)

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        return f"{number(-math.log(s.semantics.eps))} × mean(y)"  # -ln(eps) per unit of target

    def uniform_meaning(self, s: Setting) -> str:
        return "the loss of predicting 0 for every target (an output stuck at 0, a dead ReLU)"

    def uniform_missing(self, s: Setting) -> str:
        return ("the Poisson baselines need the targets: pass y_true, or (to bounds, explain "
                "and prior_baseline) their mean, mean=..., overall or per output")

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if value >= 0:
            return ()
        return (Note("negative_poisson", (
            f"a negative Poisson loss ({loss_value(value)}) is normal: Keras leaves out the "
            "ln(y!) term of the Poisson likelihood, so even a perfect prediction scores "
            "y - y ln y, below 0 for every count above e = 2.718 (-13.03 for y = 10). Compare "
            "the value with the prior baseline (predicting the mean target), not with 0."),
            severity="info"),)

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = ["Keras' Poisson loss is the mean of y_pred - y_true ln(y_pred + ε): the Poisson "
                 "negative log-likelihood without its ln(y!) term, so its value depends on the "
                 "counts themselves and a perfect prediction scores y - y ln y, not 0."]
        prior = marks["prior"]
        if prior is not None:
            gap = value - prior
            where = "below" if gap < 0 else "above"
            lines.append(f"Predicting the mean target for every input scores {number(prior)}: "
                         f"{loss_value(value)} is {number(abs(gap))} {where} it.")
        return lines


# --------------------------------------------------------------------------
# Kullback-Leibler divergence


def _kld_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *,
              epsilon: float = EPSILON) -> Plan:
    reduced_shape(y_true, y_pred, "kl_divergence")
    low, high = dtype.type(epsilon), dtype.type(1)

    def formula(y: np.ndarray, p: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):  # y/p overflows in float16, as in Keras
            # tf.clip_by_value is minimum-then-maximum: NaN stays NaN.
            y = np.maximum(np.minimum(y, high), low)
            p = np.maximum(np.minimum(p, high), low)
            return np.asarray(_tfmath.reduce_sum(y * _tfmath.log(y / p), axis=-1))

    # Rows stream; blocks of whole 8-element packets keep TensorFlow's log exact.
    return row_wise_plan(formula, y_true, y_pred, dtype, packet=8,
                         fused=_KLD_FUSED.using(float(low), float(high)), row_terms="sum")


def _kld_term(dtype: np.dtype) -> Any:
    log = tensorflow_log(dtype)
    def term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
        low, high = options[0], options[1]
        # tf.clip_by_value is minimum-then-maximum: NaN stays NaN
        y = high if y > high else y
        y = low if y < low else y
        p = high if p > high else p
        p = low if p < low else p
        return y * log(y / p)
    return term


_KLD_FUSED = Fused(elementwise_mean(_kld_term, per_dtype=True, average=False))


def kl_divergence(y_true: ArrayLike, y_pred: ArrayLike, *, epsilon: float = EPSILON,
                  backend: str = "tensorflow") -> np.ndarray:
    r"""Kullback-Leibler divergence over the last axis, as ``keras.losses.kl_divergence``.

    Both inputs are clipped to :math:`[\epsilon, 1]`, never renormalised:

    .. math::

        \ell(y, \hat y) = \sum_{k=1}^{K} y'_k \ln \frac{y'_k}{p'_k}, \qquad
        y' = \mathrm{clip}(y, \epsilon, 1), \quad p' = \mathrm{clip}(\hat y, \epsilon, 1).

    For rows that sum to 1 it is the relative entropy of the target
    distribution to the predicted one [1]_: 0 when they are equal, and the
    categorical cross-entropy minus the entropy of the target.

    Parameters
    ----------
    y_true : array_like
        Target distributions (rows that sum to 1), the classes along the last
        axis. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predicted distributions. Must be floating point.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``, the lower clip bound.
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
        For ``(N,)`` against ``(N, 1)``: Keras' function broadcasts them to an
        ``(N, N)`` array before summing (its class does not); lossbounds
        raises.

    Notes
    -----
    Keras' docstring says "clipped to the [0, 1] range"; the range is
    :math:`[\epsilon, 1]`. So targets above 1 count as 1, and negative
    targets count as :math:`\epsilon` (a negative target does not make the
    loss negative). Rows that do not sum to 1 are not rescaled: a prediction
    of 1 for every class gives :math:`\sum_k y'_k \ln y'_k \le 0`, and the
    loss goes down to :math:`-K/e`. A target predicted at 0 costs
    :math:`-y \ln \epsilon` (16.118 y). In float16 :math:`y/p` overflows
    above 65504, so a confidently wrong prediction gives ``inf``, as in
    Keras.

    References
    ----------
    .. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd
       ed., Wiley, 2006, Section 2.3 (relative entropy).

    See Also
    --------
    loss : the reduced value of ``keras.losses.KLDivergence``.
    categorical_crossentropy : the same for one-hot targets, plus their entropy.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.kl_divergence([[0.0, 1.0, 0.0], [0.2, 0.3, 0.5]], [[0.1, 0.8, 0.1], [0.2, 0.3, 0.5]])
    array([0.22314078, 0.        ], dtype=float32)
    >>> lossbounds.kl_divergence([[0.5, 0.5]], [[1.0, 1.0]])  # not a distribution: below 0
    array([-0.6931472], dtype=float32)
    """
    return KLDivergence().per_sample(y_true, y_pred, epsilon=epsilon, backend=backend)


def _kld_best(k: int | None, eps: float) -> float:
    """The least KL divergence Keras gives rows that sum to 1 (see `KLDivergence`)."""
    if k == 1:
        return 0.0
    floor = -1.0 / math.e  # the infimum over K, at (K - 1) eps = 1 - 1/e
    if k is None or (k - 1) * eps >= 1.0 - 1.0 / math.e:
        return floor
    rest = (k - 1) * eps
    return (1.0 - rest) * math.log1p(-rest)


def _kld_worst(k: int | None, eps: float) -> float:
    """The largest KL divergence Keras gives rows that sum to 1 (see `KLDivergence`)."""
    if k == 1:
        return 0.0
    ceiling = -math.log(eps)
    if k is None or k * eps >= 1.0:
        return ceiling
    return (1.0 - eps) * ceiling - eps * math.log1p(-(k - 1) * eps)


def _constant_cost(f: np.ndarray, eps: float) -> float:
    r"""Least :math:`-\sum_k f_k \ln \max(q_k, \epsilon)` over distributions q (see `KLDivergence`)."""
    order = np.sort(f)[::-1]
    total = np.cumsum(order)  # F_m: the mass of the m most frequent classes
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (-np.cumsum(_xlogx(order)) + _xlogx(total)
                - math.log(eps) * (total[-1] - total))
        valid = order >= eps * total  # each kept class's q = f/F_m is not clipped
    return float(cost[valid].min())


@register
class KLDivergence(LossDefinition):
    r"""Kullback-Leibler divergence of clipped rows, :math:`\sum_k y'_k \ln(y'_k / p'_k)`.

    Bounds are over *valid* inputs, rows that sum to 1; write
    :math:`L = -\ln\epsilon` and :math:`m = K - 1`. Clipping adds up to
    :math:`m\epsilon` of mass to a row, which moves both ends by about
    :math:`m\epsilon`.

    *Best case.* 0 at :math:`\hat y = y`, and slightly below: for a
    prediction :math:`e_j`, :math:`p' = (1, \epsilon, \dots)`; among targets,
    the log sum inequality [1]_ makes the least loss
    :math:`Y \ln Y + \sum_{k \ne j} y'_k \ln(y'_k/\epsilon)` with
    :math:`Y = y'_j \ge 1 - m\epsilon`, reached at
    :math:`y = (1 - m\epsilon, \epsilon, \dots, \epsilon)`:
    :math:`(1 - m\epsilon)\ln(1 - m\epsilon) \approx -m\epsilon` (-1.0e-7
    for K = 2). It decreases with K down to :math:`-1/e`, reached when
    :math:`m\epsilon = 1 - 1/e` (K of about 6 million), the value without
    `n_classes`.

    *Worst case.* For a target :math:`e_i`, put every other class of the
    prediction at :math:`\epsilon` (their cost is then :math:`L` at most) and
    the rest on a class :math:`j \ne i`:
    :math:`(1-\epsilon) L - \epsilon \ln(1 - m\epsilon)` = 16.1180935 in
    float32. Each class's cost is convex in the target beyond
    :math:`\epsilon`, so one-hot targets are worst. For
    :math:`K \ge 1/\epsilon` every class can sit at :math:`\epsilon`: the
    worst is :math:`L`, the value without `n_classes`. K = 1 gives 0. In
    float16 :math:`y'/p'` overflows: ``inf``.

    *Uniform baseline.* :math:`q = 1/K` costs :math:`\ln K - H(y')` per
    sample: :math:`\ln K` for one-hot targets, less their clipped entropy
    :math:`-m\epsilon\ln\epsilon` (1.0986092 for K = 3).

    *Prior baseline.* The loss is linear in the target, so a constant
    prediction :math:`q` costs :math:`\overline{\sum_k y'_k \ln y'_k} -
    \sum_k f_k \ln \max(q_k, \epsilon)` with :math:`f = \overline{y'}`. By
    Gibbs' inequality [1]_ the best distribution is :math:`q = f / \sum f`
    on the classes it keeps above :math:`\epsilon`, 0 on the others (which
    then cost :math:`f_k L`), and keeping a class pays exactly when its
    :math:`f_k` is above about :math:`e \epsilon` times the kept mass; the
    best set is the m most frequent classes for some m, and all K are
    scanned. Without clipping this is :math:`H(\bar y) - \overline{H(y)}`.
    An unnormalised constant does better: 1 for every class gives
    :math:`-\overline{H(y')} \le 0`.

    References
    ----------
    .. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd
       ed., Wiley, 2006: Theorem 2.6.3 (Gibbs' inequality) and Theorem 2.7.1
       (the log sum inequality).
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "exact"}
    backend_differences = {
        **{name: ("Integer predictions raise a TypeError, as on TensorFlow; Keras here clips "
                  "integer targets and predictions and returns -ln(epsilon) = 16.118 for a "
                  "correct one-hot prediction.") for name in ("jax", "torch")},
        "numpy": ("Integer predictions raise a TypeError, as on TensorFlow; Keras here returns "
                  "float64 NaN."),
    }

    name = "kl_divergence"
    class_name = "KLDivergence"
    aliases = ("kld", "kullback_leibler_divergence")  # Keras' alias, and Keras 2's name
    title = "Kullback-Leibler divergence"
    bound_options = (N_CLASSES,)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(kl_divergence)
    prior_keys = ("counts",)
    prior_name = "mean target distribution"
    prior_meaning = ("the loss of predicting the average target distribution (the class "
                     "frequencies) for every input")
    head = "softmax"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _kld_plan(y_true, y_pred, dtype, **options)

    def best(self, s: Setting) -> float:
        return _kld_best(s["n_classes"], s.semantics.eps)

    def worst(self, s: Setting) -> float:
        if s.semantics.dtype == np.float16 and s["n_classes"] != 1:
            return math.inf  # y'/p' = 1/eps overflows float16
        return _kld_worst(s["n_classes"], s.semantics.eps)

    def clipped_targets(self, s: Setting, y_true: Any) -> tuple[float, np.ndarray]:
        """The mean of :math:`\\sum_k y'_k \\ln y'_k` and the mean clipped target `f`."""
        eps, k, counts = s.semantics.eps, s["n_classes"], s.get("counts")
        if y_true is not None and counts is not None:
            raise ValueError("Give either `y_true` (the targets) or `counts` (the class counts "
                             "of one-hot targets), not both.")
        if counts is not None:
            if s.get("sample_weight") is not None:
                raise ValueError("`sample_weight` applies to `y_true`, not to `counts`; weight "
                                 "the counts yourself.")
            counts = data_array(counts, "counts")
            if counts.ndim != 1 or np.any(counts < 0):
                raise ValueError(f"`counts` must be a 1-D array of non-negative class counts, "
                                 f"got {counts!r}.")
            require_nonempty(float(counts.sum()))
            scaled = counts / counts.max()  # so that the sum cannot overflow
            rows, weights = np.eye(counts.size), scaled / scaled.sum()  # one-hot targets
        else:
            rows, weights = target_rows(y_true, s.get("sample_weight"))
        if k is not None and k != rows.shape[1]:
            raise ValueError(f"The targets have {rows.shape[1]} classes but n_classes={k}.")
        clipped = np.clip(rows, eps, 1.0)
        return float(weights @ _xlogx(clipped).sum(axis=1)), weights @ clipped

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        eps, k = s.semantics.eps, s["n_classes"]
        if y_true is not None or s.get("counts") is not None:
            own, f = self.clipped_targets(s, y_true)
            k = f.size
        elif k is not None:
            # One-hot targets: y' = (1, eps, ..., eps).
            k = check_n_classes(k, minimum=1)
            own, f = (k - 1) * eps * math.log(eps), np.array([1.0] + [eps] * (k - 1))
        else:
            raise UndefinedBound(self.uniform_missing(s))
        return own - float(f.sum()) * math.log(max(1.0 / k, eps))

    def prior(self, s: Setting, y_true: Any) -> float:
        if y_true is None and s.get("counts") is None:
            raise ValueError("prior_baseline('kl_divergence') needs the targets `y_true`, or the "
                             "class counts `counts` of one-hot targets.")
        own, f = self.clipped_targets(s, y_true)
        return own + _constant_cost(f, s.semantics.eps)

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        # Only with n_classes: at Keras' defaults every loss's plateaus are what a log without a
        # loss name is checked against, and this one, 1.6e-6 below cross-entropy's -ln eps,
        # would then name this loss for cross-entropy logs.
        k = s["n_classes"]
        if k is None or k == 1 or s.semantics.dtype == np.float16:
            return ()
        return (Plateau(_kld_worst(k, s.semantics.eps), (
            "(1 - ε)(-ln ε): KL divergence of a one-hot target whose class is predicted at "
            "probability 0, clipped up to ε")),)

    def classes_in_data(self, s: Setting) -> int | None:
        # K is the length of the class counts, or the last axis of the targets.
        counts, y_true = s.get("counts"), s.get("y_true")
        shape = np.shape(counts if counts is not None else y_true)
        return int(shape[-1]) if len(shape) >= 1 and shape[-1] >= 1 else None

    def notes(self, s: Setting) -> tuple[Note, ...]:
        k, eps = s["n_classes"], s.semantics.eps
        ceiling = -math.log(eps)
        reach = f"{k * ceiling:.7g}" if k else f"K × {ceiling:.7g}"
        floor = f"{-k / math.e:.7g}" if k else "-K/e"
        notes = [Note("unnormalised_rows", (
            "Rows that do not sum to 1, which Keras accepts (it clips both inputs to [ε, 1] "
            f"and never rescales them), reach {reach} (targets of 1 everywhere predicted 0) and "
            f"go below 0, down to {floor} (predictions of 1 everywhere): a negative KL "
            "divergence means unnormalised inputs."))]
        if k is None:
            notes.append(Note("best_needs_n_classes", (
                "Clipping lets a distribution score slightly below 0, about -(K-1)ε with K "
                "classes; without n_classes the best case is the limit over every K, -1/e, "
                "reached only with millions of classes. Pass n_classes for the exact one.")))
        if s.semantics.dtype == np.float16:
            notes.append(Note("float16_overflow", (
                "In float16 y/p overflows above 65504: a class predicted below about y/65504 "
                "gives inf, as a confidently wrong prediction does.")))
        return tuple(notes)

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        # From the targets when given (soft ones lower it), else for one-hot targets.
        k = s["n_classes"] or "K"
        return f"ln {k} - H(y)" if s.get("y_true") is not None else f"ln {k}"

    def uniform_meaning(self, s: Setting) -> str:
        k = s["n_classes"] or "K"
        if s.get("y_true") is not None:
            return (f"the loss of predicting 1/{k} for every class (ln {k} less the mean "
                    "entropy of the targets)")
        return f"the loss of predicting 1/{k} for every class on one-hot targets"

    def uniform_missing(self, s: Setting) -> str:
        return ("the uniform baseline of kl_divergence needs the number of classes K: pass "
                "n_classes=K (one-hot targets), or the targets y_true")

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        floor = min(self.best(s), 0.0) if s["n_classes"] is not None else 0.0
        if value >= floor - PRINT_ATOL:
            return ()
        rare = ("" if s["n_classes"] is not None else
                " (unless the model has millions of classes)")
        return (Note("unnormalised_inputs", (
            f"a KL divergence below 0 ({loss_value(value)}) means unnormalised inputs{rare}: "
            "predictions or targets whose rows do not sum to 1, such as an output without a "
            "softmax. Keras clips both to [ε, 1] and never rescales, so predicting 1 for every "
            "class scores -H(y) < 0, better than any distribution. Add a softmax to the output "
            "layer, or normalise the targets.")),)

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = ["The KL divergence says how far the predicted distribution is from the target "
                 "one, in nats: 0 when they are equal; it is the categorical cross-entropy minus "
                 "the entropy of the targets."]
        if value >= 0:
            lines.append(f"With one-hot targets it equals the cross-entropy, so exp(-{loss_value(value)}) "
                         f"= {number(math.exp(-value))} is then the geometric-mean probability the "
                         "model gives to the true class.")
        prior = marks["prior"]
        if prior is not None:
            lines.append(f"Predicting the average target distribution for every input scores "
                         f"{number(prior)} (the prior baseline).")
        return lines
