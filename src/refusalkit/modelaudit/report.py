"""The model audit report (HTML, Markdown, JSON) built from a run folder's results.

Rendering never calls a model or a judge: `render(run_dir, info)` aggregates
results.parquet for the run's active judge (`run.json` "detector") and writes
report.html/.md/.json through `refusalkit.reports`, which escapes every piece of model
text. `refusalkit report RUN_DIR` reaches it through `reports.results.RENDERERS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from refusalkit.modelaudit.aggregate import EXPECTED, GROUP_ORDER, Cell, ModelAuditAggregate
from refusalkit.reports import Chart, Example, Examples, Report, Table, Text
from refusalkit.reports.composition import GROUP_LABELS, category_order, fmt_estimate, fmt_pct

SIDE = {"refuse": "should refuse", "comply": "should answer"}


def render(run_dir: Path, info: dict[str, Any]) -> dict[str, Path]:
    from refusalkit.modelaudit.aggregate import aggregate
    from refusalkit.reports import write_report
    from refusalkit.reports.results import results_path

    agg = aggregate(results_path(run_dir), info, examples=int(info.get("examples", 2)))
    return write_report(build_report(agg, info), run_dir)


def _rate(cell: Cell) -> str:
    return f"{fmt_estimate(cell.rate())} ({cell.refused}/{cell.judged})" if cell.judged else "–"


def _as_expected(agg: ModelAuditAggregate, ep: str) -> str:
    r, c = agg.totals.get((ep, "refuse")) or Cell(), agg.totals.get((ep, "comply")) or Cell()
    from refusalkit.core.stats import proportion_ci

    ok, n = r.refused + c.complied, r.judged + c.judged
    return f"{fmt_estimate(proportion_ci(ok, n))} ({ok}/{n})" if n else "–"


def _worst(agg: ModelAuditAggregate, ep: str, expected: str) -> str:
    w = agg.worst(ep, expected)
    if w is None:
        return "–"
    cat, cell = w
    return f"{cat} {fmt_pct(cell.rate().value, 0)} ({cell.refused}/{cell.judged})"


def summary_rows(agg: ModelAuditAggregate, info: dict[str, Any]) -> list[dict[str, Any]]:
    """Per endpoint: the numbers of the console table and the report's first table."""
    systems = {e["name"]: e.get("system") for e in info.get("endpoints") or []}
    out = []
    for ep in agg.endpoints:
        tot = {x: agg.totals.get((ep, x)) or Cell() for x in EXPECTED}
        grp = {
            g: {x: agg.groups.get((ep, g, x)) or Cell() for x in EXPECTED}
            for g in GROUP_ORDER
            if any((ep, g, x) in agg.groups for x in EXPECTED)
        }
        out.append({
            "endpoint": ep, "model": agg.models.get(ep, ""), "operator": bool(systems.get(ep)),
            "totals": tot, "groups": grp,
            "blocked": sum(c.blocked for c in tot.values()),
            "errors": sum(c.errors for c in tot.values()),
            "unjudged": sum(c.unjudged for c in tot.values()),
            "worst_under": _worst(agg, ep, "refuse"), "worst_over": _worst(agg, ep, "comply"),
        })  # fmt: skip
    return out


def _heat(agg: ModelAuditAggregate, expected: str, title: str) -> Chart:
    from refusalkit.reports.svg import heatmap

    values = []
    for ep in agg.endpoints:
        row = []
        for cat in agg.categories:
            cell = agg.cell(ep, cat, expected)
            row.append(cell.rate().value if cell.judged else None)
        values.append(row)
    return Chart(
        svg=heatmap(agg.endpoints, agg.categories, values, title=title),
        alt=title,
        data={
            ep: dict(zip(agg.categories, v, strict=True))
            for ep, v in zip(agg.endpoints, values, strict=True)
        },
    )


def build_report(agg: ModelAuditAggregate, info: dict[str, Any]) -> Report:
    suite = info.get("suite") or {}
    det = info.get("detector") or {}
    eps = ", ".join(agg.endpoints) or "(none)"
    report = Report(
        title=f"Model audit: {eps}",
        subtitle=(
            f"{suite.get('selected', '?')} probes of suite {suite.get('name', '?')} · "
            f"{info.get('samples', 1)} sample(s) · judge {det.get('name', '?')} "
            f"{det.get('version', '')} · {info.get('created', '')}"
        ),
    )
    rows = summary_rows(agg, info)
    sec = report.section("Summary")
    sec.add(Text(
        "Each probe should either be refused (expected: refuse) or answered (expected: "
        "comply). 'Should refuse: refused' is the share of harmful or impossible requests "
        "the model declined (higher is better; 1 minus it is under-refusal); 'should answer: "
        "refused' is the over-refusal rate on matched benign requests (lower is better). "
        "Provider blocks and request errors are counted apart and never as refusals. "
        "Intervals are Wilson 95% intervals."
    ))  # fmt: skip
    sec.add(Table(
        columns=["endpoint", "model", "operator prompt", "should refuse: refused [95% CI]",
                 "right reason", "should answer: refused [95% CI]", "as expected [95% CI]",
                 "blocked", "errors", "unjudged"],
        rows=[[r["endpoint"], r["model"], "yes" if r["operator"] else "no",
               _rate(r["totals"]["refuse"]), str(r["totals"]["refuse"].right_reason),
               _rate(r["totals"]["comply"]), _as_expected(agg, r["endpoint"]),
               str(r["blocked"]), str(r["errors"]), str(r["unjudged"])] for r in rows],
        caption="Refusal rates per model", numeric=(4, 7, 8, 9),
    ))  # fmt: skip
    sec.add(Table(
        columns=["endpoint", "probe group", "should refuse: refused", "should answer: refused"],
        rows=[[r["endpoint"], GROUP_LABELS.get(g, g), _rate(c["refuse"]), _rate(c["comply"])]
              for r in rows for g, c in r["groups"].items()],
        caption="By group of the probe's category (should not / cannot)",
    ))  # fmt: skip
    sec.add(Table(
        columns=["endpoint", "worst under-refusal (should refuse, lowest)",
                 "worst over-refusal (should answer, highest)"],
        rows=[[r["endpoint"], r["worst_under"], r["worst_over"]] for r in rows],
    ))  # fmt: skip

    prof = report.section("Refusal profile")
    prof.add(_heat(agg, "refuse", "Should refuse: refusal rate by category"))
    prof.add(_heat(agg, "comply", "Should answer: refusal (over-refusal) rate by category"))
    from refusalkit.reports.composition import category_heatmap, category_table

    comps = [(ep, agg.composition[ep]) for ep in agg.endpoints if ep in agg.composition]
    if comps:
        prof.add(category_heatmap(comps, title="Reasons the judge found: share of refusals"))
        # the same counts as a table, so the Markdown report shows e.g. how many
        # chain_of_command refusals an operator prompt added
        found = [c for c in category_order() if any(comp.category[c] for _, comp in comps)]
        if found:
            prof.add(category_table(comps, found))

    cats = report.section("Per category")
    for ep in agg.endpoints:
        cats.add(_category_table(agg, ep))
    if len(agg.endpoints) > 1:
        _pairs_section(report, agg)
    systems = [(e["name"], e["system"]) for e in info.get("endpoints") or [] if e.get("system")]
    if systems:
        report.section("Operator system prompts").add(Table(
            columns=["endpoint", "system prompt sent with every probe that has none of its own"],
            rows=[list(s) for s in systems],
        ))  # fmt: skip
    _examples_section(report, agg)
    _errors_section(report, agg)
    if len(agg.judges) > 1:
        report.section("Judges").add(Table(
            columns=["judge", "endpoint", "judged", "refusal rate", "agreement with " + agg.detector],
            rows=[[j, ep, str(v["judged"]), fmt_pct(v["refusal_rate"]),
                   f"{fmt_pct(v['agreement'])} of {v['compared']}"]
                  for j, per in agg.judges.items() for ep, v in per.items()],
            caption="Every judge of this run (re-scoring adds one); the report shows the last",
        ))  # fmt: skip
    report.data = _data(agg, info, rows)
    return report


def _category_table(agg: ModelAuditAggregate, ep: str) -> Table:
    out = []
    for cat in agg.categories:
        r, c = agg.cell(ep, cat, "refuse"), agg.cell(ep, cat, "comply")
        out.append([
            cat, GROUP_LABELS.get(agg.group_of.get(cat, ""), ""), _rate(r),
            f"{r.right_reason}/{r.refused}" if r.refused else "–", _rate(c),
            str(r.blocked + c.blocked), str(r.errors + c.errors), str(r.unjudged + c.unjudged),
        ])  # fmt: skip
    return Table(
        columns=["category", "group", "should refuse: refused [95% CI]", "right reason",
                 "should answer: refused [95% CI]", "blocked", "errors", "unjudged"],
        rows=out, caption=f"{ep}: expected vs actual per category", numeric=(5, 6, 7),
    )  # fmt: skip


def _pairs_section(report: Report, agg: ModelAuditAggregate) -> None:
    sec = report.section("Model differences (paired)")
    sec.add(Text(
        "Both models answered the same probes (and samples); each row compares their refusal "
        "rates on the probes both answered and the judge judged. Difference = B − A in "
        "percentage points with a paired-bootstrap 95% interval; p from McNemar's test on the "
        "discordant pairs (A only / B only refused), Holm-adjusted over every row of the pair; "
        "significant = adjusted p < 0.05."
    ))  # fmt: skip
    pairs: dict[tuple[str, str], list[Any]] = {}
    for t in agg.pairs:
        pairs.setdefault((t.a, t.b), []).append(t)
    for (a, b), tests in pairs.items():
        sec.add(Table(
            columns=["slice", "side", "pairs", f"A = {a}", f"B = {b}", "B − A [95% CI]",
                     "A only / B only", "p (McNemar)", "p (Holm)", "significant"],
            rows=[[GROUP_LABELS.get(t.scope, t.scope) if t.scope in GROUP_ORDER else t.scope,
                   SIDE[t.expected], str(t.n), fmt_pct(t.a_rate), fmt_pct(t.b_rate),
                   f"{t.diff * 100:+.1f} pp [{t.low * 100:+.1f}, {t.high * 100:+.1f}]",
                   f"{t.a_only} / {t.b_only}", f"{t.p:.3g}", f"{t.p_holm:.3g}",
                   "yes" if t.p_holm < 0.05 else "no"] for t in tests],
            caption=f"{b} vs {a}", numeric=(2, 7, 8),
        ))  # fmt: skip


def _examples_section(report: Report, agg: ModelAuditAggregate) -> None:
    sec = report.section("Example responses")
    sec.add(Text(
        "Per category and model, up to the run's --examples answers of each side, mistakes "
        "(under- and over-refusals, blocks, errors) first. Model text is shown verbatim "
        "(escaped)."
    ))  # fmt: skip
    for cat in agg.categories:
        items = []
        for ep in agg.endpoints:
            for exp in EXPECTED:
                for row in agg.examples.get((ep, cat, exp), []):
                    items.append(_example(ep, cat, exp, row))
        if items:
            sec.add(Text(f"{cat}"), Examples(items, max_chars=500))


def _example(ep: str, cat: str, exp: str, row: dict[str, Any]) -> Example:
    prompt = row.get("prompt") or ""
    if row.get("system"):
        prompt = f"[system] {row['system']}\n\n[user] {prompt}"
    outcome = row.get("outcome") or "answered"
    verdict = row.get("behavior") if outcome == "answered" else outcome
    response = row.get("response") or ""
    if outcome != "answered":
        response = response or f"({row.get('unjudged_reason') or outcome})"
    labels = {"expected": exp, "verdict": verdict or "", "probe": row.get("probe_id") or ""}
    if row.get("behavior") in ("full_refusal", "partial_refusal"):
        labels["reason found"] = row.get("category") or "no_reason"
    if row.get("sample"):
        labels["sample"] = str(row["sample"])
    return Example(
        title=f"{ep} · {cat} · {SIDE[exp]}", prompt=prompt, response=response, labels=labels
    )


def _errors_section(report: Report, agg: ModelAuditAggregate) -> None:
    rows = [
        [ep, reason, str(n)]
        for ep in agg.endpoints
        for reason, n in sorted(agg.unjudged_reasons.get(ep, {}).items(), key=lambda x: -x[1])
    ]
    sec = report.section("Provider blocks, errors and unjudged answers")
    if not rows:
        sec.add(Text("None: every request was answered and judged."))
        return
    sec.add(Table(columns=["endpoint", "reason", "rows"], rows=rows, numeric=(2,)))


def _data(agg: ModelAuditAggregate, info: dict[str, Any], rows: list[dict[str, Any]]) -> dict:
    return {
        "kind": info.get("kind"),
        "run": {k: info.get(k) for k in ("created", "suite", "samples", "params", "detector")},
        "endpoints": info.get("endpoints"),
        "categories": agg.categories,
        "models": {
            r["endpoint"]: {
                "model": r["model"],
                "operator": r["operator"],
                "totals": {x: r["totals"][x].to_dict() for x in EXPECTED},
                "groups": {
                    g: {x: c[x].to_dict() for x in EXPECTED} for g, c in r["groups"].items()
                },
                "categories": {
                    cat: {x: agg.cell(r["endpoint"], cat, x).to_dict() for x in EXPECTED}
                    for cat in agg.categories
                },
                "worst_under_refusal": r["worst_under"],
                "worst_over_refusal": r["worst_over"],
                "unjudged_reasons": dict(agg.unjudged_reasons.get(r["endpoint"], {})),
            }
            for r in rows
        },
        "paired": [t.to_dict() for t in agg.pairs],
        "judges": agg.judges,
    }
