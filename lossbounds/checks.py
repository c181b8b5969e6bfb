"""Argument checks shared by every public function.

Each check raises ``TypeError`` for a wrong kind of value and ``ValueError``
for a value of the right kind that is out of range, with a message that names
the argument, says what was received and what is expected, and gives a hint
where there is one.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from .allocator import settle as settle_allocator
from .fused import accelerates
from .fused import compile as compile_fused
from .threads import run_pieces

__all__ = [
    "EPSILON",
    "MAX_CLASSES",
    "MAX_ELEMENTS",
    "as_float_dtype",
    "first_outside_unit",
    "first_where",
    "check_axis",
    "check_blocks",
    "check_bool",
    "check_epsilon",
    "check_ignore_class",
    "check_label_smoothing",
    "check_n_classes",
    "check_range",
    "check_real",
    "check_reduction",
    "plain",
    "require_nonempty",
    "scan_pieces",
    "to_array",
]

#: Keras' default clip epsilon, ``keras.config.epsilon()``.
EPSILON = 1e-7

#: The largest number of elements one input may have. A larger array can only
#: be a broadcast view of a small one; processing it would run for hours.
MAX_ELEMENTS = 2**30

#: The largest number of classes: counts beyond it are not exact in float64.
MAX_CLASSES = 2**53


def plain(value: Any) -> str:
    """``repr`` of a value with numpy scalars shown as Python numbers (-1, not np.float64(-1.0))."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def _is_real_number(value: Any) -> bool:
    if type(value) is float:  # (the usual case, without the ABC's isinstance)
        return True
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def check_bool(value: Any, argument: str) -> bool:
    """Accept Python and numpy booleans only (``from_logits=1`` is a slip)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"`{argument}` must be True or False, got {type(value).__name__}: {value!r}."
        )
    return bool(value)


def check_real(value: Any, argument: str) -> float:
    if not _is_real_number(value):
        raise TypeError(
            f"`{argument}` must be a real number, got {type(value).__name__}: {value!r}."
        )
    try:
        value = float(value)
    except OverflowError:  # an int beyond float range, 10**400
        raise ValueError(
            f"`{argument}` is too large to be a float: {_digits(int(value))}. Hint: use a value "
            "within float64 range (about 1.8e308)."
        ) from None
    if math.isnan(value):
        raise ValueError(f"`{argument}` must not be NaN.")
    return value


def check_epsilon(epsilon: Any) -> float:
    """Keras' clip epsilon must lie in the open interval (0, 0.5)."""
    value = check_real(epsilon, "epsilon")
    if not 0.0 < value < 0.5:
        raise ValueError(
            f"`epsilon` must lie in (0, 0.5), got {epsilon!r}. Keras clips "
            "probabilities to [epsilon, 1 - epsilon]; its default is 1e-7 "
            "(keras.config.epsilon())."
        )
    return value


def check_label_smoothing(label_smoothing: Any) -> float:
    """Label smoothing must lie in [0, 1] (Keras does not check; we do)."""
    value = check_real(label_smoothing, "label_smoothing")
    if not 0.0 <= value <= 1.0:
        raise ValueError(
            f"`label_smoothing` must lie in [0, 1], got {label_smoothing!r}. "
            "Keras accepts other values silently, but they turn labels into "
            "negative or >1 weights; 0.1 is a common choice."
        )
    return value


def check_n_classes(n_classes: Any, *, minimum: int = 2, argument: str = "n_classes") -> int:
    """Number of classes: an integer of at least `minimum`."""
    if isinstance(n_classes, (bool, np.bool_)) or not isinstance(n_classes, numbers.Integral):
        if isinstance(n_classes, float) and n_classes.is_integer():
            hint = f" Use {int(n_classes)}."
        else:
            hint = ""
        raise TypeError(
            f"`{argument}` must be an int, got {type(n_classes).__name__}: "
            f"{n_classes!r}.{hint}"
        )
    value = int(n_classes)
    if value > MAX_CLASSES:
        raise ValueError(
            f"`{argument}` must be at most 2**53 = {MAX_CLASSES}, got {_digits(value)}: beyond "
            "it, class counts are no longer exact in float64. Hint: it counts the classes "
            "the model chooses between (the units of its output layer)."
        )
    if value < minimum:
        raise ValueError(
            f"`{argument}` must be at least {minimum}, got {value}. "
            + (
                "With one class there is nothing to predict: every loss is ~0."
                if value == 1
                else "It counts the classes the model chooses between."
            )
        )
    return value


def check_axis(axis: Any, ndim: int, argument: str = "axis") -> int:
    """An integer axis valid for `ndim` dimensions, returned non-negative."""
    if isinstance(axis, (bool, np.bool_)) or not isinstance(axis, numbers.Integral):
        raise TypeError(
            f"`{argument}` must be an int, got {type(axis).__name__}: {axis!r}."
        )
    axis = int(axis)
    if not -ndim <= axis < ndim:
        raise ValueError(
            f"`{argument}`={axis} is out of range for inputs with {ndim} "
            f"dimension(s); expected an int in [{-ndim}, {ndim - 1}]."
        )
    return axis % ndim


def check_ignore_class(ignore_class: Any) -> int | None:
    """``ignore_class`` is None or an integer label value."""
    if ignore_class is None:
        return None
    if isinstance(ignore_class, (bool, np.bool_)) or not isinstance(
        ignore_class, numbers.Integral
    ):
        raise TypeError(
            "`ignore_class` must be None or an int label value (such as -1 or "
            f"255), got {type(ignore_class).__name__}: {ignore_class!r}."
        )
    value = int(ignore_class)
    if not -(2**63) <= value < 2**63:
        raise ValueError(
            f"`ignore_class` must be a label value that fits int64, got {_digits(value)}. "
            "Hint: padding labels are usually -1 or 255."
        )
    return value


def _digits(value: int) -> str:
    """A huge int in a message: its first digits and its length, not 400 digits."""
    text = str(value)
    return text if len(text) <= 24 else f"{text[:12]}... ({len(text)} digits)"


REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


def check_reduction(reduction: Any) -> str | None:
    """One of Keras 3's reductions; Keras 2's ``"auto"`` is rejected, as in Keras 3."""
    if reduction is not None and not isinstance(reduction, str):
        raise TypeError(
            f"`reduction` must be a str or None, got {type(reduction).__name__}: "
            f"{reduction!r}."
        )
    if reduction not in REDUCTIONS:
        hint = (
            ' Keras 3 dropped "auto"; it meant "sum_over_batch_size".'
            if reduction == "auto"
            else ""
        )
        raise ValueError(
            f"Unknown `reduction` {reduction!r}; expected one of "
            f"{', '.join(repr(r) for r in REDUCTIONS)}.{hint}"
        )
    return reduction


def check_range(value: Any, argument: str) -> tuple[float, float] | None:
    """A closed interval ``(low, high)`` of finite or infinite reals, low <= high."""
    if value is None:
        return None
    try:
        low, high = value
    except (TypeError, ValueError):
        raise TypeError(
            f"`{argument}` must be a pair (low, high), got {type(value).__name__}: "
            f"{value!r}."
        ) from None
    low = check_real(low, f"{argument}[0]")
    high = check_real(high, f"{argument}[1]")
    if low > high:
        raise ValueError(
            f"`{argument}` must have low <= high, got ({low!r}, {high!r}). "
            "Hint: swap the two values."
        )
    return low, high


# Keras dtype policies we can honour with numpy; "mixed_*" policies compute in
# their second dtype.
_POLICY_DTYPES = {
    "float16": np.float16,
    "float32": np.float32,
    "float64": np.float64,
    "mixed_float16": np.float16,
}


def first_where(values: np.ndarray, test: Any) -> tuple[int, ...] | None:
    """The index of the first entry of `values` for which ``test(piece)`` is True, or None.

    `test` takes a flat piece of `values` and returns a boolean array; the
    pieces are 2**19 entries long, so its temporaries stay small whatever
    the size of `values`. Two threads test them (each the next piece not
    yet taken), and stop at the first piece with an entry found.
    """
    step = 1 << 19
    pieces: list[tuple[int, tuple[Any, ...]]]
    if values.flags.c_contiguous:
        flat = values.reshape(-1)
        pieces = [(start, (slice(start, start + step),)) for start in range(0, flat.size, step)]
    else:  # pieces of the array in C order, each copied flat in turn (not the whole array)
        flat, pieces = values, _pieces_in_order(values.shape, step)
    found: list[tuple[int, int]] = []  # (piece, flat index) of each piece with an entry

    def search(piece: int, _: None) -> bool:
        if found and piece > min(found)[0]:
            return True  # (pieces are taken in order: a later one cannot come first)
        start, where = pieces[piece]
        passed = np.asarray(test(flat[where].reshape(-1)))
        if passed.any():
            found.append((piece, start + int(np.argmax(passed))))
        return False

    if len(pieces) > 1:
        settle_allocator()  # (else each piece's temporaries may fault their pages in afresh)
    run_pieces(len(pieces), search)
    if not found:
        return None
    return tuple(int(i) for i in np.unravel_index(min(found)[1], values.shape))


def _pieces_in_order(shape: tuple[int, ...], step: int) -> list[tuple[int, tuple[Any, ...]]]:
    """An array of `shape` cut in C order into pieces of at most `step` entries (or one row).

    Each piece is ``(flat index of its first entry, index)``: ``array[index]``
    is a block of whole sub-arrays along one axis, of consecutive entries in
    C order, so ``array[index].reshape(-1)`` holds them in that order.
    """
    pieces: list[tuple[int, tuple[Any, ...]]] = []

    def cut(prefix: tuple[int, ...], axis: int, offset: int) -> None:
        inner = math.prod(shape[axis + 1:])  # entries per index along `axis`
        if inner <= step:
            per = step // max(inner, 1)
            pieces.extend((offset + first * inner, (*prefix, slice(first, first + per)))
                          for first in range(0, shape[axis], per))
        else:  # one index along `axis` holds more than a piece: cut the next axis
            for index in range(shape[axis]):
                cut((*prefix, index), axis + 1, offset + index * inner)

    cut((), 0, 0)
    return pieces


#: The unsigned view of a float dtype and the bits of its 1.0 (`first_outside_unit`).
_UNIT_BITS = {np.dtype(np.float32): (np.uint32, np.uint32(0x3F800000)),
              np.dtype(np.float64): (np.uint64, np.uint64(0x3FF0000000000000))}


#: Values a thread reads at a time in `scan_pieces` (each thread takes the next piece).
_SCAN_PIECE = 1 << 21


def scan_pieces(values: np.ndarray, scan: Callable[..., Any], stop: Callable[[Any], bool],
                *args: Any) -> list[Any]:
    """``scan(piece, *args)`` of each piece of the flat `values`, on two threads: the answers.

    For compiled checks of a whole input (`lossbounds.fused.compile`), which
    read it once where numpy's would compare into temporary arrays. Each
    thread takes the next piece not yet taken and stops at an answer for
    which ``stop(answer)``: the answers then miss pieces not read.
    """
    answers: list[Any] = []  # (a list's append is atomic: two threads add)

    def work(piece: int, _: None) -> bool:
        answer = scan(values[piece * _SCAN_PIECE : (piece + 1) * _SCAN_PIECE], *args)
        answers.append(answer)
        return stop(answer)

    run_pieces(-(-values.size // _SCAN_PIECE), work)
    return answers


def _at_most(values: np.ndarray, bound: Any) -> bool:
    """Is every one of `values` (flat, unsigned integers) at most `bound`? One read.

    With the accelerator, a compiled pass on two threads (10**7 float32
    probabilities: 1.4 -> 0.8 ms); otherwise numpy's max.
    """
    if not accelerates(values.size):
        return bool(values.max() <= bound)
    # (a value above: numpy's search, which names it, follows)
    return all(scan_pieces(values, _bounded(), lambda below: not below, bound))


@functools.cache
def _bounded() -> Callable[[np.ndarray, Any], bool]:
    """Compiled: is every value at most `bound` (unsigned integers: the compiler vectorises it)?"""
    def bounded(values: np.ndarray, bound: Any) -> bool:
        above = False
        for i in range(values.size):
            above |= values[i] > bound
        return not above

    return compile_fused(bounded)


def first_outside_unit(values: np.ndarray) -> Any:
    """The first value below 0 or above 1 (NaN passes: it propagates as in Keras), or None."""
    if values.dtype.kind == "b" or values.size == 0:
        return None
    bits = _UNIT_BITS.get(values.dtype)
    if bits is not None and values.flags.c_contiguous:
        # One pass: as unsigned integers, the floats in [0, 1] are those up to 1's bits (a sign
        # bit, inf and NaN lie above; -0.0 and NaN then pass in the search below)
        if _at_most(values.view(bits[0]).reshape(-1), bits[1]):
            return None
    elif np.min(values) >= 0 and np.max(values) <= 1:  # two passes, no copy; NaN looks further
        return None
    where = first_where(values, lambda piece: (piece < 0) | (piece > 1))
    return None if where is None else values[where]


def check_blocks(formula: Callable[..., np.ndarray],
                 invalid: Callable[[np.ndarray, np.ndarray], bool],
                 report: Callable[[], None]) -> Callable[..., np.ndarray]:
    """``formula(y, p, ...)``, checking each block: where ``invalid(y, p)``, ``report()`` raises.

    An input check run where a kernel meets the values, in cache, instead
    of in passes of its own over the whole input before it (each a read of
    the input from memory: on 10**7 values about as long as the loss
    itself). `report` searches the whole input for its first bad entry
    (`first_where`) and raises the error naming it; so the error is the
    same whichever block meets a bad entry first. A loss's fused term gives
    NaN for such entries, which makes the kernel decline their block and
    hand it to `formula`.
    """
    def checked(y: np.ndarray, p: np.ndarray, *args: Any, **kwargs: Any) -> np.ndarray:
        if invalid(y, p):
            report()
        return formula(y, p, *args, **kwargs)

    return checked


def as_float_dtype(dtype: Any) -> np.dtype:
    """The compute dtype of a Keras loss class built with ``dtype=``."""
    if dtype is None:
        return np.dtype(np.float32)
    name = getattr(dtype, "name", dtype)
    if isinstance(name, type) and issubclass(name, np.generic):
        name = np.dtype(name).name
    if isinstance(name, np.dtype):
        name = name.name
    if not isinstance(name, str):
        raise TypeError(
            f"`dtype` must be None or a dtype name such as 'float32', got "
            f"{type(dtype).__name__}: {dtype!r}."
        )
    if name not in _POLICY_DTYPES:
        raise ValueError(
            f"Unsupported `dtype` {name!r}; expected one of "
            f"{', '.join(repr(d) for d in _POLICY_DTYPES)} (bfloat16 has no "
            "numpy dtype)."
        )
    return np.dtype(_POLICY_DTYPES[name])


def to_array(
    value: Any,
    argument: str,
    *,
    dtype: np.dtype | None = None,
    allow_int: bool = True,
    allow_bool: bool = False,
    exact: bool = False,
) -> np.ndarray:
    """Convert like ``ops.convert_to_tensor`` on the TensorFlow backend.

    numpy arrays keep their dtype. Python lists and scalars of floats become
    float32 and of ints int32, as ``tf.convert_to_tensor`` makes them. With
    `dtype`, the result is cast to it (Keras' class API does this). With
    ``exact=True`` Python numbers stay float64 and int64: for statistics
    (baselines), which Keras never sees, nothing is narrowed.
    """
    if isinstance(value, (str, bytes)):
        raise TypeError(
            f"`{argument}` must be an array of numbers, got a {type(value).__name__}: "
            f"{value[:40]!r}."
        )
    from_python = not isinstance(value, (np.ndarray, np.generic)) and not hasattr(
        value, "__array__"
    )
    try:
        array = np.asarray(value)
    except Exception as error:  # a user's __array__ may raise anything: report it as the input's
        raise ValueError(
            f"`{argument}` could not be read as an array ({type(error).__name__}: {error}). "
            "Hint: nested lists must be rectangular (every row the same length)."
        ) from None
    kind = array.dtype.kind
    if kind == "b" and not allow_bool and dtype is None:
        raise TypeError(f"`{argument}` must be numeric, got a boolean array.")
    if kind not in "biuf":
        raise TypeError(
            f"`{argument}` must be an array of real numbers, got dtype "
            f"{array.dtype} ({kind!r} kind)."
        )
    if array.size > MAX_ELEMENTS:
        raise ValueError(
            f"`{argument}` has {array.size:.3g} elements (shape {array.shape}); "
            f"lossbounds handles at most 2**30 per call. Hint: compute the loss "
            "batch by batch and combine the sums."
        )
    if from_python and not exact:
        # tf.convert_to_tensor turns Python floats into float32, ints into int32.
        if kind == "f":
            array = array.astype(np.float32)
        elif kind in "iu":
            # (min and max, not abs: abs of int64's minimum overflows to itself)
            fits = array.size == 0 or (array.min() >= -(2**31) and array.max() < 2**31)
            array = array.astype(np.int32) if fits else array
    if dtype is not None:
        array = array.astype(dtype)
    elif kind in "iu" and not allow_int:
        raise TypeError(
            f"`{argument}` has integer dtype {array.dtype}; Keras needs "
            f"floating-point predictions here. Hint: pass "
            f"`{argument}.astype('float32')`."
        )
    return array


def require_nonempty(total: float) -> None:
    """A baseline needs at least one label (or a positive total weight)."""
    if not total > 0:
        raise ValueError(
            "The label set is empty (total count 0): a baseline needs at least one "
            "label."
        )
