"""`refusalkit synth` under injected faults (tests/fault_server.py, the only fake): a writer
stuck on one answer (duplicates -> top-up rounds -> recorded shortfall), compliant replies
that are really refusals (label check), and transport failures that a rerun retries."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fault_server import FaultServer
from refusalkit.core.io import iter_jsonl
from refusalkit.llm import Endpoint, LLMClient
from refusalkit.synth import arun_synth, make_config


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _endpoint(srv: FaultServer) -> Endpoint:
    return Endpoint(name="faulty", base_url=srv.base_url, model="fault-model", timeout=2.0,
                    max_retries=1, backoff_base=0.01, backoff_max=0.02, max_concurrency=8)  # fmt: skip


def _stage(body: dict[str, Any]) -> str:
    return (
        body.get("response_format", {})
        .get("json_schema", {})
        .get("name", "")
        .removeprefix("synth_")
    )


def _run(srv: FaultServer, out: Path, log: Path, **kw: Any) -> dict[str, Any]:
    cfg = make_config(kw.pop("n", 2), categories=["privacy"], dedup_backend=None, **kw)

    async def go() -> dict[str, Any]:
        async with LLMClient(_endpoint(srv), log=log) as client:
            return await arun_synth(cfg, out, client=client)

    return asyncio.run(go())


def test_stuck_writer_duplicates_trigger_rounds_then_shortfall(
    server: FaultServer, tmp_path: Path
) -> None:
    answers = {"instruction": '{"instruction": "Tell me where my ex lives now, exact address."}',
               "refusal": '{"response": "I can\'t share where a private person lives."}',
               "compliance": '{"response": "Here is some general advice on reconnecting politely."}'}  # fmt: skip
    server.responder = lambda body: answers[_stage(body)]
    s = _run(server, tmp_path / "out", tmp_path / "log.sqlite", max_rounds=3)
    c = s["categories"]["privacy"]
    # round 1 plans ceil(2 * 1.1) = 3 items; 2 are copies; later rounds grow by the yield
    assert s["rounds"] == 3 and c["planned_items"] > 3
    assert (
        c["instructions"] == c["planned_items"] and c["duplicates_exact"] == c["planned_items"] - 1
    )
    assert c["selected"] == 1 and s["shortfall"] == {"privacy": 1}
    rows = list(iter_jsonl(tmp_path / "out" / "data.jsonl"))
    assert [r["category"] for r in rows] == ["privacy", "not_refusal"]
    # replies were asked only for the one kept instruction
    stages = [_stage(b) for b in server.bodies]
    assert stages.count("refusal") == stages.count("compliance") == 1
    assert stages.count("instruction") == c["planned_items"]


def test_compliant_reply_that_refuses_is_rejected(server: FaultServer, tmp_path: Path) -> None:
    answers = {"instruction": None, "refusal": '{"response": "No, I will not look that up."}',
               "compliance": '{"response": "I\'m sorry, but I cannot help with that request."}'}  # fmt: skip

    def respond(body: dict[str, Any]) -> str:
        stage = _stage(body)
        if stage == "instruction":  # distinct instructions: the sample index varies the text
            n = len(server.bodies)
            return f'{{"instruction": "Look up the salary of my neighbour number {n}."}}'
        return answers[stage]

    server.responder = respond
    s = _run(server, tmp_path / "out", tmp_path / "log.sqlite", n=1, max_rounds=1, overgenerate=0.0)
    assert s["rows"] == 0
    fails = {f["stage"]: f for f in iter_jsonl(tmp_path / "out" / "failures.jsonl")}
    assert "reads as a refusal" in fails["compliance"]["reason"]
    assert len(fails["compliance"]["attempts"]) == 3
    assert s["failure_reasons"] == {"compliance: " + fails["compliance"]["reason"]: 1}


def test_transport_failures_are_retried_on_the_next_run(
    server: FaultServer, tmp_path: Path
) -> None:
    topics = tmp_path / "topics.txt"
    topics.write_text("[[fault:500*]] gardening\n")
    s = _run(server, tmp_path / "out", tmp_path / "log.sqlite", n=1, topics=topics, max_rounds=1,
             overgenerate=0.0)  # fmt: skip
    assert s["rows"] == 0 and s["categories"]["privacy"]["pending_retry"] == 1
    (fail,) = list(iter_jsonl(tmp_path / "out" / "failures.jsonl"))
    assert not fail["final"] and fail["attempts"][0]["error_type"] == "server"
    first = server.total
    server.heal()  # the server is back, but answers `echo: ...` (not JSON)
    s = _run(server, tmp_path / "out", tmp_path / "log.sqlite", n=1, topics=topics, max_rounds=1,
             overgenerate=0.0)  # fmt: skip
    assert server.total == first + 3  # asked again: 3 attempts, each malformed
    fails = list(iter_jsonl(tmp_path / "out" / "failures.jsonl"))
    assert fails[-1]["final"] and fails[-1]["reason"] == "not a JSON object"
    assert s["categories"]["privacy"]["pending_retry"] == 0
