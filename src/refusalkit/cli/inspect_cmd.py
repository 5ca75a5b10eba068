"""`refusalkit inspect`: what refusalkit sees in a dataset before you audit or classify it.

It reads the inputs once through `refusalkit.readers` (the same code every other
command uses) and reports the detected format and shape, the column mapping, counts
of rows, exchanges and assistant turns (per side for preference data), rejected rows,
and the first exchanges. Dataset text is untrusted: it is shown as plain `Text`
(never Rich markup) with control and bidi characters made visible.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer

from refusalkit.cli.common import (
    DatasetOptions,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    PromptFieldOpt,
    RejectsOpt,
    ResponseFieldOpt,
    ShapeOpt,
    SkipBadOpt,
    SplitOpt,
)

_HELP = (
    "Show the detected format and shape of datasets, their counts and a sample.\n\n"
    "Reads every row (streaming, constant memory), so the counts are exact: rows, exchanges "
    "(one per assistant turn, or per prompt for prompt-only data), assistant turns per side "
    "for preference pairs (HH-RLHF, DPO), rows rejected, and rows that hold no assistant turn.\n\n"
    "Formats: .jsonl .json .csv .tsv .parquet .arrow (each optionally .gz) and Hugging Face "
    "save_to_disk folders. Shapes: alpaca, sharegpt, messages, hh_rlhf, dpo, prompt_response, "
    "prompt_only (auto-detected per file). See docs/readers.md.\n\n"
    "Examples:\n\n"
    "  refusalkit inspect data/sharegpt.jsonl.gz\n\n"
    "  refusalkit inspect alpaca.json --sample 10\n\n"
    "  refusalkit inspect xstest.csv --prompt-field prompt --response-field completion\n\n"
    "  refusalkit inspect my_hf_dataset/ --split test --json\n\n"
    "  refusalkit inspect broken.jsonl --skip-bad   (bad rows go to ./broken.rejects.jsonl)"
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")


def register(app: typer.Typer) -> None:
    """Add `refusalkit inspect` to the root app."""
    app.command("inspect", help=_HELP, rich_help_panel=None)(inspect)


def safe_snippet(text: str | None, width: int = 160) -> str:
    """One line of untrusted text: whitespace collapsed, control/bidi chars escaped, cut."""
    if not text:
        return ""
    flat = _SPACE.sub(" ", text).strip()
    if len(flat) > width:
        flat = flat[: width - 1] + "…"
    return _CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", flat)


def inspect(
    datasets: list[Path] = typer.Argument(
        ..., help="Files or HF save_to_disk folders.", show_default=False
    ),
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    split: SplitOpt = None,
    sample: int = typer.Option(5, "--sample", min=0, help="How many exchanges to show."),
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.core.progress import progress
    from refusalkit.readers import read_exchanges

    options = DatasetOptions.from_params(locals())
    shown: list[Any] = []
    with (
        read_exchanges(datasets, **options.to_kwargs()) as stream,
        progress("inspect", enabled=False if as_json else None) as advance,
    ):
        pending = 0
        for ex in stream:
            if len(shown) < sample:
                shown.append(ex)
            pending += 1
            if pending == 1000:
                advance(pending)
                pending = 0
        advance(pending)
    stats = stream.stats
    if as_json:
        from refusalkit.cli.common import print_json

        print_json({"stats": stats.to_dict(), "sample": [ex.to_dict() for ex in shown]})
        return
    _print_report(stats, shown)


def _counts(st: Any) -> str:
    return (
        f"{st.rows:,} rows → {st.exchanges:,} exchanges, {st.assistant_turns:,} assistant turns "
        f"({st.empty_responses:,} empty), {st.rejected:,} rejected, "
        f"{st.rows_without_exchanges:,} rows without an assistant turn"
    )


def _sides(console: Any, d: dict[str, Any]) -> None:
    from rich.text import Text

    for side, n in sorted(d["by_side"].items()):
        console.print(
            Text(
                f"    {side}: {n:,} assistant turns, {d['final_by_side'].get(side, 0):,} final, "
                f"{d['differing_by_side'].get(side, 0):,} differing from the other side"
            ),
            highlight=False,
        )


def _print_report(stats: Any, shown: list[Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console

    for fs in stats.files.values():
        console.print(Text(safe_snippet(fs.file, 10_000), style="bold"), highlight=False)
        mapping = ", ".join(f"{role} ← {col}" for role, col in fs.fields.items() if col)
        head = f"  format {fs.format}{' (gzip)' if fs.gzip else ''} · shape {fs.shape or '-'}"
        console.print(Text(head + (f" · {mapping}" if mapping else "")), highlight=False)
        console.print(Text("  " + _counts(fs)), highlight=False)
        _sides(console, fs.to_dict())
    if len(stats.files) > 1:
        console.print(Text("total", style="bold"), highlight=False)
        console.print(Text("  " + _counts(stats)), highlight=False)
        _sides(console, stats.to_dict())
    if stats.rejected:
        console.print(
            Text(
                f"{stats.rejected:,} rejected rows written to {stats.rejects_path}", style="yellow"
            ),
            highlight=False,
        )
    if stats.truncated:
        console.print(Text("(stopped early: limit reached)", style="yellow"), highlight=False)
    if not shown:
        return
    table = Table(title=f"First {len(shown)} exchanges", title_justify="left", show_lines=True)
    table.add_column("id", overflow="fold", max_width=28)
    table.add_column("ctx", justify="right")
    table.add_column("prompt", ratio=1)
    table.add_column("response", ratio=1)
    for ex in shown:
        table.add_row(
            Text(safe_snippet(ex.id, 60)),
            str(len(ex.context) + (1 if ex.system else 0)),
            Text(safe_snippet(ex.prompt)),
            Text(safe_snippet(ex.response)),
        )
    console.print(table)
