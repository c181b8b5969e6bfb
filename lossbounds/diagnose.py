r"""What a training log shows: `diagnose`.

`diagnose` reads a whole training log (the text ``model.fit`` printed, or
``History.history``) and reports `Finding` objects: a rising loss, a loss
stuck at the uniform baseline or at a clipping plateau, NaN, overfitting, and
more. The tolerances are those of `lossbounds.explain`.

Trends (`diagnose`) are judged on the epochs, never on one step: a rise must
be a consistent trend, Kendall's :math:`\tau` with a one-sided p-value below
:data:`TREND_ALPHA` = 0.01 ([4]_, [5]_), *and* large, a Theil-Sen fitted rise
([6]_) of more than :data:`NOISE_UNITS` = 3 times the epoch-to-epoch noise.
The noise is a robust standard deviation of the first differences, their
normalised median absolute deviation over :math:`\sqrt 2` (for independent
noise :math:`\mathrm{Var}(e_{t+1} - e_t) = 2\sigma^2` [7]_). Both the whole
run and the epochs after the lowest loss are tested, the lowest epoch itself
left out so that picking the minimum cannot bias the test; at least
:data:`MIN_TREND_EPOCHS` = 5 epochs are needed. This never fires on a
decreasing curve with noise up to twice its smallest per-epoch decrease:
then no pair of epochs 4 or more apart can rise, and with at most
:math:`3m - 6` of :math:`m(m-1)/2` pairs rising the one-sided Kendall p-value
is at least 0.04 (:math:`m = 5`) and grows with :math:`m`.

References
----------
.. [4] M. G. Kendall, "A new measure of rank correlation", *Biometrika* 30,
   81-93 (1938).
.. [5] H. B. Mann, "Nonparametric tests against trend", *Econometrica* 13,
   245-259 (1945).
.. [6] P. K. Sen, "Estimates of the regression coefficient based on
   Kendall's tau", *J. Am. Stat. Assoc.* 63, 1379-1389 (1968).
.. [7] J. von Neumann, "Distribution of the ratio of the mean square
   successive difference to the variance", *Ann. Math. Stat.* 12, 367-395
   (1941).
"""


from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from .explain import FAR_BETTER, prior_flag, verdict
from .logs import TrainingLog
from .registry import Plateau
from .text import (
    BASELINE_RTOL,
    FLOAT32_RTOL,
    PLATEAU_ATOL,
    PRINT_ATOL,
    epoch_ranges,
    loss_value,
    number,
    percent,
    share,
)
from .yardstick import (
    NON_FINITE,
    Yardstick,
    all_plateaus,
    below_best_reason,
    double_softmax_reason,
    plateau_reason,
    relative,
    yardstick,
)

__all__ = [
    "ACCURACY_ATOL",
    "LEVEL_EPOCHS",
    "MIN_TREND_EPOCHS",
    "NOISE_UNITS",
    "SEVERITIES",
    "THEIL_SEN_EXACT",
    "TREND_ALPHA",
    "Finding",
    "LogColumns",
    "diagnose",
    "output_losses",
    "read_columns",
]

#: Training error rate vs. the bound the loss implies: both printed to 4 decimals.
ACCURACY_ATOL = 1e-3
#: One-sided significance level of Kendall's trend test.
TREND_ALPHA = 0.01
#: A trend must rise by more than this many noise standard deviations.
NOISE_UNITS = 3.0
#: Fewest epochs a trend is judged on.
MIN_TREND_EPOCHS = 5
#: The final level of a curve: the median of its last few epochs.
LEVEL_EPOCHS = 3
#: `Finding.severity` values, most severe first.
SEVERITIES = ("error", "warning", "info")

# Columns Keras names for the accuracy that goes with the loss (`metrics=["accuracy"]`
# picks binary, categorical or sparse categorical accuracy to match the loss).
_ACCURACY_COLUMNS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                     "sparse_categorical_accuracy")


# --------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Finding:
    """One thing `diagnose` found in a training log.

    Attributes
    ----------
    kind : str
        A stable name, such as ``"rising_loss"``; see `diagnose`.
    severity : {"error", "warning", "info"}
        ``"error"``: training is broken (NaN, impossible or worse-than-guessing
        values); ``"warning"``: probably a problem; ``"info"``: how to read the
        log.
    epochs : tuple of int
        The epochs concerned, numbered from 1 as Keras prints them.
    values : Mapping[str, float]
        The numbers behind the finding (read-only).
    message : str
        One or two sentences for a beginner.
    """

    kind: str
    severity: str
    epochs: tuple[int, ...]
    values: Mapping[str, float]
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(
                f"`severity` must be one of {', '.join(map(repr, SEVERITIES))}, "
                f"got {self.severity!r}."
            )
        object.__setattr__(self, "epochs", tuple(int(e) for e in self.epochs))
        object.__setattr__(self, "values", MappingProxyType(
            {key: float(value) for key, value in self.values.items()}))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {"kind": self.kind, "severity": self.severity, "epochs": list(self.epochs),
                "values": dict(self.values), "message": self.message}

    def __str__(self) -> str:
        where = f" ({epoch_ranges(self.epochs)})" if self.epochs else ""
        return f"[{self.severity}] {self.kind}{where}: {self.message}"


# --------------------------------------------------------------------------
# A training log: columns


@dataclass(frozen=True)
class LogColumns:
    """A log as columns: epoch numbers, and each metric with NaN where missing."""

    numbers: np.ndarray  # int, the epoch numbers as printed
    columns: dict[str, np.ndarray]  # float
    present: dict[str, np.ndarray]  # bool: the epoch printed this metric

    def finite(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Epoch numbers and values of `name` where it is finite."""
        values = self.columns[name]
        keep = np.isfinite(values)
        return self.numbers[keep], values[keep]


def read_columns(log: Any) -> LogColumns:
    if isinstance(log, TrainingLog):
        names = list(dict.fromkeys(name for ep in log for name in ep.metrics))
        columns = {n: np.array([ep.metrics.get(n, math.nan) for ep in log], float) for n in names}
        present = {n: np.array([n in ep.metrics for ep in log]) for n in names}
        return LogColumns(np.array([ep.number for ep in log], int), columns, present)
    history = log if isinstance(log, Mapping) else getattr(log, "history", None)
    if not isinstance(history, Mapping):
        raise TypeError(
            "`log` must be a lossbounds.logs.TrainingLog, a dict of metric lists "
            "(History.history) or a keras History, got "
            f"{type(log).__name__}. Hint: lossbounds.read_keras_log(text) reads printed output."
        )
    history = {name: _metric_list(name, values) for name, values in history.items()}
    length = max((len(v) for v in history.values()), default=0)
    columns, present = {}, {}
    for name, values in history.items():
        column = np.full(length, math.nan)
        column[:len(values)] = [_metric_value(name, v) for v in values]
        columns[str(name)] = column
        present[str(name)] = np.arange(length) < len(values)  # shorter lists end early
    return LogColumns(np.arange(1, length + 1), columns, present)


def _metric_list(name: Any, values: Any) -> list[Any]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"`log[{name!r}]` must be a list of numbers (one per epoch), got "
                        f"{type(values).__name__}: {values!r}.")
    return list(values)


def _metric_value(name: Any, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(
            f"`log[{name!r}]` must hold numbers, got {type(value).__name__}: {value!r}."
        ) from None


def output_losses(log: LogColumns) -> list[str]:
    """Per-output loss columns of a multi-output model (``out_a_loss``)."""
    return [n for n in log.columns if n.endswith("_loss") and n != "loss"
            and not n.startswith("val_")]


def _accuracy_column(log: LogColumns, prefix: str = "") -> str | None:
    return next((prefix + n for n in _ACCURACY_COLUMNS if prefix + n in log.columns), None)


# --------------------------------------------------------------------------
# A training log: trends


@dataclass(frozen=True)
class _Rise:
    """A significant, large upward trend in a curve."""

    first: int  # index of the epoch the rise starts from
    rise: float  # Theil-Sen fitted rise over the tested epochs
    noise: float
    tau: float
    p_value: float


def _noise(y: np.ndarray) -> float:
    """Robust epoch-to-epoch noise: normalised MAD of first differences over sqrt 2."""
    from scipy import stats  # scipy.stats takes a second to import: only when needed

    level = float(np.median(np.abs(y)))
    floor = max(min(PRINT_ATOL, 1e-3 * level), 1e-12)  # printing resolution
    if y.size < 3:
        return floor
    sigma = float(stats.median_abs_deviation(np.diff(y), scale="normal")) / math.sqrt(2)
    return max(sigma, floor)


def _rise(y: np.ndarray) -> _Rise | None:
    """An upward trend over the whole curve, or after its lowest epoch (left out)."""
    from scipy import stats

    lowest = int(np.argmin(y)) if y.size else 0
    candidates = [(0, y)] + ([(lowest, y[lowest + 1:])] if lowest > 0 else [])
    for first, tested in candidates:
        if tested.size < MIN_TREND_EPOCHS:
            continue
        x = np.arange(tested.size)
        tau, p_value = stats.kendalltau(x, tested, alternative="greater")
        if not p_value < TREND_ALPHA:
            continue
        rise = _theil_sen_slope(tested) * (tested.size - 1)
        noise = _noise(tested)
        if rise > NOISE_UNITS * noise:
            return _Rise(first, rise, noise, float(tau), float(p_value))
    return None


#: Up to this many epochs the Theil-Sen slope is the median of every pair's slope;
#: beyond, of this many squared pairs drawn with a fixed seed (bounded time and memory).
THEIL_SEN_EXACT = 1000


def _theil_sen_slope(y: np.ndarray) -> float:
    """The median of the slopes (y_j - y_i) / (j - i) over pairs i < j [6]_.

    Exact up to `THEIL_SEN_EXACT` epochs. Longer curves use THEIL_SEN_EXACT**2
    pairs drawn uniformly with a fixed seed: the sample median of a million
    slopes is within a fraction of a percent (in rank) of the true median, far
    inside what the `NOISE_UNITS` test needs, and the answer is the same on
    every run.
    """
    n = y.size
    if n <= THEIL_SEN_EXACT:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(0)
        i = rng.integers(0, n, THEIL_SEN_EXACT**2)
        j = rng.integers(0, n, THEIL_SEN_EXACT**2)
        keep = i != j
        i, j = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    return float(np.median((y[j] - y[i]) / (j - i)))


def _kendall_tau(y: np.ndarray) -> float:
    from scipy import stats

    if y.size < 2:
        return 0.0
    tau = stats.kendalltau(np.arange(y.size), y).statistic
    return 0.0 if math.isnan(tau) else float(tau)


def _level(y: np.ndarray) -> float:
    """The final level of a curve: the median of its last epochs."""
    return float(np.median(y[-LEVEL_EPOCHS:]))


def _trailing(mask: np.ndarray) -> np.ndarray:
    """Indices of the run of True at the end of `mask`."""
    false = np.flatnonzero(~mask)
    start = false[-1] + 1 if false.size else 0
    return np.arange(start, mask.size)


# --------------------------------------------------------------------------
# A training log: findings


def diagnose(log: Any, loss: str | None = None, **options: Any) -> list[Finding]:
    r"""What a training log shows: rising loss, guessing, NaN, overfitting, ...

    Parameters
    ----------
    log : TrainingLog, dict or keras History
        A `lossbounds.logs.TrainingLog` (from `read_keras_log`), a
        ``History.history`` dict of metric lists, or any object with such a
        ``.history`` dict (a Keras ``History``; Keras is not imported).
    loss : str, optional
        The loss name. Without it only the trend findings and the clipping
        plateaus can be judged, and a ``no_bounds`` finding says why.
    **options
        The loss's options, as for `explain` and `lossbounds.bounds`: ``n_classes``
        (needed for ln K), ``counts``, ``label_smoothing``, ``variance``, ...

    Returns
    -------
    list of Finding
        Most severe first (``"error"``, ``"warning"``, ``"info"``).

    Raises
    ------
    TypeError
        If `log` is none of the above, or holds non-numbers.
    ValueError
        If the log has no epochs or no ``loss`` column, or an option is invalid.

    Notes
    -----
    The kinds, with their severity:

    ==========================  ========  ==========================================
    kind                        severity  when
    ==========================  ========  ==========================================
    ``nan``, ``inf``            error     a loss column is NaN or infinite
    ``below_best``              error     a value below the best case: impossible
    ``above_uniform``           error     the final level is worse than guessing
                                          (warning while it still falls)
    ``clipping_plateau``        error     at a clipping ceiling (16.1181, ...) at the
                                          end; warning if it left it
    ``rising_loss``             warning   the training loss rises (see module doc)
    ``at_uniform``              warning   the final level is within 1% of guessing
    ``at_prior``                warning   ... of the prior baseline (class balance)
    ``above_prior``             warning   worse than predicting the class balance
    ``overfitting``             warning   val_loss rises after its minimum while
                                          the training loss does not
    ``double_softmax``          warning   stuck at :math:`\ln(1 + (K-1)/e)`
    ``bce_on_multiclass``       warning   binary cross-entropy with K > 2
    ``accuracy_vs_loss``        warning   an error rate the loss cannot allow: the
                                          loss name or options are wrong
    ``growing_gap``             info      val_loss - loss grows while loss falls
    ``val_below_train``         info      val_loss below loss, explained
    ``far_better_than_uniform`` info      final loss at most half of guessing
    ``better_than_uniform``     info      final loss between half and guessing
    ``better_than_prior``       info      mean squared error with a variance: R²
    ``no_bounds``               info      which bounds could not be computed, why
    ==========================  ========  ==========================================

    Level findings (baselines, plateaus) look at the final level, the median
    of the last 3 epochs, and report the run of epochs at that level. They
    apply to ``loss`` and ``val_loss``, but not to a multi-output model's
    ``loss``, which is a weighted sum of several losses. Regularisation
    penalties add to ``loss``, so a heavily regularised model can sit above
    its bounds.

    See Also
    --------
    explain : one value.
    lossbounds.logs.read_keras_log : read printed ``fit`` output.

    Examples
    --------
    >>> import lossbounds
    >>> history = {"loss": [0.8, 0.5, 0.4, 0.35, 0.32, 0.3],
    ...            "val_loss": [0.7, 0.45, 0.4, 0.38, 0.37, 0.36]}
    >>> findings = lossbounds.diagnose(history, "sparse_cce", n_classes=10)
    >>> for f in findings:
    ...     print(f.kind, f.severity, f.epochs)
    growing_gap info (1, 2, 3, 4, 5, 6)
    far_better_than_uniform info (6,)
    >>> print(findings[1].message)  # doctest: +ELLIPSIS
    The final training loss 0.3 (epoch 6) is 13% of the uniform baseline ln 10 = 2.303, ...
    >>> [f.kind for f in lossbounds.diagnose({"loss": [0.5, float("nan")]})]
    ['nan', 'no_bounds']
    """
    data = read_columns(log)
    if data.numbers.size == 0:
        raise ValueError("`log` has no epochs: nothing to diagnose. Hint: check that the text "
                         "is the output of model.fit (lines like 'Epoch 1/10').")
    if "loss" not in data.columns:
        raise ValueError(f"`log` has no 'loss' column; it has {', '.join(data.columns)}.")
    ys = None if loss is None else yardstick(loss, options)
    findings = [*_nan_findings(data), *_trend_findings(data)]
    findings.extend(_bound_findings(data, ys))
    order = {severity: rank for rank, severity in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])  # stable: detection order kept


def _loss_columns(data: LogColumns) -> list[str]:
    return [n for n in ("loss", "val_loss", *output_losses(data)) if n in data.columns]


def _nan_findings(data: LogColumns) -> list[Finding]:
    findings = []
    for name in _loss_columns(data):
        values = data.columns[name]
        nan, inf = np.isnan(values) & data.present[name], np.isinf(values)
        for kind, bad in (("nan", nan), ("inf", inf)):
            if bad.any():
                epochs = data.numbers[bad]
                what = "NaN (not a number)" if kind == "nan" else "infinite"
                findings.append(Finding(kind, "error", tuple(epochs), {"first_epoch": epochs[0]},
                                        f"{name} is {what} from epoch {epochs[0]}: "
                                        f"{NON_FINITE[kind]}"))
    return findings


def _trend_findings(data: LogColumns) -> list[Finding]:
    findings = []
    numbers_, y = data.finite("loss")
    rise = _rise(y)
    if rise is not None:
        findings.append(_rising_finding(numbers_, y, rise))
    if "val_loss" in data.columns:
        both = np.isfinite(data.columns["loss"]) & np.isfinite(data.columns["val_loss"])
        numbers_ = data.numbers[both]
        train, val = data.columns["loss"][both], data.columns["val_loss"][both]
        findings.extend(_validation_findings(numbers_, train, val))
    return findings


def _rising_finding(numbers_: np.ndarray, y: np.ndarray, rise: _Rise) -> Finding:
    start, end = rise.first, y.size - 1
    epochs = tuple(numbers_[start:])
    values = {"start": y[start], "end": y[end], "rise": rise.rise, "noise": rise.noise,
              "kendall_tau": rise.tau, "p_value": rise.p_value}
    origin = f"{loss_value(y[start])} (epoch {numbers_[start]})"
    origin = f"its lowest value, {origin}," if start else origin
    return Finding("rising_loss", "warning", epochs, values, (
        f"The training loss rose from {origin} to {loss_value(y[end])} (epoch {numbers_[end]}): a "
        f"steady trend (Kendall τ = {rise.tau:.2f}, "
        f"p = {rise.p_value:.2g}) of +{number(rise.rise)}, {rise.rise / rise.noise:.1f} times the "
        f"epoch-to-epoch noise ({number(rise.noise)}). A training loss should fall; when it rises "
        "the learning rate is usually too high: try it 10 times smaller."
    ))


def _validation_findings(numbers_: np.ndarray, train: np.ndarray, val: np.ndarray) -> list[Finding]:
    findings = []
    rise = _rise(val)
    if rise is not None and _kendall_tau(train[rise.first:]) <= 0:
        findings.append(_overfitting_finding(numbers_, train, val, rise))
    else:
        gap = _rise(val - train)
        if gap is not None and _kendall_tau(train[gap.first:]) < 0:
            findings.append(_gap_finding(numbers_, train, val, gap))
    below = val < train
    if below.size and below.mean() > 0.5 and below[-1]:
        findings.append(_val_below_finding(numbers_, train, val, below))
    return findings


def _overfitting_finding(numbers_, train, val, rise: _Rise) -> Finding:
    best, end = int(np.argmin(val)), val.size - 1
    values = {"best_val_loss": val[best], "best_epoch": numbers_[best], "val_loss": val[end],
              "loss": train[end], "rise": rise.rise, "noise": rise.noise,
              "kendall_tau": rise.tau, "p_value": rise.p_value}
    return Finding("overfitting", "warning", tuple(numbers_[rise.first:]), values, (
        f"val_loss was lowest at epoch {numbers_[best]} ({loss_value(val[best])}) and rose to "
        f"{loss_value(val[end])} by epoch {numbers_[end]}, while the training loss did not rise (it "
        f"ended at {loss_value(train[end])}): the model is memorising the training set (overfitting). "
        f"Keep the weights of epoch {numbers_[best]} (EarlyStopping(restore_best_weights=True)), "
        "or add data, dropout or weight decay."
    ))


def _gap_finding(numbers_, train, val, rise: _Rise) -> Finding:
    start, end = rise.first, val.size - 1
    values = {"gap_start": val[start] - train[start], "gap_end": val[end] - train[end],
              "rise": rise.rise, "noise": rise.noise, "kendall_tau": rise.tau,
              "p_value": rise.p_value}
    return Finding("growing_gap", "info", tuple(numbers_[start:]), values, (
        f"val_loss - loss grew from {number(values['gap_start'])} (epoch {numbers_[start]}) to "
        f"{number(values['gap_end'])} (epoch {numbers_[end]}): the model improves on the training "
        "set faster than on new data, the first sign of overfitting. Watch val_loss: stop when "
        "it stops falling."
    ))


def _val_below_finding(numbers_, train, val, below) -> Finding:
    end = val.size - 1
    values = {"loss": train[end], "val_loss": val[end], "gap": val[end] - train[end],
              "fraction_of_epochs": below.mean()}
    return Finding("val_below_train", "info", tuple(numbers_[below]), values, (
        f"val_loss ({loss_value(val[end])}) is below loss ({loss_value(train[end])}) in "
        f"{percent(below.mean())} of the epochs. This is normal: the loss Keras prints is the "
        "mean over the epoch, while the weights were still improving and with dropout on, but "
        "val_loss is computed at the end of the epoch, with the final weights and dropout off."
    ))


def _bound_findings(data: LogColumns, ys: Yardstick | None) -> list[Finding]:
    outputs = output_losses(data)
    if outputs:
        return [Finding("no_bounds", "info", (), {}, (
            f"This model has several outputs ({', '.join(outputs)}): 'loss' is their weighted "
            "sum, not one loss, so it is not compared with any loss's bounds. Explain each "
            "output's final loss on its own: lossbounds explain VALUE LOSS."))]
    if ys is None:
        findings = [_no_loss_finding(data)]
        return [*_plateau_findings(data, all_plateaus()), *findings]
    findings = []
    for name in ("loss", "val_loss"):
        if name in data.columns:
            findings.extend(_level_findings(data, name, ys))
    findings.extend(_accuracy_findings(data, ys))
    if ys.missing is not None:
        findings.append(Finding("no_bounds", "info", (), {}, f"Not computed: {ys.missing}."))
    for note in ys.loss.flags(ys.setting):
        values = {"n_classes": ys.n_classes or 0, "uniform": ys.uniform or 0.0}
        findings.append(Finding(note.code, "warning", (), values, note[0].upper() + note[1:]))
    return findings


def _no_loss_finding(data: LogColumns) -> Finding:
    accuracy = _accuracy_column(data)
    if accuracy is not None:
        hint = (f"the log shows accuracy ('{accuracy}'), so this is a classifier: pass the loss "
                "(--loss sparse_categorical_crossentropy, categorical_crossentropy or "
                "binary_crossentropy) and --n-classes K to compare it with ln K")
    else:
        hint = ("pass the loss (--loss mse, binary_crossentropy, ...) to compare it with its "
                "baselines; for mse also --variance Var(y) for R²")
    return Finding("no_bounds", "info", (), {}, (
        f"No loss name given, so the best case, the baselines and the worst case could not be "
        f"computed (only the trends and the clipping plateaus were checked): {hint}."
    ))


def _level_findings(data: LogColumns, name: str, ys: Yardstick) -> list[Finding]:
    numbers_, y = data.finite(name)
    if y.size == 0:
        return []
    findings = [*_below_best_findings(name, numbers_, y, ys),
                *_plateau_findings(data, ys.plateaus, [name])]
    findings.extend(_baseline_findings(name, numbers_, y, ys))
    if name == "loss":
        findings.extend(_double_softmax_findings(numbers_, y, ys))
    findings.extend(_value_findings(name, numbers_, y, ys))
    return findings


def _value_findings(name, numbers_, y, ys: Yardstick) -> list[Finding]:
    """What the loss's definition reads in the final level (MAPE at 100, ...)."""
    level = _level(y)
    return [Finding(note.code, note.severity, (int(numbers_[-1]),), {"level": level},
                    f"{name} (final level {loss_value(level)}): {note}")
            for note in ys.loss.value_flags(level, ys.setting)]


def _below_best_findings(name, numbers_, y, ys: Yardstick) -> list[Finding]:
    bad = y < ys.floor - PRINT_ATOL - FLOAT32_RTOL * abs(ys.floor)
    if not bad.any():
        return []
    first = int(np.flatnonzero(bad)[0])
    reason = below_best_reason(float(y[first]), ys)
    return [Finding("below_best", "error", tuple(numbers_[bad]),
                    {"value": y[first], "best": ys.floor},
                    f"{name} at epoch {numbers_[first]}: {reason}")]


def _plateau_findings(data: LogColumns, plateaus: Sequence[Plateau],
                      names: Sequence[str] = ("loss", "val_loss")) -> list[Finding]:
    findings = []
    for name in names:
        if name not in data.columns:
            continue
        numbers_, y = data.finite(name)
        for plateau in plateaus:
            at = np.abs(y - plateau.value) <= PLATEAU_ATOL
            if not at.any():
                continue
            severity = "error" if at[-1] else "warning"
            first = int(np.flatnonzero(at)[0])
            findings.append(Finding("clipping_plateau", severity, tuple(numbers_[at]),
                                    {"plateau": plateau.value, "value": y[first]},
                                    f"{name} at epoch {numbers_[first]}: "
                                    + plateau_reason(float(y[first]), plateau)))
    return findings


def _baseline_findings(name, numbers_, y, ys: Yardstick) -> list[Finding]:
    level, uniform, prior = _level(y), ys.uniform, ys.prior
    findings = []
    if uniform is not None:
        where = relative(level, uniform)
        if where > 0:  # then above the prior too: one finding
            run = _trailing(np.array([relative(v, uniform) > 0 for v in y]))
            # Still falling: maybe only unfinished; flat or rising: broken.
            severity = "warning" if _falling(y[run]) else "error"
            return [_stuck_finding("above_uniform", severity, name, numbers_, y, run, level, ys)]
        if where == 0:
            run = _trailing(np.array([relative(v, uniform) == 0 for v in y]))
            findings.append(_stuck_finding("at_uniform", "warning", name, numbers_, y, run,
                                           level, ys))
    flag = prior_flag(level, ys)
    if flag is not None:
        assert prior is not None  # prior_flag flags only against a known prior
        kind = "at_prior" if flag.kind == "at_prior" else "above_prior"
        findings.append(Finding(kind, "warning", (numbers_[-1],), {"level": level, "prior": prior},
                                f"{name} (final level): {flag.reason}"))
    if name == "loss" and not findings:
        findings.extend(_position_findings(numbers_, y, ys))
    return findings


def _stuck_finding(kind, severity, name, numbers_, y, run, level, ys: Yardstick) -> Finding:
    epochs = numbers_[run] if run.size else numbers_[-1:]
    if kind == "at_uniform":
        where, what = "stays at", (
            "the model predicts (almost) the same for every input, as an untrained or dead "
            "network does. Check the learning rate (not far too small?), dead ReLUs, and that "
            "the inputs carry information")
    elif severity == "warning":
        where, what = "is still above", (
            "worse than guessing, though still falling: train longer; if it stays above, check "
            "the labels (do they match the outputs?) and the loss")
    else:
        where, what = "stays above", (
            "worse than guessing. Check the labels (do they match the outputs?), the loss, and "
            "lower the learning rate")
    assert ys.uniform is not None  # called only against a known uniform baseline
    return Finding(kind, severity, tuple(epochs), {"level": level, "uniform": ys.uniform}, (
        f"{name} {where} the uniform baseline {ys.uniform_text()} (final level "
        f"{loss_value(level)}): {what}."
    ))


def _falling(y: np.ndarray) -> bool:
    """A significant downward trend (the mirror of `_rise`'s test)."""
    return _rise(-y) is not None


def _position_findings(numbers_, y, ys: Yardstick) -> list[Finding]:
    final, epoch = float(y[-1]), int(numbers_[-1])
    if ys.uniform is not None and ys.uniform > 0:
        fraction = final / ys.uniform
        kind = "far_better_than_uniform" if fraction <= FAR_BETTER else "better_than_uniform"
        values = {"loss": final, "uniform": ys.uniform, "fraction_of_uniform": fraction}
        message = (f"The final training loss {loss_value(final)} (epoch {epoch}) is "
                   f"{share(fraction)} the uniform baseline {ys.uniform_text()}, "
                   f"{ys.uniform_meaning()}: {verdict(final, ys.uniform)}.")
        perplexity = ys.loss.measures(final, ys.prior).get("perplexity")
        if perplexity is not None:
            values["perplexity"] = perplexity
            message += (f" Its perplexity exp({loss_value(final)}) = {number(perplexity)} means "
                        f"it hesitates among about {number(perplexity)} "
                        f"{ys.loss.choices(ys.setting)}")
            bound = ys.error_bound(final)
            if bound is not None and bound < 1:
                values["error_rate_bound"] = bound
                message += (f", and the loss alone caps the training error rate at "
                            f"{percent(bound)}")
            message += "."
        return [Finding(kind, "info", (epoch,), values, message)]
    r2 = ys.loss.measures(final, ys.prior).get("r2")
    if r2 is not None and ys.prior:
        return [Finding("better_than_prior", "info", (epoch,), {"loss": final, "r2": r2}, (
            f"The final training loss {loss_value(final)} (epoch {epoch}) gives R² = 1 - "
            f"{loss_value(final)} / {number(ys.prior)} = {number(r2)}: the model explains "
            f"{percent(max(r2, 0.0))} of the target variance (predicting the mean explains 0%)."
        ))]
    return []


def _double_softmax_findings(numbers_, y, ys: Yardstick) -> list[Finding]:
    floor = ys.double_softmax
    if floor is None:
        return []
    level = _level(y)
    if not (y.min() >= floor - PRINT_ATOL and level <= floor * (1 + BASELINE_RTOL)):
        return []
    run = _trailing(y <= floor * (1 + BASELINE_RTOL))
    return [Finding("double_softmax", "warning", tuple(numbers_[run]),
                    {"level": level, "floor": floor},
                    "loss: " + double_softmax_reason(level, ys))]


def _accuracy_findings(data: LogColumns, ys: Yardstick) -> list[Finding]:
    if ys.wrong is None:
        return []
    findings = []
    for prefix in ("", "val_"):
        accuracy = _accuracy_column(data, prefix)
        name = prefix + "loss"
        if accuracy is None or name not in data.columns:
            continue
        loss_, acc = data.columns[name], data.columns[accuracy]
        keep = np.isfinite(loss_) & np.isfinite(acc)
        bound = np.array([ys.error_bound(float(v)) for v in loss_[keep]], float)
        bad = (1.0 - acc[keep]) > bound + ACCURACY_ATOL
        if not bad.any():
            continue
        epochs = data.numbers[keep][bad]
        i = int(np.flatnonzero(bad)[0])
        findings.append(Finding("accuracy_vs_loss", "warning", tuple(epochs), {
            "accuracy": acc[keep][i], "loss": loss_[keep][i], "error_rate_bound": bound[i]}, (
            f"At epoch {epochs[0]}, {accuracy} {loss_value(acc[keep][i])} means "
            f"{percent(1 - acc[keep][i])} errors, but a {ys.loss.name} of "
            f"{loss_value(loss_[keep][i])} allows at most {percent(bound[i])}: the loss name or its "
            "options do not match this model (or sample/class weights are used)."
        )))
    return findings
