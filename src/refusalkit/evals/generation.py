"""Solver step: send every prompt item to every endpoint, one JSONL file per endpoint.

Model audits and benchmarks both ask several models the same prompts. Each endpoint
gets `RUN_DIR/generations/<endpoint>.jsonl`, written by `refusalkit.llm.generate`
(resumable, logged, cached), and all endpoints run concurrently through one shared
`LLMClient`, each within its own rate limits. A rerun completes only what is missing;
re-judging never touches this step.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from refusalkit.core.io import iter_jsonl
from refusalkit.core.models import Exchange
from refusalkit.core.progress import progress

GENERATIONS_DIR = "generations"

#: Exchange.metadata keys the evals read: which prompt set, which category, what the
#: right behaviour is (`comply` | `refuse`). Callers normalise their inputs to these.
ITEM_DATASET = "dataset"
ITEM_CATEGORY = "category"
ITEM_EXPECTED = "expected"
EXPECTED_VALUES = ("comply", "refuse")


def request_params(
    samples: int, temperature: float | None = None, max_tokens: int | None = None
) -> dict[str, Any]:
    """Request parameters of an eval run. Without an explicit temperature: 0 for one sample
    (reproducible, and the answer the model would usually give), 0.7 for several (so the
    samples differ; at 0 they would be copies). Never the server's default, which varies
    between servers (llama.cpp samples at 0.8) and would make runs incomparable."""
    temp = temperature if temperature is not None else (0.0 if samples == 1 else 0.7)
    out: dict[str, Any] = {"temperature": temp}
    if max_tokens is not None:
        out["max_tokens"] = max_tokens
    return out


def endpoint_slug(name: str) -> str:
    """A file-name-safe form of an endpoint or detector name."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return slug or "endpoint"


def generations_path(run_dir: str | Path, endpoint: str) -> Path:
    return Path(run_dir) / GENERATIONS_DIR / f"{endpoint_slug(endpoint)}.jsonl"


async def agenerate_endpoints(
    exchanges: Sequence[Exchange],
    run_dir: str | Path,
    endpoints: Sequence[Any] | None = None,
    *,
    samples: int = 1,
    params: dict[str, Any] | None = None,
    cache: bool = True,
    overwrite: bool = False,
    client: Any = None,
    show_progress: bool | None = None,
) -> dict[str, Any]:
    """Generate answers from every endpoint (names or `Endpoint`s; default: the default one).

    Returns `{endpoint name: GenerateSummary}`. Failed requests are rows with `error`
    set, never missing rows (see `refusalkit.llm.generate`).
    """
    import asyncio

    from refusalkit.llm.client import LLMClient
    from refusalkit.llm.generate import agenerate

    own = client is None
    client = client or LLMClient(cache=cache)
    try:
        names = [client.endpoint(ep).name for ep in (endpoints or [None])]
        if len(set(names)) != len(names):
            from refusalkit.core.errors import ConfigError

            raise ConfigError(
                f"an endpoint is listed twice: {names}", hint="list each --endpoint once"
            )
        shared = len(names) > 1  # one bar for all endpoints (rich draws one at a time)
        with progress(
            f"generating ({len(names)} endpoints)",
            total=len(exchanges) * samples * len(names),
            enabled=show_progress if shared else False,
        ) as advance:
            jobs = [
                agenerate(
                    exchanges,
                    generations_path(run_dir, name),
                    endpoint=name,
                    samples=samples,
                    params=params,
                    cache=cache,
                    overwrite=overwrite,
                    client=client,
                    show_progress=False if shared else show_progress,
                    advance=advance if shared else None,
                )
                for name in names
            ]
            summaries = await asyncio.gather(*jobs)
        return dict(zip(names, summaries, strict=True))
    finally:
        if own:
            await client.aclose()


def generate_endpoints(
    exchanges: Sequence[Exchange],
    run_dir: str | Path,
    endpoints: Sequence[Any] | None = None,
    **kw: Any,
) -> dict[str, Any]:
    """Synchronous `agenerate_endpoints`."""
    from refusalkit.llm.runtime import run_sync

    return run_sync(agenerate_endpoints(exchanges, run_dir, endpoints, **kw))


def generation_files(run_dir: str | Path) -> list[Path]:
    folder = Path(run_dir) / GENERATIONS_DIR
    return sorted(folder.glob("*.jsonl")) if folder.is_dir() else []


def iter_generations(run_dir: str | Path) -> Iterator[dict[str, Any]]:
    """Every generation row of a run, endpoint by endpoint, in file order."""
    for path in generation_files(run_dir):
        yield from iter_jsonl(path)
