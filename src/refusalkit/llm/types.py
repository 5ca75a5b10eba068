"""The client's records: what a caller asks (`ChatRequest`) and what it gets (`ChatResult`).

A `ChatResult` is returned for *every* request: either a response (`ok`) or a recorded
error (`error`, `error_type`). Callers never have to catch API exceptions per request,
and nothing is silently missing from a batch.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: error_type values, from the least to the most "the request itself is wrong"
ERROR_TYPES = (
    "rate_limit", "server", "timeout", "connection", "malformed", "truncated",
    "client", "auth", "config", "cancelled", "internal",
)  # fmt: skip


@dataclass(slots=True)
class ChatRequest:
    """One chat completion to run (one sample of it).

    `system` replaces any system message already in `messages`. `params` are merged over
    the endpoint's defaults (temperature, max_tokens, top_p, seed, stop, ...). `sample`
    tells repeated samples of the same prompt apart (it is part of the cache key).
    `json_schema` asks for structured output where the endpoint supports it (the result
    says whether it was used). `meta` is the caller's own data, carried to the result,
    never sent, hashed or stored.
    """

    messages: Sequence[Mapping[str, str]]
    endpoint: str | None = None
    system: str | None = None
    params: Mapping[str, Any] | None = None
    sample: int = 0
    json_schema: Mapping[str, Any] | None = None
    schema_name: str = "answer"
    tag: str | None = None
    cache: bool = True
    meta: Any = None

    @classmethod
    def from_prompt(cls, prompt: str, **kw: Any) -> ChatRequest:
        return cls(messages=[{"role": "user", "content": prompt}], **kw)

    def final_messages(self) -> list[dict[str, str]]:
        msgs = [{"role": m["role"], "content": m["content"]} for m in self.messages]
        if self.system is not None:
            msgs = [m for m in msgs if m["role"] != "system"]
            msgs.insert(0, {"role": "system", "content": self.system})
        return msgs


@dataclass(slots=True)
class Completion:
    """What a provider answered, normalised across providers."""

    text: str = ""
    reasoning: str | None = None
    refusal: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    model: str | None = None


@dataclass(slots=True)
class ChatResult:
    """The outcome of one request: a response, or an error recorded with its reason."""

    request: ChatRequest
    key: str
    endpoint: str
    model: str
    text: str = ""
    reasoning: str | None = None
    refusal: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost: float | None = None
    latency: float | None = None
    attempts: int = 0
    cached: bool = False
    structured: bool = False
    error: str | None = None
    error_type: str | None = None
    status_code: int | None = None
    created_at: float = field(default_factory=time.time)
    #: position of the request in the `chat_many` input (-1 for `chat`)
    index: int = -1

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def meta(self) -> Any:
        return self.request.meta

    def json(self) -> Any:
        """The answer parsed as JSON (code fences tolerated), or None if it is not JSON."""
        return extract_json(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key, "endpoint": self.endpoint, "model": self.model,
            "response": self.text, "reasoning": self.reasoning, "refusal": self.refusal,
            "finish_reason": self.finish_reason,
            "usage": {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                      "reasoning_tokens": self.reasoning_tokens},
            "cost": self.cost, "latency": self.latency, "attempts": self.attempts,
            "cached": self.cached, "structured": self.structured, "error": self.error,
            "error_type": self.error_type, "status_code": self.status_code,
            "created_at": self.created_at, "sample": self.request.sample, "tag": self.request.tag,
        }  # fmt: skip


class LLMError(Exception):
    """A failed attempt, classified so the client knows whether to retry."""

    def __init__(
        self,
        message: str,
        *,
        kind: str,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.kind, self.retryable, self.status, self.retry_after = (
            kind,
            retryable,
            status,
            retry_after,
        )


# ---------------------------------------------------------------------- text helpers
_THINK_RE = re.compile(r"<(think|thinking|reasoning)>(.*?)</\1>", re.S | re.I)
_OPEN_RE = re.compile(r"<(think|thinking|reasoning)>", re.I)
_CLOSE_RE = re.compile(r"</(think|thinking|reasoning)>", re.I)


def split_thinking(text: str) -> tuple[str, str | None]:
    """Separate `<think>...</think>` reasoning from the answer.

    Handles several blocks, a missing opening tag (templates that pre-fill `<think>`, so
    the output starts with reasoning and only closes it) and a missing closing tag (the
    model ran out of tokens while thinking: all of it is reasoning, the answer is empty).
    """
    if "<" not in text:
        return text, None
    parts = [m.group(2).strip() for m in _THINK_RE.finditer(text)]
    rest = _THINK_RE.sub("", text)
    close = _CLOSE_RE.search(rest)
    if close and not _OPEN_RE.search(rest[: close.start()]):
        parts.insert(0, rest[: close.start()].strip())
        rest = rest[close.end() :]
    opened = _OPEN_RE.search(rest)
    if opened:
        parts.append(rest[opened.end() :].strip())
        rest = rest[: opened.start()]
    if not parts:
        return text, None
    return rest.strip(), "\n\n".join(p for p in parts if p) or None


def extract_json(text: str) -> Any:
    """Parse a JSON value from model output: bare, or inside a ```json fence."""
    import orjson

    s = text.strip()
    if s.startswith("```"):
        s = s.split("\n", 1)[1] if "\n" in s else ""
        s = s.rsplit("```", 1)[0]
    try:
        return orjson.loads(s)
    except orjson.JSONDecodeError:
        return None


def _content_text(content: Any) -> tuple[str, str | None]:
    """Message content may be a string or a list of typed parts (text / refusal)."""
    if content is None:
        return "", None
    if isinstance(content, str):
        return content, None
    texts, refusals = [], []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                if part.get("type") == "refusal":
                    refusals.append(str(part.get("refusal") or ""))
                elif isinstance(part.get("text"), str):
                    texts.append(part["text"])
    return "".join(texts), ("".join(refusals) or None)


def _usage(comp: Completion, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    comp.input_tokens = usage.get("prompt_tokens", usage.get("input_tokens"))
    comp.output_tokens = usage.get("completion_tokens", usage.get("output_tokens"))
    details = usage.get("completion_tokens_details") or {}
    if isinstance(details, dict):
        comp.reasoning_tokens = details.get("reasoning_tokens")


def _reasoning_field(obj: dict[str, Any]) -> str | None:
    value = obj.get("reasoning_content")
    if value is None:
        value = obj.get("reasoning")
    if isinstance(value, dict):  # some routers nest it
        value = value.get("content") or value.get("text")
    return value if isinstance(value, str) and value else None


def _finish(comp: Completion, text: str, reasoning: str | None) -> Completion:
    answer, thought = split_thinking(text)
    comp.text = answer
    joined = "\n\n".join(p.strip() for p in (reasoning, thought) if p and p.strip())
    comp.reasoning = joined or None
    return comp


def parse_completion(data: Any) -> Completion:
    """Normalise an OpenAI-style `chat.completion` body."""
    if not isinstance(data, dict):
        raise LLMError("response body is not a JSON object", kind="malformed", retryable=True)
    if "error" in data and not data.get("choices"):
        err = data["error"]
        msg = err.get("message") if isinstance(err, dict) else str(err)
        raise LLMError(f"provider error in a 200 response: {msg}", kind="server", retryable=True)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise LLMError("response has no choices", kind="malformed", retryable=True)
    choice = choices[0]
    message = choice.get("message") or {}
    if not isinstance(message, dict):
        raise LLMError("choice has no message object", kind="malformed", retryable=True)
    text, part_refusal = _content_text(message.get("content"))
    comp = Completion(finish_reason=choice.get("finish_reason"), model=data.get("model"))
    comp.refusal = message.get("refusal") or part_refusal
    _usage(comp, data.get("usage"))
    return _finish(comp, text, _reasoning_field(message))


def parse_sse(body: bytes) -> Completion:
    """Assemble a streamed (`text/event-stream`) completion read to its end.

    A stream that ends without a finish_reason and without `[DONE]` was cut off.
    """
    import orjson

    comp = Completion()
    texts: list[str] = []
    thoughts: list[str] = []
    refusals: list[str] = []
    done = False
    for line in body.splitlines():
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            done = True
            break
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise LLMError(
                f"malformed stream chunk: {payload[:80]!r}", kind="malformed", retryable=True
            ) from exc
        if not isinstance(chunk, dict):
            continue
        if "error" in chunk:
            raise LLMError(
                f"provider error in stream: {chunk['error']}", kind="server", retryable=True
            )
        comp.model = chunk.get("model") or comp.model
        if chunk.get("usage"):
            _usage(comp, chunk["usage"])
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                texts.append(delta["content"])
            if (r := _reasoning_field(delta)) is not None:
                thoughts.append(r)
            if isinstance(delta.get("refusal"), str):
                refusals.append(delta["refusal"])
            if choice.get("finish_reason"):
                comp.finish_reason = choice["finish_reason"]
    if comp.finish_reason is None and not done:
        raise LLMError(
            "stream ended before the response was complete", kind="truncated", retryable=True
        )
    comp.refusal = "".join(refusals) or None
    return _finish(comp, "".join(texts), "".join(thoughts) or None)
