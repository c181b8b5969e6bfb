r"""How each Keras backend computes the pieces its losses share.

Keras 3 runs its losses on TensorFlow, JAX, PyTorch or NumPy, and legacy
tf.keras 2.x computes some of them differently again. What differs is small
and shared by many losses: where probabilities are clipped, how the two
logarithms of binary cross-entropy are taken, whether sparse categorical
cross-entropy renormalises clipped probabilities, and whether ``fit`` reads a
softmax or sigmoid head back as logits. One `Backend` object per backend holds
these facts; the loss kernels and the bounds both ask it, so a value and its
bound can never disagree about them.

`Semantics` is one backend in one compute dtype with one clip epsilon: the
setting every bound is computed in.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .checks import as_float_dtype, check_bool, check_epsilon, check_reduction

__all__ = ["BACKENDS", "DTYPES", "Backend", "Semantics", "get_backend", "neg_log",
           "semantics", "weighted_cost"]

#: The compute dtypes bounds can be asked for.
DTYPES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}


def neg_log(x: float) -> float:
    """:math:`-\\ln x`, ``inf`` at 0 (and below)."""
    return math.inf if x <= 0 else -math.log(x)


def weighted_cost(weight: float, cost: float) -> float:
    """``weight * cost`` with ``0 * inf = 0`` (xlogy's convention)."""
    return 0.0 if weight == 0 else weight * cost


def _exact_log(x: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(np.asarray(x, np.float64))


def _exact_log1p(x: Any) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log1p(np.asarray(x, np.float64))


@dataclass(frozen=True)
class Backend:
    """What one Keras backend does differently.

    Attributes
    ----------
    name : str
        ``"tensorflow"``, ``"jax"``, ``"torch"``, ``"numpy"`` or ``"tf_keras"``.
    title : str
        For people: ``"Keras 3 on JAX"``, ``"tf.keras 2.x"``.
    renormalises_sparse : bool
        Sparse categorical cross-entropy on probabilities clips, takes logs
        and renormalises them as logits (TensorFlow and tf.keras), rather
        than rescaling and then clipping.
    caches_logits : bool
        ``fit`` and ``evaluate`` compute a cross-entropy from the logits
        cached under a softmax or sigmoid head, unclipped (TensorFlow only).
    clips_binary_logits : bool
        Binary cross-entropy from logits applies the sigmoid and then the
        clipped probability formula (NumPy only): its worst case is finite.
    clamps_logs : bool
        Logarithms are clamped at -100 (PyTorch's ``binary_cross_entropy``),
        so no loss is infinite.
    float64_function, float64_class : str
        What most losses make of float64 inputs (function API) and of
        ``dtype="float64"`` (class API): see `float64_rule`. JAX runs without
        x64, so it computes float32; NumPy's ``convert_to_tensor`` downcasts
        float64; PyTorch's ``ops.mean`` computes float64 in float32. A class
        rule ``"function"`` computes the values as the function does on
        float64 inputs, reduces them in float64, and averages in float32.
    masks_weights_in_place : bool
        A scalar ``sample_weight`` with a masked loss (``ignore_class``,
        Circle's samples without pairs) raises: Keras multiplies the weight by
        the mask in place.
    fits_values_to_weights : bool
        Keras 3 brings the per-sample values and the weights to the same
        rank; Keras 2 fits only the weights (`lossbounds.engine.reduce_weighted`).
    """

    name: str
    title: str
    renormalises_sparse: bool = False
    caches_logits: bool = False
    clips_binary_logits: bool = False
    clamps_logs: bool = False
    float64_function: str = "exact"
    float64_class: str = "exact"
    masks_weights_in_place: bool = False
    fits_values_to_weights: bool = True

    def has_loss(self, loss: Any) -> bool:
        """Does this backend's Keras have `loss` (a `LossDefinition`)?"""
        return True

    def require(self, loss: Any) -> None:
        """Raise a ValueError if this backend's Keras has no such loss."""
        if not self.has_loss(loss):
            raise ValueError(
                f"`backend={self.name!r}`: {self.title} has no {loss.name} loss "
                f"(Keras 3 added it). Hint: use a Keras 3 backend, such as "
                f"backend='tensorflow'."
            )

    def float64_rule(self, loss: Any, api: str) -> str:
        """What this backend makes of float64 for `loss` (a `LossDefinition`).

        ``"exact"``: float64 throughout; ``"float32"``: computed and returned in
        float32; ``"float32_inside"``: returned as float64, computed in float32;
        ``"function"`` (classes only): see the class attributes.
        `api` is ``"function"`` (float64 inputs) or ``"class"`` (``dtype="float64"``).
        The backend's rule holds unless the loss lists an exception for it
        (``LossDefinition.float64_function`` and ``float64_class``).
        """
        if api == "function":
            return loss.float64_function.get(self.name, self.float64_function)
        return loss.float64_class.get(self.name, self.float64_class)

    def function_inputs(self, loss: Any, y_true: np.ndarray, y_pred: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        """The inputs in the dtype this backend's loss function computes them in."""
        if y_pred.dtype == np.float64 and self.float64_rule(loss, "function") != "exact":
            y_pred = y_pred.astype(np.float32)
            if y_true.dtype == np.float64:
                y_true = y_true.astype(np.float32)
        return y_true, y_pred

    def function_result(self, loss: Any, values: np.ndarray, given: np.dtype) -> np.ndarray:
        """The per-sample values in the dtype this backend returns for `y_pred` of dtype `given`."""
        if given == np.float64 and self.float64_rule(loss, "function") == "float32_inside":
            return values.astype(np.float64)
        return values

    def reduction(self, reduction: Any) -> str | None:
        """Check a loss class's `reduction` (Keras 3's six)."""
        return check_reduction(reduction)

    def class_dtype(self, loss: Any, dtype: Any, given: np.dtype) -> np.dtype:
        """The dtype a loss class built with `dtype` computes in, for `y_pred` of dtype `given`.

        Keras 3 casts both inputs to the class's dtype (float32 unless set);
        with float64, what the backend computes follows `float64_rule`.
        """
        compute = as_float_dtype(dtype)
        if compute != np.float64:
            return compute
        rule = self.float64_rule(loss, "class")
        if rule == "function":  # the function's own float64 rule
            rule = "exact" if self.float64_rule(loss, "function") == "exact" else "float32"
        return compute if rule == "exact" else np.dtype(np.float32)

    def class_values_dtype(self, loss: Any, dtype: Any, compute: np.dtype) -> np.dtype:
        """The dtype of the per-sample values a loss class reduces (`compute` unless widened)."""
        if (as_float_dtype(dtype) == np.float64
                and self.float64_rule(loss, "class") in ("function", "float32_inside")):
            return np.dtype(np.float64)
        return compute

    def class_result(self, loss: Any, result: Any, dtype: Any, reduction: str | None) -> Any:
        """A loss class's reduced result as this backend returns it (`dtype` as given).

        With the ``"function"`` rule the averaging reductions come back in
        float32: ``ops.divide_no_nan`` of a float64 sum by a count is float32
        on PyTorch and NumPy.
        """
        if (as_float_dtype(dtype) == np.float64 and self.float64_rule(loss, "class") == "function"
                and reduction in ("sum_over_batch_size", "mean", "mean_with_sample_weight")
                and np.ndim(result) == 0):
            return np.float32(result)
        return result

    def check_weights(self, masked: bool, sample_weight: Any) -> None:
        """Raise where this backend's Keras cannot weigh a masked loss (`ignore_class`)."""
        if self.masks_weights_in_place and masked and sample_weight is not None \
                and np.ndim(sample_weight) == 0:
            raise ValueError(
                f"`sample_weight` is a scalar and this loss masks some values (ignore_class, "
                f"or Circle's samples without pairs): Keras on {self.title} multiplies the "
                "weight by the mask in place and raises. Hint: pass one weight per sample, "
                "such as np.full(len(y_true), w).")

    @staticmethod
    def clip_bounds(epsilon: float, dtype: Any) -> tuple[Any, Any]:
        """``(epsilon, 1 - epsilon)`` as the clip receives them, scalars of `dtype`.

        Keras passes Python floats to the clip, so ``1 - epsilon`` is computed
        in double precision and then rounded to the tensor dtype:
        f32(1 - 1e-7) = 1 - 2**-23, and in float16 it is 1.0.
        """
        kind = np.dtype(dtype).type
        return kind(epsilon), kind(1.0 - epsilon)

    def binary_costs(self, p: np.ndarray, epsilon: float, dtype: Any, *, exact: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        """The two costs of binary cross-entropy at clipped probabilities `p`.

        Returns ``(cost of label 1, cost of label 0)``: :math:`-\\ln p` and
        :math:`-\\ln(1 - p)`, with ``1 - p`` computed in `dtype` as the backend
        computes it. The kernels pass `p` in `dtype`. The bounds pass it in
        float64 with ``exact=True``: the logarithms are then taken in float64
        of the dtype's operands, the real numbers Keras' float computation
        rounds.
        """
        log = _exact_log if exact else np.log
        kind = np.dtype(dtype).type
        # Keras takes log(p) and log(1 - p), not log1p(-p): that is what puts
        # the y=0, p=0 loss at -log(1 - f32(1e-7)) = 1.1920929e-07.
        return -log(p), -log(kind(1) - p.astype(kind, copy=False))


@dataclass(frozen=True)
class _TfKeras(Backend):
    def has_loss(self, loss: Any) -> bool:
        return bool(loss.in_tf_keras)

    def reduction(self, reduction: Any) -> str | None:
        # Keras 2's ReductionV2: "auto" (sum_over_batch_size) and three more.
        if reduction == "auto":
            return "sum_over_batch_size"
        if reduction not in ("sum_over_batch_size", "sum", "none"):
            raise ValueError(
                f"`reduction` {reduction!r} is not one of tf.keras 2.x's: 'auto', "
                "'sum_over_batch_size', 'sum', 'none' (backend='tf_keras'). Hint: "
                "'mean' and 'mean_with_sample_weight' are Keras 3's.")
        return str(reduction)

    def class_dtype(self, loss: Any, dtype: Any, given: np.dtype) -> np.dtype:
        # Keras 2's loss classes cast nothing: they compute in y_pred's dtype.
        if dtype is not None:
            raise TypeError(
                f"tf.keras 2.x loss classes take no `dtype` (got {dtype!r}); they compute "
                "in the dtype of y_pred. Hint: cast y_pred, or use a Keras 3 backend.")
        return given if given.kind == "f" else np.dtype(np.float32)

    def binary_costs(self, p: np.ndarray, epsilon: float, dtype: Any, *, exact: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        # Keras 2: -(y log(p + eps) + (1 - y) log(1 - p + eps)), every step in the dtype.
        log = _exact_log if exact else np.log
        kind = np.dtype(dtype).type
        rounded, eps = p.astype(kind, copy=False), kind(epsilon)
        return -log(rounded + eps), -log(kind(1) - rounded + eps)


@dataclass(frozen=True)
class _Torch(Backend):
    def binary_costs(self, p: np.ndarray, epsilon: float, dtype: Any, *, exact: bool = False
                     ) -> tuple[np.ndarray, np.ndarray]:
        # torch's binary_cross_entropy: log(p) and log1p(-p), each clamped at -100.
        log, log1p = (_exact_log, _exact_log1p) if exact else (np.log, np.log1p)
        return np.minimum(-log(p), 100.0), np.minimum(-log1p(-p), 100.0)


_BACKENDS = {
    "tensorflow": Backend("tensorflow", "Keras 3 on TensorFlow", renormalises_sparse=True,
                          caches_logits=True),
    "jax": Backend("jax", "Keras 3 on JAX", float64_function="float32",
                   float64_class="float32"),
    "torch": _Torch("torch", "Keras 3 on PyTorch", clamps_logs=True,
                    float64_function="float32_inside", float64_class="function",
                    masks_weights_in_place=True),
    "numpy": Backend("numpy", "Keras 3 on NumPy", clips_binary_logits=True,
                     float64_function="float32", float64_class="function",
                     masks_weights_in_place=True),
    "tf_keras": _TfKeras("tf_keras", "tf.keras 2.x", renormalises_sparse=True,
                         caches_logits=True, fits_values_to_weights=False),
}

#: Backends whose values and bounds differ: Keras 3's four and legacy tf.keras (Keras 2).
BACKENDS = tuple(_BACKENDS)

_BACKEND_ALIASES = {"tf": "tensorflow", "tf_keras_2": "tf_keras", "keras2": "tf_keras",
                    "keras_2": "tf_keras", "tf_keras2": "tf_keras", "pytorch": "torch"}


def get_backend(backend: Any) -> Backend:
    """The `Backend` called `backend` (``"tf"`` and ``"pytorch"`` are accepted too)."""
    if isinstance(backend, Backend):
        return backend
    if not isinstance(backend, str):
        raise TypeError(
            f"`backend` must be a str, got {type(backend).__name__}: {backend!r}."
        )
    folded = backend.lower().replace("-", "_").replace(".", "_")
    folded = _BACKEND_ALIASES.get(folded, folded)
    if folded not in _BACKENDS:
        close = difflib.get_close_matches(folded, BACKENDS, n=2, cutoff=0.4)
        hint = f" Did you mean {' or '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown `backend` {backend!r}.{hint} Expected one of "
            f"{', '.join(map(repr, BACKENDS))} ('tf_keras' is legacy Keras 2)."
        )
    return _BACKENDS[folded]


@dataclass(frozen=True)
class Semantics:
    """One backend in one compute dtype with one clip epsilon.

    Attributes
    ----------
    backend : Backend
    dtype : type
        The numpy scalar type Keras computes in.
    epsilon : float
        The clip epsilon as given.
    eps, high : float
        The clip bounds rounded to the dtype: ``epsilon`` and ``1 - epsilon``.
    from_logits : bool
        Whether the predictions are logits.
    """

    backend: Backend
    dtype: type
    epsilon: float
    eps: float
    high: float
    from_logits: bool

    def clip(self, p: Any) -> Any:
        """Clip to ``[eps, high]`` (a float for a float, an array for an array)."""
        return np.clip(p, self.eps, self.high)

    def one_minus(self, q: float) -> float:
        """``1 - q`` rounded to the dtype, as the backend computes it."""
        return float(self.dtype(1) - self.dtype(q))

    @property
    def renormalises(self) -> bool:
        """Sparse categorical cross-entropy renormalises clipped probabilities."""
        return self.backend.renormalises_sparse and not self.from_logits

    @property
    def unclipped_binary_logits(self) -> bool:
        """Binary cross-entropy from logits takes the stable, unclipped formula."""
        return self.from_logits and not self.backend.clips_binary_logits

    def binary_crossentropy(self, t: float, q: float) -> float:
        """The exact value Keras' binary cross-entropy rounds, for target `t` and probability `q`.

        With logits, `q` stands for ``sigmoid(x)``: the stable logits formula is
        exact and unclipped (NumPy's backend alone applies the sigmoid and clips).
        """
        if self.unclipped_binary_logits:
            return weighted_cost(t, neg_log(q)) + weighted_cost(1.0 - t, neg_log(1.0 - q))
        clipped = np.asarray(self.clip(q), np.float64)
        positive, negative = self.backend.binary_costs(clipped, self.epsilon, self.dtype,
                                                       exact=True)
        return weighted_cost(t, float(positive)) + weighted_cost(1.0 - t, float(negative))


def semantics(epsilon: Any, dtype: Any, backend: Any, from_logits: Any) -> Semantics:
    """Check `epsilon`, `dtype`, `backend` and `from_logits`, and return their `Semantics`."""
    epsilon = check_epsilon(epsilon)
    found = get_backend(backend)
    name = getattr(dtype, "name", dtype)
    if isinstance(name, type):
        name = np.dtype(name).name
    if not isinstance(name, str) or name not in DTYPES:
        raise ValueError(
            f"Unknown `dtype` {dtype!r}; expected one of {', '.join(map(repr, DTYPES))} "
            "(the dtype Keras computes the loss in; float32 unless you set it)."
        )
    kind = DTYPES[name]
    low, high = Backend.clip_bounds(epsilon, kind)
    return Semantics(backend=found, dtype=kind, epsilon=epsilon, eps=float(low),
                     high=float(high), from_logits=check_bool(from_logits, "from_logits"))
