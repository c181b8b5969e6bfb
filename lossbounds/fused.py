r"""The optional fused accelerator: numba kernels that read each input once.

A reduced loss computed with numpy makes several passes over each block
(subtract, square, sum, ...). A *fused* kernel computes a block's per-sample
losses and their sum in one compiled loop, with no temporaries. Such kernels
exist when numba is installed (``python -m pip install ".[fast]"`` from the
source folder) and are then used automatically, by reduced losses and by
the per-sample values (the per-sample functions, ``reduction="none"``);
without numba nothing changes.

Each loss that has one declares it next to its numpy kernel (a `Fused` in the
loss's family module); `lossbounds.engine` chooses between the two for every
block. A loss whose samples are not rows of the engine's blocks (CTC's label
and frame sequences) gives its plan a compiled pass of its own
(`lossbounds.engine.Plan.fused`), which asks `accelerates`. A fused kernel
gives the numpy kernel's values to Keras' tolerance: its loops follow the
same formulas in the same dtype, adding in float64 where numpy adds pairwise
in the dtype (a reduced cross-entropy may add one logarithm of a product of
terms for each 32 logarithms: the same sum, to the rounding of each term). A
kernel may also decline a block (an input outside the range its shortcuts
cover); the engine then runs the numpy kernel on that block.

numba compiles each kernel the first time it is used on a machine, which
takes one to seven seconds, and keeps it in its disk cache (next to
lossbounds' modules, or in ``NUMBA_CACHE_DIR``): later processes load it in
about 10 ms (the first also imports numba, about 0.3 s). numpy computes a
small input in milliseconds: so inputs of fewer than `MIN_ELEMENTS` elements
(about a million) always take numpy's kernels. ``LOSSBOUNDS_ACCELERATOR=always``
sends every input to the fused kernels (the test suite checks them this way on
small inputs too).

Switch it off for one process with the environment variable
``LOSSBOUNDS_ACCELERATOR=off`` (read once, at the first call that asks), or
in Python::

    import lossbounds
    lossbounds.set_accelerator(False)    # numpy only, from now on
    with lossbounds.accelerator(False):  # numpy only, in this block
        ...

This module imports numba only when a kernel is first compiled: ``import
lossbounds`` stays as fast as without it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["CACHE_LINE", "CHUNK_ROWS", "MIN_ELEMENTS", "PREFETCH_AHEAD", "WEIGHTED_ELEMENTS",
           "Fused", "accelerates", "accelerator", "accelerator_enabled", "available",
           "chunk_adder", "compile", "elementwise_mean", "float64_sum", "prefetch",
           "prefetch_steps", "row_max", "row_sum", "set_accelerator", "tensorflow_exp_log1p",
           "tensorflow_log", "waiters", "weighted_rows", "weighted_sums"]

#: Values of LOSSBOUNDS_ACCELERATOR that switch the accelerator off.
_OFF = frozenset({"0", "off", "false", "no", "numpy"})
MIN_ELEMENTS = 2**20
"""Inputs of fewer elements take numpy's kernels (unless ``LOSSBOUNDS_ACCELERATOR=always``):
compiling a kernel takes seconds, and loading it from the disk cache, once per process, tens of
milliseconds; numpy takes milliseconds there."""

_state: dict[str, bool | None] = {"enabled": None}
_lock = threading.Lock()


@functools.cache
def available() -> bool:
    """Whether numba is installed (the accelerator's one requirement).

    Looked up once: the search takes ~0.1 ms of file-system calls, which
    every `loss` call would pay.
    """
    return importlib.util.find_spec("numba") is not None


def accelerator_enabled() -> bool:
    """Whether reduced losses (`loss`, `LossMeter`) use the fused kernels now.

    True when numba is installed, unless switched off by `set_accelerator`
    or the environment variable ``LOSSBOUNDS_ACCELERATOR=off``. (Inputs of
    fewer than `MIN_ELEMENTS` elements take numpy's kernels either way.)

    Examples
    --------
    >>> import lossbounds
    >>> with lossbounds.accelerator(False):
    ...     lossbounds.accelerator_enabled()
    False
    """
    chosen = _state["enabled"]
    if chosen is None:
        chosen = _environment() not in _OFF
    return bool(chosen) and available()


@functools.cache
def _environment() -> str:
    """``LOSSBOUNDS_ACCELERATOR``, read once a process.

    (A read costs ~8 us on the cold caches a large pass leaves, on each call
    of `loss`: an unset variable is a KeyError inside ``os.environ.get``.)
    """
    return os.environ.get("LOSSBOUNDS_ACCELERATOR", "").strip().lower()


def accelerates(elements: int) -> bool:
    """Whether the fused kernels take an input of this many elements now (see `MIN_ELEMENTS`).

    `Fused.bind` asks it for every job, and so do losses that run a compiled
    pass of their own, outside `lossbounds.engine`'s blocks (CTC, Circle's
    pairs, Dice's and Tversky's sums).
    """
    return _large_enough(elements) and accelerator_enabled()


def _large_enough(elements: int) -> bool:
    """Whether an input of this many elements takes the fused kernels (`MIN_ELEMENTS`)."""
    return elements >= MIN_ELEMENTS or _environment() == "always"


def set_accelerator(enabled: bool) -> bool:
    """Use the fused kernels (`enabled` True, the default when numba is installed) or numpy only.

    Returns whether they were enabled before. Values do not depend on the
    choice beyond float rounding (both give Keras' value to its tolerance).

    Parameters
    ----------
    enabled : bool
        True to use the fused kernels where numba is installed, False for
        the numpy kernels only.

    See Also
    --------
    accelerator : the same, for a ``with`` block.
    """
    if not isinstance(enabled, bool):
        raise TypeError(f"set_accelerator: `enabled` must be True or False, got {enabled!r}.")
    before = accelerator_enabled()
    _state["enabled"] = enabled
    return before


@contextmanager
def accelerator(enabled: bool) -> Iterator[None]:
    """Use the fused kernels or numpy only inside a ``with`` block (see `set_accelerator`)."""
    if not isinstance(enabled, bool):
        raise TypeError(f"accelerator: `enabled` must be True or False, got {enabled!r}.")
    before = _state["enabled"]
    _state["enabled"] = enabled
    try:
        yield
    finally:
        _state["enabled"] = before


def compile(python_function: Callable[..., Any], *, inline: bool = False,  # noqa: A001
            reassociate: bool = False) -> Any:
    """`python_function` compiled by numba: no Python objects, the GIL released, cached on disk.

    ``error_model="numpy"`` makes 1/0 give inf as numpy does (numba's
    default raises), and no ``fastmath``: the compiler may not reorder,
    contract (FMA) or assume finite values, so each operation rounds as
    numpy's does. ``reassociate=True`` alone lets it reorder additions (and
    so vectorise a sum across a short row): for small functions whose float64
    sums are exact, or whose order moves them far below the dtype's rounding.
    They must not be `inline` (numba would compile their body with the
    caller's flags); the compiler still inlines them, flags kept.

    Closures (the kernels, made for each dtype and option) are cached under
    a key of what they capture (`_identity`), which numba's own cache cannot
    find again in another process; a closure that captures something
    without such a key is compiled in every process.
    """
    import numba

    if inline and reassociate:
        raise ValueError("compile: reassociate=True needs inline=False (an inlined body takes "
                         "its caller's flags)")
    plain = python_function.__closure__ is None
    dispatcher = numba.njit(nogil=True, cache=plain, error_model="numpy",
                            fastmath={"reassoc"} if reassociate else False,
                            inline="always" if inline else "never",
                            pipeline_class=_wide_vector_compiler())(python_function)
    if not plain and not inline:
        key = _identity(python_function)
        if key is not None:  # (else compiled in each process, as numba does closures)
            dispatcher._cache = _closure_cache()(python_function, key)  # type: ignore[attr-defined]
    return dispatcher


# LLVM's function attribute for the widest vectors its loop and SLP vectorisers use. On
# Intel CPUs with AVX-512 LLVM's default is 256 bits (to spare older ones the clock drop of
# 512-bit instructions); numpy's own loops (np.exp, np.sum) use 512. The kernels at 512 bits
# took 0.6-1.0x the time on such a CPU (an Intel Xeon with AVX-512, 2026: one exp-and-add
# pass over 10**7 float32 values 5.0 -> 2.2 ms; the benchmark's memory-bound cases as
# before). Where there is no AVX-512 the attribute changes nothing. Without fastmath the
# width changes no value; the reordered sums (`reassociate`) may add in another order, which
# they allow (on the test table's inputs, none changed).
_VECTOR_WIDTH = '"prefer-vector-width"="512"'


@functools.cache
def _wide_vector_compiler() -> type:
    """numba's nopython compiler whose functions carry `_VECTOR_WIDTH` (a `pipeline_class`).

    The attribute goes on each compiled function (an inlined one's body is its
    caller's), before LLVM optimises it. It is a string attribute, which
    llvmlite's attribute set does not list, so it is added as the set's raw item;
    llvmlite writes the items as they are into the function's definition.
    """
    from numba.core import compiler, lowering, typed_passes
    from numba.core.compiler_machinery import PassManager, register_pass

    class WideVectorLower(lowering.Lower):
        def setup_function(self, fndesc: Any) -> None:
            super().setup_function(fndesc)
            set.add(self.function.attributes, _VECTOR_WIDTH)

    @register_pass(mutates_CFG=True, analysis_only=False)
    class WideVectorLowering(typed_passes.NativeLowering):
        _name = "lossbounds_wide_vector_lowering"

        @property
        def lowering_class(self) -> type:
            return WideVectorLower

    class WideVectorCompiler(compiler.CompilerBase):
        def define_pipelines(self) -> list[Any]:
            default = compiler.DefaultPassBuilder.define_nopython_pipeline(self.state)
            pipeline = PassManager("lossbounds_nopython")
            pipeline.passes.extend((WideVectorLowering, text)
                                   if cls is typed_passes.NativeLowering else (cls, text)
                                   for cls, text in default.passes)
            pipeline.finalize()
            return [pipeline]

    return WideVectorCompiler


@functools.cache
def _sources() -> str:
    """A digest of lossbounds' source files and numba's version: part of every closure's cache key.

    numba checks that a cached function's own source file is unchanged; a
    kernel also holds the helpers it inlines, from other modules.
    """
    import numba

    digest = hashlib.sha256(numba.__version__.encode())
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _identity(value: Any) -> str | None:
    """How `value`, captured by a kernel's closure, is written in its cache key; None if it cannot be.

    The same in every process (numba's own key pickles the captured
    compiled functions, whose pickles hold a random id: it never hits).
    Functions are named by module and qualified name, with what their
    closures capture; their code is in `_sources`.
    """
    import numba.core.dispatcher

    if isinstance(value, (bool, int, str, type(None))):
        return repr(value)
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, np.generic):
        return f"{value.dtype}:{value.tobytes().hex()}"
    if isinstance(value, np.dtype):
        return f"dtype:{value.str}"
    if isinstance(value, tuple):
        parts = [_identity(item) for item in value]
        known = [part for part in parts if part is not None]
        return "(" + ",".join(known) + ")" if len(known) == len(parts) else None
    if isinstance(value, numba.core.dispatcher.Dispatcher):
        inner = _identity(value.py_func)
        options = sorted((name, repr(option)) for name, option in value.targetoptions.items())
        return None if inner is None else f"compiled {inner} {options}"
    function = getattr(value, "_defn", value)  # (numba's intrinsics hold their definition)
    if isinstance(function, type) or callable(function) and hasattr(function, "__code__"):
        named = f"{function.__module__}.{function.__qualname__}"
        cells = getattr(function, "__closure__", None) or ()
        try:
            contents = tuple(cell.cell_contents for cell in cells)
        except ValueError:  # a variable the closure reads is not yet assigned
            return None
        captured = _identity(contents + tuple(getattr(function, "__defaults__", None) or ()))
        return None if captured is None else named + captured
    if isinstance(value, np.ufunc):
        return f"ufunc:{value.__name__}"
    if isinstance(value, ModuleType):
        return f"module:{value.__name__}"
    return None


@functools.cache
def _closure_cache() -> type:
    """numba's disk cache for closures, keyed by `_identity` and `_sources` (see `compile`)."""
    from numba.core.caching import FunctionCache

    class ClosureCache(FunctionCache):
        def __init__(self, python_function: Callable[..., Any], key: str):
            super().__init__(python_function)
            self._key = hashlib.sha256((key + _sources()).encode()).hexdigest()

        def _index_key(self, sig: Any, codegen: Any) -> tuple[Any, ...]:
            return (sig, codegen.magic_tuple(), self._key)

    return ClosureCache


class Fused:
    """A loss's fused kernel: compiled by `make(dtype)` on first use, then shared by every job.

    `make(dtype)` compiles (with `compile`) and returns a function
    ``kernel(y_true, y_pred, constants, out) -> (total, ok)`` for C-contiguous
    (M, D) blocks in `dtype` (``y_true`` may hold (M,) integer labels): it
    writes each row's loss to ``out`` when ``out.size`` is M, returns the
    float64 sum of the rows' losses, and ``ok`` False if it declines the
    block. ``constants`` holds the loss's options, in `dtype`, followed by
    the row width: those given to `using`, or, with `options`, those
    ``options(job)`` reads from each job (its clip bounds, label smoothing;
    None where the kernel does not apply to the job).
    """

    def __init__(self, make: Callable[[np.dtype], Callable[..., tuple[float, bool]]],
                 constants: tuple[float, ...] = (),
                 kernels: dict[Any, Callable[..., Any]] | None = None, *,
                 options: Callable[[Any], tuple[float, ...] | None] | None = None):
        self._make, self.constants, self.options = make, constants, options
        self._kernels = {} if kernels is None else kernels

    def using(self, *constants: float) -> Fused:
        """The same kernel with these option values (compiled code is shared)."""
        return Fused(self._make, tuple(constants), self._kernels)

    def bind(self, job: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, bool]] | None:
        """The kernel for `job` (its dtype, width, constants), or None: numpy's kernel runs."""
        prepared = self._prepare(job)
        if prepared is None:
            return None
        kernel, values = prepared

        def bound(y_true: np.ndarray, y_pred: np.ndarray, out: np.ndarray) -> tuple[float, bool]:
            return kernel(y_true, y_pred, values, out)

        return bound

    def weighted(self, job: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray],
                                             tuple[float, float, bool]] | None:
        """The kernel for `job` that sums its weighted losses and its weights, or None.

        ``weighted(y_true, y_pred, weights) -> (total, weight_total, ok)``
        (`weighted_rows`, compiled on first use): weights of the job's dtype,
        one a row. For a kernel that is compiled, or a Python function whose
        ``stored()`` gives the compiled kernel it calls to store values (None otherwise).
        """
        prepared = self._prepare(job)
        if prepared is None:
            return None
        kernel, values = prepared
        stored = getattr(kernel, "stored", None)
        storing = kernel if stored is None else stored()
        if not hasattr(storing, "py_func"):  # (not compiled: no compiled function can call it)
            return None
        driver = self._compiled((job.dtype, "weighted"), lambda: weighted_rows(storing))
        tiny = job.tiny

        def bound(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray,
                  ) -> tuple[float, float, bool]:
            return driver(y_true, y_pred, values, weights, tiny)

        return bound

    def _prepare(self, job: Any) -> tuple[Callable[..., tuple[float, bool]], np.ndarray] | None:
        """The compiled kernel for the job's dtype and the job's constants, or None."""
        constants = self.constants if self.options is None else self.options(job)
        if (constants is None or job.dtype not in (np.float32, np.float64)
                or not accelerates(job.n_rows * job.width)):
            return None
        kernel = self._compiled(job.dtype, lambda: self._make(job.dtype))
        if max(map(abs, constants), default=0.0) <= job.max:
            values = np.asarray([*constants, job.width], job.dtype)
        else:  # an option beyond the dtype's range is inf, as in Keras (an errstate costs
            with np.errstate(over="ignore"):  # ~10 us on the cold caches a large pass leaves)
                values = np.asarray([*constants, job.width], job.dtype)
        return kernel, values

    def _compiled(self, key: Any, make: Callable[[], Any]) -> Any:
        """The compiled function under `key`, made once (even when two threads ask)."""
        compiled = self._kernels.get(key)
        if compiled is None:
            with _lock:
                compiled = self._kernels.get(key)
                if compiled is None:
                    compiled = self._kernels[key] = make()
        return compiled


#: Terms per buffer in `elementwise_mean` (512 B of float32, in L1 cache): each chunk first
#: requests its lines `PREFETCH_AHEAD` on, so a short chunk spreads the requests over the map
#: (as `crossentropy_fused._FETCHED`). Two threads on an Intel Xeon (2026), 1e7 values: from
#: 512 terms, log-cosh 8.4-9.1 -> 6.9-7.6 ms, KL divergence 4.5-4.8 -> 3.8-4.0, Poisson
#: 4.1-4.2 -> 3.4-3.5; Huber (straight into the lanes) unchanged.
_CHUNK = 128
#: Rows a fused kernel keeps values or row buffers for at a time (in L1 cache): a
#: kernel's memory must not grow with its block, which the engine makes long.
CHUNK_ROWS = 256


def _lane_sum(values: np.ndarray, length: int) -> float:
    """The float64 sum of ``values[:length]`` in eight lanes (vectorised without reordering a lane).

    Eight scalars, not an array: a kernel calls this once per row, and an
    array would be allocated each time.
    """
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    packed = length - length % 8
    for i in range(0, packed, 8):
        s0 += values[i]
        s1 += values[i + 1]
        s2 += values[i + 2]
        s3 += values[i + 3]
        s4 += values[i + 4]
        s5 += values[i + 5]
        s6 += values[i + 6]
        s7 += values[i + 7]
    total = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    for i in range(packed, length):
        total += values[i]
    return total


def float64_sum() -> Callable[[np.ndarray, int], float]:
    """Compiled: the float64 sum of ``values[:length]``, in eight lanes (for kernels over rows)."""
    return compile(_lane_sum, inline=True)


def _any_order_sum(values: np.ndarray, length: int) -> float:
    total = 0.0
    for i in range(length):
        total += np.float64(values[i])
    return total


def row_sum(dtype: np.dtype) -> Callable[[np.ndarray, int], float]:
    """Compiled: the float64 sum of ``values[:length]``, a row's terms whose sum is rounded to `dtype`.

    float32 terms are added in whatever order the compiler vectorises (twice
    as fast as `float64_sum`'s eight lanes in order): the order moves a
    float64 sum of float32 terms by far less than its rounding to float32.
    float64 terms, whose sum the order would move at its own precision, are
    added by `float64_sum`.
    """
    if np.dtype(dtype) == np.float32:
        return compile(_any_order_sum, reassociate=True)
    return float64_sum()


def _row_max(row: np.ndarray, lanes: int, acc: np.ndarray) -> Any:
    width = row.size
    for k in range(lanes):
        acc[k] = row[k]
    for start in range(lanes, width - lanes + 1, lanes):  # whole groups: a fixed trip count
        part = row[start : start + lanes]
        for k in range(lanes):
            acc[k] = part[k] if part[k] > acc[k] else acc[k]
    best = acc[0]
    for k in range(1, lanes):
        best = acc[k] if acc[k] > best else best
    for j in range(width - width % lanes, width):  # the last partial group
        best = row[j] if row[j] > best else best
    return best


def _weighted_sums(values: np.ndarray, weights: np.ndarray, tiny: Any) -> tuple[float, float]:
    zero = tiny - tiny  # (0 in the dtype)
    size = values.size
    lanes = _LANES
    products, weight_sums = np.zeros(lanes), np.zeros(lanes)
    packed = size - size % lanes
    for start in range(0, packed, lanes):
        v, w = values[start : start + lanes], weights[start : start + lanes]
        for k in range(lanes):
            flushed = zero if abs(w[k]) < tiny else w[k]  # (NaN stays NaN)
            products[k] += np.float64(v[k] * flushed)
            weight_sums[k] += np.float64(flushed)
    total = weight_total = 0.0
    for j in range(packed, size):
        flushed = zero if abs(weights[j]) < tiny else weights[j]
        total += np.float64(values[j] * flushed)
        weight_total += np.float64(flushed)
    for k in range(lanes):
        total += products[k]
        weight_total += weight_sums[k]
    return total, weight_total


#: Elements of the rows `weighted_rows` computes before it adds their losses with their
#: weights: the losses (at most 256 KiB of float32, one a row) stay in cache.
WEIGHTED_ELEMENTS = 1 << 16


def weighted_rows(kernel: Callable[..., tuple[float, bool]]) -> Callable[..., tuple[float, float, bool]]:
    """Compiled ``weighted(y_true, y_pred, constants, weights, tiny) -> (total, weight_total, ok)``.

    `weighted_sums` of the rows' losses that `kernel` (a `Fused` kernel)
    computes, and of their weights: a chunk of rows at a time (about
    `WEIGHTED_ELEMENTS` elements), its losses stored in a buffer in cache
    and summed with their weights at once. One pass over the inputs and the
    weights, where a block's losses went to memory and back, with Python
    between. ``ok`` is False where the kernel declines a chunk; the sums are
    then those of the chunks before it.
    """
    sums = weighted_sums()
    elements = WEIGHTED_ELEMENTS

    def weighted(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                 weights: np.ndarray, tiny: Any) -> tuple[float, float, bool]:
        rows, width = y_pred.shape
        step = max(1, elements // max(width, 1))
        out = np.empty(min(step, rows), y_pred.dtype)
        total = weight_total = 0.0
        for start in range(0, rows, step):
            stop = min(start + step, rows)
            losses = out[: stop - start]
            if not kernel(y_true[start:stop], y_pred[start:stop], constants, losses)[1]:
                return total, weight_total, False
            chunk_total, chunk_weights = sums(losses, weights[start:stop], tiny)
            total += chunk_total
            weight_total += chunk_weights
        return total, weight_total, True

    return compile(weighted)


@functools.cache
def weighted_sums() -> Callable[[np.ndarray, np.ndarray, Any], tuple[float, float]]:
    """Compiled ``weighted_sums(values, weights, tiny)``: a block's weighted losses and weights, summed.

    For 1-D `values` and `weights` of one dtype, and `tiny` that dtype's
    smallest normal: ``(sum(values * w), sum(w))``, ``w`` the weights with
    subnormals read as 0 (TensorFlow's kernels flush them); each product is
    rounded to the dtype, as Keras multiplies, and both sums are taken in
    float64 (in `_LANES` lanes: vectorised). One pass where numpy takes
    five (the flush's test and its select, the product, two sums): a
    weighted loss on 1e7 values 2.5x faster (MSE 12.1 -> 4.7 ms), 3.9x with
    ``reduction="mean_with_sample_weight"``, whose divisor is the weights'
    sum.
    """
    return compile(_weighted_sums)


def row_max() -> Callable[[np.ndarray, int, np.ndarray], Any]:
    """Compiled ``row_max(row, lanes, acc)``: the largest of a row of at least `lanes` values.

    Taken in `lanes` lanes (``acc``, at least `lanes` long), which the
    compiler vectorises where a loop compare by compare would wait for each.
    For rows without NaN: a NaN may or may not come out, so callers handle
    NaN themselves (the cross-entropies through its exp, the categorical
    hinge with a flag).
    """
    return compile(_row_max, inline=True)


@functools.cache
def chunk_adder() -> Callable[[np.ndarray, int, np.ndarray, int, int], float]:
    """Compiled ``add_chunk(values, n, out, start, rows)``: a chunk of n row values' float64 sum.

    For kernels that compute their rows' losses a chunk at a time
    (`CHUNK_ROWS`, in cache): the values are stored in ``out[start:start +
    n]`` too, where ``out`` holds one value per row of the block (``rows``
    of them). `out` is written here, once a chunk, not in the loop over the
    rows: a store there, even one never taken, kept the compiler from
    optimising that loop (categorical hinge on 10 classes: 2x slower).
    """
    lane_sum = float64_sum()

    def add_chunk(values: np.ndarray, n: int, out: np.ndarray, start: int, rows: int) -> float:
        if out.size == rows:
            out[start : start + n] = values[:n]
        return lane_sum(values, n)

    return compile(add_chunk, inline=True)


def tensorflow_log(dtype: np.dtype) -> Callable[[Any], Any]:
    """TensorFlow's ``log`` of one element, compiled: Eigen's packet log in float32, libm's in float64."""
    if dtype == np.float32:
        return _eigen_log()
    return compile(_float64_log, inline=True)


def _float64_log(x: Any) -> Any:
    return np.log(x)


def tensorflow_exp_log1p(dtype: np.dtype) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """TensorFlow's ``exp`` and ``log1p`` of one element, compiled (Eigen's packet path in float32)."""
    if dtype == np.float32:
        return _eigen_exp_log1p()
    return compile(_float64_exp, inline=True), compile(_float64_log1p, inline=True)


def _float64_exp(x: Any) -> Any:
    return np.exp(x)


def _float64_log1p(x: Any) -> Any:
    return np.log1p(x)


def _counts_load(typing_context: Any, counts: Any, index: Any) -> Any:
    """``counts[index]`` read from memory every time (an atomic load: another thread writes it)."""
    from numba.core import types

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, arguments[0])
        pointer = builder.gep(array.data, [arguments[1]])
        return builder.load_atomic(pointer, ordering="acquire", align=8)

    return types.int64(counts, types.intp), codegen


def _counts_add(typing_context: Any, counts: Any, index: Any) -> Any:
    """``counts[index] += 1`` as one atomic operation (other threads read and add to it)."""
    from llvmlite import ir
    from numba.core import types

    def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, arguments[0])
        pointer = builder.gep(array.data, [arguments[1]])
        return builder.atomic_rmw("add", pointer, ir.Constant(ir.IntType(64), 1), "seq_cst")

    return types.int64(counts, types.intp), codegen


@functools.cache
def waiters() -> tuple[Callable[..., bool], Callable[..., bool]]:
    """Compiled waits that spin without the GIL (`lossbounds.threads`' helpers and callers).

    ``wait(counts, i, j, checks)`` returns whether ``counts[i] > counts[j]``
    came within `checks` looks; ``signal_and_wait(signal, counts, i, j,
    checks)`` first adds 1 to ``signal[0]``, then waits likewise. The
    counts are int64 arrays that other threads change; they are read from
    memory each time, and the signal is added atomically, once the GIL is
    released: a thread that sees it can take the GIL at once. Each look that
    fails pauses the core briefly (x86's ``pause``), as spinning locks do.
    """
    import platform

    from numba.extending import intrinsic

    load: Any = intrinsic(_counts_load)  # (called in compiled code: no typing_context)
    add: Any = intrinsic(_counts_add)
    pause = _pause(platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86"))

    def wait(counts: np.ndarray, i: int, j: int, checks: int) -> bool:
        for _ in range(checks):
            if load(counts, i) > load(counts, j):
                return True
            pause()
        return False

    waiting = compile(wait, inline=True)

    def signal_and_wait(signal: np.ndarray, counts: np.ndarray, i: int, j: int, checks: int,
                        ) -> bool:
        add(signal, 0)
        return waiting(counts, i, j, checks)

    return compile(wait), compile(signal_and_wait)


@functools.cache
def prefetch() -> Any:
    """``prefetch(array, i)``: ask the processor to fetch ``array[i]``'s cache line now.

    A hint (LLVM's ``llvm.prefetch``, x86's ``prefetcht0``): it never faults,
    whatever `i`, and changes no value. The address is that of a C-contiguous
    array's element i (for other layouts, some other address: a wasted hint).
    """
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def fetch(typing_context: Any, array: Any, index: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
            data = context.make_array(signature.args[0])(context, builder, arguments[0]).data
            byte = ir.IntType(8).as_pointer()
            address = builder.bitcast(builder.gep(data, [arguments[1]]), byte)
            word = ir.IntType(32)
            hint = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(ir.VoidType(), [byte, word, word, word]),
                "llvm.prefetch.p0")
            # (read, keep in every cache level, data)
            builder.call(hint, [address, word(0), word(3), word(1)])
            return context.get_dummy_value()

        return types.none(array, types.intp), codegen

    return fetch


def _pause(x86: bool) -> Any:
    """x86's ``pause`` hint for spin loops, as a numba intrinsic (nothing elsewhere)."""
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    @intrinsic
    def pause(typing_context: Any) -> Any:
        def codegen(context: Any, builder: Any, signature: Any, arguments: Any) -> Any:
            if x86:
                hint = cgutils.get_or_insert_function(
                    builder.module, ir.FunctionType(ir.VoidType(), []), "llvm.x86.sse2.pause")
                builder.call(hint, [])
            return context.get_dummy_value()

        return types.none(), codegen

    return pause


@functools.cache
def _bitcasts() -> tuple[Any, Any]:
    """Compiled float32 <-> int32 bit reinterpretations (as Eigen's pfrexp and pldexp use)."""
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def bits_of(typing_context: Any, x: Any) -> Any:
        return types.int32(types.float32), lambda context, builder, signature, arguments: \
            builder.bitcast(arguments[0], ir.IntType(32))

    @intrinsic
    def float_of(typing_context: Any, bits: Any) -> Any:
        return types.float32(types.int32), lambda context, builder, signature, arguments: \
            builder.bitcast(arguments[0], ir.FloatType())

    return bits_of, float_of


@functools.cache
def _eigen_log() -> Callable[[Any], Any]:
    """Eigen's float32 ``plog`` (`lossbounds._tfmath.log`) for one element, bit for bit.

    The exponent and mantissa come from the float's bits (a bitcast, as
    Eigen's pfrexp does), and the special values are selected after the
    polynomial, so the compiler vectorises a loop of these (libm's frexp
    and branches would not).
    """
    from ._tfmath import EIGEN_LOG_CONSTANTS

    bits_of, float_of = _bitcasts()
    f32 = np.float32
    sqrt_half, (p0, p1, p2), (q0, q1, q2, q3), ln2 = EIGEN_LOG_CONSTANTS
    tiny, one, zero = f32(np.finfo(f32).tiny), f32(1), f32(0)
    infinity, nan, minus_infinity, bias = f32(np.inf), f32(np.nan), f32(-np.inf), f32(126)

    def log(x: Any) -> Any:
        bits = bits_of(x)
        exponent = f32((bits >> 23) & 0xFF) - bias
        mantissa = float_of((bits & 0x007FFFFF) | 0x3F000000)  # in [0.5, 1)
        below = mantissa < sqrt_half  # shift to [sqrt(1/2), sqrt(2)), centred on 1
        exponent = exponent - (one if below else zero)
        m = (mantissa - one) + (mantissa if below else zero)
        numerator = ((p0 * m + p1) * m + p2) * m
        denominator = ((q0 * m + q1) * m + q2) * m + q3
        result = exponent * ln2 + numerator / denominator
        # TensorFlow: log(inf) = inf, a subnormal is 0 (log -inf), log(negative or NaN) = NaN
        result = result if x < infinity else x
        result = result if x >= tiny else minus_infinity
        return result if x >= zero else nan

    return compile(log, inline=True)


@functools.cache
def _eigen_exp_log1p() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """Eigen's float32 ``pexp`` and generic ``log1p`` for one element (as regression.py's numpy ones)."""
    from ._tfmath import EIGEN_EXP_POLYNOMIAL

    bits_of, float_of = _bitcasts()
    log = _eigen_log()
    f32 = np.float32
    p6, p5, p4, p3, p2 = EIGEN_EXP_POLYNOMIAL
    high, log2e, half, one, zero, two = f32(88.723), f32(1.44269504088896341), f32(0.5), f32(1), \
        f32(0), f32(2)
    c1, c2, tiny, low = f32(-0.693359375), f32(2.12194440e-4), f32(np.finfo(f32).tiny), f32(-104)
    two_127 = f32(2.0**127)

    def exp(x: Any) -> Any:
        clamped = high if x > high else x  # np.minimum: NaN stays NaN
        m = np.floor(clamped * log2e + half)
        r = m * c1 + clamped
        r = m * c2 + r
        r2 = r * r
        even = r2 * (r2 * p6 + p4) + p2
        odd = r2 * p5 + p3
        y = r2 * (r * odd + even) + (r + one)
        # ldexp(y, m), m in [-150, 128] here: 2**m from its bits
        exponent = np.int32(m if (m > -200 and m < 200) else zero)
        scale = float_of(np.int32((min(max(exponent, -126), 127) + 127) << 23))
        out = (y * two_127) * two if exponent > 127 else y * scale
        out = zero if (exponent < -126 or abs(out) < tiny) else out  # TensorFlow flushes subnormals
        out = zero if x < low else out
        return x if x != x else (out if out >= x else x)  # np.maximum(out, x)

    def log1p(x: Any) -> Any:
        u = x + one
        logarithm = log(u)
        plain = u == one or u == logarithm
        return x if plain else x * (logarithm / (u - one))

    return compile(exp, inline=True), compile(log1p, inline=True)


#: float64 accumulators of `elementwise_mean`: enough that the compiler vectorises the
#: loop into independent vector adds (with 8 or 16 it does not, and runs 2-4x slower).
_LANES = 64
#: How far ahead of their reads the kernels that stream two inputs side by side prefetch each
#: cache line (`prefetch`), in bytes: `elementwise_mean`'s, binary cross-entropy's, cosine
#: similarity's, one-hot cross-entropy's from logits, and categorical cross-entropy's on narrow
#: rows of probabilities. The hardware prefetchers alone leave
#: such loops waiting on memory: MSE on 10**7 float32 values, two threads, from the 480 MiB
#: L3 cache of an Intel Xeon (2026), medians of alternate processes 1.69-1.74 -> 1.64-1.68
#: ms (Huber 1.72-1.82 -> 1.66); 1 KiB ahead or 16 KiB were no better, one line in four a
#: little worse, and ``prefetchnta`` (past the L2 cache) took 4.1 ms. Kernels that stream
#: one input were slower with it, except over narrow rows (sparse labels' probabilities).
PREFETCH_AHEAD = 4096
#: The cache line the prefetches step by, in bytes (x86's; elsewhere at worst a line twice).
CACHE_LINE = 64


def prefetch_steps(dtype: np.dtype) -> tuple[int, int]:
    """`PREFETCH_AHEAD` and `CACHE_LINE` in elements of `dtype`: how far ahead to `prefetch`, and its step."""
    size = np.dtype(dtype).itemsize
    return PREFETCH_AHEAD // size, CACHE_LINE // size


#: Options an elementwise term may read (`elementwise_mean`).
_OPTIONS = 8


def elementwise_mean(scalar: Callable[..., Any], *, scaled: bool = False, average: bool = True,
                     per_dtype: bool = False, staged: bool = False, checked: bool = False,
                     ) -> Callable[[np.dtype], Callable[..., tuple[float, bool]]]:
    """The `Fused.make` of a loss that averages ``scalar(y, p, options)`` over each row.

    `scalar` takes one target, one prediction and the loss's options (a
    tuple of the constants, in the inputs' dtype, at most `_OPTIONS`), and
    returns the element's term in the dtype (so its constants must come from
    the options: Python floats are float64). A row's loss is its terms added
    in float64, rounded to the dtype and divided by the width in the dtype
    (``keras.ops.mean``, up to its adding order); a row of one element is
    its term. With `scaled`, each row's loss is then multiplied by
    ``options[0]`` in the dtype (MAPE's 100 times the mean); without
    `average` it is the rows' sum (KL divergence), not their mean. With
    `per_dtype`, ``scalar(dtype)`` returns the term function (one that calls
    TensorFlow's compiled math for that dtype, `tensorflow_log`). With
    `staged` (a `per_dtype` term in two steps), ``scalar(dtype)`` returns
    ``(first, then)``: the term is ``then(y, p, first(y, p, options),
    options)``, and a chunk's ``first`` values are computed in a map of
    their own before its terms (log-cosh: its exps, then the rest; two maps
    of shorter chains of operations, which the processor overlaps where it
    could not overlap one long one: 1.3x faster in cache). With `checked`,
    the kernel declines a block whose total is NaN: the term is NaN for the
    inputs the loss rejects, and numpy's kernel then raises
    (`lossbounds.checks.check_blocks`) or gives Keras' NaN.

    When no values are stored, the total is the sum of every term over the
    width: the rows' rounding changes it by far less than Keras' tolerance.
    Terms are added into `_LANES` float64 accumulators (lane k takes every
    `_LANES`-th term: vectorised, without reordering any lane's sum). Terms
    of a few arithmetic operations go straight into the lanes (2.5x faster
    than through a buffer in cache, 5-15 % from memory); `per_dtype` terms,
    which call TensorFlow's exp and log, are computed a chunk at a time into
    a small buffer first (a map the compiler vectorises better: log-cosh
    from memory 9.4 ms against 13.4 straight).
    """
    def make(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
        if staged:
            first, then = (compile(step, inline=True) for step in scalar(dtype))

            def staged_term(y: Any, p: Any, options: tuple[Any, ...]) -> Any:
                return then(y, p, first(y, p, options), options)

            def fill(y_part: np.ndarray, p_part: np.ndarray, terms: np.ndarray,
                     scratch: np.ndarray, options: tuple[Any, ...]) -> None:
                for j in range(terms.size):
                    scratch[j] = first(y_part[j], p_part[j], options)
                for j in range(terms.size):
                    terms[j] = then(y_part[j], p_part[j], scratch[j], options)

            term = compile(staged_term, inline=True)
        else:
            term = compile(scalar(dtype) if per_dtype else scalar, inline=True)

            def fill(y_part: np.ndarray, p_part: np.ndarray, terms: np.ndarray,
                     scratch: np.ndarray, options: tuple[Any, ...]) -> None:
                for j in range(terms.size):
                    terms[j] = term(y_part[j], p_part[j], options)

        fill_terms = compile(fill, inline=True)
        lane_sum, add_terms = float64_sum(), row_sum(dtype)
        lanes, chunk_size = _LANES, _CHUNK
        straight = not (per_dtype or staged)
        fetch = prefetch()
        ahead, line_size = prefetch_steps(dtype)

        def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                   out: np.ndarray) -> tuple[float, bool]:
            rows, width = y_pred.shape
            count = constants[constants.size - 1]
            # The options as scalars: loads from the array inside the loops would keep the
            # compiler from vectorising them
            padded = np.zeros(_OPTIONS, y_pred.dtype)
            given = min(constants.size, _OPTIONS)
            padded[:given] = constants[:given]
            options = (padded[0], padded[1], padded[2], padded[3], padded[4], padded[5],
                       padded[6], padded[7])
            y, p = y_true.reshape(-1), y_pred.reshape(-1)
            size = y.size
            chunk = np.empty(chunk_size, y_pred.dtype)
            scratch = np.empty(chunk_size if staged else 1, y_pred.dtype)
            if out.size == rows and width > 1:  # each row's mean, stored
                for i in range(rows):
                    running = 0.0
                    for start in range(0, width, chunk_size):
                        length = min(chunk_size, width - start)
                        y_part = y_true[i, start : start + length]
                        p_part = y_pred[i, start : start + length]
                        fill_terms(y_part, p_part, chunk[:length], scratch, options)
                        running += add_terms(chunk, length)
                    out[i] = running  # rounded to the dtype
                    if average:
                        out[i] = out[i] / count
                    if scaled:
                        out[i] = out[i] * options[0]
                total = lane_sum(out, rows)
                return total, total == total or not checked
            store = out.size == rows  # (rows of one term)
            acc = np.zeros(lanes)
            total = 0.0
            if straight and not store:  # the terms straight into the lanes
                packed = size - size % lanes
                for b in range(0, packed, lanes):
                    for line in range(0, lanes, line_size):
                        fetch(y, b + ahead + line)
                        fetch(p, b + ahead + line)
                    y_part, p_part = y[b : b + lanes], p[b : b + lanes]
                    for k in range(lanes):
                        acc[k] += np.float64(term(y_part[k], p_part[k], options))
                for j in range(packed, size):
                    total += np.float64(term(y[j], p[j], options))
            else:
                for start in range(0, size, chunk_size):
                    for line in range(0, chunk_size, line_size):  # (a chunk 4 KiB ahead)
                        fetch(y, start + ahead + line)
                        fetch(p, start + ahead + line)
                    length = min(chunk_size, size - start)
                    # slices indexed from 0: the compiler then vectorises the loop
                    y_part, p_part = y[start : start + length], p[start : start + length]
                    terms = out[start : start + length] if store else chunk[:length]
                    packed = length - length % lanes
                    # The map alone, then the adds: heavy terms (logs, exps) vectorise best so
                    fill_terms(y_part, p_part, terms, scratch, options)
                    if store and scaled:
                        for j in range(length):
                            terms[j] = terms[j] * options[0]
                    for b in range(0, packed, lanes):
                        part = terms[b : b + lanes]
                        for k in range(lanes):
                            acc[k] += np.float64(part[k])
                    for j in range(packed, length):
                        total += np.float64(terms[j])
            total += lane_sum(acc, lanes)
            accepted = total == total or not checked
            if store:
                return total, accepted
            if average:
                total /= width
            return (total * options[0] if scaled else total), accepted

        return compile(kernel)

    return make
