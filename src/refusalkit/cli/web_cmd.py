"""`refusalkit annotate ...` (human labels, agreement, export) and `refusalkit serve` (runs).

`annotate PROJECT_DIR ...` is shorthand for `annotate start PROJECT_DIR ...`: the group
routes any first argument that is not one of its subcommands to `start`. Web modules are
imported inside the commands, so `refusalkit --help` never imports FastAPI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from refusalkit.cli.common import (
    DatasetOptions,
    EncodingOpt,
    FormatOpt,
    JsonOpt,
    PromptFieldOpt,
    ResponseFieldOpt,
    ShapeOpt,
    SkipBadOpt,
    SplitOpt,
)

HostOpt = Annotated[
    str,
    typer.Option("--host", help="Address to bind. Anything but loopback needs --expose."),
]
ExposeOpt = Annotated[
    bool,
    typer.Option(
        "--expose",
        help="Allow a non-loopback --host; every request then needs the access token "
        "(printed, or from $REFUSALKIT_WEB_TOKEN).",
    ),
]


class _DefaultToStart(TyperGroup):
    """`annotate PROJECT_DIR ...` means `annotate start PROJECT_DIR ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["start", *args]
        return super().parse_args(ctx, args)


annotate_app = typer.Typer(
    cls=_DefaultToStart,
    no_args_is_help=True,
    help=(
        "Label exchanges in the browser, measure agreement between annotators, adjudicate, "
        "compare a detector with the human labels, and export the labels.\n\n"
        "Examples:\n\n"
        "  refusalkit annotate proj --data sample.jsonl --annotator alice\n\n"
        "  refusalkit annotate proj --annotator bob --port 8766   (a second annotator)\n\n"
        "  refusalkit annotate agreement proj\n\n"
        "  refusalkit annotate export proj -o gold.jsonl"
    ),
)


def register(app: typer.Typer) -> None:
    app.add_typer(annotate_app, name="annotate")
    app.command("serve", help=_SERVE_HELP)(serve_cmd)


@annotate_app.command(
    "start",
    help=(
        "Create the project (first time, with --data) and serve the annotation workbench.\n\n"
        "The data is read once through the dataset readers (any format and shape `inspect` "
        "understands) into PROJECT_DIR/project.sqlite; labels are written there as they are "
        "made. Each item goes to --overlap annotators (deterministic), plus the first "
        "--shared items to everyone.\n\n"
        "Example: refusalkit annotate proj --data xstest.csv --annotator alice --scheme behavior"
    ),
)
def start(
    project_dir: Path = typer.Argument(..., help="Project folder (created when new)."),
    data: list[Path] = typer.Option(
        None, "--data", help="Dataset file(s) to annotate (new projects)."
    ),
    annotator: list[str] = typer.Option(
        None,
        "--annotator",
        help="Your name (repeat to register several; the first is the one served).",
    ),
    scheme: str = typer.Option(
        None,
        "--scheme",
        help="taxonomy (behaviour + 16 categories), falsereject or behavior.",
        show_default="taxonomy",
    ),
    overlap: int = typer.Option(
        None, "--overlap", min=1, help="Annotators per item.", show_default="2"
    ),
    shared: int = typer.Option(
        None,
        "--shared",
        min=0,
        help="The first N items (project order) go to every annotator.",
        show_default="0",
    ),
    seed: str = typer.Option(
        "0", "--seed", help="Seed of the item order and assignment (new projects)."
    ),
    limit: int = typer.Option(
        None, "--limit", min=1, help="Load only the first N exchanges (new projects)."
    ),
    taxonomy: Path = typer.Option(
        None, "--taxonomy", help="A taxonomy file instead of the bundled one (new projects)."
    ),
    detector: list[str] = typer.Option(
        None, "--detector", help="Detector spec offered on the model-vs-human page (repeatable)."
    ),
    run: list[Path] = typer.Option(
        None, "--run", help="Run folder offered on the model-vs-human page (repeatable)."
    ),
    port: int = typer.Option(8765, "--port", min=1, max=65535),
    host: HostOpt = "127.0.0.1",
    expose: ExposeOpt = False,
    no_serve: bool = typer.Option(False, "--no-serve", help="Set up the project and exit."),
    shape: ShapeOpt = None,
    prompt_field: PromptFieldOpt = None,
    response_field: ResponseFieldOpt = None,
    split: SplitOpt = None,
    skip_bad: SkipBadOpt = False,
    fmt: FormatOpt = None,
    encoding: EncodingOpt = None,
) -> None:
    from refusalkit.annotate import Project
    from refusalkit.annotate._db import DB_NAME
    from refusalkit.cli.common import console
    from refusalkit.core.errors import ConfigError

    names = list(annotator or [])
    if not names and not no_serve:
        raise ConfigError("say who is annotating", hint="pass --annotator NAME")
    if not (project_dir / DB_NAME).is_file():
        if not data:
            raise ConfigError(
                f"{project_dir} is not a project yet", hint="pass --data FILE to create it"
            )
        options = DatasetOptions.from_params(locals())
        project = Project.create(
            project_dir,
            list(data),
            scheme=scheme or "taxonomy",
            overlap=overlap or 2,
            shared=shared or 0,
            seed=seed,
            limit=limit,
            taxonomy=str(taxonomy) if taxonomy else None,
            reader_options=options.to_kwargs(),
        )
        console.print(
            f"created project {project.folder} with {project.n_items():,} items", highlight=False
        )
    else:
        project = Project(project_dir)
        if data:
            from refusalkit.core.io import loads

            loaded = loads(project.meta.get("data") or "[]")
            if [str(p.resolve()) for p in data] != loaded:
                raise ConfigError(
                    f"{project_dir} already holds data from {loaded}",
                    hint="data is loaded once: use a new PROJECT_DIR for other data",
                )
        if scheme and scheme != project.scheme.name:
            raise ConfigError(f"this project uses the {project.scheme.name} scheme, not {scheme}")
        if (overlap and overlap != project.overlap) or (
            shared is not None and shared != project.shared
        ):
            project.set_overlap(overlap or project.overlap, shared)
    for name in names:
        project.add_annotator(name)
    for name in project.annotators():
        prog = project.progress(name)
        console.print(
            f"  {name}: {prog.labelled:,} of {prog.total:,} labelled, {prog.skipped:,} skipped",
            highlight=False,
        )
    if no_serve:
        return
    _serve_annotation(project, names[0], detector or [], run or [], host, port, expose)


def _serve_annotation(
    project: Any,
    who: str,
    detectors: list[str],
    runs: list[Path],
    host: str,
    port: int,
    expose: bool,
) -> None:
    from refusalkit.cli.common import console
    from refusalkit.web.server import require_web_extra, serve, url_for

    require_web_extra()
    from refusalkit.web.annotate_app import Workbench, create_app
    from refusalkit.web.security import make_security

    sec = make_security(host, port, expose=expose)
    run_map = {str(r): r.resolve() for r in runs}
    app = create_app(Workbench(project, sec, who, list(detectors), run_map))
    console.print(
        f"annotating as {who}: open {url_for(host, port, sec)}  (Ctrl-C to stop; labels are saved as you go)",
        highlight=False,
        soft_wrap=True,
    )
    serve(app, host, port)


@annotate_app.command(
    "export",
    help="Write labels as JSONL or CSV for `refusalkit train`/`evaluate`.\n\nExample: refusalkit annotate export proj -o gold.csv",
)
def export_cmd(
    project_dir: Path = typer.Argument(...),
    output: Path = typer.Option(..., "-o", "--output", help="File to write (.jsonl or .csv)."),
    kind: str = typer.Option(
        "gold",
        "--kind",
        help="gold: one reference label per item (adjudicated, else unanimous); labels: every annotator's labels.",
    ),
    annotator: str = typer.Option(
        None, "--annotator", help="With --kind labels: only this annotator."
    ),
    fmt: str = typer.Option(None, "--format", help="jsonl or csv (default: from the suffix)."),
) -> None:
    from refusalkit.annotate import Project
    from refusalkit.annotate.export import export
    from refusalkit.cli.common import console

    n = export(Project(project_dir), output, kind=kind, annotator=annotator, fmt=fmt)
    console.print(f"wrote {n:,} rows to {output}", highlight=False)


@annotate_app.command(
    "agreement",
    help="Cohen's kappa per pair, Fleiss' kappa and Krippendorff's alpha overall and per class.\n\nExample: refusalkit annotate agreement proj --json",
)
def agreement_cmd(project_dir: Path = typer.Argument(...), as_json: JsonOpt = False) -> None:
    from refusalkit.annotate import Project
    from refusalkit.annotate.agreement import agreement_report

    report = agreement_report(Project(project_dir))
    if as_json:
        from refusalkit.cli.common import print_json

        print_json(report.to_dict())
        return
    _print_agreement(report)


def _print_agreement(report: Any) -> None:
    from rich.table import Table

    from refusalkit.cli.common import console
    from refusalkit.web.common import fmt_num, fmt_pct

    console.print(
        f"{len(report.annotators)} annotators, {report.items:,} items, {report.labelled_items:,} labelled, {report.labels:,} labels",
        highlight=False,
    )
    for f in report.fields:
        table = Table(title=f"{f.field}: overall", title_justify="left")
        for col in (
            "items ≥2 labels",
            "agreement",
            "Fleiss κ",
            "Fleiss items×raters",
            "Krippendorff α",
        ):
            table.add_column(col, justify="right")
        table.add_row(
            str(f.items_multi),
            fmt_pct(f.percent),
            fmt_num(f.fleiss),
            f"{f.fleiss_items}×{f.fleiss_raters}",
            fmt_num(f.alpha),
        )
        console.print(table)
        if f.pairs:
            pairs = Table(title=f"{f.field}: Cohen's κ per pair", title_justify="left")
            for col in ("A", "B", "shared", "agreement", "κ"):
                pairs.add_column(col, justify="left" if col in ("A", "B") else "right")
            for p in f.pairs:
                pairs.add_row(p.a, p.b, str(p.n), fmt_pct(p.percent), fmt_num(p.kappa))
            console.print(pairs)
        if f.per_class:
            per = Table(title=f"{f.field}: per class (one-vs-rest)", title_justify="left")
            for col in ("class", "labels", "Fleiss κ", "α"):
                per.add_column(col, justify="left" if col == "class" else "right")
            for c in f.per_class:
                per.add_row(c.label, str(c.ratings), fmt_num(c.fleiss), fmt_num(c.alpha))
            console.print(per)


@annotate_app.command(
    "status",
    help="Items, scheme, overlap and each annotator's progress.\n\nExample: refusalkit annotate status proj",
)
def status_cmd(project_dir: Path = typer.Argument(...), as_json: JsonOpt = False) -> None:
    from refusalkit.annotate import Project
    from refusalkit.annotate.agreement import reference_labels

    project = Project(project_dir)
    info: dict[str, Any] = {
        "project": str(project.folder),
        "scheme": project.scheme.name,
        "items": project.n_items(),
        "overlap": project.overlap,
        "shared": project.shared,
        "reference_labels": len(reference_labels(project)),
        "gold": len(project.gold()),
        "annotators": {
            a: {"labelled": p.labelled, "skipped": p.skipped, "queue": p.total}
            for a in project.annotators()
            for p in [project.progress(a)]
        },
    }
    if as_json:
        from refusalkit.cli.common import print_json

        print_json(info)
        return
    from refusalkit.cli.common import console

    console.print(
        f"{info['project']}: {info['items']:,} items, scheme {info['scheme']}, overlap {info['overlap']}, "
        f"shared {info['shared']}, {info['reference_labels']:,} with a reference label ({info['gold']:,} adjudicated)",
        highlight=False,
    )
    for a, p in info["annotators"].items():
        console.print(
            f"  {a}: {p['labelled']:,} of {p['queue']:,} labelled, {p['skipped']:,} skipped",
            highlight=False,
        )


_SERVE_HELP = (
    "Browse saved runs (dataset audits, model audits, benchmarks) in the browser: filter by "
    "model, dataset, category and behaviour, open any example, see the report charts.\n\n"
    "RESULTS_DIR is one run folder (with run.json and results.parquet) or a folder of them.\n\n"
    "Example: refusalkit serve runs/"
)


def serve_cmd(
    results_dir: Path = typer.Argument(..., help="A run folder, or a folder holding run folders."),
    port: int = typer.Option(8766, "--port", min=1, max=65535),
    host: HostOpt = "127.0.0.1",
    expose: ExposeOpt = False,
) -> None:
    from refusalkit.cli.common import console
    from refusalkit.core.errors import ConfigError
    from refusalkit.web.server import require_web_extra, serve, url_for

    if not results_dir.is_dir():
        raise ConfigError(
            f"{results_dir} is not a folder", hint="pass a run folder or a folder of runs"
        )
    require_web_extra()
    from refusalkit.web.security import make_security
    from refusalkit.web.viewer_app import create_viewer

    sec = make_security(host, port, expose=expose)
    app, n_runs = create_viewer(results_dir, sec)
    console.print(
        f"{n_runs} run(s) under {results_dir.resolve()}: open {url_for(host, port, sec)}  (Ctrl-C to stop)",
        highlight=False,
        soft_wrap=True,
    )
    serve(app, host, port)
