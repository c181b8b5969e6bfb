r"""Plot a training history against the bounds of its loss.

`plot_history` draws the training and validation loss per epoch with
horizontal reference lines at the best case, the prior baseline, the uniform
baseline (:math:`\ln K`) and the worst case, and marks what
`lossbounds.interpret.diagnose` finds. The axis is fitted to the curves: a
bound far from them is marked at the edge of the axis, with its value,
rather than squashing the curves into a corner. It needs matplotlib (the ``plot``
extra: ``python -m pip install matplotlib``), which is imported only when a plot
is drawn; figures are plain ``matplotlib.figure.Figure`` objects, so pyplot's
global state and backend are left alone.

Examples
--------
>>> from lossbounds.plot import plot_history
>>> fig = plot_history({"loss": [2.1, 1.2, 0.8], "val_loss": [2.0, 1.4, 1.1]},
...                    "sparse_cce", n_classes=10)
>>> fig.axes[0].get_title()
'sparse_categorical_crossentropy, K = 10'
>>> fig.savefig("history.png")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .bounds import Bounds
from .diagnose import diagnose, run_rows
from .logs import TrainingLog
from .registry import get_loss
from .yardstick import uniform_text

if TYPE_CHECKING:  # pragma: no cover
    import matplotlib.axes
    import matplotlib.figure

__all__ = ["LOG_SCALE_RATIO", "MIN_CURVE_SHARE", "plot_history"]

#: The y axis is logarithmic when the curves themselves span more than this
#: factor (highest over lowest point, all positive): a linear axis would
#: flatten their lower part.
LOG_SCALE_RATIO = 10.0
#: A reference line is drawn inside the axis only if the curves still fill at
#: least this share of its height with it; a farther one is marked at the edge.
MIN_CURVE_SHARE = 0.25

_STYLE = {  # reference line: colour, line style
    "best": ("tab:green", ":"),
    "prior": ("tab:purple", "-."),
    "uniform": ("0.35", "--"),
    "worst": ("tab:red", ":"),
}
# The notes of bounds (any probability loss on TensorFlow) and lossbounds.keras.bounds_for
# (a softmax or sigmoid head) when fit() can compute the loss from cached logits: the
# clipped worst case then does not bound the curve. explain and check-log say the same.
_CACHED_LOGITS_NOTES = ("cached_logits", "cached_logits_head")

# Colours no curve or reference line uses: the curves are blue and orange, the
# references green, purple, grey and red.
_SEVERITY_COLOURS = {"info": "tab:cyan", "warning": "tab:brown", "error": "black"}
# plot_history(findings=...): the severities marked.
_MARK = {"error": ("error",), "warning": ("error", "warning"),
         "info": ("error", "warning", "info"), "none": ()}


# --------------------------------------------------------------------------
# Input


class _Input(NamedTuple):
    """A history in every form the plot needs."""

    history: dict[str, list[float]]  # metric -> values per epoch
    numbers: list[int]  # the x position (epoch number) of each epoch
    diagnosable: Any  # what to give interpret.diagnose
    to_x: dict[Any, int]  # (run, epoch) of diagnose's findings -> x positions
    model: Any  # a Keras model (History.model), or None


def _as_input(history_or_log: Any) -> _Input:
    if isinstance(history_or_log, TrainingLog):
        log = _numbered(history_or_log)
        numbers = [ep.number for ep in log]
        # diagnose reads the log as printed (several runs are diagnosed one by one);
        # its findings name a run and an epoch: place each on this plot's x.
        to_x: dict[Any, int] = {}
        groups = run_rows(history_or_log)
        for run, (rows, renumbered) in enumerate(groups, start=1):
            for position, row in enumerate(rows, start=1):
                said = position if renumbered else history_or_log[row].number
                to_x[(run if len(groups) > 1 else None, said)] = numbers[row]
        return _Input(log.history(), numbers, history_or_log, to_x, None)
    history = history_or_log
    model = None
    if not isinstance(history, Mapping):
        history = getattr(history_or_log, "history", None)
        model = getattr(history_or_log, "model", None)
    if not isinstance(history, Mapping):
        raise TypeError(
            "`history_or_log` must be a lossbounds TrainingLog, a dict of metric -> values "
            "per epoch (History.history) or a Keras History (an object with a .history "
            f"dict), got {type(history_or_log).__name__}."
        )
    history = {str(k): _values(k, v) for k, v in history.items()}
    numbers = _count(history)
    epoch = getattr(history_or_log, "epoch", None)  # Keras History: 0-based, from initial_epoch
    if isinstance(epoch, Sequence) and epoch and len(epoch) == len(numbers):
        numbers = [int(e) + 1 for e in epoch]
    # diagnose numbers a dict's epochs 1, 2, ...
    return _Input(history, numbers, history,
                  {(None, i + 1): n for i, n in enumerate(numbers)}, model)


def _numbered(log: TrainingLog) -> TrainingLog:
    """The log, renumbered 1, 2, ... if its numbers restart (several fit calls)."""
    numbers = [ep.number for ep in log]
    if all(b > a for a, b in zip(numbers, numbers[1:])):
        return log
    return TrainingLog([dataclasses.replace(ep, number=i + 1) for i, ep in enumerate(log)],
                       list(log.unparsed))


def _values(name: Any, values: Any) -> list[float]:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"History entry {name!r} must be a list of numbers, one per epoch, got "
            f"{type(values).__name__}: {values!r:.80}."
        ) from None
    if array.ndim != 1:
        raise ValueError(
            f"History entry {name!r} must be one number per epoch (1-D), got shape {array.shape}."
        )
    return array.tolist()


def _longest(history: Mapping[str, list[float]]) -> int:
    return max((len(v) for v in history.values()), default=0)


def _count(history: Mapping[str, list[float]]) -> list[int]:
    return list(range(1, _longest(history) + 1))


def _aligned(values: list[float], n: int, name: str) -> np.ndarray:
    """`values` on all `n` epochs; Keras' validation_freq=f logs every f-th epoch only."""
    if len(values) == n:
        return np.asarray(values, dtype=np.float64)
    if values and n % len(values) == 0:
        out = np.full(n, np.nan)
        out[n // len(values) - 1 :: n // len(values)] = values
        return out
    raise ValueError(
        f"History entry {name!r} has {len(values)} values for {n} epochs, which no "
        "validation_freq explains. Hint: pass NaN for the epochs without a value."
    )


# --------------------------------------------------------------------------
# Labels


def _reference_labels(bounds: Bounds) -> dict[str, str]:
    labels = {"best": f"best {bounds.best:.3g}"}
    if bounds.prior is not None:
        what = get_loss(bounds.loss).prior_name
        labels["prior"] = f"prior ({what}) {bounds.prior:.4g}"
    if bounds.uniform is not None:
        labels["uniform"] = f"uniform {uniform_text(bounds)}"
    if math.isinf(bounds.worst):
        labels["worst"] = "worst: unbounded"
    elif any(getattr(note, "code", None) in _CACHED_LOGITS_NOTES for note in bounds.notes):
        labels["worst"] = f"worst {bounds.worst:.4g} (clipped; fit() can exceed it)"
    else:
        labels["worst"] = f"worst {bounds.worst:.4g}"
    return labels


def _title(bounds: Bounds | None, metric: str) -> str:
    if bounds is None:
        return f"{metric} (no bounds: pass loss=...)"
    k = bounds.options.get("n_classes")
    title = bounds.loss + (f", K = {k}" if k else "")
    return title + ("; worst: unbounded" if math.isinf(bounds.worst) else "")


# --------------------------------------------------------------------------
# Drawing


def _new_axes(ax: Any) -> tuple[Any, Any]:
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            "lossbounds.plot needs matplotlib: python -m pip install matplotlib, or, in the "
            'lossbounds source folder, python -m pip install ".[plot]"'
        ) from error
    if ax is not None:
        if not (hasattr(ax, "figure") and hasattr(ax, "plot") and hasattr(ax, "axhline")):
            raise TypeError(
                f"`ax` must be a matplotlib Axes, got {type(ax).__name__}: {ax!r}. Hint: "
                "fig, ax = matplotlib.pyplot.subplots(); plot_history(history, ax=ax)."
            )
        return ax.figure, ax
    figure = Figure(figsize=(7.5, 4.5), layout="constrained")
    return figure, figure.add_subplot()


def _draw_curves(ax: Any, epochs: np.ndarray, curves: dict[str, np.ndarray]) -> None:
    for (name, values), style in zip(curves.items(), ({"color": "tab:blue", "linestyle": "-"},
                                                      {"color": "tab:orange", "linestyle": "--"})):
        finite = np.where(np.isfinite(values), values, np.nan)
        ax.plot(epochs, finite, marker="o", markersize=3, linewidth=1.8, label=name,
                gid=f"lossbounds-curve-{name}", **style)


def _use_log_scale(finite: np.ndarray) -> bool:
    """A log axis when the curves span orders of magnitude (and are all positive)."""
    if finite.size == 0 or not np.all(finite > 0):
        return False
    return float(finite.max()) / float(finite.min()) > LOG_SCALE_RATIO


def _draw_references(ax: Any, bounds: Bounds, shown: set[str], low: float, high: float) -> None:
    """Lines for the references inside the axis; the others marked at its edge."""
    labels = _reference_labels(bounds)
    values = {"best": bounds.best, "prior": bounds.prior, "uniform": bounds.uniform,
              "worst": bounds.worst}
    edge_texts = {"above": 0, "below": 0}
    for name in ("worst", "uniform", "prior", "best"):  # the legend reads top-down, like the lines
        if name not in labels:
            continue
        label, value = labels[name], values[name]
        assert value is not None  # `_reference_labels` labels only the known values
        colour, style = _STYLE[name]
        if name in shown:
            ax.axhline(value, color=colour, linestyle=style, linewidth=1.2, label=label,
                       gid=f"lossbounds-ref-{name}")
            continue
        if math.isinf(value):
            # A legend entry without a line: "worst: unbounded".
            ax.plot([], [], linestyle="none", label=label, gid=f"lossbounds-ref-{name}")
            continue
        side = "above" if value > high else "below"
        ax.plot([], [], linestyle="none", marker="^" if side == "above" else "v", color=colour,
                label=f"{label}, {side} the axis", gid=f"lossbounds-ref-{name}")
        # Marked at the edge, with its value: far away, but not out of mind.
        y = 1.0 if side == "above" else 0.0
        offset = -4 - 11 * edge_texts[side] if side == "above" else 4 + 11 * edge_texts[side]
        edge_texts[side] += 1
        ax.annotate(f"{'▲' if side == 'above' else '▼'} {name} {value:.4g}", (1.0, y),
                    xycoords="axes fraction", xytext=(-4, offset), textcoords="offset points",
                    ha="right", va="top" if side == "above" else "bottom", fontsize=8,
                    color=colour, gid=f"lossbounds-ref-edge-{name}")


# Findings about the validation curve; others name it first ("val_loss stays ...").
_VALIDATION_KINDS = ("overfitting", "growing_gap", "val_below_train")


def _draw_findings(ax: Any, findings: list, to_x: dict[Any, int],
                   curves: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    placed: list[tuple[float, float, float]] = []  # (x, y, width) of each label, in points
    for finding in findings:
        on_val = finding.kind in _VALIDATION_KINDS or finding.message.startswith("val_")
        curve = curves["val"] if on_val and "val" in curves else curves["train"]
        xs, ys = _finding_points(finding, to_x, curve)
        if not xs:
            continue
        colour = _SEVERITY_COLOURS.get(finding.severity, "0.4")
        ax.plot(xs, ys, linestyle="none", marker="o", markersize=11, markerfacecolor="none",
                markeredgewidth=1.6, color=colour, label="_nolegend_",
                gid=f"lossbounds-finding-{finding.kind}")
        # Training findings are labelled at their first epoch, validation ones at
        # their last, so that a kind found on both curves is not written twice in one place.
        at, dx, align = (-1, -6, "right") if on_val else (0, 6, "left")
        if _past_right_edge(ax, xs[at], ys[at], dx, finding.kind) and align == "left":
            dx, align = -6, "right"  # a label at the last epochs reads leftwards, inside the axes
        dy = _free_height(ax, placed, xs[at], ys[at], dx, align, finding.kind)
        ax.annotate(finding.kind, (xs[at], ys[at]), xytext=(dx, dy), textcoords="offset points",
                    ha=align, fontsize=8, color=colour,
                    gid=f"lossbounds-finding-label-{finding.kind}")


#: Height of one finding label, and the width of one of its characters, in points (8 pt text).
_LABEL_HEIGHT, _CHAR_WIDTH = 11.0, 5.0


def _past_right_edge(ax: Any, x: float, y: float, dx: float, text: str) -> bool:
    """Would a left-aligned label at (x, y) run past the right edge of the axes?"""
    to_points = ax.figure.dpi_scale_trans.inverted()
    point = to_points.transform(ax.transData.transform((x, y))) * 72
    right = to_points.transform((ax.bbox.x1, ax.bbox.y1))[0] * 72
    return point[0] + dx + _CHAR_WIDTH * len(text) > right


def _free_height(ax: Any, placed: list[tuple[float, float, float]], x: float, y: float,
                 dx: float, align: str, text: str) -> float:
    """An offset above the point at which the label overlaps no label placed before."""
    points = ax.figure.dpi_scale_trans.inverted().transform(ax.transData.transform((x, y))) * 72
    width = _CHAR_WIDTH * len(text)
    left = points[0] + dx - (width if align == "right" else 0.0)
    dy = 10.0
    while any(abs(points[1] + dy - top) < _LABEL_HEIGHT and left < other + w and other < left + width
              for other, top, w in placed):
        dy += _LABEL_HEIGHT
    placed.append((left, points[1] + dy, width))
    return dy


def _finding_points(finding: Any, to_x: dict[Any, int],
                    curve: tuple[np.ndarray, np.ndarray]) -> tuple[list[float], list[float]]:
    """The points of `curve` at the finding's epochs (finite values only)."""
    epochs, values = curve
    where = {float(x): i for i, x in enumerate(epochs)}
    xs, ys = [], []
    for epoch in finding.epochs:
        i = where.get(float(to_x.get((finding.run, epoch), math.nan)))
        if i is not None and math.isfinite(values[i]):
            xs.append(float(epochs[i]))
            ys.append(float(values[i]))
    return xs, ys


def _set_limits(ax: Any, low: float, high: float, log: bool) -> None:
    if log:
        ax.set_yscale("log")
        ax.set_ylim(low / 1.3, high * 1.3)
    elif math.isfinite(high):
        # A margin below the lowest value keeps a best case of 0 off the frame.
        span = (high - low) or abs(high) or 1.0
        ax.set_ylim(low - 0.04 * span, high + 0.08 * span)


def plot_history(
    history_or_log: Any,
    loss: str | None = None,
    *,
    metric: str = "loss",
    ax: matplotlib.axes.Axes | None = None,
    findings: str = "warning",
    **bounds_options: Any,
) -> matplotlib.figure.Figure:
    r"""Plot a loss curve with its best, prior, uniform and worst values.

    Parameters
    ----------
    history_or_log : TrainingLog, dict or keras.callbacks.History
        A log read by `lossbounds.logs.read_keras_log`, a ``History.history``
        dict (metric name to one value per epoch), or any object with such a
        ``.history`` dict, such as what ``model.fit`` returns.
    loss : str, optional
        The loss name, for the reference lines. Without it, a Keras History
        whose model is compiled is read with `lossbounds.keras.bounds_for`;
        otherwise only the curves are drawn.
    metric : str, default "loss"
        The metric to plot, with ``"val_" + metric`` if present; it must be a
        loss (its name ends in ``"loss"``) for reference lines to be drawn.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new ``Figure`` otherwise.
    findings : {"warning", "error", "info", "none"}, default "warning"
        The least severe `lossbounds.interpret.Finding` to mark (when
        `metric` is ``"loss"``): ``"warning"`` marks warnings and errors.
    **bounds_options
        Options of `lossbounds.bounds`: ``n_classes`` (needed for the
        categorical uniform baseline), ``counts`` or ``y_true`` (for the prior
        baseline), ``label_smoothing``, ``from_logits``, ...

    Returns
    -------
    matplotlib.figure.Figure
        The figure drawn on. Reference lines are labelled with their values in
        the legend ("uniform ln 10 = 2.303"); the title names the loss and K.

    Raises
    ------
    ImportError
        Without matplotlib: ``python -m pip install matplotlib``.
    TypeError, ValueError
        For an input that is not a history, an unknown `metric`, or bounds
        options that `lossbounds.bounds` rejects.

    Notes
    -----
    The y axis fits the curves. A reference line is drawn inside it when the
    curves still fill at least `MIN_CURVE_SHARE` (a quarter) of its height;
    one farther away, such as the clipped worst case 16.118 above a loss of
    0.5, is marked at the top or bottom edge with its value ("▲ worst 16.12")
    and its legend entry says "above the axis". The axis turns logarithmic
    when the curves span more than `LOG_SCALE_RATIO` (a loss falling from 10
    to 0.1). An infinite worst case (logits, mean squared error without
    ranges) is not drawn; the legend says "worst: unbounded". On TensorFlow a
    clipped cross-entropy's worst case is labelled "(clipped; fit() can exceed
    it)", the answer `lossbounds.explain` and ``check-log`` give too. Findings
    of `lossbounds.interpret.diagnose` are circled at their epochs and
    labelled with their kind, in colours no curve or line uses (brown for a
    warning, black for an error), their labels stacked so that none overlap.

    See Also
    --------
    lossbounds.bounds : the reference values.
    lossbounds.logs.read_keras_log : a log from printed Keras output.

    Examples
    --------
    >>> from lossbounds.plot import plot_history
    >>> fig = plot_history({"loss": [0.69, 0.52, 0.41]}, "bce")
    >>> [text.get_text() for text in fig.axes[0].get_legend().get_texts()]  # doctest: +NORMALIZE_WHITESPACE
    ['loss', 'worst 16.12 (clipped; fit() can exceed it), above the axis',
     'uniform ln 2 = 0.6931', 'best 1.19e-07']
    >>> [text.get_text() for text in fig.axes[0].texts]  # the far worst case, at the edge
    ['▲ worst 16.12']
    """
    data = _as_input(history_or_log)
    if metric not in data.history:
        raise ValueError(
            f"`metric` {metric!r} is not in the history; it has "
            f"{', '.join(map(repr, data.history)) or 'no metrics'}."
        )
    if findings not in _MARK:
        raise ValueError(
            f"`findings` must be one of {', '.join(map(repr, _MARK))}, got {findings!r}.")
    n = len(data.numbers)
    names = [m for m in (metric, f"val_{metric}") if m in data.history]
    curves = {m: _aligned(data.history[m], n, m) for m in names}
    bounds, options = _bounds(loss, data.model, metric, bounds_options)
    figure, ax = _new_axes(ax)
    epochs = np.asarray(data.numbers, dtype=np.float64)
    _draw_curves(ax, epochs, curves)

    stacked = np.concatenate(list(curves.values()))
    finite = stacked[np.isfinite(stacked)]
    log = _use_log_scale(finite)
    low, high, shown = _axis_range(finite, bounds, log)
    if bounds is not None:
        _draw_references(ax, bounds, shown, low, high)
    _set_limits(ax, low, high, log)
    if metric == "loss" and findings != "none":
        marked = _diagnose(data.diagnosable, bounds, options, _MARK[findings])
        by_curve = {"train": (epochs, curves[metric])}
        if f"val_{metric}" in curves:
            by_curve["val"] = (epochs, curves[f"val_{metric}"])
        _draw_findings(ax, marked, data.to_x, by_curve)

    ax.set_xlabel("epoch")
    ax.set_ylabel(metric + (" (log scale)" if log else ""))
    ax.set_title(_title(bounds, metric))
    if n <= 20:
        ax.set_xticks(data.numbers)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    return figure


def _bounds(loss: Any, model: Any, metric: str, options: dict) -> tuple[Bounds | None, dict]:
    """The bounds to draw and the options they were computed with."""
    if loss is None and model is None:
        if options:
            raise ValueError(
                f"Bounds options {', '.join(map(repr, options))} were given without a `loss`. "
                "Hint: plot_history(history, 'sparse_cce', n_classes=10)."
            )
        return None, {}
    if not metric.endswith("loss"):
        if loss is None and not options:
            return None, {}  # a Keras History's accuracy, say: no loss bounds to draw
        raise ValueError(
            f"`metric` {metric!r} is not a loss, so the bounds of the loss do not apply to it. "
            "Hint: plot it without `loss` (plot_history(log, metric=...)) or plot 'loss'."
        )
    if loss is not None:
        from .bounds import bounds as compute

        return compute(loss, **options), dict(options)
    from .keras import bounds_and_options  # the History's model: Keras is loaded already

    try:
        return bounds_and_options(model, None, options)
    except ValueError as error:
        raise ValueError(
            f"{error} To plot the curves without bounds, pass history.history instead."
        ) from None


def _axis_range(finite: np.ndarray, bounds: Bounds | None,
                log: bool) -> tuple[float, float, set[str]]:
    """The y range of the axis, and the references drawn inside it.

    The axis fits the curves; a finite reference joins it when the curves
    still fill at least `MIN_CURVE_SHARE` of the height (on a log axis, of
    its decades). Nearest first, so the uniform baseline next to the curves
    is kept when the worst case far above them is not.
    """
    if finite.size == 0:
        low, high = (1e-3, 1.0) if log else (0.0, 1.0)
    else:
        low, high = float(finite.min()), float(finite.max())
    shown: set[str] = set()
    if bounds is None:
        return low, high, shown
    scale = np.log if log else (lambda v: v)
    data_span = (scale(high) - scale(low)) if finite.size else 0.0
    if finite.size and data_span == 0:  # one epoch, or a flat curve: judge at its own scale
        data_span = 0.5 if log else 0.5 * (abs(high) or 1.0)
    refs = {"best": bounds.best, "prior": bounds.prior, "uniform": bounds.uniform,
            "worst": bounds.worst}
    usable = {name: value for name, value in refs.items() if value is not None
              and math.isfinite(value) and (value > 0 or not log)}

    def distance(item: tuple[str, float]) -> float:
        value = item[1]
        return max(low - value, value - high, 0.0)

    for name, value in sorted(usable.items(), key=distance):
        new_low, new_high = min(low, value), max(high, value)
        span = scale(new_high) - scale(new_low)
        if span == 0 or data_span >= MIN_CURVE_SHARE * span or finite.size == 0:
            low, high = new_low, new_high
            shown.add(name)
    return low, high, shown


def _diagnose(diagnosable: Any, bounds: Bounds | None, options: dict, severities: tuple) -> list:
    found = diagnose(diagnosable, loss=None if bounds is None else bounds.loss, **options)
    return [f for f in found if f.severity in severities]
