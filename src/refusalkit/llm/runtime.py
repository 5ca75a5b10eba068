"""Per-endpoint runtime state of a client: slots, limiter, and the provider, opened lazily.

Opening is lazy so that a run answered entirely from the response log never starts the
local model or needs the network.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import orjson

from refusalkit.llm.config import Endpoint
from refusalkit.llm.providers import make_provider
from refusalkit.llm.ratelimit import RateLimiter
from refusalkit.llm.types import ChatRequest

T = TypeVar("T")


class EndpointRuntime:
    """Per-endpoint state: concurrency slots, limiter, and the lazily opened provider."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.identity = endpoint.identity  # cache-key part, computed once (hot path)
        self.secrets = [k for k in (endpoint.api_key(),) if k]  # raises if the key is missing
        self.sem = asyncio.Semaphore(endpoint.max_concurrency)
        self.limiter = RateLimiter(endpoint.rpm, endpoint.tpm)
        self.provider: Any = None
        #: False once the server rejected `response_format` (then judges parse text)
        self.schema_ok = endpoint.supports_json_schema
        #: model name sent in requests (discovered when the endpoint names none)
        self.model = endpoint.model
        self.base_url: str | None = endpoint.base_url
        self._lock = asyncio.Lock()

    def body(
        self, messages: list[dict[str, str]], params: dict[str, Any], request: ChatRequest
    ) -> tuple[dict[str, Any], bool]:
        """The request body to send, and whether it asks for structured (JSON schema) output."""
        body: dict[str, Any] = {"model": self.model, "messages": messages, **params}
        structured = request.json_schema is not None and self.schema_ok
        if structured:
            schema = {"name": request.schema_name, "schema": request.json_schema, "strict": True}
            body["response_format"] = {"type": "json_schema", "json_schema": schema}
        if self.endpoint.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return body, structured

    async def open(self) -> Any:
        if self.provider is not None:
            return self.provider
        async with self._lock:
            if self.provider is None:
                ep = self.endpoint
                base_url = ep.base_url
                if ep.is_local and not base_url:
                    from refusalkit.llm.local import shared_base_url

                    base_url = await asyncio.to_thread(
                        shared_base_url,
                        ep.model_path or "",
                        n_ctx=ep.n_ctx,
                        n_parallel=ep.n_parallel,
                        threads=ep.threads,
                    )
                provider = make_provider(ep, base_url)
                self.base_url = base_url
                if not self.model:
                    self.model = await _discover_model(provider)
                self.provider = provider
        return self.provider


async def _discover_model(provider: Any) -> str:
    """First model a server lists (for REFUSALKIT_BASE_URL without REFUSALKIT_MODEL)."""
    try:
        resp = await provider.client.get("/models", cast_to=provider._hx.Response)
        data = orjson.loads(resp.content).get("data") or []
        return str(data[0]["id"]) if data else "default"
    except Exception:  # servers that ignore the model name accept any
        return "default"


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from synchronous code, also when an event loop is already running
    in this thread (Jupyter): then it runs in a helper thread with its own loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()
