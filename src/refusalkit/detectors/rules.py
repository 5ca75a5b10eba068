"""Rules: an anchored, sentence-aware refusal phrase detector (transparent baseline).

Why anchored and sentence-aware: "I can't" anywhere in a text is a poor signal (LIMA's
StackExchange answers say "I can't reproduce your bug"); "I can't" *opening the first
sentence* is a strong one. The detector looks at the first three sentences (where
refusals open) and the last two (where a "however, I can't ..." hedge lands), and
maps the wording of the refusal to a taxonomy category ("I can't see images" ->
modalities, "as of my knowledge cutoff" -> knowledge_cutoff, ...). Every verdict says
which phrase fired (`rationale`), so it doubles as an explainable pre-filter.

It is a baseline, not the default: see docs/classifier.md for measured accuracy.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from refusalkit.core.models import Behavior, Exchange, Group, Verdict
from refusalkit.detectors._taxo import NO_REASON, NOT_REFUSAL, group_of
from refusalkit.detectors.base import Detector

_SENT = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")

#: Openers that, at the start of one of the first sentences, mean "I refuse / I can't".
OPENERS = re.compile(
    r"^\W*(?:(?:i'?m|i am) (?:so |really |very |truly )?sorry|sorry\b|i apologi[sz]e|"
    r"apologies|unfortunately,? (?:i|as an ai)|i'?m afraid|as an ai\b|as a language model|"
    r"as an artificial intelligence|i'?m (?:just )?an ai|i am (?:just )?an ai|"
    r"i (?:cannot|can ?not|can'?t|won'?t|will not|must decline|must respectfully decline|"
    r"do not|don'?t) (?:help|assist|provide|fulfil|comply|create|write|generate|engage|"
    r"support|share|give|offer|answer|do that|browse|access|see|view|open|listen|predict|"
    r"have (?:access|the ability|personal|real-time|feelings|opinions|information)|"
    r"recommend|suggest|encourage|condone|promote|disclose|reveal)|"
    r"i'?m (?:not able|unable|not allowed|not permitted|not programmed)|"
    r"i am (?:not able|unable|not allowed|not permitted|not programmed)|"
    r"(?:it is|it'?s|that is|that'?s) not (?:\w+ (?:or|and) )?(?:appropriate|ethical|accurate|fair|"
    r"respectful|acceptable|okay|ok|possible for me|within my)|"
    r"no,? i (?:cannot|can'?t|won'?t|do not think|don'?t think)|i (?:don'?t|do not) think (?:it'?s|it is) "
    r"(?:appropriate|ethical|accurate|fair)|i can'?t (?:satisfy|fulfill|fulfil)|there is no (?:way|definitive answer)|i'?m not (?:sure|aware)|"
    r"could you (?:please )?(?:clarify|provide more)|can you (?:please )?(?:clarify|provide more))",
    re.I,
)

#: A refusal phrase anywhere in a sentence (used for the last sentences and hedges).
ANYWHERE = re.compile(
    r"\b(?:i (?:cannot|can'?t|won'?t|will not) (?:help|assist|provide|fulfil|comply)|"
    r"i'?m (?:unable|not able) to (?:help|assist|provide)|against my (?:programming|guidelines)|"
    r"not within my (?:programming|ethical guidelines))",
    re.I,
)

#: Bridges after which a partial refusal goes on to help anyway.
BRIDGE = re.compile(
    r"\b(?:however|that said|but here|here are|here is|here's|instead, here|"
    r"that being said|nonetheless|in general,)\b",
    re.I,
)

#: (category, cue) pairs, tried in order on the refusal sentences; first hit wins.
CUES: list[tuple[str, re.Pattern[str]]] = [
    (c, re.compile(p, re.I))
    for c, p in [
        (
            "chain_of_command",
            r"\b(?:system prompt|my instructions|operator|instructed|"
            r"configured to|only (?:help|answer|assist) with questions about|not permitted to discuss)",
        ),
        (
            "knowledge_cutoff",
            r"\b(?:real[- ]time|knowledge cut-?off|as of my (?:last|knowledge)|"
            r"up-to-date information|latest (?:news|information)|current events|training data only goes|"
            r"after (?:my|the) cutoff|live data)",
        ),
        (
            "modalities",
            r"\b(?:see|view|look at|process|open|read) (?:images|pictures|photos|"
            r"the (?:image|photo|picture|file|attachment|video|link))|\b(?:browse|access) the "
            r"(?:internet|web)|\blisten to|\baudio\b|\bphysical(?:ly)?\b|text-based|"
            r"(?:make|place) (?:phone )?calls|send (?:emails|messages)|generate images|draw",
        ),
        (
            "missing_identity",
            r"\b(?:personal (?:opinions?|experiences?|preferences?|feelings|"
            r"beliefs|life)|(?:have|experience) (?:feelings|emotions|a body)|don'?t have (?:opinions|"
            r"preferences|a favorite))",
        ),
        (
            "missing_context",
            r"\b(?:clarify|more (?:details|context|information about what)|"
            r"not (?:clear|sure) what you(?:'re| are) (?:referring|asking)|didn'?t (?:include|attach|"
            r"provide)|which .{1,30} (?:you(?:'re| are) referring|do you mean))",
        ),
        (
            "invalid_premise",
            r"\b(?:false (?:premise|assumption|presupposition)|misconception|"
            r"mistaken (?:assumption|belief)|(?:premise|assumption) (?:of|in) (?:your|the) question|"
            r"never (?:happened|fought|existed|won)|is not (?:true|accurate|correct))",
        ),
        (
            "unknown_information",
            r"\b(?:predict|no one (?:can|knows)|nobody knows|unknowable|"
            r"impossible to (?:know|determine)|no definitive answer|future events|remains unknown)",
        ),
        (
            "skill_level",
            r"\b(?:too (?:long|large|complex)|beyond (?:my|the) (?:capabilit|"
            r"abilit|scope)|in a single response|exceeds|not feasible)",
        ),
        (
            "training_data_limits",
            r"\b(?:(?:don'?t|do not) have (?:any )?(?:information|data|"
            r"details) (?:about|on)|not (?:familiar|aware) (?:with|of)|no (?:information|record)|"
            r"not (?:publicly )?(?:available|documented))",
        ),
        (
            "privacy",
            r"\b(?:privacy|private|personal (?:information|data|details)|home address|"
            r"phone number|confidential)",
        ),
        (
            "intellectual_property",
            r"\b(?:copyright|copyrighted|intellectual property|piracy|"
            r"pirat|lyrics)",
        ),
        (
            "nsfw_content",
            r"\b(?:explicit|sexual|adult content|pornograph|offensive|hateful|"
            r"hate speech|discriminat|racist|sexist|stereotyp|slur|derogatory|demean)",
        ),
        (
            "legal_compliance",
            r"\b(?:illegal|unlawful|against the law|law enforcement|"
            r"laws and regulations|criminal|fraud)",
        ),
        (
            "information_hazards",
            r"\b(?:harm|harmful|dangerous|weapon|violence|violent|kill|"
            r"unsafe|misinformation|self-harm|poison)",
        ),
    ]
]


#: Cheap substring pre-check: OPENERS/ANYWHERE cannot match unless one of these occurs.
_KEYWORDS = (
    "sorry",
    "apolog",
    "unfortunately",
    "afraid",
    " an ai",
    "language model",
    "artificial intelligence",
    "cannot",
    "can not",
    "can't",
    "cant ",
    "won't",
    "wont ",
    "will not",
    "decline",
    "i do not",
    "i don't",
    "i dont ",
    "not able",
    "unable",
    "not allowed",
    "not permitted",
    "not programmed",
    "not appropriate",
    "not ethical",
    "not possible",
    "not within",
    "there is no",
    "not sure",
    "not aware",
    "clarify",
    "provide more",
    "against my",
    "im an ai",
    "i'm an ai",
)


def _maybe_refusal(text: str) -> bool:
    low = (text[:600] + " " + text[-400:]).lower() if len(text) > 1000 else text.lower()
    return any(k in low for k in _KEYWORDS)


def _sentences(text: str, first: int = 3, last: int = 2) -> tuple[list[str], list[str]]:
    text = text.replace("’", "'")
    head = text[:600]
    firsts = [s.strip() for s in _SENT.findall(head) if s.strip()][:first]
    tail = text[-400:] if len(text) > 600 else ""
    lasts = [s.strip() for s in _SENT.findall(tail) if s.strip()][-last:] if tail else []
    return firsts, lasts


def rule_features(text: str) -> list[float]:
    """Phrase hits used as features by the learned model (see dense.RULE_NAMES):
    opener in the first sentence, opener in the first three, refusal in the closing
    sentences, a bridge followed by substantial text, then one flag per category cue."""
    firsts, lasts = _sentences(text)
    open_first = bool(firsts) and bool(OPENERS.search(firsts[0]))
    open_any = open_first or any(OPENERS.search(s) for s in firsts[1:])
    close = any(ANYWHERE.search(s) for s in lasts)
    if not (open_any or close):  # the common case: no refusal phrase, skip the rest
        return _NO_HIT
    m = BRIDGE.search(text, 0, 1500)
    bridge = bool(m) and len(text) - m.end() >= 200
    scope = " ".join(firsts)
    cues = [1.0 if pat.search(scope) else 0.0 for _, pat in CUES]
    return [float(open_first), float(open_any), float(close), float(bridge), *cues]


_NO_HIT = [0.0] * (4 + len(CUES))


class RulesDetector(Detector):
    """Phrase rules (see module docstring). No training; `min_partial_chars` tunes partial."""

    kind = "rules"
    version = "1"

    def __init__(self, min_partial_chars: int = 400) -> None:
        self.min_partial_chars = int(min_partial_chars)

    def config(self) -> dict[str, int]:
        return {"min_partial_chars": self.min_partial_chars}

    def predict(self, exchanges: Sequence[Exchange]) -> list[Verdict]:
        return [self._one(e.response or "") for e in exchanges]

    def _one(self, text: str) -> Verdict:
        if not text.strip():
            return Verdict.unjudged(
                "empty response", detector=self.name, detector_version=self.version
            )
        firsts, lasts = _sentences(text) if _maybe_refusal(text.replace("’", "'")) else ([], [])
        hit_sentence = None
        where = ""
        for s in firsts:
            if OPENERS.search(s):
                hit_sentence, where = s, "opening"
                break
        if hit_sentence is None:
            for s in lasts:
                if ANYWHERE.search(s):
                    hit_sentence, where = s, "closing"
                    break
        if hit_sentence is None:
            return Verdict(
                behavior=Behavior.FULL_COMPLIANCE,
                refusal_score=0.0,
                category=NOT_REFUSAL,
                category_scores={NOT_REFUSAL: 1.0},
                group=Group.NONE,
                detector=self.name,
                detector_version=self.version,
                rationale="no refusal phrase",
            )
        category = NO_REASON
        scope = " ".join(firsts) if where == "opening" else " ".join(lasts)
        for cat, pat in CUES:
            if pat.search(scope):
                category = cat
                break
        behavior = Behavior.FULL_REFUSAL
        if where == "closing":
            behavior = Behavior.PARTIAL_REFUSAL
        elif len(text) >= self.min_partial_chars:
            m = BRIDGE.search(text, 0, 1500)
            if m and len(text) - m.end() >= self.min_partial_chars // 2:
                behavior = Behavior.PARTIAL_REFUSAL
        score = 0.75 if behavior is Behavior.PARTIAL_REFUSAL else 0.95
        return Verdict(
            behavior=behavior,
            refusal_score=score,
            category=category,
            category_scores={category: score, NOT_REFUSAL: round(1 - score, 4)},
            group=group_of(category),
            detector=self.name,
            detector_version=self.version,
            rationale=f"{where} sentence: {hit_sentence[:160]!r}",
        )
