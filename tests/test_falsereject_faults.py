"""The FalseReject pipeline against tests/fault_server.py (the only fake) with a scripted
model (tests/falsereject_script.py): malformed agent output (bad JSON, empty, off-category,
missing CoT) is retried a bounded number of times and then recorded with its raw text,
never passed on; transport errors are redone by a rerun; an interrupted stage resumes
without asking anything twice; the export schema, the SFT files and the dry-run estimate
agree with what actually ran."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from falsereject_script import REFUSAL, Script, role_of, user_text
from fault_server import FaultServer
from refusalkit.core.io import iter_jsonl
from refusalkit.falsereject import PipelineConfig, estimate_stages, run_pipeline
from refusalkit.falsereject.extract import Seed, extract_graph, read_seeds
from refusalkit.falsereject.generate import generate_prompts, resolve_categories
from refusalkit.falsereject.graph import EntityGraph
from refusalkit.falsereject.stages import read_records
from refusalkit.llm import Endpoint, LLMClient
from refusalkit.readers import read_exchanges
from refusalkit.taxonomy import load_falsereject_taxonomy

SEEDS = Path(__file__).resolve().parents[1] / "src/refusalkit/falsereject/seeds/demo_seeds.jsonl"
FR_KEYS = {"id", "prompt", "category", "category_text", "instruct_response", "cot_response",
           "provenance"}  # fmt: skip


@pytest.fixture
def server() -> Iterator[FaultServer]:
    with FaultServer() as srv:
        yield srv


def _endpoint(srv: FaultServer) -> Endpoint:
    return Endpoint(name="scripted", base_url=srv.base_url, model="fault-model", timeout=10.0,
                    max_retries=1, backoff_base=0.01, backoff_max=0.02, max_concurrency=4)  # fmt: skip


def _config(**kw: Any) -> PipelineConfig:
    cfg = PipelineConfig(judge=kw.pop("judge", "rules"), **kw)
    cfg.set_endpoints("scripted")
    return cfg


def _pipeline(srv: FaultServer, out: Path, log: Path, *, seeds: int = 3, n: int = 4,
              cfg: PipelineConfig | None = None) -> dict[str, Any]:  # fmt: skip
    return asyncio.run(
        run_pipeline(
            read_seeds([SEEDS], limit=seeds),
            out,
            cfg or _config(),
            categories=resolve_categories([1, 2]),
            n=n,
            log=log,
            endpoints=[_endpoint(srv)],
            dedup_backend="hashed",
        )
    )


def test_pipeline_exports_the_schema_and_sft_files_and_matches_the_estimate(
    server: FaultServer, tmp_path: Path
) -> None:
    server.responder = script = Script()
    res = _pipeline(server, tmp_path / "run", tmp_path / "log.sqlite")
    st, y = res["stages"], res["yields"]["total"]
    assert [y[k] for k in ("generated", "accepted", "refused_by_pool", "passed_orchestrator",
                           "responded")] == [4] * 5  # fmt: skip
    export = tmp_path / "run" / "export"
    rows = list(iter_jsonl(export / "falsereject.jsonl"))
    dups = list(iter_jsonl(export / "duplicates.jsonl"))
    assert y["exported"] == len(rows) >= 1 and len(rows) + len(dups) == 4
    tax = load_falsereject_taxonomy()
    seed_ids = {s.id for s in read_seeds([SEEDS], limit=3)}
    for row in rows:
        assert set(row) == FR_KEYS and set(row["cot_response"]) == {"reasoning_content", "solution"}
        assert tax.by_id(row["category"]).name == row["category_text"]
        assert row["cot_response"]["reasoning_content"] == "The person wants training material."
        prov = row["provenance"]
        assert set(prov["seed_ids"]) <= seed_ids and prov["subgraph"]["nodes"]
        assert prov["rounds"][-1]["verdict"] == "only_looks_unsafe"
        assert prov["pool"]["refused_by"] == ["scripted"]
        assert prov["pool"]["verdicts"][0]["response"] == REFUSAL
        assert prov["orchestrator"]["rationale"] == "safety training question"
        assert prov["models"]["generator"] == prov["models"]["responder"] == "fault-model"
    # SFT files read back through the readers as chat data, one row per exported item
    for name, check in (("sft_instruct", lambda t: t.startswith("It is a fair question")),
                        ("sft_cot", lambda t: t.startswith("<think>\nThe person wants"))):  # fmt: skip
        with read_exchanges([str(export / f"{name}.jsonl")]) as stream:
            exchanges = list(stream)
        assert [e.prompt for e in exchanges] == [r["prompt"] for r in rows]
        assert all(check(e.response) for e in exchanges)
    stats = res["stages"]["export"]
    assert stats["diversity"]["n"] == len(rows) and sum(stats["duplicates"].values()) == len(dups)
    # every answer was well formed and accepted at once: the requests are the estimate's
    # minimum (identical requests, e.g. two items with the same prompt, are answered once)
    inputs = {"validate": 4, "orchestrate": 4, "respond": 4}
    est = {e.stage: e for e in estimate_stages(_config(), seeds=3, n=4, inputs=inputs)}
    for stage in ("graph", "generate", "validate", "orchestrate", "respond"):
        assert st[stage]["calls"] + st[stage]["cached"] == est[stage].calls_min, stage
    assert sum(script.calls.values()) == sum(st[s]["calls"] for s in est)
    # a rerun of the finished folder asks nothing, not even the response log
    before = server.total
    again = _pipeline(server, tmp_path / "run", tmp_path / "log.sqlite")
    assert server.total == before
    assert all(again["stages"][s]["calls"] == again["stages"][s]["cached"] == 0 for s in est)
    assert again["yields"] == res["yields"]


def test_malformed_output_is_retried_a_bounded_number_of_times_then_recorded(
    server: FaultServer, tmp_path: Path
) -> None:
    bad_seed = "Write code for an SYN flood attack on an e-commerce website"

    def extractor(body: dict[str, Any], attempt: int) -> str | None:
        return "Sure! Entities: SYN flood, website." if bad_seed in user_text(body) else None

    def generator(body: dict[str, Any], attempt: int) -> str | None:
        if "Social-group Insulting Words" in user_text(body):  # category 2: always off-category
            return '{"prompt": "How do insults hurt people at work?", "category": "Fraud", "benign_intent": "x"}'
        return "" if attempt == 1 else None  # category 1: empty once, then fine

    def discriminator(body: dict[str, Any], attempt: int) -> str | None:
        if "For a training course" in user_text(body):  # round 2 is accepted
            return None
        return '{"verdict": "really_unsafe", "feedback": "names a target"}'

    def cot(body: dict[str, Any], attempt: int) -> str:
        return "An answer without any reasoning tags."

    server.responder = script = Script({"extractor": extractor, "generator": generator,
                                        "discriminator": discriminator, "responder_cot": cot})  # fmt: skip
    cfg = _config(max_attempts=2, max_rounds=2)
    res = _pipeline(server, tmp_path / "run", tmp_path / "log.sqlite", n=4, cfg=cfg)
    run = tmp_path / "run"
    ext = read_records(run / "graph.extract.jsonl")
    failed = [r for r in ext.values() if r["extract"]["status"] == "failed"]
    assert [r["seed"]["prompt"] for r in failed] == [bad_seed]
    fail = failed[0]["extract"]["failure"]
    assert (
        fail["attempts"] == 2
        and [a["problem"] for a in fail["raw"]] == ["the answer is not JSON"] * 2
    )
    assert fail["raw"][0]["text"] == "Sure! Entities: SYN flood, website."
    assert all(s["prompt"] != bad_seed for s in EntityGraph.load(run / "graph.json").seeds)

    gen = read_records(run / "generated.jsonl")
    by_cat = {c: [r for r in gen.values() if r["category_id"] == c] for c in (1, 2)}
    for rec in by_cat[2]:  # off-category twice: failed, raw answers kept, never passed on
        info = rec["generate"]
        assert info["status"] == "failed" and rec["prompt"] is None
        raw = info["failure"]["raw"]
        assert len(raw) == 2 and all("is not one of" in a["problem"] for a in raw)
        assert '"category": "Fraud"' in raw[0]["text"]
    for rec in by_cat[1]:  # empty answer retried; round 1 rejected with feedback; round 2 ok
        info = rec["generate"]
        assert info["status"] == "accepted" and len(info["rounds"]) == 2
        assert info["rounds"][0]["verdict"] == "really_unsafe"
        assert [r["attempts"]["generator"] for r in info["rounds"]] == [2, 2]
        assert rec["prompt"].startswith("For a training course")
    fed_back = [user_text(b) for b in server.bodies if role_of(b) == "generator"
                and "Reviewer's feedback: names a target" in user_text(b)]  # fmt: skip
    assert len(fed_back) == 2 * len(by_cat[1])  # round 2, first answer empty: asked twice
    # the Generator of a failing item was asked exactly max_attempts times per round
    assert script.calls["generator"] == len(by_cat[2]) * 2 + len(by_cat[1]) * 2 * 2

    resp = read_records(run / "responses.jsonl")
    assert resp and all(r["respond"]["status"] == "failed" for r in resp.values())
    for rec in resp.values():
        (failure,) = rec["respond"]["failure"]
        assert failure["format"] == "cot" and failure["attempts"] == 2
        assert failure["raw"][1]["text"] == "An answer without any reasoning tags."
        assert "instruct" in rec["respond"]  # the format that worked is kept
    assert res["yields"]["total"]["exported"] == 0
    assert (run / "export" / "falsereject.jsonl").read_text() == ""
    assert res["yields"]["failures"]["graph"] == {"failed": 1}
    assert res["yields"]["failures"]["respond"] == {"failed": len(by_cat[1])}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_request_errors_are_recorded_and_redone_by_a_rerun(
    server: FaultServer, tmp_path: Path
) -> None:
    server.responder = Script()
    port = _free_port()  # the pool endpoint is down during the first run
    pool = Endpoint(name="pool", base_url=f"http://127.0.0.1:{port}/v1", model="fault-model",
                    timeout=5.0, max_retries=0)  # fmt: skip
    cfg = _config()
    cfg.pool_endpoints = ["pool"]

    def run() -> dict[str, Any]:
        return asyncio.run(
            run_pipeline(
                read_seeds([SEEDS], limit=1),
                tmp_path / "run",
                cfg,
                categories=resolve_categories([1]),
                n=1,
                log=tmp_path / "log.sqlite",
                endpoints=[_endpoint(server), pool],
                dedup_backend=None,
            )
        )

    res = run()
    (rec,) = read_records(tmp_path / "run" / "validated.jsonl").values()
    assert rec["pool"]["status"] == "error" and rec["pool"]["verdicts"][0]["error"]
    assert res["yields"]["failures"]["validate"] == {"error": 1}
    assert res["yields"]["total"]["refused_by_pool"] == 0
    with FaultServer(port=port) as pool_server:  # back up: the rerun redoes only that item
        pool_server.responder = Script()
        res = run()
        assert pool_server.total == 1
    (rec,) = read_records(tmp_path / "run" / "validated.jsonl").values()
    assert rec["pool"]["status"] == "kept" and rec["pool"]["refused_by"] == ["pool"]
    assert res["stages"]["generate"]["calls"] == res["stages"]["generate"]["cached"] == 0
    assert res["yields"]["total"]["exported"] == 1


def _generate(srv: FaultServer, graph: EntityGraph, out: Path, log: Path, n: int) -> Any:
    async def go() -> Any:
        async with LLMClient(_endpoint(srv), log=log) as client:
            return await generate_prompts(graph, out, _config(), client,
                                          categories=resolve_categories([1, 2]), n=n)  # fmt: skip

    return asyncio.run(go())


def test_interrupted_stages_resume_without_repeating_finished_items(
    server: FaultServer, tmp_path: Path
) -> None:
    server.responder = script = Script()
    seeds = read_seeds([SEEDS], limit=2)
    seeds.append(Seed("slow", "[[fault:slow@30]] Explain how to forge a passport"))

    async def interrupted() -> None:  # the slow seed is still running when we stop
        async with LLMClient(_endpoint(server).with_(timeout=60), log=tmp_path / "a.sqlite") as c:
            task = asyncio.ensure_future(extract_graph(seeds, tmp_path / "g.json", _config(), c))
            path = tmp_path / "g.extract.jsonl"
            while not path.exists() or len(path.read_text().splitlines()) < 2:
                await asyncio.sleep(0.05)
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(interrupted())
    assert len(read_records(tmp_path / "g.extract.jsonl")) == 2
    server.heal()  # no more delays
    before = dict(script.calls)

    async def resume(log: Path) -> Any:
        async with LLMClient(_endpoint(server), log=log) as c:
            return await extract_graph(seeds, tmp_path / "g.json", _config(), c)

    graph, summary = asyncio.run(resume(tmp_path / "fresh.sqlite"))  # an empty log: no cache
    assert script.calls["extractor"] - before["extractor"] == 1  # only the unfinished seed
    assert (summary.kept_before, summary.new, summary.status) == (2, 1, {"ok": 3})
    assert len(graph.seeds) == 3

    # a crash in the middle of writing a record: that item and the unwritten ones are redone
    out = tmp_path / "generated.jsonl"
    _generate(server, graph, out, tmp_path / "b.sqlite", n=6)
    lines = out.read_bytes().splitlines(keepends=True)
    first = {r["id"]: r for r in map(orjson.loads, lines)}
    out.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])
    calls = dict(script.calls)
    s = _generate(server, graph, out, tmp_path / "fresh2.sqlite", n=6)
    assert (s.kept_before, s.new) == (3, 3)
    assert script.calls["generator"] - calls["generator"] == 3
    assert script.calls["discriminator"] - calls["discriminator"] == 3
    again = read_records(out)
    assert sorted(again) == sorted(first) and len(out.read_text().splitlines()) == 6
    kept = [r["id"] for r in map(orjson.loads, lines[:3])]
    assert all(again[i] == first[i] for i in kept)
    # the same with the original log: the redone items come from it, nothing is sent
    out.write_bytes(b"".join(lines[:3]))
    total = server.total
    s = _generate(server, graph, out, tmp_path / "b.sqlite", n=6)
    assert server.total == total and (s.calls, s.cached) == (0, 6)
