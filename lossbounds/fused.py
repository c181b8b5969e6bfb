r"""The optional fused accelerator: numba kernels that read each input once.

A reduced loss computed with numpy makes several passes over each block
(subtract, square, sum, ...). A *fused* kernel computes a block's per-sample
losses and their sum in one compiled loop, with no temporaries. Such kernels
exist when numba is installed (``pip install lossbounds[fast]``) and are then
used automatically; without numba nothing changes.

Each loss that has one declares it next to its numpy kernel (a `Fused` in the
loss's family module); `lossbounds.engine` chooses between the two for every
block, here and nowhere else. A fused kernel gives the numpy kernel's values
to Keras' tolerance: its loops follow the same formulas in the same dtype,
adding in float64 where numpy adds pairwise in the dtype. A kernel may also
decline a block (an input outside the range its shortcuts cover); the engine
then runs the numpy kernel on that block.

Switch it off for one process with the environment variable
``LOSSBOUNDS_ACCELERATOR=off``, or in Python::

    import lossbounds
    lossbounds.set_accelerator(False)    # numpy only, from now on
    with lossbounds.accelerator(False):  # numpy only, in this block
        ...

This module imports numba only when a kernel is first compiled: ``import
lossbounds`` stays as fast as without it.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

__all__ = ["Fused", "accelerator", "accelerator_enabled", "available", "compile", "elementwise_mean",
           "set_accelerator"]

#: Values of LOSSBOUNDS_ACCELERATOR that switch the accelerator off.
_OFF = frozenset({"0", "off", "false", "no", "numpy"})

_state: dict[str, bool | None] = {"enabled": None}
_lock = threading.Lock()


def available() -> bool:
    """Whether numba is installed (the accelerator's one requirement)."""
    return importlib.util.find_spec("numba") is not None


def accelerator_enabled() -> bool:
    """Whether `loss` and the per-sample functions use the fused kernels now.

    True when numba is installed, unless switched off by `set_accelerator`
    or the environment variable ``LOSSBOUNDS_ACCELERATOR=off``.

    Examples
    --------
    >>> import lossbounds
    >>> with lossbounds.accelerator(False):
    ...     lossbounds.accelerator_enabled()
    False
    """
    chosen = _state["enabled"]
    if chosen is None:
        chosen = os.environ.get("LOSSBOUNDS_ACCELERATOR", "").strip().lower() not in _OFF
    return bool(chosen) and available()


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


def compile(python_function: Callable[..., Any]) -> Any:  # noqa: A001 - numba's word
    """`python_function` compiled by numba: no Python objects, the GIL released, cached on disk.

    ``error_model="numpy"`` makes 1/0 give inf as numpy does (numba's
    default raises), and no ``fastmath``: the compiler may not reorder,
    contract (FMA) or assume finite values, so each operation rounds as
    numpy's does.
    """
    import numba

    return numba.njit(nogil=True, cache=True, error_model="numpy")(python_function)


class Fused:
    """A loss's fused kernel: compiled by `make(dtype)` on first use, then shared by every job.

    `make(dtype)` compiles (with `compile`) and returns a function
    ``kernel(y_true, y_pred, constants, out) -> (total, ok)`` for C-contiguous
    (M, D) blocks in `dtype` (``y_true`` may hold (M,) integer labels): it
    writes each row's loss to ``out`` when ``out.size`` is M, returns the
    float64 sum of the rows' losses, and ``ok`` False if it declines the
    block. ``constants`` holds the loss's options, in `dtype`, as given to
    `using`, followed by the row width.
    """

    def __init__(self, make: Callable[[np.dtype], Callable[..., tuple[float, bool]]],
                 constants: tuple[float, ...] = (),
                 kernels: dict[np.dtype, Callable[..., tuple[float, bool]]] | None = None):
        self._make, self.constants = make, constants
        self._kernels = {} if kernels is None else kernels

    def using(self, *constants: float) -> Fused:
        """The same kernel with these option values (compiled code is shared)."""
        return Fused(self._make, tuple(constants), self._kernels)

    def bind(self, job: Any) -> Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[float, bool]] | None:
        """The kernel for `job` (its dtype, width, these constants), or None: numpy's kernel runs."""
        if job.dtype not in (np.float32, np.float64) or not accelerator_enabled():
            return None
        kernel = self._kernels.get(job.dtype)
        if kernel is None:
            with _lock:  # compile once, even when two threads ask
                kernel = self._kernels.get(job.dtype)
                if kernel is None:
                    kernel = self._kernels[job.dtype] = self._make(job.dtype)
        with np.errstate(over="ignore"):  # an option beyond the dtype's range is inf, as in Keras
            values = np.asarray([*self.constants, job.width], job.dtype)

        def bound(y_true: np.ndarray, y_pred: np.ndarray, out: np.ndarray) -> tuple[float, bool]:
            return kernel(y_true, y_pred, values, out)

        return bound


def elementwise_mean(scalar: Callable[..., Any], *, scaled: bool = False,
                     ) -> Callable[[np.dtype], Callable[..., tuple[float, bool]]]:
    """The `Fused.make` of a loss that averages ``scalar(y, p, constants)`` over each row.

    `scalar` takes one target, one prediction and the constants array, and
    returns the element's term in the inputs' dtype (so its constants must
    come from the array: Python floats are float64). A row's loss is its
    terms added in float64, rounded to the dtype and divided by the width in
    the dtype (``keras.ops.mean``, up to its adding order); a row of one
    element is its term. With `scaled`, each row's loss is then multiplied
    by ``constants[0]`` in the dtype (MAPE's 100 times the mean).

    When no values are stored, the total is the sum of every term over the
    width: the rows' rounding changes it by far less than Keras' tolerance,
    and the loop then runs over the flat block in eight float64 lanes, which
    the compiler vectorises without reordering any lane's sums.
    """
    def make(dtype: np.dtype) -> Callable[..., tuple[float, bool]]:
        term = compile(scalar)

        def kernel(y_true: np.ndarray, y_pred: np.ndarray, constants: np.ndarray,
                   out: np.ndarray) -> tuple[float, bool]:
            rows, width = y_pred.shape
            count = constants[constants.size - 1]
            if out.size != rows:  # the sum alone
                y, p = y_true.reshape(-1), y_pred.reshape(-1)
                size = y.size
                packed = size - size % 8
                lanes = np.zeros(8)
                for i in range(0, packed, 8):
                    for k in range(8):
                        lanes[k] += term(y[i + k], p[i + k], constants)
                total = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) \
                    + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
                for i in range(packed, size):
                    total += term(y[i], p[i], constants)
                total /= width
                return (total * constants[0] if scaled else total), True
            total = 0.0
            if width == 1:
                for i in range(rows):
                    out[i] = term(y_true[i, 0], y_pred[i, 0], constants)
                    if scaled:
                        out[i] = out[i] * constants[0]
                    total += out[i]
                return total, True
            for i in range(rows):
                running = 0.0
                for j in range(width):
                    running += term(y_true[i, j], y_pred[i, j], constants)
                out[i] = running  # rounded to the dtype
                out[i] = out[i] / count
                if scaled:
                    out[i] = out[i] * constants[0]
                total += out[i]
            return total, True

        return compile(kernel)

    return make
