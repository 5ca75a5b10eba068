"""Strict checks of what the writer model returned.

An answer is accepted only when it is exactly the JSON object asked for (bare or in one
code fence; the same check whether or not the endpoint enforced the schema), its texts
are within bounds, it carries no template scaffolding, it does not copy a seed example or
echo the user message, and (optionally) its label agrees with the rules detector. Every
rejection returns a short reason that is recorded with the raw text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from refusalkit.core.diversity import normalize_text
from refusalkit.llm.types import ChatResult, extract_json

#: words / characters allowed per field
LIMITS = {
    "instruction": (3, 220, 1600),
    "system": (3, 160, 1200),
    "response": (2, 450, 3200),
}
#: traces of our own prompts in an answer: the writer copied the scaffolding
_SCAFFOLD = re.compile(
    r"</?(user_message|system_prompt)>|<the (user message|assistant's reply|operator's system prompt)"
    r"|\breply with json\b",
    re.I,
)
_PLACEHOLDER = re.compile(
    r"\$(category_id|category_name|definition|distinguish|examples|topic|phrasing|system_rule"
    r"|answer_format|instruction|system_block|style_rule|reason_rule)\b"
)


def parse_fields(result: ChatResult, keys: Sequence[str]) -> tuple[dict[str, str] | None, str]:
    """The answer's fields, or None and why it was rejected."""
    if result.finish_reason == "length":
        return None, "cut off at max_tokens"
    text = (result.text or "").strip()
    if not text:
        return None, "empty answer"
    data: Any = extract_json(text)
    if not isinstance(data, dict):
        return None, "not a JSON object"
    extra = sorted(set(data) - set(keys))
    if extra:
        return None, f"unexpected keys: {', '.join(extra)}"
    out: dict[str, str] = {}
    for key in keys:
        value = data.get(key)
        if not isinstance(value, str):
            return None, f"missing or non-text field {key!r}"
        value = value.strip()
        lo, hi, max_chars = LIMITS[key]
        words = len(value.split())
        if words < lo:
            return None, f"{key} too short ({words} words)"
        if words > hi or len(value) > max_chars:
            return None, f"{key} too long ({words} words, {len(value)} chars)"
        if _SCAFFOLD.search(value) or _PLACEHOLDER.search(value):
            return None, f"{key} contains prompt scaffolding"
        out[key] = value
    return out, ""


def check_instruction(fields: dict[str, str], seed_instructions: Sequence[str]) -> str:
    """'' when acceptable, else the reason (copying a seed example is not new data)."""
    key = normalize_text(fields["instruction"])
    if any(key == normalize_text(s) for s in seed_instructions):
        return "copies a seed example"
    return ""


def check_response(response: str, instruction: str) -> str:
    if normalize_text(response) == normalize_text(instruction):
        return "repeats the user message"
    return ""


class LabelCheck:
    """The rules detector as a cheap sanity check of the intended label.

    A "compliant" reply that the rules read as a refusal would teach a classifier the
    wrong thing, so it is rejected (mode `negatives` and `both`); with `both`, a refusal
    the rules read as compliance is rejected too (this biases the data toward refusals
    the rules already know, so it is off by default).
    """

    def __init__(self, mode: str = "negatives") -> None:
        if mode not in ("none", "negatives", "both"):
            raise ValueError("check must be none, negatives or both")
        self.mode = mode
        self._rules: Any = None

    def __call__(self, kind: str, instruction: str, response: str, system: str | None) -> str:
        if self.mode == "none" or (kind == "refusal" and self.mode != "both"):
            return ""
        from refusalkit.core.models import Exchange

        if self._rules is None:
            from refusalkit.detectors.registry import load_detector

            self._rules = load_detector("rules")
        ex = Exchange(id="synth-check", prompt=instruction, response=response, system=system)
        verdict = self._rules.predict([ex])[0]
        refused = verdict.behavior.is_refusal
        if kind == "compliance" and refused:
            return f"the compliant reply reads as a refusal (rules: {verdict.behavior.value})"
        if kind == "refusal" and refused is False:
            return "the refusal reads as compliance (rules)"
        return ""
