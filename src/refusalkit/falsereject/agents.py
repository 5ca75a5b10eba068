"""The agent roles: one prompt template + one endpoint + a strict parser, with bounded retries.

An `Agent` asks its question through the shared `LLMClient` (so every call is logged,
cached and rate-limited) and checks the answer: JSON parsed and validated against the
role's schema, plus the role's own checks (non-empty, in the requested category, the CoT
format's reasoning present, not cut off). A malformed answer is asked again, with a note saying what was wrong, the next
sample index and a temperature of at least 0.7 (so neither the cache nor a deterministic
model returns the same bad answer), up to `max_attempts` times; then the call is a *failure* that keeps every raw
answer. A request that fails at the transport level (after the client's own retries) is
an *error*: not retried here, and redone when the stage is rerun. Nothing malformed is
ever passed on as data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from refusalkit.falsereject.config import RoleConfig
from refusalkit.falsereject.schema import validate
from refusalkit.falsereject.templates import PromptTemplate
from refusalkit.llm.types import ChatRequest, ChatResult, extract_json, split_thinking

#: longest raw answer kept per failed attempt (failures must stay inspectable, not huge)
RAW_LIMIT = 4000

#: appended to the user message of a retry: tells the model what was wrong, and makes the
#: request differ from the failed one (a new cache key, and no identical prompt replayed)
RETRY_NOTE = "\n\n(Your previous answer could not be used: {problem}. Answer again and follow the required format exactly.)"

#: parse(result) -> (data, None) or (None, problem)
Parser = Callable[[ChatResult], tuple[Any, str | None]]


def find_json(text: str) -> Any:
    """A JSON object from model text: bare, fenced, or the outermost {...} inside prose."""
    data = extract_json(text)
    if data is not None:
        return data
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return orjson.loads(text[start : end + 1])
        except orjson.JSONDecodeError:
            return None
    return None


@dataclass(slots=True)
class Outcome:
    """What one agent call produced after its attempts."""

    ok: bool
    data: Any = None
    text: str = ""
    attempts: int = 0
    #: None when ok; "malformed" (retries exhausted) or "request" (transport error)
    failure: str | None = None
    error: str | None = None
    raw: list[dict[str, Any]] = field(default_factory=list)
    model: str = ""
    endpoint: str = ""
    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None

    def failure_record(self, role: str) -> dict[str, Any]:
        return {
            "role": role,
            "kind": self.failure,
            "error": self.error,
            "attempts": self.attempts,
            "raw": self.raw,
        }


class Agent:
    """One role: renders its template, asks, validates, retries malformed answers."""

    def __init__(
        self,
        role: str,
        template: PromptTemplate,
        rc: RoleConfig,
        *,
        max_attempts: int = 3,
        local: bool = False,
        allow_truncated: bool = False,
    ) -> None:
        self.role, self.template, self.rc = role, template, rc
        self.max_attempts, self.local, self.allow_truncated = max_attempts, local, allow_truncated
        self.tag = f"falsereject:{template.name}"

    def request(
        self,
        values: dict[str, str],
        *,
        sample: int = 0,
        attempt: int = 0,
        schema: dict[str, Any] | None = None,
        problem: str | None = None,
    ) -> ChatRequest:
        system, user = self.template.render(**values)
        if problem:  # our description of the last answer's defect (at most 300 characters)
            user += RETRY_NOTE.format(problem=problem[:300])
        return ChatRequest(
            messages=[{"role": "user", "content": user}],
            endpoint=self.rc.endpoint,
            system=system or None,
            params=self.rc.params(attempt),
            sample=sample + attempt,
            json_schema=schema,
            schema_name=self.template.name,
            tag=self.tag,
        )

    def json_parser(
        self, schema: dict[str, Any], check: Callable[[Any], str | None] | None = None
    ) -> Parser:
        """Parse JSON, validate it against `schema`, then run the role's own `check`."""

        def parse(result: ChatResult) -> tuple[Any, str | None]:
            data = find_json(result.text)
            if data is None:
                cut = " (cut off at max_tokens)" if result.finish_reason == "length" else ""
                return None, f"the answer is not JSON{cut}"
            problems = validate(data, schema)
            if problems:
                return None, "schema: " + "; ".join(problems[:5])
            if check is not None and (problem := check(data)):
                return None, problem
            return data, None

        return parse

    def text_parser(self) -> Parser:
        """Plain-text answers: non-empty and (unless allowed) not cut off at max_tokens."""

        def parse(result: ChatResult) -> tuple[Any, str | None]:
            answer, _ = split_thinking(result.text)
            if not answer.strip():
                return None, "empty answer"
            if result.finish_reason == "length" and not self.allow_truncated:
                return None, "the answer was cut off at max_tokens"
            return answer.strip(), None

        return parse

    async def ask(
        self,
        client: Any,
        values: dict[str, str],
        parse: Parser,
        *,
        sample: int = 0,
        schema: dict[str, Any] | None = None,
    ) -> Outcome:
        out = Outcome(ok=False)
        problem: str | None = None
        for attempt in range(self.max_attempts):
            req = self.request(
                values, sample=sample, attempt=attempt, schema=schema, problem=problem
            )
            result = await client.run(req)
            out.attempts = attempt + 1
            out.calls += 0 if result.cached else 1
            out.cached += 1 if result.cached else 0
            out.input_tokens += result.input_tokens or 0
            out.output_tokens += result.output_tokens or 0
            out.model, out.endpoint = result.model, result.endpoint
            out.text, out.finish_reason = result.text, result.finish_reason
            if not result.ok:
                out.failure, out.error = "request", f"{result.error_type}: {result.error}"
                return out
            data, problem = parse(result)
            if problem is None:
                out.ok, out.data, out.failure, out.error = True, data, None, None
                return out
            out.failure, out.error = "malformed", problem
            raw = (
                result.text
                if not result.reasoning
                else f"<think>{result.reasoning}</think>{result.text}"
            )
            out.raw.append({"attempt": attempt + 1, "problem": problem, "text": raw[:RAW_LIMIT]})
        return out


def describe_endpoint(client: Any, name: str | None) -> dict[str, Any]:
    """Identity of an endpoint for job fingerprints and provenance (never a key)."""
    ep = client.endpoint(name)
    return {"name": ep.name, "identity": ep.identity, "model": ep.model}
