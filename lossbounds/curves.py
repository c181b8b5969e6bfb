r"""The shape of a training curve: trends, flat stretches, spikes, the noise.

`lossbounds.diagnose` reads a log through these tests. Each judges a curve
against its own epoch-to-epoch noise, so no threshold depends on the loss's
units or level:

* **noise** (`noise`): a robust standard deviation of the first
  differences, their normalised median absolute deviation over
  :math:`\sqrt 2` (for independent noise :math:`\mathrm{Var}(e_{t+1} - e_t)
  = 2\sigma^2` [3]_), never below the printing resolution;
* **a trend** (`rise`, `fall`): Kendall's :math:`\tau` with a one-sided
  p-value below :data:`TREND_ALPHA` = 0.01 ([1]_, [2]_) *and* a Theil-Sen
  fitted change ([4]_) of more than :data:`NOISE_UNITS` = 3 times the noise,
  over at least :data:`MIN_TREND_EPOCHS` = 5 epochs;
* **flat** (`flat_since`): the longest stretch at the end of the curve, of
  at least :data:`MIN_TREND_EPOCHS` epochs, with no trend either way, a
  fitted change within :data:`NOISE_UNITS` noise units and every value
  within :data:`NOISE_UNITS` noise units of the middle of their range; or
  the same printed value for :data:`MIN_FROZEN_EPOCHS` epochs or more
  (`frozen_since`);
* **a spike** (`spikes`): epochs that jump above the epoch before them and
  fall back below the epoch after them, both steps larger than
  :data:`NOISE_UNITS` times the larger of the noise and the median step
  size, with every epoch in between higher than both neighbours by as much,
  and the loss at least doubled (:data:`SPIKE_FACTOR`, measured from the
  best case): a sudden excursion, not a gradual rise nor a noisy step;
* **still falling** (`still_falling`): the last epoch is the lowest so far,
  and over the last :data:`MIN_TREND_EPOCHS` epochs (at least 3) the fitted
  change falls by more than :data:`NOISE_UNITS` noise units.

A decreasing curve with noise up to twice its smallest per-epoch decrease
never rises: then no pair of epochs 4 or more apart can rise, and with at
most :math:`3m - 6` of :math:`m(m-1)/2` pairs rising the one-sided Kendall
p-value is at least 0.04 (:math:`m = 5`) and grows with :math:`m`.

References
----------
.. [1] M. G. Kendall, "A new measure of rank correlation", *Biometrika* 30,
   81-93 (1938).
.. [2] H. B. Mann, "Nonparametric tests against trend", *Econometrica* 13,
   245-259 (1945).
.. [3] J. von Neumann, "Distribution of the ratio of the mean square
   successive difference to the variance", *Ann. Math. Stat.* 12, 367-395
   (1941).
.. [4] P. K. Sen, "Estimates of the regression coefficient based on
   Kendall's tau", *J. Am. Stat. Assoc.* 63, 1379-1389 (1968).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .text import PRINT_ATOL

__all__ = [
    "MIN_FROZEN_EPOCHS",
    "MIN_TREND_EPOCHS",
    "NOISE_UNITS",
    "SPIKE_FACTOR",
    "THEIL_SEN_EXACT",
    "TREND_ALPHA",
    "Trend",
    "fall",
    "flat_since",
    "frozen_since",
    "jumps",
    "kendall",
    "kendall_tau",
    "noise",
    "rise",
    "spikes",
    "still_falling",
    "theil_sen_slope",
]

#: One-sided significance level of Kendall's trend test.
TREND_ALPHA = 0.01
#: A trend must change the curve by more than this many noise standard deviations.
NOISE_UNITS = 3.0
#: Fewest epochs a trend or a flat stretch is judged on.
MIN_TREND_EPOCHS = 5
#: Fewest epochs in a row printing the same value for a frozen curve: two repeats.
MIN_FROZEN_EPOCHS = 3
#: Up to this many epochs the Theil-Sen slope is the median of every pair's slope;
#: beyond, of this many squared pairs drawn with a fixed seed (bounded time and memory).
THEIL_SEN_EXACT = 1000
#: A spike takes the loss at least this many times as far from its best case.
SPIKE_FACTOR = 2.0
#: Flat stretches and still-falling curves are looked for in at most this many final epochs.
TAIL_EPOCHS = 1000


@dataclass(frozen=True)
class Trend:
    """A significant, large trend in a curve.

    Attributes
    ----------
    first : int
        Index of the epoch the trend is measured from.
    change : float
        The Theil-Sen fitted change over the tested epochs (positive for a rise).
    noise : float
        The epoch-to-epoch noise of the tested epochs.
    tau, p_value : float
        Kendall's tau and its one-sided p-value.
    """

    first: int
    change: float
    noise: float
    tau: float
    p_value: float

    @property
    def units(self) -> float:
        """The change in noise units."""
        return abs(self.change) / self.noise


#: The median absolute deviation of a standard normal variable, Phi^-1(3/4): a MAD over
#: this estimates a normal standard deviation (scipy.stats.median_abs_deviation's "normal").
_NORMAL_MAD = 0.6744897501960817


def noise(y: np.ndarray) -> float:
    """Robust epoch-to-epoch noise: normalised MAD of first differences over sqrt 2."""
    level = float(np.median(np.abs(y))) if y.size else 0.0
    floor = max(min(PRINT_ATOL, 1e-3 * level), 1e-12)  # printing resolution
    if y.size < 3:
        return floor
    steps = np.diff(y)
    with np.errstate(invalid="ignore"):  # (inf - inf: NaN, the noise of a curve with infinities)
        sigma = float(np.median(np.abs(steps - np.median(steps)))) / _NORMAL_MAD / math.sqrt(2)
    return max(sigma, floor)


def _discordant(ranks: np.ndarray) -> int:
    """Pairs i < j with ``ranks[i] > ranks[j]`` (ties are not discordant), in O(n log n).

    Up to 256 values, every pair at once. Beyond, a bottom-up merge sort of
    the ranks padded to a power of two (with ranks above all, which end the
    array and so are out of order with nothing), one numpy pass a level:
    each value of a right run counts the values of its left run ranked above
    it (a binary search of the left runs, keyed by run and rank), then the
    pairs of runs are sorted, row by row.
    """
    n = ranks.size
    keys = ranks.astype(np.int64)
    if n <= 256:
        return int(np.count_nonzero(np.triu(keys[:, None] > keys[None, :], 1)))
    size = 1 << (n - 1).bit_length()
    top = int(keys.max()) + 1
    merged = np.full(size, top, np.int64)
    merged[:n] = keys
    count, width = 0, 1
    while width < size:
        runs = merged.reshape(-1, 2, width)
        pair = np.arange(runs.shape[0], dtype=np.int64)
        offsets = pair[:, None] * (top + 1)
        left, right = (runs[:, 0, :] + offsets).ravel(), (runs[:, 1, :] + offsets).ravel()
        ends = np.repeat((pair + 1) * width, width)  # where each left run ends, in `left`
        count += int((ends - np.searchsorted(left, right, side="right")).sum())
        merged = np.sort(merged.reshape(-1, 2 * width), axis=1).ravel()
        width *= 2
    return count


def kendall(y: np.ndarray, alternative: str = "two-sided") -> tuple[float, float]:
    r"""Kendall's tau-b of `y` against time, and its p-value (NaN, NaN if undefined).

    The values of ``scipy.stats.kendalltau(np.arange(n), y,
    alternative=alternative)``, without importing scipy.stats (most of a
    second). Time has no ties, so over the :math:`n_0 = n(n-1)/2` pairs of
    epochs, :math:`n_1` of them tied in `y`, :math:`C` in order and
    :math:`D` out of order, the statistic is :math:`S = C - D` and

    .. math:: \tau_b = \frac{S}{\sqrt{n_0 (n_0 - n_1)}}.

    Without ties, up to 33 epochs (or with at most one pair out of order),
    the p-value is exact: every order of the values is equally likely under
    no trend, and the number with :math:`D` pairs out of order is a Mahonian
    number [1]_. Otherwise :math:`S` is taken as normal, of variance
    :math:`[n(n-1)(2n+5) - \sum_t t(t-1)(2t+5)]/18` over the groups of
    :math:`t` tied values [2]_. `alternative` "greater" tests for a rise,
    "less" for a fall.

    References
    ----------
    .. [1] M. G. Kendall and J. D. Gibbons, *Rank Correlation Methods*, 5th
       ed., Edward Arnold (1990), chapter 4.
    .. [2] M. G. Kendall, "The treatment of ties in ranking problems",
       *Biometrika* 33, 239-251 (1945).

    Examples
    --------
    >>> from lossbounds.curves import kendall
    >>> tau, p = kendall([0.9, 0.7, 0.8, 0.5, 0.4], "less")  # a falling loss
    >>> round(tau, 3), round(p, 4)
    (-0.8, 0.0417)
    """
    y = np.asarray(y, np.float64).ravel()
    n = y.size
    if n < 2 or np.isnan(y).any():
        return math.nan, math.nan
    _, ranks, sizes = np.unique(y, return_inverse=True, return_counts=True)
    total = n * (n - 1) // 2
    tied = int((sizes * (sizes - 1) // 2).sum())
    if tied == total:
        return math.nan, math.nan
    discordant = _discordant(ranks)
    s = total - tied - 2 * discordant
    tau = min(1.0, max(-1.0, s / math.sqrt(total) / math.sqrt(total - tied)))
    if tied == 0 and (n <= 33 or min(discordant, total - discordant) <= 1):
        return tau, _exact_p(n, discordant, alternative)
    t = sizes.astype(np.float64)
    variance = (n * (n - 1.0) * (2 * n + 5) - float((t * (t - 1) * (2 * t + 5)).sum())) / 18
    z = s / math.sqrt(variance)
    upper = 0.5 * math.erfc(z / math.sqrt(2))  # P(Z >= z)
    lower = 0.5 * math.erfc(-z / math.sqrt(2))
    p = {"greater": upper, "less": lower}.get(alternative, 2 * min(upper, lower))
    return tau, min(p, 1.0)


def _exact_p(n: int, discordant: int, alternative: str) -> float:
    """The p-value of `discordant` pairs out of order among n untied values, exactly.

    Every order of the n values is equally likely under no trend; the count
    of orders with k discordant pairs is the Mahonian number M(n, k), found
    by adding one value at a time (it lands 0 to j - 1 places out of order).
    Only the tail up to the nearer end is counted (the distribution is
    symmetric), in Python integers.
    """
    total = n * (n - 1) // 2
    near = min(discordant, total - discordant)
    counts = [1] + [0] * near
    for j in range(2, n + 1):
        running, new = 0, []
        for k in range(near + 1):  # M(j, k) = sum of M(j - 1, k - i), i = 0..j-1
            running += counts[k]
            if k >= j:
                running -= counts[k - j]
            new.append(running)
        counts = new
    orders = math.factorial(n)
    tail = sum(counts)  # orders with at most `near` discordant pairs (or, by symmetry, concordant)
    at = counts[near]
    # few discordant pairs: a rise; "greater" asks how likely so few (or fewer)
    rising = discordant <= total - discordant
    one_sided = {"greater": rising, "less": not rising}
    if alternative in one_sided:
        if one_sided[alternative]:
            return min(1.0, tail / orders)
        return min(1.0, (orders - tail + at) / orders)
    return min(1.0, 2 * tail / orders)


def theil_sen_slope(y: np.ndarray) -> float:
    """The median of the slopes (y_j - y_i) / (j - i) over pairs i < j [4]_.

    Exact up to `THEIL_SEN_EXACT` epochs. Longer curves use THEIL_SEN_EXACT**2
    pairs drawn uniformly with a fixed seed: the sample median of a million
    slopes is within a fraction of a percent (in rank) of the true median, far
    inside what the `NOISE_UNITS` test needs, and the answer is the same on
    every run.
    """
    n = y.size
    if n < 2:
        return 0.0
    if n <= THEIL_SEN_EXACT:
        i, j = np.triu_indices(n, k=1)
    else:
        rng = np.random.default_rng(0)
        i = rng.integers(0, n, THEIL_SEN_EXACT**2)
        j = rng.integers(0, n, THEIL_SEN_EXACT**2)
        keep = i != j
        i, j = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
    return float(np.median((y[j] - y[i]) / (j - i)))


def kendall_tau(y: np.ndarray) -> float:
    """Kendall's tau of a curve against time (0 for fewer than 2 epochs or a constant)."""
    if y.size < 2:
        return 0.0
    tau = kendall(y)[0]
    return 0.0 if math.isnan(tau) else tau


def _trend(y: np.ndarray, first: int, sign: float) -> Trend | None:
    """A significant, large trend of `y` in the direction of `sign` (+1 up, -1 down)."""
    if y.size < MIN_TREND_EPOCHS:
        return None
    tau, p_value = kendall(sign * y, "greater")
    if not p_value < TREND_ALPHA:
        return None
    change = theil_sen_slope(y) * (y.size - 1)
    spread = noise(y)
    if sign * change > NOISE_UNITS * spread:
        return Trend(first, change, spread, sign * float(tau), float(p_value))
    return None


def rise(y: np.ndarray) -> Trend | None:
    """An upward trend over the whole curve, or after its lowest epoch (left out).

    Leaving the lowest epoch out keeps the choice of the minimum from biasing
    the test.
    """
    lowest = int(np.argmin(y)) if y.size else 0
    found = _trend(y, 0, 1.0)
    if found is None and lowest > 0:
        found = _trend(y[lowest + 1:], lowest, 1.0)
    return found


def fall(y: np.ndarray) -> Trend | None:
    """A downward trend over the whole curve (the mirror of `rise`'s first test)."""
    return _trend(y, 0, -1.0)


def frozen_since(y: np.ndarray, floor: float = 0.0) -> int | None:
    """Index where the curve starts printing one value until the end, if it does for
    `MIN_FROZEN_EPOCHS` epochs or more and that value is not the best case `floor`.

    Equal means equal to float32 rounding of a mean (a relative 1e-6), which
    printed values to four decimals are when they print the same.
    """
    if y.size < MIN_FROZEN_EPOCHS:
        return None
    last = float(y[-1])
    if abs(last - floor) <= PRINT_ATOL:
        return None  # at the best case: converged, not stuck
    same = np.abs(y - last) <= 1e-6 * abs(last)
    start = y.size
    while start > 0 and same[start - 1]:
        start -= 1
    return start if y.size - start >= MIN_FROZEN_EPOCHS else None


def _is_flat(y: np.ndarray) -> bool:
    if y.size < MIN_TREND_EPOCHS:
        return False
    for alternative in ("greater", "less"):
        p_value = kendall(y, alternative)[1]
        if p_value < TREND_ALPHA:
            return False
    spread = NOISE_UNITS * noise(y)
    # No trend, and no excursion: every value within NOISE_UNITS noise units of the middle.
    return (abs(theil_sen_slope(y) * (y.size - 1)) <= spread
            and float(np.ptp(y)) <= 2 * spread)


def flat_since(y: np.ndarray) -> int | None:
    """Index where the longest flat stretch at the end of the curve starts, or None.

    Stretches of every length from the whole curve (at most `TAIL_EPOCHS`)
    down to `MIN_TREND_EPOCHS` are tried, longest first; lengths shrink
    geometrically beyond 50 epochs, so a long curve costs a few dozen tests.
    """
    n = y.size
    if n < MIN_TREND_EPOCHS:
        return None
    for length in _lengths(min(n, TAIL_EPOCHS)):
        if _is_flat(y[n - length:]):
            return n - length
    return None


def _lengths(longest: int) -> list[int]:
    lengths, length = [], longest
    while length >= MIN_TREND_EPOCHS:
        lengths.append(length)
        length = length - 1 if length <= 50 else int(length / 1.1)
    return lengths


def spikes(y: np.ndarray, floor: float = 0.0) -> list[tuple[int, int]]:
    """Sudden excursions up and back: (first, last) indices of each, inclusive.

    An excursion starts with a jump of more than `NOISE_UNITS` times the
    larger of the noise and the median step size above the epoch before it,
    ends with a fall of as much below the epoch after it, and every epoch in it
    stands that far above both neighbours. A
    curve's first and last epochs cannot be spikes: a spike needs an epoch on
    either side. And the loss must at least double: its distance to the best
    case `floor` at the peak is twice or more its distance at both
    neighbours. A curve that moves 10% for an epoch has a noisy step, not a
    spike, however quiet its other epochs are.
    """
    n = y.size
    if n < 3:
        return []
    # The typical step, not only its spread: a curve that moves a lot every epoch
    # (few batches, a small validation set) needs a larger jump to count.
    margin = NOISE_UNITS * max(noise(y), float(np.median(np.abs(np.diff(y)))))
    found: list[tuple[int, int]] = []
    i = 1
    while i < n - 1:
        end = None
        if y[i] - y[i - 1] > margin:
            for j in range(i, n - 1):
                around = max(y[i - 1], y[j + 1])
                if (y[j] - y[j + 1] > margin and np.min(y[i:j + 1]) > around + margin
                        and around > floor
                        and np.max(y[i:j + 1]) - floor >= SPIKE_FACTOR * (around - floor)):
                    end = j
                    break
                if y[j + 1] <= y[i - 1] + margin:
                    break  # back down without a sudden fall: a bump, not a spike
        if end is None:
            i += 1
        else:
            found.append((i, end))
            i = end + 1
    return found


def jumps(y: np.ndarray, floor: float = 0.0) -> list[int]:
    """Sudden jumps up that the curve has not come back from: indices of the jumped-to epochs.

    A jump is a step up as large as a spike's (`spikes`) after which no later
    epoch comes back within that margin of the level before it. Epochs inside a
    spike are not jumps.
    """
    n = y.size
    if n < 3:
        return []
    margin = NOISE_UNITS * max(noise(y), float(np.median(np.abs(np.diff(y)))))
    inside = {i for first, last in spikes(y, floor) for i in range(first, last + 1)}
    found = []
    for i in range(1, n):
        before = y[i - 1]
        if i in inside or y[i] - before <= margin or before <= floor:
            continue
        if y[i] - floor < SPIKE_FACTOR * (before - floor):
            continue
        if np.all(y[i:] > before + margin):
            found.append(i)
    return found


def still_falling(y: np.ndarray) -> Trend | None:
    """Is the curve still falling at its end? The last epoch is its lowest, and the
    last `MIN_TREND_EPOCHS` epochs (at least 3) fall by more than `NOISE_UNITS`
    noise units (Theil-Sen). No significance test: a few epochs cannot pass one,
    and this is a weaker claim than a rise (keep training, not "something broke")."""
    if y.size < 3 or y[-1] > float(np.min(y)):
        return None
    window = y[-MIN_TREND_EPOCHS:]
    change = theil_sen_slope(window) * (window.size - 1)
    spread = noise(window)
    if -change > NOISE_UNITS * spread:
        return Trend(y.size - window.size, change, spread, kendall_tau(window), math.nan)
    return None
