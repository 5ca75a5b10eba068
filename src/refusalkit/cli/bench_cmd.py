"""`refusalkit bench`: the over-refusal benchmark.

`bench` is a sub-app whose callback runs a benchmark when no subcommand is given
(`invoke_without_command=True`), so both `refusalkit bench --dataset xstest` and
`refusalkit bench stats xstest` parse; `bench run` is the same command under an explicit
name (one function serves both). Subcommands: `run`, `list`, `stats`, `rejudge`,
`leaderboard`. Heavy imports happen inside the functions; model and dataset names are
printed as plain `Text` (never as rich markup).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from refusalkit.cli.common import EncodingOpt, FormatOpt, JsonOpt, PromptFieldOpt

_BENCH_HELP = (
    "Over-refusal benchmark: ask models benign and harmful prompt sets, judge every answer as "
    "Direct Refusal / Safe Partial Compliance / Full Compliance, report compliance rate and USR "
    "with 95% intervals, a leaderboard, the trade-off plot, per-category tables, paired "
    "comparisons and judge agreement (docs/bench.md).\n\n"
    "Without a subcommand it runs a benchmark (same options as `bench run`).\n\n"
    "Examples:\n\n"
    "  refusalkit bench --dataset xstest --dataset xstest-unsafe --limit 50\n\n"
    "  refusalkit bench -e gpt -e claude --dataset all --per-category 10 -o runs/v1\n\n"
    "  refusalkit bench --dataset mine.csv --judge classifier --judge llm-falsereject:gpt\n\n"
    "  refusalkit bench list\n\n"
    "  refusalkit bench stats xstest orbench-hard falsereject-sample\n\n"
    "  refusalkit bench rejudge runs/v1 --judge llm-falsereject:gpt\n\n"
    "  refusalkit bench leaderboard runs/base runs/ft --name base --name finetuned -o runs/board"
)


def register(app: typer.Typer) -> None:
    bench = typer.Typer(name="bench", help=_BENCH_HELP, invoke_without_command=True,
                        no_args_is_help=False, rich_markup_mode="rich")  # fmt: skip
    bench.callback()(bench_run_cmd)
    bench.command("run", help="Run a benchmark (the same as `refusalkit bench` with options).\n\n"
                  "Example:\n\n  refusalkit bench run --dataset all --limit 20")(bench_run_cmd)  # fmt: skip
    bench.command("list", help="The prompt sets: role, size, license, source.\n\n"
                  "Example:\n\n  refusalkit bench list --json")(bench_list_cmd)  # fmt: skip
    bench.command("stats", help=_STATS_HELP)(bench_stats_cmd)
    bench.command("rejudge", help=_REJUDGE_HELP)(bench_rejudge_cmd)
    bench.command("leaderboard", help=_BOARD_HELP)(bench_leaderboard_cmd)
    app.add_typer(bench, name="bench")


def _print_table(table: Any, title: str | None = None) -> None:
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console

    out = Table(title=title or table.caption, title_justify="left", title_style="dim")
    for i, col in enumerate(table.columns):
        out.add_column(Text(col), justify="right" if i in table.numeric else "left")
    for row in table.rows:
        out.add_row(*(Text("" if c is None else str(c)) for c in row))
    console.print(out)


_DEFAULTS: dict[str, Any] = {
    "samples": 1,
    "seed": 0,
    "overwrite": False,
    "no_cache": False,
    "as_json": False,
}


def bench_run_cmd(
    ctx: typer.Context,
    dataset: list[str] | None = typer.Option(
        None,
        "--dataset",
        "-d",
        show_default=False,
        help="Prompt set name (`bench list`), `all` / `benign` / `harmful` (bundled sets), a "
        "CSV/JSONL file with `prompt` [+ category, expected], or NAME=PATH. Repeatable.",
    ),
    endpoint: list[str] | None = typer.Option(
        None,
        "--endpoint",
        "-e",
        show_default=False,
        help="Model endpoint (refusalkit.toml name, env, local, or a .gguf path); repeat for "
        "several models (default: the default endpoint, normally the local model).",
    ),
    judge: list[str] | None = typer.Option(
        None,
        "--judge",
        "-j",
        show_default=False,
        help="classifier (the bundled classifier, = default) | rules | PATH | llm:ENDPOINT | "
        "llm-falsereject:ENDPOINT. Repeatable; the first is the primary (default: classifier).",
    ),
    samples: int = typer.Option(1, "--samples", min=1, help="Answers per prompt."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        show_default=False,
        help="At most N prompts per dataset (stratified by category).",
    ),
    per_category: int | None = typer.Option(
        None,
        "--per-category",
        min=1,
        show_default=False,
        help="At most N prompts per category of each dataset.",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --limit/--per-category sample."),
    max_tokens: int | None = typer.Option(
        None,
        "--max-tokens",
        min=1,
        show_default=False,
        help="Answer length cap (default: the endpoint's).",
    ),
    temperature: float | None = typer.Option(
        None,
        "--temperature",
        show_default=False,
        help="Sampling temperature (default: 0 with one sample, 0.7 with several).",
    ),
    system: str | None = typer.Option(
        None, "--system", show_default=False, help="System prompt sent with every prompt."
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        show_default=False,
        help="Run folder (default: ./refusalkit-bench/<endpoints>). Rerun to resume.",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Discard the answers already in the run folder."
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Ask the models again even when the log has the answer."
    ),
    prompt_field: PromptFieldOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    given = [n for n, v in ctx.params.items() if v not in (None, (), []) and v != _DEFAULTS.get(n)]
    if ctx.invoked_subcommand is not None:
        if given:
            from refusalkit.core.errors import ConfigError

            raise ConfigError(f"`bench {ctx.invoked_subcommand}` does not take the run options "
                              f"given before it ({', '.join(given)})",
                              hint=f"put options after the subcommand: refusalkit bench "
                              f"{ctx.invoked_subcommand} ...")  # fmt: skip
        return
    if not given and ctx.info_name == "bench":  # plain `refusalkit bench`: show the help
        typer.echo(ctx.get_help())
        raise typer.Exit(0)
    from refusalkit.bench import BenchConfig, run_bench
    from refusalkit.evals import endpoint_slug

    cfg = BenchConfig(
        datasets=list(dataset or []), endpoints=list(endpoint or []),
        judges=list(judge or ["classifier"]), samples=samples, limit=limit,
        per_category=per_category, seed=seed, max_tokens=max_tokens, temperature=temperature,
        system=system, cache=not no_cache, overwrite=overwrite,
        reader_options={k: v for k, v in (("fields", {"prompt": prompt_field} if prompt_field else None),
                                          ("format", fmt), ("encoding", encoding)) if v},
    )  # fmt: skip
    out = output or Path("refusalkit-bench") / endpoint_slug("+".join(endpoint or ["default"]))
    try:
        info = run_bench(cfg, out, show_progress=False if as_json else None,
                         command=["refusalkit", *sys.argv[1:]])  # fmt: skip
    except KeyboardInterrupt:
        from refusalkit.cli.common import err_console

        err_console.print(f"[yellow]interrupted[/]: answers so far are saved in {out}; "
                          "rerun the same command to resume.", highlight=False)  # fmt: skip
        raise SystemExit(130) from None
    _show_run(out, info, as_json)


def _show_run(out: Path, info: dict[str, Any], as_json: bool) -> None:
    from refusalkit.core.io import loads

    doc = loads((out / "report.json").read_bytes())
    if as_json:
        from refusalkit.cli.common import print_json

        print_json({"run_dir": str(out), "judges": info.get("judges"), "endpoints": info.get("endpoints"),
                    "timing": info.get("timing"), "leaderboard": doc["leaderboard"],
                    "comparisons": doc["comparisons"], "agreement": doc["agreement"]})  # fmt: skip
        return
    from rich.text import Text

    from refusalkit.bench.leaderboard import leaderboard_table
    from refusalkit.bench.metrics import iter_rows, summarize
    from refusalkit.cli.common import console

    summary = summarize(iter_rows(out), judges=[j["name"] for j in info.get("judges", [])])
    _print_table(leaderboard_table(summary), title="Leaderboard")
    for e in info.get("endpoints", []):
        errs = f", {e['errors']} errors" if e.get("errors") else ""
        console.print(Text(f"{e['name']} ({e.get('model')}): {e.get('rows', 0)} answers, "
                           f"{e.get('kept', 0)} kept from before, {e.get('cached', 0)} from the log{errs}",
                           style="dim"), highlight=False)  # fmt: skip
    console.print(Text(f"report: {out / 'report.html'} · {out / 'report.md'} · leaderboard.csv"),
                  highlight=False)  # fmt: skip


def bench_list_cmd(as_json: JsonOpt = False) -> None:
    from refusalkit.bench import REGISTRY

    rows = [s.to_dict() | {"how_to_get": s.how_to_get} for s in REGISTRY.values()]
    if as_json:
        from refusalkit.cli.common import print_json

        print_json(rows)
        return
    from refusalkit.reports.document import Table

    _print_table(Table(
        columns=["name", "role", "prompts", "bundled", "license", "source"],
        rows=[[r["name"], r["role"], f"{r['size']:,}" if r["size"] else "–",
               "yes" if r["bundled"] else "no: NAME=PATH", r["license"], r["citation"]] for r in rows],
        numeric=(2,)), title="Prompt sets (docs/bench.md; groups: all, benign, harmful)")  # fmt: skip


_STATS_HELP = (
    "Diversity and length of prompt sets: Self-BLEU, distinct-1/2, near-duplicates, prompt "
    "length — to compare a generated set with XSTest, OKTest and OR-Bench as the FalseReject "
    "paper does. DATASET is a set name, a file, or NAME=PATH.\n\n"
    "Example:\n\n  refusalkit bench stats xstest orbench-hard coconot-contrast falsereject=mine.jsonl"
)


def bench_stats_cmd(
    datasets: list[str] = typer.Argument(..., help="Prompt sets or files.", show_default=False),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        show_default=False,
        help="Only N prompts per set (stratified sample).",
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of the --limit sample."),
    prompt_field: PromptFieldOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.bench.stats import prompt_set_stats, stats_table

    opts = {"fields": {"prompt": prompt_field}} if prompt_field else {}
    rows = prompt_set_stats(datasets, limit=limit, seed=seed, reader_options=opts)
    if as_json:
        from refusalkit.cli.common import print_json

        print_json(rows)
        return
    _print_table(stats_table(rows), title="Prompt-set statistics")


_REJUDGE_HELP = (
    "Judge the saved answers of a benchmark run with another judge, without asking the models "
    "again; the report then shows both judges and their agreement.\n\n"
    "Example:\n\n  refusalkit bench rejudge refusalkit-bench/local --judge llm-falsereject:gpt"
)


def bench_rejudge_cmd(
    run_dir: Path = typer.Argument(..., help="A folder written by `refusalkit bench`."),
    judge: list[str] = typer.Option(
        ...,
        "--judge",
        "-j",
        show_default=False,
        help="classifier | rules | PATH | llm:ENDPOINT | llm-falsereject:ENDPOINT",
    ),
    primary: bool = typer.Option(False, "--primary", help="Make the new judge the primary one."),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.bench import rejudge

    info = rejudge(run_dir, judge, primary=primary, show_progress=False if as_json else None)
    _show_run(run_dir, info, as_json)


_BOARD_HELP = (
    "One leaderboard from several benchmark runs (other models, a fine-tuned model, other "
    "dates): their results are merged into a new run folder with the full report, paired "
    "comparisons on the prompts they share, leaderboard.csv and leaderboard.md.\n\n"
    "Models are named by endpoint; an endpoint in several runs gets its run folder's name as a "
    "prefix; --name (one per RUN) names each run's model instead.\n\n"
    "Example:\n\n  refusalkit bench leaderboard runs/base runs/ft --name base --name finetuned -o runs/board"
)


def bench_leaderboard_cmd(
    runs: list[Path] = typer.Argument(..., help="Benchmark run folders.", show_default=False),
    output: Path = typer.Option(
        Path("refusalkit-bench/leaderboard"),
        "--output",
        "-o",
        help="Folder for the merged run and its report.",
    ),
    name: list[str] | None = typer.Option(
        None, "--name", show_default=False, help="Model name of each RUN, in order."
    ),
    judge: str | None = typer.Option(
        None, "--judge", "-j", show_default=False, help="Primary judge (default: the first run's)."
    ),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.bench import merge_runs

    info = merge_runs(runs, output, names=list(name or []) or None, judge=judge)
    _show_run(output, info, as_json)
