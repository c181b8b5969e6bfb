r"""Cross-entropy losses: binary, categorical and sparse categorical.

Each loss here is one `LossDefinition`: its names, options, per-sample
function (Keras' formula lives in `crossentropy_kernels`), its bounds with
their derivations, and the words `explain` uses for it (bits, perplexity,
the probability of the true class, the error rate the loss allows).

References
----------
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd
   ed., Wiley, 2006. Theorem 2.6.3 (Gibbs' inequality: cross-entropy is
   minimised by the true distribution) and Theorem 2.6.4 (entropy is at most
   :math:`\ln K`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike

from ..backends import Backend, Semantics, neg_log, weighted_cost
from ..checks import EPSILON, check_n_classes, plain, require_nonempty, to_array
from ..engine import Plan
from ..options import (
    AXIS,
    COUNTS,
    FROM_LOGITS,
    IGNORE_CLASS,
    LABEL_SMOOTHING,
    N_CLASSES,
    SAMPLE_WEIGHT,
    Y_TRUE,
)
from ..registry import LossDefinition, Plateau, Setting, UndefinedBound, register
from ..text import BASELINE_RTOL, Note, loss_value, number, percent
from .crossentropy_kernels import (
    plan_binary_on,
    plan_categorical_on,
    plan_sparse_on,
)

# The per-sample functions: lossbounds exports them. (The definitions are
# found through lossbounds.registry.)
__all__ = [
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
]

def binary_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
) -> np.ndarray:
    r"""Binary cross-entropy, averaged over `axis`, as ``keras.losses.binary_crossentropy``.

    For probabilities :math:`p = \mathrm{clip}(\hat y, \epsilon, 1 - \epsilon)`,

    .. math::

        \ell(y, \hat y) = -\frac{1}{D} \sum_{d=1}^{D}
            \left[ y_d \log p_d + (1 - y_d) \log (1 - p_d) \right],

    and for logits :math:`x`,
    :math:`\max(x, 0) - x y + \log(1 + e^{-|x|})`, unclipped.

    Parameters
    ----------
    y_true : array_like
        Targets in [0, 1], the same shape as `y_pred`. Values outside [0, 1]
        are used as given, as in Keras.
    y_pred : array_like
        Probabilities (clipped to ``[epsilon, 1 - epsilon]``) or, with
        ``from_logits=True``, logits. Must be floating point.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    label_smoothing : float in [0, 1], default 0
        Replace each target :math:`y` by :math:`y (1 - a) + a / 2`.
    axis : int, default -1
        The axis the elementwise losses are averaged over.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon, ``keras.config.epsilon()``.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Losses with `axis` removed, in `y_pred`'s dtype.

    Notes
    -----
    Keras clips *before* taking logs, and computes :math:`1 - \epsilon` in the
    input dtype: in float32 the two saturated values are
    :math:`-\log \epsilon = 16.118095` (y = 1, p = 0) and
    :math:`-\log(1 - \mathrm{f32}(1 - \epsilon)) = 23 \ln 2 = 15.942385`
    (y = 0, p = 1). In float16 :math:`1 - \epsilon` rounds to 1, so y = 0,
    p = 1 gives ``inf`` and y = 1, p = 1 gives NaN, as in Keras.

    See Also
    --------
    lossbounds.worst_case, lossbounds.best_case : the bounds of these values.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.binary_crossentropy([[0.0, 1.0]], [[0.5, 0.5]])
    array([0.6931472], dtype=float32)
    >>> lossbounds.binary_crossentropy([[1.0], [0.0]], [[0.0], [1.0]])
    array([16.118095, 15.942385], dtype=float32)
    """
    return BinaryCrossentropy().per_sample(y_true, y_pred, from_logits=from_logits,
                                           label_smoothing=label_smoothing, axis=axis,
                                           epsilon=epsilon, backend=backend)


def categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    axis: int = -1,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
) -> np.ndarray:
    r"""Categorical cross-entropy, as ``keras.losses.categorical_crossentropy``.

    For probabilities, Keras first rescales each row to sum to 1, then clips:
    :math:`p = \mathrm{clip}(\hat y / \sum_k \hat y_k, \epsilon, 1 - \epsilon)`,
    and

    .. math::

        \ell(y, \hat y) = -\sum_{k=1}^{K} y_k \log p_k .

    For logits :math:`x` it is :math:`\sum_k y_k \left(\log \sum_j e^{x_j} - x_k\right)`,
    computed stably and unclipped.

    Parameters
    ----------
    y_true : array_like
        One-hot (or soft) targets, the same shape as `y_pred`.
    y_pred : array_like
        Probabilities or, with ``from_logits=True``, logits, with the classes
        along `axis`. Must be floating point.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    label_smoothing : float in [0, 1], default 0
        Replace :math:`y` by :math:`y (1 - a) + a / K`. As in Keras 3,
        :math:`K` is the size of the *last* axis even when ``axis != -1``.
    axis : int, default -1
        The class axis.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with `axis` removed, in `y_pred`'s dtype.

    Notes
    -----
    Rows that do not sum to 1 are rescaled, and negative entries are clipped
    after rescaling; an all-zero row gives NaN (0/0), all as in Keras. A
    single class (K = 1) always gives about 1.2e-7 (0 from logits); Keras and
    lossbounds warn.

    See Also
    --------
    sparse_categorical_crossentropy : the same loss from integer labels.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.categorical_crossentropy([[0, 1, 0]], [[0.05, 0.95, 0.0]])
    array([0.05129331], dtype=float32)
    >>> lossbounds.categorical_crossentropy([[0, 1, 0]], [[2.0, 1.0, 1.0]])  # rescaled
    array([1.3862944], dtype=float32)
    """
    return CategoricalCrossentropy().per_sample(y_true, y_pred, from_logits=from_logits,
                                                label_smoothing=label_smoothing, axis=axis,
                                                epsilon=epsilon, backend=backend)


def sparse_categorical_crossentropy(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    *,
    from_logits: bool = False,
    ignore_class: int | None = None,
    axis: int = -1,
    epsilon: float = EPSILON,
    backend: str = "tensorflow",
) -> np.ndarray:
    r"""Cross-entropy from integer labels, as ``keras.losses.sparse_categorical_crossentropy``.

    On the TensorFlow backend, probabilities are clipped, logged and then
    *renormalised*:

    .. math::

        \ell(c, \hat y) = -\log \frac{p_c}{\sum_{k=1}^{K} p_k}, \qquad
        p = \mathrm{clip}(\hat y, \epsilon, 1 - \epsilon),

    which differs from `categorical_crossentropy` (rescale, then clip, never
    renormalise) on clipped rows. For logits it is
    :math:`\log \sum_k e^{x_k} - x_c`.

    Parameters
    ----------
    y_true : array_like of int
        Class labels in ``[0, K)``, shape ``y_pred.shape[:-1]`` (a trailing
        axis of length 1 is also accepted). Float labels must be whole numbers.
    y_pred : array_like
        Probabilities or logits with the K classes along the last axis.
    from_logits : bool, default False
        Whether `y_pred` holds logits.
    ignore_class : int, optional
        A label value (such as -1 or 255) whose positions get loss 0 and are
        masked out of `loss`'s reductions.
    axis : int, default -1
        The class axis. The TensorFlow backend supports only the last axis.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' clip epsilon.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses, shape ``y_pred.shape[:-1]``, in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        For labels outside ``[0, K)`` or not whole numbers. TensorFlow raises
        for out-of-range labels too, but JAX silently returns 0 and every
        backend truncates 1.7 to 1; lossbounds never does either.

    Notes
    -----
    Because of the renormalisation, a correct one-hot prediction costs
    :math:`\log(1 + (K-1)\epsilon/(1-\epsilon))` (1.0e-4 at K = 1000), and
    rows with entries above 1 can cost more than :math:`-\log \epsilon`. An
    all-zero row costs :math:`\log K` on TensorFlow (NaN on other backends).

    See Also
    --------
    categorical_crossentropy : the same loss from one-hot targets.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.sparse_categorical_crossentropy([1, 2], [[0.05, 0.95, 0.0], [0.1, 0.8, 0.1]])
    array([0.05129344, 2.3025851 ], dtype=float32)
    """
    return SparseCategoricalCrossentropy().per_sample(y_true, y_pred, from_logits=from_logits,
                                                      ignore_class=ignore_class, axis=axis,
                                                      epsilon=epsilon, backend=backend)


# --------------------------------------------------------------------------
# Shared by the three: targets, frequencies, notes and words


_LN2 = math.log(2.0)


def _smoothed_binary(label_smoothing: float) -> tuple[float, float]:
    """Targets for labels 1 and 0 after smoothing: 1 - a/2 and a/2."""
    return 1.0 - label_smoothing / 2, label_smoothing / 2


def _smoothed_onehot(n_classes: int, label_smoothing: float) -> tuple[float, float]:
    """(true, other) target of a one-hot label after smoothing."""
    other = label_smoothing / n_classes
    return 1.0 - label_smoothing + other, other


def _entropy_of_smoothed(k: int, label_smoothing: float) -> float:
    true, other = _smoothed_onehot(k, label_smoothing)
    return weighted_cost(true, neg_log(true)) + (k - 1) * weighted_cost(other, neg_log(other))


def _exp(x: float) -> float:
    return math.inf if x > 709.0 else math.exp(x)


def _weights(sample_weight: Any) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weights = to_array(sample_weight, "sample_weight", exact=True).astype(np.float64)
    if not np.all(np.isfinite(weights)) or np.any(weights < 0):
        raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
    return _scaled(weights)


def _scaled(values: np.ndarray) -> np.ndarray:
    """`values` divided by their largest, so that their sum cannot overflow (1e308 + 1e308)."""
    largest = float(values.max()) if values.size else 0.0
    return values / largest if largest > 0 else values


def _checked_counts(counts: Any) -> np.ndarray:
    counts = to_array(counts, "counts", exact=True).astype(np.float64)
    if counts.ndim == 0 or counts.shape[-1] < 1:
        raise ValueError(f"`counts` must be a 1-D array of class counts, got shape {counts.shape}.")
    if not np.all(np.isfinite(counts)) or np.any(counts < 0):
        raise ValueError(
            "`counts` must be finite and non-negative, got "
            f"{plain(counts[~np.isfinite(counts) | (counts < 0)].flat[0])}."
        )
    return counts / counts.max(axis=-1, keepdims=True).clip(min=np.finfo(np.float64).tiny)


def _class_counts(counts: np.ndarray, n_classes: int | None) -> tuple[np.ndarray, float]:
    if counts.ndim != 1:
        raise ValueError(f"`counts` must be 1-D (one count per class), got shape {counts.shape}.")
    if n_classes is not None and n_classes != counts.size:
        raise ValueError(f"`counts` has {counts.size} classes but n_classes={n_classes}.")
    require_nonempty(counts.sum())
    return counts / counts.sum(), float(counts.sum())


@dataclass(frozen=True)
class _Multiset:
    """Class frequencies as distinct `values`, each shared by `counts` classes (K = sum)."""

    values: np.ndarray
    counts: np.ndarray

    @classmethod
    def of_classes(cls, present: np.ndarray, k: int) -> _Multiset:
        """The frequencies of the classes that occur (counts, in class order) among K."""
        scaled = _scaled(present)  # (no overflow in the sum)
        return cls(np.append(scaled / scaled.sum(), 0.0),
                   np.append(np.ones(present.size), k - present.size))


def _mean_rows(y_true: np.ndarray, weights: np.ndarray | None) -> tuple[np.ndarray, float]:
    """The weighted mean of the target rows (one-hot, soft, or binary per output)."""
    rows = y_true.reshape(-1, y_true.shape[-1]).astype(np.float64)
    if weights is None:
        weights = np.ones(rows.shape[0])
    else:
        try:
            weights = np.broadcast_to(weights.reshape(-1), (rows.shape[0],))
        except ValueError:
            raise ValueError(
                f"`sample_weight` of shape {weights.shape} does not match {rows.shape[0]} samples."
            ) from None
    total = weights.sum()
    require_nonempty(total)
    return weights @ rows / total, float(total)


class _CrossEntropy(LossDefinition):
    """What the three cross-entropies share: clipping, information words, plateaus."""

    probabilistic = True
    prior_keys = ("counts",)
    prior_name = "label entropy"
    prior_meaning = "the loss of predicting the class frequencies for every input"

    # -- bounds ------------------------------------------------------------

    def frequencies(self, s: Setting, y_true: Any) -> np.ndarray | _Multiset:
        """Average target per class (or per output for binary cross-entropy)."""
        counts = s["counts"]
        if (y_true is None) == (counts is None):
            raise ValueError(
                "prior_baseline needs exactly one of `y_true` (the labels) and "
                "`counts` (their class counts)."
            )
        if counts is not None:
            if s["sample_weight"] is not None:
                raise ValueError("`sample_weight` applies to `y_true`, not to `counts`; "
                                 "weight the counts yourself.")
            return self.count_frequencies(_checked_counts(counts), s)
        labels = to_array(y_true, "y_true", allow_bool=True, exact=True)
        if labels.size == 0:
            require_nonempty(0)
        if labels.ndim == 0:
            labels = labels.reshape(1)
        return self.label_frequencies(labels, _weights(s["sample_weight"]), s)

    def count_frequencies(self, counts: np.ndarray, s: Setting) -> np.ndarray:
        return _class_counts(counts, s["n_classes"])[0]

    def label_frequencies(self, y_true: np.ndarray, weights: np.ndarray | None,
                          s: Setting) -> np.ndarray | _Multiset:
        return _mean_rows(y_true, weights)[0]

    def notes(self, s: Setting) -> tuple[Note, ...]:
        sem = s.semantics
        notes = []
        if sem.backend.caches_logits and not sem.from_logits:
            notes.append(Note("cached_logits", (
                "With the TensorFlow backend, when the model's last layer is a softmax or "
                "sigmoid, fit() and evaluate() compute the loss from the cached logits, "
                "unclipped: training losses can then exceed this worst case without limit.")))
        notes.extend(self.clipping_notes(s))
        if not sem.from_logits and sem.high == 1.0 and not sem.backend.clamps_logs:
            notes.append(Note("one_minus_epsilon_is_one", (
                "In this dtype 1 - epsilon rounds to 1: a confidently wrong binary "
                "prediction gives inf and a confidently right one NaN.")))
        if sem.from_logits:
            notes.append(Note("unbounded_logits", "Logits are not clipped: the loss grows "
                              "without bound with a confidently wrong logit."))
        if s.get("label_smoothing"):
            notes.append(Note("smoothing_floor", (
                "With label smoothing even a perfect prediction costs the entropy of the "
                "smoothed target: that is the best case.")))
        notes.extend(self.target_notes(s))
        return tuple(notes)

    def clipping_notes(self, s: Setting) -> list[Note]:
        return []

    def target_notes(self, s: Setting) -> list[Note]:
        return []

    # -- words -------------------------------------------------------------

    def measures(self, value: float, prior: float | None) -> dict[str, float | None]:
        known = not math.isnan(value)
        return {
            "bits": value / _LN2 if known else None,
            "perplexity": _exp(value) if known else None,
            "geometric_mean_probability": _exp(-value) if known else None,
        }

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        per, k = self.per, s.get("n_classes")
        choices = "classes" if per == "sample" else "outcomes (0 or 1)"
        out_of = f" (of {k})" if k and per == "sample" else ""
        most = k if k and per == "sample" else (2 if per == "output" else None)
        beyond = (f", more than the {most} there are: worse than guessing"
                  if most and numbers["perplexity"] > most * (1 + BASELINE_RTOL) else "")
        shown = loss_value(value)
        lines = [
            f"In bits: {number(numbers['bits'])} per {per} ({shown} / ln 2).",
            f"Perplexity exp({shown}) = {number(numbers['perplexity'])}: the model is as "
            f"uncertain as if it chose among {number(numbers['perplexity'])} equally likely "
            f"{choices}{out_of}{beyond}.",
            f"exp(-{shown}) = {number(numbers['geometric_mean_probability'])} is the "
            f"geometric-mean probability the model gives to the true "
            f"{'class' if per == 'sample' else 'label'}.",
        ]
        bound = marks["error_rate_bound"]
        if bound is not None:
            lines.append(self._error_sentence(value, marks, bound))
        return lines

    def _error_sentence(self, value: float, marks: Mapping[str, Any], bound: float) -> str:
        if self.per == "sample":
            what, wrong = "samples can be misclassified (argmax ≠ label)", "misclassified sample"
        else:
            what, wrong = "outputs can be on the wrong side of 0.5", "wrong output"
        floor, cost = marks["floor"], marks["wrong"]
        shown = loss_value(value)
        if bound >= 1.0:
            return (f"The loss is too high to bound the error rate: a {wrong} costs at least "
                    f"{number(cost)}, and {shown} allows every one to be wrong.")
        how = (f"a {wrong} costs at least ln 2 = 0.6931, so a mean of {shown} allows at most "
               f"{shown} / 0.6931 of them" if abs(cost - _LN2) < 1e-6 and floor < 1e-6
               else f"a {wrong} costs at least {number(cost)} and any costs at least "
                    f"{number(floor)}, so at most ({shown} - {number(floor)}) / "
                    f"({number(cost)} - {number(floor)}) of them")
        return f"At most {percent(bound)} of the {what}, whatever the model: {how}."

    def choices(self, s: Setting) -> str:
        return f"classes instead of {s.get('n_classes')}"

    def uniform_missing(self, s: Setting) -> str:
        return (f"the uniform baseline ln K of {self.name} needs the number of classes K: "
                "pass n_classes=K (--n-classes K), the number of units of the output layer")


# --------------------------------------------------------------------------
# Binary cross-entropy


@register
class BinaryCrossentropy(_CrossEntropy):
    r"""Binary cross-entropy, per output, averaged over the last axis.

    *Best case.* For a target :math:`t` the loss of probability :math:`q` is
    convex in :math:`q` on :math:`[\epsilon, 1-\epsilon]` and constant
    outside it, so it is smallest at :math:`q = \mathrm{clip}(t)`. For a hard
    label that is the clip bound: :math:`-\ln(1-\epsilon)`, with
    :math:`1 - \epsilon` rounded to the dtype (1.1920929e-07 in float32). With
    smoothing :math:`a` it is the binary entropy :math:`H_b(a/2)`.

    *Worst case.* Convex in the clipped probability, so the maximum over
    :math:`[\epsilon, 1-\epsilon]` is at an end: label 1 at
    :math:`p \le \epsilon` costs :math:`-\ln \epsilon = 16.118095`, label 0 at
    :math:`p \ge 1 - \epsilon` costs
    :math:`-\ln(1 - \mathrm{f32}(1-\epsilon)) = 23 \ln 2 = 15.942385`. Legacy
    tf.keras adds :math:`\epsilon` inside the logs: 15.424949 and 15.333239.
    Logits are unclipped (``inf``) except on NumPy, which applies the sigmoid
    and clips.

    *Uniform baseline.* 0.5 costs :math:`\ln 2` whatever the target; with
    K > 2 one-hot outputs each predicted at :math:`1/K`, the binary entropy
    :math:`H_b(1/K)`.

    *Prior baseline.* Per output, the positive rate :math:`f` predicted
    constantly scores the binary entropy :math:`H_b(f)` (Gibbs' inequality).
    """

    # PyTorch computes float64 elementwise and averages in float32 (`keras_mean_on`): the
    # plan takes float64 as it is. Measured with Keras 3.15.1.
    float64_function = {"torch": "exact"}
    backend_differences = {
        "jax": ("From logits, a logit of +inf with a target below 1 gives inf (TensorFlow: "
                "NaN)."),
        "torch": ("Logs are clamped at -100 and 1 - p is taken with log1p: target 0 predicted 0 "
                  "costs 1.0000001e-07 (TensorFlow 1.1920929e-07), float16 saturates at 100 "
                  "instead of inf and gives 0 instead of NaN for target 1 predicted 1; targets "
                  "outside [0, 1] and NaN raise (a ValueError here, a RuntimeError in PyTorch); "
                  "float64 is averaged in float32; from logits, target 1 at logit -inf gives "
                  "NaN and a target below 1 at +inf gives inf."),
        "numpy": ("From logits, the sigmoid is clipped like a probability: target 0 at logit "
                  "100 costs 15.942385 (TensorFlow 100), so the worst case is finite."),
        "tf_keras": ("Epsilon is added inside both logs: target 1 predicted 0 costs 15.424949 "
                     "(TensorFlow 16.118095) and target 0 predicted 1 costs 15.333239 "
                     "(15.942385)."),
    }

    name = "binary_crossentropy"
    class_name = "BinaryCrossentropy"
    aliases = ("bce",)
    title = "binary cross-entropy"
    keras_options = (FROM_LOGITS, LABEL_SMOOTHING, AXIS)
    bound_options = (N_CLASSES,)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(binary_crossentropy)
    per = "output"
    head = "sigmoid"

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return plan_binary_on(backend, y_true, y_pred, dtype, **options)

    def best(self, s: Setting) -> float:
        sem = s.semantics
        return min(sem.binary_crossentropy(t, t) for t in _smoothed_binary(s["label_smoothing"]))

    def worst(self, s: Setting) -> float:
        sem = s.semantics
        if sem.unclipped_binary_logits:
            return math.inf
        return max(sem.binary_crossentropy(t, q)
                   for t in _smoothed_binary(s["label_smoothing"]) for q in (sem.eps, sem.high))

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        sem, k = s.semantics, s["n_classes"]
        # K one-hot outputs, at least 2 (the default: one yes/no output).
        k = 2 if k is None else check_n_classes(k, minimum=2)
        if k == 2:
            # 0.5 costs ln 2 whatever the target (0.6931469 in tf.keras).
            return sem.binary_crossentropy(0.5, 0.5)
        positive, negative = _smoothed_binary(s["label_smoothing"])
        return (sem.binary_crossentropy(positive, 1 / k)
                + (k - 1) * sem.binary_crossentropy(negative, 1 / k)) / k

    def prior(self, s: Setting, y_true: Any) -> float:
        a = s["label_smoothing"]
        found = self.frequencies(s, y_true)
        assert not isinstance(found, _Multiset)  # one positive rate per output
        targets_ = np.asarray(found) * (1 - a) + a / 2
        values = [s.semantics.binary_crossentropy(t, t) for t in np.atleast_1d(targets_).ravel()]
        return float(np.mean(values))

    def label_frequencies(self, y_true: np.ndarray, weights: np.ndarray | None,
                          s: Setting) -> np.ndarray:
        # (N,) targets are N samples of one output, as Keras' rank fix reads them against
        # (N, 1) predictions; (N, D) are N samples of D outputs.
        rows = y_true.reshape(-1, 1) if y_true.ndim == 1 else y_true
        return _mean_rows(rows, weights)[0]

    def count_frequencies(self, counts: np.ndarray, s: Setting) -> np.ndarray:
        if counts.shape[-1] != 2:
            raise ValueError(
                "For binary_crossentropy, `counts` holds (negatives, positives) per "
                f"output: shape (2,) or (outputs, 2), got {counts.shape}."
            )
        total = counts.sum(axis=-1)
        require_nonempty(total.min())
        return counts[..., 1] / total

    def target_notes(self, s: Setting) -> list[Note]:
        k = s["n_classes"]
        if not k or k <= 2:
            return []
        return [Note("binary_on_one_hot", (
            f"Uniform here means predicting 1/{k} on each of {k} one-hot outputs; "
            "predicting 0.5 everywhere scores ln 2 instead."))]

    def misclassified_floor(self, s: Setting) -> float | None:
        # Convex in q with its minimum at the smoothed target (>= 1/2 for label
        # 1), so a wrong side of 0.5 costs at least the value at 0.5.
        return s.semantics.binary_crossentropy(_smoothed_binary(s["label_smoothing"])[0], 0.5)

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        positive, negative = _smoothed_binary(s["label_smoothing"])
        found = []
        for backend in _PLATEAU_BACKENDS:
            sem = s.replace(backend=backend, from_logits=False).semantics
            found.append(Plateau(sem.binary_crossentropy(positive, sem.eps),
                                 _BINARY_PLATEAUS[backend, 1]))
            found.append(Plateau(sem.binary_crossentropy(negative, sem.high),
                                 _BINARY_PLATEAUS[backend, 0]))
        return tuple(found)

    def flags(self, s: Setting) -> tuple[Note, ...]:
        k = s["n_classes"]
        if not k or k <= 2:
            return ()
        uniform = self.uniform(s)
        return (Note("bce_on_multiclass", (
            f"binary cross-entropy on {k} one-hot outputs averages {k} yes/no questions: its "
            f"guessing baseline is H_b(1/{k}) = {number(uniform)}, far below ln {k} = "
            f"{number(math.log(k))}, and predicting all zeros already has a binary accuracy of "
            f"{percent((k - 1) / k)}. A small loss may be just guessing; for one label per "
            "sample use categorical_crossentropy with a softmax output.")),)

    def uniform_formula(self, s: Setting) -> str:
        k = s["n_classes"]
        return "ln 2" if not k or k == 2 else f"H_b(1/{k})"

    def uniform_meaning(self, s: Setting) -> str:
        k = s["n_classes"]
        if not k or k == 2:
            return "the loss of predicting 0.5 for every output"
        return f"the loss of predicting 1/{k} on each of {k} one-hot outputs"

    def choices(self, s: Setting) -> str:
        return "outcomes per output instead of 2"


#: Legacy tf.keras logs are as common as Keras 3's: both backends' plateaus are looked for.
_PLATEAU_BACKENDS = ("tensorflow", "tf_keras")
# Where each ceiling comes from (the formulas hold without label smoothing).
_CATEGORICAL_PLATEAU = "-ln ε: a true class predicted at probability 0, clipped up to ε"
_BINARY_PLATEAUS: dict[tuple[str, int], str] = {
    ("tensorflow", 1): "-ln ε: binary cross-entropy of label 1 predicted 0, clipped up to ε",
    ("tensorflow", 0): "-ln(1 - fl(1 - ε)): binary cross-entropy of label 0 predicted 1, "
                       "clipped down to 1 - ε rounded to the dtype (23 ln 2 in float32)",
    ("tf_keras", 1): "-ln 2ε: legacy tf.keras binary cross-entropy of label 1 predicted 0 "
                     "(it adds ε inside the log)",
    ("tf_keras", 0): "-ln(ε + 1 - fl(1 - ε)): legacy tf.keras binary cross-entropy of "
                     "label 0 predicted 1",
}


# --------------------------------------------------------------------------
# Categorical cross-entropy, from one-hot targets or integer labels


class _Categorical(_CrossEntropy):
    """What categorical and sparse categorical cross-entropy share."""

    bound_options = (N_CLASSES,)
    head = "softmax"

    @overload
    def classes(self, s: Setting, *, required: Literal[True]) -> int: ...
    @overload
    def classes(self, s: Setting, *, required: bool) -> int | None: ...

    def classes(self, s: Setting, *, required: bool) -> int | None:
        k = s["n_classes"]
        if k is None and required:
            raise UndefinedBound(
                f"{self.name} needs `n_classes`, the number of classes K. "
                f"Example: lossbounds.baseline({self.name!r}, n_classes=10)."
            )
        return k

    def best(self, s: Setting) -> float:
        sem, a = s.semantics, s.get("label_smoothing", 0.0)
        k = self.classes(s, required=bool(a))
        if sem.from_logits:
            return _entropy_of_smoothed(k, a) if a and k else 0.0
        if k is None or k == 1 or not a:
            return neg_log(sem.high)
        return _categorical_best(k, a, sem)

    def worst(self, s: Setting) -> float:
        sem, a = s.semantics, s.get("label_smoothing", 0.0)
        if sem.from_logits:
            return math.inf
        k = self.classes(s, required=bool(a))
        if k == 1:
            # A single class: CCE rescales it to 1 and clips it to 1 - eps.
            return neg_log(sem.high)
        if not a or k is None:
            return neg_log(sem.eps)
        true, other = _smoothed_onehot(k, a)
        largest = float(sem.clip(1.0 - (k - 1) * sem.eps))
        return (true + (k - 2) * other) * neg_log(sem.eps) + other * neg_log(largest)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        sem = s.semantics
        k = self.classes(s, required=False)
        if k is None:
            raise UndefinedBound(
                f"{self.name} needs `n_classes`, the number of classes K. "
                f"Example: lossbounds.baseline({self.name!r}, n_classes=10).")
        if sem.from_logits or sem.eps <= 1.0 / k <= sem.high:
            return math.log(k)
        # K > 1/epsilon: 1/K is clipped up to epsilon (or, for K = 1, down to 1 - eps).
        return neg_log(float(sem.clip(1.0 / k)))

    def prior(self, s: Setting, y_true: Any) -> float:
        sem, a = s.semantics, s.get("label_smoothing", 0.0)
        found = self.frequencies(s, y_true)
        # (dense frequencies take the same compact form, so that labels and their counts give
        # the same value to the last bit)
        classes = found if isinstance(found, _Multiset) else _Multiset.of_classes(
            found[found > 0], found.size)
        k = float(classes.counts.sum())
        f = classes.values * (1 - a) + a / k
        w = classes.counts
        used = (f > 0) & (w > 0)
        if sem.from_logits:
            return float(-np.sum(w[used] * f[used] * np.log(f[used])))
        q = sem.clip(f / np.sum(w * f))
        value = float(-np.sum(w[used] * f[used] * np.log(q[used])))
        return value + self.renormalisation(float(np.sum(w * q)), s)

    def renormalisation(self, clipped_total: float, s: Setting) -> float:
        """What renormalising the clipped constant prediction (summing to `clipped_total`) adds."""
        return 0.0

    def classes_in_data(self, s: Setting) -> int | None:
        counts = s["counts"]
        if counts is None:
            return None
        counts = to_array(counts, "counts")
        return int(counts.shape[-1]) if counts.ndim == 1 and counts.shape[-1] >= 1 else None

    def misclassified_floor(self, s: Setting) -> float | None:
        k, a, sem = s["n_classes"], s.get("label_smoothing", 0.0), s.semantics
        if k is not None and k < 2:
            return None  # one class: nothing can be misclassified
        if not a:
            return _LN2
        if k is None:
            return None  # the smoothed targets depend on K
        true, other = _smoothed_onehot(k, a)
        pair = true + other  # the true class tied with one other, each at pair / 2
        value = pair * neg_log(pair / 2) + (k - 2) * weighted_cost(other, neg_log(other))
        # Clipping up to eps frees at most K eps of mass: ln(1 + K eps) at most.
        return value if sem.from_logits else value - math.log1p(k * sem.eps)

    def double_softmax_floor(self, s: Setting) -> float | None:
        k = s["n_classes"]
        if k is None or k < 2 or s.get("label_smoothing", 0.0):
            return None
        return math.log1p((k - 1) / math.e)

    def plateaus(self, s: Setting) -> tuple[Plateau, ...]:
        if s.get("label_smoothing", 0.0):
            if s["n_classes"] is None:
                return ()  # the smoothed ceiling depends on K
            ceiling = self.worst(s.replace(from_logits=False))
        else:
            # TF's sparse renormalisation adds ln(1 + (K-2) eps), below 1e-3 for K < 8000.
            ceiling = neg_log(s.semantics.eps)
        return (Plateau(ceiling, _CATEGORICAL_PLATEAU),)

    def uniform_formula(self, s: Setting) -> str:
        return f"ln {s['n_classes']}"

    def uniform_meaning(self, s: Setting) -> str:
        k = s["n_classes"]
        return f"the loss of predicting 1/{k} for every class"


def _categorical_best(k: int, label_smoothing: float, s: Semantics) -> float:
    r"""The least loss over how many "other" classes share the mass (see `CategoricalCrossentropy`).

    With :math:`m` of the :math:`K - 1` other classes sharing the mass with
    the true one (:math:`T = t + m o`) and the rest left at :math:`\epsilon`,
    the loss is :math:`f(m) = -t \ln(t/T) - m o \ln(o/T) + (K-1-m) o L`,
    :math:`L = -\ln \epsilon`, convex in :math:`m` (:math:`f'' = o^2/T`) with
    :math:`f'(m) = o(\ln(T/o) + 1 - L)`: its real minimiser is
    :math:`m^* = (o e^{L-1} - t)/o`. Clipping acts only far from it, so the
    integer minimum is among the ends and the integers next to :math:`m^*`:
    a few candidates, whatever K (no array of K entries).
    """
    true, other = _smoothed_onehot(k, label_smoothing)
    ideal = (other * math.exp(neg_log(s.eps) - 1) - true) / other if other > 0 else 0.0
    near = math.floor(min(max(ideal, 0.0), k - 1.0))
    candidates = {0, k - 1, *(m for m in range(near - 2, near + 4) if 0 <= m <= k - 1)}
    shared = np.array(sorted(candidates), dtype=np.float64)  # "other" classes sharing the mass
    total = true + shared * other
    floored = (k - 1 - shared) * other  # target mass on classes left at eps
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (
            -true * np.log(s.clip(true / total))
            - shared * other * np.log(s.clip(other / total))
            + np.where(floored > 0, floored * neg_log(s.eps), 0.0)
        )
    return float(cost.min())


@register
class CategoricalCrossentropy(_Categorical):
    r"""Categorical cross-entropy from one-hot (or soft) targets.

    *Best case.* With smoothed target :math:`t` (true class
    :math:`1 - a + a/K`, others :math:`a/K`), classes whose rescaled
    probability is at most :math:`\epsilon` all cost :math:`-\ln \epsilon`,
    and over the others Gibbs' inequality puts the optimum at probabilities
    proportional to :math:`t`. The minimum is therefore over how many "other"
    classes share the mass, which is scanned exactly. Without smoothing it is
    :math:`-\ln(1-\epsilon)`; with :math:`a/K \gg \epsilon` the entropy of
    the smoothed target. Logits: 0 (the entropy of the smoothed target).

    *Worst case.* After rescaling, every class costs at most
    :math:`-t_k \ln \epsilon`, and at least one class must hold probability
    :math:`\ge 1 - (K-1)\epsilon`. Putting that class on the smallest target
    and :math:`\epsilon` on all others is optimal:
    :math:`(\sum t - t_{min})(-\ln\epsilon) - t_{min} \ln(1 - (K-1)\epsilon)`,
    which is :math:`-\ln \epsilon` without smoothing.

    *Uniform baseline* :math:`\ln K`: smoothed targets still sum to 1.
    *Prior baseline*: the entropy of the (smoothed) class frequencies.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"torch": "exact"}
    backend_differences = {
        "jax": ("A float16 row of probabilities summing below 2**-16 gives NaN or inf (XLA "
                "multiplies by the reciprocal of the sum, which overflows float16); TensorFlow "
                "rescales it."),
        "torch": ("A float32 row whose sum is subnormal is rescaled (TensorFlow reads it as 0 "
                  "and gives NaN)."),
        "numpy": ("A float32 row whose sum is subnormal is rescaled (TensorFlow reads it as 0 "
                  "and gives NaN)."),
    }

    name = "categorical_crossentropy"
    class_name = "CategoricalCrossentropy"
    aliases = ("cce",)
    title = "categorical cross-entropy"
    keras_options = (FROM_LOGITS, LABEL_SMOOTHING, AXIS)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(categorical_crossentropy)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return plan_categorical_on(backend, y_true, y_pred, dtype, **options)

    def label_frequencies(self, y_true: np.ndarray, weights: np.ndarray | None,
                          s: Setting) -> np.ndarray:
        mean = _mean_rows(y_true, weights)[0]
        k = s["n_classes"]
        if k is not None and k != mean.size:
            raise ValueError(f"y_true has {mean.size} classes but n_classes={k}.")
        return mean


@register
class SparseCategoricalCrossentropy(_Categorical):
    r"""Categorical cross-entropy from integer labels.

    On TensorFlow (and tf.keras) probabilities are clipped, logged and
    renormalised: :math:`-\ln(c_y / \sum_k c_k)` with
    :math:`c = \mathrm{clip}(p)`. *Best case*: smallest when
    :math:`c_y = 1 - \epsilon` and every other :math:`c_k = \epsilon`:
    :math:`\ln(1 + (K-1)\epsilon / (1-\epsilon))`, 1.0e-4 at K = 1000.
    *Worst case*: :math:`-\ln \epsilon + \ln \sum_k c_k`; with the label's
    probability at 0 the sum of the clipped row is largest when the mass is
    split over two other classes (K >= 3), :math:`1 + (K-2)\epsilon`, and is
    :math:`\epsilon + \mathrm{f32}(1-\epsilon)` for K = 2. Rows that do not
    sum to 1, which Keras accepts, can reach
    :math:`-\ln\epsilon + \ln(\epsilon + (K-1)(1-\epsilon))`. *Uniform
    baseline* :math:`\ln K`. *Prior baseline*: the entropy of the class
    frequencies, plus :math:`\ln \sum_k \mathrm{clip}(f_k)` from the
    renormalisation, at most :math:`\ln(1 + K\epsilon)`.
    """

    # float64 on PyTorch (and NumPy): see Backend.float64_rule; measured with Keras 3.15.1
    float64_function = {"numpy": "exact", "torch": "exact"}
    backend_differences = {
        "jax": ("Probabilities are rescaled and then clipped, as categorical cross-entropy does, "
                "not clipped, logged and renormalised: a correct one-hot prediction costs "
                "1.1920929e-07 (TensorFlow 2.3841855e-07 at K = 3), [2, 1, 1] with label 1 "
                "costs 1.3862944 (TensorFlow 1.0986123) and an all-zero row gives NaN "
                "(TensorFlow ln K); float16 inputs give float32; labels outside [0, K) "
                "silently score 0 in JAX, lossbounds raises a ValueError."),
        "torch": ("Probabilities are rescaled and then clipped, as categorical cross-entropy does, "
                "not clipped, logged and renormalised: a correct one-hot prediction costs "
                "1.1920929e-07 (TensorFlow 2.3841855e-07 at K = 3), [2, 1, 1] with label 1 "
                "costs 1.3862944 (TensorFlow 1.0986123) and an all-zero row gives NaN "
                "(TensorFlow ln K); labels outside [0, K) raise (IndexError in "
                  "PyTorch, ValueError here)."),
        "numpy": ("Probabilities are rescaled and then clipped, as categorical cross-entropy does, "
                "not clipped, logged and renormalised: a correct one-hot prediction costs "
                "1.1920929e-07 (TensorFlow 2.3841855e-07 at K = 3), [2, 1, 1] with label 1 "
                "costs 1.3862944 (TensorFlow 1.0986123) and an all-zero row gives NaN "
                "(TensorFlow ln K); float16 inputs give float32; label -1 silently "
                  "scores 0, lossbounds raises a ValueError."),
    }

    name = "sparse_categorical_crossentropy"
    class_name = "SparseCategoricalCrossentropy"
    aliases = ("sparse_cce", "scce")
    title = "sparse categorical cross-entropy"
    keras_options = (FROM_LOGITS, IGNORE_CLASS, AXIS)
    data_options = (Y_TRUE, SAMPLE_WEIGHT, COUNTS)
    function = staticmethod(sparse_categorical_crossentropy)
    boolean_targets = False
    option_hints = MappingProxyType({
        "label_smoothing": "Keras' sparse categorical cross-entropy has no label smoothing. "
                           "Hint: use categorical_crossentropy with one-hot labels to smooth.",
    })

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        return plan_sparse_on(backend, y_true, y_pred, dtype, **options)

    def class_options(self, dtype: np.dtype) -> dict[str, Any]:
        return {"label_dtype": dtype}  # Keras' class API casts the labels too

    def best(self, s: Setting) -> float:
        sem = s.semantics
        if not sem.renormalises:
            return super().best(s)
        k = self.classes(s, required=True)
        return math.log1p((k - 1) * sem.eps / sem.high)

    def worst(self, s: Setting) -> float:
        sem = s.semantics
        if not sem.renormalises:
            return super().worst(s)
        k = self.classes(s, required=True)
        if k == 1:
            return 0.0  # TF renormalises a single class to exactly 1
        total = sem.eps + sem.high if k == 2 else 1.0 + (k - 2) * sem.eps
        return neg_log(sem.eps) + math.log(total)

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        if s.semantics.renormalises and s["n_classes"] is not None:
            return math.log(s["n_classes"])
        return super().uniform(s, y_true)

    def renormalisation(self, clipped_total: float, s: Setting) -> float:
        # TensorFlow renormalises the clipped row: ln sum_k clip(f_k), at most ln(1 + K eps).
        return math.log(clipped_total) if s.semantics.renormalises else 0.0

    def label_frequencies(self, y_true: np.ndarray, weights: np.ndarray | None,
                          s: Setting) -> np.ndarray | _Multiset:
        labels = y_true.reshape(-1)
        if weights is not None:
            weights = np.broadcast_to(
                weights.reshape(-1) if weights.size == labels.size else weights, labels.shape)
        ignore_class = s["ignore_class"]
        if ignore_class is not None:
            keep = labels != ignore_class
            labels = labels[keep]
            weights = None if weights is None else weights[keep]
        if labels.size == 0:
            require_nonempty(0)
        if labels.dtype.kind == "f":
            whole = np.isfinite(labels) & (labels == np.trunc(labels))
            if not whole.all():
                raise ValueError(
                    "Sparse labels must be non-negative integers (class indices), got "
                    f"{plain(labels[~whole][0])}.")
        if labels.min() < 0:
            raise ValueError("Sparse labels must be non-negative integers (class indices), "
                             f"got {plain(labels.min())}.")
        largest = int(labels.max())
        k = largest + 1 if s["n_classes"] is None else s["n_classes"]
        if largest >= k:
            raise ValueError(
                f"label {largest} is outside [0, {k}) for n_classes={k}. Hint: "
                "labels must run from 0 to K-1; shift 1-based labels down by one, or "
                "pass `ignore_class` for a padding label."
            )
        # Only the classes that occur are counted: K may be far larger than the labels.
        present, inverse = np.unique(labels, return_inverse=True)
        counts = np.bincount(inverse.reshape(-1), weights=weights, minlength=present.size)
        require_nonempty(counts.sum())
        return _Multiset.of_classes(counts, k)

    def clipping_notes(self, s: Setting) -> list[Note]:
        sem, k = s.semantics, s["n_classes"]
        if not (sem.renormalises and k and k >= 2):
            return []
        beyond = neg_log(sem.eps) + math.log(sem.eps + (k - 1) * sem.high)
        return [Note("unnormalised_rows", (
            "Rows that do not sum to 1, which Keras accepts, can reach "
            f"{beyond:.7g} here (clipped, then renormalised): about ln(K-1) above the worst "
            "case."))]
