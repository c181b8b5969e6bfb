r"""What a training log shows: `diagnose`.

`diagnose` reads a whole training log (the text ``model.fit`` printed, or
``History.history``) and returns a `Diagnosis`: a one-line verdict in plain
words, then `Finding` objects, the most likely cause first, each a plain
sentence with the statistics that support it after it.

It reads every column the log has: the training and validation losses, the
accuracy the model printed (against the chance level and against what the
loss allows), a multi-output model's per-output losses (against the total),
and the learning rate when a callback logs it. When the columns disagree
(a loss above the uniform baseline with an accuracy far above chance) it says
what explains them, instead of reporting the loss alone.

The shape of each curve (a trend, a flat stretch, a spike, still falling) is
judged by `lossbounds.curves` against the curve's own epoch-to-epoch noise:
Kendall's :math:`\tau` with a one-sided p-value below :data:`TREND_ALPHA` =
0.01 *and* a Theil-Sen fitted change of more than :data:`NOISE_UNITS` = 3
noise units, over at least :data:`MIN_TREND_EPOCHS` = 5 epochs. Levels
(baselines, plateaus) use the tolerances of `lossbounds.explain`.

A log of several ``fit`` runs pasted one after the other (the epoch numbers
restart) is split into its runs, each diagnosed on its own; a run that
continues from where the previous one stopped (a second ``fit`` call on the
same model) is read as one run. Epochs that were cut off (``517/518``) are
left out: their values are running means over part of an epoch.
"""


from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .checks import check_n_classes
from .curves import (
    MIN_FROZEN_EPOCHS,
    MIN_TREND_EPOCHS,
    NOISE_UNITS,
    THEIL_SEN_EXACT,
    TREND_ALPHA,
    Trend,
    fall,
    flat_since,
    frozen_since,
    jumps,
    kendall_tau,
    noise,
    rise,
    spikes,
    still_falling,
    theil_sen_slope,
)
from .explain import FAR_BETTER, prior_flag, verdict
from .logs import TrainingLog
from .registry import Plateau
from .text import (
    BASELINE_RTOL,
    FLOAT32_RTOL,
    PLATEAU_ATOL,
    PRINT_ATOL,
    epoch_ranges,
    for_python,
    number,
    percent,
    printed,
    share,
)
from .yardstick import (
    NON_FINITE,
    Yardstick,
    above_worst_reason,
    all_plateaus,
    below_best_reason,
    caches_logits,
    double_softmax_reason,
    plateau_reason,
    relative,
    yardstick,
)

__all__ = [
    "ACCURACY_ATOL",
    "FAR_ABOVE_CHANCE",
    "LEVEL_EPOCHS",
    "MIN_TREND_EPOCHS",
    "NOISE_UNITS",
    "SEVERITIES",
    "THEIL_SEN_EXACT",
    "TREND_ALPHA",
    "Diagnosis",
    "Finding",
    "LogColumns",
    "diagnose",
    "output_losses",
    "read_columns",
    "run_rows",
]

#: Training error rate vs. the bound the loss implies: both printed to 4 decimals.
ACCURACY_ATOL = 1e-3
#: The final level of a flat curve: the median of its last few epochs.
LEVEL_EPOCHS = 3
#: A curve sits at a baseline or floor when this many epochs in a row (or all of a
#: shorter run) are within its tolerance: a falling loss passes through the band in
#: one epoch; one that stays two has stopped there.
AT_LEVEL_EPOCHS = 2
#: `Finding.severity` values, most severe first.
SEVERITIES = ("error", "warning", "info")
#: "Far above chance": an accuracy whose error rate is at most this fraction of
#: guessing's, 1 - 1/K (at least 75% for 2 classes, 55% for 10). A model that
#: does this well has learned; a loss that says "worse than guessing" next to it
#: has another explanation. The same factor as `lossbounds.explain.FAR_BETTER`.
FAR_ABOVE_CHANCE = 0.5
#: Accuracy printed as 1.0000: the most Keras' four decimals can show.
PERFECT_ACCURACY = 1.0 - 5e-5
#: Training and validation totals of a multi-output model, over the sum of
#: their parts: the same loss weights give the same ratio on both. Ratios an
#: order of magnitude apart cannot come from one weighted sum.
TOTAL_RATIO_LIMIT = 10.0

# Columns Keras names for the accuracy that goes with the loss (`metrics=["accuracy"]`
# picks binary, categorical or sparse categorical accuracy to match the loss).
_ACCURACY_COLUMNS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                     "sparse_categorical_accuracy")
# Columns of the learning rate (ReduceLROnPlateau, LearningRateScheduler, Keras 3).
_RATE_COLUMNS = ("learning_rate", "lr")
# A callback's note: "Epoch 00004: ReduceLROnPlateau reducing learning rate to 0.0005."
_EVENT_RE = re.compile(r"Epoch[ \t]+0*([0-9]{1,9}):[ \t]*(.*)")
_RATE_CUT_RE = re.compile(r"reducing learning rate to ([0-9.eE+-]+)")


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
        The epochs concerned, numbered as Keras printed them.
    values : Mapping[str, float]
        The numbers behind the finding (read-only).
    message : str
        What it means and what to do, in plain sentences for a beginner.
    evidence : str
        The statistics behind the message ("Kendall τ = 0.71, p = 0.0012"),
        shown after it; may be empty.
    run : int or None
        In a log of several runs (`Diagnosis.runs` > 1), the run (1, 2, ...)
        the finding is about; None for the whole log.
    """

    kind: str
    severity: str
    epochs: tuple[int, ...]
    values: Mapping[str, float]
    message: str
    evidence: str = ""
    run: int | None = None

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
                "values": dict(self.values), "message": self.message,
                "evidence": self.evidence, "run": self.run}

    def __str__(self) -> str:
        where = f" ({epoch_ranges(self.epochs)})" if self.epochs else ""
        run = f" run {self.run}" if self.run is not None else ""
        evidence = f" [{self.evidence}]" if self.evidence else ""
        return f"[{self.severity}]{run} {self.kind}{where}: {self.message}{evidence}"


class Diagnosis(list[Finding]):
    """The findings of `diagnose` (a list of `Finding`), with a one-line verdict.

    Attributes
    ----------
    verdict : str
        What the log shows, in one plain sentence, to read first.
    runs : int
        How many separate training runs the log holds (1 for most logs).
    """

    def __init__(self, findings: Sequence[Finding] = (), verdict: str = "", runs: int = 1):
        super().__init__(findings)
        self.verdict = verdict
        self.runs = runs

    @property
    def healthy(self) -> bool:
        """Nothing of severity "warning" or "error" was found."""
        return not any(f.severity in ("error", "warning") for f in self)

    def __str__(self) -> str:
        return "\n".join([self.verdict, *map(str, self)])


# --------------------------------------------------------------------------
# A training log: columns


@dataclass(frozen=True)
class LogColumns:
    """A log as columns: epoch numbers, and each metric with NaN where missing.

    ``complete`` marks epochs that were not cut off, ``known`` epochs whose
    number the log printed (a first line without an ``Epoch N/M`` header has
    none), ``total`` the ``M`` of each epoch's header (0 where unknown).
    """

    numbers: np.ndarray  # int, the epoch numbers as printed
    columns: dict[str, np.ndarray]  # float
    present: dict[str, np.ndarray]  # bool: the epoch printed this metric
    complete: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    known: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    total: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    progress: tuple[str, ...] = ()  # "13184/60000" for each epoch, "" when not printed
    events: tuple[tuple[int, str], ...] = ()  # (epoch, what a callback printed)

    def __post_init__(self) -> None:
        n = self.numbers.size
        for name, default in (("complete", True), ("known", True)):
            if getattr(self, name).size != n:
                object.__setattr__(self, name, np.full(n, default))
        if self.total.size != n:
            object.__setattr__(self, "total", np.zeros(n, int))
        if len(self.progress) != n:
            object.__setattr__(self, "progress", ("",) * n)

    def finite(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Epoch numbers and values of `name` where it is finite."""
        values = self.columns[name]
        keep = np.isfinite(values)
        return self.numbers[keep], values[keep]

    def rows(self, keep: np.ndarray) -> LogColumns:
        """The epochs where `keep` is true."""
        numbers = self.numbers[keep]
        kept = set(numbers.tolist())
        return LogColumns(numbers,
                          {n: c[keep] for n, c in self.columns.items()},
                          {n: p[keep] for n, p in self.present.items()},
                          self.complete[keep], self.known[keep], self.total[keep],
                          tuple(p for p, k in zip(self.progress, keep) if k),
                          tuple(e for e in self.events if e[0] in kept))


def read_columns(log: Any) -> LogColumns:
    """A `TrainingLog`, a ``History.history`` dict or a Keras History as `LogColumns`."""
    if isinstance(log, TrainingLog):
        names = list(dict.fromkeys(name for ep in log for name in ep.metrics))
        columns = {n: np.array([ep.metrics.get(n, math.nan) for ep in log], float) for n in names}
        present = {n: np.array([n in ep.metrics for ep in log], bool) for n in names}
        return LogColumns(
            np.array([ep.number for ep in log], int), columns, present,
            np.array([ep.complete for ep in log], bool),
            np.array([getattr(ep, "number_known", True) for ep in log], bool),
            np.array([ep.total or 0 for ep in log], int),
            tuple("" if ep.progress is None else
                  f"{ep.progress}/{'Unknown' if ep.target is None else ep.target}"
                  for ep in log),
            tuple((int(m[1]), m[2]) for m in map(_EVENT_RE.match, getattr(log, "events", ()))
                  if m))
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


def _rate_column(log: LogColumns) -> str | None:
    return next((n for n in _RATE_COLUMNS if n in log.columns), None)


# --------------------------------------------------------------------------
# Kept for callers of earlier versions: the statistics live in lossbounds.curves.

_theil_sen_slope = theil_sen_slope


# --------------------------------------------------------------------------
# One curve


@dataclass
class _Curve:
    """One loss column of one run: its values, its shape and its level."""

    name: str
    numbers: np.ndarray  # epochs with a finite value
    y: np.ndarray
    spikes: list[tuple[int, int]]  # index ranges into y
    clean: np.ndarray  # y without the spike epochs
    clean_numbers: np.ndarray
    frozen: int | None  # index into clean: printing one value from there on
    flat: int | None  # index into clean: no trend beyond the noise from there on
    falling: Trend | None  # still falling at the end
    rising: Trend | None  # a significant rise (whole curve or after its minimum)
    jumps: list[int]  # indices into y of sudden jumps never recovered from

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def moving(self) -> bool:
        """Still trending at the end: its last value is its level."""
        return self.falling is not None or (self.rising is not None and self.rising.first == 0)

    @property
    def level(self) -> float:
        """The final level: the last value of a moving curve, else the median of the last epochs."""
        if self.moving or self.n < LEVEL_EPOCHS:
            return float(self.y[-1])
        return float(np.median(self.y[-LEVEL_EPOCHS:]))

    def level_words(self) -> str:
        """How the level was read, for a message: "epoch 1: 0.9" or "final level 0.8"."""
        if self.n == 1:
            return f"epoch {self.numbers[-1]}: {printed(self.level)}"
        if self.moving or self.n < LEVEL_EPOCHS:
            return f"{printed(self.level)} at epoch {self.numbers[-1]}"
        return f"{printed(self.level)} over the last {LEVEL_EPOCHS} epochs"

    def stalled_since(self) -> int | None:
        """Index into `clean` where it stopped changing (frozen, else flat), or None."""
        return self.frozen if self.frozen is not None else self.flat


def _curve(data: LogColumns, name: str, floor: float) -> _Curve | None:
    if name not in data.columns:
        return None
    numbers, y = data.finite(name)
    if y.size == 0:
        return None
    jumped = jumps(y, floor)
    # After a jump the weights were thrown off: later bumps are part of its aftermath.
    found = [s for s in spikes(y, floor) if not jumped or s[0] < jumped[0]]
    keep = np.ones(y.size, bool)
    for first, last in found:
        keep[first:last + 1] = False
    clean, clean_numbers = y[keep], numbers[keep]
    return _Curve(name, numbers, y, found, clean, clean_numbers,
                  frozen_since(clean, floor), flat_since(clean), still_falling(clean), rise(y),
                  jumped)


# --------------------------------------------------------------------------
# diagnose


def diagnose(log: Any, loss: str | None = None, **options: Any) -> Diagnosis:
    r"""What a training log shows: a verdict, then the findings, most likely cause first.

    Parameters
    ----------
    log : TrainingLog, dict or keras History
        A `lossbounds.logs.TrainingLog` (from `read_keras_log`), a
        ``History.history`` dict of metric lists, or any object with such a
        ``.history`` dict (a Keras ``History``; Keras is not imported).
    loss : str, optional
        The loss name. Without it the trends, the accuracy and the clipping
        plateaus are judged, and a ``no_bounds`` finding says what the loss
        would add.
    **options
        The loss's options, as for `explain` and `lossbounds.bounds`:
        ``n_classes`` (needed for ln K), ``counts``, ``label_smoothing``,
        ``variance``, ... Without a loss only ``n_classes`` is taken: it sets
        the accuracy's chance level, 1/K.

    Returns
    -------
    Diagnosis
        A list of `Finding`, most severe first, and within a severity the most
        likely cause first; ``.verdict`` is one plain sentence to read first.

    Raises
    ------
    TypeError
        If `log` is none of the above, or holds non-numbers; if an option
        other than ``n_classes`` is given without a loss.
    ValueError
        If the log has no epochs or no ``loss`` column, or an option is invalid.

    Notes
    -----
    The kinds, with their severity:

    ==============================  ========  =====================================
    kind                            severity  when
    ==============================  ========  =====================================
    ``nan``, ``inf``                error     a loss column is NaN or infinite
    ``below_best``                  error     below the best case: impossible
    ``above_uniform``               error     worse than guessing, not falling
                                              (warning while it still falls, or
                                              after one epoch)
    ``clipping_plateau``            error     at a clipping ceiling (16.1181, ...)
                                              at the end; warning if it left it
    ``rising_loss``                 warning   the training loss rises
    ``stuck``                       warning   a loss that stopped changing for
                                              most of the run (or prints one value)
    ``spike``                       warning   a sudden jump up and back
    ``overfitting``                 warning   val_loss stopped improving while the
                                              training loss still falls and the
                                              gap grows; or val_loss above guessing
                                              with a val accuracy far above chance
    ``at_uniform``, ``at_prior``    warning   stuck at a baseline (guessing)
    ``above_prior``                 warning   worse than predicting the class balance
    ``double_softmax``              warning   stuck at :math:`\ln(1 + (K-1)/e)`
    ``bce_on_multiclass``           warning   binary cross-entropy with K > 2
    ``accuracy_vs_loss``            warning   an error rate the loss cannot allow
    ``accuracy_on_regression``      warning   an accuracy column on a regression
                                              target: it counts exact matches
    ``perfect_accuracy``            warning   accuracy 1.0000 in every epoch,
                                              training and validation
    ``multi_output_inconsistency``  warning   a total that is not the same weighted
                                              sum of its parts on training and
                                              validation data
    ``above_ceiling``               info      above the clipped worst case, and why
                                              (warning where no logits path exists)
    ``regularisation``              info      above guessing, but the accuracy is
                                              far above chance: something else is in
                                              the loss (penalties, weights, a sum)
    ``still_improving``             info      still falling at the end: train longer
    ``levelled_off``                info      flat at the end after learning
    ``growing_gap``                 info      val_loss - loss grows while both fall
    ``val_below_train``             info      val_loss below loss, explained
    ``separate_runs``               info      the epoch numbers restart: several runs
    ``cut_off``                     info      epochs cut off, left out
    ``unknown_epochs``              info      lines without an ``Epoch N/M`` header
    ``far_better_than_uniform``     info      final loss at most half of guessing
    ``better_than_uniform``         info      final loss between half and guessing
    ``better_than_prior``           info      mean squared error with a variance: R²
    ``no_bounds``                   info      which bounds could not be computed, why
    ==============================  ========  =====================================

    Level findings (baselines, plateaus) read the final level: the last value
    of a curve that is still moving, else the median of its last 3 epochs.
    They apply to ``loss`` and ``val_loss``, but not to a multi-output model's
    ``loss``, which is a weighted sum of several losses. Regularisation
    penalties, class weights and ``reduction="sum"`` change the printed loss,
    not the accuracy: when the two disagree, the accuracy decides.

    See Also
    --------
    explain : one value.
    lossbounds.logs.read_keras_log : read printed ``fit`` output.

    Examples
    --------
    >>> import lossbounds
    >>> history = {"loss": [0.8, 0.5, 0.4, 0.35, 0.32, 0.3],
    ...            "val_loss": [0.7, 0.45, 0.4, 0.38, 0.37, 0.36]}
    >>> found = lossbounds.diagnose(history, "sparse_cce", n_classes=10)
    >>> print(found.verdict)  # doctest: +NORMALIZE_WHITESPACE
    The training loss fell 62% (0.8 to 0.3) and is still falling; val_loss fell 49% (0.7 to
    0.36) and is still falling. Nothing looks wrong: it is still improving, so train longer.
    >>> for f in found:
    ...     print(f.kind, f.severity, f.epochs)
    growing_gap info (1, 2, 3, 4, 5, 6)
    still_improving info (2, 3, 4, 5, 6)
    far_better_than_uniform info (6,)
    >>> [f.kind for f in lossbounds.diagnose({"loss": [0.5, float("nan")]})]
    ['nan', 'no_bounds']
    """
    data = read_columns(log)
    if data.numbers.size == 0:
        raise ValueError("`log` has no epochs: nothing to diagnose. Hint: check that the text "
                         "is the output of model.fit (lines like 'Epoch 1/10').")
    if "loss" not in data.columns:
        raise ValueError(f"`log` has no 'loss' column; it has {', '.join(data.columns)}.")
    if loss is None:
        extra = sorted(set(options) - {"n_classes"})
        if extra:
            raise TypeError(
                f"diagnose got the option(s) {', '.join(map(repr, extra))} without a loss: "
                "they belong to a loss, so give it too, e.g. "
                f"diagnose(log, 'mse', {extra[0]}=...). Without a loss only n_classes is "
                "used (for the accuracy's chance level).")
        k = options.get("n_classes")
        k = None if k is None else check_n_classes(k)
        ys = None
    else:
        ys = yardstick(loss, options)
        k = ys.n_classes
    runs, continued = _runs(data)
    findings: list[Finding] = []
    verdicts = []
    for index, run in enumerate(runs, start=1):
        label = index if len(runs) > 1 else None
        found, said = _diagnose_run(run, ys, k, label)
        findings.extend(found)
        verdicts.append(said)
    findings.extend(_bound_notes(data, ys, k, findings))
    if len(runs) > 1:
        findings.append(_runs_finding(runs))
    elif continued:
        findings.append(_continued_finding(data, continued))
    order = {severity: rank for rank, severity in enumerate(SEVERITIES)}
    findings.sort(key=lambda f: order[f.severity])  # stable: the most likely cause first
    return Diagnosis(findings, _log_verdict(verdicts, findings, len(runs)), len(runs))


# --------------------------------------------------------------------------
# Runs


def run_rows(log: Any) -> list[tuple[list[int], bool]]:
    """How `diagnose` splits a log into runs: each run's rows, and whether it is renumbered.

    A run is renumbered 1, 2, ... when a second fit() call continued it (its
    printed numbers restart inside it); otherwise its findings use the epoch
    numbers as printed. `lossbounds.plot` places findings with this.
    """
    data = log if isinstance(log, LogColumns) else read_columns(log)
    numbers = data.numbers
    restarts = [i for i in range(1, numbers.size) if numbers[i] <= numbers[i - 1]]
    loss = data.columns.get("loss", np.full(numbers.size, math.nan))
    edges = [0, *restarts, numbers.size]
    groups: list[tuple[list[int], bool]] = []
    for start, end in zip(edges, edges[1:]):
        rows = list(range(start, end))
        if groups and _continues(loss, groups[-1][0], rows):
            groups[-1] = (groups[-1][0] + rows, True)
        else:
            groups.append((rows, False))
    return groups


def _runs(data: LogColumns) -> tuple[list[LogColumns], list[int]]:
    """Split at each restart of the epoch numbers into separate runs.

    A restart whose first loss is nearer the previous run's last loss than its
    first continues that run (a second fit() call on the same model: the
    weights were kept); one nearer the first loss starts afresh (a new model).
    Returns the runs and the row indices where a continued run starts.
    """
    groups = run_rows(data)
    if len(groups) == 1 and not groups[0][1]:
        return [data], []
    runs, continued = [], []
    for rows, renumbered in groups:
        keep = np.zeros(data.numbers.size, bool)
        keep[rows] = True
        run = data.rows(keep)
        if renumbered:
            continued += [rows[i] for i in range(1, len(rows))
                          if data.numbers[rows[i]] <= data.numbers[rows[i - 1]]]
            run = LogColumns(np.arange(1, len(rows) + 1), run.columns, run.present,
                             run.complete, run.known, run.total, run.progress, run.events)
        runs.append(run)
    return runs, continued


def _continues(loss: np.ndarray, previous: list[int], rows: list[int]) -> bool:
    before = [v for v in loss[previous] if math.isfinite(v)]
    after = [v for v in loss[rows] if math.isfinite(v)]
    if not before or not after:
        return False
    return abs(after[0] - before[-1]) < abs(after[0] - before[0])


def _runs_finding(runs: list[LogColumns]) -> Finding:
    sizes = ", ".join(f"run {i}: epochs {int(r.numbers[0])}-{int(r.numbers[-1])}"
                      if r.numbers.size > 1 else f"run {i}: epoch {int(r.numbers[0])}"
                      for i, r in enumerate(runs, start=1))
    return Finding("separate_runs", "info", (), {"runs": len(runs)}, (
        f"This log holds {len(runs)} separate training runs: the epoch numbers restart and the "
        "loss starts high again. Each run is diagnosed on its own (findings name their run); "
        "joined into one curve, the restarts would look like jumps."), sizes)


def _continued_finding(data: LogColumns, starts: list[int]) -> Finding:
    epochs = ", ".join(str(int(data.numbers[i])) for i in starts)
    return Finding("separate_runs", "info", (), {"runs": 1}, (
        "The epoch numbers restart, but the loss carries on from where it stopped: a second "
        "fit() call on the same model. It is read as one run, renumbered 1, 2, ... in order."),
        f"restarts at rows {', '.join(str(i + 1) for i in starts)} (printed epoch {epochs})")


# --------------------------------------------------------------------------
# One run


@dataclass
class _Run:
    """What the findings of one run share."""

    data: LogColumns
    ys: Yardstick | None
    k: int | None
    label: int | None
    train: _Curve
    val: _Curve | None
    findings: list[Finding] = field(default_factory=list)

    def add(self, kind: str, severity: str, epochs: Any, values: Mapping[str, float],
            message: str, evidence: str = "") -> Finding:
        finding = Finding(kind, severity, tuple(epochs), values, for_python(message), evidence,
                          self.label)
        self.findings.append(finding)
        return finding

    def has(self, *kinds: str) -> bool:
        return any(f.kind in kinds for f in self.findings)

    @property
    def floor(self) -> float:
        return self.ys.floor if self.ys is not None else 0.0

    def accuracy(self, prefix: str = "") -> tuple[str, np.ndarray, np.ndarray] | None:
        """(column, epochs, values) of the accuracy that goes with the loss, finite only."""
        column = _accuracy_column(self.data, prefix)
        if column is None:
            return None
        numbers, values = self.data.finite(column)
        return (column, numbers, values) if values.size else None

    def chance(self) -> float | None:
        """The accuracy of guessing: 1/K (balanced classes), 1/2 per output for binary losses."""
        if self.ys is not None and self.ys.loss.per == "output":
            return 0.5
        return None if not self.k or self.k < 2 else 1.0 / self.k

    def multi_output(self) -> bool:
        return bool(output_losses(self.data))


def _diagnose_run(data: LogColumns, ys: Yardstick | None, k: int | None,
                  label: int | None) -> tuple[list[Finding], str]:
    notes: list[Finding] = []
    cut = ~data.complete
    if cut.all():
        # Only running means over parts of epochs: no epoch result to judge.
        where = ", ".join(p for p in data.progress if p)
        return [Finding("cut_off", "info", tuple(data.numbers), {"epochs": float(cut.sum())}, (
            "Every epoch here was cut off before its end: the values printed are running means "
            "over part of an epoch, not epoch results, so nothing is judged on them."),
            where, label)], (f"Every epoch was cut off before its end ({where or 'no counter'}): "
                             "no epoch result to judge.")
    if cut.any():
        notes.append(_cut_off_finding(data, cut, label))
        data = data.rows(~cut)
    if not data.known.all():
        notes.append(_unknown_finding(data, label))
    floor = ys.floor if ys is not None else 0.0
    train = _curve(data, "loss", floor)
    run = _Run(data, ys, k, label, train, _curve(data, "val_loss", floor))  # type: ignore[arg-type]
    _nan_findings(run)
    if train is None:  # every training loss is NaN or inf
        return run.findings + notes, _nan_verdict(run)
    if ys is not None and not run.multi_output():
        for curve in (run.train, run.val):
            if curve is not None:
                _impossible_findings(run, curve)
    _plateau_findings(run)
    _level_findings(run)
    _shape_findings(run)
    _validation_findings(run)
    _improving_findings(run)
    _accuracy_findings(run)
    _output_findings(run)
    _position_findings(run)
    return run.findings + notes, _run_verdict(run)


def _cut_off_finding(data: LogColumns, cut: np.ndarray, label: int | None) -> Finding:
    epochs = data.numbers[cut]
    where = ", ".join(f"epoch {int(n)} at {p}" if p else f"epoch {int(n)}"
                      for n, p, c in zip(data.numbers, data.progress, cut) if c)
    return Finding("cut_off", "info", tuple(epochs), {"epochs": float(cut.sum())}, (
        f"{epoch_ranges(epochs).capitalize()} {'was' if cut.sum() == 1 else 'were'} cut off "
        "before the end: the values printed are running means over part of an epoch, not "
        "epoch results, so they are left out."), where, label)


def _unknown_finding(data: LogColumns, label: int | None) -> Finding:
    unknown = data.numbers[~data.known]
    return Finding("unknown_epochs", "info", tuple(unknown), {}, (
        "The first lines of the log have no 'Epoch N/M' header, so their epoch numbers are "
        "unknown; they are numbered 1, 2, ... here in the order printed. (Keras 3 prints no "
        "header when fit runs a single epoch.)"), "", label)


# --------------------------------------------------------------------------
# NaN, impossible values, plateaus


def _loss_columns(data: LogColumns) -> list[str]:
    return [n for n in ("loss", "val_loss", *output_losses(data)) if n in data.columns]


def _nan_findings(run: _Run) -> None:
    data = run.data
    for name in _loss_columns(data):
        values = data.columns[name]
        nan, inf = np.isnan(values) & data.present[name], np.isinf(values)
        for kind, bad in (("nan", nan), ("inf", inf)):
            if bad.any():
                epochs = data.numbers[bad]
                what = "NaN (not a number)" if kind == "nan" else "infinite"
                run.add(kind, "error", epochs, {"first_epoch": epochs[0]},
                        f"{name} is {what} from epoch {epochs[0]}: {NON_FINITE[kind]}")


def _impossible_findings(run: _Run, curve: _Curve) -> None:
    ys = run.ys
    assert ys is not None
    bad = curve.y < ys.floor - PRINT_ATOL - FLOAT32_RTOL * abs(ys.floor)  # as ys.below_best
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        run.add("below_best", "error", curve.numbers[bad], {"value": curve.y[first],
                                                            "best": ys.floor},
                f"{curve.name} at epoch {curve.numbers[first]}: "
                + below_best_reason(float(curve.y[first]), ys))
    worst = ys.bounds.worst if ys.bounds is not None else math.inf
    high = (curve.y > worst + PRINT_ATOL + FLOAT32_RTOL * abs(worst) if math.isfinite(worst)
            else np.zeros(curve.n, bool))  # as yardstick.above_worst
    if high.any() and not any(ys.plateau_at(float(v)) for v in curve.y[high][:1]):
        first = int(np.flatnonzero(high)[0])
        severity = "info" if caches_logits(ys) else "warning"
        run.add("above_ceiling", severity, curve.numbers[high],
                {"value": curve.y[first], "worst": ys.bounds.worst if ys.bounds else math.inf},
                f"{curve.name} at epoch {curve.numbers[first]}: "
                + above_worst_reason(float(curve.y[first]), ys))


def _plateau_findings(run: _Run) -> None:
    plateaus: Sequence[Plateau] = all_plateaus() if run.ys is None else run.ys.plateaus
    for curve in (run.train, run.val):
        if curve is None:
            continue
        for plateau in plateaus:
            at = np.abs(curve.y - plateau.value) <= PLATEAU_ATOL
            if not at.any():
                continue
            severity = "error" if at[-1] else "warning"
            first = int(np.flatnonzero(at)[0])
            run.add("clipping_plateau", severity, curve.numbers[at],
                    {"plateau": plateau.value, "value": curve.y[first]},
                    f"{curve.name} at epoch {curve.numbers[first]}: "
                    + plateau_reason(float(curve.y[first]), plateau))


# --------------------------------------------------------------------------
# Levels: the baselines, read together with the accuracy


def _accuracy_level(run: _Run, prefix: str) -> tuple[str, float] | None:
    found = run.accuracy(prefix)
    if found is None:
        return None
    column, _, values = found
    level = float(np.median(values[-LEVEL_EPOCHS:]))
    return column, level


def _far_above_chance(run: _Run, accuracy: float) -> bool:
    chance = run.chance()
    return chance is not None and 1.0 - accuracy <= FAR_ABOVE_CHANCE * (1.0 - chance)


def _level_findings(run: _Run) -> None:
    ys = run.ys
    if run.multi_output():
        return
    if ys is None:
        _assumed_level_findings(run)
        return
    uniform = ys.uniform
    explained = _explained_by_accuracy(run) if uniform is not None else set()
    for curve in (run.train, run.val):
        if curve is None or curve.name in explained:
            continue
        if run.has("clipping_plateau") and ys.plateau_at(curve.level) is not None:
            continue  # the plateau says it, with its cause
        _baseline_findings(run, curve)
        if curve.name == "loss":
            _double_softmax_findings(run, curve)
        # What the loss reads in a value: at the median of the last epochs, so that one
        # epoch on its way down does not decide it.
        settled = float(np.median(curve.y[-LEVEL_EPOCHS:]))
        for note in ys.loss.value_flags(settled, ys.setting):
            # A note says how serious it is: a negative Poisson loss is normal ("info").
            severity = getattr(note, "severity", "warning")
            run.add(note.code, severity, (int(curve.numbers[-1]),), {"level": settled},
                    f"{curve.name} (median of the last {min(LEVEL_EPOCHS, curve.n)} epochs "
                    f"{printed(settled)}): {note}")


def _explained_by_accuracy(run: _Run) -> set[str]:
    """Curves above (or at) guessing that the other columns explain: say why, not "guessing".

    The accuracy counts right answers; the printed loss also holds whatever
    else was added to it. A model far above chance has learned, so a loss
    that says otherwise is explained by what the loss holds (the training
    loss: penalties, weights, a sum). And a training loss far better than
    guessing shows that the labels match the outputs: a val_loss above
    guessing is then confident mistakes on new data, overfitting.
    """
    ys = run.ys
    assert ys is not None and ys.uniform is not None
    uniform = ys.uniform
    explained: set[str] = set()
    high = {}
    for prefix, curve in (("", run.train), ("val_", run.val)):
        if curve is None or relative(curve.level, uniform) < 0:
            continue
        accuracy = _accuracy_level(run, prefix)
        if accuracy is not None and _far_above_chance(run, accuracy[1]):
            high[curve.name] = (curve, accuracy)
    if run.has("above_ceiling"):
        return {"loss", "val_loss"}  # above the clipped ceiling: that finding names the causes
    if "loss" in high:
        _regularisation_finding(run, high, uniform, ys.uniform_text())
        explained.update(high)
        return explained
    val = run.val
    if val is None or relative(val.level, uniform) < 0:
        return explained
    train_learned = run.train.level <= FAR_BETTER * uniform
    if "val_loss" in high and relative(run.train.level, uniform) < 0 or train_learned:
        _val_above_guessing(run, val, uniform, high.get("val_loss"))
        explained.add("val_loss")
    return explained


def _val_above_guessing(run: _Run, curve: _Curve, uniform: float,
                        accuracy: tuple[_Curve, tuple[str, float]] | None) -> None:
    ys = run.ys
    assert ys is not None
    best = int(np.argmin(curve.y))
    since = (f"val_loss was lowest at epoch {curve.numbers[best]} ({printed(curve.y[best])}) "
             f"and is now {printed(curve.level)}, " if best < curve.n - 1 else
             f"val_loss ({curve.level_words()}) is ")
    values = {"val_loss": curve.level, "loss": run.train.level, "uniform": uniform}
    if accuracy is not None:
        column, val_accuracy = accuracy[1]
        values["val_accuracy"] = val_accuracy
        evidence = (f"although {column} is {printed(val_accuracy)}, far above chance, and the "
                    f"training loss is {printed(run.train.level)}")
    else:
        evidence = (f"while the training loss, {printed(run.train.level)}, is far better than "
                    "guessing (so the labels do match the outputs)")
    run.add("overfitting", "warning", curve.numbers[best:], values, (
        f"{since}above the uniform baseline {ys.uniform_text()}, the loss of guessing, "
        f"{evidence}: the model is confidently wrong on the validation samples it misses. That "
        "is overfitting (memorising the training set), not wrong labels. Keep the weights of "
        "the best val_loss epoch (EarlyStopping(restore_best_weights=True)), or add data, "
        "dropout or weight decay."),
        f"chance accuracy {number(run.chance() or 0.0)}" if accuracy is not None else "")


def _regularisation_finding(run: _Run, high: dict, uniform: float, formula: str,
                            assumed: bool = False) -> None:
    curve, (column, accuracy) = high["loss"]
    also = ""
    if "val_loss" in high:
        val, (val_column, val_accuracy) = high["val_loss"]
        also = (f" So is val_loss ({printed(val.level)}, {val_column} "
                f"{printed(val_accuracy)}): penalties and a sum reduction reach it too.")
    condition = "If the loss is a cross-entropy, " if assumed else ""
    run.add("regularisation", "info", curve.numbers[-1:], {
        "loss": curve.level, "uniform": uniform, "accuracy": accuracy}, (
        f"{condition}the training loss ({curve.level_words()}) is above the uniform baseline "
        f"{formula}, which alone would mean worse than guessing, but {column} is "
        f"{printed(accuracy)}, far above chance: the model has learned. The printed loss "
        "holds more than the data loss: most often regularisation penalties "
        "(kernel_regularizer, activity_regularizer add to loss and val_loss and grow with the "
        "weights), else class_weight or sample weights above 1, or reduction='sum'; or the "
        f"model is confidently wrong on the few samples it misses.{also} "
        "Judge the model by its accuracy and by the trend of the loss, not by its level."),
        f"chance accuracy {number(run.chance() or 0.0)}")


def _assumed_level_findings(run: _Run) -> None:
    """Without a loss but with K and an accuracy: the one reading K allows."""
    if not run.k or run.k < 2:
        return
    uniform = math.log(run.k)
    high = {}
    for prefix, curve in (("", run.train), ("val_", run.val)):
        if curve is None or relative(curve.level, uniform) < 0:
            continue
        accuracy = _accuracy_level(run, prefix)
        if accuracy is not None and _far_above_chance(run, accuracy[1]):
            high[curve.name] = (curve, accuracy)
    if "loss" in high:
        _regularisation_finding(run, high, uniform, f"ln {run.k} = {number(uniform)}",
                                assumed=True)


def _baseline_findings(run: _Run, curve: _Curve) -> None:
    ys = run.ys
    assert ys is not None
    level, uniform = curve.level, ys.uniform
    if uniform is not None:
        where = relative(level, uniform)
        if where > 0:  # then above the prior too: one finding
            _above_uniform(run, curve)
            return
        at = _trailing(_relative(curve.y, uniform) == 0)
        if where == 0 and at.size >= min(AT_LEVEL_EPOCHS, curve.n):
            run.add("at_uniform", "warning", curve.numbers[at], {"level": level,
                                                                 "uniform": uniform}, (
                        f"{curve.name} stays at the uniform baseline {ys.uniform_text()} "
                        f"({curve.level_words()}): the model predicts (almost) the same for every "
                        "input, as an untrained or dead network does. Check the learning rate "
                        "(not far too small?), dead ReLUs, and that the inputs carry information "
                        "(scaled, not all zeros)."))
    flag = prior_flag(level, ys)
    if flag is not None and flag.kind == "at_prior" and ys.prior is not None:
        at = _trailing(_relative(curve.y, ys.prior) == 0)
        if at.size < min(AT_LEVEL_EPOCHS, curve.n):
            flag = None  # passing through on its way down
    if flag is not None:
        kind = "at_prior" if flag.kind == "at_prior" else "above_prior"
        run.add(kind, "warning", curve.numbers[-1:], {"level": level, "prior": ys.prior or 0.0},
                f"{curve.name} ({curve.level_words()}): {flag.reason}")


def _above_uniform(run: _Run, curve: _Curve) -> None:
    ys = run.ys
    assert ys is not None and ys.uniform is not None
    above = _trailing(_relative(curve.y, ys.uniform) > 0)
    epochs = curve.numbers[above] if above.size else curve.numbers[-1:]
    values = {"level": curve.level, "uniform": ys.uniform}
    falling = curve.falling is not None or (curve.n >= MIN_TREND_EPOCHS and fall(curve.y))
    if curve.n == 1:
        run.add("above_uniform", "warning", epochs, values, (
            f"{curve.name} is above the uniform baseline {ys.uniform_text()} after one epoch "
            f"({printed(curve.level)}): worse than guessing so far. Too early to judge: if it "
            "stays above, check the labels (do they match the outputs?) and the loss."))
    elif falling:
        run.add("above_uniform", "warning", epochs, values, (
            f"{curve.name} is still above the uniform baseline {ys.uniform_text()} "
            f"({curve.level_words()}): worse than guessing, though still falling. Train longer; "
            "if it stays above, check the labels (do they match the outputs?), the input "
            "scaling and the loss."))
    else:
        run.add("above_uniform", "error", epochs, values, (
            f"{curve.name} stays above the uniform baseline {ys.uniform_text()} "
            f"({curve.level_words()}) and no longer falls: worse than guessing. Check the labels "
            "(do they match the outputs: 0..K-1, one-hot or integer?), the loss, and lower the "
            "learning rate."))


def _relative(y: np.ndarray, base: float) -> np.ndarray:
    """`yardstick.relative` for a whole curve: -1, 0 or 1 per epoch."""
    near = np.abs(y - base) <= BASELINE_RTOL * abs(base) + PRINT_ATOL
    return np.where(near, 0, np.where(y > base, 1, -1))


def _trailing(mask: np.ndarray) -> np.ndarray:
    """Indices of the run of True at the end of `mask`."""
    false = np.flatnonzero(~mask)
    start = false[-1] + 1 if false.size else 0
    return np.arange(start, mask.size)


def _double_softmax_findings(run: _Run, curve: _Curve) -> None:
    ys = run.ys
    assert ys is not None
    floor = ys.double_softmax
    if floor is None:
        return
    level = curve.level
    if not (curve.y.min() >= floor - PRINT_ATOL and level <= floor * (1 + BASELINE_RTOL)):
        return
    at = _trailing(curve.y <= floor * (1 + BASELINE_RTOL))
    if at.size < min(AT_LEVEL_EPOCHS, curve.n):
        return  # passing through on its way down
    run.add("double_softmax", "warning", curve.numbers[at], {"level": level, "floor": floor},
            "loss: " + double_softmax_reason(level, ys))


# --------------------------------------------------------------------------
# Shapes: rising, stuck, spikes, still improving


def _shape_findings(run: _Run) -> None:
    train = run.train
    if train.rising is not None:
        _rising_finding(run, train, train.rising)
    # The training loss only: a spike there is the optimiser jumping. val_loss alone
    # jumps with an unlucky or small validation set, which is no training problem.
    for first, last in train.spikes:
        _spike_finding(run, train, first, last)
    if not run.has("clipping_plateau", "nan", "inf"):  # those say where the jump went, and why
        for at in train.jumps:
            _jump_finding(run, train, at)
    _stuck_findings(run)


def _rising_finding(run: _Run, curve: _Curve, trend: Trend) -> None:
    y, numbers = curve.y, curve.numbers
    start, end = trend.first, y.size - 1
    origin = f"{printed(y[start])} (epoch {numbers[start]})"
    origin = f"its lowest value, {origin}," if start else origin
    run.add("rising_loss", "warning", numbers[start:], {
        "start": y[start], "end": y[end], "rise": trend.change, "noise": trend.noise,
        "kendall_tau": trend.tau, "p_value": trend.p_value}, (
        f"The training loss rose from {origin} to {printed(y[end])} (epoch {numbers[end]}). "
        "A training loss should fall; when it rises the optimiser is unstable, usually a "
        f"learning rate too high: try it 10 times smaller.{_rate_words(run, start)}"),
        f"a steady trend of +{number(trend.change)}, {trend.units:.1f} times the epoch-to-epoch "
        f"noise {number(trend.noise)}; Kendall τ = {trend.tau:.2f}, p = {trend.p_value:.2g}")


def _rate_lowered(run: _Run, since: int) -> tuple[int, float, float] | None:
    """(cuts, last, first) of a logged learning rate lowered from epoch `since` on, or None.

    From the learning-rate column when the log has one, else from the notes
    ReduceLROnPlateau printed ("reducing learning rate to 0.0005"; the rate
    before the first cut is then unknown, NaN).
    """
    column = _rate_column(run.data)
    if column is None:
        noted = [float(m[1].rstrip(".")) for epoch, text in run.data.events if epoch >= since
                 for m in [_RATE_CUT_RE.search(text)] if m and _is_number(m[1])]
        return (len(noted), noted[-1], math.nan) if noted else None
    numbers, rates = run.data.finite(column)
    rates = rates[numbers >= since]
    cuts = int(np.sum(np.diff(rates) < 0)) if rates.size > 1 else 0
    if not cuts or not rates[-1] < rates[0]:
        return None
    return cuts, float(rates[-1]), float(rates[0])


def _rate_change_at(run: _Run, epoch: int) -> str:
    """" The learning rate was 10 in epoch 7, 200 times the 0.05 before." (or "")."""
    column = _rate_column(run.data)
    if column is None:
        return ""
    numbers, rates = run.data.finite(column)
    at = np.flatnonzero(numbers == epoch)
    if at.size == 0 or at[0] == 0 or not rates[at[0] - 1] > 0:
        return ""
    now, before = float(rates[at[0]]), float(rates[at[0] - 1])
    if now <= before:
        return ""
    return (f" The learning rate was {number(now)} in epoch {epoch}, {number(now / before)} "
            f"times the {number(before)} before.")


def _is_number(text: str) -> bool:
    try:
        float(text.rstrip("."))
    except ValueError:
        return False
    return True


def _rate_words(run: _Run, start: int) -> str:
    """What the logged learning rate did from row `start` on, as a sentence (or "")."""
    column = _rate_column(run.data)
    if column is None:
        return ""
    numbers, rates = run.data.finite(column)
    rates = rates[numbers >= run.train.numbers[min(start, run.train.n - 1)]]
    if rates.size < 2 or rates[-1] == rates[0]:
        return ""
    cuts = int(np.sum(np.diff(rates) < 0))
    if rates[-1] < rates[0]:
        return (f" The learning rate was lowered {cuts} time{'s' if cuts != 1 else ''} meanwhile "
                f"({number(rates[0])} to {number(rates[-1])}).")
    return f" The learning rate rose meanwhile ({number(rates[0])} to {number(rates[-1])})."


def _spike_finding(run: _Run, curve: _Curve, first: int, last: int) -> None:
    y, numbers = curve.y, curve.numbers
    top = first + int(np.argmax(y[first:last + 1]))
    val = ""
    if run.val is not None and any(run.val.numbers[a] <= numbers[top] <= run.val.numbers[b]
                                   for a, b in run.val.spikes):
        val = " val_loss jumped with it."
    run.add("spike", "warning", numbers[first:last + 1], {
        "before": y[first - 1], "peak": y[top], "after": y[last + 1]}, (
        f"{curve.name} jumped from {printed(y[first - 1])} (epoch {numbers[first - 1]}) to "
        f"{printed(y[top])} (epoch {numbers[top]}) and came back to "
        f"{printed(y[last + 1])} (epoch {numbers[last + 1]}): a spike.{val}"
        f"{_rate_change_at(run, numbers[first])} One is harmless; if "
        "they recur, the learning rate is at the edge of stability or some batches hold "
        "outliers (unscaled inputs, bad labels): lower the learning rate or clip the gradients "
        "(optimizer clipnorm=1.0)."),
        f"jumps of more than {NOISE_UNITS:g} times the epoch-to-epoch noise "
        f"{number(noise(y))}")


def _jump_finding(run: _Run, curve: _Curve, at: int) -> None:
    y, numbers = curve.y, curve.numbers
    run.add("spike", "warning", numbers[at:], {"before": y[at - 1], "after": y[at],
                                               "end": y[-1]}, (
        f"{curve.name} jumped from {printed(y[at - 1])} (epoch {numbers[at - 1]}) to "
        f"{printed(y[at])} (epoch {numbers[at]}) and has not come back (it is {printed(y[-1])} "
        f"at epoch {numbers[-1]}): one update threw the weights far off."
        f"{_rate_change_at(run, numbers[at])} "
        "Lower the learning rate (or its peak, with a schedule), clip the gradients "
        "(optimizer clipnorm=1.0), and look for outliers in the inputs."),
        f"a jump of more than {NOISE_UNITS:g} times the epoch-to-epoch noise "
        f"{number(noise(y))}, at least doubling the loss")


def _stalled(curve: _Curve) -> tuple[int, bool] | None:
    """(index into clean, frozen?) where the curve stopped changing, if it has for long:
    it prints one value, never moved, or has been flat for at least half the run (more
    epochs without improving than with)."""
    if curve.frozen is not None:
        return curve.frozen, True
    if curve.flat is not None:
        length = curve.clean.size - curve.flat
        if curve.flat == 0 or 2 * length >= curve.clean.size:
            return curve.flat, False
    y = curve.clean
    # Barely moved: the whole run within 1% of its level (the tolerance of "at a baseline").
    if y.size >= MIN_TREND_EPOCHS and float(np.ptp(y)) <= BASELINE_RTOL * abs(float(np.median(y))):
        return 0, False
    return None


def _fell_far(run: _Run, curve: _Curve, start: int) -> bool:
    """Did the curve get far from where it started before it stopped (at most half as far
    from the best case; or at most half the uniform baseline, when that is known)?"""
    level = float(np.median(curve.clean[start:]))
    if run.ys is not None and run.ys.uniform is not None and run.ys.uniform > 0:
        return level <= FAR_BETTER * run.ys.uniform
    first, floor = float(curve.clean[0]), run.floor
    return start > 0 and first > floor and level - floor <= FAR_BETTER * (first - floor)


def _stuck_findings(run: _Run) -> None:
    """Stuck (no progress where progress is needed) or levelled off (converged)."""
    train = run.train
    if run.has("rising_loss"):
        return  # a rising loss is not stuck, even where it stays high
    stalled = _stalled(train)
    if stalled is None or (stalled[0] > 0 and _fell_far(run, train, stalled[0])):
        start = train.frozen if train.frozen is not None else train.flat
        if start is not None and start > 0:
            _levelled_finding(run, train, start)
        return
    if run.has("at_uniform", "at_prior", "double_softmax", "clipping_plateau", "regularisation",
               "above_uniform"):
        return  # the level finding names the cause
    _stuck_finding(run, train, *stalled)
    val = run.val
    if val is not None:
        val_stalled = _stalled(val)
        if val_stalled is not None:
            _stuck_finding(run, val, *val_stalled)


def _stuck_finding(run: _Run, curve: _Curve, start: int, frozen: bool) -> None:
    numbers, y = curve.clean_numbers, curve.clean
    epochs = numbers[start:]
    span = f"{printed(float(y[start:].min()))}-{printed(float(y[start:].max()))}"
    since = f"epoch {numbers[start]}"
    before = ""
    if start > 0 and y[0] > y[start]:
        before = (f" It had fallen {percent(1 - float(np.median(y[start:])) / y[0])} before "
                  f"(from {printed(y[0])}).") if y[0] > 0 else ""
    lowered = _rate_lowered(run, numbers[0])
    if frozen:
        if lowered:
            cause = (f"the learning rate was lowered to {number(lowered[1])}, at which the "
                     "weights barely move: training has in effect stopped")
        else:
            cause = ("the gradients are zero: a saturated output (tanh or sigmoid on targets "
                     "outside its range, which a linear output or scaled targets fixes), dead "
                     "ReLUs, frozen layers, or a learning rate of 0")
        message = (f"{curve.name} has printed the same value, {printed(y[-1])}, since {since} "
                   f"({len(epochs)} epochs): the weights no longer change it. Most likely "
                   f"{cause}.")
        evidence = f"{len(epochs)} identical values"
    else:
        if lowered:
            span = (f"to {number(lowered[1])}" if math.isnan(lowered[2])
                    else f"{number(lowered[2])} to {number(lowered[1])}")
            advice = (f"The learning rate was lowered {lowered[0]} time"
                      f"{'s' if lowered[0] != 1 else ''} ({span}) without helping: the model "
                      "has learned what it can from these inputs. A larger model, better "
                      "features, or check the labels; more epochs will not help.")
        else:
            advice = ("More epochs will not help at this learning rate: lower it "
                      "(ReduceLROnPlateau); if that does not help either, the model has learned "
                      "what it can from these inputs (a larger model, better features, or check "
                      "the labels).")
        message = (f"{curve.name} has stopped improving since {since} ({len(epochs)} epochs "
                   f"within {span}, no trend).{before} {advice}")
        stretch = y[start:]
        change = theil_sen_slope(stretch) * (stretch.size - 1)
        evidence = (f"fitted change {number(change)}, within {NOISE_UNITS:g} times the "
                    f"epoch-to-epoch noise {number(noise(stretch))}")
        if start == 0:
            moved = abs(float(y[-1]) - float(y[0])) / max(abs(float(y[0])), 1e-12)
            message = (f"{curve.name} has barely changed in {len(epochs)} epochs ({printed(y[0])} "
                       f"to {printed(y[-1])}, {percent(moved)}; all within {span}): nothing is "
                       "being learned. Check that the output can reach the targets (a tanh or "
                       "sigmoid output saturates on targets outside its range: use a linear "
                       "output or scale the targets), that the model has trainable weights, that "
                       "the learning rate is not far too small, and that predictions and targets "
                       "have the same shape (an output of shape (batch,) against targets "
                       "(batch, 1) broadcasts to (batch, batch)).")
    run.add("stuck", "warning", epochs, {"start_epoch": numbers[start], "level": float(
        np.median(y[start:]))}, message, evidence)


def _levelled_finding(run: _Run, curve: _Curve, start: int) -> None:
    numbers, y = curve.clean_numbers, curve.clean
    level = float(np.median(y[start:]))
    fallen = (f", having fallen {percent(1 - level / y[0])}" if y[0] > 0 and 0 <= level < y[0]
              else "")
    stop = ""
    if y.size - start >= MIN_TREND_EPOCHS * 2:
        stop = (f" It has not improved for {y.size - start} epochs: "
                "EarlyStopping(restore_best_weights=True) would have saved them.")
    lowered = _rate_lowered(run, numbers[start])
    advice = ("Lower the learning rate to go further, or stop here." if not lowered else
              f"The learning rate was lowered {lowered[0]} time{'s' if lowered[0] != 1 else ''} "
              f"meanwhile (to {number(lowered[1])}) without moving it: stop here.")
    run.add("levelled_off", "info", numbers[start:], {"start_epoch": numbers[start],
                                                      "level": level}, (
        f"{curve.name} levelled off at about {printed(level)} after epoch {numbers[start]}"
        f"{fallen}: it has converged. {advice}{stop}"),
        f"no trend beyond the noise over the last {y.size - start} epochs")


def _improving_findings(run: _Run) -> None:
    train, val = run.train, run.val
    if run.has("rising_loss", "at_uniform", "at_prior", "double_softmax", "clipping_plateau",
               "stuck") or any(f.severity == "error" for f in run.findings):
        return  # "train longer" is no advice for a broken run, nor one stuck at a level
    if val is not None and val.n >= 3:
        # Keep training while val_loss keeps reaching new lows and something still falls.
        if val.y[-1] > float(np.min(val.y)):
            return
        trend = val.falling or train.falling
        curve = val if val.falling is not None else train
    else:
        trend, curve = train.falling, train
    if trend is None:
        return
    numbers = curve.clean_numbers
    start = trend.first
    first, last = float(curve.clean[start]), float(curve.clean[-1])
    total = run.data.total[-1] if run.data.total.size else 0
    ends = int(run.data.numbers[-1])
    stopped = next((epoch for epoch, text in run.data.events if "early stopping" in text), None)
    if stopped is not None:
        advice = (f"EarlyStopping ended training at epoch {stopped} all the same: its min_delta "
                  "or patience asks for more than the progress the loss still makes. Loosen "
                  "them to train longer.")
    elif total and ends < total:
        advice = (f"The log stops at epoch {ends} of {total}: the remaining epochs should help.")
    else:
        advice = "Train longer: more epochs should lower it further."
    gap = ""
    if val is not None and curve is val and run.has("growing_gap"):
        gap = " val_loss - loss is growing, so watch val_loss and stop when it stops falling."
    run.add("still_improving", "info", numbers[start:], {
        "start": first, "end": last, "change": trend.change, "noise": trend.noise}, (
        f"{curve.name} was still falling when the log ends: epoch {numbers[-1]} is its lowest "
        f"so far ({printed(last)}, from {printed(first)} at epoch {numbers[start]}). "
        f"{advice}{gap}"),
        f"fitted change {number(trend.change)} over the last {numbers.size - start} epochs, "
        f"{trend.units:.1f} times the epoch-to-epoch noise {number(trend.noise)}")


# --------------------------------------------------------------------------
# Validation: overfitting, the gap, val below train


def _validation_findings(run: _Run) -> None:
    val = run.val
    if val is None or run.has("overfitting"):
        if val is not None:
            _val_below_finding(run)
        return
    both = np.isfinite(run.data.columns["loss"]) & np.isfinite(run.data.columns["val_loss"])
    numbers = run.data.numbers[both]
    t, v = run.data.columns["loss"][both], run.data.columns["val_loss"][both]
    if numbers.size >= 2:
        if not _overfitting(run, numbers, t, v):
            _gap_finding(run, numbers, t, v)
        _val_below_finding(run)


def _overfitting(run: _Run, numbers: np.ndarray, train: np.ndarray, val: np.ndarray) -> bool:
    """Overfitting: val_loss stopped improving while the training loss still improves.

    Either val_loss rises significantly after its lowest epoch while the
    training loss does not rise; or val_loss's lowest epoch is behind it, the
    training loss is still improving (at its lowest at the end, or more than
    NOISE_UNITS noise units below where it was at val_loss's best), val_loss
    is above it, and the gap between them has grown significantly.
    """
    best, end = int(np.argmin(val)), val.size - 1
    if best == end:
        return False  # val_loss still reaches new lows
    val_rise = rise(val)
    gap = rise(val - train)
    # The training loss still improves: it is at its lowest, or far below where it was
    # when val_loss was best.
    train_improves = train[-1] < train[best] and (
        train[-1] <= float(np.min(train))
        or train[best] - train[-1] > NOISE_UNITS * noise(train[best:]))
    if val_rise is not None and kendall_tau(train[val_rise.first:]) <= 0:
        evidence = (f"val_loss rose {number(val_rise.change)} after its lowest epoch, "
                    f"{val_rise.units:.1f} times its epoch-to-epoch noise "
                    f"{number(val_rise.noise)}; Kendall τ = {val_rise.tau:.2f}, "
                    f"p = {val_rise.p_value:.2g}")
    elif gap is not None and train_improves and val[end] > train[end]:
        evidence = (f"val_loss - loss grew by {number(gap.change)}, {gap.units:.1f} times its "
                    f"epoch-to-epoch noise {number(gap.noise)}; Kendall τ = {gap.tau:.2f}, "
                    f"p = {gap.p_value:.2g}")
    else:
        return False
    run.add("overfitting", "warning", numbers[best:], {
        "best_val_loss": val[best], "best_epoch": numbers[best], "val_loss": val[end],
        "loss": train[end], "gap_start": val[best] - train[best], "gap_end": val[end] - train[end]},
        (f"val_loss was lowest at epoch {numbers[best]} ({printed(val[best])}) and has not "
         f"improved since (it is {printed(val[end])} at epoch {numbers[end]}), while the "
         f"training loss kept falling (to {printed(train[end])}): the model is memorising the "
         f"training set (overfitting). Keep the weights of epoch {numbers[best]} "
         "(EarlyStopping(restore_best_weights=True)), or add data, dropout or weight decay."),
        evidence)
    return True


def _gap_finding(run: _Run, numbers: np.ndarray, train: np.ndarray, val: np.ndarray) -> None:
    """val_loss above loss, both falling, the gap growing: not overfitting yet."""
    gap = rise(val - train)
    if gap is None or val[-1] <= train[-1] or kendall_tau(train[gap.first:]) >= 0:
        return
    start, end = gap.first, val.size - 1
    run.add("growing_gap", "info", numbers[start:], {
        "gap_start": val[start] - train[start], "gap_end": val[end] - train[end],
        "rise": gap.change, "noise": gap.noise, "kendall_tau": gap.tau, "p_value": gap.p_value}, (
        f"val_loss - loss grew from {number(val[start] - train[start])} (epoch {numbers[start]}) "
        f"to {number(val[end] - train[end])} (epoch {numbers[end]}): the model improves on the "
        "training data faster than on new data. While val_loss still falls this is not "
        "overfitting; watch val_loss and stop when it stops falling."),
        f"a steady trend of +{number(gap.change)}, {gap.units:.1f} times the epoch-to-epoch "
        f"noise {number(gap.noise)}; Kendall τ = {gap.tau:.2f}, p = {gap.p_value:.2g}")


def _val_below_finding(run: _Run) -> None:
    both = np.isfinite(run.data.columns["loss"]) & np.isfinite(run.data.columns["val_loss"])
    numbers = run.data.numbers[both]
    train, val = run.data.columns["loss"][both], run.data.columns["val_loss"][both]
    below = val < train
    if below.size < 2 or not (below.mean() > 0.5 and below[-1]):
        return
    end = val.size - 1
    causes = ("the loss Keras prints is the mean over the epoch, while the weights were still "
              "improving, but val_loss is computed at the end, with the final weights; and "
              "dropout or augmentation, where a model has them, act only in training")
    if val[end] < 0.6 * train[end]:
        causes += "; a gap this large can also mean the validation data is easier than the training data"
    run.add("val_below_train", "info", numbers[below], {
        "loss": train[end], "val_loss": val[end], "gap": val[end] - train[end],
        "fraction_of_epochs": below.mean()}, (
        f"val_loss ({printed(val[end])}) is below loss ({printed(train[end])}) in "
        f"{int(below.sum())} of {below.size} epochs. This is normal, not a bug: {causes}."))


# --------------------------------------------------------------------------
# The accuracy


def _accuracy_findings(run: _Run) -> None:
    if run.accuracy() is None and run.accuracy("val_") is None:
        return
    _perfect_accuracy(run)
    if _accuracy_on_regression(run):
        return
    ys = run.ys
    if ys is None or ys.wrong is None or run.multi_output():
        return
    for prefix in ("", "val_"):
        found = run.accuracy(prefix)
        name = prefix + "loss"
        if found is None or name not in run.data.columns:
            continue
        column = found[0]
        loss_, acc = run.data.columns[name], run.data.columns[column]
        keep = np.isfinite(loss_) & np.isfinite(acc)
        bound = np.array([ys.error_bound(float(v)) for v in loss_[keep]], float)
        bad = (1.0 - acc[keep]) > bound + ACCURACY_ATOL
        if not bad.any():
            continue
        epochs = run.data.numbers[keep][bad]
        i = int(np.flatnonzero(bad)[0])
        run.add("accuracy_vs_loss", "warning", epochs, {
            "accuracy": acc[keep][i], "loss": loss_[keep][i], "error_rate_bound": bound[i]}, (
            f"At epoch {epochs[0]}, {column} {printed(acc[keep][i])} means "
            f"{percent(1 - acc[keep][i])} errors, but a {ys.loss.name} of "
            f"{printed(loss_[keep][i])} allows at most {percent(bound[i])}: the loss name or "
            "its options do not match this model (or sample or class weights below 1 shrink "
            "the loss)."))


def _perfect_accuracy(run: _Run) -> None:
    columns = [found for found in (run.accuracy(), run.accuracy("val_")) if found is not None]
    if not columns or min(found[2].size for found in columns) < MIN_FROZEN_EPOCHS:
        return
    if not all(np.all(found[2] >= PERFECT_ACCURACY) for found in columns):
        return
    if run.train.level <= run.floor + PRINT_ATOL:
        return  # a perfect model with a loss at its best case: nothing odd
    names = " and ".join(found[0] for found in columns)
    run.add("perfect_accuracy", "warning", run.data.numbers, {}, (
        f"{names} {'are' if len(columns) > 1 else 'is'} 1.0000 in every epoch while the loss "
        f"still moves ({printed(run.train.y[0])} to {printed(run.train.y[-1])}): right "
        "on every sample from the start is rare on a real task. Check that the labels are not "
        "all one class (segmentation masks that are all background, masks stored as 0/255, "
        "one label repeated): count them (numpy.unique(y, return_counts=True)). For a rare "
        "class, measure precision and recall, or dice/IoU, not accuracy."))


def _accuracy_on_regression(run: _Run) -> bool:
    """An accuracy column on a regression target: it counts exact matches."""
    found = [f for f in (run.accuracy(), run.accuracy("val_")) if f is not None]
    highest = max(float(np.max(f[2])) for f in found)
    if highest >= 0.5:
        return False  # a classifier gets most samples right; exact matches stay rare
    ys, train = run.ys, run.train
    column, numbers, acc = found[0]
    if ys is not None:
        if not ys.loss.predicts_values():
            return False
        why = f"the loss, {ys.loss.name}, is a regression loss"
    else:
        reason = _not_a_classifier_loss(run, found[0])
        if reason is None:
            return False
        why = reason
    run.add("accuracy_on_regression", "warning", numbers, {
        "accuracy": float(acc[-1]), "loss": train.level}, (
        f"{column} stays at {printed(float(np.min(acc)))}-{printed(highest)} and says "
        f"nothing here: {why}. On continuous targets Keras' accuracy counts predictions that "
        "equal the target exactly (after rounding), which almost none do, however good the fit. "
        "Remove metrics=['accuracy'] and judge the loss, or add an error in the target's units "
        "(mean absolute error)."))
    return True


def _not_a_classifier_loss(run: _Run, found: tuple[str, np.ndarray, np.ndarray]) -> str | None:
    """Without a loss name: why these numbers cannot be a classifier's loss and accuracy."""
    column, numbers, acc = found
    loss_ = run.data.columns["loss"]
    keep = np.isin(run.data.numbers, numbers) & np.isfinite(loss_)
    values = loss_[keep]
    if values.size == 0:
        return None
    ceiling = max(p.value for p in all_plateaus() if p.value < 20)
    if float(np.min(values)) > ceiling:
        return (f"a loss of {printed(float(np.min(values)))} and more is above "
                f"{number(ceiling)}, the most a cross-entropy of clipped probabilities can "
                "cost even when every sample is confidently wrong, so the loss is probably a "
                "regression loss on targets of this scale (give the loss name to be sure)")
    errors = 1.0 - acc
    allowed = np.minimum(1.0, values[-acc.size:] / math.log(2)) if values.size >= acc.size else None
    if allowed is not None and np.all(errors > allowed + ACCURACY_ATOL):
        return (f"if it were a cross-entropy, a loss of {printed(float(values[-1]))} would "
                f"allow at most {percent(float(allowed[-1]))} errors (a wrong answer costs at "
                f"least ln 2), not {percent(float(errors[-1]))}, so the loss is probably a "
                "regression loss (give the loss name to be sure)")
    return None


# --------------------------------------------------------------------------
# Several outputs


def _output_findings(run: _Run) -> None:
    parts = output_losses(run.data)
    if not parts:
        return
    run.add("no_bounds", "info", (), {}, (
        f"This model has several outputs ({', '.join(parts)}): 'loss' is their weighted sum, "
        "not one loss, so it is not compared with any loss's bounds. Explain each output's "
        "final loss on its own: lossbounds explain VALUE LOSS."))
    columns = run.data.columns
    val_parts = [f"val_{p}" for p in parts if f"val_{p}" in columns]
    if "val_loss" not in columns or len(val_parts) != len(parts):
        return
    ratios = {}
    for total, names in (("loss", parts), ("val_loss", val_parts)):
        summed = np.sum([columns[n] for n in names], axis=0)
        ratio = columns[total] / np.where(summed > 0, summed, np.nan)
        finite = ratio[np.isfinite(ratio) & (ratio > 0)]
        if finite.size == 0:
            return
        ratios[total] = (float(np.median(finite)), float(np.median(summed[np.isfinite(ratio)])),
                         float(np.median(columns[total][np.isfinite(ratio)])))
    train_ratio, val_ratio = ratios["loss"][0], ratios["val_loss"][0]
    if max(train_ratio, val_ratio) / min(train_ratio, val_ratio) <= TOTAL_RATIO_LIMIT:
        return
    _, val_sum, val_total = ratios["val_loss"]
    _, train_sum, train_total = ratios["loss"]
    run.add("multi_output_inconsistency", "warning", run.data.numbers, {
        "train_ratio": train_ratio, "val_ratio": val_ratio}, (
        f"val_loss ({printed(val_total)}) is not the weighted sum of its parts, which add "
        f"up to {printed(val_sum)}, the way loss ({printed(train_total)}) is of its parts "
        f"({printed(train_sum)}): the same loss weights would give the same ratio. The "
        "totals and the per-output losses are computed differently (a custom train_step or "
        "test_step, a loss that reads the wrong output, per-output metrics named like losses): "
        "find which of the two is wrong before trusting either."),
        f"total / sum of parts: {number(train_ratio)} on training data, {number(val_ratio)} on "
        "validation data")


# --------------------------------------------------------------------------
# What the bounds could not say, and where the loss stands


def _bound_notes(data: LogColumns, ys: Yardstick | None, k: int | None,
                 findings: list[Finding]) -> list[Finding]:
    """What the bounds could not say, once for the whole log."""
    if ys is None:
        regression = any(f.kind == "accuracy_on_regression" for f in findings)
        return [Finding("no_bounds", "info", (), {}, _no_loss_message(data, k, regression))]
    notes = []
    if ys.missing is not None and not output_losses(data):
        notes.append(Finding("no_bounds", "info", (), {}, f"Not computed: {ys.missing}."))
    for note in ys.loss.flags(ys.setting):
        values = {"n_classes": ys.n_classes or 0, "uniform": ys.uniform or 0.0}
        notes.append(Finding(note.code, "warning", (), values,
                             for_python(note[0].upper() + note[1:])))
    return notes


def _no_loss_message(data: LogColumns, k: int | None, regression: bool) -> str:
    accuracy = _accuracy_column(data)
    given = (f"n_classes={k} sets the accuracy's chance level, 1/{k}; " if k else "")
    if accuracy is not None and not regression:
        hint = (f"{given}the log shows accuracy ('{accuracy}'), so this is a classifier: give "
                "its loss and K, as in diagnose(log, 'sparse_categorical_crossentropy', "
                "n_classes=K) to compare it with ln K (or 'categorical_crossentropy', "
                "'binary_crossentropy')")
    else:
        hint = (f"{given}give the loss, as in diagnose(log, 'binary_crossentropy'), to compare "
                "it with its baselines; for mean squared error diagnose(log, 'mse', "
                "variance=V) with the target variance V gives R²")
    return (f"No loss name given, so the best case, the baselines and the worst case could not "
            f"be computed (the trends, the accuracy and the clipping plateaus were checked): "
            f"{hint}.")


def _position_findings(run: _Run) -> None:
    ys, train = run.ys, run.train
    if ys is None or run.multi_output():
        return
    if any(f.severity == "error" for f in run.findings) or run.has(
            "above_uniform", "at_uniform", "at_prior", "above_prior", "regularisation",
            "above_ceiling", "accuracy_on_regression"):
        return  # the numbers below would describe a value already explained
    final, epoch = float(train.y[-1]), int(train.numbers[-1])
    if ys.uniform is not None and ys.uniform > 0:
        fraction = final / ys.uniform
        kind = "far_better_than_uniform" if fraction <= FAR_BETTER else "better_than_uniform"
        values = {"loss": final, "uniform": ys.uniform, "fraction_of_uniform": fraction}
        message = (f"The final training loss {printed(final)} (epoch {epoch}) is "
                   f"{share(fraction)} the uniform baseline {ys.uniform_text()}, "
                   f"{ys.uniform_meaning()}: {verdict(final, ys.uniform)}.")
        evidence = []
        perplexity = ys.loss.measures(final, ys.prior).get("perplexity")
        if perplexity is not None:
            values["perplexity"] = perplexity
            evidence.append(f"perplexity exp({printed(final)}) = {number(perplexity)}: it "
                            f"hesitates among about {number(perplexity)} "
                            f"{ys.loss.choices(ys.setting)}")
            bound = ys.error_bound(final)
            if bound is not None and bound < 1:
                values["error_rate_bound"] = bound
                evidence.append(f"the loss alone caps the training error rate at {percent(bound)}")
        run.add(kind, "info", (epoch,), values, message, "; ".join(evidence))
        return
    r2 = ys.loss.measures(final, ys.prior).get("r2")
    if r2 is not None and ys.prior:
        run.add("better_than_prior", "info", (epoch,), {"loss": final, "r2": r2}, (
            f"The final training loss {printed(final)} (epoch {epoch}) gives R² = 1 - "
            f"{printed(final)} / {number(ys.prior)} = {number(r2)}: the model explains "
            f"{percent(max(r2, 0.0))} of the target variance (predicting the mean explains 0%)."))


# --------------------------------------------------------------------------
# The verdict


#: Each problem in a few words, for the verdict.
_SHORT = {
    "nan": "the loss became NaN",
    "inf": "the loss became infinite",
    "below_best": "values this loss cannot take",
    "clipping_plateau": "the loss sits at a clipping ceiling (every sample confidently wrong)",
    "above_uniform": "the loss is worse than guessing",
    "rising_loss": "the training loss rises (learning rate too high?)",
    "stuck": "training is stuck",
    "spike": "the loss spiked",
    "overfitting": "the model overfits",
    "at_uniform": "the loss sits at the guessing level",
    "at_prior": "the model only learned the class balance",
    "above_prior": "the loss is worse than predicting the class balance",
    "double_softmax": "a double softmax",
    "bce_on_multiclass": "binary cross-entropy on a multi-class problem",
    "accuracy_vs_loss": "the accuracy and the loss do not fit together",
    "accuracy_on_regression": "accuracy is measured on a regression target, where it means nothing",
    "perfect_accuracy": "accuracy 1.0000 everywhere (degenerate labels?)",
    "multi_output_inconsistency": "the total loss is not the sum of its parts",
    "above_ceiling": "values above the clipped worst case",
}


def _trajectory(curve: _Curve, what: str) -> str:
    """How a curve went, in words: "fell 78% (0.88 to 0.1956) and levelled off after ..."."""
    y, numbers = curve.clean, curve.clean_numbers
    if y.size == 1:
        return f"{what} is {printed(y[0])} after one epoch (too few to judge a trend)"
    first, last = float(y[0]), float(y[-1])
    scale = max(abs(first), abs(last))
    if scale > 0 and abs(last - first) < 0.01 * scale:
        moved = f"stayed at about {printed(last)}"
    elif first > 0 and 0 <= last < first:
        moved = f"fell {percent(1 - last / first)} ({printed(first)} to {printed(last)})"
    elif first > 0 and last > first:
        moved = f"rose {percent(last / first - 1)} ({printed(first)} to {printed(last)})"
    else:
        moved = f"went from {printed(first)} to {printed(last)}"
    best = int(np.argmin(y))
    if curve.jumps:
        state = f"jumped at epoch {curve.numbers[curve.jumps[0]]} and has not come back"
    elif moved.startswith("stayed") and curve.frozen is None:
        return f"{what} {moved} over {y.size} epochs"
    elif curve.frozen is not None:
        state = f"has printed the same value since epoch {numbers[curve.frozen]}"
    elif curve.rising is not None:
        state = f"has risen since epoch {curve.numbers[curve.rising.first]}"
    elif curve.falling is not None:
        state = "is still falling"
    elif y.size < 3:
        return f"{what} {moved} over only {y.size} epochs (too few to judge a trend)"
    elif best == y.size - 1:
        state = "is at its lowest so far"
    elif curve.flat is not None and curve.flat > 0:
        state = f"levelled off after about epoch {numbers[curve.flat]}"
    elif best < y.size - 1 and curve.flat is None:
        state = f"was lowest at epoch {numbers[best]} ({printed(y[best])})"
    else:
        state = "shows no trend"
    return f"{what} {moved} and {state}"


#: Notes worth a word in the verdict of a run where nothing is wrong.
_GOOD_NEWS = {
    "regularisation": "the loss level comes from what else the loss holds (regularisation "
                      "penalties, weights), not from guessing",
    "still_improving": "it is still improving, so train longer",
    "levelled_off": "it has converged at this learning rate",
}


def _run_verdict(run: _Run) -> str:
    parts = [_trajectory(run.train, "The training loss")]
    if run.val is not None:
        parts.append(_trajectory(run.val, "val_loss"))
    else:
        parts.append("there is no validation data, so overfitting cannot be judged")
    sentence = "; ".join(parts) + "."
    problems = sorted((f for f in run.findings if f.severity in ("error", "warning")),
                      key=lambda f: SEVERITIES.index(f.severity))
    if problems:
        return sentence + f" Main problem: {_SHORT.get(problems[0].kind, problems[0].kind)}."
    news = [_GOOD_NEWS[f.kind] for f in run.findings if f.kind in _GOOD_NEWS]
    return sentence + " Nothing looks wrong" + (f": {news[0]}." if news else ".")


def _nan_verdict(run: _Run) -> str:
    return "The training loss is NaN or infinite in every epoch: training diverged or broke."


def _log_verdict(verdicts: list[str], findings: list[Finding], runs: int) -> str:
    if runs == 1:
        return verdicts[0]
    problems = [f for f in findings if f.severity in ("error", "warning")]
    if problems:
        said = verdicts[(problems[0].run or 1) - 1]
        return (f"This log holds {runs} separate training runs, each diagnosed on its own; "
                f"run {problems[0].run}: {said[0].lower()}{said[1:]}")
    return (f"This log holds {runs} separate training runs, each diagnosed on its own; nothing "
            "looks wrong in any of them.")
