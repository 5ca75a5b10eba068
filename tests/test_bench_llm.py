"""`refusalkit bench` against the real local SmolLM2 server: a few prompts, short answers.

Kept small for CI (2 cores): 2 prompts x 24 tokens, judged by the bundled classifier and
by the FalseReject LLM judge on the same server, then re-judged without a model call.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app

pytestmark = pytest.mark.llm
runner = CliRunner()


def _logged(home: Path) -> int:
    with sqlite3.connect(home / "logs.sqlite") as db:
        return int(db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


def test_bench_local_model_two_judges_then_rejudge_without_calls(
    local_llm: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.chdir(tmp_path)
    (tmp_path / "refusalkit.toml").write_text(
        f'[endpoints.tiny]\nprovider = "local"\nbase_url = "{local_llm.base_url}"\n'
    )
    run = tmp_path / "run"
    result = runner.invoke(app, [
        "bench", "-e", "tiny", "--dataset", "xstest", "--dataset", "xstest-unsafe", "--limit", "1",
        "--max-tokens", "24", "--judge", "classifier", "--judge", "llm-falsereject:tiny",
        "-o", str(run), "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [j["name"] for j in doc["judges"]] == ["default", "llm-falsereject:tiny"]
    rows = pq.read_table(run / "results.parquet").to_pylist()
    assert len(rows) == 4  # 2 prompts x 2 judges
    assert all(r["model"] for r in rows)  # the served model is recorded
    assert all(r["outcome"] == "answered" and r["response"] for r in rows)
    assert all(r["behavior"] != "unjudged" for r in rows if r["detector"] == "default")
    # the FalseReject judge answered or was honestly unjudged (never a silent refusal)
    fr = [r for r in rows if r["detector"] == "llm-falsereject:tiny"]
    assert all(r["behavior"] != "unjudged" or r["unjudged_reason"] for r in fr)
    assert (run / "report.html").is_file() and doc["agreement"][0]["a"] == "default"
    board = {(r["dataset"], r["judge"]): r for r in doc["leaderboard"]}
    ben = board[("xstest", "default")]
    assert ben["total"] == 1 and ben["judged"] + ben["empty"] + ben["judge_failures"] == 1
    home = Path(os.environ["REFUSALKIT_HOME"])
    before = _logged(home)
    result = runner.invoke(app, ["bench", "rejudge", str(run), "--judge", "rules", "--json"])
    assert result.exit_code == 0, result.output
    assert _logged(home) == before  # no model was asked anything
    judges = {r["detector"] for r in pq.read_table(run / "results.parquet").to_pylist()}
    assert judges == {"default", "llm-falsereject:tiny", "rules"}
