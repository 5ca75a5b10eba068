"""`refusalkit generate`: run prompts through a model and write one row per response.

The output is JSONL with `prompt` and `response` (readable back by the readers as the
`prompt_response` shape, so `classify` chains on it) plus the request's metadata: id,
index, sample, reasoning, finish_reason, refusal, usage, cost, endpoint, model, cached,
error. A failed request is a row with `error` set and an empty response (classify makes
it unjudged); it is counted in the summary, never dropped.

Resuming. Each row carries the request's cache `key`. On a rerun with the same output,
rows whose key belongs to this job and has no error are kept and not redone; everything
else runs (answers already in the response log cost nothing). Rows with errors that a
later row supersedes are removed when the run ends. An output written by a different
job (other endpoint, parameters or prompts) is refused unless `overwrite=True`.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from refusalkit.core.errors import ConfigError
from refusalkit.core.io import JsonlWriter, dumps, iter_jsonl, truncate_partial_last_line
from refusalkit.core.models import Exchange
from refusalkit.core.progress import progress
from refusalkit.llm.client import LLMClient
from refusalkit.llm.types import ChatRequest, ChatResult


@dataclass(slots=True)
class GenerateSummary:
    output: str
    endpoint: str
    model: str
    exchanges: int = 0
    rows: int = 0  # exchanges x samples
    kept: int = 0  # already done in the output before this run
    completed: int = 0  # rows written with a response in this run
    cached: int = 0  # ... of which replayed from the response log
    errors: int = 0  # rows written with an error in this run
    error_types: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_prompts(path: str | Path, **reader_kw: Any) -> list[Exchange]:
    """Prompts from any dataset file the readers support (`read_exchanges` keywords:
    shape, fields, split, skip_bad, limit, ...; see docs/readers.md)."""
    from refusalkit.readers import read_exchanges

    with read_exchanges(path, **reader_kw) as stream:
        return list(stream)


def build_requests(
    exchanges: Sequence[Exchange],
    *,
    endpoint: str | None = None,
    system: str | None = None,
    samples: int = 1,
    params: dict[str, Any] | None = None,
    cache: bool = True,
    tag: str = "generate",
) -> list[ChatRequest]:
    """One request per (exchange, sample). `system` applies where the exchange has none."""
    out = []
    for i, ex in enumerate(exchanges):
        messages = ex.messages()
        if system and not ex.system:
            messages.insert(0, {"role": "system", "content": system})
        for s in range(samples):
            out.append(
                ChatRequest(messages=messages, endpoint=endpoint, params=params, sample=s, tag=tag, cache=cache, meta=(i, ex))
            )  # fmt: skip
    return out


def output_row(result: ChatResult) -> dict[str, Any]:
    index, ex = result.meta
    system = next((m["content"] for m in result.request.messages if m["role"] == "system"), None)
    row: dict[str, Any] = {
        "id": ex.id, "index": index, "sample": result.request.sample,
        "prompt": ex.prompt, "response": result.text if result.ok else "",
        "system": system, "reasoning": result.reasoning,
        "finish_reason": result.finish_reason, "refusal": result.refusal,
        "usage": {"input_tokens": result.input_tokens, "output_tokens": result.output_tokens,
                  "reasoning_tokens": result.reasoning_tokens},
        "cost": result.cost, "latency": result.latency, "endpoint": result.endpoint,
        "model": result.model, "cached": result.cached, "error": result.error,
        "error_type": result.error_type, "key": result.key,
    }  # fmt: skip
    if ex.context:
        row["context"] = [m.to_dict() for m in ex.context]
    if ex.metadata:
        row["metadata"] = ex.metadata
    return row


def _scan(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """Keys with a response, keys with errors, and rows without a key (not ours)."""
    ok: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    keyless = 0
    if not path.exists():
        return ok, failed, 0
    truncate_partial_last_line(path)
    for row in iter_jsonl(path):
        key = row.get("key") if isinstance(row, dict) else None
        if not key:
            keyless += 1
        else:
            (failed if row.get("error") else ok)[key] += 1
    return ok, failed, keyless


def _compact(path: Path, wanted: Counter[str]) -> None:
    """Keep every response row of this job and, for requests still without one, their
    latest error row; drop superseded error rows (streaming, replaced atomically)."""
    rows: dict[str, list[tuple[int, bool]]] = {}
    for n, row in enumerate(iter_jsonl(path)):
        rows.setdefault(row["key"], []).append((n, not row.get("error")))
    keep: set[int] = set()
    for key, entries in rows.items():
        good = [n for n, ok in entries if ok]
        bad = [n for n, ok in entries if not ok]
        missing = wanted.get(key, 0) - len(good)
        keep.update(good)
        if missing > 0:
            keep.update(bad[-missing:])
    tmp = path.with_name(f".{path.name}.compact")
    with open(tmp, "wb") as out:
        for n, row in enumerate(iter_jsonl(path)):
            if n in keep:
                out.write(dumps(row) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


async def agenerate(
    exchanges: Iterable[Exchange],
    output: str | Path,
    *,
    endpoint: str | None = None,
    system: str | None = None,
    samples: int = 1,
    params: dict[str, Any] | None = None,
    cache: bool = True,
    overwrite: bool = False,
    client: LLMClient | None = None,
    show_progress: bool | None = None,
    advance: Callable[[int], None] | None = None,
) -> GenerateSummary:
    """Generate responses for `exchanges` into `output` (see the module docstring).

    `advance(n)`, when given, is told of every row (kept ones first) instead of drawing a
    bar of its own, so that several jobs can share one progress bar.
    """
    if samples < 1:
        raise ConfigError(f"samples must be at least 1, got {samples}", hint="--samples 1")
    started = time.monotonic()
    exchanges = list(exchanges)
    output = Path(output)
    own = client is None
    client = client or LLMClient(cache=cache)
    try:
        ep = client.endpoint(endpoint)
        requests = build_requests(
            exchanges, endpoint=ep.name, system=system, samples=samples, params=params, cache=cache
        )
        keys = [client.prepare(r).key for r in requests]
        wanted = Counter(keys)
        if overwrite:
            output.unlink(missing_ok=True)
        ok, failed, keyless = _scan(output)
        foreign = keyless + sum(n for k, n in ok.items() if k not in wanted)
        if foreign:
            raise ConfigError(
                f"{output} holds {foreign} row(s) that this job did not write (another "
                "endpoint, model, parameters, system prompt or prompt file)",
                hint="pass --overwrite to replace it, or choose another -o",
            )
        todo = []
        done = Counter(ok)
        for req, key in zip(requests, keys, strict=True):
            if done[key] > 0:
                done[key] -= 1
            else:
                todo.append(req)
        summary = GenerateSummary(
            output=str(output),
            endpoint=ep.name,
            model=ep.model,
            exchanges=len(exchanges),
            rows=len(requests),
            kept=len(requests) - len(todo),
        )
        errors: Counter[str] = Counter()
        bar = (
            nullcontext(advance)
            if advance is not None
            else progress("generating", total=len(todo), enabled=show_progress)
        )
        if advance is not None and summary.kept:
            advance(summary.kept)
        with JsonlWriter(output, append=True) as writer, bar as tick:
            last_flush = time.monotonic()
            async for result in client.chat_many(todo):
                row = output_row(result)
                if row["system"] is None and ep.system:
                    row["system"] = ep.system  # the endpoint's own system prompt was sent
                writer.write(row)
                summary.model = summary.model or result.model
                if result.ok:
                    summary.completed += 1
                    summary.cached += result.cached
                    if not result.cached:
                        summary.cost += result.cost or 0.0
                        summary.input_tokens += result.input_tokens or 0
                        summary.output_tokens += result.output_tokens or 0
                else:
                    errors[result.error_type or "unknown"] += 1
                tick(1)
                # on disk at once when it cost a call; replays (20k/s) are batched
                if not result.cached or time.monotonic() - last_flush > 0.5:
                    writer.flush()
                    last_flush = time.monotonic()
        summary.errors = sum(errors.values())
        summary.error_types = dict(errors)
        if failed:
            _compact(output, wanted)
        summary.seconds = time.monotonic() - started
        return summary
    finally:
        if own:
            await client.aclose()


def generate(exchanges: Iterable[Exchange], output: str | Path, **kw: Any) -> GenerateSummary:
    """Synchronous `agenerate`."""
    from refusalkit.llm.runtime import run_sync

    return run_sync(agenerate(exchanges, output, **kw))
