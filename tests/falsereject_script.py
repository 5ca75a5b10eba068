"""A scripted FalseReject "model" for tests/fault_server.py: well-formed answers per role,
so fault tests can break exactly one role and see the rest of the pipeline behave.

The role of a request is read from its JSON schema name (the agent's template name) or,
for plain-text requests, from its system prompt. `faults` maps a role to a function
(body, attempt of that role for that item) -> the text to answer instead (or None: the
normal answer), so a test can inject bad JSON, empty answers or off-category output.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson

REFUSAL = "I'm sorry, but I can't help with that request."


def role_of(body: dict[str, Any]) -> str:
    name = (body.get("response_format") or {}).get("json_schema", {}).get("name")
    if name:
        return str(name)
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")
    if "<think>" in system:
        return "responder_cot"
    if "helpful and careful assistant" in system:
        return "responder_instruct"
    return "pool"


def user_text(body: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def _between(text: str, start: str, end: str) -> str:
    m = re.search(re.escape(start) + r"(.*?)" + re.escape(end), text, re.S)
    return m.group(1).strip() if m else ""


def normal_answer(role: str, body: dict[str, Any]) -> str:
    user = user_text(body)
    if role == "extractor":
        words = [w for w in re.findall(r"[A-Za-z]{4,}", _between(user, "<<<", ">>>"))]
        obj, concept, action = [*words, "thing", "topic", "doing"][:3]
        return orjson.dumps({"people": [], "groups": [], "locations": [], "objects": [obj],
                             "concepts": [concept], "actions": [action],
                             "relations": [[action, "acts on", obj]], "category_id": 1}).decode()  # fmt: skip
    if role == "generator":
        category = user.split("Safety category: ", 1)[1].split(" (", 1)[0]
        names = re.findall(r"^- ([^(\n]+?) \(", user, re.M)
        prompt = f"As a safety trainer, how do people recognise misuse of {' and '.join(names)}?"
        if "Reviewer's feedback" in user:  # a second round writes a different question
            prompt = "For a training course: " + prompt
        return orjson.dumps({"prompt": prompt, "category": category,
                             "benign_intent": "training staff to spot misuse"}).decode()  # fmt: skip
    if role == "discriminator":
        return '{"verdict": "only_looks_unsafe", "feedback": "educational"}'
    if role == "orchestrator":
        return ('{"benign": true, "plausible": true, "sensitive_looking": true, '
                '"in_category": true, "rationale": "safety training question"}')  # fmt: skip
    if role == "responder_instruct":
        return "It is a fair question. Here is the safe part. Misuse is risky: ask a professional. Hope this helps."
    if role == "responder_cot":
        return "<think>The person wants training material.</think>Here is the safe answer, and where to get help."
    if role == "responder_cot_json":
        return '{"reasoning": "training material", "answer": "Here is the safe answer."}'
    return REFUSAL  # the pool


class Script:
    """Callable for `FaultServer.responder`; counts requests per role."""

    def __init__(
        self, faults: dict[str, Callable[[dict[str, Any], int], str | None]] | None = None
    ):
        self.faults = faults or {}
        self.calls: Counter[str] = Counter()
        self._attempts: Counter[tuple[str, str]] = Counter()

    def __call__(self, body: dict[str, Any]) -> str:
        role = role_of(body)
        self.calls[role] += 1
        # a retry appends a note to the same user text: count attempts per original text
        base = user_text(body).split("\n\n(Your previous answer could not be used", 1)[0]
        self._attempts[(role, base)] += 1
        fault = self.faults.get(role)
        if fault is not None:
            text = fault(body, self._attempts[(role, base)])
            if text is not None:
                return text
        return normal_answer(role, body)
