r"""Similarity losses: cosine similarity.

Each loss here is one `LossDefinition` (see `lossbounds.registry` and
CONTRIBUTING.md): its names, options, per-sample function, bounds with their
derivations, and the words `explain` uses for it.

Keras' cosine similarity loss is *minus* the cosine: -1 is perfect, 0 is
orthogonal and +1 opposite, so it is negative by design.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from .. import _tfmath
from ..backends import Backend
from ..checks import EPSILON, check_axis
from ..engine import Plan, broadcast_shape, cast, rows_job, same_rank, vectors_last
from ..fused import CHUNK_ROWS, Fused, chunk_adder, compile, float64_sum, prefetch, prefetch_steps
from ..options import AXIS, SAMPLE_WEIGHT, Y_TRUE
from ..registry import LossDefinition, Setting, register
from ..text import PRINT_ATOL, Note, loss_value, number
from .probabilistic import target_rows

# The per-sample functions: lossbounds exports them.
__all__ = ["cosine_similarity"]


# --------------------------------------------------------------------------
# Values


def _rsqrt(x: np.ndarray) -> np.ndarray:
    """``tf.math.rsqrt``, correctly rounded.

    TensorFlow's is not, and its errors depend on the CPU: in float32 a
    hardware approximation refined by a Newton step (up to 2.3e-7 relative,
    on a quarter of inputs); in float16 the same for all but the last
    ``size % 8`` elements of a tensor, which get the unrefined approximation
    (up to 7e-4 relative, a float16 ulp). float64 is exact.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return (1.0 / np.sqrt(x.astype(np.float64))).astype(x.dtype)


def _normalize(x: np.ndarray, axis: int, epsilon: float) -> np.ndarray:
    """Keras' ``ops.nn.normalize``: ``x * minimum(rsqrt(sum(x**2)), 1/epsilon)``, in x's dtype."""
    x = x.reshape(1) if x.ndim == 0 else x
    with np.errstate(all="ignore"):  # overflow to inf, 0 * inf = NaN, as in Keras
        square_sum = np.expand_dims(np.asarray(_tfmath.reduce_sum(np.square(x), axis)), axis)
        # Keras passes 1.0 / epsilon as a Python float: rounded to the dtype (inf in float16).
        inverse = np.minimum(_rsqrt(square_sum), x.dtype.type(1.0 / epsilon))
        return x * inverse


def _normalize_l2(x: np.ndarray, axis: int, epsilon: float) -> np.ndarray:
    r"""``tf.linalg.l2_normalize`` (tf.keras 2.x): ``x * rsqrt(maximum(sum(x**2), 1e-12))``.

    The floor is on the squared norm, 1e-12 in x's dtype (0 in float16), not
    Keras 3's :math:`1/\epsilon` on the inverse norm; tf.keras' own epsilon
    plays no part.
    """
    x = x.reshape(1) if x.ndim == 0 else x
    with np.errstate(all="ignore"):
        square_sum = np.expand_dims(np.asarray(_tfmath.reduce_sum(np.square(x), axis)), axis)
        return x * _rsqrt(np.maximum(square_sum, x.dtype.type(_L2_FLOOR)))


def _normalize_numpy(x: np.ndarray, axis: int, epsilon: float) -> np.ndarray:
    """Keras' ``normalize`` for NumPy arrays (its NumPy backend): ``x / norm``, zero norms 1.

    No floor: vectors shorter than epsilon are normalised exactly. The plan
    has rejected ``axis=0``, which this path reads as -1 (``axis or -1``).
    """
    x = x.reshape(1) if x.ndim == 0 else x
    with np.errstate(all="ignore"):
        norm = np.atleast_1d(np.linalg.norm(x, 2, axis))
        norm[norm == 0] = 1
        return x / np.expand_dims(norm, axis)


#: tf.linalg.l2_normalize's default floor on the squared norm.
_L2_FLOOR = 1e-12
#: How each backend normalises the vectors; not listed: Keras 3's `_normalize`.
_NORMALIZERS = {"tf_keras": _normalize_l2, "numpy": _normalize_numpy}


def _cosine_plan(y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype, *, axis: Any = -1,
                 epsilon: float = EPSILON, normalize: Any = _normalize) -> Plan:
    y_true, y_pred = same_rank(y_true, y_pred)
    shapes = {"y_true": y_true.shape or (1,), "y_pred": y_pred.shape or (1,)}  # 0-d: (1,)
    where = {}
    for argument, shape in shapes.items():
        check_axis(axis, len(shape))
        where[argument] = axis % len(shape) - len(shape)  # from the end: as broadcasting aligns
    lengths = {argument: shapes[argument][where[argument]] for argument in shapes}
    if where["y_true"] != where["y_pred"] or lengths["y_true"] != lengths["y_pred"]:
        raise ValueError(
            f"cosine_similarity: the vectors compared lie along axis={axis}, but there `y_true` "
            f"(shape {y_true.shape}) has length {lengths['y_true']} and `y_pred` (shape "
            f"{y_pred.shape}) has length {lengths['y_pred']}"
            + ("" if where["y_true"] == where["y_pred"] else ", and the axis is not the same "
               "dimension of the two once aligned for broadcasting")
            + ". Keras would compare vectors of different lengths (a length-1 vector broadcast "
            "against the other gives values outside [-1, 1]); lossbounds raises. Hint: give "
            "both the same length along `axis`.")
    true_like, pred_like = (np.broadcast_to(np.zeros((), bool), shape)  # shapes, no memory
                            for shape in shapes.values())
    broadcast_shape(true_like, pred_like, "cosine_similarity")

    def formula(y: np.ndarray, p: np.ndarray, axis: Any = axis) -> np.ndarray:
        if normalize is _normalize and y.ndim == 2 and y.shape[-1] > _WIDE_ROW \
                and y.dtype != np.float16 and axis == -1:
            return _wide_rows(y, p, epsilon)
        y, p = normalize(y, axis, epsilon), normalize(p, axis, epsilon)
        with np.errstate(all="ignore"):
            return np.negative(np.asarray(_tfmath.reduce_sum(y * p, axis)))

    def reference() -> tuple[np.ndarray, None]:
        return formula(cast(y_true, dtype), cast(y_pred, dtype)), None

    # Each vector's value is its own, so the vectors stream as rows (`vectors_last`)
    # (the inverse norm's cap, and whether a zero norm counts as 1: NumPy's)
    fused = _COSINE_FUSED.using(1.0 / epsilon, 0.0) if normalize is _normalize else \
        _COSINE_FUSED.using(np.inf, 1.0) if normalize is _normalize_numpy else None
    rows = vectors_last(y_true, y_pred, where["y_pred"], dtype) if y_pred.ndim else None
    job = rows_job(lambda y, p: formula(y, p, -1), *rows, dtype,
                   fused=fused) if rows is not None else None
    return Plan(reference, job)


#: Rows wider than this are normalised `_WIDE_ROW` columns at a time (`_wide_rows`).
_WIDE_ROW = 2**16


def _wide_rows(y: np.ndarray, p: np.ndarray, epsilon: float) -> np.ndarray:
    """The formula on rows of `_normalize`d vectors, a segment of `_WIDE_ROW` columns at a time.

    Whole, a row of 10**7 float32 values took 114 MiB of temporaries (its
    squares, both normalised rows and their products); in segments, a few
    MiB. A segment's sum is numpy's in the dtype (pairwise, as the whole
    formula's), the segments' sums are added in float64 and rounded to the
    dtype once: as close to TensorFlow's float32 sum as numpy's whole sum.
    """
    kind = y.dtype.type
    starts = range(0, y.shape[-1], _WIDE_ROW)
    with np.errstate(all="ignore"):  # overflow to inf, 0 * inf = NaN, as in Keras
        squares = [sum(np.sum(np.square(x[:, s : s + _WIDE_ROW]), axis=-1).astype(np.float64)
                       for s in starts) for x in (y, p)]
        inverse_y, inverse_p = (np.minimum(_rsqrt(total.astype(y.dtype))[:, None], kind(1.0 / epsilon))
                                for total in squares)
        products = sum(np.sum((y[:, s : s + _WIDE_ROW] * inverse_y)
                              * (p[:, s : s + _WIDE_ROW] * inverse_p), axis=-1).astype(np.float64)
                       for s in starts)
        return np.negative(np.asarray(products).astype(y.dtype))


#: float64 terms of a row the fused cosine kernel sums at a time (32 KiB, in L1 and L2 cache).
_CHUNK = 4096


def _row_squares(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """The float64 sums of two rows' squares, each rounded to the dtype, in any order."""
    y_total = p_total = 0.0
    for j in range(y.size):
        y_total += np.float64(y[j] * y[j])
        p_total += np.float64(p[j] * p[j])
    return y_total, p_total


def _row_products(y: np.ndarray, p: np.ndarray, inverse_y: Any, inverse_p: Any) -> float:
    """The float64 sum of ``(y * inverse_y) * (p * inverse_p)``, each in the dtype, in any order."""
    total = 0.0
    for j in range(y.size):
        total += np.float64((y[j] * inverse_y) * (p[j] * inverse_p))
    return total


def _cosine_kernel(dtype: np.dtype) -> Any:
    """The fused cosine similarity: two passes over each row, sums in float64 rounded to the dtype.

    As `_normalize`: the squared norms are summed (TensorFlow's float32 sum of
    non-negative terms, to which a rounded float64 sum is as close as its own
    order), their inverse square root correctly rounded, capped at
    1/epsilon (the constants' first); then minus the sum of the normalised
    products. As `_normalize_numpy` with the constants (inf, 1): no cap, and
    a zero norm counts as 1 (a product with the inverse norm, where NumPy
    divides by the norm: an ulp apart). float32 rows
    are summed in whatever order the compiler vectorises (a float64 sum of
    float32 terms, rounded to float32: the order moves it by far less than
    that rounding), twice as fast as eight lanes in order; float64
    rows, whose sums the order would move at their own precision, in
    eight lanes, `_CHUNK` terms at a time.
    """
    lane_sum, add_chunk = float64_sum(), chunk_adder()
    any_order = np.dtype(dtype) == np.float32
    fetch = prefetch()
    ahead, line_size = prefetch_steps(dtype)

    def products_in_lanes(y: np.ndarray, p: np.ndarray, inverse_y: Any, inverse_p: Any,
                          terms: np.ndarray) -> float:
        # The float64 sum of (y * inverse_y) * (p * inverse_p) in eight lanes, a chunk of
        # `terms` at a time: a long row needs no buffer of its own length
        total, step = 0.0, terms.size
        for start in range(0, y.size, step):
            y_part, p_part = y[start : start + step], p[start : start + step]  # (indexed from 0)
            for j in range(y_part.size):
                terms[j] = (y_part[j] * inverse_y) * (p_part[j] * inverse_p)
            total += lane_sum(terms, y_part.size)
        return total

    chunked_sum = compile(products_in_lanes, inline=True)
    squares = compile(_row_squares, reassociate=True)
    products = compile(_row_products, reassociate=True)

    def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
               out: np.ndarray) -> tuple[float, bool]:
        rows, width = y_pred.shape
        cap, zero_is_one = constants[0], constants[1] != 0
        rounded = np.empty(4, y_pred.dtype)  # rounds float64 to the dtype
        terms = np.empty(min(width, _CHUNK), y_pred.dtype)  # float64 terms, a chunk at a time
        values = np.empty(CHUNK_ROWS, y_pred.dtype)  # a chunk's row values
        total = 0.0
        for i in range(rows):
            r = i % CHUNK_ROWS
            for line in range(0, width, line_size):  # (the row 4 KiB ahead)
                fetch(y_true, i * width + ahead + line)
                fetch(y_pred, i * width + ahead + line)
            y, p = y_true[i], y_pred[i]
            if any_order:
                rounded[0], rounded[1] = squares(y, p)
            else:
                rounded[0] = chunked_sum(y, y, 1.0, 1.0, terms)
                rounded[1] = chunked_sum(p, p, 1.0, 1.0, terms)
            rounded[2] = 1.0 / np.sqrt(np.float64(rounded[0]))
            rounded[3] = 1.0 / np.sqrt(np.float64(rounded[1]))
            if zero_is_one:  # (into `rounded`: the inverses stay in the dtype)
                rounded[2] = 1.0 if rounded[0] == 0 else rounded[2]
                rounded[3] = 1.0 if rounded[1] == 0 else rounded[3]
            inverse_y = cap if rounded[2] > cap else rounded[2]  # np.minimum: NaN stays NaN
            inverse_p = cap if rounded[3] > cap else rounded[3]
            if any_order:
                rounded[0] = products(y, p, inverse_y, inverse_p)
            else:
                rounded[0] = chunked_sum(y, p, inverse_y, inverse_p, terms)
            values[r] = -rounded[0]
            if r == CHUNK_ROWS - 1 or i == rows - 1:  # (not a store a row: `chunk_adder`)
                total += add_chunk(values, r + 1, out, i - r, rows)
        return total, True

    return compile(kernel)


_COSINE_FUSED = Fused(_cosine_kernel)


def cosine_similarity(y_true: ArrayLike, y_pred: ArrayLike, *, axis: int = -1,
                      epsilon: float = EPSILON,
                      backend: str = "tensorflow") -> np.ndarray:
    r"""Minus the cosine similarity along `axis`, as ``keras.losses.cosine_similarity``.

    .. math::

        \ell(y, \hat y) = -\sum_{d=1}^{D} n(y)_d \, n(\hat y)_d, \qquad
        n(x) = x \min\left(\frac{1}{\lVert x \rVert}, \frac{1}{\epsilon}\right)

    -1 is perfect (the same direction), 0 is orthogonal, +1 is opposite. The
    length of the vectors does not matter, only their direction.

    Parameters
    ----------
    y_true : array_like
        Target vectors. Cast to the dtype of `y_pred`.
    y_pred : array_like
        Predicted vectors. Must be floating point (Keras on TensorFlow rejects
        integers).
    axis : int, default -1
        The axis the vectors lie along.
    epsilon : float in (0, 0.5), default 1e-7
        Keras' ``keras.config.epsilon()``: the inverse norm is capped at
        :math:`1/\epsilon`.
    backend : {"tensorflow", "jax", "torch", "numpy", "tf_keras"}, default "tensorflow"
        The Keras backend whose value to reproduce (``keras.backend.backend()``;
        ``"tf_keras"`` is legacy tf.keras 2.x). See :doc:`backends`.

    Returns
    -------
    numpy.ndarray
        Per-sample losses with `axis` removed, in `y_pred`'s dtype.

    Raises
    ------
    ValueError
        Where the two inputs do not hold vectors of the same length along
        `axis` (say ``(N, 1)`` targets against ``(N, D)`` predictions): Keras
        broadcasts the shorter one, normalised to :math:`\pm 1`, and returns
        values outside [-1, 1]; lossbounds raises. Also for an `axis` out of
        range.

    Notes
    -----
    As in Keras 3, ``(N,)`` and ``(N, 1)`` are first brought to the same rank.
    Keras' docstrings once called the loss "a negative quantity between -1
    and 0"; it lies in [-1, 1], and float32 rounding can take it to
    -1.0000002 or +1.0000002. An all-zero vector gives 0 (-0.0). Vectors
    shorter than :math:`\epsilon` are scaled by :math:`1/\epsilon` rather
    than normalised, so they score closer to 0: [1e-8, 0] against [1, 0] gives
    -0.1, not -1 (Keras' NumPy backend divides exactly and gives -1). In
    float16 :math:`1/\epsilon` overflows: an all-zero vector gives NaN, and a
    vector with an entry above 256 gives 0 (its squared norm overflows).

    TensorFlow's inverse square root is a CPU-dependent approximation, while
    lossbounds rounds it correctly: float32 results agree to the 1e-6
    contract, but in float16 the last ``N % 8`` of N vectors can differ from
    Keras by a few float16 ulps (at most :math:`2^{-9}` measured).

    See Also
    --------
    loss : the reduced value of ``keras.losses.CosineSimilarity``.

    Examples
    --------
    >>> import lossbounds
    >>> lossbounds.cosine_similarity([[0.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
    ...                              [[1.0, 0.0], [1.0, 1.0], [-1.0, -1.0]])
    array([-0.        , -0.99999994,  0.99999994], dtype=float32)
    >>> lossbounds.cosine_similarity([[1.0, 0.0]], [[1e-8, 0.0]])  # shorter than epsilon
    array([-0.1], dtype=float32)
    """
    return CosineSimilarity().per_sample(y_true, y_pred, axis=axis, epsilon=epsilon, backend=backend)


def _numpy_axis_zero(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    """Keras on NumPy reads ``axis=0`` as -1 where it puts the norms back (``axis or -1``).

    That is harmless only when every other axis has length 1; otherwise Keras
    raises or divides by the wrong norms, so lossbounds raises.
    """
    y_true, y_pred = same_rank(y_true, y_pred)
    if all(x.ndim >= 2 and all(length == 1 for length in x.shape[1:]) for x in (y_true, y_pred)):
        return
    raise ValueError(
        "cosine_similarity: with backend='numpy', Keras reads axis=0 as axis=-1 where it "
        f"divides by the norms (`axis or -1`), so for shapes {y_true.shape} and {y_pred.shape} "
        "it raises or divides by the wrong norms; lossbounds raises. Hint: give the same axis "
        "counted from the end (axis=-2 for 2-D inputs), which Keras reads correctly.")


# --------------------------------------------------------------------------
# Bounds


@register
class CosineSimilarity(LossDefinition):
    r"""Cosine similarity loss, :math:`-\cos(y, \hat y)`: -1 perfect, 0 orthogonal, +1 opposite.

    *Best case* -1, at :math:`\hat y = c\,y` with :math:`c > 0`; *worst
    case* +1, at :math:`c < 0` (Cauchy-Schwarz: :math:`|n(y) \cdot
    n(\hat y)| \le \lVert n(y) \rVert \lVert n(\hat y) \rVert \le 1`, and the
    cap on the inverse norm only shortens :math:`n(x)`). Keras' float32
    rounding reaches about :math:`\pm 1.0000002`.

    *Uniform baseline* 0: predicting zeros, which Keras scores exactly 0 (so
    does any direction orthogonal to every target).

    *Prior baseline.* A constant prediction :math:`c` costs
    :math:`-\overline{n(y)} \cdot c / \lVert c \rVert`, the mean being over
    samples (weighted); by Cauchy-Schwarz the best direction is the mean
    normalised target :math:`m = \overline{n(y)}`, and its loss is
    :math:`-\lVert m \rVert`: -1 when every target points the same way, 0
    when they cancel out.
    """

    name = "cosine_similarity"
    class_name = "CosineSimilarity"
    aliases = ("cosine", "cosine_proximity")  # a short form, and Keras 2's name of this loss
    title = "cosine similarity loss"
    keras_options = (AXIS,)
    data_options = (Y_TRUE, SAMPLE_WEIGHT)
    function = staticmethod(cosine_similarity)
    backend_differences = {
        "numpy": ("Vectors are divided by their exact norm, with no floor: [1e-8, 0] against "
                  "[1, 0] gives -1 (TensorFlow -0.1), a float16 zero vector gives -0.0 "
                  "(TensorFlow NaN); axis=0 raises a ValueError (Keras raises or divides by "
                  "the wrong norms), use axis=-2 for 2-D inputs. Integer predictions raise a "
                  "TypeError, as on TensorFlow (Keras here computes float64)."),
        "torch": ("Integer predictions raise a TypeError, as on TensorFlow (Keras here "
                  "computes them in float32)."),
        "tf_keras": ("Each vector's squared norm is floored at 1e-12 (tf.linalg.l2_normalize), "
                     "not its inverse norm at 1/epsilon: [1e-7] against [1] gives -0.1 "
                     "(Keras 3 -1); y_true and y_pred of different dtypes raise a TypeError."),
    }
    prior_name = "mean target direction"
    prior_meaning = "the loss of predicting the mean target direction for every input"

    def plan(self, y_true: np.ndarray, y_pred: np.ndarray, dtype: np.dtype,
             **options: Any) -> Plan:
        return _cosine_plan(y_true, y_pred, dtype, **options)

    def plan_on(self, backend: Backend, y_true: np.ndarray, y_pred: np.ndarray,
                dtype: np.dtype, **options: Any) -> Plan:
        if backend.name == "tf_keras" and y_true.dtype != y_pred.dtype:
            raise TypeError(
                f"cosine_similarity: tf.keras 2.x normalises `y_true` ({y_true.dtype}) and "
                f"`y_pred` ({y_pred.dtype}) without casting either, and multiplying them then "
                "raises. Hint: give both the same float dtype.")
        if backend.name == "numpy" and options.get("axis", -1) == 0:
            _numpy_axis_zero(y_true, y_pred)
        return _cosine_plan(y_true, y_pred, dtype,
                            normalize=_NORMALIZERS.get(backend.name, _normalize), **options)

    def best(self, s: Setting) -> float:
        return -1.0

    def worst(self, s: Setting) -> float:
        return 1.0

    def uniform(self, s: Setting, y_true: Any = None) -> float:
        return 0.0

    def prior(self, s: Setting, y_true: Any) -> float:
        if y_true is None:
            raise ValueError("prior_baseline('cosine_similarity') needs the targets `y_true`.")
        rows, weights = target_rows(y_true, s.get("sample_weight"), axis=s["axis"])
        with np.errstate(divide="ignore"):
            inverse = np.minimum(1.0 / np.linalg.norm(rows, axis=1), 1.0 / s.semantics.epsilon)
        mean = weights @ (rows * inverse[:, None])
        return 0.0 - float(np.linalg.norm(mean))  # 0.0, not -0.0, where the targets cancel

    def notes(self, s: Setting) -> tuple[Note, ...]:
        if s.semantics.dtype == np.float16:
            return (Note("float16_norms", (
                "In float16 1/ε overflows, so nothing caps the inverse norm: an all-zero target "
                "or prediction gives NaN (0 × inf), and a vector with an entry above 256 gives 0 "
                "(its squared norm overflows).")),)
        return (Note("tiny_vectors", (
            f"Vectors shorter than ε = {s.semantics.epsilon:g} are scaled by 1/ε instead of "
            "normalised, so they score closer to 0 ([1e-8, 0] against [1, 0] gives -0.1), and "
            "an all-zero target or prediction gives exactly 0.")),)

    # -- words -------------------------------------------------------------

    def uniform_formula(self, s: Setting) -> str:
        return "0"

    def uniform_meaning(self, s: Setting) -> str:
        return "the loss of predicting zeros (or any direction orthogonal to the targets)"

    def value_flags(self, value: float, s: Setting) -> tuple[Note, ...]:
        if value <= PRINT_ATOL:
            return ()
        return (Note("cosine_positive", (
            f"a positive cosine similarity loss ({loss_value(value)}) means the predictions "
            "point away from their targets on average (+1 is exactly opposite). Keras' loss is "
            "minus the cosine, so learning drives it toward -1: check the sign of the targets "
            "and of the model's output.")),)

    def describe(self, value: float, numbers: Mapping[str, Any], s: Setting,
                 marks: Mapping[str, Any]) -> list[str]:
        lines = ["-1 is perfect, 0 is orthogonal, +1 is opposite: Keras' cosine similarity loss "
                 "is minus the cosine of the angle between each prediction and its target, so "
                 "it is negative when the model does well."]
        if -1.0 - PRINT_ATOL <= value <= 1.0 + PRINT_ATOL:
            cosine = min(1.0, max(-1.0, -value))
            lines.append(f"{loss_value(value)} is a mean cosine of {number(cosine)}: an angle of "
                         f"about {math.degrees(math.acos(cosine)):.3g}° between prediction and "
                         "target if every sample were alike (0° perfect, 90° orthogonal).")
        prior = marks["prior"]
        if prior is not None:
            lines.append(f"Predicting the mean target direction for every input scores "
                         f"{number(prior)} (the prior baseline).")
        return lines
