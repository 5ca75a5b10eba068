"""Terminal output of an audit: the compact composition table and where things were written.

Dataset names and categories are printed as rich `Text` (never markup), so a file name
holding `[bold]` prints as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def print_outputs(out: Path, res: Any) -> None:
    from rich.text import Text

    from refusalkit.cli.common import console

    t = res.info.get("timing") or {}
    console.print(
        Text(
            f"{t.get('exchanges', 0):,} exchanges from {t.get('rows', 0):,} rows in "
            f"{t.get('wall_s', 0):.1f} s · run folder {out}/: report.html, report.md, report.json, "
            "results.parquet, run.json"
        ),
        highlight=False,
    )
    if res.info.get("rejects_path"):
        console.print(
            Text(f"rejected rows: {res.info['rejects_path']}", style="yellow"), highlight=False
        )
    if res.manifest:
        tot = res.manifest["totals"]
        console.print(
            Text(
                f"curated copies in {out}/curated/: kept {tot['kept']:,} of {tot['rows']:,} rows, "
                f"removed {tot['removed']:,} (each listed in curated/removed.jsonl; counts in curated/manifest.json)"
            ),
            highlight=False,
        )


def print_summary(agg: Any, info: dict[str, Any]) -> None:
    """The compact composition table: one line per dataset (+ all datasets)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console
    from refusalkit.reports.composition import FULL, PARTIAL, fmt_estimate, top_categories

    det = info.get("detector") or {}
    table = Table(
        title=Text(
            f"Refusal composition · detector {det.get('name', '?')} {det.get('version', '')}"
        ),
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        caption="S/C/N: should not / cannot / no reason given",
        caption_justify="left",
    )
    items = [(d, agg.total(d)) for d in agg.datasets]
    if len(items) > 1:
        items.append(("all", agg.total()))
    unjudged = any(c.unjudged for _, c in items)
    table.add_column("dataset", overflow="fold", ratio=1)
    table.add_column("judged", justify="right", no_wrap=True)
    table.add_column("refusals [95% CI]", justify="right", no_wrap=True)
    table.add_column("full/part", justify="right", no_wrap=True)
    table.add_column("S/C/N", justify="right", no_wrap=True)
    if unjudged:
        table.add_column("unjudged", justify="right", no_wrap=True)
    for name, c in items:
        cells = [
            Text(name),
            f"{c.judged:,}",
            fmt_estimate(c.refusal_rate()),
            f"{c.behavior[FULL]:,}/{c.behavior[PARTIAL]:,}",
            f"{c.group['should_not']:,}/{c.group['cannot']:,}/{c.group['none']:,}",
        ]
        if unjudged:
            cells.append(f"{c.unjudged:,}")
        table.add_row(*cells)
    console.print(table)
    console.print(Text("top refusal categories:", style="bold"), highlight=False)
    for name, c in items[:-1] if len(items) > 1 else items:
        if c.refusals:
            console.print(Text(f"  {name}: {top_categories(c, 4)}"), highlight=False)
