"""Shared statistics: intervals, classification metrics, agreement and paired tests.

One implementation for every part of refusalkit (evaluate, audits, the benchmark, the
annotation tool), so their numbers agree. Everything is vectorised numpy; scipy is only
imported for large exact binomial tails. Conventions, chosen so that reports never show a
surprising NaN or an inflated score:

- Missing labels are `None` or float NaN. Agreement statistics drop them (pairwise for
  Cohen, per unit for Krippendorff); `classification_report` counts the rows it excludes.
- A metric whose denominator is zero (precision of a class never predicted, recall of a
  class with no support) is 0.0, as scikit-learn's `zero_division=0`. Macro averages are
  taken over the labels that occur in `y_true` or `y_pred`; labels absent from both are
  listed with zeros but do not drag the average down.
- NaN is returned only where a quantity is undefined, and documented: kappa/alpha when
  there is no variation to agree beyond chance, scores over zero rows.
- Bootstrap intervals are percentile intervals from `numpy.random.default_rng(seed)`, so
  a given seed always gives the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any, NamedTuple

import numpy as np

from refusalkit.core.classification import (
    ClassificationReport,
    ClassMetrics,
    _as_list,
    _missing,
    classification_report,
    confusion_matrix,
)

__all__ = [
    "ClassMetrics",
    "ClassificationReport",
    "Estimate",
    "Interval",
    "McNemarResult",
    "PairedDiff",
    "ProportionDiff",
    "bootstrap_ci",
    "classification_report",
    "cohen_kappa",
    "confusion_matrix",
    "counts_from_labels",
    "fleiss_kappa",
    "holm_adjust",
    "krippendorff_alpha",
    "mcnemar_test",
    "paired_bootstrap_diff",
    "percent_agreement",
    "proportion_ci",
    "proportion_diff",
    "wilson_interval",
]


class Interval(NamedTuple):
    """A two-sided confidence interval (floats, or arrays for vectorised calls)."""

    low: Any
    high: Any


class Estimate(NamedTuple):
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


# ------------------------------------------------------------------------------ proportions


def wilson_interval(k: Any, n: Any, confidence: float = 0.95) -> Interval:
    """Wilson score interval for k successes in n trials (scalars or arrays).

    Preferred over the normal approximation because refusal rates are often near 0 or 1
    and samples small; its coverage stays close to nominal there. With n == 0 the
    interval is the uninformative (0, 1).
    """
    k_a, n_a = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    if np.any(n_a < 0) or np.any(k_a < 0) or np.any(k_a > n_a):
        raise ValueError("wilson_interval needs 0 <= k <= n")
    z2 = _z(confidence) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k_a / n_a
        denom = 1.0 + z2 / n_a
        center = (p + z2 / (2 * n_a)) / denom
        half = math.sqrt(z2) * np.sqrt(p * (1 - p) / n_a + z2 / (4 * n_a**2)) / denom
    low = np.where(k_a == 0, 0.0, np.clip(center - half, 0.0, 1.0))
    high = np.where(k_a == n_a, 1.0, np.clip(center + half, 0.0, 1.0))
    low, high = np.where(n_a == 0, 0.0, low), np.where(n_a == 0, 1.0, high)
    if low.ndim == 0:
        return Interval(float(low), float(high))
    return Interval(low, high)


def proportion_ci(k: int, n: int, confidence: float = 0.95) -> Estimate:
    """k/n with its Wilson interval; the rate is NaN when n == 0 (interval (0, 1))."""
    low, high = wilson_interval(k, n, confidence)
    return Estimate(k / n if n else float("nan"), low, high)


class ProportionDiff(NamedTuple):
    """p1 - p2 of two independent samples with its interval and a two-sided p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    test: str  # "z" (pooled two-proportion z-test) or "fisher" (exact, small counts)


def proportion_diff(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> ProportionDiff:
    """Compare k1/n1 with k2/n2 from independent samples (e.g. two dataset versions).

    The interval is Newcombe's hybrid score interval (built from the two Wilson
    intervals; good coverage near 0 and 1, where refusal rates live). The p-value is
    Fisher's exact test when an expected cell count is below 5, else the pooled z-test.
    With n1 or n2 == 0 the difference is NaN and the p-value 1.
    """
    if n1 == 0 or n2 == 0:
        return ProportionDiff(float("nan"), -1.0, 1.0, 1.0, "z")
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    pooled = (k1 + k2) / (n1 + n2)
    expected = min(n * q for n in (n1, n2) for q in (pooled, 1 - pooled))
    if expected < 5:
        from scipy.stats import fisher_exact

        p = float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]])[1])
        return ProportionDiff(d, max(-1.0, low), min(1.0, high), min(1.0, p), "fisher")
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p = 1.0 if se == 0 else math.erfc(abs(d) / se / math.sqrt(2.0))
    return ProportionDiff(d, max(-1.0, low), min(1.0, high), min(1.0, p), "z")


def holm_adjust(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (family-wise error control, any dependence)."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        out[i] = running
    return out


# -------------------------------------------------------------------------------- bootstrap


def _columns(arrays: Sequence[Any]) -> list[np.ndarray]:
    if not arrays:
        raise ValueError("give at least one array to resample")
    cols = [np.asarray(a) for a in arrays]
    n = len(cols[0])
    if any(len(c) != n for c in cols):
        raise ValueError(f"paired arrays differ in length: {[len(c) for c in cols]}")
    if n == 0:
        raise ValueError("cannot bootstrap zero rows")
    return cols


def _resampled(
    stat_fn: Callable[..., Any],
    cols: list[np.ndarray],
    n_resamples: int,
    seed: int | None,
    vectorized: bool,
) -> np.ndarray:
    """Statistic on `n_resamples` row resamples (rows drawn jointly across columns)."""
    rng = np.random.default_rng(seed)
    n = len(cols[0])
    chunk = max(1, min(n_resamples, 2**23 // n))  # bounds memory at ~64 MB of indexes
    out = np.empty(n_resamples, dtype=float)
    for start in range(0, n_resamples, chunk):
        m = min(chunk, n_resamples - start)
        idx = rng.integers(0, n, size=(m, n))
        if vectorized:
            vals = np.asarray(stat_fn(*(c[idx] for c in cols)), dtype=float).reshape(m)
        else:
            vals = np.array([stat_fn(*(c[i] for c in cols)) for i in idx], dtype=float)
        out[start : start + m] = vals
    return out


def _percentile(dist: np.ndarray, confidence: float) -> Interval:
    _z(confidence)  # validates
    finite = dist[np.isfinite(dist)]
    if finite.size == 0:
        return Interval(float("nan"), float("nan"))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(finite, [alpha, 1.0 - alpha])
    return Interval(float(low), float(high))


def bootstrap_ci(
    stat_fn: Callable[..., Any],
    *arrays: Any,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    vectorized: bool = False,
) -> Interval:
    """Percentile bootstrap interval of `stat_fn(*arrays)`, resampling rows jointly.

    Rows are paired: resample i uses the same row indexes for every array, so e.g.
    `bootstrap_ci(accuracy, y_true, y_pred)` keeps each label with its prediction.
    With `vectorized=True`, `stat_fn` receives arrays with a leading resample axis
    (shape `(m, n, ...)`) and must return `m` values, e.g. `lambda x: x.mean(axis=1)`;
    this is much faster for large n. Resamples where the statistic is NaN (a class
    absent from the resample) are ignored.
    """
    cols = _columns(arrays)
    return _percentile(_resampled(stat_fn, cols, n_resamples, seed, vectorized), confidence)


def _mean_diff_resamples(cols: list[np.ndarray], n_resamples: int, seed: int | None) -> Any:
    """Bootstrap of mean(a) - mean(b) via multinomial counts over distinct (a, b) rows.

    Equivalent in distribution to resampling rows, but O(resamples x distinct rows):
    flags from two models over a million prompts have only four distinct rows.
    """
    try:
        (ua, ia), (ub, ib) = (np.unique(c.astype(float), return_inverse=True) for c in cols[:2])
    except (TypeError, ValueError):
        return None
    if cols[0].ndim != 1 or len(ua) * len(ub) > 256:
        return None
    n = len(cols[0])
    freq = np.bincount(ia * len(ub) + ib, minlength=len(ua) * len(ub)) / n
    counts = np.random.default_rng(seed).multinomial(n, freq, size=n_resamples)
    return counts @ np.subtract.outer(ua, ub).ravel() / n


@dataclass(frozen=True, slots=True)
class PairedDiff:
    """`stat(a) - stat(b)` on the same rows, with a bootstrap interval and p-value."""

    diff: float
    low: float
    high: float
    p_value: float
    n: int
    n_resamples: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def paired_bootstrap_diff(
    a: Any,
    b: Any,
    *,
    stat_fn: Callable[..., Any] | None = None,
    shared: Sequence[Any] = (),
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int | None = 0,
    vectorized: bool = False,
) -> PairedDiff:
    """Compare two systems on the same items: `stat_fn(a, *shared) - stat_fn(b, *shared)`.

    `a` and `b` are per-row values of two models (refusal flags, correctness, scores)
    over the same prompts; `shared` holds per-row arrays both use (e.g. gold labels, so
    `stat_fn=accuracy` with `shared=(y_true,)`). The default statistic is the mean.
    The p-value is two-sided, from the bootstrap distribution shifted to the null
    (`(1 + #{|d* - d| >= |d|}) / (B + 1)`), so it is never exactly 0.
    """
    cols = _columns([a, b, *shared])
    default = stat_fn is None
    if stat_fn is None:
        stat_fn, vectorized = (lambda x, *_: np.mean(x, axis=-1)), True
    k = len(shared)

    def diff_fn(x: Any, y: Any, *rest: Any) -> Any:
        return np.asarray(stat_fn(x, *rest), dtype=float) - np.asarray(
            stat_fn(y, *rest), dtype=float
        )

    observed = float(diff_fn(cols[0], cols[1], *cols[2 : 2 + k]))
    dist = _mean_diff_resamples(cols, n_resamples, seed) if default and not k else None
    if dist is None:
        dist = _resampled(diff_fn, cols, n_resamples, seed, vectorized)
    low, high = _percentile(dist, confidence)
    finite = dist[np.isfinite(dist)]
    extreme = np.count_nonzero(np.abs(finite - observed) >= abs(observed) - 1e-12)
    p = (1 + extreme) / (finite.size + 1)
    return PairedDiff(observed, low, high, float(min(1.0, p)), len(cols[0]), n_resamples)


# ---------------------------------------------------------------------------- paired tests


@dataclass(frozen=True, slots=True)
class McNemarResult:
    """McNemar's test for two paired binary outcomes (e.g. two models refusing)."""

    statistic: float
    p_value: float
    a_only: int  # a flagged, b not
    b_only: int  # b flagged, a not
    both: int
    neither: int
    method: str  # "exact" (binomial) or "chi2" (with continuity correction)

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def _binom_two_sided(k: int, n: int) -> float:
    """Two-sided exact p-value for min(count) = k of n under p = 1/2."""
    if n <= 2000:
        tail = sum(math.comb(n, i) for i in range(k + 1))
        return min(1.0, 2 * tail / 2**n)
    from scipy.special import bdtr

    return float(min(1.0, 2 * bdtr(k, n, 0.5)))


def mcnemar_test(a: Any, b: Any, *, exact: bool | None = None) -> McNemarResult:
    """Do two systems differ on the same items? Uses only the discordant pairs.

    `a` and `b` are per-item booleans (refused / correct). With fewer than 25 discordant
    pairs (or `exact=True`) the exact binomial test is used and `statistic` is the
    smaller discordant count; otherwise the chi-square test with continuity correction,
    `(|a_only - b_only| - 1)^2 / (a_only + b_only)`. No discordant pairs: p = 1.
    """
    x, y = np.asarray(_as_list(a), dtype=object), np.asarray(_as_list(b), dtype=object)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"a and b must be 1-D and the same length ({x.shape} vs {y.shape})")
    if any(_missing(v) for v in x.tolist() + y.tolist()):
        raise ValueError("mcnemar_test needs a value for every item; drop missing rows first")
    x, y = x.astype(bool), y.astype(bool)
    a_only, b_only = int(np.sum(x & ~y)), int(np.sum(~x & y))
    both, neither = int(np.sum(x & y)), int(np.sum(~x & ~y))
    disc = a_only + b_only
    use_exact = disc < 25 if exact is None else exact
    if disc == 0:
        return McNemarResult(
            0.0, 1.0, a_only, b_only, both, neither, "exact" if use_exact else "chi2"
        )
    if use_exact:
        k = min(a_only, b_only)
        return McNemarResult(
            float(k), _binom_two_sided(k, disc), a_only, b_only, both, neither, "exact"
        )
    stat = (abs(a_only - b_only) - 1.0) ** 2 / disc
    p = math.erfc(math.sqrt(stat / 2.0))  # chi-square survival function with 1 dof
    return McNemarResult(stat, p, a_only, b_only, both, neither, "chi2")


# Agreement statistics live in their own module; re-exported here for one import path.
from refusalkit.core.agreement import (  # noqa: E402
    cohen_kappa,
    counts_from_labels,
    fleiss_kappa,
    krippendorff_alpha,
    percent_agreement,
)
