"""`refusalkit audit data|curate`, `refusalkit report` and `refusalkit diff`.

`audit_app` is the `audit` sub-app. Other capabilities add their own audits to it from
their own module, before the CLI runs (typer builds the command tree lazily):

    from refusalkit.cli.audit_cmd import audit_app

    def register(app):            # in e.g. cli/model_audit_cmd.py, listed after audit_cmd
        audit_app.command("model", help=...)(audit_model)

`report RUN_DIR` re-renders any run folder through `reports.results.RENDERERS`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

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

audit_app = typer.Typer(
    name="audit",
    help="Audit datasets (and, with other subcommands, models) for refusals.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)

_DATA_HELP = (
    "Audit the refusal composition of SFT / preference datasets.\n\n"
    "Classifies every assistant turn (HH-RLHF/DPO: both sides) and writes a run folder: "
    "report.html (self-contained, offline), report.md, report.json, results.parquet (one row per "
    "exchange: query it with DuckDB or pandas) and run.json. With no DATASET it audits the small "
    "samples bundled with refusalkit (ShareGPT, Alpaca, HH-RLHF, Dolly, LIMA).\n\n"
    "Uses every core; rerunning the same command resumes an interrupted audit (finished shards are "
    "not redone). --keep/--drop write filtered copies of each dataset in its original format plus a "
    "manifest of every removed row (docs/audit.md).\n\n"
    "Examples:\n\n"
    "  refusalkit audit data\n\n"
    "  refusalkit audit data sharegpt.jsonl.gz hh_rlhf.jsonl.gz -o audits/v1\n\n"
    "  refusalkit audit data alpaca.json --drop behavior=refusal --drop category=privacy\n\n"
    "  refusalkit audit data big.jsonl --engine ray --ray-address auto"
)
FilterOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Filter FIELD=VALUE[,VALUE] (FIELD: behavior, category, group); repeatable.",
        show_default=False,
    ),
]
TurnsOpt = Annotated[
    str,
    typer.Option(
        "--turns",
        help="Turns the filters look at: all, or final (last turn of each conversation/side).",
    ),
]
SideOpt = Annotated[
    str,
    typer.Option(
        "--side",
        help="Preference pairs: filter on any side, or only chosen / rejected (the pair is kept or removed whole).",
    ),
]


def register(app: typer.Typer) -> None:
    """Add `audit` (data, curate, model), `report` and `diff` to the root app."""
    audit_app.command("data", help=_DATA_HELP)(audit_data_cmd)
    audit_app.command("curate", help=_CURATE_HELP)(audit_curate_cmd)
    from refusalkit.cli.model_audit_cmd import MODEL_HELP, audit_model_cmd

    audit_app.command("model", help=MODEL_HELP)(audit_model_cmd)
    app.add_typer(audit_app, name="audit")
    app.command("report", help=_REPORT_HELP)(report_cmd)
    app.command("diff", help=_DIFF_HELP)(diff_cmd)


def _curation(keep: list[str] | None, drop: list[str] | None, turns: str, side: str) -> Any:
    from refusalkit.audit import CurationOptions, parse_filter

    return CurationOptions(
        drop=[parse_filter(f) for f in drop or []],
        keep=[parse_filter(f) for f in keep or []],
        turns=turns,
        side=side,
    )


def audit_data_cmd(
    datasets: list[Path] | None = typer.Argument(
        None,
        help="Files or HF save_to_disk folders (default: the bundled samples).",
        show_default=False,
    ),
    detector: str = typer.Option(
        "default",
        "--detector",
        "-d",
        help="default | rules | PATH | llm:ENDPOINT | llm-falsereject:ENDPOINT",
    ),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Run folder (default: ./refusalkit-audit/<dataset name>).",
        show_default=False,
    ),
    keep: FilterOpt = None,
    drop: FilterOpt = None,
    turns: TurnsOpt = "all",
    side: SideOpt = "any",
    workers: int = typer.Option(
        0, "--workers", "-w", min=0, help="Worker processes (0: one per core)."
    ),
    engine: str = typer.Option("local", "--engine", help="local (process pool) or ray (Ray Data)."),
    ray_address: str | None = typer.Option(
        None,
        "--ray-address",
        help="Ray cluster to join (e.g. auto, ray://host:10001); default: start Ray locally.",
        show_default=False,
    ),
    batch_size: int = typer.Option(512, "--batch-size", min=1, help="Exchanges per detector call."),
    limit: int | None = typer.Option(
        None,
        "--limit",
        min=1,
        help="Only the first N exchanges of each dataset (a quick look; no curation).",
        show_default=False,
    ),
    name: list[str] | None = typer.Option(
        None,
        "--name",
        help="Report name of each DATASET, in order (repeat once per dataset; default: file stem).",
        show_default=False,
    ),
    examples: int = typer.Option(
        5, "--examples", min=0, help="Example rows per category in the report."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace a different audit already in the run folder."
    ),
    shard_mb: float = typer.Option(
        32.0, "--shard-mb", min=0.001, hidden=True, help="Target input MiB per shard."
    ),
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    rejects: RejectsOpt = None,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.audit import AuditConfig, audit_data, bundled_samples, default_run_dir
    from refusalkit.cli.common import err_console
    from refusalkit.core.errors import ConfigError

    if engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine {engine!r}", hint="--engine local or --engine ray")
    curation = _curation(keep, drop, turns, side)
    if curation.active and limit is not None:
        raise ConfigError(
            "--keep/--drop need the whole dataset audited", hint="leave out --limit to curate"
        )
    bundled = not datasets
    if name and len(name) != len(datasets or []):
        raise ConfigError(
            f"{len(name)} --name for {len(datasets or [])} datasets",
            hint="give one --name per DATASET, in the same order",
        )
    if name and len(set(name)) != len(name):
        raise ConfigError("two datasets have the same --name", hint="give each --name once")
    paths = bundled_samples() if bundled else [str(p) for p in datasets or []]
    opts = DatasetOptions.from_params(locals())
    cfg = AuditConfig(
        paths,
        detector=detector,
        shape=shape,
        fields=opts.fields(),
        skip_bad=skip_bad,
        rejects=str(rejects) if rejects else None,
        split=split,
        encoding=encoding,
        format=fmt,
        limit=limit,
        batch_size=batch_size,
        examples=examples,
        workers=workers,
        engine=engine,
        ray_address=ray_address,
        shard_bytes=int(shard_mb * (1 << 20)),
        names=list(name or []),
    )
    out = output or default_run_dir(paths, bundled)

    def log(msg: str) -> None:
        if not as_json:
            from rich.text import Text

            err_console.print(Text(msg, style="dim"), highlight=False)

    if bundled:
        log(f"no DATASET given: auditing the {len(paths)} bundled samples ({', '.join(cfg.names)})")
    log(f"detector {detector} · {cfg.workers} worker(s) · engine {engine} · run folder {out}")
    try:
        res = audit_data(
            cfg,
            out,
            curation=curation,
            overwrite=overwrite,
            progress=False if as_json else None,
            log=log,
            command=["refusalkit", *sys.argv[1:]],
        )
    except KeyboardInterrupt:
        from rich.text import Text

        err_console.print(
            Text.assemble(
                ("interrupted", "yellow"),
                f": finished shards are saved in {out}/work; rerun the same command to resume.",
            ),
            highlight=False,
        )
        raise SystemExit(130) from None
    if res.already_complete:
        log("this audit was already complete in the run folder: report re-written from its results")
    if as_json:
        from refusalkit.cli.common import print_json
        from refusalkit.core.io import loads

        doc = loads(res.report_paths["json"].read_bytes())
        print_json(
            {
                "run_dir": str(out),
                "totals": doc["totals"],
                "datasets": {d: v["composition"] for d, v in doc["datasets"].items()},
                "curation": res.manifest and res.manifest["totals"],
            }
        )
        return
    from refusalkit.audit.console import print_outputs, print_summary

    print_summary(res.agg, res.info)
    print_outputs(out, res)


_CURATE_HELP = (
    "Write filtered copies of the datasets of a finished audit (no re-classification).\n\n"
    "A row is removed when any considered turn matches a --drop filter; with --keep, a row is "
    "kept only when some considered turn matches. Every removed row is listed with its reason in "
    "OUT/removed.jsonl; counts in OUT/manifest.json.\n\n"
    "Examples:\n\n"
    "  refusalkit audit curate refusalkit-audit/samples --drop behavior=refusal\n\n"
    "  refusalkit audit curate run/ --drop group=cannot --side chosen --turns final"
)


def audit_curate_cmd(
    run_dir: Path = typer.Argument(..., help="A folder written by `refusalkit audit data`."),
    keep: FilterOpt = None,
    drop: FilterOpt = None,
    turns: TurnsOpt = "all",
    side: SideOpt = "any",
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="Where to write (default: RUN_DIR/curated).",
        show_default=False,
    ),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.audit import curate_run
    from refusalkit.core.errors import ConfigError

    curation = _curation(keep, drop, turns, side)
    if not curation.active:
        raise ConfigError(
            "give at least one --keep or --drop filter", hint="e.g. --drop behavior=refusal"
        )
    manifest = curate_run(run_dir, curation, output)
    if as_json:
        from refusalkit.cli.common import print_json

        print_json(manifest)
        return
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console

    table = Table(title="Curation", title_justify="left")
    for col in ("dataset", "rows", "kept", "removed", "why", "output"):
        table.add_column(col)
    for d in manifest["datasets"]:
        why = "; ".join(f"{r}: {n:,}" for r, n in d["removed_by_reason"].items()) or "–"
        table.add_row(
            Text(d["dataset"]),
            f"{d['rows']:,}",
            f"{d['kept']:,}",
            f"{d['removed']:,}",
            Text(why),
            Text(d["output"]),
        )
    console.print(table)
    console.print(Text(f"removed rows: {manifest['removed_rows_file']}"), highlight=False)


_REPORT_HELP = (
    "Re-render the report of a saved run folder from its results (nothing is re-classified).\n\n"
    "Example:\n\n  refusalkit report refusalkit-audit/samples"
)


def report_cmd(
    run_dir: Path = typer.Argument(..., help="A run folder (audit data, ...)."),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.reports.results import rerender

    paths = rerender(run_dir)
    if as_json:
        from refusalkit.cli.common import print_json

        print_json({k: str(v) for k, v in paths.items()})
        return
    from rich.text import Text

    from refusalkit.cli.common import console

    console.print(Text("wrote " + ", ".join(str(p) for p in paths.values())), highlight=False)


_DIFF_HELP = (
    "Compare two dataset audits: refusal rate, behaviour, group and category deltas with 95% "
    "intervals and Holm-adjusted p-values, per dataset (matched by name; a single dataset on each "
    "side is compared whatever its name).\n\n"
    "Examples:\n\n  refusalkit diff audits/v1 audits/v2\n\n  refusalkit diff audits/v1 audits/v2 -o audits/v1-vs-v2"
)


def diff_cmd(
    run_a: Path = typer.Argument(..., help="The first (baseline) run folder."),
    run_b: Path = typer.Argument(..., help="The second run folder."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Also write diff.html/.md/.json here.", show_default=False
    ),
    as_json: JsonOpt = False,
) -> None:
    from refusalkit.audit.diff import diff_runs, print_diff

    result = diff_runs(run_a, run_b, output)
    if as_json:
        from refusalkit.cli.common import print_json

        print_json(result.data)
        return
    print_diff(result)
