"""Classification metrics: confusion matrix, accuracy, per-class and averaged P/R/F1.

Split out of `core.stats` (which re-exports everything here) so each module stays small;
the conventions (missing labels, zero division, macro averages) are in `core.stats`'s
docstring. The value helpers at the top are shared with `core.stats` and
`core.agreement`; this module imports neither, so there is no import cycle.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


def _missing(v: Any) -> bool:
    return v is None or (isinstance(v, float | np.floating) and math.isnan(v))


def _as_list(values: Iterable[Any]) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def _labels(*seqs: list[Any]) -> list[Any]:
    """Sorted distinct non-missing values (first-seen order if they do not sort)."""
    seen = [v for v in dict.fromkeys(itertools.chain.from_iterable(seqs)) if not _missing(v)]
    try:
        return sorted(seen)
    except TypeError:
        return seen


def _encode(values: list[Any], labels: Sequence[Hashable]) -> np.ndarray:
    """Index of each value in `labels`; -1 for missing or unknown values (C-speed lookup)."""
    index = {lab: i for i, lab in enumerate(labels) if not _missing(lab)}
    if len(index) != len(labels):
        raise ValueError(f"labels must be distinct and not missing: {list(labels)}")
    codes = map(index.get, values, itertools.repeat(-1))
    return np.fromiter(codes, dtype=np.intp, count=len(values))


def _pair(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None
) -> tuple[np.ndarray, np.ndarray, list[Any]]:
    t, p = _as_list(y_true), _as_list(y_pred)
    if len(t) != len(p):
        raise ValueError(f"y_true has {len(t)} rows but y_pred has {len(p)}")
    names = list(labels) if labels is not None else _labels(t, p)
    return _encode(t, names), _encode(p, names), names


def confusion_matrix(y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None) -> np.ndarray:
    """Counts `C[i, j]` of rows with true label `labels[i]` predicted as `labels[j]`.

    As scikit-learn: rows whose true or predicted value is not in `labels` (or is
    missing) are not counted. `labels` defaults to the sorted union of both sequences.
    """
    t, p, labels = _pair(y_true, y_pred, labels)
    k = len(labels)
    ok = (t >= 0) & (p >= 0)
    return np.bincount(t[ok] * k + p[ok], minlength=k * k).reshape(k, k).astype(np.int64)


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    precision: float
    recall: float
    f1: float
    support: int  # rows with this true label
    predicted: int  # rows predicted as this label


@dataclass(frozen=True)
class ClassificationReport:
    """Accuracy, per-class and averaged precision/recall/F1 (conventions: module docstring).

    `n` rows were scored (true label in `labels`); `n_excluded` rows were not (missing
    or unknown true label). Predictions outside `labels` count as errors
    (`n_pred_outside`) but have no column in `confusion`.
    """

    labels: list[Any]
    n: int
    accuracy: float
    per_class: dict[Any, ClassMetrics]
    macro_precision: float
    macro_recall: float
    macro_f1: float
    weighted_precision: float
    weighted_recall: float
    weighted_f1: float
    macro_labels: list[Any]
    confusion: np.ndarray = field(repr=False)
    n_excluded: int = 0
    n_pred_outside: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (labels become strings in `per_class`)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["per_class"] = {str(k): asdict(v) for k, v in self.per_class.items()}
        out["confusion"] = self.confusion.tolist()
        return out


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def classification_report(
    y_true: Any, y_pred: Any, labels: Sequence[Any] | None = None
) -> ClassificationReport:
    """Accuracy and precision/recall/F1 per class, macro- and support-weighted averages.

    Matches scikit-learn's `precision_recall_fscore_support(..., zero_division=0)` with
    `labels` restricted to the labels present, without its warnings. F1 is computed as
    2TP / (2TP + FP + FN), which is 0 when TP is 0.
    """
    t, p, labels = _pair(y_true, y_pred, labels)
    k = len(labels)
    scored = t >= 0
    t, p = t[scored], p[scored]
    n = int(t.size)
    inside = p >= 0
    cm = np.bincount(t[inside] * k + p[inside], minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    support = np.bincount(t, minlength=k)
    predicted = cm.sum(axis=0)
    precision = _safe_div(tp, predicted.astype(float))
    recall = _safe_div(tp, support.astype(float))
    f1 = _safe_div(2 * tp, (support + predicted).astype(float))
    present = (support + predicted) > 0
    nan = float("nan")

    def avg(x: np.ndarray, w: np.ndarray | None = None) -> float:
        if w is None:
            return float(x[present].mean()) if present.any() else nan
        return float((x * w).sum() / w.sum()) if w.sum() > 0 else nan

    return ClassificationReport(
        labels=labels,
        n=n,
        accuracy=float(tp.sum() / n) if n else nan,
        per_class={
            lab: ClassMetrics(
                float(precision[i]),
                float(recall[i]),
                float(f1[i]),
                int(support[i]),
                int(predicted[i]),
            )
            for i, lab in enumerate(labels)
        },
        macro_precision=avg(precision),
        macro_recall=avg(recall),
        macro_f1=avg(f1),
        weighted_precision=avg(precision, support),
        weighted_recall=avg(recall, support),
        weighted_f1=avg(f1, support),
        macro_labels=[lab for lab, keep in zip(labels, present, strict=True) if keep],
        confusion=cm.astype(np.int64),
        n_excluded=int((~scored).sum()),
        n_pred_outside=int((~inside).sum()),
    )
