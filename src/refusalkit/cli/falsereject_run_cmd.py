"""`refusalkit falsereject export` and `falsereject run` (the stage commands are in
`cli/falsereject_cmd.py`; `add_commands` attaches these two to the same sub-app)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from refusalkit.cli.common import DatasetOptions, JsonOpt, PromptFieldOpt, console, print_json
from refusalkit.cli.falsereject_opts import (
    AttemptsOpt,
    BackendOpt,
    CategoryOpt,
    ConcurrencyOpt,
    CotOpt,
    DemoOpt,
    DiscriminatorOpt,
    DryRunOpt,
    EndpointOpt,
    ExtractorOpt,
    GeneratorOpt,
    JudgeOpt,
    KOpt,
    LimitOpt,
    LogOpt,
    MaxTokensOpt,
    NodesOpt,
    NOpt,
    OrchestratorOpt,
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
    ThresholdOpt,
    TruncOpt,
    config_from_params,
    count_items,
    load_seeds,
    opt,
    print_estimate,
    print_yields,
    run_async,
)


def done_in_run(out_dir: Path) -> dict[str, int]:
    """Items already finished in a run folder, so a resumed run's dry run counts the rest."""
    from refusalkit.falsereject.extract import extractions_path
    from refusalkit.falsereject.pipeline import stage_paths

    paths = stage_paths(out_dir)
    done = {"graph": count_items(extractions_path(paths["graph"]), "graph", passed=False)}
    for stage in ("generate", "validate", "orchestrate", "respond"):
        done[stage] = count_items(paths[stage], stage, passed=False)
    return done


def export_cmd(
    input: Annotated[
        Path, typer.Argument(help="Output of `falsereject respond`.", show_default=False)
    ],
    output: Annotated[Path, opt("-o", "--output", help="Export folder.")],
    dedup_backend: BackendOpt = "auto",
    threshold: ThresholdOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Stage 6: FalseReject-schema dataset with provenance, SFT chat files, dedup and diversity stats.

    Example: refusalkit falsereject export responses.jsonl -o export/
    """
    from refusalkit.falsereject.export import export_dataset

    stats = export_dataset(
        input,
        output,
        backend=None if dedup_backend == "none" else dedup_backend,
        threshold=threshold,
    )
    if as_json:
        return print_json(stats)
    d = stats["diversity"]
    console.print(
        f"[bold]export[/] -> {output}: {stats['exported']} of {stats['items']} item(s) "
        f"(duplicates: {stats['duplicates']['exact']} exact, {stats['duplicates']['near']} near, "
        f"backend {stats['dedup']['backend']}); Self-BLEU {d['self_bleu']:.3f}, distinct-2 {d['distinct_2']:.3f}",
        highlight=False,
    )


def run_cmd(
    seeds: SeedsArg = None,
    output: Annotated[Path, opt("-o", "--output", help="Run folder.")] = Path("falsereject-run"),
    demo: DemoOpt = False,
    limit: LimitOpt = None,
    n: NOpt = 10,
    category: CategoryOpt = None,
    max_rounds: RoundsOpt = 3,
    seed: SeedOpt = 0,
    nodes: NodesOpt = "2-4",
    endpoint: EndpointOpt = None,
    extractor_endpoint: ExtractorOpt = None,
    generator_endpoint: GeneratorOpt = None,
    discriminator_endpoint: DiscriminatorOpt = None,
    pool_endpoint: PoolOpt = None,
    pool_system: PoolSystemOpt = None,
    judge: JudgeOpt = "default",
    min_refusals: KOpt = 1,
    orchestrator_endpoint: OrchestratorOpt = None,
    responder_endpoint: ResponderOpt = None,
    cot_format: CotOpt = "think",
    allow_truncated: TruncOpt = False,
    dedup_backend: BackendOpt = "auto",
    threshold: ThresholdOpt = None,
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
    as_json: JsonOpt = False,
) -> None:
    """All stages in one run folder (resumable as a whole), then the yields per stage and category.

    Example: refusalkit falsereject run --demo -n 20 -k 0 --cot-format json -o fr-demo/
    """
    from refusalkit.falsereject.generate import resolve_categories
    from refusalkit.falsereject.pipeline import run_pipeline

    cfg = config_from_params(locals())
    cats = resolve_categories(category)
    items = load_seeds(seeds, demo, limit, DatasetOptions(prompt_field=prompt_field))
    if dry_run:
        return print_estimate(cfg, as_json, seeds=len(items), n=n, done=done_in_run(output))
    args = {
        "seeds": [str(s) for s in seeds or []],
        "demo": demo,
        "limit": limit,
        "n": n,
        "categories": category,
    }
    backend = None if dedup_backend == "none" else dedup_backend
    result = run_async(
        run_pipeline(
            items,
            output,
            cfg,
            categories=cats,
            n=n,
            log=log,
            overwrite=overwrite,
            dedup_backend=backend,
            dedup_threshold=threshold,
            arguments=args,
        ),
        output,
    )
    if as_json:
        return print_json(result)
    print_yields(result)


def add_commands(app: typer.Typer) -> None:
    app.command("export")(export_cmd)
    app.command("run")(run_cmd)
