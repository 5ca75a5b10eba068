"""Inter-rater agreement: Cohen's and Fleiss' kappa, Krippendorff's alpha.

Split from `core.stats` (which re-exports these names) because annotation projects and
`evaluate` use them on their own. Conventions are documented in `core.stats`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from refusalkit.core.classification import (
    _as_list,
    _encode,
    _labels,
    _missing,
    _safe_div,
    confusion_matrix,
)


def percent_agreement(a: Any, b: Any) -> float:
    """Share of items two annotators labelled identically (pairs with a missing label dropped)."""
    pairs = [
        (x, y)
        for x, y in zip(_as_list(a), _as_list(b), strict=True)
        if not (_missing(x) or _missing(y))
    ]
    return sum(x == y for x, y in pairs) / len(pairs) if pairs else float("nan")


def cohen_kappa(
    a: Any, b: Any, labels: Sequence[Any] | None = None, weights: str | None = None
) -> float:
    """Cohen's kappa between two annotators (optionally "linear"/"quadratic" weighted).

    Pairs where either label is missing, or not in `labels`, are dropped (as
    scikit-learn's `cohen_kappa_score`). Returns NaN when agreement beyond chance is
    undefined: no pairs, or both annotators always used one and the same label.
    """
    cm = confusion_matrix(a, b, labels).astype(float)
    k = cm.shape[0]
    total = cm.sum()
    if total == 0:
        return float("nan")
    i, j = np.indices((k, k))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "linear":
        w = np.abs(i - j).astype(float)
    elif weights == "quadratic":
        w = ((i - j) ** 2).astype(float)
    else:
        raise ValueError(f"weights must be None, 'linear' or 'quadratic', not {weights!r}")
    expected = np.outer(cm.sum(axis=1), cm.sum(axis=0)) / total
    denom = (w * expected).sum()
    return float(1.0 - (w * cm).sum() / denom) if denom > 0 else float("nan")


def counts_from_labels(
    labels_by_item: Any, categories: Sequence[Any] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """Turn an items x raters table of labels (None = not rated) into Fleiss counts.

    Returns `(counts, categories)` with `counts[i, j]` = raters who gave item i
    category j.
    """
    rows = [_as_list(r) for r in _as_list(labels_by_item)]
    cats = list(categories) if categories is not None else _labels(*rows)
    counts = np.zeros((len(rows), len(cats)), dtype=np.int64)
    for i, row in enumerate(rows):
        codes = _encode(row, cats)
        unknown = [v for v, c in zip(row, codes, strict=True) if c < 0 and not _missing(v)]
        if unknown:
            raise ValueError(f"item {i} has labels not in categories: {unknown[:5]}")
        counts[i] = np.bincount(codes[codes >= 0], minlength=len(cats))
    return counts, cats


def fleiss_kappa(ratings: Any) -> float:
    """Fleiss' kappa from an items x categories matrix of rating counts.

    Every item must have the same number (>= 2) of ratings; for varying numbers of
    raters or missing ratings use `krippendorff_alpha`. NaN when every rating falls in
    one category (chance agreement is 1).
    """
    counts = np.asarray(ratings, dtype=float)
    if counts.ndim != 2 or counts.shape[0] == 0:
        raise ValueError("ratings must be a non-empty items x categories matrix")
    if np.any(counts < 0):
        raise ValueError("rating counts must be non-negative")
    per_item = counts.sum(axis=1)
    m = per_item[0]
    if m < 2 or np.any(per_item != m):
        raise ValueError(
            "every item needs the same number (>= 2) of ratings; "
            f"found {sorted(set(per_item.astype(int).tolist()))[:10]} (use krippendorff_alpha)"
        )
    p_j = counts.sum(axis=0) / counts.sum()
    p_i = ((counts**2).sum(axis=1) - m) / (m * (m - 1))
    p_bar, p_e = p_i.mean(), float((p_j**2).sum())
    return float((p_bar - p_e) / (1.0 - p_e)) if p_e < 1.0 else float("nan")


_LEVELS = ("nominal", "ordinal", "interval", "ratio")


def krippendorff_alpha(reliability_data: Any, level: str = "nominal") -> float:
    """Krippendorff's alpha for an annotators x items table; None/NaN mark missing values.

    Works with any number of annotators and missing data; items with fewer than two
    values are not pairable and are ignored. `level`: nominal (any hashable labels),
    ordinal (sortable values), interval or ratio (numbers). Returns NaN when there is no
    variation at all (expected disagreement 0) or fewer than two pairable values.
    Follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability".
    """
    if level not in _LEVELS:
        raise ValueError(f"level must be one of {', '.join(_LEVELS)}, not {level!r}")
    rows = [_as_list(r) for r in _as_list(reliability_data)]
    if not rows or len({len(r) for r in rows}) != 1:
        raise ValueError("reliability_data must be annotators x items with equal-length rows")
    values = _labels(*rows)
    if level in ("interval", "ratio"):
        values = sorted({float(v) for v in values})
        rows = [[None if _missing(v) else float(v) for v in r] for r in rows]
    codes = np.array([_encode(r, values) for r in rows])  # annotators x items, -1 = missing
    n_items, v = codes.shape[1], len(values)
    unit, code = np.nonzero(codes.T >= 0)[0], codes.T[codes.T >= 0]
    n_uc = np.bincount(unit * v + code, minlength=n_items * v).reshape(n_items, v).astype(float)
    m_u = n_uc.sum(axis=1)
    n_uc, m_u = n_uc[m_u >= 2], m_u[m_u >= 2]
    if n_uc.size == 0:
        return float("nan")
    weighted = n_uc / (m_u - 1)[:, None]
    o = weighted.T @ n_uc - np.diag(weighted.sum(axis=0))  # coincidence matrix
    n_c = o.sum(axis=0)
    n = n_c.sum()
    if level == "nominal":
        d2 = 1.0 - np.eye(v)
    elif level == "ordinal":
        mid = np.cumsum(n_c) - n_c / 2.0  # midranks: only the order of values matters
        d2 = np.subtract.outer(mid, mid) ** 2
    else:
        vals = np.asarray(values, dtype=float)
        d2 = np.subtract.outer(vals, vals)
        if level == "ratio":
            d2 = _safe_div(d2, np.add.outer(vals, vals))
        d2 = d2**2
    expected = (np.outer(n_c, n_c) * d2).sum()
    if n <= 1 or expected <= 0:
        return float("nan")
    return float(1.0 - (n - 1) * (o * d2).sum() / expected)
