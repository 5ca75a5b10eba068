"""`refusalkit diff RUN_A RUN_B`: how the refusal composition changed between two audits.

For each dataset present in both runs (matched by name; one dataset on each side is
compared whatever the names), every measure — refusal rate, full and partial refusals,
should-not / cannot / no-reason refusals and each category — is a share of the judged
exchanges on each side. The change B − A comes with Newcombe's hybrid score interval
and a two-sided p-value (pooled z-test, or Fisher's exact test for small counts); the
p-values of one dataset's measures are Holm-adjusted together, so "significant" keeps a
5% family-wise error rate per dataset. The two samples are treated as independent
(two dataset versions); for the same rows judged twice, a paired test would be sharper.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.core.io import loads
from refusalkit.core.stats import holm_adjust, proportion_diff
from refusalkit.reports import Report, Table, Text, write_report
from refusalkit.reports.composition import (
    FULL,
    GROUP_LABELS,
    GROUPS,
    PARTIAL,
    Composition,
    category_order,
    fmt_pct,
    rate_chart,
)
from refusalkit.reports.results import read_run_json, rerender

ALPHA = 0.05


@dataclass
class DiffResult:
    run_a: str
    run_b: str
    pairs: list[tuple[str, str, list[dict[str, Any]]]] = field(default_factory=list)
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    comps: dict[str, tuple[Composition, Composition]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def data(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "alpha": ALPHA,
            "datasets": [{"a": a, "b": b, "measures": rows} for a, b, rows in self.pairs],
            "only_in_a": self.only_a,
            "only_in_b": self.only_b,
        }


def load_compositions(run_dir: str | os.PathLike[str]) -> dict[str, Composition]:
    """Per-dataset compositions of a dataset-audit run (from report.json, re-rendered if missing)."""
    info = read_run_json(run_dir)
    if info.get("kind") != "audit-data":
        raise ConfigError(
            f"{run_dir} is a {info.get('kind')} run; diff compares dataset audits",
            hint="pass two folders written by `refusalkit audit data`",
        )
    path = Path(run_dir) / "report.json"
    if not path.is_file():
        rerender(run_dir)
    doc = loads(path.read_bytes())
    return {d: Composition.from_dict(v["composition"]) for d, v in doc["datasets"].items()}


def measures(a: Composition, b: Composition) -> list[dict[str, Any]]:
    """Every measure of one dataset pair, with its change, interval and Holm-adjusted p."""
    items: list[tuple[str, int, int]] = [
        ("refusal rate", a.refusals, b.refusals),
        ("full refusal", a.behavior[FULL], b.behavior[FULL]),
        ("partial refusal", a.behavior[PARTIAL], b.behavior[PARTIAL]),
    ]
    items += [(f"group: {GROUP_LABELS[g]}", a.group[g], b.group[g]) for g in GROUPS]
    cats = [c for c in category_order() if c != "not_refusal"]
    cats += sorted((set(a.category) | set(b.category)) - set(cats))
    items += [
        (f"category: {c}", a.category[c], b.category[c])
        for c in cats
        if a.category[c] or b.category[c]
    ]
    rows = []
    for name, ka, kb in items:
        d = proportion_diff(kb, b.judged, ka, a.judged)  # B − A
        rows.append(
            {
                "measure": name,
                "a": ka,
                "a_judged": a.judged,
                "b": kb,
                "b_judged": b.judged,
                "a_rate": ka / a.judged if a.judged else None,
                "b_rate": kb / b.judged if b.judged else None,
                "diff": None if d.diff != d.diff else d.diff,
                "low": d.low,
                "high": d.high,
                "p_value": d.p_value,
                "test": d.test,
            }
        )
    for row, adj in zip(rows, holm_adjust([r["p_value"] for r in rows]), strict=True):
        row["p_holm"] = adj
        row["significant"] = adj < ALPHA
    return rows


def diff_runs(
    run_a: str | os.PathLike[str],
    run_b: str | os.PathLike[str],
    out_dir: str | os.PathLike[str] | None = None,
) -> DiffResult:
    ca, cb = load_compositions(run_a), load_compositions(run_b)
    res = DiffResult(str(run_a), str(run_b))
    if len(ca) == 1 and len(cb) == 1:
        matched = [(next(iter(ca)), next(iter(cb)))]
    else:
        matched = [(d, d) for d in ca if d in cb]
        res.only_a = [d for d in ca if d not in cb]
        res.only_b = [d for d in cb if d not in ca]
    if not matched:
        raise ConfigError(
            f"the two runs share no dataset name (A: {', '.join(ca)}; B: {', '.join(cb)})",
            hint="audit the datasets under the same file names, or compare one dataset per run",
        )
    for a, b in matched:
        res.pairs.append((a, b, measures(ca[a], cb[b])))
        res.comps[a if a == b else f"{a} → {b}"] = (ca[a], cb[b])
    if out_dir is not None:
        res.paths = write_report(build_diff_report(res), out_dir, stem="diff")
    return res


def _delta(r: dict[str, Any]) -> str:
    if r["diff"] is None:
        return "–"
    return f"{r['diff'] * 100:+.1f} pp [{r['low'] * 100:+.1f}, {r['high'] * 100:+.1f}]"


def build_diff_report(res: DiffResult) -> Report:
    rep = Report(title="Audit comparison", subtitle=f"A = {res.run_a} · B = {res.run_b}")
    rep.section("How to read this").add(Text(__doc__.split("\n\n", 1)[1].replace("\n", " ")))  # type: ignore[union-attr]
    for (a, b, rows), (label, (ca, cb)) in zip(res.pairs, res.comps.items(), strict=True):
        sec = rep.section(f"{label}")
        sec.add(rate_chart([(f"A: {a}", ca), (f"B: {b}", cb)], title=f"Refusal rate, {label}"))
        sec.add(
            Table(
                [
                    "measure",
                    "A",
                    "A share",
                    "B",
                    "B share",
                    "change B − A [95% CI]",
                    "p",
                    "p (Holm)",
                    "significant",
                ],
                [
                    [
                        r["measure"],
                        f"{r['a']:,}/{r['a_judged']:,}",
                        fmt_pct(r["a_rate"]),
                        f"{r['b']:,}/{r['b_judged']:,}",
                        fmt_pct(r["b_rate"]),
                        _delta(r),
                        f"{r['p_value']:.3g}",
                        f"{r['p_holm']:.3g}",
                        "yes" if r["significant"] else "",
                    ]
                    for r in rows
                ],
                caption="Shares are of judged exchanges; pp = percentage points",
                numeric=(1, 2, 3, 4, 6, 7),
            )
        )
    if res.only_a or res.only_b:
        rep.section("Not compared").add(
            Text(
                f"Only in A: {', '.join(res.only_a) or '–'}. Only in B: {', '.join(res.only_b) or '–'}."
            )
        )
    rep.data = res.data
    return rep


def print_diff(res: DiffResult) -> None:
    from rich.table import Table as RichTable
    from rich.text import Text as RichText

    from refusalkit.cli.common import console

    for a, b, rows in res.pairs:
        title = a if a == b else f"{a} → {b}"
        t = RichTable(
            title=RichText(f"{title}: B − A (A = {res.run_a}, B = {res.run_b})"),
            title_justify="left",
        )
        for col in ("measure", "A", "B", "change [95% CI]", "p (Holm)"):
            t.add_column(col, justify="left" if col == "measure" else "right")
        for r in rows:
            style = "bold" if r["significant"] else None
            t.add_row(
                RichText(r["measure"]),
                f"{fmt_pct(r['a_rate'])} ({r['a']:,})",
                f"{fmt_pct(r['b_rate'])} ({r['b']:,})",
                _delta(r),
                f"{r['p_holm']:.3g}" + (" *" if r["significant"] else ""),
                style=style,
            )
        console.print(t)
    if res.only_a or res.only_b:
        console.print(
            RichText(
                f"not compared: only in A: {', '.join(res.only_a) or '–'}; "
                f"only in B: {', '.join(res.only_b) or '–'}"
            ),
            highlight=False,
        )
    console.print("* = significant at 5% after Holm adjustment within the dataset", highlight=False)
    if res.paths:
        console.print(RichText("wrote " + ", ".join(str(p) for p in res.paths.values())))
