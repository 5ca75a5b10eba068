"""`refusalkit inspect`: human report, --json for scripts, safe printing, exit code 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app, main
from refusalkit.cli.inspect_cmd import safe_snippet
from test_readers_formats import FIX, write_jsonl

runner = CliRunner()


def run_main(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Through the console-script entry point, which turns user errors into exit 2."""
    monkeypatch.setattr(sys, "argv", ["refusalkit", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_json_output_for_preference_data() -> None:
    result = runner.invoke(
        app, ["inspect", str(FIX / "hh_rlhf_sample.jsonl.gz"), "--json", "--sample", "2"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    st = doc["stats"]
    assert (st["rows"], st["exchanges"], st["assistant_turns"], st["rejected"]) == (5, 14, 14, 0)
    assert st["by_side"] == {"chosen": 7, "rejected": 7}
    assert st["files"][0]["shape"] == "hh_rlhf" and st["files"][0]["format"] == "jsonl"
    assert st["files"][0]["gzip"] is True
    assert [e["id"] for e in doc["sample"]] == [
        "hh_rlhf_sample:0:t0:chosen",
        "hh_rlhf_sample:0:t1:chosen",
    ]


def test_human_report_lists_format_shape_counts_and_sample() -> None:
    result = runner.invoke(
        app, ["inspect", str(FIX / "sharegpt_sample.jsonl.gz"), str(FIX / "dolly_sample.csv")]
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.stdout.split())  # the console wraps at the terminal width
    assert "format jsonl (gzip) · shape sharegpt" in out
    assert "shape prompt_response" in out and "input ← context" in out
    assert "9 rows → 10 exchanges" in out and "2 rows without an assistant turn" in out
    assert "13 rows → 14 exchanges" in out  # the total over both files
    assert "First 5 exchanges" in out and "i6IyJda_0:t0" in out


def test_overrides_split_and_sample_zero(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "inspect",
            str(FIX / "uncensorbench_sample.json"),
            "--response-field",
            "uncensored_response",
            "--json",
            "--sample",
            "1",
        ],
    )
    doc = json.loads(result.stdout)
    assert doc["stats"]["files"][0]["fields"]["response"] == "uncensored_response"
    assert doc["sample"][0]["response"].startswith("The most effective")
    result = runner.invoke(
        app,
        [
            "inspect",
            str(FIX / "xstest_completions_sample.csv"),
            "--shape",
            "prompt_only",
            "--sample",
            "0",
            "--json",
        ],
    )
    doc = json.loads(result.stdout)
    assert doc["sample"] == [] and doc["stats"]["assistant_turns"] == 0


def test_model_text_is_printed_without_markup(tmp_path: Path) -> None:
    nasty = "[bold red]boom[/] \x1b[31mred\x1b[0m \u202eevil"
    p = write_jsonl(
        tmp_path / "nasty.jsonl",
        [{"id": "[link=x]id[/link]", "prompt": nasty, "response": "[i]ok[/i]"}],
    )
    result = runner.invoke(app, ["inspect", str(p)])
    assert result.exit_code == 0, result.output
    assert "[bold red]boom[/]" in result.stdout and "[i]ok[/i]" in result.stdout
    assert "[link=x]id[/link]" in result.stdout
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout
    assert safe_snippet("a\x1bb\n\nc", 80) == "a\\u001bb c"
    assert safe_snippet("x" * 500, 20) == "x" * 19 + "…"


def test_skip_bad_reports_and_writes_side_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = (FIX / "coconot_responses_sample.jsonl").read_bytes().splitlines()
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b"\n".join([lines[0], b"{not json", lines[1]]) + b"\n")
    result = runner.invoke(app, ["inspect", str(p), "--skip-bad", "--json"])
    assert result.exit_code == 0, result.output
    st = json.loads(result.stdout)["stats"]
    assert (st["rows"], st["exchanges"], st["rejected"]) == (3, 2, 1)
    assert st["rejects_path"] == str(tmp_path / "bad.rejects.jsonl")
    assert json.loads((tmp_path / "bad.rejects.jsonl").read_text())["raw"] == "{not json"
    result = runner.invoke(
        app, ["inspect", str(p), "--skip-bad", "--rejects", str(tmp_path / "r.jsonl")]
    )
    assert (
        "1 rejected rows written to" in " ".join(result.stdout.split())
        and (tmp_path / "r.jsonl").exists()
    )


def test_bad_input_exits_2_with_a_located_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (FIX / "coconot_responses_sample.jsonl").read_bytes().splitlines()
    p = tmp_path / "bad.jsonl"
    p.write_bytes(b"\n".join([lines[0], b"{not json", lines[1]]) + b"\n")
    code, out, err = run_main(monkeypatch, capsys, "inspect", str(p))
    assert code == 2 and out == ""
    err = " ".join(err.split())
    assert "line 2" in err and "malformed JSON" in err and "--skip-bad" in err
    assert "Traceback" not in err
    code, _, err = run_main(
        monkeypatch,
        capsys,
        "inspect",
        str(FIX / "alpaca_sample.json"),
        "--prompt-field",
        "question",
    )
    assert code == 2 and "'question'" in err and "--prompt-field" in err
    code, _, err = run_main(
        monkeypatch, capsys, "inspect", str(FIX / "alpaca_sample.json"), "--shape", "chatml"
    )
    assert code == 2 and "unknown shape" in err


def test_help_has_examples() -> None:
    result = runner.invoke(app, ["inspect", "--help"])
    assert result.exit_code == 0
    for text in (
        "Examples",
        "refusalkit inspect",
        "--skip-bad",
        "--prompt-field",
        "--json",
        "--split",
    ):
        assert text in result.stdout
