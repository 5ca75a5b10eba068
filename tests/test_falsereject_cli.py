"""`refusalkit falsereject` stage by stage through the CLI, against tests/fault_server.py
with the scripted model: each command reads the previous one's file, the dry runs count
what the files hold, template overrides reach the model, and errors are clean (exit 2)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from falsereject_script import Script, role_of, user_text
from fault_server import FaultServer
from refusalkit.cli.app import app
from refusalkit.core.errors import RefusalkitError
from refusalkit.core.io import iter_jsonl


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[FaultServer, Script]]:
    with FaultServer() as srv:
        srv.responder = script = Script()
        cfg = tmp_path / "refusalkit.toml"
        cfg.write_text(
            f'default = "scripted"\n[endpoints.scripted]\nbase_url = "{srv.base_url}"\n'
            'model = "fault-model"\nmax_retries = 1\nbackoff_base = 0.01\n'
        )
        monkeypatch.setenv("REFUSALKIT_CONFIG", str(cfg))
        monkeypatch.chdir(tmp_path)
        yield srv, script


def _cli(*args: str) -> Any:
    res = CliRunner().invoke(app, ["falsereject", *args])
    assert res.exit_code == 0, res.output
    return orjson.loads(res.stdout) if "--json" in args else res


def _error(*args: str) -> str:
    """A user error: a RefusalkitError (the console script prints it and exits 2)."""
    res = CliRunner().invoke(app, ["falsereject", *args])
    assert isinstance(res.exception, RefusalkitError), res.output
    return f"{res.exception} | hint: {res.exception.hint}"


def test_stage_commands_chain_and_dry_runs_count_the_files(
    env: tuple[FaultServer, Script], tmp_path: Path
) -> None:
    srv, script = env
    est = _cli("graph", "--demo", "--limit", "3", "-o", "g.json", "--dry-run", "--json")
    graph_est = est["stages"][0]
    assert (graph_est["items"], graph_est["calls_min"], graph_est["calls_max"]) == (3, 3, 9)
    assert srv.total == 0  # a dry run sends nothing
    own = tmp_path / "disc.md"
    own.write_text("<!-- system -->\nMY REVIEWER\n<!-- user -->\nReview: $prompt")
    s = _cli("graph", "--demo", "--limit", "3", "-o", "g.json", "--json")
    assert s["status"] == {"ok": 3} and s["calls"] == 3
    s = _cli("generate", "-g", "g.json", "-n", "5", "-c", "1", "-c", "Threatening Words",
             "--template", f"discriminator={own}", "-o", "gen.jsonl", "--json")  # fmt: skip
    assert s["status"] == {"accepted": 5} and set(s["by_category"]) == {
        "Personal Insulting Words", "Threatening Words"}  # fmt: skip
    disc = [b for b in srv.bodies if role_of(b) == "discriminator"]
    assert disc and all(b["messages"][0]["content"] == "MY REVIEWER" for b in disc)
    assert all(user_text(b).startswith("Review: ") for b in disc)
    # the dry run of the next stage counts the accepted prompts in its input exactly
    est = _cli(
        "validate", "gen.jsonl", "-o", "val.jsonl", "--judge", "rules", "--dry-run", "--json"
    )
    (val,) = [e for e in est["stages"] if e["stage"] == "validate"]
    assert (val["items"], val["calls_min"], val["calls_max"]) == (5, 5, 5)
    s = _cli("validate", "gen.jsonl", "-o", "val.jsonl", "--judge", "rules", "--json")
    assert s["status"] == {"kept": 5} and s["calls"] + s["cached"] == 5
    s = _cli("orchestrate", "val.jsonl", "-o", "orch.jsonl", "--json")
    assert s["status"] == {"passed": 5}
    s = _cli("respond", "orch.jsonl", "-o", "resp.jsonl", "--json")
    assert s["status"] == {"ok": 5} and s["extra"]["cot_format"] == "think"
    stats = _cli("export", "resp.jsonl", "-o", "out", "--dedup-backend", "none", "--json")
    rows = list(iter_jsonl(tmp_path / "out" / "falsereject.jsonl"))
    assert stats["exported"] == len(rows) and stats["items"] == 5
    assert stats["duplicates"]["near"] == 0  # `none`: exact copies only
    # a finished stage rerun asks nothing; another job's settings are refused
    before = srv.total
    s = _cli("orchestrate", "val.jsonl", "-o", "orch.jsonl", "--json")
    assert (s["new"], s["calls"], s["cached"], srv.total) == (0, 0, 0, before)
    msg = _error("orchestrate", "val.jsonl", "-o", "orch.jsonl", "--max-attempts", "5")
    assert "another orchestrate job" in msg and "--overwrite" in msg
    assert script.calls["generator"] == 5


def test_run_then_its_dry_run_counts_only_what_is_left(env: tuple[FaultServer, Script]) -> None:
    args = ("run", "--demo", "--limit", "2", "-n", "3", "-c", "1", "--judge", "rules", "-o", "fr")
    est = _cli(*args, "--dry-run", "--json")
    assert [e["items"] for e in est["stages"]][:2] == [2, 3]
    result = _cli(*args, "--json")
    assert result["yields"]["total"]["responded"] == 3
    est = _cli(*args, "--dry-run", "--json")  # everything is done: nothing left to ask
    assert all(e["items"] == 0 and e["calls_max"] == 0 for e in est["stages"])
    res = _cli(*args)  # the console table of yields per category
    assert "yields per stage and category" in res.stdout and "Personal" in res.stdout
    assert "respond: {'ok': 3}; calls 0 (+0 from the log)" in res.stdout


def test_cli_errors_are_clean(env: tuple[FaultServer, Script], tmp_path: Path) -> None:
    assert "pass SEEDS... or --demo" in _error("graph", "-o", "g.json")
    assert "unknown template 'writer'" in _error("run", "--demo", "--template", "writer=x.md")
    assert "unknown role 'writer'" in _error("run", "--demo", "--max-tokens", "writer=3")
    (tmp_path / "gen.jsonl").write_text('{"id": "a", "generate": {"status": "accepted"}}\n')
    msg = _error("orchestrate", "gen.jsonl", "-o", "o.jsonl")
    assert "not a validate output" in msg and "gen.jsonl" in msg
    (tmp_path / "val.jsonl").write_text('{"id": "a", "prompt": "p", "pool": {"status": "kept"}}\n')
    msg = _error("orchestrate", "val.jsonl", "-o", "o.jsonl")
    assert "record 'a' has no 'category_id' field" in msg and "val.jsonl" in msg
    assert "no such file" in _error("respond", "missing.jsonl", "-o", "r.jsonl")
    assert "not an entity graph" in _error("generate", "-g", "gen.jsonl", "-o", "x.jsonl")
    assert "Nonsense" in _error("generate", "-g", "gen.jsonl", "-o", "x.jsonl", "-c", "Nonsense")
    assert env[0].total == 0  # nothing was sent
