"""`refusalkit taxonomy show/export/validate`, and docs/taxonomy.md being up to date."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from refusalkit.cli import taxonomy_cmd
from refusalkit.taxonomy import load_falsereject_taxonomy, load_taxonomy
from refusalkit.taxonomy.export import to_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "taxonomy.md"


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """test root"""

    taxonomy_cmd.register(root)
    return root


def run(app: typer.Typer, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_help_has_examples(app: typer.Typer) -> None:
    for args in (["taxonomy", "--help"], ["taxonomy", "show", "--help"],
                 ["taxonomy", "export", "--help"], ["taxonomy", "validate", "--help"]):  # fmt: skip
        res = run(app, *args)
        assert res.exit_code == 0 and "Examples" in res.stdout, args


def test_show_table_and_json(app: typer.Typer) -> None:
    res = run(app, "taxonomy", "show")
    assert res.exit_code == 0
    for cid in load_taxonomy().ids:
        assert cid in res.stdout
    res = run(app, "taxonomy", "show", "--json")
    assert json.loads(res.stdout) == load_taxonomy().to_dict()
    res = run(app, "taxonomy", "show", "-t", "falsereject", "--json")
    assert json.loads(res.stdout)["categories"][9]["name"] == "Property Crimes"
    res = run(app, "taxonomy", "show", "-t", "falsereject")
    assert res.exit_code == 0 and "Dangerous Machinery" in res.stdout


def test_show_one_category(app: typer.Typer) -> None:
    res = run(app, "taxonomy", "show", "privacy")
    assert res.exit_code == 0 and "distinguish:" in res.stdout and "example 1" in res.stdout
    res = run(app, "taxonomy", "show", "fraud scams & deception", "-t", "falsereject", "--json")
    assert json.loads(res.stdout)["id"] == 15
    res = run(app, "taxonomy", "show", "nope")
    assert res.exit_code == 2 and "unknown category 'nope'" in res.stderr


def test_export_formats_round_trip(app: typer.Typer, tmp_path: Path) -> None:
    for fmt, name in (("yaml", "t.yaml"), ("json", "t.json")):
        res = run(app, "taxonomy", "export", "--format", fmt, "-o", str(tmp_path / name))
        assert res.exit_code == 0, res.stderr
        assert load_taxonomy(tmp_path / name).categories == load_taxonomy().categories
    res = run(app, "taxonomy", "export", "-t", "falsereject", "-o", str(tmp_path / "fr.json"))
    assert res.exit_code == 0
    assert (
        load_falsereject_taxonomy(tmp_path / "fr.json").names == load_falsereject_taxonomy().names
    )
    res = run(app, "taxonomy", "export", "--format", "markdown")
    assert res.stdout == to_markdown(load_taxonomy())
    res = run(app, "taxonomy", "export", "--format", "pdf")
    assert res.exit_code == 2 and "unknown format" in res.stderr


def test_validate_ok_and_errors(app: typer.Typer, tmp_path: Path) -> None:
    ok = tmp_path / "ok.yaml"
    run(app, "taxonomy", "export", "-o", str(ok))
    res = run(app, "taxonomy", "validate", str(ok))
    assert res.exit_code == 0
    assert "16 categories (should_not 6, cannot 8, other 2)" in " ".join(res.stdout.split())
    res = run(app, "taxonomy", "validate", str(ok), "--json")
    summary = json.loads(res.stdout)
    assert summary["ok"] and summary["categories"] == 16 and summary["notes"] == []
    fr = tmp_path / "fr.yaml"
    run(app, "taxonomy", "export", "-t", "falsereject", "-o", str(fr))
    res = run(app, "taxonomy", "validate", str(fr), "--json")
    assert json.loads(res.stdout)["kind"] == "falsereject"

    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "categories:\n  - id: a\n    name: A\n    group: shouldnt\n    definition: d\n",
        encoding="utf-8",
    )
    res = run(app, "taxonomy", "validate", str(bad))
    assert res.exit_code == 2
    err = " ".join(res.stderr.split())
    assert "bad.yaml line 4: categories[0] (id 'a'), field 'group'" in err
    assert "hint: set group to one of should_not, cannot, other" in err
    res = run(app, "taxonomy", "validate", str(tmp_path / "missing.yaml"))
    assert res.exit_code == 2 and "not found" in res.stderr
    res = run(app, "taxonomy", "validate", str(fr), "--kind", "refusal")
    assert res.exit_code == 2 and "falsereject" in res.stderr


def test_user_text_is_not_rich_markup(app: typer.Typer, tmp_path: Path) -> None:
    path = tmp_path / "markup.yaml"
    path.write_text(
        "categories:\n"
        "  - id: a\n    name: '[bold red]Sneaky[/]'\n    group: cannot\n"
        "    definition: '[link=http://x]click[/link]'\n"
        "  - {id: not_refusal, name: N, group: other, definition: ok}\n",
        encoding="utf-8",
    )
    res = run(app, "taxonomy", "show", "-t", str(path))
    assert res.exit_code == 0
    assert "[bold red]Sneaky[/]" in res.stdout and "[link=http://x]click[/link]" in res.stdout
    res = run(app, "taxonomy", "validate", str(path))
    assert res.exit_code == 0 and "note:" in res.stdout
    bad = tmp_path / "[red]x.yaml"
    bad.write_text("categories: 3\n", encoding="utf-8")
    res = run(app, "taxonomy", "validate", str(bad))
    assert res.exit_code == 2 and "[red]x.yaml" in res.stderr


def test_markdown_escapes_user_text() -> None:
    tax = load_taxonomy(
        {
            "categories": [
                {
                    "id": "a",
                    "name": "<script>alert(1)</script>",
                    "group": "cannot",
                    "definition": "pipe | star * [link](javascript:x)",
                    "examples": [{"instruction": "<b>", "response": "`code`"}],
                },
                {"id": "not_refusal", "name": "N", "group": "other", "definition": "ok"},
            ]
        }
    )
    md = to_markdown(tax)
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "\\|" in md and "\\[link\\]" in md and "<b>" not in md


def test_docs_are_generated_from_the_bundled_files() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert to_markdown(load_taxonomy(), heading_level=2) in docs, (
        "docs/taxonomy.md is stale: regenerate its refusal section with "
        "`refusalkit taxonomy export --format markdown --heading-level 2`"
    )
    assert to_markdown(load_falsereject_taxonomy(), heading_level=2) in docs
