"""core.stats against textbook values and scikit-learn/scipy references."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from refusalkit.core import stats

# ----------------------------------------------------------------------------- Wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Newcombe (1998), Statistics in Medicine 17:857-872, Table I, method 3 (score).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe(k: int, n: int, low: float, high: float) -> None:
    lo, hi = stats.wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=5e-5)
    assert hi == pytest.approx(high, abs=5e-5)


def test_wilson_edges_and_vectorised() -> None:
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    lo, hi = stats.wilson_interval(10, 10)
    assert hi == 1.0 and 0.6 < lo < 0.75
    k, n = np.array([0, 5, 10, 3]), np.array([10, 10, 10, 7])
    lo, hi = stats.wilson_interval(k, n, confidence=0.9)
    for i in range(4):
        assert (lo[i], hi[i]) == pytest.approx(stats.wilson_interval(int(k[i]), int(n[i]), 0.9))
    assert np.all(lo <= k / n) and np.all(k / n <= hi)
    # a wider confidence gives a wider interval
    assert stats.wilson_interval(5, 10, 0.99).low < stats.wilson_interval(5, 10, 0.9).low


def test_wilson_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        stats.wilson_interval(5, 3)
    with pytest.raises(ValueError):
        stats.wilson_interval(1, 3, confidence=1.5)


def test_proportion_ci() -> None:
    est = stats.proportion_ci(3, 12)
    assert est.value == 0.25 and est.low < 0.25 < est.high
    empty = stats.proportion_ci(0, 0)
    assert math.isnan(empty.value) and (empty.low, empty.high) == (0.0, 1.0)


# -------------------------------------------------------------------------- bootstrap


def test_bootstrap_deterministic_and_paired() -> None:
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    pred = np.where(rng.random(400) < 0.8, y, 1 - y)

    def acc(t: np.ndarray, p: np.ndarray) -> float:
        return float(np.mean(t == p))

    a = stats.bootstrap_ci(acc, y, pred, n_resamples=500, seed=3)
    b = stats.bootstrap_ci(acc, y, pred, n_resamples=500, seed=3)
    assert a == b
    assert a.low < acc(y, pred) < a.high
    assert 0.72 < a.low < a.high < 0.87
    # the vectorised path draws the same resamples, so gives the same interval
    v = stats.bootstrap_ci(
        lambda t, p: (t == p).mean(axis=1), y, pred, n_resamples=500, seed=3, vectorized=True
    )
    assert v == pytest.approx(a)


def test_bootstrap_mean_close_to_normal_theory() -> None:
    x = np.random.default_rng(0).normal(10.0, 2.0, 2000)
    lo, hi = stats.bootstrap_ci(
        lambda a: a.mean(axis=1), x, n_resamples=2000, vectorized=True, seed=5
    )
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.25 * se)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.25 * se)


def test_bootstrap_ignores_nan_resamples_and_validates() -> None:
    def first_class_precision(t: np.ndarray) -> float:
        return float("nan") if t.sum() == 0 else 1.0

    lo, hi = stats.bootstrap_ci(first_class_precision, np.array([0, 0, 0, 1]), n_resamples=200)
    assert (lo, hi) == (1.0, 1.0)
    with pytest.raises(ValueError, match="differ in length"):
        stats.bootstrap_ci(np.mean, [1, 2], [1])
    with pytest.raises(ValueError, match="zero rows"):
        stats.bootstrap_ci(np.mean, [])


def test_paired_bootstrap_diff() -> None:
    rng = np.random.default_rng(2)
    a = rng.random(500) < 0.30
    b = rng.random(500) < 0.60
    res = stats.paired_bootstrap_diff(a, b, n_resamples=1000)
    assert res.diff == pytest.approx(a.mean() - b.mean())
    assert res.low < res.diff < res.high < 0
    assert res.p_value < 0.01
    same = stats.paired_bootstrap_diff(a, a, n_resamples=200)
    assert (same.diff, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    # a custom statistic with a shared column: accuracy of two predictors on the same gold
    y = rng.integers(0, 2, 300)
    good = np.where(rng.random(300) < 0.9, y, 1 - y)
    bad = np.where(rng.random(300) < 0.6, y, 1 - y)
    res = stats.paired_bootstrap_diff(
        good, bad, stat_fn=lambda p, t: float(np.mean(p == t)), shared=(y,), n_resamples=300
    )
    assert res.diff == pytest.approx(np.mean(good == y) - np.mean(bad == y))
    assert res.low > 0 and res.p_value < 0.01
    assert res.to_dict()["n"] == 300


# ---------------------------------------------------------------- classification metrics

Y_TRUE = ["a", "b", "c", "a", "a", "b", "c", "c", "a", "b", "b", "c"]
Y_PRED = ["a", "b", "b", "a", "c", "b", "c", "a", "a", "a", "b", "c"]


def test_confusion_matrix_matches_sklearn() -> None:
    from sklearn.metrics import confusion_matrix as sk

    labels = ["a", "b", "c", "d"]
    got = stats.confusion_matrix(Y_TRUE, Y_PRED, labels)
    assert got.tolist() == sk(Y_TRUE, Y_PRED, labels=labels).tolist()
    # unknown / missing values are not counted, as in scikit-learn
    got = stats.confusion_matrix([*Y_TRUE, "zzz", None], [*Y_PRED, "a", "a"], ["a", "b", "c"])
    assert got.sum() == len(Y_TRUE)
    assert stats.confusion_matrix([1, 0, 1], [1, 1, 1]).tolist() == [[0, 1], [0, 2]]


def test_classification_report_matches_sklearn() -> None:
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    labels = ["a", "b", "c"]
    rep = stats.classification_report(Y_TRUE, Y_PRED, labels)
    p, r, f, s = precision_recall_fscore_support(Y_TRUE, Y_PRED, labels=labels, zero_division=0)
    for i, lab in enumerate(labels):
        m = rep.per_class[lab]
        assert (m.precision, m.recall, m.f1, m.support) == pytest.approx((p[i], r[i], f[i], s[i]))
    assert rep.accuracy == pytest.approx(accuracy_score(Y_TRUE, Y_PRED))
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(
            Y_TRUE, Y_PRED, labels=labels, average=avg, zero_division=0
        )
        assert getattr(rep, f"{avg}_precision") == pytest.approx(p)
        assert getattr(rep, f"{avg}_recall") == pytest.approx(r)
        assert getattr(rep, f"{avg}_f1") == pytest.approx(f)
    assert rep.n == 12 and rep.n_excluded == 0 and rep.confusion.shape == (3, 3)


def test_classification_report_hand_computed_binary() -> None:
    # TP=3, FP=1, FN=2, TN=4 for the positive class
    y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    p = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    rep = stats.classification_report(y, p)
    pos = rep.per_class[1]
    assert pos.precision == pytest.approx(3 / 4)
    assert pos.recall == pytest.approx(3 / 5)
    assert pos.f1 == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert rep.accuracy == pytest.approx(0.7)


def test_classification_report_absent_classes_no_warnings_no_nan() -> None:
    from sklearn.metrics import precision_recall_fscore_support

    y = ["x", "x", "y", "y"]
    p = ["x", "z", "y", "y"]  # z predicted but never true; w never seen at all
    labels = ["w", "x", "y", "z"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        rep = stats.classification_report(y, p, labels)
    assert rep.per_class["w"] == stats.ClassMetrics(0.0, 0.0, 0.0, 0, 0)
    assert rep.per_class["z"].precision == 0.0 and rep.per_class["z"].predicted == 1
    assert rep.macro_labels == ["x", "y", "z"]
    present = ["x", "y", "z"]
    _, _, f, _ = precision_recall_fscore_support(
        y, p, labels=present, average="macro", zero_division=0
    )
    assert rep.macro_f1 == pytest.approx(f)
    values = [rep.accuracy, rep.macro_f1, rep.weighted_f1, rep.macro_precision]
    assert not any(math.isnan(v) for v in values)


def test_classification_report_exclusions_and_outside_predictions() -> None:
    y = ["a", "b", None, "a", "other"]
    p = ["a", "unjudged", "a", "b", "a"]
    rep = stats.classification_report(y, p, ["a", "b"])
    assert rep.n == 3 and rep.n_excluded == 2 and rep.n_pred_outside == 1
    assert rep.accuracy == pytest.approx(1 / 3)  # the unjudged prediction counts as wrong
    assert rep.per_class["b"].recall == 0.0 and rep.per_class["b"].support == 1
    d = rep.to_dict()
    assert d["per_class"]["a"]["support"] == 2 and d["confusion"] == [[1, 1], [0, 0]]
    empty = stats.classification_report([], [], ["a"])
    assert empty.n == 0 and math.isnan(empty.accuracy)


# ------------------------------------------------------------------------- agreement


def test_cohen_kappa_matches_sklearn_and_hand_value() -> None:
    from sklearn.metrics import cohen_kappa_score

    assert stats.cohen_kappa(Y_TRUE, Y_PRED) == pytest.approx(cohen_kappa_score(Y_TRUE, Y_PRED))
    for w in ("linear", "quadratic"):
        a, b = [1, 2, 3, 3, 2, 1, 4, 4, 2], [1, 3, 3, 2, 2, 1, 4, 3, 2]
        assert stats.cohen_kappa(a, b, weights=w) == pytest.approx(
            cohen_kappa_score(a, b, weights=w)
        )
    # Textbook 2x2: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> po=.7, pe=.5, kappa=.4
    a = ["y"] * 25 + ["n"] * 25
    b = ["y"] * 20 + ["n"] * 5 + ["y"] * 10 + ["n"] * 15
    assert stats.cohen_kappa(a, b) == pytest.approx(0.4)


def test_cohen_kappa_missing_and_undefined() -> None:
    a = ["y", "n", None, "y", float("nan")]
    b = ["y", "n", "y", "n", "n"]
    assert stats.cohen_kappa(a, b) == pytest.approx(
        stats.cohen_kappa(a[:2] + a[3:4], b[:2] + b[3:4])
    )
    assert math.isnan(stats.cohen_kappa(["x", "x"], ["x", "x"]))
    assert math.isnan(stats.cohen_kappa([None], ["x"]))
    assert stats.percent_agreement(a, b) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        stats.cohen_kappa(a, b, weights="cubic")


WIKI_FLEISS = [  # en.wikipedia.org/wiki/Fleiss%27_kappa worked example: kappa = 0.210
    [0, 0, 0, 0, 14],
    [0, 2, 6, 4, 2],
    [0, 0, 3, 5, 6],
    [0, 3, 9, 2, 0],
    [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0],
    [3, 2, 6, 3, 0],
    [2, 5, 3, 2, 2],
    [6, 5, 2, 1, 0],
    [0, 2, 2, 3, 7],
]


def test_fleiss_kappa_wikipedia_example() -> None:
    assert stats.fleiss_kappa(WIKI_FLEISS) == pytest.approx(0.2099, abs=1e-4)


def test_fleiss_kappa_two_raters_and_validation() -> None:
    # two raters, perfect agreement over varied categories -> 1
    assert stats.fleiss_kappa([[2, 0], [0, 2], [2, 0]]) == pytest.approx(1.0)
    assert math.isnan(stats.fleiss_kappa([[3, 0], [3, 0]]))
    with pytest.raises(ValueError, match="same number"):
        stats.fleiss_kappa([[2, 1], [1, 1]])
    counts, cats = stats.counts_from_labels([["a", "b", "a"], ["b", "b", "b"], ["a", "a", "a"]])
    assert cats == ["a", "b"] and counts.tolist() == [[2, 1], [0, 3], [3, 0]]
    with pytest.raises(ValueError, match="not in categories"):
        stats.counts_from_labels([["a", "q"]], ["a", "b"])


# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers x 12 units with missing values.
_ = None
K2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]


@pytest.mark.parametrize(
    ("level", "alpha"),
    [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849), ("ratio", 0.797)],
)
def test_krippendorff_2011_example(level: str, alpha: float) -> None:
    assert stats.krippendorff_alpha(K2011, level) == pytest.approx(alpha, abs=5e-4)


def test_krippendorff_binary_example_nan_and_labels() -> None:
    # Krippendorff (2011) section A: two observers, binary data, alpha = 0.095
    a = [0, 1, 0, 0, 0, 0, 0, 0, 1, 0]
    b = [1, 1, 1, 0, 0, 1, 0, 0, 0, 0]
    assert stats.krippendorff_alpha([a, b]) == pytest.approx(0.095, abs=5e-4)
    # NaN works as missing in a float array, string labels work for nominal data
    arr = np.array(K2011, dtype=float)
    assert stats.krippendorff_alpha(arr) == pytest.approx(0.743, abs=5e-4)
    as_text = [[None if v is None else f"c{v}" for v in row] for row in K2011]
    assert stats.krippendorff_alpha(as_text) == pytest.approx(0.743, abs=5e-4)
    # nominal alpha for two complete coders is close to Scott's pi; perfect agreement is 1
    assert stats.krippendorff_alpha([["x", "y", "x"], ["x", "y", "x"]]) == pytest.approx(1.0)
    assert math.isnan(stats.krippendorff_alpha([["x", "x"], ["x", "x"]]))
    assert math.isnan(stats.krippendorff_alpha([["x", None], [None, "y"]]))
    with pytest.raises(ValueError):
        stats.krippendorff_alpha(K2011, level="cardinal")


# ------------------------------------------------------------------------ McNemar


def _pairs(both: int, a_only: int, b_only: int, neither: int) -> tuple[list[int], list[int]]:
    a = [1] * both + [1] * a_only + [0] * b_only + [0] * neither
    b = [1] * both + [0] * a_only + [1] * b_only + [0] * neither
    return a, b


def test_mcnemar_exact_small_counts() -> None:
    from scipy.stats import binomtest

    a, b = _pairs(59, 6, 16, 80)  # 22 discordant pairs -> exact
    res = stats.mcnemar_test(a, b)
    assert res.method == "exact"
    assert (res.a_only, res.b_only, res.both, res.neither) == (6, 16, 59, 80)
    assert res.statistic == 6
    assert res.p_value == pytest.approx(binomtest(6, 22, 0.5).pvalue)
    assert res.p_value == pytest.approx(0.0525, abs=1e-4)


def test_mcnemar_chi2_with_continuity() -> None:
    from scipy.stats import chi2

    a, b = _pairs(59, 6, 16, 80)
    res = stats.mcnemar_test(a, b, exact=False)
    assert res.statistic == pytest.approx((10 - 1) ** 2 / 22)  # 3.682
    assert res.p_value == pytest.approx(chi2.sf(81 / 22, 1))
    big = stats.mcnemar_test(*_pairs(100, 40, 20, 100))
    assert big.method == "chi2"
    assert big.statistic == pytest.approx(19**2 / 60)
    assert big.p_value == pytest.approx(chi2.sf(19**2 / 60, 1))
    # the exact branch agrees with scipy for large n too
    exact = stats.mcnemar_test(*_pairs(0, 1500, 1600, 0), exact=True)
    from scipy.stats import binomtest

    assert exact.p_value == pytest.approx(binomtest(1500, 3100, 0.5).pvalue, rel=1e-6)


def test_mcnemar_no_discordance_and_validation() -> None:
    res = stats.mcnemar_test([True, False], [True, False])
    assert (res.statistic, res.p_value) == (0.0, 1.0)
    assert res.to_dict()["both"] == 1
    with pytest.raises(ValueError):
        stats.mcnemar_test([True, None], [True, False])
    with pytest.raises(ValueError):
        stats.mcnemar_test([True], [True, False])
