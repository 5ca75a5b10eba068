"""The dataset-audit report: build it from an `Aggregate`, or rebuild it from a run folder.

`build_report` only formats numbers the aggregate already holds; `rerender` recomputes
the aggregate from `results.parquet` (streaming, constant memory) so `refusalkit
report RUN_DIR` never re-classifies and always agrees with the saved rows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from refusalkit.audit.aggregate import AGG_COLUMNS, Aggregate
from refusalkit.core.stats import proportion_ci
from refusalkit.reports import Example, Examples, Metrics, Report, Table, Text, write_report
from refusalkit.reports.composition import (
    FULL,
    PARTIAL,
    REFUSALS,
    UNJUDGED,
    Composition,
    behavior_chart,
    category_heatmap,
    category_order,
    category_table,
    composition_table,
    fmt_estimate,
    fmt_pct,
    group_chart,
    rate_chart,
)
from refusalkit.reports.results import iter_results, read_run_json, results_path

ALL = "all datasets"
METHOD = (
    "Each assistant turn is one exchange, judged by the detector named above. Refusal rate = "
    "(full + partial refusals) / judged exchanges, with 95% Wilson intervals; unjudged "
    "exchanges (e.g. empty responses) are counted on their own and never as refusals or "
    "compliance. Preference data (HH-RLHF, DPO) counts each distinct answer once: a "
    "rejected-side turn identical to the chosen side is left out of the composition. "
    "Pairs are compared once per pair, on the final turn of each side. Categories follow "
    "the 16-category taxonomy (`refusalkit taxonomy show`); group 'should not' = the model "
    "declines on principle, 'cannot' = it lacks the ability or information."
)


def _items(agg: Aggregate, with_all: bool = True) -> list[tuple[str, Composition]]:
    items = [(d, agg.total(d)) for d in agg.datasets]
    if with_all and len(items) > 1:
        items.append((ALL, agg.total()))
    return items


def pair_summary(agg: Aggregate, dataset: str) -> dict[str, Any] | None:
    """Final-turn pair table of one preference dataset (None when it has no pairs)."""
    cells = {(cb, rb): n for (d, cb, rb), n in agg.pairs.items() if d == dataset}
    if not cells and not agg.pairs_incomplete[dataset]:
        return None
    pairs = sum(cells.values())

    def count(pred: Any) -> int:
        return sum(n for (cb, rb), n in cells.items() if pred(cb, rb))

    judged_c = count(lambda c, r: c != UNJUDGED)
    judged_r = count(lambda c, r: r != UNJUDGED)
    both_judged = count(lambda c, r: UNJUDGED not in (c, r))
    ref_c = count(lambda c, r: c in REFUSALS)
    ref_r = count(lambda c, r: r in REFUSALS)
    est_c, est_r = proportion_ci(ref_c, judged_c), proportion_ci(ref_r, judged_r)
    return {
        "pairs": pairs,
        "chosen_refuses": {
            "n": ref_c,
            "judged": judged_c,
            "rate": _num(est_c.value),
            "low": est_c.low,
            "high": est_c.high,
        },
        "rejected_refuses": {
            "n": ref_r,
            "judged": judged_r,
            "rate": _num(est_r.value),
            "low": est_r.low,
            "high": est_r.high,
        },
        "both_refuse": count(lambda c, r: c in REFUSALS and r in REFUSALS),
        "only_chosen_refuses": count(
            lambda c, r: c in REFUSALS and r not in REFUSALS and r != UNJUDGED
        ),
        "only_rejected_refuses": count(
            lambda c, r: r in REFUSALS and c not in REFUSALS and c != UNJUDGED
        ),
        "neither_refuses": count(
            lambda c, r: c not in REFUSALS and r not in REFUSALS and UNJUDGED not in (c, r)
        ),
        "with_unjudged_side": pairs - both_judged,
        "identical_final_turns": agg.pairs_identical[dataset],
        "incomplete": agg.pairs_incomplete[dataset],
        "cells": {f"{c}|{r}": n for (c, r), n in sorted(cells.items())},
    }


def _ci(c: Composition) -> str:
    e = c.refusal_rate()
    return "" if e.value != e.value else f"95% CI {e.low * 100:.1f}–{e.high * 100:.1f}%"


def _num(x: float) -> float | None:
    return None if x != x else x


def _example(ex: dict[str, Any], title: str) -> Example:
    labels = {"dataset": ex.get("dataset") or "", "behavior": ex.get("behavior") or ""}
    if ex.get("category"):
        labels["category"] = ex["category"]
    if ex.get("refusal_score") is not None:
        labels["score"] = f"{ex['refusal_score']:.2f}"
    where = f"{os.path.basename(ex.get('source_file') or '')} row {ex.get('row')}"
    if ex.get("turn") is not None:
        where += f" turn {ex['turn']}"
    if ex.get("side"):
        where += f" ({ex['side']})"
    labels["where"] = where
    if ex.get("unjudged_reason"):
        labels["unjudged"] = ex["unjudged_reason"]
    response = ex.get("response") or ""
    if "rejected_response" in ex:
        response = (
            f"[chosen, {ex.get('behavior')}]\n{response}\n\n"
            f"[rejected, {ex.get('rejected_behavior')}]\n{ex.get('rejected_response') or ''}"
        )
    return Example(title=title, prompt=ex.get("prompt") or "", response=response, labels=labels)


def build_report(agg: Aggregate, info: dict[str, Any], openers: int = 15) -> Report:
    """The full audit report (HTML/Markdown/JSON via `reports.write_report`)."""
    det = info.get("detector") or {}
    total = agg.total()
    read = agg.read_stats
    rows = sum(f.get("rows", 0) for fs in read.values() for f in fs.values())
    rejected = sum(f.get("rejected", 0) for fs in read.values() for f in fs.values())
    rep = Report(
        title="Refusal composition audit",
        subtitle=f"{len(agg.datasets)} dataset(s) · detector {det.get('name', '?')} "
        f"{det.get('version', '')}"
        + (f" (weights {det['sha256']})" if det.get("sha256") else "")
        + f" · {info.get('created', '')}",
    )
    items = _items(agg)
    data: dict[str, Any] = {
        "kind": "audit-data",
        "run": {
            k: info.get(k) for k in ("created", "refusalkit_version", "engine", "timing", "inputs")
        },
        "detector": det,
        "totals": total.to_dict(),
        "datasets": {},
    }
    s = rep.section("Summary")
    s.add(
        Metrics(
            [
                ("datasets", f"{len(agg.datasets)}", ""),
                ("rows read", f"{rows:,}", f"{rejected:,} rejected" if rejected else ""),
                ("exchanges judged", f"{total.judged:,}", "distinct assistant turns"),
                ("refusal rate", fmt_pct(total.refusal_rate().value), _ci(total)),
                (
                    "refusals",
                    f"{total.refusals:,}",
                    f"{total.behavior[FULL]:,} full · {total.behavior[PARTIAL]:,} partial",
                ),
                ("unjudged", f"{total.unjudged:,}", "not counted as either class"),
            ]
        ),
        composition_table(items, label="dataset", caption="Refusal composition per dataset"),
        rate_chart(items),
        behavior_chart(items),
        group_chart(items),
        Text(METHOD),
    )
    s = rep.section("Categories")
    s.add(category_table(items), category_heatmap([i for i in items if i[0] != ALL] or items))

    file_items = [
        (f"{d} · {os.path.basename(k) or k}", c)
        for d in agg.datasets
        for k, c in agg.slices(d, "file")
    ]
    rep.section("By source file").add(composition_table(file_items, label="dataset · file"))

    turn_items = [(f"{d} · turn {k}", c) for d in agg.datasets for k, c in agg.slices(d, "turn")]
    rep.section("By conversation turn").add(
        Text(
            "Turn = 0-based index of the assistant turn in its conversation (Alpaca-style rows: the number of history pairs)."
        ),
        composition_table(turn_items, label="dataset · turn"),
    )
    pair_rows, pair_data = [], {}
    for d in agg.datasets:
        p = pair_summary(agg, d)
        if p is None:
            continue
        pair_data[d] = p
        c, r = p["chosen_refuses"], p["rejected_refuses"]
        pair_rows.append(
            [
                d,
                f"{p['pairs']:,}",
                fmt_estimate(proportion_ci(c["n"], c["judged"])),
                fmt_estimate(proportion_ci(r["n"], r["judged"])),
                f"{p['both_refuse']:,}",
                f"{p['only_chosen_refuses']:,}",
                f"{p['only_rejected_refuses']:,}",
                f"{p['neither_refuses']:,}",
                f"{p['with_unjudged_side']:,}",
                f"{p['identical_final_turns']:,}",
            ]
        )
    if pair_rows:
        s = rep.section("Preference pairs")
        s.add(
            Text(
                "One count per pair, on the final assistant turn of each side. 'identical' = the two final turns are the same text."
            ),
            Table(
                [
                    "dataset",
                    "pairs",
                    "chosen refuses",
                    "rejected refuses",
                    "both refuse",
                    "only chosen refuses",
                    "only rejected refuses",
                    "neither",
                    "a side unjudged",
                    "identical",
                ],
                pair_rows,
                numeric=(1, 4, 5, 6, 7, 8, 9),
            ),
        )
        for kind, title in (
            ("chosen_refuses", "chosen refuses, rejected complies"),
            ("rejected_refuses", "rejected refuses, chosen complies"),
        ):
            exs = agg.examples_for("pair", kind)
            if exs:
                s.add(
                    Text(f"Pairs where the {title}:"), Examples([_example(e, title) for e in exs])
                )
    s = rep.section("Refusal openers")
    s.add(Text("Most frequent first words of refusals (first sentence, lower-cased, six words)."))
    for d in agg.datasets:
        ops = agg.openers.get(d)
        if not ops:
            continue
        n_ref = agg.total(d).refusals
        top = ops.most_common(openers)
        cap = f"{d}" + (
            f" (approximate: {agg.openers_pruned[d]:,} rare openers pruned)"
            if agg.openers_pruned[d]
            else ""
        )
        s.add(
            Table(
                ["opener", "refusals", "share of refusals"],
                [
                    [o or "(empty)", f"{n:,}", fmt_pct(n / n_ref if n_ref else float("nan"))]
                    for o, n in top
                ],
                caption=cap,
                numeric=(1, 2),
            )
        )
        data["datasets"].setdefault(d, {})["openers"] = [[o, n] for o, n in top]

    s = rep.section("Examples by category")
    cats = [c for c in category_order() if c != "not_refusal"] + ["not_refusal"]
    for cat in cats:
        exs = agg.examples_for("category", cat)
        if exs:
            s.add(
                Text(
                    f"{cat} ({total.category[cat]:,} refusals)"
                    if cat != "not_refusal"
                    else "not_refusal (compliant answers, for comparison)"
                )
            )
            s.add(Examples([_example(e, cat) for e in exs]))
    if total.unjudged:
        s = rep.section("Unjudged exchanges")
        s.add(
            Table(
                ["reason", "exchanges"],
                [[r, f"{n:,}"] for r, n in total.unjudged_reasons.most_common()],
                numeric=(1,),
            )
        )
        reasons = [r for r, _ in total.unjudged_reasons.most_common(3)]
        s.add(
            Examples(
                [_example(e, "unjudged") for r in reasons for e in agg.examples_for("unjudged", r)]
            )
        )
    read_rows = []
    for d in agg.datasets:
        for f in read.get(d, {}).values():
            read_rows.append(
                [
                    d,
                    os.path.basename(f["file"]) or f["file"],
                    f.get("format"),
                    f.get("shape"),
                    f"{f.get('rows', 0):,}",
                    f"{f.get('exchanges', 0):,}",
                    f"{f.get('empty_responses', 0):,}",
                    f"{f.get('rejected', 0):,}",
                    f"{f.get('rows_without_exchanges', 0):,}",
                ]
            )
    rep.section("Reading").add(
        Table(
            [
                "dataset",
                "file",
                "format",
                "shape",
                "rows",
                "exchanges",
                "empty responses",
                "rejected rows",
                "rows without assistant turn",
            ],
            read_rows,
            numeric=(4, 5, 6, 7, 8),
        )
    )
    for d in agg.datasets:
        entry = data["datasets"].setdefault(d, {})
        entry["composition"] = agg.total(d).to_dict()
        entry["files"] = {k: c.to_dict() for k, c in agg.slices(d, "file")}
        entry["turns"] = {k: c.to_dict() for k, c in agg.slices(d, "turn")}
        entry["sides"] = {k: c.to_dict() for k, c in agg.slices(d, "side")}
        entry["pairs"] = pair_data.get(d)
        entry["read_stats"] = list(read.get(d, {}).values())
        entry["openers_pruned"] = agg.openers_pruned[d]
    data["examples"] = {
        f"{d}|{kind}|{key}": [e for _, e in v] for (d, kind, key), v in agg.examples.items()
    }
    rep.data = data
    return rep


def aggregate_results(
    path: str | os.PathLike[str], read_stats: dict[str, Any], names: list[str], examples: int
) -> Aggregate:
    """Recompute the aggregate from a results file (constant memory)."""
    agg = Aggregate(examples)
    for row in iter_results(path, AGG_COLUMNS):
        agg.add(row)
    agg.finish()
    for d, files in read_stats.items():
        agg.add_read_stats(d, files.values() if isinstance(files, dict) else files)
    agg.datasets = list(names) or agg.datasets
    return agg


def rerender(run_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """`refusalkit report RUN_DIR` for dataset audits: re-aggregate saved rows, write the report."""
    info = read_run_json(run_dir)
    agg = aggregate_results(
        results_path(run_dir),
        info.get("read_stats") or {},
        [i["name"] for i in info.get("inputs") or []],
        int((info.get("config") or {}).get("examples", 5)),
    )
    return write_report(build_report(agg, info), run_dir)
