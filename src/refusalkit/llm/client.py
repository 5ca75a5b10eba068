"""One async client for every endpoint: limits, retries, cache and log in one place.

    async with LLMClient() as client:                       # default endpoint + log
        r = await client.chat("Hello", endpoint="gpt", max_tokens=64)
        async for r in client.chat_many(requests):           # completion order
            ...
        results = await client.chat_all(requests)            # input order

Every request ends as a `ChatResult`: a response, or an error recorded with its type
(rate_limit, server, timeout, connection, malformed, truncated, client, auth, ...).
Configuration mistakes (unknown endpoint, missing API key) raise `ConfigError` before
anything is sent. Results are logged the moment they arrive, so Ctrl-C loses nothing
that finished and a rerun reads them back from the log instead of paying twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from refusalkit.core.errors import RefusalkitError
from refusalkit.llm.config import Config, Endpoint, load_config, resolve_endpoint
from refusalkit.llm.log import ResponseLog, make_key
from refusalkit.llm.providers import classify_exception, redact, schema_rejected
from refusalkit.llm.ratelimit import backoff, estimate_tokens
from refusalkit.llm.runtime import EndpointRuntime, run_sync  # noqa: F401 (re-export)
from refusalkit.llm.types import ChatRequest, ChatResult, LLMError

_RESERVED = frozenset(("model", "messages", "stream", "stream_options", "n", "response_format"))
_CHUNK = 256


@dataclass(slots=True)
class ClientStats:
    """Counters for summaries: what was called, replayed, retried, failed and spent."""

    calls: int = 0
    cached: int = 0
    errors: int = 0
    retries: int = 0
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0


@dataclass(slots=True)
class _Prepared:
    request: ChatRequest
    index: int
    runtime: EndpointRuntime
    messages: list[dict[str, str]]
    params: dict[str, Any]
    key_params: dict[str, Any]
    key: str


class LLMClient:
    """Async chat client over any number of named endpoints, with a shared response log.

    `endpoints`: Endpoint objects or names to pre-load (others are resolved by name on
    first use); `default`: the endpoint for requests that name none (else the first of
    `endpoints`, else the configured default, else the local model). `log`: a
    `ResponseLog`, a path, None for the default log, or False for no log and no cache.
    `cache=False` forces calls but still logs them (`--no-cache`).
    """

    def __init__(
        self,
        endpoints: Endpoint | str | Sequence[Endpoint | str] | None = None,
        *,
        default: Endpoint | str | None = None,
        log: ResponseLog | str | Path | bool | None = None,
        cache: bool = True,
        config: Config | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self._runtimes: dict[str, EndpointRuntime] = {}
        if isinstance(endpoints, Endpoint | str):
            endpoints = [endpoints]
        for ep in endpoints or ():
            self._add(resolve_endpoint(ep, self.config))
        if isinstance(default, Endpoint):
            default = self._add(default).endpoint.name
        self.default = ""
        self.default = self._runtime(default or next(iter(self._runtimes), None)).endpoint.name
        self._owns_log = not isinstance(log, ResponseLog)
        if log is False:
            self.log: ResponseLog | None = None
        elif isinstance(log, ResponseLog):
            self.log = log
        else:
            self.log = ResponseLog(None if log in (None, True) else Path(log))  # type: ignore[arg-type]
        self.cache = cache and self.log is not None
        self.stats = ClientStats()
        self._inflight: dict[str, asyncio.Future[ChatResult]] = {}

    # ------------------------------------------------------------ endpoints
    def _add(self, endpoint: Endpoint) -> EndpointRuntime:
        rt = self._runtimes.get(endpoint.name)
        if rt is None or rt.endpoint != endpoint:
            rt = self._runtimes[endpoint.name] = EndpointRuntime(endpoint)
        return rt

    def _runtime(self, name: str | None) -> EndpointRuntime:
        name = name or self.default or None
        rt = self._runtimes.get(name)
        return rt if rt is not None else self._add(resolve_endpoint(name, self.config))

    def endpoint(self, name: str | Endpoint | None = None) -> Endpoint:
        """The endpoint a name resolves to; an `Endpoint` object is registered as given."""
        if isinstance(name, Endpoint):
            return self._add(name).endpoint
        return self._runtime(name).endpoint

    # ------------------------------------------------------------ lifecycle
    async def __aenter__(self) -> LLMClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close connections and commit the log (what finished is never lost)."""
        try:
            for rt in self._runtimes.values():
                if rt.provider is not None:
                    provider, rt.provider = rt.provider, None
                    await provider.aclose()
        finally:
            if self.log is not None:
                if self._owns_log:
                    self.log.close()
                else:
                    self.log.flush()

    # ------------------------------------------------------------ preparing
    def prepare(self, request: ChatRequest, index: int = -1) -> _Prepared:
        rt = self._runtime(request.endpoint)
        ep = rt.endpoint
        messages = request.final_messages()
        if ep.system and not any(m["role"] == "system" for m in messages):
            messages.insert(0, {"role": "system", "content": ep.system})
        params = {**ep.params, **request.params} if request.params else dict(ep.params)
        if not _RESERVED.isdisjoint(params):
            for name in _RESERVED:
                params.pop(name, None)
        key_params = params
        if request.json_schema is not None:
            key_params = {
                **params,
                "json_schema": {"name": request.schema_name, "schema": request.json_schema},
            }
        key = make_key(ep.name, rt.identity, ep.model, messages, key_params, request.sample)
        return _Prepared(request, index, rt, messages, params, key_params, key)

    def _from_cache(self, prep: _Prepared, row: tuple) -> ChatResult:
        # row is in log.CACHE_COLUMNS order (positional: this is the 20k/s replay path)
        (
            _,
            created,
            resp_model,
            text,
            reasoning,
            refusal,
            finish,
            tin,
            tout,
            treason,
            cost,
            lat,
            att,
            st,
        ) = row
        ep = prep.runtime.endpoint
        self.stats.cached += 1
        return ChatResult(
            request=prep.request, key=prep.key, endpoint=ep.name, model=ep.model or resp_model or "",
            text=text or "", reasoning=reasoning, refusal=refusal, finish_reason=finish,
            input_tokens=tin, output_tokens=tout, reasoning_tokens=treason, cost=cost, latency=lat,
            attempts=att or 0, cached=True, structured=bool(st), created_at=created, index=prep.index,
        )  # fmt: skip

    def _lookup(self, preps: Sequence[_Prepared]) -> dict[str, tuple]:
        if not self.cache or self.log is None:
            return {}
        keys = [p.key for p in preps if p.request.cache]
        return self.log.lookup(keys) if keys else {}

    # ------------------------------------------------------------ running
    async def chat(
        self,
        messages: str | Sequence[dict[str, str]],
        *,
        endpoint: str | None = None,
        system: str | None = None,
        sample: int = 0,
        json_schema: dict[str, Any] | None = None,
        tag: str | None = None,
        cache: bool = True,
        **params: Any,
    ) -> ChatResult:
        """One request; keyword arguments beyond these are request parameters."""
        if isinstance(messages, str):
            messages = [{"role": "user", "content": messages}]
        req = ChatRequest(
            messages=messages, endpoint=endpoint, system=system, params=params, sample=sample,
            json_schema=json_schema, tag=tag, cache=cache,
        )  # fmt: skip
        return await self.run(req)

    async def run(self, request: ChatRequest, index: int = -1) -> ChatResult:
        prep = self.prepare(request, index)
        row = self._lookup([prep]).get(prep.key)
        return self._from_cache(prep, row) if row is not None else await self._execute(prep)

    async def chat_many(
        self, requests: Iterable[ChatRequest], *, window: int | None = None
    ) -> AsyncIterator[ChatResult]:
        """Run many requests concurrently; yield each result as it completes.

        Cached results are looked up in bulk and yielded first; at most `window` requests
        are in flight or queued (default: 4x the endpoints' concurrency, at least 64), so
        an iterator of a million requests does not become a million tasks.
        """
        it = enumerate(requests)
        tasks: set[asyncio.Task[ChatResult]] = set()
        done: asyncio.Queue[asyncio.Task[ChatResult]] = asyncio.Queue()
        exhausted = False
        try:
            while True:
                limit = window or max(
                    64, 4 * sum(rt.endpoint.max_concurrency for rt in self._runtimes.values())
                )
                while not exhausted and len(tasks) < limit:
                    chunk = list(islice(it, _CHUNK))
                    if not chunk:
                        exhausted = True
                        break
                    preps = [self.prepare(req, i) for i, req in chunk]
                    hits = self._lookup(preps)
                    for prep in preps:
                        row = hits.get(prep.key) if prep.request.cache else None
                        if row is not None:
                            yield self._from_cache(prep, row)
                        else:
                            task = asyncio.ensure_future(self._execute(prep))
                            task.add_done_callback(done.put_nowait)
                            tasks.add(task)
                if not tasks:
                    if exhausted:
                        return
                    continue
                task = await done.get()
                tasks.discard(task)
                yield task.result()
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def chat_all(self, requests: Iterable[ChatRequest], **kw: Any) -> list[ChatResult]:
        """Like `chat_many`, but return every result in input order."""
        out = [r async for r in self.chat_many(requests, **kw)]
        out.sort(key=lambda r: r.index)
        return out

    async def _execute(self, prep: _Prepared) -> ChatResult:
        if not (self.cache and prep.request.cache):
            return await self._call(prep)
        fut = self._inflight.get(prep.key)
        if fut is not None:  # the same request is already running: share its answer
            try:
                first = await asyncio.shield(fut)
                self.stats.cached += 1
                return replace(first, request=prep.request, index=prep.index, cached=first.ok)
            except _Abandoned:
                pass  # its caller went away (cancelled): run it ourselves
        fut = self._inflight[prep.key] = asyncio.get_running_loop().create_future()
        try:
            result = await self._call(prep)
        except BaseException:
            self._inflight.pop(prep.key, None)
            fut.set_exception(_Abandoned())
            fut.exception()  # mark retrieved: nobody may be waiting
            raise
        self._inflight.pop(prep.key, None)
        fut.set_result(result)
        return result

    async def _call(self, prep: _Prepared) -> ChatResult:
        rt, req = prep.runtime, prep.request
        ep = rt.endpoint
        started, wall = time.monotonic(), time.time()
        attempts, err, comp = 0, None, None
        estimate = estimate_tokens(prep.messages, prep.params.get("max_tokens"))
        body: dict[str, Any] | None = None
        structured = False
        while True:
            attempts += 1
            try:
                provider = await rt.open()
                if body is None:
                    body, structured = rt.body(prep.messages, prep.params, req)
                async with rt.sem:
                    await rt.limiter.acquire(estimate)
                    async with asyncio.timeout(ep.timeout):
                        comp = await provider.complete(body, timeout=ep.timeout)
                if comp.input_tokens is not None:
                    rt.limiter.settle(
                        estimate, (comp.input_tokens or 0) + (comp.output_tokens or 0)
                    )
                err = None
                break
            except asyncio.CancelledError:
                raise
            except RefusalkitError:
                raise  # configuration problems stop the run instead of failing every row
            except Exception as exc:
                err = classify_exception(exc)
            if (
                structured
                and body is not None
                and schema_rejected(err)
                and ep.structured_output == "auto"
            ):
                rt.schema_ok, structured = False, False
                body.pop("response_format", None)
                attempts -= 1
                continue
            if err.kind == "rate_limit":
                rt.limiter.pause(
                    err.retry_after
                    if err.retry_after is not None
                    else backoff(attempts, base=ep.backoff_base, cap=ep.backoff_max)
                )
            if not err.retryable or attempts > ep.max_retries:
                break
            self.stats.retries += 1
            await asyncio.sleep(
                backoff(attempts, base=ep.backoff_base, cap=ep.backoff_max, hint=err.retry_after)
            )
        latency = time.monotonic() - started
        result = ChatResult(
            request=req, key=prep.key, endpoint=ep.name, model=rt.model or ep.model,
            latency=latency, attempts=attempts, structured=structured, created_at=wall, index=prep.index,
        )  # fmt: skip
        self.stats.calls += 1
        if err is not None or comp is None:
            err = err or LLMError("no response", kind="internal", retryable=False)
            result.error = redact(str(err), rt.secrets)
            result.error_type, result.status_code = err.kind, err.status
            self.stats.errors += 1
        else:
            result.text, result.reasoning, result.refusal = comp.text, comp.reasoning, comp.refusal
            result.finish_reason = comp.finish_reason
            result.input_tokens, result.output_tokens = comp.input_tokens, comp.output_tokens
            result.reasoning_tokens = comp.reasoning_tokens
            result.cost = ep.cost(comp.input_tokens, comp.output_tokens)
            self.stats.cost += result.cost or 0.0
            self.stats.input_tokens += comp.input_tokens or 0
            self.stats.output_tokens += comp.output_tokens or 0
        if self.log is not None:
            self.log.put(_record(prep, result, comp.model if comp else None))
        return result


class _Abandoned(Exception):
    """Set on an in-flight future whose owner was cancelled."""


def _record(prep: _Prepared, r: ChatResult, response_model: str | None) -> dict[str, Any]:
    ep = prep.runtime.endpoint
    system = None
    msgs = prep.messages
    if msgs and msgs[0]["role"] == "system":
        system, msgs = msgs[0]["content"], msgs[1:]
    return {
        "key": r.key, "created_at": r.created_at, "endpoint": ep.name, "provider": ep.provider,
        "base_url": ep.identity, "model": r.model, "response_model": response_model,
        "tag": prep.request.tag, "sample": prep.request.sample, "system": system,
        "messages": orjson.dumps(msgs).decode(), "params": orjson.dumps(prep.key_params).decode(),
        "response": r.text if r.ok else None, "reasoning": r.reasoning, "refusal": r.refusal,
        "finish_reason": r.finish_reason, "input_tokens": r.input_tokens,
        "output_tokens": r.output_tokens, "reasoning_tokens": r.reasoning_tokens, "cost": r.cost,
        "latency": r.latency, "attempts": r.attempts, "structured": int(r.structured),
        "error": r.error, "error_type": r.error_type, "status_code": r.status_code,
    }  # fmt: skip
