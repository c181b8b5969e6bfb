"""The exactness contract: lossbounds against a Keras value (needs only numpy)."""

from __future__ import annotations

import numpy as np


def assert_close(actual, expected, *, check_dtype=True, context="", rtol=1e-6, atol=0.0):
    """``|actual - expected| <= rtol * max(1, |expected|) + atol``, NaN and inf matching.

    The contract is rtol = 1e-6, atol = 0. Two losses are noisier in Keras
    itself: log_cosh (atol = 2e-7, its cancellation near zero) and ctc
    (rtol = 1e-5).

    A Python float from lossbounds stands for a 0-d result; its value must be
    the expected float exactly representable in the expected dtype.
    """
    expected = np.asarray(expected)
    if isinstance(actual, float):
        assert expected.shape == (), f"{context}: got a float, Keras gave shape {expected.shape}"
        actual_array = np.asarray(actual, dtype=expected.dtype)
        assert float(actual_array) == actual or np.isnan(actual), (
            f"{context}: {actual!r} is not a {expected.dtype} value")
    else:
        actual_array = np.asarray(actual)
        assert actual_array.shape == expected.shape, (
            f"{context}: shape {actual_array.shape} != Keras {expected.shape}")
        if check_dtype:
            assert actual_array.dtype == expected.dtype, (
                f"{context}: dtype {actual_array.dtype} != Keras {expected.dtype}")
    a = actual_array.astype(np.float64)
    b = expected.astype(np.float64)
    both_nan = np.isnan(a) & np.isnan(b)
    same_inf = np.isinf(b) & (a == b)
    with np.errstate(invalid="ignore"):
        close = np.abs(a - b) <= rtol * np.maximum(1.0, np.abs(b)) + atol
    ok = both_nan | same_inf | close
    if not ok.all():
        index = np.argwhere(~ok)[0]
        raise AssertionError(
            f"{context}: lossbounds {a[tuple(index)]!r} != Keras {b[tuple(index)]!r} "
            f"at {tuple(index)} ({int((~ok).sum())} of {ok.size} differ)")
