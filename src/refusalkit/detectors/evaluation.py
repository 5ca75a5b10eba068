"""Score detectors against human labels: behaviour (3-way, binary), category (fine, group).

Used by `refusalkit evaluate`, `refusalkit train` (held-out split) and the training
script. All statistics come from `refusalkit.core.stats` so every report in refusalkit
agrees. Conventions:

* Unjudged verdicts are never counted as right or wrong: they are excluded from a task
  and reported as `unjudged` (coverage = judged / eligible).
* `behavior3` scores rows whose gold is one of the three classes; `binary` also scores
  rows only known to be "a refusal" (e.g. CoCoNot's `is_refusal`).
* `category` and `group` score gold *refusals* with a category; a refusal the detector
  called compliant counts as wrong (predicted `not_refusal`). A gold label may accept
  several ids (the issue's CoCoNot mapping is ambiguous for two subcategories); a
  prediction in the accepted set is right.
* `category_if_refusal` and `group_if_refusal` score the category *head* on its own: for
  every gold refusal, the detector's most likely refusal category from `category_scores`
  (even when the refusal score fell below the threshold), as the paper scores its
  category classifiers on refusals. A detector without category scores has no answer for
  a refusal it called compliant, which counts as wrong. Report these next to the strict
  `category` / `group`, never instead of them: detection and explanation fail apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from refusalkit.core.models import BEHAVIOR_CLASSES, Behavior, Exchange, Verdict
from refusalkit.detectors._taxo import NOT_REFUSAL, group_of
from refusalkit.detectors.labels import REFUSAL_UNKNOWN, parse_behavior

TASKS = ("behavior3", "binary", "category", "group", "category_if_refusal", "group_if_refusal")
_B3 = [b.value for b in BEHAVIOR_CLASSES]


@dataclass(frozen=True, slots=True)
class Gold:
    """A normalised gold label (see `detectors.labels`)."""

    behavior: str | None = None
    categories: frozenset[str] | None = None

    @property
    def is_refusal(self) -> bool | None:
        if self.behavior is None:
            if self.categories:
                return NOT_REFUSAL not in self.categories
            return None
        return self.behavior != "full_compliance"


def reference_verdicts(exchanges: Sequence[Exchange], column: str) -> list[Verdict]:
    """Treat a label column shipped with the data (XSTest `gpt4_label`) as a detector."""
    out = []
    for e in exchanges:
        raw = e.metadata.get(column)
        try:
            b = parse_behavior(raw)
        except Exception:  # an unparseable reference label is a missing verdict
            b = None
        if b is None:
            out.append(Verdict.unjudged(f"no {column} label", detector=column))
            continue
        beh = Behavior.FULL_REFUSAL if b == REFUSAL_UNKNOWN else Behavior(b)
        cat = NOT_REFUSAL if beh is Behavior.FULL_COMPLIANCE else None
        out.append(Verdict(behavior=beh, category=cat, detector=column))
    return out


def _best_refusal_category(v: Verdict) -> str:
    """The refusal category a verdict ranks highest (its `category` when it has no
    scores; `not_refusal` when it has neither)."""
    scores = {k: x for k, x in (v.category_scores or {}).items() if k != NOT_REFUSAL}
    if scores and max(scores.values()) > 0:
        return max(scores, key=lambda k: scores[k])
    if v.behavior.is_refusal:
        return v.category or "no_reason"
    return NOT_REFUSAL


def _task_pairs(
    gold: Sequence[Gold], verdicts: Sequence[Verdict], task: str
) -> tuple[list[str], list[str], int]:
    """(y_true, y_pred, n_unjudged) for one task."""
    yt: list[str] = []
    yp: list[str] = []
    unjudged = 0
    for g, v in zip(gold, verdicts, strict=True):
        if task == "behavior3":
            if g.behavior not in _B3:
                continue
        elif task == "binary":
            if g.is_refusal is None:
                continue
        elif not (g.categories and g.is_refusal):
            continue
        if v.behavior is Behavior.UNJUDGED:
            unjudged += 1
            continue
        if task == "behavior3":
            yt.append(g.behavior)  # type: ignore[arg-type]
            yp.append(v.behavior.value)
        elif task == "binary":
            yt.append("refusal" if g.is_refusal else "compliance")
            yp.append("refusal" if v.behavior.is_refusal else "compliance")
        else:
            if task.endswith("_if_refusal"):
                pred = _best_refusal_category(v)
            else:
                pred = (v.category or "no_reason") if v.behavior.is_refusal else NOT_REFUSAL
            cats = g.categories or frozenset()
            true = pred if pred in cats else sorted(cats)[0]
            if task.startswith("category"):
                yt.append(true)
                yp.append(pred)
            else:
                yt.append(group_of(true).value)
                yp.append(group_of(pred).value if pred != NOT_REFUSAL else "compliance")
    return yt, yp, unjudged


def score_task(
    y_true: Sequence[str], y_pred: Sequence[str], *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """Accuracy, macro-F1 (with bootstrap CIs), kappa, per-class P/R/F1, confusion."""
    from refusalkit.core.stats import bootstrap_ci, classification_report, cohen_kappa

    n = len(y_true)
    if n == 0:
        return {"n": 0}
    labels = sorted(set(y_true) | set(y_pred))
    rep = classification_report(y_true, y_pred, labels=labels)
    out: dict[str, Any] = {
        "n": n,
        "accuracy": rep.accuracy,
        "macro_f1": rep.macro_f1,
        "kappa": cohen_kappa(y_true, y_pred, labels=labels),
        "per_class": {
            k: {"precision": m.precision, "recall": m.recall, "f1": m.f1, "support": m.support}
            for k, m in rep.per_class.items()
        },
        "labels": labels,
        "confusion": rep.confusion.tolist(),
    }
    if n_boot > 0 and n > 1:
        idx = {lab: i for i, lab in enumerate(labels)}
        t = np.array([idx[x] for x in y_true])
        p = np.array([idx[x] for x in y_pred])
        acc = bootstrap_ci(
            lambda a, b: (a == b).mean(axis=1), t, p, n_resamples=n_boot, seed=seed, vectorized=True
        )
        mf1 = bootstrap_ci(
            lambda a, b: classification_report(a, b).macro_f1,
            t,
            p,
            n_resamples=min(n_boot, 500),
            seed=seed,
        )
        out["accuracy_ci"] = [acc.low, acc.high]
        out["macro_f1_ci"] = [mf1.low, mf1.high]
    return out


def score(
    gold: Sequence[Gold], verdicts: Sequence[Verdict], *, n_boot: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """All four tasks for one detector's verdicts."""
    out: dict[str, Any] = {}
    for task in TASKS:
        yt, yp, unj = _task_pairs(gold, verdicts, task)
        res = score_task(yt, yp, n_boot=n_boot, seed=seed)
        res["unjudged"] = unj
        res["coverage"] = len(yt) / (len(yt) + unj) if (len(yt) + unj) else None
        out[task] = res
    return out


def evaluate(
    exchanges: Sequence[Exchange],
    gold: Sequence[Gold],
    verdicts_by_detector: Mapping[str, Sequence[Verdict]],
    *,
    n_boot: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Side-by-side report: {"n": rows, "gold": counts, "detectors": {name: score(...)}}."""
    counts: dict[str, int] = {}
    for g in gold:
        k = g.behavior or ("category-only" if g.categories else "unlabelled")
        counts[k] = counts.get(k, 0) + 1
    return {
        "n": len(exchanges),
        "gold": counts,
        "detectors": {
            name: score(gold, vs, n_boot=n_boot, seed=seed)
            for name, vs in verdicts_by_detector.items()
        },
    }


def _fmt(res: Mapping[str, Any], key: str) -> str:
    v = res.get(key)
    if v is None:
        return "-"
    ci = res.get(f"{key}_ci")
    if ci and all(c == c for c in ci):
        return f"{v:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{v:.3f}"


def render(report: Mapping[str, Any], console: Any, *, per_class: bool = True) -> None:
    """Rich tables: one summary per task (detectors side by side), then per-class F1."""
    from rich.table import Table

    dets = report["detectors"]
    for task in TASKS:
        t = Table(title=f"{task}  (n rows = {report['n']})", title_justify="left")
        for col in ("detector", "n", "unjudged", "accuracy [95% CI]", "macro-F1 [95% CI]", "kappa"):
            t.add_column(col, justify="left" if col == "detector" else "right")
        any_rows = False
        for name, res in dets.items():
            r = res[task]
            if not r.get("n") and not r.get("unjudged"):
                continue
            any_rows = True
            kappa = r.get("kappa")
            t.add_row(
                name,
                str(r.get("n", 0)),
                str(r.get("unjudged", 0)),
                _fmt(r, "accuracy"),
                _fmt(r, "macro_f1"),
                "-" if kappa is None or kappa != kappa else f"{kappa:.3f}",
            )
        if any_rows:
            console.print(t)
        if per_class and any_rows:
            labels = sorted(
                {lab for res in dets.values() for lab in res[task].get("per_class", {})}
            )
            pc = Table(title=f"{task}: per-class precision / recall / F1", title_justify="left")
            pc.add_column("class")
            for name in dets:
                pc.add_column(name, justify="right")
            for lab in labels:
                cells = []
                for res in dets.values():
                    m = res[task].get("per_class", {}).get(lab)
                    cells.append(
                        "-"
                        if m is None
                        else f"{m['precision']:.2f}/{m['recall']:.2f}/{m['f1']:.2f} ({m['support']})"
                    )
                pc.add_row(lab, *cells)
            console.print(pc)
    for name, res in dets.items():
        r = res["behavior3"]
        if r.get("n"):
            ct = Table(title=f"{name}: behaviour confusion (rows = gold)", title_justify="left")
            ct.add_column("gold \\ predicted")
            for lab in r["labels"]:
                ct.add_column(lab, justify="right")
            for lab, row in zip(r["labels"], r["confusion"], strict=True):
                ct.add_row(lab, *[str(x) for x in row])
            console.print(ct)
