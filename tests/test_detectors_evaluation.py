"""Evaluation metrics and label parsing."""

from __future__ import annotations

import pytest

from refusalkit.core.errors import DataError
from refusalkit.core.models import Behavior, Exchange, Group, Verdict
from refusalkit.detectors.evaluation import Gold, reference_verdicts, score
from refusalkit.detectors.labels import parse_behavior, parse_category, resolve_coconot


def _v(beh: str, cat: str | None = None) -> Verdict:
    b = Behavior(beh)
    if b is Behavior.UNJUDGED:
        return Verdict.unjudged("x", detector="t")
    return Verdict(
        behavior=b,
        category=cat or ("not_refusal" if beh == "full_compliance" else "no_reason"),
        detector="t",
    )


def test_parse_behavior_spellings() -> None:
    assert parse_behavior("1_full_compliance") == "full_compliance"
    assert parse_behavior("3_partial_refusal") == "partial_refusal"
    assert parse_behavior("Safe Partial Compliance") == "partial_refusal"
    assert parse_behavior("Direct Refusal") == "full_refusal"
    assert parse_behavior(True) == "refusal" and parse_behavior(0) == "full_compliance"
    assert parse_behavior("") is None
    assert parse_behavior("yes!", label_map={"yes!": "full_refusal"}) == "full_refusal"
    with pytest.raises(DataError) as e:
        parse_behavior("maybe")
    assert "--label-map" in str(e.value)


def test_parse_category_and_coconot_map() -> None:
    from refusalkit.detectors.labels import COCONOT_SUBCATEGORIES

    known = {"privacy", "modalities", "missing_identity", "unknown_information"}
    assert parse_category("privacy", known) == frozenset({"privacy"})
    assert parse_category(
        "subjective questions", known, category_map=COCONOT_SUBCATEGORIES
    ) == frozenset({"missing_identity", "unknown_information"})
    assert (
        resolve_coconot("subjective questions", "As an AI, I don't have personal opinions")
        == "missing_identity"
    )
    with pytest.raises(DataError):
        parse_category("nonsense", known)


def test_score_tasks_unjudged_excluded_and_ambiguous_gold() -> None:
    gold = [
        Gold("full_compliance"),
        Gold("full_refusal", frozenset({"privacy"})),
        Gold("partial_refusal"),
        Gold("refusal", frozenset({"missing_identity", "unknown_information"})),
        Gold("full_refusal", frozenset({"modalities"})),
    ]
    pred = [
        _v("full_compliance"),
        _v("full_refusal", "privacy"),
        _v("full_refusal"),
        _v("full_refusal", "unknown_information"),
        _v("unjudged"),
    ]
    s = score(gold, pred, n_boot=50)
    assert s["behavior3"]["n"] == 3 and s["behavior3"]["unjudged"] == 1
    assert s["behavior3"]["accuracy"] == pytest.approx(2 / 3)
    assert s["binary"]["n"] == 4 and s["binary"]["accuracy"] == 1.0
    assert s["category"]["n"] == 2 and s["category"]["accuracy"] == 1.0  # either id accepted
    assert s["group"]["accuracy"] == 1.0
    assert len(s["behavior3"]["accuracy_ci"]) == 2
    assert s["behavior3"]["confusion"] and "kappa" in s["binary"]


def test_reference_column_as_detector() -> None:
    ex = [
        Exchange(id="1", prompt="", response="x", metadata={"gpt4_label": "2_full_refusal"}),
        Exchange(id="2", prompt="", response="y", metadata={"gpt4_label": ""}),
    ]
    vs = reference_verdicts(ex, "gpt4_label")
    assert vs[0].behavior is Behavior.FULL_REFUSAL and vs[0].group is Group.NONE
    assert vs[1].behavior is Behavior.UNJUDGED


def test_category_if_refusal_scores_the_head_on_missed_refusals() -> None:
    """A refusal scored below the threshold is wrong for the strict tasks, but its best
    refusal category still counts for the *_if_refusal tasks; without category scores a
    missed refusal has no category and stays wrong."""
    gold = [
        Gold("refusal", frozenset({"privacy"})),
        Gold("refusal", frozenset({"modalities"})),
        Gold("refusal", frozenset({"modalities"})),
        Gold("full_refusal", frozenset({"legal_compliance"})),
    ]

    def missed(r: float, privacy: float) -> Verdict:  # called compliant, privacy ranked first
        scores = {"not_refusal": 1 - r, "privacy": privacy, "modalities": r - privacy}
        return Verdict(
            behavior=Behavior.FULL_COMPLIANCE,
            refusal_score=r,
            category="not_refusal",
            category_scores=scores,
            detector="t",
        )

    pred = [
        missed(0.2, 0.15),  # privacy: right
        missed(0.1, 0.06),  # privacy for a modalities refusal: wrong category and group
        _v("full_compliance"),  # no scores: no category, wrong
        _v("full_refusal", "legal_compliance"),
    ]
    s = score(gold, pred, n_boot=0)
    assert s["category"]["accuracy"] == pytest.approx(1 / 4)
    assert s["group"]["accuracy"] == pytest.approx(1 / 4)
    assert s["category_if_refusal"]["accuracy"] == pytest.approx(2 / 4)
    # privacy (should_not) for a modalities (cannot) refusal: wrong group too
    assert s["group_if_refusal"]["accuracy"] == pytest.approx(2 / 4)
    assert "not_refusal" in s["category_if_refusal"]["labels"]  # the scoreless miss
