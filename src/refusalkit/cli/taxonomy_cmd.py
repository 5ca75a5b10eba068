"""`refusalkit taxonomy`: show, export and validate the refusal and FalseReject taxonomies.

Category text can come from a user's file, so everything is printed with Rich markup
and highlighting disabled (a name like "[bold]" is shown as written).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

taxonomy_app = typer.Typer(
    name="taxonomy",
    help=(
        "Show, export and validate taxonomies: the 16-category refusal taxonomy "
        "(`refusal`) and the FalseReject safety taxonomy (`falsereject`).\n\n"
        "Examples:\n\n"
        "  refusalkit taxonomy show\n\n"
        "  refusalkit taxonomy show privacy --examples\n\n"
        "  refusalkit taxonomy show -t falsereject --json\n\n"
        "  refusalkit taxonomy export --format markdown -o taxonomy.md\n\n"
        "  refusalkit taxonomy validate my_taxonomy.yaml"
    ),
    no_args_is_help=True,
    rich_markup_mode=None,
)

_TAXONOMY_HELP = "refusal | falsereject | PATH to a YAML/JSON taxonomy file (kind detected)."


def register(app: typer.Typer) -> None:
    """Add `refusalkit taxonomy ...` to the root app."""
    app.add_typer(
        taxonomy_app,
        name="taxonomy",
        short_help="Show, export and validate the refusal and FalseReject taxonomies.",
    )


def _fail(message: str, code: int = 2) -> None:
    from rich.text import Text

    from refusalkit.cli.common import err_console

    err_console.print(Text.assemble(("error: ", "bold red"), message), highlight=False)
    raise typer.Exit(code)


def _load(spec: str) -> Any:
    from refusalkit.core.errors import RefusalkitError
    from refusalkit.taxonomy import load_any

    try:
        return load_any(spec)
    except RefusalkitError as exc:
        _fail(str(exc))


@taxonomy_app.command("show")
def show(
    category: str = typer.Argument(
        None, help="Show one category in full (id, or FalseReject id/name).", show_default=False
    ),
    taxonomy: str = typer.Option("refusal", "--taxonomy", "-t", help=_TAXONOMY_HELP),
    examples: bool = typer.Option(False, "--examples", help="Include example exchanges."),
    as_json: bool = typer.Option(False, "--json", help="Print the taxonomy (or category) as JSON."),
) -> None:
    """Print a taxonomy as a table, or one category in full.

    Examples:

      refusalkit taxonomy show

      refusalkit taxonomy show modalities --examples

      refusalkit taxonomy show "Property Crimes" -t falsereject

      refusalkit taxonomy show -t my_taxonomy.yaml --json
    """
    from refusalkit.cli.common import print_json
    from refusalkit.taxonomy import FalseRejectTaxonomy

    tax = _load(taxonomy)
    if category is not None:
        try:
            item = tax.resolve(category) if isinstance(tax, FalseRejectTaxonomy) else tax[category]
        except KeyError as exc:
            _fail(str(exc.args[0]) if exc.args else str(exc))
        if as_json:
            print_json(item.to_dict())
        elif isinstance(tax, FalseRejectTaxonomy):
            _print_falsereject_category(tax, item)
        else:
            _print_category(item, examples=True)
        return
    if as_json:
        print_json(tax.to_dict())
    elif isinstance(tax, FalseRejectTaxonomy):
        _print_falsereject_table(tax)
    else:
        _print_refusal_table(tax, examples=examples)


def _print_refusal_table(tax: Any, *, examples: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console

    table = Table(
        title=Text(f"Refusal taxonomy {tax.name} (version {tax.version}), {len(tax)} categories"),
        show_lines=True,
        expand=True,
    )
    table.add_column("id", style="bold", no_wrap=True)
    table.add_column("name")
    table.add_column("group", no_wrap=True)
    table.add_column("definition", ratio=1)
    for c in tax.categories:
        table.add_row(Text(c.id), Text(c.name), Text(c.group), Text(c.definition))
    console.print(table, highlight=False)
    if examples:
        for c in tax.categories:
            _print_category(c, examples=True, header_only=True)


def _print_category(c: Any, *, examples: bool, header_only: bool = False) -> None:
    from rich.text import Text

    from refusalkit.cli.common import console

    def out(label: str, text: str, style: str = "bold") -> None:
        console.print(Text.assemble((label, style), text), highlight=False)

    console.print()
    out("", f"{c.id}: {c.name} ({c.group})", "bold")
    if not header_only:
        out("definition: ", c.definition)
        if c.distinguish:
            out("distinguish: ", c.distinguish)
        if c.cues:
            out("cues: ", " | ".join(c.cues))
    if examples:
        for n, ex in enumerate(c.examples, 1):
            console.print(Text(f"  example {n}", style="dim"), highlight=False)
            if ex.system:
                out("    system: ", ex.system, "cyan")
            out("    user: ", ex.instruction, "cyan")
            out("    response: ", ex.response, "cyan")


def _print_falsereject_table(tax: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from refusalkit.cli.common import console

    table = Table(
        title=Text(
            f"FalseReject taxonomy {tax.name} (version {tax.version}), {len(tax)} categories"
        ),
        expand=True,
    )
    table.add_column("id", justify="right", no_wrap=True)
    table.add_column("name", style="bold")
    table.add_column("domain", no_wrap=True)
    table.add_column("description", ratio=1)
    for c in tax.categories:
        table.add_row(Text(str(c.id)), Text(c.name), Text(c.domain), Text(c.description))
    console.print(table, highlight=False)


def _print_falsereject_category(tax: Any, c: Any) -> None:
    from rich.text import Text

    from refusalkit.cli.common import console

    console.print(Text(f"{c.id}: {c.name}", style="bold"), highlight=False)
    console.print(Text(f"domain: {c.domain} ({tax.domain_name(c.domain)})"), highlight=False)
    if c.description:
        console.print(Text(f"description: {c.description}"), highlight=False)
    if c.aliases:
        console.print(Text(f"also written: {'; '.join(c.aliases)}"), highlight=False)


_SUFFIX_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json", ".md": "markdown"}


@taxonomy_app.command("export")
def export_cmd(
    taxonomy: str = typer.Option("refusal", "--taxonomy", "-t", help=_TAXONOMY_HELP),
    fmt: str = typer.Option(
        None,
        "--format",
        "-f",
        help="yaml | json | markdown (default: from the -o suffix, else yaml).",
        show_default=False,
    ),
    output: Path = typer.Option(
        None, "--output", "-o", help="Write here instead of stdout.", show_default=False
    ),
    heading_level: int = typer.Option(
        1, "--heading-level", min=1, max=4, help="Markdown: level of the top heading."
    ),
) -> None:
    """Export a taxonomy as YAML or JSON (loadable again) or Markdown (documentation).

    Examples:

      refusalkit taxonomy export > my_taxonomy.yaml   (start a custom taxonomy)

      refusalkit taxonomy export -t falsereject --format json

      refusalkit taxonomy export --format markdown -o taxonomy.md
    """
    from refusalkit.core.io import atomic_write
    from refusalkit.taxonomy.export import FORMATS, export

    if fmt is None:
        fmt = _SUFFIX_FORMATS.get(output.suffix.lower(), "yaml") if output else "yaml"
    fmt = {"md": "markdown", "yml": "yaml"}.get(fmt.lower(), fmt.lower())
    if fmt not in FORMATS:
        _fail(f"unknown format {fmt!r}\n  hint: use --format {' | '.join(FORMATS)}")
    text = export(_load(taxonomy), fmt, heading_level=heading_level)
    if output is None:
        sys.stdout.write(text)
        return
    atomic_write(output, text)
    from rich.text import Text

    from refusalkit.cli.common import err_console

    err_console.print(Text(f"wrote {output} ({fmt})"), highlight=False)


@taxonomy_app.command("validate")
def validate(
    path: Path = typer.Argument(..., help="YAML or JSON taxonomy file.", show_default=False),
    kind: str = typer.Option(
        "auto",
        "--kind",
        help="auto | refusal | falsereject (auto: the `kind` field or integer ids).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
) -> None:
    """Check a taxonomy file: exit 0 with a summary, or exit 2 with the error and a hint.

    Examples:

      refusalkit taxonomy validate my_taxonomy.yaml

      refusalkit taxonomy validate sorry_bench.json --kind falsereject --json
    """
    from rich.text import Text

    from refusalkit.cli.common import console, print_json
    from refusalkit.core.errors import RefusalkitError
    from refusalkit.taxonomy import load_falsereject_taxonomy, load_taxonomy
    from refusalkit.taxonomy.export import lint, summarize

    loaders: dict[str, Callable[[str], Any]] = {
        "auto": _load,
        "refusal": load_taxonomy,
        "falsereject": load_falsereject_taxonomy,
    }
    if kind not in loaders:
        _fail(f"unknown kind {kind!r}\n  hint: use --kind auto | refusal | falsereject")
    if not path.is_file():
        _fail(f"taxonomy file not found: {path}\n  hint: pass the path of a YAML or JSON file")
    try:
        tax = loaders[kind](str(path))
    except RefusalkitError as exc:
        _fail(str(exc))
    summary = summarize(tax)
    notes = lint(tax)
    if as_json:
        print_json({"ok": True, "path": str(path), **summary, "notes": notes})
        return
    console.print(
        Text.assemble(("OK ", "bold green"), f"{path}: {summary['text']}"), highlight=False
    )
    for note in notes:
        console.print(Text(f"  note: {note}", style="yellow"), highlight=False)
