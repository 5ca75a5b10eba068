"""The bundled refusal taxonomy: ids, groups, content quality, loader API, round trips."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from refusalkit.core.models import Group
from refusalkit.taxonomy import (
    Category,
    Example,
    Taxonomy,
    load_any,
    load_falsereject_taxonomy,
    load_taxonomy,
)
from refusalkit.taxonomy.export import to_json, to_yaml

IDS = [
    "chain_of_command",
    "legal_compliance",
    "information_hazards",
    "intellectual_property",
    "privacy",
    "nsfw_content",
    "modalities",
    "skill_level",
    "knowledge_cutoff",
    "unknown_information",
    "training_data_limits",
    "missing_context",
    "missing_identity",
    "invalid_premise",
    "no_reason",
    "not_refusal",
]


@pytest.fixture(scope="module")
def tax() -> Taxonomy:
    return load_taxonomy()


def test_ids_order_and_groups(tax: Taxonomy) -> None:
    assert tax.ids == IDS
    assert len(tax) == 16 and tax.name == "refusal" and tax.version == "1.0"
    assert tax.ids_in_group("should_not") == IDS[:6]
    assert tax.ids_in_group(Group.CANNOT) == IDS[6:14]
    assert tax.ids_in_group(Group.NONE) == ["no_reason", "not_refusal"]
    assert tax.refusal_ids == IDS[:-1]
    for cid in IDS[:6]:
        assert tax.group_of(cid) is Group.SHOULD_NOT
    for cid in IDS[6:14]:
        assert tax.group_of(cid) is Group.CANNOT
    assert tax.group_of("no_reason") is Group.NONE
    assert tax.group_of("not_refusal") is Group.NONE
    assert tax.group_of(None) is Group.NONE
    assert tax["no_reason"].group == "other"


def test_lookup_api(tax: Taxonomy) -> None:
    privacy = tax["privacy"]
    assert isinstance(privacy, Category) and privacy.name == "Privacy"
    assert "privacy" in tax and "nope" not in tax
    assert tax.index("modalities") == 6
    assert tax.get("nope") is None
    assert [c.id for c in tax] == IDS
    with pytest.raises(KeyError, match=r"unknown category 'nope'.*chain_of_command"):
        tax["nope"]
    with pytest.raises(KeyError):
        tax.group_of("nope")


def test_every_category_is_complete(tax: Taxonomy) -> None:
    for c in tax:
        assert len(c.definition.split()) >= 40, c.id
        assert len(c.distinguish.split()) >= 30, c.id
        assert len(c.cues) >= 5, c.id
        assert len(c.examples) >= 5, c.id
        assert all(isinstance(e, Example) and e.instruction and e.response for e in c.examples)
        assert len({e.instruction for e in c.examples}) == len(c.examples), c.id
        named = set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", c.distinguish)) & set(IDS)
        named |= {w for w in re.findall(r"\b[a-z]+\b", c.distinguish) if w in IDS}
        assert named - {c.id}, f"{c.id}: distinguish names no neighbouring category"


def test_examples_vary_in_style_and_chain_of_command_has_systems(tax: Taxonomy) -> None:
    assert all(e.system for e in tax["chain_of_command"].examples)
    assert not any(e.system for c in tax if c.id != "chain_of_command" for e in c.examples)
    for c in tax:
        lengths = [len(e.response.split()) for e in c.examples]
        assert min(lengths) <= 15 and max(lengths) >= 25, f"{c.id}: responses all one length"
    instructions = [e.instruction for c in tax for e in c.examples]
    assert len(set(instructions)) == len(instructions)


def test_cues_are_short_phrases(tax: Taxonomy) -> None:
    for c in tax:
        for cue in c.cues:
            assert 1 <= len(cue.split()) <= 9 and cue == cue.strip(), (c.id, cue)


def test_fresh_objects_per_call() -> None:
    a = load_taxonomy()
    a.categories.pop()
    a["privacy"].examples.clear()
    b = load_taxonomy()
    assert len(b) == 16 and len(b["privacy"].examples) >= 5


def test_round_trip_yaml_json_and_dict(tax: Taxonomy, tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(to_yaml(tax), encoding="utf-8")
    (tmp_path / "t.json").write_text(to_json(tax), encoding="utf-8")
    for name in ("t.yaml", "t.json"):
        again = load_taxonomy(tmp_path / name)
        assert again == Taxonomy(**{**_fields(tax), "source": str(tmp_path / name)})
    assert load_taxonomy(tax.to_dict()).categories == tax.categories
    assert isinstance(load_any(tmp_path / "t.json"), Taxonomy)
    assert load_any("refusal").ids == IDS
    assert load_any("falsereject") == load_falsereject_taxonomy()


def _fields(tax: Taxonomy) -> dict:
    return {
        "name": tax.name,
        "version": tax.version,
        "categories": tax.categories,
        "description": tax.description,
        "reference": tax.reference,
        "groups": tax.groups,
    }


def test_minimal_user_taxonomy(tmp_path: Path) -> None:
    path = tmp_path / "mine.yml"
    path.write_text(
        "categories:\n"
        "  - id: too_spicy\n    name: Too spicy\n    group: should_not\n"
        "    definition: Declines recipes hotter than the kitchen allows.\n"
        "  - id: not_refusal\n    name: Not a refusal\n    group: none\n"
        "    definition: Answers.\n",
        encoding="utf-8",
    )
    tax = load_taxonomy(path)
    assert tax.name == "mine" and tax.version == "0"
    assert tax.ids == ["too_spicy", "not_refusal"] and tax.refusal_ids == ["too_spicy"]
    assert tax["not_refusal"].group == "other" and tax.group_of("too_spicy") is Group.SHOULD_NOT
    assert tax["too_spicy"].examples == [] and tax["too_spicy"].cues == []
    assert tax.source == str(path)
