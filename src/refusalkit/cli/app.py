"""The `refusalkit` command: a thin typer app; each capability registers its commands.

Command modules import their heavy dependencies inside the command functions, so
`refusalkit --help` stays fast and the core never imports torch, ray or a web stack.
"""

from __future__ import annotations

import importlib

import typer

from refusalkit._version import __version__

app = typer.Typer(
    name="refusalkit",
    help=(
        "Measure and fix how LLMs refuse: classify refusals (16-category taxonomy), audit "
        "datasets and models, benchmark over-refusal, generate data, annotate, fine-tune."
    ),
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)

#: Command modules, each exposing `register(app)`. Order is the order in `--help`.
COMMAND_MODULES = (
    "refusalkit.cli.inspect_cmd",
    "refusalkit.cli.taxonomy_cmd",
    "refusalkit.cli.classify_cmd",
    "refusalkit.cli.llm_cmd",
    "refusalkit.cli.audit_cmd",
    "refusalkit.cli.bench_cmd",
    "refusalkit.cli.web_cmd",
    "refusalkit.cli.falsereject_cmd",
    "refusalkit.cli.synth_cmd",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"refusalkit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version."
    ),
) -> None:
    """refusalkit: refusal measurement toolkit."""


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    """Console-script entry point: user errors become one clear message and exit 2."""
    from refusalkit.core.errors import RefusalkitError

    try:
        app()
    except RefusalkitError as exc:
        from refusalkit.cli.common import fail

        fail(str(exc))
    except KeyboardInterrupt:
        from refusalkit.cli.common import err_console

        err_console.print("[yellow]interrupted[/]: finished work was saved; rerun to resume.")
        raise SystemExit(130) from None
