"""The SQLite response log: cache semantics, search/export, concurrent writers."""

from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
from typer.testing import CliRunner

from fault_server import FaultServer
from refusalkit.cli.app import app
from refusalkit.core.io import iter_jsonl
from refusalkit.llm import ChatRequest, Endpoint, LLMClient, ResponseLog
from refusalkit.llm.log import make_key


def record(
    key: str,
    *,
    response: str | None = "hi",
    error: str | None = None,
    system: str | None = None,
    endpoint: str = "e",
    tag: str | None = None,
) -> dict:
    return {
        "key": key, "created_at": time.time(), "endpoint": endpoint, "provider": "openai",
        "base_url": "http://x/v1", "model": "m", "tag": tag, "sample": 0, "system": system,
        "messages": orjson.dumps([{"role": "user", "content": f"prompt for {key}"}]).decode(),
        "params": "{}", "response": None if error else response, "error": error,
        "error_type": "server" if error else None, "attempts": 1, "structured": 0,
    }  # fmt: skip


def test_lookup_serves_newest_success_never_errors(tmp_path: Path) -> None:
    with ResponseLog(tmp_path / "log.sqlite") as log:
        log.put(record("k1", response="old"))
        log.put(record("k1", response="new"))
        log.put(record("k2", error="HTTP 500"))
        log.put(record("k1", error="HTTP 500"))  # a later failure does not hide the answer
        log.flush()
        hits = log.lookup(["k1", "k2", "k3"])
        assert set(hits) == {"k1"} and hits["k1"][3] == "new"
        assert log.stats()["entries"] == 4 and log.stats()["errors"] == 2


def test_system_prompts_are_stored_once(tmp_path: Path) -> None:
    long_system = "You are a judge. " * 300
    path = tmp_path / "log.sqlite"
    with ResponseLog(path) as log:
        for i in range(50):
            log.put(record(f"k{i}", system=long_system))
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == 1
    conn.close()
    with ResponseLog(path) as log:
        entry = next(log.entries(limit=1))
        assert entry["messages"][0] == {"role": "system", "content": long_system}
        assert entry["messages"][1]["role"] == "user"


def test_entries_filters_and_search(tmp_path: Path) -> None:
    with ResponseLog(tmp_path / "log.sqlite") as log:
        log.put(record("a", response="I cannot help with that", endpoint="gpt", tag="generate"))
        log.put(record("b", response="Sure, here it is", endpoint="local", tag="judge:taxonomy"))
        log.put(record("c", error="HTTP 429 rate limited", endpoint="gpt"))
        log.flush()
        assert [e["key"] for e in log.entries()] == ["c", "b", "a"]  # newest first
        assert [e["key"] for e in log.entries(search="cannot")] == ["a"]
        assert [e["key"] for e in log.entries(search="prompt for b")] == ["b"]
        assert [e["key"] for e in log.entries(endpoint="gpt", errors=False)] == ["a"]
        assert [e["key"] for e in log.entries(errors=True)] == ["c"]
        assert [e["key"] for e in log.entries(tag="judge:taxonomy")] == ["b"]
        first = next(log.entries(oldest_first=True))
        assert log.get(first["id"])["response"] == "I cannot help with that"


def test_logs_cli_list_search_show_export(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    with ResponseLog(path) as log:
        log.put(record("a", response="I cannot help with that"))
        log.put(record("b", error="HTTP 500 boom"))
    runner = CliRunner()
    out = runner.invoke(app, ["logs", "--log", str(path)])
    assert out.exit_code == 0 and "cannot" in out.output and "500" in out.output
    out = runner.invoke(app, ["logs", "--log", str(path), "search", "cannot", "--json"])
    found = orjson.loads(out.output)
    assert out.exit_code == 0 and [e["key"] for e in found] == ["a"]
    out = runner.invoke(app, ["logs", "--log", str(path), "show", str(found[0]["id"])])
    assert out.exit_code == 0 and "[response]" in out.output and "prompt for a" in out.output
    out = runner.invoke(app, ["logs", "--log", str(path), "list", "--errors", "--json"])
    assert [e["key"] for e in orjson.loads(out.output)] == ["b"]
    target = tmp_path / "export.jsonl"
    out = runner.invoke(app, ["logs", "--log", str(path), "export", "-o", str(target)])
    assert out.exit_code == 0 and [r["key"] for r in iter_jsonl(target)] == ["a", "b"]
    out = runner.invoke(app, ["logs", "--log", str(tmp_path / "missing.sqlite")])
    assert out.exit_code != 0


def test_key_depends_on_request_not_credentials() -> None:
    msgs = [{"role": "user", "content": "hi"}]
    base = make_key("e", "http://x/v1", "m", msgs, {"temperature": 0}, 0)
    assert base == make_key("e", "http://x/v1", "m", msgs, {"temperature": 0}, 0)
    assert base != make_key("e", "http://x/v1", "m", msgs, {"temperature": 0}, 1)  # sample
    assert base != make_key("e", "http://x/v1", "m", msgs, {"temperature": 1}, 0)  # params
    assert base != make_key("f", "http://x/v1", "m", msgs, {"temperature": 0}, 0)  # endpoint
    assert len(base) == 64


def test_many_concurrent_tasks_write_one_log(tmp_path: Path) -> None:
    """600 requests in flight 64 at a time: every one logged once, the file intact."""
    path = tmp_path / "log.sqlite"
    n = 600

    async def go() -> list:
        with FaultServer() as srv:
            ep = Endpoint(name="f", base_url=srv.base_url, model="m", max_concurrency=64)
            async with LLMClient(ep, log=path) as client:
                return [
                    r
                    async for r in client.chat_many(
                        ChatRequest.from_prompt(f"p{i}") for i in range(n)
                    )
                ]

    results = asyncio.run(go())
    assert len(results) == n and all(r.ok for r in results)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses").fetchone() == (n, n)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def _writer(path: str, worker: int, count: int) -> int:
    with ResponseLog(path) as log:
        for i in range(count):
            log.put(record(f"w{worker}-{i}", system="shared system prompt " * 20))
            if i % 50 == 0:
                log.lookup([f"w{worker}-{i // 2}"])  # read while others write
    return count


def test_several_processes_write_one_log(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    ResponseLog(path).close()
    # spawn: forking a process that runs threads (log writers, servers) is unsafe
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("spawn")) as pool:
        done = sum(pool.map(_writer, [str(path)] * 4, range(4), [250] * 4))
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM responses").fetchone() == (
        done,
        done,
    )
    assert conn.execute("SELECT COUNT(*) FROM texts").fetchone()[0] == 1
    conn.close()
