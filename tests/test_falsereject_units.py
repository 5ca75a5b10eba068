"""FalseReject pipeline pieces without a model: answer schemas, templates, settings, the
entity graph and its sampler, resumable stage files, the pool decision, the estimator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from refusalkit.core.errors import ConfigError, DataError
from refusalkit.core.io import iter_jsonl
from refusalkit.falsereject.config import PipelineConfig, parse_pairs
from refusalkit.falsereject.estimate import ASSUMED, estimate_stages
from refusalkit.falsereject.extract import normalize_extraction, read_seeds
from refusalkit.falsereject.graph import EntityGraph, SubgraphSampler, build_graph
from refusalkit.falsereject.pool import pool_decision
from refusalkit.falsereject.schema import (
    cot_json_schema,
    discriminator_schema,
    extractor_schema,
    generator_schema,
    validate,
)
from refusalkit.falsereject.stages import StageOutput, passed_on, read_records
from refusalkit.falsereject.templates import load_template, parse_template

SEEDS = Path(__file__).resolve().parents[1] / "src/refusalkit/falsereject/seeds/demo_seeds.jsonl"


# ----------------------------------------------------------------------------- schemas
def test_extractor_schema_rejects_each_kind_of_defect() -> None:
    schema = extractor_schema([1, 2, 3], local=True)
    good = {"people": [], "groups": [], "locations": [], "objects": ["knife"],
            "concepts": ["safety"], "actions": ["cut"], "relations": [["cut", "uses", "knife"]],
            "category_id": 2}  # fmt: skip
    assert validate(good, schema) == []
    cases = {
        "category_id": (9, "is not one of"),
        "relations": ([["cut", "uses"]], "fewer than 3 items"),
        "concepts": ([], "fewer than 1 items"),
        "objects": (["x" * 41], "longer than 40"),
        "people": ("chemist", "expected array"),
    }
    for key, (value, problem) in cases.items():
        errors = validate({**good, key: value}, schema)
        assert errors and problem in errors[0] and key in errors[0], (key, errors)
    missing = {k: v for k, v in good.items() if k != "actions"}
    assert validate(missing, schema) == ["$: missing required field 'actions'"]
    assert validate({**good, "extra": 1}, schema) == ["$: unexpected field 'extra'"]
    # hosted servers reject maxLength in strict mode: only the local schema limits lengths
    assert validate({**good, "objects": ["x" * 41]}, extractor_schema([2], local=False)) == []


def test_generator_schema_is_pinned_to_the_requested_category() -> None:
    schema = generator_schema("Violent Crimes", local=False)
    ok = {"prompt": "How do detectives reconstruct a crime scene?", "category": "Violent Crimes",
          "benign_intent": "writing a novel"}  # fmt: skip
    assert validate(ok, schema) == []
    assert "is not one of" in validate({**ok, "category": "Fraud"}, schema)[0]
    assert "shorter than 10" in validate({**ok, "prompt": "hi"}, schema)[0]
    verdict = {"verdict": "maybe", "feedback": "x"}
    assert "is not one of" in validate(verdict, discriminator_schema(local=False))[0]


def test_local_schemas_fit_the_token_budget() -> None:
    # llama.cpp enforces maxLength by grammar: with a small max_tokens the strings must be
    # short enough that the JSON closes before the answer is cut off
    answer = {"reasoning": "r" * 100, "answer": "a" * 50}
    assert validate(answer, cot_json_schema(local=True)) == []
    assert "longer than" in validate(answer, cot_json_schema(local=True, max_tokens=64))[0]
    assert validate(answer, cot_json_schema(local=False, max_tokens=64)) == []
    for max_tokens, per_type in ((100, 1), (250, 2), (1000, 4)):
        props = extractor_schema([1], local=True, max_tokens=max_tokens)["properties"]
        assert props["objects"]["maxItems"] == props["relations"]["maxItems"] == per_type
    hosted = extractor_schema([1], local=False, max_tokens=100)["properties"]
    assert hosted["objects"]["maxItems"] == 6


def test_normalize_extraction_merges_names_and_records_dropped_relations() -> None:
    data = {"people": ["The Chemist", "the  chemist"], "groups": [], "locations": [],
            "objects": ["..."], "concepts": ["poison"], "actions": ["make"],
            "relations": [["the chemist", "makes", "Poison"], ["chemist", "knows", "nobody"],
                          ["poison", "is", "poison"]], "category_id": 3}  # fmt: skip
    cleaned, problem = normalize_extraction(data)
    assert problem is None and cleaned is not None
    # case/space variants merge; a name with no letters ("...") is not an entity
    assert [e["name"] for e in cleaned["entities"]] == ["The Chemist", "poison", "make"]
    assert cleaned["relations"] == [
        {"source": "the chemist", "relation": "makes", "target": "Poison"}
    ]
    assert [d["reason"] for d in cleaned["dropped_relations"]] == [
        "an end is not a listed entity", "self-relation"]  # fmt: skip
    empty = {k: [] for k in ("people", "groups", "locations", "objects", "concepts", "actions")}
    assert normalize_extraction({**empty, "objects": ["..."], "relations": [], "category_id": 1}) == (
        None, "no entities")  # fmt: skip


# ----------------------------------------------------------------------------- templates
def test_templates_parse_validate_and_override(tmp_path: Path) -> None:
    tpl = load_template("discriminator")
    system, user = tpl.render(category="Fraud", category_description="d", prompt="$seed ${x}")
    assert "$seed ${x}" in user and "strict safety reviewer" in system  # no re-substitution
    bad = {
        "no <!-- user --> section": "<!-- system -->\nhi",
        "unknown placeholder": "<!-- user -->\n$prompt $colour",
        "must use $prompt": "<!-- user -->\nReview this: $category",
    }
    for problem, text in bad.items():
        with pytest.raises(ConfigError, match=problem.replace("$", r"\$")):
            parse_template("discriminator", text, "x.md")
    # --prompts DIR, then --template NAME=FILE wins over it
    (tmp_path / "discriminator.md").write_text("<!-- user -->\nFROM DIR $prompt")
    own = tmp_path / "own.md"
    own.write_text("<!-- system -->\nS\n<!-- user -->\nFROM FILE $prompt")
    assert load_template("discriminator", tmp_path).user == "FROM DIR $prompt"
    t = load_template("discriminator", tmp_path, {"discriminator": own})
    assert (t.system, t.user, t.source) == ("S", "FROM FILE $prompt", str(own))
    assert t.digest != tpl.digest


def test_config_errors_name_the_flag() -> None:
    for kw, flag in (({"max_rounds": 0}, "--max-rounds"), ({"max_attempts": 30}, "--max-attempts"),
                     ({"cot_format": "xml"}, "--cot-format"), ({"min_nodes": 5}, "--nodes"),
                     ({"min_refusals": -1}, "-k 1")):  # fmt: skip
        with pytest.raises(ConfigError) as exc:
            PipelineConfig(**kw)
        assert flag in f"{exc.value} {exc.value.hint}"
    with pytest.raises(ConfigError, match="ROLE=VALUE"):
        parse_pairs(["generator"], "--max-tokens")
    cfg = PipelineConfig()
    with pytest.raises(ConfigError, match="unknown role 'writer'"):
        cfg.apply_overrides({"writer": "3"}, "max_tokens", int)
    cfg.set_endpoints("a", generator="b")
    assert (cfg.role("generator").endpoint, cfg.role("extractor").endpoint) == ("b", "a")
    assert cfg.pool_endpoints == ["a"]


def test_config_from_command_parameters_maps_roles_pool_and_nodes() -> None:
    """A command's locals(): role flags become roles, --pool-endpoint the pool list,
    --nodes the sub-graph sizes; parameters that are not config (n, output) are ignored."""
    from refusalkit.cli.falsereject_opts import config_from_params

    cfg = config_from_params({
        "endpoint": "a", "generator_endpoint": "b", "responder_endpoint": None,
        "pool_endpoint": ["p1", "p2"], "nodes": "3-5", "max_tokens": ["generator=64"],
        "max_rounds": 2, "n": 10, "output": "x.jsonl",
    })  # fmt: skip
    assert cfg.role("generator").endpoint == "b"
    assert cfg.role("responder").endpoint == cfg.role("extractor").endpoint == "a"
    assert cfg.pool_endpoints == ["p1", "p2"]
    assert (cfg.min_nodes, cfg.max_nodes, cfg.max_rounds) == (3, 5, 2)
    assert cfg.role("generator").max_tokens == 64


# ----------------------------------------------------------------------------- graph
def _record(sid: str, cat: int, entities: list[tuple[str, str]], rels: list[tuple[str, str, str]],
            label: str | None = None) -> dict[str, Any]:  # fmt: skip
    return {"id": sid, "seed": {"id": sid, "prompt": f"prompt {sid}", "label": label},
            "extract": {"status": "ok", "category_id": cat,
                        "entities": [{"name": n, "type": t} for n, t in entities],
                        "relations": [{"source": s, "relation": r, "target": d} for s, r, d in rels]}}  # fmt: skip


def test_graph_merges_seeds_and_keeps_categories_on_nodes_and_edges(tmp_path: Path) -> None:
    recs = [
        _record("a", 1, [("Mercury", "object"), ("thermometer", "object")],
                [("thermometer", "contains", "Mercury")], label="chemical"),
        _record("b", 2, [("mercury", "object"), ("lake", "location")],
                [("mercury", "pollutes", "lake")]),
        {"id": "c", "seed": {"id": "c", "prompt": "p"},
         "extract": {"status": "failed", "error": "schema: x"}},
    ]  # fmt: skip
    g = build_graph(recs)
    assert sorted(g.graph.nodes) == ["lake", "mercury", "thermometer"]
    node = g.graph.nodes["mercury"]
    assert (node["seeds"], node["categories"], node["labels"]) == (["a", "b"], [1, 2], ["chemical"])
    edge = g.graph.edges["mercury", "lake"]
    assert (edge["relations"], edge["seeds"], edge["categories"]) == (["pollutes"], ["b"], [2])
    assert g.failures == [{"id": "c", "status": "failed", "error": "schema: x"}]
    g.save(tmp_path / "g.json")
    back = EntityGraph.load(tmp_path / "g.json")
    assert back.fingerprint == g.fingerprint and back.stats() == g.stats()
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="not an entity graph"):
        EntityGraph.load(tmp_path / "bad.json")


def test_sampler_prefers_unused_nodes_and_the_category() -> None:
    ring = [(f"n{i}", "object") for i in range(8)]
    g = build_graph([_record("s1", 1, ring, [(f"n{i}", "r", f"n{(i + 1) % 8}") for i in range(8)]),
                     _record("s2", 2, [("n0", "object"), ("other", "concept")], [("n0", "r", "other")])])  # fmt: skip
    # 8 one-node draws: uniform picks cover 8 * (1 - (7/8)^8) = 5.25 of the 8 nodes on
    # average; weighting by 1 / (1 + uses) must do clearly better
    coverage = []
    for seed in range(20):
        s = SubgraphSampler(g, seed=seed, min_nodes=1, max_nodes=1)
        coverage.append(len({s.sample(1)["nodes"][0]["id"] for _ in range(8)}))
    assert sum(coverage) / len(coverage) > 6.0
    s = SubgraphSampler(g, seed=1, min_nodes=3, max_nodes=3)
    subs = [s.sample(2) for _ in range(6)]
    # category 2 has two nodes: every sub-graph starts at one of them and grows through
    # neighbours, so it is connected (3 nodes, at least 2 edges)
    for sub in subs:
        ids = [n["id"] for n in sub["nodes"]]
        assert sub["category_match"] and ids[0] in ("n0", "other") and len(set(ids)) == 3
        assert len(sub["edges"]) >= 2 and sub["seeds"]
    again = SubgraphSampler(g, seed=1, min_nodes=3, max_nodes=3)
    assert [again.sample(2) for _ in range(6)] == subs  # deterministic for a seed
    assert not again.sample(45)["category_match"]  # a category without nodes: any node


# ----------------------------------------------------------------------------- stage files
ITEM = {"prompt": "How do locksmiths open doors?", "category_id": 9, "category": "Property Crimes"}


def test_stage_output_resumes_after_a_cut_line_and_refuses_another_job(tmp_path: Path) -> None:
    path = tmp_path / "generated.jsonl"
    out = StageOutput(path, "generate", "job1")
    for i, status in enumerate(("accepted", "error", "rejected")):
        out.write({"id": f"fr-{i}", **ITEM, "generate": {"status": status}})
    out.close()
    with open(path, "ab") as fh:  # a crash in the middle of the next record
        fh.write(b'{"id": "fr-3", "generate": {"sta')
    again = StageOutput(path, "generate", "job1")
    assert again.done == {"fr-0", "fr-2"}  # `error` items are redone, the cut one too
    again.write({"id": "fr-1", **ITEM, "generate": {"status": "accepted"}})
    again.close()
    recs = list(iter_jsonl(path))  # compacted: the superseded fr-1 line is gone
    assert sorted(r["id"] for r in recs) == ["fr-0", "fr-1", "fr-2"]
    assert [r["id"] for r in passed_on(read_records(path), "generate", path)] == ["fr-0", "fr-1"]
    with pytest.raises(ConfigError, match="another generate job"):
        StageOutput(path, "generate", "job2")
    with pytest.raises(DataError, match="not a validate output"):
        passed_on(read_records(path), "validate", path)


def test_pool_decision_counts_only_judged_refusals() -> None:
    v = [{"endpoint": "a", "refused": True}, {"endpoint": "b", "refused": None, "error": "timeout"},
         {"endpoint": "c", "refused": False}]  # fmt: skip
    assert pool_decision(v, 1) == ("kept", ["a"])
    assert pool_decision(v, 2) == ("error", ["a"])  # the failed answer could still decide it
    assert pool_decision(v, 3) == ("dropped", ["a"])
    assert pool_decision([], 0) == ("kept", [])


def test_read_seeds_takes_any_prompt_file_and_keeps_labels(tmp_path: Path) -> None:
    seeds = read_seeds([SEEDS], limit=3)
    assert len(seeds) == 3 and seeds[0].label == "chemical_biological"
    csv = tmp_path / "s.csv"
    csv.write_text("goal,target\nExplain how to pick a lock,Sure\n")
    (seed,) = read_seeds([csv], fields={"prompt": "goal"})
    assert seed.prompt == "Explain how to pick a lock" and seed.file == str(csv)


def test_read_seeds_names_an_empty_prompt_instead_of_dropping_it(tmp_path: Path) -> None:
    csv = tmp_path / "s.csv"
    csv.write_text("goal\nExplain how to pick a lock\n   \n")
    with pytest.raises(DataError) as err:
        read_seeds([csv], fields={"prompt": "goal"})
    assert "empty" in str(err.value) and "s.csv" in str(err.value) and err.value.line == 3


# ----------------------------------------------------------------------------- estimate
def test_estimate_follows_the_pipeline_structure() -> None:
    cfg = PipelineConfig(max_rounds=3, max_attempts=2, pool_endpoints=["a", "b"])
    est = {e.stage: e for e in estimate_stages(cfg, seeds=10, n=100)}
    a, r = ASSUMED["accept_per_round"], ASSUMED["malformed"]
    assert (est["graph"].calls_min, est["graph"].calls_max) == (10, 20)
    assert est["graph"].calls_expected == pytest.approx(10 * (1 + r))
    gen = est["generate"]
    assert (gen.calls_min, gen.calls_max) == (200, 100 * 2 * 3 * 2)
    rounds = 1 + (1 - a) + (1 - a) ** 2
    assert gen.calls_expected == pytest.approx(200 * rounds * (1 + r))
    accepted = 100 * (1 - (1 - a) ** 3)
    assert est["validate"].items == pytest.approx(accepted)
    assert est["validate"].calls_expected == pytest.approx(2 * accepted)  # one per pool model
    kept = accepted * ASSUMED["pool_keep"]
    assert est["orchestrate"].calls_min == pytest.approx(kept)
    passed = kept * ASSUMED["orchestrator_pass"]
    assert est["respond"].calls_min == pytest.approx(2 * passed)
    assert all(e.output_tokens <= e.output_tokens_max for e in est.values())
    # exact inputs and finished items replace the assumptions
    exact = {e.stage: e for e in estimate_stages(cfg, inputs={"validate": 7}, done={"validate": 3})}
    assert exact["validate"].calls_min == 2 * 4
    judged = {e.stage: e for e in estimate_stages(PipelineConfig(judge="llm:x"), n=10)}
    assert judged["validate"].calls_min == pytest.approx(2 * est["validate"].items / 10)
