r"""Reading a loss: what one value means, and what a training log shows.

`explain` turns one loss value into a few plain sentences and numbers: where
it stands between the best value, the prior and uniform baselines and the
worst value Keras can print; the same number in bits, as a perplexity and as
the probability the model gives the true class; the highest error rate it
allows; and flags for values that point at a bug. `diagnose` reads a whole
training log (the text ``model.fit`` printed, or ``History.history``) and
reports `Finding` objects: a rising loss, a loss stuck at the uniform baseline
or at a clipping plateau, NaN, overfitting, and more.

Tolerances
----------
Keras prints 4 decimals (``f"{v:.4f}"``, or 4 decimals of the mantissa below
1e-3), so a printed value is within :data:`PRINT_ATOL` = 5e-5 of the number
Keras computed. The tolerances below are far above that, and far below the
gaps they must tell apart:

=====================  ===============================  =========================================
check                  tolerance                        why
=====================  ===============================  =========================================
``at_uniform``,        ``|L - b| <= 1% of b + 5e-5``    A model whose outputs ignore the input
``at_prior``           (:data:`BASELINE_RTOL`)          scores the baseline exactly; at 99% of
                                                        ln K its perplexity is :math:`K^{0.99}`
                                                        (9.8 of 10 classes): still guessing.
                                                        1% of ln 2 is 0.0069, 140 print units.
``clipping_plateau``   ``|L - c| <= 1e-3``              The plateaus are 0.09 or more apart
                       (:data:`PLATEAU_ATOL`)           (15.3332, 15.4249, 15.9424, 16.1181);
                                                        1e-3 is 20 print units, room for a
                                                        running mean with a few samples off it.
``below_best``         ``L < best - 5e-5 - 1e-6 best``  Print rounding plus float32 rounding of
                                                        the mean: nothing Keras prints for a
                                                        valid value can fall below it.
``double_softmax``     ``floor - 5e-5 <= L``            The floor cannot be crossed; a model
                       ``<= floor + 1%``                stuck there sits just above it.
accuracy vs. loss      1e-3 (:data:`ACCURACY_ATOL`)     Both printed to 4 decimals.
=====================  ===============================  =========================================

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
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd
   ed., Wiley, 2006: entropy in bits and nats (Section 2.1), Gibbs'
   inequality (Theorem 2.6.3).
.. [2] G. Grimmett and D. Stirzaker, *Probability and Random Processes*, 3rd
   ed., Oxford University Press, 2001: Markov's inequality.
.. [3] F. Jelinek, R. L. Mercer, L. R. Bahl and J. K. Baker, "Perplexity, a
   measure of the difficulty of speech recognition tasks", *J. Acoust. Soc.
   Am.* 62, S63 (1977).
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
import numbers
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

import numpy as np

from ._validation import EPSILON, LossSpec, resolve_loss
from .bounds import (
    Bounds,
    _binary_value,
    _neg_log,
    _semantics,
    _smoothed_binary,
    _smoothed_onehot,
    _xterm,
    bounds,
    worst_case,
)
from .logs import TrainingLog

__all__ = [
    "ACCURACY_ATOL",
    "BASELINE_RTOL",
    "FAR_BETTER",
    "MIN_ERROR_GAP",
    "MIN_TREND_EPOCHS",
    "NOISE_UNITS",
    "PLATEAU_ATOL",
    "PRINT_ATOL",
    "SEVERITIES",
    "TREND_ALPHA",
    "Explanation",
    "Finding",
    "Flag",
    "diagnose",
    "explain",
]

#: Half a unit of the 4th decimal Keras prints: how far a printed value can be
#: from the value Keras computed.
PRINT_ATOL = 5e-5
#: Relative rounding of a float32 mean of many per-sample losses.
FLOAT32_RTOL = 1e-6
#: ``at_uniform`` / ``at_prior``: within 1% of the baseline.
BASELINE_RTOL = 0.01
#: ``clipping_plateau``: within 1e-3 of a ceiling Keras can print.
PLATEAU_ATOL = 1e-3
#: Training error rate vs. the bound the loss implies: both printed to 4 decimals.
ACCURACY_ATOL = 1e-3
#: Least gap between the cost of a misclassified sample and the best case for
#: an error-rate bound: below it (label smoothing near 1) rounding of the loss
#: would decide the bound.
MIN_ERROR_GAP = 1e-3
#: "Far better than guessing": at most half the uniform baseline, a perplexity
#: of at most sqrt(K).
FAR_BETTER = 0.5
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

_LN2 = math.log(2.0)

# Options `explain` and `diagnose` pass on to `lossbounds.bounds`.
_BOUNDS_OPTIONS = (
    "y_true", "counts", "sample_weight", "n_classes", "from_logits", "label_smoothing",
    "ignore_class", "epsilon", "dtype", "y_range", "pred_range", "backend", "count",
    "mean", "variance",
)

# Columns Keras names for the accuracy that goes with the loss (`metrics=["accuracy"]`
# picks binary, categorical or sparse categorical accuracy to match the loss).
_ACCURACY_COLUMNS = ("accuracy", "acc", "binary_accuracy", "categorical_accuracy",
                     "sparse_categorical_accuracy")


# --------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Flag:
    """Something about a loss value that points at a bug or a misreading.

    Attributes
    ----------
    kind : str
        A stable name: ``"nan"``, ``"inf"``, ``"below_best"``,
        ``"clipping_plateau"``, ``"worse_than_uniform"``, ``"at_uniform"``,
        ``"worse_than_prior"``, ``"at_prior"``, ``"double_softmax"`` or
        ``"bce_on_multiclass"``.
    reason : str
        What it means, in plain words.
    """

    kind: str
    reason: str


@dataclass(frozen=True)
class Explanation:
    """What one loss value means; ``str()`` gives it in a few sentences.

    Attributes
    ----------
    value : float
        The loss value explained.
    loss : str
        Keras' canonical name of the loss.
    bounds : Bounds or None
        The bounds for the options given; None when they cannot be computed
        (sparse categorical cross-entropy on TensorFlow without `n_classes`).
    fraction_of_uniform, fraction_of_prior : float or None
        ``value / uniform`` and ``value / prior``, where those are known.
    bits : float or None
        ``value / ln 2``: the loss in bits (cross-entropies only).
    perplexity : float or None
        :math:`e^L`, the effective number of equally likely choices.
    geometric_mean_probability : float or None
        :math:`e^{-L}`, the geometric mean of the probability given to the
        true class (true label, for binary cross-entropy).
    error_rate_bound : float or None
        The highest argmax error rate (threshold-0.5 error rate per output,
        for binary cross-entropy) that a mean loss `value` allows; see
        `explain`.
    rmse, r2 : float or None
        For mean squared error: :math:`\\sqrt L`, and
        :math:`1 - L / \\mathrm{Var}(y)` when the target variance is given.
    flags : tuple of Flag
        Signs of a bug or a misreading.
    sentences : tuple of str
        The explanation, one sentence (or two) per line.
    """

    value: float
    loss: str
    bounds: Bounds | None
    fraction_of_uniform: float | None
    fraction_of_prior: float | None
    bits: float | None
    perplexity: float | None
    geometric_mean_probability: float | None
    error_rate_bound: float | None
    rmse: float | None
    r2: float | None
    flags: tuple[Flag, ...] = ()
    sentences: tuple[str, ...] = field(default=(), repr=False)

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of the flags, in order."""
        return tuple(flag.kind for flag in self.flags)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``json`` writes ``inf``/``nan`` as Infinity/NaN)."""
        numbers_ = {name: getattr(self, name) for name in (
            "value", "loss", "fraction_of_uniform", "fraction_of_prior", "bits", "perplexity",
            "geometric_mean_probability", "error_rate_bound", "rmse", "r2")}
        return {
            **numbers_,
            "bounds": None if self.bounds is None else self.bounds.as_dict(),
            "flags": [{"kind": f.kind, "reason": f.reason} for f in self.flags],
            "text": str(self),
        }

    def __str__(self) -> str:
        lines = list(self.sentences)
        lines.extend(f"Flag {flag.kind}: {flag.reason}" for flag in self.flags)
        return "\n".join(lines)


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
        where = f" ({_epoch_ranges(self.epochs)})" if self.epochs else ""
        return f"[{self.severity}] {self.kind}{where}: {self.message}"


# --------------------------------------------------------------------------
# What a loss name and its options say about any value


@dataclass(frozen=True)
class _Plateau:
    value: float
    what: str  # where it comes from, in words


@dataclass(frozen=True)
class _Reference:
    """The yardsticks one loss, under one set of options, is measured with."""

    spec: LossSpec
    bounds: Bounds | None
    n_classes: int | None
    label_smoothing: float
    missing: str | None  # why the uniform baseline (or all bounds) is unknown
    floor: float  # no sample can cost less (best case, else 0)
    wrong: float | None  # no misclassified sample can cost less
    plateaus: tuple[_Plateau, ...]
    double_softmax: float | None

    @property
    def uniform(self) -> float | None:
        return None if self.bounds is None else self.bounds.uniform

    @property
    def prior(self) -> float | None:
        return None if self.bounds is None else self.bounds.prior

    @property
    def cross_entropy(self) -> bool:
        return self.spec.name != "mean_squared_error"

    @property
    def per(self) -> str:
        """What one term of the mean is: a sample, or an output of a sample."""
        return "output" if self.spec.name == "binary_crossentropy" else "sample"


def _reference(loss: Any, options: Mapping[str, Any]) -> _Reference:
    spec = resolve_loss(loss)
    _check_options(options)
    options = dict(options)
    if options.get("n_classes") is None and spec.classes and options.get("counts") is not None:
        options["n_classes"] = int(np.size(options["counts"]))  # K classes counted
    found, missing = _bounds_or_none(spec, options)
    k = options.get("n_classes")
    smoothing = float(options.get("label_smoothing", 0.0))
    semantics = _semantics(options.get("epsilon", EPSILON), options.get("dtype", "float32"),
                           options.get("backend", "tensorflow"), options.get("from_logits", False))
    if found is not None and found.uniform is None and (spec.classes or found.prior is None):
        missing = _missing_uniform(spec)  # (mean squared error is fine with a variance)
    return _Reference(
        spec=spec,
        bounds=found,
        n_classes=None if k is None else int(k),
        label_smoothing=smoothing,
        missing=missing,
        floor=found.best if found is not None else 0.0,
        wrong=_misclassified_floor(spec, k, smoothing, semantics),
        plateaus=_clipping_plateaus(spec, options),
        double_softmax=_double_softmax_floor(spec, k, smoothing),
    )


def _check_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(set(options) - set(_BOUNDS_OPTIONS))
    if unknown:
        raise TypeError(
            f"Unknown option(s) {', '.join(map(repr, unknown))}; the options are those of "
            f"lossbounds.bounds: {', '.join(_BOUNDS_OPTIONS)}."
        )


def _bounds_or_none(spec: LossSpec, options: dict[str, Any]) -> tuple[Bounds | None, str | None]:
    """`bounds`, or None with the reason when only the number of classes is missing."""
    try:
        return bounds(spec.name, **options), None
    except ValueError:
        if options.get("n_classes") is not None or not spec.classes:
            raise
        # TensorFlow's sparse CCE needs K even for its best case. If the same
        # options pass on a backend that does not, K was all that was missing.
        bounds(spec.name, **{**options, "backend": "jax"})
        return None, _missing_uniform(spec)


def _missing_uniform(spec: LossSpec) -> str:
    if spec.name == "mean_squared_error":
        return ("mean squared error has no uniform baseline: pass the target variance "
                "(variance=..., or --variance) to compare with predicting the mean (R²)")
    return (f"the uniform baseline ln K of {spec.name} needs the number of classes K: "
            "pass n_classes=K (--n-classes K), the number of units of the output layer")


def _misclassified_floor(spec: LossSpec, k: int | None, smoothing: float, s) -> float | None:
    """The least loss of a misclassified sample (a wrong output, for BCE)."""
    if spec.name == "mean_squared_error":
        return None
    if spec.name == "binary_crossentropy":
        # Convex in q with its minimum at the smoothed target (>= 1/2 for label
        # 1), so a wrong side of 0.5 costs at least the value at 0.5.
        return _binary_value(_smoothed_binary(smoothing)[0], 0.5, s)
    if k is not None and int(k) < 2:
        return None  # one class: nothing can be misclassified
    if not smoothing:
        return _LN2
    true, other = _smoothed_onehot(int(k), smoothing)
    pair = true + other  # the true class tied with one other, each at pair / 2
    value = pair * _neg_log(pair / 2) + (int(k) - 2) * _xterm(other, _neg_log(other))
    # Clipping up to eps frees at most K eps of mass: ln(1 + K eps) at most.
    return value if s.from_logits else value - math.log1p(int(k) * s.eps)


def _double_softmax_floor(spec: LossSpec, k: int | None, smoothing: float) -> float | None:
    if not spec.classes or k is None or int(k) < 2 or smoothing:
        return None
    return math.log1p((int(k) - 1) / math.e)


def _clipping_plateaus(spec: LossSpec | None, options: Mapping[str, Any]) -> tuple[_Plateau, ...]:
    """The values a clipped cross-entropy reaches when every sample is confidently wrong."""
    if spec is not None and not (spec.classes or spec.name == "binary_crossentropy"):
        return ()
    epsilon, dtype = options.get("epsilon", EPSILON), options.get("dtype", "float32")
    smoothing = float(options.get("label_smoothing", 0.0)) if spec is not None else 0.0
    found: list[_Plateau] = []
    for backend in ("tensorflow", "tf_keras"):
        s = _semantics(epsilon, dtype, backend, False)
        if spec is None or spec.classes:
            found.append(_Plateau(_categorical_ceiling(spec, options, s), _PLATEAUS["categorical"]))
        if spec is None or spec.name == "binary_crossentropy":
            positive, negative = _smoothed_binary(smoothing)
            found.append(_Plateau(_binary_value(positive, s.eps, s), _PLATEAUS[backend, 1]))
            found.append(_Plateau(_binary_value(negative, s.high, s), _PLATEAUS[backend, 0]))
    unique: dict[float, _Plateau] = {}
    for plateau in found:
        if math.isfinite(plateau.value):
            unique.setdefault(round(plateau.value, 6), plateau)
    return tuple(sorted(unique.values(), key=lambda p: p.value))


# Where each ceiling comes from (the formulas hold without label smoothing).
_PLATEAUS: dict[Any, str] = {
    "categorical": "-ln ε: a true class predicted at probability 0, clipped up to ε",
    ("tensorflow", 1): "-ln ε: binary cross-entropy of label 1 predicted 0, clipped up to ε",
    ("tensorflow", 0): "-ln(1 - fl(1 - ε)): binary cross-entropy of label 0 predicted 1, "
                       "clipped down to 1 - ε rounded to the dtype (23 ln 2 in float32)",
    ("tf_keras", 1): "-ln 2ε: legacy tf.keras binary cross-entropy of label 1 predicted 0 "
                     "(it adds ε inside the log)",
    ("tf_keras", 0): "-ln(ε + 1 - fl(1 - ε)): legacy tf.keras binary cross-entropy of "
                     "label 0 predicted 1",
}


def _categorical_ceiling(spec: LossSpec | None, options: Mapping[str, Any], s) -> float:
    if spec is not None and options.get("label_smoothing"):
        return worst_case(spec.name, n_classes=options.get("n_classes"),
                          label_smoothing=options["label_smoothing"],
                          epsilon=options.get("epsilon", EPSILON),
                          dtype=options.get("dtype", "float32"))
    # TF's sparse renormalisation adds ln(1 + (K-2) eps), below 1e-3 for K < 8000.
    return _neg_log(s.eps)


# --------------------------------------------------------------------------
# One value


def explain(value: float, loss: str, **bounds_options: Any) -> Explanation:
    r"""What a loss value means, in numbers and in a few plain sentences.

    Parameters
    ----------
    value : float
        A loss value, such as the ``loss: 0.1956`` Keras printed. NaN and inf
        are accepted (and flagged).
    loss : str
        The loss name, such as ``"sparse_categorical_crossentropy"``.
    **bounds_options
        The options of `lossbounds.bounds`: ``n_classes``, ``y_true`` or
        ``counts`` (for the prior baseline), ``label_smoothing``,
        ``from_logits``, ``epsilon``, ``dtype``, ``backend``, ``y_range``,
        ``pred_range``, ``variance`` (for :math:`R^2`), ...

    Returns
    -------
    Explanation
        ``str()`` of it is the explanation for a beginner.

    Raises
    ------
    TypeError
        If `value` is not a real number, or an option is unknown.
    ValueError
        If the loss name or an option is invalid (as in `lossbounds.bounds`).

    Notes
    -----
    *Bits, perplexity, probability.* A cross-entropy :math:`L` in nats is
    :math:`L / \ln 2` bits [1]_. Its perplexity :math:`e^L` [3]_ is the number
    of equally likely classes that would leave a model as uncertain: guessing
    among K classes scores :math:`\ln K`, perplexity K. And since
    :math:`L = \frac1N \sum_i -\ln p_i` for the probability :math:`p_i` given
    to sample i's true class, :math:`e^{-L} = (\prod_i p_i)^{1/N}` is their
    geometric mean. For binary cross-entropy all three are per output.

    *Error rate.* Every sample costs at least :math:`b`, the best case, and a
    misclassified sample costs at least :math:`c > b`. The losses minus
    :math:`b` are non-negative, so by Markov's inequality [2]_ (here simply
    :math:`\sum_i (\ell_i - b) \ge (c - b)\,\#\{\text{errors}\}`) the fraction
    of misclassified samples is at most

    .. math:: \mathrm{err} \le \min\left(1, \frac{L - b}{c - b}\right).

    With hard labels :math:`c = \ln 2`: if the argmax is wrong, another class
    has :math:`p_j \ge p_y`, so :math:`p_y \le 1/2` and the sample costs at
    least :math:`\ln 2`. Keras' clipping and rescaling keep this
    (:math:`\mathrm{clip}(p_y) \le 1/2`; TensorFlow's renormalised sparse
    loss has :math:`c_y / \sum_k c_k \le c_y / (c_y + c_j) \le 1/2`), and
    logits too. Without smoothing :math:`b \approx 10^{-7}`, so the bound is
    :math:`L / \ln 2` to 7 digits. For binary cross-entropy the error is per
    output at threshold 0.5 (Keras' ``binary_accuracy``), and a wrong side of
    0.5 also costs at least :math:`\ln 2` (:math:`-\ln(0.5 + \epsilon)` in
    legacy tf.keras).

    With label smoothing :math:`a` the target is :math:`t_y = 1 - a + a/K`,
    :math:`t_o = a/K`. The cross-entropy is convex, and at its unconstrained
    minimum (:math:`q = t`) the argmax is right, so among misclassified rows
    the minimum ties the true class with one other at :math:`w/2`, with
    :math:`w = t_y + t_o`, and gives every other class :math:`t_o`:

    .. math:: c = -w \ln\frac w2 - (K-2)\, t_o \ln t_o,

    less :math:`\ln(1 + K\epsilon)` for clipped probabilities (clipping up to
    :math:`\epsilon` frees at most :math:`K\epsilon` of mass). For binary
    cross-entropy with smoothing, :math:`c = \ln 2` still and :math:`b` is
    :math:`H_b(a/2)`.

    The bound is None when :math:`c - b` < :data:`MIN_ERROR_GAP` (label
    smoothing near 1: a wrong and a perfect prediction cost almost the same,
    so the loss says nothing about errors). It holds for the value as given;
    a value Keras printed is rounded to 4 decimals, which moves it by at most
    :math:`5 \cdot 10^{-5} / (c - b)`. It is on the unweighted mean: sample
    or class weights change the loss, not the count of errors. For a training log, both the loss and the
    accuracy Keras prints are means over the same batches, so the printed
    training accuracy is at least :math:`1 - \mathrm{err}` (regularisation
    terms only raise the loss, so the bound still holds).

    *Double softmax.* Feeding probabilities :math:`p` (a softmax output) to a
    loss with ``from_logits=True`` applies softmax twice:
    :math:`\ell = \ln \sum_k e^{p_k - p_y}`. For a fixed :math:`p_y = s`, the
    sum over the other classes is convex in them and smallest when they are
    equal, :math:`(1-s)/(K-1)`; the result decreases in :math:`s`, so the
    minimum is at :math:`p = e_y`:

    .. math:: \ell \ge \ln\left(1 + \frac{K - 1}{e}\right),

    0.3133 for K = 2 and 1.4612 for K = 10 (without label smoothing; with it
    the floor is not computed). A loss stuck there points at a
    double softmax (Keras on TensorFlow detects a softmax layer and warns; on
    JAX, PyTorch or with a hand-written softmax it silently applies it twice).

    *Mean squared error.* :math:`\sqrt L` is in the units of the target, and
    :math:`R^2 = 1 - L / \mathrm{Var}(y)` compares with predicting the mean,
    whose loss is the variance (the prior baseline).

    See Also
    --------
    diagnose : the same for a whole training log.
    lossbounds.bounds : the bounds used here.

    Examples
    --------
    >>> import lossbounds
    >>> e = lossbounds.explain(0.1956, "sparse_categorical_crossentropy", n_classes=10)
    >>> round(e.fraction_of_uniform, 4), round(e.error_rate_bound, 4)
    (0.0849, 0.2822)
    >>> print(e)  # doctest: +ELLIPSIS
    0.1956 is 8.5% of the uniform baseline ln 10 = 2.303, ...: far better than guessing.
    ...
    At most 28% of the samples can be misclassified (argmax ≠ label), whatever the model: ...
    >>> lossbounds.explain(2.3026, "cce", n_classes=10).kinds
    ('at_uniform',)
    >>> lossbounds.explain(16.1181, "bce").kinds
    ('clipping_plateau', 'worse_than_uniform')
    >>> e = lossbounds.explain(0.25, "mse", variance=1.0)
    >>> e.rmse, e.r2
    (0.5, 0.75)
    """
    value = _check_value(value)
    ref = _reference(loss, bounds_options)
    known = not math.isnan(value)
    ce = ref.cross_entropy
    b = ref.bounds
    numbers_ = dict(
        fraction_of_uniform=_ratio(value, ref.uniform),
        fraction_of_prior=_ratio(value, ref.prior),
        bits=value / _LN2 if ce and known else None,
        perplexity=_exp(value) if ce and known else None,
        geometric_mean_probability=_exp(-value) if ce and known else None,
        error_rate_bound=_error_bound(value, ref),
        rmse=math.sqrt(value) if not ce and known and value >= 0 else None,
        r2=1.0 - value / ref.prior if not ce and known and ref.prior else None,
    )
    flags = _flags(value, ref)
    return Explanation(value=value, loss=ref.spec.name, bounds=b, flags=flags,
                       sentences=_sentences(value, ref, numbers_), **numbers_)


def _check_value(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = f" Hint: float({value!r})." if isinstance(value, str) else ""
        raise TypeError(
            f"`value` must be a real number (a loss value such as 0.1956), got "
            f"{type(value).__name__}: {value!r}.{hint}"
        )
    return float(value)


def _ratio(value: float, base: float | None) -> float | None:
    if base is None or not base > 0 or math.isnan(value):
        return None
    return value / base


def _exp(x: float) -> float:
    return math.inf if x > 709.0 else math.exp(x)


def _error_bound(value: float, ref: _Reference) -> float | None:
    """min(1, (L - b) / (c - b)): see `explain`."""
    if ref.wrong is None or not ref.wrong - ref.floor >= MIN_ERROR_GAP or math.isnan(value):
        return None
    return min(1.0, max(0.0, (value - ref.floor) / (ref.wrong - ref.floor)))


# --------------------------------------------------------------------------
# Flags: one value


def _flags(value: float, ref: _Reference) -> tuple[Flag, ...]:
    if math.isnan(value):
        return (Flag("nan", f"the loss is NaN (not a number): {_NON_FINITE['nan']}"),)
    if math.isinf(value):
        return (Flag("inf", f"the loss is infinite: {_NON_FINITE['inf']}"),)
    uniform = _uniform_flag(value, ref)
    # Worse than guessing is worse than the prior too: one flag says it.
    worse = uniform is not None and uniform.kind == "worse_than_uniform"
    found = [_below_best(value, ref), _at_plateau(value, ref), uniform,
             None if worse else _prior_flag(value, ref), _at_double_softmax(value, ref),
             _bce_on_multiclass(ref)]
    return tuple(flag for flag in found if flag is not None)


# What a NaN or infinite loss means, and what to check.
_NON_FINITE = {
    "nan": "training diverged. Usual causes: a learning rate far too high, sparse labels "
           "outside [0, K), NaN or huge values in the inputs, or a log(0) in a hand-written "
           "loss.",
    "inf": "some prediction gave log(0) or an overflow (logits are not clipped; float16 "
           "rounds 1 - epsilon to 1), or the weights diverged.",
}


def _below_best(value: float, ref: _Reference) -> Flag | None:
    best = ref.floor
    if not value < best - PRINT_ATOL - FLOAT32_RTOL * abs(best):
        return None
    return Flag("below_best", (
        f"{_fmt(value)} is below {_num(best)}, the lowest value {ref.spec.name} can take "
        "with these options: it cannot come from this loss. Check the loss name, the label "
        "smoothing, targets outside [0, 1] (they make cross-entropy negative), and sample "
        "or class weights below 1."
    ))


def _plateau_at(value: float, ref: _Reference) -> _Plateau | None:
    return next((p for p in ref.plateaus if abs(value - p.value) <= PLATEAU_ATOL), None)


def _plateau_reason(value: float, plateau: _Plateau) -> str:
    return (
        f"{_fmt(value)} is the clipping ceiling {plateau.value:.6f} ({plateau.what}), the "
        "most a sample can cost once clipping keeps the log finite: the model is confidently "
        "wrong on every sample. Check that the labels match the outputs (0..K-1, one-hot or "
        "integer), and lower the learning rate."
    )


def _at_plateau(value: float, ref: _Reference) -> Flag | None:
    plateau = _plateau_at(value, ref)
    return None if plateau is None else Flag("clipping_plateau", _plateau_reason(value, plateau))


def _uniform_flag(value: float, ref: _Reference) -> Flag | None:
    if ref.uniform is None:
        return None
    where = _relative(value, ref.uniform)
    if where > 0:
        return Flag("worse_than_uniform", (
            f"{_fmt(value)} is above the uniform baseline {_uniform_text(ref)}: the model does "
            "worse than guessing. Check the labels (do they match the inputs and outputs?), "
            "the choice of loss, and lower the learning rate."))
    if where == 0:
        return Flag("at_uniform", (
            f"{_fmt(value)} is within 1% of the uniform baseline {_uniform_text(ref)}: the model "
            "predicts (almost) the same for every input. Typical causes: a dead network "
            "(all-zero ReLUs), a learning rate far too small, or an untrained model."))
    return None


def _prior_flag(value: float, ref: _Reference) -> Flag | None:
    """Against the prior baseline, unless it is the uniform one (balanced classes)."""
    prior, uniform = ref.prior, ref.uniform
    if prior is None or (uniform is not None and _relative(prior, uniform) == 0):
        return None
    where = _relative(value, prior)
    if where > 0:
        return Flag("worse_than_prior", (
            f"{_fmt(value)} is above the prior baseline {_num(prior)}, {_prior_meaning(ref)}: "
            "the model does worse than ignoring its inputs."))
    if where == 0:
        return Flag("at_prior", (
            f"{_fmt(value)} is within 1% of the prior baseline {_num(prior)}, "
            f"{_prior_meaning(ref)}: the model has learned the class balance (or the mean), "
            "nothing from the inputs."))
    return None


def _relative(value: float, base: float) -> int:
    """-1, 0 or 1: below, within BASELINE_RTOL of, or above `base`."""
    if abs(value - base) <= BASELINE_RTOL * abs(base) + PRINT_ATOL:
        return 0
    return 1 if value > base else -1


def _at_double_softmax(value: float, ref: _Reference) -> Flag | None:
    floor = ref.double_softmax
    if floor is None or not floor - PRINT_ATOL <= value <= floor * (1 + BASELINE_RTOL):
        return None
    return Flag("double_softmax", _double_softmax_reason(value, ref))


def _double_softmax_reason(value: float, ref: _Reference) -> str:
    k = ref.n_classes
    return (
        f"{_fmt(value)} is at ln(1 + (K-1)/e) = {_num(ref.double_softmax)} for K = {k}, the "
        "lowest loss a double softmax can reach (softmax outputs fed to a loss with "
        "from_logits=True, or two softmax layers). If the loss never goes below it, remove "
        "one softmax or set from_logits=False."
    )


def _bce_on_multiclass(ref: _Reference) -> Flag | None:
    if ref.spec.name != "binary_crossentropy" or not ref.n_classes or ref.n_classes <= 2:
        return None
    return Flag("bce_on_multiclass", _bce_multiclass_reason(ref))


def _bce_multiclass_reason(ref: _Reference) -> str:
    k = ref.n_classes
    return (
        f"binary cross-entropy on {k} one-hot outputs averages {k} yes/no questions: its "
        f"guessing baseline is H_b(1/{k}) = {_num(ref.uniform)}, far below ln {k} = "
        f"{_num(math.log(k))}, and predicting all zeros already has a binary accuracy of "
        f"{_percent((k - 1) / k)}. A small loss may be just guessing; for one label per "
        "sample use categorical_crossentropy with a softmax output."
    )


# --------------------------------------------------------------------------
# Sentences for one value


def _sentences(value: float, ref: _Reference, n: Mapping[str, float | None]) -> tuple[str, ...]:
    if not math.isfinite(value):
        return (f"The {ref.spec.name} is {value}: there is no number to place among its bounds.",)
    if _below_best(value, ref) is not None:
        return (f"{_fmt(value)} is impossible for {ref.spec.name} with these options: no "
                f"prediction scores below {_num(ref.floor)}.",)
    lines = [_position(value, ref, n)]
    if ref.bounds is not None:
        lines.append(_range_sentence(ref))
    if ref.prior is not None and n["fraction_of_prior"] is not None and ref.cross_entropy:
        lines.append(f"Predicting the class frequencies alone scores {_num(ref.prior)} "
                     f"(the prior baseline); {_fmt(value)} is {_percent(n['fraction_of_prior'])} "
                     "of it.")
    if ref.cross_entropy:
        lines.extend(_information_sentences(value, ref, n))
    else:
        lines.extend(_regression_sentences(value, ref, n))
    if ref.missing is not None:
        lines.append(f"Not computed: {ref.missing}.")
    return tuple(lines)


def _position(value: float, ref: _Reference, n: Mapping[str, float | None]) -> str:
    fraction = n["fraction_of_uniform"]
    if fraction is None:
        return f"The {ref.spec.name} is {_fmt(value)}."
    verdict = _verdict(value, ref.uniform)
    return (f"{_fmt(value)} is {_share(fraction)} the uniform baseline "
            f"{_uniform_text(ref)}, {_uniform_meaning(ref)}: {verdict}.")


def _verdict(value: float, uniform: float) -> str:
    where = _relative(value, uniform)
    if where > 0:
        return "worse than guessing"
    if where == 0:
        return "the same as guessing"
    return "far better than guessing" if value <= FAR_BETTER * uniform else "better than guessing"


def _range_sentence(ref: _Reference) -> str:
    b = ref.bounds
    worst = ("there is no upper limit" if math.isinf(b.worst)
             else f"the highest Keras can print is {_num(b.worst)}")
    return f"The best value this loss can reach is {_num(b.best)}; {worst}."


def _information_sentences(value: float, ref: _Reference, n: Mapping[str, Any]) -> list[str]:
    per, k = ref.per, ref.n_classes
    choices = "classes" if ref.per == "sample" else "outcomes (0 or 1)"
    out_of = f" (of {k})" if k and ref.per == "sample" else ""
    most = k if k and ref.per == "sample" else (2 if ref.per == "output" else None)
    beyond = (f", more than the {most} there are: worse than guessing"
              if most and n["perplexity"] > most * (1 + BASELINE_RTOL) else "")
    lines = [
        f"In bits: {_num(n['bits'])} per {per} ({_fmt(value)} / ln 2).",
        f"Perplexity exp({_fmt(value)}) = {_num(n['perplexity'])}: the model is as uncertain "
        f"as if it chose among {_num(n['perplexity'])} equally likely {choices}{out_of}{beyond}.",
        f"exp(-{_fmt(value)}) = {_num(n['geometric_mean_probability'])} is the geometric-mean "
        f"probability the model gives to the true {'class' if per == 'sample' else 'label'}.",
    ]
    bound = n["error_rate_bound"]
    if bound is not None:
        lines.append(_error_sentence(value, ref, bound))
    return lines


def _error_sentence(value: float, ref: _Reference, bound: float) -> str:
    if ref.per == "sample":
        what, wrong = "samples can be misclassified (argmax ≠ label)", "misclassified sample"
    else:
        what, wrong = "outputs can be on the wrong side of 0.5", "wrong output"
    if bound >= 1.0:
        return (f"The loss is too high to bound the error rate: a {wrong} costs at least "
                f"{_num(ref.wrong)}, and {_fmt(value)} allows every one to be wrong.")
    how = (f"a {wrong} costs at least ln 2 = 0.6931, so a mean of {_fmt(value)} allows at most "
           f"{_fmt(value)} / 0.6931 of them" if abs(ref.wrong - _LN2) < 1e-6 and ref.floor < 1e-6
           else f"a {wrong} costs at least {_num(ref.wrong)} and any costs at least "
                f"{_num(ref.floor)}, so at most ({_fmt(value)} - {_num(ref.floor)}) / "
                f"({_num(ref.wrong)} - {_num(ref.floor)}) of them")
    return f"At most {_percent(bound)} of the {what}, whatever the model: {how}."


def _regression_sentences(value: float, ref: _Reference, n: Mapping[str, Any]) -> list[str]:
    lines = []
    if n["rmse"] is not None:
        lines.append(f"RMSE = sqrt({_fmt(value)}) = {_num(n['rmse'])}: predictions are off by "
                     "about that much, in the units of the target.")
    if n["r2"] is not None:
        lines.append(f"R² = 1 - {_fmt(value)} / {_num(ref.prior)} = {_num(n['r2'])}: predicting "
                     "the mean scores the variance of the targets (R² = 0), a perfect model "
                     "0 (R² = 1).")
    return lines


# --------------------------------------------------------------------------
# How values and baselines are written


def _fmt(value: float) -> str:
    """A loss value as Keras would print it, without trailing zeros."""
    if not math.isfinite(value):
        return str(value)
    return f"{value:.6g}"


def _num(value: float) -> str:
    """A derived number, 4 significant digits."""
    return "inf" if math.isinf(value) else f"{value:.4g}"


def _share(fraction: float) -> str:
    """"8.5% of" or "23.3 times", to stand before "the uniform baseline"."""
    text = _percent(fraction)
    return text if text.endswith("times") else f"{text} of"


def _percent(fraction: float) -> str:
    if fraction >= 2:
        return f"{fraction:.3g} times"
    percent = 100 * fraction
    if percent >= 10 or percent == 0:
        return f"{percent:.0f}%"
    return f"{percent:.1f}%" if percent >= 0.1 else f"{percent:.2g}%"


def _uniform_text(ref: _Reference) -> str:
    k, name = ref.n_classes, ref.spec.name
    if name == "binary_crossentropy":
        label = "ln 2" if not k or k == 2 else f"H_b(1/{k})"
    elif name == "mean_squared_error":
        label = f"(K-1)/K² for K = {k}"
    else:
        label = f"ln {k}"
    return f"{label} = {_num(ref.uniform)}"


def _uniform_meaning(ref: _Reference) -> str:
    k, name = ref.n_classes, ref.spec.name
    if name == "binary_crossentropy" and (not k or k == 2):
        return "the loss of predicting 0.5 for every output"
    if name == "binary_crossentropy" or name == "mean_squared_error":
        return f"the loss of predicting 1/{k} on each of {k} one-hot outputs"
    return f"the loss of predicting 1/{k} for every class"


def _prior_meaning(ref: _Reference) -> str:
    if ref.cross_entropy:
        return "the loss of predicting the class frequencies for every input"
    return "the loss of predicting the mean target (the variance)"


def _epoch_ranges(epochs: Sequence[int]) -> str:
    """``(1, 2, 3, 7)`` -> ``"epochs 1-3, 7"``."""
    runs: list[list[int]] = []
    for epoch in epochs:
        if runs and epoch == runs[-1][-1] + 1:
            runs[-1].append(epoch)
        else:
            runs.append([epoch])
    text = ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)
    return ("epoch " if len(epochs) == 1 else "epochs ") + text


# --------------------------------------------------------------------------
# A training log: columns


@dataclass(frozen=True)
class _Log:
    """A log as columns: epoch numbers, and each metric with NaN where missing."""

    numbers: np.ndarray  # int, the epoch numbers as printed
    columns: dict[str, np.ndarray]  # float
    present: dict[str, np.ndarray]  # bool: the epoch printed this metric

    def finite(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Epoch numbers and values of `name` where it is finite."""
        values = self.columns[name]
        keep = np.isfinite(values)
        return self.numbers[keep], values[keep]


def _read_log(log: Any) -> _Log:
    if isinstance(log, TrainingLog):
        names = list(dict.fromkeys(name for ep in log for name in ep.metrics))
        columns = {n: np.array([ep.metrics.get(n, math.nan) for ep in log], float) for n in names}
        present = {n: np.array([n in ep.metrics for ep in log]) for n in names}
        return _Log(np.array([ep.number for ep in log], int), columns, present)
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
    return _Log(np.arange(1, length + 1), columns, present)


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


def _output_losses(log: _Log) -> list[str]:
    """Per-output loss columns of a multi-output model (``out_a_loss``)."""
    return [n for n in log.columns if n.endswith("_loss") and n != "loss"
            and not n.startswith("val_")]


def _accuracy_column(log: _Log, prefix: str = "") -> str | None:
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
        rise = float(stats.theilslopes(tested, x).slope) * (tested.size - 1)
        noise = _noise(tested)
        if rise > NOISE_UNITS * noise:
            return _Rise(first, rise, noise, float(tau), float(p_value))
    return None


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


def diagnose(log: Any, loss: str | None = None, **bounds_options: Any) -> list[Finding]:
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
    **bounds_options
        The options of `lossbounds.bounds`, as for `explain`: ``n_classes``
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
    data = _read_log(log)
    if data.numbers.size == 0:
        raise ValueError("`log` has no epochs: nothing to diagnose. Hint: check that the text "
                         "is the output of model.fit (lines like 'Epoch 1/10').")
    if "loss" not in data.columns:
        raise ValueError(f"`log` has no 'loss' column; it has {', '.join(data.columns)}.")
    ref = None if loss is None else _reference(loss, bounds_options)
    findings = [*_nan_findings(data), *_trend_findings(data)]
    findings.extend(_bound_findings(data, ref))
    order = {severity: rank for rank, severity in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])  # stable: detection order kept


def _loss_columns(data: _Log) -> list[str]:
    return [n for n in ("loss", "val_loss", *_output_losses(data)) if n in data.columns]


def _nan_findings(data: _Log) -> list[Finding]:
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
                                        f"{_NON_FINITE[kind]}"))
    return findings


def _trend_findings(data: _Log) -> list[Finding]:
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
    origin = f"{_fmt(y[start])} (epoch {numbers_[start]})"
    origin = f"its lowest value, {origin}," if start else origin
    return Finding("rising_loss", "warning", epochs, values, (
        f"The training loss rose from {origin} to {_fmt(y[end])} (epoch {numbers_[end]}): a "
        f"steady trend (Kendall τ = {rise.tau:.2f}, "
        f"p = {rise.p_value:.2g}) of +{_num(rise.rise)}, {rise.rise / rise.noise:.1f} times the "
        f"epoch-to-epoch noise ({_num(rise.noise)}). A training loss should fall; when it rises "
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
        f"val_loss was lowest at epoch {numbers_[best]} ({_fmt(val[best])}) and rose to "
        f"{_fmt(val[end])} by epoch {numbers_[end]}, while the training loss did not rise (it "
        f"ended at {_fmt(train[end])}): the model is memorising the training set (overfitting). "
        f"Keep the weights of epoch {numbers_[best]} (EarlyStopping(restore_best_weights=True)), "
        "or add data, dropout or weight decay."
    ))


def _gap_finding(numbers_, train, val, rise: _Rise) -> Finding:
    start, end = rise.first, val.size - 1
    values = {"gap_start": val[start] - train[start], "gap_end": val[end] - train[end],
              "rise": rise.rise, "noise": rise.noise, "kendall_tau": rise.tau,
              "p_value": rise.p_value}
    return Finding("growing_gap", "info", tuple(numbers_[start:]), values, (
        f"val_loss - loss grew from {_num(values['gap_start'])} (epoch {numbers_[start]}) to "
        f"{_num(values['gap_end'])} (epoch {numbers_[end]}): the model improves on the training "
        "set faster than on new data, the first sign of overfitting. Watch val_loss: stop when "
        "it stops falling."
    ))


def _val_below_finding(numbers_, train, val, below) -> Finding:
    end = val.size - 1
    values = {"loss": train[end], "val_loss": val[end], "gap": val[end] - train[end],
              "fraction_of_epochs": below.mean()}
    return Finding("val_below_train", "info", tuple(numbers_[below]), values, (
        f"val_loss ({_fmt(val[end])}) is below loss ({_fmt(train[end])}) in "
        f"{_percent(below.mean())} of the epochs. This is normal: the loss Keras prints is the "
        "mean over the epoch, while the weights were still improving and with dropout on, but "
        "val_loss is computed at the end of the epoch, with the final weights and dropout off."
    ))


def _bound_findings(data: _Log, ref: _Reference | None) -> list[Finding]:
    outputs = _output_losses(data)
    if outputs:
        return [Finding("no_bounds", "info", (), {}, (
            f"This model has several outputs ({', '.join(outputs)}): 'loss' is their weighted "
            "sum, not one loss, so it is not compared with any loss's bounds. Explain each "
            "output's final loss on its own: lossbounds explain VALUE LOSS."))]
    if ref is None:
        findings = [_no_loss_finding(data)]
        return [*_plateau_findings(data, _clipping_plateaus(None, {})), *findings]
    findings = []
    for name in ("loss", "val_loss"):
        if name in data.columns:
            findings.extend(_level_findings(data, name, ref))
    findings.extend(_accuracy_findings(data, ref))
    if ref.missing is not None:
        findings.append(Finding("no_bounds", "info", (), {}, f"Not computed: {ref.missing}."))
    bce = _bce_on_multiclass(ref)
    if bce is not None:
        values = {"n_classes": ref.n_classes, "uniform": ref.uniform}
        findings.append(Finding("bce_on_multiclass", "warning", (), values,
                                bce.reason[0].upper() + bce.reason[1:]))
    return findings


def _no_loss_finding(data: _Log) -> Finding:
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


def _level_findings(data: _Log, name: str, ref: _Reference) -> list[Finding]:
    numbers_, y = data.finite(name)
    if y.size == 0:
        return []
    findings = [*_below_best_findings(name, numbers_, y, ref),
                *_plateau_findings(data, ref.plateaus, [name])]
    findings.extend(_baseline_findings(name, numbers_, y, ref))
    if name == "loss":
        findings.extend(_double_softmax_findings(numbers_, y, ref))
    return findings


def _below_best_findings(name, numbers_, y, ref: _Reference) -> list[Finding]:
    bad = y < ref.floor - PRINT_ATOL - FLOAT32_RTOL * abs(ref.floor)
    if not bad.any():
        return []
    first = int(np.flatnonzero(bad)[0])
    reason = _below_best(float(y[first]), ref).reason
    return [Finding("below_best", "error", tuple(numbers_[bad]),
                    {"value": y[first], "best": ref.floor},
                    f"{name} at epoch {numbers_[first]}: {reason}")]


def _plateau_findings(data: _Log, plateaus: Sequence[_Plateau],
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
                                    + _plateau_reason(float(y[first]), plateau)))
    return findings


def _baseline_findings(name, numbers_, y, ref: _Reference) -> list[Finding]:
    level, uniform, prior = _level(y), ref.uniform, ref.prior
    findings = []
    if uniform is not None:
        where = _relative(level, uniform)
        if where > 0:  # then above the prior too: one finding
            run = _trailing(np.array([_relative(v, uniform) > 0 for v in y]))
            # Still falling: maybe only unfinished; flat or rising: broken.
            severity = "warning" if _falling(y[run]) else "error"
            return [_stuck_finding("above_uniform", severity, name, numbers_, y, run, level, ref)]
        if where == 0:
            run = _trailing(np.array([_relative(v, uniform) == 0 for v in y]))
            findings.append(_stuck_finding("at_uniform", "warning", name, numbers_, y, run,
                                           level, ref))
    flag = _prior_flag(level, ref)
    if flag is not None:
        kind = "at_prior" if flag.kind == "at_prior" else "above_prior"
        findings.append(Finding(kind, "warning", (numbers_[-1],), {"level": level, "prior": prior},
                                f"{name} (final level): {flag.reason}"))
    if name == "loss" and not findings:
        findings.extend(_position_findings(numbers_, y, ref))
    return findings


def _stuck_finding(kind, severity, name, numbers_, y, run, level, ref: _Reference) -> Finding:
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
    return Finding(kind, severity, tuple(epochs), {"level": level, "uniform": ref.uniform}, (
        f"{name} {where} the uniform baseline {_uniform_text(ref)} (final level "
        f"{_fmt(level)}): {what}."
    ))


def _falling(y: np.ndarray) -> bool:
    """A significant downward trend (the mirror of `_rise`'s test)."""
    return _rise(-y) is not None


def _position_findings(numbers_, y, ref: _Reference) -> list[Finding]:
    final, epoch = float(y[-1]), int(numbers_[-1])
    if ref.uniform is not None and ref.uniform > 0:
        fraction = final / ref.uniform
        kind = "far_better_than_uniform" if fraction <= FAR_BETTER else "better_than_uniform"
        values = {"loss": final, "uniform": ref.uniform, "fraction_of_uniform": fraction}
        message = (f"The final training loss {_fmt(final)} (epoch {epoch}) is "
                   f"{_share(fraction)} the uniform baseline {_uniform_text(ref)}, "
                   f"{_uniform_meaning(ref)}: {_verdict(final, ref.uniform)}.")
        if ref.cross_entropy:
            values["perplexity"] = _exp(final)
            message += (f" Its perplexity exp({_fmt(final)}) = {_num(_exp(final))} means it "
                        f"hesitates among about {_num(_exp(final))} {_choices(ref)}")
            bound = _error_bound(final, ref)
            if bound is not None and bound < 1:
                values["error_rate_bound"] = bound
                message += (f", and the loss alone caps the training error rate at "
                            f"{_percent(bound)}")
            message += "."
        return [Finding(kind, "info", (epoch,), values, message)]
    if not ref.cross_entropy and ref.prior:
        r2 = 1.0 - final / ref.prior
        return [Finding("better_than_prior", "info", (epoch,), {"loss": final, "r2": r2}, (
            f"The final training loss {_fmt(final)} (epoch {epoch}) gives R² = 1 - "
            f"{_fmt(final)} / {_num(ref.prior)} = {_num(r2)}: the model explains "
            f"{_percent(max(r2, 0.0))} of the target variance (predicting the mean explains 0%)."
        ))]
    return []


def _choices(ref: _Reference) -> str:
    k = ref.n_classes
    if ref.per == "output":
        return "outcomes per output instead of 2"
    return f"classes instead of {k}"


def _double_softmax_findings(numbers_, y, ref: _Reference) -> list[Finding]:
    floor = ref.double_softmax
    if floor is None:
        return []
    level = _level(y)
    if not (y.min() >= floor - PRINT_ATOL and level <= floor * (1 + BASELINE_RTOL)):
        return []
    run = _trailing(y <= floor * (1 + BASELINE_RTOL))
    return [Finding("double_softmax", "warning", tuple(numbers_[run]),
                    {"level": level, "floor": floor},
                    "loss: " + _double_softmax_reason(level, ref))]


def _accuracy_findings(data: _Log, ref: _Reference) -> list[Finding]:
    if ref.wrong is None:
        return []
    findings = []
    for prefix in ("", "val_"):
        accuracy = _accuracy_column(data, prefix)
        name = prefix + "loss"
        if accuracy is None or name not in data.columns:
            continue
        loss_, acc = data.columns[name], data.columns[accuracy]
        keep = np.isfinite(loss_) & np.isfinite(acc)
        bound = np.array([_error_bound(float(v), ref) for v in loss_[keep]], float)
        bad = (1.0 - acc[keep]) > bound + ACCURACY_ATOL
        if not bad.any():
            continue
        epochs = data.numbers[keep][bad]
        i = int(np.flatnonzero(bad)[0])
        findings.append(Finding("accuracy_vs_loss", "warning", tuple(epochs), {
            "accuracy": acc[keep][i], "loss": loss_[keep][i], "error_rate_bound": bound[i]}, (
            f"At epoch {epochs[0]}, {accuracy} {_fmt(acc[keep][i])} means "
            f"{_percent(1 - acc[keep][i])} errors, but a {ref.spec.name} of "
            f"{_fmt(loss_[keep][i])} allows at most {_percent(bound[i])}: the loss name or its "
            "options do not match this model (or sample/class weights are used)."
        )))
    return findings
