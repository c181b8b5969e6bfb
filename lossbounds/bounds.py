r"""Analytic bounds of Keras losses: best achievable, prior, uniform and worst.

Every value here is the exact real number that Keras' floating-point
computation approximates: the clip bounds :math:`\epsilon` and
:math:`1 - \epsilon` are rounded to the compute dtype as Keras rounds them,
and the logarithms are exact. Keras' own output is that number rounded to
its dtype (float32 by default), so the two agree to float32 precision.

The four bounds, for one sample with hard labels (one-hot, binary or integer
class labels) and optional label smoothing:

``best``
    The lowest value Keras can return: 0 in exact arithmetic, raised by
    clipping, by label smoothing (the entropy of the smoothed target) and by
    TensorFlow's sparse renormalisation.
``prior``
    The loss of the best *constant* prediction, the label frequencies: the
    entropy of the labels. A model that learned nothing from its inputs but
    the class balance scores this.
``uniform``
    The loss of the natural know-nothing prediction: :math:`1/K` for every
    class, :math:`\ln K` for the categorical losses, :math:`\ln 2` for
    binary cross-entropy.
``worst``
    The highest value Keras can return for valid predictions (probability
    rows that sum to 1, or probabilities in [0, 1]): :math:`-\ln \epsilon`
    = 16.118095 for clipped probabilities, ``inf`` for logits.

Each function takes the loss's own options: its Keras options
(``from_logits``, ``label_smoothing``, ...), what its bounds need
(``n_classes`` for the categorical baselines, ``y_range`` and ``pred_range``
for regression losses) and the Keras configuration every loss shares
(``epsilon``, ``dtype``, ``backend``). An option the loss does not have raises
`TypeError` naming the ones it has. The derivation of each bound is in its
loss's definition (`lossbounds.families`), with its reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import families  # noqa: F401 - registers every loss
from .backends import BACKENDS
from .registry import LossDefinition, Setting, UndefinedBound, get_loss
from .text import Note, bound_value

__all__ = [
    "BACKENDS",
    "Bounds",
    "baseline",
    "best_case",
    "bounds",
    "prior_baseline",
    "worst_case",
]

_OPTIONS_DOC = """
    loss : str
        A loss name, such as ``"sparse_cce"`` or ``"binary_crossentropy"``.
    **options
        The loss's own options (``lossbounds losses`` lists them): its Keras
        options (``from_logits``, ``label_smoothing``, ...), ``n_classes``
        (K) for the categorical losses, ``y_range`` and ``pred_range`` for
        regression losses, and for every loss ``epsilon`` (Keras' clip
        epsilon, default 1e-7), ``dtype`` (``"float32"``, ``"float16"`` or
        ``"float64"``) and ``backend`` (``"tensorflow"``, ``"jax"``,
        ``"torch"``, ``"numpy"`` or ``"tf_keras"``, legacy Keras 2).
"""


def _setting(loss: Any, options: Mapping[str, Any], caller: str, *, data: bool = False,
             classes_from_data: bool = False) -> tuple[LossDefinition, Setting]:
    definition = get_loss(loss)
    allowed = definition.option_names(data=data)
    return definition, definition.setting(options, allowed=allowed, caller=caller,
                                          classes_from_data=classes_from_data)


def best_case(loss: str, **options: Any) -> float:
    r"""The lowest loss Keras can return for one sample with hard labels.

    Parameters
    ----------
    loss : str
        A loss name.
    **options
        The loss's options; see `bounds`.

    Returns
    -------
    float

    Notes
    -----
    0 in exact arithmetic, raised by clipping (:math:`-\ln(1-\epsilon)`, with
    :math:`1 - \epsilon` rounded to the dtype: 1.1920929e-07 in float32), by
    label smoothing (the entropy of the smoothed target) and by TensorFlow's
    sparse renormalisation (:math:`\ln(1 + (K-1)\epsilon/(1-\epsilon))`). Each
    loss's derivation is in its definition.

    See Also
    --------
    worst_case, baseline, prior_baseline, bounds

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.best_case("cce")  # -ln(f32(1 - 1e-7)) = -ln(1 - 2**-23)
    1.1920929665620916e-07
    >>> lossbounds.best_case("sparse_cce", n_classes=1000)  # TF's float32 gives 1.00488e-04
    9.98950...e-05
    >>> round(lossbounds.best_case("cce", n_classes=3, label_smoothing=0.1), 6)
    0.29114
    """
    definition, setting = _setting(loss, options, "best_case")
    return definition.best(setting)


def worst_case(loss: str, **options: Any) -> float:
    r"""The highest loss Keras can return for one sample with a valid prediction.

    Valid predictions are probability rows that sum to 1 (probabilities in
    [0, 1] for binary cross-entropy), or predictions in `pred_range`.

    Parameters
    ----------
    loss : str
        A loss name.
    **options
        The loss's options; see `bounds`.

    Returns
    -------
    float
        ``math.inf`` where the loss is unbounded: logits on every backend
        but for NumPy's binary cross-entropy, and regression losses without
        both ranges.

    Notes
    -----
    For clipped probabilities, :math:`-\ln \epsilon` = 16.118095 in float32.
    These are exact real numbers; Keras returns them rounded to its dtype,
    and in float16 categorical cross-entropy also adds up the K terms of a
    row in float16, so with label smoothing its result can exceed the bound
    by up to about :math:`(K-1)\,2^{-11}` relative (16.0 for 15.94 at
    K = 1000).

    See Also
    --------
    best_case, bounds

    Examples
    --------
    >>> import lossbounds
    >>> round(lossbounds.worst_case("bce"), 5)  # -ln(f32(1e-7))
    16.1181
    >>> round(lossbounds.worst_case("bce", backend="tf_keras"), 6)
    15.424949
    >>> lossbounds.worst_case("cce", from_logits=True)
    inf
    >>> lossbounds.worst_case("mse", y_range=(0, 1), pred_range=(0, 1))
    1.0
    """
    definition, setting = _setting(loss, options, "worst_case")
    return definition.worst(setting)


def baseline(loss: str, y_true: Any = None, **options: Any) -> float:
    r"""The uniform baseline: the loss of predicting :math:`1/K` for every class.

    This is what an untrained classifier should score ("verify the loss at
    initialisation"): :math:`\ln K` for categorical and sparse categorical
    cross-entropy, :math:`\ln 2` for binary cross-entropy, and
    :math:`(K-1)/K^2` for mean squared error on one-hot targets.

    Parameters
    ----------
    loss : str
        A loss name, such as ``"sparse_cce"``.
    y_true : array_like, optional
        The targets, for losses whose know-nothing prediction (predicting 0)
        scores something that depends on them, such as regression losses.
    **options
        The loss's options; see `bounds`. ``n_classes`` is required for the
        categorical losses and for mean squared error. For binary
        cross-entropy, K > 2 means K one-hot outputs each predicted at
        :math:`1/K`, whose baseline is the binary entropy :math:`H_b(1/K)`,
        far below :math:`\ln K`.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        Where the loss has no uniform baseline with these options (the
        message says what to pass).

    Notes
    -----
    With a smoothed one-hot target :math:`t` (:math:`\sum_k t_k = 1`),
    :math:`-\sum_k t_k \ln(1/K) = \ln K`. By Gibbs' inequality the entropy of
    any label distribution is at most :math:`\ln K`, so the uniform baseline
    is also the worst *constant* prediction one can make knowing nothing, and
    a trained model should beat it. Clipping matters only where
    :math:`1/K < \epsilon`, and legacy tf.keras' binary cross-entropy adds
    :math:`\epsilon` inside the log (0.6931469 instead of ln 2).

    See Also
    --------
    prior_baseline : the best constant prediction, from the label frequencies.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.baseline("sparse_cce", n_classes=7)  # ln 7
    1.9459101490553132
    >>> lossbounds.baseline("bce")
    0.6931471805599453
    >>> lossbounds.baseline("mse", n_classes=4)
    0.1875
    """
    definition, setting = _setting(loss, options, "baseline")
    return definition.uniform(setting, y_true)


def prior_baseline(loss: str, y_true: Any = None, **options: Any) -> float:
    r"""The loss of the best constant prediction: the entropy of the labels.

    A model that ignores its inputs can at best predict the label
    frequencies :math:`f` for every sample, and then scores the entropy
    :math:`H(f) = -\sum_k f_k \ln f_k` (per output, averaged, for binary
    cross-entropy). For mean squared error the best constant is the mean
    target and the loss is the target variance.

    Parameters
    ----------
    loss : str
        A loss name.
    y_true : array_like, optional
        The labels: integer classes (sparse), one-hot or soft rows
        (categorical), 0/1 or soft targets of shape ``(N,)`` or ``(N, D)``
        (binary), or regression targets (mean squared error).
    **options
        The loss's options (see `bounds`) and, instead of `y_true`, what the
        labels can be summarised by: ``counts``, the class counts, shape
        ``(K,)`` (for binary cross-entropy ``(negatives, positives)``, shape
        ``(2,)`` or ``(D, 2)`` per output), which any engine (Spark, Dask,
        SQL) can compute for data far larger than memory; for mean squared
        error the sufficient statistics ``count``, ``mean`` and ``variance``
        (population variance, per output or overall). ``sample_weight``
        weights `y_true`; ``ignore_class`` leaves a sparse label value out.

    Returns
    -------
    float

    Notes
    -----
    For a constant prediction :math:`q`, the average loss over the data is
    :math:`-\sum_k f_k \ln q_k` because the loss is linear in the target;
    Gibbs' inequality gives :math:`-\sum_k f_k \ln q_k \ge H(f)` with
    equality at :math:`q = f`. The value returned is Keras' loss at
    :math:`q = f` with Keras' clipping (and, for sparse categorical
    cross-entropy on TensorFlow, its renormalisation, which adds
    :math:`\ln \sum_k \mathrm{clip}(f_k)`, at most :math:`\ln(1 + K\epsilon)`).
    Clipping can let some other constant undercut it by at most
    :math:`\ln(1 + K\epsilon)`, and only when a class frequency lies below
    about :math:`e\epsilon` or above :math:`1-\epsilon`. For mean squared
    error, :math:`\mathbb{E}(y - c)^2 = \mathrm{Var}(y) + (\bar y - c)^2`.

    See Also
    --------
    baseline : the uniform baseline :math:`\ln K`, an upper bound of this.

    Examples
    --------
    >>> import lossbounds
    >>> round(lossbounds.prior_baseline("sparse_cce", [0, 0, 0, 1]), 6)
    0.562335
    >>> round(lossbounds.prior_baseline("sparse_cce", counts=[900, 90, 10]), 6)
    0.357591
    >>> lossbounds.prior_baseline("mse", [1.0, 2.0, 3.0, 4.0])
    1.25
    """
    definition, setting = _setting(loss, options, "prior_baseline", data=True)
    return definition.prior(setting, y_true)


@dataclass(frozen=True)
class Bounds:
    """The bounds of one loss under one set of options.

    Attributes
    ----------
    loss : str
        Keras' canonical name of the loss.
    best, worst : float
        `best_case` and `worst_case`.
    uniform : float or None
        `baseline`, None where it is not defined (the categorical losses
        without ``n_classes``; mean squared error without classes).
    prior : float or None
        `prior_baseline`, when labels, counts or statistics were given.
    options : Mapping[str, object]
        The options the bounds were computed for (those not at their default).
    notes : tuple of Note
        What the numbers do not say on their own; each is a `str` with a
        stable ``code``.
    """

    loss: str
    best: float
    prior: float | None
    uniform: float | None
    worst: float
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[Note, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``inf`` stays a float; ``json`` writes Infinity)."""
        return {
            "loss": self.loss,
            "best": self.best,
            "prior": self.prior,
            "uniform": self.uniform,
            "worst": self.worst,
            "options": dict(self.options),
            "notes": [Note.as_dict(note) if isinstance(note, Note) else {"code": None, "text": note}
                      for note in self.notes],
        }

    def __str__(self) -> str:
        rows = [("best", self.best), ("prior", self.prior), ("uniform", self.uniform),
                ("worst", self.worst)]
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        lines = [f"{self.loss}" + (f" ({shown})" if shown else "")]
        for label, value in rows:
            if value is not None:
                lines.append(f"  {label:<8} {bound_value(value)}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def bounds(loss: str, y_true: Any = None, **options: Any) -> Bounds:
    r"""Best, prior, uniform and worst values of a loss, with notes.

    Parameters
    ----------
    loss : str
        A loss name, such as ``"sparse_cce"`` or ``"binary_crossentropy"``.
    y_true : array_like, optional
        Labels, for the prior baseline (see `prior_baseline`).
    **options
        The loss's own options (``lossbounds losses`` lists them): its Keras
        options (``from_logits``, ``label_smoothing``, ``ignore_class``, ...),
        ``n_classes`` (K) for the categorical losses (read from ``counts``
        when not given), ``y_range`` and ``pred_range`` for regression
        losses, the prior's data (``counts``, ``sample_weight``, ``variance``,
        ...), and for every loss ``epsilon`` (Keras' clip epsilon, default
        1e-7), ``dtype`` (``"float32"``, ``"float16"`` or ``"float64"``) and
        ``backend`` (``"tensorflow"``, ``"jax"``, ``"torch"``, ``"numpy"`` or
        ``"tf_keras"``, legacy Keras 2).

    Returns
    -------
    Bounds
        A frozen dataclass; ``str()`` of it is a small table. The prior is
        computed when labels (`y_true`) or their summary (``counts``,
        ``variance``) are given.

    Raises
    ------
    TypeError
        For an option the loss does not have; the message lists its options.

    See Also
    --------
    best_case, prior_baseline, baseline, worst_case

    Examples
    --------
    >>> import lossbounds
    >>> b = lossbounds.bounds("sparse_cce", n_classes=7)
    >>> round(b.uniform, 4), round(b.worst, 4)
    (1.9459, 16.1181)
    >>> print(b)  # doctest: +ELLIPSIS
    sparse_categorical_crossentropy (n_classes=7)
      best     5.999999e-07
      uniform  1.94591
      worst    16.1181
      note: With the TensorFlow backend, ... the cached logits, unclipped: ...
      note: Rows that do not sum to 1, which Keras accepts, can reach 17.90986 here ...
    """
    definition, setting = _setting(loss, options, "bounds", data=True, classes_from_data=True)
    best, worst = definition.best(setting), definition.worst(setting)
    try:
        uniform: float | None = definition.uniform(setting, y_true)
    except UndefinedBound:
        uniform = None
    prior = None
    data = {option.name for option in definition.data_options}
    if y_true is not None or any(setting.get(key) is not None for key in definition.prior_keys):
        try:
            prior = definition.prior(setting, y_true)
        except UndefinedBound:
            prior = None  # no constant prediction is a baseline for this loss (CTC)
    else:
        unused = sorted(name for name in data if setting.get(name) is not None)
        if unused:
            raise ValueError(
                f"{', '.join(f'`{name}`' for name in unused)} "
                f"{'describes' if len(unused) == 1 else 'describe'} the labels for the prior "
                f"baseline, which needs the labels themselves (y_true) or their summary "
                f"({', '.join(f'`{key}`' for key in definition.prior_keys) or 'none'}). "
                f"Hint: lossbounds.bounds({definition.name!r}, y_true, ...)."
            )
    defaults = {option.name: option.default for option in definition.all_options()}
    shown = {name: value for name, value in setting.options.items()
             if name not in data and name != "axis" and value != defaults[name]}
    return Bounds(definition.name, best, prior, uniform, worst, MappingProxyType(shown),
                  definition.notes(setting))
