"""`refusalkit falsereject` end to end through the CLI against the real local model
(SmolLM2-135M over llama.cpp HTTP), on 2 bundled seeds with tiny settings and compact
prompt templates (tests/fixtures/falsereject_prompts, passed with `--prompts`).

SmolLM2 writes poor data (it copies template examples, rarely refuses); these tests check
the plumbing: every stage writes its file with a final status per item, failures keep
their raw answers, the yields agree with the files, every call is in the response log
and counted once, the export is consistent, and a rerun (also after a crash that cut a
stage file) asks the model nothing.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app
from refusalkit.core.io import iter_jsonl
from refusalkit.falsereject.stages import STAGES, read_records

pytestmark = pytest.mark.llm
#: compact templates (short prompts, minimal examples): SmolLM2 copies examples, so these
#: keep its answers short; they also exercise `--prompts DIR` with a real model
PROMPTS = Path(__file__).parent / "fixtures" / "falsereject_prompts"
FILES = {"generate": "generated.jsonl", "validate": "validated.jsonl",
         "orchestrate": "orchestrated.jsonl", "respond": "responses.jsonl"}  # fmt: skip
FINAL = {"graph": {"ok", "failed"}, "generate": {"accepted", "rejected", "failed"},
         "validate": {"kept", "dropped"}, "orchestrate": {"passed", "rejected", "failed"},
         "respond": {"ok", "failed"}}  # fmt: skip


def _log_rows(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute(
            "select count(*) from responses where tag like 'falsereject:%' and error is null"
        ).fetchone()[0]


def _run(out: Path, log: Path, *extra: str) -> dict[str, Any]:
    args = ["falsereject", "run", "--demo", "--limit", "2", "-n", "2", "-c", "1",
            "--max-rounds", "1", "--max-attempts", "2", "-k", "0", "--cot-format", "json",
            "--allow-truncated", "--dedup-backend", "hashed", "--prompts", str(PROMPTS),
            "--max-tokens", "extractor=160", "--max-tokens", "generator=64",
            "--max-tokens", "discriminator=48", "--max-tokens", "pool=24",
            "--max-tokens", "orchestrator=80", "--max-tokens", "responder=64",
            "-o", str(out), "--log", str(log), "--json", *extra]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return orjson.loads(res.stdout)


@pytest.fixture(scope="module")
def tiny(local_llm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI run shared by this module's tests (the model is slow on 2 cores). The
    endpoint is the session's llama.cpp server, with a timeout for a busy machine."""
    root = tmp_path_factory.mktemp("falsereject")
    config = root / "refusalkit.toml"
    config.write_text(
        f'default = "smol"\n[endpoints.smol]\nprovider = "local"\n'
        f'base_url = "{local_llm.base_url}"\ntimeout = 600\nmax_retries = 1\n'
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFUSALKIT_CONFIG", str(config))
        mp.setenv("REFUSALKIT_HOME", str(root / "home"))
        result = _run(root / "run", root / "log.sqlite")
    return {"root": root, "out": root / "run", "log": root / "log.sqlite", "result": result,
            "config": config}  # fmt: skip


def test_every_stage_records_a_final_status_and_the_yields_match(tiny: dict[str, Any]) -> None:
    out, result = tiny["out"], tiny["result"]
    graph = orjson.loads((out / "graph.json").read_bytes())
    ext = read_records(out / "graph.extract.jsonl")
    assert len(ext) == 2 and {r["extract"]["status"] for r in ext.values()} <= FINAL["graph"]
    assert graph["stats"]["seeds"] == sum(r["extract"]["status"] == "ok" for r in ext.values())
    for node in graph["nodes"]:  # seed and category on every node and edge
        assert node["seeds"] and node["categories"]
    for edge in graph["edges"]:
        assert edge["seeds"] and edge["categories"] and edge["relations"]
    counts = []
    for stage, name in FILES.items():
        block = STAGES[stage][0]
        recs = read_records(out / name)
        for rec in recs.values():
            info = rec[block]
            assert info["status"] in FINAL[stage], (stage, info)
            if info["status"] == "failed":  # never silently dropped: the raw answers stay
                failures = (
                    info["failure"] if isinstance(info["failure"], list) else [info["failure"]]
                )
                assert all(f["raw"] and all("text" in a for a in f["raw"]) for f in failures)
        counts.append(len(recs))
    y = result["yields"]["total"]
    assert y["generated"] == counts[0] == 2
    # each stage handles exactly what the previous one passed on
    assert (y["accepted"], y["refused_by_pool"], y["passed_orchestrator"]) == tuple(counts[1:])
    assert y["generated"] >= y["accepted"] >= y["refused_by_pool"] >= y["passed_orchestrator"]
    assert y["passed_orchestrator"] >= y["responded"] >= y["exported"]
    assert sum(y.values()) >= 2


def test_calls_are_logged_once_and_the_export_is_consistent(tiny: dict[str, Any]) -> None:
    result, out = tiny["result"], tiny["out"]
    stages = result["stages"]
    calls = sum(
        stages[s]["calls"] for s in ("graph", "generate", "validate", "orchestrate", "respond")
    )
    assert calls == _log_rows(tiny["log"]) and calls >= 4  # 2 extractions + 2 x (gen + disc)
    for rec in read_records(out / "validated.jsonl").values():  # the refusal classifier read it
        (v,) = rec["pool"]["verdicts"]
        assert v["detector"] and v["behavior"] in ("full_compliance", "partial_refusal",
                                                   "full_refusal", "unjudged")  # fmt: skip
    rows = list(iter_jsonl(out / "export" / "falsereject.jsonl"))
    dups = list(iter_jsonl(out / "export" / "duplicates.jsonl"))
    assert len(rows) + len(dups) == result["yields"]["total"]["responded"]
    assert len(rows) == result["yields"]["total"]["exported"]
    for name in ("sft_instruct", "sft_cot"):
        sft = list(iter_jsonl(out / "export" / f"{name}.jsonl"))
        assert [r["messages"][0]["content"] for r in sft] == [r["prompt"] for r in rows]
    for row in rows:
        assert row["instruct_response"] and row["cot_response"]["solution"]
        assert row["provenance"]["models"]["responder"]


def test_rerun_and_crash_resume_ask_nothing(tiny: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:  # fmt: skip
    monkeypatch.setenv("REFUSALKIT_CONFIG", str(tiny["config"]))
    out = tmp_path / "run"
    shutil.copytree(tiny["out"], out)
    before = _log_rows(tiny["log"])
    # a crash while writing the second generated record: it is cut in half
    gen = (out / "generated.jsonl").read_bytes().splitlines(keepends=True)
    (out / "generated.jsonl").write_bytes(gen[0] + gen[1][:40])
    again = _run(out, tiny["log"])
    st = again["stages"]
    assert st["generate"]["kept_before"] == 1 and st["generate"]["new"] == 1
    assert st["graph"]["new"] == 0 and st["graph"]["cached"] == 0  # finished: not even replayed
    assert all(
        st[s]["calls"] == 0 for s in ("graph", "generate", "validate", "orchestrate", "respond")
    )
    assert _log_rows(tiny["log"]) == before
    assert again["yields"] == tiny["result"]["yields"]
    # the redone item is the same record (only its call counters say it was replayed)
    redone, first = (read_records(p / "generated.jsonl") for p in (out, tiny["out"]))
    for rec in (*redone.values(), *first.values()):
        rec["generate"].pop("calls"), rec["generate"].pop("cached")
    assert redone == first
