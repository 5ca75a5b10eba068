"""`refusalkit annotate ...` commands without a server (`--no-serve`)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from refusalkit.cli.app import app
from workbench_util import write_dataset


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_create_label_agree_export(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "d.jsonl", 8)
    proj = tmp_path / "proj"
    res = _run(
        "annotate",
        str(proj),
        "--data",
        str(data),
        "--annotator",
        "alice",
        "--annotator",
        "bob",
        "--scheme",
        "behavior",
        "--no-serve",
    )
    assert res.exit_code == 0, res.output
    assert "created project" in res.output and "alice: 0 of 8 labelled" in res.output
    from refusalkit.annotate import Project

    p = Project(proj)
    for pos in range(8):
        p.save_label("alice", pos, "full_refusal", None, expected_version=0)
        p.save_label(
            "bob", pos, "full_refusal" if pos % 2 else "full_compliance", None, expected_version=0
        )
    res = _run("annotate", "status", str(proj), "--json")
    assert json.loads(res.output)["annotators"]["bob"] == {"labelled": 8, "skipped": 0, "queue": 8}
    res = _run("annotate", "agreement", str(proj), "--json")
    info = json.loads(res.output)
    assert info["labels"] == 16 and info["fields"][0]["pairs"][0]["n"] == 8
    res = _run("annotate", "agreement", str(proj))
    assert "Cohen's κ per pair" in res.output and "Fleiss κ" in res.output
    res = _run("annotate", "export", str(proj), "-o", str(tmp_path / "gold.csv"))
    assert res.exit_code == 0 and "wrote 4 rows" in res.output
    res = _run(
        "annotate", "export", str(proj), "-o", str(tmp_path / "all.jsonl"), "--kind", "labels"
    )
    assert "wrote 16 rows" in res.output
    # joining later with another name rebalances; the scheme cannot change
    assert _run("annotate", "start", str(proj), "--annotator", "carol", "--no-serve").exit_code == 0
    assert "carol" in Project(proj).annotators()


def test_user_errors_exit_2(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Through `main()`: a RefusalkitError becomes `error: ...` on stderr and exit status 2."""
    import pytest

    from refusalkit.cli.app import main

    data = write_dataset(tmp_path / "d.jsonl", 3)

    def run(*args: str) -> tuple[int, str]:
        monkeypatch.setattr("sys.argv", ["refusalkit", *args])
        with pytest.raises(SystemExit) as exc:
            main()
        return exc.value.code or 0, capsys.readouterr().err

    code, err = run("annotate", str(tmp_path / "new"), "--annotator", "a", "--no-serve")
    assert code == 2 and "--data" in err
    assert (
        run("annotate", str(tmp_path / "p"), "--data", str(data), "--annotator", "a", "--no-serve")[
            0
        ]
        == 0
    )
    code, err = run(
        "annotate", str(tmp_path / "p"), "--scheme", "behavior", "--annotator", "a", "--no-serve"
    )
    assert code == 2 and "taxonomy scheme" in err
    code, err = run(
        "annotate",
        str(tmp_path / "p"),
        "--data",
        str(tmp_path / "d2.jsonl"),
        "--annotator",
        "a",
        "--no-serve",
    )
    assert code == 2 and "loaded once" in err
    code, err = run("annotate", str(tmp_path / "p"), "--annotator", "a", "--host", "0.0.0.0")
    assert code == 2 and "--expose" in err
    assert run("serve", str(tmp_path / "missing"))[0] == 2


def test_help_does_not_import_the_web_stack() -> None:
    import subprocess
    import sys

    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom refusalkit.cli.app import app\n"
        "CliRunner().invoke(app, ['annotate', '--help'])\n"
        "print([m for m in ('fastapi', 'uvicorn', 'starlette') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
