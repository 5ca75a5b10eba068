"""The FalseReject (SORRY-Bench) taxonomy and the id/name pairs of the shared sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refusalkit.taxonomy import FalseRejectCategory, load_falsereject_taxonomy

# SORRY-Bench's 45 classes as used by FalseReject, plus 46 = Others.
NAMES = [
    "Personal Insulting Words", "Social-group Insulting Words", "Threatening Words",
    "Lewd and Obscene Words", "Libelous Words", "Self-Harm", "Violent Crimes",
    "Stalking and Harassment", "Sexual Crimes", "Property Crimes", "Public Order Crimes",
    "Impersonation", "General Advice for System Intrusion", "Malware Code Generation",
    "Fraud, Scams, and Deception", "Financial Crimes", "Intellectual Property Infringement",
    "Personal Identifiable Information", "Illegal Crafting, Manufacturing, and Distribution",
    "Terrorism", "Child-related Crimes", "Animal-related Crimes", "Environmental Crimes",
    "Evasion of Law Enforcement", "Human Elimination & World Domination",
    "Advice on Adult Content", "(Sexual) Explicit Content Generation",
    "(Non-sexual) Explicit Content Generation", "Fake News Generation", "False Advertising",
    "Advice on Discrimination Behaviors", "Military Use", "Political Belief Promotion",
    "Ethical Belief Promotion", "Religion Promotion (Missionary)",
    "Social Stereotype Promotion", "Extremist Content Promotion",
    "Conspiracy Theories Promotion", "False Common Knowledge Promotion",
    "Harmful & Unhealthy Behaviors Promotion", "Medical Advice", "Financial Advice",
    "Legal Consulting Advice", "Governance Decision Advice",
    "Dangerous Machinery Operation Advice", "Others",
]  # fmt: skip


@pytest.fixture(scope="module")
def fr():  # type: ignore[no-untyped-def]
    return load_falsereject_taxonomy()


def test_ids_names_and_domains(fr) -> None:  # type: ignore[no-untyped-def]
    assert fr.ids == list(range(1, 47))
    assert fr.names == NAMES
    ranges = {
        "hate_speech": range(1, 6),
        "crimes_and_torts": range(6, 26),
        "inappropriate_topics": range(26, 41),
        "unqualified_advice": range(41, 46),
        "other": range(46, 47),
    }
    assert [d.id for d in fr.domains] == list(ranges)
    for domain, ids in ranges.items():
        assert [c.id for c in fr.in_domain(domain)] == list(ids)
    assert all(c.description and len(c.description) < 140 for c in fr)
    assert fr.domain_name("unqualified_advice") == "Unqualified advice"


def test_shared_sample_pairs_resolve(fixtures: Path, fr) -> None:  # type: ignore[no-untyped-def]
    rows = [
        json.loads(line)
        for line in (fixtures / "taxonomy" / "falsereject_category_pairs.jsonl").open()
    ]
    assert len(rows) == 141
    for row in rows:
        by_id = fr.by_id(row["category_id"])
        assert isinstance(by_id, FalseRejectCategory)
        assert by_id.name == row["category"], row
        assert fr.by_name(row["category"]) is by_id
        assert fr.resolve(str(row["category_id"])) is by_id
    assert {r["category_id"] for r in rows} == {1, 2, 4, 10, 22, 23, 29, 38, 39}


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("property crimes", 10),
        ("PROPERTY CRIMES", 10),
        ("Human Elimination and World Domination", 25),
        ("Harmful and Unhealthy Behaviors Promotion", 40),
        ("Fraud, Scams and Deception", 15),
        ("fraud scams & deception", 15),
        ("Self Harm", 6),
        ("Social group insulting words", 2),
        ("Sexual Explicit Content Generation", 27),
        ("Non-sexual Explicit Content Generation", 28),
        ("Religion Promotion", 35),
        ("Harassment", 8),
        ("IP Infringement", 17),
        ("Illegal Crafting/Manufacturing/Distribution", 19),
        ("Personal Identifiable Information Violations", 18),
        ("Other", 46),
        ("  Others ", 46),
    ],
)
def test_tolerant_name_lookup(fr, variant: str, expected: int) -> None:  # type: ignore[no-untyped-def]
    assert fr.by_name(variant).id == expected
    assert variant in fr


def test_unknown_lookups(fr) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(KeyError, match="did you mean 'Property Crimes'"):
        fr.by_name("Propert Crime")
    with pytest.raises(KeyError, match="ids run 1-46"):
        fr.by_id(47)
    with pytest.raises(KeyError):
        fr.by_id("ten")
    assert 0 not in fr and "Cooking" not in fr
    assert fr.resolve(10) is fr.resolve("Property Crimes")
