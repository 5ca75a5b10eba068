"""Options and helpers of `refusalkit falsereject` (commands: `cli/falsereject_cmd.py`).

Option types are declared once here so every stage command spells and documents them alike.
Heavy modules are imported inside the helpers.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from refusalkit.cli.common import DatasetOptions, console, err_console, print_json


def opt(*names: str, help: str, **kw: Any) -> Any:
    return typer.Option(*names, help=help, show_default=kw.pop("show_default", False), **kw)


EP = "Endpoint name (default: --endpoint, else the default endpoint)."
EndpointOpt = Annotated[
    str | None,
    opt(
        "--endpoint",
        "-e",
        help="Default endpoint of every role (default: REFUSALKIT_BASE_URL, else the config's default, else the local model).",
    ),
]
ExtractorOpt = Annotated[str | None, opt("--extractor-endpoint", help=EP)]
GeneratorOpt = Annotated[str | None, opt("--generator-endpoint", help=EP)]
DiscriminatorOpt = Annotated[str | None, opt("--discriminator-endpoint", help=EP)]
PoolOpt = Annotated[
    list[str] | None,
    opt(
        "--pool-endpoint",
        help="A pool endpoint (repeat for several; default: the default endpoint).",
    ),
]
OrchestratorOpt = Annotated[str | None, opt("--orchestrator-endpoint", help=EP)]
ResponderOpt = Annotated[str | None, opt("--responder-endpoint", help=EP)]
MaxTokensOpt = Annotated[
    list[str] | None,
    opt(
        "--max-tokens",
        help="ROLE=N (roles: extractor, generator, discriminator, pool, orchestrator, responder); repeatable.",
    ),
]
TemperatureOpt = Annotated[list[str] | None, opt("--temperature", help="ROLE=T; repeatable.")]
AttemptsOpt = Annotated[
    int,
    opt(
        "--max-attempts",
        min=1,
        max=20,
        show_default=True,
        help="Attempts per agent call before a malformed answer is recorded as a failure.",
    ),
]
PromptsOpt = Annotated[
    Path | None,
    opt("--prompts", help="Folder of template overrides (NAME.md; see docs/falsereject.md)."),
]
TemplateOpt = Annotated[
    list[str] | None,
    opt(
        "--template",
        help="NAME=FILE template override (extractor, generator, discriminator, orchestrator, responder_instruct, responder_cot, responder_cot_json); repeatable.",
    ),
]
LogOpt = Annotated[
    Path | None, opt("--log", help="Response log (default: <user dir>/logs.sqlite).")
]
OverwriteOpt = Annotated[
    bool, opt("--overwrite", help="Start the output over instead of resuming it.")
]
DryRunOpt = Annotated[
    bool, opt("--dry-run", help="Estimate calls and tokens per stage; send nothing.")
]
ConcurrencyOpt = Annotated[
    int | None,
    opt("--concurrency", min=1, help="Items in flight (default: 4x the endpoints' concurrency)."),
]
CategoryOpt = Annotated[
    list[str] | None,
    opt(
        "--category",
        "-c",
        help="FalseReject category id or name; repeatable (default: the 45 SORRY-Bench categories).",
    ),
]
NOpt = Annotated[
    int,
    opt(
        "-n",
        "--num",
        min=1,
        show_default=True,
        help="Prompts to plan, spread round-robin over the categories.",
    ),
]
RoundsOpt = Annotated[
    int,
    opt(
        "--max-rounds",
        min=1,
        max=50,
        show_default=True,
        help="Generator/Discriminator rounds per prompt.",
    ),
]
SeedOpt = Annotated[int, opt("--seed", show_default=True, help="RNG seed of sub-graph sampling.")]
NodesOpt = Annotated[str, opt("--nodes", show_default=True, help="Sub-graph size MIN-MAX.")]
JudgeOpt = Annotated[
    str,
    opt(
        "--judge",
        show_default=True,
        help="Detector reading the pool's answers: default | rules | PATH | llm:EP | llm-falsereject:EP.",
    ),
]
KOpt = Annotated[
    int,
    opt(
        "-k",
        "--min-refusals",
        min=0,
        show_default=True,
        help="Keep prompts refused by at least K pool endpoints (0 keeps all).",
    ),
]
PoolSystemOpt = Annotated[
    str | None, opt("--pool-system", help="System prompt for the pool requests.")
]
CotOpt = Annotated[
    str,
    opt(
        "--cot-format",
        show_default=True,
        help="think (<think> tags or a reasoning field) or json (for models that cannot write tags).",
    ),
]
TruncOpt = Annotated[
    bool, opt("--allow-truncated", help="Keep answers cut off at max_tokens (default: malformed).")
]
BackendOpt = Annotated[
    str,
    opt(
        "--dedup-backend",
        show_default=True,
        help="Near-duplicate backend: auto, minilm, hashed, or none (exact copies only).",
    ),
]
ThresholdOpt = Annotated[
    float | None,
    opt(
        "--threshold",
        min=0.0,
        max=1.0,
        help="Cosine similarity of near-duplicates (default: 0.9 minilm, 0.8 hashed).",
    ),
]
LimitOpt = Annotated[int | None, opt("--limit", min=1, help="Only the first N seeds.")]


def make_config(
    *,
    endpoint: str | None = None,
    roles: dict[str, str | None] | None = None,
    pool: list[str] | None = None,
    max_tokens: list[str] | None = None,
    temperature: list[str] | None = None,
    prompts: Path | None = None,
    template: list[str] | None = None,
    **kw: Any,
) -> Any:
    from refusalkit.falsereject.config import PipelineConfig, parse_pairs
    from refusalkit.falsereject.templates import check_overrides

    nodes = kw.pop("nodes", None)
    if nodes:
        lo, _, hi = nodes.partition("-")
        try:
            kw["min_nodes"], kw["max_nodes"] = int(lo), int(hi or lo)
        except ValueError:
            from refusalkit.core.errors import ConfigError

            raise ConfigError(
                f"--nodes expects MIN-MAX, got {nodes!r}", hint="--nodes 2-4"
            ) from None
    templates = {k: Path(v) for k, v in parse_pairs(template, "--template").items()}
    check_overrides(prompts, templates)
    cfg = PipelineConfig(prompts_dir=prompts, templates=templates, **kw)
    if pool:
        cfg.pool_endpoints = list(pool)
    cfg.set_endpoints(endpoint, **(roles or {}))
    cfg.apply_overrides(parse_pairs(max_tokens, "--max-tokens"), "max_tokens", int)
    cfg.apply_overrides(parse_pairs(temperature, "--temperature"), "temperature", float)
    return cfg


#: Command parameters that `make_config` takes under the same name (`pool_endpoint` is
#: `pool`; `<role>_endpoint` parameters become `roles`).
_CONFIG_PARAMS = (
    "endpoint",
    "max_tokens",
    "temperature",
    "prompts",
    "template",
    "max_attempts",
    "concurrency",
    "pool_system",
    "judge",
    "min_refusals",
    "cot_format",
    "allow_truncated",
    "max_rounds",
    "seed",
    "nodes",
)


def config_from_params(params: dict[str, Any]) -> Any:
    """The pipeline config from a command's parameters (`config_from_params(locals())`).

    Each stage command declares only the options it uses (typer needs them in the
    signature); this collects whichever it has, so the flag -> config mapping lives here
    once, as `DatasetOptions.from_params` does for the reader flags.
    """
    from refusalkit.falsereject.config import ROLES

    kw = {k: params[k] for k in _CONFIG_PARAMS if k in params}
    if "pool_endpoint" in params:  # a list of endpoints, not one role's
        kw["pool"] = params["pool_endpoint"]
    roles = {r: params[f"{r}_endpoint"] for r in ROLES if r != "pool" and f"{r}_endpoint" in params}
    return make_config(roles=roles, **kw)


def run_async(coro: Any, output: Path) -> Any:
    try:
        return asyncio.run(coro)
    except KeyboardInterrupt:
        err_console.print(
            f"[yellow]interrupted[/]: finished items are in {output} and every answer is in the "
            "response log; rerun the same command to resume.",
            highlight=False,
        )
        raise typer.Exit(130) from None


async def with_client(log: Path | None, fn: Any) -> Any:
    from refusalkit.llm.client import LLMClient

    async with LLMClient(log=log) as client:
        return await fn(client)


def print_summary(s: Any) -> None:
    from rich.markup import escape

    st = ", ".join(f"{k} {v}" for k, v in sorted(s.status.items())) or "nothing"
    console.print(
        f"[bold]{s.stage}[/] -> {s.output}: {s.inputs} input(s); kept from before {s.kept_before}, "
        f"new {s.new}; status: {st}\n  calls {s.calls} (+{s.cached} from the log), errors {s.errors}; "
        f"tokens in/out {s.input_tokens}/{s.output_tokens}; cost ${s.cost:.4f}; {s.seconds:.1f}s",
        highlight=False,
    )
    for cat, counts in s.by_category.items():  # the yield of this stage per category
        line = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        console.print(f"  {escape(cat)}: {line}", highlight=False)
    failed = s.status.get("failed", 0) + s.status.get("error", 0)
    if failed:
        err_console.print(
            f"[yellow]{failed} item(s) failed or errored; their records carry `failure`/`error` "
            "with the raw answers. Rerun to retry request errors.[/]"
        )


def emit(summary: Any, as_json: bool) -> None:
    if as_json:
        print_json(summary.to_dict())
    else:
        print_summary(summary)


def print_estimate(cfg: Any, as_json: bool, **kw: Any) -> None:
    from rich.table import Table

    from refusalkit.falsereject.estimate import ASSUMED, estimate_stages

    rows = [e.to_dict() for e in estimate_stages(cfg, **kw)]
    if as_json:
        print_json({"stages": rows, "assumed_rates": ASSUMED})
        return
    table = Table(title="dry run: estimated calls and tokens (nothing is sent)")
    for col in (
        "stage",
        "items",
        "calls min",
        "calls expected",
        "calls max",
        "tokens in",
        "tokens out",
        "tokens out max",
        "cost $",
    ):
        table.add_column(col, justify="left" if col == "stage" else "right")
    for r in rows:
        table.add_row(
            r["stage"],
            *(
                f"{r[k]:,}"
                for k in (
                    "items",
                    "calls_min",
                    "calls_expected",
                    "calls_max",
                    "input_tokens",
                    "output_tokens",
                    "output_tokens_max",
                )
            ),
            "-" if r["cost"] is None else f"{r['cost']:.2f}",
        )
    console.print(table)
    console.print(f"Assumed rates where no input exists yet: {ASSUMED}", highlight=False)


def count_items(path: Path, stage: str, passed: bool) -> int:
    from refusalkit.falsereject.stages import STAGES, read_records

    if not path.exists():
        return 0
    block, ok = STAGES[stage]
    recs = read_records(path).values()
    if passed:
        return sum(1 for r in recs if r.get(block, {}).get("status") in ok)
    return sum(1 for r in recs if r.get(block, {}).get("status") not in (None, "error"))


def load_seeds(
    seeds: list[Path] | None, demo: bool, limit: int | None, options: DatasetOptions
) -> list[Any]:
    """The seed prompts of SEEDS... (or the bundled ones with --demo), read with the shared
    reader flags (`DatasetOptions`)."""
    from refusalkit.core.errors import ConfigError
    from refusalkit.falsereject.extract import demo_seeds_path, read_seeds

    if not seeds and not demo:
        raise ConfigError(
            "no seed files given", hint="pass SEEDS... or --demo for the 20 bundled seeds"
        )
    kw = options.to_kwargs()
    kw["shape"] = kw["shape"] or "prompt_only"
    return read_seeds(list(seeds or []) or [demo_seeds_path()], limit=limit, **kw)


SeedsArg = Annotated[
    list[Path] | None,
    typer.Argument(
        help="Seed prompt files (any format the readers support; read as prompt_only).",
        show_default=False,
    ),
]
DemoOpt = Annotated[
    bool, opt("--demo", help="Use the 20 bundled seeds (HarmBench, StrongREJECT, AdvBench; MIT).")
]


InputArg = Annotated[Path, typer.Argument(help="Output of the previous stage.", show_default=False)]
OutputOpt = Annotated[Path, opt("-o", "--output", help="JSONL to write (resumed if it exists).")]


def run_stage(
    stage: str,
    prev: str,
    input: Path,
    output: Path,
    cfg: Any,
    log: Path | None,
    overwrite: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    import importlib

    if dry_run:
        items = count_items(input, prev, passed=True)
        return print_estimate(
            cfg,
            as_json,
            inputs={stage: items},
            done={stage: count_items(output, stage, passed=False)},
        )
    module, fn = {
        "validate": ("pool", "validate_prompts"),
        "orchestrate": ("orchestrate", "orchestrate_prompts"),
        "respond": ("respond", "respond_prompts"),
    }[stage]
    run = getattr(importlib.import_module(f"refusalkit.falsereject.{module}"), fn)
    summary = run_async(
        with_client(log, lambda c: run(input, output, cfg, c, overwrite=overwrite)), output
    )
    emit(summary, as_json)


def print_yields(result: dict[str, Any]) -> None:
    from rich.table import Table

    y = result["yields"]
    table = Table(title=f"yields per stage and category ({result['out_dir']})")
    table.add_column("category")
    for step in y["steps"]:
        table.add_column(step.replace("_", " "), justify="right")
    for cat, row in y["per_category"].items():
        table.add_row(cat, *(str(row[s]) for s in y["steps"]))
    table.add_row("[bold]total[/]", *(f"[bold]{y['total'][s]}[/]" for s in y["steps"]))
    console.print(table)
    for stage, s in result["stages"].items():
        if stage != "export":
            calls = f"calls {s['calls']} (+{s['cached']} from the log), errors {s['errors']}, {s['seconds']:.1f}s"
            console.print(f"  {stage}: {s['status']}; {calls}", highlight=False)
    fails = {k: v for k, v in y["failures"].items() if v}
    if fails:
        err_console.print(f"[yellow]failures by stage: {fails} (records keep the raw answers)[/]")
