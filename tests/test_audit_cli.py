"""`refusalkit audit data|curate`, `report` and `diff` from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit_helpers import sample
from refusalkit.cli.app import app, main
from refusalkit.core.paths import resource_path

runner = CliRunner()


def _main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["refusalkit", *args])
    with pytest.raises(SystemExit) as info:
        main()
    return int(info.value.code or 0), " ".join(capsys.readouterr().err.split())


def test_no_dataset_audits_the_bundled_samples(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["audit", "data", "--detector", "rules", "--workers", "1"])
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert "bundled samples" in out and "Refusal composition" in out
    for name in ("sharegpt", "hh_rlhf_harmless", "alpaca", "lima", "dolly_closed_qa"):
        assert name in out
    run = tmp_path / "refusalkit-audit" / "samples"
    assert {p.name for p in run.iterdir()} >= {
        "report.html",
        "report.md",
        "report.json",
        "results.parquet",
        "run.json",
    }
    doc = json.loads((run / "report.json").read_text())
    groups = doc["totals"]["group"]
    assert groups["should_not"]["n"] > 0 and groups["cannot"]["n"] > 0  # both kinds on show


def test_json_output_curation_report_and_diff(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    result = runner.invoke(
        app,
        [
            "audit",
            "data",
            sample("alpaca"),
            sample("lima"),
            "-d",
            "rules",
            "-o",
            str(a),
            "--drop",
            "behavior=refusal",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["curation"]["removed"] == doc["totals"]["refusals"]
    assert set(doc["datasets"]) == {"alpaca", "lima"}
    assert (a / "curated" / "manifest.json").is_file()
    result = runner.invoke(
        app, ["audit", "data", sample("alpaca"), "-d", "rules", "-o", str(b), "--limit", "40"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["report", str(a), "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["html"].endswith("report.html")
    result = runner.invoke(app, ["diff", str(a), str(b), "-o", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "refusal rate" in result.output and (tmp_path / "d" / "diff.md").is_file()
    result = runner.invoke(
        app,
        [
            "audit",
            "curate",
            str(a),
            "--keep",
            "group=cannot",
            "--json",
            "-o",
            str(tmp_path / "cannot"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["filters"]["keep"] == ["group=cannot"]


def test_user_errors_exit_2_with_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _main(
        monkeypatch,
        capsys,
        "audit",
        "data",
        sample("alpaca"),
        "-o",
        str(tmp_path / "r"),
        "-d",
        "rules",
        "--drop",
        "behaviour=refusal",
    )
    assert code == 2 and "hint" in err and "behavior" in err
    code, err = _main(monkeypatch, capsys, "report", str(tmp_path))
    assert code == 2 and "not a run folder" in err
    code, err = _main(
        monkeypatch,
        capsys,
        "audit",
        "data",
        str(tmp_path / "missing.jsonl"),
        "-d",
        "rules",
        "-o",
        str(tmp_path / "r2"),
    )
    assert code == 2 and "no such file" in err


@pytest.mark.skipif(
    not resource_path("models", "default", "detector.json").is_file(),
    reason="the bundled default detector has not landed yet",
)
def test_default_detector_runs_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["audit", "data"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "refusalkit-audit" / "samples" / "report.html").is_file()


def test_untrusted_names_print_literally(tmp_path: Path) -> None:
    """File and dataset names are data: rich markup in them is printed, not interpreted."""
    evil = tmp_path / "[red]x[bold]y.jsonl"
    evil.write_text('{"prompt": "a", "response": "I\'m sorry, but I can\'t help with that."}\n')
    run = tmp_path / "run"
    result = runner.invoke(app, ["audit", "data", str(evil), "-d", "rules", "-o", str(run),
                                 "--drop", "behavior=refusal", "--workers", "1"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "[red]x[bold]y" in " ".join(result.output.split())
    result = runner.invoke(
        app, ["audit", "curate", str(run), "--drop", "behavior=refusal", "-o", str(tmp_path / "c")]
    )
    assert result.exit_code == 0, result.output
    assert "[red]x" in result.output
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert Path(manifest["datasets"][0]["output"]).parent.parent == tmp_path / "c"
