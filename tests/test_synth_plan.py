"""`refusalkit synth` without a model: item plans, templates, strict parsing, selection
(de-duplication and balance over stage files), the dry-run estimate and CLI errors."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from refusalkit.cli.app import app
from refusalkit.core.errors import ConfigError
from refusalkit.core.io import JsonlWriter
from refusalkit.llm import ChatRequest, ChatResult
from refusalkit.llm.config import local_endpoint
from refusalkit.synth import estimate, make_config
from refusalkit.synth.plan import instruction_request, plan_item, response_request
from refusalkit.synth.run import SynthRun
from refusalkit.synth.store import RunFolder
from refusalkit.synth.templates import load_templates
from refusalkit.synth.validate import check_instruction, parse_fields


def _result(text: str, finish: str = "stop") -> ChatResult:
    return ChatResult(request=ChatRequest(messages=[]), key="k", endpoint="e", model="m",
                      text=text, finish_reason=finish)  # fmt: skip


def test_plan_is_deterministic_and_balanced() -> None:
    cfg = make_config(10)
    assert len(cfg.categories) == 15 and "not_refusal" not in cfg.categories
    a = [plan_item(cfg, "privacy", i) for i in range(100)]
    b = [plan_item(cfg, "privacy", i) for i in range(100)]
    assert a == b and a[7].id == "privacy:000007"
    styles = Counter(it.style for it in a)
    assert (
        set(styles) == set(cfg.templates.styles)
        and max(styles.values()) - min(styles.values()) <= 1
    )
    topics = Counter(
        it.topic for it in [plan_item(cfg, "privacy", i) for i in range(len(cfg.topics))]
    )
    assert len(topics) == len(cfg.topics)  # one pass over the items covers every topic once
    assert len({(it.topic, it.phrasing) for it in a}) == 100
    assert all(len(set(it.examples)) == 2 for it in a)
    # a no_reason refusal cannot be explanatory
    assert "explanatory" not in {plan_item(cfg, "no_reason", i).style for i in range(50)}


def test_requests_carry_schema_sample_and_category_text() -> None:
    cfg = make_config(1)
    item = plan_item(cfg, "chain_of_command", 3)
    req = instruction_request(cfg, item, 2)
    assert req.sample == 2 and req.tag == "synth:instruction"
    assert req.json_schema["required"] == ["system", "instruction"]
    text = req.messages[0]["content"]
    assert cfg.taxonomy["chain_of_command"].name in text and item.topic in text
    plain = instruction_request(cfg, plan_item(cfg, "modalities", 0), 0)
    assert plain.json_schema["required"] == ["instruction"]
    r = response_request(cfg, item, "refusal", "Write me a poem.", "Only discuss billing.", 1)
    body = r.messages[0]["content"]
    assert "Write me a poem." in body and "Only discuss billing." in body and r.sample == 1
    c = response_request(cfg, item, "compliance", "Write me a poem $HOME", None, 0)
    assert "$HOME" in c.messages[0]["content"] and "<system_prompt>" not in c.messages[0]["content"]


def test_templates_override_and_errors(tmp_path: Path) -> None:
    base = load_templates()
    f = tmp_path / "t.yaml"
    f.write_text("styles:\n  terse:\n    rule: Very short.\n    behavior: full_refusal\n")
    over = load_templates(f)
    assert over.styles["terse"].rule == "Very short." and "partial" in over.styles
    assert over.version != base.version
    f.write_text("instruction:\n  user: 'Write about $nonsense'\n")
    cfg = make_config(1, templates=f)
    with pytest.raises(ConfigError, match=r"unknown placeholder \$nonsense"):
        instruction_request(cfg, plan_item(cfg, "privacy", 0), 0)
    with pytest.raises(ConfigError, match="--categories"):
        make_config(1, categories=["privacy", "not_refusal"])
    with pytest.raises(ConfigError, match="--styles"):
        make_config(1, styles=["rude"])


@pytest.mark.parametrize(
    ("text", "finish", "problem"),
    [
        ('{"instruction": "Describe the photo I attached of my garden."}', "stop", ""),
        (
            '```json\n{"instruction": "Describe the photo I attached of my garden."}\n```',
            "stop",
            "",
        ),
        ('Sure! {"instruction": "Describe the photo I attached."}', "stop", "not a JSON object"),
        ('{"instruction": "Describe the photo', "length", "cut off"),
        (
            '{"instruction": "Describe the photo I attached.", "category": "x"}',
            "stop",
            "unexpected keys",
        ),
        ('{"instruction": "Hi"}', "stop", "too short"),
        ('{"instruction": "<the user message> goes here for sure"}', "stop", "scaffolding"),
        ('["Describe the photo I attached."]', "stop", "not a JSON object"),
        ("", "stop", "empty answer"),
    ],
)
def test_parse_fields_is_strict(text: str, finish: str, problem: str) -> None:
    fields, why = parse_fields(_result(text, finish), ("instruction",))
    assert (fields is None) == bool(problem)
    assert problem in why


def test_seed_copies_are_rejected() -> None:
    assert check_instruction({"instruction": "Describe  this PHOTO."}, ["describe this photo."])


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    with JsonlWriter(path) as w:
        w.write_many(rows)


def test_selection_dedups_and_balances(tmp_path: Path) -> None:
    cfg = make_config(2, categories=["privacy", "modalities"], dedup_backend="hashed")
    folder = RunFolder(tmp_path)
    texts = {
        "privacy": ["Find the home address of my coworker Dana Smith.",
                    "find the home address of my coworker   dana smith.",  # exact copy
                    "Find the home address of my co-worker Dana Smith!",  # near copy
                    "List the medical history of my neighbour Tom.",
                    "What is the phone number of the mayor's daughter?"],
        "modalities": ["Listen to this voice memo and transcribe it.",
                       "Find the home address of my coworker Dana Smith.",  # cross-category copy
                       "Watch the attached video and rate my dancing."],
    }  # fmt: skip
    ins, resp = [], []
    long = "I'm sorry, but I can't help with that because it concerns a private person. " * 2
    for cat, items in texts.items():
        for i, t in enumerate(items):
            iid = f"{cat}:{i:06d}"
            ins.append({"id": iid, "category": cat, "index": i, "instruction": t, "topic": "x",
                        "phrasing": "casual", "key": "k", "system": None})  # fmt: skip
            # the last privacy item repeats a long refusal verbatim: a degenerate writer
            text = long if (cat == "privacy" and i in (3, 4)) else f"No ({cat} {i})."
            resp.append({"id": f"{iid}:refusal", "item": iid, "kind": "refusal", "category": cat,
                         "response": text, "style": "terse", "behavior": "full_refusal"})  # fmt: skip
            resp.append({"id": f"{iid}:compliance", "item": iid, "kind": "compliance",
                         "category": cat, "response": f"Sure ({i}).", "style": None,
                         "behavior": "full_compliance"})  # fmt: skip
    _write(folder.file("instructions.jsonl"), ins)
    _write(folder.file("responses.jsonl"), resp)
    run = SynthRun(cfg, folder, client=None, local=False, show_progress=False)  # type: ignore[arg-type]
    run.state = folder.read_state()
    sel = run.select({"privacy": 5, "modalities": 3})
    assert sel.duplicates["privacy:000001"] == ("exact", "privacy:000000")
    assert sel.duplicates["privacy:000002"][0] == "near"
    assert sel.duplicates["modalities:000001"] == ("exact", "privacy:000000")
    assert sel.kept["privacy"] == ["privacy:000000", "privacy:000003", "privacy:000004"]
    assert sel.response_dups == {"privacy:000004:refusal"}
    assert sel.complete["privacy"] == ["privacy:000000", "privacy:000003"]
    assert sel.selected == {"privacy": ["privacy:000000", "privacy:000003"],
                            "modalities": ["modalities:000000", "modalities:000002"]}  # fmt: skip
    # only planned items count: with 1 planned privacy item there is 1 to select
    assert run.select({"privacy": 1, "modalities": 3}).selected["privacy"] == ["privacy:000000"]


def test_dry_run_estimate(tmp_path: Path) -> None:
    cfg = make_config(8000)
    ep = local_endpoint("/nonexistent/model.gguf", price_input=1e-7, price_output=4e-7)
    est = estimate(cfg, ep)
    assert est["rows"] == 8000 * 15 * 2 and est["source"].startswith("assumed")
    assert set(est["stages"]) == {"instruction", "refusal", "compliance"}
    assert est["stages"]["instruction"]["calls"] >= 8000 * 15
    assert est["cost"] == pytest.approx(est["input_tokens"] * 1e-7 + est["output_tokens"] * 4e-7)
    pilot = {"selected_items": 4, "categories": {"a": {"planned_items": 6}},
             "stages": {s: {"calls": 8, "input_tokens": 4000, "output_tokens": 400}
                        for s in ("instruction", "refusal", "compliance")},
             "endpoint": "local", "model": "m"}  # fmt: skip
    m = estimate(make_config(2, categories=["privacy", "modalities"]), ep, pilot)
    assert m["stages"]["refusal"] == {"calls": 8, "input_tokens": 4000, "output_tokens": 400,
                                      "input_tokens_per_call": 500, "output_tokens_per_call": 50}  # fmt: skip
    assert m["items"] == 6 and m["source"].startswith("measured")


def test_cli_dry_run_and_errors(tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["synth", "-n", "100", "-o", str(tmp_path / "o"), "--dry-run",
                                   "--json", "-c", "privacy,modalities", "--no-negatives"])  # fmt: skip
    assert res.exit_code == 0, res.output
    est = orjson.loads(res.stdout)
    assert est["rows"] == 200 and set(est["stages"]) == {"instruction", "refusal"}
    assert not (tmp_path / "o").exists()  # a dry run writes nothing
    bad = CliRunner().invoke(app, ["synth", "-n", "1", "-o", str(tmp_path / "o"), "-c", "bogus"])
    assert bad.exit_code != 0 and "bogus" in str(bad.exception or bad.output)


def test_folder_identity_is_checked(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.prepare({"endpoint": "a", "model": "m"}, {}, overwrite=False)
    folder.prepare({"endpoint": "a", "model": "m"}, {"per_category": 9}, overwrite=False)
    with pytest.raises(ConfigError, match="endpoint: 'a' -> 'b'"):
        folder.prepare({"endpoint": "b", "model": "m"}, {}, overwrite=False)
    folder.file("instructions.jsonl").write_text('{"id": "x"}\n')
    folder.prepare({"endpoint": "b", "model": "m"}, {}, overwrite=True)
    assert not folder.file("instructions.jsonl").exists()
