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
    The loss of predicting :math:`1/K` for every class: :math:`\ln K` for the
    categorical losses, :math:`\ln 2` for binary cross-entropy.
``worst``
    The highest value Keras can return for valid predictions (probability
    rows that sum to 1, or probabilities in [0, 1]): :math:`-\ln \epsilon`
    = 16.118095 for clipped probabilities, ``inf`` for logits.

References
----------
.. [1] T. M. Cover and J. A. Thomas, *Elements of Information Theory*, 2nd
   ed., Wiley, 2006. Theorem 2.6.3 (Gibbs' inequality: cross-entropy is
   minimised by the true distribution) and Theorem 2.6.4 (entropy is at most
   :math:`\ln K`).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from ._validation import (
    EPSILON,
    LossSpec,
    check_bool,
    check_epsilon,
    check_label_smoothing,
    check_n_classes,
    check_range,
    plain,
    resolve_loss,
    to_array,
)

__all__ = [
    "BACKENDS",
    "Bounds",
    "baseline",
    "best_case",
    "bounds",
    "prior_baseline",
    "worst_case",
]

#: Backends whose bounds differ: Keras 3's four and legacy tf.keras (Keras 2).
BACKENDS = ("tensorflow", "jax", "torch", "numpy", "tf_keras")

_DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


# --------------------------------------------------------------------------
# How one backend and dtype evaluate a clipped probability


@dataclass(frozen=True)
class _Semantics:
    """Clip bounds and log conventions of one backend in one dtype."""

    eps: float  # epsilon rounded to the dtype
    high: float  # 1 - epsilon computed in double, rounded to the dtype
    dtype: type
    backend: str
    from_logits: bool

    def clip(self, p):
        return np.clip(p, self.eps, self.high)

    def one_minus(self, q: float) -> float:
        """``1 - q`` rounded to the dtype, as the backend computes it."""
        return float(self.dtype(1) - self.dtype(q))

    def add_eps(self, q: float) -> float:
        return float(self.dtype(q) + self.dtype(self.eps))

    @property
    def renormalises(self) -> bool:
        """TensorFlow's sparse CCE renormalises clipped probabilities."""
        return self.backend in ("tensorflow", "tf_keras") and not self.from_logits


def _semantics(epsilon: float, dtype: Any, backend: Any, from_logits: bool) -> _Semantics:
    epsilon = check_epsilon(epsilon)
    backend = _check_backend(backend)
    name = getattr(dtype, "name", dtype)
    if isinstance(name, type):
        name = np.dtype(name).name
    if name not in _DTYPES:
        raise ValueError(
            f"Unknown `dtype` {dtype!r}; expected one of {', '.join(map(repr, _DTYPES))} "
            "(the dtype Keras computes the loss in; float32 unless you set it)."
        )
    kind = _DTYPES[name]
    return _Semantics(
        eps=float(kind(epsilon)),
        high=float(kind(1.0 - epsilon)),
        dtype=kind,
        backend=backend,
        from_logits=check_bool(from_logits, "from_logits"),
    )


def _check_backend(backend: Any) -> str:
    if not isinstance(backend, str):
        raise TypeError(
            f"`backend` must be a str, got {type(backend).__name__}: {backend!r}."
        )
    folded = backend.lower().replace("-", "_").replace(".", "_")
    aliases = {"tf": "tensorflow", "tf_keras_2": "tf_keras", "keras2": "tf_keras",
               "keras_2": "tf_keras", "tf_keras2": "tf_keras", "pytorch": "torch"}
    folded = aliases.get(folded, folded)
    if folded not in BACKENDS:
        close = difflib.get_close_matches(folded, BACKENDS, n=2, cutoff=0.4)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown `backend` {backend!r}.{hint} Expected one of "
            f"{', '.join(map(repr, BACKENDS))} ('tf_keras' is legacy Keras 2)."
        )
    return folded


def _neg_log(x: float) -> float:
    return math.inf if x <= 0 else -math.log(x)


def _binary_value(t: float, q: float, s: _Semantics) -> float:
    """Keras' binary cross-entropy of probability `q` for target `t`.

    With logits, `q` stands for ``sigmoid(x)``: the stable logits formula is
    exact and unclipped (NumPy's backend alone applies the sigmoid and clips).
    """
    if s.from_logits and s.backend != "numpy":
        return _xterm(t, _neg_log(q)) + _xterm(1.0 - t, _neg_log(1.0 - q))
    q = float(s.clip(q))
    if s.backend == "tf_keras":
        # Keras 2: -(y log(p + eps) + (1 - y) log(1 - p + eps)).
        positive, negative = _neg_log(s.add_eps(q)), _neg_log(s.add_eps(s.one_minus(q)))
    elif s.backend == "torch":
        # torch's binary_cross_entropy: log1p(-p), each log clamped at -100.
        positive = min(_neg_log(q), 100.0)
        negative = min(-math.log1p(-q) if q < 1 else math.inf, 100.0)
    else:
        positive, negative = _neg_log(q), _neg_log(s.one_minus(q))
    return _xterm(t, positive) + _xterm(1.0 - t, negative)


def _xterm(weight: float, cost: float) -> float:
    """``weight * cost`` with ``0 * inf = 0`` (xlogy's convention)."""
    return 0.0 if weight == 0 else weight * cost


# --------------------------------------------------------------------------
# Targets


def _smoothed_binary(label_smoothing: float) -> tuple[float, float]:
    """Targets for labels 1 and 0 after smoothing: 1 - a/2 and a/2."""
    return 1.0 - label_smoothing / 2, label_smoothing / 2


def _smoothed_onehot(n_classes: int, label_smoothing: float) -> tuple[float, float]:
    """(true, other) target of a one-hot label after smoothing."""
    other = label_smoothing / n_classes
    return 1.0 - label_smoothing + other, other


def _classes(spec: LossSpec, n_classes: Any, *, required: bool, binary_default: int | None = None) -> int | None:
    if n_classes is None:
        if required:
            raise ValueError(
                f"{spec.name} needs `n_classes`, the number of classes K. "
                f"Example: lossbounds.baseline({spec.name!r}, n_classes=10)."
            )
        return binary_default
    minimum = 1 if spec.classes else 2
    return check_n_classes(n_classes, minimum=minimum)


def _setup(loss, label_smoothing, epsilon, dtype, backend, from_logits):
    """Check the options every bound takes: ``(spec, label_smoothing, semantics)``."""
    spec = resolve_loss(loss)
    label_smoothing = check_label_smoothing(label_smoothing)
    if label_smoothing and "label_smoothing" not in spec.options:
        hint = (" Hint: use categorical_crossentropy with one-hot labels to smooth."
                if spec.classes else "")
        raise ValueError(f"{spec.name} has no `label_smoothing` in Keras.{hint}")
    return spec, label_smoothing, _semantics(epsilon, dtype, backend, from_logits)


# --------------------------------------------------------------------------
# Best case


def best_case(
    loss: str,
    *,
    n_classes: int | None = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    epsilon: float = EPSILON,
    dtype: str = "float32",
    y_range: tuple[float, float] | None = None,
    pred_range: tuple[float, float] | None = None,
    backend: str = "tensorflow",
) -> float:
    r"""The lowest loss Keras can return for one sample with hard labels.

    Parameters
    ----------
    loss : str
        A loss name, such as ``"sparse_cce"`` or ``"binary_crossentropy"``.
    n_classes : int, optional
        The number of classes K; needed for categorical losses with label
        smoothing and for sparse categorical cross-entropy on TensorFlow.
    from_logits : bool, default False
        Whether the model outputs logits (no clipping).
    label_smoothing : float in [0, 1], default 0
        Keras' label smoothing.
    epsilon : float, default 1e-7
        Keras' clip epsilon.
    dtype : {"float32", "float16", "float64"}, default "float32"
        The dtype Keras computes in.
    y_range, pred_range : (float, float), optional
        For mean squared error: the ranges of targets and predictions.
    backend : str, default "tensorflow"
        ``"tensorflow"``, ``"jax"``, ``"torch"``, ``"numpy"`` or
        ``"tf_keras"`` (legacy Keras 2).

    Returns
    -------
    float

    Notes
    -----
    *Binary cross-entropy.* For a target :math:`t` the loss of probability
    :math:`q` is convex in :math:`q` on :math:`[\epsilon, 1-\epsilon]` and
    constant outside it, so it is smallest at :math:`q = \mathrm{clip}(t)`.
    For a hard label that is the clip bound: :math:`-\ln(1-\epsilon)`, with
    :math:`1 - \epsilon` rounded to the dtype (1.1920929e-07 in float32). With
    smoothing :math:`a` it is the binary entropy :math:`H_b(a/2)`.

    *Categorical cross-entropy.* With smoothed target :math:`t` (true class
    :math:`1 - a + a/K`, others :math:`a/K`), classes whose rescaled
    probability is at most :math:`\epsilon` all cost :math:`-\ln \epsilon`,
    and over the others Gibbs' inequality [1]_ puts the optimum at
    probabilities proportional to :math:`t`. The minimum is therefore over
    how many "other" classes share the mass, which we scan exactly. Without
    smoothing it is :math:`-\ln(1-\epsilon)`; with :math:`a/K \gg \epsilon`
    it is the entropy of the smoothed target.

    *Sparse categorical cross-entropy on TensorFlow.* TensorFlow computes
    :math:`-\ln(c_y / \sum_k c_k)` with :math:`c = \mathrm{clip}(p)`, which is
    smallest when :math:`c_y = 1 - \epsilon` and every other
    :math:`c_k = \epsilon`:
    :math:`\ln(1 + (K-1)\epsilon / (1-\epsilon))`, 1.0e-4 at K = 1000.

    *Logits* are never clipped: the infimum is 0 (the entropy of the smoothed
    target with smoothing), reached in float32 once the logit gap exceeds
    about 104. *Mean squared error* is 0, or the squared gap between the two
    ranges if they do not overlap.

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
    spec, label_smoothing, semantics = _setup(loss, label_smoothing, epsilon, dtype, backend, from_logits)
    if spec.name == "mean_squared_error":
        return _mse_best(check_range(y_range, "y_range"), check_range(pred_range, "pred_range"))
    if spec.name == "binary_crossentropy":
        return min(_binary_value(t, t, semantics) for t in _smoothed_binary(label_smoothing))
    k = _classes(spec, n_classes, required=bool(label_smoothing) or (
        spec.name == "sparse_categorical_crossentropy" and semantics.renormalises))
    if semantics.from_logits:
        return _entropy_of_smoothed(k, label_smoothing) if label_smoothing else 0.0
    if semantics.renormalises and spec.name == "sparse_categorical_crossentropy":
        return math.log1p((k - 1) * semantics.eps / semantics.high)
    if k is None or k == 1 or not label_smoothing:
        return _neg_log(semantics.high)
    return _categorical_best(k, label_smoothing, semantics)


def _entropy_of_smoothed(k: int, label_smoothing: float) -> float:
    true, other = _smoothed_onehot(k, label_smoothing)
    return _xterm(true, _neg_log(true)) + (k - 1) * _xterm(other, _neg_log(other))


def _categorical_best(k: int, label_smoothing: float, s: _Semantics) -> float:
    true, other = _smoothed_onehot(k, label_smoothing)
    shared = np.arange(k, dtype=np.float64)  # "other" classes that share the mass
    total = true + shared * other
    floored = (k - 1 - shared) * other  # target mass on classes left at eps
    with np.errstate(divide="ignore", invalid="ignore"):
        cost = (
            -true * np.log(s.clip(true / total))
            - shared * other * np.log(s.clip(other / total))
            + np.where(floored > 0, floored * _neg_log(s.eps), 0.0)
        )
    return float(cost.min())


def _mse_best(y_range, pred_range) -> float:
    if y_range is None or pred_range is None:
        return 0.0
    gap = max(pred_range[0] - y_range[1], y_range[0] - pred_range[1], 0.0)
    return gap * gap


# --------------------------------------------------------------------------
# Worst case


def worst_case(
    loss: str,
    *,
    n_classes: int | None = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    epsilon: float = EPSILON,
    dtype: str = "float32",
    y_range: tuple[float, float] | None = None,
    pred_range: tuple[float, float] | None = None,
    backend: str = "tensorflow",
) -> float:
    r"""The highest loss Keras can return for one sample with a valid prediction.

    Valid predictions are probability rows that sum to 1 (probabilities in
    [0, 1] for binary cross-entropy). The parameters are those of
    `best_case`.

    Returns
    -------
    float
        ``math.inf`` where the loss is unbounded: logits on every backend
        but for NumPy's binary cross-entropy, and mean squared error without
        both ranges.

    Notes
    -----
    *Binary cross-entropy.* The loss is convex in the clipped probability, so
    its maximum over :math:`[\epsilon, 1-\epsilon]` is at an end. In float32
    the two ends differ: label 1 at :math:`p \le \epsilon` costs
    :math:`-\ln \epsilon = 16.118095`, label 0 at :math:`p \ge 1 - \epsilon`
    costs :math:`-\ln(1 - \mathrm{f32}(1-\epsilon)) = 23 \ln 2 = 15.942385`.
    With smoothing :math:`a` the label-1 end gives
    :math:`(1 - a/2)(-\ln\epsilon) + (a/2)(-\ln(1-\epsilon))`. In float16
    :math:`1 - \epsilon` rounds to 1 and label 0 at :math:`p = 1` gives
    ``inf``. Legacy tf.keras adds :math:`\epsilon` inside the logs, which
    gives its famous plateaus :math:`-\ln 2\epsilon = 15.424949` and 15.333239.

    *Categorical cross-entropy.* After rescaling, every class costs at most
    :math:`-t_k \ln \epsilon`, and at least one class must hold probability
    :math:`\ge 1 - (K-1)\epsilon`. Putting that class on the smallest target
    :math:`t_{min}` and :math:`\epsilon` on all others is therefore optimal:
    :math:`(\sum t - t_{min})(-\ln\epsilon) - t_{min} \ln(1 - (K-1)\epsilon)`,
    which is :math:`-\ln \epsilon` without smoothing.

    *Sparse categorical cross-entropy on TensorFlow* renormalises the clipped
    row: :math:`-\ln \epsilon + \ln \sum_k c_k`. With the label's probability
    at 0, the sum of the clipped row is largest when the mass is split over
    two other classes (K >= 3), :math:`1 + (K-2)\epsilon`, and is
    :math:`\epsilon + \mathrm{f32}(1-\epsilon)` for K = 2. Rows that do not
    sum to 1, which Keras accepts, can reach
    :math:`-\ln\epsilon + \ln(\epsilon + (K-1)(1-\epsilon))`, about
    :math:`\ln(K-1)` more; see `bounds` for the exact note.

    *Mean squared error* is at most
    :math:`\max((y_{hi} - p_{lo})^2, (p_{hi} - y_{lo})^2)`.

    These are exact real numbers. Keras returns them rounded to its dtype,
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
    spec, label_smoothing, semantics = _setup(loss, label_smoothing, epsilon, dtype, backend, from_logits)
    if spec.name == "mean_squared_error":
        return _mse_worst(check_range(y_range, "y_range"), check_range(pred_range, "pred_range"))
    if spec.name == "binary_crossentropy":
        if semantics.from_logits and semantics.backend != "numpy":
            return math.inf
        return max(
            _binary_value(t, q, semantics)
            for t in _smoothed_binary(label_smoothing)
            for q in (semantics.eps, semantics.high)
        )
    if semantics.from_logits:
        return math.inf
    k = _classes(spec, n_classes, required=bool(label_smoothing) or (
        spec.name == "sparse_categorical_crossentropy" and semantics.renormalises))
    sparse_tf = spec.name == "sparse_categorical_crossentropy" and semantics.renormalises
    if k == 1:
        # A single class: TF's sparse CCE renormalises it to exactly 1; CCE
        # rescales it to 1 and clips it to 1 - eps.
        return 0.0 if sparse_tf else _neg_log(semantics.high)
    if sparse_tf:
        total = semantics.eps + semantics.high if k == 2 else 1.0 + (k - 2) * semantics.eps
        return _neg_log(semantics.eps) + math.log(total)
    if not label_smoothing:
        return _neg_log(semantics.eps)
    true, other = _smoothed_onehot(k, label_smoothing)
    largest = float(semantics.clip(1.0 - (k - 1) * semantics.eps))
    return (true + (k - 2) * other) * _neg_log(semantics.eps) + other * _neg_log(largest)


def _mse_worst(y_range, pred_range) -> float:
    if y_range is None or pred_range is None:
        return math.inf
    (y_low, y_high), (p_low, p_high) = y_range, pred_range
    return max((y_high - p_low) ** 2, (p_high - y_low) ** 2)


def _unnormalised_sparse_worst(k: int, s: _Semantics) -> float:
    """TF sparse CCE, label at 0 and every other entry at 1 (clipped to 1-eps)."""
    return _neg_log(s.eps) + math.log(s.eps + (k - 1) * s.high)


# --------------------------------------------------------------------------
# Uniform baseline


def baseline(
    loss: str,
    *,
    n_classes: int | None = None,
    label_smoothing: float = 0.0,
    from_logits: bool = False,
    epsilon: float = EPSILON,
    dtype: str = "float32",
    backend: str = "tensorflow",
) -> float:
    r"""The uniform baseline: the loss of predicting :math:`1/K` for every class.

    This is what an untrained classifier should score ("verify the loss at
    initialisation"): :math:`\ln K` for categorical and sparse categorical
    cross-entropy, :math:`\ln 2` for binary cross-entropy, and
    :math:`(K-1)/K^2` for mean squared error on one-hot targets.

    Parameters
    ----------
    loss : str
        A loss name, such as ``"sparse_cce"``.
    n_classes : int, optional
        The number of classes K. Required for the categorical losses and for
        mean squared error. For binary cross-entropy, giving K > 2 means K
        one-hot outputs each predicted at :math:`1/K`, whose baseline is the
        binary entropy :math:`H_b(1/K)`, far below :math:`\ln K`.
    label_smoothing : float in [0, 1], default 0
        Smoothed targets still sum to 1, so the categorical baseline stays
        :math:`\ln K`.
    from_logits : bool, default False
        Equal logits predict :math:`1/K` too; the value is the same.
    epsilon, dtype, backend
        As in `worst_case`; they matter only where :math:`1/K` is clipped
        (K > 1/epsilon) or, for legacy tf.keras' binary cross-entropy, where
        :math:`\epsilon` is added inside the log (0.6931469 instead of ln 2).

    Returns
    -------
    float

    Notes
    -----
    With a smoothed one-hot target :math:`t` (:math:`\sum_k t_k = 1`),
    :math:`-\sum_k t_k \ln(1/K) = \ln K`. By Gibbs' inequality [1]_ the
    entropy of any label distribution is at most :math:`\ln K`, so the
    uniform baseline is also the worst *constant* prediction one can make
    knowing nothing, and a trained model should beat it.

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
    spec, label_smoothing, semantics = _setup(loss, label_smoothing, epsilon, dtype, backend, from_logits)
    if spec.name == "mean_squared_error":
        if n_classes is None:
            raise ValueError(
                "mean_squared_error has no uniform baseline without classes: give "
                "`n_classes` for one-hot targets, or use prior_baseline('mse', "
                "y_true) with your targets (its value is their variance)."
            )
        k = check_n_classes(n_classes, minimum=1)
        return (k - 1) / k**2
    if spec.name == "binary_crossentropy":
        k = _classes(spec, n_classes, required=False, binary_default=2)
        if k == 2:
            # 0.5 costs ln 2 whatever the target (0.6931469 in tf.keras).
            return _binary_value(0.5, 0.5, semantics)
        positive, negative = _smoothed_binary(label_smoothing)
        return (_binary_value(positive, 1 / k, semantics)
                + (k - 1) * _binary_value(negative, 1 / k, semantics)) / k
    k = _classes(spec, n_classes, required=True)
    sparse_tf = spec.name == "sparse_categorical_crossentropy" and semantics.renormalises
    if semantics.from_logits or sparse_tf or semantics.eps <= 1.0 / k <= semantics.high:
        return math.log(k)
    # K > 1/epsilon: 1/K is clipped up to epsilon (or, for K = 1, down to 1 - eps).
    return _neg_log(float(semantics.clip(1.0 / k)))


# --------------------------------------------------------------------------
# Prior baseline


def _frequencies(spec, y_true, counts, sample_weight, n_classes, ignore_class):
    """Average target per class (or per output for BCE), and the sample count."""
    if (y_true is None) == (counts is None):
        raise ValueError(
            "prior_baseline needs exactly one of `y_true` (the labels) and "
            "`counts` (their class counts)."
        )
    if counts is not None:
        if sample_weight is not None:
            raise ValueError("`sample_weight` applies to `y_true`, not to `counts`; "
                             "weight the counts yourself.")
        counts = to_array(counts, "counts").astype(np.float64)
        if counts.ndim == 0 or counts.shape[-1] < 1:
            raise ValueError(f"`counts` must be a 1-D array of class counts, got shape {counts.shape}.")
        if not np.all(np.isfinite(counts)) or np.any(counts < 0):
            raise ValueError(
                "`counts` must be finite and non-negative, got "
                f"{plain(counts[~np.isfinite(counts) | (counts < 0)].flat[0])}."
            )
        if spec.name == "binary_crossentropy":
            if counts.shape[-1] != 2:
                raise ValueError(
                    "For binary_crossentropy, `counts` holds (negatives, positives) per "
                    f"output: shape (2,) or (outputs, 2), got {counts.shape}."
                )
            total = counts.sum(axis=-1)
            _require_nonempty(total.min())
            return counts[..., 1] / total, float(total.min())
        if counts.ndim != 1:
            raise ValueError(f"`counts` must be 1-D (one count per class), got shape {counts.shape}.")
        if n_classes is not None and check_n_classes(n_classes, minimum=1) != counts.size:
            raise ValueError(f"`counts` has {counts.size} classes but n_classes={n_classes}.")
        _require_nonempty(counts.sum())
        return counts / counts.sum(), float(counts.sum())
    return _frequencies_from_labels(spec, y_true, sample_weight, n_classes, ignore_class)


def _require_nonempty(total: float) -> None:
    if not total > 0:
        raise ValueError(
            "The label set is empty (total count 0): a baseline needs at least one "
            "label."
        )


def _frequencies_from_labels(spec, y_true, sample_weight, n_classes, ignore_class):
    y_true = to_array(y_true, "y_true", allow_bool=True)
    if y_true.size == 0:
        _require_nonempty(0)
    if y_true.ndim == 0:
        y_true = y_true.reshape(1)
    weights = None
    if sample_weight is not None:
        weights = to_array(sample_weight, "sample_weight").astype(np.float64)
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
    if spec.name == "sparse_categorical_crossentropy":
        labels = y_true.reshape(-1).astype(np.float64)
        if weights is not None:
            weights = np.broadcast_to(weights.reshape(-1) if weights.size == labels.size else weights, labels.shape)
        if ignore_class is not None:
            keep = labels != ignore_class
            labels = labels[keep]
            weights = None if weights is None else weights[keep]
        if labels.size == 0:
            _require_nonempty(0)
        if np.any(labels != np.trunc(labels)) or np.any(labels < 0):
            raise ValueError("Sparse labels must be non-negative integers (class indices).")
        k = int(labels.max()) + 1 if n_classes is None else check_n_classes(n_classes, minimum=1)
        if labels.max() >= k:
            raise ValueError(
                f"label {int(labels.max())} is outside [0, {k}) for n_classes={k}. Hint: "
                "labels must run from 0 to K-1; shift 1-based labels down by one, or "
                "pass `ignore_class` for a padding label."
            )
        counts = np.bincount(labels.astype(np.int64), weights=weights, minlength=k)
        _require_nonempty(counts.sum())
        return counts / counts.sum(), float(counts.sum())
    # One-hot or soft rows (CCE, axis -1) or binary targets per output (BCE).
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
    _require_nonempty(total)
    mean = weights @ rows / total
    if spec.name == "categorical_crossentropy" and n_classes is not None:
        if check_n_classes(n_classes, minimum=1) != mean.size:
            raise ValueError(f"y_true has {mean.size} classes but n_classes={n_classes}.")
    return mean, float(total)


def prior_baseline(
    loss: str,
    y_true: Any = None,
    *,
    counts: Any = None,
    sample_weight: Any = None,
    n_classes: int | None = None,
    label_smoothing: float = 0.0,
    ignore_class: int | None = None,
    count: Any = None,
    mean: Any = None,
    variance: Any = None,
    from_logits: bool = False,
    epsilon: float = EPSILON,
    dtype: str = "float32",
    backend: str = "tensorflow",
) -> float:
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
    counts : array_like, optional
        Instead of `y_true`: the class counts, shape ``(K,)``; for binary
        cross-entropy ``(negatives, positives)``, shape ``(2,)`` or
        ``(D, 2)`` per output. Any engine (Spark, Dask, SQL) can compute them
        for data far larger than memory.
    sample_weight : array_like, optional
        Non-negative per-sample weights for `y_true`.
    n_classes : int, optional
        K, when some classes never occur in `y_true`.
    label_smoothing : float, default 0
        Smoothing mixes the frequencies with the uniform distribution.
    ignore_class : int, optional
        A sparse label value to leave out (padding).
    count, mean, variance : float or array_like, optional
        For mean squared error, instead of `y_true`: the sufficient
        statistics (population variance, per output or overall).
    from_logits, epsilon, dtype, backend
        As in `worst_case`.

    Returns
    -------
    float

    Notes
    -----
    For a constant prediction :math:`q`, the average loss over the data is
    :math:`-\sum_k f_k \ln q_k` because the loss is linear in the target;
    Gibbs' inequality [1]_ gives :math:`-\sum_k f_k \ln q_k \ge H(f)` with
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
    spec, label_smoothing, semantics = _setup(loss, label_smoothing, epsilon, dtype, backend, from_logits)
    if spec.name == "mean_squared_error":
        return _mse_prior(y_true, sample_weight, count, mean, variance)
    if (count, mean, variance) != (None, None, None):
        raise ValueError("`count`, `mean` and `variance` are for mean_squared_error; "
                         f"for {spec.name} pass `counts` (class counts).")
    frequencies, _ = _frequencies(spec, y_true, counts, sample_weight, n_classes, ignore_class)
    if spec.name == "binary_crossentropy":
        targets = frequencies * (1 - label_smoothing) + label_smoothing / 2
        values = [_binary_value(t, t, semantics) for t in np.atleast_1d(targets).ravel()]
        return float(np.mean(values))
    k = frequencies.size
    f = frequencies * (1 - label_smoothing) + label_smoothing / k
    if semantics.from_logits:
        return float(-np.sum(f[f > 0] * np.log(f[f > 0])))
    mass = f.sum()
    q = semantics.clip(f / mass)
    value = float(-np.sum(f[f > 0] * np.log(q[f > 0])))
    if spec.name == "sparse_categorical_crossentropy" and semantics.renormalises:
        value += math.log(float(np.sum(q)))
    return value


def _mse_prior(y_true, sample_weight, count, mean, variance) -> float:
    if y_true is not None:
        if (count, mean, variance) != (None, None, None):
            raise ValueError("Give either `y_true` or (`count`, `mean`, `variance`), not both.")
        y = to_array(y_true, "y_true").astype(np.float64)
        if y.size == 0:
            _require_nonempty(0)
        y = y.reshape(y.shape[0] if y.ndim else 1, -1)
        w = np.ones(y.shape[0]) if sample_weight is None else np.broadcast_to(
            to_array(sample_weight, "sample_weight").astype(np.float64).reshape(-1), (y.shape[0],))
        if np.any(w < 0) or not np.all(np.isfinite(w)):
            raise ValueError("`sample_weight` must be finite and non-negative for a baseline.")
        _require_nonempty(w.sum())
        centre = w @ y / w.sum()
        return float(np.mean(w @ (y - centre) ** 2 / w.sum()))
    if variance is None:
        raise ValueError(
            "prior_baseline('mse') needs the targets `y_true`, or their sufficient "
            "statistics: `variance` (and optionally `count`, `mean`)."
        )
    if count is not None:
        n = to_array(count, "count").astype(np.float64)
        if not np.all(np.isfinite(n)) or np.any(n < 0):
            raise ValueError(f"`count` must be finite and non-negative, got {count!r}.")
        _require_nonempty(float(np.min(n)))
    if mean is not None and not np.all(np.isfinite(to_array(mean, "mean"))):
        raise ValueError(f"`mean` must be finite, got {mean!r}.")
    v = to_array(variance, "variance").astype(np.float64)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError(f"`variance` must be finite and non-negative, got {variance!r}.")
    return float(np.mean(v))


# --------------------------------------------------------------------------
# All four at once


@dataclass(frozen=True)
class Bounds:
    """The bounds of one loss under one set of options.

    Attributes
    ----------
    loss : str
        Keras' canonical name of the loss.
    best, uniform, worst : float or None
        `best_case`, `baseline` and `worst_case` (None where undefined, such
        as the uniform baseline of mean squared error without classes).
    prior : float or None
        `prior_baseline`, when labels or counts were given.
    options : Mapping[str, object]
        The options the bounds were computed for.
    notes : tuple of str
        What the numbers do not say on their own.
    """

    loss: str
    best: float
    prior: float | None
    uniform: float | None
    worst: float
    options: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``inf`` stays a float; ``json`` writes Infinity)."""
        return {
            "loss": self.loss,
            "best": self.best,
            "prior": self.prior,
            "uniform": self.uniform,
            "worst": self.worst,
            "options": dict(self.options),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        rows = [("best", self.best), ("prior", self.prior), ("uniform", self.uniform), ("worst", self.worst)]
        shown = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        lines = [f"{self.loss}" + (f" ({shown})" if shown else "")]
        for label, value in rows:
            if value is not None:
                lines.append(f"  {label:<8} {_format(value)}")
        lines.extend(f"  note: {note}" for note in self.notes)
        return "\n".join(lines)


def _format(value: float) -> str:
    if math.isinf(value):
        return "inf (unbounded)"
    return f"{value:.7g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.6e}"


def bounds(
    loss: str,
    y_true: Any = None,
    *,
    counts: Any = None,
    sample_weight: Any = None,
    n_classes: int | None = None,
    from_logits: bool = False,
    label_smoothing: float = 0.0,
    ignore_class: int | None = None,
    epsilon: float = EPSILON,
    dtype: str = "float32",
    y_range: tuple[float, float] | None = None,
    pred_range: tuple[float, float] | None = None,
    backend: str = "tensorflow",
    count: Any = None,
    mean: Any = None,
    variance: Any = None,
) -> Bounds:
    r"""Best, prior, uniform and worst values of a loss, with notes.

    Takes the options of `best_case`, `worst_case`, `baseline` and
    `prior_baseline`; the prior is computed when labels (`y_true`), class
    `counts` or, for mean squared error, a `variance` are given.

    Returns
    -------
    Bounds
        A frozen dataclass; ``str()`` of it is a small table.

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
    spec = resolve_loss(loss)
    common = dict(from_logits=from_logits, label_smoothing=label_smoothing, epsilon=epsilon,
                  dtype=dtype, backend=backend)
    k = None if n_classes is None else check_n_classes(n_classes, minimum=1)
    if k is None and counts is not None and spec.classes:
        k = _classes_in_counts(counts)  # K is the length of the class counts
    ranges = dict(y_range=y_range, pred_range=pred_range)
    best = best_case(spec.name, n_classes=k, **common, **ranges)
    worst = worst_case(spec.name, n_classes=k, **common, **ranges)
    uniform = None
    if k is not None or spec.name == "binary_crossentropy":
        uniform = baseline(spec.name, n_classes=k, **common)
    prior = None
    has_data = y_true is not None or counts is not None or variance is not None
    if has_data:
        prior = prior_baseline(spec.name, y_true, counts=counts, sample_weight=sample_weight,
                               n_classes=k, ignore_class=ignore_class, count=count, mean=mean,
                               variance=variance, **common)
    options = {key: value for key, value in dict(
        n_classes=k, from_logits=from_logits, label_smoothing=label_smoothing,
        epsilon=epsilon, dtype=dtype, backend=_check_backend(backend), **ranges,
    ).items() if value != _DEFAULT_OPTIONS.get(key)}
    notes = _notes(spec, k, _semantics(epsilon, dtype, backend, from_logits), label_smoothing)
    return Bounds(spec.name, best, prior, uniform, worst, MappingProxyType(options), notes)


def _classes_in_counts(counts: Any) -> int | None:
    counts = to_array(counts, "counts")
    return int(counts.shape[-1]) if counts.ndim == 1 and counts.shape[-1] >= 1 else None


_DEFAULT_OPTIONS = {
    "n_classes": None, "from_logits": False, "label_smoothing": 0.0, "epsilon": EPSILON,
    "dtype": "float32", "backend": "tensorflow", "y_range": None, "pred_range": None,
}


def _notes(spec: LossSpec, k: int | None, s: _Semantics, label_smoothing: float) -> tuple[str, ...]:
    notes = []
    cross_entropy = spec.name != "mean_squared_error"
    if cross_entropy and s.backend in ("tensorflow", "tf_keras") and not s.from_logits:
        notes.append(
            "With the TensorFlow backend, when the model's last layer is a softmax or "
            "sigmoid, fit() and evaluate() compute the loss from the cached logits, "
            "unclipped: training losses can then exceed this worst case without limit."
        )
    if spec.name == "sparse_categorical_crossentropy" and s.renormalises and k and k >= 2:
        beyond = _unnormalised_sparse_worst(k, s)
        notes.append(
            "Rows that do not sum to 1, which Keras accepts, can reach "
            f"{beyond:.7g} here (clipped, then renormalised): about ln(K-1) above the worst case."
        )
    if cross_entropy and not s.from_logits and s.high == 1.0 and s.backend != "torch":
        notes.append(
            "In this dtype 1 - epsilon rounds to 1: a confidently wrong binary "
            "prediction gives inf and a confidently right one NaN."
        )
    if cross_entropy and s.from_logits:
        notes.append("Logits are not clipped: the loss grows without bound with a confidently wrong logit.")
    if label_smoothing and cross_entropy:
        notes.append(
            "With label smoothing even a perfect prediction costs the entropy of the "
            "smoothed target: that is the best case."
        )
    if spec.name == "binary_crossentropy" and k and k > 2:
        notes.append(
            f"Uniform here means predicting 1/{k} on each of {k} one-hot outputs; "
            "predicting 0.5 everywhere scores ln 2 instead."
        )
    return tuple(notes)
