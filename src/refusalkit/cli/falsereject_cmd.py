"""`refusalkit falsereject ...`: the FalseReject generation pipeline, one command per stage.

    graph SEEDS... -o graph.json         stage 1: entity graph from toxic seed prompts
    generate --graph graph.json -n N -o prompts.jsonl      stage 2: Generator vs Discriminator
    validate prompts.jsonl -o validated.jsonl              stage 3: refusal validation pool
    orchestrate validated.jsonl -o checked.jsonl           stage 4: final LLM check
    respond checked.jsonl -o responses.jsonl               stage 5: instruct + CoT answers
    export responses.jsonl -o DIR                          stage 6: dataset, SFT files, stats
    run SEEDS... -o DIR                                    all of them in one folder

Every stage resumes when rerun; `--dry-run` estimates calls and tokens without sending
anything. Heavy modules are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refusalkit.cli.common import (
    DatasetOptions,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    PromptFieldOpt,
    RejectsOpt,
    SkipBadOpt,
    SplitOpt,
)
from refusalkit.cli.falsereject_opts import (
    AttemptsOpt,
    CategoryOpt,
    ConcurrencyOpt,
    CotOpt,
    DemoOpt,
    DiscriminatorOpt,
    DryRunOpt,
    EndpointOpt,
    ExtractorOpt,
    GeneratorOpt,
    InputArg,
    JudgeOpt,
    KOpt,
    LimitOpt,
    LogOpt,
    MaxTokensOpt,
    NodesOpt,
    NOpt,
    OrchestratorOpt,
    OutputOpt,
    OverwriteOpt,
    PoolOpt,
    PoolSystemOpt,
    PromptsOpt,
    ResponderOpt,
    RoundsOpt,
    SeedOpt,
    SeedsArg,
    TemperatureOpt,
    TemplateOpt,
    TruncOpt,
    config_from_params,
    count_items,
    emit,
    load_seeds,
    opt,
    print_estimate,
    run_async,
    run_stage,
    with_client,
)

fr_app = typer.Typer(
    help="Generate FalseReject-style over-refusal data: prompts that look harmful but are "
    "benign and that real models refuse, with instruct and CoT answers. See docs/falsereject.md.",
    no_args_is_help=True,
)


@fr_app.command("graph")
def graph_cmd(
    seeds: SeedsArg = None,
    output: Annotated[
        Path,
        opt(
            "-o",
            "--output",
            help="Graph JSON to write (per-seed records go to <name>.extract.jsonl).",
        ),
    ] = Path("graph.json"),
    demo: DemoOpt = False,
    limit: LimitOpt = None,
    endpoint: EndpointOpt = None,
    extractor_endpoint: ExtractorOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    max_attempts: AttemptsOpt = 3,
    prompts: PromptsOpt = None,
    template: TemplateOpt = None,
    concurrency: ConcurrencyOpt = None,
    log: LogOpt = None,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    prompt_field: PromptFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stage 1: extract entities and relations from toxic seed prompts; merge them into a graph.

    Example: refusalkit falsereject graph ../shared/data/harmful/advbench/harmful_behaviors.csv --limit 50 -o graph.json
    """
    from refusalkit.falsereject.extract import extract_graph

    cfg = config_from_params(locals())
    items = load_seeds(seeds, demo, limit, DatasetOptions.from_params(locals()))
    if dry_run:
        from refusalkit.falsereject.extract import extractions_path

        done = count_items(extractions_path(output), "graph", passed=False)
        return print_estimate(cfg, as_json, seeds=len(items), done={"graph": done})
    _, summary = run_async(
        with_client(log, lambda c: extract_graph(items, output, cfg, c, overwrite=overwrite)),
        output,
    )
    emit(summary, as_json)


@fr_app.command("generate")
def generate_cmd(
    graph: Annotated[Path, opt("--graph", "-g", help="Graph JSON from `falsereject graph`.")],
    output: Annotated[
        Path, opt("-o", "--output", help="Prompts JSONL to write (resumed if it exists).")
    ],
    n: NOpt = 10,
    category: CategoryOpt = None,
    max_rounds: RoundsOpt = 3,
    seed: SeedOpt = 0,
    nodes: NodesOpt = "2-4",
    endpoint: EndpointOpt = None,
    generator_endpoint: GeneratorOpt = None,
    discriminator_endpoint: DiscriminatorOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    max_attempts: AttemptsOpt = 3,
    prompts: PromptsOpt = None,
    template: TemplateOpt = None,
    concurrency: ConcurrencyOpt = None,
    log: LogOpt = None,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Stage 2: the Generator writes prompts from sampled sub-graphs; the Discriminator reviews.

    Example: refusalkit falsereject generate --graph graph.json -c "Property Crimes" -c 22 -n 100 -o prompts.jsonl
    """
    from refusalkit.falsereject.generate import generate_prompts, resolve_categories
    from refusalkit.falsereject.graph import EntityGraph

    cfg = config_from_params(locals())
    cats = resolve_categories(category)
    if dry_run:
        return print_estimate(
            cfg, as_json, n=n, done={"generate": count_items(output, "generate", passed=False)}
        )
    g = EntityGraph.load(graph)
    summary = run_async(
        with_client(
            log,
            lambda c: generate_prompts(
                g, output, cfg, c, categories=cats, n=n, overwrite=overwrite
            ),
        ),
        output,
    )
    emit(summary, as_json)


@fr_app.command("validate")
def validate_cmd(
    input: InputArg,
    output: OutputOpt,
    pool_endpoint: PoolOpt = None,
    pool_system: PoolSystemOpt = None,
    judge: JudgeOpt = "default",
    min_refusals: KOpt = 1,
    endpoint: EndpointOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    concurrency: ConcurrencyOpt = None,
    log: LogOpt = None,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Stage 3: send the accepted prompts to a pool of endpoints; keep those >= K of them refuse.

    Example: refusalkit falsereject validate prompts.jsonl --pool-endpoint gpt --pool-endpoint claude -k 1 -o validated.jsonl
    """
    cfg = config_from_params(locals())
    run_stage("validate", "generate", input, output, cfg, log, overwrite, dry_run, as_json)


@fr_app.command("orchestrate")
def orchestrate_cmd(
    input: InputArg,
    output: OutputOpt,
    orchestrator_endpoint: OrchestratorOpt = None,
    endpoint: EndpointOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    max_attempts: AttemptsOpt = 3,
    prompts: PromptsOpt = None,
    template: TemplateOpt = None,
    concurrency: ConcurrencyOpt = None,
    log: LogOpt = None,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Stage 4: the Orchestrator's final check (benign, plausible, sensitive-looking, in category).

    Example: refusalkit falsereject orchestrate validated.jsonl --orchestrator-endpoint gpt -o checked.jsonl
    """
    cfg = config_from_params(locals())
    run_stage("orchestrate", "validate", input, output, cfg, log, overwrite, dry_run, as_json)


@fr_app.command("respond")
def respond_cmd(
    input: InputArg,
    output: OutputOpt,
    responder_endpoint: ResponderOpt = None,
    cot_format: CotOpt = "think",
    allow_truncated: TruncOpt = False,
    endpoint: EndpointOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    max_attempts: AttemptsOpt = 3,
    prompts: PromptsOpt = None,
    template: TemplateOpt = None,
    concurrency: ConcurrencyOpt = None,
    log: LogOpt = None,
    overwrite: OverwriteOpt = False,
    dry_run: DryRunOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Stage 5: four-part answers to every passed prompt, in the instruct and the CoT format.

    Example: refusalkit falsereject respond checked.jsonl --responder-endpoint gpt -o responses.jsonl
    """
    cfg = config_from_params(locals())
    run_stage("respond", "orchestrate", input, output, cfg, log, overwrite, dry_run, as_json)


def register(app: typer.Typer) -> None:
    from refusalkit.cli.falsereject_run_cmd import add_commands

    add_commands(fr_app)
    app.add_typer(fr_app, name="falsereject")
