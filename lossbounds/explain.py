r"""What one loss value means.

`explain` turns one loss value into a few plain sentences and numbers: where
it stands between the best value, the prior and uniform baselines and the
worst value Keras can print; the same number in the loss's own units (bits,
perplexity and the probability of the true class for a cross-entropy; RMSE
and R² for squared error); the highest error rate it allows; and flags for
values that point at a bug. The words for each loss come from its definition.

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
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .bounds import Bounds
from .text import (
    BASELINE_RTOL,
    FLOAT32_RTOL,
    PLATEAU_ATOL,
    PRINT_ATOL,
    for_python,
    loss_value,
    number,
    share,
)
from .yardstick import (
    MIN_ERROR_GAP,
    NON_FINITE,
    Yardstick,
    above_worst,
    above_worst_reason,
    below_best_reason,
    double_softmax_reason,
    plateau_reason,
    relative,
    worst_sentence,
    yardstick,
)

__all__ = [
    "BASELINE_RTOL",
    "FAR_BETTER",
    "FLOAT32_RTOL",
    "MIN_ERROR_GAP",
    "PLATEAU_ATOL",
    "PRINT_ATOL",
    "Explanation",
    "Flag",
    "explain",
    "prior_flag",
    "uniform_flag",
    "verdict",
]

#: "Far better than guessing": at most half the uniform baseline, a perplexity
#: of at most sqrt(K).
FAR_BETTER = 0.5


# --------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Flag:
    """Something about a loss value that points at a bug or a misreading.

    Attributes
    ----------
    kind : str
        A stable name: ``"nan"``, ``"inf"``, ``"below_best"``,
        ``"clipping_plateau"``, ``"above_worst"`` (above the clipped worst
        case: how it happens), ``"worse_than_uniform"``, ``"at_uniform"``,
        ``"worse_than_prior"``, ``"at_prior"``, ``"double_softmax"``, or one
        the loss defines (``"bce_on_multiclass"``).
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



# --------------------------------------------------------------------------
# One value


def explain(value: float, loss: str, **options: Any) -> Explanation:
    r"""What a loss value means, in numbers and in a few plain sentences.

    Parameters
    ----------
    value : float
        A loss value, such as the ``loss: 0.1956`` Keras printed. NaN and inf
        are accepted (and flagged).
    loss : str
        The loss name, such as ``"sparse_categorical_crossentropy"``.
    **options
        The loss's options, as for `lossbounds.bounds`: ``n_classes``,
        ``y_true`` or ``counts`` (for the prior baseline),
        ``label_smoothing``, ``from_logits``, ``epsilon``, ``dtype``,
        ``backend``, ``y_range``, ``pred_range``, ``variance`` (for
        :math:`R^2`), ...

    Returns
    -------
    Explanation
        ``str()`` of it is the explanation for a beginner.

    Raises
    ------
    TypeError
        If `value` is not a real number, or the loss has no such option.
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
    ys = yardstick(loss, options)
    known = not math.isnan(value)
    measures = ys.loss.measures(value, ys.prior)
    numbers_: dict[str, float | None] = {name: None for name in _MEASURES}
    numbers_.update(
        fraction_of_uniform=_ratio(value, ys.uniform),
        fraction_of_prior=_ratio(value, ys.prior),
        error_rate_bound=ys.error_bound(value) if known else None,
        **measures,
    )
    return Explanation(value=value, loss=ys.loss.name, bounds=ys.bounds, flags=_flags(value, ys),
                       sentences=_sentences(value, ys, numbers_), **numbers_)


#: The numbers an `Explanation` carries; a loss's `measures` fill some of them.
_MEASURES = ("fraction_of_uniform", "fraction_of_prior", "bits", "perplexity",
             "geometric_mean_probability", "error_rate_bound", "rmse", "r2")


def _check_value(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        hint = f" Hint: float({value!r})." if isinstance(value, str) else ""
        raise TypeError(
            f"`value` must be a real number (a loss value such as 0.1956), got "
            f"{type(value).__name__}: {value!r}.{hint}"
        )
    return float(value)


def _ratio(value: float, base: float | None) -> float | None:
    # A share of a baseline means something for values between 0 and beyond it; a loss
    # that can be negative (Poisson, cosine) is placed by its flags and sentences instead.
    if base is None or not base > 0 or math.isnan(value) or value < 0:
        return None
    return value / base


# --------------------------------------------------------------------------
# Flags: one value


def _flags(value: float, ys: Yardstick) -> tuple[Flag, ...]:
    if math.isnan(value):
        return (Flag("nan", f"the loss is NaN (not a number): {NON_FINITE['nan']}"),)
    if math.isinf(value):
        return (Flag("inf", f"the loss is infinite: {NON_FINITE['inf']}"),)
    uniform = uniform_flag(value, ys)
    # Worse than guessing is worse than the prior too: one flag says it.
    worse = uniform is not None and uniform.kind == "worse_than_uniform"
    plateau = _at_plateau(value, ys)
    found = [_below_best(value, ys), plateau, None if plateau else _above_worst(value, ys),
             uniform, None if worse else prior_flag(value, ys), _at_double_softmax(value, ys)]
    found.extend(Flag(note.code, str(note)) for note in ys.loss.value_flags(value, ys.setting))
    found.extend(Flag(note.code, str(note)) for note in ys.loss.flags(ys.setting))
    return tuple(Flag(flag.kind, for_python(flag.reason)) for flag in found if flag is not None)


def _above_worst(value: float, ys: Yardstick) -> Flag | None:
    """Above the clipped worst case: possible, and here is how (the most likely way first)."""
    return Flag("above_worst", above_worst_reason(value, ys)) if above_worst(value, ys) else None


def _below_best(value: float, ys: Yardstick) -> Flag | None:
    return Flag("below_best", below_best_reason(value, ys)) if ys.below_best(value) else None


def _at_plateau(value: float, ys: Yardstick) -> Flag | None:
    plateau = ys.plateau_at(value)
    return None if plateau is None else Flag("clipping_plateau", plateau_reason(value, plateau))


def uniform_flag(value: float, ys: Yardstick) -> Flag | None:
    """``worse_than_uniform`` or ``at_uniform``, or None."""
    if ys.uniform is None:
        return None
    where = relative(value, ys.uniform)
    if where > 0:
        return Flag("worse_than_uniform", (
            f"{loss_value(value)} is above the uniform baseline {ys.uniform_text()}: the model "
            "does worse than guessing. Check the labels (do they match the inputs and outputs?), "
            "the choice of loss, and lower the learning rate."))
    if where == 0:
        return Flag("at_uniform", (
            f"{loss_value(value)} is within 1% of the uniform baseline {ys.uniform_text()}: the "
            "model predicts (almost) the same for every input. Typical causes: a dead network "
            "(all-zero ReLUs), a learning rate far too small, or an untrained model."))
    return None


def prior_flag(value: float, ys: Yardstick) -> Flag | None:
    """Against the prior baseline, unless it is the uniform one (balanced classes)."""
    prior, uniform = ys.prior, ys.uniform
    if prior is None or (uniform is not None and relative(prior, uniform) == 0):
        return None
    where = relative(value, prior)
    if where > 0:
        return Flag("worse_than_prior", (
            f"{loss_value(value)} is above the prior baseline {number(prior)}, "
            f"{ys.loss.prior_meaning}: the model does worse than ignoring its inputs."))
    if where == 0:
        return Flag("at_prior", (
            f"{loss_value(value)} is within 1% of the prior baseline {number(prior)}, "
            f"{ys.loss.prior_meaning}: the model has learned the class balance (or the mean), "
            "nothing from the inputs."))
    return None


def _at_double_softmax(value: float, ys: Yardstick) -> Flag | None:
    floor = ys.double_softmax
    if floor is None or not floor - PRINT_ATOL <= value <= floor * (1 + BASELINE_RTOL):
        return None
    return Flag("double_softmax", double_softmax_reason(value, ys))


# --------------------------------------------------------------------------
# Sentences for one value


def _sentences(value: float, ys: Yardstick, n: Mapping[str, Any]) -> tuple[str, ...]:
    name = ys.loss.name
    if not math.isfinite(value):
        return (f"The {name} is {value}: there is no number to place among its bounds.",)
    if ys.below_best(value):
        return (f"{loss_value(value)} is impossible for {name} with these options: no "
                f"prediction scores below {number(ys.floor)}.",)
    lines = [_position(value, ys, n)]
    if ys.bounds is not None:
        lines.append(_range_sentence(ys))
    if ys.prior is not None and n["fraction_of_prior"] is not None and ys.loss.probabilistic:
        lines.append(f"Predicting the class frequencies alone scores {number(ys.prior)} "
                     f"(the prior baseline); {loss_value(value)} is "
                     f"{share(n['fraction_of_prior'])} it.")
    lines.extend(ys.loss.describe(value, n, ys.setting, ys.marks(value)))
    if ys.missing is not None:
        lines.append(f"Not computed: {ys.missing}.")
    return tuple(for_python(line) for line in lines)


def _position(value: float, ys: Yardstick, n: Mapping[str, Any]) -> str:
    fraction = n["fraction_of_uniform"]
    if fraction is None or ys.uniform is None:
        return f"The {ys.loss.name} is {loss_value(value)}."
    return (f"{loss_value(value)} is {share(fraction)} the uniform baseline "
            f"{ys.uniform_text()}, {ys.uniform_meaning()}: {verdict(value, ys.uniform)}.")


def verdict(value: float, uniform: float) -> str:
    """"worse than guessing", "the same as guessing", "(far) better than guessing"."""
    where = relative(value, uniform)
    if where > 0:
        return "worse than guessing"
    if where == 0:
        return "the same as guessing"
    return "far better than guessing" if value <= FAR_BETTER * uniform else "better than guessing"


def _range_sentence(ys: Yardstick) -> str:
    assert ys.bounds is not None
    return f"The best value this loss can reach is {number(ys.bounds.best)}; {worst_sentence(ys)}."
