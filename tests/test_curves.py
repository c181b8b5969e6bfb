"""The curve statistics behind the diagnosis agree with scipy.stats, which they replace.

`lossbounds.curves` computes Kendall's tau and its p-value, and the noise's
median absolute deviation, in numpy: scipy.stats takes most of a second to
import. Here scipy.stats is the independent computation they must equal, on
curves with and without ties, exact and asymptotic p-values, every
alternative, NaN and infinities.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from strategies import seeds

from lossbounds import curves

ALTERNATIVES = ("two-sided", "greater", "less")


@st.composite
def curve_values(draw):
    """A curve as logs print them: noisy, falling or rising, rounded (ties), short or long."""
    rng = np.random.default_rng(draw(seeds))
    n = draw(st.integers(2, 40) | st.integers(41, 400))
    kind = draw(st.sampled_from(["noise", "few values", "printed walk", "nearly sorted",
                                 "constant", "non-finite"]))
    if kind == "noise":
        return rng.standard_normal(n)
    if kind == "few values":
        return rng.integers(0, draw(st.integers(2, 6)), n).astype(float)
    if kind == "printed walk":
        return np.round(1 + np.cumsum(rng.standard_normal(n)) / 10, draw(st.integers(1, 4)))
    if kind == "nearly sorted":  # one or two pairs out of order: the exact p-value's edge
        y = np.arange(n, dtype=float) * draw(st.sampled_from([1, -1]))
        for _ in range(draw(st.integers(0, 2))):
            i = int(rng.integers(0, n - 1))
            y[i], y[i + 1] = y[i + 1], y[i]
        return y
    if kind == "constant":
        return np.full(n, 0.25)
    y = rng.standard_normal(n)
    y[rng.integers(0, n)] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    return y


def _assert_kendall_matches_scipy(y):
    for alternative in ALTERNATIVES:
        tau, p = curves.kendall(y, alternative)
        expected = stats.kendalltau(np.arange(y.size), y, alternative=alternative)
        context = f"{y.size} values, {alternative}"
        if math.isnan(expected.statistic):
            assert math.isnan(tau) and math.isnan(p), context
            continue
        assert tau == pytest.approx(float(expected.statistic), rel=1e-14, abs=1e-15), context
        assert p == pytest.approx(float(expected.pvalue), rel=1e-12, abs=1e-300), context


@given(curve_values())
def test_kendall_is_scipys_kendalltau(y):
    _assert_kendall_matches_scipy(y)


@pytest.mark.parametrize("n", [2, 3, 33, 34, 1000, 100_003])
def test_kendall_is_scipys_kendalltau_at_the_method_edges(n):
    # scipy's exact p-value holds up to 33 untied values; beyond, with at most one pair out
    # of order; otherwise the normal approximation. Long curves take O(n log n).
    rng = np.random.default_rng(n)
    for y in (rng.standard_normal(n), np.round(rng.standard_normal(n), 1),
              np.arange(n, dtype=float), np.arange(n, 0, -1.0)):
        _assert_kendall_matches_scipy(y)


@given(st.integers(0, 700), st.integers(1, 1000), seeds)
def test_discordant_pairs_are_counted(n, distinct, seed):
    # Every pair compared (the merge sort takes over above 256 values)
    ranks = np.random.default_rng(seed).integers(0, distinct, n)
    brute = int(np.count_nonzero(np.triu(ranks[:, None] > ranks[None, :], 1)))
    assert curves._discordant(ranks) == brute


@given(curve_values())
def test_noise_is_the_normal_median_absolute_deviation(y):
    with np.errstate(invalid="ignore"):  # (inf - inf)
        expected = float(stats.median_abs_deviation(np.diff(y), scale="normal")) / math.sqrt(2)
    floor = max(min(curves.PRINT_ATOL, 1e-3 * float(np.median(np.abs(y)))), 1e-12)
    if y.size < 3:
        assert curves.noise(y) == floor
    elif math.isnan(expected):
        assert math.isnan(curves.noise(y))
    else:
        assert curves.noise(y) == pytest.approx(max(expected, floor), rel=1e-15)
