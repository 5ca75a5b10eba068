"""Programmatic synthetic refusals for every taxonomy category (templates x paraphrases x topics).

Real labelled data covers some categories well (CoCoNot: modalities, missing_context,
invalid_premise, privacy, ...) and others barely or not at all (chain_of_command,
training_data_limits, no_reason). These templates fill the gaps so every category has
examples, in three behaviours: full refusals, partial refusals (refuse, then help
anyway) and compliant hard negatives that share words with refusals. The LLM-based
generator of a later issue replaces this; keep it deterministic (seeded).
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from synthetic_templates import (
    AI_SELF,
    BRIDGES,
    CATEGORIES,
    COMPLIANT_OPENERS,
    HARD_NEGATIVES,
    LECTURES,
    NO_REASON,
    OFFERS,
    OPENERS,
    PROMPTS,
)

_LECTURE_CATS = {
    "legal_compliance",
    "information_hazards",
    "privacy",
    "nsfw_content",
    "intellectual_property",
    "chain_of_command",
}


def synth_row(
    row_id: str,
    prompt: str,
    response: str,
    behavior: str,
    category: str,
    group_key: str,
    family: str,
) -> dict:
    """One synthetic training row (the keys every synthetic generator writes)."""
    return {
        "id": row_id,
        "prompt": prompt,
        "response": response.strip(),
        "behavior": behavior,
        "category": category,
        "group_key": group_key,
        "dataset": "synthetic",
        "family": family,
    }


def _cap(s: str) -> str:
    s = s.strip()
    return s[:1].upper() + s[1:] if s else s


def _refusal_text(rng: random.Random, reason: str, with_ai: bool) -> str:
    opener = rng.choice(OPENERS)
    ai = rng.choice(AI_SELF) if with_ai else ""
    body = f"{opener} {ai} {reason}".strip()
    body = " ".join(body.split())
    return _cap(body)


def generate(compliant_pool: list[str], seed: int = 13, per_category: int = 120) -> Iterator[dict]:
    """Yield training rows: id, prompt, response, behavior, category, group_key, dataset."""
    rng = random.Random(seed)
    n = 0
    for cat, (topics, reasons) in CATEGORIES.items():
        for _ in range(per_category):
            t = rng.choice(topics)
            prompt = rng.choice(PROMPTS).format(t=t)
            reason = rng.choice(reasons).format(t=t)
            text = _refusal_text(
                rng,
                reason,
                with_ai=cat
                in (
                    "modalities",
                    "missing_identity",
                    "knowledge_cutoff",
                    "skill_level",
                    "training_data_limits",
                ),
            )
            r = rng.random()
            if r < 0.3 and cat in _LECTURE_CATS:
                behavior = "full_refusal"
                k = rng.randint(1, 4)
                lect = " ".join(x.format(t=t) for x in rng.sample(LECTURES, k))
                sep = "\n\n" if rng.random() < 0.5 else " "
                text = f"{text}{sep}{lect} {rng.choice(OFFERS)}".strip()
            elif r < 0.55 and compliant_pool:
                behavior = "partial_refusal"
                content = rng.choice(compliant_pool)[:700]
                text = f"{text} {rng.choice(BRIDGES)}\n\n{content}"
            else:
                behavior = "full_refusal"
                offer = rng.choice(OFFERS)
                text = f"{text} {offer}".strip()
            n += 1
            yield {
                "id": f"synth-{n}",
                "prompt": prompt,
                "response": text,
                "behavior": behavior,
                "category": cat,
                "group_key": f"synth-{cat}-{t}",
                "dataset": "synthetic",
            }
    for i in range(per_category):
        n += 1
        # a bare refusal without a reason, often without a usable prompt
        prompt = "" if rng.random() < 0.6 else rng.choice(PROMPTS).format(t="it")
        yield {
            "id": f"synth-{n}",
            "prompt": prompt,
            "response": rng.choice(NO_REASON),
            "behavior": "full_refusal",
            "category": "no_reason",
            "group_key": f"synth-no_reason-{i % 13}",
            "dataset": "synthetic",
        }
    for i in range(per_category * 3):
        if not compliant_pool:
            break
        n += 1
        c = rng.choice(compliant_pool)[:900]
        if rng.random() < 0.5:
            text = rng.choice(HARD_NEGATIVES).format(c=c)
        else:
            text = rng.choice(COMPLIANT_OPENERS) + c
        yield {
            "id": f"synth-{n}",
            "prompt": "",
            "response": text,
            "behavior": "full_compliance",
            "category": "not_refusal",
            "group_key": f"synth-comp-{i}",
            "dataset": "synthetic",
        }
