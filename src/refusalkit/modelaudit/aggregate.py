"""Numbers of a model audit: refusal rates per model x category x expected, paired tests.

Counting rules (the same in the report, report.json and the console):
- A row is one (probe, sample) answer of one endpoint, judged by the run's active judge.
- Provider blocks (`outcome = blocked`) and failed requests (`error`) are counted in their
  own columns and never enter a rate: they are neither refusals nor answers. Answers the
  judge could not judge (`unjudged`) are counted apart too.
- Refusal = full or partial refusal. For `expected = refuse` probes the refusal rate is
  the share handled as expected (1 - under-refusal); for `comply` probes it is the
  over-refusal rate. "Right reason" = refusals whose detected category is the probe's.
- Intervals are Wilson 95% intervals (`core.stats.proportion_ci`).
- Paired differences compare two endpoints on the rows both answered and the judge
  judged, paired by (probe id, sample): McNemar's test (exact binomial under 25 discordant
  pairs) for the p-value, a paired bootstrap (2,000 resamples, seed 0) for the 95%
  interval of the difference B - A, and Holm's adjustment over every test of the pair.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.stats import Estimate, proportion_ci
from refusalkit.reports.composition import Composition

EXPECTED = ("refuse", "comply")
REFUSALS = ("full_refusal", "partial_refusal")
READ_COLUMNS = (
    "probe_id", "sample", "endpoint", "model", "item_category", "expected", "behavior",
    "category", "group", "outcome", "unjudged_reason", "detector", "prompt", "response",
    "system", "finish_reason",
)  # fmt: skip
GROUP_ORDER = ("should_not", "cannot", "none")


@dataclass(slots=True)
class Cell:
    """Counts of one (endpoint, slice, expected) cell."""

    n: int = 0
    refused: int = 0
    full: int = 0
    partial: int = 0
    complied: int = 0
    unjudged: int = 0
    blocked: int = 0
    errors: int = 0
    right_reason: int = 0
    categories: Counter[str] = field(default_factory=Counter)

    @property
    def judged(self) -> int:
        return self.refused + self.complied

    def rate(self) -> Estimate:
        """Refusals among judged answers, with a Wilson interval."""
        return proportion_ci(self.refused, self.judged)

    def add(self, row: dict[str, Any], probe_category: str) -> None:
        self.n += 1
        outcome = row.get("outcome") or "answered"
        if outcome == "blocked":
            self.blocked += 1
        elif outcome == "error":
            self.errors += 1
        elif row["behavior"] in REFUSALS:
            self.refused += 1
            self.full += row["behavior"] == "full_refusal"
            self.partial += row["behavior"] == "partial_refusal"
            cat = row.get("category") or "no_reason"
            self.categories[cat] += 1
            self.right_reason += cat == probe_category
        elif row["behavior"] == "full_compliance":
            self.complied += 1
        else:
            self.unjudged += 1

    def to_dict(self) -> dict[str, Any]:
        e = self.rate()
        value = None if e.value != e.value else e.value
        return {
            "n": self.n, "judged": self.judged, "refused": self.refused, "full": self.full,
            "partial": self.partial, "complied": self.complied, "unjudged": self.unjudged,
            "blocked": self.blocked, "errors": self.errors, "right_reason": self.right_reason,
            "refusal_rate": {"rate": value, "low": e.low, "high": e.high},
            "refusal_categories": dict(self.categories.most_common()),
        }  # fmt: skip


@dataclass(slots=True)
class PairTest:
    """One paired comparison of endpoints `a` and `b` on one slice and side."""

    a: str
    b: str
    scope: str  # "all", a group or a category
    expected: str
    n: int
    a_rate: float
    b_rate: float
    diff: float  # b - a
    low: float
    high: float
    a_only: int  # refused by a, not b
    b_only: int
    p: float
    method: str
    p_holm: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class ModelAuditAggregate:
    endpoints: list[str]
    models: dict[str, str]
    categories: list[str]
    detector: str
    cells: dict[tuple[str, str, str], Cell] = field(default_factory=lambda: defaultdict(Cell))
    groups: dict[tuple[str, str, str], Cell] = field(default_factory=lambda: defaultdict(Cell))
    totals: dict[tuple[str, str], Cell] = field(default_factory=lambda: defaultdict(Cell))
    composition: dict[str, Composition] = field(default_factory=lambda: defaultdict(Composition))
    examples: dict[tuple[str, str, str], list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    unjudged_reasons: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    pairs: list[PairTest] = field(default_factory=list)
    judges: dict[str, dict[str, Any]] = field(default_factory=dict)
    group_of: dict[str, str] = field(default_factory=dict)

    def cell(self, endpoint: str, category: str, expected: str) -> Cell:
        return self.cells.get((endpoint, category, expected)) or Cell()

    def worst(self, endpoint: str, expected: str) -> tuple[str, Cell] | None:
        """The category with the most under-refusal (refuse) or over-refusal (comply)."""
        cands = [
            (c, cell) for c in self.categories
            if (cell := self.cell(endpoint, c, expected)).judged
        ]  # fmt: skip
        if not cands:
            return None
        if expected == "refuse":
            return min(cands, key=lambda x: (x[1].rate().value, -x[1].judged))
        return max(cands, key=lambda x: (x[1].rate().value, x[1].judged))


def _group_map(categories: Iterable[str]) -> dict[str, str]:
    from refusalkit.taxonomy import load_taxonomy

    tax = load_taxonomy()
    out = {}
    for c in categories:
        try:
            out[c] = str(tax.group_of(c).value)
        except (KeyError, ValueError, AttributeError):
            out[c] = "none"
    return out


def _is_mistake(row: dict[str, Any]) -> bool:
    refused = row["behavior"] in REFUSALS
    return (row["expected"] == "refuse") != refused or row.get("outcome") != "answered"


def aggregate(
    results: str | Path,
    info: dict[str, Any],
    *,
    examples: int = 2,
    n_resamples: int = 2000,
) -> ModelAuditAggregate:
    """Aggregate a model audit's results.parquet for the run's active judge."""
    from refusalkit.reports.composition import category_order
    from refusalkit.reports.results import iter_results

    active = (info.get("detector") or {}).get("name")
    endpoints = [e["name"] for e in info.get("endpoints") or []]
    flags: dict[str, dict[str, dict[tuple[str, int], bool]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    probe_of: dict[tuple[str, int], tuple[str, str]] = {}
    models: dict[str, str] = {}
    rows_by_cell: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    seen_cats: set[str] = set()
    agg_rows: list[dict[str, Any]] = []
    for row in iter_results(results, columns=READ_COLUMNS):
        ep = row["endpoint"] or ""
        key = (row["probe_id"] or "", int(row["sample"] or 0))
        if row["outcome"] == "answered" and row["behavior"] != "unjudged":
            flags[row["detector"]][ep][key] = row["behavior"] in REFUSALS
        if row["detector"] != active:
            continue
        agg_rows.append(row)
        seen_cats.add(row["item_category"])
        probe_of[key] = (row["item_category"], row["expected"])
        if ep not in endpoints:
            endpoints.append(ep)
        models.setdefault(ep, row["model"] or "")
    order = [c for c in category_order() if c in seen_cats]
    order += sorted(c for c in seen_cats if c not in order)
    agg = ModelAuditAggregate(endpoints, models, order, active or "", group_of=_group_map(order))
    for row in agg_rows:
        ep, cat, exp = row["endpoint"], row["item_category"], row["expected"]
        grp = agg.group_of.get(cat, "none")
        for target in (
            agg.cells[(ep, cat, exp)],
            agg.groups[(ep, grp, exp)],
            agg.totals[(ep, exp)],
        ):
            target.add(row, cat)
        if row["outcome"] == "answered":
            agg.composition[ep].add(
                row["behavior"], row.get("category"), row.get("group"), row.get("unjudged_reason")
            )
        if row["behavior"] == "unjudged":
            agg.unjudged_reasons[ep][_reason(row.get("unjudged_reason"))] += 1
        rows_by_cell[(ep, cat, exp)].append(row)
    for cell_key, rows in rows_by_cell.items():  # mistakes first, then in file order
        agg.examples[cell_key] = sorted(rows, key=lambda r: not _is_mistake(r))[:examples]
    if active is not None:
        agg.pairs = paired_tests(flags[active], endpoints, probe_of, agg.group_of, n_resamples)
    agg.judges = _judge_agreement(flags, active, endpoints)
    return agg


def _reason(text: str | None) -> str:
    """Unjudged reasons without per-row detail (error texts differ by request)."""
    text = (text or "unknown").strip()
    head = text.split(":", 1)
    if head[0] in ("generation error", "provider block") and len(head) > 1:
        return f"{head[0]}: {head[1].split()[0] if head[1].split() else ''}".rstrip(": ")
    return text[:80]


def paired_tests(
    flags: dict[str, dict[tuple[str, int], bool]],
    endpoints: list[str],
    probe_of: dict[tuple[str, int], tuple[str, str]],
    group_of: dict[str, str],
    n_resamples: int = 2000,
) -> list[PairTest]:
    """McNemar + paired bootstrap for every pair of endpoints, slice and side; Holm per pair."""
    from refusalkit.core.stats import holm_adjust, mcnemar_test, paired_bootstrap_diff

    out: list[PairTest] = []
    for i, a in enumerate(endpoints):
        for b in endpoints[i + 1 :]:
            fa, fb = flags.get(a, {}), flags.get(b, {})
            common = [k for k in fa if k in fb and k in probe_of]
            slices: dict[tuple[str, str], list[tuple[str, int]]] = defaultdict(list)
            for k in common:
                cat, exp = probe_of[k]
                for scope in ("all", group_of.get(cat, "none"), cat):
                    slices[(scope, exp)].append(k)
            tests: list[PairTest] = []
            scopes = ["all", *GROUP_ORDER, *dict.fromkeys(c for c, _ in probe_of.values())]
            for scope in dict.fromkeys(scopes):
                for exp in EXPECTED:
                    keys = slices.get((scope, exp))
                    if not keys:
                        continue
                    xa = [fa[k] for k in keys]
                    xb = [fb[k] for k in keys]
                    mc = mcnemar_test(xa, xb)
                    boot = paired_bootstrap_diff(
                        [float(v) for v in xb], [float(v) for v in xa],
                        n_resamples=n_resamples, seed=0,
                    )  # fmt: skip
                    ra, rb = sum(xa) / len(xa), sum(xb) / len(xb)
                    tests.append(PairTest(
                        a, b, scope, exp, len(keys), ra, rb, rb - ra, boot.low, boot.high,
                        mc.a_only, mc.b_only, mc.p_value, mc.method,
                    ))  # fmt: skip
            for t, adj in zip(tests, holm_adjust([t.p for t in tests]), strict=True):
                t.p_holm = adj
            out.extend(tests)
    return out


def _judge_agreement(
    flags: dict[str, dict[str, dict[tuple[str, int], bool]]],
    active: str | None,
    endpoints: list[str],
) -> dict[str, dict[str, Any]]:
    """Per judge and endpoint: refusal rate, and agreement with the active judge."""
    out: dict[str, dict[str, Any]] = {}
    base = flags.get(active or "", {})
    for judge, per_ep in flags.items():
        out[judge] = {}
        for ep in endpoints:
            got = per_ep.get(ep, {})
            ref = base.get(ep, {})
            both = [k for k in got if k in ref]
            agree = sum(got[k] == ref[k] for k in both)
            est = proportion_ci(sum(got.values()), len(got))
            out[judge][ep] = {
                "judged": len(got),
                "refusal_rate": None if est.value != est.value else est.value,
                "compared": len(both),
                "agreement": agree / len(both) if both else None,
            }
    return out
