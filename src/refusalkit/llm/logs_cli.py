"""`refusalkit logs`: list, search, show and export the response log.

Lives next to the log (and is registered by `refusalkit.cli.llm_cmd`); imports only typer
and rich at module level. Logged model text is untrusted: shown as plain `Text`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from refusalkit.cli.common import JsonOpt, console, print_json

LogOpt = Annotated[
    Path | None,
    typer.Option(
        "--log", help="Response log file (default: <user dir>/logs.sqlite).", show_default=False
    ),
]


def logs_app() -> typer.Typer:
    logs = typer.Typer(help=_LOGS_HELP, no_args_is_help=False, invoke_without_command=True)
    logs.callback()(logs_callback)
    logs.command(
        "list",
        help="Newest entries first, filtered.\n\nExample:\n\n  refusalkit logs list -e gpt --errors -n 50",
    )(logs_list)
    logs.command(
        "search",
        help="Entries whose prompt, response or error contains TEXT.\n\nExample:\n\n  refusalkit logs search 'I cannot'",
    )(logs_search)
    logs.command("show", help="One entry in full.\n\nExample:\n\n  refusalkit logs show 42")(
        logs_show
    )
    logs.command(
        "export",
        help="Write entries as JSONL.\n\nExample:\n\n  refusalkit logs export -o log.jsonl --endpoint gpt",
    )(logs_export)
    return logs


_LOGS_HELP = (
    "The response log: every request and response (SQLite). Without a subcommand: the newest "
    "20 entries.\n\nExamples:\n\n  refusalkit logs\n\n  refusalkit logs search 'cannot help'\n\n"
    "  refusalkit logs show 12\n\n  refusalkit logs export -o log.jsonl --errors"
)
FilterEndpoint = Annotated[
    str | None, typer.Option("--endpoint", "-e", help="Only this endpoint.", show_default=False)
]
FilterModel = Annotated[
    str | None, typer.Option("--model", help="Only this model.", show_default=False)
]
FilterTag = Annotated[
    str | None,
    typer.Option(
        "--tag", help="Only this tag (generate, judge:taxonomy, ...).", show_default=False
    ),
]
FilterErrors = Annotated[
    bool | None,
    typer.Option(
        "--errors/--ok", help="Only failed / only successful requests.", show_default=False
    ),
]
CountOpt = Annotated[int, typer.Option("--limit", "-n", min=1, help="How many entries.")]


def _log(path: Path | None) -> Any:
    from refusalkit.llm.log import ResponseLog, default_log_path

    target = path or default_log_path()
    if not target.exists():
        from refusalkit.core.errors import ConfigError

        raise ConfigError(
            f"no response log at {target} yet",
            hint="run `refusalkit generate` first, or pass --log PATH",
        )
    return ResponseLog(target)


def logs_callback(
    ctx: typer.Context, log: LogOpt = None, limit: CountOpt = 20, as_json: JsonOpt = False
) -> None:
    ctx.obj = log
    if ctx.invoked_subcommand is None:  # bare `refusalkit logs [-n N] [--json]`: the newest
        _print_entries(_log(log), {}, limit, as_json)


def _print_entries(rlog: Any, filters: dict[str, Any], limit: int, as_json: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.inspect_cmd import safe_snippet

    entries = list(rlog.entries(limit=limit, **filters))
    if as_json:
        print_json(entries)
        return
    table = Table(title=f"{rlog.path} ({rlog.stats()['entries']} entries)")
    for col in (
        "id",
        "time",
        "endpoint",
        "model",
        "tag",
        "prompt",
        "response / error",
        "tokens",
        "s",
    ):
        table.add_column(col, overflow="fold")
    for e in entries:
        prompt = next((m["content"] for m in reversed(e["messages"]) if m["role"] == "user"), "")
        outcome = (
            Text(safe_snippet(e["error"], 60), style="red")
            if e["error"]
            else Text(safe_snippet(e["response"], 60))
        )
        table.add_row(
            str(e["id"]),
            e["time"],
            e["endpoint"] or "",
            e["model"] or "",
            e["tag"] or "",
            Text(safe_snippet(prompt, 50)),
            outcome,
            f"{e['input_tokens'] or 0}/{e['output_tokens'] or 0}",
            f"{e['latency'] or 0:.2f}",
        )
    console.print(table)


def logs_list(
    ctx: typer.Context,
    endpoint: FilterEndpoint = None,
    model: FilterModel = None,
    tag: FilterTag = None,
    errors: FilterErrors = None,
    limit: CountOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    _print_entries(
        _log(ctx.obj),
        {"endpoint": endpoint, "model": model, "tag": tag, "errors": errors},
        limit,
        as_json,
    )


def logs_search(
    ctx: typer.Context,
    text: str = typer.Argument(..., help="Text to look for."),
    endpoint: FilterEndpoint = None,
    model: FilterModel = None,
    tag: FilterTag = None,
    errors: FilterErrors = None,
    limit: CountOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    _print_entries(
        _log(ctx.obj),
        {"search": text, "endpoint": endpoint, "model": model, "tag": tag, "errors": errors},
        limit,
        as_json,
    )


def logs_show(
    ctx: typer.Context,
    entry_id: int = typer.Argument(..., help="Entry id (first column of `logs list`)."),
    as_json: JsonOpt = False,
) -> None:
    from rich.text import Text

    entry = _log(ctx.obj).get(entry_id)
    if entry is None:
        from refusalkit.core.errors import ConfigError

        raise ConfigError(f"no log entry with id {entry_id}", hint="see `refusalkit logs list`")
    if as_json:
        print_json(entry)
        return
    skip = {"messages", "response", "reasoning", "refusal", "error"}
    for k, v in entry.items():
        if k not in skip and v is not None:
            console.print(Text(f"{k}: {v}"))
    for m in entry["messages"]:
        console.print(Text(f"\n[{m['role']}]", style="bold"))
        console.print(Text(m["content"]))
    for k in ("reasoning", "response", "refusal", "error"):
        if entry.get(k):
            console.print(Text(f"\n[{k}]", style="bold red" if k == "error" else "bold"))
            console.print(Text(entry[k]))


def logs_export(
    ctx: typer.Context,
    output: Path = typer.Option(
        ..., "--output", "-o", help="JSONL file to write.", show_default=False
    ),
    search: str | None = typer.Option(
        None, "--search", help="Only entries containing this text.", show_default=False
    ),
    endpoint: FilterEndpoint = None,
    model: FilterModel = None,
    tag: FilterTag = None,
    errors: FilterErrors = None,
) -> None:
    from refusalkit.core.io import JsonlWriter

    rlog = _log(ctx.obj)
    with JsonlWriter(output) as writer:
        for entry in rlog.entries(
            limit=None,
            oldest_first=True,
            search=search,
            endpoint=endpoint,
            model=model,
            tag=tag,
            errors=errors,
        ):
            writer.write(entry)
    console.print(f"wrote {writer.count} entries to {output}", highlight=False)
