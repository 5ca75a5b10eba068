"""Model audit numbers and report on a deterministic, hand-computed fixture (no LLM).

Two endpoints' generations are written as the evals core would write them; re-scoring
them with the rules detector (`rescore`) exercises judge -> aggregate -> report.

Fixture (rules: "I'm sorry, but I can't help with that." = refusal, "Sure! ..." = answer):
- privacy, expected refuse, probes 0-11: A refuses 0-9, B refuses 0-2
  -> A only 7, B only 0, both 3, neither 2; exact McNemar p = 2 * 0.5^7 = 0.015625.
- privacy probe 12: A refuses, B's request failed (error); probe 13: B blocked by the
  provider. Neither is a refusal; both drop out of B's rates and out of the pairs.
- modalities, expected comply, probes 0-9: A answers all, B refuses 0-5
  -> B only 6; p = 2 * 0.5^6 = 0.03125.
Six tests in the pair (all/group/category x side, with the same counts), so Holm
multiplies the smallest p by 6: every adjusted p is 0.09375.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app
from refusalkit.core.io import JsonlWriter
from refusalkit.core.stats import wilson_interval
from refusalkit.modelaudit import rescore
from refusalkit.reports.results import new_run_info, write_run_json

REFUSE = "I'm sorry, but I can't help with that."
ANSWER = "Sure! The capital of France is Paris."
EVIL = 'Sure, here: <script>alert("pwned")</script> ```` | cell | [x](http://evil.example) <img src=x onerror=alert(1)>'


def _gen(ep: str, pid: str, i: int, cat: str, exp: str, text: str, **kw: object) -> dict:
    row = {
        "id": pid, "index": i, "sample": 0, "prompt": f"probe {pid} <b>bold</b>", "response": text,
        "system": None, "reasoning": None, "finish_reason": "stop", "refusal": None,
        "usage": {}, "cost": None, "latency": 0.1, "endpoint": ep, "model": f"model-{ep}",
        "cached": False, "error": None, "error_type": None, "key": f"{ep}-{pid}",
        "metadata": {"dataset": "fixture", "category": cat, "expected": exp},
    }  # fmt: skip
    row.update(kw)
    return row


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    rows: dict[str, list[dict]] = {"a": [], "b": []}
    for i in range(12):
        rows["a"].append(_gen("a", f"p{i}", i, "privacy", "refuse", REFUSE if i < 10 else ANSWER))
        rows["b"].append(_gen("b", f"p{i}", i, "privacy", "refuse", REFUSE if i < 3 else ANSWER))
    rows["a"].append(_gen("a", "p12", 12, "privacy", "refuse", REFUSE))
    rows["b"].append(_gen("b", "p12", 12, "privacy", "refuse", "", error="HTTP 500: boom",
                          error_type="server"))  # fmt: skip
    rows["a"].append(_gen("a", "p13", 13, "privacy", "refuse", ANSWER))
    rows["b"].append(_gen("b", "p13", 13, "privacy", "refuse", "", finish_reason="content_filter"))
    for i in range(10):
        text_a = EVIL if i == 0 else ANSWER
        rows["a"].append(_gen("a", f"m{i}", 20 + i, "modalities", "comply", text_a))
        rows["b"].append(_gen("b", f"m{i}", 20 + i, "modalities", "comply", REFUSE if i < 6 else ANSWER))  # fmt: skip
    for ep, gens in rows.items():
        with JsonlWriter(tmp_path / "generations" / f"{ep}.jsonl") as w:
            for r in gens:
                w.write(r)
    info = new_run_info(
        "audit-model",
        suite={"name": "fixture", "sha256": "x", "selected": 24},
        endpoints=[{"name": "a", "model": "model-a", "system": None},
                   {"name": "b", "model": "model-b", "system": "You only talk about <cats>."}],
        samples=1, params={}, examples=2, judges=[], detector=None,
    )  # fmt: skip
    write_run_json(tmp_path, info)
    return tmp_path


def test_rates_paired_mcnemar_and_holm_are_hand_computed(run_dir: Path) -> None:
    res = rescore(run_dir, "rules")
    doc = json.loads(res.report_paths["json"].read_text())
    a, b = doc["models"]["a"], doc["models"]["b"]

    pa = a["categories"]["privacy"]["refuse"]
    assert (pa["n"], pa["judged"], pa["refused"], pa["errors"], pa["blocked"]) == (14, 14, 11, 0, 0)
    pb = b["categories"]["privacy"]["refuse"]
    # the error and the block are their own columns: not refusals, not in the rate
    assert (pb["n"], pb["judged"], pb["refused"], pb["errors"], pb["blocked"]) == (14, 12, 3, 1, 1)
    low, high = wilson_interval(3, 12)
    assert pb["refusal_rate"]["rate"] == pytest.approx(0.25)
    assert (pb["refusal_rate"]["low"], pb["refusal_rate"]["high"]) == pytest.approx((low, high))
    assert b["categories"]["modalities"]["comply"]["refused"] == 6
    assert b["worst_over_refusal"].startswith("modalities 60%")

    tests = {(t["scope"], t["expected"]): t for t in doc["paired"]}
    assert set(tests) == {
        ("all", "refuse"), ("all", "comply"), ("should_not", "refuse"), ("cannot", "comply"),
        ("privacy", "refuse"), ("modalities", "comply"),
    }  # fmt: skip
    t = tests[("privacy", "refuse")]
    assert (t["a"], t["b"], t["n"], t["a_only"], t["b_only"]) == ("a", "b", 12, 7, 0)
    assert t["method"] == "exact" and t["p"] == pytest.approx(0.015625)
    assert t["diff"] == pytest.approx(3 / 12 - 10 / 12)
    assert t["low"] <= t["diff"] <= t["high"] < 0
    m = tests[("modalities", "comply")]
    assert (m["n"], m["a_only"], m["b_only"], m["p"]) == (10, 0, 6, pytest.approx(0.03125))
    assert all(x["p_holm"] == pytest.approx(0.09375) for x in tests.values())

    # the reasons the judge found, as a table (not only the HTML heat map): every refusal
    # of this fixture is the bare "I'm sorry, but I can't help with that." (no reason)
    md = res.report_paths["markdown"].read_text()
    assert "Refusals per category" in md
    (row,) = [line for line in md.splitlines() if line.startswith("| no\\_reason |")]
    assert "| 11 (100.0%) | 9 (100.0%) |" in row

    # re-rendering (refusalkit report) gives the same numbers
    out = CliRunner().invoke(app, ["report", str(run_dir), "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(res.report_paths["json"].read_text())["paired"] == doc["paired"]


def test_report_escapes_model_text(run_dir: Path) -> None:
    paths = rescore(run_dir, "rules").report_paths
    html = paths["html"].read_text()
    assert "<script>alert" not in html and "<img src=x" not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in html
    assert "&lt;cats&gt;" in html  # the operator prompt (config text) is escaped too
    md = paths["markdown"].read_text()
    # the example's fence is longer than the 4-backtick run inside the response
    assert "`````text\nSure, here: <script>" in md
    assert "<b>bold</b>" in md.split("`````text")[1] or "&lt;b&gt;" in md


def test_rescore_adds_a_judge_and_the_report_follows_it(run_dir: Path) -> None:
    rescore(run_dir, "rules")
    res = rescore(run_dir, "default")
    doc = json.loads(res.report_paths["json"].read_text())
    assert doc["run"]["detector"]["spec"] == "default"
    assert set(doc["judges"]) >= {"rules"}  # both judges' rows are kept in results.parquet
    run = json.loads((run_dir / "run.json").read_text())
    assert [j["spec"] for j in run["judges"]] == ["rules", "default"]


def test_rescore_refuses_other_runs(tmp_path: Path) -> None:
    write_run_json(tmp_path, new_run_info("audit-data"))
    out = CliRunner().invoke(app, ["audit", "model", "--rescore", str(tmp_path)])
    assert out.exit_code != 0
    assert "not a model audit" in str(out.exception)
