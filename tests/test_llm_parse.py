"""Response normalisation, reasoning separation, retry timing and the rate limiter."""

from __future__ import annotations

import asyncio
import email.utils
import time
from typing import ClassVar

import orjson
import pytest

from refusalkit.llm.providers import classify_exception, from_anthropic, to_anthropic
from refusalkit.llm.ratelimit import RateLimiter, backoff, retry_after
from refusalkit.llm.types import LLMError, extract_json, parse_completion, parse_sse, split_thinking


@pytest.mark.parametrize(
    ("text", "answer", "reasoning"),
    [
        ("plain answer", "plain answer", None),
        ("<think>step 1</think>\n\nThe answer.", "The answer.", "step 1"),
        ("<thinking>a</thinking>x<think>b</think>y", "xy", "a\n\nb"),
        ("reasoning without opening tag</think>Answer", "Answer", "reasoning without opening tag"),
        ("<think>ran out of tokens while thinking", "", "ran out of tokens while thinking"),
        ("Use <b>bold</b> here", "Use <b>bold</b> here", None),
    ],
)
def test_split_thinking(text: str, answer: str, reasoning: str | None) -> None:
    assert split_thinking(text) == (answer, reasoning)


def test_parse_completion_fields() -> None:
    data = {
        "model": "m",
        "choices": [
            {
                "message": {
                    "content": "<think>hidden</think>Visible",
                    "reasoning_content": "rc",
                    "refusal": None,
                },
                "finish_reason": "length",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }
    c = parse_completion(data)
    assert (c.text, c.reasoning, c.finish_reason) == ("Visible", "rc\n\nhidden", "length")
    assert (c.input_tokens, c.output_tokens, c.reasoning_tokens, c.model) == (10, 5, 3, "m")


def test_parse_completion_refusal_and_parts() -> None:
    data = {
        "choices": [
            {
                "message": {
                    "content": [{"type": "refusal", "refusal": "I can't."}],
                    "reasoning": "r",
                },
                "finish_reason": "content_filter",
            }
        ]
    }
    c = parse_completion(data)
    assert (c.text, c.refusal, c.reasoning, c.finish_reason) == (
        "",
        "I can't.",
        "r",
        "content_filter",
    )
    c = parse_completion(
        {"choices": [{"message": {"content": None, "refusal": "No."}, "finish_reason": "stop"}]}
    )
    assert c.refusal == "No." and c.text == ""


@pytest.mark.parametrize(
    "body", [[], {"choices": []}, {"choices": ["x"]}, {"error": {"message": "upstream"}}]
)
def test_parse_completion_rejects_bad_bodies(body: object) -> None:
    with pytest.raises(LLMError) as info:
        parse_completion(body)
    assert info.value.retryable


def _sse(*chunks: dict, done: bool = True) -> bytes:
    out = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
    return out + (b"data: [DONE]\n\n" if done else b"")


def test_parse_sse_assembles_stream() -> None:
    body = _sse(
        {"model": "m", "choices": [{"delta": {"reasoning_content": "think "}}]},
        {"choices": [{"delta": {"content": "Hel"}}]},
        {"choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}},
    )
    c = parse_sse(body)
    assert (c.text, c.reasoning, c.finish_reason, c.input_tokens, c.output_tokens) == (
        "Hello",
        "think",
        "stop",
        3,
        2,
    )


def test_parse_sse_truncated() -> None:
    with pytest.raises(LLMError, match="stream ended") as info:
        parse_sse(_sse({"choices": [{"delta": {"content": "Hel"}}]}, done=False))
    assert info.value.kind == "truncated" and info.value.retryable


def test_extract_json() -> None:
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json(' {"a": [1, 2]} ') == {"a": [1, 2]}
    assert extract_json("not json") is None


def test_retry_after_forms() -> None:
    assert retry_after({"retry-after": "3"}) == 3.0
    assert retry_after({"retry-after-ms": "1500"}) == 1.5
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= retry_after({"retry-after": when}) <= 10.5
    assert retry_after({"retry-after": "99999"}) == 300.0  # capped
    assert retry_after({}) is None and retry_after({"retry-after": "soon"}) is None


def test_backoff_grows_and_honours_hint() -> None:
    delays = [backoff(a, base=1.0, cap=8.0) for a in range(1, 7)]
    assert all(
        0.5 * min(8, 2 ** (a - 1)) <= d <= min(8, 2 ** (a - 1))
        for a, d in zip(range(1, 7), delays, strict=True)
    )
    assert 5.0 <= backoff(1, base=0.01, hint=5.0) <= 6.0


def test_rate_limiter_spaces_requests() -> None:
    async def run() -> float:
        limiter = RateLimiter(rpm=600, burst_seconds=0.1)  # 10/s, bucket of one
        t0 = time.monotonic()
        for _ in range(6):
            await limiter.acquire()
        return time.monotonic() - t0

    assert asyncio.run(run()) >= 0.45


def test_rate_limiter_tokens_and_pause() -> None:
    async def run() -> float:
        limiter = RateLimiter(tpm=6000, burst_seconds=1.0)  # 100 tokens/s, bucket of 100
        t0 = time.monotonic()
        await limiter.acquire(100)
        await limiter.acquire(50)  # waits ~0.5 s for the refill
        limiter.settle(50, 0)  # the request used nothing: refund
        await limiter.acquire(50)  # immediately
        limiter.pause(0.3)
        await limiter.acquire(0)
        return time.monotonic() - t0

    assert 0.75 <= asyncio.run(run()) < 2.0


def test_classify_exception() -> None:
    class Resp:
        headers: ClassVar[dict[str, str]] = {"retry-after": "2"}

    class StatusError(Exception):
        def __init__(self, status: int) -> None:
            super().__init__(f"status {status}")
            self.status_code, self.response, self.message = status, Resp(), f"status {status}"

    class APIConnectionError(Exception):
        pass

    e = classify_exception(StatusError(429))
    assert (e.kind, e.retryable, e.retry_after) == ("rate_limit", True, 2.0)
    assert classify_exception(StatusError(503)).retryable
    assert classify_exception(StatusError(401)).kind == "auth"
    assert not classify_exception(StatusError(400)).retryable
    assert classify_exception(TimeoutError()).kind == "timeout"
    assert classify_exception(APIConnectionError("x")).kind == "connection"
    assert not classify_exception(ValueError("bug")).retryable


def test_anthropic_translation() -> None:
    body = {
        "model": "claude",
        "messages": [{"role": "system", "content": "Be terse."}, {"role": "user", "content": "Hi"}],
        "temperature": 0.2,
        "stop": "END",
        "seed": 3,
    }
    out = to_anthropic(body)
    assert out == {
        "model": "claude", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 1024,
        "system": "Be terse.", "temperature": 0.2, "stop_sequences": ["END"],
    }  # fmt: skip
    c = from_anthropic(
        {
            "model": "claude",
            "content": [{"type": "thinking", "thinking": "hmm"}, {"type": "text", "text": "No."}],
            "stop_reason": "refusal",
            "usage": {"input_tokens": 4, "output_tokens": 2},
        }
    )
    assert (c.text, c.reasoning, c.finish_reason, c.refusal, c.input_tokens) == (
        "No.",
        "hmm",
        "content_filter",
        "No.",
        4,
    )
