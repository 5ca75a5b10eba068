"""`refusalkit synth` end to end against the real local model (SmolLM2-135M over HTTP).

SmolLM2 writes poor data; these tests check the plumbing on a tiny run (2 categories x 1
item, short answers): output schema, balance, provenance, failure recording, resume without
asking the model again (request counts from the response log), and that `refusalkit train`
/ `evaluate` take the output mixed with real labelled rows.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app
from refusalkit.core.io import iter_jsonl
from refusalkit.llm import LLMClient
from refusalkit.synth import arun_synth, make_config

pytestmark = pytest.mark.llm
CATS = "modalities,no_reason"
ROW_KEYS = {"id", "item", "instruction", "system", "response", "category", "behavior", "style",
            "topic", "phrasing", "instruction_category", "provenance"}  # fmt: skip


def _log_rows(path: Path, tag_prefix: str = "synth:") -> int:
    with sqlite3.connect(path) as db:
        return db.execute(
            "select count(*) from responses where tag like ?", (tag_prefix + "%",)
        ).fetchone()[0]


def _synth(out: Path, log: Path, *extra: str) -> dict[str, Any]:
    args = ["synth", "-n", "1", "-c", CATS, "--max-tokens", "160", "--overgenerate", "0",
            "--max-rounds", "2", "--dedup", "hashed", "--detail", "short", "-o", str(out), "--log", str(log), "--json",
            *extra]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return orjson.loads(res.stdout)


@pytest.fixture(scope="module")
def tiny(local_llm: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One CLI run shared by the tests of this module (the model is slow on 2 cores)."""
    root = tmp_path_factory.mktemp("synth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("REFUSALKIT_BASE_URL", local_llm.base_url)
        mp.setenv("REFUSALKIT_HOME", str(root / "home"))
        summary = _synth(root / "out", root / "log.sqlite")
    return {"root": root, "out": root / "out", "log": root / "log.sqlite", "summary": summary}


@pytest.fixture
def env(local_llm: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("REFUSALKIT_BASE_URL", local_llm.base_url)
    return local_llm


def test_output_schema_balance_and_provenance(tiny: dict[str, Any]) -> None:
    s, out = tiny["summary"], tiny["out"]
    rows = list(iter_jsonl(out / "data.jsonl"))
    assert len(rows) == s["rows"] == 2 * s["selected_items"]
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["instruction"].strip() and r["response"].strip()
        assert r["instruction_category"] in CATS.split(",")
        if r["category"] == "not_refusal":
            assert r["behavior"] == "full_compliance" and r["style"] is None
        else:
            assert r["category"] == r["instruction_category"]
            assert r["behavior"] == (
                "partial_refusal" if r["style"] == "partial" else "full_refusal"
            )
        p = r["provenance"]
        assert p["generator"] == "refusalkit synth" and p["endpoint"] == "env"
        assert p["model"] and p["template_version"] == s["template_version"]
        assert len(p["instruction_key"]) == 64 and len(p["response_key"]) == 64
    # balanced: one refusal and one negative per selected item, at most 1 per category
    refusals = Counter(r["category"] for r in rows if r["category"] != "not_refusal")
    negatives = Counter(r["instruction_category"] for r in rows if r["category"] == "not_refusal")
    assert refusals == negatives and all(v <= 1 for v in refusals.values())
    for cat, c in s["categories"].items():
        assert c["selected"] == refusals.get(cat, 0)
        assert c["shortfall"] == 1 - c["selected"]
    # every call of the run is in the log and accounted for in the summary
    assert s["totals"]["calls"] == _log_rows(tiny["log"]) == s["this_run"]["calls"]
    for f in iter_jsonl(out / "failures.jsonl"):
        assert f["final"] and f["reason"] and all("raw" in a for a in f["attempts"])


def test_rerun_asks_nothing(tiny: dict[str, Any], env: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny["out"], out)
    before = _log_rows(tiny["log"])
    again = _synth(out, tiny["log"])
    assert again["this_run"]["calls"] == 0 and _log_rows(tiny["log"]) == before
    assert (out / "data.jsonl").read_bytes() == (tiny["out"] / "data.jsonl").read_bytes()


def test_crash_resume_replays_from_the_log(tiny: dict[str, Any], env: Any, tmp_path: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(tiny["out"], out)
    # a crash: the last response row never written, the one before cut in half
    lines = (out / "responses.jsonl").read_bytes().splitlines(keepends=True)
    (out / "responses.jsonl").write_bytes(b"".join(lines[:-2]) + lines[-2][:25])
    (out / "data.jsonl").unlink()
    before = _log_rows(tiny["log"])
    again = _synth(out, tiny["log"])
    assert again["this_run"]["calls"] == 0 and again["this_run"]["replayed"] >= 2
    assert _log_rows(tiny["log"]) == before
    assert (out / "data.jsonl").read_bytes() == (tiny["out"] / "data.jsonl").read_bytes()
    assert again["categories"] == tiny["summary"]["categories"]


def test_malformed_output_is_retried_then_recorded(local_llm: Any, tmp_path: Path) -> None:
    """16 tokens cannot hold the JSON answer: every attempt is cut off, recorded, never kept."""
    cfg = make_config(1, categories=["knowledge_cutoff"], max_tokens=16, overgenerate=0.0,
                      max_rounds=1, dedup_backend=None, detail="short")  # fmt: skip

    async def go() -> dict[str, Any]:
        async with LLMClient(local_llm, log=tmp_path / "log.sqlite") as client:
            return await arun_synth(cfg, tmp_path / "out", client=client)

    s = asyncio.run(go())
    assert s["rows"] == 0 and s["shortfall"] == {"knowledge_cutoff": 1}
    (fail,) = list(iter_jsonl(tmp_path / "out" / "failures.jsonl"))
    assert (
        fail["final"]
        and fail["stage"] == "instruction"
        and fail["item"] == "knowledge_cutoff:000000"
    )
    assert [a["sample"] for a in fail["attempts"]] == [0, 1, 2]
    assert all(a["raw"] and a["problem"] for a in fail["attempts"])
    assert _log_rows(tmp_path / "log.sqlite") == 3 == s["this_run"]["calls"]
    assert (tmp_path / "out" / "data.jsonl").read_bytes() == b""


def test_train_and_evaluate_on_synthetic_plus_real(tiny: dict[str, Any], fixtures: Path,
                                                   tmp_path: Path) -> None:  # fmt: skip
    model = tmp_path / "model"
    res = CliRunner().invoke(app, [
        "train", str(tiny["out"] / "data.jsonl"), str(fixtures / "classifier" / "heldout.jsonl"),
        "--behavior-field", "behavior", "--category-field", "category", "--test-size", "0",
        "-o", str(model), "--json",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    trained = orjson.loads(res.stdout)
    real = (fixtures / "classifier" / "heldout.jsonl").read_text().count("\n")
    assert trained["train_rows"] == real + tiny["summary"]["rows"]
    res = CliRunner().invoke(app, [
        "evaluate", str(fixtures / "classifier" / "xstest_sample.csv"), "--behavior-field",
        "final_label", "-d", str(model), "--bootstrap", "0", "--json",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    report = orjson.loads(res.stdout)
    (scores,) = report["detectors"].values()
    assert report["n"] == 40 and scores["binary"]["n"] == 40
    assert 0.0 <= scores["binary"]["accuracy"] <= 1.0
