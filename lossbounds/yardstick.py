"""What a loss's bounds say about any value of it: the yardsticks `explain` and `diagnose` share.

A `Yardstick` is one loss under one set of options, measured once: its
bounds, the least loss of a misclassified sample, its clipping plateaus and
double-softmax floor, and how its baselines are written. The flag reasons
here are the sentences both `explain` (one value) and `diagnose` (a log) use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .bounds import Bounds, bounds
from .registry import LossDefinition, Plateau, Setting, UndefinedBound, all_losses, get_loss
from .text import (
    BASELINE_RTOL,
    FLOAT32_RTOL,
    PLATEAU_ATOL,
    PRINT_ATOL,
    for_python,
    loss_value,
    number,
)

__all__ = [
    "MIN_ERROR_GAP",
    "FLOAT_PLATEAUS",
    "NON_FINITE",
    "Yardstick",
    "above_worst",
    "above_worst_reason",
    "all_plateaus",
    "below_best_reason",
    "caches_logits",
    "double_softmax_reason",
    "plateau_reason",
    "relative",
    "uniform_text",
    "worst_sentence",
    "yardstick",
]

#: Least gap between the cost of a misclassified sample and the best case for
#: an error-rate bound: below it (label smoothing near 1) rounding of the loss
#: would decide the bound.
MIN_ERROR_GAP = 1e-3

# What a NaN or infinite loss means, and what to check.
NON_FINITE = {
    "nan": "training diverged. Usual causes: a learning rate far too high, sparse labels "
           "outside [0, K), NaN or huge values in the inputs, or a log(0) in a hand-written "
           "loss.",
    "inf": "some prediction gave log(0) or an overflow (logits are not clipped; float16 "
           "rounds 1 - epsilon to 1), or the weights diverged.",
}


@dataclass(frozen=True)
class Yardstick:
    """The yardsticks one loss, under one set of options, is measured with.

    Attributes
    ----------
    loss : LossDefinition
    setting : Setting
        The options, checked (with ``n_classes`` read from ``counts``).
    bounds : Bounds or None
        None when the options do not determine them (K missing).
    missing : str or None
        Why the uniform baseline (or all bounds) is unknown, and what to pass.
    floor : float
        No sample can cost less (the best case, else 0).
    wrong : float or None
        No misclassified sample can cost less (None for non-classifiers).
    plateaus : tuple of Plateau
        Finite clipping ceilings, lowest first.
    double_softmax : float or None
        The lowest loss a double softmax can reach.
    """

    loss: LossDefinition
    setting: Setting
    bounds: Bounds | None
    missing: str | None
    floor: float
    wrong: float | None
    plateaus: tuple[Plateau, ...]
    double_softmax: float | None

    @property
    def uniform(self) -> float | None:
        return None if self.bounds is None else self.bounds.uniform

    @property
    def prior(self) -> float | None:
        return None if self.bounds is None else self.bounds.prior

    @property
    def n_classes(self) -> int | None:
        return self.setting.get("n_classes")

    def uniform_text(self) -> str:
        """``"ln 10 = 2.303"``: the uniform baseline as a formula and its value."""
        value = self.uniform
        formula = self.loss.uniform_formula(self.setting)
        return formula if value is None else f"{formula} = {number(value)}"

    def uniform_meaning(self) -> str:
        return self.loss.uniform_meaning(self.setting)

    def error_bound(self, value: float) -> float | None:
        """min(1, (L - b) / (c - b)): the highest error rate a mean loss allows (see `explain`)."""
        if self.wrong is None or not self.wrong - self.floor >= MIN_ERROR_GAP or math.isnan(value):
            return None
        return min(1.0, max(0.0, (value - self.floor) / (self.wrong - self.floor)))

    def below_best(self, value: float) -> bool:
        """Is `value` below anything Keras can print for this loss?"""
        return value < self.floor - PRINT_ATOL - FLOAT32_RTOL * abs(self.floor)

    def plateau_at(self, value: float) -> Plateau | None:
        return next((p for p in self.plateaus if abs(value - p.value) <= PLATEAU_ATOL), None)

    def marks(self, value: float) -> dict[str, Any]:
        """What a definition's `describe` needs besides the value."""
        return {"floor": self.floor, "wrong": self.wrong, "prior": self.prior,
                "uniform": self.uniform, "error_rate_bound": self.error_bound(value)}


def yardstick(loss: Any, options: Mapping[str, Any]) -> Yardstick:
    """Measure `loss` under `options` (those of `lossbounds.bounds`) once."""
    definition = get_loss(loss)
    setting = definition.setting(options, caller="explain", classes_from_data=True)
    try:
        found: Bounds | None = bounds(definition.name, **options)
        missing = None
    except UndefinedBound:
        found, missing = None, for_python(definition.uniform_missing(setting))
    if found is not None and found.uniform is None and (
            definition.uniform_needed or found.prior is None):
        missing = for_python(definition.uniform_missing(setting))
    return Yardstick(
        loss=definition,
        setting=setting,
        bounds=found,
        missing=missing,
        floor=found.best if found is not None else 0.0,
        wrong=definition.misclassified_floor(setting),
        plateaus=_finite_sorted(definition.plateaus(setting)
                                + (FLOAT_PLATEAUS if definition.probabilistic else ())),
        double_softmax=definition.double_softmax_floor(setting),
    )


def _finite_sorted(plateaus: tuple[Plateau, ...]) -> tuple[Plateau, ...]:
    unique: dict[float, Plateau] = {}
    for plateau in plateaus:
        if math.isfinite(plateau.value):
            unique.setdefault(round(plateau.value, 6), plateau)
    return tuple(sorted(unique.values(), key=lambda p: p.value))


def all_plateaus() -> tuple[Plateau, ...]:
    """The clipping plateaus of every probability loss at Keras' defaults.

    What a log without a loss name is checked for: the ceilings of clipped
    logarithms (16.1181, 15.9424, ...), values no other loss sits at by
    chance. Other losses' plateaus can be round numbers (2.0) that a
    regression loss may print, so they are checked only when the loss is named.
    """
    found: list[Plateau] = []
    for definition in all_losses():
        if not definition.probabilistic:
            continue
        try:
            default = definition.setting({}, allowed=definition.option_names())
            found.extend(definition.plateaus(default))
        except UndefinedBound:
            continue
    return _finite_sorted(tuple(found) + FLOAT_PLATEAUS)


def uniform_text(b: Bounds) -> str:
    """The uniform baseline of `b` as a formula and value, e.g. ``"ln 10 = 2.303"``."""
    definition = get_loss(b.loss)
    setting = definition.setting(dict(b.options), allowed=definition.option_names())
    return f"{definition.uniform_formula(setting)} = {number(b.uniform or 0.0)}"


def relative(value: float, base: float) -> int:
    """-1, 0 or 1: below, within BASELINE_RTOL of, or above `base`."""
    if abs(value - base) <= BASELINE_RTOL * abs(base) + PRINT_ATOL:
        return 0
    return 1 if value > base else -1


def below_best_reason(value: float, ys: Yardstick) -> str:
    """Why a value below the best case cannot come from this loss, in the loss's own terms."""
    checks = ["the loss name (a custom loss can be negative by design)"]
    if "label_smoothing" in ys.setting.options:
        checks.append("the label smoothing")
    if ys.loss.probabilistic:
        checks.append("targets outside [0, 1] (they make a cross-entropy negative)")
    checks.append("negative sample or class weights")
    return (
        f"{loss_value(value)} is below {number(ys.floor)}, the lowest value {ys.loss.name} can "
        f"take with these options: it cannot come from this loss. Check {_listed(checks)}."
    )


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


#: Ceilings of other clips a probability loss can meet: hand-written logs of clipped
#: probabilities and other frameworks (the values their users paste into a Keras question).
FLOAT_PLATEAUS = (
    Plateau(126 * math.log(2), "-ln(FLT_MIN) = 126 ln 2: a probability clipped at the smallest "
            "normal float32, 1.18e-38, as Caffe's SoftmaxWithLoss and log(max(p, FLT_MIN)) in "
            "hand-written code do"),
    Plateau(1022 * math.log(2), "-ln(DBL_MIN) = 1022 ln 2: a probability clipped at the "
            "smallest normal float64, 2.2e-308"),
)


def caches_logits(ys: Yardstick) -> bool:
    """Can fit() compute this loss from cached logits, beyond its clipped worst case?"""
    return any(getattr(note, "code", None) in ("cached_logits", "cached_logits_head")
               for note in (ys.bounds.notes if ys.bounds is not None else ()))


def above_worst(value: float, ys: Yardstick) -> bool:
    """Is `value` above the highest value the loss gives for valid predictions?"""
    worst = ys.bounds.worst if ys.bounds is not None else math.inf
    return math.isfinite(worst) and value > worst + PRINT_ATOL + FLOAT32_RTOL * abs(worst)


def above_worst_reason(value: float, ys: Yardstick) -> str:
    """What makes a loss exceed its clipped worst case, most likely first."""
    assert ys.bounds is not None  # `above_worst` is true only with bounds
    worst = number(ys.bounds.worst)
    causes = []
    if caches_logits(ys):
        causes.append("on TensorFlow, with a softmax or sigmoid last layer, fit() and evaluate() "
                      "compute this loss from the logits, unclipped, so a confidently wrong "
                      "sample costs its logit gap, without limit (a large initial weight scale "
                      "or a learning rate that blows up the logits gets there)")
    causes += ["regularisation penalties added to the loss (kernel_regularizer, ...)",
               "class_weight or sample weights above 1", "a loss with reduction='sum'"]
    return (f"{loss_value(value)} is above {worst}, the most one sample can cost with clipped "
            f"predictions: {'; or '.join(causes)}.")


def worst_sentence(ys: Yardstick) -> str:
    """The answer to "what is the highest loss?", with the cached-logits path when there is one."""
    assert ys.bounds is not None
    worst = ys.bounds.worst
    if math.isinf(worst):
        return "there is no upper limit"
    if caches_logits(ys):
        return (f"no sample costs more than {number(worst)} with clipped probabilities "
                "(model.predict outputs, other backends), but inside fit() and evaluate() on "
                "TensorFlow, with a softmax or sigmoid last layer, the loss comes from the logits "
                "and has no upper limit")
    return f"the highest Keras can print is {number(worst)}"


def plateau_reason(value: float, plateau: Plateau) -> str:
    return (
        f"{loss_value(value)} is the clipping ceiling {plateau.value:.6f} ({plateau.what}), the "
        "most a sample can cost once clipping keeps the log finite: the model is confidently "
        "wrong on every sample. Check that the labels match the outputs (0..K-1, one-hot or "
        "integer), and lower the learning rate."
    )


def double_softmax_reason(value: float, ys: Yardstick) -> str:
    floor = ys.double_softmax
    return (
        f"{loss_value(value)} is at ln(1 + (K-1)/e) = {number(floor or 0.0)} for K = "
        f"{ys.n_classes}, the lowest loss a double softmax can reach (softmax outputs fed to a "
        "loss with from_logits=True, or two softmax layers). If the loss never goes below it, "
        "remove one softmax or set from_logits=False."
    )
