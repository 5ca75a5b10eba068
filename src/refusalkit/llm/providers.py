"""Provider adapters: send one request body, return a normalised `Completion` or raise
a classified `LLMError`. Retries, limits and logging live in the client, not here.

- `OpenAIProvider`: any OpenAI-compatible server through the official `openai` SDK
  (`AsyncOpenAI(max_retries=0)`), using its generic `post()` with a raw response so no
  per-request pydantic model is built, over `transport.FastTransport` by default.
- `AnthropicProvider`: Anthropic's Messages API through the optional `anthropic` SDK,
  imported only when such an endpoint is used.
"""

from __future__ import annotations

from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.llm.config import Endpoint
from refusalkit.llm.ratelimit import retry_after
from refusalkit.llm.types import Completion, LLMError, parse_completion, parse_sse

_MAX_ERROR = 600
_JSON_HEADERS = {"Content-Type": "application/json"}
_SCHEMA_WORDS = ("response_format", "json_schema", "structured output", "grammar")


def redact(text: str, secrets: list[str]) -> str:
    """Remove secrets from text before it is stored or shown (belt and braces)."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def classify_exception(exc: BaseException) -> LLMError:
    """Turn an SDK or transport exception into a retryable-or-not `LLMError`."""
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, TimeoutError):
        return LLMError("request timed out", kind="timeout", retryable=True)
    status = getattr(exc, "status_code", None)
    name = type(exc).__name__
    if isinstance(status, int):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        message = str(getattr(exc, "message", None) or exc)[:_MAX_ERROR]
        after = retry_after(headers)
        if status == 429:
            return LLMError(
                f"HTTP 429 rate limited: {message}",
                kind="rate_limit",
                retryable=True,
                status=status,
                retry_after=after,
            )
        if status >= 500 or status in (408, 409, 425):
            return LLMError(
                f"HTTP {status}: {message}",
                kind="server",
                retryable=True,
                status=status,
                retry_after=after,
            )
        kind = "auth" if status in (401, 403) else "client"
        return LLMError(f"HTTP {status}: {message}", kind=kind, retryable=False, status=status)
    if "Timeout" in name:
        return LLMError("request timed out", kind="timeout", retryable=True)
    if "Connection" in name or "Protocol" in name or isinstance(exc, OSError):
        cause = exc.__cause__ or exc.__context__
        detail = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return LLMError(
            f"connection error: {detail}"[:_MAX_ERROR], kind="connection", retryable=True
        )
    return LLMError(f"{name}: {exc}"[:_MAX_ERROR], kind="internal", retryable=False)


def schema_rejected(err: LLMError) -> bool:
    """A 400/422 that complains about structured output (the server does not support it)."""
    text = str(err).lower()
    return err.status in (400, 422, 501) and any(w in text for w in _SCHEMA_WORDS)


class OpenAIProvider:
    def __init__(self, endpoint: Endpoint, base_url: str, api_key: str | None) -> None:
        import openai

        from refusalkit.llm.transport import http_module, make_transport, proxies_configured

        self._hx = http_module()
        self._errors = (openai.APIError, self._hx.HTTPError)
        fast = endpoint.transport == "fast" and not proxies_configured()
        http_client = self._hx.AsyncClient(
            transport=make_transport() if fast else None,
            timeout=endpoint.timeout,
            limits=self._hx.Limits(
                max_connections=None, max_keepalive_connections=max(20, endpoint.max_concurrency)
            ),
        )
        # A server without auth still gets a placeholder: the SDK insists on some key.
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "no-key", base_url=base_url, max_retries=0,
            timeout=endpoint.timeout, http_client=http_client,
        )  # fmt: skip

    async def complete(self, body: dict[str, Any], *, timeout: float) -> Completion:
        import orjson

        try:
            # raw bytes: the SDK sends them as is (no deep copy, no second JSON encoding)
            resp = await self.client.post(
                "/chat/completions",
                content=orjson.dumps(body),
                cast_to=self._hx.Response,
                options={"timeout": timeout, "headers": _JSON_HEADERS},
            )
        except self._errors as exc:
            raise classify_exception(exc) from exc
        content = resp.content
        if body.get("stream"):
            return parse_sse(content)
        try:
            data = orjson.loads(content)
        except orjson.JSONDecodeError as exc:
            snippet = content[:80].decode(errors="replace")
            raise LLMError(
                f"malformed JSON in response: {snippet!r}", kind="malformed", retryable=True
            ) from exc
        return parse_completion(data)

    async def aclose(self) -> None:
        await self.client.close()


# ------------------------------------------------------------------------ anthropic
_STOP = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "refusal": "content_filter",
    "tool_use": "tool_calls",
}


def to_anthropic(body: dict[str, Any]) -> dict[str, Any]:
    """Map an OpenAI-style request body onto Messages API arguments."""
    system = "\n\n".join(m["content"] for m in body["messages"] if m["role"] == "system")
    messages = [m for m in body["messages"] if m["role"] != "system"]
    out: dict[str, Any] = {
        "model": body["model"], "messages": messages,
        "max_tokens": body.get("max_tokens") or body.get("max_completion_tokens") or 1024,
    }  # fmt: skip
    if system:
        out["system"] = system
    for key in ("temperature", "top_p", "top_k", "thinking", "metadata"):
        if body.get(key) is not None:
            out[key] = body[key]
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
    return out


def from_anthropic(data: dict[str, Any]) -> Completion:
    """Normalise a Messages API response: text blocks are the answer, thinking blocks the
    reasoning; `stop_reason == "refusal"` becomes finish_reason `content_filter`."""
    texts, thoughts = [], []
    for block in data.get("content") or ():
        if block.get("type") == "text":
            texts.append(block.get("text") or "")
        elif block.get("type") == "thinking":
            thoughts.append(block.get("thinking") or "")
    usage = data.get("usage") or {}
    stop = data.get("stop_reason")
    comp = Completion(
        text="".join(texts), reasoning="\n\n".join(thoughts) or None,
        finish_reason=_STOP.get(stop, stop), model=data.get("model"),
        input_tokens=usage.get("input_tokens"), output_tokens=usage.get("output_tokens"),
    )  # fmt: skip
    if stop == "refusal":
        comp.refusal = comp.text or "refused by the provider"
    return comp


class AnthropicProvider:
    def __init__(self, endpoint: Endpoint, api_key: str | None) -> None:
        try:
            import anthropic
        except ImportError as exc:
            raise ConfigError(
                f"endpoint {endpoint.name!r} uses provider 'anthropic', but the anthropic SDK is not installed",
                hint="pip install 'refusalkit[anthropic]'",
            ) from exc
        self._errors = (anthropic.APIError,)
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key,
            base_url=endpoint.base_url or None,
            max_retries=0,
            timeout=endpoint.timeout,
        )

    async def complete(self, body: dict[str, Any], *, timeout: float) -> Completion:
        try:
            msg = await self.client.messages.create(**to_anthropic(body), timeout=timeout)
        except self._errors as exc:
            raise classify_exception(exc) from exc
        return from_anthropic(msg.model_dump())

    async def aclose(self) -> None:
        await self.client.close()


def make_provider(endpoint: Endpoint, base_url: str | None) -> OpenAIProvider | AnthropicProvider:
    api_key = endpoint.api_key()
    if endpoint.provider == "anthropic":
        return AnthropicProvider(endpoint, api_key)
    if not base_url:
        raise ConfigError(
            f"endpoint {endpoint.name!r} has no base_url", hint="set base_url in refusalkit.toml"
        )
    return OpenAIProvider(endpoint, base_url, api_key)
