"""Refusal composition of a slice of verdicts: counts, rates with Wilson CIs, tables, charts.

A *slice* is whatever a report compares: a dataset, a source file, a turn index, a model,
a probe category. Dataset audits, model audits and the results viewer all describe a
slice the same way — how many exchanges were judged, what share refused (with a
confidence interval), full vs partial, should-not vs cannot, which of the 16
categories — so the counting, the formatting and the charts live here once.

Unjudged exchanges are counted on their own and never enter a rate's denominator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from refusalkit.core.stats import Estimate, proportion_ci
from refusalkit.reports.document import Chart, Table

FULL, PARTIAL, COMPLY, UNJUDGED = "full_refusal", "partial_refusal", "full_compliance", "unjudged"
REFUSALS = (FULL, PARTIAL)
BEHAVIORS = (COMPLY, PARTIAL, FULL)
GROUPS = ("should_not", "cannot", "none")
GROUP_LABELS = {"should_not": "should not", "cannot": "cannot", "none": "no reason given"}


def category_order() -> list[str]:
    """The taxonomy's category ids in order (the 16 of the bundled taxonomy)."""
    from refusalkit.taxonomy import load_taxonomy

    return list(load_taxonomy().ids)


def fmt_pct(x: float | None, digits: int = 1) -> str:
    if x is None or x != x:  # NaN
        return "–"
    return f"{x * 100:.{digits}f}%"


def fmt_estimate(est: Estimate, digits: int = 1) -> str:
    """`12.3% [10.1–14.8]`, or `–` for an empty slice."""
    if est.value != est.value:
        return "–"
    return f"{fmt_pct(est.value, digits)} [{est.low * 100:.{digits}f}–{est.high * 100:.{digits}f}]"


@dataclass
class Composition:
    """Verdict counts of one slice. Category and group counts are over refusals only."""

    behavior: Counter[str] = field(default_factory=Counter)
    group: Counter[str] = field(default_factory=Counter)
    category: Counter[str] = field(default_factory=Counter)
    unjudged_reasons: Counter[str] = field(default_factory=Counter)

    def add(
        self,
        behavior: str,
        category: str | None = None,
        group: str | None = None,
        unjudged_reason: str | None = None,
        n: int = 1,
    ) -> None:
        self.behavior[behavior] += n
        if behavior in REFUSALS:
            self.group[group or "none"] += n
            self.category[category or "no_reason"] += n
        elif behavior == UNJUDGED:
            self.unjudged_reasons[unjudged_reason or "unknown"] += n

    def merge(self, other: Composition) -> Composition:
        self.behavior.update(other.behavior)
        self.group.update(other.group)
        self.category.update(other.category)
        self.unjudged_reasons.update(other.unjudged_reasons)
        return self

    @property
    def total(self) -> int:
        return sum(self.behavior.values())

    @property
    def judged(self) -> int:
        return self.total - self.behavior[UNJUDGED]

    @property
    def unjudged(self) -> int:
        return self.behavior[UNJUDGED]

    @property
    def refusals(self) -> int:
        return self.behavior[FULL] + self.behavior[PARTIAL]

    def refusal_rate(self, confidence: float = 0.95) -> Estimate:
        """Refusals among judged exchanges, with a Wilson interval."""
        return proportion_ci(self.refusals, self.judged, confidence)

    def rate_of(self, count: int, confidence: float = 0.95) -> Estimate:
        """`count` (e.g. one category's refusals) as a share of judged exchanges."""
        return proportion_ci(count, self.judged, confidence)

    def to_dict(self) -> dict[str, Any]:
        """Counts plus rates with intervals: the JSON form used in report.json."""
        rate = self.refusal_rate()
        judged = self.judged

        def est(k: int) -> dict[str, float | int]:
            e = proportion_ci(k, judged)
            return {"n": k, "rate": _num(e.value), "low": e.low, "high": e.high}

        return {
            "total": self.total,
            "judged": judged,
            "unjudged": self.unjudged,
            "refusals": self.refusals,
            "refusal_rate": {"rate": _num(rate.value), "low": rate.low, "high": rate.high},
            "behavior": {b: est(self.behavior[b]) for b in BEHAVIORS},
            "group": {g: est(self.group[g]) for g in GROUPS if self.group[g]},
            "category": {c: est(n) for c, n in self.category.most_common()},
            "unjudged_reasons": dict(self.unjudged_reasons.most_common()),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Composition:
        comp = cls()
        for b, v in (data.get("behavior") or {}).items():
            comp.behavior[b] = int(v["n"])
        comp.behavior[UNJUDGED] = int(data.get("unjudged", 0))
        comp.behavior = +comp.behavior
        comp.group = Counter({g: int(v["n"]) for g, v in (data.get("group") or {}).items()})
        comp.category = Counter({c: int(v["n"]) for c, v in (data.get("category") or {}).items()})
        comp.unjudged_reasons = Counter(data.get("unjudged_reasons") or {})
        return comp


def _num(x: float) -> float | None:
    return None if x != x else x


def top_categories(comp: Composition, n: int = 3) -> str:
    """`privacy 12, modalities 5, ...` over refusals."""
    return ", ".join(f"{c} {k:,}" for c, k in comp.category.most_common(n)) or "–"


def composition_table(
    items: Sequence[tuple[str, Composition]], *, label: str = "slice", caption: str | None = None
) -> Table:
    """One row per slice: judged, refusal rate [CI], full / partial, should-not / cannot."""
    rows = []
    for name, c in items:
        rows.append(
            [
                name,
                f"{c.judged:,}",
                f"{c.refusals:,}",
                fmt_estimate(c.refusal_rate()),
                f"{c.behavior[FULL]:,}",
                f"{c.behavior[PARTIAL]:,}",
                f"{c.group['should_not']:,}",
                f"{c.group['cannot']:,}",
                f"{c.group['none']:,}",
                f"{c.unjudged:,}",
            ]
        )
    return Table(
        columns=[
            label,
            "judged",
            "refusals",
            "refusal rate [95% CI]",
            "full",
            "partial",
            "should not",
            "cannot",
            "no reason",
            "unjudged",
        ],
        rows=rows,
        caption=caption,
        numeric=(1, 2, 4, 5, 6, 7, 8, 9),
    )


def category_table(
    items: Sequence[tuple[str, Composition]], categories: Iterable[str] | None = None
) -> Table:
    """Categories × slices: refusals of each category and their share of all refusals."""
    from refusalkit.taxonomy import load_taxonomy

    tax = load_taxonomy()
    cats = [c for c in (categories or category_order()) if c != "not_refusal"]
    rows = []
    for cat in cats:
        try:
            group = GROUP_LABELS.get(str(tax.group_of(cat).value), "")
        except (KeyError, ValueError, AttributeError):
            group = ""
        cells: list[Any] = [cat, group]
        for _, c in items:
            k = c.category[cat]
            cells.append(f"{k:,} ({fmt_pct(k / c.refusals)})" if k else "0")
        rows.append(cells)
    return Table(
        columns=["category", "group", *[name for name, _ in items]],
        rows=rows,
        caption="Refusals per category (share of the slice's refusals)",
        numeric=tuple(range(2, 2 + len(items))),
    )


def rate_chart(items: Sequence[tuple[str, Composition]], title: str = "Refusal rate") -> Chart:
    """Horizontal bars of the refusal rate with Wilson whiskers."""
    from refusalkit.reports.svg import bar_chart

    labels = [name for name, _ in items]
    ests = [c.refusal_rate() for _, c in items]
    values = [0.0 if e.value != e.value else e.value for e in ests]
    svg = bar_chart(labels, values, title=title, intervals=[(e.low, e.high) for e in ests])
    return Chart(
        svg=svg,
        alt=f"{title}, with 95% Wilson intervals",
        data={
            n: {"rate": _num(e.value), "low": e.low, "high": e.high}
            for n, e in zip(labels, ests, strict=True)
        },
    )


def behavior_chart(
    items: Sequence[tuple[str, Composition]], title: str = "Behaviour split"
) -> Chart:
    """100%-stacked bars: compliance / partial / full refusal (+ unjudged) per slice."""
    from refusalkit.reports.svg import stacked_bars

    segs = [*BEHAVIORS, UNJUDGED]
    values = [[float(c.behavior[s]) for s in segs] for _, c in items]
    svg = stacked_bars([n for n, _ in items], segs, values, title=title)
    return Chart(
        svg=svg,
        alt=title,
        data={n: dict(zip(segs, v, strict=True)) for (n, _), v in zip(items, values, strict=True)},
    )


def group_chart(
    items: Sequence[tuple[str, Composition]], title: str = "Refusals: should not vs cannot"
) -> Chart:
    from refusalkit.reports.svg import stacked_bars

    values = [[float(c.group[g]) for g in GROUPS] for _, c in items]
    labels = [GROUP_LABELS[g] for g in GROUPS]
    svg = stacked_bars([n for n, _ in items], labels, values, title=title)
    return Chart(
        svg=svg,
        alt=title,
        data={
            n: dict(zip(GROUPS, v, strict=True)) for (n, _), v in zip(items, values, strict=True)
        },
    )


def category_heatmap(
    items: Sequence[tuple[str, Composition]], title: str = "Share of refusals by category"
) -> Chart:
    """Slices × categories; each cell is the category's share of the slice's refusals."""
    from refusalkit.reports.svg import heatmap

    cats = [c for c in category_order() if c != "not_refusal"]
    values = [
        [(c.category[k] / c.refusals) if c.refusals else None for k in cats] for _, c in items
    ]
    svg = heatmap([n for n, _ in items], cats, values, title=title)
    return Chart(
        svg=svg,
        alt=title,
        data={n: dict(zip(cats, v, strict=True)) for (n, _), v in zip(items, values, strict=True)},
    )
