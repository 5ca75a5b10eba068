from __future__ import annotations

import pytest

from refusalkit import Behavior, Exchange, Group, Message, Source, Verdict


def test_exchange_messages_include_system_and_context() -> None:
    ex = Exchange(
        id="a",
        prompt="and now?",
        response="No.",
        context=(Message("user", "hi"), Message("assistant", "hello")),
        system="be brief",
    )
    assert ex.messages() == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "and now?"},
    ]
    assert ex.turn_count == 2


def test_exchange_round_trip() -> None:
    ex = Exchange(
        id="x1",
        prompt="p",
        response="r",
        context=(Message("user", "u"),),
        source=Source(file="f.jsonl", row=3, line=4, turn=1, side="chosen"),
        metadata={"k": 1},
    )
    assert Exchange.from_dict(ex.to_dict()) == ex


def test_verdict_unjudged_is_neither_refusal_nor_compliance() -> None:
    v = Verdict.unjudged("api error: 500", detector="llm-taxonomy")
    assert v.behavior is Behavior.UNJUDGED
    assert v.is_refusal is None
    v.validate()
    assert Verdict.from_dict(v.to_dict()) == v


@pytest.mark.parametrize(
    "kwargs",
    [
        {"behavior": Behavior.UNJUDGED},  # no reason
        {"behavior": Behavior.FULL_REFUSAL, "refusal_score": 1.5},
        {"behavior": Behavior.FULL_COMPLIANCE, "category": "privacy"},
        {"behavior": Behavior.FULL_REFUSAL, "unjudged_reason": "x"},
    ],
)
def test_verdict_invariants_are_enforced(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        Verdict(**kwargs).validate()


def test_verdict_round_trip_keeps_group() -> None:
    v = Verdict(
        behavior=Behavior.FULL_REFUSAL,
        refusal_score=0.97,
        category="privacy",
        category_scores={"privacy": 0.9, "legal_compliance": 0.1},
        group=Group.SHOULD_NOT,
        detector="rules",
        detector_version="1",
    ).validate()
    assert Verdict.from_dict(v.to_dict()) == v
    assert v.is_refusal is True


def test_source_describe_points_at_the_row() -> None:
    assert (
        Source(file="d.jsonl", line=12, row=11, turn=2).describe()
        == "d.jsonl line 12 (row 11) turn 2"
    )
