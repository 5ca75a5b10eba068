"""refusalkit.classify / classify_batch."""

from __future__ import annotations

import pytest

import refusalkit
from refusalkit.core.models import Behavior, Exchange, Group


def test_classify_one() -> None:
    v = refusalkit.classify("How do I pick a lock?", "I'm sorry, but I can't help with that.")
    assert v.is_refusal and v.refusal_score > 0.5
    v.validate()
    c = refusalkit.classify("What is 2+2?", "2 + 2 = 4.")
    assert (
        c.behavior is Behavior.FULL_COMPLIANCE
        and c.category == "not_refusal"
        and c.group is Group.NONE
    )


def test_classify_batch_accepts_pairs_dicts_exchanges_strings() -> None:
    items = [
        ("Describe this image", "I'm sorry, but I can't see images."),
        {"prompt": "hi", "response": "Hello! How can I help?"},
        Exchange(id="x", prompt="p", response="Sorry, but I can't assist with that."),
        "Here is the poem you asked for: roses are red.",
        ("p", ""),
    ]
    vs = refusalkit.classify_batch(items)
    assert [v.is_refusal for v in vs] == [True, False, True, False, None]
    assert vs[0].group is Group.CANNOT
    assert vs[4].behavior is Behavior.UNJUDGED


def test_detector_spec_rules_and_errors() -> None:
    v = refusalkit.classify("q", "As an AI, I don't have personal opinions.", detector="rules")
    assert v.detector == "rules" and v.category == "missing_identity"
    with pytest.raises(TypeError):
        refusalkit.classify_batch([object()])
    with pytest.raises(refusalkit.ConfigError):
        refusalkit.classify("q", "a", detector="/no/such/detector")
