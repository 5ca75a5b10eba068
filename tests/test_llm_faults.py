"""The client against a fault-injecting server: retries, timeouts, resume, secrets.

The fault server (tests/fault_server.py) is the only fake in the LLM tests; it exists to
produce failures on demand. Each prompt carries its own fault plan (`[[fault:...]]`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from fault_server import FaultServer
from refusalkit.core.io import iter_jsonl
from refusalkit.core.models import Exchange
from refusalkit.llm import ChatRequest, Endpoint, LLMClient, ResponseLog
from refusalkit.llm.generate import agenerate


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def endpoint(srv: FaultServer, **kw: object) -> Endpoint:
    settings: dict[str, object] = {
        "name": "faulty", "base_url": srv.base_url, "model": "fault-model", "timeout": 0.5,
        "max_retries": 2, "backoff_base": 0.01, "backoff_max": 0.05, "max_concurrency": 8,
    }  # fmt: skip
    settings.update(kw)
    return Endpoint(**settings)  # type: ignore[arg-type]


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


async def _all(ep: Endpoint, prompts: list[str], log: ResponseLog | Path | None = None) -> list:
    async with LLMClient(ep, log=log) as client:
        return await client.chat_all([ChatRequest.from_prompt(p) for p in prompts])


def test_every_request_ends_as_response_or_recorded_error(
    server: FaultServer, tmp_path: Path
) -> None:
    prompts = {
        "ok": "plain question",
        "429": "[[fault:429@0.3]] rate limited once",
        "5xx": "[[fault:500,503]] two server errors",
        "hang": "[[fault:hang*]] never answers",
        "malformed": "[[fault:malformed]] bad JSON once",
        "reset": "[[fault:reset]] connection reset once",
        "truncated": "[[fault:truncated]] body cut once",
        "400": "[[fault:400]] bad request",
        "500*": "[[fault:500*]] always failing",
    }
    log_path = tmp_path / "log.sqlite"
    results = run(_all(endpoint(server), list(prompts.values()), log_path))
    by = dict(zip(prompts, results, strict=True))
    assert len(results) == len(prompts) and all(r.ok or r.error for r in results)
    for name in ("ok", "429", "5xx", "malformed", "reset", "truncated"):
        assert by[name].ok and by[name].text == f"echo: {prompts[name]}", name
    assert by["429"].attempts == 2 and by["5xx"].attempts == 3 and by["reset"].attempts == 2
    t = server.times[prompts["429"]]
    assert t[1] - t[0] >= 0.3  # Retry-After honoured
    assert by["hang"].error_type == "timeout" and by["hang"].attempts == 3
    assert by["400"].error_type == "client" and by["400"].attempts == 1  # not retried
    assert (
        by["500*"].error_type == "server"
        and by["500*"].status_code == 500
        and by["500*"].attempts == 3
    )
    with ResponseLog(log_path) as log:
        entries = list(log.entries(limit=None))
        assert len(entries) == len(prompts)
        assert sorted(e["error_type"] for e in entries if e["error"]) == [
            "client",
            "server",
            "timeout",
        ]


def test_streamed_responses_and_cut_streams(server: FaultServer) -> None:
    prompts = [
        "stream fine",
        "[[fault:truncated]] ends early once",
        "[[fault:cut]] dies mid-chunk once",
    ]
    results = run(_all(endpoint(server, stream=True), prompts))
    assert [r.text for r in results] == [f"echo: {p}" for p in prompts]
    assert [r.attempts for r in results] == [1, 2, 2]
    assert all(b.get("stream") for b in server.bodies)


def test_rerun_completes_only_what_is_missing(server: FaultServer, tmp_path: Path) -> None:
    prompts = [
        "alpha",
        "beta",
        "gamma",
        "[[fault:hang*]] delta",
        "[[fault:500*]] epsilon",
        "[[fault:reset]] zeta",
    ]
    exchanges = [Exchange(id=f"ex{i}", prompt=p) for i, p in enumerate(prompts)]
    out = tmp_path / "responses.jsonl"
    ep = endpoint(server)

    async def gen() -> object:
        async with LLMClient(ep) as client:
            return await agenerate(exchanges, out, client=client)

    first = run(gen())
    assert (first.rows, first.completed, first.errors) == (6, 4, 2)
    assert first.error_types == {"timeout": 1, "server": 1}
    rows = list(iter_jsonl(out))
    assert len(rows) == 6 and sum(1 for r in rows if r["error"]) == 2
    assert all(r["response"] == "" for r in rows if r["error"])
    before = dict(server.attempts)

    server.heal()
    second = run(gen())
    assert (second.kept, second.completed, second.errors, second.cached) == (4, 2, 0, 0)
    calls = {p: server.attempts[p] - before.get(p, 0) for p in prompts}
    assert calls == {p: (1 if "*" in p else 0) for p in prompts}  # only the failed two
    rows = list(iter_jsonl(out))
    assert len(rows) == 6 and not any(r["error"] for r in rows)  # superseded error rows gone
    assert sorted(r["id"] for r in rows) == [f"ex{i}" for i in range(6)]

    total = server.total
    third = run(gen())
    assert (third.kept, third.completed) == (6, 0) and server.total == total


def test_output_of_another_job_is_refused(server: FaultServer, tmp_path: Path) -> None:
    from refusalkit.core.errors import ConfigError

    out = tmp_path / "r.jsonl"
    exchanges = [Exchange(id="a", prompt="one")]

    async def gen(**kw: object) -> object:
        async with LLMClient(endpoint(server)) as client:
            return await agenerate(exchanges, out, client=client, **kw)  # type: ignore[arg-type]

    run(gen())
    with pytest.raises(ConfigError, match="did not write") as info:
        run(gen(params={"max_tokens": 5}))
    assert "--overwrite" in str(info.value)
    assert run(gen(params={"max_tokens": 5}, overwrite=True)).completed == 1


def test_unsupported_schema_falls_back_to_text(server: FaultServer) -> None:
    server.reject_schema = True
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}

    async def go() -> list:
        async with LLMClient(endpoint(server), log=False) as client:
            first = await client.chat("one", json_schema=schema)
            second = await client.chat("two", json_schema=schema)
            return [first, second]

    first, second = run(go())
    assert first.ok and second.ok and not first.structured and not second.structured
    assert ["response_format" in b for b in server.bodies] == [True, False, False]


def test_identical_requests_in_flight_are_sent_once(server: FaultServer) -> None:
    results = run(
        _all(endpoint(server), ["[[fault:slow@0.2]] same", "[[fault:slow@0.2]] same", "other"])
    )
    assert server.attempts["[[fault:slow@0.2]] same"] == 1
    assert all(r.ok for r in results) and sorted(r.cached for r in results[:2]) == [False, True]


def test_cancel_keeps_finished_work(server: FaultServer, tmp_path: Path) -> None:
    """Ctrl-C cancels the run: what finished is in the log; a rerun pays only for the rest."""
    log_path = tmp_path / "log.sqlite"
    fast = [f"fast {i}" for i in range(5)]
    slow = [f"[[fault:slow@30*]] slow {i}" for i in range(3)]
    ep = endpoint(server, timeout=60.0)

    async def interrupted() -> int:
        seen = 0
        async with LLMClient(ep, log=log_path) as client:
            async for r in client.chat_many([ChatRequest.from_prompt(p) for p in slow + fast]):
                assert r.ok
                seen += 1
                if seen == len(fast):
                    raise KeyboardInterrupt  # what Ctrl-C raises in the event loop
        return seen

    with pytest.raises(KeyboardInterrupt):
        run(interrupted())
    with ResponseLog(log_path) as log:
        assert log.stats()["entries"] == len(fast)
    server.heal()
    results = run(_all(ep, slow + fast, log_path))
    assert all(r.ok for r in results)
    assert [r.cached for r in results] == [False] * 3 + [True] * 5
    assert all(server.attempts[p] == 1 for p in fast)


def test_api_key_never_stored_logged_or_printed(
    server: FaultServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    secret = "sk-test-DO-NOT-LEAK-8c1f2e"
    monkeypatch.setenv("FAULT_API_KEY", secret)
    caplog.set_level(logging.DEBUG)
    ep = endpoint(server, api_key_env="FAULT_API_KEY", max_retries=0)
    log_path = tmp_path / "log.sqlite"
    out = tmp_path / "out.jsonl"
    exchanges = [
        Exchange(id="a", prompt="hello"),
        Exchange(id="b", prompt="[[fault:echoauth]] leaky server"),
    ]

    async def gen() -> object:
        async with LLMClient(ep, log=log_path) as client:
            return await agenerate(exchanges, out, client=client)

    summary = run(gen())
    assert summary.errors == 1
    rows = {r["id"]: r for r in iter_jsonl(out)}
    assert "***" in rows["b"]["error"]  # the server echoed the key; it was redacted
    from typer.testing import CliRunner

    from refusalkit.cli.app import app

    cli = CliRunner().invoke(app, ["logs", "--log", str(log_path)])
    exported = tmp_path / "export.jsonl"
    CliRunner().invoke(app, ["logs", "--log", str(log_path), "export", "-o", str(exported)])
    endpoints = CliRunner().invoke(
        app,
        ["endpoints", "--json"],
        env={"REFUSALKIT_BASE_URL": server.base_url, "REFUSALKIT_API_KEY": secret},
    )
    assert cli.exit_code == 0 and endpoints.exit_code == 0
    captured = capfd.readouterr()
    blobs = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert "log.sqlite" in blobs and "export.jsonl" in blobs
    for name, data in blobs.items():
        assert secret.encode() not in data, name
    for text in (caplog.text, captured.out, captured.err, cli.output, endpoints.output):
        assert secret not in text
